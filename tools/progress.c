/* Tallies, the live progress line and --stats-json (see progress.h). */
#include "progress.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* ---- tallies ---------------------------------------------------------------- */

/* rf_error_name for jb_nonzero_counts */
static const char *error_name(int k) { return rf_error_name((rf_error)k); }

static uint64_t host_hash(const char *url, size_t len) {
  const char *p = memchr(url, ':', len);
  const char *end = url + len;
  if (!p || end - p < 3 || p[1] != '/' || p[2] != '/')
    return 0;
  p += 3;
  const char *at = p;
  for (const char *q = p; q < end && *q != '/' && *q != '?' && *q != '#'; q++)
    if (*q == '@')
      at = q + 1;
  uint64_t h = 1469598103934665603ull;
  for (p = at; p < end && *p != '/' && *p != '?' && *p != '#' && *p != ':'; p++)
    h = (h ^ (uint8_t)tolower((unsigned char)*p)) * 1099511628211ull;
  return h ? h : 1; /* 0 marks an empty place */
}

static void host_add(rf_tally *t, uint64_t h) {
  if (!h)
    return;
  if (2 * (t->nhosts + 1) > t->caphosts) { /* at most half full */
    size_t cap = t->caphosts ? t->caphosts * 2 : 1024;
    uint64_t *n = calloc(cap, sizeof *n);
    if (!n)
      return; /* the count stays a lower bound */
    for (size_t i = 0; i < t->caphosts; i++)
      if (t->hosts[i])
        for (size_t j = t->hosts[i] & (cap - 1);; j = (j + 1) & (cap - 1))
          if (!n[j]) {
            n[j] = t->hosts[i];
            break;
          }
    free(t->hosts);
    t->hosts = n;
    t->caphosts = cap;
  }
  for (size_t j = h & (t->caphosts - 1);; j = (j + 1) & (t->caphosts - 1)) {
    if (t->hosts[j] == h)
      return;
    if (!t->hosts[j]) {
      t->hosts[j] = h;
      t->nhosts++;
      return;
    }
  }
}

void rf_tally_add(rf_tally *t, const rf_result *r, bool failed) {
  t->done++;
  if (failed)
    t->failed++;
  else
    t->ok++;
  t->status[r->status >= 100 && r->status < 600 ? r->status / 100 : 0]++;
  if ((unsigned)r->error < RF_ERR__COUNT)
    t->errors[r->error]++;
  t->body_bytes += r->body_bytes;
  t->wire_bytes += r->wire_bytes;
  t->redirects += r->n_redirects;
  t->retries += r->attempts > 1 ? r->attempts - 1 : 0;
  host_add(t, host_hash(r->url, r->url_len));
}

void rf_tally_free(rf_tally *t) {
  free(t->hosts);
  t->hosts = NULL;
  t->nhosts = t->caphosts = 0;
}

/* ---- the live line ------------------------------------------------------------------ */

