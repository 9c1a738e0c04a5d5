/* The test server's life (server.h): options, the listening socket, the
 * thread with its ring, stop and free. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

static unsigned nofile_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
    return 1u << 20;
  return rl.rlim_cur > (1u << 20) ? 1u << 20 : (unsigned)rl.rlim_cur;
}

static void *server_main(void *arg) {
  rf_server *s = arg;
  char err[256] = "";
  int rc = srv_ring_setup(s, err, sizeof err);
  pthread_mutex_lock(&s->mu);
  s->init_rc = rc;
  snprintf(s->init_err, sizeof s->init_err, "%s", err);
  s->init_done = true;
  pthread_cond_signal(&s->cv);
  pthread_mutex_unlock(&s->mu);
  if (rc == 0)
    srv_run(s);
  if (s->ring_ok)
    io_uring_queue_exit(&s->ring); /* SINGLE_ISSUER: by the thread that made it */
  s->ring_ok = false;
  return NULL;
}

static void server_free(rf_server *s) {
  if (s->conns) {
    for (uint32_t i = 0; i < s->nconns; i++)
      srv_conn_release(&s->conns[i]);
  }
  free(s->conns);
  free(s->free_idx);
  rf_timers_free(&s->timers);
  free(s->pattern);
  free(s->scratch);
  free(s->rd);
  rf_bufring_free(&s->rx);
  rf_tls_ctx_free(s->tls);
  free(s->cert_pem);
  if (s->lfd >= 0)
    close(s->lfd);
  if (s->efd >= 0)
    close(s->efd);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  free(s);
}

/* -errno with a message naming what failed. */
static int sys_fail(char *err, size_t errlen, const char *what) {
  int rc = -errno;
  snprintf(err, errlen, "%s: %s", what, strerror(errno));
  return rc;
}

static int listen_socket(rf_server *s, char *err, size_t errlen) {
  s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s->lfd < 0)
    return sys_fail(err, errlen, "cannot create the listening socket");
  const int one = 1;
  setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(s->lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* inherited by accepted sockets */
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(s->opts.port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(s->lfd, (struct sockaddr *)&a, sizeof a) < 0) {
    char what[64];
    snprintf(what, sizeof what, "cannot listen on 127.0.0.1:%u", s->opts.port);
    return sys_fail(err, errlen, what);
  }
  if (listen(s->lfd, LISTEN_BACKLOG) < 0)
    return sys_fail(err, errlen, "listen failed");
  socklen_t alen = sizeof a;
  if (getsockname(s->lfd, (struct sockaddr *)&a, &alen) < 0)
    return sys_fail(err, errlen, "getsockname failed");
  s->port = ntohs(a.sin_port);
  return 0;
}

/* How many connections at once: the option, within the open-files limit
 * (the registered file table takes no fds, but the kernel checks its size
 * against the limit). */
static int size_conns(rf_server *s, char *err, size_t errlen) {
  unsigned limit = nofile_limit();
  s->nconns = s->opts.max_conns ? s->opts.max_conns : DEFAULT_MAX_CONNS;
  if (s->nconns <= limit)
    return 0;
  if (s->opts.max_conns) {
    snprintf(err, errlen, "max_conns %u exceeds the open-files limit %u", s->opts.max_conns, limit);
    return -EMFILE;
  }
  s->nconns = limit;
  return 0;
}

/* The connection table, the free slots, the timers and the shared buffers. */
static int alloc_tables(rf_server *s, char *err, size_t errlen) {
  s->conns = calloc(s->nconns, sizeof *s->conns);
  s->free_idx = malloc(sizeof *s->free_idx * s->nconns);
  s->pattern = malloc(PATTERN_LEN);
  s->scratch = malloc(STEP_TLS);
  s->rd = malloc(TLS_READ);
  if (rf_timers_init(&s->timers, s->nconns) < 0 || !s->conns || !s->free_idx || !s->pattern ||
      !s->scratch || !s->rd) {
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  for (uint32_t i = 0; i < s->nconns; i++) /* conns[] is touched only as slots are used */
    s->free_idx[i] = s->nconns - 1 - i;     /* slot 0 first */
  s->nfree = s->nconns;
  for (unsigned i = 0; i < PATTERN_LEN; i++)
    s->pattern[i] = (uint8_t)('a' + i % 26);
  return 0;
}

/* Starts the thread and waits until its ring is set up (or failed). */
static int start_thread(rf_server *s, char *err, size_t errlen) {
  /* The thread takes no signals: they belong to the application's threads. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = -pthread_create(&s->thread, NULL, server_main, s);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc < 0) {
    snprintf(err, errlen, "cannot start the server thread: %s", strerror(-rc));
    return rc;
  }
  s->thread_started = true;
  pthread_mutex_lock(&s->mu);
  while (!s->init_done)
    pthread_cond_wait(&s->cv, &s->mu);
  pthread_mutex_unlock(&s->mu);
  if (s->init_rc < 0) {
    snprintf(err, errlen, "%s", s->init_err);
    pthread_join(s->thread, NULL);
    s->thread_started = false;
  }
  return s->init_rc;
}

static int server_open(rf_server *s, char *err, size_t errlen) {
  int rc;
  if ((rc = size_conns(s, err, errlen)) < 0 || (rc = alloc_tables(s, err, errlen)) < 0)
    return rc;
  if (s->opts.tls && (rc = srv_tls_setup(s, err, errlen)) < 0)
    return rc;
  if ((rc = listen_socket(s, err, errlen)) < 0)
    return rc;
  s->efd = eventfd(0, EFD_CLOEXEC);
  if (s->efd < 0)
    return sys_fail(err, errlen, "eventfd failed");
  return start_thread(s, err, errlen);
}

/* A server with its options and nothing open yet; NULL when out of memory. */
static rf_server *server_new(const rf_server_opts *opts) {
  rf_server *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  if (opts)
    s->opts = *opts;
  s->lfd = s->efd = -1;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  return s;
}

int rf_server_start(const rf_server_opts *opts, rf_server **out, char *err, size_t errlen) {
  char spare[8]; /* the message when the caller wants none */
  bool want_err = err && errlen;
  char *msg = want_err ? err : spare;
  size_t msglen = want_err ? errlen : sizeof spare;
  msg[0] = 0;
  *out = NULL;
  rf_server *s = server_new(opts);
  int rc = s ? server_open(s, msg, msglen) : -ENOMEM;
  if (rc < 0) {
    if (!s)
      snprintf(msg, msglen, "out of memory");
    else
      server_free(s);
    return rc;
  }
  *out = s;
  return 0;
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
