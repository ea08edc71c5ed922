"""The default layout's schema as docs/schema.md states it, written by hand for the tests.

What a stored point must hold for a change, independent of the code under test
(`lines/normalize.py`): the property tests compare what the server stored with these rules,
never with the functions that produced the line.
"""

from __future__ import annotations

from collections.abc import Mapping
import json
import math
from typing import Any

from .helpers import stored_name

# docs/schema.md, "Tags": a user's tag key named like one of the layout's names gets `tag_`.
USER_TAG_KEYS = {"room": "room", "phase": "phase", "state": "tag_state", "attr_x": "tag_attr_x"}


def plain_number(state: str) -> float | None:
    """The `value` field for a state: a plain finite number (not `nan`, `inf`, `1_000`,
    `" 1"`, `0x10` or text), else None."""
    if state != state.strip() or "_" in state:  # float() would take both
        return None
    try:
        number = float(state)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def as_tag_text(value: Any) -> str:
    """An attribute written as a tag: text as it is, None as nothing, booleans as
    `true`/`false`, numbers as Python writes them, lists and dicts as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def recovered(row: Mapping[str, Any], tag_attributes: Mapping[str, str]) -> dict[str, Any]:
    """The attributes as docs/schema.md says to read them back from a stored point;
    `tag_attributes` maps each attribute written as a tag to its tag key."""
    attributes: dict[str, Any] = {}
    for column, stored in row.items():
        if stored is None:
            continue
        if column.startswith(("attr_", "bool_")):
            attributes[column.partition("_")[2]] = stored
        elif column.startswith("num_"):
            attributes[column[4:]] = float(stored)
        elif column.startswith("json_"):
            attributes[column[5:]] = json.loads(stored)
        elif column == "attributes_overflow":
            attributes.update(json.loads(stored))
    # A tag is never empty (InfluxDB 1.x answers "" where a series has no such tag).
    if row.get("device_class"):
        attributes["device_class"] = row["device_class"]
    for key, tag_key in tag_attributes.items():
        if row.get(tag_key):
            attributes[key] = row[tag_key]
    return attributes


def same_attribute(got: Any, value: Any, *, as_tag: bool) -> bool:
    """Whether a read-back attribute is the one Home Assistant had (numbers are floats)."""
    if as_tag:  # a tag value is a name: stored as docs/schema.md says names are
        return bool(got == stored_name(as_tag_text(value)))
    if isinstance(value, float) and not math.isfinite(value):
        # JSON of its own keeps NaN and infinities; inside the overflow JSON they are null (as in HA).
        return got is None or (
            isinstance(got, float) and (got == value or (math.isnan(got) and math.isnan(value)))
        )
    if isinstance(value, bool | str):
        return type(got) is type(value) and bool(got == value)
    if isinstance(value, int | float):
        return isinstance(got, int | float) and not isinstance(got, bool) and float(got) == float(value)
    # None, lists and dicts: JSON text that reads back to the value itself.
    return bool(got == value)
