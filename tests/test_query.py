"""Reading back: the read-only check, queries built from parts, and queries against the real InfluxDB 1.x."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.aiohttp_client import async_get_clientsession
import pytest

from custom_components.influxdb_ingest.const import DOMAIN, ApiVersion
from custom_components.influxdb_ingest.query import client as client_module
from custom_components.influxdb_ingest.query.answers import flux_rows
from custom_components.influxdb_ingest.query.client import (
    QueryClient,
    QueryInvalid,
    QueryNotFound,
    QueryRefused,
    QueryTimeout,
    QueryTooLarge,
    QueryUnsupported,
)
from custom_components.influxdb_ingest.query.statement import (
    Language,
    NotReadOnly,
    QueryParts,
    check_read_only,
)
from custom_components.influxdb_ingest.target.influx_target import InfluxTarget

from .support.helpers import MEASUREMENT, setup_entry, wait_for
from .support.servers import ADMIN_PASSWORD


@pytest.mark.parametrize(
    ("language", "query"),
    [
        (Language.INFLUXQL, "DROP MEASUREMENT home_assistant_events"),
        (Language.INFLUXQL, "SELECT * INTO copy FROM home_assistant_events"),
        (Language.INFLUXQL, "DELETE FROM home_assistant_events"),
        (Language.INFLUXQL, "CREATE DATABASE other"),
        (Language.INFLUXQL, "SELECT 1; DROP DATABASE home"),
        (Language.SQL, "INSERT INTO t VALUES (1)"),
        (Language.SQL, "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x"),
        (Language.SQL, "/* SELECT */ DROP TABLE t"),
        (Language.SQL, "   "),
        (Language.FLUX, 'from(bucket: "a") |> range(start: -1h) |> to(bucket: "b")'),
        (Language.FLUX, 'import "experimental"\nfrom(bucket: "a") |> experimental.to(bucket: "b")'),
        (Language.FLUX, 'import "influxdata/influxdb"\ndelete(bucket: "a")'),
    ],
)
def test_statements_that_write_delete_or_change_the_schema_are_refused(
    language: Language, query: str
) -> None:
    with pytest.raises(NotReadOnly):
        check_read_only(language, query)


@pytest.mark.parametrize(
    ("language", "query"),
    [
        (Language.INFLUXQL, "SELECT mean(value) FROM \"drop\" WHERE entity_id = 'sensor.insert_into'"),
        (Language.INFLUXQL, "SHOW MEASUREMENTS"),
        (Language.SQL, "select avg(value) from \"delete\" where entity_id = 'x; DROP TABLE y';"),
        (Language.SQL, "WITH last AS (SELECT * FROM t) SELECT * FROM last"),
        (Language.SQL, "EXPLAIN SELECT 1"),
        (Language.FLUX, 'from(bucket: "to(") |> range(start: -1h) // to(bucket: "b")'),
    ],
)
def test_reading_statements_pass_even_with_writing_words_in_quotes(language: Language, query: str) -> None:
    assert check_read_only(language, query) == query.strip()


def test_a_query_built_from_parts_quotes_names_and_values_for_each_language() -> None:
    parts = QueryParts(measurement='my "m"', aggregate="mean", duration="1h", entity_id="sensor.o'k")
    assert parts.build(Language.INFLUXQL) == (
        'SELECT mean("value") AS value FROM "my \\"m\\"" WHERE time > now() - 1h'
        " AND \"entity_id\" = 'sensor.o\\'k'"
    )
    assert parts.build(Language.SQL) == (
        'SELECT avg("value") AS value FROM "my ""m""" WHERE time > now() - INTERVAL \'1 hours\''
        " AND entity_id = 'sensor.o''k'"
    )
    last = QueryParts(measurement="t", aggregate="last", duration="30m", bucket="home")
    assert last.build(Language.SQL).endswith("ORDER BY time DESC LIMIT 1")
    assert last.build(Language.FLUX) == (
        'from(bucket: "home") |> range(start: -30m) |> filter(fn: (r) => r._measurement == "t"'
        ' and r._field == "value") |> group() |> last()'
    )


