"""Getting one batch of lines stored, whatever InfluxDB answers.

413 splits the batch. A rejection is settled with what the server says: InfluxDB 3 names
each refused line (the rest is stored); 1.x and 2.x name a field type conflict and how
many points they dropped. What the healer can convert is sent again, what it cannot goes
to the dead-letter file with the server's message, and lines the server stored are not
sent again. When the answer names nothing usable, the batch is narrowed down by halves
until the single refused point is dead-lettered (points sent twice keep their timestamps,
so InfluxDB overwrites them). Retryable failures (unreachable, 5xx, 429, auth) are raised
to the writer, which keeps the batch and waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import logging
from pathlib import Path
import time

from ..target.heal import TypeHealer
from ..target.influx_api import (
    LIMIT_MESSAGES,
    REJECTED_LISTED_AT_MOST,
    InfluxClient,
    PayloadTooLarge,
    RejectedLine,
    WriteRejected,
)
from .backlog import RunInExecutor
from .dead_letter import append_dead_letters
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
            await self._settle(lines, err)
            return
        self._count_written(len(lines))
        self._stats.last_write_latency = time.monotonic() - started

    async def _settle(self, lines: list[str], err: WriteRejected) -> None:
        """Deal with a refusal using what the server said about it."""
        single_lines = all(line.count("\n") == 1 for line in lines)
        if err.rejected and single_lines:
            # Line numbers count lines of the body: only usable while no string field
            # holds a raw newline.
            await self._settle_named(lines, err.rejected)
        elif err.first_refused and single_lines:
            await self._settle_first_refused(lines, err.first_refused, str(err))
        elif self.healer.learn(str(err), lines[0] if len(lines) == 1 else None):
            self._learnt(str(err))
            affected = [line for line in lines if self.healer.touches(line)]
            if err.dropped == len(affected):  # exactly those were dropped, the rest stored
                self._count_written(len(lines) - len(affected))
                await self.deliver(affected)
            else:
                await self.deliver(lines)
        else:
            await self._narrow_down(lines, str(err))

    async def _settle_named(self, lines: list[str], rejected: tuple[RejectedLine, ...]) -> None:
        """InfluxDB 3 stored every line but those it names: heal or dead-letter those.

        A list as long as the documented cap may have been cut: the lines after the last
        one named are sent again (where they were stored, an overwrite), so no line is
        counted as written that the server may have refused without naming it.
        """
        refused = {refusal.line_number - 1: refusal.message for refusal in rejected}
        if not all(0 <= index < len(lines) for index in refused):
            await self._narrow_down(lines, rejected[0].message)
            return
        unknown = lines[max(refused) + 1 :] if len(refused) >= REJECTED_LISTED_AT_MOST else []
        self._count_written(len(lines) - len(refused) - len(unknown))
        again: list[str] = []
        for index, message in sorted(refused.items()):
            line = lines[index]
            if self.healer.learn(message, line):
                self._learnt(message)
            if self.healer.touches(line):  # converts (or refuses) it now: send it through again
                again.append(line)
                continue
            if message.startswith(LIMIT_MESSAGES):
                self._stats.limit_refusal = message
            await self._dead_letter([line], message)
        if again or unknown:
            await self.deliver(again + unknown)

    async def _settle_first_refused(self, lines: list[str], refused: RejectedLine, reason: str) -> None:
        """InfluxDB 3 stored nothing and named the first line it refused.

        That line is healed or dead-lettered, the others are sent again (those before it
        were valid; those after it were not looked at).
        """
        index = refused.line_number - 1
        if not 0 <= index < len(lines):
            await self._narrow_down(lines, reason)
            return
        line = lines[index]
        if self.healer.learn(refused.message, line):
            self._learnt(refused.message)
        if self.healer.touches(line):  # converts (or refuses) it now
            await self.deliver(lines)
            return
        if refused.message.startswith(LIMIT_MESSAGES):
            self._stats.limit_refusal = refused.message
        await self._dead_letter([line], reason)
        if rest := lines[:index] + lines[index + 1 :]:
            await self.deliver(rest)

    def _learnt(self, message: str) -> None:
        _LOGGER.warning("Converting to the type InfluxDB already holds: %s", message)
        self._stats.points_healed_batches += 1

    def _count_written(self, points: int) -> None:
        self._stats.points_written += points
        self._stats.last_write_time = time.time()

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
            if any(limit in message for limit in LIMIT_MESSAGES):  # 3.x compatibility APIs name no line
                self._stats.limit_refusal = message
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
