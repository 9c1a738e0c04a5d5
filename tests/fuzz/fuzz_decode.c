/* libFuzzer target: the content-coding decoders on arbitrary bytes.
 *
 * The first byte picks the codings: bits 0-1 their count (0 and 3: one, 1:
 * two, 2: three), then two bits per coding in the order applied (0 gzip,
 * 1 deflate, 2 br, 3 zstd). The rest is the body, fed in a few pieces (each
 * a private exact-size copy, so ASan sees a read past a piece), then whole,
 * then (when at most 128 bytes) byte by byte. Invariants: no crash or leak, every
 * output piece is 1..RF_DECODE_CHUNK bytes, results are 0 / BAD (with a
 * message) / ABORT, nothing is called after a stop, and however the body
 * is cut the verdict and the output are the same (unless the output limit
 * stopped one of the runs, which may happen at different points). The
 * same bytes also go through rf_codings_parse. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "proto/decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUT_LIMIT (1u << 16) /* stop bombs early: the fuzzer wants speed */

typedef struct run {
  uLong hash;
  size_t total;
  int stopped;
} run;

static int out_cb(void *ud, const uint8_t *p, size_t n) {
  run *r = ud;
  if (r->stopped || n == 0 || n > RF_DECODE_CHUNK)
    abort();
  r->hash = crc32(r->hash, p, (uInt)n); /* zlib's: fast, not instrumented */
  r->total += n;
  if (r->total >= OUT_LIMIT) {
    r->stopped = 1;
    return 1;
  }
  return 0;
}

static int feed_copy(rf_decoder *d, const uint8_t *p, size_t n, run *r) {
  uint8_t *c = malloc(n ? n : 1);
  if (!c)
    abort();
  if (n)
    memcpy(c, p, n);
  int rc = rf_decoder_feed(d, c, n, out_cb, r);
  free(c);
  return rc;
}

/* Feeds body[0..n) cut at cuts[0..ncuts) (ascending), then finishes. */
static int decode(const enum rf_coding *codings, int k, const uint8_t *body, size_t n,
                  const size_t *cuts, size_t ncuts, run *r) {
  memset(r, 0, sizeof *r);
  rf_decoder *d = rf_decoder_new(codings, k);
  if (!d)
    abort();
  int rc = 0;
  size_t at = 0;
  for (size_t i = 0; i <= ncuts && !rc; i++) {
    size_t end = i < ncuts ? cuts[i] : n;
    rc = feed_copy(d, body + at, end - at, r);
    at = end;
  }
  if (!rc)
    rc = rf_decoder_finish(d, out_cb, r);
  const char *err = rf_decoder_error(d);
  if (rc != 0 && rc != RF_DECODE_E_BAD && rc != RF_DECODE_E_ABORT)
    abort();
  if ((rc != 0) != (err[0] != 0))
    abort();
  if ((rc == RF_DECODE_E_ABORT) != (r->stopped != 0))
    abort();
  /* errors are final and quiet */
  if (rc) {
    r->stopped = 1; /* out_cb aborts if called again */
    if (rf_decoder_feed(d, body, n, out_cb, r) != rc || rf_decoder_finish(d, out_cb, r) != rc)
      abort();
    r->stopped = rc == RF_DECODE_E_ABORT;
  }
  rf_decoder_free(d);
  return rc;
}

static void check_parse(const uint8_t *data, size_t size) {
  char *s = malloc(size ? size : 1);
  if (!s)
    abort();
  if (size)
    memcpy(s, data, size);
  enum rf_coding out[RF_MAX_CODINGS];
  const char *err = NULL;
  int rc = rf_codings_parse(s, size, out, RF_MAX_CODINGS, &err);
  if (rc < 0) {
    if (rc != -EINVAL || !err || !err[0])
      abort();
  } else {
    if (rc > RF_MAX_CODINGS)
      abort();
    for (int i = 0; i < rc; i++)
      if (out[i] < RF_CODING_GZIP || out[i] > RF_CODING_ZSTD)
        abort();
  }
  free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  check_parse(data, size);
  uint8_t sel = data[0];
  int k = (sel & 3) % 3 + 1;
  enum rf_coding codings[3];
  for (int i = 0; i < k; i++)
    codings[i] = (enum rf_coding)(RF_CODING_GZIP + ((sel >> (2 + 2 * i)) & 3));
  const uint8_t *body = data + 1;
  size_t n = size - 1;

  size_t cuts[3] = {n / 5, n / 2, n - n / 7};
  run a, b;
  int ra = decode(codings, k, body, n, cuts, 3, &a);
  int rb = decode(codings, k, body, n, NULL, 0, &b);
  if (!a.stopped && !b.stopped) {
    if (ra != rb)
      abort();
    if (ra == 0 && (a.total != b.total || a.hash != b.hash))
      abort();
  }
  if (n <= 128) {
    size_t bytes[128];
    for (size_t i = 0; i + 1 < n; i++)
      bytes[i] = i + 1;
    run c;
    int rc = decode(codings, k, body, n, bytes, n ? n - 1 : 0, &c);
    if (!c.stopped && !b.stopped) {
      if (rc != rb)
        abort();
      if (rc == 0 && (c.total != b.total || c.hash != b.hash))
        abort();
    }
  }
  return 0;
}
