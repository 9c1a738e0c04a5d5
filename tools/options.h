/* Command-line options shared by `ringfetch URL` and `ringfetch fetch`. */
#ifndef RF_TOOLS_OPTIONS_H
#define RF_TOOLS_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "ringfetch.h"

#define RF_EXIT_OK 0
#define RF_EXIT_FAILED 1
#define RF_EXIT_USAGE 2

typedef struct rf_cli {
  rf_config cfg;
  const char *method;
  rf_header *headers;
  size_t n_headers;
  char *data;          /* -d: request body (owned) */
  size_t data_len;
  bool have_data;
  const char *input;   /* -i FILE, "-" = stdin */
  const char *output;  /* -o FILE */
  const char *body_dir;
  const char *trace_file;    /* --trace: Chrome trace JSON */
  const char *waterfall_file;/* --waterfall: SVG */
  char **urls;         /* positional arguments (borrowed from argv) */
  size_t n_urls;
  const char **resolve;
  size_t n_resolve;
  bool quiet;
  bool all_headers;
  bool fail_http;      /* -f: HTTP status >= 400 counts as a failure */
  bool fetch_mode;
} rf_cli;

/* Parses argv (after the subcommand, if any). Returns 0, or RF_EXIT_USAGE
 * after printing a message to stderr; -1 when --help/--version was printed. */
int rf_cli_parse(int argc, char **argv, bool fetch_mode, rf_cli *o);
void rf_cli_free(rf_cli *o);
void rf_cli_usage(FILE *f);

/* Helpers shared with `bench`'s own options. They print their message and
 * return RF_EXIT_USAGE on bad input (rf_cli_usage_err: fmt has one %s). */
int rf_cli_usage_err(const char *fmt, const char *arg) __attribute__((format(printf, 1, 0)));
int rf_cli_parse_uint(const char *s, unsigned long max, unsigned long *out); /* 0 or -1 */
int rf_cli_parse_seconds(const char *s, unsigned *ms);                     /* 0 or -1 */
int rf_cli_read_file(const char *path, char **data, size_t *len);          /* 0 or -1 */
int rf_cli_add_header(rf_header **hdrs, size_t *n, char *arg);

#endif
