/* `ringfetch demo`: the story in one command, with no network and no files
 * needed. An embedded HTTPS server answers every request after a delay
 * (1 s by default); the demo fetches n URLs one at a time and all at once,
 * prints the wall times side by side, and draws both as waterfalls. */
#include "demo.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "options.h"
#include "ringfetch.h"
#include "server/server.h"
#include "trace.h"

typedef struct demo_opts {
  unsigned delay_ms;
  unsigned max_n;
  const char *dir;      /* where the waterfalls go */
  bool http;
} demo_opts;

static double mono_s(void) { return (double)rf_monotonic_us() / 1e6; }

static int parse(int argc, char **argv, demo_opts *o) {
  o->delay_ms = 1000;
  o->max_n = 10000;
  o->dir = ".";
  o->http = false;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    unsigned long v;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      printf("usage: ringfetch demo [--delay MS] [--max-n N] [--dir DIR] [--http]\n"
             "  fetches n URLs from an embedded HTTPS server that answers after --delay\n"
             "  (default 1000 ms), one at a time and all at once, for n = 3, 5, 10, 100,\n"
             "  1000, 10000 (up to --max-n), prints the wall times and writes\n"
             "  demo-serial.svg and demo-concurrent.svg waterfalls to --dir (default .)\n");
      return -1;
    }
    if (i + 1 >= argc && strcmp(a, "--http") != 0)
      return rf_cli_usage_err("option '%s' needs a value (or is unknown)", a);
    if (strcmp(a, "--delay") == 0) {
      if (rf_cli_parse_uint(argv[++i], 600000, &v))
        return rf_cli_usage_err("bad --delay '%s' (milliseconds)", argv[i]);
      o->delay_ms = (unsigned)v;
    } else if (strcmp(a, "--max-n") == 0) {
      if (rf_cli_parse_uint(argv[++i], 10000, &v) || v < 3)
        return rf_cli_usage_err("bad --max-n '%s' (3..10000)", argv[i]);
      o->max_n = (unsigned)v;
    } else if (strcmp(a, "--dir") == 0) {
      o->dir = argv[++i];
    } else if (strcmp(a, "--http") == 0) {
      o->http = true;
    } else {
      return rf_cli_usage_err("unknown option '%s' (ringfetch demo --help)", a);
    }
  }
  return 0;
}

/* Fetches n URLs with at most `conc` at once; returns the wall time in
 * seconds (or a negative value on an engine failure); *ok = successes. */
static double run(const char *base, const char *pem, unsigned n, unsigned conc, rf_tracer *tr, unsigned *ok,
                  rf_concurrency *cc) {
  rf_config cfg;
  rf_config_init(&cfg);
  cfg.concurrency = conc;
  cfg.queue_size = n + 16;
  cfg.ca_pem = pem;
  cfg.connect_timeout_ms = 30000;
  cfg.read_timeout_ms = 60000;
  rf_engine *e = NULL;
  char err[256];
  if (rf_engine_new(&cfg, &e, err, sizeof err) < 0) {
    fprintf(stderr, "ringfetch: %s\n", err);
    return -1;
  }
  char url[128];
  double t0 = mono_s();
  for (unsigned i = 0; i < n; i++) {
    snprintf(url, sizeof url, "%s/report?item=%u", base, i);
    rf_request rq;
    rf_request_init(&rq);
    rq.url = url;
    rq.tag = i;
    rq.body_mode = RF_BODY_DISCARD;
    if (rf_submit(e, &rq) < 0) {
      fprintf(stderr, "ringfetch: cannot submit request %u\n", i);
      rf_engine_free(e);
      return -1;
    }
  }
  rf_phase_sums ph;
  memset(&ph, 0, sizeof ph);
  *ok = 0;
  while (rf_outstanding(e) > 0) {
    if (rf_run(e, 1000) < 0)
      break;
    rf_result *r;
    while ((r = rf_result_next(e)) != NULL) {
      if (r->error == RF_OK && r->status == 200)
        (*ok)++;
      else if (*ok == 0 && r->error != RF_OK)
        fprintf(stderr, "ringfetch: demo request failed: %s: %s\n", rf_error_name(r->error), r->error_message);
      rf_phase_add(&ph, r);
      if (tr)
        rf_tracer_add(tr, r, rf_clock_us(e));
      rf_result_release(e, r);
    }
  }
  double wall = mono_s() - t0;
  if (cc) {
    rf_stats st;
    rf_get_stats(e, &st);
    rf_concurrency_eval(cc, &st, &ph, wall, conc, conc);
  }
  rf_engine_free(e);
  return wall;
}

static void fmt_secs(char *out, size_t n, double s, bool est) {
  if (s >= 3600)
    snprintf(out, n, "%s%.1f h", est ? "~" : "", s / 3600);
  else if (s >= 60)
    snprintf(out, n, "%s%.1f min", est ? "~" : "", s / 60);
  else
    snprintf(out, n, "%s%.2f s", est ? "~" : "", s);
}

