"""A write that gets no answer: a line the server dies on, or an outage.

InfluxDB 3.6.0 to 3.9.3 panic building the answer to a refused line whose first 20 bytes end
inside a multi-byte character (influxdb3_write/src/lib.rs v3.6.0:150 to v3.9.3:150; fixed
by `floor_char_boundary` in v3.9.4): the connection closes without an answer, every time the
line is sent. `/ping` still answers, so the batch is narrowed down and only that line is
dead-lettered. A server that answers nothing at all is an outage: kept and retried, as before.
"""

from __future__ import annotations

import json

import aiohttp
from homeassistant.core import HomeAssistant
import pytest

from custom_components.influxdb_ingest.pipeline.stats import Problem
from custom_components.influxdb_ingest.target.server_info import ServerInfo

from .support.fault_proxy import FaultProxy, Reset
from .support.helpers import setup_entry, v1_entry_data, v3_entry_data, wait_for
from .support.standin_influxdb3 import InfluxDB3StandIn

# The built-in layout names a table after the unit: escaped, `²` is bytes 19 and 20.
RAIN = "Regenmenge in l/m²"
ROOMS = {f"room_{number}": str(20 + number) for number in range(7)}


async def _value_as_string(server: InfluxDB3StandIn) -> None:
    """Another tool stored the rain table's `value` as a string: our float is refused."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{server.url}/api/v3/write_lp",
            params={"db": "home"},
            data=f'{RAIN.replace(" ", "\\ ")},entity_id=sensor.other value="2" 1\n'.encode(),
            headers={"Authorization": "Bearer test-token"},
        ) as answer,
    ):
        assert answer.status == 204, await answer.text()


@pytest.mark.parametrize("influxdb3_release", ["3.9", "3.10"])
async def test_a_line_the_server_dies_on_is_dead_lettered_and_the_rest_stored(
    hass: HomeAssistant, influxdb3: InfluxDB3StandIn
) -> None:
    await _value_as_string(influxdb3)
    entry = await setup_entry(hass, v3_entry_data(influxdb3.url), {"layout": "builtin", "batch_size": 100})
    writer = entry.runtime_data.writer
    await wait_for(lambda: writer.delivery.client.server is not None)
    for room, state in ROOMS.items():
        hass.states.async_set(f"sensor.{room}", state, {"unit_of_measurement": "°C"})
    hass.states.async_set("sensor.rain", "1.5", {"unit_of_measurement": RAIN})
    await hass.async_block_till_done()
    await writer.async_flush()

    # The built-in layout's `entity_id` tag is the object id.
    stored = {row["entity_id"] for table in (RAIN, "°C") for row in influxdb3.rows("home", table)}
    assert stored >= set(ROOMS)
    dies = influxdb3.at.cut_inside_a_character_panics
    assert writer.stats.points_written == len(ROOMS) + (0 if dies else 1)
    assert writer.stats.problem is None
    assert writer.stats.write_errors == 0
    if dies:
        # 3.9.0 never answers the batch nor the line alone: the line is dead-lettered.
        (record,) = [json.loads(line) for line in writer.dead_letter_path.read_text().splitlines()]
        assert "entity_id=rain " in record["line"]
        assert "InfluxDB 3 Core 3.9.0 closed the connection without an answer" in record["error"]
        assert "fixed in 3.9.4" in record["error"]
        assert writer.stats.points_dead_lettered == 1
        assert "rain" not in stored
        # Another tool's write, the batch, halves down to the line (8 lines: 3 levels of two
        # requests), then the line once more.
        assert influxdb3.requests == 1 + 1 + 2 * 3 + 1
    else:
        # 3.10 answers: the float is converted to the string the server holds.
        assert writer.stats.points_dead_lettered == 0
        assert "rain" in stored
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_connection_dropped_once_while_ping_answers_loses_nothing(
    hass: HomeAssistant, fault_proxy: FaultProxy, database: str
) -> None:
    entry = await setup_entry(hass, v1_entry_data(fault_proxy.url, database), {"batch_size": 100})
    writer = entry.runtime_data.writer
    fault_proxy.inject(Reset(), Reset())  # the batch, then its first half
    for number in range(8):
        hass.states.async_set(f"sensor.s{number}", str(number))
    await hass.async_block_till_done()
    await writer.async_flush()

    assert writer.stats.points_written == 8
    assert writer.stats.points_dead_lettered == 0
    assert not writer.dead_letter_path.exists()
    await hass.config_entries.async_unload(entry.entry_id)


async def test_an_outage_that_drops_writes_is_retried_and_nothing_dead_lettered(
    hass: HomeAssistant, fault_proxy: FaultProxy, database: str
) -> None:
    entry = await setup_entry(
        hass, v1_entry_data(fault_proxy.url, database), {"batch_size": 100, "retry_initial_delay": 0.1}
    )
    writer = entry.runtime_data.writer
    fault_proxy.down = True  # every write and `/ping` reset: the server is gone
    for number in range(8):
        hass.states.async_set(f"sensor.s{number}", str(number))
    await hass.async_block_till_done()
    with pytest.raises(Exception, match="ServerDisconnectedError"):
        await writer.async_flush()

    assert writer.stats.problem is Problem.UNREACHABLE
    assert writer.stats.points_dead_lettered == 0
    assert writer.points_waiting == 8
    assert fault_proxy.count("reset (down)") == 1  # no narrowing: one write, one ping, kept
    fault_proxy.down = False
    await writer.async_flush()
    assert writer.stats.points_written == 8
    assert not writer.dead_letter_path.exists()
    await hass.config_entries.async_unload(entry.entry_id)


def test_the_releases_that_die_on_a_cut_character() -> None:
    def dies(version: str) -> bool:
        return ServerInfo("InfluxDB 3 Core", version, "Core").dies_on_a_cut_character

    assert [dies(v) for v in ("3.5.0", "3.6.0", "3.8.3", "3.9.0", "3.9.3", "3.9.4", "3.10.1")] == [
        False,
        True,
        True,
        True,
        True,
        False,
        False,
    ]
    assert not ServerInfo("InfluxDB 1 OSS", "1.8.10", "OSS").dies_on_a_cut_character
