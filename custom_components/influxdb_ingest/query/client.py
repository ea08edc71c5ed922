"""One read-only query against one target at a time, with a timeout, a row cap and a size cap.

The endpoints, per flavour and language:

- InfluxQL on 1.x and 2.x: `GET /query?db=&q=&epoch=ms` (services/httpd/handler.go at v1.6.6,
  serveQuery, line 359); 2.x maps `db` to a bucket through a DBRP mapping (http/legacy/backend.go
  at v2.7.12, line 71; influxqld_handler.go line 152).
- Flux on 2.x: `POST /api/v2/query?org=` with `{"query", "type": "flux", "dialect"}`, a CSV
  answer (http/query.go at v2.7.12, QueryRequest line 25; http/query_handler.go line 117).
- SQL on 3.x: `POST /api/v3/query_sql` with `{"db", "q", "format": "json"}`
  (influxdb3_server/src/http.rs at v3.10.1, query_sql line 1161, routes line 2761;
  influxdb3_types/src/http.rs at v3.10.1, QueryRequest line 386).
- InfluxQL on 3.x: `POST /api/v3/query_influxql`, the same body (http.rs v3.10.1, line 1184).

Credentials travel in headers only; errors carry the server's message, never the request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
import json
import time
from typing import Any

import aiohttp
from yarl import URL

from ..const import ApiVersion
from ..target.influx_target import InfluxTarget
from .answers import AnswerError, Rows, flux_rows, influxql_rows, json_rows
from .statement import LANGUAGES, Language, NotReadOnly, check_read_only

DEFAULT_TIMEOUT = 30.0
DEFAULT_ROW_LIMIT = 100
MAX_ROW_LIMIT = 10_000
# What one answer may weigh: more is refused, not cut (a cut JSON cannot be parsed).
MAX_ANSWER_BYTES = 4 * 1024 * 1024
# Answers bigger than this are parsed on the executor, off the event loop.
_PARSE_INLINE_BYTES = 64 * 1024
_MAX_MESSAGE = 300

type RunInExecutor = Callable[..., Awaitable[Any]]


class QueryError(Exception):
    """A query could not be answered; `reason` is a translation key of the flows and actions."""

    reason = "query_failed"


class QueryRefused(QueryError):
    """The query could write, delete or change the schema, or its language is not the target's."""

    reason = "not_read_only"


class QueryUnsupported(QueryError):
    """The target's flavour does not speak the language."""

    reason = "unsupported_language"


class QueryInvalid(QueryError):
    """The server could not parse or plan the query."""

    reason = "bad_query"


class QueryNotFound(QueryError):
    """The database, bucket or table does not exist."""

    reason = "not_found"


class QueryTimeout(QueryError):
    """No answer within the timeout."""

    reason = "timeout"


class QueryAuthFailed(QueryError):
    """The credentials may not read (401/403)."""

    reason = "invalid_auth"


class QueryCannotConnect(QueryError):
    """The server could not be reached or failed (5xx)."""

    reason = "cannot_connect"


class QueryTooLarge(QueryError):
    """The answer is larger than the size cap."""

    reason = "too_large"


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    url: URL
    params: dict[str, str]
    body: bytes | None
    headers: dict[str, str]


def _post_json(
    url: URL,
    payload: dict[str, Any],
    credentials: Mapping[str, str],
    *,
    params: dict[str, str] | None = None,
    accept: str | None = None,
) -> _Request:
    """A JSON body POSTed with the target's credential headers; `accept` asks for an answer format."""
    headers = {**credentials, "Content-Type": "application/json"}
    if accept is not None:
        headers["Accept"] = accept
    return _Request("POST", url, params or {}, json.dumps(payload).encode(), headers)


@dataclass(frozen=True, slots=True)
class QueryResult:
    """Rows, whether the row cap cut them, and how long the server took."""

    rows: Rows
    duration_ms: float


def _message(status: int, body: str) -> str:
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        body = str(parsed.get("error") or parsed.get("message") or body)
    return f"HTTP {status}: {body.strip()[:_MAX_MESSAGE]}"


# DataFusion's planner on 3.x (http.rs v3.10.1, datafusion_error_status_code line 621: Plan -> 400)
# and 1.x's statement errors name a missing table or database like this.
_NOT_FOUND_WORDS = ("not found", "does not exist", "doesn't exist")


def _raise_for_status(status: int, body: str) -> None:
    message = _message(status, body)
    if status in (401, 403):
        raise QueryAuthFailed(message)
    if status == 404 or any(words in message.lower() for words in _NOT_FOUND_WORDS):
        raise QueryNotFound(message)
    if status >= 500:
        raise QueryCannotConnect(message)
    raise QueryInvalid(message)


