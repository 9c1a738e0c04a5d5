/* Content-coding decoders: a chain of stages over zlib, brotli and zstd.
 *
 * Stage 0 undoes the last coding applied and reads the caller's wire bytes
 * in place; stage i hands its output to stage i + 1, the last stage to the
 * caller's callback. Each stage decodes into its own RF_DECODE_CHUNK buffer
 * and passes the buffer on (recursively, at most RF_MAX_CODINGS deep) as
 * soon as a library call returns, so a buffer is always empty again before
 * it is refilled: memory is one buffer per stage plus the libraries' own
 * state, whatever the body expands to, and a callback that says stop is
 * heard after at most one more buffer of work per stage.
 *
 * Each stage loops until its library has taken all of its input and has
 * no output left to give (the last call returned with room to spare), so
 * after a feed nothing is held back anywhere and finish only has to ask
 * every stream whether it ended. */
#include "proto/decode.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ZLIB_CONST
#include <brotli/decode.h>
#include <zlib.h>
#include <zstd.h>

/* RFC 9659 section 3: HTTP clients need not accept zstd windows over 8 MiB. */
#define ZSTD_WINDOW_LOG_MAX 23

/* zlib counts input in uInt: longer wire pieces are fed in parts. */
#define ZLIB_MAX_IN (1u << 30)

/* ---- rf_codings_parse ---------------------------------------------------- */

static int lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

/* s[0..n) equals the lower-case literal, ignoring case. */
static bool eq_ci(const char *s, size_t n, const char *lit) {
  return n == strlen(lit) && strncasecmp(s, lit, n) == 0;
}

/* Holds the one message that names the input (see decode.h). */
static _Thread_local char unknown_msg[200];

static const char *unknown_coding(const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  static const char head[] = "unknown content coding '";
  char *w = unknown_msg;
  memcpy(w, head, sizeof head - 1);
  w += sizeof head - 1;
  size_t shown = n > 32 ? 32 : n;
  for (size_t i = 0; i < shown; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      *w++ = (char)c;
    } else {
      *w++ = '\\';
      *w++ = 'x';
      *w++ = hex[c >> 4];
      *w++ = hex[c & 15];
    }
  }
  if (shown < n) {
    memcpy(w, "...", 3);
    w += 3;
  }
  *w++ = '\'';
  *w = 0;
  return unknown_msg;
}

static int parse_fail(const char **err, const char *msg) {
  if (err)
    *err = msg;
  return -EINVAL;
}

int rf_codings_parse(const char *v, size_t n, enum rf_coding *out, int max, const char **err) {
  int count = 0;
  size_t i = 0;
  while (i <= n) {
    size_t j = i;
    while (j < n && v[j] != ',')
      j++;
    size_t a = i, b = j;
    while (a < b && (v[a] == ' ' || v[a] == '\t'))
      a++;
    while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
      b--;
    i = j + 1;
    if (a == b)
      continue; /* empty list item (RFC 9110 section 5.6.1) */
    const char *s = v + a;
    size_t len = b - a;
    enum rf_coding c;
    if (eq_ci(s, len, "identity"))
      continue;
    if (eq_ci(s, len, "gzip") || eq_ci(s, len, "x-gzip"))
      c = RF_CODING_GZIP;
    else if (eq_ci(s, len, "deflate"))
      c = RF_CODING_DEFLATE;
    else if (eq_ci(s, len, "br"))
      c = RF_CODING_BR;
    else if (eq_ci(s, len, "zstd"))
      c = RF_CODING_ZSTD;
    else
      return parse_fail(err, unknown_coding(s, len));
    if (count >= RF_MAX_CODINGS)
      return parse_fail(err, "more than 5 codings");
    if (count >= max)
      return parse_fail(err, "more codings than room in out");
    out[count++] = c;
  }
  return count;
}

