/* Scheduling: origins (scheme, host, port) with their keep-alive pools and
 * wait queues, the global concurrency and per-origin limits, and the
 * connection table. */
#include <assert.h>
#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/internal.h"
#include "proto/robots.h"

#define ORIGIN_LRU_MAX 4096u /* unused origins kept for their DNS and TLS sessions */

/* ---- requests ------------------------------------------------------------ */

#define REQ_POOL_MAX 4096u /* structs kept for reuse: ~1.7 MiB at most */

rf_req *rf_req_take(rf_engine *e) {
  rf_req *q = e->req_pool;
  if (!q)
    return malloc(sizeof *q);
  e->req_pool = q->next;
  e->req_pool_n--;
  return q;
}

rf_req *rf_req_alloc(rf_engine *e) {
  rf_req *q = rf_req_take(e);
  if (q)
    memset(q, 0, sizeof *q);
  return q;
}

void rf_stamp_submitted(rf_engine *e) {
  for (rf_req *q = e->q_unstamped; q; q = q->next)
    if (!q->t_submit)
      q->t_submit = e->now_us;
  e->q_unstamped = NULL;
}

void rf_req_free(rf_engine *e, rf_req *q) {
  if (!q)
    return;
  for (unsigned i = 0; i < q->nredirs; i++)
    free((char *)q->redirs[i].location);
  free(q->redirs);
  if (q->prep) {
    if (q->hdrs_own)
      free(q->hdrs);
    rf_prepared_unref(q->prep);
  } else {
    free(q->url0);
    free(q->hdrs);
    free(q->body);
    free(q->body_path);
  }
  if (e->req_pool_n >= REQ_POOL_MAX) {
    free(q);
    return;
  }
  q->next = e->req_pool;
  e->req_pool = q;
  e->req_pool_n++;
}

/* ---- origins ----------------------------------------------------------------- */

static uint32_t origin_hash(enum origin_kind kind, enum rf_scheme scheme, const char *host, size_t len,
                            uint16_t port) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < len; i++)
    h = (h ^ (uint8_t)tolower((unsigned char)host[i])) * 16777619u;
  h = (h ^ port) * 16777619u;
  return (h ^ ((uint32_t)scheme + 2u * (uint32_t)kind)) * 16777619u;
}

int rf_origins_init(rf_engine *e) {
  uint32_t n = 1024;
  while (n < e->cfg.concurrency * 4u && n < (1u << 20))
    n <<= 1;
  e->otab = calloc(n, sizeof *e->otab);
  e->otab_mask = n - 1;
  return e->otab ? 0 : -ENOMEM;
}

static void origin_destroy(rf_origin *o) {
  rf_robots_free(o->robots);
  rf_tls_cache_free(o->tls_cache);
  free(o->host);
  free(o);
}

void rf_origins_free(rf_engine *e) {
  if (!e->otab)
    return;
  for (uint32_t i = 0; i <= e->otab_mask; i++) {
    rf_origin *o = e->otab[i];
    while (o) {
      rf_origin *next = o->hnext;
      rf_req *q = o->wq_head;
      while (q) {
        rf_req *qn = q->next;
        rf_req_free(e, q);
        q = qn;
      }
      origin_destroy(o);
      o = next;
    }
  }
  free(e->otab);
  e->otab = NULL;
}

/* The request rate of an origin: the first host_rates entry for its host
 * (and port), else the engine's host_rate. */
static double origin_rate(const rf_engine *e, const rf_origin *o) {
  for (size_t i = 0; i < e->cfg.n_host_rates; i++) {
    const rf_host_rate *hr = &e->cfg.host_rates[i];
    if (strcasecmp(hr->host, o->host) == 0 && (hr->port == 0 || hr->port == o->port))
      return hr->rate;
  }
  return e->cfg.host_rate;
}

/* The origin of that kind, scheme, host and port; made when there is none
 * (*made says so). NULL: out of memory. */
