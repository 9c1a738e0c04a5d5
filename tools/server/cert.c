/* HTTPS for the test server: a self-signed certificate made in memory, the
 * TLS context (tls/, the engine's byte transform, in its server mode), and
 * a connection's ciphertext in and out. */
#include <openssl/base.h>
#if !defined(OPENSSL_IS_BORINGSSL)
#error "tools/server/ must be built against BoringSSL (-I/usr/include/android), not OpenSSL"
#endif
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- the certificate -------------------------------------------------------------- */

static void tls_err(char *err, size_t errlen, const char *what) {
  unsigned long e = ERR_get_error();
  char detail[160] = "";
  if (e)
    ERR_error_string_n(e, detail, sizeof detail);
  snprintf(err, errlen, "%s%s%s", what, detail[0] ? ": " : "", detail);
  ERR_clear_error();
}

static bool add_ext(X509 *x, int nid, const char *value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
  if (!ext)
    return false;
  int ok = X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  return ok == 1;
}

/* A fresh P-256 key and a self-signed certificate for localhost and
 * 127.0.0.1, valid from yesterday for a year. CA:TRUE, so clients can take
 * it directly as their trust anchor. */
static int make_cert(EVP_PKEY **key_out, X509 **cert_out, char *err, size_t errlen) {
  EC_KEY *ec = NULL;
  EVP_PKEY *pkey = NULL;
  X509 *x = NULL;
  BIGNUM *bn = NULL;
  int rc = -EINVAL;
  ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
  pkey = EVP_PKEY_new();
  x = X509_new();
  if (!ec || !pkey || !x || !EC_KEY_generate_key(ec) || !EVP_PKEY_assign_EC_KEY(pkey, ec)) {
    tls_err(err, errlen, "cannot generate the server key");
    goto out;
  }
  ec = NULL; /* owned by pkey */
  uint8_t serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f; /* positive */
  serial[0] |= 0x01; /* and no leading zero byte */
  bn = BN_bin2bn(serial, sizeof serial, NULL);
  X509_NAME *name = X509_get_subject_name(x);
  bool ok = bn && X509_set_version(x, 2) && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) &&
            X509_gmtime_adj(X509_getm_notBefore(x), -86400L) &&
            X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400L) &&
            X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const uint8_t *)"ringfetch test server", -1, -1, 0) &&
            X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const uint8_t *)"localhost", -1, -1, 0) &&
            X509_set_issuer_name(x, name) && X509_set_pubkey(x, pkey) &&
            add_ext(x, NID_basic_constraints, "critical,CA:TRUE") &&
            add_ext(x, NID_key_usage, "critical,digitalSignature,keyCertSign") &&
            add_ext(x, NID_ext_key_usage, "serverAuth") &&
            add_ext(x, NID_subject_key_identifier, "hash") &&
            add_ext(x, NID_authority_key_identifier, "keyid:always") &&
            add_ext(x, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1") &&
            X509_sign(x, pkey, EVP_sha256()) > 0;
  if (!ok) {
    tls_err(err, errlen, "cannot make the server certificate");
    goto out;
  }
  *key_out = pkey;
  *cert_out = x;
  pkey = NULL;
  x = NULL;
  rc = 0;
out:
  BN_free(bn);
  EC_KEY_free(ec);
  EVP_PKEY_free(pkey);
  X509_free(x);
  return rc;
}

/* The PEM text of what write() puts in a memory BIO, or NULL. */
static char *pem_of(int (*write)(BIO *, void *), void *obj) {
  BIO *mem = BIO_new(BIO_s_mem());
  const uint8_t *pem;
  size_t len;
  char *out = NULL;
  if (mem && write(mem, obj) && BIO_mem_contents(mem, &pem, &len) && (out = malloc(len + 1))) {
    memcpy(out, pem, len);
    out[len] = 0;
  }
  BIO_free(mem);
  return out;
}

static int write_cert(BIO *b, void *x) { return PEM_write_bio_X509(b, x); }

static int write_key(BIO *b, void *k) {
  return PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
}

/* ---- the context ------------------------------------------------------------------ */

int srv_tls_setup(rf_server *s, char *err, size_t errlen) {
  EVP_PKEY *pkey = NULL;
  X509 *x = NULL;
  int rc = make_cert(&pkey, &x, err, errlen);
  if (rc < 0)
    return rc;
  s->cert_pem = pem_of(write_cert, x);
  char *key_pem = pem_of(write_key, pkey);
  EVP_PKEY_free(pkey);
  X509_free(x);
  if (!s->cert_pem || !key_pem) {
    tls_err(err, errlen, "cannot encode the certificate");
    rc = -ENOMEM;
  } else {
    rf_tls_server_opts o = {.cert_pem = s->cert_pem, .key_pem = key_pem};
    rc = rf_tls_server_ctx_new(&o, &s->tls, err, errlen) < 0 ? -EINVAL : 0;
  }
  if (key_pem)
    OPENSSL_cleanse(key_pem, strlen(key_pem));
  free(key_pem);
  return rc;
}

/* ---- a connection's TLS ----------------------------------------------------------- */

/* Ciphertext to send: into the buffer being filled, never the one a send
 * is reading. */
static int tls_out(void *ud, const uint8_t *p, size_t n) {
  conn *c = ud;
  return rf_buf_append(&c->out[c->fill], p, n) == 0 ? 0 : -1;
}

bool srv_tls_open(rf_server *s, conn *c) {
  c->tls = rf_tls_accept(s->tls, tls_out, c);
  return c->tls != NULL;
}

bool srv_tls_write(conn *c, const uint8_t *p, size_t n) { return rf_tls_write(c->tls, p, n) == RF_TLS_OK; }

/* Decrypts whatever is complete: requests, or the peer's close_notify. */
static void tls_read_all(rf_server *s, conn *c) {
  while (c->state == C_OPEN && !c->discard_input) {
    int r = rf_tls_read(c->tls, s->rd, TLS_READ);
    if (r > 0) {
      srv_on_plain(s, c, s->rd, (size_t)r);
      continue;
    }
    if (r == RF_TLS_WANT_READ)
      break;
    if (r == RF_TLS_CLOSED) {
      srv_on_eof(s, c);
      break;
    }
    srv_conn_close(s, c, false);
    break;
  }
}

void srv_tls_input(rf_server *s, conn *c, const uint8_t *p, size_t n) {
  rf_tls_feed(c->tls, p, n);
  if (!c->hs_done) {
    int r = rf_tls_handshake(c->tls);
    if (r == RF_TLS_OK)
      c->hs_done = true;
    else if (r != RF_TLS_WANT_READ) { /* the alert goes out, then the close */
      c->discard_input = true;
      c->close_when_drained = true;
    }
  }
  if (c->hs_done)
    tls_read_all(s, c);
  rf_tls_feed(c->tls, NULL, 0); /* p goes back to the ring: nothing may point into it */
}
