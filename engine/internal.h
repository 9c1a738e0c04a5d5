/* Engine internals shared by the files of engine/. Not installed. */
#ifndef RF_ENGINE_INTERNAL_H
#define RF_ENGINE_INTERNAL_H

#include <liburing.h>
#include <netinet/in.h>
#include <openssl/sha.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "engine/plumb.h"
#include "engine/ringfetch.h"
#include "proto/request.h"
#include "proto/response.h"
#include "proto/url.h"
#include "tls/tls.h"

#define RF_CONTAINER(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* ---- clock --------------------------------------------------------------- */
uint64_t rf_now_us(void); /* CLOCK_MONOTONIC */

/* ---- timers (engine/plumb.h): the engine's deadlines are in ms ----------
 * The kind says which struct embeds the timer, so an expiry reaches its owner. */
enum rf_timer_kind {
  RF_TIMER_CONN = 0, /* rf_conn.timer: connect, read, idle, max_time, TLS warm-up */
  RF_TIMER_REQ,      /* rf_req.timer: a retry's back-off */
  RF_TIMER_ORIGIN,   /* rf_origin.timer: its rate spacing or Retry-After pause ends */
};

/* ---- operation tags in user_data -----------------------------------------
 * [63..32] object index, [31..8] generation, [7..0] op kind */
enum rf_op {
  OP_NONE = 0,
  OP_SOCKET,
  OP_SOCKOPT,
  OP_CONNECT,
  OP_SEND,
  OP_RECV,
  OP_CANCEL,
  OP_CLOSE,
  OP_FILE_OPEN, /* index = result slot */
  OP_FILE_WRITE,
  OP_FILE_CLOSE,
  OP_DNS_POLL,  /* index = fd */
  OP_DNS_POLL_REMOVE,
  OP_OUT_WRITE, /* index = rf_outfile id */
  OP_STREAM_CONNECT, /* index = rf_stream id (stream.c) */
  OP_STREAM_SEND,
  OP_STREAM_RECV,
  OP_IGNORE,
  OP_WAKE,      /* the read on the rf_wake eventfd */
};

static inline uint64_t rf_ud(uint32_t idx, uint32_t gen, enum rf_op op) {
  return ((uint64_t)idx << 32) | ((uint64_t)(gen & 0xffffff) << 8) | (uint64_t)op;
}
static inline uint32_t rf_ud_idx(uint64_t ud) { return (uint32_t)(ud >> 32); }
static inline uint32_t rf_ud_gen(uint64_t ud) { return (uint32_t)(ud >> 8) & 0xffffff; }
static inline enum rf_op rf_ud_op(uint64_t ud) { return (enum rf_op)(ud & 0xff); }

/* ---- body sink: where a response body goes ------------------------------ */
typedef struct rf_chunk {
  struct rf_chunk *next;
  size_t len, off;
  uint8_t data[];
} rf_chunk;

/* A FIFO of chunks waiting for a write: appended at the tail, written from
 * the head. bytes counts what is queued and not yet written. */
typedef struct rf_chunks {
  rf_chunk *head, *tail;
  size_t bytes;
} rf_chunks;

#define RF_CHUNK_SIZE 65536u
int rf_chunks_append(rf_chunks *q, const void *p, size_t n); /* 0 or -ENOMEM */
void rf_chunks_consumed(rf_chunks *q, size_t n); /* n bytes of the head were written */
void rf_chunks_drop(rf_chunks *q);

/* Small objects that come and go by the thousand (nghttp2's streams, frames
 * and header buffers, our HTTP/2 stream structs): free lists by 32-byte size
 * class up to RF_SMEM_MAX bytes, each keeping at most RF_SMEM_KEEP freed
 * chunks (bounded memory); bigger ones go to malloc. One per engine, used
 * from its thread only. rf_smem_free(NULL) and a NULL pool are fine. */
#define RF_SMEM_CLASS 32u
#define RF_SMEM_MAX 1024u
#define RF_SMEM_KEEP 512u
typedef struct rf_smem {
  void *free[RF_SMEM_MAX / RF_SMEM_CLASS + 1];
  unsigned nfree[RF_SMEM_MAX / RF_SMEM_CLASS + 1];
} rf_smem;
void *rf_smem_alloc(rf_smem *m, size_t size);
void *rf_smem_calloc(rf_smem *m, size_t n, size_t size);
void *rf_smem_realloc(rf_smem *m, void *p, size_t size);
void rf_smem_free(rf_smem *m, void *p);
void rf_smem_drop(rf_smem *m); /* gives every kept chunk back to malloc */