static rf_origin *origin_find(rf_engine *e, enum origin_kind kind, enum rf_scheme scheme, const char *host,
                              size_t hlen, uint16_t port, enum rf_host_kind host_kind, bool *made) {
  *made = false;
  uint32_t h = origin_hash(kind, scheme, host, hlen, port);
  rf_origin **slot = &e->otab[h & e->otab_mask];
  for (rf_origin *o = *slot; o; o = o->hnext)
    if (o->hash == h && o->kind == kind && o->port == port && o->scheme == scheme && strlen(o->host) == hlen &&
        strncasecmp(o->host, host, hlen) == 0)
      return o;
  rf_origin *o = calloc(1, sizeof *o);
  if (!o)
    return NULL;
  bool tls = kind == ORIGIN_REQUESTS && scheme == RF_SCHEME_HTTPS;
  o->host = strndup(host, hlen);
  if (tls)
    o->tls_cache = rf_tls_cache_new();
  if (!o->host || (tls && !o->tls_cache)) {
    origin_destroy(o);
    return NULL;
  }
  for (char *c = o->host; *c; c++)
    *c = (char)tolower((unsigned char)*c);
  o->kind = kind;
  o->hash = h;
  o->port = port;
  o->scheme = scheme;
  o->host_kind = host_kind;
  o->route = o;
  o->timer.kind = RF_TIMER_ORIGIN;
  o->hnext = *slot;
  *slot = o;
  e->norigins++;
  *made = true;
  return o;
}

static rf_origin *origin_get(rf_engine *e, const rf_url *u) {
  bool made;
  rf_origin *o = origin_find(e, ORIGIN_REQUESTS, u->scheme, u->host, u->host_len, u->port, u->host_kind, &made);
  if (!o || !made)
    return o;
  double rate = origin_rate(e, o);
  o->rate_interval_us = rate > 0 ? (uint64_t)(1e6 / rate + 0.5) : 0;
  const char *dh;
  uint16_t dp;
  o->proxy = rf_proxy_for(e, o->scheme, o->host, o->host_kind);
  if (o->proxy) { /* its connections dial the proxy (--connect-to does not apply) */
    dh = o->proxy->host;
    dp = o->proxy->port;
  } else {
    rf_route_for(e, o->host, o->port, &dh, &dp);
  }
  if (dh != o->host || dp != o->port) {
    rf_origin *r = origin_find(e, ORIGIN_ROUTE, RF_SCHEME_HTTP, dh, strlen(dh), dp, rf_host_kind_of(dh), &made);
    if (r) { /* else (out of memory) the origin dials its own host */
      o->route = r;
      r->route_users++;
      rf_origin_touch(e, r);
    }
  }
  return o;
}

rf_origin *rf_origin_for(rf_engine *e, const rf_url *u) { return origin_get(e, u); }

static void lru_unlink(rf_engine *e, rf_origin *o) {
  if (o->lru_prev)
    o->lru_prev->lru_next = o->lru_next;
  else
    e->olru_head = o->lru_next;
  if (o->lru_next)
    o->lru_next->lru_prev = o->lru_prev;
  else
    e->olru_tail = o->lru_prev;
  o->lru_prev = o->lru_next = NULL;
  o->in_lru = false;
  e->nolru--;
}

static void origin_evict(rf_engine *e, rf_origin *o) {
  lru_unlink(e, o);
  if (o->route != o) {
    o->route->route_users--;
    rf_origin_touch(e, o->route);
  }
  rf_origin **pp = &e->otab[o->hash & e->otab_mask];
  while (*pp != o)
    pp = &(*pp)->hnext;
  *pp = o->hnext;
  e->norigins--;
  origin_destroy(o);
}

/* Keeps unused origins on a bounded LRU so memory does not grow with the
 * number of distinct hosts in the input. */
void rf_origin_touch(rf_engine *e, rf_origin *o) {
  /* a pending rate or pause deadline is state worth keeping: such an origin
   * is evicted only once its timer has run */
  bool unused = o->nconns == 0 && o->nwait == 0 && o->dns != DNS_RESOLVING && !o->on_ready && !o->timer.due &&
                o->route_users == 0 && o->robots_state != ROBOTS_FETCHING;
  if (unused && !o->in_lru) {
    rf_tls_cache_trim(o->tls_cache, 1); /* resumable later, bounded memory */
    o->lru_prev = e->olru_tail;
    o->lru_next = NULL;
    if (e->olru_tail)
      e->olru_tail->lru_next = o;
    else
      e->olru_head = o;
    e->olru_tail = o;
    o->in_lru = true;
    e->nolru++;
    while (e->nolru > ORIGIN_LRU_MAX)
      origin_evict(e, e->olru_head);
  } else if (!unused && o->in_lru) {
    lru_unlink(e, o);
  }
}

