"""Backfill from Home Assistant's own recorder (SQLite) into the real InfluxDB 1.x and the 3.x stand-in.

History is made by Home Assistant itself: states set at past times are recorded by the real
recorder, and the live pipeline writes them too, so backfilled points can be compared with
their live twins. Windows are made small where a test needs a job to take several.
"""

from __future__ import annotations

from collections.abc import Callable
import time
from typing import Any

from homeassistant.components.recorder import Recorder
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance
import pytest
from pytest_homeassistant_custom_component.components.recorder.common import async_wait_recording_done

from custom_components.influxdb_ingest import backfill_job
from custom_components.influxdb_ingest.backfill_job import JobStatus, SourceKind
from custom_components.influxdb_ingest.const import DOMAIN
from custom_components.influxdb_ingest.data import InfluxDBIngestConfigEntry

from .fault_proxy import Delay, FaultProxy
from .helpers import setup_entry, v1_entry_data, wait_for
from .servers import InfluxDB1Server
from .standin_influxdb3 import InfluxDB3StandIn

ENTITIES = ("sensor.power", "sensor.temperature", "switch.heater")
# Fields Home Assistant's history API cannot give back (recorder_source.py says why).
_NOT_IN_HISTORY = ("context_id", "context_parent_id", "context_user_id")


@pytest.fixture(autouse=True)
def mock_recorder_before_hass(async_setup_recorder_instance: Any) -> None:
    """Prepare the recorder's database before Home Assistant starts (then `recorder_mock` works)."""


async def record_history(hass: HomeAssistant, changes: int, *, hours: float = 2.0) -> float:
    """`changes` state changes per entity over the last `hours`, recorded; return the first one's time."""
    start = time.time() - hours * 3600
    step = hours * 3600 / changes
    for number in range(changes):
        for index, entity_id in enumerate(ENTITIES):
            state = ("on" if number % 2 else "off") if entity_id.startswith("switch") else str(number * 1.5)
            # Every fifth change only changes an attribute: recorded (and written live) too.
            attributes = {"unit_of_measurement": "W", "friendly_name": entity_id, "step": number // 5}
            hass.states.async_set(entity_id, state, attributes, timestamp=start + number * step + index * 0.001)
    await async_wait_recording_done(hass)
    return start


async def run_backfill(hass: HomeAssistant, entry: InfluxDBIngestConfigEntry, **data: Any) -> None:
    """Call the action for one entry and wait until its job has ended."""
    backfill = entry.runtime_data.backfill
    await hass.services.async_call(
        DOMAIN, "backfill", {"config_entry_id": entry.entry_id, **data}, blocking=True, return_response=True
    )
    await wait_for(lambda: backfill.progress.status in (JobStatus.FINISHED, JobStatus.FAILED), timeout=60)
    assert backfill.progress.status is JobStatus.FINISHED, backfill.progress


async def all_rows(query: Callable[..., Any], db: str) -> list[dict[str, Any]]:
    """Every point of every measurement, tags and fields together, in a stable order."""
    rows = await query("SELECT * FROM /.*/", db)
    return sorted(rows, key=lambda row: (str(row.get("entity_id")), row["time"]))


def without(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{key: value for key, value in row.items() if key not in keys} for row in rows]


async def test_backfilled_states_are_their_live_twins_and_a_second_run_adds_nothing(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    influxdb_v1: InfluxDB1Server,
    query: Callable[..., Any],
) -> None:
    influxdb_v1.query('CREATE DATABASE "live_twin"', method="POST")
    influxdb_v1.query('CREATE DATABASE "backfilled"', method="POST")
    live = await setup_entry(hass, v1_entry_data(influxdb_v1.url, "live_twin"))
    await record_history(hass, 40)
    await live.runtime_data.writer.async_flush()
    live_rows = await all_rows(query, "live_twin")
    assert len(live_rows) == 40 * len(ENTITIES)

    # A second target, set up afterwards: it gets the same history from the recorder only.
    entry = await setup_entry(hass, v1_entry_data(influxdb_v1.url, "backfilled"))
    await run_backfill(hass, entry, days=1)
    backfilled = await all_rows(query, "backfilled")
    assert without(backfilled, _NOT_IN_HISTORY) == without(live_rows, _NOT_IN_HISTORY)

    await run_backfill(hass, entry, days=1)
    assert await all_rows(query, "backfilled") == backfilled  # overwritten, not duplicated
    assert entry.runtime_data.backfill.progress.points == len(backfilled)


async def test_states_backfill_into_influxdb3_and_twice_stores_the_same(
    recorder_mock: Recorder, hass: HomeAssistant, influxdb3: InfluxDB3StandIn
) -> None:
    await record_history(hass, 30)
    entry = await setup_entry(
        hass,
        {"api_version": "3", "url": influxdb3.url, "database": "home", "token": "test-token", "verify_ssl": True},
    )
    await run_backfill(hass, entry, days=1)
    stored = {table: influxdb3.rows("home", table) for table in influxdb3.store.databases["home"]}
    assert sum(map(len, stored.values())) == 30 * len(ENTITIES)
    await run_backfill(hass, entry, days=1)
    assert {table: influxdb3.rows("home", table) for table in influxdb3.store.databases["home"]} == stored
