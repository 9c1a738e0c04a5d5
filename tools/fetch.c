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

static void put_headers(fetch_ctx *f, const rf_result *r) {
  jbuf *b = &f->jb;
  jb_raw(b, "{", 1);
  bool first = true;
  char lname[256];
  for (size_t i = 0; i < r->n_headers; i++) {
    const rf_header *h = &r->headers[i];
    if (!wanted_header(f, h) || h->name_len >= sizeof lname)
      continue;
    bool seen = false; /* repeated names are joined with ", " at their first place */
    for (size_t j = 0; j < i && !seen; j++)
      seen = r->headers[j].name_len == h->name_len && strncasecmp(r->headers[j].name, h->name, h->name_len) == 0;
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
    for (size_t j = i; j < r->n_headers; j++)
      if (r->headers[j].name_len == h->name_len && strncasecmp(r->headers[j].name, h->name, h->name_len) == 0)
        nvals++;
    if (nvals == 1) {
      jb_str(b, h->value, h->value_len);
      continue;
    }
    jbuf joined = {0};
    for (size_t j = i; j < r->n_headers; j++) {
      const rf_header *x = &r->headers[j];
      if (x->name_len != h->name_len || strncasecmp(x->name, h->name, h->name_len) != 0)
        continue;
      if (joined.len)
        jb_raw(&joined, ", ", 2);
      jb_raw(&joined, x->value, x->value_len);
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

static void write_result(fetch_ctx *f, const rf_result *r) {
  jbuf *b = &f->jb;
  jb_raw(b, "{", 1);
  jb_key(b, "url", 1);
  jb_str(b, r->url, r->url_len);
  jb_key(b, "line", 0);
  jb_u64(b, r->tag);
  jb_key(b, "status", 0);
  if (r->status)
    jb_i64(b, r->status);
  else
    jb_lit(b, "null");
  jb_key(b, "headers", 0);
  put_headers(f, r);
  jb_key(b, "body_bytes", 0);
  jb_u64(b, r->body_bytes);
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

static void fill_request(const rf_cli *o, rf_request *rq, char *path, size_t pathlen, uint64_t line) {
  rq->method = o->method;
  rq->headers = o->headers;
  rq->n_headers = o->n_headers;
  rq->body = o->data;
  rq->body_len = o->data_len;
  rq->tag = line;
  rq->flags = RF_REQ_SHA256;
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

int rf_fetch_main(rf_cli *o) {
  signal(SIGPIPE, SIG_IGN);
  if (o->body_dir && mkdir(o->body_dir, 0755) < 0 && errno != EEXIST) {
    fprintf(stderr, "ringfetch: cannot create --body-dir '%s': %s\n", o->body_dir, strerror(errno));
    return RF_EXIT_USAGE;
  }
  input in = {.fd = -1};
  if (o->input && input_open(&in, o->input) < 0) {
    fprintf(stderr, "ringfetch: cannot read '%s': %s\n", o->input, strerror(errno));
    input_close(&in);
    return RF_EXIT_USAGE;
  }
  fetch_ctx f = {.o = o, .out = stdout};
  if (o->output && !(f.out = fopen(o->output, "w"))) {
    fprintf(stderr, "ringfetch: cannot write '%s': %s\n", o->output, strerror(errno));
    input_close(&in);
    return RF_EXIT_USAGE;
  }
  static char outbuf[1 << 16];
  setvbuf(f.out, outbuf, _IOFBF, sizeof outbuf);

  rf_engine *e = NULL;
  char err[512];
  if (rf_engine_new(&o->cfg, &e, err, sizeof err) < 0) {
    fprintf(stderr, "ringfetch: %s\n", err);
    input_close(&in);
    return RF_EXIT_USAGE;
  }
  f.e = e;
  if ((o->trace_file || o->waterfall_file) &&
      !(f.tracer = rf_tracer_new(o->trace_file, o->waterfall_file, err, sizeof err))) {
    fprintf(stderr, "ringfetch: %s\n", err);
    rf_engine_free(e);
    input_close(&in);
    return RF_EXIT_USAGE;
  }

  double t0 = mono_s(), last_flush = t0;
  uint64_t line = 0;
  size_t next_arg = 0;
  bool input_done = false, input_blocked = false, have_line = false;
  char *cur = NULL;
  size_t cur_len = 0;
  char path[4096];
  int rc = 0;

  for (;;) {
    /* feed the engine while it takes requests */
    input_blocked = false;
    while (!input_done) {
      if (!have_line) {
        bool too_long = false;
        if (next_arg < o->n_urls) {
          cur = o->urls[next_arg++];
          cur_len = strlen(cur);
        } else if (!o->input) {
          input_done = true;
          break;
        } else {
          int lr = input_line(&in, &cur, &cur_len, &too_long);
          if (lr == LINE_AGAIN) {
            input_blocked = true;
            break;
          }
          if (lr == LINE_EOF || lr == LINE_ERR) {
            if (lr == LINE_ERR)
              fprintf(stderr, "ringfetch: reading the input failed: %s\n", strerror(errno));
            input_done = true;
            break;
          }
        }
        line++;
        trim(&cur, &cur_len);
        if (too_long) {
          write_local_error(&f, cur, cur_len, line, RF_ERR_BAD_URL, "line longer than 65536 bytes");
          continue;
        }
        have_line = true;
      }
      rf_request rq;
      rf_request_init(&rq);
      rq.url = cur_len ? cur : "";
      rq.url_len = cur_len;
      if (cur_len == 0) {
        write_local_error(&f, "", 0, line, RF_ERR_BAD_URL, "empty line");
        have_line = false;
        continue;
      }
      fill_request(o, &rq, path, sizeof path, line);
      int s = rf_submit(e, &rq);
      if (s == -EAGAIN)
        break; /* engine queue full: run it first */
      if (s < 0) {
        write_local_error(&f, cur, cur_len, line, RF_ERR_INTERNAL, strerror(-s));
      }
      have_line = false;
    }
    if (input_done && rf_outstanding(e) == 0)
      break;

    if (rf_outstanding(e) > 0) {
      double now = mono_s();
      if (now - last_flush > 0.1) {
        fflush(f.out);
        last_flush = now;
      }
      rc = rf_run(e, input_blocked ? 5 : 1000);
      if (rc < 0) {
        fprintf(stderr, "ringfetch: engine failure: %s\n", strerror(-rc));
        break;
      }
    } else if (input_blocked) {
      fflush(f.out);
      struct pollfd pfd = {.fd = in.fd, .events = POLLIN};
      poll(&pfd, 1, -1);
    }
    rf_result *r;
    while ((r = rf_result_next(e)) != NULL) {
      write_result(&f, r);
      rf_result_release(e, r);
    }
    if (f.write_error || ferror(f.out)) {
      /* the reader went away (EPIPE) or the disk is full: records would be
       * lost, so stop instead of fetching on */
      fprintf(stderr, "ringfetch: writing the output failed: %s; stopping\n", strerror(errno));
      rc = -EIO;
      break;
    }
  }

  if ((fflush(f.out) != 0 || f.write_error) && rc != -EIO) {
    fprintf(stderr, "ringfetch: writing the output failed: %s\n", strerror(errno));
    f.failed++;
  }
  if (f.out != stdout)
    fclose(f.out);
  double secs = mono_s() - t0;
  if (f.tracer) {
    char title[160];
    snprintf(title, sizeof title, "ringfetch fetch: %llu requests in %.3f s at -c %u",
             (unsigned long long)(f.ok + f.failed), secs, o->cfg.concurrency);
    if (rf_tracer_finish(f.tracer, title) < 0) {
      fprintf(stderr, "ringfetch: writing the trace or waterfall failed\n");
      f.failed++;
    }
    rf_tracer_free(f.tracer);
  }
  if (!o->quiet)
    summary(&f, e, secs);
  rf_engine_free(e);
  input_close(&in);
  jb_free(&f.jb);
  if (rc < 0)
    return RF_EXIT_FAILED;
  return f.failed ? RF_EXIT_FAILED : RF_EXIT_OK;
}
