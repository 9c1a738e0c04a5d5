"""Integration-test harness for ringfetch (Python 3 standard library only).

What it gives the test files:

* ``start()`` / ``stop()`` (call them from ``setUpModule`` / ``tearDownModule``)
  build a private test world in a temporary folder:
    - a test CA and three ECDSA P-256 leaves signed by it, made with the
      ``openssl`` CLI: GOOD (SAN DNS:localhost, IP:127.0.0.1, DNS:*.crawl.test),
      EXPIRED (same SAN, validity in 2020) and WRONG-HOST (SAN DNS:other.example);
    - a real nginx (Debian ``nginx`` + ``libnginx-mod-http-echo``) listening only
      on 127.0.0.1, on free ports, with four servers: plain HTTP, HTTPS (good),
      HTTPS (expired), HTTPS (wrong host). Every server has the same locations:
        /small          1 KiB static file (pseudo-random, sha256 known)
        /big            64 MiB static file (pseudo-random, sha256 known)
        /chunked        echo-module output, sent with chunked transfer encoding
        /second         echo_sleep 1; echo ok;  (the 1 s-latency server of the story)
        /slow           echo_sleep 5; echo ok;
        /echo           echoes the request body
        /reqinfo        echoes "$request_method $http_x_test"
        /sni            echoes the TLS server name the client sent (SNI)
        /nginx_status   stub_status
        /gz             /small gzip'ed when the client accepts it (gzip on)
        /ce-compress    a plain body labelled "Content-Encoding: compress"
        /moved          301 to /small; /found-rel: 302 to ../small (relative);
        /to-https       302 to https://127.0.0.1:<https port>/small (another
                        scheme and port); /see-other: 303 to /reqinfo
        anything else   404
  nginx runs as one process (``master_process off``) that is a child of the
  test process, with PR_SET_PDEATHSIG, so it dies with the test even if the
  test is killed; ``stop()`` also runs from ``atexit`` and on SIGTERM/SIGHUP.
* ``run(args, stdin=...)`` runs the ringfetch binary named by ``$RINGFETCH``
  and returns a ``RunResult`` that unpacks as ``(code, records, stderr)``.
  The child environment has SSL_CERT_FILE, SSL_CERT_DIR, CURL_CA_BUNDLE,
  REQUESTS_CA_BUNDLE and proxy variables removed unless the caller says so.
* ``free_port()``, ``refused_port()`` (a bound, never-listening socket: connects
  to it are refused), ``silent_listener()`` (listens, never accepts or answers).
  These, the certificates (``make_certs``) and nginx's start and stop come
  from ``worldkit.py`` beside this file, which perf/ shares.
* ``require_program(name, package)``: a program a test file runs, declared at
  import time; returns its path. Every system piece the tests use is one that
  tools/install-deps.sh installs, so a missing one is a FAILURE naming the
  Debian package, never a skip.
* ``not_in_sanitized_build(why)``: a test (method or class) that means nothing
  in an ASan/UBSan build is not defined there, rather than skipped.
* ``main()`` runs a test file (every test file ends with it). Exit codes:
    1  a prerequisite is missing (nginx, the echo module and openssl for the
       test world, plus what the file declared with require_program), $RINGFETCH
       is unusable, or a test failed or errored, or no test ran at all;
    77 every test that ran passed but some were skipped (CTest: "Skipped"),
       with the skipped tests and their reasons on stderr;
    0  every test passed.
  Skips are for conditions outside the project's control at run time (no
  IPv6 loopback in this network namespace, say).

Set RF_INTEG_KEEP=1 to keep the temporary folder (configs, logs) for debugging.
"""

import atexit
import hashlib
import http.client
import json
import os
import random
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

import worldkit
from worldkit import (CA_ENV_VARS, ECHO_MODULE, NGINX, PROXY_ENV_VARS,  # noqa: F401 (used by tests)
                      free_port, make_certs, refused_port, silent_listener)

SKIP_CODE = 77  # CTest's SKIP_RETURN_CODE (tests/integration/CMakeLists.txt)

# Where Debian puts daemons such as dnsmasq: not on a normal user's PATH.
SBIN_PATH = "/usr/local/sbin:/usr/sbin:/sbin"

# The build's RF_SANITIZE option, passed by CTest (any CMake boolean).
SANITIZED = os.environ.get("RF_SANITIZE", "OFF").strip().upper() not in (
    "", "0", "OFF", "NO", "N", "FALSE", "IGNORE", "NOTFOUND")

