"""One backfill job as plain, persisted values, and what a source of history must do.

A job walks one or more lanes (the recorder's states or statistics: one lane; an InfluxDB
1.x database: one lane per measurement) in half-open time windows `[cursor, cursor +
window)`. The cursor only moves past a window once all of its points are written, so a
job resumed after a restart writes the same points again at worst, never skips any (the
same series and time is an overwrite in InfluxDB, not a duplicate).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
import time
from typing import Any, Protocol

from ..pipeline.serializer import CutValue

NS = 1_000_000_000
# The first window of a lane; it then adapts to hold about `POINTS_PER_WINDOW` points
# (or the lane's own number).
FIRST_WINDOW_NS = 600 * NS
POINTS_PER_WINDOW = 5_000
_MIN_WINDOW_NS = NS // 1000


class SourceKind(StrEnum):
    """Where a job reads history from."""

    STATES = "states"  # the recorder's states
    STATISTICS = "statistics"  # the recorder's hourly long-term statistics
    INFLUXDB1 = "influxdb1"  # another InfluxDB 1.x database


class JobStatus(StrEnum):
    """What the progress entity shows."""

    IDLE = "idle"
    RUNNING = "running"
    WAITING = "waiting"  # for the target to take writes again
    FINISHED = "finished"
    CANCELLED = "cancelled"
    FAILED = "failed"


@dataclass(slots=True)
class Lane:
    """One sequence of windows: a measurement, or the whole of the recorder's data."""

    name: str
    start_ns: int
    end_ns: int  # exclusive
    # The longest window the source reads at once: windows grow over empty stretches, and
    # must not land on dense data too wide to hold in memory.
    max_window_ns: int
    # The points a window should hold (0: POINTS_PER_WINDOW); a source whose reads hold
    # Home Assistant's interpreter asks for smaller ones.
    points_per_window: int = 0


@dataclass(slots=True)
class BackfillJob:
    """A job and its progress; `as_dict`/`from_dict` round-trip through the Store."""

    kind: SourceKind
    start_ns: int
    end_ns: int  # exclusive
    entity_ids: list[str] | None = None  # narrower than the entry's filters
    # InfluxDB 1.x source: url, database, username, password, verify_ssl (kept in .storage,
    # like the config entry's own credentials; never logged or shown).
    connection: dict[str, Any] | None = None
    lanes: list[Lane] | None = None  # found by the source when the job first opens
    lane: int = 0
    cursor_ns: int | None = None  # inside `lanes[lane]`; None: at its start
    window_ns: int = FIRST_WINDOW_NS
    points: int = 0
    seconds_running: float = 0.0  # across restarts, for the ETA
    created: float = field(default_factory=time.time)

    @property
    def lanes_total_ns(self) -> int:
        """The time the job covers, summed over its lanes."""
        return sum(max(0, lane.end_ns - lane.start_ns) for lane in self.lanes or ())

    @property
    def fraction_done(self) -> float:
        """0..1, by time covered (lanes found but none walked yet: 0)."""
        if not self.lanes:
            return 0.0
        total = self.lanes_total_ns
        if total <= 0:
            return 1.0 if self.lane >= len(self.lanes) else 0.0
        done = sum(max(0, lane.end_ns - lane.start_ns) for lane in self.lanes[: self.lane])
        if self.lane < len(self.lanes) and self.cursor_ns is not None:
            done += self.cursor_ns - self.lanes[self.lane].start_ns
        return min(1.0, max(0.0, done / total))

    @property
    def seconds_left(self) -> float | None:
        """The ETA from the pace so far; None until there is a pace."""
        fraction = self.fraction_done
        if fraction <= 0 or self.seconds_running <= 0:
            return None
        return self.seconds_running * (1 - fraction) / fraction

    def current_lane(self) -> Lane | None:
        """The lane the cursor is in (past the finished ones); None when the job is done."""
        while self.lanes is not None and self.lane < len(self.lanes):
            lane = self.lanes[self.lane]
            if self.cursor_ns is None or self.cursor_ns < lane.end_ns:
                return lane
            self.lane += 1
            self.cursor_ns = None
            self.window_ns = FIRST_WINDOW_NS
        return None

    def position(self, lane: Lane) -> int:
        """Where the cursor is in the current lane."""
        return lane.start_ns if self.cursor_ns is None else self.cursor_ns

    def window_end(self, lane: Lane, start_ns: int) -> int:
        """The end of the window that starts at `start_ns`."""
        return min(lane.end_ns, start_ns + min(self.window_ns, lane.max_window_ns))

    def window_read(self, lane: Lane, start_ns: int, end_ns: int, rows: int) -> None:
        """Size the next window by the rows this one held: about the lane's points, at most 4x change."""
        span = end_ns - start_ns
        if span > 0:
            wanted = span * (lane.points_per_window or POINTS_PER_WINDOW) // max(rows, 1)
            self.window_ns = max(_MIN_WINDOW_NS, min(lane.max_window_ns, span * 4, max(span // 4, wanted)))

    def written(self, end_ns: int, points: int) -> None:
        """Move the cursor past what is now stored."""
        self.cursor_ns = end_ns
        self.points += points

    def as_dict(self) -> dict[str, Any]:
        """JSON-able, for the Store."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BackfillJob:
        """A job saved by `as_dict`."""
        values = dict(data)
        values["kind"] = SourceKind(values["kind"])
        if values.get("lanes") is not None:
            values["lanes"] = [Lane(**lane) for lane in values["lanes"]]
        return cls(**values)


@dataclass(frozen=True, slots=True)
class BackfillProgress:
    """What the progress entity shows, at one instant."""

    status: JobStatus
    kind: SourceKind | None = None
    percent: float | None = None
    points: int = 0
    seconds_left: float | None = None
    queued: int = 0  # jobs waiting behind this one
    error: str | None = None


class SourceError(Exception):
    """The source of history cannot be read (the message says why, without credentials)."""


class SourceAuthFailed(SourceError):
    """The source refuses the credentials."""


class SourceNotFound(SourceError):
    """The source has no such database."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """The lines of one window, each ending in a newline."""

    lines: list[str]
    rows: int  # what the source read for them (sizes the next window)
    end_ns: int  # the window actually read: a source may stop short of the one asked
    # String values the lines hold cut to the target's limit, whole: kept once the lines are written.
    cut: list[CutValue] = field(default_factory=list)


class HistorySource(Protocol):
    """Where a job reads history from, one window at a time (bounded memory)."""

    async def async_open(self, job: BackfillJob) -> list[Lane]:
        """Get ready (on every start and resume); the lanes of a new job."""

    async def async_read(self, lane: Lane, start_ns: int, end_ns: int) -> Chunk:
        """The lines of the points in `[start_ns, end_ns)` of a lane; raise SourceError."""
