#!/usr/bin/env python3
"""Crawls you can trust for days: kill -9 and --resume (every input line
exactly once across the files), SIGINT/SIGTERM (every admitted line has its
record, exit 130/143), the live progress line (only on a terminal), the
--stats-json figures, and records that a slow reader slows down but never
loses. Against the test nginx and fault_server.py on loopback."""

import json
import os
import random
import signal
import subprocess
import time
import unittest

import harness
from harness import check_lines, check_ok
from fault_server import FaultServer

SCRIPT = harness.require_program("script", "bsdutils")
SRV = None


def setUpModule():
    global SRV
    harness.start()
    SRV = FaultServer().start()


def tearDownModule():
    if SRV:
        SRV.stop()
    harness.stop()


def read_records(path):
    """Whole JSON lines of path; a torn line (a killed writer's) is skipped.
    Returns (records, torn lines)."""
    recs, torn = [], 0
    with open(path, "rb") as f:
        for raw in f.read().split(b"\n"):
            if not raw:
                continue
            try:
                recs.append(json.loads(raw))
            except ValueError:
                torn += 1
    return recs, torn


def start(args, **kw):
    argv = [harness.ringfetch_path()] + [str(a) for a in args]
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=kw.pop("stdout", subprocess.DEVNULL),
                            stderr=subprocess.PIPE, cwd=harness.env().workdir, env=harness.child_env(), **kw)


def urls_file(name, urls):
    path = os.path.join(harness.env().workdir, name)
    with open(path, "w") as f:
        f.write("".join(u + "\n" for u in urls))
    return path


class KillAndResume(unittest.TestCase):
    def test_kill_9_then_resume_gives_every_line_once(self):
        env = harness.env()
        n = 60000
        src = urls_file("kill.txt", [env.http_url("/small?k=%d" % i) for i in range(n)])
        # kill times as shares of a whole run's time on this machine (a fast
        # one does 60,000 loopback requests in under a second)
        t0 = time.monotonic()
        res = harness.run(["fetch", "-q", "-c", "200", "-i", src, "-o", os.path.join(env.workdir, "full.jsonl")],
                          parse=False, timeout=240)
        self.assertEqual(res.code, 0, res.describe())
        whole = time.monotonic() - t0
        rnd = random.Random(7)
        for kill_after in (0.15 * whole, 0.5 * whole, rnd.uniform(0.3, 0.8) * whole):
            with self.subTest(kill_after=round(kill_after, 2)):
                out = os.path.join(env.workdir, "kill-%d.jsonl" % int(kill_after * 1000))
                p = start(["fetch", "-q", "-c", "200", "-i", src, "-o", out])
                time.sleep(kill_after)
                p.kill()
                p.wait(timeout=10)
                self.assertEqual(p.returncode, -signal.SIGKILL)
                first, _ = read_records(out)
                self.assertLess(len(first), n, "the run ended before the kill: nothing to resume")
                res = harness.run(["fetch", "-q", "-c", "200", "-i", src, "--resume", out, "-o", out],
                                  parse=False, timeout=240)
                self.assertEqual(res.code, 0, res.describe())
                recs, torn = read_records(out)
                # the killed run's torn last line was cut: every line is whole
                self.assertEqual(torn, 0, "a torn line left in the resumed file")
                lines = [r["line"] for r in recs]
                self.assertEqual(len(lines), len(set(lines)), "a line was fetched twice")
                self.assertEqual(sorted(lines), list(range(1, n + 1)), "lines missing after --resume")
                for r in recs[:50] + recs[-50:]:
                    check_ok(self, r, 200, env.small_sha, harness.SMALL_SIZE)

    def test_resume_of_a_finished_run_does_nothing(self):
        env = harness.env()
        src = urls_file("done.txt", [env.http_url("/small?d=%d" % i) for i in range(50)])
        out = os.path.join(env.workdir, "done.jsonl")
        self.assertEqual(harness.run(["fetch", "-q", "-i", src, "-o", out], parse=False).code, 0)
        with harness.ServerCounter(env) as sc:
            res = harness.run(["fetch", "-i", src, "--resume", out, "-o", out], parse=False)
        self.assertEqual(res.code, 0, res.describe())
        self.assertEqual(sc.requests, 0)
        self.assertIn("50 lines already had a record", res.stderr)
        self.assertEqual(len(read_records(out)[0]), 50)
        # a missing --resume file is a first run, and a glob reads several
        out2 = os.path.join(env.workdir, "part-2.jsonl")
        res = harness.run(["fetch", "-q", "-i", src, "--resume", os.path.join(env.workdir, "part-*.jsonl"),
                           "-o", out2], parse=False)
        self.assertEqual(res.code, 0, res.describe())
        self.assertEqual(len(read_records(out2)[0]), 50)


