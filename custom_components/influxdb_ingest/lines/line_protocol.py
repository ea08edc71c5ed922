r"""Serialize points to InfluxDB line protocol, exactly as the spec escapes each part.

https://docs.influxdata.com/influxdb/v1/write_protocols/line_protocol_reference/
No value can break a line or inject another point: names escape `,` `=` and space,
string fields escape `"` and `\\`, and what the format cannot carry is replaced.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
import re

from .point import FieldValue, Point

_MEASUREMENT_ESCAPES = str.maketrans({",": "\\,", " ": "\\ ", "\n": "\\ ", "\r": "\\ "})
_TAG_ESCAPES = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ ", "\n": "\\ ", "\r": "\\ "})
# InfluxDB 1.x and 2.x field keys also escape `"`: their scanner unescapes it there, and an
# unescaped quote in a field key would make it think a string value starts. InfluxDB 3's
# parser does not unescape it (influxdb_line_protocol lib.rs: field keys escape `\\,= ` only)
# and would store the backslash, while a bare quote is just a character to it.
_FIELD_KEY_ESCAPES_V3 = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ ", "\n": "\\ ", "\r": "\\ "})
_FIELD_KEY_ESCAPES = str.maketrans({**_FIELD_KEY_ESCAPES_V3, ord('"'): '\\"'})
_STRING_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"'})
# A run of backslashes right before a separator we escape: InfluxDB's scanner reads them in
# pairs, so an odd run would pair its last one with our escape and the separator would end
# the name. Measurements end only at `,` and space; keys and tag values at `=` too.
_MEASUREMENT_SEPARATOR_RUN = re.compile(r"\\+(?=[, \n\r])")
_KEY_SEPARATOR_RUN = re.compile(r"\\+(?=[,= \n\r])")


# Names repeat endlessly (the same entities, attributes and keys), so their escaped form
# is remembered; the caches are emptied when they grow past this many names.
_NAME_CACHE_LIMIT = 10_000


def _even(run: re.Match[str]) -> str:
    return run[0][: len(run[0]) // 2 * 2]


def _name(text: str, table: dict[int, str], separator_run: re.Pattern[str]) -> str:
    """Escape a measurement, tag or field name part.

    InfluxDB reads a backslash before a separator as an escape, so a trailing backslash
    would swallow the separator that follows, and an odd run of backslashes before a
    separator would swallow our escape: the one that cannot be written is dropped.
    Newlines cannot be escaped in names at all and become (escaped) spaces.
    """
    text = text.rstrip("\\")
    if "\\" in text:
        text = separator_run.sub(_even, text)
    return text.translate(table)


def _remembered(table: dict[int, str], separator_run: re.Pattern[str]) -> Callable[[str], str]:
    """`_name` with `table`, remembering every name it escaped (a pure function, faster)."""
    escaped: dict[str, str] = {}

    def escape(text: str) -> str:
        if (known := escaped.get(text)) is not None:
            return known
        if len(escaped) >= _NAME_CACHE_LIMIT:
            escaped.clear()
        escaped[text] = result = _name(text, table, separator_run)
        return result

    return escape


escape_measurement = _remembered(_MEASUREMENT_ESCAPES, _MEASUREMENT_SEPARATOR_RUN)  # a measurement name
escape_tag = _remembered(_TAG_ESCAPES, _KEY_SEPARATOR_RUN)  # a tag key or a tag value
escape_field_key = _remembered(_FIELD_KEY_ESCAPES, _KEY_SEPARATOR_RUN)  # a field key
escape_field_key_v3 = _remembered(_FIELD_KEY_ESCAPES_V3, _KEY_SEPARATOR_RUN)  # a field key, InfluxDB 3


def escape_string_field(text: str) -> str:
    r"""Quote a string field value: only `"` and `\\` need escaping inside the quotes."""
    if '"' in text or "\\" in text:
        text = text.translate(_STRING_ESCAPES)
    return '"' + text + '"'


def format_float(number: float) -> str:
    """A float field value; repr is the shortest text that reads back to the same float."""
    return repr(number)


def format_head(measurement: str, tags: Mapping[str, str]) -> str:
    """Measurement and tags, escaped; tags sorted as InfluxDB prefers, empty ones omitted."""
    parts = [escape_measurement(measurement)]
    for key in sorted(tags):
        value = escape_tag(tags[key])
        tag_key = escape_tag(key)
        if value and tag_key:  # empty tag values are not allowed: omit the tag
            parts.append(f",{tag_key}={value}")
    return "".join(parts)


def format_fields(
    fields: Mapping[str, FieldValue], escape_key: Callable[[str], str] = escape_field_key
) -> str:
    """The field set, escaped and typed (string, float or boolean); keys escaping to nothing are left out."""
    formatted = []
    for key, field_value in fields.items():
        field_key = escape_key(key)
        if not field_key:
            continue
        if isinstance(field_value, str):
            formatted.append(f"{field_key}={escape_string_field(field_value)}")
        elif isinstance(field_value, bool):
            formatted.append(f"{field_key}={'true' if field_value else 'false'}")
        else:
            formatted.append(f"{field_key}={format_float(field_value)}")
    return ",".join(formatted)


def point_to_line(point: Point, escape_key: Callable[[str], str] = escape_field_key) -> str:
    """One line (without the trailing newline) for a point."""
    fields = format_fields(point.fields, escape_key)
    return f"{format_head(point.measurement, point.tags)} {fields} {point.time_ns}"


def split_line(line: str) -> tuple[str, list[tuple[str, str]], str]:
    r"""Split one of our own lines into head (measurement and tags), fields and tail.

    Fields come back as (escaped key, raw value text), so `join_line` rebuilds the line
    byte for byte. Follows InfluxDB's parser: in the head and in keys a separator counts
    unless a backslash precedes it; inside quoted strings `\\` and `\"` are pairs.
    """
    position = 0
    while line[position] != " " or (position and line[position - 1] == "\\"):
        position += 1
    head = line[:position]
    position += 1
    fields = []
    while True:
        start = position
        while line[position] != "=" or line[position - 1] == "\\":
            position += 1
        key = line[start:position]
        position += 1
        end = position
        if line[end] == '"':
            end += 1
            while line[end] != '"':
                end += 2 if line[end] == "\\" else 1
            end += 1
        else:
            while line[end] not in ", ":
                end += 1
        fields.append((key, line[position:end]))
        position = end
        if line[position] != ",":
            return head, fields, line[position:]
        position += 1


def join_line(head: str, fields: list[tuple[str, str]], tail: str) -> str:
    """The inverse of `split_line`."""
    return head + " " + ",".join(f"{key}={value}" for key, value in fields) + tail
