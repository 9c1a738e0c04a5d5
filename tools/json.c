/* JSON text building. */
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jb_reset(jbuf *b) { b->len = 0; }

void jb_free(jbuf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

static int grow(jbuf *b, size_t n) {
  if (b->cap - b->len >= n)
    return 0;
  size_t cap = b->cap ? b->cap : 1024;
  while (cap - b->len < n)
    cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) {
    b->oom = 1;
    return -1;
  }
  b->p = p;
  b->cap = cap;
  return 0;
}

void jb_raw(jbuf *b, const char *s, size_t n) {
  if (grow(b, n))
    return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
}

void jb_lit(jbuf *b, const char *s) { jb_raw(b, s, strlen(s)); }

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t len;
  unsigned cp;
  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (n < len)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
    return 0;
  return len;
}

void jb_str(jbuf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *u = (const unsigned char *)s;
  jb_raw(b, "\"", 1);
  size_t start = 0;
  for (size_t i = 0; i < n;) {
    unsigned char c = u[i];
    size_t l = c < 0x80 ? 1 : utf8_len(u + i, n - i);
    if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f && l > 0) {
      i += l;
      continue;
    }
    jb_raw(b, s + start, i - start);
    char esc[7];
    switch (c) {
    case '"': jb_raw(b, "\\\"", 2); break;
    case '\\': jb_raw(b, "\\\\", 2); break;
    case '\n': jb_raw(b, "\\n", 2); break;
    case '\r': jb_raw(b, "\\r", 2); break;
    case '\t': jb_raw(b, "\\t", 2); break;
    default:
      esc[0] = '\\'; esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
      esc[4] = hex[c >> 4]; esc[5] = hex[c & 15];
      jb_raw(b, esc, 6);
    }
    i++;
    start = i;
  }
  jb_raw(b, s + start, n - start);
  jb_raw(b, "\"", 1);
}

void jb_u64(jbuf *b, uint64_t v) {
  char t[24]; /* digits from the end: snprintf showed up in profiles */
  char *p = t + sizeof t;
  do {
    *--p = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  jb_raw(b, p, (size_t)(t + sizeof t - p));
}

void jb_i64(jbuf *b, int64_t v) {
  if (v < 0) {
    jb_raw(b, "-", 1);
    jb_u64(b, (uint64_t)0 - (uint64_t)v);
  } else {
    jb_u64(b, (uint64_t)v);
  }
}

void jb_key(jbuf *b, const char *key, int first) {
  if (!first)
    jb_raw(b, ",", 1);
  jb_str(b, key, strlen(key));
  jb_raw(b, ":", 1);
}

void jb_hex(jbuf *b, const uint8_t *p, size_t n) {
  static const char hex[] = "0123456789abcdef";
  jb_raw(b, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    char t[2] = {hex[p[i] >> 4], hex[p[i] & 15]};
    jb_raw(b, t, 2);
  }
  jb_raw(b, "\"", 1);
}

void jb_counts(jbuf *b, const char *const *names, const uint64_t *counts, size_t n) {
  jb_raw(b, "{", 1);
  for (size_t i = 0; i < n; i++) {
    jb_key(b, names[i], i == 0);
    jb_u64(b, counts[i]);
  }
  jb_raw(b, "}", 1);
}

void jb_nonzero_counts(jbuf *b, const char *(*name)(int), const uint64_t *counts, int from, int to) {
  jb_raw(b, "{", 1);
  int first = 1;
  for (int i = from; i < to; i++) {
    if (!counts[i])
      continue;
    jb_key(b, name(i), first);
    jb_u64(b, counts[i]);
    first = 0;
  }
  jb_raw(b, "}", 1);
}

void jb_key_u64(jbuf *b, const char *key, uint64_t v) {
  jb_key(b, key, 0);
  jb_u64(b, v);
}
