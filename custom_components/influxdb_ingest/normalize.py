"""Turn a Home Assistant state change into a type-stable point (docs/schema.md).

Pure functions: no Home Assistant instance is needed, so they are unit-tested and
benchmarked on their own. Every field name has exactly one type forever.
"""

from __future__ import annotations

from collections.abc import Mapping
import math
import re
from typing import Any

from homeassistant.const import ATTR_DEVICE_CLASS, ATTR_FRIENDLY_NAME, ATTR_UNIT_OF_MEASUREMENT
from homeassistant.core import Event, EventStateChangedData, State
from homeassistant.helpers.json import json_encoder_default
import orjson

from .metadata import EntityMetadata
from .point import FieldValue, Point, time_fired_ns

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


def state_change_to_point(
    event: Event[EventStateChangedData],
    metadata: EntityMetadata,
    measurement: str,
    ignored_attributes: frozenset[str] = frozenset(),
    enrich: frozenset[str] = frozenset(),
) -> Point:
    """Build the default-layout point for one `state_changed` event."""
    entity_id = event.data["entity_id"]
    new_state: State | None = event.data["new_state"]
    old_state: State | None = event.data["old_state"]
    attributes: Mapping[str, Any] = new_state.attributes if new_state is not None else {}
    if ignored_attributes:
        attributes = {key: value for key, value in attributes.items() if key not in ignored_attributes}

    device_class = attributes.get(ATTR_DEVICE_CLASS) or metadata.device_class
    tags = {
        "entity_id": entity_id,
        "domain": entity_id.partition(".")[0],
        "event_type": str(event.event_type),
    }
    for key, tag_value in (
        ("device_class", device_class),
        ("entity_category", metadata.entity_category),
        ("device_id", metadata.device_id),
        ("area_id", metadata.area_id),
    ):
        if tag_value:
            tags[key] = str(tag_value)
    if enrich:
        for key, tag_value in (
            ("area", metadata.area_name),
            ("floor", metadata.floor_name),
            ("device", metadata.device_name),
            ("labels", metadata.labels),
            ("platform", metadata.platform),
            ("unit", attributes.get(ATTR_UNIT_OF_MEASUREMENT) or metadata.unit),
        ):
            if key in enrich and tag_value:
                tags[key] = str(tag_value)

    fields: dict[str, FieldValue] = {}
    # A removed entity has no new state: written with an empty `state`.
    state = new_state.state if new_state is not None else ""
    fields["state"] = state
    number = parse_number(state)
    if number is not None:
        fields["value"] = number
    if old_state is not None:
        fields["old_state"] = old_state.state
        if new_state is not None:
            fields["duration_in_state_seconds"] = max(
                0.0, new_state.last_changed_timestamp - old_state.last_changed_timestamp
            )
    fields["attributes"] = to_json(dict(attributes))
    for key, value in attributes.items():
        fields[f"attr_{key}"] = attribute_text(value)
    for key in (ATTR_FRIENDLY_NAME, ATTR_UNIT_OF_MEASUREMENT):
        if key in attributes:
            fields[key] = attribute_text(attributes[key])

    if "device_info" in enrich:
        for key, device_value in (
            ("manufacturer", metadata.manufacturer),
            ("model", metadata.model),
            ("sw_version", metadata.sw_version),
        ):
            if device_value:
                fields[key] = device_value

    context = event.context
    for key, context_value in (
        ("context_id", context.id),
        ("context_parent_id", context.parent_id),
        ("context_user_id", context.user_id),
    ):
        if context_value:
            fields[key] = context_value

    return Point(measurement, tags, fields, time_fired_ns(event))
