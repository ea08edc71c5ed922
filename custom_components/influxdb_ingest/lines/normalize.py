"""Turn a Home Assistant state change into a type-stable point (docs/schema.md).

Pure functions: no Home Assistant instance is needed, so they are unit-tested and
benchmarked on their own. Every field name has exactly one type forever.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
import json
import math
import re
from typing import Any

from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    ATTR_UNIT_OF_MEASUREMENT,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
)
from homeassistant.core import Event, EventStateChangedData, State
from homeassistant.helpers.json import json_encoder_default
import orjson

from ..const import SNAPSHOT_MARKER
from .columns import ColumnBudget
from .entity_rules import NO_RULES, EntityRules
from .metadata import EntityMetadata
from .names import storable_key
from .point import FieldValue, Point, time_fired_ns

_NOT_A_STATE = (STATE_UNKNOWN, STATE_UNAVAILABLE)
# What a state must look like to also be written as the float field `value`.
# Stricter than float(): no "nan", "inf", "1_000" or surrounding whitespace.
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def parse_number(state: str) -> float | None:
    """Return the state as a finite float, or None when it is not a plain number."""
    if not _NUMBER.fullmatch(state):
        return None
    number = float(state)
    return number if math.isfinite(number) else None


def _json_default(value: Any) -> Any:
    """Home Assistant's encoding for its own types (datetimes, sets...), else str()."""
    try:
        return json_encoder_default(value)
    except TypeError:
        return str(value)


