/* Library-level checks driven by test_library.py against the test nginx.
 * Uses only the public header, like any other user of libringfetch.
 *
 *   lib_client backpressure URL SHA256HEX
 *   lib_client backpressure-h2 URL SHA256HEX   (the same with rf_config.http2 on an h2 server)
 *   lib_client memory-body URL SHA256HEX [chunked]
 *   lib_client queue-full URL
 *   lib_client two-engines URL1 URL2
 *   lib_client crawl CHAIN_URL FINAL_URL FLAKY_URL HOST:PORT RATE_URL
 *   lib_client capture SMALL_URL CHUNKED_URL
 *   lib_client outfile PATH
 *   lib_client cancel SLOW_URL
 *   lib_client pipeline BASE_URL N DROP_EVERY
 *   lib_client too-large URL SIZE
 *   lib_client emfile URL   (run with RINGFETCH_NO_DIRECT=1: sockets are plain descriptors)
 *   lib_client prepared SMALL_URL SHA256HEX CROSS_URL
 *   lib_client sink-switch SMALL_URL SMALL_SHA BIG_URL BIG_SHA RSS_LIMIT_KIB (0: no limit)
 *   lib_client sink-switch-h2 ...   (the same with rf_config.http2 on an h2 server)
 *   lib_client batch H2_URL SHA256HEX CHECK_TURNS(0|1)   (rf_config.batch_us over HTTP/2)
 * Exit 0 on success; prints what went wrong otherwise. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>
#include <strings.h>

#include "proc_self.h"
#include "ringfetch.h"

static int failures;
static bool use_h2; /* rf_config.http2, and every response must be HTTP/2 */
#define CHECK(c, ...)                                                    \
  do {                                                                   \
    if (!(c)) {                                                          \
      fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #c); \
      fprintf(stderr, __VA_ARGS__);                                      \
      fprintf(stderr, "\n");                                             \
      failures++;                                                        \
    }                                                                    \
  } while (0)

static void hex(const uint8_t *p, char *out) {
  for (int i = 0; i < 32; i++)
    sprintf(out + 2 * i, "%02x", p[i]);
}

/* The defaults, verifying certificates against the test CA (RF_CA_FILE, set
 * by test_library.py) as a user's program would against its own roots. */
static void test_config(rf_config *cfg) {
  rf_config_init(cfg);
  cfg->ca_file = getenv("RF_CA_FILE");
  if (!cfg->ca_file) {
    fprintf(stderr, "RF_CA_FILE is not set\n");
    exit(2);
  }
}

static rf_engine *make(unsigned conc, unsigned slots, unsigned queue) {
  rf_config cfg;
  test_config(&cfg);
  cfg.concurrency = conc;
  cfg.result_slots = slots;
  cfg.queue_size = queue;
  cfg.http2 = use_h2;
  rf_engine *e = NULL;
  char err[256];
  if (rf_engine_new(&cfg, &e, err, sizeof err) < 0) {
    fprintf(stderr, "rf_engine_new: %s\n", err);
    exit(1);
  }
  return e;
}

static int submit(rf_engine *e, const char *url, uint64_t tag, rf_body_mode mode) {
  rf_request rq;
  rf_request_init(&rq);
  rq.url = url;
  rq.tag = tag;
  rq.flags = RF_REQ_SHA256;
  rq.body_mode = mode;
  return rf_submit(e, &rq);
}

static void check_result(const rf_result *r, const char *sha) {
  char h[65];
  CHECK(r->error == RF_OK, "tag %llu: %s: %s", (unsigned long long)r->tag, rf_error_name(r->error),
        r->error_message);
  CHECK(r->status == 200, "tag %llu: status %d", (unsigned long long)r->tag, r->status);
  CHECK(r->http_major == (use_h2 ? 2 : 1), "tag %llu: HTTP/%d", (unsigned long long)r->tag, r->http_major);
  CHECK(r->has_sha256, "no sha256");
  hex(r->body_sha256, h);
  CHECK(strcmp(h, sha) == 0, "sha %s != %s", h, sha);
}

/* Results held by the consumer stop the engine from starting more work; once
 * released, everything completes exactly once. */
static void backpressure(const char *url, const char *sha) {
  enum { N = 200, SLOTS = 8 };
  rf_engine *e = make(4, SLOTS, N);
  for (int i = 0; i < N; i++)
    CHECK(submit(e, url, (uint64_t)i, RF_BODY_DISCARD) == 0, "submit %d", i);
  rf_result *held[SLOTS];
  int nheld = 0;
  for (int turn = 0; turn < 20000 && nheld < SLOTS; turn++) {
    rf_run(e, 10);
    rf_result *r;
    while (nheld < SLOTS && (r = rf_result_next(e)) != NULL)
      held[nheld++] = r;
  }
  CHECK(nheld == SLOTS, "only %d results arrived", nheld);
  /* every slot is held: more turns must not start or finish anything */
  for (int turn = 0; turn < 30; turn++)
    rf_run(e, 10);
  rf_stats st;
  rf_get_stats(e, &st);
  CHECK(rf_result_next(e) == NULL, "a result appeared without a free slot");
  CHECK(st.inflight == 0, "%u requests in flight with every slot held", st.inflight);
  CHECK(st.completed == SLOTS, "completed %llu, want %d", (unsigned long long)st.completed, SLOTS);
  CHECK(rf_outstanding(e) == N - SLOTS, "outstanding %zu", rf_outstanding(e));

  static bool seen[N];
  for (int i = 0; i < nheld; i++) {
    check_result(held[i], sha);
    CHECK(!seen[held[i]->tag], "tag %llu twice", (unsigned long long)held[i]->tag);
    seen[held[i]->tag] = true;
    rf_result_release(e, held[i]);
  }
  int got = nheld;
  for (int turn = 0; turn < 20000 && rf_outstanding(e) > 0; turn++) {
    rf_run(e, 10);
    rf_result *r;
    while ((r = rf_result_next(e)) != NULL) {
      check_result(r, sha);
      CHECK(r->tag < N && !seen[r->tag], "tag %llu unexpected or twice", (unsigned long long)r->tag);
      if (r->tag < N)
        seen[r->tag] = true;
      got++;
      rf_result_release(e, r);
    }
  }
  CHECK(got == N, "got %d of %d results", got, N);
  rf_get_stats(e, &st);
  CHECK(st.peak_inflight <= 4, "peak in flight %u over the concurrency 4", st.peak_inflight);
  CHECK(st.conns_reused > 0, "no keep-alive reuse in %d requests", N);
  rf_engine_free(e);
}

