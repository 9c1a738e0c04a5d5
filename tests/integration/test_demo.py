#!/usr/bin/env python3
"""`ringfetch demo` and `ringfetch serve`: the demo prints the serial vs
concurrent table (concurrent within 1.5 s for n <= 1,000 against the 1 s
server), writes both waterfalls, and needs nothing but the binary; `serve`
runs the embedded server on its own for other tools."""

import os
import re
import signal
import subprocess
import tempfile
import time
import unittest

import harness

class Demo(unittest.TestCase):
    def test_demo_table_and_waterfalls(self):
        with tempfile.TemporaryDirectory(prefix="ringfetch-demo-") as d:
            t0 = time.monotonic()
            p = subprocess.run([harness.ringfetch_path(), "demo", "--max-n", "1000", "--dir", d],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
                               env=harness.child_env(), cwd=d)
            elapsed = time.monotonic() - t0
            out = p.stdout.decode()
            self.assertEqual(p.returncode, 0, out + p.stderr.decode())
            rows = {int(m.group(1)): m for m in re.finditer(
                r"^\s+(\d+)\s+(~?)([0-9.]+) (s|min|h)\s+([0-9.]+) s\s+(\d+)x\s+(\d+) \(peak (\d+)\)", out, re.M)}
            self.assertEqual(sorted(rows), [3, 5, 10, 100, 1000], out)
            for n, m in rows.items():
                conc = float(m.group(5))
                self.assertGreaterEqual(conc, 1.0, out)  # every request waits 1 s at the server
                if not harness.SANITIZED:
                    self.assertLessEqual(conc, 1.5, "n=%d all at once took %.2f s\n%s" % (n, conc, out))
                self.assertEqual(int(m.group(8)), n, "peak concurrency for n=%d\n%s" % (n, out))
                if n <= 10:  # measured one at a time: n seconds
                    self.assertEqual(m.group(2), "", out)
                    self.assertAlmostEqual(float(m.group(3)), n * 1.0, delta=0.1 * n + 0.2)
                else:  # an estimate, marked
                    self.assertEqual(m.group(2), "~", out)
            self.assertIn("~ : n x the measured time of one request", out)
            for name in ("demo-serial.svg", "demo-concurrent.svg"):
                path = os.path.join(d, name)
                self.assertTrue(os.path.exists(path), name)
                with open(path) as f:
                    svg = f.read()
                self.assertTrue(svg.startswith("<svg"), name)
            with open(os.path.join(d, "demo-concurrent.svg")) as f:
                self.assertEqual(f.read().count('class="waiting"'), 10)
            self.assertLess(elapsed, 60, "the demo took %.1f s" % elapsed)


class Serve(unittest.TestCase):
    def test_serve_then_fetch_faults(self):
        with tempfile.TemporaryDirectory(prefix="ringfetch-serve-") as d:
            cert, portf = os.path.join(d, "cert.pem"), os.path.join(d, "port")
            srv = subprocess.Popen([harness.ringfetch_path(), "serve", "--tls", "--cert-out", cert,
                                    "--port-file", portf], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env=harness.child_env())
            try:
                deadline = time.monotonic() + 10
                def port_written():
                    if not os.path.exists(portf):
                        return False
                    with open(portf) as f:
                        return f.read().strip() != ""
                while not port_written():
                    self.assertLess(time.monotonic(), deadline, "serve did not start")
                    time.sleep(0.05)
                with open(portf) as f:
                    port = int(f.read())
                base = "https://localhost:%d/" % port
                cases = [("?size=5000", None, 5000), ("?chunked=1&size=3000", None, 3000),
                         ("?status=404", None, 3), ("?fault=close", "closed", 0),
                         ("?fault=reset&size=200000", "reset", None), ("?fault=bad-status", "bad_response", 0),
                         ("?fault=huge-headers", "too_large", 0), ("?fault=bad-chunk", "bad_response", None),
                         ("?fault=wrong-length", "closed", None), ("?fault=never", "read_timeout", 0)]
                urls = [base + q for q, _, _ in cases]
                res = harness.run(["fetch", "--cacert", cert, "--read-timeout", "1"] + urls, timeout=60)
                by_line = harness.check_lines(self, res.records, len(cases))
                for i, (q, err, size) in enumerate(cases, 1):
                    r = by_line[i]
                    self.assertEqual(r["error"], err, (q, r))
                    if err is None:
                        self.assertEqual(r["body_bytes"], size, (q, r))
                self.assertEqual(by_line[3]["status"], 404)
                self.assertEqual(res.code, 1)
            finally:
                srv.send_signal(signal.SIGTERM)
                out, err = srv.communicate(timeout=10)
            self.assertEqual(srv.returncode, 0, err.decode())
            self.assertIn("requests on", err.decode())


if __name__ == "__main__":
    harness.main(world=False)
