"""A scripted HTTP/1.1 server for ringfetch's crawl tests: redirects, retries,
Retry-After, dropped connections and per-host rate limits.

Python 3 standard library only. It listens on 127.0.0.1 on an ephemeral port,
accepts in a background daemon thread and serves every connection in its own
thread, plain or TLS (Python's ssl module, server side, TLS 1.2 or later). It
keeps connections alive (Content-Length framing, many requests per
connection) and logs every request so tests can assert on what a client sent,
when, and on which connection:

    srv = FaultServer().start()             # or FaultServer(tls=(certfile, keyfile))
    srv.url("/chain/3")                     # "http://127.0.0.1:PORT/chain/3"
    srv.url("/host", host="a.crawl.test")   # "http://a.crawl.test:PORT/host"
    ... run ringfetch ...
    srv.connections                         # TCP connections accepted
    srv.log                                 # [LogEntry, ...] (see below)
    srv.requests_for("/flaky?key=a")        # log entries whose target starts so
    srv.hits("flaky", "a")                  # /flaky requests seen for key "a"
    srv.errors                              # exceptions in handlers: should stay []
    srv.tls_failures                        # TLS handshakes that failed
    srv.refused                             # requests refused with 400/413/431
    srv.snapshot()                          # (connections, list(log)) together
    srv.reset()                             # clears the log and the key counters
    srv.stop()

It is also a context manager: ``with FaultServer() as srv: ...``.

Log entries (``LogEntry``, a named tuple; thread-safe list, appended when a
request's body has been read, in that order):
    time         time.monotonic() when the request head was complete
    conn         connection number (1 = the first connection accepted)
    method       "GET", "POST", ...
    target       request target exactly as sent (path + query), a str
                 decoded as latin-1 (so every byte maps to one character)
    host         the Host header value, or None when there was none
    headers      {lower-case name: value}; repeated fields joined with ", "
    body         the request body, bytes (Content-Length or chunked)
    version      "HTTP/1.1", "HTTP/1.0", ...
    header_list  [(lower-case name, value), ...] in the order received
  plus the properties .path (target before "?") and .query (after it).

Requests: headers may arrive in any case; a Content-Length (or chunked) body
is read before answering; "Expect: 100-continue" gets a 100 Continue; the
connection closes after the response when the client sent "Connection: close"
(or spoke HTTP/1.0 without "Connection: keep-alive"). Everything is bounded:
a peer silent for IO_TIMEOUT (10 s; the io_timeout attribute, settable on an
instance before start()) is dropped, idle keep-alive connections too; when
the server closes after a response it sends its FIN first and drains the
peer's input for up to 1 s (no RST over an unread request); a request head
over MAX_REQUEST_HEAD (64 KiB) is refused with 431 and a close, a body over
MAX_REQUEST_BODY with 413, an unparsable request with 400 (these are counted
in .refused, not logged).
stop() closes every socket and joins every thread with a deadline.

Query parameters: the query is split on "&" and each value percent-decoded
ONCE as latin-1 ("+" stays a "+"; "%2B" and "%20" give "+" and " "), so
a test can make the server send ANY bytes in a Location, including spaces,
backslashes, CR/LF, non-ASCII (UTF-8 as %C3%A9 arrives as those two bytes,
%FF as one byte 0xff) and very long values; they go on the wire raw.

Behaviours (path -> response; every response carries Content-Length, except
204 which must not, and keeps the connection unless the request asked to
close; HEAD gets the same head without the body; 204 and 304 have no body):
    /ok?size=N              200, text/plain; body ok_body(N) (N bytes, at most
                            MAX_OK_SIZE), default b"ok " + target
    /redirect?code=C&to=V&pad=N
                            status C (default 302), "Location: V" raw, body
                            b"redirecting\\n"; pad=N appends N bytes "a" to V
                            (at most 1 MiB: a Location longer than a request
                            head); no `to` (and no pad): no Location header
    /chain/N?code=C         N>0: status C (default 302), Location "/chain/N-1"
                            (relative, the query kept as sent); N==0: 200
                            b"end of chain\\n"
    /loop                   302, Location "/loop"
    /loop-a, /loop-b        302 to each other
    /flaky?key=K&fails=N&code=C&retry_after=V
                            the first N (default 1) requests with key K get
                            status C (default 503) and body b"failing K\\n",
                            plus "Retry-After: V" (raw) when given; later ones
                            200 b"recovered K\\n" (counter per key)
    /status?code=C&retry_after=V
                            always status C (default 200), body b"status C\\n",
                            "Retry-After: V" when given
    /method                 200 application/json {"method":..., "target":...,
                            "headers": {lower-case name: value}, "body": the
                            body decoded as latin-1}: what a client sent, e.g.
                            after a 303/307 redirect of a POST
    /drop?key=K&fails=N&how=reset|close
                            the first N (default 1) requests with key K: read
                            the request, then RST the connection (how=reset,
                            the default: SO_LINGER 0) or close it without a
                            byte (how=close: FIN; with TLS no close_notify);
                            later ones 200 b"recovered K\\n" (counter per key,
                            separate from /flaky's)
    /slow?ms=N              sleep N ms (default 1000, at most 30 s; cut short by stop()),
                            then 200 b"slept N ms\\n"
    /host                   200, body = the Host header value (empty if none)
    /robots.txt             srv.robots[host] for the Host header's name (no
                            port, lower case), else srv.robots.get("*"): a
                            (status, body bytes) pair, text/plain; neither:
                            404 (like a site without one). Every fetch is
                            logged as any request is.
    anything else           404 b"not found\\n"
Status codes C must be 200..999 (anything else: 400). Reason phrases come
from http.HTTPStatus ("Unknown" for codes it does not know).

More behaviours, for content decoding, lenient parsing, trailers and TLS
truncation. Unlike the ones above, these frame their responses as each entry
says (Content-Length, chunked, scripted raw bytes or delimited by the close):
    /encoded?enc=LIST&size=N&seed=S&chunked=1&te=LIST
                            200 text/plain, body encoded_body(LIST, N, S):
                            encoded_plain(N, S) (N bytes, default
                            DEFAULT_ENCODED_SIZE, at most MAX_ENCODED_SIZE:
                            lines of words from a 64-word vocabulary picked
                            by a generator seeded by S, default 1; the same
                            bytes for the same N and S, a prefix of those of
                            a larger N; about 3.5:1 under gzip) encoded with
                            each coding in LIST in order. LIST: comma-
                            separated, any case, at most MAX_CODINGS of gzip,
                            x-gzip, deflate (zlib format), deflate-raw (raw
                            RFC 1951, labelled "deflate"), br, zstd, identity
                            (anything else: 400). "Content-Encoding:" the
                            tokens as given joined by ", ", deflate-raw shown
                            as deflate; no (or an empty) enc: no
                            Content-Encoding, the plain body. br and zstd run
                            the `brotli` (quality BROTLI_QUALITY) and `zstd`
                            (default level, with its checksum) command-line
                            tools (not installed: 501); every body is cached
                            per (LIST, N, S) (LRU, CACHE_BUDGET bytes), so a
                            repeated request encodes nothing. Framing:
                            Content-Length; chunked=1: "Transfer-Encoding:
                            chunked" instead, in ENCODED_CHUNK (16 KiB)
                            chunks, no trailers; te=LIST (the same codings;
                            "chunked" is not one: 400): also applies those
                            transfer codings, after the content codings, then
                            chunked: "Transfer-Encoding: LIST, chunked"
                            (te=gzip: "gzip, chunked", the content-coded body
                            gzip'ed then chunked; the chunk data is
                            encoded_body(LIST + te LIST, N, S)).
                            Accept-Encoding and TE are ignored.
    /bomb?enc=C&size=N      200 application/octet-stream, "Content-Encoding:
                            C", body bomb_body(C, N): N zero bytes (default
                            BOMB_DEFAULT_SIZE, 256 MiB; at most MAX_BOMB_SIZE,
                            4 GiB) encoded with C: gzip (the default),
                            deflate (zlib format), br or zstd; Content-Length
                            the encoded size (256 MiB: gzip ~255 KiB, zstd
                            ~8 KiB, br ~200 bytes). Built once per (C, N) and
                            kept, in 1 MiB steps (zlib.compressobj for gzip
                            and deflate; the CLI fed through a pipe for br
                            and zstd), so the server never holds the decoded
                            bytes; building 256 MiB takes about 0.5 s.
    /corrupt?enc=C&how=H&size=N&seed=S&chunked=1
                            200 text/plain, "Content-Encoding: C" (deflate-raw
                            shown as deflate), body corrupt_body(C, H, N, S):
                            encoded_body([C], N, S) (C: gzip, the default,
                            x-gzip, deflate, deflate-raw, br, zstd) damaged
                            by H:
                              flip      (the default) the byte at offset
                                        len // 2 XORed with 0xff, same
                                        length. The codings in FLIP_DETECTED
                                        always notice, by a decode error or
                                        their checksum: gzip and x-gzip
                                        (CRC-32 and length), deflate (zlib's
                                        Adler-32), zstd (the XXH64 checksum
                                        the CLI writes). br and deflate-raw
                                        carry no checksum: a decode error,
                                        or silently different bytes.
                              truncate  the first len // 2 bytes; the
                                        Content-Length is that cut length,
                                        so only the decoder can notice (the
                                        stream does not end)
                              garbage   CORRUPT_GARBAGE (16 bytes, no
                                        gzip or zstd magic) appended after
                                        the end of the stream
                            Content-Length framing; chunked=1: chunked, as
                            /encoded's.
    /raw?name=NAME          sends RAW_SCRIPTS[NAME].data exactly, whatever
                            the method (a HEAD too), then keeps the
                            connection (RAW_SCRIPTS[NAME].keep) or closes it
                            (FIN, then the usual drain; no close_notify over
                            TLS); an unknown NAME: 400. RAW_BODIES[NAME] is
                            the body a client that accepts the response must
                            deliver, or None where RFC 9112 says it must fail;
                            RAW_TRAILERS[NAME] the trailer fields [(name,
                            value)]; RAW_MAY_REJECT the names RFC 9112 lets a
                            client reject as well (bare LF line ends, a bare
                            CR, CL with TE, a repeated equal CL, a transfer
                            coding it did not ask for). "LF" below is a bare
                            \\n; the rest ends lines in CRLF:
                              lf-head        every line of the head ends in
                                             LF; Content-Length body; kept
                              lf-chunked     CRLF head; chunked body whose
                                             chunk-size lines, data endings,
                                             trailer line (X-Trailer: lf) and
                                             last line end in LF (the data of
                                             one chunk itself ends in an LF);
                                             kept
                              lf-all         everything LF: head, chunked
                                             body, trailers X-Checksum: abc
                                             and X-Done: yes; kept
                              cr-in-value    "X-Bare-CR: a\\rb" (a bare CR in
                                             a value; RFC 9112: reject, or
                                             read it as a space); Content-
                                             Length; kept
                              cl-te          Content-Length: 15 with
                                             Transfer-Encoding: chunked; the
                                             15 bytes are "hello" chunked
                                             (chunked wins: "hello"); closed
                              cl-twice       Content-Length: 5 and
                                             Content-Length: 12, then 12
                                             bytes; closed; None
                              cl-same-twice  Content-Length: 5 twice, 5
                                             bytes; kept
                              te-unknown     Transfer-Encoding: foo, bytes
                                             then the close (close-delimited,
                                             but nobody can undo "foo");
                                             closed; None
                              te-chunked-foo Transfer-Encoding: chunked, foo
                                             (chunked not last: delimited by
                                             the close, and "foo" unknown);
                                             the bytes are "hello" chunked,
                                             a trap for a client that stops
                                             at "chunked"; closed; None
                              te-gzip-chunked
                                             Transfer-Encoding: gzip, chunked:
                                             a gzip'ed text in three chunks,
                                             decodable; kept
                              trailers       CRLF chunked body announced by
                                             "Trailer: X-Checksum, X-Done",
                                             trailers X-Checksum: abc and
                                             X-Done: yes; kept
                              lf-pipelined   a bare-LF response (head all
                                             LF, Content-Length); kept. When
                                             further pipelined GET /raw
                                             requests for kept scripts are
                                             already complete in the server's
                                             input, their responses go out in
                                             the same write (bare-LF heads
                                             back to back); anything else
                                             pipelined is served as usual.
    /close-delimited?size=N&notify=0|1
                            "HTTP/1.1 200 OK", text/plain, "Connection:
                            close", neither Content-Length nor Transfer-
                            Encoding; body ok_body(N) (default
                            DEFAULT_ENCODED_SIZE, at most MAX_OK_SIZE; HEAD:
                            none), then the close. Over TLS, notify=1 (the
                            default) sends close_notify first (unwrap(),
                            waiting at most 1 s for the peer's), notify=0
                            only the TCP FIN, as a cut connection looks (an
                            SSLSocket with suppress_ragged_eofs=False raises
                            ssl.SSLEOFError): the way to tell a complete
                            close-delimited body from a cut one. Plain: a FIN
                            either way.
Helpers for tests: encoded_plain(size, seed), encode(data, coding),
encoded_body(codings, size, seed), bomb_body(coding, size),
corrupt_body(coding, how, size, seed); the constants CODINGS, BOMB_CODINGS,
CORRUPT_CODINGS, CORRUPT_HOWS, CORRUPT_GARBAGE, FLIP_DETECTED, RAW_SCRIPTS
(name -> RawScript(data, keep)), RAW_BODIES, RAW_TRAILERS, RAW_MAY_REJECT.
The brotli and zstd tools come with tools/install-deps.sh.

Run this file to self-test it: python3 tests/integration/fault_server.py
"""

