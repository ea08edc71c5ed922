"""A scripted InfluxDB 1.x write endpoint, for the answers of 1.8, 1.11 and 1.12 that the real 1.6
here cannot give (its fields have no length limit, its names are not Go-quoted).

Only the write path, read at each tag in influxdata/influxdb:

* services/httpd/handler.go `serveWrite` (v1.8.10 lines 887-1041): database missing is 404
  `database not found: "db"`; a `tsdb.PartialWriteError` is 400 with its text; any other
  points-writer error 500 with its text, such as `retention policy not found: rp`
  (errors.go); else 204. Errors are `{"error":"..."}` (`httpError`, lines 1677-1700).
* How the batch is written, shard by shard, and how each release words it: `shards.py`.
* `SHOW RETENTION POLICIES` on `/query`: name, duration, shardGroupDuration, replicaN,
  default (coordinator/statement_executor.go `executeShowRetentionPoliciesStatement`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import json
import time

from aiohttp import web

from .shards import HOUR, V1_12, Release, ShardedWrites, shard_group_duration
from .standin_core import StandIn, parse_points_v2


def _error(status: int, message: str) -> web.Response:
    """`httpError`: Go's json.Marshal of `{"error": ...}` (compact) and a newline."""
    body = json.dumps({"error": message}, separators=(",", ":"), ensure_ascii=False) + "\n"
    return web.Response(status=status, text=body, content_type="application/json")


def _go_duration(ns: int) -> str:
    """Go's `time.Duration.String` for whole hours, as SHOW RETENTION POLICIES prints it."""
    return f"{ns // HOUR}h0m0s" if ns else "0s"


@dataclass
class InfluxDB1StandIn(StandIn):
    """Databases of retention policies: name -> (duration ns, shard duration ns); the first is the default."""

    release: Release = V1_12
    policies: dict[str, dict[str, tuple[int, int]]] = field(
        default_factory=lambda: {"home": {"autogen": (0, 7 * 24 * HOUR)}}
    )
    writers: dict[tuple[str, str], ShardedWrites] = field(default_factory=dict)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/write", self._write)
        app.router.add_get("/query", self._query)

    def policy(self, db: str, name: str, duration_ns: int, shard_ns: int | None = None) -> None:
        self.policies.setdefault(db, {})[name] = (duration_ns, shard_ns or shard_group_duration(duration_ns))

    async def _write(self, request: web.Request) -> web.Response:
        self.requests += 1
        db = request.query.get("db", "")
        if db not in self.policies:
            return _error(404, f'database not found: "{db}"')
        body = await request.read()
        if fault := self.fault(body):
            return fault
        rp = request.query.get("rp") or next(iter(self.policies[db]))
        if rp not in self.policies[db]:
            return _error(500, f"retention policy not found: {rp}")
        points, failed = parse_points_v2(body.decode(errors="replace"))
        if failed and not points:
            return _error(400, "\n".join(failed))
        duration, shard = self.policies[db][rp]
        writer = self.writers.setdefault((db, rp), ShardedWrites(self.release, duration, shard))
        now = time.time_ns()
        message = writer.write(
            self.store, db, rp, [(p, now if p.timestamp is None else p.timestamp) for p in points]
        )
        self.bodies.append(body)
        if message is not None:
            return _error(400, message)
        return web.Response(status=204)

    async def _query(self, request: web.Request) -> web.Response:
        db = request.query.get("db", "")
        if request.query.get("q", "").strip().upper() != "SHOW RETENTION POLICIES" or db not in self.policies:
            return _error(400, "only SHOW RETENTION POLICIES of an existing database is scripted")
        values = [
            [name, _go_duration(duration), _go_duration(shard), 1, index == 0]
            for index, (name, (duration, shard)) in enumerate(self.policies[db].items())
        ]
        columns = ["name", "duration", "shardGroupDuration", "replicaN", "default"]
        series = [{"columns": columns, "values": values}]
        return web.json_response({"results": [{"statement_id": 0, "series": series}]})
