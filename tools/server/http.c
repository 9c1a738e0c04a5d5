/* The server's own HTTP/1.1: request heads parsed into a queue of what to
 * answer (query parameters choose the response, server.h), responses
 * written in pieces. Deliberately shares no code with the client's HTTP
 * (proto/, engine/), so that each checks the other. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* ---- small helpers ---------------------------------------------------------- */

static bool ieq(const char *a, size_t alen, const char *lit) {
  return alen == strlen(lit) && strncasecmp(a, lit, alen) == 0;
}

static bool parse_u64(const char *p, size_t n, uint64_t max, uint64_t *out) {
  if (n == 0 || n > 20)
    return false;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9')
      return false;
    unsigned d = (unsigned)(p[i] - '0');
    if (v > (UINT64_MAX - d) / 10)
      return false;
    v = v * 10 + d;
  }
  if (v > max)
    return false;
  *out = v;
  return true;
}

static bool parse_bool(const char *p, size_t n, bool *out) {
  if (ieq(p, n, "1") || ieq(p, n, "true") || ieq(p, n, "yes") || ieq(p, n, "on")) {
    *out = true;
    return true;
  }
  if (ieq(p, n, "0") || ieq(p, n, "false") || ieq(p, n, "no") || ieq(p, n, "off")) {
    *out = false;
    return true;
  }
  return false;
}

static const char *reason(unsigned st) {
  switch (st) {
  case 100: return "Continue";
  case 101: return "Switching Protocols";
  case 200: return "OK";
  case 201: return "Created";
  case 202: return "Accepted";
  case 204: return "No Content";
  case 206: return "Partial Content";
  case 301: return "Moved Permanently";
  case 302: return "Found";
  case 303: return "See Other";
  case 304: return "Not Modified";
  case 307: return "Temporary Redirect";
  case 308: return "Permanent Redirect";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 410: return "Gone";
  case 413: return "Content Too Large";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  default:
    return st < 200 ? "Informational" : st < 300 ? "Success" : st < 400 ? "Redirection"
           : st < 500 ? "Client Error" : "Server Error";
  }
}

/* 1xx, 204 and 304 carry neither a body nor a length. */
static bool status_has_body(unsigned st) { return st >= 200 && st != 204 && st != 304; }

/* ---- requests -------------------------------------------------------------------- */

/* Marks r as an error response that closes the connection; input after it
 * is ignored. */
static void bad_request(rf_server *s, conn *c, req *r, unsigned status, const char *text) {
  memset(r, 0, sizeof *r);
  r->due_us = s->now_us;
  r->status = (uint16_t)status;
  r->text = text;
  r->size = strlen(text);
  r->close = true;
  c->discard_input = true;
  c->body_left = 0;
}

/* One key=value of the query; false: a bad value. */
static bool query_param(rf_server *s, req *r, const char *k, size_t kl, const char *v, size_t vl) {
  uint64_t n;
  bool b;
  if (ieq(k, kl, "delay")) {
    if (!parse_u64(v, vl, MAX_DELAY_MS, &n))
      return false;
    r->due_us = s->now_us + n * 1000u;
  } else if (ieq(k, kl, "size")) {
    if (!parse_u64(v, vl, MAX_SIZE, &n))
      return false;
    r->size = n;
    r->text = NULL;
  } else if (ieq(k, kl, "chunked")) {
    if (!parse_bool(v, vl, &b))
      return false;
    r->chunked = b;
  } else if (ieq(k, kl, "status")) {
    if (!parse_u64(v, vl, 999, &n) || n < 100)
      return false;
    r->status = (uint16_t)n;
  } else if (ieq(k, kl, "close")) {
    if (!parse_bool(v, vl, &b))
      return false;
    r->close = r->close || b;
  } else if (ieq(k, kl, "fault")) {
    int f = srv_fault_named(v, vl);
    if (f < 0)
      return false;
    r->fault = (uint8_t)f;
  }
  return true;
}

static bool parse_query(rf_server *s, req *r, const char *t, const char *tend) {
  const char *q = memchr(t, '?', (size_t)(tend - t));
  if (!q)
    return true;
  const char *hash = memchr(q, '#', (size_t)(tend - q));
  if (hash)
    tend = hash;
  for (q++; q < tend;) {
    const char *amp = memchr(q, '&', (size_t)(tend - q));
    if (!amp)
      amp = tend;
    const char *eq = memchr(q, '=', (size_t)(amp - q));
    const char *v = eq ? eq + 1 : amp;
    if (!query_param(s, r, q, (size_t)((eq ? eq : amp) - q), v, (size_t)(amp - v)))
      return false;
    q = amp + 1;
  }
  return true;
}

