/* HTTP content codings (RFC 9110 section 8.4) undone as a stream, for
 * --compressed: gzip, deflate, br and zstd, stacked up to RF_MAX_CODINGS deep.
 *
 * Pure byte code: no sockets, no shared state (one thread-local buffer holds
 * rf_codings_parse's "unknown coding" message). A decoder takes the body as
 * it comes off the wire, in pieces of any size, and hands the decoded bytes
 * to a callback in pieces of at most RF_DECODE_CHUNK bytes.
 *
 * Memory. Nothing grows with the size of the body (or of what it expands
 * to): each coding in the stack holds one RF_DECODE_CHUNK output buffer,
 * which is handed on to the next stage (or to the callback) before it is
 * filled again, plus its decompressor's state, bounded by the coding's
 * window:
 *   gzip, deflate  zlib's inflate: 32 KiB window + ~7 KiB state.
 *   br             the window the stream asks for, at most 16 MiB (RFC 7932;
 *                  brotli's large-window extension is off, such streams are
 *                  refused), + up to ~3 MiB of Huffman tables.
 *   zstd           windows up to 8 MiB (ZSTD_d_windowLogMax = 23, as
 *                  RFC 9659 section 3 asks of HTTP clients) + one 128 KiB
 *                  block and ~100 KiB of tables; a frame wanting a larger
 *                  window is refused with zstd's "Frame requires too much
 *                  memory for decoding". Only RFC 8878 frames and skippable
 *                  frames are read: pre-1.0 (legacy) frames are refused even
 *                  when libzstd was built to read them.
 * So a gzip or deflate decoder needs under 64 KiB; a hostile server can make
 * one br layer cost up to ~19 MiB and one zstd layer ~9 MiB (five stacked br
 * layers: ~95 MiB). A decompression bomb (KiB that expand to GiB) costs no
 * more: it comes out RF_DECODE_CHUNK bytes per callback, and the callback
 * can stop it by returning non-zero. The work done before a stop is heard
 * is one library call per stage: up to RF_DECODE_CHUNK bytes of output for
 * zlib and zstd; brotli fills its ring buffer before it hands anything out,
 * so up to one window (<= 16 MiB of copying) for br.
 *
 * A decoder is used by one thread at a time; different decoders are
 * independent. */
#ifndef RF_PROTO_DECODE_H
#define RF_PROTO_DECODE_H

#include <stddef.h>
#include <stdint.h>

enum rf_coding { RF_CODING_GZIP = 1, RF_CODING_DEFLATE, RF_CODING_BR, RF_CODING_ZSTD };

/* curl refuses more than 5 stacked codings (CVE-2022-32206): so do we. */
#define RF_MAX_CODINGS 5

/* The most bytes one call of the output callback is given. */
#define RF_DECODE_CHUNK 16384

/* rf_decoder_feed / rf_decoder_finish results besides 0. */
#define RF_DECODE_E_BAD (-1)   /* corrupt or cut-short input: see rf_decoder_error */
#define RF_DECODE_E_ABORT (-2) /* the output callback returned non-zero */

/* Parses a Content-Encoding field value v[0..n) (or the codings of a
 * Transfer-Encoding before its final "chunked", without the "chunked"):
 * comma-separated, case-insensitive, spaces and tabs around items ignored,
 * empty items ignored (", gzip,,"), "identity" dropped, "x-gzip" is gzip.
 * No NUL terminator is needed and nothing outside v[0..n) is read.
 *
 * Writes the codings to out[0..max) in the order they were applied (the
 * field's order) and returns their count: 0 means nothing to undo (empty or
 * only "identity"). Errors return -EINVAL with *err (if err is not NULL) set:
 *   "unknown content coding 'foo'"  any other coding (including "compress"
 *                                   and items with parameters). The name is
 *                                   quoted with bytes outside printable ASCII
 *                                   as \xNN and cut at 32 bytes ("..."); the
 *                                   message is in a thread-local buffer that
 *                                   stays valid until this thread's next
 *                                   rf_codings_parse call.
 *   "more than 5 codings"           more than RF_MAX_CODINGS codings.
 *   "more codings than room in out" more than max (max < RF_MAX_CODINGS).
 * Every other message is a static string. */
int rf_codings_parse(const char *v, size_t n, enum rf_coding *out, int max, const char **err);

/* The name of a coding as in the header ("gzip", "deflate", "br", "zstd"),
 * or "?" for a value outside the enum. */
const char *rf_coding_name(enum rf_coding c);

/* Receives decoded bytes p[0..n), 1 <= n <= RF_DECODE_CHUNK (never 0). p is
 * only valid during the call. Returns 0 to go on; anything else stops the
 * decoder, and the feed or finish call that called it returns
 * RF_DECODE_E_ABORT without decoding any more input. */
typedef int (*rf_decode_out)(void *ud, const uint8_t *p, size_t n);

typedef struct rf_decoder rf_decoder;

/* A decoder for a body to which codings[0..n) were applied in that order
 * (what rf_codings_parse gives); the last one is undone first. Returns NULL
 * when out of memory, or when n is not in 1..RF_MAX_CODINGS or a coding is
 * not one of the enum's values. */
rf_decoder *rf_decoder_new(const enum rf_coding *codings, int n);

/* Decodes the wire bytes p[0..n) (n may be 0; p may be NULL when n is 0),
 * handing the output to out(ud, ...) as it is produced. Nothing outside
 * p[0..n) is read and p is not kept after the call.
 * Returns 0, RF_DECODE_E_BAD (corrupt input, or data after a stream's end:
 * rf_decoder_error says what, e.g. "gzip: invalid block type", "brotli: ...",
 * "zstd: Frame requires too much memory for decoding") or RF_DECODE_E_ABORT
 * (out returned non-zero). Either error is final: every later feed or finish
 * returns it again without calling out. Feeding after a successful finish is
 * RF_DECODE_E_BAD. */
int rf_decoder_feed(rf_decoder *d, const uint8_t *p, size_t n, rf_decode_out out, void *ud);

/* The body ended. Every stage has already handed on all it could, so this
 * only checks that each stream ended cleanly: RF_DECODE_E_BAD (with a
 * message like "gzip: unexpected end of data") when a stream was cut short.
 * A stage that got no bytes at all is an empty body, not an error: a HEAD
 * or 204 answer with Content-Encoding has a body of zero bytes. out is
 * taken for symmetry with feed; this version never calls it. Calling finish
 * again returns the same result. */
int rf_decoder_finish(rf_decoder *d, rf_decode_out out, void *ud);

/* What went wrong: a message owned by the decoder, valid until
 * rf_decoder_free (errors are final, so it does not change); "" while
 * nothing has. */
const char *rf_decoder_error(const rf_decoder *d);

/* Frees everything the decoder holds. NULL is OK. */
void rf_decoder_free(rf_decoder *d);

#endif
