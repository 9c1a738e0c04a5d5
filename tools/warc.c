/* WARC/1.1 writer: records built in memory, one gzip member each, handed to
 * the caller's output callback (see warc.h). Written from ISO 28500:2017. */
#include "warc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <openssl/sha.h>
#include <zlib.h>

#define DEFAULT_LEVEL 6
#define SHRINK_ABOVE (8u << 20) /* give back a buffer grown past this after use */

typedef struct dbuf {
  uint8_t *p;
  size_t len, cap;
} dbuf;

struct rf_warc {
  char *stem;     /* name without .warc.gz / .warc */
  char *software, *command_line, *hostname;
  uint64_t max_size, capture_max;
  int level;
  rf_warc_open_fn open;
  rf_warc_done_fn done;
  void *ud;

  /* the current file */
  bool have_file;
  unsigned k;
  rf_warc_out out;
  void *out_ud;
  uint64_t size;          /* bytes handed out for it */
  bool has_exchanges;     /* more than its warcinfo */
  char warcinfo_id[48];
  char *path;             /* its path; filename points into it */
  const char *filename;

  int err;                /* first error; the writer is failed once set */
  z_stream z;
  bool z_ready;
  dbuf gz;                /* compressed members about to go out */
  dbuf head;              /* a record's header block */
  dbuf uri;               /* the sanitized target URI */
  uint8_t rnd[256];
  size_t rnd_off;
};

/* ---- small buffers ------------------------------------------------------- */

static int db_reserve(dbuf *b, size_t n) {
  if (b->cap - b->len >= n)
    return 0;
  if (n > SIZE_MAX / 2 - b->len)
    return -ENOMEM;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap - b->len < n)
    cap *= 2;
  uint8_t *p = realloc(b->p, cap);
  if (!p)
    return -ENOMEM;
  b->p = p;
  b->cap = cap;
  return 0;
}

__attribute__((format(printf, 2, 3))) static int db_printf(dbuf *b, const char *fmt, ...) {
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = b->cap - b->len;
    int n = vsnprintf(room ? (char *)b->p + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0)
      return -EINVAL;
    if ((size_t)n < room) {
      b->len += (size_t)n;
      return 0;
    }
    if (db_reserve(b, (size_t)n + 1))
      return -ENOMEM;
  }
}

static void db_release_big(dbuf *b) {
  if (b->cap > SHRINK_ABOVE) {
    free(b->p);
    b->p = NULL;
    b->cap = 0;
  }
  b->len = 0;
}

/* ---- digests, ids, dates ------------------------------------------------- */

void rf_warc_sha1_label(const uint8_t sha1[20], char out[38]) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  memcpy(out, "sha1:", 5);
  char *o = out + 5;
  /* 160 bits = 32 groups of 5, no padding */
  uint32_t acc = 0;
  int bits = 0;
  for (int i = 0; i < 20; i++) {
    acc = (acc << 8) | sha1[i];
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      *o++ = alphabet[(acc >> bits) & 31];
    }
  }
  *o = '\0';
}

static void sha1_of(const void *p, size_t n, uint8_t out[20]) {
  SHA_CTX c;
  SHA1_Init(&c);
  if (n)
    SHA1_Update(&c, p, n);
  SHA1_Final(out, &c);
}

static int random_fill(rf_warc *w) {
  size_t got = 0;
  while (got < sizeof w->rnd) {
    ssize_t r = getrandom(w->rnd + got, sizeof w->rnd - got, 0);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    got += (size_t)r;
  }
  if (got < sizeof w->rnd) { /* no getrandom (old kernel, seccomp): the device */
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      return -EIO;
    while (got < sizeof w->rnd) {
      ssize_t r = read(fd, w->rnd + got, sizeof w->rnd - got);
      if (r <= 0) {
        if (r < 0 && errno == EINTR)
          continue;
        close(fd);
        return -EIO;
      }
      got += (size_t)r;
    }
    close(fd);
  }
  w->rnd_off = 0;
  return 0;
}

