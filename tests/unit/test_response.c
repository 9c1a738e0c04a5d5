/* Response parser: every stream is fed whole, split in two at every byte
 * boundary, and one byte at a time (each piece ends at a guard page), with
 * pipelined responses parsed in sequence through `consumed` and
 * rf_resp_expect. Checks status, reason, headers, trailers, body,
 * DONE/consumed and keep-alive; the llhttp 8.1 pitfalls (HEAD, 1xx, 204,
 * 304); errors. The CRLF streams run in both modes (lenient, the default,
 * and strict); the bare-LF streams parse in lenient mode and fail in strict
 * mode exactly as llhttp 8.1 alone fails on them. */
#include <stdbool.h>
#include <strings.h>

#include "proto/response.h"
#include "testutil.h"

#define HBUF_CAP 4096
#define HMAX 32

/* rf_resp_set_strict for the parsers run_cut and expect_error_cut make */
static bool g_strict;
/* rf_resp_set_lean for them: the same streams, the same errors and limits,
 * but only Transfer-Encoding fields kept (check_msg expects just those) */
static bool g_lean;
/* rf_resp_set_fast(r, false) for them: every response through llhttp */
static bool g_no_fast;

/* ---- callbacks ---------------------------------------------------------- */

typedef struct sink {
  char *body;
  size_t body_len, body_cap;
  int headers_calls;
  int status_at_cb;
  uint32_t nh_at_cb;
  uint64_t body_calls;
  uint64_t feeds; /* rf_resp_feed calls for this response */
  /* the piece being fed: body spans must lie inside it */
  const char *piece;
  size_t piece_len;
  bool span_outside;
  bool body_before_headers;
  /* abort knobs */
  long abort_body_at; /* abort when this many body bytes were seen (-1: never) */
  bool abort_headers;
} sink;

static void sink_reset(sink *s) {
  s->body_len = 0;
  s->headers_calls = 0;
  s->status_at_cb = 0;
  s->nh_at_cb = 0;
  s->body_calls = 0;
  s->feeds = 0;
}

static int on_headers(void *ud, rf_resp *r) {
  sink *s = ud;
  s->headers_calls++;
  s->status_at_cb = r->status;
  s->nh_at_cb = r->nh;
  return s->abort_headers ? 1 : 0;
}

static int on_body(void *ud, const char *p, size_t n) {
  sink *s = ud;
  s->body_calls++;
  if (s->headers_calls == 0)
    s->body_before_headers = true;
  if (!(p >= s->piece && n <= s->piece_len && p + n <= s->piece + s->piece_len))
    s->span_outside = true;
  if (s->body_len + n > s->body_cap) {
    s->body_cap = (s->body_len + n) * 2 + 64;
    s->body = realloc(s->body, s->body_cap);
  }
  memcpy(s->body + s->body_len, p, n);
  s->body_len += n;
  if (s->abort_body_at >= 0 && s->body_len >= (size_t)s->abort_body_at)
    return 1;
  return 0;
}

/* ---- expectations ------------------------------------------------------- */

typedef struct msg_exp {
  bool head;       /* the request was HEAD */
  int status;
  const char *reason;
  int major, minor;
  const char *hdrs[2 * 12 + 1]; /* name, value, ..., NULL */
  const char *trls[2 * 6 + 1];  /* trailer fields, the same way */
  const char *body;             /* NULL: empty */
  bool one_span;                /* at most one body callback per input piece */
  size_t wire_len;              /* bytes of the message (interim responses included) */
  bool needs_eof;               /* close-delimited: DONE only at rf_resp_eof */
  bool keep_alive;
} msg_exp;

/* How a stream is cut into pieces: two pieces at `split`, or `step` bytes. */
typedef struct cutting {
  size_t split; /* 0: none */
  size_t step;  /* 0: rest in one piece */
} cutting;

static void describe(char *d, size_t n, const char *name, cutting c) {
  snprintf(d, n, "%s%s%s%s split@%zu step %zu", g_strict ? "[strict] " : "", g_lean ? "[lean] " : "",
           g_no_fast ? "[llhttp only] " : "", name, c.split, c.step);
}

/* Checks one completed response against e. */
static void check_msg(const char *what, rf_resp *r, sink *s, const msg_exp *e, size_t consumed,
                      int rc) {
  CHECKF(rc == RF_RESP_DONE, "%s: rc %d (%s)", what, rc, r->errmsg ? r->errmsg : "");
  if (rc != RF_RESP_DONE)
    return;
  CHECKF(r->status == e->status, "%s: status %d want %d", what, r->status, e->status);
  CHECKF(r->reason_len == strlen(e->reason) &&
             memcmp(r->hbuf + r->reason_off, e->reason, r->reason_len) == 0,
         "%s: reason \"%.*s\" want \"%s\"", what, (int)r->reason_len, r->hbuf + r->reason_off,
         e->reason);
  CHECKF(r->http_major == e->major && r->http_minor == e->minor, "%s: version %d.%d", what,
         r->http_major, r->http_minor);
  /* lean mode keeps the Transfer-Encoding fields only, and no trailer */
  const char *want_h[2 * 12 + 1] = {0};
  uint32_t want_nh = 0;
  for (uint32_t i = 0; e->hdrs[2 * i]; i++)
    if (!g_lean || strcasecmp(e->hdrs[2 * i], "transfer-encoding") == 0) {
      want_h[2 * want_nh] = e->hdrs[2 * i];
      want_h[2 * want_nh + 1] = e->hdrs[2 * i + 1];
      want_nh++;
    }
  CHECKF(r->nh == want_nh, "%s: %u headers, want %u", what, r->nh, want_nh);
  for (uint32_t i = 0; i < r->nh && i < want_nh; i++) {
    const rf_hspan *h = &r->hdrs[i];
    const char *n = want_h[2 * i], *v = want_h[2 * i + 1];
    bool ok = h->name_len == strlen(n) && memcmp(r->hbuf + h->name_off, n, h->name_len) == 0 &&
              h->value_len == strlen(v) && memcmp(r->hbuf + h->value_off, v, h->value_len) == 0 &&
              h->name_off + h->name_len <= r->hlen && h->value_off + h->value_len <= r->hlen;
    CHECKF(ok, "%s: header %u is \"%.*s\": \"%.*s\", want \"%s\": \"%s\"", what, i,
           (int)h->name_len, r->hbuf + h->name_off, (int)h->value_len, r->hbuf + h->value_off, n,
           v);
  }
  uint32_t want_nt = 0;
  while (!g_lean && e->trls[2 * want_nt])
    want_nt++;
  CHECKF(r->nt == want_nt, "%s: %u trailers, want %u", what, r->nt, want_nt);
  for (uint32_t i = 0; i < r->nt && i < want_nt && r->nh == want_nh; i++) {
    const rf_hspan *h = &r->hdrs[r->nh + i];
    const char *n = e->trls[2 * i], *v = e->trls[2 * i + 1];
    bool ok = h->name_len == strlen(n) && memcmp(r->hbuf + h->name_off, n, h->name_len) == 0 &&
              h->value_len == strlen(v) && memcmp(r->hbuf + h->value_off, v, h->value_len) == 0 &&
              h->name_off + h->name_len <= r->hlen && h->value_off + h->value_len <= r->hlen;
    CHECKF(ok, "%s: trailer %u is \"%.*s\": \"%.*s\", want \"%s\": \"%s\"", what, i,
           (int)h->name_len, r->hbuf + h->name_off, (int)h->value_len, r->hbuf + h->value_off, n,
           v);
    /* rf_resp_find looks at the headers only */
    int fi = rf_resp_find(r, n);
    CHECKF(fi < (int)r->nh, "%s: rf_resp_find(\"%s\") found a trailer", what, n);
  }
  const char *body = e->body ? e->body : "";
  size_t blen = strlen(body);
  CHECKF(s->body_len == blen && memcmp(s->body ? s->body : "", body, blen) == 0,
         "%s: body (%zu bytes) \"%.*s\" want (%zu bytes) \"%.40s\"", what, s->body_len,
         (int)(s->body_len < 40 ? s->body_len : 40), s->body ? s->body : "", blen, body);
  CHECKF(r->body_bytes == blen, "%s: body_bytes %llu", what, (unsigned long long)r->body_bytes);
  CHECKF(consumed == e->wire_len, "%s: consumed %zu want %zu", what, consumed, e->wire_len);
  CHECKF(s->headers_calls == 1 && s->status_at_cb == e->status && s->nh_at_cb == want_nh,
         "%s: headers callback %d calls, status %d, nh %u", what, s->headers_calls, s->status_at_cb,
         s->nh_at_cb);
  CHECKF(!s->span_outside, "%s: body span outside the fed bytes", what);
  CHECKF(!s->body_before_headers, "%s: body before headers", what);
  CHECKF(!e->one_span || s->body_calls <= s->feeds, "%s: %llu body callbacks for %llu feeds", what,
         (unsigned long long)s->body_calls, (unsigned long long)s->feeds);
  CHECKF(rf_resp_keep_alive(r) == e->keep_alive, "%s: keep_alive %d", what, rf_resp_keep_alive(r));
}

