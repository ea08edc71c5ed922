"""SQL on InfluxDB 3: the stand-in answers `/api/v3/query_sql` by running the SQL with DataFusion."""

from __future__ import annotations

from typing import Any

from homeassistant import config_entries
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.aiohttp_client import async_get_clientsession
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.influxdb_ingest.config_flow import InfluxDBIngestConfigFlow
from custom_components.influxdb_ingest.const import DOMAIN
from custom_components.influxdb_ingest.data import InfluxDBIngestConfigEntry
from custom_components.influxdb_ingest.query.answers import csv_rows, json_rows, jsonl_rows
from custom_components.influxdb_ingest.query.client import QueryInvalid, QueryNotFound
from custom_components.influxdb_ingest.query.statement import Language

from .support.helpers import MEASUREMENT, setup_entry, v3_entry_data, wait_for
from .support.standin_query3 import InfluxDB3QueryStandIn


async def _written(hass: HomeAssistant, server: InfluxDB3QueryStandIn) -> InfluxDBIngestConfigEntry:
    """An entry on 3.x that wrote 20, 21, 22 for sensor.power and `on` for switch.lamp."""
    entry = await setup_entry(hass, v3_entry_data(server.url))
    for value in ("20", "21", "22"):
        hass.states.async_set("sensor.power", value)
        await hass.async_block_till_done()
    hass.states.async_set("switch.lamp", "on")
    await entry.runtime_data.writer.async_flush()
    await wait_for(lambda: len(server.store.rows("home", MEASUREMENT)) >= 4)
    return entry


async def test_sql_reads_back_what_the_integration_wrote(
    hass: HomeAssistant, influxdb3_sql: InfluxDB3QueryStandIn
) -> None:
    entry = await _written(hass, influxdb3_sql)
    response = await hass.services.async_call(
        DOMAIN,
        "query",
        {
            "config_entry_id": entry.entry_id,
            "query": f"SELECT entity_id, state, value FROM {MEASUREMENT} ORDER BY time",
        },
        blocking=True,
        return_response=True,
    )
    assert response is not None
    assert response["language"] == "sql"
    rows: Any = response["rows"]
    assert rows == [
        {"entity_id": "sensor.power", "state": "20", "value": 20.0},
        {"entity_id": "sensor.power", "state": "21", "value": 21.0},
        {"entity_id": "sensor.power", "state": "22", "value": 22.0},
        {"entity_id": "switch.lamp", "state": "on"},  # no value: arrow_json leaves the null out
    ]


async def test_an_sql_query_sensor_is_built_from_parts_and_previewed(
    hass: HomeAssistant, influxdb3_sql: InfluxDB3QueryStandIn
) -> None:
    entry = await _written(hass, influxdb3_sql)
    step = {"name": "Last power", "language": "sql", "measurement": MEASUREMENT, "aggregate": "last"}
    outcomes = {}
    for entity_id, measurement in (
        ("sensor.power", MEASUREMENT),
        ("sensor.nothing", MEASUREMENT),
        ("", "nope"),
    ):
        entity = {"entity_id": entity_id} if entity_id else {}
        result = await hass.config_entries.subentries.async_init(
            (entry.entry_id, "query_sensor"), context={"source": config_entries.SOURCE_USER}
        )
        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"], {**step, **entity, "measurement": measurement, "duration": "1h"}
        )
        outcomes[entity_id or measurement] = result
    assert outcomes["sensor.power"]["type"] is FlowResultType.FORM
    assert outcomes["sensor.power"]["step_id"] == "sensor"
    assert outcomes["sensor.power"]["description_placeholders"]["answer"].startswith("22.0 (")
    assert outcomes["sensor.nothing"]["errors"] == {"base": "empty"}
    assert outcomes["nope"]["errors"] == {"base": "not_found"}


@pytest.mark.parametrize("format_", ["json", "jsonl", "csv"])
async def test_each_answer_format_of_the_server_reads_back_the_same_rows(
    hass: HomeAssistant, influxdb3_sql: InfluxDB3QueryStandIn, format_: str
) -> None:
    await _written(hass, influxdb3_sql)
    session = async_get_clientsession(hass)
    body = {
        "db": "home",
        "q": f"SELECT entity_id, value, time FROM {MEASUREMENT} ORDER BY time",
        "format": format_,
    }
    async with session.post(
        f"{influxdb3_sql.url}/api/v3/query_sql", json=body, headers={"Authorization": "Bearer test-token"}
    ) as response:
        assert response.status == 200
        assert response.content_type == {"json": "application/json", "jsonl": "application/jsonl"}.get(
            format_, "text/csv"
        )
        text = await response.text()
    parse = {"json": json_rows, "jsonl": jsonl_rows, "csv": csv_rows}[format_]
    rows = parse(text, 100).rows
    assert [row["entity_id"] for row in rows] == ["sensor.power"] * 3 + ["switch.lamp"]
    assert [float(row["value"]) for row in rows[:3]] == [20.0, 21.0, 22.0]
    assert all(len(row["time"]) >= 19 and row["time"][10] == "T" for row in rows)