/* "<urn:uuid:xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx>": a random (version 4) UUID. */
static int make_id(rf_warc *w, char out[48]) {
  if (w->rnd_off + 16 > sizeof w->rnd) {
    int rc = random_fill(w);
    if (rc)
      return rc;
  }
  uint8_t b[16];
  memcpy(b, w->rnd + w->rnd_off, 16);
  w->rnd_off += 16;
  b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
  b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
  static const char hex[] = "0123456789abcdef";
  char *o = out;
  o += sprintf(o, "<urn:uuid:");
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      *o++ = '-';
    *o++ = hex[b[i] >> 4];
    *o++ = hex[b[i] & 15];
  }
  *o++ = '>';
  *o = '\0';
  return 0;
}

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* W3C/ISO 8601 UTC with microseconds: 2024-05-01T12:34:56.123456Z */
static void fmt_date(uint64_t us, char out[40]) {
  time_t s = (time_t)(us / 1000000u);
  struct tm tm;
  gmtime_r(&s, &tm);
  size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out + n, 40 - n, ".%06uZ", (unsigned)(us % 1000000u));
}

/* ---- HTTP heads ------------------------------------------------------------ */

/* Finds the first (or, with last, the last) field called name in a head. */
static int find_field(const uint8_t *h, size_t n, const char *name, bool last, const uint8_t **v,
                      size_t *vn) {
  size_t nl = strlen(name), i = 0;
  int found = 0;
  while (i < n && h[i] != '\n') /* the start line */
    i++;
  i++;
  while (i < n) {
    size_t s = i;
    while (i < n && h[i] != '\n')
      i++;
    size_t e = i;
    i++;
    if (e > s && h[e - 1] == '\r')
      e--;
    if (e == s) /* the empty line: end of the head */
      break;
    if (h[s] == ' ' || h[s] == '\t') /* obsolete line folding: not a field of its own */
      continue;
    const uint8_t *colon = memchr(h + s, ':', e - s);
    if (!colon || (size_t)(colon - (h + s)) != nl || strncasecmp((const char *)h + s, name, nl))
      continue;
    size_t a = (size_t)(colon - h) + 1;
    while (a < e && (h[a] == ' ' || h[a] == '\t'))
      a++;
    size_t z = e;
    while (z > a && (h[z - 1] == ' ' || h[z - 1] == '\t'))
      z--;
    *v = h + a;
    *vn = z - a;
    found = 1;
    if (!last)
      break;
  }
  return found;
}

int rf_warc_http_header(const uint8_t *head, size_t n, const char *name, const uint8_t **v,
                        size_t *vn) {
  return find_field(head, n, name, false, v, vn);
}

int rf_warc_http_chunked(const uint8_t *head, size_t n) {
  const uint8_t *v;
  size_t vn;
  if (!find_field(head, n, "transfer-encoding", true, &v, &vn))
    return 0;
  /* the last coding of the (last) list */
  size_t s = vn;
  while (s > 0 && v[s - 1] != ',')
    s--;
  while (s < vn && (v[s] == ' ' || v[s] == '\t'))
    s++;
  size_t e = vn;
  while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
    e--;
  return e - s == 7 && strncasecmp((const char *)v + s, "chunked", 7) == 0;
}

