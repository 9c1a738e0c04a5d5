#!/usr/bin/env python3
"""Hostile servers: malformed, truncated, oversized, slow and lying responses
from a scripted in-process server (hostile_server.py). For each, what a user
notices: exactly one record per URL with the right `error` kind (or success
with the exact body), the exit code, and a bounded run time (no hang, no
crash). Needs only Python and $RINGFETCH (no nginx)."""

import os
import sys
import tempfile
import unittest

import harness
from harness import check_ok, check_error, check_lines, sha256_hex
import hostile_server as hs
from hostile_server import HostileServer

TIME_LIMIT = 5.0        # a run whose hostile URLs should all end at once
EMPTY_SHA = sha256_hex(b"")
# clean environment: the fallbacks are forced only where a test asks for them
DEFAULT_ENV = {"RINGFETCH_NO_DIRECT": None, "RINGFETCH_RING_FLAGS": None}

# RFC 9110 5.5: a NUL in a field value is rejected, or replaced by SP.
NUL_KINDS = ("bad_response", None)
# bare LF line endings: llhttp 8.1 may accept or refuse them; either, never a hang.
LF_KINDS = ("bad_response", None)


class HostileCase(unittest.TestCase):
    def setUp(self):
        self.srv = HostileServer().start()

    def tearDown(self):
        self.srv.stop()
        self.assertEqual(self.srv.errors, [], "the hostile server itself failed")

    def fetch(self, paths, opts=(), code=None, limit=TIME_LIMIT, env=None, srv=None):
        """Runs ringfetch fetch on the paths (positional URLs); checks one
        record per URL, each line once, the URLs, the exit code and the time.
        Returns (RunResult, {line: record})."""
        srv = srv or self.srv
        urls = [srv.url(p) for p in paths]
        run_env = dict(DEFAULT_ENV)
        run_env.update(env or {})
        res = harness.run(["fetch"] + list(opts) + urls, timeout=30, env=run_env)
        self.assertEqual(res.stdout.count(b"\n"), len(urls), res.describe())
        by_line = check_lines(self, res.records, len(urls))
        for i, u in enumerate(urls, 1):
            self.assertEqual(by_line[i]["url"], u, by_line[i])
        if code is not None:
            self.assertEqual(res.code, code, res.describe())
        self.assertLess(res.elapsed, limit, "run took %.2fs\n%s" % (res.elapsed, res.describe()))
        return res, by_line

    def assert_failed(self, rec, kinds):
        check_error(self, rec, kinds)
        self.assertIsNone(rec["body_sha256"], "body_sha256 must be null on failure: %r" % (rec,))

    def assert_body(self, rec, body, status=200):
        check_ok(self, rec, status, sha256_hex(body), len(body))


