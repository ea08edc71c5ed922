"""Health snapshots for the entities, taken every 10 s from the writer (no I/O).

Also keeps the counters across restarts (a Store per entry) and raises or clears the
repair issues a user can act on.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
import datetime as dt
from datetime import timedelta
import logging
import time
from typing import TYPE_CHECKING, Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator

from .const import DOMAIN
from .repairs import async_update_issues
from .retry import CircuitState

if TYPE_CHECKING:
    from .data import InfluxDBIngestConfigEntry
    from .writer import BatchWriter, WriterStats

_LOGGER = logging.getLogger(__name__)

UPDATE_INTERVAL = timedelta(seconds=10)
# Counters that keep counting across restarts (total_increasing sensors).
PERSISTED_COUNTERS = (
    "events_received",
    "points_written",
    "points_dead_lettered",
    "dropped_queue_full",
    "dropped_spool_budget",
    "dropped_spool_age",
    "dropped_spool_corrupt",
    "dropped_unserializable",
    "write_errors",
)


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    """Everything the health entities show, at one instant."""

    events_received: int
    points_written: int
    points_dropped: int
    dropped_reasons: dict[str, int]
    points_dead_lettered: int
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
    problem: str | None


def take_snapshot(writer: BatchWriter, event_rate: float | None) -> HealthSnapshot:
    """Read the writer's state into a snapshot."""
    stats = writer.stats
    oldest = writer.oldest_waiting_since
    latency = stats.last_write_latency
    return HealthSnapshot(
        events_received=stats.events_received,
        points_written=stats.points_written,
        points_dropped=stats.points_dropped,
        dropped_reasons={
            "queue_full": stats.dropped_queue_full,
            "spool_budget": stats.dropped_spool_budget,
            "spool_age": stats.dropped_spool_age,
            "spool_corrupt": stats.dropped_spool_corrupt,
            "unserializable": stats.dropped_unserializable,
        },
        points_dead_lettered=stats.points_dead_lettered,
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
        problem=stats.problem,
    )


class IngestCoordinator(DataUpdateCoordinator[HealthSnapshot]):
    """Throttles health updates to one snapshot every 10 s."""

    config_entry: InfluxDBIngestConfigEntry

    def __init__(self, hass: HomeAssistant, entry: InfluxDBIngestConfigEntry, writer: BatchWriter) -> None:
        super().__init__(hass, _LOGGER, config_entry=entry, name=entry.title, update_interval=UPDATE_INTERVAL)
        self.writer = writer
        self._store: Store[dict[str, int]] = Store(hass, 1, f"{DOMAIN}.{entry.entry_id}.counters")
        self._last_rate_sample: tuple[float, int] | None = None

    async def async_restore_counters(self) -> None:
        """Continue the counters where the last run left them."""
        saved = await self._store.async_load() or {}
        stats = self.writer.stats
        for name in PERSISTED_COUNTERS:
            setattr(stats, name, getattr(stats, name) + int(saved.get(name, 0)))

    def _counters(self) -> dict[str, int]:
        stats: WriterStats = self.writer.stats
        return {name: getattr(stats, name) for name in PERSISTED_COUNTERS}

    async def async_save_counters(self) -> None:
        """Persist the counters now (on stop)."""
        await self._store.async_save(self._counters())

    async def _async_update_data(self) -> HealthSnapshot:
        now = time.monotonic()
        received = self.writer.stats.events_received
        rate = None
        if self._last_rate_sample is not None:
            then, before = self._last_rate_sample
            rate = round((received - before) / (now - then) * 60, 1) if now > then else None
        self._last_rate_sample = (now, received)
        snapshot = take_snapshot(self.writer, rate)
        self._store.async_delay_save(self._counters, 60)
        await async_update_issues(self.hass, self.config_entry, self.writer, snapshot)
        return snapshot


def snapshot_as_dict(snapshot: HealthSnapshot) -> dict[str, Any]:
    """A snapshot for diagnostics, JSON-friendly."""
    result: dict[str, Any] = {}
    for item in fields(snapshot):
        value = getattr(snapshot, item.name)
        result[item.name] = value.isoformat() if isinstance(value, dt.datetime) else value
    return result
