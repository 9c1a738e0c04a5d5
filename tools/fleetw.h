/* The state of a fleet worker, shared by fleet.c (entries, Redis, the
 * loop) and polite.c (fleet-wide host rates and per-host limits). Private
 * to those two files. */
#ifndef RF_TOOLS_FLEETW_H
#define RF_TOOLS_FLEETW_H

#include <stdbool.h>
#include <stdint.h>

#include "json.h"
#include "options.h"
#include "records.h"
#include "redisq.h"

#define NIL UINT32_MAX

enum { E_FREE, E_WAIT, E_READY, E_RUNNING, E_STORE, E_STORING };

struct worker;
struct forigin;

typedef struct fentry {
  struct worker *w;
  char id[48];          /* the stream entry ID (at most 41 bytes) */
  uint64_t line;
  char *url;
  size_t url_len;
  char *src;
  bool too_long;
  uint8_t state;
  uint32_t next;        /* in the list of its state */
  struct forigin *g;    /* its origin while it waits or runs under a fleet-wide limit */
  char *rec;            /* E_STORE / E_STORING: the record */
  size_t rec_len;
} fentry;

typedef struct flist {
  uint32_t head, tail;
  size_t n;
} flist;

/* An origin under a fleet-wide limit (--host-rate, --per-host). */
typedef struct forigin {
  struct worker *w;
  struct forigin *hnext, *anext;
  char *key;            /* scheme://host:port, lower case */
  flist waitq;          /* entries waiting for a token or a lease */
  bool active;          /* on the worker's active list (idle ones are freed) */
  unsigned cmds;        /* Redis commands in flight whose callback names it */
  /* rate: tokens of the fleet's bucket */
  double iv;            /* seconds between its requests, fleet-wide; 0 = no rate */
  unsigned ntok;        /* tokens granted, not used: the next at next_tok */
  double next_tok, ask_at, ask_sent;
  bool asking;
  /* per-host: leases of the fleet's slots */
  unsigned leases;      /* slots held: requests this worker may run there */
  unsigned running;
  bool leasing;
  double lease_at;      /* next lease request */
  double idle_since;    /* nothing waits or runs: leases go back after a moment */
  unsigned lease_backoff_ms;
} forigin;

typedef struct worker {
  rf_cli *o;
  rf_engine *e;
  rq_target t;
  rq_conn rc;
  char reskey[300], me[256];
  char sha_store[41], sha_rate[41], sha_lease[41];
  fentry *ents;
  uint32_t cap, held, batch;  /* cap: unfinished entries held at most (-c + one batch) */
  uint32_t nents, finished;   /* entries allocated (2 cap); held ones being stored */
  flist freel, ready, store;
  struct forigin **otab, *active;
  double claim_idle;
  double clock_offset, best_rtt, offset_at; /* the server's clock - ours (polite.c) */
  /* what is asked of Redis */
  unsigned reads;       /* XREADGROUPs in flight (at most 2) */
  uint32_t asked;       /* entries they asked for */
  uint32_t read_counts[2];
  unsigned read0;
  bool claiming, checking, drain_ok, read_empty;
  double read_at, claim_at, hb_at, check_at;
  double store_since;   /* the oldest result waiting to be stored came then */
  char cursor[48];
  bool history;         /* reading this consumer's own pending entries first */
  char hist_id[48];     /* the last one read */
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

/* fleet.c: lists of entries */
void rf_fleet_push(worker *w, flist *l, uint32_t i);
uint32_t rf_fleet_pop(worker *w, flist *l);

/* polite.c */
extern const char rf_fleet_rate_lua[], rf_fleet_lease_lua[];
int rf_polite_init(worker *w);
void rf_polite_free(worker *w);
/* Where a new entry waits: its origin's queue (true), or nowhere (false:
 * no fleet-wide limit applies, it may start at once). */
bool rf_polite_admit(worker *w, fentry *f);
/* Entries whose token and lease are there go to the ready list; tokens and
 * leases are asked for, idle leases given back. The earliest time something
 * is due. */
double rf_polite_turn(worker *w, double now);
/* f (admitted by rf_polite_admit) ended, or was dropped: its origin may
 * start the next one. */
void rf_polite_ended(fentry *f);
/* Waiting entries are dropped (stopping): each is passed to drop. */
void rf_polite_drop_waiting(worker *w, void (*drop)(worker *, fentry *));
/* The heartbeat: leases held are renewed. */
void rf_polite_renew(worker *w);
/* Leaving: every lease goes back to the fleet. */
void rf_polite_give_back(worker *w);

#endif
