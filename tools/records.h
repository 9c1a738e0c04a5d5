/* The JSON Lines records of `ringfetch fetch`: one per input line, written
 * whole (one record, one line) into a queue the engine's ring writes out. */
#ifndef RF_TOOLS_RECORDS_H
#define RF_TOOLS_RECORDS_H

#include <stdbool.h>

#include "json.h"
#include "ringfetch.h"

/* A record held back until another output has written what was queued
 * before it (records_gate). */
#define RF_GATE_N 2 /* the gated outputs (the WARC files, the CDXJ index) */

typedef struct rf_held_mark {
  size_t end;                /* where the record ends in rf_records.held */
  uint64_t need[RF_GATE_N];  /* what gate_written must reach for it */
} rf_held_mark;

typedef struct rf_records {
  rf_outfile *out;
  jbuf jb;
  /* --warc: a record goes out only once the archive's bytes queued before it
   * are written, so a killed run never has a record (which --resume trusts)
   * whose WARC records were lost with the process. NULL = no gate. */
  void (*gate_queued)(void *ud, uint64_t out[RF_GATE_N]);  /* bytes queued per output */
  void (*gate_written)(void *ud, uint64_t out[RF_GATE_N]); /* of those, a prefix written */
  void *gate_ud;
  jbuf held;            /* records waiting, whole, in order */
  size_t held_off;      /* held[0..held_off) went out */
  rf_held_mark *marks;
  size_t nmarks, mark0, mcap;
  bool all_headers;     /* every response header, not the selected ones */
  const char *body_dir; /* --body-dir: the record names the file */
  int err;              /* the first write error (-errno) */
} rf_records;

/* Queues the record of r. Returns 0, or the first write error. */
int rf_records_put(rf_records *w, const rf_result *r);

/* The record of r, ending in "}\n", into w->jb (w->jb.oom on failure);
 * extra (NULL = none) is raw JSON fields (",\"k\":v...") put last. */
void rf_records_json(rf_records *w, const rf_result *r, const char *extra);

/* Writes the held records whose gate bytes are out (all of them when all is
 * true: the gated output is finished). Returns 0 or the first write error. */
int rf_records_release(rf_records *w, bool all);
/* Bytes of records held back. */
size_t rf_records_held(const rf_records *w);
/* How many records are held back. */
size_t rf_records_held_count(const rf_records *w);
void rf_records_free(rf_records *w);

/* The fields of a record for a line the CLI never submitted. */
void rf_records_local(rf_result *r, const char *url, size_t len, uint64_t line, rf_error err, const char *msg);

#endif
