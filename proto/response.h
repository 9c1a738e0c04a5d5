/* HTTP/1.1 response parsing on top of llhttp 8.1.
 *
 * The parser assembles the status reason, header fields and chunked trailer
 * fields into storage the caller provides (fragments split across input
 * buffers are joined there), and hands body bytes to a callback as spans of
 * the input. It works around the llhttp 8.1 pitfalls: responses to HEAD,
 * 1xx, 204 and 304 never have a body (even with Content-Length), interim 1xx
 * responses are skipped, and a message boundary stops the parse so the
 * caller can see where the next response begins.
 *
 * Line endings. By default (lenient mode) a bare LF ends a framing line the
 * way curl and browsers read it (RFC 9112 section 2.2): the status line,
 * header and trailer lines, the empty line ending the head or the trailers,
 * chunk-size lines (extensions included) and the line end after chunk data.
 * Body bytes are never looked at. A bare CR (not followed by LF) in any of
 * those lines is an error, and after chunk data only CRLF or LF may follow.
 * rf_resp_set_strict() parses exactly as llhttp 8.1 alone does instead
 * (bare LF rejected where llhttp rejects it). See "lenient line endings"
 * in response.c for how the LF is handed to llhttp.
 *
 * Transfer-Encoding as llhttp 8.1 reads a response (found by test, the same
 * in both modes; tests/unit/test_response.c checks "chunked, foo", "foo",
 * "gzip, chunked" and "chunked" twice):
 *   "chunked, foo"                  -> not chunked: body read until close, raw
 *   "foo", "identity", "" (empty)   -> not chunked: body read until close, raw
 *   "gzip, chunked"                 -> chunked (de-chunked; gzip left as is)
 *   "chunked" in two fields         -> chunked, de-chunked once; also
 *                                      "chunked, chunked" and "gzip" then
 *                                      "chunked" in two fields
 *   "chunked" then "gzip" in two fields, "chunked;q=1", "chunkedx"
 *                                   -> not chunked: read until close
 *   "chunked" then an empty field   -> chunked
 *   Transfer-Encoding with any Content-Length, two Content-Length fields
 *   (even equal), "Content-Length: 3, 3" -> error (RF_RESP_E_BAD)
 * That is: chunked when the last coding named is exactly "chunked"
 * (case-insensitive); any other Transfer-Encoding means read-until-close,
 * whatever it names; r->chunked tells which (HTTP/1.0 included). */
#ifndef RF_PROTO_RESPONSE_H
#define RF_PROTO_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <llhttp.h>

/* One header as offsets into the storage buffer. */
typedef struct rf_hspan {
  uint32_t name_off, name_len;
  uint32_t value_off, value_len;
} rf_hspan;

/* Results of rf_resp_feed / rf_resp_eof. */
enum rf_resp_rc {
  RF_RESP_MORE = 0,            /* need more bytes */
  RF_RESP_DONE = 1,            /* one final response complete */
  RF_RESP_E_BAD = -1,          /* malformed response (message in errmsg) */
  RF_RESP_E_TOO_LARGE = -2,    /* header storage or header count exceeded (trailers included) */
  RF_RESP_E_ABORT = -3,        /* a callback asked to stop */
  RF_RESP_E_CLOSED = -4,       /* EOF before the response was complete */
};

struct rf_resp;
/* Called once per final (non-1xx) response when its headers are complete
 * (trailers come later: r->nt is 0 here). Return 0 to go on, non-zero to
 * abort the parse (RF_RESP_E_ABORT). */
typedef int (*rf_resp_headers_cb)(void *ud, struct rf_resp *r);
/* Called with body bytes (chunk framing removed). Spans point into the input
 * passed to rf_resp_feed. Return 0 to go on, non-zero to abort. */
typedef int (*rf_resp_body_cb)(void *ud, const char *p, size_t n);

/* Where llhttp is inside a response, as its callbacks tell (lenient mode
 * hands a CR to llhttp before a bare LF in framing lines only). */
enum rf_resp_phase {
  RF_RESP_PH_HEAD = 0,   /* status line, header lines, interim responses */
  RF_RESP_PH_BODY,       /* Content-Length or close-delimited body */
  RF_RESP_PH_CHUNK_SIZE, /* a chunk-size line */
  RF_RESP_PH_CHUNK_DATA, /* chunk data (llh.content_length bytes left) */
  RF_RESP_PH_CHUNK_END,  /* the line end after chunk data */
  RF_RESP_PH_TRAILER,    /* trailer lines after the last chunk */
};

