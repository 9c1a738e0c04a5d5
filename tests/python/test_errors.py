"""Failures are values: every error kind reaches Response.error, and one bad
URL never costs the others."""

import time

import harness
import ringfetch


def test_error_kinds_in_one_map(world):
    refused = harness.refused_port()
    dead_dns = harness.refused_port()  # a DNS server that refuses: fast "dns"
    silent = harness.silent_listener()
    cases = [
        ("not a url", "bad_url"),
        ("ftp://127.0.0.1/", "bad_url"),
        ("http://127.0.0.1:%d/" % refused, "connect_refused"),
        ("http://no-such-host.test/", "dns"),
        (world.url("expired", "/small"), "tls_verify"),
        (world.url("wronghost", "/small"), "tls_verify"),
        (world.http_url("/slow"), "read_timeout"),
        (world.http_url("/ce-compress"), "bad_encoding"),
        ("http://127.0.0.1:%d/" % silent, "read_timeout"),
    ]
    good = [world.http_url("/small")] * 20
    urls = [u for u, _ in cases] + good
    rs = ringfetch.map(urls, timeout=0.5, verify=world.ca_file, compressed=True,
                       dns_servers="127.0.0.1:%d" % dead_dns, hosts_file="")
    for (u, kind), r in zip(cases, rs):
        assert r.error == kind, (u, r.error, r.error_message)
        assert r.error in ringfetch.ERROR_KINDS and r.error_message and not r.ok
        assert repr(r) == "<Response [%s] %s>" % (kind, u)
    assert all(r.status == 200 and r.error is None for r in rs[len(cases):])


def test_bad_request_header_and_max_time(world):
    rs = ringfetch.map([world.http_url("/small")], headers={"Bad\r\nName": "x"})
    assert rs[0].error == "bad_request"
    rs = ringfetch.map([world.http_url("/slow")], max_time=0.3)
    assert rs[0].error == "timeout"
    rs = ringfetch.map([world.http_url("/big")], max_body=1000)
    assert rs[0].error == "too_large"


def test_canceled_when_imap_is_abandoned(world):
    # breaking out of imap cancels what runs; the engine is freed with no thread left
    import threading
    before = threading.active_count()
    it = ringfetch.imap([world.http_url("/small")] + [world.http_url("/slow")] * 50)
    assert next(it).status == 200
    it.close()
    assert threading.active_count() == before


def test_error_kinds_from_misbehaving_servers(world):
    # the integration tests' scripted servers (tests/integration), in-process
    from fault_server import FaultServer
    from hostile_server import HostileServer
    hostile = HostileServer().start()
    fault = FaultServer().start()
    try:
        refused = harness.refused_port()
        silent = harness.silent_listener()
        cases = [
            (hostile.url("/garbage"), "bad_response", {}),
            (hostile.url("/early-close"), "closed", {}),
            (hostile.url("/reset"), "reset", {}),
            (hostile.url("/huge-headers"), "too_large", {}),
            ("https://127.0.0.1:%d/" % world.ports["http"], "tls_handshake", {}),
            ("https://127.0.0.1:%d/" % silent, "connect_timeout", {}),
            (fault.url("/redirect?code=302&to=ftp://example.test/"), "bad_redirect", {}),
            (fault.url("/loop"), "too_many_redirects", {}),
            (world.https_url("/small"), "proxy_connect",
             {"proxy": "http://127.0.0.1:%d" % refused}),
            (world.https_url("/small"), "proxy_refused",
             {"proxy": "http://127.0.0.1:%d" % fault.port}),
        ]
        with ringfetch.Client(connect_timeout=0.5, timeout=5, follow_redirects=True,
                              verify=world.ca_file) as c:
            plain = [(u, k) for u, k, o in cases if not o]
            rs = c.map([u for u, _ in plain] + [hostile.url("/ok")])
            for (u, kind), r in zip(plain, rs):
                assert r.error == kind, (u, r.error, r.error_message)
            assert rs[-1].status == 200 and rs[-1].error is None
        for u, kind, opts in cases:
            if opts:
                (r,) = ringfetch.map([u], verify=world.ca_file, **opts)
                assert r.error == kind, (u, r.error, r.error_message)
        # retries pass through: a 503 twice, then 200
        (r,) = ringfetch.map([fault.url("/flaky?key=py&fails=2")], retries=2, retry_delay=0.01)
        assert r.status == 200 and r.attempts == 3 and r.content == b"recovered py\n"
        assert fault.hits("flaky", "py") == 3
    finally:
        hostile.stop()
        fault.stop()


def test_robots_rates_and_retry_methods_pass_through():
    from fault_server import FaultServer
    fault = FaultServer().start()
    try:
        fault.robots["*"] = (200, b"User-agent: *\nDisallow: /private\n")
        rs = ringfetch.map([fault.url("/ok"), fault.url("/private/x")], robots=True)
        assert rs[0].status == 200
        assert rs[1].error == "robots_disallowed" and rs[1].status == 0
        assert not fault.requests_for("/private")  # never requested
        # host_rate: 10 requests/s per origin, evenly spaced
        t0 = time.monotonic()
        rs = ringfetch.map([fault.url("/ok?i=%d" % i) for i in range(5)], host_rate=10)
        assert all(r.status == 200 for r in rs) and time.monotonic() - t0 >= 0.35
        # a POST is retried only with retry_all_methods
        kw = dict(method="POST", data=b"x", retries=1, retry_delay=0.01)
        (r,) = ringfetch.map([fault.url("/flaky?key=p1")], **kw)
        assert r.status == 503 and r.attempts == 1
        (r,) = ringfetch.map([fault.url("/flaky?key=p2")], retry_all_methods=True, **kw)
        assert r.status == 200 and r.attempts == 2
    finally:
        fault.stop()
