/* The engine's plumbing that knows nothing of the engine: io_uring setup
 * with fallbacks, SQE supply, the provided-buffer ring, the timer heap, a
 * growable byte buffer. engine/ builds on it, and so does the embedded test
 * server (tools/server/), which must stay independent of the engine's HTTP
 * code but has no reason to carry a second copy of the same ring mechanics.
 * Nothing here may know an engine structure, HTTP or a front end. */
#ifndef RF_ENGINE_PLUMB_H
#define RF_ENGINE_PLUMB_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The smallest power of two >= v (at most 2^30). */
unsigned rf_pow2_at_least(unsigned v);

/* ---- the ring ---------------------------------------------------------------
 * Tries the setup flags best first (single issuer, deferred task work, ...),
 * falling back for older kernels; plain_only starts at the last, plainest set.
 * Registers the ring fd (an optimisation only). Returns 0 and the flags that
 * worked, or a negative errno with a message in err. */
int rf_uring_init(struct io_uring *ring, unsigned sq_entries, unsigned cq_entries, bool plain_only,
                  unsigned *flags_out, char *err, size_t errlen);
struct io_uring_sqe *rf_uring_sqe(struct io_uring *ring);   /* never NULL: flushes a full SQ */
void rf_uring_reserve(struct io_uring *ring, unsigned n);   /* room for a linked chain of n */

/* ---- provided receive buffers: n buffers of size bytes in group bgid ------ */
typedef struct rf_bufring {
  struct io_uring_buf_ring *br;
  uint8_t *bufs;
  uint32_t n, size;
  unsigned mask;
  int pending; /* buffers added since the last advance */
} rf_bufring;

/* n is a power of two. Registers the ring and hands the kernel every buffer.
 * On failure nothing stays mapped. */
int rf_bufring_setup(struct io_uring *ring, rf_bufring *b, uint32_t n, uint32_t size, uint16_t bgid,
                     char *err, size_t errlen);
void rf_bufring_free(rf_bufring *b); /* after the ring is gone; zeroed b is OK */
void rf_bufring_recycle(rf_bufring *b, int bid);
void rf_bufring_flush(rf_bufring *b); /* publish recycled buffers */
static inline uint8_t *rf_bufring_ptr(const rf_bufring *b, int bid) {
  return b->bufs + (size_t)bid * b->size;
}

/* ---- growable byte buffer ------------------------------------------------ */
typedef struct rf_buf {
  uint8_t *p;
  size_t len, cap;
} rf_buf;
int rf_buf_reserve(rf_buf *b, size_t extra); /* 0 or -ENOMEM */
int rf_buf_append(rf_buf *b, const void *p, size_t n);
void rf_buf_free(rf_buf *b);

/* ---- timers: an indexed min-heap; owners embed an rf_timer ---------------
 * Deadlines may move later without touching the heap (rf_timer.due): the heap
 * key only has to be <= due, and an early pop re-files the entry. The unit is
 * the owner's (the engine: ms). The kind says which struct embeds the timer,
 * so an expiry reaches its owner. */
typedef struct rf_timer {
  uint64_t key;  /* position in heap order */
  uint64_t due;  /* real deadline; 0 = none */
  uint32_t pos;  /* heap index + 1; 0 = not in the heap */
  uint8_t kind;  /* set once by the owner */
} rf_timer;

typedef struct rf_timers {
  rf_timer **h;
  uint32_t n, cap;
} rf_timers;

int rf_timers_init(rf_timers *t, uint32_t cap);
void rf_timers_free(rf_timers *t);
/* Sets the deadline (0 = cancel). Cheap when moving it later. */
void rf_timer_set(rf_timers *t, rf_timer *tm, uint64_t due);
/* Pops one timer that is due at now, or NULL. */
rf_timer *rf_timers_expired(rf_timers *t, uint64_t now);
/* Earliest heap key, or UINT64_MAX when empty. */
uint64_t rf_timers_next(const rf_timers *t);

#endif
