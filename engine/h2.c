/* HTTP/2 on a connection: nghttp2 1.52 fed through its memory interface.
 *
 * The connection's TLS (or, for h2c, the socket) hands plaintext to
 * rf_h2_recv, which gives it to nghttp2_session_mem_recv; what nghttp2 wants
 * to send comes out of nghttp2_session_mem_send, is coalesced into TLS-record
 * sized pieces and goes out through the connection (rf_conn_write). nghttp2
 * never sees a socket.
 *
 * Each request is a stream (rf_h2_stream, the stream's user data). Response
 * headers land in the request's result slot the way llhttp's would, so the
 * outcome (redirects, retries), decoding and the body sink are the same code
 * as for HTTP/1.1. Flow control is the body path's backpressure: DATA is
 * given back to nghttp2 (nghttp2_session_consume -> WINDOW_UPDATE) once the
 * sink took it, and a stream whose sink is full keeps its bytes until the
 * sink drains, so the server stops after one stream window.
 *
 * Reentrancy: nghttp2 must not be driven (mem_send) from its own callbacks,
 * and a stream struct may be freed by a callback. `busy` counts the calls on
 * the stack that drive the session or walk the streams; sending and the
 * connection's next step (idle, close) happen when it is back to zero. */
#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"

/* A stream's window is what it may still receive once its sink is full
 * (bounded memory), and what one round trip can carry (throughput): 16 MiB
 * keeps a 1 GiB body at 1.3 GB/s up to 12 ms of round trip, while a stalled
 * file or pipe sink holds at most that much past its own high mark. The
 * connection window is large so one stalled stream never stops the others
 * (h2load uses 2^30-1 for both). Consumption follows the sink at once. */
#define H2_STREAM_WINDOW (16u << 20)
#define H2_CONN_WINDOW ((1u << 30) - 1)
#define H2_OUT 16384u                /* one TLS record of plaintext */
#define H2_DEFAULT_STREAMS 100u      /* nghttp2's assumption before the server's SETTINGS */
#define DROPPED_BODY_MAX (256u << 10) /* as HTTP/1.1: then the stream is reset */

typedef struct rf_h2_stream {
  struct rf_h2_stream *prev, *next;
  rf_slot *slot;          /* NULL once the request went on (the stream may still be open) */
  int32_t id;
  rf_resp view;           /* the response head, over the slot's header storage */
  size_t body_off;        /* request body bytes handed to nghttp2 */
  uint64_t held;          /* DATA bytes not given back yet: the sink is full */
  uint64_t dropped;       /* body bytes of a response nobody keeps */
  bool interim;           /* the header block being read is a 1xx */
  bool headers_done, rst_recv, got_bytes;
  uint64_t rx_due_ms;     /* the request's read timeout: nothing for it since this long, 0 = none */
} rf_h2_stream;

struct rf_h2 {
  nghttp2_session *ss;
  rf_engine *e;
  rf_conn *c;
  rf_h2_stream *streams;  /* every stream nghttp2 knows of (or will) */
  unsigned nstreams, nheld;
  unsigned opened;         /* streams ever opened on this connection */
  int busy;
  bool settings_seen;     /* the server's SETTINGS arrived */
  bool batched;           /* on e->h2_batched */
  struct rf_conn *batch_next;
  bool goaway;            /* the server sent GOAWAY: no new streams */
  uint32_t local_error;   /* we sent GOAWAY with this error: the server broke the protocol */
  uint64_t due_ms;        /* earliest max_time or read deadline of a stream (may be early), 0 = none */
  char errmsg[96];
  size_t out_len;
  uint8_t out[H2_OUT];
};

typedef struct rf_h2 rf_h2;

static void pump(rf_engine *e, rf_conn *c);

/* ---- streams ------------------------------------------------------------------ */

static void stream_unlink(rf_h2 *h, rf_h2_stream *st) {
  if (st->prev)
    st->prev->next = st->next;
  else
    h->streams = st->next;
  if (st->next)
    st->next->prev = st->prev;
  h->nstreams--;
  rf_smem_free(&h->e->smem, st);
}

/* The request leaves its stream: window held for its sink is given back,
 * and the slot is off the connection. */
