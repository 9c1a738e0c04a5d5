/* Latency histogram: percentiles within the stated precision at every
 * magnitude from 1 us to 1 h, exact count/min/max/mean, stddev within the
 * bucketing, saturation, merging, coordinated-omission correction (against
 * HdrHistogram's one-sample-at-a-time definition), and the percentile text
 * format: a hand-derived golden file plus a parse of large outputs. */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <time.h>

#include "testutil.h"
#include "tools/hist.h"

#define HOUR_US 3600000000ull

/* ---- helpers ------------------------------------------------------------ */

typedef struct rng {
  uint64_t s;
} rng;

static uint64_t rng_next(rng *r) { /* xorshift64* */
  r->s ^= r->s >> 12;
  r->s ^= r->s << 25;
  r->s ^= r->s >> 27;
  return r->s * 0x2545F4914F6CDD1Dull;
}

static double rng_unit(rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

/* log-uniform over [1, hi]: every magnitude equally likely */
static uint64_t rng_log(rng *r, uint64_t hi) {
  uint64_t v = (uint64_t)exp(rng_unit(r) * log((double)hi));
  return v < 1 ? 1 : v > hi ? hi : v;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int init_ok(rf_hist *h, uint64_t highest, int sig) {
  int r = rf_hist_init(h, highest, sig);
  CHECK_EQ_INT(r, 0);
  if (r) {
    fprintf(stderr, "cannot go on without a histogram\n");
    exit(2);
  }
  return r;
}

/* What rf_hist_write_percentiles wrote, as a NUL-terminated string. */
static char *render(const rf_hist *h, double ratio, int *ret) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) {
    perror("open_memstream");
    exit(2);
  }
  *ret = rf_hist_write_percentiles(h, f, ratio);
  fclose(f);
  return buf;
}

/* |got - want| <= rel * want */
#define CHECK_REL(got, want, rel)                                                                  \
  CHECKF(fabs((double)(got) - (double)(want)) <= (rel) * fabs((double)(want)),                     \
         "got %.6f want %.6f (rel %g)", (double)(got), (double)(want), (double)(rel))

/* A reported percentile r for a true order statistic v: never below it, and
 * above it by at most v * 10^-sig (the sub-bucket width). */
#define CHECK_WITHIN_PRECISION(r, v, sig)                                                          \
  CHECKF((r) >= (v) && (double)((r) - (v)) <= (double)(v) * pow(10.0, -(sig)),                     \
         "reported %" PRIu64 " for %" PRIu64 " (sig %d): off by %.5f%%", (uint64_t)(r),           \
         (uint64_t)(v), (sig), 100.0 * ((double)(r) - (double)(v)) / (double)(v))

/* ---- configuration and memory -------------------------------------------- */

static void test_init(void) {
  rf_hist h;
  memset(&h, 0xab, sizeof(h));
  CHECK_EQ_INT(rf_hist_init(&h, 1, 3), -EINVAL);
  CHECK(h.counts == NULL); /* the zero state: freeing it is fine */
  rf_hist_free(&h);
  CHECK_EQ_INT(rf_hist_init(&h, HOUR_US, 0), -EINVAL);
  CHECK_EQ_INT(rf_hist_init(&h, HOUR_US, 6), -EINVAL);
  CHECK_EQ_INT(rf_hist_init(&h, HOUR_US, -1), -EINVAL);
  rf_hist_free(NULL);

  /* ringfetch's configuration: a few hundred KiB at most */
  init_ok(&h, HOUR_US, 3);
  size_t bytes = rf_hist_bytes(&h);
  fprintf(stderr, "  memory for 1 us .. 1 h at 3 digits: %zu bytes (%.1f KiB)\n", bytes,
          (double)bytes / 1024.0);
  CHECKF(bytes < 512 * 1024, "%zu bytes", bytes);
  CHECK_EQ_INT(rf_hist_count(&h), 0);
  CHECK_EQ_INT(rf_hist_min(&h), 0);
  CHECK_EQ_INT(rf_hist_max(&h), 0);
  CHECK_EQ_INT(rf_hist_percentile(&h, 50), 0);
  CHECK(rf_hist_mean(&h) == 0.0 && rf_hist_stddev(&h) == 0.0);
  rf_hist_free(&h);
  rf_hist_free(&h); /* twice is fine */

  /* the whole uint64 range works (no overflow at the top sub-bucket) */
  init_ok(&h, UINT64_MAX, 3);
  rf_hist_record(&h, UINT64_MAX);
  rf_hist_record(&h, UINT64_MAX - 1);
  rf_hist_record(&h, 1);
  CHECK(rf_hist_max(&h) == UINT64_MAX);
  CHECK(rf_hist_percentile(&h, 100) == UINT64_MAX);
  CHECK(rf_hist_percentile(&h, 50) == UINT64_MAX); /* same sub-bucket as the max */
  CHECK_EQ_INT(rf_hist_saturated(&h), 0);
  CHECK_REL(rf_hist_mean(&h), (2.0 * 18446744073709551615.0) / 3.0, 1e-12);
  rf_hist_free(&h);
}

