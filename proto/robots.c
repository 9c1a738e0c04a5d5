/* robots.txt parsing and matching (RFC 9309); see robots.h for the rules.
 *
 * Representation. Both sides are compared in their normalised form (see
 * robots.h), octet by octet. A pattern is normalised once, when it is
 * parsed, with a raw '*' standing for the wildcard (a literal '*' is always
 * "%2A" in the normalised form, so the two never mix up). The target is
 * normalised while it is read, an octet at a time (rb_iter), so matching
 * needs no buffer.
 *
 * Matching. A pattern is segments of literal octets between stars. The
 * first segment must match at the start of the target; each later one is
 * searched for from where the previous one ended, and its leftmost
 * occurrence is the right one to take (whatever follows starts with a star,
 * which absorbs any skipped text); the last one of a '$' pattern must end
 * at the end of the target. The search is Knuth-Morris-Pratt, with each
 * segment's prefix function computed at parse time, so a rule costs
 * O(pattern + target) octets however hostile the pattern ("/x*a*a*a...",
 * "/x*aaaa...ab"): nothing backtracks, nothing recurses. */
#include "proto/robots.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RB_NONE UINT32_MAX

enum rb_kind { RB_RULES, RB_ALLOW_ALL, RB_DISALLOW_ALL };

typedef struct rb_rule {
  uint32_t off;  /* first octet in pat[] */
  uint32_t n;    /* octets (consecutive stars collapsed into one) */
  uint32_t pi;   /* first entry in pi[] (parallel to pat[off..off+n)), or RB_NONE: no star */
  uint32_t prio; /* octets of the normalised pattern, each '*' and a final '$' one */
  uint8_t allow;
  uint8_t anchored; /* the value ended in '$' */
} rb_rule;

/* The rules of one kind of group (the token's, or "*"), while parsing. */
typedef struct rb_set {
  rb_rule *rules;
  size_t n, cap;
  uint8_t *pat; /* every rule's normalised pattern, back to back */
  size_t npat, cappat;
  uint32_t *pi; /* KMP prefix functions of the star patterns' segments */
  size_t npi, cappi;
  double delay; /* largest valid Crawl-delay, 0 = none */
} rb_set;

struct rf_robots {
  enum rb_kind kind;
  rb_set set;
};

/* shared and never written: rf_robots_free leaves them alone */
static rf_robots rb_allow_all = {.kind = RB_ALLOW_ALL};
static rf_robots rb_disallow_all = {.kind = RB_DISALLOW_ALL};

/* ---- characters ----------------------------------------------------------- */

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static bool is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* RFC 3986 unreserved */
static bool is_unreserved(unsigned c) {
  return is_alpha((unsigned char)c) || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

/* RFC 9309 product-token characters */
static bool is_token_char(unsigned char c) { return is_alpha(c) || c == '-' || c == '_'; }

static bool is_ws(unsigned char c) { return c == ' ' || c == '\t'; }

static unsigned char lower(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

static const char hexdig[] = "0123456789ABCDEF";

/* Does the octet c (not part of a valid %XX) compare in its %XX form? All
 * but visible ASCII, and a lone '%'. The callers add '*' and '$': in a
 * target both always are encoded (a pattern says a literal '*' or '$' only
 * as "%2A" or "%24", RFC 9309 section 2.2.3); in a pattern a '*' is the
 * wildcard, and a '$' that is not the final anchor is encoded. */
static bool must_encode(unsigned char c) { return c <= 0x20 || c >= 0x7f || c == '%'; }

/* Reads the target's normalised form an octet at a time. Copying the struct
 * saves a position. */
typedef struct rb_iter {
  const unsigned char *t;
  size_t n, i;       /* next unread byte of t */
  unsigned char hex[2]; /* the rest of a %XX being handed out */
  unsigned char nhex;
} rb_iter;

static bool iter_done(const rb_iter *it) { return it->nhex == 0 && it->i == it->n; }

/* The next octet, or -1 at the end. */
static inline int iter_next(rb_iter *it) {
  if (it->nhex) {
    unsigned char c = it->hex[2 - it->nhex];
    it->nhex--;
    return c;
  }
  if (it->i == it->n)
    return -1;
  unsigned char c = it->t[it->i++];
  unsigned v = c;
  if (c == '%') {
    int h, l;
    if (it->n - it->i >= 2 && (h = hexval(it->t[it->i])) >= 0 &&
        (l = hexval(it->t[it->i + 1])) >= 0) {
      it->i += 2;
      v = (unsigned)(h * 16 + l);
      if (is_unreserved(v))
        return (int)v;
    }
  } else if (!must_encode(c) && c != '*' && c != '$') {
    return c;
  }
  it->hex[0] = (unsigned char)hexdig[v >> 4];
  it->hex[1] = (unsigned char)hexdig[v & 15];
  it->nhex = 2;
  return '%';
}

/* ---- rule sets -------------------------------------------------------------- */

static bool grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap)
    return true;
  size_t nc = *cap ? *cap : 16;
  while (nc < need)
    nc *= 2;
  void *q = realloc(*p, nc * elem);
  if (!q)
    return false;
  *p = q;
  *cap = nc;
  return true;
}

