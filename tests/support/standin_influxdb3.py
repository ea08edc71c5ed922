"""A stand-in for InfluxDB 3 Core's HTTP write path (no 3.x server can run on this machine).

`release` picks the release it answers as ("3.5", "3.9", "3.10", "3.11"; the newest by
default): what differs between them is in standin3_release.py, each behaviour cited to the
tag it was read at. Every answer is the real server's, read from its source in
influxdata/influxdb at those tags:

* `influxdb3_server/src/http.rs`: routing, authentication, `read_body`, `write_lp_inner`,
  `create_database`, `show_databases`, `health`, `ping`, and how each error becomes a status
  and a body (`impl IntoResponse for Error`, `for CatalogError`, `for V2WriteApiError`).
* `influxdb3_write/src/write_buffer/mod.rs` (`write_lp`, `Error`) and
  `write_buffer/validator.rs` (`v1_parse_lines_and_catalog_updates`): per-line errors.
* `influxdb3_catalog/src/error.rs` and `catalog.rs`: limits, column types, `AlreadyExists`.
* influxdata/influxdb3_core `iox_http/src/write/{v1,v2,single_tenant/mod}.rs`: the v1/v2
  compatibility endpoints' parameters (`org` is ignored, `rp` is appended as `db/rp`).

Bodies are exact; Content-Type headers are not always (the server sends most error bodies,
JSON ones included, without one).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
import json
import time
from typing import Literal
import uuid
import zlib

from aiohttp import web

from .standin3_catalog import (
    LEGACY_PRECISIONS,
    TOO_MANY_DBS,
    V3_PRECISIONS,
    Catalog,
    timestamp_ns,
    validate_db_name,
)
from .standin3_release import NEWEST, Release, release
from .standin_core import (
    GZIP_ERRORS,
    Point,
    StandIn,
    Table,
    display_v3,
    gunzip,
    parse_lines_v3,
    rust_lines,
)

Style = Literal["v3", "v2", "v1"]


UNAUTHENTICATED = '{"error": "the request was not authenticated"}'
MALFORMED_AUTH = (
    '{"error": "Authorization header was malformed, the request was not in the form of '
    "'Authorization: <auth-scheme> <token>', supported auth-schemes are Bearer, Token and Basic\"}"
)
# influxdb3_authz `ResourceAuthorizationError::Unauthorized` (Enterprise resource tokens).
FORBIDDEN_TEXT = "unauthorized to perform requested action with the token"
FORBIDDEN = f'{{"error": "{FORBIDDEN_TEXT}"}}'
EMPTY_WRITE = "incoming write was empty"
PARTIAL_WRITE = "partial write of line protocol occurred"
# http.rs: a partial write whose rejected lines hit a limit is 422 instead of 400.
_LIMIT_PREFIXES = ("Update to schema would exceed number of", "Adding a new database would exceed limit of")
INTERNAL_DB = "_internal"


def _compact(value: object) -> str:
    """serde_json::to_string: no spaces, UTF-8 kept."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _text(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text)


def _json(status: int, body: str) -> web.Response:
    return web.Response(status=status, text=body, content_type="application/json")


@dataclass(frozen=True)
class _Failure:
    """One write failure, rendered per endpoint by `InfluxDB3StandIn._render`."""

    kind: str
    message: str
    data: object = None


