/* HTTP/1.1 response parsing: llhttp 8.1 plus the fixes it lacks. */
#include "proto/response.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define RESP(p) ((rf_resp *)((char *)(p) - offsetof(rf_resp, llh)))

static int set_err(rf_resp *r, int kind, const char *msg) {
  if (!r->err) {
    r->err = kind;
    r->errmsg = msg;
  }
  return -1;
}

static int store(rf_resp *r, const char *at, size_t n) {
  if (n > r->hcap - r->hlen)
    return set_err(r, RF_RESP_E_TOO_LARGE,
                   r->headers_done ? "response headers and trailers larger than the limit"
                                   : "response headers larger than the limit");
  memcpy(r->hbuf + r->hlen, at, n);
  r->hlen += (uint32_t)n;
  return 0;
}

static int on_message_begin(llhttp_t *p) {
  rf_resp *r = RESP(p);
  r->started = true;
  r->phase = RF_RESP_PH_HEAD;
  return 0;
}

static int on_status(llhttp_t *p, const char *at, size_t n) {
  rf_resp *r = RESP(p);
  if (r->reason_len == 0)
    r->reason_off = r->hlen;
  if (store(r, at, n))
    return -1;
  r->reason_len += (uint32_t)n;
  return 0;
}

/* Header and trailer fields: the entry being filled is hdrs[nh + nt]; it
 * counts as a header before the head is complete, as a trailer after. */
static int on_header_field(llhttp_t *p, const char *at, size_t n) {
  rf_resp *r = RESP(p);
  uint32_t i = r->nh + r->nt;
  if (!r->hdr_open) {
    if (i >= r->hmax)
      return set_err(r, RF_RESP_E_TOO_LARGE,
                     r->headers_done ? "too many response headers and trailers"
                                     : "too many response headers");
    rf_hspan *h = &r->hdrs[i];
    h->name_off = r->hlen;
    h->name_len = 0;
    h->value_off = 0;
    h->value_len = 0;
    r->hdr_open = true;
  }
  if (store(r, at, n))
    return -1;
  r->hdrs[i].name_len += (uint32_t)n;
  return 0;
}

static int on_header_field_complete(llhttp_t *p) {
  rf_resp *r = RESP(p);
  if (r->hdr_open)
    r->hdrs[r->nh + r->nt].value_off = r->hlen; /* empty values get no value callback */
  return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n) {
  rf_resp *r = RESP(p);
  if (store(r, at, n))
    return -1;
  if (r->hdr_open)
    r->hdrs[r->nh + r->nt].value_len += (uint32_t)n;
  return 0;
}

static int on_header_value_complete(llhttp_t *p) {
  rf_resp *r = RESP(p);
  if (r->hdr_open) {
    /* llhttp keeps trailing whitespace of a value; drop it */
    rf_hspan *h = &r->hdrs[r->nh + r->nt];
    while (h->value_len && (r->hbuf[h->value_off + h->value_len - 1] == ' ' ||
                            r->hbuf[h->value_off + h->value_len - 1] == '\t'))
      h->value_len--;
    if (r->headers_done)
      r->nt++;
    else
      r->nh++;
    r->hdr_open = false;
  }
  return 0;
}

static int on_headers_complete(llhttp_t *p) {
  rf_resp *r = RESP(p);
  int status = llhttp_get_status_code(p);
  if (status < 100 || status > 999) {
    set_err(r, RF_RESP_E_BAD, "invalid status code");
    return -1;
  }
  if (status == 101) {
    set_err(r, RF_RESP_E_BAD, "unexpected 101 Switching Protocols");
    return -1;
  }
  if (status < 200)
    return 1; /* interim: no body, the final response follows */
  r->status = status;
  r->http_major = llhttp_get_http_major(p);
  r->http_minor = llhttp_get_http_minor(p);
  r->chunked = (p->flags & F_CHUNKED) != 0;
  r->headers_done = true;
  if (r->on_headers && r->on_headers(r->ud, r) != 0) {
    set_err(r, RF_RESP_E_ABORT, "aborted by the headers callback");
    return -1;
  }
  /* llhttp 8.1 honours Content-Length on 204/304; these never have a body */
  if (r->head || status == 204 || status == 304)
    return 1;
  /* What llhttp does next (llhttp__after_headers_complete): F_CHUNKED wins
   * over everything; otherwise a Content-Length body (complete at once when
   * 0) or a body read until the connection closes. Lenient mode stops
   * llhttp before chunk framing (see "lenient line endings" below). */
  if (r->chunked) {
    r->phase = RF_RESP_PH_CHUNK_SIZE;
    return r->strict ? 0 : HPE_PAUSED;
  }
  r->phase = RF_RESP_PH_BODY;
  return 0;
}

static int on_chunk_header(llhttp_t *p) {
  rf_resp *r = RESP(p);
  r->phase = p->content_length ? RF_RESP_PH_CHUNK_DATA : RF_RESP_PH_TRAILER;
  return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n) {
  rf_resp *r = RESP(p);
  /* llhttp zeroes content_length before it reports the last span of a chunk */
  if (r->phase == RF_RESP_PH_CHUNK_DATA && p->content_length == 0)
    r->phase = RF_RESP_PH_CHUNK_END;
  r->body_bytes += n;
  if (r->on_body && r->on_body(r->ud, at, n) != 0)
    return set_err(r, RF_RESP_E_ABORT, "aborted by the body callback");
  return 0;
}

static int on_chunk_complete(llhttp_t *p) {
  rf_resp *r = RESP(p);
  if (r->phase == RF_RESP_PH_CHUNK_END) /* not after the trailers */
    r->phase = RF_RESP_PH_CHUNK_SIZE;
  return 0;
}

