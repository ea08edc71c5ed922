"""The layout of Home Assistant's built-in `influxdb` integration, for drop-in migration.

A faithful port of its `event_to_json` (homeassistant/components/influxdb), so dashboards
built on it keep working: the same measurements, tags, fields and types for the same
events. Pure functions, like normalize.py.
"""

from __future__ import annotations

from collections.abc import Mapping
import contextlib
from dataclasses import dataclass
import math
import re
from typing import Any, TypeGuard

from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import Event, EventStateChangedData, State
from homeassistant.helpers import state as state_helper

from .entity_rules import NO_RULES, EntityRules
from .normalize import safe_tag_key
from .point import FieldValue, Point, time_fired_ns

# The built-in integration's own patterns: a text attribute with digits also gets a float.
_DIGIT_TAIL = re.compile(r"^[^\.]*\d+\.?\d+[^\.]*$")
_NON_DECIMAL = re.compile(r"[^\d.]+")

# The `measurement_attr` option value for `<domain>__<device_class>` measurements. The
# built-in integration's YAML spells it `domain__device_class`, which cannot be a selector
# option (translation) key: hassfest forbids two underscores in a row.
DOMAIN_DEVICE_CLASS = "domain_device_class"
BUILTIN_DOMAIN_DEVICE_CLASS = "domain__device_class"
MEASUREMENT_ATTRS = ("unit_of_measurement", DOMAIN_DEVICE_CLASS, "entity_id")


@dataclass(frozen=True, slots=True)
class BuiltinLayout:
    """The built-in integration's measurement settings."""

    measurement_attr: str = "unit_of_measurement"
    default_measurement: str | None = None
    override_measurement: str | None = None


def _single_line(value: str) -> str:
    return " ".join(value.splitlines())


def _measurement(state: State, layout: BuiltinLayout) -> tuple[str, bool, bool]:
    """(measurement, include unit_of_measurement field, include device_class field)."""
    if layout.override_measurement:
        return layout.override_measurement, True, True
    include_uom = include_dc = True
    measurement: Any
    if layout.measurement_attr == "entity_id":
        measurement = state.entity_id
    elif layout.measurement_attr == DOMAIN_DEVICE_CLASS:
        device_class = state.attributes.get("device_class")
        if device_class is None:
            measurement = state.domain
        else:
            measurement = f"{state.domain}__{device_class}"
            include_dc = False
    else:
        measurement = state.attributes.get(layout.measurement_attr)
    if measurement in (None, ""):
        measurement = layout.default_measurement or state.entity_id
    else:
        include_uom = layout.measurement_attr != "unit_of_measurement"
    return _single_line(str(measurement)), include_uom, include_dc


def builtin_point(
    event: Event[EventStateChangedData],
    layout: BuiltinLayout,
    rules: EntityRules = NO_RULES,
    static_tags: Mapping[str, str] | None = None,
) -> Point | None:
    """The built-in integration's point for a state change, or None where it writes none."""
    state = event.data["new_state"]
    if not builtin_records(state):
        return None
    state_fields = builtin_state_fields(state)
    measurement, tags, attribute_fields = builtin_entity_parts(
        state, layout, rules, static_tags or {}, frozenset(state_fields)
    )
    fields = state_fields | attribute_fields
    if not fields:  # nothing a line can carry (e.g. a "nan" state without attributes)
        return None
    return Point(measurement, tags, fields, time_fired_ns(event))


def builtin_records(state: State | None) -> TypeGuard[State]:
    """Whether the built-in integration writes a point for this new state."""
    return state is not None and state.state not in (STATE_UNKNOWN, "", STATE_UNAVAILABLE)


def builtin_state_fields(state: State) -> dict[str, FieldValue]:
    """`value` (a finite number) and/or `state` (text): the fields that follow the state."""
    fields: dict[str, FieldValue] = {}
    try:
        fields["value"] = float(state.state)
    except ValueError:
        with contextlib.suppress(ValueError):
            fields["value"] = float(state_helper.state_as_number(state))
        fields["state"] = _single_line(state.state)
    if not math.isfinite(float(fields.get("value", 0.0))):
        # The built-in integration's client makes InfluxDB refuse such a point; we omit the value.
        del fields["value"]
    return fields


# Text attribute values repeat endlessly (units, classes, icons, names): what the built-in
# integration makes of each is remembered, as working it out costs an exception. Emptied
# when it holds this many.
_TEXT_CACHE_LIMIT = 10_000
_TEXTS: dict[str, tuple[str | None, float | None]] = {}


def _text_and_number(value: object) -> tuple[str | None, float | None]:
    """The built-in integration's `<key>_str` text and `<key>` number for a value (None: not written).

    A value float() reads is a number only; anything else is text, and also a number when
    the text is digits with something around them (its `_DIGIT_TAIL`).
    """
    if isinstance(value, str) and (known := _TEXTS.get(value)) is not None:
        return known
    # float() refuses containers (TypeError): they skip the costly try.
    if not isinstance(value, list | dict | tuple | set | frozenset):
        try:
            return None, float(value)  # type: ignore[arg-type]  # any value: refused below
        except ValueError, TypeError:
            pass
    text = _single_line(str(value))
    result = text, float(_NON_DECIMAL.sub("", text)) if _DIGIT_TAIL.match(text) else None
    if isinstance(value, str):
        if len(_TEXTS) >= _TEXT_CACHE_LIMIT:
            _TEXTS.clear()
        _TEXTS[value] = result
    return result


def builtin_entity_parts(
    state: State,
    layout: BuiltinLayout,
    rules: EntityRules,
    static_tags: Mapping[str, str],
    state_field_keys: frozenset[str],
) -> tuple[str, dict[str, str], dict[str, FieldValue]]:
    """(measurement, tags, attribute fields): they follow the attributes, not the state.

    `state_field_keys` are the state's own fields: an attribute with one of those names
    gets a trailing `_`, as in the built-in integration.
    """
    if rules.measurement:
        measurement, include_uom, include_dc = _single_line(rules.measurement), True, True
    else:
        measurement, include_uom, include_dc = _measurement(state, layout)
    tags = {"domain": state.domain, "entity_id": state.object_id}
    fields: dict[str, FieldValue] = {}
    kept = rules.keep(state.attributes)
    for attribute, value in state.attributes.items():
        if attribute in rules.tags_attributes:  # tags first, as in the built-in integration
            tags[safe_tag_key(attribute)] = _single_line(value) if isinstance(value, str) else str(value)
            continue
        if (
            (attribute == "unit_of_measurement" and not include_uom)
            or (attribute == "device_class" and not include_dc)
            or attribute not in kept
        ):
            continue
        key = f"{attribute}_" if attribute in fields or attribute in state_field_keys else attribute
        text, number = _text_and_number(value)
        if text is not None:
            fields[f"{key}_str"] = text
        if number is not None and math.isfinite(number):
            fields[key] = number
    if "time" in fields:  # InfluxDB reserves "time"
        renamed = "time_"
        while renamed in fields:
            renamed += "_"
        fields[renamed] = fields.pop("time")
    tags.update((safe_tag_key(key), value) for key, value in static_tags.items())
    return measurement, tags, fields
