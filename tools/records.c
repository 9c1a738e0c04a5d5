/* JSON Lines records (see records.h). */
#include "records.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const selected_headers[] = {
    "content-type", "content-length", "content-encoding", "transfer-encoding", "location",
    "server",       "last-modified",  "etag",             "cache-control",     NULL,
};

static bool wanted_header(const rf_records *w, const rf_header *h) {
  if (w->all_headers)
    return true;
  for (int i = 0; selected_headers[i]; i++)
    if (strlen(selected_headers[i]) == h->name_len && strncasecmp(selected_headers[i], h->name, h->name_len) == 0)
      return true;
  return false;
}

static bool same_name(const rf_header *a, const rf_header *b) {
  return a->name_len == b->name_len && strncasecmp(a->name, b->name, a->name_len) == 0;
}

/* fields[0..n) as a JSON object: lower-case names, repeated names joined
 * with ", " at their first place; all of them, or the selected ones. */
static void put_fields(rf_records *w, const rf_header *fields, size_t n, bool all) {
  jbuf *b = &w->jb;
  jb_raw(b, "{", 1);
  bool first = true;
  char lname[256];
  for (size_t i = 0; i < n; i++) {
    const rf_header *h = &fields[i];
    if ((!all && !wanted_header(w, h)) || h->name_len >= sizeof lname)
      continue;
    bool seen = false;
    for (size_t j = 0; j < i && !seen; j++)
      seen = same_name(&fields[j], h);
    if (seen)
      continue;
    for (size_t k = 0; k < h->name_len; k++)
      lname[k] = (char)((h->name[k] >= 'A' && h->name[k] <= 'Z') ? h->name[k] + 32 : h->name[k]);
    if (!first)
      jb_raw(b, ",", 1);
    first = false;
    jb_str(b, lname, h->name_len);
    jb_raw(b, ":", 1);
    size_t nvals = 0;
    for (size_t j = i; j < n; j++)
      nvals += same_name(&fields[j], h);
    if (nvals == 1) {
      jb_str(b, h->value, h->value_len);
      continue;
    }
    jbuf joined = {0};
    for (size_t j = i; j < n; j++) {
      if (!same_name(&fields[j], h))
        continue;
      if (joined.len)
        jb_raw(&joined, ", ", 2);
      jb_raw(&joined, fields[j].value, fields[j].value_len);
    }
    jb_str(b, joined.p ? joined.p : "", joined.len);
    jb_free(&joined);
  }
  jb_raw(b, "}", 1);
}

/* Where the request ended up: "final_url", "redirects" (the hops, in
 * order), "attempts". */
static void put_hops(jbuf *b, const rf_result *r) {
  jb_key(b, "final_url", 0);
  if (r->final_url)
    jb_str(b, r->final_url, r->final_url_len);
  else
    jb_str(b, r->url, r->url_len);
  jb_key(b, "redirects", 0);
  jb_raw(b, "[", 1);
  for (size_t i = 0; i < r->n_redirects; i++) {
    jb_raw(b, i ? ",{" : "{", i ? 2 : 1);
    jb_key(b, "status", 1);
    jb_i64(b, r->redirects[i].status);
    jb_key(b, "location", 0);
    jb_str(b, r->redirects[i].location, r->redirects[i].location_len);
    jb_raw(b, "}", 1);
  }
  jb_raw(b, "]", 1);
  jb_key(b, "attempts", 0);
  jb_u64(b, r->attempts);
}

static int emit(rf_records *w, const char *p, size_t n);

int rf_records_put(rf_records *w, const rf_result *r) {
  rf_records_json(w, r, NULL);
  jbuf *b = &w->jb;
  int rc = b->oom ? -ENOMEM : w->err ? w->err : emit(w, b->p, b->len);
  jb_reset(b);
  if (rc && !w->err)
    w->err = rc;
  return rc;
}

