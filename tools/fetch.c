/* `ringfetch fetch`: URLs in (arguments and/or a file or stdin), one JSON
 * Lines record per input line out, in completion order; optionally a WARC
 * archive of every exchange and its CDXJ index.
 *
 * The input is read in bounded pieces and only as fast as the engine takes
 * requests (rf_submit says -EAGAIN when its queue is full) and the outputs
 * keep up (they are written through the engine's ring: a slow disk slows
 * admission, it never drops a record), so memory does not grow with the
 * input. A run stopped by SIGINT/SIGTERM lets what it admitted finish (or
 * cancels it after --grace) so every admitted line has its record; --resume
 * skips the lines an earlier run recorded. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "archive.h"
#include "fetch.h"
#include "input.h"
#include "progress.h"
#include "records.h"
#include "resume.h"
#include "trace.h"

/* Queued output above which no more input is admitted (a slow disk). */
#define OUT_HIGH (8u << 20)

typedef struct fetch_ctx {
  rf_cli *o;
  rf_engine *e;
  int out_fd;
  uint64_t archive_end[2]; /* the archive's bytes written, once it is closed */
  rf_records rec;
  rf_tally t;
  rf_progress prog;
  rf_phase_sums phases;
  rf_tracer *tracer;
  rf_archive *archive;       /* --warc */
  rf_archive *archive_closed; /* closed by close_outputs, freed after the engine */
  rf_done_lines done;
  uint64_t skipped;          /* lines --resume found recorded */
  /* stopping on a signal */
  bool stopping, canceled;
  double grace_end;
} fetch_ctx;

/* Where the URLs come from: the arguments first, then -i's lines. */
typedef struct feeder {
  rf_input in;
  size_t next_arg;
  uint64_t line;        /* of the current URL: arguments and input lines count alike */
  char *cur;            /* the current URL, trimmed, not yet taken by the engine */
  size_t cur_len;
  bool have_line, done, blocked;
  char path[4096];      /* --body-dir file of the request being made */
} feeder;

static volatile sig_atomic_t g_signals, g_signo; /* SIGINT/SIGTERM seen */

static void on_signal(int sig) {
  g_signo = sig;
  g_signals++;
}

static double mono_s(void) { return (double)rf_monotonic_us() / 1e6; }

/* ---- results ------------------------------------------------------------------ */

static bool failed_status(const fetch_ctx *f, const rf_result *r) {
  return r->error != RF_OK || (f->o->fail_http && r->status >= 400);
}

static void write_result(fetch_ctx *f, const rf_result *r) {
  rf_records_put(&f->rec, r);
  if (r->events.submitted) { /* made by the engine, not a line we rejected ourselves */
    rf_phase_add(&f->phases, r);
    if (f->tracer)
      rf_tracer_add(f->tracer, r, rf_clock_us(f->e));
  }
  rf_tally_add(&f->t, r, failed_status(f, r));
}

/* A record the CLI makes itself (a line it could not even submit). */
static void write_local_error(fetch_ctx *f, const char *url, size_t len, uint64_t line, rf_error err,
                              const char *msg) {
  rf_result r;
  rf_records_local(&r, url, len, line, err, msg);
  write_result(f, &r);
}

/* The request for one line: the options' template, this URL, its body's destination. */
static void make_request(const rf_cli *o, rf_request *rq, const char *url, size_t len, char *path, size_t pathlen,
                         uint64_t line) {
  *rq = o->req;
  rq->url = url;
  rq->url_len = len;
  rq->tag = line;
  rq->flags |= RF_REQ_SHA256;
  if (o->warc)
    rq->flags |= RF_REQ_CAPTURE;
  if (o->body_dir) {
    snprintf(path, pathlen, "%s/%llu.body", o->body_dir, (unsigned long long)line);
    rq->body_mode = RF_BODY_FILE;
    rq->body_path = path;
  } else {
    rq->body_mode = RF_BODY_DISCARD;
  }
}

/* ---- input -------------------------------------------------------------------------- */

