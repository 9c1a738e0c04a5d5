#!/usr/bin/env python3
"""ringfetch benchmark against peers (curl, h2load, wrk), Python 3 stdlib only.

    python3 perf/bench.py [--ringfetch PATH] [--quick] [--scenarios A,B,C,D] [--reps R]

Builds a private test world in a temporary folder (test CA + ECDSA P-256
leaf made with the openssl CLI, a 1 KiB file, one nginx worker pinned to
CPU 1), runs every scenario for ringfetch and its peers (clients pinned to
CPU 0), repeats each run R times and reports medians, then writes a markdown
report to perf/results/<date>-<sha>.md and perf/results/latest.md.
See perf/README.md for what each scenario measures and the caveats.
"""

import argparse
import atexit
import ctypes
import datetime
import hashlib
import http.client
import json
import os
import platform
import random
import re
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
NOFILE_HARD = 20000          # per-process hard limit on this machine (TECHNIQUE.md §7)
CURL_MAX_PARALLEL = 300      # curl 7.88 clamps --parallel-max to 300 (verified in scenario A)

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
subjectAltName = DNS:localhost, IP:127.0.0.1
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
        f.write(_OPENSSL_CNF.format(dir=d))
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
        location = /sleep {{
            default_type text/plain;
            echo_sleep 1;
            echo ok;
        }}
        location = /nginx_status {{ stub_status; }}
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
    log_format tlscheck '$ssl_session_reused $ssl_protocol $ssl_cipher $connection_requests';
    client_body_temp_path {dir}/tmp/client_body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    types {{ }}
    default_type application/octet-stream;
    sendfile on;
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
    # HTTPS, keepalive_timeout 0: every response closes its connection
    server {{
        listen 127.0.0.1:{https_close} ssl backlog=4096;
        keepalive_timeout 0;
{locations}    }}
    # plain HTTP, keep-alive (also serves stub_status to the bench)
    server {{
        listen 127.0.0.1:{http} backlog=4096;
{locations}    }}
    # HTTPS, keepalive_timeout 0, with an access log of TLS session reuse:
    # used only by the untimed session-resumption check
    server {{
        listen 127.0.0.1:{tlscheck} ssl backlog=4096;
        keepalive_timeout 0;
        access_log {dir}/logs/tlscheck.log tlscheck;
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
    def __init__(self, root, crt, key, www):
        self.root = root
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
        https, https_close, http_, tlscheck = _free_ports(4)
        self.ports = {"https": https, "https_close": https_close, "http": http_,
                      "tlscheck": tlscheck}
        self.conf = os.path.join(d, "nginx.conf")
        self.conf_text = _NGINX_CONF.format(
            dir=d, echo=ECHO_MODULE, crt=self.crt, key=self.key,
            affinity="1" + "0" * int(SERVER_CPU), nofile=NOFILE_HARD,
            wconns=NOFILE_HARD - 1000,
            locations=_LOCATIONS.format(www=self.www), **self.ports)
        with open(self.conf, "w") as f:
            f.write(self.conf_text)
        for name in ("error.log", "startup.log", "nginx.out", "tlscheck.log"):
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


# ---------------------------------------------------------------------------
# Running one client, measured
# ---------------------------------------------------------------------------
class Sampler(threading.Thread):
    """Polls stub_status every `period` s; remembers the peak active connections
    (minus its own) and how many stub_status requests it made."""

    def __init__(self, nginx, period=0.1):
        super().__init__(daemon=True)
        self.nginx, self.period = nginx, period
        self.peak = 0
        self.calls = 0
        self.stop_ev = threading.Event()

    def run(self):
        while not self.stop_ev.is_set():
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


def run_client(nginx, argv, timeout, workdir, tag, sample=False):
    """Runs argv under `taskset -c 0`, stdout/stderr to files. Returns a dict with
    wall time, the client's own rusage (wait4), nginx worker CPU and stub_status
    deltas, and CPU busy fractions from /proc/stat."""
    full = ["taskset", "-c", CLIENT_CPU] + argv
    settled = nginx.settle()
    out_path = os.path.join(workdir, tag + ".out")
    err_path = os.path.join(workdir, tag + ".err")
    before = nginx.stub_status()
    ng0 = nginx.worker_cpu_ticks()
    st0 = proc_stat_cpus()
    sampler = Sampler(nginx) if sample else None
    timed_out = [False]
    with open(out_path, "wb") as fo, open(err_path, "wb") as fe:
        t0 = time.monotonic()
        p = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe,
                             env=clean_env(), cwd=workdir, start_new_session=True,
                             preexec_fn=_die_with_parent(signal.SIGKILL))
        with _LIVE_LOCK:
            _LIVE[p.pid] = tag
        if sampler:
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
    ng1 = nginx.worker_cpu_ticks()
    after = nginx.stub_status()
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
        "maxrss_kib": ru.ru_maxrss,
        "nginx_requests": after["requests"] - before["requests"] - extra,
        "nginx_accepts": after["accepts"] - before["accepts"] - extra,
        "nginx_cpu": ((ng1 - ng0) / hz) if (ng0 is not None and ng1 is not None) else None,
        "peak_active": sampler.peak if sampler else None,
        "cpu_busy": {c: ((st1[c][0] - st0[c][0]) / max(1, st1[c][1] - st0[c][1]))
                     for c in st1 if c in st0},
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


def count_rf_records(path):
    n = ok = 0
    errors = {}
    statuses = {}
    samples = []
    with open(path, "rb") as f:
        for line in f:
            n += 1
            try:
                rec = json.loads(line)
            except ValueError:
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
    return {"records": n, "ok200": ok, "errors": errors, "statuses": statuses, "samples": samples}


# ---------------------------------------------------------------------------
# The benchmark
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


def ratio(a, b, nd=2):
    if a is None or b is None or b == 0:
        return "—"
    return "%.*f" % (nd, a / b)


class Bench:
    def __init__(self, args):
        self.args = args
        self.rf = args.ringfetch
        self.reps = args.reps if args.reps else (1 if args.quick else 3)
        self.quick = args.quick
        self.results = {}       # scenario -> {client -> [run dicts]}
        self.notes = {}         # scenario -> [strings]
        self.commands = {}      # scenario -> [command strings, in order]
        self.extra = {}         # scenario -> free-form extra data
        self.root = None
        self.nginx = None

    # ---- setup ----------------------------------------------------------
    def setup(self):
        self.root = tempfile.mkdtemp(prefix="ringfetch-perf-")
        os.chmod(self.root, 0o755)      # the nginx worker runs as 'nobody'
        for sub in ("logs", "tmp", "www", "certs", "work"):
            os.makedirs(os.path.join(self.root, sub))
        os.chmod(os.path.join(self.root, "www"), 0o755)
        os.chmod(os.path.join(self.root, "certs"), 0o700)   # master (root) reads the key
        self.work = os.path.join(self.root, "work")
        log("temp dir %s; making certificates" % self.root)
        self.ca, crt, key = make_certs(os.path.join(self.root, "certs"))
        self.small = random.Random(0x70657266).randbytes(1024)
        p = os.path.join(self.root, "www", "small")
        with open(p, "wb") as f:
            f.write(self.small)
        os.chmod(p, 0o644)
        self.nginx = Nginx(self.root, crt, key, os.path.join(self.root, "www"))
        self.nginx.start()
        log("nginx master %d worker %d (affinity %s, nofile %s) ports %s" % (
            self.nginx.proc.pid, self.nginx.worker, self.nginx.worker_affinity,
            self.nginx.worker_nofile, self.nginx.ports))
        # sanity: every endpoint answers what we expect, through a verifying client
        self._sanity()

    def _sanity(self):
        import ssl
        ctx = ssl.create_default_context(cafile=self.ca)
        for port_key, path, want in (("https", "/small", self.small),
                                     ("https_close", "/small", self.small),
                                     ("http", "/small", self.small),
                                     ("https", "/sleep", b"ok\n")):
            port = self.nginx.ports[port_key]
            if port_key == "http":
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            else:
                c = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=ctx)
            try:
                c.request("GET", path)
                r = c.getresponse()
                body = r.read()
            finally:
                c.close()
            if r.status != 200 or body != want:
                raise BenchError("sanity check %s%s: status %d, %d bytes" % (
                    port_key, path, r.status, len(body)))

    def url(self, server, path):
        scheme = "http" if server == "http" else "https"
        return "%s://127.0.0.1:%d%s" % (scheme, self.nginx.ports[server], path)

    def url_file(self, name, server, path, n):
        p = os.path.join(self.work, name)
        base = self.url(server, path)
        with open(p, "w") as f:
            for i in range(n):
                f.write("%s?i=%d\n" % (base, i))
        return p

    def rf_argv(self, conc, url_file, out):
        return [self.rf, "fetch", "-c", str(conc), "--cacert", self.ca, "-i", url_file, "-o", out]

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

    # ---- helpers for one client run ----------------------------------------
    def run_rf(self, scen, rep, conc, url_file, n, out="/dev/null", timeout=300, sample=False):
        tag = "%s-rf-%d" % (scen, rep)
        argv = self.rf_argv(conc, url_file, out)
        res = run_client(self.nginx, argv, timeout, self.work, tag, sample=sample)
        self.cmd(scen, res["argv"])
        summ = parse_rf_summary(res["stderr"])
        res["summary"] = summ
        res["summary_line"] = next((l for l in res["stderr"].splitlines()
                                    if l.startswith("ringfetch: ") and "requests," in l), None)
        res["done"] = summ["ok"] if summ else None
        res["failed"] = summ["failed"] if summ else None
        if out != "/dev/null":
            res["records"] = count_rf_records(out)
            res["done"] = res["records"]["ok200"]
            res["failed"] = n - res["done"]
        if summ is None:
            self.note(scen, "ringfetch rep %d: no summary line; rc=%d timed_out=%s stderr: %s" % (
                rep, res["rc"], res["timed_out"], res["stderr"][-1500:].strip()))
        elif summ["failed"] or res["rc"] != 0:
            self.note(scen, "ringfetch rep %d: rc=%d, summary: %s" % (
                rep, res["rc"], res["summary_line"]))
        other = [l for l in res["stderr"].splitlines() if l != res["summary_line"] and l.strip()]
        if other:
            self.note(scen, "ringfetch rep %d stderr (other than the summary): %s" % (
                rep, " | ".join(other[:10])))
        self._finish(scen, "ringfetch", rep, res)
        return res

    def run_h2load(self, scen, rep, server, n, conc, timeout=300):
        tag = "%s-h2load-%d" % (scen, rep)
        argv = ["h2load", "--h1", "-n", str(n), "-c", str(conc), "-t", "1",
                self.url(server, "/small")]
        res = run_client(self.nginx, argv, timeout, self.work, tag)
        self.cmd(scen, res["argv"])
        text = read_text(res["stdout_path"])
        res["parsed"] = parse_h2load(text)
        res["done"] = res["parsed"].get("succeeded")
        res["failed"] = (n - res["done"]) if res["done"] is not None else None
        if res["done"] is None or res["failed"] or res["rc"] != 0:
            self.note(scen, "h2load rep %d: rc=%d timed_out=%s parsed=%s; tail: %s" % (
                rep, res["rc"], res["timed_out"], res["parsed"], text[-600:].strip()))
        self._finish(scen, "h2load", rep, res)
        return res

    def run_wrk(self, scen, rep, server, conc, secs, close=False, timeout=None):
        tag = "%s-wrk-%d" % (scen, rep)
        argv = ["wrk", "-t1", "-c%d" % conc, "-d%ds" % secs]
        if close:
            argv += ["-H", "Connection: close"]
        argv.append(self.url(server, "/small"))
        res = run_client(self.nginx, argv, timeout or (secs + 60), self.work, tag)
        self.cmd(scen, res["argv"])
        text = read_text(res["stdout_path"])
        res["parsed"] = parse_wrk(text)
        req = res["parsed"].get("requests")
        res["done"] = (req - res["parsed"]["non2xx"]) if req is not None else None
        res["failed"] = res["parsed"]["non2xx"] if req is not None else None
        errs = res["parsed"].get("socket_errors") or {}
        if res["done"] is None or res["failed"] or any(errs.values()) or res["rc"] != 0:
            self.note(scen, "wrk rep %d: rc=%d non2xx=%s socket errors=%s" % (
                rep, res["rc"], res["parsed"].get("non2xx"), errs or "none"))
        self._finish(scen, "wrk", rep, res)
        return res

    def _finish(self, scen, client, rep, res):
        done = res.get("done")
        res["rps"] = (done / res["wall"]) if done else None
        res["cpu_us_per_req"] = (res["cpu"] * 1e6 / done) if done else None
        res["nginx_cpu_us_per_req"] = (res["nginx_cpu"] * 1e6 / res["nginx_requests"]
                                       if res.get("nginx_cpu") is not None and res["nginx_requests"] > 0
                                       else None)
        self.record(scen, client, res)
        log("%s %-9s rep %d: rc=%d wall %.2fs done %s failed %s -> %s req/s, client CPU %s us/req; "
            "nginx saw %d requests, %d connections, nginx CPU %.0f%%" % (
                scen, client, rep, res["rc"], res["wall"], done, res.get("failed"),
                fmt(res["rps"], 0), fmt(res["cpu_us_per_req"], 1), res["nginx_requests"],
                res["nginx_accepts"], 100 * (res["nginx_cpu"] or 0) / max(res["wall"], 1e-9)))

    # ---- scenario A: the story -----------------------------------------------
    def scen_A(self):
        n = 2000 if self.quick else 10000
        # ringfetch: all N at once. Its own limit: concurrency + 32 <= nofile - 256
        # (engine/engine.c); nginx is a separate process with its own 20,000.
        conc = min(n, NOFILE_HARD - 256 - 32 - 100)
        self.extra["A"] = {"n": n, "rf_conc": conc}
        urls = self.url_file("A-urls.txt", "https", "/sleep", n)
        curl_cfg = os.path.join(self.work, "A-curl.cfg")
        with open(curl_cfg, "w") as f:
            for i in range(n):
                f.write('url = "%s?i=%d"\noutput = "/dev/null"\n' % (self.url("https", "/sleep"), i))

        # Where does ringfetch draw the line? Ask for more than the fd limit allows.
        cp = subprocess.run(["taskset", "-c", CLIENT_CPU, self.rf, "fetch", "-c", str(NOFILE_HARD),
                             "--cacert", self.ca, self.url("https", "/small")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env=clean_env(), timeout=30)
        self.extra["A"]["refusal"] = "exit %d: %s" % (
            cp.returncode, cp.stderr.decode("utf-8", "replace").strip()[:300])
        self.note("A", "ringfetch fetch -c %d -> %s (this run uses -c %d)" % (
            NOFILE_HARD, self.extra["A"]["refusal"], conc))

        # Is curl's --parallel-max really capped at 300? Ask for 1000 on 1,000
        # /sleep URLs (untimed) and watch nginx's active connections.
        if True:  # untimed, ~4 s
            cap_n = 1000
            cap_cfg = os.path.join(self.work, "A-curl-cap.cfg")
            with open(cap_cfg, "w") as f:
                for i in range(cap_n):
                    f.write('url = "%s?cap=%d"\noutput = "/dev/null"\n' % (self.url("https", "/sleep"), i))
            argv = ["curl", "--parallel", "--parallel-immediate", "--parallel-max", "1000", "-s",
                    "--cacert", self.ca, "-w", "%{http_code}\\n", "-K", cap_cfg]
            res = run_client(self.nginx, argv, 120, self.work, "A-curl-capcheck", sample=True)
            codes = read_text(res["stdout_path"]).split()
            self.extra["A"]["curl_cap_check"] = {
                "argv": " ".join(shlex.quote(a) for a in res["argv"]), "wall": res["wall"],
                "ok": codes.count("200"), "n": cap_n, "peak_active": res["peak_active"],
                "rc": res["rc"]}
            self.note("A", "curl cap check: asked --parallel-max 1000 for %d /sleep URLs -> "
                      "%d x 200 in %.1f s, peak active connections at nginx %d" % (
                          cap_n, codes.count("200"), res["wall"], res["peak_active"]))

        for rep in range(1, self.reps + 1):
            out = os.path.join(self.work, "A-rf-%d.jsonl" % rep)
            res = self.run_rf("A", rep, conc, urls, n, out=out, timeout=240, sample=True)
            recs = res["records"]
            if recs["records"] != n or recs["errors"]:
                self.note("A", "ringfetch rep %d: %d records for %d URLs, %d ok (200, error null), "
                          "errors by kind %s, statuses %s; first failed records: %s" % (
                              rep, recs["records"], n, recs["ok200"], recs["errors"], recs["statuses"],
                              "; ".join(recs["samples"]) or "none"))
            # keep the timing spread of the records (why some requests took long)
            res["ttfb_total"] = self._rf_timing_stats(out)
            os.unlink(out)

            tag = "A-curl-%d" % rep
            argv = ["curl", "--parallel", "--parallel-immediate", "--parallel-max",
                    str(CURL_MAX_PARALLEL), "-s", "--cacert", self.ca, "-w", "%{http_code}\\n",
                    "-K", curl_cfg]
            res = run_client(self.nginx, argv, 300, self.work, tag, sample=True)
            self.cmd("A", res["argv"])
            codes = read_text(res["stdout_path"]).split()
            res["done"] = codes.count("200")
            res["failed"] = n - res["done"]
            if res["failed"] or res["rc"] != 0:
                hist = {}
                for c in codes:
                    hist[c] = hist.get(c, 0) + 1
                self.note("A", "curl rep %d: rc=%d, %d x 200 of %d, codes %s, stderr: %s" % (
                    rep, res["rc"], res["done"], n, hist, res["stderr"][-500:].strip()))
            self._finish("A", "curl", rep, res)

    def _rf_timing_stats(self, path):
        tot, tls, conn = [], [], []
        resumed = 0
        with open(path, "rb") as f:
            for line in f:
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                t = r.get("timings_us") or {}
                if "total" in t:
                    tot.append(t["total"])
                if t.get("tls"):
                    tls.append(t["tls"])
                if t.get("connect"):
                    conn.append(t["connect"])
                if r.get("tls_resumed"):
                    resumed += 1

        def pct(xs, q):
            if not xs:
                return None
            xs = sorted(xs)
            return xs[min(len(xs) - 1, int(q * len(xs)))] / 1e6
        return {"total_p50": pct(tot, .5), "total_p99": pct(tot, .99), "total_max": pct(tot, 1),
                "tls_p50": pct(tls, .5), "tls_max": pct(tls, 1),
                "connect_p50": pct(conn, .5), "connect_max": pct(conn, 1), "tls_resumed": resumed}

    # ---- B/C/D: request rate at concurrency 100 ---------------------------------
    def scen_rate(self, scen, server, n, close=False):
        conc = 100
        self.extra[scen] = {"n": n, "conc": conc, "server": server}
        urls = self.url_file("%s-urls.txt" % scen, server, "/small", n)
        for rep in range(1, self.reps + 1):
            rf = self.run_rf(scen, rep, conc, urls, n, timeout=300)
            self.run_h2load(scen, rep, server, n, conc, timeout=300)
            # wrk is time-based: run it for about as long as ringfetch took
            secs = max(2, int(round(rf["wall"])))
            self.run_wrk(scen, rep, server, conc, secs, close=close)

    def scen_B(self):
        self.scen_rate("B", "https", 50000 if self.quick else 200000)

    def scen_C(self):
        self.scen_rate("C", "https_close", 5000 if self.quick else 20000, close=True)
        self.tls_resume_check()

    def scen_D(self):
        self.scen_rate("D", "http", 50000 if self.quick else 200000)

    def tls_resume_check(self):
        """Untimed: which clients resume TLS sessions on new connections, and how
        often? Each client makes requests to a keepalive_timeout 0 server that
        logs $ssl_session_reused, at concurrency 10 and at 100 (scenario C's);
        the count is taken at the server."""
        logp = os.path.join(self.root, "logs", "tlscheck.log")
        out = {}
        for conc, n in ((10, 1000), (100, 2000)):
            urls = self.url_file("tls-urls-%d.txt" % conc, "tlscheck", "/small", n)
            runs = [
                ("ringfetch", self.rf_argv(conc, urls, "/dev/null")),
                ("h2load", ["h2load", "--h1", "-n", str(n), "-c", str(conc), "-t", "1",
                            self.url("tlscheck", "/small")]),
                ("wrk", ["wrk", "-t1", "-c%d" % conc, "-d1s", "-H", "Connection: close",
                         self.url("tlscheck", "/small")]),
            ]
            for name, argv in runs:
                start = os.path.getsize(logp) if os.path.exists(logp) else 0
                res = run_client(self.nginx, argv, 60, self.work, "tlscheck-%s-%d" % (name, conc))
                time.sleep(1.2)   # nginx flushes the access log line by line; let it land
                lines = []
                if os.path.exists(logp):
                    with open(logp, "rb") as f:
                        f.seek(start)
                        lines = f.read().decode("utf-8", "replace").splitlines()
                reused = sum(1 for l in lines if l.startswith("r "))
                protos = {}
                for l in lines:
                    parts = l.split()
                    if len(parts) >= 3:
                        k = parts[1] + " " + parts[2]
                        protos[k] = protos.get(k, 0) + 1
                summ = parse_rf_summary(res["stderr"]) if name == "ringfetch" else None
                out["%s c=%d" % (name, conc)] = {
                    "requests": len(lines), "resumed": reused, "protocols": protos,
                    "argv": " ".join(shlex.quote(a) for a in res["argv"]),
                    "client_says": ("%d TLS handshakes (%d resumed)" % (
                        summ["tls_handshakes"], summ["tls_resumed"])) if summ else ""}
                log("TLS resumption check %s c=%d: %d of %d connections resumed (%s)" % (
                    name, conc, reused, len(lines), protos))
        self.extra["tls_resume"] = out

    # ---- report ---------------------------------------------------------------
    def medians(self, scen, client):
        runs = self.results.get(scen, {}).get(client, [])
        return {
            "wall": median([r["wall"] for r in runs]),
            "rps": median([r["rps"] for r in runs]),
            "cpu_us": median([r["cpu_us_per_req"] for r in runs]),
            "done": median([r["done"] for r in runs]),
            "failed": median([r.get("failed") for r in runs]),
            "nginx_req": median([r["nginx_requests"] for r in runs]),
            "nginx_cpu_us": median([r["nginx_cpu_us_per_req"] for r in runs]),
            "peak_active": median([r.get("peak_active") for r in runs]),
            "runs": len(runs),
        }


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
    }
    try:
        cp = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n", "wrk",
                             "nghttp2-client", "curl", "nginx", "libnginx-mod-http-echo",
                             "android-libboringssl", "liburing2", "libssl3"],
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
    v["ringfetch"] = "%s (sha256 %s…, built %s, CMAKE_BUILD_TYPE %s)" % (
        os.path.abspath(rf), h.hexdigest()[:16],
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


def git_info():
    def git(*a):
        cp = subprocess.run(["git", "-C", REPO] + list(a), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, timeout=10)
        return cp.stdout.decode().strip()
    try:
        sha = git("rev-parse", "--short", "HEAD") or "nogit"
        dirty = git("status", "--porcelain", "--untracked-files=no")
        dirty_outside = [l for l in dirty.splitlines() if not l[3:].startswith("perf/")]
        ctime = int(git("log", "-1", "--format=%ct") or 0)
        return sha, git("log", "-1", "--format=%H %s")[:140], dirty_outside, ctime
    except Exception:
        return "nogit", "", [], 0


SCEN_TITLES = {
    "A": "A. The story: 10,000 HTTPS requests to a 1 s-latency endpoint, all at once",
    "B": "B. HTTPS keep-alive throughput, 1 KiB body, concurrency 100",
    "C": "C. New TLS connection per request (server keepalive_timeout 0), concurrency 100",
    "D": "D. Plain HTTP keep-alive throughput, 1 KiB body, concurrency 100",
}


def build_report(b, started, finished, versions, minfo, gitsha, gitlog, dirty, load0, load1, argv):
    L = []
    w = L.append
    w("# ringfetch benchmark — %s (%s)" % (started.strftime("%Y-%m-%d %H:%M"), gitsha))
    w("")
    w("Generated by `perf/bench.py` (`%s`). Repetitions per run: %d; every number in the "
      "summary tables is the **median** over the repetitions. Runtime %s → %s." % (
          " ".join(shlex.quote(a) for a in argv), b.reps, started.strftime("%H:%M:%S"),
          finished.strftime("%H:%M:%S")))
    w("")
    w("Source: `%s`%s." % (gitlog, ("; **the binary may not match this commit**: %s" % "; ".join(
        d if d.startswith("(") else "uncommitted change " + d.strip() for d in dirty[:10]))
        if dirty else " (clean working tree outside perf/; binary built after this commit)"))
    w("")
    w("## Machine")
    w("")
    for k, v in minfo.items():
        w("- %s: %s" % (k, v))
    w("- load average at start / end: %s / %s" % (load0, load1))
    w("- nginx: 1 worker, affinity CPU %s (worker_cpu_affinity + master under taskset), "
      "worker open-files limit %s; clients: `taskset -c %s`" % (
          b.nginx.worker_affinity if b.nginx else "?", b.nginx.worker_nofile if b.nginx else "?",
          CLIENT_CPU))
    w("")
    w("## Tool versions")
    w("")
    for k, v in versions.items():
        w("- %s: %s" % (k, v))
    w("")
    w("## How to read")
    w("")
    w("- *req/s* = requests completed successfully (HTTP 200; for ringfetch: records with "
      "`error` null) ÷ wall time of the client process, measured the same way for every client "
      "(fork to exit, including start-up). The tools' own req/s figures are in the raw tables.")
    w("- *client CPU µs/req* = user+sys CPU of the client process (`wait4` rusage) ÷ requests "
      "completed. Lower is better. nginx on one core saturates, so this is the fairer comparison.")
    w("- *nginx req* = requests counted by nginx's stub_status during the run (the bench's own "
      "stub_status calls subtracted): an independent check that the requests were really sent.")
    w("- *ratio req/s* = ringfetch ÷ peer (>1: ringfetch faster). *ratio CPU/req* = ringfetch ÷ "
      "peer (<1: ringfetch cheaper). For A, *speed-up* = peer wall ÷ ringfetch wall.")
    w("- ringfetch `fetch` verifies the certificate chain, computes a SHA-256 of every body and "
      "writes one JSON record per request; wrk and h2load do none of that (they do not verify "
      "certificates). curl verifies certificates.")
    w("")

    w("## Summary")
    w("")
    for scen in sorted(b.results):
        w("### " + SCEN_TITLES[scen])
        w("")
        ex = b.extra.get(scen, {})
        if scen == "A":
            w("N = %d distinct URLs (`/sleep?i=…`, 1 s server-side latency). ringfetch "
              "`-c %d`; curl `--parallel-max %d`." % (ex["n"], ex["rf_conc"], CURL_MAX_PARALLEL))
            w("")
            w("| client | wall s | ok (of N) | failed | peak active conns at nginx | nginx req | "
              "client CPU s | speed-up vs ringfetch |")
            w("|---|---:|---:|---:|---:|---:|---:|---:|")
            rfm = b.medians("A", "ringfetch")
            for client in ("ringfetch", "curl"):
                if client not in b.results["A"]:
                    continue
                m = b.medians("A", client)
                cpu = median([r["cpu"] for r in b.results["A"][client]])
                sp = "1.00" if client == "ringfetch" else (
                    "ringfetch %s× faster" % ratio(m["wall"], rfm["wall"]))
                w("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    client, fmt(m["wall"], 2), fmt(m["done"], 0), fmt(m["failed"], 0),
                    fmt(m["peak_active"], 0), fmt(m["nginx_req"], 0), fmt(cpu, 2), sp))
        else:
            w("N = %s requests (ringfetch and h2load: exactly N; wrk: time-based, `-d` = "
              "ringfetch's wall time of the same repetition, rounded), concurrency %d, server `%s`." % (
                  fmt(ex["n"]), ex["conc"], ex["server"]))
            w("")
            w("| client | req/s | client CPU µs/req | done | failed | nginx req | nginx CPU µs/req | "
              "ratio req/s (rf/peer) | ratio CPU/req (rf/peer) |")
            w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
            rfm = b.medians(scen, "ringfetch")
            for client in ("ringfetch", "h2load", "wrk"):
                if client not in b.results[scen]:
                    continue
                m = b.medians(scen, client)
                rr = "—" if client == "ringfetch" else ratio(rfm["rps"], m["rps"])
                rc = "—" if client == "ringfetch" else ratio(rfm["cpu_us"], m["cpu_us"])
                w("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    client, fmt(m["rps"], 0), fmt(m["cpu_us"], 1), fmt(m["done"], 0),
                    fmt(m["failed"], 0), fmt(m["nginx_req"], 0), fmt(m["nginx_cpu_us"], 1), rr, rc))
        w("")
        rf_lines = [r.get("summary_line") for r in b.results[scen].get("ringfetch", [])]
        if any(rf_lines):
            w("ringfetch's own summary line, per repetition:")
            w("")
            for i, l in enumerate(rf_lines, 1):
                w("- rep %d: `%s`" % (i, l or "(none)"))
            w("")
        if scen == "C" and "tls_resume" in b.extra:
            w("TLS session resumption, counted at the server (untimed check after the timed runs: "
              "1,000 requests at concurrency 10, 2,000 at concurrency 100 (wrk: 1 s), against an "
              "identical keepalive_timeout 0 server that logs `$ssl_session_reused`):")
            w("")
            w("| client | connections | resumed | resumed % | protocol / cipher | client's own count |")
            w("|---|---:|---:|---:|---|---|")
            for name, d in b.extra["tls_resume"].items():
                w("| %s | %d | %d | %s | %s | %s |" % (
                    name, d["requests"], d["resumed"],
                    fmt(100.0 * d["resumed"] / d["requests"], 1) if d["requests"] else "—",
                    ", ".join("%s ×%d" % kv for kv in d["protocols"].items()), d["client_says"]))
            w("")
        for t in b.notes.get(scen, []):
            w("- note: " + t)
        if b.notes.get(scen):
            w("")

    w("## Raw numbers per repetition")
    w("")
    for scen in sorted(b.results):
        w("### " + SCEN_TITLES[scen])
        w("")
        w("| client | rep | rc | wall s | done | failed | req/s | client user s | client sys s | "
          "CPU µs/req | nginx req | nginx conns | nginx CPU s | CPU0/CPU1 busy | "
          "tool's own figures |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
        for client, runs in b.results[scen].items():
            for i, r in enumerate(runs, 1):
                own = ""
                if "summary" in r and r["summary"]:
                    s = r["summary"]
                    own = ("rf: %d ok / %d failed in %.3f s (%.0f req/s), peak conc %d, %d conns, "
                           "%d reused, %d TLS hs (%d resumed), RSS %.1f MiB" % (
                               s["ok"], s["failed"], s["elapsed"], s["rps"], s["peak_concurrency"],
                               s["conns_opened"], s["reused"], s["tls_handshakes"],
                               s["tls_resumed"], s["peak_rss_mib"]))
                    if r.get("ttfb_total"):
                        t = r["ttfb_total"]
                        own += ("; per-record total p50/p99/max %.2f/%.2f/%.2f s, tls p50/max "
                                "%s/%s s" % (t["total_p50"] or 0, t["total_p99"] or 0,
                                             t["total_max"] or 0, fmt(t["tls_p50"], 3),
                                             fmt(t["tls_max"], 2)))
                elif "parsed" in r:
                    p = dict(r["parsed"])
                    own = ", ".join("%s=%s" % (k, v) for k, v in p.items())
                if r.get("peak_active") is not None:
                    own += "; peak active conns %d" % r["peak_active"]
                busy = r.get("cpu_busy", {})
                w("| %s | %d | %d%s | %.2f | %s | %s | %s | %.2f | %.2f | %s | %s | %s | %s | "
                  "%s | %s |" % (
                      client, i, r["rc"], " (timeout)" if r["timed_out"] else "", r["wall"],
                      fmt(r.get("done")), fmt(r.get("failed")), fmt(r.get("rps"), 0), r["utime"],
                      r["stime"], fmt(r.get("cpu_us_per_req"), 1),
                      fmt(r["nginx_requests"]), fmt(r["nginx_accepts"]), fmt(r.get("nginx_cpu"), 2),
                      "/".join("%.0f%%" % (100 * busy[c]) for c in sorted(busy)), own))
        w("")

    w("## Exact commands")
    w("")
    w("Paths under `%s` are the bench's temporary folder (removed at the end); `?i=…` URL files "
      "hold N distinct URLs, one per line. `curl -K` config files hold `url = …` / "
      "`output = \"/dev/null\"` pairs." % b.root)
    w("")
    w("```sh")
    w("# nginx (config below)")
    w(" ".join(shlex.quote(a) for a in b.nginx.argv) if b.nginx else "")
    for scen in sorted(b.commands):
        w("# scenario %s" % scen)
        for c in b.commands[scen]:
            w(c)
    if "A" in b.extra and "curl_cap_check" in b.extra["A"]:
        w("# scenario A, curl --parallel-max cap check (untimed)")
        w(b.extra["A"]["curl_cap_check"]["argv"])
    if "tls_resume" in b.extra:
        w("# TLS resumption check (untimed)")
        for d in b.extra["tls_resume"].values():
            w(d["argv"])
    w("```")
    w("")
    w("nginx configuration:")
    w("")
    w("```nginx")
    w(b.nginx.conf_text.rstrip() if b.nginx else "")
    w("```")
    w("")
    return "\n".join(L) + "\n"


def print_table(b):
    print()
    for scen in sorted(b.results):
        print(SCEN_TITLES[scen])
        if scen == "A":
            rfm = b.medians("A", "ringfetch")
            print("  %-10s %9s %8s %8s %10s" % ("client", "wall s", "ok", "failed", "peak conn"))
            for client in ("ringfetch", "curl"):
                if client in b.results["A"]:
                    m = b.medians("A", client)
                    print("  %-10s %9s %8s %8s %10s" % (client, fmt(m["wall"], 2), fmt(m["done"], 0),
                                                         fmt(m["failed"], 0), fmt(m["peak_active"], 0)))
            if "curl" in b.results["A"]:
                print("  curl wall / ringfetch wall = %s" % ratio(b.medians("A", "curl")["wall"], rfm["wall"]))
        else:
            rfm = b.medians(scen, "ringfetch")
            print("  %-10s %9s %11s %9s %9s %10s %10s %10s" % (
                "client", "req/s", "CPU us/req", "done", "failed", "nginx req", "rps rf/x", "cpu rf/x"))
            for client in ("ringfetch", "h2load", "wrk"):
                if client in b.results[scen]:
                    m = b.medians(scen, client)
                    print("  %-10s %9s %11s %9s %9s %10s %10s %10s" % (
                        client, fmt(m["rps"], 0), fmt(m["cpu_us"], 1), fmt(m["done"], 0),
                        fmt(m["failed"], 0), fmt(m["nginx_req"], 0),
                        "" if client == "ringfetch" else ratio(rfm["rps"], m["rps"]),
                        "" if client == "ringfetch" else ratio(rfm["cpu_us"], m["cpu_us"])))
        print()


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
            b.root_removed = True
    with _LIVE_LOCK:
        live = list(_LIVE.items())
    for pid, what in live:
        _kill_group(pid)


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


def main(argv=None):
    global _BENCH
    ap = argparse.ArgumentParser(description="ringfetch vs curl / h2load / wrk (see perf/README.md)")
    ap.add_argument("--ringfetch", default=os.environ.get("RINGFETCH", os.path.join(REPO, "build", "ringfetch")),
                    help="ringfetch binary (default $RINGFETCH or build/ringfetch)")
    ap.add_argument("--quick", action="store_true", help="1 repetition, smaller N")
    ap.add_argument("--scenarios", default="A,B,C,D", help="comma-separated subset of A,B,C,D")
    ap.add_argument("--reps", type=int, default=0, help="repetitions (default 3, --quick 1)")
    ap.add_argument("--results-dir", default=os.path.join(HERE, "results"))
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, configs)")
    args = ap.parse_args(argv)

    scens = [s.strip().upper() for s in args.scenarios.split(",") if s.strip()]
    bad = [s for s in scens if s not in SCEN_TITLES]
    if bad:
        ap.error("unknown scenario(s): %s" % ",".join(bad))
    if not (os.path.isfile(args.ringfetch) and os.access(args.ringfetch, os.X_OK)):
        ap.error("ringfetch binary %r not found; build it, e.g.\n  cmake -S %s -B /tmp/perf-build "
                 "-DCMAKE_BUILD_TYPE=Release && cmake --build /tmp/perf-build -j2\nand pass "
                 "--ringfetch /tmp/perf-build/ringfetch" % (args.ringfetch, REPO))
    args.ringfetch = os.path.abspath(args.ringfetch)
    missing = [t for t in ("wrk", "h2load", "curl", "openssl", "taskset") if not shutil.which(t)]
    if not os.access(NGINX, os.X_OK):
        missing.append(NGINX)
    if not os.path.exists(ECHO_MODULE):
        missing.append(ECHO_MODULE)
    if missing:
        sys.exit("bench: missing tools: " + ", ".join(missing))
    if os.cpu_count() < 2:
        sys.exit("bench: needs 2 CPUs (client on CPU 0, nginx on CPU 1)")

    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(s, _on_signal)
    atexit.register(cleanup)

    started = datetime.datetime.now()
    load0 = loadavg()
    minfo = machine_info()
    versions = tool_versions(args.ringfetch)
    gitsha, gitlog, dirty, ctime = git_info()
    if ctime and os.path.getmtime(args.ringfetch) < ctime:
        dirty = dirty + ["(ringfetch binary is older than HEAD's commit: rebuild it?)"]
        log("warning: %s is older than HEAD's commit; the numbers may not describe HEAD" % args.ringfetch)
    b = _BENCH = Bench(args)
    try:
        b.setup()
        # keep the orchestrator off the server's CPU
        os.sched_setaffinity(0, {int(CLIENT_CPU)})
        for s in sorted(scens):
            log("scenario %s" % SCEN_TITLES[s])
            getattr(b, "scen_" + s)()
        finished = datetime.datetime.now()
        load1 = loadavg()
        report = build_report(b, started, finished, versions, minfo, gitsha, gitlog, dirty,
                              load0, load1, [os.path.relpath(sys.argv[0], os.getcwd())] + (
                                  sys.argv[1:] if argv is None else argv))
    finally:
        cleanup()
    os.makedirs(args.results_dir, exist_ok=True)
    name = "%s-%s%s.md" % (started.strftime("%Y-%m-%d"), gitsha, "-quick" if args.quick else "")
    path = os.path.join(args.results_dir, name)
    with open(path, "w") as f:
        f.write(report)
    shutil.copyfile(path, os.path.join(args.results_dir, "latest.md"))
    print_table(b)
    print("report: %s (and %s)" % (path, os.path.join(args.results_dir, "latest.md")))
    left = [pid for pid in (b.nginx.worker, ) if pid and os.path.exists("/proc/%d" % pid)]
    if left:
        log("warning: nginx worker %s still present after cleanup" % left)
    return 0


if __name__ == "__main__":
    sys.exit(main())
