"""Moving over from the built-in influxdb integration through the config flow: its connection,
its settings, and its YAML query sensors as query sensor subentries."""

from __future__ import annotations

import time
from typing import Any
from unittest.mock import patch

from homeassistant.components.influxdb.sensor import (
    PLATFORM_SCHEMA as BUILTIN_PLATFORM_SCHEMA,
    InfluxFluxSensorData,
    InfluxQLSensorData,
)
from homeassistant.config_entries import SOURCE_USER, ConfigFlowResult
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.influxdb_ingest.const import DOMAIN
from custom_components.influxdb_ingest.migrate import query_subentries_from_builtin_yaml

from .support.helpers import wait_for
from .support.servers import ADMIN_PASSWORD, ADMIN_USER, InfluxDB1Server

BUILTIN_YAML = {
    "influxdb": {
        "measurement_attr": "domain__device_class",
        "default_measurement": "state",
        "include": {"domains": ["sensor"], "entity_globs": ["binary_sensor.*_door"]},
        "exclude": {"entities": ["sensor.noisy"]},
        "tags": {"home": "cottage"},
        "tags_attributes": ["friendly_name"],
        "ignore_attributes": ["icon"],
        "component_config": {"sensor.power": {"override_measurement": "power"}},
        "component_config_domain": {"climate": {"ignore_attributes": ["hvac_modes"]}},
    }
}


def _builtin(hass: HomeAssistant, server: InfluxDB1Server, database: str) -> None:
    """The built-in integration's entry for `database` on `server`, titled as its own flow titles it."""
    MockConfigEntry(
        domain="influxdb",
        title=f"{database} (127.0.0.1)",
        data={
            "api_version": "1",
            "host": "127.0.0.1",
            "port": server.port,
            "username": ADMIN_USER,
            "password": ADMIN_PASSWORD,
            "database": database,
            "ssl": False,
            "path": "/",
            "verify_ssl": False,
        },
    ).add_to_hass(hass)


async def _import_step(hass: HomeAssistant) -> ConfigFlowResult:
    """A user flow at its import step, moving-over chosen from the menu."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "import_builtin"}
    )


async def test_import_takes_connection_and_settings_with_the_builtin_layout(
    hass: HomeAssistant, influxdb_v1: InfluxDB1Server, database: str
) -> None:
    _builtin(hass, influxdb_v1, database)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["menu_options"] == ["import_builtin", "v1", "v2", "v3"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "import_builtin"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["description_placeholders"]["title"] == f"{database} (127.0.0.1)"
    with (
        patch("homeassistant.config.async_hass_config_yaml", return_value=BUILTIN_YAML),
        patch("custom_components.influxdb_ingest.async_setup_entry", return_value=True),
    ):
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {
        "api_version": "1",
        "url": influxdb_v1.url,
        "database": database,
        "username": ADMIN_USER,
        "password": ADMIN_PASSWORD,
        "verify_ssl": False,
    }
    options: dict[str, Any] = result["options"]
    assert options == {
        "layout": "builtin",
        "measurement_attr": "domain_device_class",
        "default_measurement": "state",
        "include_domains": ["sensor"],
        "include_entities": [],
        "include_entity_globs": ["binary_sensor.*_door"],
        "exclude_domains": [],
        "exclude_entities": ["sensor.noisy"],
        "exclude_entity_globs": [],
        "ignore_attributes": ["icon"],
        "tags_attributes": ["friendly_name"],
        "tags": ["home=cottage"],
        "overrides": {
            "climate": {"ignore_attributes": ["hvac_modes"]},
            "sensor.power": {"override_measurement": "power"},
        },
    }


async def test_import_checks_the_server_first(hass: HomeAssistant, influxdb_v1: InfluxDB1Server) -> None:
    _builtin(hass, influxdb_v1, "no_such_database")
    result = await _import_step(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["errors"] == {"base": "database_not_found"}


async def test_without_the_builtin_integration_there_is_nothing_to_import(hass: HomeAssistant) -> None:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert "import_builtin" not in result["menu_options"]


def _influxql_platform(port: int, database: str) -> dict[str, Any]:
    return {
        "platform": "influxdb",
        "host": "127.0.0.1",
        "port": port,
        "username": ADMIN_USER,
        "password": ADMIN_PASSWORD,
        "database": database,
        "scan_interval": 30,
        "queries": [
            {
                "name": "Mean power",
                "unique_id": "mean_power",
                "unit_of_measurement": "W",
                "value_template": "{{ (value | float * 2) | round(1) }}",
                "measurement": '"W"',
                "where": "\"entity_id\" = 'power' AND time > now() - {{ 1 }}h",
            },
            {
                "name": "Peak power",
                "measurement": '"W"',
                "group_function": "max",
                "field": "value",
                "where": "time > now() - 1h",
            },
        ],
    }


FLUX_PLATFORM = {
    "platform": "influxdb",
    "api_version": "2",
    "host": "127.0.0.1",
    "token": "t0ken",
    "organization": "home",
    "bucket": "ha",
    "queries_flux": [
        {
            "name": "Outside a year ago",
            "range_start": "-366d",
            "range_stop": "-365d",
            "imports": ["strings"],
            "group_function": "mean",
            "query": 'filter(fn: (r) => r._measurement == "°C" and r.entity_id == "{{ "outside" }}")',
        },
        {"name": "Latest", "query": 'filter(fn: (r) => r._field == "value")'},
    ],
}


class _Recorder:
    """Stands in for the built-in's client: keeps the statement it was asked to run."""

    def __init__(self) -> None:
        self.data_repositories: list[str] = []
        self.asked: list[str] = []

    def query(self, statement: str, _database: str | None = None) -> list[Any]:
        self.asked.append(statement)
        return []


