"""Backfill from Home Assistant's own recorder (SQLite) into the real InfluxDB 1.x and the 3.x stand-in.

History is made by Home Assistant itself: states set at past times are recorded by the real
recorder, and the live pipeline writes them too, so backfilled points can be compared with
their live twins. Windows are made small where a test needs a job to take several.
"""

from __future__ import annotations

from collections.abc import Callable
import datetime as dt
import json
import logging
import re
import time
from typing import Any
from unittest.mock import patch

import aiohttp
from homeassistant import config_entries
from homeassistant.components import persistent_notification
from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.models import StatisticMeanType, StatisticMetaData
from homeassistant.components.recorder.statistics import async_import_statistics
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import async_wait_recording_done

from custom_components.influxdb_ingest.const import DOMAIN
from custom_components.influxdb_ingest.data import InfluxDBIngestConfigEntry
from custom_components.influxdb_ingest.history import backfill_job, recorder_source
from custom_components.influxdb_ingest.history.backfill_job import (
    BackfillJob,
    JobStatus,
    SourceError,
    SourceKind,
)
from custom_components.influxdb_ingest.history.influx1_source import InfluxDB1Database
from custom_components.influxdb_ingest.history.statistics_source import STATISTICS_MEASUREMENT

from .support.fault_proxy import Delay, FaultProxy
from .support.helpers import setup_entry, v1_entry_data, v1_source, v3_entry_data, wait_for
from .support.lp3_parser import LIMIT_64K
from .support.servers import ADMIN_PASSWORD, ADMIN_USER, InfluxDB1Server, free_port
from .support.standin_influxdb3 import InfluxDB3StandIn

ENTITIES = ("sensor.power", "sensor.temperature", "switch.heater")
# Fields Home Assistant's history API cannot give back (recorder_source.py says why).
_NOT_IN_HISTORY = ("context_id", "context_parent_id", "context_user_id")


@pytest.fixture(autouse=True)
def quiet_sql() -> None:
    """The recorder's SQL at INFO would bury a failure's own log."""
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)


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
            hass.states.async_set(
                entity_id, state, attributes, timestamp=start + number * step + index * 0.001
            )
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
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Small reads: decoded attributes (kept for the job) and line parts are reused across them.
    monkeypatch.setattr(recorder_source, "_STATES_PER_READ", 25)
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
        v3_entry_data(influxdb3.url),
    )
    await run_backfill(hass, entry, days=1)
    stored = {table: influxdb3.rows("home", table) for table in influxdb3.store.databases["home"]}
    assert sum(map(len, stored.values())) == 30 * len(ENTITIES)
    await run_backfill(hass, entry, days=1)
    assert {table: influxdb3.rows("home", table) for table in influxdb3.store.databases["home"]} == stored


async def test_backfilled_states_keep_to_the_column_budget_as_their_live_twins_did(
    recorder_mock: Recorder, hass: HomeAssistant, influxdb3: InfluxDB3StandIn
) -> None:
    live = await setup_entry(hass, v3_entry_data(influxdb3.url, "live"), {"max_columns": 16})
    wide = {f"key_{index}": index for index in range(30)}  # more attributes than the budget holds
    for number in range(5):
        hass.states.async_set("sensor.wide", str(number), wide, timestamp=time.time() - 600 + number)
    await async_wait_recording_done(hass)
    await live.runtime_data.writer.async_flush()

    entry = await setup_entry(hass, v3_entry_data(influxdb3.url, "backfilled"), {"max_columns": 16})
    await run_backfill(hass, entry, days=1)

    def stored(database: str) -> dict[str, list[dict[str, Any]]]:
        tables = influxdb3.store.databases[database]
        return {table: without(influxdb3.rows(database, table), _NOT_IN_HISTORY) for table in tables}

    live_rows = stored("live")
    assert sum(map(len, live_rows.values())) == 5
    assert all("attributes_overflow" in row for rows in live_rows.values() for row in rows)
    assert stored("backfilled") == live_rows


async def slow_job_through(
    hass: HomeAssistant, proxy: FaultProxy, database: str, monkeypatch: pytest.MonkeyPatch
) -> InfluxDBIngestConfigEntry:
    """900 recorded states and an entry behind the proxy, whose writes are slowed: a job of ~15 writes."""
    monkeypatch.setattr(recorder_source, "_STATES_PER_READ", 30)
    await record_history(hass, 300)
    entry = await setup_entry(hass, v1_entry_data(proxy.url, database), {"batch_size": 30})
    proxy.inject(*[Delay(0.05)] * 200)
    await hass.services.async_call(
        DOMAIN, "backfill", {"config_entry_id": entry.entry_id, "days": 1}, blocking=True
    )
    await wait_for(lambda: entry.runtime_data.backfill.progress.points >= 150, interval=0.01)
    return entry


