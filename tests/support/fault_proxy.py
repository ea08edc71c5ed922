"""A fault-injecting HTTP reverse proxy to put in front of a real server.

The real `influxd` cannot be told to answer 503, stall or drop a connection on demand, yet
those are exactly the failures the writer must survive. The proxy forwards everything to the
real server and, for the next write requests only, applies faults queued with `inject()`:
an injected status, a delay, or a dropped connection. Queries always pass through, so tests
can check what really landed. Every write request is recorded in `log`, and with its body
in `writes`: what reached the server, point by point, is what exactly-once is measured by.
`ProxyThread` runs a proxy on its own event loop, for tests that have none (the crash tests).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
import json
import re
import threading

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from .servers import free_port

WRITE_PATH_SUFFIXES = ("/write", "/api/v2/write", "/api/v3/write_lp")

# RFC 9110 §7.6.1 hop-by-hop headers: they describe one connection, never the proxied message.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# aiohttp recomputes these for the request/response it sends itself; the body it read is
# already decompressed, so it is forwarded without its encoding.
_SKIP_REQUEST = _HOP_BY_HOP | {"host", "content-length", "content-encoding"}
# The client session has already decompressed the body, so its length and encoding are stale.
_SKIP_RESPONSE = _HOP_BY_HOP | {"content-length", "content-encoding"}


@dataclass(frozen=True)
class Status:
    """Answer the write with this status without forwarding it (e.g. 503 + Retry-After, 429, 500)."""

    code: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str = '{"error":"injected"}'


@dataclass(frozen=True)
class Delay:
    """Wait, then forward: a slow server. The client may give up first; the write still lands."""

    seconds: float


@dataclass(frozen=True)
class Reset:
    """Drop the connection without any HTTP answer: a crash or network cut mid-request."""


@dataclass(frozen=True)
class Forward:
    """Pass the write through unchanged: to interleave successes between faults."""


type Fault = Status | Delay | Reset | Forward

_ACCEPTED = re.compile(r"forwarded 2\d\d")
_PARTIAL = re.compile(r"forwarded 4\d\d")


@dataclass(frozen=True)
class Write:
    """One write request as the proxy saw it: when it came, what became of it, its body
    (decompressed, as the server parses it) and the server's answer."""

    arrived: float
    outcome: str
    body: bytes
    answer: bytes = b""

    @property
    def accepted(self) -> bool:
        """The server stored it and said so (2xx), whether or not the client heard."""
        return _ACCEPTED.search(self.outcome) is not None

    def stored_lines(self) -> list[bytes]:
        """The lines the server said it stored: all of a 2xx, and those an InfluxDB 3 partial
        write (400/422 naming each refused `line_number`, 1-based) did not name. A 1.x/2.x
        partial write names no line (`dropped=N`): none is counted. (Lines are split at
        newlines: for bodies without raw newlines in string fields, as the scenarios send.)"""
        lines = self.body.splitlines()
        if self.accepted:
            return lines
        if not _PARTIAL.search(self.outcome):
            return []
        try:
            refused = {int(item["line_number"]) for item in json.loads(self.answer)["data"]}
        except ValueError, KeyError, TypeError:
            return []
        return [line for number, line in enumerate(lines, 1) if number not in refused]

    @property
    def answer_lost(self) -> bool:
        """The client had gone (its timeout, its crash) before the answer came back."""
        return self.outcome.endswith("(client gone)")


