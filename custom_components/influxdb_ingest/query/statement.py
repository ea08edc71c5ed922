"""What may be asked: the read-only check, and a query built from parts for the common case.

Pure functions, tested without a server. InfluxDB 1.x only warns when a GET carries a
statement that writes (coordinator/statement_executor.go at v1.6.6, lines 72-83: `ReadOnlyWarning`)
and runs it anyway, so the check here is what keeps the action and the sensors read-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
import re

from ..const import ApiVersion


class Language(StrEnum):
    """A query language, and the flavours that answer it."""

    INFLUXQL = "influxql"
    SQL = "sql"
    FLUX = "flux"


# 2.x answers InfluxQL through its 1.x-compatible /query where a database mapping exists.
LANGUAGES: dict[ApiVersion, tuple[Language, ...]] = {
    ApiVersion.V1: (Language.INFLUXQL,),
    ApiVersion.V2: (Language.FLUX, Language.INFLUXQL),
    ApiVersion.V3: (Language.SQL, Language.INFLUXQL),
}

AGGREGATES = ("mean", "median", "min", "max", "sum", "count", "first", "last")


class NotReadOnly(ValueError):
    """The statement could write, delete or change the schema; the message says why."""


# Quoted text, quoted identifiers and comments: their words are not keywords.
_SQL_NOISE = re.compile(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`|--[^\n]*|/\*.*?\*/", re.DOTALL)
_FLUX_NOISE = re.compile(r"\"(?:[^\"\\]|\\.)*\"|//[^\n]*")
_READING_VERBS = {"SELECT", "SHOW", "WITH", "EXPLAIN"}
_WRITING_WORDS = re.compile(
    r"\b(INSERT|UPDATE|DELETE|DROP|CREATE|ALTER|INTO|GRANT|REVOKE|KILL|COPY|TRUNCATE|MERGE|SET)\b",
    re.IGNORECASE,
)
# Flux writes through to(), experimental.to(), influxdb.wideTo(), sql.to(), http.post(),
# mqtt.publish()...; deletes through the delete API only, but a `delete` name is refused too.
_FLUX_WRITING = re.compile(r"\b(to|wideTo|post|publish|delete)\s*\(|\bdelete\b")


def check_read_only(language: Language, query: str) -> str:
    """The query, stripped, when it only reads; NotReadOnly otherwise."""
    text = query.strip()
    if not text:
        raise NotReadOnly("the query is empty")
    if language is Language.FLUX:
        if match := _FLUX_WRITING.search(_FLUX_NOISE.sub(" ", text)):
            raise NotReadOnly(f"Flux queries may not write or delete ({match[0].strip()})")
        return text
    code = _SQL_NOISE.sub(" ", text).strip().rstrip(";").strip()
    if ";" in code:
        raise NotReadOnly("one statement at a time")
    first = code.split(None, 1)[0].upper() if code else ""
    if first not in _READING_VERBS:
        raise NotReadOnly(f"only SELECT, SHOW, WITH and EXPLAIN statements are run, not {first or 'this'}")
    if match := _WRITING_WORDS.search(code):
        raise NotReadOnly(f"the statement may not contain {match[0].upper()}")
    return text


_DURATION = re.compile(r"^(\d+)(s|m|h|d|w)$")
_SQL_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_SQL_AGGREGATES = {
    "mean": "avg",
    "median": "median",
    "min": "min",
    "max": "max",
    "sum": "sum",
    "count": "count",
}


def valid_duration(text: str) -> bool:
    """An InfluxQL-style duration: a whole number and one of s, m, h, d, w (`1h`, `30d`)."""
    return _DURATION.match(text) is not None


@dataclass(frozen=True, slots=True)
class QueryParts:
    """The common case: one aggregate of one field of one table over the last while, maybe of one entity."""

    measurement: str
    field: str = "value"
    aggregate: str = "mean"
    duration: str = "1h"
    entity_id: str = ""
    bucket: str = ""  # Flux only: the bucket to read
    # SQL on 3.x: a last-value cache keyed by entity_id answers `last` from memory (caches.py).
    last_cache: str = ""

    def build(self, language: Language) -> str:
        """The query in `language`; its one value is the column `value` (`_value` in Flux)."""
        if self.aggregate not in AGGREGATES:
            raise ValueError(f"unknown aggregate {self.aggregate!r}")
        match = _DURATION.match(self.duration)
        if match is None:
            raise ValueError(f"invalid time range {self.duration!r}")
        match language:
            case Language.INFLUXQL:
                where = f"time > now() - {self.duration}"
                if self.entity_id:
                    where += f" AND {_identifier(_INFLUXQL, 'entity_id')} = {_literal(self.entity_id)}"
                return (
                    f"SELECT {self.aggregate}({_identifier(_INFLUXQL, self.field)}) AS value "  # noqa: S608
                    f"FROM {_identifier(_INFLUXQL, self.measurement)} WHERE {where}"
                )
            case Language.SQL:
                where = f"time > now() - INTERVAL '{match[1]} {_SQL_UNITS[match[2]]}'"
                if self.entity_id:
                    where += f" AND entity_id = {_literal(self.entity_id, Language.SQL)}"
                table, column = _identifier(_SQL, self.measurement), _identifier(_SQL, self.field)
                if self.aggregate == "last" and self.last_cache:
                    return self._from_last_cache(column)
                if self.aggregate in ("first", "last"):
                    order = "ASC" if self.aggregate == "first" else "DESC"
                    return (
                        f"SELECT {column} AS value FROM {table} WHERE {where} "  # noqa: S608
                        f"AND {column} IS NOT NULL ORDER BY time {order} LIMIT 1"
                    )
                function = _SQL_AGGREGATES[self.aggregate]
                return f"SELECT {function}({column}) AS value FROM {table} WHERE {where}"  # noqa: S608
            case Language.FLUX:
                conditions = [f"r._measurement == {_flux_string(self.measurement)}"]
                conditions.append(f"r._field == {_flux_string(self.field)}")
                if self.entity_id:
                    conditions.append(f"r.entity_id == {_flux_string(self.entity_id)}")
                return (
                    f"from(bucket: {_flux_string(self.bucket)})"
                    f" |> range(start: -{self.duration})"
                    f" |> filter(fn: (r) => {' and '.join(conditions)})"
                    f" |> group() |> {self.aggregate}()"
                )

    def _from_last_cache(self, column: str) -> str:
        """The latest value from the last-value cache: no time range, the cache holds the latest."""
        source = f"last_cache({_literal(self.measurement, _SQL)}, {_literal(self.last_cache, _SQL)})"
        where = f" WHERE entity_id = {_literal(self.entity_id, _SQL)}" if self.entity_id else ""
        return f"SELECT {column} AS value FROM {source}{where}"  # noqa: S608


_INFLUXQL, _SQL = Language.INFLUXQL, Language.SQL


def _identifier(language: Language, name: str) -> str:
    """A double-quoted identifier: InfluxQL escapes with a backslash, SQL doubles the quote."""
    if language is Language.SQL:
        return '"' + name.replace('"', '""') + '"'
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _literal(value: str, language: Language = Language.INFLUXQL) -> str:
    """A single-quoted string literal: InfluxQL escapes with a backslash, SQL doubles the quote."""
    if language is Language.SQL:
        return "'" + value.replace("'", "''") + "'"
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _flux_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
