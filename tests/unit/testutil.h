/* Tiny check macros for the unit tests (each test is its own program).
 *
 * A failed check prints file:line, the expression and the values, and counts;
 * the test goes on so one run shows every failure. TU_EXIT() prints a summary
 * and gives main()'s return value: 0 when every check passed.
 *
 * tu_guard_* put a buffer's end right before a PROT_NONE page, so reading
 * (or writing) one byte past it crashes (picohttpparser's trick). */
#ifndef RF_TESTUTIL_H
#define RF_TESTUTIL_H

#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

__attribute__((unused)) static int tu_failures;
__attribute__((unused)) static long tu_checks;

/* Prints n bytes as a C string literal (escapes for the rest), at most 200. */
static inline void tu_print_bytes(const void *p, size_t n) {
  const unsigned char *s = p;
  fputc('"', stderr);
  for (size_t i = 0; i < n && i < 200; i++) {
    unsigned char c = s[i];
    if (c == '\r')
      fputs("\\r", stderr);
    else if (c == '\n')
      fputs("\\n", stderr);
    else if (c == '"' || c == '\\')
      fprintf(stderr, "\\%c", c);
    else if (c < 0x20 || c >= 0x7f)
      fprintf(stderr, "\\x%02x", c);
    else
      fputc(c, stderr);
  }
  fputc('"', stderr);
  if (n > 200)
    fprintf(stderr, "... (%zu bytes)", n);
}

static inline int tu_fail_head(const char *file, int line, const char *what) {
  tu_failures++;
  fprintf(stderr, "%s:%d: CHECK failed: %s", file, line, what);
  return 0;
}

#define CHECK(c)                                                                                   \
  do {                                                                                             \
    tu_checks++;                                                                                   \
    if (!(c)) {                                                                                    \
      tu_fail_head(__FILE__, __LINE__, #c);                                                        \
      fputc('\n', stderr);                                                                         \
    }                                                                                              \
  } while (0)

/* Like CHECK, with a printf-style context line (e.g. which input). */
#define CHECKF(c, ...)                                                                             \
  do {                                                                                             \
    tu_checks++;                                                                                   \
    if (!(c)) {                                                                                    \
      tu_fail_head(__FILE__, __LINE__, #c);                                                        \
      fputs(" [", stderr);                                                                         \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fputs("]\n", stderr);                                                                        \
    }                                                                                              \
  } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
  do {                                                                                             \
    long long tu_a_ = (long long)(a), tu_b_ = (long long)(b);                                      \
    tu_checks++;                                                                                   \
    if (tu_a_ != tu_b_) {                                                                          \
      tu_fail_head(__FILE__, __LINE__, #a " == " #b);                                              \
      fprintf(stderr, ": %lld != %lld\n", tu_a_, tu_b_);                                           \
    }                                                                                              \
  } while (0)

/* Both NUL-terminated; NULL is a distinct value. */
#define CHECK_EQ_STR(a, b)                                                                         \
  do {                                                                                             \
    const char *tu_a_ = (a), *tu_b_ = (b);                                                         \
    tu_checks++;                                                                                   \
    if (!tu_a_ || !tu_b_ ? tu_a_ != tu_b_ : strcmp(tu_a_, tu_b_) != 0) {                          \
      tu_fail_head(__FILE__, __LINE__, #a " == " #b);                                              \
      fputs(": ", stderr);                                                                         \
      if (tu_a_)                                                                                   \
        tu_print_bytes(tu_a_, strlen(tu_a_));                                                      \
      else                                                                                         \
        fputs("NULL", stderr);                                                                     \
      fputs(" != ", stderr);                                                                       \
      if (tu_b_)                                                                                   \
        tu_print_bytes(tu_b_, strlen(tu_b_));                                                      \
      else                                                                                         \
        fputs("NULL", stderr);                                                                     \
      fputc('\n', stderr);                                                                         \
    }                                                                                              \
  } while (0)

/* A (pointer, length) span against a NUL-terminated expected string. */
#define CHECK_EQ_SPAN(p, n, b)                                                                     \
  do {                                                                                             \
    const char *tu_p_ = (const char *)(p), *tu_b_ = (b);                                           \
    size_t tu_n_ = (size_t)(n);                                                                    \
    tu_checks++;                                                                                   \
    if (tu_n_ != strlen(tu_b_) || (tu_n_ && (!tu_p_ || memcmp(tu_p_, tu_b_, tu_n_) != 0))) {       \
      tu_fail_head(__FILE__, __LINE__, #p "[0.." #n ") == " #b);                                   \
      fputs(": ", stderr);                                                                         \
      if (tu_p_)                                                                                   \
        tu_print_bytes(tu_p_, tu_n_);                                                              \
      else                                                                                         \
        fputs("NULL", stderr);                                                                     \
      fputs(" != ", stderr);                                                                       \
      tu_print_bytes(tu_b_, strlen(tu_b_));                                                        \
      fputc('\n', stderr);                                                                         \
    }                                                                                              \
  } while (0)

#define TU_EXIT()                                                                                  \
  (fprintf(stderr, "%s: %ld checks, %d failed\n", __FILE__, tu_checks, tu_failures),               \
   tu_failures ? 1 : 0)

/* ---- guard pages -------------------------------------------------------- */

typedef struct tu_guard {
  char *map;
  size_t maplen;
  char *p; /* the n bytes end exactly at the PROT_NONE page */
} tu_guard;

/* Allocates room for n bytes followed by an inaccessible page. */
static inline char *tu_guard_alloc(tu_guard *g, size_t n) {
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  size_t data_pages = (n + pg - 1) / pg;
  if (data_pages == 0)
    data_pages = 1;
  g->maplen = (data_pages + 1) * pg;
  void *m = mmap(NULL, g->maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) {
    perror("mmap");
    exit(2);
  }
  g->map = m;
  if (mprotect(g->map + data_pages * pg, pg, PROT_NONE) != 0) {
    perror("mprotect");
    exit(2);
  }
  g->p = g->map + data_pages * pg - n;
  return g->p;
}

/* Copies s[0..n) so that its last byte is the last readable one. */
static inline char *tu_guard_copy(tu_guard *g, const void *s, size_t n) {
  char *p = tu_guard_alloc(g, n);
  if (n)
    memcpy(p, s, n);
  return p;
}

static inline void tu_guard_free(tu_guard *g) {
  if (g->map)
    munmap(g->map, g->maplen);
  g->map = g->p = NULL;
}

#endif
