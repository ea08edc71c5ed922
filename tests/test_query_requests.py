"""Flux on 2.x and InfluxQL on 3.x: the requests the servers' sources expect, their answers read back.

No 2.x or 3.x server runs here, and no stand-in answers Flux or InfluxQL; a recording server
checks each request against the server's source and answers as the source does.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
import json
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession
import pytest

from custom_components.influxdb_ingest.const import ApiVersion
from custom_components.influxdb_ingest.query.client import QueryClient, QueryInvalid
from custom_components.influxdb_ingest.query.statement import Language
from custom_components.influxdb_ingest.target.influx_target import InfluxTarget

# A Flux answer as the 2.x CSV encoder writes it with `"annotations": ["datatype"]` (flux
# csv/result.go; http/query.go at v2.7.12, QueryDialect): lines end with CRLF, tables apart.
FLUX_ANSWER = (
    "#datatype,string,long,dateTime:RFC3339,double,string,string\r\n"
    ",result,table,_time,_value,_field,entity_id\r\n"
    ",_result,0,2026-12-03T18:00:00Z,21.5,value,sensor.power\r\n"
    "\r\n"
    "#datatype,string,long,dateTime:RFC3339,long,string,string\r\n"
    ",result,table,_time,_value,_field,entity_id\r\n"
    ",_result,1,2026-12-03T18:00:00Z,3,count,sensor.power\r\n"
    "\r\n"
)


@pytest.fixture
async def recorder(hass: HomeAssistant) -> AsyncGenerator[tuple[str, list[dict[str, Any]]]]:
    """Answers Flux, 3.x InfluxQL and the 1.x-compatible /query as the servers do; records each request."""
    seen: list[dict[str, Any]] = []

    async def _record(request: web.Request) -> dict[str, Any]:
        entry = {
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "headers": dict(request.headers),
            "body": json.loads(await request.read() or b"null"),
        }
        seen.append(entry)
        return entry

    async def _flux(request: web.Request) -> web.Response:
        entry = await _record(request)
        if "syntax error" in entry["body"]["query"]:
            # http/errors.go: {"code", "message"}, 400 for a query that does not compile.
            return web.json_response(
                {"code": "invalid", "message": "compilation failed: syntax error"}, status=400
            )
        return web.Response(text=FLUX_ANSWER, content_type="text/csv")

    async def _influxql(request: web.Request) -> web.Response:
        await _record(request)
        return web.Response(text='[{"iox::measurement":"W","time":"2026-12-03T18:00:00","mean":21.5}]')

    async def _v1_compatible(request: web.Request) -> web.Response:
        await _record(request)
        series = {"name": "W", "columns": ["time", "mean"], "values": [[1764784800000, 21.5]]}
        return web.json_response({"results": [{"statement_id": 0, "series": [series]}]})

    app = web.Application()
    app.router.add_get("/query", _v1_compatible)
    app.router.add_post("/api/v2/query", _flux)
    app.router.add_post("/api/v3/query_influxql", _influxql)
    async with TestServer(app) as server:
        yield str(server.make_url("")), seen


async def test_flux_goes_to_the_v2_query_api_and_its_csv_tables_become_typed_rows(
    hass: HomeAssistant, recorder: tuple[str, list[dict[str, Any]]]
) -> None:
    url, seen = recorder
    target = InfluxTarget(api_version=ApiVersion.V2, url=url, org="home", bucket="ha", token="tok-secret")
    client = QueryClient(async_get_clientsession(hass), target)
    result = await client.run(Language.FLUX, 'from(bucket: "ha") |> range(start: -1h)')
    (request,) = seen
    assert (request["method"], request["path"], request["query"]) == (
        "POST",
        "/api/v2/query",
        {"org": "home"},
    )
    assert request["headers"]["Authorization"] == "Token tok-secret"
    assert request["body"] == {
        "query": 'from(bucket: "ha") |> range(start: -1h)',
        "type": "flux",
        "dialect": {"header": True, "annotations": ["datatype"], "delimiter": ","},
    }
    assert result.rows.rows == [
        {"_time": "2026-12-03T18:00:00Z", "_value": 21.5, "_field": "value", "entity_id": "sensor.power"},
        {"_time": "2026-12-03T18:00:00Z", "_value": 3, "_field": "count", "entity_id": "sensor.power"},
    ]
    with pytest.raises(QueryInvalid, match="compilation failed") as raised:
        await client.run(Language.FLUX, "syntax error")
    assert "tok-secret" not in str(raised.value)


async def test_influxql_on_influxdb3_goes_to_its_own_endpoint_with_the_database(
    hass: HomeAssistant, recorder: tuple[str, list[dict[str, Any]]]
) -> None:
    url, seen = recorder
    target = InfluxTarget(api_version=ApiVersion.V3, url=url, database="home", token="tok-secret")
    client = QueryClient(async_get_clientsession(hass), target)
    result = await client.run(Language.INFLUXQL, 'SELECT mean(value) FROM "W"')
    (request,) = seen
    assert (request["method"], request["path"]) == ("POST", "/api/v3/query_influxql")
    assert request["headers"]["Authorization"] == "Bearer tok-secret"
    assert request["body"] == {"db": "home", "q": 'SELECT mean(value) FROM "W"', "format": "json"}
    assert result.rows.rows == [{"iox::measurement": "W", "time": "2026-12-03T18:00:00", "mean": 21.5}]


async def test_influxql_on_influxdb2_asks_the_compatible_query_api_for_the_bucket(
    hass: HomeAssistant, recorder: tuple[str, list[dict[str, Any]]]
) -> None:
    """2.x answers InfluxQL on /query (http/legacy/backend.go at v2.7.12, line 71), `db` read as the
    database a DBRP mapping points at the bucket (http/legacy/influxqld_handler.go line 152)."""
    url, seen = recorder
    target = InfluxTarget(api_version=ApiVersion.V2, url=url, org="home", bucket="ha", token="tok-secret")
    client = QueryClient(async_get_clientsession(hass), target)
    result = await client.run(Language.INFLUXQL, 'SELECT mean(value) FROM "W"')
    (request,) = seen
    assert (request["method"], request["path"]) == ("GET", "/query")
    assert request["query"] == {"db": "ha", "q": 'SELECT mean(value) FROM "W"', "epoch": "ms"}
    assert request["headers"]["Authorization"] == "Token tok-secret"
    assert result.rows.rows == [{"time": 1764784800000, "mean": 21.5}]
