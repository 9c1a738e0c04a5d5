/* Per-request timelines: a Chrome trace (streamed as results arrive) and an
 * SVG waterfall (drawn at the end), and the concurrency summary. */
#include "trace.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* ---- summary ------------------------------------------------------------- */

static uint64_t span(uint64_t a, uint64_t b) { return a && b > a ? b - a : 0; }

void rf_phase_add(rf_phase_sums *p, const rf_result *r) {
  const rf_events *e = &r->events;
  p->n++;
  p->queued += span(e->submitted, e->started);
  p->dns += span(e->dns_start, e->dns_end);
  p->connect += span(e->connect_start, e->connect_end);
  p->tls += span(e->tls_start, e->tls_end);
  p->wait += span(e->sent, e->first_byte);
  p->receive += span(e->first_byte, e->done);
  p->total += span(e->started, e->done); /* queue time would count waiting as overlap */
  if (e->submitted && (!p->first_start || e->submitted < p->first_start))
    p->first_start = e->submitted;
  if (e->done > p->last_done)
    p->last_done = e->done;
}

void rf_concurrency_eval(rf_concurrency *c, const rf_stats *st, const rf_phase_sums *p, double wall_s,
                         unsigned concurrency, unsigned per_host) {
  memset(c, 0, sizeof *c);
  c->wall_s = wall_s;
  double wall_us = wall_s * 1e6;
  if (wall_us <= 0)
    return;
  c->mean_inflight = (double)st->inflight_area_us / wall_us;
  c->mean_active = (double)st->active_area_us / wall_us;
  c->peak_inflight = st->peak_inflight;
  c->peak_active = st->peak_active;
  c->overlap = (double)p->total / wall_us;
  c->limit = concurrency < p->n ? concurrency : (unsigned)p->n;
  /* Work waited (queued behind a limit, or stuck opening connections) while
   * far fewer requests than allowed were with the servers: the run was
   * serial in disguise. Short runs and single requests say nothing. */
  double waiting = ((double)st->queued_area_us + (double)st->inflight_area_us - (double)st->active_area_us) / wall_us;
  /* a quarter: 10,000 connections to one saturated server averaged 4,900 on
   * the wire, slow but not serial; a one-at-a-time server gives ~1 of n */
  if (c->limit < 4 || wall_s < 0.2 || c->mean_active >= c->limit * 0.25 || waiting < 1.0)
    return;
  c->serialised = true;
  uint64_t setup = p->dns + p->connect + p->tls;
  const char *cause;
  char buf[128];
  if (p->queued >= setup) {
    if (per_host < concurrency) {
      snprintf(buf, sizeof buf, "requests waited for a connection: --per-host %u holds them back", per_host);
      cause = buf;
    } else {
      cause = "requests waited in the queue for a free slot";
    }
  } else {
    cause = "requests waited to connect: the server seems to accept one connection at a time (or very few)";
  }
  snprintf(c->why, sizeof c->why, "%son average only %.1f of up to %u requests were with the server at once (%s)",
           c->mean_active <= 1.5 ? "close to serial: " : "far below the allowed concurrency: ", c->mean_active,
           c->limit, cause);
}

static double pct(uint64_t part, uint64_t whole) { return whole ? 100.0 * (double)part / (double)whole : 0.0; }

void rf_concurrency_print(FILE *f, const char *prefix, const rf_concurrency *c, const rf_phase_sums *p) {
  if (!p->n)
    return;
  uint64_t all = p->queued + p->dns + p->connect + p->tls + p->wait + p->receive;
  fprintf(f,
          "%sconcurrency: achieved %.1f on average (peak %u) of %u allowed; on the wire %.1f "
          "(peak %u); overlap %.1fx (time on connections / wall time)\n",
          prefix, c->mean_inflight, c->peak_inflight, c->limit, c->mean_active, c->peak_active, c->overlap);
  fprintf(f,
          "%stime per phase: queued %.1f%%, dns %.1f%%, connect %.1f%%, tls %.1f%%, "
          "waiting for the server %.1f%%, receiving %.1f%%\n",
          prefix, pct(p->queued, all), pct(p->dns, all), pct(p->connect, all), pct(p->tls, all), pct(p->wait, all),
          pct(p->receive, all));
  if (c->serialised)
    fprintf(f, "%sWARNING: %s\n", prefix, c->why);
}

/* ---- tracer ---------------------------------------------------------------- */

