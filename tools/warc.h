/* WARC/1.1 output (ISO 28500:2017) for captured exchanges (rf_exchange).
 *
 * The writer never blocks and does no I/O of its own: it builds each record,
 * compresses it as its own gzip member, and hands the finished bytes to an
 * output callback (the CLI connects it to an rf_outfile, written through the
 * engine's ring). Which file a record goes to is the writer's decision
 * (rotation at a size); opening a file is the caller's (the open callback).
 *
 * Files, from opts.name (a trailing ".warc.gz" or ".warc" is dropped to get
 * the stem): without rotation (max_size 0) one file STEM.warc.gz; with
 * rotation STEM-00000.warc.gz, STEM-00001.warc.gz, ... Every file starts with
 * its own warcinfo record (written when the file is opened, so file 0 exists
 * from rf_warc_new on, even if nothing is ever fetched).
 *
 * Records per exchange: a request record (block: the request bytes exactly as
 * sent) and then a response record (block: the response bytes exactly as
 * received, chunked framing and content coding included), linked both ways by
 * WARC-Concurrent-To, with the same WARC-Date (µs precision) and always in the
 * same file (rotation happens between exchanges; an exchange larger than
 * max_size overshoots in a file of its own).
 *
 * Each record is one gzip member, so [offset, offset + length) of a response
 * record is a standalone .gz that replay tools (pywb, CDXJ) read directly.
 *
 * Digests (sha1, base32 upper case, "sha1:" prefix):
 *   WARC-Block-Digest   over the whole block (the bytes stored);
 *   WARC-Payload-Digest on responses, over the entity body after transfer
 *     decoding, as WARC/1.1 defines the payload: the de-chunked body, content
 *     coding (gzip, br...) kept. For a complete response it is
 *     rf_exchange.payload_sha1; for a response record cut short (truncated at
 *     capture_max, or the attempt ended in error) the writer digests the body
 *     bytes the record holds (de-chunked, a partial last chunk included): a
 *     truncated record's payload "is considered truncated at the same
 *     position" (WARC/1.1 section 6.3.2), and every digest in the file can be
 *     checked against the file.
 *   NOTE: Webrecorder's warcio (Python `warcio check`, warcio.js) digests the
 *   raw body bytes without undoing the chunked framing, so it reports payload
 *   digest mismatches on chunked responses. That is by design: this writer
 *   follows the standard. The convention is also stated in each warcinfo.
 *
 * WARC-Truncated on a response record: "length" when the capture was cut at
 * capture_max; else, when the attempt ended in error after the head (a
 * response may then be incomplete): "time" for read_timeout/timeout,
 * "length" for too_large, "disconnect" for reset/closed/tls/proxy errors,
 * "unspecified" for any other error.
 *
 * All functions return 0 or a negative errno. After an output error the
 * writer stays failed: every later call returns that first error. */
#ifndef RF_TOOLS_WARC_H
#define RF_TOOLS_WARC_H

#include <stddef.h>
#include <stdint.h>

#include "ringfetch.h"

/* Takes n finished bytes of the current file (it must copy them or write them
 * before returning). Returns 0, or a negative errno that fails the writer. */
typedef int (*rf_warc_out)(void *ud, const void *p, size_t n);

/* Asked to open file number k (0, 1, 2 ...) at path (the stem's directory
 * included); sets *out and *out_ud for the bytes of that file. Returns 0 or a
 * negative errno. */
typedef int (*rf_warc_open_fn)(void *ud, unsigned k, const char *path, rf_warc_out *out,
                               void **out_ud);

/* Told that file k is complete (rotation, or rf_warc_close): no more bytes will
 * come for out_ud. Returns 0 or a negative errno. May be NULL. */
typedef int (*rf_warc_done_fn)(void *ud, unsigned k, void *out_ud);

typedef struct rf_warc_opts {
  const char *name;         /* path stem, e.g. "crawl" or "out/crawl.warc.gz" (required) */
  const char *software;     /* warcinfo "software", e.g. "ringfetch/0.1.0" (NULL: "ringfetch") */
  const char *command_line; /* warcinfo "command-line" (NULL: none); control bytes become spaces */
  const char *hostname;     /* warcinfo "hostname" (NULL: gethostname()) */
  uint64_t max_size;        /* start a new file before one would pass this many bytes; 0 = one
                               file */
  int gzip_level;           /* 1..9; 0 = default (6) */
  uint64_t capture_max;     /* the rf_config.capture_max of the capture: tells which side of a
                               truncated exchange was cut (a side at least this long). 0 = not
                               known: a truncated exchange marks its response only */
  rf_warc_open_fn open;     /* required */
  rf_warc_done_fn done;     /* optional */
  void *ud;                 /* for open and done */
} rf_warc_opts;

typedef struct rf_warc rf_warc;

/* Where rf_warc_exchange put the response record, for the CDXJ index. */
typedef struct rf_warc_pos {
  const char *filename;      /* the file's name without its directory, as in WARC-Filename;
                                valid until the next rf_warc_exchange or rf_warc_close */
  unsigned file_index;       /* k of that file */
  uint64_t offset;           /* where the response record's gzip member starts in the file */
  uint64_t length;           /* the member's length in bytes */
  char payload_digest[40];   /* "sha1:<32 base32 chars>" as in WARC-Payload-Digest */
  char record_id[48];        /* "<urn:uuid:...>" of the response record */
  const char *target_uri;    /* WARC-Target-URI as written: the URL with control bytes,
                                spaces and non-ASCII bytes percent-encoded; valid as
                                filename is */
} rf_warc_pos;

/* Makes a writer and opens file 0 (its warcinfo goes out at once). */
int rf_warc_new(const rf_warc_opts *o, rf_warc **out);

/* Writes the request and response records of one exchange; when pos is not
 * NULL, says where the response record went. */
int rf_warc_exchange(rf_warc *w, const rf_exchange *x, rf_warc_pos *pos);

/* Bytes handed out for the current file so far. */
uint64_t rf_warc_file_size(const rf_warc *w);

/* Finishes the current file (done callback) and frees the writer. Returns the
 * first error the writer met, if any. NULL is OK. */
int rf_warc_close(rf_warc *w);

/* ---- helpers shared with the CDXJ index and the tests ---------------------- */

/* "sha1:" + base32 (RFC 4648, upper case, no padding needed) of 20 bytes into
 * out (at least 38 bytes, NUL-terminated). */
void rf_warc_sha1_label(const uint8_t sha1[20], char out[38]);

/* Finds a header field by case-insensitive name in an HTTP message head
 * (status or request line, fields, the empty line; CRLF or bare LF line ends).
 * Sets *v and *vn to the value without surrounding blanks. Returns 1 if found. */
int rf_warc_http_header(const uint8_t *head, size_t n, const char *name, const uint8_t **v,
                        size_t *vn);

/* Whether the last transfer coding in a head's Transfer-Encoding is chunked. */
int rf_warc_http_chunked(const uint8_t *head, size_t n);

/* SHA-1 of a body after removing chunked framing when chunked: chunk data
 * joined, trailers dropped; a body cut inside a chunk gives the data it holds. */
void rf_warc_payload_sha1(const uint8_t *body, size_t n, int chunked, uint8_t out[20]);

/* Where the body starts in a response: after the first empty line (CRLF or
 * bare LF, as the engine's lenient parser reads it); the whole length if none. */
size_t rf_warc_response_head_len(const rf_exchange *x);

#endif
