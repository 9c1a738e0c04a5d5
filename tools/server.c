/* The embedded test/demo server (tools/server.h).
 *
 * One thread and one io_uring per server. Accepted sockets exist only as
 * direct descriptors in the ring's registered file table, so 16,384
 * connections take no entry of the process's fd table (a client engine in the
 * same process needs that for itself). Each accept names the table slot it
 * fills, and that slot is also the connection's index; with every slot taken
 * no accept is armed, so further clients wait in the listen backlog instead
 * of being accepted and dropped.
 *
 * A connection:  accept -> [TLS handshake] -> requests <-> responses -> close
 *
 * Requests are parsed as they arrive and queue in order (pipelining); the
 * head of the queue is answered once its delay has passed. A response is
 * produced in pieces into the connection's output buffer (encrypted on the
 * way by BoringSSL through a custom BIO), so no body ever exists whole; large
 * plain bodies are sent straight from a shared read-only pattern buffer.
 * Delays and drip intervals sit in a timer heap whose earliest deadline
 * bounds the ring wait. One send is in flight per connection at a time: the
 * output buffer is double-buffered so TLS can write while a send runs. */
#include "server.h"

#include <openssl/base.h>
#if !defined(OPENSSL_IS_BORINGSSL)
#error "tools/server.c must be built against BoringSSL (-I/usr/include/android), not OpenSSL"
#endif
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MAX_CONNS 16384u
#define LISTEN_BACKLOG 4096
#define ACCEPT_DEPTH 64u   /* accepts armed at once, each naming a free slot */
#define SQ_ENTRIES 4096u
#define BGID 1
#define RX_BUF 4096u       /* provided receive buffer */
#define HEAD_MAX 16384u    /* request head cap: 431 beyond */
#define REQ_QUEUE 16u      /* queued (pipelined) requests per connection; more wait in the socket */
#define OUT_LOW 16384u     /* produce more while less output than this is pending */
#define STEP_PLAIN 16384u  /* bytes produced per step, plain */
#define STEP_TLS 65536u    /* plaintext per step, TLS (four records) */
#define ZC_SLICE 65536u    /* one plain body send straight from the pattern */
#define PATTERN_LEN (65536u + 26u)
#define CHUNK_MAX 16384u
#define FILL_LINE 1024u
#define FILL_LINES 260u    /* 260 KiB of headers: more than 256 KiB */
#define DRIP_US 100000u
#define TLS_READ 16384u
#define WRONG_LENGTH_EXTRA 100u
#define MAX_DELAY_MS 86400000ull
#define MAX_SIZE (1ull << 40)
#define STOP_DRAIN_US 2000000u

/* ---- types --------------------------------------------------------------- */

/* user_data: [63..32] connection index, [31..8] the slot's generation,
 * [7..0] operation. The generation makes it unique across slot reuse, so
 * a cancel by user_data can only hit the connection it was meant for. */
enum op { OP_ACCEPT = 1, OP_RECV, OP_SEND, OP_SOCKOPT, OP_CLOSE, OP_WAKE, OP_IGNORE };
#define NO_CONN 0xffffffffu

enum fault { F_NONE, F_DRIP, F_RESET, F_CLOSE, F_BAD_STATUS, F_HUGE, F_BAD_CHUNK, F_WRONG_LENGTH, F_NEVER };
static const char *const fault_names[] = {"", "drip", "reset", "close", "bad-status",
                                          "huge-headers", "bad-chunk", "wrong-length", "never"};

enum cstate { C_FREE, C_ACCEPTING, C_OPEN, C_CLOSING };

enum phase {
  P_IDLE,      /* no response under way */
  P_WAIT,      /* the queue head's delay runs (timer) */
  P_HEAD,      /* to produce: status line and headers */
  P_FILL,      /* to produce: huge-headers filler */
  P_BODY,      /* to produce: body */
  P_DRIP_WAIT, /* drip: the next byte on the timer */
  P_DONE,      /* all produced: response_done() next */
  P_NEVER,     /* fault=never: nothing, ever */
};

/* A parsed request waiting for (or getting) its response. */
typedef struct req {
  uint64_t due_us;  /* arrival + delay */
  uint64_t size;    /* body length */
  const char *text; /* static body, or NULL for the pattern ('a' + i % 26) */
  uint16_t status;
  uint8_t fault;
  bool head, chunked, close, ka10;
} req;

typedef struct obuf {
  uint8_t *p;
  uint32_t len, cap;
} obuf;

typedef struct conn {
  uint32_t idx; /* == the direct descriptor's slot */
  uint32_t gen; /* uses of the slot */
  uint8_t state, phase;
  uint16_t ops; /* SQEs without their CQE yet */
  bool recv_inflight, send_inflight, send_ext, on_nobuf;
  bool peer_eof, discard_input, stalled, hs_done;
  bool close_when_drained, reset_when_drained;
  SSL *ssl;
  const uint8_t *in; /* TLS: ciphertext being fed to the BIO */
  size_t in_len;
  /* requests */
  uint8_t *rb; /* unparsed plaintext (partial head, or behind a full queue) */
  uint32_t rlen, rcap;
  uint64_t body_left; /* request body bytes still to discard */
  req q[REQ_QUEUE];
  uint8_t qhead, qn;
  /* the response to q[qhead] */
  uint64_t off, limit; /* body bytes produced / to produce */
  uint32_t fill_left;
  /* output: out[fill] is written, out[!fill] is being sent */
  obuf out[2];
  uint8_t fill;
  uint32_t sent;
  /* timer */
  uint64_t due_us;
  uint32_t tpos; /* heap index + 1; 0 = not armed */
  struct conn *nb_next;
} conn;

struct rf_server {
  rf_server_opts opts;
  uint16_t port;
  int lfd, efd;
  pthread_t thread;
  bool thread_started;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool init_done;
  int init_rc;
  char init_err[256];
  _Atomic uint64_t nreq, nconn;

  SSL_CTX *ssl_ctx;
  BIO_METHOD *bio_method;
  char *cert_pem;

  /* owned by the server thread */
  struct io_uring ring;
  bool ring_ok;
  struct io_uring_buf_ring *br;
  uint8_t *bufs;
  unsigned nbufs, br_mask;
  int br_pending;
  conn *conns;
  uint32_t nconns;
  uint32_t *free_idx;
  uint32_t nfree;
  uint32_t accepts;
  uint64_t accept_retry_us;
  conn **heap;
  uint32_t hn;
  conn *nobuf;
  uint64_t now_us;
  uint64_t inflight;
  uint64_t wake_val;
  bool stopping;
  uint8_t *pattern, *scratch, *rd;
};

static const struct linger linger_reset = {1, 0};

/* ---- small helpers ---------------------------------------------------------- */

static uint64_t mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t mkud(uint32_t idx, uint32_t gen, enum op op) {
  return (uint64_t)idx << 32 | (uint64_t)(gen & 0xffffffu) << 8 | (uint64_t)op;
}

static uint64_t conn_ud(const struct conn *c, enum op op) { return mkud(c->idx, c->gen, op); }

static unsigned pow2_at_least(unsigned v) {
  unsigned p = 1;
  while (p < v && p < (1u << 30))
    p <<= 1;
  return p;
}

static unsigned nofile_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
    return 1u << 20;
  return rl.rlim_cur > (1u << 20) ? 1u << 20 : (unsigned)rl.rlim_cur;
}

