/* `ringfetch fetch --queue redis://.../NAME --worker ID`: a worker of the
 * fleet (see fleet.h). Everything runs on the engine's ring: the fetches
 * and the Redis connection (redisq.c).
 *
 * Entries come from XREADGROUP (">", new ones; two reads in flight) and
 * XAUTOCLAIM (those idle on any consumer past --claim-idle: a dead
 * worker's), never more unfinished than the worker runs at once plus one
 * batch. Finished entries are stored by a script that, for each,
 * acknowledges the entry and, only when that removed it from the pending
 * list, appends its record to NAME:results (up to STORE_BATCH per call).
 * The worker refreshes the idle time of what it holds (XCLAIM JUSTID) so a
 * slow fetch is not taken over while it is alive. --host-rate and
 * --per-host hold fleet-wide (polite.c). */
#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fleet.h"
#include "fleetw.h"

/* Stores results: for each pair (ID, record) in ARGV[2..], the record goes
 * to KEYS[2] only if acknowledging the ID in group ARGV[1] of KEYS[1]
 * removed it from the pending list. One flag per pair: 1 stored, 0 a
 * duplicate (someone finished the entry first). */
static const char STORE_LUA[] =
    "local out = {}\n"
    "for i = 2, #ARGV, 2 do\n"
    "  if redis.call('XACK', KEYS[1], ARGV[1], ARGV[i]) == 1 then\n"
    "    redis.call('XADD', KEYS[2], '*', 'rec', ARGV[i + 1])\n"
    "    out[#out + 1] = 1\n"
    "  else\n"
    "    out[#out + 1] = 0\n"
    "  end\n"
    "end\n"
    "return out\n";

#define STORE_BATCH 128u   /* results per script call */
#define STORE_WAIT_S 0.002 /* a smaller lot waits this long for company */

/* The entries of one store call, to find them again in its reply. */
typedef struct store_call {
  worker *w;
  uint32_t n;
  uint32_t idx[STORE_BATCH];
} store_call;

static volatile sig_atomic_t g_signals, g_signo;

static void on_signal(int sig) {
  g_signo = sig;
  g_signals++;
}

/* ---- lists of entries ------------------------------------------------------------ */

void rf_fleet_push(worker *w, flist *l, uint32_t i) {
  w->ents[i].next = NIL;
  if (l->tail != NIL)
    w->ents[l->tail].next = i;
  else
    l->head = i;
  l->tail = i;
  l->n++;
}

uint32_t rf_fleet_pop(worker *w, flist *l) {
  uint32_t i = l->head;
  if (i == NIL)
    return NIL;
  l->head = w->ents[i].next;
  if (l->head == NIL)
    l->tail = NIL;
  l->n--;
  return i;
}

static void entry_free(worker *w, fentry *f) {
  rf_polite_ended(f);
  if (f->state == E_STORE || f->state == E_STORING)
    w->finished--;
  free(f->url);
  free(f->src);
  free(f->rec);
  uint32_t i = (uint32_t)(f - w->ents);
  memset(f, 0, sizeof *f);
  f->w = w;
  f->state = E_FREE;
  rf_fleet_push(w, &w->freel, i);
  w->held--;
}

/* ---- records ------------------------------------------------------------------- */

/* The record of r for entry f, queued to be stored. */
static void entry_record(worker *w, fentry *f, const rf_result *r) {
  rf_polite_ended(f); /* its origin may start the next one */
  rf_result c = *r;
  c.tag = f->line;
  jbuf *x = &w->extra;
  jb_reset(x);
  jb_key(x, "worker", 0);
  jb_str(x, w->me, strlen(w->me));
  jb_key(x, "input", 0);
  jb_str(x, f->src ? f->src : "", f->src ? strlen(f->src) : 0);
  jb_raw(x, "", 1);
  rf_records_json(&w->recs, &c, x->oom ? NULL : x->p);
  free(f->rec);
  jbuf *b = &w->recs.jb;
  f->rec = b->oom ? NULL : malloc(b->len);
  if (f->rec)
    memcpy(f->rec, b->p, b->len);
  f->rec_len = f->rec ? b->len : 0;
  jb_reset(b);
  b->oom = 0;
  if (!f->rec) { /* out of memory: given back, another worker (or a later claim) redoes it */
    entry_free(w, f);
    return;
  }
  f->state = E_STORE;
  if (!w->store.n)
    w->store_since = rq_mono();
  rf_fleet_push(w, &w->store, (uint32_t)(f - w->ents));
  w->results++;
  w->finished++;
}

