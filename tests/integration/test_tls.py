#!/usr/bin/env python3
"""Certificate verification, -k, --cacert, --resolve with SNI and host check."""

import os
import shutil
import subprocess
import unittest

import harness
from harness import check_ok, check_error, check_lines


def setUpModule():
    harness.start()


def tearDownModule():
    harness.stop()


class Verify(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = harness.env()

    # 7 ------------------------------------------------------------------------
    def test_expired_and_wrong_host_rejected(self):
        e = self.env
        urls = [e.url("expired", "/small"), e.url("wronghost", "/small"), e.url("https", "/small")]
        res = harness.run(["fetch", "--cacert", e.ca_file] + urls)
        self.assertEqual(res.code, 1, res.describe())
        by_line = check_lines(self, res.records, 3)
        for i in (1, 2):
            check_error(self, by_line[i], "tls_verify")
            self.assertIsNone(by_line[i]["status"], by_line[i])
            self.assertEqual(by_line[i]["url"], urls[i - 1])
        check_ok(self, by_line[3], 200, e.small_sha, harness.SMALL_SIZE)

    def test_insecure_accepts_bad_certificates(self):
        e = self.env
        for flag in ("-k", "--insecure"):
            with self.subTest(flag=flag):
                urls = [e.url("expired", "/small"), e.url("wronghost", "/small")]
                res = harness.run(["fetch", flag] + urls)
                self.assertEqual(res.code, 0, res.describe())
                for r in check_lines(self, res.records, 2).values():
                    check_ok(self, r, 200, e.small_sha, harness.SMALL_SIZE)

    def test_test_ca_not_trusted_without_cacert(self):
        # harness.run removes SSL_CERT_FILE / SSL_CERT_DIR / CURL_CA_BUNDLE
        e = self.env
        res = harness.run(["fetch", e.url("https", "/small")])
        self.assertEqual(res.code, 1, res.describe())
        self.assertEqual(len(res.records), 1, res.describe())
        check_error(self, res.records[0], "tls_verify")

    def test_ssl_cert_file_and_dir_are_honoured(self):
        e = self.env
        url = e.url("https", "/small")
        # SSL_CERT_FILE replaces the system bundle, like OpenSSL-based tools
        res = harness.run(["fetch", url], env={"SSL_CERT_FILE": e.ca_file})
        self.assertEqual(res.code, 0, res.describe())
        check_ok(self, res.records[0], 200, e.small_sha, harness.SMALL_SIZE)
        # SSL_CERT_DIR: a hashed directory (openssl rehash)
        d = os.path.join(e.dir, "hashed-ca")
        os.makedirs(d, exist_ok=True)
        shutil.copy(e.ca_file, os.path.join(d, "ca.pem"))
        subprocess.run(["openssl", "rehash", d], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        res = harness.run(["fetch", url], env={"SSL_CERT_DIR": d})
        self.assertEqual(res.code, 0, res.describe())
        check_ok(self, res.records[0], 200, e.small_sha, harness.SMALL_SIZE)
        # pointing at a file without our CA still fails verification
        res = harness.run(["fetch", url], env={"SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt"})
        check_error(self, res.records[0], "tls_verify")

    def test_single_url_mode_verifies(self):
        e = self.env
        res = harness.run(["--cacert", e.ca_file, e.url("expired", "/small")], parse=False)
        self.assertNotEqual(res.code, 0, res.describe())
        self.assertEqual(res.stdout, b"", "no body may be printed when verification fails")

    # 11 -----------------------------------------------------------------------
    def test_resolve_wildcard_name(self):
        e = self.env
        port = e.ports["https"]
        url = "https://www.crawl.test:%d/small" % port
        res = harness.run(["fetch", url, "--resolve", "www.crawl.test:%d:127.0.0.1" % port,
                           "--cacert", e.ca_file])
        self.assertEqual(res.code, 0, res.describe())
        self.assertEqual(len(res.records), 1, res.describe())
        check_ok(self, res.records[0], 200, e.small_sha, harness.SMALL_SIZE)
        self.assertEqual(res.records[0]["url"], url)

    def test_resolve_sends_sni(self):
        e = self.env
        port = e.ports["https"]
        res = harness.run(["--resolve", "sni.crawl.test:%d:127.0.0.1" % port, "--cacert", e.ca_file,
                           "https://sni.crawl.test:%d/sni" % port], parse=False)
        self.assertEqual((res.code, res.stdout), (0, b"sni.crawl.test\n"), res.describe())

    def test_resolve_repeatable_and_host_checked(self):
        e = self.env
        hp, sp = e.ports["http"], e.ports["https"]
        urls = ["http://plain.crawl.test:%d/small" % hp,
                "https://a.crawl.test:%d/small" % sp,
                # a wildcard covers one label only: deep.www.crawl.test must be rejected
                "https://deep.www.crawl.test:%d/small" % sp]
        res = harness.run(["fetch", "--cacert", e.ca_file,
                           "--resolve", "plain.crawl.test:%d:127.0.0.1" % hp,
                           "--resolve", "a.crawl.test:%d:127.0.0.1" % sp,
                           "--resolve", "deep.www.crawl.test:%d:127.0.0.1" % sp] + urls)
        self.assertEqual(res.code, 1, res.describe())
        by_line = check_lines(self, res.records, 3)
        check_ok(self, by_line[1], 200, e.small_sha, harness.SMALL_SIZE)
        check_ok(self, by_line[2], 200, e.small_sha, harness.SMALL_SIZE)
        check_error(self, by_line[3], "tls_verify")


if __name__ == "__main__":
    harness.main()
