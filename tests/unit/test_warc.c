/* WARC writer (tools/warc.c) and CDXJ/SURT (tools/cdxj.c).
 *
 * Exchanges are built by hand, written to memory through the writer's
 * callbacks, then read back by a minimal reader written here: gzip member by
 * member, record framing, mandatory fields, Content-Length, block digest
 * recomputed, payload digest recomputed by de-chunking the stored body,
 * WARC-Concurrent-To links, rotation, and the offsets/lengths reported for
 * the CDXJ index.
 *
 *   test_warc [DIR]   also writes what it produced to DIR (sample.warc.gz,
 *                     rot-0000N.warc.gz, sample.cdxj) for warc_check.py and
 *                     warc_read.js; RF_WARC_DUMP_DIR does the same. */
#define _GNU_SOURCE /* memmem */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/sha.h>
#include <zlib.h>

#include "cdxj.h"
#include "testutil.h"
#include "warc.h"
#include "warc_reader.h"

static int field_count(const record *r, const char *name) {
  int c = 0;
  for (int i = 0; i < r->nf; i++)
    c += strcasecmp(r->f[i].name, name) == 0;
  return c;
}

/* Reads file f's records into rd; every member must inflate and be framed. */
static void read_checked(reader *rd, const mfile *f) {
  size_t bad = 0;
  CHECKF(read_file_records(rd, f->p, f->len, &bad), "file %u: a bad record at %zu", f->k, bad);
}

/* Body of an HTTP message block (after the first empty line). */
static size_t body_start(const uint8_t *b, size_t n) {
  const uint8_t *e = memmem(b, n, "\r\n\r\n", 4);
  return e ? (size_t)(e - b) + 4 : n;
}

/* The test's own de-chunking: returns the joined data; *complete when the
 * last chunk was seen. */
static uint8_t *dechunk(const uint8_t *b, size_t n, size_t *out_n, bool *complete) {
  uint8_t *o = malloc(n + 1);
  size_t on = 0, i = 0;
  *complete = false;
  while (i < n) {
    char *e;
    char line[32] = {0};
    size_t ln = 0;
    while (i + ln < n && b[i + ln] != '\r' && ln < sizeof line - 1)
      ln++;
    memcpy(line, b + i, ln);
    unsigned long long sz = strtoull(line, &e, 16);
    if (e == line)
      break;
    const uint8_t *crlf = memmem(b + i, n - i, "\r\n", 2);
    if (!crlf)
      break;
    i = (size_t)(crlf - b) + 2;
    if (sz == 0) {
      *complete = true;
      break;
    }
    size_t take = sz < n - i ? sz : n - i;
    memcpy(o + on, b + i, take);
    on += take;
    i += take;
    if (take < sz)
      break;
    i += 2;
  }
  *out_n = on;
  return o;
}

static bool head_says_chunked(const uint8_t *b, size_t hl) {
  char *h = strndup((const char *)b, hl);
  bool c = false;
  for (char *p = h; *p; p++)
    *p = (char)tolower((unsigned char)*p);
  c = strstr(h, "\ntransfer-encoding: chunked\r\n") != NULL;
  free(h);
  return c;
}

/* ---- exchanges ------------------------------------------------------------------ */

typedef struct tcase {
  const char *name;
  rf_exchange x;
  const char *payload;    /* the payload the record must hold (NULL: binary, see len) */
  size_t payload_len;
  const char *req_trunc, *resp_trunc; /* expected WARC-Truncated values */
  char *own;              /* allocated bytes to free */
  char *own2;
} tcase;

static const uint64_t DATE = 1700000000123456ull; /* 2023-11-14T22:13:20.123456Z */

static void set_x(rf_exchange *x, const char *url, const char *req, const char *resp,
                  size_t resp_len, const char *ip) {
  memset(x, 0, sizeof *x);
  x->url = url;
  x->url_len = strlen(url);
  x->attempt = 1;
  x->remote_ip = ip;
  x->date_us = DATE;
  x->request = (const uint8_t *)req;
  x->request_len = strlen(req);
  x->response = (const uint8_t *)resp;
  x->response_len = resp_len;
  x->status = atoi(resp + 9);
}

static void set_payload(tcase *t, const void *p, size_t n) {
  SHA1(p, n, t->x.payload_sha1);
  t->x.payload_len = n;
  if (!t->payload_len)
    t->payload_len = n;
}

static uint8_t *gzip_bytes(const void *p, size_t n, size_t *out_n) {
  uLongf cap = compressBound((uLong)n) + 64;
  uint8_t *o = malloc(cap);
  z_stream z;
  memset(&z, 0, sizeof z);
  deflateInit2(&z, 9, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY);
  z.next_in = (Bytef *)(uintptr_t)p;
  z.avail_in = (uInt)n;
  z.next_out = o;
  z.avail_out = (uInt)cap;
  deflate(&z, Z_FINISH);
  *out_n = z.total_out;
  deflateEnd(&z);
  return o;
}

static const char GET_REQ[] = "GET /A/?b=1&a=2 HTTP/1.1\r\nHost: www.Example.com\r\n"
                              "User-Agent: ringfetch/0.1.0\r\n\r\n";

enum { N_CASES = 12 };

