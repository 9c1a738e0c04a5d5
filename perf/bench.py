#!/usr/bin/env python3
"""ringfetch against wrk, h2load and curl, in one run. Python 3 stdlib only.

    python3 perf/bench.py --ringfetch PATH [--quick] [--scenarios 1,2,3,4,5,6,7,8,9,10,11] [--reps R]

Builds a private test world in a temporary folder (a test CA and an ECDSA
P-256 leaf made with the openssl CLI, a 1 KiB file, a 1 GiB file, one nginx
worker pinned to CPU 1 serving keep-alive HTTPS, close-per-request HTTPS, a
1 s-latency HTTPS endpoint and plain HTTP on 127.0.0.1), runs the issue's
scenarios for ringfetch and its peers (clients pinned to CPU 0), repeats each
run R times, and writes perf/RESULTS.md (plus a dated copy in perf/results/)
with the medians, the ratios measured in this run and the targets met or
missed. See perf/README.md.

 1. keep-alive HTTPS, 1 KiB body, 100 connections: req/s and client CPU/req
 2. a new TLS connection per request: handshakes/s and client CPU/req
 3. one 1 GiB HTTPS body: MB/s and client CPU
 4. N = 10, 100, 1000, 10000 requests to a 1 s-latency endpoint at once: wall
 5. peak RSS per open HTTPS connection at 10,000 connections
 6. (extra) plain-HTTP keep-alive, like 1
 7. (extra) one 1 GiB HTTPS body from ringfetch's embedded server (`ringfetch
    serve --tls`, on CPU 1 instead of nginx): MB/s and client CPU, like 3
 8. (extra) 1 and 2 against the embedded server instead of nginx: req/s,
    handshakes/s and client CPU/req where the client, not the server, is the limit
 9. many hosts: 19,003 HTTPS URLs of /small interleaved over 997 host names
    (h0.crawl.test … h996.crawl.test, all nginx on 127.0.0.1), concurrency 300:
    req/s, connections opened, reuse and client CPU against curl --parallel
    (and, as a control, curl with the names in a private /etc/hosts instead of
    997 --resolve entries, whose cost grows with the list)
10. crawl (issue 9, no target): 100,000 HTTPS URLs over 1,000 host names,
    `--compressed -L`, concurrency 300: HTML-like pages of 20-60 KiB served
    gzip'd (gzip_static: .gz files written at setup), 10% of the URLs a 301
    first; req/s, user/sys CPU per request, decoded and wire MB/s, reuse,
    connections and ringfetch's peak RSS against curl --parallel (names from a
    private /etc/hosts, 9's control, as the main peer)
11. flat memory with input length (issue 10): `ringfetch fetch -c 1000` over
    100,000 and 1,000,000 lines spread over 10,000 host names (a private
    /etc/hosts, 9's control mechanism): HTTPS and HTTP URLs answered 200 or 404
    by nginx, URLs to a refused port, lines that are no URL ringfetch takes;
    one record per line with the right error kind is checked; peak RSS at 10^6
    must stay within 1.3x that at 10^5; wall, user and sys CPU reported
"""

import argparse
import atexit
import ctypes
import datetime
import gzip
import hashlib
import http.client
import json
import os
import platform
import random
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
NGINX = "/usr/sbin/nginx"
ECHO_MODULE = "/usr/lib/nginx/modules/ngx_http_echo_module.so"
CLIENT_CPU = "0"
SERVER_CPU = "1"
NOFILE_WANT = 20000          # open files per process; this machine's hard limit is 20,000
CURL_MAX_PARALLEL = 300      # curl 7.88 clamps --parallel-max to 300
BIG_SIZE = 1 << 30           # scenarios 3 and 7: one 1 GiB body
SMALL_SIZE = 1024            # scenarios 1, 2, 6 (nginx's /small) and 8: a 1 KiB body
CONC = 100                   # scenarios 1, 2, 6, 8
EMBEDDED = "embedded"        # scenario 8's server: ringfetch's embedded one, not an nginx server
MANY_DOMAIN = "crawl.test"   # scenario 9: host names hK.crawl.test (the leaf has DNS:*.crawl.test;
                             # curl refuses a wildcard right under a one-label name such as *.test)
MANY_HOSTS = 997             # scenario 9: host names, all resolved to 127.0.0.1 with --resolve
MANY_URLS = 19003            # scenario 9: URLs of /small, URL i on host i % MANY_HOSTS
MANY_CONC = 300              # scenario 9: concurrency of both clients (curl's --parallel-max ceiling)
CURL_HOSTS = "curl, hosts file"  # scenario 9's control: curl with the names in /etc/hosts, not --resolve
                                 # (scenario 10's main peer)
CRAWL_HOSTS = 1000           # scenario 10: host names h0 … h999.crawl.test (9's names, 3 more)
CRAWL_URLS = 100000          # scenario 10: URLs, URL i on host i % CRAWL_HOSTS
CRAWL_CONC = 300             # scenario 10: concurrency of both clients, as in 9
CRAWL_REDIRECT_EVERY = 10    # scenario 10: one URL in 10 is a 301 to its page first (-L)
CRAWL_PAGE_KIB = (20, 32, 44, 60)  # scenario 10: the HTML-like pages' sizes (KiB), one file each
CRAWL_GZIP_LEVEL = 1         # scenario 10: the .gz files' level = nginx's default gzip_comp_level
CRAWL_GZIP_STATIC = True     # scenario 10: nginx serves the .gz files written at setup (gzip_static)
                             # instead of deflating each response on its one core (see README)
CURL_RESOLVE = "curl, --resolve"  # scenario 10's second peer: curl with CRAWL_HOSTS --resolve entries
CRAWL_RESOLVE_URLS = 10000   # scenario 10: the first URLs of the list, for CURL_RESOLVE only (its
                             # cost per transfer grows with the --resolve list: see 9)
SCALE_HOSTS = 10000          # scenario 11: host names h0 … h9999.crawl.test (9's names, more of them)
SCALE_LINES = (100000, 1000000)  # scenario 11: input lines of its two runs (the first a prefix of the second)
SCALE_CONC = 1000            # scenario 11: ringfetch's concurrency
# scenario 11's mix: line i is of kind SCALE_MIX[(i + i // SCALE_HOSTS) % 20] on host i % SCALE_HOSTS
# (each host goes through the kinds from one round of SCALE_HOSTS lines to the next)
SCALE_MIX = ("https",) * 12 + ("http",) * 2 + ("https404", "http404", "refused", "bad_port", "no_scheme",
                                                "ftp")

# Targets from the issue: (metric, comparison, limit)
TARGETS = {
    "1-rps": (">=", 1.0),     # ringfetch req/s >= wrk's
    "1-cpu": ("<=", 0.6),     # ringfetch CPU/req <= 0.6 x wrk's
    "2-cpu": ("<=", 0.5),     # ringfetch CPU/req <= 0.5 x wrk's
    "3-mbs": (">=", 1.2),     # ringfetch MB/s >= 1.2 x curl's
    "4-wall": ("<=", 3.0),    # 10,000 requests at 1 s latency: <= 3 s wall
    "5-rss": ("<=", 32.0),    # <= 32 KiB RSS per open HTTPS connection
    "9-rps": (">=", 2.0),     # many hosts: ringfetch req/s >= 2 x curl's at equal concurrency
    "9-reuse": (">=", 50.0),  # many hosts: >= 50% of ringfetch's requests on reused connections
    "11-rss": ("<=", 1.3),    # flat memory: peak RSS at 10^6 input lines <= 1.3 x that at 10^5 (issue 10)
}

CA_ENV_VARS = ("SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE")
PROXY_ENV_VARS = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                  "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY")

class BenchError(Exception):
    pass


def log(msg):
    sys.stderr.write("[bench %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


# ---------------------------------------------------------------------------
# Children die with us (PR_SET_PDEATHSIG), and we track the live ones so that
# cleanup can kill them by process group on any exit path.
# ---------------------------------------------------------------------------
try:
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):
    _PRCTL = None

_LIVE = {}          # pid -> description, children started by this script
_LIVE_LOCK = threading.Lock()


def _die_with_parent(sig=signal.SIGTERM):
    parent = os.getpid()

    def fn():
        if _PRCTL is not None:
            _PRCTL(1, int(sig), 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)
    return fn


def _kill_group(pid, sig=signal.SIGKILL):
    try:
        os.killpg(pid, sig)
    except OSError:
        pass


def clean_env():
    env = dict(os.environ)
    for k in CA_ENV_VARS + PROXY_ENV_VARS:
        env.pop(k, None)
    env.pop("OPENSSL_CONF", None)
    return env


# ---------------------------------------------------------------------------
# Certificates (ideas from tests/integration/harness.py, reimplemented here)
# ---------------------------------------------------------------------------
_OPENSSL_CNF = """\
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = placeholder

[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[ ca ]
default_ca = bench_ca
[ bench_ca ]
dir = {dir}
database = {dir}/index.txt
serial = {dir}/serial
new_certs_dir = {dir}/newcerts
certificate = {dir}/ca.pem
private_key = {dir}/ca.key
default_md = sha256
policy = policy_any
unique_subject = no
email_in_dn = no
copy_extensions = none
[ policy_any ]
commonName = supplied

[ leaf ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:localhost, IP:127.0.0.1, DNS:*.{domain}
"""


def _openssl(args, cwd):
    cp = subprocess.run(["openssl"] + args, cwd=cwd, env=clean_env(), stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if cp.returncode != 0:
        raise BenchError("openssl %s failed (%d): %s" % (
            " ".join(args), cp.returncode, cp.stderr.decode("utf-8", "replace")))


def make_certs(d):
    os.makedirs(os.path.join(d, "newcerts"), exist_ok=True)
    cnf = os.path.join(d, "openssl.cnf")
    with open(cnf, "w") as f:
        f.write(_OPENSSL_CNF.format(dir=d, domain=MANY_DOMAIN))
    open(os.path.join(d, "index.txt"), "w").close()
    with open(os.path.join(d, "serial"), "w") as f:
        f.write("1000\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    _openssl(["req", "-config", cnf, "-x509", "-new"] + ec +
             ["-keyout", "ca.key", "-out", "ca.pem", "-days", "30", "-sha256",
              "-subj", "/CN=ringfetch perf test CA", "-extensions", "v3_ca"], d)

    def stamp(t):
        return time.strftime("%Y%m%d%H%M%SZ", time.gmtime(t))
    now = time.time()
    _openssl(["req", "-config", cnf, "-new"] + ec +
             ["-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=localhost"], d)
    _openssl(["ca", "-batch", "-config", cnf, "-name", "bench_ca", "-extensions", "leaf",
              "-notext", "-in", "leaf.csr", "-out", "leaf.crt",
              "-startdate", stamp(now - 86400), "-enddate", stamp(now + 30 * 86400)], d)
    return os.path.join(d, "ca.pem"), os.path.join(d, "leaf.crt"), os.path.join(d, "leaf.key")


# ---------------------------------------------------------------------------
# nginx
# ---------------------------------------------------------------------------
_LOCATIONS = """\
        location = /small {{ root {www}; }}
        location = /big {{
            root {www};
            access_log {dir}/logs/big.log big;
        }}
        location = /sleep {{
            default_type text/plain;
            echo_sleep 1;
            echo ok;
        }}
        location = /nginx_status {{ stub_status; }}
        # scenario 10: HTML-like pages (text/html: always in gzip_types), gzip'd
        # for clients that accept it; gzip_static on: the .gz file written at
        # setup, not a deflate per response on nginx's one core
        location /crawl/ {{
            root {www};
            default_type text/html;
            gzip on;
            gzip_static {gzip_static};
        }}
        # scenario 10: a 301 to the page first (-L)
        location ~ ^/moved/(page[0-9]+[.]html)$ {{ return 301 /crawl/$1$is_args$args; }}
        location / {{ return 404; }}
"""

# One master (idle) + one worker. master_process must be on: in single-process
# mode nginx ignores worker_cpu_affinity (checked on this machine), so the
# master is also started under `taskset -c 1`.
_NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
worker_cpu_affinity {affinity};
worker_rlimit_nofile {nofile};
pid {dir}/nginx.pid;
error_log {dir}/logs/error.log warn;
load_module {echo};

events {{
    worker_connections {wconns};
    multi_accept on;
}}

http {{
    access_log off;
    # scenario 2: one line per connection (keepalive_timeout 0), '.' or 'r'
    log_format reused '$ssl_session_reused $ssl_protocol $ssl_cipher';
    # scenario 3: the 1 GiB body really went out, uncompressed
    log_format big '$status $body_bytes_sent $request_time $ssl_protocol $ssl_cipher "$sent_http_content_encoding"';
    client_body_temp_path {dir}/tmp/client_body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    types {{ }}
    default_type application/octet-stream;
    sendfile on;
    gzip off;
    server_tokens off;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:bench:20m;
    ssl_certificate {crt};
    ssl_certificate_key {key};

    # HTTPS, keep-alive
    server {{
        listen 127.0.0.1:{https} ssl backlog=4096;
{locations}    }}
    # HTTPS, keepalive_timeout 0: every response closes its connection; logs
    # whether each connection resumed a TLS session (buffered, flushed in 100 ms)
    server {{
        listen 127.0.0.1:{https_close} ssl backlog=4096;
        keepalive_timeout 0;
        access_log {dir}/logs/reused.log reused buffer=64k flush=100ms;
{locations}    }}
    # plain HTTP, keep-alive (also serves stub_status to the bench)
    server {{
        listen 127.0.0.1:{http} backlog=4096;
{locations}    }}
}}
"""


def _free_ports(n):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _proc_cpu_ticks(pid):
    """utime+stime of one process in clock ticks (None if gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def proc_stat_cpus():
    """{cpu index: (busy ticks, total ticks)} from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            m = re.match(r"cpu(\d+)\s+(.*)", line)
            if m:
                v = [int(x) for x in m.group(2).split()]
                idle = v[3] + (v[4] if len(v) > 4 else 0)
                out[int(m.group(1))] = (sum(v[:8]) - idle, sum(v[:8]))
    return out


class Nginx:
    def __init__(self, root, crt, key, www, nofile):
        self.root = root
        self.nofile = nofile
        self.crt, self.key, self.www = crt, key, www
        self.proc = None
        self.worker = None
        self.ports = {}

    def start(self):
        last = None
        for _ in range(3):  # a picked port may be taken before nginx binds it
            try:
                self._start()
                return
            except BenchError as e:
                last = e
                self.stop()
                if "Address already in use" not in str(e):
                    raise
        raise last

    def _start(self):
        d = self.root
        https, https_close, http_ = _free_ports(3)
        self.ports = {"https": https, "https_close": https_close, "http": http_}
        self.conf = os.path.join(d, "nginx.conf")
        self.conf_text = _NGINX_CONF.format(
            dir=d, echo=ECHO_MODULE, crt=self.crt, key=self.key,
            affinity="1" + "0" * int(SERVER_CPU), nofile=self.nofile,
            wconns=self.nofile - 1000,
            locations=_LOCATIONS.format(www=self.www, dir=d,
                                        gzip_static="on" if CRAWL_GZIP_STATIC else "off"),
            **self.ports)
        with open(self.conf, "w") as f:
            f.write(self.conf_text)
        for name in ("error.log", "startup.log", "nginx.out", "reused.log", "big.log"):
            p = os.path.join(d, "logs", name)
            if os.path.exists(p):
                os.unlink(p)
        out = open(os.path.join(d, "logs", "nginx.out"), "wb")
        self.argv = ["taskset", "-c", SERVER_CPU, NGINX, "-p", d + "/", "-c", self.conf,
                     "-e", os.path.join(d, "logs", "startup.log")]
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=_die_with_parent(signal.SIGTERM))
        finally:
            out.close()
        with _LIVE_LOCK:
            _LIVE[self.proc.pid] = "nginx"
        deadline = time.monotonic() + 10
        pending = set(self.ports.values())
        while pending:
            if self.proc.poll() is not None:
                raise BenchError("nginx exited at start:\n" + self.logs())
            if time.monotonic() > deadline:
                raise BenchError("nginx did not listen within 10 s:\n" + self.logs())
            for p in list(pending):
                try:
                    socket.create_connection(("127.0.0.1", p), timeout=0.5).close()
                    pending.discard(p)
                except OSError:
                    pass
            if pending:
                time.sleep(0.05)
        # the one worker: child of the master
        kids = []
        deadline = time.monotonic() + 5
        while not kids and time.monotonic() < deadline:
            try:
                with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
                    kids = [int(x) for x in f.read().split()]
            except OSError:
                pass
            if not kids:
                time.sleep(0.05)
        if len(kids) != 1:
            raise BenchError("expected one nginx worker, found %r" % kids)
        self.worker = kids[0]
        self.worker_affinity = sorted(os.sched_getaffinity(self.worker))
        with open("/proc/%d/limits" % self.worker) as f:
            self.worker_nofile = next((l.split()[3] for l in f if l.startswith("Max open files")), "?")

    def logs(self):
        text = []
        for name in ("startup.log", "error.log", "nginx.out"):
            p = os.path.join(self.root, "logs", name)
            if os.path.exists(p):
                with open(p, "rb") as f:
                    text.append("== %s ==\n%s" % (name, f.read()[-4000:].decode("utf-8", "replace")))
        return "\n".join(text)

    def worker_cpu_ticks(self):
        return _proc_cpu_ticks(self.worker) if self.worker else None

    def stub_status(self):
        c = http.client.HTTPConnection("127.0.0.1", self.ports["http"], timeout=10)
        try:
            c.request("GET", "/nginx_status", headers={"Connection": "close"})
            r = c.getresponse()
            body = r.read().decode()
        finally:
            c.close()
        if r.status != 200:
            raise BenchError("stub_status answered %d" % r.status)
        lines = body.splitlines()
        a, h, q = (int(x) for x in lines[2].split())
        return {"active": int(lines[0].split(":")[1]), "accepts": a, "handled": h, "requests": q}

    def settle(self, limit=30.0):
        """Waits until nginx has no connection open but ours (the previous
        client's sockets can take a moment to close after it exits), so that
        one run's connections never show up in the next. Returns seconds waited."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < limit:
            if self.stub_status()["active"] <= 1:
                break
            time.sleep(0.05)
        waited = time.monotonic() - t0
        if waited > 1:
            log("nginx took %.1f s to drop the previous run's connections" % waited)
        return waited

    def stop(self):
        p, self.proc = self.proc, None
        if p is None:
            return
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)   # master: fast shutdown, stops the worker
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _kill_group(p.pid)
                p.wait(timeout=5)
        _kill_group(p.pid)                  # anything left in its group
        with _LIVE_LOCK:
            _LIVE.pop(p.pid, None)
        if self.worker:                     # the worker is in the master's group; be sure
            try:
                os.kill(self.worker, 0)
                with open("/proc/%d/cmdline" % self.worker, "rb") as f:
                    if b"nginx" in f.read():
                        os.kill(self.worker, signal.SIGKILL)
            except OSError:
                pass


class Target:
    """Where a client run goes: the URL, what ringfetch needs to trust the
    server (`--cacert …`; wrk and h2load verify nothing), and the pid of a
    server other than nginx whose CPU run_client measures (None for nginx)."""

    def __init__(self, url, tls=(), pid=None):
        self.url, self.tls, self.pid = url, list(tls), pid


# ---------------------------------------------------------------------------
# ringfetch's embedded server (scenarios 7 and 8)
# ---------------------------------------------------------------------------
class EmbeddedServer:
    """`ringfetch serve --tls` pinned to the server CPU (where nginx's worker
    runs; nginx stays up but idle meanwhile). Its body for `?size=N` is made
    in memory (byte i = 'a' + i % 26), so there is no file behind it. `scen`
    names its files in the work folder."""

    def __init__(self, rf, workdir, scen="7"):
        self.rf, self.workdir = rf, workdir
        self.proc = None
        self.port = None
        self.cert = os.path.join(workdir, "%s-server-cert.pem" % scen)
        self.port_file = os.path.join(workdir, "%s-server.port" % scen)
        self.err_path = os.path.join(workdir, "%s-server.err" % scen)
        self.argv = None
        self.counts = None      # (requests, connections) from its exit line

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self):
        for p in (self.cert, self.port_file):
            if os.path.exists(p):
                os.unlink(p)
        self.argv = ["taskset", "-c", SERVER_CPU, self.rf, "serve", "--tls", "--port", "0",
                     "--cert-out", self.cert, "--port-file", self.port_file]
        with open(self.err_path, "wb") as fe:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=fe, env=clean_env(), cwd=self.workdir,
                                         start_new_session=True,
                                         preexec_fn=_die_with_parent(signal.SIGTERM))
        with _LIVE_LOCK:
            _LIVE[self.proc.pid] = "embedded server"
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise BenchError("ringfetch serve exited at start (rc %d): %s" % (
                    self.proc.returncode, read_text(self.err_path)[-2000:]))
            if time.monotonic() > deadline:
                raise BenchError("ringfetch serve did not listen within 10 s: %s" % (
                    read_text(self.err_path)[-2000:]))
            # the port file is written once the socket listens (no probe
            # connection: the server's own count must match the bench's)
            try:
                with open(self.port_file) as f:
                    txt = f.read()
                if txt.endswith("\n") and os.path.exists(self.cert):
                    self.port = int(txt)
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        self.affinity = sorted(os.sched_getaffinity(self.proc.pid))
        if self.affinity != [int(SERVER_CPU)]:
            raise BenchError("embedded server affinity %r, want CPU %s" % (self.affinity, SERVER_CPU))

    @staticmethod
    def path(size, close=False):
        """`?size=N` answers N bytes; `close`: with `&close=1`, answered with
        `Connection: close` and the connection closed (nginx's
        keepalive_timeout 0 in 2)."""
        return "/?size=%d%s" % (size, "&close=1" if close else "")

    def url(self, size, close=False):
        return "https://127.0.0.1:%d%s" % (self.port, self.path(size, close))

    def target(self, size, close=False):
        return Target(self.url(size, close), ["--cacert", self.cert], self.pid)

    def get(self, method, path, headers=None):
        """One request from this script on a connection of its own (the
        server's certificate verified). Returns (status, headers with
        lower-case names, body)."""
        import ssl
        ctx = ssl.create_default_context(cafile=self.cert)
        c = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10, context=ctx)
        try:
            c.request(method, path, headers=headers or {})
            r = c.getresponse()
            body = r.read()
            hdrs = dict((k.lower(), v) for k, v in r.getheaders())
        finally:
            c.close()
        return r.status, hdrs, body

    def stop(self):
        """SIGTERM; the server prints `N requests on M connections` and exits.
        Returns (requests, connections) or None."""
        p, self.proc = self.proc, None
        if p is None:
            return self.counts
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _kill_group(p.pid)
                p.wait(timeout=5)
        _kill_group(p.pid)
        with _LIVE_LOCK:
            _LIVE.pop(p.pid, None)
        m = re.search(r"(\d+) requests on (\d+) connections", read_text(self.err_path))
        self.counts = (int(m.group(1)), int(m.group(2))) if m else None
        return self.counts


def pattern_sha256(size):
    """SHA-256 of the embedded server's body of `size` bytes: byte i = 'a' + i % 26."""
    reps = (1 << 20) // 26
    block = bytes(range(ord("a"), ord("a") + 26)) * reps
    h = hashlib.sha256()
    n = 0
    while n + len(block) <= size:
        h.update(block)
        n += len(block)
    h.update(block[:size - n])
    return h.hexdigest()


_SYLLABLES = ("ka", "ro", "mi", "te", "lan", "sor", "vi", "den", "pa", "lu", "ger", "mo", "ti", "nes",
              "ar", "bel", "co", "dra", "fi", "gu", "hal", "in", "jo", "ker", "le", "mar", "no", "or",
              "pre", "qui", "ras", "sta", "tur", "ul", "ven", "wis", "xa", "yo", "zen", "ble")


