/* The connection state machine:
 *   RESOLVING -> CONNECTING -> [TLS] -> BUSY -> IDLE (keep-alive) -> BUSY ...
 *   any state -> CLOSING -> FREE
 * Every step is an io_uring operation or a pure in-memory transformation
 * (llhttp, BoringSSL over memory); nothing here blocks. */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "engine/internal.h"

#define RF_BGID 1

static const int one = 1;

static void send_request(rf_engine *e, rf_conn *c);
static void tls_pump(rf_engine *e, rf_conn *c);
static void handle_eof(rf_engine *e, rf_conn *c);
static int on_headers(void *ud, rf_resp *r);
static int on_body(void *ud, const char *p, size_t n);

/* ---- small helpers ------------------------------------------------------ */

const char *rf_conn_state_name(enum conn_state st) {
  switch (st) {
  case C_FREE: return "free";
  case C_RESOLVING: return "resolving";
  case C_CONNECTING: return "connecting";
  case C_PROXY: return "proxy";
  case C_TLS: return "tls";
  case C_BUSY: return "busy";
  case C_IDLE: return "idle";
  case C_CLOSING: return "closing";
  }
  return "?";
}

static struct io_uring_sqe *conn_sqe(rf_engine *e, rf_conn *c) {
  c->ops++;
  return rf_sqe(e);
}

/* Sets user_data and the fixed-file flag; call after io_uring_prep_*. */
static void tag(rf_engine *e, rf_conn *c, struct io_uring_sqe *sqe, enum rf_op op, bool uses_fd) {
  io_uring_sqe_set_data64(sqe, rf_ud(c->idx, c->gen, op));
  if (uses_fd && e->direct)
    sqe->flags |= IOSQE_FIXED_FILE;
}

static const char *origin_name(const rf_conn *c) { return c->origin->host; }

static unsigned req_connect_timeout(rf_engine *e, const rf_slot *s) {
  return s && s->req->connect_timeout_ms ? s->req->connect_timeout_ms : e->cfg.connect_timeout_ms;
}
unsigned rf_read_timeout_ms(const rf_engine *e, const rf_slot *s) {
  return s ? s->read_ms : e->cfg.read_timeout_ms;
}

/* Nobody reads the response's fields (RF_REQ_NO_HEADERS): count them, do
 * not keep them. Redirects, retries (Retry-After), decoding and capture read
 * them, so their requests keep them. */
bool rf_req_lean(const rf_engine *e, const rf_req *q) {
  return (q->flags & (RF_REQ_NO_HEADERS | RF_REQ_FOLLOW | RF_REQ_DECODE | RF_REQ_CAPTURE)) == RF_REQ_NO_HEADERS &&
         !e->cfg.retries;
}

/* Arms the connection's one timer: the phase deadline or the request's total
 * deadline, whichever comes first. phase_ms 0 = none. */
static uint64_t earliest(uint64_t a, uint64_t b) { return !a ? b : !b ? a : a < b ? a : b; }

static void resp_init(rf_engine *e, rf_conn *c) {
  rf_resp_init(&c->resp, NULL, 0, NULL, 0, on_headers, on_body, c);
  rf_resp_set_strict(&c->resp, e->cfg.strict_http);
}

static void arm_timer(rf_engine *e, rf_conn *c) {
  uint64_t due = c->phase_due_ms;
  if (c->slot)
    due = earliest(due, c->slot->max_time_due_ms);
  if (c->warmer)
    due = earliest(due, c->warm_due_ms);
  if (c->h2)
    due = earliest(due, rf_h2_next_due_ms(c));
  due = earliest(due, c->he_due_ms);
  rf_timer_set(&e->timers, &c->timer, due);
}

static void set_deadline(rf_engine *e, rf_conn *c, unsigned phase_ms) {
  c->phase_due_ms = phase_ms ? e->now_ms + phase_ms : 0;
  arm_timer(e, c);
}

/* Fails the connection's request (if any; on an HTTP/2 connection every
 * stream's) and closes the connection. */
void rf_conn_fail(rf_engine *e, rf_conn *c, rf_error err, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (c->slot) {
    rf_slot_fail(e, c->slot, err, "%s", msg); /* detaches and closes c */
    return;
  }
  if (c->h2)
    rf_h2_fail_all(e, c, err, msg);
  rf_conn_close(e, c);
}

static rf_error errno_kind(int err) {
  switch (err) {
  case -ECONNREFUSED: return RF_ERR_CONNECT_REFUSED;
  case -ETIMEDOUT: return RF_ERR_CONNECT_TIMEOUT;
  case -ECONNRESET:
  case -EPIPE:
  case -ECONNABORTED: return RF_ERR_RESET;
  default: return RF_ERR_CONNECT;
  }
}

_Static_assert(sizeof((rf_result *)0)->remote_addr == sizeof((rf_conn *)0)->addr_str,
               "a connection's address string is copied whole into results");

static void format_addr(const struct sockaddr_storage *ss, char *out, size_t n) {
  char ip[INET6_ADDRSTRLEN] = "?";
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
    snprintf(out, n, "%s:%u", ip, ntohs(a->sin_port));
  } else {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
    inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
    snprintf(out, n, "[%s]:%u", ip, ntohs(a->sin6_port));
  }
}

/* ---- transmit ------------------------------------------------------------ */

static void submit_send(rf_engine *e, rf_conn *c) {
  rf_buf *b = &c->tx[!c->fill];
  struct io_uring_sqe *sqe = conn_sqe(e, c);
  io_uring_prep_send(sqe, c->fd, b->p + c->send_off, b->len - c->send_off, MSG_NOSIGNAL);
  tag(e, c, sqe, OP_SEND, true);
  c->send_inflight = true;
}

/* Sends whatever accumulated, unless a send is already in flight (one send
 * per connection keeps the byte order). */
static void flush_tx(rf_engine *e, rf_conn *c) {
  if (c->send_inflight || c->tx[c->fill].len == 0 || c->state == C_CLOSING)
    return;
  c->fill = !c->fill;
  c->send_off = 0;
  submit_send(e, c);
}

void rf_conn_flush(rf_engine *e, rf_conn *c) { flush_tx(e, c); }

int rf_conn_write(rf_engine *e, rf_conn *c, const void *p, size_t n) {
  if (!c->tls) {
    if (rf_buf_append(&c->tx[c->fill], p, n) == 0)
      return 0;
    rf_conn_fail(e, c, RF_ERR_INTERNAL, "out of memory for the send buffer");
    return -1;
  }
  if (rf_tls_write(c->tls, p, n) == RF_TLS_OK)
    return 0;
  rf_conn_fail(e, c, RF_ERR_TLS, "%s", rf_tls_error(c->tls));
  return -1;
}

static int tls_out(void *ud, const uint8_t *p, size_t n) {
  rf_conn *c = ud;
  return rf_buf_append(&c->tx[c->fill], p, n) < 0 ? -1 : 0;
}

/* ---- receive -------------------------------------------------------------- */

/* A body going to a file or fd may fill its sink and pause the connection
 * (rf_sink_full); one kept in memory, counted or hashed never does. */
static bool may_pause(const rf_slot *s) {
  return s->req->body_mode == RF_BODY_FILE || s->req->body_mode == RF_BODY_FD;
}

