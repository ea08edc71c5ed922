"""One run of a backfill job: its source's windows, written in the gaps of the live stream.

The run reads one window of the source at a time (bounded memory) and reads the next
while the writer stores the last. It hands lines to the writer only while no live batch
or spooled point waits and the target is not being waited out (`BackfillLane.may_write`),
and moves the job's cursor past a window once the writer has it stored. A source that
cannot be read is waited for and tried again; a target that fails is the writer's retry
policy's business, and the same lines are sent again once it says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
from functools import partial
import logging
import time

from ..pipeline.serializer import CutValue
from ..pipeline.writer import BatchWriter
from ..target.influx_api import InfluxError
from .backfill_job import BackfillJob, Chunk, HistorySource, JobStatus, Lane, SourceError

_LOGGER = logging.getLogger(__name__)

# How often a run looks for a gap in the live stream while there is none.
_GAP_POLL = 0.05
# A source that cannot be read is tried again this many times, waiting longer each time.
_SOURCE_RETRIES = 5
_SOURCE_RETRY_DELAY = 10.0


class JobRun:
    """Copies one job's windows from its source into the writer, one after another."""

    def __init__(
        self,
        writer: BatchWriter,
        source: HistorySource,
        job: BackfillJob,
        set_status: Callable[[JobStatus], None],
        moved: Callable[[], None],
    ) -> None:
        self._writer = writer
        self._source = source
        self._job = job
        self._set_status = set_status  # RUNNING, or WAITING for the source or the target
        self._moved = moved  # the cursor moved: save it, show the progress

    async def async_run(self) -> None:
        """Until the job's last lane is written; SourceError when the source stays unreadable."""
        job = self._job
        mark = time.monotonic()
        lanes = await self._with_retries(partial(self._source.async_open, job))
        if job.lanes is None:
            job.lanes = lanes
        reading: asyncio.Future[Chunk] | None = None
        try:
            while (lane := job.current_lane()) is not None:
                chunk = await (reading or self._read(lane, job.position(lane)))
                # The next lines are read while these are written: the loop serializes
                # while the server stores.
                reading = None
                if chunk.end_ns < lane.end_ns:
                    reading = asyncio.ensure_future(self._read(lane, chunk.end_ns))
                await self._write(chunk.lines)
                # Once written, as the cursor moves: a resumed job cuts again only what it writes again.
                await self._writer.backfill.keep_cut_values(chunk.cut)
                job.written(chunk.end_ns, len(chunk.lines))
                now = time.monotonic()
                job.seconds_running += now - mark
                mark = now
                self._moved()
        finally:
            if reading is not None:
                reading.cancel()
                with contextlib.suppress(BaseException):
                    await reading

    async def _read(self, lane: Lane, position: int) -> Chunk:
        """Windows from `position` on, until two batches' worth of lines or the lane's end.

        Sparse windows are gathered, so requests stay full. With the lines being written
        meanwhile, memory holds four batches and one window at most. Returns the lines, the
        values cut in them and where they end.
        """
        lines: list[str] = []
        cut: list[CutValue] = []
        rows = 0
        while len(lines) < self._writer.settings.batch_size * 2 and position < lane.end_ns:
            end = self._job.window_end(lane, position)
            chunk = await self._with_retries(partial(self._source.async_read, lane, position, end))
            self._job.window_read(lane, position, chunk.end_ns, chunk.rows)
            lines.extend(chunk.lines)
            cut.extend(chunk.cut)
            rows += chunk.rows
            position = chunk.end_ns
        return Chunk(lines, rows, position, cut)

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
                while not self._writer.backfill.may_write():  # noqa: ASYNC110  # a cheap check of the writer
                    await asyncio.sleep(_GAP_POLL)
                try:
                    await self._writer.backfill.write(part)
                    break
                except InfluxError:
                    self._set_status(JobStatus.WAITING)  # the writer's retry policy says when
            self._set_status(JobStatus.RUNNING)
            await asyncio.sleep(0)  # a live round waiting for the writer goes first
