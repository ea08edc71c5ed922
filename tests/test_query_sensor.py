"""Query sensors: added through the entry's subentry flow with a preview, then read every interval."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
import datetime as dt
import logging
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from homeassistant import config_entries
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import EVENT_HOMEASSISTANT_STOP, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.diagnostics import get_diagnostics_for_config_entry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.influxdb_ingest.const import DOMAIN
from custom_components.influxdb_ingest.data import InfluxDBIngestConfigEntry

from .support.helpers import MEASUREMENT, setup_entry, wait_for
from .support.servers import ADMIN_PASSWORD

POWER = {"name": "Mean power", "measurement": MEASUREMENT, "entity_id": "sensor.power", "duration": "1h"}


async def _entry_with_power(
    hass: HomeAssistant, v1_config: dict[str, Any], query: Callable[..., Any], database: str
) -> InfluxDBIngestConfigEntry:
    """An entry on the real 1.x that wrote 20, 21, 22 for sensor.power."""
    entry = await setup_entry(hass, v1_config)
    for value in ("20", "21", "22"):
        hass.states.async_set("sensor.power", value, {"unit_of_measurement": "W"})
        await hass.async_block_till_done()
    await entry.runtime_data.writer.async_flush()
    await wait_for(lambda: query(f"SELECT count(value) FROM {MEASUREMENT}", database))
    return entry


async def _start(hass: HomeAssistant, entry: InfluxDBIngestConfigEntry, step: dict[str, Any]) -> Any:
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "query_sensor"), context={"source": config_entries.SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    return await hass.config_entries.subentries.async_configure(result["flow_id"], step)


def _available_state(hass: HomeAssistant, entry: InfluxDBIngestConfigEntry) -> Any:
    """The query sensor's state once it is available, else None."""
    state = _query_sensor_state(hass, entry)
    return state if state is not None and state.state != STATE_UNAVAILABLE else None


def _query_sensor_state(hass: HomeAssistant, entry: InfluxDBIngestConfigEntry) -> Any:
    registry = er.async_get(hass)
    entities = [
        e for e in er.async_entries_for_config_entry(registry, entry.entry_id) if e.config_subentry_id
    ]
    return hass.states.get(entities[0].entity_id) if entities else None


async def test_mean_power_of_the_last_hour_is_built_in_the_ui_previewed_and_becomes_an_entity(
    hass: HomeAssistant, v1_config: dict[str, Any], query: Callable[..., Any], database: str
) -> None:
    entry = await _entry_with_power(hass, v1_config, query, database)
    result = await _start(hass, entry, POWER)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "sensor"
    assert result["description_placeholders"]["answer"].startswith("21 (")
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"unit_of_measurement": "W", "state_class": "measurement", "scan_interval": 60}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()

    state = await wait_for(lambda: _available_state(hass, entry))
    assert float(state.state) == 21
    assert state.attributes["unit_of_measurement"] == "W"
    assert state.attributes["friendly_name"] == "Mean power"


@pytest.mark.parametrize(
    ("step", "error"),
    [
        ({**POWER, "measurement": "no_such_table"}, "not_found"),
        ({**POWER, "entity_id": "sensor.never_written"}, "empty"),
        ({"name": "bad", "query": "SELECT FROM WHERE"}, "bad_query"),
        ({"name": "drop", "query": f"DROP MEASUREMENT {MEASUREMENT}"}, "not_read_only"),
        ({"name": "nothing"}, "query_or_measurement"),
    ],
)
async def test_the_flow_says_what_is_wrong_with_a_query_before_saving(
    hass: HomeAssistant,
    v1_config: dict[str, Any],
    query: Callable[..., Any],
    database: str,
    step: dict[str, Any],
    error: str,
) -> None:
    entry = await _entry_with_power(hass, v1_config, query, database)
    result = await _start(hass, entry, step)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}
    assert ADMIN_PASSWORD not in str(result.get("description_placeholders"))
    assert not entry.subentries
    assert await query(f"SELECT count(value) FROM {MEASUREMENT}", database)


async def test_a_query_sensor_is_reconfigured_and_removed(
    hass: HomeAssistant, v1_config: dict[str, Any], query: Callable[..., Any], database: str
) -> None:
    entry = await _entry_with_power(hass, v1_config, query, database)
    result = await _start(hass, entry, POWER)
    await hass.config_entries.subentries.async_configure(result["flow_id"], {"scan_interval": 60})
    await hass.async_block_till_done()
    (subentry_id,) = entry.subentries

    result = await entry.start_subentry_reconfigure_flow(hass, subentry_id)
    assert result["step_id"] == "user"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**POWER, "name": "Peak power", "aggregate": "max"}
    )
    assert result["description_placeholders"]["answer"].startswith("22 (")
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], {"scan_interval": 60})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.subentries[subentry_id].title == "Peak power"
    state = await wait_for(lambda: _available_state(hass, entry))
    assert float(state.state) == 22

    assert hass.config_entries.async_remove_subentry(entry, subentry_id)
    await hass.async_block_till_done()
    assert _query_sensor_state(hass, entry) is None
    assert not entry.runtime_data.query_sensors