class Signals(unittest.TestCase):
    def slow_list(self, name, n=60, ms=1500):
        return urls_file(name, [SRV.url("/slow?ms=%d&i=%d" % (ms, i)) for i in range(n)])

    def run_and_signal(self, args, sigs, after=0.6, gap=0.3):
        out = os.path.join(harness.env().workdir, "sig-%d.jsonl" % time.monotonic_ns())
        p = start(["fetch"] + args + ["-o", out])
        time.sleep(after)
        t0 = time.monotonic()
        for i, s in enumerate(sigs):
            if i:
                time.sleep(gap)
            p.send_signal(s)
        _, err = p.communicate(timeout=60)
        return p.returncode, read_records(out)[0], err.decode(errors="replace"), time.monotonic() - t0

    def test_sigint_lets_running_requests_finish(self):
        src = self.slow_list("sigint.txt")
        code, recs, err, took = self.run_and_signal(["-c", "10", "-i", src], [signal.SIGINT])
        self.assertEqual(code, 130, err)
        by = check_lines(self, recs, 60)
        done = [r for r in by.values() if r["status"] == 200]
        canceled = [r for r in by.values() if r.get("error") == "canceled"]
        self.assertEqual(len(done), 10, "the 10 running requests finish within the grace")
        self.assertEqual(len(canceled), 50, "the queued ones end at once, each with a record")
        self.assertLess(took, 5)
        self.assertIn("SIGINT", err)
        self.assertIn("requests", err)  # the summary line

    def test_grace_then_cancel(self):
        src = self.slow_list("grace.txt", ms=6000)
        code, recs, err, took = self.run_and_signal(["-c", "10", "--grace", "0.5", "-i", src], [signal.SIGINT])
        self.assertEqual(code, 130, err)
        by = check_lines(self, recs, 60)
        self.assertTrue(all(r.get("error") == "canceled" for r in by.values()), recs[:3])
        self.assertLess(took, 4)

    def test_second_signal_stops_at_once_and_sigterm_is_143(self):
        src = self.slow_list("twice.txt", ms=6000)
        code, recs, err, took = self.run_and_signal(["-c", "10", "-i", src], [signal.SIGTERM, signal.SIGTERM])
        self.assertEqual(code, 143, err)
        check_lines(self, recs, 60)
        self.assertLess(took, 4)

    def test_resume_fetches_the_canceled_lines(self):
        src = self.slow_list("again.txt", n=20, ms=800)
        out = os.path.join(harness.env().workdir, "again.jsonl")
        p = start(["fetch", "-c", "5", "--grace", "0", "-i", src, "-o", out])
        time.sleep(0.4)
        p.send_signal(signal.SIGINT)
        p.communicate(timeout=30)
        self.assertEqual(p.returncode, 130)
        res = harness.run(["fetch", "-q", "-c", "20", "-i", src, "--resume", out, "-o", out], parse=False,
                          timeout=60)
        self.assertEqual(res.code, 0, res.describe())
        recs, _ = read_records(out)
        ok_lines = sorted(r["line"] for r in recs if r["status"] == 200)
        self.assertEqual(ok_lines, list(range(1, 21)))


