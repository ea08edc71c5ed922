"""The writer's rules proven in milliseconds: a scripted client and a clock the test moves.

No Home Assistant and no server: `BatchWriter` is driven round by round (`write_due`), the
client answers what each test scripts, and the retry policy reads the test's clock. The
same rules are exercised end to end against real servers in test_writer.py and
test_reliability.py.
"""

from __future__ import annotations

from collections.abc import Callable
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from custom_components.influxdb_ingest.lines.metadata import NO_METADATA
from custom_components.influxdb_ingest.pipeline.retry import CircuitState
from custom_components.influxdb_ingest.pipeline.settings import WriterSettings
from custom_components.influxdb_ingest.pipeline.stats import Problem
from custom_components.influxdb_ingest.pipeline.writer import BatchWriter
from custom_components.influxdb_ingest.target.influx_api import (
    CannotConnect,
    InfluxError,
    PayloadTooLarge,
    ServerBusy,
    WriteRejected,
)

from .support.helpers import state_change

START = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


class Clock:
    """Monotonic time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ScriptedClient:
    """Answers writes from a script (an exception to raise, or None to store), then stores."""

    def __init__(self, answers: list[InfluxError | None] | None = None) -> None:
        self.answers = answers or []
        self.requests: list[list[str]] = []  # every request's lines, answered or not
        self.stored: list[str] = []

    async def write(self, body: bytes, timeout: float) -> None:
        lines = body.decode().splitlines()
        self.requests.append(lines)
        answer = self.answers.pop(0) if self.answers else None
        if isinstance(answer, InfluxError):
            raise answer
        self.stored.extend(lines)


async def _run_now(func: Callable[..., Any], *args: Any) -> Any:
    return func(*args)


def _writer(
    tmp_path: Path, client: ScriptedClient, clock: Clock, wall_clock: Clock | None = None, **settings: Any
) -> BatchWriter:
    writer = BatchWriter(
        client,  # type: ignore[arg-type]  # duck-typed: only `write` is called
        lookup_metadata=lambda _entity_id: NO_METADATA,
        settings=WriterSettings(
            retry_initial_delay=1.0,
            retry_max_delay=300.0,
            circuit_failure_threshold=3,
            circuit_open_seconds=30.0,
            **settings,
        ),
        spool_dir=tmp_path,
        run_in_executor=_run_now,
        clock=clock,
        wall_clock=wall_clock or Clock(),
    )
    return writer


def _add(writer: BatchWriter, count: int, entity_id: str = "sensor.x") -> None:
    for index in range(count):
        writer.backlog.add(state_change(entity_id, str(index), fired=START + dt.timedelta(seconds=index)))


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def test_retry_after_sets_the_next_attempt(tmp_path: Path, clock: Clock) -> None:
    client = ScriptedClient([ServerBusy("HTTP 503: busy", retry_after=120.0)])
    writer = _writer(tmp_path, client, clock)
    _add(writer, 3)
    await writer.async_open()

    await writer.write_due()
    assert len(client.requests) == 1
    # Without Retry-After the first retry would be due within 1 s (initial delay).
    for seconds in (1, 10, 60, 119):
        clock.now = 1000.0 + seconds
        await writer.write_due()
        assert len(client.requests) == 1, f"retried {seconds} s after a Retry-After of 120 s"
    clock.now = 1000.0 + 120
    await writer.write_due()
    assert len(client.requests) == 2
    assert len(client.stored) == 3
    assert writer.points_waiting == 0


async def test_backoff_doubles_then_the_circuit_opens_and_one_probe_closes_it(
    tmp_path: Path, clock: Clock
) -> None:
    client = ScriptedClient([CannotConnect("refused")] * 3)
    writer = _writer(tmp_path, client, clock)
    _add(writer, 2)
    await writer.async_open()

    await writer.write_due()  # failure 1: wait 0.5..1 s
    clock.advance(0.49)
    await writer.write_due()
    assert len(client.requests) == 1
    clock.advance(0.51)
    await writer.write_due()  # failure 2: wait 1..2 s
    assert len(client.requests) == 2
    clock.advance(2.0)
    await writer.write_due()  # failure 3 opens the circuit: at least 30 s
    assert len(client.requests) == 3
    assert writer.policy.state is CircuitState.OPEN
    assert writer.stats.problem is Problem.UNREACHABLE
    clock.advance(29.9)
    await writer.write_due()
    assert len(client.requests) == 3
    clock.advance(0.1)
    await writer.write_due()  # the half-open probe succeeds
    assert len(client.requests) == 4
    assert writer.policy.state is CircuitState.CLOSED
    assert writer.stats.problem is None
    assert writer.stats.write_errors == 3
    assert client.stored == client.requests[-1]
    assert len(client.stored) == 2


async def test_a_batch_stored_while_an_older_one_failed_is_not_sent_again(
    tmp_path: Path, clock: Clock
) -> None:
    client = ScriptedClient([CannotConnect("reset"), None])
    writer = _writer(tmp_path, client, clock, batch_size=2)
    _add(writer, 4)
    await writer.async_open()
    await writer.backlog.fill_all()  # two batches in memory: sent together

    await writer.write_due()
    assert [len(lines) for lines in client.requests] == [2, 2]
    clock.advance(1.0)
    await writer.write_due()
    assert len(client.requests) == 3
    assert client.requests[2] == client.requests[0]  # only the failed one again
    assert sorted(client.stored) == sorted(client.requests[0] + client.requests[1])
    assert writer.points_waiting == 0


async def test_a_too_large_batch_is_split_and_a_single_refused_point_dead_lettered(
    tmp_path: Path, clock: Clock
) -> None:
    too_large = PayloadTooLarge("HTTP 413: too large")
    client = ScriptedClient([too_large, too_large, None, WriteRejected("HTTP 400: bad line")])
    writer = _writer(tmp_path, client, clock)
    _add(writer, 4)
    await writer.async_open()

    await writer.write_due()
    # 4 -> 2 + 2 -> (1 + 1) + 2: the first single point is refused for good.
    assert [len(lines) for lines in client.requests] == [4, 2, 1, 1, 2]
    assert len(client.stored) == 3
    assert writer.stats.points_dead_lettered == 1
    assert writer.stats.write_errors == 0  # nothing to retry
    assert "bad line" in writer.dead_letter_path.read_text()


async def test_stop_spools_what_the_server_did_not_take_and_the_next_writer_sends_it(
    tmp_path: Path, clock: Clock
) -> None:
    client = ScriptedClient([CannotConnect("down")])
    writer = _writer(tmp_path, client, clock)
    _add(writer, 5)
    await writer.async_open()
    await writer.write_due()

    await writer.async_flush_and_stop(timeout=1.0)  # the retry is not due: nothing is sent
    assert len(client.requests) == 1
    assert writer.spool.points == 5
    assert writer.points_in_memory == 0

    again = _writer(tmp_path, client, clock)
    await again.async_open()
    assert again.points_waiting == 5
    await again.write_due()
    assert len(client.stored) == 5
    assert again.spool.points == 0


def _fire_now(writer: BatchWriter, clock: Clock, count: int, first: int) -> None:
    fired = dt.datetime.fromtimestamp(clock.now, dt.UTC)
    for number in range(first, first + count):
        writer.backlog.add(state_change(f"sensor.s{number % 5}", str(number), fired=fired))


async def test_while_failing_no_point_waits_in_memory_longer_than_the_loss_window(
    tmp_path: Path, clock: Clock
) -> None:
    """Rounds come every second (the flush interval), as the loop runs them; time moves in
    half seconds and events come all the time: at every moment each point is either in
    memory for at most the window, or on disk, and a window's points go in one spill."""
    clock.now = START.timestamp()
    client = ScriptedClient([CannotConnect("refused")] * 1000)
    writer = _writer(tmp_path, client, clock, wall_clock=clock, flush_interval=1.0, loss_window=5.0)
    await writer.async_open()
    fired = 0
    next_round = clock.now
    oldest_ages = []
    for _ in range(60):  # 30 s of outage
        _fire_now(writer, clock, 7, fired)
        fired += 7
        if clock.now >= next_round:
            await writer.write_due()
            next_round = clock.now + writer.memory.round_interval
        since = writer.backlog.oldest_in_memory_since
        oldest_ages.append(0.0 if since is None else clock.now - since)
        assert writer.points_in_memory + writer.spool.points == fired
        clock.advance(0.5)
    assert max(oldest_ages) <= 5.0
    assert max(oldest_ages) >= 3.5  # not spilled every round: a window's worth at a time
    assert writer.spool.points > 0
    assert writer.stats.write_errors > 0
    # One sync per spill (plus the new segment's directory), a spill per window or so.
    assert writer.spool.syncs <= 30 / 4 + 2

    client.answers = []  # the server is back: everything is written, oldest first
    clock.advance(300)
    await writer.write_due()
    assert len(client.stored) == fired
    assert writer.points_waiting == 0