static int hexval(uint8_t c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c |= 0x20;
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

void rf_warc_payload_sha1(const uint8_t *body, size_t n, int chunked, uint8_t out[20]) {
  SHA_CTX c;
  SHA1_Init(&c);
  if (!chunked) {
    if (n)
      SHA1_Update(&c, body, n);
    SHA1_Final(out, &c);
    return;
  }
  size_t i = 0;
  while (i < n) {
    uint64_t size = 0;
    int digits = 0, d;
    while (i < n && (d = hexval(body[i])) >= 0) {
      if (size > (UINT64_MAX >> 4))
        goto done;
      size = size * 16 + (uint64_t)d;
      i++;
      digits++;
    }
    if (!digits)
      break;
    while (i < n && body[i] != '\n') /* extensions up to the line end */
      i++;
    if (i >= n)
      break;
    i++;
    if (size == 0) /* last chunk; trailers are not payload */
      break;
    size_t take = size < n - i ? (size_t)size : n - i;
    SHA1_Update(&c, body + i, take);
    i += take;
    if (take < size)
      break;
    if (i < n && body[i] == '\r')
      i++;
    if (i < n && body[i] == '\n')
      i++;
  }
done:
  SHA1_Final(out, &c);
}

size_t rf_warc_response_head_len(const rf_exchange *x) {
  const uint8_t *r = x->response;
  for (size_t i = 0; i < x->response_len; i++) {
    if (r[i] != '\n')
      continue;
    if (i + 1 < x->response_len && r[i + 1] == '\n')
      return i + 2;
    if (i + 2 < x->response_len && r[i + 1] == '\r' && r[i + 2] == '\n')
      return i + 3;
  }
  return x->response_len;
}

/* ---- gzip members ------------------------------------------------------------ */

typedef struct piece {
  const void *p;
  size_t n;
} piece;

static int gz_run(rf_warc *w, int flush) {
  z_stream *z = &w->z;
  for (;;) {
    if (db_reserve(&w->gz, 1u << 16))
      return -ENOMEM;
    size_t room = w->gz.cap - w->gz.len;
    if (room > UINT_MAX)
      room = UINT_MAX;
    z->next_out = w->gz.p + w->gz.len;
    z->avail_out = (uInt)room;
    int rc = deflate(z, flush);
    w->gz.len += room - z->avail_out;
    if (rc == Z_STREAM_END)
      return 0;
    if (rc != Z_OK && rc != Z_BUF_ERROR)
      return -EIO;
    if (flush == Z_NO_FLUSH && z->avail_in == 0)
      return 0;
  }
}

/* Appends one gzip member holding the pieces, in order, to w->gz. */
static int gz_member(rf_warc *w, const piece *pc, size_t npc) {
  if (!w->z_ready) {
    memset(&w->z, 0, sizeof w->z);
    if (deflateInit2(&w->z, w->level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
      return -ENOMEM;
    w->z_ready = true;
  } else if (deflateReset(&w->z) != Z_OK) {
    return -EIO;
  }
  for (size_t i = 0; i < npc; i++) {
    const uint8_t *p = pc[i].p;
    size_t left = pc[i].n;
    while (left > 0) {
      size_t take = left > (1u << 30) ? (1u << 30) : left;
      w->z.next_in = (Bytef *)(uintptr_t)p;
      w->z.avail_in = (uInt)take;
      int rc = gz_run(w, Z_NO_FLUSH);
      if (rc)
        return rc;
      p += take;
      left -= take;
    }
  }
  w->z.next_in = NULL;
  w->z.avail_in = 0;
  return gz_run(w, Z_FINISH);
}

/* ---- files ----------------------------------------------------------------- */

/* A copy with CR, LF and other control bytes turned into spaces (one header line). */
static char *one_line(const char *s) {
  char *c = strdup(s);
  if (!c)
    return NULL;
  for (char *p = c; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      *p = ' ';
  return c;
}

static int emit(rf_warc *w, const void *p, size_t n) {
  int rc = w->out(w->out_ud, p, n);
  if (rc) {
    w->err = rc < 0 ? rc : -EIO;
    return w->err;
  }
  w->size += n;
  return 0;
}

static int write_warcinfo(rf_warc *w) {
  char date[40];
  fmt_date(now_us(), date);
  int rc = make_id(w, w->warcinfo_id);
  if (rc)
    return rc;
  dbuf body = {0};
  rc = db_printf(&body,
                 "software: %s\r\n"
                 "format: WARC File Format 1.1\r\n"
                 "conformsTo: https://iipc.github.io/warc-specifications/specifications/"
                 "warc-format/warc-1.1/\r\n"
                 "hostname: %s\r\n",
                 w->software, w->hostname);
  if (!rc && w->command_line)
    rc = db_printf(&body, "command-line: %s\r\n", w->command_line);
  if (!rc)
    rc = db_printf(&body,
                   "payload-digest: sha1 (base32) of the HTTP entity body after transfer "
                   "decoding (chunked framing removed, content coding kept), as WARC/1.1 "
                   "defines the payload; tools that digest the body as transferred (warcio "
                   "check) disagree on chunked responses by design\r\n"
                   "block-digest: sha1 (base32) of the whole record block\r\n");
  if (rc) {
    free(body.p);
    return rc;
  }
  uint8_t sha[20];
  char digest[38];
  sha1_of(body.p, body.len, sha);
  rf_warc_sha1_label(sha, digest);
  char *fname = one_line(w->filename);
  if (!fname) {
    free(body.p);
    return -ENOMEM;
  }
  w->head.len = 0;
  rc = db_printf(&w->head,
                 "WARC/1.1\r\n"
                 "WARC-Type: warcinfo\r\n"
                 "WARC-Record-ID: %s\r\n"
                 "WARC-Date: %s\r\n"
                 "WARC-Filename: %s\r\n"
                 "WARC-Block-Digest: %s\r\n"
                 "Content-Type: application/warc-fields\r\n"
                 "Content-Length: %zu\r\n"
                 "\r\n",
                 w->warcinfo_id, date, fname, digest, body.len);
  free(fname);
  w->gz.len = 0;
  if (!rc) {
    piece pc[3] = {{w->head.p, w->head.len}, {body.p, body.len}, {"\r\n\r\n", 4}};
    rc = gz_member(w, pc, 3);
  }
  free(body.p);
  if (!rc)
    rc = emit(w, w->gz.p, w->gz.len);
  w->gz.len = 0;
  return rc;
}

static int open_file(rf_warc *w, unsigned k) {
  free(w->path);
  w->path = NULL;
  size_t n = strlen(w->stem) + 32;
  w->path = malloc(n);
  if (!w->path)
    return -ENOMEM;
  if (w->max_size)
    snprintf(w->path, n, "%s-%05u.warc.gz", w->stem, k);
  else
    snprintf(w->path, n, "%s.warc.gz", w->stem);
  const char *slash = strrchr(w->path, '/');
  w->filename = slash ? slash + 1 : w->path;
  w->out = NULL;
  w->out_ud = NULL;
  int rc = w->open(w->ud, k, w->path, &w->out, &w->out_ud);
  if (rc)
    return rc < 0 ? rc : -EIO;
  if (!w->out)
    return -EINVAL;
  w->have_file = true;
  w->k = k;
  w->size = 0;
  w->has_exchanges = false;
  return write_warcinfo(w);
}

static int finish_file(rf_warc *w) {
  if (!w->have_file)
    return 0;
  w->have_file = false;
  if (!w->done)
    return 0;
  int rc = w->done(w->ud, w->k, w->out_ud);
  return rc ? (rc < 0 ? rc : -EIO) : 0;
}

int rf_warc_new(const rf_warc_opts *o, rf_warc **out) {
  *out = NULL;
  if (!o || !o->name || !o->name[0] || !o->open || o->gzip_level < 0 || o->gzip_level > 9)
    return -EINVAL;
  rf_warc *w = calloc(1, sizeof *w);
  if (!w)
    return -ENOMEM;
  w->max_size = o->max_size;
  w->capture_max = o->capture_max;
  w->level = o->gzip_level ? o->gzip_level : DEFAULT_LEVEL;
  w->open = o->open;
  w->done = o->done;
  w->ud = o->ud;
  w->rnd_off = sizeof w->rnd;
  w->stem = strdup(o->name);
  size_t sl = w->stem ? strlen(w->stem) : 0;
  if (sl > 8 && strcmp(w->stem + sl - 8, ".warc.gz") == 0)
    w->stem[sl - 8] = '\0';
  else if (sl > 5 && strcmp(w->stem + sl - 5, ".warc") == 0)
    w->stem[sl - 5] = '\0';
  char host[256] = "";
  if (!o->hostname && gethostname(host, sizeof host - 1) != 0)
    host[0] = '\0';
  w->software = one_line(o->software ? o->software : "ringfetch");
  w->hostname = one_line(o->hostname ? o->hostname : host);
  w->command_line = o->command_line ? one_line(o->command_line) : NULL;
  int rc = 0;
  if (!w->stem || !w->software || !w->hostname || (o->command_line && !w->command_line))
    rc = -ENOMEM;
  if (!rc)
    rc = open_file(w, 0);
  if (rc) {
    rf_warc_close(w);
    return rc;
  }
  *out = w;
  return 0;
}

/* ---- exchanges ----------------------------------------------------------------- */

/* The target URI as a header value: control bytes, spaces and non-ASCII bytes
 * percent-encoded (the engine's URLs have none; this keeps a line a line). */
static int clean_uri(dbuf *b, const char *u, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  b->len = 0;
  if (db_reserve(b, n * 3 + 1))
    return -ENOMEM;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)u[i];
    if (c <= 0x20 || c >= 0x7f) {
      b->p[b->len++] = '%';
      b->p[b->len++] = (uint8_t)hex[c >> 4];
      b->p[b->len++] = (uint8_t)hex[c & 15];
    } else {
      b->p[b->len++] = c;
    }
  }
  b->p[b->len] = '\0';
  return 0;
}

static bool clean_ip(const char *ip) {
  if (!ip || !ip[0] || strlen(ip) > 64)
    return false;
  for (const char *p = ip; *p; p++) {
    char c = *p;
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          c == '.' || c == ':' || c == '%'))
      return false;
  }
  return true;
}

