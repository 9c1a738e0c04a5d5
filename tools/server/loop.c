/* The test server's loop: its ring, accepts, connections (receive, send,
 * close), timers, and the drain at the end. How it is built is told in
 * internal.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"

static const struct linger linger_reset = {1, 0};

/* ---- SQEs and timers -------------------------------------------------------- */

static uint64_t mkud(uint32_t idx, uint32_t gen, enum op op) {
  return (uint64_t)idx << 32 | (uint64_t)(gen & 0xffffffu) << 8 | (uint64_t)op;
}

static uint64_t conn_ud(const struct conn *c, enum op op) { return mkud(c->idx, c->gen, op); }

/* Every SQE is counted until its CQE, so the drain knows when none is left. */
static struct io_uring_sqe *get_sqe(rf_server *s) {
  s->inflight++;
  return rf_uring_sqe(&s->ring);
}

static struct io_uring_sqe *conn_sqe(rf_server *s, conn *c) {
  c->ops++;
  return get_sqe(s);
}

static conn *timer_conn(rf_timer *tm) { return (conn *)((char *)tm - offsetof(conn, timer)); }

void srv_timer_set(rf_server *s, conn *c, uint64_t due_us) { rf_timer_set(&s->timers, &c->timer, due_us); }

void srv_timer_clear(rf_server *s, conn *c) { rf_timer_set(&s->timers, &c->timer, 0); }

/* ---- connections: open, close, free -------------------------------------------------- */

static void nobuf_remove(rf_server *s, conn *c) {
  if (!c->on_nobuf)
    return;
  conn **pp = &s->nobuf;
  while (*pp && *pp != c)
    pp = &(*pp)->nb_next;
  if (*pp)
    *pp = c->nb_next;
  c->nb_next = NULL;
  c->on_nobuf = false;
}

static void cancel_ud(rf_server *s, uint64_t ud) {
  struct io_uring_sqe *sqe = get_sqe(s);
  io_uring_prep_cancel64(sqe, ud, 0);
  io_uring_sqe_set_data64(sqe, mkud(NO_CONN, 0, OP_IGNORE));
}

/* SO_LINGER 0 on a direct descriptor, hard-linked to what follows: a
 * hand-rolled socket URING_CMD (liburing 2.3 has no io_uring_prep_cmd_sock) */
static void prep_linger_reset(rf_server *s, conn *c) {
  struct io_uring_sqe *sqe = conn_sqe(s, c);
  memset(sqe, 0, sizeof *sqe);
  sqe->opcode = IORING_OP_URING_CMD;
  sqe->fd = (int)c->idx;
  sqe->off = 3; /* SOCKET_URING_OP_SETSOCKOPT */
  sqe->addr = (uint64_t)SOL_SOCKET | ((uint64_t)SO_LINGER << 32);
  sqe->file_index = sizeof linger_reset; /* optlen */
  sqe->addr3 = (uint64_t)(uintptr_t)&linger_reset;
  io_uring_sqe_set_data64(sqe, conn_ud(c, OP_SOCKOPT));
  sqe->flags |= IOSQE_FIXED_FILE | IOSQE_IO_HARDLINK; /* the close runs even if this fails */
}

/* Starts closing: cancels what is in flight and closes the descriptor
 * through the ring (reset: with SO_LINGER 0, so the peer gets an RST). The
 * struct is freed when the last operation has completed.
 *
 * The cancels go by user_data, a hash lookup each. By descriptor
 * (IORING_ASYNC_CANCEL_FD) the kernel compares every pending request, and
 * with 10,000 connections waiting that took 40% of the CPU. */
