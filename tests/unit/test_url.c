/* URL parser: every field of rf_url for good URLs, -EINVAL plus a message for
 * bad ones, and a brute pass of single-byte mutations and truncations with the
 * input's end against a guard page (an over-read crashes; run under ASan too). */
#include <errno.h>
#include <stdbool.h>

#include "proto/url.h"
#include "testutil.h"

/* ---- good URLs: every field ------------------------------------------- */

typedef struct good {
  const char *url;
  enum rf_scheme scheme;
  enum rf_host_kind kind;
  const char *host;
  unsigned port;
  bool port_explicit;
  const char *target;
  bool needs_slash;
} good;

static const good goods[] = {
    {"http://example.com/", RF_SCHEME_HTTP, RF_HOST_NAME, "example.com", 80, false, "/", false},
    {"https://example.com", RF_SCHEME_HTTPS, RF_HOST_NAME, "example.com", 443, false, "", true},
    {"http://example.com", RF_SCHEME_HTTP, RF_HOST_NAME, "example.com", 80, false, "", true},
    {"HTTP://EXAMPLE.com/A", RF_SCHEME_HTTP, RF_HOST_NAME, "EXAMPLE.com", 80, false, "/A", false},
    {"HTTPS://h/", RF_SCHEME_HTTPS, RF_HOST_NAME, "h", 443, false, "/", false},
    {"hTtPs://h:8443/", RF_SCHEME_HTTPS, RF_HOST_NAME, "h", 8443, true, "/", false},
    {"http://h:80/", RF_SCHEME_HTTP, RF_HOST_NAME, "h", 80, true, "/", false},
    {"https://h:80/", RF_SCHEME_HTTPS, RF_HOST_NAME, "h", 80, true, "/", false},
    {"http://h:443", RF_SCHEME_HTTP, RF_HOST_NAME, "h", 443, true, "", true},
    {"http://h:1/", RF_SCHEME_HTTP, RF_HOST_NAME, "h", 1, true, "/", false},
    {"http://h:65535/", RF_SCHEME_HTTP, RF_HOST_NAME, "h", 65535, true, "/", false},
    {"http://h:0080/", RF_SCHEME_HTTP, RF_HOST_NAME, "h", 80, true, "/", false},
    /* an empty port means the default (RFC 3986 3.2.3) */
    {"http://h:/x", RF_SCHEME_HTTP, RF_HOST_NAME, "h", 80, false, "/x", false},
    {"http://127.0.0.1/", RF_SCHEME_HTTP, RF_HOST_IPV4, "127.0.0.1", 80, false, "/", false},
    {"https://10.1.2.3:8443/x", RF_SCHEME_HTTPS, RF_HOST_IPV4, "10.1.2.3", 8443, true, "/x", false},
    {"http://1.2.3.4./", RF_SCHEME_HTTP, RF_HOST_IPV4, "1.2.3.4", 80, false, "/", false},
    {"http://[::1]/", RF_SCHEME_HTTP, RF_HOST_IPV6, "::1", 80, false, "/", false},
    {"http://[::1]", RF_SCHEME_HTTP, RF_HOST_IPV6, "::1", 80, false, "", true},
    {"http://[::1]:/", RF_SCHEME_HTTP, RF_HOST_IPV6, "::1", 80, false, "/", false},
    {"https://[2001:db8::1]:8443/p?q", RF_SCHEME_HTTPS, RF_HOST_IPV6, "2001:db8::1", 8443, true, "/p?q",
     false},
    {"http://[::ffff:1.2.3.4]:81", RF_SCHEME_HTTP, RF_HOST_IPV6, "::ffff:1.2.3.4", 81, true, "", true},
    {"http://h/a/b?c=d&e=f", RF_SCHEME_HTTP, RF_HOST_NAME, "h", 80, false, "/a/b?c=d&e=f", false},
    {"http://h/p?q#frag", RF_SCHEME_HTTP, RF_HOST_NAME, "h", 80, false, "/p?q", false},
    {"http://h/p#f?g/h", RF_SCHEME_HTTP, RF_HOST_NAME, "h", 80, false, "/p", false},
    {"http://h#frag", RF_SCHEME_HTTP, RF_HOST_NAME, "h", 80, false, "", true},
    {"http://h:81#frag", RF_SCHEME_HTTP, RF_HOST_NAME, "h", 81, true, "", true},
    {"http://h?x", RF_SCHEME_HTTP, RF_HOST_NAME, "h", 80, false, "?x", true},
    {"http://h:8080?x=1#y", RF_SCHEME_HTTP, RF_HOST_NAME, "h", 8080, true, "?x=1", true},
    {"http://h/%41%20b", RF_SCHEME_HTTP, RF_HOST_NAME, "h", 80, false, "/%41%20b", false},
    /* the request writer percent-encodes these; the parser keeps them */
    {"http://h/a b\xc3\xa4", RF_SCHEME_HTTP, RF_HOST_NAME, "h", 80, false, "/a b\xc3\xa4", false},
    {"http://h/u@v:w", RF_SCHEME_HTTP, RF_HOST_NAME, "h", 80, false, "/u@v:w", false},
    {"http://example.com./x", RF_SCHEME_HTTP, RF_HOST_NAME, "example.com.", 80, false, "/x", false},
    {"http://my_host.ex-ample.test/", RF_SCHEME_HTTP, RF_HOST_NAME, "my_host.ex-ample.test", 80, false,
     "/", false},
    {"http://_dmarc.x/", RF_SCHEME_HTTP, RF_HOST_NAME, "_dmarc.x", 80, false, "/", false},
    {"http://1.2.3.4x/", RF_SCHEME_HTTP, RF_HOST_NAME, "1.2.3.4x", 80, false, "/", false},
};

