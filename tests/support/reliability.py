"""What the reliability scenarios (tests/test_reliability.py) run against, and their figures.

Each scenario runs once against the real InfluxDB 1.x and once against the InfluxDB 3 Core
stand-in (tests/support/standin_influxdb3.py): both behind one small interface, `ScenarioServer`,
that starts, crashes and stops the server, writes to it as another tool would and counts
what it stored. `scripts/reliability` writes the figures to docs/reliability.md.

Exactly once is measured where it can be seen: the servers overwrite a point sent twice
(same series, same timestamp), so what they store cannot tell a resend from a first send.
The scenarios write through a fault proxy that keeps every request's body, and
`count_sends` reads from those bodies how often the server accepted each point; every
acceptance after the first must have a reason the scenario caused, or it is unexplained.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import asdict, dataclass, field
import json
import os
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from custom_components.influxdb_ingest.target.influx_api import InfluxClient, WriteRejected

from .fault_proxy import Write
from .helpers import MEASUREMENT
from .servers import InfluxDB1Server
from .spool_oracle import SEQ
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
    # The integration's type pointed at it: "3", or the 1.x and 2.x types (3.x's compatibility APIs).
    flavour: str = "3"

    def __post_init__(self) -> None:
        self.server.store.databases[DB] = {}

    @property
    def url(self) -> str:
        return self.server.url

    def entry_data(self, url: str | None = None) -> dict[str, Any]:
        base = {"url": url or self.url, "verify_ssl": True}
        if self.flavour == "1":  # the 1.x type at 3.x: Basic auth, the token as the password
            return {
                **base,
                "api_version": "1",
                "database": DB,
                "username": "ha",
                "password": self.server.token,
            }
        if self.flavour == "2":  # the 2.x type at 3.x: the bucket is the database
            return {
                **base,
                "api_version": "2",
                "organization": "ignored",
                "bucket": DB,
                "token": self.server.token,
            }
        return {**base, "api_version": "3", "database": DB, "token": self.server.token}

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


# Why a point may reach the server again after the server accepted it.
ANSWER_LOST = "the answer to an accepted write was lost (a timeout, or the sender killed)"
CRASH_BEFORE_CURSOR = "a crash after the write was stored, before the spool's cursor moved"


@dataclass
class Sends:
    """How often the server accepted each point (by its event number), and why again."""

    accepted: Counter[int] = field(default_factory=Counter)
    resends: Counter[str] = field(default_factory=Counter)  # reason -> points
    unexplained: list[int] = field(default_factory=list)  # accepted again for no such reason

    @property
    def total_resends(self) -> int:
        return sum(self.resends.values()) + len(self.unexplained)

    def describe(self) -> str:
        """For the figures' notes: "each point accepted once", or the resends by reason."""
        if not self.total_resends:
            return "each point accepted once"
        parts = [f"{count} because {reason}" for reason, count in self.resends.items()]
        if self.unexplained:
            parts.append(f"{len(self.unexplained)} unexplained")
        return f"{self.total_resends} points accepted again: " + ", ".join(parts)


def count_sends(
    writes: Iterable[Write], crashed_before_cursor: Collection[int] = (), heard: Counter[bytes] | None = None
) -> Sends:
    """Every point the server accepted, from the bodies of the write requests in arrival
    order (the lines a partial write stored count as accepted: `Write.stored_lines`). A point
    accepted again is explained when an earlier acceptance of it never got its answer back to
    the writer, or when it is in `crashed_before_cursor` (pending in the spool at a kill after
    the server had accepted it); otherwise it is unexplained.

    The proxy sees an answer lost only when the writer had gone before it answered; a writer
    that times out just as the answer comes (a loaded machine) is seen by the writer alone:
    `heard`, how often the writer read an answer to each body (`AnswersHeard`), settles that:
    of a body's acceptances, the first ones beyond the answers heard were lost (once the
    writer hears one, it must not send that body again)."""
    sends = Sends()
    answer_lost: set[int] = set()
    writes = sorted(writes, key=lambda write: write.arrived)
    unheard = Counter(write.body for write in writes if write.stored_lines())
    unheard.subtract(heard or Counter())
    for write in writes:
        lost = write.answer_lost
        if heard is not None and unheard[write.body] > 0 and write.stored_lines():
            unheard[write.body] -= 1
            lost = True
        for match in SEQ.findall(b"\n".join(write.stored_lines()) + b"\n"):
            number = int(match)
            if sends.accepted[number]:
                if number in answer_lost:
                    sends.resends[ANSWER_LOST] += 1
                elif number in crashed_before_cursor:
                    sends.resends[CRASH_BEFORE_CURSOR] += 1
                else:
                    sends.unexplained.append(number)
            sends.accepted[number] += 1
            if lost:
                answer_lost.add(number)
    return sends


class AnswersHeard(Counter[bytes]):
    """How often the integration's client read an answer (2xx, or a refusal) to each body."""

    def listen(self, client: InfluxClient) -> None:
        """Wrap `client.write` (an attribute of this instance only) to note each answer heard."""
        write = client.write

        async def noting(body: bytes, timeout: float) -> None:
            try:
                await write(body, timeout)
            except WriteRejected:
                self[body] += 1
                raise
            self[body] += 1

        client.write = noting  # type: ignore[method-assign]


def assert_each_point_accepted_once_or_resent_for_a_reason(sends: Sends, expected: Collection[int]) -> None:
    """Exactly once, as the proxy saw it: every expected point accepted, and no point
    accepted again without a reason the scenario caused."""
    missing = set(expected) - set(sends.accepted)
    assert not missing, f"{len(missing)} points never accepted, e.g. {sorted(missing)[:5]}"
    assert not sends.unexplained, (
        f"{len(sends.unexplained)} points accepted again for no reason the scenario caused"
        f" (a resend of what the server had acknowledged), e.g. {sorted(set(sends.unexplained))[:5]}"
    )


@dataclass
class Figures:
    """What one scenario did, counted from what the server stored."""

    scenario: str
    server: str
    fired: int
    stored: int
    resends: int  # points the server accepted again (each with its reason in the notes)
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
