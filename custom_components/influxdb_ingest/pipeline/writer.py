"""The writer: the loop that drains the backlog into InfluxDB, and its accounting.

Each round (a full batch waiting, or the flush interval) writes the oldest batches while
the server accepts them; a failure leaves every batch where it is and the retry policy
says when to try again. Meanwhile memory stays bounded: beyond `max_queue_size` points
the oldest batches go to the disk spool, and while the server fails nothing stays in
memory longer than the loss window (what a crash may cost). The parts, in the order data
flows: listener -> buffer -> serializer -> backlog -> delivery -> influx_api
(docs/architecture.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
import logging
from pathlib import Path
import time

from ..lines.columns import ColumnBudget
from ..lines.metadata import EntityMetadata
from ..target.influx_api import InfluxClient, InfluxError
from .backfill_lane import BackfillLane
from .backlog import Backlog, RunInExecutor
from .delivery import Delivery
from .memory_bound import MemoryBound
from .outcomes import WriteOutcomes
from .retry import RetryPolicy
from .serializer import make_serializer
from .settings import WriterSettings
from .spool import DiskSpool
from .stats import WriterStats
from .string_limit import CutStrings

_LOGGER = logging.getLogger(__name__)

# Write requests in flight at once while a backlog is written.
_WRITES_IN_FLIGHT = 2


class BatchWriter:
    """Owns the backlog, the delivery and the loop; one round of writing at a time."""

    def __init__(
        self,
        client: InfluxClient,
        *,
        lookup_metadata: Callable[[str], EntityMetadata],
        settings: WriterSettings,
        spool_dir: Path,
        run_in_executor: RunInExecutor,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.stats = WriterStats()
        self._wakeup = asyncio.Event()
        self.columns = ColumnBudget(settings.column_budget())
        serializer = make_serializer(settings, lookup_metadata, self.columns)
        self.backlog = Backlog(
            serializer,
            DiskSpool(spool_dir, max_bytes=settings.spool_max_bytes, max_age=settings.spool_max_age),
            self.stats,
            batch_size=settings.batch_size,
            max_events=settings.max_queue_size,
            run_in_executor=run_in_executor,
            on_chunk_ready=self._wakeup.set,
            clock=wall_clock,
        )
        self.delivery = Delivery(
            client,
            self.stats,
            dead_letter_path=spool_dir / "dead_letter.jsonl",
            write_timeout=settings.write_timeout,
            run_in_executor=run_in_executor,
            while_sending=self.backlog.fill_chunk,
        )
        self.cut_strings = CutStrings(
            serializer, settings, self.stats, self.delivery.dead_letter_path, run_in_executor
        )
        self.policy = RetryPolicy(
            initial_delay=settings.retry_initial_delay,
            max_delay=settings.retry_max_delay,
            failure_threshold=settings.circuit_failure_threshold,
            open_seconds=settings.circuit_open_seconds,
            clock=clock,
        )
        self.memory = MemoryBound(settings, self.policy, self.backlog, wall_clock)
        self.outcomes = WriteOutcomes(
            self.policy, self.stats, lambda: self.backlog.points, settings.loss_window
        )
        # One round at a time: the loop, the flush action, stopping and the backfill lane
        # share the backlog and the delivery; a backup holds it while sealed.
        self._lock = asyncio.Lock()
        self.backfill = BackfillLane(
            self._lock,
            self.backlog,
            self.delivery,
            self.outcomes,
            self.cut_strings,
            batch_size=settings.batch_size,
        )
        self.sealed = False

    @property
    def spool(self) -> DiskSpool:
        """The disk spool (health and diagnostics read it)."""
        return self.backlog.spool

    @property
    def dead_letter_path(self) -> Path:
        """Where refused points are kept."""
        return self.delivery.dead_letter_path

    @property
    def points_waiting(self) -> int:
        """Everything not yet written: raw events, memory batches and the spool."""
        return self.backlog.points

    @property
    def points_in_memory(self) -> int:
        """Raw events and serialized points not yet written or spooled."""
        return self.backlog.points_in_memory

    @property
    def oldest_waiting_since(self) -> float | None:
        """When the oldest point still waiting was queued (epoch seconds)."""
        return self.backlog.oldest_waiting_since

    async def async_open(self) -> None:
        """Index the spool left by the last run before writing starts."""
        await self.backlog.open()

    async def run(self) -> None:
        """Background loop (after `async_open`): serialize as events come, write when due.

        Events are serialized in chunks as they come, so few Home Assistant objects are
        held; a round of writing starts when a batch is full or the flush interval passed.
        """
        loop = asyncio.get_running_loop()
        next_round = loop.time() + self.memory.round_interval
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(next_round):
                    await self._wakeup.wait()
            self._wakeup.clear()
            await self.backlog.fill_batch()  # the round serializes the rest as it writes
            if not self.backlog.has_full_batch and loop.time() < next_round:
                continue
            next_round = loop.time() + self.memory.round_interval
            try:
                await self.write_due()
            except Exception:
                # A bug must not stop the pipeline: nothing was lost (batches leave the
                # backlog only once written), so log it and try again after a pause.
                _LOGGER.exception("Unexpected error in the InfluxDB writer; retrying")
                self.policy.record_failure()

    async def write_due(self) -> None:
        """One round: write while the server accepts, if an attempt is due; keep memory bounded."""
        async with self._lock:
            await self.cut_strings.keep()
            await self.backlog.drop_expired()
            if self.policy.due():
                self.policy.probing()
                try:
                    # Serializes as it goes: the first request leaves after one batch.
                    await self._write_backlog()
                    return
                except InfluxError as err:
                    self.outcomes.failed(err)
            # Waiting for the next attempt: full batches only, so spooled records stay big.
            await self.backlog.fill_all()
            await self.memory.keep()

    async def async_flush(self) -> None:
        """Write everything now, ignoring any retry wait; raise InfluxError on failure."""
        async with self._lock:
            await self.backlog.batch_all()
            await self.cut_strings.keep()
            try:
                await self._write_backlog()
            except InfluxError as err:
                self.outcomes.failed(err)
                raise

    async def _write_backlog(self) -> None:
        """Write the oldest batches, a few requests at once, until nothing is left."""
        while True:
            # A long replay must not keep live events in memory beyond the limits.
            await self.memory.keep()
            batches = await self.backlog.oldest(self._in_flight())
            if not batches:
                return
            pending = [batch for batch in batches if not batch.stored]
            outcomes = await asyncio.gather(
                *(self.delivery.deliver(batch.lines) for batch in pending), return_exceptions=True
            )
            for batch, outcome in zip(pending, outcomes, strict=True):
                batch.stored = outcome is None
            await self.backlog.acknowledge()
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    raise outcome
            self.outcomes.succeeded()

    def _in_flight(self) -> int:
        """Requests to send at once: InfluxDB stores them in parallel; a failing server gets one."""
        return 1 if self.policy.consecutive_failures else _WRITES_IN_FLIGHT

    async def async_seal(self, timeout: float) -> None:
        """Hold the spool still for a backup: nothing in memory, nothing written, until `unseal`.

        What the server takes within `timeout` is written, the rest spilled (synced), so the
        backup holds every point not yet in InfluxDB and no half-written record. Until
        `unseal` no round runs: new events wait in memory (up to `max_queue_size`), as the
        recorder queues them while it locks its database for a backup.
        """
        await self._lock.acquire()
        try:
            with contextlib.suppress(TimeoutError, InfluxError):
                async with asyncio.timeout(timeout):
                    await self._write_all_now()
            await self.backlog.batch_all()
            await self.backlog.spill(0)
        except BaseException:
            self._lock.release()
            raise
        self.sealed = True

    async def _write_all_now(self) -> None:
        """Everything waiting, in batches, written if the retry policy allows a try now."""
        await self.backlog.batch_all()
        if self.policy.due():
            await self._write_backlog()

    def unseal(self) -> None:
        """The backup is done: rounds run again (a no-op when not sealed)."""
        if self.sealed:
            self.sealed = False
            self._lock.release()

    async def async_flush_and_stop(self, timeout: float) -> None:
        """Write what the server takes within `timeout`, then persist the rest to the spool."""
        with contextlib.suppress(TimeoutError, InfluxError):
            async with asyncio.timeout(timeout), self._lock:
                await self._write_all_now()
        # Whatever the timeout interrupted is still in the backlog (an event leaves the
        # buffer only as a line): serialize what is left and spool everything.
        await self.backlog.batch_all()
        await self.cut_strings.keep()
        if waiting := self.backlog.points_in_memory:
            _LOGGER.info("Spooling %d unwritten points to disk for the next start", waiting)
        await self.backlog.spill(0)
