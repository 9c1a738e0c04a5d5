/* `ringfetch fetch`: URLs in (arguments and/or a file or stdin), one JSON
 * Lines record per input line out, in completion order.
 *
 * The input is read in bounded pieces and only as fast as the engine takes
 * requests (rf_submit says -EAGAIN when its queue is full), so memory does
 * not grow with the input. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fetch.h"
#include "json.h"
#include "trace.h"

#define LINE_MAX_BYTES 65536u

/* ---- input lines ------------------------------------------------------------ */

typedef struct input {
  int fd;
  bool eof, nonblock, own_fd;
  int saved_flags;
  char *buf;
  size_t len, off, cap;
  bool skipping; /* discarding the rest of an over-long line */
} input;

enum { LINE_OK = 1, LINE_AGAIN = 0, LINE_EOF = -1, LINE_ERR = -2 };

static int input_open(input *in, const char *path) {
  memset(in, 0, sizeof *in);
  in->cap = LINE_MAX_BYTES + 1;
  in->buf = malloc(in->cap);
  if (!in->buf)
    return -1;
  if (strcmp(path, "-") == 0) {
    in->fd = 0;
  } else {
    in->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (in->fd < 0)
      return -1;
    in->own_fd = true;
  }
  struct stat st;
  if (fstat(in->fd, &st) == 0 && !S_ISREG(st.st_mode)) {
    /* pipes and terminals: never let a slow producer stall the engine */
    in->saved_flags = fcntl(in->fd, F_GETFL);
    if (in->saved_flags >= 0 && fcntl(in->fd, F_SETFL, in->saved_flags | O_NONBLOCK) == 0)
      in->nonblock = true;
  }
  return 0;
}

static void input_close(input *in) {
  if (in->nonblock)
    fcntl(in->fd, F_SETFL, in->saved_flags);
  if (in->own_fd)
    close(in->fd);
  free(in->buf);
  in->buf = NULL;
}

/* Next line (without its end of line). *line stays valid until the next call.
 * *too_long is set for a line longer than LINE_MAX_BYTES (its start is
 * returned, the rest is skipped). */
static int input_line(input *in, char **line, size_t *len, bool *too_long) {
  *too_long = false;
  for (;;) {
    char *start = in->buf + in->off;
    char *nl = memchr(start, '\n', in->len - in->off);
    if (nl) {
      size_t n = (size_t)(nl - start);
      in->off += n + 1;
      if (in->skipping) {
        in->skipping = false;
        continue;
      }
      *line = start;
      *len = n;
      return LINE_OK;
    }
    if (in->off > 0) { /* keep the partial line at the front */
      memmove(in->buf, in->buf + in->off, in->len - in->off);
      in->len -= in->off;
      in->off = 0;
    }
    if (in->len == in->cap) {
      if (in->skipping) {
        in->len = 0;
      } else { /* no newline in a full buffer */
        in->skipping = true;
        *too_long = true;
        *line = in->buf;
        *len = 256; /* enough of it to recognise in the record */
        in->off = in->len;
        return LINE_OK;
      }
    }
    if (in->eof) {
      if (in->len == 0 || in->skipping)
        return LINE_EOF;
      *line = in->buf;
      *len = in->len;
      in->off = in->len;
      return LINE_OK;
    }
    ssize_t r = read(in->fd, in->buf + in->len, in->cap - in->len);
    if (r > 0) {
      in->len += (size_t)r;
    } else if (r == 0) {
      in->eof = true;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return LINE_AGAIN;
    } else if (errno != EINTR) {
      return LINE_ERR;
    }
  }
}

/* Trims spaces, tabs and a CR. */
static void trim(char **s, size_t *n) {
  while (*n && ((*s)[0] == ' ' || (*s)[0] == '\t')) {
    (*s)++;
    (*n)--;
  }
  while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t' || (*s)[*n - 1] == '\r'))
    (*n)--;
}

/* ---- output records ------------------------------------------------------------- */

typedef struct fetch_ctx {
  rf_cli *o;
  FILE *out;
  jbuf jb;
  uint64_t ok, failed;
  bool write_error;
  rf_phase_sums phases;
  rf_tracer *tracer;
  rf_engine *e;
} fetch_ctx;

