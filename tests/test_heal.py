"""Healing field type conflicts: message parsing, value conversion, line surgery."""

from __future__ import annotations

from hypothesis import given, strategies as st
import pytest

from custom_components.influxdb_ingest.lines.line_protocol import join_line, point_to_line, split_line
from custom_components.influxdb_ingest.lines.point import Point
from custom_components.influxdb_ingest.pipeline.retry import CircuitState, RetryPolicy
from custom_components.influxdb_ingest.target.heal import TypeHealer, convert_value

CONFLICT = (
    'HTTP 400: partial write: field type conflict: input field "attr_dynamics" on measurement'
    ' "home_assistant_events" is type string, already exists as type {kind} dropped=3'
)


@pytest.mark.parametrize(
    ("raw", "server_type", "converted"),
    [
        ('"true"', "boolean", "true"),
        ('"false"', "boolean", "false"),
        ('"moving"', "boolean", None),
        ('""', "boolean", None),
        ('"21"', "integer", "21i"),
        ('"-3"', "integer", "-3i"),
        ('"2.5"', "integer", None),
        ('"7"', "unsigned", "7u"),
        ('"-7"', "unsigned", None),
        ('"2.5"', "float", "2.5"),
        ('"nan"', "float", None),
        ('"x"', "string", '"x"'),
        ("21.5", "string", '"21.5"'),
        ("21.0", "integer", "21i"),
        ("21.5", "integer", None),
        ("3.0", "unsigned", "3u"),
        ("1.5", "boolean", None),
        ("21.5", "float", "21.5"),
        ("true", "boolean", "true"),
        ("true", "string", None),
        ("5i", "integer", "5i"),
    ],
)
def test_conversions_never_lose_data(raw: str, server_type: str, converted: str | None) -> None:
    assert convert_value(raw, server_type) == converted


def test_learns_from_the_server_message_once() -> None:
    healer = TypeHealer()
    assert healer.learn(CONFLICT.format(kind="boolean"))
    assert not healer.learn(CONFLICT.format(kind="boolean"))
    assert healer.learn(CONFLICT.format(kind="integer"))  # the server's answer changed
    assert not healer.learn("HTTP 400: unable to parse 'x': invalid field format")


def test_apply_converts_or_refuses_only_the_conflicting_field() -> None:
    healer = TypeHealer()
    healer.learn(CONFLICT.format(kind="boolean"))
    lines = [
        'home_assistant_events,entity_id=a state="1",attr_dynamics="true",attr_x="true" 1\n',
        'home_assistant_events,entity_id=b state="2",attr_dynamics="moving" 2\n',
        'home_assistant_events,entity_id=c state="3" 3\n',
        'other,entity_id=d attr_dynamics="moving" 4\n',
    ]
    accepted, refused = healer.apply(lines)
    assert accepted == [
        'home_assistant_events,entity_id=a state="1",attr_dynamics=true,attr_x="true" 1\n',
        'home_assistant_events,entity_id=c state="3" 3\n',
        'other,entity_id=d attr_dynamics="moving" 4\n',
    ]
    assert refused == [(lines[1], CONFLICT.format(kind="boolean"))]


_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)


@given(
    tags=st.dictionaries(_TEXT.filter(lambda key: key.rstrip("\\")), _TEXT, max_size=3),
    fields=st.dictionaries(
        _TEXT.filter(lambda key: key.rstrip("\\")),
        st.one_of(_TEXT, st.floats(allow_nan=False, allow_infinity=False)),
        min_size=1,
        max_size=4,
    ),
)
def test_split_line_reads_back_what_point_to_line_wrote(
    tags: dict[str, str], fields: dict[str, object]
) -> None:
    line = point_to_line(Point("home_assistant_events", tags, fields, 123)) + "\n"  # type: ignore[arg-type]
    head, values, tail = split_line(line)
    assert len(values) == len(fields)
    assert tail == " 123\n"
    assert join_line(head, values, tail) == line


def test_circuit_opens_after_the_threshold_probes_and_closes() -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=300.0, failure_threshold=3, open_seconds=30.0)
    delays = [policy.record_failure() for _ in range(3)]
    assert delays[0] <= 1.0
    assert delays[1] <= 2.0
    assert policy.state is CircuitState.OPEN
    assert delays[2] >= 30.0  # open: no attempt before the half-open probe
    policy.probing()
    assert policy.state is CircuitState.HALF_OPEN
    assert policy.record_failure() >= 30.0
    assert policy.state is CircuitState.OPEN
    assert policy.times_opened == 2  # a failed probe opens it again
    assert policy.record_failure(retry_after=5.0) == 5.0
    policy.record_success()
    assert policy.state is CircuitState.CLOSED
    assert policy.consecutive_failures == 0


def test_backoff_is_capped() -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=10.0, failure_threshold=100, open_seconds=30.0)
    assert max(policy.record_failure() for _ in range(20)) <= 10.0
    assert policy.record_failure(retry_after=999.0) == 10.0


def test_a_type_is_kept_per_shard_window_and_a_guess_never_refuses() -> None:
    healer = TypeHealer(window_ns=100)
    assert healer.learn(CONFLICT.format(kind="boolean"), window=1)  # the shard of times 100-199
    moving = 'home_assistant_events,entity_id=a attr_dynamics="moving" {}\n'
    true = 'home_assistant_events,entity_id=a attr_dynamics="true" {}\n'
    # Its own window: the server said boolean there; "moving" cannot be one.
    assert healer.heal(moving.format(150)) == (moving.format(150), CONFLICT.format(kind="boolean"))
    assert healer.heal(true.format(150)) == (true.format(150).replace('"true"', "true"), None)
    # Another window: a guess from the nearest, only where it loses nothing.
    assert healer.heal(moving.format(950)) == (moving.format(950), None)
    assert healer.heal(true.format(950)) == (true.format(950).replace('"true"', "true"), None)
    # What the other shard said is kept apart, and wins in its own window.
    assert healer.learn(CONFLICT.format(kind="string"), window=9)
    assert healer.heal(true.format(950)) == (true.format(950), None)
    assert healer.heal(true.format(150)) == (true.format(150).replace('"true"', "true"), None)
    assert not healer.learn(CONFLICT.format(kind="string"), window=9)  # nothing new: no loop
