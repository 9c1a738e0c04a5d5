/* Latency histogram: HdrHistogram's log-linear bucketing, written for ringfetch.
 *
 * Values are unsigned integers (ringfetch records microseconds) in [1, highest].
 * With `sig` significant decimal digits, every value a query reports is within
 * a relative 10^-sig of a value that was recorded: buckets double in width, and
 * each is split into 2^k >= 2 * 10^sig sub-buckets, so a sub-bucket's width is
 * at most 10^-sig of the values it holds.
 *
 * Recording is O(1), branch-free and never allocates; the counts array is
 * allocated once by rf_hist_init (for highest = 3,600,000,000 and sig = 3:
 * 23,552 counters, 184 KiB).
 *
 * One rf_hist is for one thread: give each worker its own and merge them with
 * rf_hist_add. Nothing here touches global state or sets errno. */
#ifndef RF_TOOLS_HIST_H
#define RF_TOOLS_HIST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifndef __SIZEOF_INT128__
#error "rf_hist keeps an exact 128-bit sum of values: needs a compiler with unsigned __int128"
#endif
/* The exact sum of recorded values cannot overflow 64 bits' worth of counts. */
__extension__ typedef unsigned __int128 rf_hist_u128;

/* The fields are private: read them through the functions below. The caller
 * owns the struct; a zero-filled one is the "empty" state that rf_hist_free
 * accepts, so one cleanup path is always right. */
typedef struct rf_hist {
  uint64_t *counts;  /* counts_len slots, owned (NULL in the zero state) */
  size_t counts_len;
  uint64_t highest;  /* as given to rf_hist_init */
  uint64_t sub_mask; /* sub-bucket count - 1, OR-ed in so small values land in bucket 0 */
  unsigned half_mag; /* log2(sub-bucket count / 2) */
  int sig;
  int buckets; /* number of doubling buckets (HdrHistogram's bucketCount) */
  uint64_t total, saturated;
  uint64_t min, max; /* exact, after clamping into [1, highest]; min is UINT64_MAX when empty */
  rf_hist_u128 sum;  /* exact, of clamped values */
} rf_hist;

/* Sets up an empty histogram for values 1..highest with sig (1..5) significant
 * decimal digits. h's previous contents are ignored (free it first if it held
 * one). Returns 0, -EINVAL (highest < 2, sig out of range) or -ENOMEM; on error
 * h is left in the zero state. */
int rf_hist_init(rf_hist *h, uint64_t highest, int sig);

/* Releases the counts and leaves h in the zero state. Accepts NULL and a zero
 * (or already freed) histogram. */
void rf_hist_free(rf_hist *h);

/* Bytes the histogram uses: the struct plus its counts array. */
size_t rf_hist_bytes(const rf_hist *h);

/* Records one value (rf_hist_record_n: n values, n = 0 is a no-op). Values
 * below 1 count as 1; values above highest count as highest and are also
 * counted in rf_hist_saturated(). h must have been initialized. */
void rf_hist_record(rf_hist *h, uint64_t v);
void rf_hist_record_n(rf_hist *h, uint64_t v, uint64_t n);

/* Coordinated-omission correction, as HdrHistogram's recordCorrectedValue does
 * it: records v and, when expected_interval > 0 and v > expected_interval, the
 * samples a fixed-rate sender would have sent while waiting for v:
 * v - interval, v - 2*interval, ... down to the last one >= interval (e.g. v =
 * 1,000,000 and interval 10,000: 100 values, 1,000,000 .. 10,000).
 * Runs in time proportional to the number of sub-buckets those values span,
 * not to their number, so a huge v / interval ratio is cheap. */
void rf_hist_record_corrected(rf_hist *h, uint64_t v, uint64_t expected_interval);

/* Adds src's counts to dst (src may be dst). Both must have been initialized
 * with the same highest and sig. Returns 0 or -EINVAL (dst unchanged). */
int rf_hist_add(rf_hist *dst, const rf_hist *src);

/* Empties h, keeping its configuration and memory. */
void rf_hist_reset(rf_hist *h);

/* Number of values recorded (including saturated ones). */
uint64_t rf_hist_count(const rf_hist *h);

/* Number of values recorded that were above highest. */
uint64_t rf_hist_saturated(const rf_hist *h);

/* Smallest and largest values recorded, exactly (after clamping into
 * [1, highest]); 0 when h is empty. */
uint64_t rf_hist_min(const rf_hist *h);
uint64_t rf_hist_max(const rf_hist *h);

/* Mean of the recorded values: exact (from a running sum). 0 when empty. */
double rf_hist_mean(const rf_hist *h);

/* Population standard deviation, computed from the buckets the way
 * HdrHistogram does (each value taken as its sub-bucket's midpoint), so within
 * the histogram's precision. 0 when empty. */
double rf_hist_stddev(const rf_hist *h);

/* The value at percentile p (0..100; outside that range and NaN are clamped,
 * NaN to 0): like HdrHistogram's getValueAtPercentile, the highest value
 * equivalent to the smallest recorded value that at least p% of the values
 * are <= to (the lowest equivalent one for p = 0), except that the answer is
 * clamped into [rf_hist_min, rf_hist_max] so that p0 and p100 are the exact
 * min and max. The answer is >= the true percentile and within a relative
 * 10^-sig of it. 0 when h is empty. */
uint64_t rf_hist_percentile(const rf_hist *h, double p);

/* Fraction (0..1) of recorded values <= v, counting all values equivalent to
 * v (in v's sub-bucket) as <= v. 0 when h is empty. */
double rf_hist_fraction_le(const rf_hist *h, uint64_t v);

/* Number of recorded values in [lo, hi], at sub-bucket resolution (values
 * equivalent to lo or hi count). 0 when lo > hi. */
uint64_t rf_hist_count_between(const rf_hist *h, uint64_t lo, uint64_t hi);

/* Fraction (0..1) of recorded values within k standard deviations of the
 * mean: wrk's "+/- Stdev" column is rf_hist_within_stdev(h, 1.0). */
double rf_hist_within_stdev(const rf_hist *h, double k);

/* Writes the percentile distribution in HdrHistogram's text format (what
 * outputPercentileDistribution prints with 5 ticks per half distance), which
 * HdrHistogram's plotFiles.html and hdr-plot read:
 *
 *          Value     Percentile TotalCount 1/(1-Percentile)
 *
 *          0.001 0.000000000000          1           1.00
 *        100.031 0.100000000000     100031           1.11
 *        ...
 *       1000.000 0.999938964844    1000000       16384.00
 *       1000.000 1.000000000000    1000000
 *   #[Mean    =      500.000, StdDeviation   =      288.675]
 *   #[Max     =     1000.000, Total count    =      1000000]
 *   #[Buckets =           22, SubBuckets     =         2048]
 *
 * (1..1,000,000 us printed in ms.) One row per percentile level reached
 * (0%, 10%, .. 50%, 55%, .. 75%, 77.5%, ...: 5 steps per half of the
 * remaining distance to 100%), then a closing 100% row.
 *
 * Values are divided by unit_ratio (1000.0 prints milliseconds from
 * microseconds) and printed with sig decimals, always with '.' whatever the
 * process locale. Value columns follow rf_hist_percentile (so the last row is
 * rf_hist_max); Mean is rf_hist_mean. Returns 0, -EINVAL (bad unit_ratio,
 * uninitialized h), -ENOMEM, or the negative errno of a failed write (stdio
 * may buffer: an error can also surface at the caller's fflush/fclose). */
int rf_hist_write_percentiles(const rf_hist *h, FILE *f, double unit_ratio);

#endif
