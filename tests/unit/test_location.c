/* Location resolution: the RFC 3986 5.4 examples, http/https specifics
 * (ports, IPv6, scheme-relative, fragments, percent-encoding), every error,
 * and a property pass over random and mutated references. Both inputs and
 * the output buffer always end at a guard page, so reading past an input or
 * writing past cap crashes (run under ASan too). */
#include <errno.h>
#include <stdbool.h>

#include "proto/location.h"
#include "proto/url.h"
#include "testutil.h"
#include "location_check.h"

static const char rfc_base[] = "http://a/b/c/d;p?q";

/* Resolves with base, ref and out each ending at a guard page; out gets the
 * documented room (or cap_override when not 0). Returns rc, copies the
 * result (or "") to res[0..res_cap). */
static long resolve_guarded(const char *base, size_t blen, const char *ref, size_t rlen,
                            size_t cap_override, char *res, size_t res_cap, const char **err) {
  tu_guard gb, gr, go;
  char *b = tu_guard_copy(&gb, base, blen);
  char *r = tu_guard_copy(&gr, ref, rlen);
  size_t cap = cap_override ? cap_override : RF_URL_RESOLVE_CAP(blen, rlen);
  char *out = tu_guard_alloc(&go, cap);
  *err = NULL;
  long rc = rf_url_resolve(b, blen, r, rlen, out, cap, err);
  res[0] = 0;
  if (rc >= 0 && (size_t)rc < res_cap)
    memcpy(res, out, (size_t)rc + 1);
  tu_guard_free(&gb);
  tu_guard_free(&gr);
  tu_guard_free(&go);
  return rc;
}

/* ---- good references ---------------------------------------------------- */

static void ok_n(const char *base, const char *ref, size_t rlen, const char *want) {
  char res[512];
  const char *err;
  size_t blen = strlen(base);
  long rc = resolve_guarded(base, blen, ref, rlen, 0, res, sizeof res, &err);
  CHECKF(rc == (long)strlen(want), "%s + \"%.*s\": rc %ld err %s", base, (int)rlen, ref, rc,
         err ? err : "(null)");
  if (rc < 0)
    return;
  CHECK_EQ_STR(res, want);
  /* the result parses */
  rf_url u;
  CHECKF(rf_url_parse(res, (size_t)rc, &u, NULL) == 0, "%s does not parse", res);
  /* below the documented room: the merged path may not fit before its dot
   * segments are gone, but it is the right answer or a clean refusal, and
   * nothing is written past cap (out ends at a guard page) */
  char res2[512];
  rc = resolve_guarded(base, blen, ref, rlen, strlen(want) + 1, res2, sizeof res2, &err);
  CHECKF(rc == (long)strlen(want) ? strcmp(res2, want) == 0
                                  : rc == -EINVAL && strcmp(err, "output buffer too small") == 0,
         "%s + %s with an exact cap: rc %ld", base, ref, rc);
  rc = resolve_guarded(base, blen, ref, rlen, strlen(want), res2, sizeof res2, &err);
  CHECKF(rc == -EINVAL && err && strcmp(err, "output buffer too small") == 0,
         "%s + %s with a short cap: rc %ld err %s", base, ref, rc, err ? err : "(null)");
  /* err may be NULL */
  tu_guard gb, gr, go;
  char *b = tu_guard_copy(&gb, base, blen);
  char *r = tu_guard_copy(&gr, ref, rlen);
  size_t cap = RF_URL_RESOLVE_CAP(blen, rlen);
  char *out = tu_guard_alloc(&go, cap);
  CHECK_EQ_INT(rf_url_resolve(b, blen, r, rlen, out, cap, NULL), (long)strlen(want));
  tu_guard_free(&gb);
  tu_guard_free(&gr);
  tu_guard_free(&go);
}

static void ok(const char *base, const char *ref, const char *want) {
  ok_n(base, ref, strlen(ref), want);
}

