/* libFuzzer target: the HTTP/2 receive path (engine/h2.c over nghttp2) on
 * arbitrary server bytes. One engine serves the whole run; each input is one
 * h2c connection carrying one to four requests, fed the server's preface (an
 * empty SETTINGS frame) and then the input, split in two at a point the input
 * chooses. The connection has no socket: what the client would send piles up
 * in its buffer and is dropped.
 *
 * Input: byte 0 picks the requests (count, HEAD, body mode, decoding, hash,
 * redirects, a request body), byte 1 the split, the rest is the server's.
 * Invariants: no crash and no sanitizer report, and every request ends with
 * exactly one result (the engine's outstanding count returns to zero). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static rf_engine *E; /* for the whole run: an engine per input would be slow */

static rf_engine *engine(void) {
  if (E)
    return E;
  rf_config cfg;
  rf_config_init(&cfg);
  cfg.http2_prior_knowledge = true;
  cfg.concurrency = 16;
  cfg.hosts_file = "";
  cfg.proxy = "";
  cfg.max_header_bytes = 4096;
  cfg.max_headers = 16;
  char err[256];
  if (rf_engine_new(&cfg, &E, err, sizeof err) < 0) {
    fprintf(stderr, "fuzz_h2: %s\n", err);
    abort();
  }
  return E;
}

static void submit(rf_engine *e, uint8_t f, unsigned i) {
  rf_request rq;
  rf_request_init(&rq);
  rq.url = "http://fuzz.test/r";
  rq.tag = i;
  if ((f & 4) && i == 0)
    rq.method = "HEAD";
  rq.body_mode = (f & 8) ? RF_BODY_DISCARD : RF_BODY_MEMORY;
  rq.flags = ((f & 16) ? RF_REQ_DECODE : 0) | ((f & 32) ? RF_REQ_SHA256 : 0) | ((f & 64) ? RF_REQ_FOLLOW : 0);
  if (f & 128) {
    rq.body = "request body";
    rq.body_len = 12;
  }
  if (rf_submit(e, &rq) < 0)
    abort();
}

/* An h2c connection of the requests in the global queue, as the scheduler
 * and the connection code would make it, without a socket. */
static rf_conn *connection(rf_engine *e) {
  rf_origin *o = rf_origin_for(e, &e->q_head->u);
  rf_conn *c = rf_conn_alloc(e);
  if (!o || !c)
    abort();
  c->origin = o;
  c->id = ++e->conn_seq;
  c->state = C_BUSY;
  c->has_socket = true;   /* closing goes through the ring like a real one */
  c->send_inflight = true; /* nothing is ever sent */
  o->nconns++;
  o->nactive++;
  e->open_conns++;
  if (rf_h2_start(e, c) < 0)
    abort();
  o->h2 = true;
  while (e->q_head) {
    rf_req *q = e->q_head;
    e->q_head = q->next;
    e->queued--;
    q->next = NULL;
    q->origin = o;
    rf_slot *s = rf_slot_alloc(e, q);
    s->conn = c;
    s->conn_id = c->id;
    e->inflight++;
    rf_h2_submit(e, c, s);
  }
  e->q_tail = NULL;
  return c;
}

static void feed(rf_engine *e, rf_conn *c, const uint8_t *p, size_t n) {
  if (c->state != C_BUSY && c->state != C_IDLE)
    return;
  rf_h2_recv(e, c, p, n);
  c->tx[0].len = c->tx[1].len = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  rf_engine *e = engine();
  uint8_t f = data[0];
  size_t split = data[1];
  data += 2;
  size -= 2;
  if (split > size)
    split = size;
  for (unsigned i = 0; i < 1u + (f & 3); i++)
    submit(e, f, i);
  rf_conn *c = connection(e);
  uint32_t gen = c->gen;
  static const uint8_t preface[] = {0, 0, 0, 4, 0, 0, 0, 0, 0}; /* SETTINGS, empty */
  feed(e, c, preface, sizeof preface);
  feed(e, c, data, split);
  feed(e, c, data + split, size - split);
  /* the end: what is still running goes again (and is canceled), the
   * connection's close completes through the ring */
  if (c->gen == gen && c->state != C_CLOSING && c->state != C_FREE)
    rf_conn_close(e, c);
  rf_cancel_all(e);
  for (int i = 0; i < 1000 && (rf_outstanding(e) > 0 || (c->gen == gen && c->state != C_FREE)); i++) {
    if (rf_run(e, 10) < 0)
      abort();
    rf_result *r;
    while ((r = rf_result_next(e)) != NULL)
      rf_result_release(e, r);
  }
  if (rf_outstanding(e) > 0 || (c->gen == gen && c->state != C_FREE))
    abort(); /* a request without its result, or a connection never freed */
  return 0;
}