static int obuf_reserve(obuf *b, size_t extra) {
  size_t need = (size_t)b->len + extra;
  if (need <= b->cap)
    return 0;
  if (need > UINT32_MAX / 2)
    return -ENOMEM;
  size_t cap = b->cap ? b->cap : 1024;
  while (cap < need)
    cap *= 2;
  uint8_t *p = realloc(b->p, cap);
  if (!p)
    return -ENOMEM;
  b->p = p;
  b->cap = (uint32_t)cap;
  return 0;
}

static void obuf_free(obuf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

static bool ieq(const char *a, size_t alen, const char *lit) {
  return alen == strlen(lit) && strncasecmp(a, lit, alen) == 0;
}

static bool parse_u64(const char *p, size_t n, uint64_t max, uint64_t *out) {
  if (n == 0 || n > 20)
    return false;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9')
      return false;
    unsigned d = (unsigned)(p[i] - '0');
    if (v > (UINT64_MAX - d) / 10)
      return false;
    v = v * 10 + d;
  }
  if (v > max)
    return false;
  *out = v;
  return true;
}

static bool parse_bool(const char *p, size_t n, bool *out) {
  if (ieq(p, n, "1") || ieq(p, n, "true") || ieq(p, n, "yes") || ieq(p, n, "on")) {
    *out = true;
    return true;
  }
  if (ieq(p, n, "0") || ieq(p, n, "false") || ieq(p, n, "no") || ieq(p, n, "off")) {
    *out = false;
    return true;
  }
  return false;
}

static const char *reason(unsigned st) {
  switch (st) {
  case 100: return "Continue";
  case 101: return "Switching Protocols";
  case 200: return "OK";
  case 201: return "Created";
  case 202: return "Accepted";
  case 204: return "No Content";
  case 206: return "Partial Content";
  case 301: return "Moved Permanently";
  case 302: return "Found";
  case 303: return "See Other";
  case 304: return "Not Modified";
  case 307: return "Temporary Redirect";
  case 308: return "Permanent Redirect";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 410: return "Gone";
  case 413: return "Content Too Large";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  default:
    return st < 200 ? "Informational" : st < 300 ? "Success" : st < 400 ? "Redirection"
           : st < 500 ? "Client Error" : "Server Error";
  }
}

/* 1xx, 204 and 304 carry neither a body nor a length. */
static bool status_has_body(unsigned st) { return st >= 200 && st != 204 && st != 304; }

/* ---- SQEs ------------------------------------------------------------------------ */

static struct io_uring_sqe *get_sqe(rf_server *s) {
  for (int tries = 0;; tries++) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
    if (sqe) {
      s->inflight++;
      return sqe;
    }
    /* A full SQ is normal under load: push what we have and go on. */
    int rc = io_uring_submit(&s->ring);
    if (rc < 0 && tries > 1000) {
      fprintf(stderr, "ringfetch server: cannot submit to io_uring: %s\n", strerror(-rc));
      abort();
    }
  }
}

static struct io_uring_sqe *conn_sqe(rf_server *s, conn *c) {
  c->ops++;
  return get_sqe(s);
}

/* A linked chain must reach the kernel in one submission. */
static void sq_reserve(rf_server *s, unsigned n) {
  for (int tries = 0; tries < 1000 && io_uring_sq_space_left(&s->ring) < n; tries++)
    io_uring_submit(&s->ring);
}

static uint8_t *buf_ptr(rf_server *s, int bid) { return s->bufs + (size_t)bid * RX_BUF; }

static void buf_recycle(rf_server *s, int bid) {
  io_uring_buf_ring_add(s->br, buf_ptr(s, bid), RX_BUF, (unsigned short)bid, (int)s->br_mask,
                        s->br_pending++);
}

static void buf_flush(rf_server *s) {
  if (s->br_pending) {
    io_uring_buf_ring_advance(s->br, s->br_pending);
    s->br_pending = 0;
  }
}

/* ---- timers: a binary min-heap of connections by due_us ----------------------------- */

static void heap_place(rf_server *s, uint32_t i, conn *c) {
  s->heap[i] = c;
  c->tpos = i + 1;
}

static void heap_up(rf_server *s, uint32_t i) {
  conn *c = s->heap[i];
  while (i > 0) {
    uint32_t parent = (i - 1) / 2;
    if (s->heap[parent]->due_us <= c->due_us)
      break;
    heap_place(s, i, s->heap[parent]);
    i = parent;
  }
  heap_place(s, i, c);
}

static void heap_down(rf_server *s, uint32_t i) {
  conn *c = s->heap[i];
  for (;;) {
    uint32_t l = 2 * i + 1, m = i;
    uint64_t mk = c->due_us;
    if (l < s->hn && s->heap[l]->due_us < mk) {
      m = l;
      mk = s->heap[l]->due_us;
    }
    if (l + 1 < s->hn && s->heap[l + 1]->due_us < mk)
      m = l + 1;
    if (m == i)
      break;
    heap_place(s, i, s->heap[m]);
    i = m;
  }
  heap_place(s, i, c);
}

static void timer_clear(rf_server *s, conn *c) {
  if (!c->tpos)
    return;
  uint32_t i = c->tpos - 1;
  c->tpos = 0;
  s->hn--;
  if (i == s->hn)
    return;
  heap_place(s, i, s->heap[s->hn]);
  heap_down(s, i);
  heap_up(s, s->heap[i]->tpos - 1);
}

static void timer_set(rf_server *s, conn *c, uint64_t due_us) {
  if (c->tpos) {
    c->due_us = due_us;
    heap_down(s, c->tpos - 1);
    heap_up(s, c->tpos - 1);
    return;
  }
  c->due_us = due_us;
  heap_place(s, s->hn++, c); /* the heap holds one entry per connection at most */
  heap_up(s, s->hn - 1);
}

/* ---- TLS: certificate, context, the BIO ---------------------------------------------- */

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

static int bio_read(BIO *b, char *buf, int len) {
  conn *c = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  if (c->in_len == 0 || len <= 0) {
    BIO_set_retry_read(b);
    return -1;
  }
  size_t n = (size_t)len < c->in_len ? (size_t)len : c->in_len;
  memcpy(buf, c->in, n);
  c->in += n;
  c->in_len -= n;
  return (int)n;
}

static int bio_write(BIO *b, const char *buf, int len) {
  conn *c = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  obuf *f = &c->out[c->fill]; /* never the buffer a send is reading */
  if (len < 0 || obuf_reserve(f, (size_t)len) < 0)
    return -1;
  memcpy(f->p + f->len, buf, (size_t)len);
  f->len += (uint32_t)len;
  return len;
}

static long bio_ctrl(BIO *b, int cmd, long larg, void *parg) {
  (void)b;
  (void)larg;
  (void)parg;
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int alpn_select(SSL *ssl, const uint8_t **out, uint8_t *outlen, const uint8_t *in,
                       unsigned inlen, void *arg) {
  (void)ssl;
  (void)arg;
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

static int tls_setup(rf_server *s, char *err, size_t errlen) {
  EVP_PKEY *pkey = NULL;
  X509 *x = NULL;
  BIO *mem = NULL;
  int rc = make_cert(&pkey, &x, err, errlen);
  if (rc < 0)
    return rc;
  rc = -EINVAL;
  s->ssl_ctx = SSL_CTX_new(TLS_method());
  s->bio_method = BIO_meth_new(BIO_TYPE_SOURCE_SINK | 0x81, "ringfetch-server-mem");
  mem = BIO_new(BIO_s_mem());
  if (!s->ssl_ctx || !s->bio_method || !mem) {
    tls_err(err, errlen, "cannot create the TLS context");
    goto out;
  }
  BIO_meth_set_read(s->bio_method, bio_read);
  BIO_meth_set_write(s->bio_method, bio_write);
  BIO_meth_set_ctrl(s->bio_method, bio_ctrl);
  SSL_CTX *ctx = s->ssl_ctx;
  if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
      !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) || !SSL_CTX_use_certificate(ctx, x) ||
      !SSL_CTX_use_PrivateKey(ctx, pkey)) {
    tls_err(err, errlen, "cannot configure the TLS context");
    goto out;
  }
  SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
  /* Resumption by tickets only: stateless, so nothing grows with the
   * number of handshakes (the ticket key is per context, i.e. per server). */
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);

  const uint8_t *pem;
  size_t pem_len;
  if (!PEM_write_bio_X509(mem, x) || !BIO_mem_contents(mem, &pem, &pem_len)) {
    tls_err(err, errlen, "cannot encode the certificate");
    goto out;
  }
  s->cert_pem = malloc(pem_len + 1);
  if (!s->cert_pem) {
    rc = -ENOMEM;
    snprintf(err, errlen, "out of memory");
    goto out;
  }
  memcpy(s->cert_pem, pem, pem_len);
  s->cert_pem[pem_len] = 0;
  rc = 0;
