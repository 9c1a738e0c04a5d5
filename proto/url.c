/* URL parsing: absolute http/https URLs only, no copies. */
#include "proto/url.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

static int fail(const char **err, const char *msg) {
  if (err)
    *err = msg;
  return -EINVAL;
}

static int lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

static bool prefix_ci(const char *s, size_t len, const char *p) {
  size_t n = strlen(p);
  if (len < n)
    return false;
  for (size_t i = 0; i < n; i++)
    if (lower((unsigned char)s[i]) != p[i])
      return false;
  return true;
}

uint16_t rf_url_default_port(enum rf_scheme scheme) { return scheme == RF_SCHEME_HTTPS ? 443 : 80; }

/* Host names: LDH labels plus '_' (seen in the wild), 1..63 bytes per label,
 * at most 253 bytes, one optional trailing dot. */
static int check_name(const char *h, size_t n, const char **err) {
  if (n == 0)
    return fail(err, "empty host");
  if (h[n - 1] == '.')
    n--;
  if (n == 0 || n > 253)
    return fail(err, "host name length out of range");
  size_t label = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)h[i];
    if (c == '.') {
      if (label == 0)
        return fail(err, "empty label in host name");
      label = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok)
      return fail(err, "invalid character in host name");
    if (++label > 63)
      return fail(err, "host name label longer than 63 bytes");
  }
  if (label == 0)
    return fail(err, "empty label in host name");
  return 0;
}

/* True when every byte is a digit or a dot: such a host must be a valid
 * dotted-quad address, not a name. */
static bool looks_numeric(const char *h, size_t n) {
  if (n && h[n - 1] == '.')
    n--;
  for (size_t i = 0; i < n; i++)
    if (!((h[i] >= '0' && h[i] <= '9') || h[i] == '.'))
      return false;
  return n > 0;
}

static int parse_ip(int af, const char *h, size_t n) {
  char tmp[64];
  unsigned char out[16];
  if (n == 0 || n >= sizeof tmp)
    return -1;
  memcpy(tmp, h, n);
  tmp[n] = 0;
  return inet_pton(af, tmp, out) == 1 ? 0 : -1;
}

/* Rejects empty, over-long and control-character URLs before any parsing. */
static int check_bytes(const char *s, size_t len, const char **err) {
  if (!s || len == 0)
    return fail(err, "empty URL");
  if (len > RF_URL_MAX_LEN)
    return fail(err, "URL too long");
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f)
      return fail(err, "control character in URL");
  }
  return 0;
}

/* Sets the scheme and *p to the first byte after "://"; only http and https. */
static int parse_scheme(const char *s, size_t len, rf_url *u, size_t *p, const char **err) {
  if (prefix_ci(s, len, "https://")) {
    u->scheme = RF_SCHEME_HTTPS;
    *p = 8;
  } else if (prefix_ci(s, len, "http://")) {
    u->scheme = RF_SCHEME_HTTP;
    *p = 7;
  } else {
    const char *colon = memchr(s, ':', len);
    return fail(err, colon && colon != s ? "unsupported scheme (only http and https)"
                                         : "missing scheme (http:// or https://)");
  }
  return 0;
}

/* A bracketed IPv6 host in s[a0, a1): the span inside the brackets, and *q
 * where the port part starts. */
static int parse_ipv6_host(const char *s, size_t a0, size_t a1, rf_url *u, size_t *h0,
                           size_t *h1, size_t *q, const char **err) {
  const char *rb = memchr(s + a0, ']', a1 - a0);
  if (!rb)
    return fail(err, "unterminated IPv6 address");
  *h0 = a0 + 1;
  *h1 = (size_t)(rb - s);
  *q = *h1 + 1;
  if (*q < a1 && s[*q] != ':')
    return fail(err, "garbage after IPv6 address");
  if (memchr(s + *h0, '%', *h1 - *h0))
    return fail(err, "IPv6 zone identifiers are not supported");
  if (parse_ip(AF_INET6, s + *h0, *h1 - *h0) < 0)
    return fail(err, "invalid IPv6 address");
  u->host_kind = RF_HOST_IPV6;
  return 0;
}

/* A dotted-quad or a host name in s[a0, a1), up to an optional ':'; an IPv4
 * address loses its trailing dot. */
static int parse_plain_host(const char *s, size_t a0, size_t a1, rf_url *u, size_t *h0,
                            size_t *h1, size_t *q, const char **err) {
  *h0 = a0;
  *h1 = a0;
  while (*h1 < a1 && s[*h1] != ':')
    (*h1)++;
  *q = *h1;
  if (*h0 == *h1)
    return fail(err, "missing host");
  if (looks_numeric(s + *h0, *h1 - *h0)) {
    size_t n = *h1 - *h0;
    if (s[*h0 + n - 1] == '.')
      n--;
    if (parse_ip(AF_INET, s + *h0, n) < 0)
      return fail(err, "invalid IPv4 address");
    u->host_kind = RF_HOST_IPV4;
    *h1 = *h0 + n;
  } else {
    int rc = check_name(s + *h0, *h1 - *h0, err);
    if (rc)
      return rc;
    u->host_kind = RF_HOST_NAME;
  }
  return 0;
}

/* The port after the ':' at s[q] (when q < a1); empty or absent means the
 * scheme's default. */
static int parse_port(const char *s, size_t q, size_t a1, rf_url *u, const char **err) {
  u->port = rf_url_default_port(u->scheme);
  if (q >= a1) /* no port part */
    return 0;
  size_t d = q + 1; /* s[q] == ':' */
  if (d >= a1)    /* an empty port means the default (RFC 3986) */
    return 0;
  unsigned long port = 0;
  for (; d < a1; d++) {
    if (s[d] < '0' || s[d] > '9')
      return fail(err, "invalid port");
    port = port * 10 + (unsigned long)(s[d] - '0');
    if (port > 65535)
      return fail(err, "port out of range");
  }
  if (port == 0)
    return fail(err, "port out of range");
  u->port = (uint16_t)port;
  u->port_explicit = true;
  return 0;
}

int rf_url_parse(const char *s, size_t len, rf_url *u, const char **err) {
  memset(u, 0, sizeof *u);
  int rc = check_bytes(s, len, err);
  if (rc)
    return rc;
  size_t p;
  rc = parse_scheme(s, len, u, &p, err);
  if (rc)
    return rc;

  /* authority = [userinfo@]host[:port], up to '/', '?' or '#' */
  size_t a0 = p, a1 = p;
  while (a1 < len && s[a1] != '/' && s[a1] != '?' && s[a1] != '#')
    a1++;
  if (memchr(s + a0, '@', a1 - a0))
    return fail(err, "credentials in URL are not supported");
  if (a0 == a1)
    return fail(err, "missing host");

  size_t h0, h1, q; /* host span and where the port part starts */
  if (s[a0] == '[')
    rc = parse_ipv6_host(s, a0, a1, u, &h0, &h1, &q, err);
  else
    rc = parse_plain_host(s, a0, a1, u, &h0, &h1, &q, err);
  if (rc)
    return rc;
  u->host = s + h0;
  u->host_len = h1 - h0;
  rc = parse_port(s, q, a1, u, err);
  if (rc)
    return rc;

  /* target: path and query, without the fragment */
  size_t t1 = a1;
  while (t1 < len && s[t1] != '#')
    t1++;
  u->target = s + a1;
  u->target_len = t1 - a1;
  u->target_needs_slash = u->target_len == 0 || s[a1] == '?';
  return 0;
}
