/* The embedded test/demo server (tools/server/), driven in-process by plain
 * blocking sockets and, for HTTPS, a BoringSSL client that trusts only the
 * server's own certificate. */
#define _GNU_SOURCE /* memmem */
#include <openssl/base.h>
#if !defined(OPENSSL_IS_BORINGSSL)
#error "build against BoringSSL (-I/usr/include/android)"
#endif
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "testutil.h"
#include "tools/server/server.h"

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static rf_server *start(bool tls, unsigned delay_ms, unsigned max_conns) {
  rf_server_opts o = {.tls = tls, .delay_ms = delay_ms, .max_conns = max_conns};
  rf_server *s = NULL;
  char err[256];
  int rc = rf_server_start(&o, &s, err, sizeof err);
  if (rc != 0) {
    fprintf(stderr, "rf_server_start: %d %s\n", rc, err);
    exit(1);
  }
  return s;
}

static int tcp_connect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    perror("socket");
    exit(2);
  }
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    perror("connect");
    exit(2);
  }
  struct timeval tv = {.tv_sec = 5};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

/* ---- a client connection with an input buffer ------------------------------ */

typedef struct tconn {
  int fd;
  SSL *ssl;
  unsigned char *in;
  size_t len, pos, cap;
} tconn;

static tconn *tc_wrap(int fd, SSL *ssl) {
  tconn *t = calloc(1, sizeof *t);
  t->fd = fd;
  t->ssl = ssl;
  t->cap = 1 << 16;
  t->in = malloc(t->cap);
  return t;
}

static tconn *tc_plain(rf_server *s) { return tc_wrap(tcp_connect(rf_server_port(s)), NULL); }

static void tc_close(tconn *t) {
  if (!t)
    return;
  SSL_free(t->ssl);
  close(t->fd);
  free(t->in);
  free(t);
}

static int tc_send(tconn *t, const void *p, size_t n) {
  const char *b = p;
  while (n) {
    ssize_t w;
    if (t->ssl) {
      int r = SSL_write(t->ssl, b, (int)n);
      w = r > 0 ? r : -1;
    } else {
      w = send(t->fd, b, n, MSG_NOSIGNAL);
    }
    if (w <= 0)
      return -1;
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

static int tc_sends(tconn *t, const char *s) { return tc_send(t, s, strlen(s)); }

/* Reads more: bytes read, 0 at EOF, or -errno (-EAGAIN: the 5 s timeout). */
static int tc_fill(tconn *t) {
  if (t->pos && t->pos == t->len)
    t->pos = t->len = 0;
  if (t->len == t->cap) {
    if (t->pos) {
      memmove(t->in, t->in + t->pos, t->len - t->pos);
      t->len -= t->pos;
      t->pos = 0;
    } else {
      t->cap *= 2;
      t->in = realloc(t->in, t->cap);
    }
  }
  if (t->ssl) {
    ERR_clear_error();
    errno = 0;
    int r = SSL_read(t->ssl, t->in + t->len, (int)(t->cap - t->len));
    if (r > 0) {
      t->len += (size_t)r;
      return r;
    }
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0))
      return 0;
    return errno ? -errno : -EPROTO;
  }
  ssize_t r = recv(t->fd, t->in + t->len, t->cap - t->len, 0);
  if (r < 0)
    return -errno;
  t->len += (size_t)r;
  return (int)r;
}

/* ---- responses --------------------------------------------------------------- */

typedef struct resp {
  int status; /* -1: not a valid status line */
  char first[128];
  long long clen; /* -1: none */
  bool chunked, conn_close, has_ctype;
  size_t head_len;
  unsigned char *body;
  size_t body_len;
  int err; /* 0, -EPIPE (EOF early), -EBADMSG (bad framing) or a read error */
} resp;

static void resp_free(resp *r) {
  free(r->body);
  memset(r, 0, sizeof *r);
}

static void body_add(resp *r, const unsigned char *p, size_t n) {
  r->body = realloc(r->body, r->body_len + n + 1);
  memcpy(r->body + r->body_len, p, n);
  r->body_len += n;
  r->body[r->body_len] = 0;
}

/* Index just past the next CRLF at or after t->pos, filling as needed; 0 on
 * EOF/error (stored in *err). */
static size_t line_end(tconn *t, int *err) {
  for (;;) {
    for (size_t i = t->pos; i + 1 < t->len; i++)
      if (t->in[i] == '\r' && t->in[i + 1] == '\n')
        return i + 2;
    int n = tc_fill(t);
    if (n <= 0) {
      *err = n == 0 ? -EPIPE : n;
      return 0;
    }
  }
}

static int read_body_bytes(tconn *t, resp *r, unsigned long long n) {
  while (n) {
    if (t->pos == t->len) {
      int k = tc_fill(t);
      if (k <= 0)
        return k == 0 ? -EPIPE : k;
    }
    size_t k = t->len - t->pos;
    if (k > n)
      k = (size_t)n;
    body_add(r, t->in + t->pos, k);
    t->pos += k;
    n -= k;
  }
  return 0;
}

/* Reads one response (the body too unless it is to a HEAD). 0 or -errno;
 * r->err says how the body ended. */
