"""What the benchmarks measure with: the generated power sensors, loop lag, memory, points stored.

Shared by bench.py (against the built-in integration) and backfill.py (history import), so
neither imports the other.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
import contextlib
import os
from pathlib import Path
import statistics
import time
from typing import Any

from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, State

from custom_components.influxdb_ingest.const import DEFAULT_MEASUREMENT
from custom_components.influxdb_ingest.lines.cached_lines import BuiltinLines, DefaultLines
from custom_components.influxdb_ingest.lines.entity_rules import NO_RULES
from custom_components.influxdb_ingest.lines.metadata import NO_METADATA
from custom_components.influxdb_ingest.lines.normalize import DefaultLayout
from custom_components.influxdb_ingest.lines.normalize_builtin import BuiltinLayout
from tests.support.servers import InfluxDB1Server

ENTITIES = 200


def power_attributes(number: int) -> dict[str, Any]:
    """Realistic sensor attributes: unit, class, name, a flag and a list."""
    return {
        "unit_of_measurement": "W",
        "device_class": "power",
        "state_class": "measurement",
        "friendly_name": f"Power {number % ENTITIES}",
        "icon": "mdi:flash",
        "calibrated": number % 2 == 0,
        "phases": [1, 2, 3],
    }


def rss_mb() -> float:
    """Resident memory of this process, in MiB."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def count(server: InfluxDB1Server, db: str) -> int:
    """Points stored in every measurement of a database."""
    total = 0
    for series in server.query("SELECT count(*) FROM /.*/", db)["results"][0].get("series", []):
        columns = series["columns"]
        values = series["values"][0]
        # count(*) gives one column per field; the busiest field counts every point.
        total += max(int(value) for name, value in zip(columns, values, strict=True) if name != "time")
    return total


@contextlib.asynccontextmanager
async def loop_lag() -> AsyncIterator[dict[str, float]]:
    """Measure event-loop lag while the block runs: a 1 ms timer's overshoot, p50/p99/max."""
    lags: list[float] = []
    figures: dict[str, float] = {}
    stop = asyncio.Event()

    async def probe() -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            expected = loop.time() + 0.001
            await asyncio.sleep(0.001)
            lags.append(max(0.0, loop.time() - expected) * 1000)

    probe_task = asyncio.create_task(probe())
    try:
        yield figures
    finally:
        stop.set()
        await probe_task
    ordered = sorted(lags)
    figures.update(p50=statistics.median(ordered), p99=ordered[int(len(ordered) * 0.99) - 1], max=ordered[-1])


async def stream(
    hass: HomeAssistant,
    prefix: str,
    rate: int,
    *,
    events: int | None = None,
    until: asyncio.Event | None = None,
) -> int:
    """Fire `rate` state changes per second, in ticks of 10 ms, until `events` or `until`."""
    tick = 0.01
    per_tick = max(1, int(rate * tick))
    loop = asyncio.get_running_loop()
    start = loop.time()
    number = 0
    while (events is None or number < events) and not (until and until.is_set()):
        for _ in range(per_tick if events is None else min(per_tick, events - number)):
            hass.states.async_set(
                f"sensor.{prefix}_{number % ENTITIES}", str(number), power_attributes(number)
            )
            number += 1
        await asyncio.sleep(max(0.0, start + (number // per_tick) * tick - loop.time()))
    return number


@contextlib.contextmanager
def profiled(report: Path | None) -> Iterator[None]:
    """Sample the event loop's thread with pyinstrument and write a text report, if asked."""
    if report is None:
        yield
        return
    from pyinstrument import Profiler  # noqa: PLC0415  # only needed with --profile

    report.parent.mkdir(parents=True, exist_ok=True)
    profiler = Profiler(interval=0.0005, async_mode="disabled")
    profiler.start()
    try:
        yield
    finally:
        profiler.stop()
        report.write_text(profiler.output_text(unicode=True, show_all=False))


def layout_lines(layout: str, events: int) -> list[str]:
    """The lines this integration writes for the burst's events, built without Home Assistant."""
    default = DefaultLines(DefaultLayout(DEFAULT_MEASUREMENT))
    builtin = BuiltinLines(BuiltinLayout(), {})
    previous: dict[str, State] = {}
    start = time.time_ns()
    lines = []
    for number in range(events):
        entity_id = f"sensor.power_{number % ENTITIES}"
        state = State(entity_id, str(number), power_attributes(number))
        event: Event[EventStateChangedData] = Event(
            EVENT_STATE_CHANGED,
            {"entity_id": entity_id, "old_state": previous.get(entity_id), "new_state": state},
        )
        previous[entity_id] = state
        time_ns = start + number * 1000
        line = (
            default.line(event, NO_METADATA, NO_RULES, time_ns)
            if layout == "default"
            else builtin.line(event, NO_RULES, time_ns)
        )
        lines.append(f"{line}\n")
    return lines


def server_rate(server: InfluxDB1Server, layout: str, events: int) -> float:
    """Points/s the server alone stores of a layout's lines, sent like the writer sends them."""
    db = f"bench_server_{layout}"
    server.query(f"DROP DATABASE {db}", method="POST")
    server.query(f"CREATE DATABASE {db}", method="POST")
    lines = layout_lines(layout, events)
    bodies = ["".join(lines[start : start + 5000]) for start in range(0, len(lines), 5000)]
    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:  # two requests at once, like the writer
        list(pool.map(lambda body: server.write(db, body), bodies))
    return events / (time.perf_counter() - started)
