"""docs/schema.md's Grafana queries run over points this integration wrote, Grafana's macros filled in."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
import re
import time
from typing import Any

from homeassistant.core import HomeAssistant
import pytest

from custom_components.influxdb_ingest.data import InfluxDBIngestConfigEntry
from custom_components.influxdb_ingest.query.caches import (
    create_distinct_value_cache,
    create_last_value_cache,
)
from custom_components.influxdb_ingest.query.statement import Language

from .support.helpers import MEASUREMENT, setup_entry, v3_entry_data, wait_for
from .support.standin_query3 import InfluxDB3QueryStandIn

SCHEMA_MD = Path(__file__).parent.parent / "docs" / "schema.md"


def grafana_queries() -> list[tuple[str, str, str]]:
    """(language, title, query) of every code block in the section "Grafana, ready to paste"."""
    text = SCHEMA_MD.read_text()
    section = text.split("## Grafana, ready to paste", 1)[1].split("\n#", 1)[0]
    found = []
    for language, body in re.findall(r"```(influxql|sql)\n(.*?)```", section, re.DOTALL):
        title, _, query = body.strip().partition("\n")
        found.append((language, title.removeprefix("-- ").strip(), query.strip()))
    return found


def fill_macros(language: str, query: str) -> str:
    """What Grafana sends: the dashboard's last hour, a one-minute interval, `entity` = sensor.power."""
    end_ms = int(time.time() * 1000) + 60_000
    start_ms = end_ms - 3_600_000
    if language == "influxql":
        query = query.replace("$timeFilter", f"time >= {start_ms}ms and time <= {end_ms}ms")
        return query.replace("$__interval", "1m").replace("$entity", "sensor.power")
    start, end = (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) for ms in (start_ms, end_ms))
    query = query.replace("$__timeFilter(time)", f"time >= '{start}' AND time <= '{end}'")
    return query.replace("$__interval_ms", "60000").replace("${entity}", "sensor.power")


def test_the_docs_hold_a_graph_a_table_and_a_picker_in_each_language() -> None:
    titles = {(language, title.split(",")[0]) for language, title, _ in grafana_queries()}
    for language in ("influxql", "sql"):
        for title in ("graph of one entity", "table of current values", "entity picker variable"):
            assert (language, title) in titles


async def _write(hass: HomeAssistant, entry: InfluxDBIngestConfigEntry) -> None:
    for value in ("20", "21", "22"):
        hass.states.async_set("sensor.power", value)
        await hass.async_block_till_done()
    hass.states.async_set("switch.lamp", "on")
    await entry.runtime_data.writer.async_flush()


def _check(title: str, rows: list[dict[str, Any]]) -> None:
    """What each kind of panel must show for sensor.power (20, 21, 22) and switch.lamp (on)."""
    if title.startswith("graph"):
        assert rows
        assert sum(float(row["value"]) for row in rows) / len(rows) == pytest.approx(21, abs=1)
    elif title.startswith("table"):
        current = {row["entity_id"]: row for row in rows}
        assert float(current["sensor.power"]["value"]) == 22
        assert current["switch.lamp"]["state"] == "on"
    else:
        assert [row.get("entity_id", row.get("value")) for row in rows] == ["sensor.power"]


async def test_the_influxql_queries_answer_on_the_real_influxdb1(
    hass: HomeAssistant, v1_config: dict[str, Any], query: Callable[..., Any], database: str
) -> None:
    entry = await setup_entry(hass, v1_config)
    await _write(hass, entry)
    await wait_for(lambda: query(f"SELECT count(state) FROM {MEASUREMENT}", database))
    asked = [(title, text) for language, title, text in grafana_queries() if language == "influxql"]
    assert asked
    for title, text in asked:
        result = await entry.runtime_data.queries.run(Language.INFLUXQL, fill_macros("influxql", text))
        _check(title, result.rows.rows)


async def test_the_sql_queries_answer_on_influxdb3(
    hass: HomeAssistant, influxdb3_sql: InfluxDB3QueryStandIn
) -> None:
    entry = await setup_entry(hass, v3_entry_data(influxdb3_sql.url))
    await _write(hass, entry)
    await wait_for(lambda: len(influxdb3_sql.store.rows("home", MEASUREMENT)) >= 4)
    queries = entry.runtime_data.queries
    await create_last_value_cache(queries, MEASUREMENT)
    await create_distinct_value_cache(queries, MEASUREMENT)
    asked = [(title, text) for language, title, text in grafana_queries() if language == "sql"]
    assert asked
    for title, text in asked:
        result = await queries.run(Language.SQL, fill_macros("sql", text))
        _check(title, result.rows.rows)
