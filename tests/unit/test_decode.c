/* Content-coding decoders: round trips of every coding (fixtures made with
 * the libraries' own encoders, which only this test links), every split of
 * the input and byte-at-a-time feeding, stacked codings in RFC 9110 order,
 * zlib vs raw deflate, gzip members and zstd frames back to back, every
 * truncation, corrupt checks, data after a stream's end, zstd and brotli
 * windows over the limits, decompression bombs (output in 16 KiB pieces,
 * stopped by the callback, memory measured), and rf_codings_parse.
 *
 * Wire pieces are private copies that end at a guard page, so reading past
 * a piece crashes (run under ASan too). */
#include <errno.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <time.h>

#define ZLIB_CONST
#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>

#include "proto/decode.h"
#include "testutil.h"

#define MiB (1024u * 1024u)

/* ---- byte buffers ------------------------------------------------------- */

typedef struct buf {
  uint8_t *p;
  size_t n, cap;
} buf;

static void buf_reserve(buf *b, size_t more) {
  if (b->cap - b->n >= more)
    return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap - b->n < more)
    cap *= 2;
  uint8_t *p = realloc(b->p, cap);
  if (!p) {
    perror("realloc");
    exit(2);
  }
  b->p = p;
  b->cap = cap;
}

static void buf_put(buf *b, const void *p, size_t n) {
  buf_reserve(b, n);
  if (n)
    memcpy(b->p + b->n, p, n);
  b->n += n;
}

static void buf_free(buf *b) {
  free(b->p);
  b->p = NULL;
  b->n = b->cap = 0;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void) {
  uint64_t x = rng_state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return rng_state = x;
}

static buf random_body(size_t n) {
  buf b = {0};
  buf_reserve(&b, n);
  for (size_t i = 0; i < n; i++)
    b.p[i] = (uint8_t)(rng() >> 24);
  b.n = n;
  return b;
}

/* Compressible: lines of text with numbers in them. */
static buf repetitive_body(size_t n) {
  buf b = {0};
  char line[96];
  for (unsigned i = 0; b.n < n; i++) {
    int k = snprintf(line, sizeof line, "line %u: the quick brown fox jumps over %u lazy dogs\n", i,
                     i % 17);
    size_t take = (size_t)k < n - b.n ? (size_t)k : n - b.n;
    buf_put(&b, line, take);
  }
  return b;
}

/* ---- encoders (fixtures) ------------------------------------------------ */

/* zlib's deflate: wbits 15 = zlib format, -15 = raw, 31 = gzip. */
static buf enc_zlib(const uint8_t *in, size_t n, int wbits, int level) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, level, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    exit(2);
  buf b = {0};
  buf_reserve(&b, deflateBound(&z, (uLong)n) + 64);
  z.next_in = in;
  z.avail_in = (uInt)n;
  z.next_out = b.p;
  z.avail_out = (uInt)b.cap;
  if (deflate(&z, Z_FINISH) != Z_STREAM_END)
    exit(2);
  b.n = b.cap - z.avail_out;
  deflateEnd(&z);
  return b;
}

static buf enc_br(const uint8_t *in, size_t n, int quality, int lgwin) {
  buf b = {0};
  size_t cap = BrotliEncoderMaxCompressedSize(n) + 64;
  buf_reserve(&b, cap);
  size_t outn = cap;
  if (!BrotliEncoderCompress(quality, lgwin, BROTLI_MODE_GENERIC, n, in, &outn, b.p))
    exit(2);
  b.n = outn;
  return b;
}

static buf enc_zstd(const uint8_t *in, size_t n, int level) {
  buf b = {0};
  buf_reserve(&b, ZSTD_compressBound(n) + 64);
  size_t r = ZSTD_compress(b.p, b.cap, in, n, level);
  if (ZSTD_isError(r))
    exit(2);
  b.n = r;
  return b;
}

static buf encode(enum rf_coding c, const uint8_t *in, size_t n) {
  switch (c) {
  case RF_CODING_GZIP:
    return enc_zlib(in, n, 16 + 15, 6);
  case RF_CODING_DEFLATE:
    return enc_zlib(in, n, 15, 6);
  case RF_CODING_BR:
    return enc_br(in, n, n > 100000 ? 5 : 11, 22);
  case RF_CODING_ZSTD:
    return enc_zstd(in, n, 3);
  }
  exit(2);
}

/* Applies codings[0..k) in that order (what "Content-Encoding: a, b" says). */
static buf encode_stack(const enum rf_coding *codings, int k, const uint8_t *in, size_t n) {
  buf cur = {0};
  buf_put(&cur, in, n);
  for (int i = 0; i < k; i++) {
    buf next = encode(codings[i], cur.p, cur.n);
    buf_free(&cur);
    cur = next;
  }
  return cur;
}

/* ---- decoding ----------------------------------------------------------- */

typedef struct sink {
  buf out;
  bool keep; /* store the output (else only count it) */
  size_t total;
  size_t calls;
  size_t max_piece;
  size_t bad_pieces; /* calls with n == 0 or n > RF_DECODE_CHUNK */
  size_t limit;      /* stop once this much came out (0: never) */
  bool stopped;
  size_t calls_after_stop;
} sink;

static int sink_out(void *ud, const uint8_t *p, size_t n) {
  sink *s = ud;
  if (s->stopped)
    s->calls_after_stop++;
  if (n == 0 || n > RF_DECODE_CHUNK)
    s->bad_pieces++;
  if (n > s->max_piece)
    s->max_piece = n;
  s->calls++;
  s->total += n;
  if (s->keep)
    buf_put(&s->out, p, n);
  if (s->limit && s->total >= s->limit) {
    s->stopped = true;
    return 1;
  }
  return 0;
}

enum feed_mode { WHOLE, SPLIT, BYTES };

typedef struct dres {
  int rc;         /* first non-zero feed result, else finish's */
  bool at_finish; /* rc came from finish */
  buf out;
  char err[200];
  size_t bad_pieces;
} dres;

/* Feeds the pieces, each a private copy ending at a guard page. */
static int feed_guarded(rf_decoder *d, const uint8_t *p, size_t n, sink *s) {
  tu_guard g;
  char *c = tu_guard_copy(&g, p, n);
  int rc = rf_decoder_feed(d, (const uint8_t *)c, n, sink_out, s);
  tu_guard_free(&g);
  return rc;
}

