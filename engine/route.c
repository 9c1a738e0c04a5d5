/* Routes: where the connections of an origin dial. Normally the origin's own
 * host and port; an HTTP proxy (cfg.proxy or the environment, unless
 * no_proxy matches); else the first `connect_to` entry (curl's --connect-to
 * HOST1:PORT1:HOST2:PORT2) that matches. The request, its Host header and
 * the TLS name stay the origin's. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <openssl/base64.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/internal.h"

typedef struct rf_connect_to {
  char *host1;      /* "" = any host */
  uint16_t port1;   /* 0 = any port */
  char *host2;      /* "" = the origin's host */
  uint16_t port2;   /* 0 = the origin's port */
} rf_connect_to;

/* One field of "A:B:C:D", an IPv6 literal in brackets (kept without them).
 * Returns where the field ends (':' or the end), or NULL when malformed. */
static const char *field(const char *s, char *out, size_t cap) {
  const char *end;
  if (*s == '[') {
    const char *rb = strchr(s, ']');
    if (!rb || (rb[1] != ':' && rb[1] != 0))
      return NULL;
    s++;
    end = rb;
  } else {
    end = s + strcspn(s, ":");
  }
  size_t n = (size_t)(end - s);
  if (n >= cap)
    return NULL;
  memcpy(out, s, n);
  out[n] = 0;
  return *end == ']' ? end + 1 : end;
}

static int port_field(const char *s, uint16_t *port) {
  if (!*s) {
    *port = 0;
    return 0;
  }
  char *end;
  long v = strtol(s, &end, 10);
  if (*end || v < 1 || v > 65535)
    return -1;
  *port = (uint16_t)v;
  return 0;
}

static int parse_connect_to(const char *spec, rf_connect_to *ct) {
  char parts[4][256];
  const char *p = spec;
  for (int i = 0; i < 4; i++) {
    p = field(p, parts[i], sizeof parts[i]);
    if (!p || (i < 3 ? *p != ':' : *p != 0))
      return -EINVAL;
    p++;
  }
  if (port_field(parts[1], &ct->port1) || port_field(parts[3], &ct->port2))
    return -EINVAL;
  ct->host1 = strdup(parts[0]);
  ct->host2 = strdup(parts[2]);
  return ct->host1 && ct->host2 ? 0 : -ENOMEM;
}

int rf_routes_init(rf_engine *e, char *err, size_t errlen) {
  rf_config *c = &e->cfg;
  if (c->n_connect_to) {
    e->connect_to = calloc(c->n_connect_to, sizeof *e->connect_to);
    if (!e->connect_to)
      return -ENOMEM;
  }
  for (size_t i = 0; i < c->n_connect_to; i++) {
    int rc = parse_connect_to(c->connect_to[i], &e->connect_to[e->n_connect_to++]);
    if (rc < 0) {
      snprintf(err, errlen, "bad --connect-to entry '%s' (want HOST1:PORT1:HOST2:PORT2, parts may be empty)",
               c->connect_to[i]);
      return rc;
    }
  }
  c->connect_to = NULL; /* the caller's strings: ours are parsed copies */
  c->n_connect_to = 0;
  return 0;
}

/* ---- proxies ------------------------------------------------------------------- */

static void proxy_free(rf_proxy *p) {
  if (!p)
    return;
  free(p->host);
  free(p->auth);
  free(p);
}

static int unhex(int c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decodes s[0..n) into out (at least n + 1 bytes), NUL-terminated. */
static void pct_decode(const char *s, size_t n, char *out) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%' && i + 2 < n && unhex(s[i + 1]) >= 0 && unhex(s[i + 2]) >= 0) {
      out[k++] = (char)(unhex(s[i + 1]) * 16 + unhex(s[i + 2]));
      i += 2;
    } else {
      out[k++] = s[i];
    }
  }
  out[k] = 0;
}

/* "Basic base64(user:password)" from a URL's percent-encoded userinfo
 * u[0..n), malloc'ed; NULL when out of memory. */
static char *basic_auth(const char *u, size_t n) {
  const char *colon = memchr(u, ':', n);
  char *cred = malloc(n + 1), *user = malloc(n + 1), *pass = malloc(n + 1), *out = NULL;
  uint8_t *b64 = NULL;
  size_t b64len = 0;
  if (cred && user && pass) {
    pct_decode(u, colon ? (size_t)(colon - u) : n, user);
    pct_decode(colon ? colon + 1 : "", colon ? (size_t)(u + n - colon - 1) : 0, pass);
    int len = snprintf(cred, n + 1, "%s:%s", user, pass); /* decoding only shrinks */
    EVP_EncodedLength(&b64len, (size_t)len);
    if ((b64 = malloc(b64len)))
      b64len = EVP_EncodeBlock(b64, (const uint8_t *)cred, (size_t)len);
  }
  if (b64 && (out = malloc(b64len + 7)))
    snprintf(out, b64len + 7, "Basic %s", (const char *)b64);
  free(b64);
  free(user);
  free(pass);
  free(cred);
  return out;
}

