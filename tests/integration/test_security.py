#!/usr/bin/env python3
"""The security defaults, one test each, in one place (README.md "Security
defaults" lists them). Several are also tested beside their feature
(test_tls.py, test_crawl.py, test_wire.py); here they are the list a user
reads to know what ringfetch does without being asked. Everything through
the CLI against real servers on loopback: the test nginx with its CA and its
expired and wrong-host certificates, fault_server.py (redirects, and /method
which echoes the headers it received), a fault server held to TLS 1.1, and
tinyproxy with Basic credentials."""

import glob
import gzip
import http.client
import json
import os
import ssl
import time
import unittest
import urllib.parse
import warnings

import harness
from harness import check_error, check_lines, check_ok
from fault_server import FaultServer
from test_wire import Tinyproxy  # tinyproxy started and logged as test_wire.py does

SRV = None    # plain HTTP fault server
SRV2 = None   # another plain one: another origin (port)
TLS = None    # HTTPS fault server (the test CA's "good" certificate)

SECRETS = {"Authorization": "Bearer auth-S3CRET-7f1c",
           "Cookie": "sid=cookie-S3CRET-92ab",
           "X-Api-Key": "apikey-S3CRET-44de"}


def setUpModule():
    global SRV, SRV2, TLS
    good = harness.start().certs["good"]
    SRV, SRV2, TLS = (FaultServer(tls=t).start() for t in (None, None, good))


def tearDownModule():
    for s in filter(None, (SRV, SRV2, TLS)):
        s.stop()
    harness.stop()


