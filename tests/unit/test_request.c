/* Request head writer: exact bytes for the common cases, header defaults
 * replaced/removed by custom headers, Content-Length rules, target encoding,
 * validation, and the size-then-write protocol against a guard page. */
#include <errno.h>
#include <stdbool.h>
#include <strings.h>

#include "proto/request.h"
#include "proto/url.h"
#include "testutil.h"

#define H(n, v) {n, sizeof(n) - 1, v, sizeof(v) - 1}

static rf_url url_of(const char *s) {
  rf_url u;
  const char *err = NULL;
  int rc = rf_url_parse(s, strlen(s), &u, &err);
  if (rc != 0) {
    fprintf(stderr, "test setup: cannot parse %s: %s\n", s, err ? err : "?");
    exit(2);
  }
  return u;
}

/* Writes the head with the documented protocol: size with cap 0 (and a NULL
 * buffer), then write into a buffer of exactly that size that ends at a guard
 * page. Returns a malloc'ed NUL-terminated copy, or NULL (rc in *rc_out). */
static char *head_of(const rf_http_req *r, long *rc_out) {
  const char *err = NULL;
  long need = rf_http_write_head(r, NULL, 0, &err);
  *rc_out = need;
  if (need < 0)
    return NULL;
  tu_guard g;
  char *b = tu_guard_alloc(&g, (size_t)need);
  long n = rf_http_write_head(r, b, (size_t)need, &err);
  CHECK_EQ_INT(n, need);
  char *copy = malloc((size_t)need + 1);
  memcpy(copy, b, (size_t)need);
  copy[need] = 0;
  tu_guard_free(&g);
  return copy;
}

/* ---- a tiny head reader for order-independent checks -------------------- */

static int count_header(const char *head, const char *name) {
  int n = 0;
  size_t nl = strlen(name);
  const char *p = strstr(head, "\r\n");
  while (p && p[2] != '\r') {
    const char *line = p + 2;
    if (strncasecmp(line, name, nl) == 0 && line[nl] == ':')
      n++;
    p = strstr(line, "\r\n");
  }
  return n;
}

/* Value of the first header `name` (static buffer), or NULL. */
static const char *header_value(const char *head, const char *name) {
  static char v[512];
  size_t nl = strlen(name);
  const char *p = strstr(head, "\r\n");
  while (p && p[2] != '\r') {
    const char *line = p + 2;
    const char *e = strstr(line, "\r\n");
    if (!e)
      return NULL;
    if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
      const char *s = line + nl + 1;
      while (*s == ' ')
        s++;
      size_t n = (size_t)(e - s);
      if (n >= sizeof v)
        n = sizeof v - 1;
      memcpy(v, s, n);
      v[n] = 0;
      return v;
    }
    p = e;
  }
  return NULL;
}

/* Every line ends in CRLF, the head ends in an empty line, no bare CR/LF. */
static bool well_formed(const char *head) {
  size_t n = strlen(head);
  if (n < 4 || strcmp(head + n - 4, "\r\n\r\n") != 0)
    return false;
  for (size_t i = 0; i < n; i++) {
    if (head[i] == '\r' && head[i + 1] != '\n')
      return false;
    if (head[i] == '\n' && (i == 0 || head[i - 1] != '\r'))
      return false;
  }
  return strstr(head, "\r\n\r\n") == head + n - 4;
}

static void request_line_is(const char *head, const char *want) {
  const char *e = strstr(head, "\r\n");
  CHECK(e != NULL);
  if (e)
    CHECK_EQ_SPAN(head, (size_t)(e - head), want);
}

/* ---- exact bytes -------------------------------------------------------- */

static void expect_head(const char *url, const char *method, const char *ua, const rf_hdr_in *hs,
                        size_t nh, size_t body_len, const char *want) {
  rf_url u = url_of(url);
  rf_http_req r = {.method = method, .url = &u, .user_agent = ua, .headers = hs, .n_headers = nh,
                   .body_len = body_len};
  long rc;
  char *h = head_of(&r, &rc);
  CHECKF(h != NULL, "%s %s: rc %ld", method ? method : "(GET)", url, rc);
  if (h) {
    CHECK_EQ_STR(h, want);
    CHECK(well_formed(h));
  }
  free(h);
}

