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
from ..target.heal import TypeHealer
from ..target.influx_api import InfluxClient, InfluxError, ServerBusy
from .backlog import Backlog, RunInExecutor
from .delivery import Delivery
from .retry import RetryPolicy
from .serializer import make_serializer
from .settings import WriterSettings
from .spool import DiskSpool
from .stats import Problem, WriterStats

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
        self._wall_clock = wall_clock
        self.stats = WriterStats()
        self._wakeup = asyncio.Event()
        self.columns = ColumnBudget(settings.column_budget())
        self.backlog = Backlog(
            make_serializer(settings, lookup_metadata, self.columns),
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
        self.policy = RetryPolicy(
            initial_delay=settings.retry_initial_delay,
            max_delay=settings.retry_max_delay,
            failure_threshold=settings.circuit_failure_threshold,
            open_seconds=settings.circuit_open_seconds,
            clock=clock,
        )
        # One round at a time: the loop, the flush action and stopping share the backlog;
        # a backup holds it while sealed.
        self._lock = asyncio.Lock()
        self.sealed = False

    @property
    def client(self) -> InfluxClient:
        """The HTTP client of the target."""
        return self.delivery.client

    @property
    def healer(self) -> TypeHealer:
        """What the server's field types taught (diagnostics)."""
        return self.delivery.healer

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
        next_round = loop.time() + self.round_interval
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(next_round):
                    await self._wakeup.wait()
            self._wakeup.clear()
            await self.backlog.fill_batch()  # the round serializes the rest as it writes
            if not self.backlog.has_full_batch and loop.time() < next_round:
                continue
            next_round = loop.time() + self.round_interval
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
            await self.backlog.drop_expired()
            if self.policy.due():
                self.policy.probing()
                try:
                    # Serializes as it goes: the first request leaves after one batch.
                    await self._write_backlog()
                    return
                except InfluxError as err:
                    self._record_failure(err)
            # Waiting for the next attempt: full batches only, so spooled records stay big.
            await self.backlog.fill_all()
            await self._keep_memory_bounded()

    async def _keep_memory_bounded(self) -> None:
        """Spill beyond `max_queue_size`, and everything once the oldest would outstay the loss window.

        The window matters while the server fails (nothing is written) and while a long
        replay keeps live points waiting behind the spool: a whole window's points then go
        to disk in one spill (one sync), not a sync per point or per round.
        """
        if self._window_ends_before_next_round():
            await self._batch_all()
            await self.backlog.spill(0)
        else:
            await self.backlog.spill(self.settings.max_queue_size)

    @property
    def round_interval(self) -> float:
        """Seconds between rounds: the flush interval, or the loss window if shorter while failing."""
        if self.policy.consecutive_failures:
            return min(self.settings.flush_interval, self.settings.loss_window)
        return self.settings.flush_interval

    def _window_ends_before_next_round(self) -> bool:
        """Whether the oldest point in memory would wait longer than the loss window by the next round.

        Only while the server fails or a replay is ahead of the live points: a healthy
        server with nothing spooled gets them within the flush interval instead.
        """
        since = self.backlog.oldest_in_memory_since
        if since is None or not (self.policy.consecutive_failures or len(self.spool)):
            return False
        return self._wall_clock() + self.round_interval - since >= self.settings.loss_window

    async def async_flush(self) -> None:
        """Write everything now, ignoring any retry wait; raise InfluxError on failure."""
        async with self._lock:
            await self._batch_all()
            try:
                await self._write_backlog()
            except InfluxError as err:
                self._record_failure(err)
                raise

    async def _write_backlog(self) -> None:
        """Write the oldest batches, a few requests at once, until nothing is left."""
        while True:
            # A long replay must not keep live events in memory beyond the limits.
            await self._keep_memory_bounded()
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
            self._record_success()

    def backfill_may_write(self) -> bool:
        """Whether history may be written now: live points first, backfill in their gaps.

        Not while a full live batch or spooled points wait, nor while a failure is waited
        out (once the wait is over, a backfill write is as good a probe as a live one).
        """
        return not self.backlog.has_full_batch and not self.spool.points and self.policy.due()

    async def async_write_backfill(self, lines: list[str]) -> None:
        """Write lines of history between two live rounds, through the same delivery.

        Sent as batches of `batch_size`, one request at a time: a server on the same machine
        (the add-on) then stores history on one core and leaves the other to Home Assistant,
        which measurably keeps the event loop's lag down (docs/performance.md). Refused
        points are healed or dead-lettered like live ones; a retryable failure is recorded
        like a live one (the retry policy says when to try again) and raised. The caller
        keeps the lines and sends them again: its source still holds them, so history
        never takes the disk spool's room from live points.
        """
        size = self.settings.batch_size
        async with self._lock:
            self.policy.probing()
            for start in range(0, len(lines), size):
                try:
                    await self.delivery.deliver(lines[start : start + size])
                except InfluxError as err:
                    self._record_failure(err)
                    raise
                self._record_success()

    def _in_flight(self) -> int:
        """Requests to send at once: InfluxDB stores them in parallel; a failing server gets one."""
        return 1 if self.policy.consecutive_failures else _WRITES_IN_FLIGHT

    def _record_failure(self, err: InfluxError) -> None:
        self.policy.record_failure(err.retry_after if isinstance(err, ServerBusy) else None)
        self.stats.write_errors += 1
        self.stats.last_error = str(err)
        self.stats.remember_error(str(err))
        problem = Problem.of(err)
        if problem is Problem.SERVER_LIMIT:
            self.stats.limit_refusal = str(err)
        if self.stats.problem != problem:
            self.stats.problem = problem
            _LOGGER.error(
                "Cannot write to InfluxDB (%s), keeping %d points (each on disk within %g s) and"
                " retrying: %s",
                problem,
                self.points_waiting,
                self.settings.loss_window,
                err,
            )

    def _record_success(self) -> None:
        self.policy.record_success()
        if self.stats.problem is not None:
            self.stats.problem = None
            _LOGGER.info("Writing to InfluxDB again; %d points waiting", self.points_waiting)

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
            await self._batch_all()
            await self.backlog.spill(0)
        except BaseException:
            self._lock.release()
            raise
        self.sealed = True

    async def _batch_all(self) -> None:
        """Serialize every waiting event and close the batch being filled."""
        await self.backlog.fill_all()
        self.backlog.close_batch()

    async def _write_all_now(self) -> None:
        """Everything waiting, in batches, written if the retry policy allows a try now."""
        await self._batch_all()
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
        await self._batch_all()
        if waiting := self.backlog.points_in_memory:
            _LOGGER.info("Spooling %d unwritten points to disk for the next start", waiting)
        await self.backlog.spill(0)
