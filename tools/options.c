/* Command-line parsing: curl-compatible spellings where curl has them. */
#include "options.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rf_cli_usage(FILE *f) {
  fputs("usage: ringfetch [options] URL            fetch one URL, body to stdout (like curl)\n"
        "       ringfetch fetch [options] [URL...] [-i FILE|-]\n"
        "                                          fetch many URLs concurrently, JSON Lines out\n"
        "       ringfetch bench [options] URL      load generator (ringfetch bench --help)\n"
        "       ringfetch demo                     serial vs concurrent, on an embedded server\n"
        "       ringfetch serve [--tls]            the embedded test server (ringfetch serve --help)\n"
        "\n"
        "options:\n"
        "  -c, --concurrency N      requests in flight at once (default 100)\n"
        "      --per-host N         connections per host:port (default: concurrency)\n"
        "      --connect-timeout S  DNS + TCP + TLS setup limit in seconds (default 10)\n"
        "      --read-timeout S     longest silence while waiting for the response (default 30)\n"
        "  -m, --max-time S         limit for a whole request (default none)\n"
        "  -H, --header 'N: V'      extra request header (repeatable; 'N:' removes a default)\n"
        "  -X, --request METHOD     request method (default GET, POST with -d)\n"
        "  -d, --data DATA          request body; @FILE reads it from FILE\n"
        "  -A, --user-agent UA      User-Agent header\n"
        "      --cacert FILE        trust the CA certificates in FILE (PEM)\n"
        "      --capath DIR         trust the CA certificates in DIR (hashed)\n"
        "  -k, --insecure           do not verify certificates (explicit opt-out)\n"
        "      --resolve H:P:ADDR   use ADDR for host H port P (repeatable, like curl)\n"
        "      --dns-servers LIST   ip[:port],... instead of /etc/resolv.conf\n"
        "      --max-body BYTES     fail a response whose body is larger (too_large)\n"
        "  -f, --fail               count HTTP status >= 400 as failed (exit code)\n"
        "      --no-tls-warmup      open all new TLS connections to a host at once, without\n"
        "                           waiting for the first one's session ticket\n"
        "  -o, --output FILE        write the body (single URL) or the JSON Lines (fetch) to FILE\n"
        "fetch only:\n"
        "  -i, --input FILE         read URLs from FILE, one per line ('-' = stdin)\n"
        "      --body-dir DIR       save each body as DIR/<line>.body\n"
        "      --all-headers        put every response header in the records\n"
        "      --trace FILE         per-request timeline as a Chrome trace (open in Perfetto)\n"
        "      --waterfall FILE     per-request timeline as an SVG waterfall\n"
        "  -q, --quiet              no summary line on stderr\n"
        "\n"
        "exit status: 0 all requests succeeded, 1 some failed, 2 usage error\n",
        f);
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

int rf_cli_parse_uint(const char *s, unsigned long max, unsigned long *out) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || end == s || *end || s[0] == '-' || v > max)
    return -1;
  *out = v;
  return 0;
}

/* Seconds with decimals, as curl takes them, to milliseconds (>= 1). */
int rf_cli_parse_seconds(const char *s, unsigned *ms) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v) || v <= 0 || v > 86400.0 * 30)
    return -1;
  double m = ceil(v * 1000.0);
  *ms = m < 1 ? 1 : (unsigned)m;
  return 0;
}

