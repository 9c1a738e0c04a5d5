/* CDXJ lines and SURT keys (see cdxj.h). The canonicalization follows what
 * the IA/Wayback rules (as in Python's `surt` package) do, written here from
 * their documented behaviour: parse, undo and redo percent-escapes, resolve
 * the path, normalize IPv4 forms, then lower-case, drop "www", default ports,
 * session ids, a trailing slash, sort the query, and reverse the host. */
#include "cdxj.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- byte helpers ---------------------------------------------------------- */

static int hexv(unsigned char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c |= 0x20;
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }

static void lower_all(char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    p[i] = lower(p[i]);
}

/* jb_raw without the empty case (memcpy from NULL is undefined even for 0) */
static void add(jbuf *b, const char *s, size_t n) {
  if (n)
    jb_raw(b, s, n);
}

static void set(jbuf *b, const char *s, size_t n) {
  b->len = 0;
  add(b, s, n);
}

/* Percent-decodes until nothing changes ("%2525" -> "%"); '%' not followed by
 * two hex digits stays. */
static void unescape_repeatedly(jbuf *b) {
  for (;;) {
    size_t o = 0;
    bool changed = false;
    for (size_t i = 0; i < b->len;) {
      int h, l;
      if (b->p[i] == '%' && i + 2 < b->len && (h = hexv((unsigned char)b->p[i + 1])) >= 0 &&
          (l = hexv((unsigned char)b->p[i + 2])) >= 0) {
        b->p[o++] = (char)(h * 16 + l);
        i += 3;
        changed = true;
      } else {
        b->p[o++] = b->p[i++];
      }
    }
    b->len = o;
    if (!changed)
      return;
  }
}

/* Percent-encodes bytes <= 0x20, >= 0x7f, '#' and '%' (upper-case hex). */
static void escape_once(jbuf *out, const char *s, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  out->len = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c <= 0x20 || c >= 0x7f || c == '#' || c == '%') {
      char e[3] = {'%', hex[c >> 4], hex[c & 15]};
      add(out, e, 3);
    } else {
      add(out, s + i, 1);
    }
  }
}

/* ---- path ------------------------------------------------------------------- */

/* Dot segments resolved ('..' above the root kept), empty segments dropped
 * except a last one (a trailing '/' stays); the part before the first '/' is
 * not a segment. An empty path is "/". */
static void normalize_path(jbuf *out, const char *p, size_t n) {
  out->len = 0;
  add(out, "/", 1);
  if (n == 0)
    return;
  /* segments after the first '/' */
  const char *seg[1024];
  size_t segn[1024];
  size_t k = 0;
  size_t i = 0;
  while (i < n && p[i] != '/')
    i++;
  if (i >= n) /* no '/' at all: nothing is kept */
    return;
  bool overflow = false;
  while (i < n) {
    size_t s = ++i; /* after the '/' */
    while (i < n && p[i] != '/')
      i++;
    size_t len = i - s;
    if (len == 1 && p[s] == '.')
      continue;
    if (len == 2 && p[s] == '.' && p[s + 1] == '.') {
      if (k > 0) {
        k--;
        continue;
      }
    }
    if (k == sizeof seg / sizeof seg[0]) {
      overflow = true;
      break;
    }
    seg[k] = p + s;
    segn[k] = len;
    k++;
  }
  if (overflow) { /* absurdly deep: keep the text as it is */
    set(out, p, n);
    return;
  }
  for (size_t j = 0; j + 1 < k; j++) {
    if (segn[j]) {
      add(out, seg[j], segn[j]);
      add(out, "/", 1);
    }
  }
  if (k)
    add(out, seg[k - 1], segn[k - 1]);
}

static bool all_of(const char *p, size_t n, const char *set_) {
  for (size_t i = 0; i < n; i++)
    if (!strchr(set_, p[i]) || !p[i])
      return false;
  return true;
}

#define LOWALNUM "0123456789abcdefghijklmnopqrstuvwxyz"

/* ASP.NET cookieless session ids in a (lower-case) path:
 *   .../(x(24 alnum)y(24 alnum)...)/rest.aspx...  and  .../(24 alnum)/rest.aspx...
 * The id segment is removed when the rest holds ".aspx" after at least one
 * byte and no '?' before it. The last such '/' wins. */
