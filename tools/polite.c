/* Fleet-wide manners for the workers of fleet.c: --host-rate and
 * --per-host hold for the whole fleet, not per worker.
 *
 * Rate: each origin has a bucket in Redis (GCRA: the time the next request
 * may go, NAME:rate:ORIGIN); a worker takes a few tokens at a time, each
 * with its own time on the server's clock, and starts a request only at its
 * token's time (mapped to its own clock), or not at all past TOKEN_LATE_S.
 * Tokens are granted at most a quarter second ahead: no worker hoards.
 *
 * Per-host: each origin has N slots shared by the fleet (a hash of leases
 * per worker, NAME:conns:ORIGIN, and their expiry times, NAME:connsx:ORIGIN);
 * a worker runs at most as many requests to an origin as it holds leases,
 * asks for more while requests wait, gives them back once the origin is
 * idle for a tenth of a second, and renews them with its heartbeat. A dead
 * worker's leases lapse after --claim-idle. */
#define _GNU_SOURCE 1 /* memrchr */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fleetw.h"

#define OTAB_SIZE 4096u
#define RATE_MARGIN 1.05     /* spacing 5% over 1/R, and a token used no later than */
#define TOKEN_LATE_S 0.015   /* this after its time (else it lapses): delays between
                                workers (network, a busy CPU) cannot put R+1 requests
                                into one second */
#define TOKEN_HORIZON_S 0.25 /* tokens are granted at most this far ahead */
#define LEASE_LINGER_S 0.1   /* an idle origin's leases go back after this */

/* GCRA over the bucket KEYS[1]: up to ARGV[2] tokens ARGV[1] µs apart, none
 * later than ARGV[3] µs from now. {n, the first one's time, now} or {0, µs
 * until one would be granted, now}; times in µs on the server's clock
 * (TIME), which each worker maps to its own (clock_offset). */
const char rf_fleet_rate_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local iv, want, horizon = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local tat = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
    "if tat < now then tat = now end\n"
    "local first, n = tat - now, 0\n"
    "while n < want and tat - now <= horizon do tat = tat + iv; n = n + 1 end\n"
    "if n == 0 then return {0, tat - now - horizon, now} end\n"
    "redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.floor((tat - now) / 1000) + 60000)\n"
    "return {n, now + first, now}\n";

/* Leases of an origin's slots: KEYS[1] hash worker -> leases held, KEYS[2]
 * worker -> expiry (ms). ARGV: op, worker, lease ms, then for 'get' the
 * leases wanted and the limit, for 'put' how many go back. 'get' returns
 * how many were granted, 'renew' how many the worker still holds. */
const char rf_fleet_lease_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local op, me, lease = ARGV[1], ARGV[2], tonumber(ARGV[3])\n"
    "for _, w in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do\n"
    "  redis.call('HDEL', KEYS[1], w); redis.call('ZREM', KEYS[2], w)\n"
    "end\n"
    "if op == 'put' then\n"
    "  if redis.call('HINCRBY', KEYS[1], me, -tonumber(ARGV[4])) <= 0 then\n"
    "    redis.call('HDEL', KEYS[1], me); redis.call('ZREM', KEYS[2], me)\n"
    "  end\n"
    "  return 0\n"
    "end\n"
    "local mine = tonumber(redis.call('HGET', KEYS[1], me) or '0')\n"
    "local n = 0\n"
    "if op == 'get' then\n"
    "  local used = 0\n"
    "  for _, v in ipairs(redis.call('HVALS', KEYS[1])) do used = used + tonumber(v) end\n"
    "  n = math.min(tonumber(ARGV[4]), tonumber(ARGV[5]) - used)\n"
    "  if n > 0 then redis.call('HINCRBY', KEYS[1], me, n) else n = 0 end\n"
    "  mine = mine + n\n"
    "end\n"
    "if mine > 0 then\n"
    "  redis.call('ZADD', KEYS[2], now + lease, me)\n"
    "  redis.call('PEXPIRE', KEYS[1], lease * 10); redis.call('PEXPIRE', KEYS[2], lease * 10)\n"
    "end\n"
    "if op == 'get' then return n end\n"
    "return mine\n";