static int on_message_complete(llhttp_t *p) {
  rf_resp *r = RESP(p);
  if (!r->headers_done) {
    /* interim 1xx finished: forget its headers, keep parsing */
    r->hlen = 0;
    r->nh = r->nt = r->lean_fields = 0;
    r->reason_off = r->reason_len = 0;
    r->hdr_open = false;
    /* llhttp 8.1 drops every byte after a message that does not keep the
     * connection (its "closed" state): then the final response never comes
     * (RF_RESP_E_CLOSED at EOF), and the scanner must not read those bytes
     * as a head either */
    r->phase = llhttp_should_keep_alive(p) ? RF_RESP_PH_HEAD : RF_RESP_PH_BODY;
    return r->strict ? 0 : HPE_PAUSED; /* lenient: the next head is scanned */
  }
  r->done = true;
  return HPE_PAUSED; /* stop exactly at the message boundary */
}

/* Lean mode (rf_resp_set_lean): header and trailer fields count against the
 * same limits, byte for byte and field for field, but only the head's
 * Transfer-Encoding fields are kept (the body's transfer codings depend on
 * them); every other field is counted, not copied or indexed. A name is
 * copied only while it still matches "transfer-encoding" (most names fail
 * at their first byte), so a kept field sits where full mode puts it. */
static const char te_name[] = "transfer-encoding";
#define TE_LEN ((int)sizeof te_name - 1)

static int lean_count(rf_resp *r, const char *at, size_t n) {
  if (n > r->hcap - r->hlen)
    return store(r, at, n); /* the limit's error, as when copying */
  r->hlen += (uint32_t)n;
  return 0;
}

static int lean_field(llhttp_t *p, const char *at, size_t n) {
  rf_resp *r = RESP(p);
  if (!r->hdr_open) {
    if (r->lean_fields >= r->hmax)
      return set_err(r, RF_RESP_E_TOO_LARGE,
                     r->headers_done ? "too many response headers and trailers"
                                     : "too many response headers");
    r->lean_fields++;
    r->hdr_open = true;
    r->te_match = r->headers_done ? -1 : 0; /* no trailer is kept */
    if (r->te_match == 0)
      r->hdrs[r->nh].name_off = r->hlen; /* nh < lean_fields <= hmax */
  }
  if (r->te_match >= 0 && (size_t)(TE_LEN - r->te_match) >= n) {
    /* a name is a token: OR 0x20 lowers its letters and keeps '-' (no call
     * into the C library for what fails at the first byte) */
    size_t i = 0;
    while (i < n && (at[i] | 0x20) == te_name[r->te_match + (int)i])
      i++;
    if (i == n) {
      r->te_match = (int8_t)(r->te_match + (int)n);
      return store(r, at, n);
    }
  }
  r->te_match = -1;
  return lean_count(r, at, n);
}

static int lean_field_complete(llhttp_t *p) {
  rf_resp *r = RESP(p);
  if (r->te_match == TE_LEN) { /* kept: fill its entry as on_header_field does */
    rf_hspan *h = &r->hdrs[r->nh];
    h->name_len = (uint32_t)TE_LEN;
    h->value_off = r->hlen;
    h->value_len = 0;
  } else {
    r->te_match = -1;
  }
  return 0;
}

static int lean_value(llhttp_t *p, const char *at, size_t n) {
  rf_resp *r = RESP(p);
  if (r->te_match != TE_LEN)
    return lean_count(r, at, n);
  if (store(r, at, n))
    return -1;
  r->hdrs[r->nh].value_len += (uint32_t)n;
  return 0;
}

static int lean_value_complete(llhttp_t *p) {
  rf_resp *r = RESP(p);
  if (r->te_match == TE_LEN) {
    r->te_match = -1;
    return on_header_value_complete(p); /* trims and counts the entry */
  }
  r->hdr_open = false;
  return 0;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
    .on_chunk_header = on_chunk_header,
    .on_chunk_complete = on_chunk_complete,
};

static const llhttp_settings_t lean_settings = {
    .on_message_begin = on_message_begin,
    .on_status = on_status,
    .on_header_field = lean_field,
    .on_header_field_complete = lean_field_complete,
    .on_header_value = lean_value,
    .on_header_value_complete = lean_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
    .on_chunk_header = on_chunk_header,
    .on_chunk_complete = on_chunk_complete,
};

void rf_resp_init(rf_resp *r, char *hbuf, uint32_t hcap, rf_hspan *hdrs, uint32_t hmax,
                  rf_resp_headers_cb on_headers, rf_resp_body_cb on_body_cb, void *ud) {
  memset(r, 0, sizeof *r);
  llhttp_init(&r->llh, HTTP_RESPONSE, &settings);
  r->hbuf = hbuf;
  r->hcap = hcap;
  r->hdrs = hdrs;
  r->hmax = hmax;
  r->on_headers = on_headers;
  r->on_body = on_body_cb;
  r->ud = ud;
}