import collections
import http
import json
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import urllib.parse
import zlib

IO_TIMEOUT = 10.0                 # a silent peer (or idle keep-alive) is dropped
MAX_REQUEST_HEAD = 64 * 1024      # larger request heads are refused (431)
MAX_REQUEST_BODY = 16 * 1024 * 1024
MAX_OK_SIZE = 1 << 30             # /ok?size=N
MAX_PAD = 1024 * 1024             # /redirect?pad=N
MAX_SLOW_MS = 30000               # /slow?ms=N
SEND_CHUNK = 64 * 1024
LINGER_SECONDS = 1.0              # a closing connection drains input this long
LINGER_MAX_BYTES = 1024 * 1024

DEFAULT_ENCODED_SIZE = 100000     # /encoded, /corrupt, /close-delimited size=N
DEFAULT_SEED = 1
MAX_ENCODED_SIZE = 64 * 1024 * 1024
MAX_CODINGS = 8                   # codings in one enc= or te= list
ENCODED_CHUNK = 16 * 1024         # chunk size of the chunked bodies
BROTLI_QUALITY = 5                # `brotli -q`: quick, and real servers' choice
CACHE_BUDGET = 256 * 1024 * 1024  # bytes of cached bodies (LRU)
BOMB_DEFAULT_SIZE = 256 * 1024 * 1024
MAX_BOMB_SIZE = 1 << 32
_BOMB_STEP = 1024 * 1024
CODINGS = ("gzip", "x-gzip", "deflate", "deflate-raw", "br", "zstd", "identity")
BOMB_CODINGS = ("gzip", "deflate", "br", "zstd")
CORRUPT_CODINGS = ("gzip", "x-gzip", "deflate", "deflate-raw", "br", "zstd")
CORRUPT_HOWS = ("flip", "truncate", "garbage")
CORRUPT_GARBAGE = b"GARBAGE-AFTER-IT"                 # 16 bytes
FLIP_DETECTED = frozenset(("gzip", "x-gzip", "deflate", "zstd"))

REDIRECT_BODY = b"redirecting\n"
CHAIN_END_BODY = b"end of chain\n"
NOT_FOUND_BODY = b"not found\n"
_OK_PATTERN = b"0123456789abcdefghijklmnopqrstuvwxyz\n"   # 37 bytes


def ok_body(size):
    """The body /ok?size=N sends: the 37-byte _OK_PATTERN repeated, cut to N."""
    reps = size // len(_OK_PATTERN) + 1
    return (_OK_PATTERN * reps)[:size]


def recovered_body(key):
    """Body of a /flaky or /drop request after its failures."""
    return b"recovered " + key.encode("latin-1") + b"\n"


def parse_query(query):
    """[(name, value), ...]: split on "&", names and values percent-decoded
    once as latin-1 (no "+" -> " ")."""
    out = []
    for part in query.split("&"):
        if not part:
            continue
        k, _, v = part.partition("=")
        out.append((urllib.parse.unquote(k, encoding="latin-1"),
                    urllib.parse.unquote(v, encoding="latin-1")))
    return out


# ---------------------------------------------------------------------------
# Bodies for /encoded, /bomb and /corrupt
# ---------------------------------------------------------------------------
_WORDS = (b"the of and to in is it that for on with as was at by be this from or "
          b"have an are not but had his they you were her she which all one their "
          b"there been has when will more no if out so said what up its about "
          b"into than them can only other new some could time these two may then").split()
assert len(_WORDS) == 64
_WORD_PAIRS = [a + b" " + b for a in _WORDS for b in _WORDS]     # 12 bits each
_M64 = (1 << 64) - 1
_CLI_ARGS = {"br": ["brotli", "-c", "-q", str(BROTLI_QUALITY)],
             "zstd": ["zstd", "-q", "-c"]}
_STATS = collections.Counter()    # "cli": encoder runs, "bomb": bombs built
_STATS_LOCK = threading.Lock()


def _count_stat(name):
    with _STATS_LOCK:
        _STATS[name] += 1


class _ToolMissing(RuntimeError):
    pass


class _Memo:
    """A thread-safe cache: get(key, make) calls make() once per key (callers
    asking meanwhile wait for it) and keeps the result, dropping the least
    recently used beyond `budget` bytes (None: keeps everything)."""

    def __init__(self, budget=None):
        self._budget = budget
        self._lock = threading.Lock()
        self._data = collections.OrderedDict()
        self._bytes = 0
        self._busy = {}                 # key -> Event set when make() ends

    def get(self, key, make, cancel=None):
        while True:
            with self._lock:
                if key in self._data:
                    self._data.move_to_end(key)
                    return self._data[key]
                ev = self._busy.get(key)
                if ev is None:
                    ev = self._busy[key] = threading.Event()
                    break
            while not ev.wait(0.1):
                if cancel is not None and cancel.is_set():
                    raise OSError("stopping")
        try:
            value = make()
            with self._lock:
                if self._budget is None or len(value) <= self._budget:
                    self._data[key] = value
                    self._bytes += len(value)
                    while self._budget is not None and self._bytes > self._budget:
                        _, old = self._data.popitem(last=False)
                        self._bytes -= len(old)
        finally:
            with self._lock:
                del self._busy[key]
            ev.set()
        return value


_MEMO = _Memo(CACHE_BUDGET)       # plain and encoded bodies
_BOMBS = _Memo()                  # bombs: small, expensive to build


def encoded_plain(size, seed=DEFAULT_SEED):
    """The decoded body of /encoded?size=N&seed=S (and the text under
    /corrupt): N bytes of lines of ten words from a 64-word vocabulary, picked
    by a splitmix64 generator seeded by S. The same for the same (N, S), and a
    prefix of the body of any larger N. Cached."""
    return _MEMO.get(("plain", size, seed), lambda: _make_plain(size, seed))


def _make_plain(size, seed):
    out = []
    n = 0
    x = seed & _M64
    pairs = _WORD_PAIRS
    while n < size:
        x = (x + 0x9E3779B97F4A7C15) & _M64
        z = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
        z ^= z >> 31
        line = b" ".join((pairs[z & 4095], pairs[(z >> 12) & 4095],
                          pairs[(z >> 24) & 4095], pairs[(z >> 36) & 4095],
                          pairs[(z >> 48) & 4095])) + b"\n"
        out.append(line)
        n += len(line)
    return b"".join(out)[:size]


def encode(data, coding):
    """data encoded with one coding (any case), deterministically: gzip and
    x-gzip (gzip format, mtime 0), deflate (zlib format), deflate-raw (raw RFC
    1951), br (`brotli -q BROTLI_QUALITY`), zstd (`zstd`, default level, with
    its XXH64 checksum), identity (unchanged). ValueError for another coding;
    RuntimeError when a tool is missing or fails."""
    c = coding.lower()
    if c in ("gzip", "x-gzip"):
        return _zlib_compress(data, 31)
    if c == "deflate":
        return _zlib_compress(data, 15)
    if c == "deflate-raw":
        return _zlib_compress(data, -15)
    if c in _CLI_ARGS:
        return _run_cli(_CLI_ARGS[c], data)
    if c == "identity":
        return bytes(data)
    raise ValueError("unknown coding %r" % (coding,))


def _zlib_compress(data, wbits):
    co = zlib.compressobj(6, zlib.DEFLATED, wbits)
    return co.compress(data) + co.flush()


def _run_cli(args, data):
    """args run with data on stdin; its stdout."""
    _count_stat("cli")
    try:
        p = subprocess.run(args, input=data, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=600)
    except FileNotFoundError:
        raise _ToolMissing("the %s command is not installed (tools/install-deps.sh)"
                           % args[0])
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d): %r" % (args[0], p.returncode, p.stderr[-200:]))
    return p.stdout


def _coding_list(codings):
    """A tuple of lower-case codings from a list or a comma-separated str;
    ValueError for an unknown one."""
    if isinstance(codings, str):
        codings = codings.split(",") if codings.strip() else []
    out = tuple(c.strip().lower() for c in codings)
    for c in out:
        if c not in CODINGS:
            raise ValueError("unknown coding %r" % (c,))
    return out


def encoded_body(codings, size=DEFAULT_ENCODED_SIZE, seed=DEFAULT_SEED):
    """encoded_plain(size, seed) with each of `codings` (a list, or a
    comma-separated str as in the query) applied in order: the body
    /encoded?enc=LIST sends; with te=LIST, the chunk data is
    encoded_body(enc LIST + te LIST). Cached."""
    cs = _coding_list(codings)
    if not cs:
        return encoded_plain(size, seed)
    return _MEMO.get(("enc", cs, size, seed),
                     lambda: encode(encoded_body(cs[:-1], size, seed), cs[-1]))