/* Multishot receive: one SQE stays armed for every response on the
 * connection (no re-arm, no poll set up again per response), which a paused
 * connection cannot have: it must stop reading. So it is used only while no
 * request on the connection may pause it, and cancelled before such a
 * request is sent (stop_multishot): its response cannot arrive before the
 * cancel, which goes out first. Not on HTTP/2: there a receive that stays
 * armed hands over every segment as it lands, and the loop woke twice as
 * often for the same streams (measured: context switches per request x2,
 * no CPU saved), where a one-shot receive re-armed after the turn finds
 * what piled up meanwhile in one piece. */
static bool multishot_ok(const rf_engine *e, const rf_conn *c) {
  if (!e->multishot || c->h2 || (c->state != C_BUSY && c->state != C_IDLE))
    return false;
  if (c->slot && may_pause(c->slot))
    return false;
  for (const rf_slot *f = c->pl_head; f; f = f->next)
    if (may_pause(f))
      return false;
  return true;
}

static void stop_multishot(rf_engine *e, rf_conn *c) {
  if (!c->recv_inflight || !c->recv_multi || c->recv_stopping)
    return;
  struct io_uring_sqe *sqe = conn_sqe(e, c);
  io_uring_prep_cancel64(sqe, rf_ud(c->idx, c->gen, OP_RECV), 0);
  io_uring_sqe_set_data64(sqe, rf_ud(c->idx, c->gen, OP_CANCEL));
  c->recv_stopping = true; /* its last CQE (-ECANCELED) re-arms a one-shot receive */
}

void rf_conn_arm_recv(rf_engine *e, rf_conn *c) {
  if (c->recv_inflight || c->paused || c->on_nobuf || c->state == C_CLOSING || c->eof)
    return;
  struct io_uring_sqe *sqe = conn_sqe(e, c);
  c->recv_multi = multishot_ok(e, c);
  if (c->recv_multi)
    io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0); /* the length is the buffer's */
  else
    io_uring_prep_recv(sqe, c->fd, NULL, e->rx.size, 0);
  sqe->buf_group = RF_BGID; /* liburing 2.3 has no setter */
  tag(e, c, sqe, OP_RECV, true);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  /* After a short read the socket is empty: wait for data before trying,
   * instead of a receive attempt that is sure to find nothing. */
  if (c->recv_drained && e->poll_first)
    sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
  c->recv_inflight = true;
}

/* ---- connect ----------------------------------------------------------------- */

#define FD_WAIT_MS 20u /* a request without a descriptor tries again this much later */

/* No file descriptor for a socket (the process's or the system's limit):
 * backpressure, not a failure. The request goes back to the front of its
 * origin's queue and the origin waits FD_WAIT_MS (descriptors come back as
 * connections close); only after its connect timeout spent waiting does it
 * fail. A racer (Happy Eyeballs) just gives up its attempt. Returns true
 * when it handled c (then c is closing). */
static bool no_descriptor(rf_engine *e, rf_conn *c, int err) {
  if (err != EMFILE && err != ENFILE)
    return false;
  rf_slot *s = c->slot;
  if (c->primary) { /* a racer beside the primary: its attempt ends here */
    rf_conn_close(e, c);
    return true;
  }
  if (!s || (uint64_t)s->req->fd_waits * FD_WAIT_MS >= req_connect_timeout(e, s))
    return false;
  rf_req *q = s->req;
  q->fd_waits++;
  e->st.fd_waits++;
  c->slot = NULL;
  rf_slot_detach(e, s);
  rf_conn_close(e, c);
  rf_slot_release(e, s);
  rf_origin_pause(e, q->origin, e->now_us + FD_WAIT_MS * 1000u);
  rf_requeue_origin_front(e, q);
  return true;
}

static void start_connect(rf_engine *e, rf_conn *c, int addr_i) {
  rf_origin *r = c->origin->route;
  c->state = C_CONNECTING;
  c->t_connect_start = e->now_us;
  c->addr = r->addrs[addr_i];
  c->addrlen = c->addr.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
  format_addr(&c->addr, c->addr_str, sizeof c->addr_str); /* once: every request on it names it */
  int family = c->addr.ss_family;

  if (e->direct) {
    /* socket -> (TCP_NODELAY) -> connect as one linked chain: no round trip
     * between them. The socket lands in file slot c->idx (our own index, so
     * liburing 2.3's broken FILE_INDEX_ALLOC is avoided). */
    rf_sqe_reserve(e, 3);
    struct io_uring_sqe *sqe = conn_sqe(e, c);
    io_uring_prep_socket_direct(sqe, family, SOCK_STREAM, 0, c->idx, 0); /* no CLOEXEC: direct descriptors refuse it */
    tag(e, c, sqe, OP_SOCKET, false);
    sqe->flags |= IOSQE_IO_LINK;
    c->fd = (int)c->idx;
    if (e->nodelay_cmd) {
      /* hand-rolled URING_CMD setsockopt (liburing 2.3 lacks the helper) */
      sqe = conn_sqe(e, c);
      memset(sqe, 0, sizeof *sqe);
      sqe->opcode = IORING_OP_URING_CMD;
      sqe->fd = c->fd;
      sqe->off = 3; /* SOCKET_URING_OP_SETSOCKOPT */
      sqe->addr = (uint64_t)IPPROTO_TCP | ((uint64_t)TCP_NODELAY << 32);
      sqe->file_index = sizeof one;
      sqe->addr3 = (uint64_t)(uintptr_t)&one;
      tag(e, c, sqe, OP_SOCKOPT, true);
      sqe->flags |= IOSQE_IO_HARDLINK; /* connect runs even if this fails */
    }
  } else {
    if (c->has_socket) {
      close(c->fd); /* previous address failed; closing an unconnected socket does not block */
      c->has_socket = false;
    }
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 && no_descriptor(e, c, errno))
      return;
    if (fd < 0) {
      rf_conn_fail(e, c, RF_ERR_CONNECT, "cannot create a socket: %s", strerror(errno));
      return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
  }
  c->has_socket = true;
  struct io_uring_sqe *sqe = conn_sqe(e, c);
  io_uring_prep_connect(sqe, c->fd, (struct sockaddr *)&c->addr, c->addrlen);
  tag(e, c, sqe, OP_CONNECT, true);
}

/* ---- Happy Eyeballs (RFC 8305) -------------------------------------------------
 * The primary tries the route's addresses in order (the families
 * interleaved). An attempt silent for happy_eyeballs_ms gets the next address
 * started beside it as a racer; a refused one moves to the next address at
 * once. The first to connect carries the request; the others are closed. */

static unsigned he_delay_ms(const rf_engine *e) {
  return e->cfg.happy_eyeballs_ms < 10 ? 10 : e->cfg.happy_eyeballs_ms;
}

/* The primary's next attempt: its own socket again (when its attempt failed)
 * or a racer beside it. Returns false when no address is left. */
static bool next_attempt(rf_engine *e, rf_conn *p, bool racer) {
  rf_origin *r = p->origin->route;
  if (p->next_addr >= r->naddrs)
    return false;
  if (!racer) {
    p->connect_err = 0;
    start_connect(e, p, p->next_addr++); /* a direct socket replaces the old one in its slot */
  } else {
    if (!rf_conn_available(e))
      return true; /* no struct free: the primary's own attempt goes on alone */
    rf_conn *x = rf_conn_alloc(e);
    x->origin = p->origin;
    x->primary = p;
    x->rnext = p->racers;
    p->racers = x;
    p->origin->nconns++;
    e->open_conns++;
    start_connect(e, x, p->next_addr++);
  }
  p->he_due_ms = p->next_addr < r->naddrs ? e->now_ms + he_delay_ms(e) : 0;
  arm_timer(e, p);
  return true;
}

