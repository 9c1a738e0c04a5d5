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
    anything else           404 b"not found\\n"
Status codes C must be 200..999 (anything else: 400). Reason phrases come
from http.HTTPStatus ("Unknown" for codes it does not know).

Run this file to self-test it: python3 tests/integration/fault_server.py
"""

import collections
import http
import json
import socket
import ssl
import struct
import threading
import time
import urllib.parse

IO_TIMEOUT = 10.0                 # a silent peer (or idle keep-alive) is dropped
MAX_REQUEST_HEAD = 64 * 1024      # larger request heads are refused (431)
MAX_REQUEST_BODY = 16 * 1024 * 1024
MAX_OK_SIZE = 1 << 30             # /ok?size=N
MAX_PAD = 1024 * 1024             # /redirect?pad=N
MAX_SLOW_MS = 30000               # /slow?ms=N
SEND_CHUNK = 64 * 1024
LINGER_SECONDS = 1.0              # a closing connection drains input this long
LINGER_MAX_BYTES = 1024 * 1024

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
                with self._lock:
                    self.log.append(LogEntry(req.time, conn.number, req.method, req.target,
                                             req.headers.get("host"), req.headers, req.body,
                                             req.version, req.header_list))
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
        block = ok_body(SEND_CHUNK + len(_OK_PATTERN))
        period = len(_OK_PATTERN)

        def pieces():
            off = 0
            while off < size:
                n = min(SEND_CHUNK, size - off)
                start = off % period
                yield block[start:start + n]
                off += n
        _respond(conn, req, 200, hdrs, body_len=size, body_iter=pieces())
    return True


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


def _not_found(srv, conn, req):
    _respond(conn, req, 404, [(b"Content-Type", b"text/plain")], NOT_FOUND_BODY)
    return True


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
        for srv, name in ((plain, "plain"), (tls, "tls")):
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
