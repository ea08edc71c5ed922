"""Normalization: a state change becomes the documented, type-stable point (docs/schema.md)."""

from __future__ import annotations

import datetime as dt
from functools import partial
import math
from typing import Any

from homeassistant.core import Context, State
import pytest

from custom_components.influxdb_ingest.metadata import EntityMetadata
from custom_components.influxdb_ingest.normalize import (
    DefaultLayout,
    attribute_text,
    parse_number,
    state_change_to_point,
)

from .helpers import state_change

LAYOUT = DefaultLayout("m")
T0 = dt.datetime(2026, 11, 22, 10, 0, 0, 123456, tzinfo=dt.UTC)
# Fired at T0; the old state, when there is one, changed 90 s before.
_event = partial(state_change, fired=T0, context=Context(id="01JCONTEXT"))


def test_numeric_state_gets_float_value_and_every_documented_field() -> None:
    context = Context(id="ctx-1", user_id="user-1", parent_id="parent-1")
    attributes = {
        "unit_of_measurement": "°C",
        "friendly_name": "Living room",
        "device_class": "temperature",
        "state_class": "measurement",
    }
    point = state_change_to_point(
        _event("sensor.living_room", "21.5", old="21.0", attributes=attributes, context=context),
        EntityMetadata(entity_category="diagnostic", device_id="dev1", area_id="living_room"),
        DefaultLayout("home_assistant_events"),
    )
    assert point.measurement == "home_assistant_events"
    assert point.time_ns == 1_795_341_600_123_456_000
    assert point.tags == {
        "entity_id": "sensor.living_room",
        "domain": "sensor",
        "event_type": "state_changed",
        "device_class": "temperature",
        "entity_category": "diagnostic",
        "device_id": "dev1",
        "area_id": "living_room",
    }
    assert point.fields == {
        "state": "21.5",
        "value": 21.5,
        "old_state": "21.0",
        "duration_in_state_seconds": 90.0,
        "attributes": '{"unit_of_measurement":"°C","friendly_name":"Living room",'
        '"device_class":"temperature","state_class":"measurement"}',
        "attr_unit_of_measurement": "°C",
        "attr_friendly_name": "Living room",
        "attr_device_class": "temperature",
        "attr_state_class": "measurement",
        "friendly_name": "Living room",
        "unit_of_measurement": "°C",
        "context_id": "ctx-1",
        "context_parent_id": "parent-1",
        "context_user_id": "user-1",
    }


def test_text_state_has_no_value_and_first_state_no_old_state() -> None:
    point = state_change_to_point(_event("light.kitchen", "on"), EntityMetadata(), LAYOUT)
    assert point.fields == {"state": "on", "attributes": "{}", "context_id": "01JCONTEXT"}
    assert point.tags == {"entity_id": "light.kitchen", "domain": "light", "event_type": "state_changed"}


def test_registry_device_class_used_when_attributes_have_none() -> None:
    point = state_change_to_point(
        _event("binary_sensor.door", "off"), EntityMetadata(device_class="door"), LAYOUT
    )
    assert point.tags["device_class"] == "door"


def test_removed_entity_is_written_with_empty_state() -> None:
    point = state_change_to_point(_event("sensor.gone", None, old="3"), EntityMetadata(), LAYOUT)
    assert point.fields["state"] == ""
    assert point.fields["old_state"] == "3"
    assert "duration_in_state_seconds" not in point.fields


def test_duration_is_clamped_at_zero() -> None:
    event = _event("sensor.x", "1", old="2")
    event.data["old_state"] = State("sensor.x", "2", last_changed=T0 + dt.timedelta(seconds=5))
    assert state_change_to_point(event, EntityMetadata(), LAYOUT).fields["duration_in_state_seconds"] == 0.0


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("21.5", 21.5),
        ("-3", -3.0),
        ("+.5", 0.5),
        ("1e3", 1000.0),
        ("7.", 7.0),
        ("nan", None),
        ("NaN", None),
        ("inf", None),
        ("-Infinity", None),
        ("1e999", None),
        ("1_000", None),
        (" 1", None),
        ("0x10", None),
        ("on", None),
        ("unavailable", None),
        ("", None),
    ],
)
def test_value_only_for_finite_plain_numbers(state: str, expected: float | None) -> None:
    assert parse_number(state) == expected


class _Custom:
    def __str__(self) -> str:
        return "custom!"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (3, "3"),
        (2.5, "2.5"),
        (float("nan"), "nan"),
        ("dynamic", "dynamic"),
        ([1, "a", None], '[1,"a",null]'),
        ({"b": {"c": [True]}}, '{"b":{"c":[true]}}'),
        ((1, 2), "[1,2]"),
        (dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "2026-01-02 03:04:05+00:00"),
        (_Custom(), "custom!"),
    ],
)
def test_attribute_normalization(value: Any, text: str) -> None:
    assert attribute_text(value) == text


def test_attributes_json_survives_unserializable_values() -> None:
    point = state_change_to_point(
        _event("sensor.odd", "1", attributes={"obj": _Custom(), "nan": math.nan, 5: "int key"}),
        EntityMetadata(),
        LAYOUT,
    )
    assert point.fields["attributes"] == '{"obj":"custom!","nan":null,"5":"int key"}'
    assert point.fields["attr_5"] == "int key"


def test_boolean_and_string_attribute_share_one_string_field() -> None:
    """The founding bug: `dynamics` flips between bool and str; both must be strings."""
    as_bool = state_change_to_point(
        _event("sensor.a", "1", attributes={"dynamics": True}), EntityMetadata(), LAYOUT
    )
    as_text = state_change_to_point(
        _event("sensor.a", "x", attributes={"dynamics": "hi"}), EntityMetadata(), LAYOUT
    )
    assert as_bool.fields["attr_dynamics"] == "true"
    assert as_text.fields["attr_dynamics"] == "hi"
    for name in set(as_bool.fields) & set(as_text.fields):
        assert type(as_bool.fields[name]) is type(as_text.fields[name])
