#!/usr/bin/env python3
"""Concurrency made visible: the Chrome trace (one track per connection,
overlapping slices when concurrent, none when serial), the SVG waterfall
rendered by headless Chromium (not blank, rows where the timings say), and
the summary's serialisation warning (fires for a server that admits one
connection at a time, and for --per-host 1; quiet otherwise)."""

import json
import os
import re
import socket
import struct
import subprocess
import threading
import time
import unittest
import zlib

import harness

PAUSE = 0.3  # seconds: nginx's /pause
CHROMIUM = harness.require_program("chromium", "chromium")


def setUpModule():
    harness.start()


def tearDownModule():
    harness.stop()


def fetch(args, timeout=60):
    return harness.run(["fetch"] + [str(a) for a in args], timeout=timeout)


def load_trace(path):
    with open(path) as f:
        j = json.load(f)
    ev = j["traceEvents"]
    names = {e["tid"]: e["args"]["name"] for e in ev if e.get("ph") == "M" and e["name"] == "thread_name"}
    slices = [e for e in ev if e.get("ph") == "X"]
    return ev, names, slices


class Trace(unittest.TestCase):
    def pause_urls(self, n, scheme="http"):
        return [harness.env().url(scheme, "/pause?i=%d" % i) for i in range(n)]

    def test_concurrent_slices_overlap(self):
        e = harness.env()
        path = os.path.join(e.dir, "conc-trace.json")
        res = fetch(["-c", "6", "--cacert", e.ca_file, "--trace", path] + self.pause_urls(6, "https"))
        self.assertEqual(res.code, 0, res.describe())
        ev, names, slices = load_trace(path)
        waits = [s for s in slices if s["name"] == "wait"]
        self.assertEqual(len(waits), 6)
        # one track per connection, each named, each with its own request
        tids = {s["tid"] for s in waits}
        self.assertEqual(len(tids), 6)
        self.assertEqual(set(names), tids)
        for tid in tids:
            self.assertRegex(names[tid], r"^conn \d+ 127\.0\.0\.1:\d+$")
            mine = {s["name"] for s in slices if s["tid"] == tid}
            self.assertTrue({"connect", "tls", "wait", "receive"} <= mine, mine)
        # concurrent: every wait overlaps every other one
        latest_start = max(s["ts"] for s in waits)
        earliest_end = min(s["ts"] + s["dur"] for s in waits)
        self.assertLess(latest_start, earliest_end, "the waits did not overlap")
        for s in waits:
            self.assertGreaterEqual(s["dur"], PAUSE * 1e6 * 0.9)
        # the request spans: a begin and an end per request
        self.assertEqual(sum(1 for x in ev if x.get("ph") == "b"), 6)
        self.assertEqual(sum(1 for x in ev if x.get("ph") == "e"), 6)
        self.assertNotIn("WARNING", res.stderr)
        m = re.search(r"achieved ([0-9.]+) on average \(peak (\d+)\) of (\d+) allowed", res.stderr)
        self.assertIsNotNone(m, res.stderr)
        self.assertEqual(int(m.group(2)), 6)
        self.assertGreater(float(m.group(1)), 3.0)

    def test_serial_slices_do_not_overlap(self):
        e = harness.env()
        path = os.path.join(e.dir, "serial-trace.json")
        res = fetch(["-c", "1", "--trace", path] + self.pause_urls(4))
        self.assertEqual(res.code, 0, res.describe())
        ev, names, slices = load_trace(path)
        waits = sorted((s for s in slices if s["name"] == "wait"), key=lambda s: s["ts"])
        self.assertEqual(len(waits), 4)
        self.assertEqual(len({s["tid"] for s in waits}), 1, "one keep-alive connection")
        for a, b in zip(waits, waits[1:]):
            self.assertGreaterEqual(b["ts"], a["ts"] + a["dur"], "serial waits overlapped")
        m = re.search(r"achieved ([0-9.]+) on average", res.stderr)
        self.assertLess(float(m.group(1)), 1.05)
        self.assertNotIn("WARNING", res.stderr)  # -c 1 asked for serial: nothing to warn about


