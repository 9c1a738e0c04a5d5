#!/usr/bin/env python3
"""Crawling like a crawler: redirects (-L), retries (--retry, Retry-After),
per-host rates (--host-rate) and connection reuse over many hosts. Real
servers on loopback: the test nginx for what it can express, fault_server.py
for flaky statuses, Retry-After, redirect chains and loops, raw Locations and
dropped connections. Every run checks that each input line gives exactly one
record."""

import json
import os
import subprocess
import time
import unittest
import urllib.parse

import harness
from harness import check_error, check_lines, check_ok
from fault_server import FaultServer, CHAIN_END_BODY, recovered_body

SRV = None    # plain HTTP fault server
SRV2 = None   # another plain one: another origin (port)
TLS = None    # HTTPS fault server (the test CA's "good" certificate)


def setUpModule():
    global SRV, SRV2, TLS
    env = harness.start()
    SRV = FaultServer().start()
    SRV2 = FaultServer().start()
    TLS = FaultServer(tls=env.certs["good"]).start()


def tearDownModule():
    for s in (SRV, SRV2, TLS):
        if s:
            s.stop()
    harness.stop()


def q(s):
    return urllib.parse.quote(s, safe="")


def fetch(urls, *opts, timeout=60, code=None):
    """Runs ringfetch fetch over urls; returns ({line: record}, RunResult)."""
    env = harness.env()
    res = harness.run(["fetch", "--cacert", env.ca_file, "-i", "-"] + list(opts),
                      stdin="".join(u + "\n" for u in urls), timeout=timeout)
    return res


class Base(unittest.TestCase):
    def run_fetch(self, urls, *opts, timeout=60, code=None):
        res = fetch(urls, *opts, timeout=timeout)
        if code is not None:
            self.assertEqual(res.code, code, res.describe())
        self.assertEqual(SRV.errors + SRV2.errors + TLS.errors, [])
        return check_lines(self, res.records, len(urls)), res

    def bodies(self, urls, *opts):
        """Fetches with --body-dir; returns ({line: record}, {line: body bytes})."""
        d = os.path.join(harness.env().workdir, "bodies-%d" % time.monotonic_ns())
        recs, _ = self.run_fetch(urls, "--body-dir", d, *opts)
        out = {}
        for line, r in recs.items():
            p = os.path.join(d, "%d.body" % line)
            if os.path.exists(p):
                with open(p, "rb") as f:
                    out[line] = f.read()
        return recs, out