/* RF_BODY_MEMORY hands the body itself, and headers by name. */
static void memory_body(const char *url, const char *sha, bool chunked) {
  rf_engine *e = make(2, 4, 8);
  CHECK(submit(e, url, 7, RF_BODY_MEMORY) == 0, "submit");
  rf_result *r = NULL;
  for (int turn = 0; turn < 5000 && !r; turn++) {
    rf_run(e, 10);
    r = rf_result_next(e);
  }
  CHECK(r != NULL, "no result");
  if (r) {
    check_result(r, sha);
    CHECK(r->tag == 7, "tag %llu", (unsigned long long)r->tag);
    CHECK(r->body != NULL && r->body_len == r->body_bytes, "body_len %zu body_bytes %llu", r->body_len,
          (unsigned long long)r->body_bytes);
    const rf_header *h = rf_result_header(r, "CONTENT-LENGTH");
    if (chunked) {
      const rf_header *te = rf_result_header(r, "transfer-encoding");
      CHECK(!h, "a chunked response with a Content-Length header");
      CHECK(te && te->value_len == 7 && strncasecmp(te->value, "chunked", 7) == 0,
            "Transfer-Encoding header missing or wrong");
    } else {
      char want[32];
      snprintf(want, sizeof want, "%zu", r->body_len);
      CHECK(h && h->value_len == strlen(want) && memcmp(h->value, want, h->value_len) == 0,
            "Content-Length header missing or wrong");
    }
    CHECK(strcmp(r->url, url) == 0, "url %s", r->url);
    rf_result_release(e, r);
  }
  CHECK(rf_outstanding(e) == 0, "outstanding %zu", rf_outstanding(e));
  rf_engine_free(e);
}

/* A full queue says -EAGAIN (never drops), and drains as the engine runs. */
static void queue_full(const char *url) {
  enum { Q = 16 };
  rf_engine *e = make(2, 4, Q);
  int accepted = 0, rc = 0;
  for (int i = 0; i < Q * 4; i++) {
    rc = submit(e, url, (uint64_t)i, RF_BODY_DISCARD);
    if (rc < 0)
      break;
    accepted++;
  }
  CHECK(rc == -EAGAIN, "submit beyond the queue returned %d, want -EAGAIN", rc);
  CHECK(accepted == Q, "accepted %d, want %d", accepted, Q);
  int done = 0, total = accepted;
  for (int turn = 0; turn < 20000 && (done < 100); turn++) {
    while (total < 100 && submit(e, url, (uint64_t)total, RF_BODY_DISCARD) == 0)
      total++;
    rf_run(e, 10);
    rf_result *r;
    while ((r = rf_result_next(e)) != NULL) {
      CHECK(r->error == RF_OK && r->status == 200, "%s %d", rf_error_name(r->error), r->status);
      done++;
      rf_result_release(e, r);
    }
  }
  CHECK(done == 100, "done %d of 100", done);
  rf_engine_free(e);
}

/* Two engines in one thread, driven alternately: no shared state. */
static void two_engines(const char *u1, const char *u2) {
  rf_engine *a = make(4, 8, 64), *b = make(4, 8, 64);
  for (int i = 0; i < 20; i++) {
    CHECK(submit(a, u1, (uint64_t)i, RF_BODY_DISCARD) == 0, "submit a");
    CHECK(submit(b, u2, (uint64_t)i, RF_BODY_DISCARD) == 0, "submit b");
  }
  int da = 0, db = 0;
  for (int turn = 0; turn < 20000 && (rf_outstanding(a) || rf_outstanding(b)); turn++) {
    rf_run(a, 1);
    rf_run(b, 1);
    rf_result *r;
    while ((r = rf_result_next(a)) != NULL) {
      CHECK(r->error == RF_OK && strcmp(r->url, u1) == 0, "a: %s %s", rf_error_name(r->error), r->url);
      da++;
      rf_result_release(a, r);
    }
    while ((r = rf_result_next(b)) != NULL) {
      CHECK(r->error == RF_OK && strcmp(r->url, u2) == 0, "b: %s %s", rf_error_name(r->error), r->url);
      db++;
      rf_result_release(b, r);
    }
  }
  CHECK(da == 20 && db == 20, "a %d b %d", da, db);
  rf_engine_free(a);
  rf_engine_free(b);
}

/* Waits for the one result of e (NULL after ~10 s). */
static rf_result *one_result(rf_engine *e) {
  rf_result *r = NULL;
  for (int turn = 0; turn < 1000 && !r; turn++) {
    rf_run(e, 10);
    r = rf_result_next(e);
  }
  CHECK(r != NULL, "no result");
  return r;
}

/* The crawl features as a library user has them: RF_REQ_FOLLOW and the hops
 * in the result, cfg.retries and attempts, cfg.host_rates copied at
 * rf_engine_new (the caller's strings may change afterwards). */
