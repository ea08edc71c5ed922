"""The client on every InfluxDB 3 answer: which server answers, how each refusal is read.

Answers come from the real 1.x server and the stand-ins at each modelled 3.x release, not
from strings typed here, except where a release's answer cannot be produced otherwise.
"""

from __future__ import annotations

import aiohttp
import pytest

from custom_components.influxdb_ingest.const import ApiVersion
from custom_components.influxdb_ingest.target.heal import TypeHealer
from custom_components.influxdb_ingest.target.influx_api import (
    CannotConnect,
    DatabaseLimit,
    InfluxClient,
    InfluxError,
    InvalidAuth,
    NoWritePermission,
    PayloadTooLarge,
    ServerBusy,
    UnsupportedEncoding,
    WriteRejected,
    WrongServer,
)
from custom_components.influxdb_ingest.target.influx_target import InfluxTarget
from custom_components.influxdb_ingest.target.server_info import ServerInfo

from .support.servers import InfluxDB1Server
from .support.standin3_release import RELEASES
from .support.standin_influxdb2 import InfluxDB2StandIn
from .support.standin_influxdb3 import InfluxDB3StandIn


def _client(
    session: aiohttp.ClientSession, server: InfluxDB3StandIn, flavour: str, db: str = "home"
) -> InfluxClient:
    data = {"api_version": flavour, "url": server.url, "database": db, "bucket": db, "verify_ssl": True}
    if flavour == "1":
        data |= {"username": "homeassistant", "password": "test-token"}
    else:
        data |= {"token": "test-token"}
    return InfluxClient(session, InfluxTarget.from_config(data))


async def _refusal(client: InfluxClient, body: str) -> InfluxError:
    with pytest.raises(InfluxError) as caught:
        await client.write(body.encode(), 5)
    return caught.value


# --- which server answers --------------------------------------------------------------------


@pytest.mark.parametrize("influxdb3_release", RELEASES)
async def test_ping_names_each_3x_release(influxdb3: InfluxDB3StandIn) -> None:
    async with aiohttp.ClientSession() as session:
        server = await _client(session, influxdb3, "3").async_read_server_info(5)

    assert server is not None
    assert server.is_influxdb3
    assert server.version == influxdb3.version
    assert server.product == "InfluxDB 3 Core"
    assert server.string_limit_bytes() == influxdb3.at.string_limit[0]
    assert server.whole_request_refused


async def test_ping_names_the_real_1x_and_the_2x(
    influxdb_v1: InfluxDB1Server, influxdb2: InfluxDB2StandIn
) -> None:
    async with aiohttp.ClientSession() as session:
        for url, generation in ((influxdb_v1.url, 1), (influxdb2.url, 2)):
            target = InfluxTarget(ApiVersion.V1 if generation == 1 else ApiVersion.V2, url)
            server = await InfluxClient(session, target).async_read_server_info(5)
            assert server is not None
            assert server.generation == generation
            assert server.product == f"InfluxDB {generation} OSS"
            assert not server.is_influxdb3
            assert server.string_limit_bytes() == 1_048_576  # tsdb/field_validator.go v1.11.9:11


def test_server_info_from_3_9_names_its_product_in_the_body() -> None:
    """http.rs `ping`, v3.9.0:1086: `product_name` (Enterprise sends its own)."""
    body = '{"product_name":"InfluxDB 3 Enterprise","version":"3.9.1","revision":"x","process_id":"y"}'
    server = ServerInfo.from_ping({"X-Influxdb-Build": "Enterprise", "X-Influxdb-Version": "3.9.1"}, body)

    assert (server.product, server.version, server.release) == ("InfluxDB 3 Enterprise", "3.9.1", (3, 9))
    assert server.string_limit_bytes() == 1_048_576
    assert ServerInfo().describe() == "an unknown server"
    assert ServerInfo().generation is None


# --- how each 3.x refusal is read ----------------------------------------------------------------


@pytest.mark.parametrize("influxdb3_release", RELEASES)
@pytest.mark.parametrize("flavour", ["1", "2", "3"])
async def test_a_type_conflict_is_read_with_its_reason(influxdb3: InfluxDB3StandIn, flavour: str) -> None:
    async with aiohttp.ClientSession() as session:
        client = _client(session, influxdb3, flavour)
        await client.write(b"m v=1 1\n", 5)
        err = await _refusal(client, "m v=2 2\nm v=3i 3\n")

    assert isinstance(err, WriteRejected)
    reason = "invalid column type for column 'v'"
    if flavour == "3":  # write_lp takes partial writes: the refused lines come as a list
        assert [line.line_number for line in err.rejected] == [2]
    elif flavour == "1":  # /write: all or nothing, the first refused line named
        assert err.first_refused is not None
        assert err.first_refused.line_number == 2
        assert reason in str(err)
    elif influxdb3.at.since("3.9"):  # /api/v2/write: the reason, no line
        assert err.first_refused is None
        assert reason in str(err)
    else:
        assert "parsing for line protocol failed" in str(err)


