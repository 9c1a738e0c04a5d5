/* A reference model of robots.txt matching (RFC 9309), written from the
 * rules in proto/robots.h independently of proto/robots.c: the unit tests
 * and the fuzzer compare the parser with it. Static functions: include it
 * from one translation unit. */
#ifndef RF_TESTS_ROBOTS_REF_H
#define RF_TESTS_ROBOTS_REF_H
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Reference normalisation, written from the header's words: %XX of an
 * unreserved character decoded, any other %XX upper-cased, a lone '%',
 * controls, space, DEL, bytes >= 0x80 and (in a target) '*' and '$'
 * encoded; in a pattern '*' is kept as the wildcard and '$' encoded. */
static int ref_hex(char c) {
  static const char d[] = "0123456789abcdef0123456789ABCDEF";
  const char *q = c ? strchr(d, c) : NULL;
  return q ? (int)((q - d) % 16) : -1;
}

static size_t ref_norm(const char *s, size_t n, bool pattern, char *out) {
  static const char unres[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned c = (unsigned char)s[i];
    if (c == '%' && i + 2 < n && ref_hex(s[i + 1]) >= 0 && ref_hex(s[i + 2]) >= 0) {
      c = (unsigned)(ref_hex(s[i + 1]) * 16 + ref_hex(s[i + 2]));
      i += 2;
      if (c && strchr(unres, (int)c)) {
        out[k++] = (char)c;
        continue;
      }
    } else if (pattern && c == '*') {
      out[k++] = '*';
      continue;
    } else if (c > 0x20 && c < 0x7f && c != '%' && c != '*' && c != '$') {
      out[k++] = (char)c;
      continue;
    }
    out[k++] = '%';
    out[k++] = "0123456789ABCDEF"[c >> 4];
    out[k++] = "0123456789ABCDEF"[c & 15];
  }
  return k;
}

/* Glob match by dynamic programming: does p[0..pn) ('*' = any octets)
 * match a prefix of t[0..tn) (all of it when anchored)? */
static bool ref_glob(const char *p, size_t pn, bool anchored, const char *t, size_t tn) {
  bool *row = calloc(tn + 1, sizeof *row), *nrow = calloc(tn + 1, sizeof *nrow);
  if (!row || !nrow)
    abort();
  row[0] = true; /* the empty pattern matches the empty prefix */
  for (size_t i = 0; i < pn; i++) {
    for (size_t j = 0; j <= tn; j++)
      nrow[j] = p[i] == '*' ? row[j] || (j > 0 && nrow[j - 1])
                            : j > 0 && row[j - 1] && t[j - 1] == p[i];
    bool *x = row;
    row = nrow;
    nrow = x;
  }
  bool m = false;
  for (size_t j = anchored ? tn : 0; j <= tn; j++)
    m = m || row[j];
  free(row);
  free(nrow);
  return m;
}

#endif