class BenchTrace(unittest.TestCase):
    def test_bench_trace_merges_threads_on_one_axis(self):
        """bench -t 2 -c 4 against the 0.3 s endpoint: every connection of
        both threads gets its own track, the request ids are unique, the
        two threads' first waits overlap on the shared time axis, and
        --trace-max keeps the first N requests and says so."""
        e = harness.env()
        path = os.path.join(e.dir, "bench-trace.json")
        svg = os.path.join(e.dir, "bench-waterfall.svg")
        res = harness.run(["bench", "-t", "2", "-c", "4", "-n", "12", "--trace", path, "--waterfall", svg,
                           "--trace-max", "8", "--cacert", e.ca_file, e.url("https", "/pause")],
                          timeout=60, parse=False)
        self.assertEqual(res.code, 0, res.describe())
        self.assertIn("hold the first 8 of 12 requests", res.stderr)
        ev, names, slices = load_trace(path)
        waits = [s for s in slices if s["name"] == "wait"]
        self.assertEqual(len(waits), 8)
        tids = {s["tid"] for s in waits}
        self.assertEqual(len(tids), 4, "4 connections over 2 threads: 4 tracks")
        self.assertEqual(set(names), tids)
        ids = [x["id"] for x in ev if x.get("ph") == "b"]
        self.assertEqual(len(ids), 8)
        self.assertEqual(len(set(ids)), 8, "request ids collide between threads")
        first = sorted(waits, key=lambda s: s["ts"])[:4]
        self.assertLess(max(s["ts"] for s in first), min(s["ts"] + s["dur"] for s in first),
                        "the first round of both threads should overlap on the shared axis")
        for s in waits:
            self.assertGreaterEqual(s["dur"], PAUSE * 1e6 * 0.9)
        with open(svg) as f:
            body = f.read()
        self.assertIn("8 requests on 4 connections", body)
        self.assertEqual(body.count('fill="#edc948"'), 8 + 1, "one waiting bar per request, plus the legend")


class OneAtATime:
    """A server that admits one connection at a time: listen backlog 0,
    accept, answer after `delay`, close, accept the next."""

    def __init__(self, delay):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.delay = delay
        self.stop = False
        self.served = 0
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        self.sock.settimeout(0.2)
        deadline = time.monotonic() + 60
        while not self.stop and time.monotonic() < deadline:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            with c:
                c.settimeout(5)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        chunk = c.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    time.sleep(self.delay)
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
                    self.served += 1
                except OSError:
                    pass

    def close(self):
        self.stop = True
        self.thread.join(timeout=5)
        self.sock.close()


class Serialisation(unittest.TestCase):
    def test_warns_when_the_server_admits_one_connection_at_a_time(self):
        srv = OneAtATime(0.15)
        self.addCleanup(srv.close)
        urls = ["http://127.0.0.1:%d/?i=%d" % (srv.port, i) for i in range(6)]
        res = fetch(["-c", "6"] + urls, timeout=60)
        self.assertEqual(res.code, 0, res.describe())
        self.assertIn("WARNING: close to serial", res.stderr)
        self.assertIn("accept one connection at a time", res.stderr)

    def test_warns_for_per_host_1(self):
        e = harness.env()
        urls = [e.url("http", "/pause?p=%d" % i) for i in range(6)]
        res = fetch(["-c", "6", "--per-host", "1"] + urls)
        self.assertEqual(res.code, 0, res.describe())
        self.assertIn("WARNING: close to serial", res.stderr)
        self.assertIn("--per-host 1", res.stderr)

    def test_quiet_when_concurrent(self):
        e = harness.env()
        urls = [e.url("http", "/pause?q=%d" % i) for i in range(8)]
        res = fetch(["-c", "8"] + urls)
        self.assertEqual(res.code, 0, res.describe())
        self.assertNotIn("WARNING", res.stderr)
        self.assertLess(res.elapsed, PAUSE * 8 / 2, "8 requests did not run concurrently")