/* Does the comma-separated header value contain the token? */
static bool has_token(const char *v, size_t n, const char *tok) {
  size_t i = 0;
  while (i < n) {
    while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
      i++;
    size_t j = i;
    while (j < n && v[j] != ',')
      j++;
    size_t e = j;
    while (e > i && (v[e - 1] == ' ' || v[e - 1] == '\t'))
      e--;
    if (ieq(v + i, e - i, tok))
      return true;
    i = j;
  }
  return false;
}

/* What the header fields say about framing and the connection. */
typedef struct fields {
  uint64_t clen;
  bool have_clen, conn_close, conn_ka, expect;
} fields;

/* One field line (without its line end); false: bad_request was made. */
static bool parse_field(rf_server *s, conn *c, req *r, fields *f, const char *line, const char *lend) {
  const char *colon = memchr(line, ':', (size_t)(lend - line));
  if (!colon || colon == line) {
    bad_request(s, c, r, 400, "malformed header line\n");
    return false;
  }
  const char *val = colon + 1, *vend = lend;
  while (val < vend && (*val == ' ' || *val == '\t'))
    val++;
  while (vend > val && (vend[-1] == ' ' || vend[-1] == '\t'))
    vend--;
  size_t nl_len = (size_t)(colon - line), vl = (size_t)(vend - val);
  if (ieq(line, nl_len, "content-length")) {
    uint64_t n;
    if (!parse_u64(val, vl, UINT64_MAX, &n) || (f->have_clen && n != f->clen)) {
      bad_request(s, c, r, 400, "bad Content-Length\n");
      return false;
    }
    f->clen = n;
    f->have_clen = true;
  } else if (ieq(line, nl_len, "transfer-encoding")) {
    bad_request(s, c, r, 501, "request bodies must have a Content-Length\n");
    return false;
  } else if (ieq(line, nl_len, "expect")) {
    f->expect = true;
  } else if (ieq(line, nl_len, "connection")) {
    f->conn_close = f->conn_close || has_token(val, vl, "close");
    f->conn_ka = f->conn_ka || has_token(val, vl, "keep-alive");
  }
  return true;
}

/* The field lines from line to end (through the blank line); false: bad. */
static bool parse_fields(rf_server *s, conn *c, req *r, fields *f, const char *line, const char *end) {
  while (line < end) {
    const char *nl = memchr(line, '\n', (size_t)(end - line));
    if (!nl)
      break;
    const char *lend = nl;
    if (lend > line && lend[-1] == '\r')
      lend--;
    if (lend == line)
      break; /* the blank line */
    if (!parse_field(s, c, r, f, line, lend))
      return false;
    line = nl + 1;
  }
  return true;
}

/* "METHOD TARGET VERSION": the target's span and the version; false: bad. */
static bool request_line(rf_server *s, conn *c, req *r, const char *h, const char *le,
                         const char **t, const char **tend, bool *http10) {
  const char *sp1 = memchr(h, ' ', (size_t)(le - h));
  *t = sp1 ? sp1 + 1 : NULL;
  const char *sp2 = *t ? memchr(*t, ' ', (size_t)(le - *t)) : NULL;
  if (!sp1 || sp1 == h || !sp2 || sp2 == *t) {
    bad_request(s, c, r, 400, "malformed request line\n");
    return false;
  }
  *tend = sp2;
  const char *v = sp2 + 1;
  if (ieq(v, (size_t)(le - v), "HTTP/1.1"))
    *http10 = false;
  else if (ieq(v, (size_t)(le - v), "HTTP/1.0"))
    *http10 = true;
  else {
    bad_request(s, c, r, 400, "unsupported HTTP version\n");
    return false;
  }
  r->head = sp1 - h == 4 && memcmp(h, "HEAD", 4) == 0;
  return true;
}

/* Parses one request head (complete, through its blank line) into a new
 * queue entry. */
static void parse_head(rf_server *s, conn *c, const char *h, size_t len) {
  req *r = &c->q[(c->qhead + c->qn) % REQ_QUEUE];
  c->qn++;
  memset(r, 0, sizeof *r);
  r->status = 200;
  r->text = "ok\n";
  r->size = 3;
  r->due_us = s->now_us + (uint64_t)s->opts.delay_ms * 1000u;

  const char *eol = memchr(h, '\n', len);
  const char *le = eol;
  if (le > h && le[-1] == '\r')
    le--;
  const char *t, *tend;
  bool http10;
  fields f = {0};
  if (!request_line(s, c, r, h, le, &t, &tend, &http10) || !parse_fields(s, c, r, &f, eol + 1, h + len))
    return;
  if (!parse_query(s, r, t, tend)) {
    bad_request(s, c, r, 400, "bad query parameter\n");
    return;
  }
  /* No 100 Continue is sent: a client that waits for one may never send
   * its body, so the connection cannot carry another request after it. */
  bool keep = (http10 ? f.conn_ka && !f.conn_close : !f.conn_close) && !(f.expect && f.clen > 0);
  r->close = r->close || !keep;
  r->ka10 = http10 && !r->close;
  srv_fault_on_request(r);
  if (!status_has_body(r->status))
    r->chunked = false;
  c->body_left = f.clen;
}