/* host[:port] in h[0..end): the host (IPv6 in brackets) and the port (1080
 * when absent, as curl). NULL or an error message. */
static const char *host_port(rf_proxy *p, const char *h, const char *end) {
  const char *port = NULL, *hend = end;
  if (*h == '[') {
    const char *rb = memchr(h, ']', (size_t)(end - h));
    if (!rb)
      return "unterminated IPv6 address";
    port = rb + 1 < end && rb[1] == ':' ? rb + 2 : NULL;
    hend = rb;
    h++;
  } else {
    const char *colon = memchr(h, ':', (size_t)(end - h));
    if (colon) {
      port = colon + 1;
      hend = colon;
    }
  }
  p->port = 1080;
  if (port) {
    char tmp[8], *pe;
    size_t pl = (size_t)(end - port);
    if (!pl || pl >= sizeof tmp)
      return "bad port";
    memcpy(tmp, port, pl);
    tmp[pl] = 0;
    long v = strtol(tmp, &pe, 10);
    if (*pe || v < 1 || v > 65535)
      return "bad port";
    p->port = (uint16_t)v;
  }
  p->host = strndup(h, (size_t)(hend - h));
  if (!p->host)
    return "out of memory";
  if (!*p->host)
    return "no host";
  for (char *c = p->host; *c; c++)
    *c = (char)tolower((unsigned char)*c);
  return NULL;
}

/* "http://[user:password@]host[:port][/]" (scheme optional). NULL with *why
 * set when it is not such a proxy. */
static rf_proxy *proxy_parse(const char *spec, const char **why) {
  const char *s = spec;
  const char *sep = strstr(s, "://");
  if (sep) {
    if ((size_t)(sep - s) != 4 || strncasecmp(s, "http", 4) != 0) {
      *why = "only http:// proxies are supported";
      return NULL;
    }
    s = sep + 3;
  }
  size_t alen = strcspn(s, "/?#");
  if (s[alen] && strcmp(s + alen, "/") != 0) {
    *why = "a proxy URL has no path";
    return NULL;
  }
  const char *at = NULL;
  for (size_t i = 0; i < alen; i++)
    if (s[i] == '@')
      at = s + i;
  rf_proxy *p = calloc(1, sizeof *p);
  *why = !p ? "out of memory" : NULL;
  if (p && at && !(p->auth = basic_auth(s, (size_t)(at - s)))) /* sent to the proxy only */
    *why = "out of memory";
  if (p && !*why)
    *why = host_port(p, at ? at + 1 : s, s + alen);
  if (*why) {
    proxy_free(p);
    return NULL;
  }
  p->kind = rf_host_kind_of(p->host);
  snprintf(p->name, sizeof p->name, p->kind == RF_HOST_IPV6 ? "http://[%s]:%u" : "http://%s:%u", p->host,
           p->port);
  return p;
}

static const char *env2(const char *a, const char *b) {
  const char *v = getenv(a);
  if (!v && b)
    v = getenv(b);
  return v;
}

/* The proxy of one scheme: cfg.proxy, else the environment as curl reads it
 * (lower-case http_proxy only: a CGI program gets a request's "Proxy:"
 * header as HTTP_PROXY, the "httpoxy" hole). */
static int proxy_init(rf_engine *e, enum rf_scheme scheme, rf_proxy **out, char *err, size_t errlen) {
  const char *spec = e->cfg.proxy;
  const char *what = "the proxy";
  if (!spec) {
    spec = scheme == RF_SCHEME_HTTP ? env2("http_proxy", NULL) : env2("https_proxy", "HTTPS_PROXY");
    what = scheme == RF_SCHEME_HTTP ? "$http_proxy" : "$https_proxy";
    if (!spec || !*spec) {
      spec = env2("all_proxy", "ALL_PROXY");
      what = "$all_proxy";
    }
  }
  *out = NULL;
  if (!spec || !*spec)
    return 0;
  const char *why = NULL;
  *out = proxy_parse(spec, &why);
  if (!*out) {
    snprintf(err, errlen, "bad proxy '%s' (%s): %s", spec, what, why);
    return -EINVAL;
  }
  return 0;
}

/* One no_proxy entry against a host (curl's rules: a name matches itself and
 * its subdomains, leading and trailing dots ignored; an address or CIDR range
 * matches IP literal hosts only). */
