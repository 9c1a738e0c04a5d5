/* Per-request timelines: a Chrome trace (streamed as results arrive) and an
 * SVG waterfall (drawn at the end), and the concurrency summary. */
#include "trace.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json.h"

/* ---- where a request's time went --------------------------------------------- */

static uint64_t span(uint64_t a, uint64_t b) { return a && b > a ? b - a : 0; }

static uint64_t clamp_u64(uint64_t v, uint64_t lo, uint64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

static const char *const phase_names[RF_PH_N] = {"queued", "retrying", "dns", "connect", "tls", "waiting", "receiving"};

const char *rf_phase_name(int phase) { return phase >= 0 && phase < RF_PH_N ? phase_names[phase] : "?"; }

static void put(rf_phase_split *s, int k, uint64_t a, uint64_t b) {
  s->had[k] = true;
  s->from[k] = a;
  s->to[k] = b;
}

static bool https_url(const rf_result *r) {
  const char *u = r->final_url ? r->final_url : r->url;
  return u && strncasecmp(u, "https:", 6) == 0;
}

/* The phase a request that ended before sending was in when it ended; last
 * is the latest setup phase the engine recorded (-1: none). */
static int failed_in(const rf_result *r, int last) {
  int k = -1;
  switch (r->error) {
  case RF_ERR_DNS:
    k = RF_PH_DNS;
    break;
  case RF_ERR_CONNECT_REFUSED:
  case RF_ERR_CONNECT:
  case RF_ERR_PROXY_CONNECT:
  case RF_ERR_PROXY_REFUSED:
    k = RF_PH_CONNECT;
    break;
  case RF_ERR_TLS_VERIFY:
  case RF_ERR_TLS_HANDSHAKE:
  case RF_ERR_TLS:
    k = RF_PH_TLS;
    break;
  case RF_ERR_CONNECT_TIMEOUT: /* "no name resolution / TLS handshake / connection to ..." */
    if (r->error_message && strstr(r->error_message, "name resolution"))
      k = RF_PH_DNS;
    else if (r->error_message && strstr(r->error_message, "TLS handshake"))
      k = RF_PH_TLS;
    break;
  default:
    break;
  }
  if (k < 0) /* max-time, canceled, ...: the step after the last one done */
    k = last >= RF_PH_CONNECT && https_url(r) ? RF_PH_TLS : RF_PH_CONNECT;
  return k < last ? last : k; /* never back before a step that is recorded */
}

void rf_phase_split_of(const rf_result *r, rf_phase_split *s) {
  memset(s, 0, sizeof *s);
  const rf_events *e = &r->events;
  uint64_t sub = e->submitted;
  if (!sub)
    return;
  uint64_t done = e->done > sub ? e->done : sub;
  uint64_t start = e->started ? clamp_u64(e->started, sub, done) : done; /* the last attempt's */
  uint64_t first = clamp_u64(sub + r->timings.queued, sub, start);       /* the first attempt's */
  put(s, RF_PH_QUEUED, sub, first);
  if (start > first || r->attempts > 1 || r->n_redirects)
    put(s, RF_PH_RETRYING, first, start);
  if (!r->conn_id) { /* never had a connection: it waited all along */
    s->to[s->had[RF_PH_RETRYING] ? RF_PH_RETRYING : RF_PH_QUEUED] = done;
    return;
  }
  /* the last attempt: each step from where the previous one ended, so the
   * moments between steps count for the step they led to */
  const uint64_t from[5] = {e->dns_start, e->connect_start, e->tls_start, e->sent, e->first_byte};
  const uint64_t to[5] = {e->dns_end, e->connect_end, e->tls_end, e->first_byte, done};
  uint64_t cur = start;
  int last = -1;
  for (int i = 0; i < 5; i++) {
    uint64_t a = from[i], b = to[i];
    if (i == 4 ? !a : !a && !b)
      continue;
    if (!b) { /* begun, never ended: until the next step began, or the end */
      b = done;
      for (int j = i + 1; j < 5; j++)
        if (from[j]) {
          b = from[j];
          break;
        }
    }
    b = clamp_u64(b, cur, done);
    put(s, RF_PH_DNS + i, cur, b);
    cur = b;
    last = RF_PH_DNS + i;
  }
  if (cur < done) { /* ended during a step the engine did not record */
    int k = failed_in(r, last);
    if (s->had[k])
      s->to[k] = done; /* k == last: it went on until the end */
    else
      put(s, k, cur, done);
  }
}

/* ---- summary ------------------------------------------------------------- */

void rf_phase_add(rf_phase_sums *p, const rf_result *r) {
  const rf_events *e = &r->events;
  rf_phase_split s;
  rf_phase_split_of(r, &s);
  uint64_t d[RF_PH_N];
  for (int k = 0; k < RF_PH_N; k++)
    d[k] = s.had[k] ? s.to[k] - s.from[k] : 0;
  p->n++;
  p->queued += d[RF_PH_QUEUED];
  p->retrying += d[RF_PH_RETRYING];
  p->dns += d[RF_PH_DNS];
  p->connect += d[RF_PH_CONNECT];
  p->tls += d[RF_PH_TLS];
  p->wait += d[RF_PH_WAIT];
  p->receive += d[RF_PH_RECEIVE];
  p->total += span(e->started, e->done); /* queue time would count waiting as overlap */
  if (e->submitted && (!p->first_start || e->submitted < p->first_start))
    p->first_start = e->submitted;
  if (e->done > p->last_done)
    p->last_done = e->done;
}

void rf_phase_merge(rf_phase_sums *into, const rf_phase_sums *from) {
  into->n += from->n;
  into->queued += from->queued;
  into->retrying += from->retrying;
  into->dns += from->dns;
  into->connect += from->connect;
  into->tls += from->tls;
  into->wait += from->wait;
  into->receive += from->receive;
  into->total += from->total;
  if (from->first_start && (!into->first_start || from->first_start < into->first_start))
    into->first_start = from->first_start;
  if (from->last_done > into->last_done)
    into->last_done = from->last_done;
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
  uint64_t all = p->queued + p->retrying + p->dns + p->connect + p->tls + p->wait + p->receive;
  fprintf(f,
          "%sconcurrency: achieved %.1f on average (peak %u) of %u allowed; on the wire %.1f "
          "(peak %u); overlap %.1fx (time on connections / wall time)\n",
          prefix, c->mean_inflight, c->peak_inflight, c->limit, c->mean_active, c->peak_active, c->overlap);
  fprintf(f,
          "%stime per phase: queued %.1f%%, dns %.1f%%, connect %.1f%%, tls %.1f%%, "
          "waiting for the server %.1f%%, receiving %.1f%%, retries/redirects %.1f%%\n",
          prefix, pct(p->queued, all), pct(p->dns, all), pct(p->connect, all), pct(p->tls, all), pct(p->wait, all),
          pct(p->receive, all), pct(p->retrying, all));
  if (c->serialised)
    fprintf(f, "%sWARNING: %s\n", prefix, c->why);
}


/* ---- tracer ---------------------------------------------------------------- */

/* What the waterfall keeps of one request: when its phases were, and what
 * its row's label and tooltip say (strings in the tracer's arena). */
typedef struct trec {
  uint64_t sub, start, done;
  uint64_t from[RF_PH_N], to[RF_PH_N];
  uint64_t tag;
  size_t url, final_url, msg, addr; /* arena offsets + 1; 0 = none */
  int status;
  unsigned attempts, redirects;
  uint32_t conn;
  uint8_t had; /* bit per phase */
  uint8_t error;
  bool reused;
} trec;

#define SVG_MAX_RECORDS 200000u /* the waterfall draws at most this many requests */
#define LANES_MAX 256u          /* HTTP/2 stream tracks per connection in a trace */
#define LANE_TID_BASE (1u << 30) /* their track ids, apart from connection ids, below 2^31 */
#define URL_KEEP 1024u          /* bytes of a URL kept for the tooltip */
#define MSG_KEEP 256u           /* bytes of an error message kept */

struct rf_tracer {
  FILE *trace;
  char *svg_path;
  bool first_event;
  jbuf jb;
  uint8_t *conn_seen; /* bitset: thread-name metadata written */
  size_t conn_seen_bits;
  struct lanes **lanes; /* by connection id: its HTTP/2 streams' tracks */
  size_t nlanes;
  trec *recs;
  size_t n, cap;
  char *arena; /* NUL-terminated strings of the records */
  size_t alen, acap;
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
  for (size_t i = 0; i < t->nlanes; i++)
    free(t->lanes[i]);
  free(t->lanes);
  free(t->recs);
  free(t->arena);
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
static void slice(rf_tracer *t, const char *name, uint64_t tid, uint64_t a, uint64_t b, const rf_result *r) {
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

/* A track's name and its place in the list. */
static void track_meta(rf_tracer *t, uint64_t tid, const char *name, uint64_t sort) {
  ev_begin(t);
  jbuf *j = &t->jb;
  jb_lit(j, "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":");
  jb_u64(j, tid);
  jb_lit(j, ",\"args\":{\"name\":");
  jb_str(j, name, strlen(name));
  jb_lit(j, "}},\n{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":1,\"tid\":");
  jb_u64(j, tid);
  jb_lit(j, ",\"args\":{\"sort_index\":");
  jb_u64(j, sort);
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
  track_meta(t, id, name, (uint64_t)id * LANES_MAX);
}

/* ---- HTTP/2 streams: overlapping requests on one connection ----------------
 * Slices on one track must nest, and a connection's streams overlap: each
 * stream goes to a lane, a track of its own right below its connection's
 * (lane 0 is the connection's track itself). Results come in the order they
 * finished, so a lane is free for a stream once the last stream put there
 * ended before this one started. */
struct lanes {
  unsigned n;
  uint64_t end[LANES_MAX]; /* when the last stream in each lane ended */
};

static uint64_t lane_tid(uint32_t conn, unsigned lane) {
  return lane ? LANE_TID_BASE + (uint64_t)conn * LANES_MAX + lane : conn;
}

static void lane_name(rf_tracer *t, const rf_result *r, unsigned lane) {
  char name[112];
  snprintf(name, sizeof name, "conn %u %s stream lane %u", r->conn_id, r->remote_addr, lane);
  track_meta(t, lane_tid(r->conn_id, lane), name, (uint64_t)r->conn_id * LANES_MAX + lane);
}

/* The track for r's slices from `from` on (its connection's for HTTP/1.x). */
static uint64_t stream_track(rf_tracer *t, const rf_result *r, uint64_t from, uint64_t to) {
  uint32_t id = r->conn_id;
  if (r->http_major != 2 || id >= (1u << 30) / LANES_MAX) /* (track ids stay below 2^31) */
    return id;
  if (id >= t->nlanes) {
    size_t n = t->nlanes ? t->nlanes : 256;
    while (n <= id)
      n *= 2;
    struct lanes **p = realloc(t->lanes, n * sizeof *p);
    if (!p)
      return id;
    memset(p + t->nlanes, 0, (n - t->nlanes) * sizeof *p);
    t->lanes = p;
    t->nlanes = n;
  }
  struct lanes *l = t->lanes[id];
  if (!l && !(l = t->lanes[id] = calloc(1, sizeof *l)))
    return id;
  unsigned k = 0;
  while (k < l->n && l->end[k] > from)
    k++;
  if (k == LANES_MAX)
    k = LANES_MAX - 1; /* more streams at once than lanes: the last lane is shared */
  if (k == l->n) {
    l->n++;
    if (k)
      lane_name(t, r, k);
  }
  if (to > l->end[k])
    l->end[k] = to;
  return lane_tid(id, k);
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
      jb_lit(j, ",\"attempts\":");
      jb_u64(j, r->attempts);
      jb_lit(j, "}");
    }
    jb_lit(j, "}");
    ev_end(t);
  }
}

/* ---- UTF-8 text ---------------------------------------------------------------- */

/* The length of the valid UTF-8 character at s (n > 0 bytes left) with its
 * code point in *cp, or 0 when the bytes there are not one. */
static size_t utf8_char(const unsigned char *s, size_t n, uint32_t *cp) {
  unsigned c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t len;
  uint32_t v, min;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2, v = c & 0x1F, min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3, v = c & 0x0F, min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4, v = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (n < len)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    v = v << 6 | (s[i] & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
    return 0;
  *cp = v;
  return len;
}

/* Text for an XML text node: markup escaped, control characters and bytes
 * that are not UTF-8 replaced, so the SVG parses whatever the URL held. */
static void xml_put(FILE *f, const char *p, size_t n) {
  const unsigned char *s = (const unsigned char *)p;
  while (n > 0) {
    uint32_t cp;
    size_t len = utf8_char(s, n, &cp);
    if (!len) {
      fputs("\xEF\xBF\xBD", f); /* U+FFFD */
      s++, n--;
      continue;
    }
    if (cp == '<')
      fputs("&lt;", f);
    else if (cp == '>')
      fputs("&gt;", f);
    else if (cp == '&')
      fputs("&amp;", f);
    else if ((cp < 0x20 && cp != '\n' && cp != '\t') || cp == 0x7F || cp == 0xFFFE || cp == 0xFFFF)
      fputs("\xEF\xBF\xBD", f);
    else
      fwrite(s, 1, len, f);
    s += len, n -= len;
  }
}

static void xml_text(FILE *f, const char *s) { xml_put(f, s, strlen(s)); }

static void xml_printf(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void xml_printf(FILE *f, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0)
    xml_put(f, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* Advance widths of ASCII ' '..'~' in hundredths of an em, as DejaVu Sans
 * (the widest of the usual sans-serif fonts) has them: with these a text is
 * never wider than estimated. Anything else counts as a full em. */
static const uint8_t em_regular[95] = {
    32, 40, 46, 84, 64, 95, 78, 27, 39, 39, 50, 84, 32, 36, 32, 34, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 34, 34, 84, 84, 84, 53, 100, 68, 69, 70, 77, 63, 58, 77, 75, 29, 29, 66, 56, 86, 75, 79,
    60, 79, 69, 63, 61, 73, 68, 99, 69, 61, 69, 39, 34, 39, 84, 50, 50, 61, 63, 55, 63, 62, 35, 63,
    63, 28, 28, 58, 28, 97, 63, 61, 63, 63, 41, 52, 39, 63, 59, 82, 59, 59, 52, 64, 34, 64, 84};
static const uint8_t em_bold[95] = {
    35, 46, 52, 84, 70, 100, 87, 31, 46, 46, 52, 84, 38, 42, 38, 37, 70, 70, 70, 70, 70, 70, 70, 70,
    70, 70, 40, 40, 84, 84, 84, 58, 100, 77, 76, 73, 83, 68, 68, 82, 84, 37, 37, 77, 64, 100, 84, 85,
    73, 85, 77, 72, 68, 81, 77, 110, 77, 72, 73, 46, 37, 46, 84, 50, 50, 67, 72, 59, 72, 68, 44, 72,
    71, 34, 34, 67, 34, 104, 71, 69, 72, 72, 49, 60, 48, 71, 65, 92, 65, 65, 58, 71, 37, 71, 84};

#define EM_ELLIPSIS 100u /* "…" */

/* The next character's width (hundredths of an em) and length in bytes. */
static unsigned char_em(const char *p, size_t n, const uint8_t *table, size_t *len) {
  uint32_t cp;
  *len = utf8_char((const unsigned char *)p, n, &cp);
  if (!*len) {
    *len = 1;
    return 100;
  }
  return cp >= 32 && cp < 127 ? table[cp - 32] : 110;
}

static unsigned long text_em(const char *p, size_t n, const uint8_t *table) {
  unsigned long w = 0;
  size_t len;
  while (n > 0) {
    w += char_em(p, n, table, &len);
    p += len, n -= len;
  }
  return w;
}

/* How many bytes of p (whole characters) fit in budget hundredths of an em. */
static size_t prefix_fit(const char *p, size_t n, const uint8_t *table, unsigned long budget) {
  size_t used = 0, len;
  unsigned long w = 0;
  while (used < n) {
    unsigned cw = char_em(p + used, n - used, table, &len);
    if (w + cw > budget)
      break;
    w += cw;
    used += len;
  }
  return used;
}

/* Where the longest ending of p that fits in budget starts. */
static size_t suffix_fit(const char *p, size_t n, const uint8_t *table, unsigned long budget) {
  size_t at = n;
  unsigned long w = 0;
  while (at > 0) {
    size_t b = at - 1;
    while (b > 0 && ((unsigned char)p[b] & 0xC0) == 0x80 && at - b < 4)
      b--; /* back to the start of the character */
    size_t len;
    unsigned cw = char_em(p + b, at - b, table, &len);
    if (len != at - b) { /* not one character: step back a single byte */
      b = at - 1;
      cw = 100;
    }
    if (w + cw > budget)
      break;
    w += cw;
    at = b;
  }
  return at;
}

typedef struct tbuf {
  char p[600];
  size_t len;
} tbuf;

static void tb_add(tbuf *b, const char *s, size_t n) {
  if (n > sizeof b->p - 1 - b->len)
    n = sizeof b->p - 1 - b->len;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

/* head + tail in budget (hundredths of an em), shortened with "…" when it
 * does not fit: keeping the head (a host) and the end of the tail (a path's
 * file and query) when the head is short, else the head's beginning; with
 * keep_tail the tail stays whole and the head gives way. */
static void fit_label(tbuf *out, const char *head, size_t hn, const char *tail, size_t tn, bool keep_tail,
                      unsigned long budget) {
  out->len = 0;
  out->p[0] = 0;
  unsigned long hw = text_em(head, hn, em_regular), tw = text_em(tail, tn, em_regular);
  if (hw + tw <= budget) {
    tb_add(out, head, hn);
    tb_add(out, tail, tn);
    return;
  }
  if (keep_tail && tw + EM_ELLIPSIS < budget) {
    tb_add(out, head, prefix_fit(head, hn, em_regular, budget - tw - EM_ELLIPSIS));
    tb_add(out, "\xE2\x80\xA6", 3);
    tb_add(out, tail, tn);
    return;
  }
  if (hw + EM_ELLIPSIS <= budget * 6 / 10) {
    size_t at = suffix_fit(tail, tn, em_regular, budget - hw - EM_ELLIPSIS);
    tb_add(out, head, hn);
    tb_add(out, "\xE2\x80\xA6", 3);
    tb_add(out, tail + at, tn - at);
    return;
  }
  tb_add(out, head, prefix_fit(head, hn, em_regular, budget > EM_ELLIPSIS ? budget - EM_ELLIPSIS : 0));
  tb_add(out, "\xE2\x80\xA6", 3);
}

/* A URL's host[:port] and its path with the query, without the scheme, a
 * user name or password, or the fragment. */
static void url_parts(const char *u, const char **host, size_t *hn, const char **path, size_t *pn) {
  const char *s = strstr(u, "://");
  s = s && s - u < 16 ? s + 3 : u;
  const char *a_end = s + strcspn(s, "/?#");
  const char *at = memchr(s, '@', (size_t)(a_end - s));
  while (at) { /* the last '@' ends the user information */
    s = at + 1;
    at = memchr(s, '@', (size_t)(a_end - s));
  }
  *host = s;
  *hn = (size_t)(a_end - s);
  *path = a_end;
  *pn = strcspn(a_end, "#");
}

/* The URL for a tooltip: as given, but a password in it replaced by "***". */
static void xml_url(FILE *f, const char *u) {
  const char *s = strstr(u, "://");
  if (s && s - u < 16) {
    s += 3;
    const char *a_end = s + strcspn(s, "/?#");
    const char *at = NULL;
    for (const char *q = s; q < a_end; q++)
      if (*q == '@')
        at = q;
    const char *colon = at ? memchr(s, ':', (size_t)(at - s)) : NULL;
    if (colon) {
      xml_put(f, u, (size_t)(colon + 1 - u));
      fputs("***", f);
      xml_text(f, at);
      return;
    }
  }
  xml_text(f, u);
}

/* ---- recording ---------------------------------------------------------------- */

/* Copies up to max bytes of p (whole characters) into the arena: its offset
 * + 1, or 0 for an empty string or when memory is short. */
static size_t keep_str(rf_tracer *t, const char *p, size_t n, size_t max) {
  if (!p || !n)
    return 0;
  if (n > max) {
    n = max;
    while (n > 0 && ((unsigned char)p[n] & 0xC0) == 0x80)
      n--;
  }
  if (t->alen + n + 1 > t->acap) {
    size_t cap = t->acap ? t->acap : 65536;
    while (cap < t->alen + n + 1)
      cap *= 2;
    char *a = realloc(t->arena, cap);
    if (!a)
      return 0;
    t->arena = a;
    t->acap = cap;
  }
  size_t off = t->alen;
  memcpy(t->arena + off, p, n);
  t->arena[off + n] = 0;
  t->alen += n + 1;
  return off + 1;
}

static const char *str_of(const rf_tracer *t, size_t off) { return off ? t->arena + off - 1 : ""; }

/* Phase slices for the trace, by phase: the names Perfetto shows. */
static const char *const slice_names[RF_PH_N] = {NULL, NULL, "dns", "connect", "tls", "wait", "receive"};

void rf_tracer_add(rf_tracer *t, const rf_result *r, uint64_t released_us) {
  const rf_events *e = &r->events;
  rf_phase_split ps;
  rf_phase_split_of(r, &ps);
  if (t->trace) {
    request_span(t, r, released_us);
    if (r->conn_id) {
      conn_name(t, r);
      uint64_t from = 0, to = 0;
      for (int k = RF_PH_DNS; k < RF_PH_N; k++)
        if (ps.had[k]) {
          from = from ? from : ps.from[k];
          to = ps.to[k];
        }
      uint64_t tid = stream_track(t, r, from, to);
      for (int k = RF_PH_DNS; k < RF_PH_N; k++)
        if (ps.had[k])
          slice(t, slice_names[k], tid, ps.from[k], ps.to[k], r);
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
  memset(x, 0, sizeof *x);
  x->sub = e->submitted;
  x->start = e->started;
  x->done = e->done;
  for (int k = 0; k < RF_PH_N; k++)
    if (ps.had[k]) {
      x->had |= (uint8_t)(1u << k);
      x->from[k] = ps.from[k];
      x->to[k] = ps.to[k];
    }
  x->tag = r->tag;
  x->url = keep_str(t, r->url, r->url ? strlen(r->url) : 0, URL_KEEP);
  if (r->n_redirects && r->final_url)
    x->final_url = keep_str(t, r->final_url, strlen(r->final_url), URL_KEEP);
  if (r->error != RF_OK && r->error_message)
    x->msg = keep_str(t, r->error_message, strlen(r->error_message), MSG_KEEP);
  x->addr = keep_str(t, r->remote_addr, strnlen(r->remote_addr, sizeof r->remote_addr), sizeof r->remote_addr);
  x->status = r->status;
  x->attempts = r->attempts;
  x->redirects = (unsigned)r->n_redirects;
  x->conn = r->conn_id;
  x->error = (uint8_t)r->error;
  x->reused = r->reused;
}

/* ---- the SVG waterfall ---------------------------------------------------------- */

/* Phase colours, by phase: the legend and the tests rely on them. */
static const char *const phase_colors[RF_PH_N] = {"#c8c8c8", "#ff9da7", "#2ca58d", "#f28e2b",
                                                  "#9467bd", "#edc948", "#4e79a7"};

#define SVG_W 1200
#define LEFT 270 /* the label column */
#define RIGHT 20
#define PLOT_W (SVG_W - LEFT - RIGHT)
#define TOP 40
#define STRIP_H 90
#define MAX_ROWS 1000
#define LABEL_X 10
#define LABEL_FONT 10                       /* px */
#define LABEL_EM ((LEFT - LABEL_X - 12) * 100 / LABEL_FONT) /* the label's room, 1/100 em */
#define ROW_MIN 12                          /* px: a label needs it */
#define ROW_MAX 16
#define CONN_LIST 12 /* requests a connection's tooltip names */

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

/* "312 µs", "45.2 ms", "2.00 s" */
static const char *dur(char *buf, size_t len, uint64_t us) {
  if (us < 1000)
    snprintf(buf, len, "%llu \xC2\xB5s", (unsigned long long)us);
  else if (us < 10000000)
    snprintf(buf, len, "%.1f ms", (double)us / 1e3);
  else
    snprintf(buf, len, "%.2f s", (double)us / 1e6);
  return buf;
}

/* A request's phases from `first` on (a connection's row leaves out the
 * time before the request was on it) and, when it failed, a red mark. */
static void draw_phases(FILE *f, const trec *x, int first, double y, double h, uint64_t tmax) {
  for (int k = first; k < RF_PH_N; k++) {
    if (!(x->had & (1u << k)))
      continue;
    double x0 = xof(x->from[k], tmax), x1 = xof(x->to[k], tmax);
    if (x1 - x0 < 0.5)
      x1 = x0 + 0.5; /* a phase too short to see still shows */
    fprintf(f, "<rect class=\"%s\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\"/>\n",
            phase_names[k], x0, y, x1 - x0, h, phase_colors[k]);
  }
  if (x->error != RF_OK)
    fprintf(f, "<rect class=\"failed\" x=\"%.2f\" y=\"%.2f\" width=\"3\" height=\"%.2f\" fill=\"#e15759\"/>\n",
            xof(x->done, tmax), y, h);
}

/* The outcome in a few words: "200", "read_timeout", "reset after 200". */
static void xml_outcome(FILE *f, const trec *x) {
  if (x->error == RF_OK)
    xml_printf(f, "%d", x->status);
  else if (x->status)
    xml_printf(f, "%s after %d", rf_error_name((rf_error)x->error), x->status);
  else
    xml_text(f, rf_error_name((rf_error)x->error));
}

/* A request's tooltip: everything about it, one thing a line. */
static void req_title(FILE *f, const rf_tracer *t, const trec *x) {
  char b[32];
  fputs("<title>", f);
  xml_url(f, str_of(t, x->url));
  if (x->redirects) {
    xml_printf(f, "\n%u redirect%s to ", x->redirects, x->redirects == 1 ? "" : "s");
    xml_url(f, str_of(t, x->final_url));
  }
  if (x->error == RF_OK) {
    xml_printf(f, "\nstatus %d", x->status);
  } else {
    xml_printf(f, "\nerror %s", rf_error_name((rf_error)x->error));
    if (x->status)
      xml_printf(f, " (status %d)", x->status);
    if (x->msg) {
      fputs(": ", f);
      xml_text(f, str_of(t, x->msg));
    }
  }
  xml_printf(f, "\ntotal %s:", dur(b, sizeof b, x->done > x->sub ? x->done - x->sub : 0));
  const char *sep = " ";
  for (int k = 0; k < RF_PH_N; k++)
    if (x->had & (1u << k)) {
      xml_printf(f, "%s%s %s", sep, phase_names[k], dur(b, sizeof b, x->to[k] - x->from[k]));
      sep = ", ";
    }
  if (x->conn)
    xml_printf(f, "\nconnection %u%s%s%s", x->conn, x->addr ? " to " : "", str_of(t, x->addr),
               x->reused ? " (reused)" : " (new)");
  else
    xml_printf(f, "\nno connection");
  if (x->attempts > 1)
    xml_printf(f, "\nattempt %u (after %u retr%s)", x->attempts, x->attempts - 1, x->attempts == 2 ? "y" : "ies");
  else
    xml_printf(f, "\nattempt 1");
  xml_printf(f, "\nline %llu", (unsigned long long)x->tag);
  fputs("</title>", f);
}

/* The label and the stripe of row `row` (its tooltip, when any, comes first). */
static void row_label(FILE *f, size_t row, double y, double rh, const tbuf *label) {
  fprintf(f,
          "<rect class=\"stripe\" x=\"0\" y=\"%.2f\" width=\"%d\" height=\"%.2f\" fill=\"%s\" fill-opacity=\"%s\"/>"
          "<text class=\"label\" x=\"%d\" y=\"%.2f\" font-size=\"%d\" fill=\"#333333\">",
          y, SVG_W - RIGHT, rh, row % 2 ? "#dde3ea" : "#ffffff", row % 2 ? "0.45" : "0", LABEL_X,
          y + rh / 2 + LABEL_FONT * 0.35, LABEL_FONT);
  xml_put(f, label->p, label->len);
  fputs("</text>", f);
}

static void request_label(const rf_tracer *t, const trec *x, tbuf *out) {
  const char *host, *path;
  size_t hn, pn;
  url_parts(str_of(t, x->url), &host, &hn, &path, &pn);
  fit_label(out, host, hn, pn ? path : "/", pn ? pn : 1, false, LABEL_EM);
}

static int cmp_rec_start(const void *a, const void *b) {
  const trec *x = a, *y = b;
  if (x->sub != y->sub)
    return x->sub < y->sub ? -1 : 1;
  return x->done < y->done ? -1 : x->done > y->done;
}

/* One row per connection: the connection's label and tooltip (the
 * requests it carried), drawn under the requests' own bars. */
static void conn_rows(FILE *f, const rf_tracer *t, const size_t *head, const size_t *next, size_t shown,
                      double rows_top, double rh) {
  char b1[32], b2[32];
  for (size_t row = 0; row < shown; row++) {
    size_t i = head[row];
    if (i == SIZE_MAX)
      continue;
    const trec *x0 = &t->recs[i];
    size_t n = 0, failed = 0;
    uint64_t from = UINT64_MAX, to = 0;
    const char *addr = "";
    for (size_t j = i; j != SIZE_MAX; j = next[j]) {
      const trec *x = &t->recs[j];
      n++;
      failed += x->error != RF_OK;
      if (x->sub < from)
        from = x->sub;
      if (x->done > to)
        to = x->done;
      if (!addr[0] && x->addr)
        addr = str_of(t, x->addr);
    }
    fputs("<g class=\"conn\"><title>", f);
    if (x0->conn)
      xml_printf(f, "connection %u%s%s", x0->conn, addr[0] ? " to " : "", addr);
    else
      xml_printf(f, "requests without a connection");
    xml_printf(f, "\n%zu request%s, %zu failed, from %s to %s", n, n == 1 ? "" : "s", failed,
               dur(b1, sizeof b1, from), dur(b2, sizeof b2, to));
    size_t k = 0;
    for (size_t j = i; j != SIZE_MAX && k < CONN_LIST; j = next[j], k++) {
      const trec *x = &t->recs[j];
      fputs("\n", f);
      xml_url(f, str_of(t, x->url));
      fputs(" ", f);
      xml_outcome(f, x);
      xml_printf(f, " %s", dur(b1, sizeof b1, x->done > x->sub ? x->done - x->sub : 0));
    }
    if (n > k)
      xml_printf(f, "\n... and %zu more", n - k);
    fputs("</title>", f);
    /* label: the host and the connection */
    const char *host, *path;
    size_t hn, pn;
    url_parts(str_of(t, x0->url), &host, &hn, &path, &pn);
    char tail[64];
    int tn = x0->conn ? snprintf(tail, sizeof tail, " conn %u, %zu req", x0->conn, n)
                      : snprintf(tail, sizeof tail, "no connection, %zu req", n);
    tbuf label;
    if (x0->conn)
      fit_label(&label, host, hn, tail, (size_t)tn, true, LABEL_EM);
    else
      fit_label(&label, "", 0, tail, (size_t)tn, true, LABEL_EM);
    row_label(f, row, rows_top + rh * (double)row, rh, &label);
    fputs("</g>\n", f);
  }
}

/* The waterfall's rows: one per request, or one per connection when there
 * are many (then row_of maps a connection to its row, and head and next
 * list each shown row's requests in order). */
typedef struct svg_rows {
  bool per_conn;
  uint32_t *row_of;
  size_t *head, *tail, *next;
  size_t rows, shown;
} svg_rows;

static void free_rows(svg_rows *R) {
  free(R->row_of);
  free(R->head);
  free(R->tail);
  free(R->next);
}

/* Per connection: each connection's row, in order of first use (row 0 for
 * requests that never had a connection, when there are any). */
static int number_conn_rows(const rf_tracer *t, svg_rows *R, uint32_t max_conn, bool connless) {
  R->row_of = calloc((size_t)max_conn + 1, sizeof *R->row_of);
  R->next = malloc(t->n * sizeof *R->next);
  if (!R->row_of || !R->next)
    return -ENOMEM;
  R->rows = connless ? 1 : 0;
  for (size_t i = 0; i < t->n; i++) {
    uint32_t c = t->recs[i].conn;
    if (c && !R->row_of[c])
      R->row_of[c] = (uint32_t)++R->rows;
  }
  if (!connless)
    for (uint32_t c = 1; c <= max_conn; c++)
      if (R->row_of[c])
        R->row_of[c]--;
  return 0;
}

/* Per connection: each shown row's requests, in order. */
static int list_conn_rows(const rf_tracer *t, svg_rows *R) {
  size_t shown = R->shown;
  R->head = malloc((shown ? shown : 1) * sizeof *R->head);
  R->tail = malloc((shown ? shown : 1) * sizeof *R->tail);
  if (!R->head || !R->tail)
    return -ENOMEM;
  for (size_t r = 0; r < shown; r++)
    R->head[r] = R->tail[r] = SIZE_MAX;
  for (size_t i = 0; i < t->n; i++) {
    size_t row = t->recs[i].conn ? R->row_of[t->recs[i].conn] : 0;
    R->next[i] = SIZE_MAX;
    if (row >= shown)
      continue;
    if (R->tail[row] == SIZE_MAX)
      R->head[row] = i;
    else
      R->next[R->tail[row]] = i;
    R->tail[row] = i;
  }
  return 0;
}

/* The rows and how many are shown; -ENOMEM (free_rows frees what was made). */
static int plan_rows(const rf_tracer *t, svg_rows *R) {
  R->per_conn = t->n > 300;
  uint32_t max_conn = 0;
  bool connless = false;
  for (size_t i = 0; i < t->n; i++) {
    if (t->recs[i].conn > max_conn)
      max_conn = t->recs[i].conn;
    connless |= !t->recs[i].conn;
  }
  R->rows = t->n;
  if (R->per_conn && number_conn_rows(t, R, max_conn, connless))
    return -ENOMEM;
  R->shown = R->rows < MAX_ROWS ? R->rows : MAX_ROWS;
  if (R->per_conn && list_conn_rows(t, R))
    return -ENOMEM;
  return 0;
}

/* The <svg> element, the background, the title (cut to end where the legend
 * starts) and the legend, right-aligned. */
static void svg_head(FILE *f, const char *title, double height) {
  fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%.0f\" viewBox=\"0 0 %d %.0f\" "
             "font-family=\"sans-serif\" font-size=\"12\">\n",
          SVG_W, height, SVG_W, height);
  fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n");

  unsigned long legend_w = 0;
  for (int k = 0; k < RF_PH_N; k++)
    legend_w += 16 + text_em(phase_names[k], strlen(phase_names[k]), em_regular) * 12 / 100 + 14;
  double lx = SVG_W - RIGHT - (double)legend_w;
  unsigned long title_em = (unsigned long)((lx - 10 - 20) * 100 / 15);
  tbuf tt;
  size_t tl = strlen(title);
  tt.len = 0;
  if (text_em(title, tl, em_bold) <= title_em) {
    tb_add(&tt, title, tl);
  } else {
    tb_add(&tt, title, prefix_fit(title, tl, em_bold, title_em - 3 * em_bold['.' - 32]));
    tb_add(&tt, "...", 3);
  }
  fputs("<text x=\"10\" y=\"22\" font-size=\"15\" font-weight=\"bold\">", f);
  xml_put(f, tt.p, tt.len);
  fputs("</text>\n", f);
  for (int k = 0; k < RF_PH_N; k++) {
    fprintf(f, "<rect x=\"%.0f\" y=\"10\" width=\"12\" height=\"12\" fill=\"%s\"/>"
               "<text x=\"%.0f\" y=\"21\">%s</text>\n",
            lx, phase_colors[k], lx + 16, phase_names[k]);
    lx += 16 + (double)(text_em(phase_names[k], strlen(phase_names[k]), em_regular) * 12 / 100) + 14;
  }
}

/* In flight over time: +1 at start, -1 at done, as a step area with its
 * peak. Left out when the events cannot be allocated. */
static void inflight_strip(FILE *f, const rf_tracer *t, uint64_t tmax) {
  size_t nev = 2 * t->n;
  uint64_t *evs = malloc((nev ? nev : 1) * sizeof *evs);
  unsigned peak = 0;
  if (!evs)
    return;
  for (size_t i = 0; i < t->n; i++) {
    uint64_t s = t->recs[i].start ? t->recs[i].start : t->recs[i].sub;
    evs[2 * i] = s << 1 | 1; /* starts sort after ends at the same time */
    evs[2 * i + 1] = t->recs[i].done << 1;
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

/* The time axis with grid lines (and its labels again below a tall picture). */
static void time_axis(FILE *f, uint64_t tmax, double rows_end, bool axis_below) {
  uint64_t step;
  const char *unit;
  double div;
  nice_step(tmax, &step, &unit, &div);
  for (uint64_t v = 0; v <= tmax; v += step) {
    double x = xof(v, tmax);
    fprintf(f, "<line x1=\"%.2f\" y1=\"%.0f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#eeeeee\"/>\n", x, TOP + STRIP_H + 20.0,
            x, rows_end);
    fprintf(f, "<text x=\"%.2f\" y=\"%.0f\" text-anchor=\"middle\" fill=\"#555555\">%g %s</text>\n", x,
            TOP + STRIP_H + 16.0, (double)v / div, unit);
    if (axis_below)
      fprintf(f, "<text x=\"%.2f\" y=\"%.0f\" text-anchor=\"middle\" fill=\"#555555\">%g %s</text>\n", x,
              rows_end + 16, (double)v / div, unit);
  }
}

/* The rows: a label on the left, the phases on the time axis, a tooltip
 * (per connection: the connections' rows, then each request's bar on its
 * connection's row). */
static void draw_rows(FILE *f, const rf_tracer *t, const svg_rows *R, double rows_top, double rh,
                      uint64_t tmax) {
  double bar_y = rh > 4 ? 1 : 0, bar_h = rh > 4 ? rh - 2 : rh;
  if (R->per_conn) {
    conn_rows(f, t, R->head, R->next, R->shown, rows_top, rh);
    for (size_t i = 0; i < t->n; i++) {
      const trec *x = &t->recs[i];
      size_t row = x->conn ? R->row_of[x->conn] : 0;
      if (row >= R->shown)
        continue;
      fputs("<g class=\"req\">", f);
      req_title(f, t, x);
      fputs("\n", f);
      draw_phases(f, x, RF_PH_DNS, rows_top + rh * (double)row + bar_y, bar_h, tmax);
      fputs("</g>\n", f);
    }
  } else {
    for (size_t i = 0; i < R->shown; i++) {
      const trec *x = &t->recs[i];
      double y = rows_top + rh * (double)i;
      tbuf label;
      request_label(t, x, &label);
      fputs("<g class=\"req\">", f);
      req_title(f, t, x);
      row_label(f, i, y, rh, &label);
      fputs("\n", f);
      draw_phases(f, x, RF_PH_QUEUED, y + bar_y, bar_h, tmax);
      fputs("</g>\n", f);
    }
  }
}

static int write_svg(rf_tracer *t, const char *title) {
  FILE *f = fopen(t->svg_path, "w");
  if (!f)
    return -errno;
  qsort(t->recs, t->n, sizeof *t->recs, cmp_rec_start);
  uint64_t tmax = 1;
  for (size_t i = 0; i < t->n; i++)
    if (t->recs[i].done > tmax)
      tmax = t->recs[i].done;
  tmax += tmax / 50 + 1; /* a little room on the right */

  svg_rows R = {0};
  if (plan_rows(t, &R)) {
    free_rows(&R);
    fclose(f);
    return -ENOMEM;
  }
  double rh = 720.0 / (double)(R.shown ? R.shown : 1);
  if (rh > ROW_MAX)
    rh = ROW_MAX;
  if (rh < ROW_MIN)
    rh = ROW_MIN;
  double rows_top = TOP + STRIP_H + 30;
  double rows_end = rows_top + rh * (double)R.shown;
  bool axis_below = rows_end - rows_top > 400;
  double height = rows_end + (axis_below ? 60 : 40);

  svg_head(f, title, height);
  inflight_strip(f, t, tmax);
  time_axis(f, tmax, rows_end, axis_below);
  fprintf(f, "<text x=\"10\" y=\"%.0f\" font-weight=\"bold\">%s</text>\n", rows_top - 4,
          R.per_conn ? "connections" : "requests");
  draw_rows(f, t, &R, rows_top, rh, tmax);
  if (R.rows > R.shown || t->dropped)
    fprintf(f, "<text x=\"10\" y=\"%.0f\" fill=\"#b00000\">showing %zu of %zu %s%s</text>\n", height - 10,
            R.shown, R.rows, R.per_conn ? "connections" : "requests",
            t->dropped ? " (some requests not recorded)" : "");
  fputs("</svg>\n", f);
  free_rows(&R);
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
