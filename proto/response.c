/* HTTP/1.1 response parsing: llhttp 8.1 plus the fixes it lacks. */
#include "proto/response.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define RESP(p) ((rf_resp *)((char *)(p) - offsetof(rf_resp, llh)))

/* Trailers are parsed but not kept; bound them anyway. */
#define MAX_TRAILER_BYTES 65536u

static int set_err(rf_resp *r, int kind, const char *msg) {
  if (!r->err) {
    r->err = kind;
    r->errmsg = msg;
  }
  return -1;
}

static int store(rf_resp *r, const char *at, size_t n) {
  if (n > r->hcap - r->hlen)
    return set_err(r, RF_RESP_E_TOO_LARGE, "response headers larger than the limit");
  memcpy(r->hbuf + r->hlen, at, n);
  r->hlen += (uint32_t)n;
  return 0;
}

static int on_message_begin(llhttp_t *p) {
  rf_resp *r = RESP(p);
  r->started = true;
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

static int on_header_field(llhttp_t *p, const char *at, size_t n) {
  rf_resp *r = RESP(p);
  if (r->headers_done) { /* trailer */
    r->trailer_bytes += (uint32_t)n;
    return r->trailer_bytes > MAX_TRAILER_BYTES ? set_err(r, RF_RESP_E_TOO_LARGE, "trailers too large") : 0;
  }
  if (!r->hdr_open) {
    if (r->nh >= r->hmax)
      return set_err(r, RF_RESP_E_TOO_LARGE, "too many response headers");
    rf_hspan *h = &r->hdrs[r->nh];
    h->name_off = r->hlen;
    h->name_len = 0;
    h->value_off = 0;
    h->value_len = 0;
    r->hdr_open = true;
  }
  if (store(r, at, n))
    return -1;
  r->hdrs[r->nh].name_len += (uint32_t)n;
  return 0;
}

static int on_header_field_complete(llhttp_t *p) {
  rf_resp *r = RESP(p);
  if (!r->headers_done && r->hdr_open)
    r->hdrs[r->nh].value_off = r->hlen; /* empty values get no value callback */
  return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n) {
  rf_resp *r = RESP(p);
  if (r->headers_done) {
    r->trailer_bytes += (uint32_t)n;
    return r->trailer_bytes > MAX_TRAILER_BYTES ? set_err(r, RF_RESP_E_TOO_LARGE, "trailers too large") : 0;
  }
  if (store(r, at, n))
    return -1;
  r->hdrs[r->nh].value_len += (uint32_t)n;
  return 0;
}

static int on_header_value_complete(llhttp_t *p) {
  rf_resp *r = RESP(p);
  if (!r->headers_done && r->hdr_open) {
    /* llhttp keeps trailing whitespace of a value; drop it */
    rf_hspan *h = &r->hdrs[r->nh];
    while (h->value_len && (r->hbuf[h->value_off + h->value_len - 1] == ' ' ||
                            r->hbuf[h->value_off + h->value_len - 1] == '\t'))
      h->value_len--;
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
  return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n) {
  rf_resp *r = RESP(p);
  r->body_bytes += n;
  if (r->on_body && r->on_body(r->ud, at, n) != 0)
    return set_err(r, RF_RESP_E_ABORT, "aborted by the body callback");
  return 0;
}

static int on_message_complete(llhttp_t *p) {
  rf_resp *r = RESP(p);
  if (!r->headers_done) {
    /* interim 1xx finished: forget its headers, keep parsing */
    r->hlen = 0;
    r->nh = 0;
    r->reason_off = r->reason_len = 0;
    r->hdr_open = false;
    return 0;
  }
  r->done = true;
  return HPE_PAUSED; /* stop exactly at the message boundary */
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
  if (r->err)
    llhttp_reset(&r->llh); /* llhttp errors are sticky */
  r->hlen = r->nh = 0;
  r->reason_off = r->reason_len = 0;
  r->status = 0;
  r->http_major = r->http_minor = 0;
  r->head = head;
  r->started = r->headers_done = r->done = r->hdr_open = r->chunked = false;
  r->body_bytes = 0;
  r->trailer_bytes = 0;
  r->err = 0;
  r->errmsg = NULL;
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

int rf_resp_feed(rf_resp *r, const char *data, size_t len, size_t *consumed) {
  *consumed = 0;
  if (r->err)
    return r->err;
  if (r->done)
    return RF_RESP_DONE;
  if (len == 0)
    return RF_RESP_MORE;
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
  if (r->started && r->headers_done && llhttp_message_needs_eof(&r->llh)) {
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
  return llhttp_should_keep_alive(&r->llh) != 0;
}

int rf_resp_find(const rf_resp *r, const char *name) {
  size_t n = strlen(name);
  for (uint32_t i = 0; i < r->nh; i++)
    if (r->hdrs[i].name_len == n && strncasecmp(r->hbuf + r->hdrs[i].name_off, name, n) == 0)
      return (int)i;
  return -1;
}
