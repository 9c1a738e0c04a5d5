#!/usr/bin/env python3
"""The fault soak: requests through the library (soak_client.c) at high
concurrency, mixing healthy responses with every fault the test servers
produce -- resets and closes mid-head and mid-body, drips and stalls past the
timeouts, malformed and truncated responses, oversized heads, TLS spoken to a
plain server, certificate failures, refused and silent ports, redirect loops,
429s with Retry-After, decompression bombs and corrupt streams; HTTP/2 by
ALPN (nginx, with a stream limit and with GOAWAY every 10 requests) and h2c
with prior knowledge (nginx, and hostile_h2_server.py: streams reset beside
answered ones on one connection, a response without :status, a frame that
breaks the protocol). Asserts what a user relies on: exactly one result per
request with an expected error kind (or the exact body), no descriptor left
open, RSS flat after the warm-up, no crash.

RF_SOAK_N sets the number of requests (default 6,000: a short run for the
test command; perf/ runs 100,000). RF_SOAK_VALGRIND=1 also runs a small
count under valgrind memcheck."""

import collections
import json
import os
import shutil
import subprocess
import unittest

import harness
from harness import sha256_hex
import fault_server as fs
from fault_server import FaultServer
import hostile_server as hs
from hostile_server import HostileServer
from hostile_h2_server import HostileH2Server

SOAK_CLIENT = os.environ.get("RF_SOAK_CLIENT")
N = int(os.environ.get("RF_SOAK_N", "6000"))
CONCURRENCY = int(os.environ.get("RF_SOAK_CONCURRENCY", "100"))
FAULT = HOSTILE = H2 = H2BAD = None
# None of the GOAWAY server's requests may end closed or reset: 3 to 6% did
# (an engine bug the soak found: a stream put on an h2 connection idle in
# the pool, closed under it), none since the fix
GOAWAY_RACE_MAX = 0


def setUpModule():
    global FAULT, HOSTILE, H2, H2BAD
    if not SOAK_CLIENT:
        raise harness.HarnessError("RF_SOAK_CLIENT is not set: run this file through ctest")
    harness.start()
    FAULT = FaultServer().start()
    HOSTILE = HostileServer().start()
    H2 = HostileH2Server().start()     # resets streams beside answered ones
    H2BAD = HostileH2Server().start()  # its own origin: a protocol error ends every stream on a connection


def tearDownModule():
    for s in (FAULT, HOSTILE, H2, H2BAD):
        if s:
            s.stop()
    harness.stop()


def ok(status, body):
    return ("ok", status, sha256_hex(body))