class Progress(unittest.TestCase):
    def test_progress_line_on_a_terminal_only(self):
        env = harness.env()
        src = urls_file("prog.txt", [SRV.url("/slow?ms=300&p=%d" % i) for i in range(40)])
        cmd = "%s fetch -c 4 -i %s -o /dev/null" % (harness.ringfetch_path(), src)
        # script(1) gives the command a pseudo-terminal: stderr is a tty there
        p = subprocess.run([SCRIPT, "-qec", cmd, "/dev/null"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60, cwd=env.workdir, env=harness.child_env())
        tty = p.stdout.decode(errors="replace")
        self.assertEqual(p.returncode, 0, tty[-2000:])
        self.assertIn("\r\x1b[K", tty)
        self.assertRegex(tty, r"ringfetch: \d+/40 done, \d+/s, \d+ in flight")
        self.assertRegex(tty, r"ETA \d+s")
        # redirected stderr: nothing of it, unless asked
        res = harness.run(["fetch", "-c", "4", "-i", src], timeout=60)
        self.assertNotIn("\x1b[K", res.stderr)
        self.assertNotIn(" in flight", res.stderr)
        res = harness.run(["fetch", "-c", "4", "--progress", "-i", src], timeout=60)
        self.assertIn(" in flight", res.stderr)
        p = subprocess.run([SCRIPT, "-qec", cmd + " --no-progress", "/dev/null"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, cwd=env.workdir,
                           env=harness.child_env())
        self.assertNotIn(" in flight", p.stdout.decode(errors="replace"))

    def test_stats_json(self):
        env = harness.env()
        urls = [env.http_url("/small"), env.http_url("/nothing"), "http://127.0.0.1:%d/" % harness.refused_port(),
                "not a url", env.https_url("/small")]
        path = os.path.join(env.workdir, "stats.json")
        res = harness.run(["fetch", "--cacert", env.ca_file, "--stats-json", path] + urls)
        self.assertEqual(res.code, 1)
        with open(path) as f:
            st = json.load(f)
        self.assertEqual(st["requests"], 5)
        self.assertEqual(st["ok"], 3)
        self.assertEqual(st["failed"], 2)
        self.assertEqual(st["status_classes"]["2xx"], 2)
        self.assertEqual(st["status_classes"]["4xx"], 1)
        self.assertEqual(st["errors"], {"connect_refused": 1, "bad_url": 1})
        self.assertEqual(st["hosts"], 1)  # 127.0.0.1 (the bad line has none)
        self.assertEqual(st["body_bytes"], 2 * harness.SMALL_SIZE + sum(r["body_bytes"] for r in res.records
                                                                         if r["status"] == 404))
        self.assertFalse(st["interrupted"])
        for k in ("wall_s", "requests_per_s", "concurrency", "connections_opened", "tls_handshakes"):
            self.assertIn(k, st)


class SlowReader(unittest.TestCase):
    def test_a_slow_reader_loses_nothing(self):
        """Records go through the ring into a pipe read slowly: admission waits
        for the output, and every line still gets its record."""
        env = harness.env()
        n = 20000
        src = urls_file("slowread.txt", [env.http_url("/small?s=%d" % i) for i in range(n)])
        p = start(["fetch", "-q", "-c", "100", "--all-headers", "-i", src], stdout=subprocess.PIPE)
        got = bytearray()
        t0 = time.monotonic()
        while True:
            chunk = p.stdout.read(256 * 1024)
            if not chunk:
                break
            got += chunk
            time.sleep(0.02)  # ~12 MB/s at most
            self.assertLess(time.monotonic() - t0, 120)
        p.wait(timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr.read().decode(errors="replace"))
        recs = harness.parse_jsonl(bytes(got))
        check_lines(self, recs, n)


if __name__ == "__main__":
    harness.main()
