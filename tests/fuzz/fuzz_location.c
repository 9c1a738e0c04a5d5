/* libFuzzer target: Location resolution on arbitrary bytes.
 * The input is "base\nref" (split at the first newline; without one the
 * whole input is the ref against a fixed base). Invariants: no crash, no
 * read outside either input or write past cap (ASan: private exact-size
 * copies), -EINVAL with a message or a NUL-terminated result that
 * rf_url_parse accepts, whose path has no dot segments when the base's had
 * none, and which resolves to itself (when it holds no raw bytes). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/location.h"
#include "proto/url.h"
#include "tests/unit/location_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *dup_exact(const void *p, size_t n) {
  char *s = malloc(n ? n : 1);
  if (s && n)
    memcpy(s, p, n);
  return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char fixed[] = "https://a.example:8443/b/c/d;p?q#f";
  const uint8_t *nl = memchr(data, '\n', size);
  const void *bp = fixed, *rp = data;
  size_t blen = sizeof fixed - 1, rlen = size;
  if (nl) {
    bp = data;
    blen = (size_t)(nl - data);
    rp = nl + 1;
    rlen = size - blen - 1;
  }
  char *base = dup_exact(bp, blen);
  char *ref = dup_exact(rp, rlen);
  size_t cap = RF_URL_RESOLVE_CAP(blen, rlen);
  char *out = malloc(cap);
  if (!base || !ref || !out)
    goto done;

  rf_url bu;
  bool base_ok = rf_url_parse(base, blen, &bu, NULL) == 0;
  const char *err = NULL;
  long rc = rf_url_resolve(base, blen, ref, rlen, out, cap, &err);
  if (rc < 0) {
    if (rc != -EINVAL || !err || !err[0])
      abort();
    goto done;
  }
  if (!base_ok || (size_t)rc >= cap || out[rc] != 0 || strlen(out) != (size_t)rc)
    abort();
  rf_url u;
  if (rf_url_parse(out, (size_t)rc, &u, NULL) != 0)
    abort();
  if (path_clean(base, blen) && !path_clean(out, (size_t)rc))
    abort();
  /* with just the result's room: the same result or a clean refusal (the
   * merged path can be longer before its dot segments are removed); one
   * byte less is always refused */
  char *tight = malloc((size_t)rc + 1);
  if (tight) {
    const char *terr = NULL;
    long trc = rf_url_resolve(base, blen, ref, rlen, tight, (size_t)rc + 1, &terr);
    if (trc == rc ? memcmp(tight, out, (size_t)rc + 1) != 0
                  : trc != -EINVAL || !terr || strcmp(terr, "output buffer too small") != 0)
      abort();
    if (rf_url_resolve(base, blen, ref, rlen, tight, (size_t)rc, NULL) != -EINVAL)
      abort();
    free(tight);
  }
  /* a clean result is a fixed point of resolution against itself */
  if (!has_raw(out, (size_t)rc) && path_clean(out, (size_t)rc)) {
    size_t cap2 = RF_URL_RESOLVE_CAP((size_t)rc, (size_t)rc);
    char *out2 = malloc(cap2);
    if (out2) {
      if (rf_url_resolve(out, (size_t)rc, out, (size_t)rc, out2, cap2, NULL) != rc ||
          memcmp(out2, out, (size_t)rc) != 0)
        abort();
      free(out2);
    }
  }
done:
  free(base);
  free(ref);
  free(out);
  return 0;
}