static void crawl(const char *chain, const char *final, const char *flaky, const char *hostport,
                  const char *rate_url) {
  rf_config cfg;
  test_config(&cfg);
  cfg.retries = 1;
  cfg.retry_delay_ms = 10;
  char host[64];
  snprintf(host, sizeof host, "%s", hostport);
  char *colon = strrchr(host, ':');
  CHECK(colon != NULL, "want HOST:PORT, got %s", hostport);
  if (!colon)
    return;
  *colon = 0;
  rf_host_rate hr = {.host = host, .port = (uint16_t)atoi(colon + 1), .rate = 10};
  cfg.host_rates = &hr;
  cfg.n_host_rates = 1;
  rf_engine *e = NULL;
  char err[256];
  CHECK(rf_engine_new(&cfg, &e, err, sizeof err) == 0, "rf_engine_new: %s", err);
  if (!e)
    return;
  memset(host, 'x', sizeof host - 1); /* the engine must have its own copy */

  rf_request rq;
  rf_request_init(&rq);
  CHECK(rq.max_redirects == 20, "rf_request_init: max_redirects %u", rq.max_redirects);
  rq.url = chain;
  rq.flags = RF_REQ_FOLLOW;
  CHECK(rf_submit(e, &rq) == 0, "submit chain");
  rf_result *r = one_result(e);
  if (r) {
    CHECK(r->error == RF_OK && r->status == 200, "chain: %s %d", rf_error_name(r->error), r->status);
    CHECK(strcmp(r->url, chain) == 0, "url %s", r->url);
    CHECK(r->final_url && strcmp(r->final_url, final) == 0 && r->final_url_len == strlen(final), "final_url %s",
          r->final_url ? r->final_url : "(null)");
    CHECK(r->n_redirects == 2, "n_redirects %zu", r->n_redirects);
    for (size_t i = 0; i < r->n_redirects; i++)
      CHECK(r->redirects[i].status == 302 && strlen(r->redirects[i].location) == r->redirects[i].location_len,
            "hop %zu: %d %s", i, r->redirects[i].status, r->redirects[i].location);
    CHECK(r->n_redirects == 2 && strcmp(r->redirects[1].location, final) == 0, "last hop");
    CHECK(r->attempts == 1, "attempts %u", r->attempts);
    rf_result_release(e, r);
  }

  rq.url = flaky;
  rq.flags = 0;
  CHECK(rf_submit(e, &rq) == 0, "submit flaky");
  r = one_result(e);
  if (r) {
    CHECK(r->error == RF_OK && r->status == 200 && r->attempts == 2, "flaky: %s %d after %u attempts",
          rf_error_name(r->error), r->status, r->attempts);
    rf_result_release(e, r);
  }
  rf_stats st;
  rf_get_stats(e, &st);
  CHECK(st.retries == 1 && st.redirects == 2, "stats: %llu retries, %llu redirects",
        (unsigned long long)st.retries, (unsigned long long)st.redirects);

  /* 10 per second for that origin: 4 requests span at least 0.3 s */
  rq.url = rate_url;
  for (int i = 0; i < 4; i++)
    CHECK(rf_submit(e, &rq) == 0, "submit rate %d", i);
  uint64_t first = UINT64_MAX, last = 0;
  for (int turn = 0; turn < 1000 && rf_outstanding(e); turn++) {
    rf_run(e, 10);
    while ((r = rf_result_next(e)) != NULL) {
      CHECK(r->error == RF_OK, "rate: %s", rf_error_name(r->error));
      first = r->events.started < first ? r->events.started : first;
      last = r->events.started > last ? r->events.started : last;
      rf_result_release(e, r);
    }
  }
  CHECK(rf_outstanding(e) == 0, "rate requests outstanding");
  CHECK(last - first >= 290000, "4 requests at 10/s started within %llu us",
        (unsigned long long)(last - first));
  rf_engine_free(e);
}

/* ---- the raw tap (RF_REQ_CAPTURE, on_exchange) ---- */
typedef struct seen {
  int n;
  uint64_t tag;
  char req[64];
  size_t req_len, resp_len, payload_len;
  int status;
  bool truncated;
  char ip[64];
  unsigned attempt;
} seen;

static void on_exchange(void *ud, const rf_exchange *x) {
  seen *s = ud;
  s->n++;
  s->tag = x->tag;
  snprintf(s->req, sizeof s->req, "%.*s", (int)(x->request_len < 63 ? x->request_len : 63), (const char *)x->request);
  s->req_len = x->request_len;
  s->resp_len = x->response_len;
  s->payload_len = (size_t)x->payload_len;
  s->status = x->status;
  s->truncated = x->truncated;
  snprintf(s->ip, sizeof s->ip, "%s", x->remote_ip);
  s->attempt = x->attempt;
  CHECK(x->response_len >= 12 && memcmp(x->response, "HTTP/1.1 ", 9) == 0, "response starts %.12s",
        (const char *)x->response);
  CHECK(x->date_us > 1700000000ull * 1000000ull, "date_us %llu", (unsigned long long)x->date_us);
  CHECK(x->http_major == 1, "http_major %d on an HTTP/1.1 exchange", x->http_major);
}

