"""InfluxDB Ingest: stream every Home Assistant state change into InfluxDB."""

from __future__ import annotations

from pathlib import Path
import shutil

from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.typing import ConfigType

from .const import DOMAIN, VALIDATE_TIMEOUT
from .coordinator import IngestCoordinator, async_forget_entry
from .data import InfluxDBIngestConfigEntry, IngestRuntime
from .history.backfill import BackfillManager, async_forget_jobs
from .lines.metadata import MetadataLookup
from .lines.normalize_builtin import BUILTIN_DOMAIN_DEVICE_CLASS, DOMAIN_DEVICE_CLASS
from .pipeline.filters import EntitySelection
from .pipeline.listener import async_listen_events
from .pipeline.settings import WriterSettings
from .pipeline.snapshots import async_track_snapshots
from .pipeline.writer import BatchWriter
from .query.client import QueryClient
from .repairs import async_delete_layout_issue, async_update_issues, async_update_layout_issue
from .services import async_register_services
from .target.influx_api import InfluxClient
from .target.influx_target import InfluxTarget

PLATFORMS = [Platform.SENSOR]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


def spool_directory(hass: HomeAssistant, entry_id: str) -> Path:
    """Where an entry keeps its disk spool and dead-letter file."""
    return Path(hass.config.path(DOMAIN, entry_id))


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the services once for all entries."""
    async_register_services(hass)
    return True


async def async_migrate_entry(hass: HomeAssistant, entry: InfluxDBIngestConfigEntry) -> bool:
    """Version 2 stores `measurement_attr: domain__device_class` as `domain_device_class`."""
    if entry.version > 2:
        return False  # written by a newer version of this integration: refuse to guess
    if entry.version == 1:
        options = dict(entry.options)
        if options.get("measurement_attr") == BUILTIN_DOMAIN_DEVICE_CLASS:
            options["measurement_attr"] = DOMAIN_DEVICE_CLASS
        hass.config_entries.async_update_entry(entry, options=options, version=2)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: InfluxDBIngestConfigEntry) -> bool:
    """Start listening and writing. Needs no live server: points wait until it answers."""
    target = InfluxTarget.from_config(entry.data)
    settings = WriterSettings.from_options(entry.options, target.api_version.value)
    client = InfluxClient(
        async_get_clientsession(hass, verify_ssl=target.verify_ssl),
        target,
        gzip=settings.gzip_for(target.is_loopback),
    )
    metadata = MetadataLookup(hass)
    entry.async_on_unload(metadata.async_listen())
    writer = BatchWriter(
        client,
        lookup_metadata=metadata,
        settings=settings,
        spool_dir=spool_directory(hass, entry.entry_id),
        run_in_executor=hass.async_add_executor_job,
    )
    coordinator = IngestCoordinator(hass, entry, writer)
    await coordinator.async_restore_counters()
    await writer.async_open()  # index what the last run left on disk, before anything runs
    await coordinator.async_config_entry_first_refresh()

    @callback
    def _update_issues() -> None:
        async_update_issues(
            hass,
            entry,
            coordinator.data,
            spool_budget=writer.settings.spool_max_bytes,
            column_budget=writer.columns.limit,
            dead_letter_path=writer.dead_letter_path,
        )

    _update_issues()
    entry.async_on_unload(coordinator.async_add_listener(_update_issues))
    async_update_layout_issue(hass, entry, settings)
    selection = EntitySelection(hass, entry.options)
    entry.async_on_unload(selection.async_listen())
    stop_listening = async_listen_events(hass, writer.backlog.add, selection, settings.event_types)
    stop_snapshots = async_track_snapshots(hass, settings.snapshot_minutes, writer.backlog.add, selection)

    @callback
    def _stop_taking_events() -> None:
        stop_listening()
        stop_snapshots()

    backfill = BackfillManager(hass, entry, writer, metadata)
    runtime = IngestRuntime(
        writer=writer,
        coordinator=coordinator,
        unsubscribe=_stop_taking_events,
        writer_task=entry.async_create_background_task(hass, writer.run(), f"{entry.title} writer"),
        backfill=backfill,
        queries=QueryClient(
            async_get_clientsession(hass, verify_ssl=target.verify_ssl), target, hass.async_add_executor_job
        ),
    )
    entry.runtime_data = runtime
    # Not listen_once: the remover must stay valid after the event fired (stop is idempotent).
    entry.async_on_unload(hass.bus.async_listen(EVENT_HOMEASSISTANT_STOP, runtime.async_stop))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    await backfill.async_load()  # resumes an interrupted job, or starts the one offered at setup

    async def _learn_which_server() -> None:
        if (server := await client.async_read_server_info(VALIDATE_TIMEOUT)) is not None:
            await coordinator.async_adopt_server(server)

    @callback
    def _ask_which_server() -> None:
        entry.async_create_background_task(hass, _learn_which_server(), f"{entry.title} server info")

    # Which server and release answers (`/ping`), for diagnostics and what differs by release
    # (until it answers, the one the last run saw: `coordinator.async_restore_counters`);
    # asked once setup is done, so that it takes no turn of the loop from setup and the writer.
    hass.loop.call_soon(_ask_which_server)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: InfluxDBIngestConfigEntry) -> bool:
    """Unload an entry: write what the server takes (bounded in time), spool the rest.

    The writer stops even when a platform fails to unload: a writer left running would
    keep taking events for an entry Home Assistant no longer shows as loaded.
    """
    try:
        unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    finally:
        await entry.runtime_data.async_stop()
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: InfluxDBIngestConfigEntry) -> None:
    """A deleted entry's spool, dead letters and backfill jobs have nowhere to go: remove them."""
    async_delete_layout_issue(hass, entry)
    await hass.async_add_executor_job(shutil.rmtree, spool_directory(hass, entry.entry_id), True)
    await async_forget_jobs(hass, entry.entry_id)
    await async_forget_entry(hass, entry.entry_id)
