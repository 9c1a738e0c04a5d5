#!/usr/bin/env python3
"""Archives and manners: `fetch --warc/--cdxj` read back by an independent
reader (Webrecorder's warcio for Node) and by our own checker, whose digests
the test recomputes over the stored bytes; a WARC of a killed run readable up
to its last whole record and a resumed run in files of its own; and --robots
against robots.txt files served by fault_server.py (disallowed paths never
requested, Crawl-delay spacing, 4xx = allow all, 5xx = disallow all).
Everything on loopback: the test nginx and fault servers."""

import gzip
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
import unittest
import zlib

import harness
from harness import check_lines
from fault_server import FaultServer
import warc_check

SRV = None
HERE = os.path.dirname(os.path.abspath(__file__))
NODE = shutil.which("node")


def setUpModule():
    global SRV
    harness.start()
    SRV = FaultServer().start()


def tearDownModule():
    if SRV:
        SRV.stop()
    harness.stop()


def workpath(name):
    return os.path.join(harness.env().workdir, name)


def fetch(urls, *opts, timeout=90, code=None, tc=None):
    env = harness.env()
    res = harness.run(["fetch", "--cacert", env.ca_file, "-i", "-"] + [str(o) for o in opts],
                      stdin="".join(u + "\n" for u in urls), timeout=timeout)
    if tc is not None:
        if code is not None:
            tc.assertEqual(res.code, code, res.describe())
        tc.assertEqual(SRV.errors, [])
        return check_lines(tc, res.records, len(urls)), res
    return res


def warc_files(stem):
    d, base = os.path.split(stem)
    return sorted(os.path.join(d, f) for f in os.listdir(d)
                  if f.startswith(base) and f.endswith(".warc.gz"))