static void capture(const char *small, const char *chunked) {
  seen sn = {0};
  rf_config cfg;
  test_config(&cfg);
  cfg.on_exchange = on_exchange;
  cfg.on_exchange_ud = &sn;
  rf_engine *e = NULL;
  char err[256];
  CHECK(rf_engine_new(&cfg, &e, err, sizeof err) == 0, "rf_engine_new: %s", err);
  if (!e)
    return;
  rf_request rq;
  rf_request_init(&rq);
  rq.url = small;
  rf_submit(e, &rq); /* no RF_REQ_CAPTURE: not captured */
  rf_result *r = one_result(e);
  if (r)
    rf_result_release(e, r);
  CHECK(sn.n == 0, "captured %d exchanges without RF_REQ_CAPTURE", sn.n);

  rq.flags = RF_REQ_CAPTURE;
  rq.tag = 7;
  rf_submit(e, &rq);
  r = one_result(e);
  CHECK(sn.n == 1 && sn.tag == 7 && sn.status == 200 && sn.attempt == 1, "n %d tag %llu status %d", sn.n,
        (unsigned long long)sn.tag, sn.status);
  CHECK(strncmp(sn.req, "GET /small HTTP/1.1\r\n", 21) == 0, "request %s", sn.req);
  CHECK(strcmp(sn.ip, "127.0.0.1") == 0, "remote_ip %s", sn.ip);
  if (r) {
    CHECK(sn.payload_len == r->body_bytes && sn.resp_len > r->body_bytes && !sn.truncated,
          "payload %zu response %zu body %llu", sn.payload_len, sn.resp_len, (unsigned long long)r->body_bytes);
    rf_result_release(e, r);
  }
  /* chunked: the response keeps its framing, the payload is the joined chunks */
  rq.url = chunked;
  rf_submit(e, &rq);
  r = one_result(e);
  if (r) {
    CHECK(sn.n == 2 && sn.payload_len == r->body_bytes && sn.resp_len > r->body_bytes + 10,
          "chunked: payload %zu response %zu body %llu", sn.payload_len, sn.resp_len,
          (unsigned long long)r->body_bytes);
    rf_result_release(e, r);
  }
  rf_engine_free(e);

  /* capture_max: kept bytes are cut, the exchange says so, the result is whole */
  cfg.capture_max = 100;
  CHECK(rf_engine_new(&cfg, &e, err, sizeof err) == 0, "rf_engine_new: %s", err);
  if (!e)
    return;
  rq.url = small;
  rf_submit(e, &rq);
  r = one_result(e);
  CHECK(sn.n == 3 && sn.truncated && sn.resp_len == 100, "capture_max: truncated %d response %zu", sn.truncated,
        sn.resp_len);
  if (r) {
    CHECK(r->error == RF_OK && r->body_bytes == 1024, "result %s %llu", rf_error_name(r->error),
          (unsigned long long)r->body_bytes);
    rf_result_release(e, r);
  }
  rf_engine_free(e);
}

/* ---- files written through the ring ---- */
static void outfile(const char *path) {
  rf_config cfg;
  test_config(&cfg);
  rf_engine *e = NULL;
  char err[256];
  CHECK(rf_engine_new(&cfg, &e, err, sizeof err) == 0, "rf_engine_new: %s", err);
  if (!e)
    return;
  FILE *fp = fopen(path, "w");
  CHECK(fp != NULL, "cannot open %s", path);
  if (!fp)
    return;
  rf_outfile *f = NULL;
  CHECK(rf_outfile_new(e, fileno(fp), &f) == 0, "rf_outfile_new");
  char line[100];
  size_t total = 0;
  for (int i = 0; i < 50000; i++) {
    int n = snprintf(line, sizeof line, "line %d of the ring-written file\n", i);
    CHECK(rf_outfile_write(f, line, (size_t)n) == 0, "write %d", i);
    total += (size_t)n;
  }
  CHECK(rf_outfile_backlog(f) + rf_outfile_written(f) == total, "backlog %zu + written %llu != %zu",
        rf_outfile_backlog(f), (unsigned long long)rf_outfile_written(f), total);
  for (int turn = 0; turn < 3 && rf_outfile_backlog(f); turn++)
    rf_run(e, 10);
  CHECK(rf_outfile_written(f) > 0, "nothing written after three turns");
  CHECK(rf_outfile_close(f) == 0, "rf_outfile_close");
  fclose(fp);
  fp = fopen(path, "r");
  size_t got = 0;
  int i = 0;
  char buf[100];
  while (fp && fgets(buf, sizeof buf, fp)) {
    snprintf(line, sizeof line, "line %d of the ring-written file\n", i++);
    CHECK(strcmp(buf, line) == 0, "line %d: %s", i, buf);
    got += strlen(buf);
  }
  if (fp)
    fclose(fp);
  CHECK(got == total && i == 50000, "read back %zu bytes, %d lines", got, i);
  /* a write error sticks: a read-only descriptor */
  fp = fopen(path, "r");
  if (fp) {
    CHECK(rf_outfile_new(e, fileno(fp), &f) == 0, "rf_outfile_new");
    rf_outfile_write(f, "x", 1);
    CHECK(rf_outfile_close(f) == -EBADF, "write to a read-only fd");
    fclose(fp);
  }
  rf_engine_free(e);
}

/* ---- cancel ---- */

/* One turn of the loop: count the results that came out, and the canceled. */
static void take_canceled(rf_engine *e, int *n, int *canceled) {
  rf_run(e, 10);
  rf_result *r;
  while ((r = rf_result_next(e)) != NULL) {
    (*n)++;
    *canceled += r->error == RF_ERR_CANCELED;
    rf_result_release(e, r);
  }
}

static void cancel(const char *slow) {
  rf_config cfg;
  test_config(&cfg);
  cfg.concurrency = 4;
  rf_engine *e = NULL;
  char err[256];
  CHECK(rf_engine_new(&cfg, &e, err, sizeof err) == 0, "rf_engine_new: %s", err);
  if (!e)
    return;
  rf_request rq;
  rf_request_init(&rq);
  rq.url = slow;
  for (int i = 0; i < 10; i++) {
    rq.tag = (uint64_t)i;
    CHECK(rf_submit(e, &rq) == 0, "submit %d", i);
  }
  for (int turn = 0; turn < 20; turn++) /* the first 4 are sent */
    rf_run(e, 10);
  size_t q = rf_cancel_queued(e);
  CHECK(q == 6, "rf_cancel_queued: %zu (want the 6 not started)", q);
  int canceled = 0, n = 0;
  for (int turn = 0; turn < 100 && n < 6; turn++)
    take_canceled(e, &n, &canceled);
  CHECK(n == 6 && canceled == 6, "after rf_cancel_queued: %d results, %d canceled", n, canceled);
  CHECK(rf_outstanding(e) == 4, "outstanding %zu", rf_outstanding(e));
  size_t a = rf_cancel_all(e);
  CHECK(a == 4, "rf_cancel_all: %zu", a);
  for (int turn = 0; turn < 100 && rf_outstanding(e); turn++)
    take_canceled(e, &n, &canceled);
  CHECK(n == 10 && canceled == 10, "in all: %d results, %d canceled", n, canceled);
  rf_engine_free(e);
}

