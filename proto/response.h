/* HTTP/1.1 response parsing on top of llhttp 8.1.
 *
 * The parser assembles the status reason and header fields into storage the
 * caller provides (fragments split across input buffers are joined there),
 * and hands body bytes to a callback as spans of the input. It works around
 * the llhttp 8.1 pitfalls: responses to HEAD, 1xx, 204 and 304 never have a
 * body (even with Content-Length), interim 1xx responses are skipped, and a
 * message boundary stops the parse so the caller can see where the next
 * response begins. */
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
  RF_RESP_E_TOO_LARGE = -2,    /* header storage or header count exceeded */
  RF_RESP_E_ABORT = -3,        /* a callback asked to stop */
  RF_RESP_E_CLOSED = -4,       /* EOF before the response was complete */
};

struct rf_resp;
/* Called once per final (non-1xx) response when its headers are complete.
 * Return 0 to go on, non-zero to abort the parse (RF_RESP_E_ABORT). */
typedef int (*rf_resp_headers_cb)(void *ud, struct rf_resp *r);
/* Called with body bytes (chunk framing removed). Spans point into the input
 * passed to rf_resp_feed. Return 0 to go on, non-zero to abort. */
typedef int (*rf_resp_body_cb)(void *ud, const char *p, size_t n);

typedef struct rf_resp {
  llhttp_t llh;
  /* caller-provided storage for the reason phrase and headers */
  char *hbuf;
  uint32_t hcap, hlen;
  rf_hspan *hdrs;
  uint32_t hmax, nh;
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
  uint64_t body_bytes;
  uint32_t trailer_bytes;
  int err;            /* enum rf_resp_rc when < 0 */
  const char *errmsg; /* static string, or errbuf */
  char errbuf[112];
} rf_resp;

/* Prepares r for a connection. Storage must outlive r. */
void rf_resp_init(rf_resp *r, char *hbuf, uint32_t hcap, rf_hspan *hdrs, uint32_t hmax,
                  rf_resp_headers_cb on_headers, rf_resp_body_cb on_body, void *ud);

/* Expects the next response on the connection; head says the request was HEAD.
 * Clears the per-response state (storage is reused). May also change storage
 * (pass NULL hbuf/hdrs to keep the current ones). */
void rf_resp_expect(rf_resp *r, bool head, char *hbuf, uint32_t hcap, rf_hspan *hdrs,
                    uint32_t hmax);

/* Feeds bytes. *consumed is set to how many bytes belong to the current
 * response: on RF_RESP_DONE the rest of the input belongs to the next one.
 * Errors are sticky until rf_resp_expect. */
int rf_resp_feed(rf_resp *r, const char *data, size_t len, size_t *consumed);

/* The peer closed the connection. Completes a close-delimited body
 * (RF_RESP_DONE) or reports RF_RESP_E_CLOSED. */
int rf_resp_eof(rf_resp *r);

/* After RF_RESP_DONE: may the connection carry another request? */
bool rf_resp_keep_alive(const rf_resp *r);

/* Finds a header by case-insensitive name; returns its index or -1. */
int rf_resp_find(const rf_resp *r, const char *name);

#endif
