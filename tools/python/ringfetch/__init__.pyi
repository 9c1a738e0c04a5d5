from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from os import PathLike
from typing import Any, Literal, TypedDict

__version__: str
ENGINE_VERSION: str
ERROR_KINDS: tuple[str, ...]

_URL = str | bytes
_Headers = Mapping[str, str] | Iterable[tuple[str, str]] | None
_Data = bytes | bytearray | memoryview | str | Mapping[str, Any] | Iterable[tuple[str, Any]] | None
_Verify = bool | str | PathLike[str]

class Timings(TypedDict):
    dns: float
    connect: float
    tls: float
    ttfb: float
    total: float

class Headers(Mapping[str, str]):
    raw: list[tuple[str, str]]
    def __init__(self, raw: Iterable[tuple[str, str]] = ...) -> None: ...
    def __getitem__(self, name: str) -> str: ...
    def __iter__(self) -> Iterator[str]: ...
    def __len__(self) -> int: ...
    def get_list(self, name: str) -> list[str]: ...

class Response:
    url: str
    final_url: str
    status: int
    reason: str
    content: bytes
    error: str | None
    error_message: str
    reused: bool
    tls_resumed: bool
    attempts: int
    redirects: list[tuple[int, str]]
    http_version: str | None
    remote_addr: str
    sha256: bytes | None
    @property
    def status_code(self) -> int: ...
    @property
    def ok(self) -> bool: ...
    @property
    def headers(self) -> Headers: ...
    @property
    def elapsed(self) -> float: ...
    @property
    def timings(self) -> Timings: ...
    @property
    def encoding(self) -> str | None: ...
    @property
    def text(self) -> str: ...
    def json(self, **kwargs: Any) -> Any: ...
    def raise_for_status(self) -> Response: ...
    def __bool__(self) -> bool: ...

class RingfetchError(Exception): ...

class FetchError(RingfetchError):
    response: Response
    kind: str
    url: str
    def __init__(self, response: Response) -> None: ...

class HTTPStatusError(RingfetchError):
    response: Response
    status: int
    def __init__(self, response: Response) -> None: ...

class ConcurrencyWarning(UserWarning): ...

class Phases(TypedDict):
    dns: float
    connect: float
    tls: float
    ttfb: float
    total: float

class Stats(TypedDict):
    submitted: int
    completed: int
    failed: int
    conns_opened: int
    conns_reused: int
    tls_handshakes: int
    tls_resumed: int
    bytes_in: int
    bytes_out: int
    inflight: int
    peak_inflight: int
    open_conns: int
    peak_open_conns: int
    inflight_area_us: int
    busy_us: int
    queued_area_us: int
    active_area_us: int
    peak_active: int
    retries: int
    redirects: int
    idle: int
    batched_waits: int
    clock_us: int
    achieved_concurrency: float
    on_the_wire: float
    configured_concurrency: int
    reuse_ratio: float
    resumed_ratio: float
    phases: Phases
    requests: int
    warning: str | None

def map(
    urls: Iterable[_URL],
    *,
    concurrency: int = 100,
    per_host: int | None = None,
    timeout: float | None = 30,
    connect_timeout: float | None = 10,
    headers: _Headers = None,
    verify: _Verify = True,
    retries: int = 0,
    follow_redirects: bool = False,
    compressed: bool = False,
    method: str = "GET",
    data: _Data = None,
    json: Any = None,
    max_redirects: int = 20,
    sha256: bool = False,
    max_time: float | None = None,
    max_body: int | None = None,
    retry_delay: float | None = None,
    user_agent: str | None = None,
    resolve: Iterable[str] | None = None,
    dns_servers: str | None = None,
    hosts_file: str | None = None,
    proxy: str | None = None,
    no_proxy: str | None = None,
    retry_all_methods: bool = False,
    host_rate: float | None = None,
    robots: bool = False,
    robots_agent: str | None = None,
    http2: bool = False,
    pipeline: int | None = None,
    batch: float | None = None,
    idle_per_host: int | None = None,
    idle_timeout: float | None = None,
    strict_http: bool = False,
    http2_prior_knowledge: bool = False,
    http2_streams: int | None = None,
    tls_warmup: bool = True,
    dns_timeout: float | None = None,
    ip_version: Literal[4, 6] | None = None,
    happy_eyeballs: float | None = None,
    retry_max_delay: float | None = None,
    retry_max_time: float | None = None,
    max_ratio: int | None = None,
    max_idle: int | None = None,
) -> list[Response]: ...