SMALL_SIZE = 1024
BIG_SIZE = 64 * 1024 * 1024
SLOW_SECONDS = 5

# The body nginx's echo module sends for /chunked (see the config below).
CHUNKED_BODY = (b"chunk one\n" + b"0123456789abcdef" * 4096 + b"\n" + b"last chunk\n")


# The test world could not be set up (not a ringfetch failure).
HarnessError = worldkit.WorldError


# ---------------------------------------------------------------------------
# Prerequisites and build variants
# ---------------------------------------------------------------------------
_MISSING = []           # (what, Debian package) declared by the test file, absent here
_NOT_IN_THIS_BUILD = []  # (test, why) left out by not_in_sanitized_build


def missing_text(missing):
    """A message for [(what, Debian package)] that says how to fix it."""
    lines = ["missing prerequisites (run tools/install-deps.sh, which installs them):"]
    lines += ["  %s: not found (Debian package '%s')" % m for m in missing]
    return "\n".join(lines)


def find_program(name):
    """Absolute path of a program on $PATH or in the sbin folders, or None."""
    return shutil.which(name) or shutil.which(name, path=SBIN_PATH)


def require_program(name, package):
    """Declares that this test file runs ``name``, from the Debian package
    ``package``, and returns its absolute path. Call it at import time: when
    the program is missing, main() fails before any test runs, naming the
    package. (Under another runner the bare name comes back, and running it
    fails with FileNotFoundError: an error, still never a skip.)"""
    path = find_program(name)
    if path is None:
        _MISSING.append((name, package))
        return name
    return path


def not_in_sanitized_build(why):
    """Decorator for a test method or TestCase class that says nothing in a
    sanitizer build. There the test is not defined at all: a skip would make
    CTest report the whole file "Skipped" in an otherwise healthy ASan run,
    and hide the skips that matter. main() lists what was left out."""
    def deco(obj):
        if not SANITIZED:
            return obj
        _NOT_IN_THIS_BUILD.append((obj.__qualname__, why))
        return None  # unittest collects neither a None method nor a None class
    return deco


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


_die_with_parent = worldkit.die_with_parent


# ---------------------------------------------------------------------------
# ringfetch
# ---------------------------------------------------------------------------
def ringfetch_path():
    p = os.environ.get("RINGFETCH")
    if not p:
        raise HarnessError(
            "RINGFETCH is not set. CTest sets it to the built CLI; to run a test "
            "file by hand: RINGFETCH=/path/to/build/ringfetch python3 " + sys.argv[0])
    if not (os.path.isfile(p) and os.access(p, os.X_OK)):
        raise HarnessError("RINGFETCH=%r is not an executable file" % p)
    return os.path.abspath(p)


def child_env(unset_ca_env=True, extra=None):
    return worldkit.clean_env(unset_ca_env, extra)


class RunResult:
    """Outcome of one ringfetch run. Unpacks as (code, records, stderr)."""

    def __init__(self, argv, code, stdout, stderr, elapsed, records):
        self.argv = argv
        self.code = code
        self.stdout = stdout        # bytes
        self.stderr = stderr        # str
        self.elapsed = elapsed      # seconds, wall clock
        self.records = records      # list of dicts, or None when not parsed

    def __iter__(self):
        return iter((self.code, self.records, self.stderr))

    def describe(self):
        out = self.stdout[:2000].decode("utf-8", "replace")
        return ("argv: %s\nexit: %s  elapsed: %.2fs\nstderr: %s\nstdout (start): %s"
                % (" ".join(self.argv), self.code, self.elapsed,
                   self.stderr[-2000:], out))


def parse_jsonl(data, what="stdout"):
    """Parses JSON Lines strictly: every line (each ending in a newline) is one
    JSON object. Raises AssertionError describing the first bad line."""
    if isinstance(data, bytes):
        data = data.decode("utf-8")  # a UnicodeDecodeError is a real failure
    if data == "":
        return []
    if not data.endswith("\n"):
        raise AssertionError("%s: JSON Lines output does not end with a newline: %r"
                             % (what, data[-200:]))
    records = []
    for i, line in enumerate(data[:-1].split("\n"), 1):
        try:
            rec = json.loads(line)
        except ValueError as e:
            raise AssertionError("%s line %d is not JSON (%s): %r" % (what, i, e, line[:300]))
        if not isinstance(rec, dict):
            raise AssertionError("%s line %d is not a JSON object: %r" % (what, i, line[:300]))
        records.append(rec)
    return records