def html_page(seed, size):
    """About `size` bytes of HTML-like text, the same for the same seed
    (scenario 10): a head with meta tags, a style block, stylesheet and script
    links; a navigation list; an article of paragraphs, headings, lists of
    links, figures and cards; a footer. The words come from one vocabulary of
    1,000 made-up words drawn with a Zipf-like distribution (word r with weight
    1/r^1.1), so that the text compresses about as a real page does: ~3.3× at
    gzip level 1, ~4× at level 6 (markup repeats, prose less)."""
    vrng = random.Random(0x766f6361)
    vocab, seen = [], set()
    while len(vocab) < 1000:
        w = "".join(vrng.choice(_SYLLABLES) for _ in range(vrng.choice((1, 2, 2, 3, 3, 4))))
        if w not in seen:
            seen.add(w)
            vocab.append(w)
    cum, t = [], 0.0
    for r in range(len(vocab)):
        t += 1.0 / (r + 1) ** 1.1
        cum.append(t)
    rng = random.Random(seed)

    def words(n):
        return rng.choices(vocab, cum_weights=cum, k=n)

    def sentence():
        return " ".join(words(rng.randint(5, 18))).capitalize() + rng.choice(".....?!")

    def slug():
        return "-".join(words(rng.randint(2, 4)))

    title = " ".join(words(5)).title()
    out = ['<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
           '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
           '<title>%s</title>\n<meta name="description" content="%s">\n'
           '<link rel="canonical" href="https://www.example.org/%s/">\n'
           '<link rel="stylesheet" href="/static/css/site.%08x.css">\n'
           '<script async src="/static/js/app.%08x.js"></script>\n<style>\n' % (
               title, sentence(), slug(), rng.getrandbits(32), rng.getrandbits(32))]
    for _ in range(12):
        out.append(".%s { margin: %dpx %dpx; padding: %dpx; color: #%06x; font-size: %d%%; }\n" % (
            slug(), rng.randint(0, 24), rng.randint(0, 24), rng.randint(0, 16), rng.getrandbits(24),
            rng.choice((80, 90, 100, 110, 120))))
    out.append('</style>\n</head>\n<body class="page">\n<header class="site-header">\n'
               '<a class="logo" href="/">%s</a>\n<nav class="site-nav">\n<ul class="nav-list">\n' % (
                   " ".join(words(2)).title()))
    for _ in range(12):
        w = words(1)[0]
        out.append('<li class="nav-item"><a class="nav-link" href="/section/%s/">%s</a></li>\n' % (
            w, w.capitalize()))
    out.append('</ul>\n</nav>\n</header>\n<main id="content">\n<article class="post">\n'
               '<h1 class="post-title">%s</h1>\n' % title)
    tail = ('</article>\n</main>\n<footer class="site-footer">\n<p class="copyright">&copy; 2024 %s. '
            'All rights reserved.</p>\n<ul class="footer-links"><li><a href="/about/">About</a></li>'
            '<li><a href="/contact/">Contact</a></li><li><a href="/privacy/">Privacy</a></li></ul>\n'
            '</footer>\n</body>\n</html>\n' % " ".join(words(2)).title())
    n = sum(len(x) for x in out) + len(tail)
    while n < size:
        kind = rng.choices(("p", "h2", "ul", "fig", "card"), weights=(4, 1, 3, 1, 2))[0]
        if kind == "p":
            x = "<p>%s</p>\n" % " ".join(sentence() for _ in range(rng.randint(2, 6)))
        elif kind == "h2":
            x = '<h2 id="%s">%s</h2>\n' % (slug(), " ".join(words(rng.randint(2, 6))).capitalize())
        elif kind == "ul":
            x = '<ul class="related">\n%s</ul>\n' % "".join(
                '<li class="related-item"><a href="/%s/%s.html" title="%s">%s</a></li>\n' % (
                    words(1)[0], slug(), sentence(), " ".join(words(rng.randint(2, 5))).capitalize())
                for _ in range(rng.randint(3, 8)))
        elif kind == "fig":
            x = ('<figure class="image"><img src="/img/%s.jpg" alt="%s" width="%d" height="%d" '
                 'loading="lazy"><figcaption>%s</figcaption></figure>\n' % (
                     slug(), " ".join(words(4)), rng.choice((640, 800, 1024, 1280)),
                     rng.choice((360, 480, 600, 720)), sentence()))
        else:
            x = ('<div class="card"><span class="date">2024-%02d-%02d</span> <a class="card-link" '
                 'href="/%s/">%s</a> <span class="tag">%s</span></div>\n' % (
                     rng.randint(1, 12), rng.randint(1, 28), slug(), sentence(), words(1)[0]))
        out.append(x)
        n += len(x)
    out.append(tail)
    return "".join(out).encode()


# ---------------------------------------------------------------------------
# Running one client, measured
# ---------------------------------------------------------------------------
class Sampler(threading.Thread):
    """Polls stub_status every `period` s; remembers the peak active connections
    (minus its own) and how many stub_status requests it made. With `pid`, also
    reads VmHWM of that process once it has exec'd the client (VmHWM belongs to
    the address space, so a value read before the exec, from the forked
    Python, is not kept)."""

    def __init__(self, nginx, period=0.1, pid=None, stub=True, comm="ringfetch"):
        super().__init__(daemon=True)
        self.comm = comm[:15]
        self.nginx, self.period, self.pid, self.stub = nginx, period, pid, stub
        self.peak = 0
        self.calls = 0
        self.vmhwm_kib = None
        self.stop_ev = threading.Event()

    def _hwm(self):
        try:
            with open("/proc/%d/comm" % self.pid) as f:
                if f.read().strip() != self.comm:
                    return
            with open("/proc/%d/status" % self.pid) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        v = int(line.split()[1])
                        self.vmhwm_kib = max(self.vmhwm_kib or 0, v)
                        return
        except (OSError, ValueError):
            pass

    def run(self):
        while not self.stop_ev.is_set():
            if self.pid:
                self._hwm()
            if self.stub:
                try:
                    st = self.nginx.stub_status()
                    self.calls += 1
                    self.peak = max(self.peak, st["active"] - 1)
                except Exception:
                    self.calls += 1   # may or may not have reached nginx; counted as reached
            self.stop_ev.wait(self.period)

    def finish(self):
        self.stop_ev.set()
        self.join(15)


class LogTail:
    """Lines an nginx access log gained during one run."""

    def __init__(self, path):
        self.path = path
        self.start = os.path.getsize(path) if os.path.exists(path) else 0

    def lines(self, expect=None, wait=3.0):
        """Waits (up to `wait` s) until the file stops growing for 0.3 s, or
        holds `expect` new lines (nginx flushes a buffered log on a timer)."""
        deadline = time.monotonic() + wait
        last, stable_since = -1, time.monotonic()
        while True:
            size = os.path.getsize(self.path) if os.path.exists(self.path) else 0
            if size != last:
                last, stable_since = size, time.monotonic()
            if expect is not None and size > self.start:
                with open(self.path, "rb") as f:
                    f.seek(self.start)
                    got = f.read().count(b"\n")
                if got >= expect:
                    break
            if time.monotonic() - stable_since > 0.3 and (expect is None or time.monotonic() > deadline):
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if not os.path.exists(self.path):
            return []
        with open(self.path, "rb") as f:
            f.seek(self.start)
            return f.read().decode("utf-8", "replace").splitlines()


_NETSTAT_KEYS = ("ListenOverflows", "ListenDrops", "SyncookiesSent", "TCPSynRetrans", "TCPTimeouts",
                 "TCPReqQFullDrop", "TCPReqQFullDoCookies", "RetransSegs")


def netstat():
    """Machine-wide TCP counters (TcpExt in /proc/net/netstat, Tcp in
    /proc/net/snmp) that tell whether a run overflowed a listen queue or had
    to retransmit (shared with anything else running on this host)."""
    out = {}
    for path in ("/proc/net/netstat", "/proc/net/snmp"):
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for names, values in zip(lines[::2], lines[1::2]):
            n, v = names.split(), values.split()
            if n and v and n[0] == v[0] and n[0] in ("TcpExt:", "Tcp:"):
                for k, x in zip(n[1:], v[1:]):
                    if k in _NETSTAT_KEYS:
                        out[k] = int(x)
    return out


def proc_status_kib(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def quiet_after(nginx, window=0.2, quiet=0.15, need=2, need_if_busy=5, limit=5.0, server_pid=None):
    """After a client exits, waits until CPUs 0 and 1 are quiet (less than
    `quiet` of a core busy, nginx's worker not counted, for `need` windows in a
    row, `need_if_busy` once a busy window was seen, since that work comes in
    bursts; at most `limit` s), so that work the kernel still does for the client
    (closing its sockets, freeing its ring) neither disturbs the next run nor
    goes unseen. Returns (core-seconds busy in the non-quiet windows, seconds
    waited, whether it became quiet). `server_pid`: another server process
    (scenario 7's embedded server) whose CPU is not counted either."""
    hz = os.sysconf("SC_CLK_TCK")
    t0 = time.monotonic()

    def srv_ticks():
        ng = nginx.worker_cpu_ticks()
        if server_pid is not None:
            sv = _proc_cpu_ticks(server_pid)
            ng = None if (ng is None or sv is None) else ng + sv
        return ng
    prev, ng_prev = proc_stat_cpus(), srv_ticks()
    total, calm = 0.0, 0
    while time.monotonic() - t0 < limit:
        time.sleep(window)
        cur, ng = proc_stat_cpus(), srv_ticks()
        busy = sum(cur[c][0] - prev[c][0] for c in (0, 1) if c in cur and c in prev) / hz
        ngd = (ng - ng_prev) / hz if (ng is not None and ng_prev is not None) else 0.0
        other = max(0.0, busy - ngd)
        prev, ng_prev = cur, ng
        if other < quiet * window:
            calm += 1
            if calm >= need:
                return total, time.monotonic() - t0, True
        else:
            calm = 0
            need = need_if_busy
            total += other
    return total, time.monotonic() - t0, False


def run_client(nginx, argv, timeout, workdir, tag, sample=False, hwm=False, server_pid=None):
    """Runs argv under `taskset -c 0`, stdout/stderr to files. Returns a dict with
    wall time, the client's own rusage (wait4), nginx worker CPU and stub_status
    deltas, and CPU busy fractions from /proc/stat. `sample`: peak active
    connections at nginx; `hwm`: the client's VmHWM (peak RSS). `server_pid`:
    a server other than nginx that the client talks to (scenario 7's embedded
    server); its CPU (utime+stime from /proc) goes to "server_cpu", and nginx,
    idle then, still has its figures measured (they show it stayed idle)."""
    full = ["taskset", "-c", CLIENT_CPU] + argv
    settled = nginx.settle()
    out_path = os.path.join(workdir, tag + ".out")
    err_path = os.path.join(workdir, tag + ".err")
    before = nginx.stub_status()
    ng0 = nginx.worker_cpu_ticks()
    sv0 = _proc_cpu_ticks(server_pid) if server_pid is not None else None
    st0 = proc_stat_cpus()
    ns0 = netstat()
    sampler = None
    timed_out = [False]
    parent_hwm = proc_status_kib(os.getpid(), "VmHWM")
    with open(out_path, "wb") as fo, open(err_path, "wb") as fe:
        t0 = time.monotonic()
        p = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe,
                             env=clean_env(), cwd=workdir, start_new_session=True,
                             preexec_fn=_die_with_parent(signal.SIGKILL))
        with _LIVE_LOCK:
            _LIVE[p.pid] = tag
        if sample or hwm:
            sampler = Sampler(nginx, period=0.1 if sample else 0.05,
                              pid=p.pid if hwm else None, stub=sample,
                              comm=os.path.basename(argv[0]))
            sampler.start()

        def on_timeout():
            timed_out[0] = True
            _kill_group(p.pid)
        timer = threading.Timer(timeout, on_timeout)
        timer.daemon = True
        timer.start()
        try:
            while True:
                try:
                    _, status, ru = os.wait4(p.pid, 0)
                    break
                except InterruptedError:
                    continue
        finally:
            timer.cancel()
        t1 = time.monotonic()
        p.returncode = os.waitstatus_to_exitcode(status)
        _kill_group(p.pid)          # nothing of the client may outlive it
        with _LIVE_LOCK:
            _LIVE.pop(p.pid, None)
    if sampler:
        sampler.finish()
    st1 = proc_stat_cpus()
    ns1 = netstat()
    ng1 = nginx.worker_cpu_ticks()
    sv1 = _proc_cpu_ticks(server_pid) if server_pid is not None else None
    after = nginx.stub_status()
    tail_cpu, tail_s, tail_quiet = quiet_after(nginx, server_pid=server_pid)
    hz = os.sysconf("SC_CLK_TCK")
    wall = t1 - t0
    extra = 1 + (sampler.calls if sampler else 0)   # the "before" stub_status + sampler calls
    res = {
        "tag": tag,
        "argv": full,
        "settle_s": settled,
        "rc": p.returncode,
        "timed_out": timed_out[0],
        "wall": wall,
        "utime": ru.ru_utime,
        "stime": ru.ru_stime,
        "cpu": ru.ru_utime + ru.ru_stime,
        # ru_maxrss = max(the client's peak RSS, the RSS of the Python image it
        # was forked from): it is the client's own peak only when above the latter
        "maxrss_kib": ru.ru_maxrss if (parent_hwm is not None and ru.ru_maxrss > parent_hwm) else None,
        "parent_hwm_kib": parent_hwm,
        "nginx_requests": after["requests"] - before["requests"] - extra,
        "nginx_accepts": after["accepts"] - before["accepts"] - extra,
        "nginx_cpu": ((ng1 - ng0) / hz) if (ng0 is not None and ng1 is not None) else None,
        "server_cpu": ((sv1 - sv0) / hz) if (sv0 is not None and sv1 is not None) else None,
        "peak_active": sampler.peak if (sampler and sample) else None,
        "vmhwm_kib": sampler.vmhwm_kib if (sampler and hwm) else None,
        "cpu_busy": {c: ((st1[c][0] - st0[c][0]) / max(1, st1[c][1] - st0[c][1]))
                     for c in st1 if c in st0},
        "tcp": {k: ns1[k] - ns0[k] for k in ns1 if k in ns0 and ns1[k] != ns0[k]},
        "after_exit_cpu": tail_cpu,
        "after_exit_s": tail_s,
        "after_exit_quiet": tail_quiet,
        "stdout_path": out_path,
        "stderr_path": err_path,
    }
    with open(err_path, "rb") as f:
        res["stderr"] = f.read().decode("utf-8", "replace")
    return res


def read_text(path, limit=None):
    with open(path, "rb") as f:
        data = f.read() if limit is None else f.read(limit)
    return data.decode("utf-8", "replace")


# ---------------------------------------------------------------------------
# Output parsers
# ---------------------------------------------------------------------------
_RF_SUMMARY = re.compile(
    r"ringfetch: (\d+) requests, (\d+) ok, (\d+) failed in ([\d.]+) s \(([\d.]+) req/s\); "
    r"peak concurrency (\d+), (\d+) connections opened, (\d+) requests on reused connections, "
    r"(\d+) TLS handshakes \((\d+) resumed\); peak RSS ([\d.]+) MiB")


def parse_rf_summary(stderr):
    m = _RF_SUMMARY.search(stderr)
    if not m:
        return None
    g = m.groups()
    return {"requests": int(g[0]), "ok": int(g[1]), "failed": int(g[2]), "elapsed": float(g[3]),
            "rps": float(g[4]), "peak_concurrency": int(g[5]), "conns_opened": int(g[6]),
            "reused": int(g[7]), "tls_handshakes": int(g[8]), "tls_resumed": int(g[9]),
            "peak_rss_mib": float(g[10])}


def parse_h2load(text):
    r = {}
    m = re.search(r"finished in ([\d.]+)(s|ms), ([\d.]+) req/s", text)
    if m:
        r["tool_secs"] = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
        r["tool_rps"] = float(m.group(3))
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", text)
    if m:
        keys = ("total", "started", "done", "succeeded", "failed", "errored", "timeout")
        r.update({k: int(v) for k, v in zip(keys, m.groups())})
    m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
    if m:
        r["2xx"] = int(m.group(1))
    m = re.search(r"TLS Protocol: (\S+)", text)
    if m:
        r["tls_protocol"] = m.group(1)
    m = re.search(r"Cipher: (\S+)", text)
    if m:
        r["cipher"] = m.group(1)
    return r


def parse_wrk(text):
    r = {}
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", text)
    if m:
        r["requests"] = int(m.group(1))
        r["tool_secs"] = float(m.group(2)) * {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60}[m.group(3)]
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if m:
        r["tool_rps"] = float(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    r["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    r["socket_errors"] = ({"connect": int(m.group(1)), "read": int(m.group(2)),
                           "write": int(m.group(3)), "timeout": int(m.group(4))} if m else {})
    return r


def jsonl(path):
    """Each line of a JSON Lines file as (its bytes, the record, or None when
    the line is no JSON)."""
    with open(path, "rb") as f:
        for raw in f:
            try:
                yield raw, json.loads(raw)
            except ValueError:
                yield raw, None


def rf_records(path, check=None):
    """Counts a ringfetch fetch JSON Lines output: ok (status 200, error null),
    errors by kind, statuses, TLS resumptions, requests on reused connections
    ("reused": true), the sums of body_bytes and wire_bytes and of the
    redirects followed, and the spread of the timings. `check`: a function of
    each record returning None, or what is wrong with it (counted by kind in
    "check_failed", the first few in "check_samples")."""
    n = ok = resumed = reused = 0
    body_sum = wire_sum = redirects = 0
    bad, bad_samples = {}, []
    errors, statuses, samples = {}, {}, []
    tot, tls, conn = [], [], []
    body = []
    for line, rec in jsonl(path):
        n += 1
        if rec is None:
            errors["<not json>"] = errors.get("<not json>", 0) + 1
            continue
        st = rec.get("status")
        statuses[st] = statuses.get(st, 0) + 1
        if rec.get("error") is None and st == 200:
            ok += 1
        elif rec.get("error") is not None:
            k = rec.get("error")
            errors[k] = errors.get(k, 0) + 1
            if len(samples) < 5:
                samples.append("line %s: %s: %s" % (rec.get("line"), k, rec.get("error_message")))
        if rec.get("tls_resumed"):
            resumed += 1
        if rec.get("reused"):
            reused += 1
        t = rec.get("timings_us") or {}
        if "total" in t:
            tot.append(t["total"])
        if t.get("tls"):
            tls.append(t["tls"])
        if t.get("connect"):
            conn.append(t["connect"])
        if len(body) < 3:
            body.append((rec.get("body_bytes"), rec.get("body_sha256")))
        body_sum += rec.get("body_bytes") or 0
        wire_sum += rec.get("wire_bytes") or 0
        redirects += len(rec.get("redirects") or ())
        if check is not None:
            why = check(rec)
            if why is not None:
                bad[why] = bad.get(why, 0) + 1
                if len(bad_samples) < 5:
                    bad_samples.append("line %s: %s" % (rec.get("line"), why))

    def pct(xs, q):
        if not xs:
            return None
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(q * len(xs)))] / 1e6
    return {"records": n, "ok200": ok, "errors": errors, "statuses": statuses, "samples": samples,
            "tls_resumed": resumed, "reused": reused, "body": body,
            "body_bytes": body_sum, "wire_bytes": wire_sum, "redirects": redirects,
            "check_failed": bad, "check_samples": bad_samples,
            "total_p50": pct(tot, .5), "total_p99": pct(tot, .99), "total_max": pct(tot, 1),
            "tls_p50": pct(tls, .5), "tls_max": pct(tls, 1),
            "connect_p50": pct(conn, .5), "connect_max": pct(conn, 1)}


def hosts_wrap(hosts_file, argv):
    """argv run in a mount namespace of its own (`unshare -m`) where
    `hosts_file` is bind-mounted over /etc/hosts: the names in it resolve for
    that process only, through the C library's ordinary lookup, and nothing
    outside it changes. sh execs the client, so that wait4 measures it (plus
    the mount, ~1 ms)."""
    return ["unshare", "-m", "sh", "-c", "mount --bind %s /etc/hosts && exec %s" % (
        shlex.quote(hosts_file), " ".join(shlex.quote(a) for a in argv))]


def shorten_resolve(cmd):
    """A command line with its many `--resolve H:P:A` arguments (scenario 9)
    shortened for the report: the first two, `…`, the last, and how many."""
    rs = list(re.finditer(r"--resolve \S+", cmd))
    if len(rs) <= 4:
        return cmd
    keep = " ".join(m.group(0) for m in rs[:2]) + " … " + rs[-1].group(0)
    return "%s%s%s  # %d --resolve arguments in all, one per host name" % (
        cmd[:rs[0].start()], keep, cmd[rs[-1].end():], len(rs))


def tls_get(ca, host, port, path, scen, headers=()):
    """GET https://host:port/path from this script on a connection of its own
    to 127.0.0.1:port, SNI and Host = host, the leaf verified for that name
    against `ca` (scenarios 9 and 10: the SAN's DNS:*.crawl.test must match
    it). Returns (the head as bytes, its fields {lower-case name: value}, the
    body as sent: `Connection: close`, read to the end)."""
    import ssl
    ctx = ssl.create_default_context(cafile=ca)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    req = "GET %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n%s\r\n" % (
        path, host, port, "".join("%s: %s\r\n" % kv for kv in headers))
    try:
        with ctx.wrap_socket(raw, server_hostname=host) as t:
            t.sendall(req.encode())
            data = b""
            while True:
                chunk = t.recv(65536)
                if not chunk:
                    break
                data += chunk
    except (OSError, ssl.SSLError) as e:
        raise BenchError("scenario %s: TLS to %s (127.0.0.1:%d) failed: %s" % (scen, host, port, e))
    head, _, body = data.partition(b"\r\n\r\n")
    fields = {}
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.decode("latin-1").partition(":")
        fields[k.strip().lower()] = v.strip()
    return head, fields, body


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------
def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, nd=1):
    if x is None:
        return "—"
    if isinstance(x, int):
        return "{:,}".format(x)
    return "{:,.{}f}".format(x, nd)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def pct(x):
    return "—" if x is None else "%.0f%%" % x


def fr(x, nd=2):
    return "—" if x is None else "%.*f×" % (nd, x)


def verdict(value, key):
    """PASS/MISS with the margin, for a target from TARGETS."""
    op, lim = TARGETS[key]
    if value is None:
        return "NOT MEASURED"
    if op == "<=":
        if value <= lim:
            return "PASS (%.0f%% under the limit)" % (100 * (lim - value) / lim)
        return "MISS by %.0f%% (%.2f vs ≤ %.2f)" % (100 * (value - lim) / lim, value, lim)
    if value >= lim:
        return "PASS (%.0f%% above the floor)" % (100 * (value - lim) / lim)
    return "MISS by %.0f%% (%.2f vs ≥ %.2f)" % (100 * (lim - value) / lim, value, lim)


def passed(value, key):
    op, lim = TARGETS[key]
    if value is None:
        return None
    return value <= lim if op == "<=" else value >= lim

def tool_versions(rf):
    def first(argv, pick=None):
        try:
            cp = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, timeout=10)
            text = cp.stdout.decode("utf-8", "replace").strip()
        except Exception as e:
            return "unavailable (%s)" % e
        lines = text.splitlines()
        if pick:
            lines = [l for l in lines if pick in l] or lines
        return lines[0].strip() if lines else ""
    v = {
        "wrk": first(["wrk", "-v"], "wrk"),
        "h2load": first(["h2load", "--version"]),
        "curl": first(["curl", "--version"]),
        "nginx": first([NGINX, "-v"]),
        "nginx echo module": ECHO_MODULE,
        "openssl (cert generation)": first(["openssl", "version"]),
        "taskset": first(["taskset", "-V"]),
        "python": platform.python_version(),
        "compiler (ringfetch build)": first(["cc", "--version"]),
    }
    try:
        cp = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n", "wrk",
                             "nghttp2-client", "curl", "nginx", "libnginx-mod-http-echo",
                             "android-libboringssl", "liburing2", "libssl3", "libc-ares2", "node-llhttp"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=10)
        v["Debian packages"] = ", ".join(cp.stdout.decode().split("\n")[:-1])
    except Exception:
        pass
    h = hashlib.sha256()
    with open(rf, "rb") as f:
        h.update(f.read())
    build_type = "?"
    cache = os.path.join(os.path.dirname(os.path.abspath(rf)), "CMakeCache.txt")
    if os.path.exists(cache):
        with open(cache) as f:
            for line in f:
                if line.startswith("CMAKE_BUILD_TYPE:"):
                    build_type = line.split("=", 1)[1].strip() or "(empty)"
                if line.startswith("CMAKE_HOME_DIRECTORY:"):
                    build_type += ", source %s" % line.split("=", 1)[1].strip()
    v["ringfetch"] = "%s, %s (sha256 %s…, built %s, CMAKE_BUILD_TYPE %s)" % (
        first([rf, "--version"]), os.path.abspath(rf), h.hexdigest()[:16],
        datetime.datetime.fromtimestamp(os.path.getmtime(rf)).strftime("%Y-%m-%d %H:%M:%S"),
        build_type)
    return v


def machine_info():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = f.readline().split(":")[1].strip()
    info = {
        "nproc": os.cpu_count(),
        "kernel": platform.release(),
        "CPU model": model,
        "memory": mem,
        "open files (soft/hard)": "%d/%d" % __import__("resource").getrlimit(
            __import__("resource").RLIMIT_NOFILE),
    }
    for k, p in (("ip_local_port_range", "/proc/sys/net/ipv4/ip_local_port_range"),
                 ("somaxconn", "/proc/sys/net/core/somaxconn"),
                 ("tcp_max_syn_backlog", "/proc/sys/net/ipv4/tcp_max_syn_backlog"),
                 ("tcp_syncookies", "/proc/sys/net/ipv4/tcp_syncookies")):
        try:
            with open(p) as f:
                info[k] = " ".join(f.read().split())
        except OSError:
            pass
    return info


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def binary_source(rf):
    """The source folder of the ringfetch binary's build (CMAKE_HOME_DIRECTORY in
    the CMakeCache.txt next to it), when that is a folder other than this
    repository's (another worktree, e.g. an older commit built for a
    before/after comparison); else REPO."""
    cache = os.path.join(os.path.dirname(os.path.abspath(rf)), "CMakeCache.txt")
    try:
        with open(cache) as f:
            for line in f:
                if line.startswith("CMAKE_HOME_DIRECTORY:"):
                    src = line.split("=", 1)[1].strip()
                    if os.path.isdir(src) and os.path.realpath(src) != os.path.realpath(REPO):
                        return src
    except OSError:
        pass
    return REPO


