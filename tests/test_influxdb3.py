"""InfluxDB 3 Core, end to end against the stand-in built from its source.

Setup that does not create a misspelt database, writes with the server's types, partial
writes settled with what the server names, 3.x type conflicts healed, limits reported,
gzip. The same behaviours on 2.x where it answers differently (dropped=N). Every test runs
at the oldest and the newest release the stand-in models (3.5 and 3.11), and so do the
1.x and 2.x types pointed at 3.x: all-or-nothing answers, the database limit, 503 and 403.
"""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp
from homeassistant import config_entries
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
import pytest

from custom_components.influxdb_ingest.const import DOMAIN
from custom_components.influxdb_ingest.diagnostics import async_get_config_entry_diagnostics

from .support.helpers import MEASUREMENT, setup_entry, v3_entry_data, wait_for
from .support.servers import InfluxDB1Server
from .support.standin3_release import NEWEST, OLDEST
from .support.standin_influxdb2 import InfluxDB2StandIn
from .support.standin_influxdb3 import InfluxDB3StandIn


@pytest.fixture(params=[OLDEST, NEWEST])
def influxdb3_release(request: pytest.FixtureRequest) -> str:
    """Every test here at the oldest and the newest modelled release."""
    return str(request.param)


def _v2(server: InfluxDB2StandIn) -> dict[str, Any]:
    return {
        "api_version": "2",
        "url": server.url,
        "organization": "test-org",
        "bucket": "test-bucket",
        "token": "test-token",
        "verify_ssl": True,
    }


