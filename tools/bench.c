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
#include <stdarg.h>
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
  const rf_cli *o;
  unsigned conns;
  unsigned per_host;    /* connections to the host: conns, or fewer for --per-host */
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
  rf_prepared *prep;    /* the request every submission repeats */
  bench_trace *trace;
  uint64_t trace_base;  /* the bench's start, µs (CLOCK_MONOTONIC) */
  uint64_t clock_off;   /* engine clock -> bench clock, µs */
  uint64_t trace_seq;
  int rc;
  char err[256];
} thr;

/* rf_error_name for jb_nonzero_counts */
static const char *error_name(int k) { return rf_error_name((rf_error)k); }

static uint64_t now_us(void) { return rf_monotonic_us(); }

/* The connections to the host over all threads: -c, or fewer with --per-host. */
static unsigned per_host_total(const rf_cli *o) {
  return o->cfg.per_host && o->cfg.per_host < o->bench.conns ? o->cfg.per_host : o->bench.conns;
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

/* The one request every submission repeats, built and checked once. */
static int prepare(thr *t, rf_engine *e) {
  const rf_cli *o = t->o;
  rf_request rq = o->req; /* method, headers and body from the options */
  rq.url = o->bench.url;
  rq.body_mode = RF_BODY_DISCARD;
  rq.flags |= RF_REQ_NO_HEADERS; /* nothing here reads them */
  if (o->bench.new_conn)
    rq.flags |= RF_REQ_NEW_CONN;
  int rc = rf_prepare(e, &rq, &t->prep, t->err, sizeof t->err);
  if (rc == -ENOMEM)
    snprintf(t->err, sizeof t->err, "out of memory");
  return rc;
}

static int submit(thr *t, rf_engine *e, uint64_t tag) { return rf_submit_prepared(e, t->prep, tag); }

static void closed_loop(thr *t, rf_engine *e, unsigned capacity) {
  const rf_cli *o = t->o;
  const rf_bench_args *b = &o->bench;
  uint64_t deadline = b->requests ? UINT64_MAX : t->t0 + b->duration_us;
  uint64_t issued = 0, inflight = 0;
  /* the engine's clock of each turn, not a clock read of our own per turn */
  uint64_t epoch = now_us() - rf_clock_us(e), now = now_us();
  for (;;) {
    bool issuing = !t->gave_up && (b->requests ? issued < t->quota : now < deadline);
    while (issuing && inflight < capacity) {
      if (submit(t, e, issued) < 0)
        break;
      issued++;
      inflight++;
      issuing = !t->gave_up && (b->requests ? issued < t->quota : true);
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
    uint64_t done_at = epoch + rf_turn_us(e);
    while ((r = rf_result_next(e)) != NULL) {
      account(t, r, r->timings.total, done_at <= deadline);
      trace_result(t, e, r);
      rf_result_release(e, r);
      inflight--;
    }
    sample_rate(t, done_at, deadline);
    now = done_at;
  }
  t->t_end = now_us();
}

/* Intended send times of the open-loop schedule, one request at a time. */
typedef struct schedule {
  const rf_rate_step *segs;
  size_t nsegs, cur;
  double share;       /* this thread's part of every rate */
  uint64_t seg_start; /* µs */
  double next;        /* µs, absolute */
  uint64_t end;
} schedule;

static void sched_init(schedule *s, const rf_cli *o, double share, uint64_t t0) {
  const rf_bench_args *b = &o->bench;
  s->segs = b->segs;
  s->nsegs = b->nsegs;
  s->cur = 0;
  s->share = share;
  s->seg_start = t0;
  s->end = t0;
  for (size_t i = 0; i < b->nsegs; i++)
    s->end += b->segs[i].dur_us;
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

/* The open loop's state: free request slots, the schedule, what is out. */
typedef struct open_state {
  pending *pend;
  int free_head;
  schedule s;
  unsigned inflight;
  uint64_t cap_free_at; /* when a connection last became free while none was */
} open_state;

/* Submits every request that is due by now while a connection is free;
 * returns the next due time. */
static uint64_t submit_due(thr *t, rf_engine *e, open_state *os, uint64_t now, uint64_t due) {
  while (due <= now && os->free_head >= 0) {
    pending *p = &os->pend[os->free_head];
    int idx = os->free_head;
    os->free_head = p->next_free;
    p->intended = due;
    p->submitted = now;
    if (submit(t, e, (uint64_t)idx) < 0) {
      p->next_free = os->free_head;
      os->free_head = idx;
      break;
    }
    /* the generator's own lateness: how long after the request was due and
     * a connection was free did it go out */
    uint64_t ready = due > os->cap_free_at ? due : os->cap_free_at;
    rf_hist_record(&t->h.gen_lag, now > ready ? now - ready : 0);
    os->inflight++;
    sched_advance(&os->s);
    due = sched_peek(&os->s);
  }
  return due;
}

/* Takes the finished requests: latency from when each was due, its slot
 * free again. */
static void collect(thr *t, rf_engine *e, open_state *os) {
  rf_result *r;
  uint64_t done_at = now_us();
  while ((r = rf_result_next(e)) != NULL) {
    pending *p = &os->pend[r->tag];
    uint64_t finished = p->submitted + r->timings.total;
    uint64_t latency = finished > p->intended ? finished - p->intended : 0;
    if (r->timings.send) {
      uint64_t sent = p->submitted + r->timings.send;
      rf_hist_record(&t->h.send_lag, sent > p->intended ? sent - p->intended : 0);
    }
    account(t, r, latency, done_at <= os->s.end);
    trace_result(t, e, r);
    /* capacity came back only if none was free: otherwise a request due
     * meanwhile could have gone at once, and its lateness is the
     * generator's (a stall of our own, e.g. descheduled, must show) */
    if (os->free_head < 0)
      os->cap_free_at = finished;
    p->next_free = os->free_head;
    os->free_head = (int)r->tag;
    os->inflight--;
    rf_result_release(e, r);
  }
  sample_rate(t, done_at, os->s.end);
}

static void open_loop(thr *t, rf_engine *e, unsigned capacity) {
  open_state os = {.pend = calloc(capacity, sizeof(pending)), .cap_free_at = t->t0};
  if (!os.pend) {
    t->rc = -ENOMEM;
    snprintf(t->err, sizeof t->err, "out of memory");
    return;
  }
  for (unsigned i = 0; i < capacity; i++)
    os.pend[i].next_free = i + 1 < capacity ? (int)i + 1 : -1;
  sched_init(&os.s, t->o, t->rate_share, t->t0);
  for (;;) {
    uint64_t now = now_us();
    uint64_t due = submit_due(t, e, &os, now, t->gave_up ? UINT64_MAX : sched_peek(&os.s));
    if (due == UINT64_MAX && os.inflight == 0)
      break;
    if (due == UINT64_MAX && now > os.s.end + GRACE_US)
      break;
    int64_t wait = 100000;
    if (due != UINT64_MAX && os.free_head >= 0)
      wait = due > now ? (int64_t)(due - now) : 0;
    if (wait > 100000)
      wait = 100000;
    int rc = rf_run_us(e, wait);
    if (rc < 0) {
      t->rc = rc;
      snprintf(t->err, sizeof t->err, "engine failure: %s", strerror(-rc));
      break;
    }
    collect(t, e, &os);
  }
  /* requests that were due but never went out: the server (or we) fell behind */
  for (uint64_t due = t->gave_up ? UINT64_MAX : sched_peek(&os.s); due != UINT64_MAX && due <= os.s.end;
       due = sched_peek(&os.s)) {
    t->behind++;
    sched_advance(&os.s);
  }
  t->t_end = now_us();
  free(os.pend);
}

/* --batch, or its default: HTTP/2 streams come back many per read and
 * their requests go out many per write when the loop lets completions
 * gather for a moment (perf/NOTES.md: bench --http2 -c 10 --streams 100
 * then spends under half the kernel time per request); one request per
 * connection, or HTTP/1.1 pipelining, gains nothing, so it is off there. */
#define BATCH_DEFAULT_US 50
static uint64_t bench_batch_us(const rf_cli *o) {
  const rf_bench_args *b = &o->bench;
  if (b->batch_us >= 0)
    return (uint64_t)b->batch_us;
  bool h2 = o->cfg.http2 || o->cfg.http2_prior_knowledge;
  return h2 && b->pipeline > 1 && !b->new_conn ? BATCH_DEFAULT_US : 0;
}

static void *thread_main(void *arg) {
  thr *t = arg;
  const rf_cli *o = t->o;
  rf_config cfg = o->cfg;
  unsigned capacity = t->conns * o->bench.pipeline;
  cfg.concurrency = capacity;
  cfg.per_host = t->per_host;
  cfg.pipeline = o->bench.pipeline;
  cfg.http2_streams = o->bench.pipeline; /* -c connections of --streams each, as h2load */
  cfg.batch_us = (unsigned)bench_batch_us(o);
  cfg.queue_size = capacity + 16;
  cfg.result_slots = capacity + 64;
  cfg.idle_per_host = t->per_host;
  rf_engine *e = NULL;
  if (rf_engine_new(&cfg, &e, t->err, sizeof t->err) < 0) {
    t->rc = -EINVAL;
    return NULL;
  }
  if ((t->rc = prepare(t, e)) < 0) {
    rf_engine_free(e);
    return NULL;
  }
  t->t0 = now_us();
  t->sample_at = t->t0;
  if (t->trace) {
    uint64_t engine_epoch = t->t0 - rf_clock_us(e);
    t->clock_off = engine_epoch > t->trace_base ? engine_epoch - t->trace_base : 0;
  }
  if (o->bench.nsegs)
    open_loop(t, e, capacity);
  else
    closed_loop(t, e, capacity);
  rf_get_stats(e, &t->st);
  rf_prepared_free(t->prep);
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

static bool generator_behind(const rf_cli *o, const totals *T) {
  if (!o->bench.nsegs || !rf_hist_count(&T->h.gen_lag))
    return false;
  /* 5 ms: a busy shared machine deschedules us for a millisecond now and
   * then; falling behind by more than that for 1% of the requests is the
   * generator's own doing and distorts what it measures */
  uint64_t p99 = rf_hist_percentile(&T->h.gen_lag, 99);
  return p99 > 5000;
}

static uint64_t error_count(const totals *T) {
  uint64_t n = 0;
  for (int k = 1; k < RF_ERR__COUNT; k++)
    n += T->errors[k];
  return n;
}

/* n per second of the test window. */
static double per_s(const totals *T, double n) { return T->window_us > 0 ? n * 1e6 / T->window_us : 0.0; }

static void eval_concurrency(const rf_cli *o, const totals *T, rf_concurrency *cc) {
  rf_concurrency_eval(cc, &T->st, &T->phases, T->wall_us / 1e6, o->bench.conns * o->bench.pipeline,
                      per_host_total(o));
}

/* wrk's first lines: what runs against what. */
static void human_header(const rf_cli *o, bool h2, const totals *T) {
  const rf_bench_args *b = &o->bench;
  if (b->requests)
    printf("Running %llu-request test @ %s\n", (unsigned long long)b->requests, b->url);
  else
    printf("Running %s test @ %s\n", fmt_duration(b->nsegs ? T->window_us : (double)b->duration_us), b->url);
  printf("  %u threads and %u connections%s", b->threads, b->conns,
         b->new_conn ? " (a new connection per request)" : "");
  if (b->pipeline > 1)
    printf(", %u %s per connection", b->pipeline, h2 ? "streams (HTTP/2) or pipelined" : "pipelined");
  if (bench_batch_us(o))
    printf(", completions batched up to %lluus (--batch)", (unsigned long long)bench_batch_us(o));
  if (b->nsegs) {
    printf(", open loop at ");
    for (size_t i = 0; i < b->nsegs; i++)
      printf("%s%.0f/s for %.1fs", i ? ", " : "", b->segs[i].rate, (double)b->segs[i].dur_us / 1e6);
  }
  printf("\n");
}

/* wrk's block: latency over all requests, Req/Sec over every thread's
 * 100 ms samples; +/- Stdev = share within one standard deviation. With
 * --latency also the percentiles and the phases. */
static void human_latency(const rf_bench_args *args, const totals *T) {
  char a[32], b[32], c[32];
  const rf_hist *lat = &T->h.total;
  printf("  Thread Stats   Avg      Stdev     Max   +/- Stdev%s\n",
         args->nsegs ? "   (latency from the intended send time)" : "");
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
  if (!args->latency)
    return;
  printf("  Latency Distribution%s\n", args->nsegs ? " (coordinated omission corrected)" : "");
  for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++) {
    fmt_us(a, sizeof a, (double)rf_hist_percentile(lat, pcts[i]));
    printf("  %8.3f%%  %s\n", pcts[i], a);
  }
  printf("  Phases         p50        p90        p99        max   (count)\n");
  print_phase("connect", &T->h.connect);
  print_phase("tls", &T->h.tls);
  print_phase("ttfb", &T->h.ttfb);
  print_phase("total", &T->h.total);
  if (args->nsegs) {
    print_phase("send-lag", &T->h.send_lag);
    print_phase("gen-lag", &T->h.gen_lag);
  }
}

/* The counts: requests, statuses other than 2xx and 3xx, errors, the rates. */
static void human_counts(const totals *T) {
  char a[32];
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
  uint64_t nerr = error_count(T);
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
  printf("Requests/sec: %10.2f\n", per_s(T, (double)T->in_window));
  fmt_bytes(a, sizeof a, per_s(T, (double)T->bytes));
  printf("Transfer/sec: %10s\n", a);
}

static void human(const rf_cli *o, const totals *T) {
  human_header(o, o->cfg.http2 || o->cfg.http2_prior_knowledge, T);
  human_latency(&o->bench, T);
  human_counts(T);
  if (T->handshakes)
    printf("  TLS: %llu handshakes (%llu resumed, %llu full)\n", (unsigned long long)T->handshakes,
           (unsigned long long)T->resumed, (unsigned long long)(T->handshakes - T->resumed));
  double cpu = T->cpu_user + T->cpu_sys;
  printf("  client CPU: %.2fs user + %.2fs sys = %.1f us per request; %.2f loop turns per request, "
         "%.1f completions each\n",
         T->cpu_user, T->cpu_sys, T->done ? cpu * 1e6 / (double)T->done : 0.0,
         T->done ? (double)T->st.loop_turns / (double)T->done : 0.0,
         T->st.loop_turns ? (double)T->st.cqes / (double)T->st.loop_turns : 0.0);
  rf_concurrency cc;
  eval_concurrency(o, T, &cc);
  fflush(stdout);
  rf_concurrency_print(stdout, "  ", &cc, &T->phases);
  if (generator_behind(o, T)) {
    char a[32];
    fmt_us(a, sizeof a, (double)rf_hist_percentile(&T->h.gen_lag, 99));
    printf("WARNING: the load generator fell behind its schedule: requests went out up to %s (p99)\n"
           "         after they were due while a connection was free. The latencies above include\n"
           "         that lag; use more threads (-t) or a lower rate.\n", a);
  }
}

/* printf into the JSON text (numbers, small fixed objects). */
static void jb_printf(jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void jb_printf(jbuf *b, const char *fmt, ...) {
  char text[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  if (n > 0)
    jb_raw(b, text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1);
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

/* What was asked for: the URL and the load's shape. */
static void json_setup(jbuf *jb, const rf_cli *o) {
  const rf_bench_args *b = &o->bench;
  jb_key(jb, "url", 1);
  jb_str(jb, b->url, strlen(b->url));
  jb_key(jb, "mode", 0);
  jb_lit(jb, b->nsegs ? "\"open\"" : "\"closed\"");
  jb_key(jb, "threads", 0);
  jb_u64(jb, b->threads);
  jb_key(jb, "connections", 0);
  jb_u64(jb, b->conns);
  jb_key(jb, "pipeline", 0);
  jb_u64(jb, b->pipeline);
  jb_key(jb, "new_conn", 0);
  jb_lit(jb, b->new_conn ? "true" : "false");
  jb_key(jb, "batch_us", 0);
  jb_u64(jb, bench_batch_us(o));
  if (!b->nsegs)
    return;
  jb_key(jb, "rate_schedule", 0);
  jb_raw(jb, "[", 1);
  for (size_t i = 0; i < b->nsegs; i++)
    jb_printf(jb, "%s{\"rate\":%.3f,\"duration_s\":%.3f}", i ? "," : "", b->segs[i].rate,
              (double)b->segs[i].dur_us / 1e6);
  jb_raw(jb, "]", 1);
}

/* What came back: requests, rates, bytes, statuses. */
static void json_counts(jbuf *jb, const totals *T) {
  jb_key(jb, "duration_s", 0);
  jb_printf(jb, "%.6f", T->window_us / 1e6);
  jb_key(jb, "requests", 0);
  jb_u64(jb, T->done);
  jb_key(jb, "requests_in_window", 0);
  jb_u64(jb, T->in_window);
  jb_key(jb, "requests_per_s", 0);
  jb_printf(jb, "%.3f", per_s(T, (double)T->in_window));
  const rf_hist *rps = &T->h.rps;
  jb_key(jb, "thread_requests_per_s", 0);
  jb_printf(jb, "{\"mean\":%.1f,\"stdev\":%.1f,\"max\":%llu,\"within_stdev_pct\":%.2f,\"samples\":%llu}",
            rf_hist_mean(rps), rf_hist_stddev(rps), (unsigned long long)rf_hist_max(rps),
            100.0 * rf_hist_within_stdev(rps, 1.0), (unsigned long long)rf_hist_count(rps));
  jb_key(jb, "bytes", 0);
  jb_u64(jb, T->bytes);
  jb_key(jb, "bytes_per_s", 0);
  jb_printf(jb, "%.1f", per_s(T, (double)T->bytes));
  jb_key(jb, "not_sent", 0);
  jb_u64(jb, T->behind);
  static const char *const cls[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
  jb_key(jb, "status", 0);
  jb_counts(jb, cls, T->status, 6);
  jb_key(jb, "status_codes", 0);
  jb_raw(jb, "{", 1);
  bool first = true;
  for (int k = 0; k < 1000; k++) {
    if (!T->codes[k])
      continue;
    char code[8];
    snprintf(code, sizeof code, "%d", k);
    jb_key(jb, code, first);
    jb_u64(jb, T->codes[k]);
    first = false;
  }
  jb_raw(jb, "}", 1);
}

/* Where the time went: overlap, phases, errors, latencies. */
static void json_times(jbuf *jb, const rf_cli *o, const totals *T) {
  rf_concurrency cc;
  eval_concurrency(o, T, &cc);
  jb_key(jb, "overlap", 0);
  jb_printf(jb, "%.2f", cc.overlap);
  jb_key(jb, "phase_us", 0);
  jb_printf(jb,
            "{\"queued\":%llu,\"dns\":%llu,\"connect\":%llu,\"tls\":%llu,\"wait\":%llu,\"receive\":%llu,"
            "\"retrying\":%llu}",
            (unsigned long long)T->phases.queued, (unsigned long long)T->phases.dns,
            (unsigned long long)T->phases.connect, (unsigned long long)T->phases.tls,
            (unsigned long long)T->phases.wait, (unsigned long long)T->phases.receive,
            (unsigned long long)T->phases.retrying);
  jb_key(jb, "serialised", 0);
  jb_lit(jb, cc.serialised ? "true" : "false");
  jb_key(jb, "errors", 0);
  jb_nonzero_counts(jb, error_name, T->errors, 1, RF_ERR__COUNT);
  jb_key(jb, "latency_us", 0);
  jb_raw(jb, "{", 1);
  json_hist(jb, "total", &T->h.total, true);
  json_hist(jb, "connect", &T->h.connect, false);
  json_hist(jb, "tls", &T->h.tls, false);
  json_hist(jb, "ttfb", &T->h.ttfb, false);
  if (o->bench.nsegs) {
    json_hist(jb, "send_lag", &T->h.send_lag, false);
    json_hist(jb, "generator_lag", &T->h.gen_lag, false);
  }
  jb_raw(jb, "}", 1);
  jb_key(jb, "corrected_for_coordinated_omission", 0);
  jb_lit(jb, o->bench.nsegs ? "true" : "false");
  jb_key(jb, "generator_behind", 0);
  jb_lit(jb, generator_behind(o, T) ? "true" : "false");
}

/* What it took: handshakes, connections, concurrency, CPU. */
static void json_costs(jbuf *jb, const rf_bench_args *b, const totals *T) {
  jb_key(jb, "tls", 0);
  jb_printf(jb, "{\"handshakes\":%llu,\"resumed\":%llu}", (unsigned long long)T->handshakes,
            (unsigned long long)T->resumed);
  jb_key(jb, "connections_opened", 0);
  jb_u64(jb, T->conns_opened);
  jb_key(jb, "concurrency", 0);
  jb_printf(jb, "{\"configured\":%u,\"mean\":%.2f,\"peak\":%u}", b->conns * b->pipeline,
            T->wall_us > 0 ? T->area_us / T->wall_us : 0.0, T->peak);
  jb_key(jb, "cpu", 0);
  jb_printf(jb,
            "{\"user_s\":%.3f,\"sys_s\":%.3f,\"us_per_request\":%.2f,\"loop_turns\":%llu,\"cqes\":%llu,"
            "\"batched_waits\":%llu}",
            T->cpu_user, T->cpu_sys, T->done ? (T->cpu_user + T->cpu_sys) * 1e6 / (double)T->done : 0.0,
            (unsigned long long)T->st.loop_turns, (unsigned long long)T->st.cqes,
            (unsigned long long)T->st.batched_waits);
}

static void json_out(const rf_cli *o, const totals *T) {
  jbuf jb = {0};
  jb_raw(&jb, "{", 1);
  json_setup(&jb, o);
  json_counts(&jb, T);
  json_times(&jb, o, T);
  json_costs(&jb, &o->bench, T);
  jb_raw(&jb, "}\n", 2);
  fwrite(jb.p, 1, jb.len, stdout);
  jb_free(&jb);
}

/* ---- main ---------------------------------------------------------------------- */

/* Part i of total shared out over parts as evenly as possible. */
static uint64_t share(uint64_t total, unsigned parts, unsigned i) {
  return total / parts + (i < total % parts ? 1 : 0);
}

/* -t threads, each with its share of the connections, of -n and of the rate. 0, or -1 after saying why. */
static int start_threads(const rf_cli *o, thr *ts, bench_trace *trace, uint64_t t0) {
  const rf_bench_args *b = &o->bench;
  for (unsigned i = 0; i < b->threads; i++) {
    thr *t = &ts[i];
    t->idx = (int)i;
    t->o = o;
    t->conns = (unsigned)share(b->conns, b->threads, i);
    t->per_host = (unsigned)share(per_host_total(o), b->threads, i);
    if (t->per_host == 0) /* --per-host below -t: one each, the least a thread can work with */
      t->per_host = 1;
    t->quota = share(b->requests, b->threads, i);
    t->rate_share = (double)t->conns / (double)b->conns;
    t->give_up_after = 2 * (uint64_t)t->conns * b->pipeline;
    if (t->give_up_after < 100)
      t->give_up_after = 100;
    t->trace = trace->tr ? trace : NULL;
    t->trace_base = t0;
    if (hists_init(&t->h) < 0 || pthread_create(&t->th, NULL, thread_main, t) != 0) {
      fprintf(stderr, "ringfetch: cannot start thread %u\n", i);
      return -1;
    }
  }
  return 0;
}

/* One finished thread's counts into the totals. */
static void totals_add(totals *T, const thr *t) {
  hists_add(&T->h, &t->h);
  T->done += t->done;
  T->in_window += t->in_window;
  T->bytes += t->bytes;
  T->behind += t->behind;
  for (int k = 0; k < RF_ERR__COUNT; k++)
    T->errors[k] += t->errors[k];
  for (int k = 0; k < 6; k++)
    T->status[k] += t->status[k];
  for (int k = 0; k < 1000; k++)
    T->codes[k] += t->codes[k];
  rf_phase_merge(&T->phases, &t->phases);
  T->st.inflight_area_us += t->st.inflight_area_us;
  T->st.active_area_us += t->st.active_area_us;
  T->st.queued_area_us += t->st.queued_area_us;
  T->st.peak_inflight += t->st.peak_inflight;
  T->st.peak_active += t->st.peak_active;
  T->st.loop_turns += t->st.loop_turns;
  T->st.cqes += t->st.cqes;
  T->st.batched_waits += t->st.batched_waits;
  T->handshakes += t->st.tls_handshakes;
  T->resumed += t->st.tls_resumed;
  T->conns_opened += t->st.conns_opened;
  T->area_us += (double)t->st.inflight_area_us;
  T->peak += t->st.peak_inflight;
}

/* Waits for the threads and sums them up; *t_end = when the last one ended.
 * RF_EXIT_OK, or RF_EXIT_USAGE when an engine could not start. */
static int join_threads(const rf_cli *o, thr *ts, totals *T, uint64_t *t_end) {
  int status = RF_EXIT_OK;
  bool gave_up_said = false;
  for (unsigned i = 0; i < o->bench.threads; i++) {
    thr *t = &ts[i];
    pthread_join(t->th, NULL);
    if (t->rc < 0) {
      fprintf(stderr, "ringfetch: thread %u: %s\n", i, t->err);
      status = RF_EXIT_USAGE;
    }
    if (t->gave_up && !gave_up_said) {
      fprintf(stderr, "ringfetch: stopped early: the first %llu requests all failed (the last one: %s)\n",
              (unsigned long long)t->done, t->last_error);
      gave_up_said = true;
    }
    totals_add(T, t);
    if (t->t_end > *t_end)
      *t_end = t->t_end;
    hists_free(&t->h);
  }
  return status;
}

/* CPU since ru0, the wall time, and the window the rates are over: the
 * schedule's length (open loop), the wall time (-n) or -d. */
static void totals_times(const rf_cli *o, totals *T, const struct rusage *ru0, uint64_t t0, uint64_t t_end) {
  const rf_bench_args *b = &o->bench;
  struct rusage ru1;
  getrusage(RUSAGE_SELF, &ru1);
  T->cpu_user = (double)(ru1.ru_utime.tv_sec - ru0->ru_utime.tv_sec) +
                (double)(ru1.ru_utime.tv_usec - ru0->ru_utime.tv_usec) / 1e6;
  T->cpu_sys = (double)(ru1.ru_stime.tv_sec - ru0->ru_stime.tv_sec) +
               (double)(ru1.ru_stime.tv_usec - ru0->ru_stime.tv_usec) / 1e6;
  T->wall_us = (double)(t_end - t0);
  if (b->nsegs) {
    uint64_t d = 0;
    for (size_t i = 0; i < b->nsegs; i++)
      d += b->segs[i].dur_us;
    T->window_us = (double)d;
  } else {
    T->window_us = b->requests ? T->wall_us : (double)b->duration_us;
  }
}

/* --trace / --waterfall: 0, or -1 after saying why. */
static int trace_open(const rf_cli *o, bench_trace *trace) {
  if (!o->trace_file && !o->waterfall_file)
    return 0;
  char err[256];
  if (!(trace->tr = rf_tracer_new(o->trace_file, o->waterfall_file, err, sizeof err))) {
    fprintf(stderr, "ringfetch: %s\n", err);
    return -1;
  }
  pthread_mutex_init(&trace->mu, NULL);
  return 0;
}

/* Writes the trace and waterfall files: 0 or -1. */
static int trace_finish(const rf_cli *o, bench_trace *trace) {
  char title[512];
  snprintf(title, sizeof title, "ringfetch bench: %s%llu requests on %u connections, %s",
           trace->skipped ? "the first " : "", (unsigned long long)trace->n, o->bench.conns, o->bench.url);
  int rc = rf_tracer_finish(trace->tr, title);
  if (rc < 0)
    fprintf(stderr, "ringfetch: writing the trace or waterfall failed\n");
  fflush(stdout);
  if (trace->skipped)
    fprintf(stderr, "ringfetch: the trace and waterfall hold the first %llu of %llu requests (--trace-max)\n",
            (unsigned long long)trace->n, (unsigned long long)(trace->n + trace->skipped));
  return rc;
}

/* The results on stdout and in the --histogram, --trace and --waterfall
 * files; the exit status (1 when a request failed or none was made). */
static int report(const rf_cli *o, const totals *T, bench_trace *trace) {
  const rf_bench_args *b = &o->bench;
  int status = RF_EXIT_OK;
  if (b->json)
    json_out(o, T);
  else
    human(o, T);
  if (b->hist_file) {
    FILE *f = fopen(b->hist_file, "w");
    if (!f || rf_hist_write_percentiles(&T->h.total, f, 1000.0) < 0) {
      fprintf(stderr, "ringfetch: cannot write %s: %s\n", b->hist_file, strerror(errno));
      status = RF_EXIT_FAILED;
    }
    if (f)
      fclose(f);
  }
  if (trace->tr && trace_finish(o, trace) < 0)
    status = RF_EXIT_FAILED;
  return error_count(T) || T->done == 0 ? RF_EXIT_FAILED : status;
}

int rf_bench_main(const rf_cli *o) {
  const rf_bench_args *b = &o->bench;
  signal(SIGPIPE, SIG_IGN);
  thr *ts = calloc(b->threads, sizeof *ts);
  totals T;
  memset(&T, 0, sizeof T);
  if (!ts || hists_init(&T.h) < 0) {
    fprintf(stderr, "ringfetch: out of memory\n");
    return RF_EXIT_FAILED;
  }
  bench_trace trace = {.max = b->trace_max, .threads = b->threads};
  if (trace_open(o, &trace) < 0) {
    free(ts);
    hists_free(&T.h);
    return RF_EXIT_USAGE;
  }
  struct rusage ru0;
  getrusage(RUSAGE_SELF, &ru0);
  uint64_t t0 = now_us(), t_end = t0;
  if (start_threads(o, ts, &trace, t0) < 0)
    return RF_EXIT_FAILED;
  int status = join_threads(o, ts, &T, &t_end);
  totals_times(o, &T, &ru0, t0, t_end);
  if (status == RF_EXIT_OK)
    status = report(o, &T, &trace);
  if (trace.tr) {
    rf_tracer_free(trace.tr);
    pthread_mutex_destroy(&trace.mu);
  }
  hists_free(&T.h);
  free(ts);
  fflush(stdout);
  return status;
}