out:
  BIO_free(mem);
  EVP_PKEY_free(pkey);
  X509_free(x);
  return rc;
}

/* ---- connections: open, close, free -------------------------------------------------- */

static void nobuf_remove(rf_server *s, conn *c) {
  if (!c->on_nobuf)
    return;
  conn **pp = &s->nobuf;
  while (*pp && *pp != c)
    pp = &(*pp)->nb_next;
  if (*pp)
    *pp = c->nb_next;
  c->nb_next = NULL;
  c->on_nobuf = false;
}

static void cancel_ud(rf_server *s, uint64_t ud) {
  struct io_uring_sqe *sqe = get_sqe(s);
  io_uring_prep_cancel64(sqe, ud, 0);
  io_uring_sqe_set_data64(sqe, mkud(NO_CONN, 0, OP_IGNORE));
}

/* Starts closing: cancels what is in flight and closes the descriptor
 * through the ring (reset: with SO_LINGER 0, so the peer gets an RST). The
 * struct is freed when the last operation has completed.
 *
 * The cancels go by user_data, a hash lookup each. By descriptor
 * (IORING_ASYNC_CANCEL_FD) the kernel compares every pending request, and
 * with 10,000 connections waiting that took 40% of the CPU. */
static void conn_close(rf_server *s, conn *c, bool reset) {
  if (c->state != C_OPEN)
    return;
  c->state = C_CLOSING;
  timer_clear(s, c);
  nobuf_remove(s, c);
  if (c->recv_inflight)
    cancel_ud(s, conn_ud(c, OP_RECV));
  if (c->send_inflight)
    cancel_ud(s, conn_ud(c, OP_SEND));
  struct io_uring_sqe *sqe;
  if (reset) {
    /* setsockopt on a direct descriptor: a hand-rolled socket URING_CMD
     * (liburing 2.3 has no io_uring_prep_cmd_sock) */
    sq_reserve(s, 2);
    sqe = conn_sqe(s, c);
    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = IORING_OP_URING_CMD;
    sqe->fd = (int)c->idx;
    sqe->off = 3; /* SOCKET_URING_OP_SETSOCKOPT */
    sqe->addr = (uint64_t)SOL_SOCKET | ((uint64_t)SO_LINGER << 32);
    sqe->file_index = sizeof linger_reset; /* optlen */
    sqe->addr3 = (uint64_t)(uintptr_t)&linger_reset;
    io_uring_sqe_set_data64(sqe, conn_ud(c, OP_SOCKOPT));
    sqe->flags |= IOSQE_FIXED_FILE | IOSQE_IO_HARDLINK; /* the close runs even if this fails */
  }
  /* Pending operations hold their own reference to the socket: it really
   * closes when the last of them has completed. */
  sqe = conn_sqe(s, c);
  io_uring_prep_close_direct(sqe, c->idx);
  io_uring_sqe_set_data64(sqe, conn_ud(c, OP_CLOSE));
}

static void conn_release(conn *c) {
  SSL_free(c->ssl);
  free(c->rb);
  obuf_free(&c->out[0]);
  obuf_free(&c->out[1]);
}

static void conn_free(rf_server *s, conn *c) {
  conn_release(c);
  uint32_t idx = c->idx, gen = c->gen;
  memset(c, 0, sizeof *c);
  c->idx = idx;
  c->gen = gen;
  c->state = C_FREE;
  s->free_idx[s->nfree++] = idx;
}

static void arm_recv(rf_server *s, conn *c);

static void conn_open(rf_server *s, conn *c) {
  c->state = C_OPEN;
  atomic_fetch_add_explicit(&s->nconn, 1, memory_order_relaxed);
  if (s->ssl_ctx) {
    c->ssl = SSL_new(s->ssl_ctx);
    BIO *bio = c->ssl ? BIO_new(s->bio_method) : NULL;
    if (!bio) {
      ERR_clear_error();
      conn_close(s, c, false);
      return;
    }
    BIO_set_data(bio, c);
    BIO_set_init(bio, 1);
    SSL_set_bio(c->ssl, bio, bio); /* one reference, owned by the SSL */
    SSL_set_accept_state(c->ssl);
    SSL_set_shed_handshake_config(c->ssl, 1); /* ~1 KB less per idle connection */
  }
  arm_recv(s, c);
}

static void arm_accepts(rf_server *s) {
  if (s->stopping)
    return;
  if (s->accept_retry_us) {
    if (s->now_us < s->accept_retry_us)
      return;
    s->accept_retry_us = 0;
  }
  while (s->accepts < ACCEPT_DEPTH && s->nfree > 0) {
    uint32_t idx = s->free_idx[--s->nfree];
    conn *c = &s->conns[idx];
    c->idx = idx;
    c->state = C_ACCEPTING;
    c->gen++;
    struct io_uring_sqe *sqe = conn_sqe(s, c);
    /* no SOCK_CLOEXEC: direct descriptors refuse it (and are never inherited) */
    io_uring_prep_accept_direct(sqe, s->lfd, NULL, NULL, 0, c->idx);
    io_uring_sqe_set_data64(sqe, conn_ud(c, OP_ACCEPT));
    s->accepts++;
  }
}

static void on_accept(rf_server *s, conn *c, int res) {
  s->accepts--;
  if (res < 0) {
    c->state = C_FREE;
    s->free_idx[s->nfree++] = c->idx;
    if (res != -ECANCELED && res != -ECONNABORTED && res != -EINTR && res != -EAGAIN)
      s->accept_retry_us = s->now_us + 10000; /* e.g. out of memory: do not spin */
    return;
  }
  conn_open(s, c);
}

/* ---- receive ------------------------------------------------------------------------- */

static void arm_recv(rf_server *s, conn *c) {
  if (c->recv_inflight || c->on_nobuf || c->state != C_OPEN || c->peer_eof ||
      c->close_when_drained || c->reset_when_drained || c->qn >= REQ_QUEUE)
    return;
  struct io_uring_sqe *sqe = conn_sqe(s, c);
  io_uring_prep_recv(sqe, (int)c->idx, NULL, RX_BUF, 0);
  sqe->buf_group = BGID; /* liburing 2.3 has no setter */
  io_uring_sqe_set_data64(sqe, conn_ud(c, OP_RECV));
  sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
  c->recv_inflight = true;
}

/* Marks r as an error response that closes the connection; input after it
 * is ignored. */
static void bad_request(rf_server *s, conn *c, req *r, unsigned status, const char *text) {
  memset(r, 0, sizeof *r);
  r->due_us = s->now_us;
  r->status = (uint16_t)status;
  r->text = text;
  r->size = strlen(text);
  r->close = true;
  c->discard_input = true;
  c->body_left = 0;
}