/* The next URL into fd->cur: RF_LINE_OK, RF_LINE_AGAIN (stdin has nothing
 * yet) or RF_LINE_EOF. Lines that cannot be requested get their record here;
 * lines an earlier run recorded (--resume) are skipped. */
static int next_url(fetch_ctx *f, feeder *fd) {
  for (;;) {
    bool too_long = false;
    if (fd->next_arg < f->o->n_urls) {
      fd->cur = f->o->urls[fd->next_arg++];
      fd->cur_len = strlen(fd->cur);
    } else if (!f->o->input) {
      return RF_LINE_EOF;
    } else {
      int lr = rf_input_line(&fd->in, &fd->cur, &fd->cur_len, &too_long);
      if (lr == RF_LINE_ERR)
        fprintf(stderr, "ringfetch: reading the input failed: %s\n", strerror(errno));
      if (lr != RF_LINE_OK)
        return lr == RF_LINE_AGAIN ? RF_LINE_AGAIN : RF_LINE_EOF;
    }
    fd->line++;
    if (rf_resume_done(&f->done, fd->line)) {
      f->skipped++;
      continue;
    }
    rf_trim(&fd->cur, &fd->cur_len);
    if (too_long)
      write_local_error(f, fd->cur, fd->cur_len, fd->line, RF_ERR_BAD_URL, "line longer than 65536 bytes");
    else if (fd->cur_len == 0)
      write_local_error(f, "", 0, fd->line, RF_ERR_BAD_URL, "empty line");
    else
      return RF_LINE_OK;
  }
}

/* Output queued and not yet written: the records and the archive. */
static size_t backlog(const fetch_ctx *f) {
  return rf_outfile_backlog(f->rec.out) + rf_records_held(&f->rec) +
         (f->archive ? rf_archive_backlog(f->archive) : 0);
}

/* Submits URLs while the engine takes them (it says -EAGAIN when its queue
 * is full: the current URL waits for the next turn) and the output keeps up. */
static void feed(fetch_ctx *f, feeder *fd) {
  fd->blocked = false;
  while (!fd->done && backlog(f) < OUT_HIGH) {
    if (!fd->have_line) {
      int lr = next_url(f, fd);
      fd->blocked = lr == RF_LINE_AGAIN;
      fd->done = lr == RF_LINE_EOF;
      if (lr != RF_LINE_OK)
        return;
      fd->have_line = true;
    }
    rf_request rq;
    make_request(f->o, &rq, fd->cur, fd->cur_len, fd->path, sizeof fd->path, fd->line);
    int s = rf_submit(f->e, &rq);
    if (s == -EAGAIN)
      return; /* engine queue full: run it first */
    if (s < 0)
      write_local_error(f, fd->cur, fd->cur_len, fd->line, RF_ERR_INTERNAL, strerror(-s));
    fd->have_line = false;
  }
}

/* ---- stopping on a signal ------------------------------------------------------------- */

/* The first SIGINT/SIGTERM stops admitting and gives what runs --grace to
 * finish; then (or at a second signal) the rest is canceled: each admitted
 * line still gets its record (error "canceled"). */
static void check_signals(fetch_ctx *f, feeder *fd, double now) {
  if (!g_signals)
    return;
  if (!f->stopping) {
    f->stopping = true;
    fd->done = true; /* no more input: what was not read is for --resume */
    f->grace_end = now + f->o->grace_ms / 1000.0;
    size_t q = rf_cancel_queued(f->e); /* admitted, not started: they end now */
    rf_stats st;
    rf_get_stats(f->e, &st);
    rf_progress_clear(&f->prog);
    fprintf(stderr,
            "ringfetch: %s: stopping; %zu queued requests canceled, %u running get %.1f s to finish "
            "(again to stop now)\n",
            g_signo == SIGTERM ? "SIGTERM" : "SIGINT", q, st.inflight, f->o->grace_ms / 1000.0);
  }
  if (!f->canceled && (g_signals > 1 || now >= f->grace_end)) {
    f->canceled = true;
    size_t n = rf_cancel_all(f->e);
    if (n)
      fprintf(stderr, "ringfetch: canceled %zu requests\n", n);
  }
}

