/* Command-line parsing for `ringfetch URL`, `ringfetch fetch` and `ringfetch
 * bench`: one table of options (opts[]) and one parser, so a flag the
 * commands share is parsed and applied by the same code into the same
 * rf_config or request-template field. curl's spellings where curl has them,
 * wrk's in bench.
 *
 * A new option is a row in opts[] (its names, its value, the commands that
 * take it, its --help line) and a case in the apply_* function of its group. */
#include "options.h"

#include <stdlib.h>
#include <string.h>

enum { URL = RF_CMD_SINGLE, FETCH = RF_CMD_FETCH, BENCH = RF_CMD_BENCH, ALL = URL | FETCH | BENCH,
       ENQ = RF_CMD_ENQUEUE, RES = RF_CMD_RESULTS };

/* What apply() does with an option, in three groups (the apply_* functions). */
enum {
  /* the request template and the engine configuration: all commands */
  O_HEADER, O_REQUEST, O_DATA, O_USER_AGENT, O_CACERT, O_CAPATH, O_INSECURE, O_RESOLVE, O_DNS_SERVERS,
  O_CONNECT_TIMEOUT, O_READ_TIMEOUT, O_MAX_TIME, O_PER_HOST, O_NO_TLS_WARMUP, O_MAX_BODY, O_HELP, O_VERSION,
  O_LOCATION, O_MAX_REDIRS, O_REDIRECT_DOWNGRADE, O_RETRY, O_RETRY_DELAY, O_RETRY_MAX_TIME,
  O_RETRY_ALL_METHODS, O_HOST_RATE, O_MAX_IDLE, O_CONNECT_TO, O_IPV4, O_IPV6, O_HAPPY_EYEBALLS, O_PROXY,
  O_NOPROXY, O_COMPRESSED, O_MAX_RATIO, O_STRICT, O_ROBOTS, O_ROBOTS_AGENT, O_HTTP2,
  O_HTTP2_PRIOR,
  /* what happens to the results: URL and fetch (trace and waterfall also bench) */
  O__OUTPUT, O_CONCURRENCY = O__OUTPUT, O_FAIL, O_OUTPUT, O_QUIET, O_INPUT, O_BODY_DIR, O_ALL_HEADERS,
  O_TRACE, O_WATERFALL, O_RESUME, O_GRACE, O_PROGRESS, O_NO_PROGRESS, O_STATS_JSON, O_WARC, O_WARC_MAX_SIZE,
  O_CDXJ, O_QUEUE, O_WORKER, O_CLAIM_IDLE, O_DRAIN, O_FOLLOW,
  /* the load: bench */
  O__BENCH, O_CONNECTIONS = O__BENCH, O_DURATION, O_REQUESTS, O_THREADS, O_RATE, O_RATE_SCHEDULE,
  O_PIPELINE, O_BATCH, O_NEW_CONN, O_LATENCY, O_JSON, O_HISTOGRAM, O_TRACE_MAX, O_TIMEOUT, O_SCRIPT,
};

typedef struct optdef {
  const char *lng;      /* without "--"; NULL for a short-only alias */
  char shrt;            /* 0 = none */
  const char *value;    /* the value's name in --help; NULL = takes no value */
  unsigned cmds;        /* the commands that accept it */
  int id;               /* its case in apply() */
  const char *help;     /* its --help text ('\n' continues it); NULL = not listed */
} optdef;

/* The order is --help's. Where the commands differ the table says so: -c is
 * --concurrency for URL and fetch but wrk's --connections in bench; -d is
 * curl's --data for URL and fetch (a short-only row: --help lists it with
 * --data) but wrk's --duration in bench. */