/* N distinct requests pipelined 4 deep over 2 connections to the fault
 * server (BASE_URL = its root): /ok?size=S with S different for each, and
 * every DROP_EVERY-th a /drop that closes the connection mid-pipeline. One
 * line per result, "tag status error bytes sha256", for the test to check
 * each against the URL it asked for. */
static void pipeline(const char *base, int n, int drop_every) {
  rf_config cfg;
  test_config(&cfg);
  cfg.concurrency = 8;
  cfg.per_host = 2;
  cfg.pipeline = 4;
  rf_engine *e = NULL;
  char err[256];
  if (rf_engine_new(&cfg, &e, err, sizeof err) < 0) {
    fprintf(stderr, "rf_engine_new: %s\n", err);
    exit(1);
  }
  char **urls = calloc((size_t)n, sizeof *urls);
  CHECK(urls != NULL, "calloc");
  for (int i = 0; i < n && urls; i++) {
    urls[i] = malloc(strlen(base) + 64);
    if (drop_every > 0 && i % drop_every == drop_every - 1)
      sprintf(urls[i], "%s/drop?key=p%d&how=close", base, i);
    else
      sprintf(urls[i], "%s/ok?size=%d", base, 100 + 37 * i);
    CHECK(submit(e, urls[i], (uint64_t)i, RF_BODY_DISCARD) == 0, "submit %d", i);
  }
  int got = 0;
  for (int turn = 0; turn < 3000 && got < n; turn++) {
    rf_run(e, 10);
    rf_result *r;
    while ((r = rf_result_next(e)) != NULL) {
      char h[65] = "-";
      if (r->has_sha256)
        hex(r->body_sha256, h);
      printf("%llu %d %s %llu %s\n", (unsigned long long)r->tag, r->status, rf_error_name(r->error),
             (unsigned long long)r->body_bytes, h);
      got++;
      rf_result_release(e, r);
    }
  }
  CHECK(got == n, "%d results for %d requests", got, n);
  rf_engine_free(e);
  for (int i = 0; i < n && urls; i++)
    free(urls[i]);
  free(urls);
}

/* Body limits end in too_large, never in a cut body reported as whole: a
 * memory body over memory_body_max, any body over max_body_bytes (a
 * discarded one too), and at exactly the limit the body passes. URL's body
 * has SIZE bytes. */
static void too_large(const char *url, uint64_t size) {
  struct {
    uint64_t mem_max, max_body;
    rf_body_mode mode;
    rf_error want;
  } cases[] = {
      {size - 1, 0, RF_BODY_MEMORY, RF_ERR_TOO_LARGE},
      {size, 0, RF_BODY_MEMORY, RF_OK},
      {0, size - 1, RF_BODY_MEMORY, RF_ERR_TOO_LARGE},
      {0, size - 1, RF_BODY_DISCARD, RF_ERR_TOO_LARGE},
      {0, size, RF_BODY_DISCARD, RF_OK},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    rf_config cfg;
    test_config(&cfg);
    if (cases[i].mem_max)
      cfg.memory_body_max = cases[i].mem_max;
    cfg.max_body_bytes = cases[i].max_body;
    rf_engine *e = NULL;
    char err[256];
    CHECK(rf_engine_new(&cfg, &e, err, sizeof err) == 0, "rf_engine_new: %s", err);
    if (!e)
      return;
    CHECK(submit(e, url, i, cases[i].mode) == 0, "submit %zu", i);
    rf_result *r = NULL;
    for (int turn = 0; turn < 3000 && !r; turn++) {
      rf_run(e, 10);
      r = rf_result_next(e);
    }
    CHECK(r != NULL, "case %zu: no result", i);
    if (r) {
      CHECK(r->error == cases[i].want, "case %zu: %s (%s), want %s", i, rf_error_name(r->error),
            r->error_message, rf_error_name(cases[i].want));
      if (r->error == RF_OK)
        CHECK(r->body_bytes == size, "case %zu: %llu bytes", i, (unsigned long long)r->body_bytes);
      else
        CHECK(r->body_bytes <= size, "case %zu: %llu bytes", i, (unsigned long long)r->body_bytes);
      rf_result_release(e, r);
    }
    rf_engine_free(e);
  }
}

/* ---- wake ---- */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *wake_later(void *e) {
  struct timespec d = {0, 200 * 1000 * 1000};
  nanosleep(&d, NULL);
  rf_wake(e);
  return NULL;
}

/* rf_wake from another thread ends a wait that nothing else would end
 * (a request is running against a 5 s server), and one made before the
 * wait ends the next wait at once; the request is unharmed. */