static void unlink_racer(rf_conn *x) {
  rf_conn **pp = &x->primary->racers;
  while (*pp && *pp != x)
    pp = &(*pp)->rnext;
  if (*pp)
    *pp = x->rnext;
  x->rnext = NULL;
}

static void close_racers(rf_engine *e, rf_conn *p) {
  while (p->racers) {
    rf_conn *x = p->racers;
    p->racers = x->rnext;
    x->rnext = NULL;
    rf_conn_close(e, x); /* a racer carries no request */
  }
}

/* Racer x connected first: it takes over its primary's request. */
static rf_conn *adopt(rf_engine *e, rf_conn *x) {
  rf_conn *p = x->primary;
  unlink_racer(x);
  x->primary = NULL;
  x->slot = p->slot;
  if (x->slot)
    x->slot->conn = x;
  p->slot = NULL;
  x->id = p->id;
  x->single = p->single;
  x->h2_setup = p->h2_setup;
  p->h2_setup = false;
  x->warmer = p->warmer;
  x->warm_due_ms = p->warm_due_ms;
  p->warmer = false;
  x->phase_due_ms = p->phase_due_ms;
  x->t_setup_start = p->t_setup_start;
  x->t_connect_start = p->t_connect_start; /* the connect phase began with the first attempt */
  resp_init(e, x);
  x->racers = p->racers;
  p->racers = NULL;
  for (rf_conn *y = x->racers; y; y = y->rnext)
    y->primary = x;
  p->primary = x; /* the old primary is a losing racer now: it closes as one */
  rf_conn_close(e, p);
  arm_timer(e, x);
  return x;
}

/* The name the connection dials did not resolve. */
static void route_failed(rf_engine *e, rf_conn *c) {
  rf_origin *r = c->origin->route;
  if (c->origin->proxy)
    rf_conn_fail(e, c, RF_ERR_PROXY_CONNECT, "proxy %s: %s", c->origin->proxy->name, r->dns_msg);
  else
    rf_conn_fail(e, c, r->dns_err ? r->dns_err : RF_ERR_DNS, "%s", r->dns_msg);
}

void rf_conn_start_new(rf_engine *e, rf_origin *o, rf_slot *s) {
  rf_conn *c = rf_conn_alloc(e);
  c->origin = o;
  c->slot = s;
  s->conn = c;
  c->id = ++e->conn_seq;
  s->conn_id = c->id;
  c->state = C_RESOLVING;
  c->t_setup_start = e->now_us;
  if (o->h2) { /* it will carry streams: counted so others wait for it */
    c->h2_setup = true;
    o->h2_setup++;
  }
  resp_init(e, c);
  o->nconns++;
  o->nactive++;
  e->open_conns++;
  e->inflight++;
  if (e->open_conns > e->st.peak_open_conns)
    e->st.peak_open_conns = e->open_conns;
  if (e->inflight > e->st.peak_inflight)
    e->st.peak_inflight = e->inflight;
  set_deadline(e, c, req_connect_timeout(e, s));
  if (o->scheme == RF_SCHEME_HTTPS && !e->cfg.no_tls_warmup && !o->warming && !o->warm_off &&
      rf_tls_cache_count(o->tls_cache) == 0) {
    o->warming = true; /* the next new connections wait for a session from this one */
    c->warmer = true;
  }

  rf_origin *r = o->route; /* whose addresses we dial */
  bool fresh = e->now_ms < r->dns_expiry_ms;
  if (r->dns == DNS_OK && fresh) {
    next_attempt(e, c, false);
    return;
  }
  if (r->dns == DNS_FAILED && fresh) {
    route_failed(e, c);
    return;
  }
  c->next = r->dns_waiters;
  r->dns_waiters = c;
  if (r->dns != DNS_RESOLVING)
    rf_resolve(e, r); /* may finish at once and call rf_conn_dns_done */
}

/* The warming connection has a session to share (or will never have one):
 * requests waiting for new connections to its origin may go. */
static void warm_done(rf_engine *e, rf_conn *c, bool force) {
  if (!c->warmer || (!force && rf_tls_cache_count(c->origin->tls_cache) == 0))
    return;
  c->warmer = false;
  c->origin->warming = false;
  if (c->warm_due_ms) { /* the timer may be filed at the warm-up time */
    c->warm_due_ms = 0;
    if (c->state != C_CLOSING && c->state != C_IDLE)
      arm_timer(e, c);
  }
  rf_origin_unblock(e, c->origin);
}

/* Reuses an idle keep-alive connection for s. */
void rf_conn_assign(rf_engine *e, rf_conn *c, rf_slot *s) {
  rf_idle_remove(e, c);
  c->origin->nactive++;
  c->slot = s;
  s->conn = c;
  s->conn_id = c->id;
  c->reused = true;
  s->res.reused = true;
  memcpy(s->res.remote_addr, c->addr_str, sizeof c->addr_str);
  e->inflight++;
  e->st.conns_reused++;
  if (e->inflight > e->st.peak_inflight)
    e->st.peak_inflight = e->inflight;
  send_request(e, c);
}

void rf_conn_dns_done(rf_engine *e, rf_conn *c) {
  if (c->state != C_RESOLVING)
    return;
  rf_origin *r = c->origin->route;
  if (c->slot && r->host_kind == RF_HOST_NAME) { /* an address literal has no DNS phase */
    c->slot->dns_us = e->now_us - c->t_setup_start;
    c->slot->ev_dns0 = c->t_setup_start;
    c->slot->ev_dns1 = e->now_us;
  }
  if (r->dns != DNS_OK) {
    route_failed(e, c);
    return;
  }
  next_attempt(e, c, false);
}

void rf_conn_setup_ended(rf_engine *e, rf_conn *c, rf_slot *s) {
  uint64_t now = e->now_us;
  switch (c->state) {
  case C_RESOLVING:
    if (c->origin->route->host_kind == RF_HOST_NAME && !s->ev_dns1) {
      s->ev_dns0 = c->t_setup_start;
      s->ev_dns1 = now;
      s->dns_us = now - c->t_setup_start;
    }
    break;
  case C_CONNECTING:
  case C_PROXY:
    s->ev_conn0 = c->t_connect_start;
    s->ev_conn1 = now;
    s->connect_us = now - c->t_connect_start;
    memcpy(s->res.remote_addr, c->addr_str, sizeof c->addr_str); /* the address tried */
    break;
  case C_TLS:
    s->ev_tls0 = c->t_tls_start;
    s->ev_tls1 = now;
    s->tls_us = now - c->t_tls_start;
    break;
  default:
    break;
  }
}

/* The way to the origin is open (TCP, and the proxy's tunnel when there is
 * one): TLS, or the request. */
static void ready(rf_engine *e, rf_conn *c) {
  rf_origin *o = c->origin;
  if (c->slot) {
    c->slot->connect_us = e->now_us - c->t_connect_start;
    c->slot->ev_conn0 = c->t_connect_start;
    c->slot->ev_conn1 = e->now_us;
    memcpy(c->slot->res.remote_addr, c->addr_str, sizeof c->addr_str);
  }
  if (o->scheme == RF_SCHEME_HTTPS) {
    c->tls = rf_tls_new(e->tls, o->host, o->host_kind != RF_HOST_NAME, o->tls_cache, tls_out, c);
    if (!c->tls) {
      rf_conn_fail(e, c, RF_ERR_INTERNAL, "cannot create a TLS connection");
      return;
    }
    c->state = C_TLS;
    c->t_tls_start = e->now_us;
    e->st.tls_handshakes++;
    int rc = rf_tls_handshake(c->tls);
    if (rc != RF_TLS_WANT_READ) {
      rf_conn_fail(e, c, RF_ERR_TLS_HANDSHAKE, "%s", rf_tls_error(c->tls));
      return;
    }
    flush_tx(e, c);
    return;
  }
  send_request(e, c);
}