static dres decode(const enum rf_coding *codings, int k, const uint8_t *wire, size_t wn,
                   enum feed_mode mode, size_t split) {
  dres r;
  memset(&r, 0, sizeof r);
  sink s;
  memset(&s, 0, sizeof s);
  s.keep = true;
  rf_decoder *d = rf_decoder_new(codings, k);
  if (!d) {
    fprintf(stderr, "rf_decoder_new failed\n");
    exit(2);
  }
  int rc = 0;
  if (mode == WHOLE) {
    rc = feed_guarded(d, wire, wn, &s);
  } else if (mode == SPLIT) {
    rc = feed_guarded(d, wire, split, &s);
    if (!rc)
      rc = feed_guarded(d, wire + split, wn - split, &s);
  } else {
    tu_guard g;
    const uint8_t *c = (const uint8_t *)tu_guard_copy(&g, wire, wn);
    for (size_t i = 0; i < wn && !rc; i++)
      rc = rf_decoder_feed(d, c + i, 1, sink_out, &s);
    tu_guard_free(&g);
  }
  if (!rc) {
    rc = rf_decoder_finish(d, sink_out, &s);
    r.at_finish = true;
  }
  r.rc = rc;
  snprintf(r.err, sizeof r.err, "%s", rf_decoder_error(d));
  r.out = s.out;
  r.bad_pieces = s.bad_pieces;
  rf_decoder_free(d);
  return r;
}

static bool same(const buf *a, const uint8_t *p, size_t n) {
  return a->n == n && (n == 0 || memcmp(a->p, p, n) == 0);
}

/* How many split points to try: all of them while that stays cheap. */
static size_t split_stride(size_t wn, size_t body) {
  size_t budget = 128 * MiB / (body > 4096 ? body : 4096); /* decodes of the body */
  if (budget < 64)
    budget = 64;
  return wn + 1 <= budget ? 1 : (wn + 1) / budget + 1;
}

/* wire decodes to body whole, split anywhere in two, and byte by byte. */
static void check_roundtrip(const char *label, const enum rf_coding *codings, int k,
                            const uint8_t *wire, size_t wn, const uint8_t *body, size_t bn) {
  dres r = decode(codings, k, wire, wn, WHOLE, 0);
  CHECKF(r.rc == 0, "%s whole: rc %d (%s)", label, r.rc, r.err);
  CHECKF(same(&r.out, body, bn), "%s whole: %zu bytes out, want %zu", label, r.out.n, bn);
  CHECKF(r.bad_pieces == 0, "%s whole: %zu pieces outside 1..16 KiB", label, r.bad_pieces);
  CHECKF(r.err[0] == 0, "%s whole: error text '%s' without an error", label, r.err);
  buf_free(&r.out);

  size_t stride = split_stride(wn, bn);
  size_t fails = 0;
  for (size_t cut = 0; cut <= wn; cut += (cut < 4 || cut + 4 > wn) ? 1 : stride) {
    r = decode(codings, k, wire, wn, SPLIT, cut);
    if (r.rc != 0 || !same(&r.out, body, bn) || r.bad_pieces) {
      if (fails++ < 3)
        CHECKF(false, "%s split at %zu of %zu: rc %d (%s), %zu bytes out", label, cut, wn, r.rc,
               r.err, r.out.n);
    }
    buf_free(&r.out);
  }
  CHECKF(fails == 0, "%s: %zu splits failed", label, fails);

  r = decode(codings, k, wire, wn, BYTES, 0);
  CHECKF(r.rc == 0, "%s bytes: rc %d (%s)", label, r.rc, r.err);
  CHECKF(same(&r.out, body, bn), "%s bytes: %zu bytes out, want %zu", label, r.out.n, bn);
  CHECKF(r.bad_pieces == 0, "%s bytes: bad pieces", label);
  buf_free(&r.out);
}

/* wire fails: at feed (want_finish false) or only at finish, with msg. */
static void check_bad(const char *label, const enum rf_coding *codings, int k, const uint8_t *wire,
                      size_t wn, bool want_finish, const char *msg) {
  for (int mode = WHOLE; mode <= BYTES; mode++) {
    dres r = decode(codings, k, wire, wn, (enum feed_mode)mode, wn / 2);
    CHECKF(r.rc == RF_DECODE_E_BAD, "%s mode %d: rc %d, want BAD", label, mode, r.rc);
    CHECKF(r.at_finish == want_finish, "%s mode %d: failed at %s", label, mode,
           r.at_finish ? "finish" : "feed");
    if (msg)
      CHECKF(strcmp(r.err, msg) == 0, "%s mode %d: error '%s', want '%s'", label, mode, r.err, msg);
    else
      CHECKF(r.err[0] != 0, "%s mode %d: no error text", label, mode);
    buf_free(&r.out);
  }
}

static const enum rf_coding GZ[] = {RF_CODING_GZIP}, DF[] = {RF_CODING_DEFLATE},
                            BR[] = {RF_CODING_BR}, ZS[] = {RF_CODING_ZSTD};

/* ---- memory ------------------------------------------------------------- */

static long status_kib(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f)
    return -1;
  char line[256];
  long v = -1;
  size_t kl = strlen(key);
  while (fgets(line, sizeof line, f))
    if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
      v = strtol(line + kl + 1, NULL, 10);
      break;
    }
  fclose(f);
  return v;
}

static long maxrss_kib(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

/* Resets VmHWM (the peak RSS) to the current RSS (Linux >= 4.0). */
static bool reset_peak(void) {
  FILE *f = fopen("/proc/self/clear_refs", "w");
  if (!f)
    return false;
  bool ok = fputs("5", f) >= 0;
  return fclose(f) == 0 && ok;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- bombs -------------------------------------------------------------- */

/* 256 MiB of zeros through each encoder, streaming (never held whole). */
#define BOMB_SIZE (256 * (size_t)MiB)

static buf bomb_gzip(void) {
  static const uint8_t zeros[65536];
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, 9, Z_DEFLATED, 16 + 15, 9, Z_DEFAULT_STRATEGY) != Z_OK)
    exit(2);
  buf b = {0};
  uint8_t tmp[65536];
  for (size_t done = 0; done <= BOMB_SIZE; done += sizeof zeros) {
    bool last = done == BOMB_SIZE;
    z.next_in = zeros;
    z.avail_in = last ? 0 : sizeof zeros;
    int zr;
    do {
      z.next_out = tmp;
      z.avail_out = sizeof tmp;
      zr = deflate(&z, last ? Z_FINISH : Z_NO_FLUSH);
      buf_put(&b, tmp, sizeof tmp - z.avail_out);
    } while (z.avail_out == 0 || (last && zr != Z_STREAM_END));
  }
  deflateEnd(&z);
  return b;
}

static buf bomb_br(void) {
  static const uint8_t zeros[65536];
  BrotliEncoderState *e = BrotliEncoderCreateInstance(NULL, NULL, NULL);
  BrotliEncoderSetParameter(e, BROTLI_PARAM_QUALITY, 5);
  BrotliEncoderSetParameter(e, BROTLI_PARAM_LGWIN, 22);
  buf b = {0};
  uint8_t tmp[65536];
  for (size_t done = 0; done <= BOMB_SIZE; done += sizeof zeros) {
    bool last = done == BOMB_SIZE;
    size_t avail_in = last ? 0 : sizeof zeros;
    const uint8_t *next_in = zeros;
    do {
      size_t avail_out = sizeof tmp;
      uint8_t *next_out = tmp;
      if (!BrotliEncoderCompressStream(e, last ? BROTLI_OPERATION_FINISH : BROTLI_OPERATION_PROCESS,
                                       &avail_in, &next_in, &avail_out, &next_out, NULL))
        exit(2);
      buf_put(&b, tmp, sizeof tmp - avail_out);
    } while (avail_in > 0 || BrotliEncoderHasMoreOutput(e) ||
             (last && !BrotliEncoderIsFinished(e)));
  }
  BrotliEncoderDestroyInstance(e);
  return b;
}

