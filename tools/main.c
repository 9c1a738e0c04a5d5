/* ringfetch CLI entry: `ringfetch URL` (curl-like, body to stdout),
 * `ringfetch fetch ...` (bulk, JSON Lines) and `ringfetch bench ...` (load)
 * share one option parser; demo and serve have their own few options. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "demo.h"
#include "fetch.h"
#include "fleet.h"
#include "options.h"

/* curl's exit code for a result, where one means the same (curl's
 * libcurl-errors list); README "Exit status" documents the mapping. */
static int curl_exit(const rf_result *r, bool fail_http) {
  switch (r->error) {
  case RF_OK: return fail_http && r->status >= 400 ? 22 : 0;
  case RF_ERR_BAD_URL: return 3;            /* URL_MALFORMAT */
  case RF_ERR_BAD_REQUEST: return 2;        /* usage: a bad method or header */
  case RF_ERR_DNS: return 6;                /* COULDNT_RESOLVE_HOST */
  case RF_ERR_CONNECT_REFUSED:
  case RF_ERR_CONNECT:
  case RF_ERR_PROXY_CONNECT: return 7;      /* COULDNT_CONNECT */
  case RF_ERR_CONNECT_TIMEOUT:
  case RF_ERR_READ_TIMEOUT:
  case RF_ERR_TIMEOUT: return 28;           /* OPERATION_TIMEDOUT */
  case RF_ERR_TLS_HANDSHAKE: return 35;     /* SSL_CONNECT_ERROR */
  case RF_ERR_TLS_VERIFY: return 60;        /* PEER_FAILED_VERIFICATION */
  case RF_ERR_TLS:
  case RF_ERR_RESET:
  case RF_ERR_PROXY_REFUSED: return 56;     /* RECV_ERROR (Debian 12's curl for a refused CONNECT) */
  case RF_ERR_CLOSED: return r->status ? 18 : 52; /* PARTIAL_FILE / GOT_NOTHING */
  case RF_ERR_BAD_RESPONSE: return 8;       /* WEIRD_SERVER_REPLY */
  case RF_ERR_TOO_LARGE: return 63;         /* FILESIZE_EXCEEDED */
  case RF_ERR_IO: return 23;                /* WRITE_ERROR */
  case RF_ERR_TOO_MANY_REDIRECTS: return 47;
  case RF_ERR_BAD_REDIRECT: return 3;       /* the Location is not a URL we may follow */
  case RF_ERR_BAD_ENCODING: return 61;      /* BAD_CONTENT_ENCODING */
  case RF_ERR_CANCELED: return 42;          /* ABORTED_BY_CALLBACK */
  case RF_ERR_ROBOTS_DISALLOWED: return 22; /* nothing fetched, as for an HTTP error */
  case RF_ERR_INTERNAL:
  case RF_ERR__COUNT: break;
  }
  return 27; /* OUT_OF_MEMORY: what an engine fault comes down to */
}

/* One URL: the body goes to stdout (or -o FILE) through the engine's ring.
 * Exit codes are curl's (bulk mode keeps 0/1/2). */
static int single_main(rf_cli *o) {
  signal(SIGPIPE, SIG_IGN);
  rf_engine *e = NULL;
  char err[512];
  o->cfg.concurrency = 1; /* one transfer: no buffers for a hundred */
  if (rf_engine_new(&o->cfg, &e, err, sizeof err) < 0) {
    fprintf(stderr, "ringfetch: %s\n", err);
    return RF_EXIT_USAGE;
  }
  fflush(stdout); /* nothing of ours may sit in stdio while the ring writes fd 1 */
  rf_request rq = o->req; /* method, headers and body from the options */
  rq.url = o->urls[0];
  if (o->fail_http)
    rq.flags |= RF_REQ_NO_ERROR_BODY; /* curl -f: nothing of an error page is written */
  if (o->output) {
    rq.body_mode = RF_BODY_FILE;
    rq.body_path = o->output;
  } else {
    rq.body_mode = RF_BODY_FD;
    rq.body_fd = 1;
  }
  int rc = rf_submit(e, &rq);
  if (rc < 0) {
    fprintf(stderr, "ringfetch: cannot submit: %s\n", strerror(-rc));
    rf_engine_free(e);
    return RF_EXIT_FAILED;
  }
  int status = RF_EXIT_FAILED;
  while (rf_outstanding(e) > 0) {
    rc = rf_run(e, 1000);
    if (rc < 0) {
      fprintf(stderr, "ringfetch: engine failure: %s\n", strerror(-rc));
      break;
    }
    rf_result *r = rf_result_next(e);
    if (!r)
      continue;
    if (r->error != RF_OK)
      fprintf(stderr, "ringfetch: %s: %s\n", rf_error_name(r->error), r->error_message);
    else if (o->fail_http && r->status >= 400)
      fprintf(stderr, "ringfetch: the requested URL returned error: %d\n", r->status);
    status = curl_exit(r, o->fail_http);
    rf_result_release(e, r);
  }
  rf_engine_free(e);
  return status;
}

static int run_command(rf_cli *o) {
  switch (o->cmd) {
  case RF_CMD_FETCH: return o->queue ? rf_fleet_worker_main(o) : rf_fetch_main(o);
  case RF_CMD_BENCH: return rf_bench_main(o);
  case RF_CMD_ENQUEUE: return rf_enqueue_main(o);
  case RF_CMD_RESULTS: return rf_results_main(o);
  case RF_CMD_SINGLE: break;
  }
  return single_main(o);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "demo") == 0)
    return rf_demo_main(argc - 2, argv + 2);
  if (argc > 1 && strcmp(argv[1], "serve") == 0)
    return rf_serve_main(argc - 2, argv + 2);
  rf_command cmd = RF_CMD_SINGLE;
  if (argc > 1 && strcmp(argv[1], "fetch") == 0)
    cmd = RF_CMD_FETCH;
  else if (argc > 1 && strcmp(argv[1], "bench") == 0)
    cmd = RF_CMD_BENCH;
  else if (argc > 1 && strcmp(argv[1], "enqueue") == 0)
    cmd = RF_CMD_ENQUEUE;
  else if (argc > 1 && strcmp(argv[1], "results") == 0)
    cmd = RF_CMD_RESULTS;
  int skip = cmd == RF_CMD_SINGLE ? 1 : 2;
  rf_cli o;
  int rc = rf_cli_parse(argc - skip, argv + skip, cmd, &o);
  if (rc == 0)
    rc = run_command(&o);
  else if (rc < 0)
    rc = RF_EXIT_OK; /* --help / --version */
  rf_cli_free(&o);
  return rc;
}