static void human_bytes(char *out, size_t n, double b) {
  const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int i = 0;
  while (b >= 1024 && i < 4) {
    b /= 1024;
    i++;
  }
  snprintf(out, n, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

static void human_time(char *out, size_t n, double s) {
  if (s < 60)
    snprintf(out, n, "%.0fs", s);
  else if (s < 3600)
    snprintf(out, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
  else
    snprintf(out, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
}

/* "err: reset 12, dns 3, closed 1" for the most frequent kinds */
static void top_errors(const rf_tally *t, char *out, size_t n) {
  int top[3] = {0, 0, 0};
  for (int k = 1; k < RF_ERR__COUNT; k++) {
    if (!t->errors[k])
      continue;
    for (int i = 0; i < 3; i++)
      if (!top[i] || t->errors[k] > t->errors[top[i]]) {
        memmove(top + i + 1, top + i, sizeof top[0] * (size_t)(2 - i));
        top[i] = k;
        break;
      }
  }
  size_t len = 0;
  out[0] = 0;
  for (int i = 0; i < 3 && top[i] && len < n; i++)
    len += (size_t)snprintf(out + len, n - len, "%s%s %llu", i ? ", " : " | errors: ", rf_error_name(top[i]),
                            (unsigned long long)t->errors[top[i]]);
}

void rf_progress_draw(rf_progress *p, const rf_tally *t, uint64_t total, unsigned inflight, double now,
                      bool force) {
  if (!p->on || (!force && now - p->last_draw < 0.25))
    return;
  if (!p->start)
    p->start = p->rate_t = now;
  /* the rate over the last few seconds, smoothed */
  if (now - p->rate_t >= 1.0) {
    double r = ((double)t->done - p->rate_done) / (now - p->rate_t);
    p->rate = p->rate > 0 ? 0.7 * p->rate + 0.3 * r : r;
    p->rate_t = now;
    p->rate_done = (double)t->done;
  }
  double rate = p->rate > 0 ? p->rate : now > p->start ? (double)t->done / (now - p->start) : 0;
  char bytes[32], eta[32] = "", errs[128], tot[32] = "";
  human_bytes(bytes, sizeof bytes, (double)t->body_bytes);
  if (total) {
    snprintf(tot, sizeof tot, "/%llu", (unsigned long long)total);
    if (rate > 0 && total > t->done) {
      char hs[16];
      human_time(hs, sizeof hs, (double)(total - t->done) / rate);
      snprintf(eta, sizeof eta, " | ETA %s", hs);
    }
  }
  top_errors(t, errs, sizeof errs);
  /* \r and erase to the end of the line: one line, rewritten in place */
  fprintf(stderr, "\r\033[Kringfetch: %llu%s done, %.0f/s, %u in flight, %s%s%s", (unsigned long long)t->done, tot,
          rate, inflight, bytes, errs, eta);
  fflush(stderr);
  p->last_draw = now;
  p->drawn = true;
}

void rf_progress_clear(rf_progress *p) {
  if (p->drawn) {
    fputs("\r\033[K", stderr);
    fflush(stderr);
    p->drawn = false;
  }
}

/* ---- --stats-json ------------------------------------------------------------------------ */

/* v with that many decimals, as a JSON number. */
static void jb_fixed(jbuf *b, double v, int decimals) {
  char num[64];
  snprintf(num, sizeof num, "%.*f", decimals, v);
  jb_lit(b, num);
}

/* "status_classes" and "errors": counts by status class and error kind. */
static void json_outcomes(jbuf *b, const rf_tally *t) {
  static const char *const cls[] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
  jb_key(b, "status_classes", 0);
  jb_counts(b, cls, t->status, 6);
  jb_key(b, "errors", 0);
  jb_nonzero_counts(b, error_name, t->errors, 1, RF_ERR__COUNT);
}

/* "concurrency" and the connection figures after it. */
static void json_concurrency(jbuf *b, const rf_run_figures *f) {
  const rf_stats *st = f->st;
  jb_key(b, "concurrency", 0);
  jb_raw(b, "{", 1);
  jb_key(b, "configured", 1);
  jb_u64(b, f->concurrency);
  jb_key(b, "mean", 0);
  jb_fixed(b, f->mean_concurrency, 1);
  jb_key_u64(b, "peak", st->peak_inflight);
  jb_key(b, "overlap", 0);
  jb_fixed(b, f->overlap, 1);
  jb_raw(b, "}", 1);
  jb_key_u64(b, "connections_opened", st->conns_opened);
  jb_key_u64(b, "requests_on_reused_connections", st->conns_reused);
  jb_key_u64(b, "tls_handshakes", st->tls_handshakes);
  jb_key_u64(b, "tls_resumed", st->tls_resumed);
}

int rf_tally_write_json(const rf_tally *t, const rf_run_figures *f, const char *path) {
  jbuf b = {0};
  jb_raw(&b, "{", 1);
  jb_key(&b, "requests", 1);
  jb_u64(&b, t->done);
  jb_key_u64(&b, "ok", t->ok);
  jb_key_u64(&b, "failed", t->failed);
  jb_key(&b, "wall_s", 0);
  jb_fixed(&b, f->wall_s, 3);
  jb_key(&b, "requests_per_s", 0);
  jb_fixed(&b, f->wall_s > 0 ? (double)t->done / f->wall_s : 0.0, 1);
  json_outcomes(&b, t);
  jb_key_u64(&b, "body_bytes", t->body_bytes);
  jb_key_u64(&b, "wire_bytes", t->wire_bytes);
  jb_key_u64(&b, "hosts", t->nhosts);
  jb_key_u64(&b, "redirects", t->redirects);
  jb_key_u64(&b, "retries", t->retries);
  json_concurrency(&b, f);
  jb_key(&b, "interrupted", 0);
  jb_lit(&b, f->interrupted ? "true" : "false");
  jb_raw(&b, "}\n", 2);
  int rc = 0;
  FILE *fp = b.oom ? NULL : fopen(path, "w"); /* once, at the end: the loop is done */
  if (!fp || fwrite(b.p, 1, b.len, fp) != b.len)
    rc = -(errno ? errno : EIO);
  if (fp && fclose(fp) != 0 && !rc)
    rc = -errno;
  jb_free(&b);
  return rc;
}