static void test_rfc_normal(void) {
  /* RFC 3986 5.4.1; "g:h" (another scheme) and "" (empty) are errors here,
   * see test_errors */
  static const char *const t[][2] = {
      {"g", "http://a/b/c/g"},
      {"./g", "http://a/b/c/g"},
      {"g/", "http://a/b/c/g/"},
      {"/g", "http://a/g"},
      {"//g", "http://g"},
      {"?y", "http://a/b/c/d;p?y"},
      {"g?y", "http://a/b/c/g?y"},
      {"#s", "http://a/b/c/d;p?q#s"},
      {"g#s", "http://a/b/c/g#s"},
      {"g?y#s", "http://a/b/c/g?y#s"},
      {";x", "http://a/b/c/;x"},
      {"g;x", "http://a/b/c/g;x"},
      {"g;x?y#s", "http://a/b/c/g;x?y#s"},
      {".", "http://a/b/c/"},
      {"./", "http://a/b/c/"},
      {"..", "http://a/b/"},
      {"../", "http://a/b/"},
      {"../g", "http://a/b/g"},
      {"../..", "http://a/"},
      {"../../", "http://a/"},
      {"../../g", "http://a/g"},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    ok(rfc_base, t[i][0], t[i][1]);
}

static void test_rfc_abnormal(void) {
  /* RFC 3986 5.4.2 */
  static const char *const t[][2] = {
      {"../../../g", "http://a/g"},
      {"../../../../g", "http://a/g"},
      {"/./g", "http://a/g"},
      {"/../g", "http://a/g"},
      {"g.", "http://a/b/c/g."},
      {".g", "http://a/b/c/.g"},
      {"g..", "http://a/b/c/g.."},
      {"..g", "http://a/b/c/..g"},
      {"./../g", "http://a/b/g"},
      {"./g/.", "http://a/b/c/g/"},
      {"g/./h", "http://a/b/c/g/h"},
      {"g/../h", "http://a/b/c/h"},
      {"g;x=1/./y", "http://a/b/c/g;x=1/y"},
      {"g;x=1/../y", "http://a/b/c/y"},
      {"g?y/./x", "http://a/b/c/g?y/./x"},
      {"g?y/../x", "http://a/b/c/g?y/../x"},
      {"g#s/./x", "http://a/b/c/g#s/./x"},
      {"g#s/../x", "http://a/b/c/g#s/../x"},
      /* the non-strict reading ("for backward compatibility") */
      {"http:g", "http://a/b/c/g"},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    ok(rfc_base, t[i][0], t[i][1]);
}

static void test_http_specifics(void) {
  /* absolute references, dot segments removed there too */
  ok(rfc_base, "http://h/a/./b/../c", "http://h/a/c");
  ok(rfc_base, "HtTpS://Example.COM/X", "https://Example.COM/X"); /* scheme in lower case */
  ok(rfc_base, "https://h", "https://h");
  ok(rfc_base, "https://h?x", "https://h?x");
  ok(rfc_base, "HTTP:g", "http://a/b/c/g");
  ok(rfc_base, "http:", "http://a/b/c/d;p?q");
  ok(rfc_base, "http:?z", "http://a/b/c/d;p?z");
  ok(rfc_base, "http:/g", "http://a/g");
  ok(rfc_base, "http:#f", "http://a/b/c/d;p?q#f");
  /* https bases */
  ok("https://h.example/a/b", "c", "https://h.example/a/c");
  ok("https://h.example/a/b", "//other.example/x", "https://other.example/x");
  ok("https://h.example/a/b", "https:g", "https://h.example/a/g");
  ok("https://h.example/a/b", "http://h.example/x", "http://h.example/x"); /* policy is the caller's */
  ok("http://h.example/a/b", "https://h.example/x", "https://h.example/x");
  ok("HTTPS://h/a", "b", "https://h/b");
  /* ports */
  ok("http://h:8080/a/b", "/c", "http://h:8080/c");
  ok("http://h:8080/a/b", "c?d", "http://h:8080/a/c?d");
  ok("http://h:8080/a/b", "//h2:9090/p", "http://h2:9090/p");
  ok("http://h:8080/a/b", "//h2/p", "http://h2/p");
  ok("https://h:8443", "x", "https://h:8443/x");
  ok("http://h:/a/b", "c", "http://h:/a/c"); /* the base's empty port is kept */
  /* scheme-relative with another host and port */
  ok("https://a.example/p?q#f", "//b.example:8443/r/../s?t#u", "https://b.example:8443/s?t#u");
  ok("https://a.example/p?q#f", "//b.example:8443", "https://b.example:8443#f");
  ok("https://a.example/p", "//b.example?x", "https://b.example?x");
  /* IPv6 literal hosts */
  ok("http://[2001:db8::1]:8080/a/b?x", "../c", "http://[2001:db8::1]:8080/c");
  ok("http://[2001:db8::1]:8080/a/b?x", "?y", "http://[2001:db8::1]:8080/a/b?y");
  ok("http://[::1]/a", "//[::2]:81/b", "http://[::2]:81/b");
  ok(rfc_base, "https://[::ffff:1.2.3.4]:8443/x", "https://[::ffff:1.2.3.4]:8443/x");
  ok(rfc_base, "[::1]:80/x", "http://a/b/c/[::1]:80/x"); /* no scheme: a path */
  ok("http://1.2.3.4/a/b", "../../../c", "http://1.2.3.4/c");
  /* bases with an empty path merge as "/" */
  ok("http://h", "g", "http://h/g");
  ok("http://h", "../g", "http://h/g");
  ok("http://h?x", "?y", "http://h?y");
  ok("http://h?x", "#f", "http://h?x#f");
  ok("http://h#f", "g", "http://h/g#f");
  /* query-only and empty-query */
  ok(rfc_base, "?", "http://a/b/c/d;p?");
  ok(rfc_base, "?a=1&b=2", "http://a/b/c/d;p?a=1&b=2");
  ok("http://h/p", "?y", "http://h/p?y");
  /* fragments: inherited when the reference has none, else replaced */
  ok("http://h/a?q#frag", "/b", "http://h/b#frag");
  ok("http://h/a?q#frag", "//g/b", "http://g/b#frag");
  ok("http://h/a?q#frag", "https://g/b", "https://g/b#frag");
  ok("http://h/a?q#frag", "?y", "http://h/a?y#frag");
  ok("http://h/a?q#frag", "/b#new", "http://h/b#new");
  ok("http://h/a?q#frag", "/b#", "http://h/b#"); /* an empty fragment is still one */
  ok("http://h/a?q#frag", "#x", "http://h/a?q#x");
  ok("http://h/a?q#", "b", "http://h/b#");
  ok("http://h/a", "b#f#g", "http://h/b#f#g");
  /* things that look like schemes but are not */
  ok(rfc_base, "a_b:c", "http://a/b/c/a_b:c");
  ok(rfc_base, "1ab:c", "http://a/b/c/1ab:c");
  ok(rfc_base, "+x:y", "http://a/b/c/+x:y");
  ok(rfc_base, "./localhost:8080/x", "http://a/b/c/localhost:8080/x");
  ok(rfc_base, "/x:y", "http://a/x:y");
  ok(rfc_base, "?x:y", "http://a/b/c/d;p?x:y");
  ok(rfc_base, "#x:y", "http://a/b/c/d;p?q#x:y");
  /* dot segments: empty segments stay, "/.." at the root clamps */
  ok(rfc_base, "/a//b/../c", "http://a/a//c");
  ok(rfc_base, "/..", "http://a/");
  ok(rfc_base, "/.", "http://a/");
  ok(rfc_base, "/../../..", "http://a/");
  ok(rfc_base, "/a/b/..", "http://a/a/");
  ok(rfc_base, "/.//g", "http://a//g");
  ok(rfc_base, "...", "http://a/b/c/...");
  ok(rfc_base, "%2e%2E/g", "http://a/b/c/%2e%2E/g"); /* encoded dots are data */
  ok("http://a/b/./c/d", "e", "http://a/b/c/e");      /* merge cleans the base part too */
  ok("http://a/b/./c/d", "?y", "http://a/b/./c/d?y"); /* 5.2.2: the base path as is */
  /* surrounding spaces and tabs */
  ok(rfc_base, "  /x  ", "http://a/x");
  ok(rfc_base, "\t/x\t ", "http://a/x");
  ok(rfc_base, " \t g", "http://a/b/c/g");
}

static void test_encoding(void) {
  ok(rfc_base, "/a b", "http://a/a%20b");
  ok(rfc_base, "a b?c d#e f", "http://a/b/c/a%20b?c%20d#e%20f");
  ok(rfc_base, "/\xc3\xa4\xff\x80", "http://a/%C3%A4%FF%80");
  ok(rfc_base, "?q=\xe2\x82\xac", "http://a/b/c/d;p?q=%E2%82%AC");
  /* a backslash is data: not a separator, so not another host */
  ok(rfc_base, "/\\evil.example", "http://a/%5Cevil.example");
  ok(rfc_base, "\\\\evil.example/x", "http://a/b/c/%5C%5Cevil.example/x");
  ok(rfc_base, "/a\\..\\b", "http://a/a%5C..%5Cb");
  ok(rfc_base, "/\"<>\\^`{|}", "http://a/%22%3C%3E%5C%5E%60%7B%7C%7D");
  ok(rfc_base, "/%41%zz%", "http://a/%41%zz%"); /* '%' is kept as is */
  ok(rfc_base, "/[]@!$&'()*+,;=~-._:", "http://a/[]@!$&'()*+,;=~-._:");
  ok(rfc_base, "/a%20b", "http://a/a%20b");
  /* encoding works on absolute and scheme-relative references too */
  ok(rfc_base, "https://h/a b", "https://h/a%20b");
  ok(rfc_base, "//h/\xc3\xa9", "http://h/%C3%A9");
  /* a space in the middle is kept (encoded), only the ends are trimmed */
  ok(rfc_base, " a  b ", "http://a/b/c/a%20%20b");
}

/* ---- errors ------------------------------------------------------------- */

static void bad_n(const char *base, const char *ref, size_t rlen, const char *want_err) {
  char res[64];
  const char *err;
  size_t blen = strlen(base);
  long rc = resolve_guarded(base, blen, ref, rlen, 0, res, sizeof res, &err);
  CHECKF(rc == -EINVAL, "%s + \"%.*s\": rc %ld (want -EINVAL)", base, rlen > 80 ? 80 : (int)rlen,
         ref, rc);
  CHECKF(err && strcmp(err, want_err) == 0, "%s + \"%.*s\": err \"%s\", want \"%s\"", base,
         rlen > 80 ? 80 : (int)rlen, ref, err ? err : "(null)", want_err);
}

static void bad(const char *base, const char *ref, const char *want_err) {
  bad_n(base, ref, strlen(ref), want_err);
}

static void test_errors(void) {
  bad(rfc_base, "", "empty Location");
  bad(rfc_base, "   ", "empty Location");
  bad(rfc_base, " \t \t", "empty Location");
  bad_n(rfc_base, "/a\0b", 4, "control character in Location");
  bad_n(rfc_base, "\0", 1, "control character in Location");
  bad(rfc_base, "/a\r\nSet-Cookie: x=1", "control character in Location");
  bad(rfc_base, "/a\nb", "control character in Location");
  bad(rfc_base, "/a\tb", "control character in Location");
  bad(rfc_base, "/a\x7f", "control character in Location");
  bad(rfc_base, "\x1b[0m", "control character in Location");
  bad(rfc_base, "g:h", "unsupported scheme in Location");
  bad(rfc_base, "javascript:alert(1)", "unsupported scheme in Location");
  bad(rfc_base, "JavaScript:alert(1)", "unsupported scheme in Location");
  bad(rfc_base, "ftp://h/x", "unsupported scheme in Location");
  bad(rfc_base, "data:text/html,<b>x</b>", "unsupported scheme in Location");
  bad(rfc_base, "localhost:8080/x", "unsupported scheme in Location");
  bad(rfc_base, "mailto:a@b.example", "unsupported scheme in Location");
  bad(rfc_base, "file:///etc/passwd", "unsupported scheme in Location");
  bad(rfc_base, "httpx://h/", "unsupported scheme in Location");
  bad(rfc_base, "http+unix://h/", "unsupported scheme in Location");
  bad(rfc_base, "ws://h/", "unsupported scheme in Location");
  bad(rfc_base, "https:g", "scheme change without a host in Location");
  bad(rfc_base, "https:/g", "scheme change without a host in Location");
  bad(rfc_base, "HTTPS:", "scheme change without a host in Location");
  bad("https://h/", "http:g", "scheme change without a host in Location");
  /* rf_url_parse's own verdicts on the result */
  bad(rfc_base, "//", "missing host");
  bad(rfc_base, "http://", "missing host");
  bad(rfc_base, "https:///x", "missing host");
  bad(rfc_base, "//:80/x", "missing host");
  bad(rfc_base, "//user:pw@h/", "credentials in URL are not supported");
  bad(rfc_base, "https://user@evil.example/", "credentials in URL are not supported");
  bad(rfc_base, "//h:99999/", "port out of range");
  bad(rfc_base, "//h:0/", "port out of range");
  bad(rfc_base, "//h:8x/", "invalid port");
  bad(rfc_base, "//bad host/", "invalid character in host name");
  bad(rfc_base, "//h\xc3\xa4.example/", "invalid character in host name");
  bad(rfc_base, "//evil.example\\@good.example/", "credentials in URL are not supported");
  bad(rfc_base, "//[::1/", "unterminated IPv6 address");
  bad(rfc_base, "//[zz::1]/", "invalid IPv6 address");
  bad(rfc_base, "//[fe80::1%25eth0]/", "IPv6 zone identifiers are not supported");
  bad(rfc_base, "//999.1.1.1/", "invalid IPv4 address");
  /* an unusable base */
  bad("", "/x", "invalid base URL");
  bad("ftp://h/", "/x", "invalid base URL");
  bad("/relative", "/x", "invalid base URL");
  /* NULL ref with length 0 is an empty Location */
  {
    char out[64];
    const char *err = NULL;
    CHECK_EQ_INT(rf_url_resolve(rfc_base, strlen(rfc_base), NULL, 0, out, sizeof out, &err),
                 -EINVAL);
    CHECK_EQ_STR(err, "empty Location");
  }
}

/* A 100 KiB Location: longer than RF_URL_MAX_LEN once resolved, so an error
 * (not a crash, not a write past cap) -- whether it is plain ASCII or grows
 * threefold by encoding. One that shrinks back under the limit through dot
 * segments is fine: the rule is about the result. */
static void test_huge(void) {
  size_t n = 100 * 1024;
  char *ref = malloc(n + 2);
  char res[64];
  const char *err;
  CHECK(ref != NULL);
  if (!ref)
    return;
  ref[0] = '/';
  memset(ref + 1, 'a', n - 1);
  long rc = resolve_guarded(rfc_base, strlen(rfc_base), ref, n, 0, res, sizeof res, &err);
  CHECK_EQ_INT(rc, -EINVAL);
  CHECK_EQ_STR(err, "URL too long");

  memset(ref + 1, '\xc3', n - 1);
  rc = resolve_guarded(rfc_base, strlen(rfc_base), ref, n, 0, res, sizeof res, &err);
  CHECK_EQ_INT(rc, -EINVAL);
  CHECK_EQ_STR(err, "URL too long");

  memset(ref, ' ', n); /* only spaces: empty */
  rc = resolve_guarded(rfc_base, strlen(rfc_base), ref, n, 0, res, sizeof res, &err);
  CHECK_EQ_INT(rc, -EINVAL);
  CHECK_EQ_STR(err, "empty Location");

  /* a result of exactly RF_URL_MAX_LEN bytes resolves, one more does not */
  size_t at = RF_URL_MAX_LEN - strlen("http://a");
  ref[0] = '/';
  memset(ref + 1, 'b', at);
  char *big = malloc(RF_URL_MAX_LEN + 2);
  CHECK(big != NULL);
  if (big) {
    rc = resolve_guarded(rfc_base, strlen(rfc_base), ref, at, 0, big, RF_URL_MAX_LEN + 2, &err);
    CHECK_EQ_INT(rc, RF_URL_MAX_LEN);
    CHECK(rc > 0 && strncmp(big, "http://a/bbb", 12) == 0 && strlen(big) == (size_t)rc);
    rc = resolve_guarded(rfc_base, strlen(rfc_base), ref, at + 1, 0, big, RF_URL_MAX_LEN + 2, &err);
    CHECK_EQ_INT(rc, -EINVAL);
    CHECK_EQ_STR(err, "URL too long");
    free(big);
  }

  /* "/a/.." 20480 times then "/x": 100 KiB that resolves to a short URL */
  for (size_t i = 0; i + 5 <= n; i += 5)
    memcpy(ref + i, "/a/..", 5);
  memcpy(ref + n, "/x", 2);
  rc = resolve_guarded(rfc_base, strlen(rfc_base), ref, n + 2, 0, res, sizeof res, &err);
  CHECK_EQ_INT(rc, (long)strlen("http://a/x"));
  CHECK_EQ_STR(res, "http://a/x");
  free(ref);
}

/* ---- property pass ------------------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)((rng_state >> 11) % n);
}

static long prop_ok, prop_rejected;

/* ref ends at a guard page; base too; out gets exactly the documented room
 * and ends at one. */
static void prop_one(const char *base, size_t blen, const char *ref, size_t rlen, char *oend,
                     char *bend2, char *rend2) {
  size_t cap = RF_URL_RESOLVE_CAP(blen, rlen);
  char *out = oend - cap;
  const char *err = NULL;
  tu_checks++;
  long rc = rf_url_resolve(base, blen, ref, rlen, out, cap, &err);
  if (rc < 0) {
    prop_rejected++;
    if (rc != -EINVAL || !err || !err[0] || strcmp(err, "output buffer too small") == 0) {
      tu_fail_head(__FILE__, __LINE__, "rejected without -EINVAL and a message");
      fprintf(stderr, " [rc %ld err %s ref ", rc, err ? err : "(null)");
      tu_print_bytes(ref, rlen);
      fputs("]\n", stderr);
    }
    return;
  }
  prop_ok++;
  rf_url u;
  bool good = (size_t)rc < cap && out[rc] == 0 && strlen(out) == (size_t)rc &&
              rf_url_parse(out, (size_t)rc, &u, NULL) == 0 && path_clean(out, (size_t)rc) &&
              !has_raw(out, (size_t)rc);
  /* a result is a fixed point: resolving it against itself gives itself */
  if (good) {
    size_t n = (size_t)rc;
    char *b2 = bend2 - n, *r2 = rend2 - n;
    memcpy(b2, out, n);
    memcpy(r2, out, n);
    size_t cap2 = RF_URL_RESOLVE_CAP(n, n);
    char *out2 = oend - cap2;
    long rc2 = rf_url_resolve(b2, n, r2, n, out2, cap2, NULL);
    good = rc2 == rc && memcmp(out2, b2, n) == 0;
  }
  if (!good) {
    tu_fail_head(__FILE__, __LINE__, "bad result");
    fputs(" [base ", stderr);
    tu_print_bytes(base, blen);
    fputs(" ref ", stderr);
    tu_print_bytes(ref, rlen);
    fputs(" -> ", stderr);
    tu_print_bytes(out, (size_t)rc);
    fputs("]\n", stderr);
  }
}

static void test_property(void) {
  static const char *const bases[] = {
      "http://a/b/c/d;p?q",
      "https://h.example:8443/x/y/?z#f",
      "http://[2001:db8::1]/a",
      "http://h",
      "https://h?x#",
  };
  static const char *const seeds[] = {
      "../../g", "./g/.", "g;x=1/../y", "//other:81/p/./q/..", "https://x/a/../b?c#d",
      "http:g",  "?y",    "#s",         "/a/b/../../..",       "a b/\xc3\xa4\\..",
      "",        ".",     "..",         "/..",                 "http://[::1]:8080/./x",
  };
  static const char *const tokens[] = {
      ".",  "..", "/",  "//", "?", "#",     "a",      "bc",     ":",      "@",     "[::1]",
      "%",  "%2e", " ", "\\", ";", "http:", "https:", "HTTP://", "//h:8", "\xc3", "\t",
      "\r", "x:", "=",  "&",  "'", "0",     "[",      "]",      "~",      "\x7f",
  };
  static const unsigned char bytes[] = {0x00, '\t', '\n', ' ', '"', '#', '%', '.',  '/', '0',
                                        ':',  ';',  '?',  '@', 'A', '[', ']', '\\', 'a', 'z',
                                        '{',  0x7f, 0x80, 0xff};
  enum { REF_MAX = 256 };
  tu_guard gb, gr, go, gb2, gr2;
  char *bend = tu_guard_alloc(&gb, 256) + 256;
  char *rend = tu_guard_alloc(&gr, REF_MAX) + REF_MAX;
  size_t ocap = 64 * 1024;
  char *oend = tu_guard_alloc(&go, ocap) + ocap;
  char *bend2 = tu_guard_alloc(&gb2, 4096) + 4096;
  char *rend2 = tu_guard_alloc(&gr2, 4096) + 4096;
  char buf[REF_MAX];
  long before = tu_failures;

  for (size_t bi = 0; bi < sizeof bases / sizeof bases[0]; bi++) {
    size_t blen = strlen(bases[bi]);
    char *b = bend - blen;
    memcpy(b, bases[bi], blen);
    /* mutated seeds: each byte replaced, deleted, or preceded by each byte */
    for (size_t si = 0; si < sizeof seeds / sizeof seeds[0]; si++) {
      const char *seed = seeds[si];
      size_t len = strlen(seed);
      prop_one(b, blen, memcpy(rend - len, seed, len), len, oend, bend2, rend2);
      for (size_t i = 0; i < len; i++) {
        for (size_t k = 0; k < sizeof bytes; k++) {
          memcpy(buf, seed, len);
          buf[i] = (char)bytes[k];
          prop_one(b, blen, memcpy(rend - len, buf, len), len, oend, bend2, rend2);
          memcpy(buf, seed, i);
          buf[i] = (char)bytes[k];
          memcpy(buf + i + 1, seed + i, len - i);
          prop_one(b, blen, memcpy(rend - (len + 1), buf, len + 1), len + 1, oend, bend2, rend2);
        }
        memcpy(buf, seed, i);
        memcpy(buf + i, seed + i + 1, len - i - 1);
        prop_one(b, blen, memcpy(rend - (len - 1), buf, len - 1), len - 1, oend, bend2, rend2);
      }
    }
    /* random token strings */
    for (int iter = 0; iter < 20000; iter++) {
      size_t len = 0;
      int ntok = 1 + (int)rnd(12);
      for (int t = 0; t < ntok; t++) {
        const char *tok = tokens[rnd(sizeof tokens / sizeof tokens[0])];
        size_t tl = strlen(tok);
        if (len + tl > REF_MAX)
          break;
        memcpy(buf + len, tok, tl);
        len += tl;
      }
      prop_one(b, blen, memcpy(rend - len, buf, len), len, oend, bend2, rend2);
    }
    /* random bytes, biased to the interesting ones */
    for (int iter = 0; iter < 5000; iter++) {
      size_t len = rnd(40);
      for (size_t i = 0; i < len; i++)
        buf[i] = rnd(4) ? (char)bytes[rnd(sizeof bytes)] : (char)rnd(256);
      prop_one(b, blen, memcpy(rend - len, buf, len), len, oend, bend2, rend2);
    }
  }
  CHECKF(prop_ok > 1000 && prop_rejected > 1000, "property pass: %ld resolved, %ld rejected",
         prop_ok, prop_rejected);
  if (tu_failures == before)
    fprintf(stderr, "property pass: %ld references resolved, %ld rejected\n", prop_ok,
            prop_rejected);
  tu_guard_free(&gb);
  tu_guard_free(&gr);
  tu_guard_free(&go);
  tu_guard_free(&gb2);
  tu_guard_free(&gr2);
}

int main(void) {
  test_rfc_normal();
  test_rfc_abnormal();
  test_http_specifics();
  test_encoding();
  test_errors();
  test_huge();
  test_property();
  return TU_EXIT();
}
