/* The fault soak's client (test_soak.py): N requests through the library at
 * high concurrency, from a plan of URLs that mixes healthy responses with
 * every fault the test servers can produce. Uses only the public header.
 *
 *   soak_client PLAN N CONCURRENCY OUT
 *
 * PLAN: one entry per line, "URL<TAB>FLAGS" (FLAGS: "L" follow redirects,
 * "D" decode content, "P" HTTP/2 with prior knowledge (h2c), "cMS" / "rMS" /
 * "mMS" this request's connect, read and whole-request timeouts in ms, "-"
 * none; e.g. "Dr1000"); request i uses entry i % lines. Prior knowledge is an
 * engine setting that covers every http origin, so the "P" requests go to a
 * second engine (a fifth of CONCURRENCY, the first has the rest), run in the
 * same thread turn by turn: the figures are the whole process's. The engine's own timeouts are generous (10 s), so that a
 * healthy request on a loaded machine never times out; the faults that need
 * a timeout to end carry a tight one.
 * Certificates are verified against RF_CA_FILE. Writes one line per result
 * to OUT (a file: a pipe its reader is slow to drain would stall the loop),
 * "index<TAB>error<TAB>status<TAB>body_bytes<TAB>sha256|-<TAB>error message"
 * (tabs and line ends in the message made spaces); prints one JSON
 * line of figures: results, descriptors open before and after, the highest
 * RSS seen in each quarter of the results, the heap in use (mallinfo2) at the
 * end of each quarter, wall seconds.
 * Exit 0 when every request got exactly one result, 1 otherwise. */
#include <dirent.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proc_self.h"
#include "ringfetch.h"

typedef struct {
  char *url;
  unsigned flags;
  unsigned connect_ms, read_ms, max_ms;
  bool h2c; /* "P": to the prior-knowledge engine */
} entry;

static void parse_flags(entry *en, const char *f) {
  for (; *f; f++) {
    if (*f == 'L')
      en->flags |= RF_REQ_FOLLOW;
    else if (*f == 'D')
      en->flags |= RF_REQ_DECODE;
    else if (*f == 'P')
      en->h2c = true;
    else if (*f == 'c' || *f == 'r' || *f == 'm') {
      char *end;
      unsigned v = (unsigned)strtoul(f + 1, &end, 10);
      *(*f == 'c' ? &en->connect_ms : *f == 'r' ? &en->read_ms : &en->max_ms) = v;
      f = end - 1;
    }
  }
}

static unsigned open_fds(void) {
  unsigned n = 0;
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return 0;
  while (readdir(d))
    n++;
  closedir(d);
  return n - 3; /* ".", ".." and the directory's own descriptor */
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static entry *read_plan(const char *path, size_t *n) {
  FILE *f = fopen(path, "r");
  if (!f) {
    perror(path);
    exit(2);
  }
  entry *v = NULL;
  size_t cap = 0;
  char line[8192];
  *n = 0;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    char *tab = strchr(line, '\t');
    if (!tab)
      continue;
    *tab = 0;
    if (*n == cap) {
      cap = cap ? 2 * cap : 64;
      v = realloc(v, cap * sizeof *v);
      if (!v)
        exit(2);
    }
    memset(&v[*n], 0, sizeof v[*n]);
    v[*n].url = strdup(line);
    parse_flags(&v[*n], tab + 1);
    (*n)++;
  }
  fclose(f);
  if (*n == 0) {
    fprintf(stderr, "%s: an empty plan\n", path);
    exit(2);
  }
  return v;
}

static rf_engine *make(unsigned conc, bool prior_knowledge) {
  rf_config cfg;
  rf_config_init(&cfg);
  cfg.concurrency = conc;
  cfg.ca_file = getenv("RF_CA_FILE");
  cfg.connect_timeout_ms = 10000;
  cfg.read_timeout_ms = 10000;
  cfg.max_time_ms = 15000;
  cfg.idle_per_host = 16; /* pools fill early: the warm-up is the first half, not the run */
  cfg.http2 = true;       /* ALPN offers h2: nginx's h2 servers take it, the others say 1.1 */
  cfg.http2_prior_knowledge = prior_knowledge;
  rf_engine *e = NULL;
  char err[256];
  if (!cfg.ca_file || rf_engine_new(&cfg, &e, err, sizeof err) < 0) {
    fprintf(stderr, "rf_engine_new: %s\n", cfg.ca_file ? err : "RF_CA_FILE is not set");
    exit(2);
  }
  return e;
}