static void test_exact(void) {
  expect_head("http://example.com/", "GET", "ringfetch/0.1", NULL, 0, 0,
              "GET / HTTP/1.1\r\nHost: example.com\r\nUser-Agent: ringfetch/0.1\r\n"
              "Accept: */*\r\n\r\n");
  /* NULL method means GET; no user agent means no User-Agent header */
  expect_head("http://example.com/x", NULL, NULL, NULL, 0, 0,
              "GET /x HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n");
  expect_head("http://example.com/x", "GET", "", NULL, 0, 0,
              "GET /x HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n");
  /* non-default port in Host; default ports left out */
  expect_head("http://example.com:8080/a?b=c", "GET", "ua", NULL, 0, 0,
              "GET /a?b=c HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: ua\r\n"
              "Accept: */*\r\n\r\n");
  expect_head("https://example.com:443/", "GET", NULL, NULL, 0, 0,
              "GET / HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n");
  expect_head("https://example.com:80/", "GET", NULL, NULL, 0, 0,
              "GET / HTTP/1.1\r\nHost: example.com:80\r\nAccept: */*\r\n\r\n");
  expect_head("http://example.com:443/", "GET", NULL, NULL, 0, 0,
              "GET / HTTP/1.1\r\nHost: example.com:443\r\nAccept: */*\r\n\r\n");
  expect_head("http://127.0.0.1:81/", "GET", NULL, NULL, 0, 0,
              "GET / HTTP/1.1\r\nHost: 127.0.0.1:81\r\nAccept: */*\r\n\r\n");
  /* IPv6 literal: brackets in Host */
  expect_head("http://[::1]/", "GET", NULL, NULL, 0, 0,
              "GET / HTTP/1.1\r\nHost: [::1]\r\nAccept: */*\r\n\r\n");
  expect_head("https://[2001:db8::1]:8443/p", "GET", "ua", NULL, 0, 0,
              "GET /p HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\nUser-Agent: ua\r\n"
              "Accept: */*\r\n\r\n");
  /* target: "/" when the URL has none, "/?x" for a bare query, no fragment */
  expect_head("http://h", "GET", NULL, NULL, 0, 0,
              "GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n");
  expect_head("http://h?x=1&y", "GET", NULL, NULL, 0, 0,
              "GET /?x=1&y HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n");
  expect_head("http://h/p?q=1#frag", "GET", NULL, NULL, 0, 0,
              "GET /p?q=1 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n");
  expect_head("http://h#frag", "GET", NULL, NULL, 0, 0,
              "GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n");
  /* HEAD and DELETE send no Content-Length without a body */
  expect_head("http://h/", "HEAD", NULL, NULL, 0, 0,
              "HEAD / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n");
  expect_head("http://h/r/1", "DELETE", NULL, NULL, 0, 0,
              "DELETE /r/1 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n");
  expect_head("http://h/r/1", "DELETE", NULL, NULL, 0, 3,
              "DELETE /r/1 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nContent-Length: 3\r\n\r\n");
  /* POST/PUT always carry Content-Length, 0 for an empty body */
  expect_head("http://h/f", "POST", "ua", NULL, 0, 11,
              "POST /f HTTP/1.1\r\nHost: h\r\nUser-Agent: ua\r\nAccept: */*\r\n"
              "Content-Length: 11\r\n\r\n");
  expect_head("http://h/f", "POST", NULL, NULL, 0, 0,
              "POST /f HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nContent-Length: 0\r\n\r\n");
  expect_head("http://h/f", "PUT", NULL, NULL, 0, 0,
              "PUT /f HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nContent-Length: 0\r\n\r\n");
  expect_head("http://h/f", "PUT", NULL, NULL, 0, 1234567890123ull,
              "PUT /f HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nContent-Length: 1234567890123\r\n\r\n");
  /* GET with a body gets a Content-Length too */
  expect_head("http://h/", "GET", NULL, NULL, 0, 2,
              "GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nContent-Length: 2\r\n\r\n");
  /* custom headers follow the defaults, in order, duplicates kept */
  static const rf_hdr_in extra[] = {H("X-A", "1"), H("X-B", "two words"), H("X-A", "3")};
  expect_head("http://h/", "GET", "ua", extra, 3, 0,
              "GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: ua\r\nAccept: */*\r\nX-A: 1\r\n"
              "X-B: two words\r\nX-A: 3\r\n\r\n");
}

