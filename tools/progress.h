/* Where a long `ringfetch fetch` run stands: running tallies of its results,
 * a live one-line display on a terminal, and the end-of-run figures as JSON
 * (--stats-json). */
#ifndef RF_TOOLS_PROGRESS_H
#define RF_TOOLS_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ringfetch.h"

typedef struct rf_tally {
  uint64_t done, ok, failed;
  uint64_t status[6];            /* [1]..[5]: 1xx..5xx; [0]: no status */
  uint64_t errors[RF_ERR__COUNT];
  uint64_t body_bytes, wire_bytes;
  uint64_t redirects, retries;   /* hops followed and attempts beyond the first */
  /* distinct hosts: a set of 64-bit hashes (8 bytes a host) */
  uint64_t *hosts;
  size_t nhosts, caphosts;
} rf_tally;

/* failed: the record counts as a failure (an error, or -f and a status >= 400). */
void rf_tally_add(rf_tally *t, const rf_result *r, bool failed);
void rf_tally_free(rf_tally *t);

typedef struct rf_progress {
  bool on;
  double start, last_draw;
  double rate_t, rate_done;      /* the last rate sample */
  double rate;                   /* recent results per second */
  bool drawn;                    /* a line is on the terminal */
} rf_progress;

/* Redraws the line (at most a few times a second unless force): done/total
 * (total 0 = not known yet), rate, in flight, errors (the three most
 * frequent kinds), bytes, ETA. */
void rf_progress_draw(rf_progress *p, const rf_tally *t, uint64_t total, unsigned inflight, double now,
                      bool force);
/* Erases the line before other output. */
void rf_progress_clear(rf_progress *p);

/* --stats-json: the run's figures. Returns 0 or -errno. */
typedef struct rf_run_figures {
  double wall_s;
  const rf_stats *st;
  double mean_concurrency, overlap;
  unsigned concurrency;
  bool interrupted;
  int signal;                    /* the signal that stopped the run, 0 if none */
} rf_run_figures;
int rf_tally_write_json(const rf_tally *t, const rf_run_figures *f, const char *path);

#endif
