/* `ringfetch bench URL`: a load generator on the same engine.
 *
 * Closed loop (default): -c connections each keep one request (or --pipeline
 * K) in flight for -d seconds or -n requests. Open loop (-R rate or
 * --rate-schedule): requests are due at fixed times, and each one's latency is
 * measured from when it was due, not from when it could be sent, so a
 * stalled server cannot hide behind the generator waiting for it
 * (coordinated omission). -t threads each run their own engine and ring and
 * share nothing until the histograms are merged at the end. */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "hist.h"
#include "json.h"
#include "options.h"
#include "ringfetch.h"
#include "trace.h"

#define HIST_MAX_US 3600000000ull /* 1 h */
#define HIST_DIGITS 3
#define GRACE_US 2000000u         /* in-flight requests may finish this long after the end */

typedef struct segment {
  double rate;      /* requests per second, all threads together */
  uint64_t dur_us;
} segment;

typedef struct bench_opts {
  const char *url;
  unsigned conns, threads, pipeline;
  uint64_t duration_us;
  uint64_t requests;    /* -n: total, 0 = by duration */
  bool new_conn, latency, json;
  const char *hist_file;
  segment *segs;        /* open loop when nsegs > 0 */
  size_t nsegs;
  const char *method;
  rf_header *hdrs;
  size_t nh;
  char *body;
  size_t body_len;
  rf_config cfg;        /* TLS, DNS, timeouts */
  const char **resolve;
  size_t nresolve;
  const char *trace_file, *waterfall_file;
  uint64_t trace_max;   /* requests recorded in the trace / waterfall */
} bench_opts;

/* --trace / --waterfall: one tracer for all threads. Each thread shifts its
 * engine's timestamps onto the shared axis (µs since the bench started) and
 * makes its connection ids and request ids unique. */
typedef struct bench_trace {
  rf_tracer *tr;
  pthread_mutex_t mu;
  uint64_t n, max, skipped;
  unsigned threads;
} bench_trace;

typedef struct hists {
  rf_hist total, connect, tls, ttfb, send_lag, gen_lag;
  rf_hist rps; /* wrk's "Req/Sec": one thread's rate, sampled every 100 ms */
} hists;

typedef struct pending {
  uint64_t intended, submitted;
  int next_free;
} pending;

typedef struct thr {
  pthread_t th;
  int idx;
  const bench_opts *o;
  unsigned conns;
  uint64_t quota;       /* closed loop -n share */
  double rate_share;    /* fraction of the schedule's rate */
  hists h;
  uint64_t done, in_window, bytes;
  uint64_t errors[RF_ERR__COUNT];
  uint64_t status[6];   /* 1xx..5xx, [0] = other */
  uint64_t codes[1000]; /* by exact status code */
  rf_phase_sums phases;
  uint64_t behind;      /* open loop: due but never sent before the end */
  uint64_t answered;    /* requests that got a response (any status) */
  uint64_t give_up_after; /* stop when this many failed and none was answered */
  bool gave_up;
  char last_error[200]; /* kind: message of the latest failure */
  rf_stats st;
  uint64_t t0, t_end;
  uint64_t sample_at, sample_done; /* the last Req/Sec sample */
  bench_trace *trace;
  uint64_t trace_base;  /* the bench's start, µs (CLOCK_MONOTONIC) */
  uint64_t clock_off;   /* engine clock -> bench clock, µs */
  uint64_t trace_seq;
  int rc;
  char err[256];
} thr;

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- options ------------------------------------------------------------- */

static void bench_usage(FILE *f) {
  fputs("usage: ringfetch bench [options] URL\n"
        "  -c, --connections N    connections to keep open (default 10)\n"
        "  -d, --duration T       test length: 10s, 500ms, 2m, 1h (default 10s)\n"
        "  -n, --requests N       stop after N requests instead of a duration\n"
        "  -t, --threads N        threads, one engine each (default 1)\n"
        "  -R, --rate R           open loop: R requests/s in total, latency from each\n"
        "                         request's intended send time (coordinated omission corrected)\n"
        "      --rate-schedule S  open loop with steps: R1:T1,R2:T2,... (e.g. 1000:5s,5000:10s)\n"
        "      --pipeline K       K requests in flight per connection (HTTP/1.1 pipelining)\n"
        "      --new-conn         a new connection (and TLS handshake) for every request\n"
        "      --latency          print the latency distribution and the phases\n"
        "      --json             machine-readable results on stdout\n"
        "      --histogram FILE   total latency as an HdrHistogram percentile distribution (ms)\n"
        "      --trace FILE       per-request timelines as a Chrome trace (Perfetto, chrome://tracing)\n"
        "      --waterfall FILE   per-request timelines as an SVG waterfall\n"
        "      --trace-max N      requests kept in the trace and waterfall: the first N (default 100000)\n"
        "      --timeout T        count a request as failed after T (default 10s)\n"
        "  -H, --header 'N: V'    request header (repeatable)\n"
        "  -X, --request METHOD   method (default GET, POST with --data)\n"
        "      --data DATA        request body (@FILE reads a file)\n"
        "  -A, --user-agent UA    User-Agent\n"
        "      --cacert FILE | -k, --insecure | --resolve H:P:ADDR | --connect-timeout T\n"
        "Flags follow wrk's where the meaning is the same: -c, -d, -t, -H, --latency, --timeout, -v\n"
        "(counts take wrk's suffixes: -c 1k, -n 2M).\n",
        f);
}

/* A count with wrk's metric suffixes: "100", "10k", "1.5M", "2G". */
static int parse_count(const char *s, unsigned long max, unsigned long *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || !isfinite(v) || v < 0 || *s == '-' || *s == '+')
    return -1;
  if (*end == 'k' || *end == 'K')
    v *= 1e3, end++;
  else if (*end == 'm' || *end == 'M')
    v *= 1e6, end++;
  else if (*end == 'g' || *end == 'G')
    v *= 1e9, end++;
  if (*end || v != floor(v) || v > (double)max)
    return -1;
  *out = (unsigned long)v;
  return 0;
}

