/* Location resolution: RFC 3986 section 5.2 over caller buffers.
 *
 * The reference is split into its components on the raw bytes and encoded
 * while it is copied out. That is safe because the bytes we percent-encode
 * never include the delimiters the split looks at (":/?#") nor '.', so
 * encoding first and splitting after would give the same components, and
 * remove_dot_segments sees the same segments either way. The whole result
 * is built in out; dot segments are removed in place there. */
#include "proto/location.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "proto/url.h"

static long fail(const char **err, const char *msg) {
  if (err)
    *err = msg;
  return -EINVAL;
}

static bool is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

static bool is_scheme_char(unsigned char c) {
  return is_alpha(c) || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
}

/* s[0..n) equals the lower-case literal, ignoring case. */
static bool eq_ci(const char *s, size_t n, const char *lit) {
  return n == strlen(lit) && strncasecmp(s, lit, n) == 0;
}

/* Bytes that may not appear raw in a URL. Controls never get here (they are
 * rejected first). '%' stays: a Location is normally already encoded, and
 * encoding it again would change what the server meant. A backslash is
 * encoded like the others, so it is data and never a path separator: unlike
 * the WHATWG parser browsers use, "/\evil.example" stays a path on the same
 * host instead of becoming a scheme-relative reference to another host. */
static bool must_encode(unsigned char c) {
  switch (c) {
  case ' ':
  case '"':
  case '<':
  case '>':
  case '\\':
  case '^':
  case '`':
  case '{':
  case '|':
  case '}':
    return true;
  default:
    return c >= 0x80;
  }
}

/* ---- output ------------------------------------------------------------- */

typedef struct wbuf {
  char *p;
  size_t cap, n;
  bool full; /* a write did not fit: the result is unusable */
} wbuf;

static void put(wbuf *w, const char *s, size_t n) {
  if (w->full || n > w->cap - w->n) {
    w->full = true;
    return;
  }
  if (n)
    memcpy(w->p + w->n, s, n);
  w->n += n;
}

static void put_enc(wbuf *w, const char *s, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n && !w->full; i++) {
    unsigned char c = (unsigned char)s[i];
    if (must_encode(c)) {
      char e[3] = {'%', hex[c >> 4], hex[c & 15]};
      put(w, e, 3);
    } else {
      put(w, (const char *)&c, 1);
    }
  }
}

/* ---- components --------------------------------------------------------- */

typedef struct span {
  const char *p;
  size_t n;
  bool def; /* present (possibly empty), as RFC 3986 distinguishes */
} span;

typedef struct parts {
  span auth, path, query, frag;
} parts;

/* Splits a reference without its scheme into authority, path, query and
 * fragment (RFC 3986 appendix B, minus the scheme). */
static void split(const char *s, size_t n, parts *r) {
  memset(r, 0, sizeof *r);
  size_t i = 0;
  if (n >= 2 && s[0] == '/' && s[1] == '/') {
    size_t a = 2;
    i = a;
    while (i < n && s[i] != '/' && s[i] != '?' && s[i] != '#')
      i++;
    r->auth = (span){s + a, i - a, true};
  }
  size_t p = i;
  while (i < n && s[i] != '?' && s[i] != '#')
    i++;
  r->path = (span){s + p, i - p, true};
  if (i < n && s[i] == '?') {
    size_t q = ++i;
    while (i < n && s[i] != '#')
      i++;
    r->query = (span){s + q, i - q, true};
  }
  if (i < n && s[i] == '#') {
    i++;
    r->frag = (span){s + i, n - i, true};
  }
}

/* RFC 3986 5.2.4, in place over b[0..len); returns the new length.
 * The output never grows faster than the input is consumed (w <= r), so
 * writing the output over the input's front is safe. Where the RFC replaces
 * a prefix by "/", r is moved onto the last byte of that prefix, which is a
 * '/' already or (for "/." and "/.." at the end) becomes one. */
