/* Input lines for `ringfetch fetch` (see input.h). */
#include "input.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int rf_input_open(rf_input *in, const char *path) {
  memset(in, 0, sizeof *in);
  in->cap = RF_LINE_MAX_BYTES + 1;
  in->buf = malloc(in->cap);
  if (!in->buf)
    return -1;
  if (strcmp(path, "-") == 0) {
    in->fd = 0;
  } else {
    in->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (in->fd < 0)
      return -1;
    in->own_fd = true;
  }
  struct stat st;
  if (fstat(in->fd, &st) == 0 && !S_ISREG(st.st_mode)) {
    /* pipes and terminals: never let a slow producer stall the engine */
    in->saved_flags = fcntl(in->fd, F_GETFL);
    if (in->saved_flags >= 0 && fcntl(in->fd, F_SETFL, in->saved_flags | O_NONBLOCK) == 0)
      in->nonblock = true;
  }
  return 0;
}

void rf_input_close(rf_input *in) {
  if (in->nonblock)
    fcntl(in->fd, F_SETFL, in->saved_flags);
  if (in->own_fd)
    close(in->fd);
  free(in->buf);
  in->buf = NULL;
}

/* Next line (without its end of line). *line stays valid until the next call.
 * *too_long is set for a line longer than RF_LINE_MAX_BYTES (its start is
 * returned, the rest is skipped). */
int rf_input_line(rf_input *in, char **line, size_t *len, bool *too_long) {
  *too_long = false;
  for (;;) {
    char *start = in->buf + in->off;
    char *nl = memchr(start, '\n', in->len - in->off);
    if (nl) {
      size_t n = (size_t)(nl - start);
      in->off += n + 1;
      if (in->skipping) {
        in->skipping = false;
        continue;
      }
      *line = start;
      *len = n;
      return RF_LINE_OK;
    }
    if (in->off > 0) { /* keep the partial line at the front */
      memmove(in->buf, in->buf + in->off, in->len - in->off);
      in->len -= in->off;
      in->off = 0;
    }
    if (in->len == in->cap) {
      if (in->skipping) {
        in->len = 0;
      } else { /* no newline in a full buffer */
        in->skipping = true;
        *too_long = true;
        *line = in->buf;
        *len = 256; /* enough of it to recognise in the record */
        in->off = in->len;
        return RF_LINE_OK;
      }
    }
    if (in->eof) {
      if (in->len == 0 || in->skipping)
        return RF_LINE_EOF;
      *line = in->buf;
      *len = in->len;
      in->off = in->len;
      return RF_LINE_OK;
    }
    ssize_t r = read(in->fd, in->buf + in->len, in->cap - in->len);
    if (r > 0) {
      in->len += (size_t)r;
    } else if (r == 0) {
      in->eof = true;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return RF_LINE_AGAIN;
    } else if (errno != EINTR) {
      return RF_LINE_ERR;
    }
  }
}

/* Trims spaces, tabs and a CR. */
void rf_trim(char **s, size_t *n) {
  while (*n && ((*s)[0] == ' ' || (*s)[0] == '\t')) {
    (*s)++;
    (*n)--;
  }
  while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t' || (*s)[*n - 1] == '\r'))
    (*n)--;
}