/* "10s", "500ms", "2m", "1h", "1.5s", "10" (seconds) -> µs */
static int parse_duration(const char *s, uint64_t *us) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || !isfinite(v) || v <= 0)
    return -1;
  double mult = 1e6;
  if (strcmp(end, "ms") == 0)
    mult = 1e3;
  else if (strcmp(end, "us") == 0)
    mult = 1;
  else if (strcmp(end, "m") == 0)
    mult = 60e6;
  else if (strcmp(end, "h") == 0)
    mult = 3600e6;
  else if (*end && strcmp(end, "s") != 0)
    return -1;
  double r = v * mult;
  if (r < 1 || r > 30.0 * 86400e6)
    return -1;
  *us = (uint64_t)r;
  return 0;
}

static int parse_rate(const char *s, double *rate) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v) || v <= 0 || v > 1e8)
    return -1;
  *rate = v;
  return 0;
}

static int parse_schedule(bench_opts *o, const char *s) {
  char *copy = strdup(s);
  if (!copy)
    return -1;
  char *save = NULL;
  for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    char *colon = strchr(tok, ':');
    segment seg;
    if (!colon)
      goto bad;
    *colon = 0;
    if (parse_rate(tok, &seg.rate) || parse_duration(colon + 1, &seg.dur_us))
      goto bad;
    segment *n = realloc(o->segs, sizeof *n * (o->nsegs + 1));
    if (!n)
      goto bad;
    o->segs = n;
    o->segs[o->nsegs++] = seg;
  }
  free(copy);
  return o->nsegs ? 0 : -1;
bad:
  free(copy);
  return -1;
}

static int parse_opts(int argc, char **argv, bench_opts *o) {
  memset(o, 0, sizeof *o);
  rf_config_init(&o->cfg);
  o->conns = 10;
  o->threads = 1;
  o->pipeline = 1;
  o->duration_us = 10000000u;
  o->cfg.max_time_ms = 10000;
  double rate = 0;
  bool have_duration = false;
  for (int i = 0; i < argc; i++) {
    char *a = argv[i];
    if (a[0] != '-' || !a[1]) {
      if (o->url)
        return rf_cli_usage_err("more than one URL ('%s'): bench takes one", a);
      o->url = a;
      continue;
    }
    /* --name=value and -xVALUE forms */
    char name[64];
    const char *val = NULL;
    if (a[1] == '-') {
      const char *eq = strchr(a, '=');
      size_t len = eq ? (size_t)(eq - a) : strlen(a);
      if (len >= sizeof name)
        return rf_cli_usage_err("unknown option '%s'", a);
      memcpy(name, a, len);
      name[len] = 0;
      val = eq ? eq + 1 : NULL;
    } else {
      name[0] = '-';
      name[1] = a[1];
      name[2] = 0;
      val = a[2] ? a + 2 : NULL;
    }
#define IS(s, l) (strcmp(name, s) == 0 || strcmp(name, l) == 0)
    bool flag = IS("--new-conn", "--new-conn") || IS("--latency", "--latency") || IS("--json", "--json") ||
                IS("-k", "--insecure") || IS("-h", "--help") || IS("-V", "--version") || IS("-v", "--version");
    if (!flag && !val) {
      if (i + 1 >= argc)
        return rf_cli_usage_err("option '%s' needs a value", a);
      val = argv[++i];
    }
    unsigned long u;
    if (IS("-c", "--connections")) {
      if (parse_count(val, 100000, &u) || u == 0)
        return rf_cli_usage_err("bad connection count '%s'", val);
      o->conns = (unsigned)u;
    } else if (IS("-t", "--threads")) {
      if (rf_cli_parse_uint(val, 64, &u) || u == 0)
        return rf_cli_usage_err("bad thread count '%s' (1..64)", val);
      o->threads = (unsigned)u;
    } else if (IS("-d", "--duration")) {
      if (parse_duration(val, &o->duration_us))
        return rf_cli_usage_err("bad duration '%s' (e.g. 10s, 500ms, 2m)", val);
      have_duration = true;
    } else if (IS("-n", "--requests")) {
      if (parse_count(val, (unsigned long)1e12, &u) || u == 0)
        return rf_cli_usage_err("bad request count '%s'", val);
      o->requests = u;
    } else if (IS("-R", "--rate")) {
      if (parse_rate(val, &rate))
        return rf_cli_usage_err("bad rate '%s' (requests per second)", val);
    } else if (IS("--rate-schedule", "--rate-schedule")) {
      if (parse_schedule(o, val))
        return rf_cli_usage_err("bad rate schedule '%s' (want R1:T1,R2:T2,...)", val);
    } else if (IS("--pipeline", "--pipeline")) {
      if (rf_cli_parse_uint(val, 1024, &u) || u == 0)
        return rf_cli_usage_err("bad pipeline depth '%s'", val);
      o->pipeline = (unsigned)u;
    } else if (IS("--new-conn", "--new-conn")) {
      o->new_conn = true;
    } else if (IS("--latency", "--latency")) {
      o->latency = true;
    } else if (IS("--json", "--json")) {
      o->json = true;
    } else if (IS("--histogram", "--histogram")) {
      o->hist_file = val;
    } else if (IS("--trace", "--trace")) {
      o->trace_file = val;
    } else if (IS("--waterfall", "--waterfall")) {
      o->waterfall_file = val;
    } else if (IS("--trace-max", "--trace-max")) {
      if (rf_cli_parse_uint(val, 100000000, &u) || u == 0)
        return rf_cli_usage_err("bad --trace-max '%s'", val);
      o->trace_max = u;
    } else if (IS("--timeout", "--timeout")) {
      uint64_t us;
      if (parse_duration(val, &us) || us < 1000)
        return rf_cli_usage_err("bad timeout '%s'", val);
      o->cfg.max_time_ms = (unsigned)(us / 1000);
    } else if (IS("--connect-timeout", "--connect-timeout")) {
      if (rf_cli_parse_seconds(val, &o->cfg.connect_timeout_ms))
        return rf_cli_usage_err("bad --connect-timeout '%s'", val);
    } else if (IS("-H", "--header")) {
      int rc = rf_cli_add_header(&o->hdrs, &o->nh, (char *)val);
      if (rc)
        return rc;
    } else if (IS("-X", "--request")) {
      o->method = val;
    } else if (IS("--data", "--body")) {
      free(o->body);
      o->body = NULL;
      if (val[0] == '@') {
        if (rf_cli_read_file(val + 1, &o->body, &o->body_len))
          return rf_cli_usage_err("cannot read the data file '%s'", val + 1);
      } else {
        o->body = strdup(val);
        o->body_len = strlen(val);
      }
    } else if (IS("-A", "--user-agent")) {
      o->cfg.user_agent = val;
    } else if (IS("--cacert", "--cacert")) {
      o->cfg.ca_file = val;
    } else if (IS("-k", "--insecure")) {
      o->cfg.insecure = true;
    } else if (IS("--resolve", "--resolve")) {
      const char **r = realloc(o->resolve, sizeof *r * (o->nresolve + 1));
      if (!r)
        return rf_cli_usage_err("%s", "out of memory");
      o->resolve = r;
      r[o->nresolve++] = val;
    } else if (IS("-h", "--help")) {
      bench_usage(stdout);
      return -1;
    } else if (IS("-s", "--script")) {
      return rf_cli_usage_err("wrk's Lua scripts (-s %s) are not supported: use -X, -H and --data for the "
                              "request, --rate-schedule for pacing",
                              val);
    } else if (IS("-V", "--version") || IS("-v", "--version")) {
      printf("ringfetch %s\n", rf_version());
      return -1;
    } else {
      return rf_cli_usage_err("unknown option '%s' (ringfetch bench --help)", a);
    }
#undef IS
  }
  if (!o->url)
    return rf_cli_usage_err("%s", "no URL given (ringfetch bench [options] URL)");
  if (rate > 0 && o->nsegs)
    return rf_cli_usage_err("%s", "give -R or --rate-schedule, not both");
  if (rate > 0) {
    o->segs = malloc(sizeof *o->segs);
    if (!o->segs)
      return rf_cli_usage_err("%s", "out of memory");
    o->segs[0].rate = rate;
    o->segs[0].dur_us = o->duration_us;
    o->nsegs = 1;
  } else if (o->nsegs && have_duration) {
    return rf_cli_usage_err("%s", "--rate-schedule sets its own duration: drop -d");
  }
  if (o->nsegs && o->requests)
    return rf_cli_usage_err("%s", "-n is for the closed loop; the open loop runs for its schedule");
  if (o->new_conn && o->pipeline > 1)
    return rf_cli_usage_err("%s", "--new-conn and --pipeline exclude each other");
  if (o->threads > o->conns)
    o->threads = o->conns;
  o->cfg.resolve = o->resolve;
  o->cfg.n_resolve = o->nresolve;
  return 0;
}

