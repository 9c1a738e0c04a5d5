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

/* ---- where a request's time went ----------------------------------------
 * A request's life from rf_submit to its result, cut into consecutive
 * phases that cover it without gap or overlap, for every outcome:
 *
 *   queued     submit -> its first attempt started (the queue, waits for its
 *              origin's rate or connection limit)
 *   retrying   the attempts and redirect hops before the last one, their
 *              back-off waits included: first attempt started -> last one
 *              started (0 for a request that went through at once)
 *   dns, connect, tls, wait (request sent -> first response byte),
 *   receive (first byte -> done)   the last attempt's own phases
 *
 * A moment between two recorded steps counts for the phase that follows it.
 * The engine records a step's start and end only once it completes, so a
 * request that fails inside a phase has neither: the time from the last
 * recorded step to the end goes to the phase the failure says it was in
 * (dns for "dns", connect for refused, unreachable and proxy failures, tls
 * for the TLS errors, a connect timeout to the step its message names) or
 * else to the phase after the last one completed (tls after a connect for
 * https, connect otherwise). Sent and not answered is "wait" until the end;
 * answered and cut off is "receive" until the end. A request that never had
 * a connection (rejected URL, robots.txt, canceled in the queue) was queued
 * (or retrying) all along. Without any recorded step, time lost resolving a
 * name that the engine resolves for the first time cannot be told from time
 * lost connecting: it counts as connect. */
enum { RF_PH_QUEUED, RF_PH_RETRYING, RF_PH_DNS, RF_PH_CONNECT, RF_PH_TLS, RF_PH_WAIT, RF_PH_RECEIVE, RF_PH_N };

typedef struct rf_phase_split {
  bool had[RF_PH_N];                   /* the phase happened (it may have lasted 0 µs) */
  uint64_t from[RF_PH_N], to[RF_PH_N]; /* µs on the engine's axis; to - from is its time */
} rf_phase_split;

/* Cuts r's time (events.submitted .. events.done) into phases as above; the
 * durations add up to done - submitted. Nothing happened when submitted is 0. */
void rf_phase_split_of(const rf_result *r, rf_phase_split *out);
/* "queued", "retrying", "dns", "connect", "tls", "waiting", "receiving" */
const char *rf_phase_name(int phase);

/* ---- run summary: phases, concurrency, serialisation ------------------- */

typedef struct rf_phase_sums {
  uint64_t n;                       /* requests */
  uint64_t queued, dns, connect, tls, wait, receive; /* µs, summed (rf_phase_split_of) */
  uint64_t retrying;                /* µs in attempts and redirect hops before the last one */
  uint64_t total;                   /* µs from start (not submit) to done, summed */
  uint64_t first_start, last_done;  /* µs on the engine's axis */
} rf_phase_sums;

void rf_phase_add(rf_phase_sums *p, const rf_result *r);
/* Adds one set of sums to another (the threads of a bench run). */
void rf_phase_merge(rf_phase_sums *into, const rf_phase_sums *from);

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

/* Prints the phase and concurrency lines (and the warning) to f. The phase
 * line gives each phase's share of the requests' whole time (submit to
 * done), retries/redirects last. */
void rf_concurrency_print(FILE *f, const char *prefix, const rf_concurrency *c, const rf_phase_sums *p);

/* ---- trace and waterfall ---------------------------------------------------- */

typedef struct rf_tracer rf_tracer;

/* Either path may be NULL. Returns NULL with a message in err on failure. */
rf_tracer *rf_tracer_new(const char *trace_path, const char *svg_path, char *err, size_t errlen);
/* One finished request; released_us is now on the engine's axis (rf_clock_us). */
void rf_tracer_add(rf_tracer *t, const rf_result *r, uint64_t released_us);
/* Writes the SVG and closes the trace. Returns 0 or -errno.
 * The waterfall has a row per request (one per connection past 300
 * requests) with a label on the left (host and path, shortened to fit) and a
 * tooltip (<title>) naming the request in full: URL, status or error, each
 * phase's time, connection, attempt; a connection's row tells which
 * requests it carried. Bars (and the trace's slices) are the phases of
 * rf_phase_split_of, so a failed request shows where its time went; a
 * connection's row leaves out its requests' queued and retrying time. */
int rf_tracer_finish(rf_tracer *t, const char *title);
void rf_tracer_free(rf_tracer *t); /* NULL is OK */

#endif