def git_info(src=REPO):
    def git(*a):
        cp = subprocess.run(["git", "-C", src] + list(a), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, timeout=10)
        return cp.stdout.decode().rstrip()   # not strip(): porcelain lines begin with a space
    try:
        sha = git("rev-parse", "--short", "HEAD") or "nogit"
        dirty = git("status", "--porcelain", "--untracked-files=no")
        dirty_outside = [l for l in dirty.splitlines() if not l[3:].startswith("perf/")]
        ctime = int(git("log", "-1", "--format=%ct") or 0)
        return sha, git("log", "-1", "--format=%H %s")[:140], dirty_outside, ctime
    except Exception:
        return "nogit", "", [], 0


# ---------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------
SCEN_TITLES = {
    "1": "1. Keep-alive HTTPS, 1 KiB body, 100 connections",
    "2": "2. A new TLS connection per request (server keepalive_timeout 0), 100 connections",
    "3": "3. One 1 GiB HTTPS body",
    "4": "4. N requests to a 1 s-latency HTTPS endpoint, all at once",
    "5": "5. Peak RSS per open HTTPS connection at 10,000 connections",
    "6": "6. (extra) Plain-HTTP keep-alive, 1 KiB body, 100 connections",
    "7": "7. (extra) One 1 GiB HTTPS body from ringfetch's embedded server (not nginx)",
    "8": "8. (extra) Keep-alive HTTPS, 1 KiB body, 100 connections, and a new TLS connection per "
         "request, against ringfetch's embedded server (not nginx)",
    "9": "9. Many hosts: 19,003 HTTPS URLs interleaved over 997 host names, concurrency 300",
    "10": "10. Crawl (issue 9, no target): 100,000 HTTPS URLs over 1,000 host names, gzip'd HTML-like "
          "pages, 10% redirected first, `--compressed -L`, concurrency 300",
    "11": "11. Flat memory with input length (issue 10): `ringfetch fetch` over 100,000 and 1,000,000 lines, "
          "10,000 host names, valid, invalid and failing URLs mixed, concurrency 1,000",
}


def scen_key(s):
    """Scenarios in numeric order (10 after 9), anything else after them."""
    return (0, int(s), s) if s.isdigit() else (1, 0, s)


DISTURBED_PCT = 25.0   # other processes' CPU, % of one core, above which a run is flagged
SUMMARY_EXTRA = ("ringfetch: concurrency:", "ringfetch: time per phase:", "ringfetch: engine:")
# the summary's line on retries and redirects (printed when there were any: -L in 10)
_RF_HOPS = re.compile(r"ringfetch: (\d+) retries, (\d+) redirects followed, (\d+) requests waited for "
                      r"their host .*; peak idle connections (\d+)")


def summary_extra(line):
    """Whether a stderr line of `ringfetch fetch` is one of its summary's
    further lines (figures, not anomalies)."""
    return line.startswith(SUMMARY_EXTRA) or _RF_HOPS.match(line) is not None


def parse_rf_hops(stderr):
    m = _RF_HOPS.search(stderr)
    if not m:
        return None
    return dict(zip(("retries", "redirects", "waited", "peak_idle"), (int(x) for x in m.groups())))