static size_t aspx_session(const char *p, size_t n, size_t at, bool multi) {
  size_t i = at;
  if (i >= n || p[i] != '(')
    return 0;
  i++;
  if (multi) {
    int groups = 0;
    while (i + 27 <= n && p[i] >= 'a' && p[i] <= 'z' && p[i + 1] == '(' &&
           all_of(p + i + 2, 24, LOWALNUM) && p[i + 26] == ')') {
      i += 27;
      groups++;
    }
    if (!groups)
      return 0;
  } else {
    if (i + 25 > n || !all_of(p + i, 24, LOWALNUM) || p[i + 24] != ')')
      return 0;
    i += 25;
  }
  if (multi) {
    if (i + 2 > n || p[i] != ')' || p[i + 1] != '/')
      return 0;
    i += 2;
  } else {
    if (i + 1 > n || p[i] != '/')
      return 0;
    i += 1;
  }
  /* rest: [^?]+ \.aspx .* */
  for (size_t j = i + 1; j + 5 <= n; j++) {
    if (p[j - 1] == '?')
      return 0;
    if (memcmp(p + j, ".aspx", 5) == 0)
      return i - at;
  }
  return 0;
}

static void strip_path_session(jbuf *b) {
  for (int multi = 1; multi >= 0; multi--) {
    for (size_t s = b->len; s-- > 0;) {
      if (b->p[s] != '/')
        continue;
      size_t cut = aspx_session(b->p, b->len, s + 1, multi);
      if (cut) {
        memmove(b->p + s + 1, b->p + s + 1 + cut, b->len - (s + 1 + cut));
        b->len -= cut;
        break;
      }
    }
  }
}

/* ---- query -------------------------------------------------------------------- */

static bool ieq(const char *p, const char *lit, size_t n) { return strncasecmp(p, lit, n) == 0; }

static bool alnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static bool alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* Length of a session id argument starting at p[i] (case-insensitive), or 0. */
static size_t session_at(const char *p, size_t n, size_t i, int which) {
  static const char *const keys[] = {"jsessionid=", "phpsessid=", "sid="};
  if (which < 3) {
    size_t kl = strlen(keys[which]);
    if (i + kl + 32 > n || !ieq(p + i, keys[which], kl))
      return 0;
    for (size_t j = 0; j < 32; j++)
      if (!alnum(p[i + kl + j]))
        return 0;
    return kl + 32;
  }
  if (which == 3) { /* ASPSESSIONID + 8 letters = 24 letters */
    if (i + 12 + 8 + 1 + 24 > n || !ieq(p + i, "aspsessionid", 12))
      return 0;
    for (size_t j = 0; j < 8; j++)
      if (!alpha(p[i + 12 + j]))
        return 0;
    if (p[i + 20] != '=')
      return 0;
    for (size_t j = 0; j < 24; j++)
      if (!alpha(p[i + 21 + j]))
        return 0;
    return 45;
  }
  /* cfid=[^&]+&cftoken=[^&]+ */
  if (i + 5 > n || !ieq(p + i, "cfid=", 5))
    return 0;
  size_t j = i + 5, s = j;
  while (j < n && p[j] != '&')
    j++;
  if (j == s || j + 9 > n || !ieq(p + j, "&cftoken=", 9))
    return 0;
  j += 9;
  s = j;
  while (j < n && p[j] != '&')
    j++;
  return j == s ? 0 : j - i;
}

/* Each pattern in turn: the last place where it is followed by the end or
 * '&' loses it (and that '&'). */
static void strip_query_session(jbuf *b) {
  for (int which = 0; which < 5; which++) {
    for (size_t i = b->len + 1; i-- > 0;) {
      size_t m = session_at(b->p, b->len, i, which);
      if (!m)
        continue;
      size_t e = i + m;
      if (e < b->len && b->p[e] != '&')
        continue;
      if (e < b->len)
        e++; /* the '&' */
      memmove(b->p + i, b->p + e, b->len - e);
      b->len -= e - i;
      break;
    }
  }
}

typedef struct qarg {
  const char *k, *v; /* v NULL: no '=' */
  size_t kn, vn;
} qarg;

