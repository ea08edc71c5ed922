"""The built-in compatible layout on InfluxDB 3: a table per entity is warned about, with the fix offered.

InfluxDB 3 Core creates at most 2000 tables (tests/support/standin_influxdb3.py); the built-in
layout names a unitless entity's table after the entity (or every entity's, with
`measurement_attr: entity_id`). A default measurement lets them share one table.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest

from custom_components.influxdb_ingest.const import DOMAIN
from custom_components.influxdb_ingest.pipeline.settings import WriterSettings
from custom_components.influxdb_ingest.repairs import (
    TABLE_PER_ENTITY,
    TABLE_PER_UNITLESS_ENTITY,
    table_per_entity_issue,
)

from .support.helpers import settings_input, setup_entry, v3_entry_data, wait_for
from .support.standin_influxdb3 import InfluxDB3StandIn


@pytest.mark.parametrize(
    ("api_version", "options", "issue"),
    [
        ("3", {"layout": "builtin"}, TABLE_PER_UNITLESS_ENTITY),
        ("3", {"layout": "builtin", "measurement_attr": "entity_id"}, TABLE_PER_ENTITY),
        (
            "3",
            {"layout": "builtin", "measurement_attr": "entity_id", "default_measurement": "state"},
            TABLE_PER_ENTITY,
        ),
        ("3", {"layout": "builtin", "default_measurement": "state"}, None),
        ("3", {"layout": "builtin", "override_measurement": "ha"}, None),
        ("3", {"layout": "builtin", "measurement_attr": "domain_device_class"}, None),
        ("3", {}, None),  # the default layout: one table
        ("1", {"layout": "builtin"}, None),  # no table limit
        ("2", {"layout": "builtin", "measurement_attr": "entity_id"}, None),
    ],
)
def test_which_options_make_a_table_per_entity_on_influxdb_3(
    api_version: str, options: dict[str, Any], issue: str | None
) -> None:
    assert table_per_entity_issue(api_version, WriterSettings.from_options(options)) == issue


async def test_the_fix_sets_the_default_measurement_and_unitless_entities_share_a_table(
    hass: HomeAssistant, influxdb3: InfluxDB3StandIn
) -> None:
    assert await async_setup_component(hass, "repairs", {})
    entry = await setup_entry(
        hass, v3_entry_data(influxdb3.url), {"layout": "builtin", "flush_interval": 0.1}
    )
    issue_id = f"{TABLE_PER_UNITLESS_ENTITY}_{entry.entry_id}"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.is_fixable
    assert issue.severity is ir.IssueSeverity.WARNING
    assert issue.translation_placeholders == {"title": "test", "measurement": "state"}

    manager = repairs_flow_manager(hass)
    assert manager is not None
    result = await manager.async_init(DOMAIN, context={"issue_id": issue_id})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "confirm"
    result = await manager.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()  # the entry reloads with the new option

    assert entry.options == {"layout": "builtin", "flush_interval": 0.1, "default_measurement": "state"}
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.writer.settings.default_measurement == "state"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    hass.states.async_set("switch.plug", "on")
    hass.states.async_set("light.hall", "off")
    tables = await wait_for(lambda: set(influxdb3.store.databases["home"]) or None)
    assert tables == {"state"}


async def test_a_table_per_entity_is_said_until_the_options_change(
    hass: HomeAssistant, influxdb3: InfluxDB3StandIn
) -> None:
    entry = await setup_entry(
        hass, v3_entry_data(influxdb3.url), {"layout": "builtin", "measurement_attr": "entity_id"}
    )
    issue_id = f"{TABLE_PER_ENTITY}_{entry.entry_id}"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert not issue.is_fixable

    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "settings"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], settings_input({"layout": "default"})
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_removing_the_entry_removes_its_warning(
    hass: HomeAssistant, influxdb3: InfluxDB3StandIn
) -> None:
    entry = await setup_entry(hass, v3_entry_data(influxdb3.url), {"layout": "builtin"})
    issue_id = f"{TABLE_PER_UNITLESS_ENTITY}_{entry.entry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