static void local_error(worker *w, fentry *f, rf_error err, const char *msg) {
  rf_result r;
  rf_records_local(&r, f->url ? f->url : "", f->url ? f->url_len : 0, f->line, err, msg);
  entry_record(w, f, &r);
}

/* ---- the reply of the store script ---------------------------------------------- */

static void on_stored(void *ud, redisReply *r) {
  store_call *sc = ud;
  worker *w = sc->w;
  bool ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == sc->n;
  if (!ok && r && r->type == REDIS_REPLY_ERROR)
    fprintf(stderr, "ringfetch: redis: storing results: %.*s\n", (int)r->len, r->str);
  for (uint32_t k = 0; k < sc->n; k++) {
    fentry *f = &w->ents[sc->idx[k]];
    if (!ok) { /* again, once the connection is back: the script is idempotent */
      f->state = E_STORE;
      rf_fleet_push(w, &w->store, sc->idx[k]);
      continue;
    }
    if (r->element[k]->type == REDIS_REPLY_INTEGER && r->element[k]->integer == 1) {
      w->stored++;
      if (w->out && f->rec_len)
        rf_outfile_write(w->out, f->rec, f->rec_len);
    } else {
      w->dups++; /* finished first by the worker that claimed it */
    }
    entry_free(w, f);
  }
  free(sc);
}

/* One script call for up to STORE_BATCH results waiting to be stored. */
static int store_some(worker *w) {
  store_call *sc = malloc(sizeof *sc);
  const char *argv[6 + 2 * STORE_BATCH];
  size_t lens[6 + 2 * STORE_BATCH];
  if (!sc)
    return -1;
  sc->w = w;
  sc->n = 0;
  int n = 0;
  argv[n++] = "EVALSHA", argv[n++] = w->sha_store, argv[n++] = "2";
  argv[n++] = w->t.name, argv[n++] = w->reskey, argv[n++] = RF_FLEET_GROUP;
  for (int k = 0; k < n; k++)
    lens[k] = strlen(argv[k]);
  uint32_t i;
  while (sc->n < STORE_BATCH && (i = rf_fleet_pop(w, &w->store)) != NIL) {
    fentry *f = &w->ents[i];
    f->state = E_STORING;
    sc->idx[sc->n++] = i;
    argv[n] = f->id, lens[n++] = strlen(f->id);
    argv[n] = f->rec ? f->rec : "", lens[n++] = f->rec ? f->rec_len : 0;
  }
  if (rq_cmd(&w->rc, on_stored, sc, n, argv, lens) < 0) {
    for (uint32_t k = 0; k < sc->n; k++) {
      w->ents[sc->idx[k]].state = E_STORE;
      rf_fleet_push(w, &w->store, sc->idx[k]);
    }
    free(sc);
    return -1;
  }
  return 0;
}

/* Results go out in calls of STORE_BATCH, or STORE_WAIT_S after the first
 * of a smaller lot was ready (fewer calls: less of Redis's CPU per URL),
 * or at once when nothing else runs. The time a lot is due, or 0. */
static double store_due(const worker *w) {
  if (!w->store.n)
    return 0;
  if (w->store.n >= STORE_BATCH || w->stopping || rf_outstanding(w->e) == 0)
    return w->store_since;
  return w->store_since + STORE_WAIT_S;
}

