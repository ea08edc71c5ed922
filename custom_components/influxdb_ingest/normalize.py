"""Turn a Home Assistant state change into a type-stable point (docs/schema.md).

Pure functions: no Home Assistant instance is needed, so they are unit-tested and
benchmarked on their own. Every field name has exactly one type forever.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
import math
import re
from typing import Any

from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    ATTR_FRIENDLY_NAME,
    ATTR_UNIT_OF_MEASUREMENT,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
)
from homeassistant.core import Event, EventStateChangedData, State
from homeassistant.helpers.json import json_encoder_default
import orjson

from .entity_rules import NO_RULES, EntityRules
from .metadata import EntityMetadata
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
    """Compact JSON for attribute values; never raises. NaN/inf become null, as in HA."""
    return orjson.dumps(value, default=_json_default, option=orjson.OPT_NON_STR_KEYS).decode()


def attribute_text(value: Any) -> str:
    """Normalize one attribute value to the string written as `attr_<key>`."""
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


@dataclass(frozen=True, slots=True)
class DefaultLayout:
    """Settings of the default layout that apply to every entity."""

    measurement: str
    enrich: frozenset[str] = frozenset()
    static_tags: Mapping[str, str] = field(default_factory=dict)
    record_unavailable: bool = True


def state_change_to_point(
    event: Event[EventStateChangedData],
    metadata: EntityMetadata,
    layout: DefaultLayout,
    rules: EntityRules = NO_RULES,
) -> Point | None:
    """Build the default-layout point for one `state_changed` event (None: not recorded)."""
    if not is_recorded(event, layout):
        return None
    attributes = recorded_attributes(event, rules)
    return Point(
        rules.measurement or layout.measurement,
        state_change_tags(event, attributes, metadata, layout, rules),
        change_fields(event) | attribute_fields(attributes, metadata, layout, rules),
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


def state_change_tags(
    event: Event[EventStateChangedData],
    attributes: Mapping[str, Any],
    metadata: EntityMetadata,
    layout: DefaultLayout,
    rules: EntityRules,
) -> dict[str, str]:
    """Tags: they change only with the registry or the attributes, never with the state."""
    entity_id = event.data["entity_id"]
    device_class = attributes.get(ATTR_DEVICE_CLASS) or metadata.device_class
    tags = dict(layout.static_tags)
    tags.update(
        entity_id=entity_id,
        domain=entity_id.partition(".")[0],
        event_type=str(event.event_type),
    )
    for key, tag_value in (
        ("device_class", device_class),
        ("entity_category", metadata.entity_category),
        ("device_id", metadata.device_id),
        ("area_id", metadata.area_id),
    ):
        if tag_value:
            tags[key] = str(tag_value)
    if layout.enrich:
        for key, tag_value in (
            ("area", metadata.area_name),
            ("floor", metadata.floor_name),
            ("device", metadata.device_name),
            ("labels", metadata.labels),
            ("platform", metadata.platform),
            ("unit", attributes.get(ATTR_UNIT_OF_MEASUREMENT) or metadata.unit),
        ):
            if key in layout.enrich and tag_value:
                tags[key] = str(tag_value)
    for key in rules.tags_attributes:
        if key in attributes and (text := attribute_text(attributes[key])):
            tags[key] = text
    return tags


def change_fields(event: Event[EventStateChangedData]) -> dict[str, FieldValue]:
    """Fields that differ with every change: state, value, old state, duration, context."""
    new_state: State | None = event.data["new_state"]
    old_state: State | None = event.data["old_state"]
    # A removed entity has no new state: written with an empty `state`.
    state = new_state.state if new_state is not None else ""
    fields: dict[str, FieldValue] = {"state": state}
    number = parse_number(state)
    if number is not None:
        fields["value"] = number
    if old_state is not None:
        fields["old_state"] = old_state.state
        if new_state is not None:
            fields["duration_in_state_seconds"] = max(
                0.0, new_state.last_changed_timestamp - old_state.last_changed_timestamp
            )
    _add_context(fields, event)
    return fields


def attribute_fields(
    attributes: Mapping[str, Any], metadata: EntityMetadata, layout: DefaultLayout, rules: EntityRules
) -> dict[str, FieldValue]:
    """Fields that change only with the attributes or the registry (cached per entity)."""
    fields: dict[str, FieldValue] = {"attributes": to_json(dict(attributes))}
    for key, value in attributes.items():
        if key not in rules.tags_attributes:
            fields[f"attr_{key}"] = attribute_text(value)
    for key in (ATTR_FRIENDLY_NAME, ATTR_UNIT_OF_MEASUREMENT):
        if key in attributes:
            fields[key] = attribute_text(attributes[key])
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
    tags = dict(static_tags)
    tags["event_type"] = str(event.event_type)
    for key in ("domain", "service", "entity_id"):
        if isinstance(value := data.get(key), str) and value:
            tags[key] = value
    fields: dict[str, FieldValue] = {"data": to_json(dict(data))}
    for key, value in data.items():
        fields[f"data_{key}"] = attribute_text(value)
    _add_context(fields, event)
    return Point(measurement, tags, fields, time_fired_ns(event))


def _add_context(fields: dict[str, FieldValue], event: Event[Any]) -> None:
    context = event.context
    for key, context_value in (
        ("context_id", context.id),
        ("context_parent_id", context.parent_id),
        ("context_user_id", context.user_id),
    ):
        if context_value:
            fields[key] = context_value
