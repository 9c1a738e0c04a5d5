/* The engine's small-object lists (rf_smem, used for HTTP/2): every chunk
 * keeps its bytes until freed whatever else comes and goes, realloc keeps
 * the contents, freed chunks of a size class are used again, and at most
 * RF_SMEM_KEEP of them are kept per class. Under AddressSanitizer the lists
 * are bypassed (every chunk goes back to malloc, so a use after free is
 * still caught): then nothing is kept. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"
#include "testutil.h"


#if defined(__SANITIZE_ADDRESS__)
#define POOLED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOLED 0
#endif
#endif
#ifndef POOLED
#define POOLED 1
#endif

#define N 4000

static unsigned char *ptr[N];
static size_t len[N];

static void fill(int i) {
  for (size_t k = 0; k < len[i]; k++)
    ptr[i][k] = (unsigned char)(i * 31 + k);
}

static int intact(int i) {
  for (size_t k = 0; k < len[i]; k++)
    if (ptr[i][k] != (unsigned char)(i * 31 + k))
      return 0;
  return 1;
}

int main(void) {
  rf_smem m;
  memset(&m, 0, sizeof m);
  unsigned seed = 7;
  /* random sizes across the classes and past the largest, random frees,
   * reallocs that grow and shrink: every live chunk keeps its bytes */
  for (int round = 0; round < 20; round++) {
    for (int i = 0; i < N; i++) {
      seed = seed * 1103515245u + 12345u;
      int op = (int)(seed >> 16) % 4;
      size_t size = (seed >> 4) % (RF_SMEM_MAX + 600);
      if (!ptr[i]) {
        ptr[i] = op == 0 ? rf_smem_calloc(&m, 1, size) : rf_smem_alloc(&m, size);
        CHECK(ptr[i] != NULL);
        if (op == 0)
          for (size_t k = 0; k < size; k++)
            CHECK(ptr[i][k] == 0);
        len[i] = size;
        fill(i);
      } else if (op == 1) {
        CHECK(intact(i));
        rf_smem_free(&m, ptr[i]);
        ptr[i] = NULL;
      } else if (op == 2) {
        CHECK(intact(i));
        unsigned char *q = rf_smem_realloc(&m, ptr[i], size);
        CHECK(q != NULL);
        size_t keep = size < len[i] ? size : len[i];
        ptr[i] = q;
        len[i] = keep;
        CHECK(intact(i)); /* the common part survived */
        len[i] = size;
        fill(i);
      }
    }
    for (int i = 0; i < N; i++)
      CHECK(!ptr[i] || intact(i));
  }
  for (int i = 0; i < N; i++) {
    rf_smem_free(&m, ptr[i]);
    ptr[i] = NULL;
  }
  /* the bound: however many are freed, a class keeps at most RF_SMEM_KEEP */
  size_t cls = 100 / RF_SMEM_CLASS + 1;
  for (int i = 0; i < N; i++)
    ptr[i] = rf_smem_alloc(&m, 100);
  for (int i = 0; i < N; i++)
    rf_smem_free(&m, ptr[i]);
  CHECK(m.nfree[cls] == (POOLED ? RF_SMEM_KEEP : 0));
  /* a freed chunk of a class is the next one given for that class */
  void *a = rf_smem_alloc(&m, 90);
  rf_smem_free(&m, a);
  void *b = rf_smem_alloc(&m, 96); /* the same 32-byte class as 90 */
  if (POOLED)
    CHECK(a == b);
  rf_smem_free(&m, b);
  rf_smem_free(&m, NULL);
  void *z = rf_smem_alloc(NULL, 10); /* no pool: malloc and free */
  CHECK(z != NULL);
  rf_smem_free(NULL, z);
  rf_smem_drop(&m);
  for (size_t c = 0; c < sizeof m.nfree / sizeof m.nfree[0]; c++)
    CHECK(m.nfree[c] == 0 && m.free[c] == NULL);
  printf("test_smem: %s\n", POOLED ? "pooled" : "bypassed under ASan");
  return TU_EXIT();
}