static const char *const selected_headers[] = {
    "content-type", "content-length", "content-encoding", "transfer-encoding", "location",
    "server",       "last-modified",  "etag",             "cache-control",     NULL,
};

static bool wanted_header(const fetch_ctx *f, const rf_header *h) {
  if (f->o->all_headers)
    return true;
  for (int i = 0; selected_headers[i]; i++)
    if (strlen(selected_headers[i]) == h->name_len && strncasecmp(selected_headers[i], h->name, h->name_len) == 0)
      return true;
  return false;
}

static bool same_name(const rf_header *a, const rf_header *b) {
  return a->name_len == b->name_len && strncasecmp(a->name, b->name, a->name_len) == 0;
}

/* fields[0..n) as a JSON object: lower-case names, repeated names joined
 * with ", " at their first place; all of them, or the selected ones. */
static void put_fields(fetch_ctx *f, const rf_header *fields, size_t n, bool all) {
  jbuf *b = &f->jb;
  jb_raw(b, "{", 1);
  bool first = true;
  char lname[256];
  for (size_t i = 0; i < n; i++) {
    const rf_header *h = &fields[i];
    if ((!all && !wanted_header(f, h)) || h->name_len >= sizeof lname)
      continue;
    bool seen = false;
    for (size_t j = 0; j < i && !seen; j++)
      seen = same_name(&fields[j], h);
    if (seen)
      continue;
    for (size_t k = 0; k < h->name_len; k++)
      lname[k] = (char)((h->name[k] >= 'A' && h->name[k] <= 'Z') ? h->name[k] + 32 : h->name[k]);
    if (!first)
      jb_raw(b, ",", 1);
    first = false;
    jb_str(b, lname, h->name_len);
    jb_raw(b, ":", 1);
    size_t nvals = 0;
    for (size_t j = i; j < n; j++)
      nvals += same_name(&fields[j], h);
    if (nvals == 1) {
      jb_str(b, h->value, h->value_len);
      continue;
    }
    jbuf joined = {0};
    for (size_t j = i; j < n; j++) {
      if (!same_name(&fields[j], h))
        continue;
      if (joined.len)
        jb_raw(&joined, ", ", 2);
      jb_raw(&joined, fields[j].value, fields[j].value_len);
    }
    jb_str(b, joined.p ? joined.p : "", joined.len);
    jb_free(&joined);
  }
  jb_raw(b, "}", 1);
}

static void emit(fetch_ctx *f) {
  jb_raw(&f->jb, "\n", 1);
  if (f->jb.oom || fwrite(f->jb.p, 1, f->jb.len, f->out) != f->jb.len)
    f->write_error = true;
  jb_reset(&f->jb);
}

static bool failed_status(const fetch_ctx *f, const rf_result *r) {
  return r->error != RF_OK || (f->o->fail_http && r->status >= 400);
}

/* Where the request ended up: "final_url", "redirects" (the hops, in
 * order), "attempts". */
static void put_hops(jbuf *b, const rf_result *r) {
  jb_key(b, "final_url", 0);
  if (r->final_url)
    jb_str(b, r->final_url, r->final_url_len);
  else
    jb_str(b, r->url, r->url_len);
  jb_key(b, "redirects", 0);
  jb_raw(b, "[", 1);
  for (size_t i = 0; i < r->n_redirects; i++) {
    jb_raw(b, i ? ",{" : "{", i ? 2 : 1);
    jb_key(b, "status", 1);
    jb_i64(b, r->redirects[i].status);
    jb_key(b, "location", 0);
    jb_str(b, r->redirects[i].location, r->redirects[i].location_len);
    jb_raw(b, "}", 1);
  }
  jb_raw(b, "]", 1);
  jb_key(b, "attempts", 0);
  jb_u64(b, r->attempts);
}