/* ---- percentiles -------------------------------------------------------- */

static void test_uniform(void) {
  const uint64_t n = 1000000;
  rf_hist h;
  init_ok(&h, HOUR_US, 3);
  for (uint64_t v = 1; v <= n; v++)
    rf_hist_record(&h, v);
  CHECK_EQ_INT(rf_hist_count(&h), n);
  CHECK_EQ_INT(rf_hist_min(&h), 1);
  CHECK_EQ_INT(rf_hist_max(&h), n);
  CHECK(rf_hist_mean(&h) == 500000.5); /* exact: a running sum */
  CHECK_REL(rf_hist_stddev(&h), sqrt(((double)n * (double)n - 1.0) / 12.0), 1e-3);
  CHECK_EQ_INT(rf_hist_percentile(&h, 0), 1);
  CHECK_EQ_INT(rf_hist_percentile(&h, 100), n);

  /* p in parts per million, so the true order statistic is exact integer math */
  static const uint64_t ppm[] = {1,      10,     1000,   100000, 250000, 500000, 750000,
                                 900000, 990000, 999000, 999900, 999990, 999999};
  for (size_t i = 0; i < sizeof(ppm) / sizeof(ppm[0]); i++) {
    uint64_t want = (ppm[i] * n + 999999) / 1000000; /* rank ceil(p * n), value == rank */
    uint64_t got = rf_hist_percentile(&h, (double)ppm[i] / 10000.0);
    CHECK_WITHIN_PRECISION(got, want, 3);
  }
  uint64_t p50 = rf_hist_percentile(&h, 50), p99 = rf_hist_percentile(&h, 99),
           p999 = rf_hist_percentile(&h, 99.9);
  fprintf(stderr, "  uniform 1..1e6: p50 %" PRIu64 " p99 %" PRIu64 " p99.9 %" PRIu64 "\n", p50, p99,
          p999);
  CHECK(p50 >= 500000 && p50 <= 500500);
  CHECK(p99 >= 990000 && p99 <= 990990);
  CHECK(p999 >= 999000 && p999 <= 999999);

  /* p outside 0..100 is clamped; NaN counts as 0 */
  CHECK_EQ_INT(rf_hist_percentile(&h, -5), 1);
  CHECK_EQ_INT(rf_hist_percentile(&h, 250), n);
  CHECK_EQ_INT(rf_hist_percentile(&h, NAN), 1);
  rf_hist_free(&h);
}

/* Below 2048 every value has its own sub-bucket, so percentiles are exact:
 * p% of 1..1000 is the value ceil(p * 10), also where p * 1000 / 100 lands
 * a hair above an integer in binary (16.1% -> 161, not 162). */
static void test_exact_ranks(void) {
  rf_hist h;
  init_ok(&h, HOUR_US, 3);
  for (uint64_t v = 1; v <= 1000; v++)
    rf_hist_record(&h, v);
  int before = tu_failures;
  for (uint64_t k = 1; k <= 1000 && tu_failures - before < 10; k++) {
    uint64_t got = rf_hist_percentile(&h, (double)k / 10.0);
    CHECKF(got == k, "p%.1f of 1..1000: %" PRIu64, (double)k / 10.0, got);
  }
  rf_hist_free(&h);
}

/* One histogram holding values at every magnitude (dense log spacing, both
 * sides of every power of two, random ones); the k-th smallest is asked for
 * by percentile and must come back within the precision. */
static void sweep(int sig, double step, size_t n_random) {
  size_t cap = 100000, n = 0;
  uint64_t *vals = malloc(cap * sizeof(*vals));
  if (!vals)
    exit(2);
  for (double x = 1.0; x <= (double)HOUR_US && n < cap; x = x * step + 1.0)
    vals[n++] = (uint64_t)x;
  for (int k = 1; k < 32 && n + 3 <= cap; k++) {
    vals[n++] = (1ull << k) - 1;
    vals[n++] = 1ull << k;
    vals[n++] = (1ull << k) + 1;
  }
  vals[n++] = HOUR_US;
  rng r = {0x1234567ull + (uint64_t)sig};
  for (size_t i = 0; i < n_random && n < cap; i++)
    vals[n++] = rng_log(&r, HOUR_US);
  qsort(vals, n, sizeof(*vals), cmp_u64);

  rf_hist h;
  init_ok(&h, HOUR_US, sig);
  for (size_t i = 0; i < n; i++)
    rf_hist_record(&h, vals[i]);
  double worst = 0;
  int before = tu_failures;
  for (size_t k = 1; k <= n && tu_failures - before < 10; k++) {
    /* halfway into rank k's share: rank k whatever the rounding */
    uint64_t got = rf_hist_percentile(&h, 100.0 * ((double)k - 0.5) / (double)n);
    uint64_t want = vals[k - 1];
    CHECK_WITHIN_PRECISION(got, want, sig);
    double rel = ((double)got - (double)want) / (double)want;
    worst = rel > worst ? rel : worst;
  }
  fprintf(stderr, "  sig %d: %zu values 1 us .. 1 h, worst relative error %.5f%% (bound %g%%)\n", sig,
          n, 100.0 * worst, 100.0 * pow(10.0, -sig));
  rf_hist_free(&h);
  free(vals);
}

