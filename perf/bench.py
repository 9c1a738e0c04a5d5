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

This file is the command (options, checks, the run's order, cleanup); the rest
is split by job: world.py (the servers, files and pinning it starts, and one
measured client run), scenarios.py (what each scenario runs and checks),
report.py (RESULTS.md). Certificates, nginx's start/stop and ports come from
tests/integration/worldkit.py, shared with the integration tests.
"""

import argparse
import atexit
import datetime
import os
import shutil
import signal
import sys

from world import (_kill_group, _LIVE, _LIVE_LOCK, BenchError, CLIENT_CPU, CRAWL_CONC, CRAWL_HOSTS, ECHO_MODULE,
                   HERE, log, MANY_CONC, MANY_HOSTS, NGINX, NOFILE_WANT, raise_nofile, REPO, SCALE_CONC,
                   SCALE_HOSTS)
from scenarios import (Bench, scen_key, SCEN_TITLES)
from report import (binary_source, build_report, git_info, loadavg, machine_info, print_table, target_rows,
                    tool_versions)

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



def parse_args(argv):
    """The options, checked: (args, the scenarios to run in order). Exits
    with a message when a tool, a CPU or the open-files limit is missing."""
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

    return args, scens


def main(argv=None):
    global _BENCH
    args, scens = parse_args(argv)

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

