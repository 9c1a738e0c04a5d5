#!/usr/bin/env python3
"""Failures: refused connections, timeouts, bad URLs. Each failure is one
record with a stable `error` kind, and does not disturb the other URLs."""

import os
import re
import resource
import unittest

import harness
from harness import check_ok, check_error, check_lines

TIME_LIMIT = 5.0  # seconds for a run whose only wait is a 1 s timeout


def setUpModule():
    harness.start()


def tearDownModule():
    harness.stop()


class Connect(unittest.TestCase):
    # 8 ------------------------------------------------------------------------
    def test_refused(self):
        e = harness.env()
        port = harness.refused_port()
        urls = ["http://127.0.0.1:%d/" % port, "https://127.0.0.1:%d/small" % port,
                e.url("http", "/small")]
        res = harness.run(["fetch", "--cacert", e.ca_file] + urls, timeout=30)
        self.assertEqual(res.code, 1, res.describe())
        by_line = check_lines(self, res.records, 3)
        for i in (1, 2):
            check_error(self, by_line[i], "connect_refused")
            self.assertIsNone(by_line[i]["status"], by_line[i])
            self.assertEqual(by_line[i]["url"], urls[i - 1])
        check_ok(self, by_line[3], 200, e.small_sha, harness.SMALL_SIZE)
        self.assertLess(res.elapsed, TIME_LIMIT)


class Timeouts(unittest.TestCase):
    # 9 ------------------------------------------------------------------------
    def timed(self, opts, urls, kinds, good_last=True, min_elapsed=0.9):
        e = harness.env()
        res = harness.run(["fetch", "--cacert", e.ca_file] + opts + urls, timeout=30)
        self.assertEqual(res.code, 1, res.describe())
        by_line = check_lines(self, res.records, len(urls))
        check_error(self, by_line[1], kinds)
        self.assertIsNone(by_line[1]["status"], by_line[1])
        if good_last:
            check_ok(self, by_line[len(urls)], 200, e.small_sha, harness.SMALL_SIZE)
        self.assertLess(res.elapsed, TIME_LIMIT, "run took %.2fs" % res.elapsed)
        self.assertGreater(res.elapsed, min_elapsed, "the timeout fired after %.2fs" % res.elapsed)
        return by_line

    def test_read_timeout_silent_listener(self):
        port = harness.silent_listener()
        self.timed(["--read-timeout", "1"],
                   ["http://127.0.0.1:%d/" % port, harness.env().url("http", "/small")],
                   "read_timeout")

    def test_max_time_silent_listener(self):
        port = harness.silent_listener()
        self.timed(["--max-time", "1"],
                   ["http://127.0.0.1:%d/" % port, harness.env().url("https", "/small")],
                   ("timeout", "read_timeout"))

    def test_connect_timeout_tls_handshake_unanswered(self):
        # TCP connects (the kernel completes it into the backlog) but the TLS
        # handshake gets no answer: the connect phase includes TLS, like curl.
        port = harness.silent_listener()
        self.timed(["--connect-timeout", "1"],
                   ["https://127.0.0.1:%d/" % port, harness.env().url("https", "/small")],
                   "connect_timeout")

    def test_a_host_that_never_answers_tls_does_not_serialise(self):
        # The first TLS connection to an origin warms its session cache while
        # the others wait; when it fails before its handshake does, the
        # others go at once. (They used to become warmers one after another:
        # 40 requests took 40 s.)
        port = harness.silent_listener(backlog=128)
        urls = "".join("https://127.0.0.1:%d/n%d\n" % (port, i) for i in range(40))
        res = harness.run(["fetch", "-c", "100", "--connect-timeout", "1", "-i", "-"], stdin=urls, timeout=60)
        by_line = check_lines(self, res.records, 40)
        for rec in by_line.values():
            check_error(self, rec, "connect_timeout")
        self.assertLess(res.elapsed, 4.0, "40 dead TLS handshakes took %.1f s" % res.elapsed)

    def test_read_timeout_slow_endpoint(self):
        e = harness.env()
        for server in ("http", "https"):
            with self.subTest(server=server):
                by_line = self.timed(["--read-timeout", "1"],
                                     [e.url(server, "/slow"), e.url(server, "/small")],
                                     "read_timeout")
                self.assertEqual(by_line[1]["url"], e.url(server, "/slow"))

    def test_decimal_timeout(self):
        # "decimals allowed, like curl": 0.5 s is neither 0 nor rounded up to 1
        port = harness.silent_listener()
        by_line = self.timed(["--read-timeout", "0.5"],
                             ["http://127.0.0.1:%d/" % port, harness.env().url("http", "/small")],
                             "read_timeout", min_elapsed=0.45)
        total = by_line[1]["timings_us"]["total"]
        self.assertGreaterEqual(total, 450000, by_line[1])
        self.assertLess(total, 950000, "a 0.5 s read timeout took %d us" % total)

    def test_slow_within_read_timeout_succeeds(self):
        # control: the same endpoint succeeds when the timeout is longer
        e = harness.env()
        res = harness.run(["fetch", "--read-timeout", "8", e.url("http", "/slow")], timeout=30)
        self.assertEqual(res.code, 0, res.describe())
        check_ok(self, res.records[0], 200, harness.sha256_hex(b"ok\n"), 3)


