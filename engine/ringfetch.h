/* ringfetch: an HTTP/1.1 + HTTPS fetch engine on io_uring.
 *
 * One rf_engine is one ring driven by one thread: every function below must be
 * called from the thread that runs the engine (the library keeps no global
 * mutable state, so several engines may live in one process, one per thread).
 *
 * Usage:
 *   rf_config cfg; rf_config_init(&cfg); cfg.concurrency = 500;
 *   rf_engine *e; char err[256];
 *   if (rf_engine_new(&cfg, &e, err, sizeof err) < 0) ...;
 *   rf_request rq; rf_request_init(&rq); rq.url = "https://example.com/";
 *   rf_submit(e, &rq);                       // copies everything it needs
 *   while (rf_outstanding(e) > 0) {
 *     rf_run(e, 100);                        // drive I/O for up to 100 ms
 *     rf_result *r;
 *     while ((r = rf_result_next(e)) != NULL) { use(r); rf_result_release(e, r); }
 *   }
 *   rf_engine_free(e);
 *
 * Conventions: functions return 0 (or a count) on success and a negative
 * errno value on failure; they never set errno. Every submitted request
 * yields exactly one result, whatever happens to it. */
#ifndef RINGFETCH_H
#define RINGFETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(RF_BUILDING_LIB)
#define RF_API __attribute__((visibility("default")))
#else
#define RF_API
#endif

typedef struct rf_engine rf_engine;

/* ---- error kinds --------------------------------------------------------
 * Stable: the numbers and the names (rf_error_name) never change meaning. */
typedef enum rf_error {
  RF_OK = 0,
  RF_ERR_BAD_URL,         /* "bad_url": not an http(s) URL we can fetch */
  RF_ERR_BAD_REQUEST,     /* "bad_request": invalid method or header */
  RF_ERR_DNS,             /* "dns": name did not resolve */
  RF_ERR_CONNECT_REFUSED, /* "connect_refused" */
  RF_ERR_CONNECT_TIMEOUT, /* "connect_timeout": TCP/TLS setup exceeded connect timeout */
  RF_ERR_CONNECT,         /* "connect": other connect failure (unreachable, ...) */
  RF_ERR_TLS_VERIFY,      /* "tls_verify": certificate chain or host name rejected */
  RF_ERR_TLS_HANDSHAKE,   /* "tls_handshake": handshake failed for another reason */
  RF_ERR_TLS,             /* "tls": TLS error after the handshake */
  RF_ERR_READ_TIMEOUT,    /* "read_timeout": no byte for read_timeout_ms */
  RF_ERR_TIMEOUT,         /* "timeout": max_time_ms exceeded */
  RF_ERR_RESET,           /* "reset": connection reset / broken pipe */
  RF_ERR_CLOSED,          /* "closed": peer closed before the response was complete */
  RF_ERR_BAD_RESPONSE,    /* "bad_response": malformed HTTP response */
  RF_ERR_TOO_LARGE,       /* "too_large": headers or body over the configured limit */
  RF_ERR_IO,              /* "io": writing the body to its file or fd failed */
  RF_ERR_CANCELED,        /* "canceled": the engine was destroyed first */
  RF_ERR_INTERNAL,        /* "internal": out of memory or an engine fault */
  RF_ERR_TOO_MANY_REDIRECTS, /* "too_many_redirects": over max_redirects hops, or a loop */
  RF_ERR_BAD_REDIRECT,    /* "bad_redirect": a Location that cannot or may not be followed
                             (unparseable, not http(s), https -> http without permission) */
  RF_ERR_PROXY_CONNECT,   /* "proxy_connect": the proxy could not be reached (DNS, connect,
                             timeout, closed during CONNECT) */
  RF_ERR_PROXY_REFUSED,   /* "proxy_refused": the proxy answered CONNECT with a non-2xx
                             status (in the message) */
  RF_ERR_BAD_ENCODING,    /* "bad_encoding": a content or transfer coding that cannot be
                             undone (unknown, corrupt, truncated) */
  RF_ERR_ROBOTS_DISALLOWED, /* "robots_disallowed": the origin's robots.txt disallows the URL
                               (rf_config.robots); nothing was requested */
  RF_ERR__COUNT
} rf_error;