/* Parses a stream of nm responses with the given cutting. */
static void run_cut(const char *name, const char *stream, size_t len, const msg_exp *m, int nm,
                    cutting cut) {
  char what[160];
  describe(what, sizeof what, name, cut);
  static char hbuf[HBUF_CAP];
  static rf_hspan hdrs[HMAX];
  sink s = {.abort_body_at = -1};
  rf_resp r;
  rf_resp_init(&r, hbuf, sizeof hbuf, hdrs, HMAX, on_headers, on_body, &s);
  rf_resp_set_strict(&r, g_strict);
  rf_resp_set_lean(&r, g_lean);
  rf_resp_set_fast(&r, !g_no_fast);
  rf_resp_expect(&r, m[0].head, NULL, 0, NULL, 0);

  int mi = 0;
  size_t msg_start = 0, pos = 0;
  bool failed = false;
  while (pos < len && !failed) {
    size_t plen;
    if (pos == 0 && cut.split)
      plen = cut.split;
    else if (cut.step)
      plen = cut.step;
    else
      plen = len - pos;
    if (plen > len - pos)
      plen = len - pos;
    tu_guard g;
    const char *d = tu_guard_copy(&g, stream + pos, plen);
    s.piece = d;
    s.piece_len = plen;
    size_t off = 0;
    while (off < plen) {
      size_t c = (size_t)-1;
      s.feeds++;
      int rc = rf_resp_feed(&r, d + off, plen - off, &c);
      if (rc == RF_RESP_MORE) {
        if (c != plen - off) {
          CHECKF(c == plen - off, "%s: MORE consumed %zu of %zu", what, c, plen - off);
          failed = true;
        }
        off = plen;
      } else if (rc == RF_RESP_DONE && mi < nm) {
        size_t end = pos + off + c;
        char w2[200];
        snprintf(w2, sizeof w2, "%s msg %d", what, mi);
        check_msg(w2, &r, &s, &m[mi], end - msg_start, rc);
        off += c;
        msg_start = end;
        if (++mi < nm) {
          sink_reset(&s);
          rf_resp_expect(&r, m[mi].head, NULL, 0, NULL, 0);
        } else if (off < plen || pos + plen < len) {
          CHECKF(0, "%s: bytes left after the last response", what);
          failed = true;
          break;
        }
      } else {
        CHECKF(0, "%s msg %d: rc %d (%s) at stream offset %zu", what, mi, rc,
               r.errmsg ? r.errmsg : "", pos + off);
        failed = true;
        break;
      }
    }
    tu_guard_free(&g);
    pos += plen;
  }
  if (!failed && mi < nm) {
    if (m[mi].needs_eof && mi == nm - 1) {
      int rc = rf_resp_eof(&r);
      char w2[200];
      snprintf(w2, sizeof w2, "%s msg %d at EOF", what, mi);
      check_msg(w2, &r, &s, &m[mi], len - msg_start, rc);
      mi++;
    } else {
      CHECKF(0, "%s: only %d of %d responses complete", what, mi, nm);
    }
  }
  if (!failed && mi == nm && !m[nm - 1].needs_eof) {
    /* the connection then closes cleanly between responses */
    rf_resp_expect(&r, false, NULL, 0, NULL, 0);
    int rc = rf_resp_eof(&r);
    CHECKF(rc == RF_RESP_E_CLOSED && r.errmsg, "%s: EOF before the next response: %d", what, rc);
  }
  free(s.body);
}

/* Whole, every two-piece split, 1 byte at a time, and 7 bytes at a time. */
static void run_stream(const char *name, const char *stream, const msg_exp *m, int nm) {
  size_t len = strlen(stream);
  size_t total = 0;
  for (int i = 0; i < nm; i++)
    total += m[i].wire_len;
  CHECKF(total == len, "%s: test data: wire lengths %zu != stream %zu", name, total, len);
  long before = tu_failures;
  run_cut(name, stream, len, m, nm, (cutting){0, 0});
  for (size_t k = 1; k < len && tu_failures - before < 20; k++)
    run_cut(name, stream, len, m, nm, (cutting){k, 0});
  run_cut(name, stream, len, m, nm, (cutting){0, 1});
  run_cut(name, stream, len, m, nm, (cutting){0, 7});
}

#define LEN(s) (sizeof(s) - 1)

/* ---- the streams -------------------------------------------------------- */

static void test_content_length(void) {
#define R1 "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n" \
           "X-Pad:   spaced  value \t \r\nX-Empty:\r\nX-Tab:\tv\t\r\n\r\nhello world"
#define R2 "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"
#define R3 "HTTP/1.1 200 Okay Then\r\nContent-Length: 3\r\n\r\nabc"
  static const msg_exp m[] = {
      {.status = 200, .reason = "OK", .major = 1, .minor = 1,
       .hdrs = {"Content-Type", "text/plain", "Content-Length", "11", "X-Pad", "spaced  value",
                "X-Empty", "", "X-Tab", "v", NULL},
       .body = "hello world", .wire_len = LEN(R1), .keep_alive = true},
      {.status = 404, .reason = "Not Found", .major = 1, .minor = 1,
       .hdrs = {"content-length", "0", NULL}, .wire_len = LEN(R2), .keep_alive = true},
      {.status = 200, .reason = "Okay Then", .major = 1, .minor = 1,
       .hdrs = {"Content-Length", "3", NULL}, .body = "abc", .wire_len = LEN(R3),
       .keep_alive = true},
  };
  run_stream("content-length x3", R1 R2 R3, m, 3);
  run_stream("content-length", R1, m, 1);
#undef R1
#undef R2
#undef R3
}

static void test_chunked(void) {
#define C1 "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n" \
           "5;name=val\r\nhello\r\n6;e\r\n world\r\nA\r\n0123456789\r\n"                   \
           "0\r\nX-Checksum: abc\r\nX-More: 1\r\n\r\n"
#define C2 "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n"
#define C3 "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
  static const msg_exp m[] = {
      {.status = 200, .reason = "OK", .major = 1, .minor = 1,
       .hdrs = {"Transfer-Encoding", "chunked", "Trailer", "X-Checksum", NULL},
       .trls = {"X-Checksum", "abc", "X-More", "1", NULL},
       .body = "hello world0123456789", .wire_len = LEN(C1), .keep_alive = true},
      {.status = 201, .reason = "Created", .major = 1, .minor = 1,
       .hdrs = {"Transfer-Encoding", "chunked", NULL}, .body = "xyz", .wire_len = LEN(C2),
       .keep_alive = true},
      {.status = 200, .reason = "OK", .major = 1, .minor = 1, .hdrs = {"Content-Length", "2", NULL},
       .body = "ok", .wire_len = LEN(C3), .keep_alive = true},
  };
  run_stream("chunked", C1 C2 C3, m, 3);
#undef C1
#undef C2
#undef C3
}

static void test_close_delimited(void) {
#define D1 "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>until close</html>\r\n"
  static const msg_exp m1[] = {
      {.status = 200, .reason = "OK", .major = 1, .minor = 1,
       .hdrs = {"Content-Type", "text/html", NULL}, .body = "<html>until close</html>\r\n",
       .wire_len = LEN(D1), .needs_eof = true, .keep_alive = false},
  };
  run_stream("close-delimited", D1, m1, 1);
#define D2 "HTTP/1.0 200 OK\r\nServer: old\r\n\r\n"
  static const msg_exp m2[] = {
      {.status = 200, .reason = "OK", .major = 1, .minor = 0, .hdrs = {"Server", "old", NULL},
       .wire_len = LEN(D2), .needs_eof = true, .keep_alive = false},
  };
  run_stream("close-delimited, empty body, HTTP/1.0", D2, m2, 1);
  /* a Content-Length response before it on the same connection */
#define D0 "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"
  static const msg_exp m3[] = {
      {.status = 200, .reason = "OK", .major = 1, .minor = 1, .hdrs = {"Content-Length", "1", NULL},
       .body = "x", .wire_len = LEN(D0), .keep_alive = true},
      {.status = 200, .reason = "OK", .major = 1, .minor = 1,
       .hdrs = {"Content-Type", "text/html", NULL}, .body = "<html>until close</html>\r\n",
       .wire_len = LEN(D1), .needs_eof = true, .keep_alive = false},
  };
  run_stream("content-length then close-delimited", D0 D1, m3, 2);
#undef D0
#undef D1
#undef D2
}

static void test_no_body_responses(void) {
  /* HEAD: Content-Length describes the resource, no body follows */
#define H1 "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nETag: \"abc\"\r\n\r\n"
#define H2 "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
#define H3 "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
  static const msg_exp mh[] = {
      {.head = true, .status = 200, .reason = "OK", .major = 1, .minor = 1,
       .hdrs = {"Content-Length", "1000", "ETag", "\"abc\"", NULL}, .wire_len = LEN(H1),
       .keep_alive = true},
      {.head = true, .status = 200, .reason = "OK", .major = 1, .minor = 1,
       .hdrs = {"Transfer-Encoding", "chunked", NULL}, .wire_len = LEN(H2), .keep_alive = true},
      {.head = false, .status = 200, .reason = "OK", .major = 1, .minor = 1,
       .hdrs = {"Content-Length", "3", NULL}, .body = "abc", .wire_len = LEN(H3),
       .keep_alive = true},
  };
  run_stream("HEAD, HEAD chunked, GET", H1 H2 H3, mh, 3);
  /* HEAD answered by a close-delimited-looking response: still no body, and
   * the response is complete without EOF */
#define H4 "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"
  static const msg_exp mh4[] = {
      {.head = true, .status = 200, .reason = "OK", .major = 1, .minor = 1,
       .hdrs = {"Content-Type", "text/html", NULL}, .wire_len = LEN(H4), .keep_alive = true},
      {.status = 200, .reason = "OK", .major = 1, .minor = 1, .hdrs = {"Content-Length", "3", NULL},
       .body = "abc", .wire_len = LEN(H3), .keep_alive = true},
  };
  run_stream("HEAD without length, GET", H4 H3, mh4, 2);

  /* llhttp 8.1 pitfall: 304 and 204 with Content-Length have no body */
#define N304 "HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\nETag: \"x\"\r\n\r\n"
#define N204 "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"
#define N204C "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n"
#define NEXT "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Next: 1\r\n\r\nHELLO"
  static const msg_exp n304[] = {
      {.status = 304, .reason = "Not Modified", .major = 1, .minor = 1,
       .hdrs = {"Content-Length", "1234", "ETag", "\"x\"", NULL}, .wire_len = LEN(N304),
       .keep_alive = true},
      {.status = 200, .reason = "OK", .major = 1, .minor = 1,
       .hdrs = {"Content-Length", "5", "X-Next", "1", NULL}, .body = "HELLO", .wire_len = LEN(NEXT),
       .keep_alive = true},
  };
  run_stream("304 with Content-Length, then 200", N304 NEXT, n304, 2);
  static const msg_exp n204[] = {
      {.status = 204, .reason = "No Content", .major = 1, .minor = 1,
       .hdrs = {"Content-Length", "5", NULL}, .wire_len = LEN(N204), .keep_alive = true},
      {.status = 204, .reason = "No Content", .major = 1, .minor = 1,
       .hdrs = {"Transfer-Encoding", "chunked", NULL}, .wire_len = LEN(N204C), .keep_alive = true},
      {.status = 200, .reason = "OK", .major = 1, .minor = 1,
       .hdrs = {"Content-Length", "5", "X-Next", "1", NULL}, .body = "HELLO", .wire_len = LEN(NEXT),
       .keep_alive = true},
  };
  run_stream("204 with Content-Length, 204 chunked, then 200", N204 N204C NEXT, n204, 3);

  /* interim 1xx: skipped; only the final response's headers remain */
#define I100 "HTTP/1.1 100 Continue\r\nX-Interim: 1\r\nX-Interim-2: 2\r\n\r\n"
#define I103 "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
#define FIN "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Final: yes\r\n\r\nok"
  static const msg_exp i1[] = {
      {.status = 200, .reason = "OK", .major = 1, .minor = 1,
       .hdrs = {"Content-Length", "2", "X-Final", "yes", NULL}, .body = "ok",
       .wire_len = LEN(I100 FIN), .keep_alive = true},
      {.status = 304, .reason = "Not Modified", .major = 1, .minor = 1,
       .hdrs = {"Content-Length", "1234", "ETag", "\"x\"", NULL}, .wire_len = LEN(I100 I103 N304),
       .keep_alive = true},
      {.status = 200, .reason = "OK", .major = 1, .minor = 1,
       .hdrs = {"Content-Length", "5", "X-Next", "1", NULL}, .body = "HELLO", .wire_len = LEN(NEXT),
       .keep_alive = true},
  };
  run_stream("100 Continue, 200; 100, 103, 304; 200", I100 FIN I100 I103 N304 NEXT, i1, 3);
#undef H1
#undef H2
#undef H3
#undef H4
#undef N304
#undef N204
#undef N204C
#undef NEXT
#undef I100
#undef I103
#undef FIN
}

