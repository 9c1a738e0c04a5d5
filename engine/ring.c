/* The ring: setup with fallbacks, SQE supply, provided receive buffers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "engine/internal.h"

#define RF_BGID 1
#define RF_SQ_ENTRIES 2048u

static unsigned pow2_at_least(unsigned v) {
  unsigned p = 1;
  while (p < v && p < (1u << 30))
    p <<= 1;
  return p;
}

/* RINGFETCH_RING_FLAGS=0 / RINGFETCH_NO_DIRECT=1 force the fallbacks, so the
 * tests can exercise them on a kernel that supports everything. */
static bool env_set(const char *name) {
  const char *v = getenv(name);
  return v && *v && strcmp(v, "0") != 0;
}

static int setup_ring(rf_engine *e, char *err, size_t errlen) {
  unsigned cq = pow2_at_least(e->max_conns * 4 + 1024);
  if (cq > 65536)
    cq = 65536;
  const unsigned tries[] = {
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN |
          IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE,
      IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE,
      IORING_SETUP_CQSIZE,
  };
  const char *force = getenv("RINGFETCH_RING_FLAGS");
  size_t first = (force && strcmp(force, "0") == 0) ? 2 : 0;
  int rc = -EINVAL;
  for (size_t i = first; i < sizeof tries / sizeof tries[0]; i++) {
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = tries[i];
    p.cq_entries = cq;
    rc = io_uring_queue_init_params(RF_SQ_ENTRIES, &e->ring, &p);
    if (rc == 0) {
      e->ring_flags = tries[i];
      break;
    }
    if (rc != -EINVAL)
      break;
  }
  if (rc < 0) {
    snprintf(err, errlen, "io_uring setup failed: %s", strerror(-rc));
    return rc;
  }
  io_uring_register_ring_fd(&e->ring); /* an optimisation only */
  return 0;
}

static void setup_files(rf_engine *e) {
  e->direct = false;
  struct io_uring_probe *probe = io_uring_get_probe_ring(&e->ring);
  bool ok = probe && io_uring_opcode_supported(probe, IORING_OP_SOCKET);
  io_uring_free_probe(probe);
  /* IORING_OP_SOCKET and IORING_RECVSEND_POLL_FIRST both came in Linux 5.19 */
  e->poll_first = ok;
  if (!ok || env_set("RINGFETCH_NO_DIRECT"))
    return;
  if (io_uring_register_files_sparse(&e->ring, e->max_conns) == 0) {
    e->direct = true;
    e->nodelay_cmd = true; /* first failure turns it off */
  }
}

static int setup_buffers(rf_engine *e, char *err, size_t errlen) {
  e->nbufs = pow2_at_least(e->cfg.concurrency * 2);
  if (e->nbufs < 64)
    e->nbufs = 64;
  if (e->nbufs > 4096)
    e->nbufs = 4096;
  /* Larger receives mean fewer receive operations and fewer window-update
   * ACKs. A 1 GiB HTTPS body from the embedded server (client-bound) took
   * 0.48 s with 16 KiB buffers, 0.41 s with 32 and 0.37 s with 64 (128 KiB:
   * 0.74 s). From a saturated nginx, 64 KiB was 10-15% slower than 16 and
   * 32: on loopback our ACKs run part of the sender's transmit path in our
   * context, and fewer of them leave that work on nginx's busy core. 32 KiB
   * is the compromise. The ring cycles through every buffer, so all of them
   * end up resident: 32 KiB while that stays within 8 MiB, 16 KiB (one TLS
   * record) beyond. */
  e->buf_size = 32768;
  while (e->buf_size > 16384 && (size_t)e->nbufs * e->buf_size > (8u << 20))
    e->buf_size /= 2;
  e->br_mask = io_uring_buf_ring_mask(e->nbufs);

  size_t ring_bytes = (size_t)e->nbufs * sizeof(struct io_uring_buf);
  void *ring_mem = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  void *bufs = mmap(NULL, (size_t)e->nbufs * e->buf_size, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (ring_mem == MAP_FAILED || bufs == MAP_FAILED) {
    if (ring_mem != MAP_FAILED)
      munmap(ring_mem, ring_bytes);
    if (bufs != MAP_FAILED)
      munmap(bufs, (size_t)e->nbufs * e->buf_size);
    snprintf(err, errlen, "cannot allocate receive buffers");
    return -ENOMEM;
  }
  e->br = ring_mem;
  e->bufs = bufs;

  /* liburing 2.3 has no io_uring_setup_buf_ring: register by hand */
  struct io_uring_buf_reg reg;
  memset(&reg, 0, sizeof reg);
  reg.ring_addr = (uint64_t)(uintptr_t)e->br;
  reg.ring_entries = e->nbufs;
  reg.bgid = RF_BGID;
  int rc = io_uring_register_buf_ring(&e->ring, &reg, 0);
  if (rc < 0) {
    snprintf(err, errlen, "cannot register a provided buffer ring: %s", strerror(-rc));
    return rc;
  }
  io_uring_buf_ring_init(e->br);
  for (uint32_t i = 0; i < e->nbufs; i++)
    io_uring_buf_ring_add(e->br, rf_buf_ptr(e, (int)i), e->buf_size, (unsigned short)i, e->br_mask,
                          (int)i);
  io_uring_buf_ring_advance(e->br, (int)e->nbufs);
  return 0;
}

int rf_ring_setup(rf_engine *e, char *err, size_t errlen) {
  int rc = setup_ring(e, err, errlen);
  if (rc)
    return rc;
  setup_files(e);
  rc = setup_buffers(e, err, errlen);
  if (rc) {
    io_uring_queue_exit(&e->ring);
    return rc;
  }
  return 0;
}

void rf_ring_teardown(rf_engine *e) {
  io_uring_queue_exit(&e->ring); /* cancels everything, drops direct files */
  if (e->br)
    munmap(e->br, (size_t)e->nbufs * sizeof(struct io_uring_buf));
  if (e->bufs)
    munmap(e->bufs, (size_t)e->nbufs * e->buf_size);
  e->br = NULL;
  e->bufs = NULL;
}

struct io_uring_sqe *rf_sqe(rf_engine *e) {
  for (int tries = 0; tries < 1000; tries++) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&e->ring);
    if (sqe)
      return sqe;
    /* A full SQ is normal under load: push what we have and go on. */
    io_uring_submit(&e->ring);
  }
  fprintf(stderr, "ringfetch: the submission queue stays full; aborting\n");
  abort();
}

void rf_sqe_reserve(rf_engine *e, unsigned n) {
  /* A linked chain must reach the kernel in one submission: split across two,
   * its head would run unlinked and the tail could act on a socket that does
   * not exist yet. */
  for (int tries = 0; tries < 1000 && io_uring_sq_space_left(&e->ring) < n; tries++)
    io_uring_submit(&e->ring);
}

void rf_buf_recycle(rf_engine *e, int bid) {
  io_uring_buf_ring_add(e->br, rf_buf_ptr(e, bid), e->buf_size, (unsigned short)bid, e->br_mask,
                        e->br_pending++);
}

void rf_buf_flush(rf_engine *e) {
  if (e->br_pending) {
    io_uring_buf_ring_advance(e->br, e->br_pending);
    e->br_pending = 0;
  }
}