void rf_resp_expect(rf_resp *r, bool head, char *hbuf, uint32_t hcap, rf_hspan *hdrs, uint32_t hmax) {
  if (hbuf) {
    r->hbuf = hbuf;
    r->hcap = hcap;
  }
  if (hdrs) {
    r->hdrs = hdrs;
    r->hmax = hmax;
  }
  /* after a response that does not keep the connection llhttp 8.1 drops
   * whatever follows (see on_message_complete): no head to scan */
  bool closed = r->done && !r->err && !rf_resp_keep_alive(r);
  /* llhttp never saw a response the fast path read: what it would drop
   * after one that closes (for good), is dropped here */
  if (closed && r->fast)
    r->fast_drop = true;
  if (r->err)
    llhttp_reset(&r->llh); /* llhttp errors are sticky */
  r->hlen = r->nh = r->nt = r->lean_fields = 0;
  r->reason_off = r->reason_len = 0;
  r->status = 0;
  r->http_major = r->http_minor = 0;
  r->head = head;
  r->started = r->headers_done = r->done = r->hdr_open = r->chunked = r->fast = false;
  r->fast_left = 0;
  r->body_bytes = 0;
  r->phase = closed ? RF_RESP_PH_BODY : RF_RESP_PH_HEAD;
  r->line_len = 0;
  r->last_cr = false;
  r->head_line = false;
  r->ce = 0;
  r->err = 0;
  r->errmsg = NULL;
}

void rf_resp_set_lean(rf_resp *r, bool lean) {
  r->lean = lean;
  r->llh.settings = (void *)(lean ? &lean_settings : &settings);
}

void rf_resp_set_strict(rf_resp *r, bool strict) {
  r->strict = strict;
}

static int fail_llhttp(rf_resp *r, llhttp_errno_t e) {
  if (r->err)
    return r->err; /* a callback already said why */
  r->err = RF_RESP_E_BAD;
  const char *what;
  switch (e) {
  case HPE_INVALID_VERSION: what = "invalid HTTP version"; break;
  case HPE_INVALID_STATUS: what = "invalid status line"; break;
  case HPE_INVALID_HEADER_TOKEN: what = "invalid header"; break;
  case HPE_INVALID_CONTENT_LENGTH:
  case HPE_UNEXPECTED_CONTENT_LENGTH: what = "bad Content-Length"; break;
  case HPE_INVALID_CHUNK_SIZE: what = "invalid chunk size"; break;
  case HPE_INVALID_TRANSFER_ENCODING: what = "invalid Transfer-Encoding"; break;
  case HPE_INVALID_CONSTANT: what = "not an HTTP response"; break;
  case HPE_PAUSED_UPGRADE: what = "unexpected protocol upgrade"; break;
  default: what = "malformed HTTP response"; break;
  }
  /* llhttp's reason says exactly what it saw ("Duplicate Content-Length") */
  const char *why = llhttp_get_error_reason(&r->llh);
  if (why && *why)
    snprintf(r->errbuf, sizeof r->errbuf, "%s (%s)", what, why);
  else
    snprintf(r->errbuf, sizeof r->errbuf, "%s", what);
  r->errmsg = r->errbuf;
  return r->err;
}

/* ---- lenient line endings ------------------------------------------------
 *
 * llhttp 8.1 wants CRLF after a header line and a chunk-size line (a bare LF
 * there is HPE_INVALID_HEADER_TOKEN / HPE_INVALID_CHUNK_SIZE), and eats any
 * two bytes after chunk data. Rather than relax llhttp (its lenient-headers
 * flag relaxes much more), the input is executed in segments and, where a
 * bare LF ends a framing line, a one-byte "\r" is executed right before the
 * LF. Nothing is copied; `consumed` counts input bytes only.
 *
 * A scanner walks the input ahead of llhttp, in the phase llhttp's callbacks
 * left it in (r->phase):
 *   HEAD      lines are looked at for their CR and LF only. At the
 *             empty line ending the head, llhttp takes the rest of the input
 *             at once: a Content-Length or close-delimited body, or a
 *             response without body, goes through untouched; llhttp pauses
 *             (on_headers_complete, on_message_complete) before chunk
 *             framing and after an interim 1xx response, and the scanner
 *             goes on from there.
 *   BODY      (Content-Length or until close, and whatever llhttp drops
 *             after a response that closes the connection) never looked at:
 *             rf_resp_feed hands it to llhttp as in strict mode (and so an
 *             input that is all chunk data); llhttp pauses at the message
 *             end.
 *   CHUNK_SIZE the size is read as llhttp reads it (hex digits, then ';' or
 *             the line end), so the scanner knows where the data ends
 *             without executing; a line it cannot read that way is executed
 *             up to its LF and llhttp says.
 *   CHUNK_DATA skipped by its length, never looked at.
 *   CHUNK_END must be CRLF or LF.
 *   TRAILER   lines as in HEAD; the empty line ends the message.
 * A CRLF-only response is thus executed in the pieces it was fed in, cut
 * once more where a chunked head ends and after an interim response: the
 * callbacks are the same. Before a "\r" is inserted, everything up to the LF
 * has been executed and the phase llhttp's callbacks report must be the one
 * the scanner expects there; any disagreement (and, after a feed, a chunk
 * data count that differs from llhttp's) stops the parse (MSG_LOST) rather
 * than risk touching body bytes.
 *
 * A bare CR (not followed by LF) in a framing line is an error here: llhttp
 * 8.1 would eat the byte after a CR that ends the status line, an empty
 * header value, the head, a chunk-size line or chunk data, whatever it is,
 * which is ambiguous (and would end lines where the scanner sees none). */

static const char cr_byte[1] = {'\r'};

#define MSG_LOST "internal error: lost track of the response framing"
#define MSG_BARE_CR "malformed HTTP response (CR not followed by LF)"
#define RUN_PAUSED 2 /* run(): llhttp paused before chunk framing or after a 1xx */

/* Executes p[0..n). `at` is where those bytes stand in the input (for the
 * inserted CR: the LF it precedes). Returns 0 to go on, RUN_PAUSED with
 * *resume set, else what rf_resp_feed returns (with *consumed set). */
/* llhttp_execute over input (not the inserted CR) stopped: the end of the
 * message, or an error. */