static void wake(const char *slow) {
  rf_engine *e = NULL;
  char err[256];
  CHECK(rf_engine_new(NULL, &e, err, sizeof err) == 0, "rf_engine_new: %s", err);
  if (!e)
    return;
  rf_request rq;
  rf_request_init(&rq);
  rq.url = slow;
  CHECK(rf_submit(e, &rq) == 0, "submit");
  for (int turn = 0; turn < 20; turn++) /* connected and sent */
    rf_run(e, 10);
  pthread_t t;
  double t0 = now_s();
  CHECK(pthread_create(&t, NULL, wake_later, e) == 0, "pthread_create");
  int rc = rf_run(e, 3000);
  double waited = now_s() - t0;
  pthread_join(t, NULL);
  CHECK(rc == 0 && waited > 0.15 && waited < 1.0, "woken wait: rc %d after %.3f s", rc, waited);
  rf_wake(e);
  rf_wake(e);
  t0 = now_s();
  rc = rf_run(e, 3000);
  waited = now_s() - t0;
  CHECK(rc == 0 && waited < 0.1, "wake before the wait: rc %d after %.3f s", rc, waited);
  int n = 0;
  for (int turn = 0; turn < 100 && rf_outstanding(e); turn++) {
    rf_run(e, 100);
    rf_result *r;
    while ((r = rf_result_next(e)) != NULL) {
      n++;
      CHECK(r->error == RF_OK && r->status == 200, "slow request: %s", r->error_message);
      rf_result_release(e, r);
    }
  }
  CHECK(n == 1, "%d results", n);
  rf_engine_free(e);
}

/* Descriptors run out (EMFILE) while requests want sockets: they wait and
 * go once descriptors come back, none fails. The test holds every free
 * descriptor of the process for the first 50 loop turns, then lets go. */
static void emfile(const char *url) {
  enum { N = 40 };
  rf_engine *e = make(20, 64, 256);
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rlim_t soft = rl.rlim_cur;
  rl.rlim_cur = 1024; /* the engine was sized for more: now the process runs short */
  setrlimit(RLIMIT_NOFILE, &rl);
  int held[4096], nheld = 0;
  for (int fd; nheld < 4096 && (fd = dup(0)) >= 0;)
    held[nheld++] = fd;
  CHECK(nheld > 0 && errno == EMFILE, "could not use up the descriptors (%d held)", nheld);
  for (int i = 0; i < N; i++)
    CHECK(submit(e, url, (uint64_t)i, RF_BODY_DISCARD) == 0, "submit %d", i);
  int ok = 0, n = 0;
  for (int turn = 0; turn < 3000 && n < N; turn++) {
    if (turn == 50)
      while (nheld > 0)
        close(held[--nheld]);
    rf_run(e, 10);
    rf_result *r;
    while ((r = rf_result_next(e)) != NULL) {
      n++;
      ok += r->error == RF_OK && r->status == 200;
      if (r->error != RF_OK)
        fprintf(stderr, "tag %llu: %s: %s\n", (unsigned long long)r->tag, rf_error_name(r->error),
                r->error_message);
      rf_result_release(e, r);
    }
  }
  while (nheld > 0)
    close(held[--nheld]);
  rl.rlim_cur = soft;
  setrlimit(RLIMIT_NOFILE, &rl);
  rf_stats st;
  rf_get_stats(e, &st);
  CHECK(n == N && ok == N, "%d results, %d ok of %d", n, ok, N);
  CHECK(st.fd_waits > 0, "no request waited for a descriptor (fd_waits %llu)",
        (unsigned long long)st.fd_waits);
  rf_engine_free(e);
}

/* rf_prepare / rf_submit_prepared: what cannot be sent is refused at prepare;
 * one prepared GET submitted 300 times (freed while they are in flight) gives
 * 300 results with their own tags and the right body; a prepared POST with
 * credentials redirected (303) to another host twice: each hop drops what it
 * must, and the second submission's first hop still carries everything (the
 * first's redirect did not touch what they share; the server's log says). */
static void prepared(const char *small, const char *sha, const char *cross) {
  rf_engine *e = make(8, 64, 512);
  rf_request rq;
  rf_request_init(&rq);
  rf_prepared *p = NULL;
  char err[256] = "";
  rq.url = "http://user:pw@127.0.0.1:1/";
  CHECK(rf_prepare(e, &rq, &p, err, sizeof err) == -EINVAL && !p, "a URL with credentials was prepared");
  CHECK(strstr(err, "bad_url") != NULL, "prepare's error: %s", err);
  rf_header bad = {"Bad Name", 8, "v", 1};
  rq.url = small;
  rq.headers = &bad;
  rq.n_headers = 1;
  err[0] = 0;
  CHECK(rf_prepare(e, &rq, &p, err, sizeof err) == -EINVAL && !p, "an invalid header was prepared");
  CHECK(strstr(err, "bad_request") != NULL, "prepare's error: %s", err);

  enum { N = 300 };
  rf_request_init(&rq);
  rq.url = small;
  rq.flags = RF_REQ_SHA256;
  rq.body_mode = RF_BODY_DISCARD;
  CHECK(rf_prepare(e, &rq, &p, err, sizeof err) == 0 && p, "prepare: %s", err);
  static bool prepared_seen[N];
  int done = 0, next = 0;
  for (int turn = 0; turn < 20000 && done < N; turn++) {
    while (next < N && rf_submit_prepared(e, p, (uint64_t)next) == 0)
      next++;
    if (next == N && p) {
      rf_prepared_free(p); /* its requests in flight keep what they share */
      p = NULL;
    }
    rf_run(e, 10);
    rf_result *r;
    while ((r = rf_result_next(e)) != NULL) {
      CHECK(r->tag < N && !prepared_seen[r->tag], "tag %llu twice or unknown", (unsigned long long)r->tag);
      if (r->tag < N)
        prepared_seen[r->tag] = true;
      check_result(r, sha);
      CHECK(r->url_len == strlen(small) && memcmp(r->url, small, r->url_len) == 0, "result url %.*s",
            (int)r->url_len, r->url);
      done++;
      rf_result_release(e, r);
    }
  }
  CHECK(done == N, "%d results of %d", done, N);
  rf_prepared_free(p);

  rf_header creds[] = {{"Authorization", 13, "Bearer s3cret", 13}, {"X-Api-Key", 9, "k", 1}};
  rf_request_init(&rq);
  rq.url = cross;
  rq.method = "POST";
  rq.body = "abc";
  rq.body_len = 3;
  rq.headers = creds;
  rq.n_headers = 2;
  rq.flags = RF_REQ_FOLLOW;
  CHECK(rf_prepare(e, &rq, &p, err, sizeof err) == 0 && p, "prepare: %s", err);
  for (int i = 0; i < 2 && p; i++) {
    CHECK(rf_submit_prepared(e, p, 1000u + (uint64_t)i) == 0, "submit");
    rf_result *r = one_result(e);
    if (!r)
      break;
    CHECK(r->error == RF_OK && r->status == 200, "%s %d: %s", rf_error_name(r->error), r->status,
          r->error_message);
    CHECK(r->n_redirects == 1, "%zu redirects", (size_t)r->n_redirects);
    char body[4096];
    snprintf(body, sizeof body, "%.*s", (int)(r->body_len < 4000 ? r->body_len : 4000), r->body ? r->body : "");
    for (char *c = body; *c; c++)
      *c = (char)tolower((unsigned char)*c);
    CHECK(strstr(body, "\"method\": \"get\"") != NULL, "the 303 hop was not a GET: %s", body);
    CHECK(strstr(body, "authorization") == NULL, "credentials went to another host: %s", body);
    CHECK(strstr(body, "x-api-key") != NULL, "other headers should go on: %s", body);
    rf_result_release(e, r);
  }
  rf_prepared_free(p);
  rf_engine_free(e);
}