static int bytes_cmp(const char *a, size_t an, const char *b, size_t bn) {
  size_t n = an < bn ? an : bn;
  int c = n ? memcmp(a, b, n) : 0;
  if (c)
    return c;
  return an < bn ? -1 : an > bn;
}

static int qarg_cmp(const void *pa, const void *pb) {
  const qarg *a = pa, *b = pb;
  int c = bytes_cmp(a->k, a->kn, b->k, b->kn);
  if (c)
    return c;
  if (!a->v || !b->v)
    return (a->v != NULL) - (b->v != NULL);
  return bytes_cmp(a->v, a->vn, b->v, b->vn);
}

/* Arguments sorted by name, then (no value first) value, bytewise. */
static void sort_query(jbuf *b, jbuf *tmp) {
  if (b->len <= 1)
    return;
  size_t na = 1;
  for (size_t i = 0; i < b->len; i++)
    na += b->p[i] == '&';
  qarg *a = malloc(na * sizeof *a);
  if (!a)
    return;
  size_t k = 0, s = 0;
  for (size_t i = 0; i <= b->len; i++) {
    if (i < b->len && b->p[i] != '&')
      continue;
    const char *arg = b->p + s;
    size_t an = i - s;
    const char *eq = memchr(arg, '=', an);
    a[k].k = arg;
    a[k].kn = eq ? (size_t)(eq - arg) : an;
    a[k].v = eq ? eq + 1 : NULL;
    a[k].vn = eq ? an - a[k].kn - 1 : 0;
    k++;
    s = i + 1;
  }
  qsort(a, k, sizeof *a, qarg_cmp);
  tmp->len = 0;
  for (size_t i = 0; i < k; i++) {
    if (i)
      add(tmp, "&", 1);
    add(tmp, a[i].k, a[i].kn);
    if (a[i].v) {
      add(tmp, "=", 1);
      add(tmp, a[i].v, a[i].vn);
    }
  }
  free(a);
  set(b, tmp->p, tmp->len);
}

/* ---- host ------------------------------------------------------------------------ */

/* IPv4 in the forms a resolver takes as numbers: all digits (masked to 32
 * bits), or 1-4 dotted parts, decimal (first part not starting with 0) or
 * octal (starting with 0); NULL otherwise. */
static bool ipv4_forms(const char *h, size_t n, char out[16]) {
  if (n == 0 || n > 64)
    return false;
  bool digits = true;
  for (size_t i = 0; i < n; i++)
    digits = digits && h[i] >= '0' && h[i] <= '9';
  uint32_t v = 0;
  if (digits) {
    for (size_t i = 0; i < n; i++)
      v = v * 10u + (uint32_t)(h[i] - '0');
  } else {
    /* ^(first)(\.[digits]+){0,3}$ with first [1-9][0-9]* or 0[0-7]*, the
     * other parts [0-9]+ (decimal) or [0-7]+ (octal) */
    bool octal = h[0] == '0';
    const char *part_set = octal ? "01234567" : "0123456789";
    size_t parts = 0, i = 0;
    while (i <= n) {
      size_t s = i;
      while (i < n && h[i] != '.')
        i++;
      if (i == s || !all_of(h + s, i - s, part_set))
        return false;
      parts++;
      i++;
    }
    if (parts > 4)
      return false;
    char tmp[65];
    memcpy(tmp, h, n);
    tmp[n] = '\0';
    struct in_addr a;
    if (!inet_aton(tmp, &a))
      return false;
    v = ntohl(a.s_addr);
  }
  snprintf(out, 16, "%u.%u.%u.%u", v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255);
  return true;
}

/* ".." -> "." (one pass), dots stripped at both ends. */
static void tidy_dots(jbuf *b) {
  size_t o = 0;
  for (size_t i = 0; i < b->len;) {
    if (i + 1 < b->len && b->p[i] == '.' && b->p[i + 1] == '.') {
      b->p[o++] = '.';
      i += 2;
    } else {
      b->p[o++] = b->p[i++];
    }
  }
  b->len = o;
  size_t s = 0;
  while (s < b->len && b->p[s] == '.')
    s++;
  while (b->len > s && b->p[b->len - 1] == '.')
    b->len--;
  memmove(b->p, b->p + s, b->len - s);
  b->len -= s;
}