static void mark_ready(rf_engine *e, rf_origin *o, bool front) {
  if (o->on_ready)
    return;
  o->on_ready = true;
  if (front || !e->ready_origins) {
    o->ready_next = e->ready_origins;
    e->ready_origins = o;
    return;
  }
  rf_origin *t = e->ready_origins;
  while (t->ready_next)
    t = t->ready_next;
  o->ready_next = NULL;
  t->ready_next = o;
}

void rf_origin_resolved(rf_engine *e, rf_origin *o) {
  rf_conn *c = o->dns_waiters;
  o->dns_waiters = NULL;
  while (c) {
    rf_conn *next = c->next;
    c->next = NULL;
    rf_conn_dns_done(e, c);
    c = next;
  }
  rf_origin_touch(e, o);
}

static void wait_push(rf_origin *o, rf_req *q, bool front) {
  q->origin = o;
  if (front) {
    q->next = o->wq_head;
    o->wq_head = q;
    if (!o->wq_tail)
      o->wq_tail = q;
  } else {
    q->next = NULL;
    if (o->wq_tail)
      o->wq_tail->next = q;
    else
      o->wq_head = q;
    o->wq_tail = q;
  }
  o->nwait++;
}

static rf_req *wait_pop(rf_origin *o) {
  rf_req *q = o->wq_head;
  o->wq_head = q->next;
  if (!o->wq_head)
    o->wq_tail = NULL;
  q->next = NULL;
  o->nwait--;
  return q;
}

void rf_requeue_origin_front(rf_engine *e, rf_req *q) {
  rf_origin *o = q->origin;
  wait_push(o, q, true);
  e->queued++;
  mark_ready(e, o, true);
  rf_origin_touch(e, o);
}

void rf_requeue_origin_by_age(rf_engine *e, rf_req *q) {
  rf_origin *o = q->origin;
  rf_req **at = &o->wq_head;
  while (*at && (*at)->t_submit <= q->t_submit)
    at = &(*at)->next;
  q->origin = o;
  q->next = *at;
  *at = q;
  if (!q->next)
    o->wq_tail = q;
  o->nwait++;
  e->queued++;
  mark_ready(e, o, o->wq_head == q);
  rf_origin_touch(e, o);
}

void rf_requeue_global_front(rf_engine *e, rf_req *q) {
  q->next = e->q_head;
  e->q_head = q;
  if (!e->q_tail)
    e->q_tail = q;
  e->queued++;
}

/* ---- politeness: rate spacing and Retry-After pauses -------------------------- */

static uint64_t not_before_us(const rf_origin *o) {
  return o->next_start_us > o->paused_until_us ? o->next_start_us : o->paused_until_us;
}

void rf_origin_pause(rf_engine *e, rf_origin *o, uint64_t until_us) {
  if (until_us > o->paused_until_us)
    o->paused_until_us = until_us;
}

void rf_origin_on_timer(rf_engine *e, rf_origin *o) {
  if (o->nwait)
    mark_ready(e, o, false);
  rf_origin_touch(e, o);
}

/* True (and the origin's timer set to wake its queue) when o may start no
 * request yet. */
static bool origin_held(rf_engine *e, rf_origin *o) {
  uint64_t nb = not_before_us(o);
  if (nb <= e->now_us)
    return false;
  uint64_t due_ms = (nb + 999) / 1000;
  if (o->timer.due != due_ms)
    rf_timer_set(&e->timers, &o->timer, due_ms);
  return true;
}

/* A request of o starts now: the next one not before one interval later.
 * Spacing is counted from real starts, so a late start never lets the next
 * one follow closer than the interval (at most R per second, no bursts). */
static void origin_started(rf_engine *e, rf_origin *o) {
  if (o->rate_interval_us)
    o->next_start_us = (e->now_us > o->next_start_us ? e->now_us : o->next_start_us) + o->rate_interval_us;
}

