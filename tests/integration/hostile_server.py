"""A misbehaving HTTP/1.1 server for ringfetch's hostile-input tests.

Python 3 standard library only. It listens on 127.0.0.1 on an ephemeral port,
accepts in a background thread and serves every connection in its own thread.
The request path (query string ignored) chooses a scripted behaviour; see
BEHAVIOURS at the bottom. It counts what it saw so tests can assert on it:

    srv = HostileServer().start()
    url = srv.url("/ok")
    ... run ringfetch ...
    srv.connections          # connections accepted
    srv.requests["/ok"]      # complete request heads read, per path
    srv.log                  # [(connection number, method, target), ...] in order
    srv.stop()

Behaviours (path -> what the server does; ?v=N picks a variant where noted):
    /ok                 correct 200, Content-Length, keep-alive
    /garbage            bytes that are not HTTP, then close
    /bad-status?v=N     invalid status lines (BAD_STATUS_LINES)
    /bad-framing?v=N    invalid Content-Length / chunk size (BAD_FRAMINGS)
    /truncated-cl       Content-Length: 1000, 10 body bytes, close
    /truncated-chunked  chunked body that stops mid-chunk, close
    /bad-chunk          a valid chunk, then an invalid chunk-size line
    /close-delimited    HTTP/1.0 body ended by close (?v=11: HTTP/1.1 + Connection: close)
    /early-close        read the request, close without a byte
    /reset              read the request, RST (SO_LINGER 0)
    /huge-headers       200 KiB header block (50 headers of 4 KiB)
    /many-headers       1000 small headers
    /big-header-value   one 70 KiB header line
    /304-with-cl        304 with Content-Length: 20 and no body, keep-alive
    /204-with-cl        the same for 204
    /100-continue       100 Continue, then 200 (?v=103: also a 103 Early Hints)
    /101                unrequested 101 Switching Protocols
    /slowloris          the response, one byte every 0.5 s (bounded)
    /stale-keepalive    answered with keep-alive; the NEXT request on that
                        connection is dropped unanswered (?drop=reset: with an
                        RST instead of a FIN; ?dropdelay=S: after S seconds)
    /extra-bytes        a correct response + junk in one send, keep-alive
    /nul-in-header      a header value containing NUL
    /lf-only            bare LF line endings
    /split              a correct chunked response, one byte per send()
    anything else       404

Expected bodies are module constants (OK_BODY, CLOSE_BODY, SPLIT_BODY, ...)
so a test can compute the sizes and SHA-256 values it expects.

Everything is bounded: connection sockets time out after IO_TIMEOUT seconds
of silence, the slowloris sends at most SLOWLORIS_MAX_BYTES bytes, and stop()
closes every socket and joins every thread with a deadline.
"""

import hashlib
import socket
import struct
import threading
import time

IO_TIMEOUT = 10.0            # a silent peer is dropped after this long
MAX_REQUEST_HEAD = 256 * 1024
SLOWLORIS_INTERVAL = 0.5     # seconds between bytes
SLOWLORIS_MAX_BYTES = 60     # 30 s at most, whatever the client does


