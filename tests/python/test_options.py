"""The engine's tuning knobs (rf_config) as keyword options: each one
changes what a user can see (the protocol spoken, connections nginx
counted, the engine's counters, how long something takes), and a bad
value is refused before any request goes out."""

import asyncio
import os
import re
import socket
import time

import pytest

import harness
import ringfetch
from ringfetch import _client


def _refused_url():
    return "http://127.0.0.1:%d/" % harness.refused_port()


# ---- HTTP/2 ----------------------------------------------------------------------

def test_http2_prior_knowledge_speaks_h2c(world):
    url = world.url("h2c", "/small")
    with harness.ServerCounter(world) as sc:
        rs = ringfetch.map([url] * 10, http2_prior_knowledge=True, per_host=1)
    assert [r.status for r in rs] == [200] * 10
    assert {r.http_version for r in rs} == {"HTTP/2"}
    assert all(r.content == world.small_bytes for r in rs)
    assert (sc.connections, sc.requests) == (1, 10)  # ten streams on one connection
    # without it the h2c-only server is spoken to in HTTP/1.1 (it does not
    # answer that as HTTP/2), and a plain server answers HTTP/1.1
    (r,) = ringfetch.map([url], timeout=5)
    assert r.http_version != "HTTP/2" and not (r.ok and r.content == world.small_bytes)
    (r,) = ringfetch.map([world.http_url("/small")])
    assert (r.status, r.http_version) == (200, "HTTP/1.1")


def test_http2_streams_caps_streams_per_connection(world):
    # 20 requests, 2 connections: as many streams as nginx allows (128)
    # carry all 20 at once; http2_streams=2 lets only 4 run
    urls = [world.url("h2c", "/pause")] * 20
    for streams, in_flight in ((None, 20), (2, 4)):
        with ringfetch.Client(http2_prior_knowledge=True, concurrency=20, per_host=2,
                              http2_streams=streams) as c:
            with harness.ServerCounter(world) as sc:
                rs = c.map(urls)
            st = c.stats()
        assert [r.text for r in rs] == ["ok\n"] * 20 and {r.http_version for r in rs} == {"HTTP/2"}
        assert sc.connections <= 2 and sc.requests == 20
        assert st["peak_inflight"] == in_flight, (streams, st["peak_inflight"])


# ---- HTTP/1.1 -----------------------------------------------------------------------

def test_pipeline_puts_several_requests_on_a_connection(world):
    # 8 at once over per_host=2 connections: without pipelining only 2 are
    # with the server at a time; pipeline=4 sends 4 down each connection
    urls = [world.http_url("/pause")] * 8 + [world.http_url("/small")] * 8
    for pipeline, peak in ((None, 2), (1, 2), (4, 8)):
        with ringfetch.Client(concurrency=8, per_host=2, pipeline=pipeline) as c:
            with harness.ServerCounter(world) as sc:
                rs = c.map(urls)
            st = c.stats()
        assert [r.status for r in rs] == [200] * 16
        assert [r.content for r in rs] == [b"ok\n"] * 8 + [world.small_bytes] * 8
        assert sc.connections <= 2 and sc.requests == 16  # nginx's count
        assert st["conns_opened"] <= 2
        # requests sent and not yet answered at once: more than one per connection
        assert st["peak_active"] == peak and st["peak_inflight"] == peak, (pipeline, st)


def test_strict_http_rejects_bare_lf():
    # a response whose head ends its lines in LF alone: read as curl does by
    # default, refused as llhttp does with strict_http=True
    import fault_server
    srv = fault_server.FaultServer().start()
    try:
        url = srv.url("/raw?name=lf-head")
        want = fault_server.RAW_BODIES["lf-head"]
        for opts in ({}, {"strict_http": False}):
            (r,) = ringfetch.map([url], **opts)
            assert (r.status, r.error, r.content) == (200, None, want)
        (r,) = ringfetch.map([url], strict_http=True)
        assert r.error == "bad_response" and r.status == 0 and not r.content
        # a well-formed response is read either way
        (r,) = ringfetch.map([srv.url("/raw?name=trailers")], strict_http=True)
        assert (r.status, r.error) == (200, None)
    finally:
        srv.stop()


