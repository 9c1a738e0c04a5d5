/* CDXJ index lines for WARC response records (the format pywb and
 * cdxj-indexer write), and the SURT keys they start with.
 *
 * A line:
 *   <SURT key> <14-digit UTC timestamp> {"url": "...", "mime": "text/html",
 *   "status": "200", "digest": "sha1:...", "length": "N", "offset": "N",
 *   "filename": "NAME-00000.warc.gz"}
 * status, length and offset are JSON strings, as pywb/cdxj-indexer write
 * them; "mime" is the Content-Type up to ';', lower case, and is left out when
 * the response has none. Lines come in capture order: the file is NOT sorted
 * (replay tools want it sorted by key: `LC_ALL=C sort` it before use). */
#ifndef RF_TOOLS_CDXJ_H
#define RF_TOOLS_CDXJ_H

#include <stddef.h>

#include "json.h"
#include "warc.h"

/* Appends the SURT key of an absolute URL, as Python's `surt.surt(url)` gives
 * it (the IA/Wayback canonicalization) for ordinary http(s) URLs: no scheme;
 * host lower case, a leading "www." / "wwwN." dropped, its labels reversed
 * and joined by ','; IPv4 addresses (also decimal, octal, short forms)
 * written as dotted quads and reversed like names; IPv6 addresses without
 * brackets; the port when not the scheme's default (":8080"); then ')', the
 * path (dot segments resolved, empty segments dropped, percent-escapes undone
 * and only controls, spaces, non-ASCII bytes, '#' and '%' escaped again, all
 * lower case, a trailing '/' dropped unless the path is "/") and the query
 * (its arguments sorted, lower case, common session ids removed); user info
 * and fragment dropped. Unlike surt, a non-ASCII host name is percent-escaped
 * rather than converted to punycode (the engine fetches ASCII names only). */
void rf_surt(jbuf *b, const char *url, size_t n);

/* Appends the 14-digit UTC timestamp (YYYYMMDDhhmmss) of a µs wall clock. */
void rf_cdxj_timestamp(jbuf *b, uint64_t date_us);

/* Appends one CDXJ line (ending in '\n') for the response record that
 * rf_warc_exchange wrote for x and described in pos (call it before the next
 * rf_warc_exchange: pos points into the writer). "url" is the record's
 * WARC-Target-URI. */
void rf_cdxj_line(jbuf *b, const rf_exchange *x, const rf_warc_pos *pos);

#endif
