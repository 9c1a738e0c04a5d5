#!/usr/bin/env python3
"""The command line: exit codes, usage errors, output options, the summary,
input numbering and order, and single-URL (curl-like) mode."""

import os
import tempfile
import unittest

import harness
from harness import check_ok, check_error, check_lines


def setUpModule():
    harness.start()


def tearDownModule():
    harness.stop()


class ExitCodes(unittest.TestCase):
    # 12 -----------------------------------------------------------------------
    def test_all_ok_exits_0(self):
        e = harness.env()
        res = harness.run(["fetch", "--cacert", e.ca_file, e.url("http", "/small"), e.url("https", "/small")])
        self.assertEqual(res.code, 0, res.describe())
        self.assertEqual(len(res.records), 2)

    def test_some_failed_exits_1(self):
        e = harness.env()
        res = harness.run(["fetch", e.url("http", "/small"), "http://127.0.0.1:%d/" % harness.refused_port()])
        self.assertEqual(res.code, 1, res.describe())
        self.assertEqual(len(res.records), 2)

    def test_usage_errors_exit_2(self):
        e = harness.env()
        url = e.url("http", "/small")
        cases = [
            ["fetch", "--no-such-option", url],
            ["fetch", "-c", "abc", url],
            ["fetch", "-c", "-5", url],
            ["fetch", "--connect-timeout", "soon", url],
            ["fetch", "--read-timeout", "1x", url],
            ["fetch", url, "-c"],  # option missing its value
            ["--no-such-option", url],
        ]
        for args in cases:
            with self.subTest(args=args):
                res = harness.run(args, parse=False, timeout=30)
                self.assertEqual(res.code, 2, res.describe())
                self.assertEqual(res.stdout, b"", "a usage error fetches nothing")
                self.assertTrue(res.stderr.strip(), "a usage error must say what is wrong")

    def test_decimal_seconds_accepted(self):
        e = harness.env()
        res = harness.run(["fetch", "--connect-timeout", "2.5", "--read-timeout", "0.75",
                           "--max-time", "10.0", e.url("http", "/small")])
        self.assertEqual(res.code, 0, res.describe())
        check_ok(self, res.records[0], 200, e.small_sha)


class Output(unittest.TestCase):
    def test_positional_lines_are_positions(self):
        e = harness.env()
        urls = [e.url("http", "/small?a=%d" % i) for i in range(5)] + [e.url("http", "/missing")]
        res = harness.run(["fetch"] + urls)
        self.assertEqual(res.code, 0, res.describe())
        by_line = check_lines(self, res.records, len(urls))
        for i, url in enumerate(urls, 1):
            self.assertEqual(by_line[i]["url"], url)
        self.assertEqual(by_line[6]["status"], 404)

    def test_completion_order(self):
        # line 1 waits for a 1 s read timeout, line 2 answers at once: line 2 comes first
        e = harness.env()
        urls = ["http://127.0.0.1:%d/" % harness.silent_listener(), e.url("http", "/small")]
        res = harness.run(["fetch", "-c", "2", "--read-timeout", "1"] + urls, timeout=30)
        self.assertEqual([r["line"] for r in res.records], [2, 1], res.describe())
        check_error(self, res.records[1], "read_timeout")

    def test_output_file(self):
        e = harness.env()
        with tempfile.TemporaryDirectory(dir=e.dir) as d:
            out = os.path.join(d, "out.jsonl")
            res = harness.run(["fetch", "-o", out, e.url("http", "/small"), e.url("http", "/nope")])
            self.assertEqual(res.code, 0, res.describe())
            self.assertEqual(res.records, [], "with -o nothing goes to stdout")
            recs = harness.read_jsonl(out)
            by_line = check_lines(self, recs, 2)
            check_ok(self, by_line[1], 200, e.small_sha)
            check_ok(self, by_line[2], 404)

    def test_summary_on_stderr_unless_quiet(self):
        e = harness.env()
        urls = [e.url("http", "/small?s=%d" % i) for i in range(3)]
        res = harness.run(["fetch"] + urls)
        self.assertEqual(res.code, 0, res.describe())
        lines = [l for l in res.stderr.splitlines() if l.strip()]
        # the summary: the counts first, then concurrency and time per phase
        self.assertEqual(len(lines), 3, "expected a three-line summary, got %r" % res.stderr)
        self.assertTrue(all(l.startswith("ringfetch: ") for l in lines), res.stderr)
        self.assertRegex(lines[0], r"\b3 requests, 3 ok, 0 failed\b", "the summary should count the 3 requests")
        self.assertIn("concurrency: achieved", lines[1])
        self.assertIn("time per phase:", lines[2])
        res = harness.run(["fetch", "-q"] + urls)
        self.assertEqual(res.code, 0, res.describe())
        self.assertEqual(len(res.records), 3)
        self.assertEqual(res.stderr, "", "-q: nothing on stderr for a clean run")


class SingleUrl(unittest.TestCase):
    # 13 -----------------------------------------------------------------------
    def test_prints_body(self):
        e = harness.env()
        for server in ("http", "https"):
            with self.subTest(server=server):
                res = harness.run(["--cacert", e.ca_file, e.url(server, "/small")], parse=False)
                self.assertEqual(res.code, 0, res.describe())
                self.assertTrue(res.stdout == e.small_bytes,
                                "stdout is not the file (%d bytes)" % len(res.stdout))

    def test_big_body_to_stdout(self):
        e = harness.env()
        res = harness.run(["--cacert", e.ca_file, e.url("https", "/big")], parse=False, timeout=60)
        self.assertEqual(res.code, 0, res.describe())
        self.assertEqual(len(res.stdout), harness.BIG_SIZE)
        self.assertEqual(harness.sha256_hex(res.stdout), e.big_sha)

    def test_output_file(self):
        e = harness.env()
        with tempfile.TemporaryDirectory(dir=e.dir) as d:
            out = os.path.join(d, "small.bin")
            res = harness.run(["--cacert", e.ca_file, "-o", out, e.url("https", "/small")], parse=False)
            self.assertEqual(res.code, 0, res.describe())
            self.assertEqual(res.stdout, b"")
            with open(out, "rb") as f:
                self.assertTrue(f.read() == e.small_bytes, "-o file is not the body")

    def test_insecure_and_resolve(self):
        e = harness.env()
        port = e.ports["wronghost"]
        res = harness.run(["-k", "--resolve", "x.crawl.test:%d:127.0.0.1" % port,
                           "https://x.crawl.test:%d/small" % port], parse=False)
        self.assertEqual(res.code, 0, res.describe())
        self.assertTrue(res.stdout == e.small_bytes)

    def test_failure_is_nonzero_and_prints_nothing(self):
        res = harness.run(["http://127.0.0.1:%d/" % harness.refused_port()], parse=False, timeout=30)
        self.assertNotEqual(res.code, 0, res.describe())
        self.assertEqual(res.stdout, b"")
        self.assertTrue(res.stderr.strip(), "a failed fetch must say why on stderr")


if __name__ == "__main__":
    harness.main()
