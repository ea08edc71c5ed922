"""Polls the writer's health every 10 s (no I/O but one file check) and keeps the counters.

The counters keep counting across restarts (a Store per entry), and the server `/ping` last
named is remembered, so a restart writes to its release's limits before `/ping` answers.
What the snapshot means for the user (repairs) is decided by its listeners, not here.
"""

from __future__ import annotations

from datetime import timedelta
import logging
import time
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator

from .const import DOMAIN
from .health import HealthSnapshot, take_snapshot
from .pipeline.writer import BatchWriter
from .target.server_info import ServerInfo

_LOGGER = logging.getLogger(__name__)

UPDATE_INTERVAL = timedelta(seconds=10)


# What a run leaves for the next, per entry: the counters, the columns admitted per table, the server.
_REMEMBERED = ("counters", "columns", "server")


def _remembered(hass: HomeAssistant, entry_id: str, name: str) -> Store[Any]:
    return Store(hass, 1, f"{DOMAIN}.{entry_id}.{name}")


async def async_forget_entry(hass: HomeAssistant, entry_id: str) -> None:
    """The entry is deleted: what its runs remembered for the next goes too."""
    for name in _REMEMBERED:
        await _remembered(hass, entry_id, name).async_remove()


class IngestCoordinator(DataUpdateCoordinator[HealthSnapshot]):
    """Throttles health updates to one snapshot every 10 s."""

    config_entry: ConfigEntry[Any]

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry[Any], writer: BatchWriter) -> None:
        super().__init__(hass, _LOGGER, config_entry=entry, name=entry.title, update_interval=UPDATE_INTERVAL)
        self.writer = writer
        self._store: Store[dict[str, int]] = _remembered(hass, entry.entry_id, "counters")
        self._columns_store: Store[dict[str, list[str]]] = _remembered(hass, entry.entry_id, "columns")
        self._server_store: Store[dict[str, str]] = _remembered(hass, entry.entry_id, "server")
        self._server_remembered: ServerInfo | None = None
        self._last_rate_sample: tuple[float, int] | None = None

    async def async_restore_counters(self) -> None:
        """Continue the counters, the columns admitted per table and the server, as the last run left them."""
        self.writer.stats.restore(await self._store.async_load() or {})
        self.writer.columns.restore(await self._columns_store.async_load() or {})
        if saved := await self._server_store.async_load():
            self._server_remembered = ServerInfo.from_dict(saved)
            self._use_server(self._server_remembered)

    async def async_adopt_server(self, server: ServerInfo) -> None:
        """The server `/ping` named at start: written to as its release, remembered when it changed."""
        self._use_server(server)
        if server != self._server_remembered:
            self._server_remembered = server
            await self._server_store.async_save(server.as_dict())

    def _use_server(self, server: ServerInfo) -> None:
        # The client keeps it for diagnostics and the dead-letter reasons that name a release.
        self.writer.delivery.client.server = server
        self.writer.cut_strings.adopt_server(server)

    async def async_save_counters(self) -> None:
        """Persist the counters and the admitted columns now (on stop)."""
        await self._store.async_save(self.writer.stats.persisted_counters())
        await self._columns_store.async_save(self.writer.columns.stored())

    async def _async_update_data(self) -> HealthSnapshot:
        now = time.monotonic()
        received = self.writer.stats.events_received
        rate = None
        if self._last_rate_sample is not None:
            then, before = self._last_rate_sample
            rate = round((received - before) / (now - then) * 60, 1) if now > then else None
        self._last_rate_sample = (now, received)
        # The file, not the counter: a user who dealt with it and deleted it is done.
        dead_letters = await self.hass.async_add_executor_job(self.writer.dead_letter_path.exists)
        self._store.async_delay_save(self.writer.stats.persisted_counters, 60)
        if self.writer.columns.changed:
            # Soon: columns admitted but not stored when Home Assistant crashes could let a
            # table pass the budget by that many (the budget leaves room for it).
            self._columns_store.async_delay_save(self.writer.columns.stored, 10)
        return take_snapshot(self.writer, rate, dead_letters_on_disk=dead_letters)