static int run_failed(rf_resp *r, const char *data, size_t *consumed) {
  llhttp_errno_t e = llhttp_get_errno(&r->llh);
  if (e != HPE_PAUSED)
    return fail_llhttp(r, e);
  const char *ep = llhttp_get_error_pos(&r->llh);
  llhttp_resume(&r->llh);
  if (!r->done) { /* paused where the scanner saw no end of head */
    set_err(r, RF_RESP_E_BAD, MSG_LOST);
    return r->err;
  }
  *consumed = (size_t)(ep - data);
  return RF_RESP_DONE;
}

static int run(rf_resp *r, const char *data, const char *at, const char *p, size_t n,
               size_t *consumed, const char **resume) {
  if (n == 0)
    return 0;
  llhttp_errno_t e = llhttp_execute(&r->llh, p, n);
  if (e == HPE_OK)
    return 0;
  if (e == HPE_PAUSED) {
    const char *ep = p == cr_byte ? at : llhttp_get_error_pos(&r->llh);
    llhttp_resume(&r->llh);
    if (r->done) {
      *consumed = (size_t)(ep - data);
      return RF_RESP_DONE;
    }
    if (resume) {
      *resume = ep;
      return RUN_PAUSED;
    }
    set_err(r, RF_RESP_E_BAD, MSG_LOST); /* paused where the scanner saw no end of head */
    return r->err;
  }
  return fail_llhttp(r, e);
}

/* Does llhttp stand where the scanner thinks (phase, and the chunk data left)? */
static bool on_track(const rf_resp *r, int ph, uint64_t left) {
  return r->phase == ph && (ph != RF_RESP_PH_CHUNK_DATA || r->llh.content_length == left);
}

/* Executes [seg, lf), then a CR, so that llhttp reads the bare LF at lf as
 * CRLF. The phase after [seg, lf) must be the expected framing phase. */
static int insert_cr(rf_resp *r, const char *data, const char *seg, const char *lf, int ph,
                     size_t *consumed) {
  int rc = run(r, data, seg, seg, (size_t)(lf - seg), consumed, NULL);
  if (rc)
    return rc;
  if (!on_track(r, ph, 0)) {
    set_err(r, RF_RESP_E_BAD, MSG_LOST);
    return r->err;
  }
  return run(r, data, lf, cr_byte, 1, consumed, NULL);
}

/* A framing error found by the scanner at `at`: what llhttp makes of
 * [seg, at) comes first (an earlier error keeps its own message). */
static int fail_at(rf_resp *r, const char *data, const char *seg, const char *at,
                   const char *msg, size_t *consumed) {
  int rc = run(r, data, seg, seg, (size_t)(at - seg), consumed, NULL);
  if (rc)
    return rc;
  set_err(r, RF_RESP_E_BAD, msg);
  return r->err;
}

/* hex digit values as llhttp reads a chunk size, plus 1 (0: not a digit) */
static const int8_t hexval[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,
    ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14,
    ['e'] = 15, ['f'] = 16, ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15,
    ['F'] = 16,
};
#define HEX(c) (hexval[(unsigned char)(c)] - 1)

/* GCC 12 at -O3 threads the jumps between feed_lenient's cases (with these
 * helpers inlined) and then warns that its seg and q "may be used
 * uninitialized" although both are set where they are declared: a false
 * positive, silenced from here to the end of feed_lenient. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
/* Reads hex digits from s as llhttp would, 15 at most (so that the value
 * cannot overflow: a longer size is left to llhttp); returns where they
 * stop. */
static inline const char *read_hex(const char *s, const char *end, uint64_t *v) {
  const char *lim = end - s > 15 ? s + 15 : end;
  uint64_t x = 0;
  int d;
  while (s < lim && (d = HEX(*s)) >= 0) {
    x = x << 4 | (uint64_t)d;
    s++;
  }
  *v = x;
  return s;
}

/* The first CR or LF in [p, end), or end. */
static inline const char *find_crlf(const char *p, const char *end) {
#ifdef __SSE2__
  const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');
  while (end - p >= 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    unsigned m = (unsigned)_mm_movemask_epi8(
        _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)));
    if (m)
      return p + __builtin_ctz(m);
    p += 16;
  }
#endif
  while (p < end && *p != '\r' && *p != '\n')
    p++;
  return p;
}

/* The LF ending the line that goes on at p (CRLF or a bare LF), or NULL when
 * the input ends first; *bad is set to a CR followed by something else. */
static inline const char *line_end(const char *p, const char *end, const char **bad) {
  const char *c = find_crlf(p, end);
  *bad = NULL;
  if (c == end || *c == '\n')
    return c == end ? NULL : c;
  if (c + 1 == end)
    return NULL;
  if (c[1] != '\n')
    *bad = c + 1;
  return c + 1;
}

/* What a scanner step tells feed_lenient to do next; any other value is
 * feed_lenient's result. */
enum { SCAN_NEXT = 16, SCAN_FLUSH, SCAN_FALL };

/* Where feed_lenient stands in one input (a local of it: the steps below are
 * inlined and it lives in registers). */
typedef struct scan {
  const char *data, *end;
  const char *seg; /* llhttp has executed everything before seg */
  const char *q;   /* the scanner has looked at everything before q */
  int ph;          /* the phase at q */
  uint64_t left;   /* chunk data left at q */
  size_t *consumed;
} scan;

/* Takes the phase (and the chunk data left) that llhttp's callbacks report. */
static inline void sync_phase(const rf_resp *r, scan *sc) {
  sc->ph = r->phase;
  sc->left = sc->ph == RF_RESP_PH_CHUNK_DATA ? r->llh.content_length : 0;
}

