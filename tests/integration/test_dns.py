#!/usr/bin/env python3
"""Real DNS: c-ares on the engine's ring against a dnsmasq this test starts on
127.0.0.1. Names under crawl.test resolve to 127.0.0.1; anything else is
NXDOMAIN. Checks resolution, failures, caching (one lookup per host, not per
request) and a DNS server that never answers."""

import os
import re
import socket
import subprocess
import time
import unittest

import harness
from harness import check_ok, check_error, check_lines

DNSMASQ = harness.require_program("dnsmasq", "dnsmasq-base")
dns = None


class Dnsmasq:
    def __init__(self):
        self.port = None
        self.proc = None
        self.log = None

    def start(self, ttl=0, name="dnsmasq"):
        d = harness.env().dir
        self.log = os.path.join(d, "logs", name + ".log")
        for _ in range(3):
            self.port = harness.free_port()
            args = [DNSMASQ, "--no-daemon", "--port=%d" % self.port, "--listen-address=127.0.0.1",
                    "--bind-interfaces", "--no-resolv", "--no-hosts", "--no-poll",
                    "--address=/crawl.test/127.0.0.1", "--address=/crawl.test/::1",
                    "--address=/missing.test/",  # NXDOMAIN, answered at once
                    "--log-queries", "--log-facility=" + self.log, "--pid-file=",
                    "--user=root", "--cache-size=0", "--local-ttl=%d" % ttl, "--neg-ttl=%d" % ttl]
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, start_new_session=True)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                if self._answers():
                    return
                time.sleep(0.05)
            self.stop()
        raise harness.HarnessError("dnsmasq did not start")

    def _answers(self):
        # a minimal A query for www.crawl.test
        q = (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
             b"\x03www\x05crawl\x04test\x00\x00\x01\x00\x01")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.2)
        try:
            s.sendto(q, ("127.0.0.1", self.port))
            data, _ = s.recvfrom(512)
            return data[:2] == b"\x12\x34"
        except OSError:
            return False
        finally:
            s.close()

    def queries(self, name, qtype="[A-Z]+"):
        """How many queries dnsmasq logged for name (A and AAAA, or qtype)."""
        with open(self.log, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        return len(re.findall(r"query\[%s\] %s from" % (qtype, re.escape(name)), text))

    def lookups(self, pattern):
        """{name: A queries} for names matching the regular expression."""
        with open(self.log, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        out = {}
        for m in re.finditer(r"query\[A\] (%s) from" % pattern, text):
            out[m.group(1)] = out.get(m.group(1), 0) + 1
        return out

    def stop(self):
        p, self.proc = self.proc, None
        if p and p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)


def setUpModule():
    global dns
    harness.start()
    dns = Dnsmasq()
    dns.start()


def tearDownModule():
    if dns:
        dns.stop()
    harness.stop()


class Dns(unittest.TestCase):
    def fetch(self, urls, opts=(), timeout=30):
        e = harness.env()
        return harness.run(["fetch", "--cacert", e.ca_file, "--dns-servers",
                            "127.0.0.1:%d" % dns.port] + list(opts) + urls, timeout=timeout)

    def test_names_resolve_over_dns(self):
        e = harness.env()
        urls = ["http://www.crawl.test:%d/small" % e.ports["http"],
                "https://img.crawl.test:%d/small" % e.ports["https"]]
        res = self.fetch(urls)
        self.assertEqual(res.code, 0, res.describe())
        by_line = check_lines(self, res.records, 2)
        for i in (1, 2):
            check_ok(self, by_line[i], 200, e.small_sha, harness.SMALL_SIZE)
            self.assertGreater(by_line[i]["timings_us"]["dns"], 0, by_line[i])
        self.assertGreaterEqual(dns.queries("www.crawl.test"), 1)
        self.assertGreaterEqual(dns.queries("img.crawl.test"), 1)

    def test_unknown_name_is_dns_error(self):
        e = harness.env()
        urls = ["http://no-such-host.example:%d/small" % e.ports["http"],
                "http://www.crawl.test:%d/small" % e.ports["http"]]
        res = self.fetch(urls)
        self.assertEqual(res.code, 1, res.describe())
        by_line = check_lines(self, res.records, 2)
        check_error(self, by_line[1], "dns")
        self.assertIn("no-such-host.example", by_line[1]["error_message"])
        check_ok(self, by_line[2], 200, e.small_sha, harness.SMALL_SIZE)

    def test_one_lookup_per_host_not_per_request(self):
        e = harness.env()
        name = "cache.crawl.test"
        urls = ["http://%s:%d/small?i=%d" % (name, e.ports["http"], i) for i in range(300)]
        before = dns.queries(name)
        res = self.fetch(urls, ["-c", "50"])
        self.assertEqual(res.code, 0, res.describe())
        recs = check_lines(self, res.records, 300)
        for r in recs.values():
            check_ok(self, r, 200, e.small_sha, harness.SMALL_SIZE)
        # one getaddrinfo = one A + one AAAA query, however many requests
        self.assertLessEqual(dns.queries(name) - before, 2)

    def test_silent_dns_server_times_out(self):
        e = harness.env()
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))
        try:
            port = silent.getsockname()[1]
            urls = ["http://www.crawl.test:%d/small" % e.ports["http"],
                    "http://127.0.0.1:%d/small" % e.ports["http"]]
            res = harness.run(["fetch", "--dns-servers", "127.0.0.1:%d" % port,
                               "--connect-timeout", "1"] + urls, timeout=30)
            self.assertEqual(res.code, 1, res.describe())
            by_line = check_lines(self, res.records, 2)
            check_error(self, by_line[1], ["connect_timeout", "dns"])
            check_ok(self, by_line[2], 200, e.small_sha, harness.SMALL_SIZE)
            self.assertLess(res.elapsed, 4.0, res.describe())
            # --max-time bounds a lookup too (the connect timeout far above it)
            res = harness.run(["fetch", "--dns-servers", "127.0.0.1:%d" % port,
                               "--connect-timeout", "20", "--max-time", "1", urls[0]], timeout=30)
            check_error(self, res.records[0], "timeout")
            self.assertGreater(res.elapsed, 0.9, res.describe())
            self.assertLess(res.elapsed, 3.5, res.describe())
        finally:
            silent.close()

    def test_resolve_beats_dns(self):
        e = harness.env()
        port = e.ports["http"]
        # a name the DNS server says does not exist: only --resolve finds it
        url = "http://gone.missing.test:%d/small" % port
        res = self.fetch([url])
        check_error(self, res.records[0], "dns")
        res = self.fetch([url], ["--resolve", "gone.missing.test:%d:127.0.0.1" % port])
        self.assertEqual(res.code, 0, res.describe())
        check_ok(self, res.records[0], 200, e.small_sha, harness.SMALL_SIZE)
        self.assertEqual(res.records[0]["timings_us"]["dns"], 0)
        # a name the DNS server answers (127.0.0.1, where nginx listens):
        # --resolve sends it to 127.0.0.2 instead, where nothing does
        url = "http://www.crawl.test:%d/small" % port
        res = self.fetch([url], ["--resolve", "www.crawl.test:%d:127.0.0.2" % port])
        check_error(self, res.records[0], "connect_refused")
        self.assertEqual(res.records[0]["remote"], "127.0.0.2:%d" % port)
        # for another port the entry does not apply: DNS answers
        res = self.fetch([url], ["--resolve", "www.crawl.test:%d:127.0.0.2" % (port + 1)])
        check_ok(self, res.records[0], 200, e.small_sha, harness.SMALL_SIZE)


