"""The parts of a private test world on 127.0.0.1 that the integration tests
(``harness.py``) and the benchmarks (``perf/``) share. Standard library only.

* Certificates: ``make_certs(d, leaves)`` makes a test CA and ECDSA P-256
  leaves signed by it with the ``openssl`` CLI ("good": SAN localhost,
  127.0.0.1 and ``*.crawl.test``; "expired": the same SAN, valid in January
  2020; "wronghost": SAN other.example). ``make_ca_and_leaf(d)`` is the CA and
  the good leaf alone, what perf/ needs.
* Servers: ``Nginx``, one Debian nginx (+ the echo module) in a folder of its
  own, on free ports picked here, started as a child that dies with this
  process, waited for until every port listens, stopped with its whole
  process group; ``conf_head()`` and ``http_basics()`` are the config lines
  every world's nginx.conf starts with; ``stub_status(port)`` reads nginx's
  counters.
* Ports: ``free_port()``, ``free_ports(n)``, ``refused_port()`` (a bound,
  never-listening socket: connects are refused), ``silent_listener()``
  (listens, never accepts or answers).
* Processes: ``die_with_parent(sig)`` (a preexec_fn), ``clean_env()`` (the
  environment without proxy and CA-bundle variables).

perf/ scripts import it with a ``sys.path`` insert of this folder, relative to
their own file (perf/world.py); test files find it beside them.
"""

import ctypes
import http.client
import os
import signal
import socket
import subprocess
import time

NGINX = "/usr/sbin/nginx"
ECHO_MODULE = "/usr/lib/nginx/modules/ngx_http_echo_module.so"

# Variables that would make a TLS client trust something other than what the
# caller passes explicitly, and proxy variables that would reroute requests.
CA_ENV_VARS = ("SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE")
PROXY_ENV_VARS = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                  "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY")


class WorldError(Exception):
    """The world could not be set up (not a ringfetch failure)."""


# ---------------------------------------------------------------------------
# Processes: children die with us (PR_SET_PDEATHSIG, prctl option 1)
# ---------------------------------------------------------------------------
try:
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # pragma: no cover - Linux always has it
    _PRCTL = None


def die_with_parent(sig=signal.SIGTERM):
    """A preexec_fn: the child gets ``sig`` when this process dies, even by
    SIGKILL, so no server outlives a killed test or bench."""
    parent = os.getpid()

    def fn():
        if _PRCTL is not None:
            _PRCTL(1, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)
    return fn


def kill_group(pid, sig=signal.SIGKILL):
    try:
        os.killpg(pid, sig)
    except OSError:
        pass