static void detach(rf_h2 *h, rf_h2_stream *st) {
  rf_slot *s = st->slot;
  st->slot = NULL;
  s->h2s = NULL;
  if (st->held) {
    nghttp2_session_consume(h->ss, st->id, st->held);
    st->held = 0;
    h->nheld--;
  }
  rf_slot_detach(h->e, s);
}

static rf_h2_stream *stream_of(rf_h2 *h, int32_t id) {
  return nghttp2_session_get_stream_user_data(h->ss, id);
}

/* The stream closed or failed on the server's side: its request fails. */
static void stream_fail(rf_h2 *h, rf_h2_stream *st, rf_error err, const char *msg) {
  rf_slot *s = st->slot;
  detach(h, st);
  rf_slot_fail(h->e, s, err, "%s", msg);
}

/* ---- response ------------------------------------------------------------------ */

/* The head as HTTP/1.1 text for the raw tap (WARC readers know no HTTP/2):
 * "HTTP/1.1 200 " with an empty reason, then the fields as received. */
static void capture_head(rf_engine *e, rf_slot *s, const rf_resp *v) {
  rf_buf b = {0};
  char line[32];
  int n = snprintf(line, sizeof line, "HTTP/1.1 %d \r\n", v->status);
  rf_buf_append(&b, line, (size_t)n);
  for (uint32_t i = 0; i < v->nh; i++) {
    const rf_hspan *f = &v->hdrs[i];
    rf_buf_append(&b, v->hbuf + f->name_off, f->name_len);
    rf_buf_append(&b, ": ", 2);
    rf_buf_append(&b, v->hbuf + f->value_off, f->value_len);
    rf_buf_append(&b, "\r\n", 2);
  }
  rf_buf_append(&b, "\r\n", 2);
  rf_capture_response(e, s, b.p, b.len);
  rf_buf_free(&b);
}

/* The final response head is complete: the outcome decides what it leads to. */
static void headers_ready(rf_h2 *h, rf_h2_stream *st) {
  rf_slot *s = st->slot;
  rf_resp *v = &st->view;
  st->headers_done = true;
  s->res.status = v->status;
  s->res.http_major = 2;
  s->res.http_minor = 0;
  s->nh = v->nh;
  s->reason_off = s->reason_len = 0;
  if (s->capturing)
    capture_head(h->e, s, v);
  rf_outcome_headers(h->e, s, v);
  if (s->disp == DISP_DELIVER)
    rf_body_start(h->e, s, v); /* may fail s (an unknown coding) */
}

static void stream_ended(rf_h2 *h, rf_h2_stream *st) {
  rf_slot *s = st->slot;
  if (!s)
    return;
  if (!st->headers_done) {
    stream_fail(h, st, RF_ERR_BAD_RESPONSE, "HTTP/2 stream ended without a response");
    return;
  }
  s->nt = st->view.nt;
  detach(h, st);
  rf_slot_response_done(h->e, s);
}

/* Something arrived for st: its request's read timeout starts again (the
 * timer may stay filed earlier: it re-files when it finds nothing due). */
static void stream_alive(rf_h2 *h, rf_h2_stream *st) {
  rf_slot *s = st->slot;
  unsigned ms = s ? rf_read_timeout_ms(h->e, s) : 0;
  st->rx_due_ms = ms ? h->e->now_ms + ms : 0;
  if (st->rx_due_ms && (!h->due_ms || st->rx_due_ms < h->due_ms)) {
    h->due_ms = st->rx_due_ms;
    rf_conn_arm_timer(h->e, h->c);
  }
}

static int on_begin_headers(nghttp2_session *ss, const nghttp2_frame *frame, void *ud) {
  rf_h2 *h = ud;
  rf_h2_stream *st = stream_of(h, frame->hd.stream_id);
  if (st)
    stream_alive(h, st);
  if (st && st->slot && !st->slot->t_first_byte)
    st->slot->t_first_byte = h->e->now_us;
  if (st)
    st->got_bytes = true;
  return 0;
}

