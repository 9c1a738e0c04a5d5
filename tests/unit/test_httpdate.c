/* HTTP-date and Retry-After: the RFC 9110 examples in all three formats,
 * leap days, range checks, a day-by-day continuity pass over 1900..2100,
 * invalid dates (each truncation and many mutations too, every input ending
 * at a guard page), and Retry-After's seconds, dates and saturation. */
#include <errno.h>
#include <stdbool.h>

#include "proto/httpdate.h"
#include "testutil.h"

static int parse_guarded(const char *s, size_t n, int64_t *t) {
  tu_guard g;
  char *p = tu_guard_copy(&g, s, n);
  int rc = rf_http_date_parse(p, n, t);
  tu_guard_free(&g);
  return rc;
}

static void date_ok(const char *s, int64_t want) {
  int64_t t = 12345;
  int rc = parse_guarded(s, strlen(s), &t);
  CHECKF(rc == 0, "\"%s\": rc %d", s, rc);
  CHECKF(t == want, "\"%s\": %lld, want %lld", s, (long long)t, (long long)want);
}

static void date_bad_n(const char *s, size_t n) {
  int64_t t = 12345;
  int rc = parse_guarded(s, n, &t);
  CHECKF(rc == -EINVAL, "\"%.*s\": rc %d (want -EINVAL)", (int)n, s, rc);
  CHECKF(t == 12345, "\"%.*s\": output written on failure", (int)n, s);
}

static void date_bad(const char *s) { date_bad_n(s, strlen(s)); }

static void test_rfc_examples(void) {
  date_ok("Sun, 06 Nov 1994 08:49:37 GMT", 784111777);
  date_ok("Sunday, 06-Nov-94 08:49:37 GMT", 784111777);
  date_ok("Sun Nov  6 08:49:37 1994", 784111777);
  date_ok("Sun Nov 06 08:49:37 1994", 784111777); /* 2DIGIT is allowed too */
  /* the weekday is not checked against the date */
  date_ok("Mon, 06 Nov 1994 08:49:37 GMT", 784111777);
  date_ok("Friday, 06-Nov-94 08:49:37 GMT", 784111777);
  date_ok("Wed Nov  6 08:49:37 1994", 784111777);
}