const char *rf_coding_name(enum rf_coding c) {
  switch (c) {
  case RF_CODING_GZIP:
    return "gzip";
  case RF_CODING_DEFLATE:
    return "deflate";
  case RF_CODING_BR:
    return "br";
  case RF_CODING_ZSTD:
    return "zstd";
  }
  return "?";
}

/* ---- the decoder --------------------------------------------------------- */

/* Coding names in messages: "brotli: ..." reads better than "br: ...". */
static const char *msg_name(enum rf_coding c) {
  return c == RF_CODING_BR ? "brotli" : rf_coding_name(c);
}

enum stage_state {
  ST_EMPTY,   /* no input yet */
  ST_RUNNING, /* inside a stream (or gzip member, or zstd frame) */
  ST_END,     /* the stream (member, frame) ended exactly at the input so far */
};

typedef struct stage {
  enum rf_coding coding;
  enum stage_state state;
  union {
    z_stream z;
    BrotliDecoderState *br;
    ZSTD_DStream *zs;
  } u;
  bool z_ready;     /* inflateInit2 succeeded (inflateEnd is due) */
  unsigned nhdr;    /* deflate: bytes of hdr held while the format is open */
  uint8_t hdr[2];   /* deflate: the first two bytes */
  bool frame_start; /* zstd: the next byte starts a frame */
  unsigned nmagic;  /* zstd: bytes of magic held */
  uint8_t magic[4]; /* zstd: the frame's magic number, checked first */
  uint8_t buf[RF_DECODE_CHUNK];
} stage;

struct rf_decoder {
  int n;
  int result; /* 0, or the final error */
  bool finished;
  char err[160];
  rf_decode_out out; /* the current call's callback */
  void *ud;
  stage *st[RF_MAX_CODINGS];
};