# ---------------------------------------------------------------------------
class Redirects(Base):
    def test_chain_of_relative_redirects_is_followed_on_one_connection(self):
        SRV.reset()
        url = SRV.url("/chain/3?x=1")
        recs, _ = self.run_fetch([url], "-L", code=0)
        r = recs[1]
        check_ok(self, r, 200, harness.sha256_hex(CHAIN_END_BODY), len(CHAIN_END_BODY))
        self.assertEqual(r["url"], url)
        self.assertEqual(r["final_url"], SRV.url("/chain/0?x=1"))
        self.assertEqual([(h["status"], h["location"]) for h in r["redirects"]],
                         [(302, SRV.url("/chain/%d?x=1" % n)) for n in (2, 1, 0)])
        self.assertEqual(r["attempts"], 1)
        log = SRV.requests_for("/chain/")
        self.assertEqual([e.target for e in log], ["/chain/%d?x=1" % n for n in (3, 2, 1, 0)])
        self.assertEqual(len({e.conn for e in log}), 1, "the hops did not reuse the connection")

    def test_without_L_the_redirect_is_the_result(self):
        url = SRV.url("/redirect?code=301&to=/ok")
        recs, _ = self.run_fetch([url], code=0)
        r = recs[1]
        check_ok(self, r, 301)
        self.assertEqual(r["headers"]["location"], "/ok")
        self.assertEqual(r["redirects"], [])
        self.assertEqual(r["final_url"], url)

    def test_max_redirs(self):
        urls = [SRV.url("/chain/5"), SRV.url("/chain/2")]
        recs, res = self.run_fetch(urls, "-L", "--max-redirs", "2", code=1)
        check_error(self, recs[1], "too_many_redirects")
        self.assertEqual(recs[1]["status"], 302)
        self.assertEqual(len(recs[1]["redirects"]), 2)
        self.assertEqual(recs[1]["final_url"], SRV.url("/chain/3"))
        self.assertIsNone(recs[1]["body_sha256"])
        check_ok(self, recs[2], 200)
        # 0 hops allowed: the first redirect is already one too many (curl's -L --max-redirs 0)
        recs, _ = self.run_fetch([SRV.url("/chain/1")], "-L", "--max-redirs", "0", code=1)
        check_error(self, recs[1], "too_many_redirects")
        self.assertEqual(recs[1]["redirects"], [])

    def test_default_limit_is_20(self):
        recs, _ = self.run_fetch([SRV.url("/chain/20"), SRV.url("/chain/21")], "-L")
        check_ok(self, recs[1], 200)
        self.assertEqual(len(recs[1]["redirects"]), 20)
        check_error(self, recs[2], "too_many_redirects")
        self.assertEqual(len(recs[2]["redirects"]), 20)

    def test_loops_end_early(self):
        SRV.reset()
        recs, _ = self.run_fetch([SRV.url("/loop"), SRV.url("/loop-a")], "-L", code=1)
        for line in (1, 2):
            check_error(self, recs[line], "too_many_redirects")
            self.assertIn("loop", recs[line]["error_message"])
        # detected when the URL comes round again, not after 20 hops
        self.assertEqual(len(SRV.requests_for("/loop")), 1 + 2)

    def test_methods_and_bodies_per_status(self):
        """301/302 turn a POST into a GET without body, 303 turns everything
        but HEAD into GET, 307/308 keep method and body (curl, browsers)."""
        cases = [("POST", 301, "GET", ""), ("POST", 302, "GET", ""), ("POST", 303, "GET", ""),
                 ("PUT", 303, "GET", ""), ("POST", 307, "POST", "a=1&b=2"),
                 ("POST", 308, "POST", "a=1&b=2"), ("PUT", 302, "PUT", "a=1&b=2")]
        for method, code, want_method, want_body in cases:
            with self.subTest(method=method, code=code):
                url = SRV.url("/redirect?code=%d&to=/method" % code)
                recs, bodies = self.bodies([url], "-L", "-X", method, "-d", "a=1&b=2",
                                           "-H", "Content-Type: application/x-www-form-urlencoded")
                check_ok(self, recs[1], 200)
                self.assertEqual(recs[1]["redirects"][0]["status"], code)
                seen = json.loads(bodies[1])
                self.assertEqual(seen["method"], want_method)
                self.assertEqual(seen["body"], want_body)
                if want_body:
                    self.assertEqual(seen["headers"].get("content-type"), "application/x-www-form-urlencoded")
                else:
                    self.assertNotIn("content-type", seen["headers"])
                    self.assertNotIn("content-length", seen["headers"])

    def test_credentials_stay_with_their_origin(self):
        creds = ["-H", "Authorization: Bearer s3cret", "-H", "Cookie: id=42", "-H", "X-Api-Key: k"]
        same = SRV.url("/redirect?to=/method")
        other_host = SRV.url("/redirect?to=" + q(SRV.url("/method", host="localhost")))
        other_port = SRV.url("/redirect?to=" + q(SRV2.url("/method")))
        # away and back: once dropped they do not come back (Fetch; Go's CVE-2024-45336)
        back = SRV.url("/redirect?to=" + q(SRV2.url("/redirect?to=" + q(SRV.url("/method")))))
        recs, bodies = self.bodies([same, other_host, other_port, back], "-L", *creds)
        for line in (1, 2, 3, 4):
            check_ok(self, recs[line], 200)
        seen = {line: json.loads(bodies[line])["headers"] for line in bodies}
        self.assertEqual(seen[1].get("authorization"), "Bearer s3cret")
        self.assertEqual(seen[1].get("cookie"), "id=42")
        for line in (2, 3, 4):
            self.assertNotIn("authorization", seen[line], "line %d" % line)
            self.assertNotIn("cookie", seen[line], "line %d" % line)
            self.assertEqual(seen[line].get("x-api-key"), "k", "other headers go on (as in curl)")
        self.assertEqual(seen[2]["host"], "localhost:%d" % SRV.port)
        self.assertEqual(len(recs[4]["redirects"]), 2)

    def test_custom_host_header_is_not_sent_to_another_host(self):
        url = SRV.url("/redirect?to=" + q(SRV2.url("/host")))
        recs, bodies = self.bodies([url], "-L", "-H", "Host: vhost.example")
        check_ok(self, recs[1], 200)
        self.assertEqual(bodies[1], b"127.0.0.1:%d" % SRV2.port)
        self.assertEqual(SRV.requests_for("/redirect?to=")[-1].host, "vhost.example")

    def test_scheme_changes(self):
        up = SRV.url("/redirect?code=301&to=" + q(TLS.url("/ok")))
        down = TLS.url("/redirect?to=" + q(SRV.url("/ok")))
        recs, _ = self.run_fetch([up, down], "-L", code=1)
        check_ok(self, recs[1], 200)
        self.assertEqual(recs[1]["final_url"], TLS.url("/ok"))
        self.assertEqual(recs[1]["remote"], "127.0.0.1:%d" % TLS.port)
        # https -> http is refused unless asked for
        check_error(self, recs[2], "bad_redirect")
        self.assertIn("--redirect-downgrade", recs[2]["error_message"])
        self.assertEqual(recs[2]["status"], 302)
        recs, _ = self.run_fetch([down], "-L", "--redirect-downgrade", code=0)
        check_ok(self, recs[1], 200)
        self.assertEqual(recs[1]["final_url"], SRV.url("/ok"))

    def test_nginx_redirects(self):
        env = harness.env()
        urls = [env.http_url("/moved"), env.http_url("/to-https"), env.https_url("/see-other")]
        recs, _ = self.run_fetch(urls, "-L", "-X", "POST", "-d", "x", "-H", "X-Test: seen", code=0)
        check_ok(self, recs[1], 200, env.small_sha, harness.SMALL_SIZE)
        self.assertEqual(recs[1]["redirects"], [{"status": 301, "location": env.http_url("/small")}])
        check_ok(self, recs[2], 200, env.small_sha, harness.SMALL_SIZE)
        self.assertEqual(recs[2]["final_url"], env.https_url("/small"))
        check_ok(self, recs[3], 200, harness.sha256_hex(b"GET seen\n"))

    def test_hostile_locations(self):
        # (Location as the server sends it, expected final target or error)
        cases = [
            ("../../ok?a=1", "/ok?a=1"),
            ("/ok/./x/../y", "/ok/y"),
            ("?q=2", "/redirect?q=2"),
            ("/with space/é", "/with%20space/%C3%A9"),
            ("/\\evil.example", "/%5Cevil.example"),  # a path here, not another host
            ("  /ok  ", "/ok"),
            ("javascript:alert(1)", "bad_redirect"),
            ("ftp://127.0.0.1/x", "bad_redirect"),
            ("http://user:pw@127.0.0.1:%d/ok" % SRV.port, "bad_redirect"),
            ("http://[::1", "bad_redirect"),
            ("http://127.0.0.1:99999/", "bad_redirect"),
            ("http://exa mple.com/", "bad_redirect"),
            ("", "bad_redirect"),
        ]
        urls = [SRV.url("/redirect?to=" + q(loc)) for loc, _ in cases]
        urls.append(SRV.url("/redirect?pad=100000&to=/"))          # a 100 KB Location: over the header limit
        urls.append(SRV.url("/redirect?code=302"))                 # no Location at all
        urls.append(SRV.url("/redirect?to=" + q("//localhost:%d/host" % SRV2.port)))  # scheme-relative
        SRV.reset()
        recs, _ = self.run_fetch(urls, "-L")
        for i, (loc, want) in enumerate(cases, 1):
            r = recs[i]
            with self.subTest(location=loc):
                if want == "bad_redirect":
                    check_error(self, r, "bad_redirect")
                    self.assertEqual(r["status"], 302)
                else:
                    self.assertIsNotNone(r["status"], r)
                    self.assertEqual(r["final_url"], SRV.url(want))
        n = len(cases)
        check_error(self, recs[n + 1], "too_large")
        check_ok(self, recs[n + 2], 302)  # nothing to follow: delivered as it is
        check_ok(self, recs[n + 3], 200)
        self.assertEqual(recs[n + 3]["final_url"], "http://localhost:%d/host" % SRV2.port)
        targets = [e.target for e in SRV.log]
        self.assertIn("/%5Cevil.example", targets)
        self.assertIn("/with%20space/%C3%A9", targets)