static bool parse_query(rf_server *s, req *r, const char *t, const char *tend) {
  const char *q = memchr(t, '?', (size_t)(tend - t));
  if (!q)
    return true;
  const char *hash = memchr(q, '#', (size_t)(tend - q));
  if (hash)
    tend = hash;
  for (q++; q < tend;) {
    const char *amp = memchr(q, '&', (size_t)(tend - q));
    if (!amp)
      amp = tend;
    const char *eq = memchr(q, '=', (size_t)(amp - q));
    const char *k = q, *v = eq ? eq + 1 : amp;
    size_t kl = (size_t)((eq ? eq : amp) - q), vl = (size_t)(amp - v);
    uint64_t n;
    bool b;
    if (ieq(k, kl, "delay")) {
      if (!parse_u64(v, vl, MAX_DELAY_MS, &n))
        return false;
      r->due_us = s->now_us + n * 1000u;
    } else if (ieq(k, kl, "size")) {
      if (!parse_u64(v, vl, MAX_SIZE, &n))
        return false;
      r->size = n;
      r->text = NULL;
    } else if (ieq(k, kl, "chunked")) {
      if (!parse_bool(v, vl, &b))
        return false;
      r->chunked = b;
    } else if (ieq(k, kl, "status")) {
      if (!parse_u64(v, vl, 999, &n) || n < 100)
        return false;
      r->status = (uint16_t)n;
    } else if (ieq(k, kl, "close")) {
      if (!parse_bool(v, vl, &b))
        return false;
      r->close = r->close || b;
    } else if (ieq(k, kl, "fault")) {
      unsigned f = 1;
      while (f < sizeof fault_names / sizeof fault_names[0] && !ieq(v, vl, fault_names[f]))
        f++;
      if (f == sizeof fault_names / sizeof fault_names[0])
        return false;
      r->fault = (uint8_t)f;
    }
    q = amp + 1;
  }
  return true;
}

/* Does the comma-separated header value contain the token? */
static bool has_token(const char *v, size_t n, const char *tok) {
  size_t i = 0;
  while (i < n) {
    while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
      i++;
    size_t j = i;
    while (j < n && v[j] != ',')
      j++;
    size_t e = j;
    while (e > i && (v[e - 1] == ' ' || v[e - 1] == '\t'))
      e--;
    if (ieq(v + i, e - i, tok))
      return true;
    i = j;
  }
  return false;
}

/* Parses one request head (complete, through its blank line) into a new
 * queue entry. */
static void parse_head(rf_server *s, conn *c, const char *h, size_t len) {
  req *r = &c->q[(c->qhead + c->qn) % REQ_QUEUE];
  c->qn++;
  memset(r, 0, sizeof *r);
  r->status = 200;
  r->text = "ok\n";
  r->size = 3;
  r->due_us = s->now_us + (uint64_t)s->opts.delay_ms * 1000u;

  const char *end = h + len;
  const char *eol = memchr(h, '\n', len);
  const char *le = eol;
  if (le > h && le[-1] == '\r')
    le--;
  const char *sp1 = memchr(h, ' ', (size_t)(le - h));
  const char *t = sp1 ? sp1 + 1 : NULL;
  const char *sp2 = t ? memchr(t, ' ', (size_t)(le - t)) : NULL;
  if (!sp1 || sp1 == h || !sp2 || sp2 == t) {
    bad_request(s, c, r, 400, "malformed request line\n");
    return;
  }
  const char *v = sp2 + 1;
  bool http10;
  if (ieq(v, (size_t)(le - v), "HTTP/1.1"))
    http10 = false;
  else if (ieq(v, (size_t)(le - v), "HTTP/1.0"))
    http10 = true;
  else {
    bad_request(s, c, r, 400, "unsupported HTTP version\n");
    return;
  }
  r->head = sp1 - h == 4 && memcmp(h, "HEAD", 4) == 0;

  uint64_t clen = 0;
  bool have_clen = false, conn_close_hdr = false, conn_ka = false, expect = false;
  for (const char *line = eol + 1; line < end;) {
    const char *nl = memchr(line, '\n', (size_t)(end - line));
    if (!nl)
      break;
    const char *lend = nl;
    if (lend > line && lend[-1] == '\r')
      lend--;
    if (lend == line)
      break; /* the blank line */
    const char *colon = memchr(line, ':', (size_t)(lend - line));
    if (!colon || colon == line) {
      bad_request(s, c, r, 400, "malformed header line\n");
      return;
    }
    const char *val = colon + 1, *vend = lend;
    while (val < vend && (*val == ' ' || *val == '\t'))
      val++;
    while (vend > val && (vend[-1] == ' ' || vend[-1] == '\t'))
      vend--;
    size_t nl_len = (size_t)(colon - line), vl = (size_t)(vend - val);
    if (ieq(line, nl_len, "content-length")) {
      uint64_t n;
      if (!parse_u64(val, vl, UINT64_MAX, &n) || (have_clen && n != clen)) {
        bad_request(s, c, r, 400, "bad Content-Length\n");
        return;
      }
      clen = n;
      have_clen = true;
    } else if (ieq(line, nl_len, "transfer-encoding")) {
      bad_request(s, c, r, 501, "request bodies must have a Content-Length\n");
      return;
    } else if (ieq(line, nl_len, "expect")) {
      expect = true;
    } else if (ieq(line, nl_len, "connection")) {
      conn_close_hdr = conn_close_hdr || has_token(val, vl, "close");
      conn_ka = conn_ka || has_token(val, vl, "keep-alive");
    }
    line = nl + 1;
  }
  if (!parse_query(s, r, t, sp2)) {
    bad_request(s, c, r, 400, "bad query parameter\n");
    return;
  }
  /* No 100 Continue is sent: a client that waits for one may never send
   * its body, so the connection cannot carry another request after it. */
  bool keep = (http10 ? conn_ka && !conn_close_hdr : !conn_close_hdr) && !(expect && clen > 0);
  r->close = r->close || !keep;
  r->ka10 = http10 && !r->close;
  if (r->fault == F_BAD_CHUNK)
    r->chunked = true;
  if (!status_has_body(r->status))
    r->chunked = false;
  c->body_left = clen;
}

/* Length of the head through its blank line, or 0 if it is not complete. */
static size_t head_end(const uint8_t *p, size_t n) {
  const uint8_t *end = p + n, *q = p;
  while (q < end && (q = memchr(q, '\n', (size_t)(end - q))) != NULL) {
    q++;
    if (q < end && q[0] == '\n')
      return (size_t)(q + 1 - p);
    if (q + 1 < end && q[0] == '\r' && q[1] == '\n')
      return (size_t)(q + 2 - p);
  }
  return 0;
}

/* Parses requests from p; returns the bytes consumed. Stops at an
 * incomplete head or a full queue (c->stalled). */
static size_t parse(rf_server *s, conn *c, const uint8_t *p, size_t n) {
  size_t off = 0;
  c->stalled = false;
  while (off < n && !c->discard_input) {
    if (c->body_left) {
      size_t k = n - off < c->body_left ? n - off : (size_t)c->body_left;
      off += k;
      c->body_left -= k;
      continue;
    }
    if (p[off] == '\r' || p[off] == '\n') { /* empty lines between requests */
      off++;
      continue;
    }
    if (c->qn >= REQ_QUEUE) {
      c->stalled = true;
      break;
    }
    size_t hl = head_end(p + off, n - off);
    if (hl == 0 && n - off <= HEAD_MAX)
      break;
    if (hl == 0 || hl > HEAD_MAX) {
      req *r = &c->q[(c->qhead + c->qn) % REQ_QUEUE];
      c->qn++;
      bad_request(s, c, r, 431, "request head too large\n");
      return n;
    }
    parse_head(s, c, (const char *)p + off, hl);
    off += hl;
  }
  return c->discard_input ? n : off;
}

