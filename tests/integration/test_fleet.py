"""A fleet of ringfetch workers on a Redis Streams frontier (`ringfetch
enqueue`, `ringfetch fetch --queue ... --worker ID`, `ringfetch results`),
against a real redis-server started here on a free loopback port and the
harness's nginx.

What a user would notice, checked from the outside: every input line comes
out of the results stream exactly once with the right status or error kind,
whatever happens to the workers (kill -9, SIGSTOP past --claim-idle) or to
the server (redis-server killed and started again); every worker that lived
did some of the work; and --host-rate holds for the whole fleet, by the
origin's own access log.
"""
import collections
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

REDIS = harness.require_program("redis-server", "redis-server")

GOOD_HOSTS = 500


class Redis:
    """A redis-server of our own: loopback, a free port, in a temporary
    folder; AOF with fsync always when the test restarts it (so a kill -9
    loses nothing it acknowledged), else no persistence at all."""

    def __init__(self, durable=False):
        self.dir = tempfile.mkdtemp(prefix="rf-redis-")
        self.port = harness.free_port()
        self.durable = durable
        self.proc = None
        self.start()

    def start(self):
        args = [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--dir", self.dir, "--daemonize", "no", "--protected-mode", "no"]
        args += ["--appendonly", "yes", "--appendfsync", "always"] if self.durable else ["--appendonly", "no"]
        self.log = open(os.path.join(self.dir, "redis.log"), "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     preexec_fn=harness._die_with_parent(signal.SIGKILL))
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if self.cmd("PING") == "PONG":
                    return
            except (OSError, RuntimeError):  # not listening yet, or LOADING its data
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start on port %d" % self.port)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.log:
            self.log.close()
            self.log = None

    def remove(self):
        self.kill()
        if not os.environ.get("RF_INTEG_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def cmd(self, *args):
        """One command on a fresh connection (RESP2), the reply decoded."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            out = b"*%d\r\n" % len(args)
            for a in args:
                a = a if isinstance(a, bytes) else str(a).encode()
                out += b"$%d\r\n%s\r\n" % (len(a), a)
            s.sendall(out)
            return _read_reply(s.makefile("rb"))

    def url(self, name):
        return "redis://127.0.0.1:%d/%s" % (self.port, name)


def _read_reply(f):
    line = f.readline()
    if not line:
        raise OSError("connection closed")
    t, rest = line[:1], line[1:-2]
    if t == b"+":
        return rest.decode()
    if t == b"-":
        raise RuntimeError(rest.decode())
    if t == b":":
        return int(rest)
    if t == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode("utf-8", "replace")
    if t == b"*":
        n = int(rest)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise OSError("bad reply %r" % line)


def count_lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


def setUpModule():
    harness.start()


class FleetTest(unittest.TestCase):

    def setUp(self):
        self.env = harness.env()
        self.tmp = tempfile.mkdtemp(prefix="rf-fleet-")
        self.refused = harness.refused_port()
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for p in self.procs:
            p.stderr_file.close()
        if not os.environ.get("RF_INTEG_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- the input and what each line must give ------------------------------------------
    def make_input(self, n, hosts=GOOD_HOSTS):
        """n lines over `hosts` names: 7 in 10 fetch /small (200), 1 a 404,
        1 a refused connect, 1 not a URL; every 997th is empty. Returns the
        path and {line: expectation}."""
        lines, expect = [], {}
        for i in range(1, n + 1):
            h = "h%d.crawl.test" % (i % hosts)
            k = i % 10
            if i % 997 == 0:
                lines.append("")
                expect[i] = ("bad_url", None)
            elif k == 0:
                lines.append("not a url %d" % i)
                expect[i] = ("bad_url", None)
            elif k == 1:
                lines.append("http://%s:81/x%d" % (h, i))
                expect[i] = ("connect_refused", None)
            elif k == 2:
                lines.append("http://%s/nope%d" % (h, i))
                expect[i] = (None, 404)
            else:
                lines.append("http://%s/small?%d" % (h, i))
                expect[i] = (None, 200)
        path = os.path.join(self.tmp, "in.txt")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path, expect

    def enqueue(self, r, name, path):
        res = harness.run(["enqueue", "--queue", r.url(name), "-i", path], parse=False, timeout=120)
        self.assertEqual(res.code, 0, res.describe())
        return res

    def worker(self, r, name, wid, *extra, claim="1s", drain=True):
        errf = open(os.path.join(self.tmp, "%s.err" % wid), "w+b")
        args = [harness.ringfetch_path(), "fetch", "--queue", r.url(name), "--worker", wid] + \
            (["--drain"] if drain else []) + [
                "--claim-idle", claim, "--connect-to", ":80:127.0.0.1:%d" % self.env.ports["http"],
                "--connect-to", ":81:127.0.0.1:%d" % self.refused] + list(extra)
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=errf, env=harness.child_env(),
                             preexec_fn=harness._die_with_parent(signal.SIGKILL))
        p.stderr_file = errf
        p.wid = wid
        self.procs.append(p)
        return p

    def stderr_of(self, p):
        p.stderr_file.seek(0)
        return p.stderr_file.read().decode("utf-8", "replace")

    def wait_results(self, r, name, at_least, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if r.cmd("XLEN", name + ":results") >= at_least:
                return
            time.sleep(0.02)
        self.fail("the results stream never reached %d entries" % at_least)

    def wait_workers(self, procs, timeout=90):
        for p in procs:
            try:
                code = p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.fail("worker %s did not drain in %d s:\n%s" % (p.wid, timeout, self.stderr_of(p)))
            self.assertEqual(code, 0, "worker %s:\n%s" % (p.wid, self.stderr_of(p)))

    def fleet(self, r, name, n, hosts, started, *extra):
        """n lines over `hosts` names enqueued, three workers at -c 10; back
        once `started` results are in: the workers and the expectations."""
        path, expect = self.make_input(n, hosts=hosts)
        self.enqueue(r, name, path)
        ws = [self.worker(r, name, "w%d" % i, "-c", "10", *extra) for i in (1, 2, 3)]
        self.wait_results(r, name, started)
        return ws, expect

    def stop_holding(self, r, name, workers):
        """SIGSTOPs one of workers ({consumer name: process}) at an instant it
        holds entries of the queue, and returns its name. Between two lots a
        worker may hold none for a moment, so it is stopped first (what it
        holds cannot change while it is stopped), looked at, and let go on
        when it held nothing then; the next try takes whichever holds most."""
        deadline = time.time() + 10
        while True:
            summary = r.cmd("XPENDING", name, "ringfetch")
            held = {c[0] if isinstance(c[0], str) else c[0].decode(): int(c[1]) for c in (summary[3] or [])}
            alive = [c for c in workers if workers[c].poll() is None]
            self.assertTrue(alive, "every worker ended before one could be stopped")
            consumer = max(alive, key=lambda c: held.get(c, 0))
            proc = workers[consumer]
            proc.send_signal(signal.SIGSTOP)
            time.sleep(0.05)  # a signal is delivered asynchronously
            if r.cmd("XPENDING", name, "ringfetch", "-", "+", "100000", consumer):
                return consumer
            self.assertLess(time.time(), deadline, "no worker was ever seen holding an entry")
            proc.send_signal(signal.SIGCONT)
            time.sleep(0.003)

    def results(self, r, name):
        out = os.path.join(self.tmp, "results.jsonl")
        res = harness.run(["results", "--queue", r.url(name), "-o", out], parse=False, timeout=120)
        self.assertEqual(res.code, 0, res.describe())
        return harness.read_jsonl(out)

    def check_exactly_once(self, recs, expect):
        """Each input line once, with its status or error kind."""
        lines = collections.Counter(rec["line"] for rec in recs)
        dup = [ln for ln, c in lines.items() if c > 1]
        self.assertEqual(dup, [], "lines with more than one result")
        self.assertEqual(set(lines), set(expect), "lines without a result: %s"
                         % sorted(set(expect) - set(lines))[:20])
        for rec in recs:
            err, status = expect[rec["line"]]
            if err:
                self.assertEqual(rec["error"], err, rec)
            else:
                self.assertIsNone(rec["error"], rec)
                self.assertEqual(rec["status"], status, rec)
                if status == 200:
                    self.assertEqual(rec["body_sha256"], self.env.small_sha)
        return collections.Counter(rec["worker"] for rec in recs)

    def access_log(self, host):
        """(end time, duration) of each request nginx logged for host."""
        time.sleep(1.5)  # the access log is flushed every second
        out = []
        with open(os.path.join(self.env.dir, "logs", "access.log")) as f:
            for line in f:
                parts = line.split()
                if len(parts) > 3 and parts[-2] == host:
                    out.append((float(parts[-3]), float(parts[-1])))
        return out

    # ---- the tests -----------------------------------------------------------------------
    def test_kill9_worker_mid_run(self):
        """30,000 lines over 500 names, three workers; one is killed -9 mid-run
        and a fourth starts: each line exactly once, every live worker worked."""
        r = Redis()
        try:
            n = 30000
            path, expect = self.make_input(n)
            res = self.enqueue(r, "q", path)
            self.assertIn("queued %d lines" % n, res.stderr)
            ws = [self.worker(r, "q", "w%d" % i, "-c", "20") for i in (1, 2, 3)]
            self.wait_results(r, "q", n // 5)
            ws[0].send_signal(signal.SIGKILL)
            ws[0].wait()
            w4 = self.worker(r, "q", "w4", "-c", "20")
            self.wait_workers(ws[1:] + [w4])
            recs = self.results(r, "q")
            by_worker = self.check_exactly_once(recs, expect)
            for wid in ("w2", "w3", "w4"):
                self.assertGreater(by_worker[wid], 0, "worker %s did no work: %s" % (wid, dict(by_worker)))
            self.assertEqual(r.cmd("XPENDING", "q", "ringfetch")[0], 0)
            stats = r.cmd("INFO", "commandstats")
            sys.stderr.write("fleet: results by worker %s; redis commandstats for %d lines:\n%s\n"
                             % (dict(by_worker), n, "\n".join(
                                 ln for ln in stats.splitlines() if ln.startswith("cmdstat_"))))
        finally:
            r.remove()

    def test_sigstop_past_claim_idle(self):
        """A worker stopped past --claim-idle has its entries taken over; once
        resumed, its late results are dropped, not duplicated."""
        r = Redis()
        try:
            ws, expect = self.fleet(r, "s", 4000, 50, 400)
            by_name = {"w%d" % (i + 1): p for i, p in enumerate(ws)}
            stopped = by_name[self.stop_holding(r, "s", by_name)]
            time.sleep(2.5)  # past --claim-idle 1s: the others take over what it held
            os.kill(stopped.pid, signal.SIGCONT)
            self.wait_workers(ws)
            recs = self.results(r, "s")
            self.check_exactly_once(recs, expect)
            err = self.stderr_of(stopped)
            self.assertRegex(err, r"[1-9][0-9]* duplicates dropped", err)
        finally:
            r.remove()

    def test_redis_restart_mid_run(self):
        """redis-server killed and started again mid-run: the workers report
        it, reconnect with back-off, and nothing is lost or duplicated."""
        r = Redis(durable=True)
        try:
            ws, expect = self.fleet(r, "r", 6000, 100, 1000)
            r.kill()
            time.sleep(1.0)
            r.start()
            self.wait_workers(ws)
            recs = self.results(r, "r")
            self.check_exactly_once(recs, expect)
            for p in ws:
                err = self.stderr_of(p)
                self.assertRegex(err, r"redis 127\.0\.0\.1:\d+: (closed|reset|connect_refused)", err)
                self.assertIn("connected again", err)
        finally:
            r.remove()

    def test_host_rate_fleet_wide(self):
        """Three workers with --host-rate HOST=20 on one origin: the origin's
        access log shows at most 20 requests in any second, in total."""
        r = Redis()
        try:
            n = 120
            urls = ["http://rate.crawl.test/small?%d" % i for i in range(n)]
            path = os.path.join(self.tmp, "rate.txt")
            with open(path, "w") as f:
                f.write("\n".join(urls) + "\n")
            self.enqueue(r, "h", path)
            t0 = time.time()
            ws = [self.worker(r, "h", "w%d" % i, "-c", "10", "--host-rate", "rate.crawl.test=20", claim="30s")
                  for i in (1, 2, 3)]
            self.wait_workers(ws)
            took = time.time() - t0
            recs = self.results(r, "h")
            self.assertEqual(len(recs), n)
            by_worker = collections.Counter(rec["worker"] for rec in recs)
            stamps = [end for end, _ in self.access_log("rate.crawl.test")]
            self.assertEqual(len(stamps), n)
            per_second = collections.Counter(int(t) for t in stamps)
            stamps.sort()
            window = max(sum(1 for u in stamps if t <= u < t + 1.0) for t in stamps)
            span21 = min(stamps[k + 20] - stamps[k] for k in range(len(stamps) - 20))
            sys.stderr.write("fleet: host rate 20/s: %d requests in %.1f s, busiest calendar second %d, "
                             "busiest 1 s window %d, shortest span of 21 requests %.3f s; by worker %s\n"
                             % (n, took, max(per_second.values()), window, span21, dict(by_worker)))
            self.assertGreaterEqual(len(by_worker), 2, "the work was not shared: %s" % dict(by_worker))
            self.assertLessEqual(max(per_second.values()), 20)
            self.assertLessEqual(window, 20)
            self.assertGreater(took, (n - 20) / 20.0 - 0.5, "faster than 20/s overall")
        finally:
            r.remove()

    def test_waiting_worker_and_sigterm(self):
        """A worker without --drain waits for work and takes lines enqueued
        later; SIGTERM mid-run: it stores what it finished and exits 143, and
        another worker takes over the rest: each line still exactly once.
        `results --follow` prints them as they come; a worker's -o keeps
        its own records."""
        r = Redis()
        try:
            follow_out = os.path.join(self.tmp, "follow.jsonl")
            follow = subprocess.Popen([harness.ringfetch_path(), "results", "--queue", r.url("t"), "--follow",
                                       "-o", follow_out], stderr=subprocess.DEVNULL,
                                      preexec_fn=harness._die_with_parent(signal.SIGKILL))
            self.procs.append(follow)
            follow.stderr_file = open(os.devnull, "rb")
            w1 = self.worker(r, "t", "w1", "-c", "10", drain=False)
            time.sleep(0.5)
            self.assertIsNone(w1.poll(), self.stderr_of(w1))
            n = 3000
            path, expect = self.make_input(n, hosts=20)
            self.enqueue(r, "t", path)
            self.wait_results(r, "t", n // 5)
            w1.send_signal(signal.SIGTERM)
            self.assertEqual(w1.wait(timeout=30), 143, self.stderr_of(w1))
            self.assertIn("SIGTERM: stopping", self.stderr_of(w1))
            own = os.path.join(self.tmp, "w2.jsonl")
            w2 = self.worker(r, "t", "w2", "-c", "10", "-o", own)
            self.wait_workers([w2])
            recs = self.results(r, "t")
            by_worker = self.check_exactly_once(recs, expect)
            self.assertGreater(by_worker["w1"], 0)
            self.assertGreater(by_worker["w2"], 0)
            self.assertEqual(sorted(rec["line"] for rec in harness.read_jsonl(own)),
                             sorted(rec["line"] for rec in recs if rec["worker"] == "w2"))
            deadline = time.time() + 10
            while time.time() < deadline and count_lines(follow_out) < n:
                time.sleep(0.05)
            self.assertIsNone(follow.poll(), "results --follow ended by itself")
            self.assertEqual(harness.read_jsonl(follow_out), recs, "--follow printed another stream")
        finally:
            r.remove()

    def test_restart_with_same_id(self):
        """A worker killed -9 and started again under its name takes back what
        it left pending at once (its own history), long before --claim-idle."""
        r = Redis()
        try:
            n = 3000
            path, expect = self.make_input(n, hosts=20)
            self.enqueue(r, "i", path)
            w1 = self.worker(r, "i", "w1", "-c", "4", claim="60s")
            self.wait_results(r, "i", n // 10)
            self.stop_holding(r, "i", {"w1": w1})  # kill it while it holds entries
            w1.send_signal(signal.SIGKILL)
            w1.wait()
            left = r.cmd("XPENDING", "i", "ringfetch")[0]
            self.assertGreater(left, 0, "nothing was pending on the killed worker")
            t0 = time.time()
            again = self.worker(r, "i", "w1", "-c", "10", claim="60s")
            self.wait_workers([again], timeout=40)
            self.assertLess(time.time() - t0, 40)
            self.check_exactly_once(self.results(r, "i"), expect)
        finally:
            r.remove()

    def test_redis_unreachable(self):
        """enqueue and results against a port where nothing listens: exit 1
        with the error kind, nothing claimed to be queued."""
        q = "redis://127.0.0.1:%d/x" % self.refused
        res = harness.run(["enqueue", "--queue", q, "http://a.example/"], parse=False)
        self.assertEqual(res.code, 1, res.describe())
        self.assertIn("connect_refused", res.stderr)
        self.assertIn("nothing was queued", res.stderr)
        res = harness.run(["results", "--queue", q], parse=False)
        self.assertEqual(res.code, 1, res.describe())
        self.assertIn("connect_refused", res.stderr)
        res = harness.run(["fetch", "--queue", "http://x/q", "--worker", "a"], parse=False)
        self.assertEqual(res.code, 2, res.describe())
        self.assertIn("want redis://HOST:PORT[/DB]/NAME", res.stderr)

    def test_per_host_fleet_wide(self):
        """Three workers with --per-host 2 on one origin: nginx never has more
        than two of its requests at once, counted from its own log."""
        r = Redis()
        try:
            n = 30
            lines = "\n".join("http://ph.crawl.test/pause?%d" % i for i in range(n)) + "\n"
            res = harness.run(["enqueue", "--queue", r.url("p"), "-i", "-"], stdin=lines, parse=False)
            self.assertEqual(res.code, 0, res.describe())
            self.assertIn("queued %d lines" % n, res.stderr)
            # -c 2: each worker holds few entries (2 + a batch of 8), so all three get some
            bodies = os.path.join(self.tmp, "bodies")
            ws = [self.worker(r, "p", "w%d" % i, "-c", "2", "--per-host", "2", "--body-dir", bodies)
                  for i in (1, 2, 3)]
            self.wait_workers(ws)
            recs = self.results(r, "p")
            self.assertEqual(sorted(rec["line"] for rec in recs), list(range(1, n + 1)))
            self.assertTrue(all(rec["status"] == 200 and rec["input"] == "stdin" for rec in recs), recs)
            for rec in recs:  # --body-dir: DIR/<input line>.body, named in the record
                self.assertEqual(rec["body_file"], os.path.join(bodies, "%d.body" % rec["line"]))
                with open(rec["body_file"], "rb") as f:
                    self.assertEqual(f.read(), b"ok\n")
            by_worker = collections.Counter(rec["worker"] for rec in recs)
            spans = self.access_log("ph.crawl.test")
            self.assertEqual(len(spans), n)
            # nginx logs in whole milliseconds: a request that starts in the
            # millisecond the one before it ended does not overlap it
            ms = [(round(end * 1000), round(dur * 1000)) for end, dur in spans]
            events = sorted([(end - dur, 1) for end, dur in ms] + [(end, -1) for end, dur in ms])
            at_once = peak = 0
            for _, d in events:  # at one time, ends (-1) sort before starts
                at_once += d
                peak = max(peak, at_once)
            sys.stderr.write("fleet: --per-host 2: peak %d requests at once at the origin; by worker %s\n"
                             % (peak, dict(by_worker)))
            self.assertGreaterEqual(len(by_worker), 2, "the work was not shared: %s" % dict(by_worker))
            self.assertLessEqual(peak, 2)
            self.assertEqual(peak, 2, "the two slots were never used at once")
            # the workers gave their leases back when they left
            self.assertEqual(r.cmd("EXISTS", "p:conns:http://ph.crawl.test:80"), 0)
        finally:
            r.remove()


if __name__ == "__main__":
    harness.main()