class Bench:
    def __init__(self, args):
        self.args = args
        self.rf = args.ringfetch
        self.quick = args.quick
        self.reps = args.reps if args.reps else (1 if args.quick else 3)
        self.dur = args.duration if args.duration else (2 if args.quick else 3)
        self.sleep_ns = [10, 100, 1000, 10000]
        self.rss_cs = [1000, 10000]
        self.results = {}       # scenario -> {client -> [run dicts]}
        self.notes = {}         # scenario -> [strings]
        self.commands = {}      # scenario -> [command strings, in order]
        self.extra = {}         # scenario -> free-form extra data
        self.root = None
        self.nginx = None
        self.nofile = args.nofile
        self.disturbed = []     # (scenario, client, rep, other load %)

    # ---- setup ----------------------------------------------------------
    def setup(self, scens):
        self.root = tempfile.mkdtemp(prefix="ringfetch-perf-")
        os.chmod(self.root, 0o755)      # the nginx worker runs as 'nobody'
        for sub in ("logs", "tmp", "www", "certs", "work"):
            os.makedirs(os.path.join(self.root, sub))
        os.chmod(os.path.join(self.root, "www"), 0o755)
        os.chmod(os.path.join(self.root, "logs"), 0o755)
        os.chmod(os.path.join(self.root, "certs"), 0o700)   # master (root) reads the key
        self.work = os.path.join(self.root, "work")
        log("temp dir %s; making certificates" % self.root)
        self.ca, crt, key = make_certs(os.path.join(self.root, "certs"))
        self.small = random.Random(0x70657266).randbytes(SMALL_SIZE)
        self._write_www("small", [self.small])
        self.big_sha256 = None
        if "3" in scens:
            self._make_big()
        self.crawl_pages = self._make_crawl_pages() if "10" in scens else []
        self.nginx = Nginx(self.root, crt, key, os.path.join(self.root, "www"), self.nofile)
        self.nginx.start()
        log("nginx master %d worker %d (affinity %s, nofile %s) ports %s" % (
            self.nginx.proc.pid, self.nginx.worker, self.nginx.worker_affinity,
            self.nginx.worker_nofile, self.nginx.ports))
        self._sanity()

    def _write_www(self, name, chunks):
        p = os.path.join(self.root, "www", name)
        with open(p, "wb") as f:
            for c in chunks:
                f.write(c)
        os.chmod(p, 0o644)
        return p

    def _make_big(self):
        """1 GiB of pseudo-random bytes (a 1 MiB random block, 1,024 times with
        a different first 8 bytes each: nginx does not compress anyway), a real
        file on disk (page cache after the first read)."""
        t0 = time.monotonic()
        block = random.Random(0x626967).randbytes(1 << 20)   # small: keeps this process's RSS low
        h = hashlib.sha256()
        p = os.path.join(self.root, "www", "big")
        with open(p, "wb") as f:
            for i in range(BIG_SIZE // len(block)):
                # vary each block a little so no two 1 MiB blocks are equal
                b = i.to_bytes(8, "little") + block[8:]
                f.write(b)
                h.update(b)
        os.chmod(p, 0o644)
        self.big_sha256 = h.hexdigest()
        log("wrote %s (%d bytes, sha256 %s…) in %.1f s" % (p, os.path.getsize(p),
                                                          self.big_sha256[:16], time.monotonic() - t0))

    def _make_crawl_pages(self):
        """Scenario 10's pages: www/crawl/pageK.html, HTML-like text of about
        CRAWL_PAGE_KIB[K] KiB (html_page), and pageK.html.gz, the same gzip'd
        at CRAWL_GZIP_LEVEL (what nginx's `gzip on` makes at its default
        level), which nginx's gzip_static sends as it is to a client that
        accepts gzip. Returns [{name, size, sha256, gz_size, gz}]."""
        d = os.path.join(self.root, "www", "crawl")
        os.makedirs(d)
        os.chmod(d, 0o755)
        pages = []
        for k, kib in enumerate(CRAWL_PAGE_KIB):
            html = html_page(0x68746d6c + k, kib * 1024)
            gz = gzip.compress(html, compresslevel=CRAWL_GZIP_LEVEL, mtime=0)
            name = "page%d.html" % k
            self._write_www("crawl/" + name, [html])
            self._write_www("crawl/" + name + ".gz", [gz])
            pages.append({"name": name, "size": len(html), "sha256": hashlib.sha256(html).hexdigest(),
                          "gz_size": len(gz), "gz": gz})
        log("scenario 10 pages: %s" % ", ".join("%s %s bytes (gzip %s, %.1f×)" % (
            p["name"], fmt(p["size"]), fmt(p["gz_size"]), p["size"] / p["gz_size"]) for p in pages))
        return pages

    def _sanity(self):
        import ssl
        ctx = ssl.create_default_context(cafile=self.ca)
        checks = [("https", "GET", "/small", self.small), ("https_close", "GET", "/small", self.small),
                  ("http", "GET", "/small", self.small), ("https", "GET", "/sleep", b"ok\n")]
        if self.big_sha256:
            checks.append(("https", "HEAD", "/big", None))
        for port_key, method, path, want in checks:
            port = self.nginx.ports[port_key]
            if port_key == "http":
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            else:
                c = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=ctx)
            try:
                c.request(method, path, headers={"Accept-Encoding": "gzip, br"})
                r = c.getresponse()
                body = r.read()
                hdrs = dict((k.lower(), v) for k, v in r.getheaders())
            finally:
                c.close()
            if r.status != 200 or (want is not None and body != want):
                raise BenchError("sanity check %s %s%s: status %d, %d bytes" % (
                    method, port_key, path, r.status, len(body)))
            if path == "/big":
                if hdrs.get("content-length") != str(BIG_SIZE) or "content-encoding" in hdrs:
                    raise BenchError("/big: unexpected headers %r" % hdrs)
                self.big_headers = hdrs

    def url(self, server, path):
        scheme = "http" if server == "http" else "https"
        return "%s://127.0.0.1:%d%s" % (scheme, self.nginx.ports[server], path)

    def url_file(self, name, server, path, n, tag=""):
        p = os.path.join(self.work, name)
        base = self.url(server, path)
        with open(p, "w") as f:
            for i in range(n):
                f.write("%s?%si=%d\n" % (base, tag, i))
        return p

    def tls_args(self, server):
        return [] if server == "http" else ["--cacert", self.ca]

    def target(self, server, path):
        """`path` on one of nginx's servers ("https", "https_close", "http")."""
        return Target(self.url(server, path), self.tls_args(server))

    def record(self, scen, client, res):
        self.results.setdefault(scen, {}).setdefault(client, []).append(res)

    def cmd(self, scen, argv):
        s = " ".join(shlex.quote(a) for a in argv)
        lst = self.commands.setdefault(scen, [])
        if s not in lst:
            lst.append(s)

    def note(self, scen, text):
        self.notes.setdefault(scen, []).append(text)
        log("%s: %s" % (scen, text))

    def _finish(self, scen, client, rep, res):
        done = res.get("done")
        res["rps"] = (done / res["wall"]) if done else None
        res["cpu_us_per_req"] = (res["cpu"] * 1e6 / done) if done else None
        res["nginx_cpu_us_per_req"] = (res["nginx_cpu"] * 1e6 / res["nginx_requests"]
                                       if res.get("nginx_cpu") is not None and res["nginx_requests"] > 0
                                       else None)
        res["server_busy_pct"] = (100 * res["server_cpu"] / res["wall"]
                                  if res.get("server_cpu") is not None and res["wall"] > 0 else None)
        res["rep"] = rep
        busy = res.get("cpu_busy") or {}
        res["client_core_busy"] = 100 * busy[int(CLIENT_CPU)] if int(CLIENT_CPU) in busy else None
        res["server_core_busy"] = 100 * busy[int(SERVER_CPU)] if int(SERVER_CPU) in busy else None
        # CPU time on CPUs 0 and 1 that was neither the client's nor nginx's worker's:
        # other processes on this shared machine (plus this script and some softirq work)
        if res["client_core_busy"] is not None and res["server_core_busy"] is not None and res["wall"] > 0:
            used = (res["client_core_busy"] + res["server_core_busy"]) / 100 * res["wall"]
            res["other_pct"] = max(0.0, 100 * (used - res["cpu"] - (res.get("nginx_cpu") or 0)
                                               - (res.get("server_cpu") or 0)) / res["wall"])
        else:
            res["other_pct"] = None
        if res["other_pct"] is not None and res["other_pct"] > DISTURBED_PCT and res["wall"] > 0.5:
            self.note(scen, "%s rep %d ran while other processes used %.0f%% of a core on CPUs 0-1: "
                      "disturbed" % (client, rep, res["other_pct"]))
            self.disturbed.append((scen, client, rep, res["other_pct"]))
        tcp = res.get("tcp") or {}
        if tcp.get("ListenOverflows") or tcp.get("TCPSynRetrans"):
            self.note(scen, "%s rep %d: the host's TCP counters moved during the run: %s (listen-queue "
                      "overflows make clients retransmit their SYN after 1 s)" % (
                          client, rep, ", ".join("%s +%d" % kv for kv in sorted(tcp.items()))))
        if res.get("after_exit_cpu", 0) >= 0.5:
            self.note(scen, "%s rep %d: after the client exited, CPUs 0-1 stayed busy (nginx not counted) "
                      "for %.1f s, %.2f core-s%s — kernel work the client left behind (not in its wait4 "
                      "rusage) or other processes" % (
                          client, rep, res["after_exit_s"], res["after_exit_cpu"],
                          "" if res.get("after_exit_quiet") else ", and was still busy when the bench gave up waiting"))
        self.record(scen, client, res)
        log("%s %-16s rep %d: rc=%d wall %.2fs done %s failed %s -> %s /s, client CPU %.2f s = %s us/req; "
            "nginx saw %d requests, %d connections, nginx CPU %.0f%%%s%s" % (
                scen, client, rep, res["rc"], res["wall"], done, res.get("failed"),
                fmt(res["rps"], 0), res["cpu"], fmt(res["cpu_us_per_req"], 1), res["nginx_requests"],
                res["nginx_accepts"], 100 * (res["nginx_cpu"] or 0) / max(res["wall"], 1e-9),
                "" if res.get("server_cpu") is None else ", embedded server CPU %.2f s (%.0f%%)" % (
                    res["server_cpu"], 100 * res["server_cpu"] / max(res["wall"], 1e-9)),
                "" if res.get("vmhwm_kib") is None else ", client VmHWM %.1f MiB" % (
                    res["vmhwm_kib"] / 1024)))

    # ---- one client run each --------------------------------------------------
    @staticmethod
    def tag(scen, client, rep):
        """The name of one run's files in the work folder."""
        return "%s-%s-%d" % (scen, client.replace(" ", "_").replace("=", ""), rep)

    def run_rf_bench(self, scen, rep, client, target, conc, new_conn=False, timeout=None,
                     hwm=False, sample=False, dur=None):
        dur = dur or self.dur
        argv = [self.rf, "bench", "-c", str(conc), "-d", "%ds" % dur, "--json"]
        if new_conn:
            argv.append("--new-conn")
        argv += target.tls + [target.url]
        res = run_client(self.nginx, argv, timeout or dur + 60, self.work, self.tag(scen, client, rep),
                         hwm=hwm, sample=sample, server_pid=target.pid)
        self.cmd(scen, res["argv"])
        try:
            j = json.loads(read_text(res["stdout_path"]))
        except ValueError:
            j = None
        res["json"] = j
        if j is None:
            res["done"] = res["failed"] = None
            self.note(scen, "%s rep %d: no JSON; rc=%d timed_out=%s stderr: %s" % (
                client, rep, res["rc"], res["timed_out"], res["stderr"][-1500:].strip()))
        else:
            st = j.get("status", {})
            res["done"] = st.get("2xx", 0)
            res["failed"] = (sum(j.get("errors", {}).values()) + sum(v for k, v in st.items() if k != "2xx"))
            if res["failed"] or res["rc"] != 0:
                self.note(scen, "%s rep %d: rc=%d, errors %s, statuses %s" % (
                    client, rep, res["rc"], j.get("errors"), st))
        if res["stderr"].strip():
            self.note(scen, "%s rep %d stderr: %s" % (client, rep, res["stderr"].strip()[-600:]))
        self._finish(scen, client, rep, res)
        return res

    def run_rf_fetch(self, scen, rep, client, argv_tail, n, out, timeout, quiet=False, sample=False,
                     hwm=False, check=None, hosts_file=None, mixed=False):
        """`hosts_file`: ringfetch runs with that file as its /etc/hosts
        (hosts_wrap). `mixed`: the input holds lines meant to fail (scenario
        11): the caller checks the records, and exit status 1 (some failed) is
        not a note."""
        argv = [self.rf, "fetch"] + argv_tail
        if quiet:
            argv.insert(2, "-q")
        argv += ["-o", out]
        if hosts_file:
            argv = hosts_wrap(hosts_file, argv)
        res = run_client(self.nginx, argv, timeout, self.work, self.tag(scen, client, rep),
                         sample=sample, hwm=hwm)
        self.cmd(scen, res["argv"])
        summ = parse_rf_summary(res["stderr"])
        res["summary"] = summ
        res["summary_line"] = next((l for l in res["stderr"].splitlines()
                                    if l.startswith("ringfetch: ") and "requests," in l), None)
        res["done"] = summ["ok"] if summ else None
        res["failed"] = summ["failed"] if summ else None
        if out != "/dev/null" and not mixed:
            recs = res["records"] = rf_records(out, check)
            res["done"] = recs["ok200"]
            res["failed"] = n - recs["ok200"]
            if recs["records"] != n or recs["errors"] or recs["ok200"] != n:
                self.note(scen, "%s rep %d: %d records for %d URLs, %d ok (200, error null), errors "
                          "by kind %s, statuses %s; first failed records: %s" % (
                              client, rep, recs["records"], n, recs["ok200"], recs["errors"],
                              recs["statuses"], "; ".join(recs["samples"]) or "none"))
        elif summ is None:
            self.note(scen, "%s rep %d: no summary line; rc=%d timed_out=%s stderr: %s" % (
                client, rep, res["rc"], res["timed_out"], res["stderr"][-1500:].strip()))
        if res["rc"] not in ((0, 1) if mixed else (0,)) or res["timed_out"]:
            self.note(scen, "%s rep %d: rc=%d timed_out=%s" % (client, rep, res["rc"], res["timed_out"]))
        # the summary's further lines (achieved concurrency, time per phase) are
        # figures, not anomalies
        res["summary_extra"] = [l[len("ringfetch: "):] for l in res["stderr"].splitlines()
                                if summary_extra(l)]
        res["hops"] = parse_rf_hops(res["stderr"])
        other = [l for l in res["stderr"].splitlines() if l != res["summary_line"] and l.strip()
                 and not summary_extra(l)]
        if other:
            self.note(scen, "%s rep %d stderr (other than the summary): %s" % (
                client, rep, " | ".join(other[:10])))
        self._finish(scen, client, rep, res)
        return res

    def run_h2load(self, scen, rep, target, n, conc, timeout=300, client="h2load"):
        argv = ["h2load", "--h1", "-n", str(n), "-c", str(conc), "-t", "1", target.url]
        res = run_client(self.nginx, argv, timeout, self.work, self.tag(scen, client, rep),
                         server_pid=target.pid)
        self.cmd(scen, res["argv"])
        text = read_text(res["stdout_path"])
        res["parsed"] = parse_h2load(text)
        res["done"] = res["parsed"].get("succeeded")
        res["failed"] = (n - res["done"]) if res["done"] is not None else None
        if res["done"] is None or res["failed"] or res["rc"] != 0:
            self.note(scen, "%s rep %d: rc=%d timed_out=%s parsed=%s; tail: %s" % (
                client, rep, res["rc"], res["timed_out"], res["parsed"], text[-600:].strip()))
        self._finish(scen, client, rep, res)
        return res

    def run_wrk(self, scen, rep, target, conc, close=False, client="wrk"):
        argv = ["wrk", "-t1", "-c%d" % conc, "-d%ds" % self.dur]
        if close:
            argv += ["-H", "Connection: close"]
        argv.append(target.url)
        res = run_client(self.nginx, argv, self.dur + 60, self.work, self.tag(scen, client, rep),
                         server_pid=target.pid)
        self.cmd(scen, res["argv"])
        text = read_text(res["stdout_path"])
        res["parsed"] = parse_wrk(text)
        req = res["parsed"].get("requests")
        res["done"] = (req - res["parsed"]["non2xx"]) if req is not None else None
        res["failed"] = res["parsed"]["non2xx"] if req is not None else None
        errs = res["parsed"].get("socket_errors") or {}
        if res["done"] is None or res["failed"] or any(errs.values()) or res["rc"] != 0:
            self.note(scen, "%s rep %d: rc=%d non2xx=%s socket errors=%s" % (
                client, rep, res["rc"], res["parsed"].get("non2xx"), errs or "none"))
        self._finish(scen, client, rep, res)
        return res

    # ---- 1, 2, 6, 8: request rate at 100 connections --------------------------------
    def scen_rate(self, scen, server, close=False, suffix=""):
        """ringfetch bench, wrk and h2load at CONC connections, a 1 KiB body.
        `server`: one of nginx's, or EMBEDDED: a fresh `ringfetch serve --tls`
        for every client run, so that its own count of requests and
        connections at exit belongs to that run. `close`: a new connection per
        request. `suffix`: added to the client names (8 has both variants)."""
        ex = self.extra.setdefault(scen, {})
        ex.update({"conc": CONC, "server": server, "dur": self.dur})
        reused_log = os.path.join(self.root, "logs", "reused.log")
        h2n = [None]

        def one(client, rep):
            srv = None
            if server == EMBEDDED:
                srv = EmbeddedServer(self.rf, self.work, scen)
                srv.start()
                self.cmd(scen, srv.argv)
                target = srv.target(SMALL_SIZE, close)
            else:
                target = self.target(server, "/small")
            tail = LogTail(reused_log) if close and srv is None else None
            name = client + suffix
            try:
                if client == "ringfetch":
                    res = self.run_rf_bench(scen, rep, name, target, CONC, new_conn=close)
                    if h2n[0] is None and res["done"]:
                        # h2load is count-based: as many requests as ringfetch did in
                        # its first run, so that it runs about as long
                        h2n[0] = max(1000, int(round(res["done"], -3)))
                        ex["h2load_n" + suffix] = h2n[0]
                elif client == "wrk":
                    res = self.run_wrk(scen, rep, target, CONC, close=close, client=name)
                else:
                    res = self.run_h2load(scen, rep, target, h2n[0] or 20000, CONC, client=name)
            finally:
                if srv is not None:
                    srv.stop()
            if srv is not None:
                self._server_counts(scen, name, rep, res, srv, close)
            if tail is not None:
                lines = tail.lines(expect=res["nginx_requests"])
                res["srv_conns"] = len(lines)
                res["srv_resumed"] = sum(1 for l in lines if l.startswith("r "))
                protos = {}
                for l in lines:
                    parts = l.split()
                    if len(parts) >= 3:
                        k = parts[1] + " " + parts[2]
                        protos[k] = protos.get(k, 0) + 1
                res["srv_protocols"] = protos

        orders = [["ringfetch", "wrk", "h2load"], ["wrk", "h2load", "ringfetch"],
                  ["h2load", "ringfetch", "wrk"]]
        for rep in range(1, self.reps + 1):
            order = orders[(rep - 1) % 3]
            if rep > 1 and h2n[0] is None:
                order = ["ringfetch"] + [c for c in order if c != "ringfetch"]
            for client in order:
                one(client, rep)

    def scen_1(self):
        self.scen_rate("1", "https")

    def scen_2(self):
        self.scen_rate("2", "https_close", close=True)

    def scen_6(self):
        self.scen_rate("6", "http")

    # ---- 8 (extra): 1 and 2 against ringfetch's embedded server ----------------------
    def scen_8(self):
        """1 and 2 again, with `ringfetch serve --tls` on the server CPU instead of
        nginx (idle meanwhile): the same clients and options, `/?size=1024` and,
        for a new connection per request, `/?size=1024&close=1` (the server
        closes every connection after its response, as nginx's keepalive_timeout
        0 server in 2 does). A fresh server per client run: its count of
        requests and connections at exit is checked against the client's."""
        self.note("8", "an extra, not the issue's scenarios 1 and 2 (no target): in 1 and 2 nginx's "
                  "single worker core is saturated (~99%% busy), so requests/s and handshakes/s measure "
                  "nginx, and on loopback each side's kernel network work is partly billed to the other "
                  "side's process, so a saturated server also blurs the client's CPU per request; "
                  "ringfetch's embedded server does less work per request, so here the client is the "
                  "limit and its own efficiency shows in the rates (CPU%s busy below says how close the "
                  "server's core still came to saturation)" % SERVER_CPU)
        self._check_8()
        self.scen_rate("8", EMBEDDED)
        self.scen_rate("8", EMBEDDED, close=True, suffix=" new-conn")
        # every run had a server of its own, on a port of its own: one command per client
        shown = []
        for c in self.commands.get("8", []):
            c = re.sub(r"127\.0\.0\.1:\d+/", "127.0.0.1:PORT/", c)
            if c not in shown:
                shown.append(c)
        self.commands["8"] = shown

    def _check_8(self):
        """Before the runs, on a server of its own: both URLs answer 200 with the
        1,024-byte pattern, the second with `Connection: close`, and the server
        counts the two requests on two connections."""
        srv = EmbeddedServer(self.rf, self.work, "8")
        srv.start()
        got = {}
        try:
            for close in (False, True):
                path = srv.path(SMALL_SIZE, close)
                status, hdrs, body = got[close] = srv.get("GET", path)
                conn = hdrs.get("connection", "")
                if (status != 200 or len(body) != SMALL_SIZE or hdrs.get("content-length") != str(SMALL_SIZE)
                        or hashlib.sha256(body).hexdigest() != pattern_sha256(SMALL_SIZE)
                        or (conn.lower() == "close") != close):
                    raise BenchError("embedded server GET %s: status %d, %d bytes, headers %r" % (
                        path, status, len(body), hdrs))
        finally:
            counts = srv.stop()
        if counts != (2, 2):
            raise BenchError("embedded server check: it counted %r (requests, connections), not (2, 2)" % (
                counts,))
        self.extra.setdefault("8", {})["headers"] = {k: v[1] for k, v in got.items()}

    def _server_counts(self, scen, client, rep, res, srv, close):
        """The embedded server's own count at exit, for the run it served: at
        least the client's 2xx, at most that plus its failures and the requests
        in flight when a time-based client stopped (CONC); with `close` one
        connection per request, else no more than CONC (+ a few)."""
        counts = srv.counts
        res["server_requests"], res["server_conns"] = counts if counts else (None, None)
        sreq, sconn = res["server_requests"], res["server_conns"]
        res["server_cpu_us_per_req"] = (res["server_cpu"] * 1e6 / sreq
                                        if sreq and res.get("server_cpu") is not None else None)
        done, failed = res.get("done") or 0, res.get("failed") or 0
        if counts is None:
            self.note(scen, "%s rep %d: the embedded server printed no count: %s" % (
                client, rep, read_text(srv.err_path)[-300:]))
        elif not done <= sreq <= done + failed + CONC:
            self.note(scen, "%s rep %d: the embedded server answered %d requests, the client counted %d "
                      "2xx and %d failed" % (client, rep, sreq, done, failed))
        elif (sconn < sreq) if close else (sconn > CONC + CONC // 10):
            self.note(scen, "%s rep %d: the embedded server counted %d requests on %d connections%s" % (
                client, rep, sreq, sconn, " (not one per request)" if close else ""))
        log("%s %-16s rep %d: the embedded server answered %s requests on %s connections, %s µs CPU each" % (
            scen, client, rep, sreq, sconn, fmt(res["server_cpu_us_per_req"], 1)))

    # ---- 3: one 1 GiB body ---------------------------------------------------------
    def scen_3(self):
        url = self.url("https", "/big")
        big_log = os.path.join(self.root, "logs", "big.log")
        self.extra["3"] = {"size": BIG_SIZE, "sha256": self.big_sha256,
                           "headers": getattr(self, "big_headers", {})}
        # warm the page cache (untimed): every client then reads from memory
        with open(os.path.join(self.root, "www", "big"), "rb") as f:
            while f.read(1 << 20):
                pass

        def check_log(client, rep, tail, res):
            lines = tail.lines(expect=1)
            res["srv_log"] = lines
            good = [l for l in lines if l.split()[:2] == ["200", str(BIG_SIZE)]]
            res["srv_ok"] = len(good) == 1 and len(lines) == 1
            if not res["srv_ok"]:
                self.note("3", "%s rep %d: nginx logged %r (want one '200 %d')" % (
                    client, rep, lines, BIG_SIZE))
            return res["srv_ok"]

        for rep in range(1, self.reps + 1):
            order = ["ringfetch", "curl", "ringfetch fetch"]
            order = order[(rep - 1) % 3:] + order[:(rep - 1) % 3]
            for client in order:
                tail = LogTail(big_log)
                tag = "3-%s-%d" % (client.replace(" ", "_"), rep)
                if client == "ringfetch":
                    argv = [self.rf, url, "-o", "/dev/null", "--cacert", self.ca]
                    res = run_client(self.nginx, argv, 120, self.work, tag, hwm=True)
                    ok = res["rc"] == 0 and check_log(client, rep, tail, res)
                    if res["rc"] != 0:
                        self.note("3", "ringfetch rep %d: rc=%d stderr %s" % (
                            rep, res["rc"], res["stderr"].strip()[-500:]))
                elif client == "curl":
                    argv = ["curl", "-s", "-o", "/dev/null", "--cacert", self.ca,
                            "-w", "%{http_code} %{size_download}\\n", url]
                    res = run_client(self.nginx, argv, 120, self.work, tag, hwm=True)
                    out = read_text(res["stdout_path"]).split()
                    ok = (res["rc"] == 0 and out == ["200", str(BIG_SIZE)]
                          and check_log(client, rep, tail, res))
                    if not ok:
                        self.note("3", "curl rep %d: rc=%d -w %r stderr %s" % (
                            rep, res["rc"], out, res["stderr"].strip()[-500:]))
                else:
                    recs = os.path.join(self.work, "3-fetch-%d.jsonl" % rep)
                    argv = [self.rf, "fetch", "--cacert", self.ca, "-o", recs, url]
                    res = run_client(self.nginx, argv, 120, self.work, tag, hwm=True)
                    res["summary"] = parse_rf_summary(res["stderr"])
                    res["summary_line"] = next((l for l in res["stderr"].splitlines()
                                                if l.startswith("ringfetch: ") and "requests," in l), None)
                    res["summary_extra"] = [l[len("ringfetch: "):] for l in res["stderr"].splitlines()
                                            if summary_extra(l)]
                    r = rf_records(recs)
                    res["records"] = r
                    got = r["body"][0] if r["body"] else (None, None)
                    ok = (res["rc"] == 0 and r["ok200"] == 1 and got == (BIG_SIZE, self.big_sha256)
                          and check_log(client, rep, tail, res))
                    if not ok:
                        self.note("3", "ringfetch fetch rep %d: rc=%d record body %r (want %d, %s), "
                                  "errors %s, stderr %s" % (rep, res["rc"], got, BIG_SIZE,
                                                            self.big_sha256, r["errors"],
                                                            res["stderr"].strip()[-500:]))
                    os.unlink(recs)
                self.cmd("3", res["argv"])
                res["rss_kib"] = res.get("maxrss_kib") or res.get("vmhwm_kib")
                res["done"] = 1 if ok else 0
                res["failed"] = 0 if ok else 1
                res["mbs"] = (BIG_SIZE / 1e6 / res["wall"]) if ok else None
                self._finish("3", client, rep, res)

    # ---- 7 (extra): one 1 GiB body from ringfetch's embedded server ------------------
    def scen_7(self):
        """Like 3's ringfetch and curl runs, but against `ringfetch serve --tls` on
        the server CPU instead of nginx (idle meanwhile), whose single core
        saturates in 3. Every repetition first makes one untimed `ringfetch fetch`
        of the same URL and checks its record (status, Content-Length, body size
        and SHA-256 against the known pattern): the server sends the right body.
        The timed runs are then checked by themselves: curl's -w says `200
        1073741824`; ringfetch's URL mode exits 0 only when the transfer ended
        without error, which includes a body of exactly Content-Length bytes (a
        shorter one is a `closed` error). At the end the server's own count of
        requests and connections must equal the bench's."""
        self.note("7", "an extra, not the issue's scenario 3 (no target): in 3 nginx's single "
                  "worker core is saturated, so ringfetch and curl get about the same MB/s and "
                  "the ratio measures nginx; ringfetch's embedded server does less work per byte, "
                  "so here the clients' own efficiency shows in MB/s (CPU1 busy below says how "
                  "close the server's core still came to saturation)")
        t0 = time.monotonic()
        want_sha = pattern_sha256(BIG_SIZE)
        log("7: the embedded server's 1 GiB body has sha256 %s… (computed in %.1f s)" % (
            want_sha[:16], time.monotonic() - t0))
        srv = EmbeddedServer(self.rf, self.work)
        srv.start()
        self.cmd("7", srv.argv)
        url = srv.url(BIG_SIZE)
        ex = self.extra["7"] = {"sha256": want_sha, "url": url, "affinity": srv.affinity,
                                "port": srv.port}
        log("7: embedded server pid %d (affinity %s) on port %d" % (srv.pid, srv.affinity, srv.port))
        made = 0        # requests (= connections) the bench made to the server
        try:
            made += 1
            status, hdrs, _ = srv.get("HEAD", srv.path(BIG_SIZE), {"Accept-Encoding": "gzip, br"})
            if status != 200 or hdrs.get("content-length") != str(BIG_SIZE) or "content-encoding" in hdrs:
                raise BenchError("embedded server HEAD %s: status %d, headers %r" % (url, status, hdrs))
            ex["headers"] = hdrs
            for rep in range(1, self.reps + 1):
                check_ok, check_txt = self._check_7(srv, url, rep, want_sha)
                made += 1
                order = ["ringfetch", "curl"] if rep % 2 else ["curl", "ringfetch"]
                for client in order:
                    tag = "7-%s-%d" % (client, rep)
                    if srv.proc.poll() is not None:
                        raise BenchError("the embedded server exited (rc %d): %s" % (
                            srv.proc.returncode, read_text(srv.err_path)[-1000:]))
                    if client == "ringfetch":
                        argv = [self.rf, url, "-o", "/dev/null", "--cacert", srv.cert]
                        res = run_client(self.nginx, argv, 120, self.work, tag, hwm=True,
                                         server_pid=srv.pid)
                        ok = res["rc"] == 0 and not res["timed_out"]
                        if not ok:
                            self.note("7", "ringfetch rep %d: rc=%d timed_out=%s stderr %s" % (
                                rep, res["rc"], res["timed_out"], res["stderr"].strip()[-500:]))
                        elif res["stderr"].strip():
                            self.note("7", "ringfetch rep %d stderr: %s" % (rep, res["stderr"].strip()[-500:]))
                    else:
                        argv = ["curl", "-s", "-o", "/dev/null", "--cacert", srv.cert,
                                "-w", "%{http_code} %{size_download}\\n", url]
                        res = run_client(self.nginx, argv, 120, self.work, tag, hwm=True,
                                         server_pid=srv.pid)
                        out = read_text(res["stdout_path"]).split()
                        res["curl_w"] = " ".join(out)
                        ok = res["rc"] == 0 and out == ["200", str(BIG_SIZE)]
                        if not ok:
                            self.note("7", "curl rep %d: rc=%d -w %r stderr %s" % (
                                rep, res["rc"], out, res["stderr"].strip()[-500:]))
                    made += 1
                    self.cmd("7", res["argv"])
                    res["check"] = check_txt
                    ok = ok and check_ok
                    res["rss_kib"] = res.get("maxrss_kib") or res.get("vmhwm_kib")
                    res["done"] = 1 if ok else 0
                    res["failed"] = 0 if ok else 1
                    res["mbs"] = (BIG_SIZE / 1e6 / res["wall"]) if ok else None
                    self._finish("7", client, rep, res)
        finally:
            counts = srv.stop()
        ex["counts"], ex["made"] = counts, made
        if counts != (made, made):
            self.note("7", "the embedded server counted %s (requests, connections); the bench made %d "
                      "requests on as many connections" % (counts, made))
        else:
            log("7: the embedded server answered %d requests on %d connections, as many as the bench made"
                % counts)

    def _check_7(self, srv, url, rep, want_sha):
        """One untimed `ringfetch fetch` of `url` (client CPU): its record must say
        status 200, Content-Length 1 GiB, no Content-Encoding, a body of that
        size with the pattern's SHA-256. Returns (ok, text for the raw table)."""
        recs = os.path.join(self.work, "7-check.jsonl")
        argv = ["taskset", "-c", CLIENT_CPU, self.rf, "fetch", "-q", "--cacert", srv.cert, "-o", recs, url]
        self.cmd("7", argv)
        t0 = time.monotonic()
        try:
            cp = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=clean_env(), cwd=self.work, timeout=120, start_new_session=True,
                                preexec_fn=_die_with_parent(signal.SIGKILL))
            rc, err = cp.returncode, cp.stderr.decode("utf-8", "replace").strip()
        except subprocess.TimeoutExpired:
            rc, err = None, "timed out"
        wall = time.monotonic() - t0
        rec = {}
        try:
            with open(recs) as f:
                lines = f.read().splitlines()
            rec = json.loads(lines[0]) if len(lines) == 1 else {"lines": len(lines)}
        except (OSError, ValueError) as e:
            rec = {"unreadable": str(e)}
        if os.path.exists(recs):
            os.unlink(recs)
        hdrs = rec.get("headers") or {}
        ok = (rc == 0 and rec.get("status") == 200 and rec.get("error") is None
              and rec.get("body_bytes") == BIG_SIZE and rec.get("body_sha256") == want_sha
              and hdrs.get("content-length") == str(BIG_SIZE) and "content-encoding" not in hdrs)
        if not ok:
            self.note("7", "rep %d: the check `ringfetch fetch` failed: rc=%s record %r stderr %s" % (
                rep, rc, {k: v for k, v in rec.items() if k != "timings_us"}, err[-500:]))
        quiet_after(self.nginx, server_pid=srv.pid)
        txt = "check fetch before this rep (untimed, %.2f s): %s" % (
            wall, "status 200, %s bytes, sha256 matches the pattern" % fmt(BIG_SIZE) if ok else "FAILED")
        return ok, txt

    # ---- curl --parallel (4 and 9) ---------------------------------------------------
    def curl_config(self, name, urls, resolve=()):
        """A `curl -K` file in the work folder: a `resolve = "HOST:PORT:ADDR"` line
        per entry of `resolve` (curl's --resolve), then a `url` / `output
        "/dev/null"` pair per URL."""
        p = os.path.join(self.work, name)
        with open(p, "w") as f:
            for r in resolve:
                f.write('resolve = "%s"\n' % r)
            for u in urls:
                f.write('url = "%s"\noutput = "/dev/null"\n' % u)
        return p

    def run_curl_parallel(self, scen, rep, client, cfg, n, timeout, tag, parallel=CURL_MAX_PARALLEL,
                          hosts_file=None, extra=(), wfmt="%{http_code}\\n"):
        """`curl --parallel --parallel-immediate --parallel-max P [extra] -s
        --cacert CA -w '%{http_code}\\n' -K cfg` (cfg from curl_config, n URLs),
        nginx's peak open connections sampled: done = the `200` lines of its -w
        output, failed = n - done (a note says which codes came instead).
        `hosts_file`: curl runs in a mount namespace of its own where that file
        is /etc/hosts (see hosts_wrap). `wfmt`: another -w format whose lines
        begin with %{http_code} (its lines are in res["w_lines"])."""
        argv = (["curl", "--parallel", "--parallel-immediate", "--parallel-max", str(parallel)] + list(extra) +
                ["-s", "--cacert", self.ca, "-w", wfmt, "-K", cfg])
        if hosts_file:
            argv = hosts_wrap(hosts_file, argv)
        res = run_client(self.nginx, argv, timeout, self.work, tag, sample=True)
        self.cmd(scen, res["argv"])
        res["w_lines"] = read_text(res["stdout_path"]).splitlines()
        codes = [l.split()[0] for l in res["w_lines"] if l.strip()]
        res["done"] = codes.count("200")
        res["failed"] = n - res["done"]
        if res["failed"] or res["rc"] != 0:
            hist = {}
            for c in codes:
                hist[c] = hist.get(c, 0) + 1
            self.note(scen, "%s rep %d: rc=%d, %d x 200 of %d, codes %s, stderr: %s" % (
                client, rep, res["rc"], res["done"], n, hist, res["stderr"][-500:].strip()))
        self._finish(scen, client, rep, res)
        return res

    # ---- 4: N requests to the 1 s endpoint, all at once ------------------------------
    def scen_4(self):
        ns = self.sleep_ns
        self.extra["4"] = {"ns": ns}
        files = {}
        for n in ns:
            urls = self.url_file("4-urls-%d.txt" % n, "https", "/sleep", n, tag="n=%d&" % n)
            cfg = self.curl_config("4-curl-%d.cfg" % n, ("%s?n=%d&i=%d" % (self.url("https", "/sleep"), n, i)
                                                         for i in range(n)))
            files[n] = (urls, cfg)
        for rep in range(1, self.reps + 1):
            for n in ns:
                urls, cfg = files[n]
                order = ["ringfetch", "curl"] if rep % 2 else ["curl", "ringfetch"]
                for client in order:
                    if client == "ringfetch":
                        out = os.path.join(self.work, "4-rf-%d-%d.jsonl" % (n, rep))
                        self.run_rf_fetch("4", rep, "ringfetch N=%d" % n,
                                          ["-c", str(n), "--cacert", self.ca, "-i", urls], n, out,
                                          timeout=120, quiet=True, sample=True)
                        os.unlink(out)
                    else:
                        if self.quick and n > 1000:
                            continue
                        self.run_curl_parallel("4", rep, "curl N=%d" % n, cfg, n,
                                               60 + 2 * n // CURL_MAX_PARALLEL, "4-curl-%d-%d" % (n, rep))
        if self.quick:
            self.note("4", "--quick: curl not run at N=10000 (it takes ~34 s)")

    # ---- 9: many hosts ------------------------------------------------------------------
    def many_hosts(self, n=MANY_HOSTS):
        """The host names h0 … h(n-1).crawl.test of scenarios 9 (n = MANY_HOSTS)
        and 10 (CRAWL_HOSTS) and their --resolve entries (all to nginx's
        keep-alive HTTPS port on 127.0.0.1)."""
        port = self.nginx.ports["https"]
        hosts = ["h%d.%s" % (k, MANY_DOMAIN) for k in range(n)]
        return hosts, ["%s:%d:127.0.0.1" % (h, port) for h in hosts]

    def hosts_file(self, name, hosts):
        """A hosts file in the work folder listing `hosts` at 127.0.0.1, for the
        curl runs with a private /etc/hosts (hosts_wrap) in 9 and 10."""
        p = os.path.join(self.work, name)
        with open(p, "w") as f:
            f.write("127.0.0.1 localhost\n" + "".join("127.0.0.1 %s\n" % h for h in hosts))
        return p

    def scen_9(self):
        """MANY_URLS URLs of /small interleaved round-robin over MANY_HOSTS host
        names (URL i on host i % MANY_HOSTS, query `?i=I`), every name resolved
        to 127.0.0.1 with --resolve, HTTPS verified against the test CA;
        `ringfetch fetch -c 300` vs `curl --parallel --parallel-max 300`. Checks:
        every request answers 200 (both clients), the certificate's wildcard
        covers the names (checked once before the runs). Measured: req/s,
        client user/sys CPU, the connections each client opened (nginx's
        accepted connections), ringfetch's requests on reused connections (its
        records' "reused")."""
        port = self.nginx.ports["https"]
        hosts, resolve = self.many_hosts()
        urls = ["https://%s:%d/small?i=%d" % (hosts[i % MANY_HOSTS], port, i) for i in range(MANY_URLS)]
        url_path = os.path.join(self.work, "9-urls.txt")
        with open(url_path, "w") as f:
            f.write("".join(u + "\n" for u in urls))
        cfg = self.curl_config("9-curl.cfg", urls, resolve)
        # the control: curl with the names in a hosts file of its own instead of
        # MANY_HOSTS --resolve entries, whose cost grows with the list (see the report)
        hosts_file = self.hosts_file("9-hosts", hosts)
        cfg_hosts = self.curl_config("9-curl-hosts.cfg", urls)
        control = self._check_9_hosts(hosts_file, hosts)
        self.extra["9"] = {"hosts": MANY_HOSTS, "urls": MANY_URLS, "conc": MANY_CONC,
                           "first_urls": urls[:2] + [urls[MANY_HOSTS]], "last_url": urls[-1],
                           "cfg_head": read_text(cfg).splitlines()[:2] + ["…"] +
                           read_text(cfg).splitlines()[MANY_HOSTS:MANY_HOSTS + 4] + ["…"],
                           "check": self._check_9(hosts, port)}
        rf_tail = ["-c", str(MANY_CONC), "-i", url_path, "--cacert", self.ca]
        for r in resolve:
            rf_tail += ["--resolve", r]
        self.extra["9"]["control"] = control
        clients = ["ringfetch", "curl"] + ([CURL_HOSTS] if control is True else [])
        for rep in range(1, self.reps + 1):
            k = (rep - 1) % len(clients)
            order = clients[k:] + clients[:k]
            for client in order:
                if client == "ringfetch":
                    out = os.path.join(self.work, "9-rf-%d.jsonl" % rep)
                    res = self.run_rf_fetch("9", rep, "ringfetch", rf_tail, MANY_URLS, out,
                                            timeout=120, quiet=True, sample=True)
                    os.unlink(out)
                    recs = res.get("records") or {}
                    res["reused"] = recs.get("reused")
                    res["tls_resumed"] = recs.get("tls_resumed")
                else:
                    hosts = client == CURL_HOSTS
                    res = self.run_curl_parallel("9", rep, client, cfg_hosts if hosts else cfg, MANY_URLS, 120,
                                                 "9-curl%s-%d" % ("-hosts" if hosts else "", rep),
                                                 parallel=MANY_CONC, hosts_file=hosts_file if hosts else None)
                    # curl has no per-request reuse count: every connection nginx
                    # accepted served a first request, the rest came on reused ones
                    res["reused"] = max(0, res["done"] - res["nginx_accepts"]) if res["done"] else None
                    res["tls_resumed"] = None
                n = res.get("done") or 0
                res["reused_pct"] = 100.0 * res["reused"] / MANY_URLS if res["reused"] is not None else None
                res["req_per_conn"] = n / res["nginx_accepts"] if res["nginx_accepts"] > 0 else None
                if client == "ringfetch" and res["reused"] is not None and n == MANY_URLS:
                    # the records' count against the server's: requests - connections
                    # (a connection opened but never used would make them differ)
                    if abs((MANY_URLS - res["nginx_accepts"]) - res["reused"]) > MANY_URLS // 100:
                        self.note("9", "ringfetch rep %d: its records say %d requests on reused connections, "
                                  "but nginx accepted %d connections for %d requests (%d reused by that "
                                  "count)" % (rep, res["reused"], res["nginx_accepts"], MANY_URLS,
                                              MANY_URLS - res["nginx_accepts"]))
                log("9 %-16s rep %d: %s connections opened (nginx), %s requests on reused connections (%s), "
                    "%s requests per connection, peak open at nginx %s" % (
                        client, rep, fmt(res["nginx_accepts"]), fmt(res["reused"]),
                        "records" if client == "ringfetch" else "requests - connections",
                        fmt(res["req_per_conn"], 1), fmt(res.get("peak_active"))))
        # the commands with their MANY_HOSTS --resolve arguments shortened
        self.commands["9"] = [shorten_resolve(c) for c in self.commands.get("9", [])]

    def _check_9_hosts(self, hosts_file, hosts, scen="9", what="the control",
                       who="curl with the names in a hosts file"):
        """Whether the curl runs with a hosts file can run (9's control, 10's
        main peer): in a mount namespace with `hosts_file` over /etc/hosts, the
        first and the last name resolve to 127.0.0.1 (needs root and
        `unshare`). True, or why not (a note)."""
        argv = hosts_wrap(hosts_file, ["getent", "ahostsv4", hosts[0], hosts[-1]])
        try:
            cp = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                timeout=10)
            out = cp.stdout.decode("utf-8", "replace")
        except (OSError, subprocess.TimeoutExpired) as e:
            cp, out = None, str(e)
        if cp is not None and cp.returncode == 0 and out.count("127.0.0.1") >= 2:
            return True
        why = "`%s` failed: %s" % (" ".join(argv), out.strip()[-300:])
        self.note(scen, "%s (%s) is not run: %s" % (what, who, why))
        return why

    def _check_9(self, hosts, port):
        """Before the runs: the first and the last host name answer /small over
        TLS with the leaf verified against the test CA for that name (SNI and
        Host = the name; the SAN's DNS:*.crawl.test must match it)."""
        for h in (hosts[0], hosts[-1]):
            head, _, body = tls_get(self.ca, h, port, "/small", "9")
            if not head.startswith(b"HTTP/1.1 200 ") or body != self.small:
                raise BenchError("scenario 9: GET https://%s:%d/small answered %r, %d bytes" % (
                    h, port, head.split(b"\r\n")[0], len(body)))
        return "%s and %s answer /small (200, the 1,024 bytes) with the leaf verified for the name" % (
            hosts[0], hosts[-1])

    # ---- 10: a crawl: gzip'd pages over many hosts, --compressed -L ----------------------
    def crawl_plan(self, hosts, port):
        """Scenario 10's URLs: URL i on host i % CRAWL_HOSTS (round-robin, as in
        9), page K drawn at random (a fixed seed) among the pages, and one URL
        in CRAWL_REDIRECT_EVERY a `/moved/` one that nginx answers with a 301
        to the page (per host the (i // CRAWL_HOSTS + host)-th round: each host
        gets its share, each round 10% of them). Returns (urls, page index
        per URL, redirect flag per URL)."""
        rng = random.Random(0x637261776c)
        urls, page, moved = [], bytearray(CRAWL_URLS), bytearray(CRAWL_URLS)
        for i in range(CRAWL_URLS):
            h = i % CRAWL_HOSTS
            k = rng.randrange(len(self.crawl_pages))
            red = (i // CRAWL_HOSTS + h) % CRAWL_REDIRECT_EVERY == 0
            page[i], moved[i] = k, red
            urls.append("https://%s:%d/%s/page%d.html?i=%d" % (hosts[h], port, "moved" if red else "crawl", k, i))
        return urls, page, moved

    def scen_10(self):
        """A crawl (issue 9): CRAWL_URLS HTTPS URLs over CRAWL_HOSTS host names
        (9's names and machinery), each an HTML-like page of 20-60 KiB that
        nginx sends gzip'd (gzip_static: the .gz files written at setup), one in
        CRAWL_REDIRECT_EVERY a 301 to it first; `ringfetch fetch -c 300
        --compressed -L` against `curl --parallel --parallel-max 300
        --compressed -L`, curl with the names in a private /etc/hosts (9's
        control) as the main peer and, on the first CRAWL_RESOLVE_URLS URLs,
        with CRAWL_HOSTS --resolve entries. Per run: req/s, user and sys CPU
        per request, decoded and wire MB/s, connections (nginx), reuse,
        ringfetch's peak RSS. Checks: every URL answers 200 after its
        redirects with the page's decoded size (ringfetch also its SHA-256)
        and its gzip size on the wire; nginx answered URLs + redirects."""
        port = self.nginx.ports["https"]
        pages = self.crawl_pages
        hosts, resolve = self.many_hosts(CRAWL_HOSTS)
        urls, page, moved = self.crawl_plan(hosts, port)
        n_moved = sum(moved)
        url_path = os.path.join(self.work, "10-urls.txt")
        with open(url_path, "w") as f:
            f.write("".join(u + "\n" for u in urls))
        cfg_hosts = self.curl_config("10-curl-hosts.cfg", urls)
        n_res = min(CRAWL_RESOLVE_URLS, CRAWL_URLS)
        cfg_res = self.curl_config("10-curl-resolve.cfg", urls[:n_res], resolve)
        hosts_file = self.hosts_file("10-hosts", hosts)
        control = self._check_9_hosts(hosts_file, hosts, "10", "the main peer")
        gz_of = {p["name"]: p for p in pages}
        self.extra["10"] = {
            "pages": [{k: v for k, v in p.items() if k != "gz"} for p in pages],
            "urls": CRAWL_URLS, "hosts": CRAWL_HOSTS, "conc": CRAWL_CONC, "moved": n_moved,
            "resolve_urls": n_res, "resolve_moved": sum(moved[:n_res]),
            "decoded_total": sum(pages[k]["size"] for k in page),
            "wire_total": sum(pages[k]["gz_size"] for k in page),
            "first_urls": urls[:2] + [urls[CRAWL_HOSTS]], "last_url": urls[-1],
            "moved_example": next(u for u, r in zip(urls, moved) if r),
            "check": self._check_10(hosts, port), "hosts_check": control}
        url_re = re.compile(r"^https://h(\d+)\.%s:%d/crawl/(page\d+\.html)\?i=(\d+)$" % (
            re.escape(MANY_DOMAIN), port))

        def check_record(rec):
            """What is wrong with one of ringfetch's records, or None."""
            i = (rec.get("line") or 0) - 1
            if not 0 <= i < CRAWL_URLS:
                return "line out of range"
            if rec.get("status") != 200 or rec.get("error") is not None:
                return "status %s error %s" % (rec.get("status"), rec.get("error"))
            p = pages[page[i]]
            if rec.get("body_bytes") != p["size"] or rec.get("body_sha256") != p["sha256"]:
                return "decoded body not the page's"
            if rec.get("wire_bytes") != p["gz_size"]:
                return "wire bytes not the page's .gz size"
            if len(rec.get("redirects") or ()) != moved[i]:
                return "%d redirects, want %d" % (len(rec.get("redirects") or ()), moved[i])
            if rec.get("final_url") != urls[i].replace("/moved/", "/crawl/"):
                return "final_url %s" % rec.get("final_url")
            return None

        def check_curl(res, n):
            """curl's -w lines (`code redirects size_download url_effective`):
            what came per URL. Sets done (200s), the decoded bytes (the pages'
            known sizes: curl writes the decoded body to /dev/null and reports
            only the wire size) and the wire bytes (size_download)."""
            bad, samples, seen = {}, [], set()
            dec = wire = 0
            for line in res["w_lines"]:
                f = line.split()
                if len(f) != 4:
                    why = "not `code redirects size url`"
                else:
                    code, nred, size, u = f
                    m = url_re.match(u)
                    i = int(m.group(3)) if m else -1
                    p = gz_of.get(m.group(2)) if m else None
                    if code != "200":
                        why = "status %s" % code
                    elif m is None or not 0 <= i < n or i in seen:
                        why = "unexpected url_effective"
                    elif p is not pages[page[i]] or int(m.group(1)) != i % CRAWL_HOSTS:
                        why = "url_effective not the URL's page"
                    elif int(nred) != moved[i]:
                        why = "%s redirects, want %d" % (nred, moved[i])
                    elif int(size) != p["gz_size"]:
                        why = "size_download %s, not the page's .gz size %d" % (size, p["gz_size"])
                    else:
                        why = None
                        seen.add(i)
                        dec += p["size"]
                    if code == "200":
                        wire += int(size)
                if why:
                    bad[why] = bad.get(why, 0) + 1
                    if len(samples) < 5:
                        samples.append("%s: %s" % (why, line[:200]))
            if bad:
                self.note("10", "%s rep %d: %d of %d -w lines failed the checks: %s; first: %s" % (
                    res["client"], res["rep"], sum(bad.values()), len(res["w_lines"]), bad, "; ".join(samples)))
            res["checked_ok"] = len(seen)
            return dec, wire

        rf_tail = ["-c", str(CRAWL_CONC), "--compressed", "-L", "-i", url_path, "--cacert", self.ca]
        for r in resolve:
            rf_tail += ["--resolve", r]
        curl_extra = ["--compressed", "-L"]
        wfmt = "%{http_code} %{num_redirects} %{size_download} %{url_effective}\\n"
        clients = ["ringfetch"] + ([CURL_HOSTS] if control is True else []) + [CURL_RESOLVE]
        for rep in range(1, self.reps + 1):
            k = (rep - 1) % len(clients)
            for client in clients[k:] + clients[:k]:
                if client == "ringfetch":
                    n = CRAWL_URLS
                    out = os.path.join(self.work, "10-rf-%d.jsonl" % rep)
                    res = self.run_rf_fetch("10", rep, client, rf_tail, n, out, timeout=300, sample=True,
                                            check=check_record)
                    os.unlink(out)
                    recs = res.get("records") or {}
                    s = res.get("summary") or {}
                    hops = res.get("hops") or {}
                    res["decoded_bytes"], res["wire_bytes"] = recs.get("body_bytes"), recs.get("wire_bytes")
                    # each record passes the checks or fails one of them (a failed request included)
                    res["checked_ok"] = recs.get("records", 0) - sum((recs.get("check_failed") or {}).values())
                    if recs.get("check_failed"):
                        self.note("10", "ringfetch rep %d: %d records failed the checks: %s; first: %s" % (
                            rep, sum(recs["check_failed"].values()), recs["check_failed"],
                            "; ".join(recs["check_samples"])))
                    res["reused_records"] = recs.get("reused")
                    res["reused_summary"] = s.get("reused")
                    res["conns_summary"] = s.get("conns_opened")
                    res["redirects_followed"] = hops.get("redirects", recs.get("redirects"))
                    res["rss_kib"] = s["peak_rss_mib"] * 1024 if s else None
                    res["rss_src"] = "summary line (VmHWM)" if s else None
                else:
                    hosts_run = client == CURL_HOSTS
                    n = CRAWL_URLS if hosts_run else n_res
                    res = self.run_curl_parallel(
                        "10", rep, client, cfg_hosts if hosts_run else cfg_res, n, 300,
                        "10-curl%s-%d" % ("-hosts" if hosts_run else "-resolve", rep), parallel=CRAWL_CONC,
                        hosts_file=hosts_file if hosts_run else None, extra=curl_extra, wfmt=wfmt)
                    res["client"], res["rep"] = client, rep
                    res["decoded_bytes"], res["wire_bytes"] = check_curl(res, n)
                    res["redirects_followed"] = None
                res["urls"], res["client"] = n, client
                self._crawl_figures(res, n, sum(moved[:n]))
        # the commands with their CRAWL_HOSTS --resolve arguments shortened
        self.commands["10"] = [shorten_resolve(c) for c in self.commands.get("10", [])]

    def _crawl_figures(self, res, n, n_moved):
        """Scenario 10's per-run figures from a finished run (res["done"] =
        the URLs that answered 200 after their redirects)."""
        done, wall = res.get("done") or 0, res["wall"]
        res["user_us_per_req"] = res["utime"] * 1e6 / done if done else None
        res["sys_us_per_req"] = res["stime"] * 1e6 / done if done else None
        res["decoded_mbs"] = res["decoded_bytes"] / 1e6 / wall if res.get("decoded_bytes") else None
        res["wire_mbs"] = res["wire_bytes"] / 1e6 / wall if res.get("wire_bytes") else None
        # every connection nginx accepted carried a first request; the others came on reused ones
        reqs = res["nginx_requests"]
        res["reused_nginx"] = max(0, reqs - res["nginx_accepts"])
        res["reused_pct"] = 100.0 * res["reused_nginx"] / reqs if reqs > 0 else None
        res["req_per_conn"] = reqs / res["nginx_accepts"] if res["nginx_accepts"] > 0 else None
        if reqs != n + n_moved:
            self.note("10", "%s rep %d: nginx answered %s requests, want %s (%s URLs + %s redirects)" % (
                res["client"], res["rep"], fmt(reqs), fmt(n + n_moved), fmt(n), fmt(n_moved)))
        if res.get("checked_ok") is not None and res["checked_ok"] != n:
            res["failed"] = n - res["checked_ok"]
        res["check"] = "decoded %s MB, wire %s MB (%.2f×), %s URLs of %s passed the checks%s" % (
            fmt((res.get("decoded_bytes") or 0) / 1e6, 1), fmt((res.get("wire_bytes") or 0) / 1e6, 1),
            (res.get("decoded_bytes") or 0) / max(1, res.get("wire_bytes") or 0), fmt(res.get("checked_ok")),
            fmt(n), "" if res.get("redirects_followed") is None else
            ", %s redirects followed" % fmt(res["redirects_followed"]))
        log("10 %-16s rep %d: %s URLs/s, user %s + sys %s µs/req, decoded %s MB/s, wire %s MB/s, %s connections "
            "(nginx), %s requests on reused connections (nginx: %s), peak open at nginx %s%s" % (
                res["client"], res["rep"], fmt(res.get("rps"), 0), fmt(res["user_us_per_req"], 1),
                fmt(res["sys_us_per_req"], 1), fmt(res["decoded_mbs"], 0), fmt(res["wire_mbs"], 0),
                fmt(res["nginx_accepts"]), fmt(res["reused_nginx"]), pct(res["reused_pct"]),
                fmt(res.get("peak_active")), "" if not res.get("rss_kib") else ", peak RSS %.1f MiB" % (
                    res["rss_kib"] / 1024)))

    def _check_10(self, hosts, port):
        """Before the runs, for the first and the last host name (TLS verified
        for the name, as in 9): a page asked for with `Accept-Encoding: gzip`
        comes as its .gz file, as it is (gzip_static: Content-Encoding gzip,
        Content-Length the .gz's size; with gzip_static off, nginx's own gzip,
        which must decode to the page); asked for without, as the page itself;
        a /moved/ URL answers 301 with the page's URL on the same host."""
        pages = self.crawl_pages
        for h in (hosts[0], hosts[-1]):
            p = pages[-1]
            head, f, body = tls_get(self.ca, h, port, "/crawl/" + p["name"], "10",
                                    [("Accept-Encoding", "gzip")])
            if f.get("transfer-encoding") == "chunked":   # nginx's own gzip (CRAWL_GZIP_STATIC False)
                raw, body = body, b""
                while raw:
                    size, _, raw = raw.partition(b"\r\n")
                    size = int(size.split(b";")[0], 16)
                    body, raw = body + raw[:size], raw[size + 2:]
                    if size == 0:
                        break
                good = gzip.decompress(body) == self.crawl_pages_html(p) if body else False
            else:
                good = body == p["gz"] and f.get("content-length") == str(p["gz_size"])
            if not head.startswith(b"HTTP/1.1 200 ") or f.get("content-encoding") != "gzip" or not good:
                raise BenchError("scenario 10: GET https://%s:%d/crawl/%s with Accept-Encoding gzip answered "
                                 "%r, %r, %d bytes" % (h, port, p["name"], head.split(b"\r\n")[0], f, len(body)))
            head, f, body = tls_get(self.ca, h, port, "/crawl/" + p["name"], "10")
            if (not head.startswith(b"HTTP/1.1 200 ") or "content-encoding" in f
                    or hashlib.sha256(body).hexdigest() != p["sha256"]):
                raise BenchError("scenario 10: GET https://%s:%d/crawl/%s answered %r, %r, %d bytes" % (
                    h, port, p["name"], head.split(b"\r\n")[0], f, len(body)))
            head, f, body = tls_get(self.ca, h, port, "/moved/page0.html?i=7", "10")
            want = "https://%s:%d/crawl/page0.html?i=7" % (h, port)
            if not head.startswith(b"HTTP/1.1 301 ") or f.get("location") != want:
                raise BenchError("scenario 10: GET https://%s:%d/moved/page0.html?i=7 answered %r, Location %r "
                                 "(want %s)" % (h, port, head.split(b"\r\n")[0], f.get("location"), want))
        return ("%s and %s: the page with `Accept-Encoding: gzip` comes %s (Content-Encoding gzip), "
                "without it as the page; `/moved/page0.html?i=7` answers 301 to `https://NAME:PORT/crawl/"
                "page0.html?i=7`; the leaf verified for the name" % (
                    hosts[0], hosts[-1], "as its .gz file byte for byte" if CRAWL_GZIP_STATIC
                    else "gzip'd by nginx, decoding to the page"))

    def crawl_pages_html(self, p):
        with open(os.path.join(self.root, "www", "crawl", p["name"]), "rb") as f:
            return f.read()

    # ---- 11: flat memory with input length -------------------------------------------
    def scale_plan(self, hosts, refused):
        """Scenario 11's input: max(SCALE_LINES) lines, line i of kind
        SCALE_MIX[(i + i // SCALE_HOSTS) % len(SCALE_MIX)] on host i %
        SCALE_HOSTS; the smaller runs read a prefix of it. Returns (the file's
        path, the kind index per line)."""
        n = max(SCALE_LINES)
        ports = self.nginx.ports
        forms = {"https": "https://%%s:%d/small?i=%%d" % ports["https"],
                 "http": "http://%%s:%d/small?i=%%d" % ports["http"],
                 "https404": "https://%%s:%d/gone?i=%%d" % ports["https"],
                 "http404": "http://%%s:%d/gone?i=%%d" % ports["http"],
                 "refused": "http://%%s:%d/small?i=%%d" % refused,
                 "bad_port": "https://%s:99999/small?i=%d",
                 "no_scheme": "%s/small?i=%d",
                 "ftp": "ftp://%s/small?i=%d"}
        fmts = [forms[k] for k in SCALE_MIX]
        kinds = bytearray(n)
        m = len(SCALE_MIX)
        path = os.path.join(self.work, "11-urls.txt")
        with open(path, "w") as f:
            chunk = []
            for i in range(n):
                k = (i + i // SCALE_HOSTS) % m
                kinds[i] = k
                chunk.append(fmts[k] % (hosts[i % SCALE_HOSTS], i))
                if len(chunk) == 65536:
                    f.write("\n".join(chunk) + "\n")
                    chunk = []
            if chunk:
                f.write("\n".join(chunk) + "\n")
        return path, kinds

    @staticmethod
    def scale_expect(kind):
        """What a record of a line of `kind` must say: (status, error kind,
        a piece of error_message or None, body_bytes or None)."""
        return {"https": (200, None, None, SMALL_SIZE), "http": (200, None, None, SMALL_SIZE),
                "https404": (404, None, None, None), "http404": (404, None, None, None),
                "refused": (None, "connect_refused", None, None),
                "bad_port": (None, "bad_url", "port out of range", None),
                "no_scheme": (None, "bad_url", "missing scheme", None),
                "ftp": (None, "bad_url", "unsupported scheme", None)}[kind]

    def scale_records(self, path, n, kinds):
        """Scenario 11's check of a JSONL output over the first n lines: one
        record per line (none missing, none twice, none out of range), each as
        its kind wants it (scale_expect). Streams the file (10^6 records);
        keeps counts only."""
        seen = bytearray(n)
        want = [self.scale_expect(k) for k in SCALE_MIX]
        got = {k: 0 for k in SCALE_MIX}
        bad, samples, errors = {}, [], {}
        records = dup = 0

        def fail(why, line):
            bad[why] = bad.get(why, 0) + 1
            if len(samples) < 5:
                samples.append("%s: %s" % (why, line[:300].decode("utf-8", "replace").rstrip()))
        for raw, rec in jsonl(path):
            records += 1
            if rec is None:
                fail("not JSON", raw)
                continue
            err = rec.get("error")
            if err is not None:
                errors[err] = errors.get(err, 0) + 1
            i = (rec.get("line") or 0) - 1
            if not 0 <= i < n:
                fail("line out of range", raw)
                continue
            if seen[i]:
                dup += 1
                fail("a second record for its line", raw)
                continue
            seen[i] = 1
            kind = SCALE_MIX[kinds[i]]
            status, ekind, msg, size = want[kinds[i]]
            if rec.get("status") != status or err != ekind:
                fail("%s: status %s error %s" % (kind, rec.get("status"), err), raw)
            elif msg is not None and msg not in (rec.get("error_message") or ""):
                fail("%s: error_message" % kind, raw)
            elif size is not None and rec.get("body_bytes") != size:
                fail("%s: body_bytes %s" % (kind, rec.get("body_bytes")), raw)
            else:
                got[kind] += 1
        missing = n - sum(seen)
        return {"records": records, "lines": n, "missing": missing, "duplicates": dup,
                "ok_by_kind": got, "errors": errors, "check_failed": bad, "check_samples": samples,
                "checked_ok": sum(got.values())}

    def _check_11(self, hosts, refused):
        """Before the runs: the first and the last name answer /small over
        HTTPS (leaf verified for the name) and over HTTP, /gone answers 404, and
        the refused port refuses."""
        port, hport = self.nginx.ports["https"], self.nginx.ports["http"]
        self._check_9(hosts, port)
        for h in (hosts[0], hosts[-1]):
            head, _, _ = tls_get(self.ca, h, port, "/gone?i=0", "11")
            if not head.startswith(b"HTTP/1.1 404 "):
                raise BenchError("scenario 11: GET https://%s:%d/gone answered %r" % (h, port, head[:40]))
        c = http.client.HTTPConnection("127.0.0.1", hport, timeout=10)
        try:
            c.request("GET", "/small", headers={"Host": hosts[-1]})
            r = c.getresponse()
            if r.status != 200 or r.read() != self.small:
                raise BenchError("scenario 11: GET http://%s:%d/small answered %d" % (hosts[-1], hport, r.status))
        finally:
            c.close()
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.settimeout(5)
            s.connect(("127.0.0.1", refused))
            raise BenchError("scenario 11: port %d accepted a connection; it should refuse" % refused)
        except ConnectionRefusedError:
            pass
        finally:
            s.close()
        return ("%s and %s answer `/small` over HTTPS (leaf verified for the name) and over HTTP, `/gone` "
                "with 404; port %d refuses connections" % (hosts[0], hosts[-1], refused))

    def scen_11(self):
        """Flat memory with input length (issue 10): `ringfetch fetch -c
        SCALE_CONC` over SCALE_LINES lines (the smaller a prefix of the larger)
        spread round-robin over SCALE_HOSTS names (9's names, in a private
        /etc/hosts as for 9's control), mixing URLs nginx answers (HTTPS and
        HTTP, 200 and 404), URLs whose connection is refused (a port bound but
        not listening, held for the whole scenario) and lines that are no
        URL ringfetch takes (bad port, no scheme, ftp). Per run: wall, user
        and sys CPU, peak RSS (the summary's VmHWM; wait4's ru_maxrss when it
        is the client's); every line must have exactly one record, as its
        kind wants it. Target: RSS at the largest ÷ RSS at the smallest ≤ 1.3."""
        hosts, _ = self.many_hosts(SCALE_HOSTS)
        hosts_file = self.hosts_file("11-hosts", hosts)
        ok = self._check_9_hosts(hosts_file, hosts, "11", "scenario 11",
                                 "ringfetch with the names in a hosts file")
        if ok is not True:
            return
        # a port bound but not listening: connecting to it is refused, and no
        # other process can take it while the scenario runs
        hold = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            hold.bind(("127.0.0.1", 0))
            refused = hold.getsockname()[1]
            self._scen_11_runs(hosts, hosts_file, refused)
        finally:
            hold.close()

    def _scen_11_runs(self, hosts, hosts_file, refused):
        t0 = time.monotonic()
        url_path, kinds = self.scale_plan(hosts, refused)
        log("11: wrote %s lines in %.1f s" % (fmt(max(SCALE_LINES)), time.monotonic() - t0))
        mix = {}
        for n in SCALE_LINES:
            cnt = {}
            for k in kinds[:n]:
                cnt[SCALE_MIX[k]] = cnt.get(SCALE_MIX[k], 0) + 1
            mix[n] = cnt
        self.extra["11"] = {"hosts": SCALE_HOSTS, "lines": SCALE_LINES, "conc": SCALE_CONC, "mix": mix,
                            "refused": refused, "check": self._check_11(hosts, refused),
                            "examples": {SCALE_MIX[k]: None for k in range(len(SCALE_MIX))}}
        with open(url_path) as f:
            for i, line in zip(range(len(SCALE_MIX)), f):
                self.extra["11"]["examples"][SCALE_MIX[kinds[i]]] = line.rstrip("\n")
        heads = {n: self._scale_prefix(url_path, n) for n in SCALE_LINES}
        for rep in range(1, self.reps + 1):
            order = list(SCALE_LINES) if rep % 2 else list(reversed(SCALE_LINES))
            for n in order:
                client = "ringfetch %s lines" % fmt(n)
                out = os.path.join(self.work, "11-rf-%d-%d.jsonl" % (n, rep))
                tail = ["-c", str(SCALE_CONC), "-i", heads[n], "--cacert", self.ca]
                res = self.run_rf_fetch("11", rep, client, tail, n, out, timeout=900, hosts_file=hosts_file,
                                        mixed=True)
                self._scale_figures(res, n, kinds, out, rep, client)
                os.unlink(out)

    def _scale_prefix(self, path, n):
        """The input of the n-line run: `path` itself, or a file of its first n lines."""
        if n == max(SCALE_LINES):
            return path
        p = os.path.join(self.work, "11-urls-%d.txt" % n)
        with open(path) as f, open(p, "w") as g:
            for _, line in zip(range(n), f):
                g.write(line)
        return p

    def _scale_figures(self, res, n, kinds, out, rep, client):
        recs = res["records11"] = self.scale_records(out, n, kinds)
        s = res.get("summary") or {}
        mix = self.extra["11"]["mix"][n]
        served = sum(v for k, v in mix.items() if k in ("https", "http", "https404", "http404"))
        res["lines"] = n
        res["done"] = recs["checked_ok"]
        res["failed"] = n - recs["checked_ok"]
        res["rps"] = n / res["wall"] if res["wall"] > 0 else None
        res["cpu_us_per_req"] = res["cpu"] * 1e6 / n
        res["rss_kib"] = s["peak_rss_mib"] * 1024 if s else None
        res["rss_src"] = "summary line (VmHWM)" if s else None
        res["conns_summary"], res["reused_summary"] = s.get("conns_opened"), s.get("reused")
        res["served"] = served
        if recs["records"] != n or recs["missing"] or recs["duplicates"] or recs["check_failed"]:
            self.note("11", "%s rep %d: %s records for %s lines, %s lines without one, %s second records; "
                      "%s records failed the checks: %s; first: %s" % (
                          client, rep, fmt(recs["records"]), fmt(n), fmt(recs["missing"]),
                          fmt(recs["duplicates"]), fmt(sum(recs["check_failed"].values())),
                          recs["check_failed"], "; ".join(recs["check_samples"])))
        if res["nginx_requests"] != served:
            self.note("11", "%s rep %d: nginx answered %s requests, want %s (the HTTPS and HTTP lines)" % (
                client, rep, fmt(res["nginx_requests"]), fmt(served)))
        if s and (s["requests"] != n or s["ok"] + s["failed"] != n):
            self.note("11", "%s rep %d: the summary counts %s requests (%s ok, %s failed) for %s lines" % (
                client, rep, fmt(s["requests"]), fmt(s["ok"]), fmt(s["failed"]), fmt(n)))
        log("11 %-22s rep %d: wall %.1f s, user %.1f s + sys %.1f s, peak RSS %s MiB (wait4 %s), %s records, "
            "%s passed the checks, errors %s, %s connections opened" % (
                client, rep, res["wall"], res["utime"], res["stime"],
                fmt(res["rss_kib"] / 1024 if res["rss_kib"] else None, 1),
                fmt(res["maxrss_kib"] / 1024 if res.get("maxrss_kib") else None, 1), fmt(recs["records"]),
                fmt(recs["checked_ok"]), recs["errors"], fmt(res["conns_summary"])))

    # ---- 5: RSS per open HTTPS connection ---------------------------------------------
    def scen_5(self):
        self.extra["5"] = {"cs": self.rss_cs}
        files = {c: self.url_file("5-urls-%d.txt" % c, "https", "/sleep", c, tag="rss=%d&" % c)
                 for c in self.rss_cs}
        for rep in range(1, self.reps + 1):
            for c in sorted(self.rss_cs, reverse=True):
                res = self.run_rf_fetch("5", rep, "fetch c=%d" % c,
                                        ["-c", str(c), "--cacert", self.ca, "-i", files[c]], c,
                                        "/dev/null", timeout=120, sample=True, hwm=True)
                s = res["summary"]
                res["rss_kib"] = s["peak_rss_mib"] * 1024 if s else None
                res["rss_src"] = "summary line (VmHWM)"
                res["open_peak"] = s["peak_concurrency"] if s else None
                if s and s["peak_concurrency"] != c:
                    self.note("5", "fetch c=%d rep %d: peak concurrency %d, not %d" % (
                        c, rep, s["peak_concurrency"], c))
            for c in sorted(self.rss_cs, reverse=True):
                res = self.run_rf_bench("5", rep, "bench c=%d" % c, self.target("https", "/sleep"), c,
                                        timeout=90, hwm=True, sample=True)
                j = res.get("json") or {}
                # the exact peak when wait4 can tell it, else the /proc samples (a lower bound)
                res["rss_kib"] = res.get("maxrss_kib") or res.get("vmhwm_kib")
                res["rss_src"] = "wait4 ru_maxrss" if res.get("maxrss_kib") else "VmHWM samples"
                res["open_peak"] = (j.get("concurrency") or {}).get("peak")
            for c in sorted(self.rss_cs, reverse=True):
                for mode in ("fetch", "bench"):
                    r = self.runs("5", "%s c=%d" % (mode, c))[-1]
                    opened = (r.get("json") or {}).get("connections_opened")
                    if (r.get("peak_active") or 0) < c or (opened is not None and opened < c):
                        self.note("5", "%s c=%d rep %d: not all %d connections were open at once: nginx saw "
                                  "at most %s, ringfetch opened %s" % (
                                      mode, c, rep, c, r.get("peak_active"),
                                      opened if opened is not None else "(see summary)"))

    # ---- medians -----------------------------------------------------------------
    def runs(self, scen, client):
        return self.results.get(scen, {}).get(client, [])

    def med(self, scen, client, key):
        return median([r.get(key) for r in self.runs(scen, client)])

    def pair_ratio(self, scen, a, b, key):
        """(median of the per-repetition ratios a/b, the list of them); falls
        back to the ratio of the medians when the repetitions do not pair up."""
        reps = self.rep_ratios(scen, a, b, key)
        if reps:
            return median(reps), reps
        return ratio(self.med(scen, a, key), self.med(scen, b, key)), []

    def rep_ratios(self, scen, a, b, key):
        ra = {r["rep"]: r.get(key) for r in self.runs(scen, a)}
        rb = {r["rep"]: r.get(key) for r in self.runs(scen, b)}
        out = [ratio(ra[k], rb[k]) for k in sorted(ra) if k in rb]
        return [x for x in out if x is not None]
# ---------------------------------------------------------------------------
# The ratio table (stdout and RESULTS.md)
# ---------------------------------------------------------------------------
def _range(xs, nd=2):
    if len(xs) < 2:
        return ""
    return " (reps %.*f–%.*f)" % (nd, min(xs), nd, max(xs))


def busy_txt(b, scen, client):
    c0, c1 = b.med(scen, client, "client_core_busy"), b.med(scen, client, "server_core_busy")
    if c0 is None or c1 is None:
        return "—"
    return "%.0f%% / %.0f%%" % (c0, c1)


def target_rows(b):
    """Rows of the headline table: (scenario, metric, ringfetch, peer name,
    peer value, h2load value, ratio text, target text, result text)."""
    rows = []
    R = b.results

    def rate_rows(scen, name, rate_label, targets, suffix="", h2_range=False):
        if scen not in R:
            return
        clients = [c + suffix for c in ("ringfetch", "wrk", "h2load")]
        rf_r, wrk_r, h2_r = (b.med(scen, c, "rps") for c in clients)
        rf_c, wrk_c, h2_c = (b.med(scen, c, "cpu_us_per_req") for c in clients)
        for label, key, rf, wrk, h2, nd, tkey in (
                (rate_label, "rps", rf_r, wrk_r, h2_r, 0, targets.get("rps")),
                ("client CPU µs/req", "cpu_us_per_req", rf_c, wrk_c, h2_c, 1, targets.get("cpu"))):
            rt, reps = b.pair_ratio(scen, clients[0], clients[1], key)
            rt_h2, reps_h2 = b.pair_ratio(scen, clients[0], clients[2], key)
            rows.append({
                "scen": name, "metric": label, "rf": fmt(rf, nd), "peer": "wrk " + fmt(wrk, nd),
                "h2load": fmt(h2, nd), "ratio": fr(rt) + _range(reps),
                "ratio_h2": fr(rt_h2) + (_range(reps_h2) if h2_range else ""),
                "target": ("%s %.2f× wrk" % ("≥" if TARGETS[tkey][0] == ">=" else "≤", TARGETS[tkey][1])
                           if tkey else "—"),
                "result": verdict(rt, tkey) if tkey else "(no target)",
                "pass": passed(rt, tkey) if tkey else None})

    rate_rows("1", "1 keep-alive HTTPS, 1 KiB, 100 conns", "requests/s", {"rps": "1-rps", "cpu": "1-cpu"})
    rate_rows("2", "2 new TLS connection per request, 100 conns", "handshakes/s", {"cpu": "2-cpu"})

    if "3" in R:
        rf, cu, rff = (b.med("3", c, "mbs") for c in ("ringfetch", "curl", "ringfetch fetch"))
        rfc, cuc, rffc = (b.med("3", c, "cpu") for c in ("ringfetch", "curl", "ringfetch fetch"))
        rt, reps = b.pair_ratio("3", "ringfetch", "curl", "mbs")
        rows.append({"scen": "3 one 1 GiB HTTPS body", "metric": "MB/s (ringfetch URL)",
                     "rf": fmt(rf, 0), "peer": "curl " + fmt(cu, 0), "h2load": "",
                     "ratio": fr(rt) + _range(reps),
                     "ratio_h2": "", "target": "≥ 1.20× curl", "result": verdict(rt, "3-mbs"),
                     "pass": passed(rt, "3-mbs")})
        rows.append({"scen": "3 one 1 GiB HTTPS body", "metric": "client CPU s (ringfetch URL)",
                     "rf": fmt(rfc, 2), "peer": "curl " + fmt(cuc, 2), "h2load": "",
                     "ratio": fr(b.pair_ratio("3", "ringfetch", "curl", "cpu")[0]), "ratio_h2": "", "target": "—",
                     "result": "(no target)", "pass": None})
        rows.append({"scen": "3 one 1 GiB HTTPS body", "metric": "MB/s (`ringfetch fetch`, + SHA-256)",
                     "rf": fmt(rff, 0), "peer": "curl " + fmt(cu, 0), "h2load": "",
                     "ratio": fr(b.pair_ratio("3", "ringfetch fetch", "curl", "mbs")[0]) + _range(
                         b.pair_ratio("3", "ringfetch fetch", "curl", "mbs")[1]),
                     "ratio_h2": "", "target": "—", "result": "(no target; CPU %s s)" % fmt(rffc, 2),
                     "pass": None})

    if "4" in R:
        for n in b.sleep_ns:
            rfw = b.med("4", "ringfetch N=%d" % n, "wall")
            cuw = b.med("4", "curl N=%d" % n, "wall")
            rfok = b.med("4", "ringfetch N=%d" % n, "done")
            cuok = b.med("4", "curl N=%d" % n, "done")
            tk = "4-wall" if n == 10000 else None
            rows.append({
                "scen": "4 N=%s at 1 s latency, all at once" % fmt(n),
                "metric": "wall s (ok of N)",
                "rf": "%s (%s)" % (fmt(rfw, 2), fmt(rfok, 0)),
                "peer": "curl %s (%s)" % (fmt(cuw, 2), fmt(cuok, 0)) if cuw is not None else "curl —",
                "h2load": "", "ratio": fr(b.pair_ratio("4", "ringfetch N=%d" % n, "curl N=%d" % n, "wall")[0]),
                "ratio_h2": "",
                "target": "≤ 3.0 s" if tk else "—",
                "result": verdict(rfw, tk) if tk else "(no target)",
                "pass": passed(rfw, tk) if tk else None})

    if "5" in R:
        f10, f1 = b.med("5", "fetch c=10000", "rss_kib"), b.med("5", "fetch c=1000", "rss_kib")
        b10, b1 = b.med("5", "bench c=10000", "rss_kib"), b.med("5", "bench c=1000", "rss_kib")
        per = f10 / 10000 if f10 else None
        slope = (f10 - f1) / 9000 if (f10 and f1) else None
        bper = b10 / 10000 if b10 else None
        bslope = (b10 - b1) / 9000 if (b10 and b1) else None
        rows.append({"scen": "5 10,000 open HTTPS conns", "metric": "KiB per conn: peak RSS ÷ 10,000 (`fetch`)",
                     "rf": "%s (%s MiB)" % (fmt(per, 1), fmt(f10 / 1024 if f10 else None, 1)),
                     "peer": "", "h2load": "", "ratio": "", "ratio_h2": "", "target": "≤ 32 KiB",
                     "result": verdict(per, "5-rss"), "pass": passed(per, "5-rss")})
        rows.append({"scen": "5 10,000 open HTTPS conns", "metric": "KiB per conn: slope 1,000→10,000 (`fetch`)",
                     "rf": fmt(slope, 1), "peer": "", "h2load": "", "ratio": "", "ratio_h2": "",
                     "target": "(≤ 32 KiB)", "result": verdict(slope, "5-rss"), "pass": None})
        rows.append({"scen": "5 10,000 open HTTPS conns",
                     "metric": "KiB per conn: VmHWM ÷ 10,000, slope (`bench`)",
                     "rf": "%s, %s" % (fmt(bper, 1), fmt(bslope, 1)), "peer": "", "h2load": "",
                     "ratio": "", "ratio_h2": "", "target": "(≤ 32 KiB)",
                     "result": verdict(bper, "5-rss"), "pass": None})

    rate_rows("6", "6 (extra) keep-alive plain HTTP, 1 KiB, 100 conns", "requests/s", {})

    if "7" in R:
        name = "7 (extra) 1 GiB HTTPS body, embedded server"
        rf, cu = (b.med("7", c, "mbs") for c in ("ringfetch", "curl"))
        rfc, cuc = (b.med("7", c, "cpu") for c in ("ringfetch", "curl"))
        rt, reps = b.pair_ratio("7", "ringfetch", "curl", "mbs")
        rtc, repsc = b.pair_ratio("7", "ringfetch", "curl", "cpu")
        rows.append({"scen": name, "metric": "MB/s (ringfetch URL)",
                     "rf": fmt(rf, 0), "peer": "curl " + fmt(cu, 0), "h2load": "",
                     "ratio": fr(rt) + _range(reps), "ratio_h2": "", "target": "—",
                     "result": "(no target)", "pass": None})
        rows.append({"scen": name, "metric": "client CPU s (ringfetch URL)",
                     "rf": fmt(rfc, 2), "peer": "curl " + fmt(cuc, 2), "h2load": "",
                     "ratio": fr(rtc) + _range(repsc), "ratio_h2": "", "target": "—",
                     "result": "(no target)", "pass": None})

    rate_rows("8", "8 (extra) keep-alive HTTPS, 1 KiB, 100 conns, embedded server", "requests/s", {},
              h2_range=True)
    rate_rows("8", "8 (extra) new TLS connection per request, 100 conns, embedded server", "handshakes/s", {},
              suffix=" new-conn", h2_range=True)

    if "9" in R:
        name = "9 many hosts: %s URLs over %s hosts, c=%d" % (fmt(MANY_URLS), fmt(MANY_HOSTS), MANY_CONC)
        rf, cu = (b.med("9", c, "rps") for c in ("ringfetch", "curl"))
        rt, reps = b.pair_ratio("9", "ringfetch", "curl", "rps")
        rows.append({"scen": name, "metric": "requests/s", "rf": fmt(rf, 0), "peer": "curl " + fmt(cu, 0),
                     "h2load": "", "ratio": fr(rt) + _range(reps), "ratio_h2": "", "target": "≥ 2.00× curl",
                     "result": verdict(rt, "9-rps"), "pass": passed(rt, "9-rps")})
        if b.runs("9", CURL_HOSTS):
            rth, repsh = b.pair_ratio("9", "ringfetch", CURL_HOSTS, "rps")
            rows.append({"scen": name, "metric": "requests/s, control: curl with the names in a hosts file "
                                                 "instead of 997 --resolve",
                         "rf": fmt(rf, 0), "peer": "curl " + fmt(b.med("9", CURL_HOSTS, "rps"), 0), "h2load": "",
                         "ratio": fr(rth) + _range(repsh), "ratio_h2": "", "target": "(≥ 2.00× curl)",
                         "result": "(no target) %s" % ("≥ 2×" if rth is not None and rth >= 2.0 else "< 2×"),
                         "pass": None})
        rfu, cuu = (b.med("9", c, "reused_pct") for c in ("ringfetch", "curl"))
        rows.append({"scen": name, "metric": "% of requests on reused connections (ringfetch: its records; "
                                             "curl: requests − nginx's connections)",
                     "rf": "%s (%s of %s)" % (pct(rfu), fmt(b.med("9", "ringfetch", "reused"), 0), fmt(MANY_URLS)),
                     "peer": "curl " + pct(cuu), "h2load": "", "ratio": "", "ratio_h2": "", "target": "≥ 50%",
                     "result": verdict(rfu, "9-reuse"), "pass": passed(rfu, "9-reuse")})
        rows.append({"scen": name, "metric": "connections opened (nginx)",
                     "rf": fmt(b.med("9", "ringfetch", "nginx_accepts"), 0),
                     "peer": "curl " + fmt(b.med("9", "curl", "nginx_accepts"), 0), "h2load": "",
                     "ratio": "", "ratio_h2": "", "target": "—", "result": "(no target)", "pass": None})
        rtc, repsc = b.pair_ratio("9", "ringfetch", "curl", "cpu_us_per_req")
        rows.append({"scen": name, "metric": "client CPU µs/req",
                     "rf": fmt(b.med("9", "ringfetch", "cpu_us_per_req"), 1),
                     "peer": "curl " + fmt(b.med("9", "curl", "cpu_us_per_req"), 1), "h2load": "",
                     "ratio": fr(rtc) + _range(repsc), "ratio_h2": "", "target": "—", "result": "(no target)",
                     "pass": None})

    if "10" in R:
        name = "10 crawl: %s gzip'd pages over %s hosts, `--compressed -L`, c=%d" % (
            fmt(CRAWL_URLS), fmt(CRAWL_HOSTS), CRAWL_CONC)
        peer = CURL_HOSTS if b.runs("10", CURL_HOSTS) else CURL_RESOLVE

        def row(metric, key, nd, peer_client=peer, rf_txt=None, peer_txt=None):
            rt, reps = b.pair_ratio("10", "ringfetch", peer_client, key)
            rows.append({"scen": name, "metric": metric,
                         "rf": rf_txt or fmt(b.med("10", "ringfetch", key), nd),
                         "peer": "%s %s" % (peer_client, peer_txt or fmt(b.med("10", peer_client, key), nd)),
                         "h2load": "", "ratio": fr(rt) + _range(reps), "ratio_h2": "", "target": "—",
                         "result": "(no target)", "pass": None})
        m = lambda c, k, nd=1: fmt(b.med("10", c, k), nd)
        row("URLs/s (200 after redirects ÷ wall)", "rps", 0)
        if peer != CURL_RESOLVE and b.runs("10", CURL_RESOLVE):
            row("URLs/s against curl with %s --resolve (its list: the first %s URLs)" % (
                fmt(CRAWL_HOSTS), fmt(min(CRAWL_RESOLVE_URLS, CRAWL_URLS))), "rps", 0, CURL_RESOLVE)
        row("client CPU µs/req (user + sys)", "cpu_us_per_req", 1,
            rf_txt="%s (%s + %s)" % (m("ringfetch", "cpu_us_per_req"), m("ringfetch", "user_us_per_req"),
                                     m("ringfetch", "sys_us_per_req")),
            peer_txt="%s (%s + %s)" % (m(peer, "cpu_us_per_req"), m(peer, "user_us_per_req"),
                                       m(peer, "sys_us_per_req")))
        row("decoded MB/s", "decoded_mbs", 0)
        row("wire MB/s (gzip)", "wire_mbs", 0)
        rows.append({"scen": name, "metric": "connections opened (nginx); % of requests on reused ones "
                                             "(nginx: requests − connections, redirects included)",
                     "rf": "%s; %s" % (m("ringfetch", "nginx_accepts", 0), pct(b.med("10", "ringfetch", "reused_pct"))),
                     "peer": "%s %s; %s" % (peer, m(peer, "nginx_accepts", 0), pct(b.med("10", peer, "reused_pct"))),
                     "h2load": "", "ratio": "", "ratio_h2": "", "target": "—", "result": "(no target)",
                     "pass": None})
        rss = b.med("10", "ringfetch", "rss_kib")
        rows.append({"scen": name, "metric": "ringfetch peak RSS MiB (its summary, VmHWM)",
                     "rf": fmt(rss / 1024 if rss else None, 1), "peer": "", "h2load": "", "ratio": "",
                     "ratio_h2": "", "target": "—", "result": "(no target)", "pass": None})
    if "11" in R:
        name = "11 flat memory: %s vs %s input lines over %s hosts, mixed, c=%d" % (
            fmt(SCALE_LINES[0]), fmt(SCALE_LINES[-1]), fmt(SCALE_HOSTS), SCALE_CONC)
        lo, hi = ("ringfetch %s lines" % fmt(n) for n in (SCALE_LINES[0], SCALE_LINES[-1]))
        rt, reps = b.pair_ratio("11", hi, lo, "rss_kib")
        m = lambda c, k, nd=1, d=1: fmt(b.med("11", c, k) / d if b.med("11", c, k) else None, nd)
        rows.append({"scen": name, "metric": "peak RSS MiB (summary, VmHWM): %s lines ÷ %s lines" % (
                         fmt(SCALE_LINES[-1]), fmt(SCALE_LINES[0])),
                     "rf": "%s ÷ %s" % (m(hi, "rss_kib", 1, 1024), m(lo, "rss_kib", 1, 1024)), "peer": "",
                     "h2load": "", "ratio": fr(rt) + _range(reps), "ratio_h2": "", "target": "≤ %.2f×" % (
                         TARGETS["11-rss"][1]), "result": verdict(rt, "11-rss"), "pass": passed(rt, "11-rss")})
        rows.append({"scen": name, "metric": "wall s; user + sys CPU s",
                     "rf": "%s; %s + %s ÷ %s; %s + %s" % (m(hi, "wall"), m(hi, "utime"), m(hi, "stime"),
                                                          m(lo, "wall"), m(lo, "utime"), m(lo, "stime")),
                     "peer": "", "h2load": "", "ratio": "", "ratio_h2": "", "target": "—",
                     "result": "(no target)", "pass": None})
    return rows


def table_md(rows):
    L = ["| scenario | metric | ringfetch | peer | h2load | ratio rf/peer | ratio rf/h2load | target | result |",
         "|---|---|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["scen"], r["metric"], r["rf"], r["peer"], r["h2load"], r["ratio"], r["ratio_h2"],
            r["target"], r["result"]))
    return "\n".join(L)


# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------
def _own_figures(r):
    parts = []
    j = r.get("json")
    if j:
        lt = (j.get("latency_us") or {}).get("total") or {}
        parts.append("rf bench: %s req (%s in window, %s req/s), lat p50/p99/max %s/%s/%s µs, conns %s, "
                     "TLS %s hs / %s resumed, concurrency mean %s peak %s, cpu %s µs/req, errors %s" % (
                         j.get("requests"), j.get("requests_in_window"), fmt(j.get("requests_per_s"), 0),
                         lt.get("p50"), lt.get("p99"), lt.get("max"), j.get("connections_opened"),
                         (j.get("tls") or {}).get("handshakes"), (j.get("tls") or {}).get("resumed"),
                         (j.get("concurrency") or {}).get("mean"), (j.get("concurrency") or {}).get("peak"),
                         (j.get("cpu") or {}).get("us_per_request"), j.get("errors") or "none"))
    s = r.get("summary")
    if s:
        parts.append("rf: %d ok / %d failed in %.3f s, peak conc %d, %d conns, %d reused, %d TLS hs "
                     "(%d resumed), peak RSS %.1f MiB" % (
                         s["ok"], s["failed"], s["elapsed"], s["peak_concurrency"], s["conns_opened"],
                         s["reused"], s["tls_handshakes"], s["tls_resumed"], s["peak_rss_mib"]))
    for l in r.get("summary_extra") or []:
        parts.append(l)
    recs = r.get("records")
    if recs and recs.get("total_p50") is not None and recs["records"] > 1:
        parts.append("records: %d, TLS resumed %d, reused %d, total p50/p99/max %.2f/%.2f/%.2f s, connect "
                     "p50/max %s/%s s, tls p50/max %s/%s s" % (
                         recs["records"], recs["tls_resumed"], recs["reused"], recs["total_p50"], recs["total_p99"],
                         recs["total_max"], fmt(recs["connect_p50"], 3), fmt(recs["connect_max"], 2),
                         fmt(recs["tls_p50"], 3), fmt(recs["tls_max"], 2)))
    if "parsed" in r:
        parts.append(", ".join("%s=%s" % kv for kv in r["parsed"].items()))
    if r.get("srv_conns") is not None:
        parts.append("nginx log: %d conns, %d resumed (%s)" % (
            r["srv_conns"], r["srv_resumed"], ", ".join("%s ×%d" % kv for kv in r["srv_protocols"].items())))
    if r.get("srv_log"):
        parts.append("nginx log: %s" % " | ".join(r["srv_log"]))
    if r.get("server_requests") is not None:
        parts.append("embedded server: %s requests on %s connections, %s µs CPU each" % (
            fmt(r["server_requests"]), fmt(r["server_conns"]), fmt(r.get("server_cpu_us_per_req"), 1)))
    if r.get("server_cpu") is not None:
        parts.append("embedded server CPU %.2f s (%.0f%% of the wall)" % (
            r["server_cpu"], r.get("server_busy_pct") or 0))
    if r.get("curl_w"):
        parts.append("curl -w: %s" % r["curl_w"])
    if r.get("check"):
        parts.append(r["check"])
    if r.get("peak_active") is not None:
        parts.append("peak active conns at nginx %d" % r["peak_active"])
    if r.get("after_exit_cpu", 0) >= 0.05:
        parts.append("after exit: %.2f core-s busy over %.1f s%s" % (
            r["after_exit_cpu"], r["after_exit_s"], "" if r.get("after_exit_quiet") else " (not quiet)"))
    if r.get("tcp"):
        parts.append("TCP counters (host-wide): %s" % ", ".join("%s +%d" % kv for kv in sorted(r["tcp"].items())))
    if r.get("vmhwm_kib") is not None:
        parts.append("VmHWM sampled %.1f MiB" % (r["vmhwm_kib"] / 1024))
    if r.get("maxrss_kib") is not None and (r.get("vmhwm_kib") is not None or r.get("rss_src")):
        parts.append("ru_maxrss %.1f MiB" % (r["maxrss_kib"] / 1024))
    if r.get("rss_src"):
        parts.append("RSS used: %s" % r["rss_src"])
    return "; ".join(parts)


SERVE_SHOWN = "ringfetch serve --tls --port 0 --cert-out CERT --port-file FILE"


def hdrs_txt(hdrs, keys):
    """`name: value` of those of `hdrs` named in `keys`, for the report."""
    return ", ".join("`%s: %s`" % kv for kv in sorted(hdrs.items()) if kv[0] in keys)


NGINX_KEYS = ("nginx", "nginx_requests", "nginx_accepts", "nginx_cpu_us_per_req")
EMBEDDED_KEYS = ("server", "server_requests", "server_conns", "server_cpu_us_per_req")


def rate_table(b, scen, w, rate_label, srv, suffix="", extra=None):
    """The per-client table of a request-rate scenario (1, 2, 6 against nginx,
    8's two halves against the embedded server). `srv`: NGINX_KEYS or
    EMBEDDED_KEYS, the server's name in the headers and the run keys of its
    request count, connection count and CPU µs per request. `extra`: (header,
    function of a client's runs) of one more column."""
    name, kreq, kconn, kcpu = srv
    w("| client | %s | client CPU µs/req | 2xx done | failed | %s req | %s conns | "
      "%s CPU µs/req | CPU0 / CPU1 (%s) busy |%s" % (
          rate_label, name, name, name, name, " %s |" % extra[0] if extra else ""))
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|%s" % ("---:|" if extra else ""))
    for client in (c + suffix for c in ("ringfetch", "wrk", "h2load")):
        if not b.runs(scen, client):
            continue
        w("| %s | %s | %s | %s | %s | %s | %s | %s | %s |%s" % (
            client, fmt(b.med(scen, client, "rps"), 0), fmt(b.med(scen, client, "cpu_us_per_req"), 1),
            fmt(b.med(scen, client, "done"), 0), fmt(b.med(scen, client, "failed"), 0),
            fmt(b.med(scen, client, kreq), 0), fmt(b.med(scen, client, kconn), 0),
            fmt(b.med(scen, client, kcpu), 1), busy_txt(b, scen, client),
            " %s |" % extra[1](b.runs(scen, client)) if extra else ""))
    w("")


def nginx_resumed(runs):
    """TLS resumptions in nginx's log over a client's runs (scenario 2)."""
    rs = [(r.get("srv_resumed"), r.get("srv_conns")) for r in runs if r.get("srv_conns")]
    tot_r, tot_c = sum(x[0] for x in rs), sum(x[1] for x in rs)
    return "%s of %s (%s%%)" % (fmt(tot_r), fmt(tot_c), fmt(100.0 * tot_r / tot_c, 1) if tot_c else "—")


def joined(xs):
    """'a', 'a and b', 'a, b and c'."""
    return xs[0] if len(xs) == 1 else ", ".join(xs[:-1]) + " and " + xs[-1]


def server_busy_txt(b, scen, clients):
    """How busy the embedded server's core and process were during each
    client's runs (7, 8): (a sentence, the server CPU's busy % per client),
    (None, None) when not measured."""
    c1 = [b.med(scen, c, "server_core_busy") for c in clients]
    sb = [b.med(scen, c, "server_busy_pct") for c in clients]
    if not clients or None in c1:
        return None, None
    names = [c.split()[0] for c in clients]
    busy = ["%.0f%% busy during %s's runs" % (c1[0], names[0])] + [
        "%.0f%% during %s's" % (v, n) for v, n in zip(c1[1:], names[1:])]
    return ("CPU %s (the server's) was %s (the server process itself: %s of the wall)." % (
        SERVER_CPU, joined(busy), joined([pct(x) for x in sb])), c1)


def big_body_rows(b, scen, clients, server_cpu_key, w):
    """The per-client rows of the 1 GiB tables (scenarios 3 and 7)."""
    for client in clients:
        if not b.runs(scen, client):
            continue
        w("| %s | %s | %s | %s (%s + %s) | %s | %s | %s | %d/%d |" % (
            client, fmt(b.med(scen, client, "mbs"), 0), fmt(b.med(scen, client, "wall"), 2),
            fmt(b.med(scen, client, "cpu"), 2), fmt(b.med(scen, client, "utime"), 2),
            fmt(b.med(scen, client, "stime"), 2), fmt(b.med(scen, client, server_cpu_key), 2),
            busy_txt(b, scen, client),
            fmt((b.med(scen, client, "rss_kib") or 0) / 1024 or None, 1),
            sum(r["done"] for r in b.runs(scen, client)), len(b.runs(scen, client))))


def many_hosts_section(b, ex, w):
    """Scenario 9's part of the report: what ran, the per-client medians, the
    ratio and the two targets."""
    w("%s HTTPS URLs of `/small` (1,024 bytes) interleaved round-robin over %s host names `h0.%s` … "
      "`h%d.%s` (URL i on host i mod %d, query `?i=I`: %s, …, %s), every name resolved to nginx's "
      "keep-alive HTTPS server on 127.0.0.1 with `--resolve` (one per name for both clients: "
      "ringfetch's command line, curl's `-K` file), the leaf verified against the test CA by both "
      "(its SAN `DNS:*.%s` covers the names; %s). ringfetch `fetch -c %d -q -i URLS -o RECORDS "
      "--cacert CA --resolve …` vs `curl --parallel --parallel-immediate --parallel-max %d -s "
      "--cacert CA -w '%%{http_code}\\n' -K CONFIG`, whose config begins `%s`. Checks: all %s "
      "requests must answer 200 (ringfetch: records with status 200 and `error` null; curl: `200` "
      "lines from `-w`), else a note. *conns* = connections nginx accepted during the run "
      "(stub_status) = connections the client opened; *reused* = ringfetch: records with "
      "`\"reused\": true`; curl (no per-request figure): 200s − conns. nginx keeps idle "
      "connections 75 s (`keepalive_timeout`, far longer than a run) for up to 1,000,000 requests "
      "each, with room for %s connections (`worker_connections`)." % (
          fmt(ex.get("urls")), fmt(ex.get("hosts")), MANY_DOMAIN, MANY_HOSTS - 1, MANY_DOMAIN, MANY_HOSTS,
          ", ".join("`%s`" % u for u in ex.get("first_urls", [])), "`%s`" % ex.get("last_url"),
          MANY_DOMAIN, ex.get("check", "not checked"), MANY_CONC, MANY_CONC,
          " ⏎ ".join(ex.get("cfg_head", [])), fmt(ex.get("urls")),
          fmt(b.nginx.nofile - 1000) if b.nginx else "?"))
    w("")
    w("| client | req/s | wall s | 200s | client CPU µs/req | client user s | client sys s | conns "
      "(nginx) | requests per conn | reused | TLS resumed | peak open conns at nginx | nginx CPU s "
      "| CPU0 / CPU1 (nginx) busy |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for client in ("ringfetch", "curl", CURL_HOSTS):
        if not b.runs("9", client):
            continue
        m = lambda k, nd=0: fmt(b.med("9", client, k), nd)
        w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s (%s) | %s | %s | %s | %s |" % (
            client, m("rps"), m("wall", 2), m("done"), m("cpu_us_per_req", 1), m("utime", 2), m("stime", 2),
            m("nginx_accepts"), m("req_per_conn", 1), m("reused"), pct(b.med("9", client, "reused_pct")),
            m("tls_resumed") if client == "ringfetch" else "—", m("peak_active"), m("nginx_cpu", 2),
            busy_txt(b, "9", client)))
    w("")
    rt, reps = b.pair_ratio("9", "ringfetch", "curl", "rps")
    rtc, repsc = b.pair_ratio("9", "ringfetch", "curl", "cpu_us_per_req")
    rtu, repsu = b.pair_ratio("9", "ringfetch", "curl", "utime")
    rts, repss = b.pair_ratio("9", "ringfetch", "curl", "stime")
    ru = b.med("9", "ringfetch", "reused_pct")
    w("ringfetch ÷ curl, median of the per-repetition ratios: requests/s **%s**%s; client CPU per "
      "request %s%s (user s %s%s, sys s %s%s). Targets: requests/s ≥ 2× curl's — %s; ≥ 50%% of "
      "ringfetch's requests on reused connections (%s) — %s." % (
          fr(rt), _range(reps), fr(rtc), _range(repsc), fr(rtu), _range(repsu), fr(rts), _range(repss),
          verdict(rt, "9-rps"), pct(ru), verdict(ru, "9-reuse")))
    w("")
    ctl = ex.get("control")
    if b.runs("9", CURL_HOSTS):
        rth, repsh = b.pair_ratio("9", "ringfetch", CURL_HOSTS, "rps")
        rtch, repsch = b.pair_ratio("9", "ringfetch", CURL_HOSTS, "cpu_us_per_req")
        w("**The control, `%s`**: curl's cost with %s `--resolve` entries grows with the list, not with "
          "the work (measured on the 2-core VM when this scenario was added, curl 7.88 as here: "
          "19,003 URLs all on one host name took ~9 s, ~8.5 s of it user CPU, with the 997 entries, 996 "
          "of them unused, and ~1 s with only its own entry), so against the `--resolve` run the ratio measures that overhead more "
          "than either client's HTTP work; in a real crawl the names come from DNS. So curl also runs "
          "the same URLs with no `--resolve` in a mount namespace of its own (`unshare -m`) where a "
          "hosts file listing the %s names is bind-mounted over `/etc/hosts` (the C library's ordinary "
          "lookup, once per name, then curl's DNS cache), nothing else changed; ringfetch keeps its "
          "`--resolve` arguments (with the same hosts file instead, its time did not change when "
          "this was checked). "
          "ringfetch ÷ this curl: requests/s **%s**%s, client CPU per request %s%s. No target of its "
          "own; the issue's target read against it: %s." % (
              CURL_HOSTS, fmt(MANY_HOSTS), fmt(MANY_HOSTS), fr(rth), _range(repsh), fr(rtch), _range(repsch),
              "≥ 2× holds" if rth is not None and rth >= 2.0 else "≥ 2× does NOT hold"))
        w("")
    elif ctl not in (None, True):
        w("The control (curl with the names in a hosts file) did not run: %s" % ctl)
        w("")


