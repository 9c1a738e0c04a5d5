#!/usr/bin/env python3
"""The cost of the fleet's queue: one ringfetch worker on a Redis Streams
queue against the plain CLI on the same URLs, then 1, 2 and 3 workers.

    python3 perf/fleet.py --ringfetch build-perf/ringfetch [--urls 100000] [--reps 3] [-c 100]

Starts its own nginx (one worker process, a 1 KiB static file, no access
log) and redis-server (no persistence) on 127.0.0.1, writes N URLs over 100
host names (all dialled to the nginx with --connect-to), and measures:

  * cli:       ringfetch fetch -c C -i urls -o out.jsonl
  * k workers: ringfetch enqueue (timed apart), then k workers
               ringfetch fetch --queue ... --worker wI --drain -c C started at
               once, wall time until the last exits; then ringfetch results
               -o (timed apart). Every run's output is counted: N records.

Wall times are medians over --reps; CPU is user+sys of the ringfetch
processes (not nginx or redis). On a 2-core machine nginx, redis-server and
the workers share the cores: more workers cannot scale there, the figures
say what the queue costs, not what a fleet of machines gives.
Writes a Markdown report to stdout and to --out (default perf/FLEET.md).
"""
import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import worldkit  # noqa: E402  (certificates, nginx, ports shared with the tests)

NGINX_CONF = """\
{head}events {{ worker_connections 8192; }}
http {{
    access_log off;
    keepalive_requests 1000000;
{basics}    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location = /small {{ root {d}/www; }}
        location / {{ return 404; }}
    }}
}}
"""


def resp(port, *args):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        s.sendall(out)
        return s.recv(65536)


def redis_cpu(port):
    """Seconds of CPU redis-server used so far (user + sys)."""
    info = resp(port, "INFO", "cpu").decode(errors="replace")
    vals = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    return float(vals["used_cpu_user"]) + float(vals["used_cpu_sys"])


def start(argv, log):
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_rusage(procs):
    """Waits for every process; (exit codes, user+sys seconds)."""
    codes, cpu = [], 0.0
    for p in procs:
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        codes.append(p.returncode)
        cpu += ru.ru_utime + ru.ru_stime
    return codes, cpu


def count_lines(path):
    with open(path, "rb") as f:
        return sum(1 for _ in f)


class World:
    def __init__(self, d):
        self.d = d
        for sub in ("www", "tmp", "logs"):
            os.makedirs(os.path.join(d, sub))
        with open(os.path.join(d, "www", "small"), "wb") as f:
            f.write(os.urandom(1024))

        def conf(ports):
            return NGINX_CONF.format(head=worldkit.conf_head(d, echo=False), basics=worldkit.http_basics(d),
                                     d=d, port=ports["http"])
        self.nginx = worldkit.Nginx(d, ("http",), conf).start()
        self.http = self.nginx.ports["http"]
        self.log = open(os.path.join(d, "servers.log"), "ab")
        self.redis_port = worldkit.free_port()
        self.redis = start(["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
                            "--appendonly", "no", "--dir", d], self.log)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if resp(self.redis_port, "PING").startswith(b"+PONG"):
                    return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("redis-server did not start (see %s/servers.log)" % d)

    def stop(self):
        self.nginx.stop()
        if self.redis.poll() is None:
            self.redis.send_signal(signal.SIGKILL)
            self.redis.wait()
        self.log.close()


def run_cli(rf, w, urls, conc, d, n):
    out = os.path.join(d, "cli.jsonl")
    t0 = time.monotonic()
    with open(os.path.join(d, "cli.err"), "wb") as log:
        p = start([rf, "fetch", "-c", str(conc), "-i", urls, "-o", out, "-q",
                   "--connect-to", ":80:127.0.0.1:%d" % w.http], log)
        codes, cpu = wait_rusage([p])
    wall = time.monotonic() - t0
    if codes != [0] or count_lines(out) != n:
        raise SystemExit("the CLI run failed (%s): see %s/cli.err" % (codes, d))
    return {"wall": wall, "cpu": cpu}


def run_fleet(rf, w, urls, conc, d, n, k, rep):
    resp(w.redis_port, "FLUSHALL")
    resp(w.redis_port, "CONFIG", "RESETSTAT")
    q = "redis://127.0.0.1:%d/bench%d_%d" % (w.redis_port, k, rep)
    t0 = time.monotonic()
    subprocess.run([rf, "enqueue", "--queue", q, "-i", urls, "-q"], check=True)
    enq = time.monotonic() - t0
    logs = [open(os.path.join(d, "w%d.err" % i), "wb") for i in range(k)]
    rcpu = redis_cpu(w.redis_port)
    t0 = time.monotonic()
    procs = [start([rf, "fetch", "--queue", q, "--worker", "w%d" % i, "--drain", "-c", str(conc),
                    "--connect-to", ":80:127.0.0.1:%d" % w.http], logs[i]) for i in range(k)]
    codes, cpu = wait_rusage(procs)
    wall = time.monotonic() - t0
    rcpu = redis_cpu(w.redis_port) - rcpu
    for f in logs:
        f.close()
    out = os.path.join(d, "results.jsonl")
    t0 = time.monotonic()
    subprocess.run([rf, "results", "--queue", q, "-o", out, "-q"], check=True)
    res = time.monotonic() - t0
    if any(codes) or count_lines(out) != n:
        raise SystemExit("the %d-worker run failed (%s, %d results): see %s/w*.err" % (k, codes, count_lines(out), d))
    stats = resp(w.redis_port, "INFO", "commandstats").decode(errors="replace")
    return {"wall": wall, "cpu": cpu, "redis_cpu": rcpu, "enqueue": enq, "results": res, "commandstats": stats}