static void send_stores(worker *w, double now) {
  while (rq_ready(&w->rc) && w->store.n && store_due(w) <= now)
    if (store_some(w) < 0)
      return;
}

/* ---- taking entries ---------------------------------------------------------------- */

static bool held_here(const worker *w, const char *id) {
  for (uint32_t i = 0; i < w->nents; i++)
    if (w->ents[i].state != E_FREE && strcmp(w->ents[i].id, id) == 0)
      return true;
  return false;
}

static char *field_dup(const redisReply *v) {
  return v && v->type == REDIS_REPLY_STRING ? strndup(v->str, v->len) : NULL;
}

/* One entry [id, [field, value, ...]] of a read or a claim. */
static void take_entry(worker *w, const redisReply *en, bool claimed) {
  if (en->type != REDIS_REPLY_ARRAY || en->elements < 2 || en->element[0]->type != REDIS_REPLY_STRING ||
      en->element[0]->len >= sizeof w->ents[0].id)
    return;
  const redisReply *idr = en->element[0], *fv = en->element[1];
  char id[sizeof w->ents[0].id];
  memcpy(id, idr->str, idr->len);
  id[idr->len] = 0;
  if (claimed && held_here(w, id))
    return; /* ours already (its idle refresh came late) */
  uint32_t i = rf_fleet_pop(w, &w->freel);
  if (i == NIL)
    return; /* cannot happen: reads ask for the free room only; it stays pending */
  fentry *f = &w->ents[i];
  w->held++;
  strcpy(f->id, id);
  w->claimed += claimed;
  if (fv->type != REDIS_REPLY_ARRAY) { /* deleted from the stream (trimmed): nothing to fetch */
    w->deleted++;
    local_error(w, f, RF_ERR_BAD_URL, "the queue entry was deleted");
    return;
  }
  for (size_t k = 0; k + 1 < fv->elements; k += 2) {
    const redisReply *n = fv->element[k], *v = fv->element[k + 1];
    if (rq_is(n, "url") && !f->url) {
      f->url = field_dup(v);
      f->url_len = f->url ? v->len : 0;
    } else if (rq_is(n, "line") && v->type == REDIS_REPLY_STRING) {
      f->line = strtoull(v->str, NULL, 10);
    } else if (rq_is(n, "src") && !f->src) {
      f->src = field_dup(v);
    } else if (rq_is(n, "toolong")) {
      f->too_long = true;
    }
  }
  w->fetched++;
  if (!f->url || f->too_long || f->url_len == 0) {
    local_error(w, f, RF_ERR_BAD_URL,
                !f->url ? "the queue entry has no url" : f->too_long ? "line longer than 65536 bytes" : "empty line");
    return;
  }
  if (!rf_polite_admit(w, f)) {
    f->state = E_READY;
    rf_fleet_push(w, &w->ready, i);
  }
}

/* The entries of an XREADGROUP reply: [[stream, [entry, ...]]]; how many. */
static size_t take_read(worker *w, const redisReply *r) {
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1)
    return 0;
  const redisReply *st = r->element[0];
  if (st->type != REDIS_REPLY_ARRAY || st->elements < 2 || st->element[1]->type != REDIS_REPLY_ARRAY)
    return 0;
  const redisReply *es = st->element[1];
  for (size_t i = 0; i < es->elements; i++)
    take_entry(w, es->element[i], false);
  return es->elements;
}

/* The ID of the last entry of an XREADGROUP reply into id. */
static bool last_id(const redisReply *r, char *id, size_t cap) {
  const redisReply *es = r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
                                 r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2
                             ? r->element[0]->element[1]
                             : NULL;
  if (!es || es->type != REDIS_REPLY_ARRAY || !es->elements)
    return false;
  const redisReply *en = es->element[es->elements - 1];
  return en->type == REDIS_REPLY_ARRAY && en->elements >= 1 && rq_str(en->element[0], id, cap);
}

static void create_group(worker *w);