static void test_precision_all_magnitudes(void) {
  sweep(3, 1.003, 2000); /* ringfetch's setting: densely */
  sweep(1, 1.05, 300);
  sweep(2, 1.05, 300);
  sweep(4, 1.2, 100);
  sweep(5, 1.5, 30);
}

/* Heavy-tailed data against the exact order statistics, mean and stddev. */
static void test_random_vs_exact(void) {
  const size_t n = 200000;
  uint64_t *vals = malloc(n * sizeof(*vals));
  if (!vals)
    exit(2);
  rng r = {42};
  rf_hist h;
  init_ok(&h, HOUR_US, 3);
  double sum = 0;
  for (size_t i = 0; i < n; i++) {
    vals[i] = rng_log(&r, HOUR_US);
    sum += (double)vals[i];
    rf_hist_record(&h, vals[i]);
  }
  double mean = sum / (double)n, dev2 = 0;
  for (size_t i = 0; i < n; i++)
    dev2 += ((double)vals[i] - mean) * ((double)vals[i] - mean);
  qsort(vals, n, sizeof(*vals), cmp_u64);

  CHECK_EQ_INT(rf_hist_count(&h), n);
  CHECK(rf_hist_min(&h) == vals[0]);
  CHECK(rf_hist_max(&h) == vals[n - 1]);
  CHECK_REL(rf_hist_mean(&h), mean, 1e-12);
  CHECK_REL(rf_hist_stddev(&h), sqrt(dev2 / (double)n), 1e-3);
  static const double ps[] = {0, 0.1, 1, 5, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 99.999, 100};
  for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
    size_t rank = (size_t)ceil(ps[i] / 100.0 * (double)n - 1e-9);
    rank = rank < 1 ? 1 : rank;
    CHECK_WITHIN_PRECISION(rf_hist_percentile(&h, ps[i]), vals[rank - 1], 3);
  }
  rf_hist_free(&h);
  free(vals);
}

/* ---- saturation, n, reset --------------------------------------------- */

static void test_saturation(void) {
  rf_hist h;
  init_ok(&h, HOUR_US, 3);
  rf_hist_record(&h, 5000000000ull);
  rf_hist_record(&h, UINT64_MAX);
  rf_hist_record_n(&h, 4000000000ull, 3);
  rf_hist_record(&h, HOUR_US); /* exactly highest: not saturated */
  rf_hist_record(&h, 0);       /* counts as 1 */
  CHECK_EQ_INT(rf_hist_count(&h), 7);
  CHECK_EQ_INT(rf_hist_saturated(&h), 5);
  CHECK(rf_hist_max(&h) == HOUR_US);
  CHECK_EQ_INT(rf_hist_min(&h), 1);
  CHECK(rf_hist_percentile(&h, 100) == HOUR_US);
  CHECK(rf_hist_percentile(&h, 50) == HOUR_US);
  CHECK_EQ_INT(rf_hist_percentile(&h, 0), 1);
  CHECK(rf_hist_mean(&h) == (6.0 * (double)HOUR_US + 1.0) / 7.0);
  CHECK_EQ_INT(rf_hist_count_between(&h, HOUR_US, UINT64_MAX), 6);
  rf_hist_free(&h);
}

static void test_record_n_and_reset(void) {
  rf_hist h;
  init_ok(&h, HOUR_US, 3);
  rf_hist_record_n(&h, 5, 0); /* records nothing, not even a min */
  CHECK_EQ_INT(rf_hist_count(&h), 0);
  rf_hist_record(&h, 10);
  CHECK_EQ_INT(rf_hist_min(&h), 10);
  rf_hist_record_n(&h, 1000, 999);
  CHECK_EQ_INT(rf_hist_count(&h), 1000);
  CHECK_EQ_INT(rf_hist_percentile(&h, 0.1), 10);
  CHECK_EQ_INT(rf_hist_percentile(&h, 0.2), 1000);
  CHECK(rf_hist_mean(&h) == (10.0 + 999.0 * 1000.0) / 1000.0);

  int r1, r2;
  rf_hist empty;
  init_ok(&empty, HOUR_US, 3);
  rf_hist_reset(&h);
  CHECK_EQ_INT(rf_hist_count(&h), 0);
  CHECK_EQ_INT(rf_hist_min(&h), 0);
  CHECK_EQ_INT(rf_hist_max(&h), 0);
  CHECK_EQ_INT(rf_hist_percentile(&h, 99), 0);
  CHECK(rf_hist_mean(&h) == 0.0 && rf_hist_stddev(&h) == 0.0);
  char *a = render(&h, 1.0, &r1), *b = render(&empty, 1.0, &r2);
  CHECK_EQ_STR(a, b);
  free(a);
  free(b);
  rf_hist_record(&h, 42);
  CHECK_EQ_INT(rf_hist_percentile(&h, 50), 42);
  CHECK_EQ_INT(rf_hist_min(&h), 42);
  rf_hist_free(&h);
  rf_hist_free(&empty);
}

