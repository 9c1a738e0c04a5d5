#!/usr/bin/env python3
"""Self-test of the test world, with curl and Python's http.client only (no
ringfetch): if this fails, the other integration tests say nothing about
ringfetch. Needs `curl` (Debian package 'curl')."""

import os
import re
import socket
import subprocess
import time
import unittest

import harness

CURL = harness.require_program("curl", "curl")


def setUpModule():
    harness.start(require_ringfetch=False)


def tearDownModule():
    harness.stop()


def curl(*args, timeout=30):
    """curl with no proxy and no CA variables: (exit code, stdout bytes, stderr)."""
    cp = subprocess.run([CURL, "-sS", "--noproxy", "*"] + [str(a) for a in args],
                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        timeout=timeout, env=harness.child_env())
    return cp.returncode, cp.stdout, cp.stderr.decode("utf-8", "replace")


class CurlSeesTheTestWorld(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = harness.env()

    def test_small_and_big_over_http_and_https(self):
        e = self.env
        for server in ("http", "https"):
            rc, out, err = curl("--cacert", e.ca_file, e.url(server, "/small"))
            self.assertEqual(rc, 0, err)
            self.assertEqual(out, e.small_bytes)
            rc, out, err = curl("--cacert", e.ca_file, e.url(server, "/big"), timeout=60)
            self.assertEqual(rc, 0, err)
            self.assertEqual(len(out), harness.BIG_SIZE)
            self.assertEqual(harness.sha256_hex(out), e.big_sha)

    def test_host_names_in_the_good_certificate(self):
        e = self.env
        port = e.ports["https"]
        rc, out, err = curl("--cacert", e.ca_file, e.url("https", "/small", host="localhost"))
        self.assertEqual((rc, out), (0, e.small_bytes), err)
        rc, out, err = curl("--cacert", e.ca_file, "--resolve", "www.crawl.test:%d:127.0.0.1" % port,
                            "https://www.crawl.test:%d/small" % port)
        self.assertEqual((rc, out), (0, e.small_bytes), err)

    def test_bad_certificates_fail_verification(self):
        e = self.env
        rc, _, err = curl("--cacert", e.ca_file, e.url("expired", "/small"))
        self.assertEqual(rc, 60, err)
        self.assertIn("expired", err)
        rc, _, err = curl("--cacert", e.ca_file, e.url("wronghost", "/small"))
        self.assertEqual(rc, 60, err)
        self.assertIn("subject name", err)
        # Without --cacert (and no CA variables) the test CA is not trusted.
        rc, _, err = curl(e.url("https", "/small"))
        self.assertEqual(rc, 60, err)
        # ... and with -k both bad servers answer.
        for server in ("expired", "wronghost"):
            rc, out, err = curl("-k", e.url(server, "/small"))
            self.assertEqual((rc, out), (0, e.small_bytes), err)

    def test_chunked_is_chunked(self):
        e = self.env
        for server in ("http", "https"):
            rc, out, err = curl("--cacert", e.ca_file, "--raw", "-D", "-", e.url(server, "/chunked"))
            self.assertEqual(rc, 0, err)
            head, _, raw = out.partition(b"\r\n\r\n")
            self.assertRegex(head.decode(), r"(?i)\r\ntransfer-encoding: chunked")
            self.assertNotRegex(head.decode(), r"(?i)\r\ncontent-length:")
            sizes = [int(x, 16) for x in re.findall(rb"(?:^|\r\n)([0-9a-f]+)\r\n", raw)]
            self.assertGreaterEqual(len(sizes), 3, "expected several chunks: %r" % sizes)
            self.assertEqual(sizes[-1], 0)
            rc, out, err = curl("--cacert", e.ca_file, e.url(server, "/chunked"))
            self.assertEqual(out, harness.CHUNKED_BODY)

    def test_404_head_post_reqinfo(self):
        e = self.env
        rc, out, err = curl("-o", "/dev/null", "-w", "%{http_code}", e.url("http", "/no/such/thing"))
        self.assertEqual(out, b"404")
        rc, out, err = curl("-I", e.url("http", "/small"))
        self.assertRegex(out.decode(), r"(?i)\r\ncontent-length: 1024\r\n")
        rc, out, err = curl("-d", "hello", e.url("http", "/echo"))
        self.assertEqual(out, b"hello")
        rc, out, err = curl("-H", "X-Test: abc", e.url("http", "/reqinfo"))
        self.assertEqual(out, b"GET abc\n")

    def test_slow_is_slow(self):
        t0 = time.monotonic()
        rc, out, err = curl("--max-time", "1", self.env.url("http", "/slow"))
        self.assertEqual(rc, 28, err)  # curl's timeout
        self.assertLess(time.monotonic() - t0, 3)

    def test_stub_status_counts(self):
        e = self.env
        with harness.ServerCounter(e) as sc:
            # three requests on one keep-alive connection
            rc, out, err = curl(*[e.url("http", "/small?i=%d" % i) for i in range(3)])
            self.assertEqual(rc, 0, err)
        self.assertEqual((sc.connections, sc.requests), (1, 3))
        # and nginx logged no emergency (config or bind problem)
        with open(os.path.join(e.dir, "logs", "error.log")) as f:
            self.assertNotIn("[emerg]", f.read())


class Peers(unittest.TestCase):
    def test_refused_port(self):
        p = harness.refused_port()
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", p), timeout=2).close()

    def test_silent_listener(self):
        p = harness.silent_listener()
        s = socket.create_connection(("127.0.0.1", p), timeout=2)
        try:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            s.settimeout(0.5)
            with self.assertRaises(socket.timeout):
                s.recv(1)
        finally:
            s.close()

    def test_ringfetch_unset_is_a_clear_error(self):
        old = os.environ.pop("RINGFETCH", None)
        try:
            with self.assertRaisesRegex(harness.HarnessError, "RINGFETCH is not set"):
                harness.ringfetch_path()
        finally:
            if old is not None:
                os.environ["RINGFETCH"] = old


class Lifecycle(unittest.TestCase):
    def test_second_world_starts_and_stops_without_leftovers(self):
        e = harness.Env().start()
        try:
            pid, d = e.pid, e.dir
            self.assertTrue(e.leftover_pids(), "nginx should be running")
            self.assertEqual(e.fetch("http", "/small")[2], e.small_bytes)
            self.assertNotEqual(e.ports, harness.env().ports)
        finally:
            e.stop()
        self.assertFalse(os.path.exists("/proc/%d" % pid) and
                         b"nginx" in open("/proc/%d/cmdline" % pid, "rb").read(),
                         "nginx pid %d still alive" % pid)
        self.assertEqual(e.leftover_pids(), [])
        self.assertFalse(os.path.exists(d))


if __name__ == "__main__":
    harness.main(require_ringfetch=False)