def commands_per_url(stats, n):
    calls = {}
    for line in stats.splitlines():
        if line.startswith("cmdstat_"):
            name, rest = line[8:].split(":", 1)
            calls[name] = int(rest.split("calls=")[1].split(",")[0])
    # what the workers sent: not enqueue's XADDs nor results' XRANGEs, nor the
    # XACK and XADD the store script runs inside (commandstats counts them too)
    worker = sum(v for c, v in calls.items() if c not in ("xadd", "xack", "info", "xrange", "xgroup|create"))
    return worker / n, calls


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ringfetch", required=True)
    ap.add_argument("--urls", type=int, default=100000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("-c", type=int, default=100)
    ap.add_argument("--out", default=os.path.join(HERE, "FLEET.md"))
    a = ap.parse_args()
    rf = os.path.abspath(a.ringfetch)
    d = tempfile.mkdtemp(prefix="rf-fleet-perf-")
    urls = os.path.join(d, "urls.txt")
    with open(urls, "w") as f:
        for i in range(a.urls):
            f.write("http://h%d.fleet.test/small?%d\n" % (i % 100, i))
    w = World(d)
    rows = {}
    a.load_before = os.getloadavg()
    try:
        for rep in range(a.reps):
            rows.setdefault("cli", []).append(run_cli(rf, w, urls, a.c, d, a.urls))
            for k in (1, 2, 3):
                rows.setdefault(k, []).append(run_fleet(rf, w, urls, a.c, d, a.urls, k, rep))
            print("rep %d done" % (rep + 1), file=sys.stderr)
    finally:
        w.stop()
        shutil.rmtree(d, ignore_errors=True)
    a.load_after = os.getloadavg()
    report(a, rows)


def report(a, rows):
    med = {k: {f: statistics.median(r[f] for r in v) for f in v[0] if f != "commandstats"} for k, v in rows.items()}
    cli = med["cli"]["wall"]
    git = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout
    btype = "?"
    cache = os.path.join(os.path.dirname(os.path.abspath(a.ringfetch)), "CMakeCache.txt")
    if os.path.exists(cache):
        for line in open(cache):
            if line.startswith("CMAKE_BUILD_TYPE:"):
                btype = line.split("=", 1)[1].strip()
    lines = ["# Fleet: the cost of the queue", "",
             "`python3 perf/fleet.py --urls %d --reps %d -c %d` on %s, %d CPUs, commit %s, %s UTC. "
             "nginx (1 worker, 1 KiB file), redis-server and the clients share the machine."
             % (a.urls, a.reps, a.c, os.uname().nodename, os.cpu_count(), git.strip(),
                time.strftime("%Y-%m-%d %H:%M", time.gmtime())),
             "Binary: a %s build. Load average before %.2f, after %.2f (1 min): the machine is shared." % (
                 btype, a.load_before[0], a.load_after[0]), "",
             "| run | wall s (median) | vs CLI | URLs/s | client CPU s | redis-server CPU s | enqueue s | results s |",
             "|---|---|---|---|---|---|---|---|"]
    for k in ("cli", 1, 2, 3):
        m = med[k]
        name = "plain CLI (`fetch -i -o`)" if k == "cli" else "%d worker%s `--drain`" % (k, "s" if k > 1 else "")
        lines.append("| %s | %.2f | %s | %.0f | %.2f | %s | %s | %s |" % (
            name, m["wall"], "1.00" if k == "cli" else "%.2f" % (m["wall"] / cli), a.urls / m["wall"], m["cpu"],
            "" if k == "cli" else "%.2f" % m["redis_cpu"], "" if k == "cli" else "%.2f" % m["enqueue"],
            "" if k == "cli" else "%.2f" % m["results"]))
    per, calls = commands_per_url(rows[1][-1]["commandstats"], a.urls)
    lines += ["", "Redis commands a worker sent per URL (last 1-worker run, `INFO commandstats`; "
              "enqueue's XADDs, results' XRANGEs and the XACK + XADD inside each EVALSHA not counted): "
              "%.3f. All calls the server counted: %s." % (
                  per, ", ".join("%s %d" % kv for kv in sorted(calls.items()))), "",
              "On 2 cores the workers, nginx and redis-server compete for the same CPUs (the redis-server "
              "column is CPU taken from the same two cores while the workers ran), so 2 and 3 workers "
              "cannot be faster than one here: more processes only add scheduling and Redis work. The "
              "figures show the queue's cost per URL; a fleet's scaling needs machines of its own. The "
              "machine is shared with other work: medians over the repetitions, CLI and workers "
              "alternating.", ""]
    text = "\n".join(lines)
    print(text)
    with open(a.out, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