static int on_header(nghttp2_session *ss, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *ud) {
  rf_h2 *h = ud;
  rf_h2_stream *st = stream_of(h, frame->hd.stream_id);
  if (!st || !st->slot)
    return 0;
  rf_resp *v = &st->view;
  if (name[0] == ':') { /* nghttp2 allows only :status in a response, once, 3 digits */
    if (namelen == 7 && memcmp(name, ":status", 7) == 0 && valuelen == 3) {
      v->status = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
      st->interim = v->status < 200;
    }
    return 0;
  }
  if (st->interim)
    return 0;
  if (v->nh + v->nt + v->lean_fields >= v->hmax || (uint64_t)v->hlen + namelen + valuelen > v->hcap) {
    rf_slot_fail(h->e, st->slot, RF_ERR_TOO_LARGE, "response header fields over %u bytes or %u fields",
                 v->hcap, v->hmax);
    return 0; /* the stream is reset; the rest of its block is ignored */
  }
  if (v->lean) { /* RF_REQ_NO_HEADERS: counted against the limits above, not kept */
    v->hlen += (uint32_t)(namelen + valuelen);
    v->lean_fields++;
    return 0;
  }
  rf_hspan *f = &v->hdrs[v->nh + v->nt];
  f->name_off = v->hlen;
  f->name_len = (uint32_t)namelen;
  memcpy(v->hbuf + v->hlen, name, namelen);
  v->hlen += (uint32_t)namelen;
  f->value_off = v->hlen;
  f->value_len = (uint32_t)valuelen;
  memcpy(v->hbuf + v->hlen, value, valuelen);
  v->hlen += (uint32_t)valuelen;
  if (st->headers_done)
    v->nt++; /* a trailer */
  else
    v->nh++;
  return 0;
}

static void headers_frame(rf_h2 *h, rf_h2_stream *st) {
  if (!st->slot)
    return;
  if (st->interim) { /* 100, 103: skipped, the final head follows */
    st->interim = false;
    st->view.status = 0;
    st->view.nh = st->view.hlen = st->view.lean_fields = 0;
  } else if (!st->headers_done) {
    headers_ready(h, st);
  }
}

