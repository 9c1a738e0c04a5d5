"""AsyncClient: the engine on its own thread, results handed to the asyncio
loop with call_soon_threadsafe (one call per batch of results: no polling).

The loop thread puts requests in an inbox (a deque) and wakes the engine
thread (rf_wake: an eventfd in the ring); the engine thread submits them,
waits in the ring with the GIL released, and posts each batch of finished
results to the loop, where they resolve futures (get) or feed queues
(imap)."""

import asyncio
import atexit
import collections
import itertools
import signal
import threading
import weakref

from . import _engine
from ._client import _Base, _window, derived_stats
from ._models import Response

_LIVE = weakref.WeakSet()


@atexit.register
def _stop_all():
    # an engine thread must not be inside the ring while the interpreter ends
    for c in list(_LIVE):
        c._stop_thread(timeout=5)


class AsyncClient(_Base):
    """asyncio counterpart of Client: ``async with AsyncClient() as c``,
    ``await c.get(url)``, ``async for r in c.imap(urls)``,
    ``await c.map(urls)``. Thousands of awaited requests overlap."""

    def __init__(self, **options):
        super().__init__(**options)
        self._tags = itertools.count(1)
        self._inbox = collections.deque()
        self._sinks = {}  # tag -> future or queue (loop thread only)
        self._thread = None
        self._eng = None
        self._loop = None
        self._closing = False
        self._wake_pending = False
        self._started = threading.Event()
        self._start_error = None

    # ---- lifecycle --------------------------------------------------------------
    async def __aenter__(self):
        self._start()
        return self

    async def __aexit__(self, *exc):
        await self.aclose()
        return False

    def _start(self):
        if self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._engine_thread, name="ringfetch-engine",
                                        daemon=True)
        self._thread.start()
        self._started.wait()
        if self._start_error is not None:
            self._thread.join()
            self._thread = None
            raise self._start_error
        _LIVE.add(self)

    async def aclose(self):
        """Ends the engine thread: requests still running are canceled."""
        if self._thread is None:
            return
        await asyncio.get_running_loop().run_in_executor(None, self._stop_thread, 30)

    def _stop_thread(self, timeout):
        t = self._thread
        if t is None:
            return
        self._closing = True
        if self._eng is not None:
            self._eng.wake()
        t.join(timeout)
        self._thread = None
        _LIVE.discard(self)

    # ---- the engine thread -----------------------------------------------------------
    def _engine_thread(self):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            eng = self._eng = _engine.Engine(**self._engine_kw)
        except BaseException as e:  # reported by _start in the loop's thread
            self._start_error = e
            self._started.set()
            return
        self._started.set()
        try:
            self._serve(eng)
        finally:
            self._eng = None
            eng.close()

    def _serve(self, eng):
        inbox = self._inbox
        held = None
        while True:
            self._wake_pending = False
            if self._closing:
                if held is not None:
                    inbox.appendleft(held)
                return self._shutdown(eng)
            while held is not None or inbox:
                if held is None:
                    held = inbox.popleft()
                if callable(held):  # a job to run on this thread (stats)
                    held()
                elif not held[0].submit(eng, held[1], held[2]):
                    break  # queue full: wait for results first
                held = None
            self._post_batch(eng.wait())

    def _shutdown(self, eng):
        """Every request still waiting or running gets its result, "canceled",
        so no awaiting task is left hanging."""
        inbox = self._inbox
        while True:
            eng.cancel_all()
            self._post_batch(eng.run(0))
            while inbox:
                item = inbox[0]
                if callable(item):
                    item()
                elif not item[0].submit(eng, item[1], item[2]):
                    break
                inbox.popleft()
            if not inbox and not eng.outstanding():
                return

    def _post_batch(self, batch):
        if batch:
            try:
                self._loop.call_soon_threadsafe(self._deliver, batch)
            except RuntimeError:  # the loop is closed: nobody is waiting
                self._closing = True

    # ---- the loop thread ---------------------------------------------------------------
    def _deliver(self, batch):
        sinks = self._sinks
        add = self._phases.add
        for t in batch:
            add(t[9])
            sink = sinks.pop(t[0], None)
            if sink is None:
                continue
            r = Response._from_tuple(t)
            if isinstance(sink, asyncio.Queue):
                sink.put_nowait(r)
            elif not sink.done():
                sink.set_result(r)

    def _post(self, spec, url, sink):
        tag = next(self._tags)
        self._sinks[tag] = sink
        self._inbox.append((spec, tag, url))
        self._wake()

    def _wake(self):
        if not self._wake_pending:
            self._wake_pending = True
            eng = self._eng
            if eng is not None:
                eng.wake()

    def _check_open(self):
        if self._closing:
            raise RuntimeError("the AsyncClient is closed")
        self._start()

    async def request(self, method, url, *, raise_on_error=None, **req):
        self._check_open()
        req["method"] = method
        fut = self._loop.create_future()
        self._post(self._spec(req), url, fut)
        return self._checked(await fut, raise_on_error)

    async def get(self, url, **kw):
        return await self.request("GET", url, **kw)

    async def head(self, url, **kw):
        return await self.request("HEAD", url, **kw)

    async def post(self, url, data=None, json=None, **kw):
        return await self.request("POST", url, data=data, json=json, **kw)

    async def put(self, url, data=None, json=None, **kw):
        return await self.request("PUT", url, data=data, json=json, **kw)

    async def patch(self, url, data=None, json=None, **kw):
        return await self.request("PATCH", url, data=data, json=json, **kw)

    async def delete(self, url, **kw):
        return await self.request("DELETE", url, **kw)

    async def imap(self, urls, **req):
        """Responses in completion order; `urls` (an iterable or an async
        iterable) is read lazily, a bounded window ahead."""
        self._check_open()
        spec = self._spec(req)
        q = asyncio.Queue()
        window = _window(self._concurrency)
        pending = 0
        ait = urls.__aiter__() if hasattr(urls, "__aiter__") else None
        it = None if ait is not None else iter(urls)
        done = False
        while True:
            while not done and pending < window:
                try:
                    u = await ait.__anext__() if ait is not None else next(it)
                except (StopIteration, StopAsyncIteration):
                    done = True
                    break
                self._post(spec, u, q)
                pending += 1
            if pending == 0:
                return
            r = await q.get()
            pending -= 1
            yield r

    async def map(self, urls, **req):
        """Responses in input order."""
        self._check_open()
        spec = self._spec(req)
        futs = []
        for u in urls:
            f = self._loop.create_future()
            self._post(spec, u, f)
            futs.append(f)
        return list(await asyncio.gather(*futs))

    async def stats(self):
        """As Client.stats(), read on the engine's thread."""
        self._check_open()
        fut = self._loop.create_future()

        def job():
            raw = self._eng.stats()
            self._loop.call_soon_threadsafe(fut.set_result, raw)
        self._inbox.append(job)
        self._wake()
        raw = await fut
        return derived_stats(raw, self._phases, self._concurrency, self._engine_kw["per_host"])