void srv_conn_close(rf_server *s, conn *c, bool reset) {
  if (c->state != C_OPEN)
    return;
  c->state = C_CLOSING;
  srv_timer_clear(s, c);
  nobuf_remove(s, c);
  if (c->recv_inflight)
    cancel_ud(s, conn_ud(c, OP_RECV));
  if (c->send_inflight)
    cancel_ud(s, conn_ud(c, OP_SEND));
  if (reset) {
    rf_uring_reserve(&s->ring, 2);
    prep_linger_reset(s, c);
  }
  /* Pending operations hold their own reference to the socket: it really
   * closes when the last of them has completed. */
  struct io_uring_sqe *sqe = conn_sqe(s, c);
  io_uring_prep_close_direct(sqe, c->idx);
  io_uring_sqe_set_data64(sqe, conn_ud(c, OP_CLOSE));
}

void srv_conn_release(conn *c) {
  rf_tls_free(c->tls);
  rf_buf_free(&c->rb);
  rf_buf_free(&c->out[0]);
  rf_buf_free(&c->out[1]);
}

static void conn_free(rf_server *s, conn *c) {
  srv_conn_release(c);
  uint32_t idx = c->idx, gen = c->gen;
  memset(c, 0, sizeof *c);
  c->idx = idx;
  c->gen = gen;
  c->state = C_FREE;
  s->free_idx[s->nfree++] = idx;
}

static void arm_recv(rf_server *s, conn *c);

static void conn_open(rf_server *s, conn *c) {
  c->state = C_OPEN;
  atomic_fetch_add_explicit(&s->nconn, 1, memory_order_relaxed);
  if (s->tls && !srv_tls_open(s, c)) {
    srv_conn_close(s, c, false);
    return;
  }
  arm_recv(s, c);
}

static void arm_accepts(rf_server *s) {
  if (s->stopping)
    return;
  if (s->accept_retry_us) {
    if (s->now_us < s->accept_retry_us)
      return;
    s->accept_retry_us = 0;
  }
  while (s->accepts < ACCEPT_DEPTH && s->nfree > 0) {
    uint32_t idx = s->free_idx[--s->nfree];
    conn *c = &s->conns[idx];
    c->idx = idx;
    c->state = C_ACCEPTING;
    c->gen++;
    struct io_uring_sqe *sqe = conn_sqe(s, c);
    /* no SOCK_CLOEXEC: direct descriptors refuse it (and are never inherited) */
    io_uring_prep_accept_direct(sqe, s->lfd, NULL, NULL, 0, c->idx);
    io_uring_sqe_set_data64(sqe, conn_ud(c, OP_ACCEPT));
    s->accepts++;
  }
}

static void on_accept(rf_server *s, conn *c, int res) {
  s->accepts--;
  if (res < 0) {
    c->state = C_FREE;
    s->free_idx[s->nfree++] = c->idx;
    if (res != -ECANCELED && res != -ECONNABORTED && res != -EINTR && res != -EAGAIN)
      s->accept_retry_us = s->now_us + 10000; /* e.g. out of memory: do not spin */
    return;
  }
  conn_open(s, c);
}

/* ---- receive and send ------------------------------------------------------------------ */

static void arm_recv(rf_server *s, conn *c) {
  if (c->recv_inflight || c->on_nobuf || c->state != C_OPEN || c->peer_eof ||
      c->close_when_drained || c->reset_when_drained || c->qn >= REQ_QUEUE)
    return;
  struct io_uring_sqe *sqe = conn_sqe(s, c);
  io_uring_prep_recv(sqe, (int)c->idx, NULL, RX_BUF, 0);
  sqe->buf_group = BGID; /* liburing 2.3 has no setter */
  io_uring_sqe_set_data64(sqe, conn_ud(c, OP_RECV));
  sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
  c->recv_inflight = true;
}

static void submit_send(rf_server *s, conn *c) {
  rf_buf *b = &c->out[!c->fill];
  struct io_uring_sqe *sqe = conn_sqe(s, c);
  io_uring_prep_send(sqe, (int)c->idx, b->p + c->sent, b->len - c->sent, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, conn_ud(c, OP_SEND));
  sqe->flags |= IOSQE_FIXED_FILE;
  c->send_inflight = true;
  c->send_ext = false;
}

