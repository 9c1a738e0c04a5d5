/* WARC files in memory and a minimal reader of them, written from ISO 28500
 * independently of tools/warc.c: the unit tests and the fuzzer read back what
 * the writer produced with it. Static functions: include it from one
 * translation unit (with tools/ on the include path). */
#ifndef RF_TESTS_WARC_READER_H
#define RF_TESTS_WARC_READER_H
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/sha.h>
#include <zlib.h>

#include "warc.h"

/* ---- memory files --------------------------------------------------------- */

#define MAX_FILES 64

typedef struct mfile {
  char path[256];
  uint8_t *p;
  size_t len, cap;
  bool done;
  unsigned k;
  struct sink *owner;
} mfile;

typedef struct sink {
  mfile files[MAX_FILES];
  unsigned n;
  int fail_open;        /* errno to fail open with */
  size_t fail_after;    /* fail writes once a file would pass this (0 = never) */
  int done_calls;
  bool done_out_of_order;
} sink;

static int mem_out(void *ud, const void *p, size_t n) {
  mfile *f = ud;
  if (f->owner->fail_after && f->len + n > f->owner->fail_after)
    return -ENOSPC;
  if (f->done)
    return -EBADF;
  if (f->cap - f->len < n) {
    size_t cap = f->cap ? f->cap : 4096;
    while (cap - f->len < n)
      cap *= 2;
    uint8_t *q = realloc(f->p, cap);
    if (!q)
      return -ENOMEM;
    f->p = q;
    f->cap = cap;
  }
  memcpy(f->p + f->len, p, n);
  f->len += n;
  return 0;
}

static int mem_open(void *ud, unsigned k, const char *path, rf_warc_out *out, void **out_ud) {
  sink *s = ud;
  if (s->fail_open)
    return -s->fail_open;
  if (s->n >= MAX_FILES || k != s->n)
    return -EINVAL;
  mfile *f = &s->files[s->n++];
  memset(f, 0, sizeof *f);
  snprintf(f->path, sizeof f->path, "%s", path);
  f->k = k;
  f->owner = s;
  *out = mem_out;
  *out_ud = f;
  return 0;
}

static int mem_done(void *ud, unsigned k, void *out_ud) {
  sink *s = ud;
  mfile *f = out_ud;
  s->done_calls++;
  if (f->k != k || f->done || (k > 0 && !s->files[k - 1].done))
    s->done_out_of_order = true;
  f->done = true;
  return 0;
}

static void sink_free(sink *s) {
  for (unsigned i = 0; i < s->n; i++)
    free(s->files[i].p);
  memset(s, 0, sizeof *s);
}

/* ---- a minimal WARC reader ------------------------------------------------- */

#define MAX_FIELDS 32

typedef struct record {
  uint64_t offset, length; /* the gzip member in its file */
  char *raw;               /* the whole decompressed member */
  size_t raw_len;
  struct {
    char *name, *value;
  } f[MAX_FIELDS];
  int nf;
  const uint8_t *block;
  size_t block_len;
  bool framing_ok;
} record;

typedef struct reader {
  record *r;
  size_t n, cap;
} reader;

static const char *field(const record *r, const char *name) {
  for (int i = 0; i < r->nf; i++)
    if (strcasecmp(r->f[i].name, name) == 0)
      return r->f[i].value;
  return NULL;
}

/* Inflates one gzip member at p; returns its compressed length (0 on error). */
static size_t gunzip_member(const uint8_t *p, size_t n, char **out, size_t *out_len) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (inflateInit2(&z, 16 + 15) != Z_OK)
    return 0;
  size_t cap = 65536, len = 0;
  char *o = malloc(cap);
  z.next_in = (Bytef *)(uintptr_t)p;
  z.avail_in = (uInt)n;
  int rc;
  do {
    if (cap - len < 65536) {
      cap *= 2;
      o = realloc(o, cap);
    }
    z.next_out = (Bytef *)o + len;
    z.avail_out = (uInt)(cap - len - 1);
    size_t before = z.avail_out;
    rc = inflate(&z, Z_NO_FLUSH);
    len += before - z.avail_out;
  } while (rc == Z_OK);
  size_t used = rc == Z_STREAM_END ? z.total_in : 0;
  inflateEnd(&z);
  if (!used) {
    free(o);
    return 0;
  }
  o[len] = '\0';
  *out = o;
  *out_len = len;
  return used;
}

/* Parses "WARC/1.1" CRLF fields CRLF CRLF block CRLF CRLF, which must fill
 * the member exactly. */
static void parse_record(record *r) {
  char *p = r->raw, *end = r->raw + r->raw_len;
  r->framing_ok = false;
  if (r->raw_len < 10 || memcmp(p, "WARC/1.1\r\n", 10) != 0)
    return;
  p += 10;
  for (;;) {
    char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
    if (!eol)
      return;
    if (eol == p) {
      p += 2;
      break;
    }
    *eol = '\0';
    char *colon = strchr(p, ':');
    if (!colon || r->nf >= MAX_FIELDS)
      return;
    *colon = '\0';
    char *v = colon + 1;
    while (*v == ' ')
      v++;
    r->f[r->nf].name = p;
    r->f[r->nf].value = v;
    r->nf++;
    p = eol + 2;
  }
  const char *cl = field(r, "Content-Length");
  if (!cl)
    return;
  char *e;
  unsigned long long n = strtoull(cl, &e, 10);
  if (*e || (size_t)(end - p) < n + 4)
    return;
  r->block = (const uint8_t *)p;
  r->block_len = (size_t)n;
  p += n;
  if (memcmp(p, "\r\n\r\n", 4) != 0 || p + 4 != end)
    return;
  r->framing_ok = true;
}

/* Reads every record of a file into rd. Returns true when every member
 * inflates and every record is framed right; else false, with the offset of
 * the first bad member in *bad_at. */
static bool read_file_records(reader *rd, const uint8_t *p, size_t n, size_t *bad_at) {
  size_t off = 0;
  while (off < n) {
    char *raw;
    size_t raw_len;
    size_t used = gunzip_member(p + off, n - off, &raw, &raw_len);
    if (!used) {
      *bad_at = off;
      return false;
    }
    if (rd->n == rd->cap) {
      rd->cap = rd->cap ? rd->cap * 2 : 16;
      rd->r = realloc(rd->r, rd->cap * sizeof *rd->r);
    }
    record *r = &rd->r[rd->n++];
    memset(r, 0, sizeof *r);
    r->offset = off;
    r->length = used;
    r->raw = raw;
    r->raw_len = raw_len;
    parse_record(r);
    if (!r->framing_ok) {
      *bad_at = off;
      return false;
    }
    off += used;
  }
  return true;
}

static void reader_free(reader *rd) {
  for (size_t i = 0; i < rd->n; i++)
    free(rd->r[i].raw);
  free(rd->r);
  memset(rd, 0, sizeof *rd);
}

/* ---- independent digests ------------------------------------------------------ */

static void label_of(const void *p, size_t n, char out[38]) {
  uint8_t d[20];
  SHA1(p, n, d);
  rf_warc_sha1_label(d, out);
}

#endif
