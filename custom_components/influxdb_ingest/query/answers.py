"""The query endpoints' answers as rows: pure functions, one per answer format.

Every answer becomes `Rows`: column names in the server's order and one dict per row.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
import io
import json
from typing import Any


class AnswerError(ValueError):
    """The server answered 200 with an error inside (InfluxQL statement errors, Flux runtime errors)."""


@dataclass(slots=True)
class Rows:
    """A query's answer: columns in order, rows, and whether the row cap cut it short."""

    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    truncated: bool = False

    def add(self, row: dict[str, Any], limit: int) -> bool:
        """Keep a row unless the cap is reached; False once it is (stop reading)."""
        for name in row:
            if name not in self.columns:
                self.columns.append(name)
        if len(self.rows) >= limit:
            self.truncated = True
            return False
        self.rows.append(row)
        return True


def influxql_rows(body: str, limit: int) -> Rows:
    """InfluxDB 1.x `/query` JSON (and 2.x's and 3.x's v1-compatible one).

    `{"results": [{"statement_id": 0, "series": [{"name", "tags", "columns", "values"}]}]}`;
    a statement that failed has `error` instead of `series`, with status 200
    (services/httpd/handler.go at v1.6.6, serveQuery, line 359 on).
    """
    parsed = json.loads(body)
    result = Rows()
    for statement in parsed.get("results", []):
        if "error" in statement:
            raise AnswerError(str(statement["error"]))
        for series in statement.get("series", []):
            tags = series.get("tags") or {}
            for values in series.get("values", []):
                if not result.add({**tags, **dict(zip(series["columns"], values, strict=False))}, limit):
                    return result
    return result


def json_rows(body: str, limit: int) -> Rows:
    """InfluxDB 3's `format=json`: one JSON array of objects, `[]` when empty.

    influxdb3_server/src/http.rs at v3.10.1, record_batch_stream_to_body, `QueryFormat::Json`
    (line 2453): arrow_json's ArrayWriter, so a null column is left out of its row.
    """
    result = Rows()
    for row in json.loads(body):
        if not result.add(dict(row), limit):
            break
    return result


def jsonl_rows(body: str, limit: int) -> Rows:
    """InfluxDB 3's `format=jsonl`: one JSON object per line (http.rs v3.10.1 line 2550)."""
    result = Rows()
    for line in body.splitlines():
        if line.strip() and not result.add(dict(json.loads(line)), limit):
            break
    return result


def csv_rows(body: str, limit: int) -> Rows:
    """InfluxDB 3's `format=csv`: a header line, then rows (http.rs v3.10.1 line 2406); values stay text."""
    result = Rows()
    for row in csv.DictReader(io.StringIO(body)):
        if not result.add(dict(row), limit):
            break
    return result


_FLUX_TYPES: dict[str, Any] = {
    "double": float,
    "long": int,
    "unsignedLong": int,
    "boolean": lambda text: text == "true",
}


def flux_rows(body: str, limit: int) -> Rows:
    """InfluxDB 2.x `/api/v2/query` CSV with the `datatype` annotation.

    Each table is a `#datatype` line, a header and rows, tables apart by an empty line
    (http/query.go at v2.7.12, QueryDialect, line 55). A runtime error is a table whose
    header is `error,reference`. The annotation's leading empty column and the `result` and
    `table` columns are left out of the rows.
    """
    result = Rows()
    types: list[str] = []
    header: list[str] | None = None
    for record in csv.reader(io.StringIO(body)):
        if not record or all(not cell for cell in record):
            header = None
            continue
        if record[0] == "#datatype":
            types, header = record, None
            continue
        if record[0].startswith("#"):
            continue
        if header is None:
            header = record
            continue
        if header[:2] == ["error", "reference"] or header[1:3] == ["error", "reference"]:
            raise AnswerError(record[header.index("error")])
        row: dict[str, Any] = {}
        for index, (name, text) in enumerate(zip(header, record, strict=False)):
            if name in ("", "result", "table"):
                continue
            convert = _FLUX_TYPES.get(types[index]) if index < len(types) else None
            if text == "":
                row[name] = None
            else:
                row[name] = convert(text) if convert is not None else text
        if not result.add(row, limit):
            break
    return result