def imap(
    urls: Iterable[_URL],
    *,
    concurrency: int = 100,
    per_host: int | None = None,
    timeout: float | None = 30,
    connect_timeout: float | None = 10,
    headers: _Headers = None,
    verify: _Verify = True,
    retries: int = 0,
    follow_redirects: bool = False,
    compressed: bool = False,
    method: str = "GET",
    data: _Data = None,
    json: Any = None,
    max_redirects: int = 20,
    sha256: bool = False,
    max_time: float | None = None,
    max_body: int | None = None,
    retry_delay: float | None = None,
    user_agent: str | None = None,
    resolve: Iterable[str] | None = None,
    dns_servers: str | None = None,
    hosts_file: str | None = None,
    proxy: str | None = None,
    no_proxy: str | None = None,
    retry_all_methods: bool = False,
    host_rate: float | None = None,
    robots: bool = False,
    robots_agent: str | None = None,
    http2: bool = False,
    pipeline: int | None = None,
    batch: float | None = None,
    idle_per_host: int | None = None,
    idle_timeout: float | None = None,
    strict_http: bool = False,
    http2_prior_knowledge: bool = False,
    http2_streams: int | None = None,
    tls_warmup: bool = True,
    dns_timeout: float | None = None,
    ip_version: Literal[4, 6] | None = None,
    happy_eyeballs: float | None = None,
    retry_max_delay: float | None = None,
    retry_max_time: float | None = None,
    max_ratio: int | None = None,
    max_idle: int | None = None,
) -> Iterator[Response]: ...

class Client:
    def __init__(
        self,
        *,
        raise_on_error: bool = False,
        concurrency: int = 100,
        per_host: int | None = None,
        timeout: float | None = 30,
        connect_timeout: float | None = 10,
        headers: _Headers = None,
        verify: _Verify = True,
        retries: int = 0,
        follow_redirects: bool = False,
        compressed: bool = False,
        method: str = "GET",
        data: _Data = None,
        json: Any = None,
        max_redirects: int = 20,
        sha256: bool = False,
        max_time: float | None = None,
        max_body: int | None = None,
        retry_delay: float | None = None,
        user_agent: str | None = None,
        resolve: Iterable[str] | None = None,
        dns_servers: str | None = None,
        hosts_file: str | None = None,
        proxy: str | None = None,
        no_proxy: str | None = None,
        retry_all_methods: bool = False,
        host_rate: float | None = None,
        robots: bool = False,
        robots_agent: str | None = None,
        http2: bool = False,
        pipeline: int | None = None,
        batch: float | None = None,
        idle_per_host: int | None = None,
        idle_timeout: float | None = None,
        strict_http: bool = False,
        http2_prior_knowledge: bool = False,
        http2_streams: int | None = None,
        tls_warmup: bool = True,
        dns_timeout: float | None = None,
        ip_version: Literal[4, 6] | None = None,
        happy_eyeballs: float | None = None,
        retry_max_delay: float | None = None,
        retry_max_time: float | None = None,
        max_ratio: int | None = None,
        max_idle: int | None = None,
    ) -> None: ...
    def __enter__(self) -> Client: ...
    def __exit__(self, *exc: object) -> Literal[False]: ...
    def close(self) -> None: ...
    def map(self, urls: Iterable[_URL], **request_options: Any) -> list[Response]: ...
    def imap(self, urls: Iterable[_URL], **request_options: Any) -> Iterator[Response]: ...
    def request(self, method: str, url: _URL, *, raise_on_error: bool | None = None,
                headers: _Headers = None, data: _Data = None, json: Any = None,
                follow_redirects: bool = ..., compressed: bool = ...,
                max_redirects: int = ..., sha256: bool = ...) -> Response: ...
    def get(self, url: _URL, **kw: Any) -> Response: ...
    def head(self, url: _URL, **kw: Any) -> Response: ...
    def post(self, url: _URL, data: _Data = None, json: Any = None, **kw: Any) -> Response: ...
    def put(self, url: _URL, data: _Data = None, json: Any = None, **kw: Any) -> Response: ...
    def patch(self, url: _URL, data: _Data = None, json: Any = None, **kw: Any) -> Response: ...
    def delete(self, url: _URL, **kw: Any) -> Response: ...
    def stats(self) -> Stats: ...