/* ---- one thread ------------------------------------------------------------ */

static int hists_init(hists *h) {
  rf_hist *all[] = {&h->total, &h->connect, &h->tls, &h->ttfb, &h->send_lag, &h->gen_lag, &h->rps};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    if (rf_hist_init(all[i], HIST_MAX_US, HIST_DIGITS) < 0)
      return -1;
  return 0;
}

static void hists_free(hists *h) {
  rf_hist *all[] = {&h->total, &h->connect, &h->tls, &h->ttfb, &h->send_lag, &h->gen_lag, &h->rps};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    rf_hist_free(all[i]);
}

static void hists_add(hists *dst, const hists *src) {
  rf_hist_add(&dst->total, &src->total);
  rf_hist_add(&dst->connect, &src->connect);
  rf_hist_add(&dst->tls, &src->tls);
  rf_hist_add(&dst->ttfb, &src->ttfb);
  rf_hist_add(&dst->send_lag, &src->send_lag);
  rf_hist_add(&dst->gen_lag, &src->gen_lag);
  rf_hist_add(&dst->rps, &src->rps);
}

/* Counts a finished request; latency_us is what goes in the total histogram. */
static void account(thr *t, const rf_result *r, uint64_t latency_us, bool in_window) {
  t->done++;
  if (in_window)
    t->in_window++;
  t->bytes += r->body_bytes;
  if (r->error != RF_OK) {
    t->errors[r->error]++;
    snprintf(t->last_error, sizeof t->last_error, "%s: %s", rf_error_name(r->error), r->error_message);
    if (!t->answered && t->done >= t->give_up_after)
      t->gave_up = true; /* nothing answers (no such host, nothing listening): do not spin */
    return;
  }
  t->answered++;
  int cls = r->status / 100;
  t->status[cls >= 1 && cls <= 5 ? cls : 0]++;
  if (r->status > 0 && r->status < 1000)
    t->codes[r->status]++;
  rf_phase_add(&t->phases, r);
  rf_hist_record(&t->h.total, latency_us);
  if (r->timings.connect)
    rf_hist_record(&t->h.connect, r->timings.connect);
  if (r->timings.tls)
    rf_hist_record(&t->h.tls, r->timings.tls);
  if (r->timings.ttfb)
    rf_hist_record(&t->h.ttfb, r->timings.ttfb);
}

/* Hands a finished request to the shared tracer (the first trace_max ones). */
static void trace_result(thr *t, rf_engine *e, const rf_result *r) {
  bench_trace *g = t->trace;
  if (!g)
    return;
  uint64_t released = rf_clock_us(e) + t->clock_off;
  rf_result x = *r;
  uint64_t *ev[] = {&x.events.submitted,     &x.events.started,     &x.events.dns_start, &x.events.dns_end,
                    &x.events.connect_start, &x.events.connect_end, &x.events.tls_start, &x.events.tls_end,
                    &x.events.sent,          &x.events.first_byte,  &x.events.done};
  for (size_t i = 0; i < sizeof ev / sizeof ev[0]; i++)
    if (*ev[i])
      *ev[i] += t->clock_off;
  x.tag = t->trace_seq++ * g->threads + (uint64_t)t->idx;
  if (x.conn_id)
    x.conn_id = x.conn_id * g->threads + (uint32_t)t->idx;
  pthread_mutex_lock(&g->mu);
  if (g->n < g->max) {
    rf_tracer_add(g->tr, &x, released);
    g->n++;
  } else {
    g->skipped++;
  }
  pthread_mutex_unlock(&g->mu);
}

#define SAMPLE_US 100000u

/* Records this thread's request rate since the last sample once 100 ms have
 * passed (only inside the test window: the grace period is not the test). */
static void sample_rate(thr *t, uint64_t now, uint64_t window_end) {
  if (now < t->sample_at + SAMPLE_US || now > window_end)
    return;
  rf_hist_record(&t->h.rps, (t->done - t->sample_done) * 1000000u / (now - t->sample_at));
  t->sample_at = now;
  t->sample_done = t->done;
}