static void test_keep_alive(void) {
#define K1 "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
  static const msg_exp k1[] = {
      {.status = 200, .reason = "OK", .major = 1, .minor = 1,
       .hdrs = {"Connection", "close", "Content-Length", "2", NULL}, .body = "ok",
       .wire_len = LEN(K1), .keep_alive = false},
  };
  run_stream("Connection: close", K1, k1, 1);
#define K2 "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"
  static const msg_exp k2[] = {
      {.status = 200, .reason = "OK", .major = 1, .minor = 0, .hdrs = {"Content-Length", "2", NULL},
       .body = "ok", .wire_len = LEN(K2), .keep_alive = false},
  };
  run_stream("HTTP/1.0", K2, k2, 1);
#define K3 "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"
  static const msg_exp k3[] = {
      {.status = 200, .reason = "OK", .major = 1, .minor = 0,
       .hdrs = {"Connection", "keep-alive", "Content-Length", "2", NULL}, .body = "ok",
       .wire_len = LEN(K3), .keep_alive = true},
      {.status = 200, .reason = "OK", .major = 1, .minor = 0,
       .hdrs = {"Connection", "keep-alive", "Content-Length", "2", NULL}, .body = "ok",
       .wire_len = LEN(K3), .keep_alive = true},
  };
  run_stream("HTTP/1.0 keep-alive x2", K3 K3, k3, 2);
#undef K1
#undef K2
#undef K3
}

/* A body far larger than any piece, with an odd reason phrase. */
static void test_large_body(void) {
  size_t blen = 100 * 1024 + 3;
  char *body = malloc(blen + 1);
  for (size_t i = 0; i < blen; i++)
    body[i] = (char)('a' + (i * 7 + i / 13) % 26);
  body[blen] = 0;
  char head[128];
  int hn = snprintf(head, sizeof head, "HTTP/1.1 200 Fine \t Thanks\r\nContent-Length: %zu\r\n\r\n",
                    blen);
  char *stream = malloc((size_t)hn + blen + 1);
  memcpy(stream, head, (size_t)hn);
  memcpy(stream + hn, body, blen + 1);
  char cl[32];
  snprintf(cl, sizeof cl, "%zu", blen);
  msg_exp m[1] = {{.status = 200, .reason = "Fine \t Thanks", .major = 1, .minor = 1,
                   .hdrs = {"Content-Length", cl, NULL}, .body = body,
                   .wire_len = (size_t)hn + blen, .keep_alive = true}};
  size_t len = strlen(stream);
  run_cut("100 KiB body", stream, len, m, 1, (cutting){0, 0});
  run_cut("100 KiB body", stream, len, m, 1, (cutting){0, 4096});
  run_cut("100 KiB body", stream, len, m, 1, (cutting){37, 1000});
  run_cut("100 KiB body", stream, len, m, 1, (cutting){(size_t)hn + 1, 16384});
  free(stream);
  free(body);
}

/* ---- errors ------------------------------------------------------------- */

/* Feeds `data` with each cutting; expects `want` from a feed, or from
 * rf_resp_eof once everything was fed. Errors are sticky. */
static void expect_error_cut(const char *name, const char *data, size_t len, int want,
                             const char *want_msg, bool head, uint32_t hcap, uint32_t hmax,
                             cutting cut) {
  char what[160];
  describe(what, sizeof what, name, cut);
  char *hbuf = malloc(hcap ? hcap : 1);
  rf_hspan *hdrs = malloc(sizeof *hdrs * (hmax ? hmax : 1));
  sink s = {.abort_body_at = -1};
  rf_resp r;
  rf_resp_init(&r, hbuf, hcap, hdrs, hmax, on_headers, on_body, &s);
  rf_resp_set_strict(&r, g_strict);
  rf_resp_set_lean(&r, g_lean);
  rf_resp_set_fast(&r, !g_no_fast);
  rf_resp_expect(&r, head, NULL, 0, NULL, 0);
  int rc = RF_RESP_MORE;
  size_t pos = 0;
  while (pos < len && rc == RF_RESP_MORE) {
    size_t plen = pos == 0 && cut.split ? cut.split : cut.step ? cut.step : len - pos;
    if (plen > len - pos)
      plen = len - pos;
    tu_guard g;
    const char *d = tu_guard_copy(&g, data + pos, plen);
    s.piece = d;
    s.piece_len = plen;
    size_t c;
    rc = rf_resp_feed(&r, d, plen, &c);
    if (rc < 0) {
      /* sticky: the same error again, nothing consumed */
      size_t c2 = 99;
      int rc2 = rf_resp_feed(&r, d, plen, &c2);
      CHECKF(rc2 == rc && c2 == 0, "%s: not sticky: %d then %d (consumed %zu)", what, rc, rc2, c2);
      CHECKF(rf_resp_eof(&r) == rc, "%s: eof after error is not the same error", what);
      CHECKF(!rf_resp_keep_alive(&r), "%s: keep-alive after an error", what);
    }
    tu_guard_free(&g);
    pos += plen;
  }
  if (rc == RF_RESP_MORE)
    rc = rf_resp_eof(&r);
  CHECKF(rc == want, "%s: rc %d (%s), want %d", what, rc, r.errmsg ? r.errmsg : "no message", want);
  CHECKF(r.errmsg != NULL && r.errmsg[0], "%s: no error message", what);
  CHECKF(!want_msg || (r.errmsg && strcmp(r.errmsg, want_msg) == 0), "%s: message \"%s\", want \"%s\"",
         what, r.errmsg ? r.errmsg : "", want_msg ? want_msg : "");
  free(s.body);
  free(hbuf);
  free(hdrs);
}

static void expect_error_msg(const char *name, const char *data, int want, const char *want_msg,
                             bool head, uint32_t hcap, uint32_t hmax) {
  size_t len = strlen(data);
  long before = tu_failures;
  expect_error_cut(name, data, len, want, want_msg, head, hcap, hmax, (cutting){0, 0});
  for (size_t k = 1; k < len && tu_failures - before < 10; k++)
    expect_error_cut(name, data, len, want, want_msg, head, hcap, hmax, (cutting){k, 0});
  expect_error_cut(name, data, len, want, want_msg, head, hcap, hmax, (cutting){0, 1});
}

static void expect_error_opts(const char *name, const char *data, int want, bool head,
                              uint32_t hcap, uint32_t hmax) {
  expect_error_msg(name, data, want, NULL, head, hcap, hmax);
}

static void expect_error(const char *name, const char *data, int want) {
  expect_error_opts(name, data, want, false, HBUF_CAP, HMAX);
}