static void print_result(FILE *out, const rf_result *r) {
  char sha[65] = "-";
  if (r->has_sha256)
    for (int i = 0; i < 32; i++)
      sprintf(sha + 2 * i, "%02x", r->body_sha256[i]);
  fprintf(out, "%llu\t%s\t%d\t%llu\t%s\t", (unsigned long long)r->tag, rf_error_name(r->error), r->status,
          (unsigned long long)r->body_bytes, sha);
  for (const char *m = r->error_message; m && *m; m++)
    fputc(*m == '\t' || *m == '\n' || *m == '\r' ? ' ' : *m, out);
  fputc('\n', out);
}

typedef struct {
  rf_engine *e[2]; /* [0] the ALPN engine, [1] the prior-knowledge (h2c) one */
  const entry *plan;
  size_t nplan;
  uint64_t n, next, got, dup;
  unsigned char *seen;
  FILE *out;
  long rss_q[4];    /* the highest RSS seen in each quarter */
  size_t heap_q[4]; /* the heap in use at the end of each quarter */
} soak;

/* Submits requests in plan order until an engine's queue is full. */
static void submit_some(soak *s) {
  while (s->next < s->n) {
    rf_request rq;
    rf_request_init(&rq);
    const entry *en = &s->plan[s->next % s->nplan];
    rq.url = en->url;
    rq.flags = en->flags | RF_REQ_SHA256;
    rq.connect_timeout_ms = en->connect_ms;
    rq.read_timeout_ms = en->read_ms;
    rq.max_time_ms = en->max_ms;
    rq.body_mode = RF_BODY_DISCARD;
    rq.tag = s->next;
    rq.max_redirects = 5;
    if (rf_submit(s->e[en->h2c], &rq) != 0)
      return; /* the queue is full: run first */
    s->next++;
  }
}

/* One turn of one engine, then its results. It waits for completions only
 * briefly while the other engine has work too (a turn of one must not hold
 * up the other's), and not at all when it has none. */
static int turn(soak *s, int which) {
  rf_engine *e = s->e[which], *other = s->e[!which];
  int wait_ms = rf_outstanding(e) == 0 ? 0 : rf_outstanding(other) ? 2 : 100;
  if (rf_run(e, wait_ms) < 0) {
    fprintf(stderr, "rf_run failed\n");
    return -1;
  }
  rf_result *r;
  while ((r = rf_result_next(e)) != NULL) {
    if (r->tag < s->n && !s->seen[r->tag]++)
      s->got++;
    else
      s->dup++;
    print_result(s->out, r);
    rf_result_release(e, r);
  }
  return 0;
}

static void sample_memory(soak *s) {
  size_t q = s->n ? (size_t)(s->got * 4 / (s->n + 1)) : 0;
  long rss = rss_kib();
  if (q < 4 && rss > s->rss_q[q])
    s->rss_q[q] = rss;
  if (q < 4)
    s->heap_q[q] = mallinfo2().uordblks;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: soak_client PLAN N CONCURRENCY OUT\n");
    return 2;
  }
  unsigned fds_before = open_fds();
  soak s = {0};
  s.out = fopen(argv[4], "w");
  if (!s.out) {
    perror(argv[4]);
    return 2;
  }
  entry *plan = read_plan(argv[1], &s.nplan);
  s.plan = plan;
  s.n = strtoull(argv[2], NULL, 10);
  double t0 = now_s();
  unsigned conc = (unsigned)strtoul(argv[3], NULL, 10), conc_h2c = conc / 5 ? conc / 5 : 1;
  s.e[0] = make(conc > conc_h2c ? conc - conc_h2c : 1, false);
  s.e[1] = make(conc_h2c, true);
  s.seen = calloc(s.n ? s.n : 1, 1);
  double deadline = t0 + 300.0 + (double)s.n / 50.0; /* a hang is a failure, not a wait */
  while (s.got < s.n && now_s() < deadline) {
    submit_some(&s);
    if (turn(&s, 0) < 0 || turn(&s, 1) < 0)
      break;
    sample_memory(&s);
  }
  rf_engine_free(s.e[0]);
  rf_engine_free(s.e[1]);
  double wall = now_s() - t0;
  fclose(s.out);
  unsigned fds_after = open_fds();
  printf("{\"results\": %llu, \"duplicates\": %llu, \"fds_before\": %u, \"fds_after\": %u, "
         "\"rss_quarters_kib\": [%ld, %ld, %ld, %ld], \"heap_quarters_kib\": [%zu, %zu, %zu, %zu], "
         "\"wall_s\": %.3f}\n",
         (unsigned long long)s.got, (unsigned long long)s.dup, fds_before, fds_after, s.rss_q[0], s.rss_q[1],
         s.rss_q[2], s.rss_q[3], s.heap_q[0] >> 10, s.heap_q[1] >> 10, s.heap_q[2] >> 10, s.heap_q[3] >> 10,
         wall);
  for (size_t i = 0; i < s.nplan; i++)
    free(plan[i].url);
  free(plan);
  free(s.seen);
  return s.got == s.n && s.dup == 0 ? 0 : 1;
}