static void test_values(void) {
  date_ok("Thu, 01 Jan 1970 00:00:00 GMT", 0);
  date_ok("Wed, 31 Dec 1969 23:59:59 GMT", -1);
  date_ok("Tue, 19 Jan 2038 03:14:08 GMT", 2147483648LL);
  date_ok("Fri, 31 Dec 9999 23:59:59 GMT", 253402300799LL);
  date_ok("Mon, 01 Jan 0001 00:00:00 GMT", -62135596800LL);
  date_ok("Sat, 01 Jan 0000 00:00:00 GMT", -62167219200LL);
  date_ok("Sat, 31 Dec 2016 23:59:60 GMT", 1483228800); /* a leap second */
  /* leap days */
  date_ok("Thu, 29 Feb 2024 12:00:00 GMT", 1709208000);
  date_ok("Thu Feb 29 12:00:00 2024", 1709208000);
  date_ok("Tue, 29 Feb 2000 00:00:00 GMT", 951782400);       /* divisible by 400 */
  date_ok("Tuesday, 29-Feb-00 00:00:00 GMT", 951782400);
  date_ok("Tue, 29 Feb 2400 00:00:00 GMT", 13574563200LL);
  date_ok("Monday, 29-Feb-04 06:07:08 GMT", 1078034828);     /* 2004 */
  date_ok("Mon Feb 29 06:07:08 1904", -2077725172LL);
  date_bad("Thu, 29 Feb 1900 00:00:00 GMT"); /* divisible by 100, not 400 */
  date_bad("Thu, 29 Feb 2100 00:00:00 GMT");
  date_bad("Wed, 29 Feb 2023 00:00:00 GMT");
  date_bad("Wed Feb 29 00:00:00 2023");
  date_bad("Wednesday, 29-Feb-23 00:00:00 GMT");
  /* RFC 850 two-digit years: 70..99 -> 19xx, 00..69 -> 20xx */
  date_ok("Thursday, 01-Jan-70 00:00:00 GMT", 0);
  date_ok("Friday, 31-Dec-99 23:59:59 GMT", 946684799);
  date_ok("Saturday, 01-Jan-00 00:00:00 GMT", 946684800);
  date_ok("Tuesday, 31-Dec-69 23:59:59 GMT", 3155759999LL);
  /* first and last second of every month of 2021 */
  static const char *const mon[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  static const int64_t first[12] = {1609459200, 1612137600, 1614556800, 1617235200,
                                    1619827200, 1622505600, 1625097600, 1627776000,
                                    1630454400, 1633046400, 1635724800, 1638316800};
  for (int m = 0; m < 12; m++) {
    char b[64];
    snprintf(b, sizeof b, "Fri, 01 %s 2021 00:00:00 GMT", mon[m]);
    date_ok(b, first[m]);
    snprintf(b, sizeof b, "Fri, %02d %s 2021 23:59:59 GMT", mdays[m], mon[m]);
    date_ok(b, first[m] + mdays[m] * 86400LL - 1);
    snprintf(b, sizeof b, "Fri, %02d %s 2021 00:00:00 GMT", mdays[m] + 1, mon[m]);
    date_bad(b);
  }
}

/* Every day of 1900..2100 in all three formats: each is exactly one day
 * after the one before, and the formats agree. Catches any slip in the
 * month table or the leap-year count without trusting another calendar. */
static void test_continuity(void) {
  static const char *const mon[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  int64_t prev = 0;
  bool have_prev = false;
  long days = 0, bad = 0;
  for (int y = 1900; y <= 2100; y++) {
    bool leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    for (int m = 0; m < 12; m++) {
      int md = (int[]){31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[m];
      for (int d = 1; d <= md; d++) {
        char a[64], b[64], c[64];
        int64_t ta = 0, tb = 0, tc = 0;
        snprintf(a, sizeof a, "Mon, %02d %s %04d 13:14:15 GMT", d, mon[m], y);
        snprintf(c, sizeof c, "Mon %s %2d 13:14:15 %04d", mon[m], d, y);
        int ra = rf_http_date_parse(a, strlen(a), &ta);
        int rc = rf_http_date_parse(c, strlen(c), &tc);
        bool ok = ra == 0 && rc == 0 && ta == tc && (!have_prev || ta - prev == 86400);
        if (y >= 1970 && y <= 2069) {
          snprintf(b, sizeof b, "Monday, %02d-%s-%02d 13:14:15 GMT", d, mon[m], y % 100);
          int rb = rf_http_date_parse(b, strlen(b), &tb);
          ok = ok && rb == 0 && tb == ta;
        }
        if (y == 1970 && m == 0 && d == 1)
          ok = ok && ta == 13 * 3600 + 14 * 60 + 15;
        if (!ok && bad++ < 5)
          CHECKF(ok, "%s / %s: %lld %lld %lld prev %lld", a, c, (long long)ta, (long long)tb,
                 (long long)tc, (long long)prev);
        prev = ta;
        have_prev = true;
        days++;
      }
    }
  }
  CHECKF(bad == 0 && days == 73414, "continuity: %ld days, %ld bad", days, bad);
}

static void test_invalid(void) {
  static const char *const bad[] = {
      "",
      "Sun",
      "Sun,",
      "Sun, ",
      "12a",
      "120",
      "-1",
      "soon",
      "Sun, 06 Xyz 1994 08:49:37 GMT",  /* bad month */
      "Sun, 06 nov 1994 08:49:37 GMT",  /* names are case-sensitive */
      "Sun, 06 NOV 1994 08:49:37 GMT",
      "sun, 06 Nov 1994 08:49:37 GMT",
      "Xyz, 06 Nov 1994 08:49:37 GMT",
      "Sun, 06 November 1994 08:49:37 GMT",
      "Sun, 30 Feb 1994 08:49:37 GMT",  /* Feb 30 */
      "Sun, 31 Apr 1994 08:49:37 GMT",
      "Sun, 31 Jun 1994 08:49:37 GMT",
      "Sun, 31 Sep 1994 08:49:37 GMT",
      "Sun, 31 Nov 1994 08:49:37 GMT",
      "Sun, 00 Nov 1994 08:49:37 GMT",
      "Sun, 32 Jan 1994 08:49:37 GMT",
      "Sun, 06 Nov 1994 08:49:37",      /* "GMT" missing */
      "Sun, 06 Nov 1994 08:49:37 UTC",
      "Sun, 06 Nov 1994 08:49:37 gmt",
      "Sun, 06 Nov 1994 08:49:37 +0000",
      "Sun, 06 Nov 1994 08:49:37 GMT ", /* trailing garbage */
      "Sun, 06 Nov 1994 08:49:37 GMTx",
      "Sun, 06 Nov 1994 08:49:37 GMT+1",
      " Sun, 06 Nov 1994 08:49:37 GMT", /* no surrounding whitespace here */
      "Sun,  06 Nov 1994 08:49:37 GMT",
      "Sun, 06 Nov  1994 08:49:37 GMT",
      "Sun,06 Nov 1994 08:49:37 GMT",
      "Sun, 24 Nov 1994 24:00:00 GMT",  /* hour */
      "Sun, 06 Nov 1994 08:60:37 GMT",  /* minute */
      "Sun, 06 Nov 1994 08:49:61 GMT",  /* second */
      "Sun, 06 Nov 1994 8:49:37 GMT",
      "Sun, 06 Nov 1994 08:49 GMT",
      "Sun, 06 Nov 1994 08.49.37 GMT",
      "Sun, 6 Nov 1994 08:49:37 GMT",   /* IMF-fixdate has a 2DIGIT day */
      "Sun, 06 Nov 94 08:49:37 GMT",    /* and a 4DIGIT year */
      "Sun, 06 Nov 01994 08:49:37 GMT",
      "Sun, -6 Nov 1994 08:49:37 GMT",  /* negative numbers */
      "Sun, 06 Nov -994 08:49:37 GMT",
      "Sun, 06 Nov 1994 -8:49:37 GMT",
      "Sun, +6 Nov 1994 08:49:37 GMT",
      "Sun, 06-Nov-1994 08:49:37 GMT",
      "Sun, 06 Nov 1994 08:49:37 GMT\r\n",
      "Sunday, 06-Nov-1994 08:49:37 GMT", /* RFC 850 has a 2DIGIT year */
      "Sunday, 06 Nov 1994 08:49:37 GMT",
      "Sunday, 6-Nov-94 08:49:37 GMT",
      "Sunday, 06-Nov-94 08:49:37",
      "Sunday, 06-nov-94 08:49:37 GMT",
      "Sunday, 06-Nov-94 08:49:37 GMT ",
      "sunday, 06-Nov-94 08:49:37 GMT",
      "Sundae, 06-Nov-94 08:49:37 GMT",
      "Sun, 06-Nov-94 08:49:37 GMT",    /* RFC 850 needs the full day name */
      "Sunday, -6-Nov-94 08:49:37 GMT",
      "Sunday, 06-Nov--4 08:49:37 GMT",
      "Sunday, 31-Nov-94 08:49:37 GMT",
      "Sun Nov 6 08:49:37 1994",        /* asctime pads with a space */
      "Sun Nov   6 08:49:37 1994",
      "Sun Nov  6 08:49:37 94",
      "Sun Nov  6 08:49:37 1994 GMT",
      "Sun Nov  6 08:49:37 1994 ",
      "Sun Nov  6 08:49:37  1994",
      "Sun  Nov  6 08:49:37 1994",
      "Sunday Nov  6 08:49:37 1994",
      "Sun Nov 31 08:49:37 1994",
      "Sun Nov  0 08:49:37 1994",
      "Sun Nov -6 08:49:37 1994",
      "Sun Nov  6 25:49:37 1994",
      "1994-11-06T08:49:37Z",
      "784111777",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    date_bad(bad[i]);
  date_bad_n("Sun, 06 Nov 1994 08:49:37 GMT\0", 30);
  date_bad_n("Sun, 06 Nov 1994\0 08:49:37 GMT", 30);
  /* NULL is an error, a NULL result pointer is allowed */
  CHECK_EQ_INT(rf_http_date_parse(NULL, 0, NULL), -EINVAL);
  const char *ok = "Sun, 06 Nov 1994 08:49:37 GMT";
  CHECK_EQ_INT(rf_http_date_parse(ok, strlen(ok), NULL), 0);
}

/* Every proper prefix is invalid; single-byte replacements either parse to
 * a value inside the years 0..9999 or are rejected, and nothing reads past
 * the end (the input ends at a guard page). */
static void test_brute(void) {
  static const char *const goods[] = {
      "Sun, 06 Nov 1994 08:49:37 GMT",
      "Sunday, 06-Nov-94 08:49:37 GMT",
      "Sun Nov  6 08:49:37 1994",
      "Wednesday, 29-Feb-00 23:59:60 GMT",
  };
  static const unsigned char bytes[] = {0,   ' ', ',', '-', ':', '0', '1', '2', '3', '5',
                                        '6', '9', 'A', 'G', 'M', 'T', 'a', 'n', 'y', 0xff};
  tu_guard g;
  char *end = tu_guard_alloc(&g, 64) + 64;
  long parsed = 0, rejected = 0;
  for (size_t k = 0; k < sizeof goods / sizeof goods[0]; k++) {
    size_t len = strlen(goods[k]);
    for (size_t n = 0; n < len; n++) {
      int64_t t;
      char *p = memcpy(end - n, goods[k], n);
      CHECKF(rf_http_date_parse(p, n, &t) == -EINVAL, "prefix %zu of %s", n, goods[k]);
    }
    for (size_t i = 0; i < len; i++) {
      for (size_t b = 0; b < sizeof bytes; b++) {
        char *p = memcpy(end - len, goods[k], len);
        p[i] = (char)bytes[b];
        int64_t t = 0;
        int rc = rf_http_date_parse(p, len, &t);
        tu_checks++;
        if (rc == 0) {
          parsed++;
          if (t < -62167219200LL || t > 253402300800LL) {
            tu_fail_head(__FILE__, __LINE__, "mutated date out of range");
            fprintf(stderr, " [%.*s -> %lld]\n", (int)len, p, (long long)t);
          }
        } else {
          rejected++;
          if (rc != -EINVAL)
            tu_fail_head(__FILE__, __LINE__, "mutated date: rc not -EINVAL\n");
        }
      }
    }
  }
  CHECKF(parsed > 0 && rejected > 0, "brute: %ld parsed %ld rejected", parsed, rejected);
  tu_guard_free(&g);
}

/* ---- Retry-After -------------------------------------------------------- */

static void ra_ok(const char *v, int64_t now, uint64_t want) {
  tu_guard g;
  size_t n = strlen(v);
  char *p = tu_guard_copy(&g, v, n);
  uint64_t d = 777;
  int rc = rf_retry_after_parse(p, n, now, &d);
  CHECKF(rc == 0, "Retry-After \"%s\": rc %d", v, rc);
  CHECKF(d == want, "Retry-After \"%s\" (now %lld): %llu, want %llu", v, (long long)now,
         (unsigned long long)d, (unsigned long long)want);
  tu_guard_free(&g);
}

static void ra_bad_n(const char *v, size_t n) {
  tu_guard g;
  char *p = tu_guard_copy(&g, v, n);
  uint64_t d = 777;
  int rc = rf_retry_after_parse(p, n, 784111777, &d);
  CHECKF(rc == -EINVAL, "Retry-After \"%.*s\": rc %d (want -EINVAL)", (int)n, v, rc);
  CHECKF(d == 777, "Retry-After \"%.*s\": output written on failure", (int)n, v);
  tu_guard_free(&g);
}

static void ra_bad(const char *v) { ra_bad_n(v, strlen(v)); }

static void test_retry_after(void) {
  const int64_t date = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */
  ra_ok("120", 0, 120);
  ra_ok(" 120 ", 0, 120);
  ra_ok("\t 120\t", 0, 120);
  ra_ok("0", 0, 0);
  ra_ok("000120", 0, 120);
  ra_ok("1", date, 1);
  ra_ok("4294967294", 0, 4294967294u);
  ra_ok("4294967295", 0, UINT32_MAX);
  ra_ok("4294967296", 0, UINT32_MAX);
  ra_ok("99999999999999999999", 0, UINT32_MAX);
  ra_ok("99999999999999999999999999999999999999999999999999", 0, UINT32_MAX);
  /* a date two minutes after now, in each format */
  ra_ok("Sun, 06 Nov 1994 08:49:37 GMT", date - 120, 120);
  ra_ok("Sunday, 06-Nov-94 08:49:37 GMT", date - 120, 120);
  ra_ok("Sun Nov  6 08:49:37 1994", date - 120, 120);
  ra_ok("  Sun, 06 Nov 1994 08:49:37 GMT\t", date - 120, 120);
  /* now and the past give 0 */
  ra_ok("Sun, 06 Nov 1994 08:49:37 GMT", date, 0);
  ra_ok("Sun, 06 Nov 1994 08:49:37 GMT", date + 1, 0);
  ra_ok("Thu, 01 Jan 1970 00:00:00 GMT", 1700000000, 0);
  ra_ok("Sat, 01 Jan 0000 00:00:00 GMT", INT64_MAX, 0);
  /* far future saturates, and an extreme clock does not overflow */
  ra_ok("Fri, 31 Dec 9999 23:59:59 GMT", 0, UINT32_MAX);
  ra_ok("Fri, 31 Dec 9999 23:59:59 GMT", INT64_MIN, UINT32_MAX);
  ra_ok("Fri, 31 Dec 9999 23:59:59 GMT", 253402300799LL - 4294967295LL, UINT32_MAX);
  ra_ok("Fri, 31 Dec 9999 23:59:59 GMT", 253402300799LL - 4294967294LL, 4294967294u);
  /* neither */
  ra_bad("-1");
  ra_bad("");
  ra_bad("   ");
  ra_bad("\t");
  ra_bad("soon");
  ra_bad("12a");
  ra_bad("1 2");
  ra_bad("+5");
  ra_bad("1.5");
  ra_bad("0x10");
  ra_bad("120s");
  ra_bad("99999999999999999999x");
  ra_bad("Sun, 06 Nov 1994 08:49:37 GMT x");
  ra_bad("Sun, 31 Nov 1994 08:49:37 GMT");
  ra_bad("120\r\n");
  ra_bad_n("120\0", 4);
  ra_bad_n("\0" "120", 4);
  uint64_t d;
  CHECK_EQ_INT(rf_retry_after_parse(NULL, 0, 0, &d), -EINVAL);
  CHECK_EQ_INT(rf_retry_after_parse("5", 1, 0, NULL), 0);
}

int main(void) {
  test_rfc_examples();
  test_values();
  test_continuity();
  test_invalid();
  test_brute();
  test_retry_after();
  return TU_EXIT();
}