/* Stable lower-case name of an error kind ("ok" for RF_OK). Never NULL. */
RF_API const char *rf_error_name(rf_error e);

/* ---- raw exchanges, for archives (WARC) ------------------------------------
 * One attempt that got a response, exactly as it went over the connection:
 * the request as sent and the response as received (status line, headers,
 * and the body with its chunked framing and content coding as the server
 * sent them; plaintext after TLS). */
typedef struct rf_exchange {
  uint64_t tag;               /* the request's tag */
  const char *url;            /* this attempt's URL (a redirect hop's own), NUL-terminated */
  size_t url_len;
  unsigned attempt;           /* 1, then 2, 3 ... for retries */
  unsigned hop;               /* redirects followed before this attempt */
  int status;
  rf_error error;             /* RF_OK, or why the response ended early (its bytes are kept) */
  const char *remote_ip;      /* "192.0.2.1" / "2001:db8::1" (no port), "" if unknown */
  uint64_t date_us;           /* wall clock (µs since 1970) when the request was sent */
  const uint8_t *request;     /* the request head and body as sent */
  size_t request_len;
  const uint8_t *response;    /* the response as received */
  size_t response_len;
  bool truncated;             /* cut at rf_config.capture_max (the rest was read, not kept) */
  uint8_t payload_sha1[20];   /* SHA-1 of the body after transfer decoding (chunks joined),
                                 before content decoding: a WARC payload digest */
  uint64_t payload_len;
  int http_major;             /* 1, or 2 for HTTP/2 (request and response are then written as
                                 HTTP/1.1 text, the only form WARC readers know) */
} rf_exchange;

/* Called on the engine thread (inside rf_run) for every attempt of a request
 * with RF_REQ_CAPTURE that got a response, when the attempt ends: before its
 * result is delivered, or before the retry or redirect it leads to. The
 * pointers are valid during the call only. */
typedef void (*rf_exchange_cb)(void *ud, const rf_exchange *x);

/* ---- engine configuration ---------------------------------------------- */
/* A request rate for one host: every origin (scheme, host, port) with that
 * host name (case-insensitive) and, when port is not 0, that port. */
typedef struct rf_host_rate {
  const char *host;
  uint16_t port;              /* 0 = any port */
  double rate;                /* requests per second; 0 = unlimited */
} rf_host_rate;

