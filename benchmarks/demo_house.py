"""The demo house: Home Assistant's own `demo` integration as the data none of us wrote.

Its 100+ entities of every platform carry the attributes real integrations set (lights
with colour modes and effect lists, climate with presets, media players, weather...), so
what a layout costs per point here is what it costs in a real home, unlike the benchmark's
uniform power sensors. Both layouts serialize the same state changes: every entity changes
`rounds` times (numbers move, other states stay), with its real attributes, registry data
and a context, exactly as the writer would see them.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import statistics
import tempfile
import time
from typing import Any

from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, EventStateChangedData, State
from homeassistant.setup import async_setup_component

from benchmarks.harness import home_assistant
from custom_components.influxdb_ingest.lines.metadata import MetadataLookup
from custom_components.influxdb_ingest.lines.normalize import parse_number
from custom_components.influxdb_ingest.pipeline.serializer import make_serializer
from custom_components.influxdb_ingest.pipeline.settings import WriterSettings
from tests.support.servers import InfluxDB1Server

# The writer sends 5000 points per request, two requests at once.
_BATCH = 5000


async def demo_lines(rounds: int) -> dict[str, list[str]]:
    """Each layout's lines for `rounds` changes of every demo entity."""
    with tempfile.TemporaryDirectory() as config_dir:
        async with home_assistant(Path(config_dir)) as hass:
            assert await async_setup_component(hass, "homeassistant", {})
            assert await async_setup_component(hass, "demo", {"demo": {}})
            await hass.async_block_till_done()
            states = [state for state in hass.states.async_all() if state.domain != "influxdb_ingest"]
            lookup = MetadataLookup(hass)
            serializers = {
                layout: make_serializer(WriterSettings(layout=layout), lookup)
                for layout in ("default", "builtin")
            }
            lines: dict[str, list[str]] = {layout: [] for layout in serializers}
            start = time.time_ns() // 1000
            previous: dict[str, State] = {}
            for round_number in range(rounds):
                for number, state in enumerate(states):
                    new_state = State(state.entity_id, _changed(state.state, round_number), state.attributes)
                    event: Event[EventStateChangedData] = Event(
                        EVENT_STATE_CHANGED,
                        {
                            "entity_id": state.entity_id,
                            "old_state": previous.get(state.entity_id),
                            "new_state": new_state,
                        },
                        time_fired_timestamp=(start + round_number * len(states) + number) / 1e6,
                    )
                    previous[state.entity_id] = new_state
                    for layout, serializer in serializers.items():
                        if (line := serializer.line(event)) is not None:
                            lines[layout].append(f"{line}\n")
    return lines


def _changed(state: str, round_number: int) -> str:
    """A number moves by a small step each round; any other state stays as it is."""
    number = parse_number(state)
    return state if number is None else str(round(number + round_number * 0.1, 2))


def server_rate(server: InfluxDB1Server, db: str, lines: list[str]) -> float:
    """Points/s the server alone stores of these lines, sent like the writer sends them."""
    server.query(f"DROP DATABASE {db}", method="POST")
    server.query(f"CREATE DATABASE {db}", method="POST")
    bodies = ["".join(lines[start : start + _BATCH]) for start in range(0, len(lines), _BATCH)]
    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda body: server.write(db, body), bodies))
    return len(lines) / (time.perf_counter() - started)


async def demo_house(server: InfluxDB1Server, rounds: int) -> list[dict[str, Any]]:
    """Bytes per point and the server's own rate for each layout's demo-house lines."""
    lines = await demo_lines(rounds)
    # The layouts take turns, three times; each one's median rate counts.
    rates: dict[str, list[float]] = {layout: [] for layout in lines}
    for _ in range(3):
        for layout, layout_lines in lines.items():
            rates[layout].append(
                await asyncio.to_thread(server_rate, server, f"bench_demo_{layout}", layout_lines)
            )
    rows = []
    for layout, layout_lines in lines.items():
        rate = statistics.median(rates[layout])
        rows.append(
            {
                "layout": layout,
                "points": len(layout_lines),
                "bytes_per_point": round(sum(map(len, layout_lines)) / len(layout_lines), 1),
                "server_alone_points_per_s": round(rate),
            }
        )
    builtin = rows[-1]
    for row in rows:
        row["bytes_x_builtin"] = round(row["bytes_per_point"] / builtin["bytes_per_point"], 2)
        row["server_rate_x_builtin"] = round(
            row["server_alone_points_per_s"] / builtin["server_alone_points_per_s"], 2
        )
    return rows