static buf bomb_zstd(void) {
  static const uint8_t zeros[65536];
  ZSTD_CCtx *c = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 3);
  buf b = {0};
  uint8_t tmp[65536];
  for (size_t done = 0; done <= BOMB_SIZE; done += sizeof zeros) {
    bool last = done == BOMB_SIZE;
    ZSTD_inBuffer in = {zeros, last ? 0 : sizeof zeros, 0};
    size_t left;
    do {
      ZSTD_outBuffer o = {tmp, sizeof tmp, 0};
      left = ZSTD_compressStream2(c, &o, &in, last ? ZSTD_e_end : ZSTD_e_continue);
      if (ZSTD_isError(left))
        exit(2);
      buf_put(&b, tmp, o.pos);
    } while (in.pos < in.size || (last && left != 0));
  }
  ZSTD_freeCCtx(c);
  return b;
}

typedef struct bomb_run {
  int rc;
  sink s;
  double secs;
  long rss_before, peak_growth; /* KiB; peak_growth -1 when not measurable */
} bomb_run;

/* Feeds wire whole, counting the output; stops at limit (0: never). */
static bomb_run run_bomb(const enum rf_coding *codings, int k, const buf *wire, size_t limit) {
  bomb_run b;
  memset(&b, 0, sizeof b);
  b.s.limit = limit;
  bool peak_ok = reset_peak();
  b.rss_before = status_kib("VmRSS");
  double t0 = now_s();
  rf_decoder *d = rf_decoder_new(codings, k);
  b.rc = rf_decoder_feed(d, wire->p, wire->n, sink_out, &b.s);
  if (!b.rc)
    b.rc = rf_decoder_finish(d, sink_out, &b.s);
  rf_decoder_free(d);
  b.secs = now_s() - t0;
  long hwm = status_kib("VmHWM");
  b.peak_growth = peak_ok && hwm >= 0 && b.rss_before >= 0 ? hwm - b.rss_before : -1;
  return b;
}

static void test_bombs(void) {
  const size_t limit = 10 * MiB;

  /* gzip first: the process is still small, so ru_maxrss says something */
  buf gz = bomb_gzip();
  fprintf(stderr, "gzip bomb: %zu bytes on the wire for %zu MiB of zeros\n", gz.n, BOMB_SIZE / MiB);
  bomb_run full = run_bomb(GZ, 1, &gz, 0);
  CHECK_EQ_INT(full.rc, 0);
  CHECK_EQ_INT(full.s.total, BOMB_SIZE);
  CHECK_EQ_INT(full.s.bad_pieces, 0);
  CHECK_EQ_INT(full.s.max_piece, RF_DECODE_CHUNK);
  bomb_run stop = run_bomb(GZ, 1, &gz, limit);
  long maxrss = maxrss_kib();
  fprintf(stderr,
          "gzip bomb: full decode %.3f s, %zu calls, peak RSS growth %ld KiB; stopped at %zu "
          "bytes after %.4f s, peak RSS growth %ld KiB (RSS before %ld KiB); ru_maxrss %ld KiB\n",
          full.secs, full.s.calls, full.peak_growth, stop.s.total, stop.secs, stop.peak_growth,
          stop.rss_before, maxrss);
  CHECK_EQ_INT(stop.rc, RF_DECODE_E_ABORT);
  CHECK(stop.s.total >= limit && stop.s.total < limit + RF_DECODE_CHUNK);
  CHECK_EQ_INT(stop.s.calls_after_stop, 0);
  CHECK_EQ_INT(stop.s.bad_pieces, 0);
  /* stopped means stopped: not the whole bomb decoded before returning */
  CHECKF(full.secs < 0.1 || stop.secs < full.secs / 2, "stop %.3f s vs full %.3f s", stop.secs,
         full.secs);
  if (full.peak_growth >= 0)
    CHECKF(full.peak_growth < 4 * 1024, "gzip bomb grew RSS by %ld KiB", full.peak_growth);
  /* the whole process so far, encoder included (~3 MiB; ~10 MiB under ASan) */
  CHECKF(maxrss < 64 * 1024, "ru_maxrss %ld KiB", maxrss);

  /* the same bomb wrapped in gzip again: small stacked, still 16 KiB pieces */
  buf gz2 = enc_zlib(gz.p, gz.n, 16 + 15, 9);
  const enum rf_coding gzgz[] = {RF_CODING_GZIP, RF_CODING_GZIP};
  full = run_bomb(gzgz, 2, &gz2, 0);
  stop = run_bomb(gzgz, 2, &gz2, limit);
  fprintf(stderr,
          "gzip,gzip bomb: %zu bytes; full %.3f s, peak growth %ld KiB; stopped at %zu after "
          "%.4f s\n",
          gz2.n, full.secs, full.peak_growth, stop.s.total, stop.secs);
  CHECK_EQ_INT(full.rc, 0);
  CHECK_EQ_INT(full.s.total, BOMB_SIZE);
  CHECK_EQ_INT(full.s.bad_pieces, 0);
  CHECK_EQ_INT(stop.rc, RF_DECODE_E_ABORT);
  CHECK(stop.s.total >= limit && stop.s.total < limit + RF_DECODE_CHUNK);
  CHECK_EQ_INT(stop.s.calls_after_stop, 0);
  CHECKF(full.secs < 0.1 || stop.secs < full.secs / 2, "stop %.3f s vs full %.3f s", stop.secs,
         full.secs);
  if (full.peak_growth >= 0)
    CHECKF(full.peak_growth < 4 * 1024, "gzip,gzip bomb grew RSS by %ld KiB", full.peak_growth);
  buf_free(&gz);
  buf_free(&gz2);

  /* br (4 MiB window) and zstd (2 MiB window): growth bounded by the window */
  buf br = bomb_br();
  buf zs = bomb_zstd();
  struct {
    const char *name;
    const enum rf_coding *c;
    buf *wire;
    long max_growth_kib;
  } t[] = {{"br", BR, &br, 4 * 1024 + 4 * 1024}, {"zstd", ZS, &zs, 2 * 1024 + 4 * 1024}};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    full = run_bomb(t[i].c, 1, t[i].wire, 0);
    stop = run_bomb(t[i].c, 1, t[i].wire, limit);
    fprintf(stderr,
            "%s bomb: %zu bytes; full %.3f s, %zu calls, peak growth %ld KiB; stopped at %zu "
            "after %.4f s, peak growth %ld KiB\n",
            t[i].name, t[i].wire->n, full.secs, full.s.calls, full.peak_growth, stop.s.total,
            stop.secs, stop.peak_growth);
    CHECKF(full.rc == 0, "%s: rc %d", t[i].name, full.rc);
    CHECKF(full.s.total == BOMB_SIZE, "%s: %zu out", t[i].name, full.s.total);
    CHECKF(full.s.bad_pieces == 0 && full.s.max_piece <= RF_DECODE_CHUNK, "%s pieces", t[i].name);
    CHECKF(stop.rc == RF_DECODE_E_ABORT, "%s: rc %d", t[i].name, stop.rc);
    CHECKF(stop.s.total >= limit && stop.s.total < limit + RF_DECODE_CHUNK, "%s: %zu out",
           t[i].name, stop.s.total);
    CHECKF(stop.s.calls_after_stop == 0, "%s", t[i].name);
    CHECKF(full.secs < 0.1 || stop.secs < full.secs / 2, "%s: stop %.3f s vs full %.3f s",
           t[i].name, stop.secs, full.secs);
    if (full.peak_growth >= 0)
      CHECKF(full.peak_growth < t[i].max_growth_kib, "%s bomb grew RSS by %ld KiB", t[i].name,
             full.peak_growth);
  }
  buf_free(&br);
  buf_free(&zs);
}

