"""Self-healing of field type conflicts with data another writer already stored, shard by shard.

Our own fields never change type, but a database may already hold `attr_dynamics` as a
boolean written by another tool. InfluxDB names the field and the type it holds in its
rejection; we learn it and convert our value when that loses nothing ("true" -> true,
"21" -> 21i, 21.5 -> "21.5"). A line with a value that cannot be converted is not sent
at all: it goes straight to the dead-letter file with the server's message.

InfluxDB 1.x and 2.x keep field types per shard, a block of time (`tsdb/shard.go`,
`MeasurementFields` per shard, at v1.8.10 and v2.7.12): a field can be a string in last
week's shard and a float in this week's. So what the server said is kept with the time
window it applies to: the shard's duration where it is known (1.x `SHOW RETENTION
POLICIES`), else an hour, the smallest shard group duration either server gives, which
divides every longer one; shard groups start at multiples of their duration since the
epoch (services/meta/data.go v1.8.10 line 376,
`timestamp.Truncate(rpi.ShardGroupDuration)`; v2.7.12 v1/services/meta/data.go line 375),
so a window never straddles two shards. A line is healed by what is known of its own
window; where nothing is, by the nearest window known (most often the same shard), and
then only where the conversion loses nothing: a guess never refuses a value the shard may
take. InfluxDB 3 keeps one type per column for ever, so its answers apply to every window.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
import math
import re
import time

from ..lines.line_protocol import (
    escape_field_key,
    escape_field_key_v3,
    escape_measurement,
    join_line,
    split_line,
)

# InfluxDB 1.x/2.x: `partial write: field type conflict: input field "f" on measurement
# "m" is type string, already exists as type boolean dropped=1`. 1.x up to 1.11 prints
# the names as they are (`\"%s\"`, tsdb/shard.go v1.8.10, tsdb/field_validator.go
# v1.11.9); 1.12 and 2.x quote them Go-style (`%q`, tsdb/field_validator.go v1.12.4 and
# v2.7.12): `\\`, `\"`, `\t`, `\n`, `\xNN`, `\uNNNN`. Both forms are read.
_QUOTED = r'"(?P<{}>(?:[^"\\]|\\.)*)"'
_CONFLICT = re.compile(
    rf"input field {_QUOTED.format('field')} on measurement {_QUOTED.format('measurement')}"
    r" is type \w+, already exists as type (?P<server_type>\w+)"
)
# What 3.x's parser unescapes in a field key (influxdb_line_protocol/src/lib.rs v3.10.1).
_V3_KEY_ESCAPES = re.compile(r"[,= ]")
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


# The smallest shard group duration: `normalisedShardDuration` raises anything shorter to
# `MinRetentionPolicyDuration`, one hour, and `shardGroupDuration` gives an hour, a day or
# seven days (services/meta/data.go v1.8.10 lines 1266-1287; v1/services/meta/data.go v2.7.12).
HOUR_NS = 3_600 * 1_000_000_000
# What InfluxDB 3's answers apply to: every window.
EVERYWHERE = None


def go_unquote(text: str) -> str:
    """A name as Go's `%q` printed it, unquoted (escapes as Python's, which Go's are)."""
    try:
        return text.encode("latin-1", "backslashreplace").decode("unicode_escape")
    except UnicodeDecodeError:
        return text


def timestamp_of(line: str) -> int:
    """The timestamp (ns) at the end of one of our lines; now where a line has none."""
    tail = line.rstrip("\n").rsplit(" ", 1)[-1]
    if tail.lstrip("-").isdigit():
        return int(tail)
    return time.time_ns()


@dataclass
class _FieldTypes:
    """What the server said about one field: by window (None: everywhere)."""

    windows: list[int] = field(default_factory=list)  # sorted keys of by_window, for the nearest
    by_window: dict[int | None, tuple[str, str]] = field(default_factory=dict)

    def learn(self, window: int | None, known: tuple[str, str]) -> bool:
        if self.by_window.get(window, ("",))[0] == known[0]:
            return False
        if window is not None and window not in self.by_window:
            bisect.insort(self.windows, window)
        self.by_window[window] = known
        return True

    def at(self, window: int) -> tuple[str, str, bool] | None:
        """(type, message, exact) for a window: its own, everywhere's, else the nearest one's."""
        if (known := self.by_window.get(window) or self.by_window.get(EVERYWHERE)) is not None:
            return (*known, True)
        if not self.windows:
            return None
        index = bisect.bisect_left(self.windows, window)
        nearest = min(self.windows[max(index - 1, 0) : index + 1], key=lambda w: abs(w - window))
        return (*self.by_window[nearest], False)


