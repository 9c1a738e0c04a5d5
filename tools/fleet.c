/* `ringfetch fetch --queue redis://.../NAME --worker ID`: a worker of the
 * fleet (see fleet.h). Everything runs on the engine's ring: the fetches
 * and the Redis connection (redisq.c).
 *
 * Entries come from XREADGROUP (">", new ones) and XAUTOCLAIM (those idle
 * on any consumer past --claim-idle: a dead worker's), never more than the
 * worker holds in flight plus one batch. Each finished entry's record is
 * stored by one script that acknowledges the entry and, only when that
 * removed it from the pending list, appends the record to NAME:results. The
 * worker refreshes the idle time of what it holds (XCLAIM JUSTID) so a slow
 * fetch is not taken over while it is alive. --host-rate holds fleet-wide:
 * a request to a rate-limited origin waits for a token of that origin's
 * bucket in Redis, taken a few at a time. */
#define _GNU_SOURCE 1 /* memrchr */
#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "fleet.h"
#include "records.h"
#include "redisq.h"

#define NIL UINT32_MAX
#define OTAB_SIZE 4096u
#define RATE_MARGIN 1.02    /* spacing 2% over 1/R: network jitter between workers
                               cannot put R+1 requests into one second */
#define TOKEN_HORIZON_S 0.25 /* tokens are granted at most this far ahead */

/* Stores the record ARGV[3] to KEYS[2] only if acknowledging ARGV[2] in
 * group ARGV[1] of KEYS[1] removed it from the pending list: 1 stored, 0 a
 * duplicate (someone finished the entry first). */
static const char STORE_LUA[] =
    "if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 1 then\n"
    "  redis.call('XADD', KEYS[2], '*', 'rec', ARGV[3])\n"
    "  return 1\n"
    "end\n"
    "return 0\n";

/* GCRA over the bucket KEYS[1]: up to ARGV[2] tokens ARGV[1] µs apart, none
 * later than ARGV[3] µs from now. {n, µs until the first} or {0, µs until
 * one would be granted}. The clock is the server's (TIME). */