static void on_read(void *ud, redisReply *r) {
  worker *w = ud;
  double now = rq_mono();
  w->asked -= w->read_counts[w->read0];
  w->read0 = (w->read0 + 1) % 2;
  w->reads--;
  if (r && r->type == REDIS_REPLY_ERROR) {
    fprintf(stderr, "ringfetch: redis: XREADGROUP: %.*s\n", (int)r->len, r->str);
    if (strncmp(r->str, "NOGROUP", 7) == 0)
      create_group(w); /* deleted, or the server lost its data: the queue starts again empty */
    w->read_at = now + 1.0;
    return;
  }
  size_t n = r ? take_read(w, r) : 0;
  if (w->history) { /* our own pending entries from a previous life, in ID order */
    if (r && (n == 0 || !last_id(r, w->hist_id, sizeof w->hist_id)))
      w->history = false;
    w->read_at = now;
    return;
  }
  w->read_empty = r && n == 0;
  if (n) {
    w->drain_ok = false;
    w->read_at = now;
  } else {
    w->read_at = now + (w->held ? 0.05 : w->o->drain ? 0.1 : 0);
  }
  if (w->read_empty && w->drain_ok && w->held == 0 && !w->reads)
    w->done = true; /* nothing pending anywhere, and still nothing new */
}

/* Entries this worker may still ask for: it holds at most what runs at once
 * plus one batch not yet finished (those being stored do not count: they
 * are done, and their slots are bounded apart), reads in flight included. */
static uint32_t room(const worker *w) {
  uint32_t unfinished = w->held - w->finished + w->asked;
  uint32_t r = w->cap > unfinished ? w->cap - unfinished : 0;
  uint32_t slots = (uint32_t)w->freel.n > w->asked ? (uint32_t)w->freel.n - w->asked : 0;
  return r < slots ? r : slots;
}

/* A read may be sent once read_at comes: two may be in flight, so the
 * engine does not run dry while one comes back. */
static bool can_read(const worker *w) {
  uint32_t n = room(w);
  return !w->stopping && w->reads < 2 && rq_ready(&w->rc) && n > 0 &&
         !((w->held || w->reads) && n < (w->batch + 3) / 4);
}

static void read_more(worker *w, double now) {
  if (!can_read(w) || now < w->read_at)
    return;
  uint32_t n = room(w);
  n = n < w->batch ? n : w->batch;
  char count[16], block[16];
  snprintf(count, sizeof count, "%u", n);
  /* idle without --drain: wait in Redis for new entries (the connection's
   * other commands wait too, but an idle worker has none) */
  bool blk = w->held == 0 && !w->reads && !w->o->drain && !rq_waiting(&w->rc) && !w->history;
  if (w->history && w->reads)
    return; /* the history is read one piece at a time */
  double until_claim = w->claim_at - now;
  snprintf(block, sizeof block, "%d", until_claim < 0.01 ? 10 : until_claim > 1.0 ? 1000 : (int)(until_claim * 1000));
  const char *argv[] = {"XREADGROUP", "GROUP", RF_FLEET_GROUP, w->me, "COUNT", count,
                        "BLOCK",      block,   "STREAMS",      w->t.name, ">"};
  const char *nb[] = {"XREADGROUP", "GROUP",   RF_FLEET_GROUP, w->me, "COUNT", count,
                      "STREAMS",    w->t.name, w->history ? w->hist_id : ">"};
  if ((blk ? rq_cmd(&w->rc, on_read, w, 11, argv, NULL) : rq_cmd(&w->rc, on_read, w, 9, nb, NULL)) == 0) {
    w->read_counts[(w->read0 + w->reads) % 2] = n;
    w->reads++;
    w->asked += n;
    if (blk)
      w->read_at = now + 1e9; /* no second read behind a blocking one */
  }
}

/* ---- taking over what others left idle ---------------------------------------------- */

static double claim_period(const worker *w) {
  double p = w->claim_idle / 2;
  return p < 0.1 ? 0.1 : p > 5 ? 5 : p;
}