def test_flux_csv_answers_keep_their_types_and_raise_their_errors() -> None:
    body = (
        "#datatype,string,long,dateTime:RFC3339,double,string\r\n"
        ",result,table,_time,_value,entity_id\r\n"
        ",_result,0,2026-12-03T18:00:00Z,21.5,sensor.a\r\n"
        ",_result,1,2026-12-03T18:00:00Z,,sensor.b\r\n"
        "\r\n"
    )
    rows = flux_rows(body, 10)
    assert rows.rows == [
        {"_time": "2026-12-03T18:00:00Z", "_value": 21.5, "entity_id": "sensor.a"},
        {"_time": "2026-12-03T18:00:00Z", "_value": None, "entity_id": "sensor.b"},
    ]
    assert flux_rows(body, 1).truncated
    with pytest.raises(ValueError, match="undefined identifier"):
        flux_rows("#datatype,string,string\r\n,error,reference\r\n,undefined identifier x,\r\n", 10)


async def _written(
    hass: HomeAssistant, v1_config: dict[str, Any], query: Callable[..., Any], database: str
) -> Any:
    """An entry that wrote 20, 21, 22 for sensor.power and 5 for sensor.other; its runtime data."""
    entry = await setup_entry(hass, v1_config)
    for value in ("20", "21", "22"):
        hass.states.async_set("sensor.power", value)
        await hass.async_block_till_done()
    hass.states.async_set("sensor.other", "5")
    await entry.runtime_data.writer.async_flush()
    await wait_for(lambda: query(f"SELECT count(value) FROM {MEASUREMENT}", database))
    return entry.runtime_data


async def test_influxql_reads_back_what_the_integration_wrote(
    hass: HomeAssistant, v1_config: dict[str, Any], query: Callable[..., Any], database: str
) -> None:
    runtime = await _written(hass, v1_config, query, database)
    parts = QueryParts(measurement=MEASUREMENT, aggregate="mean", duration="1h", entity_id="sensor.power")
    result = await runtime.queries.run(Language.INFLUXQL, parts.build(Language.INFLUXQL))
    assert [row["value"] for row in result.rows.rows] == [21]
    assert result.duration_ms > 0
    every = await runtime.queries.run(
        Language.INFLUXQL, f"SELECT value FROM {MEASUREMENT} GROUP BY entity_id", limit=2
    )
    assert every.rows.truncated
    assert len(every.rows.rows) == 2
    assert {"time", "value", "entity_id"} <= set(every.rows.columns)


async def test_a_refused_statement_never_reaches_the_server(
    hass: HomeAssistant, v1_config: dict[str, Any], query: Callable[..., Any], database: str
) -> None:
    runtime = await _written(hass, v1_config, query, database)
    with pytest.raises(QueryRefused, match="DROP"):
        await runtime.queries.run(Language.INFLUXQL, f"DROP MEASUREMENT {MEASUREMENT}")
    with pytest.raises(QueryUnsupported):
        await runtime.queries.run(Language.SQL, f"SELECT * FROM {MEASUREMENT}")
    assert await query(f"SELECT count(value) FROM {MEASUREMENT}", database)


async def test_bad_queries_and_missing_databases_are_told_apart_without_credentials(
    hass: HomeAssistant, v1_config: dict[str, Any], query: Callable[..., Any], database: str
) -> None:
    runtime = await _written(hass, v1_config, query, database)
    with pytest.raises(QueryInvalid) as bad:
        await runtime.queries.run(Language.INFLUXQL, "SELECT FROM WHERE")
    missing = QueryClient(
        async_get_clientsession(hass), InfluxTarget.from_config({**v1_config, "database": "nowhere"})
    )
    with pytest.raises(QueryNotFound) as not_found:
        await missing.run(Language.INFLUXQL, f"SELECT * FROM {MEASUREMENT}")
    for error in (bad.value, not_found.value):
        assert ADMIN_PASSWORD not in str(error)


