"""The attribute allow-list (`include_attributes`): globally and per entity, domain or glob.

The allow-list applies first, the deny-list (`ignore_attributes`) after it; with neither
set every attribute is recorded (and the built-in layout stays the built-in
integration's, proven in test_builtin_layout.py).
"""

from __future__ import annotations

from collections.abc import Callable
import datetime as dt
from functools import partial
from typing import Any

from homeassistant.core import Context, HomeAssistant

from custom_components.influxdb_ingest.lines.entity_rules import NO_RULES, EntityRules, EntityRulesResolver
from custom_components.influxdb_ingest.lines.normalize import recorded_attributes
from custom_components.influxdb_ingest.lines.normalize_builtin import BuiltinLayout, builtin_point
from custom_components.influxdb_ingest.pipeline.settings import WriterSettings

from .support.helpers import setup_entry, state_change, wait_for

_event = partial(state_change, fired=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), context=Context(id="ctx"))
ATTRIBUTES = {"friendly_name": "Bath", "temperature": 21.5, "current_temperature": 20.0, "icon": "mdi:x"}


def test_keep_applies_the_allow_list_then_the_deny_list() -> None:
    both = EntityRules(
        include_attributes=frozenset({"friendly_name", "icon"}), ignore_attributes=frozenset({"icon"})
    )
    assert both.keep(ATTRIBUTES) == {"friendly_name": "Bath"}
    deny = EntityRules(ignore_attributes=frozenset({"icon"}))
    assert deny.keep(ATTRIBUTES) == {key: ATTRIBUTES[key] for key in ATTRIBUTES if key != "icon"}
    assert EntityRules(include_attributes=frozenset()).keep(ATTRIBUTES) == {}
    # Neither list: the same mapping, not a copy (the common case costs nothing).
    assert NO_RULES.keep(ATTRIBUTES) is ATTRIBUTES


def test_allow_lists_add_up_from_the_global_one_and_the_most_specific_override() -> None:
    overrides = {
        "climate": {"include_attributes": ["temperature"]},
        "climate.bath": {"include_attributes": ["current_temperature"], "ignore_attributes": "friendly_name"},
        "sensor.*_power": {"include_attributes": "phase"},  # one name without brackets
    }
    rules = EntityRulesResolver(include_attributes=frozenset({"friendly_name"}), overrides=overrides)
    assert rules.for_entity("light.x").include_attributes == {"friendly_name"}
    assert rules.for_entity("climate.hall").include_attributes == {"friendly_name", "temperature"}
    bath = rules.for_entity("climate.bath")
    assert bath.include_attributes == {"friendly_name", "current_temperature"}
    assert bath.keep(ATTRIBUTES) == {"current_temperature": 20.0}  # the deny-list still applies
    assert rules.for_entity("sensor.main_power").include_attributes == {"friendly_name", "phase"}

    # Without a global allow-list, only the entities an override names are narrowed.
    per_entity = EntityRulesResolver(overrides=overrides)
    assert per_entity.for_entity("light.x").include_attributes is None
    assert per_entity.for_entity("climate.hall").include_attributes == {"temperature"}


def test_an_empty_allow_list_option_means_every_attribute() -> None:
    assert WriterSettings.from_options({"include_attributes": []}).include_attributes is None
    assert WriterSettings.from_options({}).include_attributes is None
    assert WriterSettings.from_options({"include_attributes": ["a", "b"]}).include_attributes == {"a", "b"}


def test_the_default_layout_records_only_the_allowed_attributes() -> None:
    event = _event("climate.bath", "heat", attributes=ATTRIBUTES)
    rules = EntityRules(include_attributes=frozenset({"temperature", "missing"}))
    assert recorded_attributes(event, rules) == {"temperature": 21.5}
    assert recorded_attributes(event, NO_RULES) == ATTRIBUTES
    assert recorded_attributes(_event("climate.bath", None), rules) == {}  # removed entity


def test_the_builtin_layout_writes_only_the_allowed_attributes_and_still_takes_tags_and_measurement() -> None:
    attributes = {
        "unit_of_measurement": "W",
        "phase": 2,
        "room": "Hall",
        "icon": "x",
        "friendly_name": "Main",
    }
    rules = EntityRules(include_attributes=frozenset({"phase"}), tags_attributes=frozenset({"room"}))
    point = builtin_point(_event("sensor.main_power", "230", attributes=attributes), BuiltinLayout(), rules)
    assert point is not None
    assert point.measurement == "W"  # the unit still names the measurement
    assert point.tags == {"domain": "sensor", "entity_id": "main_power", "room": "Hall"}
    assert point.fields == {"value": 230.0, "phase": 2.0}


async def test_allow_lists_on_the_real_server(
    hass: HomeAssistant, v1_config: dict[str, Any], database: str, query: Callable[..., Any]
) -> None:
    await setup_entry(
        hass,
        v1_config,
        {
            "layout": "builtin",
            "flush_interval": 0.1,
            "include_attributes": ["friendly_name"],
            "overrides": {"sensor.*_power": {"include_attributes": ["phase"]}},
        },
    )
    common = {"unit_of_measurement": "W", "friendly_name": "Main", "phase": 2, "icon": "mdi:flash"}
    hass.states.async_set("sensor.main_power", "230", common)
    hass.states.async_set("sensor.heater", "1200", common)

    async def both() -> list[dict[str, Any]] | None:
        rows = await query('SELECT * FROM "W"', database)
        return rows if len(rows) >= 2 else None

    rows = await wait_for(both)
    written = {row["entity_id"]: {key for key, value in row.items() if value is not None} for row in rows}
    assert written == {
        "main_power": {"time", "domain", "entity_id", "value", "friendly_name_str", "phase"},
        "heater": {"time", "domain", "entity_id", "value", "friendly_name_str"},
    }