static void on_claim(void *ud, redisReply *r) {
  worker *w = ud;
  double now = rq_mono();
  w->claiming = false;
  w->claim_at = now + claim_period(w);
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2) {
    if (r && r->type == REDIS_REPLY_ERROR)
      fprintf(stderr, "ringfetch: redis: XAUTOCLAIM: %.*s\n", (int)r->len, r->str);
    return;
  }
  /* [next cursor, [entries], [deleted IDs] (7.0)] */
  if (!rq_str(r->element[0], w->cursor, sizeof w->cursor))
    strcpy(w->cursor, "0-0");
  const redisReply *es = r->element[1];
  for (size_t i = 0; es->type == REDIS_REPLY_ARRAY && i < es->elements; i++)
    take_entry(w, es->element[i], true);
  if (es->type == REDIS_REPLY_ARRAY && es->elements)
    w->drain_ok = false;
  if (strcmp(w->cursor, "0-0") != 0)
    w->claim_at = now; /* more to scan */
}

static bool can_claim(const worker *w) {
  return !w->stopping && !w->claiming && rq_ready(&w->rc) && room(w) > 0;
}

static void claim_idle(worker *w, double now) {
  uint32_t n = room(w);
  if (!can_claim(w) || now < w->claim_at)
    return;
  char idle[24], count[16];
  snprintf(idle, sizeof idle, "%.0f", w->claim_idle * 1000);
  snprintf(count, sizeof count, "%u", n < w->batch ? n : w->batch);
  const char *argv[] = {"XAUTOCLAIM", w->t.name, RF_FLEET_GROUP, w->me, idle, w->cursor, "COUNT", count};
  if (rq_cmd(&w->rc, on_claim, w, 8, argv, NULL) == 0)
    w->claiming = true;
}

/* What this worker holds stays its own: its idle time is reset (XCLAIM
 * JUSTID does not count a delivery) well before --claim-idle. */
static void heartbeat(worker *w, double now) {
  if (now < w->hb_at || !rq_ready(&w->rc))
    return;
  w->hb_at = now + w->claim_idle / 3;
  rf_polite_renew(w);
  if (!w->held)
    return;
  const char **argv = malloc(sizeof *argv * (w->held + 6));
  if (!argv)
    return;
  int n = 0;
  argv[n++] = "XCLAIM";
  argv[n++] = w->t.name;
  argv[n++] = RF_FLEET_GROUP;
  argv[n++] = w->me;
  argv[n++] = "0";
  for (uint32_t i = 0; i < w->nents; i++)
    if (w->ents[i].state != E_FREE)
      argv[n++] = w->ents[i].id;
  argv[n++] = "JUSTID";
  size_t *lens = malloc(sizeof *lens * (size_t)n);
  if (lens) {
    for (int k = 0; k < n; k++)
      lens[k] = strlen(argv[k]);
    rq_cmd(&w->rc, NULL, NULL, n, argv, lens);
  }
  free(lens);
  free(argv);
}

/* --drain: is anything pending on any consumer? */
static void on_pending(void *ud, redisReply *r) {
  worker *w = ud;
  w->checking = false;
  if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 && r->element[0]->type == REDIS_REPLY_INTEGER &&
      r->element[0]->integer == 0) {
    w->drain_ok = true; /* one more read must come back empty */
    w->read_at = 0;
  }
}

static bool can_check(const worker *w) {
  return w->o->drain && !w->stopping && !w->checking && !w->held && w->read_empty && !w->drain_ok &&
         rq_ready(&w->rc);
}

static void check_drained(worker *w, double now) {
  if (!can_check(w) || now < w->check_at)
    return;
  w->check_at = now + 0.2;
  const char *argv[] = {"XPENDING", w->t.name, RF_FLEET_GROUP};
  if (rq_cmd(&w->rc, on_pending, w, 3, argv, NULL) == 0)
    w->checking = true;
}

/* ---- fetching ------------------------------------------------------------------------ */

