/* The engine: configuration, lifecycle, submission and the loop turn that
 * submits every queued SQE in one call and dispatches completions in batches. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "engine/internal.h"

#define CQE_BATCH 256
#define DEFAULT_CONCURRENCY 100

void rf_config_init(rf_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->concurrency = DEFAULT_CONCURRENCY;
  cfg->idle_timeout_ms = 30000;
  cfg->connect_timeout_ms = 10000;
  cfg->read_timeout_ms = 30000;
  cfg->max_header_bytes = 65536;
  cfg->max_headers = 128;
  cfg->memory_body_max = 8u << 20;
  cfg->max_ratio = 1000;
  cfg->dns_timeout_ms = 2000;
  cfg->retry_delay_ms = 1000;
  cfg->happy_eyeballs_ms = 250;
  cfg->capture_max = 64u << 20;
  cfg->retry_max_delay_ms = 600000;
}

void rf_request_init(rf_request *rq) {
  memset(rq, 0, sizeof *rq);
  rq->body_fd = -1;
  rq->max_redirects = 20;
}

static void update_clock(rf_engine *e) {
  e->now_us = rf_now_us();
  e->now_ms = e->now_us / 1000u;
}

static int fail_new(rf_engine *e, int rc, char *err, size_t errlen, const char *msg) {
  if (msg && err && errlen)
    snprintf(err, errlen, "%s", msg);
  rf_engine_free(e);
  return rc;
}

/* Idle keep-alive connections are what makes a list spread over many hosts
 * fast (each host's next URL finds its connection still open), so by default
 * keep as many as the open-files limit leaves room for, and at most what
 * 1/64 of the memory holds at ~32 KiB per idle TLS connection (kernel socket
 * and BoringSSL state). */
static unsigned default_max_idle(unsigned fd_room, unsigned concurrency) {
  unsigned by_fd = fd_room > concurrency + 64 ? fd_room - concurrency - 64 : 0;
  long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
  uint64_t mem = pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize : 1ull << 30;
  uint64_t by_mem = mem / 64 / 32768;
  unsigned n = by_mem < by_fd ? (unsigned)by_mem : by_fd;
  return n > concurrency ? n : concurrency;
}

/* cfg.host_rates belongs to the caller: one block holds our copy (the array,
 * then the host names). */
static int copy_host_rates(rf_engine *e) {
  rf_config *c = &e->cfg;
  size_t bytes = sizeof(rf_host_rate) * c->n_host_rates;
  for (size_t i = 0; i < c->n_host_rates; i++)
    bytes += strlen(c->host_rates[i].host) + 1;
  if (c->n_host_rates == 0 || !(e->host_rates = malloc(bytes))) {
    c->host_rates = NULL;
    c->n_host_rates = 0;
    return bytes == 0 ? 0 : -ENOMEM;
  }
  char *p = (char *)(e->host_rates + c->n_host_rates);
  for (size_t i = 0; i < c->n_host_rates; i++) {
    size_t n = strlen(c->host_rates[i].host) + 1;
    e->host_rates[i] = c->host_rates[i];
    e->host_rates[i].host = memcpy(p, c->host_rates[i].host, n);
    p += n;
  }
  c->host_rates = e->host_rates;
  return 0;
}

/* Sockets, slots and file-table entries all come out of RLIMIT_NOFILE. */
static unsigned nofile_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
    return 65536;
  return rl.rlim_cur > 1048576 ? 1048576u : (unsigned)rl.rlim_cur;
}

/* Each connection holds one file-table entry; closing ones hold theirs
 * until the kernel confirms. Leave room for c-ares, body files and stdio. */
static unsigned nofile_room(void) {
  unsigned nofile = nofile_limit();
  return nofile > 512 ? nofile - 256 : nofile / 2;
}

unsigned rf_max_concurrency(void) {
  unsigned room = nofile_room();
  return room > 32 ? room - 32 : 0;
}

/* Fills in the sizes the caller left at 0 and checks they fit the
 * open-files limit. -EINVAL with a message when they do not. */
