"""Zero loss: fault scenarios streamed through Home Assistant into the real InfluxDB 1.x,
and the same scenarios into the InfluxDB 3 Core stand-in (tests/support/standin_influxdb3.py).

Every scenario writes through a fault proxy (tests/support/fault_proxy.py) that keeps the
body of every write request, and counts what landed twice over: from what the server stored
(nothing lost), and from what the server accepted, point by point (nothing sent again
without a reason the scenario caused: the servers overwrite a point sent twice, so only the
requests can show a resend). `scripts/reliability` runs them and writes the figures to
docs/reliability.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Iterator
import contextlib
from pathlib import Path
import time
import tracemalloc
from typing import Any

from homeassistant import loader
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_test_home_assistant

from custom_components.influxdb_ingest.const import DOMAIN
from custom_components.influxdb_ingest.pipeline.stats import DropReason, WriterStats

from .support.fault_proxy import Delay, FaultProxy, Forward, Reset, Status
from .support.helpers import MEASUREMENT, setup_entry, wait_for
from .support.reliability import (
    ANSWER_LOST,
    AnswersHeard,
    Figures,
    InfluxDB1Target,
    InfluxDB3Target,
    ScenarioServer,
    Sends,
    assert_each_point_accepted_once_or_resent_for_a_reason,
    count_sends,
)
from .support.servers import InfluxDB1Server

# Short timings so outages are seconds, not minutes; the mechanisms are the same.
FAST = {
    "flush_interval": 0.1,
    "batch_size": 100,
    "retry_initial_delay": 0.1,
    "retry_max_delay": 1.0,
    "circuit_open_seconds": 1.0,
    "write_timeout": 2.0,
    "shutdown_timeout": 2.0,
}


# The servers every scenario runs against: one more is one more entry (a ScenarioServer
# class in tests/support/reliability.py, made from Home Assistant and a scratch directory).
SERVERS: dict[str, Callable[[HomeAssistant, Path], ScenarioServer]] = {
    "1.x": lambda hass, directory: InfluxDB1Target(
        InfluxDB1Server(directory / "influxdb", auth=False), hass.async_add_executor_job
    ),
    # No InfluxDB 3 server can run on this machine: the Core stand-in built from its source.
    "3.x": lambda _hass, _directory: InfluxDB3Target(),
    # The 1.x and 2.x types pointed at the newest 3.x: its all-or-nothing compatibility APIs.
    "1.x-type-at-3.x": lambda _hass, _directory: InfluxDB3Target(
        name="InfluxDB 3 Core (stand-in), 1.x type", row="c", flavour="1"
    ),
    "2.x-type-at-3.x": lambda _hass, _directory: InfluxDB3Target(
        name="InfluxDB 3 Core (stand-in), 2.x type", row="d", flavour="2"
    ),
}


@pytest.fixture(params=list(SERVERS))
async def server(
    request: pytest.FixtureRequest, hass: HomeAssistant, tmp_path: Path
) -> AsyncGenerator[ScenarioServer]:
    """The server a scenario writes to, not started."""
    target = SERVERS[request.param](hass, tmp_path)
    yield target
    await target.stop()


@pytest.fixture
async def proxy(server: ScenarioServer) -> AsyncGenerator[FaultProxy]:
    """A FaultProxy in front of `server` (started or not): every write goes through it."""
    fault_proxy = FaultProxy(upstream=server.url)
    await fault_proxy.start()
    yield fault_proxy
    await fault_proxy.stop()


@contextlib.contextmanager
def peak_memory() -> Iterator[list[float]]:
    """Peak Python memory (MiB) allocated while the block runs, Home Assistant included
    (and the InfluxDB 3 stand-in, which runs in this process)."""
    tracemalloc.start()
    result = [0.0]
    try:
        yield result
    finally:
        result[0] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
        tracemalloc.stop()


async def stream(hass: HomeAssistant, start: int, count: int, per_tick: int = 50, tick: float = 0.05) -> int:
    """Fire `count` numbered state changes, paced like a busy home; return the next number."""
    for number in range(start, start + count):
        hass.states.async_set(f"sensor.stream_{number % 20}", str(number), {"seq": number})
        if (number + 1) % per_tick == 0:
            await asyncio.sleep(tick)
    return start + count


async def wait_until_stored(server: ScenarioServer, expected: int) -> tuple[int, int]:
    """Wait until `server` holds `expected` points; return (points stored, distinct event numbers)."""

    async def check() -> tuple[int, int] | None:
        stored = await server.counts()
        return stored if stored[0] >= expected else None

    return await wait_for(check, timeout=90, interval=0.5)  # type: ignore[no-any-return]


def save_figures(
    server: ScenarioServer,
    scenario: str,
    counted: tuple[int, int, Sends],
    stats: WriterStats | None,
    peak: float,
    notes: str,
    on_influxdb3: str = "",
) -> None:
    """Record a scenario's figures for scripts/reliability: `scenario` is "<number>. <title>",
    `counted` (fired, stored, what the server accepted), `on_influxdb3` what the 3.x row does
    differently. Without `stats` (a restarted Home Assistant), dropped is fired - stored."""
    number, title = scenario.split(". ", 1)
    fired, stored, sends = counted
    notes = f"{notes}; {sends.describe()}"
    if server.row and on_influxdb3:
        notes += f"; {on_influxdb3}"
    scenario = f"{number}{server.row}. {title}"
    dead, dropped = (stats.points_dead_lettered, stats.points_dropped) if stats else (0, fired - stored)
    Figures(scenario, server.name, fired, stored, sends.total_resends, dead, dropped, peak, notes).save()


async def test_kill_9_and_restarts_during_a_stream_lose_nothing_and_send_each_point_once(
    hass: HomeAssistant, server: ScenarioServer, proxy: FaultProxy
) -> None:
    await server.start()
    with peak_memory() as peak:
        # A small memory queue: the outages spill to the disk spool too.
        entry = await setup_entry(hass, server.entry_data(proxy.url), {**FAST, "max_queue_size": 300})
        fired = 0
        for _ in range(3):
            fired = await stream(hass, fired, 500)
            await server.crash()
            fired = await stream(hass, fired, 500)
            await server.start()
        fired = await stream(hass, fired, 500)
        stored, distinct = await wait_until_stored(server, fired)
    writer = entry.runtime_data.writer
    assert stored == distinct == fired == 3500
    assert writer.stats.write_errors > 0  # the crashes were felt
    assert writer.stats.points_dropped == writer.stats.points_dead_lettered == 0
    sends = count_sends(await proxy.settled_writes())
    assert_each_point_accepted_once_or_resent_for_a_reason(sends, range(fired))
    save_figures(
        server,
        "1. kill -9 and restart InfluxDB 3 times during a stream",
        (fired, stored, sends),
        writer.stats,
        peak[0],
        f"{writer.stats.write_errors} failed writes, retried",
        on_influxdb3="a crash cuts every connection unanswered, what was acknowledged stays (the WAL)",
    )
    await hass.config_entries.async_unload(entry.entry_id)


async def _restart_with_backlog(
    hass: HomeAssistant,
    server: ScenarioServer,
    proxy: FaultProxy,
    damage: Callable[[Path], None] | None = None,
    expect_lost: int = 0,
) -> tuple[int, int, int, int, float, Sends]:
    """Fire a burst while `server` is down, stop Home Assistant, start a new one on the same
    config dir, optionally damage the spool in between, bring the server up, count what lands.
    Returns (fired, waiting after restart, torn records, stored, peak memory, what the server
    accepted through `proxy`)."""
    entry = MockConfigEntry(domain=DOMAIN, data=server.entry_data(proxy.url), options=FAST, title="restart")
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    fired = await stream(hass, 0, 1000, per_tick=1000)  # one burst: ten batches of 100
    await hass.async_block_till_done()
    # Home Assistant's stop event, as `hass.async_stop()` fires it (the test harness owns
    # this instance's full shutdown): nothing can be written, so everything is spooled.
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert entry.runtime_data.writer.spool.points == fired
    spool_dir = Path(hass.config.path(DOMAIN, entry.entry_id))
    if damage:
        damage(spool_dir)

    with peak_memory() as peak:
        async with async_test_home_assistant(config_dir=hass.config.config_dir) as second:
            second.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
            again = MockConfigEntry(
                domain=DOMAIN,
                data=server.entry_data(proxy.url),
                options=FAST,
                title="restart",
                entry_id=entry.entry_id,
            )
            again.add_to_hass(second)
            assert await second.config_entries.async_setup(again.entry_id)
            writer = again.runtime_data.writer
            # What the restart found on disk: still waiting, or dropped as damaged (its first
            # round may already have read a damaged record; nothing is written while InfluxDB is down).
            waiting = writer.points_waiting + writer.stats.dropped[DropReason.SPOOL_CORRUPT]
            try:
                await server.start()
                stored, distinct = await wait_until_stored(server, waiting - expect_lost)
                assert distinct == stored
                await wait_for(lambda: writer.points_waiting == 0)
                assert writer.stats.dropped[DropReason.SPOOL_CORRUPT] == expect_lost
                torn = writer.stats.spool_torn_records
                await second.config_entries.async_unload(again.entry_id)
                await asyncio.sleep(0.5)
                assert await server.counts() == (stored, distinct)
            finally:
                await server.stop()
                await second.async_stop(force=True)  # the harness leaves stopping to us
                await asyncio.sleep(0)  # lets the harness forget this instance
    return fired, waiting, torn, stored, peak[0], count_sends(await proxy.settled_writes())


async def test_backlog_survives_a_home_assistant_restart_while_influxdb_is_down_each_point_sent_once(
    hass: HomeAssistant, server: ScenarioServer, proxy: FaultProxy
) -> None:
    fired, waiting, torn, stored, peak, sends = await _restart_with_backlog(hass, server, proxy)
    assert waiting == fired == 1000
    assert torn == 0
    assert stored == fired
    assert_each_point_accepted_once_or_resent_for_a_reason(sends, range(fired))
    assert sends.total_resends == 0  # nothing in this scenario loses an answer
    save_figures(
        server,
        "2. stop Home Assistant with a backlog (InfluxDB down), start again, InfluxDB back",
        (fired, stored, sends),
        None,
        peak,
        "every point spooled at stop and replayed",
    )


async def test_torn_spool_keeps_everything_before_the_tear(
    hass: HomeAssistant, server: ScenarioServer, proxy: FaultProxy, caplog: pytest.LogCaptureFixture
) -> None:
    def tear(spool_dir: Path) -> None:
        last = sorted(spool_dir.glob("*.seg"))[-1]
        with last.open("r+b") as file:  # a crash in the middle of the last append
            file.truncate(last.stat().st_size - 100)

    fired, waiting, torn, stored, peak, sends = await _restart_with_backlog(hass, server, proxy, tear)
    assert fired == 1000
    assert torn == 1
    assert waiting == stored == 900  # the torn batch of 100 is cut off, the rest lands
    assert "torn record" in caplog.text
    assert_each_point_accepted_once_or_resent_for_a_reason(sends, range(900))
    assert set(sends.accepted) == set(range(900))  # the torn batch was the newest
    save_figures(
        server,
        "3. spool's last segment truncated mid-record, restart",
        (fired, stored, sends),
        None,
        peak,
        "the torn batch of 100 is reported and cut off; all before it lands",
    )


async def test_a_damaged_spool_record_is_dropped_and_counted_the_rest_lands(
    hass: HomeAssistant, server: ScenarioServer, proxy: FaultProxy, caplog: pytest.LogCaptureFixture
) -> None:
    def flip_a_byte(spool_dir: Path) -> None:
        first = sorted(spool_dir.glob("*.seg"))[0]
        data = bytearray(first.read_bytes())
        data[60] ^= 0xFF  # inside the first record's payload: its checksum no longer matches
        first.write_bytes(bytes(data))

    fired, waiting, torn, stored, _, sends = await _restart_with_backlog(
        hass, server, proxy, flip_a_byte, expect_lost=100
    )
    assert (fired, waiting, torn) == (1000, 1000, 0)
    assert stored == 900  # the damaged batch of 100 is dropped (counted), the rest lands
    assert_each_point_accepted_once_or_resent_for_a_reason(sends, range(100, 1000))
    assert "Spool record dropped" in caplog.text


async def test_slow_server_resets_503_429_and_outage_lose_nothing_and_resend_only_what_timed_out(
    hass: HomeAssistant, server: ScenarioServer, proxy: FaultProxy
) -> None:
    """2000 events while the proxy answers slowly, resets, refuses with 503/429 +
    Retry-After and 500, then has an outage: zero loss, Retry-After honoured, and the only
    points sent again are those of the write that timed out while the server stored it."""
    await server.start()
    with peak_memory() as peak:
        entry = await setup_entry(
            hass,
            server.entry_data(proxy.url),
            {**FAST, "write_timeout": 0.5, "circuit_failure_threshold": 3},
        )
        writer = entry.runtime_data.writer
        heard = AnswersHeard()
        heard.listen(writer.delivery.client)
        proxy.inject(
            Delay(1.0),  # slower than the write timeout: the server may still store it
            Reset(),
            Reset(),
            Status(503, {"Retry-After": "1"}),
            Forward(),
            Status(429, {"Retry-After": "0.5"}),
            Status(500),
        )
        fired = await stream(hass, 0, 1000)
        proxy.down = True  # an outage: every write is reset until it ends
        fired = await stream(hass, fired, 500)
        await wait_for(lambda: writer.policy.times_opened >= 1)
        proxy.down = False
        fired = await stream(hass, fired, 500)
        stored, distinct = await wait_until_stored(server, fired)
    outcomes = proxy.log

    assert stored == distinct == fired == 2000
    assert writer.policy.state == "closed"
    sends = count_sends(await proxy.settled_writes(), heard=heard)
    assert_each_point_accepted_once_or_resent_for_a_reason(sends, range(fired))
    # The delayed write was stored after the writer gave up on it: its points came again.
    assert sends.resends[ANSWER_LOST] > 0
    for status, wait in (("status 503", 1.0), ("status 429", 0.5)):
        answered = next(arrived for arrived, outcome in outcomes if outcome == status)
        # Only the request sent while the refused one was on its way may come before the
        # server's wait is over. It is counted, not timed: when it arrives depends on the
        # machine's load (the writer serializes the next batch between the two sends), and
        # a writer ignoring the wait would send a batch every ~0.1 s in it.
        early = [arrived for arrived, _ in outcomes if 0 < arrived - answered < wait * 0.95]
        assert len(early) <= 1, f"Retry-After ignored after {status}"
        assert any(arrived - answered >= wait * 0.95 for arrived, _ in outcomes)
    save_figures(
        server,
        "4. slow server, connection resets, 503 and 429 with Retry-After, outage (proxy)",
        (fired, stored, sends),
        writer.stats,
        peak[0],
        f"Retry-After honoured; circuit opened {writer.policy.times_opened}x and closed again",
    )
    await hass.config_entries.async_unload(entry.entry_id)


async def test_replay_two_at_a_time_sends_each_spooled_batch_once(
    hass: HomeAssistant, server: ScenarioServer, proxy: FaultProxy
) -> None:
    """Replay sends two spooled batches at once; when one of them fails, the other one,
    stored meanwhile, is not sent again (and the failed one is)."""
    await server.start()
    entry = await setup_entry(hass, server.entry_data(proxy.url), {**FAST, "max_queue_size": 100})
    writer = entry.runtime_data.writer
    proxy.down = True
    fired = await stream(hass, 0, 1000)
    await wait_for(lambda: writer.spool.points >= 800)
    # The probe goes through; of the next two, sent together, the first to arrive fails.
    proxy.inject(Forward(), Status(500))
    proxy.down = False
    stored, distinct = await wait_until_stored(server, fired)

    assert stored == distinct == fired
    writes = await proxy.settled_writes()
    assert proxy.count("status 500") == 1
    # Every batch reached the server once. Counted by their bodies, not as fired // 100: a
    # round that finds fewer than 100 events waiting sends what it finds, so where batches
    # are cut depends on timing (a loaded run had a first batch of 50: 11 writes).
    forwarded = [write.body for write in writes if "forwarded" in write.outcome]
    assert len(forwarded) == len(set(forwarded))
    sends = count_sends(writes)
    assert_each_point_accepted_once_or_resent_for_a_reason(sends, range(fired))
    assert sends.total_resends == 0
    await hass.config_entries.async_unload(entry.entry_id)


# How each 3.x row learns the type (1.x says `dropped=N`). The 1.x and 2.x APIs of 3.x store
# nothing of a request with one bad line (`accept_partial: Some(false)`, influxdb3_types/src/http.rs
# v3.10.1:455): `/write` names the first bad line, `/api/v2/write` only says why (3.9 and later).
_CONFLICT_ANSWERS = {
    "b": "3.x names each refused line (`invalid column type for column 'attr_dynamics'`)"
    " where 1.x says `dropped=N`",
    "c": "3.x's `/write` refuses the whole request and names its first bad line"
    " (`invalid column type for column 'attr_dynamics'`); the type is learnt from it, the rest sent again",
    "d": "3.x's `/api/v2/write` refuses the whole request and names no line; the type is learnt from"
    " its message (`line protocol parse failed: invalid column type for column 'attr_dynamics'`)",
}


async def test_field_type_conflict_with_another_writers_data_loses_nothing(
    hass: HomeAssistant, server: ScenarioServer, proxy: FaultProxy
) -> None:
    await server.start()
    # Another writer stored attr_dynamics as a boolean (1.x: in the current shard; 3.x: in
    # the table's schema, for good).
    await server.write_as_another_tool(
        f"{MEASUREMENT},entity_id=sensor.other attr_dynamics=true {time.time_ns()}"
    )
    # Text attributes, so they go to attr_dynamics (a boolean attribute would be bool_dynamics).
    dynamics: list[Any] = ["true", "moving", "false", ""]
    with peak_memory() as peak:
        entry = await setup_entry(hass, server.entry_data(proxy.url), FAST)
        writer = entry.runtime_data.writer
        for number in range(1000):
            hass.states.async_set(
                f"sensor.seed_{number % 5}", str(number), {"dynamics": dynamics[number % 4], "seq": number}
            )
            if number % 100 == 99:
                await asyncio.sleep(0.05)

        async def settled() -> tuple[int, int] | None:
            stored = await server.counts()  # (the other writer's point has no `state`: not counted)
            return stored if stored[0] + writer.stats.points_dead_lettered >= 1000 else None

        stored, distinct = await wait_for(settled, timeout=60)
    assert stored == distinct == 500  # true/false healed to booleans
    assert writer.stats.points_dead_lettered == 500  # "moving" and "" cannot be booleans
    assert len(writer.dead_letter_path.read_text().splitlines()) == 500
    assert stored + writer.stats.points_dead_lettered == 1000
    assert "attr_dynamics" in writer.dead_letter_path.read_text()  # the server's message names it
    sends = count_sends(await proxy.settled_writes())
    # "true" and "false" (every even number) healed and accepted; the rest refused for good.
    assert_each_point_accepted_once_or_resent_for_a_reason(sends, range(0, 1000, 2))
    save_figures(
        server,
        "5. field type conflict with another writer's data (attr_dynamics boolean vs text)",
        (1000, stored, sends),
        writer.stats,
        peak[0],
        "true/false healed to booleans; the rest in the dead-letter file with the server's message",
        on_influxdb3=_CONFLICT_ANSWERS.get(server.row, ""),
    )
    await hass.config_entries.async_unload(entry.entry_id)


async def test_spool_budget_exhaustion_drops_oldest_with_an_exact_count(
    hass: HomeAssistant, server: ScenarioServer, proxy: FaultProxy, caplog: pytest.LogCaptureFixture
) -> None:
    budget = 256 * 1024
    with peak_memory() as peak:  # the server is down until the end
        entry = await setup_entry(
            hass, server.entry_data(proxy.url), {**FAST, "max_queue_size": 1000, "spool_max_bytes": budget}
        )
        writer = entry.runtime_data.writer
        heard = AnswersHeard()  # a replayed write that timed out only for the writer (a loaded machine)
        heard.listen(writer.delivery.client)
        fired = await stream(hass, 0, 20_000, per_tick=500, tick=0.15)
        await wait_for(lambda: writer.points_in_memory <= 1000)
        dropped = writer.stats.dropped[DropReason.SPOOL_BUDGET]
        assert dropped > 0
        assert writer.stats.dropped[DropReason.QUEUE_FULL] == 0
        assert dropped + writer.points_waiting == fired  # every point accounted for
        assert writer.spool.size_bytes <= budget
        assert caplog.text.count("over its size budget") == 1  # once per episode
    await server.start()
    stored, distinct = await wait_until_stored(server, fired - dropped)
    assert stored == distinct == fired - dropped
    assert writer.stats.points_dropped == dropped  # nothing dropped for another reason
    await hass.config_entries.async_unload(entry.entry_id)
    assert peak[0] < 64
    sends = count_sends(await proxy.settled_writes(), heard=heard)
    assert_each_point_accepted_once_or_resent_for_a_reason(sends, ())
    # The oldest were dropped: what was accepted is the newest fired - dropped, each once.
    assert set(sends.accepted) == set(range(dropped, fired))
    save_figures(
        server,
        "6. outage longer than a 256 KiB spool budget",
        (fired, stored, sends),
        writer.stats,
        peak[0],
        f"oldest dropped, counted exactly; spool stayed <= {budget // 1024} KiB",
    )
