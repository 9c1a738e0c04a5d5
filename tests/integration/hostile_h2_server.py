"""A misbehaving HTTP/2 server (h2c, prior knowledge) for what nginx does not
do on purpose: reset chosen streams, break the protocol. test_h2.py and the
fault soak (test_soak.py) use it.

Python 3 standard library only, but for the request heads: HPACK is decoded
by libnghttp2's own inflater (through ctypes; the engine links the same
library), so the server can route by :path on a connection that carries many
streams. Frames it writes are built by hand (frame()), so they can be wrong
on purpose. It reuses HostileServer's listener, threads and stop(); each
connection is served in its own thread:

    srv = HostileH2Server().start()
    url = srv.url("/ok")          # fetch with --http2-prior-knowledge
    srv.streams["/rst"]          # request heads read, per path
    srv.stop()

Paths (query ignored):
    /ok          200 with OK_BODY; the connection goes on
    /rst         RST_STREAM INTERNAL_ERROR for this stream; the connection
                 and the streams beside it go on
    /no-status   a HEADERS block with END_STREAM and no :status (a response
                 the client must reject)
    /bad-frame   DATA on stream 0: a connection error (RFC 9113 section 6.1);
                 every stream on the connection fails
    anything else  404, no body
Responses are not bounded by flow control: the bodies are far below the
initial 64 KiB windows a client grants and keeps topping up.
"""

import ctypes
import ctypes.util
import struct

from hostile_server import HostileServer, OK_BODY

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, CONTINUATION = 0, 1, 3, 4, 6, 7, 9
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY = 0x1, 0x1, 0x4, 0x8, 0x20
INTERNAL_ERROR = 2


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


class _NV(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("value", ctypes.c_void_p), ("namelen", ctypes.c_size_t),
                ("valuelen", ctypes.c_size_t), ("flags", ctypes.c_uint8)]


def _nghttp2():
    lib = ctypes.CDLL(ctypes.util.find_library("nghttp2") or "libnghttp2.so.14")
    lib.nghttp2_hd_inflate_new.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
    lib.nghttp2_hd_inflate_hd2.argtypes = [ctypes.c_void_p, ctypes.POINTER(_NV), ctypes.POINTER(ctypes.c_int),
                                           ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    lib.nghttp2_hd_inflate_hd2.restype = ctypes.c_ssize_t
    lib.nghttp2_hd_inflate_end_headers.argtypes = [ctypes.c_void_p]
    lib.nghttp2_hd_inflate_del.argtypes = [ctypes.c_void_p]
    return lib


_LIB = _nghttp2()
_INFLATE_FINAL, _INFLATE_EMIT = 0x01, 0x02


class _Inflater:
    """One connection's HPACK decoder (its dynamic table lives as long)."""

    def __init__(self):
        self._h = ctypes.c_void_p()
        if _LIB.nghttp2_hd_inflate_new(ctypes.byref(self._h)) != 0:
            raise MemoryError("nghttp2_hd_inflate_new")

    def decode(self, block):
        buf = ctypes.create_string_buffer(block, len(block))
        base, off, fields = ctypes.addressof(buf), 0, {}
        while True:
            nv, fl = _NV(), ctypes.c_int(0)
            n = _LIB.nghttp2_hd_inflate_hd2(self._h, ctypes.byref(nv), ctypes.byref(fl), base + off,
                                            len(block) - off, 1)
            if n < 0:
                raise ValueError("HPACK error %d" % n)
            off += n
            if fl.value & _INFLATE_EMIT:
                fields[ctypes.string_at(nv.name, nv.namelen)] = ctypes.string_at(nv.value, nv.valuelen)
            if fl.value & _INFLATE_FINAL:
                _LIB.nghttp2_hd_inflate_end_headers(self._h)
                return fields

    def close(self):
        _LIB.nghttp2_hd_inflate_del(self._h)


def _read_exact(conn, n):
    while len(conn.buf) < n:
        d = conn.sock.recv(65536)
        if not d:
            return None
        conn.buf += d
    out, conn.buf = conn.buf[:n], conn.buf[n:]
    return out


def _read_frame(conn):
    """(type, flags, stream, payload), or None when the client is gone."""
    head = _read_exact(conn, 9)
    if head is None:
        return None
    n = int.from_bytes(head[:3], "big")
    payload = _read_exact(conn, n)
    if payload is None:
        return None
    return head[3], head[4], int.from_bytes(head[5:9], "big") & 0x7fffffff, payload


def _header_fragment(flags, payload):
    """A HEADERS frame's block fragment, without its padding and priority."""
    pad = 0
    if flags & PADDED:
        pad, payload = payload[0], payload[1:]
    if flags & PRIORITY:
        payload = payload[5:]
    return payload[:len(payload) - pad]


def _answer(conn, sid, path):
    """Writes the scripted answer to one stream."""
    if path == "/ok":
        conn.send(frame(HEADERS, END_HEADERS, sid, b"\x88") + frame(DATA, END_STREAM, sid, OK_BODY))
    elif path == "/rst":
        conn.send(frame(RST_STREAM, 0, sid, struct.pack(">I", INTERNAL_ERROR)))
    elif path == "/no-status":
        conn.send(frame(HEADERS, END_HEADERS | END_STREAM, sid, b"\x00\x01x\x01y"))  # literal "x: y"
    elif path == "/bad-frame":
        conn.send(frame(DATA, 0, 0, b"junk"))
    else:
        conn.send(frame(HEADERS, END_HEADERS | END_STREAM, sid, b"\x08\x03404"))  # literal :status 404


class HostileH2Server(HostileServer):
    def __init__(self):
        super().__init__()
        self.streams = {}  # request heads read, per path

    def _serve(self, conn):
        hpack = _Inflater()
        try:
            if _read_exact(conn, len(PREFACE)) != PREFACE:
                return
            conn.send(frame(SETTINGS, 0, 0))
            self._frames(conn, hpack)
        except OSError:
            pass  # the client went away, or closed a connection it found broken
        except Exception as e:  # pragma: no cover - a bug in this file
            with self._lock:
                self.errors.append(repr(e))
        finally:
            hpack.close()
            conn.close()

    def _frames(self, conn, hpack):
        block, sid = b"", 0
        while not self._stop.is_set():
            f = _read_frame(conn)
            if f is None or f[0] == GOAWAY:
                return
            ftype, flags, stream, payload = f
            if ftype == SETTINGS and not flags & ACK:
                conn.send(frame(SETTINGS, ACK, 0))
            elif ftype == PING and not flags & ACK:
                conn.send(frame(PING, ACK, 0, payload))
            elif ftype in (HEADERS, CONTINUATION):
                block += _header_fragment(flags, payload) if ftype == HEADERS else payload
                sid = stream
                if flags & END_HEADERS:
                    path = hpack.decode(block).get(b":path", b"").decode().split("?")[0]
                    block = b""
                    with self._lock:
                        self.streams[path] = self.streams.get(path, 0) + 1
                    _answer(conn, sid, path)
