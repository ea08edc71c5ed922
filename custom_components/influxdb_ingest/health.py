"""What the health entities, diagnostics and repairs show: one snapshot of the writer."""

from __future__ import annotations

from dataclasses import dataclass, fields
import datetime as dt
from enum import StrEnum
import time
from typing import TYPE_CHECKING, Any

from .pipeline.retry import CircuitState
from .pipeline.stats import DropReason, Problem

if TYPE_CHECKING:
    from .pipeline.writer import BatchWriter


class Connection(StrEnum):
    """What a user can act on: the connection sensor's states."""

    # Nothing written nor refused since Home Assistant started: "connected" would be a guess.
    NOT_TRIED = "not_tried"
    CONNECTED = "connected"
    DATABASE_MISSING = "database_missing"
    CREDENTIALS_REJECTED = "credentials_rejected"
    LIMIT_REACHED = "limit_reached"
    UNREACHABLE = "unreachable"

    @classmethod
    def of(cls, problem: Problem | None, *, tried: bool = True) -> Connection:
        """The state for what stops writing (none: connected, once a write went through)."""
        if problem is None and not tried:
            return cls.NOT_TRIED
        return {
            None: cls.CONNECTED,
            Problem.NOT_FOUND: cls.DATABASE_MISSING,
            Problem.AUTH: cls.CREDENTIALS_REJECTED,
            Problem.SERVER_LIMIT: cls.LIMIT_REACHED,
            Problem.UNREACHABLE: cls.UNREACHABLE,
        }[problem]


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    """Everything the health entities show, at one instant."""

    events_received: int
    points_written: int
    points_from_history: int
    points_dropped: int
    dropped_reasons: dict[str, int]
    points_dead_lettered: int
    dead_letters_on_disk: bool
    write_errors: int
    points_in_memory: int
    points_in_spool: int
    spool_bytes: int
    oldest_waiting_age: float | None
    last_write: dt.datetime | None
    last_write_latency_ms: float | None
    event_rate: float | None
    circuit_state: CircuitState
    connected: bool
    connection: Connection
    problem: Problem | None
    limit_refusal: str | None
    # Attribute keys, per table, written in `attributes_overflow` because the column budget was spent.
    overflowed_attributes: dict[str, list[str]]


def take_snapshot(
    writer: BatchWriter, event_rate: float | None, *, dead_letters_on_disk: bool
) -> HealthSnapshot:
    """Read the writer's state into a snapshot (no I/O: the caller looked at the disk)."""
    stats = writer.stats
    oldest = writer.oldest_waiting_since
    latency = stats.last_write_latency
    return HealthSnapshot(
        events_received=stats.events_received,
        points_written=stats.points_written,
        points_from_history=stats.points_from_history,
        points_dropped=stats.points_dropped,
        dropped_reasons={reason.value: stats.dropped[reason] for reason in DropReason},
        points_dead_lettered=stats.points_dead_lettered,
        dead_letters_on_disk=dead_letters_on_disk,
        write_errors=stats.write_errors,
        points_in_memory=writer.points_in_memory,
        points_in_spool=writer.spool.points,
        spool_bytes=writer.spool.size_bytes,
        oldest_waiting_age=max(0.0, time.time() - oldest) if oldest is not None else None,
        last_write=dt.datetime.fromtimestamp(stats.last_write_time, dt.UTC)
        if stats.last_write_time
        else None,
        last_write_latency_ms=round(latency * 1000, 1) if latency is not None else None,
        event_rate=event_rate,
        circuit_state=writer.policy.state,
        connected=stats.problem is None,
        connection=Connection.of(stats.problem, tried=stats.last_write_time is not None),
        problem=stats.problem,
        limit_refusal=stats.limit_refusal,
        overflowed_attributes={table: sorted(keys) for table, keys in writer.columns.overflowed.items()},
    )


def snapshot_as_dict(snapshot: HealthSnapshot) -> dict[str, Any]:
    """A snapshot for diagnostics, JSON-friendly."""
    result: dict[str, Any] = {}
    for item in fields(snapshot):
        value = getattr(snapshot, item.name)
        result[item.name] = value.isoformat() if isinstance(value, dt.datetime) else value
    return result