async def count_all(query: Callable[..., Any], db: str) -> int:
    return len(await query("SELECT * FROM /.*/", db))


async def test_a_restart_mid_backfill_resumes_without_loss_or_duplicates(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    fault_proxy: FaultProxy,
    database: str,
    query: Callable[..., Any],
    hass_storage: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entry = await slow_job_through(hass, fault_proxy, database, monkeypatch)
    assert await hass.config_entries.async_unload(entry.entry_id)
    saved = hass_storage[f"{DOMAIN}.{entry.entry_id}.backfill"]["data"]["jobs"]
    assert len(saved) == 1
    assert 150 <= saved[0]["points"] < 900
    assert saved[0]["cursor_ns"] > saved[0]["start_ns"]

    assert await hass.config_entries.async_setup(entry.entry_id)
    backfill = entry.runtime_data.backfill
    await wait_for(lambda: backfill.progress.status is JobStatus.FINISHED, timeout=60)
    await entry.runtime_data.writer.async_flush()
    assert await count_all(query, database) == 900
    # Every window was written once: the resumed job went on from the saved cursor.
    assert backfill.progress.points == 900


async def test_cancelling_stops_the_job_and_it_does_not_come_back(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    fault_proxy: FaultProxy,
    database: str,
    query: Callable[..., Any],
    hass_storage: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entry = await slow_job_through(hass, fault_proxy, database, monkeypatch)
    response = await hass.services.async_call(
        DOMAIN, "cancel_backfill", {"config_entry_id": entry.entry_id}, blocking=True, return_response=True
    )
    assert response == {"entries": {entry.entry_id: {"title": "test", "cancelled": True}}}
    progress = entry.runtime_data.backfill.progress
    assert progress.status is JobStatus.CANCELLED
    assert 150 <= progress.points < 900
    notifications = persistent_notification._async_get_or_create_notifications(hass)
    message = notifications[f"{DOMAIN}_{entry.entry_id}_backfill"]["message"]
    assert message.startswith("History from the recorder into test: cancelled after ")
    await hass.async_block_till_done()
    assert hass_storage[f"{DOMAIN}.{entry.entry_id}.backfill"]["data"]["jobs"] == []

    # The job counts whole windows; a request in flight when it was cancelled may still be
    # stored (the proxy holds it 50 ms), part of the next window (a rerun overwrites it).
    counts: list[int] = []

    async def settled() -> bool:
        counts.append(await count_all(query, database))
        return len(counts) > 1 and counts[-1] == counts[-2]

    await wait_for(settled, interval=0.3)
    stored = counts[-1]
    assert stored >= progress.points

    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.runtime_data.backfill.progress.status is JobStatus.CANCELLED
    assert await count_all(query, database) == stored  # nothing more after the reload


async def test_an_outage_of_the_target_pauses_the_job_and_live_points_still_arrive(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    fault_proxy: FaultProxy,
    database: str,
    query: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entry = await slow_job_through(hass, fault_proxy, database, monkeypatch)
    backfill = entry.runtime_data.backfill
    fault_proxy.down = True
    await wait_for(lambda: backfill.progress.status is JobStatus.WAITING)
    for number in range(20):
        hass.states.async_set("sensor.live", str(number))
    points_before = backfill.progress.points
    fault_proxy.down = False
    await wait_for(lambda: backfill.progress.status is JobStatus.FINISHED, timeout=120)
    assert backfill.progress.points >= points_before
    await entry.runtime_data.writer.async_flush()
    assert await count_all(query, database) == 900 + 20  # the history and every live point


async def test_statistics_backfill_hourly_into_their_own_measurement(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    v1_config: dict[str, Any],
    database: str,
    query: Callable[..., Any],
) -> None:
    # Three days of hours, two years back: long beyond the raw states' window.
    first_hour = dt_util.utcnow().replace(minute=0, second=0, microsecond=0) - dt.timedelta(days=730)
    hours = [first_hour + dt.timedelta(hours=number) for number in range(72)]
    async_import_statistics(
        hass,
        _metadata(
            "sensor.outdoor_temperature", "°C", "temperature", StatisticMeanType.ARITHMETIC, has_sum=False
        ),
        [{"start": hour, "mean": 10.0 + n, "min": 9.5 + n, "max": 11 + n} for n, hour in enumerate(hours)],
    )
    async_import_statistics(
        hass,
        _metadata("sensor.grid_energy", "kWh", "energy", StatisticMeanType.NONE, has_sum=True),
        [{"start": hour, "state": 100.0 + n, "sum": float(n)} for n, hour in enumerate(hours)],
    )
    await async_wait_recording_done(hass)
    entry = await setup_entry(hass, v1_config)

    await run_backfill(hass, entry, source="statistics")
    rows = await query(f"SELECT * FROM {STATISTICS_MEASUREMENT} GROUP BY *", database)
    assert len(rows) == 2 * 72
    temperature = [row for row in rows if row["statistic_id"] == "sensor.outdoor_temperature"]
    assert {row["unit"] for row in temperature} == {"°C"}
    assert [row["time"] for row in temperature] == [int(hour.timestamp()) * 10**9 for hour in hours]
    assert (temperature[5]["mean"], temperature[5]["min"], temperature[5]["max"]) == (15.0, 14.5, 16.0)
    energy = [row for row in rows if row["statistic_id"] == "sensor.grid_energy"]
    assert (energy[3]["state"], energy[3]["sum"], energy[3]["unit"]) == (103.0, 3.0, "kWh")
    field_types = await query(f"SHOW FIELD KEYS FROM {STATISTICS_MEASUREMENT}", database)
    assert {row["fieldType"] for row in field_types} == {"float"}

    await run_backfill(hass, entry, source="statistics")
    assert len(await query(f"SELECT * FROM {STATISTICS_MEASUREMENT}", database)) == 2 * 72


def _metadata(
    statistic_id: str, unit: str, unit_class: str, mean_type: StatisticMeanType, *, has_sum: bool
) -> StatisticMetaData:
    return {
        "statistic_id": statistic_id,
        "source": "recorder",
        "name": None,
        "unit_of_measurement": unit,
        "unit_class": unit_class,
        "mean_type": mean_type,
        "has_sum": has_sum,
    }


async def test_setup_offers_the_history_and_the_job_starts_when_the_entry_loads(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    v1_config: dict[str, Any],
    database: str,
    query: Callable[..., Any],
) -> None:
    await record_history(hass, 20)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": config_entries.SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"next_step_id": "v1"})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {key: value for key, value in v1_config.items() if key != "api_version"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "history"
    assert result["description_placeholders"] == {"keep_days": str(get_instance(hass).keep_days)}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"history_days": 1, "history_statistics": False}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry: InfluxDBIngestConfigEntry = result["result"]
    await wait_for(lambda: entry.runtime_data.backfill.progress.status is JobStatus.FINISHED)
    await entry.runtime_data.writer.async_flush()
    assert await count_all(query, database) == 20 * len(ENTITIES)

    sensor = er.async_get(hass).async_get_entity_id("sensor", DOMAIN, f"{entry.entry_id}_backfill_progress")
    progress = hass.states.get(sensor)
    assert progress.state == "finished"
    assert progress.attributes["percent_done"] == 100.0
    assert progress.attributes["points_written"] == 20 * len(ENTITIES)
    # What does not apply to a finished job is left out, not shown as "Unknown".
    assert not {"error", "estimated_finish", "jobs_queued"} & set(progress.attributes)
    # The end is told with the source and target named, a short job's time in seconds.
    notifications = persistent_notification._async_get_or_create_notifications(hass)
    notification = notifications[f"{DOMAIN}_{entry.entry_id}_backfill"]
    assert notification["title"] == "InfluxDB Ingest: history import"
    assert re.fullmatch(
        rf"History from the recorder into {re.escape(entry.title)}: finished, 60 points written in \d+ s\.",
        notification["message"],
    )
    # Points written says which part came from history (here: all of it).
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    written = er.async_get(hass).async_get_entity_id("sensor", DOMAIN, f"{entry.entry_id}_points_written")
    attributes = hass.states.get(written).attributes
    assert (attributes["from_history"], attributes["live"]) == (20 * len(ENTITIES), 0)

    await hass.config_entries.async_reload(entry.entry_id)  # the offer is taken once
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.backfill.progress.kind is SourceKind.STATES
    assert entry.runtime_data.backfill.progress.status is JobStatus.FINISHED


async def test_the_action_needs_the_recorder(hass: HomeAssistant, v1_config: dict[str, Any]) -> None:
    entry = await setup_entry(hass, v1_config)
    with pytest.raises(ServiceValidationError, match="recorder"):
        await hass.services.async_call(
            DOMAIN, "backfill", {"config_entry_id": entry.entry_id}, blocking=True, return_response=True
        )


# --- Copy from an InfluxDB 1.x database --------------------------------------------------

OLD_LINES = [
    'W,domain=sensor,entity_id=power value=1,count=3i,ok=true,note="say \\"hi\\"" 1600000000000000000',
    "W,domain=sensor,entity_id=power value=2.5 1600000060000000000",  # the other fields are absent
    "W,domain=sensor,entity_id=other value=7 1600000060000000000",
    "°C,entity_id=kitchen value=21.5 1500000000000000000",
    "my\\ measure,tag\\,key=a\\ b,x=y total=42i,on=false 1700000000000000001",
]


async def start_copy(hass: HomeAssistant, entry: InfluxDBIngestConfigEntry, **connection: Any) -> Any:
    """Run the entry's "Copy from InfluxDB 1.x" flow to its end."""
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "influxdb1_copy"), context={"source": config_entries.SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    return await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"verify_ssl": True, **connection}
    )


