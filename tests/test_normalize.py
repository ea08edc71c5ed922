"""Normalization: a state change becomes the documented, type-stable point (docs/schema.md)."""

from __future__ import annotations

import datetime as dt
from functools import partial
import json
import math
from typing import Any

from homeassistant.core import Context
import pytest

from custom_components.influxdb_ingest.const import SNAPSHOT_MARKER
from custom_components.influxdb_ingest.lines.columns import ColumnBudget
from custom_components.influxdb_ingest.lines.entity_rules import EntityRules
from custom_components.influxdb_ingest.lines.metadata import EntityMetadata
from custom_components.influxdb_ingest.lines.normalize import (
    STATE_FIELDS,
    DefaultLayout,
    attribute_field,
    attribute_text,
    parse_number,
    state_change_to_point,
)

from .support.helpers import state_change

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
        "precision": 1,
        "calibrated": True,
        "offsets": [0.5, None],
    }
    point = state_change_to_point(
        _event("sensor.living_room", "21.5", old="21.0", attributes=attributes, context=context),
        EntityMetadata(entity_category="diagnostic", device_id="dev1", area_id="living_room"),
        DefaultLayout("home_assistant_events", enrich=frozenset({"area_id", "device_id"})),
    )
    assert point.measurement == "home_assistant_events"
    assert point.time_ns == 1_795_341_600_123_456_000
    assert point.tags == {
        "entity_id": "sensor.living_room",
        "domain": "sensor",
        "device_class": "temperature",
        "entity_category": "diagnostic",
        "device_id": "dev1",
        "area_id": "living_room",
    }
    # Each attribute once, in the field of its type; device_class is the tag.
    assert point.fields == {
        "state": "21.5",
        "value": 21.5,
        "attr_unit_of_measurement": "°C",
        "attr_friendly_name": "Living room",
        "attr_state_class": "measurement",
        "num_precision": 1.0,
        "bool_calibrated": True,
        "json_offsets": "[0.5,null]",
        "context_parent_id": "parent-1",
        "context_user_id": "user-1",
    }


def test_text_state_has_no_value_and_no_context_id_unless_asked() -> None:
    point = state_change_to_point(_event("light.kitchen", "on"), EntityMetadata(), LAYOUT)
    assert point.fields == {"state": "on"}
    assert point.tags == {"entity_id": "light.kitchen", "domain": "light"}
    with_id = state_change_to_point(
        _event("light.kitchen", "on"), EntityMetadata(), DefaultLayout("m", context_id=True)
    )
    assert with_id.fields == {"state": "on", "context_id": "01JCONTEXT"}


def test_device_class_tag_comes_from_the_attribute_only() -> None:
    """The tag replaces the attribute's field, so an attribute-less entity has no tag."""
    point = state_change_to_point(
        _event("binary_sensor.door", "off"), EntityMetadata(device_class="door"), LAYOUT
    )
    assert "device_class" not in point.tags
    assert "device_class" not in str(point.fields)


def test_removed_entity_is_written_with_empty_state() -> None:
    point = state_change_to_point(_event("sensor.gone", None, old="3"), EntityMetadata(), LAYOUT)
    assert point.fields == {"state": ""}


def test_a_snapshot_is_marked() -> None:
    event = _event("sensor.x", "1")
    event.data[SNAPSHOT_MARKER] = True  # type: ignore[typeddict-unknown-key]  # what snapshots add
    assert state_change_to_point(event, EntityMetadata(), LAYOUT).fields["snapshot"] is True
    assert "snapshot" not in state_change_to_point(_event("sensor.x", "1"), EntityMetadata(), LAYOUT).fields


class _Custom:
    def __str__(self) -> str:
        return "custom!"


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ("dynamic", ("attr_k", "dynamic")),
        ("", ("attr_k", "")),
        (True, ("bool_k", True)),
        (False, ("bool_k", False)),
        (3, ("num_k", 3.0)),
        (2.5, ("num_k", 2.5)),
        (2**53, ("num_k", float(2**53))),
        (2**53 + 1, ("json_k", "9007199254740993")),
        (2**70, ("json_k", str(2**70))),
        (math.nan, ("json_k", "NaN")),
        (-math.inf, ("json_k", "-Infinity")),
        (None, ("json_k", "null")),
        ([1, "a", None], ("json_k", '[1,"a",null]')),
        ({"b": {"c": [True]}}, ("json_k", '{"b":{"c":[true]}}')),
        ((1, 2), ("json_k", "[1,2]")),
        (dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), ("json_k", '"2026-01-02T03:04:05+00:00"')),
        (_Custom(), ("json_k", '"custom!"')),
    ],
)
def test_an_attribute_field_says_its_type_and_reads_back(value: Any, field: tuple[str, Any]) -> None:
    result = attribute_field("k", value)
    assert result == field
    # The prefix promises a type: 3 must be written as 3.0, a float, never as the integer 3
    # (which compares equal, and which InfluxDB would store as another type).
    assert type(result[1]) is type(field[1])
    name, written = field
    if name.startswith("json_") and not isinstance(value, dt.datetime | _Custom):
        read_back = json.loads(written)
        assert read_back == (list(value) if isinstance(value, tuple) else value) or math.isnan(value)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (True, "true"),
        (3, "3"),
        ("dynamic", "dynamic"),
        ([1, "a", None], '[1,"a",null]'),
        (_Custom(), "custom!"),
    ],
)
def test_attributes_as_tags_are_text(value: Any, text: str) -> None:
    assert attribute_text(value) == text


