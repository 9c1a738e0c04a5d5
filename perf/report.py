"""The report: the targets table, per-scenario tables, the machine and tool
versions, written as RESULTS.md / results/DATE-SHA.md. Part of perf/bench.py
(see perf/README.md)."""
import datetime
import hashlib
import os
import platform
import shlex
import subprocess

from world import (BIG_SIZE, CLIENT_CPU, CONC, CRAWL_CONC, CRAWL_GZIP_LEVEL, CRAWL_GZIP_STATIC, CRAWL_HOSTS,
                   ECHO_MODULE, NGINX, CRAWL_REDIRECT_EVERY, CRAWL_RESOLVE_URLS, CRAWL_URLS, CURL_HOSTS, CURL_MAX_PARALLEL,
                   CURL_RESOLVE, fmt, fr, MANY_CONC, MANY_DOMAIN, MANY_HOSTS, MANY_URLS, median, pct, ratio,
                   REPO, SCALE_CONC, SCALE_HOSTS, SCALE_LINES, SCALE_MIX, SERVER_CPU, SMALL_SIZE)
from scenarios import (DISTURBED_PCT, scen_key, SCEN_TITLES)

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


def _rate_rows(b, rows, scen, name, rate_label, targets, suffix="", h2_range=False):
    """1, 2, 6 and 8: the rate and client CPU rows against wrk and h2load."""
    if scen not in b.results:
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


def _rows_3(b, rows):
    """3: MB/s and CPU against curl."""
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


def _rows_4(b, rows):
    """4: wall at N requests of 1 s, all at once."""
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


def _rows_5(b, rows):
    """5: RSS per connection."""
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


def _rows_7(b, rows):
    """7: the embedded server's 1 GiB body."""
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


def _rows_9(b, rows):
    """9: many hosts against curl."""
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


def _rows_10(b, rows):
    """10: the crawl against curl."""
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


def _rows_11(b, rows):
    """11: flat memory."""
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


def target_rows(b):
    """Rows of the headline table: (scenario, metric, ringfetch, peer name,
    peer value, h2load value, ratio text, target text, result text)."""
    rows = []
    rate = {"1": [("1 keep-alive HTTPS, 1 KiB, 100 conns", "requests/s", {"rps": "1-rps", "cpu": "1-cpu"}, {})],
            "2": [("2 new TLS connection per request, 100 conns", "handshakes/s", {"cpu": "2-cpu"}, {})],
            "6": [("6 (extra) keep-alive plain HTTP, 1 KiB, 100 conns", "requests/s", {}, {})],
            "8": [("8 (extra) keep-alive HTTPS, 1 KiB, 100 conns, embedded server", "requests/s", {},
                   {"h2_range": True}),
                  ("8 (extra) new TLS connection per request, 100 conns, embedded server", "handshakes/s", {},
                   {"suffix": " new-conn", "h2_range": True})]}
    others = {"3": _rows_3, "4": _rows_4, "5": _rows_5, "7": _rows_7, "9": _rows_9, "10": _rows_10,
              "11": _rows_11}
    for scen in sorted(set(rate) | set(others), key=scen_key):
        for name, label, targets, kw in rate.get(scen, ()):
            _rate_rows(b, rows, scen, name, label, targets, **kw)
        if scen in others and scen in b.results:
            others[scen](b, rows)
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


def _first_last(ex):
    """9's and 10's first URLs and last URL, as the sections quote them."""
    return ", ".join("`%s`" % u for u in ex.get("first_urls", [])), "`%s`" % ex.get("last_url")


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
          *_first_last(ex),
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
          *_first_last(ex),
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


def _section_rate(b, scen, ex, w):
    """1, 2 and 6: requests or handshakes per second against wrk and h2load."""
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


def _section_3(b, scen, ex, w):
    """3: one 1 GiB body from nginx."""
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


def _section_4(b, scen, ex, w):
    """4: N requests at 1 s latency, all at once."""
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


def _section_5(b, scen, ex, w):
    """5: peak RSS per open HTTPS connection."""
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


def _section_7(b, scen, ex, w):
    """7: 3's transfer from the embedded server."""
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


def _section_8(b, scen, ex, w):
    """8: 1 and 2 against the embedded server."""
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


# scenario -> the function that writes its part of "## Scenarios"
_SECTIONS = {"1": _section_rate, "2": _section_rate, "6": _section_rate, "3": _section_3, "4": _section_4,
             "5": _section_5, "7": _section_7, "8": _section_8,
             "9": lambda b, scen, ex, w: many_hosts_section(b, ex, w),
             "10": lambda b, scen, ex, w: crawl_section(b, ex, w),
             "11": lambda b, scen, ex, w: scale_section(b, ex, w)}


def _each_scenario(b, w, scens):
    """Yields each scenario in order after writing its heading."""
    for scen in sorted(scens, key=scen_key):
        w("### " + SCEN_TITLES[scen])
        w("")
        yield scen


def _scenarios(b, w):
    w("## Scenarios")
    w("")
    for scen in _each_scenario(b, w, b.results):
        _SECTIONS[scen](b, scen, b.extra.get(scen, {}), w)
        for t in b.notes.get(scen, []):
            w("- note: " + t)
        if b.notes.get(scen):
            w("")


def _raw_numbers(b, w):
    w("## Raw numbers per repetition")
    w("")
    for scen in _each_scenario(b, w, b.results):
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


def _commands(b, w):
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


def _head(b, w, started, finished, git, argv, rows):
    """Title, command, targets table and how to read it."""
    gitsha, dirty = git["sha"], git["dirty"]
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


def _machine_versions(b, w, minfo, load0, load1, versions, git):
    gitlog, dirty, from_head = git["log"], git["dirty"], git.get("from_head")
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


def build_report(b, started, finished, versions, minfo, git, load0, load1, argv, rows):
    L = []
    w = L.append
    _head(b, w, started, finished, git, argv, rows)
    _machine_versions(b, w, minfo, load0, load1, versions, git)
    _scenarios(b, w)
    _raw_numbers(b, w)
    _commands(b, w)
    return "\n".join(L) + "\n"


def print_table(b, rows):
    print()
    print(table_md(rows))
    print()
    for scen in sorted(b.notes, key=scen_key):
        for t in b.notes[scen]:
            print("note %s: %s" % (scen, t))


