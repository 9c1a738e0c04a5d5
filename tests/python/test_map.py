"""map, imap, Client: order, bodies, headers, request options."""

import hashlib
import json
import time
import warnings

import pytest

import ringfetch


def test_map_keeps_input_order_and_bodies(world):
    # /pause answers after 0.3 s, /small at once: completion order differs
    paths = ["/pause", "/small", "/chunked", "/small", "/pause", "/nope"] * 5
    urls = [world.http_url(p) for p in paths]
    t0 = time.monotonic()
    rs = ringfetch.map(iter(urls))  # any iterable
    assert time.monotonic() - t0 < 2.0  # the ten /pause overlap (serial: 3 s)
    assert [r.url for r in rs] == urls
    for p, r in zip(paths, rs):
        assert r.error is None and r.error_message == ""
        if p == "/small":
            assert r.status == r.status_code == 200 and r.ok
            assert hashlib.sha256(r.content).hexdigest() == world.small_sha
        elif p == "/chunked":
            assert hashlib.sha256(r.content).hexdigest() == world.chunked_sha
            assert r.headers["transfer-encoding"] == "chunked"
        elif p == "/pause":
            assert r.text == "ok\n"
        else:
            assert r.status == 404 and not r.ok
            with pytest.raises(ringfetch.HTTPStatusError):
                r.raise_for_status()


def test_https_big_body_and_sha(world):
    rs = ringfetch.map([world.https_url("/big"), world.https_url("/small")],
                       verify=world.ca_file, sha256=True)
    assert [r.status for r in rs] == [200, 200]
    assert hashlib.sha256(rs[0].content).hexdigest() == world.big_sha
    assert rs[0].sha256.hex() == world.big_sha
    assert len(rs[0].content) == 64 * 1024 * 1024


def test_imap_completion_order_and_lazy_input(world):
    consumed = []

    def urls():
        for i in range(2000):
            consumed.append(i)
            yield world.http_url("/pause" if i == 0 else "/small")

    it = ringfetch.imap(urls(), concurrency=10)
    first = next(it)
    # lazy: only a window (2 * concurrency + 64) was read before the first result
    assert len(consumed) <= 2 * 10 + 64 + 1
    assert first.url.endswith("/small")  # the slow first URL did not hold the others
    rest = list(it)
    assert len(rest) == 1999 and len(consumed) == 2000
    assert rest[-1].url.endswith("/pause") or any(r.url.endswith("/pause") for r in rest)
    assert all(r.status == 200 for r in rest)


def test_headers_case_insensitive_and_joined():
    h = ringfetch.Headers([("Set-Cookie", "a=1"), ("Content-Type", "text/plain"),
                           ("set-cookie", "b=2")])
    assert h["SET-COOKIE"] == "a=1, b=2" and h.get_list("set-cookie") == ["a=1", "b=2"]
    assert "content-type" in h and len(h) == 2 and list(h) == ["Set-Cookie", "Content-Type"]
    assert h.get("x-missing") is None


def test_response_headers_text_json(world):
    with ringfetch.Client(headers={"X-Test": "from-client"}) as c:
        r = c.get(world.http_url("/reqinfo"))
        assert r.text == "GET from-client\n"
        assert r.headers["CONTENT-TYPE"].startswith("text/plain")
        r = c.post(world.http_url("/reqinfo"), headers={"x-test": "per-call"})
        assert r.text == "POST per-call\n"
        r = c.post(world.http_url("/echo"), json={"a": [1, 2], "é": "ü"})
        assert r.json() == {"a": [1, 2], "é": "ü"}
        r = c.post(world.http_url("/echo"), data={"q": "a b", "x": "1"})
        assert r.content == b"q=a+b&x=1"
        r = c.head(world.http_url("/small"))
        assert r.status == 200 and r.content == b"" and r.headers["content-length"] == "1024"
        assert r.elapsed > 0 and set(r.timings) == {"dns", "connect", "tls", "ttfb", "total"}


def test_text_charset_from_content_type():
    t = (0, "u", "u", 200, "OK", [("Content-Type", "text/plain; charset=ISO-8859-1")],
         b"caf\xe9", None, "", (0, 0, 0, 0, 0.1), False, False, 1, [], 1, "", None)
    r = ringfetch.Response._from_tuple(t)
    assert r.text == "café" and r.encoding == "ISO-8859-1"
    t2 = t[:5] + ([],) + (b"caf\xe9 \xc3\xa9",) + t[7:]
    assert ringfetch.Response._from_tuple(t2).text == "caf\ufffd é"