@pytest.fixture
async def switchable_server(hass: HomeAssistant) -> AsyncGenerator[tuple[str, dict[str, Any]]]:
    """A 1.x `/query` that answers 42 while `ok`, 500 otherwise; writes are refused."""
    control: dict[str, Any] = {"ok": True, "asked": 0}

    async def _query(request: web.Request) -> web.Response:
        control["asked"] += 1
        if not control["ok"]:
            return web.Response(status=500, text='{"error":"boom"}')
        series = {"name": "m", "columns": ["time", "value"], "values": [[0, 42]]}
        return web.json_response({"results": [{"statement_id": 0, "series": [series]}]})

    app = web.Application()
    app.router.add_get("/query", _query)
    async with TestServer(app) as server:
        yield str(server.make_url("")), control


async def _entry_asking_every_10_s(hass: HomeAssistant, url: str) -> MockConfigEntry:
    """An entry on `url` (a 1.x /query, credentials `pw-secret-1`) with one query sensor, Answer."""
    subentry = ConfigSubentryData(
        data={"language": "influxql", "query": "SELECT last(value) FROM m", "scan_interval": 10},
        subentry_type="query_sensor",
        title="Answer",
        unique_id=None,
    )
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="switchable",
        data={"api_version": "1", "url": url, "database": "home", "username": "u", "password": "pw-secret-1"},
        subentries_data=[subentry],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def test_a_failing_query_makes_the_sensor_unavailable_and_logs_once_each_way(
    hass: HomeAssistant,
    switchable_server: tuple[str, dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
    hass_client: ClientSessionGenerator,
) -> None:
    url, control = switchable_server
    entry = await _entry_asking_every_10_s(hass, url)
    state = await wait_for(lambda: _available_state(hass, entry))
    assert state.state == "42"

    caplog.set_level(logging.INFO)
    (status,) = entry.runtime_data.query_sensors.values()
    control["ok"] = False
    for tick in (11, 22):
        asked = control["asked"]
        async_fire_time_changed(hass, dt_util.utcnow() + dt.timedelta(seconds=tick))
        await wait_for(lambda asked=asked: control["asked"] > asked)
        await wait_for(lambda tick=tick: status.consecutive_failures == tick // 11)
        assert _query_sensor_state(hass, entry).state == STATE_UNAVAILABLE
    assert caplog.text.count("is unavailable") == 1

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    (described,) = diagnostics["query_sensors"].values()
    assert described["query"] == "SELECT last(value) FROM m"
    assert "boom" in described["last_error"]
    assert described["consecutive_failures"] == 2
    assert "pw-secret-1" not in str(diagnostics)

    control["ok"] = True
    async_fire_time_changed(hass, dt_util.utcnow() + dt.timedelta(seconds=33))
    await wait_for(lambda: _query_sensor_state(hass, entry).state == "42")
    assert caplog.text.count("works again") == 1


async def test_a_value_template_shapes_the_state_and_a_bad_one_is_said_before_saving(
    hass: HomeAssistant, v1_config: dict[str, Any], query: Callable[..., Any], database: str
) -> None:
    entry = await _entry_with_power(hass, v1_config, query, database)
    result = await _start(hass, entry, POWER)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {"unit_of_measurement": "kW", "value_template": "{{ 'many' }}", "scan_interval": 60},
    )
    assert result["errors"] == {"base": "bad_template"}  # a unit needs a number
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {"unit_of_measurement": "kW", "value_template": "{{ value | float / 1000 }}", "scan_interval": 60},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    state = await wait_for(lambda: _available_state(hass, entry))
    assert float(state.state) == 0.021


async def test_query_sensors_stop_asking_once_home_assistant_stops(
    hass: HomeAssistant, switchable_server: tuple[str, dict[str, Any]]
) -> None:
    url, control = switchable_server
    entry = await _entry_asking_every_10_s(hass, url)
    await wait_for(lambda: _available_state(hass, entry))
    async_fire_time_changed(hass, dt_util.utcnow() + dt.timedelta(seconds=11))
    await wait_for(lambda: control["asked"] >= 2)

    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    asked = control["asked"]
    async_fire_time_changed(hass, dt_util.utcnow() + dt.timedelta(seconds=22))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert control["asked"] == asked
