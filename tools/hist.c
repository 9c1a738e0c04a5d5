/* Latency histogram (log-linear buckets, HdrHistogram's layout and text output).
 *
 * Layout, with H = half_mag and S = 2^(H+1) sub-buckets per bucket: bucket 0
 * holds 0..S-1 at width 1; bucket b >= 1 holds [S * 2^(b-1), S * 2^b) at width
 * 2^b, and only its upper half of sub-buckets is new (the lower half would
 * repeat bucket b-1's range), so bucket b adds 2^H slots. A value v lands in
 * bucket b = max(0, floor(log2 v) - H), at index (b << H) + (v >> b). */
#include "hist.h"

#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Ticks per half distance to 100% in the text output; what HdrHistogram's
 * tools and wrk2 print, and what plots are usually compared at. */
#define RF_HIST_TICKS 5

static inline unsigned bucket_of(const rf_hist *h, uint64_t v) {
  /* The OR puts every v < S at bit H, which makes b = 0 without a branch. */
  return 63u - (unsigned)__builtin_clzll(v | h->sub_mask) - h->half_mag;
}

static inline size_t index_of(const rf_hist *h, uint64_t v) {
  unsigned b = bucket_of(h, v);
  return ((size_t)b << h->half_mag) + (size_t)(v >> b);
}

static unsigned bucket_at(const rf_hist *h, size_t i) {
  size_t top = i >> h->half_mag; /* b + 1, or 0..1 inside bucket 0 */
  return top ? (unsigned)top - 1 : 0;
}

static uint64_t lowest_at(const rf_hist *h, size_t i) {
  unsigned b = bucket_at(h, i);
  return (uint64_t)(i - ((size_t)b << h->half_mag)) << b;
}

/* Cannot overflow: the last slot's range ends at a power of two <= 2^64. */
static uint64_t highest_at(const rf_hist *h, size_t i) {
  return lowest_at(h, i) + (((uint64_t)1 << bucket_at(h, i)) - 1);
}

static uint64_t median_at(const rf_hist *h, size_t i) {
  return lowest_at(h, i) + (((uint64_t)1 << bucket_at(h, i)) >> 1);
}

