"""History on day one: jobs that write old data through the writer, in the gaps of the live stream.

One job runs at a time per entry; others queue behind it. A job reads one window of its
source at a time (bounded memory), hands the lines to the writer only while no live batch
or spooled point waits and the target is not being waited out (`backfill_may_write`), and
moves its cursor past the window once the writer has it stored. Failures take the live
paths: refused points are healed or dead-lettered, a retryable failure is recorded by the
writer's retry policy and the same lines are sent again once it says so. The queue and the
cursor are saved in a Store, so a restart resumes at the last saved window; cancelling
drops the queue. Progress shows as an entity, the end as a persistent notification.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
from functools import partial
import logging
import time
from typing import Any

from homeassistant.components import persistent_notification
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.storage import Store

from .backfill_job import (
    NS,
    BackfillJob,
    BackfillProgress,
    HistorySource,
    JobStatus,
    Lane,
    SourceError,
    SourceKind,
)
from .const import CONF_HISTORY_DAYS, CONF_HISTORY_STATISTICS, DOMAIN
from .filters import EntitySelection
from .influx1_source import InfluxDB1Database
from .influx_api import InfluxError
from .log_throttle import LogThrottle
from .metadata import EntityMetadata
from .recorder_source import RecorderStates
from .serializer import make_serializer
from .statistics_source import RecorderStatistics
from .stats import DropReason
from .writer import BatchWriter

_LOGGER = logging.getLogger(__name__)

# Seconds between saves of the cursor while a job runs (a restart repeats at most this much).
_SAVE_DELAY = 5.0
# How often a job looks for a gap in the live stream while there is none.
_GAP_POLL = 0.05
# The progress entity is updated at most this often (each update is a recorded state).
_PROGRESS_INTERVAL = 5.0
# A source that cannot be read is tried again this many times, waiting longer each time.
_SOURCE_RETRIES = 5
_SOURCE_RETRY_DELAY = 10.0
# What "everything" means for statistics, which Home Assistant keeps for ever.
STATISTICS_YEARS = 10


def _store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    """Where an entry's queue, cursor and last outcome are kept."""
    return Store(hass, 1, f"{DOMAIN}.{entry_id}.backfill")


async def async_forget_jobs(hass: HomeAssistant, entry_id: str) -> None:
    """The entry is deleted: so are its jobs (and any source credentials they held)."""
    await _store(hass, entry_id).async_remove()


def recorder_loaded(hass: HomeAssistant) -> bool:
    """Whether the recorder is there to read states and statistics from."""
    return "recorder" in hass.config.components


