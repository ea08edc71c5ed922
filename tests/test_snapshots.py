"""Periodic snapshots: each recorded entity's current state written again every N minutes, marked.

Off by default; the timer stops with the entry; a snapshot of many entities enters the
memory queue in one burst and what does not fit is counted like any overflow.
"""

from __future__ import annotations

from collections.abc import Callable
import datetime as dt
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.influxdb_ingest.const import SNAPSHOT_MARKER
from custom_components.influxdb_ingest.lines.metadata import NO_METADATA
from custom_components.influxdb_ingest.pipeline.filters import EntitySelection
from custom_components.influxdb_ingest.pipeline.serializer import make_serializer
from custom_components.influxdb_ingest.pipeline.settings import WriterSettings
from custom_components.influxdb_ingest.pipeline.snapshots import async_enqueue_snapshot
from custom_components.influxdb_ingest.pipeline.stats import DropReason

from .support.helpers import count_points, setup_entry, v1_entry_data, wait_for
from .support.servers import free_port


async def test_a_snapshot_is_each_selected_entitys_current_state_marked_and_fired_now(
    hass: HomeAssistant,
) -> None:
    hass.states.async_set("sensor.power", "230", {"unit_of_measurement": "W"})
    hass.states.async_set("sensor.energy", "12.5")
    hass.states.async_set("light.hall", "on")
    now = dt_util.utcnow() + dt.timedelta(minutes=5)
    events: list[Event[Any]] = []

    count = async_enqueue_snapshot(
        hass, events.append, EntitySelection(hass, {"exclude_domains": ["light"]}), now
    )

    assert count == len(events) == 2
    assert {event.data["entity_id"] for event in events} == {"sensor.power", "sensor.energy"}
    for event in events:
        state = hass.states.get(event.data["entity_id"])
        assert event.event_type == EVENT_STATE_CHANGED
        assert event.data["new_state"] is state
        assert event.data["old_state"] is state
        assert event.data[SNAPSHOT_MARKER] is True
        assert event.time_fired_timestamp == now.timestamp()
    assert events[0].context is events[1].context  # one context per snapshot


async def test_the_builtin_layout_writes_a_snapshot_as_the_builtin_integration_writes_that_state(
    hass: HomeAssistant,
) -> None:
    """No mark in the built-in compatible layout: it must stay the built-in integration's.

    The expected lines are written by hand from what Home Assistant's `influxdb` integration
    writes for these states (its `event_to_json`: the unit as the measurement, the object id
    as `entity_id`, a number state as `value`, `on` as `state` and `value` 1, other
    attributes as `<key>_str`), not by the serializer under test.
    """
    hass.states.async_set("sensor.power", "230", {"unit_of_measurement": "W", "friendly_name": "Power"})
    hass.states.async_set("switch.plug", "on")
    now = dt_util.utcnow()
    ns = int(now.timestamp() * 1_000_000) * 1000  # microseconds, written in nanoseconds
    snapshots: list[Event[Any]] = []
    async_enqueue_snapshot(hass, snapshots.append, lambda _entity_id: True, now)
    serializer = make_serializer(WriterSettings(layout="builtin"), lambda _entity_id: NO_METADATA)
    lines = {snapshot.data["entity_id"]: _parts(serializer.line(snapshot)) for snapshot in snapshots}
    assert lines == {
        "sensor.power": _parts(f'W,domain=sensor,entity_id=power friendly_name_str="Power",value=230.0 {ns}'),
        "switch.plug": _parts(f'switch.plug,domain=switch,entity_id=plug state="on",value=1.0 {ns}'),
    }


def _parts(line: str | None) -> tuple[str, frozenset[str], str]:
    """Series, fields (in any order: InfluxDB does not keep it) and timestamp of a simple line."""
    assert line is not None
    series, fields, timestamp = line.split(" ")
    return series, frozenset(fields.split(",")), timestamp


@pytest.mark.parametrize("layout", ["default", "builtin"])
async def test_snapshots_are_written_every_n_minutes_until_unload(
    hass: HomeAssistant, v1_config: dict[str, Any], database: str, query: Callable[..., Any], layout: str
) -> None:
    entry = await setup_entry(
        hass,
        v1_config,
        {"layout": layout, "snapshot_minutes": 5, "flush_interval": 0.1, "exclude_domains": ["light"]},
    )
    writer = entry.runtime_data.writer

    async def points(expected: int) -> int | None:
        if layout == "default":
            found = await count_points(query, database)
        else:
            rows = await query('SELECT count("value") FROM "W"', database)
            found = int(rows[0]["count"]) if rows else 0
        return found if found >= expected else None

    hass.states.async_set("sensor.power", "230", {"unit_of_measurement": "W"})
    hass.states.async_set("sensor.heater", "1200", {"unit_of_measurement": "W"})
    hass.states.async_set("light.hall", "on")  # not recorded, so not in snapshots either
    assert await wait_for(lambda: points(2)) == 2

    async_fire_time_changed(hass, dt_util.utcnow() + dt.timedelta(minutes=5, seconds=1))
    assert await wait_for(lambda: points(4)) == 4
    async_fire_time_changed(hass, dt_util.utcnow() + dt.timedelta(minutes=10, seconds=2))
    assert await wait_for(lambda: points(6)) == 6

    received = writer.stats.events_received
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert entry.state is ConfigEntryState.NOT_LOADED
    async_fire_time_changed(hass, dt_util.utcnow() + dt.timedelta(minutes=15, seconds=3))
    await hass.async_block_till_done()
    assert writer.stats.events_received == received


async def test_snapshots_are_off_by_default(hass: HomeAssistant) -> None:
    entry = await setup_entry(hass, v1_entry_data(f"http://127.0.0.1:{free_port()}", "home"))
    assert entry.runtime_data.writer.settings.snapshot_minutes == 0
    hass.states.async_set("sensor.power", "230")
    await hass.async_block_till_done()
    received = entry.runtime_data.writer.stats.events_received
    for minutes in (5, 60, 24 * 60):
        async_fire_time_changed(hass, dt_util.utcnow() + dt.timedelta(minutes=minutes))
    await hass.async_block_till_done()
    assert entry.runtime_data.writer.stats.events_received == received


async def test_a_snapshot_burst_fills_the_memory_queue_and_the_rest_is_counted_as_dropped(
    hass: HomeAssistant,
) -> None:
    """2 500 entities into a queue of 1 000 (InfluxDB down): nothing blocks, 1 500 counted."""
    for number in range(2500):
        hass.states.async_set(f"sensor.s{number}", str(number))
    entry = await setup_entry(
        hass,
        v1_entry_data(f"http://127.0.0.1:{free_port()}", "home"),
        {"snapshot_minutes": 1, "max_queue_size": 1000},
    )
    stats = entry.runtime_data.writer.stats
    backlog = entry.runtime_data.writer.backlog
    received = stats.events_received
    room = 1000 - backlog.events_waiting

    async_fire_time_changed(hass, dt_util.utcnow() + dt.timedelta(minutes=1, seconds=1))

    assert stats.events_received == received + 2500  # every snapshot event was offered
    assert stats.dropped[DropReason.QUEUE_FULL] == 2500 - room
    await hass.async_block_till_done()
    assert backlog.points >= room  # what fit waits to be written (memory, then the spool)