# 10 -------------------------------------------------------------------------
BAD_LINES = ["ftp://x/", "http://", "http://[::1", "http://a b/", "", "not a url",
             "http://host:99999/"]


class BadUrls(unittest.TestCase):
    def make_input(self):
        e = harness.env()
        good = [e.url("http", "/small?g=1"), e.url("https", "/small?g=2"),
                e.url("http", "/small?g=3"), e.url("https", "/small?g=4")]
        lines = [good[0], BAD_LINES[0], BAD_LINES[1], good[1], BAD_LINES[2], BAD_LINES[3],
                 BAD_LINES[4], good[2], BAD_LINES[5], BAD_LINES[6], good[3]]
        return lines, set(good)

    def check(self, res, lines, good):
        e = harness.env()
        self.assertEqual(res.code, 1, res.describe())
        self.assertEqual(res.stdout.count(b"\n"), len(lines), "one output line per input line")
        by_line = check_lines(self, res.records, len(lines))
        for i, text in enumerate(lines, 1):
            r = by_line[i]
            with self.subTest(line=i, text=text):
                if text in good:
                    check_ok(self, r, 200, e.small_sha, harness.SMALL_SIZE)
                    self.assertEqual(r["url"], text)
                else:
                    check_error(self, r, "bad_url")
                    self.assertIsNone(r["status"], r)
                    if text:
                        self.assertEqual(r["url"], text, "record should carry the input text")
                    else:
                        self.assertIn(r["url"], ("", None), r)

    def test_bad_urls_in_file(self):
        e = harness.env()
        lines, good = self.make_input()
        path = os.path.join(e.dir, "bad-input.txt")
        with open(path, "w") as f:
            f.write("".join(l + "\n" for l in lines))
        self.check(harness.run(["fetch", "--cacert", e.ca_file, "-i", path]), lines, good)

    def test_bad_urls_on_stdin(self):
        e = harness.env()
        lines, good = self.make_input()
        res = harness.run(["fetch", "--cacert", e.ca_file, "-i", "-"],
                          stdin="".join(l + "\n" for l in lines))
        self.check(res, lines, good)

    def test_bad_positional_url(self):
        e = harness.env()
        res = harness.run(["fetch", "ftp://x/", e.url("http", "/small")])
        self.assertEqual(res.code, 1, res.describe())
        by_line = check_lines(self, res.records, 2)
        check_error(self, by_line[1], "bad_url")
        check_ok(self, by_line[2], 200, e.small_sha, harness.SMALL_SIZE)



class Descriptors(unittest.TestCase):
    """A concurrency above what the open-files limit allows is capped with a
    warning, not refused: the run does all its requests at the most it can."""

    def test_concurrency_capped_to_the_open_files_limit(self):
        e = harness.env()
        n = 2000
        urls = "".join(e.url("http", "/small?n=%d" % i) + "\n" for i in range(n))
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))  # the child inherits it
        try:
            res = harness.run(["fetch", "-c", "1000", "-i", "-"], stdin=urls, timeout=60)
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        self.assertEqual(res.code, 0, res.describe())
        m = re.search(r"warning: -c 1000 is more than the open-files limit allows; using -c (\d+)", res.stderr)
        self.assertIsNotNone(m, res.stderr)
        cap = int(m.group(1))
        self.assertGreater(cap, 32)
        self.assertLess(cap, 256)
        by_line = check_lines(self, res.records, n)
        for rec in by_line.values():
            check_ok(self, rec, 200, e.small_sha, harness.SMALL_SIZE)
        peak = int(re.search(r"peak concurrency (\d+)", res.stderr).group(1))
        self.assertLessEqual(peak, cap)
        self.assertGreater(peak, 32, "the capped concurrency was not used")
        # within the limit: no warning
        res = harness.run(["fetch", "-c", "20", e.url("http", "/small")], timeout=30)
        self.assertNotIn("warning", res.stderr)

if __name__ == "__main__":
    harness.main()
