"""The InfluxDB 2.x and 3.x stand-ins answer as the real servers' source says they do.

Each test names the behaviour it pins; the source it comes from is cited next to the code
that reproduces it in tests/support/standin_influxdb3.py, tests/support/standin_influxdb2.py and
tests/support/standin_core.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
import gzip
import json
import time
from typing import Any

import aiohttp
from homeassistant.core import HomeAssistant
import pytest

from .support.helpers import wait_for
from .support.standin_core import Point, parse_lines_v3, parse_points_v2
from .support.standin_influxdb2 import InfluxDB2StandIn
from .support.standin_influxdb3 import InfluxDB3StandIn

BEARER = {"Authorization": "Bearer test-token"}
TOKEN = {"Authorization": "Token test-token"}
V2 = {"org": "test-org", "bucket": "test-bucket"}
UNAUTHENTICATED = '{"error": "the request was not authenticated"}'


@pytest.fixture
def influxdb3_release() -> str:
    """These tests were read at v3.5.0; what later releases change is in test_standin3_server_tests.py."""
    return "3.5"


@pytest.fixture
def v3(influxdb3_empty: InfluxDB3StandIn) -> InfluxDB3StandIn:
    """conftest's stand-in, without a database: these tests create them."""
    return influxdb3_empty


@pytest.fixture
def v2(influxdb2: InfluxDB2StandIn) -> InfluxDB2StandIn:
    """conftest's stand-in, named short for the many requests below."""
    return influxdb2


@pytest.fixture
async def client() -> AsyncGenerator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(
    client: aiohttp.ClientSession,
    url: str,
    body: bytes | str | AsyncGenerator[bytes],
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    data = body.encode() if isinstance(body, str) else body
    async with client.post(url, params=params, data=data, headers=headers) as response:
        return response.status, await response.text()


async def write_lp(
    client: aiohttp.ClientSession, server: InfluxDB3StandIn, body: bytes | str, **params: str
) -> tuple[int, Any]:
    status, text = await post(client, f"{server.url}/api/v3/write_lp", body, {"db": "home", **params}, BEARER)
    return status, json.loads(text) if text.startswith(("{", "[")) else text


# --- InfluxDB 3: the line protocol parser, word for word -----------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        # influxdb_line_protocol/src/lib.rs `better_error_messages`
        ("measurement", "Expected at least one space character, got end of input"),
        (",", "Invalid measurement was provided"),
        ("J,#", "Tag set malformed: could not find equals sign in `#`"),
        ("J," + "a" * 200, "Tag set malformed: could not find equals sign in `aaaaaaaaaa...`"),
        ("J,", "Expected tag key, got end of input"),
        ("testmeasure, bar=1i", "Expected tag key, got ` bar=1i`"),
        ("0,,=", "Expected tag value, got end of input"),
        ("testmeasure,foo=,baz= bar=1i", "Expected tag value, got `,baz= bar=...`"),
        ("testmeasure,foo=f bar=1i,baz=", "Could not parse entire line. Found trailing content: `baz=`"),
        ("\u001b# /", "No fields were provided"),
        (":\u0014\\", "Measurements, tag keys and values, and field keys may not end with a backslash"),
        ("m field=66666666666666666666i", "Unable to parse integer value `66666666666666666666`"),
        ("m field=3.0 188888888888888888888", "Unable to parse timestamp value `188888888888888888888`"),
    ],
)
def test_v3_parse_errors_are_the_rust_parsers(line: str, message: str) -> None:
    assert parse_lines_v3(line) == [message]


def test_v3_parser_reads_escapes_quotes_and_newlines_in_strings() -> None:
    (point,) = parse_lines_v3('m\\ x,t=a\\,b s="say \\"hi\\"\nbye",i=-3i,u=4u,f=1.5e3,b=T 17')
    assert isinstance(point, Point)

    assert point.measurement == "m x"
    assert point.tags == (("t", "a,b"),)
    assert point.fields == (
        ("s", ("string", 'say "hi"\nbye')),
        ("i", ("integer", -3)),
        ("u", ("uinteger", 4)),
        ("f", ("float", 1500.0)),
        ("b", ("boolean", True)),
    )
    assert point.timestamp == 17