/* https through an HTTP proxy: ask it for a tunnel (RFC 9110 section 9.3.6).
 * Its answer is parsed into the request's header storage, as a response to
 * HEAD: a 2xx has no body, the tunnel starts right after the head. */
static void proxy_connect(rf_engine *e, rf_conn *c) {
  rf_slot *s = c->slot;
  c->state = C_PROXY;
  rf_resp_expect(&c->resp, true, s->hbuf, e->cfg.max_header_bytes, s->spans, e->cfg.max_headers);
  const char *auth = c->origin->proxy->auth;
  long need = rf_http_write_connect(&s->req->u, e->user_agent, auth, NULL, 0);
  rf_buf *tx = &c->tx[c->fill];
  if (rf_buf_reserve(tx, (size_t)need) < 0) {
    rf_conn_fail(e, c, RF_ERR_INTERNAL, "out of memory for CONNECT");
    return;
  }
  rf_http_write_connect(&s->req->u, e->user_agent, auth, (char *)tx->p + tx->len, (size_t)need);
  tx->len += (size_t)need;
  flush_tx(e, c);
}

static void proxy_answer(rf_engine *e, rf_conn *c, const uint8_t *p, size_t n) {
  const rf_proxy *px = c->origin->proxy;
  size_t used = 0;
  int rc = rf_resp_feed(&c->resp, (const char *)p, n, &used);
  if (rc == RF_RESP_MORE)
    return;
  if (rc != RF_RESP_DONE) {
    rf_conn_fail(e, c, RF_ERR_PROXY_REFUSED, "proxy %s sent a malformed answer to CONNECT: %s", px->name,
                 c->resp.errmsg ? c->resp.errmsg : "?");
    return;
  }
  int st = c->resp.status;
  if (st < 200 || st > 299) {
    rf_conn_fail(e, c, RF_ERR_PROXY_REFUSED, "proxy %s answered CONNECT %s:%u with %d %.*s", px->name,
                 c->origin->host, c->origin->port, st, (int)(c->resp.reason_len < 80 ? c->resp.reason_len : 80),
                 c->resp.hbuf + c->resp.reason_off);
    return;
  }
  if (used < n) { /* the origin cannot have spoken first: TLS starts with our hello */
    rf_conn_fail(e, c, RF_ERR_PROXY_REFUSED, "proxy %s sent bytes after its answer to CONNECT", px->name);
    return;
  }
  /* a fresh parser for the tunnel: the proxy's answer may have said HTTP/1.0
   * without keep-alive, after which llhttp would skip everything */
  resp_init(e, c);
  ready(e, c);
}

static void on_connected(rf_engine *e, rf_conn *c) {
  if (c->primary)
    c = adopt(e, c);
  close_racers(e, c);
  c->he_due_ms = 0;
  e->st.conns_opened++;
  rf_conn_arm_recv(e, c);
  if (c->origin->proxy && c->origin->scheme == RF_SCHEME_HTTPS)
    proxy_connect(e, c);
  else
    ready(e, c);
}

static void on_connect_error(rf_engine *e, rf_conn *c, int res) {
  rf_conn *p = c->primary ? c->primary : c;
  char addr[sizeof c->addr_str];
  memcpy(addr, c->addr_str, sizeof addr); /* c may be closed below */
  if (c->primary) {
    unlink_racer(c);
    rf_conn_close(e, c);
  } else {
    c->connect_err = res;
  }
  if (p->connect_err == 0)
    return; /* the primary's own attempt goes on */
  if (next_attempt(e, p, false) || p->racers)
    return; /* another address, or racers still trying */
  if (p->origin->proxy)
    rf_conn_fail(e, p, RF_ERR_PROXY_CONNECT, "connect to proxy %s (%s) failed: %s", p->origin->proxy->name,
                 addr, strerror(-res));
  else
    rf_conn_fail(e, p, errno_kind(res), "connect to %s (%s) failed: %s", origin_name(p), addr, strerror(-res));
}

/* ---- TLS handshake ------------------------------------------------------------ */

static void tls_step(rf_engine *e, rf_conn *c) {
  int rc = rf_tls_handshake(c->tls);
  if (rc == RF_TLS_WANT_READ) {
    flush_tx(e, c);
    return;
  }
  if (rc != RF_TLS_OK) {
    flush_tx(e, c); /* the alert, best effort */
    rf_conn_fail(e, c, rc == RF_TLS_E_VERIFY ? RF_ERR_TLS_VERIFY : RF_ERR_TLS_HANDSHAKE, "%s (%s)",
                 rf_tls_error(c->tls), origin_name(c));
    return;
  }
  if (c->slot) {
    c->slot->tls_us = e->now_us - c->t_tls_start;
    c->slot->ev_tls0 = c->t_tls_start;
    c->slot->ev_tls1 = e->now_us;
  }
  if (rf_tls_resumed(c->tls)) {
    e->st.tls_resumed++;
    if (c->slot)
      c->slot->res.tls_resumed = true;
  }
  c->origin->warm_off = false; /* the host answers TLS: a later cold start may warm again */
  warm_done(e, c, false); /* TLS 1.2: the session exists already */
  if (c->warmer) {
    /* TLS 1.3 tickets follow about a round trip later; some servers only
     * send them with the first response. Others wait a few round trips at
     * most, then go ahead with full handshakes. */
    uint64_t rtt_ms = c->slot ? c->slot->connect_us / 1000u : 0;
    c->warm_due_ms = e->now_ms + (3 * rtt_ms > 2 ? 3 * rtt_ms : 2);
  }
  send_request(e, c); /* the Finished and the request leave in one send */
  if (c->state == C_BUSY && rf_tls_unread(c->tls))
    tls_pump(e, c); /* session tickets that came with the last flight */
}

/* ---- request / response -------------------------------------------------------- */

static int on_headers(void *ud, rf_resp *r) {
  rf_conn *c = ud;
  rf_slot *s = c->slot;
  if (!s)
    return -1;
  if (c->state == C_PROXY)
    return 0; /* the proxy's answer to CONNECT, not the response */
  /* the result shows the response even if its body fails later */
  s->res.status = r->status;
  s->res.http_major = r->http_major;
  s->res.http_minor = r->http_minor;
  s->nh = r->lean ? 0 : r->nh; /* lean: only Transfer-Encoding was kept, for the body's codings */
  s->reason_off = r->reason_off;
  s->reason_len = r->reason_len;
  rf_outcome_headers(c->e, s, r);
  if (s->disp != DISP_DELIVER)
    return 0; /* a redirect, a retry, an error under -f: its body is read (the connection stays
                 usable) and dropped */
  return rf_body_start(c->e, s, r);
}

/* A body nobody keeps (a redirect's, a retried 503's) is read to keep the
 * connection, up to this much; beyond, reading on costs more than a new
 * connection would. */
#define DROPPED_BODY_MAX (256u << 10)

static int on_body(void *ud, const char *p, size_t n) {
  rf_conn *c = ud;
  rf_slot *s = c->slot;
  if (!s)
    return -1;
  rf_capture_payload(s, p, n);
  if (s->disp != DISP_DELIVER) {
    if (c->resp.body_bytes <= DROPPED_BODY_MAX)
      return 0;
    rf_slot_abandon(c->e, s); /* closes c, the outcome goes ahead */
    return -1;
  }
  return rf_body_write(c->e, s, (const uint8_t *)p, n);
}

