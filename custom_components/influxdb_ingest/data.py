"""Typed runtime data stored on the config entry."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, Event

from .coordinator import IngestCoordinator
from .history.backfill import BackfillManager
from .pipeline.writer import BatchWriter
from .query.client import QueryClient
from .query.sensor_config import QueryStatus


@dataclass
class IngestRuntime:
    """What a loaded entry owns: the bus subscription, the writer and its loop, the health."""

    writer: BatchWriter
    coordinator: IngestCoordinator
    unsubscribe: CALLBACK_TYPE
    writer_task: asyncio.Task[None]
    backfill: BackfillManager
    # Reading back (the query action, query sensors): one query at a time on the target.
    queries: QueryClient
    # Each query sensor's last run, by subentry id (diagnostics).
    query_sensors: dict[str, QueryStatus] = field(default_factory=dict)
    stopped: bool = field(default=False, init=False)

    async def async_stop(self, _event: Event | None = None) -> None:
        """Stop taking events, stop the loop, write what the server takes, spool the rest.

        Runs on unload and on Home Assistant stop, whichever comes first.
        """
        if self.stopped:
            return
        self.stopped = True
        await self.backfill.async_stop()  # its cursor is saved: it resumes at the next start
        self.unsubscribe()
        self.writer_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.writer_task
        await self.writer.async_flush_and_stop(self.writer.settings.shutdown_timeout)
        await self.coordinator.async_save_counters()


type InfluxDBIngestConfigEntry = ConfigEntry[IngestRuntime]
