/* --warc/--cdxj: captured exchanges into WARC records and CDXJ lines, all
 * written through rf_outfiles on the engine's ring.
 *
 * Rotation happens inside rf_warc_exchange, i.e. inside the on_exchange
 * callback, i.e. inside rf_run: a finished file cannot be closed there
 * (rf_outfile_close runs the engine), so it goes to a list that
 * rf_archive_tidy closes between turns. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive.h"
#include "resume.h"
#include "cdxj.h"
#include "json.h"
#include "warc.h"

typedef struct afile {
  struct afile *next;
  struct rf_archive *a;
  rf_outfile *out;
  int fd;
} afile;

struct rf_archive {
  rf_engine *e;
  rf_warc *w;
  afile *cur;       /* the WARC file being written */
  afile *finished;  /* rotated out, to close outside rf_run; oldest first */
  rf_outfile *cdxj;
  int cdxj_fd;
  jbuf jb;
  char stem[4096];
  uint64_t exchanges;
  uint64_t warc_queued;   /* bytes handed to the WARC files, all of them */
  uint64_t cdxj_queued;
  uint64_t closed_written;/* bytes written to WARC files closed since */
  unsigned files;
  int err;
};

static void fail(rf_archive *a, int rc) {
  if (rc < 0 && !a->err)
    a->err = rc;
}

static int out_write(void *ud, const void *p, size_t n) {
  afile *f = ud;
  int rc = rf_outfile_write(f->out, p, n);
  if (!rc)
    f->a->warc_queued += n;
  return rc;
}

static int open_file(void *ud, unsigned k, const char *path, rf_warc_out *out, void **out_ud) {
  (void)k;
  rf_archive *a = ud;
  afile *f = calloc(1, sizeof *f);
  if (!f)
    return -ENOMEM;
  f->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (f->fd < 0) {
    int rc = -errno;
    fprintf(stderr, "ringfetch: cannot write '%s': %s\n", path, strerror(errno));
    free(f);
    return rc;
  }
  int rc = rf_outfile_new(a->e, f->fd, &f->out);
  if (rc < 0) {
    close(f->fd);
    free(f);
    return rc;
  }
  f->a = a;
  a->cur = f;
  a->files++;
  *out = out_write;
  *out_ud = f;
  return 0;
}

static int done_file(void *ud, unsigned k, void *out_ud) {
  (void)k;
  rf_archive *a = ud;
  afile *f = out_ud;
  if (a->cur == f)
    a->cur = NULL;
  afile **t = &a->finished;
  while (*t)
    t = &(*t)->next;
  f->next = NULL;
  *t = f;
  return 0;
}

static int close_file(afile *f) {
  rf_outfile *out = f->out;
  while (rf_outfile_backlog(out) && !f->a->err && rf_run(f->a->e, 100) >= 0) {
  } /* (rf_outfile_close does the same; the count is taken first) */
  f->a->closed_written += rf_outfile_written(out);
  int rc = rf_outfile_close(out);
  if (close(f->fd) < 0 && !rc)
    rc = -errno;
  free(f);
  return rc;
}

rf_archive *rf_archive_alloc(void) {
  rf_archive *a = calloc(1, sizeof *a);
  if (a)
    a->cdxj_fd = -1;
  return a;
}

static bool exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* The name stem: --warc without ".warc.gz"/".warc"; a resumed run takes the
 * first free "-rN" (N from 2) so the killed run's files stay as they were. */
static int pick_stem(rf_archive *a, const rf_archive_opts *o, char *err, size_t cap) {
  size_t n = strlen(o->warc);
  if (n > 8 && strcmp(o->warc + n - 8, ".warc.gz") == 0)
    n -= 8;
  else if (n > 5 && strcmp(o->warc + n - 5, ".warc") == 0)
    n -= 5;
  if (n + 32 > sizeof a->stem) {
    snprintf(err, cap, "--warc name too long");
    return -1;
  }
  snprintf(a->stem, sizeof a->stem, "%.*s", (int)n, o->warc);
  if (!o->resume)
    return 0;
  char one[4200], first[4200];
  snprintf(one, sizeof one, "%s.warc.gz", a->stem);
  snprintf(first, sizeof first, "%s-00000.warc.gz", a->stem);
  if (!exists(one) && !exists(first))
    return 0; /* nothing to keep */
  for (unsigned r = 2; r < 100000; r++) {
    snprintf(one, sizeof one, "%.*s-r%u.warc.gz", (int)n, o->warc, r);
    snprintf(first, sizeof first, "%.*s-r%u-00000.warc.gz", (int)n, o->warc, r);
    if (!exists(one) && !exists(first)) {
      snprintf(a->stem, sizeof a->stem, "%.*s-r%u", (int)n, o->warc, r);
      return 0;
    }
  }
  snprintf(err, cap, "--warc: no free name for the resumed run's files");
  return -1;
}

/* The CDXJ index: appended to when resuming (its lines name their files),
 * after cutting a torn last line off. */
