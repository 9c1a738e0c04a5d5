/* `ringfetch enqueue` and `ringfetch results` (see fleet.h): the input into
 * the work stream, the results stream out as JSON Lines. Both run their
 * Redis connection on an engine's ring like a worker does. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fleet.h"
#include "input.h"
#include "redisq.h"

#define ENQ_WINDOW 2000u   /* XADDs in flight (pipelined) */
#define RES_BATCH "1000"   /* results read per XRANGE */

typedef struct enq {
  rf_cli *o;
  rf_engine *e;
  rq_target t;
  rq_conn rc;
  rf_input in;
  size_t next_arg;
  uint64_t line, confirmed, inflight;
  bool eof, blocked, failed;
  const char *src;
} enq;

static void on_xadd(void *ud, redisReply *r) {
  enq *q = ud;
  q->inflight--;
  if (r && r->type == REDIS_REPLY_STRING) {
    q->confirmed++;
    return;
  }
  if (!q->failed)
    fprintf(stderr, "ringfetch: enqueue: %s%.*s\n", r ? "" : "the connection to redis was lost",
            r && r->type == REDIS_REPLY_ERROR ? (int)r->len : 0, r && r->str ? r->str : "");
  q->failed = true;
}

static void on_enq_group(void *ud, redisReply *r) {
  enq *q = ud;
  if (!r || (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9) != 0)) {
    if (r)
      fprintf(stderr, "ringfetch: enqueue: cannot create the consumer group: %s\n", r->str);
    q->failed = true;
  }
}

static void enq_connect(void *ud) {
  enq *q = ud;
  const char *argv[] = {"XGROUP", "CREATE", q->t.name, RF_FLEET_GROUP, "0", "MKSTREAM"};
  rq_cmd(&q->rc, on_enq_group, q, 6, argv, NULL);
}

/* The next input line: arguments first, then -i. RF_LINE_* */
static int enq_line(enq *q, char **s, size_t *n, bool *too_long) {
  *too_long = false;
  if (q->next_arg < q->o->n_urls) {
    *s = q->o->urls[q->next_arg++];
    *n = strlen(*s);
    q->src = "args";
    return RF_LINE_OK;
  }
  if (!q->o->input)
    return RF_LINE_EOF;
  q->src = strcmp(q->o->input, "-") == 0 ? "stdin" : q->o->input;
  int lr = rf_input_line(&q->in, s, n, too_long);
  if (lr == RF_LINE_ERR)
    fprintf(stderr, "ringfetch: reading the input failed: %s\n", strerror(errno));
  return lr == RF_LINE_ERR ? RF_LINE_EOF : lr;
}

/* Queues lines while the window has room. */
static void enq_feed(enq *q) {
  q->blocked = false;
  while (!q->eof && !q->failed && q->inflight < ENQ_WINDOW && rq_ready(&q->rc)) {
    char *s;
    size_t n;
    bool too_long;
    int lr = enq_line(q, &s, &n, &too_long);
    if (lr != RF_LINE_OK) {
      q->blocked = lr == RF_LINE_AGAIN;
      q->eof = lr == RF_LINE_EOF;
      return;
    }
    rf_trim(&s, &n);
    char line[24];
    snprintf(line, sizeof line, "%llu", (unsigned long long)++q->line);
    const char *argv[] = {"XADD", q->t.name, "*", "url", s, "line", line, "src", q->src, "toolong", "1"};
    size_t lens[11];
    for (int k = 0; k < 11; k++)
      lens[k] = k == 4 ? n : strlen(argv[k]);
    if (rq_cmd(&q->rc, on_xadd, q, too_long ? 11 : 9, argv, lens) < 0) {
      fprintf(stderr, "ringfetch: enqueue: cannot send to redis\n");
      q->failed = true;
      return;
    }
    q->inflight++;
  }
}

int rf_enqueue_main(rf_cli *o) {
  enq q = {.o = o};
  char err[512];
  q.in.fd = -1;
  if (rq_parse_url(o->queue, &q.t, err, sizeof err) < 0)
    return fprintf(stderr, "ringfetch: %s\n", err), RF_EXIT_USAGE;
  if (o->input && rf_input_open(&q.in, o->input) < 0)
    return fprintf(stderr, "ringfetch: cannot read '%s': %s\n", o->input, strerror(errno)), RF_EXIT_USAGE;
  rf_config cfg;
  rf_config_init(&cfg);
  cfg.concurrency = 1;
  if (rf_engine_new(&cfg, &q.e, err, sizeof err) < 0) {
    rf_input_close(&q.in);
    return fprintf(stderr, "ringfetch: %s\n", err), RF_EXIT_FAILED;
  }
  rq_init(&q.rc, q.e, &q.t);
  q.rc.quiet_retry = true;
  q.rc.on_connect = enq_connect;
  q.rc.ud = &q;
  rq_pump(&q.rc, rq_mono()); /* connect */
  while (!q.failed && (!q.eof || q.inflight)) {
    enq_feed(&q);
    if (q.rc.outages) { /* enqueue does not retry: what was confirmed is said below */
      q.failed = true;
      break;
    }
    rf_run(q.e, q.blocked ? 5 : 1000);
    rq_pump(&q.rc, rq_mono());
  }
  if (q.failed && q.confirmed)
    fprintf(stderr, "ringfetch: enqueue: %llu lines confirmed queued (input lines 1..%llu); the rest was not\n",
            (unsigned long long)q.confirmed, (unsigned long long)q.confirmed);
  else if (q.failed)
    fprintf(stderr, "ringfetch: enqueue: nothing was queued\n");
  else if (!o->quiet)
    fprintf(stderr, "ringfetch: queued %llu lines to %s on %s\n", (unsigned long long)q.confirmed, q.t.name,
            q.t.where);
  rq_free(&q.rc);
  rf_engine_free(q.e);
  if (o->input)
    rf_input_close(&q.in);
  return q.failed ? RF_EXIT_FAILED : RF_EXIT_OK;
}

