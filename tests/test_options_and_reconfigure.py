"""Options (applied without a restart) and reconfiguration, on a real entry and server."""

from __future__ import annotations

from collections.abc import Callable
import json
from pathlib import Path
import re
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, section
from pytest_homeassistant_custom_component.common import MockConfigEntry
from yarl import URL

from custom_components.influxdb_ingest.const import DOMAIN
from custom_components.influxdb_ingest.options_flow import SECTION_FIELDS

from .support.helpers import MEASUREMENT, count_points, settings_input, setup_entry, wait_for
from .support.servers import ADMIN_PASSWORD, InfluxDB1Server

STRINGS = Path(__file__).parent.parent / "custom_components" / DOMAIN / "strings.json"


async def test_options_filter_entities_and_attributes_without_restart(
    hass: HomeAssistant, v1_config: dict[str, Any], database: str, query: Callable[..., Any]
) -> None:
    entry = await setup_entry(hass, v1_config)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["settings", "preview"]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "settings"}
    )
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        settings_input(
            {
                "exclude_domains": ["light"],
                "exclude_entity_globs": ["sensor.*_noise"],
                "ignore_attributes": ["entity_picture"],
                "flush_interval": 0.2,
                "spool_max_mb": 64,
            }
        ),
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    # Stored flat, as before sections: every field once, none under a section's name.
    assert entry.options["exclude_domains"] == ["light"]
    assert entry.options["spool_max_mb"] == 64
    assert not set(entry.options) & set(SECTION_FIELDS)
    await hass.async_block_till_done()  # the entry reloads with the new options
    writer = entry.runtime_data.writer
    assert writer.settings.flush_interval == 0.2
    assert writer.settings.spool_max_bytes == 64 * 2**20

    hass.states.async_set("light.kitchen", "on")
    hass.states.async_set("sensor.wifi_noise", "3")
    hass.states.async_set("sensor.kept", "1", {"entity_picture": "/x.png", "unit_of_measurement": "W"})
    await wait_for(lambda: count_points(query, database))
    rows = await query(f"SELECT * FROM {MEASUREMENT}", database)
    assert [row["entity_id"] for row in rows] == ["sensor.kept"]
    assert "attr_entity_picture" not in rows[0]
    assert rows[0]["attr_unit_of_measurement"] == "W"

    # The form shows what is set now.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "settings"}
    )
    suggested = {
        str(key): (key.description or {}).get("suggested_value")
        for value in result["data_schema"].schema.values()
        for key in value.schema.schema
    }
    assert suggested["exclude_domains"] == ["light"]
    assert suggested["flush_interval"] == 0.2


def _sections(result: Any) -> dict[str, Any]:
    return {str(key): value for key, value in result["data_schema"].schema.items()}


async def test_the_settings_come_in_sections_what_to_record_first_open_the_rest_collapsed(
    hass: HomeAssistant, v1_config: dict[str, Any]
) -> None:
    entry = await setup_entry(hass, v1_config, {"layout": "builtin", "measurement_attr": "entity_id"})
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "settings"}
    )
    sections = _sections(result)
    assert next(iter(sections)) == "record"
    assert all(isinstance(value, section) for value in sections.values())
    assert [name for name, value in sections.items() if not value.options["collapsed"]] == ["record"]
    # The built-in compatible layout's fields are together, and nowhere else.
    builtin = {str(key) for key in sections["builtin_layout"].schema.schema}
    assert builtin == {"measurement_attr", "default_measurement", "override_measurement"}
    fields = [str(key) for value in sections.values() for key in value.schema.schema]
    assert len(fields) == len(set(fields)) == 39
    assert not set(fields) & set(sections)  # flattened on save: a section may not share a field's name
    # An entry stored flat (as every entry before sections) shows its values in them.
    suggested = {
        str(key): (key.description or {}).get("suggested_value")
        for key in sections["builtin_layout"].schema.schema
    }
    assert suggested["measurement_attr"] == "entity_id"


def test_every_section_and_field_has_words_and_no_help_names_a_repository_file() -> None:
    strings = json.loads(STRINGS.read_text(encoding="utf-8"))
    step = strings["options"]["step"]["settings"]
    assert set(step["sections"]) == set(SECTION_FIELDS)
    for name, fields in SECTION_FIELDS.items():
        assert step["sections"][name]["name"]
        assert set(step["sections"][name]["data"]) == set(fields)
    texts = json.dumps(strings["options"])
    assert not re.search(r"\b(docs|custom_components|tests)/|\.md\b", texts)
    assert strings["options"]["step"]["init"]["menu_options"]["preview"] == "Preview"


async def test_reconfigure_changes_database_and_keeps_the_password_when_left_blank(
    hass: HomeAssistant, influxdb_v1: InfluxDB1Server, v1_config: dict[str, Any], database: str
) -> None:
    entry = await setup_entry(hass, v1_config)
    other_db = f"{database}_moved"
    await hass.async_add_executor_job(influxdb_v1.query, f'CREATE DATABASE "{other_db}"', None, "POST")

    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    shown = {str(key): (key.description or {}).get("suggested_value") for key in result["data_schema"].schema}
    assert shown["database"] == database
    assert shown["password"] is None  # secrets are never sent back to the browser
    user_input = {"url": influxdb_v1.url, "database": other_db, "username": "admin", "verify_ssl": True}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**user_input, "password": "bad"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], user_input)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.data["database"] == other_db
    assert entry.data["password"] == ADMIN_PASSWORD
    assert entry.unique_id == f"v1|{influxdb_v1.url}|{other_db}/"
    assert entry.title.startswith(f"{other_db} @ 127.0.0.1:{URL(influxdb_v1.url).port} · InfluxDB 1.6.")


async def test_reconfigure_onto_another_entrys_target_is_refused(
    hass: HomeAssistant, influxdb_v1: InfluxDB1Server, v1_config: dict[str, Any], database: str
) -> None:
    MockConfigEntry(domain=DOMAIN, unique_id=f"v1|{influxdb_v1.url}|taken/").add_to_hass(hass)
    await hass.async_add_executor_job(influxdb_v1.query, "CREATE DATABASE taken", None, "POST")
    entry = await setup_entry(hass, v1_config)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"url": influxdb_v1.url, "database": "taken", "username": "admin", "verify_ssl": True},
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data["database"] == database
