/* A caller's own TCP connection on the ring (rf_stream): the CLI's fleet
 * worker talks to its queue server with it, so the loop never blocks on a
 * second protocol. One connect, one send and one receive in flight at most;
 * sends go out in order from a chunk queue (as rf_outfile's writes), what
 * arrives is appended to a buffer the caller reads and consumes. A stream
 * closed while an operation is in flight cancels it and is freed when the
 * last completion comes back. */
#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/internal.h"

#define RECV_SIZE 65536u
#define IN_HIGH (8u << 20) /* unread bytes above which receiving pauses */

struct rf_stream {
  rf_engine *e;
  int fd;
  uint32_t id, gen;      /* index in e->streams: the user_data (a slot is reused only
                            after its last completion, so gen stays 0) */
  rf_stream_state state;
  int err;
  bool connecting, sending, receiving, closing;
  struct sockaddr_storage addr;
  rf_chunks out;
  rf_buf in;
  size_t in_off;         /* in.p[0..in_off) was consumed */
  uint8_t rbuf[RECV_SIZE];
};

static void kick_send(rf_stream *s) {
  if (s->sending || s->closing || s->state != RF_STREAM_OPEN || !s->out.head)
    return;
  rf_chunk *c = s->out.head;
  struct io_uring_sqe *sqe = rf_sqe(s->e);
  io_uring_prep_send(sqe, s->fd, c->data + c->off, c->len - c->off, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, rf_ud(s->id, s->gen, OP_STREAM_SEND));
  s->sending = true;
}

static void kick_recv(rf_stream *s) {
  if (s->receiving || s->closing || s->state != RF_STREAM_OPEN || s->in.len - s->in_off > IN_HIGH)
    return;
  struct io_uring_sqe *sqe = rf_sqe(s->e);
  io_uring_prep_recv(sqe, s->fd, s->rbuf, sizeof s->rbuf, 0);
  io_uring_sqe_set_data64(sqe, rf_ud(s->id, s->gen, OP_STREAM_RECV));
  s->receiving = true;
}

static int add_slot(rf_engine *e, rf_stream *s) {
  uint32_t id = 0;
  while (id < e->nstreams && e->streams[id])
    id++;
  if (id == e->nstreams) {
    rf_stream **t = realloc(e->streams, sizeof *t * (e->nstreams + 4));
    if (!t)
      return -ENOMEM;
    memset(t + e->nstreams, 0, sizeof *t * 4);
    e->streams = t;
    e->nstreams += 4;
  }
  s->id = id;
  e->streams[id] = s;
  return 0;
}

int rf_stream_open(rf_engine *e, const char *ip, uint16_t port, rf_stream **out) {
  *out = NULL;
  rf_stream *s = calloc(1, sizeof *s);
  if (!s)
    return -ENOMEM;
  if (rf_parse_addr(ip, port, &s->addr) < 0) {
    free(s);
    return -EINVAL;
  }
  s->fd = socket(s->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s->fd < 0) {
    int rc = -errno;
    free(s);
    return rc;
  }
  int one = 1;
  (void)setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* requests are small */
  if (add_slot(e, s) < 0) {
    close(s->fd);
    free(s);
    return -ENOMEM;
  }
  s->e = e;
  socklen_t alen = s->addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  struct io_uring_sqe *sqe = rf_sqe(e);
  io_uring_prep_connect(sqe, s->fd, (struct sockaddr *)&s->addr, alen);
  io_uring_sqe_set_data64(sqe, rf_ud(s->id, s->gen, OP_STREAM_CONNECT));
  s->connecting = true;
  *out = s;
  return 0;
}

int rf_stream_send(rf_stream *s, const void *p, size_t n) {
  if (s->state == RF_STREAM_CLOSED)
    return -EPIPE;
  if (rf_chunks_append(&s->out, p, n) < 0)
    return -ENOMEM;
  kick_send(s);
  return 0;
}

size_t rf_stream_unsent(const rf_stream *s) { return s->out.bytes; }

size_t rf_stream_data(rf_stream *s, const uint8_t **p) {
  *p = s->in.p ? s->in.p + s->in_off : (const uint8_t *)"";
  return s->in.len - s->in_off;
}