enum { EV_SUB, EV_START, EV_DNS0, EV_DNS1, EV_CONN0, EV_CONN1, EV_TLS0, EV_TLS1, EV_SENT, EV_FIRST, EV_DONE, EV_N };

typedef struct trec {
  uint64_t t[EV_N];
  uint32_t conn;
  bool failed;
} trec;

#define SVG_MAX_RECORDS 200000u /* the waterfall draws at most this many requests */

struct rf_tracer {
  FILE *trace;
  char *svg_path;
  bool first_event;
  jbuf jb;
  uint8_t *conn_seen; /* bitset: thread-name metadata written */
  size_t conn_seen_bits;
  trec *recs;
  size_t n, cap;
  uint64_t dropped;
};

rf_tracer *rf_tracer_new(const char *trace_path, const char *svg_path, char *err, size_t errlen) {
  rf_tracer *t = calloc(1, sizeof *t);
  if (!t) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  t->first_event = true;
  if (trace_path) {
    t->trace = fopen(trace_path, "w");
    if (!t->trace) {
      snprintf(err, errlen, "cannot write %s: %s", trace_path, strerror(errno));
      free(t);
      return NULL;
    }
    fputs("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n", t->trace);
  }
  if (svg_path && !(t->svg_path = strdup(svg_path))) {
    snprintf(err, errlen, "out of memory");
    rf_tracer_free(t);
    return NULL;
  }
  return t;
}

void rf_tracer_free(rf_tracer *t) {
  if (!t)
    return;
  if (t->trace)
    fclose(t->trace);
  free(t->svg_path);
  free(t->conn_seen);
  free(t->recs);
  jb_free(&t->jb);
  free(t);
}

static void ev_begin(rf_tracer *t) {
  jbuf *b = &t->jb;
  jb_reset(b);
  if (!t->first_event)
    jb_raw(b, ",\n", 2);
  t->first_event = false;
}

static void ev_end(rf_tracer *t) { fwrite(t->jb.p, 1, t->jb.len, t->trace); }

/* A complete slice on a connection's track. */
static void slice(rf_tracer *t, const char *name, uint32_t tid, uint64_t a, uint64_t b, const rf_result *r) {
  if (!a || b < a)
    return;
  ev_begin(t);
  jbuf *j = &t->jb;
  jb_lit(j, "{\"name\":");
  jb_str(j, name, strlen(name));
  jb_lit(j, ",\"cat\":\"phase\",\"ph\":\"X\",\"pid\":1,\"tid\":");
  jb_u64(j, tid);
  jb_lit(j, ",\"ts\":");
  jb_u64(j, a);
  jb_lit(j, ",\"dur\":");
  jb_u64(j, b - a);
  jb_lit(j, ",\"args\":{\"url\":");
  jb_str(j, r->url, r->url_len);
  jb_lit(j, ",\"line\":");
  jb_u64(j, r->tag);
  jb_lit(j, "}}");
  ev_end(t);
}