# --- InfluxDB 3: writes --------------------------------------------------------------------


async def test_v3_write_is_stored_typed(v3: InfluxDB3StandIn, client: aiohttp.ClientSession) -> None:
    body = 'temp,room=kitchen value=21.5,count=3i,ok=true,state="on" 1700000000\n'

    assert await write_lp(client, v3, body) == (204, "")
    assert v3.rows("home", "temp") == [
        {"room": "kitchen", "value": 21.5, "count": 3, "ok": True, "state": "on", "time": 1700000000 * 10**9}
    ]
    assert v3.schema("home", "temp") == {
        "room": "tag",
        "value": "float",
        "count": "integer",
        "ok": "boolean",
        "state": "string",
        "time": "time",
    }
    assert v3.bodies == [body.encode()]
    assert v3.databases == ["_internal", "home"]  # created by the write


async def test_v3_precision_auto_and_explicit(v3: InfluxDB3StandIn, client: aiohttp.ClientSession) -> None:
    await write_lp(client, v3, "m v=1 1700000000000")  # auto: milliseconds by magnitude
    await write_lp(client, v3, "m v=2 1700000001", precision="second")

    assert [row["time"] for row in v3.rows("home", "m")] == [1700000000 * 10**9, 1700000001 * 10**9]


async def test_v3_token_schemes(v3: InfluxDB3StandIn, client: aiohttp.ClientSession) -> None:
    url = f"{v3.url}/api/v3/write_lp"
    basic = aiohttp.encode_basic_auth("anyone", "test-token")

    assert await post(client, url, "m v=1", {"db": "a"}, TOKEN) == (204, "")
    assert await post(client, url, "m v=1", {"db": "a"}, {"Authorization": basic}) == (204, "")
    assert await post(client, url, "m v=1", {"db": "a"}) == (401, UNAUTHENTICATED)
    assert await post(client, url, "m v=1", {"db": "a"}, {"Authorization": "Bearer nope"}) == (
        401,
        UNAUTHENTICATED,
    )
    status, text = await post(client, url, "m v=1", {"db": "a"}, {"Authorization": "Key test-token"})
    assert (status, json.loads(text)["error"]) == (
        400,
        "Authorization header was malformed, the request was not in the form of 'Authorization: "
        "<auth-scheme> <token>', supported auth-schemes are Bearer, Token and Basic",
    )


async def test_v3_read_only_token_is_forbidden(client: aiohttp.ClientSession, hass: HomeAssistant) -> None:
    server = InfluxDB3StandIn(read_only_token="reader")
    await server.start()
    try:
        status, text = await post(
            client, f"{server.url}/api/v3/write_lp", "m v=1", {"db": "a"}, {"Authorization": "Bearer reader"}
        )
    finally:
        await server.stop()

    assert (status, text) == (403, '{"error": "unauthorized to perform requested action with the token"}')


async def test_v3_empty_write(v3: InfluxDB3StandIn, client: aiohttp.ClientSession) -> None:
    assert await write_lp(client, v3, "") == (400, "incoming write was empty")
    assert await write_lp(client, v3, "\n# only a comment\n") == (400, "incoming write was empty")
    assert v3.databases == ["_internal", "home"]  # the catalog change is committed first


