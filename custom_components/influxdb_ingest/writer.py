"""Batching, retrying, spooling writer: turns queued events into points in InfluxDB.

Data flows oldest first through three places: the disk spool (oldest), serialized
batches in memory, and raw events from the bus (newest). Each cycle (a full batch or the
flush interval) serializes new events, spills memory beyond its limit to the spool, and
writes the oldest data while the server accepts it. A failure never loses a batch: it
stays where it is and the retry policy says when to try again.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
import contextlib
from dataclasses import dataclass, field
import itertools
import logging
from pathlib import Path
import time
from typing import Any

from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event

from .buffer import EventBuffer
from .cached_lines import BuiltinLines, DefaultLines
from .dead_letter import append_dead_letters
from .heal import TypeHealer
from .influx_api import (
    InfluxClient,
    InfluxError,
    InvalidAuth,
    NoWritePermission,
    PayloadTooLarge,
    ServerBusy,
    TargetNotFound,
    WriteRejected,
)
from .layout import LayoutRules
from .line_protocol import point_to_line
from .metadata import EntityMetadata
from .normalize import DefaultLayout, bus_event_to_point, is_recorded
from .normalize_builtin import BuiltinLayout
from .point import time_fired_ns
from .retry import RetryPolicy
from .settings import WriterSettings
from .spool import DiskSpool, SpoolCorrupt, SpoolRecord, encode_lines

_LOGGER = logging.getLogger(__name__)

# Events normalized between two yields to the event loop, so a big batch never blocks it.
_NORMALIZE_CHUNK = 200
# Write requests in flight at once while a backlog is written.
_WRITES_IN_FLIGHT = 2
# Repeated problems (dead letters, unserializable events) are logged at most this often
# (seconds), each time with the running total.
_LOG_INTERVAL = 60.0

type RunInExecutor = Callable[..., Awaitable[Any]]


@dataclass
class WriterStats:
    """Counters and last outcomes, for diagnostics and health entities."""

    events_received: int = 0
    points_written: int = 0
    points_dead_lettered: int = 0
    dropped_queue_full: int = 0
    dropped_spool_budget: int = 0
    dropped_spool_age: int = 0
    dropped_spool_corrupt: int = 0
    dropped_unserializable: int = 0
    spool_torn_records: int = 0
    points_healed_batches: int = 0
    events_without_point: int = 0
    write_errors: int = 0
    last_write_time: float | None = None
    last_write_latency: float | None = None
    last_error: str | None = None
    problem: str | None = None
    recent_errors: list[str] = field(default_factory=list)

    @property
    def points_dropped(self) -> int:
        """Points that will never be written and are not in the dead-letter file."""
        return (
            self.dropped_queue_full
            + self.dropped_spool_budget
            + self.dropped_spool_age
            + self.dropped_spool_corrupt
            + self.dropped_unserializable
        )


@dataclass(slots=True, eq=False)  # batches are told apart by identity
class _Batch:
    """Serialized lines, one per point (string fields may hold raw newlines)."""

    lines: list[str]
    created: float  # when the batch was serialized: about when its oldest event fired

    @property
    def count(self) -> int:
        return len(self.lines)


@dataclass(slots=True)
class _SpoolHead:
    """A spooled batch read for writing, and whether InfluxDB has stored it yet."""

    record: SpoolRecord
    lines: list[str]
    stored: bool = False


class BatchWriter:
    """Owns the event buffer, the memory queue, the spool and the loop that drains them."""

    def __init__(
        self,
        client: InfluxClient,
        *,
        lookup_metadata: Callable[[str], EntityMetadata],
        settings: WriterSettings,
        spool_dir: Path,
        run_in_executor: RunInExecutor,
    ) -> None:
        self.client = client
        self.settings = settings
        self._lookup_metadata = lookup_metadata
        self._run = run_in_executor
        self._wakeup = asyncio.Event()
        self.buffer = EventBuffer(settings.max_queue_size, _NORMALIZE_CHUNK, self._wakeup.set)
        self.memory: deque[_Batch] = deque()
        self.memory_points = 0
        self._open_lines: list[str] = []  # the batch being serialized, not yet in `memory`
        self._open_created = 0.0
        self.spool = DiskSpool(spool_dir, max_bytes=settings.spool_max_bytes, max_age=settings.spool_max_age)
        self.dead_letter_path = spool_dir / "dead_letter.jsonl"
        self.policy = RetryPolicy(
            initial_delay=settings.retry_initial_delay,
            max_delay=settings.retry_max_delay,
            failure_threshold=settings.circuit_failure_threshold,
            open_seconds=settings.circuit_open_seconds,
        )
        self.healer = TypeHealer()
        self.stats = WriterStats()
        # One cycle at a time: the loop and the flush service share the queues.
        self._lock = asyncio.Lock()
        self._retry_at = 0.0
        self._dead_letter_logged_at = -_LOG_INTERVAL
        self._unserializable_logged_at = -_LOG_INTERVAL
        self._spool_heads: list[_SpoolHead] = []  # read ahead, oldest first
        self._spool_dropping = False
        self._rules = LayoutRules(
            ignore_attributes=settings.ignore_attributes,
            tags_attributes=settings.tags_attributes,
            static_tags=settings.static_tags,
            overrides=settings.overrides,
        )
        self._default_layout = DefaultLayout(
            settings.measurement, settings.enrich, settings.static_tags, settings.record_unavailable
        )
        self._builtin_lines = (
            BuiltinLines(
                BuiltinLayout(
                    settings.measurement_attr, settings.default_measurement, settings.override_measurement
                ),
                settings.static_tags,
            )
            if settings.layout == "builtin"
            else None
        )
        self._default_lines = DefaultLines(self._default_layout)
        self._last_time_ns: dict[str, int] = {}  # per entity, for `_unique_time`

    @property
    def points_waiting(self) -> int:
        """Everything not yet written: raw events, memory batches and the spool."""
        return self.points_in_memory + self.spool.points

    @property
    def points_in_memory(self) -> int:
        """Raw events and serialized points not yet written or spooled."""
        return len(self.buffer) + len(self._open_lines) + self.memory_points

    def enqueue(self, event: Event[Any]) -> None:
        """Accept one event from the bus listener (O(1))."""
        self.stats.events_received += 1
        if not self.buffer.append(event):
            self.stats.dropped_queue_full += 1

    async def async_open(self) -> None:
        """Index the spool left by the last run (in the executor) before writing starts."""
        damage = await self._run(self.spool.open)
        self.stats.spool_torn_records += damage.torn_records
        if self.spool.points:
            _LOGGER.info("Replaying %d points spooled to disk before the last stop", self.spool.points)

    async def run(self) -> None:
        """Background loop (after `async_open`): serialize, and write batches when due.

        Events are serialized in chunks as they come, so few Home Assistant objects are
        held; a write starts when a batch is full or the flush interval has passed.
        """
        loop = asyncio.get_running_loop()
        next_cycle = loop.time() + self.settings.flush_interval
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(next_cycle):
                    await self._wakeup.wait()
            self._wakeup.clear()
            await self._serialize_batch(close=False)  # the cycle serializes the rest as it writes
            if not self.memory and loop.time() < next_cycle:
                continue
            next_cycle = loop.time() + self.settings.flush_interval
            try:
                await self.cycle()
            except Exception:
                # A bug must not stop the pipeline: nothing was lost (batches leave their
                # queue only once written), so log it and try again after a pause.
                _LOGGER.exception("Unexpected error in the InfluxDB writer; retrying")
                self._retry_at = time.monotonic() + self.policy.record_failure()

    @property
    def oldest_waiting_since(self) -> float | None:
        """When the oldest point still waiting was queued (epoch seconds)."""
        if (spooled := self.spool.oldest_created) is not None:
            return spooled
        if self.memory:
            return self.memory[0].created
        if self._open_lines:
            return self._open_created
        return self.buffer.oldest_time_fired

    async def async_flush(self) -> None:
        """Write everything now, ignoring any retry wait; raise InfluxError on failure."""
        async with self._lock:
            await self._serialize_buffer()
            try:
                await self._write_backlog()
            except InfluxError as err:
                self._record_failure(err)
                raise

    async def cycle(self) -> None:
        """Serialize new events, keep memory bounded, and write while the server accepts."""
        async with self._lock:
            await self._cycle()

    async def _cycle(self) -> None:
        await self._enforce_spool_age()
        if time.monotonic() >= self._retry_at:
            self.policy.probing()
            try:
                # Serializes as it goes: the first request leaves after one batch.
                await self._write_backlog()
                return
            except InfluxError as err:
                self._record_failure(err)
        # Waiting for the next attempt: full batches only, so spooled records stay big.
        await self._serialize_pending()
        await self._spill(self.settings.max_queue_size)

    async def _serialize_buffer(self) -> None:
        """Turn every queued event into batches in memory, yielding between chunks."""
        await self._serialize_pending()
        self._close_open_batch()

    async def _serialize_pending(self) -> None:
        """Serialize every queued event, the last ones into the open batch."""
        while len(self.buffer):
            self._serialize_chunk()
            if len(self.buffer):
                await asyncio.sleep(0)

    async def _serialize_batch(self, *, close: bool) -> None:
        """Serialize queued events until one more batch is in memory or none are left.

        `close` puts what the open batch holds by then into memory too.
        """
        batches = len(self.memory)
        while len(self.buffer) and len(self.memory) == batches:
            self._serialize_chunk()
            await asyncio.sleep(0)
        if close:
            self._close_open_batch()

    def _serialize_chunk(self) -> None:
        """Serialize up to one chunk of queued events into the open batch.

        No await in here: an event leaves the buffer only as a line in the open batch, so
        a cancellation can never lose one.
        """
        lines = self._open_lines
        if not lines:
            self._open_created = time.time()
        for event in self.buffer.take(min(_NORMALIZE_CHUNK, self.settings.batch_size - len(lines))):
            try:
                line = self._to_line(event)
            except Exception:  # a bug or an exotic value must not stop the pipeline
                if self._count_unserializable():
                    _LOGGER.exception(
                        "Cannot serialize a %s event for %s; it is dropped (%d so far, in the"
                        " points dropped counter)",
                        event.event_type,
                        event.data.get("entity_id", "-"),
                        self.stats.dropped_unserializable,
                    )
                continue
            if line is not None:
                lines.append(line + "\n")
        if len(lines) >= self.settings.batch_size:
            self._close_open_batch()

    def _count_unserializable(self) -> bool:
        """Count an event that cannot be serialized; True when it is time to log (once a minute)."""
        self.stats.dropped_unserializable += 1
        now = time.monotonic()
        if now - self._unserializable_logged_at > _LOG_INTERVAL:
            self._unserializable_logged_at = now
            return True
        return False

    def _close_open_batch(self) -> None:
        if self._open_lines:
            self.memory.append(_Batch(self._open_lines, self._open_created))
            self.memory_points += len(self._open_lines)
            self._open_lines = []

    def _to_line(self, event: Event[Any]) -> str | None:
        """The line for one event, or None when its layout does not record it."""
        if event.event_type != EVENT_STATE_CHANGED:
            return point_to_line(
                bus_event_to_point(event, self.settings.events_measurement, self.settings.static_tags)
            )
        entity_id = event.data["entity_id"]
        rules = self._rules.for_entity(entity_id)
        if self._builtin_lines is not None:
            time_ns = time_fired_ns(event)
            if (line := self._builtin_lines.line(event, rules, time_ns)) is not None:
                # Rare: two changes of one entity in the same microsecond. Built again
                # with a distinct time rather than patching the text.
                unique = self._unique_time(entity_id, time_ns)
                return line if unique == time_ns else self._builtin_lines.line(event, rules, unique)
        elif is_recorded(event, self._default_layout):
            return self._default_lines.line(
                event,
                self._lookup_metadata(entity_id),
                rules,
                self._unique_time(entity_id, time_fired_ns(event)),
            )
        self.stats.events_without_point += 1  # a state the layout leaves out (unknown/unavailable)
        return None

    def _unique_time(self, entity_id: str, time_ns: int) -> int:
        """`time_ns`, moved 1 ns past the entity's previous point if it would overwrite it.

        Same series and same timestamp is an overwrite in InfluxDB, and two changes can
        fire within one microsecond.
        """
        last = self._last_time_ns.get(entity_id)
        if last is not None and time_ns <= last:
            time_ns = last + 1
        self._last_time_ns[entity_id] = time_ns
        return time_ns

    async def _spill(self, keep_in_memory: int) -> None:
        """Move the oldest memory batches to the disk spool until `keep_in_memory` remain."""
        while self.memory and self.memory_points > keep_in_memory:
            batch = self.memory[0]
            # Encoded here, not in the executor: big allocations in executor threads would
            # each grow their own malloc arena, which keeps the memory after the outage.
            payload = encode_lines(batch.lines)
            dropped = await self._run(self.spool.append, payload, batch.count, batch.created)
            self.memory.popleft()
            self.memory_points -= batch.count
            if dropped:
                self._spool_heads.clear()  # they may have been among the dropped records
                self.stats.dropped_spool_budget += dropped
                self._log_spool_drop(dropped, "the spool is over its size budget")

    async def _enforce_spool_age(self) -> None:
        oldest = self.spool.oldest_created
        if oldest is not None and time.time() - oldest > self.settings.spool_max_age:
            dropped = await self._run(self.spool.drop_expired, time.time())
            self._spool_heads.clear()
            self.stats.dropped_spool_age += dropped
            self._log_spool_drop(dropped, "they waited longer than the age limit")

    def _log_spool_drop(self, dropped: int, reason: str) -> None:
        if not self._spool_dropping:
            self._spool_dropping = True
            _LOGGER.warning("Dropping the oldest spooled points because %s (%d so far)", reason, dropped)

    async def _write_backlog(self) -> None:
        """Write the oldest data first (spool, then memory) until nothing is left."""
        while True:
            # A long replay must not let live events pile up in memory beyond the limit.
            await self._spill(self.settings.max_queue_size)
            if len(self.spool):
                if not await self._write_spool_head():
                    continue  # a corrupt record was dropped: nothing was written
            elif self.memory:
                await self._write_memory_head()
            elif len(self.buffer) or self._open_lines:
                await self._serialize_batch(close=True)
                continue
            else:
                self._spool_dropping = False
                return
            self._record_success()

    def _in_flight(self) -> int:
        """Requests to send at once: InfluxDB stores them in parallel; a failing server gets one."""
        return 1 if self.policy.consecutive_failures else _WRITES_IN_FLIGHT

    async def _write_memory_head(self) -> None:
        """Write the oldest memory batches; each leaves memory once stored."""
        batches = list(itertools.islice(self.memory, self._in_flight()))
        outcomes = await asyncio.gather(
            *(self._deliver(batch.lines) for batch in batches), return_exceptions=True
        )
        for batch, outcome in zip(batches, outcomes, strict=True):
            if outcome is None:
                self.memory.remove(batch)
                self.memory_points -= batch.count
        _raise_first(outcomes)

    async def _write_spool_head(self) -> bool:
        """Write the oldest spooled batches; acknowledge them oldest first once stored.

        A batch stored while an older one failed is remembered as stored, not sent again.
        False when there was nothing to write after all (a corrupt record was dropped).
        """
        heads = await self._read_spool_heads(self._in_flight())
        if not heads:
            return False
        pending = [head for head in heads if not head.stored]
        outcomes = await asyncio.gather(
            *(self._deliver(head.lines) for head in pending), return_exceptions=True
        )
        for head, outcome in zip(pending, outcomes, strict=True):
            head.stored = outcome is None
        while self._spool_heads and self._spool_heads[0].stored:
            await self._run(self.spool.ack, self._spool_heads.pop(0).record)
        _raise_first(outcomes)
        return True

    async def _read_spool_heads(self, count: int) -> list[_SpoolHead]:
        """The `count` oldest spooled batches, read once and kept while retrying.

        A corrupt record is dropped (counted, logged) once it is the oldest; until then the
        read-ahead stops before it.
        """
        heads = self._spool_heads
        for record in await self._run(self.spool.oldest, count):
            if any(head.record is record for head in heads):
                continue
            try:
                heads.append(_SpoolHead(record, await self._run(self.spool.read, record)))
            except SpoolCorrupt as err:
                if heads:
                    break
                _LOGGER.error("Spool record dropped: %s (%d points)", err, err.record.points)
                self.stats.dropped_spool_corrupt += err.record.points
                await self._run(self.spool.ack, err.record)
                break
        return heads[:count]

    async def _deliver(self, lines: list[str]) -> None:
        """Write lines until each is stored or dead-lettered; raise on retryable failures.

        413 splits the batch; a rejection teaches the healer, or is narrowed down by
        splitting until the single refused point goes to the dead-letter file. Points the
        server stored from a partial write are sent again: same timestamps, so InfluxDB
        overwrites them instead of duplicating.
        """
        lines, refused = self.healer.apply(lines)
        for line, message in refused:  # known to fail: no need to narrow them down
            await self._dead_letter([line], message)
        if not lines:
            return
        started = time.monotonic()
        try:
            await self._send("".join(lines).encode())
        except PayloadTooLarge as err:
            if len(lines) == 1:
                await self._dead_letter(lines, str(err))
                return
            await self._deliver_halves(lines)
            return
        except WriteRejected as err:
            if self.healer.learn(str(err)):
                _LOGGER.warning("Converting to the type InfluxDB already holds: %s", err)
                self.stats.points_healed_batches += 1
                await self._deliver(lines)
            elif len(lines) == 1:
                await self._dead_letter(lines, str(err))
            else:
                await self._deliver_halves(lines)
            return
        self.stats.points_written += len(lines)
        self.stats.last_write_time = time.time()
        self.stats.last_write_latency = time.monotonic() - started

    async def _send(self, body: bytes) -> None:
        """Write one request; while it is on its way, serialize newly queued events.

        The loop would otherwise sit idle waiting for InfluxDB, and the next batch is then
        ready the moment this one is stored.
        """
        sending = asyncio.ensure_future(self.client.write(body, self.settings.write_timeout))
        try:
            while not sending.done() and len(self.buffer):
                self._serialize_chunk()
                await asyncio.sleep(0)
            await sending
        finally:
            sending.cancel()  # only has an effect when we are cancelled ourselves

    async def _deliver_halves(self, lines: list[str]) -> None:
        middle = len(lines) // 2
        await self._deliver(lines[:middle])
        await self._deliver(lines[middle:])

    async def _dead_letter(self, lines: list[str], message: str) -> None:
        await self._run(append_dead_letters, self.dead_letter_path, lines, message)
        self.stats.points_dead_lettered += len(lines)
        self._remember_error(message)
        now = time.monotonic()
        if now - self._dead_letter_logged_at > _LOG_INTERVAL:
            self._dead_letter_logged_at = now
            _LOGGER.warning(
                "InfluxDB refused points; %d so far are kept in %s. Latest reason: %s",
                self.stats.points_dead_lettered,
                self.dead_letter_path,
                message,
            )

    def _remember_error(self, message: str) -> None:
        self.stats.recent_errors = [*self.stats.recent_errors[-9:], message]

    def _record_failure(self, err: InfluxError) -> None:
        retry_after = err.retry_after if isinstance(err, ServerBusy) else None
        delay = self.policy.record_failure(retry_after)
        self._retry_at = time.monotonic() + delay
        self.stats.write_errors += 1
        self.stats.last_error = str(err)
        self._remember_error(str(err))
        problem = _problem(err)
        if self.stats.problem != problem:
            self.stats.problem = problem
            _LOGGER.error(
                "Cannot write to InfluxDB (%s), keeping %d points (spooling to disk beyond %d) and"
                " retrying: %s",
                problem,
                self.points_waiting,
                self.settings.max_queue_size,
                err,
            )

    def _record_success(self) -> None:
        self.policy.record_success()
        self._retry_at = 0.0
        if self.stats.problem is not None:
            self.stats.problem = None
            _LOGGER.info("Writing to InfluxDB again; %d points waiting", self.points_waiting)

    async def async_flush_and_stop(self, timeout: float) -> None:
        """Write what the server takes within `timeout`, then persist the rest to the spool."""
        with contextlib.suppress(TimeoutError, InfluxError):
            async with asyncio.timeout(timeout), self._lock:
                await self._serialize_buffer()
                if time.monotonic() >= self._retry_at:
                    await self._write_backlog()
        # Events the timeout interrupted are back in the buffer: serialize them too.
        await self._serialize_buffer()
        if self.memory_points:
            _LOGGER.info("Spooling %d unwritten points to disk for the next start", self.memory_points)
        await self._spill(0)


def _raise_first(outcomes: list[BaseException | None]) -> None:
    """Raise the first failure of requests sent together, if any failed."""
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


def _problem(err: InfluxError) -> str:
    """A short name for what is wrong, for logs, diagnostics and repairs."""
    if isinstance(err, InvalidAuth | NoWritePermission):
        return "auth"
    if isinstance(err, TargetNotFound):
        return "not_found"
    return "unreachable"
