"""InfluxDB 3's SQL query endpoint for the 3.x stand-in, answered by Apache DataFusion.

InfluxDB 3 plans and runs SQL with DataFusion; so does this: each table the stand-in stored
is registered as an Arrow table (tags as strings, `time` as a timestamp in nanoseconds without
a time zone, fields by their line protocol type) in the catalog `public`, schema `iox`, as
the server names them, and the SQL runs over those. What the server's source defines
(influxdb3_server/src/http.rs at tag v3.10.1; influxdb3_types/src/http.rs at v3.10.1):

* routes: `GET` and `POST /api/v3/query_sql` (http.rs line 2761);
* the request: `db`, `q`, `format` from the query string (GET) or a JSON body (POST), the
  format else from `Accept`, default `json` (http.rs `extract_query_request` line 1369;
  types http.rs `QueryRequest` line 386, `QueryFormat` line 397, `try_from_headers`);
* the answers (http.rs `record_batch_stream_to_body` line 2375): `json` one array of objects
  (`[]` when empty; arrow_json leaves a null out of its object), `jsonl` one object per line,
  `csv` a header line and rows (arrow_csv), each with its Content-Type (`as_content_type`);
* errors: an unknown database 404 `{"error": "query error: database not found: <db>"}`
  (http.rs line 878; influxdb3_internal_api/src/query_executor.rs line 25); DataFusion's
  planning and SQL errors 400 with their text, others 500 (http.rs `datafusion_error_status_code`
  line 621); no `db` or `q` 400 `missing query parameters 'db' and 'q'` (http.rs line 269).

`pretty` and `parquet` are not answered (415 here); InfluxQL on 3.x (`/api/v3/query_influxql`)
is not either: it needs InfluxDB's InfluxQL planner, which DataFusion alone does not have.

Also InfluxDB 3's caches, enough to prove ours: `POST /api/v3/configure/last_cache` and
`/api/v3/configure/distinct_cache` (http.rs v3.10.1 lines 1559 and 1464, routes 2796-2806):
201 when created, 409 `attempted to create a resource that already exists`, 404 `Table <t> not
in DB schema for <db>`, 400 for a last cache key that is a float (influxdb3_catalog/src/error.rs
at v3.10.1, lines 26, 57, 118); the 201 body (the catalog batch) is simplified. Their SQL
functions `last_cache(table, name)` (the latest row of each key, key columns first) and
`distinct_cache(table, name)` (the distinct combinations, sorted) run as DataFusion table
functions. And the retention period a database is created with (`retention`).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
import datetime as dt
import io
import json
from typing import Any

from aiohttp import web
import datafusion
import pyarrow as pa
import pyarrow.dataset as pa_dataset

from .standin_core import BOOLEAN, FLOAT, INTEGER, STRING, TAG, TIME, UINTEGER, Table
from .standin_influxdb3 import InfluxDB3StandIn

_ARROW_TYPES = {
    TAG: pa.string(),
    TIME: pa.timestamp("ns"),
    FLOAT: pa.float64(),
    INTEGER: pa.int64(),
    UINTEGER: pa.uint64(),
    STRING: pa.string(),
    BOOLEAN: pa.bool_(),
}
_CONTENT_TYPES = {"json": "application/json", "jsonl": "application/jsonl", "csv": "text/csv"}
_ACCEPT = {"application/json": "json", "*/*": "json", "text/csv": "csv", "text/plain": "pretty"}
_ACCEPT |= {"application/vnd.apache.parquet": "parquet"}
# QueryFormat is serde `snake_case` with the alias `jsonl` (types http.rs line 397).
_FORMATS = {"json": "json", "json_lines": "jsonl", "jsonl": "jsonl", "csv": "csv"}
_FORMATS |= {"pretty": "pretty", "parquet": "parquet"}


def arrow_table(table: Table) -> pa.Table:
    """A stored table as Arrow: one column per tag and field, and `time`."""
    columns = {name: kind for name, kind in table.columns.items() if name != "time"}
    rows = [{**dict(tags), **fields, "time": time} for (tags, time), fields in table.points.items()]
    rows.sort(key=lambda row: row["time"])
    arrays = {
        name: pa.array([row.get(name) for row in rows], _ARROW_TYPES[kind]) for name, kind in columns.items()
    }
    arrays["time"] = pa.array([row["time"] for row in rows], pa.timestamp("ns"))
    return pa.table(arrays)


@dataclass(frozen=True)
class Cache:
    """A cache's definition: last value (`keys` and the latest row of each) or distinct values (`keys`)."""

    kind: str  # "last" or "distinct"
    keys: tuple[str, ...]


def _last_values(data: pa.Table, keys: tuple[str, ...]) -> pa.Table:
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in data.to_pylist():  # sorted by time: the last one of each key wins
        latest[tuple(row[key] for key in keys)] = row
    names = [*keys, *(name for name in data.column_names if name not in keys)]
    return pa.Table.from_pylist(list(latest.values()), schema=data.schema).select(names)


def _distinct_values(data: pa.Table, keys: tuple[str, ...]) -> pa.Table:
    found = sorted({tuple(row[key] for key in keys) for row in data.select(list(keys)).to_pylist()}, key=str)
    return pa.table({key: pa.array([combo[i] for combo in found], pa.string()) for i, key in enumerate(keys)})