static int size_engine(rf_engine *e, char *err, size_t errlen) {
  rf_config *c = &e->cfg;
  if (c->concurrency == 0)
    c->concurrency = DEFAULT_CONCURRENCY;
  if (c->max_header_bytes < 1024)
    c->max_header_bytes = 1024;
  if (c->max_headers < 8)
    c->max_headers = 8;
  unsigned room = nofile_room();
  if (c->concurrency > rf_max_concurrency()) {
    snprintf(err, errlen, "concurrency %u is too high for the open-files limit %u (at most %u)",
             c->concurrency, nofile_limit(), rf_max_concurrency());
    return -EINVAL;
  }
  /* connection structs for the busy ones, the idle ones and some closing */
  if (c->max_idle == 0)
    c->max_idle = default_max_idle(room, c->concurrency);
  uint64_t want = (uint64_t)c->concurrency + c->max_idle + 32;
  e->max_conns = want < room ? (uint32_t)want : room;
  if (c->max_idle > e->max_conns - c->concurrency)
    c->max_idle = e->max_conns - c->concurrency; /* what the open-files limit leaves */
  if (c->pipeline == 0)
    c->pipeline = 1;
  if (c->per_host == 0 || c->per_host > c->concurrency)
    c->per_host = c->concurrency;
  if (c->idle_per_host == 0)
    c->idle_per_host = c->per_host;
  /* requests waiting for a throttled or paused origin count here too: room
   * for them without stopping the input at once */
  if (c->queue_size == 0)
    c->queue_size = c->concurrency * 4 < 4096 ? 4096 : c->concurrency * 4;
  if (c->result_slots < c->concurrency) /* running requests + a backlog of finished ones */
    c->result_slots = c->concurrency + c->concurrency / 4 + 16;
  e->nslots = c->result_slots;
  if (c->ip_version != 0 && c->ip_version != 4 && c->ip_version != 6) {
    snprintf(err, errlen, "ip_version must be 0, 4 or 6");
    return -EINVAL;
  }
  return 0;
}

int rf_engine_new(const rf_config *cfg_in, rf_engine **out, char *err, size_t errlen) {
  char dummy[8];
  if (!err || !errlen) {
    err = dummy;
    errlen = sizeof dummy;
  }
  err[0] = 0;
  *out = NULL;
  rf_engine *e = calloc(1, sizeof *e);
  if (!e)
    return -ENOMEM;
  e->wake_fd = -1;
  rf_config def;
  rf_config_init(&def);
  e->cfg = cfg_in ? *cfg_in : def;
  if (size_engine(e, err, errlen) < 0) {
    free(e);
    return -EINVAL;
  }
  rf_config *c = &e->cfg;
  /* the strings in cfg belong to the caller: keep only what we copy */
  e->user_agent = strdup(c->user_agent ? c->user_agent : "ringfetch/0.1.0");
  e->robots_agent = strdup(c->robots_agent ? c->robots_agent : "ringfetch");
  c->user_agent = c->robots_agent = NULL;
  if (!e->user_agent || !e->robots_agent)
    return fail_new(e, -ENOMEM, err, errlen, "out of memory");

  update_clock(e);
  e->rng = (e->now_us ^ (uint64_t)(uintptr_t)e) | 1; /* xorshift: never 0 */
  e->area_t_us = e->now_us;
  e->epoch_us = e->now_us;
  e->conns = calloc(e->max_conns, sizeof *e->conns);
  e->scratch_size = 16384;
  e->scratch = malloc(e->scratch_size);
  if (!e->conns || !e->scratch || rf_slots_init(e) < 0 || rf_origins_init(e) < 0 ||
      rf_timers_init(&e->timers, 1024) < 0)
    return fail_new(e, -ENOMEM, err, errlen, "out of memory");

  rf_tls_ctx_opts topts = {
      .insecure = c->insecure, .ca_file = c->ca_file, .ca_dir = c->ca_dir, .ca_pem = c->ca_pem,
      .h2 = c->http2};
  if (rf_tls_ctx_new(&topts, &e->tls, err, errlen) < 0)
    return fail_new(e, -EINVAL, NULL, 0, NULL);
  c->ca_file = c->ca_dir = c->ca_pem = NULL;

  int rc = rf_ring_setup(e, err, errlen);
  if (rc < 0)
    return fail_new(e, rc, NULL, 0, NULL);
  e->st.ring_flags = e->ring_flags;
  e->st.direct_files = e->direct;
  e->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (e->wake_fd < 0)
    return fail_new(e, -errno, err, errlen, "eventfd failed");

  if (copy_host_rates(e) < 0)
    return fail_new(e, -ENOMEM, err, errlen, "out of memory");
  rc = rf_routes_init(e, err, errlen);
  if (rc == 0)
    rc = rf_proxies_init(e, err, errlen);
  if (rc < 0)
    return fail_new(e, rc, NULL, 0, NULL);

  rc = rf_resolver_new(e, &e->dns, err, errlen);
  if (rc < 0)
    return fail_new(e, rc, NULL, 0, NULL);
  c->resolve = NULL;
  c->n_resolve = 0;
  c->dns_servers = NULL;
  c->hosts_file = NULL;
  *out = e;
  return 0;
}

