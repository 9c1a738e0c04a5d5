/* Making concurrency visible: per-request timelines as a Chrome trace
 * (Perfetto, chrome://tracing) and as a self-contained SVG waterfall, plus
 * the run summary's concurrency figures and the silent-serialisation
 * detector. */
#ifndef RF_TOOLS_TRACE_H
#define RF_TOOLS_TRACE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ringfetch.h"

/* ---- run summary: phases, concurrency, serialisation ------------------- */

typedef struct rf_phase_sums {
  uint64_t n;                       /* requests */
  uint64_t queued, dns, connect, tls, wait, receive; /* µs, summed */
  uint64_t total;                   /* µs from start (not submit) to done, summed */
  uint64_t first_start, last_done;  /* µs on the engine's axis */
} rf_phase_sums;

void rf_phase_add(rf_phase_sums *p, const rf_result *r);

typedef struct rf_concurrency {
  double wall_s;
  double mean_inflight, mean_active; /* time-weighted: requests started / on the wire */
  unsigned peak_inflight, peak_active;
  double overlap;        /* sum of request times / wall time */
  unsigned limit;        /* min(configured concurrency, requests) */
  bool serialised;       /* the detector fired */
  char why[256];         /* its explanation */
} rf_concurrency;

/* Computes the concurrency figures from the engine's statistics and the
 * phase sums; per_host and concurrency are what the run was configured with. */
void rf_concurrency_eval(rf_concurrency *c, const rf_stats *st, const rf_phase_sums *p, double wall_s,
                         unsigned concurrency, unsigned per_host);

/* Prints the phase and concurrency lines (and the warning) to f. */
void rf_concurrency_print(FILE *f, const char *prefix, const rf_concurrency *c, const rf_phase_sums *p);

/* ---- trace and waterfall ---------------------------------------------------- */

typedef struct rf_tracer rf_tracer;

/* Either path may be NULL. Returns NULL with a message in err on failure. */
rf_tracer *rf_tracer_new(const char *trace_path, const char *svg_path, char *err, size_t errlen);
/* One finished request; released_us is now on the engine's axis (rf_clock_us). */
void rf_tracer_add(rf_tracer *t, const rf_result *r, uint64_t released_us);
/* Writes the SVG and closes the trace. Returns 0 or -errno. */
int rf_tracer_finish(rf_tracer *t, const char *title);
void rf_tracer_free(rf_tracer *t); /* NULL is OK */

#endif