static int set_error(rf_decoder *d, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int set_error(rf_decoder *d, int rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(d->err, sizeof d->err, fmt, ap);
  va_end(ap);
  d->result = rc;
  return rc;
}

static int run_stage(rf_decoder *d, int i, const uint8_t *p, size_t n);

/* Hands p[0..n) (a stage buffer, n <= RF_DECODE_CHUNK) to stage i, or to
 * the callback when i is past the last stage. */
static int push(rf_decoder *d, int i, const uint8_t *p, size_t n) {
  if (n == 0)
    return 0;
  if (i < d->n)
    return run_stage(d, i, p, n);
  if (d->out(d->ud, p, n) != 0)
    return set_error(d, RF_DECODE_E_ABORT, "stopped by the output callback");
  return 0;
}

/* gzip and deflate: zlib's inflate over p[0..n). */
static int run_zlib(rf_decoder *d, int i, stage *s, const uint8_t *p, size_t n) {
  const char *name = msg_name(s->coding);
  while (n > 0) {
    if (s->state == ST_END) {
      /* more after a stream: a further gzip member, or garbage */
      if (s->coding != RF_CODING_GZIP)
        return set_error(d, RF_DECODE_E_BAD, "%s: data after the end of the stream", name);
      if (inflateReset(&s->u.z) != Z_OK)
        return set_error(d, RF_DECODE_E_BAD, "%s: inflateReset failed", name);
    }
    s->state = ST_RUNNING;
    uInt chunk = n > ZLIB_MAX_IN ? ZLIB_MAX_IN : (uInt)n;
    s->u.z.next_in = p;
    s->u.z.avail_in = chunk;
    for (;;) {
      s->u.z.next_out = s->buf;
      s->u.z.avail_out = sizeof s->buf;
      int zr = inflate(&s->u.z, Z_NO_FLUSH);
      switch (zr) {
      case Z_OK:
      case Z_STREAM_END:
        break;
      case Z_BUF_ERROR: /* no progress possible: all input taken */
        if (s->u.z.avail_in == 0)
          break;
        return set_error(d, RF_DECODE_E_BAD, "%s: no progress", name);
      case Z_NEED_DICT:
        return set_error(d, RF_DECODE_E_BAD, "%s: needs a preset dictionary", name);
      case Z_MEM_ERROR:
        return set_error(d, RF_DECODE_E_BAD, "%s: out of memory", name);
      default: /* Z_DATA_ERROR, Z_STREAM_ERROR */
        return set_error(d, RF_DECODE_E_BAD, "%s: %s", name,
                         s->u.z.msg ? s->u.z.msg : "corrupt data");
      }
      int rc = push(d, i + 1, s->buf, sizeof s->buf - s->u.z.avail_out);
      if (rc)
        return rc;
      if (zr == Z_STREAM_END) {
        s->state = ST_END;
        break;
      }
      if (s->u.z.avail_in == 0 && s->u.z.avail_out != 0)
        break;
    }
    size_t used = chunk - s->u.z.avail_in;
    p += used;
    n -= used;
  }
  return 0;
}

/* RFC 1950 header: CM 8, CINFO <= 7 (32 KiB window), check bits. */
static bool zlib_header(uint8_t b0, uint8_t b1) {
  return (b0 & 0x0f) == 8 && (b0 >> 4) <= 7 && ((unsigned)b0 << 8 | b1) % 31 == 0;
}

/* deflate: picks zlib or raw format from the first two bytes, then inflates. */
static int run_deflate(rf_decoder *d, int i, stage *s, const uint8_t *p, size_t n) {
  if (s->nhdr < 2) {
    while (s->nhdr < 2 && n > 0) {
      s->hdr[s->nhdr++] = *p++;
      n--;
    }
    if (s->nhdr < 2) {
      s->state = ST_RUNNING;
      return 0;
    }
    if (!zlib_header(s->hdr[0], s->hdr[1])) {
      /* raw deflate, as many servers send (curl and browsers accept it) */
      if (inflateReset2(&s->u.z, -MAX_WBITS) != Z_OK)
        return set_error(d, RF_DECODE_E_BAD, "deflate: inflateReset2 failed");
    }
    int rc = run_zlib(d, i, s, s->hdr, 2);
    if (rc)
      return rc;
  }
  return run_zlib(d, i, s, p, n);
}

/* "brotli: corrupt data (window bits)" from BROTLI_DECODER_ERROR_FORMAT_WINDOW_BITS. */
static int brotli_error(rf_decoder *d, BrotliDecoderState *br) {
  BrotliDecoderErrorCode code = BrotliDecoderGetErrorCode(br);
  const char *name = BrotliDecoderErrorString(code); /* "WINDOW_BITS" */
  char low[48];
  size_t k = 0;
  for (; name && name[k] && k < sizeof low - 1; k++)
    low[k] = name[k] == '_' ? ' ' : (char)lower((unsigned char)name[k]);
  low[k] = 0;
  const char *what = code <= BROTLI_DECODER_ERROR_FORMAT_EXUBERANT_NIBBLE &&
                             code >= BROTLI_DECODER_ERROR_FORMAT_BLOCK_SWITCH
                         ? "corrupt data"
                     : code <= BROTLI_DECODER_ERROR_ALLOC_CONTEXT_MODES &&
                             code >= BROTLI_DECODER_ERROR_ALLOC_BLOCK_TYPE_TREES
                         ? "out of memory"
                         : "error";
  return set_error(d, RF_DECODE_E_BAD, "brotli: %s (%s)", what, low);
}

static int run_brotli(rf_decoder *d, int i, stage *s, const uint8_t *p, size_t n) {
  if (s->state == ST_END)
    return set_error(d, RF_DECODE_E_BAD, "brotli: data after the end of the stream");
  s->state = ST_RUNNING;
  size_t avail_in = n;
  const uint8_t *next_in = p;
  for (;;) {
    size_t avail_out = sizeof s->buf;
    uint8_t *next_out = s->buf;
    BrotliDecoderResult r =
        BrotliDecoderDecompressStream(s->u.br, &avail_in, &next_in, &avail_out, &next_out, NULL);
    if (r == BROTLI_DECODER_RESULT_ERROR)
      return brotli_error(d, s->u.br);
    int rc = push(d, i + 1, s->buf, sizeof s->buf - avail_out);
    if (rc)
      return rc;
    if (r == BROTLI_DECODER_RESULT_SUCCESS) {
      s->state = ST_END;
      if (avail_in > 0)
        return set_error(d, RF_DECODE_E_BAD, "brotli: data after the end of the stream");
      return 0;
    }
    if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT)
      return 0; /* it takes all input before asking for more */
    /* BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT: go round again */
  }
}