static int submit(thr *t, rf_engine *e, uint64_t tag) {
  const bench_opts *o = t->o;
  rf_request rq;
  rf_request_init(&rq);
  rq.url = o->url;
  rq.method = o->method;
  rq.headers = o->hdrs;
  rq.n_headers = o->nh;
  rq.body = o->body;
  rq.body_len = o->body_len;
  rq.tag = tag;
  rq.body_mode = RF_BODY_DISCARD;
  rq.flags = o->new_conn ? RF_REQ_NEW_CONN : 0;
  return rf_submit(e, &rq);
}

static void closed_loop(thr *t, rf_engine *e, unsigned capacity) {
  const bench_opts *o = t->o;
  uint64_t deadline = o->requests ? UINT64_MAX : t->t0 + o->duration_us;
  uint64_t issued = 0, inflight = 0;
  for (;;) {
    uint64_t now = now_us();
    bool issuing = !t->gave_up && (o->requests ? issued < t->quota : now < deadline);
    while (issuing && inflight < capacity) {
      if (submit(t, e, issued) < 0)
        break;
      issued++;
      inflight++;
      issuing = !t->gave_up && (o->requests ? issued < t->quota : true);
    }
    if (inflight == 0 && !issuing)
      break;
    if (!issuing && now > deadline && now - deadline > GRACE_US)
      break; /* stragglers beyond the grace period are not waited for */
    int64_t wait = deadline == UINT64_MAX ? 100000 : (now < deadline ? (int64_t)(deadline - now) : 10000);
    if (wait > 100000)
      wait = 100000;
    int rc = rf_run_us(e, wait);
    if (rc < 0) {
      t->rc = rc;
      snprintf(t->err, sizeof t->err, "engine failure: %s", strerror(-rc));
      break;
    }
    rf_result *r;
    uint64_t done_at = now_us();
    while ((r = rf_result_next(e)) != NULL) {
      account(t, r, r->timings.total, done_at <= deadline);
      trace_result(t, e, r);
      rf_result_release(e, r);
      inflight--;
    }
    sample_rate(t, done_at, deadline);
  }
  t->t_end = now_us();
}

/* Intended send times of the open-loop schedule, one request at a time. */
typedef struct schedule {
  const segment *segs;
  size_t nsegs, cur;
  double share;       /* this thread's part of every rate */
  uint64_t seg_start; /* µs */
  double next;        /* µs, absolute */
  uint64_t end;
} schedule;

static void sched_init(schedule *s, const bench_opts *o, double share, uint64_t t0) {
  s->segs = o->segs;
  s->nsegs = o->nsegs;
  s->cur = 0;
  s->share = share;
  s->seg_start = t0;
  s->end = t0;
  for (size_t i = 0; i < o->nsegs; i++)
    s->end += o->segs[i].dur_us;
  s->next = (double)t0;
}

/* The next intended time (µs) or UINT64_MAX when the schedule is over. */
static uint64_t sched_peek(schedule *s) {
  while (s->cur < s->nsegs && s->next >= (double)(s->seg_start + s->segs[s->cur].dur_us)) {
    s->seg_start += s->segs[s->cur].dur_us;
    s->cur++;
    s->next = (double)s->seg_start; /* each step starts on its own beat */
  }
  return s->cur < s->nsegs ? (uint64_t)s->next : UINT64_MAX;
}

static void sched_advance(schedule *s) { s->next += 1e6 / (s->segs[s->cur].rate * s->share); }

static void open_loop(thr *t, rf_engine *e, unsigned capacity) {
  pending *pend = calloc(capacity, sizeof *pend);
  if (!pend) {
    t->rc = -ENOMEM;
    snprintf(t->err, sizeof t->err, "out of memory");
    return;
  }
  int free_head = 0;
  for (unsigned i = 0; i < capacity; i++)
    pend[i].next_free = i + 1 < capacity ? (int)i + 1 : -1;
  schedule s;
  sched_init(&s, t->o, t->rate_share, t->t0);
  unsigned inflight = 0;
  uint64_t cap_free_at = t->t0; /* when a connection last became free */
  for (;;) {
    uint64_t now = now_us();
    uint64_t due = t->gave_up ? UINT64_MAX : sched_peek(&s);
    while (due <= now && free_head >= 0) {
      pending *p = &pend[free_head];
      int idx = free_head;
      free_head = p->next_free;
      p->intended = due;
      p->submitted = now;
      if (submit(t, e, (uint64_t)idx) < 0) {
        p->next_free = free_head;
        free_head = idx;
        break;
      }
      /* the generator's own lateness: how long after the request was due and
       * a connection was free did it go out */
      uint64_t ready = due > cap_free_at ? due : cap_free_at;
      rf_hist_record(&t->h.gen_lag, now > ready ? now - ready : 0);
      inflight++;
      sched_advance(&s);
      due = sched_peek(&s);
    }
    if (due == UINT64_MAX && inflight == 0)
      break;
    if (due == UINT64_MAX && now > s.end + GRACE_US)
      break;
    int64_t wait = 100000;
    if (due != UINT64_MAX && free_head >= 0)
      wait = due > now ? (int64_t)(due - now) : 0;
    if (wait > 100000)
      wait = 100000;
    int rc = rf_run_us(e, wait);
    if (rc < 0) {
      t->rc = rc;
      snprintf(t->err, sizeof t->err, "engine failure: %s", strerror(-rc));
      break;
    }
    rf_result *r;
    uint64_t done_at = now_us();
    while ((r = rf_result_next(e)) != NULL) {
      pending *p = &pend[r->tag];
      uint64_t finished = p->submitted + r->timings.total;
      uint64_t latency = finished > p->intended ? finished - p->intended : 0;
      if (r->timings.send) {
        uint64_t sent = p->submitted + r->timings.send;
        rf_hist_record(&t->h.send_lag, sent > p->intended ? sent - p->intended : 0);
      }
      account(t, r, latency, done_at <= s.end);
      trace_result(t, e, r);
      p->next_free = free_head;
      free_head = (int)r->tag;
      inflight--;
      cap_free_at = done_at;
      rf_result_release(e, r);
    }
    sample_rate(t, done_at, s.end);
  }
  /* requests that were due but never went out: the server (or we) fell behind */
  for (uint64_t due = t->gave_up ? UINT64_MAX : sched_peek(&s); due != UINT64_MAX && due <= s.end;
       due = sched_peek(&s)) {
    t->behind++;
    sched_advance(&s);
  }
  t->t_end = now_us();
  free(pend);
}

