"""Property-based: any name and any text, in every layout, is stored as meant or as documented.

Entity attributes (keys and values), units, states, the measurement setting and static
tags are drawn from the whole Unicode range, every control character and lone surrogates.
Each line the serializer makes is read by the port of InfluxDB 3's parser and validator
(tests/support/lp3_parser.py) and by the real InfluxDB 1.x, and must hold exactly the
measurement, tags and fields the test meant, transformed as docs/schema.md says ("Names and
values the protocol cannot carry"). The expectations come from `stored_name` (written from
that section) and the small references below, never from the encoder.
"""

from __future__ import annotations

from collections.abc import Iterable
import dataclasses
from typing import Any

from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, State
from hypothesis import HealthCheck, assume, given, settings, strategies as st
import pytest

from custom_components.influxdb_ingest.lines.metadata import EntityMetadata
from custom_components.influxdb_ingest.pipeline.serializer import make_serializer
from custom_components.influxdb_ingest.pipeline.settings import WriterSettings

from .support.helpers import stored_key, stored_name
from .support.lp3_parser import LIMIT_1M, would_store
from .support.servers import InfluxDB1Server
from .support.standin3_catalog import TOO_MANY_FIELDS, Catalog
from .support.standin3_release import Release
from .support.standin_core import Point, parse_lines_v3

# Every code point Hypothesis knows, plus what it rarely draws: each control character,
# lone surrogates, and the characters line protocol gives a meaning.
_SPECIAL = [chr(code) for code in (*range(0x20), *range(0x7F, 0xA0))] + [
    *"\\\"',= #",
    "\ud800",
    "\udfff",
    "\u2028",
    "\ufeff",
    "\ufffd",
]
_CHAR = st.one_of(st.characters(exclude_categories=()), st.sampled_from(_SPECIAL))
# Names longer than the servers take (1024 bytes as written, docs/schema.md): characters of
# 1 to 4 bytes that no other rule changes, so the cut is the only change.
_LONG = st.text(st.sampled_from("aé☃𝄞"), min_size=250, max_size=1100)
_TEXT = st.one_of(
    st.text(_CHAR, max_size=12),
    st.sampled_from(["", "time", "#", "#x", "\\", "\\\\", "a\\", "a\\\\b", " x ", "\t", "a\\,b", '\\"']),
    st.sampled_from(["a::b", "::", "a:::b", "::a", "a::", "a:: b"]),  # field families (3.x)
    _LONG,
)
NAME_LIMIT_BYTES = 1024


def _entity_id(object_id: str) -> str:
    return f"sensor.{object_id}"


_OBJECT_IDS = st.from_regex(r"[a-z0-9]([a-z0-9_]{0,10}[a-z0-9])?", fullmatch=True).filter(
    lambda object_id: "__" not in object_id
)


def _stored_value(text: str) -> str:
    """A string value as stored: lone surrogates and NUL become U+FFFD (docs/schema.md)."""
    return "".join("\ufffd" if char == "\x00" or 0xD800 <= ord(char) <= 0xDFFF else char for char in text)


def _cut(name: str) -> str:
    """A name cut to 1024 bytes of UTF-8, never inside a character (drawn long names need no escapes)."""
    return name.encode()[:NAME_LIMIT_BYTES].decode("utf-8", "ignore")


def _no_family(key: str) -> str:
    """A field key as stored: a colon followed by a colon gets `_` after it (`a::b` is `a:_:b`)."""
    return "".join(
        char + "_" if char == ":" and key[i + 1 : i + 2] == ":" else char for i, char in enumerate(key)
    )


def _measurement(name: str) -> str:
    """A measurement as stored: a name, `_` before one that is empty or starts with `#`."""
    stored = stored_name(name)
    return _cut("_" + stored if stored in ("",) or stored.startswith("#") else stored)


def _unique(keys: Iterable[str], reserved: set[str]) -> list[str]:
    """Keys as stored: empty ones `_`, a repeated one (or `time`) with `_` appended."""
    seen, result = set(reserved), []
    for key in keys:
        name = key or "_"
        while name in seen:
            name += "_"
        seen.add(name)
        result.append(name)
    return result


def _tags(tags: dict[str, str]) -> dict[str, str]:
    kept = [(key, _cut(stored_name(tags[key]))) for key in sorted(tags) if stored_name(tags[key])]
    keys = _unique((_cut(stored_key(key)) for key, _ in kept), {"time"})
    return dict(zip(keys, (value for _, value in kept), strict=True))


def _fields(fields: list[tuple[str, Any]], tags: dict[str, str]) -> list[tuple[str, Any]]:
    """Fields as stored: a key named like a tag of the line (as stored) gets `_` appended too."""
    keys = _unique((_cut(_no_family(stored_key(key))) or "_" for key, _ in fields), {"time", *tags})
    values = [_stored_value(value) if isinstance(value, str) else value for _, value in fields]
    return list(zip(keys, values, strict=True))


def _event(object_id: str, state: str, attributes: dict[str, Any]) -> Event[Any]:
    new_state = State(_entity_id(object_id), state, attributes)
    return Event(
        EVENT_STATE_CHANGED, {"entity_id": new_state.entity_id, "old_state": None, "new_state": new_state}
    )