typedef struct rf_config {
  unsigned concurrency;       /* requests in flight at once (default 100) */
  unsigned per_host;          /* connections per origin (scheme,host,port); 0 = concurrency */
  unsigned pipeline;          /* requests in flight per connection (HTTP/1.1 pipelining,
                                 default 1 = none); concurrency still bounds the total */
  unsigned batch_us;          /* once a loop turn's wait has a completion, wait up to this
                                 long from the wait's start for more (up to in-flight/8, at
                                 most 64) before handling them: fewer kernel entries, and
                                 bigger reads and writes when many requests share few
                                 connections (HTTP/2, pipelining). A response is then seen up
                                 to this much after it arrived (latencies read that much
                                 high at most). Needs Linux 6.12 (min-wait); ignored before.
                                 Applies with 16 or more requests in flight. 0 = handle
                                 every completion at once (default) */
  unsigned queue_size;        /* submitted, not yet running: in the queue, waiting for their
                                 origin or for a retry (default 4*concurrency, at least 4096) */
  unsigned result_slots;      /* results held at once incl. running (default 1.25*concurrency+16) */
  unsigned idle_per_host;     /* idle keep-alive connections kept per origin (default per_host) */
  unsigned idle_timeout_ms;   /* idle keep-alive connection lifetime (default 30000) */
  unsigned connect_timeout_ms;/* DNS + TCP + TLS setup (default 10000) */
  unsigned read_timeout_ms;   /* longest silence while waiting for response bytes (default 30000) */
  unsigned max_time_ms;       /* whole request, 0 = no limit (default 0) */
  uint32_t max_header_bytes;  /* status line + headers (default 65536) */
  uint32_t max_headers;       /* header count (default 128) */
  uint64_t max_body_bytes;    /* body size limit, 0 = none (default 0); RF_BODY_MEMORY
                                 additionally caps at memory_body_max */
  uint64_t memory_body_max;   /* RF_BODY_MEMORY body cap (default 8 MiB) */
  unsigned max_ratio;         /* RF_REQ_DECODE: a decoded body past 1 MiB and more than this
                                 many times its size on the wire fails as too_large (a
                                 decompression bomb); 0 = no check (default 1000) */
  bool strict_http;           /* parse responses as llhttp does, rejecting a bare LF line end
                                 (default false: read it as curl and browsers do) */
  /* Capture (RF_REQ_CAPTURE) */
  rf_exchange_cb on_exchange; /* receives each captured attempt; NULL = none */
  void *on_exchange_ud;
  uint64_t capture_max;       /* bytes kept per response (and per request); beyond, the
                                 exchange is marked truncated (default 64 MiB) */
  /* Manners */
  bool robots;                /* fetch and obey each origin's /robots.txt (RFC 9309) before
                                 its first request: disallowed URLs fail with
                                 RF_ERR_ROBOTS_DISALLOWED without a request; Crawl-delay
                                 slows the origin like host_rate; a 4xx robots.txt allows
                                 all, a 5xx or unreachable one disallows all for a minute */
  const char *robots_agent;   /* the product token matched against User-agent lines
                                 (default "ringfetch") */
  const char *user_agent;     /* default "ringfetch/<version>"; "" = none */
  /* HTTP/2 (nghttp2 over the same memory path as HTTP/1.1). Requests to an
   * h2 origin share its connections, up to the server's
   * SETTINGS_MAX_CONCURRENT_STREAMS streams each; more connections open
   * (bounded by per_host) when those are full. */
  bool http2;                 /* https: offer "h2,http/1.1" by ALPN and use what the server
                                 picks (default false: http/1.1 only) */
  bool http2_prior_knowledge; /* http (not through a proxy): speak HTTP/2 from the first
                                 byte (h2c), as curl --http2-prior-knowledge */
  unsigned http2_streams;     /* streams per HTTP/2 connection at most (h2load's -m); 0 =
                                 as many as the server allows (default) */
  /* TLS */
  bool insecure;              /* skip certificate and host name checks */
  bool no_tls_warmup;         /* default (false): while the first TLS connection to an
                                 origin has no session to share yet, further new
                                 connections to it wait for its ticket (or its end),
                                 so a burst resumes instead of doing full handshakes */
  const char *ca_file;        /* PEM bundle; default: $SSL_CERT_FILE, else system bundle */
  const char *ca_dir;         /* hashed dir; default: $SSL_CERT_DIR, else system dir */
  const char *ca_pem;         /* trust anchors as PEM text (copied); with ca_file/ca_dir
                                 unset, they replace the system roots */
  /* DNS */
  const char *const *resolve; /* curl-style "host:port:addr[,addr...]" entries */
  size_t n_resolve;
  const char *dns_servers;    /* "ip[:port],..." instead of /etc/resolv.conf; NULL = system */
  unsigned dns_timeout_ms;    /* per DNS attempt (default 2000) */
  const char *hosts_file;     /* default "/etc/hosts"; "" = do not read one */
  const char *const *connect_to; /* curl's --connect-to "HOST1:PORT1:HOST2:PORT2" (copied):
                                 connections to HOST1:PORT1 dial HOST2:PORT2 instead (empty
                                 parts match anything / keep the origin's); the request,
                                 its Host and the TLS name stay the URL's. First match wins */
  size_t n_connect_to;
  int ip_version;             /* 0 = any (default), 4 = IPv4 only, 6 = IPv6 only */
  /* Proxies (HTTP proxies: http URLs in absolute form, https through CONNECT) */
  const char *proxy;          /* "http://[user:password@]host[:port]" for every URL; without a
                                 scheme http, without a port 1080 (as curl). NULL (default): from
                                 the environment like curl: $http_proxy for http URLs,
                                 $https_proxy or $HTTPS_PROXY for https, else $all_proxy or
                                 $ALL_PROXY; "" = no proxy whatever the environment says */
  const char *no_proxy;       /* hosts reached directly, curl's syntax: "*", or names (which
                                 also match their subdomains) and IP addresses or CIDR ranges
                                 (which match IP literal hosts), separated by commas or spaces.
                                 NULL (default): $no_proxy or $NO_PROXY */
  unsigned happy_eyeballs_ms; /* RFC 8305: an address silent this long gets the next one
                                 (other family first) started beside it; first to connect
                                 wins (default 250, at least 10) */
  /* Connection reuse across many hosts */
  unsigned max_idle;          /* idle keep-alive connections kept over all origins, the
                                 least recently used closed first; 0 = sized from the
                                 open-files limit and memory (at least concurrency) */
  /* Retries (curl's --retry family). A retried attempt gives back its
   * concurrency slot while it waits. Retried: connect errors and timeouts,
   * resets, early closes, read timeouts, max_time, and HTTP 408, 429, 500,
   * 502, 503, 504 -- for idempotent methods only unless retry_all_methods. */
  unsigned retries;           /* extra attempts per request (default 0 = none) */
  unsigned retry_delay_ms;    /* back-off base: attempt n waits a random time in
                                 [0, min(retry_max_delay_ms, base * 2^(n-1))] (default 1000) */
  unsigned retry_max_delay_ms;/* cap of one back-off wait (default 600000) */
  unsigned retry_max_time_ms; /* no retry starts later than this after the request's first
                                 attempt started; 0 = no limit (default) */
  bool retry_all_methods;     /* also retry POST, PATCH, ... (default: only idempotent ones) */
  /* A Retry-After (seconds or HTTP-date) on a retried 429 or 503 pauses the
   * whole origin until then (at most 6 h) and the retry waits for it; one
   * that would end after retry_max_time_ms ends the retries instead. */
  /* Politeness. A request waiting for its origin (rate, Retry-After pause,
   * per_host) holds no concurrency slot: other origins go ahead. */
  double host_rate;           /* requests started per second per origin, evenly spaced
                                 (burst 1); 0 = unlimited (default) */
  const rf_host_rate *host_rates; /* per-origin overrides (copied) */
  size_t n_host_rates;
} rf_config;


