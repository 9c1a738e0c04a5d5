/* TLS client over memory, against an in-process BoringSSL server.
 *
 * The test makes a CA and a leaf (EC P-256, SAN DNS:localhost, IP:127.0.0.1)
 * in memory, writes the CA to a temporary PEM file for rf_tls_ctx_new, and
 * joins rf_tls to a server SSL with two memory BIOs, shuttling ciphertext
 * both ways: all at once, or one byte at a time in each direction. */
#include <openssl/base.h>
#if !defined(OPENSSL_IS_BORINGSSL)
#error "test_tls must be built against BoringSSL"
#endif
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <stdbool.h>

#include "testutil.h"
#include "tls/tls.h"

/* ---- certificates ------------------------------------------------------- */

static void die(const char *what) {
  fprintf(stderr, "test setup failed: %s\n", what);
  ERR_print_errors_fp(stderr);
  exit(2);
}

static EVP_PKEY *new_key(void) {
  EC_KEY *ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
  EVP_PKEY *k = EVP_PKEY_new();
  if (!ec || !k || !EC_KEY_generate_key(ec) || !EVP_PKEY_assign_EC_KEY(k, ec))
    die("EC key");
  return k;
}

static void add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value) {
  X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, v3, nid, value);
  if (!e || !X509_add_ext(x, e, -1))
    die(value);
  X509_EXTENSION_free(e);
}