/* ---- round trips -------------------------------------------------------- */

static void test_roundtrips(void) {
  buf bodies[5] = {{0}, random_body(1), random_body(1000), random_body(MiB), repetitive_body(MiB)};
  const char *names[5] = {"0 B", "1 B", "1000 B", "1 MiB random", "1 MiB text"};
  for (enum rf_coding c = RF_CODING_GZIP; c <= RF_CODING_ZSTD; c++) {
    for (int b = 0; b < 5; b++) {
      char label[64];
      snprintf(label, sizeof label, "%s %s", rf_coding_name(c), names[b]);
      buf w = encode(c, bodies[b].p, bodies[b].n);
      check_roundtrip(label, &c, 1, w.p, w.n, bodies[b].p, bodies[b].n);
      buf_free(&w);
    }
  }
  /* raw deflate (RFC 1951) under the deflate name, as many servers send it */
  for (int b = 0; b < 5; b++) {
    char label[64];
    snprintf(label, sizeof label, "raw deflate %s", names[b]);
    for (int level = 1; level <= 9; level += 8) {
      buf w = enc_zlib(bodies[b].p, bodies[b].n, -15, level);
      check_roundtrip(label, DF, 1, w.p, w.n, bodies[b].p, bodies[b].n);
      buf_free(&w);
    }
  }
  /* every zlib window size and level: all headers are recognised as zlib */
  for (int wbits = 9; wbits <= 15; wbits++)
    for (int level = 0; level <= 9; level++) {
      char label[64];
      snprintf(label, sizeof label, "zlib wbits %d level %d", wbits, level);
      buf w = enc_zlib(bodies[2].p, bodies[2].n, wbits, level);
      dres r = decode(DF, 1, w.p, w.n, WHOLE, 0);
      CHECKF(r.rc == 0 && same(&r.out, bodies[2].p, bodies[2].n), "%s: rc %d (%s)", label, r.rc,
             r.err);
      buf_free(&r.out);
      /* and the same data raw (header stripped, adler32 dropped) */
      dres r2 = decode(DF, 1, w.p + 2, w.n - 6, WHOLE, 0);
      CHECKF(r2.rc == 0 && same(&r2.out, bodies[2].p, bodies[2].n), "%s raw: rc %d (%s)", label,
             r2.rc, r2.err);
      buf_free(&r2.out);
      buf_free(&w);
    }
  for (int b = 0; b < 5; b++)
    buf_free(&bodies[b]);
}

static void test_stacked(void) {
  buf small = repetitive_body(1000), big = repetitive_body(MiB), rnd = random_body(5000);
  const enum rf_coding stacks[][2] = {{RF_CODING_GZIP, RF_CODING_BR},
                                      {RF_CODING_BR, RF_CODING_GZIP},
                                      {RF_CODING_GZIP, RF_CODING_GZIP},
                                      {RF_CODING_ZSTD, RF_CODING_DEFLATE}};
  for (size_t i = 0; i < sizeof stacks / sizeof stacks[0]; i++) {
    const buf *bodies[3] = {&small, &big, &rnd};
    for (int b = 0; b < 3; b++) {
      char label[64];
      snprintf(label, sizeof label, "%s, %s (%zu bytes)", rf_coding_name(stacks[i][0]),
               rf_coding_name(stacks[i][1]), bodies[b]->n);
      buf w = encode_stack(stacks[i], 2, bodies[b]->p, bodies[b]->n);
      check_roundtrip(label, stacks[i], 2, w.p, w.n, bodies[b]->p, bodies[b]->n);
      buf_free(&w);
    }
  }
  /* the header's order matters: "gzip, br" means br was applied last */
  const enum rf_coding gz_br[] = {RF_CODING_GZIP, RF_CODING_BR};
  const enum rf_coding br_gz[] = {RF_CODING_BR, RF_CODING_GZIP};
  buf w = encode_stack(gz_br, 2, small.p, small.n);
  dres r = decode(br_gz, 2, w.p, w.n, WHOLE, 0);
  CHECK_EQ_INT(r.rc, RF_DECODE_E_BAD);
  CHECK_EQ_STR(r.err, "gzip: incorrect header check");
  buf_free(&r.out);
  /* what rf_codings_parse gives goes straight in */
  enum rf_coding parsed[RF_MAX_CODINGS];
  CHECK_EQ_INT(rf_codings_parse("gzip, br", 8, parsed, RF_MAX_CODINGS, NULL), 2);
  r = decode(parsed, 2, w.p, w.n, WHOLE, 0);
  CHECK(r.rc == 0 && same(&r.out, small.p, small.n));
  buf_free(&r.out);
  buf_free(&w);

  /* five deep, every coding; and one of each order of three */
  const enum rf_coding five[] = {RF_CODING_ZSTD, RF_CODING_GZIP, RF_CODING_BR, RF_CODING_DEFLATE,
                                 RF_CODING_GZIP};
  w = encode_stack(five, 5, rnd.p, rnd.n);
  check_roundtrip("five codings", five, 5, w.p, w.n, rnd.p, rnd.n);
  buf_free(&w);
  const enum rf_coding three[] = {RF_CODING_BR, RF_CODING_ZSTD, RF_CODING_DEFLATE};
  w = encode_stack(three, 3, big.p, big.n);
  check_roundtrip("br, zstd, deflate", three, 3, w.p, w.n, big.p, big.n);
  buf_free(&w);

  /* an empty body under a stack is still no error; so is br's empty stream
   * giving the gzip stage nothing at all */
  r = decode(gz_br, 2, NULL, 0, WHOLE, 0);
  CHECK(r.rc == 0 && r.out.n == 0);
  buf br_empty = enc_br(NULL, 0, 11, 22);
  r = decode(gz_br, 2, br_empty.p, br_empty.n, WHOLE, 0);
  CHECK(r.rc == 0 && r.out.n == 0);
  buf_free(&br_empty);
  /* a stage below another that ended cut short */
  w = encode_stack(gz_br, 2, small.p, small.n);
  buf inner = enc_zlib(small.p, small.n, 31, 6);
  buf cut = enc_br(inner.p, inner.n - 3, 11, 22);
  check_bad("br complete around a cut gzip", gz_br, 2, cut.p, cut.n, true,
            "gzip: unexpected end of data");
  buf_free(&cut);
  buf_free(&inner);
  buf_free(&w);
  buf_free(&small);
  buf_free(&big);
  buf_free(&rnd);
}