class AsyncClient:
    def __init__(
        self,
        *,
        raise_on_error: bool = False,
        concurrency: int = 100,
        per_host: int | None = None,
        timeout: float | None = 30,
        connect_timeout: float | None = 10,
        headers: _Headers = None,
        verify: _Verify = True,
        retries: int = 0,
        follow_redirects: bool = False,
        compressed: bool = False,
        method: str = "GET",
        data: _Data = None,
        json: Any = None,
        max_redirects: int = 20,
        sha256: bool = False,
        max_time: float | None = None,
        max_body: int | None = None,
        retry_delay: float | None = None,
        user_agent: str | None = None,
        resolve: Iterable[str] | None = None,
        dns_servers: str | None = None,
        hosts_file: str | None = None,
        proxy: str | None = None,
        no_proxy: str | None = None,
        retry_all_methods: bool = False,
        host_rate: float | None = None,
        robots: bool = False,
        robots_agent: str | None = None,
        http2: bool = False,
        pipeline: int | None = None,
        batch: float | None = None,
        idle_per_host: int | None = None,
        idle_timeout: float | None = None,
        strict_http: bool = False,
        http2_prior_knowledge: bool = False,
        http2_streams: int | None = None,
        tls_warmup: bool = True,
        dns_timeout: float | None = None,
        ip_version: Literal[4, 6] | None = None,
        happy_eyeballs: float | None = None,
        retry_max_delay: float | None = None,
        retry_max_time: float | None = None,
        max_ratio: int | None = None,
        max_idle: int | None = None,
    ) -> None: ...
    async def __aenter__(self) -> AsyncClient: ...
    async def __aexit__(self, *exc: object) -> Literal[False]: ...
    async def aclose(self) -> None: ...
    async def request(self, method: str, url: _URL, *, raise_on_error: bool | None = None,
                      headers: _Headers = None, data: _Data = None, json: Any = None,
                      follow_redirects: bool = ..., compressed: bool = ...,
                      max_redirects: int = ..., sha256: bool = ...) -> Response: ...
    async def get(self, url: _URL, **kw: Any) -> Response: ...
    async def head(self, url: _URL, **kw: Any) -> Response: ...
    async def post(self, url: _URL, data: _Data = None, json: Any = None, **kw: Any) -> Response: ...
    async def put(self, url: _URL, data: _Data = None, json: Any = None, **kw: Any) -> Response: ...
    async def patch(self, url: _URL, data: _Data = None, json: Any = None, **kw: Any) -> Response: ...
    async def delete(self, url: _URL, **kw: Any) -> Response: ...
    def imap(self, urls: Iterable[_URL] | AsyncIterable[_URL],
             **request_options: Any) -> AsyncIterator[Response]: ...
    async def map(self, urls: Iterable[_URL], **request_options: Any) -> list[Response]: ...
    async def stats(self) -> Stats: ...
