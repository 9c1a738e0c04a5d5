/* The engine's ring: its sizes, the fallbacks the tests can force, direct
 * descriptors (the mechanics are engine/plumb.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"

#define RF_BGID 1
/* Submission entries are written in turn around the ring, one or two per
 * request, and the kernel reads each as it is submitted: a small ring stays
 * in the cache (256 x 64 bytes = 16 KiB), where 2,048 meant a fresh line
 * for every entry. A full ring is submitted on the spot (rf_uring_sqe). */
#define RF_SQ_ENTRIES 256u

/* RINGFETCH_RING_FLAGS=0 / RINGFETCH_NO_DIRECT=1 / RINGFETCH_NO_MULTISHOT=1
 * force the fallbacks, so the tests can exercise them on a kernel that
 * supports everything. */
static bool env_set(const char *name) {
  const char *v = getenv(name);
  return v && *v && strcmp(v, "0") != 0;
}

static int setup_ring(rf_engine *e, char *err, size_t errlen) {
  unsigned cq = rf_pow2_at_least(e->max_conns * 4 + 1024);
  if (cq > 65536)
    cq = 65536;
  const char *force = getenv("RINGFETCH_RING_FLAGS");
  bool plain_only = force && strcmp(force, "0") == 0;
  return rf_uring_init(&e->ring, RF_SQ_ENTRIES, cq, plain_only, &e->ring_flags, err, errlen);
}

static void setup_files(rf_engine *e) {
  e->direct = false;
  struct io_uring_probe *probe = io_uring_get_probe_ring(&e->ring);
  bool ok = probe && io_uring_opcode_supported(probe, IORING_OP_SOCKET);
  io_uring_free_probe(probe);
  /* IORING_OP_SOCKET and IORING_RECVSEND_POLL_FIRST both came in Linux 5.19 */
  e->poll_first = ok;
  e->multishot = ok && !env_set("RINGFETCH_NO_MULTISHOT"); /* an EINVAL turns it off */
  if (!ok || env_set("RINGFETCH_NO_DIRECT"))
    return;
  if (io_uring_register_files_sparse(&e->ring, e->max_conns) == 0) {
    e->direct = true;
    e->nodelay_cmd = true; /* first failure turns it off */
  }
}

static int setup_buffers(rf_engine *e, char *err, size_t errlen) {
  uint32_t nbufs = rf_pow2_at_least(e->cfg.concurrency * 2);
  if (nbufs < 64)
    nbufs = 64;
  if (nbufs > 4096)
    nbufs = 4096;
  /* Larger receives mean fewer receive operations and fewer window-update
   * ACKs. A 1 GiB HTTPS body from the embedded server (client-bound) took
   * 0.48 s with 16 KiB buffers, 0.41 s with 32 and 0.37 s with 64 (128 KiB:
   * 0.74 s). From a saturated nginx, 64 KiB was 10-15% slower than 16 and
   * 32: on loopback our ACKs run part of the sender's transmit path in our
   * context, and fewer of them leave that work on nginx's busy core. 32 KiB
   * is the compromise. The ring cycles through every buffer, so all of them
   * end up resident: 32 KiB while that stays within 8 MiB, 16 KiB (one TLS
   * record) beyond. */
  uint32_t buf_size = 32768;
  while (buf_size > 16384 && (size_t)nbufs * buf_size > (8u << 20))
    buf_size /= 2;
  return rf_bufring_setup(&e->ring, &e->rx, nbufs, buf_size, RF_BGID, err, errlen);
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
  rf_bufring_free(&e->rx);
}
