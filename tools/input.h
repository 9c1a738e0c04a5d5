/* Input lines for `ringfetch fetch -i FILE|-`: read in bounded pieces, never
 * blocking the loop on a pipe (a slow producer does not stall the engine). */
#ifndef RF_TOOLS_INPUT_H
#define RF_TOOLS_INPUT_H

#include <stdbool.h>
#include <stddef.h>

#define RF_LINE_MAX_BYTES 65536u

typedef struct rf_input {
  int fd;
  bool eof, nonblock, own_fd;
  int saved_flags;
  char *buf;
  size_t len, off, cap;
  bool skipping; /* discarding the rest of an over-long line */
} rf_input;

enum { RF_LINE_OK = 1, RF_LINE_AGAIN = 0, RF_LINE_EOF = -1, RF_LINE_ERR = -2 };

/* path "-" is stdin. 0, or -1 with errno set. */
int rf_input_open(rf_input *in, const char *path);
void rf_input_close(rf_input *in);
/* The next line (without its end of line), valid until the next call:
 * RF_LINE_OK, RF_LINE_AGAIN (a pipe has nothing yet), RF_LINE_EOF,
 * RF_LINE_ERR (errno set). *too_long: the line was longer than
 * RF_LINE_MAX_BYTES (its start is returned, the rest skipped). */
int rf_input_line(rf_input *in, char **line, size_t *len, bool *too_long);
/* Trims spaces and tabs at both ends, and CRs (a CRLF file's) at the end. */
void rf_trim(char **s, size_t *n);

#endif