class Malformed(HostileCase):
    def test_ok_control(self):
        res, by_line = self.fetch(["/ok"], code=0)
        check_ok(self, by_line[1], 200, sha256_hex(hs.OK_BODY), len(hs.OK_BODY))
        self.assertIs(by_line[1]["reused"], False)
        self.assertEqual(self.srv.connections, 1)
        self.assertEqual(self.srv.requests_for("/ok"), 1)

    def test_garbage(self):
        res, by_line = self.fetch(["/garbage", "/ok"], code=1)
        self.assert_failed(by_line[1], "bad_response")
        self.assertIsNone(by_line[1]["status"], by_line[1])
        self.assert_body(by_line[2], hs.OK_BODY)

    def test_bad_status(self):
        paths = ["/bad-status?v=%d" % i for i in range(len(hs.BAD_STATUS_LINES))]
        res, by_line = self.fetch(paths, code=1)
        for i, line in enumerate(hs.BAD_STATUS_LINES, 1):
            with self.subTest(status_line=line):
                self.assert_failed(by_line[i], "bad_response")
                self.assertIsNone(by_line[i]["status"], by_line[i])

    def test_bad_framing(self):
        paths = ["/bad-framing?v=%d" % i for i in range(len(hs.BAD_FRAMINGS))]
        res, by_line = self.fetch(paths, code=1)
        for i, wire in enumerate(hs.BAD_FRAMINGS, 1):
            with self.subTest(response=wire[:80]):
                self.assert_failed(by_line[i], "bad_response")

    def test_truncated_content_length(self):
        # on a reused connection, so a (wrong) retry would show on the server
        res, by_line = self.fetch(["/ok", "/truncated-cl"], ["-c", "1", "--per-host", "1"], code=1)
        self.assert_body(by_line[1], hs.OK_BODY)
        self.assert_failed(by_line[2], "closed")
        self.assertEqual(self.srv.requests_for("/truncated-cl"), 1,
                         "a request whose response had started must not be retried")

    def test_truncated_chunked(self):
        res, by_line = self.fetch(["/truncated-chunked"], code=1)
        self.assert_failed(by_line[1], "closed")

    def test_bad_chunk_size(self):
        res, by_line = self.fetch(["/bad-chunk"], code=1)
        self.assert_failed(by_line[1], "bad_response")

    def test_close_delimited(self):
        res, by_line = self.fetch(["/close-delimited", "/close-delimited?v=11"], code=0)
        for i in (1, 2):
            self.assert_body(by_line[i], hs.CLOSE_BODY)
        self.assertEqual(self.srv.connections, 2)

    def test_101_unrequested(self):
        res, by_line = self.fetch(["/101", "/ok"], ["-c", "1", "--per-host", "1"], code=1)
        self.assert_failed(by_line[1], "bad_response")
        self.assertIsNone(by_line[1]["status"], by_line[1])
        self.assert_body(by_line[2], hs.OK_BODY)
        self.assertIs(by_line[2]["reused"], False, "a connection that sent 101 cannot be reused")
        self.assertEqual(self.srv.connections, 2)

    def test_nul_in_header(self):
        res, by_line = self.fetch(["/nul-in-header"], ["--all-headers"])
        r = by_line[1]
        self.assertIn(r.get("error"), NUL_KINDS, r)
        if r["error"] is None:
            self.assertEqual(res.code, 0, res.describe())
            self.assert_body(r, b"ok")
            self.assertNotIn("\x00", r["headers"].get("x-nul", ""), r)
        else:
            self.assertEqual(res.code, 1, res.describe())
            self.assert_failed(r, "bad_response")

    def test_lf_only(self):
        res, by_line = self.fetch(["/lf-only"])
        r = by_line[1]
        self.assertIn(r.get("error"), LF_KINDS, r)
        if r["error"] is None:
            self.assertEqual(res.code, 0, res.describe())
            self.assert_body(r, hs.LF_BODY)
        else:
            self.assertEqual(res.code, 1, res.describe())
            self.assert_failed(r, "bad_response")
        print("\n/lf-only: %s" % (r["error"] or "success"), file=sys.stderr)


class Closing(HostileCase):
    def test_early_close(self):
        res, by_line = self.fetch(["/early-close"], code=1)
        self.assert_failed(by_line[1], "closed")
        self.assertIsNone(by_line[1]["status"], by_line[1])
        # a fresh connection closed on us: no retry
        self.assertEqual(self.srv.connections, 1)
        self.assertEqual(self.srv.requests_for("/early-close"), 1)

    def test_reset(self):
        res, by_line = self.fetch(["/reset"], code=1)
        self.assert_failed(by_line[1], "reset")
        self.assertIsNone(by_line[1]["status"], by_line[1])
        self.assertEqual(self.srv.connections, 1)
        self.assertEqual(self.srv.requests_for("/reset"), 1)

    def test_stale_keepalive_retried_once(self):
        for drop in ("close", "reset"):
            with self.subTest(drop=drop):
                srv = HostileServer().start()
                try:
                    paths = ["/stale-keepalive?a&drop=%s" % drop, "/stale-keepalive?b"]
                    res, by_line = self.fetch(paths, ["-c", "1", "--per-host", "1"], code=0, srv=srv)
                    for i, p in enumerate(paths, 1):
                        self.assert_body(by_line[i], hs.stale_body(p))
                    self.assertIs(by_line[1]["reused"], False, by_line[1])
                    # b was answered on the new connection
                    self.assertIs(by_line[2]["reused"], False, by_line[2])
                    # conn 1: a, b (dropped); conn 2: b again
                    conns, reqs, log = srv.snapshot()
                    self.assertEqual(conns, 2, log)
                    self.assertEqual(reqs.get("/stale-keepalive"), 3, log)
                    self.assertEqual([(c, t) for c, _, t in log],
                                     [(1, paths[0]), (1, paths[1]), (2, paths[1])])
                finally:
                    srv.stop()
                    self.assertEqual(srv.errors, [])

    def test_retry_goes_to_a_new_connection(self):
        # two kept-alive connections that both drop their next request (after
        # 0.3 s, so both are idle by then). /ok lands on one of them; its one
        # retry must go on a NEW connection, not on the other stale one.
        paths = ["/stale-keepalive?a&dropdelay=0.3", "/stale-keepalive?b&dropdelay=0.3", "/ok"]
        res, by_line = self.fetch(paths, ["-c", "2", "--per-host", "2"])
        conns, reqs, log = self.srv.snapshot()
        self.assert_body(by_line[1], hs.stale_body(paths[0]))
        self.assert_body(by_line[2], hs.stale_body(paths[1]))
        try:
            self.assert_body(by_line[3], hs.OK_BODY)
        except AssertionError as e:
            raise AssertionError("%s\nserver saw (connection, method, target): %r" % (e, log))
        self.assertEqual(res.code, 0, res.describe())
        self.assertIs(by_line[3]["reused"], False, by_line[3])
        self.assertEqual(reqs.get("/ok"), 2, log)
        self.assertEqual(conns, 3, log)
        ok_conns = [c for c, _, t in log if t == "/ok"]
        self.assertEqual(ok_conns[1], 3, "the retry went on connection %d, not a new one: %r"
                         % (ok_conns[1], log))

    def test_retry_is_bounded(self):
        # /early-close on a reused connection looks stale: one retry on a new
        # connection, which is closed too; then the request fails
        res, by_line = self.fetch(["/ok", "/early-close", "/ok?after"],
                                  ["-c", "1", "--per-host", "1"], code=1)
        self.assert_body(by_line[1], hs.OK_BODY)
        self.assert_failed(by_line[2], "closed")
        self.assert_body(by_line[3], hs.OK_BODY)
        self.assertEqual(self.srv.requests_for("/early-close"), 2, self.srv.log)

    def test_extra_bytes_not_reused(self):
        res, by_line = self.fetch(["/extra-bytes", "/ok"], ["-c", "1", "--per-host", "1"], code=0)
        self.assert_body(by_line[1], hs.EXTRA_BODY)
        self.assert_body(by_line[2], hs.OK_BODY)
        self.assertIs(by_line[2]["reused"], False,
                      "a connection with bytes after the response must not be reused")
        conns, reqs, log = self.srv.snapshot()
        self.assertEqual(conns, 2, log)
        self.assertEqual([(c, t) for c, _, t in log], [(1, "/extra-bytes"), (2, "/ok")])