static size_t remove_dot_segments(char *b, size_t len) {
  size_t r = 0, w = 0;
  while (r < len) {
    const char *in = b + r;
    size_t rem = len - r;
    if (rem >= 3 && in[0] == '.' && in[1] == '.' && in[2] == '/') {
      r += 3; /* A: "../" */
    } else if (rem >= 2 && in[0] == '.' && in[1] == '/') {
      r += 2; /* A: "./" */
    } else if (rem >= 3 && in[0] == '/' && in[1] == '.' && in[2] == '/') {
      r += 2; /* B: "/./" -> "/" */
    } else if (rem == 2 && in[0] == '/' && in[1] == '.') {
      r += 1; /* B: "/." at the end -> "/" */
      b[r] = '/';
    } else if ((rem >= 4 && in[0] == '/' && in[1] == '.' && in[2] == '.' && in[3] == '/') ||
               (rem == 3 && in[0] == '/' && in[1] == '.' && in[2] == '.')) {
      /* C: "/../" or "/.." at the end -> "/", and the last output segment
       * goes with its preceding '/'; at the root there is nothing to drop,
       * which is what clamps "../../../g" to "/g". */
      if (rem >= 4) {
        r += 3;
      } else {
        r += 2;
        b[r] = '/';
      }
      while (w > 0 && b[w - 1] != '/')
        w--;
      if (w > 0)
        w--;
    } else if ((rem == 1 && in[0] == '.') || (rem == 2 && in[0] == '.' && in[1] == '.')) {
      r = len; /* D */
    } else {
      /* E: the first segment, with its leading '/' if any */
      size_t e = r;
      if (b[e] == '/')
        e++;
      while (e < len && b[e] != '/')
        e++;
      memmove(b + w, b + r, e - r);
      w += e - r;
      r = e;
    }
  }
  return w;
}

/* Writes path bytes (ref bytes encoded, base bytes as they are) starting at
 * out offset start, then removes dot segments from them. */
static void finish_path(wbuf *w, size_t start) {
  if (!w->full)
    w->n = start + remove_dot_segments(w->p + start, w->n - start);
}

/* ---- resolve ------------------------------------------------------------ */

/* Trims spaces and tabs off the reference (header parsers usually do; be
 * safe) and rejects an empty one or one with control characters. */
static long trim_ref(const char *ref, size_t ref_len, const char **sp, size_t *np,
                     const char **err) {
  size_t a = 0, z = ref ? ref_len : 0;
  while (a < z && (ref[a] == ' ' || ref[a] == '\t'))
    a++;
  while (z > a && (ref[z - 1] == ' ' || ref[z - 1] == '\t'))
    z--;
  if (a == z)
    return fail(err, "empty Location");
  const char *s = ref + a;
  size_t n = z - a;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f)
      return fail(err, "control character in Location");
  }
  *sp = s;
  *np = n;
  return 0;
}

/* Consumes a leading scheme from *sp, setting *scheme to the result's.
 * scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" -- the run of
 * scheme characters cannot contain '/', '?' or '#', so a ':' after one of
 * those is part of a path, query or fragment. */
static long take_scheme(enum rf_scheme base_scheme, const char **sp, size_t *np,
                        enum rf_scheme *scheme, const char **err) {
  const char *s = *sp;
  size_t n = *np;
  *scheme = base_scheme;
  if (!is_alpha((unsigned char)s[0]))
    return 0;
  size_t i = 1;
  while (i < n && is_scheme_char((unsigned char)s[i]))
    i++;
  if (i >= n || s[i] != ':')
    return 0;
  enum rf_scheme rs;
  if (eq_ci(s, i, "http"))
    rs = RF_SCHEME_HTTP;
  else if (eq_ci(s, i, "https"))
    rs = RF_SCHEME_HTTPS;
  else
    return fail(err, "unsupported scheme in Location");
  const char *rest = s + i + 1;
  size_t rest_n = n - i - 1;
  bool has_auth = rest_n >= 2 && rest[0] == '/' && rest[1] == '/';
  if (has_auth) {
    *scheme = rs;
  } else if (rs != base_scheme) {
    /* "https:g" from an http page has no host of its own and cannot
     * borrow the base's across schemes */
    return fail(err, "scheme change without a host in Location");
  }
  /* else: RFC 3986 5.2.2's non-strict reading, as browsers do: the
   * base's own scheme is dropped and the rest is a relative reference */
  *sp = rest;
  *np = rest_n;
  return 0;
}