static const optdef opts[] = {
    {"concurrency", 'c', "N", URL | FETCH, O_CONCURRENCY, "requests in flight at once (default 100)"},
    {"per-host", 0, "N", ALL, O_PER_HOST, "connections per host:port (default: -c)"},
    {"connect-timeout", 0, "S", ALL, O_CONNECT_TIMEOUT,
     "DNS + TCP + TLS setup limit in seconds (default 10)"},
    {"read-timeout", 0, "S", ALL, O_READ_TIMEOUT,
     "longest silence while waiting for the response (default 30)"},
    {"max-time", 'm', "S", ALL, O_MAX_TIME,
     "limit for a whole request (default none; bench: 10, see --timeout)"},
    {"header", 'H', "'N: V'", ALL, O_HEADER, "extra request header (repeatable; 'N:' removes a default)"},
    {"request", 'X', "METHOD", ALL, O_REQUEST, "request method (default GET, POST with --data)"},
    {"data", 0, "DATA", ALL, O_DATA, "request body; @FILE reads it from FILE"},
    {NULL, 'd', "DATA", URL | FETCH, O_DATA, NULL},
    {"data-binary", 0, "DATA", ALL, O_DATA, NULL},
    {"body", 0, "DATA", BENCH, O_DATA, NULL}, /* bench's first spelling of --data */
    {"user-agent", 'A', "UA", ALL, O_USER_AGENT, "User-Agent header"},
    {"cacert", 0, "FILE", ALL, O_CACERT, "trust the CA certificates in FILE (PEM)"},
    {"capath", 0, "DIR", ALL, O_CAPATH, "trust the CA certificates in DIR (hashed)"},
    {"insecure", 'k', NULL, ALL, O_INSECURE, "do not verify certificates (explicit opt-out)"},
    {"resolve", 0, "H:P:ADDR", ALL, O_RESOLVE, "use ADDR for host H port P (repeatable, like curl)"},
    {"dns-servers", 0, "LIST", ALL, O_DNS_SERVERS, "ip[:port],... instead of /etc/resolv.conf"},
    {"connect-to", 0, "H1:P1:H2:P2", ALL, O_CONNECT_TO,
     "connect to H2:P2 for H1:P1 (repeatable, like curl; empty parts match\n"
     "anything / keep the URL's); Host and TLS name stay the URL's"},
    {"proxy", 'x', "URL", ALL, O_PROXY,
     "http://[user:pass@]host[:port] proxy (https through CONNECT); default:\n"
     "$http_proxy, $https_proxy, $all_proxy as curl reads them; \"\" = none"},
    {"noproxy", 0, "LIST", ALL, O_NOPROXY, "hosts, domains, IPs or CIDRs reached directly (default $no_proxy)"},
    {"ipv4", '4', NULL, ALL, O_IPV4, "use IPv4 addresses only"},
    {"ipv6", '6', NULL, ALL, O_IPV6, "use IPv6 addresses only"},
    {"happy-eyeballs-timeout-ms", 0, "MS", ALL, O_HAPPY_EYEBALLS,
     "start the next address beside a silent one after MS (default 250)"},
    {"max-body", 0, "BYTES", ALL, O_MAX_BODY, "fail a response whose body is larger (too_large)"},
    {"compressed", 0, NULL, ALL, O_COMPRESSED,
     "ask for gzip, deflate, br, zstd and decode (body_bytes and the SHA-256\n"
     "are the decoded body's; wire_bytes what came)"},
    {"max-ratio", 0, "N", ALL, O_MAX_RATIO,
     "with --compressed: a body past 1 MiB decoding to over N times its\n"
     "wire size fails as too_large (default 1000; 0: no check)"},
    {"strict", 0, NULL, ALL, O_STRICT, "reject responses with bare-LF line ends (as llhttp does)"},
    {"http2", 0, NULL, ALL, O_HTTP2,
     "https: offer HTTP/2 by ALPN (h2, http/1.1) and use what the server picks;\n"
     "requests to a host share its connections as streams"},
    {"http2-prior-knowledge", 0, NULL, ALL, O_HTTP2_PRIOR, "http: speak HTTP/2 without asking (h2c)"},
    {"location", 'L', NULL, ALL, O_LOCATION, "follow redirects (301, 302, 303, 307, 308)"},
    {"max-redirs", 0, "N", ALL, O_MAX_REDIRS, "with -L: at most N redirects (default 20; -1: no limit)"},
    {"redirect-downgrade", 0, NULL, ALL, O_REDIRECT_DOWNGRADE,
     "let -L follow https -> http (refused by default: bad_redirect)"},
    {"retry", 0, "N", ALL, O_RETRY,
     "retry a failed request up to N times (default 0): connect errors,\n"
     "timeouts, resets, HTTP 408, 429, 500, 502, 503, 504"},
    {"retry-delay", 0, "S", ALL, O_RETRY_DELAY,
     "back-off base: retry n waits a random time up to S*2^(n-1)\n"
     "(default 1, at most 600 s); a Retry-After pauses the whole host"},
    {"retry-max-time", 0, "S", ALL, O_RETRY_MAX_TIME, "start no retry later than S after the first attempt"},
    {"retry-all-methods", 0, NULL, ALL, O_RETRY_ALL_METHODS, "also retry POST and other non-idempotent methods"},
    {"host-rate", 0, "[HOST=]R", ALL, O_HOST_RATE,
     "at most R requests per second per host:port, evenly spaced;\n"
     "HOST[:PORT]=R for one host (repeatable); waiting requests\n"
     "hold no concurrency slot"},
    {"max-idle", 0, "N", ALL, O_MAX_IDLE,
     "idle keep-alive connections kept over all hosts\n"
     "(default: what the open-files limit and memory allow)"},
    {"robots", 0, NULL, ALL, O_ROBOTS,
     "fetch and obey each host's /robots.txt first (RFC 9309): disallowed\n"
     "URLs fail as robots_disallowed unfetched; Crawl-delay spaces requests"},
    {"robots-agent", 0, "NAME", ALL, O_ROBOTS_AGENT, "the User-agent name --robots matches (default ringfetch)"},
    {"fail", 'f', NULL, URL | FETCH, O_FAIL, "count HTTP status >= 400 as failed (exit code)"},
    {"no-tls-warmup", 0, NULL, ALL, O_NO_TLS_WARMUP,
     "open all new TLS connections to a host at once, without\nwaiting for the first one's session ticket"},
    {"output", 'o', "FILE", URL | FETCH | RES, O_OUTPUT,
     "write the body (single URL) or the JSON Lines (fetch, results) to FILE"},
    {"quiet", 'q', NULL, URL | FETCH | ENQ | RES, O_QUIET, "no summary line on stderr"},
    {"input", 'i', "FILE", FETCH | ENQ, O_INPUT, "read URLs from FILE, one per line ('-' = stdin)"},
    {"queue", 0, "URL", FETCH | ENQ | RES, O_QUEUE,
     "the fleet's work queue, redis://HOST:PORT[/DB]/NAME: a Redis stream\n"
     "(fetch: be a worker of it; results go to the stream NAME:results)"},
    {"worker", 0, "ID", FETCH, O_WORKER, "with --queue: this worker's name (stable across restarts)"},
    {"claim-idle", 0, "D", FETCH, O_CLAIM_IDLE,
     "with --queue: take over entries pending longer than D on any\n"
     "worker (a dead one's), e.g. 30s, 500ms (default 30s)"},
    {"drain", 0, NULL, FETCH, O_DRAIN, "with --queue: exit once nothing is queued or pending anywhere"},
    {"follow", 0, NULL, RES, O_FOLLOW, "keep printing results as they come"},
    {"body-dir", 0, "DIR", FETCH, O_BODY_DIR, "save each body as DIR/<line>.body"},
    {"all-headers", 0, NULL, FETCH, O_ALL_HEADERS, "put every response header in the records"},
    {"resume", 0, "FILE", FETCH, O_RESUME,
     "skip input lines that already have a record in FILE (a path or a glob;\n"
     "repeatable) and append to -o: a killed run goes on where it stopped"},
    {"grace", 0, "S", FETCH, O_GRACE,
     "on SIGINT/SIGTERM, give running requests S seconds (default 10), then\n"
     "cancel them (a second signal cancels at once); exit 130/143"},
    {"progress", 0, NULL, FETCH, O_PROGRESS, "a live progress line on stderr (default: on a terminal)"},
    {"no-progress", 0, NULL, FETCH, O_NO_PROGRESS, "no progress line"},
    {"stats-json", 0, "FILE", FETCH, O_STATS_JSON, "the end-of-run figures as JSON"},
    {"warc", 0, "FILE.warc.gz", FETCH, O_WARC,
     "archive every exchange (request and response, exact bytes) as WARC 1.1"},
    {"warc-max-size", 0, "BYTES", FETCH, O_WARC_MAX_SIZE,
     "start a new WARC file beyond this size (NAME-00000.warc.gz, ...)"},
    {"cdxj", 0, "FILE", FETCH, O_CDXJ, "a CDXJ index of the WARC's responses (as pywb reads)"},
    {"trace", 0, "FILE", FETCH | BENCH, O_TRACE, "per-request timeline as a Chrome trace (open in Perfetto)"},
    {"waterfall", 0, "FILE", FETCH | BENCH, O_WATERFALL, "per-request timeline as an SVG waterfall"},
    {"connections", 'c', "N", BENCH, O_CONNECTIONS, "connections to keep open (default 10)"},
    {"duration", 'd', "T", BENCH, O_DURATION, "test length: 10s, 500ms, 2m, 1h (default 10s)"},
    {"requests", 'n', "N", BENCH, O_REQUESTS, "stop after N requests instead of a duration"},
    {"threads", 't', "N", BENCH, O_THREADS, "threads, one engine each (default 1)"},
    {"rate", 'R', "R", BENCH, O_RATE,
     "open loop: R requests/s in total, latency from each\n"
     "request's intended send time (coordinated omission corrected)"},
    {"rate-schedule", 0, "S", BENCH, O_RATE_SCHEDULE,
     "open loop with steps: R1:T1,R2:T2,... (e.g. 1000:5s,5000:10s)"},
    {"pipeline", 0, "K", BENCH, O_PIPELINE, "K requests in flight per connection (HTTP/1.1 pipelining)"},
    {"streams", 0, "N", BENCH, O_PIPELINE,
     "with --http2: N streams in flight per connection (h2load's -m; the\n"
     "same as --pipeline, which an HTTP/1.1 server gets instead)"},
    {"batch", 0, "T", BENCH, O_BATCH,
     "handle completions in batches: wait up to T (e.g. 50us) for more once\n"
     "one is there; fewer kernel entries, latencies read up to T high (default\n"
     "50us with --pipeline/--streams > 1, else 0 = off)"},
    {"new-conn", 0, NULL, BENCH, O_NEW_CONN, "a new connection (and TLS handshake) for every request"},
    {"latency", 0, NULL, BENCH, O_LATENCY, "print the latency distribution and the phases"},
    {"json", 0, NULL, BENCH, O_JSON, "machine-readable results on stdout"},
    {"histogram", 0, "FILE", BENCH, O_HISTOGRAM,
     "total latency as an HdrHistogram percentile distribution (ms)"},
    {"trace-max", 0, "N", BENCH, O_TRACE_MAX,
     "requests kept in the trace and waterfall: the first N (default 100000)"},
    {"timeout", 0, "T", BENCH, O_TIMEOUT,
     "count a request as failed after T (default 10s; -m is the same in seconds)"},
    {"script", 's', "FILE", BENCH, O_SCRIPT, NULL}, /* wrk's Lua: refused, with what to use instead */
    {NULL, 'v', NULL, BENCH, O_VERSION, NULL},      /* wrk's -v */
    {"help", 'h', NULL, ALL | ENQ | RES, O_HELP, NULL},
    {"version", 'V', NULL, ALL | ENQ | RES, O_VERSION, NULL},
};
#define N_OPTS (sizeof opts / sizeof opts[0])