async def test_v3_partial_write_names_each_rejected_line(
    v3: InfluxDB3StandIn, client: aiohttp.ClientSession
) -> None:
    body = 'home,room=Sunroom temp=96 1735545600\nhome,room=Sunroom temp="hi" 1735549200\nhome temp=\n'

    assert await write_lp(client, v3, body, precision="second") == (
        400,
        {
            "error": "partial write of line protocol occurred",
            "data": [
                {
                    # a schema error echoes the re-serialized line, quotes dropped (as in the docs)
                    "original_line": "home,room=Sunroom temp=hi 1735549200",
                    "line_number": 2,
                    "error_message": "invalid column type for column 'temp', expected "
                    "iox::column_type::field::float, got iox::column_type::field::string",
                },
                {"original_line": "home temp=", "line_number": 3, "error_message": "No fields were provided"},
            ],
        },
    )
    assert [row["temp"] for row in v3.rows("home", "home")] == [96.0]


async def test_v3_no_partial_write_rejects_everything(
    v3: InfluxDB3StandIn, client: aiohttp.ClientSession
) -> None:
    body = "m v=1\nm v=2i\n"

    assert await write_lp(client, v3, body, accept_partial="false") == (
        400,
        {
            "error": "parsing failed for write_lp endpoint",
            "data": {
                "original_line": "m v=2i",
                "line_number": 2,
                "error_message": "invalid column type for column 'v', expected "
                "iox::column_type::field::float, got iox::column_type::field::integer",
            },
        },
    )
    assert v3.rows("home", "m") == []
    assert v3.databases == ["_internal"]


async def test_v3_a_name_cannot_be_tag_and_field(v3: InfluxDB3StandIn, client: aiohttp.ClientSession) -> None:
    status, body = await write_lp(client, v3, "m,x=a v=1\nm x=2\n")

    assert status == 400
    assert body["data"][0]["error_message"] == (
        "invalid column type for column 'x', expected iox::column_type::tag, "
        "got iox::column_type::field::float"
    )


async def test_v3_limits(client: aiohttp.ClientSession, hass: HomeAssistant) -> None:
    server = InfluxDB3StandIn(
        max_databases=1, max_tables=1, max_columns_per_table=3, max_tags_per_table=1, release="3.5"
    )
    await server.start()
    try:
        columns = await write_lp(client, server, "m,a=1 v=1\nm,a=1 v=1,w=2\n")
        tags = await write_lp(client, server, "m,a=1,b=2 v=1\n")
        tables = await write_lp(client, server, "other v=1\n")
        status, text = await post(client, f"{server.url}/api/v3/write_lp", "m v=1", {"db": "second"}, BEARER)
    finally:
        await server.stop()

    # a partial write whose rejected lines hit a limit is 422 (tag, field and time: 3 columns)
    assert columns[0] == 422
    assert columns[1]["data"][0]["error_message"] == (
        "Update to schema would exceed number of columns per table limit of 3 columns"
    )
    assert tags[1]["data"][0]["error_message"] == (
        "Update to schema would exceed number of tag columns per table limit of 1 columns"
    )
    assert tables[1]["data"][0]["error_message"] == (
        "Update to schema would exceed number of tables limit of 1 tables"
    )
    assert (status, text) == (422, '{"error":"Adding a new database would exceed limit of 1 databases"}')


async def test_v3_bad_database_name(v3: InfluxDB3StandIn, client: aiohttp.ClientSession) -> None:
    assert await write_lp(client, v3, "m v=1", db="_home") == (
        400,
        {"error": "db name did not start with a number or letter"},
    )


async def test_v3_gzip_and_encodings(v3: InfluxDB3StandIn, client: aiohttp.ClientSession) -> None:
    url = f"{v3.url}/api/v3/write_lp"
    gz = {**BEARER, "Content-Encoding": "gzip"}

    assert await post(client, url, gzip.compress(b"m v=1\n"), {"db": "a"}, gz) == (204, "")
    assert v3.bodies == [b"m v=1\n"]
    assert await post(client, url, "m v=1", {"db": "a"}, {**BEARER, "Content-Encoding": "br"}) == (
        400,
        "unacceptable content-encoding: br",
    )
    v3.accept_gzip = False
    assert await post(client, url, gzip.compress(b"m v=1\n"), {"db": "a"}, gz) == (
        415,
        "Unsupported Media Type",
    )