def _single_line(text: str) -> str:
    """The built-in integration's own rule for text it writes: line breaks become spaces."""
    return " ".join(text.splitlines())


def _default_case(
    object_id: str, state: str, attributes: dict[str, str], measurement: str, static: dict[str, str], api: str
) -> tuple[str, tuple[str, dict[str, str], list[tuple[str, Any]]]]:
    settings_ = WriterSettings(api_version=api, measurement=measurement, static_tags=static)
    line = make_serializer(settings_, lambda _: EntityMetadata()).line(_event(object_id, state, attributes))
    assert line is not None
    tags = _tags({"entity_id": _entity_id(object_id), "domain": "sensor", **_user_tags(static)})
    fields = [("state", state), *((f"attr_{key}", value) for key, value in attributes.items())]
    return line, (_measurement(measurement), tags, _fields(fields, tags))


def _user_tags(static: dict[str, str]) -> dict[str, str]:
    """The default layout's static tags: one named like a field of the layout is `tag_<key>`."""
    return {
        f"tag_{key}" if stored_key(key) in _LAYOUT_FIELDS else key: value for key, value in static.items()
    }


def _builtin_case(
    object_id: str, state: str, attributes: dict[str, str], unit: str, static: dict[str, str], api: str
) -> tuple[str, tuple[str, dict[str, str], list[tuple[str, Any]]]]:
    settings_ = WriterSettings(api_version=api, layout="builtin", static_tags=static)
    event = _event(object_id, state, {"unit_of_measurement": unit, **attributes})
    line = make_serializer(settings_, lambda _: EntityMetadata()).line(event)
    assert line is not None
    measurement = _single_line(unit)  # a unit that is not empty names the measurement
    tags = _tags({"domain": "sensor", "entity_id": object_id, **static})
    fields = [("state", _single_line(state))]
    fields += [(f"{key}_str", _single_line(value)) for key, value in attributes.items()]
    return line, (_measurement(measurement), tags, _fields(fields, tags))


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


_STATES = _TEXT.map(lambda text: "s" + text)  # never a number: no `value` field to expect
# Static tags named like the layouts' fields, too (`state`, `value`, an attribute's `_str` field).
_LAYOUT_FIELDS = ("state", "value")
_STATIC = st.dictionaries(
    st.one_of(_TEXT.map(lambda text: "s" + text), st.sampled_from(["state", "value", "state\\", "a_str"])),
    _TEXT,
    max_size=3,
)
_ATTRIBUTES = st.dictionaries(_TEXT, _TEXT, max_size=4).filter(
    lambda attributes: "device_class" not in attributes and "unit_of_measurement" not in attributes
)
# The built-in layout's own renames (`_str` twins, `value_`, `time_`) are its design, not ours.
_BUILTIN_ATTRIBUTES = _ATTRIBUTES.filter(
    lambda attributes: all(
        key.rstrip("_") not in ("state", "value", "time", "friendly_name")
        and not key.endswith("_str")
        and not any(char.isdigit() for char in value)  # digits would also make a float field
        and not _is_float(value)
        for key, value in attributes.items()
    )
)


def _parsed_by_v3(line: str) -> tuple[str, dict[str, str], list[tuple[str, Any]]]:
    (parsed,) = would_store(line + "\n", LIMIT_1M)
    tags = dict(parsed.tags or ())
    assert len(tags) == len(parsed.tags or ()), "a tag key twice"
    return parsed.measurement, tags, [(key, value.value) for key, value in parsed.fields]


@settings(max_examples=300, deadline=None)
@given(
    object_id=_OBJECT_IDS,
    state=_STATES,
    attributes=_ATTRIBUTES,
    measurement=_TEXT,
    static=_STATIC,
)
def test_default_layout_lines_read_by_influxdb3_as_meant(
    object_id: str, state: str, attributes: dict[str, str], measurement: str, static: dict[str, str]
) -> None:
    line, expected = _default_case(object_id, state, attributes, measurement, static, api="3")
    assert _parsed_by_v3(line) == expected


@settings(max_examples=300, deadline=None)
@given(object_id=_OBJECT_IDS, state=_STATES, attributes=_BUILTIN_ATTRIBUTES, unit=_TEXT, static=_STATIC)
def test_builtin_layout_lines_read_by_influxdb3_as_meant(
    object_id: str, state: str, attributes: dict[str, str], unit: str, static: dict[str, str]
) -> None:
    assume(unit)  # an empty unit names no measurement: the entity id does
    line, expected = _builtin_case(object_id, state, attributes, unit, static, api="3")
    assert _parsed_by_v3(line) == expected


