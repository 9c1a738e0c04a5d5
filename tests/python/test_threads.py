"""Several Clients in several threads; the GIL is released while the engine waits."""

import hashlib
import threading
import time

import pytest

import ringfetch


def test_clients_in_threads(world):
    results = {}

    def work(i):
        with ringfetch.Client(verify=world.ca_file, concurrency=20) as c:
            rs = c.map([world.https_url("/small")] * 100)
            results[i] = [hashlib.sha256(r.content).hexdigest() for r in rs]
    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert sorted(results) == [0, 1, 2, 3]
    assert all(v == [world.small_sha] * 100 for v in results.values())


def test_gil_released_while_waiting(world):
    count = 0
    stop = threading.Event()

    def spin():
        nonlocal count
        while not stop.is_set():
            count += 1
            time.sleep(0.001)
    t = threading.Thread(target=spin)
    t.start()
    try:
        rs = ringfetch.map([world.http_url("/pause")] * 5)
    finally:
        stop.set()
        t.join()
    assert [r.status for r in rs] == [200] * 5
    assert count > 50  # the other thread ran during the 0.3 s wait


def test_client_belongs_to_its_thread(world):
    c = ringfetch.Client()
    assert c.get(world.http_url("/small")).status == 200
    err = []

    def other():
        try:
            c.get(world.http_url("/small"))
        except RuntimeError as e:
            err.append(str(e))
    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert err and "one Client per thread" in err[0]
    c.close()
    # a Client made in one thread and first used in another is fine
    c2 = ringfetch.Client()
    out = []
    t = threading.Thread(target=lambda: out.append(c2.get(world.http_url("/small")).status))
    t.start()
    t.join()
    assert out == [200]
    with pytest.raises(RuntimeError):
        c2.get(world.http_url("/small"))