static void conn_name(rf_tracer *t, const rf_result *r) {
  uint32_t id = r->conn_id;
  if ((size_t)id >= t->conn_seen_bits) {
    size_t bits = t->conn_seen_bits ? t->conn_seen_bits : 1024;
    while (bits <= id)
      bits *= 2;
    uint8_t *p = realloc(t->conn_seen, bits / 8);
    if (!p)
      return;
    memset(p + t->conn_seen_bits / 8, 0, (bits - t->conn_seen_bits) / 8);
    t->conn_seen = p;
    t->conn_seen_bits = bits;
  }
  if (t->conn_seen[id / 8] & (1u << (id % 8)))
    return;
  t->conn_seen[id / 8] |= (uint8_t)(1u << (id % 8));
  char name[96];
  snprintf(name, sizeof name, "conn %u %s", id, r->remote_addr[0] ? r->remote_addr : "");
  ev_begin(t);
  jbuf *j = &t->jb;
  jb_lit(j, "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":");
  jb_u64(j, id);
  jb_lit(j, ",\"args\":{\"name\":");
  jb_str(j, name, strlen(name));
  jb_lit(j, "}},\n{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":1,\"tid\":");
  jb_u64(j, id);
  jb_lit(j, ",\"args\":{\"sort_index\":");
  jb_u64(j, id);
  jb_lit(j, "}}");
  ev_end(t);
}

/* The request as a whole: an async slice from submit to release, which may
 * overlap others (Perfetto shows them on their own tracks). */
static void request_span(rf_tracer *t, const rf_result *r, uint64_t released) {
  const rf_events *e = &r->events;
  for (int end = 0; end < 2; end++) {
    ev_begin(t);
    jbuf *j = &t->jb;
    jb_lit(j, "{\"name\":");
    jb_str(j, r->url, r->url_len);
    jb_lit(j, end ? ",\"cat\":\"request\",\"ph\":\"e\",\"pid\":1,\"tid\":0,\"id\":"
                  : ",\"cat\":\"request\",\"ph\":\"b\",\"pid\":1,\"tid\":0,\"id\":");
    jb_u64(j, r->tag);
    jb_lit(j, ",\"ts\":");
    jb_u64(j, end ? (released > e->done ? released : e->done) : e->submitted);
    if (!end) {
      jb_lit(j, ",\"args\":{\"status\":");
      jb_i64(j, r->status);
      jb_lit(j, ",\"error\":");
      const char *err = rf_error_name(r->error);
      jb_str(j, err, strlen(err));
      jb_lit(j, ",\"conn\":");
      jb_u64(j, r->conn_id);
      jb_lit(j, ",\"reused\":");
      jb_lit(j, r->reused ? "true" : "false");
      jb_lit(j, "}");
    }
    jb_lit(j, "}");
    ev_end(t);
  }
}

void rf_tracer_add(rf_tracer *t, const rf_result *r, uint64_t released_us) {
  const rf_events *e = &r->events;
  if (t->trace) {
    request_span(t, r, released_us);
    if (r->conn_id) {
      conn_name(t, r);
      uint32_t tid = r->conn_id;
      slice(t, "dns", tid, e->dns_start, e->dns_end, r);
      slice(t, "connect", tid, e->connect_start, e->connect_end, r);
      slice(t, "tls", tid, e->tls_start, e->tls_end, r);
      slice(t, "wait", tid, e->sent, e->first_byte ? e->first_byte : e->done, r);
      slice(t, "receive", tid, e->first_byte, e->done, r);
    }
  }
  if (!t->svg_path)
    return;
  if (t->n == SVG_MAX_RECORDS) {
    t->dropped++;
    return;
  }
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 1024;
    trec *p = realloc(t->recs, cap * sizeof *p);
    if (!p) {
      t->dropped++;
      return;
    }
    t->recs = p;
    t->cap = cap;
  }
  trec *x = &t->recs[t->n++];
  const uint64_t v[EV_N] = {e->submitted, e->started, e->dns_start, e->dns_end, e->connect_start, e->connect_end,
                            e->tls_start,  e->tls_end, e->sent,      e->first_byte, e->done};
  memcpy(x->t, v, sizeof v);
  x->conn = r->conn_id;
  x->failed = r->error != RF_OK;
}

/* ---- the SVG waterfall ---------------------------------------------------------- */

/* Phase colours: the legend and the tests rely on them. */
static const struct {
  const char *name, *color;
  int from, to;
} phases[] = {
    {"queued", "#c8c8c8", EV_SUB, EV_START},   {"dns", "#2ca58d", EV_DNS0, EV_DNS1},
    {"connect", "#f28e2b", EV_CONN0, EV_CONN1}, {"tls", "#9467bd", EV_TLS0, EV_TLS1},
    {"waiting", "#edc948", EV_SENT, EV_FIRST},  {"receiving", "#4e79a7", EV_FIRST, EV_DONE},
};

#define SVG_W 1200
#define LEFT 150
#define RIGHT 20
#define PLOT_W (SVG_W - LEFT - RIGHT)
#define TOP 40
#define STRIP_H 90
#define MAX_ROWS 1000

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static double xof(uint64_t t, uint64_t tmax) { return LEFT + (double)t * PLOT_W / (double)tmax; }

static void nice_step(uint64_t tmax, uint64_t *step, const char **unit, double *div) {
  static const uint64_t steps[] = {1,      2,      5,      10,      20,      50,      100,      200,     500,
                                   1000,   2000,   5000,   10000,   20000,   50000,   100000,   200000,  500000,
                                   1000000, 2000000, 5000000, 10000000, 20000000, 60000000, 120000000, 300000000,
                                   600000000, 1200000000, 3600000000u};
  *step = steps[sizeof steps / sizeof steps[0] - 1];
  for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
    if (tmax / steps[i] <= 10) {
      *step = steps[i];
      break;
    }
  if (*step >= 1000000) {
    *unit = "s";
    *div = 1e6;
  } else if (*step >= 1000) {
    *unit = "ms";
    *div = 1e3;
  } else {
    *unit = "us";
    *div = 1;
  }
}

