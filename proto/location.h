/* Resolving a redirect's Location header against the URL that answered it
 * (RFC 3986 section 5, as RFC 9110 section 10.2.2 asks).
 *
 * Pure byte code: no allocation, the result is written to a caller buffer.
 * The result is always an absolute http or https URL that rf_url_parse
 * accepts; anything else (another scheme, a bad host, credentials, a result
 * longer than RF_URL_MAX_LEN ...) is an error with a short static message. */
#ifndef RF_PROTO_LOCATION_H
#define RF_PROTO_LOCATION_H

#include <stddef.h>

/* Room rf_url_resolve needs in out for these input lengths. */
#define RF_URL_RESOLVE_CAP(base_len, ref_len) ((base_len) + 3 * (ref_len) + 16)

/* Resolves the reference ref[0..ref_len) (a Location header value) against
 * base[0..base_len), an absolute http/https URL that rf_url_parse accepts.
 * out must have room for base_len + 3 * ref_len + 16 bytes. Writes the
 * absolute result, NUL-terminated, and returns its length; or returns
 * -EINVAL with *err (if not NULL) set to a static message.
 *
 * Neither input needs a NUL terminator and nothing outside them is read;
 * nothing is written at or past out[cap]. The path is merged first and its
 * dot segments removed after, in out, so a cap below the bound above can
 * give -EINVAL "output buffer too small" even for a shorter result.
 *
 * - Leading/trailing spaces and tabs of ref are ignored; any other control
 *   byte is an error.
 * - Space, bytes >= 0x80 and " < > \ ^ ` { | } in ref are percent-encoded
 *   ('%' is kept as is). A backslash is data, not a path separator.
 * - Only http and https references are followed. "http:g" with the base's
 *   own scheme is the relative reference "g"; with the other scheme and no
 *   "//" it is an error.
 * - The scheme of the result is written in lower case.
 * - Without a fragment in ref the base's fragment is kept (RFC 9110). */
long rf_url_resolve(const char *base, size_t base_len, const char *ref, size_t ref_len, char *out,
                    size_t cap, const char **err);

#endif
