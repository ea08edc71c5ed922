"""Backfill benchmark: the recorder's states into a real InfluxDB 1.x while live events flow.

A real Home Assistant in this process records `--states` state changes (over 200 entities,
about 1.3 per second as in a busy home: a million fill nine days) through its own recorder
into SQLite. Then this
integration is set up and its backfill action imports them while `--live-rate` live events
per second keep coming. Measured: points/s of the backfill against what the server alone
stores of such lines, the loop lag and the live points' lag meanwhile (the age of the
oldest live point waiting), every live event stored, memory growth; then a second run,
restarted in the middle, must leave exactly the same number of points.
Run through `scripts/bench --mode backfill` (docs/performance.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import gc
from pathlib import Path
import tempfile
import time
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import async_initialize_recorder, get_instance
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.influxdb_ingest.const import DOMAIN
from custom_components.influxdb_ingest.data import InfluxDBIngestConfigEntry
from custom_components.influxdb_ingest.history.backfill_job import JobStatus
from tests.support.servers import InfluxDB1Server

from .harness import home_assistant
from .measure import ENTITIES, count, loop_lag, power_attributes, profiled, rss_mb, server_rate, stream

DB = "bench_backfill"
# State changes per second of the generated history: a million over nine days.
_PER_SECOND = 1_000_000 / (9 * 86_400)
# States handed to the recorder before waiting for it to catch up (its queue is bounded).
_RECORD_SLICE = 5000
_COMMIT_INTERVAL = 1


async def record_states(hass: HomeAssistant, states: int) -> float:
    """`states` state changes at past times, through Home Assistant and its recorder; seconds taken."""
    started = time.perf_counter()
    step = 1 / _PER_SECOND
    first = time.time() - states * step
    recorder = get_instance(hass)
    for number in range(states):
        hass.states.async_set(
            f"sensor.power_{number % ENTITIES}",
            str(number),
            power_attributes(number),
            timestamp=first + number * step,
        )
        if number % _RECORD_SLICE == _RECORD_SLICE - 1:
            await hass.async_add_executor_job(recorder.block_till_done)
    await hass.async_block_till_done()
    await hass.async_add_executor_job(recorder.block_till_done)
    seconds = time.perf_counter() - started
    # The recorder commits every `commit_interval`: until then a reader sees nothing.
    await asyncio.sleep(_COMMIT_INTERVAL * 2)
    await hass.async_add_executor_job(recorder.block_till_done)
    return seconds


async def backfill(hass: HomeAssistant, entry: InfluxDBIngestConfigEntry) -> None:
    """Call the action (the recorder's whole window)."""
    await hass.services.async_call(DOMAIN, "backfill", {"config_entry_id": entry.entry_id}, blocking=True)


async def until(
    predicate: Callable[[], bool], every: float = 0.05, also: Callable[[], None] | None = None
) -> None:
    while not predicate():
        if also is not None:
            also()
        await asyncio.sleep(every)


async def measured_run(
    hass: HomeAssistant, entry: InfluxDBIngestConfigEntry, server: InfluxDB1Server, live_rate: int
) -> dict[str, Any]:
    """The first backfill, with live events at `live_rate`/s meanwhile; it must import every state."""
    writer = entry.runtime_data.writer
    job = entry.runtime_data.backfill
    gc.collect()
    rss_before = peak = rss_mb()
    live_lags: list[float] = []

    def sample() -> None:
        nonlocal peak
        peak = max(peak, rss_mb())
        oldest = writer.oldest_waiting_since
        live_lags.append(time.time() - oldest if oldest is not None else 0.0)

    done = asyncio.Event()
    async with loop_lag() as lag:
        started = time.perf_counter()
        await backfill(hass, entry)
        live = asyncio.create_task(stream(hass, "live", live_rate, until=done))
        await until(lambda: not job.busy, also=sample)
        seconds = time.perf_counter() - started
        done.set()
        live_events = await live
    await writer.async_flush()
    stored = await hass.async_add_executor_job(count, server, DB)
    if job.progress.status is not JobStatus.FINISHED:
        raise SystemExit(f"the backfill ended {job.progress.status}: {job.progress.error}")
    ordered = sorted(live_lags)
    return {
        "points": job.progress.points,
        "seconds": round(seconds, 1),
        "points_per_second": round(job.progress.points / seconds),
        "live_events": live_events,
        "live_lost": job.progress.points + live_events - stored,
        "live_lag_p99_s": round(ordered[int(len(ordered) * 0.99) - 1], 2) if ordered else 0.0,
        "live_lag_max_s": round(ordered[-1], 2) if ordered else 0.0,
        "loop_lag_p99_ms": round(lag["p99"], 2),
        "memory_growth_mb": round(peak - rss_before, 1),
        "stored": stored,
    }


async def restarted_run(hass: HomeAssistant, entry: InfluxDBIngestConfigEntry) -> tuple[int, int]:
    """A second backfill, the entry reloaded half-way; (points before the restart, the job's total).

    Its range ends later than the first one's: it also holds the live events recorded since.
    """
    await backfill(hass, entry)
    await until(lambda: (entry.runtime_data.backfill.progress.percent or 0) >= 50, every=0.01)
    before = entry.runtime_data.backfill.progress.points
    await hass.config_entries.async_reload(entry.entry_id)
    await until(lambda: not entry.runtime_data.backfill.busy)
    progress = entry.runtime_data.backfill.progress
    if progress.status is not JobStatus.FINISHED:
        raise SystemExit(f"the resumed backfill ended {progress.status}: {progress.error}")
    return before, progress.points


async def run(states: int, live_rate: int, profile: Path | None = None) -> str:
    """The whole benchmark; the markdown table."""
    with tempfile.TemporaryDirectory() as workdir:
        server = InfluxDB1Server(Path(workdir) / "influxdb", auth=False)
        server.start()
        try:
            server.query(f"CREATE DATABASE {DB}", method="POST")
            async with home_assistant(Path(workdir) / "config") as hass:
                db_url = f"sqlite:///{Path(workdir) / 'home-assistant_v2.db'}"
                async_initialize_recorder(hass)  # what bootstrap does before the recorder is set up
                assert await async_setup_component(
                    hass, "recorder", {"recorder": {"db_url": db_url, "commit_interval": _COMMIT_INTERVAL}}
                )
                await hass.async_block_till_done()
                recording = await record_states(hass, states)
                entry = MockConfigEntry(
                    domain=DOMAIN, title="bench", data={"api_version": "1", "url": server.url, "database": DB}
                )
                entry.add_to_hass(hass)
                assert await hass.config_entries.async_setup(entry.entry_id)
                await hass.async_block_till_done()
                with profiled(profile / "backfill.txt" if profile else None):
                    first = await measured_run(hass, entry, server, live_rate)
                before_restart, resumed_points = await restarted_run(hass, entry)
                await entry.runtime_data.writer.async_flush()
                second_count = await hass.async_add_executor_job(count, server, DB)
            alone = await asyncio.to_thread(server_rate, server, "default", min(states, 200_000))
        finally:
            server.stop()
    figures = {
        "states": states,
        "recorded_per_second": round(states / recording),
        **{key: value for key, value in first.items() if key != "stored"},
        "server_alone_points_per_second": round(alone),
        "stored_first_run": first["stored"],
        "stored_after_second_run": second_count,
        "second_run_restarted_at_points": before_restart,
        "second_run_points": resumed_points,
    }
    rows = "\n".join(f"| {key} | {value} |" for key, value in figures.items())
    text = "| backfill | figure |\n|---|---:|\n" + rows
    target = min(50_000, alone)
    problems = []
    if first["live_lost"]:
        problems.append(f"{first['live_lost']} points missing after the first run")
    if second_count != first["stored"]:
        problems.append(f"the second run changed the count: {first['stored']} -> {second_count}")
    print(text)
    print(f"\ntarget: >= {target:,.0f} points/s (min of 50 000 and the server alone)")
    if problems:
        raise SystemExit("; ".join(problems))
    return text
