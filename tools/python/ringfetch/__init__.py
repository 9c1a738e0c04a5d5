"""ringfetch: thousands of HTTP(S) requests at once from Python.

    import ringfetch
    responses = ringfetch.map(urls, concurrency=1000)      # input order
    for r in ringfetch.imap(urls):                         # completion order
        print(r.url, r.status, r.error)

The requests run on the ringfetch engine (C, io_uring, BoringSSL) with the
GIL released; failures are values (Response.error), never exceptions, in
map and imap. Client keeps connections, TLS sessions and DNS answers across
calls; AsyncClient does the same for asyncio. See the README's "From Python".
"""

from ._engine import ENGINE_VERSION
from ._models import ERROR_KINDS, FetchError, Headers, HTTPStatusError, Response, RingfetchError
from ._client import Client, ConcurrencyWarning, imap, map
from ._async import AsyncClient

__version__ = "0.1.0"

__all__ = ["map", "imap", "Client", "AsyncClient", "Response", "Headers", "FetchError",
           "ConcurrencyWarning",
           "HTTPStatusError", "RingfetchError", "ERROR_KINDS", "ENGINE_VERSION", "__version__"]