static bool rb_append(conn *c, const uint8_t *p, size_t n) {
  if ((size_t)c->rlen + n > c->rcap) {
    size_t cap = c->rcap ? c->rcap : 1024;
    while (cap < (size_t)c->rlen + n)
      cap *= 2;
    uint8_t *b = realloc(c->rb, cap);
    if (!b)
      return false;
    c->rb = b;
    c->rcap = (uint32_t)cap;
  }
  memcpy(c->rb + c->rlen, p, n);
  c->rlen += (uint32_t)n;
  return true;
}

/* Parses what is buffered (after the queue had been full). */
static void reparse(rf_server *s, conn *c) {
  size_t used = parse(s, c, c->rb, c->rlen);
  c->rlen -= (uint32_t)used;
  if (c->rlen)
    memmove(c->rb, c->rb + used, c->rlen);
}

/* Request bytes (plaintext). */
static void on_plain(rf_server *s, conn *c, const uint8_t *p, size_t n) {
  if (c->discard_input)
    return;
  if (c->rlen == 0) {
    size_t used = parse(s, c, p, n);
    if (used < n && !rb_append(c, p + used, n - used))
      conn_close(s, c, false);
    return;
  }
  if (!rb_append(c, p, n)) {
    conn_close(s, c, false);
    return;
  }
  reparse(s, c);
}

static void on_eof(rf_server *s, conn *c) {
  c->peer_eof = true;
  if (c->phase == P_NEVER)
    conn_close(s, c, false);
  else if (c->phase == P_IDLE && c->qn == 0)
    c->close_when_drained = true; /* after what is still going out */
  /* else the requests read so far are still answered (response_done) */
}

/* Ciphertext: handshake, then decrypt whatever is complete. */
static void tls_input(rf_server *s, conn *c, const uint8_t *p, size_t n) {
  c->in = p;
  c->in_len = n;
  if (!c->hs_done) {
    int r = SSL_do_handshake(c->ssl);
    if (r != 1) {
      int e = SSL_get_error(c->ssl, r);
      ERR_clear_error();
      if (e != SSL_ERROR_WANT_READ) { /* the alert goes out, then the close */
        c->discard_input = true;
        c->close_when_drained = true;
      }
      goto out;
    }
    c->hs_done = true;
    /* BoringSSL holds TLS 1.3 tickets until the server writes; a zero-byte
     * write sends them now, so a client's next connections can resume while
     * this one's (delayed) response is still pending */
    SSL_write(c->ssl, "", 0);
    ERR_clear_error();
  }
  while (c->state == C_OPEN && !c->discard_input) {
    int r = SSL_read(c->ssl, s->rd, TLS_READ);
    if (r > 0) {
      on_plain(s, c, s->rd, (size_t)r);
      continue;
    }
    int e = SSL_get_error(c->ssl, r);
    ERR_clear_error();
    if (e == SSL_ERROR_WANT_READ)
      break;
    if (e == SSL_ERROR_ZERO_RETURN) { /* close_notify */
      on_eof(s, c);
      break;
    }
    conn_close(s, c, false);
    break;
  }
out:
  c->in = NULL;
  c->in_len = 0;
}

/* ---- responses ----------------------------------------------------------------------- */

static void pump(rf_server *s, conn *c);

/* Starts the response to the queue head if nothing else is under way and
 * its delay has passed (else arms the timer). */
static void start_next(rf_server *s, conn *c) {
  if ((c->phase != P_IDLE && c->phase != P_WAIT) || c->state != C_OPEN || c->qn == 0 ||
      c->close_when_drained || c->reset_when_drained)
    return;
  req *r = &c->q[c->qhead];
  if (r->due_us > s->now_us) {
    c->phase = P_WAIT;
    timer_set(s, c, r->due_us);
    return;
  }
  timer_clear(s, c);
  c->off = 0;
  c->limit = r->fault == F_RESET ? (r->size + 1) / 2 : r->size;
  c->phase = r->fault == F_NEVER ? P_NEVER : r->fault == F_CLOSE ? P_DONE : P_HEAD;
}

static void response_done(rf_server *s, conn *c) {
  req *r = &c->q[c->qhead];
  atomic_fetch_add_explicit(&s->nreq, 1, memory_order_relaxed);
  bool reset = r->fault == F_RESET;
  bool close = r->close || r->fault == F_CLOSE || r->fault == F_BAD_STATUS ||
               r->fault == F_BAD_CHUNK || r->fault == F_WRONG_LENGTH;
  c->qhead = (uint8_t)((c->qhead + 1) % REQ_QUEUE);
  c->qn--;
  c->phase = P_IDLE;
  if (reset) {
    c->reset_when_drained = true;
    return;
  }
  if (close) {
    c->close_when_drained = true;
    return;
  }
  if (c->stalled && c->rlen)
    reparse(s, c);
  if (c->qn == 0 && (c->peer_eof || c->discard_input))
    c->close_when_drained = true;
  else
    start_next(s, c);
}

static void body_copy(rf_server *s, const req *r, uint64_t off, uint8_t *dst, size_t n) {
  if (r->text)
    memcpy(dst, r->text + off, n);
  else
    memcpy(dst, s->pattern + off % 26, n); /* n <= 64 KiB */
}

/* Status line and headers, without the blank line. cap >= 1024. */
static size_t write_head(const req *r, char *p, size_t cap) {
  int n;
  if (r->fault == F_BAD_STATUS)
    n = snprintf(p, cap, "HTTP/1.1 ??? bad status line\r\n");
  else
    n = snprintf(p, cap, "HTTP/1.1 %u %s\r\n", r->status, reason(r->status));
  size_t len = (size_t)n;
  if (status_has_body(r->status)) {
    if (r->chunked)
      n = snprintf(p + len, cap - len, "Transfer-Encoding: chunked\r\n");
    else
      n = snprintf(p + len, cap - len, "Content-Length: %llu\r\n",
                   (unsigned long long)(r->size + (r->fault == F_WRONG_LENGTH ? WRONG_LENGTH_EXTRA : 0)));
    len += (size_t)n;
  }
  n = snprintf(p + len, cap - len, "Content-Type: text/plain\r\n%s",
               r->close ? "Connection: close\r\n" : r->ka10 ? "Connection: keep-alive\r\n" : "");
  return len + (size_t)n;
}

/* After the blank line: the body, the drip timer, or nothing. */
static void after_head(rf_server *s, conn *c, const req *r) {
  if (r->head || !status_has_body(r->status))
    c->phase = P_DONE;
  else if (r->fault == F_DRIP && c->limit > 0) {
    c->phase = P_DRIP_WAIT;
    timer_set(s, c, s->now_us + DRIP_US);
  } else
    c->phase = P_BODY;
}

