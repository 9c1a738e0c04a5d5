/* The embedded test/demo server: HTTP and HTTPS on loopback only, with a
 * self-signed certificate made in memory, a configurable response delay and
 * fault modes. Used by `ringfetch demo`, `ringfetch serve` and the tests.
 *
 * It runs on its own thread with its own io_uring, so a client engine in the
 * same process is not slowed by it beyond sharing the CPUs.
 *
 * Requests choose their response with query parameters (any path):
 *   delay=MS      wait MS milliseconds before answering (default: the server's)
 *   size=BYTES    body size (default 3: "ok\n"); the body is deterministic:
 *                 byte i is 'a' + i % 26
 *   chunked=1     send the body with Transfer-Encoding: chunked
 *   status=N      status code (default 200)
 *   close=1       answer with Connection: close and close
 *   fault=NAME    misbehave:
 *     drip          the body one byte every 100 ms
 *     reset         reset the connection in the middle of the body
 *     close         close before sending anything
 *     bad-status    a malformed status line
 *     huge-headers  256 KiB of headers
 *     bad-chunk     an invalid chunk size line
 *     wrong-length  Content-Length larger than the body, then close
 *     never         read the request and never answer (nor close)
 * Keep-alive (HTTP/1.1) is supported; pipelined requests are answered in
 * order. */
#ifndef RF_TOOLS_SERVER_H
#define RF_TOOLS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rf_server rf_server;

typedef struct rf_server_opts {
  bool tls;             /* HTTPS with the in-memory self-signed certificate */
  uint16_t port;        /* 0: an ephemeral port */
  unsigned delay_ms;    /* default response delay */
  unsigned max_conns;   /* connections at once (default 16384); more wait in the backlog */
} rf_server_opts;

/* Starts the server thread, listening on 127.0.0.1. Returns 0, or a negative
 * errno with a message in err. */
int rf_server_start(const rf_server_opts *opts, rf_server **out, char *err, size_t errlen);

uint16_t rf_server_port(const rf_server *s);

/* The certificate (PEM) clients must trust for HTTPS; it names localhost and
 * 127.0.0.1. NULL for plain HTTP. Owned by the server. */
const char *rf_server_cert_pem(const rf_server *s);

/* Requests answered so far and connections accepted (for tests and demo). */
uint64_t rf_server_requests(const rf_server *s);
uint64_t rf_server_connections(const rf_server *s);

/* Stops the thread, closes every connection, frees everything. NULL is OK. */
void rf_server_stop(rf_server *s);

#endif
