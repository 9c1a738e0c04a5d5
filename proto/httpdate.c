/* HTTP-date and Retry-After parsing.
 *
 * The three formats differ right after the leading weekday: a ',' after a
 * three-letter name is IMF-fixdate, a ',' after a full name is RFC 850, a
 * space after a three-letter name is asctime. So each input is parsed by
 * exactly one grammar, with no trial and error. */
#include "proto/httpdate.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

static const char *const wday3[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *const wday_long[7] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                         "Friday", "Saturday", "Sunday"};
static const char *const month3[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* A small cursor over s[0..len): every read checks the end first. */
typedef struct cur {
  const char *s;
  size_t len, i;
} cur;

static bool lit(cur *c, const char *t) {
  size_t n = strlen(t);
  if (c->len - c->i < n || memcmp(c->s + c->i, t, n) != 0)
    return false;
  c->i += n;
  return true;
}

/* Exactly n digits (n <= 4, so no overflow). */
static bool digits(cur *c, size_t n, int *v) {
  if (c->len - c->i < n)
    return false;
  int x = 0;
  for (size_t k = 0; k < n; k++) {
    char d = c->s[c->i + k];
    if (d < '0' || d > '9')
      return false;
    x = x * 10 + (d - '0');
  }
  c->i += n;
  *v = x;
  return true;
}

/* One of names[0..count), case-sensitive (RFC 9110 writes them as %s"..."). */
static bool name(cur *c, const char *const *names, int count, int *idx) {
  for (int k = 0; k < count; k++) {
    if (lit(c, names[k])) {
      *idx = k;
      return true;
    }
  }
  return false;
}

/* time-of-day = hour ":" minute ":" second */
static bool time_of_day(cur *c, int *h, int *m, int *sec) {
  return digits(c, 2, h) && lit(c, ":") && digits(c, 2, m) && lit(c, ":") && digits(c, 2, sec) &&
         *h <= 23 && *m <= 59 && *sec <= 60; /* 60: a leap second */
}

static bool is_leap(int y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

static int days_in_month(int y, int mon /* 0..11 */) {
  static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return dim[mon] + (mon == 1 && is_leap(y));
}

/* Days from 1970-01-01 to y-mon-day (proleptic Gregorian, y >= 0). Counting
 * from 0000-01-01: 365 a year plus one per leap year before y; a leap year
 * in [0, y) is a multiple of 4, minus the multiples of 100, plus those of
 * 400, and there are ceil(y / k) multiples of k in [0, y). 1970-01-01 is day
 * 719528 of that count. */
static int64_t days_from_civil(int y, int mon, int day) {
  static const unsigned short before[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
  int64_t yy = y;
  int64_t leaps = (yy + 3) / 4 - (yy + 99) / 100 + (yy + 399) / 400;
  int64_t d = 365 * yy + leaps + before[mon] + (mon > 1 && is_leap(y)) + (day - 1);
  return d - 719528;
}

static bool finish(int y, int mon, int day, int h, int m, int sec, int64_t *unix_s) {
  if (day < 1 || day > days_in_month(y, mon))
    return false;
  *unix_s = days_from_civil(y, mon, day) * 86400 + h * 3600 + m * 60 + sec;
  return true;
}

int rf_http_date_parse(const char *s, size_t len, int64_t *unix_s) {
  if (!s)
    return -EINVAL;
  cur c = {s, len, 0};
  int wd, day, mon, year, h, m, sec;

  /* IMF-fixdate = day-name "," SP day SP month SP year SP time-of-day SP "GMT" */
  if (len >= 4 && s[3] == ',') {
    if (!(name(&c, wday3, 7, &wd) && lit(&c, ", ") && digits(&c, 2, &day) && lit(&c, " ") &&
          name(&c, month3, 12, &mon) && lit(&c, " ") && digits(&c, 4, &year) && lit(&c, " ") &&
          time_of_day(&c, &h, &m, &sec) && lit(&c, " GMT") && c.i == len))
      return -EINVAL;
  } else if (len >= 4 && s[3] == ' ') {
    /* asctime-date = day-name SP month SP ( 2DIGIT / ( SP DIGIT ) ) SP
     *                time-of-day SP year */
    if (!(name(&c, wday3, 7, &wd) && lit(&c, " ") && name(&c, month3, 12, &mon) && lit(&c, " ")))
      return -EINVAL;
    if (lit(&c, " ")) {
      if (!digits(&c, 1, &day))
        return -EINVAL;
    } else if (!digits(&c, 2, &day)) {
      return -EINVAL;
    }
    if (!(lit(&c, " ") && time_of_day(&c, &h, &m, &sec) && lit(&c, " ") && digits(&c, 4, &year) &&
          c.i == len))
      return -EINVAL;
  } else {
    /* rfc850-date = day-name-l "," SP day "-" month "-" 2DIGIT SP
     *               time-of-day SP "GMT" */
    if (!(name(&c, wday_long, 7, &wd) && lit(&c, ", ") && digits(&c, 2, &day) && lit(&c, "-") &&
          name(&c, month3, 12, &mon) && lit(&c, "-") && digits(&c, 2, &year) && lit(&c, " ") &&
          time_of_day(&c, &h, &m, &sec) && lit(&c, " GMT") && c.i == len))
      return -EINVAL;
    /* a fixed pivot keeps the result independent of the clock */
    year += year >= 70 ? 1900 : 2000;
  }
  (void)wd; /* RFC 9110 does not ask for a weekday/date consistency check */
  int64_t t;
  if (!finish(year, mon, day, h, m, sec, &t))
    return -EINVAL;
  if (unix_s)
    *unix_s = t;
  return 0;
}

int rf_retry_after_parse(const char *v, size_t len, int64_t now_unix_s, uint64_t *delay_s) {
  if (!v)
    return -EINVAL;
  size_t a = 0, z = len;
  while (a < z && (v[a] == ' ' || v[a] == '\t'))
    a++;
  while (z > a && (v[z - 1] == ' ' || v[z - 1] == '\t'))
    z--;
  if (a == z)
    return -EINVAL;

  uint64_t d;
  if (v[a] >= '0' && v[a] <= '9') {
    /* delay-seconds = 1*DIGIT; keep reading past the cap so "12a" fails */
    d = 0;
    for (size_t i = a; i < z; i++) {
      if (v[i] < '0' || v[i] > '9')
        return -EINVAL;
      if (d < UINT32_MAX)
        d = d * 10 + (uint64_t)(v[i] - '0');
    }
    if (d > UINT32_MAX)
      d = UINT32_MAX;
  } else {
    int64_t t;
    if (rf_http_date_parse(v + a, z - a, &t) != 0)
      return -EINVAL;
    /* t > now: the unsigned difference is exact even where the signed one
     * would overflow (a caller's clock is not range-checked) */
    d = t <= now_unix_s ? 0 : (uint64_t)t - (uint64_t)now_unix_s;
    if (d > UINT32_MAX)
      d = UINT32_MAX;
  }
  if (delay_s)
    *delay_s = d;
  return 0;
}
