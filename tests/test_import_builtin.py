"""Moving over from the built-in influxdb integration through the config flow."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.influxdb_ingest.const import DOMAIN

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
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "import_builtin"}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["errors"] == {"base": "database_not_found"}


async def test_without_the_builtin_integration_there_is_nothing_to_import(hass: HomeAssistant) -> None:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert "import_builtin" not in result["menu_options"]