# ---------------------------------------------------------------------------
class Retries(Base):
    def test_flaky_503_is_retried(self):
        SRV.reset()
        url = SRV.url("/flaky?key=f1&fails=2")
        recs, _ = self.run_fetch([url], "--retry", "3", "--retry-delay", "0.05", code=0)
        check_ok(self, recs[1], 200, harness.sha256_hex(recovered_body("f1")))
        self.assertEqual(recs[1]["attempts"], 3)
        self.assertEqual(SRV.hits("flaky", "f1"), 3)
        # without --retry the 503 is the result (a successful fetch of a 503)
        recs, _ = self.run_fetch([SRV.url("/flaky?key=f2&fails=1")], code=0)
        check_ok(self, recs[1], 503)
        self.assertEqual(recs[1]["attempts"], 1)

    def test_retries_run_out(self):
        SRV.reset()
        recs, _ = self.run_fetch([SRV.url("/flaky?key=f3&fails=9&code=502"),
                                  SRV.url("/status?code=404")], "--retry", "2", "--retry-delay", "0.01")
        check_ok(self, recs[1], 502)
        self.assertEqual(recs[1]["attempts"], 3)
        self.assertEqual(SRV.hits("flaky", "f3"), 3)
        check_ok(self, recs[2], 404)  # not a retryable status
        self.assertEqual(recs[2]["attempts"], 1)
        self.assertEqual(len(SRV.requests_for("/status?code=404")), 1)

    def test_every_retryable_status(self):
        SRV.reset()
        codes = (408, 429, 500, 502, 503, 504)
        urls = [SRV.url("/flaky?key=s%d&fails=1&code=%d" % (c, c)) for c in codes]
        urls.append(SRV.url("/flaky?key=s501&fails=1&code=501"))
        recs, _ = self.run_fetch(urls, "--retry", "1", "--retry-delay", "0.01", code=0)
        for i, c in enumerate(codes, 1):
            check_ok(self, recs[i], 200)
            self.assertEqual(recs[i]["attempts"], 2, c)
        check_ok(self, recs[len(codes) + 1], 501)

    def test_dropped_connections_are_retried(self):
        SRV.reset()
        urls = [SRV.url("/drop?key=d1&how=reset"), SRV.url("/drop?key=d2&how=close&fails=2")]
        recs, _ = self.run_fetch(urls, "--retry", "2", "--retry-delay", "0.01", code=0)
        for line, key in ((1, "d1"), (2, "d2")):
            check_ok(self, recs[line], 200, harness.sha256_hex(recovered_body(key)))
        self.assertEqual(recs[1]["attempts"], 2)
        # d2's second drop may meet a connection reused from d1: that looks
        # exactly like a stale keep-alive and is resent once without counting
        self.assertIn(recs[2]["attempts"], (2, 3))
        self.assertEqual(SRV.hits("drop", "d2"), 3)
        # without --retry: one error record each, with the stable kinds
        recs, _ = self.run_fetch([SRV.url("/drop?key=d3&how=reset"), SRV.url("/drop?key=d4&how=close")], code=1)
        check_error(self, recs[1], "reset")
        check_error(self, recs[2], "closed")

    def test_refused_connections_back_off(self):
        port = harness.refused_port()
        t0 = time.monotonic()
        recs, _ = self.run_fetch(["http://127.0.0.1:%d/" % port], "--retry", "3", "--retry-delay", "0.2",
                                 code=1)
        check_error(self, recs[1], "connect_refused")
        self.assertEqual(recs[1]["attempts"], 4)
        # full jitter: the waits are random in [0, 0.2], [0, 0.4], [0, 0.8]; never more
        self.assertLess(time.monotonic() - t0, 1.4 + 2.0)

    def test_post_is_not_retried_unless_asked(self):
        SRV.reset()
        recs, _ = self.run_fetch([SRV.url("/flaky?key=p1")], "-d", "x", "--retry", "2", "--retry-delay", "0.01")
        check_ok(self, recs[1], 503)
        self.assertEqual(recs[1]["attempts"], 1)
        recs, _ = self.run_fetch([SRV.url("/flaky?key=p2")], "-d", "x", "--retry", "2", "--retry-delay", "0.01",
                                 "--retry-all-methods")
        check_ok(self, recs[1], 200)
        self.assertEqual(recs[1]["attempts"], 2)
        self.assertEqual([e.method for e in SRV.requests_for("/flaky?key=p2")], ["POST", "POST"])
        self.assertEqual([e.body for e in SRV.requests_for("/flaky?key=p2")], [b"x", b"x"])

    def test_retry_after_pauses_the_origin_only(self):
        """A 429 with Retry-After: 2 holds every request to that origin for 2 s,
        while another origin in the same run goes on and finishes first."""
        SRV.reset()
        SRV2.reset()
        a = [SRV.url("/flaky?key=ra&fails=1&code=429&retry_after=2")]
        a += [SRV.url("/slow?ms=100&a=%d" % i) for i in range(4)]
        b = [SRV2.url("/slow?ms=100&b=%d" % i) for i in range(10)]
        recs, _ = self.run_fetch(a + b, "--retry", "2", "-c", "2", code=0)
        for line in recs:
            check_ok(self, recs[line], 200)
        self.assertEqual(recs[1]["attempts"], 2)
        first, second = SRV.requests_for("/flaky?key=ra")
        self.assertGreaterEqual(second.time - first.time, 1.9)
        # nothing went to the paused origin before the pause ended
        # (what was sent with the first attempt, in the same loop turn, is not "during")
        during = [e for e in SRV.log if first.time + 0.2 < e.time < first.time + 1.9]
        self.assertEqual(during, [], "requests sent to a paused origin")
        # -c 2: the waiting requests held no slot, so the other origin's 10
        # requests (0.1 s each) all ran during the pause
        b_times = [e.time for e in SRV2.log]
        self.assertEqual(len(b_times), 10)
        self.assertLess(max(b_times), second.time, "the other origin waited for the pause")

    def test_retry_after_http_date(self):
        SRV.reset()
        when = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 3))
        recs, _ = self.run_fetch([SRV.url("/flaky?key=rd&fails=1&code=503&retry_after=" + q(when))],
                                 "--retry", "1", code=0)
        check_ok(self, recs[1], 200)
        first, second = SRV.requests_for("/flaky?key=rd")
        self.assertGreaterEqual(second.time - first.time, 1.0)  # an HTTP-date has 1 s resolution
        self.assertLess(second.time - first.time, 4.5)

    def test_retry_after_beyond_retry_max_time_ends_the_retries(self):
        SRV.reset()
        t0 = time.monotonic()
        recs, _ = self.run_fetch([SRV.url("/flaky?key=rm&fails=1&code=429&retry_after=30"), SRV.url("/ok")],
                                 "--retry", "3", "--retry-max-time", "5", code=0)
        check_ok(self, recs[1], 429)
        self.assertEqual(recs[1]["attempts"], 1)
        check_ok(self, recs[2], 200)
        self.assertLess(time.monotonic() - t0, 10)