async def test_v3_request_size_limit(client: aiohttp.ClientSession, hass: HomeAssistant) -> None:
    server = InfluxDB3StandIn(max_request_bytes=10, release="3.5")
    await server.start()
    try:
        v3_answer = await post(client, f"{server.url}/api/v3/write_lp", "m value=12345", {"db": "a"}, BEARER)
        v2_answer = await post(client, f"{server.url}/api/v2/write", "m value=12345", {"bucket": "a"}, BEARER)
    finally:
        await server.stop()

    # write_lp has no arm for RequestSizeExceeded: 500; the v2 API maps it to 413
    assert v3_answer == (500, "max request size (10 bytes) exceeded")
    assert v2_answer == (413, '{"code":"request too large","message":"max request size (10 bytes) exceeded"}')


async def test_v3_compatibility_endpoints(v3: InfluxDB3StandIn, client: aiohttp.ClientSession) -> None:
    v2_url, v1_url = f"{v3.url}/api/v2/write", f"{v3.url}/write"

    assert await post(client, v2_url, "m v=1", {"org": "ignored", "bucket": "b"}, TOKEN) == (204, "")
    assert await post(client, v1_url, "m v=1", {"db": "d", "rp": "autogen", "p": "test-token"}) == (204, "")
    assert await post(client, v1_url, "m v=1", {"db": "d", "rp": "week"}, BEARER) == (204, "")
    assert v3.databases == ["_internal", "b", "d", "d/week"]
    assert await post(client, v2_url, "m v=1", {"org": "o"}, TOKEN) == (
        400,
        '{"code":"invalid","message":"missing bucket value"}',
    )
    assert await post(client, v2_url, "", {"bucket": "b"}, TOKEN) == (
        400,
        '{"code":"invalid","message":"write buffer error: incoming write was empty"}',
    )
    # never a partial write (influxdb3_types/src/http.rs v3.5.0:410): one bad line, nothing stored;
    # the 3.5 message has no reason (write_buffer/mod.rs v3.5.0:66)
    assert await post(client, v2_url, "m v=3\nm v=2i", {"bucket": "b"}, TOKEN) == (
        400,
        '{"code":"invalid","message":"write buffer error: parsing for line protocol failed"}',
    )
    assert [row["v"] for row in v3.rows("b", "m")] == [1.0]
    status, body = await post(client, v1_url, "m v=3\nm v=2i", {"db": "d"}, BEARER)
    assert (status, json.loads(body)["error"]) == (400, "parsing failed for write_lp endpoint")
    assert json.loads(body)["data"]["line_number"] == 2
    assert [row["v"] for row in v3.rows("d", "m")] == [1.0]
    assert await post(client, v1_url, "m v=1", {"rp": "week"}, BEARER) == (
        400,
        '{"error":"failed to deserialize db/rp/precision in request: missing field `db`"}',
    )


async def test_v3_databases_endpoint(client: aiohttp.ClientSession, hass: HomeAssistant) -> None:
    server = InfluxDB3StandIn(max_databases=2, release="3.5")
    await server.start()
    url = f"{server.url}/api/v3/configure/database"

    async def create(name: str) -> tuple[int, str]:
        async with client.post(url, json={"db": name}, headers=BEARER) as response:
            return response.status, await response.text()

    try:
        async with client.get(url, params={"format": "json"}, headers=BEARER) as response:
            listed = response.status, await response.json()
        async with client.get(url, headers=BEARER) as response:
            no_format = response.status
        created, again, invalid = await create("one"), await create("one"), await create("-x")
        await create("two")
        limit = await create("three")
        wrong_type = await post(client, url, '{"db": "x"}', headers=BEARER)
    finally:
        await server.stop()

    assert listed == (200, [{"iox::database": "_internal"}])
    assert no_format == 400
    assert created == (200, "")
    assert again == (409, "attempted to create a resource that already exists")
    assert invalid == (400, '{"error":"db name did not start with a number or letter"}')
    assert limit == (422, '{"error":"Adding a new database would exceed limit of 2 databases"}')
    assert wrong_type == (415, "unacceptable content-type, expected: application/json")