static bool span_inside(const char *p, size_t n, const char *s, size_t len) {
  return p >= s && p <= s + len && n <= (size_t)(s + len - p);
}

static void check_good(const good *g) {
  tu_guard gd;
  size_t len = strlen(g->url);
  char *s = tu_guard_copy(&gd, g->url, len);
  rf_url u;
  const char *err = NULL;
  int rc = rf_url_parse(s, len, &u, &err);
  CHECKF(rc == 0, "%s: rc %d err %s", g->url, rc, err ? err : "(null)");
  if (rc == 0) {
    CHECKF(u.scheme == g->scheme, "%s: scheme %d", g->url, u.scheme);
    CHECKF(u.host_kind == g->kind, "%s: host_kind %d", g->url, u.host_kind);
    CHECK_EQ_SPAN(u.host, u.host_len, g->host);
    CHECKF(span_inside(u.host, u.host_len, s, len), "%s: host span outside the input", g->url);
    CHECKF(u.port == g->port, "%s: port %u", g->url, (unsigned)u.port);
    CHECKF(u.port_explicit == g->port_explicit, "%s: port_explicit %d", g->url, u.port_explicit);
    CHECK_EQ_SPAN(u.target, u.target_len, g->target);
    CHECKF(span_inside(u.target, u.target_len, s, len), "%s: target span outside the input", g->url);
    CHECKF(u.target_needs_slash == g->needs_slash, "%s: target_needs_slash %d", g->url,
           u.target_needs_slash);
  }
  tu_guard_free(&gd);
}

static void check_good_str(const char *url, enum rf_host_kind kind, size_t host_len) {
  tu_guard gd;
  size_t len = strlen(url);
  char *s = tu_guard_copy(&gd, url, len);
  rf_url u;
  const char *err = NULL;
  int rc = rf_url_parse(s, len, &u, &err);
  CHECKF(rc == 0, "%.60s... (%zu bytes): rc %d err %s", url, len, rc, err ? err : "(null)");
  if (rc == 0) {
    CHECK_EQ_INT(u.host_kind, kind);
    CHECK_EQ_INT(u.host_len, host_len);
  }
  tu_guard_free(&gd);
}