/* ---- merging ------------------------------------------------------------ */

/* Same counts in every sub-bucket and same summary: what any query sees. */
static void check_same(const rf_hist *a, const rf_hist *b, const char *what) {
  CHECKF(a->counts_len == b->counts_len &&
             memcmp(a->counts, b->counts, a->counts_len * sizeof(a->counts[0])) == 0,
         "%s: sub-bucket counts differ", what);
  CHECKF(rf_hist_count(a) == rf_hist_count(b), "%s: count %" PRIu64 " vs %" PRIu64, what,
         rf_hist_count(a), rf_hist_count(b));
  CHECKF(rf_hist_saturated(a) == rf_hist_saturated(b), "%s: saturated", what);
  CHECKF(rf_hist_min(a) == rf_hist_min(b), "%s: min %" PRIu64 " vs %" PRIu64, what, rf_hist_min(a),
         rf_hist_min(b));
  CHECKF(rf_hist_max(a) == rf_hist_max(b), "%s: max %" PRIu64 " vs %" PRIu64, what, rf_hist_max(a),
         rf_hist_max(b));
  CHECKF(rf_hist_mean(a) == rf_hist_mean(b), "%s: mean %.6f vs %.6f", what, rf_hist_mean(a),
         rf_hist_mean(b));
  CHECKF(rf_hist_stddev(a) == rf_hist_stddev(b), "%s: stddev", what);
  int r1, r2;
  char *ta = render(a, 1000.0, &r1), *tb = render(b, 1000.0, &r2);
  CHECKF(r1 == 0 && r2 == 0 && strcmp(ta, tb) == 0, "%s: percentile text differs", what);
  free(ta);
  free(tb);
}

static void test_merge(void) {
  rf_hist a, b, all;
  init_ok(&a, HOUR_US, 3);
  init_ok(&b, HOUR_US, 3);
  init_ok(&all, HOUR_US, 3);
  rng r = {7};
  for (int i = 0; i < 100000; i++) {
    uint64_t v = rng_log(&r, HOUR_US);
    rf_hist_record(i % 3 ? &a : &b, v);
    rf_hist_record(&all, v);
  }
  rf_hist_record(&b, HOUR_US * 2); /* saturation is merged too */
  rf_hist_record(&all, HOUR_US * 2);
  rf_hist_record(&a, 0);
  rf_hist_record(&all, 0);
  CHECK_EQ_INT(rf_hist_add(&a, &b), 0);
  check_same(&a, &all, "a + b vs all");

  /* into an empty one */
  rf_hist e;
  init_ok(&e, HOUR_US, 3);
  CHECK_EQ_INT(rf_hist_add(&e, &all), 0);
  check_same(&e, &all, "empty + all vs all");
  /* an empty one into an empty one stays empty */
  rf_hist e2;
  init_ok(&e2, HOUR_US, 3);
  rf_hist_reset(&e);
  CHECK_EQ_INT(rf_hist_add(&e, &e2), 0);
  CHECK_EQ_INT(rf_hist_count(&e), 0);
  CHECK_EQ_INT(rf_hist_min(&e), 0);

  /* a histogram added to itself doubles */
  uint64_t n = rf_hist_count(&all);
  double mean = rf_hist_mean(&all);
  CHECK_EQ_INT(rf_hist_add(&all, &all), 0);
  CHECK_EQ_INT(rf_hist_count(&all), 2 * n);
  CHECK(rf_hist_mean(&all) == mean);

  /* different configurations do not mix, and dst is left alone */
  rf_hist other;
  init_ok(&other, HOUR_US, 2);
  rf_hist_record(&other, 5);
  CHECK_EQ_INT(rf_hist_add(&a, &other), -EINVAL);
  rf_hist_free(&other);
  init_ok(&other, HOUR_US / 2, 3);
  rf_hist_record(&other, 5);
  CHECK_EQ_INT(rf_hist_add(&a, &other), -EINVAL);
  rf_hist zero;
  memset(&zero, 0, sizeof(zero));
  CHECK_EQ_INT(rf_hist_add(&a, &zero), -EINVAL);
  CHECK_EQ_INT(rf_hist_count(&a), n);

  rf_hist_free(&other);
  rf_hist_free(&a);
  rf_hist_free(&b);
  rf_hist_free(&all);
  rf_hist_free(&e);
  rf_hist_free(&e2);
}