/* ---- origins ------------------------------------------------------------------ */

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

static void activate(worker *w, forigin *g) {
  if (g->active)
    return;
  g->active = true;
  g->anext = w->active;
  w->active = g;
}

/* The origin of f under a fleet-wide limit, made on first use; NULL when
 * none applies (or there is no memory: then it goes unthrottled rather
 * than lost). */
static forigin *origin_of(worker *w, const fentry *f) {
  char key[600], host[256];
  unsigned port;
  if (!url_origin(f->url, f->url_len, key, sizeof key, host, sizeof host, &port))
    return NULL;
  double rate = origin_rate(w->o, host, port);
  if (rate <= 0 && !w->o->cfg.per_host)
    return NULL;
  uint32_t b = hash_str(key) & (OTAB_SIZE - 1);
  for (forigin *g = w->otab[b]; g; g = g->hnext)
    if (strcmp(g->key, key) == 0)
      return g;
  forigin *g = calloc(1, sizeof *g);
  if (!g || !(g->key = strdup(key))) {
    free(g);
    return NULL;
  }
  g->w = w;
  g->iv = rate > 0 ? RATE_MARGIN / rate : 0;
  g->waitq = (flist){NIL, NIL, 0};
  g->lease_backoff_ms = 50;
  g->hnext = w->otab[b];
  w->otab[b] = g;
  return g;
}

/* Frees an idle origin (nothing waits or runs there, no reply due). Its
 * bucket and slots live on in Redis. */
static void forget(worker *w, forigin *g) {
  uint32_t b = hash_str(g->key) & (OTAB_SIZE - 1);
  for (forigin **pp = &w->otab[b]; *pp; pp = &(*pp)->hnext)
    if (*pp == g) {
      *pp = g->hnext;
      break;
    }
  free(g->key);
  free(g);
}

int rf_polite_init(worker *w) {
  w->otab = calloc(OTAB_SIZE, sizeof *w->otab);
  return w->otab ? 0 : -1;
}

void rf_polite_free(worker *w) {
  for (uint32_t b = 0; w->otab && b < OTAB_SIZE; b++)
    for (forigin *g = w->otab[b], *n; g; g = n) {
      n = g->hnext;
      free(g->key);
      free(g);
    }
  free(w->otab);
  w->otab = NULL;
}

bool rf_polite_admit(worker *w, fentry *f) {
  forigin *g = origin_of(w, f);
  if (!g)
    return false;
  f->g = g;
  f->state = E_WAIT;
  rf_fleet_push(w, &g->waitq, (uint32_t)(f - w->ents));
  activate(w, g);
  return true;
}

void rf_polite_ended(fentry *f) {
  forigin *g = f->g;
  f->g = NULL;
  if (!g || f->state == E_WAIT)
    return;
  if (g->running)
    g->running--;
  activate(f->w, g);
}

void rf_polite_drop_waiting(worker *w, void (*drop)(worker *, fentry *)) {
  for (forigin *g = w->active; g; g = g->anext) {
    uint32_t i;
    while ((i = rf_fleet_pop(w, &g->waitq)) != NIL)
      drop(w, &w->ents[i]);
  }
}

/* ---- tokens (--host-rate) ----------------------------------------------------------- */

/* The server's clock against ours, from a reply to a command sent at sent:
 * the sample with the shortest round trip in the last 10 s wins (its error
 * is at most half that round trip), so a reply handled late by a busy
 * worker does not shift its tokens. */
static void clock_sample(worker *w, double sent, double now, double server_now) {
  double rtt = now - sent;
  if (w->offset_at && rtt >= w->best_rtt && now - w->offset_at < 10)
    return;
  w->clock_offset = server_now - (sent + now) / 2;
  w->best_rtt = rtt;
  w->offset_at = now;
}

static bool int_array(const redisReply *r, size_t n) {
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != n)
    return false;
  for (size_t i = 0; i < n; i++)
    if (r->element[i]->type != REDIS_REPLY_INTEGER)
      return false;
  return true;
}