def crawl_section(b, ex, w):
    """Scenario 10's part of the report: what ran, the pages, the per-client
    medians and the ratios (no target)."""
    pages = ex.get("pages", [])
    n_res = ex.get("resolve_urls")
    w("Issue 9's crawl, built like 9: %s HTTPS URLs interleaved round-robin over %s host names `h0.%s` … "
      "`h%d.%s` (URL i on host i mod %d: %s, …, %s), each name resolved to nginx's keep-alive HTTPS "
      "server on 127.0.0.1, the leaf verified against the test CA (`--cacert`) by every client. "
      "Each URL is one of %d HTML-like pages (markup, prose from a 1,000-word vocabulary; drawn at "
      "random with a fixed seed), which nginx sends gzip'd to a client that accepts it: %s. One URL in "
      "%d (%s; each host gets its share) is `/moved/pageK.html?i=I` (e.g. `%s`), which nginx answers "
      "`return 301 /crawl/$1$is_args$args` → `https://NAME:PORT/crawl/pageK.html?i=I`, so `-L` "
      "matters: nginx serves %s requests per run. Checked before the runs: %s." % (
          fmt(ex.get("urls")), fmt(ex.get("hosts")), MANY_DOMAIN, CRAWL_HOSTS - 1, MANY_DOMAIN, CRAWL_HOSTS,
          ", ".join("`%s`" % u for u in ex.get("first_urls", [])), "`%s`" % ex.get("last_url"),
          len(pages),
          "**gzip_static**: the `.gz` files written at setup (gzip level %d = nginx's default "
          "`gzip_comp_level`), sent as they are, so nginx's single core does not deflate every response"
          % CRAWL_GZIP_LEVEL if CRAWL_GZIP_STATIC else "nginx's own `gzip on` at its default level, per response",
          CRAWL_REDIRECT_EVERY, fmt(ex.get("moved")), ex.get("moved_example"),
          fmt(ex.get("urls", 0) + ex.get("moved", 0)), ex.get("check", "not checked")))
    w("")
    w("| page | bytes | gzip bytes (on the wire) | ratio |")
    w("|---|---:|---:|---:|")
    for p in pages:
        w("| `/crawl/%s` | %s | %s | %.2f× |" % (p["name"], fmt(p["size"]), fmt(p["gz_size"]),
                                               p["size"] / p["gz_size"]))
    w("| all %s URLs | %s MB | %s MB | %.2f× |" % (
        fmt(ex.get("urls")), fmt(ex.get("decoded_total", 0) / 1e6, 1), fmt(ex.get("wire_total", 0) / 1e6, 1),
        ex.get("decoded_total", 0) / max(1, ex.get("wire_total", 1))))
    w("")
    w("Clients (order rotated per repetition): `ringfetch fetch -c %d --compressed -L -i URLS -o RECORDS "
      "--cacert CA --resolve …` (one `--resolve` per name; no `-q`, which would only drop the summary line "
      "that gives its peak RSS and connection counts); `%s`: `curl --parallel --parallel-immediate "
      "--parallel-max %d --compressed -L -s --cacert CA -w '%%{http_code} %%{num_redirects} "
      "%%{size_download} %%{url_effective}\\n' -K CONFIG` with the names in a private `/etc/hosts` "
      "(9's control: `unshare -m`, a hosts file bind-mounted over `/etc/hosts`) — the **main comparison**, "
      "since curl's cost per transfer grows with its `--resolve` list (see 9); `%s`: the same curl with "
      "%s `resolve` lines in its config, on the first %s URLs only (%s of them redirected; at 100,000 "
      "it would take most of the scenario's time budget). Checks per run: every URL must answer 200 "
      "after its redirects with its page — ringfetch: the record's status, `error` null, `body_bytes` "
      "and `body_sha256` the page's, `wire_bytes` its .gz's size, one `redirects` hop for a /moved/ "
      "URL and none otherwise, `final_url` the page's URL; curl: `-w` says 200, the redirects, "
      "`size_download` = the .gz's size, `url_effective` the page's URL, each URL once — and nginx must "
      "count URLs + redirects requests; else a note. *decoded MB/s* = decoded body bytes ÷ wall "
      "(ringfetch: the sum of its records' `body_bytes`; curl, which reports only the wire size and "
      "writes the decoded body to /dev/null: the known sizes of the pages it got 200 for, checked as "
      "above); *wire MB/s* = the final bodies as they came (gzip; ringfetch `wire_bytes`, curl "
      "`size_download`) ÷ wall; *reused* = nginx's requests − connections (redirects included; "
      "ringfetch's own counts in the raw table). MB = 10^6 bytes." % (
          CRAWL_CONC, CURL_HOSTS, CRAWL_CONC, CURL_RESOLVE, fmt(CRAWL_HOSTS), fmt(n_res), fmt(ex.get("resolve_moved"))))
    w("")
    ctl = ex.get("hosts_check")
    if ctl not in (None, True):
        w("The main peer (curl with the names in a hosts file) did not run: %s" % ctl)
        w("")
    w("| client | URLs | URLs/s | wall s | 200s | client CPU µs/req (user + sys) | decoded MB/s | wire MB/s "
      "| conns (nginx) | nginx requests | reused (nginx) | peak open conns at nginx | nginx CPU s (µs/req) "
      "| CPU0 / CPU1 (nginx) busy | peak RSS MiB |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for client in ("ringfetch", CURL_HOSTS, CURL_RESOLVE):
        if not b.runs("10", client):
            continue
        m = lambda k, nd=0: fmt(b.med("10", client, k), nd)
        rss = b.med("10", client, "rss_kib")
        w("| %s | %s | %s | %s | %s | %s (%s + %s) | %s | %s | %s | %s | %s (%s) | %s | %s (%s) | %s | %s |" % (
            client, m("urls"), m("rps"), m("wall", 2), m("done"), m("cpu_us_per_req", 1), m("user_us_per_req", 1),
            m("sys_us_per_req", 1), m("decoded_mbs"), m("wire_mbs"), m("nginx_accepts"), m("nginx_requests"),
            m("reused_nginx"), pct(b.med("10", client, "reused_pct")), m("peak_active"), m("nginx_cpu", 2),
            m("nginx_cpu_us_per_req", 1), busy_txt(b, "10", client), fmt(rss / 1024 if rss else None, 1)))
    w("")
    for peer in (CURL_HOSTS, CURL_RESOLVE):
        if not b.runs("10", peer) or not b.runs("10", "ringfetch"):
            continue
        r = {k: b.pair_ratio("10", "ringfetch", peer, k) for k in (
            "rps", "cpu_us_per_req", "user_us_per_req", "sys_us_per_req", "decoded_mbs", "wire_mbs")}
        w("ringfetch ÷ `%s`%s, median of the per-repetition ratios: URLs/s **%s**%s; client CPU per request "
          "%s%s (user %s%s, sys %s%s); decoded MB/s %s%s; wire MB/s %s%s. No target." % (
              peer, "" if peer == CURL_HOSTS else " (its own %s URLs; the rates compare, the totals do not)" % fmt(n_res),
              fr(r["rps"][0]), _range(r["rps"][1]), fr(r["cpu_us_per_req"][0]), _range(r["cpu_us_per_req"][1]),
              fr(r["user_us_per_req"][0]), _range(r["user_us_per_req"][1]), fr(r["sys_us_per_req"][0]),
              _range(r["sys_us_per_req"][1]), fr(r["decoded_mbs"][0]), _range(r["decoded_mbs"][1]),
              fr(r["wire_mbs"][0]), _range(r["wire_mbs"][1])))
        w("")
    rfr = b.runs("10", "ringfetch")
    if rfr:
        w("ringfetch's own counts (medians): %s records with `\"reused\": true` of %s URLs (the response "
          "in the record, i.e. the last hop), %s requests on reused connections and %s connections opened "
          "by its summary (every hop counted), %s redirects followed; nginx's CPU per request (%s µs, "
          "redirects included) and CPU1 busy say how close nginx's one core came to being the limit." % (
              fmt(b.med("10", "ringfetch", "reused_records"), 0), fmt(CRAWL_URLS),
              fmt(b.med("10", "ringfetch", "reused_summary"), 0), fmt(b.med("10", "ringfetch", "conns_summary"), 0),
              fmt(b.med("10", "ringfetch", "redirects_followed"), 0),
              fmt(b.med("10", "ringfetch", "nginx_cpu_us_per_req"), 1)))
        w("")


def scale_section(b, ex, w):
    """Scenario 11's part of the report: what ran, the mix, the per-size
    medians, the RSS ratio and its target."""
    lines = ex.get("lines", SCALE_LINES)
    mix = ex.get("mix", {})
    big = mix.get(lines[-1], {})
    w("Issue 10's scale check: `ringfetch fetch -c %d -i LINES -o RECORDS --cacert CA` over %s and %s input "
      "lines (the first file is the first %s lines of the second), URL i on host `h(i mod %d).%s` "
      "(round-robin over %s names, so every name already appears in the smaller run). The names resolve "
      "from a private `/etc/hosts` listing all of them at 127.0.0.1 (9's control mechanism: `unshare -m`, "
      "the file bind-mounted over `/etc/hosts`; ringfetch reads it once at start), so one entry per name "
      "serves the HTTPS, the HTTP and the refused port alike. Line i is of kind `SCALE_MIX[(i + i div %d) "
      "mod %d]` (each host goes through the kinds from one round of %s lines to the next); per %s lines: %s. "
      "Examples: %s. The refused port is a socket the bench binds without listening for the whole "
      "scenario (a SYN to it gets a RST, and no other process can take the port). Checked before the "
      "runs: %s." % (
          SCALE_CONC, fmt(lines[0]), fmt(lines[-1]), fmt(lines[0]), SCALE_HOSTS, MANY_DOMAIN, fmt(SCALE_HOSTS),
          SCALE_HOSTS, len(SCALE_MIX), fmt(SCALE_HOSTS), fmt(lines[-1]),
          ", ".join("%s `%s`" % (fmt(v), k) for k, v in sorted(big.items(), key=lambda kv: -kv[1])),
          "; ".join("`%s` %s" % (k, v) for k, v in (ex.get("examples") or {}).items()),
          ex.get("check", "not checked")))
    w("")
    w("What each kind must give (checked on every record; each input line must have exactly one record, "
      "none missing, none twice): `https`, `http`: status 200, `error` null, `body_bytes` 1,024; "
      "`https404`, `http404` (`/gone`, nginx's `return 404`): status 404, `error` null; `refused`: "
      "`error` `connect_refused`; `bad_port` (port 99999), `no_scheme` (no `scheme://`), `ftp`: "
      "`error` `bad_url` with the message saying why. nginx must have answered exactly the `https*` and "
      "`http*` lines. *Peak RSS*: VmHWM from ringfetch's summary line; *wait4*: `ru_maxrss` of the "
      "process (`unshare` → `sh` → exec ringfetch, one process), shown when it is above the bench's own "
      "image it was forked from (else it says nothing about ringfetch). The 10^6-line run's JSONL is "
      "~590 MB; it goes to the bench's temporary folder and is removed after the checks.")
    w("")
    w("| lines | wall s | lines/s | user s | sys s | CPU µs/line | peak RSS MiB | wait4 ru_maxrss MiB | "
      "records | passed the checks | errors by kind | conns opened (summary) | nginx requests | "
      "CPU0 / CPU1 (nginx) busy |")
    w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    for n in lines:
        client = "ringfetch %s lines" % fmt(n)
        runs = b.runs("11", client)
        if not runs:
            continue
        m = lambda k, nd=0, d=1: fmt(b.med("11", client, k) / d if b.med("11", client, k) else None, nd)
        errs = {}
        for r in runs[-1:]:
            errs = r["records11"]["errors"]
        w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            fmt(n), m("wall", 1), m("rps"), m("utime", 1), m("stime", 1), m("cpu_us_per_req", 1),
            m("rss_kib", 1, 1024), m("maxrss_kib", 1, 1024),
            fmt(median([r["records11"]["records"] for r in runs]), 0),
            fmt(median([r["records11"]["checked_ok"] for r in runs]), 0),
            ", ".join("%s %s" % (k, fmt(v)) for k, v in sorted(errs.items())) or "—",
            m("conns_summary"), m("nginx_requests"), busy_txt(b, "11", client)))
    w("")
    lo, hi = ("ringfetch %s lines" % fmt(n) for n in (lines[0], lines[-1]))
    r_lo, r_hi = b.med("11", lo, "rss_kib"), b.med("11", hi, "rss_kib")
    if r_lo and r_hi:
        rt, reps = b.pair_ratio("11", hi, lo, "rss_kib")
        w("Peak RSS at %s lines ÷ at %s lines: **%s**%s (median of the per-repetition ratios; target ≤ %.2f: "
          "%s); the medians differ by %s MiB, i.e. %s bytes per extra input line. Per-repetition peak RSS "
          "MiB: %s lines %s; %s lines %s." % (
              fmt(lines[-1]), fmt(lines[0]), fr(rt), _range(reps), TARGETS["11-rss"][1],
              verdict(rt, "11-rss"), fmt((r_hi - r_lo) / 1024, 1),
              fmt((r_hi - r_lo) * 1024 / (lines[-1] - lines[0]), 1),
              fmt(lines[0]), joined([fmt(r.get("rss_kib", 0) / 1024, 1) for r in b.runs("11", lo)]),
              fmt(lines[-1]), joined([fmt(r.get("rss_kib", 0) / 1024, 1) for r in b.runs("11", hi)])))
        w("")


