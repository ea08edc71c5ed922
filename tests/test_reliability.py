"""Zero loss: fault scenarios streamed through Home Assistant into the real InfluxDB 1.x
(and, for scenario 4b, into the InfluxDB 3 Core stand-in, tests/standin_influxdb3.py).

Every scenario counts with real queries what landed; `scripts/reliability` runs them and
writes the figures to docs/reliability.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
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
from custom_components.influxdb_ingest.stats import DropReason

from .fault_proxy import Delay, FaultProxy, Forward, Reset, Status
from .helpers import MEASUREMENT, setup_entry, v1_entry_data, wait_for
from .reliability import Figures
from .servers import InfluxDB1Server
from .standin_influxdb3 import InfluxDB3StandIn

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
DB = "reliability"


@contextlib.contextmanager
def peak_memory() -> Iterator[list[float]]:
    """Peak Python memory (MiB) allocated while the block runs, Home Assistant included."""
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


def counts(server: InfluxDB1Server, db: str) -> tuple[int, int]:
    """(points stored, distinct event numbers among them): equal means no duplicates."""

    def scalar(q: str) -> int:
        series = server.query(q, db)["results"][0].get("series")
        return int(series[0]["values"][0][1]) if series else 0

    return (
        scalar(f"SELECT count(state) FROM {MEASUREMENT}"),
        scalar(f"SELECT count(distinct(attr_seq)) FROM {MEASUREMENT}"),
    )


async def wait_until_counted(
    count: Callable[[], Awaitable[tuple[int, int]]], expected: int
) -> tuple[int, int]:
    """Wait until `count()` (points stored, distinct event numbers) reports `expected` points."""

    async def check() -> tuple[int, int] | None:
        stored = await count()
        return stored if stored[0] >= expected else None

    return await wait_for(check, timeout=90, interval=0.5)  # type: ignore[no-any-return]


async def wait_until_stored(
    hass: HomeAssistant, server: InfluxDB1Server, db: str, expected: int
) -> tuple[int, int]:
    return await wait_until_counted(lambda: hass.async_add_executor_job(counts, server, db), expected)


async def start_server(hass: HomeAssistant, server: InfluxDB1Server) -> None:
    await hass.async_add_executor_job(server.start)
    await hass.async_add_executor_job(server.query, f"CREATE DATABASE {DB}", None, "POST")


def v1(server: InfluxDB1Server) -> dict[str, Any]:
    return {"api_version": "1", "url": server.url, "database": DB, "verify_ssl": True}


async def test_kill_9_and_restarts_during_a_stream_lose_nothing(hass: HomeAssistant, tmp_path: Path) -> None:
    server = InfluxDB1Server(tmp_path / "influxdb", auth=False)
    await start_server(hass, server)
    try:
        with peak_memory() as peak:
            # A small memory queue: the outages spill to the disk spool too.
            entry = await setup_entry(hass, v1(server), {**FAST, "max_queue_size": 300})
            fired = 0
            for _ in range(3):
                fired = await stream(hass, fired, 500)
                await hass.async_add_executor_job(server.kill)
                fired = await stream(hass, fired, 500)
                await start_server(hass, server)
            fired = await stream(hass, fired, 500)
            stored, distinct = await wait_until_stored(hass, server, DB, fired)
        writer = entry.runtime_data.writer
        assert stored == fired == 3500
        assert distinct == stored
        assert writer.stats.write_errors > 0  # the kills were felt
        assert writer.stats.points_dropped == 0
        Figures(
            "1. kill -9 and restart InfluxDB 3 times during a stream",
            fired,
            stored,
            stored - distinct,
            writer.stats.points_dead_lettered,
            writer.stats.points_dropped,
            peak[0],
            f"{writer.stats.write_errors} failed writes, retried",
        ).save()
        await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await hass.async_add_executor_job(server.stop)


async def _restart_with_backlog(
    hass: HomeAssistant,
    tmp_path: Path,
    damage: Callable[[Path], None] | None = None,
    expect_lost: int = 0,
) -> tuple[int, int, int, int, float]:
    """Fire a burst while InfluxDB is down, stop Home Assistant, start a new one on the same
    config dir, optionally damage the spool in between, bring InfluxDB up, count what lands.
    Returns (fired, waiting after restart, torn records, stored, peak memory)."""
    server = InfluxDB1Server(tmp_path / "influxdb", auth=False)  # not started: down
    entry = MockConfigEntry(domain=DOMAIN, data=v1(server), options=FAST, title="restart")
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
                domain=DOMAIN, data=v1(server), options=FAST, title="restart", entry_id=entry.entry_id
            )
            again.add_to_hass(second)
            assert await second.config_entries.async_setup(again.entry_id)
            writer = again.runtime_data.writer
            waiting = writer.points_waiting
            try:
                await start_server(second, server)
                stored, distinct = await wait_until_stored(second, server, DB, waiting - expect_lost)
                assert distinct == stored
                await wait_for(lambda: writer.points_waiting == 0)
                assert writer.stats.dropped[DropReason.SPOOL_CORRUPT] == expect_lost
                torn = writer.stats.spool_torn_records
                await second.config_entries.async_unload(again.entry_id)
                await asyncio.sleep(0.5)
                assert await second.async_add_executor_job(counts, server, DB) == (stored, distinct)
            finally:
                await second.async_add_executor_job(server.stop)
                await second.async_stop(force=True)  # the harness leaves stopping to us
                await asyncio.sleep(0)  # lets the harness forget this instance
    return fired, waiting, torn, stored, peak[0]


async def test_backlog_survives_a_home_assistant_restart_while_influxdb_is_down(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    fired, waiting, torn, stored, peak = await _restart_with_backlog(hass, tmp_path)
    assert waiting == fired == 1000
    assert torn == 0
    assert stored == fired
    Figures(
        "2. stop Home Assistant with a backlog (InfluxDB down), start again, InfluxDB back",
        fired,
        stored,
        0,
        0,
        0,
        peak,
        "every point spooled at stop and replayed once",
    ).save()


async def test_torn_spool_keeps_everything_before_the_tear(
    hass: HomeAssistant, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def tear(spool_dir: Path) -> None:
        last = sorted(spool_dir.glob("*.seg"))[-1]
        with last.open("r+b") as file:  # a crash in the middle of the last append
            file.truncate(last.stat().st_size - 100)

    fired, waiting, torn, stored, peak = await _restart_with_backlog(hass, tmp_path, tear)
    assert fired == 1000
    assert torn == 1
    assert waiting == stored == 900  # the torn batch of 100 is cut off, the rest lands
    assert "torn record" in caplog.text
    Figures(
        "3. spool's last segment truncated mid-record, restart",
        fired,
        stored,
        0,
        0,
        fired - stored,
        peak,
        "the torn batch of 100 is reported and cut off; all before it lands",
    ).save()


async def test_a_damaged_spool_record_is_dropped_and_counted_the_rest_lands(
    hass: HomeAssistant, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def flip_a_byte(spool_dir: Path) -> None:
        first = sorted(spool_dir.glob("*.seg"))[0]
        data = bytearray(first.read_bytes())
        data[60] ^= 0xFF  # inside the first record's payload: its checksum no longer matches
        first.write_bytes(bytes(data))

    fired, waiting, torn, stored, _ = await _restart_with_backlog(
        hass, tmp_path, flip_a_byte, expect_lost=100
    )
    assert (fired, waiting, torn) == (1000, 1000, 0)
    assert stored == 900  # the damaged batch of 100 is dropped (counted), the rest lands
    assert "Spool record dropped" in caplog.text


async def _faults_behind_a_proxy(
    hass: HomeAssistant,
    proxy: FaultProxy,
    data: dict[str, Any],
    count: Callable[[], Awaitable[tuple[int, int]]],
    scenario: str,
) -> None:
    """Stream 2000 events through `proxy` (entry `data`) while it answers slowly, resets,
    refuses with 503/429 + Retry-After and 500, then has an outage; `count` gives (points
    stored, distinct event numbers) from the server behind it. Asserts zero loss, zero
    duplicates and Retry-After honoured, and records the figures as `scenario`."""
    with peak_memory() as peak:
        entry = await setup_entry(hass, data, {**FAST, "write_timeout": 0.5, "circuit_failure_threshold": 3})
        writer = entry.runtime_data.writer
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
        stored, distinct = await wait_until_counted(count, fired)

    assert stored == distinct == fired == 2000
    assert writer.policy.state == "closed"
    outcomes = proxy.log
    for status, wait in (("status 503", 1.0), ("status 429", 0.5)):
        answered = next(arrived for arrived, outcome in outcomes if outcome == status)
        # Only a request already on its way (sent together with the refused one) may come
        # before the server's wait is over.
        early = [arrived - answered for arrived, _ in outcomes if 0 < arrived - answered < wait * 0.95]
        assert len(early) <= 1, f"Retry-After ignored after {status}"
        assert all(delta < 0.05 for delta in early), f"Retry-After ignored after {status}"
        assert any(arrived - answered >= wait * 0.95 for arrived, _ in outcomes)
    Figures(
        scenario,
        fired,
        stored,
        stored - distinct,
        0,
        writer.stats.points_dropped,
        peak[0],
        f"Retry-After honoured; circuit opened {writer.policy.times_opened}x and closed again",
    ).save()
    await hass.config_entries.async_unload(entry.entry_id)


async def test_slow_server_resets_503_429_and_outage_behind_a_proxy(
    hass: HomeAssistant,
    fault_proxy: FaultProxy,
    influxdb_v1: InfluxDB1Server,
    database: str,
) -> None:
    data = v1_entry_data(fault_proxy.url, database)
    await _faults_behind_a_proxy(
        hass,
        fault_proxy,
        data,
        lambda: hass.async_add_executor_job(counts, influxdb_v1, database),
        "4. slow server, connection resets, 503 and 429 with Retry-After, outage (proxy)",
    )


@pytest.fixture
async def fault_proxy_v3(influxdb3: InfluxDB3StandIn) -> AsyncGenerator[FaultProxy]:
    """A FaultProxy in front of the InfluxDB 3 Core stand-in (database `home`)."""
    proxy = FaultProxy(upstream=influxdb3.url)
    await proxy.start()
    yield proxy
    await proxy.stop()


def v3_counts(server: InfluxDB3StandIn) -> tuple[int, int]:
    """As `counts`, from the stand-in's rows: the attribute `seq` is stored as `attr_seq`."""
    rows = [row for row in server.rows("home", MEASUREMENT) if "state" in row]
    return len(rows), len({row["attr_seq"] for row in rows})


