#!/usr/bin/env python3
"""ringfetch fetch: bodies, hashes, headers, timings, methods (plain HTTP and HTTPS)."""

import hashlib
import os
import tempfile
import unittest

import harness
from harness import check_ok, check_lines

SERVERS = ("http", "https")


def setUpModule():
    harness.start()


def tearDownModule():
    harness.stop()


class Fetch(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = harness.env()

    def fetch(self, *args, **kw):
        return harness.run(["fetch", "--cacert", self.env.ca_file] + list(args), **kw)

    def one(self, *args, expect_code=0, **kw):
        res = self.fetch(*args, **kw)
        self.assertEqual(res.code, expect_code, res.describe())
        self.assertEqual(len(res.records), 1, res.describe())
        return res.records[0]

    # 1 ------------------------------------------------------------------------
    def test_small(self):
        e = self.env
        for server in SERVERS:
            with self.subTest(server=server):
                url = e.url(server, "/small")
                r = self.one(url)
                check_ok(self, r, 200, e.small_sha, harness.SMALL_SIZE)
                self.assertEqual(r["url"], url)
                self.assertEqual(r["line"], 1)
                self.assertIs(r["reused"], False, "first request cannot be on a kept-alive connection")
                self.assertEqual(r["headers"].get("content-length"), "1024", r)
                self.assertEqual(r["headers"].get("content-type"), "application/octet-stream", r)
                t = r["timings_us"]
                for k in harness.TIMING_FIELDS:
                    self.assertIn(k, t, r)
                    self.assertTrue(t[k] is None or (isinstance(t[k], int) and t[k] >= 0), r)
                self.assertGreater(t["total"], 0, r)
                self.assertGreater(t["connect"] or 0, 0, "fresh connection, connect time: %r" % r)
                self.assertGreater(t["ttfb"] or 0, 0, r)
                for k in ("dns", "connect", "tls", "ttfb"):
                    self.assertLessEqual(t[k] or 0, t["total"], "phase %s longer than total: %r" % (k, r))
                if server == "https":
                    self.assertGreater(t["tls"] or 0, 0, "https must have a TLS handshake time: %r" % r)
                else:
                    self.assertIn(t["tls"], (0, None), "plain http has no TLS time: %r" % r)

    # 2 ------------------------------------------------------------------------
    def test_chunked(self):
        e = self.env
        for server in SERVERS:
            with self.subTest(server=server):
                status, headers, body = e.fetch(server, "/chunked")  # reference: http.client
                self.assertEqual(headers.get("transfer-encoding"), "chunked",
                                 "the test server must send /chunked chunked")
                self.assertEqual(status, 200)
                r = self.one(e.url(server, "/chunked"))
                check_ok(self, r, 200, harness.sha256_hex(body), len(body))

    # 3 ------------------------------------------------------------------------
    def test_404_is_a_transport_success(self):
        e = self.env
        for server in SERVERS:
            with self.subTest(server=server):
                r = self.one(e.url(server, "/no/such/thing"), expect_code=0)
                check_ok(self, r, 404)
                self.assertGreater(r["body_bytes"], 0, r)

    # 5 ------------------------------------------------------------------------
    def test_big_body_hashed(self):
        e = self.env
        urls = [e.url(s, "/big") for s in SERVERS]
        res = self.fetch("-c", "2", *urls, timeout=120)
        self.assertEqual(res.code, 0, res.describe())
        by_line = check_lines(self, res.records, 2)
        for i, url in enumerate(urls, 1):
            r = by_line[i]
            self.assertEqual(r["url"], url)
            check_ok(self, r, 200, e.big_sha, harness.BIG_SIZE)

    def test_big_body_to_body_dir(self):
        e = self.env
        urls = [e.url(s, "/big") for s in SERVERS]
        with tempfile.TemporaryDirectory(dir=e.dir) as body_dir:
            res = self.fetch("-c", "2", "--body-dir", body_dir, *urls, timeout=120)
            self.assertEqual(res.code, 0, res.describe())
            by_line = check_lines(self, res.records, 2)
            paths = set()
            for i, url in enumerate(urls, 1):
                r = by_line[i]
                check_ok(self, r, 200, e.big_sha, harness.BIG_SIZE)
                self.assertIsInstance(r.get("body_file"), str, "record lacks body_file: %r" % r)
                path = os.path.realpath(os.path.join(e.workdir, r["body_file"]))
                self.assertTrue(path.startswith(os.path.realpath(body_dir) + os.sep),
                                "body_file %r is not inside --body-dir %r" % (path, body_dir))
                self.assertTrue(os.path.isfile(path), r)
                self.assertEqual(os.path.getsize(path), harness.BIG_SIZE, r)
                self.assertEqual(harness.sha256_file(path), e.big_sha, r)
                paths.add(path)
            self.assertEqual(len(paths), 2, "each body needs its own file")

    # 14 -----------------------------------------------------------------------
    def test_head(self):
        e = self.env
        for server in SERVERS:
            with self.subTest(server=server):
                r = self.one("-X", "HEAD", e.url(server, "/small"))
                check_ok(self, r, 200)
                self.assertEqual(r["body_bytes"], 0, r)
                self.assertEqual(r["headers"].get("content-length"), "1024", r)

    def test_post_body(self):
        e = self.env
        for server in SERVERS:
            with self.subTest(server=server):
                r = self.one("-X", "POST", "-d", "hello", e.url(server, "/echo"))
                check_ok(self, r, 200, hashlib.sha256(b"hello").hexdigest(), 5)

    def test_post_body_single_url_mode(self):
        e = self.env
        res = harness.run(["--cacert", e.ca_file, "-X", "POST", "-d", "hello", e.url("https", "/echo")],
                          parse=False)
        self.assertEqual(res.code, 0, res.describe())
        self.assertEqual(res.stdout, b"hello")

    def test_data_implies_post(self):
        # like curl: -d without -X sends a POST
        r = self.one("-d", "hello", self.env.url("http", "/reqinfo"))
        check_ok(self, r, 200, hashlib.sha256(b"POST \n").hexdigest())

    def test_request_header(self):
        e = self.env
        r = self.one("-H", "X-Test: abc", e.url("https", "/reqinfo"))
        check_ok(self, r, 200, hashlib.sha256(b"GET abc\n").hexdigest(), 8)
        res = harness.run(["-H", "X-Test: abc", e.url("http", "/reqinfo")], parse=False)
        self.assertEqual((res.code, res.stdout), (0, b"GET abc\n"), res.describe())

    def test_localhost_from_hosts_file(self):
        # /etc/hosts maps localhost (the good certificate names it too)
        e = self.env
        for server in SERVERS:
            with self.subTest(server=server):
                r = self.one(e.url(server, "/small", host="localhost"))
                check_ok(self, r, 200, e.small_sha, harness.SMALL_SIZE)


if __name__ == "__main__":
    harness.main()