/* ---- --help ------------------------------------------------------------------ */

/* d's short letter in cmd: its own, or a short-only row's for the same option. */
static char short_letter(const optdef *d, unsigned cmd) {
  for (size_t i = 0; i < N_OPTS && !d->shrt; i++)
    if (!opts[i].lng && opts[i].id == d->id && (opts[i].cmds & cmd))
      return opts[i].shrt;
  return d->shrt;
}

/* The rows every command in `want` accepts and none in `except`, as cmd spells them. */
static void print_rows(FILE *f, unsigned want, unsigned except, unsigned cmd) {
  for (size_t i = 0; i < N_OPTS; i++) {
    const optdef *d = &opts[i];
    if (!d->help || (d->cmds & want) != want || (d->cmds & except))
      continue;
    char label[64], s = short_letter(d, cmd);
    snprintf(label, sizeof label, "%s%c%s--%s%s%s", s ? "-" : " ", s ? s : ' ', s ? ", " : "  ", d->lng,
             d->value ? " " : "", d->value ? d->value : "");
    fprintf(f, "  %-23s  ", label);
    for (const char *h = d->help, *nl; h; h = nl ? nl + 1 : NULL) {
      nl = strchr(h, '\n');
      fprintf(f, "%.*s\n%s", nl ? (int)(nl - h) : (int)strlen(h), h, nl ? "                           " : "");
    }
  }
}

