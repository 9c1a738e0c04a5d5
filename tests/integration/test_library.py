#!/usr/bin/env python3
"""libringfetch used as a library (public header only): backpressure from held
results, bodies in memory, a full queue, two engines in one thread, and the
installed library + pkg-config file working for a fresh program."""

import collections
import os
import subprocess
import tempfile
import unittest

import harness
from fault_server import FaultServer, ok_body, recovered_body

LIB_CLIENT = os.environ.get("RF_LIB_CLIENT")
BUILD_DIR = os.environ.get("RF_BUILD_DIR")
# what the install test builds a fresh program with
CC = harness.require_program("cc", "gcc")
PKG_CONFIG = harness.require_program("pkg-config", "pkg-config")
CMAKE = harness.require_program("cmake", "cmake")


def setUpModule():
    # CTest sets both; a hand run without them is a mistake, not a skip
    for var, value in (("RF_LIB_CLIENT", LIB_CLIENT), ("RF_BUILD_DIR", BUILD_DIR)):
        if not value:
            raise harness.HarnessError("%s is not set: run this file through ctest "
                                       "(tests/integration/CMakeLists.txt sets it)" % var)
    harness.start()


def tearDownModule():
    harness.stop()


def run_client(*args, timeout=120):
    code, _, err = run_client_out(*args, timeout=timeout)
    return code, err


def run_client_out(*args, timeout=120):
    """(exit code, stdout, stderr) of lib_client; certificates are verified
    against the test CA (RF_CA_FILE), never switched off."""
    p = subprocess.run([LIB_CLIENT] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, env=harness.child_env(extra={"RF_CA_FILE": harness.env().ca_file}))
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