/* ---- connections ----------------------------------------------------------------- */

bool rf_conn_available(const rf_engine *e) { return e->free_conns || e->conns_used < e->max_conns; }

rf_conn *rf_conn_alloc(rf_engine *e) {
  rf_conn *c = e->free_conns;
  if (c) {
    e->free_conns = c->next;
  } else {
    assert(e->conns_used < e->max_conns);
    c = &e->conns[e->conns_used];
    c->idx = e->conns_used++;
  }
  assert(c->state == C_FREE);
  /* one use starts from the zero state; idx, gen and the tx buffers stay */
  memset((char *)c + offsetof(rf_conn, state), 0, sizeof *c - offsetof(rf_conn, state));
  c->e = e;
  c->fd = -1;
  c->held_bid = -1;
  c->recv_drained = true; /* nothing can have arrived on a new connection */
  c->timer.kind = RF_TIMER_CONN;
  c->tx[0].len = c->tx[1].len = 0;
  return c;
}

void rf_conn_free(rf_engine *e, rf_conn *c) {
  rf_tls_free(c->tls);
  c->tls = NULL;
  rf_h2_free(c);
  c->h2 = NULL;
  for (int i = 0; i < 2; i++) {
    if (c->tx[i].cap > 65536)
      rf_buf_free(&c->tx[i]); /* keep small buffers for the next connection */
    c->tx[i].len = 0;
  }
  rf_origin *o = c->origin;
  c->origin = NULL;
  c->state = C_FREE;
  c->gen = (c->gen + 1) & 0xffffff;
  c->next = e->free_conns;
  e->free_conns = c;
  if (o) {
    o->nconns--;
    rf_origin_touch(e, o);
  }
}

void rf_origin_unblock(rf_engine *e, rf_origin *o) {
  if (o->nwait)
    mark_ready(e, o, false);
}

void rf_conn_released(rf_engine *e, rf_conn *c) {
  rf_origin *o = c->origin;
  if (o->nwait)
    mark_ready(e, o, false);
  rf_origin_touch(e, o);
}

void rf_idle_add(rf_engine *e, rf_conn *c) {
  rf_origin *o = c->origin;
  if (o->nidle >= e->cfg.idle_per_host || e->cfg.idle_timeout_ms == 0) {
    rf_conn_close(e, c);
    return;
  }
  /* the pool is full: the connection idle the longest goes, not this one,
   * whose origin is evidently in use */
  if (e->nidle >= e->cfg.max_idle && e->idle_lru_tail)
    rf_conn_close(e, e->idle_lru_tail);
  c->state = C_IDLE;
  rf_conn_pipe_update(e, c); /* an idle connection takes no pipelined request or stream */
  if (o->nactive)
    o->nactive--;
  c->pprev = NULL;
  c->pnext = o->idle_head;
  if (o->idle_head)
    o->idle_head->pprev = c;
  else
    o->idle_tail = c;
  o->idle_head = c;
  o->nidle++;
  c->gprev = NULL;
  c->gnext = e->idle_lru_head;
  if (e->idle_lru_head)
    e->idle_lru_head->gprev = c;
  else
    e->idle_lru_tail = c;
  e->idle_lru_head = c;
  if (++e->nidle > e->st.peak_idle)
    e->st.peak_idle = e->nidle;
  rf_timer_set(&e->timers, &c->timer, e->now_ms + e->cfg.idle_timeout_ms);
  rf_conn_released(e, c);
}

void rf_idle_remove(rf_engine *e, rf_conn *c) {
  rf_origin *o = c->origin;
  if (c->pprev)
    c->pprev->pnext = c->pnext;
  else
    o->idle_head = c->pnext;
  if (c->pnext)
    c->pnext->pprev = c->pprev;
  else
    o->idle_tail = c->pprev;
  o->nidle--;
  if (c->gprev)
    c->gprev->gnext = c->gnext;
  else
    e->idle_lru_head = c->gnext;
  if (c->gnext)
    c->gnext->gprev = c->gprev;
  else
    e->idle_lru_tail = c->gprev;
  e->nidle--;
  c->pnext = c->pprev = c->gnext = c->gprev = NULL;
}