/* CHUNK_DATA: skips the data and, the common case, runs on through "CRLF
 * size CRLF" to the next chunk's data. SCAN_FLUSH at the input's end,
 * SCAN_NEXT at the last chunk (in TRAILER), else SCAN_FALL to CHUNK_END. */
static inline int scan_chunk_data(rf_resp *r, scan *sc) {
  const char *q = sc->q, *end = sc->end;
  uint64_t left = sc->left;
  for (;;) {
    if (left > (uint64_t)(end - q)) {
      sc->left = left - (uint64_t)(end - q);
      sc->q = end;
      return SCAN_FLUSH;
    }
    q += left;
    if (end - q < 5 || q[0] != '\r' || q[1] != '\n')
      break;
    uint64_t v;
    const char *s = read_hex(q + 2, end, &v);
    if (s == q + 2 || end - s < 2 || s[0] != '\r' || s[1] != '\n')
      break;
    q = s + 2;
    left = v;
    if (!v) {
      sc->q = q;
      sc->left = 0;
      sc->ph = RF_RESP_PH_TRAILER;
      r->line_len = 0;
      r->last_cr = false;
      return SCAN_NEXT;
    }
  }
  sc->q = q;
  sc->left = 0;
  sc->ph = RF_RESP_PH_CHUNK_END;
  r->ce = 0;
  return SCAN_FALL;
}

/* CHUNK_END: the CRLF or bare LF after chunk data (r->ce: its CR ended the
 * last input). SCAN_FALL to CHUNK_SIZE once past it. */
static inline int scan_chunk_end(rf_resp *r, scan *sc) {
  int rc;
  if (sc->q == sc->end)
    return SCAN_FLUSH;
  if (r->ce == 0) {
    if (*sc->q == '\n') {
      if ((rc = insert_cr(r, sc->data, sc->seg, sc->q, sc->ph, sc->consumed)))
        return rc;
      sc->seg = sc->q;
    } else if (*sc->q == '\r') {
      if (++sc->q == sc->end) {
        r->ce = 1;
        return SCAN_FLUSH;
      }
    } else {
      return fail_at(r, sc->data, sc->seg, sc->q,
                     "malformed HTTP response (Expected CRLF after chunk)", sc->consumed);
    }
  }
  if (*sc->q != '\n')
    return fail_at(r, sc->data, sc->seg, sc->q, MSG_BARE_CR, sc->consumed);
  sc->q++;
  r->ce = 0;
  r->line_len = 0;
  r->last_cr = false;
  sc->ph = RF_RESP_PH_CHUNK_SIZE;
  return SCAN_FALL;
}

/* CHUNK_SIZE at the line's start: reads the size as llhttp will (hex digits,
 * 15 at most, then ';' and extensions, or the line end) and goes on to the
 * data or the trailers (SCAN_NEXT). SCAN_FALL leaves the line to scan_line. */
static inline int scan_chunk_size(rf_resp *r, scan *sc) {
  if (r->line_len != 0)
    return SCAN_FALL;
  const char *q = sc->q, *end = sc->end;
  int rc;
  uint64_t v;
  const char *s = read_hex(q, end, &v);
  const char *lf = NULL;
  if (s == q || s == end) {
    /* not a size, or the line goes on in the next input: scan_line */
  } else if (*s == '\r') {
    if (s + 1 < end && s[1] == '\n')
      lf = s + 1;
    else if (s + 1 < end)
      return fail_at(r, sc->data, sc->seg, s + 1, MSG_BARE_CR, sc->consumed);
  } else if (*s == '\n') {
    lf = s;
  } else if (*s == ';') {
    const char *bad;
    lf = line_end(s, end, &bad);
    if (bad)
      return fail_at(r, sc->data, sc->seg, bad, MSG_BARE_CR, sc->consumed);
  }
  if (!lf)
    return SCAN_FALL;
  if (lf[-1] != '\r') {
    if ((rc = insert_cr(r, sc->data, sc->seg, lf, sc->ph, sc->consumed)))
      return rc;
    sc->seg = lf;
  }
  sc->q = lf + 1;
  sc->left = v;
  sc->ph = v ? RF_RESP_PH_CHUNK_DATA : RF_RESP_PH_TRAILER;
  return SCAN_NEXT;
}

/* The empty line ending the head (not one before the status line, which
 * llhttp skips) or the trailers: llhttp takes the rest of the input, and the
 * scan goes on where it pauses (before chunk framing, or after an interim
 * response). */
static inline int scan_head_end(rf_resp *r, scan *sc) {
  const char *resume;
  int rc = run(r, sc->data, sc->seg, sc->seg, (size_t)(sc->end - sc->seg), sc->consumed, &resume);
  if (rc != RUN_PAUSED) {
    if (rc)
      return rc;
    sc->seg = sc->q = sc->end;
    sync_phase(r, sc);
    return SCAN_FLUSH;
  }
  /* before chunk framing, or after an interim response */
  sc->seg = sc->q = resume;
  sc->ph = r->phase;
  sc->left = 0;
  r->head_line = false;
  return SCAN_NEXT;
}

/* HEAD, TRAILER, an unread CHUNK_SIZE: lines ending in CRLF or a bare LF,
 * which gets a CR inserted before it. */
