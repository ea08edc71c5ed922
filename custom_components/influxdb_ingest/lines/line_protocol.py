r"""Serialize points to InfluxDB line protocol, exactly as the spec escapes each part.

https://docs.influxdata.com/influxdb/v1/write_protocols/line_protocol_reference/
No value can break a line or inject another point: names escape `,` `=` and space,
string fields escape `"` and `\\`, and what the format cannot carry is replaced.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
import re
import sys

from .point import FieldValue, Point

_MEASUREMENT_ESCAPES = str.maketrans({",": "\\,", " ": "\\ "})
_TAG_ESCAPES = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ "})
# InfluxDB 1.x and 2.x field keys also escape `"`: their scanner unescapes it there, and an
# unescaped quote in a field key would make it think a string value starts. InfluxDB 3's
# parser does not unescape it (influxdb_line_protocol lib.rs: field keys escape `\\,= ` only)
# and would store the backslash, while a bare quote is just a character to it.
_FIELD_KEY_ESCAPES_V3 = _TAG_ESCAPES
_FIELD_KEY_ESCAPES = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ ", '"': '\\"'})
_STRING_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"'})
# Four control characters cannot be carried in names, escaped or not: InfluxDB 3 ends a
# token at a tab or newline and a measurement at NUL (lib.rs v3.10.1 lines 730-745,
# 946-952), 1.x ends a line at a newline and skips tabs and NULs that start one
# (models/points.go v1.8.10 skipWhitespace, scanLine), and a carriage return before a
# newline is a line ending to many tools. In names they become spaces, escaped like any
# other; every other control character is stored as it is (tests/test_property_names.py).
_CONTROLS = str.maketrans(dict.fromkeys([0x00, 0x09, 0x0A, 0x0D], " "))
# Lone surrogates are not UTF-8: one would make the whole request body unencodable.
_SURROGATE = re.compile("[\ud800-\udfff]")
# Backslashes are read differently by the servers: InfluxDB 1.x and 2.x keep `\\` in a name
# as two characters, 3.x reads it as one (lib.rs escaped_value), and both read a backslash
# before `,` `=` or space as escaping it, and refuse a name that ends with one. So a run of
# backslashes becomes one, and one before a character we escape (or `"`) or at the end
# goes: what is left reads the same on every server.
_BACKSLASH_RUN = re.compile(r"\\\\+")
_BACKSLASH_BEFORE_SEPARATOR = re.compile(r'\\(?=[,= "]|$)')
# A line that starts with `#` is a comment to every server (1.x models/points.go
# ParsePointsWithPrecision, 3.x lib.rs trim_leading): such a measurement gets this prefix,
# and an empty name becomes it.
NAME_PREFIX = "_"
# InfluxDB reserves `time`: 1.x drops a point with a `time` tag and skips a `time` field
# (tsdb/shard.go v1.8.10 lines 610-690), 3.x refuses it as a column of another type.
RESERVED_KEY = "time"


# Names repeat endlessly (the same entities, attributes and keys), so their escaped form
# is remembered; the caches are emptied when they grow past this many names.
_NAME_CACHE_LIMIT = 10_000


def storable_name(text: str) -> str:
    """The name InfluxDB stores for `text` (before escaping): what the protocol cannot carry, replaced.

    Lone surrogates become U+FFFD, NUL, tab, newline and carriage return spaces, a run of backslashes one,
    and a backslash before `,` `=` space `"` or at the end is removed (docs/schema.md,
    "Names and values the protocol cannot carry").
    """
    if not text.isascii():
        text = _SURROGATE.sub("\ufffd", text)
    text = text.translate(_CONTROLS)
    if "\\" in text:
        # One pass each: what is removed is followed by a character that stays, so no new
        # run and no new trailing backslash can appear.
        text = _BACKSLASH_BEFORE_SEPARATOR.sub("", _BACKSLASH_RUN.sub(r"\\", text))
    return text


def _measurement_name(escaped: str) -> str:
    """A measurement never empty and never starting with `#` (a comment line)."""
    return NAME_PREFIX + escaped if not escaped or escaped[0] == "#" else escaped


def _remembered(table: dict[int, str], finish: Callable[[str], str] = str) -> Callable[[str], str]:
    """Escape names with `table` (then `finish`), remembering every name escaped (a pure function, faster)."""
    escaped: dict[str, str] = {}

    def escape(text: str) -> str:
        if (known := escaped.get(text)) is not None:
            return known
        if len(escaped) >= _NAME_CACHE_LIMIT:
            escaped.clear()
        escaped[text] = result = finish(storable_name(text).translate(table))
        return result

    return escape


escape_tag = _remembered(_TAG_ESCAPES)  # a tag key or a tag value
escape_field_key = _remembered(_FIELD_KEY_ESCAPES)  # a field key
escape_field_key_v3 = _remembered(_FIELD_KEY_ESCAPES_V3)  # a field key, InfluxDB 3
escape_measurement = _remembered(_MEASUREMENT_ESCAPES, _measurement_name)  # a measurement name


def fit_string(text: str, limit_bytes: int) -> str:
    """`text` cut to at most `limit_bytes` bytes of UTF-8, never inside a character."""
    return text.encode("utf-8", "surrogatepass")[:limit_bytes].decode("utf-8", "ignore")


def escape_string_field(text: str) -> str:
    r"""Quote a string field value: only `"` and `\\` need escaping inside the quotes.

    Lone surrogates (not UTF-8, so not sendable) and NUL (InfluxDB 1.x ends a stored
    string there) become U+FFFD; nothing else changes.
    """
    if not text.isascii():
        text = _SURROGATE.sub("\ufffd", text)
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    if '"' in text or "\\" in text:
        text = text.translate(_STRING_ESCAPES)
    return '"' + text + '"'


def format_float(number: float) -> str:
    """A float field value; repr is the shortest text that reads back to the same float."""
    return repr(number)


class StringLimit:
    """The longest string value (UTF-8 bytes) the target stores, and the values cut to fit it.

    InfluxDB refuses a whole point for one string over its limit (docs/schema.md): a
    longer value is cut to fit instead, and kept whole in `cut` (key, value) until the
    writer takes it to the dead-letter file.
    """

    __slots__ = ("cut", "limit_bytes", "safe_chars")

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        # A character is at most 4 bytes of UTF-8: a string this short needs no measuring,
        # so the common case costs one len().
        self.safe_chars = limit_bytes // 4
        self.cut: list[tuple[str, str]] = []

    def fit(self, key: str, text: str) -> str:
        """`text`, or its longest head within the limit (remembered whole in `cut`)."""
        if len(text.encode("utf-8", "surrogatepass")) <= self.limit_bytes:
            return text
        self.cut.append((key, text))
        return fit_string(text, self.limit_bytes)

    def resize(self, limit_bytes: int) -> None:
        """Use another limit from now on (the server told its release)."""
        self.limit_bytes = limit_bytes
        self.safe_chars = limit_bytes // 4

    def take(self) -> list[tuple[str, str]]:
        """The values cut since the last call."""
        cut, self.cut = self.cut, []
        return cut


def _renamed(key: str, seen: set[str]) -> str:
    """`key` with `_` appended until no other key of the line has it (rare: only called on a clash)."""
    while key in seen:
        key += NAME_PREFIX
    return key


def _unique_keys(keys: list[str], taken: frozenset[str]) -> list[str]:
    """Field keys with every clash renamed, in order (the rare case of `format_fields`)."""
    seen = {RESERVED_KEY, *taken}
    unique = []
    for key in keys:
        renamed = _renamed(key, seen)
        seen.add(renamed)
        unique.append(renamed)
    return unique


def format_head(measurement: str, tags: Mapping[str, str]) -> str:
    """Measurement and tags, escaped; tags sorted as InfluxDB prefers, empty values omitted.

    Two keys that become one (docs/schema.md) would be a duplicate tag, which InfluxDB
    refuses: the later one (in sorted order) gets `_` appended, as does a key `time`.
    """
    parts = [escape_measurement(measurement)]
    seen = {RESERVED_KEY}
    for key in sorted(tags):
        value = escape_tag(tags[key])
        if value:  # empty tag values are not allowed: omit the tag
            tag_key = escape_tag(key) or NAME_PREFIX
            if tag_key in seen:
                tag_key = _renamed(tag_key, seen)
            seen.add(tag_key)
            parts.append(f",{tag_key}={value}")
    return "".join(parts)


def format_fields(
    fields: Mapping[str, FieldValue],
    escape_key: Callable[[str], str] = escape_field_key,
    limit: StringLimit | None = None,
    taken: frozenset[str] = frozenset(),
    *,
    own_keys: bool = False,
) -> str:
    """The field set, escaped and typed (string, float or boolean).

    Keys are unique on the line: InfluxDB 3 refuses a line with a field key twice
    (influxdb3_write validator.rs v3.10.1 line 251), so a key that escapes to one already
    written (or in `taken`, the keys of the rest of the line, or `time`) gets `_` appended;
    an empty key is `_`. `own_keys=True` is for the layouts' own fields (the state's,
    formatted for every event): plain names, distinct by design, so neither escaped nor
    checked. Strings longer than `limit` are cut.
    """
    formatted = []
    keys: list[str] | None = None if own_keys else []
    safe_chars = limit.safe_chars if limit is not None else sys.maxsize
    for key, field_value in fields.items():
        if keys is None:
            field_key = key
        else:
            field_key = escape_key(key) or NAME_PREFIX
            keys.append(field_key)
        if isinstance(field_value, str):
            if len(field_value) > safe_chars and limit is not None:
                field_value = limit.fit(key, field_value)  # noqa: PLW2901  # the value written
            formatted.append(f"{field_key}={escape_string_field(field_value)}")
        elif isinstance(field_value, bool):
            formatted.append(f"{field_key}={'true' if field_value else 'false'}")
        else:
            formatted.append(f"{field_key}={format_float(field_value)}")
    # One check in C for the common case: every key distinct, none reserved.
    if keys is not None and (
        len(set(keys)) < len(keys) or RESERVED_KEY in keys or (taken and not taken.isdisjoint(keys))
    ):
        unique = _unique_keys(keys, taken)
        formatted = [
            new_key + text[len(old_key) :]
            for new_key, old_key, text in zip(unique, keys, formatted, strict=True)
        ]
    return ",".join(formatted)


def point_to_line(
    point: Point, escape_key: Callable[[str], str] = escape_field_key, limit: StringLimit | None = None
) -> str:
    """One line (without the trailing newline) for a point."""
    fields = format_fields(point.fields, escape_key, limit)
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
