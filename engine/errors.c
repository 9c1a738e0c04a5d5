/* Stable names of error kinds, and the version. */
#include "engine/ringfetch.h"

static const char *const names[RF_ERR__COUNT] = {
    [RF_OK] = "ok",
    [RF_ERR_BAD_URL] = "bad_url",
    [RF_ERR_BAD_REQUEST] = "bad_request",
    [RF_ERR_DNS] = "dns",
    [RF_ERR_CONNECT_REFUSED] = "connect_refused",
    [RF_ERR_CONNECT_TIMEOUT] = "connect_timeout",
    [RF_ERR_CONNECT] = "connect",
    [RF_ERR_TLS_VERIFY] = "tls_verify",
    [RF_ERR_TLS_HANDSHAKE] = "tls_handshake",
    [RF_ERR_TLS] = "tls",
    [RF_ERR_READ_TIMEOUT] = "read_timeout",
    [RF_ERR_TIMEOUT] = "timeout",
    [RF_ERR_RESET] = "reset",
    [RF_ERR_CLOSED] = "closed",
    [RF_ERR_BAD_RESPONSE] = "bad_response",
    [RF_ERR_TOO_LARGE] = "too_large",
    [RF_ERR_IO] = "io",
    [RF_ERR_CANCELED] = "canceled",
    [RF_ERR_INTERNAL] = "internal",
    [RF_ERR_TOO_MANY_REDIRECTS] = "too_many_redirects",
    [RF_ERR_BAD_REDIRECT] = "bad_redirect",
    [RF_ERR_PROXY_CONNECT] = "proxy_connect",
    [RF_ERR_PROXY_REFUSED] = "proxy_refused",
    [RF_ERR_BAD_ENCODING] = "bad_encoding",
    [RF_ERR_ROBOTS_DISALLOWED] = "robots_disallowed",
};

const char *rf_error_name(rf_error e) {
  if ((unsigned)e >= RF_ERR__COUNT || !names[e])
    return "unknown";
  return names[e];
}

const char *rf_version(void) { return "0.1.0"; }