static void write_result(fetch_ctx *f, const rf_result *r) {
  jbuf *b = &f->jb;
  jb_raw(b, "{", 1);
  jb_key(b, "url", 1);
  jb_str(b, r->url, r->url_len);
  jb_key(b, "line", 0);
  jb_u64(b, r->tag);
  put_hops(b, r);
  jb_key(b, "status", 0);
  if (r->status)
    jb_i64(b, r->status);
  else
    jb_lit(b, "null");
  jb_key(b, "headers", 0);
  put_fields(f, r->headers, r->n_headers, false);
  jb_key(b, "trailers", 0);
  put_fields(f, r->trailers, r->n_trailers, true);
  jb_key(b, "body_bytes", 0);
  jb_u64(b, r->body_bytes);
  jb_key(b, "wire_bytes", 0);
  jb_u64(b, r->wire_bytes);
  jb_key(b, "body_sha256", 0);
  if (r->has_sha256 && r->error == RF_OK)
    jb_hex(b, r->body_sha256, 32);
  else
    jb_lit(b, "null");
  jb_key(b, "timings_us", 0);
  jb_raw(b, "{", 1);
  jb_key(b, "dns", 1);
  jb_u64(b, r->timings.dns);
  jb_key(b, "connect", 0);
  jb_u64(b, r->timings.connect);
  jb_key(b, "tls", 0);
  jb_u64(b, r->timings.tls);
  jb_key(b, "ttfb", 0);
  jb_u64(b, r->timings.ttfb);
  jb_key(b, "total", 0);
  jb_u64(b, r->timings.total);
  jb_raw(b, "}", 1);
  jb_key(b, "reused", 0);
  jb_lit(b, r->reused ? "true" : "false");
  jb_key(b, "tls_resumed", 0);
  jb_lit(b, r->tls_resumed ? "true" : "false");
  jb_key(b, "tls_truncated", 0);
  jb_lit(b, r->tls_truncated ? "true" : "false");
  if (r->remote_addr[0]) {
    jb_key(b, "remote", 0);
    jb_str(b, r->remote_addr, strlen(r->remote_addr));
  }
  if (f->o->body_dir && r->status) {
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%llu.body", f->o->body_dir, (unsigned long long)r->tag);
    jb_key(b, "body_file", 0);
    jb_str(b, path, (size_t)n);
  }
  jb_key(b, "error", 0);
  if (r->error == RF_OK) {
    jb_lit(b, "null");
  } else {
    const char *name = rf_error_name(r->error);
    jb_str(b, name, strlen(name));
    jb_key(b, "error_message", 0);
    jb_str(b, r->error_message, strlen(r->error_message));
  }
  jb_raw(b, "}", 1);
  emit(f);
  if (r->events.submitted) { /* made by the engine, not a line we rejected ourselves */
    rf_phase_add(&f->phases, r);
    if (f->tracer)
      rf_tracer_add(f->tracer, r, rf_clock_us(f->e));
  }
  if (failed_status(f, r))
    f->failed++;
  else
    f->ok++;
}

/* A record the CLI makes itself (a line it could not even submit). */
static void write_local_error(fetch_ctx *f, const char *url, size_t len, uint64_t line, rf_error err,
                              const char *msg) {
  rf_result r;
  memset(&r, 0, sizeof r);
  r.url = url;
  r.url_len = len;
  r.tag = line;
  r.error = err;
  r.error_message = msg;
  write_result(f, &r);
}

/* ---- the loop ----------------------------------------------------------------------- */

