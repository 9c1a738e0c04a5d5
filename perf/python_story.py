#!/usr/bin/env python3
"""The story's scenario from Python: N HTTPS GETs, all at once, to a server
that takes 1 s to answer (nginx echo_sleep 1 on 127.0.0.1, pinned to CPU 1,
the same world perf/bench.py builds for its scenario 4), for N = 10, 100,
1,000, 10,000, with

  ringfetch.map        the Python package (tools/python), concurrency=N
  aiohttp              asyncio.gather over one ClientSession, limit=N
  httpx                httpx.AsyncClient, asyncio.gather, max_connections=N
  gevent+requests      what grequests does: monkey.patch_all, a Pool of N
  ringfetch CLI        ringfetch fetch -c N -i urls.txt

in the same run, each client in a fresh process pinned to CPU 0, verifying
the server's certificate against the bench CA. Reported: wall time of the
fetch (inside the process for the Python clients, from exec to exit for the
CLI), the requests that got a 200, and the process's peak RSS (wait4).
Targets (issue 11): ringfetch.map within 1.3x the CLI's wall time at
N=10,000, and at least 4x faster than aiohttp.

  python3 perf/python_story.py [--python build/python-venv/bin/python]
      [--ringfetch build/ringfetch] [--ns 10,100,1000,10000] [--write]

--python: an interpreter where `import ringfetch` works (the ctest test
python_package makes build/python-venv) and, to compare, Debian's
python3-aiohttp, python3-httpx, python3-gevent, python3-requests (a missing
one is reported as not installed, not timed). --write puts the table in
perf/RESULTS.md under "Python package (issue 11)" and a dated copy in
perf/results/. Run as root (open-files limit 20,000, nginx as nobody).
"""

import argparse
import selectors
import datetime
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import world  # noqa: E402  (the bench's world: certificates, nginx, limits)

TARGET_CLI = 1.3
TARGET_AIOHTTP = 4.0

# Each client reads URLs (one a line) from argv[1] and the CA from argv[2],
# prints "<wall seconds> <count of 200s>".
CLIENTS = {
    "ringfetch.map": r"""
import sys, time, ringfetch
urls = open(sys.argv[1]).read().split()
t0 = time.monotonic()
rs = ringfetch.map(urls, concurrency=len(urls), verify=sys.argv[2], timeout=120)
print(time.monotonic() - t0, sum(r.status == 200 for r in rs))
""",
    "aiohttp": r"""
import sys, time, ssl, asyncio, aiohttp
urls = open(sys.argv[1]).read().split()
ctx = ssl.create_default_context(cafile=sys.argv[2])
async def one(s, u):
    try:
        async with s.get(u) as r:
            await r.read()
            return r.status
    except Exception:
        return 0
async def main():
    conn = aiohttp.TCPConnector(limit=len(urls), ssl=ctx)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=300)) as s:
        return await asyncio.gather(*(one(s, u) for u in urls))
t0 = time.monotonic()
st = asyncio.run(main())
print(time.monotonic() - t0, sum(x == 200 for x in st))
""",
    "httpx": r"""
import sys, time, asyncio, httpx
urls = open(sys.argv[1]).read().split()
async def one(c, u):
    try:
        return (await c.get(u)).status_code
    except Exception:
        return 0
async def main():
    lim = httpx.Limits(max_connections=len(urls), max_keepalive_connections=len(urls))
    async with httpx.AsyncClient(verify=sys.argv[2], limits=lim, timeout=300) as c:
        return await asyncio.gather(*(one(c, u) for u in urls))
t0 = time.monotonic()
st = asyncio.run(main())
print(time.monotonic() - t0, sum(x == 200 for x in st))
""",
    "gevent+requests": r"""
from gevent import monkey; monkey.patch_all()
import sys, time, gevent.pool, requests
urls = open(sys.argv[1]).read().split()
s = requests.Session()
a = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=len(urls))
s.mount("https://", a)
def one(u):
    try:
        return s.get(u, verify=sys.argv[2], timeout=300).status_code
    except Exception:
        return 0
t0 = time.monotonic()
st = gevent.pool.Pool(len(urls)).map(one, urls)
print(time.monotonic() - t0, sum(x == 200 for x in st))
""",
}
IMPORTS = {"ringfetch.map": "ringfetch", "aiohttp": "aiohttp", "httpx": "httpx",
           "gevent+requests": "gevent, requests"}