static uint64_t clamp_u64(uint64_t v, uint64_t lo, uint64_t hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

/* Reported values never leave the range actually recorded: p100 is the exact
 * max rather than the top of its sub-bucket (which may exceed it). */
static uint64_t clamp_seen(const rf_hist *h, uint64_t v) { return clamp_u64(v, h->min, h->max); }

int rf_hist_init(rf_hist *h, uint64_t highest, int sig) {
  memset(h, 0, sizeof(*h));
  if (highest < 2 || sig < 1 || sig > 5)
    return -EINVAL;
  uint64_t need = 2;
  for (int i = 0; i < sig; i++)
    need *= 10;
  unsigned mag = 0; /* smallest mag with 2^mag >= 2 * 10^sig */
  while (((uint64_t)1 << mag) < need)
    mag++;
  h->half_mag = mag - 1;
  h->sub_mask = ((uint64_t)1 << mag) - 1;
  h->highest = highest;
  h->sig = sig;
  h->buckets = (int)bucket_of(h, highest) + 1;
  h->counts_len = (size_t)(h->buckets + 1) << h->half_mag;
  h->counts = calloc(h->counts_len, sizeof(h->counts[0]));
  if (!h->counts) {
    memset(h, 0, sizeof(*h));
    return -ENOMEM;
  }
  h->min = UINT64_MAX;
  return 0;
}

void rf_hist_free(rf_hist *h) {
  if (!h)
    return;
  free(h->counts);
  memset(h, 0, sizeof(*h));
}

size_t rf_hist_bytes(const rf_hist *h) { return sizeof(*h) + h->counts_len * sizeof(h->counts[0]); }

/* The hot path: selects instead of branches, one counter write. */
static inline void add_value(rf_hist *h, uint64_t v, uint64_t n) {
  uint64_t over = v > h->highest;
  v = over ? h->highest : v;
  v = v ? v : 1;
  h->saturated += over * n;
  h->counts[index_of(h, v)] += n;
  h->total += n;
  h->sum += (rf_hist_u128)v * n;
  h->min = v < h->min ? v : h->min;
  h->max = v > h->max ? v : h->max;
}

void rf_hist_record(rf_hist *h, uint64_t v) { add_value(h, v, 1); }

void rf_hist_record_n(rf_hist *h, uint64_t v, uint64_t n) {
  if (n) /* else min/max would move for nothing recorded */
    add_value(h, v, n);
}

void rf_hist_record_corrected(rf_hist *h, uint64_t v, uint64_t interval) {
  add_value(h, v, 1);
  if (interval == 0 || v <= interval)
    return;
  /* The samples a fixed-rate sender missed while v was outstanding are
   * x = v - interval, x - interval, ... down to >= interval: `left` of them.
   * Each sub-bucket's share is added at once rather than one by one. */
  uint64_t x = v - interval;
  uint64_t left = x / interval;
  if (left && x > h->highest) {
    /* the ones above highest all saturate to it */
    uint64_t c = (x - h->highest - 1) / interval + 1;
    c = c < left ? c : left;
    add_value(h, x, c);
    x -= c * interval; /* c <= x / interval: no wrap */
    left -= c;
  }
  while (left) {
    size_t i = index_of(h, x);
    uint64_t c = (x - lowest_at(h, i)) / interval + 1;
    c = c < left ? c : left;
    uint64_t last = x - (c - 1) * interval;
    h->counts[i] += c;
    h->total += c;
    /* x + (x - interval) + ... + last, exactly */
    h->sum += ((rf_hist_u128)x + last) * c / 2;
    h->min = last < h->min ? last : h->min;
    h->max = x > h->max ? x : h->max;
    left -= c;
    if (left)
      x = last - interval;
  }
}

int rf_hist_add(rf_hist *dst, const rf_hist *src) {
  if (!dst->counts || !src->counts || dst->highest != src->highest || dst->sig != src->sig)
    return -EINVAL;
  for (size_t i = 0; i < dst->counts_len; i++)
    dst->counts[i] += src->counts[i];
  dst->total += src->total;
  dst->saturated += src->saturated;
  dst->sum += src->sum;
  dst->min = src->min < dst->min ? src->min : dst->min;
  dst->max = src->max > dst->max ? src->max : dst->max;
  return 0;
}

void rf_hist_reset(rf_hist *h) {
  if (h->counts)
    memset(h->counts, 0, h->counts_len * sizeof(h->counts[0]));
  h->total = h->saturated = h->max = 0;
  h->sum = 0;
  h->min = UINT64_MAX;
}

uint64_t rf_hist_count(const rf_hist *h) { return h->total; }
uint64_t rf_hist_saturated(const rf_hist *h) { return h->saturated; }
uint64_t rf_hist_min(const rf_hist *h) { return h->total ? h->min : 0; }
uint64_t rf_hist_max(const rf_hist *h) { return h->total ? h->max : 0; }

double rf_hist_mean(const rf_hist *h) { return h->total ? (double)h->sum / (double)h->total : 0.0; }

double rf_hist_stddev(const rf_hist *h) {
  if (!h->total)
    return 0.0;
  /* Deviations are taken from the buckets' own mean, not the exact one, so
   * that values sharing one sub-bucket give 0 rather than the offset between
   * their midpoint and their true mean. */
  double n = (double)h->total, mean = 0.0, dev2 = 0.0;
  for (size_t i = 0; i < h->counts_len; i++)
    if (h->counts[i])
      mean += (double)median_at(h, i) * ((double)h->counts[i] / n);
  for (size_t i = 0; i < h->counts_len; i++)
    if (h->counts[i]) {
      double d = (double)median_at(h, i) - mean;
      dev2 += d * d * (double)h->counts[i];
    }
  return sqrt(dev2 / n);
}

uint64_t rf_hist_percentile(const rf_hist *h, double p) {
  if (!h->total)
    return 0;
  if (!(p > 0.0)) /* also NaN */
    p = 0.0;
  if (p > 100.0)
    p = 100.0;
  /* One ulp down, as HdrHistogram does: 16.1% of 1000 computes as
   * 161.00000000000003, which would round up to the 162nd value. */
  double q = p > 0.0 ? nextafter(p, 0.0) : 0.0;
  double want_f = ceil(q * (double)h->total / 100.0);
  uint64_t want = want_f < 1.0 ? 1 : want_f >= (double)h->total ? h->total : (uint64_t)want_f;
  uint64_t cum = 0;
  for (size_t i = 0; i < h->counts_len; i++) {
    cum += h->counts[i];
    if (cum >= want)
      return clamp_seen(h, p == 0.0 ? lowest_at(h, i) : highest_at(h, i));
  }
  return h->max; /* not reached: the counts add up to total */
}

double rf_hist_fraction_le(const rf_hist *h, uint64_t v) {
  if (!h->total)
    return 0.0;
  if (v == 0)
    return 0.0; /* nothing is recorded below 1 */
  size_t last = index_of(h, v > h->highest ? h->highest : v);
  uint64_t cum = 0;
  for (size_t i = 0; i <= last; i++)
    cum += h->counts[i];
  return (double)cum / (double)h->total;
}

uint64_t rf_hist_count_between(const rf_hist *h, uint64_t lo, uint64_t hi) {
  if (!h->total || lo > hi || hi == 0)
    return 0;
  size_t a = index_of(h, clamp_u64(lo, 1, h->highest));
  size_t b = index_of(h, clamp_u64(hi, 1, h->highest));
  uint64_t n = 0;
  for (size_t i = a; i <= b; i++)
    n += h->counts[i];
  return n;
}

double rf_hist_within_stdev(const rf_hist *h, double k) {
  if (!h->total)
    return 0.0;
  double mean = rf_hist_mean(h), sd = rf_hist_stddev(h);
  double lo = ceil(mean - k * sd), hi = floor(mean + k * sd);
  if (!(hi >= 1.0) || lo > hi) /* also NaN k */
    return 0.0;
  uint64_t a = lo < 1.0 ? 1 : (uint64_t)lo;
  uint64_t b = hi >= (double)h->highest ? h->highest : (uint64_t)hi;
  return (double)rf_hist_count_between(h, a, b) / (double)h->total;
}

/* ---- text output -------------------------------------------------------- */

__attribute__((format(printf, 2, 3))) static int out(FILE *f, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = vfprintf(f, fmt, ap);
  va_end(ap);
  if (r < 0)
    return errno ? -errno : -EIO;
  return 0;
}

/* Percentile level (in %) after `level`: each half of the remaining distance
 * to 100% gets RF_HIST_TICKS equal steps, so the rows thin out on a log scale
 * of 1/(1-p) the way HdrHistogram's PercentileIterator steps. */
static double next_level(double level) {
  double halvings = floor(log2(100.0 / (100.0 - level)));
  return level + 100.0 / (RF_HIST_TICKS * ldexp(1.0, (int)halvings + 1));
}

static int write_rows(const rf_hist *h, FILE *f, double ratio) {
  int d = h->sig, r;
  if ((r = out(f, "%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)")))
    return r;
  double total = (double)h->total, level = 0.0;
  uint64_t cum = 0;
  for (size_t i = 0; i < h->counts_len && h->total; i++) {
    if (!h->counts[i])
      continue;
    cum += h->counts[i];
    double value = (double)clamp_seen(h, highest_at(h, i)) / ratio;
    /* One sub-bucket can cover several levels: one row per level reached.
     * The level can only reach 100 by rounding, after ~1e14 values. */
    while (level < 100.0 && 100.0 * (double)cum / total >= level) {
      double p = level / 100.0;
      if ((r = out(f, "%12.*f %2.12f %10" PRIu64 " %14.2f\n", d, value, p, cum, 1.0 / (1.0 - p))))
        return r;
      if (cum == h->total)
        break;
      level = next_level(level);
    }
    if (cum == h->total) /* the closing 100% row has no 1/(1-p) */
      return out(f, "%12.*f %2.12f %10" PRIu64 "\n", d, value, 1.0, cum);
  }
  return 0;
}

int rf_hist_write_percentiles(const rf_hist *h, FILE *f, double unit_ratio) {
  if (!h->counts || !f || !(unit_ratio > 0.0) || isinf(unit_ratio))
    return -EINVAL;
  /* Plotting tools parse '.' decimals; a caller's setlocale must not change that. */
  locale_t c_loc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
  if (!c_loc)
    return -ENOMEM;
  locale_t old = uselocale(c_loc);
  int d = h->sig;
  int r = write_rows(h, f, unit_ratio);
  if (!r)
    r = out(f, "#[Mean    = %12.*f, StdDeviation   = %12.*f]\n", d, rf_hist_mean(h) / unit_ratio, d,
            rf_hist_stddev(h) / unit_ratio);
  if (!r)
    r = out(f, "#[Max     = %12.*f, Total count    = %12" PRIu64 "]\n", d,
            (double)rf_hist_max(h) / unit_ratio, h->total);
  if (!r)
    r = out(f, "#[Buckets = %12d, SubBuckets     = %12d]\n", h->buckets, (int)(h->sub_mask + 1));
  uselocale(old);
  freelocale(c_loc);
  return r;
}