static double mono_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The request for one line: the options' template, this URL, its body's destination. */
static void make_request(const rf_cli *o, rf_request *rq, const char *url, size_t len, char *path, size_t pathlen,
                         uint64_t line) {
  *rq = o->req;
  rq->url = url;
  rq->url_len = len;
  rq->tag = line;
  rq->flags |= RF_REQ_SHA256;
  if (o->body_dir) {
    snprintf(path, pathlen, "%s/%llu.body", o->body_dir, (unsigned long long)line);
    rq->body_mode = RF_BODY_FILE;
    rq->body_path = path;
  } else {
    rq->body_mode = RF_BODY_DISCARD;
  }
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

static void summary(const fetch_ctx *f, rf_engine *e, double secs) {
  rf_stats st;
  rf_get_stats(e, &st);
  rf_concurrency conc;
  rf_concurrency_eval(&conc, &st, &f->phases, secs, f->o->cfg.concurrency,
                      f->o->cfg.per_host ? f->o->cfg.per_host : f->o->cfg.concurrency);
  uint64_t n = f->ok + f->failed;
  fprintf(stderr,
          "ringfetch: %llu requests, %llu ok, %llu failed in %.3f s (%.1f req/s); "
          "peak concurrency %u, %llu connections opened, %llu requests on reused connections, "
          "%llu TLS handshakes (%llu resumed); peak RSS %.1f MiB\n",
          (unsigned long long)n, (unsigned long long)f->ok, (unsigned long long)f->failed, secs,
          secs > 0 ? (double)n / secs : 0.0, st.peak_inflight, (unsigned long long)st.conns_opened,
          (unsigned long long)st.conns_reused, (unsigned long long)st.tls_handshakes,
          (unsigned long long)st.tls_resumed, (double)peak_rss_kib() / 1024.0);
  if (st.retries || st.redirects || st.origin_waits)
    fprintf(stderr,
            "ringfetch: %llu retries, %llu redirects followed, %llu requests waited for their host "
            "(rate, Retry-After or --per-host); peak idle connections %u\n",
            (unsigned long long)st.retries, (unsigned long long)st.redirects,
            (unsigned long long)st.origin_waits, st.peak_idle);
  rf_concurrency_print(stderr, "ringfetch: ", &conc, &f->phases);
  if (getenv("RINGFETCH_ENGINE_STATS")) /* for perf work: how the loop behaved */
    fprintf(stderr,
            "ringfetch: engine: %llu loop turns, %llu CQEs (%.1f per turn), ring flags 0x%x, "
            "direct sockets %s, %llu bytes in, %llu bytes out\n",
            (unsigned long long)st.loop_turns, (unsigned long long)st.cqes,
            st.loop_turns ? (double)st.cqes / (double)st.loop_turns : 0.0, st.ring_flags,
            st.direct_files ? "yes" : "no", (unsigned long long)st.bytes_in,
            (unsigned long long)st.bytes_out);
}

/* Where the URLs come from: the arguments first, then -i's lines. */
typedef struct feeder {
  input in;
  size_t next_arg;
  uint64_t line;        /* of the current URL: arguments and input lines count alike */
  char *cur;            /* the current URL, trimmed, not yet taken by the engine */
  size_t cur_len;
  bool have_line, done, blocked;
  char path[4096];      /* --body-dir file of the request being made */
} feeder;

/* The next URL into fd->cur: LINE_OK, LINE_AGAIN (stdin has nothing yet) or
 * LINE_EOF. Lines that cannot be requested get their record here. */
static int next_url(fetch_ctx *f, feeder *fd) {
  for (;;) {
    bool too_long = false;
    if (fd->next_arg < f->o->n_urls) {
      fd->cur = f->o->urls[fd->next_arg++];
      fd->cur_len = strlen(fd->cur);
    } else if (!f->o->input) {
      return LINE_EOF;
    } else {
      int lr = input_line(&fd->in, &fd->cur, &fd->cur_len, &too_long);
      if (lr == LINE_ERR)
        fprintf(stderr, "ringfetch: reading the input failed: %s\n", strerror(errno));
      if (lr != LINE_OK)
        return lr == LINE_AGAIN ? LINE_AGAIN : LINE_EOF;
    }
    fd->line++;
    trim(&fd->cur, &fd->cur_len);
    if (too_long)
      write_local_error(f, fd->cur, fd->cur_len, fd->line, RF_ERR_BAD_URL, "line longer than 65536 bytes");
    else if (fd->cur_len == 0)
      write_local_error(f, "", 0, fd->line, RF_ERR_BAD_URL, "empty line");
    else
      return LINE_OK;
  }
}

/* Submits URLs while the engine takes them (it says -EAGAIN when its queue
 * is full: the current URL waits for the next turn). */
static void feed(fetch_ctx *f, feeder *fd) {
  fd->blocked = false;
  while (!fd->done) {
    if (!fd->have_line) {
      int lr = next_url(f, fd);
      fd->blocked = lr == LINE_AGAIN;
      fd->done = lr == LINE_EOF;
      if (lr != LINE_OK)
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

/* One turn: the engine runs (or we wait for input), the results are
 * written. 0, or a negative errno to stop. */
static int turn(fetch_ctx *f, feeder *fd, double *last_flush) {
  if (rf_outstanding(f->e) > 0) {
    double now = mono_s();
    if (now - *last_flush > 0.1) {
      fflush(f->out);
      *last_flush = now;
    }
    int rc = rf_run(f->e, fd->blocked ? 5 : 1000);
    if (rc < 0) {
      fprintf(stderr, "ringfetch: engine failure: %s\n", strerror(-rc));
      return rc;
    }
  } else if (fd->blocked) {
    fflush(f->out);
    struct pollfd pfd = {.fd = fd->in.fd, .events = POLLIN};
    poll(&pfd, 1, -1);
  }
  rf_result *r;
  while ((r = rf_result_next(f->e)) != NULL) {
    write_result(f, r);
    rf_result_release(f->e, r);
  }
  if (f->write_error || ferror(f->out)) {
    /* the reader went away (EPIPE) or the disk is full: records would be
     * lost, so stop instead of fetching on */
    fprintf(stderr, "ringfetch: writing the output failed: %s; stopping\n", strerror(errno));
    return -EIO;
  }
  return 0;
}

/* --body-dir, -i, -o, the engine and the tracer; on failure what was opened
 * is closed again and the exit status returned. */
static int fetch_open(rf_cli *o, fetch_ctx *f, feeder *fd) {
  static char outbuf[1 << 16];
  char err[512];
  fd->in.fd = -1;
  f->o = o;
  f->out = stdout;
  if (o->body_dir && mkdir(o->body_dir, 0755) < 0 && errno != EEXIST) {
    fprintf(stderr, "ringfetch: cannot create --body-dir '%s': %s\n", o->body_dir, strerror(errno));
    return RF_EXIT_USAGE;
  }
  if (o->input && input_open(&fd->in, o->input) < 0) {
    fprintf(stderr, "ringfetch: cannot read '%s': %s\n", o->input, strerror(errno));
    goto fail;
  }
  if (o->output && !(f->out = fopen(o->output, "w"))) {
    fprintf(stderr, "ringfetch: cannot write '%s': %s\n", o->output, strerror(errno));
    goto fail;
  }
  setvbuf(f->out, outbuf, _IOFBF, sizeof outbuf);
  if (rf_engine_new(&o->cfg, &f->e, err, sizeof err) < 0) {
    fprintf(stderr, "ringfetch: %s\n", err);
    goto fail;
  }
  if ((o->trace_file || o->waterfall_file) &&
      !(f->tracer = rf_tracer_new(o->trace_file, o->waterfall_file, err, sizeof err))) {
    fprintf(stderr, "ringfetch: %s\n", err);
    rf_engine_free(f->e);
    goto fail;
  }
  return 0;
fail:
  if (f->out && f->out != stdout)
    fclose(f->out);
  input_close(&fd->in);
  return RF_EXIT_USAGE;
}

/* Flushes the records, writes the trace and waterfall and the summary (the
 * run started at t0), and closes everything; the exit status. */
static int fetch_close(fetch_ctx *f, feeder *fd, double t0, int rc) {
  if ((fflush(f->out) != 0 || f->write_error) && rc != -EIO) {
    fprintf(stderr, "ringfetch: writing the output failed: %s\n", strerror(errno));
    f->failed++;
  }
  if (f->out != stdout)
    fclose(f->out);
  double secs = mono_s() - t0;
  if (f->tracer) {
    char title[160];
    snprintf(title, sizeof title, "ringfetch fetch: %llu requests in %.3f s at -c %u",
             (unsigned long long)(f->ok + f->failed), secs, f->o->cfg.concurrency);
    if (rf_tracer_finish(f->tracer, title) < 0) {
      fprintf(stderr, "ringfetch: writing the trace or waterfall failed\n");
      f->failed++;
    }
    rf_tracer_free(f->tracer);
  }
  if (!f->o->quiet)
    summary(f, f->e, secs);
  rf_engine_free(f->e);
  input_close(&fd->in);
  jb_free(&f->jb);
  if (rc < 0)
    return RF_EXIT_FAILED;
  return f->failed ? RF_EXIT_FAILED : RF_EXIT_OK;
}

int rf_fetch_main(rf_cli *o) {
  signal(SIGPIPE, SIG_IGN);
  fetch_ctx f = {0};
  feeder fd = {0};
  int rc = fetch_open(o, &f, &fd);
  if (rc)
    return rc;
  double t0 = mono_s(), last_flush = t0;
  for (rc = 0; rc == 0;) {
    feed(&f, &fd);
    if (fd.done && rf_outstanding(f.e) == 0)
      break;
    rc = turn(&f, &fd, &last_flush);
  }
  return fetch_close(&f, &fd, t0, rc);
}