def _stored_by_v1(server: InfluxDB1Server, line: str) -> tuple[str, dict[str, str], list[tuple[str, Any]]]:
    db = "names"
    server.query(f"DROP DATABASE {db}", method="POST")
    server.query(f"CREATE DATABASE {db}", method="POST")
    server.write(db, line + "\n")
    result = server.query("SELECT * FROM /.*/ GROUP BY *", db=db)
    (series,) = result["results"][0]["series"]  # exactly one point, nothing skipped or split
    (row,) = series["values"]
    stored = {key: value for key, value in zip(series["columns"], row, strict=True) if value is not None}
    del stored["time"]
    return series["name"], series.get("tags", {}), list(stored.items())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    object_id=_OBJECT_IDS,
    state=_STATES,
    attributes=_BUILTIN_ATTRIBUTES,
    name=_TEXT,
    static=_STATIC,
    layout=st.sampled_from(["default", "builtin"]),
)
def test_lines_stored_by_real_influxdb1_as_meant(
    influxdb_v1: InfluxDB1Server,
    object_id: str,
    state: str,
    attributes: dict[str, str],
    name: str,
    static: dict[str, str],
    layout: str,
) -> None:
    if layout == "builtin":
        assume(name)
        line, expected = _builtin_case(object_id, state, attributes, name, static, api="1")
    else:
        line, expected = _default_case(object_id, state, attributes, name, static, api="1")
    measurement, tags, fields = _stored_by_v1(influxdb_v1, line)
    assert (measurement, tags) == expected[:2]
    assert sorted(fields) == sorted(expected[2])  # 1.x returns fields sorted by name


@pytest.mark.parametrize(
    ("unit", "measurement"),
    [("#", "_#"), ("#°C", "_#°C"), ("\\", "_"), ("\n", "_"), (" #", " #"), ("\t#", " #")],
)
def test_a_unit_that_would_start_a_comment_names_another_measurement(unit: str, measurement: str) -> None:
    line, _ = _builtin_case("x", "son", {}, unit, {}, api="3")
    assert _parsed_by_v3(line)[0] == measurement


@pytest.mark.parametrize("api", ["1", "3"])
def test_a_static_tag_named_like_a_field_moves_the_field_not_the_line(
    influxdb_v1: InfluxDB1Server, api: str
) -> None:
    """Built-in layout: 3.x refuses a name that is a tag and a field of one line; the field gets `_`."""
    settings_ = WriterSettings(
        api_version=api, layout="builtin", static_tags={"value": "v", "level_str": "l"}
    )
    event = _event("x", "12.5", {"unit_of_measurement": "W", "level": "high", "value": "v2"})
    line = make_serializer(settings_, lambda _: EntityMetadata()).line(event)
    assert line is not None
    # `value` the state's, then the attribute `value` (the built-in integration's own `value_`,
    # here `value__` as `value_` is taken), `level_str` the attribute's.
    expected = [("value_", 12.5), ("level_str_", "high"), ("value__str", "v2")]
    if api == "3":
        _, tags, fields = _parsed_by_v3(line)
        assert (tags, fields) == (
            {"domain": "sensor", "entity_id": "x", "level_str": "l", "value": "v"},
            expected,
        )
    else:
        _, tags, fields = _stored_by_v1(influxdb_v1, line)
        assert tags == {"domain": "sensor", "entity_id": "x", "level_str": "l", "value": "v"}
        assert sorted(fields) == sorted(expected)


def test_attribute_keys_with_double_colons_never_fill_a_field_family() -> None:
    """3.x (from 3.4) caps a field family `f::` at 100 fields and refuses the line past it."""
    attributes = {f"family::key{number}": "on" for number in range(150)}
    line, _ = _default_case("x", "son", attributes, "m", {}, api="3")
    (parsed,) = parse_lines_v3(line + "\n")
    assert isinstance(parsed, Point)
    catalog = Catalog(Release("3.10"), max_tables=4000, max_columns_per_table=500, max_tags_per_table=250)
    assert catalog.validate({}, parsed, 0) is None
    assert {key for key, _ in parsed.fields} >= {f"attr_family:_:key{number}" for number in range(150)}
    # Written as they came, the same keys are refused: the stand-in models the cap.
    families = dataclasses.replace(
        parsed, fields=tuple((key.replace(":_:", "::"), v) for key, v in parsed.fields)
    )
    assert catalog.validate({}, families, 0) == TOO_MANY_FIELDS.format("attr_family")


@pytest.mark.parametrize("api", ["1", "3"])
def test_a_name_is_cut_at_1024_bytes_as_written_never_inside_an_escape(
    influxdb_v1: InfluxDB1Server, api: str
) -> None:
    """1.x refuses a series key (plus a field key) over 65535 bytes; one name over 1024 bytes is cut."""
    long_value = "a" * 1023 + ",b"  # its escape `\,` would straddle byte 1024
    static = {"k": long_value, "long": "é" * 40_000}
    line, _ = _default_case("x", "son", {"z" * 70_000: "on"}, "m" * 70_000, static, api)
    stored = _parsed_by_v3(line) if api == "3" else _stored_by_v1(influxdb_v1, line)
    measurement, tags, fields = stored
    assert measurement == "m" * 1024
    assert tags["k"] == "a" * 1023  # the backslash of `\,` went with the comma
    assert tags["long"] == "é" * 512
    assert ("attr_" + "z" * 1019, "on") in fields
