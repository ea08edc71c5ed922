r"""Serialize points to InfluxDB line protocol, exactly as the spec escapes each part.

https://docs.influxdata.com/influxdb/v1/write_protocols/line_protocol_reference/
No value can break a line or inject another point: names escape `,` `=` and space,
string fields escape `"` and `\\`, and what the format cannot carry is replaced.
"""

from __future__ import annotations

from collections.abc import Mapping
import re
import sys

from .names import (
    NAME_PREFIX,
    RESERVED_KEY,
    NameEscaper,
    escape_field_key,
    escape_field_key_v3,
    escape_measurement,
    escape_tag,
    escape_tag_key,
)
from .point import FieldValue, Point

# The escapers live in names.py; the modules that write or read lines take them from here.
__all__ = [
    "StringLimit",
    "escape_field_key",
    "escape_field_key_v3",
    "escape_measurement",
    "escape_string_field",
    "escape_tag",
    "escape_tag_key",
    "fit_string",
    "format_fields",
    "format_float",
    "format_head",
    "format_own_fields",
    "head_and_tag_keys",
    "join_line",
    "point_to_line",
    "split_line",
    "written_field_keys",
]

_STRING_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"'})
# Lone surrogates are not UTF-8: one would make the whole request body unencodable.
_SURROGATE = re.compile("[\ud800-\udfff]")


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


def _unique_keys(keys: list[str], taken: frozenset[str]) -> list[str]:
    """Keys with every clash renamed, in order: `_` appended until no other key of the line has it."""
    seen = {RESERVED_KEY, *taken}
    unique = []
    for key in keys:
        while key in seen:
            key += NAME_PREFIX  # noqa: PLW2901  # the key written
        seen.add(key)
        unique.append(key)
    return unique


def format_head(measurement: str, tags: Mapping[str, str]) -> str:
    """Measurement and tags, escaped; tags sorted as InfluxDB prefers, empty values omitted.

    Two keys that become one (docs/schema.md) would be a duplicate tag, which InfluxDB
    refuses: the later one (in sorted order) gets `_` appended, as does a key `time`, and an
    empty key is `_`.
    """
    generation = escape_tag_key.generation
    known_key, known_value = escape_tag_key.known.get, escape_tag.known.get
    parts = [escape_measurement(measurement)]
    for key in sorted(tags):
        value = known_value(tags[key]) or escape_tag(tags[key])
        if value:  # empty tag values are not allowed: omit the tag
            parts.append(f",{known_key(key) or escape_tag_key(key)}={value}")
    # Every key written as it came, none `time`: as distinct as the mapping's (see format_fields).
    if (
        escape_tag_key.generation == generation
        and escape_tag_key.changed.isdisjoint(tags)
        and RESERVED_KEY not in tags
    ):
        return "".join(parts)
    return parts[0] + "".join([f",{key}={value}" for key, value in _written_tags(tags)])


def _written_tags(tags: Mapping[str, str]) -> list[tuple[str, str]]:
    """The (key, value) pairs `format_head` writes, worked out the long way (keys renamed)."""
    kept = [key for key in sorted(tags) if escape_tag(tags[key])]
    unique = _unique_keys([escape_tag_key(key) or NAME_PREFIX for key in kept], frozenset())
    return [(key, escape_tag(tags[raw])) for key, raw in zip(unique, kept, strict=True)]


def head_and_tag_keys(measurement: str, tags: Mapping[str, str]) -> tuple[str, frozenset[str]]:
    """`format_head`, and the tag keys it wrote: the names no field of the line may have.

    Where every tag key and value was written as it came (one set operation each, once the
    head has escaped them all), the keys are those of the mapping, less any empty value's.
    """
    generations = (escape_tag_key.generation, escape_tag.generation)
    head = format_head(measurement, tags)
    if (
        (escape_tag_key.generation, escape_tag.generation) == generations
        and escape_tag_key.changed.isdisjoint(tags)
        and escape_tag.changed.isdisjoint(tags.values())  # an empty value is in `changed`: no tag omitted
        and RESERVED_KEY not in tags
    ):
        return head, frozenset(tags)
    return head, frozenset(key for key, _ in _written_tags(tags))