def test_client_keeps_connections_and_tls_sessions(world):
    with ringfetch.Client(verify=world.ca_file, concurrency=4) as c:
        first = c.map([world.https_url("/small")] * 4)
        again = c.map([world.https_url("/small")] * 20)
        one = c.get(world.https_url("/small"))
        assert all(r.status == 200 for r in first + again + [one])
        # the second call finds the first call's connections open
        assert sum(r.reused for r in again) >= 16 and one.reused
        st = c.stats()
        assert st["completed"] == 25 and st["requests"] == 25
        assert st["conns_opened"] <= 4 and st["reuse_ratio"] >= 20 / 25
        assert st["peak_inflight"] == 4 and st["achieved_concurrency"] > 1
        assert st["phases"]["total"] > 0 and st["warning"] is None


def test_per_host_one_shows_the_serial_warning(world):
    # what the story's author needed to see: asked for 50 at once, got 1
    with pytest.warns(ringfetch.ConcurrencyWarning, match="close to serial.*per_host=1"):
        rs = ringfetch.map([world.http_url("/pause")] * 4, per_host=1, concurrency=50)
    assert all(r.status == 200 for r in rs)
    with ringfetch.Client(per_host=1, concurrency=50) as c:
        c.map([world.http_url("/pause")] * 4)
        st = c.stats()
        assert st["peak_inflight"] == 1 and st["on_the_wire"] <= 1.01
        assert "close to serial" in st["warning"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a run that overlapped warns nothing
        ringfetch.map([world.http_url("/pause")] * 4, concurrency=50)


def test_redirects_pass_through(world):
    rs = ringfetch.map([world.http_url("/moved"), world.http_url("/found-rel")],
                       follow_redirects=True)
    for r in rs:
        assert r.status == 200 and r.final_url == world.http_url("/small")
        assert r.redirects and r.redirects[0][0] in (301, 302)
    (r,) = ringfetch.map([world.http_url("/moved")])
    assert r.status == 301 and r.headers["location"].endswith("/small")
    (r,) = ringfetch.map([world.http_url("/moved")], follow_redirects=True, max_redirects=0)
    assert r.error == "too_many_redirects"


def test_compressed_decodes(world):
    (plain,) = ringfetch.map([world.http_url("/gz")])
    (dec,) = ringfetch.map([world.http_url("/gz")], compressed=True)
    assert "content-encoding" not in plain.headers and plain.content == world.small_bytes
    assert dec.headers["content-encoding"] == "gzip" and dec.content == world.small_bytes


def test_retries_pass_through():
    port = __import__("harness").refused_port()
    (r,) = ringfetch.map(["http://127.0.0.1:%d/" % port], retries=2, retry_delay=0.01)
    assert r.error == "connect_refused" and r.attempts == 3
    (r,) = ringfetch.map(["http://127.0.0.1:%d/" % port])
    assert r.attempts == 1


def test_raise_on_error(world):
    port = __import__("harness").refused_port()
    with ringfetch.Client() as c:
        r = c.get("http://127.0.0.1:%d/" % port)
        assert r.error == "connect_refused" and not r.ok
        with pytest.raises(ringfetch.FetchError) as ei:
            c.get("http://127.0.0.1:%d/" % port, raise_on_error=True)
        assert ei.value.kind == "connect_refused"
    with ringfetch.Client(raise_on_error=True) as c:
        with pytest.raises(ringfetch.FetchError):
            c.get("not a url")
        assert c.get(world.http_url("/small")).status == 200


def test_bad_options_fail_early():
    with pytest.raises(FileNotFoundError):
        ringfetch.map(["http://x/"], verify="/nonexistent/ca.pem")
    with pytest.raises(ValueError):
        ringfetch.imap(["http://x/"], concurrency=0)
    assert json.dumps(ringfetch.ERROR_KINDS)  # plain strings


def test_calls_nest_on_one_client(world):
    # a get() inside a loop over imap() (and a map inside that) on the same
    # Client: every call gets its own results, none is lost or mixed up
    small, pause = world.http_url("/small"), world.http_url("/pause")
    with ringfetch.Client(concurrency=8) as c:
        seen = []
        for r in c.imap([pause] * 6 + [small] * 6):
            inner = c.get(world.http_url("/reqinfo"), headers={"X-Test": r.url[-5:]})
            assert inner.text == "GET %s\n" % r.url[-5:]
            got = c.map([small, world.http_url("/chunked"), small])
            assert [x.url for x in got] == [small, world.http_url("/chunked"), small]
            seen.append(r.url)
        assert sorted(seen) == sorted([pause] * 6 + [small] * 6)
        # abandoning an imap while another call runs drops only its own results
        outer = c.imap([world.http_url("/slow")] * 3 + [small])
        first = next(outer)
        assert first.url == small
        it2 = c.imap([small] * 5)
        assert next(it2).status == 200  # it2 runs now
        outer.close()
        assert [r.status for r in it2] == [200] * 4
        assert c.get(small).status == 200


def test_urls_come_back_as_given(world):
    base = world.http_url("/caf\u00e9?q=\u00fc")
    rs = ringfetch.map([base, base.encode(), world.http_url("/small").encode()])
    assert rs[0].url == base and rs[0].status == 404
    assert rs[1].url == base and rs[2].status == 200
