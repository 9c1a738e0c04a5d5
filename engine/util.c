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

/* ---- small objects ---------------------------------------------------------------- */

/* Each chunk starts with a 16-byte header (the alignment malloc gives):
 * its size class, 0 for one from malloc, whose size follows. */
typedef struct smem_hdr {
  uint32_t cls;
  uint32_t pad;
  size_t size; /* cls 0: the size asked for */
} smem_hdr;
_Static_assert(sizeof(smem_hdr) == 16, "the header keeps malloc's alignment");

/* Under AddressSanitizer every chunk goes back to malloc at once, so a use
 * after free is still caught. */
#if defined(__SANITIZE_ADDRESS__)
#define SMEM_POOL(m) ((rf_smem *)NULL)
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SMEM_POOL(m) ((rf_smem *)NULL)
#endif
#endif
#ifndef SMEM_POOL
#define SMEM_POOL(m) (m)
#endif

void *rf_smem_alloc(rf_smem *m, size_t size) {
  m = SMEM_POOL(m);
  size_t cls = size ? (size + RF_SMEM_CLASS - 1) / RF_SMEM_CLASS : 1;
  smem_hdr *h;
  if (!m || size > RF_SMEM_MAX) {
    h = malloc(sizeof *h + size);
    if (!h)
      return NULL;
    h->cls = 0;
    h->size = size;
    return h + 1;
  }
  if (m->free[cls]) {
    h = m->free[cls];
    m->free[cls] = *(void **)(h + 1);
    m->nfree[cls]--;
    return h + 1;
  }
  h = malloc(sizeof *h + cls * RF_SMEM_CLASS);
  if (!h)
    return NULL;
  h->cls = (uint32_t)cls;
  return h + 1;
}

void *rf_smem_calloc(rf_smem *m, size_t n, size_t size) {
  if (size && n > SIZE_MAX / size)
    return NULL;
  void *p = rf_smem_alloc(m, n * size);
  if (p)
    memset(p, 0, n * size);
  return p;
}

void rf_smem_free(rf_smem *m, void *p) {
  if (!p)
    return;
  smem_hdr *h = (smem_hdr *)p - 1;
  m = SMEM_POOL(m);
  if (h->cls == 0 || !m || m->nfree[h->cls] >= RF_SMEM_KEEP) {
    free(h);
    return;
  }
  *(void **)p = m->free[h->cls];
  m->free[h->cls] = h;
  m->nfree[h->cls]++;
}

void *rf_smem_realloc(rf_smem *m, void *p, size_t size) {
  if (!p)
    return rf_smem_alloc(m, size);
  smem_hdr *h = (smem_hdr *)p - 1;
  size_t have = h->cls ? h->cls * RF_SMEM_CLASS : h->size;
  if (h->cls && size <= have)
    return p; /* still fits its class */
  void *q = rf_smem_alloc(m, size);
  if (!q)
    return NULL;
  memcpy(q, p, have < size ? have : size);
  rf_smem_free(m, p);
  return q;
}

void rf_smem_drop(rf_smem *m) {
  for (size_t c = 0; c < sizeof m->free / sizeof m->free[0]; c++) {
    while (m->free[c]) {
      smem_hdr *h = m->free[c];
      m->free[c] = *(void **)(h + 1);
      free(h);
    }
    m->nfree[c] = 0;
  }
}