def node_records(paths):
    """warcio.js's view of the files: one dict per record."""
    cp = subprocess.run([NODE, os.path.join(HERE, "warc_read.js"), "--check"] + paths,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if cp.returncode != 0:
        raise AssertionError("warcio could not read %s: %s" % (paths, cp.stderr.decode()[-2000:]))
    return [json.loads(l) for l in cp.stdout.decode().splitlines() if l.strip()]


def dechunk(body):
    """The chunk data of a chunked body (trailers dropped), done here, not by
    the checker: the test recomputes digests on its own."""
    out, i = b"", 0
    while True:
        j = body.index(b"\r\n", i)
        size = int(body[i:j].split(b";")[0], 16)
        if size == 0:
            return out
        out += body[j + 2:j + 2 + size]
        assert body[j + 2 + size:j + 4 + size] == b"\r\n"
        i = j + 4 + size


def split_response(block):
    """(status, {lower-case name: value}, body) of a response block."""
    head, body = block.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    fields = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        fields[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), fields, body


def payload_of(block):
    status, fields, body = split_response(block)
    return dechunk(body) if "chunked" in fields.get("transfer-encoding", "") else body


def sha1_label(data):
    import base64
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


class Warc(unittest.TestCase):
    """One mixed run: 200s, a 404, chunked, gzip (Content-Length and chunked),
    a redirect chain (-L), a retried 503 (--retry), a refused connection."""

    @classmethod
    def setUpClass(cls):
        if NODE is None:
            raise AssertionError("node not found: install the Debian package 'nodejs' "
                                 "(tools/install-deps.sh)")
        env = harness.env()
        SRV.reset()
        cls.urls = [
            env.http_url("/small"),                                   # 1: 200
            env.http_url("/nothing-here"),                            # 2: 404
            env.http_url("/chunked"),                                 # 3: chunked
            SRV.url("/encoded?enc=gzip&size=30000&seed=3"),           # 4: gzip, Content-Length
            SRV.url("/encoded?enc=gzip&size=70000&seed=4&chunked=1"), # 5: gzip in chunks
            SRV.url("/chain/2?w=1"),                                  # 6: two redirects
            SRV.url("/flaky?key=warc&fails=2"),                       # 7: 503, 503, 200
            "http://127.0.0.1:%d/refused" % harness.refused_port(),   # 8: no response
            env.https_url("/small"),                                  # 9: over TLS
        ]
        # the URLs each line's attempts went to (a refused connection: none)
        cls.attempts = {i + 1: [u] for i, u in enumerate(cls.urls)}
        cls.attempts[6] = [cls.urls[5], SRV.url("/chain/1?w=1"), SRV.url("/chain/0?w=1")]
        cls.attempts[7] = [cls.urls[6]] * 3
        cls.attempts[8] = []
        cls.stem = workpath("mixed")
        cls.cdxj = workpath("mixed.cdxj")
        res = fetch(cls.urls, "-L", "--retry", "2", "--retry-delay", "0.05", "-c", "4",
                    "--warc", cls.stem + ".warc.gz", "--cdxj", cls.cdxj)
        cls.res = res
        cls.files = warc_files(cls.stem)
        cls.records = []
        for p in cls.files:
            cls.records += warc_check.read_warc(p)

    def test_run_and_files(self):
        # the refused line fails, so the exit status says so; every line has its record
        self.assertEqual(self.res.code, 1, self.res.describe())
        recs = check_lines(self, self.res.records, len(self.urls))
        self.assertEqual(recs[8]["error"], "connect_refused")
        self.assertEqual([os.path.basename(p) for p in self.files], ["mixed.warc.gz"])
        self.assertIn("archived 12 exchanges in 1 WARC file", self.res.stderr)

    def test_our_checker_finds_no_error(self):
        summary = warc_check.check_files(self.files)
        self.assertEqual(summary["errors"], [], summary)
        self.assertEqual(summary["by_type"], {"warcinfo": 1, "request": 12, "response": 12}, summary)

    def test_warcinfo_says_what_made_it(self):
        info = self.records[0]
        self.assertEqual(info.type, "warcinfo")
        text = info.block.decode()
        self.assertIn("software: ringfetch/", text)
        self.assertIn("--warc", text)
        self.assertIn("payload-digest:", text)

    def test_exchanges_match_the_attempts(self):
        """Every attempt that got a response is a request/response pair, in
        the order made; every redirect hop and retry its own."""
        pairs = warc_check.exchanges(self.records)
        got = {}
        for req, resp in pairs:
            got.setdefault(req.uri, []).append(split_response(resp.block)[0])
        want = {}
        for line, uris in self.attempts.items():
            for u in uris:
                want.setdefault(u, 0)
                want[u] += 1
        self.assertEqual({u: len(v) for u, v in got.items()}, want)
        self.assertEqual(got[self.urls[6]], [503, 503, 200])
        self.assertEqual(got[self.urls[5]], [302])
        self.assertEqual(got[self.urls[1]], [404])
        recs = {r["line"]: r for r in self.res.records}
        self.assertEqual(recs[7]["attempts"], 3)
        self.assertEqual(len(recs[6]["redirects"]), 2)

    def test_digests_recomputed_here(self):
        for rec in self.records:
            if rec.type == "warcinfo":
                continue
            with self.subTest(uri=rec.uri, type=rec.type):
                self.assertEqual(rec.header("WARC-Block-Digest"), sha1_label(rec.block))
                self.assertEqual(rec.header("WARC-IP-Address"), "127.0.0.1")
                if rec.type == "response":
                    self.assertEqual(rec.header("WARC-Payload-Digest"), sha1_label(payload_of(rec.block)))

    def test_bytes_are_as_on_the_wire(self):
        """The final responses' bodies are the bytes the JSONL hashed (no
        --compressed: the content coding stays), chunked framing stays."""
        recs = {r["line"]: r for r in self.res.records}
        finals = {}
        for req, resp in warc_check.exchanges(self.records):
            finals[resp.uri] = resp
        for line in (1, 3, 4, 5, 9):
            r = recs[line]
            with self.subTest(line=line):
                self.assertEqual(hashlib.sha256(payload_of(finals[r["url"]].block)).hexdigest(), r["body_sha256"])
        _, h3, b3 = split_response(finals[recs[3]["url"]].block)
        self.assertEqual(h3["transfer-encoding"], "chunked")
        self.assertRegex(b3[:8], rb"^[0-9a-fA-F]+\r\n")  # a chunk size line, not the data
        _, h4, b4 = split_response(finals[recs[4]["url"]].block)
        self.assertEqual(h4["content-encoding"], "gzip")
        self.assertEqual(len(gzip.decompress(b4)), 30000)  # the gzip bytes as sent
        # the request records hold the request as sent
        reqs = [q for q, _ in warc_check.exchanges(self.records) if q.uri == recs[1]["url"]]
        self.assertTrue(reqs[0].block.startswith(b"GET /small HTTP/1.1\r\n"), reqs[0].block[:80])
        self.assertIn(b"\r\nHost: 127.0.0.1:", reqs[0].block)

    def test_warcio_reads_the_same_records(self):
        theirs = node_records(self.files)
        ours = self.records
        self.assertEqual(len(theirs), len(ours))
        for t, o in zip(theirs, ours):
            with self.subTest(id=o.id):
                self.assertEqual(t["id"], o.id)
                self.assertEqual(t["type"], o.type)
                self.assertEqual(t["uri"], o.uri)
                self.assertEqual(t["offset"], o.offset)
                self.assertEqual(t["length"], o.length)
                self.assertTrue(t["block_digest_ok"], t)
                self.assertIsNone(t["protocol"], "HTTP/1.1 exchanges carry no WARC-Protocol")
                if o.type == "response":
                    self.assertEqual(t["status"], split_response(o.block)[0])

    def test_cdxj_points_at_the_right_records(self):
        lines = warc_check.read_cdxj(self.cdxj)
        responses = [r for r in self.records if r.type == "response"]
        self.assertEqual(len(lines), len(responses))
        for key, ts, d in lines:
            with self.subTest(url=d["url"]):
                self.assertRegex(ts, r"^\d{14}$")
                path = os.path.join(os.path.dirname(self.stem), d["filename"])
                with open(path, "rb") as f:
                    f.seek(int(d["offset"]))
                    member = f.read(int(d["length"]))
                data = zlib.decompressobj(31)
                text = data.decompress(member)
                self.assertTrue(data.eof and not data.unused_data, "not exactly one gzip member")
                head = text.split(b"\r\n\r\n", 1)[0].decode()
                self.assertIn("WARC-Type: response", head)
                self.assertIn("WARC-Target-URI: %s" % d["url"], head)
                self.assertIn("WARC-Payload-Digest: %s" % d["digest"], head)
                status = text.split(b"\r\n\r\n", 1)[1].split(b" ", 2)[1].decode()
                self.assertEqual(d["status"], status)


class Rotation(unittest.TestCase):
    def test_max_size_rotates_between_exchanges(self):
        env = harness.env()
        urls = [env.http_url("/small?r=%d" % i) for i in range(120)]
        stem = workpath("rot")
        recs, res = fetch(urls, "-c", "20", "--warc", stem, "--warc-max-size", "20000",
                          "--cdxj", stem + ".cdxj", tc=self, code=0)
        files = warc_files(stem)
        self.assertGreater(len(files), 3, files)
        self.assertEqual(os.path.basename(files[0]), "rot-00000.warc.gz")
        summary = warc_check.check_files(files)
        self.assertEqual(summary["errors"], [], summary)
        self.assertEqual(summary["by_type"].get("response"), 120)
        self.assertEqual(summary["by_type"].get("warcinfo"), len(files))
        for p in files:
            first = warc_check.read_warc(p)
            self.assertEqual(first[0].type, "warcinfo", p)
            # an exchange never spans files: requests and responses pair up in each
            self.assertEqual(sum(r.type == "request" for r in first), sum(r.type == "response" for r in first))
        self.assertEqual(len(warc_check.read_cdxj(stem + ".cdxj")), 120)
        self.assertEqual(len(node_records(files)), 240 + len(files))


class KilledRun(unittest.TestCase):
    def test_kill_9_leaves_readable_warc_and_resume_writes_new_files(self):
        env = harness.env()
        n = 20000
        src = workpath("warc-kill.txt")
        with open(src, "w") as f:
            f.write("".join(env.http_url("/small?wk=%d\n" % i) for i in range(n)))
        out = workpath("warc-kill.jsonl")
        stem = workpath("killed")
        argv = [harness.ringfetch_path(), "fetch", "-q", "-c", "100", "-i", src, "-o", out,
                "--warc", stem + ".warc.gz", "--cdxj", stem + ".cdxj"]
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, cwd=env.workdir, env=harness.child_env())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not os.path.exists(out) or os.path.getsize(out) < 200000):
            time.sleep(0.02)
        p.send_signal(signal.SIGKILL)
        p.wait(10)
        killed = warc_files(stem)
        self.assertEqual([os.path.basename(f) for f in killed], ["killed.warc.gz"])
        # every whole record reads; only the last gzip member may be torn
        size = os.path.getsize(killed[0])
        good, end = 0, 0
        try:
            for r in warc_check.iter_records(killed[0]):
                good += 1
                end = r.offset + r.length
        except warc_check.WarcError:
            pass
        self.assertGreater(good, 100)
        with open(killed[0], "rb") as f:
            f.seek(end)
            tail = f.read()
        if tail:  # a torn member: the writer was killed inside it
            d = zlib.decompressobj(31)
            try:
                d.decompress(tail)
                self.assertFalse(d.eof, "a whole member after the last record read")
            except zlib.error:
                pass
        self.assertLessEqual(end, size)
        # resume: the killed run's files stay as they were, this run writes -r2
        before = open(killed[0], "rb").read()
        res = harness.run(["fetch", "-q", "-c", "100", "-i", src, "-o", out, "--resume", out,
                           "--warc", stem + ".warc.gz", "--cdxj", stem + ".cdxj"], parse=False, timeout=180)
        self.assertEqual(res.code, 0, res.describe())
        self.assertEqual(open(killed[0], "rb").read(), before)
        resumed = [f for f in warc_files(stem) if os.path.basename(f).startswith("killed-r2")]
        self.assertEqual([os.path.basename(f) for f in resumed], ["killed-r2.warc.gz"])
        summary = warc_check.check_files(resumed)
        self.assertEqual(summary["errors"], [], summary)
        # every line is answered in the WARCs of the two runs together
        uris = set()
        for f in killed:
            try:
                for r in warc_check.iter_records(f):
                    if r.type == "response":
                        uris.add(r.uri)
            except warc_check.WarcError:
                pass
        for r in warc_check.read_warc(resumed[0]):
            if r.type == "response":
                uris.add(r.uri)
        missing = set(env.http_url("/small?wk=%d" % i) for i in range(n)) - uris
        recs = []  # for the message: their records (the killed run's torn line skipped)
        with open(out, "rb") as f:
            for raw in f:
                try:
                    rec = json.loads(raw)
                except ValueError:
                    continue
                if rec["url"] in missing:
                    recs.append(rec)
        self.assertEqual(len(uris), n, (sorted(missing)[:5], recs[:3]))
        # the JSONL and the CDXJ: the killed run's torn last lines were cut,
        # every line is whole; the resumed run's CDXJ lines name the -r2 file
        with open(out, "rb") as f:
            for raw in f:
                json.loads(raw)
        names = set()
        with open(stem + ".cdxj", "rb") as f:
            for raw in f.read().splitlines():
                names.add(json.loads(raw.split(b" ", 2)[2])["filename"])
        self.assertEqual(names, {"killed.warc.gz", "killed-r2.warc.gz"})

    def test_sigint_closes_the_archive_whole(self):
        stem = workpath("interrupted")
        urls = [SRV.url("/slow?ms=1500&i=%d" % i) for i in range(30)]
        src = workpath("int.txt")
        with open(src, "w") as f:
            f.write("".join(u + "\n" for u in urls))
        env = harness.env()
        p = subprocess.Popen([harness.ringfetch_path(), "fetch", "-c", "10", "-i", src, "-o", workpath("int.jsonl"),
                              "--warc", stem], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, cwd=env.workdir, env=harness.child_env())
        time.sleep(0.6)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 130, err)
        files = warc_files(stem)
        summary = warc_check.check_files(files)
        self.assertEqual(summary["errors"], [], summary)
        self.assertEqual(summary["by_type"].get("response"), 10, summary)  # the ten that ran finished