/* Fills cfg with the defaults documented above. */
RF_API void rf_config_init(rf_config *cfg);

/* The highest concurrency the process's open-files limit (RLIMIT_NOFILE)
 * allows an engine: rf_engine_new refuses more. A front end may cap its
 * users' figure to it (the CLI does, with a warning). */
RF_API unsigned rf_max_concurrency(void);

/* Creates an engine. Copies everything it needs from cfg. On failure returns a
 * negative errno and, when err is not NULL, a message in err[0..errlen).
 * Reads CA files, /etc/hosts and /etc/resolv.conf here, never later. */
RF_API int rf_engine_new(const rf_config *cfg, rf_engine **out, char *err, size_t errlen);

/* Destroys the engine: cancels running requests (their results are dropped,
 * results not yet released become invalid), closes every socket. NULL is OK. */
RF_API void rf_engine_free(rf_engine *e);

/* ---- requests ------------------------------------------------------------ */
typedef struct rf_header {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
} rf_header;

typedef enum rf_body_mode {
  RF_BODY_MEMORY = 0, /* keep the body in the result (up to memory_body_max) */
  RF_BODY_DISCARD,    /* count (and hash if asked), keep nothing */
  RF_BODY_FILE,       /* write to body_path (created/truncated) through the ring */
  RF_BODY_FD,         /* write to body_fd (not closed by the engine) through the ring */
} rf_body_mode;