class Library(unittest.TestCase):
    def test_backpressure_over_http2(self):
        # rf_config.http2: streams instead of connections, the same contract
        e = harness.env()
        with harness.ServerCounter(e) as sc:
            code, err = run_client("backpressure-h2", e.url("h2", "/small"), e.small_sha)
        self.assertEqual(code, 0, err)
        self.assertEqual(sc.requests, 200)
        self.assertLessEqual(sc.connections, 4, "200 requests at concurrency 4 took %d h2 connections"
                             % sc.connections)

    def test_backpressure_holds_work_and_loses_nothing(self):
        e = harness.env()
        for server in ("http", "https"):
            code, err = run_client("backpressure", e.url(server, "/small"), e.small_sha)
            self.assertEqual(code, 0, err)

    def test_a_full_sink_stops_a_connection_that_read_freely_before(self):
        # a keep-alive connection first serves requests that never pause it
        # (its receive may stay armed across responses), then a 64 MiB body
        # to a pipe nobody reads for 1 s: it must stop reading (a few MiB
        # resident), lose nothing once read, and go on serving after; over
        # HTTP/2 the same on one connection's streams (RF_REQ_NO_HEADERS too)
        e = harness.env()
        limit = 0 if harness.SANITIZED else 40 * 1024  # ASan's quarantine keeps freed chunks resident
        for server, mode in (("http", "sink-switch"), ("https", "sink-switch"), ("h2", "sink-switch-h2")):
            with self.subTest(server=server):
                code, err = run_client(mode, e.url(server, "/small"), e.small_sha,
                                       e.url(server, "/big"), e.big_sha, str(limit))
                self.assertEqual(code, 0, err)

    def test_batched_waits_cut_loop_turns(self):
        # rf_config.batch_us over HTTP/2: 3,000 requests, 200 in flight, each
        # done once with its body; the engine's waits gather completions with
        # it (rf_stats.batched_waits) and never without; in at most half the
        # loop turns when the machine is quiet enough for the unbatched run
        # to take a turn per 4 requests or more (not under ASan: the slowed
        # client piles completions up either way)
        e = harness.env()
        code, err = run_client("batch", e.url("h2", "/small"), e.small_sha, "0" if harness.SANITIZED else "1")
        self.assertEqual(code, 0, err)

    def test_memory_body_and_header_lookup(self):
        e = harness.env()
        code, err = run_client("memory-body", e.url("https", "/small"), e.small_sha)
        self.assertEqual(code, 0, err)
        for server in ("http", "https"):
            code, err = run_client("memory-body", e.url(server, "/chunked"), e.chunked_sha, "chunked")
            self.assertEqual(code, 0, err)
        # the checks can fail: the chunked body's hash is not the small file's
        code, err = run_client("memory-body", e.url("http", "/chunked"), e.small_sha, "chunked")
        self.assertNotEqual(code, 0, "a wrong hash passed")
        self.assertIn("sha", err)

    def test_body_limits_end_in_too_large(self):
        e = harness.env()
        code, err = run_client("too-large", e.url("https", "/small"), str(len(e.small_bytes)))
        self.assertEqual(code, 0, err)

    def test_an_unknown_ca_fails_verification(self):
        # the library tests verify against the test CA: without it, https fails
        e = harness.env()
        p = subprocess.run([LIB_CLIENT, "memory-body", e.url("https", "/small"), e.small_sha],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
                           env=harness.child_env(extra={"RF_CA_FILE": "/etc/ssl/certs/ca-certificates.crt"}))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("tls_verify", p.stderr.decode())

    def test_queue_full_is_eagain_not_loss(self):
        code, err = run_client("queue-full", harness.env().url("http", "/small"))
        self.assertEqual(code, 0, err)

    def test_two_engines_in_one_thread(self):
        e = harness.env()
        code, err = run_client("two-engines", e.url("http", "/small"), e.url("https", "/small"))
        self.assertEqual(code, 0, err)

    def test_capture_gives_the_exact_bytes_of_each_attempt(self):
        e = harness.env()
        code, err = run_client("capture", e.url("http", "/small"), e.url("http", "/chunked"))
        self.assertEqual(code, 0, err)

    def test_outfile_writes_everything_in_order(self):
        path = os.path.join(harness.env().workdir, "outfile.txt")
        code, err = run_client("outfile", path)
        self.assertEqual(code, 0, err)

    def test_descriptors_running_out_make_requests_wait(self):
        # plain descriptors (RINGFETCH_NO_DIRECT): sockets count against the
        # process's limit; with every descriptor held for a while, requests
        # wait for one instead of failing (they all failed with "connect")
        e = harness.env()
        p = subprocess.run([LIB_CLIENT, "emfile", e.url("http", "/small")], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60,
                           env=harness.child_env(extra={"RF_CA_FILE": e.ca_file, "RINGFETCH_NO_DIRECT": "1"}))
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))

    def test_cancel_queued_then_all(self):
        code, err = run_client("cancel", harness.env().url("http", "/slow"))
        self.assertEqual(code, 0, err)

    def test_wake_from_another_thread_ends_the_wait(self):
        code, err = run_client("wake", harness.env().url("http", "/slow"))
        self.assertEqual(code, 0, err)

    @harness.not_in_sanitized_build("a sanitizer build is not meant to be installed")
    def test_installed_library_and_pkg_config(self):
        with tempfile.TemporaryDirectory(prefix="ringfetch-install-") as prefix:
            subprocess.run([CMAKE, "--install", BUILD_DIR, "--prefix", prefix], check=True,
                           stdout=subprocess.DEVNULL)
            for f in ("include/ringfetch.h", "bin/ringfetch"):
                self.assertTrue(os.path.exists(os.path.join(prefix, f)), f)
            libdir = [d for d in ("lib", "lib64", "lib/x86_64-linux-gnu")
                      if os.path.exists(os.path.join(prefix, d, "pkgconfig", "ringfetch.pc"))]
            self.assertTrue(libdir, "ringfetch.pc not installed")
            libdir = os.path.join(prefix, libdir[0])
            for f in ("libringfetch.a", "libringfetch.so"):
                self.assertTrue(os.path.exists(os.path.join(libdir, f)), f)
            src = os.path.join(prefix, "prog.c")
            with open(src, "w") as f:
                f.write(PROG)
            env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(libdir, "pkgconfig"))
            for static in (False, True):
                flags = subprocess.run([PKG_CONFIG, "--cflags", "--libs"] + (["--static"] if static else [])
                                       + ["ringfetch"], env=env, check=True, stdout=subprocess.PIPE
                                       ).stdout.decode().split()
                exe = os.path.join(prefix, "prog-static" if static else "prog")
                link = flags
                if static:  # prefer the archive over the shared object
                    link = ["-Wl,-Bstatic", "-lringfetch", "-Wl,-Bdynamic"] + \
                           [x for x in flags if x != "-lringfetch"]
                subprocess.run([CC, "-o", exe, src] + link, check=True, env=env)
                run_env = dict(harness.child_env(), LD_LIBRARY_PATH=libdir)
                p = subprocess.run([exe, harness.env().url("http", "/small")], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, timeout=60, env=run_env)
                self.assertEqual(p.returncode, 0, p.stderr.decode())
                self.assertEqual(p.stdout.decode().strip(), "200 1024")