class TypeHealer:
    """Remembers the server's type for fields it refused, per shard, and converts lines to match."""

    def __init__(self, window_ns: int = HOUR_NS) -> None:
        # escaped measurement -> escaped field key -> what the server said, by window
        self._types: dict[str, dict[str, _FieldTypes]] = {}
        self.window_ns = window_ns

    def set_window(self, window_ns: int) -> None:
        """Use the shard duration the server told; what was learnt by other windows is forgotten."""
        if window_ns > 0 and window_ns != self.window_ns:
            self.window_ns = window_ns
            self._types.clear()

    def window_of(self, line: str) -> int:
        """The window (shard) a line's timestamp falls in."""
        return timestamp_of(line) // self.window_ns

    @property
    def server_types(self) -> dict[str, dict[str, tuple[str, str]]]:
        """The latest window's type of each field learnt (diagnostics)."""
        return {
            measurement: {
                key: types.by_window[types.windows[-1] if types.windows else EVERYWHERE]
                for key, types in fields.items()
            }
            for measurement, fields in self._types.items()
        }

    def learn(self, message: str, line: str | None = None, window: int | None = EVERYWHERE) -> bool:
        """Learn from a rejection message for one window (and the line it refused, for InfluxDB 3).

        True when it taught something new: the refused lines are worth converting and
        sending again. A 1.x/2.x message names no shard: the caller says which window
        the request was in.
        """
        if (match := _CONFLICT.search(message)) is not None:
            measurements = {match["measurement"], go_unquote(match["measurement"])}
            keys = {escape_field_key(name) for name in (match["field"], go_unquote(match["field"]))}
            server_type = match["server_type"]
        elif line is not None and (match := _CONFLICT_V3.search(message)) is not None:
            measurements = {_measurement_of(line)}
            # 3.x names the column as stored. Its parser keeps the backslash of `\"` in a key
            # (only `\,`, `\=`, `\ ` and `\\` are escapes), so either encoder's key is the
            # column with `,`, `=` and space escaped, and a `"` left as the column has it.
            column = match["field"]
            # The 1.x/2.x types' `\"` pointed at 3.x: the column keeps that backslash.
            keys = {escape_field_key_v3(column), _V3_KEY_ESCAPES.sub(r"\\\g<0>", column)}
            server_type = _V3_TYPES.get(match["server_type"], "tag")
            window = EVERYWHERE
        else:
            return False
        new = False
        for measurement in measurements:
            # 3.x's measurement comes escaped from the line; a message's is plain text.
            escaped = measurement if line is not None else escape_measurement(measurement)
            known = self._types.setdefault(escaped, {})
            for key in keys:
                new |= known.setdefault(key, _FieldTypes()).learn(window, (server_type, message))
        return new

    @staticmethod
    def is_conflict(message: str) -> bool:
        """Whether a 1.x/2.x answer is about a field type conflict."""
        return _CONFLICT.search(message) is not None

    def touches(self, line: str) -> bool:
        """Whether what was learnt converts or refuses this line."""
        converted, reason = self._apply_line(line)
        return reason is not None or converted != line

    @property
    def has_learnt(self) -> bool:
        """Whether any line may need healing."""
        return bool(self._types)

    def heal(self, line: str) -> tuple[str, str | None]:
        """The line to send (converted where needed), or the server's words refusing its value."""
        return self._apply_line(line) if self._types else (line, None)

    def apply(self, lines: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
        """Split lines into those to send (converted where needed) and those to refuse.

        Refused are (line, reason) pairs whose value cannot take the type the server
        said its shard holds.
        """
        if not self._types:
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
        for measurement, fields in self._types.items():
            if not line.startswith(measurement) or not any(f"{key}=" in line for key in fields):
                continue
            head, values, tail = split_line(line)
            if head != measurement and not head.startswith(measurement + ","):
                continue
            window = timestamp_of(tail) // self.window_ns
            changed = False
            for index, (key, raw) in enumerate(values):
                if key not in fields or (known := fields[key].at(window)) is None:
                    continue
                server_type, message, exact = known
                converted = convert_value(raw, server_type)
                if converted is None:
                    if exact:
                        return line, message
                    continue  # a guess from another shard: let this shard say
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