static const char *error_truncation(rf_error e) {
  switch (e) {
  case RF_OK:
    return NULL;
  case RF_ERR_READ_TIMEOUT:
  case RF_ERR_TIMEOUT:
    return "time";
  case RF_ERR_TOO_LARGE:
    return "length";
  case RF_ERR_RESET:
  case RF_ERR_CLOSED:
  case RF_ERR_TLS:
  case RF_ERR_PROXY_CONNECT:
    return "disconnect";
  default:
    return "unspecified";
  }
}

typedef struct rec {
  const char *type, *id, *other_id, *block_digest, *payload_digest, *truncated, *msgtype;
  const uint8_t *block;
  size_t block_len;
  bool h2; /* exchanged over HTTP/2 (the block is its HTTP/1.1 rendering) */
} rec;

static int record_member(rf_warc *w, const rec *r, const char *date, const char *ip) {
  w->head.len = 0;
  int rc = db_printf(&w->head,
                     "WARC/1.1\r\n"
                     "WARC-Type: %s\r\n"
                     "WARC-Record-ID: %s\r\n"
                     "WARC-Date: %s\r\n"
                     "WARC-Target-URI: %s\r\n",
                     r->type, r->id, date, (const char *)w->uri.p);
  if (!rc && ip)
    rc = db_printf(&w->head, "WARC-IP-Address: %s\r\n", ip);
  if (!rc && r->h2) /* the WARC-Protocol field proposed for WARC 1.1's successor */
    rc = db_printf(&w->head, "WARC-Protocol: h2\r\n");
  if (!rc)
    rc = db_printf(&w->head,
                   "WARC-Concurrent-To: %s\r\n"
                   "WARC-Warcinfo-ID: %s\r\n"
                   "WARC-Block-Digest: %s\r\n",
                   r->other_id, w->warcinfo_id, r->block_digest);
  if (!rc && r->payload_digest)
    rc = db_printf(&w->head, "WARC-Payload-Digest: %s\r\n", r->payload_digest);
  if (!rc && r->truncated)
    rc = db_printf(&w->head, "WARC-Truncated: %s\r\n", r->truncated);
  if (!rc)
    rc = db_printf(&w->head,
                   "Content-Type: application/http;msgtype=%s\r\n"
                   "Content-Length: %zu\r\n"
                   "\r\n",
                   r->msgtype, r->block_len);
  if (rc)
    return rc;
  piece pc[3] = {{w->head.p, w->head.len}, {r->block, r->block_len}, {"\r\n\r\n", 4}};
  return gz_member(w, pc, 3);
}