typedef struct rf_sink {
  rf_body_mode mode;
  bool hash;
  uint64_t bytes;
  uint64_t limit;      /* 0 = none */
  /* memory */
  rf_buf mem;
  /* file / fd */
  int fd;              /* -1 until opened (file mode) */
  bool own_fd;         /* opened by us: closed at the end */
  bool opening, write_inflight, closing, finished, failed;
  uint64_t file_off;
  rf_chunks out;        /* file / fd: chunks not yet written */
  int err;             /* -errno of the first failure */
  SHA256_CTX sha;      /* last: rf_sink_reset leaves it (rf_sink_open sets it up when hash) */
} rf_sink;

/* Engine-made requests (robots.txt): never delivered to the caller. */
#define RF_REQ_INTERNAL (1u << 31)

/* ---- submitted request -----------------------------------------------------
 * Lives from rf_submit to rf_result_release, across every attempt (retries)
 * and hop (redirects); an attempt's state is in its rf_slot. */
typedef struct rf_req {
  struct rf_req *next;
  uint64_t tag;
  char *url0;       /* the submitted URL, NUL-terminated copy */
  size_t url0_len;
  char *url;        /* the current hop: url0 or the last redirect's location */
  size_t url_len;
  rf_url u;         /* spans into url */
  char method[33];
  bool head;
  rf_hdr_in *hdrs;
  size_t n_hdrs;
  uint8_t *body;
  size_t body_len;
  unsigned connect_timeout_ms, read_timeout_ms, max_time_ms;
  rf_body_mode body_mode;
  char *body_path;
  int body_fd;
  unsigned flags;
  rf_error pre_error; /* set at submit: fails without touching the network */
  const char *pre_msg;
  uint64_t t_submit;
  uint64_t t_first_start; /* the first attempt started (retry_max_time counts from it) */
  struct rf_origin *origin;
  rf_timer timer;     /* RF_TIMER_REQ: waiting to be retried */
  unsigned attempts;  /* attempts started, silent resends not counted */
  bool resent;        /* resent once after a reused connection closed under it */
  unsigned fd_waits;  /* times it waited for a free file descriptor (EMFILE/ENFILE) */
  bool canceled;      /* rf_cancel_all: ends as RF_ERR_CANCELED at its next step */
  uint64_t body_limit;/* the body's size limit, 0 = the engine's */
  struct rf_origin *robots_for; /* RF_REQ_INTERNAL: the origin whose robots.txt this is */
  uint8_t refused;    /* times an HTTP/2 server refused it unprocessed (REFUSED_STREAM,
                         GOAWAY): sent again each time, up to RF_H2_REFUSED_MAX */
  bool fresh_conn;    /* resent after a stale keep-alive, or RF_REQ_NEW_CONN: never
                         an idle or pipelined connection */
  /* redirects: hop i went to redirs[i].location (owned); url is the last */
  unsigned max_redirects;
  rf_redirect *redirs;
  unsigned nredirs, capredirs;
  unsigned loop_from; /* hops from here on were requested with the current method
                         (index into url0, redirs[0], redirs[1], ...) */
  /* rf_submit_prepared: url0, hdrs, body and body_path are the prepared
   * request's (shared, never written), except hdrs once hdrs_own */
  struct rf_prepared *prep;
  bool hdrs_own;      /* a redirect dropped headers: hdrs is this request's own array */
} rf_req;

/* rf_prepare: a request built and checked once (proto), submitted many times.
 * Reference counted: the caller's reference plus one per live request. */
struct rf_prepared {
  rf_req proto;       /* owns the URL, headers, body and body path */
  unsigned refs;
  rf_buf head;        /* the request head as last rendered, reused while the key holds */
  unsigned head_key;  /* close | absolute-form << 1 */
  const char *head_ua, *head_pauth; /* the engine's User-Agent, the proxy's credentials */
};
void rf_prepared_unref(rf_prepared *p);

/* ---- result slot ------------------------------------------------------------- */
enum slot_state { SLOT_FREE = 0, SLOT_RUNNING, SLOT_SINKING, SLOT_DONE, SLOT_HELD };

/* What an attempt's response leads to, decided when its headers arrive: only
 * a DELIVER response's body goes to the sink; the others' bodies are read
 * (to keep the connection) and dropped. */