void rf_cli_usage(FILE *f, rf_command cmd) {
  if (cmd == RF_CMD_BENCH) {
    fputs("usage: ringfetch bench [options] URL\n", f);
    print_rows(f, BENCH, URL | FETCH, BENCH);
    fputs("shared with ringfetch fetch (the same flags, applied the same way):\n", f);
    print_rows(f, BENCH | FETCH, 0, BENCH);
    fputs("Flags follow wrk's where the meaning is the same: -c, -d, -t, -H, --latency, --timeout, -v\n"
          "(counts take wrk's suffixes: -c 1k, -n 2M).\n",
          f);
    return;
  }
  if (cmd == RF_CMD_ENQUEUE || cmd == RF_CMD_RESULTS) {
    fputs(cmd == RF_CMD_ENQUEUE ? "usage: ringfetch enqueue --queue redis://HOST:PORT[/DB]/NAME [-i FILE|-] [URL...]\n"
                                : "usage: ringfetch results --queue redis://HOST:PORT[/DB]/NAME [-o FILE] [--follow]\n",
          f);
    print_rows(f, cmd, 0, cmd);
    return;
  }
  fputs("usage: ringfetch [options] URL            fetch one URL, body to stdout (like curl)\n"
        "       ringfetch fetch [options] [URL...] [-i FILE|-]\n"
        "                                          fetch many URLs concurrently, JSON Lines out\n"
        "       ringfetch fetch --queue redis://H:P/NAME --worker ID [options]\n"
        "                                          a fleet worker on a Redis stream\n"
        "       ringfetch enqueue --queue redis://H:P/NAME [-i FILE|-] [URL...]\n"
        "       ringfetch results --queue redis://H:P/NAME [-o FILE] [--follow]\n"
        "       ringfetch bench [options] URL      load generator (ringfetch bench --help)\n"
        "       ringfetch demo                     serial vs concurrent, on an embedded server\n"
        "       ringfetch serve [--tls]            the embedded test server (ringfetch serve --help)\n"
        "\n"
        "options:\n",
        f);
  print_rows(f, URL, 0, URL | FETCH);
  fputs("fetch only:\n", f);
  print_rows(f, FETCH, URL, FETCH);
  fputs("\nexit status: 0 all requests succeeded, 1 some failed, 2 usage error\n", f);
}

int rf_cli_usage_err(const char *fmt, const char *arg) {
  fprintf(stderr, "ringfetch: ");
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
  fprintf(stderr, fmt, arg); /* every caller passes a literal with one %s */
#pragma GCC diagnostic pop
  fprintf(stderr, "\n(ringfetch --help lists the options)\n");
  return RF_EXIT_USAGE;
}

static int out_of_memory(void) { return rf_cli_usage_err("%s", "out of memory"); }

/* ---- memory the options own ---------------------------------------------------- */

struct rf_cli_block {
  rf_cli_block *next;
  void *p;
};

/* Hands p (from malloc) to o, which frees it in rf_cli_free. NULL when p is
 * NULL or there is no memory (p is freed then). */
static void *own(rf_cli *o, void *p) {
  rf_cli_block *b = p ? malloc(sizeof *b) : NULL;
  if (!b) {
    free(p);
    return NULL;
  }
  b->p = p;
  b->next = o->owned;
  o->owned = b;
  return p;
}

/* arr (n elements of size bytes, NULL or from grow) with room for one more:
 * repeatable options append to the arrays rf_config and rf_request point to
 * without fields or cleanup of their own. The capacity doubles from 4; an
 * outgrown array stays owned until rf_cli_free (at most as much again). */
static void *grow(rf_cli *o, const void *arr, size_t n, size_t size) {
  if (n >= 4 ? (n & (n - 1)) != 0 : n > 0)
    return (void *)arr; /* ours, allocated writable: room left below the next power of two */
  void *p = own(o, malloc(size * (n ? 2 * n : 4)));
  if (p && n)
    memcpy(p, arr, size * n);
  return p;
}

static int read_file(const char *path, char **data, size_t *len) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (!f)
    return -1;
  size_t cap = 4096, n = 0, got;
  char *p = malloc(cap);
  while (p && (got = fread(p + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      char *q = realloc(p, cap *= 2);
      if (!q)
        free(p);
      p = q;
    }
  }
  if (f != stdin)
    fclose(f);
  if (!p)
    return -1;
  *data = p;
  *len = n;
  return 0;
}

/* ---- applying one option ------------------------------------------------------------ */

static int add_header(rf_cli *o, char *arg) {
  char *colon = strchr(arg, ':');
  if (!colon || colon == arg)
    return rf_cli_usage_err("bad header '%s' (want 'Name: value')", arg);
  char *v = colon + 1;
  while (*v == ' ' || *v == '\t')
    v++;
  size_t vl = strlen(v);
  while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
    vl--;
  if (memchr(v, '\r', vl) || memchr(v, '\n', vl))
    return rf_cli_usage_err("header '%s' contains a line break", arg);
  rf_header *h = grow(o, o->req.headers, o->req.n_headers, sizeof *h);
  if (!h)
    return out_of_memory();
  h[o->req.n_headers++] =
      (rf_header){.name = arg, .name_len = (size_t)(colon - arg), .value = v, .value_len = vl};
  o->req.headers = h;
  return 0;
}

static int add_resolve(rf_cli *o, const char *arg) {
  const char **r = grow(o, o->cfg.resolve, o->cfg.n_resolve, sizeof *r);
  if (!r)
    return out_of_memory();
  r[o->cfg.n_resolve++] = arg;
  o->cfg.resolve = r;
  return 0;
}

/* -d DATA or @FILE: the body of every request (the last one given counts). */
static int set_data(rf_cli *o, const char *arg) {
  char *p = NULL;
  size_t n = strlen(arg);
  if (arg[0] == '@' && read_file(arg + 1, &p, &n))
    return rf_cli_usage_err("cannot read the data file '%s'", arg + 1);
  const char *body = own(o, p ? p : strdup(arg));
  if (!body)
    return out_of_memory();
  o->req.body = body;
  o->req.body_len = n;
  return 0;
}

/* *dst = arg, a whole number 1..max (with wrk's k/M/G suffixes when metric);
 * or the usage error fmt. */
static int set_whole(unsigned *dst, const char *arg, unsigned long max, bool metric, const char *fmt)
    __attribute__((format(printf, 5, 0)));
