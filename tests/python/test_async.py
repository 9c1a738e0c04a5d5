"""AsyncClient: awaited requests overlap; the engine runs on its own thread."""

import asyncio
import threading
import time

import pytest

import ringfetch


@pytest.mark.not_sanitized
def test_thousand_awaited_requests_overlap(world):
    async def main():
        async with ringfetch.AsyncClient(concurrency=1000) as c:
            t0 = time.monotonic()
            rs = await asyncio.gather(*(c.get(world.http_url("/second")) for _ in range(1000)))
            took = time.monotonic() - t0
            st = await c.stats()
        return rs, took, st
    rs, took, st = asyncio.run(main())
    assert [r.text for r in rs] == ["ok\n"] * 1000
    assert all(r.elapsed >= 0.99 for r in rs)
    assert took < 2.0, took  # 1,000 x 1 s, all at once
    assert st["peak_inflight"] > 900


def test_async_get_map_imap(world):
    ticks = 0

    async def ticker(stop):
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    async def main():
        stop = asyncio.Event()
        tick = asyncio.create_task(ticker(stop))
        async with ringfetch.AsyncClient(verify=world.ca_file) as c:
            r = await c.get(world.https_url("/small"))
            assert r.status == 200 and r.content == world.small_bytes
            urls = [world.https_url(p) for p in ("/pause", "/small", "/nope")]
            rs = await c.map(urls)
            assert [r.status for r in rs] == [200, 200, 404]
            got = [r.url async for r in c.imap(iter(urls))]
            assert got[-1].endswith("/pause") and sorted(got) == sorted(urls)

            async def agen():
                for u in urls:
                    yield u
            assert len([r async for r in c.imap(agen())]) == 3
            with pytest.raises(ringfetch.FetchError) as ei:
                await c.get("http://nowhere .test/", raise_on_error=True)
            assert ei.value.kind == "bad_url"
            r = await c.post(world.http_url("/echo"), data=b"abc")
            assert r.content == b"abc"
        stop.set()
        await tick
    asyncio.run(main())
    assert ticks > 20  # the loop kept running while requests waited (0.3 s x 2)


def test_async_client_thread_ends_on_close(world):
    before = threading.active_count()

    async def main():
        c = ringfetch.AsyncClient()
        async with c:
            assert threading.active_count() == before + 1
            # closing with requests still running ends them as "canceled"
            task = asyncio.ensure_future(c.get(world.http_url("/slow")))
            await asyncio.sleep(0.1)
        r = await asyncio.wait_for(task, 2)
        assert r.error == "canceled" and r.url == world.http_url("/slow")
        with pytest.raises(RuntimeError):
            await c.get(world.http_url("/small"))
    asyncio.run(main())
    assert threading.active_count() == before


@pytest.mark.not_sanitized
def test_no_polling_and_prompt_wakeups(world):
    async def main():
        async with ringfetch.AsyncClient() as c:
            await c.get(world.http_url("/small"))  # connection made
            # each request reaches the engine thread at once (rf_wake), and
            # its result comes straight back to the loop
            t0 = time.monotonic()
            for _ in range(20):
                assert (await c.get(world.http_url("/small"))).status == 200
            per_get = (time.monotonic() - t0) / 20
            # waiting on a slow request burns no CPU: both threads sleep
            task = asyncio.ensure_future(c.get(world.http_url("/pause")))
            cpu0 = time.process_time()
            r = await task
            cpu = time.process_time() - cpu0
        return per_get, cpu, r
    per_get, cpu, r = asyncio.run(main())
    assert r.status == 200
    assert per_get < 0.02, per_get
    assert cpu < 0.05, cpu  # 0.3 s of waiting
