/* --resume: the input lines that already have a record in earlier result
 * files, so a run that died (SIGKILL, OOM, reboot) goes on without losing or
 * repeating a line. A set of line numbers, one bit each. */
#ifndef RF_TOOLS_RESUME_H
#define RF_TOOLS_RESUME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rf_done_lines {
  uint8_t *bits;
  uint64_t nbits;
  uint64_t count;   /* distinct lines seen */
  uint64_t torn;    /* incomplete last lines ignored */
} rf_done_lines;

/* Reads every file matching pattern (a path or a glob): each whole line that
 * is a record with a "line" number marks that line done (except a record of
 * a request canceled when a run was stopped: it is fetched again); a torn last line
 * (no newline: the run died while writing it) is ignored. A file that does
 * not exist is no error (a first run). Returns the number of files matched,
 * or -1 with a message in err. */
int rf_resume_load(rf_done_lines *d, const char *pattern, char *err, size_t errlen);
bool rf_resume_done(const rf_done_lines *d, uint64_t line);
void rf_resume_free(rf_done_lines *d);

/* Cuts a torn last line (a killed writer's: no newline at the end) off the
 * file open on fd, so that a resumed run appends to whole lines only and
 * the file stays valid for line readers (jq, JSON Lines parsers). Returns 0,
 * or -errno. */
int rf_cut_torn_line(int fd);

#endif
