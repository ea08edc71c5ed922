"""Another InfluxDB 1.x database, copied measurement by measurement with its types kept.

For people leaving the 1.x add-on: each measurement is one lane, read in time windows
with `SELECT * ... GROUP BY *` (tags come back per series, fields as columns) at
nanosecond precision, and written as line protocol with the type `SHOW FIELD KEYS`
reports for each field (float, integer, string, boolean), whatever JSON made of the
value: InfluxDB answers a float 1.0 as `1`. A string longer than the target stores (1.x before
1.10 stored any length) is cut to the target's limit and handed back whole with the window,
as live lines do (pipeline/string_limit.py): the point is written, nothing is lost.
https://docs.influxdata.com/influxdb/v1/tools/api/#query-http-endpoint
https://docs.influxdata.com/influxdb/v1/query_language/explore-schema/#show-field-keys
"""

from __future__ import annotations

from collections.abc import Callable
import json
from typing import Any

import aiohttp
from yarl import URL

from ..lines.line_protocol import (
    StringLimit,
    escape_field_key,
    escape_string_field,
    format_float,
    format_head,
)
from ..pipeline.serializer import CutValue
from .backfill_job import NS, BackfillJob, Chunk, Lane, SourceAuthFailed, SourceError, SourceNotFound

_QUERY_TIMEOUT = 120.0
# The widest window read at once (the server's max-row-limit, if any, halves it further).
_MAX_WINDOW_NS = 86_400 * NS


def _identifier(name: str) -> str:
    """An InfluxQL double-quoted identifier."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_typed(value: Any, kind: str, key: str, limit: StringLimit) -> str | None:
    """A field value as line protocol of the type the source stored it with; None: no value.

    A string is cut to `limit` (remembered whole there under `key`).
    """
    if value is None:
        return None
    if kind == "float":
        return format_float(float(value))
    if kind == "integer":
        return f"{int(value)}i"
    if kind == "unsigned":
        return f"{int(value)}u"
    if kind == "boolean":
        return "true" if value else "false"
    return escape_string_field(limit.fit(key, str(value)))


def _kind_of(value: Any) -> str:
    """The type of a value whose field SHOW FIELD KEYS did not list (JSON's own idea)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    return "float"


class InfluxDB1Database:
    """Reads one database of an InfluxDB 1.x server through its HTTP query API."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        connection: dict[str, Any],
        *,
        string_limit: Callable[[], int] | None = None,
    ) -> None:
        """`string_limit`: the target's, for a job's reads (None: the database is only listed or checked)."""
        self._session = session
        self._string_limit = string_limit
        self._url = URL(str(connection["url"]).rstrip("/")) / "query"
        self._database = str(connection["database"])
        self._headers = (
            {
                "Authorization": aiohttp.encode_basic_auth(
                    connection["username"], connection.get("password") or ""
                )
            }
            if connection.get("username")
            else {}
        )
        self._types: dict[str, dict[str, str]] = {}  # measurement -> field -> type

    async def query(self, statement: str) -> list[dict[str, Any]]:
        """The series of one statement (times in nanoseconds); SourceError when it fails."""
        params = {"db": self._database, "q": statement, "epoch": "ns"}
        try:
            async with self._session.get(
                self._url,
                params=params,
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=_QUERY_TIMEOUT),
            ) as response:
                text = await response.text(errors="replace")
        except (aiohttp.ClientError, TimeoutError) as err:
            raise SourceError(f"cannot reach {self._url.origin()}: {type(err).__name__}") from None
        if response.status in (401, 403):
            raise SourceAuthFailed(f"{self._url.origin()} rejects the credentials (HTTP {response.status})")
        try:
            result = json.loads(text)["results"][0]
        except ValueError, KeyError, IndexError, TypeError:
            raise SourceError(f"{self._url.origin()} answered HTTP {response.status}: {text[:200]}") from None
        if "error" in result:
            error = str(result["error"])
            if error.startswith("database not found"):
                raise SourceNotFound(f"{self._url.origin()}: {error}")
            raise SourceError(f"{self._url.origin()}: {error}")
        series: list[dict[str, Any]] = result.get("series", [])
        return series

    async def async_databases(self) -> list[str]:
        """The databases the server shows these credentials, sorted (SourceError when it fails)."""
        return sorted(
            {row[0] for series in await self.query("SHOW DATABASES") for row in series.get("values", [])}
        )

    async def async_check(self) -> None:
        """Prove the server answers, takes the credentials and has the database (SourceError)."""
        if self._database not in await self.async_databases():
            raise SourceNotFound(f"{self._url.origin()} has no database {self._database!r} (or hides it)")

    async def async_open(self, job: BackfillJob) -> list[Lane]:
        """Learn each measurement's field types; a new job also finds each one's time span."""
        measurements = [
            row[0] for series in await self.query("SHOW MEASUREMENTS") for row in series["values"]
        ]
        for measurement in measurements:
            self._types[measurement] = {}
            for series in await self.query(f"SHOW FIELD KEYS FROM {_identifier(measurement)}"):
                for key, kind in series["values"]:
                    self._types[measurement].setdefault(key, kind)  # a type per shard: the first
        if job.lanes is not None:
            return job.lanes
        lanes = []
        for measurement in measurements:
            first = await self._time(measurement, "ASC")
            last = await self._time(measurement, "DESC")
            if first is None or last is None:
                continue
            start, end = max(first, job.start_ns), min(last + 1, job.end_ns)
            if start < end:
                lanes.append(Lane(measurement, start, end, _MAX_WINDOW_NS))
        return lanes

    async def _time(self, measurement: str, order: str) -> int | None:
        # An identifier quoted by _identifier and a fixed order: nothing else reaches the query.
        series = await self.query(
            f"SELECT * FROM {_identifier(measurement)} ORDER BY time {order} LIMIT 1"  # noqa: S608
        )
        return int(series[0]["values"][0][0]) if series and series[0].get("values") else None

    async def async_read(self, lane: Lane, start_ns: int, end_ns: int) -> Chunk:
        """The points of one measurement in `[start_ns, end_ns)`, types kept."""
        measurement = lane.name
        types = self._types.get(measurement, {})
        series_list = await self.query(
            f"SELECT * FROM {_identifier(measurement)}"  # noqa: S608  # a quoted identifier and integers
            f" WHERE time >= {start_ns} AND time < {end_ns} GROUP BY *"
        )
        if any(series.get("partial") for series in series_list) and end_ns - start_ns > 1:
            # The server's max-row-limit cut the answer short: read half the window.
            return await self.async_read(lane, start_ns, start_ns + (end_ns - start_ns) // 2)
        if self._string_limit is None:  # a bug, not the source's fault: the job fails, logged
            raise RuntimeError("a backfill job reads with the target's string limit")
        limit = StringLimit(self._string_limit())
        lines = []
        cut: list[CutValue] = []
        rows = 0
        for series in series_list:
            head = format_head(measurement, series.get("tags") or {})
            columns = series["columns"]
            keys = [escape_field_key(column) for column in columns]
            for values in series.get("values", []):
                rows += 1
                fields = ",".join(
                    f"{keys[index]}={text}"
                    for index in range(1, len(columns))
                    if keys[index]
                    and (
                        text := format_typed(
                            values[index],
                            types.get(columns[index]) or _kind_of(values[index]),
                            columns[index],
                            limit,
                        )
                    )
                    is not None
                )
                if fields:
                    line = f"{head} {fields} {values[0]}"
                    lines.append(line + "\n")
                    cut.extend(CutValue(line, key, whole) for key, whole in limit.take())
        return Chunk(lines, rows, end_ns, cut)