static int set_whole(unsigned *dst, const char *arg, unsigned long max, bool metric, const char *fmt) {
  unsigned long v;
  if ((metric ? rf_cli_parse_count(arg, max, &v) : rf_cli_parse_uint(arg, max, &v)) || v == 0)
    return rf_cli_usage_err(fmt, arg);
  *dst = (unsigned)v;
  return 0;
}

/* *ms = arg in curl's seconds; or the usage error fmt. */
static int set_seconds(unsigned *ms, const char *arg, const char *fmt) __attribute__((format(printf, 3, 0)));
static int set_seconds(unsigned *ms, const char *arg, const char *fmt) {
  return rf_cli_parse_seconds(arg, ms) ? rf_cli_usage_err(fmt, arg) : 0;
}

/* --host-rate R (every origin) or HOST[:PORT]=R (that host, that port;
 * [v6]:PORT for an IPv6 literal). */
static int add_host_rate(rf_cli *o, const char *arg) {
  const char *eq = strrchr(arg, '=');
  double rate;
  if (rf_cli_parse_rate(eq ? eq + 1 : arg, &rate))
    return rf_cli_usage_err("bad --host-rate '%s' (want R or HOST[:PORT]=R, R requests per second)", arg);
  if (!eq) {
    o->cfg.host_rate = rate;
    return 0;
  }
  char *host = own(o, strndup(arg, (size_t)(eq - arg))); /* the engine copies it again */
  if (!host)
    return out_of_memory();
  char *rest = host;
  if (*host == '[') {
    char *rb = strchr(host, ']');
    rest = rb ? rb + 1 : NULL;
    if (rb)
      *rb = 0;
    host++;
  }
  char *colon = rest ? strchr(rest, ':') : NULL;
  unsigned long port = 0;
  if (colon) {
    *colon = 0;
    if (rf_cli_parse_uint(colon + 1, 65535, &port) || port == 0)
      rest = NULL;
  }
  if (!rest || !*host)
    return rf_cli_usage_err("bad --host-rate '%s' (want HOST[:PORT]=R)", arg);
  rf_host_rate *r = grow(o, o->cfg.host_rates, o->cfg.n_host_rates, sizeof *r);
  if (!r)
    return out_of_memory();
  r[o->cfg.n_host_rates++] = (rf_host_rate){.host = host, .port = (uint16_t)port, .rate = rate};
  o->cfg.host_rates = r;
  return 0;
}

/* --max-redirs N: 0..100000, or curl's -1 for no limit. */
static int set_max_redirs(rf_cli *o, const char *arg) {
  unsigned long n;
  if (strcmp(arg, "-1") == 0)
    n = UINT32_MAX;
  else if (rf_cli_parse_uint(arg, 100000, &n))
    return rf_cli_usage_err("bad --max-redirs '%s'", arg);
  o->req.max_redirects = (unsigned)n;
  return 0;
}

/* The shared options that only switch something on: true if id is one (then
 * it is done). */
static bool set_flag(rf_cli *o, int id) {
  switch (id) {
  case O_INSECURE:
    o->cfg.insecure = true;
    return true;
  case O_NO_TLS_WARMUP:
    o->cfg.no_tls_warmup = true;
    return true;
  case O_COMPRESSED:
    o->req.flags |= RF_REQ_DECODE;
    return true;
  case O_STRICT:
    o->cfg.strict_http = true;
    return true;
  case O_HTTP2:
    o->cfg.http2 = true;
    return true;
  case O_HTTP2_PRIOR:
    o->cfg.http2_prior_knowledge = true;
    return true;
  case O_ROBOTS:
    o->cfg.robots = true;
    return true;
  case O_LOCATION:
    o->req.flags |= RF_REQ_FOLLOW;
    return true;
  case O_REDIRECT_DOWNGRADE:
    o->req.flags |= RF_REQ_REDIRECT_DOWNGRADE;
    return true;
  case O_RETRY_ALL_METHODS:
    o->cfg.retry_all_methods = true;
    return true;
  case O_IPV4:
  case O_IPV6:
    o->cfg.ip_version = id == O_IPV4 ? 4 : 6;
    return true;
  }
  return false;
}

/* The shared options whose value is kept as it is: true if id is one (then
 * it is done). */
static bool set_text(rf_cli *o, int id, char *arg) {
  switch (id) {
  case O_REQUEST:
    o->req.method = arg;
    return true;
  case O_USER_AGENT:
    o->cfg.user_agent = arg;
    return true;
  case O_CACERT:
    o->cfg.ca_file = arg;
    return true;
  case O_CAPATH:
    o->cfg.ca_dir = arg;
    return true;
  case O_DNS_SERVERS:
    o->cfg.dns_servers = arg;
    return true;
  case O_ROBOTS_AGENT:
    o->cfg.robots_agent = arg;
    return true;
  case O_PROXY:
    o->cfg.proxy = arg;
    return true;
  case O_NOPROXY:
    o->cfg.no_proxy = arg;
    return true;
  }
  return false;
}

