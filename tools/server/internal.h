/* The embedded test server's internals, shared by the files of tools/server/
 * (the interface is server.h).
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
 * way through tls/), so no body ever exists whole; large plain bodies are
 * sent straight from a shared read-only pattern buffer. Delays and drip
 * intervals sit in a timer heap whose earliest deadline bounds the ring wait.
 * One send is in flight per connection at a time: the output buffer is
 * double-buffered so TLS can write while a send runs.
 *
 * The ring mechanics, the timer heap, the growable buffer and the TLS byte
 * transform are the engine's (engine/plumb.h, tls/); the HTTP handling is the
 * server's own and shares nothing with the client's, so that it stays an
 * independent check on it. */
#ifndef RF_TOOLS_SERVER_INTERNAL_H
#define RF_TOOLS_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/plumb.h"
#include "engine/ringfetch.h" /* rf_monotonic_us */
#include "server.h"
#include "tls/tls.h"

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
#define TLS_READ 16384u
#define MAX_DELAY_MS 86400000ull
#define MAX_SIZE (1ull << 40)
#define STOP_DRAIN_US 2000000u

/* user_data: [63..32] connection index, [31..8] the slot's generation,
 * [7..0] operation. The generation makes it unique across slot reuse, so
 * a cancel by user_data can only hit the connection it was meant for. */
enum op { OP_ACCEPT = 1, OP_RECV, OP_SEND, OP_SOCKOPT, OP_CLOSE, OP_WAKE, OP_IGNORE };
#define NO_CONN 0xffffffffu

/* fault=NAME (faults.c); F_NONE is no fault */
enum fault { F_NONE, F_DRIP, F_RESET, F_CLOSE, F_BAD_STATUS, F_HUGE, F_BAD_CHUNK, F_WRONG_LENGTH, F_NEVER };

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

typedef struct conn {
  uint32_t idx; /* == the direct descriptor's slot */
  uint32_t gen; /* uses of the slot */
  uint8_t state, phase;
  uint16_t ops; /* SQEs without their CQE yet */
  bool recv_inflight, send_inflight, send_ext, on_nobuf;
  bool peer_eof, discard_input, stalled, hs_done;
  bool close_when_drained, reset_when_drained;
  rf_tls *tls;
  /* requests */
  rf_buf rb; /* unparsed plaintext (partial head, or behind a full queue) */
  uint64_t body_left; /* request body bytes still to discard */
  req q[REQ_QUEUE];
  uint8_t qhead, qn;
  /* the response to q[qhead] */
  uint64_t off, limit; /* body bytes produced / to produce */
  uint32_t fill_left;
  /* output: out[fill] is written, out[!fill] is being sent */
  rf_buf out[2];
  uint8_t fill;
  size_t sent;
  rf_timer timer; /* in µs */
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

  rf_tls_ctx *tls;
  char *cert_pem;

  /* owned by the server thread */
  struct io_uring ring;
  bool ring_ok;
  rf_bufring rx;
  conn *conns;
  uint32_t nconns;
  uint32_t *free_idx;
  uint32_t nfree;
  uint32_t accepts;
  uint64_t accept_retry_us;
  rf_timers timers;
  conn *nobuf;
  uint64_t now_us;
  uint64_t inflight;
  uint64_t wake_val;
  bool stopping;
  uint8_t *pattern, *scratch, *rd;
};

/* loop.c: the ring, connections, timers */
int srv_ring_setup(rf_server *s, char *err, size_t errlen);
void srv_run(rf_server *s);                    /* until stopped, then every operation drained */
void srv_conn_close(rf_server *s, conn *c, bool reset); /* reset: RST instead of FIN */
void srv_conn_release(conn *c);                /* frees what a connection holds */
void srv_timer_set(rf_server *s, conn *c, uint64_t due_us);
void srv_timer_clear(rf_server *s, conn *c);

/* http.c: requests in, responses out */
void srv_on_plain(rf_server *s, conn *c, const uint8_t *p, size_t n); /* request bytes */
void srv_on_eof(rf_server *s, conn *c);
void srv_start_next(rf_server *s, conn *c);    /* the queue head's response, when due */
void srv_response_done(rf_server *s, conn *c);
bool srv_zero_copy_ok(const conn *c);          /* the body may go straight from the pattern */
bool srv_produce_step(rf_server *s, conn *c);  /* false: out of memory or TLS failed */
void srv_body_copy(rf_server *s, const req *r, uint64_t off, uint8_t *dst, size_t n);

/* faults.c: the misbehaviours a request can ask for */
int srv_fault_named(const char *v, size_t n);  /* enum fault, or -1 */
void srv_fault_on_request(req *r);             /* framing a fault needs */
void srv_fault_start(conn *c, const req *r);   /* how much body, which phase first */
bool srv_fault_resets(const req *r);           /* the connection ends with an RST */
bool srv_fault_closes(const req *r);           /* ... or closes after the response */
bool srv_fault_plain_body(const req *r);       /* the body goes out as it is */
size_t srv_fault_status_line(const req *r, char *p, size_t cap); /* 0: none */
uint64_t srv_fault_length(const req *r);       /* the Content-Length to announce */
bool srv_fault_fill_start(conn *c, const req *r); /* huge headers follow the head */
uint8_t *srv_fault_fill(conn *c, uint8_t *p, const uint8_t *end); /* c->fill_left lines */
bool srv_fault_drip_start(rf_server *s, conn *c, const req *r); /* the first byte waits */
/* The body under a body fault (bad-chunk, drip), or NULL when there is none. */
uint8_t *srv_fault_body(rf_server *s, conn *c, const req *r, uint8_t *p, uint8_t *end);

/* cert.c: the certificate, the TLS context, a connection's TLS bytes */
int srv_tls_setup(rf_server *s, char *err, size_t errlen);
bool srv_tls_open(rf_server *s, conn *c);      /* false: out of memory */
void srv_tls_input(rf_server *s, conn *c, const uint8_t *p, size_t n); /* ciphertext */
bool srv_tls_write(conn *c, const uint8_t *p, size_t n); /* plaintext out, encrypted */

#endif