static const char RATE_LUA[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local iv, want, horizon = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local tat = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
    "if tat < now then tat = now end\n"
    "local first, n = tat - now, 0\n"
    "while n < want and tat - now <= horizon do tat = tat + iv; n = n + 1 end\n"
    "if n == 0 then return {0, tat - now - horizon} end\n"
    "redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.floor((tat - now) / 1000) + 60000)\n"
    "return {n, first}\n";

enum { E_FREE, E_WAIT, E_READY, E_RUNNING, E_STORE, E_STORING };

struct worker;

typedef struct fentry {
  struct worker *w;
  char id[32];          /* the stream entry ID */
  uint64_t line;
  char *url;
  size_t url_len;
  char *src;
  bool too_long;
  uint8_t state;
  uint32_t next;        /* in the list of its state */
  char *rec;            /* E_STORE / E_STORING: the record */
  size_t rec_len;
} fentry;

typedef struct flist {
  uint32_t head, tail;
  size_t n;
} flist;

typedef struct forigin {
  struct worker *w;
  struct forigin *hnext, *anext;
  char *key;            /* scheme://host:port, lower case */
  double iv;            /* seconds between its requests, fleet-wide */
  flist waitq;          /* entries waiting for a token */
  unsigned ntok;        /* tokens granted, not used: the next at next_tok */
  double next_tok, ask_at;
  bool asking, active;
} forigin;

typedef struct worker {
  rf_cli *o;
  rf_engine *e;
  rq_target t;
  rq_conn rc;
  char reskey[300], me[256];
  char sha_store[41], sha_rate[41];
  fentry *ents;
  uint32_t cap, held, batch;
  flist freel, ready, store;
  forigin **otab, *active;
  double claim_idle;
  /* what is asked of Redis */
  bool reading, claiming, checking, drain_ok, read_empty;
  double read_at, claim_at, hb_at, check_at;
  char cursor[32];
  /* stopping */
  bool stopping, canceled, done;
  double grace_end;
  /* output */
  int out_fd;
  rf_outfile *out;
  rf_records recs;
  jbuf extra;
  uint64_t stored, dups, claimed, fetched, deleted, results;
} worker;

static volatile sig_atomic_t g_signals, g_signo;

static void on_signal(int sig) {
  g_signo = sig;
  g_signals++;
}

/* ---- lists of entries ------------------------------------------------------------ */

static void l_push(worker *w, flist *l, uint32_t i) {
  w->ents[i].next = NIL;
  if (l->tail != NIL)
    w->ents[l->tail].next = i;
  else
    l->head = i;
  l->tail = i;
  l->n++;
}

static uint32_t l_pop(worker *w, flist *l) {
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
  free(f->url);
  free(f->src);
  free(f->rec);
  uint32_t i = (uint32_t)(f - w->ents);
  memset(f, 0, sizeof *f);
  f->w = w;
  f->state = E_FREE;
  l_push(w, &w->freel, i);
  w->held--;
}

/* ---- records ------------------------------------------------------------------- */

/* The record of r for entry f, queued to be stored. */
static void entry_record(worker *w, fentry *f, const rf_result *r) {
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
  f->rec = malloc(w->recs.jb.len + 1);
  if (f->rec && !w->recs.jb.oom) {
    memcpy(f->rec, w->recs.jb.p, w->recs.jb.len);
    f->rec_len = w->recs.jb.len;
  } else {
    f->rec_len = 0;
  }
  jb_reset(&w->recs.jb);
  f->state = E_STORE;
  l_push(w, &w->store, (uint32_t)(f - w->ents));
  w->results++;
}

static void local_error(worker *w, fentry *f, rf_error err, const char *msg) {
  rf_result r;
  rf_records_local(&r, f->url ? f->url : "", f->url ? f->url_len : 0, f->line, err, msg);
  entry_record(w, f, &r);
}

/* ---- the reply of the store script ---------------------------------------------- */

static void on_stored(void *ud, redisReply *r) {
  fentry *f = ud;
  worker *w = f->w;
  if (!r || r->type != REDIS_REPLY_INTEGER) {
    if (r && r->type == REDIS_REPLY_ERROR)
      fprintf(stderr, "ringfetch: redis: storing a result: %.*s\n", (int)r->len, r->str);
    f->state = E_STORE; /* again, once the connection is back; the script is idempotent */
    l_push(w, &w->store, (uint32_t)(f - w->ents));
    return;
  }
  if (r->integer == 1) {
    w->stored++;
    if (w->out && f->rec_len)
      rf_outfile_write(w->out, f->rec, f->rec_len);
  } else {
    w->dups++; /* finished first by the worker that claimed it */
  }
  entry_free(w, f);
}

static void send_stores(worker *w) {
  uint32_t i;
  while (rq_ready(&w->rc) && (i = l_pop(w, &w->store)) != NIL) {
    fentry *f = &w->ents[i];
    const char *argv[] = {"EVALSHA", w->sha_store, "2", w->t.name, w->reskey, RF_FLEET_GROUP, f->id,
                          f->rec ? f->rec : ""};
    size_t lens[8];
    for (int k = 0; k < 7; k++)
      lens[k] = strlen(argv[k]);
    lens[7] = f->rec ? f->rec_len : 0;
    f->state = E_STORING;
    if (rq_cmd(&w->rc, on_stored, f, 8, argv, lens) < 0) {
      f->state = E_STORE;
      l_push(w, &w->store, i);
      return;
    }
  }
}

/* ---- fleet-wide host rates -------------------------------------------------------- */

/* The origin of url as "scheme://host:port" (lower case) in key, the host
 * in host and the port; false when url has no http(s) origin. */
static bool url_origin(const char *url, size_t n, char *key, size_t cap, char *host, size_t hcap, unsigned *port) {
  bool https = n > 8 && strncasecmp(url, "https://", 8) == 0;
  if (!https && !(n > 7 && strncasecmp(url, "http://", 7) == 0))
    return false;
  const char *a = url + (https ? 8 : 7), *end = url + n, *e = a;
  while (e < end && *e != '/' && *e != '?' && *e != '#')
    e++;
  const char *at = memrchr(a, '@', (size_t)(e - a));
  if (at)
    a = at + 1;
  const char *colon = NULL;
  if (a < e && *a == '[') {
    const char *rb = memchr(a, ']', (size_t)(e - a));
    colon = rb && rb + 1 < e && rb[1] == ':' ? rb + 1 : NULL;
  } else {
    colon = memrchr(a, ':', (size_t)(e - a));
  }
  const char *he = colon ? colon : e;
  size_t hl = (size_t)(he - a);
  if (hl == 0 || hl >= hcap)
    return false;
  for (size_t i = 0; i < hl; i++)
    host[i] = (char)((a[i] >= 'A' && a[i] <= 'Z') ? a[i] + 32 : a[i]);
  host[hl] = 0;
  *port = https ? 443 : 80;
  if (colon && colon + 1 < e)
    *port = (unsigned)strtoul(colon + 1, NULL, 10);
  snprintf(key, cap, "%s://%s:%u", https ? "https" : "http", host, *port);
  return true;
}

/* The fleet-wide rate of an origin: its --host-rate HOST=R, else --host-rate R. */
static double origin_rate(const rf_cli *o, const char *host, unsigned port) {
  const char *h = host;
  char bare[256];
  size_t hl = strlen(host);
  if (hl > 2 && host[0] == '[') { /* the options name v6 hosts without brackets */
    snprintf(bare, sizeof bare, "%.*s", (int)(hl - 2), host + 1);
    h = bare;
  }
  for (size_t i = 0; i < o->cfg.n_host_rates; i++) {
    const rf_host_rate *r = &o->cfg.host_rates[i];
    if (strcasecmp(r->host, h) == 0 && (r->port == 0 || r->port == port))
      return r->rate;
  }
  return o->cfg.host_rate;
}

static uint32_t hash_str(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++)
    h = (h ^ (uint8_t)*s) * 16777619u;
  return h;
}

