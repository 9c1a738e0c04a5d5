#!/usr/bin/env python3
"""IPv6: a bracketed literal connects over ::1, and a name that resolves to
both families falls through a refused address to the one that listens."""

import hashlib
import http.server
import socket
import threading
import unittest

import harness
from harness import check_ok, check_error, check_lines

BODY = bytes(range(256)) * 8


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass


class V6Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


class Ipv6(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not ipv6_loopback():
            raise unittest.SkipTest("no IPv6 loopback here")
        cls.srv = V6Server(("::1", 0), Handler)
        cls.port = cls.srv.server_address[1]
        cls.thread = threading.Thread(target=cls.srv.serve_forever, daemon=True)
        cls.thread.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.shutdown()
        cls.srv.server_close()

    def test_bracketed_literal(self):
        res = harness.run(["fetch", "http://[::1]:%d/x" % self.port], timeout=30)
        self.assertEqual(res.code, 0, res.describe())
        r = check_lines(self, res.records, 1)[1]
        check_ok(self, r, 200, hashlib.sha256(BODY).hexdigest(), len(BODY))
        self.assertEqual(r["remote"], "[::1]:%d" % self.port)

    def test_refused_ipv4_falls_through_to_ipv6(self):
        # the name maps to 127.0.0.1 (nothing listens on this port there) and ::1
        spec = "dual.test:%d:127.0.0.1,[::1]" % self.port
        res = harness.run(["fetch", "--resolve", spec, "http://dual.test:%d/y" % self.port], timeout=30)
        self.assertEqual(res.code, 0, res.describe())
        r = check_lines(self, res.records, 1)[1]
        check_ok(self, r, 200, hashlib.sha256(BODY).hexdigest(), len(BODY))
        self.assertEqual(r["remote"], "[::1]:%d" % self.port)

    def test_all_addresses_refused(self):
        port = harness.refused_port()
        spec = "dual.test:%d:127.0.0.1,[::1]" % port
        res = harness.run(["fetch", "--resolve", spec, "http://dual.test:%d/" % port], timeout=30)
        self.assertEqual(res.code, 1, res.describe())
        check_error(self, check_lines(self, res.records, 1)[1], "connect_refused")


if __name__ == "__main__":
    harness.main(world=False)
