"""A 2.x or 3.x stand-in served from an event loop of its own, in a thread.

The stand-ins (tests/support/standin_influxdb2.py, standin_influxdb3.py) are aiohttp apps
started from a test's event loop; a browser test has none, and the Home Assistant it drives
is another process, which reaches the stand-in on 127.0.0.1 like any server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import threading

from ..support.standin_core import StandIn


class StandInThread[S: StandIn]:
    """`standin` on its own loop in a daemon thread; start() it, stop() it, ask it with read()."""

    def __init__(self, standin: S) -> None:
        self.standin = standin
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=type(standin).__name__, daemon=True
        )

    @property
    def url(self) -> str:
        return self.standin.url

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.standin.start(), self._loop).result(30)

    def read[T](self, question: Callable[[S], T]) -> T:
        """`question(standin)` in the stand-in's loop, where its requests change it."""

        async def ask() -> T:
            return question(self.standin)

        return asyncio.run_coroutine_threadsafe(ask(), self._loop).result(30)

    def stop(self) -> None:
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.standin.stop(), self._loop).result(30)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)
        if not self._loop.is_closed():
            self._loop.close()