/* The origin f waits in, or NULL when its origin has no rate. */
static forigin *origin_of(worker *w, const fentry *f) {
  char key[600], host[256];
  unsigned port;
  if (!url_origin(f->url, f->url_len, key, sizeof key, host, sizeof host, &port))
    return NULL;
  double rate = origin_rate(w->o, host, port);
  if (rate <= 0)
    return NULL;
  uint32_t b = hash_str(key) & (OTAB_SIZE - 1);
  for (forigin *g = w->otab[b]; g; g = g->hnext)
    if (strcmp(g->key, key) == 0)
      return g;
  forigin *g = calloc(1, sizeof *g);
  if (!g || !(g->key = strdup(key))) {
    free(g);
    return NULL; /* out of memory: this one goes unthrottled rather than lost */
  }
  g->w = w;
  g->iv = RATE_MARGIN / rate;
  g->waitq = (flist){NIL, NIL, 0};
  g->hnext = w->otab[b];
  w->otab[b] = g;
  return g;
}

static void on_tokens(void *ud, redisReply *r) {
  forigin *g = ud;
  double now = rq_mono();
  g->asking = false;
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_INTEGER ||
      r->element[1]->type != REDIS_REPLY_INTEGER) {
    if (r && r->type == REDIS_REPLY_ERROR)
      fprintf(stderr, "ringfetch: redis: host rate: %.*s\n", (int)r->len, r->str);
    g->ask_at = now + 0.1;
    return;
  }
  long long n = r->element[0]->integer, us = r->element[1]->integer;
  if (n > 0) {
    g->ntok = (unsigned)n;
    g->next_tok = now + (double)us / 1e6;
  } else {
    g->ask_at = now + (double)(us > 1000 ? us : 1000) / 1e6;
  }
}

static void ask_tokens(worker *w, forigin *g, double now) {
  if (g->asking || g->ntok || now < g->ask_at || !rq_ready(&w->rc))
    return;
  char key[700], iv[24], want[24], hz[24];
  unsigned k = (unsigned)(TOKEN_HORIZON_S / g->iv) + 1;
  if (k > g->waitq.n)
    k = (unsigned)g->waitq.n;
  snprintf(key, sizeof key, "%s:rate:%s", w->t.name, g->key);
  snprintf(iv, sizeof iv, "%.0f", g->iv * 1e6);
  snprintf(want, sizeof want, "%u", k);
  snprintf(hz, sizeof hz, "%.0f", TOKEN_HORIZON_S * 1e6);
  const char *argv[] = {"EVALSHA", w->sha_rate, "1", key, iv, want, hz};
  if (rq_cmd(&w->rc, on_tokens, g, 7, argv, NULL) == 0)
    g->asking = true;
}

/* Entries of rate-limited origins whose token time came go to the ready
 * list; tokens are asked for. Returns the earliest time something is due. */