static void draw_phases(FILE *f, const trec *x, double y, double h, uint64_t tmax) {
  for (size_t k = 0; k < sizeof phases / sizeof phases[0]; k++) {
    uint64_t a = x->t[phases[k].from], b = x->t[phases[k].to];
    if (phases[k].to == EV_FIRST && !b)
      b = x->t[EV_DONE]; /* failed while waiting: wait until the end */
    if (!a || b < a)
      continue;
    double x0 = xof(a, tmax), x1 = xof(b, tmax);
    if (x1 - x0 < 0.5)
      x1 = x0 + 0.5; /* a phase too short to see still shows */
    fprintf(f, "<rect class=\"%s\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\"/>\n",
            phases[k].name, x0, y, x1 - x0, h, phases[k].color);
  }
  if (x->failed)
    fprintf(f, "<rect class=\"failed\" x=\"%.2f\" y=\"%.2f\" width=\"3\" height=\"%.2f\" fill=\"#e15759\"/>\n",
            xof(x->t[EV_DONE], tmax), y, h);
}

static void xml_text(FILE *f, const char *s) {
  for (; *s; s++) {
    if (*s == '<')
      fputs("&lt;", f);
    else if (*s == '>')
      fputs("&gt;", f);
    else if (*s == '&')
      fputs("&amp;", f);
    else
      fputc(*s, f);
  }
}

static int cmp_rec_start(const void *a, const void *b) {
  const trec *x = a, *y = b;
  if (x->t[EV_SUB] != y->t[EV_SUB])
    return x->t[EV_SUB] < y->t[EV_SUB] ? -1 : 1;
  return x->t[EV_DONE] < y->t[EV_DONE] ? -1 : x->t[EV_DONE] > y->t[EV_DONE];
}