PROG = r"""
#include <stdio.h>
#include <ringfetch.h>
int main(int argc, char **argv) {
  rf_config cfg; rf_config_init(&cfg);
  rf_engine *e; char err[256];
  if (rf_engine_new(&cfg, &e, err, sizeof err) < 0) { fprintf(stderr, "%s\n", err); return 1; }
  rf_request rq; rf_request_init(&rq); rq.url = argv[1];
  if (rf_submit(e, &rq) < 0) return 1;
  int rc = 1;
  while (rf_outstanding(e) > 0) {
    rf_run(e, 100);
    rf_result *r = rf_result_next(e);
    if (r) {
      printf("%d %zu\n", r->status, r->body_len);
      rc = r->error != RF_OK;
      rf_result_release(e, r);
    }
  }
  rf_engine_free(e);
  return rc;
}
"""


class Pipelining(unittest.TestCase):
    """Pipelined responses reach the requests they answer: distinct URLs
    4 deep on 2 connections, each result checked against its own URL by
    tag, size and hash; and a server closing mid-pipeline costs no request
    its result."""

    @classmethod
    def setUpClass(cls):
        cls.srv = FaultServer().start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def run_pipeline(self, n, drop_every):
        base = "http://127.0.0.1:%d" % self.srv.port
        code, out, err = run_client_out("pipeline", base, str(n), str(drop_every))
        self.assertEqual(code, 0, err)
        results = {}
        for line in out.splitlines():
            tag, status, error, nbytes, sha = line.split()
            self.assertNotIn(int(tag), results, "two results for tag " + tag)
            results[int(tag)] = (int(status), error, int(nbytes), sha)
        self.assertEqual(sorted(results), list(range(n)))
        return results

    def expect_ok(self, i, res):
        body = ok_body(100 + 37 * i)
        self.assertEqual(res, (200, "ok", len(body), harness.sha256_hex(body)), "tag %d" % i)

    def test_distinct_urls_get_their_own_responses(self):
        self.srv.log.clear()
        results = self.run_pipeline(200, 0)
        for i, res in results.items():
            self.expect_ok(i, res)
        # 8 in flight on at most 2 connections: 4 deep on each
        conns = collections.Counter(e.conn for e in self.srv.log if e.path == "/ok")
        self.assertLessEqual(len(conns), 2, conns)

    def test_a_close_mid_pipeline_loses_nothing(self):
        n, every = 200, 10
        self.srv.log.clear()
        results = self.run_pipeline(n, every)
        dropped_ok = 0
        for i, res in results.items():
            if i % every == every - 1:
                # dropped once, then sent again once: recovered, or closed twice
                if res[1] == "ok":
                    body = recovered_body("p%d" % i)
                    self.assertEqual(res, (200, "ok", len(body), harness.sha256_hex(body)), "tag %d" % i)
                else:
                    self.assertIn(res[1], ("closed", "reset"), "tag %d" % i)
            elif res[1] != "ok":
                # an /ok request behind two closes in a row may fail, never
                # with another request's body
                self.assertIn(res[1], ("closed", "reset"), "tag %d" % i)
                dropped_ok += 1
            else:
                self.expect_ok(i, res)
        self.assertLess(dropped_ok, n // 10, "most /ok requests must get through")
        # every drop closed the connection it came on: at least one
        # connection per drop (not one more: the last drop's connection may
        # be the last one the run needed)
        self.assertGreaterEqual(len({e.conn for e in self.srv.log}), n // every,
                                "each close should have cost a connection")



class Prepared(unittest.TestCase):
    """rf_prepare / rf_submit_prepared, the load generator's way in: refused
    when it cannot be sent, 300 submissions of one GET (freed while they are
    in flight), and a prepared POST with credentials redirected to another
    host twice: the second submission's first hop still carries everything."""

    def test_prepared_request(self):
        import urllib.parse
        srv = FaultServer().start()
        self.addCleanup(srv.stop)
        e = harness.env()
        cross = srv.url("/redirect?code=303&to=" + urllib.parse.quote(srv.url("/method", host="localhost"), safe=""))
        code, err = run_client("prepared", e.url("http", "/small"), e.small_sha, cross)
        self.assertEqual(code, 0, err)
        first_hops = srv.requests_for("/redirect?")
        self.assertEqual(len(first_hops), 2)
        for hop in first_hops:
            self.assertEqual(hop.method, "POST")
            self.assertEqual(hop.body, b"abc")
            self.assertEqual(hop.headers.get("authorization"), "Bearer s3cret")
        # the hop to the other host went without them (and as a GET)
        others = srv.requests_for("/method")
        self.assertEqual([(h.method, h.headers.get("authorization")) for h in others], [("GET", None)] * 2)
        for hop in first_hops + others:  # every hop sends its headers once, as given
            names = [name for name, _ in hop.header_list]
            self.assertEqual(names.count("x-api-key"), 1, hop.header_list)


if __name__ == "__main__":
    harness.main()