/* What the rows of one demo share. */
typedef struct demo_ctx {
  const char *base, *pem;
  char svg_serial[4096], svg_conc[4096];
  bool wrote_serial, wrote_conc;
  double per_request; /* measured seconds per request, one at a time */
} demo_ctx;

/* run() one at a time (serial) or all at once, drawn as a waterfall when
 * trace is set. */
static double traced_run(demo_ctx *d, bool trace, bool serial, unsigned n, unsigned *ok,
                         rf_concurrency *cc) {
  char err[256];
  rf_tracer *tr = NULL;
  if (trace && !(tr = rf_tracer_new(NULL, serial ? d->svg_serial : d->svg_conc, err, sizeof err)))
    fprintf(stderr, "ringfetch: %s\n", err);
  double wall = run(d->base, d->pem, n, serial ? 1 : n, tr, ok, cc);
  if (tr) {
    char title[128];
    snprintf(title, sizeof title, "%u requests %s: %.2f s", n, serial ? "one at a time" : "all at once",
             wall);
    bool wrote = rf_tracer_finish(tr, title) == 0;
    if (serial)
      d->wrote_serial = wrote;
    else
      d->wrote_conc = wrote;
    rf_tracer_free(tr);
  }
  return wall;
}

/* One row of the table: n requests one at a time (measured up to 10, else
 * estimated) and all at once. False when a run failed. */
static bool demo_row(demo_ctx *d, unsigned n) {
  unsigned ok1 = n, ok2 = 0;
  bool measured = n <= 10;
  double serial = 0;
  if (measured) {
    serial = traced_run(d, n == 5, true, n, &ok1, NULL);
    if (serial > 0)
      d->per_request = serial / n;
  } else {
    serial = d->per_request * n;
  }
  rf_concurrency cc;
  double conc = traced_run(d, n == 10, false, n, &ok2, &cc);
  if (serial < 0 || conc < 0 || ok1 != n || ok2 != n) {
    fprintf(stderr, "ringfetch: demo run for n = %u failed (%u and %u of %u ok)\n", n, ok1, ok2, n);
    return false;
  }
  char a[32], b[32], c[32], e[32];
  fmt_secs(a, sizeof a, serial, !measured);
  fmt_secs(b, sizeof b, conc, false);
  snprintf(c, sizeof c, "%.0fx", serial / conc);
  snprintf(e, sizeof e, "%.0f (peak %u)", cc.mean_inflight, cc.peak_inflight);
  printf("%8u %18s %14s %10s %14s\n", n, a, b, c, e);
  fflush(stdout);
  return true;
}

static void demo_footer(const demo_ctx *d, const rf_server *srv) {
  printf("\n~ : n x the measured time of one request (%.2f s), not run.\n", d->per_request);
  if (d->wrote_serial)
    printf("waterfall of 5 requests one at a time: %s\n", d->svg_serial);
  if (d->wrote_conc)
    printf("waterfall of 10 requests all at once:  %s\n", d->svg_conc);
  printf("server: %llu requests on %llu connections\n", (unsigned long long)rf_server_requests(srv),
         (unsigned long long)rf_server_connections(srv));
}

int rf_demo_main(int argc, char **argv) {
  demo_opts o;
  int rc = parse(argc, argv, &o);
  if (rc)
    return rc < 0 ? RF_EXIT_OK : rc;
  signal(SIGPIPE, SIG_IGN);
  rf_server_opts so = {.tls = !o.http, .delay_ms = o.delay_ms, .max_conns = o.max_n + 64};
  rf_server *srv = NULL;
  char err[256];
  if (rf_server_start(&so, &srv, err, sizeof err) < 0) {
    fprintf(stderr, "ringfetch: cannot start the demo server: %s\n", err);
    return RF_EXIT_FAILED;
  }
  char base[64];
  snprintf(base, sizeof base, "%s://localhost:%u", o.http ? "http" : "https", rf_server_port(srv));
  demo_ctx d = {.base = base, .pem = rf_server_cert_pem(srv)};
  snprintf(d.svg_serial, sizeof d.svg_serial, "%s/demo-serial.svg", o.dir);
  snprintf(d.svg_conc, sizeof d.svg_conc, "%s/demo-concurrent.svg", o.dir);

  printf("ringfetch demo: n %s requests to a local server that takes %.1f s to answer each one\n",
         o.http ? "HTTP" : "HTTPS", o.delay_ms / 1000.0);
  printf("(the embedded server runs in this process on 127.0.0.1:%u; certificates are verified)\n\n",
         rf_server_port(srv));
  printf("%8s %18s %14s %10s %14s\n", "n", "one at a time", "all at once", "speed-up", "concurrency");
  fflush(stdout);

  static const unsigned ns[] = {3, 5, 10, 100, 1000, 10000};
  int status = RF_EXIT_OK;
  for (size_t i = 0; i < sizeof ns / sizeof ns[0] && ns[i] <= o.max_n; i++) {
    if (!demo_row(&d, ns[i])) {
      status = RF_EXIT_FAILED;
      break;
    }
  }
  if (status == RF_EXIT_OK)
    demo_footer(&d, srv);
  rf_server_stop(srv);
  return status;
}