async def test_v3_health_and_ping(v3: InfluxDB3StandIn, client: aiohttp.ClientSession) -> None:
    async with client.get(f"{v3.url}/health") as response:
        assert (response.status, await response.text()) == (401, UNAUTHENTICATED)
    async with client.get(f"{v3.url}/health", headers=BEARER) as response:
        assert (response.status, await response.text()) == (200, "OK")
        assert response.headers["cluster-uuid"] == v3.cluster_uuid
    async with client.get(f"{v3.url}/ping", headers=BEARER) as response:
        assert response.status == 200
        assert response.headers["X-Influxdb-Version"] == v3.version
        assert set(await response.json()) == {"version", "revision", "process_id"}
    v3.unauthenticated_paths = ("/health",)
    async with client.get(f"{v3.url}/health") as response:
        assert response.status == 200


async def test_v3_fault_injection(v3: InfluxDB3StandIn, client: aiohttp.ClientSession) -> None:
    v3.injected = [(503, {"Retry-After": "2"})]
    v3.max_lines = 1

    async with client.post(
        f"{v3.url}/api/v3/write_lp", params={"db": "a"}, data=b"m v=1\n", headers=BEARER
    ) as r:
        assert (r.status, r.headers["Retry-After"]) == (503, "2")
    assert (await write_lp(client, v3, "m v=1\nm v=2\n"))[0] == 413
    assert await write_lp(client, v3, "m v=1\n") == (204, "")
    assert v3.requests == 3


async def test_v3_crash_cuts_connections_unanswered_and_keeps_what_it_acknowledged(
    v3: InfluxDB3StandIn, client: aiohttp.ClientSession
) -> None:
    v3.store.databases["home"] = {}
    assert await write_lp(client, v3, "m v=1 1\n") == (204, "")
    crashed = asyncio.Event()

    async def body() -> AsyncGenerator[bytes]:
        yield b"m v=2 2\n"
        await crashed.wait()  # the rest of the body comes after the crash
        yield b"m v=3 3\n"

    sending = asyncio.create_task(post(client, f"{v3.url}/api/v3/write_lp?db=home", body(), headers=BEARER))
    await wait_for(lambda: v3.requests == 2)  # the server is reading the body
    await v3.crash()
    crashed.set()
    with pytest.raises(aiohttp.ClientConnectionError):
        await sending  # no answer
    with pytest.raises(aiohttp.ClientConnectionError):
        await write_lp(client, v3, "m v=4 4\n")  # nothing listens
    await v3.start()
    assert [row["v"] for row in v3.rows("home", "m")] == [1.0]
    assert await write_lp(client, v3, "m v=4 4\n") == (204, "")


# --- InfluxDB 2.x ---------------------------------------------------------------------------


async def write_v2(
    client: aiohttp.ClientSession, server: InfluxDB2StandIn, body: bytes | str, **params: str
) -> tuple[int, str]:
    return await post(client, f"{server.url}/api/v2/write", body, {**V2, **params}, TOKEN)


async def test_v2_write_is_stored_typed(v2: InfluxDB2StandIn, client: aiohttp.ClientSession) -> None:
    assert await write_v2(client, v2, 'temp,room=a value=1.5,n=2i,s="x" 1700000000', precision="s") == (
        204,
        "",
    )
    headers = {"Authorization": "Bearer test-token"}
    assert await post(client, f"{v2.url}/api/v2/write", "temp value=2", V2, headers) == (204, "")
    assert v2.rows("test-bucket", "temp")[0] == {
        "room": "a",
        "value": 1.5,
        "n": 2,
        "s": "x",
        "time": 1700000000 * 10**9,
    }