# ---- connections kept ------------------------------------------------------------------

def test_idle_per_host_and_idle_timeout(world):
    pause = [world.http_url("/pause")] * 4

    def second_call_reuses(**opts):
        with ringfetch.Client(concurrency=4, **opts) as c:
            first = c.map(pause)  # 4 connections, then idle
            assert [r.status for r in first] == [200] * 4
            # one request that lasts 1 s: the engine runs, idle timers fire
            assert c.get(world.http_url("/second")).text == "ok\n"
            rs = c.map(pause)
            assert [r.status for r in rs] == [200] * 4
            return sum(r.reused for r in rs), c.stats()

    reused, st = second_call_reuses()
    assert reused == 4 and st["conns_opened"] == 4
    reused, st = second_call_reuses(idle_per_host=1)  # only one kept idle
    assert reused == 1 and st["conns_opened"] == 7
    reused, st = second_call_reuses(idle_timeout=0.2)  # closed while /second ran
    assert reused == 1 and st["conns_opened"] == 7
    reused, st = second_call_reuses(idle_timeout=0)  # none kept at all
    assert reused == 0 and st["conns_opened"] == 9


def test_idle_timeout_passes_between_calls(world):
    # The engine runs only during a call; an idle connection whose time ran
    # out between two calls is closed before the second call's requests are
    # scheduled, not handed one of them (it used to be: its timer had not
    # run yet when the first turn placed the requests)
    pause = [world.http_url("/pause")] * 4
    with ringfetch.Client(concurrency=4, idle_timeout=0.2) as c:
        assert [r.status for r in c.map(pause)] == [200] * 4
        time.sleep(0.5)
        rs = c.map(pause)
        st = c.stats()
    assert [r.status for r in rs] == [200] * 4
    assert sum(r.reused for r in rs) == 0 and st["conns_opened"] == 8
    # within its time it is reused
    with ringfetch.Client(concurrency=4, idle_timeout=5) as c:
        c.map(pause)
        time.sleep(0.5)
        rs = c.map(pause)
    assert sum(r.reused for r in rs) == 4


def test_answers_that_arrived_while_away_beat_their_timeout(world):
    # imap with a consumer slower than the read timeout: the other answers
    # arrive while it sleeps, past their deadline by the time the engine
    # runs again; they were there in time and are read, not timed out
    urls = [world.http_url("/small")] * 6
    got = []
    for r in ringfetch.imap(urls, concurrency=6, timeout=0.3):
        got.append((r.status, r.error))
        time.sleep(0.6)
    assert got == [(200, None)] * 6


def test_max_idle_caps_idle_connections(world):
    # 4 connections go idle; max_idle=1 keeps the most recent one (over all
    # origins), the others close at once
    pause = [world.http_url("/pause")] * 4
    for max_idle, reused, opened in ((None, 4, 4), (1, 1, 7)):
        with ringfetch.Client(concurrency=4, max_idle=max_idle) as c:
            assert [r.status for r in c.map(pause)] == [200] * 4
            rs = c.map(pause)
            st = c.stats()
        assert [r.status for r in rs] == [200] * 4
        assert (sum(r.reused for r in rs), st["conns_opened"]) == (reused, opened), max_idle


def test_max_ratio_stops_a_decompression_bomb():
    # 8 MiB of zeros that zstd sends in a few hundred bytes: past the
    # default ratio (1000) it fails as too_large; max_ratio=0 turns the
    # check off and the body is read whole
    import fault_server
    srv = fault_server.FaultServer().start()
    try:
        url = srv.url("/bomb?enc=zstd&size=%d" % (8 << 20))
        for opts in ({}, {"max_ratio": 1000}):
            (r,) = ringfetch.map([url], compressed=True, **opts)
            assert r.error == "too_large" and "1000" in r.error_message, (opts, r.error_message)
        (r,) = ringfetch.map([url], compressed=True, max_ratio=0)
        assert (r.status, r.error, len(r.content)) == (200, None, 8 << 20)
        assert r.content == bytes(8 << 20)
    finally:
        srv.stop()


