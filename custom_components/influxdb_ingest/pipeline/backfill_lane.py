"""History's way into the writer: lines of a backfill job, written in the gaps of the live stream.

The lane shares the writer's lock, delivery and retry policy, so a live round waits for at
most one backfill request and a failure of either is waited out by both. String values
history cut to the target's limit are counted and kept whole like live ones (string_limit.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ..target.influx_api import InfluxError
from .backlog import Backlog
from .delivery import Delivery
from .outcomes import WriteOutcomes
from .serializer import CutValue
from .string_limit import CutStrings


class BackfillLane:
    """Writes history's lines between live rounds; `may_write` says when there is a gap."""

    def __init__(
        self,
        lock: asyncio.Lock,
        backlog: Backlog,
        delivery: Delivery,
        outcomes: WriteOutcomes,
        cut_strings: CutStrings,
        *,
        batch_size: int,
    ) -> None:
        self._lock = lock
        self._backlog = backlog
        self._delivery = delivery
        self._outcomes = outcomes
        self._cut_strings = cut_strings
        self._batch_size = batch_size

    @property
    def string_limit_bytes(self) -> int:
        """The longest string value history may write now: the live one (UTF-8 bytes)."""
        return self._cut_strings.limit_bytes

    async def keep_cut_values(self, cut: Sequence[CutValue]) -> None:
        """Count and keep whole the values history cut in lines now written, as live ones are.

        Under the writer's lock: the dead-letter file has one writer at a time, so a long
        value's record is never interleaved with another's.
        """
        if cut:
            async with self._lock:
                await self._cut_strings.keep_values(cut)

    def may_write(self) -> bool:
        """Whether history may be written now: live points first, backfill in their gaps.

        Not while a full live batch or spooled points wait, nor while a failure is waited
        out (once the wait is over, a backfill write is as good a probe as a live one).
        """
        return (
            not self._backlog.has_full_batch
            and not self._backlog.spool.points
            and self._outcomes.policy.due()
        )

    async def write(self, lines: list[str]) -> None:
        """Write lines of history between two live rounds, through the same delivery.

        Sent as batches of `batch_size`, one request at a time: a server on the same machine
        (the add-on) then stores history on one core and leaves the other to Home Assistant,
        which measurably keeps the event loop's lag down (docs/performance.md). Refused
        points are healed or dead-lettered like live ones; a retryable failure is recorded
        like a live one (the retry policy says when to try again) and raised. The caller
        keeps the lines and sends them again: its source still holds them, so history
        never takes the disk spool's room from live points.
        """
        size = self._batch_size
        stats = self._outcomes.stats
        async with self._lock:
            self._outcomes.policy.probing()
            for start in range(0, len(lines), size):
                # Under the lock nothing live is written meanwhile: the difference is history's.
                written_before = stats.points_written
                try:
                    await self._delivery.deliver(lines[start : start + size])
                except InfluxError as err:
                    stats.points_from_history += stats.points_written - written_before
                    self._outcomes.failed(err)
                    raise
                stats.points_from_history += stats.points_written - written_before
                self._outcomes.succeeded()