/* Options of every command: the request template and the engine configuration. */
static int apply_shared(rf_cli *o, int id, char *arg) {
  if (set_flag(o, id) || set_text(o, id, arg))
    return 0;
  unsigned long n;
  switch (id) {
  case O_HEADER:
    return add_header(o, arg);
  case O_DATA:
    return set_data(o, arg);
  case O_RESOLVE:
    return add_resolve(o, arg);
  case O_CONNECT_TIMEOUT:
    return set_seconds(&o->cfg.connect_timeout_ms, arg, "bad --connect-timeout '%s'");
  case O_READ_TIMEOUT:
    return set_seconds(&o->cfg.read_timeout_ms, arg, "bad --read-timeout '%s'");
  case O_MAX_TIME:
    return set_seconds(&o->cfg.max_time_ms, arg, "bad --max-time '%s'");
  case O_PER_HOST:
    return set_whole(&o->cfg.per_host, arg, 100000, false, "bad --per-host '%s'");
  case O_MAX_BODY:
    return rf_cli_parse_u64(arg, &o->cfg.max_body_bytes) ? rf_cli_usage_err("bad --max-body '%s'", arg) : 0;
  case O_MAX_RATIO:
    return rf_cli_parse_uint(arg, 1000000000, &n) ? rf_cli_usage_err("bad --max-ratio '%s'", arg)
                                                 : (o->cfg.max_ratio = (unsigned)n, 0);
  case O_MAX_REDIRS:
    return set_max_redirs(o, arg);
  case O_RETRY:
    return rf_cli_parse_uint(arg, 1000, &n) ? rf_cli_usage_err("bad --retry '%s'", arg)
                                           : (o->cfg.retries = (unsigned)n, 0);
  case O_RETRY_DELAY:
    if (strcmp(arg, "0") == 0) { /* curl takes 0: no wait between attempts */
      o->cfg.retry_delay_ms = 0;
      return 0;
    }
    return set_seconds(&o->cfg.retry_delay_ms, arg, "bad --retry-delay '%s'");
  case O_RETRY_MAX_TIME:
    return set_seconds(&o->cfg.retry_max_time_ms, arg, "bad --retry-max-time '%s'");
  case O_HOST_RATE:
    return add_host_rate(o, arg);
  case O_CONNECT_TO: {
    const char **r = grow(o, o->cfg.connect_to, o->cfg.n_connect_to, sizeof *r);
    if (!r)
      return out_of_memory();
    r[o->cfg.n_connect_to++] = arg;
    o->cfg.connect_to = r;
    return 0;
  }
  case O_HAPPY_EYEBALLS:
    if (rf_cli_parse_uint(arg, 600000, &n) || n < 10)
      return rf_cli_usage_err("bad --happy-eyeballs-timeout-ms '%s' (10 or more)", arg);
    o->cfg.happy_eyeballs_ms = (unsigned)n;
    return 0;
  case O_MAX_IDLE:
    return set_whole(&o->cfg.max_idle, arg, 1000000, false, "bad --max-idle '%s'");
  case O_HELP:
    rf_cli_usage(stdout, o->cmd);
    return -1;
  case O_VERSION:
    printf("ringfetch %s\n", rf_version());
    return -1;
  }
  return rf_cli_usage_err("internal option error %s", "(shared)");
}

/* Options about the results: URL and fetch (--trace and --waterfall also bench). */
static int apply_output(rf_cli *o, int id, char *arg) {
  switch (id) {
  case O_CONCURRENCY:
    return set_whole(&o->cfg.concurrency, arg, 100000, false, "bad concurrency '%s'");
  case O_FAIL:
    o->fail_http = true;
    return 0;
  case O_OUTPUT:
    o->output = arg;
    return 0;
  case O_QUIET:
    o->quiet = true;
    return 0;
  case O_INPUT:
    o->input = arg;
    return 0;
  case O_BODY_DIR:
    o->body_dir = arg;
    return 0;
  case O_ALL_HEADERS:
    o->all_headers = true;
    return 0;
  case O_TRACE:
    o->trace_file = arg;
    return 0;
  case O_WATERFALL:
    o->waterfall_file = arg;
    return 0;
  case O_RESUME: {
    const char **r = grow(o, o->resume, o->n_resume, sizeof *r);
    if (!r)
      return out_of_memory();
    r[o->n_resume++] = arg;
    o->resume = r;
    return 0;
  }
  case O_GRACE:
    if (strcmp(arg, "0") == 0) {
      o->grace_ms = 0;
      return 0;
    }
    return rf_cli_parse_seconds(arg, &o->grace_ms) ? rf_cli_usage_err("bad --grace '%s'", arg) : 0;
  case O_PROGRESS:
  case O_NO_PROGRESS:
    o->progress = id == O_PROGRESS ? 1 : -1;
    return 0;
  case O_STATS_JSON:
    o->stats_json = arg;
    return 0;
  case O_WARC:
    o->warc = arg;
    return 0;
  case O_WARC_MAX_SIZE:
    return rf_cli_parse_u64(arg, &o->warc_max_size) ? rf_cli_usage_err("bad --warc-max-size '%s'", arg) : 0;
  case O_CDXJ:
    o->cdxj = arg;
    return 0;
  case O_QUEUE:
    o->queue = arg;
    return 0;
  case O_WORKER:
    o->worker = arg;
    return 0;
  case O_CLAIM_IDLE:
    if (rf_cli_parse_duration(arg, &o->claim_idle_us) || o->claim_idle_us < 10000)
      return rf_cli_usage_err("bad --claim-idle '%s' (a duration of 10ms or more, e.g. 30s)", arg);
    return 0;
  case O_DRAIN:
    o->drain = true;
    return 0;
  case O_FOLLOW:
    o->follow = true;
    return 0;
  }
  return rf_cli_usage_err("internal option error %s", "(output)");
}

/* --rate-schedule R1:T1,R2:T2,...: appended to the steps given so far. */
static int add_schedule(rf_cli *o, const char *s) {
  rf_bench_args *b = &o->bench;
  char *copy = strdup(s), *save = NULL;
  int rc = copy ? 0 : -1;
  for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; tok; tok = strtok_r(NULL, ",", &save)) {
    rf_rate_step st;
    rf_rate_step *segs = rf_cli_parse_rate_step(tok, &st) ? NULL : grow(o, b->segs, b->nsegs, sizeof *segs);
    if (!segs) {
      rc = -1;
      break;
    }
    segs[b->nsegs++] = st;
    b->segs = segs;
  }
  free(copy);
  return rc == 0 && b->nsegs ? 0 : rf_cli_usage_err("bad rate schedule '%s' (want R1:T1,R2:T2,...)", s);
}