static uint8_t *write_body(rf_server *s, conn *c, const req *r, uint8_t *p, uint8_t *end) {
  if (r->fault == F_BAD_CHUNK) {
    static const char junk[] = "not-a-chunk-size\r\nok\n\r\n0\r\n\r\n";
    memcpy(p, junk, sizeof junk - 1);
    c->phase = P_DONE;
    return p + sizeof junk - 1;
  }
  if (r->fault == F_DRIP) {
    if (c->off < c->limit) {
      if (r->chunked)
        p += snprintf((char *)p, (size_t)(end - p), "1\r\n");
      body_copy(s, r, c->off++, p++, 1);
      if (r->chunked) {
        memcpy(p, "\r\n", 2);
        p += 2;
      }
    }
    if (c->off < c->limit) {
      c->phase = P_DRIP_WAIT;
      timer_set(s, c, s->now_us + DRIP_US);
      return p;
    }
  } else {
    while (c->off < c->limit) {
      size_t room = (size_t)(end - p);
      uint64_t left = c->limit - c->off;
      if (r->chunked) {
        if (room < 64)
          break;
        size_t k = room - 32 < CHUNK_MAX ? room - 32 : CHUNK_MAX;
        if (left < k)
          k = (size_t)left;
        p += snprintf((char *)p, 32, "%zx\r\n", k);
        body_copy(s, r, c->off, p, k);
        p += k;
        memcpy(p, "\r\n", 2);
        p += 2;
        c->off += k;
      } else {
        if (room == 0)
          break;
        size_t k = left < room ? (size_t)left : room;
        body_copy(s, r, c->off, p, k);
        p += k;
        c->off += k;
      }
    }
    if (c->off < c->limit)
      return p;
  }
  if (r->chunked && r->fault != F_RESET) {
    if (end - p < 5)
      return p; /* the last chunk goes in the next step */
    memcpy(p, "0\r\n\r\n", 5);
    p += 5;
  }
  c->phase = P_DONE;
  return p;
}

/* Writes the next part of the current response to dst (cap >= 2 KiB);
 * returns its length. Each call writes something or moves the phase on. */
static size_t produce(rf_server *s, conn *c, uint8_t *dst, size_t cap) {
  req *r = &c->q[c->qhead];
  uint8_t *p = dst, *end = dst + cap;
  if (c->phase == P_HEAD) {
    p += write_head(r, (char *)p, cap);
    if (r->fault == F_HUGE) {
      c->fill_left = FILL_LINES;
      c->phase = P_FILL;
    } else {
      memcpy(p, "\r\n", 2);
      p += 2;
      after_head(s, c, r);
    }
  }
  if (c->phase == P_FILL) {
    while (c->fill_left && (size_t)(end - p) >= FILL_LINE + 2) {
      int n = snprintf((char *)p, 32, "X-Filler-%06u: ", FILL_LINES - c->fill_left);
      memset(p + n, 'x', FILL_LINE - 2 - (size_t)n);
      memcpy(p + FILL_LINE - 2, "\r\n", 2);
      p += FILL_LINE;
      c->fill_left--;
    }
    if (c->fill_left == 0) {
      memcpy(p, "\r\n", 2);
      p += 2;
      after_head(s, c, r);
    }
  }
  if (c->phase == P_BODY)
    p = write_body(s, c, r, p, end);
  return (size_t)(p - dst);
}

/* Plain bodies without framing tricks go out straight from the pattern. */
static bool zero_copy_ok(const conn *c) {
  const req *r = &c->q[c->qhead];
  return c->phase == P_BODY && !c->ssl && !r->text && !r->chunked && r->fault != F_DRIP &&
         r->fault != F_BAD_CHUNK && c->off < c->limit && c->out[c->fill].len == 0;
}

static void submit_send(rf_server *s, conn *c) {
  obuf *b = &c->out[!c->fill];
  struct io_uring_sqe *sqe = conn_sqe(s, c);
  io_uring_prep_send(sqe, (int)c->idx, b->p + c->sent, b->len - c->sent, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, conn_ud(c, OP_SEND));
  sqe->flags |= IOSQE_FIXED_FILE;
  c->send_inflight = true;
  c->send_ext = false;
}

static void submit_send_ext(rf_server *s, conn *c) {
  uint64_t left = c->limit - c->off;
  size_t n = left < ZC_SLICE ? (size_t)left : ZC_SLICE;
  struct io_uring_sqe *sqe = conn_sqe(s, c);
  io_uring_prep_send(sqe, (int)c->idx, s->pattern + c->off % 26, n, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, conn_ud(c, OP_SEND));
  sqe->flags |= IOSQE_FIXED_FILE;
  c->send_inflight = true;
  c->send_ext = true;
}

/* Produces one step into the fill buffer (encrypted for TLS). */
static bool produce_step(rf_server *s, conn *c) {
  if (c->ssl) {
    size_t n = produce(s, c, s->scratch, STEP_TLS);
    if (n && SSL_write(c->ssl, s->scratch, (int)n) != (int)n) {
      ERR_clear_error();
      return false;
    }
    return true;
  }
  /* via the scratch buffer, so the output buffer is as small as the
   * response (usually ~100 bytes); large bodies bypass it (zero_copy_ok) */
  size_t n = produce(s, c, s->scratch, STEP_PLAIN);
  obuf *f = &c->out[c->fill];
  if (obuf_reserve(f, n) < 0)
    return false;
  memcpy(f->p + f->len, s->scratch, n);
  f->len += (uint32_t)n;
  return true;
}

/* Moves output along: produces while little is pending, sends when nothing
 * is in flight, closes once all is out and the connection is to close. */
static void pump(rf_server *s, conn *c) {
  for (;;) {
    if (c->state != C_OPEN || c->send_inflight)
      return;
    obuf *f = &c->out[c->fill];
    bool producing = c->phase == P_HEAD || c->phase == P_FILL || c->phase == P_BODY;
    if (producing && f->len < OUT_LOW) {
      if (zero_copy_ok(c)) {
        submit_send_ext(s, c);
        return;
      }
      if (!produce_step(s, c)) {
        conn_close(s, c, false);
        return;
      }
      continue;
    }
    if (c->phase == P_DONE) {
      response_done(s, c);
      continue;
    }
    if (f->len) {
      c->fill = !c->fill;
      c->sent = 0;
      submit_send(s, c);
      return;
    }
    if (c->reset_when_drained)
      conn_close(s, c, true);
    else if (c->close_when_drained)
      conn_close(s, c, false);
    return;
  }
}

static void advance(rf_server *s, conn *c) {
  start_next(s, c);
  pump(s, c);
  arm_recv(s, c);
}

static void on_send(rf_server *s, conn *c, int res) {
  bool ext = c->send_ext;
  c->send_inflight = false;
  c->send_ext = false;
  if (c->state != C_OPEN)
    return;
  if (res == -EAGAIN || res == -EINTR) { /* a kernel retry cap can still surface these */
    if (ext)
      submit_send_ext(s, c);
    else
      submit_send(s, c);
    return;
  }
  if (res <= 0) {
    conn_close(s, c, false);
    return;
  }
  if (ext) {
    c->off += (uint64_t)res;
    if (c->off >= c->limit) /* the terminator-less body is complete */
      c->phase = P_DONE;
  } else {
    obuf *b = &c->out[!c->fill];
    c->sent += (uint32_t)res;
    if (c->sent < b->len) {
      submit_send(s, c); /* short send: the rest */
      return;
    }
    b->len = 0;
    c->sent = 0;
    if (c->phase == P_IDLE || c->phase == P_WAIT || c->phase == P_NEVER)
      obuf_free(b); /* nothing streams: a waiting connection holds no buffer */
  }
  advance(s, c);
}

static void on_timer(rf_server *s, conn *c) {
  if (c->state != C_OPEN)
    return;
  if (c->phase == P_DRIP_WAIT)
    c->phase = P_BODY;
  advance(s, c);
}

