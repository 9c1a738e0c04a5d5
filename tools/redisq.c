/* The Redis client of the fleet commands (see redisq.h). */
#define _GNU_SOURCE 1 /* memrchr */
#include "redisq.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "units.h"

#define CONNECT_TIMEOUT_S 5.0
#define BACKOFF_MIN_MS 100u
#define BACKOFF_MAX_MS 5000u
#define REPLY_TIMEOUT_S 30.0 /* the oldest command's reply; blocking reads wait 1 s at most */

double rq_mono(void) { return (double)rf_monotonic_us() / 1e6; }

/* HOST:PORT (or [V6]:PORT) into t: the host resolved to a numeric address
 * (getaddrinfo, once, before any loop runs). */
static int parse_hostport(const char *s, size_t n, rq_target *t, char *err, size_t cap) {
  char host[256];
  const char *colon = NULL;
  const char *hs = s, *he;
  if (n && s[0] == '[') {
    const char *rb = memchr(s, ']', n);
    if (!rb)
      return snprintf(err, cap, "bad address in the queue URL"), -1;
    hs = s + 1;
    he = rb;
    colon = rb + 1 < s + n && rb[1] == ':' ? rb + 1 : NULL;
  } else {
    colon = memrchr(s, ':', n);
    he = colon ? colon : s + n;
  }
  unsigned long port = 6379;
  if (colon) {
    char ps[8];
    size_t pl = (size_t)(s + n - colon - 1);
    if (pl == 0 || pl >= sizeof ps)
      return snprintf(err, cap, "bad port in the queue URL"), -1;
    memcpy(ps, colon + 1, pl);
    ps[pl] = 0;
    if (rf_cli_parse_uint(ps, 65535, &port) || port == 0)
      return snprintf(err, cap, "bad port '%s' in the queue URL", ps), -1;
  }
  size_t hl = (size_t)(he - hs);
  if (hl == 0 || hl >= sizeof host)
    return snprintf(err, cap, "no host in the queue URL"), -1;
  memcpy(host, hs, hl);
  host[hl] = 0;
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
  int g = getaddrinfo(host, NULL, &hints, &ai);
  if (g != 0 || !ai)
    return snprintf(err, cap, "queue host '%s': %s", host, gai_strerror(g)), -1;
  const void *a = ai->ai_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
                                            : (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr;
  inet_ntop(ai->ai_family, a, t->ip, sizeof t->ip);
  freeaddrinfo(ai);
  t->port = (uint16_t)port;
  snprintf(t->where, sizeof t->where, "%s:%u", host, (unsigned)port);
  return 0;
}

int rq_parse_url(const char *url, rq_target *t, char *err, size_t cap) {
  memset(t, 0, sizeof *t);
  if (strncmp(url, "redis://", 8) != 0)
    return snprintf(err, cap, "bad queue '%s' (want redis://HOST:PORT[/DB]/NAME)", url), -1;
  const char *hp = url + 8, *slash = strchr(hp, '/');
  if (!slash || !slash[1])
    return snprintf(err, cap, "queue '%s' names no stream (want redis://HOST:PORT[/DB]/NAME)", url), -1;
  if (parse_hostport(hp, (size_t)(slash - hp), t, err, cap) < 0)
    return -1;
  const char *name = slash + 1, *s2 = strchr(name, '/');
  if (s2) { /* /DB/NAME */
    char dbs[12];
    size_t dl = (size_t)(s2 - name);
    unsigned long db;
    if (dl == 0 || dl >= sizeof dbs)
      return snprintf(err, cap, "bad database number in '%s'", url), -1;
    memcpy(dbs, name, dl);
    dbs[dl] = 0;
    if (rf_cli_parse_uint(dbs, 1000000, &db))
      return snprintf(err, cap, "bad database number '%s' in '%s'", dbs, url), -1;
    t->db = (unsigned)db;
    name = s2 + 1;
  }
  if (!*name || strlen(name) >= sizeof t->name)
    return snprintf(err, cap, "bad stream name in '%s'", url), -1;
  strcpy(t->name, name);
  return 0;
}

void rq_init(rq_conn *c, rf_engine *e, const rq_target *t) {
  memset(c, 0, sizeof *c);
  c->e = e;
  c->t = t;
  c->backoff_ms = BACKOFF_MIN_MS;
}

bool rq_ready(const rq_conn *c) { return c->s != NULL; }

size_t rq_waiting(const rq_conn *c) { return c->qn; }

static int push_wait(rq_conn *c, rq_reply_fn fn, void *ud) {
  if (c->qn == c->qcap) {
    size_t cap = c->qcap ? 2 * c->qcap : 256;
    rq_wait *q = malloc(cap * sizeof *q);
    if (!q)
      return -ENOMEM;
    for (size_t i = 0; i < c->qn; i++)
      q[i] = c->q[(c->qhead + i) % c->qcap];
    free(c->q);
    c->q = q;
    c->qhead = 0;
    c->qcap = cap;
  }
  c->q[(c->qhead + c->qn) % c->qcap] = (rq_wait){fn, ud, rq_mono()};
  c->qn++;
  return 0;
}

static rq_wait pop_wait(rq_conn *c) {
  rq_wait w = c->q[c->qhead];
  c->qhead = (c->qhead + 1) % c->qcap;
  c->qn--;
  return w;
}

int rq_cmd(rq_conn *c, rq_reply_fn fn, void *ud, int argc, const char **argv, const size_t *lens) {
  if (!c->s)
    return -ENOTCONN;
  size_t l[64];
  if (!lens) {
    if (argc > 64)
      return -EINVAL;
    for (int i = 0; i < argc; i++)
      l[i] = strlen(argv[i]);
    lens = l;
  }
  char *buf = NULL;
  int n = redisFormatCommandArgv(&buf, argc, argv, lens);
  if (n < 0)
    return -ENOMEM;
  int rc = push_wait(c, fn, ud);
  if (rc == 0)
    rc = rf_stream_send(c->s, buf, (size_t)n);
  redisFreeCommand(buf);
  if (rc == 0)
    c->commands++;
  else if (c->qn) /* the wait pushed above: not sent after all */
    c->qn--;
  return rc;
}

/* The error kind of a lost connection, in the engine's words. */
static const char *kind_of(int err, const char **detail) {
  *detail = err ? strerror(-err) : "the server closed the connection";
  switch (-err) {
  case 0: return "closed";
  case ECONNREFUSED: return "connect_refused";
  case ETIMEDOUT: return "connect_timeout";
  case ECONNRESET:
  case EPIPE: return "reset";
  case EPROTO: *detail = "malformed reply"; return "bad_response";
  case ETIME: *detail = "no reply for 30 s"; return "read_timeout";
  default: return "connect";
  }
}

/* The connection is gone: waiting commands fail (NULL reply), a new one is
 * tried after the back-off. */
static void drop(rq_conn *c, int err, double now) {
  const char *detail, *kind = kind_of(err, &detail);
  rf_stream_close(c->s);
  c->s = NULL;
  if (c->rd)
    redisReaderFree(c->rd);
  c->rd = NULL;
  c->retry_at = now + c->backoff_ms / 1000.0;
  if (!c->quiet_retry)
    fprintf(stderr, "ringfetch: redis %s: %s (%s); reconnecting in %.1f s\n", c->t->where, kind, detail,
            c->backoff_ms / 1000.0);
  else if (!c->down_reported)
    fprintf(stderr, "ringfetch: redis %s: %s (%s)\n", c->t->where, kind, detail);
  c->down_reported = true;
  c->outages++;
  c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
  while (c->qn) {
    rq_wait w = pop_wait(c);
    if (w.fn)
      w.fn(w.ud, NULL);
  }
}

static void start(rq_conn *c, double now) {
  int rc = rf_stream_open(c->e, c->t->ip, c->t->port, &c->s);
  if (rc == 0 && !(c->rd = redisReaderCreate()))
    rc = -ENOMEM;
  if (rc < 0) {
    c->s = NULL; /* rf_stream_open set it only on success */
    drop(c, rc, now);
    return;
  }
  c->rd->maxbuf = 0; /* keep the buffer: replies come in steadily */
  c->deadline = now + CONNECT_TIMEOUT_S;
  if (c->t->db) {
    char db[12];
    snprintf(db, sizeof db, "%u", c->t->db);
    const char *argv[] = {"SELECT", db};
    rq_cmd(c, NULL, NULL, 2, argv, NULL);
  }
  if (c->on_connect)
    c->on_connect(c->ud);
}

/* Replies in the reader go to their callbacks. -1: the connection is bad. */
static int deliver(rq_conn *c) {
  for (;;) {
    void *rep = NULL;
    if (redisReaderGetReply(c->rd, &rep) != REDIS_OK)
      return -1;
    if (!rep)
      return 0;
    if (!c->qn) { /* a reply nobody asked for */
      freeReplyObject(rep);
      return -1;
    }
    if (c->down_reported) {
      if (!c->quiet_retry)
        fprintf(stderr, "ringfetch: redis %s: connected again\n", c->t->where);
      c->down_reported = false;
    }
    c->backoff_ms = BACKOFF_MIN_MS;
    rq_wait w = pop_wait(c);
    if (w.fn)
      w.fn(w.ud, rep);
    freeReplyObject(rep);
    if (!c->s) /* the callback freed the client */
      return 0;
  }
}

void rq_pump(rq_conn *c, double now) {
  if (!c->s) {
    if (now >= c->retry_at)
      start(c, now);
    return;
  }
  const uint8_t *p;
  size_t n = rf_stream_data(c->s, &p);
  if (n) {
    int fed = redisReaderFeed(c->rd, (const char *)p, n);
    rf_stream_consume(c->s, n);
    if (fed != REDIS_OK || deliver(c) < 0) {
      drop(c, -EPROTO, now);
      return;
    }
  }
  if (!c->s)
    return;
  rf_stream_state st = rf_stream_get_state(c->s);
  if (st == RF_STREAM_CLOSED)
    drop(c, rf_stream_error(c->s), now);
  else if (st == RF_STREAM_CONNECTING && now >= c->deadline)
    drop(c, -ETIMEDOUT, now);
  else if (st == RF_STREAM_OPEN && c->qn && now - c->q[c->qhead].sent > REPLY_TIMEOUT_S)
    drop(c, -ETIME, now);
}

double rq_wait_s(const rq_conn *c, double now) {
  if (!c->s)
    return c->retry_at > now ? c->retry_at - now : 0;
  if (rf_stream_get_state(c->s) == RF_STREAM_CONNECTING)
    return c->deadline > now ? c->deadline - now : 0;
  if (c->qn) {
    double due = c->q[c->qhead].sent + REPLY_TIMEOUT_S;
    return due > now ? due - now : 0;
  }
  return 1e9;
}

void rq_free(rq_conn *c) {
  rf_stream_close(c->s);
  c->s = NULL;
  if (c->rd)
    redisReaderFree(c->rd);
  c->rd = NULL;
  while (c->qn) { /* their callbacks free what they own */
    rq_wait w = pop_wait(c);
    if (w.fn)
      w.fn(w.ud, NULL);
  }
  free(c->q);
  c->q = NULL;
  c->qn = 0;
}

bool rq_is(const redisReply *r, const char *s) {
  return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) && r->len == strlen(s) &&
         memcmp(r->str, s, r->len) == 0;
}

bool rq_str(const redisReply *r, char *out, size_t cap) {
  if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS) || r->len >= cap)
    return false;
  memcpy(out, r->str, r->len);
  out[r->len] = 0;
  return true;
}