/* ---- coordinated omission --------------------------------------------- */

/* HdrHistogram's definition, one sample at a time. */
static void corrected_naive(rf_hist *h, uint64_t v, uint64_t interval) {
  rf_hist_record(h, v);
  if (interval == 0 || v <= interval)
    return;
  for (uint64_t m = v - interval; m >= interval; m -= interval)
    rf_hist_record(h, m);
}

static void test_corrected(void) {
  rf_hist h;
  init_ok(&h, HOUR_US, 3);
  /* a 1 s stall while sending every 10 ms hid 99 requests */
  rf_hist_record_corrected(&h, 1000000, 10000);
  CHECK_EQ_INT(rf_hist_count(&h), 100);
  CHECK_EQ_INT(rf_hist_min(&h), 10000);
  CHECK_EQ_INT(rf_hist_max(&h), 1000000);
  CHECK(rf_hist_mean(&h) == 505000.0);
  uint64_t p50 = rf_hist_percentile(&h, 50);
  CHECK_WITHIN_PRECISION(p50, 500000, 3);
  CHECK_WITHIN_PRECISION(rf_hist_percentile(&h, 90), 900000, 3);
  CHECK_EQ_INT(rf_hist_percentile(&h, 100), 1000000);

  /* no interval, or a value within it: just the value */
  rf_hist_reset(&h);
  rf_hist_record_corrected(&h, 1000000, 0);
  rf_hist_record_corrected(&h, 10000, 10000);
  rf_hist_record_corrected(&h, 9999, 10000);
  CHECK_EQ_INT(rf_hist_count(&h), 3);

  /* not a multiple: stops at the last one >= interval (15,000), like HdrHistogram */
  rf_hist_reset(&h);
  rf_hist_record_corrected(&h, 1005000, 10000);
  CHECK_EQ_INT(rf_hist_count(&h), 100);
  CHECK_EQ_INT(rf_hist_min(&h), 15000);

  /* the per-sub-bucket shortcut equals one sample at a time, saturation included */
  rf_hist fast, slow;
  init_ok(&fast, 1000000, 3);
  init_ok(&slow, 1000000, 3);
  rng r = {99};
  for (int i = 0; i < 400; i++) {
    uint64_t interval = 1 + rng_log(&r, 100000);
    uint64_t v = rng_next(&r) % (interval * (1 + rng_next(&r) % 3000) + 1);
    if (i % 7 == 0)
      interval = 0;
    if (i % 11 == 0)
      v += 1000000; /* above highest */
    rf_hist_record_corrected(&fast, v, interval);
    corrected_naive(&slow, v, interval);
  }
  static const uint64_t edges[][2] = {{0, 1},       {1, 1},       {2, 1},         {3, 2},
                                      {1000001, 1}, {2000000, 3}, {5000000, 999}, {1999999, 1000000},
                                      {1000000, 1}, {2048, 1},    {4097, 2}};
  for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
    rf_hist_record_corrected(&fast, edges[i][0], edges[i][1]);
    corrected_naive(&slow, edges[i][0], edges[i][1]);
  }
  check_same(&fast, &slow, "corrected: shortcut vs one at a time");
  fprintf(stderr, "  corrected: %" PRIu64 " values (%" PRIu64 " saturated) agree with the naive loop\n",
          rf_hist_count(&slow), rf_hist_saturated(&slow));

  /* a 1 h stall at a 1 us interval is 3.6e9 values, recorded quickly */
  rf_hist_reset(&h);
  double t0 = now_s();
  rf_hist_record_corrected(&h, HOUR_US, 1);
  double dt = now_s() - t0;
  CHECK(rf_hist_count(&h) == HOUR_US);
  CHECK_EQ_INT(rf_hist_min(&h), 1);
  CHECK_REL(rf_hist_mean(&h), ((double)HOUR_US + 1.0) / 2.0, 1e-15); /* exact sum, one rounding */
  CHECK_WITHIN_PRECISION(rf_hist_percentile(&h, 50), HOUR_US / 2, 3);
  fprintf(stderr, "  corrected 1 h at 1 us interval: %.3f ms\n", dt * 1e3);
  CHECKF(dt < 1.0, "%.3f s", dt);

  rf_hist_free(&h);
  rf_hist_free(&fast);
  rf_hist_free(&slow);
}

/* ---- other queries -------------------------------------------------------- */