enum {
  RF_REQ_SHA256 = 1u << 0,   /* compute the SHA-256 of the body */
  RF_REQ_NEW_CONN = 1u << 1, /* a new connection just for this request, closed after it
                                ("Connection: close" is sent); never pipelined */
  RF_REQ_FOLLOW = 1u << 2,   /* follow redirects (301, 302, 303, 307, 308 with a Location),
                                up to max_redirects hops. 301/302 turn POST into GET, 303
                                turns every method but HEAD into GET (without the body);
                                307/308 keep method and body. Authorization, Cookie and a
                                custom Host are dropped once a hop changes scheme, host or
                                port; an https -> http hop fails (RF_ERR_BAD_REDIRECT)
                                unless RF_REQ_REDIRECT_DOWNGRADE. */
  RF_REQ_REDIRECT_DOWNGRADE = 1u << 3, /* allow https -> http redirects */
  RF_REQ_NO_ERROR_BODY = 1u << 4, /* a response with status >= 400 keeps no body: nothing goes
                                     to the body's file or fd (curl -f) */
  RF_REQ_DECODE = 1u << 5,   /* send "Accept-Encoding: gzip, deflate, br, zstd" (unless the
                                request has its own) and undo the Content-Encoding: the body,
                                body_bytes and body_sha256 are the decoded ones, wire_bytes
                                what came. An unknown or corrupt coding is RF_ERR_BAD_ENCODING.
                                (Transfer codings before "chunked" are always undone.) */
  RF_REQ_CAPTURE = 1u << 6,  /* hand every attempt's exact bytes to rf_config.on_exchange */
  RF_REQ_NO_HEADERS = 1u << 7, /* the result carries no response header or trailer fields
                                  (n_headers and n_trailers 0; status, reason, lengths, body
                                  as usual): the engine checks them against the limits
                                  but does not copy them, which is work saved when nobody
                                  reads them (bench). A request that follows redirects,
                                  decodes, is captured, or runs with retries keeps them. */
};

typedef struct rf_request {
  const char *method;      /* NULL = GET, or POST when body_len > 0 */
  const char *url;         /* required */
  size_t url_len;          /* 0 = strlen(url) */
  const rf_header *headers;/* extra request headers; replace defaults by name */
  size_t n_headers;
  const void *body;        /* request body, copied at submit */
  size_t body_len;
  uint64_t tag;            /* returned untouched in the result */
  unsigned connect_timeout_ms, read_timeout_ms, max_time_ms; /* 0 = engine default */
  rf_body_mode body_mode;
  const char *body_path;   /* RF_BODY_FILE */
  int body_fd;             /* RF_BODY_FD */
  unsigned flags;          /* RF_REQ_* */
  unsigned max_redirects;  /* with RF_REQ_FOLLOW: hops allowed (rf_request_init: 20) */
} rf_request;

/* Zeroes rq (GET, memory body, engine timeouts, max_redirects 20). */
RF_API void rf_request_init(rf_request *rq);

/* Queues a request; everything is copied, rq may be reused at once.
 * Returns 0, -EAGAIN when the queue (queue_size) is full (run the engine and
 * retry), -EINVAL when rq->url is NULL, -ENOMEM. A malformed URL or header is
 * NOT rejected here: it becomes a result with RF_ERR_BAD_URL/BAD_REQUEST. */
RF_API int rf_submit(rf_engine *e, const rf_request *rq);

/* The same request many times (a load generator, a poller): rf_prepare
 * copies and checks rq once (URL parsed, method and headers validated, body
 * copied); rf_submit_prepared then queues it again with its own tag and no
 * copying, parsing or allocation, and its request head is rendered once and
 * reused. Each submission is an ordinary request: one result, redirects and
 * retries as rf_submit's. A prepared request belongs to the engine (and the
 * thread) it was prepared on; rf_prepared_free may be called while its
 * requests are still in flight (they keep what they share).
 * rf_prepare returns 0, -EINVAL when rq is invalid (a malformed URL, method
 * or header: err says which, where rf_submit would give a result with that
 * error) or -ENOMEM. rf_submit_prepared returns as rf_submit. */
typedef struct rf_prepared rf_prepared;
RF_API int rf_prepare(rf_engine *e, const rf_request *rq, rf_prepared **out, char *err, size_t errlen);
RF_API int rf_submit_prepared(rf_engine *e, rf_prepared *p, uint64_t tag);
RF_API void rf_prepared_free(rf_prepared *p);

