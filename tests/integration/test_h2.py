#!/usr/bin/env python3
"""HTTP/2 (--http2 by ALPN, --http2-prior-knowledge for h2c) against nginx's
own HTTP/2, checked on both sides: the records (http_version, bodies and
their SHA-256) and nginx's counters of connections and requests."""

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
import unittest

import harness
from harness import check_ok, check_error, check_lines
from hostile_h2_server import HostileH2Server
from hostile_server import OK_BODY


def setUpModule():
    harness.start()


def tearDownModule():
    harness.stop()


class H2(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = harness.env()

    def fetch(self, urls, *opts, timeout=60):
        e = self.env
        with harness.ServerCounter(e) as sc:
            res = harness.run(["fetch", "--http2", "--cacert", e.ca_file, "-i", "-"] + list(opts),
                              stdin="".join(u + "\n" for u in urls), timeout=timeout)
        by_line = check_lines(self, res.records, len(urls))
        return res, sc, by_line

    def test_bodies_and_hashes(self):
        e = self.env
        cases = [("/small", e.small_sha, harness.SMALL_SIZE), ("/big", e.big_sha, harness.BIG_SIZE),
                 ("/chunked", e.chunked_sha, len(harness.CHUNKED_BODY))]
        urls = [e.url("h2", p) for p, _, _ in cases]
        res, sc, by_line = self.fetch(urls, "-c", "3")
        self.assertEqual(res.code, 0, res.describe())
        for i, (path, sha, n) in enumerate(cases, 1):
            with self.subTest(path=path):
                check_ok(self, by_line[i], 200, sha, n)
                self.assertEqual(by_line[i]["http_version"], "2")
        self.assertEqual(sc.requests, 3)
        self.assertEqual(sc.connections, 1, "three requests, %d connections" % sc.connections)

    def test_head_404_redirect_and_decoding(self):
        e = self.env
        res, _, r = self.fetch([e.url("h2", "/small")], "-X", "HEAD")
        self.assertEqual(r[1]["status"], 200, res.describe())
        self.assertEqual(r[1]["body_bytes"], 0)
        self.assertEqual(r[1]["headers"]["content-length"], str(harness.SMALL_SIZE))
        self.assertEqual(r[1]["http_version"], "2")
        # custom fields go as HTTP/2 fields (lower-cased names), the body comes back
        res, _, r = self.fetch([e.url("h2", "/reqinfo")], "-H", "X-Test: Hello There")
        check_ok(self, r[1], 200, harness.sha256_hex(b"GET Hello There\n"), 16)
        many = []
        for i in range(40):
            many += ["-H", "X-Field-%d: %d" % (i, i)]
        res, _, r = self.fetch([e.url("h2", "/small")], *many)
        check_ok(self, r[1], 200, e.small_sha, harness.SMALL_SIZE)
        # a head past 16 KiB (nginx refuses fields that large): one record, no crash
        res, _, r = self.fetch([e.url("h2", "/small")], "-H", "X-Big: " + "b" * 17000)
        self.assertIn(r[1]["status"] or r[1]["error"], (400, 431, 413, "reset", "closed", "bad_response"),
                      res.describe())
        res, _, r = self.fetch([e.url("h2", "/no-such-thing")])
        self.assertEqual(r[1]["status"], 404, res.describe())
        self.assertIsNone(r[1]["error"])
        res, _, r = self.fetch([e.url("h2", "/moved"), e.url("h2", "/gz")], "-L", "--compressed")
        check_ok(self, r[1], 200, e.small_sha, harness.SMALL_SIZE)
        self.assertEqual([h["status"] for h in r[1]["redirects"]], [301])
        check_ok(self, r[2], 200, e.small_sha, harness.SMALL_SIZE)
        self.assertEqual(r[2]["headers"].get("content-encoding"), "gzip")
        self.assertLess(r[2]["wire_bytes"], harness.SMALL_SIZE + 100)

    def test_many_streams_share_one_connection(self):
        e = self.env
        n = 300
        urls = [e.url("h2", "/small?i=%d" % i) for i in range(n)]
        res, sc, by_line = self.fetch(urls, "-c", str(n), "--per-host", "1")
        self.assertEqual(res.code, 0, res.describe())
        for i in range(1, n + 1):
            check_ok(self, by_line[i], 200, e.small_sha, harness.SMALL_SIZE)
            self.assertEqual(by_line[i]["http_version"], "2")
        self.assertEqual(sc.requests, n)
        self.assertEqual(sc.connections, 1, "%d requests at --per-host 1 took %d connections" % (n, sc.connections))
        self.assertEqual(len({r["remote"] for r in res.records}), 1)
        self.assertGreaterEqual(sum(1 for r in res.records if r["reused"]), n - 1)
        # beyond nginx's 128 streams per connection, more connections open
        # (as many as needed, not one per request; streams that free up take
        # waiting requests, so fewer than 300 / 128 may do)
        res, sc, by_line = self.fetch(urls, "-c", str(n))
        self.assertEqual(res.code, 0, res.describe())
        self.assertEqual(sc.requests, n)
        self.assertGreaterEqual(sc.connections, 2)
        self.assertLessEqual(sc.connections, 12, "%d requests took %d connections" % (n, sc.connections))

    def test_max_time_ends_one_stream(self):
        # /slow answers after 5 s: its stream times out and is reset, the
        # request beside it on the same connection is not disturbed
        e = self.env
        t0 = time.monotonic()
        res, sc, r = self.fetch([e.url("h2", "/slow"), e.url("h2", "/small")], "-m", "0.5", "--per-host", "1")
        self.assertLess(time.monotonic() - t0, 3)
        check_error(self, r[1], ["timeout"])
        check_ok(self, r[2], 200, e.small_sha, harness.SMALL_SIZE)
        self.assertEqual(sc.connections, 1)

    def test_read_timeout_is_per_stream(self):
        # /slow is silent for 5 s while the other requests, started 5 a second
        # (--host-rate), keep the connection busy: the silent stream fails on
        # its own read timeout, not when the whole connection falls silent
        e = self.env
        urls = [e.url("h2", "/slow")] + [e.url("h2", "/small?r=%d" % i) for i in range(12)]
        res, sc, r = self.fetch(urls, "--read-timeout", "1", "--host-rate", "5", "--per-host", "1")
        check_error(self, r[1], ["read_timeout"])
        total_s = r[1]["timings_us"]["total"] / 1e6
        self.assertGreaterEqual(total_s, 0.95)
        self.assertLess(total_s, 1.9, "the silent stream waited for the connection's silence")
        for i in range(2, len(urls) + 1):
            check_ok(self, r[i], 200, e.small_sha, harness.SMALL_SIZE)
        self.assertEqual(sc.connections, 1)

    def test_sigint_cancels_streams(self):
        # SIGINT with a short grace: the streams still waiting end as
        # canceled, one record each, and the connection does not hold it up
        e = self.env
        path = os.path.join(e.workdir, "h2-slow.txt")
        with open(path, "w") as f:
            f.writelines(e.url("h2", "/slow?s=%d" % i) + "\n" for i in range(20))
        p = subprocess.Popen([harness.ringfetch_path(), "fetch", "--http2", "--cacert", e.ca_file, "--grace", "0.2",
                              "-i", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=harness.child_env())
        time.sleep(0.5)
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 130, err.decode()[-2000:])
        self.assertLess(time.monotonic() - t0, 2)
        recs = harness.parse_jsonl(out)
        by_line = check_lines(self, recs, 20)
        for rec in by_line.values():
            check_error(self, rec, ["canceled"])

    def test_server_stream_limit_respected(self):
        # nginx allows 2 streams per connection here; /pause takes 0.3 s
        e = self.env
        urls = [e.url("h2lim", "/pause?i=%d" % i) for i in range(6)]
        t0 = time.monotonic()
        res, sc, by_line = self.fetch(urls, "-c", "6", "--per-host", "1")
        took = time.monotonic() - t0
        self.assertEqual(res.code, 0, res.describe())
        for i in range(1, 7):
            self.assertEqual(by_line[i]["status"], 200, res.describe())
            self.assertEqual(by_line[i]["attempts"], 1)
        self.assertEqual(sc.connections, 1)
        self.assertEqual(sc.requests, 6)
        self.assertGreaterEqual(took, 0.85, "6 x 0.3 s at 2 streams should take 3 rounds")
        # with room for 3 connections the same load runs at once, 2 streams each
        t0 = time.monotonic()
        res, sc, by_line = self.fetch(urls, "-c", "6", "--per-host", "3")
        took = time.monotonic() - t0
        self.assertEqual(res.code, 0, res.describe())
        self.assertEqual(sc.connections, 3)
        self.assertLess(took, 0.85, "3 connections x 2 streams should take one round, took %.2f s" % took)

    def test_goaway_mid_run(self):
        # nginx sends GOAWAY after 10 requests on a connection: streams past
        # it are refused unprocessed and go again on a new connection
        e = self.env
        n = 200
        urls = [e.url("h2goaway", "/small?g=%d" % i) for i in range(n)]
        res, sc, by_line = self.fetch(urls, "-c", "50")
        self.assertEqual(res.code, 0, res.describe())
        self.assertEqual(len(res.records), n)  # exactly one result each (check_lines: no duplicates)
        for i in range(1, n + 1):
            check_ok(self, by_line[i], 200, e.small_sha, harness.SMALL_SIZE)
        self.assertEqual(sc.requests, n, "nginx processed %d requests for %d URLs" % (sc.requests, n))
        self.assertGreaterEqual(sc.connections, n // 10)

    def test_goaway_one_at_a_time(self):
        # -c 1: after each GOAWAY the connection goes idle with its last
        # stream answered; the next request must not be put on it as a
        # stream while it sits in the idle pool (it was, and the pool
        # closed it under the stream: requests 10 and 20 ended `closed`)
        e = self.env
        n = 25
        res, sc, by_line = self.fetch([e.url("h2goaway", "/small?s=%d" % i) for i in range(n)], "-c", "1")
        self.assertEqual(res.code, 0, res.describe())
        for i in range(1, n + 1):
            check_ok(self, by_line[i], 200, e.small_sha, harness.SMALL_SIZE)
        self.assertEqual(sc.requests, n)

    def test_goaway_at_high_concurrency_starves_nobody(self):
        # -c 100 against 10 requests per connection: each connection refuses
        # most of its streams; refused requests go back oldest first, so none
        # is refused 16 times while newer ones pass it (18% were, before)
        e = self.env
        n = 1000
        res, sc, by_line = self.fetch([e.url("h2goaway", "/small?h=%d" % i) for i in range(n)], "-c", "100",
                                      timeout=120)
        self.assertEqual(res.code, 0, res.describe())
        bad = [by_line[i] for i in range(1, n + 1) if by_line[i]["error"] or by_line[i]["status"] != 200]
        self.assertEqual(bad[:3], [], "%d of %d requests failed" % (len(bad), n))
        self.assertEqual(sc.requests, n)
        # the first GOAWAY teaches that a connection takes 10 streams in its
        # life: later connections get no more, so refusals stay those of the
        # first round (without that, every connection refused ~90)
        m = re.search(r"(\d+) HTTP/2 streams refused", res.stderr)
        refused = int(m.group(1)) if m else 0
        self.assertLess(refused, n // 2, res.stderr)

    def test_post_body(self):
        e = self.env
        data = "x" * 70000 + "end"  # more than one DATA frame and the initial window
        res, sc, r = self.fetch([e.url("h2", "/echo")], "--data", data)
        check_ok(self, r[1], 200, harness.sha256_hex(data.encode()), len(data))
        self.assertEqual(r[1]["http_version"], "2")

    def test_slow_reader_holds_the_stream(self):
        """The body goes to a pipe nobody reads for a while: the stream's
        window stays closed (flow control is the sink's backpressure), so
        ringfetch holds a few MiB, not the 64 MiB body."""
        e = self.env
        argv = [harness.ringfetch_path(), "--http2", "--cacert", e.ca_file, e.url("h2", "/big")]
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=harness.child_env())
        try:
            first = p.stdout.read(1 << 20)
            time.sleep(1.0)
            with open("/proc/%d/status" % p.pid) as f:
                rss_kb = int(next(l for l in f if l.startswith("VmRSS:")).split()[1])
            h = hashlib.sha256(first)
            while True:
                d = p.stdout.read(1 << 20)
                if not d:
                    break
                h.update(d)
            p.wait(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
            p.stdout.close()
            p.stderr.close()
        self.assertEqual(p.returncode, 0)
        self.assertEqual(h.hexdigest(), e.big_sha)
        if not harness.SANITIZED:  # ASan's quarantine keeps freed chunks resident
            self.assertLess(rss_kb, 40 * 1024, "ringfetch held %d KiB while its reader paused" % rss_kb)

    def test_warc_of_h2_exchanges(self):
        """Captured h2 exchanges are written as HTTP/1.1 text (what WARC
        readers know): Webrecorder's warcio reads them, digests check out."""
        e = self.env
        stem = os.path.join(e.workdir, "h2archive")
        res, _, r = self.fetch([e.url("h2", "/small"), e.url("h2", "/moved")], "-L", "--warc", stem + ".warc.gz")
        self.assertEqual(res.code, 0, res.describe())
        node = shutil.which("node") or shutil.which("nodejs")
        cp = subprocess.run([node, os.path.join(os.path.dirname(os.path.abspath(__file__)), "warc_read.js"),
                             "--check", stem + ".warc.gz"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            timeout=120)
        self.assertEqual(cp.returncode, 0, cp.stderr.decode()[-2000:])
        recs = [json.loads(l) for l in cp.stdout.decode().splitlines() if l.strip()]
        resp = [x for x in recs if x["type"] == "response"]
        self.assertEqual(sorted(x["status"] for x in resp), [200, 200, 301])
        self.assertTrue(all(x["block_digest_ok"] for x in recs))
        sha1 = base64.b32encode(hashlib.sha1(e.small_bytes).digest()).decode()
        self.assertEqual({x["payload_digest"] for x in resp if x["status"] == 200}, {"sha1:" + sha1})
        # what was HTTP/2 on the wire says so (the same exchange over HTTP/1.1 does not)
        self.assertEqual({x["protocol"] for x in recs if x["type"] in ("request", "response")}, {"h2"})

    def test_fallback_to_http11(self):
        # the plain https server offers no h2 in ALPN
        e = self.env
        res, sc, r = self.fetch([e.url("https", "/small"), e.url("https", "/big")], "-c", "2")
        self.assertEqual(res.code, 0, res.describe())
        check_ok(self, r[1], 200, e.small_sha, harness.SMALL_SIZE)
        check_ok(self, r[2], 200, e.big_sha, harness.BIG_SIZE)
        self.assertEqual({r[1]["http_version"], r[2]["http_version"]}, {"1.1"})
        # and without --http2, an h2 server is spoken to in HTTP/1.1
        res = harness.run(["fetch", "--cacert", e.ca_file, "-i", "-"], stdin=e.url("h2", "/small") + "\n")
        check_ok(self, res.records[0], 200, e.small_sha, harness.SMALL_SIZE)
        self.assertEqual(res.records[0]["http_version"], "1.1")

    def test_bench_streams(self):
        # h2load's -c 3 -m 20: three connections of 20 streams each
        e = self.env
        with harness.ServerCounter(e) as sc:
            res = harness.run(["bench", "--http2", "-c", "3", "--streams", "20", "-n", "600", "--json",
                               "--cacert", e.ca_file, e.url("h2", "/small")], parse=False)
        self.assertEqual(res.code, 0, res.describe())
        j = json.loads(res.stdout)
        self.assertEqual(j["requests"], 600)
        self.assertEqual(sc.requests, 600)
        self.assertEqual(sc.connections, 3, "-c 3 --streams 20 made %d connections" % sc.connections)
        self.assertEqual(j["concurrency"]["configured"], 60)
        self.assertGreater(j["concurrency"]["peak"], 40)

    def test_bench_batches_completions(self):
        """bench --http2 with many streams lets completions gather for up to
        50 us by default (--batch): every request still done once, and far
        fewer loop turns (kernel entries) per request than with --batch 0,
        which hands each completion over at once. (The kernel's min-wait,
        Linux 6.12, is what makes the window.) The waits that gathered are
        counted (batched_waits: none with --batch 0); the turns are compared
        when the unbatched run took a turn per 4 requests or more — a client
        slowed by a busy machine or ASan finds completions piled up either
        way."""
        e = self.env
        turns = {}
        waits = {}
        for batch in ("0", None):
            with harness.ServerCounter(e) as sc:
                argv = ["bench", "--http2", "-c", "4", "--streams", "50", "-n", "10000", "--json",
                        "--cacert", e.ca_file, e.url("h2", "/small")]
                res = harness.run(argv + (["--batch", batch] if batch else []), parse=False, timeout=120)
            self.assertEqual(res.code, 0, res.describe())
            j = json.loads(res.stdout)
            self.assertEqual(j["requests"], 10000)
            self.assertEqual(sc.requests, 10000)
            self.assertEqual(j["batch_us"], 0 if batch else 50)
            turns[batch] = j["cpu"]["loop_turns"] / j["requests"]
            waits[batch] = j["cpu"]["batched_waits"]
        self.assertEqual(waits["0"], 0)
        self.assertGreater(waits[None], 0)
        self.assertLessEqual(waits[None], j["cpu"]["loop_turns"])
        if not harness.SANITIZED and turns["0"] >= 0.25:
            self.assertLess(turns[None], turns["0"] / 2, "loop turns per request: %r" % turns)

    def test_trace_puts_streams_in_lanes(self):
        """--trace: a connection's concurrent streams each get a track right
        below the connection's (slices on one track must not overlap)."""
        e = self.env
        path = os.path.join(e.workdir, "h2-trace.json")
        urls = [e.url("h2", "/pause?t=%d" % i) for i in range(6)]
        res, sc, r = self.fetch(urls, "--per-host", "1", "--trace", path)
        self.assertEqual(res.code, 0, res.describe())
        with open(path) as f:
            ev = json.load(f)["traceEvents"]
        names = {x["tid"]: x["args"]["name"] for x in ev if x.get("ph") == "M" and x["name"] == "thread_name"}
        waits = [x for x in ev if x.get("ph") == "X" and x["name"] == "wait"]
        self.assertEqual(len(waits), 6)
        self.assertEqual(len({x["tid"] for x in waits}), 6, "concurrent streams share a track")
        conn = {x["args"]["conn"] for x in ev if x.get("ph") == "b"}
        self.assertEqual(len(conn), 1)
        cid = conn.pop()
        for tid in {x["tid"] for x in waits}:
            self.assertRegex(names[tid], r"^conn %d 127\.0\.0\.1:\d+( stream lane \d+)?$" % cid)
        by_tid = {}
        for x in ev:
            if x.get("ph") == "X":
                by_tid.setdefault(x["tid"], []).append((x["ts"], x["ts"] + x["dur"]))
        for tid, spans in by_tid.items():
            spans.sort()
            for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
                self.assertLessEqual(a1, b0, "overlapping slices on track %s" % names.get(tid))

    def test_h2c_prior_knowledge(self):
        e = self.env
        urls = [e.url("h2c", "/small?c=%d" % i) for i in range(20)]
        with harness.ServerCounter(e) as sc:
            res = harness.run(["fetch", "--http2-prior-knowledge", "-c", "20", "--per-host", "1", "-i", "-"],
                              stdin="".join(u + "\n" for u in urls))
        by_line = check_lines(self, res.records, 20)
        for i in range(1, 21):
            check_ok(self, by_line[i], 200, e.small_sha, harness.SMALL_SIZE)
            self.assertEqual(by_line[i]["http_version"], "2")
        self.assertEqual(sc.connections, 1)


class HostileH2(unittest.TestCase):
    """h2c servers that reset the stream, or break the protocol
    (hostile_h2_server.py)."""

    @classmethod
    def setUpClass(cls):
        cls.srv = HostileH2Server().start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def fetch_one(self, path):
        res = harness.run(["fetch", "--http2-prior-knowledge", "--read-timeout", "5", "-i", "-"],
                          stdin=self.srv.url(path) + "\n", timeout=30)
        self.assertEqual(len(res.records), 1, res.describe())
        return res.records[0]

    def test_rst_stream_is_reset(self):
        rec = self.fetch_one("/rst")  # INTERNAL_ERROR
        check_error(self, rec, ["reset"])
        self.assertIn("INTERNAL_ERROR", rec["error_message"])

    def test_protocol_error_is_bad_response(self):
        # DATA on stream 0 is a connection error (RFC 9113 section 6.1)
        rec = self.fetch_one("/bad-frame")
        check_error(self, rec, ["bad_response"])

    def test_headers_without_status_is_bad_response(self):
        # a HEADERS block with END_STREAM and a literal "x: y" field but no :status
        rec = self.fetch_one("/no-status")
        check_error(self, rec, ["bad_response"])

    def test_reset_stream_leaves_its_neighbours(self):
        # one connection: the reset streams fail alone, the others are answered
        urls = [self.srv.url("/rst" if i % 3 == 0 else "/ok") for i in range(12)]
        conns = self.srv.connections
        res = harness.run(["fetch", "--http2-prior-knowledge", "--per-host", "1", "-c", "12", "-i", "-"],
                          stdin="".join(u + "\n" for u in urls), timeout=30)
        by_line = check_lines(self, res.records, 12)
        for i in range(12):
            if i % 3 == 0:
                check_error(self, by_line[i + 1], ["reset"])
            else:
                check_ok(self, by_line[i + 1], 200, harness.sha256_hex(OK_BODY), len(OK_BODY))
        self.assertEqual(self.srv.connections - conns, 1)
        self.assertEqual(self.srv.errors, [])


if __name__ == "__main__":
    harness.main()
