/* A delivered response's body on its way from the parser to the sink: the
 * transfer codings before "chunked" and (with RF_REQ_DECODE) the content
 * codings undone as a stream (proto/decode.c), with a bound on how much a
 * small body may expand to. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/internal.h"
#include "proto/decode.h"

/* Below this many decoded bytes the ratio is not checked: a tiny body of
 * spaces can legitimately expand a thousandfold. */
#define RATIO_FLOOR (1u << 20)

/* Appends the comma-separated items of every field named `name` to out
 * (one list, as RFC 9110 section 5.3 combines repeated fields). Returns the
 * length, or -1 when over cap. */
static long joined(const rf_resp *r, const char *name, char *out, size_t cap) {
  size_t n = 0, nl = strlen(name);
  for (uint32_t i = 0; i < r->nh; i++) {
    const rf_hspan *h = &r->hdrs[i];
    if (h->name_len != nl || strncasecmp(r->hbuf + h->name_off, name, nl) != 0)
      continue;
    if (n + h->value_len + 1 > cap)
      return -1;
    if (n)
      out[n++] = ',';
    memcpy(out + n, r->hbuf + h->value_off, h->value_len);
    n += h->value_len;
  }
  return (long)n;
}

/* The transfer codings (RFC 9112 section 6.1): what llhttp de-chunks is fine;
 * a coding before "chunked" is undone like a content coding; anything llhttp
 * would hand over raw (no final "chunked", or chunked twice) is an error.
 * Appends the codings to undo to c[*n]. */
static bool item_is(const char *p, size_t n, const char *word) {
  while (n && (*p == ' ' || *p == '\t'))
    p++, n--;
  while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
    n--;
  return n == strlen(word) && strncasecmp(p, word, n) == 0;
}

static int transfer_codings(const rf_resp *r, enum rf_coding *c, int *n, const char **err) {
  char v[1024];
  long len = joined(r, "transfer-encoding", v, sizeof v);
  if (len == 0)
    return 0;
  if (len < 0) {
    *err = "Transfer-Encoding too long";
    return -1;
  }
  const char *last = NULL;
  for (long i = 0; i < len; i++)
    if (v[i] == ',')
      last = v + i;
  size_t before = last ? (size_t)(last - v) : 0;
  const char *tail = last ? last + 1 : v;
  if (!r->chunked || !item_is(tail, (size_t)(v + len - tail), "chunked")) {
    *err = "a Transfer-Encoding without a final chunked (the body would be read raw until close)";
    return -1;
  }
  for (size_t i = 0; i < before;) {
    size_t j = i;
    while (j < before && v[j] != ',')
      j++;
    if (item_is(v + i, j - i, "chunked")) {
      *err = "chunked applied twice";
      return -1;
    }
    i = j + 1;
  }
  int k = before ? rf_codings_parse(v, before, c + *n, RF_MAX_CODINGS - *n, err) : 0;
  if (k < 0)
    return -1;
  *n += k;
  return 0;
}

static int content_codings(const rf_resp *r, enum rf_coding *c, int *n, const char **err) {
  char v[1024];
  long len = joined(r, "content-encoding", v, sizeof v);
  if (len < 0) {
    *err = "Content-Encoding too long";
    return -1;
  }
  int k = rf_codings_parse(v, (size_t)len, c + *n, RF_MAX_CODINGS - *n, err);
  if (k < 0)
    return -1;
  *n += k;
  return 0;
}

int rf_body_start(rf_engine *e, rf_slot *s, const rf_resp *r) {
  enum rf_coding c[RF_MAX_CODINGS];
  int n = 0;
  const char *err = NULL;
  /* applied in this order: the content codings, then the transfer codings */
  if (((s->req->flags & RF_REQ_DECODE) && content_codings(r, c, &n, &err) < 0) ||
      transfer_codings(r, c, &n, &err) < 0) {
    rf_slot_fail(e, s, RF_ERR_BAD_ENCODING, "%s", err ? err : "undecodable coding");
    return -1;
  }
  if (n && !(s->dec = rf_decoder_new(c, n))) {
    rf_slot_fail(e, s, RF_ERR_INTERNAL, "out of memory for a decoder");
    return -1;
  }
  return rf_sink_open(e, s);
}

typedef struct sink_ctx {
  rf_engine *e;
  rf_slot *s;
} sink_ctx;

static int to_sink(void *ud, const uint8_t *p, size_t n) {
  sink_ctx *x = ud;
  rf_engine *e = x->e;
  rf_slot *s = x->s;
  uint64_t wire = s->res.wire_bytes, out = s->sink.bytes + n;
  if (e->cfg.max_ratio && out > RATIO_FLOOR && out / e->cfg.max_ratio > wire) {
    rf_slot_fail(e, s, RF_ERR_TOO_LARGE,
                 "the body decodes to over %u times its %llu bytes on the wire (a decompression bomb?)",
                 e->cfg.max_ratio, (unsigned long long)wire);
    return -1;
  }
  return rf_sink_write(e, s, p, n);
}

int rf_body_write(rf_engine *e, rf_slot *s, const uint8_t *p, size_t n) {
  s->res.wire_bytes += n;
  if (!s->dec)
    return rf_sink_write(e, s, p, n);
  sink_ctx x = {e, s};
  /* to_sink may fail the slot (too large, a write error), which delivers it
   * and would free the decoder under its own feet: freeing waits until the
   * decoder has returned */
  s->dec_busy = true;
  int rc = rf_decoder_feed(s->dec, p, n, to_sink, &x);
  s->dec_busy = false;
  if (s->dec_free) {
    rf_body_free(s);
    return -1; /* the slot failed meanwhile */
  }
  if (rc == RF_DECODE_E_BAD)
    rf_slot_fail(e, s, RF_ERR_BAD_ENCODING, "%s", rf_decoder_error(s->dec));
  return rc < 0 ? -1 : 0;
}

int rf_body_end(rf_engine *e, rf_slot *s) {
  sink_ctx x = {e, s};
  if (!s->dec || rf_decoder_finish(s->dec, to_sink, &x) == 0)
    return 0;
  rf_slot_fail(e, s, RF_ERR_BAD_ENCODING, "%s", rf_decoder_error(s->dec));
  return -1;
}

void rf_body_free(rf_slot *s) {
  s->dec_free = s->dec_busy;
  if (s->dec_busy)
    return; /* rf_body_write frees it when the decoder has returned */
  rf_decoder_free(s->dec);
  s->dec = NULL;
}