enum rf_disp {
  DISP_DELIVER = 0, /* this response is the result */
  DISP_FOLLOW,      /* a redirect to slot.next_url */
  DISP_RETRY,       /* a retryable status: again after slot.retry_wait_us */
  DISP_FAIL,        /* a redirect that may not be followed: fails with slot.disp_err */
  DISP_NO_BODY,     /* the result, without its body (RF_REQ_NO_ERROR_BODY) */
};

typedef struct rf_slot {
  rf_result res; /* first: rf_result* <-> rf_slot* */
  /* What every attempt touches follows, packed (a request's slot is touched
   * again when its response arrives, after the other connections' responses
   * have been through the caches); captures and error text come last. */
  uint32_t idx;
  enum slot_state state;
  rf_req *req;
  struct rf_conn *conn;
  struct rf_slot *next; /* free list / done queue */
  char *hbuf;
  rf_hspan *spans;
  rf_header *hdrs;
  rf_error err;
  enum rf_disp disp;
  rf_error disp_err;    /* DISP_FAIL: the error (message already in msg) */
  uint32_t nh, reason_off, reason_len;
  uint32_t nt;            /* trailer fields, after the nh headers in spans */
  unsigned read_ms;         /* the request's read timeout (rf_read_timeout_ms), 0 = none */
  uint32_t conn_id;
  bool active;          /* counted in e->active: sent, not yet answered */
  bool dec_busy, dec_free;/* inside the decoder; free it when it returns */
  bool capturing, cap_trunc; /* RF_REQ_CAPTURE (capture.c) */
  uint64_t t_start;     /* picked by the scheduler */
  uint64_t t_sent;      /* request handed to the socket */
  uint64_t t_first_byte;
  uint64_t max_time_due_ms;
  uint64_t dns_us, connect_us, tls_us;
  uint64_t ev_dns0, ev_dns1, ev_conn0, ev_conn1, ev_tls0, ev_tls1; /* absolute µs */
  char *next_url;       /* DISP_FOLLOW: the resolved Location (owned) */
  size_t next_url_len;
  uint64_t retry_wait_us; /* DISP_RETRY */
  struct rf_decoder *dec; /* undoes the body's codings, or NULL */
  struct rf_h2_stream *h2s; /* its HTTP/2 stream while on an h2 connection (h2.c) */
  rf_sink sink;         /* its hash state last */
  char msg[256];
  /* RF_REQ_CAPTURE (capture.c) */
  rf_buf cap_req, cap_resp;
  uint64_t cap_date_us, cap_payload;
  SHA_CTX cap_sha1;
} rf_slot;

/* ---- origin: (scheme, host, port) ---------------------------------------------- */
enum dns_state { DNS_NONE = 0, DNS_RESOLVING, DNS_OK, DNS_FAILED };
#define RF_MAX_ADDRS 8

/* An HTTP proxy (route.c). */
typedef struct rf_proxy {
  char *host;                        /* lower case, IPv6 without brackets */
  uint16_t port;
  enum rf_host_kind kind;
  char *auth;                        /* "Basic ..." for Proxy-Authorization, or NULL */
  char name[300];                    /* "http://host:port" for messages (no credentials) */
} rf_proxy;

/* An origin is what requests go to (scheme, host, port), with its pools and
 * queues; a route origin only holds the DNS answers for a host:port that
 * other origins' connections dial (a --connect-to target). */
enum origin_kind { ORIGIN_REQUESTS = 0, ORIGIN_ROUTE };