static void on_recv(rf_server *s, conn *c, int res, unsigned flags) {
  c->recv_inflight = false;
  int bid = (flags & IORING_CQE_F_BUFFER) ? (int)(flags >> IORING_CQE_BUFFER_SHIFT) : -1;
  if (c->state != C_OPEN) {
    if (bid >= 0)
      buf_recycle(s, bid);
    return;
  }
  if (res == -ENOBUFS) { /* no provided buffer left: retried once some return */
    c->on_nobuf = true;
    c->nb_next = s->nobuf;
    s->nobuf = c;
    return;
  }
  if (res < 0 && (res == -EAGAIN || res == -EINTR)) {
    arm_recv(s, c);
    return;
  }
  if (res <= 0 || bid < 0) {
    if (bid >= 0)
      buf_recycle(s, bid);
    if (res < 0)
      conn_close(s, c, false); /* e.g. reset by the peer */
    else
      on_eof(s, c);
    advance(s, c);
    return;
  }
  const uint8_t *p = buf_ptr(s, bid);
  if (c->ssl)
    tls_input(s, c, p, (size_t)res);
  else
    on_plain(s, c, p, (size_t)res);
  buf_recycle(s, bid);
  advance(s, c);
}

/* ---- the loop ------------------------------------------------------------------------ */

static void on_cqe(rf_server *s, const struct io_uring_cqe *cqe) {
  s->inflight--;
  uint64_t ud = io_uring_cqe_get_data64(cqe);
  enum op op = (enum op)(ud & 0xff);
  uint32_t idx = (uint32_t)(ud >> 32);
  if (op == OP_WAKE) {
    s->stopping = true;
    return;
  }
  if (idx >= s->nconns) {
    if (cqe->flags & IORING_CQE_F_BUFFER) /* not expected: keep the buffer anyway */
      buf_recycle(s, (int)(cqe->flags >> IORING_CQE_BUFFER_SHIFT));
    return;
  }
  conn *c = &s->conns[idx];
  c->ops--;
  switch (op) {
  case OP_ACCEPT: on_accept(s, c, cqe->res); break;
  case OP_RECV: on_recv(s, c, cqe->res, cqe->flags); break;
  case OP_SEND: on_send(s, c, cqe->res); break;
  default: break; /* cancel, sockopt, close: only their count matters */
  }
  if (c->state == C_CLOSING && c->ops == 0)
    conn_free(s, c);
}

static void rearm_nobuf(rf_server *s) {
  conn *list = s->nobuf;
  s->nobuf = NULL;
  while (list) {
    conn *c = list;
    list = c->nb_next;
    c->nb_next = NULL;
    c->on_nobuf = false;
    arm_recv(s, c);
  }
}

static void reap(rf_server *s) {
  unsigned head, n = 0;
  struct io_uring_cqe *cqe;
  io_uring_for_each_cqe(&s->ring, head, cqe) {
    on_cqe(s, cqe);
    n++;
  }
  io_uring_cq_advance(&s->ring, n);
}

static void run_loop(rf_server *s) {
  struct io_uring_sqe *sqe = get_sqe(s);
  io_uring_prep_read(sqe, s->efd, &s->wake_val, sizeof s->wake_val, 0);
  io_uring_sqe_set_data64(sqe, mkud(NO_CONN, 0, OP_WAKE));
  while (!s->stopping) {
    s->now_us = mono_us();
    reap(s);
    while (s->hn && s->heap[0]->due_us <= s->now_us) {
      conn *c = s->heap[0];
      timer_clear(s, c);
      on_timer(s, c);
    }
    if (s->stopping)
      break;
    buf_flush(s); /* before the receives that wait for buffers */
    if (s->nobuf)
      rearm_nobuf(s);
    arm_accepts(s);
    buf_flush(s);

    uint64_t next = s->hn ? s->heap[0]->due_us : UINT64_MAX;
    if (s->accept_retry_us && s->accept_retry_us < next)
      next = s->accept_retry_us;
    struct __kernel_timespec ts, *tsp = NULL;
    if (next != UINT64_MAX) {
      uint64_t now = mono_us();
      uint64_t left = next > now ? next - now : 0;
      ts.tv_sec = (long long)(left / 1000000u);
      ts.tv_nsec = (long long)(left % 1000000u) * 1000;
      tsp = &ts;
    }
    struct io_uring_cqe *cqe;
    int rc = io_uring_submit_and_wait_timeout(&s->ring, &cqe, 1, tsp, NULL);
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) {
      fprintf(stderr, "ringfetch server: io_uring wait failed: %s\n", strerror(-rc));
      break;
    }
  }
}

/* Cancels every operation and waits for each to complete, so that no
 * kernel access to our buffers remains; then drops the descriptors, which
 * closes every connection. Cancels go by user_data, a hash lookup each:
 * IORING_ASYNC_CANCEL_ANY looks through all requests per match and took
 * 0.7 s with 10,000 receives pending. */
static void drain_ring(rf_server *s) {
  for (uint32_t i = 0; i < s->nconns; i++) {
    conn *c = &s->conns[i];
    if (c->state == C_ACCEPTING)
      cancel_ud(s, conn_ud(c, OP_ACCEPT));
    if (c->state != C_OPEN)
      continue; /* closing ones have their own cancel and close under way */
    if (c->recv_inflight)
      cancel_ud(s, conn_ud(c, OP_RECV));
    if (c->send_inflight)
      cancel_ud(s, conn_ud(c, OP_SEND));
  }
  if (!s->stopping) /* the loop failed: the wake-up read is still armed */
    cancel_ud(s, mkud(NO_CONN, 0, OP_WAKE));
  uint64_t deadline = mono_us() + STOP_DRAIN_US;
  bool cancel_any = false;
  while (s->inflight > 0 && mono_us() < deadline) {
    if (!cancel_any && mono_us() + STOP_DRAIN_US / 2 > deadline) {
      cancel_any = true; /* something we did not know of: the slow way */
      struct io_uring_sqe *sqe = get_sqe(s);
      io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
      io_uring_sqe_set_data64(sqe, mkud(NO_CONN, 0, OP_IGNORE));
    }
    struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 50 * 1000 * 1000};
    struct io_uring_cqe *cqe;
    io_uring_submit_and_wait_timeout(&s->ring, &cqe, 1, &ts, NULL);
    unsigned head, n = 0;
    io_uring_for_each_cqe(&s->ring, head, cqe) {
      s->inflight--;
      n++;
    }
    io_uring_cq_advance(&s->ring, n);
  }
  io_uring_unregister_files(&s->ring);
}

static int ring_setup(rf_server *s, char *err, size_t errlen) {
  unsigned cq = pow2_at_least(s->nconns * 2 + 1024);
  if (cq < 4096)
    cq = 4096;
  if (cq > 65536)
    cq = 65536;
  const unsigned tries[] = {
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN |
          IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE,
      IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE,
      IORING_SETUP_CQSIZE,
  };
  int rc = -EINVAL;
  for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = tries[i];
    p.cq_entries = cq;
    rc = io_uring_queue_init_params(SQ_ENTRIES, &s->ring, &p);
    if (rc != -EINVAL)
      break;
  }
  if (rc < 0) {
    snprintf(err, errlen, "io_uring setup failed: %s", strerror(-rc));
    return rc;
  }
  s->ring_ok = true;
  io_uring_register_ring_fd(&s->ring); /* an optimisation only */

  rc = io_uring_register_files_sparse(&s->ring, s->nconns);
  if (rc < 0) {
    snprintf(err, errlen, "cannot register %u direct descriptors: %s", s->nconns, strerror(-rc));
    return rc;
  }

  unsigned want = s->nconns / 4;
  s->nbufs = pow2_at_least(want < 256 ? 256 : want > 2048 ? 2048 : want);
  s->br_mask = (unsigned)io_uring_buf_ring_mask(s->nbufs);
  size_t ring_bytes = (size_t)s->nbufs * sizeof(struct io_uring_buf);
  void *rm = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  void *bm = mmap(NULL, (size_t)s->nbufs * RX_BUF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (rm != MAP_FAILED)
    s->br = rm;
  if (bm != MAP_FAILED)
    s->bufs = bm;
  if (!s->br || !s->bufs) {
    snprintf(err, errlen, "cannot allocate receive buffers");
    return -ENOMEM;
  }
  /* liburing 2.3 has no io_uring_setup_buf_ring: register by hand */
  struct io_uring_buf_reg reg;
  memset(&reg, 0, sizeof reg);
  reg.ring_addr = (uint64_t)(uintptr_t)s->br;
  reg.ring_entries = s->nbufs;
  reg.bgid = BGID;
  rc = io_uring_register_buf_ring(&s->ring, &reg, 0);
  if (rc < 0) {
    snprintf(err, errlen, "cannot register a provided buffer ring: %s", strerror(-rc));
    return rc;
  }
  io_uring_buf_ring_init(s->br);
  for (unsigned i = 0; i < s->nbufs; i++)
    buf_recycle(s, (int)i);
  buf_flush(s);
  return 0;
}

