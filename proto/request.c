/* HTTP/1.1 request head writing. */
#include "proto/request.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

static bool is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
    return true;
  return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_token(const char *s, size_t n) {
  if (n == 0)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!is_tchar((unsigned char)s[i]))
      return false;
  return true;
}

int rf_http_method_valid(const char *m, size_t len) {
  return (len <= 32 && is_token(m, len)) ? 0 : -EINVAL;
}

int rf_http_header_valid(const rf_hdr_in *h, const char **err) {
  if (!is_token(h->name, h->name_len)) {
    if (err)
      *err = "invalid header name";
    return -EINVAL;
  }
  for (size_t i = 0; i < h->value_len; i++) {
    unsigned char c = (unsigned char)h->value[i];
    if (c == '\r' || c == '\n' || c == 0) {
      if (err)
        *err = "CR, LF or NUL in header value";
      return -EINVAL;
    }
  }
  return 0;
}

/* Appends to buf while counting the full length, so one pass both sizes and
 * writes. */
typedef struct out {
  char *buf;
  size_t cap, len;
} out;

static void put(out *o, const char *s, size_t n) {
  if (o->len < o->cap) {
    size_t room = o->cap - o->len;
    memcpy(o->buf + o->len, s, n < room ? n : room);
  }
  o->len += n;
}
static void puts_(out *o, const char *s) { put(o, s, strlen(s)); }

/* Bytes that may not go on the wire raw in a request target. */
static bool needs_escape(unsigned char c) { return c <= 0x20 || c >= 0x7f || c == '"' || c == '<' || c == '>' || c == '\\' || c == '^' || c == '`' || c == '{' || c == '|' || c == '}'; }

static void put_target(out *o, const rf_url *u) {
  static const char hex[] = "0123456789ABCDEF";
  if (u->target_needs_slash)
    put(o, "/", 1);
  const char *t = u->target;
  size_t start = 0;
  for (size_t i = 0; i < u->target_len; i++) {
    unsigned char c = (unsigned char)t[i];
    if (!needs_escape(c))
      continue;
    put(o, t + start, i - start);
    char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
    put(o, esc, 3);
    start = i + 1;
  }
  put(o, t + start, u->target_len - start);
}