static void settings_frame(rf_h2 *h) {
  h->settings_seen = true;
  rf_conn_h2_known(h->e, h->c); /* its room is known now */
  uint32_t n = nghttp2_session_get_remote_settings(h->ss, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  h->c->origin->h2_max_streams = n ? n : 1;
  rf_conn_pipe_update(h->e, h->c);
}

static int on_frame_recv(nghttp2_session *ss, const nghttp2_frame *frame, void *ud) {
  rf_h2 *h = ud;
  rf_h2_stream *st = frame->hd.stream_id ? stream_of(h, frame->hd.stream_id) : NULL;
  switch (frame->hd.type) {
  case NGHTTP2_HEADERS:
    if (st) /* END_STREAM on HEADERS or DATA ends the response */
      headers_frame(h, st);
    /* fall through */
  case NGHTTP2_DATA:
    if (st && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
      stream_ended(h, st);
    break;
  case NGHTTP2_RST_STREAM:
    if (st)
      st->rst_recv = true;
    break;
  case NGHTTP2_SETTINGS:
    if (!(frame->hd.flags & NGHTTP2_FLAG_ACK))
      settings_frame(h);
    break;
  case NGHTTP2_GOAWAY: {
    h->goaway = true; /* streams above its last id close as REFUSED_STREAM */
    /* A graceful GOAWAY that refuses some of our streams says how many one
     * connection of this origin takes in its life (nginx: keepalive_requests):
     * later connections get no more than that, instead of streams refused
     * again and again */
    unsigned took = (unsigned)(frame->goaway.last_stream_id + 1) / 2;
    if (frame->goaway.error_code == NGHTTP2_NO_ERROR && h->opened > took)
      h->c->origin->h2_conn_streams = took ? took : 1;
    rf_conn_pipe_update(h->e, h->c);
    break;
  }
  default:
    break;
  }
  return 0;
}

static int on_data(nghttp2_session *ss, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *ud) {
  rf_h2 *h = ud;
  rf_h2_stream *st = stream_of(h, id);
  rf_slot *s = st ? st->slot : NULL;
  if (s)
    stream_alive(h, st);
  if (!s || s->disp != DISP_DELIVER) {
    nghttp2_session_consume(ss, id, len);
    if (s) {
      rf_capture_response(h->e, s, data, len);
      rf_capture_payload(s, data, len);
      if ((st->dropped += len) > DROPPED_BODY_MAX)
        rf_slot_abandon(h->e, s); /* resets the stream; the outcome goes ahead */
    }
    return 0;
  }
  rf_capture_response(h->e, s, data, len);
  rf_capture_payload(s, data, len);
  int rc = rf_body_write(h->e, s, data, len);
  if (rc < 0 || !st->slot || !rf_sink_full(&s->sink)) {
    nghttp2_session_consume(ss, id, len);
    return 0;
  }
  if (!st->held)
    h->nheld++;
  st->held += len; /* given back when the sink drains */
  return 0;
}

/* A stream the server refused unprocessed (REFUSED_STREAM, or above a
 * GOAWAY's last stream id) goes again; other closes fail its request. */
static void stream_closed(rf_h2 *h, rf_h2_stream *st, uint32_t code) {
  char msg[200];
  if (code == NGHTTP2_REFUSED_STREAM && !st->got_bytes) {
    rf_slot *s = st->slot;
    detach(h, st);
    snprintf(msg, sizeof msg, "%s refused the HTTP/2 stream unprocessed", h->c->origin->host);
    rf_outcome_refused(h->e, s, msg);
    return;
  }
  /* the server's RST_STREAM is a reset; nghttp2 closing a stream for a
   * frame that broke the protocol is a bad response */
  bool proto = code == NGHTTP2_PROTOCOL_ERROR || code == NGHTTP2_FLOW_CONTROL_ERROR ||
               code == NGHTTP2_FRAME_SIZE_ERROR || code == NGHTTP2_COMPRESSION_ERROR;
  rf_error err = !st->rst_recv && proto ? RF_ERR_BAD_RESPONSE : RF_ERR_RESET;
  snprintf(msg, sizeof msg, "HTTP/2 stream %s by %s: %s", st->rst_recv ? "reset" : "closed",
           st->rst_recv ? h->c->origin->host : "the client", nghttp2_http2_strerror(code));
  stream_fail(h, st, err, msg);
}

static int on_stream_close(nghttp2_session *ss, int32_t id, uint32_t code, void *ud) {
  rf_h2 *h = ud;
  rf_h2_stream *st = stream_of(h, id);
  if (!st)
    return 0;
  if (st->slot)
    stream_closed(h, st, code);
  stream_unlink(h, st);
  return 0;
}

/* A request HEADERS that never went out (a GOAWAY came first, or we reset it
 * while queued): nghttp2 never opened the stream, so no close callback
 * follows: the request is refused here and the stream struct freed. */
static int on_frame_not_send(nghttp2_session *ss, const nghttp2_frame *frame, int lib_error, void *ud) {
  rf_h2 *h = ud;
  if (frame->hd.type != NGHTTP2_HEADERS || nghttp2_session_find_stream(ss, frame->hd.stream_id))
    return 0;
  for (rf_h2_stream *st = h->streams; st; st = st->next)
    if (st->id == frame->hd.stream_id) {
      if (st->slot)
        stream_closed(h, st, NGHTTP2_REFUSED_STREAM);
      stream_unlink(h, st);
      break;
    }
  return 0;
}

static int on_frame_send(nghttp2_session *ss, const nghttp2_frame *frame, void *ud) {
  rf_h2 *h = ud;
  if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR)
    h->local_error = frame->goaway.error_code;
  return 0;
}

static int on_error(nghttp2_session *ss, int code, const char *msg, size_t len, void *ud) {
  rf_h2 *h = ud;
  snprintf(h->errmsg, sizeof h->errmsg, "%.*s", (int)len, msg);
  return 0;
}

/* ---- session --------------------------------------------------------------------- */

bool rf_h2_wanted(const rf_engine *e, const rf_conn *c) {
  if (c->tls)
    return strcmp(rf_tls_alpn(c->tls), "h2") == 0;
  return e->cfg.http2_prior_knowledge && c->origin->scheme == RF_SCHEME_HTTP && !c->origin->proxy;
}

static nghttp2_session_callbacks *callbacks(void) {
  nghttp2_session_callbacks *cb;
  if (nghttp2_session_callbacks_new(&cb) != 0)
    return NULL;
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(cb, on_frame_not_send);
  nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
  nghttp2_session_callbacks_set_error_callback2(cb, on_error);
  return cb;
}

/* nghttp2 allocates per stream, frame and header field: from the engine's
 * small-object lists, not malloc (a tenth of bench --http2's CPU went to
 * malloc and free) */
static void *mem_malloc(size_t size, void *ud) { return rf_smem_alloc(ud, size); }
static void mem_free(void *p, void *ud) { rf_smem_free(ud, p); }
static void *mem_calloc(size_t n, size_t size, void *ud) { return rf_smem_calloc(ud, n, size); }
static void *mem_realloc(void *p, size_t size, void *ud) { return rf_smem_realloc(ud, p, size); }

int rf_h2_start(rf_engine *e, rf_conn *c) {
  rf_h2 *h = calloc(1, sizeof *h);
  nghttp2_session_callbacks *cb = callbacks();
  nghttp2_option *opt = NULL;
  int rc = h && cb && nghttp2_option_new(&opt) == 0 ? 0 : -1;
  if (rc == 0) {
    nghttp2_option_set_no_auto_window_update(opt, 1); /* consumption follows the sink */
    nghttp2_option_set_peer_max_concurrent_streams(opt, H2_DEFAULT_STREAMS);
    nghttp2_mem mem = {&e->smem, mem_malloc, mem_free, mem_calloc, mem_realloc}; /* copied */
    rc = nghttp2_session_client_new3(&h->ss, cb, h, opt, &mem);
  }
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cb);
  const nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_STREAM_WINDOW},
      {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
  };
  if (rc == 0)
    rc = nghttp2_submit_settings(h->ss, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]);
  if (rc == 0)
    rc = nghttp2_session_set_local_window_size(h->ss, NGHTTP2_FLAG_NONE, 0, H2_CONN_WINDOW);
  if (rc != 0) {
    if (h)
      nghttp2_session_del(h->ss);
    free(h);
    return -ENOMEM;
  }
  h->e = e;
  h->c = c;
  c->h2 = h;
  return 0;
}