static void *thread_main(void *arg) {
  thr *t = arg;
  const bench_opts *o = t->o;
  rf_config cfg = o->cfg;
  unsigned capacity = t->conns * o->pipeline;
  cfg.concurrency = capacity;
  cfg.per_host = t->conns;
  cfg.pipeline = o->pipeline;
  cfg.queue_size = capacity + 16;
  cfg.result_slots = capacity + 64;
  cfg.idle_per_host = t->conns;
  rf_engine *e = NULL;
  if (rf_engine_new(&cfg, &e, t->err, sizeof t->err) < 0) {
    t->rc = -EINVAL;
    return NULL;
  }
  t->t0 = now_us();
  t->sample_at = t->t0;
  if (t->trace) {
    uint64_t engine_epoch = t->t0 - rf_clock_us(e);
    t->clock_off = engine_epoch > t->trace_base ? engine_epoch - t->trace_base : 0;
  }
  if (o->nsegs)
    open_loop(t, e, capacity);
  else
    closed_loop(t, e, capacity);
  rf_get_stats(e, &t->st);
  rf_engine_free(e);
  return NULL;
}

/* ---- reporting --------------------------------------------------------------- */

static void fmt_us(char *out, size_t n, double us) {
  if (us < 1000)
    snprintf(out, n, "%.2fus", us);
  else if (us < 1e6)
    snprintf(out, n, "%.2fms", us / 1e3);
  else
    snprintf(out, n, "%.2fs", us / 1e6);
}

/* "10s", "1.5s", "500ms", "2m" like wrk's header line */
static const char *fmt_duration(double us) {
  static char buf[32];
  if (us >= 60e6 && fmod(us, 60e6) == 0)
    snprintf(buf, sizeof buf, "%.0fm", us / 60e6);
  else if (us >= 1e6)
    snprintf(buf, sizeof buf, "%gs", us / 1e6);
  else
    snprintf(buf, sizeof buf, "%gms", us / 1e3);
  return buf;
}

static void fmt_bytes(char *out, size_t n, double b) {
  const char *u[] = {"B", "KB", "MB", "GB", "TB"};
  int i = 0;
  while (b >= 1024 && i < 4) {
    b /= 1024;
    i++;
  }
  snprintf(out, n, "%.2f%s", b, u[i]);
}

typedef struct totals {
  hists h;
  uint64_t done, in_window, bytes, behind;
  uint64_t errors[RF_ERR__COUNT], status[6], codes[1000];
  rf_phase_sums phases;
  rf_stats st;           /* summed over the threads' engines */
  uint64_t handshakes, resumed, conns_opened;
  double area_us, wall_us, window_us;
  unsigned peak;
  double cpu_user, cpu_sys;
} totals;

static void fmt_metric(char *out, size_t n, double v) {
  if (v >= 1e9)
    snprintf(out, n, "%.2fG", v / 1e9);
  else if (v >= 1e6)
    snprintf(out, n, "%.2fM", v / 1e6);
  else if (v >= 1e3)
    snprintf(out, n, "%.2fk", v / 1e3);
  else
    snprintf(out, n, "%.2f", v);
}

static const double pcts[] = {50, 75, 90, 99, 99.9, 99.99, 100};

static void print_phase(const char *name, const rf_hist *h) {
  if (!rf_hist_count(h))
    return;
  char a[32], b[32], c[32], d[32];
  fmt_us(a, sizeof a, (double)rf_hist_percentile(h, 50));
  fmt_us(b, sizeof b, (double)rf_hist_percentile(h, 90));
  fmt_us(c, sizeof c, (double)rf_hist_percentile(h, 99));
  fmt_us(d, sizeof d, (double)rf_hist_max(h));
  printf("    %-9s %10s %10s %10s %10s   (%llu)\n", name, a, b, c, d, (unsigned long long)rf_hist_count(h));
}

static bool generator_behind(const bench_opts *o, const totals *T) {
  if (!o->nsegs || !rf_hist_count(&T->h.gen_lag))
    return false;
  /* 5 ms: a busy shared machine deschedules us for a millisecond now and
   * then; falling behind by more than that for 1% of the requests is the
   * generator's own doing and distorts what it measures */
  uint64_t p99 = rf_hist_percentile(&T->h.gen_lag, 99);
  return p99 > 5000;
}