/* ---- bad URLs ----------------------------------------------------------- */

static void check_bad_n(const char *in, size_t len, const char *why) {
  tu_guard gd;
  char *s = tu_guard_copy(&gd, in, len);
  rf_url u;
  const char *err = NULL;
  int rc = rf_url_parse(s, len, &u, &err);
  CHECKF(rc == -EINVAL, "%s: rc %d (want -EINVAL)", why, rc);
  CHECKF(err != NULL && err[0] != 0, "%s: no error message", why);
  /* a NULL err pointer is allowed */
  CHECKF(rf_url_parse(s, len, &u, NULL) == -EINVAL, "%s: with err == NULL", why);
  tu_guard_free(&gd);
}

static void check_bad(const char *in) { check_bad_n(in, strlen(in), in); }

static char *repeat(char *dst, char c, size_t n) {
  memset(dst, c, n);
  return dst + n;
}

static void test_bad(void) {
  static const char *const bad[] = {
      "example.com/",
      "//example.com/",
      "example.com:80/",
      ":",
      "ftp://h/",
      "file:///etc/passwd",
      "javascript:alert(1)",
      "httpx://h/",
      "http:/h/",
      "http:h/",
      "http//h/",
      "http://",
      "https://",
      "http:///x",
      "http://?x",
      "http://#x",
      "http://:80/",
      "http://:/",
      "http://[::1",
      "http://[::1/x]",
      "http://[::1]x/",
      "http://[::1]:8x/",
      "http://[::1]]/",
      "http://[]/",
      "http://[::g]/",
      "http://[1.2.3.4]/",
      "http://[fe80::1%25eth0]/",
      "http://[fe80::1%eth0]/",
      "http://::1/",
      "http://a b/",
      "http://a%20b/",
      "http://a\\b/",
      "http://a]b/",
      "http://a,b/",
      "http://host:99999/",
      "http://host:65536/",
      "http://host:4294967376/", /* 2^32 + 80: must not wrap to 80 */
      "http://host:18446744073709551696/",
      "http://host:0/",
      "http://host:00/",
      "http://host:8x/",
      "http://host:-1/",
      "http://host:+80/",
      "http://host: 80/",
      "http://host:80:90/",
      "http://user:pw@host/",
      "http://user@host/",
      "http://@host/",
      "http://host@/",
      "http://999.1.1.1/",
      "http://256.0.0.1/",
      "http://1.2.3/",
      "http://1.2.3.4.5/",
      "http://1..2.3/",
      "http://123/",
      "http://a..b/",
      "http://.a/",
      "http://./",
      "http://a../",
      "http://h\x01/",
      "http://h/\x1f",
      "http://h/\x7f",
      "http://h/a\tb",
      "http://h/\r\nX: y",
      "\thttp://h/",
      "http://h/ \n",
      "http://ex\xc3\xa4mple.com/",
      "http://h\xff/",
      "http://\x80/",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    check_bad(bad[i]);

  /* empty: length 0, and a NULL pointer */
  check_bad_n("", 0, "empty");
  {
    rf_url u;
    const char *err = NULL;
    CHECK_EQ_INT(rf_url_parse(NULL, 0, &u, &err), -EINVAL);
    CHECK(err != NULL);
  }

  /* a NUL inside: the length says where the input ends, not the NUL */
  static const char nul1[] = "http://ho\0st/";
  check_bad_n(nul1, sizeof nul1 - 1, "NUL inside the host");
  static const char nul2[] = "http://host/a\0b";
  check_bad_n(nul2, sizeof nul2 - 1, "NUL inside the path");
  static const char nul3[] = "http://host/\0";
  check_bad_n(nul3, sizeof nul3 - 1, "NUL at the end");

  /* every control character, in host and in path */
  for (int c = 0; c < 0x20; c++) {
    char b[32];
    int n = snprintf(b, sizeof b, "http://h%c/", c);
    char why[40];
    snprintf(why, sizeof why, "control 0x%02x in host", c);
    check_bad_n(b, (size_t)n, why);
    n = snprintf(b, sizeof b, "http://h/%cx", c);
    snprintf(why, sizeof why, "control 0x%02x in path", c);
    check_bad_n(b, (size_t)n, why);
  }

  /* host name limits: labels 1..63 bytes, names at most 253 (+ one dot) */
  char *buf = malloc(RF_URL_MAX_LEN + 64);
  char *p = buf;
  p += sprintf(p, "http://");
  p = repeat(p, 'a', 64);
  p += sprintf(p, ".com/");
  check_bad_n(buf, (size_t)(p - buf), "64-byte label");

  p = buf + sprintf(buf, "http://");
  p = repeat(p, 'a', 63);
  p += sprintf(p, ".com/");
  *p = 0;
  check_good_str(buf, RF_HOST_NAME, 67);

  /* 254 bytes: 63 + '.' + 63 + '.' + 63 + '.' + 61 */
  p = buf + sprintf(buf, "http://");
  for (int i = 0; i < 3; i++) {
    p = repeat(p, 'b', 63);
    *p++ = '.';
  }
  p = repeat(p, 'c', 62);
  char *end254 = p;
  p += sprintf(p, "/");
  check_bad_n(buf, (size_t)(p - buf), "254-byte host name");
  /* the same as 253 bytes is fine, also with the one trailing dot allowed */
  p = end254 - 1;
  p += sprintf(p, "/");
  *p = 0;
  check_good_str(buf, RF_HOST_NAME, 253);
  p = end254 - 1;
  p += sprintf(p, "./");
  *p = 0;
  check_good_str(buf, RF_HOST_NAME, 254);
  /* 254 bytes plus a trailing dot is still too long */
  p = end254;
  p += sprintf(p, "./");
  check_bad_n(buf, (size_t)(p - buf), "254-byte host name plus dot");

  /* total length: RF_URL_MAX_LEN is accepted, one more byte is not */
  p = buf + sprintf(buf, "http://h/");
  p = repeat(p, 'x', RF_URL_MAX_LEN - (size_t)(p - buf));
  *p = 0;
  CHECK_EQ_INT(p - buf, RF_URL_MAX_LEN);
  check_good_str(buf, RF_HOST_NAME, 1);
  *p++ = 'x';
  check_bad_n(buf, (size_t)(p - buf), "URL longer than RF_URL_MAX_LEN");
  free(buf);
}

/* ---- brute pass: mutations and truncations ------------------------------ */

static long brute_ok, brute_rejected;

/* s[0..len) ends at the guard page. Either a parse whose spans lie inside the
 * input and are consistent, or -EINVAL with a message. */
static void brute_one(const char *s, size_t len, const char *base, size_t pos, int byte) {
  rf_url u;
  const char *err = NULL;
  tu_checks++;
  int rc = rf_url_parse(s, len, &u, &err);
  if (rc == 0) {
    brute_ok++;
    bool ok = span_inside(u.host, u.host_len, s, len) && u.host_len > 0 &&
              span_inside(u.target, u.target_len, s, len) && u.port != 0 &&
              (u.scheme == RF_SCHEME_HTTP || u.scheme == RF_SCHEME_HTTPS) &&
              u.host_kind <= RF_HOST_IPV6 && memchr(u.target, '#', u.target_len) == NULL &&
              u.target_needs_slash == (u.target_len == 0 || u.target[0] == '?') &&
              (u.port_explicit || u.port == rf_url_default_port(u.scheme));
    for (size_t i = 0; ok && i < u.host_len; i++) {
      unsigned char c = (unsigned char)u.host[i];
      ok = c > 0x20 && c < 0x7f && c != '/' && c != '@' && c != '[' && c != ']' && c != '?' &&
           c != '#' && (c != ':' || u.host_kind == RF_HOST_IPV6);
    }
    for (size_t i = 0; ok && i < len; i++)
      ok = (unsigned char)s[i] >= 0x20 && s[i] != 0x7f;
    if (!ok) {
      tu_fail_head(__FILE__, __LINE__, "mutated URL parsed into bad fields");
      fprintf(stderr, " [base %s pos %zu byte 0x%02x len %zu]\n", base, pos, byte, len);
    }
  } else {
    brute_rejected++;
    if (rc != -EINVAL || err == NULL) {
      tu_fail_head(__FILE__, __LINE__, "mutated URL rejected without -EINVAL and a message");
      fprintf(stderr, " [base %s pos %zu byte 0x%02x rc %d]\n", base, pos, byte, rc);
    }
  }
}

static void test_brute(void) {
  static const char *const bases[] = {
      "http://example.com/",
      "https://a.b:8443/p?q=1#f",
      "http://[2001:db8::1]:8080/x?y",
      "http://127.0.0.1:80",
      "HTTPS://h_1.example.:1/%41",
      "http://[::1]",
      "http://h?x",
  };
  static const unsigned char bytes[] = {0x00, 0x01, '\t', '\n', '\r', ' ', '!', '"', '#', '%', '.',
                                        '/', '0', '1', '9', ':', ';', '?', '@', 'A', '[', '\\', ']',
                                        '_', '-', 'a', 'z', '{', 0x7f, 0x80, 0xc3, 0xff};
  tu_guard gd;
  char *end = tu_guard_alloc(&gd, 256) + 256;
  long before = tu_failures;
  for (size_t b = 0; b < sizeof bases / sizeof bases[0]; b++) {
    const char *base = bases[b];
    size_t len = strlen(base);
    /* the base itself parses */
    {
      rf_url u;
      char *s = end - len;
      memcpy(s, base, len);
      CHECKF(rf_url_parse(s, len, &u, NULL) == 0, "brute base %s", base);
    }
    /* every prefix (the shorter input still ends at the guard page) */
    for (size_t n = 0; n <= len; n++) {
      char *s = end - n;
      memcpy(s, base, n);
      brute_one(s, n, base, n, -1);
    }
    /* each byte replaced by each interesting byte */
    for (size_t i = 0; i < len; i++) {
      for (size_t k = 0; k < sizeof bytes; k++) {
        char *s = end - len;
        memcpy(s, base, len);
        s[i] = (char)bytes[k];
        brute_one(s, len, base, i, bytes[k]);
        /* and the same with the input cut just after the mutation */
        char *t = end - (i + 1);
        memmove(t, s, i + 1);
        brute_one(t, i + 1, base, i, bytes[k]);
      }
    }
    /* each byte deleted, and each interesting byte inserted */
    for (size_t i = 0; i < len; i++) {
      char *s = end - (len - 1);
      memcpy(s, base, i);
      memcpy(s + i, base + i + 1, len - i - 1);
      brute_one(s, len - 1, base, i, -2);
      for (size_t k = 0; k < sizeof bytes; k++) {
        s = end - (len + 1);
        memcpy(s, base, i);
        s[i] = (char)bytes[k];
        memcpy(s + i + 1, base + i, len - i);
        brute_one(s, len + 1, base, i, bytes[k]);
      }
    }
  }
  CHECKF(brute_ok > 0 && brute_rejected > 0, "brute pass: %ld parsed, %ld rejected", brute_ok,
         brute_rejected);
  if (tu_failures == before)
    fprintf(stderr, "brute pass: %ld inputs parsed, %ld rejected, no over-read\n", brute_ok,
            brute_rejected);
  tu_guard_free(&gd);
}

int main(void) {
  for (size_t i = 0; i < sizeof goods / sizeof goods[0]; i++)
    check_good(&goods[i]);
  test_bad();
  CHECK_EQ_INT(rf_url_default_port(RF_SCHEME_HTTP), 80);
  CHECK_EQ_INT(rf_url_default_port(RF_SCHEME_HTTPS), 443);
  test_brute();
  return TU_EXIT();
}