static void set_free(rb_set *s) {
  free(s->rules);
  free(s->pat);
  free(s->pi);
  memset(s, 0, sizeof *s);
}

/* The KMP prefix function of each star-free segment of u[0..n). */
static void compute_pi(const uint8_t *u, uint32_t *pi, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (u[i] == '*') {
      pi[i++] = 0;
      continue;
    }
    size_t s = i, e = i;
    while (e < n && u[e] != '*')
      e++;
    pi[s] = 0;
    for (size_t k = 1; k < e - s; k++) {
      uint32_t q = pi[s + k - 1];
      while (q > 0 && u[s + k] != u[s + q])
        q = pi[s + q - 1];
      if (u[s + k] == u[s + q])
        q++;
      pi[s + k] = q;
    }
    i = e;
  }
}

/* Normalises the pattern v[0..n) (without a final '$') to u, which has room
 * for 3n octets; returns the length. */
static size_t normalise_pattern(const unsigned char *v, size_t n, uint8_t *u, bool *star) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = v[i];
    unsigned x = c;
    int h, l;
    if (c == '*') {
      *star = true;
      if (k == 0 || u[k - 1] != '*')
        u[k++] = '*';
      continue;
    }
    if (c == '%' && n - i > 2 && (h = hexval(v[i + 1])) >= 0 && (l = hexval(v[i + 2])) >= 0) {
      x = (unsigned)(h * 16 + l);
      i += 2;
      if (is_unreserved(x)) {
        u[k++] = (uint8_t)x;
        continue;
      }
    } else if (!must_encode(c) && c != '$') {
      u[k++] = c;
      continue;
    }
    u[k++] = '%';
    u[k++] = (uint8_t)hexdig[x >> 4];
    u[k++] = (uint8_t)hexdig[x & 15];
  }
  return k;
}

/* Adds the rule "allow/disallow: v[0..n)" (n > 0, trimmed) to s. */
static bool add_rule(rb_set *s, bool allow, const unsigned char *v, size_t n) {
  if (v[0] != '/' && v[0] != '*')
    return true; /* not a path pattern: ignored */
  bool anchored = v[n - 1] == '$';
  if (anchored)
    n--;
  if (!grow((void **)&s->rules, &s->cap, s->n + 1, sizeof *s->rules) ||
      !grow((void **)&s->pat, &s->cappat, s->npat + 3 * n, 1))
    return false;
  uint8_t *u = s->pat + s->npat;
  bool star = false;
  size_t k = normalise_pattern(v, n, u, &star);
  size_t stars = 0; /* each '*' as written counts, collapsed or not */
  for (size_t i = 0; i < n; i++)
    stars += v[i] == '*';
  uint32_t pi = RB_NONE;
  if (star) { /* a pattern with a star is searched for: its segments' prefix functions */
    if (!grow((void **)&s->pi, &s->cappi, s->npi + k, sizeof *s->pi))
      return false;
    compute_pi(u, s->pi + s->npi, k);
    pi = (uint32_t)s->npi;
    s->npi += k;
  }
  size_t collapsed = 0;
  for (size_t i = 0; i < k; i++)
    collapsed += u[i] == '*';
  s->rules[s->n++] = (rb_rule){.off = (uint32_t)s->npat,
                               .n = (uint32_t)k,
                               .pi = pi,
                               .prio = (uint32_t)(k - collapsed + stars + anchored),
                               .allow = allow,
                               .anchored = anchored};
  s->npat += k;
  return true;
}

