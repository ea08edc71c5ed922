"""The fault proxy does what it says, in front of the real InfluxDB 1.x."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp
from homeassistant.core import HomeAssistant
import pytest

from .support.fault_proxy import Delay, FaultProxy, Forward, Reset, Status
from .support.helpers import wait_for
from .support.servers import ADMIN_PASSWORD, ADMIN_USER, InfluxDB1Server, free_port

AUTH = {"Authorization": aiohttp.encode_basic_auth(ADMIN_USER, ADMIN_PASSWORD)}
CLIENT_DISCONNECTED = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)


@pytest.fixture
async def client() -> AsyncGenerator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers=AUTH) as session:
        yield session


async def write(
    client: aiohttp.ClientSession, proxy: FaultProxy, db: str, line: str
) -> aiohttp.ClientResponse:
    async with client.post(f"{proxy.url}/write", params={"db": db}, data=line.encode()) as response:
        await response.read()
        return response


async def values(hass: HomeAssistant, influxdb_v1: InfluxDB1Server, db: str) -> list[Any]:
    result = await hass.async_add_executor_job(influxdb_v1.query, "SELECT value FROM cpu", db)
    statement = result["results"][0]
    assert "error" not in statement, statement
    return [row[1] for series in statement.get("series", []) for row in series["values"]]


async def test_forwarded_write_lands(
    hass: HomeAssistant,
    influxdb_v1: InfluxDB1Server,
    database: str,
    fault_proxy: FaultProxy,
    client: aiohttp.ClientSession,
) -> None:
    response = await write(client, fault_proxy, database, "cpu value=1")

    assert response.status == 204
    assert "X-Influxdb-Version" in response.headers
    assert await values(hass, influxdb_v1, database) == [1]
    assert [outcome for _, outcome in fault_proxy.log] == ["forwarded 204"]
    assert fault_proxy.writes_forwarded == 1


async def test_upstream_errors_are_mirrored(
    database: str, fault_proxy: FaultProxy, client: aiohttp.ClientSession
) -> None:
    """Not only 2xx: upstream's own error status, body and X-Influxdb-Error come back."""
    async with client.post(f"{fault_proxy.url}/write", params={"db": database}, data=b"cpu value=") as resp:
        body = await resp.json()

    assert resp.status == 400
    assert "X-Influxdb-Error" in resp.headers
    assert "error" in body
    assert fault_proxy.log[0][1] == "forwarded 400"


async def test_status_is_answered_without_forwarding(
    hass: HomeAssistant,
    influxdb_v1: InfluxDB1Server,
    database: str,
    fault_proxy: FaultProxy,
    client: aiohttp.ClientSession,
) -> None:
    fault_proxy.inject(Status(503, {"Retry-After": "2"}))

    async with client.post(f"{fault_proxy.url}/write", params={"db": database}, data=b"cpu value=1") as resp:
        body = await resp.json()

    assert resp.status == 503
    assert resp.headers["Retry-After"] == "2"
    assert body == {"error": "injected"}
    assert await values(hass, influxdb_v1, database) == []
    assert fault_proxy.count("status 503") == 1
    assert fault_proxy.writes_forwarded == 0


async def test_faults_are_consumed_in_order_by_writes_only(
    hass: HomeAssistant,
    influxdb_v1: InfluxDB1Server,
    database: str,
    fault_proxy: FaultProxy,
    client: aiohttp.ClientSession,
) -> None:
    fault_proxy.inject(Status(429), Forward(), Status(500))

    async with client.get(f"{fault_proxy.url}/query", params={"q": "SHOW DATABASES"}) as query:
        assert query.status == 200
    async with client.get(f"{fault_proxy.url}/ping") as ping:
        assert ping.status == 204
    statuses = [(await write(client, fault_proxy, database, f"cpu value={i}")).status for i in range(4)]

    assert statuses == [429, 204, 500, 204]
    assert [outcome for _, outcome in fault_proxy.log] == [
        "status 429",
        "forwarded 204",
        "status 500",
        "forwarded 204",
    ]
    assert sorted(await values(hass, influxdb_v1, database)) == [1, 3]


async def test_reset_drops_the_connection(
    hass: HomeAssistant,
    influxdb_v1: InfluxDB1Server,
    database: str,
    fault_proxy: FaultProxy,
    client: aiohttp.ClientSession,
) -> None:
    fault_proxy.inject(Reset())

    with pytest.raises(CLIENT_DISCONNECTED):
        await write(client, fault_proxy, database, "cpu value=1")
    # The proxy survives: the next write goes through.
    assert (await write(client, fault_proxy, database, "cpu value=2")).status == 204

    assert await values(hass, influxdb_v1, database) == [2]
    assert [outcome for _, outcome in fault_proxy.log] == ["reset", "forwarded 204"]