def build_report(b, started, finished, versions, minfo, git, load0, load1, argv, rows):
    gitsha, gitlog, dirty = git["sha"], git["log"], git["dirty"]
    from_head = git.get("from_head")
    if from_head:
        head_note = (" (binary built from a clean export of this commit%s)" % (
            "; the working tree had other uncommitted changes, not in the binary" if dirty else ""))
    elif dirty:
        head_note = " **plus uncommitted changes outside perf/**"
    else:
        head_note = ""
    if git.get("src") and git["src"] != REPO:
        head_note += " (the binary's build tree is `%s`, not this repository's working tree)" % git["src"]
    L = []
    w = L.append
    w("# ringfetch benchmark results")
    w("")
    w("Run %s → %s, ringfetch commit `%s`%s. Generated by `perf/bench.py`; how to run and read "
      "it: [perf/README.md](README.md)." % (
          started.strftime("%Y-%m-%d %H:%M"), finished.strftime("%H:%M"), gitsha, head_note))
    w("")
    if os.environ.get("PERF_INVOKED_AS"):
        w("Command: `%s`, which ran `%s`." % (os.environ["PERF_INVOKED_AS"],
                                              " ".join(shlex.quote(a) for a in argv)))
    else:
        w("Command: `%s`." % " ".join(shlex.quote(a) for a in argv))
    w("")
    w("Repetitions: %d per run; every number below is the **median** over the "
      "repetitions, and every ratio is the median of the per-repetition ratios measured "
      "**in this same run** (ringfetch ÷ peer; their range in parentheses). Client runs "
      "of one repetition alternate their order." % b.reps)
    w("")
    w("## Targets (issue 3)")
    w("")
    w(table_md(rows))
    w("")
    miss = [r for r in rows if r["pass"] is False]
    ok = [r for r in rows if r["pass"] is True]
    w("Targets met: %d of %d.%s" % (len(ok), len(ok) + len(miss), "" if not miss else " Missed: " + "; ".join(
        "%s — %s: %s" % (r["scen"], r["metric"], r["result"]) for r in miss) + "."))
    w("")
    if b.disturbed:
        w("**Disturbed runs** (other processes on this shared machine used more than %.0f%% of a core "
          "on CPUs 0–1 during the run; their repetition may be an outlier, the median usually is "
          "not): %s." % (DISTURBED_PCT, "; ".join("%s %s rep %d (%.0f%%)" % d for d in b.disturbed)))
    else:
        w("No run was disturbed by other processes (> %.0f%% of a core on CPUs 0–1)." % DISTURBED_PCT)
    w("")
    w("How to read: *requests/s* and *handshakes/s* = requests that completed with a 2xx ÷ wall "
      "time of the client process (fork to exit, the same for every client). *client CPU* = "
      "user+sys of the client process from `wait4` (its own rusage only). *ratio* = the median "
      "of the per-repetition ratios (ringfetch's run ÷ the peer's run of the same repetition, "
      "which ran back to back), so that one disturbed run cannot move it much; the range of the "
      "per-repetition ratios follows in parentheses. *MB/s* = 1 GiB "
      "(1,073.7 MB, 10^6 bytes each) ÷ wall. CPU ratios < 1 mean ringfetch is cheaper; rate ratios "
      "> 1 mean it is faster. nginx runs one worker on CPU 1, clients on CPU 0: in 1, 2 and 6 "
      "nginx's core is saturated (see CPU1 busy in the raw tables), so requests/s measure nginx "
      "more than the client; client CPU per request is the comparison that says something about "
      "the client. 7 is an extra with no target: 3's transfer from ringfetch's lighter embedded "
      "server instead of nginx, so that the server is less of a ceiling; 8 likewise repeats 1 and 2 "
      "against it. In 9 (many hosts) the question is connection reuse across ~1,000 host names: "
      "*conns* is what nginx accepted, i.e. what each client opened. 10 (issue 9, no target) is a "
      "crawl: gzip'd pages over 1,000 host names with `--compressed -L`, compared on URLs/s, CPU per "
      "request and decoded MB/s. 11 (issue 10) runs ringfetch alone over 10^5 and 10^6 input lines "
      "(valid, invalid and failing URLs over 10,000 host names) and compares its peak RSS: memory must "
      "not grow with the input's length.")
    w("")

    w("## Machine")
    w("")
    for k, v in minfo.items():
        w("- %s: %s" % (k, v))
    w("- load average at start / end: %s / %s" % (load0, load1))
    if b.nginx:
        w("- nginx: 1 worker, affinity CPU %s (worker_cpu_affinity + master under taskset), worker "
          "open-files limit %s; every client: `taskset -c %s`; the bench itself also on CPU %s" % (
              b.nginx.worker_affinity, b.nginx.worker_nofile, CLIENT_CPU, CLIENT_CPU))
    w("")
    w("## Versions")
    w("")
    w("- ringfetch commit: `%s`%s" % (gitlog, "" if not dirty else
                                     "; %s: " % ("working-tree changes NOT in the binary" if from_head
                                                 else "uncommitted changes outside perf/") + ", ".join(
                                         "`%s`" % d.strip() for d in dirty[:15])))
    for k, v in versions.items():
        w("- %s: %s" % (k, v))
    w("")

    w("## Scenarios")
    w("")
    for scen in sorted(b.results, key=scen_key):
        w("### " + SCEN_TITLES[scen])
        w("")
        ex = b.extra.get(scen, {})
        if scen in ("1", "2", "6"):
            w("`ringfetch bench -c %d -d %ds%s` vs `wrk -t1 -c%d -d%ds%s` vs `h2load --h1 -c %d -n %s` "
              "(h2load is count-based: -n = ringfetch's 2xx count in its first run, rounded), server "
              "`%s`, `/small` (1,024 bytes)." % (
                  CONC, ex.get("dur", b.dur), " --new-conn" if scen == "2" else "", CONC,
                  ex.get("dur", b.dur), " -H 'Connection: close'" if scen == "2" else "", CONC,
                  fmt(ex.get("h2load_n")), ex.get("server")))
            w("")
            rate_table(b, scen, w, "handshakes/s" if scen == "2" else "req/s", NGINX_KEYS,
                       extra=("TLS resumed, all reps (nginx log)", nginx_resumed) if scen == "2" else None)
            if scen == "2":
                w("TLS resumption is counted by nginx (`$ssl_session_reused` in the server's "
                  "access log, one line per connection, summed over the repetitions; protocol and "
                  "cipher per run in the raw table: wrk negotiates AES-256-GCM, the others "
                  "AES-128-GCM); ringfetch's own count is in its JSON (raw table). nginx conns can "
                  "exceed requests for wrk: connections it opened but abandoned at the end.")
                w("")
        elif scen == "3":
            w("`/big`: %s bytes of pseudo-random data in a file in the temporary folder "
              "(sha256 `%s`), page-cached before the runs; nginx sends it over TLS (no sendfile "
              "with TLS, no gzip: response headers %s). Every run is checked: nginx logs `200 %d` "
              "once, curl reports %d bytes, `ringfetch fetch`'s record has that size and SHA-256." % (
                  fmt(BIG_SIZE), ex.get("sha256"),
                  hdrs_txt(ex.get("headers", {}), ("content-length", "content-type", "content-encoding")),
                  BIG_SIZE, BIG_SIZE))
            w("")
            w("| client | MB/s | wall s | client CPU s (user + sys) | nginx CPU s | CPU0 / CPU1 (nginx) busy "
              "| peak RSS MiB | ok runs |")
            w("|---|---:|---:|---:|---:|---:|---:|---:|")
            big_body_rows(b, scen, ("ringfetch", "curl", "ringfetch fetch"), "nginx_cpu", w)
            w("")
        elif scen == "4":
            w("N distinct URLs `/sleep?n=N&i=…` (the server answers after 1 s). ringfetch "
              "`fetch -c N -q`; curl `--parallel --parallel-immediate --parallel-max %d` (curl 7.88 "
              "clamps --parallel-max to 300) with a `-K` config of `url`/`output /dev/null` pairs. "
              "ok = ringfetch records with status 200 and `error` null; curl: `200` from `-w`." % CURL_MAX_PARALLEL)
            w("")
            w("| N | ringfetch wall s | ok | client CPU s (+ after exit) | nginx CPU s | peak conns at nginx | "
              "curl wall s | ok | client CPU s | peak conns at nginx | curl ÷ ringfetch |")
            w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            for n in b.sleep_ns:
                a, c = "ringfetch N=%d" % n, "curl N=%d" % n
                w("| %s | %s | %s | %s (+%s) | %s | %s | %s | %s | %s | %s | %s |" % (
                    fmt(n), fmt(b.med(scen, a, "wall"), 2), fmt(b.med(scen, a, "done"), 0),
                    fmt(b.med(scen, a, "cpu"), 2), fmt(b.med(scen, a, "after_exit_cpu"), 2),
                    fmt(b.med(scen, a, "nginx_cpu"), 2),
                    fmt(b.med(scen, a, "peak_active"), 0),
                    fmt(b.med(scen, c, "wall"), 2), fmt(b.med(scen, c, "done"), 0),
                    fmt(b.med(scen, c, "cpu"), 2), fmt(b.med(scen, c, "peak_active"), 0),
                    fr(ratio(b.med(scen, c, "wall"), b.med(scen, a, "wall")), 1)))
            w("")
            hs = b.med("2", "ringfetch", "nginx_cpu_us_per_req") if "2" in b.results else None
            ng = b.med(scen, "ringfetch N=10000", "nginx_cpu")
            if ng is not None:
                w("The server's share at N = 10,000: nginx's one worker spent a median %.2f s of CPU "
                  "on that run%s. Every request's 1 s starts only after nginx has done its TLS "
                  "handshake and read it, so the last one cannot finish before ~1 s + the handshake "
                  "work queued ahead of it on nginx's single core." % (
                      ng, "" if hs is None else (
                          " (scenario 2 measured %.0f µs of nginx CPU per new resumed TLS connection "
                          "+ request, i.e. ~%.1f s for 10,000)" % (hs, hs * 10000 / 1e6))))
                w("")
        elif scen == "5":
            w("ringfetch holds C HTTPS connections to `/sleep` open at once (each request takes 1 s). "
              "`fetch -c C` of C distinct URLs, peak RSS from its summary line (VmHWM of the process); "
              "`bench -c C -d %ds`, its peak RSS from `wait4`'s ru_maxrss (exact here: it is the max of the "
              "client's peak and the bench's own small Python image it was forked from, and the bench "
              "checks that it is above the latter; otherwise VmHWM sampled from /proc). Peak "
              "concurrency: ringfetch's own count; peak conns: nginx stub_status sampled every 100 ms." % b.dur)
            w("")
            w("| run | peak RSS MiB | KiB per connection (RSS ÷ C) | peak concurrency (ringfetch) | "
              "peak conns at nginx | wall s | client CPU s (+ after exit) |")
            w("|---|---:|---:|---:|---:|---:|---:|")
            for client in ("fetch c=1000", "fetch c=10000", "bench c=1000", "bench c=10000"):
                if not b.runs(scen, client):
                    continue
                c = int(client.split("=")[1])
                rss = b.med(scen, client, "rss_kib")
                w("| %s | %s | %s | %s | %s | %s | %s (+%s) |" % (
                    client, fmt(rss / 1024 if rss else None, 1), fmt(rss / c if rss else None, 1),
                    fmt(b.med(scen, client, "open_peak"), 0), fmt(b.med(scen, client, "peak_active"), 0),
                    fmt(b.med(scen, client, "wall"), 2), fmt(b.med(scen, client, "cpu"), 2),
                    fmt(b.med(scen, client, "after_exit_cpu"), 2)))
            w("")
            for mode in ("fetch", "bench"):
                hi, lo = b.med(scen, "%s c=10000" % mode, "rss_kib"), b.med(scen, "%s c=1000" % mode, "rss_kib")
                if hi and lo:
                    w("- %s: (RSS at 10,000 − RSS at 1,000) ÷ 9,000 = **%.1f KiB per connection**; "
                      "RSS ÷ 10,000 = %.1f KiB." % (mode, (hi - lo) / 9000, hi / 10000))
            w("")
        elif scen == "7":
            w("Not the issue's scenario 3 (which stays as it is, against nginx) and no target: "
              "`%s` (ringfetch's embedded test server, on CPU %s where nginx's worker runs; nginx "
              "stays up but idle, its columns in the raw table show it) sends `/?size=%d`, a body "
              "made in memory (byte i = 'a' + i %% 26, sha256 `%s`; no file, no page cache) over TLS "
              "(headers %s). Clients as in 3, on CPU %s: `ringfetch URL -o /dev/null --cacert "
              "CERT` vs `curl -s -o /dev/null --cacert CERT -w …`, their order alternating per "
              "repetition. Checks: before each repetition one untimed `ringfetch fetch` of the "
              "same URL whose record must say status 200, Content-Length %d, no "
              "Content-Encoding, %d body bytes with the pattern's SHA-256 (the server sends the "
              "right body); curl's `-w` must say `200 %d`; ringfetch's URL mode must exit 0, which "
              "it does only when the response ended without error (a body shorter than "
              "Content-Length is a `closed` error); and the server's own count at exit (%s) must "
              "equal the requests the bench made (%s). *server CPU* = the `ringfetch serve` "
              "process's user+sys from /proc during the client's run." % (
                  SERVE_SHOWN,
                  SERVER_CPU, BIG_SIZE, ex.get("sha256"),
                  hdrs_txt(ex.get("headers", {}), ("content-length", "content-type", "content-encoding")),
                  CLIENT_CPU, BIG_SIZE, BIG_SIZE, BIG_SIZE,
                  "%s requests on %s connections" % ex["counts"] if ex.get("counts") else "not read",
                  fmt(ex.get("made"))))
            w("")
            w("| client | MB/s | wall s | client CPU s (user + sys) | server CPU s | CPU0 / CPU1 (server) busy "
              "| peak RSS MiB | ok runs |")
            w("|---|---:|---:|---:|---:|---:|---:|---:|")
            big_body_rows(b, scen, ("ringfetch", "curl"), "server_cpu", w)
            w("")
            txt, c1 = server_busy_txt(b, scen, ("ringfetch", "curl"))
            if txt:
                w("Is the server out of the way (the reason this scenario exists, see the note)? %s %s" % (
                    txt, "Near 100%, the server's core is (close to) a ceiling here too: the MB/s "
                    "ratio then also reflects how much server work each client's way of reading "
                    "costs, and client CPU is the client-only comparison."
                    if max(c1) >= 90 else
                    "Below saturation: the client's pace, not the server's, sets the MB/s."))
                w("")
        elif scen == "8":
            chk = ex.get("headers", {})
            w("Not the issue's scenarios 1 and 2 (which stay as they are, against nginx) and no target: "
              "1 and 2 again against `%s` (ringfetch's embedded test server, on CPU %s where nginx's "
              "worker runs; nginx stays up but idle, its columns in the raw table show it), a fresh one "
              "for every client run, so that its own count at exit (*server req*, *server conns*) "
              "belongs to that run; the bench checks it against the client's (at least the client's "
              "2xx, at most those + its failures + the %d requests a time-based client may leave in "
              "flight at its end). `/?size=%d` answers %s bytes made in memory (byte i = 'a' + i %% "
              "26), checked once before the runs: status 200, the pattern's bytes, headers %s; with "
              "`&close=1` also %s. Clients on CPU %s, as in 1 and 2; ringfetch trusts the server's "
              "certificate with `--cacert CERT`, wrk and h2load verify nothing." % (
                  SERVE_SHOWN,
                  SERVER_CPU, CONC, SMALL_SIZE, fmt(SMALL_SIZE),
                  hdrs_txt(chk.get(False, {}), ("content-length", "content-type", "connection")) or "—",
                  hdrs_txt(chk.get(True, {}), ("connection",)) or "—", CLIENT_CPU))
            w("")
            w("- keep-alive: `ringfetch bench -c %d -d %ds` vs `wrk -t1 -c%d -d%ds` vs `h2load --h1 -c %d "
              "-n %s` (-n as in 1) on `/?size=%d`;" % (
                  CONC, ex.get("dur", b.dur), CONC, ex.get("dur", b.dur), CONC, fmt(ex.get("h2load_n")),
                  SMALL_SIZE))
            w("- a new TLS connection per request: `/?size=%d&close=1`, which the server answers with "
              "`Connection: close` and then closes (as nginx's `keepalive_timeout 0` server does in 2), "
              "with `ringfetch bench --new-conn`, wrk with `-H 'Connection: close'` and h2load as it is "
              "(`-n %s`); the server's connection count confirms one connection per request. The "
              "server resumes TLS sessions by tickets without counting them: resumption is counted "
              "by ringfetch's JSON only (raw table)." % (SMALL_SIZE, fmt(ex.get("h2load_n new-conn"))))
            w("")
            w("*server CPU µs/req* = the `ringfetch serve` process's user+sys from /proc during the "
              "client's run ÷ the requests it answered; *server CPU* = the same ÷ the client's wall "
              "time. PORT in the commands below: each run's server's own.")
            w("")
            verdicts = []
            for suffix, what, rate_label, unit in (("", "Keep-alive", "req/s", "requests/s"),
                                                   (" new-conn", "A new TLS connection per request",
                                                    "handshakes/s", "handshakes/s")):
                w("%s:" % what)
                w("")
                rate_table(b, scen, w, rate_label, EMBEDDED_KEYS, suffix,
                           extra=("server CPU, % of wall",
                                  lambda runs: pct(median([r.get("server_busy_pct") for r in runs]))))
                clients = [c + suffix for c in ("ringfetch", "wrk", "h2load") if b.runs(scen, c + suffix)]
                txt, c1 = server_busy_txt(b, scen, clients)
                if not txt:
                    continue
                hot = [c.split()[0] + "'s" for c, v in zip(clients, c1) if v >= 90]
                if not hot:
                    verdict_txt = "Below saturation: the clients' own pace, not the server's, set the %s." % unit
                else:
                    verdict_txt = (
                        "Near 100%% during %s: there the server's core is (close to) a ceiling "
                        "too, so those %s are (nearly) the server's limit rather than the client's, "
                        "and the ratios with them say less about the clients%s; client CPU per request "
                        "is the client-only comparison." % (
                            "every client's runs" if len(hot) == len(clients) else joined(hot) + " runs only",
                            unit, " (ringfetch's rate ratios are then lower bounds: a faster server "
                            "could only raise its rate)" if hot == ["ringfetch's"] else ""))
                verdicts.append("%s: %s %s" % (what, txt, verdict_txt))
            if verdicts:
                w("Is the server out of the way (the reason this scenario exists, see the note)? " +
                  " ".join(verdicts))
                w("")
        elif scen == "9":
            many_hosts_section(b, ex, w)
        elif scen == "10":
            crawl_section(b, ex, w)
        elif scen == "11":
            scale_section(b, ex, w)
        for t in b.notes.get(scen, []):
            w("- note: " + t)
        if b.notes.get(scen):
            w("")

    w("## Raw numbers per repetition")
    w("")
    for scen in sorted(b.results, key=scen_key):
        w("### " + SCEN_TITLES[scen])
        w("")
        w("| client | rep | rc | wall s | done | failed | per s | client user s | client sys s | "
          "CPU µs/req | nginx req | nginx conns | nginx CPU s | CPU0/CPU1 busy | other load | "
          "tool's own figures |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|")
        for client, runs in b.results[scen].items():
            for r in runs:
                busy = r.get("cpu_busy", {})
                w("| %s | %d | %d%s | %.2f | %s | %s | %s | %.2f | %.2f | %s | %s | %s | %s | %s | %s | %s |" % (
                    client, r["rep"], r["rc"], " (timeout)" if r["timed_out"] else "", r["wall"],
                    fmt(r.get("done")), fmt(r.get("failed")), fmt(r.get("rps"), 0), r["utime"],
                    r["stime"], fmt(r.get("cpu_us_per_req"), 1), fmt(r["nginx_requests"]),
                    fmt(r["nginx_accepts"]), fmt(r.get("nginx_cpu"), 2),
                    "/".join("%.0f%%" % (100 * busy[c]) for c in sorted(busy)),
                    "—" if r.get("other_pct") is None else "%.0f%%" % r["other_pct"],
                    _own_figures(r).replace("|", "/")))
        w("")

    w("## Exact commands")
    w("")
    w("Paths under `%s` are the bench's temporary folder (removed at the end). URL files hold "
      "distinct URLs, one per line; `curl -K` files hold `url = …` / `output = \"/dev/null\"` pairs. "
      "Every command ran with CA and proxy variables removed from the environment." % b.root)
    w("")
    w("```sh")
    w("# nginx (configuration below)")
    w(" ".join(shlex.quote(a) for a in b.nginx.argv) if b.nginx else "")
    for scen in sorted(b.commands, key=scen_key):
        w("# scenario %s" % scen)
        for c in b.commands[scen]:
            w(c)
    w("```")
    w("")
    w("nginx configuration:")
    w("")
    w("```nginx")
    w(b.nginx.conf_text.rstrip() if b.nginx else "")
    w("```")
    w("")
    return "\n".join(L) + "\n"


