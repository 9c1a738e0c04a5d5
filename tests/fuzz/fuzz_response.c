/* libFuzzer target: the response parser on arbitrary bytes, in lenient mode
 * (bare LF accepted in framing lines) and in strict mode (llhttp 8.1's own
 * rules), each fed whole and split at a point taken from the input.
 * Invariants: no crash or over-read, the same verdict and body whatever the
 * split, body spans inside the input (lenient mode hands llhttp a CR that is
 * not in the input: it must never reach the body), header and trailer spans
 * inside the storage, consumed never beyond the input, and the lenient
 * segmenting never loses track of llhttp; lean mode (rf_resp_set_lean) gives
 * the same verdict and body as full mode; the fast path (rf_resp_set_fast)
 * gives exactly what llhttp alone gives: verdict, responses, where each
 * ends, status, reason, fields, body, keep-alive. */
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/response.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct out {
  uint64_t body;
  uint32_t hash;
  uint32_t heads; /* status, reason, version, fields, end and keep-alive of each response */
  const char *in; /* the input: body spans must lie inside it */
  size_t in_len;
} out;

static int on_body(void *ud, const char *p, size_t n) {
  out *o = ud;
  if (p < o->in || n > o->in_len || p + n > o->in + o->in_len)
    abort();
  o->body += n;
  for (size_t i = 0; i < n; i++)
    o->hash = o->hash * 31u + (uint8_t)p[i];
  return 0;
}

static void check_error(const rf_resp *r) {
  /* the segmenting's own consistency check (see response.c) */
  if (r->errmsg && strstr(r->errmsg, "lost track"))
    abort();
}

/* Parses every response in buf (fed in two parts); returns the last code. */
static uint32_t mix(uint32_t h, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    h = h * 131u + (uint8_t)p[i];
  return h * 131u + 7u;
}

static int parse(const char *buf, size_t len, size_t split, bool head, bool strict, bool lean,
                 bool fast, out *o, int *nresp) {
  char hbuf[2048];
  rf_hspan spans[16];
  rf_resp r;
  o->in = buf;
  o->in_len = len;
  rf_resp_init(&r, hbuf, sizeof hbuf, spans, 16, NULL, on_body, o);
  rf_resp_set_strict(&r, strict);
  rf_resp_set_lean(&r, lean);
  rf_resp_set_fast(&r, fast);
  rf_resp_expect(&r, head, NULL, 0, NULL, 0);
  size_t pos = 0;
  int rc = RF_RESP_MORE;
  *nresp = 0;
  size_t bounds[2] = {split, len};
  for (int part = 0; part < 2; part++) {
    while (pos < bounds[part]) {
      size_t used = 0;
      rc = rf_resp_feed(&r, buf + pos, bounds[part] - pos, &used);
      if (used > bounds[part] - pos)
        abort();
      pos += used;
      if (rc == RF_RESP_DONE) {
        (*nresp)++;
        if (r.hlen > r.hcap || r.nh > r.hmax || r.nt > r.hmax - r.nh)
          abort();
        for (uint32_t i = 0; i < r.nh + r.nt; i++)
          if (spans[i].name_off + spans[i].name_len > r.hlen ||
              spans[i].value_off + spans[i].value_len > r.hlen)
            abort();
        uint32_t h = o->heads;
        char num[64];
        int k = snprintf(num, sizeof num, "%d %d.%d %zu %d %u", r.status, r.http_major, r.http_minor, pos,
                         rf_resp_keep_alive(&r), r.hlen);
        h = mix(h, num, (size_t)k);
        h = mix(h, hbuf + r.reason_off, r.reason_len);
        for (uint32_t i = 0; i < r.nh + r.nt; i++) {
          h = mix(h, hbuf + spans[i].name_off, spans[i].name_len);
          h = mix(h, hbuf + spans[i].value_off, spans[i].value_len);
        }
        o->heads = h;
        /* on after a response that closes too: what follows is dropped */
        rf_resp_expect(&r, head, NULL, 0, NULL, 0);
        continue;
      }
      if (rc != RF_RESP_MORE) {
        check_error(&r);
        return rc;
      }
      break;
    }
  }
  if (rc == RF_RESP_MORE)
    rc = rf_resp_eof(&r);
  if (rc == RF_RESP_DONE)
    (*nresp)++;
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  bool head = data[0] & 1;
  size_t len = size - 1;
  char *buf = malloc(len ? len : 1);
  if (!buf)
    return 0;
  memcpy(buf, data + 1, len);
  size_t split = len ? (size_t)data[0] * 7919u % (len + 1) : 0;
  for (int strict = 0; strict < 2; strict++) {
    out a = {0}, b = {0};
    int na, nb;
    int ra = parse(buf, len, len, head, strict, false, true, &a, &na);
    int rb = parse(buf, len, split, head, strict, false, true, &b, &nb);
    /* The verdict may not depend on how the bytes were cut into reads. One
     * exception: input that is both malformed and over a limit may report
     * either, since a cut delivers a partial header before the syntax error. */
    bool both_bad = (ra == RF_RESP_E_BAD || ra == RF_RESP_E_TOO_LARGE) &&
                    (rb == RF_RESP_E_BAD || rb == RF_RESP_E_TOO_LARGE);
    if ((ra != rb && !both_bad) || na != nb || a.body != b.body || a.hash != b.hash)
      abort();
    /* lean mode (fields counted, not kept) gives exactly the same verdict */
    out l = {0};
    int nl;
    int rl = parse(buf, len, split, head, strict, true, true, &l, &nl);
    if (rl != rb || nl != nb || l.body != b.body || l.hash != b.hash)
      abort();
    /* llhttp alone, whole and cut: exactly what the fast path gave */
    for (int cut = 0; cut < 2; cut++) {
      out f = {0};
      int nf;
      const out *want = cut ? &b : &a;
      int rf = parse(buf, len, cut ? split : len, head, strict, false, false, &f, &nf);
      if (rf != (cut ? rb : ra) || nf != (cut ? nb : na) || f.body != want->body || f.hash != want->hash ||
          f.heads != want->heads)
        abort();
    }
  }
  free(buf);
  return 0;
}