async def _write_as_another_tool(url: str, headers: dict[str, str], body: str) -> None:
    """Lines another writer stored first (they fix the columns' types)."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body.encode(), headers=headers) as answer,
    ):
        assert answer.status == 204, await answer.text()


async def _start_v3_flow(hass: HomeAssistant, user_input: dict[str, Any]) -> Any:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": config_entries.SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"next_step_id": "v3"})
    return await hass.config_entries.flow.async_configure(result["flow_id"], user_input)


async def test_a_missing_database_is_not_created_without_asking(
    hass: HomeAssistant, influxdb3: InfluxDB3StandIn
) -> None:
    result = await _start_v3_flow(hass, {"url": influxdb3.url, "database": "hoem", "token": "test-token"})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "create_database"
    assert result["description_placeholders"]["database"] == "hoem"
    assert influxdb3.databases == ["_internal", "home"]  # the typo created nothing

    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert influxdb3.databases == ["_internal", "home", "hoem"]  # created when asked


async def test_the_database_limit_is_said_when_creating_one(
    hass: HomeAssistant, influxdb3_release: str
) -> None:
    server = InfluxDB3StandIn(max_databases=1, release=influxdb3_release)
    server.store.databases["home"] = {}
    await server.start()
    try:
        result = await _start_v3_flow(hass, {"url": server.url, "database": "other", "token": "test-token"})
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
        assert result["errors"] == {"base": "database_limit"}
        assert server.databases == ["_internal", "home"]
    finally:
        await server.stop()


async def test_states_arrive_with_stable_types(hass: HomeAssistant, influxdb3: InfluxDB3StandIn) -> None:
    entry = await setup_entry(hass, v3_entry_data(influxdb3.url))
    hass.states.async_set("sensor.temperature", "21.5", {"unit_of_measurement": "°C"})
    hass.states.async_set("sensor.temperature", "22")
    hass.states.async_set("light.kitchen", "on", {"brightness": 200})
    await hass.config_entries.async_unload(entry.entry_id)

    rows = influxdb3.rows("home", MEASUREMENT)
    assert [(row["entity_id"], row["state"]) for row in rows] == [
        ("sensor.temperature", "21.5"),
        ("sensor.temperature", "22"),
        ("light.kitchen", "on"),
    ]
    schema = influxdb3.schema("home", MEASUREMENT)
    assert schema["state"] == "string"
    assert schema["value"] == "float"
    assert schema["entity_id"] == "tag"


async def test_a_partial_write_resends_only_the_refused_lines_healed(
    hass: HomeAssistant, influxdb3: InfluxDB3StandIn
) -> None:
    # Another tool stored `value` as a string: our float values are refused line by line.
    await _write_as_another_tool(
        f"{influxdb3.url}/api/v3/write_lp?db=home",
        {"Authorization": "Bearer test-token"},
        f'{MEASUREMENT},entity_id=sensor.other value="12" 1\n',
    )
    entry = await setup_entry(hass, v3_entry_data(influxdb3.url), {"batch_size": 100})
    writer = entry.runtime_data.writer
    hass.states.async_set("sensor.power", "100")
    hass.states.async_set("switch.pump", "on")
    hass.states.async_set("sensor.power", "101")
    await hass.config_entries.async_unload(entry.entry_id)

    resent = influxdb3.bodies[-1].decode().splitlines()
    assert len(resent) == 2  # only the refused ones, converted; the switch was stored already
    assert all('value="10' in line for line in resent)
    states = [
        row["state"] for row in influxdb3.rows("home", MEASUREMENT) if row["entity_id"] != "sensor.other"
    ]
    assert states == ["100", "on", "101"]
    assert writer.stats.points_written == 3
    assert writer.stats.points_dead_lettered == 0
    assert writer.delivery.healer.server_types[MEASUREMENT]["value"][0] == "string"  # learnt from 3.x words


async def test_a_line_the_server_refuses_for_good_is_dead_lettered_the_rest_stored(
    hass: HomeAssistant, influxdb3: InfluxDB3StandIn
) -> None:
    await _write_as_another_tool(
        f"{influxdb3.url}/api/v3/write_lp?db=home",
        {"Authorization": "Bearer test-token"},
        f"{MEASUREMENT},entity_id=sensor.other state=1.0 1\n",  # `state` as a float
    )
    entry = await setup_entry(hass, v3_entry_data(influxdb3.url))
    writer = entry.runtime_data.writer
    hass.states.async_set("sensor.level", "7")
    hass.states.async_set("switch.pump", "on")
    await hass.config_entries.async_unload(entry.entry_id)

    # "7" converts to the float the server holds; "on" cannot: refused with the server's words.
    assert writer.stats.points_written == 1
    assert writer.stats.points_dead_lettered == 1
    dead = writer.dead_letter_path.read_text()
    assert "switch.pump" in dead
    assert "invalid column type for column 'state'" in dead
    assert len(influxdb3.bodies) == 2  # the batch, then the one healed line; nothing else again


async def test_a_key_with_a_control_character_is_stored_by_every_release(
    hass: HomeAssistant, influxdb3: InfluxDB3StandIn
) -> None:
    """3.4 to 3.9 refuse a new key holding a control character (catalog/key.rs v3.9.0 lines
    21-38): keys lose every one (docs/schema.md), so 3.5 stores the point as 3.10 does."""
    entry = await setup_entry(hass, v3_entry_data(influxdb3.url))
    writer = entry.runtime_data.writer
    hass.states.async_set("sensor.level", "7")
    hass.states.async_set("sensor.odd", "8", {"a\x01b": "x\x01y"})
    await hass.config_entries.async_unload(entry.entry_id)

    assert writer.stats.points_written == 2
    assert writer.stats.points_dead_lettered == 0
    (row,) = [row for row in influxdb3.rows("home", MEASUREMENT) if row["entity_id"] == "sensor.odd"]
    assert row["attr_a b"] == "x\x01y"  # the key lost its control character, the value kept it


async def test_a_cut_list_of_refused_lines_loses_none_it_left_out(
    hass: HomeAssistant, influxdb3: InfluxDB3StandIn
) -> None:
    # The documentation's cap on the list ("up to 100 points"), which the source does not have.
    influxdb3.rejected_listed_at_most = 100
    await _write_as_another_tool(
        f"{influxdb3.url}/api/v3/write_lp?db=home",
        {"Authorization": "Bearer test-token"},
        f"{MEASUREMENT},entity_id=sensor.other state=1.0 1\n",  # `state` as a float
    )
    entry = await setup_entry(hass, v3_entry_data(influxdb3.url), {"batch_size": 500})
    writer = entry.runtime_data.writer
    # 150 states that cannot be floats, then 150 that can: the first answer names 100.
    for number in range(150):
        hass.states.async_set(f"switch.pump_{number}", "on")
    for number in range(150):
        hass.states.async_set(f"sensor.level_{number}", str(number))
    await hass.config_entries.async_unload(entry.entry_id)

    assert writer.stats.points_dead_lettered == 150
    assert writer.stats.points_written == 150
    stored = [row for row in influxdb3.rows("home", MEASUREMENT) if row["entity_id"] != "sensor.other"]
    assert len(stored) == 150
    assert writer.dead_letter_path.read_text().count("switch.pump_") == 150


async def test_the_column_limit_is_reported_with_a_repair_and_nothing_is_lost(
    hass: HomeAssistant, issue_registry: ir.IssueRegistry, influxdb3_release: str
) -> None:
    server = InfluxDB3StandIn(max_columns_per_table=16, release=influxdb3_release)
    server.store.databases["home"] = {}
    await server.start()
    try:
        entry = await setup_entry(hass, v3_entry_data(server.url))
        writer = entry.runtime_data.writer
        hass.states.async_set("sensor.small", "1")
        hass.states.async_set("sensor.wide", "2", {f"key_{index}": index for index in range(20)})
        await wait_for(lambda: writer.points_waiting == 0 and writer.stats.points_dead_lettered == 1)
        await entry.runtime_data.coordinator.async_refresh()

        assert writer.stats.points_written == 1
        assert "columns per table limit of 16" in (writer.stats.limit_refusal or "")
        assert issue_registry.async_get_issue(DOMAIN, f"server_limit_{entry.entry_id}") is not None
        assert "sensor.wide" in writer.dead_letter_path.read_text()
        await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await server.stop()


@pytest.mark.parametrize("flavour", ["1", "2"])
async def test_the_column_limit_on_the_compatibility_apis_raises_the_repair_too(
    hass: HomeAssistant, issue_registry: ir.IssueRegistry, influxdb3_release: str, flavour: str
) -> None:
    server = InfluxDB3StandIn(max_columns_per_table=16, release=influxdb3_release)
    server.store.databases["home"] = {}
    await server.start()
    try:
        entry = await setup_entry(hass, _v1_at_3x(server) if flavour == "1" else _v2_at_3x(server))
        writer = entry.runtime_data.writer
        hass.states.async_set("sensor.small", "1")
        hass.states.async_set("sensor.wide", "2", {f"key_{index}": index for index in range(20)})
        await wait_for(lambda: writer.points_waiting == 0 and writer.stats.points_dead_lettered == 1)
        await entry.runtime_data.coordinator.async_refresh()

        assert writer.stats.points_written == 1
        # 3.5 to 3.8 give no reason on /api/v2/write: the limit cannot be told from other refusals
        said = flavour == "1" or server.at.since("3.9")
        issue = issue_registry.async_get_issue(DOMAIN, f"server_limit_{entry.entry_id}")
        assert (issue is not None) is said
        assert ("columns per table limit of 16" in (writer.stats.limit_refusal or "")) is said
        await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await server.stop()


async def test_the_default_column_budget_keeps_a_wide_home_within_the_limit_and_loses_nothing(
    hass: HomeAssistant, influxdb3: InfluxDB3StandIn, issue_registry: ir.IssueRegistry
) -> None:
    """600 attribute keys over 30 entities: InfluxDB 3 Core would refuse the 500th column."""
    entry = await setup_entry(hass, v3_entry_data(influxdb3.url))
    writer = entry.runtime_data.writer
    for entity in range(30):
        keys = range(entity * 20, entity * 20 + 20)
        hass.states.async_set(f"sensor.wide_{entity}", "1", {f"key_{key}": key for key in keys})
    await wait_for(lambda: writer.points_waiting == 0 and writer.stats.points_written == 30)
    await entry.runtime_data.coordinator.async_refresh()

    assert writer.stats.points_dead_lettered == 0
    assert len(influxdb3.schema("home", MEASUREMENT)) - 1 <= 250  # time is the server's own
    stored: dict[str, float] = {}
    for row in influxdb3.rows("home", MEASUREMENT):
        stored |= {column[4:]: value for column, value in row.items() if column.startswith("num_")}
        stored |= json.loads(str(row.get("attributes_overflow", "{}")))
    assert stored == {f"key_{key}": key for key in range(600)}
    issue = issue_registry.async_get_issue(DOMAIN, f"column_budget_{entry.entry_id}")
    assert issue is not None
    assert (
        "key_599" in issue.translation_placeholders["keys"]
        or len(writer.columns.overflowed[MEASUREMENT]) > 20
    )
    await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.parametrize("standin", [InfluxDB3StandIn, InfluxDB2StandIn])
async def test_gzip_writes_are_decoded_by_the_server(
    hass: HomeAssistant, standin: type[InfluxDB3StandIn | InfluxDB2StandIn], influxdb3_release: str
) -> None:
    server = InfluxDB3StandIn(release=influxdb3_release) if standin is InfluxDB3StandIn else standin()
    if isinstance(server, InfluxDB3StandIn):
        server.store.databases["home"] = {}
        data, database = v3_entry_data(server.url), "home"
    else:
        data, database = _v2(server), "test-bucket"
    await server.start()
    try:
        entry = await setup_entry(hass, data, {"compression": "gzip"})
        client = entry.runtime_data.writer.delivery.client
        for value in range(30):
            hass.states.async_set("sensor.gzip", str(value))
        await hass.config_entries.async_unload(entry.entry_id)

        assert len(server.rows(database, MEASUREMENT)) == 30
        assert client.gzip  # the server took it: no fallback to plain bodies
    finally:
        await server.stop()


async def test_a_2x_partial_write_is_healed_and_sent_again_whole_until_stored(
    hass: HomeAssistant, influxdb2: InfluxDB2StandIn
) -> None:
    await _write_as_another_tool(
        f"{influxdb2.url}/api/v2/write?org=test-org&bucket=test-bucket",
        {"Authorization": "Token test-token"},
        # In the shard our points go to: 2.x keeps field types per shard.
        f'{MEASUREMENT},entity_id=sensor.other value="12" {time.time_ns()}\n',
    )
    entry = await setup_entry(hass, _v2(influxdb2))
    writer = entry.runtime_data.writer
    hass.states.async_set("sensor.power", "100")
    hass.states.async_set("switch.pump", "on")
    await hass.config_entries.async_unload(entry.entry_id)

    # 422 `partial write: field type conflict ... dropped=1` names one shard's error only:
    # the pump's line is not proven stored until a 204 says so, so the batch goes again whole.
    resent = influxdb2.bodies[-1].decode().splitlines()
    assert len(resent) == 2
    assert 'value="100.0"' in resent[0]
    assert influxdb2.requests == 3  # the other tool's write, ours refused, ours again
    assert writer.stats.points_written == 2
    assert writer.stats.points_dead_lettered == 0


async def test_a_target_refusing_gzip_gets_plain_writes(hass: HomeAssistant, influxdb3_release: str) -> None:
    server = InfluxDB3StandIn(
        accept_gzip=False, release=influxdb3_release
    )  # as a proxy refusing compressed bodies (415)
    server.store.databases["home"] = {}
    await server.start()
    try:
        entry = await setup_entry(hass, v3_entry_data(server.url), {"compression": "gzip"})
        client = entry.runtime_data.writer.delivery.client
        assert client.gzip
        for value in range(10):
            hass.states.async_set("sensor.plain", str(value))
        await hass.config_entries.async_unload(entry.entry_id)

        assert len(server.rows("home", MEASUREMENT)) == 10
        assert not client.gzip  # it was compressing, was refused, and fell back
    finally:
        await server.stop()


# --- the 1.x and 2.x types pointed at InfluxDB 3, and which server answers ------------------


def _v1_at_3x(server: InfluxDB3StandIn, database: str = "home") -> dict[str, Any]:
    """The 1.x type: Basic auth, the token as the password (3.x takes it so on /write)."""
    return {
        "api_version": "1",
        "url": server.url,
        "database": database,
        "username": "homeassistant",
        "password": "test-token",
        "verify_ssl": True,
    }


def _v2_at_3x(server: InfluxDB3StandIn, bucket: str = "home") -> dict[str, Any]:
    return {
        "api_version": "2",
        "url": server.url,
        "organization": "ignored",
        "bucket": bucket,
        "token": "test-token",
        "verify_ssl": True,
    }


async def _flow(hass: HomeAssistant, flavour: str, user_input: dict[str, Any]) -> Any:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": config_entries.SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"next_step_id": flavour})
    return await hass.config_entries.flow.async_configure(result["flow_id"], user_input)


@pytest.mark.parametrize("flavour", ["v1", "v2"])
async def test_the_1x_and_2x_types_at_3x_ask_before_creating_a_database(
    hass: HomeAssistant, influxdb3: InfluxDB3StandIn, flavour: str
) -> None:
    data = _v1_at_3x(influxdb3, "hoem") if flavour == "v1" else _v2_at_3x(influxdb3, "hoem")
    user_input = {key: value for key, value in data.items() if key != "api_version"}

    result = await _flow(hass, flavour, user_input)

    assert result["step_id"] == "create_database"
    assert result["description_placeholders"]["database"] == "hoem"
    assert influxdb3.databases == ["_internal", "home"]  # the check write created nothing


async def test_the_3x_type_at_a_1x_server_says_which_server_answered(
    hass: HomeAssistant, influxdb_v1: InfluxDB1Server, database: str, caplog: pytest.LogCaptureFixture
) -> None:
    result = await _flow(hass, "v3", {"url": influxdb_v1.url, "database": database, "token": "x"})

    assert result["errors"] == {"base": "server_is_influxdb1"}
    # The form names the server and its release (the log too).
    assert result["description_placeholders"]["server"].startswith("InfluxDB 1 OSS 1.")
    assert "answers as InfluxDB 1 OSS 1." in caplog.text


async def test_the_server_and_its_release_are_known_at_start(
    hass: HomeAssistant, influxdb3: InfluxDB3StandIn
) -> None:
    entry = await setup_entry(hass, v3_entry_data(influxdb3.url))
    client = entry.runtime_data.writer.delivery.client

    server = await wait_for(lambda: client.server)

    assert server.is_influxdb3
    assert server.version == influxdb3.version
    assert server.string_limit_bytes() == influxdb3.at.string_limit[0]
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["server"] == {
        "product": "InfluxDB 3 Core",
        "version": influxdb3.version,
        "build": "Core",
    }
    await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.parametrize("flavour", ["1", "2"])
async def test_a_whole_request_refused_costs_only_the_bad_line_with_the_servers_reason(
    hass: HomeAssistant, influxdb3: InfluxDB3StandIn, flavour: str
) -> None:
    """`/write` and `/api/v2/write` store nothing when one line is bad (every 3.x release)."""
    await _write_as_another_tool(
        f"{influxdb3.url}/api/v3/write_lp?db=home",
        {"Authorization": "Bearer test-token"},
        f"{MEASUREMENT},entity_id=sensor.other state=1.0 1\n",  # `state` as a float
    )
    entry = await setup_entry(hass, _v1_at_3x(influxdb3) if flavour == "1" else _v2_at_3x(influxdb3))
    writer = entry.runtime_data.writer
    hass.states.async_set("sensor.level", "7")
    hass.states.async_set("switch.pump", "on")
    await hass.config_entries.async_unload(entry.entry_id)

    dead = writer.dead_letter_path.read_text()
    assert "switch.pump" in dead
    stored = [row["entity_id"] for row in influxdb3.rows("home", MEASUREMENT)]
    if flavour == "2" and not influxdb3.at.since("3.9"):
        # 3.5 to 3.8 answer "parsing for line protocol failed", no reason and no line: each line
        # is narrowed down alone and kept with what the server said; nothing can be healed.
        assert writer.stats.points_dead_lettered == 2
        assert "parsing for line protocol failed" in dead
        assert stored == ["sensor.other"]
    else:
        # The reason names the column: "7" converts to the float the server holds.
        assert writer.stats.points_written == 1
        assert writer.stats.points_dead_lettered == 1
        assert "invalid column type for column 'state'" in dead
        assert stored == ["sensor.other", "sensor.level"]
        # /write names the line: the batch once more, healed (another tool's write is the 1st);
        # /api/v2/write names no line: halves until the line is alone.
        assert influxdb3.requests == (3 if flavour == "1" else 4)
    assert "HTTP 500" not in dead


async def test_the_database_limit_on_the_v2_api_keeps_the_points_and_is_named_at_setup(
    hass: HomeAssistant, influxdb3_release: str
) -> None:
    server = InfluxDB3StandIn(max_databases=1, release=influxdb3_release)
    server.store.databases["home"] = {}
    await server.start()
    try:
        result = await _flow(
            hass, "v2", {k: v for k, v in _v2_at_3x(server, "other").items() if k != "api_version"}
        )
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
        assert result["errors"] == {"base": "database_limit"}

        entry = await setup_entry(hass, _v2_at_3x(server, "other"))
        writer = entry.runtime_data.writer
        hass.states.async_set("sensor.kept", "1")
        await wait_for(lambda: writer.stats.problem is not None)
        assert writer.stats.problem.value == "server_limit"
        assert writer.stats.points_dead_lettered == 0

        server.max_databases = 2  # a database deleted, or the limit raised
        await wait_for(lambda: writer.stats.points_written == 1, timeout=60)
        assert [row["entity_id"] for row in server.rows("other", MEASUREMENT)] == ["sensor.kept"]
        await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await server.stop()


async def test_403_on_the_v2_api_raises_the_permission_repair_and_keeps_the_points(
    hass: HomeAssistant, issue_registry: ir.IssueRegistry, influxdb3_release: str
) -> None:
    server = InfluxDB3StandIn(read_only_token="reader", release=influxdb3_release)
    server.store.databases["home"] = {}
    await server.start()
    try:
        entry = await setup_entry(hass, {**_v2_at_3x(server), "token": "reader"})
        writer = entry.runtime_data.writer
        hass.states.async_set("sensor.kept", "1")
        await wait_for(lambda: writer.stats.problem is not None)
        await entry.runtime_data.coordinator.async_refresh()

        assert writer.stats.problem.value == "auth"  # 403 from 3.10, 401 before: final either way
        assert issue_registry.async_get_issue(DOMAIN, f"auth_failed_{entry.entry_id}") is not None
        assert writer.stats.points_dead_lettered == 0
        assert writer.points_waiting == 1
        await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await server.stop()


async def test_503_while_the_server_stops_is_retried(
    hass: HomeAssistant, influxdb3: InfluxDB3StandIn
) -> None:
    if not influxdb3.at.v2_unavailable_while_stopping:
        pytest.skip("503 while stopping came with 3.11")
    influxdb3.stopping = True
    entry = await setup_entry(hass, _v2_at_3x(influxdb3))
    writer = entry.runtime_data.writer
    hass.states.async_set("sensor.kept", "1")
    await wait_for(lambda: writer.stats.write_errors >= 1)

    assert writer.stats.points_dead_lettered == 0
    influxdb3.stopping = False
    await wait_for(lambda: writer.stats.points_written == 1, timeout=60)
    await hass.config_entries.async_unload(entry.entry_id)
