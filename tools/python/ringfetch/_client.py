"""map, imap and Client: the engine driven by the calling thread."""

import collections
import json as _json
import math
import numbers
import os
import urllib.parse
import warnings

from . import _engine
from ._models import FetchError, Response

_NO_LIMIT_MS = 0x7FFFFFFF  # timeout=None: wait as long as it takes (about 24 days)


_UINT_MAX = 0xFFFFFFFF  # the engine's unsigned fields
_BATCH_MAX = 0.01  # the CLI's bound for --batch (10 ms): a larger window is a unit mistake


def _whole(name, value, least=0):
    """An int option (not a bool, not a float) in [least, _UINT_MAX]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError("%s must be an int, not %s" % (name, type(value).__name__))
    value = int(value)
    if not least <= value <= _UINT_MAX:
        raise ValueError("%s must be an int from %d to %d, not %d" % (name, least, _UINT_MAX, value))
    return value


def _span(name, seconds, unit=1000):
    """Seconds (an int or a float >= 0) as a whole count of 1/unit seconds
    (ms by default, us with unit=10**6); a positive time never rounds to 0."""
    if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real):
        raise TypeError("%s is seconds (a number), not %s" % (name, type(seconds).__name__))
    try:
        s = float(seconds)
    except OverflowError:  # an int too large for a float
        raise ValueError("%s=%r is too long" % (name, seconds)) from None
    if not math.isfinite(s) or s < 0:
        raise ValueError("%s is seconds >= 0, not %r" % (name, seconds))
    n = int(round(s * unit))
    if n == 0 and s > 0:
        n = 1
    if n > _UINT_MAX:
        raise ValueError("%s=%r is too long" % (name, seconds))
    return n


def _ms(name, seconds):
    """A timeout: None = no limit; 0 = the shortest there is (1 ms)."""
    return _NO_LIMIT_MS if seconds is None else max(1, _span(name, seconds))


def _flag(name, value):
    """True or False (1 and 0 too; nothing else: strict_http=2 is a mistake)."""
    if not isinstance(value, (bool, numbers.Integral)):
        raise TypeError("%s must be True or False, not %s" % (name, type(value).__name__))
    if value not in (0, 1):
        raise ValueError("%s must be True or False, not %r" % (name, value))
    return bool(value)


def _tuning(pipeline, batch, idle_per_host, idle_timeout, strict_http, http2_prior_knowledge,
            http2_streams, tls_warmup, dns_timeout, ip_version, happy_eyeballs, retry_max_delay,
            retry_max_time, max_ratio, max_idle):
    """The engine's scalar knobs (rf_config in engine/ringfetch.h) under
    their Python names; None leaves the library's default. Times are
    seconds, as everywhere in the package."""
    kw = {"strict_http": _flag("strict_http", strict_http),
          "http2_prior_knowledge": _flag("http2_prior_knowledge", http2_prior_knowledge),
          "no_tls_warmup": not _flag("tls_warmup", tls_warmup)}
    if pipeline is not None:  # requests in flight per connection; 1 = no pipelining
        kw["pipeline"] = _whole("pipeline", pipeline, least=1)
    if batch is not None:  # 0 = off
        us = _span("batch", batch, unit=1000000)
        if us > _BATCH_MAX * 1000000:
            raise ValueError("batch is seconds, at most %g (10 ms), e.g. 50e-6; not %r"
                             % (_BATCH_MAX, batch))
        kw["batch_us"] = us
    if idle_per_host is not None:
        # the library reads 0 as "per_host": idle_timeout=0 is how to keep none
        kw["idle_per_host"] = _whole("idle_per_host", idle_per_host, least=1)
    if idle_timeout is not None:  # 0 = keep no idle connection
        kw["idle_timeout_ms"] = _span("idle_timeout", idle_timeout)
    if http2_streams is not None:  # 0 = as many as the server allows
        kw["http2_streams"] = _whole("http2_streams", http2_streams)
    if dns_timeout is not None:
        ms = _span("dns_timeout", dns_timeout)
        if ms == 0:  # the library would read 0 as its default (2 s)
            raise ValueError("dns_timeout must be more than 0 seconds")
        kw["dns_timeout_ms"] = ms
    if ip_version is not None:
        if isinstance(ip_version, bool) or not isinstance(ip_version, numbers.Integral):
            raise TypeError("ip_version must be 4, 6 or None, not %s" % type(ip_version).__name__)
        if ip_version not in (4, 6):
            raise ValueError("ip_version must be 4, 6 or None (either), not %r" % (ip_version,))
        kw["ip_version"] = int(ip_version)
    if happy_eyeballs is not None:
        ms = _span("happy_eyeballs", happy_eyeballs)
        if ms < 10:  # as the CLI's --happy-eyeballs-timeout-ms (the library's floor)
            raise ValueError("happy_eyeballs must be at least 0.01 seconds, not %r"
                             % (happy_eyeballs,))
        kw["happy_eyeballs_ms"] = ms
    if retry_max_delay is not None:  # 0 = retry at once
        kw["retry_max_delay_ms"] = _span("retry_max_delay", retry_max_delay)
    if retry_max_time is not None:  # 0 = no limit (curl's --retry-max-time 0)
        kw["retry_max_time_ms"] = _span("retry_max_time", retry_max_time)
    if max_ratio is not None:  # 0 = no decompression-bomb check
        kw["max_ratio"] = _whole("max_ratio", max_ratio)
    if max_idle is not None:
        # the library reads 0 as "sized from the open-files limit": None is that
        kw["max_idle"] = _whole("max_idle", max_idle, least=1)
    return kw


def engine_config(concurrency=100, per_host=None, timeout=30, connect_timeout=10, verify=True,
                  retries=0, max_time=None, user_agent=None, resolve=None, dns_servers=None,
                  proxy=None, max_body=None, retry_delay=None, hosts_file=None,
                  retry_all_methods=False, host_rate=None, robots=False, robots_agent=None,
                  no_proxy=None, http2=False, pipeline=None, batch=None, idle_per_host=None,
                  idle_timeout=None, strict_http=False, http2_prior_knowledge=False,
                  http2_streams=None, tls_warmup=True, dns_timeout=None, ip_version=None,
                  happy_eyeballs=None, retry_max_delay=None, retry_max_time=None,
                  max_ratio=None, max_idle=None):
    """Keyword arguments for _engine.Engine from the public options.

    The engine's tuning knobs, each the rf_config field of the same meaning
    (engine/ringfetch.h); None keeps the library's default:
      pipeline=K              requests in flight per connection (HTTP/1.1
                              pipelining, once per_host connections are open;
                              default 1 = none)
      batch=T                 seconds (e.g. 50e-6, at most 0.01): with 16 or
                              more requests in flight, gather completions up to
                              T before handling them (Linux 6.12; 0 = off)
      idle_per_host=N         idle keep-alive connections kept per origin
                              (default per_host)
      idle_timeout=T          seconds an idle connection is kept (default 30;
                              0 = none is kept)
      strict_http=True        reject bare-LF line ends as llhttp does
      http2_prior_knowledge=True  http URLs speak HTTP/2 from the first byte (h2c)
      http2_streams=N         streams per HTTP/2 connection at most (0 = the
                              server's limit, the default)
      tls_warmup=False        open new TLS connections to an origin at once,
                              without waiting for the first one's session ticket
      dns_timeout=T           seconds per DNS attempt (default 2)
      ip_version=4 | 6        IPv4 or IPv6 addresses only (default either)
      happy_eyeballs=T        seconds before the next address is tried beside a
                              silent one (default 0.25, at least 0.01)
      retry_max_delay=T       cap of one retry back-off wait (default 600)
      retry_max_time=T        no retry starts later than T after the first
                              attempt (default and 0: no limit)
      max_ratio=N             with compressed=True, a decoded body past 1 MiB and
                              more than N times its size on the wire fails as
                              too_large (a decompression bomb; default 1000, 0 = no
                              check)
      max_idle=N              idle keep-alive connections kept over all origins,
                              the least recently used closed first (default: sized
                              from the open-files limit)
    """
    if int(concurrency) < 1:
        raise ValueError("concurrency must be at least 1")
    kw = {"concurrency": int(concurrency), "per_host": int(per_host or 0),
          "read_timeout_ms": _ms("timeout", timeout),
          "connect_timeout_ms": _ms("connect_timeout", connect_timeout),
          "retries": int(retries), "user_agent": user_agent, "dns_servers": dns_servers,
          "proxy": proxy, "no_proxy": no_proxy, "max_body_bytes": max_body,
          "hosts_file": hosts_file, "retry_all_methods": bool(retry_all_methods),
          "host_rate": host_rate, "robots": bool(robots), "robots_agent": robots_agent,
          "http2": bool(http2),
          "resolve": list(resolve) if resolve is not None else None}
    if max_time is not None:
        kw["max_time_ms"] = _ms("max_time", max_time)
    if retry_delay is not None:
        kw["retry_delay_ms"] = _ms("retry_delay", retry_delay)
    kw.update(_tuning(pipeline, batch, idle_per_host, idle_timeout, strict_http,
                      http2_prior_knowledge, http2_streams, tls_warmup, dns_timeout, ip_version,
                      happy_eyeballs, retry_max_delay, retry_max_time, max_ratio, max_idle))
    if verify is False:
        kw["insecure"] = True
    elif verify is not True:
        path = os.fspath(verify)
        if not os.path.exists(path):
            raise FileNotFoundError("verify: no CA bundle at %r" % path)
        kw["ca_dir" if os.path.isdir(path) else "ca_file"] = path
    return kw


class RequestSpec:
    """What every request of a call shares: method, headers, body, flags."""

    __slots__ = ("method", "headers", "body", "flags", "max_redirects")

    def __init__(self, method="GET", headers=None, data=None, json=None, follow_redirects=False,
                 compressed=False, max_redirects=20, sha256=False):
        self.method = str(method).upper()
        hdrs = list(headers.items()) if hasattr(headers, "items") else list(headers or ())
        body, ctype = _encode_body(data, json)
        if ctype and not any(k.lower() == "content-type" for k, _ in hdrs):
            hdrs.append(("Content-Type", ctype))
        self.headers = [(str(k), str(v)) for k, v in hdrs]
        self.body = body
        self.flags = ((_engine.REQ_FOLLOW if follow_redirects else 0)
                      | (_engine.REQ_DECODE if compressed else 0)
                      | (_engine.REQ_SHA256 if sha256 else 0))
        self.max_redirects = int(max_redirects)

    def submit(self, eng, tag, url):
        if isinstance(url, str):
            url = url.encode("utf-8", "surrogateescape")
        elif not isinstance(url, (bytes, bytearray)):
            url = str(url).encode("utf-8", "surrogateescape")
        return eng.submit(tag, url, self.method, self.headers, self.body, self.flags,
                          self.max_redirects)


def _encode_body(data, json):
    if json is not None:
        return _json.dumps(json).encode(), "application/json"
    if data is None:
        return None, None
    if isinstance(data, str):
        return data.encode("utf-8"), None
    if isinstance(data, (dict, list, tuple)):
        items = data.items() if isinstance(data, dict) else data
        return urllib.parse.urlencode(list(items)).encode(), "application/x-www-form-urlencoded"
    return bytes(data), None


_REQ_KEYS = ("method", "headers", "data", "json", "follow_redirects", "compressed",
             "max_redirects", "sha256")


def split_options(kw):
    """(engine options, request options) from one keyword dict."""
    req = {k: kw.pop(k) for k in _REQ_KEYS if k in kw}
    return kw, req


class Phases:
    """Sums of the per-request phase times (seconds) for Client.stats()."""

    __slots__ = ("sums", "n")

    def __init__(self):
        self.sums = [0.0] * 5
        self.n = 0

    def add(self, timings):
        s = self.sums
        for i in range(5):
            s[i] += timings[i]
        self.n += 1

    def as_dict(self):
        return dict(zip(("dns", "connect", "tls", "ttfb", "total"), self.sums))


def derived_stats(raw, phases, concurrency, per_host=0):
    """The engine's counters plus what a user asks: achieved concurrency,
    reuse, resumption, time per phase, and the CLI's warning for a run that
    was serial in disguise (tools/trace.c rf_concurrency_eval), measured over
    the time the engine had work (a Client may sit idle between calls)."""
    s = dict(raw)
    busy = raw["busy_us"]
    s["achieved_concurrency"] = raw["inflight_area_us"] / busy if busy else 0.0
    s["on_the_wire"] = raw["active_area_us"] / busy if busy else 0.0
    s["configured_concurrency"] = concurrency
    done = raw["completed"]
    s["reuse_ratio"] = raw["conns_reused"] / done if done else 0.0
    hs = raw["tls_handshakes"]
    s["resumed_ratio"] = raw["tls_resumed"] / hs if hs else 0.0
    s["phases"] = phases.as_dict()
    s["requests"] = phases.n
    s["warning"] = _serial_warning(raw, s["on_the_wire"], min(concurrency, phases.n),
                                   concurrency, per_host)
    return s


def _serial_warning(raw, on_wire, limit, concurrency, per_host):
    # work waited (queued, or stuck opening connections) while far fewer
    # requests than allowed were with the servers; short runs say nothing
    busy = raw["busy_us"]
    if limit < 4 or busy < 200000 or on_wire >= limit * 0.25:
        return None
    waiting = (raw["queued_area_us"] + raw["inflight_area_us"] - raw["active_area_us"]) / busy
    if waiting < 1.0:
        return None
    if per_host and per_host < concurrency:
        why = "requests waited for a connection: per_host=%d holds them back" % per_host
    else:
        why = ("requests waited to start or to connect: a limit, or a server that accepts "
               "one connection at a time (or very few)")
    return "%son average only %.1f of up to %d requests were with the server at once (%s)" % (
        "close to serial: " if on_wire <= 1.5 else "far below the allowed concurrency: ",
        on_wire, limit, why)


class ConcurrencyWarning(UserWarning):
    """ringfetch.map/imap: the run was serial in disguise (see Client.stats()["warning"])."""


def _window(concurrency):
    # enough submitted ahead to keep every slot busy, bounded whatever the input
    return concurrency * 2 + 64


class _Base:
    """What Client and AsyncClient share: options, per-call request specs,
    the raise_on_error rule, phase sums."""

    def __init__(self, *, raise_on_error=False, **options):
        eng_opts, req_opts = split_options(dict(options))
        self._engine_kw = engine_config(**eng_opts)
        self._concurrency = self._engine_kw["concurrency"]
        self._req_defaults = req_opts
        self._default_spec = RequestSpec(**req_opts)
        self._raise = raise_on_error
        self._phases = Phases()

    def _spec(self, req):
        if not req:
            return self._default_spec
        merged = dict(self._req_defaults)
        merged.update(req)
        return RequestSpec(**merged)

    def _checked(self, r, raise_on_error):
        if r.error is not None and (self._raise if raise_on_error is None else raise_on_error):
            raise FetchError(r)
        return r


class Client(_Base):
    """Keeps one engine (connections, TLS sessions, DNS cache) across calls.
    The engine belongs to the thread that first uses it; use one Client per
    thread. Options as ringfetch.map's; request options given here
    (headers, follow_redirects...) are defaults for every call."""

    def __init__(self, **options):
        super().__init__(**options)
        self._eng = None
        self._tag = 0
        self._owner = {}  # tag -> the id of the call that submitted it
        self._stash = {}  # call id -> its results not yet taken
        self._next_pid = 0

    # ---- lifecycle --------------------------------------------------------
    def _engine(self):
        if self._eng is None:
            self._eng = _engine.Engine(**self._engine_kw)
        return self._eng

    def close(self):
        """Frees the engine (its connections close). The Client may be used
        again: a new engine is made."""
        eng, self._eng = self._eng, None
        self._owner.clear()
        if eng is not None:
            eng.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # ---- the driver ---------------------------------------------------------
    # Calls may nest (a get() inside a loop over imap()): every request's tag
    # names the call that owns it (_owner), and each running call has a
    # queue (_stash) where whichever call drives the engine leaves its results.
    def _pump(self, items, spec):
        """Submits (tag, url) pairs lazily, at most a window ahead of the
        results, and yields result tuples in completion order. If the
        consumer stops early or an exception (Ctrl-C) comes, the call's
        requests still running are canceled (or, while another call runs,
        their results dropped when they come)."""
        eng = self._engine()
        window = _window(self._concurrency)
        pid = self._next_pid = self._next_pid + 1
        mine = self._stash[pid] = collections.deque()
        owner = self._owner
        it = iter(items)
        held = None
        pending = 0
        add = self._phases.add
        try:
            while True:
                while pending < window:
                    if held is None:
                        held = next(it, None)
                        if held is None:
                            break
                    if not spec.submit(eng, held[0], held[1]):
                        break  # the engine's queue is full: run it first
                    owner[held[0]] = pid
                    held = None
                    pending += 1
                if pending == 0:
                    return
                if not mine:
                    self._collect(eng)
                while mine:
                    t = mine.popleft()
                    pending -= 1
                    add(t[9])
                    yield t
        finally:
            del self._stash[pid]
            if pending and not self._stash:
                self._cancel_all(eng)

    def _collect(self, eng):
        stash, owner = self._stash, self._owner
        for t in eng.run(-1):
            q = stash.get(owner.pop(t[0], None))
            if q is not None:  # else its call was abandoned: dropped
                q.append(t)

    def _cancel_all(self, eng):
        try:
            eng.cancel_all()
            while eng.outstanding():
                eng.run(100)
        except Exception:
            pass  # another thread or a dead engine: closing it ends them
        self._owner.clear()

    # ---- public calls --------------------------------------------------------
    def map(self, urls, **req):
        """Fetches every URL; returns the Responses in input order. Failures
        are Responses with .error set, never exceptions."""
        spec = self._spec(req)
        urls = urls if isinstance(urls, (list, tuple)) else list(urls)
        out = [None] * len(urls)
        base = self._tag
        self._tag += len(urls)
        make = Response._from_tuple
        for t in self._pump(((base + i, u) for i, u in enumerate(urls)), spec):
            out[t[0] - base] = make(t)
        return out

    def imap(self, urls, **req):
        """Yields a Response per URL in completion order; reads `urls` (any
        iterable, a generator of millions works) lazily, a bounded window
        ahead."""
        spec = self._spec(req)
        make = Response._from_tuple

        def gen():
            n = 0

            def tagged():
                nonlocal n
                for u in urls:
                    self._tag += 1
                    n += 1
                    yield self._tag, u
            for t in self._pump(tagged(), spec):
                yield make(t)
        return gen()

    def request(self, method, url, *, raise_on_error=None, **req):
        """One request; returns its Response. With raise_on_error (here or on
        the Client) a failed request raises FetchError instead."""
        req["method"] = method
        self._tag += 1
        (t,) = list(self._pump([(self._tag, url)], self._spec(req)))
        return self._checked(Response._from_tuple(t), raise_on_error)

    def get(self, url, **kw):
        return self.request("GET", url, **kw)

    def head(self, url, **kw):
        return self.request("HEAD", url, **kw)

    def post(self, url, data=None, json=None, **kw):
        return self.request("POST", url, data=data, json=json, **kw)

    def put(self, url, data=None, json=None, **kw):
        return self.request("PUT", url, data=data, json=json, **kw)

    def patch(self, url, data=None, json=None, **kw):
        return self.request("PATCH", url, data=data, json=json, **kw)

    def delete(self, url, **kw):
        return self.request("DELETE", url, **kw)

    def stats(self):
        """The engine's figures since this Client's engine was made (see
        README "From Python"): counters, achieved_concurrency, reuse_ratio,
        resumed_ratio, phases (seconds summed over requests), warning."""
        raw = self._engine().stats()
        return derived_stats(raw, self._phases, self._concurrency,
                             self._engine_kw["per_host"])


def map(urls, **options):  # noqa: A001 - the name grequests users know
    """Fetches every URL at once (up to `concurrency` in flight); returns a
    list of Response in input order. See Client for the options."""
    with Client(**options) as c:
        out = c.map(urls)
        _warn_if_serial(c)
        return out


def imap(urls, **options):
    """Like map, but yields Responses in completion order and reads `urls`
    lazily (bounded memory for any number of URLs)."""
    client = Client(**options)  # options are checked now, not at the first next()

    def gen():
        with client:
            yield from client.imap(urls)
            _warn_if_serial(client)
    return gen()


def _warn_if_serial(client):
    why = client.stats()["warning"]
    if why:
        warnings.warn(why, ConcurrencyWarning, stacklevel=3)