/* The request head as HTTP/1.1 writes it on c (an HTTP/2 connection turns it
 * into its fields): rf_http_write_head's convention. */
/* What the head of q depends on when sent on c. */
static rf_http_req head_params(const rf_engine *e, const rf_conn *c, const rf_req *q) {
  rf_http_req hr = {
      .method = q->method,
      .url = &q->u,
      .user_agent = e->user_agent,
      .headers = q->hdrs,
      .n_headers = q->n_hdrs,
      .body_len = q->body_len,
      .close = (q->flags & RF_REQ_NEW_CONN) != 0 && !c->h2,
  };
  if (q->flags & RF_REQ_DECODE)
    hr.accept_encoding = "gzip, deflate, br, zstd";
  if (c->origin->proxy && c->origin->scheme == RF_SCHEME_HTTP && !c->h2) {
    hr.absolute = true;
    hr.proxy_auth = c->origin->proxy->auth;
  }
  return hr;
}

/* Renders hr into out (emptied first): its length, or -EINVAL / -ENOMEM. */
static long render_head(const rf_http_req *hr, rf_buf *out, const char **err) {
  long need = rf_http_write_head(hr, NULL, 0, err);
  if (need < 0)
    return need;
  out->len = 0;
  if (rf_buf_reserve(out, (size_t)need) < 0) {
    *err = "out of memory for the request";
    return -ENOMEM;
  }
  rf_http_write_head(hr, (char *)out->p, (size_t)need, err);
  out->len = (size_t)need;
  return need;
}

long rf_conn_request_head(rf_engine *e, const rf_conn *c, const rf_req *q, const uint8_t **head,
                          const char **err) {
  rf_http_req hr = head_params(e, c, q);
  rf_prepared *p = q->prep;
  if (!p || q->url != q->url0 || q->hdrs_own) {
    long n = render_head(&hr, &e->headbuf, err);
    *head = e->headbuf.p;
    return n;
  }
  /* a prepared request's first hop: rendered once, reused while the
   * connection asks for the same framing (close, proxy form) */
  unsigned key = (unsigned)hr.close | (unsigned)hr.absolute << 1;
  if (!p->head.len || p->head_key != key || p->head_ua != hr.user_agent || p->head_pauth != hr.proxy_auth) {
    p->head_key = key;
    p->head_ua = hr.user_agent;
    p->head_pauth = hr.proxy_auth;
    long n = render_head(&hr, &p->head, err);
    if (n < 0) {
      p->head.len = 0;
      return n;
    }
  }
  *head = p->head.p;
  return (long)p->head.len;
}

void rf_conn_sent(rf_engine *e, rf_slot *s) {
  s->t_sent = e->now_us;
  if (!s->active) {
    s->active = true;
    if (++e->active > e->st.peak_active)
      e->st.peak_active = e->active;
  }
}

/* Writes s's request into the connection's send buffer (encrypted for TLS).
 * Returns false when it failed (the connection is failed then). */
static bool write_request(rf_engine *e, rf_conn *c, rf_slot *s) {
  rf_req *q = s->req;
  if (may_pause(s))
    stop_multishot(e, c); /* before the request goes out */
  const char *err = NULL;
  const uint8_t *head;
  long need = rf_conn_request_head(e, c, q, &head, &err);
  if (need < 0) {
    rf_conn_fail(e, c, need == -ENOMEM ? RF_ERR_INTERNAL : RF_ERR_BAD_REQUEST, "%s", err);
    return false;
  }
  rf_capture_request(e, s, head, (size_t)need);
  if (c->tls) {
    int rc = rf_tls_write(c->tls, head, (size_t)need);
    if (rc == RF_TLS_OK && q->body_len)
      rc = rf_tls_write(c->tls, q->body, q->body_len);
    if (rc != RF_TLS_OK) {
      rf_conn_fail(e, c, RF_ERR_TLS, "%s", rf_tls_error(c->tls));
      return false;
    }
  } else {
    rf_buf *tx = &c->tx[c->fill];
    if (rf_buf_reserve(tx, (size_t)need + q->body_len) < 0) {
      rf_conn_fail(e, c, RF_ERR_INTERNAL, "out of memory for the request");
      return false;
    }
    rf_buf_append(tx, head, (size_t)need); /* reserved above */
    if (q->body_len)
      rf_buf_append(tx, q->body, q->body_len);
  }
  rf_conn_sent(e, s);
  return true;
}

/* Keeps the origin's list of connections that can take a pipelined request
 * in step with the connection's state. */
static void pipe_update(rf_engine *e, rf_conn *c) {
  rf_origin *o = c->origin;
  bool want = c->h2 ? c->state == C_BUSY && !c->single && rf_h2_has_room(c)
                    : e->cfg.pipeline > 1 && c->state == C_BUSY && !c->single && c->depth < e->cfg.pipeline;
  if (want == c->on_pipe)
    return;
  c->on_pipe = want;
  if (want) {
    c->pprev2 = NULL;
    c->pnext2 = o->pipe_head;
    if (o->pipe_head)
      o->pipe_head->pprev2 = c;
    o->pipe_head = c;
    rf_origin_unblock(e, o); /* waiting requests can ride on it */
  } else {
    if (c->pprev2)
      c->pprev2->pnext2 = c->pnext2;
    else
      o->pipe_head = c->pnext2;
    if (c->pnext2)
      c->pnext2->pprev2 = c->pprev2;
    c->pnext2 = c->pprev2 = NULL;
  }
}

/* The response to c->slot is what the parser reads next. */
static void expect_response(rf_engine *e, rf_conn *c) {
  rf_slot *s = c->slot;
  rf_resp_expect(&c->resp, s->req->head, s->hbuf, e->cfg.max_header_bytes, s->spans, e->cfg.max_headers);
  rf_resp_set_lean(&c->resp, rf_req_lean(e, s->req));
  set_deadline(e, c, rf_read_timeout_ms(e, s));
}

void rf_conn_pipe_update(rf_engine *e, rf_conn *c) { pipe_update(e, c); }

void rf_conn_h2_known(rf_engine *e, rf_conn *c) {
  if (!c->h2_setup)
    return;
  c->h2_setup = false;
  c->origin->h2_setup--;
  rf_origin_unblock(e, c->origin); /* those who waited for it may open another */
}

void rf_conn_arm_timer(rf_engine *e, rf_conn *c) { arm_timer(e, c); }

/* The connection speaks HTTP/2 (ALPN said so, or h2c by configuration): its
 * request becomes the first stream, and waiting requests may follow on it. */
static void send_h2(rf_engine *e, rf_conn *c) {
  rf_slot *s = c->slot;
  rf_origin *o = c->origin;
  if (!c->h2) {
    if (rf_h2_start(e, c) < 0) {
      rf_conn_fail(e, c, RF_ERR_INTERNAL, "cannot start an HTTP/2 session");
      return;
    }
    if (!c->h2_setup) { /* until the server's SETTINGS say how many streams it takes */
      c->h2_setup = true;
      o->h2_setup++;
    }
  }
  o->h2 = true;
  c->slot = NULL;
  set_deadline(e, c, rf_read_timeout_ms(e, s));
  rf_h2_submit(e, c, s);
  if (c->state == C_CLOSING)
    return; /* the session failed: a closing connection keeps no timer */
  arm_timer(e, c);
  rf_conn_arm_recv(e, c);
}