/* ---- results ------------------------------------------------------------------------ */

typedef struct res {
  rf_cli *o;
  rf_engine *e;
  rq_target t;
  rq_conn rc;
  char key[300];
  char next[48];        /* the last ID printed ("0-0" before the first) */
  rf_outfile *out;
  uint64_t printed;
  bool asking, done, failed;
} res;

/* XRANGE's [[id, [f, v, ...]], ...]: each entry's rec goes out. How many. */
static size_t print_entries(res *s, const redisReply *es) {
  if (!es || es->type != REDIS_REPLY_ARRAY)
    return 0;
  for (size_t i = 0; i < es->elements; i++) {
    const redisReply *en = es->element[i];
    if (en->type != REDIS_REPLY_ARRAY || en->elements < 2 || !rq_str(en->element[0], s->next, sizeof s->next))
      continue;
    const redisReply *fv = en->element[1];
    for (size_t k = 0; fv->type == REDIS_REPLY_ARRAY && k + 1 < fv->elements; k += 2)
      if (rq_is(fv->element[k], "rec") && fv->element[k + 1]->type == REDIS_REPLY_STRING) {
        rf_outfile_write(s->out, fv->element[k + 1]->str, fv->element[k + 1]->len);
        s->printed++;
      }
  }
  return es->elements;
}

static void on_range(void *ud, redisReply *r) {
  res *s = ud;
  s->asking = false;
  if (!r || r->type == REDIS_REPLY_ERROR) {
    fprintf(stderr, "ringfetch: results: %s\n", r ? r->str : "the connection to redis was lost");
    s->failed = !s->o->follow; /* --follow waits for the server to come back */
    return;
  }
  const redisReply *es = r;
  if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->type == REDIS_REPLY_ARRAY &&
      r->element[0]->elements == 2 && r->element[0]->element[0]->type == REDIS_REPLY_STRING)
    es = r->element[0]->element[1]; /* XREAD: [[stream, entries]] */
  size_t n = r->type == REDIS_REPLY_NIL ? 0 : print_entries(s, es);
  if (n < (size_t)atoi(RES_BATCH) && !s->o->follow)
    s->done = true;
}

static void ask_results(res *s) {
  if (s->asking || s->done || !rq_ready(&s->rc) || rf_outfile_backlog(s->out) > (8u << 20))
    return;
  char start[52];
  snprintf(start, sizeof start, "(%s", s->next);
  const char *range[] = {"XRANGE", s->key, start, "+", "COUNT", RES_BATCH};
  const char *rd[] = {"XREAD", "COUNT", RES_BATCH, "BLOCK", "1000", "STREAMS", s->key, s->next};
  int rc = s->o->follow ? rq_cmd(&s->rc, on_range, s, 8, rd, NULL) : rq_cmd(&s->rc, on_range, s, 6, range, NULL);
  s->asking = rc == 0;
}

int rf_results_main(rf_cli *o) {
  res s = {.o = o};
  char err[512];
  if (rq_parse_url(o->queue, &s.t, err, sizeof err) < 0)
    return fprintf(stderr, "ringfetch: %s\n", err), RF_EXIT_USAGE;
  snprintf(s.key, sizeof s.key, "%s:results", s.t.name);
  strcpy(s.next, "0-0");
  int fd = o->output ? open(o->output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : 1;
  if (fd < 0)
    return fprintf(stderr, "ringfetch: cannot write '%s': %s\n", o->output, strerror(errno)), RF_EXIT_USAGE;
  rf_config cfg;
  rf_config_init(&cfg);
  cfg.concurrency = 1;
  if (rf_engine_new(&cfg, &s.e, err, sizeof err) < 0 || rf_outfile_new(s.e, fd, &s.out) < 0) {
    fprintf(stderr, "ringfetch: %s\n", err);
    rf_engine_free(s.e);
    return RF_EXIT_FAILED;
  }
  rq_init(&s.rc, s.e, &s.t);
  s.rc.quiet_retry = !o->follow;
  for (;;) {
    rq_pump(&s.rc, rq_mono());
    if (s.done || s.failed) /* the last reply came in the turn before */
      break;
    ask_results(&s);
    double wait = rq_wait_s(&s.rc, rq_mono());
    rf_run(s.e, wait > 1 ? 1000 : (int)(wait * 1000) + 1);
  }
  rq_free(&s.rc);
  int werr = rf_outfile_close(s.out);
  if (fd > 2)
    close(fd);
  rf_engine_free(s.e);
  if (werr)
    fprintf(stderr, "ringfetch: writing the results failed: %s\n", strerror(-werr));
  else if (!o->quiet && !s.failed)
    fprintf(stderr, "ringfetch: %llu results from %s\n", (unsigned long long)s.printed, s.key);
  return s.failed || werr ? RF_EXIT_FAILED : RF_EXIT_OK;
}
