"""A stand-in for the InfluxDB 2.x write API (no 2.x server can run on this machine).

Every answer is the real server's, read from its Go source in influxdata/influxdb (2.x):

* `http/write_handler.go` `handleWrite`: the order of the checks (token, request parameters
  and gzip header, organization, bucket, write permission, body, parse, write) and their errors.
* `http/points/points_parser.go` and `batch_reader.go`: reading the body (gzip, size limit,
  "writing requires points") and parsing it (`models.ParsePointsWithPrecision`).
* `kit/transport/http/error_handler.go`: every error is `{"code": ..., "message": ...}` with
  the status of its code; an error that is not an `influxdb.Error` is hidden.
* `tenant/error_org.go`, `tenant/error_bucket.go`, `influxdb.ErrInvalidOrgFilter`: not found.
* `http/tokens.go`: `Token <t>` or `Bearer <t>`; `http/errors.go` `UnauthorizedError`: 401.
* `tsdb/field_validator.go`, `tsdb/shard.go` (`PartialWriteError`): field type conflicts drop
  the point and the write answers 422 with the other points stored; shard by shard, with
  the retention period and the 1 MiB string limit, as `shards.py` says.
* `models/points.go` (v2.7.12 lines 536-545): a tag key `_measurement`, `_field` or `time`
  is a parse error, `cannot use reserved tag key "time"`, and refuses the whole batch.
* An empty body is stored as nothing and answered 204 since 2.0.9 and 2.1.0 (commit
  d5b6f8e8a4, "allow empty request bodies to write API", http/points/points_parser.go);
  before, `writing requires points` (400).
* `http/health.go`, `http/legacy/ping_handler.go`: /health and /ping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import gzip
import json
import re
import time

from aiohttp import web

from .shards import V2, ShardedWrites
from .standin_core import GZIP_ERRORS, StandIn, parse_points_v2

# models/points.go v2.7.12 lines 28-45: `reservedTagKeys`.
RESERVED_TAG_KEYS = ("_measurement", "_field", "time")
# models.ValidPrecision / GetPrecisionMultiplier.
PRECISIONS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
# kit/transport/http/error_handler.go influxDBErrorToStatusCode (the codes used here).
STATUS = {
    "invalid": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not found": 404,
    "request too large": 413,
    "unprocessable entity": 422,
    "internal error": 500,
}


def error(code: str, message: str) -> web.Response:
    """error_handler.go `WriteErrorResponse`: Go's json.Marshal, which escapes <, > and &."""
    body = json.dumps({"code": code, "message": message}, separators=(",", ":"), ensure_ascii=False)
    for char in "<>&\u2028\u2029":
        body = body.replace(char, f"\\u{ord(char):04x}")
    return web.Response(
        status=STATUS[code],
        text=body,
        headers={"X-Platform-Error-Code": code},
        content_type="application/json",
        charset="utf-8",
    )


