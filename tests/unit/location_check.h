/* Properties of a resolved URL that the Location unit test and its fuzzer
 * both check (one copy of each). */
#ifndef RF_TESTS_LOCATION_CHECK_H
#define RF_TESTS_LOCATION_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* True when the path of an absolute http URL (url[0..len)) has no "." or ".."
 * segment. */
static inline bool path_clean(const char *url, size_t len) {
  const char *end = url + len;
  const char *p = url;
  while (p + 2 < end && !(p[0] == ':' && p[1] == '/' && p[2] == '/'))
    p++;
  if (p + 2 >= end)
    return false;
  p += 3;
  while (p < end && *p != '/' && *p != '?' && *p != '#')
    p++;
  const char *pe = p;
  while (pe < end && *pe != '?' && *pe != '#')
    pe++;
  for (const char *s = p; s < pe; s++) {
    if (*s != '/')
      continue;
    const char *e = s + 1;
    while (e < pe && *e != '/')
      e++;
    size_t n = (size_t)(e - s - 1);
    if ((n == 1 && s[1] == '.') || (n == 2 && s[1] == '.' && s[2] == '.'))
      return false;
  }
  return true;
}

/* True when s[0..n) holds a byte that may not appear raw in a URL. */
static inline bool has_raw(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c <= 0x20 || c >= 0x7f || strchr("\"<>\\^`{|}", c))
      return true;
  }
  return false;
}

#endif