/* ---- the loop ------------------------------------------------------------------------- */

/* One turn: the engine runs (or we wait for input), the results are
 * written. 0, or a negative errno to stop. */
static int turn(fetch_ctx *f, feeder *fd) {
  if (rf_outstanding(f->e) > 0 || backlog(f) > 0) {
    int wait = fd->blocked ? 5 : f->prog.on || f->stopping ? 100 : 1000;
    int rc = rf_run(f->e, wait);
    if (rc < 0) {
      fprintf(stderr, "ringfetch: engine failure: %s\n", strerror(-rc));
      return rc;
    }
  } else if (fd->blocked) {
    struct pollfd pfd = {.fd = fd->in.fd, .events = POLLIN};
    poll(&pfd, 1, f->prog.on ? 250 : -1);
  }
  rf_result *r;
  while ((r = rf_result_next(f->e)) != NULL) {
    write_result(f, r);
    rf_result_release(f->e, r);
  }
  rf_records_release(&f->rec, false); /* those whose WARC records are out */
  double now = mono_s();
  check_signals(f, fd, now);
  rf_progress_draw(&f->prog, &f->t, fd->done ? fd->line - f->skipped : 0, (unsigned)rf_outstanding(f->e), now,
                   false);
  if (f->rec.err) {
    /* the reader went away (EPIPE) or the disk is full: records would be
     * lost, so stop instead of fetching on */
    rf_progress_clear(&f->prog);
    fprintf(stderr, "ringfetch: writing the records failed: %s; stopping\n", strerror(-f->rec.err));
    return f->rec.err;
  }
  int aerr = f->archive ? rf_archive_tidy(f->archive) : 0;
  if (aerr) { /* the same for the archive */
    rf_progress_clear(&f->prog);
    fprintf(stderr, "ringfetch: writing the WARC archive failed: %s; stopping\n", strerror(-aerr));
    return aerr;
  }
  return 0;
}

/* ---- opening and closing ------------------------------------------------------------------ */


static int open_output(fetch_ctx *f) {
  rf_cli *o = f->o;
  f->out_fd = 1;
  if (o->output) {
    /* a resumed run appends to what the killed one wrote */
    int flags = O_RDWR | O_CREAT | O_CLOEXEC | (o->n_resume ? O_APPEND : O_TRUNC);
    f->out_fd = open(o->output, flags, 0644);
    if (f->out_fd < 0) {
      fprintf(stderr, "ringfetch: cannot write '%s': %s\n", o->output, strerror(errno));
      return -1;
    }
    /* a killed run may have left a torn last line: cut it (its line is
     * fetched again), so the file holds whole records only */
    int rc = o->n_resume ? rf_cut_torn_line(f->out_fd) : 0;
    if (rc < 0)
      fprintf(stderr, "ringfetch: cannot cut the torn last line of '%s': %s\n", o->output, strerror(-rc));
  }
  return 0;
}

static int load_resume(fetch_ctx *f) {
  char err[512];
  for (size_t i = 0; i < f->o->n_resume; i++)
    if (rf_resume_load(&f->done, f->o->resume[i], err, sizeof err) < 0) {
      fprintf(stderr, "ringfetch: %s\n", err);
      return -1;
    }
  return 0;
}

/* --warc: "ringfetch fetch ARGS" for the warcinfo records, then the files. */
static int open_archive(fetch_ctx *f, char *err, size_t cap) {
  const rf_cli *o = f->o;
  jbuf cl = {0};
  jb_lit(&cl, "ringfetch fetch");
  for (int i = 0; i < o->argc; i++) {
    jb_lit(&cl, " ");
    jb_lit(&cl, o->argv[i]);
  }
  jb_raw(&cl, "", 1);
  rf_archive_opts ao = {.warc = o->warc,
                        .max_size = o->warc_max_size,
                        .cdxj = o->cdxj,
                        .resume = o->n_resume > 0,
                        .command_line = cl.oom ? NULL : cl.p,
                        .capture_max = o->cfg.capture_max};
  int rc = rf_archive_start(f->archive, f->e, &ao, err, cap);
  jb_free(&cl);
  return rc;
}

