/* Files written through the ring (rf_outfile): the CLI's records, WARC
 * members and indexes go out without a blocking write on the loop. Bytes are
 * copied into a queue of chunks and written in order, one write in flight
 * per file; nothing is dropped, so a slow disk shows as a growing backlog,
 * which the writer turns into backpressure. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/internal.h"


struct rf_outfile {
  rf_engine *e;
  int fd;
  uint32_t id;           /* index in e->outfiles: the user_data of its writes */
  rf_chunks out;
  uint64_t written;      /* bytes the kernel took so far */
  int64_t pos;           /* where the next write goes; -1: a pipe or tty (no position) */
  bool inflight;
  int err;               /* the first write error, -errno */
};

static void kick(rf_outfile *f) {
  if (f->inflight || f->err || !f->out.head)
    return;
  rf_chunk *c = f->out.head;
  struct io_uring_sqe *sqe = rf_sqe(f->e);
  /* An explicit offset, not -1 ("the file's position"): after a short write
   * to a full tmpfs the kernel reported the bytes written but left the
   * position behind, and the next write overwrote them. O_APPEND files
   * append whatever the offset. */
  io_uring_prep_write(sqe, f->fd, c->data + c->off, (unsigned)(c->len - c->off), (uint64_t)f->pos);
  io_uring_sqe_set_data64(sqe, rf_ud(f->id, 0, OP_OUT_WRITE));
  f->inflight = true;
}

int rf_outfile_new(rf_engine *e, int fd, rf_outfile **out) {
  *out = NULL;
  uint32_t id = 0;
  while (id < e->noutfiles && e->outfiles[id])
    id++;
  if (id == e->noutfiles) {
    rf_outfile **t = realloc(e->outfiles, sizeof *t * (e->noutfiles + 4));
    if (!t)
      return -ENOMEM;
    memset(t + e->noutfiles, 0, sizeof *t * 4);
    e->outfiles = t;
    e->noutfiles += 4;
  }
  rf_outfile *f = calloc(1, sizeof *f);
  if (!f)
    return -ENOMEM;
  f->e = e;
  f->fd = fd;
  f->id = id;
  off_t at = lseek(fd, 0, SEEK_CUR);
  f->pos = at < 0 ? -1 : (int64_t)at;
  e->outfiles[id] = f;
  *out = f;
  return 0;
}

int rf_outfile_write(rf_outfile *f, const void *p, size_t n) {
  if (f->err)
    return f->err;
  if (rf_chunks_append(&f->out, p, n) < 0)
    return -ENOMEM;
  kick(f);
  return 0;
}

size_t rf_outfile_backlog(const rf_outfile *f) { return f->out.bytes; }

uint64_t rf_outfile_written(const rf_outfile *f) { return f->written; }

void rf_outfile_on_cqe(rf_engine *e, uint32_t id, int res) {
  rf_outfile *f = id < e->noutfiles ? e->outfiles[id] : NULL;
  if (!f)
    return;
  f->inflight = false;
  if (res <= 0) {
    if (res == -EINTR || res == -EAGAIN) {
      kick(f);
      return;
    }
    f->err = res < 0 ? res : -EIO; /* 0 bytes written: no room, the disk is full */
    rf_chunks_drop(&f->out);
    return;
  }
  f->written += (uint64_t)res;
  if (f->pos >= 0)
    f->pos += res;
  rf_chunks_consumed(&f->out, (size_t)res);
  kick(f);
}

int rf_outfile_close(rf_outfile *f) {
  if (!f)
    return 0;
  rf_engine *e = f->e;
  while (f->inflight || (f->out.head && !f->err))
    if (rf_run(e, 100) < 0)
      break;
  int err = f->err;
  rf_chunks_drop(&f->out);
  if (f->pos >= 0) /* the descriptor's position where the file ends, for whoever writes next */
    lseek(f->fd, (off_t)f->pos, SEEK_SET);
  if (!f->inflight) { /* else the engine is broken: leave the struct to rf_engine_free */
    e->outfiles[f->id] = NULL;
    free(f);
  }
  return err;
}

void rf_outfiles_free(rf_engine *e) {
  for (uint32_t i = 0; i < e->noutfiles; i++) {
    if (e->outfiles[i]) {
      rf_chunks_drop(&e->outfiles[i]->out);
      free(e->outfiles[i]);
    }
  }
  free(e->outfiles);
  e->outfiles = NULL;
  e->noutfiles = 0;
}
