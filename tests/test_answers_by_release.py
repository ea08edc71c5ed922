"""The answers of 1.8, 1.11, 1.12 and 2.x as their source words them, and what the writer makes
of each: the exact texts are written here from the Go format strings (cited), then the
scripted stand-ins are held to them and the delivery settles through them.
"""

from __future__ import annotations

from pathlib import Path
import time
from typing import Any

import aiohttp
from homeassistant.core import HomeAssistant
import pytest

from custom_components.influxdb_ingest.pipeline.stats import DropReason
from custom_components.influxdb_ingest.target.heal import TypeHealer
from custom_components.influxdb_ingest.target.shards import go_duration_ns

from .support.helpers import MEASUREMENT, setup_entry
from .support.shards import HOUR, V1_8, V1_11, V1_12, Release
from .support.standin_influxdb1 import InfluxDB1StandIn
from .support.standin_influxdb2 import InfluxDB2StandIn
from .test_partial_writes import dead_lettered, make_delivery

DAY = 24 * HOUR
HUGE = "x" * (1_048_576 + 1)


async def _post(server: InfluxDB1StandIn, body: str, rp: str = "") -> tuple[int, str]:
    params = {"db": "home", "precision": "ns", **({"rp": rp} if rp else {})}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{server.url}/write", params=params, data=body) as r,
    ):
        return r.status, await r.text()


def _error(text: str) -> str:
    """services/httpd/handler.go v1.8.10 `httpError` (lines 1677-1700): compact JSON and a newline."""
    return '{"error":"' + text.replace('"', '\\"') + '"}\n'


@pytest.mark.parametrize(
    ("release", "conflict", "too_long"),
    [
        # tsdb/shard.go v1.8.10 line 614: `"%s: input field \"%s\" on measurement \"%s\" is type %s, ..."`
        (
            V1_8,
            'partial write: field type conflict: input field "v" on measurement "m" is type float,'
            " already exists as type string dropped=1",
            None,  # no length limit before 1.10
        ),
        # tsdb/field_validator.go v1.11.9 lines 27-29 and 55-56: `\"%s\"`
        (
            V1_11,
            'partial write: field type conflict: input field "v" on measurement "m" is type float,'
            " already exists as type string dropped=1",
            'partial write: input field "s" on measurement "m" is too long, 1048577 > 1048576 dropped=1',
        ),
        # tsdb/field_validator.go v1.12.4 (`%q`) and tsdb/shard.go v1.12.4 lines 131-141
        (
            V1_12,
            'partial write: field type conflict: input field "v" on measurement "m" is type float,'
            " already exists as type string dropped=1 for database: home for retention policy: autogen",
            'partial write: input field "s" on measurement "m" is too long, 1048577 > 1048576 dropped=1'
            " for database: home for retention policy: autogen",
        ),
    ],
)
async def test_1x_releases_word_conflicts_and_long_strings_as_their_source(
    release: Release, conflict: str, too_long: str | None
) -> None:
    server = InfluxDB1StandIn(release=release)
    await server.start()
    try:
        now = time.time_ns()
        assert await _post(server, f'm v="a" {now}\n') == (204, "")
        assert await _post(server, f"m v=1.5 {now + 1}\n") == (400, _error(conflict))
        answer = await _post(server, f'm s="{HUGE}" {now + 2}\n')
        assert answer == ((204, "") if too_long is None else (400, _error(too_long)))
        assert await _post(server, "m v=1 1\n", rp="nope") == (
            500,
            _error("retention policy not found: nope"),
        )
    finally:
        await server.stop()


async def test_1x_retention_drops_are_worded_by_release() -> None:
    old = time.time_ns() - 10 * DAY
    for release, expected in [
        (
            V1_8,
            "partial write: points beyond retention policy dropped=2",
        ),  # points_writer.go v1.8.10 line 434
        (
            V1_12,
            "partial write: dropped 2 points outside retention policy of duration 24h0m0s",
        ),  # v1.12.4 194
    ]:
        server = InfluxDB1StandIn(release=release)
        server.policy("home", "day", DAY)
        await server.start()
        try:
            status, text = await _post(server, f"m v=1 {old}\nm v=2 {old + 1}\n", rp="day")
            assert status == 400
            assert expected in text
        finally:
            await server.stop()


