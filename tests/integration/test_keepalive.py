#!/usr/bin/env python3
"""Connection reuse, checked on both sides: ringfetch's `reused` flags and
nginx's own connection/request counters (stub_status)."""

import unittest

import harness
from harness import check_ok, check_lines


def setUpModule():
    harness.start()


def tearDownModule():
    harness.stop()


class KeepAlive(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = harness.env()

    def run_counted(self, urls, *opts):
        e = self.env
        with harness.ServerCounter(e) as sc:
            res = harness.run(["fetch", "--cacert", e.ca_file, "-i", "-"] + list(opts),
                              stdin="".join(u + "\n" for u in urls), timeout=60)
        self.assertEqual(res.code, 0, res.describe())
        by_line = check_lines(self, res.records, len(urls))
        for i, url in enumerate(urls, 1):
            self.assertEqual(by_line[i]["url"], url)
            check_ok(self, by_line[i], 200, e.small_sha, harness.SMALL_SIZE)
        return res, sc

    # 4 ------------------------------------------------------------------------
    def test_reuse_50_requests_c4(self):
        for server in ("http", "https"):
            with self.subTest(server=server):
                urls = [self.env.url(server, "/small?i=%d" % i) for i in range(50)]
                res, sc = self.run_counted(urls, "-c", "4")
                reused = sum(1 for r in res.records if r["reused"])
                self.assertGreaterEqual(reused, 40, "only %d of 50 requests reused a connection" % reused)
                self.assertEqual(sc.requests, 50, "nginx saw %d requests" % sc.requests)
                self.assertLess(sc.connections, sc.requests)
                self.assertLessEqual(sc.connections, 50 - 40,
                                     "nginx saw %d connections for 50 requests at -c 4" % sc.connections)
                # a fresh connection is never reported as reused, so nginx saw
                # at least as many connections as there are non-reused records
                self.assertGreaterEqual(sc.connections, 50 - reused)

    def test_per_host_limits_connections(self):
        urls = [self.env.url("http", "/small?p=%d" % i) for i in range(20)]
        res, sc = self.run_counted(urls, "-c", "8", "--per-host", "2")
        self.assertEqual(sc.requests, 20)
        self.assertLessEqual(sc.connections, 2, "--per-host 2 but nginx saw %d connections" % sc.connections)
        self.assertGreaterEqual(sum(1 for r in res.records if r["reused"]), 18)

    def test_tls_sessions_resume_on_new_connections(self):
        # "Connection: close" makes nginx close after every response: each
        # request needs a new TLS connection. The first connection's ticket
        # is waited for, so only it does a full handshake (a cache of 4
        # tickets per origin once resumed 13% here at -c 100)
        n, c = 300, 100
        urls = [self.env.url("https", "/small?t=%d" % i) for i in range(n)]
        res, sc = self.run_counted(urls, "-c", str(c), "-H", "Connection: close")
        self.assertEqual(sc.requests, n)
        self.assertEqual(sc.connections, n, "nginx saw %d connections" % sc.connections)
        resumed = sum(1 for r in res.records if r["tls_resumed"])
        self.assertGreaterEqual(resumed, n - 3, "only %d of %d new TLS connections resumed" % (resumed, n))
        self.assertTrue(all(r["timings_us"]["tls"] > 0 for r in res.records))
        self.assertIn("%d TLS handshakes (%d resumed)" % (n, resumed), res.stderr)
        # --no-tls-warmup: the whole first wave goes at once, without tickets
        res, sc = self.run_counted(urls, "-c", str(c), "-H", "Connection: close", "--no-tls-warmup")
        resumed = sum(1 for r in res.records if r["tls_resumed"])
        self.assertLessEqual(resumed, n - c + 10, "the first wave resumed: %d of %d" % (resumed, n))
        self.assertGreaterEqual(resumed, n - c - 20, "only %d of %d resumed" % (resumed, n))


if __name__ == "__main__":
    harness.main()