/* A slice of a plain body straight from the shared pattern (zero_copy_ok). */
static void submit_send_ext(rf_server *s, conn *c) {
  uint64_t left = c->limit - c->off;
  size_t n = left < ZC_SLICE ? (size_t)left : ZC_SLICE;
  struct io_uring_sqe *sqe = conn_sqe(s, c);
  io_uring_prep_send(sqe, (int)c->idx, s->pattern + c->off % 26, n, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, conn_ud(c, OP_SEND));
  sqe->flags |= IOSQE_FIXED_FILE;
  c->send_inflight = true;
  c->send_ext = true;
}

/* Nothing more to produce now: sends what was produced, or closes once all
 * is out and the connection is to close. */
static void flush_or_close(rf_server *s, conn *c) {
  if (c->out[c->fill].len) {
    c->fill = !c->fill;
    c->sent = 0;
    submit_send(s, c);
  } else if (c->reset_when_drained)
    srv_conn_close(s, c, true);
  else if (c->close_when_drained)
    srv_conn_close(s, c, false);
}

/* Moves output along: produces while little is pending, sends when nothing
 * is in flight, closes once all is out and the connection is to close. */
static void pump(rf_server *s, conn *c) {
  for (;;) {
    if (c->state != C_OPEN || c->send_inflight)
      return;
    bool producing = c->phase == P_HEAD || c->phase == P_FILL || c->phase == P_BODY;
    if (producing && c->out[c->fill].len < OUT_LOW) {
      if (srv_zero_copy_ok(c)) {
        submit_send_ext(s, c);
        return;
      }
      if (!srv_produce_step(s, c)) {
        srv_conn_close(s, c, false);
        return;
      }
      continue;
    }
    if (c->phase == P_DONE) {
      srv_response_done(s, c);
      continue;
    }
    flush_or_close(s, c);
    return;
  }
}

static void advance(rf_server *s, conn *c) {
  srv_start_next(s, c);
  pump(s, c);
  arm_recv(s, c);
}

/* A completed send of the output buffer: the rest of a short one, or the
 * buffer is free again. */
static bool sent_buffered(rf_server *s, conn *c, int res) {
  rf_buf *b = &c->out[!c->fill];
  c->sent += (size_t)res;
  if (c->sent < b->len) {
    submit_send(s, c); /* short send: the rest */
    return false;
  }
  b->len = 0;
  c->sent = 0;
  if (c->phase == P_IDLE || c->phase == P_WAIT || c->phase == P_NEVER)
    rf_buf_free(b); /* nothing streams: a waiting connection holds no buffer */
  return true;
}

static void on_send(rf_server *s, conn *c, int res) {
  bool ext = c->send_ext;
  c->send_inflight = false;
  c->send_ext = false;
  if (c->state != C_OPEN)
    return;
  if (res == -EAGAIN || res == -EINTR) { /* a kernel retry cap can still surface these */
    if (ext)
      submit_send_ext(s, c);
    else
      submit_send(s, c);
    return;
  }
  if (res <= 0) {
    srv_conn_close(s, c, false);
    return;
  }
  if (ext) {
    c->off += (uint64_t)res;
    if (c->off >= c->limit) /* the terminator-less body is complete */
      c->phase = P_DONE;
  } else if (!sent_buffered(s, c, res)) {
    return;
  }
  advance(s, c);
}

static void on_timer(rf_server *s, conn *c) {
  if (c->state != C_OPEN)
    return;
  if (c->phase == P_DRIP_WAIT)
    c->phase = P_BODY;
  advance(s, c);
}

