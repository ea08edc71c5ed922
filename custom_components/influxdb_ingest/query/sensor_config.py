"""A query sensor's settings (one config subentry), its statement and how its one value is picked.

Pure: the flows, the entities and the move-over from the built-in integration share it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .answers import Rows
from .statement import Language, QueryParts

SUBENTRY_QUERY_SENSOR = "query_sensor"

CONF_LANGUAGE = "language"
CONF_QUERY = "query"
CONF_MEASUREMENT = "measurement"
CONF_FIELD = "field"
CONF_ENTITY_ID = "entity_id"
CONF_AGGREGATE = "aggregate"
CONF_DURATION = "duration"
CONF_UNIT = "unit_of_measurement"
CONF_DEVICE_CLASS = "device_class"
CONF_STATE_CLASS = "state_class"
CONF_SCAN_INTERVAL = "scan_interval"
CONF_VALUE_TEMPLATE = "value_template"
CONF_LAST_CACHE = "last_cache"

DEFAULT_SCAN_INTERVAL = 60
# A sensor needs one value: a few rows tell "several" from "one" without reading a table.
SENSOR_ROW_LIMIT = 10
# Columns that say where or when a value is, never the value itself.
_NOT_VALUES = {"time", "_time", "_start", "_stop", "_measurement", "_field", "result", "table", "name"}
_TEMPLATE_MARKERS = ("{{", "{%")


class EmptyAnswer(ValueError):
    """The query answered no value."""


def is_template(text: str) -> bool:
    """Whether a query holds a Home Assistant template (as the built-in's `where` and Flux `query` may)."""
    return any(marker in text for marker in _TEMPLATE_MARKERS)


@dataclass(frozen=True, slots=True)
class QuerySensorConfig:
    """What a query sensor subentry holds."""

    language: Language
    query: str = ""
    parts: QueryParts | None = None
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = None
    scan_interval: int = DEFAULT_SCAN_INTERVAL
    value_template: str | None = None

    @classmethod
    def from_data(cls, data: Mapping[str, Any], bucket: str = "") -> QuerySensorConfig:
        """From subentry data; the parts are used when there is no full query."""
        parts = None
        if not data.get(CONF_QUERY) and data.get(CONF_MEASUREMENT):
            parts = QueryParts(
                measurement=data[CONF_MEASUREMENT],
                field=data.get(CONF_FIELD) or "value",
                aggregate=data.get(CONF_AGGREGATE) or "mean",
                duration=data.get(CONF_DURATION) or "1h",
                entity_id=data.get(CONF_ENTITY_ID) or "",
                bucket=bucket,
                last_cache=data.get(CONF_LAST_CACHE) or "",
            )
        return cls(
            language=Language(data[CONF_LANGUAGE]),
            query=str(data.get(CONF_QUERY) or ""),
            parts=parts,
            unit=data.get(CONF_UNIT) or None,
            device_class=data.get(CONF_DEVICE_CLASS) or None,
            state_class=data.get(CONF_STATE_CLASS) or None,
            scan_interval=int(data.get(CONF_SCAN_INTERVAL) or DEFAULT_SCAN_INTERVAL),
            value_template=data.get(CONF_VALUE_TEMPLATE) or None,
        )

    @property
    def statement(self) -> str:
        """The query to run (maybe a template, to be rendered first)."""
        if self.parts is not None:
            return self.parts.build(self.language)
        return self.query


def pick_value(rows: Rows) -> Any:
    """The first row's `value` or `_value`, else its first column that is not a time or a name."""
    if not rows.rows:
        raise EmptyAnswer("the query answered no rows")
    row = rows.rows[0]
    for name in ("value", "_value"):
        if row.get(name) is not None:
            return row[name]
    for name, value in row.items():
        if name not in _NOT_VALUES and value is not None:
            return value
    raise EmptyAnswer("the query answered no value")


@dataclass(slots=True)
class QueryStatus:
    """How a query sensor's last run went, for its attributes and diagnostics (no credentials)."""

    query: str
    last_duration_ms: float | None = None
    last_error: str | None = None
    last_success: str | None = None
    consecutive_failures: int = 0

    @property
    def failing(self) -> bool:
        """Whether the last run failed (the sensor is unavailable)."""
        return self.consecutive_failures > 0