static bool no_proxy_match(const char *ent, size_t n, const char *host, enum rf_host_kind kind) {
  while (n && *ent == '.')
    ent++, n--;
  while (n && ent[n - 1] == '.')
    n--;
  if (!n || n >= 128)
    return false;
  char tmp[128];
  memcpy(tmp, ent, n);
  tmp[n] = 0;
  char *slash = strchr(tmp, '/');
  long bits = -1;
  if (slash) {
    *slash = 0;
    char *pe;
    bits = strtol(slash + 1, &pe, 10);
    if (*pe || bits < 0)
      return false;
  }
  enum rf_host_kind ek = rf_host_kind_of(tmp);
  if (ek != RF_HOST_NAME) {
    if (ek != kind)
      return false;
    int af = ek == RF_HOST_IPV4 ? AF_INET : AF_INET6;
    unsigned char a[16], b[16];
    int len = ek == RF_HOST_IPV4 ? 4 : 16;
    if (inet_pton(af, tmp, a) != 1 || inet_pton(af, host, b) != 1)
      return false;
    if (bits < 0 || bits > len * 8)
      bits = len * 8;
    for (long i = 0; i < bits; i++)
      if (((a[i / 8] ^ b[i / 8]) >> (7 - i % 8)) & 1)
        return false;
    return true;
  }
  if (slash)
    return false;
  size_t hl = strlen(host);
  if (hl == n)
    return strcasecmp(host, tmp) == 0;
  return hl > n && host[hl - n - 1] == '.' && strcasecmp(host + hl - n, tmp) == 0;
}

static bool no_proxy_for(const rf_engine *e, const char *host, enum rf_host_kind kind) {
  const char *list = e->no_proxy;
  if (!list)
    return false;
  if (strcmp(list, "*") == 0)
    return true;
  for (const char *p = list; *p;) {
    size_t skip = strspn(p, ", \t");
    p += skip;
    size_t n = strcspn(p, ", \t");
    if (n && no_proxy_match(p, n, host, kind))
      return true;
    p += n;
  }
  return false;
}

int rf_proxies_init(rf_engine *e, char *err, size_t errlen) {
  int rc = proxy_init(e, RF_SCHEME_HTTP, &e->proxy[RF_SCHEME_HTTP], err, errlen);
  if (rc == 0)
    rc = proxy_init(e, RF_SCHEME_HTTPS, &e->proxy[RF_SCHEME_HTTPS], err, errlen);
  const char *np = e->cfg.no_proxy ? e->cfg.no_proxy : env2("no_proxy", "NO_PROXY");
  if (rc == 0 && np && !(e->no_proxy = strdup(np)))
    rc = -ENOMEM;
  e->cfg.proxy = e->cfg.no_proxy = NULL; /* the caller's strings */
  return rc;
}

const rf_proxy *rf_proxy_for(const rf_engine *e, enum rf_scheme scheme, const char *host, enum rf_host_kind kind) {
  const rf_proxy *p = e->proxy[scheme];
  return p && !no_proxy_for(e, host, kind) ? p : NULL;
}

void rf_routes_free(rf_engine *e) {
  proxy_free(e->proxy[RF_SCHEME_HTTP]);
  proxy_free(e->proxy[RF_SCHEME_HTTPS]);
  e->proxy[RF_SCHEME_HTTP] = e->proxy[RF_SCHEME_HTTPS] = NULL;
  free(e->no_proxy);
  e->no_proxy = NULL;
  for (size_t i = 0; i < e->n_connect_to; i++) {
    free(e->connect_to[i].host1);
    free(e->connect_to[i].host2);
  }
  free(e->connect_to);
  e->connect_to = NULL;
  e->n_connect_to = 0;
}

void rf_route_for(const rf_engine *e, const char *host, uint16_t port, const char **dial_host,
                  uint16_t *dial_port) {
  *dial_host = host;
  *dial_port = port;
  for (size_t i = 0; i < e->n_connect_to; i++) {
    const rf_connect_to *ct = &e->connect_to[i];
    if ((*ct->host1 && strcasecmp(ct->host1, host) != 0) || (ct->port1 && ct->port1 != port))
      continue;
    if (*ct->host2)
      *dial_host = ct->host2;
    if (ct->port2)
      *dial_port = ct->port2;
    return; /* the first match, as in curl */
  }
}

enum rf_host_kind rf_host_kind_of(const char *host) {
  unsigned char buf[16];
  if (inet_pton(AF_INET, host, buf) == 1)
    return RF_HOST_IPV4;
  if (inet_pton(AF_INET6, host, buf) == 1)
    return RF_HOST_IPV6;
  return RF_HOST_NAME;
}