def print_table(b, rows):
    print()
    print(table_md(rows))
    print()
    for scen in sorted(b.notes, key=scen_key):
        for t in b.notes[scen]:
            print("note %s: %s" % (scen, t))


# ---------------------------------------------------------------------------
# main, cleanup
# ---------------------------------------------------------------------------
_BENCH = None


def cleanup():
    b = _BENCH
    with _LIVE_LOCK:
        live = list(_LIVE.items())
    for pid, what in live:
        if what != "nginx":
            _kill_group(pid)
    if b is not None:
        if b.nginx is not None:
            b.nginx.stop()
        if b.root and os.path.isdir(b.root):
            if b.args.keep:
                log("keeping %s" % b.root)
            else:
                shutil.rmtree(b.root, ignore_errors=True)
    with _LIVE_LOCK:
        live = list(_LIVE.items())
    for pid, what in live:
        _kill_group(pid)


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


def _on_alarm(signum, frame):
    raise BenchError("time limit reached (--time-limit); stopping")


def raise_nofile(want):
    """Soft open-files limit up to `want` (root may also raise the hard limit).
    Returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want and os.geteuid() == 0:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            soft, hard = want, want
        except (ValueError, OSError):
            pass
    new = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < new:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def main(argv=None):
    global _BENCH
    ap = argparse.ArgumentParser(description="ringfetch vs wrk / h2load / curl (see perf/README.md)")
    ap.add_argument("--ringfetch", default=os.environ.get("RINGFETCH", os.path.join(REPO, "build", "ringfetch")),
                    help="ringfetch binary, a Release build (default $RINGFETCH or build/ringfetch)")
    ap.add_argument("--quick", action="store_true",
                    help="1 repetition, 2 s runs, no curl at N=10000 (~2 min); writes only perf/results/")
    ap.add_argument("--scenarios", default="1,2,3,4,5,6,7,8,9,10,11",
                    help="comma-separated subset of 1-11 (6, 7, 8 and 10 have no targets)")
    ap.add_argument("--reps", type=int, default=0, help="repetitions (default 3, --quick 1)")
    ap.add_argument("--duration", type=int, default=0, help="seconds per time-based run (default 3, --quick 2)")
    ap.add_argument("--results-file", default=None,
                    help="report path (default perf/RESULTS.md for a full run; otherwise only the dated copy)")
    ap.add_argument("--results-dir", default=os.path.join(HERE, "results"),
                    help="folder for the dated copy (default perf/results)")
    ap.add_argument("--time-limit", type=int, default=1200, help="stop everything after this many seconds")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, configs)")
    ap.add_argument("--built-from-head", action="store_true",
                    help="the binary was built from a clean export of HEAD (perf/run.sh with PERF_HEAD_ONLY=1)")
    args = ap.parse_args(argv)

    scens = sorted({s.strip() for s in args.scenarios.split(",") if s.strip()}, key=scen_key)
    bad = [s for s in scens if s not in SCEN_TITLES]
    if bad:
        ap.error("unknown scenario(s): %s (use 1-11)" % ",".join(bad))
    if not (os.path.isfile(args.ringfetch) and os.access(args.ringfetch, os.X_OK)):
        ap.error("ringfetch binary %r not found; build it, e.g.\n  cmake -S %s -B /tmp/perf-build "
                 "-DCMAKE_BUILD_TYPE=Release && cmake --build /tmp/perf-build -j2 --target ringfetch\n"
                 "and pass --ringfetch /tmp/perf-build/ringfetch (or run perf/run.sh)" % (args.ringfetch, REPO))
    args.ringfetch = os.path.abspath(args.ringfetch)
    missing = [t for t in ("wrk", "h2load", "curl", "openssl", "taskset") if not shutil.which(t)]
    if not os.access(NGINX, os.X_OK):
        missing.append(NGINX)
    if not os.path.exists(ECHO_MODULE):
        missing.append(ECHO_MODULE)
    if missing:
        sys.exit("bench: missing tools: %s (tools/install-deps.sh installs them)" % ", ".join(missing))
    if os.cpu_count() < 2 or not {0, 1} <= os.sched_getaffinity(0):
        sys.exit("bench: needs CPUs 0 and 1 (client on CPU 0, nginx on CPU 1)")
    args.nofile = raise_nofile(NOFILE_WANT)
    if ("4" in scens or "5" in scens) and args.nofile < 10000 + 256 + 32 + 100:
        sys.exit("bench: scenarios 4 and 5 need 10,000 connections, but the open-files limit is %d "
                 "(raise it with `ulimit -n 20000` as root, or run --scenarios 1,2,3,6,7,8,9,10,11)" % args.nofile)
    if "9" in scens and args.nofile < 2 * (MANY_HOSTS + MANY_CONC) + 256:
        sys.exit("bench: scenario 9 keeps up to %d idle keep-alive connections (one per host name) plus %d "
                 "in flight, but the open-files limit is %d (raise it with `ulimit -n 20000` as root)" % (
                     MANY_HOSTS, MANY_CONC, args.nofile))
    if "10" in scens and args.nofile < 2 * (CRAWL_HOSTS + CRAWL_CONC) + 256:
        sys.exit("bench: scenario 10 keeps up to %d idle keep-alive connections (one per host name) plus %d "
                 "in flight, but the open-files limit is %d (raise it with `ulimit -n 20000` as root)" % (
                     CRAWL_HOSTS, CRAWL_CONC, args.nofile))
    if "11" in scens and args.nofile < SCALE_CONC + 2000:
        sys.exit("bench: scenario 11 runs %d requests at once and keeps idle keep-alive connections to %d host "
                 "names, but the open-files limit is %d (raise it with `ulimit -n 20000` as root)" % (
                     SCALE_CONC, SCALE_HOSTS, args.nofile))

    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(s, _on_signal)
    signal.signal(signal.SIGALRM, _on_alarm)
    atexit.register(cleanup)
    signal.alarm(args.time_limit)

    started = datetime.datetime.now()
    load0 = loadavg()
    minfo = machine_info()
    versions = tool_versions(args.ringfetch)
    src = binary_source(args.ringfetch)
    if args.built_from_head:  # a git archive of this repository's HEAD: no .git of its own
        src = REPO
    gitsha, gitlog, dirty, ctime = git_info(src)
    if src != REPO:
        log("the ringfetch binary was built from %s (commit %s), not from %s" % (src, gitsha, REPO))
    if ctime and os.path.getmtime(args.ringfetch) < ctime:
        dirty = dirty + ["(ringfetch binary is older than HEAD's commit: rebuild it?)"]
        log("warning: %s is older than HEAD's commit; the numbers may not describe HEAD" % args.ringfetch)
    b = _BENCH = Bench(args)
    full = (scens == sorted(SCEN_TITLES, key=scen_key) and not args.quick and b.reps >= 3)
    try:
        b.setup(scens)
        os.sched_setaffinity(0, {int(CLIENT_CPU)})   # keep the orchestrator off the server's CPU
        for s in scens:
            log("scenario %s" % SCEN_TITLES[s])
            getattr(b, "scen_" + s)()
        signal.alarm(0)
        finished = datetime.datetime.now()
        load1 = loadavg()
        rows = target_rows(b)
        report = build_report(b, started, finished, versions, minfo,
                              {"sha": gitsha, "log": gitlog, "dirty": dirty,
                               "from_head": args.built_from_head, "src": src}, load0, load1,
                              [os.path.relpath(sys.argv[0], os.getcwd())] + (
                                  sys.argv[1:] if argv is None else argv), rows)
    finally:
        signal.alarm(0)
        cleanup()
    os.makedirs(args.results_dir, exist_ok=True)
    name = "%s-%s%s.md" % (started.strftime("%Y-%m-%d"), gitsha,
                           "" if full else "-partial" if not args.quick else "-quick")
    dated = os.path.join(args.results_dir, name)
    with open(dated, "w") as f:
        f.write(report)
    written = [dated]
    target = args.results_file or (os.path.join(HERE, "RESULTS.md") if full else None)
    if target:
        with open(target, "w") as f:
            f.write(report)
        written.insert(0, target)
    print_table(b, rows)
    print("\nreport: %s" % " and ".join(written))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        log("error: %s" % e)
        sys.exit(1)
