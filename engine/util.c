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