def test_tls_warmup(world):
    # 8 new TLS connections at once: by default they wait for the first
    # one's session ticket and resume it; tls_warmup=False does full
    # handshakes on all of them
    url = world.https_url("/pause")
    for warmup in (True, False):
        with ringfetch.Client(concurrency=8, verify=world.ca_file, tls_warmup=warmup) as c:
            rs = c.map([url] * 8)
            st = c.stats()
        assert [r.text for r in rs] == ["ok\n"] * 8
        assert st["tls_handshakes"] == 8
        if warmup:
            assert st["tls_resumed"] == 7 and sum(r.tls_resumed for r in rs) == 7
        else:
            assert st["tls_resumed"] == 0 and not any(r.tls_resumed for r in rs)


# ---- addresses ------------------------------------------------------------------------

def test_ip_version(world):
    url = world.http_url("/small")
    (r,) = ringfetch.map([url], ip_version=4)
    assert (r.status, r.content) == (200, world.small_bytes)
    (r,) = ringfetch.map([url], ip_version=6)  # an IPv4 literal, IPv6 only
    assert r.error == "dns" and r.status == 0, (r.error, r.error_message)
    # a name with both families: only the asked one is dialled (nginx
    # listens on 127.0.0.1 alone)
    port = world.ports["http"]
    dual = dict(resolve=["dual.test:%d:127.0.0.1,[::1]" % port])
    (r,) = ringfetch.map(["http://dual.test:%d/small" % port], ip_version=4, **dual)
    assert r.status == 200 and r.remote_addr.startswith("127.0.0.1")
    (r,) = ringfetch.map(["http://dual.test:%d/small" % port], ip_version=6, **dual)
    assert r.error in ("connect_refused", "connect"), (r.error, r.error_message)


def _silent_address(port):
    """A listener on 127.0.0.2:port whose accept queue is full: the kernel
    drops further SYNs, so a connect there hears nothing (a black hole)."""
    try:
        ls = socket.socket()
        ls.bind(("127.0.0.2", port))
        ls.listen(0)
    except OSError as e:
        pytest.skip("cannot listen on 127.0.0.2:%d here (%s)" % (port, e))
    fill = []
    for _ in range(3):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.2", port))
        fill.append(s)
    time.sleep(0.1)
    probe = socket.socket()
    probe.settimeout(0.3)
    try:
        probe.connect(("127.0.0.2", port))
        silent = False
    except (socket.timeout, TimeoutError):
        silent = True
    finally:
        probe.close()
    if not silent:
        for s in fill + [ls]:
            s.close()
        pytest.skip("this kernel answers SYNs over a full accept queue")
    return [ls] + fill


def test_happy_eyeballs(world):
    # the name's first address is silent, its second is nginx: the second is
    # started beside the first after happy_eyeballs (default 0.25 s)
    port = world.ports["http"]
    held = _silent_address(port)
    try:
        url = "http://he.test:%d/small" % port
        opts = dict(resolve=["he.test:%d:127.0.0.2,127.0.0.1" % port])
        took = {}
        for he in (None, 1.0, 0.05):
            (r,) = ringfetch.map([url], happy_eyeballs=he, **opts)
            assert r.status == 200 and r.remote_addr.startswith("127.0.0.1"), r.error_message
            took[he] = r.timings["connect"]
        assert 0.9 <= took[1.0] < 3, took
        assert 0.2 <= took[None] < 0.9, took
        assert took[0.05] < 0.2, took
    finally:
        for s in held:
            s.close()


def test_dns_timeout():
    # a DNS server that never answers: 2 tries of dns_timeout each (the
    # default, 2 s a try, takes seconds)
    quiet = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    quiet.bind(("127.0.0.1", 0))
    try:
        t0 = time.monotonic()
        (r,) = ringfetch.map(["http://nowhere.test/"], hosts_file="", dns_timeout=0.1,
                             dns_servers="127.0.0.1:%d" % quiet.getsockname()[1])
        took = time.monotonic() - t0
    finally:
        quiet.close()
    assert r.error == "dns", (r.error, r.error_message)
    assert took < 1.5, took


# ---- retries -------------------------------------------------------------------------------

