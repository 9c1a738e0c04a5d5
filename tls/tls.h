/* TLS client over memory: BoringSSL never sees a socket.
 *
 * The caller hands received ciphertext to rf_tls_feed (the bytes are read in
 * place, not copied, until consumed), drives the handshake / read / write, and
 * gets the ciphertext to send through the out callback given at creation.
 * Nothing here blocks or makes a system call. */
#ifndef RF_TLS_H
#define RF_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rf_tls_ctx rf_tls_ctx;
typedef struct rf_tls rf_tls;
typedef struct rf_tls_cache rf_tls_cache;

typedef struct rf_tls_ctx_opts {
  bool insecure;       /* no chain or host name check */
  const char *ca_file; /* NULL: $SSL_CERT_FILE, else the system bundle */
  const char *ca_dir;  /* NULL: $SSL_CERT_DIR, else the system directory */
  const char *ca_pem;  /* PEM text: replaces the defaults when ca_file/ca_dir are NULL */
  bool h2;             /* ALPN offers "h2" before "http/1.1" */
} rf_tls_ctx_opts;

/* Return values of the connection functions. */
enum {
  RF_TLS_OK = 0,
  RF_TLS_WANT_READ = -1,    /* feed more ciphertext, then call again */
  RF_TLS_E_VERIFY = -2,     /* certificate chain or host name rejected */
  RF_TLS_E_HANDSHAKE = -3,  /* other handshake failure (alert, protocol) */
  RF_TLS_E_PROTOCOL = -4,   /* failure after the handshake */
  RF_TLS_E_OUT = -5,        /* the out callback failed */
  RF_TLS_CLOSED = -6,       /* peer sent close_notify */
};

/* Ciphertext ready to send. Return 0, or -1 to fail the operation. */
typedef int (*rf_tls_out_fn)(void *ud, const uint8_t *p, size_t n);

/* Creates a client context: TLS 1.2 minimum, ALPN http/1.1 (h2,http/1.1 with
 * opts->h2), verification on
 * unless opts->insecure. Loads trust anchors now (file reads happen here).
 * Returns 0 or -1 with a message in err. */
int rf_tls_ctx_new(const rf_tls_ctx_opts *opts, rf_tls_ctx **out, char *err, size_t errlen);
void rf_tls_ctx_free(rf_tls_ctx *c); /* NULL is OK */

/* A per-origin store of resumable sessions (TLS 1.3 tickets are single use,
 * so it holds a few). */
rf_tls_cache *rf_tls_cache_new(void);
void rf_tls_cache_free(rf_tls_cache *c); /* NULL is OK */
/* Sessions held (0 for NULL). */
int rf_tls_cache_count(const rf_tls_cache *c);
/* Keeps only the newest `keep` sessions (an origin nobody uses right now). */
void rf_tls_cache_trim(rf_tls_cache *c, int keep);

/* Creates a connection for server name `host` (NUL-terminated; an IP literal
 * is checked against IP SANs and sends no SNI). cache may be NULL. The
 * connection borrows ctx and cache: both must outlive it. Returns NULL on
 * allocation failure. */
rf_tls *rf_tls_new(rf_tls_ctx *ctx, const char *host, bool host_is_ip, rf_tls_cache *cache,
                   rf_tls_out_fn out, void *out_ud);
void rf_tls_free(rf_tls *t); /* NULL is OK */

/* ---- the server side (the embedded test server, tools/server/) ----------- */
typedef struct rf_tls_server_opts {
  const char *cert_pem; /* the certificate, PEM */
  const char *key_pem;  /* its private key, PEM */
} rf_tls_server_opts;

/* A server context: TLS 1.2 to 1.3, resumption by stateless tickets only,
 * ALPN answered with "http/1.1" when offered (nothing else). Returns 0 or -1
 * with a message in err. Freed with rf_tls_ctx_free. */
int rf_tls_server_ctx_new(const rf_tls_server_opts *opts, rf_tls_ctx **out, char *err, size_t errlen);

/* A server connection, driven like a client's (feed, handshake, read,
 * write); when its handshake completes, the session tickets go out at once.
 * NULL on allocation failure. */
rf_tls *rf_tls_accept(rf_tls_ctx *ctx, rf_tls_out_fn out, void *out_ud);

/* Makes p[0..n) the ciphertext to read from. The bytes are borrowed until
 * consumed: rf_tls_unread says how many are left after each call. */
void rf_tls_feed(rf_tls *t, const uint8_t *p, size_t n);
size_t rf_tls_unread(const rf_tls *t);

/* Drives the handshake: RF_TLS_OK when done, RF_TLS_WANT_READ, or an error. */
int rf_tls_handshake(rf_tls *t);

/* Encrypts all of p[0..n) (the out callback receives the records).
 * Returns RF_TLS_OK or an error. */
int rf_tls_write(rf_tls *t, const void *p, size_t n);

/* Decrypts into buf: returns bytes (> 0), RF_TLS_WANT_READ, RF_TLS_CLOSED, or
 * an error. */
int rf_tls_read(rf_tls *t, void *buf, size_t cap);

/* Queues a close_notify alert through the out callback (best effort). */
void rf_tls_close_notify(rf_tls *t);

/* Last error as text (static or owned by t); "" if none. */
const char *rf_tls_error(const rf_tls *t);
bool rf_tls_resumed(const rf_tls *t);
/* The negotiated ALPN protocol: "h2", "http/1.1", "" if none. */
const char *rf_tls_alpn(const rf_tls *t);

#endif