static void submit_ready(worker *w) {
  while (w->ready.head != NIL) {
    uint32_t i = w->ready.head;
    fentry *f = &w->ents[i];
    rf_request rq = w->o->req;
    rq.url = f->url;
    rq.url_len = f->url_len;
    rq.tag = i;
    rq.flags |= RF_REQ_SHA256;
    rq.body_mode = RF_BODY_DISCARD;
    char path[4096];
    if (w->o->body_dir) { /* --body-dir: DIR/<input line>.body, as fetch names them */
      snprintf(path, sizeof path, "%s/%llu.body", w->o->body_dir, (unsigned long long)f->line);
      rq.body_mode = RF_BODY_FILE;
      rq.body_path = path;
    }
    int s = rf_submit(w->e, &rq);
    if (s == -EAGAIN)
      return; /* the engine's queue is full: next turn */
    rf_fleet_pop(w, &w->ready);
    if (s < 0) {
      local_error(w, f, RF_ERR_INTERNAL, strerror(-s));
      continue;
    }
    f->state = E_RUNNING;
  }
}

static void collect(worker *w) {
  rf_result *r;
  while ((r = rf_result_next(w->e)) != NULL) {
    fentry *f = r->tag < w->nents ? &w->ents[r->tag] : NULL;
    if (f && f->state == E_RUNNING) {
      if (w->stopping && r->error == RF_ERR_CANCELED)
        entry_free(w, f); /* given back: it stays pending for another worker */
      else
        entry_record(w, f, r);
    }
    rf_result_release(w->e, r);
  }
}

/* SIGINT/SIGTERM: read no more; what waits to start is given back (left
 * pending: another worker claims it after --claim-idle); what runs gets
 * --grace to finish, then is canceled and given back too. */
static void check_signals(worker *w, double now) {
  if (!g_signals)
    return;
  if (!w->stopping) {
    w->stopping = true;
    w->grace_end = now + w->o->grace_ms / 1000.0;
    rf_cancel_queued(w->e);
    uint32_t i;
    while ((i = rf_fleet_pop(w, &w->ready)) != NIL)
      entry_free(w, &w->ents[i]);
    rf_polite_drop_waiting(w, entry_free);
    if (!w->o->quiet)
      fprintf(stderr,
              "ringfetch: %s: stopping; running requests get %.1f s, the rest is left to the fleet "
              "(again to stop now)\n",
              g_signo == SIGTERM ? "SIGTERM" : "SIGINT", w->o->grace_ms / 1000.0);
  }
  if (!w->canceled && (g_signals > 1 || now >= w->grace_end)) {
    w->canceled = true;
    rf_cancel_all(w->e);
  }
}

static void on_script(void *ud, redisReply *r) {
  (void)ud;
  if (r && r->type == REDIS_REPLY_ERROR)
    fprintf(stderr, "ringfetch: redis: SCRIPT LOAD: %.*s\n", (int)r->len, r->str);
}

static void on_group(void *ud, redisReply *r) {
  (void)ud;
  if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9) != 0)
    fprintf(stderr, "ringfetch: redis: XGROUP CREATE: %.*s\n", (int)r->len, r->str);
}

static void create_group(worker *w) {
  const char *argv[] = {"XGROUP", "CREATE", w->t.name, RF_FLEET_GROUP, "0", "MKSTREAM"};
  rq_cmd(&w->rc, on_group, w, 6, argv, NULL);
}

/* A new connection: the scripts (a restarted server has none) and the group
 * (it may not exist yet: a worker can start before the first enqueue). */
static void on_connect(void *ud) {
  worker *w = ud;
  const char *a1[] = {"SCRIPT", "LOAD", STORE_LUA};
  const char *a2[] = {"SCRIPT", "LOAD", rf_fleet_rate_lua};
  const char *a3[] = {"SCRIPT", "LOAD", rf_fleet_lease_lua};
  rq_cmd(&w->rc, on_script, w, 3, a1, NULL);
  rq_cmd(&w->rc, on_script, w, 3, a2, NULL);
  rq_cmd(&w->rc, on_script, w, 3, a3, NULL);
  create_group(w);
}

