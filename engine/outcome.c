/* What an attempt leads to: the one place that decides between delivering
 * the result, trying again after a back-off (retries) and following a
 * redirect. The last two give the result slot back and send the request
 * through the global queue again, so a redirect may go to another origin
 * and a waiting retry holds no concurrency slot.
 *
 * Invariant: every submitted request gets exactly one result. Attempts end
 * in rf_outcome_settle (or rf_outcome_unanswered), and rf_slot_deliver is
 * called from this file only. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "engine/internal.h"
#include "proto/httpdate.h"
#include "proto/location.h"

/* A longer Retry-After is clamped to this (libcurl does the same since 8.12):
 * a typo on the server should not park an origin for days. */
#define RETRY_AFTER_MAX_S (6u * 3600u)

/* ---- policy ---------------------------------------------------------------- */

static bool idempotent(const char *m) {
  static const char *const ok[] = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE", NULL};
  for (int i = 0; ok[i]; i++)
    if (strcmp(m, ok[i]) == 0)
      return true;
  return false;
}

static bool retry_status(int status) {
  switch (status) {
  case 408: case 429: case 500: case 502: case 503: case 504:
    return true;
  default:
    return false;
  }
}

/* Failures that a later attempt may not meet: the network or the server's
 * state, not the request or the response's content. */
static bool retry_error(rf_error err) {
  switch (err) {
  case RF_ERR_CONNECT_REFUSED:
  case RF_ERR_CONNECT_TIMEOUT:
  case RF_ERR_CONNECT:
  case RF_ERR_RESET:
  case RF_ERR_CLOSED:
  case RF_ERR_READ_TIMEOUT:
  case RF_ERR_TIMEOUT:
  case RF_ERR_PROXY_CONNECT:
    return true;
  default:
    return false;
  }
}

static bool is_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* xorshift64*: jitter only, no security meaning; per engine, no global state */
static uint64_t rnd(rf_engine *e) {
  uint64_t x = e->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  e->rng = x;
  return x * 2685821657736338717ull;
}

/* Exponential back-off with full jitter: after the n-th attempt failed, a
 * random wait in [0, min(cap, base * 2^(n-1))]. Full jitter spreads the
 * retries of many requests that failed together (a server's restart) instead
 * of sending them back in a wave. */
static uint64_t backoff_us(rf_engine *e, const rf_req *q) {
  uint64_t cap = (uint64_t)e->cfg.retry_max_delay_ms * 1000u;
  uint64_t d = (uint64_t)e->cfg.retry_delay_ms * 1000u;
  for (unsigned i = 1; i < q->attempts && d < cap; i++)
    d *= 2;
  if (d > cap)
    d = cap;
  return d ? rnd(e) % (d + 1) : 0;
}

/* May the request be tried again, the next attempt starting wait_us from now? */
static bool retry_allowed(rf_engine *e, const rf_req *q, uint64_t wait_us) {
  if (q->attempts > e->cfg.retries)
    return false;
  if (!e->cfg.retry_all_methods && !idempotent(q->method))
    return false;
  if (e->cfg.retry_max_time_ms &&
      e->now_us + wait_us > q->t_first_start + (uint64_t)e->cfg.retry_max_time_ms * 1000u)
    return false;
  return true;
}

/* ---- response headers: is this response the result? -------------------------- */

static void disp_fail(rf_slot *s, rf_error err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void disp_fail(rf_slot *s, rf_error err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->msg, sizeof s->msg, fmt, ap);
  va_end(ap);
  s->disp = DISP_FAIL;
  s->disp_err = err;
}

static const char *hval(const rf_resp *r, int i, size_t *len) {
  *len = r->hdrs[i].value_len;
  return r->hbuf + r->hdrs[i].value_off;
}

/* The URL of hop i: 0 is the submitted one, i > 0 the i-th redirect's target. */
static const char *hop_url(const rf_req *q, unsigned i, size_t *len) {
  if (i == 0) {
    *len = q->url0_len;
    return q->url0;
  }
  *len = q->redirs[i - 1].location_len;
  return q->redirs[i - 1].location;
}

static size_t without_fragment(const char *u, size_t n) {
  const char *h = memchr(u, '#', n);
  return h ? (size_t)(h - u) : n;
}

