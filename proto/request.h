/* HTTP/1.1 request writing. */
#ifndef RF_PROTO_REQUEST_H
#define RF_PROTO_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include "proto/url.h"

typedef struct rf_hdr_in {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
} rf_hdr_in;

typedef struct rf_http_req {
  const char *method;     /* "GET", "HEAD", "POST", ... ; NULL means GET */
  const rf_url *url;
  const char *user_agent; /* NULL: no User-Agent unless given in headers */
  const rf_hdr_in *headers;
  size_t n_headers;
  size_t body_len;        /* Content-Length sent when > 0 or method needs it */
  bool close;             /* send "Connection: close" (unless a custom Connection) */
  bool absolute;          /* absolute-form target "http://host:port/path": a request to an
                             HTTP proxy (RFC 9112 section 3.2.2) */
  const char *accept_encoding; /* default Accept-Encoding value; NULL = none */
  const char *proxy_auth; /* default Proxy-Authorization value; NULL = none */
} rf_http_req;

/* Checks a method token (RFC 9110 token chars, 1..32 bytes). 0 or -EINVAL. */
int rf_http_method_valid(const char *m, size_t len);

/* Checks one header for the request: name is a token; value has no CR, LF or
 * NUL. Returns 0 or -EINVAL with *err set. */
int rf_http_header_valid(const rf_hdr_in *h, const char **err);

/* Writes the request head (request line, Host, User-Agent, Accept, custom
 * headers, Content-Length, blank line) into buf[0..cap). The body is not
 * written. Custom headers replace defaults of the same name; a custom header
 * with an empty value removes that default (as curl -H "Accept:" does).
 * Bytes in the target that may not appear on the wire (space, controls,
 * non-ASCII) are percent-encoded.
 * Returns the head length; if that is > cap nothing useful is in buf and the
 * caller retries with a buffer of the returned size. Returns -EINVAL for an
 * invalid method or header (*err set). */
long rf_http_write_head(const rf_http_req *r, char *buf, size_t cap, const char **err);

/* Writes "CONNECT host:port HTTP/1.1" with Host, User-Agent (if not NULL or
 * empty) and Proxy-Authorization (if not NULL), for a tunnel through an HTTP
 * proxy. Same return convention as rf_http_write_head. */
long rf_http_write_connect(const rf_url *u, const char *user_agent, const char *proxy_auth, char *buf,
                           size_t cap);

#endif