def bomb_body(coding="gzip", size=BOMB_DEFAULT_SIZE, cancel=None):
    """size zero bytes encoded with coding (one of BOMB_CODINGS): the body of
    /bomb?enc=C&size=N. Built in _BOMB_STEP steps, never holding the decoded
    bytes, once per (coding, size), and kept. cancel: an Event that aborts
    the build (OSError)."""
    c = coding.lower()
    if c not in BOMB_CODINGS:
        raise ValueError("not a bomb coding: %r" % (coding,))
    return _BOMBS.get(("bomb", c, size), lambda: _build_bomb(c, size, cancel), cancel)


def _build_bomb(coding, size, cancel):
    _count_stat("bomb")
    block = bytes(min(size, _BOMB_STEP))

    def steps():
        left = size
        while left > 0:
            if cancel is not None and cancel.is_set():
                raise OSError("stopping")
            n = min(left, len(block))
            yield block if n == len(block) else block[:n]
            left -= n

    if coding in ("gzip", "deflate"):
        co = zlib.compressobj(9, zlib.DEFLATED, 31 if coding == "gzip" else 15)
        parts = [co.compress(b) for b in steps()]
        parts.append(co.flush())
        return b"".join(parts)
    args = _CLI_ARGS[coding]
    _count_stat("cli")
    with tempfile.TemporaryFile() as out:
        try:
            p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=out,
                                 stderr=subprocess.DEVNULL)
        except FileNotFoundError:
            raise _ToolMissing("the %s command is not installed (tools/install-deps.sh)"
                               % args[0])
        try:
            for b in steps():
                p.stdin.write(b)
            p.stdin.close()
            rc = p.wait(600)
        except BaseException:
            p.kill()
            p.wait()
            raise
        finally:
            if not p.stdin.closed:
                p.stdin.close()
        if rc != 0:
            raise RuntimeError("%s failed (%d) building a bomb" % (args[0], rc))
        out.seek(0)
        return out.read()


