/* Result slots: a fixed array. A request takes a slot when it starts and
 * keeps it until the consumer releases its result, so results never need
 * memory beyond the slots, and a consumer that stops releasing stops the
 * engine from starting more work (backpressure, never loss). */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/internal.h"

rf_slot *rf_slot_alloc(rf_engine *e, rf_req *q) {
  rf_slot *s = e->free_slots;
  if (!s)
    return NULL;
  e->free_slots = s->next;
  s->next = NULL;
  s->state = SLOT_RUNNING;
  s->req = q;
  s->conn = NULL;
  s->err = RF_OK;
  s->msg[0] = 0;
  s->t_start = e->now_us;
  s->t_sent = s->t_first_byte = 0;
  s->dns_us = s->connect_us = s->tls_us = 0;
  s->ev_dns0 = s->ev_dns1 = s->ev_conn0 = s->ev_conn1 = s->ev_tls0 = s->ev_tls1 = 0;
  s->conn_id = 0;
  s->active = false;
  s->nh = s->reason_off = s->reason_len = 0;
  s->disp = DISP_DELIVER;
  s->disp_err = RF_OK;
  s->nt = 0;
  s->next_url = NULL;
  s->retry_wait_us = 0;
  s->h2s = NULL;
  if (!q->t_first_start)
    q->t_first_start = e->now_us;
  unsigned max_time = q->max_time_ms ? q->max_time_ms : e->cfg.max_time_ms;
  s->max_time_due_ms = max_time ? e->now_ms + max_time : 0;
  s->read_ms = q->read_timeout_ms ? q->read_timeout_ms : e->cfg.read_timeout_ms; /* read per event: kept here, where it is hot */
  rf_sink_reset(&s->sink);
  memset(&s->res, 0, sizeof s->res);
  return s;
}

/* The attempt is over: once the sink has nothing in flight (a file closed,
 * its last write done) the outcome is decided (sink.c calls it otherwise). */
static void slot_finish(rf_engine *e, rf_slot *s) {
  s->state = SLOT_SINKING;
  if (rf_sink_finish(e, s))
    rf_outcome_settle(e, s);
}

/* Off its connection, which closes (a response half read leaves it unusable). */
static void slot_unhook(rf_engine *e, rf_slot *s) {
  rf_conn *c = s->conn;
  if (c && c->h2) { /* one stream of many: the connection goes on */
    rf_h2_unhook(e, c, s);
    return;
  }
  if (c) {
    assert(c->slot == s); /* pipelined requests behind it end when c closes */
    rf_conn_setup_ended(e, c, s);
    c->slot = NULL;
    rf_slot_detach(e, s);
    rf_conn_close(e, c);
  }
}

void rf_slot_fail(rf_engine *e, rf_slot *s, rf_error err, const char *fmt, ...) {
  if (s->err != RF_OK || s->state != SLOT_RUNNING)
    return; /* the first failure wins */
  s->err = err;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->msg, sizeof s->msg, fmt, ap);
  va_end(ap);
  slot_unhook(e, s);
  slot_finish(e, s);
}

void rf_slot_abandon(rf_engine *e, rf_slot *s) {
  if (s->state != SLOT_RUNNING)
    return;
  slot_unhook(e, s);
  slot_finish(e, s);
}

void rf_slot_response_done(rf_engine *e, rf_slot *s) {
  if (rf_body_end(e, s) < 0)
    return; /* failed (bad_encoding): finished already */
  slot_finish(e, s);
}

void rf_slot_detach(rf_engine *e, rf_slot *s) {
  s->conn = NULL;
  e->inflight--;
  if (s->active) {
    s->active = false;
    e->active--;
  }
}

static uint64_t rel(const rf_engine *e, uint64_t t) { return t > e->epoch_us ? t - e->epoch_us : (t ? 1 : 0); }

void rf_slot_release(rf_engine *e, rf_slot *s) {
  rf_body_free(s);
  rf_capture_free(s);
  s->req = NULL;
  free(s->next_url);
  s->next_url = NULL;
  rf_sink_reset(&s->sink);
  s->state = SLOT_FREE;
  s->next = e->free_slots;
  e->free_slots = s;
}