/* ---- stream boundaries -------------------------------------------------- */

static void test_concatenated(void) {
  buf a = repetitive_body(3000), b = random_body(700), c = {0};
  buf_put(&c, "x", 1);
  buf all = {0};
  buf_put(&all, a.p, a.n);
  buf_put(&all, b.p, b.n);
  buf_put(&all, c.p, c.n);

  /* gzip members back to back are one body; so is an empty member */
  buf ga = encode(RF_CODING_GZIP, a.p, a.n), gb = encode(RF_CODING_GZIP, b.p, b.n),
      gc = encode(RF_CODING_GZIP, c.p, c.n), ge = encode(RF_CODING_GZIP, NULL, 0);
  buf w = {0};
  buf_put(&w, ga.p, ga.n);
  buf_put(&w, ge.p, ge.n);
  buf_put(&w, gb.p, gb.n);
  buf_put(&w, gc.p, gc.n);
  check_roundtrip("gzip members", GZ, 1, w.p, w.n, all.p, all.n);
  /* a member with a name, a comment and a header CRC */
  {
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
    gz_header h;
    memset(&h, 0, sizeof h);
    h.name = (Bytef *)"file.txt";
    h.comment = (Bytef *)"a comment";
    h.hcrc = 1;
    deflateSetHeader(&z, &h);
    uint8_t out[8192];
    z.next_in = a.p;
    z.avail_in = (uInt)a.n;
    z.next_out = out;
    z.avail_out = sizeof out;
    CHECK_EQ_INT(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t on = sizeof out - z.avail_out;
    deflateEnd(&z);
    check_roundtrip("gzip with name, comment, hcrc", GZ, 1, out, on, a.p, a.n);
  }
  /* garbage after a member is an error, at once or in a later piece */
  buf g = {0};
  buf_put(&g, ga.p, ga.n);
  buf_put(&g, "garbage!", 8);
  check_bad("gzip + garbage", GZ, 1, g.p, g.n, false, "gzip: incorrect header check");
  buf_free(&g);
  buf_put(&g, ga.p, ga.n);
  buf_put(&g, "\0", 1);
  check_bad("gzip + NUL", GZ, 1, g.p, g.n, true, "gzip: unexpected end of data");
  buf_free(&g);
  /* a second member cut short anywhere */
  for (size_t k = 1; k < gb.n; k++) {
    buf_put(&g, ga.p, ga.n);
    buf_put(&g, gb.p, k);
    dres r = decode(GZ, 1, g.p, g.n, WHOLE, 0);
    CHECKF(r.rc == RF_DECODE_E_BAD && r.at_finish, "second member cut at %zu: rc %d", k, r.rc);
    buf_free(&r.out);
    buf_free(&g);
  }

  /* zstd: two frames and a skippable frame (magic 0x184D2A5?) in one body */
  buf za = encode(RF_CODING_ZSTD, a.p, a.n), zb = encode(RF_CODING_ZSTD, b.p, b.n);
  static const uint8_t skippable[] = {0x53, 0x2a, 0x4d, 0x18, 5, 0, 0, 0, 'h', 'e', 'l', 'l', 'o'};
  buf_free(&w);
  buf_put(&w, za.p, za.n);
  buf_put(&w, skippable, sizeof skippable);
  buf_put(&w, zb.p, zb.n);
  buf ab = {0};
  buf_put(&ab, a.p, a.n);
  buf_put(&ab, b.p, b.n);
  check_roundtrip("zstd frames + skippable", ZS, 1, w.p, w.n, ab.p, ab.n);
  buf_put(&w, skippable, sizeof skippable);
  check_roundtrip("zstd frames + skippable at the end", ZS, 1, w.p, w.n, ab.p, ab.n);
  check_roundtrip("zstd skippable only", ZS, 1, skippable, sizeof skippable, NULL, 0);
  check_bad("zstd skippable cut", ZS, 1, skippable, sizeof skippable - 1, true,
            "zstd: unexpected end of data (unfinished frame)");
  /* garbage after a frame */
  buf_free(&w);
  buf_put(&w, za.p, za.n);
  buf_put(&w, "garbage!", 8);
  check_bad("zstd + garbage", ZS, 1, w.p, w.n, false, "zstd: Unknown frame descriptor");
  /* a pre-1.0 (v0.5) frame, which a libzstd with legacy support would take
   * when its magic came in one piece and refuse when split (found by
   * fuzz_decode): refused however it comes, first or after a frame */
  static const uint8_t legacy[] = {0x25, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0};
  check_bad("zstd v0.5 frame", ZS, 1, legacy, sizeof legacy, false,
            "zstd: Unknown frame descriptor");
  buf_free(&w);
  buf_put(&w, za.p, za.n);
  buf_put(&w, legacy, sizeof legacy);
  check_bad("zstd frame + v0.5 frame", ZS, 1, w.p, w.n, false, "zstd: Unknown frame descriptor");
  /* a dictionary is not a frame */
  static const uint8_t dict[] = {0x37, 0xa4, 0x30, 0xec, 1, 0, 0, 0};
  check_bad("zstd dictionary magic", ZS, 1, dict, sizeof dict, false,
            "zstd: Unknown frame descriptor");
  /* a magic number cut short */
  check_bad("zstd 3 bytes of magic", ZS, 1, za.p, 3, true,
            "zstd: unexpected end of data (unfinished frame)");
  /* with a content checksum, corrupted */
  {
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
    buf z = {0};
    buf_reserve(&z, ZSTD_compressBound(a.n));
    z.n = ZSTD_compress2(cc, z.p, z.cap, a.p, a.n);
    ZSTD_freeCCtx(cc);
    CHECK(!ZSTD_isError(z.n));
    check_roundtrip("zstd with checksum", ZS, 1, z.p, z.n, a.p, a.n);
    z.p[z.n - 1] ^= 1;
    check_bad("zstd checksum", ZS, 1, z.p, z.n, false,
              "zstd: Restored data doesn't match checksum");
    buf_free(&z);
  }

  /* br and deflate: one stream only; anything after it is an error */
  buf bra = encode(RF_CODING_BR, a.p, a.n);
  buf_free(&w);
  buf_put(&w, bra.p, bra.n);
  buf_put(&w, "x", 1);
  check_bad("br + 1 byte", BR, 1, w.p, w.n, false, "brotli: data after the end of the stream");
  buf_put(&w, bra.p, bra.n);
  check_bad("br + br", BR, 1, w.p, w.n, false, "brotli: data after the end of the stream");
  buf dfa = encode(RF_CODING_DEFLATE, a.p, a.n);
  buf_free(&w);
  buf_put(&w, dfa.p, dfa.n);
  buf_put(&w, "x", 1);
  check_bad("deflate + 1 byte", DF, 1, w.p, w.n, false,
            "deflate: data after the end of the stream");
  buf_free(&w);
  buf raw = enc_zlib(a.p, a.n, -15, 6);
  buf_put(&w, raw.p, raw.n);
  buf_put(&w, "xy", 2);
  check_bad("raw deflate + 2 bytes", DF, 1, w.p, w.n, false,
            "deflate: data after the end of the stream");

  buf *all_bufs[] = {&a, &b, &c, &all, &ga, &gb, &gc, &ge, &w, &za, &zb, &ab, &bra, &dfa, &raw};
  for (size_t i = 0; i < sizeof all_bufs / sizeof all_bufs[0]; i++)
    buf_free(all_bufs[i]);
}

static void test_truncated(void) {
  buf body = random_body(1000), text = repetitive_body(20000);
  static const char *const msg[] = {
      NULL, "gzip: unexpected end of data", "deflate: unexpected end of data",
      "brotli: unexpected end of data", "zstd: unexpected end of data (unfinished frame)"};
  for (enum rf_coding c = RF_CODING_GZIP; c <= RF_CODING_ZSTD; c++) {
    const buf *bodies[2] = {&body, &text};
    for (int b = 0; b < 2; b++) {
      buf w = encode(c, bodies[b]->p, bodies[b]->n);
      size_t fails = 0;
      /* every proper prefix: no error while feeding, an error at finish */
      for (size_t k = 1; k < w.n; k++) {
        dres r = decode(&c, 1, w.p, k, k % 3 == 0 ? BYTES : WHOLE, 0);
        if (r.rc != RF_DECODE_E_BAD || !r.at_finish || strcmp(r.err, msg[c]) != 0)
          if (fails++ < 3)
            CHECKF(false, "%s cut at %zu of %zu: rc %d at %s (%s)", rf_coding_name(c), k, w.n, r.rc,
                   r.at_finish ? "finish" : "feed", r.err);
        buf_free(&r.out);
      }
      CHECKF(fails == 0, "%s: %zu prefixes wrong", rf_coding_name(c), fails);
      buf_free(&w);
    }
  }
  /* raw deflate too (no trailer: the final block's end is the end) */
  buf w = enc_zlib(body.p, body.n, -15, 6);
  size_t fails = 0;
  for (size_t k = 1; k < w.n; k++) {
    dres r = decode(DF, 1, w.p, k, WHOLE, 0);
    if (r.rc != RF_DECODE_E_BAD || !r.at_finish)
      fails++;
    buf_free(&r.out);
  }
  CHECKF(fails == 0, "raw deflate: %zu prefixes wrong", fails);
  buf_free(&w);
  /* zero bytes is an empty body for every coding (HEAD, 204) */
  for (enum rf_coding c = RF_CODING_GZIP; c <= RF_CODING_ZSTD; c++) {
    rf_decoder *d = rf_decoder_new(&c, 1);
    sink s;
    memset(&s, 0, sizeof s);
    CHECK_EQ_INT(rf_decoder_feed(d, NULL, 0, sink_out, &s), 0);
    CHECK_EQ_INT(rf_decoder_finish(d, sink_out, &s), 0);
    CHECK_EQ_INT(s.calls, 0);
    CHECK_EQ_STR(rf_decoder_error(d), "");
    /* finish again: the same answer; feeding after it is an error */
    CHECK_EQ_INT(rf_decoder_finish(d, sink_out, &s), 0);
    CHECK_EQ_INT(rf_decoder_feed(d, (const uint8_t *)"x", 1, sink_out, &s), RF_DECODE_E_BAD);
    CHECK_EQ_STR(rf_decoder_error(d), "data fed after the end of the body");
    rf_decoder_free(d);
  }
  buf_free(&body);
  buf_free(&text);
}

static void test_corrupt(void) {
  buf body = repetitive_body(5000);
  /* gzip trailer: CRC32 then ISIZE */
  buf w = encode(RF_CODING_GZIP, body.p, body.n);
  w.p[w.n - 8] ^= 0x01;
  check_bad("gzip CRC", GZ, 1, w.p, w.n, false, "gzip: incorrect data check");
  w.p[w.n - 8] ^= 0x01;
  w.p[w.n - 1] ^= 0x01;
  check_bad("gzip ISIZE", GZ, 1, w.p, w.n, false, "gzip: incorrect length check");
  w.p[w.n - 1] ^= 0x01;
  w.p[2] = 7; /* compression method */
  check_bad("gzip method", GZ, 1, w.p, w.n, false, "gzip: unknown compression method");
  buf_free(&w);
  /* the first block of a stream with BTYPE 11 */
  static const uint8_t bad_block[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0x07, 0, 0};
  check_bad("gzip block type", GZ, 1, bad_block, sizeof bad_block, false,
            "gzip: invalid block type");
  /* zlib trailer: adler32 */
  w = encode(RF_CODING_DEFLATE, body.p, body.n);
  w.p[w.n - 1] ^= 0x01;
  check_bad("zlib adler32", DF, 1, w.p, w.n, false, "deflate: incorrect data check");
  buf_free(&w);
  /* zlib with a preset dictionary (FDICT) cannot be decoded */
  {
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit(&z, 6);
    deflateSetDictionary(&z, (const Bytef *)"dictionary", 10);
    uint8_t out[8192];
    z.next_in = body.p;
    z.avail_in = (uInt)body.n;
    z.next_out = out;
    z.avail_out = sizeof out;
    CHECK_EQ_INT(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t on = sizeof out - z.avail_out;
    deflateEnd(&z);
    check_bad("zlib FDICT", DF, 1, out, on, false, "deflate: needs a preset dictionary");
  }
  /* br: the empty stream is the one byte 0x06 (WBITS 16, ISLAST,
   * ISLASTEMPTY); its padding bits must be zero */
  static const uint8_t br_empty[] = {0x06}, br_bad[] = {0x86};
  check_roundtrip("br empty stream", BR, 1, br_empty, 1, NULL, 0);
  check_bad("br padding", BR, 1, br_bad, 1, false, "brotli: corrupt data (padding 2)");

  /* random damage anywhere: an error or some output, never a crash (the
   * guard pages and ASan watch), and the same verdict however it is fed */
  buf rnd = random_body(3000);
  for (enum rf_coding c = RF_CODING_GZIP; c <= RF_CODING_ZSTD; c++) {
    buf orig = encode(c, rnd.p, rnd.n);
    for (int i = 0; i < 300; i++) {
      buf m = {0};
      buf_put(&m, orig.p, orig.n);
      for (int j = 0; j < 1 + i % 3; j++)
        m.p[rng() % m.n] ^= (uint8_t)(1u << (rng() % 8));
      dres a = decode(&c, 1, m.p, m.n, WHOLE, 0);
      dres b = decode(&c, 1, m.p, m.n, BYTES, 0);
      CHECKF(a.rc == b.rc, "%s damage %d: whole rc %d (%s), bytes rc %d (%s)", rf_coding_name(c), i,
             a.rc, a.err, b.rc, b.err);
      CHECK(a.rc == 0 || a.rc == RF_DECODE_E_BAD);
      CHECK(a.rc == 0 ? a.err[0] == 0 : a.err[0] != 0);
      if (a.rc == 0 && b.rc == 0)
        CHECK(same(&a.out, b.out.p, b.out.n));
      CHECK(a.bad_pieces == 0 && b.bad_pieces == 0);
      buf_free(&a.out);
      buf_free(&b.out);
      buf_free(&m);
    }
    buf_free(&orig);
  }
  buf_free(&rnd);
  buf_free(&body);
}

/* ---- window limits ------------------------------------------------------ */

/* A zstd frame with a window descriptor (no content size) and one raw block
 * holding "hello": Window_Descriptor = (log - 10) << 3. */
static size_t zstd_frame_with_window(uint8_t *out, int window_log) {
  static const uint8_t head[] = {0x28, 0xb5, 0x2f, 0xfd, 0x00};
  memcpy(out, head, sizeof head);
  out[5] = (uint8_t)((window_log - 10) << 3);
  out[6] = (5 << 3) | 1; /* last block, raw, 5 bytes */
  out[7] = out[8] = 0;
  memcpy(out + 9, "hello", 5);
  return 14;
}

static void test_windows(void) {
  uint8_t f[16];
  for (int wl = 10; wl <= 23; wl++) {
    size_t n = zstd_frame_with_window(f, wl);
    dres r = decode(ZS, 1, f, n, WHOLE, 0);
    CHECKF(r.rc == 0 && same(&r.out, (const uint8_t *)"hello", 5), "window log %d: rc %d (%s)", wl,
           r.rc, r.err);
    buf_free(&r.out);
  }
  for (int wl = 24; wl <= 31; wl++) {
    size_t n = zstd_frame_with_window(f, wl);
    check_bad("zstd window", ZS, 1, f, n, false,
              "zstd: Frame requires too much memory for decoding");
  }
  /* the encoder's own window-log-27 frame (size unknown, so the window stays) */
  buf body = repetitive_body(100000);
  ZSTD_CCtx *cc = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cc, ZSTD_c_windowLog, 27);
  ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
  buf w = {0};
  buf_reserve(&w, ZSTD_compressBound(body.n) + 64);
  ZSTD_inBuffer in = {body.p, body.n, 0};
  ZSTD_outBuffer o = {w.p, w.cap, 0};
  size_t left = ZSTD_compressStream2(cc, &o, &in, ZSTD_e_continue);
  CHECK(!ZSTD_isError(left));
  do
    left = ZSTD_compressStream2(cc, &o, &in, ZSTD_e_end);
  while (!ZSTD_isError(left) && left != 0);
  CHECK(!ZSTD_isError(left));
  w.n = o.pos;
  ZSTD_freeCCtx(cc);
  /* frame header descriptor without single-segment: the window byte follows */
  CHECK((w.p[4] & 0x20) == 0);
  CHECKF(10 + (w.p[5] >> 3) == 27, "window descriptor 0x%02x", w.p[5]);
  check_bad("zstd encoder window log 27", ZS, 1, w.p, w.n, false,
            "zstd: Frame requires too much memory for decoding");
  buf_free(&w);

  /* brotli's large-window extension (windows over 16 MiB) is not accepted */
  BrotliEncoderState *e = BrotliEncoderCreateInstance(NULL, NULL, NULL);
  BrotliEncoderSetParameter(e, BROTLI_PARAM_LARGE_WINDOW, 1);
  BrotliEncoderSetParameter(e, BROTLI_PARAM_LGWIN, 26);
  BrotliEncoderSetParameter(e, BROTLI_PARAM_QUALITY, 5);
  buf_reserve(&w, BrotliEncoderMaxCompressedSize(body.n) + 64);
  size_t avail_in = body.n, avail_out = w.cap;
  const uint8_t *next_in = body.p;
  uint8_t *next_out = w.p;
  CHECK(BrotliEncoderCompressStream(e, BROTLI_OPERATION_FINISH, &avail_in, &next_in, &avail_out,
                                    &next_out, NULL));
  CHECK(BrotliEncoderIsFinished(e));
  w.n = w.cap - avail_out;
  BrotliEncoderDestroyInstance(e);
  check_bad("br large window", BR, 1, w.p, w.n, false, "brotli: corrupt data (window bits)");
  buf_free(&w);
  buf_free(&body);
}

/* ---- the callback stopping ---------------------------------------------- */

static void test_abort(void) {
  buf body = random_body(200000);
  for (enum rf_coding c = RF_CODING_GZIP; c <= RF_CODING_ZSTD; c++) {
    buf w = encode(c, body.p, body.n);
    for (size_t limit = 1; limit <= 3 * RF_DECODE_CHUNK; limit += RF_DECODE_CHUNK - 1) {
      rf_decoder *d = rf_decoder_new(&c, 1);
      sink s;
      memset(&s, 0, sizeof s);
      s.keep = true;
      s.limit = limit;
      int rc = rf_decoder_feed(d, w.p, w.n, sink_out, &s);
      CHECKF(rc == RF_DECODE_E_ABORT, "%s limit %zu: rc %d", rf_coding_name(c), limit, rc);
      CHECK_EQ_STR(rf_decoder_error(d), "stopped by the output callback");
      CHECK(s.total >= limit && s.total < limit + RF_DECODE_CHUNK);
      CHECK(same(&s.out, body.p, s.total));
      /* final: later calls say the same and never call out again */
      CHECK_EQ_INT(rf_decoder_feed(d, w.p, w.n, sink_out, &s), RF_DECODE_E_ABORT);
      CHECK_EQ_INT(rf_decoder_finish(d, sink_out, &s), RF_DECODE_E_ABORT);
      CHECK_EQ_INT(s.calls_after_stop, 0);
      rf_decoder_free(d);
      buf_free(&s.out);
    }
    buf_free(&w);
  }
  /* an error is final too */
  rf_decoder *d = rf_decoder_new(GZ, 1);
  sink s;
  memset(&s, 0, sizeof s);
  CHECK_EQ_INT(rf_decoder_feed(d, (const uint8_t *)"nope", 4, sink_out, &s), RF_DECODE_E_BAD);
  CHECK_EQ_STR(rf_decoder_error(d), "gzip: incorrect header check");
  buf good = encode(RF_CODING_GZIP, body.p, 100);
  CHECK_EQ_INT(rf_decoder_feed(d, good.p, good.n, sink_out, &s), RF_DECODE_E_BAD);
  CHECK_EQ_INT(rf_decoder_finish(d, sink_out, &s), RF_DECODE_E_BAD);
  CHECK_EQ_INT(s.calls, 0);
  CHECK_EQ_STR(rf_decoder_error(d), "gzip: incorrect header check");
  rf_decoder_free(d);
  buf_free(&good);
  buf_free(&body);

  /* bad arguments */
  const enum rf_coding six[6] = {RF_CODING_GZIP, RF_CODING_GZIP, RF_CODING_GZIP,
                                 RF_CODING_GZIP, RF_CODING_GZIP, RF_CODING_GZIP};
  CHECK(rf_decoder_new(six, 0) == NULL);
  CHECK(rf_decoder_new(six, 6) == NULL);
  CHECK(rf_decoder_new(NULL, 1) == NULL);
  const enum rf_coding bad0[] = {(enum rf_coding)0}, bad5[] = {(enum rf_coding)5};
  CHECK(rf_decoder_new(bad0, 1) == NULL);
  CHECK(rf_decoder_new(bad5, 1) == NULL);
  d = rf_decoder_new(six, 5);
  CHECK(d != NULL);
  rf_decoder_free(d);
  rf_decoder_free(NULL);
}

/* ---- rf_codings_parse --------------------------------------------------- */

static int parse_guarded(const char *v, enum rf_coding *out, int max, const char **err, char *msg,
                         size_t msgcap) {
  tu_guard g;
  size_t n = strlen(v);
  const char *c = tu_guard_copy(&g, v, n);
  *err = NULL;
  int rc = rf_codings_parse(c, n, out, max, err);
  snprintf(msg, msgcap, "%s", *err ? *err : "(null)");
  tu_guard_free(&g);
  return rc;
}

static void parse_ok(const char *v, int want_n, const enum rf_coding *want) {
  enum rf_coding out[RF_MAX_CODINGS + 1];
  const char *err;
  char msg[256];
  int rc = parse_guarded(v, out, RF_MAX_CODINGS, &err, msg, sizeof msg);
  CHECKF(rc == want_n, "\"%s\": rc %d (%s), want %d", v, rc, msg, want_n);
  for (int i = 0; i < want_n && i < rc; i++)
    CHECKF(out[i] == want[i], "\"%s\": coding %d is %d, want %d", v, i, out[i], want[i]);
}

static void parse_bad(const char *v, int max, const char *want_err) {
  enum rf_coding out[RF_MAX_CODINGS + 1];
  const char *err;
  char msg[256];
  int rc = parse_guarded(v, out, max, &err, msg, sizeof msg);
  CHECKF(rc == -EINVAL, "\"%s\": rc %d, want -EINVAL", v, rc);
  CHECKF(strcmp(msg, want_err) == 0, "\"%s\": error '%s', want '%s'", v, msg, want_err);
  /* err may be NULL */
  tu_guard g;
  const char *c = tu_guard_copy(&g, v, strlen(v));
  CHECK_EQ_INT(rf_codings_parse(c, strlen(v), out, max, NULL), -EINVAL);
  tu_guard_free(&g);
}

static void test_parse(void) {
  const enum rf_coding g[] = {RF_CODING_GZIP}, d[] = {RF_CODING_DEFLATE}, b[] = {RF_CODING_BR},
                       z[] = {RF_CODING_ZSTD};
  parse_ok("gzip", 1, g);
  parse_ok("GZIP", 1, g);
  parse_ok("GzIp", 1, g);
  parse_ok("x-gzip", 1, g);
  parse_ok("X-Gzip", 1, g);
  parse_ok("deflate", 1, d);
  parse_ok("Br", 1, b);
  parse_ok("ZSTD", 1, z);
  parse_ok("  \tgzip \t ", 1, g);
  const enum rf_coding gb[] = {RF_CODING_GZIP, RF_CODING_BR};
  parse_ok("gzip, br", 2, gb);
  parse_ok("gzip,br", 2, gb);
  parse_ok(" gzip ,\tbr ", 2, gb);
  parse_ok(",gzip,,, br,", 2, gb);
  parse_ok("identity, gzip, IDENTITY, br, identity", 2, gb);
  parse_ok("x-gzip, br", 2, gb);
  parse_ok("", 0, NULL);
  parse_ok("   ", 0, NULL);
  parse_ok(" , ,\t, ", 0, NULL);
  parse_ok("identity", 0, NULL);
  parse_ok("Identity, identity", 0, NULL);
  const enum rf_coding five[] = {RF_CODING_GZIP, RF_CODING_DEFLATE, RF_CODING_BR, RF_CODING_ZSTD,
                                 RF_CODING_GZIP};
  parse_ok("gzip, deflate, br, zstd, gzip", 5, five);
  parse_ok("gzip, deflate, identity, br, zstd, gzip, identity", 5, five);

  parse_bad("foo", RF_MAX_CODINGS, "unknown content coding 'foo'");
  parse_bad("gzip, Compress", RF_MAX_CODINGS, "unknown content coding 'Compress'");
  parse_bad("gzip;q=1", RF_MAX_CODINGS, "unknown content coding 'gzip;q=1'");
  parse_bad("gzip br", RF_MAX_CODINGS, "unknown content coding 'gzip br'");
  parse_bad("gzip\r\n", RF_MAX_CODINGS, "unknown content coding 'gzip\\x0d\\x0a'");
  parse_bad("chunked", RF_MAX_CODINGS, "unknown content coding 'chunked'");
  parse_bad("x-'\\\xff", RF_MAX_CODINGS, "unknown content coding 'x-\\x27\\x5c\\xff'");
  parse_bad("gzip, 0123456789abcdef0123456789abcdefXYZ", RF_MAX_CODINGS,
            "unknown content coding '0123456789abcdef0123456789abcdef...'");
  parse_bad("gzip, gzip, gzip, gzip, gzip, gzip", RF_MAX_CODINGS, "more than 5 codings");
  parse_bad("gzip, gzip, gzip, gzip, gzip, gzip", 100, "more than 5 codings");
  parse_bad("gzip, br, zstd", 2, "more codings than room in out");
  parse_bad("gzip", 0, "more codings than room in out");
  /* an empty value with nothing behind it */
  const char *err = "untouched";
  CHECK_EQ_INT(rf_codings_parse(NULL, 0, NULL, 0, &err), 0);
  CHECK_EQ_STR(err, "untouched");
  /* a NUL inside is a byte like any other */
  enum rf_coding out[RF_MAX_CODINGS];
  CHECK_EQ_INT(rf_codings_parse("gzip\0br", 7, out, RF_MAX_CODINGS, &err), -EINVAL);
  CHECK_EQ_STR(err, "unknown content coding 'gzip\\x00br'");
  CHECK_EQ_INT(rf_codings_parse("gzip, br", 4, out, RF_MAX_CODINGS, &err), 1);

  CHECK_EQ_STR(rf_coding_name(RF_CODING_GZIP), "gzip");
  CHECK_EQ_STR(rf_coding_name(RF_CODING_ZSTD), "zstd");
  CHECK_EQ_STR(rf_coding_name((enum rf_coding)9), "?");
}

int main(void) {
  /* first, while the process is small: the bombs and their memory */
  test_bombs();
  test_parse();
  test_roundtrips();
  test_stacked();
  test_concatenated();
  test_truncated();
  test_corrupt();
  test_windows();
  test_abort();
  return TU_EXIT();
}