static bool changes_method(const rf_req *q, int status) {
  if (status == 303)
    return !q->head && strcmp(q->method, "GET") != 0;
  return (status == 301 || status == 302) && strcmp(q->method, "POST") == 0;
}

static void decide_redirect(rf_engine *e, rf_slot *s, const rf_resp *r, int li) {
  rf_req *q = s->req;
  size_t vlen;
  const char *v = hval(r, li, &vlen);
  if (q->nredirs >= q->max_redirects) {
    disp_fail(s, RF_ERR_TOO_MANY_REDIRECTS, "more than %u redirects (the next to '%.*s')", q->max_redirects,
              (int)(vlen < 120 ? vlen : 120), v);
    return;
  }
  size_t cap = RF_URL_RESOLVE_CAP(q->url_len, vlen);
  char *to = malloc(cap);
  if (!to) {
    disp_fail(s, RF_ERR_INTERNAL, "out of memory for a redirect");
    return;
  }
  const char *err = NULL;
  long n = rf_url_resolve(q->url, q->url_len, v, vlen, to, cap, &err);
  if (n < 0) {
    disp_fail(s, RF_ERR_BAD_REDIRECT, "cannot follow Location '%.*s': %s", (int)(vlen < 120 ? vlen : 120), v,
              err ? err : "invalid");
    free(to);
    return;
  }
  rf_url nu;
  rf_url_parse(to, (size_t)n, &nu, NULL); /* rf_url_resolve checked it */
  if (q->u.scheme == RF_SCHEME_HTTPS && nu.scheme == RF_SCHEME_HTTP && !(q->flags & RF_REQ_REDIRECT_DOWNGRADE)) {
    disp_fail(s, RF_ERR_BAD_REDIRECT, "redirect from https to http refused (%.150s); allow it with "
              "--redirect-downgrade", to);
    free(to);
    return;
  }
  /* The same request again is a loop: the same URL (fragments are never
   * sent) with the same method. A method change (POST -> GET) starts afresh. */
  if (!changes_method(q, r->status)) {
    size_t tn = without_fragment(to, (size_t)n);
    for (unsigned i = q->loop_from; i <= q->nredirs; i++) {
      size_t hn;
      const char *h = hop_url(q, i, &hn);
      if (without_fragment(h, hn) == tn && memcmp(h, to, tn) == 0) {
        disp_fail(s, RF_ERR_TOO_MANY_REDIRECTS, "redirect loop: %.150s was requested before", to);
        free(to);
        return;
      }
    }
  }
  s->disp = DISP_FOLLOW;
  s->next_url = to;
  s->next_url_len = (size_t)n;
  (void)e;
}

/* The server's clock for an HTTP-date Retry-After: its Date header when it
 * sent one (cancels clock skew), else ours. */
static int64_t server_now(const rf_resp *r) {
  int64_t t;
  int di = rf_resp_find(r, "date");
  if (di >= 0) {
    size_t n;
    const char *v = hval(r, di, &n);
    if (rf_http_date_parse(v, n, &t) == 0)
      return t;
  }
  return (int64_t)time(NULL);
}

static void decide_retry(rf_engine *e, rf_slot *s, const rf_resp *r) {
  rf_req *q = s->req;
  uint64_t wait = backoff_us(e, q);
  bool pause = false;
  int ri = (r->status == 429 || r->status == 503) ? rf_resp_find(r, "retry-after") : -1;
  uint64_t ra_s;
  size_t n;
  const char *v = ri >= 0 ? hval(r, ri, &n) : NULL;
  if (v && rf_retry_after_parse(v, n, server_now(r), &ra_s) == 0) {
    wait = (ra_s > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : ra_s) * 1000000u;
    pause = true;
  }
  if (!retry_allowed(e, q, wait))
    return; /* this response is the result (and the pause it asked for is not kept) */
  s->disp = DISP_RETRY;
  s->retry_wait_us = wait;
  if (pause) {
    /* The whole origin waits, this request with the others: it goes back at
     * once and queues behind the pause. */
    rf_origin_pause(e, q->origin, e->now_us + wait);
    s->retry_wait_us = 0;
  }
}