def catalogue():
    """[(url, flags, [acceptable outcomes])]: an outcome is an error kind, or
    ("ok", status, sha256 of the body)."""
    e = harness.env()
    small = ("ok", 200, e.small_sha)
    f, h = FAULT.url, HOSTILE.url
    silent = harness.silent_listener(backlog=8)
    plan = [
        # healthy, over both schemes, keep-alive and not
        (e.url("http", "/small"), "-", [small]),
        (e.url("https", "/small"), "-", [small]),
        (e.url("http", "/chunked"), "-", [("ok", 200, e.chunked_sha)]),
        (e.url("https", "/moved"), "L", [small]),
        # HTTP/2 (ALPN): streams up to the server's limit of 2; GOAWAY after
        # every 10 requests on a connection: the streams it refused go again
        # on a new connection, oldest first. (An engine bug the soak found
        # made a few end closed though nginx answered them: an h2
        # connection idle in the pool took a stream and was closed under it
        # by the GOAWAY. Fixed; counted and printed still, and now none may.)
        (e.url("h2", "/small"), "-", [small]),
        (e.url("h2lim", "/chunked"), "-", [("ok", 200, e.chunked_sha)]),
        (e.url("h2goaway", "/small"), "-", [small, "closed", "reset"]),
        # h2c (prior knowledge, the second engine): nginx; streams reset
        # (INTERNAL_ERROR) and a head without :status among answered streams
        # on the same connections; DATA on stream 0, a connection error
        (e.url("h2c", "/small"), "P", [small]),
        (H2.url("/ok"), "P", [ok(200, hs.OK_BODY)]),
        (H2.url("/rst"), "P", ["reset"]),
        (H2.url("/ok?second"), "P", [ok(200, hs.OK_BODY)]),
        (H2.url("/no-status"), "P", ["bad_response"]),
        (H2BAD.url("/bad-frame"), "P", ["bad_response"]),
        (f("/ok?size=5000"), "-", [ok(200, fs.ok_body(5000))]),
        (f("/encoded?enc=gzip&size=20000"), "D", [ok(200, fs.encoded_plain(20000, fs.DEFAULT_SEED))]),
        (h("/ok"), "-", [ok(200, hs.OK_BODY)]),
        (h("/close-delimited"), "-", [ok(200, hs.CLOSE_BODY)]),
        (h("/100-continue"), "-", [ok(200, hs.CONTINUE_BODY)]),
        (h("/304-with-cl"), "-", [ok(304, b"")]),
        (h("/extra-bytes"), "-", [ok(200, hs.EXTRA_BODY)]),
        # resets and closes before and inside the response
        (f("/drop?key=soak-reset&fails=1000000000&how=reset"), "-", ["reset", "closed"]),
        (f("/drop?key=soak-close&fails=1000000000&how=close"), "-", ["closed"]),
        (h("/early-close"), "-", ["closed"]),
        (h("/reset"), "-", ["reset", "closed"]),
        (h("/truncated-cl"), "-", ["closed"]),
        (h("/truncated-chunked"), "-", ["closed"]),
        # malformed and oversized
        (h("/garbage"), "-", ["bad_response"]),
        (h("/bad-status"), "-", ["bad_response"]),
        (h("/bad-framing"), "-", ["bad_response"]),
        (h("/bad-chunk"), "-", ["bad_response"]),
        (h("/101"), "-", ["bad_response"]),
        (h("/huge-headers"), "-", ["too_large"]),
        (h("/many-headers"), "-", ["too_large"]),
        # slow: a stall past the read timeout, a drip past the whole-request limit
        (f("/slow?ms=5000"), "r1000", ["read_timeout"]),
        # (a byte every 0.5 s: only the whole-request limit can end it)
        (h("/slowloris"), "m2000", ["timeout"]),
        # TLS: spoken to a plain server, certificates that fail
        # (a plain server waits for a request head and the handshake times
        # out, or it answers the ClientHello's bytes with an HTTP error)
        ("https://127.0.0.1:%d/ok" % FAULT.port, "c1000", ["connect_timeout", "tls_handshake"]),
        (e.url("expired", "/small"), "-", ["tls_verify"]),
        (e.url("wronghost", "/small"), "-", ["tls_verify"]),
        # addresses: refused; silent (a full backlog: connects time out, the
        # few the backlog took wait for an answer in vain)
        ("http://127.0.0.1:%d/" % harness.refused_port(), "-", ["connect_refused"]),
        ("http://127.0.0.1:%d/" % silent, "c1000r1000", ["connect_timeout", "read_timeout"]),
        # crawling: a redirect loop, a 429 with Retry-After (no retries: the answer)
        (f("/loop"), "L", ["too_many_redirects"]),
        (f("/status?code=429&retry_after=1"), "-", [ok(429, b"status 429\n")]),
        # content coding: bombs and corrupt streams
        (f("/bomb?enc=gzip&size=67108864"), "D", ["too_large"]),
        (f("/bomb?enc=zstd&size=67108864"), "D", ["too_large"]),
        (f("/corrupt?enc=gzip&how=truncate&size=20000"), "D", ["bad_encoding"]),
        (f("/corrupt?enc=br&how=garbage&size=20000"), "D", ["bad_encoding"]),
    ]
    return plan


def faults_by_kind(plan, n):
    """How many of n requests went to each kind of entry: "ok" for healthy
    ones, else the error kinds it allows ("closed|reset")."""
    by = collections.Counter()
    for i in range(n):
        want = plan[i % len(plan)][2]
        by["ok" if not isinstance(want[0], str) else "|".join(want)] += 1
    return dict(by)


def requests_to(plan, n, url):
    return sum(1 for i in range(n) if plan[i % len(plan)][0] == url)


def outcome(err, status, sha):
    return err if err != "ok" else ("ok", status, sha)


