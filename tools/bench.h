/* `ringfetch bench`: load generation against one URL. */
#ifndef RF_TOOLS_BENCH_H
#define RF_TOOLS_BENCH_H

#include "options.h"

/* Runs the load the options describe (parsed for RF_CMD_BENCH: wrk's flags
 * where wrk has them, fetch's for the request, TLS, DNS and timeouts).
 * Returns the process exit status. */
int rf_bench_main(const rf_cli *o);

#endif