/* A leading "www." or "www<digits>." goes. */
static size_t www_prefix(const char *h, size_t n) {
  if (n < 4 || memcmp(h, "www", 3) != 0)
    return 0;
  size_t i = 3;
  while (i < n && h[i] >= '0' && h[i] <= '9')
    i++;
  return i < n && h[i] == '.' ? i + 1 : 0;
}

/* ---- the key ------------------------------------------------------------------------ */

typedef struct parts {
  const char *scheme, *netloc, *path, *query;
  size_t scheme_n, netloc_n, path_n, query_n;
  bool has_netloc, has_query;
} parts;

static bool scheme_char(char c, bool first) {
  if (alpha(c))
    return true;
  return !first && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.');
}

static bool http_prefix(const char *p, size_t n, size_t *len) {
  if (n >= 7 && ieq(p, "http://", 7)) {
    *len = 7;
    return true;
  }
  if (n >= 8 && ieq(p, "https://", 8)) {
    *len = 8;
    return true;
  }
  return false;
}

/* The URL into u without tabs and line ends; returns it with blanks trimmed
 * at both ends, its length in *pn. */
static const char *clean_url(jbuf *u, const char *url, size_t n, size_t *pn) {
  for (size_t i = 0; i < n; i++)
    if (url[i] != '\t' && url[i] != '\r' && url[i] != '\n')
      add(u, url + i, 1);
  size_t s = 0, e = u->len;
  while (s < e && (u->p[s] == ' ' || u->p[s] == '\f' || u->p[s] == '\v'))
    s++;
  while (e > s && (u->p[e - 1] == ' ' || u->p[e - 1] == '\f' || u->p[e - 1] == '\v'))
    e--;
  *pn = e - s;
  return u->p ? u->p + s : "";
}

/* A scheme, else "http://" put in front (u rebuilt through tmp); then
 * "http://https://x" is "https://x". Returns the URL, its length in *pn. */
static const char *with_scheme(jbuf *u, jbuf *tmp, const char *p, size_t *pn) {
  size_t i = 0;
  while (i < *pn && scheme_char(p[i], i == 0))
    i++;
  if (i == 0 || i >= *pn || p[i] != ':') {
    tmp->len = 0;
    add(tmp, "http://", 7);
    add(tmp, p, *pn);
    set(u, tmp->p, tmp->len);
    p = u->p;
    *pn = u->len;
  }
  size_t pl, pl2;
  while (http_prefix(p, *pn, &pl) && http_prefix(p + pl, *pn - pl, &pl2)) {
    p += pl;
    *pn -= pl;
  }
  return p;
}

/* Scheme, netloc (after "//"), path and query; the fragment goes. */
static void split_url(const char *p, size_t pn, parts *q) {
  size_t i = 0;
  while (i < pn && p[i] != ':')
    i++;
  q->scheme = p;
  q->scheme_n = i;
  const char *r = p + i + 1;
  size_t rn = pn - i - 1;
  if (rn >= 2 && r[0] == '/' && r[1] == '/') {
    size_t j = 2;
    while (j < rn && r[j] != '/' && r[j] != '?' && r[j] != '#')
      j++;
    q->has_netloc = true;
    q->netloc = r + 2;
    q->netloc_n = j - 2;
    r += j;
    rn -= j;
  }
  const char *hash = memchr(r, '#', rn);
  if (hash)
    rn = (size_t)(hash - r);
  const char *qm = memchr(r, '?', rn);
  q->path = r;
  q->path_n = qm ? (size_t)(qm - r) : rn;
  if (qm) {
    q->query = qm + 1;
    q->query_n = rn - q->path_n - 1;
    q->has_query = q->query_n > 0;
  }
}

/* Host (in *h, *hn; brackets off an IPv6 one) and port from a netloc: user
 * info and trailing ':'s go. Returns the port, -1 if none or not 1..65535. */