def test_retry_max_delay_caps_the_back_off():
    # a 10 s back-off base would wait up to 10 s, then 20 s; capped at 0.05 s
    t0 = time.monotonic()
    (r,) = ringfetch.map([_refused_url()], retries=2, retry_delay=10, retry_max_delay=0.05)
    assert r.error == "connect_refused" and r.attempts == 3
    assert time.monotonic() - t0 < 2


def test_retry_max_time_ends_retries():
    opts = dict(retries=5, retry_delay=0.1, retry_max_delay=0.1)
    (r,) = ringfetch.map([_refused_url()], **opts)
    assert r.error == "connect_refused" and r.attempts == 6
    (r,) = ringfetch.map([_refused_url()], retry_max_time=0.001, **opts)
    assert r.error == "connect_refused" and r.attempts <= 2
    (r,) = ringfetch.map([_refused_url()], retry_max_time=0, **opts)  # 0: no limit (curl's)
    assert r.attempts == 6


# ---- batching --------------------------------------------------------------------------------

def test_batch_gathers_completions(world):
    # 64 in flight: with batch the engine's waits gather completions (Linux
    # 6.12's min-wait, counted in batched_waits); results are the same
    urls = [world.http_url("/small")] * 400
    waits = {}
    for batch in (None, 0, 50e-6):
        with ringfetch.Client(concurrency=64, batch=batch) as c:
            rs = c.map(urls)
            st = c.stats()
        assert [r.status for r in rs] == [200] * 400
        assert all(r.content == world.small_bytes for r in rs)
        waits[batch] = st["batched_waits"]
    assert waits[None] == 0 and waits[0] == 0
    release = tuple(int(x) for x in re.findall(r"\d+", os.uname().release)[:2])
    if release >= (6, 12):
        assert waits[50e-6] > 0, waits
    else:  # no min-wait in the kernel: the engine does not batch (as documented)
        assert waits[50e-6] == 0, waits


# ---- every entry point ------------------------------------------------------------------------

def test_every_entry_point_passes_them_on(world):
    url = world.url("h2c", "/small")
    h2 = dict(http2_prior_knowledge=True, pipeline=2, ip_version=4, dns_timeout=1)
    assert {r.http_version for r in ringfetch.map([url] * 2, **h2)} == {"HTTP/2"}
    assert {r.http_version for r in ringfetch.imap([url] * 2, **h2)} == {"HTTP/2"}
    with ringfetch.Client(**h2) as c:
        assert c.get(url).http_version == "HTTP/2"

    async def main():
        async with ringfetch.AsyncClient(**h2) as c:
            return await c.get(url)
    r = asyncio.run(main())
    assert (r.status, r.http_version) == (200, "HTTP/2")


BAD = [
    # (keyword, value, exception)
    ("pipeline", 0, ValueError), ("pipeline", -1, ValueError), ("pipeline", 2.0, TypeError),
    ("pipeline", "4", TypeError), ("pipeline", True, TypeError), ("pipeline", 2 ** 32, ValueError),
    ("batch", -1e-6, ValueError), ("batch", "50us", TypeError), ("batch", 50, ValueError),
    ("batch", float("nan"), ValueError),
    ("idle_per_host", 0, ValueError), ("idle_per_host", -2, ValueError),
    ("idle_per_host", 1.5, TypeError),
    ("idle_timeout", -1, ValueError), ("idle_timeout", "30", TypeError),
    ("idle_timeout", float("inf"), ValueError), ("idle_timeout", 10 ** 7, ValueError),
    ("strict_http", "yes", TypeError), ("http2_prior_knowledge", None, TypeError),
    ("strict_http", 2, ValueError), ("tls_warmup", -1, ValueError),
    ("idle_timeout", 10 ** 400, ValueError),
    ("tls_warmup", "no", TypeError),
    ("http2_streams", -1, ValueError), ("http2_streams", 1.0, TypeError),
    ("dns_timeout", 0, ValueError), ("dns_timeout", -0.5, ValueError),
    ("dns_timeout", [1], TypeError),
    ("ip_version", 5, ValueError), ("ip_version", 0, ValueError), ("ip_version", 46, ValueError),
    ("ip_version", "6", TypeError), ("ip_version", 6.0, TypeError), ("ip_version", True, TypeError),
    ("happy_eyeballs", 0.001, ValueError), ("happy_eyeballs", -1, ValueError),
    ("happy_eyeballs", "fast", TypeError),
    ("retry_max_delay", -1, ValueError), ("retry_max_delay", "1", TypeError),
    ("retry_max_time", -1, ValueError), ("retry_max_time", b"1", TypeError),
    ("max_ratio", -1, ValueError), ("max_ratio", 10.0, TypeError), ("max_ratio", 2 ** 32, ValueError),
    ("max_idle", 0, ValueError), ("max_idle", "8", TypeError), ("max_idle", True, TypeError),
    # the older timeouts go through the same conversion
    ("timeout", -1, ValueError), ("connect_timeout", "10", TypeError),
    ("max_time", float("nan"), ValueError), ("retry_delay", 10 ** 400, ValueError),
]


