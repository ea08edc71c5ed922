"""Health you can see: entities, counters across restarts, repairs, diagnostics, services."""

from __future__ import annotations

from collections.abc import Callable
import json
import os
from pathlib import Path
from typing import Any

from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_mock_restore_state_shutdown_restart,
    get_system_health_info,
    snapshot_platform,
)
from pytest_homeassistant_custom_component.components.diagnostics import get_diagnostics_for_config_entry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from custom_components.influxdb_ingest.const import DOMAIN
from custom_components.influxdb_ingest.health import Connection
from custom_components.influxdb_ingest.history.texts import duration, grouped
from custom_components.influxdb_ingest.pipeline.stats import Problem
from custom_components.influxdb_ingest.repairs import MissingDatabaseFlow, missing_target_placeholders

from .support.helpers import count_points, wait_for
from .support.servers import ADMIN_PASSWORD, InfluxDB1Server, free_port

ENTRY_ID = "01JHEALTHTESTENTRY000000"


async def _setup(
    hass: HomeAssistant, data: dict[str, Any], options: dict[str, Any] | None = None
) -> MockConfigEntry:
    entry = MockConfigEntry(
        domain=DOMAIN,
        data=data,
        options=options or {},
        title="home @ influx",
        entry_id=ENTRY_ID,
        unique_id="v1|test",
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def _down() -> dict[str, Any]:
    return {
        "api_version": "1",
        "url": f"http://127.0.0.1:{free_port()}",
        "database": "db",
        "verify_ssl": True,
    }


async def _refresh(entry: MockConfigEntry) -> None:
    await entry.runtime_data.coordinator.async_refresh()


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_entities_and_device(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, snapshot: SnapshotAssertion
) -> None:
    entry = await _setup(hass, _down())
    await snapshot_platform(hass, entity_registry, snapshot, entry.entry_id)


async def test_every_attribute_a_health_sensor_shows_has_a_translated_name(
    hass: HomeAssistant, entity_registry: er.EntityRegistry
) -> None:
    entry = await _setup(hass, _down())
    strings_file = Path(__file__).parent.parent / "custom_components" / DOMAIN / "strings.json"
    sensors = json.loads(strings_file.read_text(encoding="utf-8"))["entity"]["sensor"]
    # Home Assistant names these itself; any other attribute is ours and needs a name.
    own = {"friendly_name", "device_class", "options", "unit_of_measurement", "state_class", "icon"}
    shown = 0
    for entity in er.async_entries_for_config_entry(entity_registry, entry.entry_id):
        if (state := hass.states.get(entity.entity_id)) is None:
            continue  # disabled by default
        named = set(sensors[entity.translation_key].get("state_attributes", {}))
        assert set(state.attributes) - own <= named, entity.entity_id
        shown += len(set(state.attributes) - own)
    assert shown >= 3  # points written (2), points dropped (6), last write (1)


async def test_noisy_sensors_are_disabled_by_default(
    hass: HomeAssistant, entity_registry: er.EntityRegistry
) -> None:
    entry = await _setup(hass, _down())
    disabled = {
        entity.translation_key
        for entity in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
        if entity.disabled_by is not None
    }
    assert disabled == {"last_write_latency", "event_rate", "oldest_waiting_age"}


async def test_counters_and_states_follow_the_stream_and_survive_a_restart(
    hass: HomeAssistant, v1_config: dict[str, Any], database: str, query: Callable[..., Any]
) -> None:
    entry = await _setup(hass, v1_config)
    for value in range(5):
        hass.states.async_set("sensor.watched", str(value))
    await wait_for(lambda: count_points(query, database))
    await wait_for(lambda: entry.runtime_data.writer.stats.points_written == 5)
    await _refresh(entry)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.home_influx_events_received").state == "5"
    assert hass.states.get("sensor.home_influx_points_written").state == "5"
    assert hass.states.get("sensor.home_influx_connection").state == "connected"
    assert hass.states.get("sensor.home_influx_writing").state == "closed"
    assert hass.states.get("sensor.home_influx_last_successful_write").state not in ("unknown", "unavailable")

    # The health sensors changed state, but were not recorded: only sensor.watched was.
    await _refresh(entry)
    await hass.async_block_till_done()
    assert entry.runtime_data.writer.stats.events_received == 5

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    hass.states.async_set("sensor.watched", "again")
    await wait_for(lambda: entry.runtime_data.writer.stats.points_written == 6)
    await _refresh(entry)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.home_influx_events_received").state == "6"
    assert hass.states.get("sensor.home_influx_points_written").state == "6"


async def test_a_deleted_entry_leaves_nothing_remembered_behind(
    hass: HomeAssistant, hass_storage: dict[str, Any], v1_config: dict[str, Any]
) -> None:
    """Counters, admitted columns and the server `/ping` named are kept for the next run, and
    deleted with the entry."""
    entry = await _setup(hass, v1_config)
    hass.states.async_set("sensor.watched", "1")
    await wait_for(lambda: entry.runtime_data.writer.stats.points_written == 1)
    await wait_for(lambda: entry.runtime_data.writer.delivery.client.server is not None)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    kept = {f"{DOMAIN}.{entry.entry_id}.{name}" for name in ("counters", "columns", "server")}
    assert kept <= set(hass_storage)

    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert not kept & set(hass_storage)


async def test_unreachable_target_shows_in_entities_and_log_once(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    entry = await _setup(hass, _down(), {"flush_interval": 0.1, "retry_initial_delay": 0.05})
    hass.states.async_set("sensor.watched", "1")
    writer = entry.runtime_data.writer
    await wait_for(lambda: writer.stats.write_errors >= 2)
    await _refresh(entry)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.home_influx_connection").state == "unreachable"
    assert hass.states.get("sensor.home_influx_points_waiting_in_memory").state == "1"
    assert caplog.text.count("Cannot write to InfluxDB (unreachable)") == 1


async def test_last_successful_write_says_never_on_a_fresh_install_in_an_outage(hass: HomeAssistant) -> None:
    entry = await _setup(hass, _down(), {"flush_interval": 0.1, "retry_initial_delay": 0.05})
    # Before the first write the server has not been tried: not "connected".
    assert hass.states.get("sensor.home_influx_connection").state == "not_tried"
    hass.states.async_set("sensor.watched", "1")
    await wait_for(lambda: entry.runtime_data.writer.stats.write_errors >= 1)
    await _refresh(entry)
    await hass.async_block_till_done()
    last_write = hass.states.get("sensor.home_influx_last_successful_write")
    # A timestamp sensor without a value shows "Unknown": here it means "never", and says so.
    assert last_write.state == "unknown"
    assert last_write.attributes["written"] == "never"
    assert hass.states.get("sensor.home_influx_connection").state == "unreachable"


async def test_last_successful_write_survives_a_restart_into_an_outage(
    hass: HomeAssistant, v1_config: dict[str, Any], database: str, query: Callable[..., Any]
) -> None:
    entry = await _setup(hass, v1_config)
    hass.states.async_set("sensor.watched", "1")
    await wait_for(lambda: entry.runtime_data.writer.stats.points_written == 1)
    await _refresh(entry)
    await hass.async_block_till_done()
    written = hass.states.get("sensor.home_influx_last_successful_write")
    assert "written" not in written.attributes

    # Home Assistant stops (the restore states are saved) and starts with InfluxDB down.
    await async_mock_restore_state_shutdown_restart(hass)
    hass.config_entries.async_update_entry(entry, data=_down())
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.runtime_data.writer.stats.last_write_time is None
    await _refresh(entry)
    await hass.async_block_till_done()
    after = hass.states.get("sensor.home_influx_last_successful_write")
    assert after.state == written.state
    assert "written" not in after.attributes


async def test_flush_service_writes_now_and_reports(
    hass: HomeAssistant, v1_config: dict[str, Any], database: str, query: Callable[..., Any]
) -> None:
    entry = await _setup(hass, v1_config, {"flush_interval": 300})
    for value in range(7):
        hass.states.async_set("sensor.flushed", str(value))
    response = await hass.services.async_call(DOMAIN, "flush", {}, blocking=True, return_response=True)
    assert response == {
        "entries": {entry.entry_id: {"title": "home @ influx", "points_written": 7, "points_waiting": 0}}
    }
    assert await count_points(query, database) == 7


async def test_flush_service_failure_is_a_translated_error(hass: HomeAssistant) -> None:
    entry = await _setup(hass, _down())
    hass.states.async_set("sensor.flushed", "1")
    with pytest.raises(HomeAssistantError) as raised:
        await hass.services.async_call(
            DOMAIN, "flush", {"config_entry_id": entry.entry_id}, blocking=True, return_response=True
        )
    assert raised.value.translation_key == "flush_failed"
    assert "Cannot connect" in str(raised.value) or "ClientConnectorError" in str(raised.value)


async def test_flush_service_unknown_entry(hass: HomeAssistant) -> None:
    await _setup(hass, _down())
    with pytest.raises(HomeAssistantError) as raised:
        await hass.services.async_call(
            DOMAIN, "flush", {"config_entry_id": "nope"}, blocking=True, return_response=True
        )
    assert raised.value.translation_key == "entry_not_loaded"


async def test_missing_database_repair_names_it_and_its_fix_creates_it(
    hass: HomeAssistant,
    influxdb_v1: InfluxDB1Server,
    v1_config: dict[str, Any],
    issue_registry: ir.IssueRegistry,
) -> None:
    assert await async_setup_component(hass, "repairs", {})
    missing = {**v1_config, "database": "created_later"}
    entry = await _setup(
        hass, missing, {"flush_interval": 0.1, "retry_initial_delay": 0.05, "retry_max_delay": 0.2}
    )
    hass.states.async_set("sensor.waiting", "1")
    writer = entry.runtime_data.writer
    await wait_for(lambda: writer.stats.problem == "not_found")
    await _refresh(entry)
    await hass.async_block_till_done()
    issue_id = f"target_not_found_{entry.entry_id}"
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.is_fixable
    assert issue.translation_placeholders == {
        "title": "home @ influx",
        "database": "created_later",
        "url": v1_config["url"],
        "command": 'CREATE DATABASE "created_later"',
    }
    assert v1_config["password"] not in str(issue.translation_placeholders)
    # The server answered: not "disconnected", but what to act on.
    assert hass.states.get("sensor.home_influx_connection").state == "database_missing"

    manager = repairs_flow_manager(hass)
    assert manager is not None
    result = await manager.async_init(DOMAIN, context={"issue_id": issue_id})
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["create_database", "reconfigure"]
    result = await manager.async_configure(result["flow_id"], {"next_step_id": "create_database"})
    assert result["step_id"] == "create_database"
    result = await manager.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY

    await wait_for(lambda: writer.stats.problem is None and writer.points_waiting == 0)
    await _refresh(entry)
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    assert hass.states.get("sensor.home_influx_connection").state == "connected"
    databases = await hass.async_add_executor_job(influxdb_v1.query, "SHOW DATABASES")
    assert "created_later" in str(databases)


@pytest.mark.parametrize(
    ("data", "command"),
    [
        ({"api_version": "1", "database": 'we"ird'}, 'CREATE DATABASE "we\\"ird"'),
        (
            {"api_version": "2", "bucket": "b", "organization": "o"},
            'influx bucket create --name "b" --org "o"',
        ),
        ({"api_version": "3", "database": "home"}, 'influxdb3 create database "home"'),
    ],
)
def test_the_missing_database_repair_gives_the_command_of_the_version(
    data: dict[str, str], command: str
) -> None:
    assert missing_target_placeholders({"url": "http://h:1", **data})["command"] == command


async def test_the_fix_of_a_missing_database_points_to_reconfigure_where_it_cannot_create(
    hass: HomeAssistant, influxdb_v1: InfluxDB1Server, v1_config: dict[str, Any]
) -> None:
    entry = await _setup(hass, {**v1_config, "database": "never"})
    flow = MissingDatabaseFlow(entry.entry_id)
    flow.hass = hass
    result = await flow.async_step_reconfigure()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure"
    assert result["description_placeholders"]["command"] == 'CREATE DATABASE "never"'


async def test_rejected_credentials_raise_a_repair_and_a_reauth_that_resumes_writing(
    hass: HomeAssistant,
    v1_config: dict[str, Any],
    database: str,
    query: Callable[..., Any],
    issue_registry: ir.IssueRegistry,
) -> None:
    entry = await _setup(
        hass,
        {**v1_config, "password": "rotated-away"},
        {"flush_interval": 0.1, "retry_initial_delay": 0.05, "retry_max_delay": 0.2},
    )
    hass.states.async_set("sensor.kept", "1")
    writer = entry.runtime_data.writer
    await wait_for(lambda: writer.stats.problem == "auth")
    await _refresh(entry)
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, f"auth_failed_{entry.entry_id}") is not None
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == "reauth"

    result = await hass.config_entries.flow.async_configure(flow["flow_id"], {"password": "still-wrong"})
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.data["password"] == ADMIN_PASSWORD
    await wait_for(lambda: count_points(query, database))  # the kept point lands
    await _refresh(entry)
    assert issue_registry.async_get_issue(DOMAIN, f"auth_failed_{entry.entry_id}") is None


async def test_spool_near_budget_and_dead_letter_repairs(
    hass: HomeAssistant, issue_registry: ir.IssueRegistry
) -> None:
    entry = await _setup(
        hass, _down(), {"flush_interval": 0.05, "max_queue_size": 1000, "spool_max_mb": 1, "batch_size": 100}
    )
    writer = entry.runtime_data.writer
    # Random padding: the spool compresses, and only what does not compress fills it.
    for chunk in range(20):
        for value in range(500):
            hass.states.async_set(
                f"sensor.filler_{value % 10}", str(value), {"padding": os.urandom(150).hex(), "c": chunk}
            )
        await wait_for(lambda: writer.backlog.events_waiting == 0)
        if writer.spool.size_bytes > 0.85 * 1024 * 1024:
            break
    await writer.async_flush_and_stop(0.1)  # spill what is left in memory
    await _refresh(entry)
    issue = issue_registry.async_get_issue(DOMAIN, f"spool_near_budget_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_placeholders["budget_mb"] == "1.0"

    writer.dead_letter_path.parent.mkdir(parents=True, exist_ok=True)
    writer.dead_letter_path.write_text('{"line": "x"}\n')
    await _refresh(entry)
    assert issue_registry.async_get_issue(DOMAIN, f"dead_letters_{entry.entry_id}") is not None
    writer.dead_letter_path.unlink()
    await _refresh(entry)
    assert issue_registry.async_get_issue(DOMAIN, f"dead_letters_{entry.entry_id}") is None


@pytest.mark.parametrize(
    ("credentials", "secrets"),
    [
        (
            {"api_version": "1", "database": "db", "username": "secret-user", "password": "secret-password"},
            ("secret-user", "secret-password"),
        ),
        (
            {"api_version": "2", "organization": "o", "bucket": "b", "token": "tok-very-secret"},
            ("tok-very-secret",),
        ),
        (
            {"api_version": "1", "database": "db", "url": "http://url-user:url-pass@127.0.0.1:9"},
            ("url-user", "url-pass"),
        ),
    ],
)
async def test_diagnostics_redact_every_secret(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    credentials: dict[str, str],
    secrets: tuple[str, ...],
) -> None:
    assert await async_setup_component(hass, "diagnostics", {})
    entry = await _setup(hass, {"url": f"http://127.0.0.1:{free_port()}", "verify_ssl": True, **credentials})
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(diagnostics)
    for secret in secrets:
        assert secret not in text
    assert diagnostics["settings"]["batch_size"] == 5000
    assert diagnostics["circuit"]["state"] == "closed"
    assert diagnostics["server"] is None  # nothing answers /ping at that port
    assert set(diagnostics) == {
        "entry",
        "settings",
        "health",
        "server",
        "recent_errors",
        "circuit",
        "spool",
        "learned_server_types",
        "columns",
        "stats",
        "sample_lines",
        "backfill",
        "query_sensors",
    }


async def test_system_health_says_in_words_how_each_target_is_doing(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, "system_health", {})
    entry = await _setup(hass, _down(), {"flush_interval": 0.1, "retry_initial_delay": 0.05})
    info = await get_system_health_info(hass, DOMAIN)
    # Nothing tried yet: not "Connected" to a server that is down.
    assert info == {"home @ influx": "Not tried yet; writing: Normal; 0 points waiting, 0 of them on disk"}

    for value in range(1200):
        hass.states.async_set("sensor.watched", str(value))
    await wait_for(lambda: entry.runtime_data.writer.stats.write_errors >= 1)
    info = await get_system_health_info(hass, DOMAIN)
    assert info["home @ influx"].startswith("Unreachable; writing: ")
    assert "1,200 points waiting" in info["home @ influx"]
    assert "_" not in info["home @ influx"]  # no raw codes such as not_found or half_open
    assert "circuit" not in info["home @ influx"]


@pytest.mark.parametrize(
    ("seconds", "shown"), [(0.4, "0 s"), (42, "42 s"), (119, "119 s"), (150, "2.5 min"), (3 * 3600, "3.0 h")]
)
def test_a_jobs_duration_reads_in_seconds_when_short(seconds: float, shown: str) -> None:
    assert duration(seconds) == shown


def test_counts_are_shown_with_grouped_digits() -> None:
    assert grouped(40569) == "40,569"
    assert grouped(7) == "7"


@pytest.mark.parametrize(
    ("problem", "state"),
    [
        (None, "connected"),
        (Problem.NOT_FOUND, "database_missing"),
        (Problem.AUTH, "credentials_rejected"),
        (Problem.SERVER_LIMIT, "limit_reached"),
        (Problem.UNREACHABLE, "unreachable"),
    ],
)
def test_the_connection_sensor_names_what_to_act_on(problem: Problem | None, state: str) -> None:
    assert Connection.of(problem).value == state
    assert Connection.of(problem, tried=False).value == (state if problem else "not_tried")
    strings_file = Path(__file__).parent.parent / "custom_components" / DOMAIN / "strings.json"
    strings = json.loads(strings_file.read_text(encoding="utf-8"))
    assert strings["entity"]["sensor"]["connection"]["state"][state]


async def test_the_connected_binary_sensor_of_an_older_version_is_removed(
    hass: HomeAssistant, entity_registry: er.EntityRegistry
) -> None:
    entry = MockConfigEntry(domain=DOMAIN, data=_down(), title="home @ influx", entry_id=ENTRY_ID)
    entry.add_to_hass(hass)
    old = entity_registry.async_get_or_create(
        "binary_sensor", DOMAIN, f"{ENTRY_ID}_connected", config_entry=entry
    ).entity_id
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entity_registry.async_get(old) is None
    assert hass.states.get("sensor.home_influx_connection") is not None
