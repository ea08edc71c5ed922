"""The typed point that flows from normalization to line protocol."""

from __future__ import annotations

from dataclasses import dataclass

# A field value is either a string or a float, never anything else: each field name is
# only ever produced with one of the two, so InfluxDB can never see a type conflict.
type FieldValue = str | float


@dataclass(slots=True)
class Point:
    """One InfluxDB point: measurement, tags, typed fields and a nanosecond timestamp."""

    measurement: str
    tags: dict[str, str]
    fields: dict[str, FieldValue]
    time_ns: int