class Oversized(HostileCase):
    def check_too_large(self, path):
        res, by_line = self.fetch([path, "/ok"], code=1)
        self.assert_failed(by_line[1], "too_large")
        self.assert_body(by_line[2], hs.OK_BODY)

    def test_huge_headers(self):
        self.check_too_large("/huge-headers")

    def test_many_headers(self):
        self.check_too_large("/many-headers")

    def test_big_header_value(self):
        self.check_too_large("/big-header-value")


class NoBodyStatus(HostileCase):
    def check_then_ok(self, path, status):
        # the Content-Length of a 304/204 announces no body: the next response
        # on the same connection parses (with a wrong parser, /ok's bytes would
        # be eaten as the body, or the read timeout would end the 304/204)
        res, by_line = self.fetch([path, "/ok"],
                                  ["-c", "1", "--per-host", "1", "--read-timeout", "3"],
                                  code=0, limit=2.5)
        check_ok(self, by_line[1], status, EMPTY_SHA, 0)
        self.assert_body(by_line[2], hs.OK_BODY)
        self.assertIs(by_line[1]["reused"], False)
        self.assertIs(by_line[2]["reused"], True, "the connection should be reused: %r" % by_line[2])
        conns, reqs, log = self.srv.snapshot()
        self.assertEqual(conns, 1, log)
        self.assertEqual([(c, t) for c, _, t in log], [(1, path), (1, "/ok")])

    def test_304_with_content_length(self):
        self.check_then_ok("/304-with-cl", 304)

    def test_204_with_content_length(self):
        self.check_then_ok("/204-with-cl", 204)


class Interim(HostileCase):
    def test_100_continue(self):
        res, by_line = self.fetch(["/100-continue", "/100-continue?v=103"], ["--all-headers"], code=0)
        for i in (1, 2):
            r = by_line[i]
            self.assert_body(r, hs.CONTINUE_BODY)
            self.assertEqual(r["headers"].get("x-final"), "yes", r)
            # headers are the final response's, not the interim ones'
            self.assertNotIn("x-interim", r["headers"], r)
            self.assertNotIn("link", r["headers"], r)


class Slow(HostileCase):
    def test_slowloris(self):
        # a byte every 0.5 s: the 1 s read timeout never fires, the 2 s total does
        res, by_line = self.fetch(["/slowloris"], ["--read-timeout", "1", "--max-time", "2"],
                                  code=1, limit=4.0)
        r = by_line[1]
        self.assert_failed(r, "timeout")
        self.assertGreater(res.elapsed, 1.9, res.describe())
        self.assertGreaterEqual(r["timings_us"]["total"], 1900000, r)
        self.assertGreaterEqual(self.srv.slowloris_bytes, 3, "the server was dribbling bytes")

    def test_split_one_byte_per_send(self):
        res, by_line = self.fetch(["/split"], ["--read-timeout", "2"], code=0, limit=10.0)
        self.assert_body(by_line[1], hs.SPLIT_BODY)
        self.assertEqual(self.srv.requests_for("/split"), 1)


