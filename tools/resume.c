/* --resume (see resume.h). Read once at start, before the loop runs. */
#include "resume.h"

#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int mark(rf_done_lines *d, uint64_t line) {
  if (line >= d->nbits) {
    uint64_t n = d->nbits ? d->nbits : 1u << 16;
    while (n <= line)
      n *= 2;
    uint8_t *b = realloc(d->bits, (size_t)(n / 8));
    if (!b)
      return -1;
    memset(b + d->nbits / 8, 0, (size_t)((n - d->nbits) / 8));
    d->bits = b;
    d->nbits = n;
  }
  uint8_t m = (uint8_t)(1u << (line % 8));
  if (!(d->bits[line / 8] & m)) {
    d->bits[line / 8] |= m;
    d->count++;
  }
  return 0;
}

/* The "line" of one record: records are our own JSON, so the key is found as
 * text (a URL cannot contain it: quotes are escaped in strings). */
static int record_line(const char *s, uint64_t *line) {
  const char *k = strstr(s, "\"line\":");
  if (!k)
    return -1;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(k + 7, &end, 10);
  if (errno || end == k + 7 || (*end != ',' && *end != '}'))
    return -1;
  *line = v;
  return 0;
}

static int load_file(rf_done_lines *d, const char *path, char *err, size_t errlen) {
  FILE *f = fopen(path, "r");
  if (!f && errno == ENOENT)
    return 0; /* the first run of a command that always says --resume */
  if (!f) {
    snprintf(err, errlen, "cannot read --resume file '%s': %s", path, strerror(errno));
    return -1;
  }
  char *buf = NULL;
  size_t cap = 0;
  ssize_t n;
  int rc = 0;
  while ((n = getline(&buf, &cap, f)) > 0) {
    uint64_t line;
    if (buf[n - 1] != '\n') {
      d->torn++; /* the last line of a run that died while writing it */
      continue;
    }
    /* a line canceled by a stopped run (SIGINT) is fetched again */
    if (strstr(buf, "\"error\":\"canceled\""))
      continue;
    if (record_line(buf, &line) == 0 && mark(d, line) < 0) {
      snprintf(err, errlen, "out of memory reading '%s'", path);
      rc = -1;
      break;
    }
  }
  free(buf);
  fclose(f);
  return rc;
}

int rf_resume_load(rf_done_lines *d, const char *pattern, char *err, size_t errlen) {
  glob_t g;
  int rc = glob(pattern, GLOB_NOCHECK, NULL, &g);
  if (rc != 0) {
    snprintf(err, errlen, "bad --resume pattern '%s'", pattern);
    return -1;
  }
  int files = 0;
  for (size_t i = 0; i < g.gl_pathc && files >= 0; i++) {
    if (load_file(d, g.gl_pathv[i], err, errlen) < 0)
      files = -1;
    else
      files++;
  }
  globfree(&g);
  return files;
}

bool rf_resume_done(const rf_done_lines *d, uint64_t line) {
  return line < d->nbits && (d->bits[line / 8] >> (line % 8)) & 1u;
}

void rf_resume_free(rf_done_lines *d) {
  free(d->bits);
  memset(d, 0, sizeof *d);
}

int rf_cut_torn_line(int fd) {
  off_t end = lseek(fd, 0, SEEK_END);
  if (end < 0)
    return -errno;
  char buf[4096];
  off_t at = end; /* the file's bytes before `at` are still to be searched */
  while (at > 0) {
    size_t n = at < (off_t)sizeof buf ? (size_t)at : sizeof buf;
    ssize_t got = pread(fd, buf, n, at - (off_t)n);
    if (got != (ssize_t)n)
      return got < 0 ? -errno : -EIO;
    size_t i = n;
    while (i > 0 && buf[i - 1] != '\n')
      i--;
    if (i > 0) { /* the last newline ends the last whole line */
      at = at - (off_t)n + (off_t)i;
      break;
    }
    at -= (off_t)n;
  }
  if (at < end && ftruncate(fd, at) < 0)
    return -errno;
  return 0;
}