@pytest.mark.parametrize("name,value,exc", BAD, ids=["%s=%r" % (n, v) for n, v, _ in BAD])
def test_bad_values_fail_before_any_request(world, name, value, exc):
    url = world.http_url("/small")

    async def make_async():
        ringfetch.AsyncClient(**{name: value})
    with harness.ServerCounter(world) as sc:
        with pytest.raises(exc, match=name):
            ringfetch.map([url], **{name: value})
        with pytest.raises(exc, match=name):
            ringfetch.imap([url], **{name: value})  # at the call, not the first next()
        with pytest.raises(exc, match=name):
            ringfetch.Client(**{name: value})
        with pytest.raises(exc, match=name):
            asyncio.run(make_async())
    assert sc.requests == 0 and sc.connections == 0


def test_good_values_convert_to_the_engine_fields():
    # seconds become the engine's ms (or us for batch); a positive time
    # never becomes 0, which means something else; None keeps the default
    kw = _client.engine_config(pipeline=3, batch=50e-6, idle_per_host=2, idle_timeout=1.5,
                               strict_http=True, http2_prior_knowledge=True, http2_streams=0,
                               tls_warmup=False, dns_timeout=0.0001, ip_version=6,
                               happy_eyeballs=0.01, retry_max_delay=0, retry_max_time=2,
                               max_ratio=0, max_idle=5)
    assert {k: kw[k] for k in ("pipeline", "batch_us", "idle_per_host", "idle_timeout_ms",
                               "strict_http", "http2_prior_knowledge", "http2_streams",
                               "no_tls_warmup", "dns_timeout_ms", "ip_version",
                               "happy_eyeballs_ms", "retry_max_delay_ms",
                               "retry_max_time_ms", "max_ratio", "max_idle")} == {
        "pipeline": 3, "batch_us": 50, "idle_per_host": 2, "idle_timeout_ms": 1500,
        "strict_http": True, "http2_prior_knowledge": True, "http2_streams": 0,
        "no_tls_warmup": True, "dns_timeout_ms": 1, "ip_version": 6, "happy_eyeballs_ms": 10,
        "retry_max_delay_ms": 0, "retry_max_time_ms": 2000, "max_ratio": 0, "max_idle": 5}
    kw = _client.engine_config(batch=1e-9, idle_timeout=0)
    assert kw["batch_us"] == 1 and kw["idle_timeout_ms"] == 0
    default = _client.engine_config()
    for k in ("pipeline", "batch_us", "idle_per_host", "idle_timeout_ms", "http2_streams",
              "dns_timeout_ms", "ip_version", "happy_eyeballs_ms", "retry_max_delay_ms",
              "retry_max_time_ms", "max_ratio", "max_idle"):
        assert k not in default  # the library's own default
    assert (default["strict_http"], default["http2_prior_knowledge"],
            default["no_tls_warmup"]) == (False, False, False)


def test_the_engine_checks_what_it_is_given():
    # the extension itself refuses what does not fit the C fields, and
    # rf_engine_new's own check of ip_version comes through as its error
    from ringfetch import _engine
    with pytest.raises(ValueError, match="pipeline"):
        _engine.Engine(pipeline=2 ** 32)
    with pytest.raises(OverflowError):
        _engine.Engine(http2_streams=-1)
    with pytest.raises(OSError, match="ip_version must be 0, 4 or 6"):
        _engine.Engine(ip_version=5)
    _engine.Engine(ip_version=6, pipeline=4, batch_us=50).close()