/* One run of ZSTD_decompressStream over p[0..n), up to the end of the
 * current frame (zstd stops there) or of the input; *used says how far. */
static int zstd_frame(rf_decoder *d, int i, stage *s, const uint8_t *p, size_t n, size_t *used) {
  ZSTD_inBuffer in = {p, n, 0};
  for (;;) {
    ZSTD_outBuffer o = {s->buf, sizeof s->buf, 0};
    size_t r = ZSTD_decompressStream(s->u.zs, &o, &in);
    if (ZSTD_isError(r))
      return set_error(d, RF_DECODE_E_BAD, "zstd: %s", ZSTD_getErrorName(r));
    int rc = push(d, i + 1, s->buf, o.pos);
    if (rc)
      return rc;
    *used = in.pos;
    if (r == 0) { /* the frame is decoded and flushed */
      s->state = ST_END;
      s->frame_start = true;
      return 0;
    }
    if (in.pos == in.size && o.pos < o.size)
      return 0;
  }
}

/* zstd: any number of frames, skippable ones included. Each frame's magic
 * number is checked here before zstd sees it: libzstd may be built with
 * legacy support (Debian's is), and then takes a pre-1.0 (v0.5 to v0.7)
 * frame when its four magic bytes arrive in one piece but not when they are
 * split, so the verdict would depend on how the body was cut. RFC 8878
 * frames only. */
static int run_zstd(rf_decoder *d, int i, stage *s, const uint8_t *p, size_t n) {
  while (n > 0) {
    s->state = ST_RUNNING;
    if (s->frame_start) {
      while (s->nmagic < 4 && n > 0) {
        s->magic[s->nmagic++] = *p++;
        n--;
      }
      if (s->nmagic < 4)
        return 0;
      uint32_t m = (uint32_t)s->magic[0] | (uint32_t)s->magic[1] << 8 |
                   (uint32_t)s->magic[2] << 16 | (uint32_t)s->magic[3] << 24;
      if (m != ZSTD_MAGICNUMBER && (m & ZSTD_MAGIC_SKIPPABLE_MASK) != ZSTD_MAGIC_SKIPPABLE_START)
        return set_error(d, RF_DECODE_E_BAD, "zstd: Unknown frame descriptor");
      s->frame_start = false;
      s->nmagic = 0;
      size_t used;
      int rc = zstd_frame(d, i, s, s->magic, 4, &used);
      if (rc)
        return rc;
      if (n == 0)
        return 0;
    }
    size_t used = 0;
    int rc = zstd_frame(d, i, s, p, n, &used);
    if (rc)
      return rc;
    p += used;
    n -= used;
  }
  return 0;
}

static int run_stage(rf_decoder *d, int i, const uint8_t *p, size_t n) {
  stage *s = d->st[i];
  switch (s->coding) {
  case RF_CODING_GZIP:
    return run_zlib(d, i, s, p, n);
  case RF_CODING_DEFLATE:
    return run_deflate(d, i, s, p, n);
  case RF_CODING_BR:
    return run_brotli(d, i, s, p, n);
  case RF_CODING_ZSTD:
    return run_zstd(d, i, s, p, n);
  }
  return set_error(d, RF_DECODE_E_BAD, "unknown coding");
}