def tls_1_1_only(ctx):
    """Holds ctx to TLS 1.0-1.1 (their ciphers need security level 0)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # that is the point
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


def q(s):
    return urllib.parse.quote(s, safe="")


def fetch(urls, *opts, env=None):
    return harness.run(["fetch", "-i", "-"] + list(opts), stdin="".join(u + "\n" for u in urls), env=env)


def secret_headers():
    args = []
    for name, value in SECRETS.items():
        args += ["-H", "%s: %s" % (name, value)]
    return args


def echoed_headers(body_dir, line):
    """The request headers /method saw for input line `line`."""
    with open(os.path.join(harness.env().workdir, body_dir, "%d.body" % line)) as f:
        return json.load(f)["headers"]


class Certificates(unittest.TestCase):
    """Certificate verification is on by default: a certificate not signed by
    a trusted CA, an expired one and one for another name all fail as
    tls_verify, without a byte of the body; only --cacert (trust more) or
    -k (the explicit opt-out) change that."""

    def test_unknown_ca_fails_without_cacert(self):
        e = harness.env()
        url = e.https_url("/small")
        res = fetch([url])  # harness.run clears SSL_CERT_FILE / SSL_CERT_DIR
        self.assertEqual(res.code, 1, res.describe())
        check_error(self, check_lines(self, res.records, 1)[1], "tls_verify")
        res = fetch([url], "--cacert", e.ca_file)
        check_ok(self, check_lines(self, res.records, 1)[1], 200, e.small_sha, harness.SMALL_SIZE)
        res = fetch([url], "-k")
        check_ok(self, check_lines(self, res.records, 1)[1], 200, e.small_sha, harness.SMALL_SIZE)

    def test_expired_and_wrong_host_fail_even_with_the_ca(self):
        e = harness.env()
        res = fetch([e.url("expired", "/small"), e.url("wronghost", "/small")], "--cacert", e.ca_file)
        self.assertEqual(res.code, 1, res.describe())
        for r in check_lines(self, res.records, 2).values():
            check_error(self, r, "tls_verify")
            self.assertEqual(r["body_bytes"], 0, r)

    def test_single_url_mode_prints_nothing_unverified(self):
        res = harness.run([harness.env().https_url("/small")], parse=False)
        self.assertNotEqual(res.code, 0, res.describe())
        self.assertEqual(res.stdout, b"", "a body was printed from an unverified server")


class TlsVersion(unittest.TestCase):
    """TLS 1.2 is the floor. A server held to TLS 1.0/1.1 (Python's ssl at
    OpenSSL security level 0, which Debian's OpenSSL 3 still allows) is
    refused as tls_handshake, even with -k; the same server code allowed
    TLS 1.2 answers. A Python client at TLS 1.1 proves the old server works."""

    @classmethod
    def setUpClass(cls):
        cls.old = FaultServer(tls=harness.env().certs["good"])
        tls_1_1_only(cls.old._ctx)
        cls.old.start()

    @classmethod
    def tearDownClass(cls):
        cls.old.stop()

    def old_client_gets_an_answer(self):
        ctx = tls_1_1_only(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
        ctx.load_verify_locations(harness.env().ca_file)
        c = http.client.HTTPSConnection("127.0.0.1", self.old.port, timeout=10, context=ctx)
        try:
            c.request("GET", "/ok")
            r = c.getresponse()
            r.read()
            return r.status, c.sock.version()
        finally:
            c.close()

    def test_tls_below_1_2_is_refused(self):
        self.assertEqual(self.old_client_gets_an_answer(), (200, "TLSv1.1"), "the old server does not work")
        e = harness.env()
        for opts in (["--cacert", e.ca_file], ["-k"]):
            with self.subTest(opts=opts):
                res = fetch([self.old.url("/ok?ringfetch")], *opts)
                self.assertEqual(res.code, 1, res.describe())
                r = check_lines(self, res.records, 1)[1]
                check_error(self, r, "tls_handshake")
                self.assertIn("PROTOCOL_VERSION", r["error_message"])
        self.assertEqual(self.old.requests_for("/ok?ringfetch"), [], "a request reached the TLS 1.1 server")
        # control: the same server code, TLS 1.2 allowed, same certificate
        res = fetch([TLS.url("/ok")], "--cacert", e.ca_file)
        check_ok(self, check_lines(self, res.records, 1)[1], 200)


class Redirects(unittest.TestCase):
    def test_no_https_to_http_redirect_by_default(self):
        e = harness.env()
        down = TLS.url("/redirect?to=" + q(SRV.url("/ok?down")))
        before = len(SRV.requests_for("/ok?down"))
        res = fetch([down], "-L", "--cacert", e.ca_file)
        self.assertEqual(res.code, 1, res.describe())
        r = check_lines(self, res.records, 1)[1]
        check_error(self, r, "bad_redirect")
        self.assertIn("--redirect-downgrade", r["error_message"])
        self.assertEqual(len(SRV.requests_for("/ok?down")), before, "the plain http URL was requested")
        # only when asked for
        res = fetch([down], "-L", "--redirect-downgrade", "--cacert", e.ca_file)
        r = check_lines(self, res.records, 1)[1]
        check_ok(self, r, 200)
        self.assertEqual(r["final_url"], SRV.url("/ok?down"))

    def test_credentials_not_forwarded_to_another_host(self):
        same = SRV.url("/redirect?to=/method")
        other_host = SRV.url("/redirect?to=" + q(SRV.url("/method", host="localhost")))
        other_port = SRV.url("/redirect?to=" + q(SRV2.url("/method")))
        res = fetch([same, other_host, other_port], "-L", "--body-dir", "sec-redirect", *secret_headers())
        by = check_lines(self, res.records, 3)
        for r in by.values():
            check_ok(self, r, 200)
            self.assertEqual(len(r["redirects"]), 1, r)
        seen = echoed_headers("sec-redirect", 1)
        self.assertEqual(seen.get("authorization"), SECRETS["Authorization"], "same origin: kept")
        self.assertEqual(seen.get("cookie"), SECRETS["Cookie"], "same origin: kept")
        for line in (2, 3):
            seen = echoed_headers("sec-redirect", line)
            self.assertNotIn("authorization", seen, "line %d" % line)
            self.assertNotIn("cookie", seen, "line %d" % line)
            self.assertEqual(seen.get("x-api-key"), SECRETS["X-Api-Key"], "other headers go on, as in curl")


class Proxy(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.proxy = Tinyproxy((TLS.port,), auth=("rf", "pr0xy-S3CRET"))

    @classmethod
    def tearDownClass(cls):
        cls.proxy.stop()

    def test_proxy_credentials_stay_out_of_the_tunnel(self):
        e = harness.env()
        creds = "http://rf:pr0xy-S3CRET@127.0.0.1:%d" % self.proxy.port
        res = fetch([TLS.url("/method"), SRV.url("/method")], "--proxy", creds, "--cacert", e.ca_file,
                    "--body-dir", "sec-proxy")
        self.assertEqual(res.code, 0, res.describe())
        for r in check_lines(self, res.records, 2).values():
            check_ok(self, r, 200)
            self.assertEqual(r["remote"], "127.0.0.1:%d" % self.proxy.port)
        self.assertIn("CONNECT 127.0.0.1:%d" % TLS.port, self.proxy.lines())
        tunnel = echoed_headers("sec-proxy", 1)
        self.assertNotIn("proxy-authorization", tunnel, "proxy credentials sent inside the CONNECT tunnel")
        self.assertNotIn("authorization", tunnel)
        # the tunnel was opened with the credentials: without them tinyproxy refuses it
        res = fetch([TLS.url("/method")], "--proxy", "http://127.0.0.1:%d" % self.proxy.port,
                    "--cacert", e.ca_file)
        check_error(self, check_lines(self, res.records, 1)[1], "proxy_refused")
        self.assertNotIn("pr0xy-S3CRET", res.stderr)


class NoSecretsInReports(unittest.TestCase):
    """Traces, waterfalls, the summary on stderr, --stats-json and the records
    hold no request header value: a secret header, cookie and API key sent
    with redirects, a 404 and a refused port appear in none of them. The WARC
    keeps the exact bytes, secrets included, by design (it is the archive of
    what was sent)."""

    def outputs(self, tag, *extra):
        d = os.path.join(harness.env().workdir, "sec-" + tag)
        os.makedirs(d, exist_ok=True)
        urls = [SRV.url("/ok"), SRV.url("/redirect?to=" + q(SRV2.url("/method"))), SRV.url("/nothing"),
                "http://127.0.0.1:%d/" % harness.refused_port()]
        res = fetch(urls, "-L", "--progress", "--trace", os.path.join(d, "trace.json"),
                    "--waterfall", os.path.join(d, "waterfall.svg"), "--stats-json", os.path.join(d, "stats.json"),
                    "-o", os.path.join(d, "records.jsonl"), *secret_headers(), *extra)
        self.assertEqual(res.code, 1, res.describe())
        self.assertEqual(len(harness.read_jsonl(os.path.join(d, "records.jsonl"))), len(urls))
        return d, res

    def test_trace_summary_stats_and_records_hold_no_header_values(self):
        d, res = self.outputs("reports")
        files = {}
        for p in glob.glob(os.path.join(d, "*")):
            with open(p, "rb") as f:
                files[os.path.basename(p)] = f.read()
        self.assertEqual(sorted(files), ["records.jsonl", "stats.json", "trace.json", "waterfall.svg"])
        files["stderr"] = res.stderr.encode()
        self.assertIn(b"ringfetch: 4 requests", files["stderr"], "no summary to look at")
        json.loads(files["trace.json"])
        for name, data in files.items():
            self.assertGreater(len(data), 100, name)
            self.assertNotIn(b"S3CRET", data, "%s holds a header value" % name)

    def test_warc_keeps_the_exact_bytes_secrets_included(self):
        d, _ = self.outputs("warc", "--warc", "sec.warc.gz")
        with gzip.open(os.path.join(harness.env().workdir, "sec.warc.gz")) as f:
            warc = f.read()
        for name, value in SECRETS.items():
            self.assertIn(("%s: %s\r\n" % (name, value)).encode(), warc, name)


if __name__ == "__main__":
    harness.main()
