"""The scenarios: what each runs, with which clients, and the checks of
their output. Part of perf/bench.py (see perf/README.md and bench.py's
docstring for the list)."""
import gzip
import hashlib
import http.client
import json
import os
import random
import re
import shlex
import signal
import socket
import subprocess
import time

from world import (_die_with_parent, BenchError, BenchWorld, BIG_SIZE, clean_env, CLIENT_CPU, CONC,
                   CRAWL_CONC, CRAWL_GZIP_STATIC, CRAWL_HOSTS, CRAWL_REDIRECT_EVERY, CRAWL_RESOLVE_URLS,
                   CRAWL_URLS, CURL_HOSTS, CURL_MAX_PARALLEL, CURL_RESOLVE, EMBEDDED, EmbeddedServer, fmt,
                   log, LogTail, MANY_CONC, MANY_DOMAIN, MANY_HOSTS, MANY_URLS, median, pattern_sha256, pct,
                   quiet_after, ratio, read_text, run_client, SCALE_CONC, SCALE_HOSTS, SCALE_LINES,
                   SCALE_MIX, SERVER_CPU, SMALL_SIZE)


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


class Bench(BenchWorld):
    """The world plus the scenarios run in it and their results."""

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
                    res = self._crawl_rf_run(rep, client, rf_tail, check_record)
                else:
                    hosts_run = client == CURL_HOSTS
                    n = CRAWL_URLS if hosts_run else n_res
                    res = self.run_curl_parallel(
                        "10", rep, client, cfg_hosts if hosts_run else cfg_res, n, 300,
                        "10-curl%s-%d" % ("-hosts" if hosts_run else "-resolve", rep), parallel=CRAWL_CONC,
                        hosts_file=hosts_file if hosts_run else None, extra=curl_extra, wfmt=wfmt)
                    res["client"], res["rep"] = client, rep
                    res["decoded_bytes"], res["wire_bytes"] = self._crawl_check_curl(
                        res, n, (pages, page, moved, url_re))
                    res["redirects_followed"] = None
                res["urls"], res["client"] = n, client
                self._crawl_figures(res, n, sum(moved[:n]))
        # the commands with their CRAWL_HOSTS --resolve arguments shortened
        self.commands["10"] = [shorten_resolve(c) for c in self.commands.get("10", [])]

    def _crawl_rf_run(self, rep, client, rf_tail, check_record):
        """One `ringfetch fetch` of scenario 10's URLs, its records checked
        and its figures taken (the JSONL is removed after it is read)."""
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
        return res

    def _crawl_check_curl(self, res, n, plan):
        """curl's -w lines (`code redirects size_download url_effective`):
        what came per URL. Sets done (200s), the decoded bytes (the pages'
        known sizes: curl writes the decoded body to /dev/null and reports
        only the wire size) and the wire bytes (size_download). plan: the
        run's (pages, page of each URL, redirects of each URL, URL pattern)."""
        pages, page, moved, url_re = plan
        gz_of = {p["name"]: p for p in pages}
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