def read_jsonl(path):
    with open(path, "rb") as f:
        return parse_jsonl(f.read(), what=path)


def run(args, stdin=None, timeout=60, parse=True, unset_ca_env=True, env=None, cwd=None):
    """Runs ``$RINGFETCH args...``.

    stdin: None (no input: /dev/null), str or bytes. parse: parse stdout as
    JSON Lines into ``records`` (a parse failure raises AssertionError).
    env: extra variables for the child (value None removes one).
    The child is killed (and AssertionError raised) after ``timeout`` seconds."""
    argv = [ringfetch_path()] + [str(a) for a in args]
    if isinstance(stdin, str):
        stdin = stdin.encode()
    if cwd is None and _ENV is not None:
        cwd = _ENV.workdir
    t0 = time.monotonic()
    try:
        cp = subprocess.run(argv, input=stdin if stdin is not None else b"",
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            timeout=timeout, cwd=cwd,
                            env=child_env(unset_ca_env, env),
                            preexec_fn=_die_with_parent(signal.SIGKILL))
    except subprocess.TimeoutExpired as e:
        raise AssertionError("ringfetch did not finish within %ss: %s\nstderr: %s"
                             % (timeout, " ".join(argv),
                                (e.stderr or b"")[-2000:].decode("utf-8", "replace")))
    elapsed = time.monotonic() - t0
    stderr = cp.stderr.decode("utf-8", "replace")
    res = RunResult(argv, cp.returncode, cp.stdout, stderr, elapsed, None)
    if cp.returncode < 0:
        raise AssertionError("ringfetch died of signal %d\n%s" % (-cp.returncode, res.describe()))
    if parse:
        try:
            res.records = parse_jsonl(cp.stdout)
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, res.describe()))
    return res


# ---------------------------------------------------------------------------
# Record checks shared by the test files
# ---------------------------------------------------------------------------
RECORD_FIELDS = ("url", "line", "status", "headers", "body_bytes", "body_sha256",
                 "timings_us", "reused")
TIMING_FIELDS = ("dns", "connect", "tls", "ttfb", "total")


def check_shape(tc, rec):
    """Every record has every field (a stable schema for consumers such as jq);
    on a failure record the response fields may be null."""
    for f in RECORD_FIELDS:
        tc.assertIn(f, rec, "record lacks %r: %r" % (f, rec))
    tc.assertIsInstance(rec["url"], str, rec)
    tc.assertIsInstance(rec["line"], int, rec)
    tc.assertNotIsInstance(rec["line"], bool, rec)
    tc.assertTrue(rec["status"] is None or
                  (isinstance(rec["status"], int) and not isinstance(rec["status"], bool)), rec)
    tc.assertTrue(rec["reused"] is None or isinstance(rec["reused"], bool), rec)
    tc.assertTrue(rec["headers"] is None or isinstance(rec["headers"], dict), rec)
    tc.assertTrue(rec["timings_us"] is None or isinstance(rec["timings_us"], dict), rec)


def check_ok(tc, rec, status=200, sha=None, nbytes=None):
    check_shape(tc, rec)
    tc.assertIsNone(rec.get("error"), "unexpected error in %r" % (rec,))
    tc.assertEqual(rec["status"], status, rec)
    tc.assertIsInstance(rec["reused"], bool, rec)
    tc.assertIsInstance(rec["timings_us"], dict, rec)
    tc.assertIsInstance(rec["headers"], dict, rec)
    tc.assertIsInstance(rec["body_bytes"], int, rec)
    for k in rec["headers"]:
        tc.assertEqual(k, k.lower(), "header names must be lower-case: %r" % (rec["headers"],))
    if nbytes is not None:
        tc.assertEqual(rec["body_bytes"], nbytes, rec)
    if sha is not None:
        tc.assertEqual(rec["body_sha256"], sha, rec)
    if rec.get("body_sha256") is not None:
        s = rec["body_sha256"]
        tc.assertTrue(len(s) == 64 and all(c in "0123456789abcdef" for c in s),
                      "body_sha256 must be 64 lower-case hex digits: %r" % (s,))