def clean_env(unset_ca_env=True, extra=None):
    """os.environ without proxy variables (and CA-bundle ones unless told),
    plus ``extra`` (a value None removes that variable)."""
    env = dict(os.environ)
    for k in PROXY_ENV_VARS:
        env.pop(k, None)
    if unset_ca_env:
        for k in CA_ENV_VARS:
            env.pop(k, None)
    for k, v in (extra or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


# ---------------------------------------------------------------------------
# Ports
# ---------------------------------------------------------------------------
def free_port():
    """A TCP port on 127.0.0.1 that had no listener a moment ago."""
    return free_ports(1)[0]


def free_ports(n):
    """n distinct free ports (all held at once while picking, so no two equal)."""
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


_KEEP = []  # sockets that must stay open for the life of the process


def refused_port():
    """A port on 127.0.0.1 where a connect is refused.

    The port is held by a bound socket that never listens (kept open until the
    process exits), so no other program can start listening on it meanwhile."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    _KEEP.append(s)
    return s.getsockname()[1]


def silent_listener(backlog=64):
    """A listening socket on 127.0.0.1 that never accepts and never answers:
    the kernel completes TCP handshakes into the backlog, then nothing more.
    Returns the port; the socket stays open until the process exits."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(backlog)
    _KEEP.append(s)
    return s.getsockname()[1]


# ---------------------------------------------------------------------------
# Certificates
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
default_ca = test_ca
[ test_ca ]
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

"""

# The leaves' extensions: a server certificate for these names. "good" covers
# 127.0.0.1, localhost and perf's hK.crawl.test host names (two labels under
# the wildcard: curl refuses one directly under a one-label name).
_LEAF_SAN = {"leaf_good": "DNS:localhost, IP:127.0.0.1, DNS:*.crawl.test",
             "leaf_wrong": "DNS:other.example"}
_LEAF_EXT = """
[ {name} ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = {san}
"""

LEAVES = ("good", "expired", "wronghost")


def _openssl(args, cwd):
    env = clean_env(extra={"OPENSSL_CONF": None})
    cp = subprocess.run(["openssl"] + args, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if cp.returncode != 0:
        raise WorldError("openssl %s failed (%d): %s" % (" ".join(args), cp.returncode,
                                                         cp.stderr.decode("utf-8", "replace")))


def _stamp(t):
    return time.strftime("%Y%m%d%H%M%SZ", time.gmtime(t))


def make_certs(d, leaves=LEAVES):
    """Makes ca.pem/ca.key and NAME.crt/NAME.key for each NAME in ``leaves``
    (of LEAVES) in folder d. Returns {NAME: (crt path, key path)}."""
    os.makedirs(os.path.join(d, "newcerts"), exist_ok=True)
    cnf = os.path.join(d, "openssl.cnf")
    with open(cnf, "w") as f:
        f.write(_OPENSSL_CNF.format(dir=d) + "".join(
            _LEAF_EXT.format(name=n, san=san) for n, san in _LEAF_SAN.items()))
    open(os.path.join(d, "index.txt"), "w").close()
    with open(os.path.join(d, "serial"), "w") as f:
        f.write("1000\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    _openssl(["req", "-config", cnf, "-x509", "-new"] + ec +
             ["-keyout", "ca.key", "-out", "ca.pem", "-days", "3650", "-sha256",
              "-subj", "/CN=ringfetch test CA", "-extensions", "v3_ca"], d)
    # Valid leaves start a day ago (no clock-edge surprises) and last a year;
    # the expired one lived in January 2020 (OpenSSL 3.0's `x509 -days` cannot
    # go negative, `ca -startdate/-enddate` can set any window).
    now = time.time()
    valid = ["-startdate", _stamp(now - 86400), "-enddate", _stamp(now + 365 * 86400)]
    kinds = {
        "good": ("/CN=localhost", "leaf_good", valid),
        "expired": ("/CN=localhost", "leaf_good",
                    ["-startdate", "20200101000000Z", "-enddate", "20200201000000Z"]),
        "wronghost": ("/CN=other.example", "leaf_wrong", valid),
    }
    for name in leaves:
        subj, ext, validity = kinds[name]
        _openssl(["req", "-config", cnf, "-new"] + ec +
                 ["-keyout", name + ".key", "-out", name + ".csr", "-subj", subj], d)
        _openssl(["ca", "-batch", "-config", cnf, "-name", "test_ca", "-extensions", ext,
                  "-notext", "-in", name + ".csr", "-out", name + ".crt"] + validity, d)
    return {n: (os.path.join(d, n + ".crt"), os.path.join(d, n + ".key")) for n in leaves}


def make_ca_and_leaf(d):
    """The CA and the good leaf alone, in folder d: (ca.pem, crt, key) paths."""
    crt, key = make_certs(d, ("good",))["good"]
    return os.path.join(d, "ca.pem"), crt, key


# ---------------------------------------------------------------------------
# nginx
# ---------------------------------------------------------------------------
def conf_head(d, nofile=16384, affinity=None, echo=True):
    """The main-context lines every world's nginx.conf starts with. One worker;
    with ``affinity`` (a worker_cpu_affinity mask) a master too, since nginx
    ignores the affinity in single-process mode, else no master (the one
    process is then our child and dies with us)."""
    lines = ["daemon off;",
             "master_process %s;" % ("off" if affinity is None else "on"),
             "worker_processes 1;"]
    if affinity is not None:
        lines.append("worker_cpu_affinity %s;" % affinity)
    lines += ["worker_rlimit_nofile %d;" % nofile,
              "pid %s/nginx.pid;" % d,
              "error_log %s/logs/error.log warn;" % d]
    if echo:
        lines.append("load_module %s;" % ECHO_MODULE)
    return "\n".join(lines) + "\n"


def http_basics(d):
    """http-context lines every world wants: temporary files in the world's
    folder (nginx's defaults are system folders), no types, sendfile."""
    return "".join("    %s_temp_path %s/tmp/%s;\n" % (k, d, k)
                   for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")) + (
        "    types { }\n"
        "    default_type application/octet-stream;\n"
        "    sendfile on;\n"
        "    server_tokens off;\n")


def stub_status(port):
    """nginx's stub_status counters from http://127.0.0.1:port/nginx_status.
    Each call is itself one new connection and one request."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", "/nginx_status", headers={"Connection": "close"})
        r = c.getresponse()
        body = r.read().decode()
    finally:
        c.close()
    if r.status != 200:
        raise WorldError("stub_status answered %d" % r.status)
    lines = body.splitlines()
    # Active connections: N / server accepts handled requests / A H R / Reading..
    a, h, q = (int(x) for x in lines[2].split())
    return {"active": int(lines[0].split(":")[1]), "accepts": a, "handled": h, "requests": q}


class Nginx:
    """One nginx with its config, logs and temporary files in ``root``
    (subfolders logs/ and tmp/ must exist), listening on free ports named
    ``port_names``. ``config(ports)`` returns nginx.conf's text for the ports
    picked ({name: port}); ``prefix`` goes before the nginx command (taskset).
    ``status`` names the port that serves /nginx_status, if any."""

    LOG_FILES = ("startup.log", "error.log", "nginx.out")

    def __init__(self, root, port_names, config, prefix=(), status=None, extra_logs=()):
        self.root, self.port_names, self.config = root, tuple(port_names), config
        self.prefix, self.status, self.extra_logs = list(prefix), status, tuple(extra_logs)
        self.proc = None
        self.ports = {}

    def start(self, attempts=3):
        last = None
        for _ in range(attempts):  # a picked port can be taken before nginx binds it
            try:
                self._start()
                return self
            except WorldError as e:
                last = e
                self.stop()
                if "Address already in use" not in str(e):
                    raise
        raise last

    def _start(self):
        d = self.root
        self.ports = dict(zip(self.port_names, free_ports(len(self.port_names))))
        self.conf = os.path.join(d, "nginx.conf")
        self.conf_text = self.config(self.ports)
        with open(self.conf, "w") as f:
            f.write(self.conf_text)
        for name in self.LOG_FILES + self.extra_logs:
            p = os.path.join(d, "logs", name)
            if os.path.exists(p):
                os.unlink(p)
        out = open(os.path.join(d, "logs", "nginx.out"), "wb")
        self.argv = self.prefix + [NGINX, "-p", d + "/", "-c", self.conf,
                                   "-e", os.path.join(d, "logs", "startup.log")]
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=die_with_parent(signal.SIGTERM))
        finally:
            out.close()
        self.started()
        self.wait_listening()

    def started(self):
        """Called once the process is forked, before it listens (a hook)."""

    def wait_listening(self, limit=10):
        deadline = time.monotonic() + limit
        pending = set(self.ports.values())
        while pending:
            if self.proc.poll() is not None:
                raise WorldError("nginx exited at start:\n" + self.logs())
            if time.monotonic() > deadline:
                raise WorldError("nginx did not listen within %d s:\n%s" % (limit, self.logs()))
            for p in list(pending):
                try:
                    socket.create_connection(("127.0.0.1", p), timeout=0.5).close()
                    pending.discard(p)
                except OSError:
                    pass
            if pending:
                time.sleep(0.05)

    def logs(self):
        text = []
        for name in self.LOG_FILES:
            p = os.path.join(self.root, "logs", name)
            if os.path.exists(p):
                with open(p, "rb") as f:
                    text.append("== %s ==\n%s" % (name, f.read()[-4000:].decode("utf-8", "replace")))
        return "\n".join(text)

    def stub_status(self):
        return stub_status(self.ports[self.status])

    def stop(self, wait=10):
        """Fast shutdown (SIGTERM), then SIGKILL to whatever is left of the
        process group (a master's worker included). Returns the Popen or None."""
        p, self.proc = self.proc, None
        if p is None:
            return None
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                kill_group(p.pid)
                p.wait(timeout=5)
        kill_group(p.pid)
        return p
