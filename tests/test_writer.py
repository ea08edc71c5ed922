"""Writer behaviour on server answers that real 1.x servers here cannot be made to give (2.x stand-in)."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
import pytest

from .support.helpers import setup_entry, wait_for
from .support.standin_influxdb2 import InfluxDB2StandIn


def _v2(server: InfluxDB2StandIn) -> dict[str, object]:
    return {
        "api_version": "2",
        "url": server.url,
        "organization": server.org,
        "bucket": server.bucket,
        "token": server.token,
        "verify_ssl": True,
    }


def _lines(server: InfluxDB2StandIn) -> list[bytes]:
    return [line for body in server.bodies for line in body.splitlines()]


async def test_too_large_batches_are_split_until_accepted(
    hass: HomeAssistant, influxdb2: InfluxDB2StandIn
) -> None:
    influxdb2.max_lines = 3
    entry = await setup_entry(hass, _v2(influxdb2))
    writer = entry.runtime_data.writer
    for value in range(10):
        hass.states.async_set("sensor.split", str(value))
    await hass.config_entries.async_unload(entry.entry_id)

    assert len(_lines(influxdb2)) == 10
    assert all(body.count(b"\n") <= 3 for body in influxdb2.bodies)
    assert writer.stats.points_written == 10


async def test_busy_and_failing_answers_lose_nothing(
    hass: HomeAssistant, influxdb2: InfluxDB2StandIn
) -> None:
    # That the wait is the server's Retry-After is proven with a clock in test_writer_rules.py.
    influxdb2.injected = [(503, {"Retry-After": "0"}), (429, {"Retry-After": "0.1"}), (500, {})]
    entry = await setup_entry(hass, _v2(influxdb2))
    for value in range(5):
        hass.states.async_set("sensor.busy", str(value))
    writer = entry.runtime_data.writer

    await wait_for(lambda: writer.stats.points_written == 5)
    assert writer.stats.write_errors == 3
    assert "HTTP 500" in (writer.stats.last_error or "")
    assert len(_lines(influxdb2)) == 5
    assert influxdb2.injected == []
    await hass.config_entries.async_unload(entry.entry_id)


async def test_token_is_sent_in_the_header_not_the_url(
    hass: HomeAssistant, influxdb2: InfluxDB2StandIn
) -> None:
    entry = await setup_entry(hass, _v2(influxdb2))
    assert influxdb2.token not in str(entry.runtime_data.writer.delivery.client.target.write_url)
    hass.states.async_set("sensor.header", "1")
    await hass.config_entries.async_unload(entry.entry_id)
    assert len(_lines(influxdb2)) == 1


async def test_a_point_too_large_on_its_own_is_counted_not_retried_forever(
    hass: HomeAssistant, influxdb2: InfluxDB2StandIn, caplog: pytest.LogCaptureFixture
) -> None:
    influxdb2.max_lines = 0
    entry = await setup_entry(hass, _v2(influxdb2))
    writer = entry.runtime_data.writer
    hass.states.async_set("sensor.huge", "1")
    hass.states.async_set("sensor.huge", "2")
    await hass.config_entries.async_unload(entry.entry_id)

    assert influxdb2.bodies == []
    assert writer.stats.points_dead_lettered == 2
    assert writer.stats.points_dropped == 0
    assert writer.points_waiting == 0
    assert len(writer.dead_letter_path.read_text().splitlines()) == 2
    assert "too large" in caplog.text
