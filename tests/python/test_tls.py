"""verify variants, and BoringSSL living beside the OpenSSL of Python's ssl."""

import os
import ssl  # first: CPython's _ssl loads OpenSSL 3 before ringfetch loads BoringSSL
import subprocess
import sys
import urllib.request

import ringfetch


def test_ssl_first_then_verified_https(world):
    ctx = ssl.create_default_context(cafile=world.ca_file)
    with urllib.request.urlopen(world.https_url("/small"), context=ctx) as f:
        assert f.read() == world.small_bytes  # Python's OpenSSL works
    rs = ringfetch.map([world.https_url("/small")] * 3, verify=world.ca_file)
    assert [r.status for r in rs] == [200] * 3
    assert all(r.content == world.small_bytes for r in rs)
    assert rs[0].timings["tls"] > 0
    with urllib.request.urlopen(world.https_url("/small"), context=ctx) as f:
        assert f.read() == world.small_bytes  # and still works after ours ran
    assert ssl.OPENSSL_VERSION.startswith("OpenSSL 3")


def test_ssl_imported_first_in_a_fresh_interpreter(world):
    code = ("import ssl, hashlib, ringfetch, sys\n"
            "r = ringfetch.map([sys.argv[1]], verify=sys.argv[2])[0]\n"
            "assert hashlib.sha256(b'x').hexdigest().startswith('2d71')\n"
            "print(r.status, r.error, ssl.OPENSSL_VERSION.split()[0])\n")
    out = subprocess.run([sys.executable, "-c", code, world.https_url("/small"), world.ca_file],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["200", "None", "OpenSSL"]


def test_verify_variants(world):
    good = world.https_url("/small")
    expired = world.url("expired", "/small")
    # verify=True: the system roots, which do not know the test CA
    assert ringfetch.map([good])[0].error == "tls_verify"
    # ... unless SSL_CERT_FILE names it (as requests honours it)
    os.environ["SSL_CERT_FILE"] = world.ca_file
    try:
        assert ringfetch.map([good])[0].status == 200
    finally:
        del os.environ["SSL_CERT_FILE"]
    # a path to a PEM bundle
    assert ringfetch.map([good], verify=world.ca_file)[0].status == 200
    assert ringfetch.map([expired], verify=world.ca_file)[0].error == "tls_verify"
    # verify=False: no checks at all
    rs = ringfetch.map([expired, world.url("wronghost", "/small")], verify=False)
    assert [r.status for r in rs] == [200, 200]


def test_http2_when_the_server_offers_it(world):
    # ALPN offers h2 with http2=True; nginx's h2 server takes it; without
    # the option the same server is spoken to in HTTP/1.1
    url = world.url("h2", "/small")
    rs = ringfetch.map([url] * 20, verify=world.ca_file, http2=True)
    assert [r.status for r in rs] == [200] * 20
    assert {r.http_version for r in rs} == {"HTTP/2"}
    assert all(r.content == world.small_bytes for r in rs)
    r = ringfetch.map([url], verify=world.ca_file)[0]
    assert (r.status, r.http_version) == (200, "HTTP/1.1")