static int read_resp(tconn *t, resp *r, bool head_req) {
  memset(r, 0, sizeof *r);
  r->clen = -1;
  r->status = -1;
  int err = 0;
  bool first = true;
  for (;;) {
    size_t e = line_end(t, &err);
    if (!e)
      return err;
    /* line_end may have compacted the buffer */
    size_t ls = t->pos, ll = e - 2 - ls;
    const char *line = (const char *)t->in + ls;
    r->head_len += e - ls;
    if (first) {
      snprintf(r->first, sizeof r->first, "%.*s", (int)ll, line);
      if (ll >= 12 && memcmp(line, "HTTP/1.", 7) == 0 && line[8] == ' ' &&
          line[9] >= '0' && line[9] <= '9' && line[10] >= '0' && line[10] <= '9' &&
          line[11] >= '0' && line[11] <= '9' && (ll == 12 || line[12] == ' '))
        r->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
      first = false;
    } else if (ll == 0) {
      t->pos = e;
      break;
    } else if (ll > 15 && strncasecmp(line, "Content-Length:", 15) == 0) {
      r->clen = atoll(line + 15);
    } else if (strncasecmp(line, "Transfer-Encoding: chunked", 26) == 0) {
      r->chunked = true;
    } else if (strncasecmp(line, "Connection: close", 17) == 0) {
      r->conn_close = true;
    } else if (strncasecmp(line, "Content-Type: text/plain", 24) == 0) {
      r->has_ctype = true;
    }
    t->pos = e;
  }
  if (head_req || r->status == 204 || r->status == 304 || (r->status >= 100 && r->status < 200))
    return 0;
  if (r->chunked) {
    for (;;) {
      size_t e = line_end(t, &err);
      if (!e) {
        r->err = err;
        return 0;
      }
      char *endp;
      const char *l = (const char *)t->in + t->pos;
      unsigned long long n = strtoull(l, &endp, 16);
      if (endp == l || (*endp != '\r' && *endp != ';')) {
        r->err = -EBADMSG;
        return 0;
      }
      t->pos = e;
      if (n == 0) {
        if (!line_end(t, &err)) { /* the CRLF after the last chunk */
          r->err = err;
          return 0;
        }
        t->pos += 2;
        return 0;
      }
      if ((r->err = read_body_bytes(t, r, n)) != 0)
        return 0;
      e = line_end(t, &err);
      if (!e) {
        r->err = err;
        return 0;
      }
      t->pos = e;
    }
  }
  if (r->clen >= 0) {
    r->err = read_body_bytes(t, r, (unsigned long long)r->clen);
    return 0;
  }
  r->err = read_body_bytes(t, r, ~0ull);
  if (r->err == -EPIPE)
    r->err = 0; /* delimited by EOF */
  return 0;
}

static bool is_pattern(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != 'a' + i % 26)
      return false;
  return true;
}

static int get(tconn *t, const char *target, resp *r) {
  char req[512];
  snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", target);
  if (tc_sends(t, req) < 0)
    return -EPIPE;
  return read_resp(t, r, false);
}

/* After the response the server must close: EOF (or a reset) comes next. */
static bool at_eof(tconn *t) {
  if (t->pos < t->len)
    return false;
  int n = tc_fill(t);
  return n == 0 || n == -ECONNRESET;
}

/* ---- HTTP ---------------------------------------------------------------------- */