def _pseudo_random(n, seed):
    """n deterministic bytes (SHA-256 in counter mode)."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(b"%s-%d" % (seed, i)).digest()
        i += 1
    return bytes(out[:n])


OK_BODY = b"hello from the hostile server\n" + _pseudo_random(1000, b"ok")
CLOSE_BODY = _pseudo_random(100 * 1024, b"close")          # close-delimited
CONTINUE_BODY = b"final response after an interim one\n"
EXTRA_BODY = b"a correct body, then junk follows on the wire\n"
LF_BODY = b"bare LF line endings\n"
SPLIT_CHUNKS = (b"split ", _pseudo_random(97, b"split1"), b"x" * 16, _pseudo_random(40, b"split2"))
SPLIT_BODY = b"".join(SPLIT_CHUNKS)
GARBAGE = b"\x00\x01\x02SSH-2.0-OpenSSH\r\n\xff\xfe\xfd not http at all \x80\x81" + _pseudo_random(4000, b"g")
TRAILING_JUNK = b"JUNK AFTER THE RESPONSE\r\n\r\n"

# Status lines that are not valid HTTP/1.1 (selected by ?v=N, default 0).
BAD_STATUS_LINES = (
    b"HTTP/1.1 2x0 OK",
    b"HTTP/1.1 20 OK",
    b"HTTP/1.1 2000 OK",
    b"HTTP/1.1 OK",
    b"HTTPX/1.1 200 OK",
    b"HTTP/1.1 099 Too Low",
)

# Invalid message framing (selected by /bad-framing?v=N): RFC 9112 6.3 makes
# each an unrecoverable error for a client.
BAD_FRAMINGS = (
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\nhello\r\n",
)


def stale_body(target):
    """Body of the answer to a /stale-keepalive request (names the target)."""
    return b"stale-keepalive answered " + target.encode() + b"\n"


def split_wire():
    """The exact bytes /split sends, one per send()."""
    parts = [b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
             b"Transfer-Encoding: chunked\r\nTrailer: X-Trailer\r\n\r\n"]
    for i, c in enumerate(SPLIT_CHUNKS):
        ext = b";ext=%d" % i if i % 2 else b""
        parts.append(b"%x%s\r\n%s\r\n" % (len(c), ext, c))
    parts.append(b"0\r\nX-Trailer: done\r\n\r\n")
    return b"".join(parts)


class Request:
    def __init__(self, method, target, version, headers, body):
        self.method = method
        self.target = target
        self.path = target.split("?", 1)[0]
        self.query = target.split("?", 1)[1] if "?" in target else ""
        self.version = version
        self.headers = headers      # {lower-case name: value}
        self.body = body

    def arg(self, name, default=None):
        for part in self.query.split("&"):
            k, _, v = part.partition("=")
            if k == name:
                return v
        return default


class _Conn:
    """One accepted connection, as the behaviours see it."""

    def __init__(self, server, sock, number):
        self.server = server
        self.sock = sock
        self.number = number
        self.buf = b""
        self.nreq = 0
        self.stale = None           # /stale-keepalive answered here: "close" or "reset"
        self.drop_delay = 0.0       # seconds to wait before that drop
        self.closed = False

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass

    def reset(self):
        """Closes with an RST: SO_LINGER on, timeout 0."""
        if not self.closed:
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            self.close()

    def sleep(self, seconds):
        """Sleeps; True when the server is stopping."""
        return self.server._stop.wait(seconds)

    def read_request(self):
        """Reads one request head (and a Content-Length body). None on EOF,
        timeout, error or an unparsable request."""
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > MAX_REQUEST_HEAD:
                return None
            try:
                data = self.sock.recv(65536)
            except OSError:
                return None
            if not data:
                return None
            self.buf += data
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            return None
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        n = int(headers.get("content-length", "0") or 0)
        while len(self.buf) < n:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return None
            if not data:
                return None
            self.buf += data
        body, self.buf = self.buf[:n], self.buf[n:]
        return Request(parts[0], parts[1], parts[2], headers, body)


class HostileServer:
    def __init__(self):
        self._lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._lsock.bind(("127.0.0.1", 0))
        self._lsock.listen(256)
        self._lsock.settimeout(0.1)
        self.port = self._lsock.getsockname()[1]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = []
        self._conns = []
        self.connections = 0
        self.requests = {}
        self.log = []
        self.errors = []            # exceptions in handlers (a server bug, not a client one)
        self.slowloris_bytes = 0    # bytes /slowloris managed to send
        self._accept_thread = None

    # ---- public --------------------------------------------------------------
    def start(self):
        self._accept_thread = threading.Thread(target=self._accept_loop, name="hostile-accept",
                                               daemon=True)
        self._accept_thread.start()
        return self

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def requests_for(self, path):
        with self._lock:
            return self.requests.get(path, 0)

    def snapshot(self):
        with self._lock:
            return self.connections, dict(self.requests), list(self.log)

    def stop(self, timeout=5.0):
        self._stop.set()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout)
        try:
            self._lsock.close()
        except OSError:
            pass
        with self._lock:
            conns = list(self._conns)
            threads = list(self._threads)
        for c in conns:
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
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
            sock.settimeout(IO_TIMEOUT)
            with self._lock:
                self.connections += 1
                conn = _Conn(self, sock, self.connections)
                self._conns.append(conn)
                t = threading.Thread(target=self._serve, args=(conn,),
                                     name="hostile-conn-%d" % conn.number, daemon=True)
                self._threads.append(t)
            t.start()

    def _serve(self, conn):
        try:
            while not self._stop.is_set() and not conn.closed:
                req = conn.read_request()
                if req is None:
                    return
                conn.nreq += 1
                with self._lock:
                    self.requests[req.path] = self.requests.get(req.path, 0) + 1
                    self.log.append((conn.number, req.method, req.target))
                if conn.stale:
                    # a later request on a /stale-keepalive connection: drop it
                    # unanswered (after ?dropdelay=SECONDS, at most 2)
                    if conn.drop_delay and conn.sleep(min(conn.drop_delay, 2.0)):
                        return
                    if conn.stale == "reset":
                        conn.reset()
                    return
                fn = BEHAVIOURS.get(req.path, _not_found)
                if not fn(conn, req):
                    return
        except OSError:
            pass  # the client went away: that is what hostile tests do
        except Exception as e:  # pragma: no cover - a bug in this file
            with self._lock:
                self.errors.append(repr(e))
        finally:
            conn.close()


# ---------------------------------------------------------------------------
# Behaviours: fn(conn, req) -> True to keep the connection for another request.
# ---------------------------------------------------------------------------
def _response(status_line, headers, body=b""):
    head = status_line + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n"
    return head + body


def _ok(conn, req):
    conn.send(_response(b"HTTP/1.1 200 OK",
                        [b"Content-Type: application/octet-stream",
                         b"Content-Length: %d" % len(OK_BODY), b"Connection: keep-alive"], OK_BODY))
    return True


def _not_found(conn, req):
    body = b"no such behaviour\n"
    conn.send(_response(b"HTTP/1.1 404 Not Found",
                        [b"Content-Length: %d" % len(body), b"Content-Type: text/plain"], body))
    return True


def _garbage(conn, req):
    conn.send(GARBAGE)
    return False


def _bad_status(conn, req):
    v = int(req.arg("v", "0"))
    conn.send(_response(BAD_STATUS_LINES[v], [b"Content-Length: 2", b"Connection: close"], b"ok"))
    return False


def _bad_framing(conn, req):
    conn.send(BAD_FRAMINGS[int(req.arg("v", "0"))])
    return False


def _truncated_cl(conn, req):
    conn.send(_response(b"HTTP/1.1 200 OK", [b"Content-Length: 1000"], b"0123456789"))
    return False


def _truncated_chunked(conn, req):
    conn.send(_response(b"HTTP/1.1 200 OK", [b"Transfer-Encoding: chunked"],
                        b"5\r\nhello\r\n10\r\nonly-8by"))
    return False


def _bad_chunk(conn, req):
    conn.send(_response(b"HTTP/1.1 200 OK", [b"Transfer-Encoding: chunked"],
                        b"5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n"))
    return False


def _close_delimited(conn, req):
    if req.arg("v") == "11":
        status, hdrs = b"HTTP/1.1 200 OK", [b"Content-Type: application/octet-stream",
                                            b"Connection: close"]
    else:
        status, hdrs = b"HTTP/1.0 200 OK", [b"Content-Type: application/octet-stream"]
    conn.send(_response(status, hdrs))
    for i in range(0, len(CLOSE_BODY), 16384):   # several segments
        conn.send(CLOSE_BODY[i:i + 16384])
    try:
        conn.sock.shutdown(socket.SHUT_WR)        # FIN ends the body
    except OSError:
        pass
    return False


def _early_close(conn, req):
    return False


def _reset(conn, req):
    conn.reset()
    return False


def _huge_headers(conn, req):
    # 50 headers of 4 KiB each: 200 KiB, under any header-count limit
    hdrs = [b"X-Pad-%02d: %s" % (i, b"h" * 4086) for i in range(50)]
    conn.send(_response(b"HTTP/1.1 200 OK", hdrs + [b"Content-Length: 2"], b"ok"))
    return False


def _many_headers(conn, req):
    hdrs = [b"X-H%d: v" % i for i in range(1000)]
    conn.send(_response(b"HTTP/1.1 200 OK", hdrs + [b"Content-Length: 2"], b"ok"))
    return False


def _big_header_value(conn, req):
    conn.send(_response(b"HTTP/1.1 200 OK", [b"X-Big: " + b"v" * (70 * 1024), b"Content-Length: 2"],
                        b"ok"))
    return False


def _no_body_status(status_line):
    def fn(conn, req):
        # a body-less status with a Content-Length that announces 20 bytes
        # which never come; keep-alive: the next response follows at once
        conn.send(_response(status_line, [b"Content-Length: 20", b'ETag: "hostile"',
                                          b"Connection: keep-alive"]))
        return True
    return fn


def _continue(conn, req):
    conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")
    if req.arg("v") == "103":
        conn.sleep(0.02)
        conn.send(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n"
                  b"X-Interim: yes\r\n\r\n")
    conn.sleep(0.02)
    conn.send(_response(b"HTTP/1.1 200 OK",
                        [b"Content-Length: %d" % len(CONTINUE_BODY), b"X-Final: yes",
                         b"Connection: keep-alive"], CONTINUE_BODY))
    return True


def _switching(conn, req):
    conn.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
              b"\x81\x05hello")
    conn.sleep(0.2)
    return False


def _slowloris(conn, req):
    wire = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"s" * 1000
    for i in range(min(SLOWLORIS_MAX_BYTES, len(wire))):
        conn.send(wire[i:i + 1])
        with conn.server._lock:
            conn.server.slowloris_bytes += 1
        if conn.sleep(SLOWLORIS_INTERVAL):
            break
    return False


def _stale_keepalive(conn, req):
    body = stale_body(req.target)
    conn.send(_response(b"HTTP/1.1 200 OK",
                        [b"Content-Length: %d" % len(body), b"Connection: keep-alive"], body))
    # the next request on this connection is dropped unanswered: closed (FIN),
    # or with ?drop=reset reset (RST)
    conn.stale = "reset" if req.arg("drop") == "reset" else "close"
    conn.drop_delay = float(req.arg("dropdelay", "0"))
    return True


def _extra_bytes(conn, req):
    # one send: the response and the junk arrive together
    conn.send(_response(b"HTTP/1.1 200 OK",
                        [b"Content-Length: %d" % len(EXTRA_BODY), b"Connection: keep-alive"],
                        EXTRA_BODY) + TRAILING_JUNK)
    return True   # keep serving: a (wrong) reuse would show as a request here


def _nul_in_header(conn, req):
    conn.send(_response(b"HTTP/1.1 200 OK",
                        [b"X-Nul: ab\x00cd", b"Content-Length: 2", b"Connection: close"], b"ok"))
    return False


def _lf_only(conn, req):
    conn.send(b"HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: %d\n"
              b"Connection: close\n\n" % len(LF_BODY) + LF_BODY)
    return False


def _split(conn, req):
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    wire = split_wire()
    for i in range(len(wire)):
        conn.send(wire[i:i + 1])
        if conn.sleep(0.001):
            return False
    return True


BEHAVIOURS = {
    "/ok": _ok,
    "/garbage": _garbage,
    "/bad-status": _bad_status,
    "/bad-framing": _bad_framing,
    "/truncated-cl": _truncated_cl,
    "/truncated-chunked": _truncated_chunked,
    "/bad-chunk": _bad_chunk,
    "/close-delimited": _close_delimited,
    "/early-close": _early_close,
    "/reset": _reset,
    "/huge-headers": _huge_headers,
    "/many-headers": _many_headers,
    "/304-with-cl": _no_body_status(b"HTTP/1.1 304 Not Modified"),
    "/204-with-cl": _no_body_status(b"HTTP/1.1 204 No Content"),
    "/100-continue": _continue,
    "/101": _switching,
    "/slowloris": _slowloris,
    "/stale-keepalive": _stale_keepalive,
    "/extra-bytes": _extra_bytes,
    "/big-header-value": _big_header_value,
    "/nul-in-header": _nul_in_header,
    "/lf-only": _lf_only,
    "/split": _split,
}
