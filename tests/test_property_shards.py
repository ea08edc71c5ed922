"""Property-based, against the real InfluxDB 1.6: random batches over several shards, each shard
holding the field as a random type, end with every line stored (meaning what it meant) or
dead-lettered with the server's words, the written counter equal to what the server holds, and
a small bounded number of requests per batch.

Shards: a retention policy with an hour's shard duration, written in different weeks. What
each value may become in each type is a table written by hand here, not the healer's code.
Hypothesis generates the cases once, deterministically, at import (it cannot drive async tests).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import count
from pathlib import Path
import time
from typing import Any

from homeassistant.core import HomeAssistant
from hypothesis import given, settings, strategies as st

from .support.fault_proxy import FaultProxy
from .support.helpers import v1_entry_data
from .support.servers import InfluxDB1Server
from .test_partial_writes import create_policy, dead_lettered, make_delivery, write_as_another_tool

HOUR = 3_600 * 10**9
WEEK = 7 * 24 * HOUR
SHARDS = 3
# What the other tool wrote first in each shard, by type.
SEEDS = {"string": '"seed"', "float": "1.5", "integer": "1i", "boolean": "true"}
# Our raw values (we write strings and floats) -> what each shard type stores losslessly.
FITS: dict[str, dict[str, Any]] = {
    '"true"': {"string": "true", "boolean": True},
    '"false"': {"string": "false", "boolean": False},
    '"5"': {"string": "5", "integer": 5, "float": 5.0},
    '"-3"': {"string": "-3", "integer": -3, "float": -3.0},
    '"2.5"': {"string": "2.5", "float": 2.5},
    '"x"': {"string": "x"},
    "2.5": {"float": 2.5, "string": "2.5"},
    "3.0": {"float": 3.0, "string": "3.0", "integer": 3},
    "-1.0": {"float": -1.0, "string": "-1.0", "integer": -1},
}
# Each shard's conflict costs at most a request to learn and one to resend, each split by
# shard window two, and the first request one: 3 shards need at most 1 + 2 * 2 + 3 * 2.
MOST_REQUESTS = 11

CASES: list[tuple[list[str], list[tuple[int, str]]]] = []


@settings(max_examples=25, derandomize=True, database=None)
@given(
    st.lists(st.sampled_from(sorted(SEEDS)), min_size=SHARDS, max_size=SHARDS),
    st.lists(st.tuples(st.integers(0, SHARDS - 1), st.sampled_from(sorted(FITS))), min_size=1, max_size=12),
)
def _collect(types: list[str], lines: list[tuple[int, str]]) -> None:
    CASES.append((types, lines))


_collect()
_databases = count()


async def test_random_batches_over_shards_with_random_types_settle_exactly(
    hass: HomeAssistant,
    influxdb_v1: InfluxDB1Server,
    fault_proxy: FaultProxy,
    query: Callable[..., Any],
    tmp_path: Path,
) -> None:
    # Whole hours, weeks apart, so each shard of an hour's duration starts where we say.
    base = time.time_ns() // HOUR * HOUR - SHARDS * WEEK
    most = 0
    for types, batch in CASES:
        db = f"shards_{next(_databases)}"
        await create_policy(hass, influxdb_v1, f'CREATE DATABASE "{db}"')
        await create_policy(
            hass,
            influxdb_v1,
            f'CREATE RETENTION POLICY "hourly" ON "{db}" DURATION INF REPLICATION 1'
            " SHARD DURATION 1h DEFAULT",
        )
        starts = [base + shard * WEEK for shard in range(SHARDS)]
        seeds = "".join(
            f"m,who=other v={SEEDS[kind]} {start}\n" for kind, start in zip(types, starts, strict=True)
        )
        await write_as_another_tool(influxdb_v1.url, db, seeds)
        dead_letters = tmp_path / f"{db}.jsonl"
        delivery = make_delivery(hass, v1_entry_data(fault_proxy.url, db), dead_letters)
        lines = [f"m,who=us,n={n} v={raw} {starts[shard] + n + 1}\n" for n, (shard, raw) in enumerate(batch)]
        before = len(fault_proxy.log)

        await delivery.deliver(lines)

        requests = len(fault_proxy.log) - before
        most = max(most, requests)
        assert requests <= MOST_REQUESTS, (types, batch)
        held: dict[int, Any] = {}
        for start in starts:  # one query per shard: one over several would give one type
            rows = await query(
                f"SELECT n, v FROM m WHERE who = 'us' AND time >= {start} AND time < {start + HOUR}", db
            )
            held |= {int(row["n"]): row["v"] for row in rows}
        refused = {record["line"]: record["error"] for record in dead_lettered(delivery)}
        for n, (shard, raw) in enumerate(batch):
            line = lines[n].rstrip("\n")
            expected = FITS[raw].get(types[shard])
            if expected is None:
                assert n not in held, (types, batch, n)
                assert "already exists as type " + types[shard] in refused[line]
            else:
                assert line not in refused, (types, batch, n)
                # JSON gives 5.0 as 5: the shard's type is the server's; the value and its kind are ours.
                got = held[n]
                assert got == expected, (types, batch, n, held)
                assert isinstance(got, str) == isinstance(expected, str), (types, batch, n, held)
                assert isinstance(got, bool) == isinstance(expected, bool), (types, batch, n, held)
        assert delivery._stats.points_written == len(held)
        assert delivery._stats.points_dead_lettered == len(refused) == len(batch) - len(held)
    assert most > 1  # the cases did make the server refuse