@pytest.mark.parametrize("influxdb3_release", RELEASES)
@pytest.mark.parametrize("flavour", ["1", "2", "3"])
async def test_the_database_limit_is_recognised_on_every_endpoint(
    influxdb3_release: str, flavour: str
) -> None:
    server = InfluxDB3StandIn(max_databases=1, release=influxdb3_release)
    server.store.databases["home"] = {}
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            err = await _refusal(_client(session, server, flavour, "other"), "m v=1\n")
    finally:
        await server.stop()

    assert isinstance(err, DatabaseLimit), err  # 400 on /api/v2/write, 422 elsewhere
    assert "limit of 1 databases" in str(err)


@pytest.mark.parametrize("influxdb3_release", RELEASES)
@pytest.mark.parametrize("flavour", ["1", "2", "3"])
async def test_size_and_gzip_answers_are_not_retried_for_ever(influxdb3_release: str, flavour: str) -> None:
    """Before 3.10, `/write` and `/api/v3/write_lp` answer both with 500 (http.rs v3.9.0)."""
    server = InfluxDB3StandIn(max_request_bytes=10, release=influxdb3_release)
    server.store.databases["home"] = {}
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            client = _client(session, server, flavour)
            too_large = await _refusal(client, "m value=1234567890\n")
            with pytest.raises(InfluxError) as bad_gzip:
                await client._call(  # a body no gzip encoder would produce
                    "POST", client.target.write_url, 5, body=b"not gzip", headers={"Content-Encoding": "gzip"}
                )
    finally:
        await server.stop()

    assert isinstance(too_large, PayloadTooLarge)
    assert isinstance(bad_gzip.value, UnsupportedEncoding)  # written uncompressed from then on


@pytest.mark.parametrize("influxdb3_release", RELEASES)
async def test_503_is_retryable_and_403_final(influxdb3_release: str) -> None:
    server = InfluxDB3StandIn(read_only_token="reader", release=influxdb3_release)
    server.store.databases["home"] = {}
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            reader = InfluxClient(
                session, InfluxTarget(ApiVersion.V2, server.url, bucket="home", token="reader")
            )
            refused = await _refusal(reader, "m v=1\n")
            server.stopping = True
            writer = _client(session, server, "2")
            if server.at.v2_unavailable_while_stopping:
                stopping: InfluxError | None = await _refusal(writer, "m v=1\n")
            else:  # before 3.11 a stopping node still answers the write (or is gone)
                await writer.write(b"m v=1\n", 5)
                stopping = None
    finally:
        await server.stop()

    # 403 `forbidden` since 3.10, 401 before: both stop writing and raise the repair
    assert isinstance(refused, NoWritePermission if server.at.v2_forbidden else InvalidAuth)
    assert isinstance(stopping, ServerBusy) is server.at.v2_unavailable_while_stopping
    assert isinstance(ServerBusy("x", None), CannotConnect)  # retried like an unreachable server


# --- the healer reads field keys as 3.x spells them ------------------------------------------------


@pytest.mark.parametrize(
    ("line_key", "column"),
    [
        ('say"hi', 'say"hi'),  # the 3.x type's encoder leaves `"` in a key alone
        ('say\\"hi', 'say\\"hi'),  # the 1.x/2.x encoders escape it; 3.x keeps the backslash
        ("a\\ b\\,c", "a b,c"),  # `\\ `, `\\,` are escapes to every parser
    ],
)
def test_the_healer_matches_a_3x_column_to_the_key_our_line_has(line_key: str, column: str) -> None:
    healer = TypeHealer()
    line = f"ha,entity_id=sensor.x {line_key}=21.5 1\n"
    message = (
        f"invalid column type for column '{column}', expected iox::column_type::field::string, "
        "got iox::column_type::field::float"
    )

    assert healer.learn(message, line)
    accepted, refused = healer.apply([line])

    assert refused == []
    assert accepted == [f'ha,entity_id=sensor.x {line_key}="21.5" 1\n']


@pytest.mark.parametrize(
    ("data", "database"),
    [
        ({"api_version": "1", "database": "home", "retention_policy": "Week"}, "home/week"),
        ({"api_version": "1", "database": "home", "retention_policy": "autogen"}, "home"),
        ({"api_version": "2", "organization": "o", "bucket": "house"}, "house"),
        ({"api_version": "3", "database": "home"}, "home"),
    ],
)
def test_the_database_3x_writes_to_for_each_type(data: dict[str, str], database: str) -> None:
    """iox_http single_tenant/mod.rs `parse_v1`: a named retention policy, lowercased, as `db/rp`."""
    assert InfluxTarget.from_config({"url": "http://h:8181", **data}).v3_database == database


async def test_the_3x_type_at_a_2x_server_is_told_which_server_answered(influxdb2: InfluxDB2StandIn) -> None:
    async with aiohttp.ClientSession() as session:
        client = InfluxClient(session, InfluxTarget(ApiVersion.V3, influxdb2.url, database="home", token="t"))
        with pytest.raises(WrongServer) as caught:
            await client.check_write_access(5)

    assert caught.value.server.generation == 2
    assert "not InfluxDB 3" in str(caught.value)