/* A CA (issuer NULL: self-signed) or a leaf signed by issuer. */
static X509 *new_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, long serial) {
  X509 *x = X509_new();
  if (!x || !X509_set_version(x, X509_VERSION_3) ||
      !ASN1_INTEGER_set(X509_get_serialNumber(x), serial) ||
      !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
      !X509_gmtime_adj(X509_getm_notAfter(x), 7 * 86400) || !X509_set_pubkey(x, key))
    die("X509 fields");
  X509_NAME *name = X509_get_subject_name(x);
  if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const uint8_t *)cn, -1, -1, 0) ||
      !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name))
    die("X509 names");
  X509V3_CTX v3;
  X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
  if (!issuer) {
    add_ext(x, &v3, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(x, &v3, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(x, &v3, NID_key_usage, "critical,digitalSignature");
    add_ext(x, &v3, NID_ext_key_usage, "serverAuth");
    add_ext(x, &v3, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
  }
  if (!X509_sign(x, issuer ? issuer_key : key, EVP_sha256()))
    die("X509_sign");
  return x;
}

static char *write_pem(X509 *x) {
  char *path = strdup("/tmp/rf-test-ca-XXXXXX");
  int fd = mkstemp(path);
  if (fd < 0)
    die("mkstemp");
  FILE *f = fdopen(fd, "w");
  if (!f || !PEM_write_X509(f, x) || fclose(f) != 0)
    die("PEM_write_X509");
  return path;
}

/* ---- the server --------------------------------------------------------- */

static char alpn_offered[64];
static size_t alpn_offered_len;

static int alpn_select(SSL *ssl, const uint8_t **out, uint8_t *out_len, const uint8_t *in,
                       unsigned in_len, void *arg) {
  static const uint8_t want[] = "\x08http/1.1";
  alpn_offered_len = in_len < sizeof alpn_offered ? in_len : sizeof alpn_offered;
  memcpy(alpn_offered, in, alpn_offered_len);
  uint8_t *o;
  if (SSL_select_next_proto(&o, out_len, in, in_len, want, sizeof want - 1) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = o;
  return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *server_ctx(X509 *leaf, EVP_PKEY *key, uint16_t min, uint16_t max) {
  SSL_CTX *c = SSL_CTX_new(TLS_method());
  if (!c || !SSL_CTX_use_certificate(c, leaf) || !SSL_CTX_use_PrivateKey(c, key) ||
      !SSL_CTX_set_min_proto_version(c, min) || !SSL_CTX_set_max_proto_version(c, max))
    die("server SSL_CTX");
  SSL_CTX_set_alpn_select_cb(c, alpn_select, NULL);
  return c;
}

/* ---- client and server joined in memory --------------------------------- */

typedef struct bytes {
  uint8_t *p;
  size_t len, cap, head; /* unread bytes are p[head..len) */
} bytes;

static void bytes_add(bytes *b, const void *p, size_t n) {
  if (b->len + n > b->cap) {
    b->cap = (b->len + n) * 2 + 1024;
    b->p = realloc(b->p, b->cap);
  }
  memcpy(b->p + b->len, p, n);
  b->len += n;
}

static size_t bytes_avail(const bytes *b) { return b->len - b->head; }

typedef struct pair {
  rf_tls *c;
  SSL *s;
  BIO *s_in, *s_out; /* the server's ciphertext in and out */
  bytes c2s, s2c;
  size_t step; /* bytes moved per step in each direction; 0: all */
  bool fail_out;
  bool server_done;
  int server_err; /* SSL_get_error of a failed server handshake */
  long out_calls;
} pair;

static int out_cb(void *ud, const uint8_t *p, size_t n) {
  pair *x = ud;
  x->out_calls++;
  if (x->fail_out)
    return -1;
  bytes_add(&x->c2s, p, n);
  return 0;
}

static size_t lim(const pair *x, size_t n) { return x->step && n > x->step ? x->step : n; }

static void pair_init(pair *x, rf_tls_ctx *cctx, SSL_CTX *sctx, const char *host, bool ip,
                      rf_tls_cache *cache, size_t step) {
  memset(x, 0, sizeof *x);
  x->step = step;
  x->c = rf_tls_new(cctx, host, ip, cache, out_cb, x);
  if (!x->c)
    die("rf_tls_new");
  x->s = SSL_new(sctx);
  x->s_in = BIO_new(BIO_s_mem());
  x->s_out = BIO_new(BIO_s_mem());
  if (!x->s || !x->s_in || !x->s_out)
    die("server SSL");
  BIO_set_mem_eof_return(x->s_in, -1);
  SSL_set_bio(x->s, x->s_in, x->s_out);
  SSL_set_accept_state(x->s);
}

static void pair_free(pair *x) {
  rf_tls_free(x->c);
  SSL_free(x->s);
  free(x->c2s.p);
  free(x->s2c.p);
}

/* Client output to the server (step-limited); server output collected. */
static bool shuttle(pair *x) {
  bool moved = false;
  size_t n = lim(x, bytes_avail(&x->c2s));
  if (n) {
    if (BIO_write(x->s_in, x->c2s.p + x->c2s.head, (int)n) != (int)n)
      die("BIO_write");
    x->c2s.head += n;
    moved = true;
  }
  uint8_t tmp[4096];
  int r;
  while ((r = BIO_read(x->s_out, tmp, sizeof tmp)) > 0) {
    bytes_add(&x->s2c, tmp, (size_t)r);
    moved = true;
  }
  return moved;
}

enum { OP_HANDSHAKE, OP_READ };

/* Feeds the client what it may see now, runs op, drops what it consumed. */
static int client_op(pair *x, int op, void *buf, size_t cap, bool *progress) {
  size_t n = lim(x, bytes_avail(&x->s2c));
  rf_tls_feed(x->c, x->s2c.p ? x->s2c.p + x->s2c.head : NULL, n);
  int rc = op == OP_HANDSHAKE ? rf_tls_handshake(x->c) : rf_tls_read(x->c, buf, cap);
  size_t left = rf_tls_unread(x->c);
  if (left > n)
    die("rf_tls_unread grew");
  if (left < n)
    *progress = true;
  x->s2c.head += n - left;
  rf_tls_feed(x->c, NULL, 0); /* nothing stays borrowed across calls */
  return rc;
}

static void server_step(pair *x) {
  if (x->server_done || x->server_err)
    return;
  int r = SSL_do_handshake(x->s);
  if (r == 1) {
    x->server_done = true;
    return;
  }
  int e = SSL_get_error(x->s, r);
  if (e != SSL_ERROR_WANT_READ)
    x->server_err = e;
  ERR_clear_error();
}

/* Runs both handshakes. Returns the client's last result: RF_TLS_OK once
 * both sides are done, an error, or RF_TLS_WANT_READ if nothing moves. */
static int handshake(pair *x) {
  for (long i = 0; i < 10000000; i++) {
    bool progress = false;
    size_t c2s_len = x->c2s.len;
    int rc = client_op(x, OP_HANDSHAKE, NULL, 0, &progress);
    if (x->c2s.len != c2s_len)
      progress = true;
    progress |= shuttle(x);
    bool was_done = x->server_done;
    server_step(x);
    progress |= shuttle(x) || was_done != x->server_done;
    if (rc != RF_TLS_OK && rc != RF_TLS_WANT_READ)
      return rc;
    if (rc == RF_TLS_OK && x->server_done && bytes_avail(&x->c2s) == 0)
      return rc;
    if (!progress && bytes_avail(&x->c2s) == 0 && bytes_avail(&x->s2c) == 0)
      return rc;
  }
  return RF_TLS_WANT_READ;
}

/* Reads up to want bytes of plaintext at the client. *last gets the result
 * that stopped the loop (RF_TLS_WANT_READ when the server has nothing more). */
static size_t client_read(pair *x, uint8_t *buf, size_t want, int *last) {
  size_t got = 0;
  *last = RF_TLS_OK;
  while (got < want) {
    shuttle(x);
    bool progress = false;
    size_t cap = want - got < 16384 ? want - got : 16384;
    int rc = client_op(x, OP_READ, buf + got, cap, &progress);
    if (rc > 0) {
      if ((size_t)rc > cap)
        die("rf_tls_read returned more than cap");
      got += (size_t)rc;
      continue;
    }
    if (rc == RF_TLS_WANT_READ && bytes_avail(&x->s2c) > 0)
      continue;
    *last = rc;
    break;
  }
  return got;
}

/* Reads everything the client sent, at the server. */
static size_t server_read(pair *x, uint8_t *buf, size_t cap) {
  size_t got = 0;
  for (;;) {
    shuttle(x);
    if (got == cap)
      break;
    int r = SSL_read(x->s, buf + got, (int)(cap - got));
    if (r > 0) {
      got += (size_t)r;
      continue;
    }
    if (SSL_get_error(x->s, r) == SSL_ERROR_WANT_READ && bytes_avail(&x->c2s) > 0)
      continue;
    ERR_clear_error();
    break;
  }
  return got;
}

static void server_write(pair *x, const void *p, size_t n) {
  if (SSL_write(x->s, p, (int)n) != (int)n)
    die("server SSL_write");
  shuttle(x);
}

/* ---- fixtures ----------------------------------------------------------- */

static EVP_PKEY *ca_key, *leaf_key, *ca2_key;
static X509 *ca, *leaf, *ca2;
static char *ca_path, *ca2_path;
static SSL_CTX *srv13, *srv12, *srv11;

static rf_tls_ctx *client_ctx(const char *ca_file, bool insecure) {
  rf_tls_ctx_opts o = {.insecure = insecure, .ca_file = ca_file};
  rf_tls_ctx *c = NULL;
  char err[256] = "";
  int rc = rf_tls_ctx_new(&o, &c, err, sizeof err);
  CHECKF(rc == 0 && c != NULL, "rf_tls_ctx_new(%s): %d %s", ca_file ? ca_file : "-", rc, err);
  if (!c)
    exit(1);
  return c;
}

static uint8_t *pattern(size_t n, unsigned seed) {
  uint8_t *p = malloc(n);
  for (size_t i = 0; i < n; i++) {
    seed = seed * 1103515245u + 12345u;
    p[i] = (uint8_t)(seed >> 16);
  }
  return p;
}

/* ---- tests -------------------------------------------------------------- */

/* Handshake, request up, 100 KiB down, ALPN, SNI, then close_notify. */
static void test_exchange(rf_tls_ctx *cctx, SSL_CTX *sctx, const char *host, bool ip, size_t step,
                          const char *what) {
  pair x;
  pair_init(&x, cctx, sctx, host, ip, NULL, step);
  alpn_offered_len = 0;
  int rc = handshake(&x);
  CHECKF(rc == RF_TLS_OK, "%s: handshake %d (%s)", what, rc, rf_tls_error(x.c));
  CHECKF(x.server_done, "%s: server handshake not done (err %d)", what, x.server_err);
  if (rc != RF_TLS_OK) {
    pair_free(&x);
    return;
  }
  CHECK_EQ_STR(rf_tls_alpn(x.c), "http/1.1");
  CHECKF(alpn_offered_len == 9 && memcmp(alpn_offered, "\x08http/1.1", 9) == 0,
         "%s: client offered ALPN %.*s", what, (int)alpn_offered_len, alpn_offered);
  const char *sni = SSL_get_servername(x.s, TLSEXT_NAMETYPE_host_name);
  if (ip)
    CHECKF(sni == NULL, "%s: SNI sent for an IP literal: %s", what, sni);
  else
    CHECKF(sni && strcmp(sni, host) == 0, "%s: SNI %s", what, sni ? sni : "(none)");
  CHECK(!rf_tls_resumed(x.c));
  CHECK_EQ_STR(rf_tls_error(x.c), "");

  /* request: client to server */
  static const char req[] = "GET /big HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n";
  CHECK_EQ_INT(rf_tls_write(x.c, req, sizeof req - 1), RF_TLS_OK);
  char got_req[256];
  size_t n = server_read(&x, (uint8_t *)got_req, sizeof got_req);
  CHECK_EQ_SPAN(got_req, n, req);

  /* response: 100 KiB server to client, intact */
  size_t big = 100 * 1024;
  uint8_t *resp = pattern(big, 7);
  server_write(&x, resp, big);
  uint8_t *in = malloc(big + 1);
  int last;
  size_t got = client_read(&x, in, big, &last);
  CHECKF(got == big && memcmp(in, resp, big) == 0, "%s: response %zu of %zu bytes, last %d (%s)",
         what, got, big, last, rf_tls_error(x.c));
  /* nothing more: WANT_READ */
  got = client_read(&x, in, 1, &last);
  CHECKF(got == 0 && last == RF_TLS_WANT_READ, "%s: after the response %zu bytes, rc %d", what, got,
         last);

  /* a second round trip on the same connection, both directions */
  CHECK_EQ_INT(rf_tls_write(x.c, resp, 20000), RF_TLS_OK);
  uint8_t *up = malloc(20000);
  n = server_read(&x, up, 20000);
  CHECKF(n == 20000 && memcmp(up, resp, 20000) == 0, "%s: second upload %zu bytes", what, n);
  free(up);

  /* server close_notify: RF_TLS_CLOSED */
  SSL_shutdown(x.s);
  shuttle(&x);
  got = client_read(&x, in, 16, &last);
  CHECKF(got == 0 && last == RF_TLS_CLOSED, "%s: after close_notify: %zu bytes, rc %d (%s)", what,
         got, last, rf_tls_error(x.c));
  /* and the client's own close_notify reaches the server */
  size_t before = x.c2s.len;
  rf_tls_close_notify(x.c);
  CHECK(x.c2s.len > before);
  uint8_t dummy[8];
  int r;
  do { /* in 1-byte mode the alert arrives a byte per shuttle */
    shuttle(&x);
    r = SSL_read(x.s, dummy, sizeof dummy);
  } while (r < 0 && SSL_get_error(x.s, r) == SSL_ERROR_WANT_READ && bytes_avail(&x.c2s) > 0);
  CHECKF(r == 0 && SSL_get_error(x.s, r) == SSL_ERROR_ZERO_RETURN,
         "%s: server did not see the client's close_notify (%d)", what, r);
  ERR_clear_error();
  free(in);
  free(resp);
  pair_free(&x);
}

static int handshake_result(rf_tls_ctx *cctx, SSL_CTX *sctx, const char *host, bool ip, size_t step,
                            char *errtext, size_t errlen) {
  pair x;
  pair_init(&x, cctx, sctx, host, ip, NULL, step);
  int rc = handshake(&x);
  snprintf(errtext, errlen, "%s", rf_tls_error(x.c));
  /* a failed handshake stays failed */
  if (rc != RF_TLS_OK && rc != RF_TLS_WANT_READ) {
    bool progress;
    int rc2 = client_op(&x, OP_HANDSHAKE, NULL, 0, &progress);
    CHECKF(rc2 < 0 && rc2 != RF_TLS_WANT_READ, "handshake for %s after failure: %d", host, rc2);
  }
  pair_free(&x);
  return rc;
}

static void test_failures(rf_tls_ctx *good, rf_tls_ctx *other_ca, rf_tls_ctx *insecure) {
  char e[256];
  for (size_t step = 0; step <= 1; step++) {
    int rc = handshake_result(good, srv13, "other.example", false, step, e, sizeof e);
    CHECKF(rc == RF_TLS_E_VERIFY && e[0], "wrong host name (step %zu): %d %s", step, rc, e);
    rc = handshake_result(good, srv13, "127.0.0.2", true, step, e, sizeof e);
    CHECKF(rc == RF_TLS_E_VERIFY && e[0], "wrong IP (step %zu): %d %s", step, rc, e);
    /* a name that only the IP SAN has, or an IP given as a name, fail */
    rc = handshake_result(good, srv13, "127.0.0.1", false, step, e, sizeof e);
    CHECKF(rc == RF_TLS_E_VERIFY, "IP checked as a DNS name (step %zu): %d %s", step, rc, e);
    rc = handshake_result(other_ca, srv13, "localhost", false, step, e, sizeof e);
    CHECKF(rc == RF_TLS_E_VERIFY && e[0], "untrusted CA (step %zu): %d %s", step, rc, e);
    rc = handshake_result(other_ca, srv12, "localhost", false, step, e, sizeof e);
    CHECKF(rc == RF_TLS_E_VERIFY && e[0], "untrusted CA, TLS 1.2 (step %zu): %d %s", step, rc, e);
    rc = handshake_result(insecure, srv13, "other.example", false, step, e, sizeof e);
    CHECKF(rc == RF_TLS_OK, "insecure, wrong host (step %zu): %d %s", step, rc, e);
    /* a server that only speaks TLS 1.1 is a protocol failure, not a
     * certificate problem (SSL_get_verify_result() is not X509_V_OK before any
     * certificate was seen; this once made it look like one) */
    rc = handshake_result(good, srv11, "localhost", false, step, e, sizeof e);
    CHECKF(rc == RF_TLS_E_HANDSHAKE && e[0], "TLS 1.1-only server (step %zu): %d %s", step, rc, e);
    rc = handshake_result(insecure, srv11, "localhost", false, step, e, sizeof e);
    CHECKF(rc == RF_TLS_E_HANDSHAKE && e[0], "TLS 1.1-only server, insecure (step %zu): %d %s", step,
           rc, e);
  }
}

/* The server asks for a client certificate and refuses to go on without one
 * (TLS 1.2, so the client sees it during its handshake). Not a certificate
 * verification failure of the server's chain. */
static void test_client_cert_required(rf_tls_ctx *good, rf_tls_ctx *insecure) {
  SSL_CTX *s = server_ctx(leaf, leaf_key, TLS1_2_VERSION, TLS1_2_VERSION);
  SSL_CTX_set_verify(s, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
  char e[256];
  int rc = handshake_result(good, s, "localhost", false, 0, e, sizeof e);
  CHECKF(rc == RF_TLS_E_HANDSHAKE && e[0], "client cert required: %d %s", rc, e);
  /* with verification off (insecure) the unchecked chain's verify result
   * must not turn a later handshake failure into RF_TLS_E_VERIFY */
  rc = handshake_result(insecure, s, "localhost", false, 0, e, sizeof e);
  CHECKF(rc == RF_TLS_E_HANDSHAKE && e[0], "client cert required, insecure: %d %s", rc, e);
  SSL_CTX_free(s);
}

/* First connection reads the tickets; the next ones resume. */
static void test_resumption(rf_tls_ctx *cctx, SSL_CTX *sctx, size_t step, int conns,
                            const char *what) {
  rf_tls_cache *cache = rf_tls_cache_new();
  CHECK(cache != NULL);
  for (int i = 0; i < conns; i++) {
    pair x;
    pair_init(&x, cctx, sctx, "localhost", false, cache, step);
    int rc = handshake(&x);
    CHECKF(rc == RF_TLS_OK, "%s conn %d: handshake %d (%s)", what, i, rc, rf_tls_error(x.c));
    CHECKF(rf_tls_resumed(x.c) == (i > 0), "%s conn %d: resumed %d", what, i, rf_tls_resumed(x.c));
    CHECKF(SSL_session_reused(x.s) == (i > 0), "%s conn %d: server saw resumption %d", what, i,
           SSL_session_reused(x.s));
    /* nothing to read yet; TLS 1.3 tickets come after the handshake (the
     * BoringSSL server flushes them with its first write) and are consumed by
     * rf_tls_read along with the data */
    uint8_t buf[64];
    int last;
    size_t got = client_read(&x, buf, sizeof buf, &last);
    CHECKF(got == 0 && last == RF_TLS_WANT_READ, "%s conn %d: reading tickets: %zu %d", what, i, got,
           last);
    server_write(&x, "pong", 4);
    got = client_read(&x, buf, 4, &last);
    CHECKF(got == 4 && memcmp(buf, "pong", 4) == 0, "%s conn %d: data after resumption", what, i);
    CHECK_EQ_STR(rf_tls_alpn(x.c), "http/1.1");
    pair_free(&x);
  }
  /* a cache used for another host name's certificate check still verifies:
   * a different rf_tls_cache starts with a full handshake */
  rf_tls_cache *fresh = rf_tls_cache_new();
  pair x;
  pair_init(&x, cctx, sctx, "localhost", false, fresh, step);
  CHECK_EQ_INT(handshake(&x), RF_TLS_OK);
  CHECK(!rf_tls_resumed(x.c));
  pair_free(&x);
  rf_tls_cache_free(fresh);
  rf_tls_cache_free(cache);
}

/* TLS 1.3 tickets are used once while there are others: with two tickets
 * from the first connection (and none read later), the newest goes to the
 * second connection, and the last one is kept and reused by every later
 * connection (like OpenSSL-based clients) rather than falling back to full
 * handshakes: a burst of new connections to one origin still resumes. */
static void test_ticket_reuse(rf_tls_ctx *cctx) {
  SSL_CTX *s = server_ctx(leaf, leaf_key, TLS1_3_VERSION, TLS1_3_VERSION);
  if (!SSL_CTX_set_num_tickets(s, 2))
    die("SSL_CTX_set_num_tickets");
  rf_tls_cache *cache = rf_tls_cache_new();
  for (int i = 0; i < 4; i++) {
    pair x;
    pair_init(&x, cctx, s, "localhost", false, cache, 0);
    CHECK_EQ_INT(handshake(&x), RF_TLS_OK);
    CHECKF(rf_tls_resumed(x.c) == (i >= 1), "tickets, conn %d: resumed %d", i, rf_tls_resumed(x.c));
    if (i == 0) { /* only the first connection reads its tickets */
      /* (the BoringSSL server flushes them with its first write) */
      server_write(&x, "x", 1);
      uint8_t buf[16];
      int last;
      CHECK_EQ_INT(client_read(&x, buf, 1, &last), 1);
      CHECK_EQ_INT(client_read(&x, buf, sizeof buf, &last), 0);
      CHECK_EQ_INT(last, RF_TLS_WANT_READ);
    }
    pair_free(&x);
  }
  rf_tls_cache_free(cache);
  SSL_CTX_free(s);
}

/* A TLS 1.3 KeyUpdate from the server: the client reads on, and its own
 * KeyUpdate (BoringSSL sends it with the next write) keeps the server in
 * step, so both directions keep working. */
static void test_key_update(rf_tls_ctx *good, size_t step) {
  pair x;
  pair_init(&x, good, srv13, "localhost", false, NULL, step);
  CHECK_EQ_INT(handshake(&x), RF_TLS_OK);
  CHECK(SSL_version(x.s) == TLS1_3_VERSION);
  if (!SSL_key_update(x.s, SSL_KEY_UPDATE_REQUESTED))
    die("SSL_key_update");
  server_write(&x, "after key update", 16);
  uint8_t buf[32];
  int last;
  size_t got = client_read(&x, buf, 16, &last);
  CHECK_EQ_SPAN(buf, got, "after key update");
  CHECK_EQ_INT(rf_tls_write(x.c, "client data", 11), RF_TLS_OK);
  char in[32];
  size_t n = server_read(&x, (uint8_t *)in, sizeof in);
  CHECK_EQ_SPAN(in, n, "client data");
  pair_free(&x);
}

/* A server that selects no ALPN protocol: rf_tls_alpn reports "". */
static void test_no_alpn(rf_tls_ctx *good) {
  SSL_CTX *s = server_ctx(leaf, leaf_key, TLS1_2_VERSION, TLS1_3_VERSION);
  SSL_CTX_set_alpn_select_cb(s, NULL, NULL);
  pair x;
  pair_init(&x, good, s, "localhost", false, NULL, 0);
  CHECK_EQ_INT(handshake(&x), RF_TLS_OK);
  CHECK_EQ_STR(rf_tls_alpn(x.c), "");
  pair_free(&x);
  SSL_CTX_free(s);
}

static void test_misc(rf_tls_ctx *good) {
  /* the out callback failing fails the handshake with RF_TLS_E_OUT */
  pair x;
  pair_init(&x, good, srv13, "localhost", false, NULL, 0);
  x.fail_out = true;
  int rc = rf_tls_handshake(x.c);
  CHECKF(rc == RF_TLS_E_OUT, "out callback failure: %d (%s)", rc, rf_tls_error(x.c));
  CHECK(x.out_calls > 0);
  CHECK(rf_tls_error(x.c)[0] != 0);
  pair_free(&x);

  /* before any byte arrives the handshake wants to read, and has sent the
   * ClientHello through the callback */
  pair_init(&x, good, srv13, "localhost", false, NULL, 0);
  CHECK_EQ_INT(rf_tls_handshake(x.c), RF_TLS_WANT_READ);
  CHECK(x.c2s.len > 100);
  CHECK_EQ_INT(rf_tls_unread(x.c), 0);
  /* feeding garbage instead of a ServerHello fails the handshake, and is
   * not a certificate problem (https:// pointed at a plain-HTTP port) */
  static const uint8_t junk[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
  rf_tls_feed(x.c, junk, sizeof junk - 1);
  rc = rf_tls_handshake(x.c);
  CHECKF(rc == RF_TLS_E_HANDSHAKE, "plaintext HTTP instead of TLS: %d (%s)", rc, rf_tls_error(x.c));
  pair_free(&x);

  /* a missing CA file is an error with a message */
  rf_tls_ctx_opts o = {.ca_file = "/nonexistent/ca.pem"};
  rf_tls_ctx *c = (rf_tls_ctx *)&o; /* must be reset to NULL */
  char err[256] = "";
  CHECK_EQ_INT(rf_tls_ctx_new(&o, &c, err, sizeof err), -1);
  CHECK(c == NULL);
  CHECK(err[0] != 0);
  rf_tls_ctx_free(NULL);
  rf_tls_cache_free(NULL);
  rf_tls_free(NULL);
}

/* Trust given as PEM text (what `ringfetch demo` uses for its in-memory
 * server): it is the whole trust, another CA's PEM rejects, garbage fails. */
static void test_ca_pem(void) {
  char *pem = NULL, *pem2 = NULL;
  for (int i = 0; i < 2; i++) {
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, i ? ca2 : ca);
    const uint8_t *p;
    size_t n;
    BIO_mem_contents(b, &p, &n);
    char *copy = malloc(n + 1);
    memcpy(copy, p, n);
    copy[n] = 0;
    *(i ? &pem2 : &pem) = copy;
    BIO_free(b);
  }
  char err[256], e[256];
  rf_tls_ctx *c = NULL;
  rf_tls_ctx_opts o = {.ca_pem = pem};
  CHECKF(rf_tls_ctx_new(&o, &c, err, sizeof err) == 0, "ca_pem: %s", err);
  CHECK_EQ_INT(handshake_result(c, srv13, "localhost", false, 0, e, sizeof e), RF_TLS_OK);
  rf_tls_ctx_free(c);
  o.ca_pem = pem2;
  CHECKF(rf_tls_ctx_new(&o, &c, err, sizeof err) == 0, "ca_pem (other CA): %s", err);
  CHECK_EQ_INT(handshake_result(c, srv13, "localhost", false, 0, e, sizeof e), RF_TLS_E_VERIFY);
  rf_tls_ctx_free(c);
  o.ca_pem = "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n";
  c = NULL;
  CHECK_EQ_INT(rf_tls_ctx_new(&o, &c, err, sizeof err), -1);
  CHECK(c == NULL && err[0]);
  free(pem);
  free(pem2);
}

int main(void) {
  ca_key = new_key();
  leaf_key = new_key();
  ca2_key = new_key();
  ca = new_cert(ca_key, "ringfetch test CA", NULL, NULL, 1);
  leaf = new_cert(leaf_key, "localhost", ca, ca_key, 2);
  ca2 = new_cert(ca2_key, "ringfetch other CA", NULL, NULL, 3);
  ca_path = write_pem(ca);
  ca2_path = write_pem(ca2);
  srv13 = server_ctx(leaf, leaf_key, TLS1_2_VERSION, TLS1_3_VERSION);
  srv12 = server_ctx(leaf, leaf_key, TLS1_2_VERSION, TLS1_2_VERSION);
  srv11 = server_ctx(leaf, leaf_key, TLS1_VERSION, TLS1_1_VERSION);

  rf_tls_ctx *good = client_ctx(ca_path, false);
  rf_tls_ctx *other = client_ctx(ca2_path, false);
  rf_tls_ctx *insecure = client_ctx(NULL, true);

  test_exchange(good, srv13, "localhost", false, 0, "TLS 1.3");
  test_exchange(good, srv13, "localhost", false, 1, "TLS 1.3, 1 byte at a time");
  test_exchange(good, srv12, "localhost", false, 0, "TLS 1.2");
  test_exchange(good, srv12, "localhost", false, 1, "TLS 1.2, 1 byte at a time");
  test_exchange(good, srv13, "127.0.0.1", true, 0, "TLS 1.3 to an IP");
  test_exchange(insecure, srv13, "other.example", false, 0, "insecure, wrong host");
  test_failures(good, other, insecure);
  test_client_cert_required(good, insecure);
  test_resumption(good, srv13, 0, 4, "TLS 1.3 resumption");
  test_resumption(good, srv13, 1, 3, "TLS 1.3 resumption, 1 byte at a time");
  test_resumption(good, srv12, 0, 3, "TLS 1.2 resumption");
  test_ticket_reuse(good);
  test_key_update(good, 0);
  test_key_update(good, 1);
  test_no_alpn(good);
  test_misc(good);
  test_ca_pem();

  rf_tls_ctx_free(good);
  rf_tls_ctx_free(other);
  rf_tls_ctx_free(insecure);
  SSL_CTX_free(srv13);
  SSL_CTX_free(srv12);
  SSL_CTX_free(srv11);
  X509_free(ca);
  X509_free(leaf);
  X509_free(ca2);
  EVP_PKEY_free(ca_key);
  EVP_PKEY_free(leaf_key);
  EVP_PKEY_free(ca2_key);
  unlink(ca_path);
  unlink(ca2_path);
  free(ca_path);
  free(ca2_path);
  return TU_EXIT();
}