/* --body-dir, -i, -o, --resume, the engine and its outputs, the tracer; on
 * failure what was opened is closed again and the exit status returned. */
static int fetch_open(rf_cli *o, fetch_ctx *f, feeder *fd) {
  char err[512];
  fd->in.fd = -1;
  f->o = o;
  f->out_fd = -1;
  if (o->body_dir && mkdir(o->body_dir, 0755) < 0 && errno != EEXIST) {
    fprintf(stderr, "ringfetch: cannot create --body-dir '%s': %s\n", o->body_dir, strerror(errno));
    return RF_EXIT_USAGE;
  }
  if (load_resume(f) < 0)
    goto fail;
  if (o->input && rf_input_open(&fd->in, o->input) < 0) {
    fprintf(stderr, "ringfetch: cannot read '%s': %s\n", o->input, strerror(errno));
    goto fail;
  }
  if (open_output(f) < 0)
    goto fail;
  if (o->warc) { /* the engine hands every captured exchange to the archive */
    if (!(f->archive = rf_archive_alloc()))
      goto fail;
    o->cfg.on_exchange = rf_archive_on_exchange;
    o->cfg.on_exchange_ud = f->archive;
  }
  if (rf_engine_new(&o->cfg, &f->e, err, sizeof err) < 0) {
    fprintf(stderr, "ringfetch: %s\n", err);
    goto fail;
  }
  f->rec.all_headers = o->all_headers;
  f->rec.body_dir = o->body_dir;
  if (rf_outfile_new(f->e, f->out_fd, &f->rec.out) < 0)
    goto fail_engine;
  if (f->archive) {
    if (open_archive(f, err, sizeof err) < 0) {
      fprintf(stderr, "ringfetch: %s\n", err);
      goto fail_engine;
    }
    f->rec.gate_queued = rf_archive_queued;
    f->rec.gate_written = rf_archive_written;
    f->rec.gate_ud = f->archive;
  }
  if ((o->trace_file || o->waterfall_file) &&
      !(f->tracer = rf_tracer_new(o->trace_file, o->waterfall_file, err, sizeof err))) {
    fprintf(stderr, "ringfetch: %s\n", err);
    goto fail_engine;
  }
  f->prog.on = o->progress > 0 || (o->progress == 0 && isatty(2) && !o->quiet);
  return 0;
fail_engine:
  rf_archive_close(f->archive, NULL);
  rf_outfile_close(f->rec.out);
  rf_engine_free(f->e); /* then nothing calls the archive any more */
fail:
  rf_archive_free(f->archive);
  if (f->out_fd > 2)
    close(f->out_fd);
  rf_input_close(&fd->in);
  rf_resume_free(&f->done);
  return RF_EXIT_USAGE;
}

/* Peak resident memory of this process image (VmHWM belongs to the address
 * space, so unlike ru_maxrss it does not include the parent we forked from). */
static unsigned long peak_rss_kib(void) {
  FILE *fp = fopen("/proc/self/status", "re");
  if (!fp)
    return 0;
  char line[256];
  unsigned long kib = 0;
  while (fgets(line, sizeof line, fp))
    if (sscanf(line, "VmHWM: %lu kB", &kib) == 1)
      break;
  fclose(fp);
  return kib;
}