@pytest.fixture
async def stalling_server(hass: HomeAssistant) -> AsyncGenerator[tuple[str, list[float]]]:
    """A server that takes 5 s to answer; records when each request arrived."""
    arrivals: list[float] = []

    async def _slow(request: web.Request) -> web.Response:
        arrivals.append(asyncio.get_running_loop().time())
        await asyncio.sleep(5)
        return web.json_response({"results": []})

    app = web.Application()
    app.router.add_get("/query", _slow)
    async with TestServer(app) as server:
        yield str(server.make_url("")), arrivals


async def test_a_slow_server_times_out_and_queries_run_one_at_a_time(
    hass: HomeAssistant, stalling_server: tuple[str, list[float]]
) -> None:
    url, arrivals = stalling_server
    client = QueryClient(
        async_get_clientsession(hass), InfluxTarget(api_version=ApiVersion.V1, url=url, database="home")
    )
    results = await asyncio.gather(
        client.run(Language.INFLUXQL, "SELECT 1", timeout=0.3),
        client.run(Language.INFLUXQL, "SELECT 2", timeout=0.3),
        return_exceptions=True,
    )
    assert all(isinstance(result, QueryTimeout) for result in results)
    assert len(arrivals) in (1, 2)
    if len(arrivals) == 2:  # the second was sent only once the first had given up
        assert arrivals[1] - arrivals[0] >= 0.25


async def test_the_query_action_answers_a_script_with_rows_the_integration_wrote(
    hass: HomeAssistant, v1_config: dict[str, Any], query: Callable[..., Any], database: str
) -> None:
    await _written(hass, v1_config, query, database)
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    response = await hass.services.async_call(
        DOMAIN,
        "query",
        {
            "config_entry_id": entry.entry_id,
            "query": f"SELECT last(value) AS value FROM {MEASUREMENT} GROUP BY entity_id",
        },
        blocking=True,
        return_response=True,
    )
    assert response is not None
    assert response["language"] == "influxql"
    assert response["truncated"] is False
    by_entity = {row["entity_id"]: row["value"] for row in response["rows"]}  # type: ignore[union-attr,index]
    assert by_entity == {"sensor.power": 22, "sensor.other": 5}


@pytest.mark.parametrize(
    ("query_text", "language", "error", "translation_key"),
    [
        (f"DROP MEASUREMENT {MEASUREMENT}", None, ServiceValidationError, "query_refused"),
        ("SELECT 1", "flux", ServiceValidationError, "query_refused"),
        ("SELECT FROM", None, HomeAssistantError, "query_failed"),
    ],
)
async def test_the_query_action_refuses_writes_and_explains_failures(
    hass: HomeAssistant,
    v1_config: dict[str, Any],
    query: Callable[..., Any],
    database: str,
    query_text: str,
    language: str | None,
    error: type[Exception],
    translation_key: str,
) -> None:
    await _written(hass, v1_config, query, database)
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    data = {"config_entry_id": entry.entry_id, "query": query_text}
    if language:
        data["language"] = language
    with pytest.raises(error) as raised:
        await hass.services.async_call(DOMAIN, "query", data, blocking=True, return_response=True)
    assert getattr(raised.value, "translation_key", None) == translation_key
    assert ADMIN_PASSWORD not in str(raised.value)
    assert await query(f"SELECT count(value) FROM {MEASUREMENT}", database)


async def test_an_answer_above_the_size_cap_is_refused_not_cut(
    hass: HomeAssistant,
    v1_config: dict[str, Any],
    query: Callable[..., Any],
    database: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime = await _written(hass, v1_config, query, database)
    monkeypatch.setattr(client_module, "MAX_ANSWER_BYTES", 200)
    with pytest.raises(QueryTooLarge):
        await runtime.queries.run(Language.INFLUXQL, f"SELECT * FROM {MEASUREMENT}")
    small = await runtime.queries.run(Language.INFLUXQL, f"SELECT count(value) FROM {MEASUREMENT}")
    assert small.rows.rows[0]["count"] == 4