static void test_fractions(void) {
  rf_hist h;
  init_ok(&h, HOUR_US, 3);
  CHECK(rf_hist_fraction_le(&h, 5) == 0.0);
  CHECK(rf_hist_within_stdev(&h, 1.0) == 0.0);
  for (uint64_t v = 1; v <= 1000; v++) /* below 2048: one value per sub-bucket */
    rf_hist_record(&h, v);
  CHECK(rf_hist_fraction_le(&h, 0) == 0.0);
  CHECK(rf_hist_fraction_le(&h, 250) == 0.25);
  CHECK(rf_hist_fraction_le(&h, 1000) == 1.0);
  CHECK(rf_hist_fraction_le(&h, UINT64_MAX) == 1.0);
  CHECK_EQ_INT(rf_hist_count_between(&h, 100, 199), 100);
  CHECK_EQ_INT(rf_hist_count_between(&h, 0, 10), 10);
  CHECK_EQ_INT(rf_hist_count_between(&h, 5, 4), 0);
  /* wrk's "+/- Stdev": mean 500.5, sd 288.67 -> 212..789 */
  CHECK_REL(rf_hist_stddev(&h), sqrt((1000.0 * 1000.0 - 1.0) / 12.0), 1e-12);
  CHECK(rf_hist_within_stdev(&h, 1.0) == 0.578);
  CHECK(rf_hist_within_stdev(&h, 10.0) == 1.0);
  CHECK(rf_hist_within_stdev(&h, NAN) == 0.0);
  rf_hist_free(&h);
}

/* ---- percentile text format --------------------------------------------- */

/* Derived by hand from HdrHistogram's PercentileIterator for the values
 * 1..10: a row each time the running count reaches the next level (0, 10,
 * .., 50, 55, .., 75, 77.5, .., 87.5, 88.75, ...), then the closing 100% row. */
static const char golden_1_to_10[] =
    "       Value     Percentile TotalCount 1/(1-Percentile)\n"
    "\n"
    "       1.000 0.000000000000          1           1.00\n"
    "       1.000 0.100000000000          1           1.11\n"
    "       2.000 0.200000000000          2           1.25\n"
    "       3.000 0.300000000000          3           1.43\n"
    "       4.000 0.400000000000          4           1.67\n"
    "       5.000 0.500000000000          5           2.00\n"
    "       6.000 0.550000000000          6           2.22\n"
    "       6.000 0.600000000000          6           2.50\n"
    "       7.000 0.650000000000          7           2.86\n"
    "       7.000 0.700000000000          7           3.33\n"
    "       8.000 0.750000000000          8           4.00\n"
    "       8.000 0.775000000000          8           4.44\n"
    "       8.000 0.800000000000          8           5.00\n"
    "       9.000 0.825000000000          9           5.71\n"
    "       9.000 0.850000000000          9           6.67\n"
    "       9.000 0.875000000000          9           8.00\n"
    "       9.000 0.887500000000          9           8.89\n"
    "       9.000 0.900000000000          9          10.00\n"
    "      10.000 0.912500000000         10          11.43\n"
    "      10.000 1.000000000000         10\n"
    "#[Mean    =        5.500, StdDeviation   =        2.872]\n"
    "#[Max     =       10.000, Total count    =           10]\n"
    "#[Buckets =           22, SubBuckets     =         2048]\n";

static const char golden_empty[] = "       Value     Percentile TotalCount 1/(1-Percentile)\n"
                                   "\n"
                                   "#[Mean    =        0.000, StdDeviation   =        0.000]\n"
                                   "#[Max     =        0.000, Total count    =            0]\n"
                                   "#[Buckets =           22, SubBuckets     =         2048]\n";

static void test_text_golden(void) {
  rf_hist h;
  init_ok(&h, HOUR_US, 3);
  int r;
  char *t = render(&h, 1.0, &r);
  CHECK_EQ_INT(r, 0);
  CHECK_EQ_STR(t, golden_empty);
  free(t);
  for (uint64_t v = 1; v <= 10; v++)
    rf_hist_record(&h, v);
  t = render(&h, 1.0, &r);
  CHECK_EQ_INT(r, 0);
  CHECK_EQ_STR(t, golden_1_to_10);
  free(t);
  rf_hist_free(&h);
}

/* Level (in %) of the j-th row: 5 equal steps in each half of the remaining
 * distance to 100%, in closed form rather than by accumulation. */
static double tick(int j) {
  int half = j / 5, step = j % 5;
  return 100.0 - ldexp(100.0, -half) + step * ldexp(100.0, -(half + 1)) / 5.0;
}

static int split(char *line, char **tok, int max) {
  int n = 0;
  for (char *s = strtok(line, " "); s && n < max; s = strtok(NULL, " "))
    tok[n++] = s;
  return n;
}

static int same_fmt(const char *tok, double v, int decimals) {
  char buf[64];
  snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return strcmp(tok, buf) == 0;
}

/* Parses the output the way plotting tools do and checks every row against
 * the histogram's own answers. */