/* ---- the scheduler ---------------------------------------------------------------- */

static bool global_capacity(const rf_engine *e) {
  return e->free_slots != NULL && e->inflight < e->cfg.concurrency;
}

/* How a request of o can start now. */
enum start_how {
  WAIT_GLOBAL = -1, /* no connection struct free (one is being made free) */
  WAIT_ORIGIN = 0,  /* o is at its per-host limit, or warming its TLS sessions */
  USE_IDLE = 1,     /* an idle keep-alive connection */
  USE_NEW,          /* a new connection */
  USE_PIPE,         /* pipelined behind a request on a busy connection */
  DENY,             /* its robots.txt says no: it ends without a request */
};

static enum start_how how_to_start(rf_engine *e, rf_origin *o, const rf_req *q) {
  switch (rf_robots_check(e, o, q)) { /* a disallowed URL costs no request: it waits for nothing */
  case ROBOTS_WAIT:
    return WAIT_ORIGIN;
  case ROBOTS_DENY:
    return DENY;
  case ROBOTS_GO:
    break;
  }
  if (origin_held(e, o))
    return WAIT_ORIGIN;
  if (o->h2 && !q->fresh_conn) {
    /* streams on the connections there are, then on those being set up;
     * another connection only for what they will not carry */
    if (o->pipe_head && o->pipe_head->h2)
      return USE_PIPE;
    if (o->nidle)
      return USE_IDLE;
    if (!o->h2_max_streams && o->h2_setup)
      return WAIT_ORIGIN; /* the first SETTINGS (a round trip) say how many will do */
    unsigned per_conn = o->h2_max_streams;
    if (e->cfg.http2_streams && per_conn > e->cfg.http2_streams)
      per_conn = e->cfg.http2_streams;
    if (o->h2_conn_streams && per_conn > o->h2_conn_streams)
      per_conn = o->h2_conn_streams;
    if ((uint64_t)o->h2_setup * per_conn > o->nwait)
      return WAIT_ORIGIN;
  }
  if (o->nidle && !q->fresh_conn)
    return USE_IDLE;
  /* per_host bounds every open connection to the origin, idle ones too */
  bool room = o->nactive + o->nidle < e->cfg.per_host;
  if (!room && o->nidle) { /* a fresh connection is wanted: it replaces an idle one */
    rf_conn_close(e, o->idle_tail);
    room = true;
  }
  bool pipe = o->pipe_head && !q->fresh_conn;
  if (room && !o->warming) { /* new connections first, pipelining once at the limit */
    if (rf_conn_available(e))
      return USE_NEW;
    if (pipe)
      return USE_PIPE;
    if (e->idle_lru_tail)
      rf_conn_close(e, e->idle_lru_tail); /* its struct comes back when closed */
    return WAIT_GLOBAL;
  }
  return pipe ? USE_PIPE : WAIT_ORIGIN;
}

static void start(rf_engine *e, rf_origin *o, rf_req *q, enum start_how how) {
  rf_slot *s = rf_slot_alloc(e, q); /* global_capacity() said there is one */
  q->origin = o;
  if (how == DENY) {
    rf_slot_fail(e, s, RF_ERR_ROBOTS_DISALLOWED, "the robots.txt of %s://%s:%u disallows it",
                 o->scheme == RF_SCHEME_HTTPS ? "https" : "http", o->host, o->port);
    return;
  }
  origin_started(e, o);
  switch (how) {
  case USE_IDLE:
    rf_conn_assign(e, o->idle_head, s);
    break;
  case USE_PIPE:
    rf_conn_pipeline(e, o->pipe_head, s);
    break;
  default:
    rf_conn_start_new(e, o, s);
    break;
  }
}

static void fail_early(rf_engine *e, rf_req *q, rf_error err, const char *msg) {
  rf_slot *s = rf_slot_alloc(e, q);
  rf_slot_fail(e, s, err, "%s", msg);
}

