"""Self-healing of field type conflicts with data another writer already stored.

Our own fields never change type, but a database may already hold `attr_dynamics` as a
boolean written by another tool. InfluxDB names the field and the type it holds in its
rejection; we learn it and convert our value when that loses nothing ("true" -> true,
"21" -> 21i, 21.5 -> "21.5"). A line with a value that cannot be converted is not sent
at all: it goes straight to the dead-letter file with the server's message.
"""

from __future__ import annotations

import math
import re

from ..lines.line_protocol import (
    escape_field_key,
    escape_field_key_v3,
    escape_measurement,
    join_line,
    split_line,
)

# InfluxDB 1.x/2.x: `partial write: field type conflict: input field "f" on measurement
# "m" is type string, already exists as type boolean dropped=1`
_CONFLICT = re.compile(
    r'input field "(?P<field>(?:[^"\\]|\\.)*)" on measurement "(?P<measurement>(?:[^"\\]|\\.)*)"'
    r" is type \w+, already exists as type (?P<server_type>\w+)"
)
# InfluxDB 3 (influxdb3_catalog/src/error.rs, InvalidColumnType), one per refused line of a
# partial write: `invalid column type for column 'f', expected iox::column_type::field::float,
# got iox::column_type::field::string`. It names no table: the refused line does.
_CONFLICT_V3 = re.compile(
    r"invalid column type for column '(?P<field>.*)', expected iox::column_type::(?P<server_type>[\w:]+),"
    r" got iox::column_type::"
)
# InfluxDB 3's column types as line protocol types; a tag cannot take a field's value.
_V3_TYPES = {
    "field::float": "float",
    "field::integer": "integer",
    "field::uinteger": "unsigned",
    "field::string": "string",
    "field::boolean": "boolean",
}
_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _unquote(raw: str) -> str:
    return raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")


def _kind(raw: str) -> str:
    """The line protocol type of a raw field value."""
    if raw.startswith('"'):
        return "string"
    if raw[-1] == "i":
        return "integer"
    if raw[-1] == "u":
        return "unsigned"
    if raw[0] in "tTfF":
        return "boolean"
    return "float"


def convert_value(raw: str, server_type: str) -> str | None:
    """Our raw field value rewritten as `server_type`, or None when that would lose data."""
    kind = _kind(raw)
    if kind == server_type:
        return raw
    if kind == "string":
        text = _unquote(raw)
        match server_type:
            case "boolean" if text in ("true", "false"):
                return text
            case "integer" if _INTEGER.fullmatch(text):
                return f"{int(text)}i"
            case "unsigned" if _INTEGER.fullmatch(text) and int(text) >= 0:
                return f"{int(text)}u"
            case "float" if _NUMBER.fullmatch(text) and math.isfinite(float(text)):
                return repr(float(text))
        return None
    if kind != "float":
        return None  # we only ever write strings and floats; anything else was converted
    number = float(raw)
    match server_type:
        case "string":
            return f'"{raw}"'
        case "integer" if number.is_integer():
            return f"{int(number)}i"
        case "unsigned" if number.is_integer() and number >= 0:
            return f"{int(number)}u"
    return None


class TypeHealer:
    """Remembers the server's type for fields it refused, and converts lines to match."""

    def __init__(self) -> None:
        # escaped measurement -> escaped field key -> (the type the server holds, its message)
        self.server_types: dict[str, dict[str, tuple[str, str]]] = {}

    def learn(self, message: str, line: str | None = None) -> bool:
        """Learn from a rejection message (and the line it refused, for InfluxDB 3).

        True when it taught something new: the refused lines are worth converting and
        sending again.
        """
        if (match := _CONFLICT.search(message)) is not None:
            measurement = escape_measurement(match["measurement"].replace('\\"', '"'))
            server_type = match["server_type"]
            field = escape_field_key(match["field"].replace('\\"', '"'))
        elif line is not None and (match := _CONFLICT_V3.search(message)) is not None:
            measurement = _measurement_of(line)
            server_type = _V3_TYPES.get(match["server_type"], "tag")
            # 3.x names the column as stored. Its parser keeps the backslash of `\"` in a key
            # (only `\,`, `\=`, `\ ` and `\\` are escapes), so either encoder's key is the
            # column with `,`, `=` and space escaped, and a `"` left as the column has it.
            field = escape_field_key_v3(match["field"])
        else:
            return False
        known = self.server_types.setdefault(measurement, {})
        if field in known and known[field][0] == server_type:
            return False
        known[field] = (server_type, message)
        return True

    def touches(self, line: str) -> bool:
        """Whether what was learnt converts or refuses this line."""
        converted, reason = self._apply_line(line)
        return reason is not None or converted != line

    def apply(self, lines: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
        """Split lines into those to send (converted where needed) and those to refuse.

        Refused are (line, reason) pairs whose value cannot take the server's type.
        """
        if not self.server_types:
            return lines, []
        accepted: list[str] = []
        refused: list[tuple[str, str]] = []
        for line in lines:
            converted, reason = self._apply_line(line)
            if reason is None:
                accepted.append(converted)
            else:
                refused.append((line, reason))
        return accepted, refused

    def _apply_line(self, line: str) -> tuple[str, str | None]:
        for measurement, fields in self.server_types.items():
            if not line.startswith(measurement) or not any(f"{field}=" in line for field in fields):
                continue
            head, values, tail = split_line(line)
            if head != measurement and not head.startswith(measurement + ","):
                continue
            changed = False
            for index, (key, raw) in enumerate(values):
                if key not in fields:
                    continue
                server_type, message = fields[key]
                converted = convert_value(raw, server_type)
                if converted is None:
                    return line, message
                if converted != raw:
                    values[index] = (key, converted)
                    changed = True
            return (join_line(head, values, tail) if changed else line), None
        return line, None


def _measurement_of(line: str) -> str:
    """The escaped measurement at the start of a line (up to the first unescaped , or space)."""
    index = 0
    while index < len(line) and line[index] not in ", ":
        index += 2 if line[index] == "\\" else 1
    return line[:index]