async def test_delay_then_forward(
    hass: HomeAssistant,
    influxdb_v1: InfluxDB1Server,
    database: str,
    fault_proxy: FaultProxy,
    client: aiohttp.ClientSession,
) -> None:
    fault_proxy.inject(Delay(0.5))
    loop = asyncio.get_running_loop()

    started = loop.time()
    response = await write(client, fault_proxy, database, "cpu value=1")
    elapsed = loop.time() - started

    assert response.status == 204
    assert elapsed >= 0.5
    assert await values(hass, influxdb_v1, database) == [1]
    assert [outcome for _, outcome in fault_proxy.log] == ["delay 0.5 forwarded 204"]


async def test_client_timing_out_during_delay_does_not_break_the_proxy(
    hass: HomeAssistant,
    influxdb_v1: InfluxDB1Server,
    database: str,
    fault_proxy: FaultProxy,
    client: aiohttp.ClientSession,
) -> None:
    """A slow server still applies a write the client gave up on: the duplicate-write case."""
    fault_proxy.inject(Delay(0.5))

    with pytest.raises(TimeoutError):
        async with client.post(
            f"{fault_proxy.url}/write",
            params={"db": database},
            data=b"cpu value=1",
            timeout=aiohttp.ClientTimeout(total=0.1),
        ):
            pass
    for _ in range(50):
        if fault_proxy.log:
            break
        await asyncio.sleep(0.1)

    assert [outcome for _, outcome in fault_proxy.log] == ["delay 0.5 forwarded 204 (client gone)"]
    assert (await write(client, fault_proxy, database, "cpu value=2")).status == 204
    assert sorted(await values(hass, influxdb_v1, database)) == [1, 2]


async def test_down_resets_writes_but_not_queries(
    hass: HomeAssistant,
    influxdb_v1: InfluxDB1Server,
    database: str,
    fault_proxy: FaultProxy,
    client: aiohttp.ClientSession,
) -> None:
    fault_proxy.inject(Status(500))
    fault_proxy.down = True

    for i in range(2):
        with pytest.raises(CLIENT_DISCONNECTED):
            await write(client, fault_proxy, database, f"cpu value={i}")
    async with client.get(
        f"{fault_proxy.url}/query", params={"q": "SHOW MEASUREMENTS", "db": database}
    ) as query:
        assert query.status == 200
        assert "error" not in (await query.json())["results"][0]

    # Back up: the queued fault was kept for the first write after the outage.
    fault_proxy.down = False
    assert (await write(client, fault_proxy, database, "cpu value=7")).status == 500
    assert (await write(client, fault_proxy, database, "cpu value=8")).status == 204

    assert await values(hass, influxdb_v1, database) == [8]
    assert fault_proxy.count("reset") == 2
    assert [outcome for _, outcome in fault_proxy.log] == [
        "reset (down)",
        "reset (down)",
        "status 500",
        "forwarded 204",
    ]


async def test_upstream_gone_drops_the_connection(
    hass: HomeAssistant, database: str, client: aiohttp.ClientSession
) -> None:
    """With nothing listening upstream the client sees a dropped connection, as without the proxy."""
    proxy = FaultProxy(upstream=f"http://127.0.0.1:{free_port()}")
    await proxy.start()
    try:
        with pytest.raises(CLIENT_DISCONNECTED):
            await write(client, proxy, database, "cpu value=1")
    finally:
        await proxy.stop()

    assert proxy.log[0][1].startswith("upstream error ClientConnectorError")
    assert proxy.writes_forwarded == 0


async def test_stop_does_not_wait_for_a_long_delay(
    database: str, fault_proxy: FaultProxy, client: aiohttp.ClientSession
) -> None:
    """Teardown stays quick even with a write stuck in an injected Delay."""
    fault_proxy.inject(Delay(30))
    stuck = asyncio.create_task(write(client, fault_proxy, database, "cpu value=1"))
    await asyncio.sleep(0.2)

    async with asyncio.timeout(5):
        await fault_proxy.stop()
    with pytest.raises(CLIENT_DISCONNECTED):
        await stuck


async def test_settled_writes_waits_for_a_write_still_on_its_way(
    hass: HomeAssistant,
    influxdb_v1: InfluxDB1Server,
    database: str,
    fault_proxy: FaultProxy,
    client: aiohttp.ClientSession,
) -> None:
    """A write is recorded when its answer is back: `settled_writes` waits for it, `writes` does not."""
    fault_proxy.inject(Delay(0.3))
    sending = asyncio.ensure_future(write(client, fault_proxy, database, "cpu value=1"))
    await wait_for(lambda: fault_proxy.encodings, interval=0.01)  # arrived at the proxy
    assert fault_proxy.writes == []

    writes = await fault_proxy.settled_writes()

    assert [write.outcome for write in writes] == ["delay 0.3 forwarded 204"]
    assert (await sending).status == 204
    assert await values(hass, influxdb_v1, database) == [1]
