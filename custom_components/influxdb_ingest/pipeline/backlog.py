"""Everything not yet written, oldest first, behind one small interface.

Points wait in four places, newest to oldest: raw events from the bus (EventBuffer), the
batch being filled (serialized lines), full batches in memory, and the disk spool. The
writer only asks for the oldest batches (`oldest`), marks those InfluxDB stored, and
acknowledges them (`acknowledge`); memory batches and spooled batches look the same to
it. `fill_chunk` serializes a few events at a time, so few Home Assistant objects are
held and the loop never blocks; `spill` keeps memory bounded by moving the oldest
batches to disk.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
import itertools
import logging
import time
from typing import Any

from homeassistant.core import Event

from .buffer import EventBuffer
from .log_throttle import LogThrottle
from .serializer import LineSerializer
from .spool import DiskSpool, SpoolCorrupt, SpoolRecord, encode_lines
from .stats import DropReason, WriterStats

_LOGGER = logging.getLogger(__name__)

# Events serialized between two yields to the event loop, so a big batch never blocks it.
CHUNK = 200
# Unserializable events are logged at most this often (seconds), with the running total.
_LOG_INTERVAL = 60.0

type RunInExecutor = Callable[..., Awaitable[Any]]


@dataclass(slots=True, eq=False)  # batches are told apart by identity
class Batch:
    """Serialized lines, one per point (string fields may hold raw newlines)."""

    lines: list[str]
    created: float  # when it was serialized: about when its oldest event fired
    record: SpoolRecord | None = None  # where it sits in the spool, once spooled
    stored: bool = False  # InfluxDB has it; it leaves once the older ones have left

    @property
    def count(self) -> int:
        """Points in the batch."""
        return len(self.lines)


class Backlog:
    """Raw events -> the batch being filled -> batches in memory -> disk spool."""

    def __init__(
        self,
        serializer: LineSerializer,
        spool: DiskSpool,
        stats: WriterStats,
        *,
        batch_size: int,
        max_events: int,
        run_in_executor: RunInExecutor,
        on_chunk_ready: Callable[[], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._events = EventBuffer(max_events, CHUNK, on_chunk_ready)
        self._serializer = serializer
        self._filling: list[str] = []  # the batch being filled
        self._filling_since = 0.0
        self._batches: deque[Batch] = deque()  # full batches in memory, oldest first
        self._batched_points = 0
        self._spooled: list[Batch] = []  # spooled batches read ahead for writing, oldest first
        self.spool = spool
        self._stats = stats
        self._batch_size = batch_size
        self._run = run_in_executor
        self._clock = clock  # wall clock (epoch seconds), like the events' time_fired
        self._unserializable_log = LogThrottle(_LOG_INTERVAL)
        self._spool_drop_log = LogThrottle()

    def add(self, event: Event[Any]) -> None:
        """Take one event from the bus listener (O(1)); count it as dropped when full."""
        self._stats.events_received += 1
        if not self._events.append(event):
            self._stats.drop(DropReason.QUEUE_FULL)

    @property
    def events_waiting(self) -> int:
        """Raw events not yet serialized."""
        return len(self._events)

    @property
    def points_in_memory(self) -> int:
        """Raw events and serialized points not yet written or spooled."""
        return len(self._events) + len(self._filling) + self._batched_points

    @property
    def points(self) -> int:
        """Everything not yet written: memory and spool."""
        return self.points_in_memory + self.spool.points

    @property
    def has_full_batch(self) -> bool:
        """Whether a full batch waits in memory (then a write is due)."""
        return bool(self._batches)

    @property
    def oldest_waiting_since(self) -> float | None:
        """When the oldest point still waiting was queued (epoch seconds)."""
        if (spooled := self.spool.oldest_created) is not None:
            return spooled
        return self.oldest_in_memory_since

    @property
    def oldest_in_memory_since(self) -> float | None:
        """When the oldest point not yet on disk nor written was queued (epoch seconds)."""
        if self._batches:
            return self._batches[0].created
        if self._filling:
            return self._filling_since
        return self._events.oldest_time_fired

    async def open(self) -> None:
        """Index the spool left by the last run (in the executor)."""
        damage = await self._run(self.spool.open)
        self._stats.spool_torn_records += damage.torn_records
        if self.spool.points:
            _LOGGER.info("Replaying %d points spooled to disk before the last stop", self.spool.points)

    # Filling: events become lines.

    def fill_chunk(self) -> bool:
        """Serialize up to one chunk of events into the batch being filled; True if more wait.

        No await in here: an event leaves the buffer only as a line of the batch being
        filled, so a cancellation can never lose one. Also run while a write is on its
        way (Delivery's `while_sending`), so the next batch is ready when it is stored.
        """
        lines = self._filling
        if not lines:
            self._filling_since = self._clock()
        for event in self._events.take(min(CHUNK, self._batch_size - len(lines))):
            try:
                line = self._serializer.line(event)
            except Exception:  # a bug or an exotic value must not stop the pipeline
                self._stats.drop(DropReason.UNSERIALIZABLE)
                if self._unserializable_log.due():
                    _LOGGER.exception(
                        "Cannot serialize a %s event for %s; it is dropped (%d so far, in the"
                        " points dropped counter)",
                        event.event_type,
                        event.data.get("entity_id", "-"),
                        self._stats.dropped[DropReason.UNSERIALIZABLE],
                    )
                continue
            if line is None:
                self._stats.events_without_point += 1
            else:
                lines.append(line + "\n")
        if len(lines) >= self._batch_size:
            self.close_batch()
        return bool(len(self._events))

    async def fill_batch(self) -> None:
        """Serialize events until one more full batch is in memory or none are left."""
        batches = len(self._batches)
        while len(self._events) and len(self._batches) == batches:
            self.fill_chunk()
            await asyncio.sleep(0)  # a chunk at a time: let the loop run

    async def fill_all(self) -> None:
        """Serialize every waiting event, yielding between chunks; the last stay unbatched."""
        while self.fill_chunk():  # noqa: ASYNC110  # the work is the condition; yield between chunks
            await asyncio.sleep(0)

    def close_batch(self) -> None:
        """Put the batch being filled, however small, among the memory batches."""
        if self._filling:
            self._batches.append(Batch(self._filling, self._filling_since))
            self._batched_points += len(self._filling)
            self._filling = []

    async def batch_all(self) -> None:
        """Serialize every waiting event and close the batch being filled."""
        await self.fill_all()
        self.close_batch()

    # Keeping memory bounded.

    async def spill(self, keep_in_memory: int) -> None:
        """Move the oldest memory batches to the spool until `keep_in_memory` points remain.

        One append for all of them: one sync, and they leave memory only once on disk.
        """
        moving = 0
        points = self._batched_points
        while moving < len(self._batches) and points > keep_in_memory:
            points -= self._batches[moving].count
            moving += 1
        if not moving:
            return
        # Encoded here, not in the executor: big allocations in executor threads would
        # each grow their own malloc arena, kept after the outage.
        entries = [
            (encode_lines(batch.lines), batch.count, batch.created)
            for batch in itertools.islice(self._batches, moving)
            if not batch.stored
        ]
        dropped = await self._run(self.spool.append, entries) if entries else 0
        if dropped:
            self._spooled.clear()  # they may have been among the dropped records
            self._dropped_from_spool(DropReason.SPOOL_BUDGET, dropped, "it is over its size budget")
        for _ in range(moving):
            self._batched_points -= self._batches.popleft().count

    async def drop_expired(self) -> None:
        """Drop spooled points older than the age limit."""
        oldest = self.spool.oldest_created
        if oldest is not None and self._clock() - oldest > self.spool.max_age:
            dropped = await self._run(self.spool.drop_expired, self._clock())
            self._spooled.clear()
            self._dropped_from_spool(DropReason.SPOOL_AGE, dropped, "they waited longer than the age limit")

    def _dropped_from_spool(self, reason: DropReason, points: int, why: str) -> None:
        self._stats.drop(reason, points)
        if self._spool_drop_log.due():
            _LOGGER.warning("Dropping the oldest spooled points because %s (%d so far)", why, points)

    # Writing: the oldest batches out, acknowledged oldest first.

    async def oldest(self, count: int) -> list[Batch]:
        """Up to `count` of the oldest batches (spool first), serializing when only events wait.

        Empty when nothing waits at all. Batches already stored are among them until they
        are acknowledged: send only those not `stored`.
        """
        while len(self.spool):
            if batches := await self._read_spooled(count):
                return batches
        while not self._batches and (len(self._events) or self._filling):
            await self.fill_batch()
            self.close_batch()
        if not self._batches:
            self._spool_drop_log.end_episode()
        return list(itertools.islice(self._batches, count))

    async def _read_spooled(self, count: int) -> list[Batch]:
        """The `count` oldest spooled batches, read once and kept while they are retried.

        A corrupt record is dropped (counted, logged) once it is the oldest; until then the
        read-ahead stops before it.
        """
        batches = self._spooled
        for record in await self._run(self.spool.oldest, count):
            if any(batch.record is record for batch in batches):
                continue
            try:
                lines = await self._run(self.spool.read, record)
            except SpoolCorrupt as err:
                if batches:
                    break
                _LOGGER.error("Spool record dropped: %s (%d points)", err, err.record.points)
                self._stats.drop(DropReason.SPOOL_CORRUPT, err.record.points)
                await self._run(self.spool.ack, err.record)
                break
            batches.append(Batch(lines, record.created, record))
        return batches[:count]

    async def acknowledge(self) -> None:
        """Let stored batches leave, oldest first (a spooled one also leaves the disk)."""
        while self._spooled and self._spooled[0].stored:
            record = self._spooled.pop(0).record
            await self._run(self.spool.ack, record)
        if self._spooled:
            return  # memory batches are younger than any spooled one
        while self._batches and self._batches[0].stored:
            self._batched_points -= self._batches.popleft().count
