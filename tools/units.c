/* Command-line numbers with units: see units.h. */
#include "units.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SPAN_S (86400.0 * 30) /* longest time any option takes: beyond it is a typo */
#define MAX_RATE 1e8              /* requests per second */

/* A finite decimal number at the start of s; *rest = what follows it. */
static int scan_number(const char *s, double *v, const char **rest) {
  char *end;
  errno = 0;
  *v = strtod(s, &end);
  *rest = end;
  return errno || end == s || !isfinite(*v) ? -1 : 0;
}

/* A number above 0 and at most max at the start of s; *rest = what follows it. */
static int scan_positive(const char *s, double max, double *v, const char **rest) {
  return scan_number(s, v, rest) || *v <= 0 || *v > max ? -1 : 0;
}

/* The same as all of s: *out is set only for a good one. */
static int parse_positive(const char *s, double max, double *out) {
  double v;
  const char *rest;
  if (scan_positive(s, max, &v, &rest) || *rest)
    return -1;
  *out = v;
  return 0;
}

int rf_cli_parse_u64(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || s[0] == '-')
    return -1;
  *out = v;
  return 0;
}

int rf_cli_parse_uint(const char *s, unsigned long max, unsigned long *out) {
  uint64_t v;
  if (rf_cli_parse_u64(s, &v) || v > max)
    return -1;
  *out = (unsigned long)v;
  return 0;
}

int rf_cli_parse_count(const char *s, unsigned long max, unsigned long *out) {
  double v;
  const char *end;
  if (scan_number(s, &v, &end) || v < 0 || *s == '-' || *s == '+')
    return -1;
  if (*end == 'k' || *end == 'K')
    v *= 1e3, end++;
  else if (*end == 'm' || *end == 'M')
    v *= 1e6, end++;
  else if (*end == 'g' || *end == 'G')
    v *= 1e9, end++;
  if (*end || v != floor(v) || v > (double)max)
    return -1;
  *out = (unsigned long)v;
  return 0;
}

int rf_cli_parse_seconds(const char *s, unsigned *ms) {
  double v;
  if (parse_positive(s, MAX_SPAN_S, &v))
    return -1;
  double m = ceil(v * 1000.0);
  *ms = m < 1 ? 1 : (unsigned)m;
  return 0;
}

int rf_cli_parse_duration(const char *s, uint64_t *us) {
  double v;
  const char *end;
  if (scan_number(s, &v, &end) || v <= 0)
    return -1;
  double mult = 1e6;
  if (strcmp(end, "ms") == 0)
    mult = 1e3;
  else if (strcmp(end, "us") == 0)
    mult = 1;
  else if (strcmp(end, "m") == 0)
    mult = 60e6;
  else if (strcmp(end, "h") == 0)
    mult = 3600e6;
  else if (*end && strcmp(end, "s") != 0)
    return -1;
  double r = v * mult;
  if (r < 1 || r > MAX_SPAN_S * 1e6)
    return -1;
  *us = (uint64_t)r;
  return 0;
}

int rf_cli_parse_rate(const char *s, double *rate) { return parse_positive(s, MAX_RATE, rate); }

int rf_cli_parse_rate_step(const char *s, rf_rate_step *out) {
  rf_rate_step st;
  const char *rest;
  if (scan_positive(s, MAX_RATE, &st.rate, &rest) || *rest != ':' ||
      rf_cli_parse_duration(rest + 1, &st.dur_us))
    return -1;
  *out = st;
  return 0;
}