async def test_rounds_come_at_least_once_per_loss_window_while_failing(tmp_path: Path, clock: Clock) -> None:
    clock.now = START.timestamp()
    client = ScriptedClient([CannotConnect("refused")])
    writer = _writer(tmp_path, client, clock, wall_clock=clock, flush_interval=30.0, loss_window=5.0)
    await writer.async_open()
    assert writer.memory.round_interval == 30.0  # healthy: the flush interval
    _fire_now(writer, clock, 3, 0)
    await writer.write_due()  # fails
    assert writer.memory.round_interval == 5.0
    # The next round is a whole window away: what is in memory goes to disk now.
    assert writer.points_in_memory == 0
    assert writer.spool.points == 3


async def test_a_healthy_target_gets_points_each_round_and_nothing_is_spooled(
    tmp_path: Path, clock: Clock
) -> None:
    clock.now = START.timestamp()
    client = ScriptedClient()
    writer = _writer(tmp_path, client, clock, wall_clock=clock, loss_window=1.0)
    await writer.async_open()
    for second in range(10):
        _fire_now(writer, clock, 5, second * 5)
        await writer.write_due()
        assert len(client.stored) == (second + 1) * 5
        clock.advance(1.0)
    assert writer.spool.points == 0
    assert writer.spool.size_bytes == 0