def test_go_quoted_names_are_read() -> None:
    # 2.x and 1.12 print names with `%q`: a backslash doubled, a quote as \" (a tab as \t,
    # though our names never hold one: it is written as a space, docs/schema.md).
    healer = TypeHealer()
    message = (
        'partial write: field type conflict: input field "a\\\\b c\\"d" on measurement "m\\\\n"'
        " is type float, already exists as type string dropped=1"
    )
    assert healer.learn(message, window=0)
    line = 'm\\n a\\b\\ c\\"d=2.5 1\n'  # measurement m\n, field a\b c"d (escaped as our lines escape it)
    assert healer.heal(line) == ('m\\n a\\b\\ c\\"d="2.5" 1\n', None)


def test_shard_durations_as_go_prints_them() -> None:
    assert go_duration_ns("168h0m0s") == 7 * DAY
    assert go_duration_ns("1h0m0s") == HOUR
    assert go_duration_ns("30m0s") == HOUR // 2
    assert go_duration_ns("0s") == 0
    assert go_duration_ns("nonsense") is None


@pytest.mark.parametrize("release", [V1_8, V1_11, V1_12])
async def test_each_1x_release_settles_a_batch_over_shards(
    hass: HomeAssistant, release: Release, tmp_path: Path
) -> None:
    server = InfluxDB1StandIn(release=release)
    server.policy("home", "short", 30 * DAY, DAY)  # shards of a day, from SHOW RETENTION POLICIES
    await server.start()
    try:
        now = time.time_ns() // DAY * DAY
        day_a, day_b = now - 3 * DAY, now - DAY
        await _post(server, f'm,who=other v="x" {day_a}\nm,who=other v=true {day_b}\n', rp="short")
        data: dict[str, Any] = {
            "api_version": "1",
            "url": server.url,
            "database": "home",
            "retention_policy": "short",
        }
        delivery = make_delivery(hass, data, tmp_path / "dead.jsonl")
        lines = [
            f"m,who=us v=1.0 {now - 90 * DAY}\n",  # beyond retention
            f"m,who=us v=2.0 {day_a + 1}\n",  # a string in that shard: "2.0"
            f"m,who=us v=3.5 {day_b + 1}\n",  # a boolean in that shard: refused
            f"m,who=us v=4.0 {day_b + 2 * HOUR}\n",  # same shard (a day), refused too
            f'm,who=us s="{HUGE}" {now + 1}\n',  # over 1 MiB from 1.10 on
            f"m,who=us w=1.0 {now + 2}\n",
        ]
        before = server.requests
        await delivery.deliver(lines)

        ours = [row for row in server.rows("home", "m") if row.get("who") == "us"]
        long_refused = release is not V1_8
        assert len(ours) == (2 if long_refused else 3)
        assert delivery._stats.points_written == len(ours)
        refused = {record["line"][:25]: record["error"] for record in dead_lettered(delivery)}
        assert set(refused) == {lines[2][:25], lines[3][:25], *([lines[4][:25]] if long_refused else [])}
        assert delivery._stats.dropped[DropReason.RETENTION] == 1
        assert server.requests - before <= 10
    finally:
        await server.stop()


async def test_2x_refuses_a_batch_with_a_reserved_tag_key(
    hass: HomeAssistant, influxdb2: InfluxDB2StandIn
) -> None:
    # models/points.go v2.7.12 lines 536-545: the whole batch is a parse error.
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{influxdb2.url}/api/v2/write",
            params={"org": influxdb2.org, "bucket": influxdb2.bucket},
            headers={"Authorization": f"Token {influxdb2.token}"},
            data=b"m,time=x v=1 1\nm v=2 2\n",
        ) as response,
    ):
        assert response.status == 400
        assert 'cannot use reserved tag key \\"time\\"' in await response.text()
    assert influxdb2.rows(influxdb2.bucket, "m") == []


async def test_reserved_tag_keys_are_written_renamed_so_2x_takes_the_batch(
    hass: HomeAssistant, influxdb2: InfluxDB2StandIn
) -> None:
    data = {
        "api_version": "2",
        "url": influxdb2.url,
        "organization": influxdb2.org,
        "bucket": influxdb2.bucket,
        "token": influxdb2.token,
    }
    entry = await setup_entry(hass, data, {"tags": ["time=static"], "tags_attributes": ["_field"]})
    writer = entry.runtime_data.writer
    hass.states.async_set("sensor.reserved", "1", {"_field": "a"})
    await hass.config_entries.async_unload(entry.entry_id)

    assert writer.stats.points_written == 1
    assert writer.stats.points_dead_lettered == 0
    (row,) = influxdb2.rows(influxdb2.bucket, MEASUREMENT)
    assert row["tag_time"] == "static"
    assert row["tag__field"] == "a"
