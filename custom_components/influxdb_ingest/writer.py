"""Batching, retrying writer: turns queued events into line protocol and sends it.

Batches by size (a full batch wakes the writer) and by time (flush interval). A batch
that fails to send is kept and retried with capped exponential backoff, so an outage
costs queue space, not data. Only the bounded queue's overflow and points the server
refuses are dropped, and both are counted and logged.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
import contextlib
from dataclasses import dataclass, field
import logging
import random
import re
import time

from homeassistant.core import Event, EventStateChangedData

from .buffer import EventBuffer
from .const import RETRY_INITIAL_DELAY, RETRY_MAX_DELAY, WRITE_TIMEOUT
from .influx_api import InfluxClient, InfluxError, PayloadTooLarge, ServerBusy, WriteRejected
from .line_protocol import points_to_lines
from .metadata import EntityMetadata
from .normalize import state_change_to_point
from .point import Point

_LOGGER = logging.getLogger(__name__)

# Events normalized between two yields to the event loop, so a big batch never blocks it.
_NORMALIZE_CHUNK = 200
# InfluxDB 1.x reports how many points of a partial write it dropped.
_DROPPED_COUNT = re.compile(r"dropped=(\d+)")


@dataclass
class WriterStats:
    """Counters and last outcomes, for diagnostics and health entities."""

    events_received: int = 0
    points_written: int = 0
    points_rejected: int = 0
    points_lost_at_shutdown: int = 0
    write_errors: int = 0
    last_write_time: float | None = None
    last_error: str | None = None
    rejections: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Batch:
    """Serialized lines ready to send, one per point.

    Kept as a list, not one body: string fields may hold raw newlines, so a body cannot be
    split back into points by newline.
    """

    lines: list[str]

    @property
    def count(self) -> int:
        return len(self.lines)

    @property
    def body(self) -> bytes:
        return "".join(self.lines).encode()


class BatchWriter:
    """Owns the event buffer and the loop that drains it into InfluxDB."""

    def __init__(
        self,
        client: InfluxClient,
        *,
        lookup_metadata: Callable[[str], EntityMetadata],
        measurement: str,
        batch_size: int,
        flush_interval: float,
        max_queue_size: int,
    ) -> None:
        self.client = client
        self._lookup_metadata = lookup_metadata
        self._measurement = measurement
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._wakeup = asyncio.Event()
        self.buffer = EventBuffer(max_queue_size, batch_size, self._wakeup.set)
        self.stats = WriterStats()
        # Serialized batches not yet acknowledged, oldest first; a 413 replaces the first
        # one by its two halves, so a half that landed is never sent again.
        self._pending: deque[_Batch] = deque()
        self._retry_delay = RETRY_INITIAL_DELAY
        self._failing = False
        # Last timestamp written per entity: two changes in the same microsecond must not
        # overwrite each other (same series + same time is an overwrite in InfluxDB).
        self._last_time_ns: dict[str, int] = {}

    @property
    def points_dropped(self) -> int:
        """Every point that will never be written, whatever the reason."""
        return self.buffer.dropped + self.stats.points_rejected + self.stats.points_lost_at_shutdown

    @property
    def points_waiting(self) -> int:
        """Events queued plus points serialized but not yet acknowledged."""
        return len(self.buffer) + sum(batch.count for batch in self._pending)

    def enqueue(self, event: Event[EventStateChangedData]) -> None:
        """Accept one event from the bus listener (O(1))."""
        self.stats.events_received += 1
        self.buffer.append(event)

    async def run(self) -> None:
        """Background loop: wait for a full batch or the flush interval, then drain."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._flush_interval):
                    await self._wakeup.wait()
            self._wakeup.clear()
            await self.drain(retry=True)

    async def drain(self, *, retry: bool) -> None:
        """Write everything queued; with `retry`, wait out failures instead of returning."""
        while self._pending or len(self.buffer):
            if not self._pending:
                self._pending.append(await self._next_batch())
            batch = self._pending[0]
            try:
                await self._send(batch)
            except PayloadTooLarge:
                self._pending.popleft()
                if batch.count <= 1:
                    self._reject(batch, "a single point is larger than the server accepts")
                else:
                    self._pending.extendleft(reversed(_split(batch)))
                continue
            except InfluxError as err:
                self._record_failure(err)
                if not retry:
                    raise
                await asyncio.sleep(self._next_delay(err))
                continue
            self._pending.popleft()
            self._record_recovery()

    async def _next_batch(self) -> _Batch:
        """Normalize and serialize up to one batch of queued events, yielding in chunks."""
        events = self.buffer.take(self._batch_size)
        points: list[Point] = []
        try:
            for start in range(0, len(events), _NORMALIZE_CHUNK):
                chunk = events[start : start + _NORMALIZE_CHUNK]
                points.extend(self._to_point(event) for event in chunk)
                if start + _NORMALIZE_CHUNK < len(events):
                    await asyncio.sleep(0)
        except asyncio.CancelledError:
            self.buffer.put_back(events)  # stopping mid-batch must not lose the batch
            raise
        return _Batch(points_to_lines(points))

    def _to_point(self, event: Event[EventStateChangedData]) -> Point:
        entity_id = event.data["entity_id"]
        point = state_change_to_point(event, self._lookup_metadata(entity_id), self._measurement)
        last = self._last_time_ns.get(entity_id)
        if last is not None and point.time_ns <= last:
            point.time_ns = last + 1
        self._last_time_ns[entity_id] = point.time_ns
        return point

    async def _send(self, batch: _Batch) -> None:
        """Send one batch; count and log points the server refuses instead of retrying them."""
        try:
            await self.client.write(batch.body, WRITE_TIMEOUT)
        except WriteRejected as err:
            self._reject(batch, str(err))
            return
        self.stats.points_written += batch.count
        self.stats.last_write_time = time.time()

    def _reject(self, batch: _Batch, message: str) -> None:
        """The server refused points: never retry them blindly, count and log them."""
        match = _DROPPED_COUNT.search(message)
        rejected = int(match.group(1)) if match else batch.count
        self.stats.points_rejected += rejected
        self.stats.points_written += batch.count - rejected
        self.stats.last_write_time = time.time()
        self.stats.rejections = [*self.stats.rejections[-9:], message]
        _LOGGER.warning("InfluxDB rejected %d of %d points: %s", rejected, batch.count, message)

    def _record_failure(self, err: InfluxError) -> None:
        self.stats.write_errors += 1
        self.stats.last_error = str(err)
        if not self._failing:
            self._failing = True
            _LOGGER.error(
                "Cannot write to InfluxDB, keeping %d points queued and retrying: %s",
                self.points_waiting,
                err,
            )

    def _record_recovery(self) -> None:
        self._retry_delay = RETRY_INITIAL_DELAY
        if self._failing:
            self._failing = False
            _LOGGER.info("Writing to InfluxDB again; %d points waiting", self.points_waiting)

    def _next_delay(self, err: InfluxError) -> float:
        """Capped exponential backoff, jittered between half and all of the delay; Retry-After wins."""
        if isinstance(err, ServerBusy) and err.retry_after is not None:
            return min(err.retry_after, RETRY_MAX_DELAY)
        delay = random.uniform(self._retry_delay / 2, self._retry_delay)
        self._retry_delay = min(self._retry_delay * 2, RETRY_MAX_DELAY)
        return delay

    async def async_flush_and_stop(self, timeout: float) -> None:
        """Write what is queued within `timeout`; count the rest as lost (logged)."""
        try:
            async with asyncio.timeout(timeout):
                await self.drain(retry=False)
        except (InfluxError, TimeoutError) as err:
            lost = self.points_waiting
            self.stats.points_lost_at_shutdown += lost
            _LOGGER.error("Could not write %d queued points before stopping: %s", lost, err)


def _split(batch: _Batch) -> tuple[_Batch, _Batch]:
    """Two halves of a batch."""
    middle = batch.count // 2
    return _Batch(batch.lines[:middle]), _Batch(batch.lines[middle:])