class Soak(unittest.TestCase):
    def run_soak(self, n, prefix=(), timeout=900, concurrency=CONCURRENCY):
        plan = catalogue()
        path = os.path.join(harness.env().workdir, "soak-plan.txt")
        with open(path, "w") as fp:
            fp.write("".join("%s\t%s\n" % (u, fl) for u, fl, _ in plan))
        out = os.path.join(harness.env().workdir, "soak-results.txt")
        p = subprocess.run(list(prefix) + [SOAK_CLIENT, path, str(n), str(concurrency), out],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                           env=harness.child_env(extra={"RF_CA_FILE": harness.env().ca_file}))
        err = p.stderr.decode("utf-8", "replace")
        self.assertEqual(p.returncode, 0, "soak_client exit %d\n%s" % (p.returncode, err[-3000:]))
        figures = json.loads(p.stdout.decode().splitlines()[-1])
        with open(out) as fp:
            lines = fp.read().splitlines()
        return plan, lines, figures, err

    def check_results(self, plan, lines, n):
        """Every request has one result of an outcome its entry allows.
        Returns the results by error kind, and the tolerated ones (an error
        on an entry that expects a response first) by URL, kind and message."""
        self.assertEqual(len(lines), n)
        seen = set()
        wrong = []
        kinds = {}
        tolerated = collections.Counter()
        for line in lines:
            idx, err, status, _nbytes, sha, msg = line.split("\t")
            idx = int(idx)
            self.assertNotIn(idx, seen, "two results for request %d" % idx)
            seen.add(idx)
            url, _, want = plan[idx % len(plan)]
            got = outcome(err, int(status), sha)
            kinds[err] = kinds.get(err, 0) + 1
            if got not in want:
                wrong.append((url, got, want))
            elif isinstance(got, str) and not isinstance(want[0], str):
                tolerated[url, got, msg] += 1
        self.assertEqual(len(seen), n)
        by_kind = collections.Counter((u.split("/", 3)[-1], g if isinstance(g, str) else g[:2])
                                      for u, g, _ in wrong)
        self.assertEqual(wrong[:3], [], "%d results of the wrong kind: %r" % (len(wrong), by_kind.most_common(12)))
        return kinds, tolerated

    def test_soak(self):
        plan, lines, fig, _ = self.run_soak(N)
        print("soak: %d requests: %r" % (N, fig))
        kinds, tolerated = self.check_results(plan, lines, N)
        print("soak: requests by expected outcome %r" % faults_by_kind(plan, N))
        goaway = harness.env().url("h2goaway", "/small")
        racy = sum(c for (u, _, _), c in tolerated.items() if u == goaway)
        print("soak: GOAWAY: %d of %d requests ended closed or reset: %r"
              % (racy, requests_to(plan, N, goaway), dict(tolerated)))
        self.assertLessEqual(racy, GOAWAY_RACE_MAX * requests_to(plan, N, goaway), tolerated)
        self.assertEqual(H2.errors + H2BAD.errors, [], "hostile_h2_server.py failed")
        # every fault was met, not only the healthy paths
        self.assertGreaterEqual(len(kinds), 12, kinds)
        self.assertEqual(fig["duplicates"], 0)
        self.assertEqual(fig["fds_after"], fig["fds_before"], "descriptors left open: %r" % fig)
        # No leak: the heap in use (malloc's count) does not grow from one
        # quarter to the next. RSS settles more slowly (glibc raises its mmap
        # threshold after a big decoder window is freed, and the next ones
        # come from the heap): in a short run the last quarter stays within
        # 10% of the third; over 30,000 requests it is flat from the second
        # quarter on (perf/RESULTS.md, the long soak).
        heap, q = fig["heap_quarters_kib"], fig["rss_quarters_kib"]
        self.assertLessEqual(heap[2], heap[1] * 1.10 + 256, "the heap grew: %r" % fig)
        self.assertLessEqual(q[3], q[2] * 1.10, "RSS grew after the warm-up: %r" % fig)
        print("soak: error kinds %r" % kinds)

    def under_valgrind(self):
        vg = shutil.which("valgrind")
        self.assertIsNotNone(vg, "valgrind: install the Debian package 'valgrind'")
        n = int(os.environ.get("RF_SOAK_VALGRIND_N", "600"))
        plan, lines, fig, err = self.run_soak(
            n, prefix=[vg, "--error-exitcode=99", "--leak-check=full", "--errors-for-leak-kinds=definite",
                       "--quiet"], timeout=1800, concurrency=10)  # valgrind runs it ~50x slower
        self.check_results(plan, lines, n)
        self.assertNotIn("definitely lost", err)

    # defined only when asked for (it takes minutes): left out, not skipped
    if os.environ.get("RF_SOAK_VALGRIND") == "1":
        test_under_valgrind = under_valgrind


if __name__ == "__main__":
    harness.main()
