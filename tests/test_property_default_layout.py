"""Property-based, the default layout's three promises, against the real InfluxDB 1.x and the
InfluxDB 3 Core stand-in (docs/schema.md):

- type-stable: every field keeps one type, the one its prefix names, whatever the attributes do;
- no name is a tag and a field in one table (static tags and attributes as tags named like the
  layout's own tags and fields included);
- lossless: every attribute of every change is read back from what was stored, also those the
  column budget folded into `attributes_overflow`.

Hypothesis generates the cases once, deterministically, at import; each test streams them all
through one Home Assistant (Hypothesis cannot drive async tests).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

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
    wait_for,
)
from .support.schema_model import USER_TAG_KEYS, as_tag_text, plain_number, recovered, same_attribute
from .support.servers import InfluxDB1Server
from .support.standin_influxdb3 import InfluxDB3StandIn

# Keys named like the layout's own tags, fields and prefixes, and those the options below use.
LAYOUT_NAMES = st.sampled_from(
    [
        *("state", "value", "area", "domain", "entity_id", "device_class", "snapshot", "attributes_overflow"),
        *("attr_x", "num_x", "bool_x", "json_x", "tag_x", "room", "phase"),
    ]
)
TAGS_ATTRIBUTES = list(USER_TAG_KEYS)
STATIC_TAGS = {"home": "cottage", "value": "static", "domain": "static", "num_x": "static"}
PREFIX_TYPES = {"attr_": "string", "num_": "float", "bool_": "boolean", "json_": "string"}

CASES: list[list[tuple[str, dict[str, Any]]]] = []


@settings(max_examples=60, derandomize=True, database=None)
@given(
    st.lists(
        st.tuples(
            STATES,
            st.dictionaries(st.one_of(ATTRIBUTE_KEYS, LAYOUT_NAMES), ATTRIBUTE_VALUES, max_size=6),
        ),
        min_size=1,
        max_size=5,
    )
)
def _collect(case: list[tuple[str, dict[str, Any]]]) -> None:
    CASES.append(case)


_collect()


async def _stream(hass: HomeAssistant, config: dict[str, Any], options: dict[str, Any]) -> list[Event[Any]]:
    """Every case through Home Assistant into the entry's target; the events as fired."""
    fired = record_hostile_changes(hass)
    entry = await setup_entry(
        hass,
        config,
        {
            "flush_interval": 0.1,
            "tags_attributes": TAGS_ATTRIBUTES,
            "tags": [f"{key}={value}" for key, value in STATIC_TAGS.items()],
            **options,
        },
    )
    fire_cases(hass, CASES)
    await hass.async_block_till_done()
    writer = entry.runtime_data.writer
    await wait_for(lambda: writer.stats.points_written + writer.stats.points_dead_lettered >= len(fired))
    assert writer.stats.points_dead_lettered == 0  # no type conflict, no tag/field clash: nothing refused
    assert writer.stats.write_errors == 0
    return fired


def _check_every_change(fired: list[Event[Any]], rows: list[dict[str, Any]]) -> None:
    """Each change stored once, in order, with its state and every attribute read back."""
    rows_by_entity: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in sorted(rows, key=lambda row: row["time"]):
        rows_by_entity[row["entity_id"]].append(row)
    events_by_entity: dict[str, list[Event[Any]]] = defaultdict(list)
    for event in fired:
        events_by_entity[event.data["entity_id"]].append(event)
    assert rows_by_entity.keys() == events_by_entity.keys()
    for entity_id, events in events_by_entity.items():
        stored = rows_by_entity[entity_id]
        assert len(stored) == len(events), entity_id
        for event, row in zip(events, stored, strict=True):
            state = event.data["new_state"]
            assert row["state"] == state.state
            # InfluxDB's JSON writes a big float as an integer: compared as the float it is.
            value = None if row.get("value") is None else float(row["value"])
            assert value == plain_number(state.state), (state.state, row.get("value"))
            got = recovered(row, USER_TAG_KEYS)
            assert set(got) == set(state.attributes), (set(got) ^ set(state.attributes), row)
            for key, value in state.attributes.items():
                as_tag = (key in TAGS_ATTRIBUTES or key == "device_class") and bool(as_tag_text(value))
                if key == "device_class" and not isinstance(value, str):
                    as_tag = False
                assert same_attribute(got[key], value, as_tag=as_tag), (key, value, got[key])


def _check_field_types(field_types: Mapping[str, str], tag_keys: set[str]) -> None:
    """Each field's type is the one its prefix names, and no tag shares a field's name."""
    assert tag_keys.isdisjoint(field_types)
    assert {"entity_id", "domain", "home", "tag_value", "tag_domain", "tag_num_x"} <= tag_keys
    for name, kind in field_types.items():
        for prefix, expected in PREFIX_TYPES.items():
            if name.startswith(prefix):
                assert kind == expected, (name, kind)


async def test_hostile_attributes_are_stable_apart_and_lossless_in_influxdb_1(
    hass: HomeAssistant,
    v1_config: dict[str, Any],
    database: str,
    query: Callable[..., Any],
    influxdb_v1: InfluxDB1Server,
) -> None:
    fired = await _stream(hass, v1_config, {})
    rows = await query(f"SELECT * FROM {MEASUREMENT} GROUP BY *", database)
    _check_every_change(fired, rows)
    # One row per field name: InfluxDB 1.x lists a field again for each type it holds.
    field_rows = await query(f"SHOW FIELD KEYS FROM {MEASUREMENT}", database)
    field_types = {row["fieldKey"]: row["fieldType"] for row in field_rows}
    assert len(field_types) == len(field_rows)
    tag_keys = {row["tagKey"] for row in await query(f"SHOW TAG KEYS FROM {MEASUREMENT}", database)}
    _check_field_types(field_types, tag_keys)


async def test_hostile_attributes_are_stable_apart_and_lossless_in_influxdb_3_within_the_budget(
    hass: HomeAssistant, influxdb3: InfluxDB3StandIn
) -> None:
    budget = 40
    config = {"api_version": "3", "url": influxdb3.url, "database": "home", "token": "test-token"}
    fired = await _stream(hass, {**config, "verify_ssl": True}, {"max_columns": budget})
    _check_every_change(fired, influxdb3.rows("home", MEASUREMENT))
    schema = influxdb3.schema("home", MEASUREMENT)
    assert len(schema) - 1 <= budget  # time is not ours to count
    assert any(row.get("attributes_overflow") for row in influxdb3.rows("home", MEASUREMENT))
    _check_field_types(
        {name: kind for name, kind in schema.items() if kind not in ("tag", "time")},
        {name for name, kind in schema.items() if kind == "tag"},
    )
