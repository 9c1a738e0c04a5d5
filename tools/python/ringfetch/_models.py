"""Response, Headers and the exceptions (pure Python; the C side hands over
plain tuples, see _engine.c result_tuple)."""

import json as _json
from collections.abc import Mapping

from . import _engine


class RingfetchError(Exception):
    """Base class of the exceptions ringfetch raises."""


class FetchError(RingfetchError):
    """A request that got no usable response: ``kind`` is the stable error
    kind (``"connect_refused"``, ``"tls_verify"``, ``"read_timeout"``... see
    ``ringfetch.ERROR_KINDS``), as ``Response.error``."""

    def __init__(self, response):
        self.response = response
        self.kind = response.error
        self.url = response.url
        super().__init__("%s: %s (%s)" % (response.url, response.error_message, response.error))


class HTTPStatusError(RingfetchError):
    """raise_for_status() on a 4xx or 5xx response."""

    def __init__(self, response):
        self.response = response
        self.status = response.status
        super().__init__("%d %s for %s" % (response.status, response.reason, response.url))


class Headers(Mapping):
    """Response headers: a case-insensitive, read-only mapping. A name that
    came several times maps to its values joined with ", " (``get_list``
    keeps them apart); ``raw`` is the list of (name, value) as received."""

    __slots__ = ("raw", "_d")

    def __init__(self, raw=()):
        self.raw = list(raw)
        self._d = None

    def _map(self):
        d = self._d
        if d is None:
            d = {}
            for k, v in self.raw:
                lk = k.lower()
                old = d.get(lk)
                d[lk] = (k, v) if old is None else (old[0], old[1] + ", " + v)
            self._d = d
        return d

    def __getitem__(self, name):
        return self._map()[name.lower()][1]

    def __contains__(self, name):
        return isinstance(name, str) and name.lower() in self._map()

    def __iter__(self):
        return (k for k, _ in self._map().values())

    def __len__(self):
        return len(self._map())

    def get_list(self, name):
        """Every value of the header name, in arrival order."""
        n = name.lower()
        return [v for k, v in self.raw if k.lower() == n]

    def __repr__(self):
        return "Headers(%r)" % (dict(self.items()),)


_TIMING_NAMES = ("dns", "connect", "tls", "ttfb", "total")


class Response:
    """One finished request. ``error`` is None, or the stable error kind
    (then ``status`` is 0 unless the failure came after the head)."""

    __slots__ = ("url", "final_url", "status", "reason", "_raw_headers", "_headers", "content",
                 "error", "error_message", "_timings", "reused", "tls_resumed", "attempts",
                 "redirects", "http_version", "remote_addr", "sha256", "__weakref__")

    @classmethod
    def _from_tuple(cls, t):
        r = object.__new__(cls)
        (_, r.url, r.final_url, r.status, r.reason, r._raw_headers, r.content, r.error,
         r.error_message, r._timings, r.reused, r.tls_resumed, r.attempts, r.redirects,
         ver, r.remote_addr, r.sha256) = t
        r.http_version = None
        if r.status and ver:
            r.http_version = "HTTP/2" if ver == 20 else "HTTP/%d.%d" % (ver // 10, ver % 10)
        r._headers = None
        return r

    @property
    def status_code(self):
        return self.status

    @property
    def ok(self):
        """True for a response with a status below 400 (as requests)."""
        return self.error is None and 0 < self.status < 400

    @property
    def headers(self):
        h = self._headers
        if h is None:
            h = self._headers = Headers(self._raw_headers)
        return h

    @property
    def elapsed(self):
        """Seconds from submission to the result."""
        return self._timings[4]

    @property
    def timings(self):
        """Seconds per phase: dns, connect, tls (0 when the phase did not
        happen, e.g. on a reused connection), ttfb (request sent to first
        response byte), total."""
        return dict(zip(_TIMING_NAMES, self._timings))

    @property
    def encoding(self):
        """The charset named by Content-Type, or None."""
        ct = self.headers.get("content-type", "")
        for part in ct.split(";")[1:]:
            k, _, v = part.strip().partition("=")
            if k.strip().lower() == "charset" and v:
                return v.strip().strip('"\'') or None
        return None

    @property
    def text(self):
        """The body decoded with the Content-Type's charset, else UTF-8;
        undecodable bytes become U+FFFD."""
        enc = self.encoding or "utf-8"
        try:
            return self.content.decode(enc, errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")

    def json(self, **kwargs):
        return _json.loads(self.content, **kwargs)

    def raise_for_status(self):
        """Raises FetchError when the request failed, HTTPStatusError on a
        4xx or 5xx status; returns the response otherwise."""
        if self.error is not None:
            raise FetchError(self)
        if self.status >= 400:
            raise HTTPStatusError(self)
        return self

    def __bool__(self):
        return self.ok

    def __repr__(self):
        if self.error is not None:
            return "<Response [%s] %s>" % (self.error, self.url)
        return "<Response [%d] %s>" % (self.status, self.url)


ERROR_KINDS = tuple(k for k in _engine.ERROR_KINDS if k != "ok")