static rf_result *wait_result(rf_engine *e) {
  for (int turn = 0; turn < 3000; turn++) {
    rf_run(e, 10);
    rf_result *r = rf_result_next(e);
    if (r)
      return r;
  }
  fprintf(stderr, "no result in 30 s\n");
  exit(1);
}

/* One keep-alive connection carries requests that never pause it (memory,
 * discard without headers: its receive may stay armed for every response)
 * and then a big body to a pipe nobody reads for a while: the connection
 * must stop reading (memory stays a few MiB, not the body), then deliver
 * the whole body once the pipe is read. Then a memory request again. */
static void sink_switch(const char *small_url, const char *small_sha, const char *big_url,
                        const char *big_sha, long rss_limit_kib) {
  rf_engine *e = make(1, 4, 16);
  rf_request rq;
  rf_request_init(&rq);
  rq.url = small_url;
  rq.flags = RF_REQ_SHA256;
  CHECK(rf_submit(e, &rq) == 0, "submit memory");
  rf_result *r = wait_result(e);
  check_result(r, small_sha);
  CHECK(r->n_headers > 0, "a memory body's result without headers");
  rf_result_release(e, r);

  rq.body_mode = RF_BODY_DISCARD;
  rq.flags = RF_REQ_SHA256 | RF_REQ_NO_HEADERS;
  for (int i = 0; i < 3; i++) {
    CHECK(rf_submit(e, &rq) == 0, "submit discard");
    r = wait_result(e);
    check_result(r, small_sha);
    CHECK(r->reused, "request %d did not reuse the connection", i);
    CHECK(r->n_headers == 0 && r->n_trailers == 0, "RF_REQ_NO_HEADERS: %zu headers", r->n_headers);
    CHECK(use_h2 ? r->reason_len == 0 : r->reason_len == 2 && memcmp(r->reason, "OK", 2) == 0,
          "reason %.*s", (int)r->reason_len, r->reason); /* HTTP/2 has none */
    rf_result_release(e, r);
  }

  int pfd[2];
  if (pipe(pfd) < 0) {
    perror("pipe");
    exit(1);
  }
  fcntl(pfd[0], F_SETFL, O_NONBLOCK);
  rf_request_init(&rq);
  rq.url = big_url;
  rq.flags = RF_REQ_SHA256;
  rq.body_mode = RF_BODY_FD;
  rq.body_fd = pfd[1];
  CHECK(rf_submit(e, &rq) == 0, "submit fd");
  rf_result *big = NULL;
  for (int turn = 0; turn < 100 && !big; turn++) { /* 1 s with nobody reading the pipe */
    rf_run(e, 10);
    big = rf_result_next(e);
  }
  CHECK(!big, "the body went through a pipe nobody read");
  long held = rss_kib();
  CHECK(rss_limit_kib <= 0 || held < rss_limit_kib, "%ld KiB resident while the pipe was not read", held);
  static char buf[1 << 16];
  unsigned long long got = 0;
  for (int turn = 0; turn < 60000 && !big; turn++) {
    rf_run(e, 1);
    ssize_t n;
    while ((n = read(pfd[0], buf, sizeof buf)) > 0)
      got += (unsigned long long)n;
    big = rf_result_next(e);
  }
  CHECK(big != NULL, "no result for the big body");
  ssize_t n;
  while ((n = read(pfd[0], buf, sizeof buf)) > 0) /* the result comes after the last write */
    got += (unsigned long long)n;
  if (big) {
    check_result(big, big_sha);
    CHECK(big->reused, "the big body did not come over the same connection");
    CHECK(big->body_bytes == got, "%llu bytes through the pipe, body_bytes %llu", got,
          (unsigned long long)big->body_bytes);
    rf_result_release(e, big);
  }
  close(pfd[0]);
  close(pfd[1]);

  rf_request_init(&rq);
  rq.url = small_url;
  rq.flags = RF_REQ_SHA256;
  CHECK(rf_submit(e, &rq) == 0, "submit memory");
  r = wait_result(e);
  check_result(r, small_sha);
  CHECK(r->reused && r->n_headers > 0, "after the pipe: reused %d, %zu headers", r->reused, r->n_headers);
  rf_result_release(e, r);
  rf_engine_free(e);
}