def test_attributes_json_is_an_option_and_survives_unserializable_values() -> None:
    event = _event("sensor.odd", "1", attributes={"obj": _Custom(), "nan": math.nan, 5: "int key"})
    assert "attributes" not in state_change_to_point(event, EntityMetadata(), LAYOUT).fields
    point = state_change_to_point(event, EntityMetadata(), DefaultLayout("m", attributes_json=True))
    assert point.fields["attributes"] == '{"obj":"custom!","nan":null,"5":"int key"}'
    assert point.fields["attr_5"] == "int key"


def test_boolean_then_string_attribute_keeps_every_field_type() -> None:
    """The founding bug: `dynamics` flips between bool and str; no field may change type."""
    as_bool = state_change_to_point(
        _event("sensor.a", "1", attributes={"dynamics": True}), EntityMetadata(), LAYOUT
    )
    as_text = state_change_to_point(
        _event("sensor.a", "x", attributes={"dynamics": "hi"}), EntityMetadata(), LAYOUT
    )
    assert as_bool.fields["bool_dynamics"] is True
    assert as_text.fields["attr_dynamics"] == "hi"
    for name in set(as_bool.fields) & set(as_text.fields):
        assert type(as_bool.fields[name]) is type(as_text.fields[name])


@pytest.mark.parametrize(
    ("key", "written_as"),
    [
        ("home", "home"),
        ("domain", "tag_domain"),
        ("state", "tag_state"),
        ("area", "tag_area"),
        ("attr_x", "tag_attr_x"),
        ("num_x", "tag_num_x"),
        ("tag_x", "tag_tag_x"),
    ],
)
def test_a_tag_the_user_names_never_meets_a_layout_name(key: str, written_as: str) -> None:
    point = state_change_to_point(
        _event("sensor.a", "1", attributes={key: "from attribute"}),
        EntityMetadata(),
        LAYOUT,
        EntityRules(tags_attributes=frozenset({key})),
    )
    assert point.tags[written_as] == "from attribute"
    assert set(point.tags).isdisjoint(point.fields)
    static = state_change_to_point(
        _event("sensor.a", "1"), EntityMetadata(), DefaultLayout("m", static_tags={key: "static"})
    )
    assert static.tags[written_as] == "static"
    assert static.tags["domain"] == "sensor"


def test_attributes_beyond_the_column_budget_are_folded_into_one_field() -> None:
    columns = ColumnBudget(limit=len(STATE_FIELDS) + 4)  # + attributes_overflow, entity_id, domain, 1 more
    first = state_change_to_point(
        _event("sensor.a", "1", attributes={"a": 1, "b": "x"}), EntityMetadata(), LAYOUT, columns=columns
    )
    assert first.fields["num_a"] == 1.0
    assert type(first.fields["num_a"]) is float
    assert json.loads(first.fields["attributes_overflow"]) == {"b": "x"}
    # A column once admitted keeps its place; the others stay folded, and are remembered.
    again = state_change_to_point(
        _event("sensor.b", "2", attributes={"c": True, "a": 2}), EntityMetadata(), LAYOUT, columns=columns
    )
    assert again.fields["num_a"] == 2.0
    assert type(again.fields["num_a"]) is float
    assert json.loads(again.fields["attributes_overflow"]) == {"c": True}
    assert columns.as_dict()["overflowed_attributes"] == {"m": ["b", "c"]}
    # What a restart takes back is what was admitted, so the table cannot grow past the budget.
    restarted = ColumnBudget(limit=columns.limit)
    restarted.restore(columns.stored())
    after = state_change_to_point(
        _event("sensor.c", "3", attributes={"d": 1, "a": 3}), EntityMetadata(), LAYOUT, columns=restarted
    )
    assert after.fields["num_a"] == 3.0
    assert json.loads(after.fields["attributes_overflow"]) == {"d": 1}


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
    parsed = parse_number(state)
    assert parsed == expected
    assert type(parsed) is type(expected)  # "-3" is the float -3.0: `value` is a float field