static void test_errors(void) {
  expect_error("101 Switching Protocols",
               "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
               RF_RESP_E_BAD);
  expect_error("101 without upgrade headers", "HTTP/1.1 101 Switching Protocols\r\n\r\n",
               RF_RESP_E_BAD);
  expect_error("bad status code", "HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n", RF_RESP_E_BAD);
  expect_error("status below 100", "HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n", RF_RESP_E_BAD);
  expect_error("not HTTP", "HTTX/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", RF_RESP_E_BAD);
  expect_error("a request, not a response", "GET / HTTP/1.1\r\nHost: h\r\n\r\n", RF_RESP_E_BAD);
  expect_error("bad version", "HTTP/x.1 200 OK\r\nContent-Length: 0\r\n\r\n", RF_RESP_E_BAD);
  expect_error("bad chunk size",
               "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
               RF_RESP_E_BAD);
  expect_error("chunk size overflow",
               "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               "fffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
               RF_RESP_E_BAD);
  expect_error("invalid Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
               RF_RESP_E_BAD);
  expect_error("negative Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nx",
               RF_RESP_E_BAD);
  expect_error("two different Content-Lengths",
               "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", RF_RESP_E_BAD);
  expect_error("Content-Length overflow",
               "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\nx", RF_RESP_E_BAD);
  expect_error("control byte in header name",
               "HTTP/1.1 200 OK\r\nBad\x01Header: x\r\nContent-Length: 0\r\n\r\n", RF_RESP_E_BAD);

  /* EOF at each stage */
  expect_error("EOF before any byte", "", RF_RESP_E_CLOSED);
  expect_error("EOF in the status line", "HTTP/1.1 20", RF_RESP_E_CLOSED);
  expect_error("EOF mid-headers", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b", RF_RESP_E_CLOSED);
  expect_error("EOF mid-body (Content-Length)", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",
               RF_RESP_E_CLOSED);
  expect_error("EOF right after headers (Content-Length)",
               "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", RF_RESP_E_CLOSED);
  expect_error("EOF mid-body (chunked)",
               "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", RF_RESP_E_CLOSED);
  expect_error("EOF before the last chunk",
               "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
               RF_RESP_E_CLOSED);
  expect_error("EOF after an interim 100", "HTTP/1.1 100 Continue\r\n\r\n", RF_RESP_E_CLOSED);

  /* limits */
  static const char big[] = "HTTP/1.1 200 OK\r\nX-A: 0123456789\r\nX-B: 0123456789\r\n"
                            "Content-Length: 0\r\n\r\n";
  /* reason 2 + names 3+3+14 + values 10+10+1 = 43 bytes of storage */
  expect_error_opts("header storage too small", big, RF_RESP_E_TOO_LARGE, false, 42, HMAX);
  expect_error_opts("header storage tiny", big, RF_RESP_E_TOO_LARGE, false, 0, HMAX);
  expect_error_opts("too many headers", big, RF_RESP_E_TOO_LARGE, false, HBUF_CAP, 2);
  expect_error_opts("no header slots", big, RF_RESP_E_TOO_LARGE, false, HBUF_CAP, 0);
  {
    /* the exact sizes fit */
    static char hb[43];
    static rf_hspan hs[3];
    sink s = {.abort_body_at = -1, .piece = big, .piece_len = LEN(big)};
    rf_resp r;
    rf_resp_init(&r, hb, sizeof hb, hs, 3, on_headers, on_body, &s);
    rf_resp_set_strict(&r, g_strict);
    size_t c;
    int rc = rf_resp_feed(&r, big, LEN(big), &c);
    CHECKF(rc == RF_RESP_DONE, "exact header storage: rc %d (%s)", rc, r.errmsg ? r.errmsg : "");
    CHECK_EQ_INT(c, LEN(big));
    CHECK_EQ_INT(r.nh, 3);
    CHECK_EQ_INT(rf_resp_find(&r, "content-length"), 2);
    CHECK_EQ_INT(rf_resp_find(&r, "X-B"), 1);
    CHECK_EQ_INT(rf_resp_find(&r, "X-C"), -1);
    CHECK_EQ_INT(rf_resp_find(&r, "X-"), -1);
  }
  {
    /* an interim response's headers do not count against the final's room */
    static const char two[] = "HTTP/1.1 100 Continue\r\nX-1: a\r\nX-2: b\r\nX-3: c\r\n\r\n"
                              "HTTP/1.1 200 OK\r\nX-A: 0123456789\r\nX-B: 0123456789\r\n"
                              "Content-Length: 0\r\n\r\n";
    static char hb[43];
    static rf_hspan hs[3];
    sink s = {.abort_body_at = -1, .piece = two, .piece_len = LEN(two)};
    rf_resp r;
    rf_resp_init(&r, hb, sizeof hb, hs, 3, on_headers, on_body, &s);
    rf_resp_set_strict(&r, g_strict);
    size_t c;
    int rc = rf_resp_feed(&r, two, LEN(two), &c);
    CHECKF(rc == RF_RESP_DONE, "interim then exact storage: rc %d (%s)", rc,
           r.errmsg ? r.errmsg : "");
    CHECK_EQ_INT(c, LEN(two));
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(r.nh, 3);
  }
  {
    /* trailers share the header storage and slots: room sized exactly for
     * the headers plus 1 kB of trailers in 10 fields parses (values kept,
     * trailing whitespace trimmed); one byte or one slot less fails */
    char t[2048];
    char *p = t + sprintf(t, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "3\r\nabc\r\n0\r\n");
    for (int i = 0; i < 10; i++) {
      p += sprintf(p, "X-Trailer-%d: ", i);
      memset(p, 'v', 90);
      p += 90;
      p += sprintf(p, i % 2 ? " \t\r\n" : "\r\n");
    }
    p += sprintf(p, "\r\n");
    size_t tl = (size_t)(p - t);
    /* "OK" "Transfer-Encoding" "chunked", the trailers (trailing whitespace
     * takes room before it is trimmed, as in header values) */
    enum { ROOM = 2 + 17 + 7 + 10 * (11 + 90) + 5 * 2 };
    static char hb[ROOM];
    static rf_hspan hs[11];
    for (int less = 0; less < 3; less++) {
      for (size_t step = 1; step <= tl; step = step * 3 + 1) {
        sink s = {.abort_body_at = -1};
        rf_resp r;
        rf_resp_init(&r, hb, ROOM - (less == 1), hs, 11 - (less == 2), on_headers, on_body, &s);
        rf_resp_set_strict(&r, g_strict);
        rf_resp_set_lean(&r, g_lean);
        rf_resp_set_fast(&r, !g_no_fast);
        int rc = RF_RESP_MORE;
        size_t pos = 0, c = 0;
        while (pos < tl && rc == RF_RESP_MORE) {
          size_t n = tl - pos < step ? tl - pos : step;
          s.piece = t + pos;
          s.piece_len = n;
          rc = rf_resp_feed(&r, t + pos, n, &c);
          pos += c;
        }
        if (less) {
          CHECKF(rc == RF_RESP_E_TOO_LARGE && r.errmsg,
                 "trailers with %s too few, step %zu: rc %d (%s)", less == 1 ? "a byte" : "a slot",
                 step, rc, r.errmsg ? r.errmsg : "");
          free(s.body);
          continue;
        }
        CHECKF(rc == RF_RESP_DONE && pos == tl, "trailers with exact room, step %zu: rc %d (%s)",
               step, rc, r.errmsg ? r.errmsg : "");
        CHECK_EQ_INT(r.nh, 1);
        CHECK_EQ_INT(r.nt, g_lean ? 0 : 10); /* lean: counted (the same room), not kept */
        CHECK_EQ_INT(r.hlen, ROOM);
        for (uint32_t i = 0; i < r.nt && i < 10; i++) {
          const rf_hspan *h = &r.hdrs[r.nh + i];
          char name[16];
          snprintf(name, sizeof name, "X-Trailer-%u", i);
          CHECKF(h->name_len == strlen(name) && memcmp(hb + h->name_off, name, h->name_len) == 0 &&
                     h->value_len == 90 && hb[h->value_off] == 'v' && hb[h->value_off + 89] == 'v',
                 "trailer %u: \"%.*s\" (%u value bytes)", i, (int)h->name_len, hb + h->name_off,
                 h->value_len);
        }
        CHECK_EQ_INT(rf_resp_find(&r, "X-Trailer-0"), -1);
        CHECK_EQ_INT(rf_resp_find(&r, "transfer-encoding"), 0);
        CHECK(s.body_len == 3 && memcmp(s.body, "abc", 3) == 0);
        free(s.body);
      }
    }
  }
  {
    /* huge trailers are refused (storage is 4 kB) */
    size_t tn = 70000;
    char *t = malloc(tn + 256);
    char *p = t + sprintf(t, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX-T: ");
    memset(p, 'v', tn);
    p += tn;
    strcpy(p, "\r\n\r\n");
    expect_error_cut("70 kB trailer", t, strlen(t), RF_RESP_E_TOO_LARGE, NULL, false, HBUF_CAP,
                     HMAX, (cutting){0, 0});
    expect_error_cut("70 kB trailer", t, strlen(t), RF_RESP_E_TOO_LARGE, NULL, false, HBUF_CAP,
                     HMAX, (cutting){0, 999});
    free(t);
  }
}

/* ---- bare LF line endings (lenient mode) -------------------------------- */

/* Bare-LF responses. Each also runs alone in strict mode, where it must
 * give exactly what llhttp 8.1 alone gives (today's verdict: the messages
 * below were taken from the parser before lenient mode existed). */
/* every line of the head ends in LF; the body holds LFs, CRLFs and a CR */
#define LF_ALL "HTTP/1.1 200 OK\nContent-Length: 13\nX-A: 1\nX-Sp:  two words \t\nX-Empty:\n\n" \
               "a\nb\r\nc\n\n\r\n\rd\n"
#define LF_ALL_BODY "a\nb\r\nc\n\n\r\n\rd\n"
/* some lines */
#define LF_SOME "HTTP/1.1 200 OK\r\nContent-Length: 3\nX-B: 2\r\nX-C: 3\n\r\nabc"
/* the empty line only (llhttp 8.1 takes that one already) */
#define LF_LAST "HTTP/1.1 201 Created\r\nContent-Length: 3\r\nX-D: 4\r\n\nxyz"
/* the status line only (llhttp 8.1 takes that one already) */
#define LF_STATUS "HTTP/1.1 404 Not Found\nContent-Length: 0\r\n\r\n"
/* chunked: LF after sizes (with extensions, one quoted), after data (one
 * chunk's data ends in CRs, one is a lone LF), trailers, the last line */
#define LF_CH "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\nTrailer: X-Sum\n\n" \
              "5\nhe\nlo\n3;ext=1\n\r\nx\n4;a=\"q\"\r\nab\r\r\n2;q=\"a b\"\nzz\n"     \
              "00A\r\n0123456789\r\n1\n\n\n0\nX-Sum: abc\nX-More:  1 \r\n\n"
#define LF_CH_BODY "he\nlo\r\nxab\r\rzz0123456789\n"
/* CRLF chunked, LF ends the trailers only (llhttp 8.1 takes it) */
#define LF_TEND "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\n\n"
/* CRLF chunked but for the line end after the data */
#define LF_CEND "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n"
/* CRLF chunked but for the last chunk's line */
#define LF_CLAST "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\n\r\n"
/* close-delimited, LFs everywhere */
#define LF_EOF "HTTP/1.1 200 OK\nContent-Type: text/plain\n\n\n\nline\n\r\nmore\n\n\r"
#define LF_EOF_BODY "\n\nline\n\r\nmore\n\n\r"
/* interim responses */
#define LF_100 "HTTP/1.1 100 Continue\nX-I: 1\n\nHTTP/1.1 200 OK\nContent-Length: 2\n\nok"
#define LF_103 "HTTP/1.1 103 Early Hints\nLink: </a>\n\nHTTP/1.1 204 No Content\nContent-Length: 5\n\n"
/* no body: HEAD, 304, 204 */
#define LF_HEAD "HTTP/1.1 200 OK\nContent-Length: 1000\n\n"
#define LF_HEADC "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n"
#define LF_304 "HTTP/1.1 304 Not Modified\nETag: \"x\"\nContent-Length: 12\n\n"
#define LF_204 "HTTP/1.1 204 No Content\nTransfer-Encoding: chunked\n\n"
#define LF_HI "HTTP/1.1 200 OK\nContent-Length: 2\n\nhi"

/* strict mode: what llhttp 8.1 alone says (0: it parses, as lenient does) */
typedef struct strict_case {
  const char *name, *stream;
  bool head;
  int rc;
  const char *msg;
} strict_case;

static const strict_case strict_cases[] = {
    {"LF_ALL", LF_ALL, false, RF_RESP_E_BAD, "invalid header (Invalid header value char)"},
    {"LF_SOME", LF_SOME, false, RF_RESP_E_BAD, "invalid header (Invalid header value char)"},
    {"LF_LAST", LF_LAST, false, 0, NULL},
    {"LF_STATUS", LF_STATUS, false, 0, NULL},
    {"LF_CH", LF_CH, false, RF_RESP_E_BAD, "invalid header (Invalid header value char)"},
    {"LF_TEND", LF_TEND, false, 0, NULL},
    {"LF_CEND", LF_CEND, false, RF_RESP_E_BAD, "invalid chunk size (Invalid character in chunk size)"},
    {"LF_CLAST", LF_CLAST, false, RF_RESP_E_BAD, "invalid chunk size (Invalid character in chunk size)"},
    {"LF_EOF", LF_EOF, false, RF_RESP_E_BAD, "invalid header (Invalid header value char)"},
    {"LF_100", LF_100, false, RF_RESP_E_BAD, "invalid header (Invalid header value char)"},
    {"LF_103", LF_103, false, RF_RESP_E_BAD, "invalid header (Invalid header value char)"},
    {"LF_HEAD", LF_HEAD, true, RF_RESP_E_BAD, "invalid header (Invalid header value char)"},
    {"LF_HEADC", LF_HEADC, true, RF_RESP_E_BAD, "invalid header (Invalid header value char)"},
    {"LF_304", LF_304, false, RF_RESP_E_BAD, "invalid header (Invalid header value char)"},
    {"LF_204", LF_204, false, RF_RESP_E_BAD, "invalid header (Invalid header value char)"},
    {"LF_HI", LF_HI, false, RF_RESP_E_BAD, "invalid header (Invalid header value char)"},
    /* a chunk-size line with an extension and a bare LF */
    {"LF chunk extension",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b\nabc\r\n0\r\n\r\n", false,
     RF_RESP_E_BAD, "malformed HTTP response (Invalid character in chunk extensions value)"},
    {"LF chunk size",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", false,
     RF_RESP_E_BAD, "invalid chunk size (Invalid character in chunk size)"},
    {"LF trailer line",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX: y\n\r\n", false,
     RF_RESP_E_BAD, "invalid header (Invalid header value char)"},
};

static void test_bare_lf(void) {
  static const msg_exp heads[] = {
      {.status = 200, .reason = "OK", .major = 1, .minor = 1,
       .hdrs = {"Content-Length", "13", "X-A", "1", "X-Sp", "two words", "X-Empty", "", NULL},
       .body = LF_ALL_BODY, .one_span = true, .wire_len = LEN(LF_ALL), .keep_alive = true},
      {.status = 200, .reason = "OK", .major = 1, .minor = 1,
       .hdrs = {"Content-Length", "3", "X-B", "2", "X-C", "3", NULL}, .body = "abc",
       .one_span = true, .wire_len = LEN(LF_SOME), .keep_alive = true},
      {.status = 201, .reason = "Created", .major = 1, .minor = 1,
       .hdrs = {"Content-Length", "3", "X-D", "4", NULL}, .body = "xyz", .one_span = true,
       .wire_len = LEN(LF_LAST), .keep_alive = true},
      {.status = 404, .reason = "Not Found", .major = 1, .minor = 1,
       .hdrs = {"Content-Length", "0", NULL}, .wire_len = LEN(LF_STATUS), .keep_alive = true},
  };
  run_stream("bare LF: all lines, some lines, the empty line, the status line",
             LF_ALL LF_SOME LF_LAST LF_STATUS, heads, 4);
  run_stream("bare LF: all lines", LF_ALL, heads, 1);

  msg_exp chunked[] = { /* not static: the last entry copies heads[0] */
      {.status = 200, .reason = "OK", .major = 1, .minor = 1,
       .hdrs = {"Transfer-Encoding", "chunked", "Trailer", "X-Sum", NULL},
       .trls = {"X-Sum", "abc", "X-More", "1", NULL}, .body = LF_CH_BODY, .wire_len = LEN(LF_CH),
       .keep_alive = true},
      {.status = 200, .reason = "OK", .major = 1, .minor = 1,
       .hdrs = {"Transfer-Encoding", "chunked", NULL}, .trls = {"X-T", "1", NULL}, .body = "ok",
       .wire_len = LEN(LF_TEND), .keep_alive = true},
      {.status = 200, .reason = "OK", .major = 1, .minor = 1,
       .hdrs = {"Transfer-Encoding", "chunked", NULL}, .body = "abc", .wire_len = LEN(LF_CEND),
       .keep_alive = true},
      {.status = 200, .reason = "OK", .major = 1, .minor = 1,
       .hdrs = {"Transfer-Encoding", "chunked", NULL}, .body = "abc", .wire_len = LEN(LF_CLAST),
       .keep_alive = true},
      heads[0],
  };
  run_stream("bare LF: chunked x4, then Content-Length", LF_CH LF_TEND LF_CEND LF_CLAST LF_ALL,
             chunked, 5);

  static const msg_exp eof[] = {
      {.status = 200, .reason = "OK", .major = 1, .minor = 1, .hdrs = {"Content-Length", "3", "X-B", "2", "X-C", "3", NULL},
       .body = "abc", .one_span = true, .wire_len = LEN(LF_SOME), .keep_alive = true},
      {.status = 200, .reason = "OK", .major = 1, .minor = 1,
       .hdrs = {"Content-Type", "text/plain", NULL}, .body = LF_EOF_BODY, .one_span = true,
       .wire_len = LEN(LF_EOF), .needs_eof = true, .keep_alive = false},
  };
  run_stream("bare LF: Content-Length, then close-delimited", LF_SOME LF_EOF, eof, 2);

  static const msg_exp interim[] = {
      {.status = 200, .reason = "OK", .major = 1, .minor = 1, .hdrs = {"Content-Length", "2", NULL},
       .body = "ok", .wire_len = LEN(LF_100), .keep_alive = true},
      {.status = 204, .reason = "No Content", .major = 1, .minor = 1,
       .hdrs = {"Content-Length", "5", NULL}, .wire_len = LEN(LF_103), .keep_alive = true},
      {.status = 200, .reason = "OK", .major = 1, .minor = 1, .hdrs = {"Content-Length", "2", NULL},
       .body = "hi", .wire_len = LEN(LF_HI), .keep_alive = true},
  };
  run_stream("bare LF: 100 then 200; 103 then 204; 200", LF_100 LF_103 LF_HI, interim, 3);

  static const msg_exp nobody[] = {
      {.head = true, .status = 200, .reason = "OK", .major = 1, .minor = 1,
       .hdrs = {"Content-Length", "1000", NULL}, .wire_len = LEN(LF_HEAD), .keep_alive = true},
      {.head = true, .status = 200, .reason = "OK", .major = 1, .minor = 1,
       .hdrs = {"Transfer-Encoding", "chunked", NULL}, .wire_len = LEN(LF_HEADC), .keep_alive = true},
      {.status = 304, .reason = "Not Modified", .major = 1, .minor = 1,
       .hdrs = {"ETag", "\"x\"", "Content-Length", "12", NULL}, .wire_len = LEN(LF_304),
       .keep_alive = true},
      {.status = 204, .reason = "No Content", .major = 1, .minor = 1,
       .hdrs = {"Transfer-Encoding", "chunked", NULL}, .wire_len = LEN(LF_204), .keep_alive = true},
      {.status = 200, .reason = "OK", .major = 1, .minor = 1, .hdrs = {"Content-Length", "2", NULL},
       .body = "hi", .wire_len = LEN(LF_HI), .keep_alive = true},
  };
  run_stream("bare LF: HEAD, HEAD chunked, 304, 204, 200", LF_HEAD LF_HEADC LF_304 LF_204 LF_HI,
             nobody, 5);

  /* bodies full of LFs: byte-exact, and one body callback per piece fed
   * whatever the number of LFs (Content-Length and close-delimited) */
  for (int close = 0; close < 2; close++) {
    size_t blen = 10000;
    char *stream = malloc(blen + 128);
    int hn = close ? sprintf(stream, "HTTP/1.1 200 OK\n\n")
                   : sprintf(stream, "HTTP/1.1 200 OK\nContent-Length: %zu\n\n", blen);
    for (size_t i = 0; i < blen; i++)
      stream[hn + (int)i] = i % 2 ? '\n' : (i % 6 == 4 ? '\r' : 'a');
    stream[(size_t)hn + blen] = 0;
    char cl[32];
    snprintf(cl, sizeof cl, "%zu", blen);
    msg_exp m[1] = {{.status = 200, .reason = "OK", .major = 1, .minor = 1,
                     .hdrs = {"Content-Length", cl, NULL}, .body = stream + hn, .one_span = true,
                     .wire_len = (size_t)hn + blen, .needs_eof = close, .keep_alive = !close}};
    if (close)
      m[0].hdrs[0] = NULL;
    run_stream(close ? "close-delimited body of LFs" : "Content-Length body of LFs", stream, m, 1);
    /* fed whole: exactly one body callback */
    static char hb[256];
    static rf_hspan hs[4];
    sink s = {.abort_body_at = -1, .piece = stream, .piece_len = strlen(stream)};
    rf_resp r;
    rf_resp_init(&r, hb, sizeof hb, hs, 4, on_headers, on_body, &s);
    size_t c;
    int rc = rf_resp_feed(&r, stream, strlen(stream), &c);
    if (close)
      rc = rc == RF_RESP_MORE ? rf_resp_eof(&r) : -99;
    CHECKF(rc == RF_RESP_DONE && s.body_calls == 1 && s.body_len == blen,
           "body of LFs fed whole (close %d): rc %d, %llu callbacks, %zu bytes", close, rc,
           (unsigned long long)s.body_calls, s.body_len);
    free(s.body);
    free(stream);
  }

  /* the mode stays across rf_resp_expect; rf_resp_init makes it lenient */
  {
    static char hb[256];
    static rf_hspan hs[4];
    rf_resp r;
    size_t c;
    rf_resp_init(&r, hb, sizeof hb, hs, 4, NULL, NULL, NULL);
    rf_resp_set_strict(&r, true);
    CHECK_EQ_INT(rf_resp_feed(&r, LF_SOME, LEN(LF_SOME), &c), RF_RESP_E_BAD);
    rf_resp_expect(&r, false, NULL, 0, NULL, 0);
    CHECK_EQ_INT(rf_resp_feed(&r, LF_SOME, LEN(LF_SOME), &c), RF_RESP_E_BAD);
    rf_resp_set_strict(&r, false);
    rf_resp_expect(&r, false, NULL, 0, NULL, 0);
    CHECK_EQ_INT(rf_resp_feed(&r, LF_SOME, LEN(LF_SOME), &c), RF_RESP_DONE);
    CHECK_EQ_INT(c, LEN(LF_SOME));
    rf_resp_init(&r, hb, sizeof hb, hs, 4, NULL, NULL, NULL);
    CHECK_EQ_INT(rf_resp_feed(&r, LF_SOME, LEN(LF_SOME), &c), RF_RESP_DONE);
  }

  /* strict mode: today's verdicts */
  g_strict = true;
  for (size_t i = 0; i < sizeof strict_cases / sizeof strict_cases[0]; i++) {
    const strict_case *c = &strict_cases[i];
    char name[96];
    snprintf(name, sizeof name, "strict %s", c->name);
    if (c->rc)
      expect_error_msg(name, c->stream, c->rc, c->msg, c->head, HBUF_CAP, HMAX);
  }
  run_stream("bare LF where llhttp 8.1 takes it", LF_LAST LF_STATUS, heads + 2, 2);
  g_strict = false;
  /* ... and lenient mode parses each one alone */
  for (size_t i = 0; i < sizeof strict_cases / sizeof strict_cases[0]; i++) {
    const strict_case *c = &strict_cases[i];
    sink s = {.abort_body_at = -1, .piece = c->stream, .piece_len = strlen(c->stream)};
    static char hb[1024];
    static rf_hspan hs[16];
    rf_resp r;
    rf_resp_init(&r, hb, sizeof hb, hs, 16, on_headers, on_body, &s);
    rf_resp_expect(&r, c->head, NULL, 0, NULL, 0);
    size_t n = strlen(c->stream), done = 0, used;
    int rc;
    while ((rc = rf_resp_feed(&r, c->stream + done, n - done, &used)) == RF_RESP_DONE &&
           done + used < n) {
      done += used;
      rf_resp_expect(&r, c->head, NULL, 0, NULL, 0);
    }
    if (rc == RF_RESP_MORE)
      rc = rf_resp_eof(&r);
    CHECKF(rc == RF_RESP_DONE, "lenient %s: rc %d (%s)", c->name, rc, r.errmsg ? r.errmsg : "");
    free(s.body);
  }
}

/* Rejected in both modes, or only in lenient mode where llhttp 8.1 takes
 * something ambiguous (a CR followed by another byte, garbage after chunk
 * data); the Transfer-Encoding values llhttp 8.1 reads as chunked or not. */
static void test_lenient_limits(void) {
  static const struct {
    const char *name, *stream;
    const char *lenient_msg; /* NULL: as strict */
    const char *strict_msg;  /* NULL: strict mode parses it */
  } cases[] = {
      {"bare CR in a header value", "HTTP/1.1 200 OK\r\nX-A: b\rc\r\nContent-Length: 0\r\n\r\n",
       "malformed HTTP response (CR not followed by LF)",
       "malformed HTTP response (Missing expected LF after header value)"},
      {"bare CR ending a header value", "HTTP/1.1 200 OK\r\nX-A: b\rContent-Length: 0\r\n\r\n",
       "malformed HTTP response (CR not followed by LF)",
       "malformed HTTP response (Missing expected LF after header value)"},
      {"bare CR in a header value, bare LFs", "HTTP/1.1 200 OK\nX-A: b\rc\nContent-Length: 0\n\n",
       "malformed HTTP response (CR not followed by LF)",
       "malformed HTTP response (Missing expected LF after header value)"},
      {"CR CR LF after a header", "HTTP/1.1 200 OK\r\nX-A: b\r\r\nContent-Length: 0\r\n\r\n",
       "malformed HTTP response (CR not followed by LF)",
       "malformed HTTP response (Missing expected LF after header value)"},
      {"Content-Length and Transfer-Encoding",
       "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
       NULL, "bad Content-Length (Content-Length can't be present with Transfer-Encoding)"},
      {"Transfer-Encoding and Content-Length, bare LFs",
       "HTTP/1.1 200 OK\nTransfer-Encoding: gzip\nContent-Length: 3\n\nabc",
       "bad Content-Length (Content-Length can't be present with Transfer-Encoding)",
       "invalid header (Invalid header value char)"},
      {"the same Content-Length twice",
       "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", NULL,
       "bad Content-Length (Duplicate Content-Length)"},
      {"two Content-Lengths, bare LFs", "HTTP/1.1 200 OK\nContent-Length: 3\nContent-Length: 4\n\nabcd",
       "bad Content-Length (Duplicate Content-Length)",
       "invalid header (Invalid header value char)"},
      {"Content-Length list", "HTTP/1.1 200 OK\nContent-Length: 3, 3\n\nabc",
       "bad Content-Length (Invalid character in Content-Length)",
       "bad Content-Length (Invalid character in Content-Length)"},
      {"bare LF in a header name", "HTTP/1.1 200 OK\nX-A\nContent-Length: 0\n\n",
       "invalid header (Invalid header token)", "invalid header (Invalid header token)"},
      {"bare LF in a quoted chunk extension",
       "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3;a=\"x\ny\"\nabc\n0\n\n",
       "malformed HTTP response (Invalid character in chunk extensions quoted value)",
       "invalid header (Invalid header value char)"},
      /* llhttp 8.1 takes these; lenient mode does not */
      {"CR then a byte after the status line", "HTTP/1.1 200 OK\rXContent-Length: 3\r\n\r\nabc",
       "malformed HTTP response (CR not followed by LF)", NULL},
      {"CR CR LF after the status line", "HTTP/1.1 200 OK\r\r\nContent-Length: 3\r\n\r\nabc",
       "malformed HTTP response (CR not followed by LF)", NULL},
      {"CR then a byte ending an empty header value",
       "HTTP/1.1 200 OK\r\nX-A: \rXContent-Length: 3\r\n\r\nabc",
       "malformed HTTP response (CR not followed by LF)", NULL},
      {"CR then a byte ending the head", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\rXabc",
       "malformed HTTP response (CR not followed by LF)", NULL},
      {"CR then a byte after a chunk size",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\rXabc\r\n0\r\n\r\n",
       "malformed HTTP response (CR not followed by LF)", NULL},
      {"CR then a byte after chunk data",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\rX0\r\n\r\n",
       "malformed HTTP response (CR not followed by LF)", NULL},
      {"garbage after chunk data",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n",
       "malformed HTTP response (Expected CRLF after chunk)", NULL},
      {"CR then a byte ending the trailers",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\rX",
       "malformed HTTP response (CR not followed by LF)", NULL},
  };
  for (int strict = 0; strict < 2; strict++) {
    g_strict = strict;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      const char *msg = strict ? cases[i].strict_msg
                               : cases[i].lenient_msg ? cases[i].lenient_msg : cases[i].strict_msg;
      if (msg) {
        expect_error_msg(cases[i].name, cases[i].stream, RF_RESP_E_BAD, msg, false, HBUF_CAP, HMAX);
        continue;
      }
      /* strict mode (llhttp 8.1) parses it ("\r\r\n" after the status
       * line even ends the head there: the rest is read until close) */
      sink s = {.abort_body_at = -1, .piece = cases[i].stream, .piece_len = strlen(cases[i].stream)};
      static char hb[1024];
      static rf_hspan hs[16];
      rf_resp r;
      rf_resp_init(&r, hb, sizeof hb, hs, 16, on_headers, on_body, &s);
      rf_resp_set_strict(&r, true);
      size_t c;
      int rc = rf_resp_feed(&r, cases[i].stream, strlen(cases[i].stream), &c);
      if (rc == RF_RESP_MORE)
        rc = rf_resp_eof(&r);
      CHECKF(rc == RF_RESP_DONE, "strict %s: rc %d (%s)", cases[i].name, rc,
             r.errmsg ? r.errmsg : "");
      free(s.body);
    }
  }
  g_strict = false;

  /* llhttp 8.1 drops everything after an interim response that does not keep
   * the connection (HTTP/1.0 without keep-alive): the final response never
   * comes, in both modes, and lenient mode does not look at those bytes
   * (a bare CR there is no error) */
  for (int strict = 0; strict < 2; strict++) {
    g_strict = strict;
    expect_error_msg("HTTP/1.0 100, then a response llhttp drops",
                     "HTTP/1.0 100 Continue\r\n\r\nHTTP/1.0 200 OK\nX: a\rb\nContent-Length: 2\n\nok",
                     RF_RESP_E_CLOSED, "connection closed inside the response headers", false,
                     HBUF_CAP, HMAX);
  }
  g_strict = false;

  /* Transfer-Encoding as llhttp 8.1 reads it, in both modes */
#define TE(v) "HTTP/1.1 200 OK\r\nTransfer-Encoding: " v "\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
#define TE_BODY "3\r\nabc\r\n0\r\n\r\n"
#define TE2 "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" TE_BODY
  static const msg_exp te_close[] = {
      {.status = 200, .reason = "OK", .major = 1, .minor = 1,
       .hdrs = {"Transfer-Encoding", "chunked, foo", NULL}, .body = TE_BODY,
       .wire_len = LEN(TE("chunked, foo")), .needs_eof = true, .keep_alive = false},
      {.status = 200, .reason = "OK", .major = 1, .minor = 1, .hdrs = {"Transfer-Encoding", "foo", NULL},
       .body = TE_BODY, .wire_len = LEN(TE("foo")), .needs_eof = true, .keep_alive = false},
  };
  static const msg_exp te_chunked[] = {
      {.status = 200, .reason = "OK", .major = 1, .minor = 1,
       .hdrs = {"Transfer-Encoding", "gzip, chunked", NULL}, .body = "abc",
       .wire_len = LEN(TE("gzip, chunked")), .keep_alive = true},
      {.status = 200, .reason = "OK", .major = 1, .minor = 1,
       .hdrs = {"Transfer-Encoding", "chunked", "Transfer-Encoding", "chunked", NULL}, .body = "abc",
       .wire_len = LEN(TE2),
       .keep_alive = true},
  };
  for (int strict = 0; strict < 2; strict++) {
    g_strict = strict;
    run_stream("Transfer-Encoding: chunked, foo (read until close)", TE("chunked, foo"), te_close, 1);
    run_stream("Transfer-Encoding: foo (read until close)", TE("foo"), te_close + 1, 1);
    run_stream("Transfer-Encoding: gzip, chunked (chunked); chunked twice (chunked)",
               TE("gzip, chunked") TE2,
               te_chunked, 2);
  }
  g_strict = false;
#undef TE
#undef TE2
#undef TE_BODY
}

/* ---- callbacks that stop the parse, reuse after errors ------------------ */

static void test_abort(void) {
  static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
  static char hb[256];
  static rf_hspan hs[8];
  for (int which = 0; which < 2; which++) {
    sink s = {.abort_body_at = which == 0 ? 4 : -1, .abort_headers = which == 1};
    rf_resp r;
    rf_resp_init(&r, hb, sizeof hb, hs, 8, on_headers, on_body, &s);
    rf_resp_set_strict(&r, g_strict);
    /* body in two feeds: abort at the 4th byte, which is in the first */
    s.piece = resp;
    s.piece_len = LEN(resp);
    size_t c;
    int rc = rf_resp_feed(&r, resp, LEN(resp) - 3, &c);
    CHECKF(rc == RF_RESP_E_ABORT, "abort from %s callback: rc %d", which ? "headers" : "body", rc);
    CHECK(r.errmsg != NULL);
    rc = rf_resp_feed(&r, resp + LEN(resp) - 3, 3, &c);
    CHECK_EQ_INT(rc, RF_RESP_E_ABORT);
    CHECK_EQ_INT(c, 0);
    if (which == 1)
      CHECK_EQ_INT(s.body_calls, 0);
    free(s.body);
  }
  /* rf_resp_expect clears an error: the same object parses a fresh stream */
  {
    sink s = {.abort_body_at = -1};
    rf_resp r;
    rf_resp_init(&r, hb, sizeof hb, hs, 8, on_headers, on_body, &s);
    rf_resp_set_strict(&r, g_strict);
    static const char bad[] = "HTTP/1.1 abc\r\n\r\n";
    size_t c;
    CHECK_EQ_INT(rf_resp_feed(&r, bad, LEN(bad), &c), RF_RESP_E_BAD);
    rf_resp_expect(&r, false, NULL, 0, NULL, 0);
    s.piece = resp;
    s.piece_len = LEN(resp);
    int rc = rf_resp_feed(&r, resp, LEN(resp), &c);
    CHECKF(rc == RF_RESP_DONE, "reuse after error: rc %d (%s)", rc, r.errmsg ? r.errmsg : "");
    CHECK_EQ_INT(c, LEN(resp));
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(s.body_len, 10);
    free(s.body);
  }
  /* feeding nothing is harmless; without callbacks the parse still works */
  {
    rf_resp r;
    rf_resp_init(&r, hb, sizeof hb, hs, 8, NULL, NULL, NULL);
    rf_resp_set_strict(&r, g_strict);
    size_t c = 5;
    CHECK_EQ_INT(rf_resp_feed(&r, resp, 0, &c), RF_RESP_MORE);
    CHECK_EQ_INT(c, 0);
    CHECK_EQ_INT(rf_resp_feed(&r, resp, LEN(resp), &c), RF_RESP_DONE);
    CHECK_EQ_INT(r.body_bytes, 10);
  }
  /* rf_resp_expect can switch storage */
  {
    rf_resp r;
    static char hb2[64];
    static rf_hspan hs2[2];
    rf_resp_init(&r, hb, sizeof hb, hs, 8, NULL, NULL, NULL);
    rf_resp_set_strict(&r, g_strict);
    rf_resp_expect(&r, false, hb2, sizeof hb2, hs2, 2);
    size_t c;
    CHECK_EQ_INT(rf_resp_feed(&r, resp, LEN(resp), &c), RF_RESP_DONE);
    CHECK(r.hbuf == hb2 && r.hdrs == hs2 && r.nh == 1);
    CHECK(r.nh == 1 && memcmp(hb2 + hs2[0].name_off, "Content-Length", 14) == 0);
  }
}

/* Lean mode keeps a Transfer-Encoding field whatever its case and however
 * its name is cut, and nothing whose name only starts like it. */
static void test_lean(void) {
  static const char resp[] = "HTTP/1.1 200 OK\r\nTransfer-Encodingx: a\r\nX-A: b\r\n"
                             "TRANSFER-encoding: gzip \r\nTransfer: c\r\nTransfer-Encoding: chunked\r\n"
                             "\r\n0\r\n\r\n";
  for (size_t step = 1; step <= LEN(resp); step++) {
    static char hb[HBUF_CAP];
    static rf_hspan hs[HMAX];
    rf_resp r;
    rf_resp_init(&r, hb, sizeof hb, hs, HMAX, NULL, NULL, NULL);
    rf_resp_set_lean(&r, true);
    int rc = RF_RESP_MORE;
    size_t pos = 0, c = 0;
    while (pos < LEN(resp) && rc == RF_RESP_MORE) {
      size_t n = LEN(resp) - pos < step ? LEN(resp) - pos : step;
      tu_guard g;
      rc = rf_resp_feed(&r, tu_guard_copy(&g, resp + pos, n), n, &c);
      tu_guard_free(&g);
      pos += c;
    }
    CHECKF(rc == RF_RESP_DONE && r.chunked, "lean, step %zu: rc %d (%s)", step, rc, r.errmsg ? r.errmsg : "");
    CHECKF(r.nh == 2, "lean, step %zu: %u fields kept", step, r.nh);
    for (uint32_t i = 0; i < r.nh && i < 2; i++) {
      const char *v = i ? "chunked" : "gzip";
      const rf_hspan *h = &hs[i];
      CHECKF(h->name_len == 17 && strncasecmp(hb + h->name_off, "transfer-encoding", 17) == 0 &&
                 h->value_len == strlen(v) && memcmp(hb + h->value_off, v, h->value_len) == 0,
             "lean, step %zu: field %u is \"%.*s: %.*s\"", step, i, (int)h->name_len, hb + h->name_off,
             (int)h->value_len, hb + h->value_off);
    }
    CHECK_EQ_INT(rf_resp_find(&r, "x-a"), -1);
  }
}

/* ---- the fast path ---------------------------------------------------------
 * Every stream above ran with it (the default) and again without. Here, a
 * catalogue of responses at its edges is parsed both ways -- whole, and cut
 * in two at every byte -- and everything a caller sees must be the same:
 * each response's verdict, status, reason, version, fields, body (and how
 * much of the input it took), keep-alive, error message. Each entry also
 * says whether the fast path takes its first response when whole: a fast
 * path that always declined would pass the comparison. */

typedef struct fast_case {
  const char *name, *wire;
  bool head, fast; /* the request was HEAD; the fast path must take the first response */
  uint32_t hcap, hmax; /* 0: HBUF_CAP, HMAX */
  int abort;           /* 1: the headers callback aborts, 2: the body callback does */
} fast_case;

/* Parses c->wire cut at split (0: whole) with the fast path on or off, then
 * EOF; appends what a caller sees to log. Returns whether the fast path
 * read the first response. */
static bool fast_log(const fast_case *c, size_t split, bool fast, char *log, size_t cap) {
  static char hb[HBUF_CAP];
  static rf_hspan hs[HMAX];
  size_t len = strlen(c->wire), n = 0;
  sink s = {.abort_body_at = c->abort == 2 ? 0 : -1, .abort_headers = c->abort == 1};
  rf_resp r;
  rf_resp_init(&r, hb, c->hcap ? c->hcap : HBUF_CAP, hs, c->hmax ? c->hmax : HMAX, on_headers, on_body, &s);
  rf_resp_set_strict(&r, g_strict);
  rf_resp_set_lean(&r, g_lean);
  rf_resp_set_fast(&r, fast);
  rf_resp_expect(&r, c->head, NULL, 0, NULL, 0);
  bool first_fast = false;
  int done = 0, rc = RF_RESP_MORE;
  size_t pos = 0, bounds[2] = {split ? split : len, len};
#define LOG(...) (n += (size_t)snprintf(log + n, n < cap ? cap - n : 0, __VA_ARGS__), n = n < cap ? n : cap)
  for (int part = 0; part < 2 && (rc == RF_RESP_MORE || rc == RF_RESP_DONE); part++) {
    while (pos < bounds[part]) {
      tu_guard g;
      const char *d = tu_guard_copy(&g, c->wire + pos, bounds[part] - pos);
      s.piece = d;
      s.piece_len = bounds[part] - pos;
      size_t used = 0;
      rc = rf_resp_feed(&r, d, bounds[part] - pos, &used);
      tu_guard_free(&g);
      pos += used;
      if (pos == used && done == 0)
        first_fast = r.fast; /* after the first feed, whatever it returned */
      if (rc != RF_RESP_DONE)
        break;
      done++;
      LOG("[%d %d \"%.*s\" %d.%d at %zu", rc, r.status, (int)r.reason_len, hb + r.reason_off, r.http_major,
          r.http_minor, pos);
      for (uint32_t i = 0; i < r.nh + r.nt; i++)
        LOG(" %.*s=%.*s", (int)hs[i].name_len, hb + hs[i].name_off, (int)hs[i].value_len, hb + hs[i].value_off);
      LOG(" hlen %u body %zu:%.*s keep %d]", r.hlen, s.body_len, (int)s.body_len, s.body ? s.body : "",
          rf_resp_keep_alive(&r));
      sink_reset(&s);
      /* on after a response that closes the connection too: whatever
       * follows must be read (or dropped) the same way */
      rf_resp_expect(&r, c->head, NULL, 0, NULL, 0);
    }
    if (rc != RF_RESP_MORE && rc != RF_RESP_DONE)
      break;
  }
  if (rc == RF_RESP_MORE)
    rc = rf_resp_eof(&r);
  LOG("[end %d %s body %zu]", rc, rc < 0 && r.errmsg ? r.errmsg : "", s.body_len);
#undef LOG
  free(s.body);
  return first_fast;
}

static void test_fast_path(void) {
#define NGINX_HEAD "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Wed, 02 Dec 2026 03:00:00 GMT\r\n" \
                   "Content-Type: application/octet-stream\r\nContent-Length: 10\r\n" \
                   "Last-Modified: Tue, 01 Dec 2026 10:00:00 GMT\r\nConnection: keep-alive\r\n" \
                   "ETag: \"692e1f\"\r\nAccept-Ranges: bytes\r\n\r\n"
  static const fast_case cases[] = {
      {.name = "nginx", .wire = NGINX_HEAD "0123456789", .fast = true},
      {.name = "nginx, pipelined x3", .wire = NGINX_HEAD "0123456789" NGINX_HEAD "abcdefghij" NGINX_HEAD "ABCDEFGHIJ", .fast = true},
      {.name = "Connection: close", .wire = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nokHTTP/1.1 200 OK\r\n", .fast = true},
      {.name = "Connection: Keep-Alive, CLOSE", .wire = "HTTP/1.1 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n"
                                        "HTTP/1.1 404 Not Found\r\nCONNECTION: CLOSE \r\nContent-Length: 1\r\n\r\nx", .fast = true},
      {.name = "Content-Length with spaces", .wire = "HTTP/1.1 200 OK\r\nContent-Length: \t 3  \r\n\r\nabc", .fast = true},
      {.name = "Content-Length, then a tab", .wire = "HTTP/1.1 200 OK\r\nContent-Length: 3\t\r\n\r\nabc"},
      {.name = "values: tabs, empty, spaces", .wire = "HTTP/1.1 200 OK\r\nX-A:\ta\tb\t\r\nX-Empty:\r\nX-Sp:    \r\nX-B:  b  c  \r\n"
                                      "Content-Length: 1\r\n\r\nz", .fast = true},
      {.name = "204 and 304 with Content-Length, then 200", .wire = "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"
                                                    "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"
                                                    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHELLO", .fast = true},
      {.name = "HEAD with Content-Length", .wire = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", .head = true, .fast = true},
      {.name = "HEAD without length", .wire = "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", .head = true, .fast = true},
      {.name = "empty reason, 999", .wire = "HTTP/1.1 200 \r\nContent-Length: 1\r\n\r\nxHTTP/1.1 999 Odd\r\nContent-Length: 0\r\n\r\n", .fast = true},
      {.name = "reason with tab and symbols", .wire = "HTTP/1.1 503 Slow\tDown (try ~later)!\r\nContent-Length: 0\r\n\r\n", .fast = true},
      {.name = "exact header room", .wire = "HTTP/1.1 200 OK\r\nAb: cd\r\nContent-Length: 0\r\n\r\n", .fast = true, .hcap = 2 + 4 + 15, .hmax = 2},
      {.name = "one field too many", .wire = "HTTP/1.1 200 OK\r\nAb: cd\r\nEf: gh\r\nContent-Length: 0\r\n\r\n", .hmax = 2},
      {.name = "one byte too many", .wire = "HTTP/1.1 200 OK\r\nAb: cd\r\nContent-Length: 0\r\n\r\n", .hcap = 2 + 4 + 14},
      {.name = "reason over the room", .wire = "HTTP/1.1 200 A long reason\r\nContent-Length: 0\r\n\r\n", .hcap = 4},
      {.name = "headers callback aborts", .wire = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", .fast = true, .abort = 1},
      {.name = "body callback aborts", .wire = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", .fast = true, .abort = 2},
      {.name = "a body in many feeds, then more", .wire = "HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n"
                                                    "0123456789012345678901234567890123456789HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
       .fast = true},
      {.name = "body not all here", .wire = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234", .fast = true},
      {.name = "no body here yet", .wire = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", .fast = true},
      {.name = "names of every tchar, long and short", .wire = "HTTP/1.1 200 OK\r\nX-Long-Name-Of-Letters-And-Digits-0123456789: a\r\n"
                                                           "x!#$%&'*+-.^_`|~Z: b\r\nA_B: c\r\nZZ`: d\r\n~: e\r\n"
                                                           "Content-Length: 1\r\n\r\nx",
       .fast = true},
      /* what the fast path leaves to llhttp */
      {.name = "HTTP/1.0", .wire = "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx"},
      {.name = "no reason", .wire = "HTTP/1.1 200\r\nContent-Length: 1\r\n\r\nx"},
      {.name = "100 Continue first", .wire = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"},
      {.name = "101", .wire = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n"},
      {.name = "chunked", .wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"},
      {.name = "chunked and Content-Length", .wire = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"},
      {.name = "two equal Content-Length", .wire = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"},
      {.name = "Content-Length: 1x", .wire = "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\nxx"},
      {.name = "Content-Length: +1", .wire = "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx"},
      {.name = "Content-Length: 1 1", .wire = "HTTP/1.1 200 OK\r\nContent-Length: 1 1\r\n\r\nxx"},
      {.name = "empty Content-Length", .wire = "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n"},
      {.name = "Content-Length of 20 digits", .wire = "HTTP/1.1 200 OK\r\nContent-Length: 00000000000000000001\r\n\r\nx"},
      {.name = "Connection: close, keep-alive", .wire = "HTTP/1.1 200 OK\r\nConnection: close, keep-alive\r\nContent-Length: 0\r\n\r\n"},
      {.name = "Connection: upgrade", .wire = "HTTP/1.1 200 OK\r\nConnection: upgrade\r\nUpgrade: h2c\r\nContent-Length: 0\r\n\r\n"},
      {.name = "Proxy-Connection: close", .wire = "HTTP/1.1 200 OK\r\nProxy-Connection: close\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n"},
      {.name = "close-delimited", .wire = "HTTP/1.1 200 OK\r\nServer: x\r\n\r\nuntil close"},
      {.name = "obs-fold", .wire = "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n"},
      {.name = "bare LF", .wire = "HTTP/1.1 200 OK\nContent-Length: 1\n\nx"},
      {.name = "bare CR", .wire = "HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n"},
      {.name = "obs-text value", .wire = "HTTP/1.1 200 OK\r\nX-A: caf\xc3\xa9\r\nContent-Length: 0\r\n\r\n"},
      {.name = "obs-text reason", .wire = "HTTP/1.1 200 Tr\xc3\xa8s bien\r\nContent-Length: 0\r\n\r\n"},
      {.name = "control byte in a value", .wire = "HTTP/1.1 200 OK\r\nX-A: a\x01z\r\nContent-Length: 0\r\n\r\n"},
      {.name = "0x1f in a long value", .wire = "HTTP/1.1 200 OK\r\nETag: \x1f" "0123456789abcdef0123456789\r\nContent-Length: 0\r\n\r\n"},
      {.name = "0x1f late in a long value", .wire = "HTTP/1.1 200 OK\r\nETag: 0123456789abcdef0123456789\x1f\r\nContent-Length: 0\r\n\r\n"},
      {.name = "0x20 and 0x7e in a long value", .wire = "HTTP/1.1 200 OK\r\nX-A: ~ 0123456789abcdef 0123456789 ~\r\nContent-Length: 0\r\n\r\n", .fast = true},
      {.name = "DEL in a value", .wire = "HTTP/1.1 200 OK\r\nX-A: a\x7fz\r\nContent-Length: 0\r\n\r\n"},
      {.name = "space before the colon", .wire = "HTTP/1.1 200 OK\r\nX-A : a\r\nContent-Length: 0\r\n\r\n"},
      {.name = "empty name", .wire = "HTTP/1.1 200 OK\r\n: a\r\nContent-Length: 0\r\n\r\n"},
      {.name = "separator in a name", .wire = "HTTP/1.1 200 OK\r\nX(A): a\r\nContent-Length: 0\r\n\r\n"},
      /* bytes next to the letters, digits and '-' a name is checked for 16 at a time */
      {.name = "'@' in a long name", .wire = "HTTP/1.1 200 OK\r\nX-Some-Long@Name: a\r\nContent-Length: 0\r\n\r\n"},
      {.name = "'[' in a long name", .wire = "HTTP/1.1 200 OK\r\nX-Some-Long[Name: a\r\nContent-Length: 0\r\n\r\n"},
      {.name = "'/' in a long name", .wire = "HTTP/1.1 200 OK\r\nX-Some-Long/Name: a\r\nContent-Length: 0\r\n\r\n"},
      {.name = "'{' in a long name", .wire = "HTTP/1.1 200 OK\r\nX-Some-Long{Name: a\r\nContent-Length: 0\r\n\r\n"},
      {.name = "obs-text in a long name", .wire = "HTTP/1.1 200 OK\r\nX-Some-Long\xc3\xa9Name: a\r\nContent-Length: 0\r\n\r\n"},
      {.name = "'@' ending the first 16 bytes", .wire = "HTTP/1.1 200 OK\r\nX-Some-Long-Nam@e: a\r\nContent-Length: 0\r\n\r\n"},
      {.name = "'@' starting the second 16 bytes", .wire = "HTTP/1.1 200 OK\r\nX-Some-Long-Name@: a\r\nContent-Length: 0\r\n\r\n"},
      {.name = "'@' inside the second 16 bytes", .wire = "HTTP/1.1 200 OK\r\nX-Some-Long-Name-Xy@z: a\r\nContent-Length: 0\r\n\r\n"},
      {.name = "a 32-byte name: the colon opens the third block", .wire = "HTTP/1.1 200 OK\r\n"
                                                          "X-Thirty-Two-Byte-Name-012345678: a\r\nContent-Length: 0\r\n\r\n",
       .fast = true},
      {.name = "CR in a long name", .wire = "HTTP/1.1 200 OK\r\nX-Some-Long\rName: a\r\nContent-Length: 0\r\n\r\n"},
      {.name = "empty lines before the status line", .wire = "\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"},
      {.name = "status 099", .wire = "HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n"},
      {.name = "status 20x", .wire = "HTTP/1.1 20x OK\r\nContent-Length: 0\r\n\r\n"},
      {.name = "status 2000", .wire = "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n"},
      {.name = "lowercase version", .wire = "http/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
      {.name = "HTTP/1.2", .wire = "HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n"},
      {.name = "not HTTP", .wire = "SSH-2.0-OpenSSH_9.2\r\n"},
  };
  char a[4096], b[4096];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const fast_case *c = &cases[i];
    size_t len = strlen(c->wire);
    for (size_t split = 0; split < len; split++) {
      bool took = fast_log(c, split, true, a, sizeof a);
      bool took_off = fast_log(c, split, false, b, sizeof b);
      CHECKF(strcmp(a, b) == 0, "fast path, %s%s, split@%zu:\n  fast %s\n  llhttp %s", g_lean ? "lean, " : "",
             c->name, split, a, b);
      CHECKF(!took_off, "%s: the fast path ran while off", c->name);
      if (split == 0)
        CHECKF(took == c->fast, "fast path, %s: %s the first response", c->name, took ? "took" : "left");
    }
  }
#undef NGINX_HEAD
}

/* The CRLF streams: they parse the same in every mode. */
static void crlf_streams(void) {
  test_content_length();
  test_chunked();
  test_close_delimited();
  test_no_body_responses();
  test_keep_alive();
  test_large_body();
  test_errors();
  test_abort();
}

int main(void) {
  crlf_streams();
  test_bare_lf();
  test_lenient_limits();
  test_fast_path();
  /* the CRLF streams again, in strict mode */
  g_strict = true;
  crlf_streams();
  g_strict = false;
  /* all of it again in lean mode: the same results, only Transfer-Encoding kept */
  g_lean = true;
  crlf_streams();
  test_bare_lf();
  test_lenient_limits();
  test_lean();
  test_fast_path();
  g_lean = false;
  /* and once more with every response through llhttp */
  g_no_fast = true;
  crlf_streams();
  test_bare_lf();
  test_lenient_limits();
  g_no_fast = false;
  return TU_EXIT();
}