typedef struct rf_origin {
  struct rf_origin *hnext;           /* hash chain */
  enum origin_kind kind;
  struct rf_origin *route;           /* whose addresses its connections dial: itself, or a
                                        route origin (held: route->route_users) */
  unsigned route_users;              /* origins dialling through this one */
  const rf_proxy *proxy;             /* requests go through this proxy (route = the proxy) */
  struct rf_origin *lru_prev, *lru_next; /* unused-origins LRU */
  bool in_lru;
  uint32_t hash;
  char *host;                        /* NUL-terminated, lower case */
  uint16_t port;
  enum rf_scheme scheme;
  enum rf_host_kind host_kind;
  /* DNS */
  enum dns_state dns;
  struct sockaddr_storage addrs[RF_MAX_ADDRS];
  int naddrs;
  uint64_t dns_expiry_ms;
  uint64_t dns_started_us, dns_us;
  rf_error dns_err;
  char dns_msg[128];
  struct rf_conn *dns_waiters;
  struct rf_origin *dns_next;        /* queued for a lookup slot (resolve.c) */
  /* connections */
  unsigned nconns;                   /* open, any state */
  unsigned nactive;                  /* carrying a request or being set up */
  struct rf_conn *idle_head, *idle_tail; /* MRU at head */
  struct rf_conn *pipe_head;         /* busy connections that can take another request */
  unsigned nidle;
  /* requests waiting for a connection of this origin */
  rf_req *wq_head, *wq_tail;
  unsigned nwait;
  struct rf_origin *ready_next;      /* on e->ready_origins */
  bool on_ready;
  rf_tls_cache *tls_cache;
  bool warming;                      /* first TLS handshake in progress: others wait */
  bool warm_off;                     /* a warm-up failed before its handshake did: no more
                                        waiting (one at a time would serialise a dead host) */
  /* HTTP/2: once one connection negotiated h2, waiting requests ride on the
   * origin's h2 connections (pipe_head) and new ones open only as demand
   * exceeds what those being set up will carry */
  bool h2;                           /* a connection to it spoke HTTP/2 */
  unsigned h2_setup;                 /* its connections being set up while h2 is known */
  unsigned h2_max_streams;           /* the server's last SETTINGS_MAX_CONCURRENT_STREAMS */
  unsigned h2_conn_streams;          /* streams one connection takes in its life, learnt from a
                                        GOAWAY that refused some (0 = no limit known) */
  /* politeness: no request starts before max(next_start_us, paused_until_us) */
  rf_timer timer;                    /* RF_TIMER_ORIGIN: that moment, while requests wait */
  uint64_t rate_interval_us;         /* 1 / host rate; 0 = unlimited */
  uint64_t next_start_us;
  uint64_t paused_until_us;          /* Retry-After */
  /* rf_config.robots (robots.c) */
  enum { ROBOTS_NONE = 0, ROBOTS_FETCHING, ROBOTS_READY } robots_state;
  struct rf_robots *robots;          /* the rules, when READY */
  uint64_t robots_expiry_ms;
} rf_origin;

/* ---- connection -------------------------------------------------------------------- */
enum conn_state {
  C_FREE = 0,
  C_RESOLVING,
  C_CONNECTING,
  C_PROXY,   /* through an HTTP proxy: CONNECT sent, waiting for its answer */
  C_TLS,
  C_BUSY,    /* carrying a request */
  C_IDLE,    /* in the origin's keep-alive pool */
  C_CLOSING,
};

typedef struct rf_conn {
  /* ---- kept while the struct is reused for other sockets ---- */
  rf_engine *e;
  uint32_t idx, gen;
  rf_buf tx[2];          /* transmit: bytes accumulate in tx[fill] while tx[!fill] is sent;
                            small buffers are kept for the next use */
  /* ---- one use (one socket): rf_conn_alloc zeroes everything from here ----
   * What each request on the connection touches comes first, packed (the
   * engine comes back to a connection once per response, after the kernel
   * and the other connections have been through the caches: fewer lines,
   * fewer misses); what a connection's setup or an error needs follows. */
  enum conn_state state;
  int fd;                /* fixed-file index (== idx) or plain fd */
  unsigned ops;          /* operations in flight on the ring */
  unsigned depth;        /* requests on the connection: slot + pipelined */
  int fill;
  int held_bid;          /* provided buffer kept while TLS input is paused, -1 none */
  bool send_inflight;
  /* receive */
  bool recv_inflight, on_nobuf, paused;
  bool recv_multi;       /* the receive in flight is multishot (stays armed, many CQEs) */
  bool recv_stopping;    /* ... and its cancel is on the way */
  bool recv_drained;     /* the last receive left the socket empty */
  bool reused;           /* has carried a request before the current one */
  bool eof;
  bool has_socket, close_done;
  bool junk;             /* bytes nobody asked for arrived: never reuse */
  bool close_notify;     /* the TLS peer said it closes (not just a transport EOF) */
  bool warmer;           /* the connection that warms its origin's TLS sessions */
  bool single;           /* carries one RF_REQ_NEW_CONN request, closed after it */
  bool on_pipe;          /* on the origin's list of connections with pipeline room */
  bool h2_setup;         /* counted in origin->h2_setup */
  uint32_t id;           /* unique per engine: trace tracks */
  size_t send_off;
  rf_origin *origin;
  rf_slot *slot;         /* the request whose response is being read */
  rf_slot *pl_head, *pl_tail; /* pipelined requests sent after it, in order (slot->next) */
  rf_tls *tls;
  struct rf_h2 *h2;      /* HTTP/2 session (h2.c), or NULL for HTTP/1.1 */
  struct rf_conn *pnext, *pprev;     /* origin idle list */
  struct rf_conn *gnext, *gprev;     /* engine idle LRU */
  rf_timer timer;
  uint64_t phase_due_ms; /* the phase deadline folded into the timer */
  uint64_t he_due_ms;    /* Happy Eyeballs primary: start the next racer at this time */
  char addr_str[56];     /* addr as "ip:port" / "[ip6]:port" (at most 54 bytes with a v4-mapped
                            address), formatted once per connect, copied into every result */
  rf_resp resp;          /* its hot part first (proto/response.h) */
  /* ---- set-up, lists and errors ---- */
  struct rf_conn *next;              /* free list / dns waiters / nobuf list */
  struct rf_conn *pnext2, *pprev2; /* origin's list of connections with pipeline room */
  uint64_t warm_due_ms;  /* stop making others wait for its ticket at this time */
  /* Happy Eyeballs: a primary (the connection a request waits on) races
   * racers to the other addresses of its route; the first to connect carries
   * the request, the others close */
  struct rf_conn *primary;           /* a racer's primary; NULL for a primary */
  struct rf_conn *racers, *rnext;    /* a primary's racers, linked by rnext */
  int next_addr;                     /* primary: index of the next address to try */
  int connect_err;                   /* primary: its own attempt failed (-errno); racers go on */
  struct sockaddr_storage addr; /* the kernel may read it until connect completes */
  socklen_t addrlen;
  uint64_t t_setup_start, t_connect_start, t_tls_start;
} rf_conn;

