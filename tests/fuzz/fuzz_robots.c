/* libFuzzer target: robots.txt parsing and matching on arbitrary bytes.
 *
 * The first byte picks the mode; the rest is split at its last NUL byte
 * into a text and a target (without a NUL: all text, and a few fixed
 * targets are asked about). Text and target are private exact-size copies,
 * so ASan sees a read past either.
 *
 *  - Even first byte: the text is a robots.txt, parsed for one of a few
 *    product tokens (bits 1-2). Invariants: no crash or leak, parsing never
 *    fails, "/robots.txt" (with or without a query) is always allowed, the
 *    Crawl-delay is a number in [0, RF_ROBOTS_MAX_DELAY], a target and its
 *    normalised form get the same answer, and the same text with CRLF line
 *    ends gives the same answers.
 *  - Odd first byte: the text is one path pattern, made the value of an
 *    Allow (bit 1; then with "Disallow: /" beside it) or a Disallow line,
 *    and the answer is checked against a slow reference (normalise both
 *    sides, match by dynamic programming, longest pattern wins). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/robots.h"
#include "tests/unit/robots_ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *dup_exact(const void *p, size_t n) {
  char *s = malloc(n ? n : 1);
  if (!s)
    abort();
  if (n)
    memcpy(s, p, n);
  return s;
}

/* rf_robots_allowed on a private copy of t[0..n). */
static bool ask(const rf_robots *r, const char *t, size_t n) {
  char *c = dup_exact(t, n);
  bool a = rf_robots_allowed(r, c, n);
  free(c);
  return a;
}

/* ---- modes ------------------------------------------------------------------ */

static const char *const fixed_targets[] = {"/", "/a", "/a/b?c=d", "/%7E", "/*", "/$", "/x.gif"};

static void check_file(const uint8_t *text, size_t tlen, const uint8_t *target, size_t glen,
                       bool has_target, unsigned sel) {
  static const char *const agents[] = {"ringfetch", "foobot", "", "ExampleBot/1.0"};
  const char *agent = agents[sel & 3];
  char *txt = dup_exact(text, tlen);
  rf_robots *r = rf_robots_parse(txt, tlen, agent);
  free(txt);
  if (!r)
    abort(); /* no memory limit here: parsing does not fail */
  if (!ask(r, "/robots.txt", 11) || !ask(r, "/robots.txt?a=b", 15))
    abort();
  double d = rf_robots_crawl_delay(r);
  if (!(d >= 0 && d <= RF_ROBOTS_MAX_DELAY))
    abort();

  /* the same text with CRLF line ends (when it stays within the limit) */
  rf_robots *r2 = NULL;
  size_t nl = 0;
  for (size_t i = 0; i < tlen; i++)
    nl += text[i] == '\n';
  if (tlen + nl <= RF_ROBOTS_MAX_INPUT) {
    char *crlf = malloc(tlen + nl + 1);
    if (!crlf)
      abort();
    size_t k = 0;
    for (size_t i = 0; i < tlen; i++) {
      if (text[i] == '\n')
        crlf[k++] = '\r';
      crlf[k++] = (char)text[i];
    }
    char *c2 = dup_exact(crlf, k);
    r2 = rf_robots_parse(c2, k, agent);
    free(c2);
    free(crlf);
    if (!r2 || rf_robots_crawl_delay(r2) != d ||
        rf_robots_rule_count(r2) != rf_robots_rule_count(r))
      abort();
  }

  size_t nt = has_target ? 1 : sizeof fixed_targets / sizeof fixed_targets[0];
  char *norm = malloc(3 * (glen ? glen : 1));
  if (!norm)
    abort();
  for (size_t k = 0; k < nt; k++) {
    const char *t = has_target ? (const char *)target : fixed_targets[k];
    size_t n = has_target ? glen : strlen(t);
    bool a = ask(r, t, n);
    if (ask(r, t, n) != a || (r2 && ask(r2, t, n) != a))
      abort();
    if (has_target) {
      size_t nn = ref_norm(t, n, false, norm);
      if (ask(r, norm, nn) != a)
        abort();
    }
  }
  free(norm);
  rf_robots_free(r);
  rf_robots_free(r2);
}

static void check_rule(const uint8_t *pat, size_t plen, const uint8_t *target, size_t glen,
                       unsigned sel) {
  bool allow = sel & 2;
  /* the value as the parser sees it: no line ends, cut at '#', trimmed */
  char *v = malloc(plen + 1);
  if (!v)
    abort();
  size_t vn = 0;
  for (size_t i = 0; i < plen && pat[i] != '#'; i++)
    if (pat[i] != '\r' && pat[i] != '\n')
      v[vn++] = (char)pat[i];
  size_t b = 0;
  while (b < vn && (v[b] == ' ' || v[b] == '\t'))
    b++;
  while (vn > b && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
    vn--;
  const char *val = v + b;
  size_t vl = vn - b;

  char *txt = malloc(vl + 64);
  if (!txt)
    abort();
  int k = sprintf(txt, "User-agent: *\n%s%s: ", allow ? "Disallow: /\n" : "",
                  allow ? "Allow" : "Disallow");
  memcpy(txt + k, val, vl);
  size_t tl = (size_t)k + vl;
  txt[tl++] = '\n';
  char *c = dup_exact(txt, tl);
  rf_robots *r = rf_robots_parse(c, tl, "ringfetch");
  free(c);
  free(txt);
  if (!r)
    abort();
  bool got = ask(r, (const char *)target, glen);

  /* the reference */
  const char *t = glen ? (const char *)target : "/";
  size_t tn = glen ? glen : 1;
  char *nt = malloc(3 * tn), *np = malloc(3 * (vl ? vl : 1));
  if (!nt || !np)
    abort();
  size_t ntl = ref_norm(t, tn, false, nt);
  bool want = true;
  long best = -1;
  if (allow && nt[0] == '/') { /* "Disallow: /" */
    best = 1;
    want = false;
  }
  bool checked = true;
  if (vl > 0 && (val[0] == '/' || val[0] == '*')) {
    bool anchored = val[vl - 1] == '$';
    size_t npl = ref_norm(val, vl - anchored, true, np);
    if (npl * ntl > 4u << 20) {
      checked = false; /* too slow for the reference */
    } else if (ref_glob(np, npl, anchored, nt, ntl)) {
      long prio = (long)npl + anchored;
      if (prio > best || (prio == best && allow)) {
        want = allow;
        best = prio;
      }
    }
  }
  if (ntl >= 11 && memcmp(nt, "/robots.txt", 11) == 0 && (ntl == 11 || nt[11] == '?'))
    want = true;
  if (checked && got != want)
    abort();
  free(nt);
  free(np);
  free(v);
  rf_robots_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  unsigned sel = data[0];
  data++;
  size--;
  const uint8_t *nul = NULL;
  for (size_t i = size; i > 0; i--)
    if (data[i - 1] == 0) {
      nul = data + i - 1;
      break;
    }
  size_t tlen = nul ? (size_t)(nul - data) : size;
  const uint8_t *target = nul ? nul + 1 : data + size;
  size_t glen = nul ? size - tlen - 1 : 0;
  if (sel & 1)
    check_rule(data, tlen, target, glen, sel);
  else
    check_file(data, tlen, target, glen, nul != NULL, sel >> 1);
  return 0;
}
