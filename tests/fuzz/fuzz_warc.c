/* libFuzzer target: the WARC writer's round trip. Arbitrary exchange bytes
 * (URL, request, response, flags) go through tools/warc.c into memory files;
 * the independent reader (tests/unit/warc_reader.h) must read every record
 * back: each gzip member inflates, each record is framed right, the request
 * and response blocks are the bytes given, the block digests match, the
 * Target-URI is printable ASCII, and the response names its request. */
#define _GNU_SOURCE /* memmem */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/warc_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t take16(const uint8_t **p, size_t *n, size_t mod) {
  if (*n < 2)
    return 0;
  size_t v = ((size_t)(*p)[0] << 8 | (*p)[1]) % mod;
  *p += 2;
  *n -= 2;
  return v;
}

static void check(bool ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "fuzz_warc: %s\n", what);
    abort();
  }
}

static void check_block(const record *r, const uint8_t *want, size_t want_len, const char *what) {
  check(r->block_len == want_len && memcmp(r->block, want, want_len) == 0, what);
  char label[38];
  label_of(r->block, r->block_len, label);
  const char *d = field(r, "WARC-Block-Digest");
  check(d && strcmp(d, label) == 0, "a block digest that does not match its block");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  uint8_t flags = data[0];
  const uint8_t *p = data + 1;
  size_t n = size - 1;
  size_t ulen = take16(&p, &n, 300), qlen = take16(&p, &n, 4096);
  ulen = ulen < n ? ulen : n;
  char *url = malloc(ulen + 1);
  for (size_t i = 0; i < ulen; i++)
    url[i] = p[i] ? (char)p[i] : 'x'; /* a C string: no NUL inside */
  url[ulen] = 0;
  p += ulen;
  n -= ulen;
  qlen = qlen < n ? qlen : n;

  rf_exchange x;
  memset(&x, 0, sizeof x);
  x.url = url;
  x.url_len = ulen;
  x.attempt = 1 + (flags & 3);
  x.status = 200;
  x.error = (flags & 4) ? RF_ERR_RESET : RF_OK;
  x.truncated = (flags & 8) != 0;
  x.remote_ip = (flags & 16) ? "2001:db8::1" : "192.0.2.1";
  x.date_us = 1700000000000000ull + (uint64_t)flags * 1000003u;
  x.request = p;
  x.request_len = qlen;
  x.response = p + qlen;
  x.response_len = n - qlen;

  sink s;
  memset(&s, 0, sizeof s);
  rf_warc_opts o = {.name = "fuzz.warc.gz", .hostname = "fuzz", .command_line = url,
                    .gzip_level = 1, .open = mem_open, .done = mem_done, .ud = &s};
  rf_warc *w = NULL;
  check(rf_warc_new(&o, &w) == 0, "rf_warc_new failed");
  rf_warc_pos pos;
  check(rf_warc_exchange(w, &x, &pos) == 0, "rf_warc_exchange failed");
  check(rf_warc_close(w) == 0, "rf_warc_close failed");
  check(s.n == 1 && s.files[0].done, "one finished file");

  reader rd;
  memset(&rd, 0, sizeof rd);
  size_t bad = 0;
  check(read_file_records(&rd, s.files[0].p, s.files[0].len, &bad), "a record the reader cannot read");
  check(rd.n == 3, "warcinfo, request and response");
  const record *info = &rd.r[0], *req = &rd.r[1], *resp = &rd.r[2];
  check(strcmp(field(info, "WARC-Type"), "warcinfo") == 0, "warcinfo first");
  check(strcmp(field(req, "WARC-Type"), "request") == 0, "then the request");
  check(strcmp(field(resp, "WARC-Type"), "response") == 0, "then the response");
  check_block(req, x.request, x.request_len, "the request block is not the bytes sent");
  check_block(resp, x.response, x.response_len, "the response block is not the bytes received");
  const char *cto = field(resp, "WARC-Concurrent-To"), *rid = field(req, "WARC-Record-ID");
  check(cto && rid && strcmp(cto, rid) == 0, "the response does not name its request");
  check(resp->offset == pos.offset && resp->length == pos.length, "rf_warc_pos is not where the record is");
  const char *uri = field(resp, "WARC-Target-URI");
  check(uri != NULL, "no Target-URI");
  for (const char *c = uri; *c; c++)
    check(*c > 0x20 && *c < 0x7f, "a Target-URI byte that is not printable ASCII");
  reader_free(&rd);
  sink_free(&s);
  free(url);
  return 0;
}
