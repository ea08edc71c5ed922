"""What an outage costs the disk: syncs and bytes the spool writes per hour, then the replay.

The real writer (serializer, backlog, loss window, disk spool) runs with its default
settings against a server that refuses every write, on a simulated clock: `rate` state
changes a second for `seconds` of outage, a round of the writer every `round_interval` as
its loop runs them; then the server comes back and the backlog is replayed. The spool
counts its own fsync calls and the bytes it writes (`DiskSpool.syncs`, `bytes_written`);
/proc/self/io adds what the kernel sent to the storage layer (whole pages, so more).
Run through scripts/spool-wear; docs/reliability.md quotes the table.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
import datetime as dt
import logging
from pathlib import Path
import platform
import sys
import tempfile
from typing import Any

from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Context, Event, State

from custom_components.influxdb_ingest.lines.metadata import NO_METADATA
from custom_components.influxdb_ingest.pipeline.settings import WriterSettings
from custom_components.influxdb_ingest.pipeline.writer import BatchWriter
from custom_components.influxdb_ingest.target.influx_api import CannotConnect

ENTITIES = 200
_TICKS = 10  # per simulated second
CONTEXT = Context(id="wear")


class SimulatedClock:
    """Time that moves when the simulation says (wall and monotonic alike)."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class Target:
    """Refuses every write while down; stores (counts) them once up."""

    def __init__(self) -> None:
        self.up = False
        self.stored = 0

    async def write(self, body: bytes, timeout: float) -> None:
        if not self.up:
            raise CannotConnect("outage")
        self.stored += body.count(b"\n")


def event(number: int, fired: float) -> Event[Any]:
    entity_id = f"sensor.power_{number % ENTITIES}"
    when = dt.datetime.fromtimestamp(fired, dt.UTC)
    attributes = {
        "unit_of_measurement": "W",
        "device_class": "power",
        "state_class": "measurement",
        "friendly_name": f"Power {number % ENTITIES}",
    }
    new_state = State(entity_id, str(number % 3000 / 10), attributes, last_changed=when)
    return Event(
        EVENT_STATE_CHANGED,
        {"entity_id": entity_id, "old_state": None, "new_state": new_state},
        context=CONTEXT,
        time_fired_timestamp=fired,
    )


async def _run_now(func: Callable[..., Any], *args: Any) -> Any:
    return func(*args)


def _storage_bytes_written() -> int:
    """Bytes this process sent to the storage layer so far (0 where /proc does not say)."""
    try:
        text = Path("/proc/self/io").read_text()
    except OSError:
        return 0
    fields = dict(line.split(": ") for line in text.splitlines())
    return int(fields.get("write_bytes", 0))


@dataclass
class Wear:
    """What one outage (and its replay) cost the disk."""

    rate: int
    seconds: float
    points: int = 0
    outage_syncs: int = 0
    outage_bytes: int = 0
    outage_storage_bytes: int = 0
    spool_bytes: int = 0
    replay_syncs: int = 0
    replay_bytes: int = 0
    stored: int = 0

    def per_hour(self, value: float) -> float:
        return value * 3600 / self.seconds


async def measure(
    rate: int,
    seconds: float,
    directory: Path,
    settings: WriterSettings,
    make_spool: Callable[[Path, WriterSettings], Any] | None = None,
) -> Wear:
    """Run one outage of `seconds` at `rate` changes/s, then its replay."""
    clock = SimulatedClock(1_800_000_000.0)
    target = Target()
    writer = BatchWriter(
        target,  # type: ignore[arg-type]  # duck-typed: only `write` is called
        lookup_metadata=lambda _entity_id: NO_METADATA,
        settings=settings,
        spool_dir=directory,
        run_in_executor=_run_now,
        clock=clock,
        wall_clock=clock,
    )
    if make_spool is not None:
        writer.backlog.spool = make_spool(directory, settings)
    await writer.async_open()
    wear = Wear(rate, seconds)
    storage_before = _storage_bytes_written()
    start = clock.now
    next_round = 0
    number = 0
    for tick in range(round(seconds * _TICKS)):  # events in tenths of a second
        clock.now = start + tick / _TICKS
        for _ in range(round(rate / _TICKS)):
            writer.backlog.add(event(number, clock.now))
            number += 1
        if tick >= next_round:  # a round when the loop would run one
            await writer.write_due()
            next_round = tick + round(writer.memory.round_interval * _TICKS)
    spool = writer.backlog.spool
    wear.points = number
    wear.outage_syncs, wear.outage_bytes = spool.syncs, spool.bytes_written
    wear.outage_storage_bytes = _storage_bytes_written() - storage_before
    wear.spool_bytes = spool.size_bytes
    target.up = True
    clock.now += settings.retry_max_delay
    while writer.points_waiting:
        await writer.write_due()
    wear.replay_syncs = spool.syncs - wear.outage_syncs
    wear.replay_bytes = spool.bytes_written - wear.outage_bytes
    wear.stored = target.stored
    return wear


def table(results: list[Wear]) -> str:
    """A markdown table, per hour of outage."""
    rows = [
        "| changes/s | outage simulated | syncs per hour of outage | spool bytes written per hour"
        " | storage bytes (kernel) per hour | spool size after an hour | replay: syncs | points stored |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for wear in results:
        rows.append(
            f"| {wear.rate} | {wear.seconds:.0f} s | {wear.per_hour(wear.outage_syncs):.0f}"
            f" | {wear.per_hour(wear.outage_bytes) / 2**20:.1f} MiB"
            f" | {wear.per_hour(wear.outage_storage_bytes) / 2**20:.1f} MiB"
            f" | {wear.per_hour(wear.spool_bytes) / 2**20:.1f} MiB"
            f" | {wear.per_hour(wear.replay_syncs):.0f} | {wear.stored} of {wear.points} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", default="20,1000", help="changes per second, comma-separated")
    parser.add_argument("--seconds", type=float, default=3600.0, help="simulated outage length")
    parser.add_argument("--loss-window", type=float, default=WriterSettings().loss_window)
    parser.add_argument("--directory", type=Path, help="where the spool lives (default: a temporary one)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)  # the outage is the point: no error logs
    settings = replace(WriterSettings(), loss_window=args.loss_window)
    results = []
    for rate in (int(rate) for rate in args.rates.split(",")):
        with tempfile.TemporaryDirectory(dir=args.directory) as directory:
            wear = asyncio.run(measure(rate, args.seconds, Path(directory), settings))
        if wear.stored != wear.points:
            sys.exit(f"lost points: {wear.points - wear.stored} of {wear.points}")
        results.append(wear)
    print(table(results))
    print(
        f"\nDefault settings (loss window {settings.loss_window:g} s, flush interval"
        f" {settings.flush_interval:g} s, batch {settings.batch_size}); {platform.machine()},"
        f" Python {platform.python_version()}."
    )


if __name__ == "__main__":
    main()