@pytest.fixture
def old_database(influxdb_v1: InfluxDB1Server) -> str:
    """The database of the 1.x add-on being left: a few measurements, every field type, hostile names."""
    influxdb_v1.query('DROP DATABASE "old_addon"', method="POST")
    influxdb_v1.query('CREATE DATABASE "old_addon"', method="POST")
    influxdb_v1.write("old_addon", "\n".join(OLD_LINES) + "\n")
    # Many points of one series over a day: the copy takes several windows.
    start = 1_600_100_000 * 10**9
    many = [f"W,domain=sensor,entity_id=busy value={n}.25 {start + n * 60 * 10**9}" for n in range(1000)]
    influxdb_v1.write("old_addon", "\n".join(many) + "\n")
    return "old_addon"


async def test_an_influxdb1_database_is_copied_into_influxdb3_with_its_types(
    hass: HomeAssistant,
    influxdb_v1: InfluxDB1Server,
    influxdb3: InfluxDB3StandIn,
    old_database: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(backfill_job, "POINTS_PER_WINDOW", 100)
    entry = await setup_entry(
        hass,
        v3_entry_data(influxdb3.url),
    )
    connection = v1_source(influxdb_v1.url, old_database)
    result = await start_copy(hass, entry, **connection)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "copy_started"
    backfill = entry.runtime_data.backfill
    await wait_for(lambda: backfill.progress.status is JobStatus.FINISHED, timeout=60)
    await entry.runtime_data.writer.async_flush()

    assert influxdb3.schema("home", "W") == {
        "domain": "tag",
        "entity_id": "tag",
        "time": "time",
        "value": "float",
        "count": "integer",
        "ok": "boolean",
        "note": "string",
    }
    rows = influxdb3.rows("home", "W")
    assert len(rows) == 3 + 1000
    first = rows[0]
    assert (first["value"], first["count"], first["ok"], first["note"]) == (1.0, 3, True, 'say "hi"')
    assert influxdb3.rows("home", "°C") == [
        {"entity_id": "kitchen", "value": 21.5, "time": 1500000000000000000}
    ]
    assert influxdb3.rows("home", "my measure") == [
        {"tag,key": "a b", "x": "y", "total": 42, "on": False, "time": 1700000000000000001}
    ]
    assert backfill.progress.points == len(OLD_LINES) + 1000

    # A second copy overwrites: the same points, no more.
    stored = {table: influxdb3.rows("home", table) for table in influxdb3.store.databases["home"]}
    assert (await start_copy(hass, entry, **connection))["reason"] == "copy_started"
    await wait_for(lambda: backfill.progress.status is JobStatus.FINISHED and not backfill.busy, timeout=60)
    assert {table: influxdb3.rows("home", table) for table in influxdb3.store.databases["home"]} == stored


async def test_an_influxdb1_copy_into_influxdb1_twice_stores_the_same_count(
    hass: HomeAssistant,
    influxdb_v1: InfluxDB1Server,
    v1_config: dict[str, Any],
    database: str,
    query: Callable[..., Any],
    old_database: str,
) -> None:
    entry = await setup_entry(hass, v1_config)
    connection = v1_source(influxdb_v1.url, old_database)
    old_count = await count_all(query, old_database)
    for _ in range(2):
        assert (await start_copy(hass, entry, **connection))["reason"] == "copy_started"
        await wait_for(lambda: not entry.runtime_data.backfill.busy, timeout=60)
        assert entry.runtime_data.backfill.progress.status is JobStatus.FINISHED
        await entry.runtime_data.writer.async_flush()
        assert await count_all(query, database) == old_count == len(OLD_LINES) + 1000


async def test_the_copy_form_says_what_is_wrong_with_the_old_database(
    hass: HomeAssistant, influxdb_v1: InfluxDB1Server, v1_config: dict[str, Any], old_database: str
) -> None:
    entry = await setup_entry(hass, v1_config)
    wrong_password = {
        "url": influxdb_v1.url,
        "database": old_database,
        "username": ADMIN_USER,
        "password": "nope",
    }
    result = await start_copy(hass, entry, **wrong_password)
    assert result.get("errors") == {"base": "invalid_auth"}, result
    assert result["errors"] == {"base": "invalid_auth"}
    # The password stays in the form for the next try, and nowhere else.
    suggested = {str(key): key.description for key in result["data_schema"].schema}
    assert suggested["password"] == {"suggested_value": "nope"}
    assert "nope" not in str(result.get("description_placeholders"))
    result = await start_copy(
        hass, entry, url=influxdb_v1.url, database="missing", username=ADMIN_USER, password=ADMIN_PASSWORD
    )
    assert result["errors"] == {"database": "database_not_found"}
    assert result["description_placeholders"]["database"] == "missing"
    assert old_database in result["description_placeholders"]["databases"].split(", ")
    result = await start_copy(hass, entry, url=f"http://127.0.0.1:{free_port()}", database=old_database)
    assert result["errors"] == {"base": "cannot_connect"}
    assert not entry.runtime_data.backfill.busy


async def test_the_copy_form_refuses_a_bad_url_and_names_a_database_it_cannot_list(
    hass: HomeAssistant, influxdb_v1: InfluxDB1Server, v1_config: dict[str, Any]
) -> None:
    entry = await setup_entry(hass, v1_config)
    result = await start_copy(hass, entry, url="localhost:8086", database="x")
    assert result["errors"] == {"url": "invalid_url"}
    with patch.object(InfluxDB1Database, "async_databases", side_effect=[[], SourceError("gone")]):
        result = await start_copy(hass, entry, url=influxdb_v1.url, database="missing", username=ADMIN_USER)
    assert result["errors"] == {"database": "database_not_found"}
    assert result["description_placeholders"] == {"database": "missing", "databases": "-"}


async def test_the_copy_flow_waits_for_a_loaded_entry(hass: HomeAssistant, v1_config: dict[str, Any]) -> None:
    entry = MockConfigEntry(domain=DOMAIN, version=2, data=v1_config, title="not loaded")
    entry.add_to_hass(hass)
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "influxdb1_copy"), context={"source": config_entries.SOURCE_USER}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "entry_not_loaded"