/* bench's own options: the load, wrk's flags. */
static int apply_bench(rf_cli *o, int id, char *arg) {
  rf_bench_args *b = &o->bench;
  unsigned long n;
  uint64_t us;
  switch (id) {
  case O_CONNECTIONS:
    return set_whole(&b->conns, arg, 100000, true, "bad connection count '%s'");
  case O_DURATION:
    if (rf_cli_parse_duration(arg, &b->duration_us))
      return rf_cli_usage_err("bad duration '%s' (e.g. 10s, 500ms, 2m)", arg);
    b->have_duration = true;
    return 0;
  case O_REQUESTS:
    if (rf_cli_parse_count(arg, (unsigned long)1e12, &n) || n == 0)
      return rf_cli_usage_err("bad request count '%s'", arg);
    b->requests = n;
    return 0;
  case O_THREADS:
    return set_whole(&b->threads, arg, 64, false, "bad thread count '%s' (1..64)");
  case O_RATE:
    if (rf_cli_parse_rate(arg, &b->rate))
      return rf_cli_usage_err("bad rate '%s' (requests per second)", arg);
    return 0;
  case O_RATE_SCHEDULE:
    return add_schedule(o, arg);
  case O_PIPELINE:
    return set_whole(&b->pipeline, arg, 1024, false, "bad pipeline depth '%s'");
  case O_BATCH:
    if (strcmp(arg, "0") == 0)
      us = 0;
    else if (rf_cli_parse_duration(arg, &us) || us > 10000)
      return rf_cli_usage_err("bad batch window '%s' (0 to 10ms, e.g. 50us)", arg);
    b->batch_us = (int64_t)us;
    return 0;
  case O_NEW_CONN:
    b->new_conn = true;
    return 0;
  case O_LATENCY:
    b->latency = true;
    return 0;
  case O_JSON:
    b->json = true;
    return 0;
  case O_HISTOGRAM:
    b->hist_file = arg;
    return 0;
  case O_TRACE_MAX:
    return set_whole(&b->trace_max, arg, 100000000, false, "bad --trace-max '%s'");
  case O_TIMEOUT: /* wrk's: the same limit as -m, as a duration */
    if (rf_cli_parse_duration(arg, &us) || us < 1000)
      return rf_cli_usage_err("bad timeout '%s'", arg);
    o->cfg.max_time_ms = (unsigned)(us / 1000);
    return 0;
  case O_SCRIPT:
    return rf_cli_usage_err("wrk's Lua scripts (-s %s) are not supported: use -X, -H and --data for the "
                            "request, --rate-schedule for pacing",
                            arg);
  }
  return rf_cli_usage_err("internal option error %s", "(bench)");
}

static int apply(rf_cli *o, const optdef *d, char *arg) {
  if (d->id < O__OUTPUT)
    return apply_shared(o, d->id, arg);
  if (d->id < O__BENCH)
    return apply_output(o, d->id, arg);
  return apply_bench(o, d->id, arg);
}

/* ---- the parser ---------------------------------------------------------------------- */

/* The row of --NAME (lng, len bytes) or of -SHRT (lng NULL) for cmd; NULL
 * when cmd has none, with *elsewhere = the commands that have one. */
static const optdef *lookup(const char *lng, size_t len, char shrt, rf_command cmd, unsigned *elsewhere) {
  *elsewhere = 0;
  for (size_t i = 0; i < N_OPTS; i++) {
    const optdef *d = &opts[i];
    if (lng ? !d->lng || strlen(d->lng) != len || strncmp(d->lng, lng, len) != 0 : d->shrt != shrt)
      continue;
    if (d->cmds & cmd)
      return d;
    *elsewhere |= d->cmds;
  }
  return NULL;
}

/* An option cmd does not have: name the command that does, if any. */
static int not_here(const char *a, unsigned elsewhere, rf_command cmd) {
  if (elsewhere & FETCH)
    return rf_cli_usage_err("option '%s' needs the fetch subcommand (ringfetch fetch ...)", a);
  if (elsewhere & BENCH)
    return rf_cli_usage_err("option '%s' needs the bench subcommand (ringfetch bench ...)", a);
  if (elsewhere & URL)
    return rf_cli_usage_err("option '%s' is for a single URL (ringfetch [options] URL)", a);
  if (cmd == RF_CMD_BENCH)
    return rf_cli_usage_err("unknown option '%s' (ringfetch bench --help)", a);
  return rf_cli_usage_err("unknown option '%s'", a);
}

/* The option at argv[*i]: its row, its value (--name=V, -xV or the next
 * argument, then *i moves past it), applied. */
static int parse_option(rf_cli *o, int argc, char **argv, int *i) {
  char *a = argv[*i], *val = NULL;
  unsigned elsewhere;
  const optdef *d;
  if (a[1] == '-') {
    char *eq = strchr(a + 2, '=');
    d = lookup(a + 2, eq ? (size_t)(eq - a - 2) : strlen(a + 2), 0, o->cmd, &elsewhere);
    if (d && eq) {
      if (!d->value)
        return rf_cli_usage_err("option '%s' takes no value", a);
      val = eq + 1;
    }
  } else {
    d = lookup(NULL, 0, a[1], o->cmd, &elsewhere);
    if (d && a[2]) {
      if (!d->value)
        return rf_cli_usage_err("unknown option '%s' (short options do not combine)", a);
      val = a + 2;
    }
  }
  if (!d)
    return not_here(a, elsewhere, o->cmd);
  if (d->value && !val) {
    if (*i + 1 >= argc)
      return rf_cli_usage_err("option '%s' needs a value", a);
    val = argv[++*i];
  }
  return apply(o, d, val);
}

