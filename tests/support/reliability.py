"""What the reliability scenarios (tests/test_reliability.py) run against, and their figures.

Each scenario runs once against the real InfluxDB 1.x and once against the InfluxDB 3 Core
stand-in (tests/support/standin_influxdb3.py): both behind one small interface, `ScenarioServer`,
that starts, crashes and stops the server, writes to it as another tool would and counts
what it stored. `scripts/reliability` writes the figures to docs/reliability.md.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
import json
import os
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from .helpers import MEASUREMENT
from .servers import InfluxDB1Server
from .standin_influxdb3 import InfluxDB3StandIn

DB = "reliability"


class ScenarioServer(Protocol):
    """A server the scenarios write to; `start` is also a restart on the same port and data."""

    name: str  # shown in the figures' server column
    row: str  # appended to the scenario's number: "" for 1.x, "b" for 3.x

    @property
    def url(self) -> str: ...

    def entry_data(self, url: str | None = None) -> dict[str, Any]:
        """Config entry data for database `DB`, directly or through `url` (a proxy)."""
        ...

    async def start(self) -> None: ...

    async def crash(self) -> None: ...

    async def stop(self) -> None: ...

    async def counts(self) -> tuple[int, int]:
        """(points stored, distinct event numbers among them): equal means no duplicates."""
        ...

    async def write_as_another_tool(self, line: str) -> None: ...


@dataclass
class InfluxDB1Target:
    """The real InfluxDB 1.x, without authentication; `run` is Home Assistant's executor."""

    server: InfluxDB1Server
    run: Callable[..., Awaitable[Any]]
    name: str = "InfluxDB 1.6"
    row: str = ""

    @property
    def url(self) -> str:
        return self.server.url

    def entry_data(self, url: str | None = None) -> dict[str, Any]:
        return {"api_version": "1", "url": url or self.url, "database": DB, "verify_ssl": True}

    async def start(self) -> None:
        await self.run(self.server.start)
        await self.run(self.server.query, f"CREATE DATABASE {DB}", None, "POST")

    async def crash(self) -> None:
        await self.run(self.server.kill)  # SIGKILL

    async def stop(self) -> None:
        await self.run(self.server.stop)

    async def counts(self) -> tuple[int, int]:
        return await self.run(self._counts)  # type: ignore[no-any-return]

    def _counts(self) -> tuple[int, int]:
        def scalar(q: str) -> int:
            series = self.server.query(q, DB)["results"][0].get("series")
            return int(series[0]["values"][0][1]) if series else 0

        return (
            scalar(f"SELECT count(state) FROM {MEASUREMENT}"),
            scalar(f"SELECT count(distinct(num_seq)) FROM {MEASUREMENT}"),
        )

    async def write_as_another_tool(self, line: str) -> None:
        await self.run(self.server.write, DB, line)


@dataclass
class InfluxDB3Target:
    """The InfluxDB 3 Core stand-in, in this process, with the database `DB` created."""

    server: InfluxDB3StandIn = field(default_factory=InfluxDB3StandIn)
    name: str = "InfluxDB 3 Core (stand-in)"
    row: str = "b"

    def __post_init__(self) -> None:
        self.server.store.databases[DB] = {}

    @property
    def url(self) -> str:
        return self.server.url

    def entry_data(self, url: str | None = None) -> dict[str, Any]:
        return {
            "api_version": "3",
            "url": url or self.url,
            "database": DB,
            "token": self.server.token,
            "verify_ssl": True,
        }

    async def start(self) -> None:
        await self.server.start()

    async def crash(self) -> None:
        await self.server.crash()

    async def stop(self) -> None:
        await self.server.stop()

    async def counts(self) -> tuple[int, int]:
        # Read in the event loop, where the stand-in changes its store. Another tool's
        # points have no `state`; the number attribute `seq` is stored as `num_seq`.
        rows = [row for row in self.server.rows(DB, MEASUREMENT) if "state" in row]
        return len(rows), len({row["num_seq"] for row in rows})

    async def write_as_another_tool(self, line: str) -> None:
        url = f"{self.url}/api/v3/write_lp?db={DB}&precision=nanosecond"
        headers = {"Authorization": f"Bearer {self.server.token}"}
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=line, headers=headers) as answer,
        ):
            assert answer.status == 204, await answer.text()


@dataclass
class Figures:
    """What one scenario did, counted from what the server stored."""

    scenario: str
    server: str
    fired: int
    stored: int
    duplicates: int
    dead_lettered: int
    dropped: int
    peak_memory_mb: float
    notes: str = ""

    def save(self) -> None:
        """Append to the figures file when scripts/reliability asked for one
        (environment variable INFLUXDB_INGEST_FIGURES); otherwise the test only asserts."""
        if target := os.environ.get("INFLUXDB_INGEST_FIGURES"):
            with Path(target).open("a", encoding="utf-8") as file:
                file.write(json.dumps(asdict(self)) + "\n")