class QueryClient:
    """Runs read-only queries against one target, one at a time, on a shared aiohttp session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        target: InfluxTarget,
        run_in_executor: RunInExecutor | None = None,
    ) -> None:
        self._session = session
        self.target = target
        self._run_in_executor = run_in_executor
        # One at a time per target: a burst of sensors never stacks requests on the server.
        self._lock = asyncio.Lock()

    @property
    def languages(self) -> tuple[Language, ...]:
        """What the target's flavour answers, its own first."""
        return LANGUAGES[self.target.api_version]

    async def run(
        self,
        language: Language,
        query: str,
        *,
        limit: int = DEFAULT_ROW_LIMIT,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> QueryResult:
        """Run one query; QueryError when it is refused or fails."""
        if language not in self.languages:
            raise QueryUnsupported(
                f"InfluxDB {self.target.api_version.value}.x does not answer {language.value} here"
            )
        try:
            query = check_read_only(language, query)
        except NotReadOnly as err:
            raise QueryRefused(str(err)) from None
        request = self._request(language, query)
        try:
            async with asyncio.timeout(timeout):
                await self._lock.acquire()
        except TimeoutError:
            raise QueryTimeout(f"another query held the target for {timeout:g} s") from None
        try:
            started = time.monotonic()
            text = await self._fetch(request, timeout)
            duration_ms = (time.monotonic() - started) * 1000
        finally:
            self._lock.release()
        try:
            if self._run_in_executor is not None and len(text) > _PARSE_INLINE_BYTES:
                rows = await self._run_in_executor(_parse, language, self.target.api_version, text, limit)
            else:
                rows = _parse(language, self.target.api_version, text, limit)
        except AnswerError as err:
            message = str(err)[:_MAX_MESSAGE]
            if any(words in message.lower() for words in _NOT_FOUND_WORDS):
                raise QueryNotFound(message) from None
            raise QueryInvalid(message) from None
        except (ValueError, KeyError, TypeError) as err:
            raise QueryInvalid(f"unreadable answer: {err}"[:_MAX_MESSAGE]) from None
        return QueryResult(rows, duration_ms)

    async def configure(self, path: str, payload: dict[str, Any], timeout: float = DEFAULT_TIMEOUT) -> str:
        """InfluxDB 3: POST a JSON body to a `/api/v3/configure/...` endpoint (caches); the answer's text."""
        request = _post_json(URL(self.target.url) / path, payload, self.target.headers)
        async with self._lock:
            return await self._fetch(request, timeout)

    def _request(self, language: Language, query: str) -> _Request:
        target, base = self.target, URL(self.target.url)
        if language is Language.FLUX:
            payload = {
                "query": query,
                "type": "flux",
                "dialect": {"header": True, "annotations": ["datatype"], "delimiter": ","},
            }
            return _post_json(
                base / "api/v2/query",
                payload,
                target.headers,
                params={"org": target.org},
                accept="application/csv",
            )
        if target.api_version is ApiVersion.V3:
            path = "api/v3/query_sql" if language is Language.SQL else "api/v3/query_influxql"
            payload = {"db": target.database, "q": query, "format": "json"}
            return _post_json(base / path, payload, target.headers, accept="application/json")
        database = target.bucket if target.api_version is ApiVersion.V2 else target.database
        params = {"db": database, "q": query, "epoch": "ms"}
        if target.retention_policy:
            params["rp"] = target.retention_policy
        # GET: 1.x marks the statement read-only (handler.go v1.6.6 line 473), on top of our check.
        return _Request("GET", base / "query", params, None, target.headers)

    async def _fetch(self, request: _Request, timeout: float) -> str:
        try:
            async with self._session.request(
                request.method,
                request.url,
                params=request.params,
                data=request.body,
                headers=request.headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                raw = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    raw += chunk
                    if len(raw) > MAX_ANSWER_BYTES:
                        raise QueryTooLarge(
                            f"the answer is larger than {MAX_ANSWER_BYTES // (1024 * 1024)} MiB: "
                            "ask for fewer rows or columns"
                        )
                text = raw.decode("utf-8", errors="replace")
                if response.status >= 300:
                    _raise_for_status(response.status, text)
                return text
        except TimeoutError:
            raise QueryTimeout(f"no answer within {timeout:g} s") from None
        except aiohttp.ClientError as err:
            raise QueryCannotConnect(f"{type(err).__name__}: {err}"[:_MAX_MESSAGE]) from None


def _parse(language: Language, version: ApiVersion, text: str, limit: int) -> Rows:
    if language is Language.FLUX:
        return flux_rows(text, limit)
    if version is ApiVersion.V3:
        return json_rows(text, limit)
    return influxql_rows(text, limit)
