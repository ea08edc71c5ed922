"""The fault proxy does what it says, in front of the real InfluxDB 1.x."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass
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


@dataclass
class Bench:
    """A client writing through the proxy into the test's database, and what landed there."""

    hass: HomeAssistant
    influxdb_v1: InfluxDB1Server
    database: str
    proxy: FaultProxy
    client: aiohttp.ClientSession

    async def write(self, line: str) -> aiohttp.ClientResponse:
        """POST one line to the proxy's /write; the response, its body already read."""
        return await write(self.client, self.proxy, self.database, line)

    async def values(self) -> list[Any]:
        """`value` of every cpu point the real server stored."""
        query = "SELECT value FROM cpu"
        result = await self.hass.async_add_executor_job(self.influxdb_v1.query, query, self.database)
        statement = result["results"][0]
        assert "error" not in statement, statement
        return [row[1] for series in statement.get("series", []) for row in series["values"]]

    def outcomes(self) -> list[str]:
        """What the proxy did with each write, in order of arrival."""
        return [outcome for _, outcome in self.proxy.log]


@pytest.fixture
def bench(
    hass: HomeAssistant,
    influxdb_v1: InfluxDB1Server,
    database: str,
    fault_proxy: FaultProxy,
    client: aiohttp.ClientSession,
) -> Bench:
    return Bench(hass, influxdb_v1, database, fault_proxy, client)


async def write(
    client: aiohttp.ClientSession, proxy: FaultProxy, db: str, line: str
) -> aiohttp.ClientResponse:
    async with client.post(f"{proxy.url}/write", params={"db": db}, data=line.encode()) as response:
        await response.read()
        return response


async def test_forwarded_write_lands(bench: Bench) -> None:
    response = await bench.write("cpu value=1")

    assert response.status == 204
    assert "X-Influxdb-Version" in response.headers
    assert await bench.values() == [1]
    assert bench.outcomes() == ["forwarded 204"]
    assert bench.proxy.writes_forwarded == 1


async def test_upstream_errors_are_mirrored(bench: Bench) -> None:
    """Not only 2xx: upstream's own error status, body and X-Influxdb-Error come back."""
    resp = await bench.write("cpu value=")
    body = await resp.json()

    assert resp.status == 400
    assert "X-Influxdb-Error" in resp.headers
    assert "error" in body
    assert bench.proxy.log[0][1] == "forwarded 400"


async def test_status_is_answered_without_forwarding(bench: Bench) -> None:
    bench.proxy.inject(Status(503, {"Retry-After": "2"}))

    resp = await bench.write("cpu value=1")
    body = await resp.json()

    assert resp.status == 503
    assert resp.headers["Retry-After"] == "2"
    assert body == {"error": "injected"}
    assert await bench.values() == []
    assert bench.proxy.count("status 503") == 1
    assert bench.proxy.writes_forwarded == 0


async def test_faults_are_consumed_in_order_by_writes_only(bench: Bench) -> None:
    bench.proxy.inject(Status(429), Forward(), Status(500))

    async with bench.client.get(f"{bench.proxy.url}/query", params={"q": "SHOW DATABASES"}) as query:
        assert query.status == 200
    async with bench.client.get(f"{bench.proxy.url}/ping") as ping:
        assert ping.status == 204
    statuses = [(await bench.write(f"cpu value={i}")).status for i in range(4)]

    assert statuses == [429, 204, 500, 204]
    assert bench.outcomes() == ["status 429", "forwarded 204", "status 500", "forwarded 204"]
    assert sorted(await bench.values()) == [1, 3]


async def test_reset_drops_the_connection(bench: Bench) -> None:
    bench.proxy.inject(Reset())

    with pytest.raises(CLIENT_DISCONNECTED):
        await bench.write("cpu value=1")
    # The proxy survives: the next write goes through.
    assert (await bench.write("cpu value=2")).status == 204

    assert await bench.values() == [2]
    assert bench.outcomes() == ["reset", "forwarded 204"]


async def test_delay_then_forward(bench: Bench) -> None:
    bench.proxy.inject(Delay(0.5))
    loop = asyncio.get_running_loop()

    started = loop.time()
    response = await bench.write("cpu value=1")
    elapsed = loop.time() - started

    assert response.status == 204
    assert elapsed >= 0.5
    assert await bench.values() == [1]
    assert bench.outcomes() == ["delay 0.5 forwarded 204"]


async def test_client_timing_out_during_delay_does_not_break_the_proxy(bench: Bench) -> None:
    """A slow server still applies a write the client gave up on: the duplicate-write case."""
    bench.proxy.inject(Delay(0.5))

    with pytest.raises(TimeoutError):
        async with bench.client.post(
            f"{bench.proxy.url}/write",
            params={"db": bench.database},
            data=b"cpu value=1",
            timeout=aiohttp.ClientTimeout(total=0.1),
        ):
            pass
    for _ in range(50):
        if bench.proxy.log:
            break
        await asyncio.sleep(0.1)

    assert bench.outcomes() == ["delay 0.5 forwarded 204 (client gone)"]
    assert (await bench.write("cpu value=2")).status == 204
    assert sorted(await bench.values()) == [1, 2]


async def test_down_resets_writes_but_not_queries(bench: Bench) -> None:
    bench.proxy.inject(Status(500))
    bench.proxy.down = True

    for i in range(2):
        with pytest.raises(CLIENT_DISCONNECTED):
            await bench.write(f"cpu value={i}")
    async with bench.client.get(
        f"{bench.proxy.url}/query", params={"q": "SHOW MEASUREMENTS", "db": bench.database}
    ) as query:
        assert query.status == 200
        assert "error" not in (await query.json())["results"][0]

    # Back up: the queued fault was kept for the first write after the outage.
    bench.proxy.down = False
    assert (await bench.write("cpu value=7")).status == 500
    assert (await bench.write("cpu value=8")).status == 204

    assert await bench.values() == [8]
    assert bench.proxy.count("reset") == 2
    assert bench.outcomes() == ["reset (down)", "reset (down)", "status 500", "forwarded 204"]


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


async def test_stop_does_not_wait_for_a_long_delay(bench: Bench) -> None:
    """Teardown stays quick even with a write stuck in an injected Delay."""
    bench.proxy.inject(Delay(30))
    stuck = asyncio.create_task(bench.write("cpu value=1"))
    await asyncio.sleep(0.2)

    async with asyncio.timeout(5):
        await bench.proxy.stop()
    with pytest.raises(CLIENT_DISCONNECTED):
        await stuck


async def test_settled_writes_waits_for_a_write_still_on_its_way(bench: Bench) -> None:
    """A write is recorded when its answer is back: `settled_writes` waits for it, `writes` does not."""
    bench.proxy.inject(Delay(0.3))
    sending = asyncio.ensure_future(bench.write("cpu value=1"))
    await wait_for(lambda: bench.proxy.encodings, interval=0.01)  # arrived at the proxy
    assert bench.proxy.writes == []

    writes = await bench.proxy.settled_writes()

    assert [write.outcome for write in writes] == ["delay 0.3 forwarded 204"]
    assert (await sending).status == 204
    assert await bench.values() == [1]