void rf_engine_free(rf_engine *e) {
  if (!e)
    return;
  rf_resolver_free(e->dns); /* before origins: its callbacks reference them */
  e->dns = NULL;
  if (e->rx.bufs)
    rf_ring_teardown(e); /* cancels every operation, drops direct sockets */
  if (e->wake_fd >= 0)
    close(e->wake_fd);
  rf_outfiles_free(e);   /* after the ring: no write reads their chunks any more */
  rf_streams_free(e);
  /* requests waiting to be retried (before the owners of other timers go) */
  for (uint32_t i = 0; i < e->timers.n; i++)
    if (e->timers.h[i]->kind == RF_TIMER_REQ)
      rf_req_free(e, RF_CONTAINER(e->timers.h[i], rf_req, timer));

  if (e->conns) {
    for (uint32_t i = 0; i < e->conns_used; i++) {
      rf_conn *c = &e->conns[i];
      if (!e->direct && c->has_socket && c->state != C_FREE && !c->close_done)
        close(c->fd);
      rf_tls_free(c->tls);
      rf_h2_free(c);
      rf_buf_free(&c->tx[0]);
      rf_buf_free(&c->tx[1]);
    }
    free(e->conns);
  }
  rf_req *q = e->q_head;
  while (q) {
    rf_req *n = q->next;
    rf_req_free(e, q);
    q = n;
  }
  rf_slots_free(e);
  rf_origins_free(e);
  rf_timers_free(&e->timers);
  rf_tls_ctx_free(e->tls);
  free(e->scratch);
  rf_buf_free(&e->headbuf);
  rf_smem_drop(&e->smem); /* after the HTTP/2 sessions above */
  while (e->req_pool) {
    rf_req *n = e->req_pool->next;
    free(e->req_pool);
    e->req_pool = n;
  }
  free(e->user_agent);
  free(e->robots_agent);
  free(e->host_rates);
  rf_routes_free(e);
  free(e);
}

/* ---- submission ----------------------------------------------------------------- */

static void set_pre_error(rf_req *q, rf_error err, const char *msg) {
  if (!q->pre_error) {
    q->pre_error = err;
    q->pre_msg = msg;
  }
}

/* A new request holding its own copy of the URL and the caller's scalar
 * settings; NULL when out of memory. */
static rf_req *req_new(rf_engine *e, const rf_request *rq) {
  rf_req *q = rf_req_alloc(e);
  if (!q)
    return NULL;
  size_t ulen = rq->url_len ? rq->url_len : strlen(rq->url);
  q->url = malloc(ulen + 1);
  if (!q->url) {
    rf_req_free(e, q);
    return NULL;
  }
  memcpy(q->url, rq->url, ulen);
  q->url[ulen] = 0;
  q->url_len = ulen;
  q->url0 = q->url;
  q->url0_len = ulen;
  q->tag = rq->tag;
  q->timer.kind = RF_TIMER_REQ;
  q->attempts = 1;
  q->max_redirects = rq->max_redirects;
  q->connect_timeout_ms = rq->connect_timeout_ms;
  q->read_timeout_ms = rq->read_timeout_ms;
  q->max_time_ms = rq->max_time_ms;
  q->body_mode = rq->body_mode;
  q->body_fd = rq->body_fd;
  q->flags = rq->flags & ~RF_REQ_INTERNAL; /* the engine's own bit */
  q->fresh_conn = (rq->flags & RF_REQ_NEW_CONN) != 0;
  return q;
}

/* The method (POST when there is a body, else GET, unless given); an invalid
 * one becomes GET and a pre-error. */