def check_error(tc, rec, kinds):
    """rec failed with an error kind in ``kinds`` (a str or a collection)."""
    if isinstance(kinds, str):
        kinds = (kinds,)
    check_shape(tc, rec)
    tc.assertIn(rec.get("error"), kinds, "expected error in %s, got %r" % (sorted(kinds), rec))
    tc.assertIsInstance(rec.get("error_message"), str, rec)
    tc.assertTrue(rec["error_message"], "error_message is empty: %r" % (rec,))


def check_lines(tc, records, n):
    """Exactly n records whose ``line`` values are 1..n, each once.
    Returns {line: record}."""
    tc.assertEqual(len(records), n, "expected %d records, got %d" % (n, len(records)))
    by_line = {}
    for r in records:
        tc.assertIn("line", r, r)
        tc.assertNotIn(r["line"], by_line, "line %r appears twice" % (r["line"],))
        by_line[r["line"]] = r
    tc.assertEqual(sorted(by_line), list(range(1, n + 1)))
    return by_line


# ---------------------------------------------------------------------------
# nginx
# ---------------------------------------------------------------------------
_LOCATIONS = """\
    location = /small { root {www}; }
    location = /big { root {www}; }
    location = /chunked {
        default_type text/plain;
        echo "chunk one";
        echo_flush;
        echo_duplicate 4096 "0123456789abcdef";
        echo_flush;
        echo "";
        echo "last chunk";
    }
    location = /pause {
        default_type text/plain;
        echo_sleep 0.3;
        echo ok;
    }
    location = /second {
        default_type text/plain;
        echo_sleep 1;
        echo ok;
    }
    location = /slow {
        default_type text/plain;
        echo_sleep {slow};
        echo ok;
    }
    location = /echo {
        default_type application/octet-stream;
        client_body_buffer_size 1m;
        client_max_body_size 1m;
        echo_read_request_body;
        echo_request_body;
    }
    location = /reqinfo {
        default_type text/plain;
        echo "$request_method $http_x_test";
    }
    location = /sni {
        default_type text/plain;
        echo "$ssl_server_name";
    }
    location = /nginx_status { stub_status; }
    location = /gz {
        default_type text/plain;
        gzip on;
        gzip_types *;
        gzip_min_length 0;
        alias {www}/small;
    }
    location = /ce-compress {
        default_type text/plain;
        add_header Content-Encoding compress;
        return 200 "not really compressed";
    }
    location = /moved { return 301 /small; }
    location = /found-rel { return 302 ../small; }
    location = /to-https { return 302 https://127.0.0.1:{https_port}/small; }
    location = /see-other { return 303 /reqinfo; }
    location / { return 404; }
"""

_NGINX_CONF = """\
{head}
events {{
    worker_connections 8192;
    multi_accept on;
}}

http {{
    log_format rf '$connection $connection_requests $server_port "$request" $status $body_bytes_sent $msec $host $request_time';
    access_log {dir}/logs/access.log rf buffer=64k flush=1s;
{basics}    keepalive_timeout 60s;
    keepalive_requests 10000;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:rf:4m;

    server {{
        listen 127.0.0.1:{http} backlog=4096;
        server_name _;
{locations}    }}
    server {{
        listen 127.0.0.1:{https} ssl backlog=4096;
        server_name _;
        ssl_certificate {certs[good][0]};
        ssl_certificate_key {certs[good][1]};
{locations}    }}
    server {{
        listen 127.0.0.1:{expired} ssl;
        server_name _;
        ssl_certificate {certs[expired][0]};
        ssl_certificate_key {certs[expired][1]};
{locations}    }}
    # HTTP/2 (test_h2.py): h2 by ALPN, h2c with prior knowledge, a server
    # allowing 2 streams per connection, one sending GOAWAY after 10 requests
    server {{
        listen 127.0.0.1:{h2} ssl http2 backlog=4096;
        server_name _;
        ssl_certificate {certs[good][0]};
        ssl_certificate_key {certs[good][1]};
{locations}    }}
    server {{
        listen 127.0.0.1:{h2c} http2;
        server_name _;
{locations}    }}
    server {{
        listen 127.0.0.1:{h2lim} ssl http2;
        server_name _;
        http2_max_concurrent_streams 2;
        ssl_certificate {certs[good][0]};
        ssl_certificate_key {certs[good][1]};
{locations}    }}
    server {{
        listen 127.0.0.1:{h2goaway} ssl http2;
        server_name _;
        keepalive_requests 10;
        ssl_certificate {certs[good][0]};
        ssl_certificate_key {certs[good][1]};
{locations}    }}
    server {{
        listen 127.0.0.1:{wronghost} ssl;
        server_name _;
        ssl_certificate {certs[wronghost][0]};
        ssl_certificate_key {certs[wronghost][1]};
{locations}    }}
}}
"""