/* ---- defaults replaced and removed -------------------------------------- */

static char *head_for(const char *url, const char *method, const char *ua, const rf_hdr_in *hs,
                      size_t nh, size_t body_len) {
  rf_url u = url_of(url);
  rf_http_req r = {.method = method, .url = &u, .user_agent = ua, .headers = hs, .n_headers = nh,
                   .body_len = body_len};
  long rc;
  char *h = head_of(&r, &rc);
  CHECKF(h != NULL, "%s: rc %ld", url, rc);
  if (h)
    CHECK(well_formed(h));
  return h ? h : strdup("\r\n\r\n");
}

static void test_defaults(void) {
  /* replace: one header of each name, the custom value */
  static const rf_hdr_in rep[] = {H("Host", "other.example"), H("User-Agent", "custom/2"),
                                  H("Accept", "text/html")};
  char *h = head_for("http://h:8080/", "GET", "ua", rep, 3, 0);
  request_line_is(h, "GET / HTTP/1.1");
  CHECK_EQ_INT(count_header(h, "Host"), 1);
  CHECK_EQ_STR(header_value(h, "Host"), "other.example");
  CHECK_EQ_INT(count_header(h, "User-Agent"), 1);
  CHECK_EQ_STR(header_value(h, "User-Agent"), "custom/2");
  CHECK_EQ_INT(count_header(h, "Accept"), 1);
  CHECK_EQ_STR(header_value(h, "Accept"), "text/html");
  /* a replaced Host keeps its place right after the request line (RFC 9110 7.2) */
  static const char want[] = "GET / HTTP/1.1\r\nHost: other.example\r\n";
  CHECK(strncmp(h, want, sizeof want - 1) == 0);
  free(h);

  /* names match case-insensitively */
  static const rf_hdr_in rep_lc[] = {H("host", "x"), H("ACCEPT", "y"), H("user-agent", "z")};
  h = head_for("http://h/", "GET", "ua", rep_lc, 3, 0);
  CHECK_EQ_INT(count_header(h, "Host"), 1);
  CHECK_EQ_STR(header_value(h, "Host"), "x");
  CHECK_EQ_INT(count_header(h, "Accept"), 1);
  CHECK_EQ_STR(header_value(h, "Accept"), "y");
  CHECK_EQ_INT(count_header(h, "User-Agent"), 1);
  CHECK_EQ_STR(header_value(h, "User-Agent"), "z");
  free(h);

  /* a custom User-Agent is sent even when no default one is configured */
  static const rf_hdr_in ua_only[] = {H("User-Agent", "only")};
  h = head_for("http://h/", "GET", NULL, ua_only, 1, 0);
  CHECK_EQ_INT(count_header(h, "User-Agent"), 1);
  CHECK_EQ_STR(header_value(h, "User-Agent"), "only");
  free(h);

  /* "Name:" with an empty value removes the default and sends nothing */
  static const rf_hdr_in rm_accept[] = {H("Accept", "")};
  h = head_for("http://h/", "GET", "ua", rm_accept, 1, 0);
  CHECK_EQ_STR(h, "GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: ua\r\n\r\n");
  free(h);
  static const rf_hdr_in rm_all[] = {H("user-agent", ""), H("HOST", ""), H("Accept", "")};
  h = head_for("http://h/", "GET", "ua", rm_all, 3, 0);
  CHECK_EQ_STR(h, "GET / HTTP/1.1\r\n\r\n");
  free(h);
  /* an empty custom header that is not a default sends nothing either */
  static const rf_hdr_in rm_other[] = {H("X-Nothing", "")};
  h = head_for("http://h/", "GET", NULL, rm_other, 1, 0);
  CHECK_EQ_STR(h, "GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n");
  free(h);

  /* a caller's Content-Length or Transfer-Encoding replaces ours */
  static const rf_hdr_in cl[] = {H("content-length", "5")};
  h = head_for("http://h/", "POST", NULL, cl, 1, 5);
  CHECK_EQ_INT(count_header(h, "Content-Length"), 1);
  CHECK_EQ_STR(header_value(h, "Content-Length"), "5");
  free(h);
  static const rf_hdr_in te[] = {H("Transfer-Encoding", "chunked")};
  h = head_for("http://h/", "POST", NULL, te, 1, 0);
  CHECK_EQ_INT(count_header(h, "Content-Length"), 0);
  CHECK_EQ_INT(count_header(h, "Transfer-Encoding"), 1);
  free(h);
}

