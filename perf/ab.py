#!/usr/bin/env python3
"""Paired A/B runs: small CPU differences between clients (two ringfetch
builds, ringfetch and wrk or h2load) on one nginx, measured the only way this
shared machine allows — side by side, many times.

    python3 perf/ab.py --reps 10 --target http \\
        'main=/tmp/a/ringfetch bench -c 100 -d 3s' \\
        'new=/tmp/b/ringfetch bench -c 100 -d 3s' \\
        'wrk=wrk -c 100 -t 1 -d 3s'

Each NAME=COMMAND gets the target's URL appended (and --cacert CA for a
ringfetch command on https/h2) and runs pinned to CPU 0 against nginx (one
worker, CPU 1, 1 KiB file; --target http, https or h2). The commands take
turns, repetition after repetition, so each run has a neighbour of every
other command within seconds. Printed per run and as medians: requests/s and
client CPU per request, split into user and sys (getrusage of the child;
requests as nginx counted them, stub_status), and for each command against
the first one the median of the *paired* ratios (run i against run i) with
how many pairs came out below 1. On this machine the level moves by ±30%
within an hour; a difference of a few percent shows only in the paired
ratios (perf/NOTES.md, 2026-12-02). Standard library only; nginx and the
certificates come from world.small_nginx (tests/integration/worldkit.py), as for perf/h2.py."""
import argparse
import os
import shlex
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import world as B  # noqa: E402

CONF = """\
{head}events {{ worker_connections 16000; multi_accept on; }}
http {{
    access_log off;
{basics}    keepalive_requests 100000000;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:ab:20m;
    ssl_certificate {crt};
    ssl_certificate_key {key};
    server {{ listen 127.0.0.1:{http} backlog=16384; location = /small {{ root {d}/www; }} }}
    server {{ listen 127.0.0.1:{https} ssl backlog=16384; location = /small {{ root {d}/www; }} }}
    server {{ listen 127.0.0.1:{h2} ssl http2 backlog=16384; location = /small {{ root {d}/www; }} }}
    server {{ listen 127.0.0.1:{status}; location = /nginx_status {{ stub_status; }} }}
}}
"""


def command(spec, url, ca):
    name, _, cmd = spec.partition("=")
    if not cmd:
        raise SystemExit("want NAME=COMMAND, got %r" % spec)
    argv = shlex.split(cmd)
    if any(os.path.basename(a) == "ringfetch" for a in argv) and url.startswith("https"):
        argv += ["--cacert", ca]
    return name, argv + [url]


def seconds_of(argv):
    """The run's length from -d/-D (wrk, ringfetch: 3s; h2load: 3), for requests/s."""
    for i, a in enumerate(argv[:-1]):
        if a in ("-d", "-D", "--duration"):
            v = argv[i + 1]
            return float(v[:-1]) if v.endswith("s") else float(v)
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--target", choices=("http", "https", "h2"), default="http")
    ap.add_argument("commands", nargs="+", help="NAME=COMMAND (the URL is appended)")
    args = ap.parse_args()
    with B.small_nginx("rf-ab-", CONF, ("http", "https", "h2", "status")) as (ng, ca):
        scheme = "http" if args.target == "http" else "https"
        url = "%s://127.0.0.1:%d/small" % (scheme, ng.ports[args.target])
        cmds = [command(c, url, ca) for c in args.commands]
        res = {n: [] for n, _ in cmds}
        for rep in range(args.reps):
            for name, argv in cmds:
                run = B.counted_run(argv, ng.ports["status"], ok=(0,))
                secs = seconds_of(argv)
                reqs = run["reqs"]
                row = {"rps": reqs / secs if secs else 0.0, "user": 1e6 * run["user"] / reqs,
                       "sys": 1e6 * run["sys"] / reqs}
                row["cpu"] = row["user"] + row["sys"]
                res[name].append(row)
                print("%-10s rep %2d  req/s %8.0f  user %6.2f  sys %6.2f  CPU %6.2f µs/request" % (
                    name, rep + 1, row["rps"], row["user"], row["sys"], row["cpu"]), flush=True)
    print("\n| client | req/s | user µs/req | sys µs/req | CPU µs/req | CPU vs %s: paired ratio "
          "(pairs below 1) |" % cmds[0][0])
    print("|---|---|---|---|---|---|")
    first = res[cmds[0][0]]
    for name, _ in cmds:
        xs = res[name]
        pairs = [x["cpu"] / f["cpu"] for x, f in zip(xs, first)]
        print("| %s | %.0f | %.2f | %.2f | %.2f | %.3f (%d of %d) |" % (
            name, *(statistics.median(x[k] for x in xs) for k in ("rps", "user", "sys", "cpu")),
            statistics.median(pairs), sum(p < 1 for p in pairs), len(pairs)))

if __name__ == "__main__":
    main()
