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
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

from aiohttp import web
import datafusion
import pyarrow as pa

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


def run_sql(tables: dict[str, Table], sql: str) -> pa.Table:
    """Run `sql` with DataFusion over the database's tables (ValueError: DataFusion's own message)."""
    config = datafusion.SessionConfig().with_default_catalog_and_schema("public", "iox")
    context = datafusion.SessionContext(config.with_information_schema(True))
    for name, table in tables.items():
        context.register_record_batches(name, [arrow_table(table).to_batches()])
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


class InfluxDB3QueryStandIn(InfluxDB3StandIn):
    """The 3.x stand-in with `/api/v3/query_sql`."""

    def routes(self, app: web.Application) -> None:
        super().routes(app)
        app.router.add_get("/api/v3/query_sql", self._query_sql)
        app.router.add_post("/api/v3/query_sql", self._query_sql)

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
            result = run_sql(tables, params["q"])
        except ValueError as err:  # the Python binding raises DataFusion errors as ValueError
            message = str(err)
            status = 400 if message.startswith(("Error during planning", "SQL error")) else 500
            return web.Response(status=status, text=message)
        return web.Response(text=render(result, format_), headers={"Content-Type": _CONTENT_TYPES[format_]})