static void check_text(const rf_hist *h, double ratio, const char *what) {
  int r;
  char *text = render(h, ratio, &r);
  CHECKF(r == 0, "%s: rf_hist_write_percentiles -> %d", what, r);
  char *save = NULL, *line = strtok_r(text, "\n", &save);
  CHECKF(line && strcmp(line, "       Value     Percentile TotalCount 1/(1-Percentile)") == 0,
         "%s: header", what);
  CHECKF(save && *save == '\n', "%s: blank line after the header", what); /* strtok_r skipped it */
  const uint64_t n = rf_hist_count(h);
  int rows = 0, closed = 0, footer = 0, before = tu_failures;
  double prev_value = -1, prev_p = -1;
  uint64_t prev_cum = 0;
  while ((line = strtok_r(NULL, "\n", &save)) && tu_failures - before < 10) {
    char copy[256], *tok[8];
    snprintf(copy, sizeof(copy), "%s", line);
    if (line[0] == '#') {
      double a = 0, b = 0;
      uint64_t c = 0;
      int bk = 0, sb = 0;
      if (sscanf(line, "#[Mean    = %lf, StdDeviation   = %lf]", &a, &b) == 2) {
        footer |= 1;
        int nt = split(copy, tok, 8); /* #[Mean = X, StdDeviation = Y] */
        CHECKF(nt == 6 && tok[2][strlen(tok[2]) - 1] == ',', "%s: %s", what, line);
        if (nt == 6) {
          tok[2][strlen(tok[2]) - 1] = 0;
          tok[5][strlen(tok[5]) - 1] = 0;
          CHECKF(same_fmt(tok[2], rf_hist_mean(h) / ratio, 3), "%s: %s", what, line);
          CHECKF(same_fmt(tok[5], rf_hist_stddev(h) / ratio, 3), "%s: %s", what, line);
        }
      } else if (sscanf(line, "#[Max     = %lf, Total count    = %" SCNu64 "]", &a, &c) == 2) {
        footer |= 2;
        CHECKF(fabs(a - (double)rf_hist_max(h) / ratio) <= 0.0005, "%s: %s", what, line);
        CHECKF(c == n, "%s: %s", what, line);
      } else if (sscanf(line, "#[Buckets = %d, SubBuckets     = %d]", &bk, &sb) == 2) {
        footer |= 4;
        CHECKF(bk == 22 && sb == 2048, "%s: %s", what, line);
      } else {
        CHECKF(0, "%s: unknown footer line %s", what, line);
      }
      continue;
    }
    CHECKF(!footer && !closed, "%s: row after the end: %s", what, line);
    int nt = split(copy, tok, 8);
    CHECKF(nt == 4 || nt == 3, "%s: row with %d columns: %s", what, nt, line);
    if (nt != 4 && nt != 3)
      continue;
    double value = strtod(tok[0], NULL), p = strtod(tok[1], NULL);
    uint64_t cum = strtoull(tok[2], NULL, 10);
    CHECKF(value >= prev_value && p > prev_p && cum >= prev_cum, "%s: not monotonic at %s", what,
           line);
    uint64_t raw = (uint64_t)llround(value * ratio); /* 3 decimals of ms are whole us */
    CHECKF(cum == rf_hist_count_between(h, 1, raw), "%s: count column at %s", what, line);
    if (nt == 4) {
      double level = tick(rows);
      CHECKF(same_fmt(tok[1], level / 100.0, 12), "%s: row %d should be at %.12f: %s", what, rows,
             level / 100.0, line);
      CHECKF(same_fmt(tok[3], 1.0 / (1.0 - level / 100.0), 2), "%s: 1/(1-p) at %s", what, line);
      CHECKF((double)cum * 100.0 / (double)n >= level, "%s: row before its level: %s", what, line);
      /* the row's value is the percentile at its level (the first recorded
       * value's sub-bucket at level 0) */
      uint64_t want = rf_hist_percentile(h, level > 0 ? level : 1e-12);
      CHECKF(same_fmt(tok[0], (double)want / ratio, 3), "%s: value %" PRIu64 " expected at %s", what,
             want, line);
      rows++;
    } else {
      closed = 1;
      CHECKF(strcmp(tok[1], "1.000000000000") == 0, "%s: last row %s", what, line);
      CHECKF(same_fmt(tok[0], (double)rf_hist_max(h) / ratio, 3), "%s: last row %s", what, line);
      CHECKF(cum == n, "%s: last row %s", what, line);
    }
    prev_value = value;
    prev_p = p;
    prev_cum = cum;
  }
  CHECKF(closed || n == 0, "%s: no closing 100%% row", what);
  CHECKF(footer == 7, "%s: footer lines missing (%d)", what, footer);
  CHECKF(rows >= 20 || n < 100, "%s: only %d rows", what, rows);
  fprintf(stderr, "  %s, unit ratio %g: %d rows + closing row\n", what, ratio, rows);
  free(text);
}