static void on_tokens(void *ud, redisReply *r) {
  forigin *g = ud;
  worker *w = g->w;
  double now = rq_mono();
  g->asking = false;
  g->cmds--;
  if (!int_array(r, 3)) {
    if (r && r->type == REDIS_REPLY_ERROR)
      fprintf(stderr, "ringfetch: redis: host rate: %.*s\n", (int)r->len, r->str);
    g->ask_at = now + 0.1;
    return;
  }
  long long n = r->element[0]->integer, t = r->element[1]->integer;
  clock_sample(w, g->ask_sent, now, (double)r->element[2]->integer / 1e6);
  if (n > 0) {
    g->ntok = (unsigned)n;
    g->next_tok = (double)t / 1e6 - w->clock_offset;
  } else {
    g->ask_at = now + (double)(t > 1000 ? t : 1000) / 1e6;
  }
}

static void ask_tokens(worker *w, forigin *g, double now, size_t want) {
  if (g->asking || g->ntok || now < g->ask_at || !rq_ready(&w->rc) || !want)
    return;
  char key[700], iv[24], nw[24], hz[24];
  size_t k = (size_t)(TOKEN_HORIZON_S / g->iv) + 1;
  snprintf(key, sizeof key, "%s:rate:%s", w->t.name, g->key);
  snprintf(iv, sizeof iv, "%.0f", g->iv * 1e6);
  snprintf(nw, sizeof nw, "%zu", k < want ? k : want);
  snprintf(hz, sizeof hz, "%.0f", TOKEN_HORIZON_S * 1e6);
  const char *argv[] = {"EVALSHA", w->sha_rate, "1", key, iv, nw, hz};
  if (rq_cmd(&w->rc, on_tokens, g, 7, argv, NULL) == 0) {
    g->asking = true;
    g->ask_sent = now;
    g->cmds++;
  }
}

/* ---- leases (--per-host) ------------------------------------------------------------ */

static unsigned lease_ms(const worker *w) {
  double ms = w->claim_idle * 1000;
  return ms < 1000 ? 1000 : ms > 600000 ? 600000 : (unsigned)ms;
}

/* One call of the lease script for g: op with its extra arguments. */
static int lease_cmd(worker *w, forigin *g, rq_reply_fn fn, const char *op, const char *a4, const char *a5) {
  char k1[700], k2[700], ms[16];
  snprintf(k1, sizeof k1, "%s:conns:%s", w->t.name, g->key);
  snprintf(k2, sizeof k2, "%s:connsx:%s", w->t.name, g->key);
  snprintf(ms, sizeof ms, "%u", lease_ms(w));
  const char *argv[] = {"EVALSHA", w->sha_lease, "2", k1, k2, op, w->me, ms, a4, a5};
  int rc = rq_cmd(&w->rc, fn, g, a5 ? 10 : a4 ? 9 : 8, argv, NULL);
  if (rc == 0 && fn)
    g->cmds++;
  return rc;
}

static void on_lease(void *ud, redisReply *r) {
  forigin *g = ud;
  double now = rq_mono();
  g->leasing = false;
  g->cmds--;
  if (r && r->type == REDIS_REPLY_INTEGER && r->integer > 0) {
    g->leases += (unsigned)r->integer;
    g->lease_backoff_ms = 50;
    return;
  }
  if (r && r->type == REDIS_REPLY_ERROR)
    fprintf(stderr, "ringfetch: redis: per-host lease: %.*s\n", (int)r->len, r->str);
  g->lease_at = now + g->lease_backoff_ms / 1000.0; /* the fleet's slots are taken: ask again later */
  g->lease_backoff_ms = g->lease_backoff_ms >= 200 ? 400 : g->lease_backoff_ms * 2;
}

static void on_renewed(void *ud, redisReply *r) {
  forigin *g = ud;
  g->cmds--;
  if (r && r->type == REDIS_REPLY_INTEGER && (unsigned long long)r->integer < g->leases)
    g->leases = (unsigned)r->integer; /* lapsed (a stall, a restarted server): ask again */
}