/* ---- running ---------------------------------------------------------------- */

/* Runs one turn of the loop: starts queued requests, submits I/O, waits up to
 * timeout_ms (0 = do not wait, -1 = until something happens) for completions,
 * and handles them. Returns the number of results ready to read, or a
 * negative errno on a fatal ring error. */
RF_API int rf_run(rf_engine *e, int timeout_ms);

/* As rf_run, with the wait in microseconds (-1 = until something happens):
 * for callers that schedule requests at precise times (open-loop load). */
RF_API int rf_run_us(rf_engine *e, int64_t timeout_us);

/* The one function that may be called from any thread (or a signal
 * handler): makes the engine's current or next rf_run wait return at once
 * (with rf_config.batch_us, within that window), so a thread that queues
 * work for the engine's thread can wake it. Wake-ups are not counted:
 * several before a wait end one wait. */
RF_API void rf_wake(rf_engine *e);

/* Submitted requests whose results have not yet been returned by
 * rf_result_next. Zero means everything was delivered. */
RF_API size_t rf_outstanding(const rf_engine *e);

/* Ends every request now: queued, waiting and running ones get their result
 * with RF_ERR_CANCELED (a response already complete is delivered as it is).
 * For a clean stop: stop submitting, run until what you allow has finished,
 * then cancel the rest. Returns how many were canceled. */
RF_API size_t rf_cancel_all(rf_engine *e);

/* The same for the requests not yet on a connection (queued, waiting for
 * their origin or for a retry); running ones go on. */
RF_API size_t rf_cancel_queued(rf_engine *e);

/* ---- writing files through the ring -----------------------------------------
 * Appends to a file without blocking the loop: bytes are copied into a queue
 * and written in order by the engine's ring as rf_run turns. Nothing is ever
 * dropped; a slow disk makes the queue grow, so a writer should watch
 * rf_outfile_backlog and stop admitting work above its own limit. */
typedef struct rf_outfile rf_outfile;

/* fd is the caller's (opened for writing; O_APPEND or positioned), not closed
 * by the engine. Returns 0 or -ENOMEM. */
RF_API int rf_outfile_new(rf_engine *e, int fd, rf_outfile **out);
/* Queues a copy of p[0..n). Returns 0, -ENOMEM, or the first write error of
 * this file (then nothing more is queued). */
RF_API int rf_outfile_write(rf_outfile *f, const void *p, size_t n);
/* Bytes queued and not yet written. */
RF_API size_t rf_outfile_backlog(const rf_outfile *f);
/* Bytes written so far (handed to the kernel): with a count of what was
 * queued, a writer can hold one file's bytes until another's are out (the
 * CLI writes a JSON Lines record only after its WARC records). */
RF_API uint64_t rf_outfile_written(const rf_outfile *f);
/* Runs the engine until everything queued is written (or failed), frees f
 * and returns 0 or the first write error (-errno). NULL is OK. */
RF_API int rf_outfile_close(rf_outfile *f);

/* ---- a socket of the caller's on the ring -------------------------------------
 * A TCP connection driven by the engine's ring, for a protocol the caller
 * speaks beside its fetches (a work queue's server, say): connecting,
 * sending and receiving never block the loop; they progress as rf_run turns
 * and a completion ends rf_run's wait like any other. The caller parses what
 * arrives (rf_stream_data) and queues what it sends (rf_stream_send). */
typedef struct rf_stream rf_stream;

typedef enum rf_stream_state {
  RF_STREAM_CONNECTING = 0,
  RF_STREAM_OPEN,
  RF_STREAM_CLOSED,          /* the peer closed it, or it failed (rf_stream_error) */
} rf_stream_state;

/* Starts connecting to ip (a numeric IPv4 or IPv6 address, brackets
 * allowed) and port. Returns 0, -EINVAL for an address that is not numeric,
 * or another negative errno (socket(2)). */