/* ---- the request target ------------------------------------------------- */

static void test_target(void) {
  char *h = head_for("http://h/a b/\xc3\xa4.txt?q=x y&r=%41", "GET", NULL, NULL, 0, 0);
  request_line_is(h, "GET /a%20b/%C3%A4.txt?q=x%20y&r=%41 HTTP/1.1");
  free(h);
  h = head_for("http://h/\"<>\\^`{|}\x80\xff~!$&'()*+,;=:@%", "GET", NULL, NULL, 0, 0);
  request_line_is(h, "GET /%22%3C%3E%5C%5E%60%7B%7C%7D%80%FF~!$&'()*+,;=:@% HTTP/1.1");
  free(h);
  /* the bare-query form is encoded too, after the added slash */
  h = head_for("http://h? a", "GET", NULL, NULL, 0, 0);
  request_line_is(h, "GET /?%20a HTTP/1.1");
  free(h);
  /* a long path comes out whole */
  size_t n = 5000;
  char *url = malloc(n + 16);
  strcpy(url, "http://h/");
  memset(url + 9, 'p', n);
  url[9 + n] = 0;
  h = head_for(url, "GET", NULL, NULL, 0, 0);
  const char *sp = strchr(h, ' ');
  const char *sp2 = sp ? strchr(sp + 1, ' ') : NULL;
  CHECK(sp && sp2 && sp2 - sp - 1 == (long)(n + 1));
  free(h);
  free(url);
}

/* ---- validation --------------------------------------------------------- */

static void expect_einval(const char *method, const rf_hdr_in *hs, size_t nh, const char *why) {
  rf_url u = url_of("http://h/");
  rf_http_req r = {.method = method, .url = &u, .user_agent = "ua", .headers = hs, .n_headers = nh};
  const char *err = NULL;
  char buf[512];
  memset(buf, 0x5a, sizeof buf);
  long rc = rf_http_write_head(&r, buf, sizeof buf, &err);
  CHECKF(rc == -EINVAL, "%s: rc %ld", why, rc);
  CHECKF(err != NULL && err[0], "%s: no message", why);
  err = NULL;
  rc = rf_http_write_head(&r, NULL, 0, &err);
  CHECKF(rc == -EINVAL, "%s (sizing call): rc %ld", why, rc);
  CHECKF(rf_http_write_head(&r, NULL, 0, NULL) == -EINVAL, "%s (err NULL)", why);
}