/* One turn: Redis work, tokens, submissions, the engine, results. */
static int turn(worker *w) {
  double now = rq_mono();
  rq_pump(&w->rc, now);
  check_signals(w, now);
  claim_idle(w, now);
  read_more(w, now);
  heartbeat(w, now);
  check_drained(w, now);
  double due = rf_polite_turn(w, now);
  submit_ready(w);
  send_stores(w, now);
  if (w->done || (w->stopping && w->held == 0))
    return 1;
  if (g_signals > 1 && w->canceled && rf_outstanding(w->e) == 0)
    return 1; /* a second signal: results not yet stored stay pending for the fleet */
  double wake = due;
  double cands[] = {can_read(w) ? w->read_at : 1e18, can_claim(w) ? w->claim_at : 1e18,
                    rq_ready(&w->rc) ? w->hb_at : 1e18, can_check(w) ? w->check_at : 1e18,
                    rq_ready(&w->rc) && w->store.n ? store_due(w) : 1e18,
                    now + rq_wait_s(&w->rc, now)};
  for (size_t k = 0; k < sizeof cands / sizeof cands[0]; k++)
    if (cands[k] < wake)
      wake = cands[k];
  int64_t us = wake <= now ? 0 : (int64_t)((wake - now) * 1e6);
  int rc = rf_run_us(w->e, us);
  if (rc < 0) {
    fprintf(stderr, "ringfetch: engine failure: %s\n", strerror(-rc));
    return rc;
  }
  collect(w);
  return 0;
}

/* ---- opening and closing --------------------------------------------------------------- */