static void human(const bench_opts *o, const totals *T) {
  char a[32], b[32], c[32];
  const rf_hist *lat = &T->h.total;
  if (o->requests)
    printf("Running %llu-request test @ %s\n", (unsigned long long)o->requests, o->url);
  else
    printf("Running %s test @ %s\n", fmt_duration(o->nsegs ? T->window_us : (double)o->duration_us), o->url);
  printf("  %u threads and %u connections%s%s", o->threads, o->conns,
         o->new_conn ? " (a new connection per request)" : "",
         o->pipeline > 1 ? "" : "");
  if (o->pipeline > 1)
    printf(", %u pipelined per connection", o->pipeline);
  if (o->nsegs) {
    printf(", open loop at ");
    for (size_t i = 0; i < o->nsegs; i++)
      printf("%s%.0f/s for %.1fs", i ? ", " : "", o->segs[i].rate, (double)o->segs[i].dur_us / 1e6);
  }
  printf("\n");
  /* wrk's block: latency over all requests, Req/Sec over every thread's
   * 100 ms samples; +/- Stdev = share within one standard deviation */
  printf("  Thread Stats   Avg      Stdev     Max   +/- Stdev%s\n",
         o->nsegs ? "   (latency from the intended send time)" : "");
  fmt_us(a, sizeof a, rf_hist_mean(lat));
  fmt_us(b, sizeof b, rf_hist_stddev(lat));
  fmt_us(c, sizeof c, (double)rf_hist_max(lat));
  printf("    Latency %9s %9s %9s %8.2f%%\n", a, b, c, 100.0 * rf_hist_within_stdev(lat, 1.0));
  const rf_hist *rps = &T->h.rps;
  if (rf_hist_count(rps)) {
    fmt_metric(a, sizeof a, rf_hist_mean(rps));
    fmt_metric(b, sizeof b, rf_hist_stddev(rps));
    fmt_metric(c, sizeof c, (double)rf_hist_max(rps));
    printf("    Req/Sec %9s %9s %9s %8.2f%%\n", a, b, c, 100.0 * rf_hist_within_stdev(rps, 1.0));
  }
  if (o->latency) {
    printf("  Latency Distribution%s\n", o->nsegs ? " (coordinated omission corrected)" : "");
    for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++) {
      fmt_us(a, sizeof a, (double)rf_hist_percentile(lat, pcts[i]));
      printf("  %8.3f%%  %s\n", pcts[i], a);
    }
    printf("  Phases         p50        p90        p99        max   (count)\n");
    print_phase("connect", &T->h.connect);
    print_phase("tls", &T->h.tls);
    print_phase("ttfb", &T->h.ttfb);
    print_phase("total", &T->h.total);
    if (o->nsegs) {
      print_phase("send-lag", &T->h.send_lag);
      print_phase("gen-lag", &T->h.gen_lag);
    }
  }
  fmt_bytes(a, sizeof a, (double)T->bytes);
  printf("  %llu requests in %.2fs, %s read\n", (unsigned long long)T->done, T->window_us / 1e6, a);
  uint64_t non2xx = T->status[0] + T->status[1] + T->status[4] + T->status[5];
  if (non2xx) {
    printf("  Non-2xx or 3xx responses: %llu (", (unsigned long long)non2xx);
    bool first = true;
    for (int k = 0; k < 1000; k++)
      if (T->codes[k] && (k < 200 || k >= 400)) {
        printf("%s%d: %llu", first ? "" : ", ", k, (unsigned long long)T->codes[k]);
        first = false;
      }
    printf(")\n");
  }
  uint64_t nerr = 0;
  for (int k = 1; k < RF_ERR__COUNT; k++)
    nerr += T->errors[k];
  if (nerr) {
    printf("  Errors: %llu:", (unsigned long long)nerr);
    for (int k = 1; k < RF_ERR__COUNT; k++)
      if (T->errors[k])
        printf(" %s %llu", rf_error_name((rf_error)k), (unsigned long long)T->errors[k]);
    printf("\n");
  }
  if (T->behind)
    printf("  Not sent: %llu requests were due but no connection was free before the end\n",
           (unsigned long long)T->behind);
  printf("Requests/sec: %10.2f\n", T->window_us > 0 ? (double)T->in_window * 1e6 / T->window_us : 0.0);
  fmt_bytes(a, sizeof a, T->window_us > 0 ? (double)T->bytes * 1e6 / T->window_us : 0);
  printf("Transfer/sec: %10s\n", a);
  unsigned capacity = o->conns * o->pipeline;
  if (T->handshakes)
    printf("  TLS: %llu handshakes (%llu resumed, %llu full)\n", (unsigned long long)T->handshakes,
           (unsigned long long)T->resumed, (unsigned long long)(T->handshakes - T->resumed));
  double cpu = T->cpu_user + T->cpu_sys;
  printf("  client CPU: %.2fs user + %.2fs sys = %.1f us per request\n", T->cpu_user, T->cpu_sys,
         T->done ? cpu * 1e6 / (double)T->done : 0.0);
  rf_concurrency cc;
  rf_concurrency_eval(&cc, &T->st, &T->phases, T->wall_us / 1e6, capacity, o->conns);
  fflush(stdout);
  rf_concurrency_print(stdout, "  ", &cc, &T->phases);
  if (generator_behind(o, T)) {
    fmt_us(a, sizeof a, (double)rf_hist_percentile(&T->h.gen_lag, 99));
    printf("WARNING: the load generator fell behind its schedule: requests went out up to %s (p99)\n"
           "         after they were due while a connection was free. The latencies above include\n"
           "         that lag; use more threads (-t) or a lower rate.\n", a);
  }
}

static void json_hist(jbuf *b, const char *key, const rf_hist *h, bool first) {
  jb_key(b, key, first);
  jb_raw(b, "{", 1);
  jb_key(b, "count", 1);
  jb_u64(b, rf_hist_count(h));
  if (rf_hist_count(h)) {
    jb_key(b, "min", 0);
    jb_u64(b, rf_hist_min(h));
    jb_key(b, "mean", 0);
    jb_u64(b, (uint64_t)llround(rf_hist_mean(h)));
    jb_key(b, "stdev", 0);
    jb_u64(b, (uint64_t)llround(rf_hist_stddev(h)));
    static const char *const names[] = {"p50", "p75", "p90", "p99", "p99.9", "p99.99", "max"};
    for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++) {
      jb_key(b, names[i], 0);
      jb_u64(b, i + 1 == sizeof pcts / sizeof pcts[0] ? rf_hist_max(h) : rf_hist_percentile(h, pcts[i]));
    }
  }
  jb_raw(b, "}", 1);
}

