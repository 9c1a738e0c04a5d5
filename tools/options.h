/* Command-line options of `ringfetch URL`, `ringfetch fetch` and
 * `ringfetch bench`: one table, one parser (options.c). */
#ifndef RF_TOOLS_OPTIONS_H
#define RF_TOOLS_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ringfetch.h"
#include "units.h"

#define RF_EXIT_OK 0
#define RF_EXIT_FAILED 1
#define RF_EXIT_USAGE 2

/* The commands that share the option table; bits, so a table row can name
 * several. */
typedef enum rf_command {
  RF_CMD_SINGLE = 1, /* ringfetch [options] URL */
  RF_CMD_FETCH = 2,  /* ringfetch fetch [options] [URL...] */
  RF_CMD_BENCH = 4,  /* ringfetch bench [options] URL */
  RF_CMD_ENQUEUE = 8,  /* ringfetch enqueue --queue Q [-i FILE] [URL...] */
  RF_CMD_RESULTS = 16, /* ringfetch results --queue Q [-o FILE] [--follow] */
} rf_command;

/* What only bench reads (wrk's flags and the open loop). */
typedef struct rf_bench_args {
  const char *url;
  unsigned conns, threads, pipeline;
  uint64_t duration_us;
  bool have_duration;   /* -d was given (the rate schedule sets its own) */
  uint64_t requests;    /* -n: total, 0 = by duration */
  double rate;          /* -R; becomes a one-step schedule */
  rf_rate_step *segs;   /* open loop when nsegs > 0 */
  size_t nsegs;
  bool new_conn, latency, json;
  const char *hist_file;
  unsigned trace_max;   /* requests recorded in the trace / waterfall */
  int64_t batch_us;     /* --batch: rf_config.batch_us; -1 = the default (see bench.c) */
} rf_bench_args;

typedef struct rf_cli_block rf_cli_block;

typedef struct rf_cli {
  rf_command cmd;
  rf_config cfg;       /* engine settings; each command's engines start from these */
  rf_request req;      /* request template: method, headers, body (what the options
                          set); the command adds the URL, tag and where the body goes */
  int argc;            /* the arguments after the subcommand, as given */
  char **argv;
  char **urls;         /* positional arguments (borrowed from argv) */
  size_t n_urls;
  const char *input;   /* -i FILE, "-" = stdin */
  const char *output;  /* -o FILE */
  const char *body_dir;
  const char *trace_file;    /* --trace: Chrome trace JSON */
  const char *waterfall_file;/* --waterfall: SVG */
  const char **resume;       /* --resume files/globs */
  size_t n_resume;
  unsigned grace_ms;         /* --grace */
  int progress;              /* 1 --progress, -1 --no-progress, 0 on a terminal */
  const char *stats_json;
  const char *warc;          /* --warc FILE.warc.gz */
  uint64_t warc_max_size;
  const char *cdxj;
  bool quiet;
  bool all_headers;
  bool fail_http;      /* -f: HTTP status >= 400 counts as a failure */
  /* the fleet (fleet.h) */
  const char *queue;         /* --queue redis://HOST:PORT[/DB]/NAME */
  const char *worker;        /* --worker ID: this consumer's name in the group */
  uint64_t claim_idle_us;    /* --claim-idle (default 30 s) */
  bool drain;                /* --drain: exit once the queue is empty everywhere */
  bool follow;               /* results --follow */
  rf_bench_args bench;
  rf_cli_block *owned; /* everything the parser allocated (the arrays cfg and req
                          point to, the body, urls): rf_cli_free frees it */
} rf_cli;

/* Parses argv (after the subcommand, if any) for cmd. Returns 0, or
 * RF_EXIT_USAGE after printing a message to stderr; -1 when --help/--version
 * was printed. Call rf_cli_free in every case. */
int rf_cli_parse(int argc, char **argv, rf_command cmd, rf_cli *o);
void rf_cli_free(rf_cli *o);

/* The options cmd accepts, from the table (URL and fetch share one text). */
void rf_cli_usage(FILE *f, rf_command cmd);

/* Prints "ringfetch: " fmt (one %s) and the --help hint to stderr and
 * returns RF_EXIT_USAGE; also for demo's and serve's own options. */
int rf_cli_usage_err(const char *fmt, const char *arg) __attribute__((format(printf, 1, 0)));

#endif