static void summary(const fetch_ctx *f, rf_engine *e, double secs, const rf_concurrency *conc_out) {
  rf_stats st;
  rf_get_stats(e, &st);
  const rf_concurrency *cc = conc_out;
  uint64_t n = f->t.done;
  fprintf(stderr,
          "ringfetch: %llu requests, %llu ok, %llu failed in %.3f s (%.1f req/s); "
          "peak concurrency %u, %llu connections opened, %llu requests on reused connections, "
          "%llu TLS handshakes (%llu resumed); peak RSS %.1f MiB\n",
          (unsigned long long)n, (unsigned long long)f->t.ok, (unsigned long long)f->t.failed, secs,
          secs > 0 ? (double)n / secs : 0.0, st.peak_inflight, (unsigned long long)st.conns_opened,
          (unsigned long long)st.conns_reused, (unsigned long long)st.tls_handshakes,
          (unsigned long long)st.tls_resumed, (double)peak_rss_kib() / 1024.0);
  if (st.retries || st.redirects || st.origin_waits)
    fprintf(stderr,
            "ringfetch: %llu retries, %llu redirects followed, %llu requests waited for their host "
            "(rate, Retry-After or --per-host); peak idle connections %u\n",
            (unsigned long long)st.retries, (unsigned long long)st.redirects,
            (unsigned long long)st.origin_waits, st.peak_idle);
  if (st.h2_refused)
    fprintf(stderr, "ringfetch: %llu HTTP/2 streams refused by the server unprocessed and sent again\n",
            (unsigned long long)st.h2_refused);
  rf_concurrency_print(stderr, "ringfetch: ", cc, &f->phases);
  if (getenv("RINGFETCH_ENGINE_STATS")) /* for perf work: how the loop behaved */
    fprintf(stderr,
            "ringfetch: engine: %llu loop turns, %llu CQEs (%.1f per turn), ring flags 0x%x, "
            "direct sockets %s, %llu bytes in, %llu bytes out\n",
            (unsigned long long)st.loop_turns, (unsigned long long)st.cqes,
            st.loop_turns ? (double)st.cqes / (double)st.loop_turns : 0.0, st.ring_flags,
            st.direct_files ? "yes" : "no", (unsigned long long)st.bytes_in,
            (unsigned long long)st.bytes_out);
}


/* The archive's gate once it is closed: what it had written at the end. */
static void archive_end(void *ud, uint64_t out[2]) {
  const uint64_t *end = ud;
  out[0] = end[0];
  out[1] = end[1];
}

/* The archive ended in failure: only the records whose exchanges are in it
 * go out; the others are left for --resume, which fetches their lines again. */
static void archive_failed(fetch_ctx *f, int aerr) {
  fprintf(stderr, "ringfetch: writing the WARC archive failed: %s\n", strerror(-aerr));
  f->rec.gate_queued = NULL;
  f->rec.gate_written = archive_end;
  f->rec.gate_ud = f->archive_end;
  rf_records_release(&f->rec, false);
  size_t dropped = rf_records_held_count(&f->rec);
  if (dropped)
    fprintf(stderr,
            "ringfetch: %zu finished requests have no record: their exchanges are not in the "
            "archive (--resume fetches them again)\n",
            dropped);
}

/* Closes the archive (if any), then lets the held records out and closes
 * the records file; rc with the first failure. */
static int close_outputs(fetch_ctx *f, int rc) {
  if (f->archive) {
    uint64_t archived = 0;
    unsigned warcs = 0;
    const char *stem = "";
    rf_archive_counts(f->archive, &archived, &warcs, &stem);
    char name[4200];
    snprintf(name, sizeof name, "%s", stem);
    int aerr = rf_archive_close(f->archive, f->archive_end); /* the last file's records reach it */
    f->archive_closed = f->archive; /* freed after the engine: requests still in flight hand
                                       their exchanges to it (dropped) until then */
    f->archive = NULL;
    if (aerr) {
      archive_failed(f, aerr);
      rc = rc ? rc : aerr;
    } else if (!f->o->quiet) {
      fprintf(stderr, "ringfetch: archived %llu exchanges in %u WARC file%s (%s%s.warc.gz)\n",
              (unsigned long long)archived, warcs, warcs == 1 ? "" : "s", name,
              f->o->warc_max_size ? "-NNNNN" : "");
    }
  }
  if (!f->rec.gate_queued) /* no archive, or a failed one: what could go out went */
    rf_records_release(&f->rec, false);
  else { /* the archive is written: the held records follow */
    f->rec.gate_queued = NULL;
    rf_records_release(&f->rec, true);
  }
  int werr = rf_outfile_close(f->rec.out); /* everything queued reaches the file */
  if (werr && rc != werr) {
    fprintf(stderr, "ringfetch: writing the records failed: %s\n", strerror(-werr));
    rc = werr;
  }
  if (f->out_fd > 2)
    close(f->out_fd);
  return rc;
}