/* "?" and the reference's query, encoded, when it has one. */
static void put_ref_query(wbuf *w, const parts *r) {
  if (r->query.def) {
    put(w, "?", 1);
    put_enc(w, r->query.p, r->query.n);
  }
}

/* A reference with no authority of its own: the base's authority, then the
 * path and query as RFC 3986 5.2.2 picks them from reference and base. */
static void put_relative(wbuf *w, const parts *r, const parts *b) {
  put(w, "//", 2);
  put(w, b->auth.p, b->auth.n);
  if (r->path.n == 0) {
    put(w, b->path.p, b->path.n);
    if (r->query.def) {
      put_ref_query(w, r);
    } else if (b->query.def) {
      put(w, "?", 1);
      put(w, b->query.p, b->query.n);
    }
    return;
  }
  size_t ps = w->n;
  if (r->path.p[0] != '/') {
    /* 5.2.3 merge: the base always has an authority, so an empty base
     * path merges as "/" */
    if (b->path.n == 0) {
      put(w, "/", 1);
    } else {
      size_t keep = b->path.n;
      while (keep > 0 && b->path.p[keep - 1] != '/')
        keep--;
      put(w, b->path.p, keep);
    }
  }
  put_enc(w, r->path.p, r->path.n);
  finish_path(w, ps);
  put_ref_query(w, r);
}

/* Writes the whole result and its NUL into w: scheme, authority, path,
 * query and fragment. */
static void put_resolved(wbuf *w, enum rf_scheme scheme, const parts *r, const parts *b) {
  if (scheme == RF_SCHEME_HTTPS)
    put(w, "https:", 6);
  else
    put(w, "http:", 5);

  if (r->auth.def) {
    put(w, "//", 2);
    put_enc(w, r->auth.p, r->auth.n);
    size_t ps = w->n;
    put_enc(w, r->path.p, r->path.n);
    finish_path(w, ps);
    put_ref_query(w, r);
  } else {
    put_relative(w, r, b);
  }

  /* RFC 9110 10.2.2: a Location without a fragment keeps the original one */
  if (r->frag.def) {
    put(w, "#", 1);
    put_enc(w, r->frag.p, r->frag.n);
  } else if (b->frag.def) {
    put(w, "#", 1);
    put(w, b->frag.p, b->frag.n);
  }
  put(w, "", 1); /* the NUL, which also proves it fits */
}

long rf_url_resolve(const char *base, size_t base_len, const char *ref, size_t ref_len, char *out,
                    size_t cap, const char **err) {
  rf_url bu;
  if (rf_url_parse(base, base_len, &bu, NULL) != 0)
    return fail(err, "invalid base URL");

  const char *s;
  size_t n;
  long rc = trim_ref(ref, ref_len, &s, &n, err);
  if (rc)
    return rc;
  enum rf_scheme scheme;
  rc = take_scheme(bu.scheme, &s, &n, &scheme, err);
  if (rc)
    return rc;

  parts r, b;
  split(s, n, &r);
  /* the base starts with "http://" or "https://" (rf_url_parse checked) */
  const char *bcolon = memchr(base, ':', base_len);
  size_t bskip = (size_t)(bcolon - base) + 1;
  split(base + bskip, base_len - bskip, &b);

  wbuf w = {out, cap, 0, false};
  put_resolved(&w, scheme, &r, &b);
  if (w.full)
    return fail(err, "output buffer too small");
  size_t len = w.n - 1;

  rf_url u;
  const char *perr = NULL;
  if (rf_url_parse(out, len, &u, &perr) != 0)
    return fail(err, perr ? perr : "invalid URL");
  return (long)len;
}
