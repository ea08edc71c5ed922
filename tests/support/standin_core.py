"""Shared core of the InfluxDB 2.x and 3.x stand-ins: line protocol parsers, typed store, server.

Two parsers, because the servers parse differently and word their errors differently:

* `parse_lines_v3` ports the Rust parser InfluxDB 3 uses (crate `influxdb_line_protocol`,
  influxdata/influxdb3_core `influxdb_line_protocol/src/lib.rs`): nom combinators whose error
  texts (and the unit tests `better_error_messages` there) are reproduced word for word.
* `parse_points_v2` ports the Go scanner of InfluxDB 2.x (`models/points.go` in
  influxdata/influxdb; the stored copy is the 1.x file the 2.x one was forked from, the
  scanner and its messages are the same): `unable to parse '<line>': <reason>`.

Both produce `Point`s; `Store` keeps what was written, typed, so tests can query it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
import gzip
import math
import re
import zlib

from aiohttp import web

from .servers import free_port

Value = float | int | str | bool
# A field value with its line protocol type: one of the kinds below.
Field = tuple[str, Value]
Tags = tuple[tuple[str, str], ...]

FLOAT, INTEGER, UINTEGER, STRING, BOOLEAN = "float", "integer", "uinteger", "string", "boolean"
TAG, TIME = "tag", "time"

I64 = (-(2**63), 2**63 - 1)
U64 = (0, 2**64 - 1)
# influxdb_line_protocol/src/lib.rs: STRING_LENGTH_LIMIT_IN_BYTES, MAX_ERROR_CONTEXT_CHARS.
STRING_LIMIT = 65536
# The limit and its error text differ by release (standin3_release.py `string_limit`).
_STRING_LIMIT: ContextVar[tuple[int, str]] = ContextVar(
    "string_limit", default=(STRING_LIMIT, "String is greater than 64KB")
)
_CONTEXT_CHARS = 10


@dataclass(frozen=True)
class Point:
    """One parsed line: the timestamp is as written, before the precision is applied."""

    measurement: str
    tags: Tags
    fields: tuple[tuple[str, Field], ...]
    timestamp: int | None


# ---------------------------------------------------------------------------------------------
# InfluxDB 3: port of influxdb3_core `influxdb_line_protocol/src/lib.rs`.
# `_Soft` is nom's recoverable `Err::Error`, `_Hard` its `Err::Failure` (what `cut` and
# `map_fail` produce); the messages are the crate's `Error` Display texts.


class _Soft(Exception):
    def __init__(self, message: str = "A generic parsing error occurred") -> None:
        super().__init__(message)
        self.message = message


class _Hard(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _NoEquals(Exception):
    """`context("equals sign", cut(tag("=")))` failing inside a tag set."""


def _truncate(text: str) -> str:
    # lib.rs `maybe_truncate_context`: compares the byte length, keeps 10 characters.
    return text[:_CONTEXT_CHARS] + "..." if len(text.encode()) > _CONTEXT_CHARS else text


def _got(text: str, *, truncate: bool = True) -> str:
    if not text:
        return "end of input"
    return f"`{_truncate(text) if truncate else text}`"


def _not_ws(c: str) -> bool:
    return c not in " \t\n"  # lib.rs `is_whitespace_boundary_char`


def _escaped(s: str, i: int, normal: Callable[[str], bool], escapable: str) -> tuple[int, str]:
    """lib.rs `escape_or_fallback`: a backslash before an unknown character is kept as is."""
    start, parts = i, []
    while True:
        j = i
        while j < len(s) and normal(s[j]):
            j += 1
        if j > i:
            parts.append(s[i:j])
            i = j
        elif s.startswith("\\", i):
            i += 1
            if i < len(s) and s[i] in escapable:
                parts.append(s[i])
            else:
                parts.append("\\")
                if i >= len(s):
                    break
                parts.append(s[i])
            i += 1
        elif i == start:
            raise _Soft
        else:
            break
    value = "".join(parts)
    if value.endswith("\\"):
        raise _Hard("Measurements, tag keys and values, and field keys may not end with a backslash")
    limit, too_long = _STRING_LIMIT.get()
    if len(value.encode()) > limit:
        raise _Hard(too_long)
    return i, value


def _measurement(s: str, i: int) -> tuple[int, str]:
    try:
        return _escaped(s, i, lambda c: _not_ws(c) and c not in "\0,\\", ", \\")
    except _Soft:
        raise _Soft("Invalid measurement was provided") from None


def _tag_part(s: str, i: int, stop: str, what: str) -> tuple[int, str]:
    try:
        return _escaped(s, i, lambda c: _not_ws(c) and c not in stop, "\\,= ")
    except _Soft:  # `cut(...)`: a missing key or value is a hard error
        raise _Hard(f"Expected {what}, got {_got(s[i:])}") from None


def _tag_set(s: str, i: int) -> tuple[int, Tags]:
    tags = []
    while True:
        i, key = _tag_part(s, i, "=\\", "tag key")
        if not s.startswith("=", i):
            raise _NoEquals
        i, value = _tag_part(s, i + 1, ",\\", "tag value")
        tags.append((key, value))
        if not s.startswith(",", i):
            return i, tuple(tags)
        i += 1


def _maybe_tag_set(s: str, i: int) -> tuple[int, Tags]:
    if not s.startswith(",", i):
        return i, ()
    try:
        return _tag_set(s, i + 1)
    except _NoEquals:
        # The context names the text after the tag set's first comma, not where it failed.
        raise _Hard(f"Tag set malformed: could not find equals sign in `{_truncate(s[i + 1 :])}`") from None


def _whitespace(s: str, i: int) -> int:
    j = i
    while j < len(s) and s[j] == " ":
        j += 1
    if j == i:
        # ExpectedSpace shows the whole rest of the line, untruncated.
        raise _Soft(f"Expected at least one space character, got {_got(s[i:], truncate=False)}")
    return j


_INT = re.compile(r"-?[0-9]+i")
_UINT = re.compile(r"[0-9]+u")
_FLOATS = tuple(
    re.compile(p)
    for p in (
        r"-?[0-9]+\.[0-9]+[eE][-+]?[0-9]+",
        r"-?[0-9]+[eE][-+]?[0-9]+",
        r"-?[0-9]+\.[0-9]+",
        r"-?[0-9]+",
    )
)
_SIGNED = re.compile(r"-?[0-9]+")
_BOOLS: tuple[tuple[str, bool], ...] = (
    *(("true", True), ("True", True), ("TRUE", True), ("t", True), ("T", True)),
    *(("false", False), ("False", False), ("FALSE", False), ("f", False), ("F", False)),
)


def _string_value(s: str, i: int) -> tuple[int, str]:
    # `\"` is a quote, `\\` a backslash, any other backslash is kept.
    if not s.startswith('"', i):
        raise _Soft
    j, parts = i + 1, []
    while j < len(s) and s[j] != '"':
        if s.startswith(('\\"', "\\\\"), j):
            parts.append(s[j + 1])
            j += 2
        elif s[j] == "\\":
            parts.append("\\")
            j += 1
        else:
            k = j
            while k < len(s) and s[k] not in '\\"':
                k += 1
            parts.append(s[j:k])
            j = k
    if j >= len(s):
        raise _Soft  # no closing quote
    value = "".join(parts)
    limit, too_long = _STRING_LIMIT.get()
    if len(value.encode()) > limit:
        raise _Hard(too_long)
    return j + 1, value


def _field_value(s: str, i: int) -> tuple[int, Field]:
    """`alt((int, uint, float, string, bool))`: an overflow is a hard error, not the next kind."""
    if m := _INT.match(s, i):
        text = m.group()[:-1]
        if not I64[0] <= int(text) <= I64[1]:
            raise _Hard(f"Unable to parse integer value `{text}`")
        return m.end(), (INTEGER, int(text))
    if m := _UINT.match(s, i):
        text = m.group()[:-1]
        if int(text) > U64[1]:
            raise _Hard(f"Unable to parse unsigned integer value `{text}`")
        return m.end(), (UINTEGER, int(text))
    for pattern in _FLOATS:
        if m := pattern.match(s, i):
            return m.end(), (FLOAT, float(m.group()))
    if s.startswith('"', i):
        j, text = _string_value(s, i)
        return j, (STRING, text)
    for word, flag in _BOOLS:
        if s.startswith(word, i):
            return i + len(word), (BOOLEAN, flag)
    raise _Soft


def _field(s: str, i: int) -> tuple[int, tuple[str, Field]]:
    i, key = _escaped(s, i, lambda c: _not_ws(c) and c not in "=\\", "\\,= ")
    if not s.startswith("=", i):
        raise _Soft
    i, value = _field_value(s, i + 1)
    return i, (key, value)


def _field_set(s: str, i: int) -> tuple[int, list[tuple[str, Field]]]:
    """lib.rs `parameterized_separated_list1`; note which comma it leaves for the trailing text."""
    try:
        i, first = _field(s, i)
    except _Soft:
        raise _Soft("No fields were provided") from None
    fields = [first]
    if not s.startswith(",", i):
        return i, fields
    i += 1
    try:  # a bad field right after the first comma: that comma is consumed
        i, item = _field(s, i)
    except _Soft:
        return i, fields
    fields.append(item)
    while s.startswith(",", i):
        try:  # a later bad field: its comma is left in the trailing content
            j, item = _field(s, i + 1)
        except _Soft:
            return i, fields
        fields.append(item)
        i = j
    return i, fields


def _timestamp(s: str, i: int) -> tuple[int, int | None]:
    """`opt(preceded(whitespace, terminated(timestamp, opt(whitespace))))`."""
    try:
        j = _whitespace(s, i)
    except _Soft:
        return i, None
    if not (m := _SIGNED.match(s, j)):
        return i, None
    if not I64[0] <= int(m.group()) <= I64[1]:
        raise _Hard(f"Unable to parse timestamp value `{m.group()}`")
    j = m.end()
    while j < len(s) and s[j] == " ":
        j += 1
    return j, int(m.group())


def _parse_line_v3(s: str) -> Point:
    i, measurement = _measurement(s, 0)
    i, tags = _maybe_tag_set(s, i)
    i, fields = _field_set(s, _whitespace(s, i))
    i, timestamp = _timestamp(s, i)
    if i < len(s):
        raise _Hard(f"Could not parse entire line. Found trailing content: `{_truncate(s[i:])}`")
    return Point(measurement, tags, tuple(fields), timestamp)


def _split_lines_v3(text: str) -> list[str]:
    """lib.rs `split_lines` (a port of Go's `scanLine`): a newline in a quoted field value stays."""
    lines, start, quoted, fields, equals, commas, escape = [], 0, False, False, 0, 0, False
    for index, c in enumerate(text):
        if escape:
            escape = False
        elif c == "\\":
            escape = True
        elif c == " ":
            fields = True
        elif fields and not quoted and c == "=":
            equals += 1
        elif fields and not quoted and c == ",":
            commas += 1
        elif fields and c == '"' and equals > commas:
            quoted = not quoted
        elif c == "\n" and not quoted:
            lines.append(text[start:index])
            start, quoted, fields, equals, commas = index + 1, False, False, 0, 0
    lines.append(text[start:])
    return lines


def _trim_leading(line: str) -> str:
    """lib.rs `trim_leading`: leading spaces, tabs and newlines, and whole comment lines."""
    while True:
        line = line.lstrip(" \t\n")
        if not line.startswith("#"):
            return line
        cut = line.find("\n")
        line = "" if cut < 0 else line[cut:]


def parse_lines_v3(text: str, string_limit: tuple[int, str] | None = None) -> list[Point | str]:
    """lib.rs `parse_lines`: one entry per line that is not blank or a comment; str = error.

    `string_limit`: the longest string in bytes and the error text (64 KiB by default).
    """
    if string_limit is not None:
        token = _STRING_LIMIT.set(string_limit)
        try:
            return parse_lines_v3(text)
        finally:
            _STRING_LIMIT.reset(token)
    results: list[Point | str] = []
    for raw in _split_lines_v3(text):
        line = _trim_leading(raw)
        if not line:
            continue
        try:
            results.append(_parse_line_v3(line))
        except (_Soft, _Hard) as err:
            results.append(err.message)
    return results


def _rust_float(value: float) -> str:
    """Rust's `Display` for f64: shortest round-trip digits, never an exponent."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value.is_integer():
        return ("-" if math.copysign(1, value) < 0 else "") + str(abs(int(value)))
    return format(Decimal(repr(value)), "f")


def _escape(text: str, chars: str) -> str:
    for c in chars:
        text = text.replace(c, "\\" + c)
    return text


def display_v3(point: Point) -> str:
    """lib.rs `impl Display for ParsedLine`: a string field is written WITHOUT its quotes."""
    head = _escape(point.measurement, ", ")
    head += "".join(f",{_escape(k, ',= ')}={_escape(v, ',= ')}" for k, v in point.tags)
    values = []
    for key, (kind, value) in point.fields:
        if kind in (INTEGER, UINTEGER):
            text = f"{value}{kind[0]}"
        elif isinstance(value, float):
            text = _rust_float(value)
        elif isinstance(value, bool):
            text = str(value).lower()
        else:
            text = _escape(str(value), '"')
        values.append(f"{_escape(key, ',= ')}={text}")
    tail = "" if point.timestamp is None else f" {point.timestamp}"
    return f"{head} {','.join(values)}{tail}"


def rust_lines(text: str) -> list[str]:
    """Rust `str::lines()`: what the v3 validator pairs with parsed lines for `original_line`."""
    lines = text.split("\n")
    if lines and not lines[-1]:
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


# ---------------------------------------------------------------------------------------------
# InfluxDB 2.x: port of the Go scanner in influxdata/influxdb `models/points.go`
# (`ParsePointsWithPrecision`, `parsePoint`, `scanKey`, `scanFields`, `scanNumber`, ...).


class _GoError(Exception):
    pass


def _skip_ws_go(buf: str, i: int) -> int:
    while i < len(buf) and buf[i] in " \t\0":
        i += 1
    return i


def _scan_line_go(buf: str, i: int) -> int:
    quoted, fields, equals, commas = False, False, 0, 0
    while i < len(buf):
        c = buf[i]
        if c == "\\":
            i += 2
            continue
        if c == " ":
            fields = True
        if fields and not quoted and c in "=,":
            equals, commas = equals + (c == "="), commas + (c == ",")
        elif fields and c == '"' and equals > commas:
            quoted = not quoted
        elif c == "\n" and not quoted:
            break
        i += 1
    return i


def _scan_key_go(buf: str) -> tuple[int, str, list[str]]:
    i = _skip_ws_go(buf, 0)
    start = i
    if i >= len(buf) or buf[i] == ",":
        raise _GoError("missing measurement")
    while True:  # scanMeasurement
        i += 1
        if i >= len(buf):
            raise _GoError("missing fields")
        if buf[i - 1] == "\\":
            continue
        if buf[i] in ", ":
            break
    keys: list[str] = []
    while buf[i] == ",":  # scanTags: scanTagsKey, then scanTagsValue
        i += 1
        key_start = i
        if i >= len(buf) or buf[i] in " ,=":
            raise _GoError("missing tag key")
        while True:
            i += 1
            if i >= len(buf) or (buf[i] in " ," and buf[i - 1] != "\\"):
                raise _GoError("missing tag value")
            if buf[i] == "=" and buf[i - 1] != "\\":
                keys.append(buf[key_start:i])
                i += 1
                break
        if i >= len(buf) or buf[i] in ", ":
            raise _GoError("missing tag value")
        while True:
            i += 1
            if i >= len(buf):
                raise _GoError("missing fields")
            if buf[i] == "=" and buf[i - 1] != "\\":
                raise _GoError("invalid tag format")
            if buf[i] in ", " and buf[i - 1] != "\\":
                break
    if len(set(keys)) != len(keys):
        raise _GoError("duplicate tags")
    return i, buf[start:i], keys


def _scan_number_go(buf: str, i: int) -> int:
    start, is_int, is_uint, decimal, scientific = i, False, False, False, False
    if i < len(buf) and buf[i] == "-":
        i += 1
        if i == len(buf):
            raise _GoError("invalid number")
    while i < len(buf) and buf[i] not in ", ":
        c = buf[i]
        if c in "iu" and i > start and not (is_int or is_uint):
            is_int, is_uint = is_int or c == "i", is_uint or c == "u"
        elif i > start and c in "eE":
            scientific = True
        elif c in "+-" and buf[i - 1] in "eE":
            pass
        elif c in "Nn" and i + 2 < len(buf):
            raise _GoError("invalid number")  # NaN is unsupported
        elif c == "." and not decimal:
            decimal = True
        elif not "0" <= c <= "9":
            raise _GoError("invalid number")
        i += 1
    text = buf[start:i]
    # models: the `i` and the `.` are not digits; a `u` is (sic)
    digits = len(text) - is_int - decimal - text.startswith("-")
    if ((is_int or is_uint) and (decimal or scientific)) or digits <= 0:
        raise _GoError("invalid number")
    if is_int or is_uint:
        if buf[i - 1] not in "iu" or (is_uint and text.startswith("-")):
            raise _GoError("invalid number")
        low, high = I64 if is_int else U64
        if not low <= int(text[:-1]) <= high:
            kind, func = ("integer", "ParseInt") if is_int else ("unsigned", "ParseUint")
            err = f'strconv.{func}: parsing "{text[:-1]}": value out of range'
            raise _GoError(f"unable to parse {kind} {text[:-1]}: {err}")
    elif scientific or len(text) >= 25:
        try:
            if math.isinf(float(text)):
                raise _GoError("invalid float")
        except ValueError:
            raise _GoError("invalid float") from None
    return i


def _scan_boolean_go(buf: str, i: int) -> int:
    start = i
    if buf[i] not in "tfTF":
        raise _GoError("invalid boolean")
    while i < len(buf) and buf[i] not in ", ":
        i += 1
    if buf[start:i] not in ("t", "T", "f", "F", "true", "True", "TRUE", "false", "False", "FALSE"):
        raise _GoError("invalid boolean")
    return i


def _scan_fields_go(buf: str, i: int) -> tuple[int, str]:
    start = i = _skip_ws_go(buf, i)
    quoted, equals, commas = False, 0, 0
    while i < len(buf):
        c = buf[i]
        if c == "\\" and i + 1 < len(buf):
            i += 2
            continue
        if c == '"' and equals > commas:
            quoted = not quoted
            i += 1
            continue
        if c == "=" and not quoted:
            equals += 1
            if buf[i - 1] in " ," and (i < 2 or buf[i - 2] != "\\"):
                raise _GoError("missing field key")
            if i + 1 >= len(buf) or buf[i + 1] in ", ":
                raise _GoError("missing field value")
            if "0" <= buf[i + 1] <= "9" or buf[i + 1] in ".-Nn":
                i = _scan_number_go(buf, i + 1)
                continue
            if buf[i + 1] != '"':
                i = _scan_boolean_go(buf, i + 1)
                continue
        if c == "," and not quoted:
            commas += 1
        if c == " " and not quoted:
            break
        i += 1
    if quoted:
        raise _GoError("unbalanced quotes")
    if equals == 0 or commas != equals - 1:
        raise _GoError("invalid field format")
    return i, buf[start:i]


def _unescape_go(text: str, chars: str) -> str:
    for c in chars:
        text = text.replace("\\" + c, c)
    return text


def _split_go(text: str, sep: str, maxsplit: int = -1) -> list[str]:
    """Split at `sep` not preceded by a backslash (models `scanTo`)."""
    parts: list[str] = []
    start = 0
    for index, c in enumerate(text):
        if c == sep and (index == 0 or text[index - 1] != "\\") and len(parts) != maxsplit:
            parts.append(text[start:index])
            start = index + 1
    return [*parts, text[start:]]


def _unescape_string_go(text: str) -> str:
    """models `unescapeStringField`: only `\\"` and `\\\\` are escapes in a string field."""
    out, i = [], 0
    while i < len(text):
        step = 2 if text[i] == "\\" and text[i + 1 : i + 2] in ('"', "\\") else 1
        out.append(text[i + step - 1])
        i += step
    return "".join(out)


def _fields_go(block: str) -> list[tuple[str, Field]]:
    """The typed fields of a scanned field block (models `walkFields` + the value parsers)."""
    fields, i = [], 0
    while i < len(block):
        j = i
        while block[j] != "=" or block[j - 1] == "\\":
            j += 1
        key, i = _unescape_go(block[i:j], ',"= '), j + 1
        if block[i] == '"':
            j = i + 1
            while block[j] != '"':
                j += 2 if block[j] == "\\" else 1
            value: Field = (STRING, _unescape_string_go(block[i + 1 : j]))
            j += 1
        else:
            j = block.find(",", i)
            j = len(block) if j < 0 else j
            text = block[i:j]
            if text[0] in "tfTF":
                value = (BOOLEAN, text[0] in "tT")
            elif text[-1] in "iu":
                value = (INTEGER if text[-1] == "i" else UINTEGER, int(text[:-1]))
            else:
                value = (FLOAT, float(text))
        fields.append((key, value))
        i = j + 1
    return fields


def _parse_point_go(buf: str) -> Point:
    i, key, _ = _scan_key_go(buf)
    i, block = _scan_fields_go(buf, i)
    if not block:
        raise _GoError("missing fields")
    i = start = _skip_ws_go(buf, i)  # scanTime
    while i < len(buf) and buf[i] not in " \n":
        if not (i == start and buf[i] == "-") and not ("0" <= buf[i] <= "9"):
            raise _GoError("bad timestamp")
        i += 1
    timestamp = None
    if text := buf[start:i]:
        try:
            timestamp = int(text)
        except ValueError:
            raise _GoError(f'strconv.ParseInt: parsing "{text}": invalid syntax') from None
        if not I64[0] <= timestamp <= I64[1]:
            raise _GoError(f'strconv.ParseInt: parsing "{text}": value out of range')
        if buf[i:].strip(" "):
            raise _GoError("point is invalid")
    name, *pairs = _split_go(key, ",")
    tags = []
    for pair in pairs:
        tag_key, tag_value = _split_go(pair, "=", maxsplit=1)
        tags.append((_unescape_go(tag_key, ", ="), _unescape_go(tag_value, ", =")))
    measurement = _unescape_go(name, ", ")
    return Point(measurement, tuple(sorted(tags)), tuple(_fields_go(block)), timestamp)


def parse_points_v2(text: str) -> tuple[list[Point], list[str]]:
    """`ParsePointsWithPrecision`: the good points, and `unable to parse '<line>': <reason>`."""
    points, failed, pos = [], [], 0
    while pos < len(text):
        end = _scan_line_go(text, pos)
        block, pos = text[pos:end], end + 1
        start = _skip_ws_go(block, 0)
        if start >= len(block) or block[start] == "#":
            continue
        block = block.removesuffix("\n")  # a quoted newline can leave one at the very end
        try:
            points.append(_parse_point_go(block[start:]))
        except _GoError as err:
            failed.append(f"unable to parse '{block[start:]}': {err}")
    return points, failed


# ---------------------------------------------------------------------------------------------
# What was written, typed, so tests can check it. Rows with the same tags and time are one
# point (later fields win), as in every InfluxDB.


@dataclass
class Table:
    """Column kinds (`tag`, `time`, or a field kind) and the points, keyed by (tags, time)."""

    columns: dict[str, str] = field(default_factory=dict)
    points: dict[tuple[Tags, int], dict[str, Value]] = field(default_factory=dict)


@dataclass
class Store:
    """Databases (or buckets) of tables."""

    databases: dict[str, dict[str, Table]] = field(default_factory=dict)

    def put(self, db: str, point: Point, time_ns: int, *, earlier_wins: bool = False) -> None:
        """Store a point; `earlier_wins`: a field the row has keeps its value (a server whose
        choice between two writes of one series and time is arbitrary may keep the first)."""
        table = self.databases.setdefault(db, {}).setdefault(point.measurement, Table())
        tags = tuple(sorted(point.tags))
        row = table.points.setdefault((tags, time_ns), {})
        fields = {key: value for key, (_, value) in point.fields}
        row.update({key: value for key, value in fields.items() if not (earlier_wins and key in row)})

    def rows(self, db: str, table: str) -> list[dict[str, Value]]:
        """Every point of `table` as {tag..., field..., "time": ns}, by time."""
        found = self.databases.get(db, {}).get(table)
        if found is None:
            return []
        rows = [{**dict(tags), **fields, "time": time} for (tags, time), fields in found.points.items()]
        return sorted(rows, key=lambda row: row["time"])

    def schema(self, db: str, table: str) -> dict[str, str]:
        """The kind of each column of `table`: tag, time, float, integer, uinteger, string, boolean."""
        found = self.databases.get(db, {}).get(table)
        return dict(found.columns) if found else {}


# ---------------------------------------------------------------------------------------------
# The HTTP side both stand-ins share.


def gunzip(body: bytes) -> bytes:
    """Decode a (multi-member) gzip body; raises OSError/EOFError/zlib.error when it is not one."""
    return gzip.decompress(body)


GZIP_ERRORS = (OSError, EOFError, zlib.error)


@dataclass
class StandIn:
    """An aiohttp server on a free loopback port, with the fault injection tests rely on.

    `injected`: answers (status, headers) given, in order, to the next write requests after
    authentication. `max_lines`: a write with more lines than this is answered 413 (a limit
    injected by the test, like a proxy's; the real servers' size limits are separate).
    `accept_gzip=False` answers gzip-encoded writes 415, as a proxy that refuses them might:
    no InfluxDB does that (3.x decodes gzip, 2.x decodes gzip and x-gzip), so the status is an
    assumption, not taken from a server.
    """

    port: int = field(default_factory=free_port)
    requests: int = 0
    bodies: list[bytes] = field(default_factory=list)
    injected: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    max_lines: int | None = None
    accept_gzip: bool = True
    store: Store = field(default_factory=Store)
    _runner: web.AppRunner | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        # Unlimited here: the stand-ins apply the servers' own limits. No automatic
        # decompression either: the stand-ins decide what an encoding is answered with.
        app = web.Application(client_max_size=0)
        self.routes(app)
        self._runner = web.AppRunner(app, auto_decompress=False, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        """Stop as a server asked to: answer what is in flight, then close. `start` restarts."""
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    async def crash(self) -> None:
        """Stop as a killed process does: every open connection is cut without an answer.

        The store stays, as what a server with a write-ahead log had acknowledged does:
        InfluxDB 3 answers a write only once its WAL file is persisted, and replays the WAL
        when it starts (influxdb3_write/src/write_buffer/mod.rs, `write_lp` and
        `WriteBufferImpl::new`).
        """
        if self._runner and self._runner.server:
            for connection in self._runner.server.connections:
                if connection.transport:
                    connection.transport.abort()
        await self.stop()

    def rows(self, db: str, table: str) -> list[dict[str, Value]]:
        return self.store.rows(db, table)

    def schema(self, db: str, table: str) -> dict[str, str]:
        return self.store.schema(db, table)

    def refused(self, encoding: str | None) -> web.Response | None:
        """`accept_gzip=False`: the answer a proxy refusing compressed bodies might give."""
        if encoding in ("gzip", "x-gzip") and not self.accept_gzip:
            return web.Response(status=415, text="Unsupported Media Type")
        return None

    def fault(self, body: bytes) -> web.Response | None:
        """The test's injected answers: queued statuses first, then the line limit."""
        if self.injected:
            status, headers = self.injected.pop(0)
            return web.json_response(
                {"code": "unavailable", "message": "injected"}, status=status, headers=headers
            )
        if self.max_lines is not None and body.count(b"\n") > self.max_lines:
            return web.json_response(
                {"code": "request too large", "message": "unable to read data: points batch is too large"},
                status=413,
            )
        return None
