/* libFuzzer target: the URL parser and the request writer on arbitrary bytes.
 * Invariants: no crash or over-read (ASan), every span inside the input,
 * and a parsed URL always yields a writable request head. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/request.h"
#include "proto/url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(const char *base, size_t len, const char *p, size_t n) {
  if (n && (p < base || p + n > base + len))
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* a private copy so ASan sees the exact bounds */
  char *s = malloc(size ? size : 1);
  if (!s)
    return 0;
  memcpy(s, data, size);
  rf_url u;
  const char *err = NULL;
  int rc = rf_url_parse(s, size, &u, &err);
  if (rc == 0) {
    inside(s, size, u.host, u.host_len);
    inside(s, size, u.target, u.target_len);
    if (u.host_len == 0 || u.port == 0)
      abort();
    rf_http_req r = {.method = "GET", .url = &u, .user_agent = "fuzz"};
    long need = rf_http_write_head(&r, NULL, 0, &err);
    if (need <= 0)
      abort();
    char *buf = malloc((size_t)need);
    if (buf) {
      if (rf_http_write_head(&r, buf, (size_t)need, &err) != need)
        abort();
      /* the head never carries a raw CR or LF from the URL */
      size_t lines = 0;
      for (long i = 0; i < need; i++)
        lines += buf[i] == '\n';
      if (lines != 5) /* request line, Host, User-Agent, Accept, blank */
        abort();
      free(buf);
    }
  } else if (!err || rc != -22) {
    abort();
  }
  free(s);
  return 0;
}