static void set_method(rf_req *q, const rf_request *rq) {
  const char *m = rq->method ? rq->method : rq->body_len ? "POST" : "GET";
  size_t mlen = strlen(m);
  if (mlen >= sizeof q->method || rf_http_method_valid(m, mlen) < 0) {
    set_pre_error(q, RF_ERR_BAD_REQUEST, "invalid method");
    m = "GET";
    mlen = 3;
  }
  memcpy(q->method, m, mlen + 1);
  q->head = strcmp(q->method, "HEAD") == 0;
}

/* Copies the caller's headers into one block: the array, then every name and
 * value; an invalid header is a pre-error. -ENOMEM when out of memory. */
static int copy_headers(rf_req *q, const rf_request *rq) {
  if (!rq->n_headers)
    return 0;
  size_t bytes = sizeof(rf_hdr_in) * rq->n_headers;
  for (size_t i = 0; i < rq->n_headers; i++)
    bytes += rq->headers[i].name_len + rq->headers[i].value_len;
  q->hdrs = malloc(bytes);
  if (!q->hdrs)
    return -ENOMEM;
  char *p = (char *)(q->hdrs + rq->n_headers);
  for (size_t i = 0; i < rq->n_headers; i++) {
    const rf_header *h = &rq->headers[i];
    memcpy(p, h->name, h->name_len);
    q->hdrs[i].name = p;
    q->hdrs[i].name_len = h->name_len;
    p += h->name_len;
    memcpy(p, h->value, h->value_len);
    q->hdrs[i].value = p;
    q->hdrs[i].value_len = h->value_len;
    p += h->value_len;
    const char *herr = NULL;
    if (rf_http_header_valid(&q->hdrs[i], &herr) < 0)
      set_pre_error(q, RF_ERR_BAD_REQUEST, herr);
  }
  q->n_hdrs = rq->n_headers;
  return 0;
}

/* Copies the request body (or its file's path) and checks the body mode
 * against what came with it. -ENOMEM when out of memory. */
static int copy_body(rf_req *q, const rf_request *rq) {
  if (rq->body_len) {
    q->body = malloc(rq->body_len);
    if (!q->body)
      return -ENOMEM;
    memcpy(q->body, rq->body, rq->body_len);
    q->body_len = rq->body_len;
  }
  if (q->body_mode == RF_BODY_FILE) {
    if (!rq->body_path || !*rq->body_path)
      set_pre_error(q, RF_ERR_BAD_REQUEST, "RF_BODY_FILE without body_path");
    else if (!(q->body_path = strdup(rq->body_path)))
      return -ENOMEM;
  } else if (q->body_mode == RF_BODY_FD && q->body_fd < 0) {
    set_pre_error(q, RF_ERR_BAD_REQUEST, "RF_BODY_FD without body_fd");
  } else if ((unsigned)q->body_mode > RF_BODY_FD) {
    set_pre_error(q, RF_ERR_BAD_REQUEST, "unknown body mode");
    q->body_mode = RF_BODY_DISCARD;
  }
  return 0;
}

/* A request built from rq: its own copies, the URL parsed, the method and
 * headers checked (a problem becomes its pre_error). NULL when out of memory. */
static rf_req *req_build(rf_engine *e, const rf_request *rq) {
  rf_req *q = req_new(e, rq);
  if (!q)
    return NULL;
  const char *msg = NULL;
  if (rf_url_parse(q->url, q->url_len, &q->u, &msg) < 0)
    set_pre_error(q, RF_ERR_BAD_URL, msg);
  set_method(q, rq);
  if (copy_headers(q, rq) < 0 || copy_body(q, rq) < 0) {
    rf_req_free(e, q);
    return NULL;
  }
  return q;
}

/* Appends q to the global queue. Without a submission time (t_submit 0) it
 * gets the next turn's clock (rf_stamp_submitted): the engine cannot act on
 * it before then. */
static void enqueue(rf_engine *e, rf_req *q) {
  if (!q->t_submit && !e->q_unstamped)
    e->q_unstamped = q;
  if (e->q_tail)
    e->q_tail->next = q;
  else
    e->q_head = q;
  e->q_tail = q;
  e->queued++;
  e->outstanding++;
  e->st.submitted++;
}

int rf_submit(rf_engine *e, const rf_request *rq) {
  if (!rq || !rq->url)
    return -EINVAL;
  if (e->queued >= e->cfg.queue_size)
    return -EAGAIN;
  uint64_t t = rf_now_us(); /* when the call came, before the copying and parsing */
  rf_req *q = req_build(e, rq);
  if (!q)
    return -ENOMEM;
  q->t_submit = t;
  enqueue(e, q);
  return 0;
}