/* Decimal digits of v into dst (at least 20 bytes); returns the length. */
static size_t fmt_uint(char *dst, uint64_t v) {
  char t[20];
  size_t n = 0;
  do {
    t[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (size_t i = 0; i < n; i++)
    dst[i] = t[n - 1 - i];
  return n;
}

static const rf_hdr_in *find_custom(const rf_http_req *r, const char *name) {
  size_t n = strlen(name);
  for (size_t i = 0; i < r->n_headers; i++)
    if (r->headers[i].name_len == n && strncasecmp(r->headers[i].name, name, n) == 0)
      return &r->headers[i];
  return NULL;
}

/* Writes a default header, or in its place the custom header that replaces
 * it (so a custom Host still comes first); an empty custom value removes it. */
static void put_default(out *o, const rf_http_req *r, const char *name, const char *val, size_t vlen) {
  const rf_hdr_in *c = find_custom(r, name);
  if (c) {
    if (c->value_len == 0)
      return;
    put(o, c->name, c->name_len);
    put(o, ": ", 2);
    put(o, c->value, c->value_len);
    put(o, "\r\n", 2);
    return;
  }
  puts_(o, name);
  put(o, ": ", 2);
  put(o, val, vlen);
  put(o, "\r\n", 2);
}

static bool name_is(const rf_hdr_in *h, const char *name) {
  return h->name_len == strlen(name) && strncasecmp(h->name, name, h->name_len) == 0;
}

/* A custom header that took a default's place (put_default wrote it there). */
static bool written_in_place(const rf_http_req *r, const rf_hdr_in *h) {
  return name_is(h, "Host") || name_is(h, "User-Agent") || name_is(h, "Accept") ||
         (r->accept_encoding && name_is(h, "Accept-Encoding")) ||
         (r->proxy_auth && name_is(h, "Proxy-Authorization"));
}

/* host[:port] of u as Host and CONNECT want it: brackets around IPv6, the
 * port unless it is the scheme's default (always, when with_port). */
static size_t authority(const rf_url *u, bool with_port, char *host) {
  size_t hl = 0;
  if (u->host_kind == RF_HOST_IPV6)
    host[hl++] = '[';
  size_t n = u->host_len < 256 ? u->host_len : 256;
  memcpy(host + hl, u->host, n);
  hl += n;
  if (u->host_kind == RF_HOST_IPV6)
    host[hl++] = ']';
  if (with_port || u->port != rf_url_default_port(u->scheme)) {
    host[hl++] = ':';
    hl += fmt_uint(host + hl, u->port);
  }
  return hl;
}

static bool method_is(const char *m, const char *x) { return strcmp(m, x) == 0; }

long rf_http_write_head(const rf_http_req *r, char *buf, size_t cap, const char **err) {
  const char *method = r->method ? r->method : "GET";
  if (rf_http_method_valid(method, strlen(method)) < 0) {
    if (err)
      *err = "invalid method";
    return -EINVAL;
  }
  for (size_t i = 0; i < r->n_headers; i++)
    if (rf_http_header_valid(&r->headers[i], err) < 0)
      return -EINVAL;

  out o = {buf, cap, 0};
  const rf_url *u = r->url;
  char host[300]; /* [v6]:port at most 255 + 2 + 6; no snprintf on this path */
  size_t hl = authority(u, false, host);
  puts_(&o, method);
  put(&o, " ", 1);
  if (r->absolute) {
    puts_(&o, u->scheme == RF_SCHEME_HTTPS ? "https://" : "http://");
    put(&o, host, hl);
  }
  put_target(&o, u);
  put(&o, " HTTP/1.1\r\n", 11);

  put_default(&o, r, "Host", host, hl);
  if ((r->user_agent && r->user_agent[0]) || find_custom(r, "User-Agent"))
    put_default(&o, r, "User-Agent", r->user_agent ? r->user_agent : "", r->user_agent ? strlen(r->user_agent) : 0);
  put_default(&o, r, "Accept", "*/*", 3);
  if (r->accept_encoding)
    put_default(&o, r, "Accept-Encoding", r->accept_encoding, strlen(r->accept_encoding));
  if (r->proxy_auth)
    put_default(&o, r, "Proxy-Authorization", r->proxy_auth, strlen(r->proxy_auth));

  for (size_t i = 0; i < r->n_headers; i++) {
    const rf_hdr_in *h = &r->headers[i];
    if (h->value_len == 0 || written_in_place(r, h))
      continue; /* "Name:" sends nothing; defaults were written in place */
    put(&o, h->name, h->name_len);
    put(&o, ": ", 2);
    put(&o, h->value, h->value_len);
    put(&o, "\r\n", 2);
  }
  if (r->close && !find_custom(r, "Connection"))
    put(&o, "Connection: close\r\n", 19);
  bool body_method = method_is(method, "POST") || method_is(method, "PUT") || method_is(method, "PATCH");
  if ((r->body_len > 0 || body_method) && !find_custom(r, "Content-Length") &&
      !find_custom(r, "Transfer-Encoding")) {
    char cl[24];
    put(&o, "Content-Length: ", 16);
    put(&o, cl, fmt_uint(cl, r->body_len));
    put(&o, "\r\n", 2);
  }
  put(&o, "\r\n", 2);
  return (long)o.len;
}

long rf_http_write_connect(const rf_url *u, const char *user_agent, const char *proxy_auth, char *buf,
                           size_t cap) {
  out o = {buf, cap, 0};
  char host[300];
  size_t hl = authority(u, true, host); /* CONNECT's target always has its port */
  put(&o, "CONNECT ", 8);
  put(&o, host, hl);
  put(&o, " HTTP/1.1\r\nHost: ", 17);
  put(&o, host, hl);
  put(&o, "\r\n", 2);
  if (user_agent && *user_agent) {
    put(&o, "User-Agent: ", 12);
    puts_(&o, user_agent);
    put(&o, "\r\n", 2);
  }
  if (proxy_auth) {
    put(&o, "Proxy-Authorization: ", 21);
    puts_(&o, proxy_auth);
    put(&o, "\r\n", 2);
  }
  put(&o, "\r\n", 2);
  return (long)o.len;
}