void rf_outcome_headers(rf_engine *e, rf_slot *s, const rf_resp *r) {
  rf_req *q = s->req;
  s->disp = DISP_DELIVER;
  if ((q->flags & RF_REQ_FOLLOW) && is_redirect(r->status)) {
    int li = rf_resp_find(r, "location");
    if (li >= 0) {
      decide_redirect(e, s, r, li);
      return;
    }
  }
  if (e->cfg.retries && retry_status(r->status))
    decide_retry(e, s, r);
  if (s->disp == DISP_DELIVER && r->status >= 400 && (q->flags & RF_REQ_NO_ERROR_BODY))
    s->disp = DISP_NO_BODY;
}

/* ---- taking the next step -------------------------------------------------------- */

/* The result: the caller's, or the engine's own (robots.txt). */
static void deliver(rf_engine *e, rf_slot *s) {
  if (s->req->flags & RF_REQ_INTERNAL)
    rf_robots_done(e, s);
  else
    rf_slot_deliver(e, s);
}

/* Removes the request headers named in names (case-insensitive). A prepared
 * request's shared array is copied first (the names and values it points to
 * stay the prepared request's). -ENOMEM when out of memory. */
static int drop_headers(rf_req *q, const char *const *names) {
  if (q->prep && !q->hdrs_own && q->n_hdrs) {
    rf_hdr_in *own = malloc(sizeof *own * q->n_hdrs);
    if (!own)
      return -ENOMEM;
    memcpy(own, q->hdrs, sizeof *own * q->n_hdrs);
    q->hdrs = own;
    q->hdrs_own = true;
  }
  size_t k = 0;
  for (size_t i = 0; i < q->n_hdrs; i++) {
    bool drop = false;
    for (int j = 0; names[j] && !drop; j++)
      drop = strlen(names[j]) == q->hdrs[i].name_len && strncasecmp(names[j], q->hdrs[i].name, q->hdrs[i].name_len) == 0;
    if (!drop)
      q->hdrs[k++] = q->hdrs[i];
  }
  q->n_hdrs = k;
  return 0;
}

static bool same_origin(const rf_url *a, const rf_url *b) {
  return a->scheme == b->scheme && a->port == b->port && a->host_len == b->host_len &&
         strncasecmp(a->host, b->host, a->host_len) == 0;
}

static void requeue(rf_engine *e, rf_slot *s, uint64_t wait_us) {
  rf_req *q = s->req;
  q->resent = false; /* a new attempt or hop may meet a stale connection of its own */
  rf_slot_release(e, s);
  if (wait_us == 0) {
    rf_requeue_global_front(e, q);
    return;
  }
  e->queued++; /* it still waits to run: counts against queue_size */
  rf_timer_set(&e->timers, &q->timer, e->now_ms + (wait_us + 999) / 1000);
}

static void retry(rf_engine *e, rf_slot *s, uint64_t wait_us) {
  s->req->attempts++;
  e->st.retries++;
  requeue(e, s, wait_us);
}

static void follow(rf_engine *e, rf_slot *s) {
  rf_req *q = s->req;
  if (q->nredirs == q->capredirs) {
    unsigned cap = q->capredirs ? q->capredirs * 2 : 4;
    rf_redirect *n = realloc(q->redirs, sizeof *n * cap);
    if (!n) {
      s->err = RF_ERR_INTERNAL;
      snprintf(s->msg, sizeof s->msg, "out of memory for a redirect");
      deliver(e, s);
      return;
    }
    q->redirs = n;
    q->capredirs = cap;
  }
  rf_redirect *h = &q->redirs[q->nredirs++];
  h->status = s->res.status;
  h->location = s->next_url;
  h->location_len = s->next_url_len;
  s->next_url = NULL;

  rf_url prev = q->u; /* spans into the previous hop's URL, still owned */
  q->url = (char *)h->location;
  q->url_len = h->location_len;
  rf_url_parse(q->url, q->url_len, &q->u, NULL);
  if (changes_method(q, h->status)) {
    /* as curl and browsers do: the body and what describes it go */
    static const char *const body_headers[] = {"Content-Type", "Content-Length", "Content-Encoding",
                                               "Content-Language", "Content-Location", "Transfer-Encoding",
                                               "Digest", NULL};
    strcpy(q->method, "GET");
    if (!q->prep) /* a prepared request's body is shared */
      free(q->body);
    q->body = NULL;
    q->body_len = 0;
    if (drop_headers(q, body_headers) < 0)
      goto oom;
    q->loop_from = q->nredirs;
  }
  if (!same_origin(&prev, &q->u)) {
    /* credentials and a custom Host belong to the origin they were given
     * for; once dropped they do not come back on a later hop */
    static const char *const cred_headers[] = {"Authorization", "Cookie", "Proxy-Authorization", "Host", NULL};
    if (drop_headers(q, cred_headers) < 0)
      goto oom;
  }
  q->fresh_conn = (q->flags & RF_REQ_NEW_CONN) != 0;
  e->st.redirects++;
  requeue(e, s, 0);
  return;
oom: /* never a hop with headers that should have been dropped */
  s->err = RF_ERR_INTERNAL;
  snprintf(s->msg, sizeof s->msg, "out of memory for a redirect");
  deliver(e, s);
}