def run_sql(
    tables: dict[str, Table], sql: str, caches: dict[tuple[str, str], Cache] | None = None
) -> pa.Table:
    """Run `sql` with DataFusion over the database's tables (ValueError: DataFusion's own message)."""
    config = datafusion.SessionConfig().with_default_catalog_and_schema("public", "iox")
    context = datafusion.SessionContext(config.with_information_schema(True))
    arrow = {name: arrow_table(table) for name, table in tables.items()}
    for name, data in arrow.items():
        context.register_record_batches(name, [data.to_batches()])
    defined = caches or {}

    def _cache_function(kind: str) -> Any:
        def _call(table: Any, name: Any) -> datafusion.Table:
            key = (table.to_variant().value_string(), name.to_variant().value_string())
            cache = defined.get(key)
            if cache is None or cache.kind != kind or key[0] not in arrow:
                raise ValueError("could not find cache for the given arguments")
            build = _last_values if kind == "last" else _distinct_values
            return datafusion.Table(pa_dataset.dataset(build(arrow[key[0]], cache.keys)))

        return _call

    context.register_udtf(datafusion.udtf(_cache_function("last"), "last_cache"))
    context.register_udtf(datafusion.udtf(_cache_function("distinct"), "distinct_cache"))
    return context.sql(sql).to_arrow_table()


def _timestamp(value: dt.datetime) -> str:
    """arrow-cast's display of a Timestamp(ns) without a zone: `%Y-%m-%dT%H:%M:%S%.f`.

    Home Assistant's times are whole microseconds, which Python's datetime holds exactly.
    """
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        fraction = f"{value.microsecond:06d}"
        text += "." + (fraction[:3] if fraction.endswith("000") else fraction)
    return text


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    rows = table.to_pylist()
    for row in rows:
        for name, value in row.items():
            if isinstance(value, dt.datetime):
                row[name] = _timestamp(value)
    return rows


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else value


def render(table: pa.Table, format_: str) -> str:
    """The body the server sends for a result in `format_` (json, jsonl, csv)."""
    rows = _rows(table)
    if format_ == "json":
        return json.dumps([{k: v for k, v in row.items() if v is not None} for row in rows])
    if format_ == "jsonl":
        return "".join(json.dumps({k: v for k, v in row.items() if v is not None}) + "\n" for row in rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.column_names)
    for row in rows:
        writer.writerow(
            ["" if v is None else str(v).lower() if isinstance(v, bool) else v for v in row.values()]
        )
    return out.getvalue()


@dataclass
class InfluxDB3QueryStandIn(InfluxDB3StandIn):
    """The 3.x stand-in with `/api/v3/query_sql`, the caches and the retention period."""

    caches: dict[str, dict[tuple[str, str], Cache]] = field(default_factory=dict)  # db -> (table, name)
    retention: dict[str, str] = field(default_factory=dict)  # db -> retention_period as asked

    def routes(self, app: web.Application) -> None:
        super().routes(app)
        app.router.add_get("/api/v3/query_sql", self._query_sql)
        app.router.add_post("/api/v3/query_sql", self._query_sql)
        app.router.add_post("/api/v3/configure/last_cache", self._create_last_cache)
        app.router.add_post("/api/v3/configure/distinct_cache", self._create_distinct_cache)

    async def _create_database(self, request: web.Request) -> web.Response:
        response = await super()._create_database(request)
        if response.status == 200:
            body = json.loads(await request.read())
            if "retention_period" in body:
                self.retention[body["db"]] = body["retention_period"]
        return response

    async def _create_last_cache(self, request: web.Request) -> web.Response:
        return await self._create_cache(request, "last")

    async def _create_distinct_cache(self, request: web.Request) -> web.Response:
        return await self._create_cache(request, "distinct")

    async def _create_cache(self, request: web.Request, kind: str) -> web.Response:
        if (refused := self._authenticate(request)) is not None:
            return refused
        body = json.loads(await request.read())
        db, table_name = body["db"], body["table"]
        table = self.store.databases.get(db, {}).get(table_name)
        if table is None:
            return web.Response(status=404, text=f"Table {table_name} not in DB schema for {db}")
        keys = tuple((body.get("key_columns") or []) if kind == "last" else body["columns"])
        if kind == "last" and any(table.columns.get(key) == "float" for key in keys):
            message = "only uint64, int64, bool, tag, and string columns are supported in the last cache"
            return web.Response(status=400, text=message)
        name = body.get("name") or f"{table_name}_{'_'.join(keys)}_{kind}_cache"
        defined = self.caches.setdefault(db, {})
        if (table_name, name) in defined:
            return web.Response(status=409, text="attempted to create a resource that already exists")
        defined[(table_name, name)] = Cache(kind, keys)
        return web.json_response({"table_name": table_name, "cache_name": name}, status=201)

    async def _query_sql(self, request: web.Request) -> web.Response:
        if (refused := self._authenticate(request)) is not None:
            return refused
        if request.method == "GET":
            params: dict[str, Any] = dict(request.query)
        else:
            try:
                params = json.loads(await request.read())
            except ValueError as err:
                return web.Response(status=400, text=f"serde error: {err}")
        if "db" not in params or "q" not in params:
            return web.Response(status=400, text="missing query parameters 'db' and 'q'")
        accept = request.headers.get("Accept", "application/json")
        format_ = (
            _FORMATS.get(str(params.get("format")), "") if params.get("format") else _ACCEPT.get(accept, "")
        )
        if format_ not in _CONTENT_TYPES:
            return web.Response(
                status=415, text=f"format {params.get('format') or accept!r} not answered here"
            )
        tables = self.store.databases.get(params["db"])
        if tables is None:
            error = {"error": f"query error: database not found: {params['db']}"}
            return web.Response(status=404, text=json.dumps(error))
        try:
            result = run_sql(tables, params["q"], self.caches.get(params["db"]))
        except ValueError as err:  # the Python binding raises DataFusion errors as ValueError
            message = str(err)
            status = 400 if message.startswith(("Error during planning", "SQL error")) else 500
            return web.Response(status=status, text=message)
        return web.Response(text=render(result, format_), headers={"Content-Type": _CONTENT_TYPES[format_]})