void rf_slot_deliver(rf_engine *e, rf_slot *s) {
  rf_req *q = s->req;
  rf_result *r = &s->res;
  free(s->next_url);
  s->next_url = NULL;
  rf_body_free(s);
  r->tag = q->tag;
  r->url = q->url0;
  r->url_len = q->url0_len;
  r->final_url = q->url;
  r->final_url_len = q->url_len;
  r->redirects = q->redirs;
  r->n_redirects = q->nredirs;
  r->attempts = q->attempts;
  r->error = s->err;
  r->error_message = s->msg;
  r->reason = s->hbuf + s->reason_off;
  r->reason_len = s->reason_len;
  for (uint32_t i = 0; i < s->nh + s->nt; i++) { /* the trailers follow the headers */
    const rf_hspan *h = &s->spans[i];
    s->hdrs[i].name = s->hbuf + h->name_off;
    s->hdrs[i].name_len = h->name_len;
    s->hdrs[i].value = s->hbuf + h->value_off;
    s->hdrs[i].value_len = h->value_len;
  }
  r->headers = s->hdrs;
  r->n_headers = s->nh;
  r->trailers = s->hdrs + s->nh;
  r->n_trailers = s->nt;
  if (q->body_mode == RF_BODY_MEMORY) {
    r->body = s->sink.mem.p ? (const char *)s->sink.mem.p : "";
    r->body_len = s->sink.mem.len;
  }
  r->body_bytes = s->sink.bytes;
  /* the loop's clock of this batch, the one starts are stamped with: a
   * request started in the same turn never seems to begin before this one
   * ended */
  uint64_t now = e->now_us;
  uint64_t first = q->t_first_start ? q->t_first_start : s->t_start;
  r->timings.queued = first > q->t_submit ? first - q->t_submit : 0;
  /* 0 means "never sent": a send within the submit's microsecond reads 1 */
  r->timings.send = !s->t_sent ? 0 : s->t_sent > q->t_submit ? s->t_sent - q->t_submit : 1;
  r->timings.dns = s->dns_us;
  r->timings.connect = s->connect_us;
  r->timings.tls = s->tls_us;
  r->timings.ttfb = s->t_first_byte && s->t_sent ? s->t_first_byte - s->t_sent : 0;
  r->timings.total = now > q->t_submit ? now - q->t_submit : 0;
  rf_events *ev = &r->events;
  ev->submitted = rel(e, q->t_submit);
  ev->started = rel(e, s->t_start);
  ev->dns_start = rel(e, s->ev_dns0);
  ev->dns_end = rel(e, s->ev_dns1);
  ev->connect_start = rel(e, s->ev_conn0);
  ev->connect_end = rel(e, s->ev_conn1);
  ev->tls_start = rel(e, s->ev_tls0);
  ev->tls_end = rel(e, s->ev_tls1);
  ev->sent = rel(e, s->t_sent);
  ev->first_byte = rel(e, s->t_first_byte);
  ev->done = rel(e, now);
  r->conn_id = s->conn_id;

  s->state = SLOT_DONE;
  s->next = NULL;
  if (e->done_tail)
    e->done_tail->next = s;
  else
    e->done_head = s;
  e->done_tail = s;
  e->ndone++;
  e->st.completed++;
  if (s->err != RF_OK)
    e->st.failed++;
}

rf_result *rf_result_next(rf_engine *e) {
  rf_slot *s = e->done_head;
  if (!s)
    return NULL;
  e->done_head = s->next;
  if (!e->done_head)
    e->done_tail = NULL;
  s->next = NULL;
  s->state = SLOT_HELD;
  e->ndone--;
  e->outstanding--;
  return &s->res;
}

void rf_result_release(rf_engine *e, rf_result *r) {
  if (!r)
    return;
  rf_slot *s = (rf_slot *)r; /* res is the first member */
  if (s->state != SLOT_HELD)
    return;
  rf_req_free(e, s->req);
  rf_slot_release(e, s);
}

const rf_header *rf_result_header(const rf_result *r, const char *name) {
  size_t n = strlen(name);
  for (size_t i = 0; i < r->n_headers; i++)
    if (r->headers[i].name_len == n && strncasecmp(r->headers[i].name, name, n) == 0)
      return &r->headers[i];
  return NULL;
}

/* Header storage for every slot lives in one anonymous mapping: a page is
 * touched only when a response's headers reach it, so idle slots cost
 * address space, not memory. */
static size_t slot_stride(const rf_engine *e) {
  size_t per = e->cfg.max_header_bytes + (sizeof(rf_hspan) + sizeof(rf_header)) * e->cfg.max_headers;
  return (per + 4095) & ~(size_t)4095;
}

int rf_slots_init(rf_engine *e) {
  e->slots = calloc(e->nslots, sizeof *e->slots);
  if (!e->slots)
    return -1;
  size_t stride = slot_stride(e);
  e->slot_mem_len = stride * e->nslots;
  void *mem = mmap(NULL, e->slot_mem_len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) {
    e->slot_mem_len = 0;
    return -1;
  }
  e->slot_mem = mem;
  for (uint32_t i = e->nslots; i-- > 0;) {
    rf_slot *s = &e->slots[i];
    uint8_t *base = e->slot_mem + stride * i;
    s->idx = i;
    s->spans = (rf_hspan *)base;
    s->hdrs = (rf_header *)(base + sizeof(rf_hspan) * e->cfg.max_headers);
    s->hbuf = (char *)(base + (sizeof(rf_hspan) + sizeof(rf_header)) * e->cfg.max_headers);
    s->sink.fd = -1;
    s->next = e->free_slots;
    e->free_slots = s;
  }
  return 0;
}

void rf_slots_free(rf_engine *e) {
  if (!e->slots)
    return;
  for (uint32_t i = 0; i < e->nslots; i++) {
    rf_slot *s = &e->slots[i];
    if (s->sink.own_fd && s->sink.fd >= 0)
      close(s->sink.fd); /* teardown only */
    rf_sink_reset(&s->sink);
    rf_req_free(e, s->req);
    free(s->next_url);
    rf_body_free(s);
    rf_capture_free(s);
  }
  if (e->slot_mem)
    munmap(e->slot_mem, e->slot_mem_len);
  e->slot_mem = NULL;
  free(e->slots);
  e->slots = NULL;
}