void rf_h2_free(rf_conn *c) {
  rf_h2 *h = c->h2;
  if (!h)
    return;
  nghttp2_session_del(h->ss); /* calls no stream callbacks */
  while (h->streams) {
    rf_h2_stream *st = h->streams;
    h->streams = st->next;
    rf_smem_free(&h->e->smem, st);
  }
  free(h);
  c->h2 = NULL;
}

bool rf_h2_has_room(const rf_conn *c) {
  rf_h2 *h = c->h2;
  if (h->goaway || h->local_error || !nghttp2_session_check_request_allowed(h->ss))
    return false;
  /* before the server's SETTINGS, what this origin allowed last time (one
   * stream for a first connection: a round trip, not a pile of streams
   * nghttp2 would hold back) */
  uint32_t cap = h->settings_seen
                     ? nghttp2_session_get_remote_settings(h->ss, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS)
                     : (c->origin->h2_max_streams ? c->origin->h2_max_streams : 1);
  if (c->e->cfg.http2_streams && cap > c->e->cfg.http2_streams)
    cap = c->e->cfg.http2_streams;
  unsigned life = c->origin->h2_conn_streams; /* what a GOAWAY taught, 0 = no limit */
  return h->nstreams < cap && (!life || h->opened < life);
}

bool rf_h2_held(const rf_conn *c) { return c->h2->nheld > 0; }

uint64_t rf_h2_next_due_ms(const rf_conn *c) { return c->h2->due_ms; }

/* ---- sending ----------------------------------------------------------------------- */

static int out_flush(rf_engine *e, rf_conn *c) {
  rf_h2 *h = c->h2;
  size_t n = h->out_len;
  h->out_len = 0;
  return n ? rf_conn_write(e, c, h->out, n) : 0;
}

/* Everything nghttp2 has to send, in pieces of up to one TLS record (its
 * frames come out a few bytes at a time). Returns -1 when c failed. */
static int send_all(rf_engine *e, rf_conn *c) {
  rf_h2 *h = c->h2;
  for (;;) {
    const uint8_t *p;
    ssize_t n = nghttp2_session_mem_send(h->ss, &p);
    if (n < 0) {
      rf_conn_fail(e, c, RF_ERR_INTERNAL, "HTTP/2: %s", nghttp2_strerror((int)n));
      return -1;
    }
    if (n == 0)
      break;
    if (h->out_len + (size_t)n > H2_OUT && out_flush(e, c) < 0)
      return -1;
    if ((size_t)n >= H2_OUT) {
      if (rf_conn_write(e, c, p, (size_t)n) < 0)
        return -1;
      continue;
    }
    memcpy(h->out + h->out_len, p, (size_t)n);
    h->out_len += (size_t)n;
  }
  if (out_flush(e, c) < 0)
    return -1;
  rf_conn_flush(e, c);
  return 0;
}