async def test_a_copy_waiting_for_its_source_shows_without_credentials(
    hass: HomeAssistant, v1_config: dict[str, Any]
) -> None:
    entry = await setup_entry(hass, v1_config)
    backfill = entry.runtime_data.backfill
    connection = {"url": f"http://127.0.0.1:{free_port()}", "database": "old", "password": "old-secret"}
    backfill.enqueue(BackfillJob(SourceKind.INFLUXDB1, 0, time.time_ns(), connection=connection))
    await wait_for(lambda: backfill.progress.status is JobStatus.WAITING)  # retrying the source
    described = backfill.as_diagnostics()
    assert described["jobs"][0]["connection"] == {"database": "old"}
    assert "old-secret" not in str(described)
    assert hass.states.get("sensor.test_backfill_progress").state == "waiting"
    assert await backfill.async_cancel()
    assert backfill.progress.status is JobStatus.CANCELLED


async def test_copied_points_the_target_refuses_are_dead_lettered_the_rest_stored(
    hass: HomeAssistant, influxdb_v1: InfluxDB1Server, influxdb3: InfluxDB3StandIn, old_database: str
) -> None:
    # Another tool stored `note` as an integer in the new database: the old string cannot go there.
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{influxdb3.url}/api/v3/write_lp?db=home",
            data=b"W,domain=sensor,entity_id=power note=7i 1\n",
            headers={"Authorization": "Bearer test-token"},
        ) as answer,
    ):
        assert answer.status == 204
    entry = await setup_entry(
        hass,
        v3_entry_data(influxdb3.url),
    )
    connection = v1_source(influxdb_v1.url, old_database)
    assert (await start_copy(hass, entry, **connection))["reason"] == "copy_started"
    await wait_for(lambda: not entry.runtime_data.backfill.busy, timeout=60)
    writer = entry.runtime_data.writer
    assert writer.stats.points_dead_lettered == 1
    dead = await hass.async_add_executor_job(writer.dead_letter_path.read_text)
    assert "W,domain=sensor,entity_id=power count=3i," in dead  # with the server's reason
    assert "invalid column type for column 'note'" in dead
    # Everything else of the old database is there (and the other tool's point).
    stored = sum(len(influxdb3.rows("home", table)) for table in influxdb3.store.databases["home"])
    assert stored == len(OLD_LINES) + 1000 - 1 + 1