static void test_validation(void) {
  static const char *const good_methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH",
                                             "OPTIONS", "M-SEARCH", "x~!#$%&'*+.^_`|",
                                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"}; /* 32 bytes */
  for (size_t i = 0; i < sizeof good_methods / sizeof good_methods[0]; i++) {
    const char *m = good_methods[i];
    CHECKF(rf_http_method_valid(m, strlen(m)) == 0, "method %s", m);
    char *h = head_for("http://h/", m, NULL, NULL, 0, 0);
    char want[64];
    snprintf(want, sizeof want, "%s / HTTP/1.1", m);
    request_line_is(h, want);
    free(h);
  }
  static const char *const bad_methods[] = {"",          "GE T",     "GET\r\n",  "GET\n",
                                            "G:T",       "GET/",     "\"GET\"",  "G\x80T",
                                            "GET\t",     "(GET)",    " GET",
                                            "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456"}; /* 33 bytes */
  for (size_t i = 0; i < sizeof bad_methods / sizeof bad_methods[0]; i++) {
    const char *m = bad_methods[i];
    CHECKF(rf_http_method_valid(m, strlen(m)) == -EINVAL, "method \"%s\"", m);
    expect_einval(m, NULL, 0, m);
  }
  /* the length is what counts, not a NUL */
  CHECK_EQ_INT(rf_http_method_valid("GET\0X", 5), -EINVAL);

  static const rf_hdr_in bad_hdrs[] = {
      H("X-A", "a\r\nX-Injected: 1"),
      H("X-A", "a\nb"),
      H("X-A", "a\rb"),
      H("X-A", "\r\n"),
      {"X-A", 3, "a\0b", 3},
      H("", "v"),
      H("X A", "v"),
      H("X:A", "v"),
      H("X-A:", "v"),
      H("X-A\r\n", "v"),
      H("X\x80", "v"),
      H("(X)", "v"),
  };
  for (size_t i = 0; i < sizeof bad_hdrs / sizeof bad_hdrs[0]; i++) {
    char why[80];
    snprintf(why, sizeof why, "bad header #%zu", i);
    const char *err = NULL;
    CHECKF(rf_http_header_valid(&bad_hdrs[i], &err) == -EINVAL && err, "%s", why);
    expect_einval("GET", &bad_hdrs[i], 1, why);
    /* also when it comes after good headers */
    rf_hdr_in two[2] = {H("X-Good", "ok"), bad_hdrs[i]};
    expect_einval("GET", two, 2, why);
  }
  /* tabs, non-ASCII and colons are fine in values */
  static const rf_hdr_in ok_hdrs[] = {H("X-A", "a\tb: c \xc3\xa4")};
  CHECK_EQ_INT(rf_http_header_valid(&ok_hdrs[0], NULL), 0);
  char *h = head_for("http://h/", "GET", NULL, ok_hdrs, 1, 0);
  CHECK_EQ_STR(header_value(h, "X-A"), "a\tb: c \xc3\xa4");
  free(h);
}

/* ---- size-then-write ---------------------------------------------------- */

static void test_sizing(void) {
  static const rf_hdr_in hs[] = {H("X-Long", "0123456789abcdefghijklmnopqrstuvwxyz"), H("Accept", "")};
  rf_url u = url_of("https://[2001:db8::1]:8443/some/path?query=1");
  rf_http_req r = {.method = "POST", .url = &u, .user_agent = "ringfetch-test/1.0", .headers = hs,
                   .n_headers = 2, .body_len = 42};
  static const char want[] = "POST /some/path?query=1 HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\n"
                             "User-Agent: ringfetch-test/1.0\r\n"
                             "X-Long: 0123456789abcdefghijklmnopqrstuvwxyz\r\n"
                             "Content-Length: 42\r\n\r\n";
  long need = rf_http_write_head(&r, NULL, 0, NULL);
  CHECK_EQ_INT(need, sizeof want - 1);
  if (need != (long)sizeof want - 1)
    return;
  /* every smaller buffer: same answer, no byte written past cap (the guard
   * page sits right after it), and what fits is the head's prefix */
  for (size_t cap = 0; cap < (size_t)need; cap++) {
    tu_guard g;
    char *b = tu_guard_alloc(&g, cap);
    long rc = rf_http_write_head(&r, b, cap, NULL);
    CHECKF(rc == need, "cap %zu: rc %ld", cap, rc);
    CHECKF(memcmp(b, want, cap) == 0, "cap %zu: prefix differs", cap);
    tu_guard_free(&g);
  }
  /* exact and larger buffers: the head, and nothing written after it */
  char big[1024];
  memset(big, 0x5a, sizeof big);
  long rc = rf_http_write_head(&r, big, sizeof big, NULL);
  CHECK_EQ_INT(rc, need);
  CHECK_EQ_SPAN(big, (size_t)need, want);
  bool untouched = true;
  for (size_t i = (size_t)need; i < sizeof big; i++)
    untouched = untouched && big[i] == 0x5a;
  CHECK(untouched);
  /* the two calls give the same bytes whatever the buffer */
  long rc2;
  char *h = head_of(&r, &rc2);
  CHECK_EQ_STR(h, want);
  free(h);
}