def corrupt_body(coding="gzip", how="flip", size=DEFAULT_ENCODED_SIZE, seed=DEFAULT_SEED):
    """The body of /corrupt?enc=C&how=H&size=N&seed=S: encoded_body([C], N,
    S) with the byte at len // 2 XORed with 0xff (flip), cut to its first
    len // 2 bytes (truncate), or followed by CORRUPT_GARBAGE (garbage)."""
    c = coding.lower()
    if c not in CORRUPT_CODINGS or how not in CORRUPT_HOWS:
        raise ValueError("bad coding or how: %r, %r" % (coding, how))
    full = encoded_body([c], size, seed)
    if how == "flip":
        b = bytearray(full)
        b[len(b) // 2] ^= 0xFF
        return bytes(b)
    if how == "truncate":
        return full[:len(full) // 2]
    return full + CORRUPT_GARBAGE


# ---------------------------------------------------------------------------
# Scripted raw responses for /raw?name=NAME
# ---------------------------------------------------------------------------
RawScript = collections.namedtuple("RawScript", "data keep")


def _chunk(data, eol=b"\r\n"):
    return b"%x" % len(data) + eol + data + eol


_TE_GZIP_TEXT = b"transfer-coded with gzip, then chunked\n" * 64
_TE_GZIP_DATA = _zlib_compress(_TE_GZIP_TEXT, 31)
_TE_GZIP_THIRD = len(_TE_GZIP_DATA) // 3 + 1

RAW_SCRIPTS = {
    "lf-head": RawScript(
        b"HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 13\n\n"
        b"bare LF head\n", True),
    "lf-chunked": RawScript(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
        + _chunk(b"bare L", b"\n") + _chunk(b"F chunks\n", b"\n")
        + b"0\nX-Trailer: lf\n\n", True),
    "lf-all": RawScript(
        b"HTTP/1.1 200 OK\nContent-Type: text/plain\nTransfer-Encoding: chunked\n\n"
        + _chunk(b"all ", b"\n") + _chunk(b"bare LF\n", b"\n")
        + b"0\nX-Checksum: abc\nX-Done: yes\n\n", True),
    "cr-in-value": RawScript(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Bare-CR: a\rb\r\n"
        b"Content-Length: 5\r\n\r\nhello", True),
    "cl-te": RawScript(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 15\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + _chunk(b"hello") + b"0\r\n\r\n", False),
    "cl-twice": RawScript(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
        b"Content-Length: 12\r\n\r\nhello, world", False),
    "cl-same-twice": RawScript(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
        b"Content-Length: 5\r\n\r\nhello", True),
    "te-unknown": RawScript(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: foo\r\n\r\n"
        b"foo-coded body\n", False),
    "te-chunked-foo": RawScript(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
        b"Transfer-Encoding: chunked, foo\r\n\r\n" + _chunk(b"hello") + b"0\r\n\r\n", False),
    "te-gzip-chunked": RawScript(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
        b"Transfer-Encoding: gzip, chunked\r\n\r\n"
        + b"".join(_chunk(_TE_GZIP_DATA[i:i + _TE_GZIP_THIRD])
                   for i in range(0, len(_TE_GZIP_DATA), _TE_GZIP_THIRD))
        + b"0\r\n\r\n", True),
    "trailers": RawScript(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
        b"Trailer: X-Checksum, X-Done\r\n\r\n" + _chunk(b"body with ") + _chunk(b"trailers\n")
        + b"0\r\nX-Checksum: abc\r\nX-Done: yes\r\n\r\n", True),
    "lf-pipelined": RawScript(
        b"HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 18\n\n"
        b"bare LF pipelined\n", True),
}

RAW_BODIES = {
    "lf-head": b"bare LF head\n",
    "lf-chunked": b"bare LF chunks\n",
    "lf-all": b"all bare LF\n",
    "cr-in-value": b"hello",
    "cl-te": b"hello",
    "cl-twice": None,               # two different Content-Lengths: invalid framing
    "cl-same-twice": b"hello",
    "te-unknown": None,             # nobody can undo "foo"
    "te-chunked-foo": None,         # delimited by the close, then "foo"
    "te-gzip-chunked": _TE_GZIP_TEXT,
    "trailers": b"body with trailers\n",
    "lf-pipelined": b"bare LF pipelined\n",
}

RAW_TRAILERS = {
    "lf-chunked": [("X-Trailer", "lf")],
    "lf-all": [("X-Checksum", "abc"), ("X-Done", "yes")],
    "trailers": [("X-Checksum", "abc"), ("X-Done", "yes")],
}

RAW_MAY_REJECT = frozenset(("lf-head", "lf-chunked", "lf-all", "lf-pipelined", "cr-in-value",
                            "cl-te", "cl-same-twice", "te-gzip-chunked"))


class LogEntry(collections.namedtuple(
        "LogEntry", "time conn method target host headers body version header_list")):
    __slots__ = ()

    @property
    def path(self):
        return _split_target(self.target)[0]

    @property
    def query(self):
        return _split_target(self.target)[1]


def _split_target(target):
    if not target.startswith("/") and "://" in target:      # absolute-form
        parts = urllib.parse.urlsplit(target)
        return parts.path or "/", parts.query
    path, _, query = target.partition("?")
    return path, query


class _BadRequest(Exception):
    def __init__(self, code):
        super().__init__(code)
        self.code = code


class Request:
    """One parsed request, as the behaviours see it."""

    def __init__(self, method, target, version, header_list, body, t):
        self.method = method
        self.target = target
        self.version = version
        self.header_list = header_list
        self.headers = _header_dict(header_list)
        self.body = body
        self.time = t
        self.path, self.query = _split_target(target)
        self.args = dict(parse_query(self.query))   # the last one wins

    def arg(self, name, default=None):
        return self.args.get(name, default)

    def int_arg(self, name, default, lo=None, hi=None):
        """An integer parameter; _BadRequest(400) when not one or out of range."""
        v = self.args.get(name)
        if v is None or v == "":
            return default
        try:
            n = int(v, 10)
        except ValueError:
            raise _BadRequest(400)
        if (lo is not None and n < lo) or (hi is not None and n > hi):
            raise _BadRequest(400)
        return n

    def wants_close(self):
        tokens = [t.strip().lower() for t in self.headers.get("connection", "").split(",")]
        if "close" in tokens:
            return True
        return self.version == "HTTP/1.0" and "keep-alive" not in tokens


def _header_dict(header_list):
    d = {}
    for name, value in header_list:
        d[name] = d[name] + ", " + value if name in d else value
    return d


class _Conn:
    """One accepted connection."""

    def __init__(self, server, sock, number):
        self.server = server
        self.sock = sock
        self.number = number
        self.buf = b""
        self.closed = False
        self._lock = threading.Lock()

    def send(self, data):
        self.sock.sendall(data)

    def recv_more(self):
        """Appends what arrives to buf; False on EOF (timeouts raise)."""
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def shutdown(self, how=socket.SHUT_RDWR):
        with self._lock:
            if not self.closed:
                try:
                    # the plain-socket shutdown, also for an SSLSocket (whose
                    # own shutdown() would drop its SSL object under a reader)
                    socket.socket.shutdown(self.sock, how)
                except OSError:
                    pass

    def close(self):
        with self._lock:
            if not self.closed:
                self.closed = True
                try:
                    self.sock.close()
                except OSError:
                    pass

    def reset(self):
        """Closes with an RST: SO_LINGER on, timeout 0."""
        with self._lock:
            if not self.closed:
                try:
                    self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                         struct.pack("ii", 1, 0))
                except OSError:
                    pass
        self.close()

    def fin(self):
        """Closes without a byte: a FIN (no TLS close_notify)."""
        self.shutdown(socket.SHUT_WR)
        self.close()

    def linger_close(self, seconds=LINGER_SECONDS):
        """Closes after a last response: FIN first, then reads and discards
        what the peer still sends (raw bytes, also under TLS) until its EOF,
        for at most `seconds`, so that unread input does not turn the close
        into an RST that could destroy the response in flight."""
        self.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + seconds
        drained = 0
        try:
            while drained < LINGER_MAX_BYTES and not self.server._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                socket.socket.settimeout(self.sock, min(left, 0.1))
                try:
                    data = socket.socket.recv(self.sock, 65536)
                except socket.timeout:
                    continue
                if not data:
                    break
                drained += len(data)
        except OSError:
            pass
        self.close()

    def read_request(self):
        """Reads one request (head and body). None on EOF or a silent peer;
        _BadRequest for a request to refuse."""
        while True:
            i, sep = _head_end(self.buf)
            if i >= 0:
                break
            if len(self.buf) > MAX_REQUEST_HEAD:
                raise _BadRequest(431)
            if not self.recv_more():
                return None
        if i > MAX_REQUEST_HEAD:
            raise _BadRequest(431)
        t = time.monotonic()
        head, self.buf = self.buf[:i], self.buf[i + sep:]
        lines = [ln[:-1] if ln.endswith("\r") else ln
                 for ln in head.decode("latin-1").split("\n")]
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[0] or not parts[1] or not parts[2].startswith("HTTP/"):
            raise _BadRequest(400)
        method, target, version = parts
        header_list = []
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and header_list:       # obsolete folding
                name, value = header_list[-1]
                header_list[-1] = (name, value + " " + line.strip())
                continue
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                raise _BadRequest(400)
            header_list.append((name.lower(), value.strip(" \t")))
        headers = _header_dict(header_list)
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._expect_continue(headers, 1)
            body = self._read_chunked()
        else:
            cl = headers.get("content-length", "").strip()
            if cl and (not cl.isdigit() or "," in cl):
                raise _BadRequest(400)
            n = int(cl) if cl else 0
            if n > MAX_REQUEST_BODY:
                raise _BadRequest(413)
            self._expect_continue(headers, n)
            while len(self.buf) < n:
                if not self.recv_more():
                    return None
            body, self.buf = self.buf[:n], self.buf[n:]
        return Request(method, target, version, header_list, body, t)

    def _expect_continue(self, headers, n):
        if n > 0 and not self.buf and headers.get("expect", "").lower() == "100-continue":
            self.send(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _read_line(self, limit=8192):
        while b"\n" not in self.buf:
            if len(self.buf) > limit:
                raise _BadRequest(400)
            if not self.recv_more():
                raise _BadRequest(400)
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    def _read_chunked(self):
        body = bytearray()
        while True:
            size = self._read_line().split(b";", 1)[0].strip()
            try:
                n = int(size, 16)
            except ValueError:
                raise _BadRequest(400)
            if n < 0 or len(body) + n > MAX_REQUEST_BODY:
                raise _BadRequest(413)
            if n == 0:
                while self._read_line():      # trailers, up to the empty line
                    pass
                return bytes(body)
            while len(self.buf) < n + 2:
                if not self.recv_more():
                    raise _BadRequest(400)
            body += self.buf[:n]
            self.buf = self.buf[n + 2:]


def _head_end(buf):
    """(index of the blank line ending the head, length of the separator), or (-1, 0)."""
    a = buf.find(b"\r\n\r\n")
    b = buf.find(b"\n\n")
    if b >= 0 and (a < 0 or b < a):
        return b, 2
    return (a, 4) if a >= 0 else (-1, 0)


class FaultServer:
    io_timeout = IO_TIMEOUT         # may be lowered on an instance before start()

    def __init__(self, tls=None):
        self.tls = tls
        self.scheme = "https" if tls else "http"
        self._ctx = None
        if tls:
            certfile, keyfile = tls
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(certfile, keyfile)
            self._ctx = ctx
        self._lsock = None
        self.port = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = []
        self._conns = []
        self._accept_thread = None
        self._counters = {}             # (kind, key) -> requests seen
        self.connections = 0            # TCP connections accepted
        self.tls_failures = 0           # TLS handshakes that failed
        self.refused = 0                # requests answered 400/413/431
        self.log = []                   # [LogEntry, ...]
        self.robots = {}                # host or "*" -> (status, body) for /robots.txt
        self.errors = []                # exceptions in handlers (a bug here)

    # ---- public --------------------------------------------------------------
    def start(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(256)
        s.settimeout(0.1)
        self._lsock = s
        self.port = s.getsockname()[1]
        self._accept_thread = threading.Thread(target=self._accept_loop, name="fault-accept",
                                               daemon=True)
        self._accept_thread.start()
        return self

    def url(self, path="/", host=None):
        if not path.startswith("/"):
            path = "/" + path
        return "%s://%s:%d%s" % (self.scheme, host or "127.0.0.1", self.port, path)

    def requests_for(self, path_prefix):
        """Log entries whose target starts with path_prefix, in log order."""
        with self._lock:
            return [e for e in self.log if e.target.startswith(path_prefix)]

    def hits(self, kind, key):
        """Requests seen so far by /flaky (kind "flaky") or /drop ("drop") for key."""
        with self._lock:
            return self._counters.get((kind, key), 0)

    def snapshot(self):
        """(connections, list(log)) taken together."""
        with self._lock:
            return self.connections, list(self.log)

    def reset(self):
        """Clears the log and the /flaky and /drop counters."""
        with self._lock:
            self.log.clear()
            self._counters.clear()

    def stop(self, timeout=5.0):
        self._stop.set()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout)
        if self._lsock is not None:
            try:
                self._lsock.close()
            except OSError:
                pass
        with self._lock:
            conns = list(self._conns)
            threads = list(self._threads)
        for c in conns:
            c.shutdown()
        deadline = time.monotonic() + timeout
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        for c in conns:
            c.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # ---- internals -----------------------------------------------------------
    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                sock, _ = self._lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            sock.settimeout(self.io_timeout)
            with self._lock:
                self.connections += 1
                conn = _Conn(self, sock, self.connections)
                self._conns.append(conn)
                self._threads = [t for t in self._threads if t.is_alive()]
                t = threading.Thread(target=self._serve, args=(conn,),
                                     name="fault-conn-%d" % conn.number, daemon=True)
                self._threads.append(t)
            t.start()

    def _serve(self, conn):
        try:
            if self._ctx is not None:
                try:
                    with conn._lock:        # no I/O here: stop() may shut it at once
                        conn.sock = self._ctx.wrap_socket(conn.sock, server_side=True,
                                                          do_handshake_on_connect=False)
                    if self._stop.is_set():
                        return
                    conn.sock.do_handshake()
                except (OSError, ValueError):
                    with self._lock:
                        self.tls_failures += 1
                    return
            while not self._stop.is_set() and not conn.closed:
                try:
                    req = conn.read_request()
                except _BadRequest as e:
                    with self._lock:
                        self.refused += 1
                    _send_status(conn, e.code, b"bad request\n", close=True)
                    conn.linger_close()
                    return
                if req is None:
                    return
                self._log_request(conn, req)
                fn = BEHAVIOURS.get(req.path)
                if fn is None:
                    fn = _chain if req.path.startswith("/chain/") else _not_found
                try:
                    keep = fn(self, conn, req)
                except _BadRequest as e:
                    _send_status(conn, e.code, b"bad parameter\n", req=req)
                    keep = True
                if not keep:
                    return
                if req.wants_close():
                    conn.linger_close()
                    return
        except OSError:
            pass        # the client went away, or stop() shut the socket
        except Exception as e:  # pragma: no cover - a bug in this file
            with self._lock:
                self.errors.append(repr(e))
        finally:
            conn.close()
            with self._lock:
                if conn in self._conns:
                    self._conns.remove(conn)

    def _log_request(self, conn, req):
        with self._lock:
            self.log.append(LogEntry(req.time, conn.number, req.method, req.target,
                                     req.headers.get("host"), req.headers, req.body,
                                     req.version, req.header_list))

    def _count(self, kind, key):
        """Counts one more request for (kind, key); returns the new count."""
        with self._lock:
            n = self._counters.get((kind, key), 0) + 1
            self._counters[(kind, key)] = n
            return n


# ---------------------------------------------------------------------------
# Responses
# ---------------------------------------------------------------------------
def _reason(code):
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return "Unknown"


def _respond(conn, req, code, headers=(), body=b"", close=False, body_len=None,
             body_iter=None):
    """Sends one response. headers: [(bytes name, bytes value)]. Content-Length
    always (not for 204); no body for HEAD, 204, 304. body_iter/body_len stream
    a large body."""
    close = close or (req is not None and req.wants_close())
    n = len(body) if body_len is None else body_len
    no_body = code in (204, 304) or (req is not None and req.method == "HEAD")
    lines = [b"HTTP/1.1 %d %s" % (code, _reason(code).encode("latin-1"))]
    lines += [name + b": " + value for name, value in headers]
    if code == 204:
        pass
    elif code == 304:
        lines.append(b"Content-Length: 0")
    else:
        lines.append(b"Content-Length: %d" % n)
    lines.append(b"Connection: close" if close else b"Connection: keep-alive")
    head = b"\r\n".join(lines) + b"\r\n\r\n"
    if no_body:
        conn.send(head)
    elif body_iter is None:
        conn.send(head + body)
    else:
        conn.send(head)
        for piece in body_iter:
            if conn.server._stop.is_set():
                raise OSError("stopping")
            conn.send(piece)


def _send_pieces(conn, head, pieces):
    """Sends head, then the pieces, gathered into writes of about SEND_CHUNK."""
    buf = bytearray(head)
    for piece in pieces:
        if conn.server._stop.is_set():
            raise OSError("stopping")
        buf += piece
        if len(buf) >= SEND_CHUNK:
            conn.send(buf)
            buf = bytearray()
    if buf:
        conn.send(buf)


def _chunk_pieces(data):
    for off in range(0, len(data), ENCODED_CHUNK):
        yield _chunk(data[off:off + ENCODED_CHUNK])
    yield b"0\r\n\r\n"


def _send_framed(conn, req, code, headers, data, chunked=False, transfer=()):
    """Sends data with Content-Length, or chunked=True: "Transfer-Encoding:
    <transfer codings already applied>, chunked" in ENCODED_CHUNK chunks. No
    body for HEAD. Connection: close when the request asked for it."""
    lines = [b"HTTP/1.1 %d %s" % (code, _reason(code).encode("latin-1"))]
    lines += [name + b": " + value for name, value in headers]
    if chunked:
        lines.append(b"Transfer-Encoding: " + b", ".join(list(transfer) + [b"chunked"]))
    else:
        lines.append(b"Content-Length: %d" % len(data))
    lines.append(b"Connection: close" if req.wants_close() else b"Connection: keep-alive")
    head = b"\r\n".join(lines) + b"\r\n\r\n"
    if req.method == "HEAD":
        conn.send(head)
    elif chunked:
        _send_pieces(conn, head, _chunk_pieces(data))
    else:
        mv = memoryview(data)
        _send_pieces(conn, head, (mv[i:i + SEND_CHUNK] for i in range(0, len(data), SEND_CHUNK)))


def _send_status(conn, code, body, req=None, close=False):
    _respond(conn, req, code, [(b"Content-Type", b"text/plain")], body, close=close)


def _code(req, default):
    return req.int_arg("code", default, 200, 999)


def _retry_after(req):
    v = req.arg("retry_after")
    return [] if v is None else [(b"Retry-After", v.encode("latin-1"))]


# ---------------------------------------------------------------------------
# Behaviours: fn(server, conn, req) -> True to keep the connection.
# ---------------------------------------------------------------------------
def _ok(srv, conn, req):
    size = req.int_arg("size", None, 0, MAX_OK_SIZE)
    hdrs = [(b"Content-Type", b"text/plain")]
    if size is None:
        _respond(conn, req, 200, hdrs, b"ok " + req.target.encode("latin-1"))
    elif size <= SEND_CHUNK:
        _respond(conn, req, 200, hdrs, ok_body(size))
    else:
        _respond(conn, req, 200, hdrs, body_len=size, body_iter=_ok_pieces(size))
    return True


def _ok_pieces(size):
    """ok_body(size) in pieces of at most SEND_CHUNK bytes."""
    block = ok_body(SEND_CHUNK + len(_OK_PATTERN))
    period = len(_OK_PATTERN)
    off = 0
    while off < size:
        n = min(SEND_CHUNK, size - off)
        start = off % period
        yield block[start:start + n]
        off += n


def _redirect_to(conn, req, code, location):
    hdrs = [(b"Content-Type", b"text/plain")]
    if location is not None:
        hdrs.insert(0, (b"Location", location))
    _respond(conn, req, code, hdrs, REDIRECT_BODY)
    return True


def _redirect(srv, conn, req):
    code = _code(req, 302)
    pad = req.int_arg("pad", 0, 0, MAX_PAD)
    to = req.arg("to")
    if to is None and not pad:
        return _redirect_to(conn, req, code, None)
    return _redirect_to(conn, req, code, (to or "").encode("latin-1") + b"a" * pad)


def _chain(srv, conn, req):
    rest = req.path[len("/chain/"):]
    if not rest.isdigit():
        return _not_found(srv, conn, req)
    n = int(rest)
    if n == 0:
        _respond(conn, req, 200, [(b"Content-Type", b"text/plain")], CHAIN_END_BODY)
        return True
    loc = "/chain/%d" % (n - 1) + ("?" + req.query if req.query else "")
    return _redirect_to(conn, req, _code(req, 302), loc.encode("latin-1"))


def _loop(target):
    def fn(srv, conn, req):
        return _redirect_to(conn, req, 302, target)
    return fn


def _flaky(srv, conn, req):
    key = req.arg("key", "")
    fails = req.int_arg("fails", 1, 0)
    code = _code(req, 503)
    if srv._count("flaky", key) <= fails:
        _respond(conn, req, code, [(b"Content-Type", b"text/plain")] + _retry_after(req),
                 b"failing " + key.encode("latin-1") + b"\n")
    else:
        _respond(conn, req, 200, [(b"Content-Type", b"text/plain")], recovered_body(key))
    return True


def _status(srv, conn, req):
    code = _code(req, 200)
    _respond(conn, req, code, [(b"Content-Type", b"text/plain")] + _retry_after(req),
             b"status %d\n" % code)
    return True


def _method(srv, conn, req):
    body = json.dumps({"method": req.method, "target": req.target, "headers": req.headers,
                       "body": req.body.decode("latin-1")}).encode("ascii")
    _respond(conn, req, 200, [(b"Content-Type", b"application/json")], body)
    return True


def _drop(srv, conn, req):
    key = req.arg("key", "")
    fails = req.int_arg("fails", 1, 0)
    how = req.arg("how", "reset")
    if how not in ("reset", "close"):
        raise _BadRequest(400)
    if srv._count("drop", key) <= fails:
        if how == "reset":
            conn.reset()
        else:
            conn.fin()
        return False
    _respond(conn, req, 200, [(b"Content-Type", b"text/plain")], recovered_body(key))
    return True


def _slow(srv, conn, req):
    ms = req.int_arg("ms", 1000, 0)
    ms = min(ms, MAX_SLOW_MS)
    if srv._stop.wait(ms / 1000.0):
        return False
    _respond(conn, req, 200, [(b"Content-Type", b"text/plain")], b"slept %d ms\n" % ms)
    return True


def _host(srv, conn, req):
    _respond(conn, req, 200, [(b"Content-Type", b"text/plain")],
             (req.headers.get("host") or "").encode("latin-1"))
    return True


def _robots(srv, conn, req):
    host = (req.headers.get("host") or "").lower()
    if host.startswith("["):
        host = host[:host.find("]") + 1]
    else:
        host = host.rsplit(":", 1)[0]
    rule = srv.robots.get(host, srv.robots.get("*"))
    if rule is None:
        return _not_found(srv, conn, req)
    _respond(conn, req, rule[0], [(b"Content-Type", b"text/plain")], rule[1])
    return True


def _not_found(srv, conn, req):
    _respond(conn, req, 404, [(b"Content-Type", b"text/plain")], NOT_FOUND_BODY)
    return True


def _codings_arg(req, name, allowed=CODINGS):
    """The comma-separated codings of parameter `name`, stripped, as given
    ([] when absent or empty); _BadRequest(400) for one not in allowed."""
    v = req.arg(name)
    if v is None or not v.strip():
        return []
    toks = [t.strip() for t in v.split(",")]
    if len(toks) > MAX_CODINGS or any(t.lower() not in allowed for t in toks):
        raise _BadRequest(400)
    return toks


def _shown(tokens):
    """A header value for codings as given: joined by ", ", deflate-raw as deflate."""
    return b", ".join(b"deflate" if t.lower() == "deflate-raw" else t.encode("latin-1")
                      for t in tokens)


def _tool_missing(conn, req, e):
    _send_status(conn, 501, str(e).encode("latin-1") + b"\n", req=req)
    return True


def _encoded(srv, conn, req):
    size = req.int_arg("size", DEFAULT_ENCODED_SIZE, 0, MAX_ENCODED_SIZE)
    seed = req.int_arg("seed", DEFAULT_SEED)
    enc = _codings_arg(req, "enc")
    te = _codings_arg(req, "te")
    chunked = req.int_arg("chunked", 0, 0, 1) == 1 or bool(te)
    hdrs = [(b"Content-Type", b"text/plain")]
    if enc:
        hdrs.append((b"Content-Encoding", _shown(enc)))
    try:
        body = encoded_body(enc + te, size, seed)
    except _ToolMissing as e:
        return _tool_missing(conn, req, e)
    _send_framed(conn, req, 200, hdrs, body, chunked, [_shown([t]) for t in te])
    return True


def _bomb(srv, conn, req):
    coding = req.arg("enc", "gzip").strip()
    if coding.lower() not in BOMB_CODINGS:
        raise _BadRequest(400)
    size = req.int_arg("size", BOMB_DEFAULT_SIZE, 0, MAX_BOMB_SIZE)
    try:
        body = bomb_body(coding, size, cancel=srv._stop)
    except _ToolMissing as e:
        return _tool_missing(conn, req, e)
    _send_framed(conn, req, 200, [(b"Content-Type", b"application/octet-stream"),
                                  (b"Content-Encoding", coding.encode("latin-1"))], body)
    return True


def _corrupt(srv, conn, req):
    coding = req.arg("enc", "gzip").strip()
    how = req.arg("how", "flip")
    if coding.lower() not in CORRUPT_CODINGS or how not in CORRUPT_HOWS:
        raise _BadRequest(400)
    size = req.int_arg("size", DEFAULT_ENCODED_SIZE, 0, MAX_ENCODED_SIZE)
    seed = req.int_arg("seed", DEFAULT_SEED)
    chunked = req.int_arg("chunked", 0, 0, 1) == 1
    try:
        body = corrupt_body(coding, how, size, seed)
    except _ToolMissing as e:
        return _tool_missing(conn, req, e)
    _send_framed(conn, req, 200, [(b"Content-Type", b"text/plain"),
                                  (b"Content-Encoding", _shown([coding]))], body, chunked)
    return True


def _pipelined_raw(conn):
    """The RawScript of the next request when its head is complete in the
    input and it is a GET /raw for a kept script; otherwise None."""
    i, _ = _head_end(conn.buf)
    if i < 0:
        return None
    parts = conn.buf[:i].split(b"\n", 1)[0].rstrip(b"\r").decode("latin-1").split(" ")
    if len(parts) != 3 or parts[0] != "GET":
        return None
    path, query = _split_target(parts[1])
    script = RAW_SCRIPTS.get(dict(parse_query(query)).get("name"))
    return script if path == "/raw" and script is not None and script.keep else None


def _raw(srv, conn, req):
    script = RAW_SCRIPTS.get(req.arg("name", ""))
    if script is None:
        raise _BadRequest(400)
    out = [script.data]
    last = req
    if req.arg("name") == "lf-pipelined" and not req.wants_close():
        # pipelined /raw requests already received: answered in the same write
        while not last.wants_close() and _pipelined_raw(conn) is not None:
            try:
                nxt = conn.read_request()
            except _BadRequest as e:
                conn.send(b"".join(out))
                with srv._lock:
                    srv.refused += 1
                _send_status(conn, e.code, b"bad request\n", close=True)
                conn.linger_close()
                return False
            if nxt is None:
                break
            srv._log_request(conn, nxt)
            out.append(RAW_SCRIPTS[nxt.arg("name")].data)
            last = nxt
    conn.send(b"".join(out))
    if not script.keep or (last is not req and last.wants_close()):
        conn.linger_close()
        return False
    return True


def _close_delimited(srv, conn, req):
    size = req.int_arg("size", DEFAULT_ENCODED_SIZE, 0, MAX_OK_SIZE)
    notify = req.int_arg("notify", 1, 0, 1)
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
    _send_pieces(conn, head, () if req.method == "HEAD" else _ok_pieces(size))
    if notify and isinstance(conn.sock, ssl.SSLSocket):
        try:
            conn.sock.settimeout(LINGER_SECONDS)
            conn.sock.unwrap()      # close_notify; waits a little for the peer's
        except (OSError, ValueError):
            pass
    conn.linger_close()             # the FIN (over TLS without close_notify: notify=0)
    return False


BEHAVIOURS = {
    "/ok": _ok,
    "/redirect": _redirect,
    "/loop": _loop(b"/loop"),
    "/loop-a": _loop(b"/loop-b"),
    "/loop-b": _loop(b"/loop-a"),
    "/flaky": _flaky,
    "/status": _status,
    "/method": _method,
    "/drop": _drop,
    "/slow": _slow,
    "/host": _host,
    "/robots.txt": _robots,
    "/encoded": _encoded,
    "/bomb": _bomb,
    "/corrupt": _corrupt,
    "/raw": _raw,
    "/close-delimited": _close_delimited,
    # /chain/N is matched by prefix in FaultServer._serve
}


# ---------------------------------------------------------------------------
# Self-test: python3 fault_server.py
# ---------------------------------------------------------------------------
def _selftest():
    import hashlib
    import http.client
    import os
    import shutil
    import subprocess
    import sys
    import tempfile

    failures = []
    passed = [0]

    def check(name, cond, detail=""):
        if cond:
            passed[0] += 1
        else:
            failures.append("%s: %s" % (name, detail))
            print("FAIL %s %s" % (name, detail))

    def raw(srv, data, ctx=None, sock=None, read=True):
        """Sends raw bytes; returns (sock, [(status, head bytes, body)]) for
        as many responses as arrive before the peer closes or goes quiet."""
        if sock is None:
            sock = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            if ctx is not None:
                sock = ctx.wrap_socket(sock, server_hostname="localhost")
        sock.sendall(data)
        if not read:
            return sock, []
        return sock, read_responses(sock, 1)

    def read_responses(sock, count, head_req=False):
        out = []
        buf = b""
        while len(out) < count:
            while b"\r\n\r\n" not in buf:
                d = sock.recv(65536)
                if not d:
                    return out
                buf += d
            head, buf = buf.split(b"\r\n\r\n", 1)
            status = int(head.split(b" ", 2)[1])
            n = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.lower() == b"content-length":
                    n = int(v)
            if status in (204, 304) or head_req or status < 200:
                n = 0
            while len(buf) < n:
                d = sock.recv(65536)
                if not d:
                    break
                buf += d
            if status >= 200:
                out.append((status, head, buf[:n]))
            buf = buf[n:]
        return out

    def drop_probe(srv, ctx, request):
        """Sends request; "reset" (RST), "eof" (FIN) or the bytes received.
        TLS runs over a MemoryBIO so the TCP outcome stays visible (an
        SSLSocket reports an RST as a ragged EOF)."""
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        try:
            if ctx is None:
                sock.sendall(request)
                d = sock.recv(100)
                return "eof" if d == b"" else d
            inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
            obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
            sent = False
            while True:
                try:
                    if not sent:
                        obj.do_handshake()
                        obj.write(request)
                        sent = True
                    d = obj.read(100)
                    if d:
                        return d
                except ssl.SSLWantReadError:
                    pass
                if out.pending:
                    sock.sendall(out.read())
                d = sock.recv(65536)
                if not d:
                    return "eof"
                inc.write(d)
        except ConnectionResetError:
            return "reset"
        except ssl.SSLError as e:
            return repr(e)
        finally:
            sock.close()

    def header(head, name):
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.lower() == name.lower():
                return v[1:] if v.startswith(b" ") else v
        return None

    def exercise(srv, client_ctx, label):
        def conn():
            if client_ctx is None:
                return http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
            return http.client.HTTPSConnection("127.0.0.1", srv.port, timeout=5,
                                               context=client_ctx)

        def get(c, path, method="GET", body=None, headers=None):
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r, r.read()

        base_conns = srv.connections
        # keep-alive: many requests, one connection
        c = conn()
        r, b = get(c, "/ok")
        check(label + " ok default body", r.status == 200 and b == b"ok /ok", (r.status, b))
        check(label + " ok content-type", r.getheader("Content-Type") == "text/plain")
        r, b = get(c, "/ok?size=5000")
        check(label + " ok size", b == ok_body(5000) and len(b) == 5000, len(b))
        r, b = get(c, "/ok?size=200000")
        check(label + " ok big size", b == ok_body(200000), len(b))
        r, b = get(c, "/ok?size=0")
        check(label + " ok size 0", r.status == 200 and b == b"", b)
        r, b = get(c, "/host")
        check(label + " host", b == ("127.0.0.1:%d" % srv.port).encode(), b)
        r, b = get(c, "/status?code=429&retry_after=7")
        check(label + " status 429", r.status == 429 and r.getheader("Retry-After") == "7"
              and b == b"status 429\n", (r.status, r.getheader("Retry-After"), b))
        r, b = get(c, "/status?code=204")
        check(label + " status 204", r.status == 204 and b == b"", (r.status, b))
        r, b = get(c, "/status?code=503")
        check(label + " status no retry-after", r.status == 503 and
              r.getheader("Retry-After") is None, r.getheaders())
        r, b = get(c, "/ok?size=10", method="HEAD")
        check(label + " HEAD", r.status == 200 and b == b"" and
              r.getheader("Content-Length") == "10", r.getheaders())
        r, b = get(c, "/nowhere")
        check(label + " 404", r.status == 404 and b == NOT_FOUND_BODY, (r.status, b))
        r, b = get(c, "/status?code=abc")
        check(label + " bad code 400", r.status == 400, r.status)
        r, b = get(c, "/redirect?code=301&to=%2Fok")
        check(label + " redirect", r.status == 301 and r.getheader("Location") == "/ok"
              and b == REDIRECT_BODY, (r.status, r.getheaders()))
        r, b = get(c, "/redirect")
        check(label + " redirect without Location", r.status == 302 and
              r.getheader("Location") is None and b == REDIRECT_BODY, r.getheaders())
        # a chain, followed by hand, with the query kept
        loc, hops = "/chain/3?code=307", 0
        while True:
            r, b = get(c, loc)
            if r.status != 307:
                break
            loc, hops = r.getheader("Location"), hops + 1
        check(label + " chain", hops == 3 and r.status == 200 and b == CHAIN_END_BODY
              and loc == "/chain/0?code=307", (hops, r.status, b, loc))
        r, b = get(c, "/loop")
        check(label + " loop", r.status == 302 and r.getheader("Location") == "/loop")
        r, b = get(c, "/loop-a")
        r2, b = get(c, "/loop-b")
        check(label + " loop-a/b", r.getheader("Location") == "/loop-b" and
              r2.getheader("Location") == "/loop-a")
        # flaky: two 503s with Retry-After, then recovered; another key is separate
        got = []
        for _ in range(4):
            r, b = get(c, "/flaky?key=a%s&fails=2&retry_after=1" % label)
            got.append((r.status, r.getheader("Retry-After"), b))
        want_key = ("a" + label).encode()
        check(label + " flaky", got == [(503, "1", b"failing " + want_key + b"\n")] * 2 +
              [(200, None, b"recovered " + want_key + b"\n")] * 2, got)
        r, b = get(c, "/flaky?key=b%s&fails=1&code=429" % label)
        check(label + " flaky other key", r.status == 429 and r.getheader("Retry-After") is None)
        check(label + " flaky hits", srv.hits("flaky", "a" + label) == 4,
              srv.hits("flaky", "a" + label))
        # POST body echoed by /method
        r, b = get(c, "/method?x=1", method="POST", body=b"a=1&b=\xff\x00",
                   headers={"X-Mixed-Case": "Val",
                            "Content-Type": "application/x-www-form-urlencoded"})
        j = json.loads(b)
        check(label + " method echo", j["method"] == "POST" and j["target"] == "/method?x=1" and
              j["body"] == "a=1&b=\xff\x00" and j["headers"].get("x-mixed-case") == "Val" and
              j["headers"].get("content-length") == "8", j)
        r, b = get(c, "/slow?ms=200")
        e = srv.requests_for("/slow")[-1]
        check(label + " slow", r.status == 200 and time.monotonic() - e.time >= 0.2, b)
        c.close()
        check(label + " keep-alive reuse", srv.connections == base_conns + 1,
              srv.connections - base_conns)

        # byte-exact Locations: space, backslash, non-ASCII, CR-free raw bytes, long
        ctx = client_ctx
        s, resp = raw(srv, b"GET /redirect?to=%2Fa%20b%5Cc%C3%A9%FF+%2B HTTP/1.1\r\n"
                           b"host: x\r\n\r\n", ctx)
        check(label + " raw location", resp and header(resp[0][1], b"location") ==
              b"/a b\\c\xc3\xa9\xff++", resp)
        s, resp = raw(srv, b"GET /redirect?code=308&to=http://h/%E2%82%AC&pad=100000 HTTP/1.1\r\n"
                           b"Host: x\r\n\r\n", ctx, sock=s)
        loc = header(resp[0][1], b"location") if resp else None
        check(label + " long location", resp and resp[0][0] == 308 and
              loc == b"http://h/\xe2\x82\xac" + b"a" * 100000, len(loc or b""))
        # header names in any case; pipelined requests; Connection: close
        s, _ = raw(srv, b"GET /host HTTP/1.1\r\nhOsT: Mixed.Example\r\n\r\n"
                        b"GET /ok HTTP/1.1\r\nHOST: y\r\nconnection: Close\r\n\r\n", ctx,
                   sock=s, read=False)
        resp = read_responses(s, 3)
        check(label + " host any case + pipelining", len(resp) == 2 and
              resp[0][2] == b"Mixed.Example" and resp[1][2] == b"ok /ok", resp)
        check(label + " connection close honoured", len(resp) == 2 and
              header(resp[1][1], b"connection") == b"close" and s.recv(10) == b"", resp)
        s.close()
        # chunked request body + Expect: 100-continue
        s, _ = raw(srv, b"POST /method HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                        b"Expect: 100-continue\r\n\r\n", ctx, read=False)
        first = s.recv(100)
        s.sendall(b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: v\r\n\r\n")
        resp = read_responses(s, 1)
        check(label + " 100-continue + chunked body", first.startswith(b"HTTP/1.1 100 ") and
              resp and json.loads(resp[0][2])["body"] == "abcde", (first, resp))
        s.close()
        # a head over 64 KiB is refused
        s, resp = raw(srv, b"GET /ok HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * (70 * 1024) +
                      b"\r\n\r\n", ctx)
        check(label + " big head refused", resp and resp[0][0] == 431 and s.recv(10) == b"",
              resp)
        s.close()

        # drop: reset, then close, then recovered
        for how in ("reset", "close"):
            key = "d%s%s" % (how, label)
            path = "/drop?key=%s&fails=1&how=%s" % (key, how)
            outcome = drop_probe(srv, ctx, b"GET " + path.encode() +
                                 b" HTTP/1.1\r\nHost: x\r\n\r\n")
            want = "reset" if how == "reset" else "eof"
            check(label + " drop " + how, outcome == want, outcome)
            c = conn()
            r, b = get(c, path)
            check(label + " drop %s recovered" % how, r.status == 200 and
                  b == recovered_body(key), (r.status, b))
            c.close()
            check(label + " drop hits", srv.hits("drop", key) == 2)

    # ---- the coding, raw and close-delimited behaviours ---------------------
    class Reader:
        """A response stream read leniently (a bare LF ends a line too), from
        a socket or from bytes. .end: "eof" or "ragged" (ssl.SSLEOFError)."""

        def __init__(self, sock=None, data=b""):
            self.sock, self.buf, self.end = sock, data, None if sock else "eof"

        def _more(self):
            if self.end:
                return False
            try:
                d = self.sock.recv(65536)
            except ssl.SSLEOFError:
                self.end = "ragged"
                return False
            if not d:
                self.end = "eof"
                return False
            self.buf += d
            return True

        def line(self):
            while b"\n" not in self.buf:
                if not self._more():
                    raise EOFError("no line end")
            line, self.buf = self.buf.split(b"\n", 1)
            return line[:-1] if line.endswith(b"\r") else line

        def exact(self, n):
            while len(self.buf) < n:
                if not self._more():
                    raise EOFError("%d of %d bytes" % (len(self.buf), n))
            d, self.buf = self.buf[:n], self.buf[n:]
            return d

        def rest(self):
            while self._more():
                pass
            d, self.buf = self.buf, b""
            return d

    def read_fields(rd):
        out = []
        while True:
            line = rd.line()
            if not line:
                return out
            name, _, value = line.partition(b":")
            out.append((name.strip().lower(), value.strip(b" \t")))

    def field(fields, name):
        values = [v for n, v in fields if n == name]
        return b", ".join(values) if values else None

    def read_message(rd, head_only=False):
        """(status, fields, body, trailers, chunk sizes): the body de-chunked
        and transfer-decoded, not content-decoded; framing as RFC 9112 (a
        transfer coding other than chunked last: read until the close)."""
        status = int(rd.line().split(b" ", 2)[1])
        fields = read_fields(rd)
        te = [t.strip().lower() for t in (field(fields, b"transfer-encoding") or b"").split(b",")
              if t.strip()]
        cl = field(fields, b"content-length")
        trailers, sizes = [], []
        if head_only:
            body = b""
        elif te and te[-1] == b"chunked":
            parts = []
            while True:
                n = int(rd.line().split(b";")[0].strip(), 16)
                if n == 0:
                    break
                sizes.append(n)
                parts.append(rd.exact(n))
                if rd.line() != b"":
                    raise ValueError("chunk data without its line end")
            trailers = read_fields(rd)
            body = b"".join(parts)
            for t in reversed(te[:-1]):
                body = decode(body, t.decode())
        elif te:
            body = rd.rest()
        elif cl is not None:
            body = rd.exact(int(cl.split(b",")[0]))
        else:
            body = rd.rest()
        return status, fields, body, trailers, sizes

    def decode(data, coding):
        """data decoded strictly: ValueError unless it is exactly one complete
        stream of coding."""
        c = coding.lower()
        if c == "identity":
            return data
        if c in ("gzip", "x-gzip", "deflate", "deflate-raw"):
            d = zlib.decompressobj({"gzip": 31, "x-gzip": 31, "deflate": 15,
                                    "deflate-raw": -15}[c])
            try:
                out = d.decompress(data) + d.flush()
            except zlib.error as e:
                raise ValueError("%s: %s" % (c, e))
            if not d.eof:
                raise ValueError(c + ": the stream does not end")
            if d.unused_data:
                raise ValueError(c + ": bytes after the end")
            return out
        args = {"br": ["brotli", "-d", "-c"], "zstd": ["zstd", "-d", "-q", "-c"]}[c]
        p = subprocess.run(args, input=data, capture_output=True, timeout=120)
        if p.returncode != 0:
            raise ValueError("%s: %s" % (c, p.stderr.strip()[-200:]))
        return p.stdout

    def decode_all(data, codings):
        for c in reversed(codings):
            data = decode(data, c)
        return data

    def fails(fn, *args):
        try:
            fn(*args)
            return False
        except ValueError:
            return True

    def cli_prefix(args, data, n):
        """The first n bytes args writes for data, then it is killed."""
        p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)

        def feed():
            try:
                p.stdin.write(data)
                p.stdin.close()
            except OSError:
                pass
        t = threading.Thread(target=feed, daemon=True)
        t.start()
        out = b""
        while len(out) < n:
            d = p.stdout.read(n - len(out))
            if not d:
                break
            out += d
        p.kill()
        p.wait()
        p.stdout.close()
        t.join(5)
        return out

    def check_helpers():
        a, b = encoded_plain(5000, 1), encoded_plain(5000, 2)
        check("plain size", len(a) == 5000 and len(encoded_plain(0)) == 0)
        check("plain deterministic", a == encoded_plain(5000, 1) == _make_plain(5000, 1))
        check("plain seeds differ", a != b)
        check("plain prefix", encoded_plain(20000, 1)[:5000] == a)
        text = encoded_plain(100000)
        words = set(text[:text.rindex(b"\n")].split())      # no word cut at the end
        check("plain words", words <= set(_WORDS) and len(words) == 64, words - set(_WORDS))
        big = encoded_plain(1 << 20, 5)
        ratio = len(encode(big, "gzip")) / len(big)
        check("plain compressible", 0.2 < ratio < 0.4, ratio)
        check("encode identity", encode(a, "identity") == a)
        check("encode deterministic", encode(a, "br") == encode(a, "BR") and
              encode(a, "zstd") == encode(a, "zstd") and encode(a, "gzip") == encode(a, "x-gzip"))
        for c in CODINGS:
            check("encode round trip " + c, decode(encode(a, c), c) == a)
        check("encode gzip header", encode(a, "gzip")[:2] == b"\x1f\x8b" and
              encode(a, "deflate")[:1] == b"\x78" and encode(a, "zstd")[:4] == b"\x28\xb5\x2f\xfd")
        try:
            encode(a, "compress")
            check("encode unknown", False, "no ValueError")
        except ValueError:
            pass
        check("encoded_body str or list", encoded_body("gzip, br", 3000, 4) ==
              encoded_body(["gzip", "br"], 3000, 4) == encode(encode(encoded_plain(3000, 4),
                                                                  "gzip"), "br"))
        check("raw tables", set(RAW_BODIES) == set(RAW_SCRIPTS) and
              set(RAW_TRAILERS) <= set(RAW_SCRIPTS) and RAW_MAY_REJECT <= set(RAW_SCRIPTS))
        for name, script in sorted(RAW_SCRIPTS.items()):
            want = RAW_BODIES[name]
            if want is None:
                continue
            try:
                st, fields, body, trailers, _ = read_message(Reader(data=script.data))
                tr = [(n.lower().encode(), v.encode()) for n, v in RAW_TRAILERS.get(name, [])]
                check("raw script parses " + name, st == 200 and body == want and
                      trailers == tr, (body, trailers))
            except (ValueError, EOFError) as e:
                check("raw script parses " + name, False, e)

    def exercise_codings(srv, ctx, label):
        def connect(**kw):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=20)
            return ctx.wrap_socket(s, server_hostname="localhost", **kw) if ctx else s

        def get(rd, target, method="GET", close=False):
            rd.sock.sendall(("%s %s HTTP/1.1\r\nHost: x\r\n%s\r\n" % (
                method, target, "Connection: close\r\n" if close else "")).encode("latin-1"))
            return read_message(rd, head_only=(method == "HEAD"))

        L = label + " "
        rd = Reader(connect())
        # /encoded: every coding alone, Content-Length framing
        plain = encoded_plain(50000, 7)
        for c in CODINGS:
            st, f, body, _, _ = get(rd, "/encoded?enc=%s&size=50000&seed=7" % c)
            shown = b"deflate" if c == "deflate-raw" else c.encode()
            check(L + "encoded " + c, st == 200 and field(f, b"content-encoding") == shown and
                  field(f, b"content-length") == b"%d" % len(body) and
                  field(f, b"transfer-encoding") is None and
                  body == encoded_body([c], 50000, 7) == encode(plain, c) and
                  decode(body, c) == plain, (st, f, len(body)))
        st, f, body, _, _ = get(rd, "/encoded")
        check(L + "encoded defaults", st == 200 and field(f, b"content-encoding") is None and
              body == encoded_plain(DEFAULT_ENCODED_SIZE, DEFAULT_SEED), (st, f, len(body)))
        st, f, body, _, _ = get(rd, "/encoded?enc=gzip")
        check(L + "encoded default size", decode(body, "gzip") ==
              encoded_plain(DEFAULT_ENCODED_SIZE, DEFAULT_SEED))
        # stacked codings, chunked in 16 KiB chunks; names shown as given
        for enc, size, shown in (("gzip,br,zstd", 300000, b"gzip, br, zstd"),
                                 ("deflate-raw, identity,X-GZIP", 200000,
                                  b"deflate, identity, X-GZIP")):
            st, f, body, _, sizes = get(rd, "/encoded?enc=%s&size=%d&seed=3&chunked=1"
                                        % (enc.replace(" ", "%20"), size))
            codings = [t.strip() for t in enc.split(",")]
            check(L + "encoded chunked " + enc, st == 200 and
                  field(f, b"content-encoding") == shown and
                  field(f, b"transfer-encoding") == b"chunked" and
                  field(f, b"content-length") is None and
                  all(n == ENCODED_CHUNK for n in sizes[:-1]) and 0 < sizes[-1] <= ENCODED_CHUNK
                  and decode_all(body, codings) == encoded_plain(size, 3), (f, sizes))
        # transfer codings before chunked
        st, f, body, _, sizes = get(rd, "/encoded?enc=br&te=gzip&size=70000&seed=3")
        check(L + "encoded te=gzip", st == 200 and
              field(f, b"transfer-encoding") == b"gzip, chunked" and
              field(f, b"content-encoding") == b"br" and body == encoded_body("br", 70000, 3)
              and decode(body, "br") == encoded_plain(70000, 3), (f, len(body)))
        st, f, body, _, _ = get(rd, "/encoded?te=zstd,gzip&size=40000")
        check(L + "encoded te=zstd,gzip", field(f, b"transfer-encoding") ==
              b"zstd, gzip, chunked" and field(f, b"content-encoding") is None and
              body == encoded_plain(40000), f)
        # HEAD: the same head, no body; the connection still in step
        st, f, body, _, _ = get(rd, "/encoded?enc=zstd&size=50000&seed=7", method="HEAD")
        check(L + "encoded HEAD", st == 200 and body == b"" and field(f, b"content-length") ==
              b"%d" % len(encode(plain, "zstd")), f)
        st, f, body, _, _ = get(rd, "/encoded?enc=zstd&size=5000000&chunked=1")
        check(L + "encoded large", decode(body, "zstd") == encoded_plain(5000000), len(body))
        for bad in ("enc=foo", "te=chunked", "enc=gzip,,br", "size=-1",
                    "size=%d" % (MAX_ENCODED_SIZE + 1), "enc=" + ",".join(["gzip"] * 9),
                    "chunked=2", "seed=x"):
            st, f, body, _, _ = get(rd, "/encoded?" + bad)
            check(L + "encoded bad " + bad, st == 400, st)
        # the cache: a repeated request runs no encoder
        runs = _STATS["cli"]
        target = "/encoded?enc=br&size=123457&seed=%d" % len(label)
        st, f, b1, _, _ = get(rd, target)
        first = _STATS["cli"] - runs
        st, f, b2, _, _ = get(rd, target)
        check(L + "encoded cached", first == 1 and _STATS["cli"] - runs == 1 and b1 == b2,
              (first, _STATS["cli"] - runs))

        # /bomb: the default 256 MiB, checked by size and a decoded prefix
        builds = _STATS["bomb"]
        for c in ("gzip", "br", "zstd"):
            st, f, body, _, _ = get(rd, "/bomb?enc=" + c)
            ok = (st == 200 and field(f, b"content-encoding") == c.encode() and
                  field(f, b"content-length") == b"%d" % len(body) and
                  body == bomb_body(c) and len(body) < BOMB_DEFAULT_SIZE // 1000)
            if c == "gzip":
                prefix = zlib.decompressobj(31).decompress(body, 1 << 20)
                ok = ok and struct.unpack("<I", body[-4:])[0] == BOMB_DEFAULT_SIZE % (1 << 32)
            else:
                prefix = cli_prefix(["brotli" if c == "br" else "zstd", "-d", "-c"], body,
                                    1 << 20)
            check(L + "bomb " + c, ok and prefix == bytes(1 << 20),
                  (st, f, len(body), len(prefix)))
        for c in BOMB_CODINGS:
            st, f, body, _, _ = get(rd, "/bomb?enc=%s&size=3000001" % c)
            check(L + "small bomb " + c, decode(body, c) == bytes(3000001), len(body))
        st, f, body, _, _ = get(rd, "/bomb", method="HEAD")
        check(L + "bomb HEAD", st == 200 and body == b"" and
              field(f, b"content-length") == b"%d" % len(bomb_body("gzip")), f)
        st, f, body, _, _ = get(rd, "/bomb?enc=identity")
        check(L + "bomb bad coding", st == 400, st)
        check(L + "bombs built once", _STATS["bomb"] - builds ==
              (7 if label == "plain" else 0), _STATS["bomb"] - builds)

        # /corrupt
        for c in ("gzip", "x-gzip", "deflate", "deflate-raw", "br", "zstd"):
            full = encode(encoded_plain(60000), c)
            for how in CORRUPT_HOWS:
                st, f, body, _, _ = get(rd, "/corrupt?enc=%s&how=%s&size=60000" % (c, how))
                name = "%scorrupt %s %s" % (L, c, how)
                head_ok = (st == 200 and field(f, b"content-length") == b"%d" % len(body) and
                           field(f, b"content-encoding") ==
                           (b"deflate" if c == "deflate-raw" else c.encode()) and
                           body == corrupt_body(c, how, 60000))
                if how == "flip":
                    diff = [i for i in range(len(full)) if i < len(body) and body[i] != full[i]]
                    detected = fails(decode, body, c)
                    if not detected:
                        detected = decode(body, c) != encoded_plain(60000)
                        check(name + " not detected by the decoder, but wrong bytes",
                              c not in FLIP_DETECTED and detected)
                    check(name, head_ok and len(body) == len(full) and diff == [len(full) // 2]
                          and detected, (diff, len(body), len(full)))
                elif how == "truncate":
                    check(name, head_ok and body == full[:len(full) // 2] and
                          fails(decode, body, c), len(body))
                else:
                    check(name, head_ok and body == full + CORRUPT_GARBAGE and
                          fails(decode, body, c) and decode(body[:-16], c) ==
                          encoded_plain(60000), len(body))
        st, f, body, _, sizes = get(rd, "/corrupt?enc=gzip&how=truncate&chunked=1")
        check(L + "corrupt chunked", field(f, b"transfer-encoding") == b"chunked" and
              body == corrupt_body("gzip", "truncate") and len(sizes) >= 1, f)
        for bad in ("enc=identity", "how=mangle"):
            st, f, body, _, _ = get(rd, "/corrupt?" + bad)
            check(L + "corrupt bad " + bad, st == 400, st)
        rd.sock.close()

        # /raw: byte-exact, then kept (a next request answered normally) or closed
        ok_resp = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n"
        for name, script in sorted(RAW_SCRIPTS.items()):
            for method in ("GET", "HEAD"):
                s = connect()
                s.sendall(b"%s /raw?name=%s HTTP/1.1\r\nHost: x\r\n\r\n" % (
                    method.encode(), name.encode()))
                rd = Reader(s)
                if script.keep:
                    got = rd.exact(len(script.data))
                    s.sendall(b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    rest = rd.rest()
                    check("%sraw %s %s kept" % (L, method, name), got == script.data and
                          rest.startswith(ok_resp) and rest.endswith(b"\r\n\r\nok /ok"),
                          (got, rest))
                else:
                    got = rd.rest()
                    check("%sraw %s %s closed" % (L, method, name), got == script.data, got)
                s.close()
        # lf-pipelined: pipelined /raw requests answered together, the rest as usual
        for second, keep in (("lf-head", True), ("trailers", True), ("cl-te", False)):
            s = connect()
            s.sendall(b"GET /raw?name=lf-pipelined HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /raw?name=%s HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                      % second.encode())
            got = Reader(s).rest()
            want = RAW_SCRIPTS["lf-pipelined"].data + RAW_SCRIPTS[second].data
            check("%sraw lf-pipelined + %s" % (L, second), got.startswith(want) and
                  (got[len(want):].startswith(ok_resp) if keep else got == want), got)
            s.close()
        e = srv.requests_for("/raw?name=lf-pipelined")[-1]
        check(L + "raw pipelined logged", [x.target for x in srv.log if x.conn == e.conn] ==
              ["/raw?name=lf-pipelined", "/raw?name=cl-te"], e)
        s = connect()
        st, f, body, _, _ = get(Reader(s), "/raw?name=nope")
        check(L + "raw unknown name", st == 400, st)
        s.close()

        # /close-delimited: the body ends with the connection; over TLS
        # close_notify (notify=1, the default) or a ragged EOF (notify=0)
        for query, size, want_end in (("size=100000", 100000, "eof"),
                                      ("size=100000&notify=1", 100000, "eof"),
                                      ("size=70000&notify=0", 70000,
                                       "ragged" if ctx else "eof"),
                                      ("", DEFAULT_ENCODED_SIZE, "eof"),
                                      ("size=0&notify=0", 0, "ragged" if ctx else "eof")):
            s = connect(**({"suppress_ragged_eofs": False} if ctx else {}))
            rd = Reader(s)
            st, f, body, _, _ = get(rd, "/close-delimited?" + query)
            check("%sclose-delimited %s" % (L, query), st == 200 and body == ok_body(size) and
                  field(f, b"connection") == b"close" and field(f, b"content-length") is None
                  and field(f, b"transfer-encoding") is None and rd.end == want_end,
                  (st, f, len(body), rd.end))
            s.close()
        s = connect()
        rd = Reader(s)
        st, f, body, _, _ = get(rd, "/close-delimited?size=500", method="HEAD")
        check(L + "close-delimited HEAD", st == 200 and rd.rest() == b"", f)
        s.close()

    tmp = tempfile.mkdtemp(prefix="fault-server-")
    servers = []
    try:
        cert, key = os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=60)
        plain = FaultServer().start()
        servers.append(plain)
        tls = FaultServer(tls=(cert, key)).start()
        servers.append(tls)
        cctx = ssl.create_default_context(cafile=cert)
        cctx.minimum_version = ssl.TLSVersion.TLSv1_2
        cctx.verify_flags &= ~getattr(ssl, "VERIFY_X509_STRICT", 0)   # a throwaway cert

        check("url plain", plain.url("/x?y") == "http://127.0.0.1:%d/x?y" % plain.port)
        check("url host", tls.url("/h", host="a.crawl.test") ==
              "https://a.crawl.test:%d/h" % tls.port)
        exercise(plain, None, "plain")
        exercise(tls, cctx, "tls")

        # TLS specifics: version, SNI name, and the Host header of a named URL
        s = cctx.wrap_socket(socket.create_connection(("127.0.0.1", tls.port), timeout=5),
                             server_hostname="localhost")
        check("tls version", s.version() in ("TLSv1.2", "TLSv1.3"), s.version())
        s.close()
        c = http.client.HTTPSConnection("localhost", tls.port, timeout=5, context=cctx)
        c.request("GET", "/host")
        b = c.getresponse().read()
        check("tls host header", b == ("localhost:%d" % tls.port).encode(), b)
        c.close()
        # a client that refuses the certificate: counted, no handler error
        bad = ssl.create_default_context()      # system CAs: not our self-signed cert
        try:
            bad.wrap_socket(socket.create_connection(("127.0.0.1", tls.port), timeout=5),
                            server_hostname="localhost").close()
            check("tls untrusted refused", False, "handshake succeeded")
        except ssl.SSLError:
            pass
        deadline = time.monotonic() + 2
        while tls.tls_failures == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        check("tls failure counted", tls.tls_failures >= 1, tls.tls_failures)

        # the log
        for srv, name in ((plain, "plain"), (tls, "tls")):
            conns, log = srv.snapshot()
            times = [e.time for e in log]
            check(name + " log timestamps increase", all(a <= b for a, b in zip(times, times[1:])),
                  times)
            check(name + " log size", len(log) >= 36, len(log))
            posts = [e for e in log if e.method == "POST" and e.path == "/method"]
            check(name + " log entry", posts and posts[0].body == b"a=1&b=\xff\x00" and
                  posts[0].host == "127.0.0.1:%d" % srv.port and posts[0].query == "x=1" and
                  posts[0].headers["x-mixed-case"] == "Val" and posts[0].version == "HTTP/1.1"
                  and ("x-mixed-case", "Val") in posts[0].header_list and posts[0].conn == 1,
                  posts[:1])
            mixed = [e for e in log if e.host == "Mixed.Example"]
            check(name + " log host any case", len(mixed) == 1, mixed)
            check(name + " requests_for", len(srv.requests_for("/flaky?key=a")) == 4,
                  srv.requests_for("/flaky?key=a"))
            check(name + " connections", conns >= 8 and max(e.conn for e in log) <= conns,
                  conns)
            check(name + " no refused other than the big head", srv.refused == 1, srv.refused)
        plain.reset()
        check("reset", plain.log == [] and plain.hits("flaky", "aplain") == 0)

        # content codings, bombs, corruption, raw scripts, close-delimited bodies
        check_helpers()
        cplain = FaultServer().start()
        servers.append(cplain)
        ctls = FaultServer(tls=(cert, key)).start()
        servers.append(ctls)
        exercise_codings(cplain, None, "plain")
        exercise_codings(ctls, cctx, "tls")

        # a silent peer is dropped after io_timeout (lowered here: 10 s by default)
        quick = FaultServer()
        quick.io_timeout = 0.3
        servers.append(quick.start())
        s = socket.create_connection(("127.0.0.1", quick.port), timeout=5)
        s.sendall(b"GET /ok HTTP/1.1\r\nHo")          # a head that never ends
        t0 = time.monotonic()
        d = s.recv(10)
        waited = time.monotonic() - t0
        check("silent peer dropped", d == b"" and 0.2 < waited < 2.0, (d, waited))
        s.close()
        check("default io timeout", FaultServer.io_timeout == 10.0)

        # stop(): a connection idle in keep-alive and a /slow in progress end at once
        idle = socket.create_connection(("127.0.0.1", plain.port), timeout=5)
        slow = socket.create_connection(("127.0.0.1", plain.port), timeout=5)
        slow.sendall(b"GET /slow?ms=30000 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)
        t0 = time.monotonic()
        for srv in servers:
            srv.stop()
        stop_time = time.monotonic() - t0
        check("stop is quick", stop_time < 2.0, stop_time)
        alive = [t for srv in servers for t in srv._threads if t.is_alive()]
        check("threads joined", not alive, alive)
        check("idle peer closed", idle.recv(10) == b"")
        idle.close()
        slow.close()
        try:
            socket.create_connection(("127.0.0.1", plain.port), timeout=2).close()
            check("listener closed", False, "connect succeeded")
        except OSError:
            pass
        for srv, name in ((plain, "plain"), (tls, "tls"), (cplain, "codings plain"),
                          (ctls, "codings tls")):
            check(name + " no handler errors", srv.errors == [], srv.errors)
    finally:
        for srv in servers:
            srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    if failures:
        print("fault_server self-test: %d FAILED, %d passed" % (len(failures), passed[0]))
        for f in failures:
            print("  " + f)
        return 1
    print("fault_server self-test: all %d checks passed" % passed[0])
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(_selftest())