static void sha_hex(const char *text, char out[41]) {
  uint8_t d[SHA_DIGEST_LENGTH];
  SHA1((const uint8_t *)text, strlen(text), d);
  for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
    snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* The entries (as many as run at once plus one batch), the engine (its own
 * host rates off: the fleet's tokens space the requests), -o. */
static int worker_open(worker *w, rf_cli *o) {
  char err[512];
  w->o = o;
  w->out_fd = -1;
  if (rq_parse_url(o->queue, &w->t, err, sizeof err) < 0) {
    fprintf(stderr, "ringfetch: %s\n", err);
    return RF_EXIT_USAGE;
  }
  snprintf(w->reskey, sizeof w->reskey, "%s:results", w->t.name);
  snprintf(w->me, sizeof w->me, "%s", o->worker);
  sha_hex(STORE_LUA, w->sha_store);
  sha_hex(rf_fleet_rate_lua, w->sha_rate);
  sha_hex(rf_fleet_lease_lua, w->sha_lease);
  w->claim_idle = (double)o->claim_idle_us / 1e6;
  unsigned c = o->cfg.concurrency;
  /* a batch of 2c: reads ask for c/2 or more at a time and what they bring
   * lasts longer than a read takes, so the engine does not run dry */
  w->batch = 2 * c < 8 ? 8 : 2 * c > 2000 ? 2000 : 2 * c;
  w->cap = c + w->batch;
  w->nents = 2 * w->cap; /* room for as many again whose results are being stored */
  w->ents = calloc(w->nents, sizeof *w->ents);
  if (!w->ents || rf_polite_init(w) < 0)
    return fprintf(stderr, "ringfetch: out of memory\n"), RF_EXIT_FAILED;
  w->freel = w->ready = w->store = (flist){NIL, NIL, 0};
  for (uint32_t i = 0; i < w->nents; i++) {
    w->ents[i].w = w;
    rf_fleet_push(w, &w->freel, i);
  }
  rf_config cfg = o->cfg;
  cfg.host_rate = 0;
  cfg.host_rates = NULL;
  cfg.n_host_rates = 0;
  if (rf_engine_new(&cfg, &w->e, err, sizeof err) < 0)
    return fprintf(stderr, "ringfetch: %s\n", err), RF_EXIT_USAGE;
  if (o->output) {
    w->out_fd = open(o->output, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (w->out_fd < 0 || rf_outfile_new(w->e, w->out_fd, &w->out) < 0)
      return fprintf(stderr, "ringfetch: cannot write '%s': %s\n", o->output, strerror(errno)), RF_EXIT_USAGE;
  }
  w->recs.all_headers = o->all_headers;
  w->recs.body_dir = o->body_dir;
  if (o->body_dir && mkdir(o->body_dir, 0755) < 0 && errno != EEXIST)
    return fprintf(stderr, "ringfetch: cannot create --body-dir '%s': %s\n", o->body_dir, strerror(errno)),
           RF_EXIT_USAGE;
  strcpy(w->cursor, "0-0");
  strcpy(w->hist_id, "0"); /* first what a previous life of this worker left pending */
  w->history = true;
  rq_init(&w->rc, w->e, &w->t);
  w->rc.on_connect = on_connect;
  w->rc.ud = w;
  return 0;
}

/* Leaving: the leases go back to the fleet (the others need not wait for
 * them to lapse); a second or so at most for the replies. */
static void give_back(worker *w) {
  double end = rq_mono() + 1.0;
  for (int pass = 0; pass < 2; pass++) { /* the second for grants that were on their way */
    rf_polite_give_back(w);
    while (rq_ready(&w->rc) && rq_waiting(&w->rc) && rq_mono() < end) {
      rf_run(w->e, 10);
      rq_pump(&w->rc, rq_mono());
    }
  }
}

static int worker_close(worker *w, int rc, double t0) {
  double secs = rq_mono() - t0;
  give_back(w);
  if (!w->o->quiet) {
    uint64_t n = w->stored + w->dups;
    fprintf(stderr,
            "ringfetch: worker %s: %llu results stored, %llu duplicates dropped (finished first elsewhere), "
            "%llu entries taken over from idle workers in %.3f s; %llu Redis commands (%.2f per entry)\n",
            w->me, (unsigned long long)w->stored, (unsigned long long)w->dups, (unsigned long long)w->claimed, secs,
            (unsigned long long)w->rc.commands, n ? (double)w->rc.commands / (double)n : 0.0);
  }
  if (getenv("RINGFETCH_ENGINE_STATS")) { /* for perf work, as fetch has it */
    rf_stats st;
    rf_get_stats(w->e, &st);
    fprintf(stderr, "ringfetch: engine: %.1f requests in flight on average, %llu loop turns\n",
            secs > 0 ? (double)st.inflight_area_us / (secs * 1e6) : 0.0, (unsigned long long)st.loop_turns);
  }
  rq_free(&w->rc);
  if (w->out && rf_outfile_close(w->out) < 0 && rc == 0)
    rc = -EIO;
  if (w->out_fd >= 0)
    close(w->out_fd);
  rf_engine_free(w->e);
  for (uint32_t i = 0; w->ents && i < w->nents; i++) {
    free(w->ents[i].url);
    free(w->ents[i].src);
    free(w->ents[i].rec);
  }
  free(w->ents);
  rf_polite_free(w);
  rf_records_free(&w->recs);
  jb_free(&w->extra);
  if (w->stopping)
    return 128 + (g_signo ? g_signo : SIGINT);
  return rc < 0 ? RF_EXIT_FAILED : RF_EXIT_OK;
}

int rf_fleet_worker_main(rf_cli *o) {
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = {.sa_handler = on_signal};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  worker w;
  memset(&w, 0, sizeof w);
  int rc = worker_open(&w, o);
  if (rc) {
    if (w.e)
      rf_engine_free(w.e);
    free(w.ents);
    rf_polite_free(&w);
    return rc;
  }
  double t0 = rq_mono();
  while ((rc = turn(&w)) == 0) {
  }
  return worker_close(&w, rc < 0 ? rc : 0, t0);
}