@dataclass
class InfluxDB3StandIn(StandIn):
    """InfluxDB 3 Core: `/api/v3/write_lp`, `/api/v2/write`, `/write`, databases, health.

    `release`: the release answered as (standin3_release.py). `tokens`: the admin tokens (Core
    has only admin tokens: docs.influxdata.com/influxdb3/core/admin/tokens). `read_only_token`
    models an Enterprise database token with read only (Core has no such token), answered 403
    (401 on `/api/v2/write` before 3.10). `auth=False` is `--without-auth`.
    `unauthenticated_paths` is `--disable-authz` (e.g. ("/health", "/ping")); by default /health
    and /ping need a token. `internal_db`: newer 3.x lists an `_internal` database, not counted
    in the limit. `rejected_listed_at_most`: a partial write's answer (`/api/v3/write_lp` only)
    lists only the first rejected lines, as the documentation says it may ("up to 100 points":
    docs.influxdata.com/influxdb3/core/write-data/troubleshoot); the source read (write_buffer
    `write_lp`) lists every one. `stopping`: the node is shutting down (3.11: 503 on
    `/api/v2/write`). `extra_routes`: callables given the aiohttp app after the stand-in's own
    routes, for endpoints other modules model (a query endpoint, say); `app` is the running app.
    """

    token: str = "test-token"
    tokens: tuple[str, ...] = ()
    read_only_token: str | None = None
    auth: bool = True
    unauthenticated_paths: tuple[str, ...] = ()
    # Defaults of `influxdb3 serve` (influxdb3_catalog/src/catalog.rs CatalogLimits and
    # NUM_TAG_COLUMNS_LIMIT; --max-http-request-size 10485760).
    max_databases: int = 5
    max_tables: int = 2000
    max_columns_per_table: int = 500
    max_tags_per_table: int | None = None  # None: the release's own limit
    max_request_bytes: int = 10 * 1024 * 1024
    internal_db: bool = True
    rejected_listed_at_most: int | None = None
    release: str = NEWEST
    version: str = ""  # None given: the release's
    stopping: bool = False
    extra_routes: list[Callable[[web.Application], None]] = field(default_factory=list)
    cluster_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    app: web.Application | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.at: Release = release(self.release)
        self.version = self.version or self.at.version
        if self.max_tags_per_table is None:
            self.max_tags_per_table = self.at.max_tags_per_table

    def routes(self, app: web.Application) -> None:
        self.app = app
        app.router.add_post("/api/v3/write_lp", self._write_lp)
        app.router.add_post("/api/v2/write", self._write_v2)
        app.router.add_post("/write", self._write_v1)
        app.router.add_get("/ping", self._ping)
        app.router.add_post("/ping", self._ping)
        app.router.add_get("/health", self._health)
        app.router.add_get("/api/v1/health", self._health)
        app.router.add_get("/api/v3/configure/database", self._list_databases)
        app.router.add_post("/api/v3/configure/database", self._create_database)
        app.on_response_prepare.append(self._headers)
        for add in self.extra_routes:
            add(app)

    async def _headers(self, _request: web.Request, response: web.StreamResponse) -> None:
        # http.rs `route_request`: every response carries the catalog's uuid.
        response.headers["cluster-uuid"] = self.cluster_uuid
        response.headers["Access-Control-Allow-Origin"] = "*"

    @property
    def databases(self) -> list[str]:
        """What `GET /api/v3/configure/database` lists, in creation order."""
        return [INTERNAL_DB] * self.internal_db + list(self.store.databases)

    # --- authentication: http.rs `authenticate_request`, `validate_auth_header`, errors -------

    def _presented_token(self, request: web.Request) -> str | None:
        # `extract_v1_auth_token`: on /query and /write the `p` parameter wins over the header.
        if request.path in ("/query", "/write") and "p" in request.query:
            return request.query["p"]
        header = request.headers.get("Authorization")
        if header is None:
            return None
        parts = header.split(" ")
        if parts[0] not in ("Bearer", "Token", "Basic") or len(parts) != 2:
            raise ValueError(header)
        if parts[0] != "Basic":
            return parts[1]
        # Basic: the token is the password; a user name with ':' in it is malformed.
        try:
            user, sep, password = base64.b64decode(parts[1], validate=True).decode().rpartition(":")
        except binascii.Error, UnicodeDecodeError:
            raise ValueError(header) from None
        if not sep or ":" in user:
            raise ValueError(header)
        return password

    def _authenticate(self, request: web.Request) -> web.Response | None:
        if not self.auth or request.path in self.unauthenticated_paths:
            return None
        try:
            token = self._presented_token(request)
        except ValueError:
            return _text(400, MALFORMED_AUTH)
        known = {self.token, *self.tokens} | ({self.read_only_token} if self.read_only_token else set())
        if token is None or token not in known:
            return _text(401, UNAUTHENTICATED)
        return None

    def _authorized_to_write(self, request: web.Request, style: Style) -> web.Response | None:
        reader = self.read_only_token
        if not (self.auth and reader and self._presented_token(request) == reader):
            return None
        if style != "v2":
            return _text(403, FORBIDDEN)
        # V2WriteApiError: `unauthorized` with an opaque message before 3.10, then `forbidden`.
        if self.at.v2_forbidden:
            message = f"Authorization error: {FORBIDDEN_TEXT}"
            return _json(403, _compact({"code": "forbidden", "message": message}))
        return _json(401, _compact({"code": "unauthorized", "message": "unauthorized access"}))

    # --- write endpoints ---------------------------------------------------------------------

    async def _write_lp(self, request: web.Request) -> web.Response:
        self.requests += 1
        if denied := self._authenticate(request):
            return denied
        if not request.query_string:
            return _text(400, "missing query parameter 'db'")
        query = request.query
        if "db" not in query:
            return _text(400, "serde error: missing field `db`")
        # serde's wording for bad parameter values (not checked against a running server).
        precision = query.get("precision", "auto")
        if precision not in V3_PRECISIONS:
            expected = "`auto`, `second`, `millisecond`, `microsecond`, `nanosecond`"
            return _text(400, f"serde error: unknown variant `{precision}`, expected one of {expected}")
        flags = {
            name: query.get(name, "true" if name == "accept_partial" else "false")
            for name in ("accept_partial", "no_sync")
        }
        if any(value not in ("true", "false") for value in flags.values()):
            return _text(400, "serde error: provided string was not `true` or `false`")
        accept_partial = flags["accept_partial"] == "true"  # no_sync changes nothing observable here
        return await self._write(request, query["db"], V3_PRECISIONS[precision], accept_partial, "v3")

    async def _write_v2(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.stopping and self.at.v2_unavailable_while_stopping:
            return _json(503, _compact({"code": "unavailable", "message": "server is shutting down"}))
        if denied := self._authenticate(request):
            return denied
        # single_tenant/mod.rs `parse_v2`: only `bucket` names the database; `org` is discarded.
        if not request.query_string:
            return self._render("v2", _Failure("params", "no org/bucket destination provided"))
        if not (bucket := request.query.get("bucket", "")):
            return self._render("v2", _Failure("params", "missing bucket value"))
        precision = request.query.get("precision", "ns")
        if precision not in LEGACY_PRECISIONS:
            message = f"failed to deserialize org/bucket/precision in request: unknown variant `{precision}`"
            return self._render("v2", _Failure("params", message))
        # influxdb3_types/src/http.rs `From<iox_http::write::WriteParams>`: accept_partial false.
        return await self._write(request, bucket, LEGACY_PRECISIONS[precision], False, "v2")

    async def _write_v1(self, request: web.Request) -> web.Response:
        self.requests += 1
        if denied := self._authenticate(request):
            return denied
        # single_tenant/mod.rs `parse_v1`: a named retention policy is appended as `db/rp`.
        if not request.query_string:
            return self._render("v1", _Failure("params", "no db destination provided"))
        query = request.query
        if "db" not in query:
            return self._render(
                "v1",
                _Failure("params", "failed to deserialize db/rp/precision in request: missing field `db`"),
            )
        db, rp = query["db"], query.get("rp", "").lower()
        if rp not in ("", "''", "autogen", "default"):
            db = f"{db}/{rp}"
        precision = query.get("precision", "ns")
        if precision not in LEGACY_PRECISIONS:
            message = f"failed to deserialize db/rp/precision in request: unknown variant `{precision}`"
            return self._render("v1", _Failure("params", message))
        return await self._write(request, db, LEGACY_PRECISIONS[precision], False, "v1")

    async def _write(
        self, request: web.Request, db: str, precision: int, accept_partial: bool, style: Style
    ) -> web.Response:
        """http.rs `write_lp_inner` and `read_body`, then write_buffer `write_lp`."""
        accept_rp = None if self.at.since("3.6") else style == "v1"
        if problem := validate_db_name(db, self.at.max_db_name, accept_rp):
            return self._render(style, _Failure("db_name", problem))
        if denied := self._authorized_to_write(request, style):
            return denied
        encoding = request.headers.get("Content-Encoding")
        if encoding not in (None, "identity", "gzip"):
            return self._render(style, _Failure("encoding", f"unacceptable content-encoding: {encoding}"))
        if refused := self.refused(encoding):
            return refused
        body = await request.read()
        too_large = _Failure("too_large", f"max request size ({self.max_request_bytes} bytes) exceeded")
        if len(body) > self.max_request_bytes:
            return self._render(style, too_large)
        if encoding == "gzip":
            try:
                body = gunzip(body) if self.at.gzip_every_member else _first_member(body)
            except GZIP_ERRORS as err:
                # flate2's text for a body that is not gzip; other causes keep Python's wording.
                reason = "invalid gzip header" if "Not a gzipped file" in str(err) else str(err)
                return self._render(style, _Failure("gzip", f"error decoding gzip stream: {reason}"))
            if len(body) > self.max_request_bytes:
                return self._render(style, too_large)
        try:
            text = body.decode()
        except UnicodeDecodeError as err:
            message = (
                f"body content is not valid utf8: invalid utf-8 sequence of 1 bytes from index {err.start}"
            )
            return self._render(style, _Failure("utf8", message))
        if fault := self.fault(body):
            return fault
        failure, stored = self._write_lines(db, text, precision, accept_partial)
        if stored:
            self.bodies.append(body)
        if failure is not None and style != "v2" and _panics(failure.data) and request.transport:
            # Serializing the line error panics (`/api/v2/write` sends only its message): the
            # handler dies and the connection closes without an answer; what was stored stays.
            request.transport.abort()
        return web.Response(status=204) if failure is None else self._render(style, failure)

    def _render(self, style: Style, failure: _Failure) -> web.Response:
        """How each endpoint answers a failure (http.rs `IntoResponse` impls)."""
        kind, message = failure.kind, failure.message
        if style == "v2":
            # V2WriteApiError::to_code: write-buffer and catalog errors are `invalid`; a partial
            # write is not in its list and falls through to `internal error` (500).
            code = "request too large" if kind == "too_large" else "invalid"
            status = 413 if kind == "too_large" else 400
            if kind == "parse":  # write_buffer `Error::ParseError` Display
                data = failure.data if isinstance(failure.data, dict) else {}
                reason = self.at.v2_parse_message(str(data.get("error_message", "")))
                message = f"write buffer error: {reason}"  # http.rs `Error::WriteBuffer` Display
            if kind in ("limit", "empty"):
                message = (
                    f"write buffer error: {'catalog update error: ' if kind == 'limit' else ''}{message}"
                )
            return _json(status, _compact({"code": code, "message": message}))
        if kind in ("params", "db_name"):  # legacy_write_error_to_response, ValidateDbNameError
            return _json(400, _compact({"error": message}))
        if kind == "limit":  # CatalogError::TooMany* -> 422
            return _json(422, _compact({"error": message}))
        if kind == "parse":  # accept_partial=false: the first rejected line, as an object
            return _json(400, _compact({"error": self.at.parse_error, "data": failure.data}))
        if kind == "partial":
            lines = failure.data if isinstance(failure.data, list) else []
            hit = any(line["error_message"].startswith(_LIMIT_PREFIXES) for line in lines)
            return _json(422 if hit else 400, _compact({"error": PARTIAL_WRITE, "data": lines}))
        # EmptyWrite and InvalidContentEncoding are 400 plain text; RequestSizeExceeded (413),
        # InvalidGzip and NonUtf8Body (400) have arms of their own since 3.10, 500 before.
        if kind in ("empty", "encoding"):
            return _text(400, message)
        if self.at.request_errors_are_4xx:
            return _text(413 if kind == "too_large" else 400, message)
        return _text(500, message)

    def _line_error(self, original: str, number: int, message: str) -> dict[str, object]:
        if self.at.truncate_original_line:
            raw = original.encode()
            cut = raw[:20].decode(errors="ignore")
            error: dict[str, object] = {"error_message": message, "line_number": number, "original_line": cut}
            if self.at.cut_inside_a_character_panics and len(raw) > 20 and (raw[20] & 0xC0) == 0x80:
                error[_PANICS] = True  # never rendered: `_write` drops the connection instead
            return error
        return {"original_line": original, "line_number": number, "error_message": message}

    def _write_lines(
        self, db: str, text: str, precision: int, accept_partial: bool
    ) -> tuple[_Failure | None, bool]:
        """write_buffer `write_lp`: catalog transaction, per-line validation, commit, result."""
        now = time.time_ns()
        if db not in self.store.databases and len(self.store.databases) >= self.max_databases:
            # catalog.rs `begin`: a new database over the limit fails the whole write.
            return _Failure("limit", TOO_MANY_DBS.format(self.max_databases)), False
        # The transaction: column kinds of this database's tables, changed as lines are validated
        # (before 3.11 a line that fails half-way keeps what it added before failing).
        tables = {name: dict(table.columns) for name, table in self.store.databases.get(db, {}).items()}
        other_tables = sum(len(t) for name, t in self.store.databases.items() if name != db)
        raw_lines = rust_lines(text)
        good: list[tuple[Point, int]] = []
        errors: list[dict[str, object]] = []
        catalog = self._catalog()
        for index, parsed in enumerate(parse_lines_v3(text, self.at.string_limit)):
            # validator.rs: a syntax error echoes the `str::lines()` line with the same index
            # (blank and comment lines shift it), a schema error the re-serialized line.
            if isinstance(parsed, str):
                original = raw_lines[index] if index < len(raw_lines) else ""
                error = self._line_error(original, index + 1, parsed)
            else:
                before = tables.get(parsed.measurement)
                before = None if before is None else dict(before)
                message = catalog.validate(tables, parsed, other_tables)
                time_ns = timestamp_ns(parsed.timestamp, precision, now, self.at.refuses_timestamp_overflow)
                if message is None and isinstance(time_ns, int):
                    good.append((parsed, time_ns))
                    continue
                if not self.at.rejected_line_changes_schema:  # 3.11.2: validated before it changes
                    if before is None:
                        tables.pop(parsed.measurement, None)
                    else:
                        tables[parsed.measurement] = before
                error = self._line_error(display_v3(parsed), index + 1, message or str(time_ns))
            if not accept_partial:
                return _Failure("parse", "", error), False
            errors.append(error)
        db_tables = self.store.databases.setdefault(db, {})  # committed even for an empty write
        for name, columns in tables.items():
            db_tables.setdefault(name, Table()).columns = columns
        for point, time_ns in good:
            self.store.put(db, point, time_ns, earlier_wins=not self.at.last_write_wins)
        if errors:
            return _Failure("partial", PARTIAL_WRITE, errors[: self.rejected_listed_at_most]), bool(good)
        if not good:
            return _Failure("empty", EMPTY_WRITE), False
        return None, True

    def _catalog(self) -> Catalog:
        tags = self.max_tags_per_table or self.at.max_tags_per_table
        return Catalog(self.at, self.max_tables, self.max_columns_per_table, tags)

    # --- databases, health, ping -------------------------------------------------------------

    async def _list_databases(self, request: web.Request) -> web.Response:
        if denied := self._authenticate(request):
            return denied
        # `ShowDatabasesRequest` needs `format` (serde's wording for its absence).
        fmt = request.query.get("format")
        if fmt not in ("json", "jsonl", "csv"):
            message = "missing field `format`" if fmt is None else f"unknown variant `{fmt}`"
            return _text(400, f"serde error: {message}")
        show_deleted = request.query.get("show_deleted") == "true"
        rows = [
            {"iox::database": name} | ({"deleted": False} if show_deleted else {}) for name in self.databases
        ]
        if fmt == "json":  # arrow_json ArrayWriter
            return _json(200, _compact(rows))
        if fmt == "jsonl":
            return web.Response(
                text="".join(_compact(row) + "\n" for row in rows), content_type="application/jsonl"
            )
        header = ",".join(rows[0]) if rows else "iox::database"
        lines = [header, *(",".join(str(v).lower() for v in row.values()) for row in rows)] if rows else []
        return web.Response(text="".join(line + "\n" for line in lines), content_type="text/csv")

    async def _create_database(self, request: web.Request) -> web.Response:
        if denied := self._authenticate(request):
            return denied
        # `read_body_json`: application/json (or +json) only.
        mime = request.content_type
        if not (mime == "application/json" or (mime.startswith("application/") and mime.endswith("+json"))):
            return _text(415, "unacceptable content-type, expected: application/json")
        try:
            name = json.loads(await request.read())["db"]
        except (ValueError, KeyError, TypeError) as err:  # serde_json's own wording differs
            return _text(400, f"serde json error: {err}")
        if not isinstance(name, str):
            return _text(400, "serde json error: invalid type for `db`")
        if problem := validate_db_name(name, self.at.max_db_name, None if self.at.since("3.6") else False):
            return _json(400, _compact({"error": problem}))
        if name in self.databases:  # CatalogError::AlreadyExists -> 409, plain text
            return _text(409, "attempted to create a resource that already exists")
        if len(self.store.databases) >= self.max_databases:
            return _json(
                422,
                _compact({"error": TOO_MANY_DBS.format(self.max_databases)}),
            )
        self.store.databases[name] = {}
        return web.Response(status=200)

    async def _health(self, request: web.Request) -> web.Response:
        if denied := self._authenticate(request):
            return denied
        return web.Response(text="OK", content_type="text/plain", charset="utf-8")

    async def _ping(self, request: web.Request) -> web.Response:
        if denied := self._authenticate(request):
            return denied
        request_id = str(uuid.uuid4())
        # http.rs `ping`: `product_name` first in the body since 3.9 (v3.9.0:1086).
        body = {"product_name": "InfluxDB 3 Core"} if self.at.since("3.9") else {}
        body |= {"version": self.version, "revision": "standin", "process_id": self.cluster_uuid}
        headers = {"Request-Id": request_id, "X-Request-Id": request_id}
        headers |= {"X-Influxdb-Build": "Core", "X-Influxdb-Version": self.version}
        return web.Response(text=_compact(body), content_type="application/json", headers=headers)


def _first_member(body: bytes) -> bytes:
    """flate2 `GzDecoder`: the first member of a gzip body; what follows it is ignored."""
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    data = decoder.decompress(body)
    if not decoder.eof:
        raise EOFError("Compressed file ended before the end-of-stream marker was reached")
    return data


_PANICS = "panics when serialized"


def _panics(data: object) -> bool:
    """Whether a failure's line errors hold one that 3.6 to 3.9 cannot serialize."""
    errors = data if isinstance(data, list) else [data]
    return any(isinstance(error, dict) and error.get(_PANICS) for error in errors)