/* Length of the head through its blank line, or 0 if it is not complete. */
static size_t head_end(const uint8_t *p, size_t n) {
  const uint8_t *end = p + n, *q = p;
  while (q < end && (q = memchr(q, '\n', (size_t)(end - q))) != NULL) {
    q++;
    if (q < end && q[0] == '\n')
      return (size_t)(q + 1 - p);
    if (q + 1 < end && q[0] == '\r' && q[1] == '\n')
      return (size_t)(q + 2 - p);
  }
  return 0;
}

/* Parses requests from p; returns the bytes consumed. Stops at an
 * incomplete head or a full queue (c->stalled). */
static size_t parse(rf_server *s, conn *c, const uint8_t *p, size_t n) {
  size_t off = 0;
  c->stalled = false;
  while (off < n && !c->discard_input) {
    if (c->body_left) {
      size_t k = n - off < c->body_left ? n - off : (size_t)c->body_left;
      off += k;
      c->body_left -= k;
      continue;
    }
    if (p[off] == '\r' || p[off] == '\n') { /* empty lines between requests */
      off++;
      continue;
    }
    if (c->qn >= REQ_QUEUE) {
      c->stalled = true;
      break;
    }
    size_t hl = head_end(p + off, n - off);
    if (hl == 0 && n - off <= HEAD_MAX)
      break;
    if (hl == 0 || hl > HEAD_MAX) {
      req *r = &c->q[(c->qhead + c->qn) % REQ_QUEUE];
      c->qn++;
      bad_request(s, c, r, 431, "request head too large\n");
      return n;
    }
    parse_head(s, c, (const char *)p + off, hl);
    off += hl;
  }
  return c->discard_input ? n : off;
}

/* Parses what is buffered (after the queue had been full). */
static void reparse(rf_server *s, conn *c) {
  size_t used = parse(s, c, c->rb.p, c->rb.len);
  c->rb.len -= used;
  if (c->rb.len)
    memmove(c->rb.p, c->rb.p + used, c->rb.len);
}

void srv_on_plain(rf_server *s, conn *c, const uint8_t *p, size_t n) {
  if (c->discard_input)
    return;
  if (c->rb.len == 0) {
    size_t used = parse(s, c, p, n);
    if (used < n && rf_buf_append(&c->rb, p + used, n - used) < 0)
      srv_conn_close(s, c, false);
    return;
  }
  if (rf_buf_append(&c->rb, p, n) < 0) {
    srv_conn_close(s, c, false);
    return;
  }
  reparse(s, c);
}

void srv_on_eof(rf_server *s, conn *c) {
  c->peer_eof = true;
  if (c->phase == P_NEVER)
    srv_conn_close(s, c, false);
  else if (c->phase == P_IDLE && c->qn == 0)
    c->close_when_drained = true; /* after what is still going out */
  /* else the requests read so far are still answered (response_done) */
}

/* ---- responses ----------------------------------------------------------------------- */

void srv_start_next(rf_server *s, conn *c) {
  if ((c->phase != P_IDLE && c->phase != P_WAIT) || c->state != C_OPEN || c->qn == 0 ||
      c->close_when_drained || c->reset_when_drained)
    return;
  req *r = &c->q[c->qhead];
  if (r->due_us > s->now_us) {
    c->phase = P_WAIT;
    srv_timer_set(s, c, r->due_us);
    return;
  }
  srv_timer_clear(s, c);
  c->off = 0;
  srv_fault_start(c, r);
}

void srv_response_done(rf_server *s, conn *c) {
  req *r = &c->q[c->qhead];
  atomic_fetch_add_explicit(&s->nreq, 1, memory_order_relaxed);
  bool reset = srv_fault_resets(r);
  bool close = r->close || srv_fault_closes(r);
  c->qhead = (uint8_t)((c->qhead + 1) % REQ_QUEUE);
  c->qn--;
  c->phase = P_IDLE;
  if (reset) {
    c->reset_when_drained = true;
    return;
  }
  if (close) {
    c->close_when_drained = true;
    return;
  }
  if (c->stalled && c->rb.len)
    reparse(s, c);
  if (c->qn == 0 && (c->peer_eof || c->discard_input))
    c->close_when_drained = true;
  else
    srv_start_next(s, c);
}

