"""Backups: a real Home Assistant backup taken during an InfluxDB outage, restored elsewhere.

The backup integration itself makes the backup (its manager calls our backup platform
before and after archiving the config directory, and writes the archive with the local
agent); Home Assistant's own restore code (homeassistant/backup_restore.py, what runs at
boot after "restore") unpacks it into a fresh config directory, where a second Home
Assistant replays the spool to the real InfluxDB 1.x. Scenario 10 of docs/reliability.md.

What the backup carried is read by the tests' own reader of the segment format
(tests/support/spool_oracle.py), not by the spool under test; both Home Assistants write
through a fault proxy that keeps every request, so a point sent twice is seen.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
import tracemalloc

from homeassistant import backup_restore, loader
from homeassistant.components.backup import DATA_MANAGER
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_test_home_assistant

from custom_components.influxdb_ingest.const import DOMAIN

from .support.crash_home import stored_numbers, stored_points
from .support.fault_proxy import FaultProxy
from .support.helpers import setup_entry, wait_for
from .support.reliability import (
    Figures,
    Sends,
    assert_each_point_accepted_once_or_resent_for_a_reason,
    count_sends,
)
from .support.servers import InfluxDB1Server
from .support.spool_oracle import read_spool_on_disk

DB = "backup"
OPTIONS = {
    "flush_interval": 0.1,
    "batch_size": 100,
    "retry_initial_delay": 0.1,
    "retry_max_delay": 1.0,
    "circuit_open_seconds": 1.0,
    "shutdown_timeout": 2.0,
}


async def _fire(hass: HomeAssistant, numbers: range) -> None:
    for number in numbers:
        hass.states.async_set(f"sensor.backup_{number % 20}", str(number), {"seq": number})
        if number % 50 == 49:
            await asyncio.sleep(0.01)


async def _take_backup(hass: HomeAssistant) -> Path:
    """A backup by Home Assistant's backup manager with its local agent; the archive."""
    assert await async_setup_component(hass, "backup", {})
    manager = hass.data[DATA_MANAGER]
    await manager.async_create_backup(
        agent_ids=["backup.local"],
        include_addons=None,
        include_all_addons=False,
        include_database=False,
        include_folders=None,
        include_homeassistant=True,
        name="during the outage",
        password=None,
    )
    await wait_for(lambda: manager.state == "idle")
    (archive,) = await hass.async_add_executor_job(_archives, Path(hass.config.path("backups")))
    return archive


def _archives(directory: Path) -> list[Path]:
    return list(directory.glob("*.tar"))


def _restore(archive: Path, config_dir: Path) -> bool:
    """What Home Assistant does at boot after "restore": unpack the backup into `config_dir`."""
    config_dir.mkdir()
    instructions = {
        "path": str(archive),
        "password": None,
        "remove_after_restore": False,
        "restore_database": False,
        "restore_homeassistant": True,
    }
    (config_dir / ".HA_RESTORE").write_text(json.dumps(instructions))
    return backup_restore.restore_backup(str(config_dir))


def _start(server: InfluxDB1Server) -> None:
    server.start()
    server.query(f"CREATE DATABASE {DB}", method="POST")


async def test_a_backup_during_an_outage_carries_every_point_not_yet_written_and_each_is_sent_once(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    server = InfluxDB1Server(tmp_path / "influxdb", auth=False)
    await hass.async_add_executor_job(_start, server)
    proxy = FaultProxy(upstream=server.url)
    await proxy.start()
    data = {"api_version": "1", "url": proxy.url, "database": DB, "verify_ssl": True}
    tracemalloc.start()
    try:
        entry = await setup_entry(hass, data, OPTIONS)
        writer = entry.runtime_data.writer
        await _fire(hass, range(500))
        await wait_for(lambda: writer.stats.points_written == 500)
        await hass.async_add_executor_job(server.kill)  # the outage
        await _fire(hass, range(500, 1500))
        assert writer.points_in_memory > 0  # the newest are within the loss window

        # While the backup runs, events keep coming: they wait in memory, the spool stays still.
        during_backup = asyncio.ensure_future(_fire(hass, range(1500, 1700)))
        archive = await _take_backup(hass)
        await during_backup
        assert not writer.sealed
        assert writer.stats.points_dropped == 0

        # The disk dies; Home Assistant is restored from the backup on a new one.
        restored = tmp_path / "restored"
        assert await hass.async_add_executor_job(_restore, archive, restored)
        spool_dir = restored / DOMAIN / entry.entry_id
        spool = await hass.async_add_executor_job(read_spool_on_disk, spool_dir)
        # Every point of the outage up to the moment the spool was sealed, whole: no torn
        # record. (Some of those fired while the backup started may be among them.)
        sealed_at = max(spool.pending) + 1
        assert 1500 <= sealed_at <= 1700
        assert sorted(spool.pending) == list(range(500, sealed_at))
        assert (spool.torn_tail_bytes, spool.damaged) == (0, [])
        await hass.config_entries.async_unload(entry.entry_id)
        # Nothing was lost on the old disk either: what waited during the backup is spooled.
        original = await hass.async_add_executor_job(
            read_spool_on_disk, Path(hass.config.path(DOMAIN, entry.entry_id))
        )
        assert sorted(original.pending) == list(range(500, 1700))

        await hass.async_add_executor_job(_start, server)
        async with async_test_home_assistant(config_dir=str(restored)) as second:
            second.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
            again = MockConfigEntry(domain=DOMAIN, data=data, options=OPTIONS, entry_id=entry.entry_id)
            again.add_to_hass(second)
            assert await second.config_entries.async_setup(again.entry_id)
            await wait_for(lambda: again.runtime_data.writer.points_waiting == 0)
            await second.config_entries.async_unload(again.entry_id)
            await second.async_stop(force=True)
        stored, points = await hass.async_add_executor_job(_stored, server)
        peak = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
    finally:
        tracemalloc.stop()
        await proxy.stop()
        await hass.async_add_executor_job(server.stop)

    # Every point the backup carried, numbered or not (the integration's own sensors are
    # recorded too), by series and time; what InfluxDB had before the outage and the backup's
    # numbered points...
    assert set(spool.pending_points) <= points, "points in the backup's spool were never stored"
    assert sorted(stored) == list(range(sealed_at))
    # ...and each accepted once: nothing in this scenario loses an answer.
    sends = _each_point_accepted_once(proxy, range(sealed_at))
    _save_figures(len(stored), sends, len(spool.pending), sealed_at, peak)


def _stored(server: InfluxDB1Server) -> tuple[list[int], set[tuple[str, int]]]:
    """The event numbers stored, and every point stored by (entity_id, timestamp)."""
    return stored_numbers(server, DB), stored_points(server, DB)


def _each_point_accepted_once(proxy: FaultProxy, expected: range) -> Sends:
    """What the server accepted through `proxy`: each expected point, once (no resend)."""
    sends = count_sends(proxy.writes)
    assert_each_point_accepted_once_or_resent_for_a_reason(sends, expected)
    assert sends.total_resends == 0
    return sends


def _save_figures(stored: int, sends: Sends, carried: int, sealed_at: int, peak: float) -> None:
    Figures(
        "10. a Home Assistant backup taken during an outage, restored on a fresh config directory",
        "InfluxDB 1.6",
        1700,
        stored,
        sends.total_resends,
        0,
        0,
        peak,
        f"the backup's spool held the {carried} points of the outage, whole; restored"
        f" and replayed; {sends.describe()}; the {1700 - sealed_at} fired while it was sealed waited"
        " in memory and are not in the backup (the old disk's spool has them)",
    ).save()
