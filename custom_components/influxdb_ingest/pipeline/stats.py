"""What the writer counts, and what is wrong with the target, as plain values.

The list of drop reasons is one enum: the total, the persisted counters, the entity
attributes and diagnostics are all derived from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..target.influx_api import DatabaseLimit, InfluxError, InvalidAuth, NoWritePermission, TargetNotFound

# Recent error messages kept for diagnostics.
_RECENT_ERRORS = 10


class DropReason(StrEnum):
    """Why points were given up (never written, not in the dead-letter file)."""

    QUEUE_FULL = "queue_full"
    SPOOL_BUDGET = "spool_budget"
    SPOOL_AGE = "spool_age"
    SPOOL_CORRUPT = "spool_corrupt"
    UNSERIALIZABLE = "unserializable"
    # The server dropped them as older than its retention period (it says so, and how many).
    RETENTION = "retention"


class Problem(StrEnum):
    """What stops writing, for logs, diagnostics and repairs."""

    AUTH = "auth"
    NOT_FOUND = "not_found"
    SERVER_LIMIT = "server_limit"
    UNREACHABLE = "unreachable"

    @classmethod
    def of(cls, err: InfluxError) -> Problem:
        """The problem a write failure stands for."""
        if isinstance(err, InvalidAuth | NoWritePermission):
            return cls.AUTH
        if isinstance(err, TargetNotFound):
            return cls.NOT_FOUND
        if isinstance(err, DatabaseLimit):
            return cls.SERVER_LIMIT
        return cls.UNREACHABLE


# Counters that keep counting across restarts (total_increasing sensors), besides the drops.
_PERSISTED = (
    "events_received",
    "points_written",
    "points_from_history",
    "points_dead_lettered",
    "write_errors",
    "string_values_cut",
)


def _drop_key(reason: DropReason) -> str:
    return f"dropped_{reason}"


@dataclass
class WriterStats:
    """Counters and last outcomes, for diagnostics and health entities."""

    events_received: int = 0
    points_written: int = 0
    # The part of points_written that a backfill job (history) wrote; the rest are live events'.
    points_from_history: int = 0
    points_dead_lettered: int = 0
    write_errors: int = 0
    # String values longer than the server stores: written cut to fit, kept whole in the dead-letter file.
    string_values_cut: int = 0
    dropped: dict[DropReason, int] = field(default_factory=lambda: dict.fromkeys(DropReason, 0))
    spool_torn_records: int = 0
    points_healed_batches: int = 0
    events_without_point: int = 0
    last_write_time: float | None = None
    last_write_latency: float | None = None
    last_error: str | None = None
    # The latest refusal because the server's schema or database limit was reached.
    limit_refusal: str | None = None
    problem: Problem | None = None
    recent_errors: list[str] = field(default_factory=list)

    @property
    def points_dropped(self) -> int:
        """Points that will never be written and are not in the dead-letter file."""
        return sum(self.dropped.values())

    def drop(self, reason: DropReason, points: int = 1) -> None:
        """Count points given up for `reason`."""
        self.dropped[reason] += points

    def remember_error(self, message: str) -> None:
        """Keep a message among the recent errors shown in diagnostics."""
        self.recent_errors = [*self.recent_errors[1 - _RECENT_ERRORS :], message]

    def persisted_counters(self) -> dict[str, int]:
        """The counters that continue across restarts, by their stored names."""
        counters = {name: int(getattr(self, name)) for name in _PERSISTED}
        counters.update({_drop_key(reason): count for reason, count in self.dropped.items()})
        return counters

    def restore(self, saved: Mapping[str, Any]) -> None:
        """Continue the persisted counters from what the last run saved."""
        for name in _PERSISTED:
            setattr(self, name, getattr(self, name) + int(saved.get(name, 0)))
        for reason in DropReason:
            self.dropped[reason] += int(saved.get(_drop_key(reason), 0))

    def as_dict(self) -> dict[str, Any]:
        """Everything, JSON-friendly, for diagnostics."""
        result: dict[str, Any] = {
            name: value for name, value in vars(self).items() if name not in ("dropped", "problem")
        }
        result.update({_drop_key(reason): count for reason, count in self.dropped.items()})
        result["problem"] = self.problem.value if self.problem else None
        return result