static void send_request(rf_engine *e, rf_conn *c) {
  rf_slot *s = c->slot;
  c->state = C_BUSY;
  c->depth = 1;
  if (s->req->flags & RF_REQ_NEW_CONN)
    c->single = true;
  if (c->h2 || rf_h2_wanted(e, c)) {
    send_h2(e, c);
    return;
  }
  if (c->h2_setup) { /* the origin answers in HTTP/1.1 now */
    c->origin->h2 = false;
    rf_conn_h2_known(e, c);
  }
  if (!write_request(e, c, s))
    return;
  expect_response(e, c);
  pipe_update(e, c);
  flush_tx(e, c);
  rf_conn_arm_recv(e, c);
}

void rf_conn_pipeline(rf_engine *e, rf_conn *c, rf_slot *s) {
  assert(c->state == C_BUSY && "an idle connection is taken with rf_conn_assign");
  s->conn = c;
  s->conn_id = c->id;
  s->next = NULL;
  s->res.reused = true;
  memcpy(s->res.remote_addr, c->addr_str, sizeof c->addr_str);
  e->inflight++;
  e->st.conns_reused++;
  if (e->inflight > e->st.peak_inflight)
    e->st.peak_inflight = e->inflight;
  if (c->h2) { /* another stream */
    rf_h2_submit(e, c, s);
    return;
  }
  if (c->pl_tail)
    c->pl_tail->next = s;
  else
    c->pl_head = s;
  c->pl_tail = s;
  c->depth++;
  if (!write_request(e, c, s))
    return;
  pipe_update(e, c);
  flush_tx(e, c);
}

/* Requests sent on a connection that closes before answering them: the
 * outcome decides (once they go again on another connection). */
static void drop_pipelined(rf_engine *e, rf_conn *c) {
  while (c->pl_head) {
    rf_slot *f = c->pl_head;
    c->pl_head = f->next;
    f->next = NULL;
    rf_slot_detach(e, f);
    c->depth--;
    char msg[160];
    snprintf(msg, sizeof msg, "connection to %s closed before this pipelined request was answered", origin_name(c));
    rf_outcome_unanswered(e, f, false, RF_ERR_CLOSED, msg);
  }
  c->pl_tail = NULL;
}

/* The response to c->slot is complete: hand the result on. Returns true when
 * the connection goes on with the next pipelined response. */
static bool response_done(rf_engine *e, rf_conn *c) {
  rf_slot *s = c->slot;
  s->nt = c->resp.nt; /* the trailers are in the slot's storage, after the headers */
  bool alive = rf_resp_keep_alive(&c->resp) && !c->eof && !c->junk && !c->single;
  c->slot = NULL;
  rf_slot_detach(e, s);
  c->depth--;
  c->paused = false;
  warm_done(e, c, true); /* a server without tickets: stop waiting after one response */
  if (c->pl_head && alive) {
    rf_slot *next = c->pl_head;
    c->pl_head = next->next;
    if (!c->pl_head)
      c->pl_tail = NULL;
    next->next = NULL;
    c->slot = next;
    expect_response(e, c);
    pipe_update(e, c);
    rf_slot_response_done(e, s);
    return true;
  }
  /* a response can finish before our request did (an early 413 while the
   * body is still going out): such a connection is not reusable */
  bool sent_all = !c->send_inflight && c->tx[c->fill].len == 0;
  if (alive && sent_all)
    rf_idle_add(e, c); /* may close it instead when the pool is full */
  else
    rf_conn_close(e, c); /* pipelined requests behind go again elsewhere */
  rf_slot_response_done(e, s);
  return false;
}

/* Feeds response bytes, response after response when requests are
 * pipelined. Returns false when the connection has no request left to read
 * for (done or failed): the caller must not touch c->slot then. */
static bool feed(rf_engine *e, rf_conn *c, const uint8_t *p, size_t n) {
  while (n > 0) {
    rf_slot *s = c->slot;
    if (!s->t_first_byte)
      s->t_first_byte = e->now_us;
    size_t used = 0;
    rf_capture_response(e, s, p, n); /* before: the attempt may end inside the feed */
    int rc = rf_resp_feed(&c->resp, (const char *)p, n, &used);
    switch (rc) {
    case RF_RESP_MORE:
      return true;
    case RF_RESP_DONE:
      rf_capture_unkeep(s, n - used);
      p += used;
      n -= used;
      if (n && !c->pl_head)
        c->junk = true; /* bytes we did not ask for: do not reuse */
      if (!response_done(e, c))
        return false;
      continue;
    case RF_RESP_E_ABORT:
      if (c->slot) /* the callback did not fail the slot itself */
        rf_conn_fail(e, c, RF_ERR_INTERNAL, "response processing aborted");
      return false;
    case RF_RESP_E_TOO_LARGE:
      rf_conn_fail(e, c, RF_ERR_TOO_LARGE, "%s", c->resp.errmsg);
      return false;
    default:
      rf_conn_fail(e, c, RF_ERR_BAD_RESPONSE, "%s", c->resp.errmsg ? c->resp.errmsg : "malformed response");
      return false;
    }
  }
  return true;
}

/* Decrypts and parses what the TLS layer holds, until it needs more input,
 * the request ends, or the body sink asks us to pause. */
static void tls_pump(rf_engine *e, rf_conn *c) {
  for (;;) {
    if (c->state == C_CLOSING)
      return;
    if (c->slot && rf_sink_full(&c->slot->sink)) {
      c->paused = true;
      set_deadline(e, c, 0);
      return;
    }
    int n = rf_tls_read(c->tls, e->scratch, e->scratch_size);
    if (n > 0 && c->h2) {
      rf_h2_recv(e, c, e->scratch, (size_t)n);
      continue;
    }
    if (n > 0) {
      if (c->state != C_BUSY || !c->slot) {
        c->junk = true; /* plaintext nobody asked for */
        rf_conn_close(e, c);
        return;
      }
      feed(e, c, e->scratch, (size_t)n);
      continue; /* keep draining: the TLS stream must stay in sync */
    }
    if (n == RF_TLS_WANT_READ)
      break;
    if (n == RF_TLS_CLOSED) {
      c->eof = true;
      c->close_notify = true;
      handle_eof(e, c);
      return;
    }
    rf_conn_fail(e, c, RF_ERR_TLS, "%s", rf_tls_error(c->tls));
    return;
  }
  warm_done(e, c, false); /* TLS 1.3 tickets arrive through SSL_read */
  flush_tx(e, c);
}

/* The server closed a kept-alive connection just as we reused it (nothing
 * of a response came): the request may never have reached it. The outcome
 * decides whether it goes again; false when this is not such a case. */
static bool stale_reuse(rf_engine *e, rf_conn *c, rf_error err, const char *what) {
  rf_slot *s = c->slot;
  if (c->state != C_BUSY || !s || !c->reused || c->resp.started)
    return false;
  char msg[200];
  snprintf(msg, sizeof msg, "%s on a reused connection to %s before any response byte", what, origin_name(c));
  c->slot = NULL;
  rf_slot_detach(e, s);
  rf_conn_close(e, c);
  rf_outcome_unanswered(e, s, true, err, msg);
  return true;
}