/* What the connection does next, once nothing is on the stack: the end of
 * the session, idle in the pool when no stream is left, or room for more. */
static void settle(rf_engine *e, rf_conn *c) {
  rf_h2 *h = c->h2;
  if (c->state == C_CLOSING || c->state == C_FREE)
    return;
  if (h->local_error) {
    rf_conn_fail(e, c, RF_ERR_BAD_RESPONSE, "HTTP/2 protocol error from %s: %s", c->origin->host,
                 h->errmsg[0] ? h->errmsg : nghttp2_http2_strerror(h->local_error));
    return;
  }
  if (!nghttp2_session_want_read(h->ss) && !nghttp2_session_want_write(h->ss)) {
    rf_conn_fail(e, c, RF_ERR_CLOSED, "%s ended the HTTP/2 connection", c->origin->host);
    return;
  }
  bool more = !h->goaway && nghttp2_session_check_request_allowed(h->ss) && !c->single;
  if (c->state == C_BUSY && h->nstreams == 0) {
    if (more)
      rf_idle_add(e, c); /* may close it instead */
    else
      rf_conn_close(e, c);
    return;
  }
  if (c->state == C_IDLE && !more) {
    rf_conn_close(e, c);
    return;
  }
  rf_conn_pipe_update(e, c);
}

static void pump(rf_engine *e, rf_conn *c) {
  if (c->h2->busy || c->state == C_CLOSING)
    return;
  c->h2->busy++;
  int rc = send_all(e, c);
  if (c->h2)
    c->h2->busy--;
  if (rc == 0)
    settle(e, c);
}

void rf_h2_recv(rf_engine *e, rf_conn *c, const uint8_t *p, size_t n) {
  rf_h2 *h = c->h2;
  h->busy++;
  ssize_t rv = nghttp2_session_mem_recv(h->ss, p, n);
  h->busy--;
  if (c->state == C_CLOSING)
    return;
  if (rv < 0) {
    rf_conn_fail(e, c, RF_ERR_BAD_RESPONSE, "HTTP/2 from %s: %s", c->origin->host, nghttp2_strerror((int)rv));
    return;
  }
  pump(e, c); /* SETTINGS and PING acks, WINDOW_UPDATEs, resets */
}

/* ---- requests ------------------------------------------------------------------------ */

static ssize_t read_body(nghttp2_session *ss, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *ud) {
  rf_h2_stream *st = src->ptr;
  if (!st->slot) { /* the request ended early: its stream is being reset */
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return 0;
  }
  const rf_req *q = st->slot->req;
  size_t n = q->body_len - st->body_off;
  if (n > len)
    n = len;
  memcpy(buf, q->body + st->body_off, n);
  st->body_off += n;
  if (st->body_off == q->body_len)
    *flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)n;
}

static bool h2_forbidden(const char *name, size_t n, const char *value, size_t vn) {
  static const char *const conn_specific[] = {"host", "connection", "keep-alive", "proxy-connection",
                                              "transfer-encoding", "upgrade", NULL};
  for (int i = 0; conn_specific[i]; i++)
    if (strlen(conn_specific[i]) == n && memcmp(conn_specific[i], name, n) == 0)
      return true;
  return n == 2 && memcmp(name, "te", 2) == 0 && !(vn == 8 && memcmp(value, "trailers", 8) == 0);
}

static nghttp2_nv mknv(const char *n, size_t nl, const char *v, size_t vl) {
  return (nghttp2_nv){(uint8_t *)n, (uint8_t *)v, nl, vl, NGHTTP2_NV_FLAG_NONE};
}

/* The request head as HTTP/1.1 would send it (the same defaults, custom
 * headers, encoding of the target), rewritten in place into HTTP/2 fields:
 * the request line and Host become pseudo-headers, names go lower case, the
 * connection-specific fields go. nv gets pointers into head. */