static void build_cases(tcase *t) {
  memset(t, 0, sizeof(tcase) * N_CASES);
  int i = 0;

  static const char plain[] = "HTTP/1.1 200 OK\r\nContent-Type: Text/HTML; charset=UTF-8\r\n"
                              "Content-Length: 11\r\n\r\nhello world";
  t[i].name = "plain";
  set_x(&t[i].x, "http://www.Example.com:80/A/?b=1&a=2", GET_REQ, plain, strlen(plain),
        "192.0.2.1");
  t[i].payload = "hello world";
  set_payload(&t[i], "hello world", 11);
  i++;

  static const char chunked[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                "Transfer-Encoding: chunked\r\n\r\n"
                                "5\r\nhello\r\n6;name=v\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n";
  t[i].name = "chunked";
  set_x(&t[i].x, "http://example.com/chunked", "GET /chunked HTTP/1.1\r\nHost: example.com\r\n\r\n",
        chunked, strlen(chunked), "192.0.2.2");
  t[i].payload = "hello world";
  set_payload(&t[i], "hello world", 11);
  i++;

  { /* gzip content coding inside chunked framing: the payload is the gzip bytes */
    char text[4096];
    for (size_t k = 0; k < sizeof text; k++)
      text[k] = "gzip payload "[k % 13];
    size_t gn;
    uint8_t *gz = gzip_bytes(text, sizeof text, &gn);
    size_t half = gn / 2;
    char *resp = malloc(gn + 512);
    int hn = sprintf(resp, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n%zx\r\n", half);
    size_t rn = (size_t)hn;
    memcpy(resp + rn, gz, half);
    rn += half;
    rn += (size_t)sprintf(resp + rn, "\r\n%zx\r\n", gn - half);
    memcpy(resp + rn, gz + half, gn - half);
    rn += gn - half;
    memcpy(resp + rn, "\r\n0\r\n\r\n", 7);
    rn += 7;
    resp[rn] = '\0';
    t[i].name = "gzip";
    set_x(&t[i].x, "https://example.com/gz", "GET /gz HTTP/1.1\r\nHost: example.com\r\n"
          "Accept-Encoding: gzip\r\n\r\n", resp, rn, "192.0.2.3");
    t[i].own = resp;
    t[i].own2 = (char *)gz;
    t[i].payload = (const char *)gz;
    set_payload(&t[i], gz, gn);
    i++;
  }

  { /* cut at capture_max inside the second chunk: the record holds "hello wo" */
    static const char cut[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    const char *c = strstr(cut, " wo") + 3;
    t[i].name = "truncated";
    set_x(&t[i].x, "http://example.com/cut", "GET /cut HTTP/1.1\r\nHost: example.com\r\n\r\n",
          cut, (size_t)(c - cut), "192.0.2.4");
    t[i].x.truncated = true;
    set_payload(&t[i], "hello world", 11); /* what the engine saw in full */
    t[i].payload = "hello wo";
    t[i].payload_len = 8;
    t[i].resp_trunc = "length";
    i++;
  }

  static const char v6[] = "HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n";
  t[i].name = "ipv6";
  set_x(&t[i].x, "http://[2001:db8::1]:8080/v6?x=1",
        "GET /v6?x=1 HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n\r\n", v6, strlen(v6), "2001:db8::1");
  t[i].payload = "";
  set_payload(&t[i], "", 0);
  i++;

  static const char closed[] = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                               "Content-Length: 100\r\n\r\n0123456789";
  t[i].name = "closed";
  set_x(&t[i].x, "http://example.com/closed", "GET /closed HTTP/1.1\r\nHost: example.com\r\n\r\n",
        closed, strlen(closed), "192.0.2.6");
  t[i].x.error = RF_ERR_CLOSED;
  set_payload(&t[i], "0123456789", 10);
  t[i].payload = "0123456789";
  t[i].resp_trunc = "disconnect";
  i++;

  static const char slow[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "a\r\n0123456789\r\n5\r\nabc";
  t[i].name = "timeout";
  set_x(&t[i].x, "http://example.com/slow", "GET /slow HTTP/1.1\r\nHost: example.com\r\n\r\n",
        slow, strlen(slow), "192.0.2.7");
  t[i].x.error = RF_ERR_READ_TIMEOUT;
  set_payload(&t[i], "0123456789abc", 13);
  t[i].payload = "0123456789abc";
  t[i].resp_trunc = "time";
  i++;

  { /* 1 MiB of noise: many deflate rounds */
    size_t bn = 1u << 20;
    char *resp = malloc(bn + 256);
    int hn = sprintf(resp, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                           "Content-Length: %zu\r\n\r\n", bn);
    uint32_t s = 12345;
    for (size_t k = 0; k < bn; k++) {
      s = s * 1103515245u + 12345u;
      resp[hn + (int)k] = (char)(s >> 24);
    }
    resp[(size_t)hn + bn] = '\0';
    t[i].name = "large";
    set_x(&t[i].x, "http://example.com/large", "GET /large HTTP/1.1\r\nHost: example.com\r\n\r\n",
          resp, (size_t)hn + bn, "192.0.2.8");
    t[i].own = resp;
    t[i].payload = resp + hn;
    set_payload(&t[i], resp + hn, bn);
    i++;
  }

  static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1234\r\n\r\n";
  t[i].name = "head";
  set_x(&t[i].x, "http://example.com/", "HEAD / HTTP/1.1\r\nHost: example.com\r\n\r\n", head,
        strlen(head), "");
  t[i].payload = "";
  set_payload(&t[i], "", 0);
  i++;

  static const char post_resp[] = "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
  t[i].name = "post";
  set_x(&t[i].x, "http://example.com/form", "POST /form HTTP/1.1\r\nHost: example.com\r\n"
        "Content-Length: 7\r\nContent-Type: text/plain\r\n\r\na=1&b=2", post_resp,
        strlen(post_resp), "192.0.2.10");
  t[i].payload = "ok";
  set_payload(&t[i], "ok", 2);
  i++;

  static const char redirect[] = "HTTP/1.1 301 Moved Permanently\r\nLocation: /next\r\n"
                                 "Content-Length: 0\r\n\r\n";
  t[i].name = "redirect";
  set_x(&t[i].x, "http://example.com/old", "GET /old HTTP/1.1\r\nHost: example.com\r\n\r\n",
        redirect, strlen(redirect), "192.0.2.11");
  t[i].x.hop = 0;
  t[i].payload = "";
  set_payload(&t[i], "", 0);
  i++;

  /* an URL with a space and a control byte: kept on one header line */
  static const char odd[] = "HTTP/1.0 200 OK\r\n\r\nbody until close";
  t[i].name = "odd-url";
  set_x(&t[i].x, "http://example.com/a b\x01", "GET /a%20b%01 HTTP/1.0\r\n\r\n", odd,
        strlen(odd), "192.0.2.12");
  t[i].payload = "body until close";
  set_payload(&t[i], "body until close", 16);
  i++;

  if (i != N_CASES) {
    fprintf(stderr, "N_CASES is %d, built %d\n", N_CASES, i);
    exit(2);
  }
}

static void free_cases(tcase *t) {
  for (int i = 0; i < N_CASES; i++) {
    free(t[i].own);
    free(t[i].own2);
  }
}

/* ---- checks on what came out --------------------------------------------------- */

static bool is_uuid_id(const char *v) {
  if (!v || strlen(v) != 47 || strncmp(v, "<urn:uuid:", 10) != 0 || v[46] != '>')
    return false;
  const char *u = v + 10;
  for (int i = 0; i < 36; i++) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? u[i] != '-' : !strchr("0123456789abcdef", u[i]))
      return false;
  }
  return u[14] == '4' && strchr("89ab", u[19]) != NULL;
}

static bool is_date(const char *v) {
  /* 2023-11-14T22:13:20.123456Z */
  if (!v || strlen(v) != 27)
    return false;
  const char *shape = "dddd-dd-ddTdd:dd:dd.ddddddZ";
  for (int i = 0; i < 27; i++)
    if (shape[i] == 'd' ? !(v[i] >= '0' && v[i] <= '9') : v[i] != shape[i])
      return false;
  return true;
}

/* Every record: mandatory fields, block digest, and per type what we promise. */
static void check_record(const record *r, const char *warcinfo_id) {
  const char *type = field(r, "WARC-Type");
  CHECK(type != NULL);
  CHECKF(is_uuid_id(field(r, "WARC-Record-ID")), "%s", field(r, "WARC-Record-ID"));
  CHECKF(is_date(field(r, "WARC-Date")), "%s", field(r, "WARC-Date"));
  CHECK(field(r, "Content-Length") != NULL);
  CHECK(field(r, "Content-Type") != NULL);
  CHECK_EQ_INT(field_count(r, "WARC-Record-ID"), 1);
  char d[38];
  label_of(r->block, r->block_len, d);
  CHECK_EQ_STR(field(r, "WARC-Block-Digest"), d);
  if (!type)
    return;
  if (strcmp(type, "warcinfo") == 0) {
    CHECK_EQ_STR(field(r, "Content-Type"), "application/warc-fields");
    CHECK(field(r, "WARC-Filename") != NULL);
    CHECK(field(r, "WARC-Target-URI") == NULL);
    return;
  }
  CHECK(strcmp(type, "request") == 0 || strcmp(type, "response") == 0);
  const char *uri = field(r, "WARC-Target-URI");
  CHECK(uri && uri[0] != '<' && !strpbrk(uri, " \t"));
  CHECK_EQ_STR(field(r, "WARC-Warcinfo-ID"), warcinfo_id);
  CHECK(field(r, "WARC-Concurrent-To") != NULL);
  if (strcmp(type, "request") == 0) {
    CHECK_EQ_STR(field(r, "Content-Type"), "application/http;msgtype=request");
    CHECK(field(r, "WARC-Payload-Digest") == NULL);
  } else {
    CHECK_EQ_STR(field(r, "Content-Type"), "application/http;msgtype=response");
    /* the payload digest, recomputed from the stored body */
    size_t bs = body_start(r->block, r->block_len);
    const uint8_t *body = r->block + bs;
    size_t bn = r->block_len - bs;
    char pd[38];
    if (head_says_chunked(r->block, bs)) {
      size_t dn;
      bool complete;
      uint8_t *dc = dechunk(body, bn, &dn, &complete);
      label_of(dc, dn, pd);
      CHECKF(complete || field(r, "WARC-Truncated"), "%s: chunked body cut, no WARC-Truncated",
             uri);
      free(dc);
    } else {
      label_of(body, bn, pd);
    }
    CHECKF(field(r, "WARC-Payload-Digest") && strcmp(field(r, "WARC-Payload-Digest"), pd) == 0,
           "%s: payload digest %s, recomputed %s", uri, field(r, "WARC-Payload-Digest"), pd);
  }
}

/* All records of one file: warcinfo first, then request/response pairs. */
static void check_file(const reader *rd, const char *filename, const char *software,
                       const char *cmdline) {
  CHECK(rd->n >= 1);
  if (rd->n < 1)
    return;
  const record *wi = &rd->r[0];
  CHECK_EQ_STR(field(wi, "WARC-Type"), "warcinfo");
  CHECK_EQ_STR(field(wi, "WARC-Filename"), filename);
  CHECK_EQ_INT(wi->offset, 0);
  const char *wid = field(wi, "WARC-Record-ID");
  char *body = strndup((const char *)wi->block, wi->block_len);
  char want[512];
  snprintf(want, sizeof want, "software: %s\r\n", software);
  CHECK(strstr(body, want) != NULL);
  CHECK(strstr(body, "format: WARC File Format 1.1\r\n") != NULL);
  CHECK(strstr(body, "conformsTo: ") != NULL);
  CHECK(strstr(body, "hostname: ") != NULL);
  CHECK(strstr(body, "payload-digest: ") != NULL);
  if (cmdline) {
    snprintf(want, sizeof want, "command-line: %s\r\n", cmdline);
    CHECKF(strstr(body, want) != NULL, "%s", body);
  }
  free(body);
  for (size_t i = 0; i < rd->n; i++) {
    check_record(&rd->r[i], wid);
    if (i > 0)
      CHECK(strcmp(field(&rd->r[i], "WARC-Type") ? field(&rd->r[i], "WARC-Type") : "",
                   "warcinfo") != 0);
  }
  CHECK_EQ_INT(rd->n % 2, 1);
  for (size_t i = 1; i + 1 < rd->n; i += 2) {
    const record *q = &rd->r[i], *s = &rd->r[i + 1];
    CHECK_EQ_STR(field(q, "WARC-Type"), "request");
    CHECK_EQ_STR(field(s, "WARC-Type"), "response");
    CHECK_EQ_STR(field(q, "WARC-Concurrent-To"), field(s, "WARC-Record-ID"));
    CHECK_EQ_STR(field(s, "WARC-Concurrent-To"), field(q, "WARC-Record-ID"));
    CHECK_EQ_STR(field(q, "WARC-Date"), field(s, "WARC-Date"));
    CHECK_EQ_STR(field(q, "WARC-Target-URI"), field(s, "WARC-Target-URI"));
  }
}

/* The exchange-specific expectations on a request/response pair. */
static void check_pair(const record *q, const record *s, const tcase *t) {
  const rf_exchange *x = &t->x;
  CHECK_EQ_SPAN(q->block, q->block_len, (const char *)x->request);
  CHECKF(s->block_len == x->response_len && memcmp(s->block, x->response, x->response_len) == 0,
         "%s: response block differs", t->name);
  CHECK_EQ_STR(field(s, "WARC-Date"), "2023-11-14T22:13:20.123456Z");
  if (x->remote_ip && x->remote_ip[0]) {
    CHECK_EQ_STR(field(q, "WARC-IP-Address"), x->remote_ip);
    CHECK_EQ_STR(field(s, "WARC-IP-Address"), x->remote_ip);
  } else {
    CHECK(field(s, "WARC-IP-Address") == NULL);
  }
  CHECKF((field(q, "WARC-Truncated") == NULL) == (t->req_trunc == NULL), "%s", t->name);
  if (t->req_trunc)
    CHECK_EQ_STR(field(q, "WARC-Truncated"), t->req_trunc);
  CHECKF((field(s, "WARC-Truncated") == NULL) == (t->resp_trunc == NULL), "%s", t->name);
  if (t->resp_trunc)
    CHECK_EQ_STR(field(s, "WARC-Truncated"), t->resp_trunc);
  char pd[38];
  label_of(t->payload, t->payload_len, pd);
  const char *got = field(s, "WARC-Payload-Digest");
  CHECKF(got && strcmp(got, pd) == 0, "%s: %s vs %s", t->name, got, pd);
  char cl[32];
  snprintf(cl, sizeof cl, "%zu", x->response_len);
  CHECK_EQ_STR(field(s, "Content-Length"), cl);
}

/* ---- dumping for the Python and Node readers ------------------------------------- */

static const char *dump_dir;

static void dump(const char *name, const void *p, size_t n) {
  if (!dump_dir)
    return;
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dump_dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(p, 1, n, f) != n) {
    perror(path);
    exit(2);
  }
  fclose(f);
}

/* ---- tests ------------------------------------------------------------------------- */

static const char *base_name(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

static void test_exchanges(void) {
  tcase t[N_CASES];
  build_cases(t);
  sink s = {0};
  rf_warc_opts o = {.name = "out/sample.warc.gz", .software = "ringfetch/0.1.0",
                    .command_line = "ringfetch fetch --warc out/sample\nhttp://x/",
                    .hostname = "testhost", .open = mem_open, .done = mem_done, .ud = &s};
  rf_warc *w;
  CHECK_EQ_INT(rf_warc_new(&o, &w), 0);
  CHECK_EQ_INT(s.n, 1);
  CHECK_EQ_STR(s.files[0].path, "out/sample.warc.gz");
  rf_warc_pos pos[N_CASES];
  jbuf cdxj = {0};
  for (int i = 0; i < N_CASES; i++) {
    CHECKF(rf_warc_exchange(w, &t[i].x, &pos[i]) == 0, "%s", t[i].name);
    CHECK_EQ_STR(pos[i].filename, "sample.warc.gz");
    CHECK_EQ_INT(pos[i].file_index, 0);
    rf_cdxj_line(&cdxj, &t[i].x, &pos[i]);
  }
  CHECK_EQ_INT(rf_warc_file_size(w), s.files[0].len);
  CHECK_EQ_INT(rf_warc_close(w), 0);
  CHECK_EQ_INT(s.done_calls, 1);
  CHECK(s.files[0].done);

  reader rd = {0};
  read_checked(&rd, &s.files[0]);
  CHECK_EQ_INT(rd.n, 1 + 2 * N_CASES);
  check_file(&rd, "sample.warc.gz", "ringfetch/0.1.0", "ringfetch fetch --warc out/sample http://x/");
  for (int i = 0; i < N_CASES && (size_t)(2 + 2 * i) < rd.n; i++) {
    const record *q = &rd.r[1 + 2 * i], *r = &rd.r[2 + 2 * i];
    check_pair(q, r, &t[i]);
    /* the position reported for the index is this response member */
    CHECK_EQ_INT(pos[i].offset, r->offset);
    CHECK_EQ_INT(pos[i].length, r->length);
    CHECK_EQ_STR(pos[i].record_id, field(r, "WARC-Record-ID"));
    CHECK_EQ_STR(pos[i].payload_digest, field(r, "WARC-Payload-Digest"));
    /* and that member alone is a complete .gz */
    char *raw;
    size_t raw_len;
    CHECK_EQ_INT(gunzip_member(s.files[0].p + pos[i].offset, pos[i].length, &raw, &raw_len),
                 pos[i].length);
    if (raw_len) {
      CHECK(raw_len == r->raw_len);
      free(raw);
    }
  }
  /* URIs */
  CHECK_EQ_STR(field(&rd.r[2], "WARC-Target-URI"), "http://www.Example.com:80/A/?b=1&a=2");
  CHECK_EQ_STR(field(&rd.r[10], "WARC-Target-URI"), "http://[2001:db8::1]:8080/v6?x=1");
  CHECK_EQ_STR(field(&rd.r[2 * N_CASES], "WARC-Target-URI"), "http://example.com/a%20b%01");

  /* the CDXJ line of the first exchange, exactly */
  char want[1024];
  snprintf(want, sizeof want,
           "com,example)/a?a=2&b=1 20231114221320 {\"url\": \"http://www.Example.com:80/A/?b=1&a=2\", "
           "\"mime\": \"text/html\", \"status\": \"200\", \"digest\": \"%s\", \"length\": \"%llu\", "
           "\"offset\": \"%llu\", \"filename\": \"sample.warc.gz\"}\n",
           pos[0].payload_digest, (unsigned long long)pos[0].length,
           (unsigned long long)pos[0].offset);
  const char *nl = memchr(cdxj.p, '\n', cdxj.len);
  CHECK(nl != NULL);
  if (nl)
    CHECK_EQ_SPAN(cdxj.p, (size_t)(nl - cdxj.p) + 1, want);
  /* one line per exchange; no mime without a Content-Type */
  int lines = 0;
  for (size_t k = 0; k < cdxj.len; k++)
    lines += cdxj.p[k] == '\n';
  CHECK_EQ_INT(lines, N_CASES);
  const char *v6line = strstr(cdxj.p, "\n2001:db8::1:8080)/v6?x=1 20231114221320 {\"url\": ");
  CHECK(v6line != NULL);
  if (v6line) {
    char *line = strndup(v6line + 1, (size_t)(strchr(v6line + 1, '\n') - v6line - 1));
    CHECKF(strstr(line, "\"status\": \"204\"") != NULL, "%s", line);
    CHECKF(strstr(line, "\"mime\"") == NULL, "%s", line); /* no Content-Type */
    free(line);
  }
  /* the line's url is the record's WARC-Target-URI */
  CHECK(strstr(cdxj.p, "\ncom,example)/a%20b%01 20231114221320 {\"url\": "
                       "\"http://example.com/a%20b%01\", \"status\": \"200\"") != NULL);
  CHECK(strstr(cdxj.p, "com,example)/gz 20231114221320 {\"url\": \"https://example.com/gz\", "
                       "\"mime\": \"text/plain\", \"status\": \"200\"") != NULL);

  dump("sample.warc.gz", s.files[0].p, s.files[0].len);
  dump("sample.cdxj", cdxj.p, cdxj.len);
  jb_free(&cdxj);
  reader_free(&rd);
  sink_free(&s);
  free_cases(t);
}

static void test_rotation(void) {
  tcase t[N_CASES];
  build_cases(t);
  sink s = {0};
  const uint64_t max = 4000;
  rf_warc_opts o = {.name = "dir/rot", .software = "ringfetch/0.1.0", .max_size = max,
                    .gzip_level = 1, .open = mem_open, .done = mem_done, .ud = &s};
  rf_warc *w;
  CHECK_EQ_INT(rf_warc_new(&o, &w), 0);
  enum { ROUNDS = 40 };
  rf_warc_pos pos[ROUNDS];
  int which[ROUNDS];
  for (int i = 0; i < ROUNDS; i++) {
    which[i] = i == 17 ? 7 /* large: overshoots in a file of its own */ : i % 3;
    CHECK_EQ_INT(rf_warc_exchange(w, &t[which[i]].x, &pos[i]), 0);
    CHECK_EQ_INT(pos[i].file_index, s.n - 1);
    CHECK_EQ_STR(pos[i].filename, base_name(s.files[s.n - 1].path));
  }
  CHECK_EQ_INT(rf_warc_close(w), 0);
  CHECKF(s.n >= 5, "%u files", s.n);
  CHECK_EQ_INT(s.done_calls, s.n);
  CHECK(!s.done_out_of_order);
  size_t total_exchanges = 0;
  for (unsigned k = 0; k < s.n; k++) {
    char want[64];
    snprintf(want, sizeof want, "dir/rot-%05u.warc.gz", k);
    CHECK_EQ_STR(s.files[k].path, want);
    reader rd = {0};
    read_checked(&rd, &s.files[k]);
    check_file(&rd, base_name(want), "ringfetch/0.1.0", NULL);
    size_t ex = (rd.n - 1) / 2;
    total_exchanges += ex;
    CHECKF(ex >= 1 || k == s.n - 1, "file %u holds no exchange", k);
    CHECKF(s.files[k].len <= max || ex == 1, "file %u: %zu bytes, %zu exchanges", k,
           s.files[k].len, ex);
    /* every position reported for this file is one of its response members */
    for (int i = 0; i < ROUNDS; i++) {
      if (pos[i].file_index != k)
        continue;
      bool found = false;
      for (size_t j = 0; j < rd.n; j++)
        if (rd.r[j].offset == pos[i].offset && rd.r[j].length == pos[i].length &&
            strcmp(field(&rd.r[j], "WARC-Type"), "response") == 0 &&
            strcmp(field(&rd.r[j], "WARC-Record-ID"), pos[i].record_id) == 0)
          found = true;
      CHECKF(found, "round %d", i);
    }
    if (k < 3) {
      char name[64];
      snprintf(name, sizeof name, "rot-%05u.warc.gz", k);
      dump(name, s.files[k].p, s.files[k].len);
    }
    reader_free(&rd);
  }
  CHECK_EQ_INT(total_exchanges, ROUNDS);
  /* the large one is alone in its file */
  unsigned big = pos[17].file_index;
  CHECK(pos[16].file_index < big && pos[18].file_index > big);
  sink_free(&s);
  free_cases(t);
}

static void test_names_and_errors(void) {
  sink s = {0};
  rf_warc *w;
  rf_warc_opts o = {.name = "plain", .open = mem_open, .ud = &s};
  CHECK_EQ_INT(rf_warc_new(&o, &w), 0);
  CHECK_EQ_STR(s.files[0].path, "plain.warc.gz");
  CHECK_EQ_INT(rf_warc_close(w), 0); /* no done callback: fine */
  reader rd = {0};
  read_checked(&rd, &s.files[0]);
  CHECK_EQ_INT(rd.n, 1);
  check_file(&rd, "plain.warc.gz", "ringfetch", NULL);
  reader_free(&rd);
  sink_free(&s);

  o.name = "x.warc";
  o.max_size = 1;
  CHECK_EQ_INT(rf_warc_new(&o, &w), 0);
  CHECK_EQ_STR(s.files[0].path, "x-00000.warc.gz");
  rf_warc_close(w);
  sink_free(&s);

  /* bad options */
  o.name = NULL;
  CHECK_EQ_INT(rf_warc_new(&o, &w), -EINVAL);
  CHECK(w == NULL);
  o.name = "y";
  o.gzip_level = 10;
  CHECK_EQ_INT(rf_warc_new(&o, &w), -EINVAL);
  o.gzip_level = 0;
  o.open = NULL;
  CHECK_EQ_INT(rf_warc_new(&o, &w), -EINVAL);
  o.open = mem_open;

  /* the opener fails */
  s.fail_open = EACCES;
  CHECK_EQ_INT(rf_warc_new(&o, &w), -EACCES);
  CHECK(w == NULL);
  sink_free(&s);

  /* the output fails: that error sticks */
  tcase t[N_CASES];
  build_cases(t);
  s.fail_after = 3000;
  o.max_size = 0;
  o.done = mem_done;
  CHECK_EQ_INT(rf_warc_new(&o, &w), 0);
  int rc = 0, i;
  for (i = 0; i < 20 && rc == 0; i++)
    rc = rf_warc_exchange(w, &t[0].x, NULL);
  CHECK_EQ_INT(rc, -ENOSPC);
  CHECK(i > 1);
  CHECK_EQ_INT(rf_warc_exchange(w, &t[1].x, NULL), -ENOSPC);
  CHECK_EQ_INT(rf_warc_close(w), -ENOSPC);
  sink_free(&s);

  /* a bad exchange is refused without failing the writer */
  CHECK_EQ_INT(rf_warc_new(&o, &w), 0);
  rf_exchange bad = t[0].x;
  bad.url = NULL;
  CHECK_EQ_INT(rf_warc_exchange(w, &bad, NULL), -EINVAL);
  CHECK_EQ_INT(rf_warc_exchange(w, &t[0].x, NULL), 0);
  CHECK_EQ_INT(rf_warc_close(w), 0);
  CHECK_EQ_INT(rf_warc_close(NULL), 0);
  sink_free(&s);

  /* a truncated request side (capture_max known): both sides marked as cut */
  o.capture_max = 50;
  CHECK_EQ_INT(rf_warc_new(&o, &w), 0);
  tcase tr = t[9]; /* post: request longer than 50, response shorter */
  tr.x.truncated = true;
  CHECK_EQ_INT(rf_warc_exchange(w, &tr.x, NULL), 0);
  CHECK_EQ_INT(rf_warc_close(w), 0);
  read_checked(&rd, &s.files[0]);
  CHECK_EQ_INT(rd.n, 3);
  if (rd.n == 3) {
    CHECK_EQ_STR(field(&rd.r[1], "WARC-Truncated"), "length");
    CHECK(field(&rd.r[2], "WARC-Truncated") == NULL);
    check_file(&rd, "y.warc.gz", "ringfetch", NULL);
  }
  reader_free(&rd);
  sink_free(&s);
  free_cases(t);
}

static void test_helpers(void) {
  /* base32 of SHA-1("") and of "abc" (RFC 4648 alphabet) */
  char l[38];
  label_of("", 0, l);
  CHECK_EQ_STR(l, "sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ");
  label_of("abc", 3, l);
  CHECK_EQ_STR(l, "sha1:VGMT4NSHA2AWVOR6EVYXQUGCNSONBWE5");

  static const char head[] = "HTTP/1.1 200 OK\r\nX-A: 1\r\ntransfer-encoding:  gzip , Chunked \r\n"
                             "Content-Type:\ttext/html ; q=1\r\n\r\n";
  const uint8_t *v;
  size_t vn;
  CHECK(rf_warc_http_header((const uint8_t *)head, strlen(head), "content-type", &v, &vn));
  CHECK_EQ_SPAN(v, vn, "text/html ; q=1");
  CHECK(!rf_warc_http_header((const uint8_t *)head, strlen(head), "x-b", &v, &vn));
  CHECK(rf_warc_http_chunked((const uint8_t *)head, strlen(head)));
  static const char h2[] = "HTTP/1.1 200 OK\nTransfer-Encoding: chunked, gzip\n\n";
  CHECK(!rf_warc_http_chunked((const uint8_t *)h2, strlen(h2)));
  static const char h3[] = "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\nTransfer-Encoding: x\n";
  CHECK(rf_warc_http_chunked((const uint8_t *)h3, strlen(h3)));

  /* payload de-chunking: whole, extensions, bare LF, cut in a size line, in data */
  uint8_t d[20];
  char got[38], want[38];
  static const char c1[] = "3;x=y\r\nabc\r\n2\nde\n0\r\nT: 1\r\n\r\n";
  rf_warc_payload_sha1((const uint8_t *)c1, strlen(c1), 1, d);
  rf_warc_sha1_label(d, got);
  label_of("abcde", 5, want);
  CHECK_EQ_STR(got, want);
  rf_warc_payload_sha1((const uint8_t *)c1, 3, 1, d); /* "3;x": no data yet */
  rf_warc_sha1_label(d, got);
  label_of("", 0, want);
  CHECK_EQ_STR(got, want);
  rf_warc_payload_sha1((const uint8_t *)c1, 9, 1, d); /* "3;x=y\r\nab" */
  rf_warc_sha1_label(d, got);
  label_of("ab", 2, want);
  CHECK_EQ_STR(got, want);
  rf_warc_payload_sha1((const uint8_t *)c1, strlen(c1), 0, d);
  rf_warc_sha1_label(d, got);
  label_of(c1, strlen(c1), want);
  CHECK_EQ_STR(got, want);

  rf_exchange x = {0};
  x.response = (const uint8_t *)"HTTP/1.1 200 OK\r\n\r\nbody";
  x.response_len = 23;
  CHECK_EQ_INT(rf_warc_response_head_len(&x), 19);
  x.response = (const uint8_t *)"HTTP/1.1 200 OK\n\nbody";
  x.response_len = 21;
  CHECK_EQ_INT(rf_warc_response_head_len(&x), 17);

  jbuf b = {0};
  rf_cdxj_timestamp(&b, DATE);
  CHECK_EQ_SPAN(b.p, b.len, "20231114221320");
  jb_free(&b);
}

static void surt_is(const char *url, const char *want, int line) {
  jbuf b = {0};
  rf_surt(&b, url, strlen(url));
  jb_raw(&b, "", 1);
  tu_checks++;
  if (strcmp(b.p, want) != 0) {
    tu_failures++;
    fprintf(stderr, "%s:%d: surt(%s) = %s, want %s\n", __FILE__, line, url, b.p, want);
  }
  jb_free(&b);
}
#define SURT(u, w) surt_is(u, w, __LINE__)

static void test_surt(void) {
  SURT("http://www.Example.com:80/A/?b=1&a=2", "com,example)/a?a=2&b=1");
  SURT("http://www.archive.org/", "org,archive)/");
  SURT("http://archive.org/", "org,archive)/");
  SURT("http://archive.org", "org,archive)/");
  SURT("http://archive.org/goo/", "org,archive)/goo");
  SURT("http://archive.org/goo/?", "org,archive)/goo");
  SURT("http://archive.org/goo/?b&a", "org,archive)/goo?a&b");
  SURT("http://archive.org/goo/?a=2&b&a=1", "org,archive)/goo?a=1&a=2&b");
  SURT("http://archive.org/index.html?b=a&b=b&a=b", "org,archive)/index.html?a=b&b=a&b=b");
  SURT("http://archive.org/?a=1&", "org,archive)/?&a=1");
  SURT("http://example.com?b=1&a=2", "com,example)/?a=2&b=1");
  SURT("http://Example.COM/Foo/Bar.html?Q=Z", "com,example)/foo/bar.html?q=z");
  /* www, wwwN */
  SURT("http://www12.foo.com/", "com,foo)/");
  SURT("http://www2foo.com/", "com,www2foo)/");
  SURT("http://www2.www2foo.com/", "com,www2foo)/");
  SURT("http://wwwfoo.com/", "com,wwwfoo)/");
  /* ports: the scheme's default goes, others stay */
  SURT("https://www.example.com:443/", "com,example)/");
  SURT("https://example.com:80/", "com,example:80)/");
  SURT("http://example.com:443/", "com,example:443)/");
  SURT("http://example.com:8080/path", "com,example:8080)/path");
  SURT("http://mineral.galleries.com:/minerals/a.htm", "com,galleries,mineral)/minerals/a.htm");
  /* IP hosts: reversed like names; numeric forms normalized */
  SURT("http://192.168.1.10/x", "10,1,168,192)/x");
  SURT("http://127.0.0.1:8080/", "1,0,0,127:8080)/");
  SURT("http://3279880203/blah", "11,0,127,195)/blah");
  SURT("http://017.0.0.1/", "1,0,0,15)/");
  SURT("http://10.0.258/", "2,1,0,10)/");
  SURT("http://1.2.3.256/", "256,3,2,1)/");
  /* IPv6: no brackets, the port after it */
  SURT("http://[2001:DB8::1]/", "2001:db8::1)/");
  SURT("http://[2001:db8::1]:8080/a", "2001:db8::1:8080)/a");
  SURT("http://[::1]:80/", "::1)/");
  SURT("https://[::ffff:1.2.3.4]/", "4,3,2,::ffff:1)/");
  /* user info and fragment dropped */
  SURT("http://user:pw@Example.com/x#frag", "com,example)/x");
  SURT("http://evil.com/foo#bar#baz", "com,evil)/foo");
  /* paths: dot segments, empty segments, escapes */
  SURT("http://example.com/a/./b/../c//d", "com,example)/a/c/d");
  SURT("http://example.com/a/..", "com,example)/");
  SURT("http://example.com/a/..%2F..%2Fb", "com,example)/../b");
  SURT("http://example.com/%7Efoo/%2541", "com,example)/~foo/a");
  SURT("http://example.com/a%20b/", "com,example)/a%20b");
  SURT("http://example.com/caf%C3%A9", "com,example)/caf%c3%a9");
  SURT("http://example.com/caf\xc3\xa9", "com,example)/caf%c3%a9");
  SURT("http://host.com/ab%23cd", "com,host)/ab%23cd");
  SURT("http://host.com//twoslashes?more//slashes", "com,host)/twoslashes?more//slashes");
  SURT("http://www.google.com.../", "com,google)/");
  SURT("http://evil.com/foo;", "com,evil)/foo;");
  SURT("  http://www.google.com/  ", "com,google)/");
  SURT("http://www.google.com/foo\tbar\rbaz\n2", "com,google)/foobarbaz2");
  SURT("www.example.com/x", "com,example)/x");
  SURT("http://https://order.1and1.com", "com,1and1,order)/");
  SURT("http:////////////////www.vikings.com", "com,vikings)/");
  /* session ids */
  SURT("http://archive.org/index.php?PHPSESSID=0123456789abcdefghijklemopqrstuv&action=profile;u=4221",
       "org,archive)/index.php?action=profile;u=4221");
  SURT("http://example.com/?jsessionid=0123456789abcdefghijklemopqrstuv", "com,example)/");
  SURT("http://example.com/?jsessionid=0123456789abcdefghijklemopqrstuv0",
       "com,example)/?jsessionid=0123456789abcdefghijklemopqrstuv0");
  SURT("http://example.com/?one=two&jsessionid=0123456789abcdefghijklemopqrstuv&x=y",
       "com,example)/?one=two&x=y");
  SURT("http://example.com/?sid=9682993c8daa2c5497996114facdc805&x=y", "com,example)/?x=y");
  SURT("http://example.com/?aspsessionidABCDEFGH=ABCDEFGHIJKLMNOPQRSTUVWX&x=y",
       "com,example)/?x=y");
  SURT("http://example.com/?CFID=1169580&CFTOKEN=48630702&dtstamp=22%2F08%2F2006%7C06%3A58%3A11",
       "com,example)/?dtstamp=22/08/2006|06:58:11");
  SURT("http://example.com/?CFID=16603925&CFTOKEN=2AE13EEE-3048-85B0-56CEDAAB0ACA44B8",
       "com,example)/");
  SURT("http://example.com/(S(4hqa0555fwsecu455xqckv45))/mileg.aspx", "com,example)/mileg.aspx");
  SURT("http://example.com/(4hqa0555fwsecu455xqckv45)/mileg.aspx", "com,example)/mileg.aspx");
  SURT("http://example.com/(a(4hqa0555fwsecu455xqckv45)S(4hqa0555fwsecu455xqckv45)f(4hqa0555fwsecu455xqckv45))/mileg.aspx?page=sessionschedules",
       "com,example)/mileg.aspx?page=sessionschedules");
  SURT("http://example.com/photos/36050182@N05/", "com,example)/photos/36050182@n05");
  /* the surt package's own Yahoo web-bug case */
  SURT("http://visit.webhosting.yahoo.com/visit.gif?&r=http%3A//web.archive.org/web/20090517140029/"
       "http%3A//anthonystewarthead.electric-chi.com/&b=Netscape%205.0%20%28Windows%3B%20en-US%29&"
       "s=1366x768&o=Win32&c=24&j=true&v=1.2",
       "com,yahoo,webhosting,visit)/visit.gif?&b=netscape%205.0%20(windows;%20en-us)&c=24&j=true&"
       "o=win32&r=http://web.archive.org/web/20090517140029/http://anthonystewarthead.electric-chi.com/"
       "&s=1366x768&v=1.2");
  /* not http */
  SURT("", "-");
  SURT("mailto:foo@example.com", "mailto:foo@example.com");
  SURT("warcinfo:foo.warc.gz", "warcinfo:foo.warc.gz");
}

int main(int argc, char **argv) {
  dump_dir = argc > 1 ? argv[1] : getenv("RF_WARC_DUMP_DIR");
  if (dump_dir && mkdir(dump_dir, 0755) != 0 && errno != EEXIST) {
    perror(dump_dir);
    return 2;
  }
  test_helpers();
  test_surt();
  test_exchanges();
  test_rotation();
  test_names_and_errors();
  return TU_EXIT();
}
