"""InfluxDB 3's catalog and validator, as the 3.x stand-in applies them to each line.

What a line may add to a table (types, limits, names, field families), database names, and
timestamps; the HTTP side is standin_influxdb3.py. Differences between releases come from
`Release` (standin3_release.py), each cited there or next to the code here.
"""

from __future__ import annotations

from dataclasses import dataclass
import unicodedata

from .standin3_release import Release
from .standin_core import BOOLEAN, FLOAT, INTEGER, STRING, TAG, TIME, UINTEGER, Point

# schema crate `impl From<&InfluxColumnType> for &'static str`, used in catalog error texts.
IOX_TYPES = {
    TAG: "iox::column_type::tag",
    FLOAT: "iox::column_type::field::float",
    INTEGER: "iox::column_type::field::integer",
    UINTEGER: "iox::column_type::field::uinteger",
    STRING: "iox::column_type::field::string",
    BOOLEAN: "iox::column_type::field::boolean",
    TIME: "iox::column_type::timestamp",
}
# influxdb3_types/src/write.rs `Precision` (write_lp: `auto` is the default) and iox_http
# `write::Precision` (the v1/v2 endpoints: nanosecond is the default, no `auto`).
_SECOND, _MILLI, _MICRO, _NANO = 1_000_000_000, 1_000_000, 1_000, 1
V3_PRECISIONS = {"auto": 0, "second": _SECOND, "millisecond": _MILLI, "microsecond": _MICRO}
V3_PRECISIONS |= {"nanosecond": _NANO, "s": _SECOND, "ms": _MILLI, "us": _MICRO, "u": _MICRO}
V3_PRECISIONS |= {"ns": _NANO, "n": _NANO}
LEGACY_PRECISIONS = {k: v for k, v in V3_PRECISIONS.items() if k != "auto"}
# influxdb3_catalog/src/error.rs: the `CatalogError` texts of the limits and of a type change.
TOO_MANY_DBS = "Adding a new database would exceed limit of {} databases"
TOO_MANY_COLUMNS = "Update to schema would exceed number of columns per table limit of {} columns"
TOO_MANY_TAGS = "Update to schema would exceed number of tag columns per table limit of {} columns"
WRONG_TYPE = "invalid column type for column '{}', expected {}, got {}"
# Tables made by line protocol are field-family aware: `family::field` puts the field in the
# family `family`, at most 100 fields each (versions/v2/field.rs v3.5.0:38-52, versions/v2.rs
# v3.5.0:78, versions/v2/update.rs v3.5.0:1386-1397; versions/v3/transaction.rs v3.10.1:618-628).
TOO_MANY_FIELDS = "Update to schema would exceed the field limit (100) for field family '{}'"
RESERVED_COLUMNS = ("time", "__chunk_order")


def validate_db_name(name: str, max_length: int = 64, accept_rp: bool | None = None) -> str | None:
    """http.rs `validate_db_name`: the error text, or None. One `/` (db/rp) is allowed.

    `accept_rp` is 3.5's second argument (http.rs v3.5.0:1789-1831): only `/write` passes
    true, and then the characters after the first are not checked at all; `/api/v3/write_lp`
    and `/api/v2/write` refuse a `/`. None: 3.6 and later (v3.6.0:1885-1930), one rule for all.
    """
    if not name:
        return "db name cannot be empty"
    if len(name.encode()) > max_length:
        return f"db name too long: max {max_length}"
    invalid_char = (
        "invalid character in database or rp name: must be ASCII, containing only letters, "
        "numbers, underscores, or hyphens"
    )
    if accept_rp is not None:
        invalid_char = invalid_char.replace(" or rp name", " name")
    bad_rp = (
        "db name with invalid retention policy, if providing a retention policy name, "
        "must be of form '<db_name>/<rp_name>'"
    )
    slash = False
    for index, char in enumerate(name):  # character by character, first error wins
        if not char.isascii():
            return invalid_char
        if index == 0 and not char.isalnum():
            return "db name did not start with a number or letter"
        if index and char == "/" and accept_rp is not False:
            if slash:
                return bad_rp
            slash = True
        elif index and not accept_rp and not (char.isalnum() or char in "_-"):
            return invalid_char
    return bad_rp if name.endswith("/") else None


def field_family(name: str) -> str | None:
    """`parse_field_name_aware`: the text before the first `::`, when both sides have some."""
    family, sep, field_name = name.partition("::")
    return family if sep and family and field_name else None