static int write_svg(rf_tracer *t, const char *title) {
  FILE *f = fopen(t->svg_path, "w");
  if (!f)
    return -errno;
  qsort(t->recs, t->n, sizeof *t->recs, cmp_rec_start);
  uint64_t tmax = 1;
  for (size_t i = 0; i < t->n; i++)
    if (t->recs[i].t[EV_DONE] > tmax)
      tmax = t->recs[i].t[EV_DONE];
  tmax += tmax / 50 + 1; /* a little room on the right */

  /* rows: one per request, or one per connection when there are many */
  bool per_conn = t->n > 300;
  uint32_t max_conn = 0;
  for (size_t i = 0; i < t->n; i++)
    if (t->recs[i].conn > max_conn)
      max_conn = t->recs[i].conn;
  uint32_t *row_of = NULL;
  size_t rows = t->n;
  if (per_conn) {
    row_of = calloc((size_t)max_conn + 1, sizeof *row_of);
    if (!row_of) {
      fclose(f);
      return -ENOMEM;
    }
    rows = 0;
    for (size_t i = 0; i < t->n; i++) { /* rows in order of first use */
      uint32_t c = t->recs[i].conn;
      if (c && !row_of[c])
        row_of[c] = (uint32_t)++rows;
    }
    rows++; /* row 0: requests that never had a connection */
  }
  size_t shown = rows < MAX_ROWS ? rows : MAX_ROWS;
  double rh = 720.0 / (double)(shown ? shown : 1);
  if (rh > 16)
    rh = 16;
  if (rh < 2)
    rh = 2;
  double rows_top = TOP + STRIP_H + 30;
  double height = rows_top + rh * (double)shown + 40;

  fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%.0f\" viewBox=\"0 0 %d %.0f\" "
             "font-family=\"sans-serif\" font-size=\"12\">\n",
          SVG_W, height, SVG_W, height);
  fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n");
  /* the title ends where the legend starts (about 70 characters) */
  char shortt[80];
  size_t tl = strlen(title);
  if (tl >= 70) {
    size_t cut = 66;
    while (cut > 0 && ((unsigned char)title[cut] & 0xC0) == 0x80)
      cut--; /* not inside a UTF-8 sequence */
    memcpy(shortt, title, cut);
    memcpy(shortt + cut, "...", 4);
    title = shortt;
  }
  fputs("<text x=\"10\" y=\"22\" font-size=\"15\" font-weight=\"bold\">", f);
  xml_text(f, title);
  fputs("</text>\n", f);

  /* legend */
  double lx = SVG_W - 560;
  for (size_t k = 0; k < sizeof phases / sizeof phases[0]; k++) {
    fprintf(f, "<rect x=\"%.0f\" y=\"10\" width=\"12\" height=\"12\" fill=\"%s\"/>"
               "<text x=\"%.0f\" y=\"21\">%s</text>\n",
            lx, phases[k].color, lx + 16, phases[k].name);
    lx += 90;
  }

  /* in flight over time: +1 at start, -1 at done, as a step area */
  size_t nev = 2 * t->n;
  uint64_t *evs = malloc((nev ? nev : 1) * sizeof *evs);
  unsigned peak = 0;
  if (evs) {
    for (size_t i = 0; i < t->n; i++) {
      uint64_t s = t->recs[i].t[EV_START] ? t->recs[i].t[EV_START] : t->recs[i].t[EV_SUB];
      evs[2 * i] = s << 1 | 1; /* starts sort after ends at the same time */
      evs[2 * i + 1] = t->recs[i].t[EV_DONE] << 1;
    }
    qsort(evs, nev, sizeof *evs, cmp_u64);
    unsigned cur = 0;
    for (size_t i = 0; i < nev; i++) {
      if (evs[i] & 1)
        cur++;
      else if (cur)
        cur--;
      if (cur > peak)
        peak = cur;
    }
    double base = TOP + STRIP_H;
    fprintf(f, "<text x=\"10\" y=\"%.0f\">in flight</text>\n", TOP + 14.0);
    fprintf(f, "<text x=\"10\" y=\"%.0f\">(peak %u)</text>\n", TOP + 30.0, peak);
    fprintf(f, "<path class=\"inflight\" fill=\"#b0bec5\" stroke=\"#607d8b\" stroke-width=\"1\" d=\"M%.2f %.2f", xof(0, tmax), base);
    cur = 0;
    double y = base;
    for (size_t i = 0; i < nev; i++) {
      double x = xof(evs[i] >> 1, tmax);
      fprintf(f, " L%.2f %.2f", x, y);
      if (evs[i] & 1)
        cur++;
      else if (cur)
        cur--;
      y = base - (peak ? (double)cur * (STRIP_H - 8) / peak : 0);
      fprintf(f, " L%.2f %.2f", x, y);
    }
    fprintf(f, " L%.2f %.2f Z\"/>\n", xof(tmax, tmax), base);
    free(evs);
  }

  /* time axis with grid lines */
  uint64_t step;
  const char *unit;
  double div;
  nice_step(tmax, &step, &unit, &div);
  for (uint64_t v = 0; v <= tmax; v += step) {
    double x = xof(v, tmax);
    fprintf(f, "<line x1=\"%.2f\" y1=\"%.0f\" x2=\"%.2f\" y2=\"%.0f\" stroke=\"#eeeeee\"/>\n", x, TOP + STRIP_H + 20.0,
            x, height - 30);
    fprintf(f, "<text x=\"%.2f\" y=\"%.0f\" text-anchor=\"middle\" fill=\"#555555\">%g %s</text>\n", x,
            TOP + STRIP_H + 16.0, (double)v / div, unit);
  }

  /* the rows */
  fprintf(f, "<text x=\"10\" y=\"%.0f\">%s</text>\n", rows_top - 4, per_conn ? "connections" : "requests");
  for (size_t i = 0; i < t->n; i++) {
    const trec *x = &t->recs[i];
    size_t row = per_conn ? (x->conn ? row_of[x->conn] : 0) : i;
    if (row >= shown)
      continue;
    double y = rows_top + rh * (double)row;
    draw_phases(f, x, y + (rh > 4 ? 1 : 0), rh > 4 ? rh - 2 : rh, tmax);
  }
  if (rows > shown || t->dropped)
    fprintf(f, "<text x=\"10\" y=\"%.0f\" fill=\"#b00000\">showing %zu of %zu %s%s</text>\n", height - 12, shown,
            rows, per_conn ? "connections" : "requests", t->dropped ? " (some requests not recorded)" : "");
  fputs("</svg>\n", f);
  free(row_of);
  int rc = ferror(f) ? -EIO : 0;
  if (fclose(f) != 0 && !rc)
    rc = -errno;
  return rc;
}

int rf_tracer_finish(rf_tracer *t, const char *title) {
  int rc = 0;
  if (t->trace) {
    fputs("\n]}\n", t->trace);
    if (ferror(t->trace))
      rc = -EIO;
    if (fclose(t->trace) != 0 && !rc)
      rc = -errno;
    t->trace = NULL;
  }
  if (t->svg_path) {
    int r = write_svg(t, title);
    if (r && !rc)
      rc = r;
  }
  return rc;
}