int rf_cli_read_file(const char *path, char **data, size_t *len) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (!f)
    return -1;
  size_t cap = 4096, n = 0;
  char *p = malloc(cap);
  size_t got;
  while (p && (got = fread(p + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      char *q = realloc(p, cap *= 2);
      if (!q) {
        free(p);
        p = NULL;
      }
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

int rf_cli_add_header(rf_header **hdrs, size_t *n, char *arg) {
  char *colon = strchr(arg, ':');
  if (!colon || colon == arg)
    return rf_cli_usage_err("bad header '%s' (want 'Name: value')", arg);
  rf_header *h = realloc(*hdrs, sizeof *h * (*n + 1));
  if (!h)
    return rf_cli_usage_err("%s", "out of memory");
  *hdrs = h;
  char *v = colon + 1;
  while (*v == ' ' || *v == '\t')
    v++;
  size_t vl = strlen(v);
  while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
    vl--;
  h[*n].name = arg;
  h[*n].name_len = (size_t)(colon - arg);
  h[*n].value = v;
  h[*n].value_len = vl;
  for (size_t i = 0; i < vl; i++)
    if (v[i] == '\r' || v[i] == '\n')
      return rf_cli_usage_err("header '%s' contains a line break", arg);
  (*n)++;
  return 0;
}

enum { O_PER_HOST = 256, O_CONNECT_TIMEOUT, O_READ_TIMEOUT, O_CACERT, O_CAPATH, O_RESOLVE,
       O_BODY_DIR, O_ALL_HEADERS, O_DNS_SERVERS, O_MAX_BODY, O_NO_TLS_WARMUP, O_TRACE, O_WATERFALL,
       O_HELP, O_VERSION };

typedef struct optdef {
  const char *lng;
  char shrt;
  int id;
  bool arg;
  bool fetch_only;
} optdef;

static const optdef opts[] = {
    {"concurrency", 'c', 'c', true, false}, {"per-host", 0, O_PER_HOST, true, false},
    {"connect-timeout", 0, O_CONNECT_TIMEOUT, true, false},
    {"read-timeout", 0, O_READ_TIMEOUT, true, false}, {"max-time", 'm', 'm', true, false},
    {"header", 'H', 'H', true, false}, {"request", 'X', 'X', true, false},
    {"data", 'd', 'd', true, false}, {"data-binary", 0, 'd', true, false},
    {"user-agent", 'A', 'A', true, false}, {"cacert", 0, O_CACERT, true, false},
    {"capath", 0, O_CAPATH, true, false}, {"insecure", 'k', 'k', false, false},
    {"resolve", 0, O_RESOLVE, true, false}, {"dns-servers", 0, O_DNS_SERVERS, true, false},
    {"max-body", 0, O_MAX_BODY, true, false}, {"fail", 'f', 'f', false, false},
    {"no-tls-warmup", 0, O_NO_TLS_WARMUP, false, false},
    {"trace", 0, O_TRACE, true, true}, {"waterfall", 0, O_WATERFALL, true, true},
    {"output", 'o', 'o', true, false}, {"input", 'i', 'i', true, true},
    {"body-dir", 0, O_BODY_DIR, true, true}, {"all-headers", 0, O_ALL_HEADERS, false, true},
    {"quiet", 'q', 'q', false, false}, {"help", 'h', O_HELP, false, false},
    {"version", 'V', O_VERSION, false, false},
};

static const optdef *find_long(const char *name, size_t len) {
  for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
    if (strlen(opts[i].lng) == len && strncmp(opts[i].lng, name, len) == 0)
      return &opts[i];
  return NULL;
}

static const optdef *find_short(char c) {
  for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
    if (opts[i].shrt == c)
      return &opts[i];
  return NULL;
}

static int apply(rf_cli *o, const optdef *d, char *arg) {
  unsigned long v;
  switch (d->id) {
  case 'c':
    if (rf_cli_parse_uint(arg, 100000, &v) || v == 0)
      return rf_cli_usage_err("bad concurrency '%s'", arg);
    o->cfg.concurrency = (unsigned)v;
    return 0;
  case O_PER_HOST:
    if (rf_cli_parse_uint(arg, 100000, &v) || v == 0)
      return rf_cli_usage_err("bad --per-host '%s'", arg);
    o->cfg.per_host = (unsigned)v;
    return 0;
  case O_CONNECT_TIMEOUT:
    return rf_cli_parse_seconds(arg, &o->cfg.connect_timeout_ms) ? rf_cli_usage_err("bad --connect-timeout '%s'", arg) : 0;
  case O_READ_TIMEOUT:
    return rf_cli_parse_seconds(arg, &o->cfg.read_timeout_ms) ? rf_cli_usage_err("bad --read-timeout '%s'", arg) : 0;
  case 'm':
    return rf_cli_parse_seconds(arg, &o->cfg.max_time_ms) ? rf_cli_usage_err("bad --max-time '%s'", arg) : 0;
  case 'H':
    return rf_cli_add_header(&o->headers, &o->n_headers, arg);
  case 'X':
    o->method = arg;
    return 0;
  case 'd':
    free(o->data);
    o->data = NULL;
    if (arg[0] == '@') {
      if (rf_cli_read_file(arg + 1, &o->data, &o->data_len))
        return rf_cli_usage_err("cannot read the data file '%s'", arg + 1);
    } else {
      o->data = strdup(arg);
      o->data_len = strlen(arg);
    }
    o->have_data = true;
    return 0;
  case 'A':
    o->cfg.user_agent = arg;
    return 0;
  case O_CACERT:
    o->cfg.ca_file = arg;
    return 0;
  case O_CAPATH:
    o->cfg.ca_dir = arg;
    return 0;
  case 'k':
    o->cfg.insecure = true;
    return 0;
  case O_RESOLVE: {
    const char **r = realloc(o->resolve, sizeof *r * (o->n_resolve + 1));
    if (!r)
      return rf_cli_usage_err("%s", "out of memory");
    o->resolve = r;
    r[o->n_resolve++] = arg;
    return 0;
  }
  case O_DNS_SERVERS:
    o->cfg.dns_servers = arg;
    return 0;
  case O_MAX_BODY: {
    char *end;
    errno = 0;
    unsigned long long b = strtoull(arg, &end, 10);
    if (errno || end == arg || *end || arg[0] == '-')
      return rf_cli_usage_err("bad --max-body '%s'", arg);
    o->cfg.max_body_bytes = b;
    return 0;
  }
  case 'f':
    o->fail_http = true;
    return 0;
  case O_NO_TLS_WARMUP:
    o->cfg.no_tls_warmup = true;
    return 0;
  case O_TRACE:
    o->trace_file = arg;
    return 0;
  case O_WATERFALL:
    o->waterfall_file = arg;
    return 0;
  case 'o':
    o->output = arg;
    return 0;
  case 'i':
    o->input = arg;
    return 0;
  case O_BODY_DIR:
    o->body_dir = arg;
    return 0;
  case O_ALL_HEADERS:
    o->all_headers = true;
    return 0;
  case 'q':
    o->quiet = true;
    return 0;
  case O_HELP:
    rf_cli_usage(stdout);
    return -1;
  case O_VERSION:
    printf("ringfetch %s\n", rf_version());
    return -1;
  }
  return rf_cli_usage_err("internal option error %s", "");
}

int rf_cli_parse(int argc, char **argv, bool fetch_mode, rf_cli *o) {
  memset(o, 0, sizeof *o);
  rf_config_init(&o->cfg);
  o->fetch_mode = fetch_mode;
  o->urls = calloc((size_t)argc + 1, sizeof *o->urls);
  if (!o->urls)
    return rf_cli_usage_err("%s", "out of memory");
  bool only_args = false;
  for (int i = 0; i < argc; i++) {
    char *a = argv[i];
    if (only_args || a[0] != '-' || a[1] == 0) {
      o->urls[o->n_urls++] = a;
      continue;
    }
    if (strcmp(a, "--") == 0) {
      only_args = true;
      continue;
    }
    const optdef *d;
    char *val = NULL;
    if (a[1] == '-') {
      char *eq = strchr(a + 2, '=');
      size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
      d = find_long(a + 2, len);
      if (!d)
        return rf_cli_usage_err("unknown option '%s'", a);
      if (eq) {
        if (!d->arg)
          return rf_cli_usage_err("option '%s' takes no value", a);
        val = eq + 1;
      }
    } else {
      d = find_short(a[1]);
      if (!d)
        return rf_cli_usage_err("unknown option '%s'", a);
      if (a[2]) {
        if (!d->arg)
          return rf_cli_usage_err("unknown option '%s' (short options do not combine)", a);
        val = a + 2;
      }
    }
    if (d->fetch_only && !fetch_mode)
      return rf_cli_usage_err("option '%s' needs the fetch subcommand (ringfetch fetch ...)", a);
    if (d->arg && !val) {
      if (i + 1 >= argc)
        return rf_cli_usage_err("option '%s' needs a value", a);
      val = argv[++i];
    }
    int rc = apply(o, d, val);
    if (rc)
      return rc;
  }
  o->cfg.resolve = o->resolve;
  o->cfg.n_resolve = o->n_resolve;
  if (!fetch_mode && o->n_urls != 1)
    return rf_cli_usage_err("%s", o->n_urls ? "give one URL, or use 'ringfetch fetch' for many" : "no URL given");
  if (fetch_mode && o->n_urls == 0 && !o->input)
    return rf_cli_usage_err("%s", "no URLs: give them as arguments or with -i FILE (- for stdin)");
  return 0;
}

void rf_cli_free(rf_cli *o) {
  free(o->headers);
  free(o->data);
  free(o->urls);
  free(o->resolve);
}