static void stage_free(stage *s) {
  if (!s)
    return;
  switch (s->coding) {
  case RF_CODING_GZIP:
  case RF_CODING_DEFLATE:
    if (s->z_ready)
      inflateEnd(&s->u.z);
    break;
  case RF_CODING_BR:
    BrotliDecoderDestroyInstance(s->u.br);
    break;
  case RF_CODING_ZSTD:
    ZSTD_freeDStream(s->u.zs);
    break;
  }
  free(s);
}

static stage *stage_new(enum rf_coding c) {
  stage *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->coding = c;
  s->state = ST_EMPTY;
  switch (c) {
  case RF_CODING_GZIP:
  case RF_CODING_DEFLATE:
    /* gzip: 16 + 15 = gzip wrapper only, 32 KiB window. deflate starts as
     * zlib and may be reset to raw once its first two bytes are in. */
    if (inflateInit2(&s->u.z, c == RF_CODING_GZIP ? 16 + MAX_WBITS : MAX_WBITS) != Z_OK) {
      free(s);
      return NULL;
    }
    s->z_ready = true;
    return s;
  case RF_CODING_BR:
    s->u.br = BrotliDecoderCreateInstance(NULL, NULL, NULL);
    if (!s->u.br || !BrotliDecoderSetParameter(s->u.br, BROTLI_DECODER_PARAM_LARGE_WINDOW, 0))
      break;
    return s;
  case RF_CODING_ZSTD:
    s->frame_start = true;
    s->u.zs = ZSTD_createDStream();
    if (!s->u.zs ||
        ZSTD_isError(ZSTD_DCtx_setParameter(s->u.zs, ZSTD_d_windowLogMax, ZSTD_WINDOW_LOG_MAX)))
      break;
    return s;
  }
  stage_free(s);
  return NULL;
}

rf_decoder *rf_decoder_new(const enum rf_coding *codings, int n) {
  if (!codings || n < 1 || n > RF_MAX_CODINGS)
    return NULL;
  for (int i = 0; i < n; i++)
    if (codings[i] < RF_CODING_GZIP || codings[i] > RF_CODING_ZSTD)
      return NULL;
  rf_decoder *d = calloc(1, sizeof *d);
  if (!d)
    return NULL;
  d->n = n;
  /* stage 0 undoes the last coding applied (RFC 9110 section 8.4) */
  for (int i = 0; i < n; i++) {
    d->st[i] = stage_new(codings[n - 1 - i]);
    if (!d->st[i]) {
      rf_decoder_free(d);
      return NULL;
    }
  }
  return d;
}

int rf_decoder_feed(rf_decoder *d, const uint8_t *p, size_t n, rf_decode_out out, void *ud) {
  if (d->result)
    return d->result;
  if (d->finished)
    return set_error(d, RF_DECODE_E_BAD, "data fed after the end of the body");
  if (n == 0)
    return 0;
  d->out = out;
  d->ud = ud;
  return run_stage(d, 0, p, n);
}

int rf_decoder_finish(rf_decoder *d, rf_decode_out out, void *ud) {
  if (d->result || d->finished)
    return d->result;
  d->finished = true;
  for (int i = 0; i < d->n; i++) {
    stage *s = d->st[i];
    if (s->state == ST_EMPTY || s->state == ST_END)
      continue;
    if (s->coding == RF_CODING_ZSTD)
      return set_error(d, RF_DECODE_E_BAD, "zstd: unexpected end of data (unfinished frame)");
    return set_error(d, RF_DECODE_E_BAD, "%s: unexpected end of data", msg_name(s->coding));
  }
  return 0;
}

const char *rf_decoder_error(const rf_decoder *d) { return d->err; }

void rf_decoder_free(rf_decoder *d) {
  if (!d)
    return;
  for (int i = 0; i < d->n; i++)
    stage_free(d->st[i]);
  free(d);
}
