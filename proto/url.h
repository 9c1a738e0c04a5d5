/* URL parsing for http:// and https:// URLs.
 *
 * The parser does not copy: every span points into the caller's string, which
 * must outlive the rf_url. Anything that is not a well-formed absolute http or
 * https URL is rejected with a short static message (never a crash). */
#ifndef RF_PROTO_URL_H
#define RF_PROTO_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RF_URL_MAX_LEN 65536u /* longer input is rejected */

enum rf_scheme { RF_SCHEME_HTTP = 0, RF_SCHEME_HTTPS = 1 };
enum rf_host_kind { RF_HOST_NAME = 0, RF_HOST_IPV4 = 1, RF_HOST_IPV6 = 2 };

typedef struct rf_url {
  enum rf_scheme scheme;
  enum rf_host_kind host_kind;
  const char *host;   /* IPv6 without its brackets */
  size_t host_len;
  uint16_t port;      /* explicit port, or 80/443 */
  bool port_explicit;
  /* Request target: path and query, fragment removed. Empty when the URL has
   * no path; target_needs_slash says a "/" must be sent before it (empty or
   * starting with '?'). */
  const char *target;
  size_t target_len;
  bool target_needs_slash;
} rf_url;

/* Parses s[0..len). Returns 0 on success, or -EINVAL with *err (if err is not
 * NULL) set to a static description of the first problem found. */
int rf_url_parse(const char *s, size_t len, rf_url *u, const char **err);

/* Default port of a scheme (80 or 443). */
uint16_t rf_url_default_port(enum rf_scheme scheme);

#endif