RF_API int rf_stream_open(rf_engine *e, const char *ip, uint16_t port, rf_stream **out);
/* Queues a copy of p[0..n); sent in order once connected. 0, -ENOMEM, or
 * -EPIPE once the stream is closed. */
RF_API int rf_stream_send(rf_stream *s, const void *p, size_t n);
/* Bytes queued and not yet handed to the kernel. */
RF_API size_t rf_stream_unsent(const rf_stream *s);
/* The bytes received and not yet consumed: *p points at them (valid until
 * the next rf_run or rf_stream_consume). Returns their count. */
RF_API size_t rf_stream_data(rf_stream *s, const uint8_t **p);
/* The first n bytes of rf_stream_data were used. */
RF_API void rf_stream_consume(rf_stream *s, size_t n);
RF_API rf_stream_state rf_stream_get_state(const rf_stream *s);
/* Why a closed stream closed: 0 = the peer closed it in order, else -errno
 * (-ECONNREFUSED, -ECONNRESET, ...). */
RF_API int rf_stream_error(const rf_stream *s);
/* Closes the socket (what is unsent is dropped) and frees s. NULL is OK. */
RF_API void rf_stream_close(rf_stream *s);

/* ---- results --------------------------------------------------------------- */
typedef struct rf_timings {
  /* microseconds from submit; 0 when the phase did not happen
   * (dns for IP literals or reused connections, tls for http). A phase a
   * failure cut short (a refused connect, a failed handshake) lasts until
   * the failure. */
  uint64_t queued; /* submit -> picked by the scheduler */
  uint64_t send;   /* submit -> request handed to the socket (0 if never, else >= 1) */
  uint64_t dns;    /* duration of name resolution */
  uint64_t connect;/* duration of TCP connect */
  uint64_t tls;    /* duration of the TLS handshake */
  uint64_t ttfb;   /* request sent start -> first response byte */
  uint64_t total;  /* submitted (rf_events.submitted) -> result ready */
} rf_timings;

/* When each step of a request happened: microseconds since the engine was
 * created (so results of one engine share one time axis); 0 = the step did
 * not happen (no DNS for an IP or a reused connection, no TLS for http...).
 * A phase a failure cut short ends when the request failed: a refused
 * connect has connect_start and connect_end (and remote_addr names the
 * address tried). Recorded for every request at the cost of a few stores. */
typedef struct rf_events {
  uint64_t submitted, started;        /* rf_submit (rf_submit_prepared: the engine's next turn,
                                         no clock read per request); picked by the scheduler */
  uint64_t dns_start, dns_end;
  uint64_t connect_start, connect_end;
  uint64_t tls_start, tls_end;
  uint64_t sent;                      /* request handed to the socket */
  uint64_t first_byte, done;          /* first response byte; result ready */
} rf_events;

/* One redirect hop: the response that redirected, and where to. */
typedef struct rf_redirect {
  int status;
  const char *location;   /* the Location resolved to an absolute URL, NUL-terminated */
  size_t location_len;
} rf_redirect;

typedef struct rf_result {
  uint64_t tag;
  const char *url;        /* NUL-terminated copy of the submitted URL */
  size_t url_len;
  const char *final_url;  /* the URL of the last hop (== url without redirects) */
  size_t final_url_len;
  const rf_redirect *redirects; /* redirects followed, in order */
  size_t n_redirects;
  unsigned attempts;      /* attempts of the request: 1 + retries (redirect hops and the
                             silent resend after a stale keep-alive do not count) */
  rf_error error;         /* RF_OK on success (any HTTP status) */
  const char *error_message; /* NUL-terminated, "" on success */
  int status;             /* HTTP status, 0 if no response */
  int http_major;         /* 1 or 2 (HTTP/2); 0 if no response */
  int http_minor;         /* 0 or 1 (HTTP/1.x); 0 for HTTP/2 */
  const char *reason;     /* reason phrase (NOT NUL-terminated) */
  size_t reason_len;
  const rf_header *headers; /* response headers in arrival order, spans valid until release */
  size_t n_headers;
  const char *body;       /* RF_BODY_MEMORY: the body, else NULL */
  size_t body_len;
  uint64_t body_bytes;    /* body bytes (after chunk framing removal and decoding) */
  uint64_t wire_bytes;    /* body bytes as they came (after chunk framing removal) */
  const rf_header *trailers; /* trailer fields of a chunked body, spans valid until release */
  size_t n_trailers;
  bool has_sha256;
  uint8_t body_sha256[32];
  bool tls_truncated;     /* a body delimited by the connection's close ended without TLS
                             close_notify: it may have been cut short */
  bool reused;            /* sent on a kept-alive connection */
  bool tls_resumed;       /* TLS session resumption was used */
  rf_timings timings;
  rf_events events;
  uint32_t conn_id;       /* the connection that carried it (unique per engine), 0 if none */
  char remote_addr[56];   /* "ip:port" / "[ip6]:port" connected to, "" if none */
} rf_result;