async def dead_letter_records(hass: HomeAssistant, entry: InfluxDBIngestConfigEntry) -> list[dict[str, Any]]:
    """What the entry's dead-letter file holds, one record per line."""
    text = await hass.async_add_executor_job(entry.runtime_data.writer.dead_letter_path.read_text)
    return [json.loads(line) for line in text.splitlines()]


async def test_backfilled_states_cut_long_strings_as_live_ones_and_keep_them_whole(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    v1_config: dict[str, Any],
    database: str,
    query: Callable[..., Any],
) -> None:
    """With a 10-byte limit: the recorded point is stored, its value cut, the cut counted and kept whole."""
    queue = {"queue": "0123456789abcdef"}
    hass.states.async_set("sensor.queue", "playing", queue, timestamp=time.time() - 60)
    await async_wait_recording_done(hass)
    # Set up afterwards: the entry gets the state from the recorder only.
    entry = await setup_entry(hass, v1_config, {"string_limit_bytes": 10})
    await run_backfill(hass, entry, days=1)

    rows = await query('SELECT "state", "attr_queue" FROM /.*/', database)
    assert [(row["state"], row["attr_queue"]) for row in rows] == [("playing", "0123456789")]
    writer = entry.runtime_data.writer
    assert (writer.stats.string_values_cut, writer.stats.points_dead_lettered) == (1, 0)
    (record,) = await dead_letter_records(hass, entry)
    assert (record["field"], record["value"]) == ("attr_queue", "0123456789abcdef")
    assert 'attr_queue="0123456789"' in record["line"]
    assert "10 bytes" in record["error"]