@dataclass
class InfluxDB2StandIn(StandIn):
    """InfluxDB 2.x: org `test-org`, bucket `test-bucket`, an all-access and a read-only token.

    Organizations and buckets can be named or given by their 16-hex-digit ID (`org_id`,
    `bucket_id`). `buckets` are the buckets of the organization. `max_batch_bytes` is the
    (decompressed) body limit; None, the default here, is no limit. `retention_ns` is the
    bucket's retention period (0: for ever), which sets its shard group duration unless
    `shard_duration_ns` does. `empty_body_stored` is 2.0.9's and later's answer to an empty body.
    """

    token: str = "test-token"
    org: str = "test-org"
    bucket: str = "test-bucket"
    read_only_token: str = "read-only-token"
    org_id: str = "0000000000000001"
    bucket_id: str = "0000000000000002"
    buckets: set[str] = field(default_factory=set)
    max_batch_bytes: int | None = None
    version: str = "v2.7.12"
    retention_ns: int = 0
    shard_duration_ns: int | None = None
    empty_body_stored: bool = True
    shards: ShardedWrites = field(default_factory=lambda: ShardedWrites(V2))

    def routes(self, app: web.Application) -> None:
        self.buckets.add(self.bucket)
        self.shards.retention_ns = self.retention_ns
        self.shards.shard_duration_ns = self.shard_duration_ns
        app.router.add_post("/api/v2/write", self._write)
        app.router.add_get("/health", self._health)
        app.router.add_get("/ping", self._ping)  # add_get answers HEAD too

    async def _health(self, _request: web.Request) -> web.Response:
        body = (
            '{"name":"influxdb", "message":"ready for queries and writes", "status":"pass", '
            f'"checks":[], "version": "{self.version}"}}\n'
        )
        return web.Response(text=body, content_type="application/json", charset="utf-8")

    async def _ping(self, _request: web.Request) -> web.Response:
        return web.Response(
            status=204, headers={"X-Influxdb-Build": "oss", "X-Influxdb-Version": self.version}
        )

    async def _write(self, request: web.Request) -> web.Response:
        self.requests += 1
        header = request.headers.get("Authorization", "")
        presented = next((header[len(s) :] for s in ("Token ", "Bearer ") if header.startswith(s)), None)
        if presented not in (self.token, self.read_only_token):
            return error("unauthorized", "unauthorized access")
        # decodeWriteRequest: precision, then bucket, then the gzip header (gzip.NewReader).
        query = request.query
        precision = query.get("precision") or "ns"
        if precision not in PRECISIONS:
            return error("invalid", "invalid precision; valid precision units are ns, us, ms, and s")
        if not (bucket := query.get("bucket", "")):
            return error("not found", "bucket not found")
        encoding = request.headers.get("Content-Encoding")
        if refused := self.refused(encoding):
            return refused
        body = await request.read()
        if encoding in ("gzip", "x-gzip") and not body.startswith(b"\x1f\x8b"):
            # A plain Go error, not an influxdb.Error: its text is not shown.
            return error("internal error", "An internal error has occurred")
        # queryOrganization: `org` (a name, or an ID) or `orgID`.
        org = query.get("orgID") or query.get("org")
        if not org:
            return error("invalid", "Please provide either orgID or org")
        if org not in (self.org, self.org_id):
            by_id = len(org) == 16 and all(c in "0123456789abcdef" for c in org)
            return error(
                "not found", "organization not found" if by_id else f'organization name "{org}" not found'
            )
        if bucket not in (*self.buckets, self.bucket_id):
            return error("not found", f'bucket "{bucket}" not found')
        if presented == self.read_only_token:
            return error("forbidden", "insufficient permissions for write")
        target = self.bucket if bucket == self.bucket_id else bucket
        return self._points(target, body, encoding, PRECISIONS[precision])

    def _points(self, bucket: str, body: bytes, encoding: str | None, precision: int) -> web.Response:
        """points_parser.go `parsePoints`, then PointsWriter.WritePoints."""
        if encoding in ("gzip", "x-gzip"):
            try:
                body = gzip.decompress(body)
            except GZIP_ERRORS as err:  # Go's texts for a bad checksum and a cut stream
                if "CRC" in str(err):
                    return error("invalid", "unable to read data: gzip: invalid checksum")
                message = "unexpected EOF" if isinstance(err, EOFError) else str(err)
                return error("internal error", f"unable to read data: {message}")
        if self.max_batch_bytes is not None and len(body) > self.max_batch_bytes:
            return error("request too large", "unable to read data: points batch is too large")
        if not body:
            return (
                web.Response(status=204)
                if self.empty_body_stored
                else error("invalid", "writing requires points")
            )
        if fault := self.fault(body):
            return fault
        points, failed = parse_points_v2(body.decode(errors="replace"))
        failed += [
            f"unable to parse '{line}': cannot use reserved tag key \"{key}\""
            for line, key in _reserved_tag_keys(body.decode(errors="replace"))
        ]
        if failed:  # the whole batch is rejected; the handler never reaches WritePoints
            return error("invalid", "\n".join(failed))
        now = time.time_ns() // precision * precision
        timed = [(point, now if point.timestamp is None else point.timestamp * precision) for point in points]
        # storage/engine.go v2.7.12 line 284: the bucket's ID is the database, its policy `autogen`.
        message = self.shards.write(self.store, bucket, "autogen", timed, named=self.bucket_id)
        if message is not None:
            self.bodies.append(body)
            return error("unprocessable entity", f"failure writing points to database: {message}")
        self.bodies.append(body)
        return web.Response(status=204)


def _reserved_tag_keys(text: str) -> list[tuple[str, str]]:
    """Lines with a reserved tag key, and the key (a simple reading of our own lines' heads)."""
    found = []
    for line in text.splitlines():
        head = re.split(r"(?<!\\) ", line, maxsplit=1)[0]
        for pair in re.split(r"(?<!\\),", head)[1:]:
            key = pair.split("=", 1)[0]
            if key in RESERVED_TAG_KEYS:
                found.append((line, key))
                break
    return found