static double release_tokens(worker *w, double now) {
  double due = now + 1.0;
  for (forigin **pp = &w->active; *pp;) {
    forigin *g = *pp;
    while (g->waitq.n && g->ntok && g->next_tok <= now) {
      uint32_t i = l_pop(w, &g->waitq);
      w->ents[i].state = E_READY;
      l_push(w, &w->ready, i);
      g->ntok--;
      g->next_tok += g->iv;
    }
    if (!g->waitq.n) {
      g->ntok = 0; /* unused tokens lapse: none is saved for a later burst */
      g->active = false;
      *pp = g->anext;
      continue;
    }
    ask_tokens(w, g, now);
    if (g->ntok && g->next_tok < due)
      due = g->next_tok;
    if (!g->ntok && !g->asking && rq_ready(&w->rc) && g->ask_at < due)
      due = g->ask_at;
    pp = &g->anext;
  }
  return due;
}

static void origins_free(worker *w) {
  for (uint32_t b = 0; w->otab && b < OTAB_SIZE; b++)
    for (forigin *g = w->otab[b], *n; g; g = n) {
      n = g->hnext;
      free(g->key);
      free(g);
    }
  free(w->otab);
}

/* ---- taking entries ---------------------------------------------------------------- */

static bool held_here(const worker *w, const char *id) {
  for (uint32_t i = 0; i < w->cap; i++)
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
  char id[32];
  memcpy(id, idr->str, idr->len);
  id[idr->len] = 0;
  if (claimed && held_here(w, id))
    return; /* ours already (its idle refresh came late) */
  uint32_t i = l_pop(w, &w->freel);
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
  forigin *g = origin_of(w, f);
  f->state = g ? E_WAIT : E_READY;
  l_push(w, g ? &g->waitq : &w->ready, i);
  if (g && !g->active) {
    g->active = true;
    g->anext = w->active;
    w->active = g;
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

static void on_read(void *ud, redisReply *r) {
  worker *w = ud;
  double now = rq_mono();
  w->reading = false;
  if (r && r->type == REDIS_REPLY_ERROR) {
    fprintf(stderr, "ringfetch: redis: XREADGROUP: %.*s\n", (int)r->len, r->str);
    w->read_at = now + 1.0;
    return;
  }
  size_t n = r ? take_read(w, r) : 0;
  w->read_empty = r && n == 0;
  if (n) {
    w->drain_ok = false;
    w->read_at = now;
  } else {
    w->read_at = now + (w->held ? 0.05 : w->o->drain ? 0.1 : 0);
  }
  if (w->read_empty && w->drain_ok && w->held == 0)
    w->done = true; /* nothing pending anywhere, and still nothing new */
}

/* A read may be sent once read_at comes. */
static bool can_read(const worker *w) {
  uint32_t room = w->cap - w->held;
  return !w->stopping && !w->reading && rq_ready(&w->rc) && !(w->held && room < w->batch);
}

static void read_more(worker *w, double now) {
  uint32_t room = w->cap - w->held;
  if (!can_read(w) || now < w->read_at)
    return;
  char count[16], block[16];
  snprintf(count, sizeof count, "%u", room < w->batch ? room : w->batch);
  /* idle without --drain: wait in Redis for new entries (the connection's
   * other commands wait too, but an idle worker has none) */
  bool blk = w->held == 0 && !w->o->drain && !rq_waiting(&w->rc);
  double until_claim = w->claim_at - now;
  snprintf(block, sizeof block, "%d", until_claim < 0.01 ? 10 : until_claim > 1.0 ? 1000 : (int)(until_claim * 1000));
  const char *argv[] = {"XREADGROUP", "GROUP", RF_FLEET_GROUP, w->me, "COUNT", count,
                        "BLOCK",      block,   "STREAMS",      w->t.name, ">"};
  const char *nb[] = {"XREADGROUP", "GROUP", RF_FLEET_GROUP, w->me, "COUNT", count, "STREAMS", w->t.name, ">"};
  if ((blk ? rq_cmd(&w->rc, on_read, w, 11, argv, NULL) : rq_cmd(&w->rc, on_read, w, 9, nb, NULL)) == 0)
    w->reading = true;
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
  return !w->stopping && !w->claiming && rq_ready(&w->rc) && w->held < w->cap;
}

static void claim_idle(worker *w, double now) {
  uint32_t room = w->cap - w->held;
  if (!can_claim(w) || now < w->claim_at)
    return;
  char idle[24], count[16];
  snprintf(idle, sizeof idle, "%.0f", w->claim_idle * 1000);
  snprintf(count, sizeof count, "%u", room < w->batch ? room : w->batch);
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
  for (uint32_t i = 0; i < w->cap; i++)
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
    int s = rf_submit(w->e, &rq);
    if (s == -EAGAIN)
      return; /* the engine's queue is full: next turn */
    l_pop(w, &w->ready);
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
    fentry *f = r->tag < w->cap ? &w->ents[r->tag] : NULL;
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
    while ((i = l_pop(w, &w->ready)) != NIL)
      entry_free(w, &w->ents[i]);
    for (forigin *g = w->active; g; g = g->anext)
      while ((i = l_pop(w, &g->waitq)) != NIL)
        entry_free(w, &w->ents[i]);
    if (!w->o->quiet)
      fprintf(stderr, "ringfetch: %s: stopping; running requests get %.1f s, the rest is left to the fleet\n",
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

/* A new connection: the scripts (a restarted server has none) and the group
 * (it may not exist yet: a worker can start before the first enqueue). */
static void on_connect(void *ud) {
  worker *w = ud;
  const char *a1[] = {"SCRIPT", "LOAD", STORE_LUA};
  const char *a2[] = {"SCRIPT", "LOAD", RATE_LUA};
  const char *a3[] = {"XGROUP", "CREATE", w->t.name, RF_FLEET_GROUP, "0", "MKSTREAM"};
  rq_cmd(&w->rc, on_script, w, 3, a1, NULL);
  rq_cmd(&w->rc, on_script, w, 3, a2, NULL);
  rq_cmd(&w->rc, on_group, w, 6, a3, NULL);
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
  double due = release_tokens(w, now);
  submit_ready(w);
  send_stores(w);
  if (w->done || (w->stopping && w->held == 0))
    return 1;
  double wake = due;
  double cands[] = {can_read(w) ? w->read_at : 1e18, can_claim(w) ? w->claim_at : 1e18,
                    rq_ready(&w->rc) ? w->hb_at : 1e18, can_check(w) ? w->check_at : 1e18,
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
  sha_hex(RATE_LUA, w->sha_rate);
  w->claim_idle = (double)o->claim_idle_us / 1e6;
  unsigned c = o->cfg.concurrency;
  w->batch = c / 4 < 16 ? 16 : c / 4 > 500 ? 500 : c / 4;
  w->cap = c + w->batch;
  w->ents = calloc(w->cap, sizeof *w->ents);
  w->otab = calloc(OTAB_SIZE, sizeof *w->otab);
  if (!w->ents || !w->otab)
    return fprintf(stderr, "ringfetch: out of memory\n"), RF_EXIT_FAILED;
  w->freel = w->ready = w->store = (flist){NIL, NIL, 0};
  for (uint32_t i = 0; i < w->cap; i++) {
    w->ents[i].w = w;
    l_push(w, &w->freel, i);
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
  strcpy(w->cursor, "0-0");
  rq_init(&w->rc, w->e, &w->t);
  w->rc.on_connect = on_connect;
  w->rc.ud = w;
  return 0;
}

static int worker_close(worker *w, int rc, double t0) {
  double secs = rq_mono() - t0;
  if (!w->o->quiet) {
    uint64_t n = w->stored + w->dups;
    fprintf(stderr,
            "ringfetch: worker %s: %llu results stored, %llu duplicates dropped (finished first elsewhere), "
            "%llu entries taken over from idle workers in %.3f s; %llu Redis commands (%.2f per entry)\n",
            w->me, (unsigned long long)w->stored, (unsigned long long)w->dups, (unsigned long long)w->claimed, secs,
            (unsigned long long)w->rc.commands, n ? (double)w->rc.commands / (double)n : 0.0);
  }
  rq_free(&w->rc);
  if (w->out && rf_outfile_close(w->out) < 0 && rc == 0)
    rc = -EIO;
  if (w->out_fd >= 0)
    close(w->out_fd);
  rf_engine_free(w->e);
  for (uint32_t i = 0; w->ents && i < w->cap; i++) {
    free(w->ents[i].url);
    free(w->ents[i].src);
    free(w->ents[i].rec);
  }
  free(w->ents);
  origins_free(w);
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
    origins_free(&w);
    return rc;
  }
  double t0 = rq_mono();
  while ((rc = turn(&w)) == 0) {
  }
  return worker_close(&w, rc < 0 ? rc : 0, t0);
}