@pytest.mark.parametrize(("release", "stored_whole"), [("3.5", False), ("3.11", True)])
async def test_a_copied_string_over_the_target_limit_is_cut_stored_and_kept_whole(
    hass: HomeAssistant, influxdb_v1: InfluxDB1Server, release: str, stored_whole: bool
) -> None:
    """1.6 stored a 100 000-byte string (no limit before 1.10); the 3.x target takes 64 KiB up to
    3.8, 1 MiB from 3.9 (target/server_info.py): cut on 3.5 as a live value would be, whole on 3.11."""
    whole = "x" * 100_000
    influxdb_v1.query('DROP DATABASE "long_strings"', method="POST")
    influxdb_v1.query('CREATE DATABASE "long_strings"', method="POST")
    influxdb_v1.write("long_strings", f'log,entity_id=notes text="{whole}",n=1i 1600000000000000000\n')
    server = InfluxDB3StandIn(release=release)
    server.store.databases["home"] = {}
    await server.start()
    try:
        entry = await setup_entry(hass, v3_entry_data(server.url))
        writer = entry.runtime_data.writer
        await wait_for(lambda: writer.delivery.client.server is not None)  # `/ping` named the release
        assert (await start_copy(hass, entry, **v1_source(influxdb_v1.url, "long_strings")))[
            "reason"
        ] == "copy_started"
        await wait_for(lambda: not entry.runtime_data.backfill.busy, timeout=60)

        assert entry.runtime_data.backfill.progress.status is JobStatus.FINISHED
        (row,) = server.rows("home", "log")
        assert (row["text"], row["n"]) == (whole if stored_whole else whole[:LIMIT_64K], 1)
        assert writer.stats.points_dead_lettered == 0
        assert writer.stats.string_values_cut == (0 if stored_whole else 1)
        if not stored_whole:
            (record,) = await dead_letter_records(hass, entry)
            assert (record["field"], record["value"]) == ("text", whole)
            assert record["line"].startswith(f'log,entity_id=notes n=1i,text="{whole[:LIMIT_64K]}"')
        await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await server.stop()