/* The trace and waterfall, the summary and --stats-json of a run of secs
 * seconds; rc with the first failure. */
static int report(fetch_ctx *f, double secs, int rc) {
  if (f->tracer) {
    char title[160];
    snprintf(title, sizeof title, "ringfetch fetch: %llu requests in %.3f s at -c %u",
             (unsigned long long)f->t.done, secs, f->o->cfg.concurrency);
    if (rf_tracer_finish(f->tracer, title) < 0) {
      fprintf(stderr, "ringfetch: writing the trace or waterfall failed\n");
      f->t.failed++;
    }
    rf_tracer_free(f->tracer);
  }
  rf_stats st;
  rf_get_stats(f->e, &st);
  rf_concurrency conc;
  rf_concurrency_eval(&conc, &st, &f->phases, secs, f->o->cfg.concurrency,
                      f->o->cfg.per_host ? f->o->cfg.per_host : f->o->cfg.concurrency);
  if (!f->o->quiet) {
    summary(f, f->e, secs, &conc);
    if (f->skipped)
      fprintf(stderr, "ringfetch: --resume: %llu lines already had a record\n", (unsigned long long)f->skipped);
  }
  if (f->o->stats_json) {
    rf_run_figures fig = {.wall_s = secs, .st = &st, .mean_concurrency = conc.mean_inflight,
                          .overlap = conc.overlap, .concurrency = f->o->cfg.concurrency,
                          .interrupted = f->stopping, .signal = g_signo};
    if (rf_tally_write_json(&f->t, &fig, f->o->stats_json) < 0) {
      fprintf(stderr, "ringfetch: cannot write --stats-json '%s'\n", f->o->stats_json);
      rc = rc ? rc : -EIO;
    }
  }
  return rc;
}

/* Drains the records, writes the trace, waterfall, summary and --stats-json
 * (the run started at t0), and closes everything; the exit status. */
static int fetch_close(fetch_ctx *f, feeder *fd, double t0, int rc) {
  rf_progress_clear(&f->prog);
  rc = close_outputs(f, rc);
  rc = report(f, mono_s() - t0, rc);
  rf_engine_free(f->e);
  rf_archive_free(f->archive_closed);
  rf_input_close(&fd->in);
  rf_records_free(&f->rec);
  rf_resume_free(&f->done);
  bool failed = f->t.failed > 0;
  rf_tally_free(&f->t);
  if (f->stopping)
    return 128 + (g_signo ? g_signo : SIGINT); /* 130 for SIGINT, 143 for SIGTERM, as shells expect */
  if (rc < 0)
    return RF_EXIT_FAILED;
  return failed ? RF_EXIT_FAILED : RF_EXIT_OK;
}

int rf_fetch_main(rf_cli *o) {
  signal(SIGPIPE, SIG_IGN);
  /* no SA_RESTART: a signal ends the engine's wait at once */
  struct sigaction sa = {.sa_handler = on_signal};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  fetch_ctx f = {0};
  feeder fd = {0};
  int rc = fetch_open(o, &f, &fd);
  if (rc)
    return rc;
  double t0 = mono_s();
  for (rc = 0; rc == 0;) {
    feed(&f, &fd);
    if (fd.done && rf_outstanding(f.e) == 0)
      break;
    rc = turn(&f, &fd);
  }
  return fetch_close(&f, &fd, t0, rc);
}
