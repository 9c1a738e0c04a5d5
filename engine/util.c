/* Small shared pieces: the monotonic clock and a growable byte buffer. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/internal.h"

uint64_t rf_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t rf_monotonic_us(void) { return rf_now_us(); }

int rf_buf_reserve(rf_buf *b, size_t extra) {
  if (b->cap - b->len >= extra)
    return 0;
  size_t cap = b->cap ? b->cap : 512;
  while (cap - b->len < extra) {
    if (cap > SIZE_MAX / 2)
      return -ENOMEM;
    cap *= 2;
  }
  uint8_t *p = realloc(b->p, cap);
  if (!p)
    return -ENOMEM;
  b->p = p;
  b->cap = cap;
  return 0;
}

int rf_buf_append(rf_buf *b, const void *p, size_t n) {
  int rc = rf_buf_reserve(b, n);
  if (rc)
    return rc;
  memcpy(b->p + b->len, p, n);
  b->len += n;
  return 0;
}

void rf_buf_free(rf_buf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

int rf_chunks_append(rf_chunks *q, const void *p, size_t n) {
  const uint8_t *s = p;
  while (n > 0) {
    rf_chunk *c = q->tail;
    /* appending to a chunk being written is fine: the write's range was
     * fixed when it was queued, the rest goes with the next one */
    if (!c || c->len == RF_CHUNK_SIZE) {
      c = malloc(sizeof *c + RF_CHUNK_SIZE);
      if (!c)
        return -ENOMEM;
      c->next = NULL;
      c->len = c->off = 0;
      if (q->tail)
        q->tail->next = c;
      else
        q->head = c;
      q->tail = c;
    }
    size_t take = RF_CHUNK_SIZE - c->len < n ? RF_CHUNK_SIZE - c->len : n;
    memcpy(c->data + c->len, s, take);
    c->len += take;
    q->bytes += take;
    s += take;
    n -= take;
  }
  return 0;
}

void rf_chunks_consumed(rf_chunks *q, size_t n) {
  rf_chunk *c = q->head;
  if (!c)
    return;
  c->off += n;
  q->bytes -= n;
  if (c->off == c->len) {
    q->head = c->next;
    if (!q->head)
      q->tail = NULL;
    free(c);
  }
}

void rf_chunks_drop(rf_chunks *q) {
  while (q->head) {
    rf_chunk *c = q->head;
    q->head = c->next;
    free(c);
  }
  q->tail = NULL;
  q->bytes = 0;
}
