"""The bench's world: constants, the nginx it starts (pinned to the server's
CPU), ringfetch's embedded server, the test pages and 1 GiB file, and running
one client pinned to the client's CPU with everything measured around it.
The certificates, nginx's start and stop and free ports come from
tests/integration/worldkit.py, shared with the integration tests.
Part of perf/bench.py (see perf/README.md)."""
import contextlib
import gzip
import hashlib
import http.client
import os
import random
import re
import resource
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
# the world's shared parts (certificates, nginx, ports) live beside the integration tests
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import worldkit  # noqa: E402

NGINX = worldkit.NGINX
ECHO_MODULE = worldkit.ECHO_MODULE
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



class BenchError(worldkit.WorldError):
    pass


def log(msg):
    sys.stderr.write("[bench %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


# ---------------------------------------------------------------------------
# Children die with us (PR_SET_PDEATHSIG), and we track the live ones so that
# cleanup can kill them by process group on any exit path.
# ---------------------------------------------------------------------------
_LIVE = {}          # pid -> description, children started by this script
_LIVE_LOCK = threading.Lock()
_die_with_parent = worldkit.die_with_parent
_kill_group = worldkit.kill_group


def clean_env():
    return worldkit.clean_env(extra={"OPENSSL_CONF": None})


make_certs = worldkit.make_ca_and_leaf   # (ca, crt, key)


def http_get(port, method, path, ca=None, headers=None):
    """One request to 127.0.0.1:port, over TLS trusting ca when ca is given:
    (status, body, headers with lowercase names)."""
    if ca:
        c = http.client.HTTPSConnection("127.0.0.1", port, timeout=10,
                                        context=ssl.create_default_context(cafile=ca))
    else:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read(), dict((k.lower(), v) for k, v in r.getheaders())
    finally:
        c.close()


@contextlib.contextmanager
def small_nginx(prefix, template, names, check=("http", False)):
    """A private nginx (one worker, pinned to SERVER_CPU) for h2.py and ab.py:
    a fresh folder with the 1 KiB file www/small and the test certificates,
    template formatted with head, basics, d, crt, key and a free port per
    name. check: the port's name and whether it is TLS, where /small must
    answer 200 with the file before anything is measured (a run against an
    error page, a 403 of 146 bytes, would measure the wrong thing without a
    word). Yields (nginx, CA path); stops nginx and removes the folder after."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE_WANT, NOFILE_WANT))
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)  # the nginx worker runs as 'nobody': a 0700 folder answers 403
    ng = None
    try:
        for sub in ("www", "tmp", "logs"):
            os.makedirs(os.path.join(d, sub), mode=0o755)
        small = os.urandom(SMALL_SIZE)
        with open(d + "/www/small", "wb") as f:
            f.write(small)
        ca, crt, key = make_certs(d)

        def conf(ports):
            return template.format(head=worldkit.conf_head(d, NOFILE_WANT, affinity="10"),
                                   basics=worldkit.http_basics(d), d=d, crt=crt, key=key, **ports)
        ng = worldkit.Nginx(d, names, conf, prefix=("taskset", "-c", SERVER_CPU)).start()
        status, body, _ = http_get(ng.ports[check[0]], "GET", "/small", ca if check[1] else None)
        if status != 200 or body != small:
            raise BenchError("nginx answered /small with %d and %d bytes, not 200 and the %d-byte file" % (
                status, len(body), SMALL_SIZE))
        yield ng, ca
    finally:
        if ng:
            ng.stop()
        shutil.rmtree(d, ignore_errors=True)


def counted_run(argv, status_port, stdin=None, ok=(0, 1)):
    """Runs argv pinned to CLIENT_CPU: wall s, the child's user and sys s (and
    cpu, their sum), the connections and requests nginx counted meanwhile
    (stub_status on status_port, its own requests taken off), its stdout."""
    s0 = worldkit.stub_status(status_port)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    cp = subprocess.run(["taskset", "-c", CLIENT_CPU] + argv, input=stdin, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, env=clean_env(), timeout=300)
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    s1 = worldkit.stub_status(status_port)
    if cp.returncode not in ok:
        raise BenchError("%s failed (%d): %s" % (argv[0], cp.returncode, cp.stderr.decode()[-2000:]))
    user, sys_s = r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime
    return {"wall": wall, "user": user, "sys": sys_s, "cpu": user + sys_s, "out": cp.stdout,
            "conns": s1["accepts"] - s0["accepts"] - 1, "reqs": s1["requests"] - s0["requests"] - 1}


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
{head}
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
{basics}    gzip off;
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


class Nginx(worldkit.Nginx):
    """The bench's nginx: a master and one worker, both on SERVER_CPU, the
    worker's pid found for its CPU time; tracked in _LIVE for cleanup."""

    def __init__(self, root, crt, key, www, nofile):
        super().__init__(root, ("https", "https_close", "http"), self._config,
                         prefix=("taskset", "-c", SERVER_CPU), status="http",
                         extra_logs=("reused.log", "big.log"))
        self.nofile = nofile
        self.crt, self.key, self.www = crt, key, www
        self.worker = None

    def _config(self, ports):
        d = self.root
        return _NGINX_CONF.format(
            head=worldkit.conf_head(d, self.nofile, affinity="1" + "0" * int(SERVER_CPU)),
            basics=worldkit.http_basics(d), dir=d, crt=self.crt, key=self.key,
            wconns=self.nofile - 1000,
            locations=_LOCATIONS.format(www=self.www, dir=d,
                                        gzip_static="on" if CRAWL_GZIP_STATIC else "off"),
            **ports)

    def started(self):
        with _LIVE_LOCK:
            _LIVE[self.proc.pid] = "nginx"

    def _start(self):
        super()._start()
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

    def worker_cpu_ticks(self):
        return _proc_cpu_ticks(self.worker) if self.worker else None

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
        p = super().stop()
        if p is not None:
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



class BenchWorld:
    """The world one run builds: folders, files, certificates, nginx."""

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
        checks = [("https", "GET", "/small", self.small), ("https_close", "GET", "/small", self.small),
                  ("http", "GET", "/small", self.small), ("https", "GET", "/sleep", b"ok\n")]
        if self.big_sha256:
            checks.append(("https", "HEAD", "/big", None))
        for port_key, method, path, want in checks:
            status, body, hdrs = http_get(self.nginx.ports[port_key], method, path,
                                          None if port_key == "http" else self.ca,
                                          {"Accept-Encoding": "gzip, br"})
            if status != 200 or (want is not None and body != want):
                raise BenchError("sanity check %s %s%s: status %d, %d bytes" % (
                    method, port_key, path, status, len(body)))
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

