"""Getting one batch of lines stored, whatever InfluxDB answers.

413 splits the batch; a rejection teaches the type healer, or is narrowed down by
splitting until the single refused point goes to the dead-letter file. Retryable failures
(unreachable, 5xx, 429, auth) are raised to the writer, which keeps the batch and waits.
Points the server stored from a partial write are sent again: same timestamps, so
InfluxDB overwrites them instead of duplicating.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import logging
from pathlib import Path
import time

from .backlog import RunInExecutor
from .dead_letter import append_dead_letters
from .heal import TypeHealer
from .influx_api import InfluxClient, PayloadTooLarge, WriteRejected
from .log_throttle import LogThrottle
from .stats import WriterStats

_LOGGER = logging.getLogger(__name__)

# Dead letters are logged at most this often (seconds), with the running total.
_LOG_INTERVAL = 60.0


class Delivery:
    """Sends batches to one target; counts what was written and what was refused."""

    def __init__(
        self,
        client: InfluxClient,
        stats: WriterStats,
        *,
        dead_letter_path: Path,
        write_timeout: float,
        run_in_executor: RunInExecutor,
        while_sending: Callable[[], bool],
    ) -> None:
        self.client = client
        self.healer = TypeHealer()
        self.dead_letter_path = dead_letter_path
        self._stats = stats
        self._write_timeout = write_timeout
        self._run = run_in_executor
        # Work to do while a request is on its way (serializing the next batch); returns
        # False when there is nothing left to do.
        self._while_sending = while_sending
        self._dead_letter_log = LogThrottle(_LOG_INTERVAL)

    async def deliver(self, lines: list[str]) -> None:
        """Write lines until each is stored or dead-lettered; raise on retryable failures."""
        lines, refused = self.healer.apply(lines)
        for line, message in refused:  # known to fail: no need to narrow them down
            await self._dead_letter([line], message)
        if not lines:
            return
        started = time.monotonic()
        try:
            await self._send("".join(lines).encode())
        except PayloadTooLarge as err:
            await self._narrow_down(lines, str(err))
            return
        except WriteRejected as err:
            if self.healer.learn(str(err)):
                _LOGGER.warning("Converting to the type InfluxDB already holds: %s", err)
                self._stats.points_healed_batches += 1
                await self.deliver(lines)
            else:
                await self._narrow_down(lines, str(err))
            return
        self._stats.points_written += len(lines)
        self._stats.last_write_time = time.time()
        self._stats.last_write_latency = time.monotonic() - started

    async def _send(self, body: bytes) -> None:
        """Write one request; while it is on its way, do the `while_sending` work."""
        sending = asyncio.ensure_future(self.client.write(body, self._write_timeout))
        try:
            while not sending.done() and self._while_sending():  # noqa: ASYNC110  # the work is the condition
                await asyncio.sleep(0)
            await sending
        finally:
            sending.cancel()  # only has an effect when we are cancelled ourselves

    async def _narrow_down(self, lines: list[str], message: str) -> None:
        """Deliver each half on its own, until a single refused line is dead-lettered."""
        if len(lines) == 1:
            await self._dead_letter(lines, message)
            return
        middle = len(lines) // 2
        await self.deliver(lines[:middle])
        await self.deliver(lines[middle:])

    async def _dead_letter(self, lines: list[str], message: str) -> None:
        await self._run(append_dead_letters, self.dead_letter_path, lines, message)
        self._stats.points_dead_lettered += len(lines)
        self._stats.remember_error(message)
        if self._dead_letter_log.due():
            _LOGGER.warning(
                "InfluxDB refused points; %d so far are kept in %s. Latest reason: %s",
                self._stats.points_dead_lettered,
                self.dead_letter_path,
                message,
            )