typedef struct rf_resp {
  /* What every response touches comes first, in as few cache lines as it
   * takes (an engine keeps one per connection and comes back to it every
   * response: the fewer lines, the fewer misses); llhttp's state, which the
   * fast path never touches, and the error text come last. */
  /* caller-provided storage for the reason phrase, headers and trailers:
   * hdrs[0 .. nh) are the header fields, hdrs[nh .. nh+nt) the trailer
   * fields of a chunked body; both share hbuf/hcap and hmax */
  char *hbuf;
  uint32_t hcap, hlen;
  rf_hspan *hdrs;
  uint32_t hmax, nh;
  uint32_t nt;        /* trailer fields, complete at RF_RESP_DONE */
  uint32_t lean_fields; /* lean mode: fields counted (against hmax) */
  int8_t te_match;    /* lean mode: bytes of the open field's name matching
                         "transfer-encoding" so far, -1 none */
  uint32_t reason_off, reason_len;
  /* callbacks */
  rf_resp_headers_cb on_headers;
  rf_resp_body_cb on_body;
  void *ud;
  /* state of the current response */
  int status;
  uint8_t http_major, http_minor;
  bool head;          /* the request was HEAD: no body */
  bool started;       /* any byte of this response seen */
  bool headers_done;  /* final headers complete */
  bool done;          /* final response complete */
  bool hdr_open;      /* a header entry is being filled */
  bool chunked;
  bool strict;        /* rf_resp_set_strict: llhttp 8.1's own line rules */
  bool lean;          /* rf_resp_set_lean: fields counted, only Transfer-Encoding kept */
  bool no_fast;       /* rf_resp_set_fast(r, false): every response through llhttp */
  bool fast;          /* this response was read by the fast path (llhttp never saw it) */
  bool fast_keep;     /* ... and may the connection carry another request */
  uint64_t fast_left; /* ... and the bytes of its body still to come */
  bool fast_drop;     /* the last one closed the connection: the rest is dropped, as llhttp does */
  uint64_t body_bytes;
  /* lenient line-ending state (see "lenient line endings" in response.c) */
  uint8_t phase;      /* enum rf_resp_phase, kept by llhttp's callbacks */
  uint8_t line_len;   /* bytes of the current framing line so far (max 2) */
  bool last_cr;       /* ... and its last byte is a CR */
  bool head_line;     /* a line of the head was seen (an empty one ends it) */
  uint8_t ce;         /* CHUNK_END: 1 when the CR was fed, the LF is next */
  int err;            /* enum rf_resp_rc when < 0 */
  llhttp_t llh;
  const char *errmsg; /* static string, or errbuf */
  char errbuf[112];
} rf_resp;

/* Prepares r for a connection, in lenient mode. Storage must outlive r. */
void rf_resp_init(rf_resp *r, char *hbuf, uint32_t hcap, rf_hspan *hdrs, uint32_t hmax,
                  rf_resp_headers_cb on_headers, rf_resp_body_cb on_body, void *ud);

/* Expects the next response on the connection; head says the request was HEAD.
 * Clears the per-response state (storage is reused). May also change storage
 * (pass NULL hbuf/hdrs to keep the current ones). The mode set by
 * rf_resp_set_strict stays. */
void rf_resp_expect(rf_resp *r, bool head, char *hbuf, uint32_t hcap, rf_hspan *hdrs,
                    uint32_t hmax);

/* strict = true: parse exactly as llhttp 8.1 does (a bare LF ending a header
 * or chunk line is an error), for testing servers; that includes what llhttp
 * 8.1 lets through: a CR followed by any byte where it ends the status line,
 * an empty header value, the head or a chunk-size line, and any two bytes
 * after chunk data. false (the default after rf_resp_init): accept a bare LF
 * as a line end like curl and browsers, reject those bare CRs and garbage
 * after chunk data. Set it before the first byte of a response (after
 * rf_resp_init or rf_resp_expect); it stays for the following responses. */
void rf_resp_set_strict(rf_resp *r, bool strict);

/* lean = true: header and trailer fields are checked against the limits
 * (hcap bytes, hmax fields, the same errors) but only the head's
 * Transfer-Encoding fields are kept (the transfer codings need them): nh
 * counts those, nt stays 0 and rf_resp_find finds nothing else. For callers
 * that read only the status and the body (a load generator); the reason
 * phrase is kept. It applies from the next byte fed and stays until changed. */
void rf_resp_set_lean(rf_resp *r, bool lean);

/* The fast path (on by default; rf_resp_init turns it on): a response whose
 * head starts a feed and is whole in it, in the plainest form -- "HTTP/1.1",
 * a final status (200-999), CRLF line ends, token names, printable values,
 * at most one valid Content-Length (or no body: HEAD, 204, 304), no
 * Transfer-Encoding, Upgrade or Proxy-Connection, a Connection field that
 * says only "close" or "keep-alive", within the limits -- is read by one
 * scan with the same callbacks, fields, storage use and keep-alive verdict
 * llhttp gives it; its Content-Length body may go on in later feeds.
 * Anything else, and any head cut across feeds, goes to llhttp from its
 * first byte: the fast path only ever takes what llhttp
 * accepts, and reads it the same (tests/unit/test_response.c runs every
 * stream both ways; tests/fuzz/fuzz_response.c compares them). on = false
 * sends every response through llhttp. Stays until changed. */
void rf_resp_set_fast(rf_resp *r, bool on);

/* Feeds bytes. *consumed is set to how many bytes belong to the current
 * response: on RF_RESP_DONE the rest of the input belongs to the next one.
 * Errors are sticky until rf_resp_expect. At RF_RESP_DONE the trailers of a
 * chunked response are in hdrs[nh .. nh+nt). */
int rf_resp_feed(rf_resp *r, const char *data, size_t len, size_t *consumed);

/* The peer closed the connection. Completes a close-delimited body
 * (RF_RESP_DONE) or reports RF_RESP_E_CLOSED. */
int rf_resp_eof(rf_resp *r);

/* After RF_RESP_DONE: may the connection carry another request? */
bool rf_resp_keep_alive(const rf_resp *r);

/* Finds a header (not a trailer) by case-insensitive name; returns its index
 * or -1. */
int rf_resp_find(const rf_resp *r, const char *name);

#endif