static size_t head_to_nv(char *head, size_t len, bool https, nghttp2_nv *nv, size_t cap) {
  char *end = head + len, *sp1 = memchr(head, ' ', len);
  char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1)) : NULL;
  char *eol = sp2 ? memchr(sp2, '\r', (size_t)(end - sp2)) : NULL;
  if (!eol)
    return 0;
  size_t k = 4;
  nv[0] = mknv(":method", 7, head, (size_t)(sp1 - head));
  nv[1] = mknv(":scheme", 7, https ? "https" : "http", https ? 5 : 4);
  nv[3] = mknv(":path", 5, sp1 + 1, (size_t)(sp2 - sp1 - 1));
  nv[2].namelen = 0;
  for (char *p = eol + 2; p < end && *p != '\r' && k < cap;) {
    char *le = memchr(p, '\r', (size_t)(end - p)), *colon = memchr(p, ':', (size_t)(le - p));
    char *v = colon + 1;
    while (v < le && (*v == ' ' || *v == '\t'))
      v++;
    for (char *x = p; x < colon; x++)
      if (*x >= 'A' && *x <= 'Z')
        *x = (char)(*x + 32);
    size_t nl = (size_t)(colon - p), vl = (size_t)(le - v);
    if (nl == 4 && memcmp(p, "host", 4) == 0)
      nv[2] = mknv(":authority", 10, v, vl);
    else if (!h2_forbidden(p, nl, v, vl))
      nv[k++] = mknv(p, nl, v, vl);
    p = le + 2;
  }
  return nv[2].namelen ? k : 0;
}

/* Submits s's request; -1 when s failed (bad request, out of memory). */
static int submit(rf_engine *e, rf_conn *c, rf_slot *s, rf_h2_stream *st) {
  rf_req *q = s->req;
  const char *err = NULL;
  const uint8_t *head;
  long need = rf_conn_request_head(e, c, q, &head, &err);
  if (need < 0) {
    rf_slot_fail(e, s, need == -ENOMEM ? RF_ERR_INTERNAL : RF_ERR_BAD_REQUEST, "%s", err);
    return -1;
  }
  if (head != e->headbuf.p) { /* a prepared request's cached head: head_to_nv rewrites it */
    e->headbuf.len = 0;
    if (rf_buf_append(&e->headbuf, head, (size_t)need) < 0) {
      rf_slot_fail(e, s, RF_ERR_INTERNAL, "out of memory for the request");
      return -1;
    }
  }
  /* the fields on the stack when they fit (they do unless the request has
   * many custom fields): nghttp2 copies them and the head's bytes before
   * submit returns */
  nghttp2_nv nv_stack[32];
  size_t cap = q->n_hdrs + 12;
  bool many = cap > sizeof nv_stack / sizeof nv_stack[0];
  nghttp2_nv *nv = many ? malloc(sizeof *nv * cap) : nv_stack;
  int32_t id = -1;
  if (nv) {
    rf_capture_request(e, s, head, (size_t)need);
    size_t n = head_to_nv((char *)e->headbuf.p, (size_t)need, c->origin->scheme == RF_SCHEME_HTTPS, nv, cap);
    nghttp2_data_provider dp = {.source.ptr = st, .read_callback = read_body};
    id = n ? nghttp2_submit_request(c->h2->ss, NULL, nv, n, q->body_len ? &dp : NULL, st) : -2;
  }
  if (many)
    free(nv);
  if (id == -2) {
    rf_slot_fail(e, s, RF_ERR_BAD_REQUEST, "an HTTP/2 request needs a Host (:authority)");
    return -1;
  }
  if (id < 0) {
    rf_slot_fail(e, s, RF_ERR_INTERNAL, "cannot submit the HTTP/2 request: %s",
                 id == -1 ? "out of memory" : nghttp2_strerror(id));
    return -1;
  }
  st->id = id;
  return 0;
}