def missing_prerequisites():
    """The test world's missing system pieces: [(what, Debian package)]."""
    missing = []
    if not os.access(NGINX, os.X_OK):
        missing.append((NGINX, "nginx"))
    if not os.path.exists(ECHO_MODULE):
        missing.append((ECHO_MODULE, "libnginx-mod-http-echo"))
    if shutil.which("openssl") is None:  # _openssl() runs it from $PATH
        missing.append(("openssl", "openssl"))
    return missing


_TMP_PREFIX = "ringfetch-integ-"
_PORT_NAMES = ("http", "https", "expired", "wronghost", "h2", "h2c", "h2lim", "h2goaway")


def _clean_stale_dirs(max_age=900):
    """Removes folders left by harness runs that were killed (SIGKILL skips
    atexit): older than max_age seconds and used by no live process."""
    base = tempfile.gettempdir()
    try:
        names = [n for n in os.listdir(base) if n.startswith(_TMP_PREFIX)]
    except OSError:
        return
    if not names:
        return
    cmdlines = []
    for ent in os.listdir("/proc"):
        if ent.isdigit():
            try:
                with open("/proc/%s/cmdline" % ent, "rb") as f:
                    cmdlines.append(f.read())
            except OSError:
                pass
    for n in names:
        p = os.path.join(base, n)
        try:
            if time.time() - os.stat(p).st_mtime < max_age:
                continue
        except OSError:
            continue
        if any(p.encode() in c for c in cmdlines):
            continue
        shutil.rmtree(p, ignore_errors=True)


class Env:
    """The test world: certificates, static files, one nginx."""

    def __init__(self):
        self.dir = None
        self.nginx = None

    # ---- lifecycle -------------------------------------------------------
    def start(self):
        missing = missing_prerequisites()
        if missing:
            raise HarnessError(missing_text(missing))
        _clean_stale_dirs()
        self.dir = tempfile.mkdtemp(prefix=_TMP_PREFIX)
        try:
            self._prepare()
            self.nginx = worldkit.Nginx(self.dir, _PORT_NAMES, self._nginx_conf, status="http")
            self.nginx.start()
            return self
        except BaseException:
            self.stop()
            raise

    def _prepare(self):
        d = self.dir
        for sub in ("logs", "tmp", "www", "certs", "work"):
            os.makedirs(os.path.join(d, sub))
        self.workdir = os.path.join(d, "work")
        self.certs = make_certs(os.path.join(d, "certs"))
        self.ca_file = os.path.join(d, "certs", "ca.pem")
        rnd = random.Random(0x72696E67)  # deterministic pseudo-random content
        self.small_bytes = rnd.randbytes(SMALL_SIZE)
        big = rnd.randbytes(BIG_SIZE)
        self.www = os.path.join(d, "www")
        with open(os.path.join(self.www, "small"), "wb") as f:
            f.write(self.small_bytes)
        with open(os.path.join(self.www, "big"), "wb") as f:
            f.write(big)
        self.small_sha = sha256_hex(self.small_bytes)
        self.big_sha = sha256_hex(big)
        del big
        self.chunked_sha = sha256_hex(CHUNKED_BODY)

    def _nginx_conf(self, ports):
        locations = (_LOCATIONS.replace("{www}", self.www).replace("{slow}", str(SLOW_SECONDS))
                     .replace("{https_port}", str(ports["https"])))
        return _NGINX_CONF.format(head=worldkit.conf_head(self.dir), basics=worldkit.http_basics(self.dir),
                                  dir=self.dir, certs=self.certs, locations=locations, **ports)

    @property
    def ports(self):
        return self.nginx.ports if self.nginx else {}

    @property
    def proc(self):
        return self.nginx.proc if self.nginx else None

    def leftover_pids(self):
        """pids of processes whose command line mentions our folder (nginx)."""
        pids = []
        if not self.dir:
            return pids
        for ent in os.listdir("/proc"):
            if not ent.isdigit() or int(ent) == os.getpid():
                continue
            try:
                with open("/proc/%s/cmdline" % ent, "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if self.dir.encode() in cmd and b"nginx" in cmd:
                pids.append(int(ent))
        return pids

    def stop(self):
        if self.nginx is not None:
            self.nginx.stop(wait=5)
        for pid in self.leftover_pids():  # should never happen; never leave one
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if self.dir and os.path.isdir(self.dir):
            if os.environ.get("RF_INTEG_KEEP"):
                sys.stderr.write("harness: keeping %s\n" % self.dir)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    # ---- URLs --------------------------------------------------------------
    def url(self, server, path, host="127.0.0.1"):
        scheme = "http" if server in ("http", "h2c") else "https"
        return "%s://%s:%d%s" % (scheme, host, self.ports[server], path)

    def http_url(self, path):
        return self.url("http", path)

    def https_url(self, path):
        return self.url("https", path)

    # ---- server-side checks (independent of ringfetch) --------------------------
    def stub_status(self):
        """nginx's stub_status counters for the whole instance (all servers).
        Each call is itself one new connection and one request."""
        return self.nginx.stub_status()

    def fetch(self, server, path, method="GET", body=None, headers=None, verify=True):
        """A reference fetch with Python's http.client (not ringfetch).
        Returns (status, {lower-case header: value}, body bytes)."""
        if server == "http":
            c = http.client.HTTPConnection("127.0.0.1", self.ports[server], timeout=30)
        else:
            ctx = ssl.create_default_context(cafile=self.ca_file) if verify else \
                ssl._create_unverified_context()
            c = http.client.HTTPSConnection("127.0.0.1", self.ports[server], timeout=30, context=ctx)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            c.close()


class ServerCounter:
    """Counts connections and requests nginx saw between enter and exit:
        with ServerCounter(env) as sc: ...run ringfetch...
        sc.connections, sc.requests
    (the stub_status fetches themselves are subtracted)."""

    def __init__(self, env):
        self.env = env

    def __enter__(self):
        self.before = self.env.stub_status()
        return self

    def __exit__(self, *exc):
        after = self.env.stub_status()
        self.connections = after["accepts"] - self.before["accepts"] - 1
        self.requests = after["requests"] - self.before["requests"] - 1
        return False


# ---------------------------------------------------------------------------
# One Env per process, started by setUpModule, stopped by tearDownModule/atexit.
# ---------------------------------------------------------------------------
_ENV = None


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)  # unwinds: subprocess.run kills its child, atexit stops nginx