static inline int scan_line(rf_resp *r, scan *sc) {
  const char *q = sc->q, *end = sc->end;
  int rc;
  if (r->last_cr && q < end && *q != '\n') /* the CR that ended the last input */
    return fail_at(r, sc->data, sc->seg, q, MSG_BARE_CR, sc->consumed);
  const char *bad;
  const char *lf = line_end(q, end, &bad);
  if (bad)
    return fail_at(r, sc->data, sc->seg, bad, MSG_BARE_CR, sc->consumed);
  if (!lf) { /* the line goes on in the next input (a CR may end this one) */
    size_t n = (size_t)(end - q) + r->line_len;
    r->line_len = (uint8_t)(n > 2 ? 2 : n);
    if (end > q)
      r->last_cr = end[-1] == '\r';
    sc->q = end;
    return SCAN_FLUSH;
  }
  bool crlf = lf > q ? lf[-1] == '\r' : r->last_cr;
  size_t ll = (size_t)(lf - q) + r->line_len;
  bool empty = ll == 0 || (ll == 1 && crlf);
  if (!crlf) {
    if ((rc = insert_cr(r, sc->data, sc->seg, lf, sc->ph, sc->consumed)))
      return rc;
    sc->seg = lf;
  }
  sc->q = q = lf + 1;
  r->line_len = 0;
  r->last_cr = false;
  if (sc->ph == RF_RESP_PH_CHUNK_SIZE) {
    /* llhttp says whether data or trailers follow */
    if ((rc = run(r, sc->data, sc->seg, sc->seg, (size_t)(q - sc->seg), sc->consumed, NULL)))
      return rc;
    sc->seg = q;
    sync_phase(r, sc);
  } else if (!empty) {
    if (sc->ph == RF_RESP_PH_HEAD)
      r->head_line = true;
  } else if (r->head_line || sc->ph == RF_RESP_PH_TRAILER) {
    return scan_head_end(r, sc);
  }
  return SCAN_NEXT;
}

static int feed_lenient(rf_resp *r, const char *data, size_t len, size_t *consumed) {
  scan sc = {.data = data, .end = data + len, .seg = data, .q = data, .consumed = consumed};
  sync_phase(r, &sc);
  for (;;) {
    int st;
    switch (sc.ph) {
    case RF_RESP_PH_BODY:
      sc.q = sc.end;
      st = SCAN_FLUSH;
      break;
    case RF_RESP_PH_CHUNK_DATA:
      if ((st = scan_chunk_data(r, &sc)) != SCAN_FALL)
        break;
      /* fall through */
    case RF_RESP_PH_CHUNK_END:
      if ((st = scan_chunk_end(r, &sc)) != SCAN_FALL)
        break;
      /* fall through */
    case RF_RESP_PH_CHUNK_SIZE:
      if ((st = scan_chunk_size(r, &sc)) != SCAN_FALL)
        break;
      /* fall through */
    default:
      st = scan_line(r, &sc);
    }
    if (st == SCAN_FLUSH)
      break;
    if (st != SCAN_NEXT)
      return st;
  }
  /* flush (run() spelled out: this is the once-per-feed path) */
  if (sc.end > sc.seg && llhttp_execute(&r->llh, sc.seg, (size_t)(sc.end - sc.seg)) != HPE_OK)
    return run_failed(r, data, consumed);
  if (!on_track(r, sc.ph, sc.left)) {
    set_err(r, RF_RESP_E_BAD, MSG_LOST);
    return r->err;
  }
  *consumed = len;
  return RF_RESP_MORE;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/* ---- the fast path ---------------------------------------------------------
 *
 * Most responses a load generator or a crawler reads are plain: a status
 * line, a dozen fields, a Content-Length body, all in one read. llhttp walks
 * them byte by byte through its state machine and calls back per span; here
 * one scan reads them. It takes only what it can read exactly as llhttp 8.1
 * (through the callbacks above) reads it, and says FAST_NO for anything
 * else, before any callback ran and with the storage as it found it: llhttp
 * then parses the response from its first byte. A head it took has a
 * Content-Length (or no body): the body's later bytes, in the feeds that
 * follow, are counted off r->fast_left without llhttp either. llhttp itself never sees a
 * response read here; it stays where the last response it read left it
 * (between messages), so the next one may go either way. */

#define FAST_NO 16 /* not an rf_resp_rc */

/* tchar (RFC 9110 section 5.6.2), as llhttp's header name table */
static const uint8_t tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
    ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
    ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
    ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
    ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
};

/* The first byte in [p, end) that is not printable ASCII (0x20-0x7e) or
 * HTAB, or end: where a reason phrase or a field value stops. */
static inline const char *text_end(const char *p, const char *end) {
  for (;;) {
#ifdef __SSE2__
    const __m128i sp = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7f);
    while (end - p >= 16) {
      __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
      /* below 0x20 (signed: 0x80-0xff are too), or DEL */
      unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpgt_epi8(sp, v), _mm_cmpeq_epi8(v, del)));
      if (m) {
        p += __builtin_ctz(m);
        break;
      }
      p += 16;
    }
#endif
    while (p < end && (uint8_t)*p >= 0x20 && (uint8_t)*p < 0x7f)
      p++;
    if (p == end || *p != '\t')
      return p;
    p++;
  }
}

/* The first byte in [p, end) that is not a tchar, or end: where a field
 * name stops. Names are letters, digits and '-' in practice: 16 bytes at a
 * time are checked for those, and the table takes over at the first other
 * byte (the colon, or a rarer tchar). */
static inline const char *name_end(const char *p, const char *end) {
#ifdef __SSE2__
  const __m128i a1 = _mm_set1_epi8('a' - 1), z1 = _mm_set1_epi8('z' + 1), d1 = _mm_set1_epi8('0' - 1),
                n1 = _mm_set1_epi8('9' + 1), dash = _mm_set1_epi8('-'), low = _mm_set1_epi8(0x20);
  while (end - p >= 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i l = _mm_or_si128(v, low); /* letters in lower case; 0x80-0xff stay negative */
    __m128i ok = _mm_or_si128(_mm_and_si128(_mm_cmpgt_epi8(l, a1), _mm_cmpgt_epi8(z1, l)),
                              _mm_or_si128(_mm_and_si128(_mm_cmpgt_epi8(v, d1), _mm_cmpgt_epi8(n1, v)),
                                           _mm_cmpeq_epi8(v, dash)));
    unsigned m = ~(unsigned)_mm_movemask_epi8(ok) & 0xffffu;
    if (m) {
      p += __builtin_ctz(m);
      break;
    }
    p += 16;
  }
#endif
  while (p < end && tchar[(uint8_t)*p])
    p++;
  return p;
}