void srv_body_copy(rf_server *s, const req *r, uint64_t off, uint8_t *dst, size_t n) {
  if (r->text)
    memcpy(dst, r->text + off, n);
  else
    memcpy(dst, s->pattern + off % 26, n); /* n <= 64 KiB */
}

/* Status line and headers, without the blank line. cap >= 1024. */
static size_t write_head(const req *r, char *p, size_t cap) {
  size_t len = srv_fault_status_line(r, p, cap);
  if (!len)
    len = (size_t)snprintf(p, cap, "HTTP/1.1 %u %s\r\n", r->status, reason(r->status));
  int n;
  if (status_has_body(r->status)) {
    if (r->chunked)
      n = snprintf(p + len, cap - len, "Transfer-Encoding: chunked\r\n");
    else
      n = snprintf(p + len, cap - len, "Content-Length: %llu\r\n",
                   (unsigned long long)srv_fault_length(r));
    len += (size_t)n;
  }
  n = snprintf(p + len, cap - len, "Content-Type: text/plain\r\n%s",
               r->close ? "Connection: close\r\n" : r->ka10 ? "Connection: keep-alive\r\n" : "");
  return len + (size_t)n;
}

/* After the blank line: the body, the drip timer, or nothing. */
static void after_head(rf_server *s, conn *c, const req *r) {
  if (r->head || !status_has_body(r->status))
    c->phase = P_DONE;
  else if (!srv_fault_drip_start(s, c, r))
    c->phase = P_BODY;
}

/* As much of the body as fits, chunked or not. */
static uint8_t *body_pieces(rf_server *s, conn *c, const req *r, uint8_t *p, uint8_t *end) {
  while (c->off < c->limit) {
    size_t room = (size_t)(end - p);
    uint64_t left = c->limit - c->off;
    size_t k;
    if (r->chunked) {
      if (room < 64)
        break;
      k = room - 32 < CHUNK_MAX ? room - 32 : CHUNK_MAX;
      if (left < k)
        k = (size_t)left;
      p += snprintf((char *)p, 32, "%zx\r\n", k);
    } else {
      if (room == 0)
        break;
      k = left < room ? (size_t)left : room;
    }
    srv_body_copy(s, r, c->off, p, k);
    p += k;
    c->off += k;
    if (r->chunked) {
      memcpy(p, "\r\n", 2);
      p += 2;
    }
  }
  return p;
}

static uint8_t *write_body(rf_server *s, conn *c, const req *r, uint8_t *p, uint8_t *end) {
  uint8_t *q = srv_fault_body(s, c, r, p, end);
  if (q && c->phase != P_BODY)
    return q; /* a bad chunk written, or a drip waiting */
  if (!q) {
    q = body_pieces(s, c, r, p, end);
    if (c->off < c->limit)
      return q;
  }
  if (r->chunked && !srv_fault_resets(r)) {
    if (end - q < 5)
      return q; /* the last chunk goes in the next step */
    memcpy(q, "0\r\n\r\n", 5);
    q += 5;
  }
  c->phase = P_DONE;
  return q;
}

/* Writes the next part of the current response to dst (cap >= 2 KiB);
 * returns its length. Each call writes something or moves the phase on. */
static size_t produce(rf_server *s, conn *c, uint8_t *dst, size_t cap) {
  req *r = &c->q[c->qhead];
  uint8_t *p = dst, *end = dst + cap;
  if (c->phase == P_HEAD) {
    p += write_head(r, (char *)p, cap);
    if (!srv_fault_fill_start(c, r)) {
      memcpy(p, "\r\n", 2);
      p += 2;
      after_head(s, c, r);
    }
  }
  if (c->phase == P_FILL) {
    p = srv_fault_fill(c, p, end);
    if (c->fill_left == 0) {
      memcpy(p, "\r\n", 2);
      p += 2;
      after_head(s, c, r);
    }
  }
  if (c->phase == P_BODY)
    p = write_body(s, c, r, p, end);
  return (size_t)(p - dst);
}

bool srv_zero_copy_ok(const conn *c) {
  const req *r = &c->q[c->qhead];
  return c->phase == P_BODY && !c->tls && !r->text && !r->chunked && srv_fault_plain_body(r) &&
         c->off < c->limit && c->out[c->fill].len == 0;
}

bool srv_produce_step(rf_server *s, conn *c) {
  if (c->tls) {
    size_t n = produce(s, c, s->scratch, STEP_TLS);
    return n == 0 || srv_tls_write(c, s->scratch, n);
  }
  /* via the scratch buffer, so the output buffer is as small as the
   * response (usually ~100 bytes); large bodies bypass it (zero_copy_ok) */
  size_t n = produce(s, c, s->scratch, STEP_PLAIN);
  return n == 0 || rf_buf_append(&c->out[c->fill], s->scratch, n) == 0;
}