static void handle_eof(rf_engine *e, rf_conn *c) {
  c->eof = true;
  if (c->h2 && c->state == C_BUSY) {
    rf_conn_fail(e, c, RF_ERR_CLOSED, "%s closed the HTTP/2 connection", origin_name(c));
    return;
  }
  switch (c->state) {
  case C_BUSY: {
    int rc = rf_resp_eof(&c->resp);
    if (rc == RF_RESP_DONE) {
      /* the close ended the body: over TLS only close_notify says nobody cut it */
      if (c->tls && !c->close_notify && c->slot)
        c->slot->res.tls_truncated = true;
      response_done(e, c);
      return;
    }
    if (rc == RF_RESP_E_CLOSED && stale_reuse(e, c, RF_ERR_CLOSED, "closed"))
      return;
    rf_conn_fail(e, c, rc == RF_RESP_E_CLOSED ? RF_ERR_CLOSED : RF_ERR_BAD_RESPONSE, "%s",
                 c->resp.errmsg ? c->resp.errmsg : "connection closed");
    return;
  }
  case C_TLS:
    rf_conn_fail(e, c, RF_ERR_TLS_HANDSHAKE, "connection closed during the TLS handshake with %s",
                 origin_name(c));
    return;
  case C_PROXY:
    rf_conn_fail(e, c, RF_ERR_PROXY_CONNECT, "proxy %s closed the connection before answering CONNECT",
                 c->origin->proxy->name);
    return;
  default:
    rf_conn_close(e, c);
    return;
  }
}

static void on_recv(rf_engine *e, rf_conn *c, int res, unsigned flags) {
  if (!(flags & IORING_CQE_F_MORE)) { /* the receive's last CQE: it is no longer armed */
    bool was_multi = c->recv_multi;
    c->recv_inflight = c->recv_multi = c->recv_stopping = false;
    if (was_multi && (res == -EINVAL || res == -ECANCELED) && c->state != C_CLOSING) {
      if (res == -EINVAL)
        e->multishot = false; /* a kernel without multishot receive (before 6.0) */
      rf_conn_arm_recv(e, c);
      return;
    }
  }
  if (res == -ENOBUFS) { /* no provided buffer left: wait for one */
    if (c->state != C_CLOSING && !c->on_nobuf) {
      c->on_nobuf = true;
      c->next = e->nobuf_head;
      e->nobuf_head = c;
    }
    return;
  }
  if (res < 0) {
    if (c->state == C_CLOSING || res == -ECANCELED)
      return;
    if (c->state == C_IDLE) {
      rf_conn_close(e, c);
      return;
    }
    if ((res == -ECONNRESET || res == -EPIPE) && stale_reuse(e, c, RF_ERR_RESET, strerror(-res)))
      return;
    rf_conn_fail(e, c, errno_kind(res) == RF_ERR_CONNECT ? RF_ERR_RESET : errno_kind(res),
                 "receive from %s failed: %s", origin_name(c), strerror(-res));
    return;
  }
  if (!(flags & IORING_CQE_F_BUFFER)) { /* EOF carries no buffer */
    if (c->state != C_CLOSING)
      handle_eof(e, c);
    return;
  }
  int bid = (int)(flags >> IORING_CQE_BUFFER_SHIFT);
  const uint8_t *p = rf_buf_ptr(e, bid);
  size_t n = (size_t)res;
  e->st.bytes_in += n;
  c->recv_drained = n < e->rx.size;
  if (res == 0 || c->state == C_CLOSING) {
    rf_buf_recycle(e, bid);
    if (res == 0 && c->state != C_CLOSING)
      handle_eof(e, c);
    return;
  }
  if (c->state == C_BUSY)
    set_deadline(e, c, rf_read_timeout_ms(e, c->slot));

  if (c->tls) {
    if (c->held_bid >= 0) { /* cannot be: a connection that may pause has no multishot receive */
      assert(!"a receive while TLS input is held");
      rf_buf_recycle(e, bid);
      rf_conn_fail(e, c, RF_ERR_INTERNAL, "data received while TLS input was held");
      return;
    }
    rf_tls_feed(c->tls, p, n);
    if (c->state == C_TLS)
      tls_step(e, c);
    if (c->state == C_BUSY || c->state == C_IDLE)
      tls_pump(e, c);
    if (c->paused && rf_tls_unread(c->tls)) {
      c->held_bid = bid; /* the rest is read on resume */
    } else {
      rf_tls_feed(c->tls, NULL, 0);
      rf_buf_recycle(e, bid);
    }
  } else {
    if (c->h2 && (c->state == C_BUSY || c->state == C_IDLE)) {
      rf_h2_recv(e, c, p, n);
    } else if (c->state == C_BUSY) {
      if (feed(e, c, p, n) && c->slot && rf_sink_full(&c->slot->sink)) {
        c->paused = true;
        set_deadline(e, c, 0);
      }
    } else if (c->state == C_PROXY) {
      proxy_answer(e, c, p, n);
    } else {
      c->junk = true; /* data on an idle connection */
      rf_conn_close(e, c);
    }
    rf_buf_recycle(e, bid);
  }
  rf_conn_arm_recv(e, c);
}

void rf_conn_resume(rf_engine *e, rf_conn *c) {
  if (!c->paused)
    return;
  c->paused = false;
  if (c->state == C_BUSY)
    set_deadline(e, c, rf_read_timeout_ms(e, c->slot));
  if (c->held_bid >= 0) {
    int bid = c->held_bid;
    tls_pump(e, c);
    if (c->paused && c->tls && rf_tls_unread(c->tls))
      return; /* still full: keep holding the buffer */
    c->held_bid = -1;
    if (c->tls)
      rf_tls_feed(c->tls, NULL, 0);
    rf_buf_recycle(e, bid);
  }
  rf_conn_arm_recv(e, c);
}

/* ---- completions, timers, close ---------------------------------------------------- */

void rf_conn_on_cqe(rf_engine *e, rf_conn *c, enum rf_op op, int res, unsigned flags) {
  if (!(flags & IORING_CQE_F_MORE)) /* a multishot receive is one operation until its last CQE */
    c->ops--;
  switch (op) {
  case OP_SOCKET:
    if (res < 0 && c->state == C_CONNECTING && no_descriptor(e, c, -res))
      break;
    if (res < 0 && c->state == C_CONNECTING)
      rf_conn_fail(e, c, RF_ERR_CONNECT, "cannot create a socket: %s", strerror(-res));
    break;
  case OP_SOCKOPT:
    if (res < 0 && res != -ECANCELED)
      e->nodelay_cmd = false; /* kernel without socket commands: stop trying */
    break;
  case OP_CONNECT:
    if (c->state != C_CONNECTING)
      break;
    if (res == 0)
      on_connected(e, c);
    else
      on_connect_error(e, c, res);
    break;
  case OP_SEND:
    c->send_inflight = false;
    if (c->state == C_CLOSING)
      break;
    if (res == -EAGAIN || res == -EINTR) {
      submit_send(e, c);
      break;
    }
    if (res < 0) {
      if ((res == -ECONNRESET || res == -EPIPE) && stale_reuse(e, c, RF_ERR_RESET, strerror(-res)))
        break;
      rf_conn_fail(e, c, RF_ERR_RESET, "send to %s failed: %s", origin_name(c), strerror(-res));
      break;
    }
    c->send_off += (size_t)res;
    e->st.bytes_out += (uint64_t)res;
    if (c->send_off < c->tx[!c->fill].len) {
      submit_send(e, c); /* short send: the rest */
      break;
    }
    c->tx[!c->fill].len = 0;
    if (c->state == C_BUSY && !c->paused)
      set_deadline(e, c, rf_read_timeout_ms(e, c->slot));
    flush_tx(e, c);
    break;
  case OP_RECV:
    on_recv(e, c, res, flags);
    break;
  case OP_CLOSE:
    c->close_done = true;
    break;
  default:
    break;
  }
  if (c->state == C_CLOSING && c->ops == 0 && (c->close_done || !c->has_socket))
    rf_conn_free(e, c);
}