int rf_prepare(rf_engine *e, const rf_request *rq, rf_prepared **out, char *err, size_t errlen) {
  *out = NULL;
  if (!rq || !rq->url)
    return -EINVAL;
  rf_prepared *p = calloc(1, sizeof *p);
  rf_req *q = p ? req_build(e, rq) : NULL;
  if (!q) {
    free(p);
    return -ENOMEM;
  }
  if (q->pre_error) {
    if (err && errlen)
      snprintf(err, errlen, "%s: %s", rf_error_name(q->pre_error), q->pre_msg ? q->pre_msg : "");
    rf_req_free(e, q);
    free(p);
    return -EINVAL;
  }
  p->proto = *q; /* the struct itself goes back to the pool; what it owns is p's now */
  q->url0 = NULL;
  q->hdrs = NULL;
  q->body = NULL;
  q->body_path = NULL;
  rf_req_free(e, q);
  p->proto.next = NULL;
  p->refs = 1;
  *out = p;
  return 0;
}

int rf_submit_prepared(rf_engine *e, rf_prepared *p, uint64_t tag) {
  if (!p)
    return -EINVAL;
  if (e->queued >= e->cfg.queue_size)
    return -EAGAIN;
  rf_req *q = rf_req_take(e);
  if (!q)
    return -ENOMEM;
  *q = p->proto; /* shares the URL, headers and body: nothing copied, parsed or checked again */
  q->tag = tag;
  q->t_submit = 0; /* the next turn's clock: no clock read per submission */
  q->prep = p;
  p->refs++;
  enqueue(e, q);
  return 0;
}

void rf_prepared_unref(rf_prepared *p) {
  if (--p->refs)
    return;
  rf_req *q = &p->proto;
  free(q->url0);
  free(q->hdrs);
  free(q->body);
  free(q->body_path);
  rf_buf_free(&p->head);
  free(p);
}

void rf_prepared_free(rf_prepared *p) {
  if (p)
    rf_prepared_unref(p);
}

size_t rf_outstanding(const rf_engine *e) { return e->outstanding; }

/* ---- the loop ---------------------------------------------------------------------- */

static void dispatch(rf_engine *e, uint64_t ud, int res, unsigned flags) {
  enum rf_op op = rf_ud_op(ud);
  uint32_t idx = rf_ud_idx(ud);
  switch (op) {
  case OP_SOCKET:
  case OP_SOCKOPT:
  case OP_CONNECT:
  case OP_SEND:
  case OP_RECV:
  case OP_CANCEL:
  case OP_CLOSE: {
    if (idx >= e->conns_used)
      return;
    rf_conn *c = &e->conns[idx];
    if (c->state == C_FREE || c->gen != rf_ud_gen(ud)) {
      /* a struct is freed (and its generation moves on) only after the CQE
       * of its last operation: debug builds stop here, release builds drop it */
      assert(!"completion for a freed connection");
      if (op == OP_RECV && (flags & IORING_CQE_F_BUFFER))
        rf_buf_recycle(e, (int)(flags >> IORING_CQE_BUFFER_SHIFT));
      return;
    }
    rf_conn_on_cqe(e, c, op, res, flags);
    return;
  }
  case OP_FILE_OPEN:
  case OP_FILE_WRITE:
  case OP_FILE_CLOSE:
    if (idx < e->nslots)
      rf_sink_on_cqe(e, &e->slots[idx], op, res);
    return;
  case OP_DNS_POLL:
  case OP_DNS_POLL_REMOVE:
    rf_resolver_on_cqe(e, ud, res);
    return;
  case OP_OUT_WRITE:
    rf_outfile_on_cqe(e, idx, res);
    return;
  case OP_WAKE:
    e->wake_armed = false; /* rearmed before the next wait */
    return;
  case OP_STREAM_CONNECT:
  case OP_STREAM_SEND:
  case OP_STREAM_RECV:
    rf_stream_on_cqe(e, ud, res);
    return;
  default:
    return;
  }
}

static void rearm_nobuf(rf_engine *e) {
  rf_conn *c = e->nobuf_head;
  e->nobuf_head = NULL;
  while (c) {
    rf_conn *next = c->next;
    c->next = NULL;
    c->on_nobuf = false;
    rf_conn_arm_recv(e, c);
    c = next;
  }
}

