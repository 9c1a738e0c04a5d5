/* A Redis client on the engine's ring: commands are formatted with hiredis
 * (redisFormatCommandArgv) and written through an rf_stream, the bytes that
 * come back are fed to hiredis' RESP reader (redisReader); replies reach
 * their callbacks in command order. No blocking call, no thread: the caller
 * runs the engine and calls rq_pump after each turn. A lost connection fails
 * every waiting command (callback with NULL) and is made again with
 * back-off (100 ms doubling to 5 s), with a message on stderr. A server
 * that answers nothing for 30 s (stopped, a dead network path) counts as
 * lost too (read_timeout). */
#ifndef RF_TOOLS_REDISQ_H
#define RF_TOOLS_REDISQ_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringfetch.h"

/* Where the queue lives: redis://HOST:PORT[/DB]/NAME. */
typedef struct rq_target {
  char ip[64];          /* numeric, resolved once at start */
  uint16_t port;
  unsigned db;
  char name[256];       /* the work stream; results go to NAME:results */
  char where[320];      /* HOST:PORT for messages */
} rq_target;

/* Parses and resolves url. 0, or -1 with a message in err. */
int rq_parse_url(const char *url, rq_target *t, char *err, size_t cap);

/* r is NULL when the connection was lost first: the command may or may not
 * have run. Replies are freed after the call. */
typedef void (*rq_reply_fn)(void *ud, redisReply *r);

typedef struct rq_wait {
  rq_reply_fn fn;
  void *ud;
  double sent;          /* when the command was queued (monotonic s) */
} rq_wait;

typedef struct rq_conn {
  rf_engine *e;
  const rq_target *t;
  rf_stream *s;
  redisReader *rd;
  rq_wait *q;           /* callbacks of the commands sent, a ring */
  size_t qhead, qn, qcap;
  double retry_at;      /* no stream: when to connect again (monotonic s) */
  double deadline;      /* connecting: when to give up */
  unsigned backoff_ms;
  bool down_reported;   /* an outage was reported: report the recovery */
  bool quiet_retry;     /* enqueue/results: the caller gives up instead (the failure is
                           still reported, without "reconnecting") */
  unsigned outages;
  /* called when a new connection starts, before any queued command: the
   * caller selects the database, loads scripts */
  void (*on_connect)(void *ud);
  void *ud;
  uint64_t commands;    /* sent over the life of the client */
} rq_conn;

void rq_init(rq_conn *c, rf_engine *e, const rq_target *t);
/* Closes the connection; commands still waiting get their callback with NULL. */
void rq_free(rq_conn *c);
/* A connection exists (connecting or open): commands can be queued. */
bool rq_ready(const rq_conn *c);
/* Sends one command (argv[i] of lens[i] bytes; lens NULL = strlen). 0, or
 * -ENOTCONN when there is no connection now, -ENOMEM. */
int rq_cmd(rq_conn *c, rq_reply_fn fn, void *ud, int argc, const char **argv, const size_t *lens);
/* After each engine turn: connects, reads replies, calls back, notices a
 * lost connection. now is monotonic seconds. */
void rq_pump(rq_conn *c, double now);
/* Seconds until rq_pump has something to do without I/O (a reconnect or a
 * connect deadline), or a large number. */
double rq_wait_s(const rq_conn *c, double now);
/* Commands waiting for their reply. */
size_t rq_waiting(const rq_conn *c);

/* Reply helpers: a string reply's text compared / copied. */
bool rq_is(const redisReply *r, const char *s);
bool rq_str(const redisReply *r, char *out, size_t cap);

double rq_mono(void);

#endif