static void on_recv(rf_server *s, conn *c, int res, unsigned flags) {
  c->recv_inflight = false;
  int bid = (flags & IORING_CQE_F_BUFFER) ? (int)(flags >> IORING_CQE_BUFFER_SHIFT) : -1;
  if (c->state != C_OPEN) {
    if (bid >= 0)
      rf_bufring_recycle(&s->rx, bid);
    return;
  }
  if (res == -ENOBUFS) { /* no provided buffer left: retried once some return */
    c->on_nobuf = true;
    c->nb_next = s->nobuf;
    s->nobuf = c;
    return;
  }
  if (res < 0 && (res == -EAGAIN || res == -EINTR)) {
    arm_recv(s, c);
    return;
  }
  if (res <= 0 || bid < 0) {
    if (bid >= 0)
      rf_bufring_recycle(&s->rx, bid);
    if (res < 0)
      srv_conn_close(s, c, false); /* e.g. reset by the peer */
    else
      srv_on_eof(s, c);
    advance(s, c);
    return;
  }
  const uint8_t *p = rf_bufring_ptr(&s->rx, bid);
  if (c->tls)
    srv_tls_input(s, c, p, (size_t)res);
  else
    srv_on_plain(s, c, p, (size_t)res);
  rf_bufring_recycle(&s->rx, bid);
  advance(s, c);
}

/* ---- the loop ------------------------------------------------------------------------ */

static void on_cqe(rf_server *s, const struct io_uring_cqe *cqe) {
  s->inflight--;
  uint64_t ud = io_uring_cqe_get_data64(cqe);
  enum op op = (enum op)(ud & 0xff);
  uint32_t idx = (uint32_t)(ud >> 32);
  if (op == OP_WAKE) {
    s->stopping = true;
    return;
  }
  if (idx >= s->nconns) {
    if (cqe->flags & IORING_CQE_F_BUFFER) /* not expected: keep the buffer anyway */
      rf_bufring_recycle(&s->rx, (int)(cqe->flags >> IORING_CQE_BUFFER_SHIFT));
    return;
  }
  conn *c = &s->conns[idx];
  c->ops--;
  switch (op) {
  case OP_ACCEPT: on_accept(s, c, cqe->res); break;
  case OP_RECV: on_recv(s, c, cqe->res, cqe->flags); break;
  case OP_SEND: on_send(s, c, cqe->res); break;
  default: break; /* cancel, sockopt, close: only their count matters */
  }
  if (c->state == C_CLOSING && c->ops == 0)
    conn_free(s, c);
}

static void rearm_nobuf(rf_server *s) {
  conn *list = s->nobuf;
  s->nobuf = NULL;
  while (list) {
    conn *c = list;
    list = c->nb_next;
    c->nb_next = NULL;
    c->on_nobuf = false;
    arm_recv(s, c);
  }
}

static void reap(rf_server *s) {
  unsigned head, n = 0;
  struct io_uring_cqe *cqe;
  io_uring_for_each_cqe(&s->ring, head, cqe) {
    on_cqe(s, cqe);
    n++;
  }
  io_uring_cq_advance(&s->ring, n);
}

/* Submits and waits for a completion, at most until the next deadline. */
static int wait_next(rf_server *s) {
  uint64_t next = rf_timers_next(&s->timers);
  if (s->accept_retry_us && s->accept_retry_us < next)
    next = s->accept_retry_us;
  struct __kernel_timespec ts, *tsp = NULL;
  if (next != UINT64_MAX) {
    uint64_t now = rf_monotonic_us();
    uint64_t left = next > now ? next - now : 0;
    ts.tv_sec = (long long)(left / 1000000u);
    ts.tv_nsec = (long long)(left % 1000000u) * 1000;
    tsp = &ts;
  }
  struct io_uring_cqe *cqe;
  return io_uring_submit_and_wait_timeout(&s->ring, &cqe, 1, tsp, NULL);
}