static int reap(rf_engine *e) {
  struct io_uring_cqe *cqes[CQE_BATCH];
  struct {
    uint64_t ud;
    int res;
    unsigned flags;
  } batch[CQE_BATCH];
  int total = 0;
  for (;;) {
    unsigned n = io_uring_peek_batch_cqe(&e->ring, cqes, CQE_BATCH);
    if (n == 0)
      break;
    /* copy out and give the CQ back before running handlers */
    for (unsigned i = 0; i < n; i++) {
      batch[i].ud = cqes[i]->user_data;
      batch[i].res = cqes[i]->res;
      batch[i].flags = cqes[i]->flags;
    }
    io_uring_cq_advance(&e->ring, n);
    for (unsigned i = 0; i < n; i++)
      dispatch(e, batch[i].ud, batch[i].res, batch[i].flags);
    total += (int)n;
  }
  e->st.cqes += (uint64_t)total;
  return total;
}

static void run_timers(rf_engine *e) {
  rf_timer *t;
  while ((t = rf_timers_expired(&e->timers, e->now_ms)) != NULL) {
    switch ((enum rf_timer_kind)t->kind) {
    case RF_TIMER_CONN:
      rf_conn_on_timer(e, RF_CONTAINER(t, rf_conn, timer));
      break;
    case RF_TIMER_REQ:
      rf_outcome_on_timer(e, RF_CONTAINER(t, rf_req, timer));
      break;
    case RF_TIMER_ORIGIN:
      rf_origin_on_timer(e, RF_CONTAINER(t, rf_origin, timer));
      break;
    default:
      assert(!"timer of an unknown kind");
    }
  }
}

static void after_events(rf_engine *e) {
  /* connections that found no receive buffer retry only once some came
   * back; re-arming them blindly would spin on -ENOBUFS */
  bool recycled = e->rx.pending > 0;
  rf_buf_flush(e);
  if (recycled && e->nobuf_head)
    rearm_nobuf(e);
  rf_schedule(e);
}

/* Advances the time integrals of in-flight and queued requests: the mean
 * concurrency a run achieved is inflight_area_us / wall time. */
static void advance_area(rf_engine *e) {
  uint64_t dt = e->now_us - e->area_t_us;
  e->area_t_us = e->now_us;
  e->st.inflight_area_us += dt * e->inflight;
  e->st.active_area_us += dt * e->active;
  e->st.queued_area_us += dt * e->queued;
  if (e->inflight)
    e->st.busy_us += dt;
}

static void update_clock_area(rf_engine *e) {
  update_clock(e);
  advance_area(e);
}

/* Keeps a read on the wake eventfd in the ring while the loop waits: an
 * rf_wake from another thread completes it and ends the wait. A write made
 * while no read was pending leaves the counter set, so the next read
 * completes at once: no wake-up is lost. */
static void arm_wake(rf_engine *e) {
  if (e->wake_armed || e->wake_fd < 0)
    return;
  struct io_uring_sqe *sqe = rf_sqe(e);
  io_uring_prep_read(sqe, e->wake_fd, &e->wake_val, sizeof e->wake_val, 0);
  io_uring_sqe_set_data64(sqe, rf_ud(0, 0, OP_WAKE));
  e->wake_armed = true;
}

void rf_wake(rf_engine *e) {
  uint64_t one = 1;
  ssize_t n = write(e->wake_fd, &one, sizeof one); /* EAGAIN: the counter is already set */
  (void)n;
}

/* Batched waits (rf_config.batch_us): how many completions a turn waits
 * for; 1 = none. */
#define IORING_FEAT_MIN_TIMEOUT_ (1u << 15) /* Linux 6.12; liburing 2.3 predates it */
static unsigned batch_nr(const rf_engine *e) {
  if (!e->cfg.batch_us || e->inflight < 16 || !(e->ring.features & IORING_FEAT_MIN_TIMEOUT_))
    return 1;
  return e->inflight / 8 > 64 ? 64 : e->inflight / 8;
}

/* Submits and waits for nr completions, but returns once batch_us has passed
 * since the wait began and at least one completion is there (the kernel's
 * min-wait; the first completion is waited for as long as tsp says).
 * liburing 2.3 has no call for it: the SQ is flushed here the way
 * liburing's submit does (no SQPOLL), then one io_uring_enter. */