/* An HTTP/2 connection's timer: silence on the whole connection, or some
 * stream's max_time. A stream held by its slow sink keeps the silence legal. */
static void h2_timer(rf_engine *e, rf_conn *c) {
  if (c->phase_due_ms && e->now_ms >= c->phase_due_ms) {
    if (!rf_h2_held(c)) {
      rf_conn_fail(e, c, RF_ERR_READ_TIMEOUT, "no data from %s for %u ms", origin_name(c),
                      rf_read_timeout_ms(e, NULL));
      return;
    }
    set_deadline(e, c, rf_read_timeout_ms(e, NULL));
  }
  rf_h2_on_timer(e, c);
  if (c->state != C_CLOSING && c->state != C_FREE)
    arm_timer(e, c);
}

void rf_conn_on_timer(rf_engine *e, rf_conn *c) {
  if (c->warmer && c->warm_due_ms && e->now_ms >= c->warm_due_ms) {
    warm_done(e, c, true); /* no ticket in time: the others go without */
    arm_timer(e, c);
  }
  if (c->state == C_CONNECTING && c->he_due_ms && e->now_ms >= c->he_due_ms) {
    c->he_due_ms = 0;
    next_attempt(e, c, true); /* silent too long: the next address beside it */
  }
  if (c->h2 && c->state == C_BUSY) {
    h2_timer(e, c);
    return;
  }
  if (c->state != C_IDLE) { /* only a deadline that has come fails the request */
    bool phase = c->phase_due_ms && e->now_ms >= c->phase_due_ms;
    bool due = c->slot && c->slot->max_time_due_ms && e->now_ms >= c->slot->max_time_due_ms;
    if (!phase && !due) {
      arm_timer(e, c);
      return;
    }
  }
  rf_slot *s = c->slot;
  bool total = s && s->max_time_due_ms && e->now_ms >= s->max_time_due_ms;
  switch (c->state) {
  case C_RESOLVING:
  case C_CONNECTING:
  case C_PROXY:
    if (c->origin->proxy && !total) {
      rf_conn_fail(e, c, RF_ERR_PROXY_CONNECT, "no %s proxy %s within %u ms",
                   c->state == C_PROXY ? "answer to CONNECT from" : "connection to", c->origin->proxy->name,
                   req_connect_timeout(e, s));
      break;
    }
    /* fall through */
  case C_TLS:
    if (total)
      rf_conn_fail(e, c, RF_ERR_TIMEOUT, "request to %s exceeded %u ms", origin_name(c),
                   s->req->max_time_ms ? s->req->max_time_ms : e->cfg.max_time_ms);
    else
      rf_conn_fail(e, c, RF_ERR_CONNECT_TIMEOUT, "no %s to %s within %u ms",
                   c->state == C_RESOLVING ? "name resolution"
                   : c->state == C_TLS     ? "TLS handshake"
                                           : "connection",
                   origin_name(c), req_connect_timeout(e, s));
    break;
  case C_BUSY:
    if (total)
      rf_conn_fail(e, c, RF_ERR_TIMEOUT, "request to %s exceeded %u ms", origin_name(c),
                   s->req->max_time_ms ? s->req->max_time_ms : e->cfg.max_time_ms);
    else
      rf_conn_fail(e, c, RF_ERR_READ_TIMEOUT, "no data from %s for %u ms", origin_name(c),
                   rf_read_timeout_ms(e, s));
    break;
  case C_IDLE:
    rf_conn_close(e, c);
    break;
  case C_FREE:
  case C_CLOSING:
    /* closing cancels the timer, and a free struct has none */
    fprintf(stderr, "ringfetch: timer fired on a %s connection\n", rf_conn_state_name(c->state));
    assert(!"timer on a closed connection");
    break;
  }
}

static void remove_dns_waiter(rf_conn *c) {
  rf_conn **pp = &c->origin->route->dns_waiters;
  while (*pp && *pp != c)
    pp = &(*pp)->next;
  if (*pp)
    *pp = c->next;
  c->next = NULL;
}

/* Starts closing: cancels what is in flight, closes the socket through the
 * ring; the struct is freed when the last operation has completed. The
 * origin gets its capacity back at once. The request, if any, must already be
 * detached (rf_slot_fail does that). */
void rf_conn_close(rf_engine *e, rf_conn *c) {
  if (c->state == C_CLOSING || c->state == C_FREE)
    return;
  enum conn_state prev = c->state;
  if (prev == C_IDLE)
    rf_idle_remove(e, c);
  if (prev == C_RESOLVING)
    remove_dns_waiter(c);
  c->state = C_CLOSING;
  rf_timer_set(&e->timers, &c->timer, 0);
  if (c->primary)
    unlink_racer(c);
  else
    close_racers(e, c);
  if (c->warmer && prev < C_BUSY) /* it failed before its handshake did: the others go at once */
    c->origin->warm_off = true;
  warm_done(e, c, true);
  pipe_update(e, c);
  drop_pipelined(e, c);
  rf_conn_h2_known(e, c);
  if (c->h2) /* streams still on it go again elsewhere, or fail */
    rf_h2_fail_all(e, c, RF_ERR_CLOSED, "the HTTP/2 connection closed");
  if (c->on_nobuf) {
    rf_conn **pp = &e->nobuf_head;
    while (*pp && *pp != c)
      pp = &(*pp)->next;
    if (*pp)
      *pp = c->next;
    c->on_nobuf = false;
  }
  if (c->held_bid >= 0) {
    if (c->tls)
      rf_tls_feed(c->tls, NULL, 0);
    rf_buf_recycle(e, c->held_bid);
    c->held_bid = -1;
  }
  rf_origin *o = c->origin;
  if (prev != C_IDLE && !c->primary && o->nactive) /* racers were never counted active */
    o->nactive--;
  e->open_conns--;

  if (c->has_socket) {
    /* Cancel what may still wait (by user_data: a hash lookup; cancelling
     * by descriptor compares every pending request in the ring, which at
     * 10,000 connections cost 40% of the CPU), then close. */
    uint64_t pending[3];
    unsigned np = 0;
    if (prev == C_CONNECTING)
      pending[np++] = rf_ud(c->idx, c->gen, OP_CONNECT);
    if (c->recv_inflight)
      pending[np++] = rf_ud(c->idx, c->gen, OP_RECV);
    if (c->send_inflight)
      pending[np++] = rf_ud(c->idx, c->gen, OP_SEND);
    rf_sqe_reserve(e, np + 1);
    struct io_uring_sqe *sqe;
    for (unsigned i = 0; i < np; i++) {
      sqe = conn_sqe(e, c);
      io_uring_prep_cancel64(sqe, pending[i], 0);
      io_uring_sqe_set_data64(sqe, rf_ud(c->idx, c->gen, OP_CANCEL));
      sqe->flags |= IOSQE_IO_HARDLINK; /* the close runs whatever the cancel found */
    }
    sqe = conn_sqe(e, c);
    if (e->direct)
      io_uring_prep_close_direct(sqe, c->idx);
    else
      io_uring_prep_close(sqe, c->fd);
    io_uring_sqe_set_data64(sqe, rf_ud(c->idx, c->gen, OP_CLOSE));
  }
  rf_conn_released(e, c);
  if (c->ops == 0 && !c->has_socket)
    rf_conn_free(e, c);
}
