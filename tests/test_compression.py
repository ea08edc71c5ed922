"""gzip-compressed writes: stored by the real InfluxDB 1.x, and a refusal falls back to plain."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeassistant.core import HomeAssistant

from .support.fault_proxy import FaultProxy, Status
from .support.helpers import count_points, setup_entry, v1_entry_data, wait_for


def _through(proxy: FaultProxy, database: str) -> dict[str, Any]:
    """Entry data for the real InfluxDB 1.x behind the proxy."""
    return v1_entry_data(proxy.url, database)


async def test_gzip_writes_are_stored_by_the_real_server(
    hass: HomeAssistant, fault_proxy: FaultProxy, database: str, query: Callable[..., Any]
) -> None:
    entry = await setup_entry(
        hass, _through(fault_proxy, database), {"compression": "gzip", "flush_interval": 0.1}
    )
    for value in range(50):
        hass.states.async_set("sensor.gzip", str(value), {"padding": "x" * 200})

    await wait_for(lambda: entry.runtime_data.writer.points_waiting == 0)
    assert await count_points(query, database) == 50
    assert fault_proxy.encodings
    assert set(fault_proxy.encodings) == {"gzip"}  # loopback, yet asked for: every write compressed


async def test_gzip_is_understood_by_the_real_server_directly(
    hass: HomeAssistant, v1_config: dict[str, Any], database: str, query: Callable[..., Any]
) -> None:
    entry = await setup_entry(hass, v1_config, {"compression": "gzip", "flush_interval": 0.1})
    for value in range(10):
        hass.states.async_set("sensor.gzip", str(value))

    await wait_for(lambda: entry.runtime_data.writer.points_waiting == 0)
    assert await count_points(query, database) == 10
    assert entry.runtime_data.writer.delivery.client.gzip
    assert entry.runtime_data.writer.stats.write_errors == 0


async def test_automatic_compression_is_off_for_a_server_on_this_machine(
    hass: HomeAssistant, v1_config: dict[str, Any]
) -> None:
    entry = await setup_entry(hass, v1_config)
    assert not entry.runtime_data.writer.delivery.client.gzip


async def test_a_server_refusing_gzip_gets_plain_writes_and_loses_nothing(
    hass: HomeAssistant, fault_proxy: FaultProxy, database: str, query: Callable[..., Any]
) -> None:
    fault_proxy.inject(Status(415, body='{"error":"unsupported content encoding"}'))
    entry = await setup_entry(
        hass, _through(fault_proxy, database), {"compression": "gzip", "flush_interval": 0.1}
    )
    for value in range(20):
        hass.states.async_set("sensor.plain", str(value))

    await wait_for(lambda: entry.runtime_data.writer.points_waiting == 0)
    assert await count_points(query, database) == 20
    assert fault_proxy.count("status 415") == 1
    assert fault_proxy.encodings[0] == "gzip"
    assert set(fault_proxy.encodings[1:]) == {""}
    assert not entry.runtime_data.writer.delivery.client.gzip
    assert entry.runtime_data.writer.stats.write_errors == 0  # the fallback is not a failure