class Robots(unittest.TestCase):
    def setUp(self):
        SRV.reset()
        SRV.robots = {}

    def tearDown(self):
        SRV.robots = {}

    def resolve(self, *hosts):
        out = []
        for h in hosts:
            out += ["--resolve", "%s:%d:127.0.0.1" % (h, SRV.port)]
        return out

    def test_disallowed_paths_are_refused_and_never_requested(self):
        SRV.robots["r1.test"] = (200, b"User-agent: *\nDisallow: /ok?secret\nDisallow: /chain/\n"
                                 b"Allow: /chain/0\n\nUser-agent: otherbot\nDisallow: /\n")
        urls = [SRV.url("/ok?public=1", host="r1.test"), SRV.url("/ok?secret=1", host="r1.test"),
                SRV.url("/chain/3", host="r1.test"), SRV.url("/chain/0", host="r1.test"),
                SRV.url("/ok?public=2", host="r1.test")]
        recs, res = fetch(urls, "--robots", *self.resolve("r1.test"), tc=self)
        self.assertEqual(res.code, 1, res.describe())
        for line in (1, 4, 5):
            self.assertEqual(recs[line]["status"], 200, recs[line])
        for line in (2, 3):
            self.assertEqual(recs[line]["error"], "robots_disallowed", recs[line])
            self.assertIsNone(recs[line]["status"])
            self.assertIn("robots.txt", recs[line]["error_message"])
        targets = [e.target for e in SRV.log]
        self.assertEqual(targets.count("/robots.txt"), 1, targets)
        self.assertEqual(targets[0], "/robots.txt")  # before anything else of the host
        self.assertNotIn("/ok?secret=1", targets)
        self.assertNotIn("/chain/3", targets)

    def test_user_agent_groups(self):
        SRV.robots["r2.test"] = (200, b"User-agent: *\nDisallow: /\n\nUser-agent: mybot\nAllow: /\n")
        urls = [SRV.url("/ok?a=1", host="r2.test")]
        recs, _ = fetch(urls, "--robots", *self.resolve("r2.test"), tc=self)
        self.assertEqual(recs[1]["error"], "robots_disallowed")
        recs, _ = fetch(urls, "--robots", "--robots-agent", "MyBot", *self.resolve("r2.test"), tc=self)
        self.assertEqual(recs[1]["status"], 200, recs[1])

    def test_crawl_delay_spaces_requests(self):
        SRV.robots["r3.test"] = (200, b"User-agent: *\nCrawl-delay: 0.4\n")
        urls = [SRV.url("/ok?d=%d" % i, host="r3.test") for i in range(5)]
        recs, res = fetch(urls, "--robots", "-c", "5", *self.resolve("r3.test"), tc=self, code=0)
        times = [e.time for e in SRV.log if e.path == "/ok"]
        self.assertEqual(len(times), 5)
        gaps = [b - a for a, b in zip(times, times[1:])]
        self.assertGreaterEqual(min(gaps), 0.35, gaps)
        self.assertLess(max(gaps), 1.5, gaps)

    def test_missing_robots_allows_all_and_5xx_disallows_all(self):
        SRV.robots["r5.test"] = (503, b"down\n")
        # r4.test has no robots.txt (404)
        urls = [SRV.url("/ok?x=1", host="r4.test"), SRV.url("/ok?x=2", host="r5.test")]
        recs, _ = fetch(urls, "--robots", *self.resolve("r4.test", "r5.test"), tc=self)
        self.assertEqual(recs[1]["status"], 200, recs[1])
        self.assertEqual(recs[2]["error"], "robots_disallowed", recs[2])
        self.assertNotIn("/ok?x=2", [e.target for e in SRV.log])

    def test_robots_follows_redirects_and_survives_a_refused_host(self):
        SRV.robots["r6.test"] = (301, b"")
        # a redirect without a Location cannot be followed: no robots.txt, all allowed
        urls = [SRV.url("/ok?y=1", host="r6.test"), "http://127.0.0.1:%d/x" % harness.refused_port()]
        recs, _ = fetch(urls, "--robots", *self.resolve("r6.test"), tc=self)
        self.assertEqual(recs[1]["status"], 200, recs[1])
        # unreachable robots.txt: its host is treated as disallowed, the line still has a record
        self.assertEqual(recs[2]["error"], "robots_disallowed", recs[2])

    def test_without_robots_nothing_is_asked(self):
        SRV.robots["*"] = (200, b"User-agent: *\nDisallow: /\n")
        recs, _ = fetch([SRV.url("/ok?z=1")], tc=self, code=0)
        self.assertEqual([e.target for e in SRV.log], ["/ok?z=1"])


if __name__ == "__main__":
    harness.main()