# ---------------------------------------------------------------------------
class HostRate(Base):
    def test_one_throttled_origin_another_free(self):
        """--host-rate 127.0.0.1:PORT=5: that origin's requests start 200 ms
        apart; the other origin, listed after it, is done long before."""
        SRV.reset()
        SRV2.reset()
        a = [SRV.url("/ok?a=%d" % i) for i in range(8)]
        b = [SRV2.url("/ok?b=%d" % i) for i in range(20)]
        recs, res = self.run_fetch(a + b, "-c", "4", "--host-rate", "127.0.0.1:%d=5" % SRV.port, code=0)
        for line in recs:
            check_ok(self, recs[line], 200)
        times = sorted(e.time for e in SRV.log)
        gaps = [t1 - t0 for t0, t1 in zip(times, times[1:])]
        self.assertEqual(len(times), 8)
        # evenly spaced, no burst (the server's clock: its threads may log a
        # request a little late under load, so the bound is loose)
        self.assertGreaterEqual(min(gaps), 0.12, "spacing %s" % gaps)
        self.assertGreaterEqual(times[-1] - times[0], 7 * 0.2 - 0.02)
        self.assertLess(times[-1] - times[0], 7 * 0.2 + 1.0)
        b_times = [e.time for e in SRV2.log]
        self.assertLess(max(b_times), times[2], "the free origin waited behind the throttled one")
        self.assertIn("waited for their host", res.stderr)

    def test_rate_for_every_origin(self):
        SRV.reset()
        SRV2.reset()
        urls = [s.url("/ok?i=%d" % i) for i in range(5) for s in (SRV, SRV2)]
        recs, _ = self.run_fetch(urls, "--host-rate", "10", code=0)
        for srv in (SRV, SRV2):
            times = sorted(e.time for e in srv.log)
            self.assertGreaterEqual(min(t1 - t0 for t0, t1 in zip(times, times[1:])), 0.05)
            self.assertGreaterEqual(times[-1] - times[0], 0.38)
        # both origins in parallel: about 0.4 s, not 0.9
        both = sorted(e.time for e in SRV.log + SRV2.log)
        self.assertLess(both[-1] - both[0], 0.85)

    def test_bench_takes_the_same_flag(self):
        SRV.reset()
        res = harness.run(["bench", "-c", "4", "-d", "1s", "--host-rate", "20", SRV.url("/ok")], parse=False,
                          timeout=30)
        self.assertEqual(res.code, 0, res.describe())
        n = len(SRV.log)
        # 20 in the second, and those already waiting when it ends (-c 4)
        self.assertGreaterEqual(n, 15)
        self.assertLessEqual(n, 28, "bench sent %d requests at --host-rate 20 in 1 s" % n)

    def test_bad_values(self):
        for bad in ("0", "-1", "x", "host=", "=5", "host:0=5", "host:70000=5", "[::1=5"):
            with self.subTest(value=bad):
                res = harness.run(["fetch", "--host-rate", bad, SRV.url("/ok")], parse=False)
                self.assertEqual(res.code, 2, res.describe())
                self.assertIn("--host-rate", res.stderr)