async def test_v2_refusals_in_handler_order(v2: InfluxDB2StandIn, client: aiohttp.ClientSession) -> None:
    url = f"{v2.url}/api/v2/write"
    reader = {"Authorization": "Token read-only-token"}

    assert await post(client, url, "m v=1", V2) == (
        401,
        '{"code":"unauthorized","message":"unauthorized access"}',
    )
    assert await post(client, url, "m v=1", {"org": "test-org"}, TOKEN) == (
        404,
        '{"code":"not found","message":"bucket not found"}',
    )
    assert await post(client, url, "m v=1", {"bucket": "test-bucket"}, TOKEN) == (
        400,
        '{"code":"invalid","message":"Please provide either orgID or org"}',
    )
    assert await post(client, url, "m v=1", {**V2, "org": "nope"}, TOKEN) == (
        404,
        '{"code":"not found","message":"organization name \\"nope\\" not found"}',
    )
    assert await post(client, url, "m v=1", {**V2, "bucket": "nope"}, TOKEN) == (
        404,
        '{"code":"not found","message":"bucket \\"nope\\" not found"}',
    )
    assert await post(client, url, "", V2, reader) == (
        403,
        '{"code":"forbidden","message":"insufficient permissions for write"}',
    )
    assert await write_v2(client, v2, "") == (204, "")  # 2.0.9 and later store nothing and say so
    v2.empty_body_stored = False  # before 2.0.9
    assert await write_v2(client, v2, "") == (400, '{"code":"invalid","message":"writing requires points"}')
    assert await write_v2(client, v2, "m v=1", precision="h") == (
        400,
        '{"code":"invalid","message":"invalid precision; valid precision units are ns, us, ms, and s"}',
    )


async def test_v2_parse_error_rejects_the_batch(v2: InfluxDB2StandIn, client: aiohttp.ClientSession) -> None:
    assert await write_v2(client, v2, "m v=1\nm v=\n") == (
        400,
        '{"code":"invalid","message":"unable to parse \'m v=\': missing field value"}',
    )
    assert v2.rows("test-bucket", "m") == []
    assert parse_points_v2("m\nm,a= v=1\nm v=1 x\nm v=tru\n")[1] == [
        "unable to parse 'm': missing fields",
        "unable to parse 'm,a= v=1': missing tag value",
        "unable to parse 'm v=1 x': bad timestamp",
        "unable to parse 'm v=tru': invalid boolean",
    ]


async def test_v2_type_conflict_is_a_partial_write(
    v2: InfluxDB2StandIn, client: aiohttp.ClientSession
) -> None:
    assert await write_v2(client, v2, "m v=1 1\nm v=2i 2\nm v=3 3\n") == (
        422,
        '{"code":"unprocessable entity","message":"failure writing points to database: partial write: '
        'field type conflict: input field \\"v\\" on measurement \\"m\\" is type integer, '
        'already exists as type float dropped=1"}',
    )
    assert [row["v"] for row in v2.rows("test-bucket", "m")] == [1.0, 3.0]


async def test_v2_gzip_and_limits(v2: InfluxDB2StandIn, client: aiohttp.ClientSession) -> None:
    url = f"{v2.url}/api/v2/write"
    gz = {**TOKEN, "Content-Encoding": "gzip"}

    assert await post(client, url, gzip.compress(b"m v=1\n"), V2, gz) == (204, "")
    assert await post(client, url, b"m v=1\n", V2, gz) == (
        500,
        '{"code":"internal error","message":"An internal error has occurred"}',
    )
    v2.max_batch_bytes = 3
    assert await write_v2(client, v2, "m v=1") == (
        413,
        '{"code":"request too large","message":"unable to read data: points batch is too large"}',
    )