async def test_the_same_faults_in_front_of_influxdb3_lose_nothing(
    hass: HomeAssistant, fault_proxy_v3: FaultProxy, influxdb3: InfluxDB3StandIn
) -> None:
    data = {
        "api_version": "3",
        "url": fault_proxy_v3.url,
        "database": "home",
        "token": "test-token",
        "verify_ssl": True,
    }

    async def count() -> tuple[int, int]:
        # In the event loop: the stand-in's store is changed there.
        return v3_counts(influxdb3)

    await _faults_behind_a_proxy(
        hass,
        fault_proxy_v3,
        data,
        count,
        "4b. the same faults in front of InfluxDB 3 Core (stand-in)",
    )


async def test_replay_two_at_a_time_sends_each_spooled_batch_once(
    hass: HomeAssistant,
    fault_proxy: FaultProxy,
    influxdb_v1: InfluxDB1Server,
    database: str,
) -> None:
    """Replay sends two spooled batches at once; when one of them fails, the other one,
    stored meanwhile, is not sent again (and the failed one is)."""
    data = v1_entry_data(fault_proxy.url, database)
    entry = await setup_entry(hass, data, {**FAST, "max_queue_size": 100})
    writer = entry.runtime_data.writer
    fault_proxy.down = True
    fired = await stream(hass, 0, 1000)
    await wait_for(lambda: writer.spool.points >= 800)
    # The probe goes through; of the next two, sent together, the first to arrive fails.
    fault_proxy.inject(Forward(), Status(500))
    fault_proxy.down = False
    stored, distinct = await wait_until_stored(hass, influxdb_v1, database, fired)

    assert stored == distinct == fired
    assert fault_proxy.count("status 500") == 1
    assert fault_proxy.writes_forwarded == fired // 100  # every batch of 100 stored exactly once
    await hass.config_entries.async_unload(entry.entry_id)