/* rf_config.batch_us through the library: 3,000 HTTP/2 requests, 200 in
 * flight on 4 connections, with batched waits and without: every one done
 * with its body; the engine's waits gathered completions with it and never
 * without it (rf_stats.batched_waits); and, on a quiet machine (check_turns,
 * and the unbatched run took a turn per 4 requests or more), at most half
 * the loop turns with it. A busy machine (or ASan) slows the
 * client until completions pile up between turns either way, so the turn
 * comparison alone cannot tell (it failed under a parallel ctest). */
#define BATCH_N 3000
static uint64_t batch_run(const char *url, const char *sha, unsigned batch_us, uint64_t *batched_waits) {
  enum { N = BATCH_N, CONC = 200 };
  rf_config cfg;
  test_config(&cfg);
  cfg.http2 = true;
  cfg.concurrency = CONC;
  cfg.per_host = 4;
  cfg.result_slots = CONC + 16;
  cfg.queue_size = N;
  cfg.batch_us = batch_us;
  rf_engine *e = NULL;
  char err[256];
  if (rf_engine_new(&cfg, &e, err, sizeof err) < 0) {
    fprintf(stderr, "rf_engine_new: %s\n", err);
    exit(1);
  }
  for (int i = 0; i < N; i++)
    CHECK(submit(e, url, (uint64_t)i, RF_BODY_DISCARD) == 0, "submit %d", i);
  int got = 0;
  for (int turn = 0; turn < 200000 && got < N; turn++) {
    rf_run(e, 100);
    rf_result *r;
    while ((r = rf_result_next(e)) != NULL) {
      check_result(r, sha);
      got++;
      rf_result_release(e, r);
    }
  }
  CHECK(got == N, "batch_us %u: %d of %d results", batch_us, got, N);
  rf_stats st;
  rf_get_stats(e, &st);
  rf_engine_free(e);
  *batched_waits = st.batched_waits;
  return st.loop_turns;
}

static void batch(const char *url, const char *sha, int check_turns) {
  uint64_t bw_plain, bw;
  uint64_t plain = batch_run(url, sha, 0, &bw_plain), batched = batch_run(url, sha, 50, &bw);
  fprintf(stderr, "loop turns: %llu without batching, %llu with 50 us (%llu batched waits)\n",
          (unsigned long long)plain, (unsigned long long)batched, (unsigned long long)bw);
  CHECK(bw_plain == 0, "%llu batched waits with batch_us 0", (unsigned long long)bw_plain);
  CHECK(bw > 0 && bw <= batched, "%llu batched waits in %llu turns with batch_us 50", (unsigned long long)bw,
        (unsigned long long)batched);
  /* a client that took fewer than one turn per 4 requests unbatched was
   * already gathering completions (a busy machine): halving says nothing */
  if (check_turns && plain < BATCH_N / 4)
    fprintf(stderr, "loop turns not compared: the unbatched run already gathered completions\n");
  else if (check_turns)
    CHECK(2 * batched < plain, "batching did not cut the loop turns: %llu vs %llu", (unsigned long long)batched,
          (unsigned long long)plain);
}

int main(int argc, char **argv) {
  use_h2 = argc >= 2 && (strcmp(argv[1], "backpressure-h2") == 0 || strcmp(argv[1], "sink-switch-h2") == 0 ||
                         strcmp(argv[1], "batch") == 0);
  if (argc >= 4 && (strcmp(argv[1], "backpressure") == 0 || strcmp(argv[1], "backpressure-h2") == 0))
    backpressure(argv[2], argv[3]);
  else if (argc >= 4 && strcmp(argv[1], "memory-body") == 0)
    memory_body(argv[2], argv[3], argc >= 5 && strcmp(argv[4], "chunked") == 0);
  else if (argc >= 3 && strcmp(argv[1], "queue-full") == 0)
    queue_full(argv[2]);
  else if (argc >= 4 && strcmp(argv[1], "two-engines") == 0)
    two_engines(argv[2], argv[3]);
  else if (argc >= 7 && strcmp(argv[1], "crawl") == 0)
    crawl(argv[2], argv[3], argv[4], argv[5], argv[6]);
  else if (argc >= 4 && strcmp(argv[1], "capture") == 0)
    capture(argv[2], argv[3]);
  else if (argc >= 3 && strcmp(argv[1], "outfile") == 0)
    outfile(argv[2]);
  else if (argc >= 3 && strcmp(argv[1], "cancel") == 0)
    cancel(argv[2]);
  else if (argc >= 4 && strcmp(argv[1], "too-large") == 0)
    too_large(argv[2], strtoull(argv[3], NULL, 10));
  else if (argc >= 5 && strcmp(argv[1], "pipeline") == 0)
    pipeline(argv[2], atoi(argv[3]), atoi(argv[4]));
  else if (argc >= 3 && strcmp(argv[1], "emfile") == 0)
    emfile(argv[2]);
  else if (argc >= 3 && strcmp(argv[1], "wake") == 0)
    wake(argv[2]);
  else if (argc >= 5 && strcmp(argv[1], "prepared") == 0)
    prepared(argv[2], argv[3], argv[4]);
  else if (argc >= 5 && strcmp(argv[1], "batch") == 0)
    batch(argv[2], argv[3], atoi(argv[4]));
  else if (argc >= 7 && (strcmp(argv[1], "sink-switch") == 0 || strcmp(argv[1], "sink-switch-h2") == 0))
    sink_switch(argv[2], argv[3], argv[4], argv[5], atol(argv[6]));
  else {
    fprintf(stderr, "usage: lib_client backpressure|backpressure-h2|memory-body|queue-full|two-engines|crawl|capture|outfile|cancel|pipeline|too-large|wake|emfile|prepared|sink-switch|sink-switch-h2|batch ...\n");
    return 2;
  }
  if (failures)
    fprintf(stderr, "%d check(s) failed\n", failures);
  return failures ? 1 : 0;
}