const char *rf_conn_state_name(enum conn_state st);

/* ---- c-ares glue ---------------------------------------------------------------- */
typedef struct rf_resolver rf_resolver;

/* ---- engine ----------------------------------------------------------------------- */
struct rf_engine {
  rf_config cfg;
  char *user_agent;
  rf_host_rate *host_rates; /* our copy of cfg.host_rates */
  struct rf_connect_to *connect_to; /* parsed cfg.connect_to (route.c) */
  size_t n_connect_to;
  rf_proxy *proxy[2];      /* per scheme (RF_SCHEME_HTTP, _HTTPS), NULL = direct */
  char *no_proxy;
  struct io_uring ring;
  unsigned ring_flags;
  int wake_fd;             /* eventfd written by rf_wake (any thread), -1 if none */
  bool wake_armed;         /* a read on wake_fd is in the ring */
  uint64_t wake_val;       /* its buffer */
  bool direct;             /* sockets as direct descriptors */
  bool nodelay_cmd;        /* URING_CMD setsockopt works */
  uint64_t now_us;
  uint64_t now_ms;
  uint64_t area_t_us;      /* when the in-flight integral was last advanced */
  rf_bufring rx;           /* provided receive buffers */
  bool multishot;       /* receives may be multishot (6.0+; off after an EINVAL) */
  bool poll_first;       /* receives may ask to wait for data first (5.19+) */
  rf_conn *nobuf_head;     /* connections waiting for a receive buffer */
  /* connections */
  rf_conn *conns;
  uint32_t max_conns;
  rf_conn *free_conns;
  uint32_t conns_used;     /* conns[0..conns_used) have been used: the rest are untouched
                              zero pages (max_idle may allow many more than a run needs) */
  unsigned open_conns;
  unsigned inflight;       /* requests bound to connections */
  unsigned active;         /* of those, sent and not yet answered */
  uint32_t conn_seq;
  uint64_t epoch_us;       /* rf_events are relative to this */
  rf_conn *idle_lru_head, *idle_lru_tail; /* LRU at tail? MRU at head */
  unsigned nidle;
  /* origins */
  rf_origin **otab;
  uint32_t otab_mask;
  unsigned norigins;
  rf_origin *olru_head, *olru_tail;  /* unused origins, oldest at head */
  unsigned nolru;
  rf_origin *ready_origins;
  /* requests */
  rf_req *q_head, *q_tail;
  rf_req *q_unstamped;     /* the first of the global queue's tail submitted since the last
                              turn: stamped with the next turn's clock (no read per request) */
  unsigned queued;         /* in the global queue + origin wait queues */
  /* results */
  rf_slot *slots;
  uint32_t nslots;
  uint8_t *slot_mem;       /* header storage of every slot (one mapping) */
  size_t slot_mem_len;
  rf_slot *free_slots;
  rf_slot *done_head, *done_tail;
  unsigned ndone;
  size_t outstanding;
  /* subsystems */
  rf_timers timers;
  rf_tls_ctx *tls;
  rf_resolver *dns;
  uint8_t *scratch;        /* TLS plaintext */
  rf_buf headbuf;          /* a request head being written (not a prepared one's) */
  rf_req *req_pool;        /* freed request structs kept for reuse (no malloc per request) */
  unsigned req_pool_n;
  bool h2_batch;           /* rf_schedule runs: HTTP/2 requests wait to go out together */
  rf_conn *h2_batched;     /* connections with requests waiting to go out (h2.c) */
  rf_smem smem;            /* HTTP/2's small objects (h2.c, nghttp2) */
  size_t scratch_size;
  uint64_t rng;            /* retry jitter */
  char *robots_agent;       /* our copy of cfg.robots_agent */
  struct rf_outfile **outfiles; /* by id (outfile.c) */
  uint32_t noutfiles;
  struct rf_stream **streams;   /* by id (stream.c) */
  uint32_t nstreams;
  rf_stats st;
};