static int wait_batch(rf_engine *e, unsigned nr, const struct __kernel_timespec *tsp) {
  struct io_uring_sq *sq = &e->ring.sq;
  unsigned tail = sq->sqe_tail;
  if (sq->sqe_head != tail) {
    sq->sqe_head = tail;
    io_uring_smp_store_release(sq->ktail, tail);
  }
  unsigned to_submit = tail - *sq->khead;
  struct {
    uint64_t sigmask;
    uint32_t sigmask_sz;
    uint32_t min_wait_usec; /* "pad" in liburing 2.3's io_uring_getevents_arg */
    uint64_t ts;
  } arg = {0, _NSIG / 8, e->cfg.batch_us, (uint64_t)(uintptr_t)tsp};
  _Static_assert(sizeof arg == sizeof(struct io_uring_getevents_arg), "the kernel's layout");
  return io_uring_enter2((unsigned)e->ring.ring_fd, to_submit, nr, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG,
                         (sigset_t *)&arg, sizeof arg);
}

int rf_run_us(rf_engine *e, int64_t timeout_us) {
  update_clock_area(e);
  /* Deadlines that passed while the caller was away (between two calls of a
   * Python Client, say) act before anything is scheduled -- an idle
   * connection past its idle timeout is closed, not handed a request -- but
   * only after what arrived meanwhile has been read: it may be the answer a
   * deadline is waiting for. An extra kernel entry only when one is due. */
  if (rf_timers_next(&e->timers) <= e->now_ms) {
    io_uring_submit_and_get_events(&e->ring);
    update_clock_area(e);
    reap(e);
    run_timers(e);
  }
  rf_stamp_submitted(e);
  e->st.loop_turns++;
  after_events(e);
  advance_area(e); /* what just started counts from now */

  uint64_t wait_us = e->done_head ? 0 : timeout_us < 0 ? UINT64_MAX : (uint64_t)timeout_us;
  uint64_t t = rf_timers_next(&e->timers); /* ms */
  if (t != UINT64_MAX) {
    uint64_t due_us = t * 1000u;
    uint64_t left = due_us <= e->now_us ? 0 : due_us - e->now_us;
    if (left < wait_us)
      wait_us = left;
  }
  uint64_t d = rf_resolver_next_ms(e);
  if (d != UINT64_MAX && d * 1000u < wait_us)
    wait_us = d * 1000u;

  if (wait_us != 0)
    arm_wake(e);
  int rc;
  if (wait_us == 0) {
    rc = io_uring_submit_and_get_events(&e->ring);
  } else {
    struct io_uring_cqe *cqe = NULL;
    struct __kernel_timespec ts, *tsp = NULL;
    if (wait_us != UINT64_MAX) {
      ts.tv_sec = (long long)(wait_us / 1000000u);
      ts.tv_nsec = (long long)(wait_us % 1000000u) * 1000;
      tsp = &ts;
    }
    unsigned nr = batch_nr(e);
    if (nr > 1)
      e->st.batched_waits++;
    rc = nr > 1 ? wait_batch(e, nr, tsp) : io_uring_submit_and_wait_timeout(&e->ring, &cqe, 1, tsp, NULL);
  }
  if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN)
    return rc;

  update_clock_area(e);
  reap(e);
  run_timers(e);
  rf_resolver_tick(e);
  after_events(e);
  advance_area(e);
  e->st.inflight = e->inflight;
  e->st.open_conns = e->open_conns;
  return (int)e->ndone;
}

int rf_run(rf_engine *e, int timeout_ms) {
  return rf_run_us(e, timeout_ms < 0 ? -1 : (int64_t)timeout_ms * 1000);
}

uint64_t rf_clock_us(const rf_engine *e) {
  uint64_t now = rf_now_us();
  return now > e->epoch_us ? now - e->epoch_us : 0;
}

uint64_t rf_turn_us(const rf_engine *e) { return e->now_us > e->epoch_us ? e->now_us - e->epoch_us : 0; }

void rf_get_stats(const rf_engine *e, rf_stats *out) {
  *out = e->st;
  out->inflight = e->inflight;
  out->open_conns = e->open_conns;
  out->active = e->active;
  out->idle = e->nidle;
}