@dataclass
class Catalog:
    """The limits a server runs with (the defaults of `influxdb3 serve`, Core) at a release."""

    at: Release
    max_tables: int
    max_columns_per_table: int
    max_tags_per_table: int

    def validate(self, tables: dict[str, dict[str, str]], point: Point, other_tables: int) -> str | None:
        """validator.rs `validate_and_qualify_v1_line`: table, then tags, fields, and time.

        `tables`: the transaction's column kinds, changed as the line is validated; the error
        text for the line, or None.
        """
        columns = tables.get(point.measurement)
        if columns is None:
            if (current := other_tables + len(tables)) >= self.max_tables:
                return self.at.too_many_tables.format(current=current, limit=self.max_tables)
            columns = tables[point.measurement] = {}
        wanted = [(key, TAG) for key, _ in point.tags]
        wanted += [(key, kind) for key, (kind, _) in point.fields]
        seen_fields: set[str] = set()
        for name, kind in [*wanted, ("time", TIME)]:
            existing = columns.get(name)
            if existing is not None and existing != kind:
                return WRONG_TYPE.format(name, IOX_TYPES[existing], IOX_TYPES[kind])
            if existing is None:
                if refused := self.refused_name(columns, name, kind):
                    return refused
                if kind == TAG and list(columns.values()).count(TAG) >= (self.max_tags_per_table):
                    return TOO_MANY_TAGS.format(self.max_tags_per_table)
                # The v2 catalog (to 3.9) counts `time` even before it exists; v3 (3.10) does not.
                used = sum(k != TIME for k in columns.values()) + self.at.time_counts_as_column
                if kind != TIME and used >= self.max_columns_per_table:
                    return TOO_MANY_COLUMNS.format(self.max_columns_per_table)
                family = field_family(name) if kind not in (TAG, TIME) else None
                if (
                    family
                    and sum(field_family(n) == family for n, k in columns.items() if k not in (TAG, TIME))
                    >= 100
                ):
                    return TOO_MANY_FIELDS.format(family)
                columns[name] = kind
            if kind not in (TAG, TIME):
                if name in seen_fields:  # validator.rs: the same column id twice on one line
                    return f"invalid line protocol - multiple instances of '{name}' field found"
                seen_fields.add(name)
        return None

    def refused_name(self, columns: dict[str, str], name: str, kind: str) -> str | None:
        """Names the catalog refuses for a new tag or field column.

        3.4 to 3.9 (catalog v2): `key::is_valid`, no control characters (catalog/key.rs
        v3.5.0:24-39); the v3 catalog of 3.10 dropped that check (versions/v3/transaction.rs
        v3.10.1:552-577). Every release: `check_name`, `time` and `__chunk_order` are reserved
        (catalog.rs v3.5.0:38, versions/v2.rs v3.5.0:2116-2124, v3/schema/table.rs v3.10.1:210-218).
        """
        if kind == TIME:
            return None
        if not self.at.since("3.10") and any(unicodedata.category(c) == "Cc" for c in name):
            what = "tag" if kind == TAG else "field"
            return f"invalid configuration provided: {what} key cannot contain control characters"
        if name in RESERVED_COLUMNS:
            return f"'{name}' is a reserved column"
        return None


_PRECISION_NAMES = {0: "Auto", _SECOND: "Second", _MILLI: "Millisecond", _MICRO: "Microsecond"}
_PRECISION_NAMES |= {_NANO: "Nanosecond"}


def timestamp_ns(timestamp: int | None, precision: int, now: int, checked: bool = True) -> int | str:
    """influxdb3_types/src/write.rs `Precision::to_nanos` (0 stands for `auto`); str = error.

    `checked`: since 3.6 a product beyond i64 refuses the line (write.rs v3.10.1:55-57);
    3.5 multiplies unchecked (validator.rs v3.5.0:406-423), which wraps in a release build.
    """
    if timestamp is None:  # the ingest time, cut down to the precision
        return now if precision == 0 else now // precision * precision
    named = _PRECISION_NAMES[precision]
    if precision == 0:  # `guess_precision`: by magnitude
        seconds = abs(timestamp) // _SECOND
        precision = (
            _SECOND
            if seconds < 5
            else _MILLI
            if seconds < 5_000
            else _MICRO
            if seconds < 5_000_000
            else _NANO
        )
    nanos = timestamp * precision
    if -(2**63) <= nanos < 2**63:
        return nanos
    if checked:
        return f"timestamp, {timestamp}, out of range for precision: {named}"
    return (nanos + 2**63) % 2**64 - 2**63