/* Does the n-byte token at a equal lower (lowercase letters and '-'),
 * whatever its case? Eight bytes at a time where it can. */
static inline bool name_is(const char *a, size_t n, const char *lower, size_t ln) {
  if (n != ln)
    return false;
  const uint64_t fold = 0x2020202020202020u;
  if (n >= 8) {
    uint64_t x, y;
    for (size_t i = 0; i + 8 <= n; i += 8) {
      memcpy(&x, a + i, 8);
      memcpy(&y, lower + i, 8);
      if ((x | fold) != y)
        return false;
    }
    memcpy(&x, a + n - 8, 8); /* the last 8 (overlapping): n need not be a multiple */
    memcpy(&y, lower + n - 8, 8);
    return (x | fold) == y;
  }
  for (size_t i = 0; i < n; i++)
    if ((a[i] | 0x20) != lower[i])
      return false;
  return true;
}
#define NAME_IS(a, n, lit) name_is(a, n, lit, sizeof lit - 1)

/* A Content-Length value (leading whitespace already skipped): 1-18 digits,
 * then only spaces -- llhttp 8.1 rejects a tab there (short of an overflow,
 * exactly what it accepts). */
static inline bool fast_length(const char *v, size_t n, uint64_t *out) {
  uint64_t x = 0;
  size_t i = 0;
  while (i < n && i < 18 && v[i] >= '0' && v[i] <= '9')
    x = x * 10 + (uint64_t)(v[i++] - '0');
  if (i == 0)
    return false;
  while (i < n && v[i] == ' ')
    i++;
  *out = x;
  return i == n;
}

/* One field line at *pp (name, colon, value, CRLF): stored or counted as
 * llhttp's callbacks would. *cl and *close take Content-Length and
 * Connection. 0, or FAST_NO. */
static inline int fast_field(rf_resp *r, const char **pp, const char *end, uint64_t *cl, bool *close) {
  const char *p = *pp, *name = p;
  p = name_end(p, end);
  if (p == name || p == end || *p != ':')
    return FAST_NO;
  size_t nlen = (size_t)(p - name);
  p++;
  while (p < end && (*p == ' ' || *p == '\t'))
    p++;
  const char *val = p;
  p = text_end(p, end);
  if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
    return FAST_NO;
  size_t vraw = (size_t)(p - val); /* stored with its trailing whitespace, as llhttp hands it */
  size_t vlen = vraw;
  while (vlen && (val[vlen - 1] == ' ' || val[vlen - 1] == '\t'))
    vlen--;
  *pp = p + 2;
  switch (nlen) {
  case 14:
    if (NAME_IS(name, nlen, "content-length") && (*cl != UINT64_MAX || !fast_length(val, vraw, cl)))
      return FAST_NO; /* a second one is llhttp's error */
    break;
  case 10:
    if (NAME_IS(name, nlen, "connection")) {
      if (NAME_IS(val, vlen, "close"))
        *close = true;
      else if (!NAME_IS(val, vlen, "keep-alive"))
        return FAST_NO;
    }
    break;
  case 7:
    if (NAME_IS(name, nlen, "upgrade"))
      return FAST_NO;
    break;
  case 16:
    if (NAME_IS(name, nlen, "proxy-connection"))
      return FAST_NO;
    break;
  case 17:
    if (NAME_IS(name, nlen, "transfer-encoding"))
      return FAST_NO;
    break;
  default:
    break;
  }
  uint32_t count = r->lean ? r->lean_fields : r->nh;
  if (count >= r->hmax || nlen + vraw > r->hcap - r->hlen)
    return FAST_NO; /* llhttp's path says which limit */
  if (r->lean) {
    r->lean_fields++;
  } else {
    rf_hspan *h = &r->hdrs[r->nh++];
    h->name_off = r->hlen;
    h->name_len = (uint32_t)nlen;
    h->value_off = r->hlen + (uint32_t)nlen;
    h->value_len = (uint32_t)vlen;
    memcpy(r->hbuf + r->hlen, name, nlen);
    memcpy(r->hbuf + r->hlen + nlen, val, vraw);
  }
  r->hlen += (uint32_t)(nlen + vraw);
  return 0;
}

/* Declines: the storage as fast_head found it (empty), for llhttp. */
static int fast_no(rf_resp *r) {
  r->hlen = r->nh = r->lean_fields = 0;
  r->reason_len = 0;
  return FAST_NO;
}

/* The head from the status line to the empty line; FAST_NO leaves the
 * storage cleared. */
