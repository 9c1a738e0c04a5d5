/* The raw tap (RF_REQ_CAPTURE): an attempt's exact bytes, the request as
 * sent and the response as received, kept per slot up to capture_max and
 * handed to rf_config.on_exchange when the attempt ends. Requests without
 * the flag never reach this file: the usual path stays copy-free. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/internal.h"

static void keep(rf_engine *e, rf_slot *s, rf_buf *b, const void *p, size_t n) {
  uint64_t room = e->cfg.capture_max > b->len ? e->cfg.capture_max - b->len : 0;
  if (n > room) {
    n = (size_t)room;
    s->cap_trunc = true;
  }
  if (n && rf_buf_append(b, p, n) < 0)
    s->cap_trunc = true; /* out of memory: what is kept is marked as cut */
}

void rf_capture_request(rf_engine *e, rf_slot *s, const void *head, size_t n) {
  if (!(s->req->flags & RF_REQ_CAPTURE) || !e->cfg.on_exchange)
    return;
  if (!s->capturing) { /* the first (and only) request of this attempt */
    s->capturing = true;
    SHA1_Init(&s->cap_sha1);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts); /* a WARC-Date is calendar time */
    s->cap_date_us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
  }
  keep(e, s, &s->cap_req, head, n);
  if (s->req->body_len)
    keep(e, s, &s->cap_req, s->req->body, s->req->body_len);
}

void rf_capture_response(rf_engine *e, rf_slot *s, const void *p, size_t n) {
  if (s->capturing)
    keep(e, s, &s->cap_resp, p, n);
}

void rf_capture_unkeep(rf_slot *s, size_t n) {
  if (s->capturing && !s->cap_trunc && n <= s->cap_resp.len)
    s->cap_resp.len -= n;
}

void rf_capture_payload(rf_slot *s, const void *p, size_t n) {
  if (s->capturing) {
    SHA1_Update(&s->cap_sha1, p, n);
    s->cap_payload += n;
  }
}

/* "ip" from the result's "ip:port" or "[ip6]:port". */
static void ip_of(const char *remote, char *out, size_t cap) {
  const char *b = remote[0] == '[' ? remote + 1 : remote;
  const char *end = remote[0] == '[' ? strchr(b, ']') : strrchr(b, ':');
  size_t n = end ? (size_t)(end - b) : strlen(b);
  snprintf(out, cap, "%.*s", (int)n, b);
}

void rf_capture_end(rf_engine *e, rf_slot *s) {
  if (!s->capturing)
    return;
  if (s->res.status) { /* no response, no exchange: the result tells why */
    rf_req *q = s->req;
    char ip[INET6_ADDRSTRLEN + 8];
    ip_of(s->res.remote_addr, ip, sizeof ip);
    rf_exchange x = {
        .tag = q->tag,
        .url = q->url,
        .url_len = q->url_len,
        .attempt = q->attempts,
        .hop = q->nredirs,
        .status = s->res.status,
        .error = s->err,
        .remote_ip = ip,
        .date_us = s->cap_date_us,
        .request = s->cap_req.p,
        .request_len = s->cap_req.len,
        .response = s->cap_resp.p,
        .response_len = s->cap_resp.len,
        .truncated = s->cap_trunc,
        .payload_len = s->cap_payload,
        .http_major = s->res.http_major ? s->res.http_major : 1,
    };
    SHA1_Final(x.payload_sha1, &s->cap_sha1);
    e->cfg.on_exchange(e->cfg.on_exchange_ud, &x);
  }
  rf_capture_free(s);
}

void rf_capture_free(rf_slot *s) {
  rf_buf_free(&s->cap_req);
  rf_buf_free(&s->cap_resp);
  s->capturing = s->cap_trunc = false;
  s->cap_payload = 0;
}