async def test_field_type_conflict_with_another_writers_data_loses_nothing(
    hass: HomeAssistant, influxdb_v1: InfluxDB1Server, database: str, v1_config: dict[str, Any]
) -> None:
    # Another writer stored attr_dynamics as a boolean (field types are per shard: recent).
    foreign = f"{MEASUREMENT},entity_id=sensor.other attr_dynamics=true {time.time_ns()}"
    await hass.async_add_executor_job(influxdb_v1.write, database, foreign)
    dynamics: list[Any] = [True, "moving", False, None]
    with peak_memory() as peak:
        entry = await setup_entry(hass, v1_config, FAST)
        writer = entry.runtime_data.writer
        for number in range(1000):
            hass.states.async_set(
                f"sensor.seed_{number % 5}", str(number), {"dynamics": dynamics[number % 4], "seq": number}
            )
            if number % 100 == 99:
                await asyncio.sleep(0.05)

        async def settled() -> tuple[int, int] | None:
            stored = await hass.async_add_executor_job(counts, influxdb_v1, database)
            # (the other writer's point has no `state`, so it is not counted)
            return stored if stored[0] + writer.stats.points_dead_lettered >= 1000 else None

        stored, distinct = await wait_for(settled, timeout=60)
    assert stored == distinct == 500  # true/false healed to booleans
    assert writer.stats.points_dead_lettered == 500  # "moving" and "" cannot be booleans
    assert len(writer.dead_letter_path.read_text().splitlines()) == 500
    assert stored + writer.stats.points_dead_lettered == 1000
    Figures(
        "5. field type conflict with another writer's data (attr_dynamics boolean vs string)",
        1000,
        stored,
        stored - distinct,
        writer.stats.points_dead_lettered,
        writer.stats.points_dropped,
        peak[0],
        "true/false healed to booleans; the rest in the dead-letter file with the server's message",
    ).save()
    await hass.config_entries.async_unload(entry.entry_id)