def start(require_ringfetch=True):
    """Starts (once) and returns the shared Env. Raises HarnessError clearly
    when $RINGFETCH is unusable or the test world cannot be built."""
    global _ENV
    if require_ringfetch:
        ringfetch_path()
    if _ENV is None:
        for s in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, _on_signal)
        atexit.register(stop)
        _ENV = Env().start()
    return _ENV


def env():
    if _ENV is None:
        raise HarnessError("harness.start() was not called (setUpModule)")
    return _ENV


def stop():
    global _ENV
    e, _ENV = _ENV, None
    if e is not None:
        e.stop()


def main(require_ringfetch=True, world=True):
    """Entry point for ``python3 test_x.py``; see the module docstring for the
    exit codes. world: the file uses the nginx test world (start()), so its
    prerequisites are checked before any test runs."""
    missing = (missing_prerequisites() if world else []) + _MISSING
    if missing:
        sys.stderr.write("FAIL: %s\n" % missing_text(missing))
        sys.exit(1)
    if require_ringfetch:
        try:
            ringfetch_path()
        except HarnessError as e:
            sys.stderr.write("ERROR: %s\n" % e)
            sys.exit(1)
    prog = unittest.main(module="__main__", exit=False, verbosity=2)
    stop()
    r = prog.result
    for name, why in _NOT_IN_THIS_BUILD:
        sys.stderr.write("not in this build (RF_SANITIZE=%s): %s: %s\n"
                         % (os.environ.get("RF_SANITIZE"), name, why))
    # wasSuccessful() counts skips as success: a skipped test must not look
    # like a passed one, so they get their own exit code.
    if not r.wasSuccessful():
        sys.exit(1)
    if r.skipped:
        sys.stderr.write("SKIPPED (exit %d: CTest reports this file as skipped, not passed):\n"
                         % SKIP_CODE)
        for test, reason in r.skipped:  # a class-wide skip reads "setUpClass (__main__.X)"
            sys.stderr.write("  %s: %s\n" % (test, reason))
        sys.exit(SKIP_CODE)
    if r.testsRun == 0:
        sys.stderr.write("FAIL: no test ran\n")
        sys.exit(1)
    sys.exit(0)
