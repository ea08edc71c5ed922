"""Property-based: hostile states and attributes, streamed through Home Assistant into the
real InfluxDB 1.x, for each layout. Every event lands (or, in the built-in layout, is one it
never writes), no type conflict, nothing injected, every value reads back as expected.

What is expected comes from outside the code under test: for the built-in compatible
layout, the built-in `influxdb` integration's own `event_to_json` (Home Assistant's code, run
on the same events); for the default layout, docs/schema.md's rules written by hand
(tests/support/schema_model.py).

Hypothesis generates the cases once, deterministically, at import; the async test then
streams all of them through one Home Assistant (Hypothesis cannot drive async tests).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
import math
from typing import Any

from homeassistant.components import influxdb as builtin_influxdb
from homeassistant.core import Event, HomeAssistant
from hypothesis import given, settings, strategies as st

from .support.helpers import (
    ATTRIBUTE_KEYS,
    ATTRIBUTE_VALUES,
    MEASUREMENT,
    STATES,
    fire_cases,
    record_hostile_changes,
    setup_entry,
    stored_key,
    stored_name,
    wait_for,
)
from .support.schema_model import plain_number, recovered, same_attribute

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

# The built-in integration with its defaults (measurement: the unit, else the entity id).
BUILTIN_EVENT_TO_JSON = builtin_influxdb._generate_event_to_json(  # its converter, as it runs
    builtin_influxdb.CONFIG_SCHEMA({builtin_influxdb.DOMAIN: {}})[builtin_influxdb.DOMAIN]
)


def _same(stored: Any, expected: Any) -> bool:
    if isinstance(expected, float):
        return isinstance(stored, int | float) and math.isclose(float(stored), expected, rel_tol=1e-15)
    return type(stored) is type(expected) and bool(stored == expected)


def _builtin_expected(fired: list[Event[Any]]) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    """What the built-in integration writes for each event, per series (measurement, domain,
    object id), in order; non-finite numbers left out (docs/schema.md: the server refuses
    them, and the built-in integration's whole batch fails on a `nan` state)."""
    expected: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for event in fired:
        if (point := BUILTIN_EVENT_TO_JSON(event)) is None:
            continue
        fields = {
            stored_key(key): value
            for key, value in point["fields"].items()
            if not (isinstance(value, float) and not math.isfinite(value))
        }
        if not fields:  # only a non-finite value: no point to write
            continue
        series = (stored_name(point["measurement"]), point["tags"]["domain"], point["tags"]["entity_id"])
        expected[series].append(fields)
    return expected


async def _rows(query: Callable[..., Any], database: str, measurements: set[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for measurement in measurements:
        quoted = measurement.replace("\\", "\\\\").replace('"', '\\"')
        for row in await query(f'SELECT * FROM "{quoted}" GROUP BY *', database):
            rows.append({"measurement": measurement, **row})
    stored_measurements = await query("SHOW MEASUREMENTS", database)
    assert {row["name"] for row in stored_measurements} == measurements  # nothing injected
    return rows


async def test_hostile_events_round_trip_through_home_assistant_as_the_builtin_integration_writes_them(
    hass: HomeAssistant, v1_config: dict[str, Any], database: str, query: Callable[..., Any]
) -> None:
    fired = record_hostile_changes(hass)
    entry = await setup_entry(hass, v1_config, {"layout": "builtin", "flush_interval": 0.1})
    fire_cases(hass, CASES)
    await hass.async_block_till_done()
    expected = _builtin_expected(fired)
    points = sum(len(series) for series in expected.values())
    writer = entry.runtime_data.writer
    await wait_for(lambda: writer.stats.points_written + writer.stats.points_dead_lettered >= points)
    assert writer.stats.points_dead_lettered == 0  # no field type conflict, nothing refused
    assert writer.stats.write_errors == 0
    assert points >= len(fired) // 2

    stored: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    rows = await _rows(query, database, {key[0] for key in expected})
    for row in sorted(rows, key=lambda row: row["time"]):
        stored[(row.pop("measurement"), row.pop("domain"), row.pop("entity_id"))].append(row)
    assert stored.keys() == expected.keys()
    for series, points_expected in expected.items():
        assert len(stored[series]) == len(points_expected), series  # every point, once
        for row, fields in zip(stored[series], points_expected, strict=True):
            got = {key: value for key, value in row.items() if key != "time" and value is not None}
            assert got.keys() == fields.keys(), (series, got, fields)
            for key, value in fields.items():
                assert _same(got[key], value), (key, value, got[key])


async def test_hostile_events_round_trip_through_home_assistant_in_the_default_layout_as_documented(
    hass: HomeAssistant, v1_config: dict[str, Any], database: str, query: Callable[..., Any]
) -> None:
    fired = record_hostile_changes(hass)
    entry = await setup_entry(hass, v1_config, {"flush_interval": 0.1})
    fire_cases(hass, CASES)
    await hass.async_block_till_done()
    writer = entry.runtime_data.writer
    await wait_for(lambda: writer.stats.points_written + writer.stats.points_dead_lettered >= len(fired))
    assert writer.stats.points_dead_lettered == 0
    assert writer.stats.write_errors == 0

    by_entity: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in sorted(await _rows(query, database, {MEASUREMENT}), key=lambda row: row["time"]):
        by_entity[row["entity_id"]].append(row)
    events: dict[str, list[Event[Any]]] = defaultdict(list)
    for event in fired:
        events[event.data["entity_id"]].append(event)
    assert by_entity.keys() == events.keys()
    for entity_id, changes in events.items():
        assert len(by_entity[entity_id]) == len(changes), entity_id  # every change, once
        for event, row in zip(changes, by_entity[entity_id], strict=True):
            state = event.data["new_state"]
            assert row["state"] == state.state
            # InfluxDB's JSON writes a big float as an integer: compared as the float it is.
            value = None if row.get("value") is None else float(row["value"])
            assert value == plain_number(state.state), (state.state, row.get("value"))
            got = recovered(row, {})
            attributes = dict(state.attributes)
            assert set(got) == set(attributes), (set(got) ^ set(attributes), row)
            for key, value in attributes.items():
                # A text device class is a tag (docs/schema.md), read back as one.
                as_tag = key == "device_class" and isinstance(value, str) and bool(value)
                assert same_attribute(got[key], value, as_tag=as_tag), (key, value, got[key])