/* Which side a truncated capture cut ("length"), or why the response ended
 * early; NULL where nothing was cut. */
static void truncations(const rf_warc *w, const rf_exchange *x, const char **req_trunc,
                        const char **resp_trunc) {
  *req_trunc = *resp_trunc = NULL;
  if (x->truncated) {
    bool req_cut = w->capture_max && x->request_len >= w->capture_max;
    bool resp_cut = !w->capture_max || x->response_len >= w->capture_max;
    if (req_cut)
      *req_trunc = "length";
    if (resp_cut || !req_cut)
      *resp_trunc = "length";
  }
  if (!*resp_trunc)
    *resp_trunc = error_truncation(x->error);
}

/* The block digests of both records and the response's payload digest: of
 * the whole payload, or of what a truncated record holds. */
static void digests(const rf_exchange *x, bool resp_truncated, char req_digest[38],
                    char resp_digest[38], char payload_digest[38]) {
  uint8_t sha[20];
  sha1_of(x->request, x->request_len, sha);
  rf_warc_sha1_label(sha, req_digest);
  sha1_of(x->response, x->response_len, sha);
  rf_warc_sha1_label(sha, resp_digest);
  if (!resp_truncated) {
    rf_warc_sha1_label(x->payload_sha1, payload_digest);
  } else { /* the payload this record holds */
    size_t hl = rf_warc_response_head_len(x);
    rf_warc_payload_sha1(x->response + hl, x->response_len - hl,
                         rf_warc_http_chunked(x->response, hl), sha);
    rf_warc_sha1_label(sha, payload_digest);
  }
}