static int fast_head(rf_resp *r, const char **pp, const char *end, int *status, uint64_t *cl, bool *close) {
  const char *p = *pp;
  if (end - p < 17 || memcmp(p, "HTTP/1.1 ", 9) != 0)
    return FAST_NO;
  unsigned d0 = (unsigned)(p[9] - '0'), d1 = (unsigned)(p[10] - '0'), d2 = (unsigned)(p[11] - '0');
  if (d0 < 2 || d0 > 9 || d1 > 9 || d2 > 9 || p[12] != ' ')
    return FAST_NO; /* interim responses, odd codes, no reason: llhttp */
  *status = (int)(d0 * 100 + d1 * 10 + d2);
  const char *reason = p + 13;
  p = text_end(reason, end);
  if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
    return FAST_NO;
  size_t rlen = (size_t)(p - reason);
  if (rlen > r->hcap)
    return FAST_NO;
  if (rlen) { /* llhttp reports no empty span: reason_off stays 0 */
    memcpy(r->hbuf, reason, rlen);
    r->reason_len = (uint32_t)rlen;
    r->hlen = (uint32_t)rlen;
  }
  p += 2;
  for (;;) {
    if (end - p < 2)
      break;
    if (p[0] == '\r') {
      if (p[1] != '\n')
        break;
      *pp = p + 2;
      return 0;
    }
    if (fast_field(r, &p, end, cl, close))
      break;
  }
  return fast_no(r);
}

/* The body's next bytes, up to what is left of it; DONE at its end. */
static int fast_body(rf_resp *r, const char *p, size_t len, size_t used, size_t *consumed) {
  size_t n = r->fast_left < len ? (size_t)r->fast_left : len;
  if (n) {
    r->fast_left -= n;
    r->body_bytes += n;
    if (r->on_body && r->on_body(r->ud, p, n) != 0)
      return set_err(r, RF_RESP_E_ABORT, "aborted by the body callback"), r->err;
  }
  if (r->fast_left) {
    *consumed = used + n;
    return RF_RESP_MORE;
  }
  r->done = true;
  *consumed = used + n;
  return RF_RESP_DONE;
}

static int feed_fast(rf_resp *r, const char *data, size_t len, size_t *consumed) {
  const char *p = data, *end = data + len;
  int status = 0;
  uint64_t cl = UINT64_MAX;
  bool close = false;
  if (fast_head(r, &p, end, &status, &cl, &close))
    return FAST_NO;
  uint64_t blen = 0;
  if (!r->head && status != 204 && status != 304) {
    if (cl == UINT64_MAX) /* read until close: llhttp */
      return fast_no(r);
    blen = cl;
  }
  r->fast = true;
  r->fast_keep = !close;
  r->fast_left = blen;
  r->started = r->headers_done = true;
  r->status = status;
  r->http_major = r->http_minor = 1;
  if (r->on_headers && r->on_headers(r->ud, r) != 0)
    return set_err(r, RF_RESP_E_ABORT, "aborted by the headers callback"), r->err;
  if (blen)
    r->phase = RF_RESP_PH_BODY;
  return fast_body(r, p, (size_t)(end - p), (size_t)(p - data), consumed);
}

void rf_resp_set_fast(rf_resp *r, bool on) { r->no_fast = !on; }

int rf_resp_feed(rf_resp *r, const char *data, size_t len, size_t *consumed) {
  *consumed = 0;
  if (r->err)
    return r->err;
  if (r->done)
    return RF_RESP_DONE;
  if (len == 0)
    return RF_RESP_MORE;
  if (r->fast) /* the rest of a body the fast path began */
    return fast_body(r, data, len, 0, consumed);
  if (r->fast_drop) { /* after a response that closed the connection */
    *consumed = len;
    return RF_RESP_MORE;
  }
  if (!r->started && !r->no_fast && r->phase == RF_RESP_PH_HEAD && r->line_len == 0 && r->hlen == 0) {
    int rc = feed_fast(r, data, len, consumed);
    if (rc != FAST_NO)
      return rc;
  }
  /* lenient mode looks at framing lines; a body that is not chunked, or
   * input that is all chunk data, goes to llhttp as in strict mode (it stops
   * at the end of the message; the callbacks follow the chunk data) */
  if (!r->strict && r->phase != RF_RESP_PH_BODY &&
      !(r->phase == RF_RESP_PH_CHUNK_DATA && r->llh.content_length >= len))
    return feed_lenient(r, data, len, consumed);
  llhttp_errno_t e = llhttp_execute(&r->llh, data, len);
  if (e == HPE_OK) {
    *consumed = len;
    return RF_RESP_MORE;
  }
  if (e == HPE_PAUSED && r->done) {
    *consumed = (size_t)(llhttp_get_error_pos(&r->llh) - data);
    llhttp_resume(&r->llh);
    return RF_RESP_DONE;
  }
  return fail_llhttp(r, e);
}

int rf_resp_eof(rf_resp *r) {
  if (r->err)
    return r->err;
  if (r->done)
    return RF_RESP_DONE;
  /* (a body the fast path reads has its length: llhttp, which never saw
   * the response, is not asked) */
  if (!r->fast && r->started && r->headers_done && llhttp_message_needs_eof(&r->llh)) {
    llhttp_errno_t e = llhttp_finish(&r->llh);
    if (r->done) {
      if (e == HPE_PAUSED)
        llhttp_resume(&r->llh);
      return RF_RESP_DONE;
    }
    if (e != HPE_OK)
      return fail_llhttp(r, e);
  }
  r->err = RF_RESP_E_CLOSED;
  r->errmsg = !r->started ? "connection closed before any response byte"
              : !r->headers_done ? "connection closed inside the response headers"
                                 : "connection closed before the end of the body";
  return r->err;
}

bool rf_resp_keep_alive(const rf_resp *r) {
  if (!r->done || r->err)
    return false;
  if (r->fast)
    return r->fast_keep;
  return llhttp_should_keep_alive(&r->llh) != 0;
}

int rf_resp_find(const rf_resp *r, const char *name) {
  size_t n = strlen(name);
  for (uint32_t i = 0; i < r->nh; i++)
    if (r->hdrs[i].name_len == n && strncasecmp(r->hbuf + r->hdrs[i].name_off, name, n) == 0)
      return (int)i;
  return -1;
}
