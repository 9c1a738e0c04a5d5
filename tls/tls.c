/* BoringSSL client over a custom memory BIO. */
#include "tls/tls.h"

#include <openssl/base.h>
#if !defined(OPENSSL_IS_BORINGSSL)
#error "tls/ must be built against BoringSSL (android-libboringssl-dev), not OpenSSL"
#endif
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SYSTEM_CA_FILE "/etc/ssl/certs/ca-certificates.crt"
#define SYSTEM_CA_DIR "/etc/ssl/certs"
/* Per origin. A burst of new connections to one origin each wants a ticket,
 * and each handshake brings one or two back. */
#define CACHE_MAX 64

struct rf_tls_ctx {
  SSL_CTX *ssl_ctx;
  CRYPTO_BUFFER_POOL *pool; /* one copy of each certificate across sessions */
  BIO_METHOD *bio_method; /* one per context: no global state */
};

struct rf_tls_cache {
  SSL_SESSION *s[CACHE_MAX];
  int n;
};

struct rf_tls {
  SSL *ssl;
  rf_tls_cache *cache;
  const uint8_t *in;
  size_t in_len;
  rf_tls_out_fn out;
  void *out_ud;
  bool out_failed;
  bool server, tickets_sent; /* rf_tls_accept: tickets go out after the handshake */
  bool err_lost;             /* an error happened with no memory for its text */
  char *err; /* the last error's text: allocated when one happens, as most connections
                never fail (a server holding thousands of them saves ~200 bytes each) */
};

/* ---- the BIO: reads the fed slice, writes to the out callback ---------- */

static int bio_read(BIO *b, char *buf, int len) {
  rf_tls *t = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  if (t->in_len == 0) {
    BIO_set_retry_read(b);
    return -1;
  }
  size_t n = (size_t)len < t->in_len ? (size_t)len : t->in_len;
  memcpy(buf, t->in, n);
  t->in += n;
  t->in_len -= n;
  return (int)n;
}

static int bio_write(BIO *b, const char *buf, int len) {
  rf_tls *t = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  if (t->out(t->out_ud, (const uint8_t *)buf, (size_t)len) != 0) {
    t->out_failed = true;
    return -1;
  }
  return len;
}