/* A Crawl-delay value: leading decimal number, capped. */
static bool parse_delay(const unsigned char *v, size_t n, double *out) {
  size_t i = 0;
  bool digits = false;
  double x = 0;
  for (; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
    digits = true;
    if (x <= RF_ROBOTS_MAX_DELAY)
      x = x * 10 + (v[i] - '0');
  }
  if (i < n && v[i] == '.') {
    double scale = 0.1;
    for (i++; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
      digits = true;
      if (scale > 1e-9) {
        x += (v[i] - '0') * scale;
        scale /= 10;
      }
    }
  }
  if (!digits)
    return false;
  *out = x > RF_ROBOTS_MAX_DELAY ? RF_ROBOTS_MAX_DELAY : x;
  return true;
}

/* ---- parsing ---------------------------------------------------------------- */

enum rb_key { K_OTHER, K_AGENT, K_ALLOW, K_DISALLOW, K_DELAY };

typedef struct rb_parser {
  const char *agent;
  size_t agent_len;   /* leading token characters of agent */
  bool have_group;    /* a User-agent line was seen */
  bool in_agents;     /* no rule since the last User-agent line */
  bool cur_specific;  /* the current group names the token */
  bool cur_star;      /* the current group names "*" */
  bool found_specific; /* some group names the token */
  rb_set spec, star;
} rb_parser;

static enum rb_key classify(const unsigned char *k, size_t n) {
  static const struct {
    const char *name;
    enum rb_key key;
  } keys[] = {
      {"useragent", K_AGENT},     {"allow", K_ALLOW},        {"disallow", K_DISALLOW},
      {"disalow", K_DISALLOW},    {"dissallow", K_DISALLOW}, {"dissalow", K_DISALLOW},
      {"crawldelay", K_DELAY},
  };
  char buf[16];
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    if (k[i] == '-' || k[i] == '_' || is_ws(k[i]))
      continue;
    if (m == sizeof buf)
      return K_OTHER;
    buf[m++] = (char)lower(k[i]);
  }
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    if (strlen(keys[i].name) == m && memcmp(keys[i].name, buf, m) == 0)
      return keys[i].key;
  return K_OTHER;
}

static void on_agent(rb_parser *ps, const unsigned char *v, size_t n) {
  if (!ps->in_agents) { /* a new group */
    ps->in_agents = true;
    ps->have_group = true;
    ps->cur_specific = ps->cur_star = false;
  }
  size_t t = 0;
  while (t < n && is_token_char(v[t]))
    t++;
  if (t == 0) {
    if (n > 0 && v[0] == '*' && (n == 1 || !is_token_char(v[1])))
      ps->cur_star = true;
    return;
  }
  if (t != ps->agent_len)
    return;
  for (size_t i = 0; i < t; i++)
    if (lower(v[i]) != lower((unsigned char)ps->agent[i]))
      return;
  ps->cur_specific = true;
  if (!ps->found_specific) { /* the "*" groups are out of the game */
    ps->found_specific = true;
    set_free(&ps->star);
  }
}