/* ring.c */
int rf_ring_setup(rf_engine *e, char *err, size_t errlen);
void rf_ring_teardown(rf_engine *e);
static inline struct io_uring_sqe *rf_sqe(rf_engine *e) { return rf_uring_sqe(&e->ring); }
static inline void rf_sqe_reserve(rf_engine *e, unsigned n) { rf_uring_reserve(&e->ring, n); }
static inline void rf_buf_recycle(rf_engine *e, int bid) { rf_bufring_recycle(&e->rx, bid); }
static inline void rf_buf_flush(rf_engine *e) { rf_bufring_flush(&e->rx); }
static inline uint8_t *rf_buf_ptr(rf_engine *e, int bid) { return rf_bufring_ptr(&e->rx, bid); }

/* conn.c */
void rf_conn_start_new(rf_engine *e, rf_origin *o, rf_slot *s);
void rf_conn_assign(rf_engine *e, rf_conn *c, rf_slot *s);
void rf_conn_pipeline(rf_engine *e, rf_conn *c, rf_slot *s); /* s rides on busy c */
void rf_conn_on_cqe(rf_engine *e, rf_conn *c, enum rf_op op, int res, unsigned flags);
void rf_conn_on_timer(rf_engine *e, rf_conn *c);
/* The request on c ends while c is being set up: the phase c was in ends
 * now in the request's events (a failure shows where its time went). */
void rf_conn_setup_ended(rf_engine *e, rf_conn *c, rf_slot *s);
void rf_conn_dns_done(rf_engine *e, rf_conn *c);
void rf_conn_resume(rf_engine *e, rf_conn *c);    /* sink drained: read again */
void rf_conn_close(rf_engine *e, rf_conn *c);
void rf_conn_arm_recv(rf_engine *e, rf_conn *c);

/* conn.c, for h2.c: plaintext to the server (encrypted for TLS) and the send */
int rf_conn_write(rf_engine *e, rf_conn *c, const void *p, size_t n); /* 0, or -1: c failed */
void rf_conn_flush(rf_engine *e, rf_conn *c);
bool rf_req_lean(const rf_engine *e, const rf_req *q); /* RF_REQ_NO_HEADERS applies */
unsigned rf_read_timeout_ms(const rf_engine *e, const rf_slot *s); /* s's, or the engine's */
void rf_conn_pipe_update(rf_engine *e, rf_conn *c); /* room for another request changed */
void rf_conn_arm_timer(rf_engine *e, rf_conn *c);  /* a deadline of its requests changed */
/* c's HTTP/2 room is known (SETTINGS came, it spoke HTTP/1.1, it closed): it
 * no longer counts in origin->h2_setup */
void rf_conn_h2_known(rf_engine *e, rf_conn *c);
/* The request head as HTTP/1.1 would send it on c (-> rf_http_write_head) */
/* q's request head for c (a prepared request's cached one, or rendered into
 * e->headbuf; valid until the next call): its length, -EINVAL (a bad
 * request, *err says why) or -ENOMEM. */
long rf_conn_request_head(rf_engine *e, const rf_conn *c, const rf_req *q, const uint8_t **head,
                          const char **err);