static long bio_ctrl(BIO *b, int cmd, long larg, void *parg) {
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

/* ---- context ---------------------------------------------------------- */

static int new_session_cb(SSL *ssl, SSL_SESSION *sess) {
  rf_tls *t = SSL_get_app_data(ssl);
  if (!t || !t->cache)
    return 0;
  rf_tls_cache *c = t->cache;
  if (c->n == CACHE_MAX) { /* drop the oldest */
    SSL_SESSION_free(c->s[0]);
    memmove(c->s, c->s + 1, sizeof c->s[0] * (CACHE_MAX - 1));
    c->n--;
  }
  c->s[c->n++] = sess;
  return 1; /* we keep the reference */
}

static void put_err(char *err, size_t errlen, const char *what, const char *arg) {
  if (!err || !errlen)
    return;
  unsigned long e = ERR_peek_last_error();
  char detail[160] = "";
  if (e)
    ERR_error_string_n(e, detail, sizeof detail);
  snprintf(err, errlen, "%s%s%s%s%s", what, arg ? " " : "", arg ? arg : "", detail[0] ? ": " : "",
           detail);
}

/* Adds every certificate of a PEM text to the context's trust store. */
static int add_pem(SSL_CTX *x, const char *pem) {
  BIO *b = BIO_new_mem_buf(pem, -1);
  if (!b)
    return -1;
  X509_STORE *store = SSL_CTX_get_cert_store(x);
  int added = 0;
  X509 *cert;
  while ((cert = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
    if (X509_STORE_add_cert(store, cert))
      added++;
    X509_free(cert);
  }
  ERR_clear_error(); /* the read that ends the loop leaves an error behind */
  BIO_free(b);
  return added ? 0 : -1;
}

/* A context with its BIO method, nothing configured yet; NULL on failure. */
static rf_tls_ctx *ctx_alloc(char *err, size_t errlen) {
  rf_tls_ctx *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  ERR_clear_error();
  c->ssl_ctx = SSL_CTX_new(TLS_method());
  c->bio_method = BIO_meth_new(BIO_TYPE_SOURCE_SINK | 0x80, "ringfetch-mem");
  if (!c->ssl_ctx || !c->bio_method) {
    put_err(err, errlen, "TLS context allocation failed", NULL);
    rf_tls_ctx_free(c);
    return NULL;
  }
  BIO_meth_set_read(c->bio_method, bio_read);
  BIO_meth_set_write(c->bio_method, bio_write);
  BIO_meth_set_ctrl(c->bio_method, bio_ctrl);
  return c;
}

int rf_tls_ctx_new(const rf_tls_ctx_opts *opts, rf_tls_ctx **out, char *err, size_t errlen) {
  *out = NULL;
  rf_tls_ctx *c = ctx_alloc(err, errlen);
  if (!c)
    return -1;
  c->pool = CRYPTO_BUFFER_POOL_new();
  if (!c->pool) {
    put_err(err, errlen, "TLS context allocation failed", NULL);
    rf_tls_ctx_free(c);
    return -1;
  }
  SSL_CTX_set0_buffer_pool(c->ssl_ctx, c->pool);

  SSL_CTX *x = c->ssl_ctx;
  SSL_CTX_set_min_proto_version(x, TLS1_2_VERSION);
  static const uint8_t alpn[] = "\x08http/1.1", alpn_h2[] = "\x02h2\x08http/1.1";
  if (opts->h2)
    SSL_CTX_set_alpn_protos(x, alpn_h2, sizeof alpn_h2 - 1); /* returns 0 on success */
  else
    SSL_CTX_set_alpn_protos(x, alpn, sizeof alpn - 1);
  SSL_CTX_set_session_cache_mode(x, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
  SSL_CTX_sess_set_new_cb(x, new_session_cb);
  SSL_CTX_set_mode(x, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

  if (opts->insecure) {
    SSL_CTX_set_verify(x, SSL_VERIFY_NONE, NULL);
  } else {
    SSL_CTX_set_verify(x, SSL_VERIFY_PEER, NULL);
    const char *file = opts->ca_file, *dir = opts->ca_dir;
    if (opts->ca_pem && add_pem(x, opts->ca_pem) < 0) {
      put_err(err, errlen, "cannot load the CA certificates given as PEM", NULL);
      rf_tls_ctx_free(c);
      return -1;
    }
    if (!file && !dir && opts->ca_pem) {
      /* the PEM is the whole trust */
    } else if (!file && !dir) {
      file = getenv("SSL_CERT_FILE");
      dir = getenv("SSL_CERT_DIR");
      if ((!file || !*file) && (!dir || !*dir)) {
        file = SYSTEM_CA_FILE;
        dir = SYSTEM_CA_DIR;
      }
      if (file && !*file)
        file = NULL;
      if (dir && !*dir)
        dir = NULL;
    }
    if ((file || dir) && !SSL_CTX_load_verify_locations(x, file, dir)) {
      put_err(err, errlen, "cannot load CA certificates from", file ? file : dir);
      rf_tls_ctx_free(c);
      return -1;
    }
  }
  *out = c;
  return 0;
}

void rf_tls_ctx_free(rf_tls_ctx *c) {
  if (!c)
    return;
  SSL_CTX_free(c->ssl_ctx);
  if (c->pool)
    CRYPTO_BUFFER_POOL_free(c->pool); /* after every session that used it */
  BIO_meth_free(c->bio_method);
  free(c);
}

rf_tls_cache *rf_tls_cache_new(void) { return calloc(1, sizeof(rf_tls_cache)); }

int rf_tls_cache_count(const rf_tls_cache *c) { return c ? c->n : 0; }

void rf_tls_cache_trim(rf_tls_cache *c, int keep) {
  if (!c || c->n <= keep)
    return;
  int drop = c->n - keep; /* the oldest go */
  for (int i = 0; i < drop; i++)
    SSL_SESSION_free(c->s[i]);
  memmove(c->s, c->s + drop, sizeof c->s[0] * (size_t)keep);
  c->n = keep;
}

void rf_tls_cache_free(rf_tls_cache *c) {
  if (!c)
    return;
  for (int i = 0; i < c->n; i++)
    SSL_SESSION_free(c->s[i]);
  free(c);
}

/* A connection over the context's BIO method, either side; NULL when out of
 * memory. */
static rf_tls *conn_alloc(rf_tls_ctx *ctx, rf_tls_out_fn out, void *out_ud) {
  rf_tls *t = calloc(1, sizeof *t);
  if (!t)
    return NULL;
  t->out = out;
  t->out_ud = out_ud;
  t->ssl = SSL_new(ctx->ssl_ctx);
  BIO *bio = BIO_new(ctx->bio_method);
  if (!t->ssl || !bio) {
    BIO_free(bio);
    ERR_clear_error();
    rf_tls_free(t);
    return NULL;
  }
  BIO_set_data(bio, t);
  BIO_set_init(bio, 1);
  SSL_set_bio(t->ssl, bio, bio); /* one reference, owned by the SSL */
  return t;
}

/* ---- the server side -------------------------------------------------- */

/* "http/1.1" when the client offers it; nothing else is ever selected. */
static int alpn_select(SSL *ssl, const uint8_t **out, uint8_t *outlen, const uint8_t *in,
                       unsigned inlen, void *arg) {
  for (unsigned i = 0; i < inlen;) {
    unsigned n = in[i];
    if (i + 1 + n > inlen)
      break;
    if (n == 8 && memcmp(in + i + 1, "http/1.1", 8) == 0) {
      *out = in + i + 1;
      *outlen = 8;
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + n;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

/* The certificate and key from PEM into the context; 0 or -1. */
static int use_pem(SSL_CTX *x, const char *cert_pem, const char *key_pem) {
  BIO *cb = BIO_new_mem_buf(cert_pem, -1), *kb = BIO_new_mem_buf(key_pem, -1);
  X509 *cert = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
  EVP_PKEY *key = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
  int ok = cert && key && SSL_CTX_use_certificate(x, cert) && SSL_CTX_use_PrivateKey(x, key);
  X509_free(cert);
  EVP_PKEY_free(key);
  BIO_free(cb);
  BIO_free(kb);
  return ok ? 0 : -1;
}

int rf_tls_server_ctx_new(const rf_tls_server_opts *opts, rf_tls_ctx **out, char *err, size_t errlen) {
  *out = NULL;
  rf_tls_ctx *c = ctx_alloc(err, errlen);
  if (!c)
    return -1;
  SSL_CTX *x = c->ssl_ctx;
  if (!SSL_CTX_set_min_proto_version(x, TLS1_2_VERSION) ||
      !SSL_CTX_set_max_proto_version(x, TLS1_3_VERSION) ||
      use_pem(x, opts->cert_pem, opts->key_pem) < 0) {
    put_err(err, errlen, "cannot configure the TLS context", NULL);
    ERR_clear_error();
    rf_tls_ctx_free(c);
    return -1;
  }
  SSL_CTX_set_alpn_select_cb(x, alpn_select, NULL);
  /* Resumption by tickets only: stateless, so nothing grows with the
   * number of handshakes (the ticket key is per context). */
  SSL_CTX_set_session_cache_mode(x, SSL_SESS_CACHE_OFF);
  *out = c;
  return 0;
}

rf_tls *rf_tls_accept(rf_tls_ctx *ctx, rf_tls_out_fn out, void *out_ud) {
  rf_tls *t = conn_alloc(ctx, out, out_ud);
  if (!t)
    return NULL;
  t->server = true;
  SSL_set_accept_state(t->ssl);
  SSL_set_shed_handshake_config(t->ssl, 1); /* ~1 KB less per idle connection */
  return t;
}

/* ---- connection ------------------------------------------------------- */

rf_tls *rf_tls_new(rf_tls_ctx *ctx, const char *host, bool host_is_ip, rf_tls_cache *cache,
                   rf_tls_out_fn out, void *out_ud) {
  rf_tls *t = conn_alloc(ctx, out, out_ud);
  if (!t)
    return NULL;
  t->cache = cache;
  SSL_set_app_data(t->ssl, t);
  SSL_set_connect_state(t->ssl);

  bool ok = true;
  if (SSL_get_verify_mode(t->ssl) != SSL_VERIFY_NONE) {
    X509_VERIFY_PARAM *param = SSL_get0_param(t->ssl);
    ok = host_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host) == 1
                    : X509_VERIFY_PARAM_set1_host(param, host, strlen(host)) == 1;
  }
  if (ok && !host_is_ip)
    ok = SSL_set_tlsext_host_name(t->ssl, host) == 1;
  if (!ok) {
    rf_tls_free(t);
    return NULL;
  }
  if (cache && cache->n > 0) {
    /* TLS 1.3 tickets are meant for one use: take the newest. The last one
     * is used again rather than not at all, as OpenSSL-based clients do:
     * servers accept it, and a burst of new connections then still resumes. */
    SSL_SESSION *s = cache->s[cache->n - 1];
    SSL_set_session(t->ssl, s); /* takes its own reference */
    if (SSL_SESSION_should_be_single_use(s) && cache->n > 1) {
      cache->n--;
      SSL_SESSION_free(s);
    }
  }
  return t;
}

void rf_tls_free(rf_tls *t) {
  if (!t)
    return;
  SSL_free(t->ssl);
  free(t->err);
  free(t);
}

void rf_tls_feed(rf_tls *t, const uint8_t *p, size_t n) {
  t->in = p;
  t->in_len = n;
}

size_t rf_tls_unread(const rf_tls *t) { return t->in_len; }

#define ERR_TEXT 200

static void set_err(rf_tls *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(rf_tls *t, const char *fmt, ...) {
  if (!t->err && !(t->err = malloc(ERR_TEXT))) {
    t->err_lost = true; /* rf_tls_error says so */
    return;
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->err, ERR_TEXT, fmt, ap);
  va_end(ap);
}

/* Maps a failed SSL call to our codes and fills t->err. */
static int fail(rf_tls *t, int ret, int phase_err) {
  int e = SSL_get_error(t->ssl, ret);
  if (e == SSL_ERROR_WANT_READ)
    return RF_TLS_WANT_READ;
  if (e == SSL_ERROR_ZERO_RETURN)
    return RF_TLS_CLOSED;
  if (t->out_failed) {
    set_err(t, "cannot queue TLS output");
    return RF_TLS_E_OUT;
  }
  /* Only a failed chain or name check is a verification error: a handshake
   * can also fail before any certificate arrived (protocol version, plain
   * HTTP on the port), and in insecure mode BoringSSL still records the
   * result of a check nobody asked for. */
  unsigned long first = ERR_peek_error();
  if (phase_err == RF_TLS_E_HANDSHAKE && SSL_get_verify_mode(t->ssl) != SSL_VERIFY_NONE &&
      ERR_GET_LIB(first) == ERR_LIB_SSL && ERR_GET_REASON(first) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
    long v = SSL_get_verify_result(t->ssl);
    set_err(t, "certificate verification failed: %s", X509_verify_cert_error_string(v));
    ERR_clear_error();
    return RF_TLS_E_VERIFY;
  }
  unsigned long le = ERR_get_error();
  char detail[160] = "unknown error";
  if (le)
    ERR_error_string_n(le, detail, sizeof detail);
  else if (e == SSL_ERROR_SYSCALL)
    snprintf(detail, sizeof detail, "unexpected end of TLS stream");
  set_err(t, "%s: %s", phase_err == RF_TLS_E_HANDSHAKE ? "TLS handshake failed" : "TLS error",
          detail);
  ERR_clear_error();
  return phase_err;
}

int rf_tls_handshake(rf_tls *t) {
  int r = SSL_do_handshake(t->ssl);
  if (r == 1) {
    if (t->server && !t->tickets_sent) {
      /* BoringSSL holds TLS 1.3 tickets until the server writes; a zero-byte
       * write sends them now, so a client's next connections can resume
       * while this one's (delayed) response is still pending */
      t->tickets_sent = true;
      SSL_write(t->ssl, "", 0);
      ERR_clear_error();
    }
    return RF_TLS_OK;
  }
  return fail(t, r, RF_TLS_E_HANDSHAKE);
}

int rf_tls_write(rf_tls *t, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n > 0) {
    int chunk = n > (1u << 30) ? (1 << 30) : (int)n;
    int r = SSL_write(t->ssl, b, chunk);
    if (r <= 0) {
      int rc = fail(t, r, RF_TLS_E_PROTOCOL);
      return rc == RF_TLS_WANT_READ ? RF_TLS_E_PROTOCOL : rc;
    }
    b += r;
    n -= (size_t)r;
  }
  return RF_TLS_OK;
}

int rf_tls_read(rf_tls *t, void *buf, size_t cap) {
  int want = cap > (1u << 30) ? (1 << 30) : (int)cap;
  int r = SSL_read(t->ssl, buf, want);
  if (r > 0)
    return r;
  return fail(t, r, RF_TLS_E_PROTOCOL);
}

void rf_tls_close_notify(rf_tls *t) {
  SSL_shutdown(t->ssl);
  ERR_clear_error();
}

const char *rf_tls_error(const rf_tls *t) {
  if (t->err)
    return t->err;
  return t->err_lost ? "TLS error (no memory for its text)" : "";
}

bool rf_tls_resumed(const rf_tls *t) { return SSL_session_reused(t->ssl) == 1; }

const char *rf_tls_alpn(const rf_tls *t) {
  const uint8_t *p;
  unsigned len;
  SSL_get0_alpn_selected(t->ssl, &p, &len);
  static const char none[] = "";
  if (!len)
    return none;
  /* Not NUL-terminated inside BoringSSL: only "h2" and "http/1.1" are
   * offered, so report them by comparison. */
  if (len == 2 && memcmp(p, "h2", 2) == 0)
    return "h2";
  return (len == 8 && memcmp(p, "http/1.1", 8) == 0) ? "http/1.1" : "?";
}