@dataclass
class FaultProxy:
    """Reverse proxy to `upstream` on 127.0.0.1:`port`, running in the current event loop.

    `inject(*faults)` queues faults; each is consumed by one write request (POST to a path
    ending in one of WRITE_PATH_SUFFIXES). While `down` is True every write and `/ping`
    is reset (an outage: a server that answers `/ping` is up, and a write it drops is taken
    for a line it dies on) and the queue is left untouched; queries pass, for the tests.
    `log` holds (arrival loop time, outcome) per write, appended once the outcome is known:
    "forwarded 204", "status 503", "delay 2.0 forwarded 204", "reset", "reset (down)",
    "upstream error ...". Forwarded outcomes get " (client gone)" when the client disconnected
    before the answer.
    """

    upstream: str
    port: int = field(default_factory=free_port)
    down: bool = False
    faults: deque[Fault] = field(default_factory=deque)
    log: list[tuple[float, str]] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)
    # The Content-Encoding of every write request as the client sent it ("" for none).
    encodings: list[str] = field(default_factory=list)
    upstream_timeout: float = 60.0
    _runner: web.AppRunner | None = field(default=None, init=False, repr=False)
    _session: aiohttp.ClientSession | None = field(default=None, init=False, repr=False)
    _writes_in_flight: int = field(default=0, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def writes_forwarded(self) -> int:
        """Write requests that reached upstream (with or without a delay)."""
        return sum("forwarded" in outcome for _, outcome in self.log)

    async def settled_writes(self, timeout: float = 30.0) -> list[Write]:
        """`writes`, once no write request is on its way through the proxy.

        A write is recorded when its answer comes back, and a server in the test's own
        process (the InfluxDB 3 stand-in) has stored it before that: a test that saw the
        points stored must wait for this before it counts what the server accepted.
        """
        async with asyncio.timeout(timeout):
            while self._writes_in_flight:  # noqa: ASYNC110  # the proxy's handlers run in this loop
                await asyncio.sleep(0.01)
        return list(self.writes)

    def count(self, outcome_prefix: str) -> int:
        """Write requests whose outcome starts with `outcome_prefix` ("status 503", "reset", ...)."""
        return sum(outcome.startswith(outcome_prefix) for _, outcome in self.log)

    def inject(self, *faults: Fault) -> None:
        """Queue faults for the next write requests, in order, one write each."""
        self.faults.extend(faults)

    async def start(self) -> None:
        # No cookie jar and no redirects: the proxy must be transparent, not a browser.
        self._session = aiohttp.ClientSession(
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=self.upstream_timeout),
        )
        app = web.Application(client_max_size=64 * 1024**2)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # A short shutdown timeout so stop() does not wait for a long injected Delay.
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
            self._runner = None
        if self._session:
            await self._session.close()
            self._session = None

    @staticmethod
    def is_write(request: web.BaseRequest) -> bool:
        return request.method == "POST" and request.path.endswith(WRITE_PATH_SUFFIXES)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        # Read the whole body first: faults hit after the client has sent its request.
        body = await request.read()
        if self.down and request.path.endswith("/ping"):
            return self._reset(request)
        if not self.is_write(request):
            response, _ = await self._forward(request, body)
            return response
        self._writes_in_flight += 1
        try:
            return await self._handle_write(request, body)
        finally:
            self._writes_in_flight -= 1

    async def _handle_write(self, request: web.Request, body: bytes) -> web.StreamResponse:
        """Apply the next fault (or forward) to a write request, and record it."""
        arrived = asyncio.get_running_loop().time()
        self.encodings.append(request.headers.get("Content-Encoding", ""))
        if self.down:
            return self._record(arrived, body, "reset (down)", self._reset(request))
        fault = self.faults.popleft() if self.faults else Forward()
        match fault:
            case Status(code, headers, text):
                answer = CIMultiDict(headers)
                answer.setdefault("Content-Type", "application/json")
                response = web.Response(status=code, body=text.encode(), headers=answer)
                return self._record(arrived, body, f"status {code}", response)
            case Reset():
                return self._record(arrived, body, "reset", self._reset(request))
            case Delay(seconds):
                await asyncio.sleep(seconds)
                response, outcome = await self._forward(request, body)
                return self._record(arrived, body, f"delay {seconds} {outcome}", response, request)
            case Forward():
                response, outcome = await self._forward(request, body)
                return self._record(arrived, body, outcome, response, request)

    def _record(
        self,
        arrived: float,
        body: bytes,
        outcome: str,
        response: web.StreamResponse,
        request: web.BaseRequest | None = None,
    ) -> web.StreamResponse:
        if request is not None and (request.transport is None or request.transport.is_closing()):
            outcome += " (client gone)"
        self.log.append((arrived, outcome))
        answer = response.body if isinstance(response, web.Response) else None
        self.writes.append(Write(arrived, outcome, body, answer if isinstance(answer, bytes) else b""))
        return response

    @staticmethod
    def _reset(request: web.BaseRequest) -> web.StreamResponse:
        """Abort the connection; aiohttp then fails to send the returned response, silently."""
        if request.transport is not None:
            request.transport.abort()
        return web.Response()

    async def _forward(self, request: web.BaseRequest, body: bytes) -> tuple[web.StreamResponse, str]:
        """Send the request upstream and mirror its answer; returns (response, outcome)."""
        assert self._session is not None, "FaultProxy.start() was not awaited"
        url = URL(self.upstream.rstrip("/") + request.rel_url.raw_path_qs, encoded=True)
        headers = CIMultiDict(
            (name, value) for name, value in request.headers.items() if name.lower() not in _SKIP_REQUEST
        )
        try:
            async with self._session.request(
                request.method,
                url,
                headers=headers,
                data=body or None,
                allow_redirects=False,
                skip_auto_headers=("Accept-Encoding", "User-Agent", "Content-Type"),
            ) as upstream:
                payload = await upstream.read()
                status = upstream.status
                answer = CIMultiDict(
                    (name, value)
                    for name, value in upstream.headers.items()
                    if name.lower() not in _SKIP_RESPONSE
                )
        except (aiohttp.ClientError, TimeoutError) as err:
            # Upstream is gone: the client should see what it would see without the proxy.
            return self._reset(request), f"upstream error {type(err).__name__}"
        return web.Response(status=status, body=payload, headers=answer), f"forwarded {status}"


class ProxyThread:
    """A FaultProxy on an event loop of its own in a thread: for a Home Assistant in another
    process (tests/test_crash.py), whose test has no event loop."""

    def __init__(self, upstream: str) -> None:
        self.proxy = FaultProxy(upstream=upstream)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)

    @property
    def url(self) -> str:
        return self.proxy.url

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.proxy.start(), self._loop).result(30)

    def writes(self) -> list[Write]:
        """The write requests so far (copied in the proxy's loop, where they are appended)."""

        async def copy() -> list[Write]:
            return list(self.proxy.writes)

        return asyncio.run_coroutine_threadsafe(copy(), self._loop).result(30)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.proxy.stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop.close()
