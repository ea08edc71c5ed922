"""Layout options: overrides, tags, unknown/unavailable, other bus events (unit and real server)."""

from __future__ import annotations

from collections.abc import Callable
import datetime as dt
from functools import partial
from typing import Any

from homeassistant.core import Context, Event, HomeAssistant

from custom_components.influxdb_ingest.lines.entity_rules import EntityRulesResolver
from custom_components.influxdb_ingest.lines.metadata import EntityMetadata
from custom_components.influxdb_ingest.lines.normalize import (
    DefaultLayout,
    bus_event_to_point,
    state_change_to_point,
)
from custom_components.influxdb_ingest.lines.normalize_builtin import BuiltinLayout, builtin_point
from custom_components.influxdb_ingest.pipeline.settings import WriterSettings

from .support.helpers import MEASUREMENT, setup_entry, state_change, wait_for

RULES = EntityRulesResolver(
    ignore_attributes=frozenset({"entity_picture"}),
    tags_attributes=frozenset({"room"}),
    overrides={
        "sensor": {"ignore_attributes": ["icon"]},
        "sensor.*_power": {"override_measurement": "power", "tags_attributes": ["phase"]},
        "sensor.main_power": {"ignore_attributes": ["phase_angle"]},
    },
)


# A first state (no old state), fired at a fixed time.
_event = partial(state_change, fired=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), context=Context(id="ctx"))


def test_overrides_merge_from_domain_to_glob_to_entity() -> None:
    """As Home Assistant's customize: per setting, the most specific match wins."""
    rules = RULES.for_entity("sensor.main_power")
    assert rules.measurement == "power"
    assert rules.ignore_attributes == {"entity_picture", "phase_angle"}
    assert RULES.for_entity("sensor.other").ignore_attributes == {"entity_picture", "icon"}
    assert rules.tags_attributes == {"room", "phase"}
    assert RULES.for_entity("light.x").ignore_attributes == {"entity_picture"}
    assert RULES.for_entity("light.x").measurement is None


def test_default_layout_applies_rules_and_static_tags() -> None:
    layout = DefaultLayout("home_assistant_events", static_tags={"home": "cottage", "entity_id": "not me"})
    attributes = {
        "room": "Hall",
        "phase": 2,
        "entity_picture": "/x",
        "icon": "mdi:x",
        "phase_angle": 1.5,
        "v": 1,
    }
    point = state_change_to_point(
        _event("sensor.main_power", "230", attributes=attributes),
        EntityMetadata(),
        layout,
        RULES.for_entity("sensor.main_power"),
    )
    assert point is not None
    assert point.measurement == "power"
    assert point.tags["home"] == "cottage"
    # A static tag never replaces ours: it is kept apart as tag_<key>.
    assert (point.tags["entity_id"], point.tags["tag_entity_id"]) == ("sensor.main_power", "not me")
    assert (point.tags["room"], point.tags["phase"]) == ("Hall", "2")
    assert {key for key in point.fields if key.startswith(("attr_", "num_"))} == {"num_v", "attr_icon"}


def test_unknown_and_unavailable_are_recorded_unless_turned_off() -> None:
    event = _event("sensor.x", "unavailable", attributes={})
    assert state_change_to_point(event, EntityMetadata(), DefaultLayout("m")) is not None
    assert (
        state_change_to_point(event, EntityMetadata(), DefaultLayout("m", record_unavailable=False)) is None
    )


def test_builtin_layout_takes_tags_attributes_and_overrides_like_the_builtin_integration() -> None:
    point = builtin_point(
        _event(
            "sensor.main_power",
            "230",
            attributes={"unit_of_measurement": "W", "phase": 2, "room": "Hall", "icon": "x"},
        ),
        BuiltinLayout(),
        RULES.for_entity("sensor.main_power"),
        {"home": "cottage"},
    )
    assert point is not None
    assert point.measurement == "power"
    assert point.tags == {
        "domain": "sensor",
        "entity_id": "main_power",
        "phase": "2",
        "room": "Hall",
        "home": "cottage",
    }
    assert point.fields == {"value": 230.0, "unit_of_measurement_str": "W", "icon_str": "x"}


def test_bus_event_point_is_type_stable() -> None:
    event = Event(
        "automation_triggered",
        {
            "name": "Lights",
            "entity_id": "automation.lights",
            "source": "state of sensor.x",
            "extra": {"a": [1]},
        },
        context=Context(id="c1", parent_id="p1"),
    )
    point = bus_event_to_point(event, "home_assistant_bus_events", {})
    assert point.tags == {"event_type": "automation_triggered", "entity_id": "automation.lights"}
    assert point.fields == {
        "data": '{"name":"Lights","entity_id":"automation.lights",'
        '"source":"state of sensor.x","extra":{"a":[1]}}',
        "data_name": "Lights",
        "data_entity_id": "automation.lights",
        "data_source": "state of sensor.x",
        "data_extra": '{"a":[1]}',
        "context_id": "c1",
        "context_parent_id": "p1",
    }


def test_options_become_settings() -> None:
    settings = WriterSettings.from_options(
        {"tags": ["home = cottage", "broken", "=x"], "tags_attributes": ["room"], "event_types": ["my_event"]}
    )
    assert settings.static_tags == {"home": "cottage"}
    assert settings.tags_attributes == {"room"}
    assert settings.event_types == ("my_event",)


async def test_other_bus_events_land_in_their_own_measurement(
    hass: HomeAssistant, v1_config: dict[str, Any], database: str, query: Callable[..., Any]
) -> None:
    await setup_entry(
        hass, v1_config, {"event_types": ["my_custom_event", "state_changed"], "flush_interval": 0.1}
    )
    hass.bus.async_fire("my_custom_event", {"entity_id": "light.x", "level": 3, "flag": True})
    hass.bus.async_fire("not_chosen", {"x": 1})
    hass.states.async_set("sensor.also", "1")

    async def both() -> list[dict[str, Any]] | None:
        events = await query("SELECT * FROM home_assistant_bus_events", database)
        states = await query(f"SELECT * FROM {MEASUREMENT}", database)
        return events if events and states else None

    (row,) = await wait_for(both)
    assert (row["event_type"], row["entity_id"], row["data_level"], row["data_flag"]) == (
        "my_custom_event",
        "light.x",
        "3",
        "true",
    )
    assert len(await query(f"SELECT * FROM {MEASUREMENT}", database)) == 1  # state_changed once
