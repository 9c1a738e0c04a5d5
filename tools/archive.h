/* `fetch --warc/--cdxj`: the WARC writer (warc.c) and the CDXJ index (cdxj.c)
 * connected to the engine's captured exchanges and to files written through
 * the engine's ring (rf_outfile), so archiving never blocks the loop. */
#ifndef RF_TOOLS_ARCHIVE_H
#define RF_TOOLS_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringfetch.h"

typedef struct rf_archive rf_archive;

typedef struct rf_archive_opts {
  const char *warc;         /* --warc NAME (required) */
  uint64_t max_size;        /* --warc-max-size, 0 = one file */
  const char *cdxj;         /* --cdxj FILE or NULL */
  bool resume;              /* --resume: earlier files are kept; this run writes new ones
                               (NAME-r2..., the CDXJ is appended to) */
  const char *command_line; /* for the warcinfo records */
  uint64_t capture_max;
} rf_archive_opts;

/* Allocates the archive (no files yet): pass it as rf_config.on_exchange_ud
 * with rf_archive_on_exchange before making the engine. */
rf_archive *rf_archive_alloc(void);
/* Opens the files on engine e. 0, or -1 with a message in err. */
int rf_archive_start(rf_archive *a, rf_engine *e, const rf_archive_opts *o, char *err, size_t cap);
/* The rf_config.on_exchange callback. */
void rf_archive_on_exchange(void *ud, const rf_exchange *x);
/* Bytes queued for the archive's files and not yet written. */
size_t rf_archive_backlog(const rf_archive *a);
/* rf_records' gate (a record goes out after its exchanges): bytes handed to
 * the WARC files and to the CDXJ index so far; of those, how many are written
 * with nothing unwritten before them. */
void rf_archive_queued(void *a, uint64_t out[2]);
void rf_archive_written(void *a, uint64_t out[2]);
/* Closes files that rotation finished (outside rf_run only). The first
 * error (-errno) met so far, or 0. */
int rf_archive_tidy(rf_archive *a);
/* Finishes and closes everything (outside rf_run); the first error. When
 * written is not NULL it gets what rf_archive_written would say at the end
 * (an under-estimate after an error, never more than is there). a stays
 * allocated: the engine may still hand over exchanges of requests in flight
 * (they are dropped) until it is freed, and only then rf_archive_free. */
int rf_archive_close(rf_archive *a, uint64_t written[2]);
/* Closes a if it is not (its error is lost then) and frees it: after the
 * engine that calls rf_archive_on_exchange is freed. */
void rf_archive_free(rf_archive *a);
/* For the summary: exchanges archived, WARC files opened, the current
 * file's name stem (as the writer was given it). */
void rf_archive_counts(const rf_archive *a, uint64_t *exchanges, unsigned *files, const char **stem);

#endif