# ---------------------------------------------------------------------------
class ManyHosts(Base):
    def test_reuse_across_more_hosts_than_concurrency(self):
        """200 host names x 5 URLs, interleaved, at -c 50: every host's next URL
        finds its connection still open (idle connections have their own
        budget), so nginx sees about one connection per host."""
        env = harness.env()
        hosts = ["h%d.crawl.test" % i for i in range(200)]
        port = env.ports["https"]
        resolve = []
        for h in hosts:
            resolve += ["--resolve", "%s:%d:127.0.0.1" % (h, port)]
        urls = ["https://%s:%d/small?r=%d" % (h, port, r) for r in range(5) for h in hosts]
        with harness.ServerCounter(env) as sc:
            recs, res = self.run_fetch(urls, "-c", "50", *resolve, timeout=120, code=0)
        for line in recs:
            check_ok(self, recs[line], 200, env.small_sha, harness.SMALL_SIZE)
        reused = sum(1 for r in recs.values() if r["reused"])
        self.assertEqual(sc.requests, 1000)
        self.assertGreaterEqual(reused, 780, "only %d of 1000 requests reused a connection" % reused)
        self.assertLessEqual(sc.connections, 220, "nginx saw %d connections for 200 hosts" % sc.connections)
        # --max-idle bounds the pool: with 20 idle connections for 200 hosts, few survive
        with harness.ServerCounter(env) as sc:
            recs, res = self.run_fetch(urls[:400], "-c", "50", "--max-idle", "20", *resolve, timeout=120,
                                       code=0)
        reused = sum(1 for r in recs.values() if r["reused"])
        self.assertLess(reused, 100, "%d of 400 reused with --max-idle 20" % reused)
        self.assertGreater(sc.connections, 300)


# ---------------------------------------------------------------------------
class Library(Base):
    def test_through_the_library(self):
        client = os.environ.get("RF_LIB_CLIENT")
        self.assertTrue(client, "RF_LIB_CLIENT is not set (run through ctest)")
        SRV.reset()
        p = subprocess.run([client, "crawl", SRV.url("/chain/2"), SRV.url("/chain/0"),
                            SRV.url("/flaky?key=lib&fails=1"), "127.0.0.1:%d" % SRV2.port, SRV2.url("/ok")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
                           env=harness.child_env(extra={"RF_CA_FILE": harness.env().ca_file}))
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        self.assertEqual(SRV.hits("flaky", "lib"), 2)


if __name__ == "__main__":
    harness.main()