static void run_loop(rf_server *s) {
  struct io_uring_sqe *sqe = get_sqe(s);
  io_uring_prep_read(sqe, s->efd, &s->wake_val, sizeof s->wake_val, 0);
  io_uring_sqe_set_data64(sqe, mkud(NO_CONN, 0, OP_WAKE));
  while (!s->stopping) {
    s->now_us = rf_monotonic_us();
    reap(s);
    rf_timer *tm;
    while ((tm = rf_timers_expired(&s->timers, s->now_us)) != NULL)
      on_timer(s, timer_conn(tm));
    if (s->stopping)
      break;
    rf_bufring_flush(&s->rx); /* before the receives that wait for buffers */
    if (s->nobuf)
      rearm_nobuf(s);
    arm_accepts(s);
    rf_bufring_flush(&s->rx);
    int rc = wait_next(s);
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) {
      fprintf(stderr, "ringfetch server: io_uring wait failed: %s\n", strerror(-rc));
      break;
    }
  }
}

/* Cancels every operation and waits for each to complete, so that no
 * kernel access to our buffers remains; then drops the descriptors, which
 * closes every connection. Cancels go by user_data, a hash lookup each:
 * IORING_ASYNC_CANCEL_ANY looks through all requests per match and took
 * 0.7 s with 10,000 receives pending. */
static void cancel_all(rf_server *s) {
  for (uint32_t i = 0; i < s->nconns; i++) {
    conn *c = &s->conns[i];
    if (c->state == C_ACCEPTING)
      cancel_ud(s, conn_ud(c, OP_ACCEPT));
    if (c->state != C_OPEN)
      continue; /* closing ones have their own cancel and close under way */
    if (c->recv_inflight)
      cancel_ud(s, conn_ud(c, OP_RECV));
    if (c->send_inflight)
      cancel_ud(s, conn_ud(c, OP_SEND));
  }
  if (!s->stopping) /* the loop failed: the wake-up read is still armed */
    cancel_ud(s, mkud(NO_CONN, 0, OP_WAKE));
}

static void drain_ring(rf_server *s) {
  cancel_all(s);
  uint64_t deadline = rf_monotonic_us() + STOP_DRAIN_US;
  bool cancel_any = false;
  while (s->inflight > 0 && rf_monotonic_us() < deadline) {
    if (!cancel_any && rf_monotonic_us() + STOP_DRAIN_US / 2 > deadline) {
      cancel_any = true; /* something we did not know of: the slow way */
      struct io_uring_sqe *sqe = get_sqe(s);
      io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
      io_uring_sqe_set_data64(sqe, mkud(NO_CONN, 0, OP_IGNORE));
    }
    struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 50 * 1000 * 1000};
    struct io_uring_cqe *cqe;
    io_uring_submit_and_wait_timeout(&s->ring, &cqe, 1, &ts, NULL);
    unsigned head, n = 0;
    io_uring_for_each_cqe(&s->ring, head, cqe) {
      s->inflight--;
      n++;
    }
    io_uring_cq_advance(&s->ring, n);
  }
  io_uring_unregister_files(&s->ring);
}

void srv_run(rf_server *s) {
  run_loop(s);
  drain_ring(s);
}

int srv_ring_setup(rf_server *s, char *err, size_t errlen) {
  unsigned cq = rf_pow2_at_least(s->nconns * 2 + 1024);
  if (cq < 4096)
    cq = 4096;
  if (cq > 65536)
    cq = 65536;
  int rc = rf_uring_init(&s->ring, SQ_ENTRIES, cq, false, NULL, err, errlen);
  if (rc < 0)
    return rc;
  s->ring_ok = true;
  rc = io_uring_register_files_sparse(&s->ring, s->nconns);
  if (rc < 0) {
    snprintf(err, errlen, "cannot register %u direct descriptors: %s", s->nconns, strerror(-rc));
    return rc;
  }
  unsigned want = s->nconns / 4;
  unsigned nbufs = rf_pow2_at_least(want < 256 ? 256 : want > 2048 ? 2048 : want);
  return rf_bufring_setup(&s->ring, &s->rx, nbufs, RX_BUF, BGID, err, errlen);
}
