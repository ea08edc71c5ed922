"""The recorder's hourly long-term statistics, as points of their own measurement.

Home Assistant keeps raw states for days but hourly statistics (mean/min/max for
measurements, state/sum for counters) for ever, so these reach years back. Read through
the recorder's statistics API on its executor; one point per statistic and hour, at the
start of the hour, in the unit Home Assistant shows (docs/schema.md). Statistics of
entities follow the entry's filters (and a job's entities); external statistics
(`source:id`, imported by integrations) are not copied. Every field is a float (test_backfill.py
asserts the stored types), so the string limit live lines and the other sources keep to
(pipeline/string_limit.py) has nothing to cut here; tags are not cut, live or history.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from homeassistant.components.recorder.statistics import list_statistic_ids, statistics_during_period
from homeassistant.core import HomeAssistant, valid_entity_id
from homeassistant.util import dt as dt_util

from ..lines.line_protocol import format_fields, format_head
from .backfill_job import NS, POINTS_PER_WINDOW, BackfillJob, Chunk, Lane
from .recorder_source import on_recorder

STATISTICS_MEASUREMENT = "home_assistant_statistics"
_FIELDS: tuple[Literal["mean", "min", "max", "state", "sum"], ...] = ("mean", "min", "max", "state", "sum")
_HOUR_NS = 3600 * NS


class RecorderStatistics:
    """Hourly statistics of the selected statistic ids, one line per statistic and hour."""

    def __init__(
        self, hass: HomeAssistant, selected: Callable[[str], bool], static_tags: Mapping[str, str]
    ) -> None:
        self._hass = hass
        self._selected = selected
        self._static_tags = static_tags
        self._heads: dict[str, str] = {}  # statistic id -> measurement and tags, escaped

    async def async_open(self, job: BackfillJob) -> list[Lane]:
        """Find the statistics the job selects and their units."""
        listed: list[dict[str, Any]] = await on_recorder(self._hass, list_statistic_ids, self._hass)
        wanted = set(job.entity_ids) if job.entity_ids else None
        self._heads = {}
        for metadata in listed:
            statistic_id: str = metadata["statistic_id"]
            if not (valid_entity_id(statistic_id) and self._selected(statistic_id)):
                continue  # external, or left out by the entry's filters
            if wanted is not None and statistic_id not in wanted:
                continue
            tags = {**self._static_tags, "statistic_id": statistic_id}
            if unit := metadata.get("display_unit_of_measurement"):
                tags["unit"] = str(unit)
            self._heads[statistic_id] = format_head(STATISTICS_MEASUREMENT, tags)
        if not self._heads:
            return []
        # Statistics cover whole hours: the hour the job starts in, up to the last full one.
        start = job.start_ns - job.start_ns % _HOUR_NS
        # One row per statistic and hour: a window of this many hours holds a window's worth.
        hours = max(1, POINTS_PER_WINDOW // len(self._heads))
        return [Lane("statistics", start, job.end_ns, hours * _HOUR_NS)]

    async def async_read(self, lane: Lane, start_ns: int, end_ns: int) -> Chunk:
        """The lines of the hours starting in `[start_ns, end_ns)`."""
        if not self._heads:  # resumed, and none of them is recorded any more
            return Chunk([], 0, end_ns)
        found = await on_recorder(
            self._hass,
            statistics_during_period,
            self._hass,
            dt_util.utc_from_timestamp(start_ns / NS),
            dt_util.utc_from_timestamp(end_ns / NS),
            set(self._heads),
            "hour",
            None,  # in the unit Home Assistant shows, the one the unit tag names
            set(_FIELDS),
        )
        lines = []
        rows = 0
        for statistic_id, statistics in found.items():
            head = self._heads[statistic_id]
            for row in statistics:
                rows += 1
                values: dict[str, float] = {
                    key: float(value) for key in _FIELDS if (value := row.get(key)) is not None
                }
                if values:
                    lines.append(f"{head} {format_fields(values)} {round(row['start']) * NS}\n")
        return Chunk(lines, rows, end_ns)
