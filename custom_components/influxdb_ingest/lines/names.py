r"""Names as every InfluxDB stores them: what the protocol cannot carry replaced, then escaped.

Each rule is a row of docs/schema.md ("Names and values the protocol cannot carry"). Names
repeat endlessly (the same entities, attribute keys and units), so a `NameEscaper` works a
name out once and remembers it, and remembers which names it changed: a line whose keys
were all written as they came needs no check for two keys that became one.
"""

from __future__ import annotations

from collections.abc import Callable
import re

# Four control characters cannot be carried in names, escaped or not: InfluxDB 3 ends a
# token at a tab or newline and a measurement at NUL (lib.rs v3.10.1 lines 730-745,
# 946-952), 1.x ends a line at a newline and skips tabs and NULs that start one
# (models/points.go v1.8.10 skipWhitespace, scanLine), and a carriage return before a
# newline is a line ending to many tools. In names they become spaces, escaped like any
# other; every other control character is stored as it is in measurements and tag values.
_CONTROLS = str.maketrans(dict.fromkeys([0x00, 0x09, 0x0A, 0x0D], " "))
# Keys (tag and field keys) lose every control character (Unicode Cc: U+0000-U+001F,
# U+007F-U+009F) the same way: InfluxDB 3.4 to 3.9 refuse a new tag or field key holding
# one ("key cannot contain control characters", catalog/key.rs v3.9.0 lines 21-38, called
# from versions/v2/update.rs v3.9.0 lines 1333 and 1395).
_KEY_CONTROLS = str.maketrans(dict.fromkeys([*range(0x20), *range(0x7F, 0xA0)], " "))
# Lone surrogates are not UTF-8: one would make the whole request body unencodable.
_SURROGATE = re.compile("[\ud800-\udfff]")
# Backslashes are read differently by the servers: InfluxDB 1.x and 2.x keep `\\` in a name
# as two characters, 3.x reads it as one (lib.rs escaped_value), and both read a backslash
# before `,` `=` or space as escaping it, and refuse a name that ends with one. So a run of
# backslashes becomes one, and one before a character we escape (or `"`) or at the end
# goes: what is left reads the same on every server.
_BACKSLASH_RUN = re.compile(r"\\\\+")
_BACKSLASH_BEFORE_SEPARATOR = re.compile(r'\\(?=[,= "]|$)')
# InfluxDB 3 (from 3.4) reads a field key `family::field` as a member of the field family
# `family`, at most 100 fields each, and refuses the line past that (versions/v2/field.rs
# v3.4.0 parse_field_name_aware, versions/v3/transaction.rs v3.10.1 lines 618-628). Home
# Assistant attribute keys are not families: a colon followed by a colon gets `_` after it
# (`a::b` is `a:_:b`), so no field key holds `::` and every field stays in the automatic
# families, which have no such cap.
_FAMILY_COLON = re.compile(":(?=:)")
# InfluxDB 1.x and 2.x refuse a line whose series key (measurement and tags as written) plus
# 4 plus a field key is longer than 65535 bytes ("max key length exceeded", MaxKeyLength,
# models/points.go v1.8.10 lines 62-63 and 395-414, v1.11.8 line 67, v2.7.12 line 81). A
# name is cut to this many bytes as written (escapes counted, never inside a character or
# an escape), so a line with up to 30 tags fits whatever its names. InfluxDB 3.10.1 has no
# limit on names (nothing in influxdb3_catalog or influxdb_line_protocol).
NAME_LIMIT_BYTES = 1024
# A line that starts with `#` is a comment to every server (1.x models/points.go
# ParsePointsWithPrecision, 3.x lib.rs trim_leading): such a measurement gets this prefix,
# and an empty name becomes it.
NAME_PREFIX = "_"
# InfluxDB reserves `time`: 1.x drops a point with a `time` tag and skips a `time` field
# (tsdb/shard.go v1.8.10 lines 610-690), 3.x refuses it as a column of another type.
RESERVED_KEY = "time"
# The escapers forget every name they know when they know this many (bounded memory).
_NAME_CACHE_LIMIT = 10_000