async def test_spool_budget_exhaustion_drops_oldest_with_an_exact_count(
    hass: HomeAssistant, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = InfluxDB1Server(tmp_path / "influxdb", auth=False)  # down until the end
    budget = 256 * 1024
    with peak_memory() as peak:
        entry = await setup_entry(
            hass, v1(server), {**FAST, "max_queue_size": 1000, "spool_max_bytes": budget}
        )
        writer = entry.runtime_data.writer
        fired = await stream(hass, 0, 20_000, per_tick=500, tick=0.15)
        await wait_for(lambda: writer.points_in_memory <= 1000)
        dropped = writer.stats.dropped[DropReason.SPOOL_BUDGET]
        assert dropped > 0
        assert writer.stats.dropped[DropReason.QUEUE_FULL] == 0
        assert dropped + writer.points_waiting == fired  # every point accounted for
        assert writer.spool.size_bytes <= budget
        assert caplog.text.count("over its size budget") == 1  # once per episode
    try:
        await start_server(hass, server)
        stored, distinct = await wait_until_stored(hass, server, DB, fired - dropped)
        assert stored == distinct == fired - dropped
    finally:
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_add_executor_job(server.stop)
    assert peak[0] < 64
    Figures(
        "6. outage longer than a 256 KiB spool budget",
        fired,
        stored,
        stored - distinct,
        0,
        dropped,
        peak[0],
        f"oldest dropped, counted exactly; spool stayed <= {budget // 1024} KiB",
    ).save()