def peak_rss_kib(argv, timeout):
    """Runs argv pinned to the client CPU and reaps it with wait4 (its peak
    RSS). Returns (rc, stdout, stderr, wall from exec to exit, peak RSS KiB)."""
    t0 = time.monotonic()
    r, w = os.pipe()
    re_, we = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.dup2(w, 1)
        os.dup2(we, 2)
        os.close(r)
        os.close(re_)
        os.execvp("taskset", ["taskset", "-c", world.CLIENT_CPU] + argv)
    os.close(w)
    os.close(we)
    with os.fdopen(r) as fo, os.fdopen(re_) as fe:
        deadline = time.monotonic() + timeout
        sel = selectors.DefaultSelector()
        sel.register(fo, selectors.EVENT_READ)
        sel.register(fe, selectors.EVENT_READ)
        outs = {fo: [], fe: []}
        open_ = 2
        while open_ and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=1):
                chunk = os.read(key.fileobj.fileno(), 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    open_ -= 1
                else:
                    outs[key.fileobj].append(chunk.decode("utf-8", "replace"))
        if open_:
            os.kill(pid, 9)
        _, status, ru = os.wait4(pid, 0)
    wall = time.monotonic() - t0
    rc = os.waitstatus_to_exitcode(status)
    return rc, "".join(outs[fo]), "".join(outs[fe]), wall, ru.ru_maxrss


def available(python, module):
    return subprocess.run([python, "-c", "import " + module], capture_output=True).returncode == 0


def run_python_client(python, name, urls_file, ca, n):
    rc, out, err, wall, rss = peak_rss_kib([python, "-c", CLIENTS[name], urls_file, ca],
                                           timeout=120 + n // 50)
    m = re.match(r"\s*([0-9.]+)\s+(\d+)", out)
    if rc != 0 or not m:
        return {"error": "rc %d: %s" % (rc, err.strip()[-300:]), "wall": wall, "rss": rss}
    return {"wall": float(m.group(1)), "ok": int(m.group(2)), "proc_wall": wall, "rss": rss}


def run_cli(rf, urls_file, ca, n, work):
    out = os.path.join(work, "cli-%d.jsonl" % n)
    rc, _, err, wall, rss = peak_rss_kib([rf, "fetch", "-c", str(n), "--cacert", ca, "-i",
                                          urls_file, "-o", out], timeout=120 + n // 50)
    ok = 0
    if os.path.exists(out):
        with open(out) as f:
            ok = sum('"status":200' in line for line in f)
        os.unlink(out)
    if rc not in (0, 1):
        return {"error": "rc %d: %s" % (rc, err.strip()[-300:]), "wall": wall, "rss": rss}
    return {"wall": wall, "ok": ok, "proc_wall": wall, "rss": rss}


def start_world(tmp):
    for sub in ("logs", "tmp", "www", "certs"):
        os.makedirs(os.path.join(tmp, sub))
    os.chmod(tmp, 0o755)
    os.chmod(os.path.join(tmp, "www"), 0o755)
    os.chmod(os.path.join(tmp, "logs"), 0o755)
    ca, crt, key = world.make_certs(os.path.join(tmp, "certs"))
    ng = world.Nginx(tmp, crt, key, os.path.join(tmp, "www"), 20000)
    ng.start()
    return ca, ng


def measure(args, tmp):
    ca, ng = start_world(tmp)
    names = [c for c in CLIENTS if available(args.python, IMPORTS[c])]
    missing = [c for c in CLIENTS if c not in names]
    if "ringfetch.map" not in names:
        raise SystemExit("%s cannot import ringfetch (run ctest -R python_package first)"
                         % args.python)
    res = {}
    try:
        for n in args.ns:
            urls_file = os.path.join(tmp, "urls-%d.txt" % n)
            with open(urls_file, "w") as f:
                for i in range(n):
                    f.write("https://127.0.0.1:%d/sleep?n=%d&i=%d\n" % (ng.ports["https"], n, i))
            for name in names + ["ringfetch CLI"]:
                ng.settle()
                if name == "ringfetch CLI":
                    r = run_cli(args.ringfetch, urls_file, ca, n, tmp)
                else:
                    r = run_python_client(args.python, name, urls_file, ca, n)
                res[(name, n)] = r
                print("N=%-6d %-16s %s" % (n, name, fmt_cell(r)), flush=True)
    finally:
        ng.stop()
    return names + ["ringfetch CLI"], missing, res


def fmt_cell(r):
    if r is None:
        return "—"
    if "error" in r:
        return "failed (%s)" % r["error"][:80]
    return "%.2f s, %d ok, %d MiB" % (r["wall"], r["ok"], (r["rss"] or 0) // 1024)


def report(args, names, missing, res):
    lines = ["| N | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for n in args.ns:
        lines.append("| %s | " % format(n, ",") + " | ".join(fmt_cell(res.get((c, n)))
                                                           for c in names) + " |")
    lines.append("")
    big = max(args.ns)
    rm, cli, aio = (res.get((c, big)) for c in ("ringfetch.map", "ringfetch CLI", "aiohttp"))
    if rm and cli and "error" not in rm and "error" not in cli:
        x = rm["wall"] / cli["wall"]
        lines.append("- N=%s: ringfetch.map %.2f s = %.2f× the CLI's %.2f s (target ≤ %.1f×): %s"
                     % (format(big, ","), rm["wall"], x, cli["wall"], TARGET_CLI,
                        "PASS" if x <= TARGET_CLI else "MISS"))
    if rm and aio and "error" not in rm and "error" not in aio:
        x = aio["wall"] / rm["wall"]
        lines.append("- N=%s: ringfetch.map is %.1f× faster than aiohttp (target ≥ %.0f×): %s"
                     % (format(big, ","), x, TARGET_AIOHTTP, "PASS" if x >= TARGET_AIOHTTP
                        else "MISS"))
    if missing:
        lines.append("- not installed, not timed: " + ", ".join(missing))
    return "\n".join(lines)


def versions(python):
    code = ("import importlib\nfor m in ('aiohttp','httpx','gevent','requests'):\n"
            "    try: print(m, importlib.import_module(m).__version__)\n"
            "    except Exception: print(m, '-')\n")
    out = subprocess.run([python, "-c", code], capture_output=True, text=True).stdout
    return ", ".join(out.split("\n")[:-1]) + ", Python " + subprocess.run(
        [python, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True,
        text=True).stdout.strip()


SECTION = "## Python package (issue 11)"


def write_results(text):
    path = os.path.join(HERE, "RESULTS.md")
    old = open(path).read() if os.path.exists(path) else ""
    if SECTION in old:
        head = old[:old.index(SECTION)]
        rest = old[old.index(SECTION) + len(SECTION):]
        nxt = rest.find("\n## ")
        old = head + (rest[nxt + 1:] if nxt >= 0 else "")
    with open(path, "w") as f:
        f.write(old.rstrip("\n") + "\n\n" + text + "\n")
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    stamp = datetime.datetime.utcnow().strftime("%Y-%m-%d-%H%M")
    with open(os.path.join(HERE, "results", "%s-python.md" % stamp), "w") as f:
        f.write(text + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", default=os.path.join(world.REPO, "build", "python-venv", "bin",
                                                     "python"))
    ap.add_argument("--ringfetch", default=os.path.join(world.REPO, "build", "ringfetch"))
    ap.add_argument("--ns", default="10,100,1000,10000")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    args.ns = [int(x) for x in args.ns.split(",")]
    world.raise_nofile(20000)
    load0 = os.getloadavg()
    t0 = datetime.datetime.utcnow()
    tmp = tempfile.mkdtemp(prefix="ringfetch-pystory-")
    try:
        names, missing, res = measure(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    table = report(args, names, missing, res)
    text = "\n".join([
        SECTION, "",
        "Run %s UTC by `python3 perf/python_story.py --write` (one repetition; %d cores, "
        "load average %.1f before, %.1f after: the machine was shared with other work). "
        "N HTTPS GETs to nginx's 1 s `echo_sleep` endpoint, all at once (concurrency = N), "
        "each client a fresh process on CPU 0, nginx on CPU 1; certificate verified. "
        "Cells: wall time of the fetch, 200s received, peak RSS. %s." % (
            t0.strftime("%Y-%m-%d %H:%M"), os.cpu_count(), load0[0], os.getloadavg()[0],
            versions(args.python)),
        "", table])
    print(text)
    if args.write:
        write_results(text)


if __name__ == "__main__":
    main()