_MEASUREMENT_ESCAPES = str.maketrans({",": "\\,", " ": "\\ "})
_TAG_ESCAPES = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ "})
# InfluxDB 1.x and 2.x field keys also escape `"`: their scanner unescapes it there, and an
# unescaped quote in a field key would make it think a string value starts. InfluxDB 3's
# parser does not unescape it (influxdb_line_protocol lib.rs: field keys escape `\\,= ` only)
# and would store the backslash, while a bare quote is just a character to it.
_FIELD_KEY_ESCAPES = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ ", '"': '\\"'})


def storable_name(text: str, controls: dict[int, str] = _CONTROLS) -> str:
    """The name InfluxDB stores for `text` (before escaping): what the protocol cannot carry, replaced.

    Lone surrogates become U+FFFD, NUL, tab, newline and carriage return spaces (in a key,
    every control character: `storable_key`), a run of backslashes one,
    and a backslash before `,` `=` space `"` or at the end is removed (docs/schema.md,
    "Names and values the protocol cannot carry").
    """
    if not text.isascii():
        text = _SURROGATE.sub("\ufffd", text)
    text = text.translate(controls)
    if "\\" in text:
        # One pass each: what is removed is followed by a character that stays, so no new
        # run and no new trailing backslash can appear.
        text = _BACKSLASH_BEFORE_SEPARATOR.sub("", _BACKSLASH_RUN.sub(r"\\", text))
    return text


def storable_key(text: str) -> str:
    """The tag or field key InfluxDB stores for `text` (before escaping): no control character."""
    return storable_name(text, _KEY_CONTROLS)


def cut_name(escaped: str, limit_bytes: int = NAME_LIMIT_BYTES) -> str:
    r"""An escaped name cut to `limit_bytes` of UTF-8, never inside a character or an escape.

    The names have no backslash runs and none before a separator (`storable_name`), so a
    backslash at the cut is alone: it began an escape or stood before the character cut
    off, and goes either way.
    """
    if len(escaped) * 4 <= limit_bytes or len(escaped.encode()) <= limit_bytes:
        return escaped
    return escaped.encode()[:limit_bytes].decode("utf-8", "ignore").removesuffix("\\")


def _measurement_name(escaped: str) -> str:
    """A measurement never empty and never starting with `#` (a comment line)."""
    return NAME_PREFIX + escaped if not escaped or escaped[0] == "#" else escaped


def _field_key(escaped: str) -> str:
    """A field key never empty and never a field family member."""
    if "::" in escaped:
        escaped = _FAMILY_COLON.sub(":_", escaped)
    return escaped or NAME_PREFIX


class NameEscaper:
    """One kind of name (measurement, tag, field key) as written, each worked out once.

    `known` maps a name to its written form; `changed` holds the names written otherwise
    than they came (escaped, replaced, cut, empty), so a caller whose names are all
    unchanged knows they stay as distinct as they were with one set operation. Both are
    emptied together when full, which moves `generation` on: a caller that saw it move
    while writing a line checks that line the long way.
    """

    __slots__ = ("_controls", "_finish", "_table", "changed", "generation", "known")

    def __init__(
        self, table: dict[int, str], finish: Callable[[str], str] = str, controls: dict[int, str] = _CONTROLS
    ) -> None:
        self._table = table
        self._finish = finish
        self._controls = controls
        self.known: dict[str, str] = {}
        self.changed: set[str] = set()
        self.generation = 0

    def __call__(self, text: str) -> str:
        """`text` as written (escaped, never containing what the servers cannot read)."""
        if (known := self.known.get(text)) is not None:
            return known
        if len(self.known) >= _NAME_CACHE_LIMIT:
            self.known.clear()
            self.changed.clear()
            self.generation += 1
        self.known[text] = written = cut_name(
            self._finish(storable_name(text, self._controls).translate(self._table))
        )
        if written != text or not written:
            self.changed.add(text)
        return written


escape_tag = NameEscaper(_TAG_ESCAPES)  # a tag value
escape_tag_key = NameEscaper(_TAG_ESCAPES, controls=_KEY_CONTROLS)  # a tag key
escape_field_key = NameEscaper(_FIELD_KEY_ESCAPES, _field_key, _KEY_CONTROLS)  # a field key
escape_field_key_v3 = NameEscaper(_TAG_ESCAPES, _field_key, _KEY_CONTROLS)  # a field key, InfluxDB 3
escape_measurement = NameEscaper(_MEASUREMENT_ESCAPES, _measurement_name)  # a measurement name