static bool on_rule(rb_parser *ps, enum rb_key key, const unsigned char *v, size_t n) {
  if (!ps->have_group)
    return true; /* before any User-agent line */
  ps->in_agents = false;
  rb_set *s = ps->cur_specific                      ? &ps->spec
              : ps->cur_star && !ps->found_specific ? &ps->star
                                                    : NULL;
  if (!s)
    return true;
  if (key == K_DELAY) {
    double d;
    if (parse_delay(v, n, &d) && d > s->delay)
      s->delay = d;
    return true;
  }
  if (n == 0)
    return true; /* empty pattern: no rule */
  return add_rule(s, key == K_ALLOW, v, n);
}

/* One line, without its end. Returns false when out of memory. */
static bool parse_line(rb_parser *ps, const unsigned char *s, size_t n) {
  const unsigned char *hash = memchr(s, '#', n);
  if (hash)
    n = (size_t)(hash - s);
  const unsigned char *colon = memchr(s, ':', n);
  if (!colon)
    return true;
  size_t klen = (size_t)(colon - s);
  enum rb_key key = classify(s, klen);
  if (key == K_OTHER)
    return true;
  const unsigned char *v = colon + 1;
  size_t vn = n - klen - 1;
  while (vn > 0 && is_ws(v[0]))
    v++, vn--;
  while (vn > 0 && is_ws(v[vn - 1]))
    vn--;
  if (key == K_AGENT) {
    on_agent(ps, v, vn);
    return true;
  }
  return on_rule(ps, key, v, vn);
}

static int rule_cmp(const void *a, const void *b) {
  const rb_rule *x = a, *y = b;
  if (x->prio != y->prio)
    return x->prio > y->prio ? -1 : 1;
  if (x->allow != y->allow)
    return x->allow ? -1 : 1;
  return x->off < y->off ? -1 : x->off > y->off;
}

/* Gives s's arrays back their unused room (a failed shrink keeps them). */
static void shrink(void **p, size_t *cap, size_t n, size_t elem) {
  if (n == *cap)
    return;
  if (n == 0) {
    free(*p);
    *p = NULL;
    *cap = 0;
    return;
  }
  void *q = realloc(*p, n * elem);
  if (q) {
    *p = q;
    *cap = n;
  }
}

static void set_shrink(rb_set *s) {
  shrink((void **)&s->rules, &s->cap, s->n, sizeof *s->rules);
  shrink((void **)&s->pat, &s->cappat, s->npat, 1);
  shrink((void **)&s->pi, &s->cappi, s->npi, sizeof *s->pi);
}

/* The part of txt[0..len) that is read: at most RF_ROBOTS_MAX_INPUT bytes,
 * and when the input is longer, without the line the limit cuts. */
static size_t input_extent(const unsigned char *s, size_t len) {
  if (len <= RF_ROBOTS_MAX_INPUT)
    return len;
  size_t n = RF_ROBOTS_MAX_INPUT;
  while (n > 0 && s[n - 1] != '\n' && s[n - 1] != '\r')
    n--;
  return n;
}

rf_robots *rf_robots_parse(const char *txt, size_t len, const char *agent) {
  rb_parser ps;
  memset(&ps, 0, sizeof ps);
  ps.agent = agent ? agent : "";
  while (is_token_char((unsigned char)ps.agent[ps.agent_len]))
    ps.agent_len++;

  const unsigned char *s = (const unsigned char *)txt;
  size_t n = txt ? input_extent(s, len) : 0, i = 0;
  if (n >= 3 && s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf)
    i = 3;
  while (i < n) {
    size_t e = i;
    while (e < n && s[e] != '\n' && s[e] != '\r')
      e++;
    if (!parse_line(&ps, s + i, e - i))
      goto oom;
    i = e;
    if (i < n) { /* LF, CR or CRLF */
      i++;
      if (s[e] == '\r' && i < n && s[i] == '\n')
        i++;
    }
  }

  rf_robots *r = malloc(sizeof *r);
  if (!r)
    goto oom;
  r->kind = RB_RULES;
  if (ps.found_specific) {
    r->set = ps.spec;
    set_free(&ps.star);
  } else {
    r->set = ps.star;
    set_free(&ps.spec);
  }
  set_shrink(&r->set);
  if (r->set.n > 1)
    qsort(r->set.rules, r->set.n, sizeof *r->set.rules, rule_cmp);
  return r;
oom:
  set_free(&ps.spec);
  set_free(&ps.star);
  return NULL;
}