void rf_conn_sent(rf_engine *e, rf_slot *s);      /* s's request went out: sent, active */
/* c and its requests fail (an h2 connection: every stream) and c closes */
void rf_conn_fail(rf_engine *e, rf_conn *c, rf_error err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* h2.c: HTTP/2 on a connection, nghttp2 fed through its memory callbacks.
 * Streams are the connection's requests; c->slot stays NULL once h2 runs. */
#define RF_H2_REFUSED_MAX 16
bool rf_h2_wanted(const rf_engine *e, const rf_conn *c); /* ALPN said h2, or h2c by config */
int rf_h2_start(rf_engine *e, rf_conn *c);        /* session and preface; -ENOMEM */
void rf_h2_submit(rf_engine *e, rf_conn *c, rf_slot *s); /* s goes out as a new stream */
bool rf_h2_has_room(const rf_conn *c);            /* may take another stream now */
void rf_h2_recv(rf_engine *e, rf_conn *c, const uint8_t *p, size_t n); /* plaintext in */
void rf_h2_unhook(rf_engine *e, rf_conn *c, rf_slot *s); /* s ended early: reset its stream */
void rf_h2_sink_drained(rf_engine *e, rf_conn *c, rf_slot *s); /* window back for s */
/* Every stream's request ends: resent when nothing of its response came and
 * the connection closed (err closed/reset), else failed with err. */
void rf_h2_fail_all(rf_engine *e, rf_conn *c, rf_error err, const char *msg);
void rf_h2_on_timer(rf_engine *e, rf_conn *c);    /* streams past their max_time fail */
uint64_t rf_h2_next_due_ms(const rf_conn *c);     /* earliest stream max_time, 0 = none */
bool rf_h2_held(const rf_conn *c);                /* a stream waits for its slow sink */
void rf_h2_free(rf_conn *c);                      /* NULL h2 is OK */
void rf_h2_flush_batch(rf_engine *e);             /* sends what rf_schedule submitted */

/* result.c: a slot's life (the result itself is delivered by outcome.c) */
rf_slot *rf_slot_alloc(rf_engine *e, rf_req *q);  /* NULL when every slot is held */
void rf_slot_fail(rf_engine *e, rf_slot *s, rf_error err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));        /* the attempt failed; the first failure wins */
void rf_slot_response_done(rf_engine *e, rf_slot *s); /* the response is complete */
void rf_slot_abandon(rf_engine *e, rf_slot *s);   /* stop reading a response nobody needs */
void rf_slot_detach(rf_engine *e, rf_slot *s);    /* no longer on a connection */
void rf_slot_release(rf_engine *e, rf_slot *s);   /* give the slot back, the request lives on */
void rf_slot_deliver(rf_engine *e, rf_slot *s);   /* result ready for the consumer */
int rf_slots_init(rf_engine *e);
void rf_slots_free(rf_engine *e);

/* outcome.c: the one place that decides deliver / retry / redirect */
void rf_outcome_headers(rf_engine *e, rf_slot *s, const rf_resp *r); /* sets s->disp */
void rf_outcome_settle(rf_engine *e, rf_slot *s);  /* attempt over, its sink idle */
/* s was sent on a connection that closed before answering it (a stale
 * keep-alive, or pipelined behind a response that closed the connection):
 * s must be detached. fresh_conn: resend it on a new connection only. */
void rf_outcome_unanswered(rf_engine *e, rf_slot *s, bool fresh_conn, rf_error err, const char *msg);
void rf_outcome_on_timer(rf_engine *e, rf_req *q); /* its back-off is over */
/* An HTTP/2 server refused s's stream unprocessed (REFUSED_STREAM, or above
 * a GOAWAY's last stream): s (detached) goes again, up to RF_H2_REFUSED_MAX. */
void rf_outcome_refused(rf_engine *e, rf_slot *s, const char *msg);

/* sched.c */
void rf_schedule(rf_engine *e);
void rf_requeue_origin_front(rf_engine *e, rf_req *q); /* first in its origin's queue */
void rf_requeue_global_front(rf_engine *e, rf_req *q); /* first in the global queue */
void rf_requeue_origin_by_age(rf_engine *e, rf_req *q); /* in its origin's queue before those
                                                         submitted after it */
