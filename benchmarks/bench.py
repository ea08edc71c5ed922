"""Side-by-side benchmark of this integration against Home Assistant's built-in influxdb.

Variants: bare Home Assistant, a no-op listener, the built-in integration, and this one
in both layouts; then outages, and what the server alone can store. One process, one real
InfluxDB 1.x on loopback, the same events for every variant. Absolute numbers depend on
the machine; the ratios against the built-in integration from the same run are the point.
Run through scripts/bench (it sets up the environment); docs/performance.md explains
every column.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
import gc
import os
from pathlib import Path
import platform
import sys
import tempfile
import time
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import HomeAssistant, callback
from pytest_homeassistant_custom_component.common import MockConfigEntry

from benchmarks.demo_house import demo_house
from benchmarks.harness import home_assistant
from benchmarks.measure import (
    ENTITIES,
    count,
    layout_lines,
    loop_lag,
    power_attributes,
    profiled,
    rss_mb,
    server_rate,
    stream,
)
from custom_components.influxdb_ingest.target.influx_api import gzip_body
from tests.support.servers import InfluxDB1Server

VARIANTS = ("bare", "noop_listener", "builtin", "ours_default", "ours_builtin_layout", "ours_query_sensors")
# ours_query_sensors: the default layout plus ten query sensors run every 10 s (README, Read it
# back), each the mean of one entity's last minute, so their cost shows next to ours_default.
QUERY_SENSORS = 10
# Variants that write nothing: their "end to end" is the time to fire.
NOT_WRITING = ("bare", "noop_listener")


def last_point_stored(server: InfluxDB1Server, db: str, number: int) -> bool:
    """Whether the point of event `number` (its state is the number) is stored yet."""
    object_id = f"power_{number % ENTITIES}"
    rows = server.query(
        f"SELECT last(value) FROM /.*/ WHERE entity_id = 'sensor.{object_id}' OR entity_id = '{object_id}'",  # noqa: S608  # our own names
        db,
    )["results"][0].get("series", [])
    return any(series["values"][0][1] == number for series in rows)


@dataclass
class Result:
    """What one variant measured."""

    variant: str
    fired: int = 0
    fire_seconds: float = 0.0
    stored: int = 0
    end_to_end_seconds: float = 0.0
    loop_us_per_event: float = 0.0
    process_cpu_us_per_event: float = 0.0
    lag_ms: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: float = 0.0
    notes: str = ""

    @property
    def events_per_second(self) -> float:
        return self.stored / self.end_to_end_seconds if self.end_to_end_seconds else 0.0


def query_sensors() -> list[ConfigSubentryData]:
    """Ten query sensors every 10 s: the mean of one entity's last minute each."""
    return [
        ConfigSubentryData(
            data={
                "language": "influxql",
                "measurement": "home_assistant_events",
                "entity_id": f"sensor.power_{number}",
                "aggregate": "mean",
                "duration": "1m",
                "scan_interval": 10,
            },
            subentry_type="query_sensor",
            title=f"Mean power {number}",
            unique_id=None,
        )
        for number in range(QUERY_SENSORS)
    ]