rf_robots *rf_robots_allow_all(void) { return &rb_allow_all; }

rf_robots *rf_robots_disallow_all(void) { return &rb_disallow_all; }

void rf_robots_free(rf_robots *r) {
  if (!r || r == &rb_allow_all || r == &rb_disallow_all)
    return;
  set_free(&r->set);
  free(r);
}

double rf_robots_crawl_delay(const rf_robots *r) { return r ? r->set.delay : 0; }

size_t rf_robots_rule_count(const rf_robots *r) {
  if (!r)
    return 0;
  return r->kind == RB_DISALLOW_ALL ? 1 : r->set.n;
}

/* ---- matching --------------------------------------------------------------- */

/* Finds the segment seg[0..m) (m > 0, prefix function pi) in the rest of
 * the target. Without at_end: true when it occurs, with *it just after its
 * leftmost occurrence. With at_end: true when an occurrence ends at the end
 * of the target. */
static bool find_segment(const uint8_t *seg, const uint32_t *pi, size_t m, rb_iter *it,
                         bool at_end) {
  size_t q = 0;
  bool ended = false; /* the last octet completed an occurrence */
  for (int c; (c = iter_next(it)) >= 0;) {
    while (q > 0 && seg[q] != c)
      q = pi[q - 1];
    if (seg[q] == c)
      q++;
    ended = false;
    if (q == m) {
      if (!at_end)
        return true;
      ended = true;
      q = pi[q - 1];
    }
  }
  return ended;
}

static bool rule_matches(const rb_set *s, const rb_rule *r, const unsigned char *t, size_t tn) {
  const uint8_t *u = s->pat + r->off;
  size_t n = r->n, p = 0;
  rb_iter it = {.t = t, .n = tn};
  /* the first segment: at the start */
  for (; p < n && u[p] != '*'; p++)
    if (iter_next(&it) != u[p])
      return false;
  if (p == n)
    return !r->anchored || iter_done(&it);
  /* u[p] is a star: each later segment from where the previous one ended */
  const uint32_t *pi = s->pi + r->pi;
  for (;;) {
    p++;
    if (p == n)
      return true; /* a final star matches the rest, '$' or not */
    size_t seg = p;
    while (p < n && u[p] != '*')
      p++;
    bool last = p == n;
    if (!find_segment(u + seg, pi + seg, p - seg, &it, last && r->anchored))
      return false;
    if (last)
      return true;
  }
}

/* Is the path of t[0..tn) "/robots.txt" (in any equivalent encoding)? */
static bool is_robots_txt(const unsigned char *t, size_t tn) {
  static const char want[] = "/robots.txt";
  rb_iter it = {.t = t, .n = tn};
  for (size_t k = 0; k < sizeof want - 1; k++)
    if (iter_next(&it) != (unsigned char)want[k])
      return false;
  int c = iter_next(&it); /* '?' only comes from a raw '?', which starts the query */
  return c < 0 || c == '?';
}

bool rf_robots_allowed(const rf_robots *r, const char *target, size_t len) {
  const unsigned char *t = (const unsigned char *)target;
  if (!t || len == 0) {
    t = (const unsigned char *)"/";
    len = 1;
  }
  if (is_robots_txt(t, len))
    return true;
  if (!r || r->kind == RB_ALLOW_ALL)
    return true;
  if (r->kind == RB_DISALLOW_ALL)
    return false;
  /* longest first, Allow first among equals: the first match decides */
  for (size_t k = 0; k < r->set.n; k++)
    if (rule_matches(&r->set, &r->set.rules[k], t, len))
      return r->set.rules[k].allow;
  return true;
}
