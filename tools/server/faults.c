/* The misbehaviours a request can ask for with fault=NAME (server.h lists
 * them): everywhere a response departs from well-formed HTTP, in one place,
 * so the rest of the response code reads as the plain case. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

#define FILL_LINE 1024u
#define FILL_LINES 260u    /* 260 KiB of headers: more than 256 KiB */
#define DRIP_US 100000u
#define WRONG_LENGTH_EXTRA 100u

static const char *const fault_names[] = {"", "drip", "reset", "close", "bad-status",
                                          "huge-headers", "bad-chunk", "wrong-length", "never"};

int srv_fault_named(const char *v, size_t n) {
  for (unsigned f = 1; f < sizeof fault_names / sizeof fault_names[0]; f++) {
    if (n == strlen(fault_names[f]) && strncasecmp(v, fault_names[f], n) == 0)
      return (int)f;
  }
  return -1;
}

void srv_fault_on_request(req *r) {
  if (r->fault == F_BAD_CHUNK) /* a chunk size line to get wrong */
    r->chunked = true;
}

void srv_fault_start(conn *c, const req *r) {
  c->limit = r->fault == F_RESET ? (r->size + 1) / 2 : r->size; /* reset: in the middle */
  c->phase = r->fault == F_NEVER ? P_NEVER : r->fault == F_CLOSE ? P_DONE : P_HEAD;
}

bool srv_fault_resets(const req *r) { return r->fault == F_RESET; }

bool srv_fault_closes(const req *r) {
  return r->fault == F_CLOSE || r->fault == F_BAD_STATUS || r->fault == F_BAD_CHUNK ||
         r->fault == F_WRONG_LENGTH;
}

bool srv_fault_plain_body(const req *r) { return r->fault != F_DRIP && r->fault != F_BAD_CHUNK; }

size_t srv_fault_status_line(const req *r, char *p, size_t cap) {
  if (r->fault != F_BAD_STATUS)
    return 0;
  return (size_t)snprintf(p, cap, "HTTP/1.1 ??? bad status line\r\n");
}

uint64_t srv_fault_length(const req *r) {
  return r->size + (r->fault == F_WRONG_LENGTH ? WRONG_LENGTH_EXTRA : 0);
}

bool srv_fault_fill_start(conn *c, const req *r) {
  if (r->fault != F_HUGE)
    return false;
  c->fill_left = FILL_LINES;
  c->phase = P_FILL;
  return true;
}

uint8_t *srv_fault_fill(conn *c, uint8_t *p, const uint8_t *end) {
  while (c->fill_left && (size_t)(end - p) >= FILL_LINE + 2) {
    int n = snprintf((char *)p, 32, "X-Filler-%06u: ", FILL_LINES - c->fill_left);
    memset(p + n, 'x', FILL_LINE - 2 - (size_t)n);
    memcpy(p + FILL_LINE - 2, "\r\n", 2);
    p += FILL_LINE;
    c->fill_left--;
  }
  return p;
}

bool srv_fault_drip_start(rf_server *s, conn *c, const req *r) {
  if (r->fault != F_DRIP || c->limit == 0)
    return false;
  c->phase = P_DRIP_WAIT;
  srv_timer_set(s, c, s->now_us + DRIP_US);
  return true;
}

/* One byte (in a chunk of its own when chunked), then the timer again. */
static uint8_t *drip(rf_server *s, conn *c, const req *r, uint8_t *p, uint8_t *end) {
  if (c->off < c->limit) {
    if (r->chunked)
      p += snprintf((char *)p, (size_t)(end - p), "1\r\n");
    srv_body_copy(s, r, c->off++, p++, 1);
    if (r->chunked) {
      memcpy(p, "\r\n", 2);
      p += 2;
    }
  }
  if (c->off < c->limit) {
    c->phase = P_DRIP_WAIT;
    srv_timer_set(s, c, s->now_us + DRIP_US);
  }
  return p;
}

uint8_t *srv_fault_body(rf_server *s, conn *c, const req *r, uint8_t *p, uint8_t *end) {
  if (r->fault == F_BAD_CHUNK) {
    static const char junk[] = "not-a-chunk-size\r\nok\n\r\n0\r\n\r\n";
    memcpy(p, junk, sizeof junk - 1);
    c->phase = P_DONE;
    return p + sizeof junk - 1;
  }
  if (r->fault == F_DRIP)
    return drip(s, c, r, p, end);
  return NULL;
}
