"""InfluxDB Ingest: stream every Home Assistant state change into InfluxDB."""

from __future__ import annotations

from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from .const import DEFAULT_BATCH_SIZE, DEFAULT_FLUSH_INTERVAL, DEFAULT_MAX_QUEUE_SIZE, DEFAULT_MEASUREMENT
from .data import InfluxDBIngestConfigEntry, IngestRuntime
from .influx_api import InfluxClient, InfluxTarget
from .listener import async_listen_state_changes
from .metadata import MetadataLookup
from .writer import BatchWriter


async def async_setup_entry(hass: HomeAssistant, entry: InfluxDBIngestConfigEntry) -> bool:
    """Start listening and writing. Needs no live server: events queue until it answers."""
    target = InfluxTarget.from_config(entry.data)
    client = InfluxClient(async_get_clientsession(hass, verify_ssl=target.verify_ssl), target)
    writer = BatchWriter(
        client,
        lookup_metadata=MetadataLookup(hass),
        measurement=DEFAULT_MEASUREMENT,
        batch_size=DEFAULT_BATCH_SIZE,
        flush_interval=DEFAULT_FLUSH_INTERVAL,
        max_queue_size=DEFAULT_MAX_QUEUE_SIZE,
    )
    runtime = IngestRuntime(
        writer=writer,
        unsubscribe=async_listen_state_changes(hass, writer),
        writer_task=entry.async_create_background_task(hass, writer.run(), f"{entry.title} writer"),
    )
    entry.runtime_data = runtime
    entry.async_on_unload(hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, runtime.async_stop))
    return True


async def async_unload_entry(hass: HomeAssistant, entry: InfluxDBIngestConfigEntry) -> bool:
    """Unload an entry after writing what it still holds (bounded in time)."""
    await entry.runtime_data.async_stop()
    return True