static void json_out(const bench_opts *o, const totals *T) {
  jbuf b = {0};
  jb_raw(&b, "{", 1);
  jb_key(&b, "url", 1);
  jb_str(&b, o->url, strlen(o->url));
  jb_key(&b, "mode", 0);
  jb_lit(&b, o->nsegs ? "\"open\"" : "\"closed\"");
  jb_key(&b, "threads", 0);
  jb_u64(&b, o->threads);
  jb_key(&b, "connections", 0);
  jb_u64(&b, o->conns);
  jb_key(&b, "pipeline", 0);
  jb_u64(&b, o->pipeline);
  jb_key(&b, "new_conn", 0);
  jb_lit(&b, o->new_conn ? "true" : "false");
  if (o->nsegs) {
    jb_key(&b, "rate_schedule", 0);
    jb_raw(&b, "[", 1);
    for (size_t i = 0; i < o->nsegs; i++) {
      char t[96];
      int n = snprintf(t, sizeof t, "%s{\"rate\":%.3f,\"duration_s\":%.3f}", i ? "," : "", o->segs[i].rate,
                       (double)o->segs[i].dur_us / 1e6);
      jb_raw(&b, t, (size_t)n);
    }
    jb_raw(&b, "]", 1);
  }
  char num[256];
  int n;
  jb_key(&b, "duration_s", 0);
  n = snprintf(num, sizeof num, "%.6f", T->window_us / 1e6);
  jb_raw(&b, num, (size_t)n);
  jb_key(&b, "requests", 0);
  jb_u64(&b, T->done);
  jb_key(&b, "requests_in_window", 0);
  jb_u64(&b, T->in_window);
  jb_key(&b, "requests_per_s", 0);
  n = snprintf(num, sizeof num, "%.3f", T->window_us > 0 ? (double)T->in_window * 1e6 / T->window_us : 0.0);
  jb_raw(&b, num, (size_t)n);
  const rf_hist *rps = &T->h.rps;
  jb_key(&b, "thread_requests_per_s", 0);
  n = snprintf(num, sizeof num, "{\"mean\":%.1f,\"stdev\":%.1f,\"max\":%llu,\"within_stdev_pct\":%.2f,\"samples\":%llu}",
               rf_hist_mean(rps), rf_hist_stddev(rps), (unsigned long long)rf_hist_max(rps),
               100.0 * rf_hist_within_stdev(rps, 1.0), (unsigned long long)rf_hist_count(rps));
  jb_raw(&b, num, (size_t)n);
  jb_key(&b, "bytes", 0);
  jb_u64(&b, T->bytes);
  jb_key(&b, "bytes_per_s", 0);
  n = snprintf(num, sizeof num, "%.1f", T->window_us > 0 ? (double)T->bytes * 1e6 / T->window_us : 0.0);
  jb_raw(&b, num, (size_t)n);
  jb_key(&b, "not_sent", 0);
  jb_u64(&b, T->behind);
  jb_key(&b, "status", 0);
  jb_raw(&b, "{", 1);
  static const char *const cls[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
  for (int i = 0; i < 6; i++) {
    jb_key(&b, cls[i], i == 0);
    jb_u64(&b, T->status[i]);
  }
  jb_raw(&b, "}", 1);
  jb_key(&b, "status_codes", 0);
  jb_raw(&b, "{", 1);
  bool first = true;
  for (int k = 0; k < 1000; k++) {
    if (!T->codes[k])
      continue;
    char code[8];
    snprintf(code, sizeof code, "%d", k);
    jb_key(&b, code, first);
    jb_u64(&b, T->codes[k]);
    first = false;
  }
  jb_raw(&b, "}", 1);
  rf_concurrency cc;
  rf_concurrency_eval(&cc, &T->st, &T->phases, T->wall_us / 1e6, o->conns * o->pipeline, o->conns);
  jb_key(&b, "overlap", 0);
  n = snprintf(num, sizeof num, "%.2f", cc.overlap);
  jb_raw(&b, num, (size_t)n);
  jb_key(&b, "phase_us", 0);
  n = snprintf(num, sizeof num, "{\"queued\":%llu,\"dns\":%llu,\"connect\":%llu,\"tls\":%llu,",
               (unsigned long long)T->phases.queued, (unsigned long long)T->phases.dns,
               (unsigned long long)T->phases.connect, (unsigned long long)T->phases.tls);
  jb_raw(&b, num, (size_t)n);
  n = snprintf(num, sizeof num, "\"wait\":%llu,\"receive\":%llu}", (unsigned long long)T->phases.wait,
               (unsigned long long)T->phases.receive);
  jb_raw(&b, num, (size_t)n);
  jb_key(&b, "serialised", 0);
  jb_lit(&b, cc.serialised ? "true" : "false");
  jb_key(&b, "errors", 0);
  jb_raw(&b, "{", 1);
  first = true;
  for (int k = 1; k < RF_ERR__COUNT; k++) {
    if (!T->errors[k])
      continue;
    jb_key(&b, rf_error_name((rf_error)k), first);
    jb_u64(&b, T->errors[k]);
    first = false;
  }
  jb_raw(&b, "}", 1);
  jb_key(&b, "latency_us", 0);
  jb_raw(&b, "{", 1);
  json_hist(&b, "total", &T->h.total, true);
  json_hist(&b, "connect", &T->h.connect, false);
  json_hist(&b, "tls", &T->h.tls, false);
  json_hist(&b, "ttfb", &T->h.ttfb, false);
  if (o->nsegs) {
    json_hist(&b, "send_lag", &T->h.send_lag, false);
    json_hist(&b, "generator_lag", &T->h.gen_lag, false);
  }
  jb_raw(&b, "}", 1);
  jb_key(&b, "corrected_for_coordinated_omission", 0);
  jb_lit(&b, o->nsegs ? "true" : "false");
  jb_key(&b, "generator_behind", 0);
  jb_lit(&b, generator_behind(o, T) ? "true" : "false");
  jb_key(&b, "tls", 0);
  jb_raw(&b, "{", 1);
  jb_key(&b, "handshakes", 1);
  jb_u64(&b, T->handshakes);
  jb_key(&b, "resumed", 0);
  jb_u64(&b, T->resumed);
  jb_raw(&b, "}", 1);
  jb_key(&b, "connections_opened", 0);
  jb_u64(&b, T->conns_opened);
  jb_key(&b, "concurrency", 0);
  n = snprintf(num, sizeof num, "{\"configured\":%u,\"mean\":%.2f,\"peak\":%u}", o->conns * o->pipeline,
               T->wall_us > 0 ? T->area_us / T->wall_us : 0.0, T->peak);
  jb_raw(&b, num, (size_t)n);
  jb_key(&b, "cpu", 0);
  n = snprintf(num, sizeof num, "{\"user_s\":%.3f,\"sys_s\":%.3f,\"us_per_request\":%.2f}", T->cpu_user,
               T->cpu_sys, T->done ? (T->cpu_user + T->cpu_sys) * 1e6 / (double)T->done : 0.0);
  jb_raw(&b, num, (size_t)n);
  jb_raw(&b, "}\n", 2);
  fwrite(b.p, 1, b.len, stdout);
  jb_free(&b);
}

/* ---- main ---------------------------------------------------------------------- */

int rf_bench_main(int argc, char **argv) {
  bench_opts o;
  int rc = parse_opts(argc, argv, &o);
  if (rc) {
    free(o.hdrs);
    free(o.body);
    free(o.segs);
    free(o.resolve);
    return rc < 0 ? RF_EXIT_OK : rc;
  }
  signal(SIGPIPE, SIG_IGN);
  thr *ts = calloc(o.threads, sizeof *ts);
  totals T;
  memset(&T, 0, sizeof T);
  if (!ts || hists_init(&T.h) < 0) {
    fprintf(stderr, "ringfetch: out of memory\n");
    return RF_EXIT_FAILED;
  }
  bench_trace trace = {.max = o.trace_max ? o.trace_max : 100000, .threads = o.threads};
  if (o.trace_file || o.waterfall_file) {
    char err[256];
    if (!(trace.tr = rf_tracer_new(o.trace_file, o.waterfall_file, err, sizeof err))) {
      fprintf(stderr, "ringfetch: %s\n", err);
      free(ts);
      hists_free(&T.h);
      return RF_EXIT_USAGE;
    }
    pthread_mutex_init(&trace.mu, NULL);
  }
  struct rusage ru0, ru1;
  getrusage(RUSAGE_SELF, &ru0);
  uint64_t t0 = now_us();
  for (unsigned i = 0; i < o.threads; i++) {
    thr *t = &ts[i];
    t->idx = (int)i;
    t->o = &o;
    t->conns = o.conns / o.threads + (i < o.conns % o.threads ? 1 : 0);
    t->quota = o.requests / o.threads + (i < o.requests % o.threads ? 1 : 0);
    t->rate_share = (double)t->conns / (double)o.conns;
    t->give_up_after = 2 * (uint64_t)t->conns * o.pipeline;
    if (t->give_up_after < 100)
      t->give_up_after = 100;
    t->trace = trace.tr ? &trace : NULL;
    t->trace_base = t0;
    if (hists_init(&t->h) < 0 || pthread_create(&t->th, NULL, thread_main, t) != 0) {
      fprintf(stderr, "ringfetch: cannot start thread %u\n", i);
      return RF_EXIT_FAILED;
    }
  }
  int status = RF_EXIT_OK;
  uint64_t t_end = t0;
  bool gave_up_said = false;
  for (unsigned i = 0; i < o.threads; i++) {
    thr *t = &ts[i];
    pthread_join(t->th, NULL);
    if (t->rc < 0) {
      fprintf(stderr, "ringfetch: thread %u: %s\n", i, t->err);
      status = RF_EXIT_USAGE;
    }    if (t->gave_up && !gave_up_said) {
      fprintf(stderr, "ringfetch: stopped early: the first %llu requests all failed (the last one: %s)\n",
              (unsigned long long)t->done, t->last_error);
      gave_up_said = true;
    }
    hists_add(&T.h, &t->h);
    T.done += t->done;
    T.in_window += t->in_window;
    T.bytes += t->bytes;
    T.behind += t->behind;
    for (int k = 0; k < RF_ERR__COUNT; k++)
      T.errors[k] += t->errors[k];
    for (int k = 0; k < 6; k++)
      T.status[k] += t->status[k];
    for (int k = 0; k < 1000; k++)
      T.codes[k] += t->codes[k];
    T.phases.n += t->phases.n;
    T.phases.queued += t->phases.queued;
    T.phases.dns += t->phases.dns;
    T.phases.connect += t->phases.connect;
    T.phases.tls += t->phases.tls;
    T.phases.wait += t->phases.wait;
    T.phases.receive += t->phases.receive;
    T.phases.total += t->phases.total;
    T.st.inflight_area_us += t->st.inflight_area_us;
    T.st.active_area_us += t->st.active_area_us;
    T.st.queued_area_us += t->st.queued_area_us;
    T.st.peak_inflight += t->st.peak_inflight;
    T.st.peak_active += t->st.peak_active;
    T.handshakes += t->st.tls_handshakes;
    T.resumed += t->st.tls_resumed;
    T.conns_opened += t->st.conns_opened;
    T.area_us += (double)t->st.inflight_area_us;
    T.peak += t->st.peak_inflight;
    if (t->t_end > t_end)
      t_end = t->t_end;
    hists_free(&t->h);
  }
  getrusage(RUSAGE_SELF, &ru1);
  T.cpu_user = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
               (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6;
  T.cpu_sys = (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
              (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
  T.wall_us = (double)(t_end - t0);
  if (o.nsegs) {
    uint64_t d = 0;
    for (size_t i = 0; i < o.nsegs; i++)
      d += o.segs[i].dur_us;
    T.window_us = (double)d;
  } else {
    T.window_us = o.requests ? T.wall_us : (double)o.duration_us;
  }
  if (status == RF_EXIT_OK) {
    if (o.json)
      json_out(&o, &T);
    else
      human(&o, &T);
    if (o.hist_file) {
      FILE *f = fopen(o.hist_file, "w");
      if (!f || rf_hist_write_percentiles(&T.h.total, f, 1000.0) < 0) {
        fprintf(stderr, "ringfetch: cannot write %s: %s\n", o.hist_file, strerror(errno));
        status = RF_EXIT_FAILED;
      }
      if (f)
        fclose(f);
    }
    if (trace.tr) {
      char title[512];
      snprintf(title, sizeof title, "ringfetch bench: %s%llu requests on %u connections, %s",
               trace.skipped ? "the first " : "", (unsigned long long)trace.n, o.conns, o.url);
      if (rf_tracer_finish(trace.tr, title) < 0) {
        fprintf(stderr, "ringfetch: writing the trace or waterfall failed\n");
        status = RF_EXIT_FAILED;
      }
      fflush(stdout);
      if (trace.skipped)
        fprintf(stderr,
                "ringfetch: the trace and waterfall hold the first %llu of %llu requests (--trace-max)\n",
                (unsigned long long)trace.n, (unsigned long long)(trace.n + trace.skipped));
    }
    uint64_t nerr = 0;
    for (int k = 1; k < RF_ERR__COUNT; k++)
      nerr += T.errors[k];
    if (nerr || T.done == 0)
      status = RF_EXIT_FAILED;
  }
  if (trace.tr) {
    rf_tracer_free(trace.tr);
    pthread_mutex_destroy(&trace.mu);
  }
  hists_free(&T.h);
  free(ts);
  free(o.hdrs);
  free(o.body);
  free(o.segs);
  free(o.resolve);
  fflush(stdout);
  return status;
}