/* Returns the next finished result in completion order, or NULL. The result
 * and every pointer in it stay valid until rf_result_release. */
RF_API rf_result *rf_result_next(rf_engine *e);

/* Gives a result's slot back. While every slot is held the engine starts no
 * new request (backpressure); nothing is dropped. */
RF_API void rf_result_release(rf_engine *e, rf_result *r);

/* Finds a response header by case-insensitive name; NULL if absent. */
RF_API const rf_header *rf_result_header(const rf_result *r, const char *name);

/* ---- statistics ----------------------------------------------------------------- */
typedef struct rf_stats {
  uint64_t submitted, completed, failed; /* failed: results with error != RF_OK */
  uint64_t conns_opened, conns_reused;   /* TCP connections made; requests on reused ones */
  uint64_t tls_handshakes, tls_resumed;
  uint64_t bytes_in, bytes_out;          /* socket bytes incl. TLS and headers */
  unsigned inflight, peak_inflight;      /* requests on the wire now / at most */
  unsigned open_conns, peak_open_conns;
  uint64_t loop_turns, cqes;
  uint64_t inflight_area_us;             /* integral of in-flight requests over time
                                            (request-µs): / wall time = mean concurrency */
  uint64_t busy_us;                      /* time with at least one request in flight */
  uint64_t queued_area_us;               /* integral of requests waiting to start */
  uint64_t active_area_us;               /* integral of requests sent and not yet answered
                                            in full: what the servers worked on at once */
  unsigned active, peak_active;
  uint64_t retries;                      /* attempts started again after a failure */
  uint64_t redirects;                    /* redirect hops followed */
  uint64_t fd_waits;                     /* times a connection waited for a free file
                                            descriptor (EMFILE/ENFILE) instead of failing */
  uint64_t origin_waits;                 /* times a request waited for its origin's rate,
                                            pause or connection limit */
  unsigned idle, peak_idle;              /* idle keep-alive connections now / at most */
  unsigned ring_flags;                   /* IORING_SETUP_* that the kernel accepted */
  bool direct_files;                     /* sockets are io_uring direct descriptors */
  uint64_t h2_refused;                   /* HTTP/2 streams the server refused unprocessed
                                            (REFUSED_STREAM, above a GOAWAY), sent again */
  uint64_t batched_waits;                /* loop waits that gathered completions for up to
                                            rf_config.batch_us (0 when it is 0, or on a
                                            kernel without the min-wait) */
} rf_stats;

RF_API void rf_get_stats(const rf_engine *e, rf_stats *out);

/* Now, on the time axis of rf_result.events (µs since the engine was made). */
RF_API uint64_t rf_clock_us(const rf_engine *e);

/* When the last rf_run saw its completions, on the same axis: what a caller
 * uses to time a turn's results without reading the clock again. */
RF_API uint64_t rf_turn_us(const rf_engine *e);

/* The monotonic clock (CLOCK_MONOTONIC) in µs, as the engine reads it: one
 * clock for the front ends too. */
RF_API uint64_t rf_monotonic_us(void);

/* Library version string, e.g. "0.1.0". */
RF_API const char *rf_version(void);

#ifdef __cplusplus
}
#endif
#endif /* RINGFETCH_H */
