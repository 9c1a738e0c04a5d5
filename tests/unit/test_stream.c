/* rf_stream, a caller's TCP connection on the engine's ring, through the
 * public API against a plain loopback socket of the test: bytes both ways
 * in order (a megabyte out, echoed in pieces), the peer's orderly close, a
 * refused connect, a bad address, and closing with a receive in flight (an
 * ASan build sees any leak or use after free). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/ringfetch.h"
#include "testutil.h"

static int listener(uint16_t *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 4) < 0 ||
      getsockname(fd, (struct sockaddr *)&a, &al) < 0)
    return -1;
  *port = ntohs(a.sin_port);
  return fd;
}

/* Runs the engine until s leaves `from` (or 5 s pass). */
static rf_stream_state run_until_not(rf_engine *e, rf_stream *s, rf_stream_state from) {
  for (int i = 0; i < 500 && rf_stream_get_state(s) == from; i++)
    rf_run(e, 10);
  return rf_stream_get_state(s);
}

/* A megabyte through the stream, echoed back by the test's socket. */
static void echo_round(rf_engine *e, rf_stream *s, int peer) {
  enum { N = 1 << 20 };
  static uint8_t out[N], back[N];
  for (size_t i = 0; i < N; i++)
    out[i] = (uint8_t)(i * 131 + (i >> 9));
  CHECK(rf_stream_send(s, out, N / 2) == 0);
  CHECK(rf_stream_send(s, out + N / 2, N - N / 2) == 0);
  size_t got = 0, echoed = 0;
  uint8_t buf[65536];
  for (int i = 0; i < 20000 && got < N; i++) {
    rf_run(e, 1);
    ssize_t r = recv(peer, buf, sizeof buf, MSG_DONTWAIT);
    if (r > 0) {
      CHECK(send(peer, buf, (size_t)r, 0) == r);
      echoed += (size_t)r;
    }
    const uint8_t *p;
    size_t n = rf_stream_data(s, &p);
    if (n > 4096)
      n = 4096; /* consume in pieces: what is left stays readable */
    memcpy(back + got, p, n);
    rf_stream_consume(s, n);
    got += n;
  }
  CHECK_EQ_INT(echoed, N);
  CHECK_EQ_INT(got, N);
  CHECK(memcmp(out, back, N) == 0);
  CHECK_EQ_INT(rf_stream_unsent(s), 0);
}

int main(void) {
  rf_config cfg;
  rf_config_init(&cfg);
  rf_engine *e;
  char err[256];
  if (rf_engine_new(&cfg, &e, err, sizeof err) < 0) {
    fprintf(stderr, "engine: %s\n", err);
    return 1;
  }
  uint16_t port = 0;
  int lfd = listener(&port);
  CHECK(lfd >= 0);

  rf_stream *s;
  CHECK(rf_stream_open(e, "127.0.0.1", port, &s) == 0);
  CHECK_EQ_INT(run_until_not(e, s, RF_STREAM_CONNECTING), RF_STREAM_OPEN);
  int peer = accept(lfd, NULL, NULL);
  CHECK(peer >= 0);
  echo_round(e, s, peer);
  close(peer); /* the peer closes in order */
  CHECK_EQ_INT(run_until_not(e, s, RF_STREAM_OPEN), RF_STREAM_CLOSED);
  CHECK_EQ_INT(rf_stream_error(s), 0);
  CHECK_EQ_INT(rf_stream_send(s, "x", 1), -EPIPE);
  rf_stream_close(s);

  /* closed with its receive in flight: freed once the cancel completes */
  CHECK(rf_stream_open(e, "[::ffff:127.0.0.1]", port, &s) == 0);
  CHECK_EQ_INT(run_until_not(e, s, RF_STREAM_CONNECTING), RF_STREAM_OPEN);
  peer = accept(lfd, NULL, NULL);
  rf_stream_close(s);
  for (int i = 0; i < 5; i++)
    rf_run(e, 10);
  close(peer);

  /* nobody listens any more: refused */
  close(lfd);
  CHECK(rf_stream_open(e, "127.0.0.1", port, &s) == 0);
  CHECK_EQ_INT(run_until_not(e, s, RF_STREAM_CONNECTING), RF_STREAM_CLOSED);
  CHECK_EQ_INT(rf_stream_error(s), -ECONNREFUSED);
  rf_stream_close(s);

  CHECK_EQ_INT(rf_stream_open(e, "localhost", port, &s), -EINVAL); /* numeric addresses only */

  /* one left open: rf_engine_free closes it */
  CHECK(rf_stream_open(e, "127.0.0.1", 9, &s) == 0);
  rf_engine_free(e);
  return TU_EXIT();
}
