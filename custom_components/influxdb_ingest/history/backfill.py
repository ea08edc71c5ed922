"""History on day one: an entry's backfill jobs, queued, run, shown and saved.

One job runs at a time per entry; others queue behind it (`backfill_run.py` runs one).
The queue and each job's cursor are saved in a Store, so a restart resumes at the last
saved window; cancelling drops the queue. Progress shows as an entity, the end as a
persistent notification.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
import logging
import time
from typing import Any

from homeassistant.components import persistent_notification
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.storage import Store

from ..const import CONF_HISTORY_DAYS, CONF_HISTORY_STATISTICS, DOMAIN
from ..lines.metadata import EntityMetadata
from ..pipeline.filters import EntitySelection
from ..pipeline.log_throttle import LogThrottle
from ..pipeline.writer import BatchWriter
from .backfill_job import (
    NS,
    BackfillJob,
    BackfillProgress,
    HistorySource,
    JobStatus,
    SourceError,
    SourceKind,
)
from .backfill_run import JobRun
from .influx1_source import InfluxDB1Database
from .recorded_lines import RecordedLines
from .recorder_source import RecorderStates
from .statistics_source import RecorderStatistics
from .texts import duration, grouped, translated

_LOGGER = logging.getLogger(__name__)

# Seconds between saves of the cursor while a job runs (a restart repeats at most this much).
_SAVE_DELAY = 5.0
# The progress entity is updated at most this often (each update is a recorded state).
_PROGRESS_INTERVAL = 5.0
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
        """Run a job to its end; how it ended and why."""
        self._status = JobStatus.RUNNING
        self._notify(force=True)
        try:
            await JobRun(self._writer, self._source(job), job, self._set_status, self._moved).async_run()
        except SourceError as err:
            return JobStatus.FAILED, str(err)
        except Exception as err:  # a bug must not end silently: logged, shown, the queue goes on
            _LOGGER.exception("Backfill of %s into %s failed", job.kind, self._entry.title)
            return JobStatus.FAILED, f"{type(err).__name__}: {err}"
        return JobStatus.FINISHED, None

    def _moved(self) -> None:
        """A job's cursor moved: save it soon, show the progress."""
        self._store.async_delay_save(self._data, _SAVE_DELAY)
        self._notify()

    def _source(self, job: BackfillJob) -> HistorySource:
        selected = EntitySelection(self._hass, self._entry.options)
        if job.kind is SourceKind.INFLUXDB1:
            connection = job.connection or {}
            session = async_get_clientsession(self._hass, verify_ssl=bool(connection.get("verify_ssl", True)))
            return InfluxDB1Database(
                session, connection, string_limit=lambda: self._writer.backfill.string_limit_bytes
            )
        if not recorder_loaded(self._hass):
            return _NoRecorder()
        if job.kind is SourceKind.STATISTICS:
            return RecorderStatistics(self._hass, selected, self._writer.settings.static_tags)
        lines = RecordedLines(self._writer, self._lookup_metadata, self._unserializable_log)
        return RecorderStates(self._hass, lines, selected)

    # Showing and saving.

    def _ended(self, job: BackfillJob, status: JobStatus, error: str | None) -> None:
        self._last = {
            "status": status.value,
            "kind": job.kind.value,
            "percent": round(job.fraction_done * 100, 1),
            "points": job.points,
            "error": error,
        }
        key, placeholders = _ending(job, status, error)
        message = translated(
            self._hass,
            "exceptions",
            f"{key}.message",
            source=self._source_name(job),
            target=self._entry.title,
            **placeholders,
        )
        persistent_notification.async_create(
            self._hass,
            message,
            title=translated(self._hass, "exceptions", "backfill_notification_title.message"),
            notification_id=f"{DOMAIN}_{self._entry.entry_id}_backfill",
        )
        log = _LOGGER.info if status is JobStatus.FINISHED else _LOGGER.warning
        log("Backfill of %s into %s: %s", job.kind, self._entry.title, message)

    def _source_name(self, job: BackfillJob) -> str:
        """The source as a user knows it: the recorder, or the 1.x database by name (no credentials)."""
        database = (job.connection or {}).get("database", "")
        key = f"backfill_source_{job.kind.value}.message"
        return translated(self._hass, "exceptions", key, database=database)

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


def _ending(job: BackfillJob, status: JobStatus, error: str | None) -> tuple[str, dict[str, str]]:
    """The notification's translation key and its numbers, grouped, with the duration's unit."""
    points = grouped(job.points)
    if status is JobStatus.FINISHED:
        return "backfill_finished", {"points": points, "duration": duration(job.seconds_running)}
    if status is JobStatus.CANCELLED:
        return "backfill_cancelled", {"points": points, "percent": f"{job.fraction_done:.0%}"}
    return "backfill_failed", {"points": points, "error": error or ""}