void rf_records_json(rf_records *w, const rf_result *r, const char *extra) {
  jbuf *b = &w->jb;
  jb_reset(b);
  jb_raw(b, "{", 1);
  jb_key(b, "url", 1);
  jb_str(b, r->url, r->url_len);
  jb_key(b, "line", 0);
  jb_u64(b, r->tag);
  put_hops(b, r);
  jb_key(b, "status", 0);
  if (r->status)
    jb_i64(b, r->status);
  else
    jb_lit(b, "null");
  jb_key(b, "http_version", 0);
  if (r->http_major == 2)
    jb_str(b, "2", 1);
  else if (r->http_major == 1)
    jb_str(b, r->http_minor ? "1.1" : "1.0", 3);
  else
    jb_lit(b, "null");
  jb_key(b, "headers", 0);
  put_fields(w, r->headers, r->n_headers, false);
  jb_key(b, "trailers", 0);
  put_fields(w, r->trailers, r->n_trailers, true);
  jb_key(b, "body_bytes", 0);
  jb_u64(b, r->body_bytes);
  jb_key(b, "wire_bytes", 0);
  jb_u64(b, r->wire_bytes);
  jb_key(b, "body_sha256", 0);
  if (r->has_sha256 && r->error == RF_OK)
    jb_hex(b, r->body_sha256, 32);
  else
    jb_lit(b, "null");
  jb_key(b, "timings_us", 0);
  jb_raw(b, "{", 1);
  jb_key(b, "dns", 1);
  jb_u64(b, r->timings.dns);
  jb_key(b, "connect", 0);
  jb_u64(b, r->timings.connect);
  jb_key(b, "tls", 0);
  jb_u64(b, r->timings.tls);
  jb_key(b, "ttfb", 0);
  jb_u64(b, r->timings.ttfb);
  jb_key(b, "total", 0);
  jb_u64(b, r->timings.total);
  jb_raw(b, "}", 1);
  jb_key(b, "reused", 0);
  jb_lit(b, r->reused ? "true" : "false");
  jb_key(b, "tls_resumed", 0);
  jb_lit(b, r->tls_resumed ? "true" : "false");
  jb_key(b, "tls_truncated", 0);
  jb_lit(b, r->tls_truncated ? "true" : "false");
  if (r->remote_addr[0]) {
    jb_key(b, "remote", 0);
    jb_str(b, r->remote_addr, strlen(r->remote_addr));
  }
  if (w->body_dir && r->status) {
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%llu.body", w->body_dir, (unsigned long long)r->tag);
    jb_key(b, "body_file", 0);
    jb_str(b, path, (size_t)n);
  }
  jb_key(b, "error", 0);
  if (r->error == RF_OK) {
    jb_lit(b, "null");
  } else {
    const char *name = rf_error_name(r->error);
    jb_str(b, name, strlen(name));
    jb_key(b, "error_message", 0);
    jb_str(b, r->error_message, strlen(r->error_message));
  }
  if (extra)
    jb_lit(b, extra);
  jb_raw(b, "}\n", 2);
}

static bool reached(const rf_held_mark *m, const uint64_t done[RF_GATE_N]) {
  for (int i = 0; i < RF_GATE_N; i++)
    if (done[i] < m->need[i])
      return false;
  return true;
}

/* A finished record: out now, or held behind the gate. */
static int emit(rf_records *w, const char *p, size_t n) {
  if (!w->gate_queued)
    return rf_outfile_write(w->out, p, n);
  rf_held_mark m0 = {0};
  uint64_t done[RF_GATE_N];
  w->gate_queued(w->gate_ud, m0.need);
  w->gate_written(w->gate_ud, done);
  if (w->nmarks == w->mark0 && reached(&m0, done))
    return rf_outfile_write(w->out, p, n);
  if (w->nmarks == w->mcap) {
    size_t cap = w->mcap ? 2 * w->mcap : 256;
    rf_held_mark *m = realloc(w->marks, cap * sizeof *m);
    if (!m)
      return -ENOMEM;
    w->marks = m;
    w->mcap = cap;
  }
  jb_raw(&w->held, p, n);
  if (w->held.oom)
    return -ENOMEM;
  m0.end = w->held.len;
  w->marks[w->nmarks++] = m0;
  return 0;
}

int rf_records_release(rf_records *w, bool all) {
  if (w->mark0 == w->nmarks)
    return w->err;
  uint64_t done[RF_GATE_N];
  if (all || !w->gate_written)
    memset(done, 0xff, sizeof done);
  else
    w->gate_written(w->gate_ud, done);
  size_t end = w->held_off;
  while (w->mark0 < w->nmarks && reached(&w->marks[w->mark0], done))
    end = w->marks[w->mark0++].end;
  if (end > w->held_off && !w->err) {
    int rc = rf_outfile_write(w->out, w->held.p + w->held_off, end - w->held_off);
    if (rc)
      w->err = rc;
  }
  w->held_off = end;
  if (w->mark0 == w->nmarks) { /* all out: start over */
    jb_reset(&w->held);
    w->held_off = 0;
    w->mark0 = w->nmarks = 0;
  } else if (w->held_off > w->held.len / 2) { /* compact: the rest moves to the front */
    size_t left = w->held.len - w->held_off;
    memmove(w->held.p, w->held.p + w->held_off, left);
    w->held.len = left;
    for (size_t i = w->mark0; i < w->nmarks; i++) {
      w->marks[i - w->mark0] = w->marks[i];
      w->marks[i - w->mark0].end -= w->held_off;
    }
    w->nmarks -= w->mark0;
    w->mark0 = 0;
    w->held_off = 0;
  }
  return w->err;
}

size_t rf_records_held(const rf_records *w) { return w->held.len - w->held_off; }

size_t rf_records_held_count(const rf_records *w) { return w->nmarks - w->mark0; }

void rf_records_free(rf_records *w) {
  jb_free(&w->jb);
  jb_free(&w->held);
  free(w->marks);
  w->marks = NULL;
}

void rf_records_local(rf_result *r, const char *url, size_t len, uint64_t line, rf_error err, const char *msg) {
  memset(r, 0, sizeof *r);
  r->url = url;
  r->url_len = len;
  r->tag = line;
  r->error = err;
  r->error_message = msg;
}
