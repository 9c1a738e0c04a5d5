#!/usr/bin/env python3
"""HTTP/2: ringfetch --http2 against h2load on nginx's own HTTP/2, in one run.

    python3 perf/h2.py --ringfetch build-perf/ringfetch [--reps 3]

Two workloads, nginx (one worker) on CPU 1, the client on CPU 0, medians of
--reps repetitions, the clients alternating:
  A. the story's scenario over h2: N = 10,000 requests to a 1 s-latency
     endpoint (echo_sleep 1), all at once: `ringfetch fetch --http2 -c 10000`
     vs `h2load -n 10000 -c 79 -m 128`; wall time, connections (nginx's
     stub_status accepts);
  B. keep-alive h2 on a 1 KiB file: `ringfetch bench --http2 -c 10 --streams
     100` (with its default batched waits, and with --batch 0) vs `h2load -c
     10 -m 100`; client CPU (user + sys of the client process) per request
     counted by nginx.
Prints a Markdown section (perf/RESULTS.md keeps it under "HTTP/2"). Standard
library only; reuses perf/world.py's constants and tests/integration/worldkit.py's
certificates and nginx."""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import world as B  # noqa: E402

N = 10000

CONF = """\
{head}events {{ worker_connections 16000; multi_accept on; }}
http {{
    access_log off;
{basics}    keepalive_requests 1000000;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:h2:20m;
    ssl_certificate {crt};
    ssl_certificate_key {key};
    server {{
        listen 127.0.0.1:{port} ssl http2 backlog=16384;
        location = /small {{ root {d}/www; }}
        location = /sleep {{ default_type text/plain; echo_sleep 1; echo ok; }}
    }}
    server {{
        listen 127.0.0.1:{status};
        location = /nginx_status {{ stub_status; }}
    }}
}}
"""


def counted(status, argv, stdin=None):
    return B.counted_run(argv, status, stdin, ok=(0, 1))


def scenario_a(rf, ca, port, status):
    url = "https://127.0.0.1:%d/sleep" % port
    urls = "".join(url + "?i=%d\n" % i for i in range(N)).encode()
    runs = {
        "ringfetch": lambda: counted(status, [rf, "fetch", "--http2", "-c", str(N), "--cacert", ca, "-q",
                                              "-i", "-", "-o", "/dev/null"], urls),
        "h2load": lambda: counted(status, ["h2load", "-n", str(N), "-c", "79", "-m", "128", "-t", "1", url]),
    }
    return runs


def scenario_b(rf, ca, port, status, dur):
    url = "https://127.0.0.1:%d/small" % port
    return {
        "ringfetch": lambda: counted(status, [rf, "bench", "--http2", "-c", "10", "--streams", "100", "-d",
                                              "%ds" % dur, "--cacert", ca, url]),
        # the same without batched waits (its default with streams: completions gather for 50 us)
        "ringfetch --batch 0": lambda: counted(status, [rf, "bench", "--http2", "-c", "10", "--streams", "100",
                                                        "-d", "%ds" % dur, "--batch", "0", "--cacert", ca, url]),
        # h2load is count-based: about what ringfetch does in the same time
        "h2load": lambda: counted(status, ["h2load", "-n", str(75000 * dur), "-c", "10", "-m", "100", "-t", "1",
                                           url]),
    }


def run_all(runs, reps):
    res = {k: [] for k in runs}
    for rep in range(reps):
        order = list(runs) if rep % 2 == 0 else list(reversed(list(runs)))
        for k in order:
            res[k].append(runs[k]())
            time.sleep(1)
    return res


def med(xs, key):
    return statistics.median(x[key] for x in xs)


def report(a, b, reps):
    print("## HTTP/2 (perf/h2.py, medians of %d)\n" % reps)
    print("| workload | client | wall s | connections (nginx) | requests (nginx) | client CPU µs/request |")
    print("|---|---|---|---|---|---|")
    for name, r in (("A: N=10,000 at 1 s latency", a), ("B: 1 KiB keep-alive, -c 10 -m 100", b)):
        for k, xs in r.items():
            print("| %s | %s | %.2f | %d | %d | %.2f |" % (
                name, k, med(xs, "wall"), med(xs, "conns"), med(xs, "reqs"),
                statistics.median(1e6 * x["cpu"] / max(x["reqs"], 1) for x in xs)))
    rb, hb = b["ringfetch"], b["h2load"]
    ratio = statistics.median(1e6 * x["cpu"] / x["reqs"] for x in rb) / \
        statistics.median(1e6 * x["cpu"] / x["reqs"] for x in hb)
    unbatched = statistics.median(1e6 * x["cpu"] / x["reqs"] for x in b["ringfetch --batch 0"]) / \
        statistics.median(1e6 * x["cpu"] / x["reqs"] for x in hb)
    print("\nB: ringfetch's client CPU per request is %.2f× h2load's (target ≤ 0.8×); %.2f× with "
          "--batch 0 (every completion handled at once)." % (ratio, unbatched))
    print("A: ringfetch %.2f s on %d connections (target ≤ 1.5 s on ≤ 100); h2load %.2f s on %d." % (
        med(a["ringfetch"], "wall"), med(a["ringfetch"], "conns"), med(a["h2load"], "wall"),
        med(a["h2load"], "conns")))
    for k, xs in a.items():
        print("- A %s walls: %s" % (k, ", ".join("%.2f" % x["wall"] for x in xs)))
    for k, xs in b.items():
        print("- B %s µs/request: %s" % (k, ", ".join("%.2f" % (1e6 * x["cpu"] / x["reqs"]) for x in xs)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ringfetch", required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=int, default=3)
    args = ap.parse_args()
    with B.small_nginx("rf-h2-perf-", CONF, ("port", "status"), check=("port", True)) as (ng, ca):
        port, status = ng.ports["port"], ng.ports["status"]
        rf = os.path.abspath(args.ringfetch)
        a = run_all(scenario_a(rf, ca, port, status), args.reps)
        b = run_all(scenario_b(rf, ca, port, status, args.duration), args.reps)
        report(a, b, args.reps)

if __name__ == "__main__":
    main()