/* Both records as gzip members in w->gz; *req_member is the first one's
 * length. Both go to one file: a file that would pass max_size (and holds an
 * exchange already) is closed first, and as the records name the warcinfo
 * of their file, they are built again for the new one. */
static int build_members(rf_warc *w, const rec *req, const rec *resp, const char *date,
                         const char *ip, size_t *req_member) {
  for (int round = 0;; round++) {
    w->gz.len = 0;
    int rc = record_member(w, req, date, ip);
    *req_member = w->gz.len;
    if (!rc)
      rc = record_member(w, resp, date, ip);
    if (rc)
      return rc;
    if (round == 0 && w->max_size && w->has_exchanges && w->size + w->gz.len > w->max_size) {
      rc = finish_file(w);
      if (!rc)
        rc = open_file(w, w->k + 1);
      if (rc)
        return rc;
      continue;
    }
    return 0;
  }
}

int rf_warc_exchange(rf_warc *w, const rf_exchange *x, rf_warc_pos *pos) {
  if (!w)
    return -EINVAL;
  if (w->err)
    return w->err;
  if (!x || !x->url || (x->request_len && !x->request) || (x->response_len && !x->response))
    return -EINVAL;
  if (!w->have_file)
    return w->err = -EBADF;

  char req_id[48], resp_id[48], date[40];
  int rc = make_id(w, req_id);
  if (!rc)
    rc = make_id(w, resp_id);
  if (rc)
    return w->err = rc;
  fmt_date(x->date_us ? x->date_us : now_us(), date);
  size_t url_len = x->url_len ? x->url_len : strlen(x->url);
  if (clean_uri(&w->uri, x->url, url_len))
    return w->err = -ENOMEM;
  const char *ip = clean_ip(x->remote_ip) ? x->remote_ip : NULL;

  const char *req_trunc, *resp_trunc;
  truncations(w, x, &req_trunc, &resp_trunc);
  char req_digest[38], resp_digest[38], payload_digest[38];
  digests(x, resp_trunc != NULL, req_digest, resp_digest, payload_digest);

  rec req = {.type = "request", .id = req_id, .other_id = resp_id, .block_digest = req_digest,
             .truncated = req_trunc, .msgtype = "request", .block = x->request,
             .block_len = x->request_len, .h2 = x->http_major == 2};
  rec resp = {.type = "response", .id = resp_id, .other_id = req_id,
              .block_digest = resp_digest, .payload_digest = payload_digest,
              .truncated = resp_trunc, .msgtype = "response", .block = x->response,
              .block_len = x->response_len, .h2 = x->http_major == 2};
  size_t req_member = 0;
  rc = build_members(w, &req, &resp, date, ip, &req_member);
  if (rc)
    return w->err = rc;
  uint64_t start = w->size;
  rc = emit(w, w->gz.p, w->gz.len);
  if (rc)
    return rc;
  w->has_exchanges = true;
  if (pos) {
    pos->filename = w->filename;
    pos->file_index = w->k;
    pos->offset = start + req_member;
    pos->length = w->gz.len - req_member;
    memcpy(pos->payload_digest, payload_digest, sizeof payload_digest);
    memcpy(pos->record_id, resp_id, sizeof resp_id);
    pos->target_uri = (const char *)w->uri.p;
  }
  db_release_big(&w->gz);
  return 0;
}

uint64_t rf_warc_file_size(const rf_warc *w) { return w ? w->size : 0; }

int rf_warc_close(rf_warc *w) {
  if (!w)
    return 0;
  int rc = finish_file(w);
  int err = w->err ? w->err : rc;
  if (w->z_ready)
    deflateEnd(&w->z);
  free(w->gz.p);
  free(w->head.p);
  free(w->uri.p);
  free(w->path);
  free(w->stem);
  free(w->software);
  free(w->command_line);
  free(w->hostname);
  free(w);
  return err;
}
