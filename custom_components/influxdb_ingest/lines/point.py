"""The typed point that flows from normalization to line protocol."""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Any

from homeassistant.core import Event

# A field value is a string, a float or a boolean, never anything else: each field name is
# only ever produced with one of them, so InfluxDB can never see a type conflict.
type FieldValue = str | float | bool


@dataclass(slots=True)
class Point:
    """One InfluxDB point: measurement, tags, typed fields and a nanosecond timestamp."""

    measurement: str
    tags: dict[str, str]
    fields: dict[str, FieldValue]
    time_ns: int


def time_fired_ns(event: Event[Any]) -> int:
    """The event's `time_fired` in nanoseconds, exactly as its datetime says.

    Rounds the fraction on its own, like `datetime.fromtimestamp`, so the result equals
    the microseconds of `event.time_fired` (multiplying the whole float would not).
    """
    fraction, seconds = math.modf(event.time_fired_timestamp)
    return int(seconds) * 1_000_000_000 + round(fraction * 1_000_000) * 1000