def written_field_keys(
    fields: Mapping[str, FieldValue], escape_key: NameEscaper, taken: frozenset[str]
) -> frozenset[str]:
    """The keys `format_fields` writes for `fields` when `taken` are the other names of the line."""
    return frozenset(_unique_keys([escape_key(key) for key in fields], taken))


def format_fields(
    fields: Mapping[str, FieldValue],
    escape_key: NameEscaper = escape_field_key,
    limit: StringLimit | None = None,
    taken: frozenset[str] = frozenset(),
) -> str:
    """The field set, escaped and typed (string, float or boolean).

    Keys are unique on the line: InfluxDB 3 refuses a line with a field key twice
    (influxdb3_write validator.rs v3.10.1 line 251) and a name that is a tag and a field,
    so a key that escapes to one already written (or in `taken`, the keys written on the
    rest of the line, or `time`) gets `_` appended; an empty key is `_`. Strings longer
    than `limit` are cut.
    """
    generation = escape_key.generation
    known = escape_key.known.get
    formatted = []
    safe_chars = limit.safe_chars if limit is not None else sys.maxsize
    for key, field_value in fields.items():
        field_key = known(key) or escape_key(key)
        if isinstance(field_value, str):
            if len(field_value) > safe_chars and limit is not None:
                field_value = limit.fit(key, field_value)  # noqa: PLW2901  # the value written
            # The common case, quoted as it is (scans in C, cheaper than a call).
            plain = field_value.isascii() and '"' not in field_value and "\\" not in field_value
            if plain and "\x00" not in field_value:
                formatted.append(f'{field_key}="{field_value}"')
                continue
            formatted.append(f"{field_key}={escape_string_field(field_value)}")
        elif isinstance(field_value, bool):
            formatted.append(f"{field_key}={'true' if field_value else 'false'}")
        else:
            formatted.append(f"{field_key}={field_value!r}")  # format_float, inline
    # Every key written as it came, none `time` nor written elsewhere on the line: the keys
    # are as distinct as the mapping's (one set operation in C). `generation` moves when the
    # escaper forgot which names it changed.
    if not (
        escape_key.generation == generation
        and escape_key.changed.isdisjoint(fields)
        and RESERVED_KEY not in fields
        and (not taken or taken.isdisjoint(fields))
    ):
        keys = [escape_key(key) for key in fields]
        unique = _unique_keys(keys, taken)
        formatted = [
            new_key + text[len(old_key) :]
            for new_key, old_key, text in zip(unique, keys, formatted, strict=True)
        ]
    return ",".join(formatted)


def format_own_fields(fields: Mapping[str, FieldValue], limit: StringLimit | None = None) -> str:
    """The layouts' own fields (the state's, formatted for every event), typed; strings cut to `limit`.

    Plain names, distinct by design: neither escaped nor checked, so this costs one call per field.
    """
    return ",".join([f"{key}={_value_text(key, value, limit)}" for key, value in fields.items()])


def _value_text(key: str, value: FieldValue, limit: StringLimit | None) -> str:
    if isinstance(value, str):
        if limit is not None and len(value) > limit.safe_chars:
            value = limit.fit(key, value)
        return escape_string_field(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return format_float(value)


def point_to_line(
    point: Point, escape_key: NameEscaper = escape_field_key, limit: StringLimit | None = None
) -> str:
    """One line (without the trailing newline) for a point; a field named like a tag gets `_` appended."""
    head, tag_keys = head_and_tag_keys(point.measurement, point.tags)
    return f"{head} {format_fields(point.fields, escape_key, limit, tag_keys)} {point.time_ns}"


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