async def test_live_points_wait_behind_a_long_replay_no_longer_than_the_loss_window(
    tmp_path: Path, clock: Clock
) -> None:
    """Each write of the replay takes 2 s, and live events keep coming while it lasts."""
    clock.now = START.timestamp()
    down = ScriptedClient([CannotConnect("refused")] * 1000)
    writer = _writer(tmp_path, down, clock, wall_clock=clock, batch_size=10)
    await writer.async_open()
    for second in range(20):  # an outage, spilled window by window
        _fire_now(writer, clock, 10, second * 10)
        await writer.write_due()
        clock.advance(1.0)
    assert writer.spool.points > 150
    ages: list[float] = []
    fired = [200]

    class SlowServer(ScriptedClient):
        async def write(self, body: bytes, timeout: float) -> None:
            since = writer.backlog.oldest_in_memory_since
            ages.append(0.0 if since is None else clock.now - since)
            clock.advance(2.0)
            if writer.spool.points:  # live events while the replay lasts
                _fire_now(writer, clock, 2, fired[0])
                fired[0] += 2
            await super().write(body, timeout)

    slow = SlowServer()
    writer.delivery.client = slow  # type: ignore[assignment]  # duck-typed like the scripted client
    clock.advance(300)
    await writer.write_due()  # the whole replay, then the live points
    assert len(ages) > 15
    assert max(ages) <= 5.0
    assert sorted(slow.stored) == sorted(set(slow.stored))
    assert len(slow.stored) == fired[0]
