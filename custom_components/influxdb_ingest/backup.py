"""Backups: the spool is whole, synced and still while Home Assistant copies it.

Home Assistant's backup calls `async_pre_backup` on every integration before it archives
the config directory and `async_post_backup` afterwards, also when the backup failed
(homeassistant/components/backup/manager.py). The spool lives in that directory
(`<config>/influxdb_ingest/<entry_id>/`), so a backup carries every point not yet in
InfluxDB: restored, they are replayed (points already written since are overwritten, not
duplicated). The recorder does the same with its database (recorder/backup.py).
"""

from __future__ import annotations

import asyncio

from homeassistant.core import HomeAssistant

from .const import DOMAIN

# How long a backup waits for InfluxDB to take what is in memory before spilling it.
_FLUSH_TIMEOUT = 10.0


async def async_pre_backup(hass: HomeAssistant) -> None:
    """Write or spill what is in memory, then hold every entry's spool still."""
    await asyncio.gather(
        *(
            entry.runtime_data.writer.async_seal(_FLUSH_TIMEOUT)
            for entry in hass.config_entries.async_loaded_entries(DOMAIN)
        )
    )


async def async_post_backup(hass: HomeAssistant) -> None:
    """Let the writers go on (also entries unloading meanwhile, which wait for it)."""
    for entry in hass.config_entries.async_entries(DOMAIN):
        if (runtime := getattr(entry, "runtime_data", None)) is not None:
            runtime.writer.unseal()
