/* Manners (rf_config.robots): before an origin's first request its
 * /robots.txt is fetched by an internal request (which follows up to 5
 * redirects and is never delivered to the caller), parsed for
 * robots_agent (proto/robots.c), and every later request of the origin is
 * checked against it. Requests wait in the origin's queue meanwhile, holding
 * no concurrency slot. RFC 9309: a 4xx robots.txt allows everything, a 5xx
 * or unreachable one disallows everything (here for a minute, then it is
 * asked again); a good one is kept 24 hours (section 2.4). Crawl-delay slows
 * the origin like host_rate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"
#include "proto/robots.h"

#define ROBOTS_KEEP_MS (24u * 3600u * 1000u)
#define ROBOTS_RETRY_MS 60000u

/* The internal request for o's /robots.txt, first in o's queue (before the
 * requests that will wait for it). */
static int fetch(rf_engine *e, rf_origin *o) {
  char url[400];
  bool v6 = o->host_kind == RF_HOST_IPV6;
  int n = snprintf(url, sizeof url, "%s://%s%s%s:%u/robots.txt", o->scheme == RF_SCHEME_HTTPS ? "https" : "http",
                   v6 ? "[" : "", o->host, v6 ? "]" : "", o->port);
  rf_req *q = rf_req_alloc(e);
  if (!q || n <= 0 || (size_t)n >= sizeof url || !(q->url = strdup(url))) {
    free(q);
    return -1;
  }
  q->url0 = q->url;
  q->url0_len = q->url_len = (size_t)n;
  rf_url_parse(q->url, q->url_len, &q->u, NULL);
  strcpy(q->method, "GET");
  q->flags = RF_REQ_FOLLOW | RF_REQ_INTERNAL;
  q->max_redirects = 5;                  /* RFC 9309 section 2.3.1.2 */
  q->body_mode = RF_BODY_MEMORY;
  q->body_limit = RF_ROBOTS_MAX_INPUT;   /* what is parsed; the rest is not read */
  q->robots_for = o;
  q->timer.kind = RF_TIMER_REQ;
  q->attempts = 1;
  q->t_submit = e->now_us;
  q->origin = o;
  rf_requeue_origin_front(e, q);
  o->robots_state = ROBOTS_FETCHING;
  return 0;
}

enum rf_robots_verdict rf_robots_check(rf_engine *e, rf_origin *o, const rf_req *q) {
  if (!e->cfg.robots || (q->flags & RF_REQ_INTERNAL))
    return ROBOTS_GO;
  if (o->robots_state == ROBOTS_READY && e->now_ms < o->robots_expiry_ms) {
    const char *t = q->u.target_needs_slash && !q->u.target_len ? "/" : q->u.target;
    size_t n = q->u.target_needs_slash && !q->u.target_len ? 1 : q->u.target_len;
    return rf_robots_allowed(o->robots, t, n) ? ROBOTS_GO : ROBOTS_DENY;
  }
  if (o->robots_state != ROBOTS_FETCHING && fetch(e, o) < 0)
    return ROBOTS_GO; /* out of memory: no manners rather than no crawl */
  return ROBOTS_WAIT;
}

/* The internal request ended (s is its slot): the origin's rules. */
void rf_robots_done(rf_engine *e, rf_slot *s) {
  rf_req *q = s->req;
  rf_origin *o = q->robots_for;
  int st = s->res.status;
  rf_robots *r;
  uint64_t keep = ROBOTS_KEEP_MS;
  if (st >= 200 && st < 300 && (s->err == RF_OK || s->err == RF_ERR_TOO_LARGE)) {
    /* too large: the first RF_ROBOTS_MAX_INPUT bytes are what counts */
    r = rf_robots_parse((const char *)s->sink.mem.p, s->sink.mem.len, e->robots_agent);
  } else if ((st >= 400 && st < 500 && st != 429) || (st >= 300 && st < 400)) {
    r = rf_robots_allow_all(); /* unavailable (or redirected too often): no rules */
  } else {
    r = rf_robots_disallow_all(); /* unreachable: nothing until it is asked again */
    keep = ROBOTS_RETRY_MS;
  }
  if (!r)
    r = rf_robots_allow_all();
  rf_robots_free(o->robots);
  o->robots = r;
  o->robots_state = ROBOTS_READY;
  o->robots_expiry_ms = e->now_ms + keep;
  double delay = rf_robots_crawl_delay(r);
  uint64_t iv = (uint64_t)(delay * 1e6);
  if (iv > o->rate_interval_us)
    o->rate_interval_us = iv;
  rf_origin_unblock(e, o);
  rf_origin_touch(e, o);
  rf_req_free(e, q);
  rf_slot_release(e, s);
}
