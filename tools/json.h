/* A small JSON text builder for the JSON Lines output. */
#ifndef RF_TOOLS_JSON_H
#define RF_TOOLS_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef struct jbuf {
  char *p;
  size_t len, cap;
  int oom; /* set when an allocation failed; the text is then incomplete */
} jbuf;

void jb_reset(jbuf *b);
void jb_free(jbuf *b);
void jb_raw(jbuf *b, const char *s, size_t n);
void jb_lit(jbuf *b, const char *s); /* NUL-terminated raw text */
/* A JSON string: quotes, escapes; bytes that are not valid UTF-8 come out as
 * \u00XX so the line stays valid JSON whatever the input held. */
void jb_str(jbuf *b, const char *s, size_t n);
void jb_u64(jbuf *b, uint64_t v);
void jb_i64(jbuf *b, int64_t v);
void jb_key(jbuf *b, const char *key, int first); /* ,"key": */
void jb_key_u64(jbuf *b, const char *key, uint64_t v); /* ,"key":v */
void jb_hex(jbuf *b, const uint8_t *p, size_t n);   /* "..." lowercase hex */
/* {"names[0]":counts[0],...}: every one of the n, zeros too */
void jb_counts(jbuf *b, const char *const *names, const uint64_t *counts, size_t n);
/* {"name(i)":counts[i],...} for i in [from, to) where counts[i] is not 0 */
void jb_nonzero_counts(jbuf *b, const char *(*name)(int), const uint64_t *counts, int from, int to);

#endif