static void lease_more(worker *w, forigin *g, double now) {
  unsigned limit = w->o->cfg.per_host;
  if (g->leasing || now < g->lease_at || g->leases >= limit || g->running < g->leases || !rq_ready(&w->rc))
    return;
  char want[16], lim[16];
  size_t need = g->waitq.n < limit - g->leases ? g->waitq.n : limit - g->leases;
  snprintf(want, sizeof want, "%zu", need);
  snprintf(lim, sizeof lim, "%u", limit);
  if (lease_cmd(w, g, on_lease, "get", want, lim) == 0)
    g->leasing = true;
}

/* Nothing waits or runs at g for a moment: its leases go back to the fleet. */
static void lease_idle(worker *w, forigin *g, double now) {
  if (g->waitq.n || g->running || !g->leases || g->leasing) {
    g->idle_since = 0;
    return;
  }
  if (!g->idle_since)
    g->idle_since = now;
  if (now - g->idle_since < LEASE_LINGER_S || !rq_ready(&w->rc))
    return;
  char n[16];
  snprintf(n, sizeof n, "%u", g->leases);
  if (lease_cmd(w, g, NULL, "put", n, NULL) == 0)
    g->leases = 0;
}

void rf_polite_renew(worker *w) {
  for (forigin *g = w->active; g; g = g->anext)
    if (g->leases)
      lease_cmd(w, g, on_renewed, "renew", NULL, NULL);
}

void rf_polite_give_back(worker *w) {
  for (forigin *g = w->active; g; g = g->anext) {
    char n[16];
    snprintf(n, sizeof n, "%u", g->leases);
    if (g->leases && lease_cmd(w, g, NULL, "put", n, NULL) == 0)
      g->leases = 0;
  }
}

/* ---- each turn ------------------------------------------------------------------------ */

/* g's waiting entries that have their token and lease go to the ready list. */
static void release(worker *w, forigin *g, double now) {
  bool per_host = w->o->cfg.per_host > 0;
  while (g->ntok && g->next_tok + TOKEN_LATE_S < now) { /* too late to use: lapsed */
    g->ntok--;
    g->next_tok += g->iv;
  }
  while (g->waitq.n) {
    if (g->iv && !(g->ntok && g->next_tok <= now))
      break;
    if (per_host && g->running >= g->leases)
      break;
    uint32_t i = rf_fleet_pop(w, &g->waitq);
    w->ents[i].state = E_READY;
    rf_fleet_push(w, &w->ready, i);
    g->running++;
    if (g->iv) {
      g->ntok--;
      g->next_tok += g->iv;
    }
  }
  if (!g->waitq.n)
    g->ntok = 0; /* unused tokens lapse: none is saved for a later burst */
}

double rf_polite_turn(worker *w, double now) {
  double due = now + 1.0;
  bool per_host = w->o->cfg.per_host > 0, up = rq_ready(&w->rc);
  for (forigin **pp = &w->active; *pp;) {
    forigin *g = *pp;
    release(w, g, now);
    if (per_host) {
      lease_more(w, g, now);
      lease_idle(w, g, now);
    }
    if (!g->waitq.n && !g->running && !g->leases) {
      if (g->cmds) { /* a reply will name it: it stays until then */
        pp = &g->anext;
        continue;
      }
      *pp = g->anext;
      forget(w, g); /* idle: a crawl over millions of hosts keeps only the busy ones */
      continue;
    }
    size_t may = per_host ? (g->leases > g->running ? g->leases - g->running : 0) : g->waitq.n;
    if (g->iv)
      ask_tokens(w, g, now, may < g->waitq.n ? may : g->waitq.n);
    if (g->iv && g->ntok && g->waitq.n && g->next_tok < due)
      due = g->next_tok;
    if (g->iv && !g->ntok && !g->asking && up && may && g->waitq.n && g->ask_at < due)
      due = g->ask_at;
    if (per_host && g->waitq.n && g->running >= g->leases && !g->leasing && up && g->leases < w->o->cfg.per_host &&
        g->lease_at < due)
      due = g->lease_at;
    if (per_host && g->idle_since && g->leases && up && g->idle_since + LEASE_LINGER_S < due)
      due = g->idle_since + LEASE_LINGER_S;
    pp = &g->anext;
  }
  return due;
}
