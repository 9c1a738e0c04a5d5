/* HTTP-date (RFC 9110 section 5.6.7) and Retry-After (section 10.2.3).
 *
 * Pure arithmetic: no timegm/mktime, no locale, no TZ. */
#ifndef RF_PROTO_HTTPDATE_H
#define RF_PROTO_HTTPDATE_H

#include <stddef.h>
#include <stdint.h>

/* Parses an HTTP-date in any of the three formats a recipient must accept
 * (IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT",
 * asctime "Sun Nov  6 08:49:37 1994") into seconds since the Unix epoch.
 * Returns 0 or -EINVAL. s is not NUL-terminated.
 *
 * The grammar is followed exactly (case-sensitive names, fixed digit counts,
 * single spaces, nothing before or after); the weekday is not checked
 * against the date. Day, hour, minute and second (0..60) are range-checked,
 * the day against the month's length in the proleptic Gregorian calendar.
 * RFC 850's two-digit years: 70..99 are 19xx, 00..69 are 20xx. */
int rf_http_date_parse(const char *s, size_t len, int64_t *unix_s);

/* A Retry-After value: delay-seconds (1*DIGIT) or an HTTP-date. now_unix_s is
 * the reference time (the caller passes the response's Date header when it has
 * one, which cancels clock skew, else its own clock). Returns 0 with *delay_s
 * set (a date in the past gives 0; huge numbers saturate at UINT32_MAX), or
 * -EINVAL when the value is neither. Surrounding spaces/tabs are ignored. */
int rf_retry_after_parse(const char *v, size_t len, int64_t now_unix_s, uint64_t *delay_s);

#endif