async def test_a_missing_table_or_database_is_not_found_and_bad_sql_is_invalid(
    hass: HomeAssistant, influxdb3_sql: InfluxDB3QueryStandIn
) -> None:
    entry = await _written(hass, influxdb3_sql)
    queries = entry.runtime_data.queries
    with pytest.raises(QueryNotFound, match=r"table 'public\.iox\.nope' not found"):
        await queries.run(Language.SQL, "SELECT * FROM nope")
    with pytest.raises(QueryInvalid, match="SQL error"):
        await queries.run(Language.SQL, "SELECT FROM WHERE ORDER")
    influxdb3_sql.store.databases.pop("home")
    with pytest.raises(QueryNotFound, match="database not found: home"):
        await queries.run(Language.SQL, f"SELECT * FROM {MEASUREMENT}")


async def _add_caches(hass: HomeAssistant, entry: InfluxDBIngestConfigEntry) -> Any:
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "influxdb3_caches"), context={"source": config_entries.SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    return await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"last_value_cache": True, "distinct_value_cache": True}
    )


async def test_the_caches_are_one_tick_away_and_answer_our_queries(
    hass: HomeAssistant, influxdb3_sql: InfluxDB3QueryStandIn
) -> None:
    entry = await setup_entry(hass, v3_entry_data(influxdb3_sql.url))
    result = await _add_caches(hass, entry)
    assert result["errors"] == {"base": "table_missing"}  # nothing written yet: no table

    entry = await _written(hass, influxdb3_sql)
    result = await _add_caches(hass, entry)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "caches_created"
    assert result["description_placeholders"] == {"caches": "ha_last_value, ha_entities"}
    assert (await _add_caches(hass, entry))["description_placeholders"] == {
        "caches": "ha_last_value (already there), ha_entities (already there)"
    }
    assert not entry.subentries  # nothing to keep: the caches live on the server

    async def ask(sql: str) -> Any:
        data = {"config_entry_id": entry.entry_id, "query": sql}
        response = await hass.services.async_call(DOMAIN, "query", data, blocking=True, return_response=True)
        assert response is not None
        return response["rows"]

    latest = await ask(
        f"SELECT entity_id, value FROM last_cache('{MEASUREMENT}', 'ha_last_value') ORDER BY 1"
    )
    assert latest == [{"entity_id": "sensor.power", "value": 22.0}, {"entity_id": "switch.lamp"}]
    picker = await ask(
        f"SELECT entity_id FROM distinct_cache('{MEASUREMENT}', 'ha_entities') WHERE domain = 'sensor'"
    )
    assert picker == [{"entity_id": "sensor.power"}]

    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "query_sensor"), context={"source": config_entries.SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {"name": "Power now", "language": "sql", "measurement": MEASUREMENT, "aggregate": "last"}
        | {"entity_id": "sensor.power", "duration": "1h"},
    )
    assert result["description_placeholders"]["answer"] == (
        "22.0 (" + result["description_placeholders"]["answer"].split("(", 1)[1]
    )
    assert (
        "last_cache('home_assistant_events', 'ha_last_value')" in result["description_placeholders"]["answer"]
    )
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], {"scan_interval": 60})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["last_cache"] == "ha_last_value"


async def test_caches_are_offered_on_influxdb3_only(
    hass: HomeAssistant, influxdb3_sql: InfluxDB3QueryStandIn
) -> None:
    v3 = MockConfigEntry(domain=DOMAIN, data=v3_entry_data(influxdb3_sql.url))
    v1 = MockConfigEntry(
        domain=DOMAIN, data={"api_version": "1", "url": "http://127.0.0.1:1", "database": "x"}
    )
    assert "influxdb3_caches" in InfluxDBIngestConfigFlow.async_get_supported_subentry_types(v3)
    assert "influxdb3_caches" not in InfluxDBIngestConfigFlow.async_get_supported_subentry_types(v1)
    assert "query_sensor" in InfluxDBIngestConfigFlow.async_get_supported_subentry_types(v1)


async def test_a_database_the_flow_creates_gets_the_retention_period_asked(
    hass: HomeAssistant, influxdb3_sql: InfluxDB3QueryStandIn
) -> None:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": config_entries.SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"next_step_id": "v3"})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"url": influxdb3_sql.url, "database": "archive", "token": "test-token"}
    )
    assert result["step_id"] == "create_database"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"retention_days": 400})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert influxdb3_sql.retention == {"archive": "400d"}