static long netloc_host_port(const char *nl, size_t nn, const char **h, size_t *hn) {
  if (nn && nl[nn - 1] == ':')
    while (nn && nl[nn - 1] == ':')
      nn--;
  for (size_t j = nn; j-- > 0;) /* after the last '@' */
    if (nl[j] == '@') {
      nn -= j + 1;
      nl += j + 1;
      break;
    }
  const char *ps = NULL;
  size_t psn = 0;
  if (nn && nl[0] == '[') {
    const char *close = memchr(nl, ']', nn);
    if (close) {
      *h = nl + 1;
      *hn = (size_t)(close - nl) - 1;
      size_t after = (size_t)(close - nl) + 1;
      if (after < nn && nl[after] == ':') {
        ps = nl + after + 1;
        psn = nn - after - 1;
      }
    } else {
      *h = nl;
      *hn = nn;
    }
  } else {
    const char *colon = memchr(nl, ':', nn);
    *h = nl;
    *hn = colon ? (size_t)(colon - nl) : nn;
    if (colon) {
      ps = colon + 1;
      psn = nn - *hn - 1;
    }
  }
  long port = -1;
  if (psn > 0 && psn <= 5 && all_of(ps, psn, "0123456789")) {
    port = 0;
    for (size_t j = 0; j < psn; j++)
      port = port * 10 + (ps[j] - '0');
    if (port > 65535 || port == 0)
      port = -1;
  }
  return port;
}

/* "http:////host/...": the host is the path's first segment after the
 * slashes, and the path what follows it. */
static void host_from_path(jbuf *host, jbuf *path, jbuf *tmp) {
  size_t j = 0;
  while (j < path->len && path->p[j] == '/')
    j++;
  size_t k = j;
  while (k < path->len && path->p[k] != '/')
    k++;
  set(host, path->p + j, k - j);
  tmp->len = 0;
  add(tmp, "/", 1);
  if (k < path->len)
    add(tmp, path->p + k + 1, path->len - k - 1);
  set(path, tmp->p, tmp->len);
}

/* The host: escapes undone, dots tidied, IPv4 forms normalized, else
 * escaped again; lower case; "www." dropped. */
static void canon_host(jbuf *host, jbuf *tmp) {
  unescape_repeatedly(host);
  tidy_dots(host);
  char ip[16];
  if (ipv4_forms(host->p, host->len, ip)) {
    set(host, ip, strlen(ip));
  } else {
    escape_once(tmp, host->p, host->len);
    set(host, tmp->p, tmp->len);
    lower_all(host->p, host->len);
    size_t w = www_prefix(host->p, host->len);
    memmove(host->p, host->p + w, host->len - w);
    host->len -= w;
  }
}

/* The path: escapes undone, resolved, escaped once, lower case, session
 * ids out, a trailing '/' dropped unless it is the whole path. */
static void canon_path(jbuf *path, jbuf *tmp) {
  unescape_repeatedly(path);
  normalize_path(tmp, path->p, path->len);
  escape_once(path, tmp->p, tmp->len);
  lower_all(path->p, path->len);
  strip_path_session(path);
  if (path->len > 1 && path->p[path->len - 1] == '/')
    path->len--;
}

/* The query: minimal escapes, session ids out, lower case, sorted. */
static void canon_query(jbuf *query, jbuf *tmp) {
  unescape_repeatedly(query);
  escape_once(tmp, query->p, query->len);
  set(query, tmp->p, tmp->len);
  strip_query_session(query);
  lower_all(query->p, query->len);
  sort_query(query, tmp);
}

/* The key: host labels reversed and joined by ',', a port, ')', the path,
 * and the query if there is one. */
static void write_key(jbuf *b, const jbuf *host, long port, const jbuf *path,
                      const jbuf *query) {
  size_t end = host->len;
  for (size_t j = host->len + 1; j-- > 0;) {
    if (j == 0 || host->p[j - 1] == '.') {
      add(b, host->p + j, end - j);
      if (j > 0)
        add(b, ",", 1);
      end = j > 0 ? j - 1 : 0;
    }
  }
  if (port > 0) {
    char t[8];
    int tn = snprintf(t, sizeof t, ":%ld", port);
    add(b, t, (size_t)tn);
  }
  add(b, ")", 1);
  add(b, path->p, path->len);
  if (query) {
    add(b, "?", 1);
    add(b, query->p, query->len);
  }
}

