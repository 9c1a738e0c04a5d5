/* Body sinks: where response bytes go (memory, nowhere, a file, an fd),
 * with an optional SHA-256. File and fd writes go through the ring, one write
 * in flight per sink, so the loop never blocks on a disk or a pipe. When too
 * many bytes wait to be written the connection stops reading (rf_sink_full)
 * and resumes when the writes catch up. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/internal.h"

#define SINK_HIGH (1u << 20) /* stop reading the socket above this */
#define SINK_LOW (256u << 10) /* resume below this */

void rf_sink_reset(rf_sink *k) {
  rf_buf_free(&k->mem);
  rf_chunks_drop(&k->out);
  memset(k, 0, offsetof(rf_sink, sha)); /* 112 bytes of hash state nobody reads unless hashing */
  k->fd = -1;
}

static void sink_fail(rf_sink *k, int err) {
  if (!k->failed) {
    k->failed = true;
    k->err = err;
  }
  rf_chunks_drop(&k->out);
}

static void kick_write(rf_engine *e, rf_slot *s) {
  rf_sink *k = &s->sink;
  if (k->write_inflight || k->opening || k->fd < 0 || !k->out.head)
    return;
  rf_chunk *c = k->out.head;
  struct io_uring_sqe *sqe = rf_sqe(e);
  uint64_t off = k->mode == RF_BODY_FILE ? k->file_off : (uint64_t)-1; /* -1: current position */
  io_uring_prep_write(sqe, k->fd, c->data + c->off, (unsigned)(c->len - c->off), off);
  io_uring_sqe_set_data64(sqe, rf_ud(s->idx, 0, OP_FILE_WRITE));
  k->write_inflight = true;
}

static void kick_close(rf_engine *e, rf_slot *s) {
  rf_sink *k = &s->sink;
  struct io_uring_sqe *sqe = rf_sqe(e);
  io_uring_prep_close(sqe, k->fd);
  io_uring_sqe_set_data64(sqe, rf_ud(s->idx, 0, OP_FILE_CLOSE));
  k->closing = true;
  k->fd = -1;
}

int rf_sink_open(rf_engine *e, rf_slot *s) {
  rf_sink *k = &s->sink;
  rf_req *q = s->req;
  k->mode = q->body_mode;
  k->hash = (q->flags & RF_REQ_SHA256) != 0;
  if (k->hash)
    SHA256_Init(&k->sha);
  k->limit = q->body_limit ? q->body_limit : e->cfg.max_body_bytes;
  if (k->mode == RF_BODY_MEMORY &&
      (k->limit == 0 || (e->cfg.memory_body_max && e->cfg.memory_body_max < k->limit)))
    k->limit = e->cfg.memory_body_max;
  if (k->mode == RF_BODY_FD) {
    k->fd = q->body_fd;
    k->own_fd = false;
  } else if (k->mode == RF_BODY_FILE) {
    struct io_uring_sqe *sqe = rf_sqe(e);
    io_uring_prep_openat(sqe, AT_FDCWD, q->body_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    io_uring_sqe_set_data64(sqe, rf_ud(s->idx, 0, OP_FILE_OPEN));
    k->opening = true;
  }
  return 0;
}

int rf_sink_write(rf_engine *e, rf_slot *s, const uint8_t *p, size_t n) {
  rf_sink *k = &s->sink;
  if (k->failed)
    return -1;
  if (k->limit && k->bytes + n > k->limit) {
    rf_slot_fail(e, s, RF_ERR_TOO_LARGE, "response body larger than %llu bytes",
                 (unsigned long long)k->limit);
    return -1;
  }
  k->bytes += n;
  if (k->hash)
    SHA256_Update(&k->sha, p, n);
  switch (k->mode) {
  case RF_BODY_DISCARD:
    return 0;
  case RF_BODY_MEMORY:
    if (rf_buf_append(&k->mem, p, n) < 0) {
      rf_slot_fail(e, s, RF_ERR_INTERNAL, "out of memory for the response body");
      return -1;
    }
    return 0;
  case RF_BODY_FILE:
  case RF_BODY_FD:
    break;
  }
  if (rf_chunks_append(&k->out, p, n) < 0) {
    rf_slot_fail(e, s, RF_ERR_INTERNAL, "out of memory for the response body");
    return -1;
  }
  kick_write(e, s);
  return 0;
}

bool rf_sink_full(const rf_sink *k) { return k->out.bytes >= SINK_HIGH; }

/* Called when no more body will come (done or failed). Returns true when the
 * sink has nothing in flight; otherwise rf_outcome_settle runs later. */
bool rf_sink_finish(rf_engine *e, rf_slot *s) {
  rf_sink *k = &s->sink;
  if (!k->finished) {
    k->finished = true;
    if (k->hash) {
      SHA256_Final(s->res.body_sha256, &k->sha);
      s->res.has_sha256 = true;
    }
  }
  if (s->err != RF_OK)
    rf_chunks_drop(&k->out); /* the request failed: stop writing */
  if (k->opening || k->write_inflight || k->closing)
    return false;
  if (k->out.head) {
    kick_write(e, s);
    return false;
  }
  if (k->own_fd && k->fd >= 0) {
    kick_close(e, s);
    return false;
  }
  return true;
}

void rf_sink_on_cqe(rf_engine *e, rf_slot *s, enum rf_op op, int res) {
  rf_sink *k = &s->sink;
  switch (op) {
  case OP_FILE_OPEN:
    k->opening = false;
    if (res < 0) {
      sink_fail(k, res);
    } else {
      k->fd = res;
      k->own_fd = true;
    }
    break;
  case OP_FILE_WRITE:
    k->write_inflight = false;
    if (res < 0) {
      sink_fail(k, res);
      if (k->mode == RF_BODY_FILE && (res == -ENOSPC || res == -EDQUOT || res == -EFBIG))
        unlink(s->req->body_path); /* a cut body on a full disk: give the room back to the next */
    } else if (res == 0) {
      sink_fail(k, -EIO);
    } else if (k->out.head) {
      k->file_off += (uint64_t)res;
      rf_chunks_consumed(&k->out, (size_t)res);
    }
    break;
  case OP_FILE_CLOSE:
    k->closing = false;
    if (res < 0)
      sink_fail(k, res);
    break;
  default:
    return;
  }
  if (k->failed && s->err == RF_OK && s->state == SLOT_RUNNING) {
    /* the connection is still reading: fail the request there */
    rf_slot_fail(e, s, RF_ERR_IO, "cannot write the body to %s: %s",
                 k->mode == RF_BODY_FILE ? s->req->body_path : "the output", strerror(-k->err));
    return;
  }
  if (k->failed && s->err == RF_OK) {
    s->err = RF_ERR_IO;
    snprintf(s->msg, sizeof s->msg, "cannot write the body: %s", strerror(-k->err));
  }
  if (k->finished) {
    if (rf_sink_finish(e, s))
      rf_outcome_settle(e, s);
    return;
  }
  kick_write(e, s);
  if (s->conn && s->conn->h2 && k->out.bytes < SINK_LOW)
    rf_h2_sink_drained(e, s->conn, s); /* its stream's window opens again */
  else if (s->conn && s->conn->paused && k->out.bytes < SINK_LOW)
    rf_conn_resume(e, s->conn);
}