async def test_v2_health_and_ping(v2: InfluxDB2StandIn, client: aiohttp.ClientSession) -> None:
    async with client.get(f"{v2.url}/ping") as response:
        assert response.status == 204
        assert response.headers["X-Influxdb-Build"] == "oss"
    async with client.get(f"{v2.url}/health") as response:
        assert response.status == 200
        assert (await response.json())["status"] == "pass"


async def test_v2_fault_injection(v2: InfluxDB2StandIn, client: aiohttp.ClientSession) -> None:
    v2.injected = [(429, {"Retry-After": "1"})]
    v2.max_lines = 1

    assert (await write_v2(client, v2, "m v=1\n"))[0] == 429
    assert (await write_v2(client, v2, "m v=1\nm v=2\n"))[0] == 413
    assert await write_v2(client, v2, "m v=1\n") == (204, "")
    assert v2.bodies == [b"m v=1\n"]


# Ported from the servers' own tests, at their tags.


async def test_v2_port_points_beyond_retention_are_a_partial_write(
    v2: InfluxDB2StandIn, client: aiohttp.ClientSession
) -> None:
    # coordinator/points_writer_test.go v1.8.10 `TestPointsWriter_WritePoints_Dropped`: a point
    # 24 hours old in a policy that keeps less is a PartialWriteError; in 2.x worded by
    # `SummariseDropped` (v1/coordinator/points_writer.go v2.7.12 lines 154-162).
    v2.shards.retention_ns = 3_600 * 10**9
    day_ago = time.time_ns() - 24 * 3_600 * 10**9
    status, text = await write_v2(client, v2, f"cpu value=1.0 {day_ago}\ncpu value=2.0 {time.time_ns()}\n")
    assert status == 422
    message = json.loads(text)["message"]
    assert message.startswith(
        "failure writing points to database: partial write: dropped 1 points outside retention policy"
        " of duration 1h0m0s - oldest point cpu at "
    )
    assert message.endswith(" dropped=1 for database: 0000000000000002 for retention policy: autogen")
    assert [row["value"] for row in v2.rows("test-bucket", "cpu")] == [2.0]


async def test_v2_port_points_map_to_shards_by_group_duration(
    v2: InfluxDB2StandIn, client: aiohttp.ClientSession
) -> None:
    # coordinator/points_writer_test.go v1.8.10 `TestPointsWriter_MapShards_Multiple`: points over
    # a 1h shard group duration map to distinct shards, and each shard has its own field types.
    v2.shards.shard_duration_ns = 3_600 * 10**9
    hour = 3_600 * 10**9
    start = time.time_ns() // hour * hour - 2 * hour
    assert await write_v2(client, v2, f'cpu v="a" {start}\ncpu v=1.0 {start + hour}\n') == (204, "")
    # The first shard's error answers; the other shard's drop is not counted in it.
    status, text = await write_v2(client, v2, f"cpu v=2.0 {start + 1}\ncpu v=true {start + hour + 1}\n")
    assert status == 422
    assert json.loads(text)["message"] == (
        "failure writing points to database: partial write: field type conflict: input field"
        ' "v" on measurement "cpu" is type float, already exists as type string dropped=1'
    )
    assert len(v2.rows("test-bucket", "cpu")) == 2  # both refused, each in its own shard


async def test_v2_port_large_string_is_refused_per_point(
    v2: InfluxDB2StandIn, client: aiohttp.ClientSession
) -> None:
    # tsdb/field_validator.go v2.7.12 lines 28-37: a string over MaxFieldValueLength drops its point.
    huge = "x" * 1_048_577
    status, text = await write_v2(client, v2, f'big s="{huge}" 1\nbig s="small" 2\n')
    assert status == 422
    assert json.loads(text)["message"] == (
        'failure writing points to database: partial write: input field "s" on measurement "big"'
        " is too long, 1048577 > 1048576 dropped=1"
    )
    assert [row["s"] for row in v2.rows("test-bucket", "big")] == ["small"]