# ---------------------------------------------------------------------------
# Everything at once, with the engine's fallbacks forced
# ---------------------------------------------------------------------------
# path -> expected error kind(s), or (status, body) for success
COMBINED = [
    ("/ok", (200, hs.OK_BODY)),
    ("/garbage", "bad_response"),
    ("/bad-status", "bad_response"),
    ("/bad-status?v=2", "bad_response"),
    ("/bad-framing", "bad_response"),
    ("/truncated-cl", "closed"),
    ("/truncated-chunked", "closed"),
    ("/bad-chunk", "bad_response"),
    ("/close-delimited", (200, hs.CLOSE_BODY)),
    ("/early-close", "closed"),
    ("/reset", "reset"),
    ("/huge-headers", "too_large"),
    ("/many-headers", "too_large"),
    ("/304-with-cl", (304, b"")),
    ("/204-with-cl", (204, b"")),
    ("/100-continue", (200, hs.CONTINUE_BODY)),
    ("/101", "bad_response"),
    ("/slowloris", "timeout"),
    ("/stale-keepalive?a", (200, hs.stale_body("/stale-keepalive?a"))),
    ("/stale-keepalive?b", (200, hs.stale_body("/stale-keepalive?b"))),
    ("/extra-bytes", (200, hs.EXTRA_BODY)),
    ("/big-header-value", "too_large"),
    ("/nul-in-header", NUL_KINDS),
    ("/lf-only", LF_KINDS),
    ("/split", (200, hs.SPLIT_BODY)),
    ("/ok?last", (200, hs.OK_BODY)),
]

FALLBACKS = (
    ("default", {}),
    ("RINGFETCH_NO_DIRECT=1", {"RINGFETCH_NO_DIRECT": "1"}),
    ("RINGFETCH_RING_FLAGS=0", {"RINGFETCH_RING_FLAGS": "0"}),
    ("both", {"RINGFETCH_NO_DIRECT": "1", "RINGFETCH_RING_FLAGS": "0"}),
)


class Combined(unittest.TestCase):
    def run_all(self, env):
        srv = HostileServer().start()
        try:
            with tempfile.TemporaryDirectory(prefix="ringfetch-hostile-") as d:
                path = os.path.join(d, "urls.txt")
                urls = [srv.url(p) for p, _ in COMBINED]
                with open(path, "w") as f:
                    f.write("".join(u + "\n" for u in urls))
                run_env = dict(DEFAULT_ENV)
                run_env.update(env)
                res = harness.run(["fetch", "-c", "8", "--read-timeout", "1", "--max-time", "2",
                                   "-i", path], timeout=30, env=run_env)
        finally:
            srv.stop()
        self.assertEqual(srv.errors, [])
        log = [(c, t) for c, _, t in srv.snapshot()[2]]
        self.assertEqual(res.code, 1, res.describe())
        self.assertEqual(res.stdout.count(b"\n"), len(COMBINED), res.describe())
        by_line = check_lines(self, res.records, len(COMBINED))
        self.assertLess(res.elapsed, 8.0, res.describe())
        kinds = {}
        for i, (p, want) in enumerate(COMBINED, 1):
            r = by_line[i]
            with self.subTest(path=p):
                self.assertEqual(r["url"], urls[i - 1], r)
                try:
                    if isinstance(want, tuple) and len(want) == 2 and isinstance(want[0], int):
                        status, body = want
                        check_ok(self, r, status, sha256_hex(body), len(body))
                    else:
                        self.assertIn(r.get("error"), (want,) if isinstance(want, str) else want, r)
                        if r.get("error") is not None:
                            self.assertIsNone(r["body_sha256"], r)
                except AssertionError as e:
                    raise AssertionError("%s\nserver saw (connection, target): %r" % (e, log))
            kinds[p] = r.get("error")
        return kinds

    def test_all_at_once_and_fallbacks(self):
        results = {}
        for name, env in FALLBACKS:
            with self.subTest(engine=name):
                results[name] = self.run_all(env)
        base = results.get("default")
        for name, kinds in results.items():
            with self.subTest(compare=name):
                self.assertEqual(kinds, base, "error kinds differ between default and %s" % name)


if __name__ == "__main__":
    harness.main(world=False)
