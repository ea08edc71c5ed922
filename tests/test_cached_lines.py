"""The cached lines are exactly the lines of each layout's reference point, whatever the
entity does: state flips, attributes change or stay, registry data changes, removal."""

from __future__ import annotations

import datetime as dt
from typing import Any

from homeassistant.core import Context, Event, EventStateChangedData, State
from hypothesis import given, settings, strategies as st

from custom_components.influxdb_ingest.lines.cached_lines import BuiltinLines, DefaultLines
from custom_components.influxdb_ingest.lines.entity_rules import NO_RULES, EntityRules
from custom_components.influxdb_ingest.lines.line_protocol import point_to_line
from custom_components.influxdb_ingest.lines.metadata import EntityMetadata
from custom_components.influxdb_ingest.lines.normalize import DefaultLayout, state_change_to_point
from custom_components.influxdb_ingest.lines.normalize_builtin import BuiltinLayout, builtin_point

from .support.helpers import ATTRIBUTE_KEYS, ATTRIBUTE_VALUES, STATES, state_changed_event

T0 = dt.datetime(2026, 11, 22, 10, 0, 0, tzinfo=dt.UTC)
LAYOUTS = (
    DefaultLayout("home_assistant"),
    DefaultLayout(
        "m", enrich=frozenset({"area", "device", "unit", "device_info"}), static_tags={"site": "home"}
    ),
)
METADATA = (
    EntityMetadata(),
    EntityMetadata(device_id="d1", area_id="kitchen", area_name="Kitchen", manufacturer="Acme"),
    EntityMetadata(device_id="d1", area_id="hall", area_name="Hall", device_name="Plug"),
)
RULES = (
    NO_RULES,
    EntityRules(
        measurement="power", ignore_attributes=frozenset({"icon"}), tags_attributes=frozenset({"room"})
    ),
)


def _change(
    entity_id: str, old: State | None, new: State | None, second: int
) -> Event[EventStateChangedData]:
    return state_changed_event(
        entity_id, old, new, fired=T0 + dt.timedelta(seconds=second), context=Context(id=f"ctx{second}")
    )


# One step: which entity, its new state (None: removed), its attributes (None: the
# previous attributes object again, as Home Assistant passes it when they did not
# change), and which registry data it has now.
_STEPS = st.lists(
    st.tuples(
        st.sampled_from(["sensor.a", "sensor.b"]),
        st.one_of(st.none(), STATES),
        st.one_of(
            st.none(),
            st.dictionaries(
                st.one_of(
                    ATTRIBUTE_KEYS,
                    st.sampled_from(
                        # Names both layouts treat specially.
                        [
                            "icon",
                            "room",
                            "value",
                            "state",
                            "time",
                            "time_",
                            "power_str",
                            "unit_of_measurement",
                            "device_class",
                        ]
                    ),
                ),
                ATTRIBUTE_VALUES,
                max_size=4,
            ),
        ),
        st.sampled_from(METADATA),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=150, derandomize=True, database=None, deadline=None)
@given(
    steps=_STEPS,
    layout=st.sampled_from(LAYOUTS),
    rules=st.sampled_from(RULES),
)
def test_default_lines_equal_the_reference_points(
    steps: list[tuple[str, str | None, dict[str, Any] | None, EntityMetadata]],
    layout: DefaultLayout,
    rules: EntityRules,
) -> None:
    lines = DefaultLines(layout)
    for event, metadata in _events(steps):
        point = state_change_to_point(event, metadata, layout, rules)
        assert point is not None
        assert lines.line(event, metadata, rules, point.time_ns) == point_to_line(point)


BUILTIN_LAYOUTS = (
    BuiltinLayout(),
    BuiltinLayout("domain_device_class", "fallback"),
    BuiltinLayout(override_measurement="everything"),
)


@settings(max_examples=150, derandomize=True, database=None, deadline=None)
@given(
    steps=_STEPS,
    layout=st.sampled_from(BUILTIN_LAYOUTS),
    rules=st.sampled_from(RULES),
    static_tags=st.sampled_from([{}, {"site": "home"}]),
)
def test_builtin_lines_equal_the_reference_points(
    steps: list[tuple[str, str | None, dict[str, Any] | None, EntityMetadata]],
    layout: BuiltinLayout,
    rules: EntityRules,
    static_tags: dict[str, str],
) -> None:
    lines = BuiltinLines(layout, static_tags)
    for event, _ in _events(steps):
        point = builtin_point(event, layout, rules, static_tags)
        expected = point_to_line(point) if point is not None else None
        assert lines.line(event, rules, point.time_ns if point else 0) == expected


def _events(
    steps: list[tuple[str, str | None, dict[str, Any] | None, EntityMetadata]],
) -> list[tuple[Event[EventStateChangedData], EntityMetadata]]:
    """State changes for the steps; a step without attributes reuses the previous object."""
    current: dict[str, State] = {}
    events = []
    for second, (entity_id, state, new_attributes, metadata) in enumerate(steps):
        old = current.get(entity_id)
        new = None
        if state is not None:
            attributes = new_attributes
            if attributes is None:
                attributes = old.attributes if old is not None else {}
            new = State(entity_id, state, attributes, last_changed=T0 + dt.timedelta(seconds=second))
            current[entity_id] = new
        else:
            current.pop(entity_id, None)
        events.append((_change(entity_id, old, new, second), metadata))
    return events


def test_registry_change_reaches_the_next_line_even_with_the_same_attributes() -> None:
    lines = DefaultLines(DefaultLayout("m", enrich=frozenset({"area"})))
    first = State("sensor.a", "1", {"unit_of_measurement": "W"})
    second = State("sensor.a", "2", first.attributes)
    line_one = lines.line(_change("sensor.a", None, first, 0), METADATA[1], NO_RULES, 1)
    line_two = lines.line(_change("sensor.a", first, second, 1), METADATA[2], NO_RULES, 2)
    assert ",area=Kitchen," in line_one
    assert ",area=Hall," in line_two
    assert "Kitchen" not in line_two


def test_equal_attributes_of_another_type_are_not_mistaken_for_the_same() -> None:
    """{"x": 1} == {"x": True} == {"x": 1.0}, but each is written differently."""
    lines = DefaultLines(LAYOUTS[0])
    old = None
    for second, value in enumerate((1, True, 1.0)):
        new = State("sensor.a", "on", {"x": value})
        event = _change("sensor.a", old, new, second)
        point = state_change_to_point(event, METADATA[0], LAYOUTS[0], NO_RULES)
        assert point is not None
        assert lines.line(event, METADATA[0], NO_RULES, point.time_ns) == point_to_line(point)
        old = new