static void test_text_parse(void) {
  rf_hist h;
  init_ok(&h, HOUR_US, 3);
  for (uint64_t v = 1; v <= 1000000; v++)
    rf_hist_record(&h, v);
  check_text(&h, 1000.0, "uniform 1..1e6 us");
  check_text(&h, 1.0, "uniform 1..1e6 us");
  rf_hist_reset(&h);
  rng r = {3};
  for (int i = 0; i < 300000; i++)
    rf_hist_record(&h, rng_log(&r, HOUR_US));
  rf_hist_record(&h, 7 * HOUR_US); /* saturated */
  check_text(&h, 1000.0, "log-uniform 1 us..1 h");
  check_text(&h, 1.0, "log-uniform 1 us..1 h");
  rf_hist_reset(&h);
  rf_hist_record_n(&h, 1234, 5); /* one sub-bucket: every level at once */
  check_text(&h, 1.0, "one value");
  rf_hist_free(&h);
}

static void test_text_errors(void) {
  rf_hist h;
  init_ok(&h, HOUR_US, 3);
  rf_hist_record(&h, 5);
  FILE *f = fopen("/dev/null", "w");
  if (!f)
    exit(2);
  CHECK_EQ_INT(rf_hist_write_percentiles(&h, f, 0.0), -EINVAL);
  CHECK_EQ_INT(rf_hist_write_percentiles(&h, f, -1.0), -EINVAL);
  CHECK_EQ_INT(rf_hist_write_percentiles(&h, f, NAN), -EINVAL);
  CHECK_EQ_INT(rf_hist_write_percentiles(&h, f, INFINITY), -EINVAL);
  CHECK_EQ_INT(rf_hist_write_percentiles(&h, NULL, 1.0), -EINVAL);
  rf_hist zero;
  memset(&zero, 0, sizeof(zero));
  CHECK_EQ_INT(rf_hist_write_percentiles(&zero, f, 1.0), -EINVAL);
  fclose(f);

  /* a failed write is reported with its errno */
  f = fopen("/dev/full", "w");
  if (f) {
    setvbuf(f, NULL, _IONBF, 0);
    CHECK_EQ_INT(rf_hist_write_percentiles(&h, f, 1.0), -ENOSPC);
    fclose(f);
  } else {
    fprintf(stderr, "  /dev/full: not available, write-error check skipped\n");
  }

  /* a comma-decimal locale must not leak into the output */
  static const char *const comma_locales[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "ru_RU.UTF-8"};
  const char *used = NULL;
  for (size_t i = 0; i < sizeof(comma_locales) / sizeof(comma_locales[0]) && !used; i++)
    if (setlocale(LC_NUMERIC, comma_locales[i]))
      used = comma_locales[i];
  if (used) {
    int r;
    char *t = render(&h, 1000.0, &r);
    CHECK(r == 0 && strstr(t, "0,005") == NULL && strstr(t, "0.005") != NULL);
    free(t);
    setlocale(LC_NUMERIC, "C");
  } else {
    fprintf(stderr, "  no comma-decimal locale installed, locale check skipped\n");
  }
  rf_hist_free(&h);
}

/* ---- speed -------------------------------------------------------------- */

static void test_speed(void) {
  rf_hist h;
  init_ok(&h, HOUR_US, 3);
  const uint64_t n = 10000000;
  rng r = {11};
  double t0 = now_s();
  for (uint64_t i = 0; i < n; i++)
    rf_hist_record(&h, rng_next(&r) % 5000000); /* up to 5 s, the PRNG included */
  double dt = now_s() - t0;
  CHECK(rf_hist_count(&h) == n);
  fprintf(stderr, "  recorded %" PRIu64 " values in %.1f ms (%.2f ns each)\n", n, dt * 1e3,
          dt * 1e9 / (double)n);
  CHECKF(dt < 5.0, "%.3f s for %" PRIu64 " values", dt, n); /* < 1 s expected; 5 s = broken */
  t0 = now_s();
  uint64_t sink = 0;
  for (int i = 0; i < 1000; i++)
    sink += rf_hist_percentile(&h, 99.9);
  dt = now_s() - t0;
  fprintf(stderr, "  p99.9 query: %.1f us each (%" PRIu64 ")\n", dt * 1e6 / 1000.0, sink / 1000);
  rf_hist_free(&h);
}

int main(void) {
  test_init();
  test_uniform();
  test_exact_ranks();
  test_precision_all_magnitudes();
  test_random_vs_exact();
  test_saturation();
  test_record_n_and_reset();
  test_merge();
  test_corrected();
  test_fractions();
  test_text_golden();
  test_text_parse();
  test_text_errors();
  test_speed();
  return TU_EXIT();
}