def to_json(value: Any) -> str:
    """Compact JSON for attribute values; never raises. NaN/inf become null, as in HA.

    orjson refuses integers beyond 64 bits (and some keys): Python's json writes those.
    """
    try:
        return orjson.dumps(value, default=_json_default, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        pass
    try:
        return json.dumps(value, default=_json_default, separators=(",", ":"), ensure_ascii=False)
    except TypeError, ValueError:
        return json.dumps(str(value), ensure_ascii=False)


def attribute_text(value: Any) -> str:
    """An attribute value as text, where text is what is asked for (attributes as tags)."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, Mapping | list | tuple | set | frozenset):
        return to_json(value)
    return str(value)


# The default layout's attribute fields: the prefix says the type, so an attribute may change
# type from one change to the next (true, then "moving") while no field ever changes its own.
TEXT_PREFIX, NUMBER_PREFIX, BOOLEAN_PREFIX, JSON_PREFIX = "attr_", "num_", "bool_", "json_"
# A tag key the user chose that would meet one of the layout's names gets this prefix.
USER_TAG_PREFIX = "tag_"
LAYOUT_TAGS = frozenset(
    {"entity_id", "domain", "device_class", "entity_category", "area_id", "device_id"}
    | {"area", "floor", "device", "labels", "platform", "unit", "event_type", "service"}
)
STATE_FIELDS = ("state", "value", "context_id", "context_user_id", "context_parent_id", "snapshot")
LAYOUT_FIELDS = frozenset(
    {*STATE_FIELDS, "attributes", "attributes_overflow", "manufacturer", "model", "sw_version", "data"}
)
_RESERVED_PREFIXES = (TEXT_PREFIX, NUMBER_PREFIX, BOOLEAN_PREFIX, JSON_PREFIX, USER_TAG_PREFIX, "data_")
# Integers beyond this lose digits as floats: they are written as JSON instead.
_EXACT_IN_FLOAT = 2**53
_NON_FINITE_JSON = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}  # as Python's json reads them


# InfluxDB 2.x refuses a whole batch when a tag key is one of these: `cannot use reserved
# tag key "time"` (`reservedTagKeys`, models/points.go v2.7.12 lines 28-45 and 536-545).
RESERVED_TAG_KEYS = frozenset({"time", "_field", "_measurement"})


def safe_tag_key(key: str) -> str:
    """A tag key any InfluxDB takes: a reserved one is written as `tag_<key>`."""
    return USER_TAG_PREFIX + key if key in RESERVED_TAG_KEYS else key


def user_tag_key(key: str) -> str:
    r"""A tag key the user chose (static tags, attributes as tags), never one of the layout's names.

    A table must never hold a name as a tag and as a field (InfluxDB 3 refuses the write),
    and the user's tags must not replace the layout's nor be one InfluxDB 2.x reserves:
    such a key is written as `tag_<key>`. The key is judged as stored (`state\` is `state`).
    """
    stored = storable_key(key)
    if (
        stored in LAYOUT_TAGS
        or stored in LAYOUT_FIELDS
        or stored in RESERVED_TAG_KEYS
        or stored.startswith(_RESERVED_PREFIXES)
    ):
        return USER_TAG_PREFIX + key
    return key


def attribute_field(key: object, value: Any) -> tuple[str, FieldValue]:
    """The field one attribute is written as: its name says its type (docs/schema.md)."""
    if isinstance(value, str):
        return f"{TEXT_PREFIX}{key}", value
    if isinstance(value, bool):
        return f"{BOOLEAN_PREFIX}{key}", value
    if isinstance(value, float):
        if math.isfinite(value):
            return f"{NUMBER_PREFIX}{key}", value
        return f"{JSON_PREFIX}{key}", _NON_FINITE_JSON[str(value)]
    if isinstance(value, int) and -_EXACT_IN_FLOAT <= value <= _EXACT_IN_FLOAT:
        return f"{NUMBER_PREFIX}{key}", float(value)
    return f"{JSON_PREFIX}{key}", to_json(value)


@dataclass(frozen=True, slots=True)
class DefaultLayout:
    """Settings of the default layout that apply to every entity."""

    measurement: str
    enrich: frozenset[str] = frozenset()
    static_tags: Mapping[str, str] = field(default_factory=dict)
    record_unavailable: bool = True
    # A JSON copy of all attributes in the `attributes` field (each attribute has its own field anyway).
    attributes_json: bool = False
    # The event's context id (`context_user_id` and `context_parent_id` are always written when set).
    context_id: bool = False


def state_change_to_point(
    event: Event[EventStateChangedData],
    metadata: EntityMetadata,
    layout: DefaultLayout,
    rules: EntityRules = NO_RULES,
    columns: ColumnBudget | None = None,
) -> Point | None:
    """Build the default-layout point for one `state_changed` event (None: not recorded)."""
    if not is_recorded(event, layout):
        return None
    attributes = recorded_attributes(event, rules)
    measurement = rules.measurement or layout.measurement
    tags = state_change_tags(event, attributes, metadata, layout, rules)
    return Point(
        measurement,
        tags,
        change_fields(event, layout)
        | attribute_fields(attributes, metadata, layout, rules, columns=columns, tags=tags),
        time_fired_ns(event),
    )


def is_recorded(event: Event[EventStateChangedData], layout: DefaultLayout) -> bool:
    """False for unknown/unavailable states when the layout leaves them out."""
    new_state = event.data["new_state"]
    return layout.record_unavailable or new_state is None or new_state.state not in _NOT_A_STATE


def recorded_attributes(event: Event[EventStateChangedData], rules: EntityRules) -> Mapping[str, Any]:
    """The new state's attributes the rules keep (none for a removed entity)."""
    new_state = event.data["new_state"]
    return rules.keep(new_state.attributes) if new_state is not None else {}


def attributes_as_tags(attributes: Mapping[str, Any], rules: EntityRules) -> dict[str, str]:
    """The attributes written as tags instead of fields, by attribute key.

    `device_class` always (it is what one groups by), and the user's `tags_attributes`;
    each only with a non-empty text, else it stays a field and nothing is lost.
    """
    promoted = {}
    if isinstance(device_class := attributes.get(ATTR_DEVICE_CLASS), str) and device_class:
        promoted[ATTR_DEVICE_CLASS] = device_class
    for key in rules.tags_attributes:
        if key in attributes and (text := attribute_text(attributes[key])):
            promoted[key] = text
    return promoted


def state_change_tags(
    event: Event[EventStateChangedData],
    attributes: Mapping[str, Any],
    metadata: EntityMetadata,
    layout: DefaultLayout,
    rules: EntityRules,
) -> dict[str, str]:
    """Tags: they change only with the registry or the attributes, never with the state."""
    entity_id = event.data["entity_id"]
    tags = {user_tag_key(key): tag_value for key, tag_value in layout.static_tags.items()}
    tags.update(entity_id=entity_id, domain=entity_id.partition(".")[0])
    if metadata.entity_category:
        tags["entity_category"] = metadata.entity_category
    if layout.enrich:
        for key, tag_value in (
            ("area_id", metadata.area_id),
            ("device_id", metadata.device_id),
            ("area", metadata.area_name),
            ("floor", metadata.floor_name),
            ("device", metadata.device_name),
            ("labels", metadata.labels),
            ("platform", metadata.platform),
            ("unit", attributes.get(ATTR_UNIT_OF_MEASUREMENT) or metadata.unit),
        ):
            if key in layout.enrich and tag_value:
                tags[key] = str(tag_value)
    for key, text in attributes_as_tags(attributes, rules).items():
        tags[key if key == ATTR_DEVICE_CLASS else user_tag_key(key)] = text
    return tags


def change_fields(event: Event[EventStateChangedData], layout: DefaultLayout) -> dict[str, FieldValue]:
    """Fields that differ with every change: the state, its number, the context."""
    new_state: State | None = event.data["new_state"]
    # A removed entity has no new state: written with an empty `state`.
    state = new_state.state if new_state is not None else ""
    fields: dict[str, FieldValue] = {"state": state}
    number = parse_number(state)
    if number is not None:
        fields["value"] = number
    if event.data.get(SNAPSHOT_MARKER):
        fields["snapshot"] = True
    _add_context(fields, event, with_id=layout.context_id)
    return fields


def attribute_fields(
    attributes: Mapping[str, Any],
    metadata: EntityMetadata,
    layout: DefaultLayout,
    rules: EntityRules,
    *,
    columns: ColumnBudget | None,
    tags: Mapping[str, str],
) -> dict[str, FieldValue]:
    """Fields that change only with the attributes or the registry (cached per entity).

    Each attribute once, in the field of its type; those written as tags are left out.
    Attributes whose column the budget does not admit go, as JSON, into one field.
    """
    measurement = rules.measurement or layout.measurement
    if columns is not None:
        fixed = ["attributes_overflow", *(["attributes"] if layout.attributes_json else ())]
        if "device_info" in layout.enrich:
            fixed += ("manufacturer", "model", "sw_version")
        columns.reserve(measurement, [*tags, *STATE_FIELDS, *fixed])
    as_tags = attributes_as_tags(attributes, rules)
    fields: dict[str, FieldValue] = {}
    overflow: dict[str, Any] = {}
    for key, value in attributes.items():
        if key in as_tags:
            continue
        field_value: FieldValue
        if isinstance(value, str):  # the common case, without a call
            name, field_value = f"{TEXT_PREFIX}{key}", value
        else:
            name, field_value = attribute_field(key, value)
        if columns is None or columns.admit(measurement, name):
            fields[name] = field_value
        else:
            overflow[key] = value
            columns.overflow(measurement, key)
    if overflow:
        fields["attributes_overflow"] = to_json(overflow)
    if layout.attributes_json:
        fields["attributes"] = to_json(dict(attributes))
    if "device_info" in layout.enrich:
        for key, device_value in (
            ("manufacturer", metadata.manufacturer),
            ("model", metadata.model),
            ("sw_version", metadata.sw_version),
        ):
            if device_value:
                fields[key] = device_value
    return fields


def bus_event_to_point(event: Event[Any], measurement: str, static_tags: Mapping[str, str]) -> Point:
    """A point for any other bus event the user chose to record, under the same type rules.

    Tags: `event_type`, and `domain`, `service`, `entity_id` when the data holds them as
    text (bounded sets). Fields: `data` as compact JSON, `data_<key>` as normalized text,
    and the context ids.
    """
    data: Mapping[str, Any] = event.data
    tags = {user_tag_key(key): tag_value for key, tag_value in static_tags.items()}
    tags["event_type"] = str(event.event_type)
    for key in ("domain", "service", "entity_id"):
        if isinstance(value := data.get(key), str) and value:
            tags[key] = value
    fields: dict[str, FieldValue] = {"data": to_json(dict(data))}
    for key, value in data.items():
        fields[f"data_{key}"] = attribute_text(value)
    _add_context(fields, event)
    return Point(measurement, tags, fields, time_fired_ns(event))


def _add_context(fields: dict[str, FieldValue], event: Event[Any], *, with_id: bool = True) -> None:
    context = event.context
    for key, context_value in (
        ("context_id", context.id if with_id else None),
        ("context_parent_id", context.parent_id),
        ("context_user_id", context.user_id),
    ):
        if context_value:
            fields[key] = context_value