void rf_stamp_submitted(rf_engine *e);            /* the unstamped tail gets e->now_us */
void rf_req_free(rf_engine *e, rf_req *q);        /* NULL is OK; the struct may be kept for reuse */
rf_req *rf_req_alloc(rf_engine *e);               /* zeroed; NULL when out of memory */
rf_req *rf_req_take(rf_engine *e);                /* as rf_req_alloc, not zeroed: for a whole copy */
rf_origin *rf_origin_for(rf_engine *e, const rf_url *u); /* made when new; NULL: no memory */
int rf_origins_init(rf_engine *e);
void rf_origins_free(rf_engine *e);
void rf_origin_pause(rf_engine *e, rf_origin *o, uint64_t until_us); /* Retry-After */
void rf_origin_on_timer(rf_engine *e, rf_origin *o);
void rf_conn_released(rf_engine *e, rf_conn *c);  /* conn freed or idle: capacity back */
void rf_origin_touch(rf_engine *e, rf_origin *o); /* maybe unused now */
void rf_origin_unblock(rf_engine *e, rf_origin *o); /* waiting requests may go now */
void rf_idle_add(rf_engine *e, rf_conn *c);
void rf_idle_remove(rf_engine *e, rf_conn *c);
bool rf_conn_available(const rf_engine *e);
rf_conn *rf_conn_alloc(rf_engine *e);             /* rf_conn_available() said yes */
void rf_conn_free(rf_engine *e, rf_conn *c);

/* route.c: where an origin's connections dial */
int rf_routes_init(rf_engine *e, char *err, size_t errlen);
void rf_routes_free(rf_engine *e);
void rf_route_for(const rf_engine *e, const char *host, uint16_t port, const char **dial_host,
                  uint16_t *dial_port);
enum rf_host_kind rf_host_kind_of(const char *host); /* an IP literal (no brackets) or a name */
int rf_proxies_init(rf_engine *e, char *err, size_t errlen);
/* The proxy requests of that scheme to that host go through, or NULL. */
const rf_proxy *rf_proxy_for(const rf_engine *e, enum rf_scheme scheme, const char *host, enum rf_host_kind kind);

/* resolve.c */
int rf_resolver_new(rf_engine *e, rf_resolver **out, char *err, size_t errlen);
void rf_resolver_free(rf_resolver *r);
/* Starts (or finishes at once) resolution of o; rf_origin_resolved is called
 * exactly once when done, possibly before this returns. */
void rf_resolve(rf_engine *e, rf_origin *o);
void rf_resolver_on_cqe(rf_engine *e, uint64_t ud, int res);
void rf_resolver_tick(rf_engine *e);              /* c-ares timeouts */
uint64_t rf_resolver_next_ms(rf_engine *e);      /* ms until c-ares wants a tick */
void rf_origin_resolved(rf_engine *e, rf_origin *o);
int rf_parse_addr(const char *s, uint16_t port, struct sockaddr_storage *ss);

/* capture.c: the raw tap */
void rf_capture_request(rf_engine *e, rf_slot *s, const void *head, size_t n); /* + the body */
void rf_capture_response(rf_engine *e, rf_slot *s, const void *p, size_t n);
void rf_capture_unkeep(rf_slot *s, size_t n);      /* the last n bytes were the next response's */
void rf_capture_payload(rf_slot *s, const void *p, size_t n); /* de-chunked body bytes */
void rf_capture_end(rf_engine *e, rf_slot *s);     /* the attempt ended: on_exchange */
void rf_capture_free(rf_slot *s);

/* robots.c */
enum rf_robots_verdict { ROBOTS_GO, ROBOTS_WAIT, ROBOTS_DENY };
/* May q start at o? WAIT starts the fetch of o's robots.txt when needed. */
enum rf_robots_verdict rf_robots_check(rf_engine *e, rf_origin *o, const rf_req *q);
void rf_robots_done(rf_engine *e, rf_slot *s);    /* the robots.txt request ended */

/* outfile.c */
void rf_outfile_on_cqe(rf_engine *e, uint32_t id, int res);
void rf_outfiles_free(rf_engine *e);

/* stream.c */
void rf_stream_on_cqe(rf_engine *e, uint64_t ud, int res);
void rf_streams_free(rf_engine *e);

/* body.c: a delivered body's codings undone on the way to the sink */
int rf_body_start(rf_engine *e, rf_slot *s, const rf_resp *r); /* at headers; -1: s failed */
int rf_body_write(rf_engine *e, rf_slot *s, const uint8_t *p, size_t n); /* -1: s failed */
int rf_body_end(rf_engine *e, rf_slot *s);        /* the body is complete; -1: s failed */
void rf_body_free(rf_slot *s);

/* sink.c */
int rf_sink_open(rf_engine *e, rf_slot *s);       /* at response headers */
int rf_sink_write(rf_engine *e, rf_slot *s, const uint8_t *p, size_t n);
bool rf_sink_full(const rf_sink *k);
bool rf_sink_finish(rf_engine *e, rf_slot *s);    /* true when nothing is pending */
void rf_sink_on_cqe(rf_engine *e, rf_slot *s, enum rf_op op, int res);
void rf_sink_reset(rf_sink *k);

#endif