static void test_basic(rf_server *s) {
  tconn *t = tc_plain(s);
  resp r;
  CHECK_EQ_INT(get(t, "/", &r), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_STR(r.first, "HTTP/1.1 200 OK");
  CHECK_EQ_INT(r.clen, 3);
  CHECK(r.has_ctype);
  CHECK_EQ_SPAN(r.body, r.body_len, "ok\n");
  resp_free(&r);

  CHECK_EQ_INT(get(t, "/any/path?size=100000", &r), 0);
  CHECK_EQ_INT(r.clen, 100000);
  CHECK_EQ_INT(r.body_len, 100000);
  CHECK(is_pattern(r.body, r.body_len));
  resp_free(&r);

  CHECK_EQ_INT(get(t, "/?size=100000&chunked=1", &r), 0);
  CHECK(r.chunked);
  CHECK_EQ_INT(r.clen, -1);
  CHECK_EQ_INT(r.err, 0);
  CHECK_EQ_INT(r.body_len, 100000);
  CHECK(is_pattern(r.body, r.body_len));
  resp_free(&r);

  CHECK_EQ_INT(get(t, "/?size=0", &r), 0);
  CHECK_EQ_INT(r.clen, 0);
  CHECK_EQ_INT(r.body_len, 0);
  resp_free(&r);

  CHECK_EQ_INT(get(t, "/?size=0&chunked=1", &r), 0);
  CHECK(r.chunked);
  CHECK_EQ_INT(r.err, 0);
  CHECK_EQ_INT(r.body_len, 0);
  resp_free(&r);

  CHECK_EQ_INT(get(t, "/x?status=404", &r), 0);
  CHECK_EQ_INT(r.status, 404);
  CHECK_EQ_STR(r.first, "HTTP/1.1 404 Not Found");
  CHECK_EQ_SPAN(r.body, r.body_len, "ok\n");
  resp_free(&r);

  CHECK_EQ_INT(get(t, "/?status=204", &r), 0);
  CHECK_EQ_INT(r.status, 204);
  CHECK_EQ_INT(r.clen, -1);
  resp_free(&r);

  /* 10 MB: streamed (plain bodies go out straight from the pattern) */
  CHECK_EQ_INT(get(t, "/?size=10000000", &r), 0);
  CHECK_EQ_INT(r.body_len, 10000000);
  CHECK(is_pattern(r.body, r.body_len));
  resp_free(&r);

  /* HEAD: the length a GET would have, no body: the next response follows
   * the head directly */
  CHECK_EQ_INT(tc_sends(t, "HEAD /?size=5000 HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  CHECK_EQ_INT(read_resp(t, &r, true), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_INT(r.clen, 5000);
  resp_free(&r);
  CHECK_EQ_INT(get(t, "/?size=7", &r), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_SPAN(r.body, r.body_len, "abcdefg");
  resp_free(&r);

  /* a request body is read and discarded */
  CHECK_EQ_INT(tc_sends(t, "POST /?size=2 HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789"
                           "GET /?size=4 HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  CHECK_EQ_INT(read_resp(t, &r, false), 0);
  CHECK_EQ_SPAN(r.body, r.body_len, "ab");
  resp_free(&r);
  CHECK_EQ_INT(read_resp(t, &r, false), 0);
  CHECK_EQ_SPAN(r.body, r.body_len, "abcd");
  resp_free(&r);

  CHECK_EQ_INT(get(t, "/?fault=nonsense", &r), 0);
  CHECK_EQ_INT(r.status, 400);
  CHECK(r.conn_close);
  resp_free(&r);
  CHECK(at_eof(t));
  tc_close(t);
}

static void test_keepalive_pipeline(rf_server *s) {
  uint64_t c0 = rf_server_connections(s);
  tconn *t = tc_plain(s);
  resp r;
  for (int i = 0; i < 3; i++) {
    CHECK_EQ_INT(get(t, "/?size=10", &r), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_SPAN(r.body, r.body_len, "abcdefghij");
    CHECK(!r.conn_close);
    resp_free(&r);
  }
  CHECK_EQ_INT(rf_server_connections(s) - c0, 1);

  /* pipelined, the middle one slow: answered in order all the same */
  CHECK_EQ_INT(tc_sends(t, "GET /?size=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                           "GET /?size=2&delay=150 HTTP/1.1\r\nHost: x\r\n\r\n"
                           "GET /?size=3 HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  const char *want[] = {"a", "ab", "abc"};
  for (int i = 0; i < 3; i++) {
    CHECK_EQ_INT(read_resp(t, &r, false), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_SPAN(r.body, r.body_len, want[i]);
    resp_free(&r);
  }

  /* deeper than the server's queue (16): the rest waits in the socket */
  char big[40 * 64];
  size_t n = 0;
  for (int i = 0; i < 40; i++)
    n += (size_t)snprintf(big + n, sizeof big - n, "GET /?size=%d HTTP/1.1\r\nHost: x\r\n\r\n", i % 26 + 1);
  CHECK_EQ_INT(tc_send(t, big, n), 0);
  for (int i = 0; i < 40; i++) {
    CHECK_EQ_INT(read_resp(t, &r, false), 0);
    CHECKF(r.body_len == (size_t)(i % 26 + 1) && is_pattern(r.body, r.body_len), "response %d", i);
    resp_free(&r);
  }

  /* Connection: close is honoured */
  CHECK_EQ_INT(tc_sends(t, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), 0);
  CHECK_EQ_INT(read_resp(t, &r, false), 0);
  CHECK(r.conn_close);
  CHECK_EQ_SPAN(r.body, r.body_len, "ok\n");
  resp_free(&r);
  CHECK(at_eof(t));
  tc_close(t);

  /* close=1 too, and HTTP/1.0 closes by default */
  t = tc_plain(s);
  CHECK_EQ_INT(get(t, "/?close=1", &r), 0);
  CHECK(r.conn_close);
  resp_free(&r);
  CHECK(at_eof(t));
  tc_close(t);
  t = tc_plain(s);
  CHECK_EQ_INT(tc_sends(t, "GET / HTTP/1.0\r\n\r\n"), 0);
  CHECK_EQ_INT(read_resp(t, &r, false), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_SPAN(r.body, r.body_len, "ok\n");
  resp_free(&r);
  CHECK(at_eof(t));
  tc_close(t);

  /* a request after the client's half-close is still answered */
  t = tc_plain(s);
  CHECK_EQ_INT(tc_sends(t, "GET /?delay=50 HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  shutdown(t->fd, SHUT_WR);
  CHECK_EQ_INT(read_resp(t, &r, false), 0);
  CHECK_EQ_SPAN(r.body, r.body_len, "ok\n");
  resp_free(&r);
  CHECK(at_eof(t));
  tc_close(t);

  /* a head over 16 KiB: 431 and close */
  t = tc_plain(s);
  char *h = malloc(40000);
  n = (size_t)snprintf(h, 40000, "GET / HTTP/1.1\r\nHost: x\r\n");
  while (n < 30000)
    n += (size_t)snprintf(h + n, 40000 - n, "X-Long: %0100d\r\n", 0);
  n += (size_t)snprintf(h + n, 40000 - n, "\r\n");
  CHECK_EQ_INT(tc_send(t, h, n), 0);
  free(h);
  CHECK_EQ_INT(read_resp(t, &r, false), 0);
  CHECK_EQ_INT(r.status, 431);
  resp_free(&r);
  tc_close(t);

  /* a request dribbled in one byte at a time */
  t = tc_plain(s);
  const char *slow = "GET /?size=6 HTTP/1.1\r\nHost: x\r\n\r\n";
  for (const char *q = slow; *q; q++) {
    CHECK_EQ_INT(tc_send(t, q, 1), 0);
    usleep(2000);
  }
  CHECK_EQ_INT(read_resp(t, &r, false), 0);
  CHECK_EQ_SPAN(r.body, r.body_len, "abcdef");
  resp_free(&r);
  tc_close(t);

  /* Expect: 100-continue with a body: answered, then closed (no 100 is
   * sent, so the body may never come) */
  t = tc_plain(s);
  CHECK_EQ_INT(tc_sends(t, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"), 0);
  CHECK_EQ_INT(read_resp(t, &r, false), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK(r.conn_close);
  resp_free(&r);
  tc_close(t);

  /* garbage: 400 */
  t = tc_plain(s);
  CHECK_EQ_INT(tc_sends(t, "NONSENSE\r\n\r\n"), 0);
  CHECK_EQ_INT(read_resp(t, &r, false), 0);
  CHECK_EQ_INT(r.status, 400);
  resp_free(&r);
  CHECK(at_eof(t));
  tc_close(t);
}

static void test_delay(void) {
  rf_server *s = start(false, 0, 0);
  tconn *t = tc_plain(s);
  resp r;
  uint64_t t0 = now_ms();
  CHECK_EQ_INT(get(t, "/?delay=300", &r), 0);
  uint64_t dt = now_ms() - t0;
  CHECK_EQ_INT(r.status, 200);
  CHECKF(dt >= 300 && dt < 1000, "took %llu ms", (unsigned long long)dt);
  resp_free(&r);
  tc_close(t);
  rf_server_stop(s);

  /* the server's default delay, and delay=0 overriding it */
  s = start(false, 200, 0);
  t = tc_plain(s);
  t0 = now_ms();
  CHECK_EQ_INT(get(t, "/", &r), 0);
  dt = now_ms() - t0;
  CHECKF(dt >= 200 && dt < 900, "took %llu ms", (unsigned long long)dt);
  resp_free(&r);
  t0 = now_ms();
  CHECK_EQ_INT(get(t, "/?delay=0", &r), 0);
  dt = now_ms() - t0;
  CHECKF(dt < 150, "took %llu ms", (unsigned long long)dt);
  resp_free(&r);
  tc_close(t);
  rf_server_stop(s);
}

/* ---- faults --------------------------------------------------------------------- */

static void test_faults(rf_server *s) {
  resp r;
  uint64_t served0 = rf_server_requests(s);

  { /* drip: one byte every 100 ms */
    tconn *t = tc_plain(s);
    CHECK_EQ_INT(tc_sends(t, "GET /?fault=drip&size=5 HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    int err = 0;
    size_t e;
    while ((e = line_end(t, &err)) != 0 && e - t->pos > 2)
      t->pos = e;
    CHECK(e != 0);
    t->pos = e; /* after the blank line */
    uint64_t times[5];
    size_t got = t->len - t->pos;
    uint64_t t0 = now_ms();
    for (size_t i = 0; i < got && i < 5; i++)
      times[i] = t0;
    while (got < 5) {
      int n = tc_fill(t);
      if (n <= 0)
        break;
      uint64_t now = now_ms();
      for (int i = 0; i < n && got < 5; i++)
        times[got++] = now;
    }
    CHECK_EQ_INT(got, 5);
    CHECK(memcmp(t->in + t->pos, "abcde", 5) == 0);
    for (size_t i = 1; i < got; i++)
      CHECKF(times[i] - times[i - 1] >= 70 && times[i] - times[i - 1] < 400, "gap %zu: %llu ms", i,
             (unsigned long long)(times[i] - times[i - 1]));
    t->pos += 5;
    CHECK_EQ_INT(get(t, "/", &r), 0); /* still usable afterwards */
    CHECK_EQ_SPAN(r.body, r.body_len, "ok\n");
    resp_free(&r);
    tc_close(t);
  }
  { /* reset: some of the body, then an RST */
    tconn *t = tc_plain(s);
    CHECK_EQ_INT(get(t, "/?fault=reset&size=100000", &r), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(r.clen, 100000);
    CHECK(r.body_len > 0 && r.body_len < 100000);
    CHECK(is_pattern(r.body, r.body_len));
    CHECK_EQ_INT(r.err, -ECONNRESET);
    resp_free(&r);
    tc_close(t);
  }
  { /* close: EOF and not one byte */
    tconn *t = tc_plain(s);
    CHECK_EQ_INT(tc_sends(t, "GET /?fault=close HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    CHECK_EQ_INT(tc_fill(t), 0);
    CHECK_EQ_INT(t->len, 0);
    tc_close(t);
  }
  { /* bad-status */
    tconn *t = tc_plain(s);
    CHECK_EQ_INT(get(t, "/?fault=bad-status", &r), 0);
    CHECK_EQ_INT(r.status, -1);
    CHECK(strncmp(r.first, "HTTP/1.1 ", 9) == 0); /* looks like one, is not */
    resp_free(&r);
    tc_close(t);
  }
  { /* huge-headers: more than 256 KiB before the blank line */
    tconn *t = tc_plain(s);
    CHECK_EQ_INT(get(t, "/?fault=huge-headers", &r), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECKF(r.head_len > 256 * 1024, "head %zu bytes", r.head_len);
    CHECK_EQ_SPAN(r.body, r.body_len, "ok\n");
    resp_free(&r);
    tc_close(t);
  }
  { /* bad-chunk */
    tconn *t = tc_plain(s);
    CHECK_EQ_INT(get(t, "/?fault=bad-chunk", &r), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK(r.chunked);
    CHECK_EQ_INT(r.err, -EBADMSG);
    resp_free(&r);
    tc_close(t);
  }
  { /* wrong-length: fewer bytes than announced, then EOF */
    tconn *t = tc_plain(s);
    CHECK_EQ_INT(get(t, "/?fault=wrong-length&size=1000", &r), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK(r.clen > 1000);
    CHECK_EQ_INT(r.body_len, 1000);
    CHECK_EQ_INT(r.err, -EPIPE);
    resp_free(&r);
    tc_close(t);
  }
  uint64_t served1 = rf_server_requests(s);
  { /* never: no byte within 500 ms and the connection stays open */
    tconn *t = tc_plain(s);
    CHECK_EQ_INT(tc_sends(t, "GET /?fault=never HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    struct pollfd p = {.fd = t->fd, .events = POLLIN};
    CHECK_EQ_INT(poll(&p, 1, 500), 0);
    char c;
    CHECK(recv(t->fd, &c, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN);
    tc_close(t);
  }
  /* every fault above but never counts as answered (drip also answered a GET) */
  CHECK_EQ_INT(served1 - served0, 8);
  CHECK_EQ_INT(rf_server_requests(s), served1);
}

/* ---- HTTPS ----------------------------------------------------------------------- */

typedef struct tls_client {
  SSL_CTX *ctx;
  SSL_SESSION *last; /* newest session (ticket) received */
} tls_client;

static int new_session(SSL *ssl, SSL_SESSION *sess) {
  tls_client *c = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
  SSL_SESSION_free(c->last);
  c->last = sess;
  return 1;
}

static void tls_client_init(tls_client *c, const char *pem, int max_version) {
  memset(c, 0, sizeof *c);
  c->ctx = SSL_CTX_new(TLS_method());
  SSL_CTX_set_app_data(c->ctx, c);
  SSL_CTX_set_max_proto_version(c->ctx, (uint16_t)max_version);
  SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
  SSL_CTX_set_session_cache_mode(c->ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
  SSL_CTX_sess_set_new_cb(c->ctx, new_session);
  if (pem) { /* the only trust anchor */
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    CHECK(x != NULL);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(c->ctx), x);
    X509_free(x);
    BIO_free(b);
  }
}

static void tls_client_free(tls_client *c) {
  SSL_SESSION_free(c->last);
  SSL_CTX_free(c->ctx);
}

/* Connects and shakes hands; NULL if the handshake failed. */
static tconn *tls_open(rf_server *s, tls_client *c, const char *host, bool resume) {
  int fd = tcp_connect(rf_server_port(s));
  SSL *ssl = SSL_new(c->ctx);
  SSL_set_fd(ssl, fd);
  struct in_addr ip;
  if (inet_pton(AF_INET, host, &ip) == 1) { /* an address: no SNI */
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
  } else {
    SSL_set_tlsext_host_name(ssl, host);
    X509_VERIFY_PARAM_set1_host(SSL_get0_param(ssl), host, strlen(host));
  }
  SSL_set_alpn_protos(ssl, (const uint8_t *)"\x08http/1.1", 9);
  if (resume && c->last)
    SSL_set_session(ssl, c->last);
  if (SSL_connect(ssl) != 1) {
    ERR_clear_error();
    SSL_free(ssl);
    close(fd);
    return NULL;
  }
  return tc_wrap(fd, ssl);
}

static void test_https_version(rf_server *s, int max_version) {
  tls_client cl;
  tls_client_init(&cl, rf_server_cert_pem(s), max_version);
  tconn *t = tls_open(s, &cl, "localhost", false);
  CHECK(t != NULL);
  if (!t) {
    tls_client_free(&cl);
    return;
  }
  CHECK_EQ_INT(SSL_version(t->ssl), max_version);
  CHECK(!SSL_session_reused(t->ssl));
  const uint8_t *alpn;
  unsigned alpn_len;
  SSL_get0_alpn_selected(t->ssl, &alpn, &alpn_len);
  CHECK_EQ_SPAN(alpn, alpn_len, "http/1.1");
  resp r;
  CHECK_EQ_INT(get(t, "/", &r), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_SPAN(r.body, r.body_len, "ok\n");
  resp_free(&r);
  CHECK_EQ_INT(get(t, "/?size=1000000", &r), 0);
  CHECK_EQ_INT(r.body_len, 1000000);
  CHECK(is_pattern(r.body, r.body_len));
  resp_free(&r);
  CHECK_EQ_INT(get(t, "/?size=70000&chunked=1", &r), 0);
  CHECK(r.chunked);
  CHECK_EQ_INT(r.err, 0);
  CHECK_EQ_INT(r.body_len, 70000);
  CHECK(is_pattern(r.body, r.body_len));
  resp_free(&r);
  CHECK_EQ_INT(tc_sends(t, "GET /?size=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                           "GET /?size=2&delay=100 HTTP/1.1\r\nHost: x\r\n\r\n"
                           "HEAD /?size=3 HTTP/1.1\r\nHost: x\r\n\r\n"
                           "GET /?size=4 HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  const char *want[] = {"a", "ab", "", "abcd"};
  for (int i = 0; i < 4; i++) {
    CHECK_EQ_INT(read_resp(t, &r, i == 2), 0);
    CHECK_EQ_SPAN(r.body ? (const char *)r.body : "", r.body_len, want[i]);
    resp_free(&r);
  }
  tc_close(t);
  CHECK(cl.last != NULL); /* a ticket came */

  /* the next connection resumes */
  t = tls_open(s, &cl, "localhost", true);
  CHECK(t != NULL);
  if (t) {
    CHECK_EQ_INT(SSL_session_reused(t->ssl), 1);
    CHECK_EQ_INT(get(t, "/?size=26", &r), 0);
    CHECK_EQ_SPAN(r.body, r.body_len, "abcdefghijklmnopqrstuvwxyz");
    resp_free(&r);
    tc_close(t);
  }
  /* by address too (the certificate names 127.0.0.1) */
  t = tls_open(s, &cl, "127.0.0.1", false);
  CHECK(t != NULL);
  tc_close(t);
  /* a name the certificate does not have: refused */
  t = tls_open(s, &cl, "example.com", false);
  CHECK(t == NULL);
  tc_close(t);
  tls_client_free(&cl);

  /* a client that does not trust the certificate: refused */
  tls_client_init(&cl, NULL, max_version);
  t = tls_open(s, &cl, "localhost", false);
  CHECK(t == NULL);
  tc_close(t);
  tls_client_free(&cl);
}

/* TLS through a BIO pair, every ciphertext byte its own TCP segment: the
 * server must put records and handshake messages together from pieces. */
static int frag_flush(int fd, BIO *net) {
  unsigned char b[4096];
  int n;
  while ((n = BIO_read(net, b, sizeof b)) > 0)
    for (int i = 0; i < n; i++) {
      if (send(fd, b + i, 1, MSG_NOSIGNAL) != 1)
        return -1;
      usleep(50);
    }
  return 0;
}

static int frag_fill(int fd, BIO *net) {
  unsigned char b[4096];
  ssize_t n = recv(fd, b, sizeof b, 0);
  if (n <= 0)
    return -1;
  return BIO_write(net, b, (int)n) == (int)n ? 0 : -1;
}

static void test_tls_fragmented(rf_server *s) {
  tls_client cl;
  tls_client_init(&cl, rf_server_cert_pem(s), TLS1_3_VERSION);
  int fd = tcp_connect(rf_server_port(s));
  SSL *ssl = SSL_new(cl.ctx);
  BIO *in, *net;
  CHECK(BIO_new_bio_pair(&in, 0, &net, 0) == 1);
  SSL_set_bio(ssl, in, in);
  SSL_set_tlsext_host_name(ssl, "localhost");
  X509_VERIFY_PARAM_set1_host(SSL_get0_param(ssl), "localhost", 9);
  SSL_set_connect_state(ssl);
  bool ok = false;
  for (int i = 0; i < 100; i++) {
    int r = SSL_do_handshake(ssl);
    if (frag_flush(fd, net) < 0)
      break;
    if (r == 1) {
      ok = true;
      break;
    }
    if (SSL_get_error(ssl, r) != SSL_ERROR_WANT_READ || frag_fill(fd, net) < 0)
      break;
  }
  CHECK(ok);
  static const char req[] = "GET /?size=20000 HTTP/1.1\r\nHost: x\r\n\r\n";
  CHECK_EQ_INT(SSL_write(ssl, req, sizeof req - 1), (int)(sizeof req - 1));
  CHECK_EQ_INT(frag_flush(fd, net), 0);
  static char body[40000];
  size_t got = 0;
  for (int i = 0; i < 1000 && ok; i++) {
    int r = SSL_read(ssl, body + got, (int)(sizeof body - got));
    if (r > 0) {
      got += (size_t)r;
      char *e = memmem(body, got, "\r\n\r\n", 4);
      if (e && got - (size_t)(e + 4 - body) >= 20000)
        break;
      continue;
    }
    if (SSL_get_error(ssl, r) != SSL_ERROR_WANT_READ || frag_fill(fd, net) < 0)
      break;
  }
  char *e = memmem(body, got, "\r\n\r\n", 4);
  CHECK(e != NULL && strncmp(body, "HTTP/1.1 200 OK\r\n", 17) == 0);
  if (e) {
    CHECK_EQ_INT(got - (size_t)(e + 4 - body), 20000);
    CHECK(is_pattern((unsigned char *)e + 4, 20000));
  }
  SSL_free(ssl);
  BIO_free(net);
  close(fd);
  tls_client_free(&cl);
}

static void test_https(void) {
  rf_server *s = start(true, 0, 0);
  const char *pem = rf_server_cert_pem(s);
  CHECK(pem && strncmp(pem, "-----BEGIN CERTIFICATE-----", 27) == 0);
  test_https_version(s, TLS1_3_VERSION);
  test_https_version(s, TLS1_2_VERSION);
  test_tls_fragmented(s);
  rf_server_stop(s);
}

/* Plain HTTP to the TLS port: an alert and a close, nothing counted. */
static void test_tls_garbage(void) {
  rf_server *s = start(true, 0, 0);
  tconn *t = tc_plain(s);
  CHECK_EQ_INT(tc_sends(t, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  for (int i = 0; i < 10 && !at_eof(t); i++)
    t->pos = t->len; /* the alert, then EOF */
  tc_close(t);
  CHECK_EQ_INT(rf_server_requests(s), 0);
  rf_server_stop(s);
}

/* ---- servers, capacity, stop, concurrency -------------------------------------------- */

static void test_two_servers(void) {
  rf_server *a = start(false, 0, 0), *b = start(true, 0, 0);
  CHECK(rf_server_port(a) != rf_server_port(b));
  CHECK(rf_server_cert_pem(a) == NULL);
  tconn *t = tc_plain(a);
  resp r;
  CHECK_EQ_INT(get(t, "/?size=3", &r), 0);
  CHECK_EQ_SPAN(r.body, r.body_len, "abc");
  resp_free(&r);
  tc_close(t);
  tls_client cl;
  tls_client_init(&cl, rf_server_cert_pem(b), TLS1_3_VERSION);
  t = tls_open(b, &cl, "localhost", false);
  CHECK(t != NULL);
  if (t) {
    CHECK_EQ_INT(get(t, "/", &r), 0);
    CHECK_EQ_SPAN(r.body, r.body_len, "ok\n");
    resp_free(&r);
    tc_close(t);
  }
  tls_client_free(&cl);
  CHECK_EQ_INT(rf_server_requests(a), 1);
  CHECK_EQ_INT(rf_server_requests(b), 1);
  CHECK_EQ_INT(rf_server_connections(a), 1);
  CHECK_EQ_INT(rf_server_connections(b), 1);

  /* the same port twice: a clear error */
  rf_server_opts o = {.port = rf_server_port(a)};
  rf_server *c = NULL;
  char err[256] = "";
  int rc = rf_server_start(&o, &c, err, sizeof err);
  CHECK_EQ_INT(rc, -EADDRINUSE);
  CHECK(c == NULL);
  CHECK(strstr(err, "127.0.0.1") != NULL);
  rf_server_stop(a);
  rf_server_stop(b);
  rf_server_stop(NULL);
}

static void test_capacity(void) {
  /* more than the open-files limit: refused with a message */
  rf_server_opts o = {.max_conns = 100000000};
  rf_server *s = NULL;
  char err[256] = "";
  CHECK(rf_server_start(&o, &s, err, sizeof err) < 0);
  CHECK(s == NULL);
  CHECK(strstr(err, "max_conns") != NULL);

  /* at max_conns, the next client waits in the backlog until one closes */
  s = start(false, 0, 4);
  tconn *t[5];
  resp r;
  for (int i = 0; i < 4; i++) {
    t[i] = tc_plain(s);
    CHECK_EQ_INT(get(t[i], "/", &r), 0);
    CHECK_EQ_INT(r.status, 200);
    resp_free(&r);
  }
  t[4] = tc_plain(s); /* connected: the kernel's backlog took it */
  CHECK_EQ_INT(tc_sends(t[4], "GET /?size=5 HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  struct pollfd p = {.fd = t[4]->fd, .events = POLLIN};
  CHECK_EQ_INT(poll(&p, 1, 300), 0);
  tc_close(t[0]);
  uint64_t t0 = now_ms();
  CHECK_EQ_INT(read_resp(t[4], &r, false), 0);
  CHECK_EQ_SPAN(r.body, r.body_len, "abcde");
  CHECK(now_ms() - t0 < 1000);
  resp_free(&r);
  for (int i = 1; i < 5; i++)
    tc_close(t[i]);
  CHECK_EQ_INT(rf_server_connections(s), 5);
  rf_server_stop(s);
}

static void test_stop_with_connections(void) {
  rf_server *plain = start(false, 0, 0), *tls = start(true, 0, 0);
  enum { N = 70 };
  int fds[N];
  int n = 0;
  resp r;
  for (int i = 0; i < 10; i++) { /* idle after a request */
    tconn *t = tc_plain(plain);
    CHECK_EQ_INT(get(t, "/", &r), 0);
    resp_free(&r);
    fds[n++] = dup(t->fd);
    tc_close(t);
  }
  const char *reqs[] = {"GET /?delay=10000 HTTP/1.1\r\n\r\n", "GET /?fault=never HTTP/1.1\r\n\r\n",
                        "GET /?size=1073741824 HTTP/1.1\r\n\r\n", /* 1 GiB, not read */
                        "GET /?fault=drip&size=1000 HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\nHost: partial"};
  for (int k = 0; k < 5; k++)
    for (int i = 0; i < 8; i++) {
      int fd = tcp_connect(rf_server_port(plain));
      CHECK(send(fd, reqs[k], strlen(reqs[k]), 0) > 0);
      fds[n++] = fd;
    }
  for (int i = 0; i < 10; i++) /* TLS: connected, no handshake yet */
    fds[n++] = tcp_connect(rf_server_port(tls));
  tls_client cl;
  tls_client_init(&cl, rf_server_cert_pem(tls), TLS1_3_VERSION);
  for (int i = 0; i < 5; i++) { /* TLS: 1 GiB on its way, not read */
    tconn *t = tls_open(tls, &cl, "localhost", true);
    CHECK(t != NULL);
    if (!t)
      continue;
    CHECK_EQ_INT(tc_sends(t, "GET /?size=1073741824 HTTP/1.1\r\n\r\n"), 0);
    fds[n++] = dup(t->fd);
    tc_close(t);
  }
  tls_client_free(&cl);
  usleep(200 * 1000); /* let the server take it all in */
  CHECK_EQ_INT(rf_server_connections(plain), 50);
  CHECK_EQ_INT(rf_server_connections(tls), 15);

  uint64_t t0 = now_ms();
  rf_server_stop(plain);
  rf_server_stop(tls);
  uint64_t dt = now_ms() - t0;
  CHECKF(dt < 1000, "stop took %llu ms", (unsigned long long)dt);

  /* every client sees its connection end */
  static char sink[1 << 16];
  int ended = 0;
  for (int i = 0; i < n; i++) {
    struct timeval tv = {.tv_sec = 1};
    setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (;;) {
      ssize_t k = recv(fds[i], sink, sizeof sink, 0);
      if (k == 0 || (k < 0 && errno == ECONNRESET)) {
        ended++;
        break;
      }
      if (k < 0)
        break;
    }
    close(fds[i]);
  }
  CHECK_EQ_INT(ended, n);
}

/* 1,000 connections at once, each asking for a 500 ms delay. */
static void test_concurrency(void) {
  enum { N = 1000 };
  rf_server *s = start(false, 0, 0);
  struct pollfd *p = calloc(N, sizeof *p);
  size_t *got = calloc(N, sizeof *got);
  bool *sent = calloc(N, sizeof *sent);
  char (*buf)[128] = calloc(N, sizeof *buf);
  static const char req[] = "GET /?delay=500 HTTP/1.1\r\nHost: x\r\n\r\n";
  static const char want[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Type: text/plain\r\n\r\nok\n";
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(rf_server_port(s))};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  uint64_t t0 = now_ms();
  for (int i = 0; i < N; i++) {
    p[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    CHECK(p[i].fd >= 0);
    int rc = connect(p[i].fd, (struct sockaddr *)&a, sizeof a);
    CHECK(rc == 0 || errno == EINPROGRESS);
    p[i].events = POLLOUT;
  }
  int done = 0, bad = 0;
  while (done + bad < N && now_ms() - t0 < 10000) {
    int k = poll(p, N, 100);
    if (k <= 0)
      continue;
    for (int i = 0; i < N; i++) {
      if (!p[i].revents || p[i].fd < 0)
        continue;
      if (!sent[i] && (p[i].revents & POLLOUT)) {
        sent[i] = send(p[i].fd, req, sizeof req - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof req - 1);
        p[i].events = POLLIN;
        continue;
      }
      ssize_t r = recv(p[i].fd, buf[i] + got[i], sizeof buf[i] - got[i], 0);
      if (r > 0)
        got[i] += (size_t)r;
      if (got[i] == sizeof want - 1) {
        if (memcmp(buf[i], want, got[i]) == 0)
          done++;
        else
          bad++;
        close(p[i].fd);
        p[i].fd = -1;
      } else if (r == 0 || (r < 0 && errno != EAGAIN)) {
        bad++;
        close(p[i].fd);
        p[i].fd = -1;
      }
    }
  }
  uint64_t dt = now_ms() - t0;
  CHECK_EQ_INT(done, N);
  CHECK_EQ_INT(bad, 0);
  CHECKF(dt >= 500 && dt < 2000, "%d connections took %llu ms", N, (unsigned long long)dt);
  fprintf(stderr, "test_server: %d concurrent connections with delay=500: %llu ms\n", N,
          (unsigned long long)dt);
  for (int i = 0; i < N; i++)
    if (p[i].fd >= 0)
      close(p[i].fd);
  CHECK_EQ_INT(rf_server_requests(s), N);
  CHECK_EQ_INT(rf_server_connections(s), N);
  free(p);
  free(got);
  free(sent);
  free(buf);
  rf_server_stop(s);
}

static int open_fds(void) {
  int n = 0;
  for (int fd = 0; fd < 1024; fd++)
    if (fcntl(fd, F_GETFD) >= 0)
      n++;
  return n;
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  int fds0 = open_fds();
  rf_server *s = start(false, 0, 0);
  test_basic(s);
  test_keepalive_pipeline(s);
  test_faults(s);
  rf_server_stop(s);
  test_delay();
  test_https();
  test_tls_garbage();
  test_two_servers();
  test_capacity();
  test_stop_with_connections();
  test_concurrency();
  CHECK_EQ_INT(open_fds(), fds0); /* sockets, rings, eventfds: all closed */
  return TU_EXIT();
}