class BackfillManager:
    """The backfill jobs of one entry: queue, runner, progress, persistence."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        writer: BatchWriter,
        lookup_metadata: Callable[[str], EntityMetadata],
    ) -> None:
        self._hass = hass
        self._entry = entry
        self._writer = writer
        self._lookup_metadata = lookup_metadata
        self._store = _store(hass, entry.entry_id)
        self._jobs: list[BackfillJob] = []
        self._offer_taken = False
        self._last: dict[str, Any] = {}  # how the last job ended, for the entity
        self._status = JobStatus.IDLE
        self._task: asyncio.Task[None] | None = None
        self._cancelling = False
        self._listeners: list[CALLBACK_TYPE] = []
        self._notified_at = 0.0
        self._unserializable_log = LogThrottle(60.0)

    # Lifecycle.

    async def async_load(self) -> None:
        """Restore the queue; take the offer made at setup once; resume or start the first job."""
        stored = await self._store.async_load() or {}
        self._jobs = [BackfillJob.from_dict(job) for job in stored.get("jobs", [])]
        self._last = stored.get("last", {})
        self._offer_taken = bool(stored.get("offer_taken"))
        if not self._offer_taken:
            self._offer_taken = True
            self._jobs.extend(offered_jobs(self._entry.data, time.time_ns()))
            await self._store.async_save(self._data())
        if self._jobs:
            self._start()

    async def async_stop(self) -> None:
        """Stop the running job where it is (unload or Home Assistant stop); it resumes next start."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._store.async_save(self._data())

    # What users do.

    def enqueue(self, job: BackfillJob) -> int:
        """Queue a job; return how many jobs run before it."""
        self._jobs.append(job)
        self._store.async_delay_save(self._data, 0)
        if not self.busy:
            self._start()
        self._notify(force=True)
        return len(self._jobs) - 1

    async def async_cancel(self) -> bool:
        """Cancel the running job and drop the queue; False when nothing was running."""
        if self._task is None or not self.busy:
            return False
        self._cancelling = True
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        return True

    @property
    def busy(self) -> bool:
        """Whether a job is running or queued."""
        return self._task is not None and not self._task.done()

    @property
    def progress(self) -> BackfillProgress:
        """What the progress entity shows now."""
        if self._jobs and self.busy:
            job = self._jobs[0]
            return BackfillProgress(
                self._status,
                job.kind,
                round(job.fraction_done * 100, 1),
                job.points,
                job.seconds_left,
                len(self._jobs) - 1,
            )
        if not self._last:
            return BackfillProgress(JobStatus.IDLE)
        return BackfillProgress(
            JobStatus(self._last["status"]),
            SourceKind(self._last["kind"]),
            self._last.get("percent"),
            self._last.get("points", 0),
            error=self._last.get("error"),
        )

    def as_diagnostics(self) -> dict[str, Any]:
        """The queue and the last outcome, without the source's credentials."""
        jobs = []
        for job in self._jobs:
            described = job.as_dict()
            if job.connection is not None:
                described["connection"] = {"database": job.connection.get("database")}
            described["lanes"] = len(job.lanes) if job.lanes is not None else None
            jobs.append(described)
        return {"jobs": jobs, "last": self._last, "status": self.progress.status.value}

    @callback
    def async_add_listener(self, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call `listener` when the progress changes (at most every few seconds while running)."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # Running.

    def _start(self) -> None:
        self._cancelling = False
        self._task = self._entry.async_create_background_task(
            self._hass, self._run(), f"{self._entry.title} backfill"
        )

    async def _run(self) -> None:
        """Run the queue until it is empty (jobs queued meanwhile included)."""
        try:
            while self._jobs:
                job = self._jobs[0]
                status, error = await self._run_job(job)
                self._jobs.pop(0)
                self._ended(job, status, error)
                await self._store.async_save(self._data())
        except asyncio.CancelledError:
            if self._cancelling and self._jobs:
                self._ended(self._jobs[0], JobStatus.CANCELLED, None)
                self._jobs.clear()
            await self._store.async_save(self._data())
            raise
        finally:
            self._status = JobStatus.IDLE
            self._notify(force=True)

    async def _run_job(self, job: BackfillJob) -> tuple[JobStatus, str | None]:
        """Copy a job's windows one after another; how it ended and why."""
        self._status = JobStatus.RUNNING
        self._notify(force=True)
        source = self._source(job)
        mark = time.monotonic()
        try:
            lanes = await self._with_retries(partial(source.async_open, job))
            if job.lanes is None:
                job.lanes = lanes
            reading: asyncio.Future[tuple[list[str], int]] | None = None
            try:
                while (lane := job.current_lane()) is not None:
                    lines, end = await (reading or self._read(source, job, lane, job.position(lane)))
                    # The next lines are read while these are written: the loop serializes
                    # while the server stores.
                    reading = None
                    if end < lane.end_ns:
                        reading = asyncio.ensure_future(self._read(source, job, lane, end))
                    await self._write(lines)
                    job.written(end, len(lines))
                    now = time.monotonic()
                    job.seconds_running += now - mark
                    mark = now
                    self._store.async_delay_save(self._data, _SAVE_DELAY)
                    self._notify()
            finally:
                if reading is not None:
                    reading.cancel()
                    with contextlib.suppress(BaseException):
                        await reading
        except SourceError as err:
            return JobStatus.FAILED, str(err)
        except Exception as err:  # a bug must not end silently: logged, shown, the queue goes on
            _LOGGER.exception("Backfill of %s into %s failed", job.kind, self._entry.title)
            return JobStatus.FAILED, f"{type(err).__name__}: {err}"
        return JobStatus.FINISHED, None

    async def _read(
        self, source: HistorySource, job: BackfillJob, lane: Lane, position: int
    ) -> tuple[list[str], int]:
        """Windows from `position` on, until two batches' worth of lines or the lane's end.

        Sparse windows are gathered, so requests stay full. With the lines being written
        meanwhile, memory holds four batches and one window at most. Returns the lines and
        where they end.
        """
        lines: list[str] = []
        while len(lines) < self._writer.settings.batch_size * 2 and position < lane.end_ns:
            end = job.window_end(lane, position)
            chunk = await self._with_retries(partial(source.async_read, lane, position, end))
            job.window_read(lane, position, chunk.end_ns, chunk.rows)
            lines.extend(chunk.lines)
            position = chunk.end_ns
        return lines, position

    async def _with_retries[T](self, read: Callable[[], Awaitable[T]]) -> T:
        """Read from the source, waiting and trying again a few times when it fails."""
        for attempt in range(_SOURCE_RETRIES + 1):
            try:
                return await read()
            except SourceError as err:
                if attempt == _SOURCE_RETRIES:
                    raise
                _LOGGER.warning("Backfill source unavailable (%s); trying again", err)
                self._set_status(JobStatus.WAITING)
                await asyncio.sleep(_SOURCE_RETRY_DELAY * 2**attempt)
                self._set_status(JobStatus.RUNNING)
        raise AssertionError("unreachable")

    async def _write(self, lines: list[str]) -> None:
        """Hand the lines to the writer, two batches at a time, only in gaps of the live stream."""
        step = self._writer.settings.batch_size * 2
        for start in range(0, len(lines), step):
            part = lines[start : start + step]
            while True:
                while not self._writer.backfill_may_write():  # noqa: ASYNC110  # a cheap check of the writer
                    await asyncio.sleep(_GAP_POLL)
                try:
                    await self._writer.async_write_backfill(part)
                    break
                except InfluxError:
                    self._set_status(JobStatus.WAITING)  # the writer's retry policy says when
            self._set_status(JobStatus.RUNNING)
            await asyncio.sleep(0)  # a live round waiting for the writer goes first

    def _source(self, job: BackfillJob) -> HistorySource:
        selected = EntitySelection(self._hass, self._entry.options)
        if job.kind is SourceKind.INFLUXDB1:
            connection = job.connection or {}
            session = async_get_clientsession(self._hass, verify_ssl=bool(connection.get("verify_ssl", True)))
            return InfluxDB1Database(session, connection)
        if not recorder_loaded(self._hass):
            return _NoRecorder()
        if job.kind is SourceKind.STATISTICS:
            return RecorderStatistics(self._hass, selected, self._writer.settings.static_tags)
        return RecorderStates(self._hass, self._serializer(), selected)

    def _serializer(self) -> Callable[[Event[Any]], str | None]:
        """The entry's layout, in a serializer of the job's own; a failing event is counted, not fatal."""
        serializer = make_serializer(self._writer.settings, self._lookup_metadata)
        stats = self._writer.stats

        def serialize(event: Event[Any]) -> str | None:
            try:
                return serializer.line(event)
            except Exception:
                stats.drop(DropReason.UNSERIALIZABLE)
                if self._unserializable_log.due():
                    _LOGGER.exception(
                        "Cannot serialize a recorded state of %s; it is left out (counted as dropped)",
                        event.data.get("entity_id"),
                    )
                return None

        return serialize

    # Showing and saving.

    def _ended(self, job: BackfillJob, status: JobStatus, error: str | None) -> None:
        self._last = {
            "status": status.value,
            "kind": job.kind.value,
            "percent": round(job.fraction_done * 100, 1),
            "points": job.points,
            "error": error,
        }
        minutes = job.seconds_running / 60
        message = {
            JobStatus.FINISHED: f"Finished: {job.points} points written in {minutes:.1f} minutes.",
            JobStatus.CANCELLED: f"Cancelled after {job.points} points ({job.fraction_done:.0%} done).",
        }.get(status, f"Stopped after {job.points} points: {error}")
        persistent_notification.async_create(
            self._hass,
            f"{_KIND_NAMES[job.kind]} into {self._entry.title}. {message}",
            title="InfluxDB Ingest: history import",
            notification_id=f"{DOMAIN}_{self._entry.entry_id}_backfill",
        )
        log = _LOGGER.info if status is JobStatus.FINISHED else _LOGGER.warning
        log("Backfill of %s into %s: %s", job.kind, self._entry.title, message)

    def _set_status(self, status: JobStatus) -> None:
        if status is not self._status:
            self._status = status
            self._notify(force=True)

    def _notify(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._notified_at < _PROGRESS_INTERVAL:
            return
        self._notified_at = now
        for listener in list(self._listeners):
            listener()

    def _data(self) -> dict[str, Any]:
        return {
            "offer_taken": self._offer_taken,
            "jobs": [job.as_dict() for job in self._jobs],
            "last": self._last,
        }


_KIND_NAMES = {
    SourceKind.STATES: "History from the recorder",
    SourceKind.STATISTICS: "Long-term statistics from the recorder",
    SourceKind.INFLUXDB1: "Copy from InfluxDB 1.x",
}


class _NoRecorder:
    """Stands for the recorder's sources when it is not loaded: the job fails, saying why."""

    async def async_open(self, job: BackfillJob) -> Any:
        raise SourceError("the recorder is not loaded")

    async def async_read(self, *_args: Any) -> Any:
        raise SourceError("the recorder is not loaded")


def offered_jobs(data: Any, now_ns: int) -> list[BackfillJob]:
    """The jobs the user asked for at the end of setup (history days, statistics)."""
    jobs = []
    if days := int(data.get(CONF_HISTORY_DAYS) or 0):
        jobs.append(BackfillJob(SourceKind.STATES, now_ns - days * 86_400 * NS, now_ns))
    if data.get(CONF_HISTORY_STATISTICS):
        start = now_ns - STATISTICS_YEARS * 365 * 86_400 * NS
        jobs.append(BackfillJob(SourceKind.STATISTICS, start, now_ns))
    return jobs
