/* `ringfetch serve`: the embedded test server on its own, for tests and for
 * trying bench/fetch locally:
 *   ringfetch serve [--tls] [--port N] [--delay MS] [--cert-out FILE] [--port-file FILE]
 * Runs until SIGINT or SIGTERM. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "demo.h"
#include "options.h"
#include "server/server.h"

static int write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f)
    return -1;
  fputs(text, f);
  return fclose(f);
}

typedef struct serve_opts {
  rf_server_opts so;
  const char *cert_out, *port_file;
} serve_opts;

/* 0, -1 after --help, or a usage error's exit status. */
static int parse(int argc, char **argv, serve_opts *o) {
  rf_server_opts *so = &o->so;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    unsigned long v;
    if (strcmp(a, "--tls") == 0) {
      so->tls = true;
      continue;
    }
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      printf("usage: ringfetch serve [--tls] [--port N] [--delay MS] [--max-conns N]\n"
             "                       [--cert-out FILE] [--port-file FILE]\n"
             "  the embedded test server on 127.0.0.1 (see tools/server/server.h for the query\n"
             "  parameters: delay=, size=, chunked=1, status=, close=1, fault=...)\n");
      return -1;
    }
    if (i + 1 >= argc)
      return rf_cli_usage_err("option '%s' needs a value (or is unknown)", a);
    const char *val = argv[++i];
    if (strcmp(a, "--port") == 0) {
      if (rf_cli_parse_uint(val, 65535, &v))
        return rf_cli_usage_err("bad --port '%s'", val);
      so->port = (uint16_t)v;
    } else if (strcmp(a, "--delay") == 0) {
      if (rf_cli_parse_uint(val, 3600000, &v))
        return rf_cli_usage_err("bad --delay '%s' (milliseconds)", val);
      so->delay_ms = (unsigned)v;
    } else if (strcmp(a, "--max-conns") == 0) {
      if (rf_cli_parse_uint(val, 100000, &v) || v == 0)
        return rf_cli_usage_err("bad --max-conns '%s'", val);
      so->max_conns = (unsigned)v;
    } else if (strcmp(a, "--cert-out") == 0) {
      o->cert_out = val;
    } else if (strcmp(a, "--port-file") == 0) {
      o->port_file = val;
    } else {
      return rf_cli_usage_err("unknown option '%s' (ringfetch serve --help)", a);
    }
  }
  return 0;
}

int rf_serve_main(int argc, char **argv) {
  serve_opts o = {0};
  int prc = parse(argc, argv, &o);
  if (prc)
    return prc < 0 ? RF_EXIT_OK : prc;
  rf_server_opts so = o.so;
  const char *cert_out = o.cert_out, *port_file = o.port_file;
  /* block the signals before the server thread starts, so only sigwait sees them */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
  rf_server *srv = NULL;
  char err[256];
  if (rf_server_start(&so, &srv, err, sizeof err) < 0) {
    fprintf(stderr, "ringfetch: cannot start the server: %s\n", err);
    return RF_EXIT_FAILED;
  }
  if (cert_out && so.tls && write_text(cert_out, rf_server_cert_pem(srv)) != 0) {
    fprintf(stderr, "ringfetch: cannot write %s\n", cert_out);
    rf_server_stop(srv);
    return RF_EXIT_FAILED;
  }
  char port[16];
  snprintf(port, sizeof port, "%u\n", rf_server_port(srv));
  if (port_file && write_text(port_file, port) != 0) {
    fprintf(stderr, "ringfetch: cannot write %s\n", port_file);
    rf_server_stop(srv);
    return RF_EXIT_FAILED;
  }
  fprintf(stderr, "ringfetch: serving %s://127.0.0.1:%u/ until interrupted%s%s\n", so.tls ? "https" : "http",
          rf_server_port(srv), cert_out && so.tls ? "; certificate in " : "", cert_out && so.tls ? cert_out : "");
  int sig = 0;
  sigwait(&set, &sig);
  fprintf(stderr, "ringfetch: %llu requests on %llu connections\n", (unsigned long long)rf_server_requests(srv),
          (unsigned long long)rf_server_connections(srv));
  rf_server_stop(srv);
  return RF_EXIT_OK;
}