async def test_yaml_query_sensors_become_subentries_that_run_what_the_builtin_ran(
    hass: HomeAssistant,
) -> None:
    influxql = BUILTIN_PLATFORM_SCHEMA(_influxql_platform(8086, "home"))
    flux = BUILTIN_PLATFORM_SCHEMA(FLUX_PLATFORM)
    subentries = query_subentries_from_builtin_yaml([influxql, flux], database="home", bucket="ha")
    assert [(s["title"], s["unique_id"], s["subentry_type"]) for s in subentries] == [
        ("Mean power", "mean_power", "query_sensor"),
        ("Peak power", None, "query_sensor"),
        ("Outside a year ago", None, "query_sensor"),
        ("Latest", None, "query_sensor"),
    ]
    mean = subentries[0]["data"]
    assert mean["unit_of_measurement"] == "W"
    assert mean["value_template"] == "{{ (value | float * 2) | round(1) }}"
    assert mean["scan_interval"] == 30
    assert [s["data"]["language"] for s in subentries] == ["influxql", "influxql", "flux", "flux"]

    # The built-in's own classes build the statement they would run: ours is the same, template and all.
    builtin = _Recorder()
    for query, ours in zip(influxql["queries"], subentries[:2], strict=True):
        data = InfluxQLSensorData(
            builtin, "home", query["group_function"], query["field"], query["measurement"], query["where"]
        )
        await hass.async_add_executor_job(data.update)
        rendered = ours["data"]["query"].replace("{{ 1 }}", "1")
        assert builtin.asked[-1] == rendered
    for query, ours in zip(flux["queries_flux"], subentries[2:], strict=True):
        flux_data = InfluxFluxSensorData(
            builtin,
            query["bucket"],
            query["range_start"],
            query["range_stop"],
            query["query"],
            query.get("imports"),
            query.get("group_function"),
        )
        await hass.async_add_executor_job(flux_data.update)
        assert builtin.asked[-1] == ours["data"]["query"].replace('{{ "outside" }}', "outside")


def test_a_query_of_another_database_names_it() -> None:
    old = {"name": "Old", "database": "old", "measurement": "W", "where": "time > 0"}
    platform = BUILTIN_PLATFORM_SCHEMA({**_influxql_platform(8086, "home"), "queries": [old]})
    (subentry,) = query_subentries_from_builtin_yaml([platform], database="home")
    assert subentry["data"]["query"] == 'select mean(value) as value from "old"..W where time > 0'


async def test_moving_over_brings_the_query_sensors_back_with_their_values(
    hass: HomeAssistant, influxdb_v1: InfluxDB1Server, database: str
) -> None:
    now = time.time_ns()
    lines = [
        f"W,domain=sensor,entity_id=power value={v} {now - i * 10**9}" for i, v in enumerate((10, 20, 30))
    ]
    await hass.async_add_executor_job(influxdb_v1.write, database, "\n".join(lines) + "\n")
    _builtin(hass, influxdb_v1, database)
    yaml = {"influxdb": {}, "sensor": [_influxql_platform(influxdb_v1.port, database)]}
    result = await _import_step(hass)
    with patch("homeassistant.config.async_hass_config_yaml", return_value=yaml):
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    entry = result["result"]
    assert sorted(s.title for s in entry.subentries.values()) == ["Mean power", "Peak power"]

    registry = er.async_get(hass)

    def values() -> dict[str, str] | None:
        found = {}
        for entity in er.async_entries_for_config_entry(registry, entry.entry_id):
            if entity.config_subentry_id and (state := hass.states.get(entity.entity_id)):
                found[state.attributes["friendly_name"]] = state.state
        ok = len(found) == 2 and STATE_UNAVAILABLE not in found.values()
        return found if ok else None

    found = await wait_for(values)
    assert float(found["Mean power"]) == 40.0  # mean 20, doubled by its value template
    assert float(found["Peak power"]) == 30
