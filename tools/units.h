/* Numbers with units on the command line, all in one place (as wrk keeps
 * its units.c): plain and metric counts, curl's seconds, wrk's durations,
 * rates and the steps of a rate schedule. Each returns 0, or -1 for a
 * malformed or out-of-range value; the caller words the message. */
#ifndef RF_TOOLS_UNITS_H
#define RF_TOOLS_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* A decimal integer 0..max, no sign, no suffix: "100". */
int rf_cli_parse_uint(const char *s, unsigned long max, unsigned long *out);

/* A byte count, any size a uint64_t holds: "1048576". */
int rf_cli_parse_u64(const char *s, uint64_t *out);

/* A count with wrk's metric suffixes, 0..max: "100", "10k", "1.5M", "2G". */
int rf_cli_parse_count(const char *s, unsigned long max, unsigned long *out);

/* Seconds with decimals, as curl takes them ("2.5"), to milliseconds (at
 * least 1, at most 30 days). */
int rf_cli_parse_seconds(const char *s, unsigned *ms);

/* A duration as wrk takes it: "10s", "1.5s", "500ms", "250us", "2m", "1h",
 * "10" (seconds); to microseconds (at least 1, at most 30 days). */
int rf_cli_parse_duration(const char *s, uint64_t *us);

/* Requests per second with decimals, above 0 and at most 1e8: "2000", "0.5". */
int rf_cli_parse_rate(const char *s, double *rate);

/* One step of an open-loop schedule. */
typedef struct rf_rate_step {
  double rate;     /* requests per second */
  uint64_t dur_us;
} rf_rate_step;

/* One step "R:T" of a schedule (rate and duration as above). */
int rf_cli_parse_rate_step(const char *s, rf_rate_step *out);

#endif
