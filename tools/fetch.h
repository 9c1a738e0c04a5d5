/* The two front ends of the CLI. */
#ifndef RF_TOOLS_FETCH_H
#define RF_TOOLS_FETCH_H

#include "options.h"

/* `ringfetch fetch ...`: returns the process exit status. */
int rf_fetch_main(rf_cli *o);

#endif