/* Origins whose waiting requests may run now. */
static void run_ready(rf_engine *e) {
  while (e->ready_origins && global_capacity(e)) {
    rf_origin *o = e->ready_origins;
    e->ready_origins = o->ready_next;
    o->ready_next = NULL;
    o->on_ready = false;
    enum start_how how = USE_IDLE;
    while (o->nwait && global_capacity(e) && (how = how_to_start(e, o, o->wq_head)) > 0) {
      e->queued--;
      start(e, o, wait_pop(o), how);
    }
    if (o->nwait && how != WAIT_ORIGIN) {
      mark_ready(e, o, true); /* blocked by a global limit: keep its turn */
      rf_origin_touch(e, o);
      break;
    }
    rf_origin_touch(e, o);
  }
}

static void schedule(rf_engine *e);

/* HTTP/2 requests started in one turn leave together: their HEADERS frames
 * share TLS records and sends instead of one record per request. */
void rf_schedule(rf_engine *e) {
  e->h2_batch = true;
  schedule(e);
  e->h2_batch = false;
  rf_h2_flush_batch(e);
}

static void schedule(rf_engine *e) {
  run_ready(e);
  /* the global queue, in submission order; one that ends without a request
   * (canceled, a URL that cannot be fetched) needs a result slot only */
  while (e->q_head && e->free_slots) {
    rf_req *q = e->q_head;
    if (!q->t_submit) /* submitted from inside this turn (a callback) */
      rf_stamp_submitted(e);
    if (q->pre_error || q->canceled) {
      e->q_head = q->next;
      e->queued--;
      if (q->canceled)
        fail_early(e, q, RF_ERR_CANCELED, "canceled before it ran");
      else
        fail_early(e, q, q->pre_error, q->pre_msg);
      continue;
    }
    if (!global_capacity(e))
      break;
    rf_origin *o = origin_get(e, &q->u);
    if (!o) {
      e->q_head = q->next;
      e->queued--;
      fail_early(e, q, RF_ERR_INTERNAL, "out of memory");
      continue;
    }
    /* keep each origin's order; the engine's own robots.txt request goes
     * before the requests that wait for it */
    bool internal = (q->flags & RF_REQ_INTERNAL) != 0;
    enum start_how how = o->nwait && !internal ? WAIT_ORIGIN : how_to_start(e, o, q);
    if (how < 0)
      break;
    e->q_head = q->next;
    if (how > 0) {
      e->queued--;
      start(e, o, q, how);
    } else {
      wait_push(o, q, internal);
      e->st.origin_waits++;
    }
    rf_origin_touch(e, o);
  }
  if (!e->q_head)
    e->q_tail = NULL;
  run_ready(e); /* an origin's first request queued its robots.txt request */
}

/* rf_cancel_all's part for requests not on a connection: those waiting for
 * a retry or for their origin go back to the global queue, and everything
 * there is marked, so the scheduler ends each with a result as result slots
 * come free. Returns how many. */
size_t rf_cancel_queued(rf_engine *e) {
  size_t n = 0;
  /* retry back-offs: out of the timer heap (collected first: removing
   * reorders the heap) */
  uint32_t k = 0;
  for (uint32_t i = 0; i < e->timers.n; i++)
    if (e->timers.h[i]->kind == RF_TIMER_REQ)
      k++;
  rf_req **w = k ? malloc(sizeof *w * k) : NULL;
  if (w) {
    k = 0;
    for (uint32_t i = 0; i < e->timers.n; i++)
      if (e->timers.h[i]->kind == RF_TIMER_REQ)
        w[k++] = RF_CONTAINER(e->timers.h[i], rf_req, timer);
    for (uint32_t i = 0; i < k; i++) {
      rf_timer_set(&e->timers, &w[i]->timer, 0);
      e->queued--;
      rf_requeue_global_front(e, w[i]);
    }
    free(w);
  } /* (out of memory: they are canceled when their back-off ends) */
  /* origin queues */
  for (uint32_t i = 0; i <= e->otab_mask; i++)
    for (rf_origin *o = e->otab[i]; o; o = o->hnext)
      while (o->nwait) {
        rf_req *q = wait_pop(o);
        e->queued--;
        rf_requeue_global_front(e, q);
      }
  for (rf_req *q = e->q_head; q; q = q->next) {
    q->canceled = true;
    n++;
  }
  return n;
}