void rf_surt(jbuf *b, const char *url, size_t n) {
  jbuf u = {0}, host = {0}, path = {0}, query = {0}, tmp = {0};
  size_t pn;
  const char *p = clean_url(&u, url, n, &pn);
  if (pn == 0) {
    add(b, "-", 1);
    goto out;
  }
  if (pn >= 8 && (memcmp(p, "filedesc", 8) == 0 || memcmp(p, "warcinfo", 8) == 0)) {
    add(b, p, pn);
    goto out;
  }
  p = with_scheme(&u, &tmp, p, &pn);

  parts q = {0};
  split_url(p, pn, &q);
  bool http = q.scheme_n >= 4 && ieq(q.scheme, "http", 4);
  bool https = q.scheme_n == 5 && ieq(q.scheme, "https", 5);
  bool plain_http = q.scheme_n == 4 && ieq(q.scheme, "http", 4);

  const char *h = NULL;
  size_t hn = 0;
  long port = -1;
  if (q.has_netloc)
    port = netloc_host_port(q.netloc, q.netloc_n, &h, &hn);
  set(&host, h ? h : "", hn);
  set(&path, q.path, q.path_n);
  if (http && host.len == 0 && path.len > 0)
    host_from_path(&host, &path, &tmp);
  if (host.len == 0 || host.oom || path.oom || u.oom || tmp.oom) {
    /* no host (mailto:, dns: ...): the URL as it is */
    add(b, p, pn);
    goto out;
  }

  canon_host(&host, &tmp);
  if ((plain_http && port == 80) || (https && port == 443))
    port = -1;
  canon_path(&path, &tmp);
  bool has_query = false;
  if (q.has_query) {
    set(&query, q.query, q.query_n);
    canon_query(&query, &tmp);
    has_query = query.len > 0;
  }
  write_key(b, &host, port, &path, has_query ? &query : NULL);
out:
  jb_free(&u);
  jb_free(&host);
  jb_free(&path);
  jb_free(&query);
  jb_free(&tmp);
}

/* ---- lines ------------------------------------------------------------------------------ */

void rf_cdxj_timestamp(jbuf *b, uint64_t date_us) {
  time_t s = (time_t)(date_us / 1000000u);
  struct tm tm;
  gmtime_r(&s, &tm);
  char t[32];
  int n = snprintf(t, sizeof t, "%04d%02d%02d%02d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                   tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  add(b, t, (size_t)n);
}

static void str_field(jbuf *b, const char *key, const char *v, size_t vn) {
  add(b, ", ", 2);
  jb_str(b, key, strlen(key));
  add(b, ": ", 2);
  jb_str(b, v, vn);
}

static void num_field(jbuf *b, const char *key, uint64_t v) {
  char t[24];
  int n = snprintf(t, sizeof t, "%llu", (unsigned long long)v);
  str_field(b, key, t, (size_t)n);
}

void rf_cdxj_line(jbuf *b, const rf_exchange *x, const rf_warc_pos *pos) {
  /* the URL as the record has it (WARC-Target-URI), so the line finds it */
  const char *url = pos->target_uri ? pos->target_uri : x->url;
  size_t url_len = pos->target_uri ? strlen(url) : x->url_len ? x->url_len : strlen(url);
  rf_surt(b, url, url_len);
  add(b, " ", 1);
  rf_cdxj_timestamp(b, x->date_us);
  add(b, " {", 2);
  jb_str(b, "url", 3);
  add(b, ": ", 2);
  jb_str(b, url, url_len);

  size_t hl = rf_warc_response_head_len(x);
  const uint8_t *v;
  size_t vn;
  if (rf_warc_http_header(x->response, hl, "content-type", &v, &vn)) {
    const uint8_t *semi = memchr(v, ';', vn);
    size_t mn = semi ? (size_t)(semi - v) : vn;
    while (mn > 0 && (v[mn - 1] == ' ' || v[mn - 1] == '\t'))
      mn--;
    char mime[256];
    if (mn >= sizeof mime)
      mn = sizeof mime - 1;
    memcpy(mime, v, mn);
    lower_all(mime, mn);
    if (mn > 0)
      str_field(b, "mime", mime, mn);
  }
  num_field(b, "status", (uint64_t)(x->status < 0 ? 0 : x->status));
  str_field(b, "digest", pos->payload_digest, strlen(pos->payload_digest));
  num_field(b, "length", pos->length);
  num_field(b, "offset", pos->offset);
  str_field(b, "filename", pos->filename, strlen(pos->filename));
  add(b, "}\n", 2);
}