void rf_h2_submit(rf_engine *e, rf_conn *c, rf_slot *s) {
  rf_h2 *h = c->h2;
  rf_h2_stream *st = rf_smem_calloc(&e->smem, 1, sizeof *st);
  if (!st) {
    rf_slot_detach(e, s);
    rf_slot_fail(e, s, RF_ERR_INTERNAL, "out of memory for an HTTP/2 stream");
    return;
  }
  st->slot = s;
  s->h2s = st;
  st->view.hbuf = s->hbuf;
  st->view.hcap = e->cfg.max_header_bytes;
  st->view.hdrs = s->spans;
  st->view.hmax = e->cfg.max_headers;
  st->view.http_major = 2;
  st->view.head = s->req->head;
  st->view.lean = rf_req_lean(e, s->req);
  st->next = h->streams;
  if (h->streams)
    h->streams->prev = st;
  h->streams = st;
  h->nstreams++;
  h->opened++;
  h->busy++;
  int rc = submit(e, c, s, st);
  h->busy--;
  if (rc < 0) { /* s failed and left; nothing was queued for the stream */
    stream_unlink(h, st);
    pump(e, c);
    return;
  }
  rf_conn_sent(e, s);
  if (s->max_time_due_ms && (!h->due_ms || s->max_time_due_ms < h->due_ms)) {
    h->due_ms = s->max_time_due_ms;
    rf_conn_arm_timer(e, c);
  }
  stream_alive(h, st);
  if (!e->h2_batch) {
    pump(e, c);
    return;
  }
  rf_conn_pipe_update(e, c); /* full now? the next request looks elsewhere */
  if (!h->batched) {
    h->batched = true;
    h->batch_next = e->h2_batched;
    e->h2_batched = c;
  }
}

void rf_h2_flush_batch(rf_engine *e) {
  while (e->h2_batched) {
    rf_conn *c = e->h2_batched;
    rf_h2 *h = c->h2; /* a closing connection keeps its session until freed */
    e->h2_batched = h->batch_next;
    h->batched = false;
    h->batch_next = NULL;
    pump(e, c);
  }
}

void rf_h2_unhook(rf_engine *e, rf_conn *c, rf_slot *s) {
  rf_h2 *h = c->h2;
  rf_h2_stream *st = s->h2s;
  if (!st) {
    rf_slot_detach(e, s);
    return;
  }
  detach(h, st);
  if (st->id > 0)
    nghttp2_submit_rst_stream(h->ss, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
  pump(e, c);
}

void rf_h2_sink_drained(rf_engine *e, rf_conn *c, rf_slot *s) {
  rf_h2_stream *st = s->h2s;
  if (!st || !st->held)
    return;
  nghttp2_session_consume(c->h2->ss, st->id, st->held);
  st->held = 0;
  c->h2->nheld--;
  stream_alive(c->h2, st); /* the silence while the sink was full was ours */
  pump(e, c);
}

void rf_h2_fail_all(rf_engine *e, rf_conn *c, rf_error err, const char *msg) {
  rf_h2 *h = c->h2;
  h->busy++;
  for (rf_h2_stream *st = h->streams; st; st = st->next) {
    rf_slot *s = st->slot;
    if (!s)
      continue;
    detach(h, st);
    if (!st->got_bytes && (err == RF_ERR_CLOSED || err == RF_ERR_RESET))
      rf_outcome_unanswered(e, s, false, err, msg); /* never answered: it may go again */
    else
      rf_slot_fail(e, s, err, "%s", msg);
  }
  h->busy--;
}

/* The earlier of a and b, 0 = none. */
static uint64_t sooner(uint64_t a, uint64_t b) { return !a ? b : !b ? a : a < b ? a : b; }

/* Each stream's own deadlines: its request's max_time, and its read
 * timeout (nothing for it for that long, unless its own sink held it). */
void rf_h2_on_timer(rf_engine *e, rf_conn *c) {
  rf_h2 *h = c->h2;
  uint64_t next = 0;
  h->busy++;
  for (rf_h2_stream *st = h->streams; st; st = st->next) {
    rf_slot *s = st->slot;
    if (!s)
      continue;
    if (s->max_time_due_ms && e->now_ms >= s->max_time_due_ms) {
      rf_slot_fail(e, s, RF_ERR_TIMEOUT, "request to %s exceeded %u ms", c->origin->host,
                   s->req->max_time_ms ? s->req->max_time_ms : e->cfg.max_time_ms);
      continue;
    }
    if (st->rx_due_ms && e->now_ms >= st->rx_due_ms && !st->held) {
      rf_slot_fail(e, s, RF_ERR_READ_TIMEOUT, "no data from %s for this request for %u ms", c->origin->host,
                   rf_read_timeout_ms(e, s));
      continue;
    }
    next = sooner(next, s->max_time_due_ms);
    if (!st->held)
      next = sooner(next, st->rx_due_ms);
  }
  h->due_ms = next;
  h->busy--;
  pump(e, c);
}