void rf_stream_consume(rf_stream *s, size_t n) {
  size_t left = s->in.len - s->in_off;
  s->in_off += n < left ? n : left;
  if (s->in_off == s->in.len) {
    s->in.len = s->in_off = 0;
  } else if (s->in_off > s->in.len / 2) {
    memmove(s->in.p, s->in.p + s->in_off, s->in.len - s->in_off);
    s->in.len -= s->in_off;
    s->in_off = 0;
  }
  kick_recv(s);
}

rf_stream_state rf_stream_get_state(const rf_stream *s) { return s->state; }

int rf_stream_error(const rf_stream *s) { return s->err; }

static void fail(rf_stream *s, int err) {
  if (s->state == RF_STREAM_CLOSED)
    return;
  s->state = RF_STREAM_CLOSED;
  s->err = err;
  if (!s->sending) /* else the kernel may still read the head chunk: dropped at its completion */
    rf_chunks_drop(&s->out);
}

static void destroy(rf_stream *s) {
  s->e->streams[s->id] = NULL;
  close(s->fd);
  rf_chunks_drop(&s->out);
  rf_buf_free(&s->in);
  free(s);
}

/* Cancels the operation with user_data ud (its own completion still comes). */
static void cancel_op(rf_stream *s, enum rf_op op) {
  struct io_uring_sqe *sqe = rf_sqe(s->e);
  io_uring_prep_cancel64(sqe, rf_ud(s->id, s->gen, op), 0);
  io_uring_sqe_set_data64(sqe, rf_ud(0, 0, OP_IGNORE));
}

void rf_stream_close(rf_stream *s) {
  if (!s || s->closing)
    return;
  s->closing = true;
  fail(s, -ECANCELED);
  if (!s->connecting && !s->sending && !s->receiving) {
    destroy(s);
    return;
  }
  if (s->connecting)
    cancel_op(s, OP_STREAM_CONNECT);
  if (s->sending)
    cancel_op(s, OP_STREAM_SEND);
  if (s->receiving)
    cancel_op(s, OP_STREAM_RECV);
}

static void on_recv(rf_stream *s, int res) {
  if (res == -EINTR || res == -EAGAIN) {
    kick_recv(s);
    return;
  }
  if (res <= 0) {
    fail(s, res);
    return;
  }
  if (rf_buf_append(&s->in, s->rbuf, (size_t)res) < 0) {
    fail(s, -ENOMEM);
    return;
  }
  kick_recv(s);
}

static void on_send(rf_stream *s, int res) {
  if (res == -EINTR || res == -EAGAIN) {
    kick_send(s);
    return;
  }
  if (res <= 0) {
    fail(s, res < 0 ? res : -EPIPE);
    return;
  }
  rf_chunks_consumed(&s->out, (size_t)res);
  kick_send(s);
}

void rf_stream_on_cqe(rf_engine *e, uint64_t ud, int res) {
  uint32_t id = rf_ud_idx(ud);
  rf_stream *s = id < e->nstreams ? e->streams[id] : NULL;
  if (!s || (s->gen & 0xffffff) != rf_ud_gen(ud))
    return;
  switch (rf_ud_op(ud)) {
  case OP_STREAM_CONNECT:
    s->connecting = false;
    if (res < 0) {
      fail(s, res);
    } else if (!s->closing) {
      s->state = RF_STREAM_OPEN;
      kick_recv(s);
      kick_send(s);
    }
    break;
  case OP_STREAM_SEND:
    s->sending = false;
    if (s->state == RF_STREAM_CLOSED)
      rf_chunks_drop(&s->out);
    else
      on_send(s, res);
    break;
  case OP_STREAM_RECV:
    s->receiving = false;
    if (!s->closing)
      on_recv(s, res);
    break;
  default:
    break;
  }
  if (s->closing && !s->connecting && !s->sending && !s->receiving)
    destroy(s);
}

void rf_streams_free(rf_engine *e) {
  for (uint32_t i = 0; i < e->nstreams; i++)
    if (e->streams[i])
      destroy(e->streams[i]);
  free(e->streams);
  e->streams = NULL;
  e->nstreams = 0;
}