async def set_up(hass: HomeAssistant, variant: str, server: InfluxDB1Server, db: str) -> Callable[[], Any]:
    """Configure one variant; return its writer's stats getter (or a no-op)."""
    if variant == "builtin":
        entry = MockConfigEntry(
            domain="influxdb",
            data={
                "api_version": "1",
                "host": "127.0.0.1",
                "port": server.port,
                "database": db,
                "ssl": False,
                "path": "/",
                "verify_ssl": False,
            },
        )
        entry.add_to_hass(hass)
        with patch("homeassistant.components.influxdb.conf_util.async_hass_config_yaml", return_value={}):
            assert await hass.config_entries.async_setup(entry.entry_id)
        return lambda: None
    if variant == "noop_listener":
        # The floor for any integration that listens to state changes: Home Assistant then
        # builds an Event per change (with a reference cycle the garbage collector must
        # break), work that bare Home Assistant skips.
        hass.bus.async_listen(EVENT_STATE_CHANGED, callback(lambda _event: None))
        return lambda: None
    if variant.startswith(("ours", "outage")):
        # The burst is fired without yielding, so the memory queue must hold all of it;
        # the outages run with the defaults.
        options: dict[str, Any] = {} if variant.startswith("outage") else {"max_queue_size": 2_000_000}
        if variant.endswith("builtin_layout"):
            options["layout"] = "builtin"
        entry = MockConfigEntry(
            domain="influxdb_ingest",
            data={"api_version": "1", "url": server.url, "database": db, "verify_ssl": True},
            options=options,
            subentries_data=query_sensors() if variant == "ours_query_sensors" else (),
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        return lambda: entry.runtime_data.writer
    return lambda: None


async def burst(hass: HomeAssistant, variant: str, server: InfluxDB1Server, db: str, events: int) -> Result:
    """Fire `events` state changes at once; time the firing and until every point is stored."""
    result = Result(variant, fired=events)
    cpu_before = time.process_time()
    started = time.perf_counter()
    for number in range(events):
        hass.states.async_set(f"sensor.power_{number % ENTITIES}", str(number), power_attributes(number))
    result.fire_seconds = time.perf_counter() - started
    result.loop_us_per_event = result.fire_seconds / events * 1e6
    if variant in NOT_WRITING:
        result.end_to_end_seconds = result.fire_seconds
        result.stored = events
    else:
        # Wait for the last event's point with a cheap query (polling must not slow the
        # server down), then count everything. Batches are written oldest first, but this
        # integration has two requests in flight: the one before the last may land just
        # after it, so the count is repeated until complete, timed from each attempt.
        deadline = started + 600
        while time.perf_counter() < deadline and not await hass.async_add_executor_job(  # noqa: ASYNC110
            last_point_stored, server, db, events - 1
        ):
            await asyncio.sleep(0.02)
        finished = time.perf_counter()
        result.stored = await hass.async_add_executor_job(count, server, db)
        while result.stored < events and time.perf_counter() < deadline:
            await asyncio.sleep(0.02)
            finished = time.perf_counter()
            result.stored = await hass.async_add_executor_job(count, server, db)
        result.end_to_end_seconds = finished - started
    result.process_cpu_us_per_event = (time.process_time() - cpu_before) / events * 1e6
    result.peak_rss_mb = rss_mb()
    return result


async def paced(hass: HomeAssistant, rate: int, seconds: float) -> dict[str, float]:
    """Stream `rate` events/s for `seconds`; the loop lag meanwhile."""
    async with loop_lag() as lag:
        await stream(hass, "paced", rate, events=int(rate * seconds))
    return lag


async def run_variant(
    variant: str, server: InfluxDB1Server, events: int, rate: int, seconds: float, *, profile: Path | None
) -> Result:
    db = f"bench_{variant}"
    server.query(f"DROP DATABASE {db}", method="POST")
    server.query(f"CREATE DATABASE {db}", method="POST")
    with tempfile.TemporaryDirectory() as config_dir:
        async with home_assistant(Path(config_dir)) as hass:
            await set_up(hass, variant, server, db)
            with profiled(profile / f"{variant}-burst.txt" if profile else None):
                result = await burst(hass, variant, server, db, events)
            # The burst's garbage is collected now, so the paced lag is the paced load's own.
            gc.collect()
            with profiled(profile / f"{variant}-paced.txt" if profile else None):
                result.lag_ms = await paced(hass, rate, seconds)
    return result


async def outage(server: InfluxDB1Server, layout: str, events: int, rate: int) -> dict[str, Any]:
    """Outage with the default settings: server down for `events` at `rate`/s, then replay.

    Live events keep coming during the replay, at a tenth of the rate.
    """
    db = f"bench_outage_{layout}"
    server.query(f"DROP DATABASE {db}", method="POST")
    server.query(f"CREATE DATABASE {db}", method="POST")
    with tempfile.TemporaryDirectory() as config_dir:
        async with home_assistant(Path(config_dir)) as hass:
            writer = await set_up(hass, f"outage_{layout}", server, db)
            await hass.async_add_executor_job(server.stop)
            rss_before = peak = rss_mb()
            firing = asyncio.create_task(stream(hass, "outage", rate, events=events))
            while not firing.done():
                await asyncio.sleep(0.1)
                peak = max(peak, rss_mb())
            await asyncio.sleep(2)
            peak = max(peak, rss_mb())

            await hass.async_add_executor_job(server.start)
            restarted = time.perf_counter()
            replayed = asyncio.Event()
            async with loop_lag() as lag:
                live = asyncio.create_task(stream(hass, "live", rate // 10, until=replayed))
                while not writer().stats.points_written:  # noqa: ASYNC110  # the next retry
                    await asyncio.sleep(0.01)
                first_write = time.perf_counter()
                written_before = writer().stats.points_written
                while writer().points_waiting > ENTITIES:  # noqa: ASYNC110  # live events only
                    await asyncio.sleep(0.1)
                caught_up = time.perf_counter()
                replayed.set()
                live_events = await live
            replay_points = writer().stats.points_written - written_before
            await asyncio.sleep(2)  # the last live batch
            stored = await hass.async_add_executor_job(count, server, db)
    return {
        "layout": layout,
        "events": events,
        "fired_per_second": rate,
        "memory_growth_mb": round(peak - rss_before, 1),
        "resume_seconds": round(first_write - restarted, 1),
        "replay_seconds": round(caught_up - first_write, 1),
        "replay_points_per_second": round(replay_points / (caught_up - first_write)),
        "live_events_during_replay": live_events,
        "lag_p99_during_replay_ms": round(lag["p99"], 2),
        "lost": events + live_events - stored,
    }


async def gzip_cost(layout: str, events: int) -> dict[str, Any]:
    """Bytes per point with and without gzip, and gzip's CPU per point.

    Compressed as the client compresses a request body (InfluxClient: level 1, batches of 5000).
    """
    lines = layout_lines(layout, events)
    bodies = ["".join(lines[start : start + 5000]).encode() for start in range(0, len(lines), 5000)]
    started = time.process_time()
    compressed = [await gzip_body(body) for body in bodies]
    cpu = time.process_time() - started
    plain_bytes, gzip_bytes = sum(map(len, bodies)), sum(map(len, compressed))
    return {
        "layout": layout,
        "bytes_per_point": round(plain_bytes / events, 1),
        "gzip_bytes_per_point": round(gzip_bytes / events, 1),
        "ratio": round(plain_bytes / gzip_bytes, 1),
        "gzip_cpu_us_per_point": round(cpu / events * 1e6, 2),
    }


def figures_table(title: str, rows: list[dict[str, Any]]) -> str:
    """A markdown table of rows that share their keys."""
    if not rows:
        return ""
    text = f"\n\n{title}\n\n| " + " | ".join(rows[0]) + " |\n"
    text += "|---" + "|---:" * (len(rows[0]) - 1) + "|\n"
    return text + "\n".join("| " + " | ".join(str(value) for value in row.values()) + " |" for row in rows)


def ceilings(results: list[Result], server_rates: dict[str, float]) -> str:
    """What end to end could reach at best: the listener floor and the server, back to back."""
    floor = next((result for result in results if result.variant == "noop_listener"), None)
    if floor is None or not server_rates:
        return ""
    lines = [
        "| layout | server alone (points/s) | best end to end (events/s) | x built-in |",
        "|---|---:|---:|---:|",
    ]
    reference = next((result for result in results if result.variant == "builtin"), None)
    for layout, rate in server_rates.items():
        best = 1 / (floor.loop_us_per_event / 1e6 + 1 / rate)
        ratio = f"{best / reference.events_per_second:.1f}" if reference else "-"
        lines.append(f"| {layout} | {rate:,.0f} | {best:,.0f} | {ratio} |")
    return "\n".join(lines)


def table(results: list[Result], outages: list[dict[str, Any]]) -> str:
    """The markdown table, ratios against the built-in integration of the same run."""
    reference = next((result for result in results if result.variant == "builtin"), None)
    lines = [
        "| variant | events fired | points stored | fire time (s) | end to end (events/s) | x built-in |"
        " loop µs/event | process CPU µs/event | lag p50 / p99 / max (ms) | RSS (MiB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for result in results:
        ratio = (
            f"{result.events_per_second / reference.events_per_second:.1f}"
            if reference and reference.events_per_second and result.variant not in NOT_WRITING
            else "-"
        )
        lag = result.lag_ms
        lines.append(
            f"| {result.variant} | {result.fired} | {result.stored} | {result.fire_seconds:.2f} |"
            f" {result.events_per_second:,.0f} | {ratio} | {result.loop_us_per_event:.1f} |"
            f" {result.process_cpu_us_per_event:.1f} |"
            f" {lag.get('p50', 0):.2f} / {lag.get('p99', 0):.2f} / {lag.get('max', 0):.1f} |"
            f" {result.peak_rss_mb:.0f} |"
        )
    return "\n".join(lines) + figures_table("Outages (this integration, default settings):", outages)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--outage-events", type=int, default=1_000_000)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument(
        "--demo-rounds", type=int, default=1000, help="changes per entity of the demo house (0: skip it)"
    )
    parser.add_argument("--write", type=Path, help="write the results into this markdown file")
    parser.add_argument("--profile", type=Path, help="write a pyinstrument report per variant and phase here")
    parser.add_argument(
        "--mode",
        choices=("compare", "backfill"),
        default="compare",
        help="compare: against the built-in integration; backfill: recorder history (benchmarks/backfill.py)",
    )
    parser.add_argument("--states", type=int, default=1_000_000, help="backfill: recorded states to import")
    parser.add_argument("--live-rate", type=int, default=100, help="backfill: live events/s meanwhile")
    args = parser.parse_args()
    if args.mode == "backfill":
        from .backfill import run  # noqa: PLC0415  # only this mode needs the recorder

        text = await run(args.states, args.live_rate, args.profile)
        if args.write:
            machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
            args.write.write_text(f"Machine: {machine}.\n\n{text}\n")
        return

    with tempfile.TemporaryDirectory() as workdir:
        server = InfluxDB1Server(Path(workdir) / "influxdb", auth=False)
        server.start()
        try:
            # The outages run first: memory growth is measured from a fresh baseline.
            outages = [
                await outage(server, layout, args.outage_events, args.rate)
                for layout in ("default", "builtin_layout")
                if args.outage_events
            ]
            results = []
            for variant in args.variants.split(","):
                results.append(
                    await run_variant(
                        variant, server, args.events, args.rate, args.seconds, profile=args.profile
                    )
                )
                print(table(results[-1:], []).splitlines()[-1], flush=True)
            rates = {
                layout: await asyncio.to_thread(server_rate, server, layout, args.events)
                for layout in ("default", "builtin")
                if f"ours_{layout}" in args.variants or f"ours_{layout}_layout" in args.variants
            }
            demo = await demo_house(server, args.demo_rounds) if args.demo_rounds else []
        finally:
            server.stop()
    compression = [await gzip_cost(layout, args.events) for layout in ("default", "builtin")]
    text = (
        table(results, outages)
        + figures_table("Compression (gzip level 1, 5000-point requests):", compression)
        + figures_table(
            f"The demo house (Home Assistant's demo integration, {args.demo_rounds} changes per entity;"
            " server alone on these lines):",
            demo,
        )
    )
    if ceiling := ceilings(results, rates):
        text += (
            "\n\nCeilings: a no-op listener's firing cost plus the server storing the lines.\n\n" + ceiling
        )
    print(text)
    for result in results:
        if result.variant not in NOT_WRITING and result.stored < result.fired:
            raise SystemExit(f"{result.variant}: only {result.stored} of {result.fired} points stored")
    for figures in outages:
        if figures["lost"]:
            raise SystemExit(f"outage ({figures['layout']}): {figures['lost']} points lost")
    if args.write:
        header = (
            f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()};"
            f" {args.events} events over {ENTITIES} entities; paced {args.rate}/s for {args.seconds} s.\n\n"
        )
        args.write.write_text(header + text + "\n")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    finally:
        # The built-in integration's writer thread can outlive its Home Assistant here and
        # would keep asyncio.run() waiting for the executor forever: the results are out.
        sys.stdout.flush()
        os._exit(0 if sys.exc_info()[0] is None else 1)
