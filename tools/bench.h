/* `ringfetch bench`: load generation against one URL. */
#ifndef RF_TOOLS_BENCH_H
#define RF_TOOLS_BENCH_H

/* Parses its own options (wrk-compatible where wrk has them) and runs.
 * Returns the process exit status. */
int rf_bench_main(int argc, char **argv);

#endif