static int open_cdxj(rf_archive *a, const rf_archive_opts *o, char *err, size_t cap) {
  int flags = O_RDWR | O_CREAT | O_CLOEXEC | (o->resume ? O_APPEND : O_TRUNC);
  a->cdxj_fd = open(o->cdxj, flags, 0644);
  if (a->cdxj_fd < 0) {
    snprintf(err, cap, "cannot write '%s': %s", o->cdxj, strerror(errno));
    return -1;
  }
  int rc = o->resume ? rf_cut_torn_line(a->cdxj_fd) : 0;
  if (rc < 0) {
    snprintf(err, cap, "cannot cut the torn last line of '%s': %s", o->cdxj, strerror(-rc));
    return -1;
  }
  if (rf_outfile_new(a->e, a->cdxj_fd, &a->cdxj) < 0) {
    snprintf(err, cap, "out of memory");
    return -1;
  }
  return 0;
}

int rf_archive_start(rf_archive *a, rf_engine *e, const rf_archive_opts *o, char *err, size_t cap) {
  a->e = e;
  if (pick_stem(a, o, err, cap) < 0)
    return -1;
  if (o->cdxj && open_cdxj(a, o, err, cap) < 0)
    return -1;
  char software[64], name[4200];
  snprintf(software, sizeof software, "ringfetch/%s", rf_version());
  snprintf(name, sizeof name, "%s.warc.gz", a->stem);
  rf_warc_opts wo = {
      .name = name,
      .software = software,
      .command_line = o->command_line,
      .max_size = o->max_size,
      .capture_max = o->capture_max,
      .open = open_file,
      .done = done_file,
      .ud = a,
  };
  int rc = rf_warc_new(&wo, &a->w);
  if (rc < 0) {
    snprintf(err, cap, "--warc '%s': %s", name, strerror(-rc));
    return -1;
  }
  return 0;
}

void rf_archive_on_exchange(void *ud, const rf_exchange *x) {
  rf_archive *a = ud;
  if (a->err || !a->w)
    return;
  rf_warc_pos pos;
  int rc = rf_warc_exchange(a->w, x, &pos);
  if (rc < 0) {
    fail(a, rc);
    return;
  }
  a->exchanges++;
  if (a->cdxj) {
    jb_reset(&a->jb);
    rf_cdxj_line(&a->jb, x, &pos);
    int rc2 = a->jb.oom ? -ENOMEM : rf_outfile_write(a->cdxj, a->jb.p, a->jb.len);
    if (!rc2)
      a->cdxj_queued += a->jb.len;
    fail(a, rc2);
  }
}

void rf_archive_queued(void *ud, uint64_t out[2]) {
  rf_archive *a = ud;
  out[0] = a->warc_queued;
  out[1] = a->cdxj_queued;
}

/* Bytes of the WARC files written with nothing unwritten before them (the
 * files in order, up to the first with a backlog), and of the CDXJ file. */
void rf_archive_written(void *ud, uint64_t out[2]) {
  rf_archive *a = ud;
  uint64_t n = a->closed_written;
  bool gap = false;
  for (const afile *f = a->finished; f && !gap; f = f->next) {
    n += rf_outfile_written(f->out);
    gap = rf_outfile_backlog(f->out) > 0;
  }
  if (a->cur && !gap)
    n += rf_outfile_written(a->cur->out);
  out[0] = n;
  out[1] = a->cdxj ? rf_outfile_written(a->cdxj) : 0;
}

size_t rf_archive_backlog(const rf_archive *a) {
  size_t n = a->cdxj ? rf_outfile_backlog(a->cdxj) : 0;
  if (a->cur)
    n += rf_outfile_backlog(a->cur->out);
  for (const afile *f = a->finished; f; f = f->next)
    n += rf_outfile_backlog(f->out);
  return n;
}

int rf_archive_tidy(rf_archive *a) {
  while (a->finished) {
    afile *f = a->finished;
    a->finished = f->next;
    fail(a, close_file(f));
  }
  return a->err;
}

int rf_archive_close(rf_archive *a, uint64_t written[2]) {
  if (!a)
    return 0;
  if (a->w)
    fail(a, rf_warc_close(a->w)); /* the last file's done: onto the list */
  a->w = NULL; /* from now on an exchange the engine still hands over is dropped */
  if (a->cur) /* the writer never got going */
    done_file(a, 0, a->cur);
  rf_archive_tidy(a);
  uint64_t cdxj_written = a->cdxj_queued;
  if (a->cdxj) {
    uint64_t before = rf_outfile_written(a->cdxj);
    int rc = rf_outfile_close(a->cdxj);
    a->cdxj = NULL;
    if (rc) /* how much of the rest got out is unknown */
      cdxj_written = before;
    fail(a, rc);
  }
  if (written) {
    written[0] = a->cur || a->finished ? 0 : a->closed_written; /* a file left open: none trusted */
    written[1] = cdxj_written;
  }
  if (a->cdxj_fd >= 0 && close(a->cdxj_fd) < 0)
    fail(a, -errno);
  a->cdxj_fd = -1;
  return a->err;
}

void rf_archive_free(rf_archive *a) {
  if (!a)
    return;
  rf_archive_close(a, NULL); /* nothing left to do when it was closed */
  jb_free(&a->jb);
  free(a);
}

void rf_archive_counts(const rf_archive *a, uint64_t *exchanges, unsigned *files, const char **stem) {
  *exchanges = a->exchanges;
  *files = a->files;
  *stem = a->stem;
}
