/* Ring plumbing with no engine in it (engine/plumb.h): ring setup with
 * fallbacks, SQE supply, the provided-buffer ring. */
#include "engine/plumb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

unsigned rf_pow2_at_least(unsigned v) {
  unsigned p = 1;
  while (p < v && p < (1u << 30))
    p <<= 1;
  return p;
}

int rf_uring_init(struct io_uring *ring, unsigned sq_entries, unsigned cq_entries, bool plain_only,
                  unsigned *flags_out, char *err, size_t errlen) {
  const unsigned tries[] = {
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN |
          IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE,
      IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE,
      IORING_SETUP_CQSIZE,
  };
  const size_t ntries = sizeof tries / sizeof tries[0];
  int rc = -EINVAL;
  for (size_t i = plain_only ? ntries - 1 : 0; i < ntries; i++) {
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = tries[i];
    p.cq_entries = cq_entries;
    rc = io_uring_queue_init_params(sq_entries, ring, &p);
    if (rc == 0) {
      if (flags_out)
        *flags_out = tries[i];
      break;
    }
    if (rc != -EINVAL) /* only an unknown flag is worth another try */
      break;
  }
  if (rc < 0) {
    snprintf(err, errlen, "io_uring setup failed: %s", strerror(-rc));
    return rc;
  }
  io_uring_register_ring_fd(ring); /* an optimisation only */
  return 0;
}

struct io_uring_sqe *rf_uring_sqe(struct io_uring *ring) {
  for (int tries = 0; tries < 1000; tries++) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    if (sqe)
      return sqe;
    /* A full SQ is normal under load: push what we have and go on. */
    io_uring_submit(ring);
  }
  fprintf(stderr, "ringfetch: the submission queue stays full; aborting\n");
  abort();
}

void rf_uring_reserve(struct io_uring *ring, unsigned n) {
  /* A linked chain must reach the kernel in one submission: split across two,
   * its head would run unlinked and the tail could act on a socket that does
   * not exist yet. */
  for (int tries = 0; tries < 1000 && io_uring_sq_space_left(ring) < n; tries++)
    io_uring_submit(ring);
}

static int bufring_map(rf_bufring *b, char *err, size_t errlen) {
  size_t ring_bytes = (size_t)b->n * sizeof(struct io_uring_buf);
  void *ring_mem = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  void *bufs = mmap(NULL, (size_t)b->n * b->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                    -1, 0);
  if (ring_mem != MAP_FAILED)
    b->br = ring_mem;
  if (bufs != MAP_FAILED)
    b->bufs = bufs;
  if (!b->br || !b->bufs) {
    rf_bufring_free(b);
    snprintf(err, errlen, "cannot allocate receive buffers");
    return -ENOMEM;
  }
  return 0;
}

int rf_bufring_setup(struct io_uring *ring, rf_bufring *b, uint32_t n, uint32_t size, uint16_t bgid,
                     char *err, size_t errlen) {
  memset(b, 0, sizeof *b);
  b->n = n;
  b->size = size;
  b->mask = (unsigned)io_uring_buf_ring_mask(n);
  int rc = bufring_map(b, err, errlen);
  if (rc)
    return rc;
  /* liburing 2.3 has no io_uring_setup_buf_ring: register by hand */
  struct io_uring_buf_reg reg;
  memset(&reg, 0, sizeof reg);
  reg.ring_addr = (uint64_t)(uintptr_t)b->br;
  reg.ring_entries = n;
  reg.bgid = bgid;
  rc = io_uring_register_buf_ring(ring, &reg, 0);
  if (rc < 0) {
    rf_bufring_free(b);
    snprintf(err, errlen, "cannot register a provided buffer ring: %s", strerror(-rc));
    return rc;
  }
  io_uring_buf_ring_init(b->br);
  for (uint32_t i = 0; i < n; i++)
    rf_bufring_recycle(b, (int)i);
  rf_bufring_flush(b);
  return 0;
}

void rf_bufring_free(rf_bufring *b) {
  if (b->br)
    munmap(b->br, (size_t)b->n * sizeof(struct io_uring_buf));
  if (b->bufs)
    munmap(b->bufs, (size_t)b->n * b->size);
  b->br = NULL;
  b->bufs = NULL;
}

void rf_bufring_recycle(rf_bufring *b, int bid) {
  io_uring_buf_ring_add(b->br, rf_bufring_ptr(b, bid), b->size, (unsigned short)bid, (int)b->mask,
                        b->pending++);
}

void rf_bufring_flush(rf_bufring *b) {
  if (b->pending) {
    io_uring_buf_ring_advance(b->br, b->pending);
    b->pending = 0;
  }
}