/* Defaults: the engine's, then the command's own (bench: wrk's). */
static int cli_init(rf_cli *o, int argc, rf_command cmd) {
  memset(o, 0, sizeof *o);
  o->cmd = cmd;
  rf_config_init(&o->cfg);
  rf_request_init(&o->req);
  if (cmd == RF_CMD_BENCH) {
    o->bench = (rf_bench_args){.conns = 10, .threads = 1, .pipeline = 1, .duration_us = 10000000u,
                               .trace_max = 100000, .batch_us = -1};
    o->cfg.max_time_ms = 10000;
  }
  o->grace_ms = 10000;
  o->claim_idle_us = 30000000u;
  o->urls = own(o, calloc((size_t)argc + 1, sizeof *o->urls));
  return o->urls ? 0 : out_of_memory();
}

/* What the options mean together, per command. */
static int finish_bench(rf_cli *o) {
  rf_bench_args *b = &o->bench;
  if (o->n_urls > 1)
    return rf_cli_usage_err("more than one URL ('%s'): bench takes one", o->urls[1]);
  if (!o->n_urls)
    return rf_cli_usage_err("%s", "no URL given (ringfetch bench [options] URL)");
  b->url = o->urls[0];
  if (b->rate > 0 && b->nsegs)
    return rf_cli_usage_err("%s", "give -R or --rate-schedule, not both");
  if (b->rate > 0) {
    if (!(b->segs = grow(o, NULL, 0, sizeof *b->segs)))
      return out_of_memory();
    b->segs[b->nsegs++] = (rf_rate_step){.rate = b->rate, .dur_us = b->duration_us};
  } else if (b->nsegs && b->have_duration) {
    return rf_cli_usage_err("%s", "--rate-schedule sets its own duration: drop -d");
  }
  if (b->nsegs && b->requests)
    return rf_cli_usage_err("%s", "-n is for the closed loop; the open loop runs for its schedule");
  if (b->new_conn && b->pipeline > 1)
    return rf_cli_usage_err("%s", "--new-conn and --pipeline exclude each other");
  if (b->threads > b->conns)
    b->threads = b->conns;
  return 0;
}

/* A concurrency over what the open-files limit allows is capped, with a
 * warning, rather than refused: the run goes on at the most it can do. */
static void cap_to_nofile(unsigned *n, unsigned dflt, const char *flag) {
  unsigned max = rf_max_concurrency();
  unsigned want = *n ? *n : dflt;
  if (want <= max)
    return;
  if (max == 0) {
    *n = 1; /* rf_engine_new says why */
    return;
  }
  fprintf(stderr,
          "ringfetch: warning: %s %u is more than the open-files limit allows; using %s %u "
          "(raise the limit with ulimit -n)\n",
          flag, want, flag, max);
  *n = max;
}

/* fetch --queue: a fleet worker takes its URLs from the queue. */
static int finish_worker(rf_cli *o) {
  if (!o->queue)
    return rf_cli_usage_err("%s", "--worker and --drain go with --queue");
  if (!o->worker || !*o->worker)
    return rf_cli_usage_err("%s", "--queue needs --worker ID (a name unique in the fleet)");
  if (o->n_urls || o->input)
    return rf_cli_usage_err("%s", "a worker takes its URLs from --queue: use 'ringfetch enqueue' for URLs and -i");
  if (o->warc || o->n_resume || o->trace_file || o->waterfall_file || o->stats_json)
    return rf_cli_usage_err("%s", "--warc, --resume, --trace, --waterfall and --stats-json do not go with --queue");
  return 0;
}

static int finish(rf_cli *o) {
  if (o->cmd == RF_CMD_BENCH)
    cap_to_nofile(&o->bench.conns, 10, "-c");
  else
    cap_to_nofile(&o->cfg.concurrency, 100, "-c");
  switch (o->cmd) {
  case RF_CMD_SINGLE:
    if (o->n_urls > 1)
      return rf_cli_usage_err("%s", "give one URL, or use 'ringfetch fetch' for many");
    if (o->n_urls == 0)
      return rf_cli_usage_err("%s", "no URL given");
    return 0;
  case RF_CMD_FETCH:
    if (o->queue || o->worker || o->drain)
      return finish_worker(o);
    if (o->n_urls == 0 && !o->input)
      return rf_cli_usage_err("%s", "no URLs: give them as arguments or with -i FILE (- for stdin)");
    if ((o->cdxj || o->warc_max_size) && !o->warc)
      return rf_cli_usage_err("%s", "--cdxj and --warc-max-size go with --warc");
    return 0;
  case RF_CMD_BENCH:
    return finish_bench(o);
  case RF_CMD_ENQUEUE:
    if (!o->queue)
      return rf_cli_usage_err("%s", "enqueue needs --queue redis://HOST:PORT[/DB]/NAME");
    if (o->n_urls == 0 && !o->input)
      return rf_cli_usage_err("%s", "no URLs: give them as arguments or with -i FILE (- for stdin)");
    return 0;
  case RF_CMD_RESULTS:
    if (!o->queue)
      return rf_cli_usage_err("%s", "results needs --queue redis://HOST:PORT[/DB]/NAME");
    if (o->n_urls)
      return rf_cli_usage_err("unexpected argument '%s'", o->urls[0]);
    return 0;
  }
  return 0;
}

int rf_cli_parse(int argc, char **argv, rf_command cmd, rf_cli *o) {
  int rc = cli_init(o, argc, cmd);
  o->argc = argc;
  o->argv = argv;
  bool only_args = false;
  for (int i = 0; i < argc && rc == 0; i++) {
    char *a = argv[i];
    if (only_args || a[0] != '-' || a[1] == 0)
      o->urls[o->n_urls++] = a;
    else if (strcmp(a, "--") == 0)
      only_args = true;
    else
      rc = parse_option(o, argc, argv, &i);
  }
  return rc ? rc : finish(o);
}

void rf_cli_free(rf_cli *o) {
  while (o->owned) {
    rf_cli_block *b = o->owned;
    o->owned = b->next;
    free(b->p);
    free(b);
  }
}