class Cache(unittest.TestCase):
    """The per-origin DNS cache against a dnsmasq whose answers carry a TTL."""

    @classmethod
    def setUpClass(cls):
        cls.long = Dnsmasq()
        cls.long.start(ttl=3600, name="dnsmasq-ttl3600")
        cls.short = Dnsmasq()
        cls.short.start(ttl=1, name="dnsmasq-ttl1")

    @classmethod
    def tearDownClass(cls):
        cls.long.stop()
        cls.short.stop()

    def test_100000_urls_over_1000_hosts_resolve_each_host_once(self):
        e = harness.env()
        path = os.path.join(e.workdir, "urls-100k.txt")
        with open(path, "w") as f:
            for i in range(100000):
                f.write("http://h%d.ttl.crawl.test:%d/small?i=%d\n" % (i % 1000, e.ports["http"], i))
        res = harness.run(["fetch", "-q", "-c", "500", "-i", path, "--dns-servers", "127.0.0.1:%d" % self.long.port,
                           "-4"], timeout=280, parse=False)
        self.assertEqual(res.code, 0, res.describe())
        self.assertEqual(res.stdout.count(b"\n"), 100000)
        self.assertEqual(res.stdout.count(b'"status":200'), 100000)
        per_host = self.long.lookups(r"h\d+\.ttl\.crawl\.test")
        self.assertEqual(len(per_host), 1000, "hosts never resolved")
        self.assertEqual(max(per_host.values()), 1, "a host was resolved again within its TTL: %s" %
                         sorted(per_host.items(), key=lambda kv: -kv[1])[:5])

    def test_short_ttl_resolves_again(self):
        e = harness.env()
        name = "short.crawl.test"
        urls = ["http://%s:%d/small?i=%d" % (name, e.ports["http"], i) for i in range(31)]
        # a new connection for every request (a kept-alive one needs no lookup)
        res = harness.run(["fetch", "--host-rate", "10", "-4", "-H", "Connection: close",
                           "--dns-servers", "127.0.0.1:%d" % self.short.port] + urls, timeout=60)
        self.assertEqual(res.code, 0, res.describe())
        check_lines(self, res.records, 31)
        n = self.short.queries(name, "A")
        # 3 s of requests with answers good for 1 s: about one lookup a second
        self.assertGreaterEqual(n, 2)
        self.assertLessEqual(n, 5)

    def test_negative_answers_are_cached_briefly(self):
        e = harness.env()
        name = "gone.missing.test"  # NXDOMAIN
        urls = ["http://%s:%d/?i=%d" % (name, e.ports["http"], i) for i in range(15)]
        res = harness.run(["fetch", "--host-rate", "2", "-4", "--dns-servers", "127.0.0.1:%d" % self.short.port]
                          + urls, timeout=60)
        by = check_lines(self, res.records, 15)
        for r in by.values():
            check_error(self, r, "dns")
        n = self.short.queries(name, "A")
        # 7 s of requests, a failure remembered for 5 s: two lookups, not 15 and not one
        self.assertGreaterEqual(n, 2)
        self.assertLessEqual(n, 3)


if __name__ == "__main__":
    harness.main()