void rf_outcome_settle(rf_engine *e, rf_slot *s) {
  rf_req *q = s->req;
  rf_capture_end(e, s); /* the attempt as it went, whatever comes next */
  if (q->canceled) {
    /* no retry, no next hop: a response already complete stays the result */
    if (s->err == RF_OK && s->disp != DISP_DELIVER && s->disp != DISP_NO_BODY) {
      s->err = RF_ERR_CANCELED;
      snprintf(s->msg, sizeof s->msg, "canceled after a %d response", s->res.status);
    }
    deliver(e, s);
    return;
  }
  if (s->err != RF_OK) {
    /* a body already written to the caller's fd cannot be taken back */
    bool restartable = q->body_mode != RF_BODY_FD || s->sink.bytes == 0;
    if (retry_error(s->err) && restartable) {
      uint64_t wait = backoff_us(e, q);
      if (retry_allowed(e, q, wait)) {
        retry(e, s, wait);
        return;
      }
    }
  } else {
    switch (s->disp) {
    case DISP_FOLLOW:
      follow(e, s);
      return;
    case DISP_RETRY:
      retry(e, s, s->retry_wait_us);
      return;
    case DISP_FAIL:
      s->err = s->disp_err;
      break;
    case DISP_DELIVER:
    case DISP_NO_BODY:
      break;
    }
  }
  deliver(e, s);
}

void rf_outcome_unanswered(rf_engine *e, rf_slot *s, bool fresh_conn, rf_error err, const char *msg) {
  rf_req *q = s->req;
  if (!q->resent && !q->canceled) {
    /* It never reached a server that answered: send it again at once, not
     * counted as a retry (curl and Go do the same for a reused connection). */
    q->resent = true;
    if (fresh_conn)
      q->fresh_conn = true;
    rf_slot_release(e, s);
    rf_requeue_origin_front(e, q);
    return;
  }
  rf_slot_fail(e, s, err, "%s", msg);
}

void rf_outcome_refused(rf_engine *e, rf_slot *s, const char *msg) {
  rf_req *q = s->req;
  if (q->refused < RF_H2_REFUSED_MAX && !q->canceled) {
    /* RFC 9113 section 8.7: a refused stream was not processed, so any
     * method may go again. A GOAWAY mid-run refuses whole batches (nginx
     * takes keepalive_requests streams of a connection, refuses the rest):
     * they go back in the order of submission, so the next connection's
     * first streams, those the server takes, are the oldest requests and
     * none is refused again and again while newer ones pass it */
    q->refused++;
    e->st.h2_refused++;
    rf_slot_release(e, s);
    rf_requeue_origin_by_age(e, q);
    return;
  }
  rf_slot_fail(e, s, RF_ERR_CLOSED, "%s (refused %u times)", msg, (unsigned)q->refused);
}

void rf_outcome_on_timer(rf_engine *e, rf_req *q) {
  e->queued--;
  rf_requeue_global_front(e, q);
}

size_t rf_cancel_all(rf_engine *e) {
  size_t n = rf_cancel_queued(e);
  /* running: mark them all first (a failing connection may hand requests
   * pipelined behind back to the scheduler), then fail them */
  for (uint32_t i = 0; i < e->nslots; i++)
    if (e->slots[i].state == SLOT_RUNNING)
      e->slots[i].req->canceled = true;
  for (uint32_t i = 0; i < e->nslots; i++) {
    rf_slot *s = &e->slots[i];
    if (s->state != SLOT_RUNNING)
      continue;
    n++;
    /* one pipelined behind another ends when their connection closes */
    if (!s->conn || s->conn->slot == s || s->conn->h2)
      rf_slot_fail(e, s, RF_ERR_CANCELED, "canceled while it ran");
  }
  return n;
}