static void *server_main(void *arg) {
  rf_server *s = arg;
  char err[256] = "";
  int rc = ring_setup(s, err, sizeof err);
  pthread_mutex_lock(&s->mu);
  s->init_rc = rc;
  snprintf(s->init_err, sizeof s->init_err, "%s", err);
  s->init_done = true;
  pthread_cond_signal(&s->cv);
  pthread_mutex_unlock(&s->mu);
  if (rc == 0) {
    run_loop(s);
    drain_ring(s);
  }
  if (s->ring_ok)
    io_uring_queue_exit(&s->ring); /* SINGLE_ISSUER: by the thread that made it */
  s->ring_ok = false;
  return NULL;
}

/* ---- public API ------------------------------------------------------------------------ */

static void server_free(rf_server *s) {
  if (s->conns) {
    for (uint32_t i = 0; i < s->nconns; i++)
      conn_release(&s->conns[i]);
  }
  free(s->conns);
  free(s->free_idx);
  free(s->heap);
  free(s->pattern);
  free(s->scratch);
  free(s->rd);
  if (s->br)
    munmap(s->br, (size_t)s->nbufs * sizeof(struct io_uring_buf));
  if (s->bufs)
    munmap(s->bufs, (size_t)s->nbufs * RX_BUF);
  SSL_CTX_free(s->ssl_ctx);
  BIO_meth_free(s->bio_method);
  free(s->cert_pem);
  if (s->lfd >= 0)
    close(s->lfd);
  if (s->efd >= 0)
    close(s->efd);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  free(s);
}

static int listen_socket(rf_server *s, char *err, size_t errlen) {
  s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s->lfd < 0) {
    int rc = -errno;
    snprintf(err, errlen, "cannot create the listening socket: %s", strerror(errno));
    return rc;
  }
  const int one = 1;
  setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(s->lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* inherited by accepted sockets */
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(s->opts.port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(s->lfd, (struct sockaddr *)&a, sizeof a) < 0) {
    int rc = -errno;
    snprintf(err, errlen, "cannot listen on 127.0.0.1:%u: %s", s->opts.port, strerror(errno));
    return rc;
  }
  if (listen(s->lfd, LISTEN_BACKLOG) < 0) {
    int rc = -errno;
    snprintf(err, errlen, "listen failed: %s", strerror(errno));
    return rc;
  }
  socklen_t alen = sizeof a;
  if (getsockname(s->lfd, (struct sockaddr *)&a, &alen) < 0) {
    int rc = -errno;
    snprintf(err, errlen, "getsockname failed: %s", strerror(errno));
    return rc;
  }
  s->port = ntohs(a.sin_port);
  return 0;
}

int rf_server_start(const rf_server_opts *opts, rf_server **out, char *err, size_t errlen) {
  char dummy[8];
  if (!err || !errlen) {
    err = dummy;
    errlen = sizeof dummy;
  }
  err[0] = 0;
  *out = NULL;
  rf_server *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  if (opts)
    s->opts = *opts;
  s->lfd = s->efd = -1;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  int rc;

  /* The registered file table may not exceed RLIMIT_NOFILE (it takes no
   * fds, but the kernel checks the size against the limit). */
  unsigned limit = nofile_limit();
  s->nconns = s->opts.max_conns ? s->opts.max_conns : DEFAULT_MAX_CONNS;
  if (s->nconns > limit) {
    if (s->opts.max_conns) {
      snprintf(err, errlen, "max_conns %u exceeds the open-files limit %u", s->opts.max_conns, limit);
      rc = -EMFILE;
      goto fail;
    }
    s->nconns = limit;
  }
  s->conns = calloc(s->nconns, sizeof *s->conns);
  s->free_idx = malloc(sizeof *s->free_idx * s->nconns);
  s->heap = malloc(sizeof *s->heap * s->nconns);
  s->pattern = malloc(PATTERN_LEN);
  s->scratch = malloc(STEP_TLS);
  s->rd = malloc(TLS_READ);
  if (!s->conns || !s->free_idx || !s->heap || !s->pattern || !s->scratch || !s->rd) {
    snprintf(err, errlen, "out of memory");
    rc = -ENOMEM;
    goto fail;
  }
  for (uint32_t i = 0; i < s->nconns; i++) /* conns[] is touched only as slots are used */
    s->free_idx[i] = s->nconns - 1 - i;     /* slot 0 first */
  s->nfree = s->nconns;
  for (unsigned i = 0; i < PATTERN_LEN; i++)
    s->pattern[i] = (uint8_t)('a' + i % 26);

  if (s->opts.tls && (rc = tls_setup(s, err, errlen)) < 0)
    goto fail;
  if ((rc = listen_socket(s, err, errlen)) < 0)
    goto fail;
  s->efd = eventfd(0, EFD_CLOEXEC);
  if (s->efd < 0) {
    rc = -errno;
    snprintf(err, errlen, "eventfd failed: %s", strerror(errno));
    goto fail;
  }

  /* The thread takes no signals: they belong to the application's threads. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  rc = -pthread_create(&s->thread, NULL, server_main, s);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc < 0) {
    snprintf(err, errlen, "cannot start the server thread: %s", strerror(-rc));
    goto fail;
  }
  s->thread_started = true;
  pthread_mutex_lock(&s->mu);
  while (!s->init_done)
    pthread_cond_wait(&s->cv, &s->mu);
  pthread_mutex_unlock(&s->mu);
  if (s->init_rc < 0) {
    rc = s->init_rc;
    snprintf(err, errlen, "%s", s->init_err);
    pthread_join(s->thread, NULL);
    goto fail;
  }
  *out = s;
  return 0;
fail:
  server_free(s);
  return rc;
}

uint16_t rf_server_port(const rf_server *s) { return s->port; }

const char *rf_server_cert_pem(const rf_server *s) { return s->cert_pem; }

uint64_t rf_server_requests(const rf_server *s) {
  return atomic_load_explicit(&((rf_server *)s)->nreq, memory_order_relaxed);
}

uint64_t rf_server_connections(const rf_server *s) {
  return atomic_load_explicit(&((rf_server *)s)->nconn, memory_order_relaxed);
}

void rf_server_stop(rf_server *s) {
  if (!s)
    return;
  if (s->thread_started) {
    uint64_t one = 1;
    ssize_t w;
    do
      w = write(s->efd, &one, sizeof one);
    while (w < 0 && errno == EINTR);
    pthread_join(s->thread, NULL);
  }
  server_free(s);
}