def png_pixels(path):
    """Decodes an 8-bit, non-interlaced RGB/RGBA PNG: (width, height, rows of bytes, bpp)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(h):
        ft, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if ft == 1:
                line[x] = (line[x] + a) & 255
            elif ft == 2:
                line[x] = (line[x] + b) & 255
            elif ft == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif ft == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return w, h, rows, bpp


def hexrgb(s):
    return tuple(int(s[i:i + 2], 16) for i in (1, 3, 5))


class Waterfall(unittest.TestCase):
    def render(self, svg, png, width, height):
        d = os.path.join(harness.env().dir, "chromium-profile")
        args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--hide-scrollbars", "--user-data-dir=" + d, "--window-size=%d,%d" % (width, height),
                "--screenshot=" + png, "file://" + svg]
        p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        self.assertTrue(os.path.exists(png), p.stderr.decode()[-2000:])

    def test_waterfall_renders_rows_where_the_timings_say(self):
        e = harness.env()
        svg = os.path.join(e.dir, "wf.svg")
        trace = os.path.join(e.dir, "wf.json")
        urls = [e.url("http", "/pause?w=%d" % i) for i in range(4)]
        res = fetch(["-c", "2", "--trace", trace, "--waterfall", svg] + urls)
        self.assertEqual(res.code, 0, res.describe())
        with open(svg) as f:
            text = f.read()
        m = re.match(r'<svg [^>]*width="(\d+)" height="(\d+)"', text)
        width, height = int(m.group(1)), int(m.group(2))
        rects = [(cls, float(x), float(y), float(w), float(h), fill) for cls, x, y, w, h, fill in re.findall(
            r'<rect class="(\w+)" x="([0-9.]+)" y="([0-9.]+)" width="([0-9.]+)" height="([0-9.]+)" fill="(#[0-9a-f]+)"/>',
            text)]
        waits = sorted([r for r in rects if r[0] == "waiting"], key=lambda r: r[2])
        self.assertEqual(len(waits), 4, "one waiting bar per request")
        # -c 2: two requests wait together, the next two after them, on the time axis
        self.assertAlmostEqual(waits[0][1], waits[1][1], delta=3)
        self.assertAlmostEqual(waits[2][1], waits[3][1], delta=3)
        self.assertGreater(waits[2][1], waits[0][1] + waits[0][3] * 0.9)
        # bar lengths follow the trace's wait durations: x = 150 + t * 1030 / tmax
        ev, names, slices = load_trace(trace)
        tw = sorted(s["dur"] for s in slices if s["name"] == "wait")
        widths = sorted(r[3] for r in waits)
        scale = widths[0] / tw[0]
        for d, wdt in zip(tw, widths):
            self.assertAlmostEqual(wdt, d * scale, delta=2)
        png = os.path.join(e.dir, "wf.png")
        self.render(svg, png, width, height)
        w, h, rows, bpp = png_pixels(png)
        self.assertGreaterEqual((w, h), (width, height))
        # not blank: plenty of non-white pixels
        sample = [rows[y][x * bpp:x * bpp + 3] for y in range(0, h, 7) for x in range(0, w, 7)]
        inked = sum(1 for px in sample if tuple(px) != (255, 255, 255))
        self.assertGreater(inked, len(sample) * 0.02)
        # each waiting bar is drawn where the SVG says, in the waiting colour
        want = hexrgb(waits[0][5])
        for cls, x, y, wd, ht, fill in waits:
            cx, cy = int(x + wd / 2), int(y + ht / 2)
            px = tuple(rows[cy][cx * bpp:cx * bpp + 3])
            self.assertTrue(all(abs(a - b) <= 8 for a, b in zip(px, want)),
                            "pixel at (%d,%d) is %r, want the waiting colour %r" % (cx, cy, px, want))
            # and left of the bar start, before the request was sent, it is not the waiting colour
            lx = int(x) - 3
            px = tuple(rows[cy][lx * bpp:lx * bpp + 3])
            self.assertFalse(all(abs(a - b) <= 8 for a, b in zip(px, want)), (lx, cy, px))


if __name__ == "__main__":
    harness.main()