/* ---- proxies and content codings ------------------------------------------ */

static void test_proxy_and_encodings(void) {
  rf_url u = url_of("http://example.com:8080/a?b=1#frag");
  rf_http_req r = {.url = &u, .absolute = true, .proxy_auth = "Basic dTpw", .accept_encoding = "gzip, br"};
  long rc;
  char *h = head_of(&r, &rc);
  CHECK_EQ_STR(h, "GET http://example.com:8080/a?b=1 HTTP/1.1\r\nHost: example.com:8080\r\nAccept: */*\r\n"
                  "Accept-Encoding: gzip, br\r\nProxy-Authorization: Basic dTpw\r\n\r\n");
  free(h);
  /* a default port stays out of the absolute form; IPv6 keeps its brackets */
  u = url_of("http://[::1]/");
  rf_http_req r6 = {.url = &u, .absolute = true};
  h = head_of(&r6, &rc);
  request_line_is(h, "GET http://[::1]/ HTTP/1.1");
  free(h);
  /* a custom header replaces the default in place; an empty one removes it */
  u = url_of("http://example.com/");
  const rf_hdr_in hs[] = {H("Accept-Encoding", "identity"), H("Proxy-Authorization", "")};
  rf_http_req rc2 = {.url = &u, .headers = hs, .n_headers = 2, .proxy_auth = "Basic x", .accept_encoding = "gzip"};
  h = head_of(&rc2, &rc);
  CHECK_EQ_INT(count_header(h, "Accept-Encoding"), 1);
  CHECK(strstr(h, "Accept-Encoding: identity\r\n") != NULL);
  CHECK_EQ_INT(count_header(h, "Proxy-Authorization"), 0);
  free(h);
  /* without the defaults, a custom Accept-Encoding is sent like any header */
  rf_http_req rc3 = {.url = &u, .headers = hs, .n_headers = 1};
  h = head_of(&rc3, &rc);
  CHECK_EQ_INT(count_header(h, "Accept-Encoding"), 1);
  free(h);
}

static void test_connect(void) {
  rf_url u = url_of("https://example.com/x");
  char buf[512];
  long n = rf_http_write_connect(&u, "rf/1", "Basic dTpw", buf, sizeof buf);
  CHECK(n > 0 && (size_t)n < sizeof buf);
  if (n > 0 && (size_t)n < sizeof buf) {
    buf[n] = 0;
    CHECK_EQ_STR(buf, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nUser-Agent: rf/1\r\n"
                      "Proxy-Authorization: Basic dTpw\r\n\r\n");
  }
  u = url_of("https://[2001:db8::1]:8443/");
  n = rf_http_write_connect(&u, NULL, NULL, buf, sizeof buf);
  buf[n] = 0;
  CHECK_EQ_STR(buf, "CONNECT [2001:db8::1]:8443 HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\n\r\n");
  /* sizing: cap 0 says how much */
  CHECK_EQ_INT(rf_http_write_connect(&u, NULL, NULL, NULL, 0), n);
}

int main(void) {
  test_exact();
  test_defaults();
  test_target();
  test_validation();
  test_sizing();
  test_proxy_and_encodings();
  test_connect();
  return TU_EXIT();
}
