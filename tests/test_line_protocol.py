"""Line protocol: spec escaping, hostile values, and a round trip through the real InfluxDB 1.x."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

from custom_components.influxdb_ingest.lines.line_protocol import (
    escape_field_key,
    escape_field_key_v3,
    escape_measurement,
    escape_string_field,
    escape_tag,
    escape_tag_key,
    point_to_line,
)
from custom_components.influxdb_ingest.lines.point import FieldValue, Point

from .support.helpers import stored_key, stored_name
from .support.servers import InfluxDB1Server


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("plain", "plain"),
        ("a,b", "a\\,b"),
        ("a=b", "a\\=b"),
        ("a b", "a\\ b"),
        ("line\nbreak\r", "line\\ break\\ "),
        ('quote"d', 'quote"d'),
        ("back\\slash", "back\\slash"),
        # A backslash before a separator would pair with its escape and end the name there;
        # a run of them reads as two on 1.x and one on 3.x: it goes, a run becomes one.
        ("back\\,comma", "back\\,comma"),
        ("two\\\\,back", "two\\,back"),
        ("two\\\\back", "two\\back"),
        ("trailing\\\\", "trailing"),
        ("tab\tnul\x00del\x7f", "tab\\ nul\\ del\x7f"),
        ("ünï©ødé ☃", "ünï©ødé\\ ☃"),
    ],
)
def test_tag_values(raw: str, escaped: str) -> None:
    assert escape_tag(raw) == escaped


def test_keys_lose_every_control_character() -> None:
    """InfluxDB 3.4 to 3.9 refuse a new key holding one (docs/schema.md); values keep them."""
    assert escape_tag_key("tab\tnul\x00del\x7f\x01\x9f") == "tab\\ nul\\ del\\ \\ \\ "
    assert escape_field_key("a\x1bb") == escape_field_key_v3("a\x1bb") == "a\\ b"
    assert escape_tag("a\x1bb") == "a\x1bb"


def test_field_keys_also_escape_quotes() -> None:
    assert escape_field_key('attr_"x" y') == 'attr_\\"x\\"\\ y'
    assert escape_field_key('a\\"') == 'a\\"'
    assert escape_tag('a"b') == 'a"b'


def test_measurement_escapes_comma_and_space_only() -> None:
    assert escape_measurement("my measure,x=1") == "my\\ measure\\,x=1"


@pytest.mark.parametrize(
    ("raw", "quoted"),
    [
        ("plain", '"plain"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("C:\\dir\\", '"C:\\\\dir\\\\"'),
        ('\\"', '"\\\\\\""'),
        ("multi\nline", '"multi\nline"'),
        ("a,b=c d", '"a,b=c d"'),
    ],
)
def test_string_fields(raw: str, quoted: str) -> None:
    assert escape_string_field(raw) == quoted


def test_line_layout_sorted_tags_typed_fields_empty_tags_omitted() -> None:
    point = Point(
        "home_assistant_events",
        {"entity_id": "sensor.x", "domain": "sensor", "area_id": ""},
        {"state": "21.5", "value": 21.5, "attr_big": "1e+20", "n": 1e20},
        1_700_000_000_000_000_000,
    )
    assert point_to_line(point) == (
        "home_assistant_events,domain=sensor,entity_id=sensor.x "
        'state="21.5",value=21.5,attr_big="1e+20",n=1e+20 1700000000000000000'
    )


def test_injection_attempt_stays_one_line() -> None:
    evil = 'x" 1\nhacked,entity_id=evil value=666 1\n'
    point = Point("m", {"entity_id": evil}, {"state": evil}, 1)
    line = point_to_line(point) + "\n"
    assert line.endswith(" 1\n")
    assert "\nhacked" not in line.split('state="', 1)[0]


# --- Round trip through the real server --------------------------------------------------------

# Everything a state or attribute could hold, except lone surrogates (not encodable as UTF-8)
# and NUL, which InfluxDB's storage ends a string at.
_TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=40)
_HOSTILE = st.one_of(
    _TEXT,
    st.sampled_from(['"', "\\", ",", "=", " ", "\n", '\\"', "a\\", "é☃𝄞", "\\\\,", "\\,", "a\\ b", "\\\n"]),
)
_FLOATS = st.floats(allow_nan=False, allow_infinity=False)


def _expected_tag(value: str) -> str:
    """Documented name normalization (docs/schema.md)."""
    return stored_name(value)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tag=_HOSTILE, text=_HOSTILE, number=_FLOATS, attr_key=_HOSTILE)
def test_hostile_values_round_trip_through_real_influxdb(
    influxdb_v1: InfluxDB1Server, tag: str, text: str, number: float, attr_key: str
) -> None:
    db = "roundtrip"
    influxdb_v1.query(f"DROP DATABASE {db}", method="POST")
    influxdb_v1.query(f"CREATE DATABASE {db}", method="POST")
    fields: dict[str, FieldValue] = {"state": text, "value": number}
    field_key = "attr_" + attr_key
    fields[field_key] = text
    point = Point("home_assistant_events", {"entity_id": "sensor.x", "hostile": tag}, fields, 1_000)
    influxdb_v1.write(db, point_to_line(point) + "\n")

    result = influxdb_v1.query("SELECT * FROM home_assistant_events GROUP BY *", db=db)
    (series,) = result["results"][0]["series"]  # exactly one point, nothing injected
    (row,) = series["values"]
    stored = dict(zip(series["columns"], row, strict=True))
    expected_tags = {"entity_id": "sensor.x"}
    if _expected_tag(tag):
        expected_tags["hostile"] = _expected_tag(tag)
    assert series["tags"] == expected_tags
    assert stored["state"] == text
    assert float(stored["value"]) == number  # JSON may print a big float as an integer
    assert stored[stored_key(field_key)] == text
    assert stored["time"] == 1_000
