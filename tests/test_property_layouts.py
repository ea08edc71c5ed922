"""Property-based: hostile states and attributes, streamed through Home Assistant into the
real InfluxDB 1.x, for each layout. Every event lands (or, in the built-in layout, is one it
never writes), no type conflict, nothing injected, every value reads back as normalized.

Hypothesis generates the cases once, deterministically, at import; the async test then
streams all of them through one Home Assistant (Hypothesis cannot drive async tests).
"""

from __future__ import annotations

from collections.abc import Callable
import math
from typing import Any

from homeassistant.core import HomeAssistant
from hypothesis import given, settings, strategies as st
import pytest

from custom_components.influxdb_ingest.lines.metadata import EntityMetadata
from custom_components.influxdb_ingest.lines.normalize import DefaultLayout, state_change_to_point
from custom_components.influxdb_ingest.lines.normalize_builtin import BuiltinLayout, builtin_point
from custom_components.influxdb_ingest.lines.point import Point

from .support.helpers import (
    ATTRIBUTE_KEYS,
    ATTRIBUTE_VALUES,
    STATES,
    fire_cases,
    record_hostile_changes,
    setup_entry,
    stored_name,
    wait_for,
)

CASES: list[list[tuple[str, dict[str, Any]]]] = []


@settings(max_examples=60, derandomize=True, database=None)
@given(
    st.lists(
        st.tuples(STATES, st.dictionaries(ATTRIBUTE_KEYS, ATTRIBUTE_VALUES, max_size=4)),
        min_size=1,
        max_size=5,
    )
)
def _collect(case: list[tuple[str, dict[str, Any]]]) -> None:
    CASES.append(case)


_collect()


def _same(stored: Any, expected: Any) -> bool:
    if isinstance(expected, float):
        return isinstance(stored, int | float) and math.isclose(float(stored), expected, rel_tol=1e-15)
    return bool(stored == expected)


@pytest.mark.parametrize("layout", ["default", "builtin"])
async def test_hostile_events_round_trip_through_home_assistant(
    hass: HomeAssistant, v1_config: dict[str, Any], database: str, query: Callable[..., Any], layout: str
) -> None:
    fired = record_hostile_changes(hass)
    entry = await setup_entry(hass, v1_config, {"layout": layout, "flush_interval": 0.1})
    fire_cases(hass, CASES)
    await hass.async_block_till_done()

    expected: list[Point] = []
    for event in fired:
        point = (
            state_change_to_point(event, EntityMetadata(), DefaultLayout("home_assistant_events"))
            if layout == "default"
            else builtin_point(event, BuiltinLayout())
        )
        if point is not None:
            expected.append(point)
    writer = entry.runtime_data.writer
    await wait_for(lambda: writer.stats.points_written + writer.stats.points_dead_lettered >= len(expected))
    assert writer.stats.points_dead_lettered == 0  # no field type conflict, nothing refused
    assert writer.stats.write_errors == 0
    assert len(expected) >= len(fired) // 2

    measurements = {stored_name(point.measurement) for point in expected}
    rows: list[dict[str, Any]] = []
    for measurement in measurements:
        quoted = measurement.replace("\\", "\\\\").replace('"', '\\"')
        rows.extend(await query(f'SELECT * FROM "{quoted}" GROUP BY *', database))
    stored_measurements = await query("SHOW MEASUREMENTS", database)
    assert {row["name"] for row in stored_measurements} == measurements  # nothing injected
    assert len(rows) == len(expected)  # every point, once

    by_key = {(row["entity_id"], row["time"]): row for row in rows}
    for point in expected:
        entity = point.tags["entity_id"]
        row = by_key[(entity, point.time_ns)]
        for key, value in point.fields.items():
            assert _same(row.get(stored_name(key)), value), (key, value, row)
