/* A fleet of ringfetch workers on a Redis Streams frontier:
 * `ringfetch enqueue` (queue.c) appends input lines to the work stream,
 * `ringfetch fetch --queue` (fleet.c) is a worker of the consumer group,
 * `ringfetch results` (queue.c) prints the results stream as JSON Lines.
 *
 * The work stream NAME holds one entry per input line: url, line (1-based),
 * src (the input's name) and toolong=1 for a line cut at 64 KiB. The
 * consumer group is "ringfetch". A worker writes each result to the stream
 * NAME:results (field rec: the JSON record) in the same script that
 * acknowledges the entry, and only when the acknowledgement removed it from
 * the pending list: an entry finished twice yields one result. */
#ifndef RF_TOOLS_FLEET_H
#define RF_TOOLS_FLEET_H

#include "options.h"

#define RF_FLEET_GROUP "ringfetch"

int rf_fleet_worker_main(rf_cli *o);
int rf_enqueue_main(rf_cli *o);
int rf_results_main(rf_cli *o);

#endif
