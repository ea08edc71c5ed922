"""HTTP per InfluxDB API version, on Home Assistant's shared aiohttp session.

One small client covers v1 `/write`, v2 `/api/v2/write` and v3 `/api/v3/write_lp`;
every failure becomes one exception of the hierarchy below, mapped once by the caller.
Secrets travel only in headers, never in URLs, logs or exception texts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
import errno
import json
import logging
import re
import zlib

import aiohttp
from yarl import URL

from ..const import ApiVersion
from .influx_target import InfluxTarget
from .server_info import ServerInfo

_LOGGER = logging.getLogger(__name__)

# The longest server message kept in an exception (InfluxDB can echo whole lines).
_MAX_MESSAGE = 500
# gzip: the fastest level already shrinks line protocol 12 to 14 times (docs/performance.md).
_GZIP_LEVEL = 1
# Compressed a slice at a time, yielding to the event loop in between.
_GZIP_SLICE = 256 * 1024


class InfluxError(Exception):
    """Base of every failure talking to InfluxDB."""


class CannotConnect(InfluxError):
    """The server could not be reached, timed out or answered with a server error."""


class ConnectionDropped(CannotConnect):
    """The server closed the connection without answering a write (an outage, or a line it dies on)."""


class SSLFailure(CannotConnect):
    """TLS handshake or certificate verification failed."""


class InvalidAuth(InfluxError):
    """The server rejected the credentials (401)."""


class NoWritePermission(InfluxError):
    """The credentials are valid but may not write to the target (403)."""


class TargetNotFound(InfluxError):
    """The database, bucket or organization does not exist (404)."""


class OrgNotFound(TargetNotFound):
    """The v2 organization does not exist."""


class RetentionPolicyMissing(TargetNotFound):
    """1.x: the database has no such retention policy (answered with 500)."""


class PayloadTooLarge(InfluxError):
    """The request body exceeds the server's limit (413)."""


class UnsupportedEncoding(InfluxError):
    """The server or a proxy in front of it refuses the body's encoding (415)."""


# A partial write's answer names "up to 100" rejected points, says InfluxDB 3's documentation
# (docs.influxdata.com/influxdb3/core/write-data/troubleshoot); the Core source we read
# (influxdb3_write write_buffer `write_lp`) names all of them. Both are handled.
REJECTED_LISTED_AT_MOST = 100


@dataclass(frozen=True, slots=True)
class RejectedLine:
    """One line InfluxDB 3 names in a partial write: the rest of the request was stored."""

    line_number: int  # 1-based, in the request body
    message: str


class WriteRejected(InfluxError):
    """The server refused the points themselves (400/422: parse error, type conflict).

    `rejected` names the refused lines of a partial write (InfluxDB 3's `/api/v3/write_lp`);
    `dropped` is how many points a partial write dropped when it says so (1.x, 2.x:
    `dropped=N`). `first_refused`: InfluxDB 3 refused the whole request and stored nothing,
    naming the first line it refused (`/write`, `/api/v3/write_lp?accept_partial=false`);
    the lines before it were valid.
    """

    def __init__(
        self,
        message: str,
        rejected: tuple[RejectedLine, ...] = (),
        dropped: int | None = None,
        first_refused: RejectedLine | None = None,
    ) -> None:
        super().__init__(message)
        self.rejected = rejected
        self.dropped = dropped
        self.first_refused = first_refused


class WrongServer(InfluxError):
    """The URL answers as another InfluxDB than the one chosen (a 1.x server for the 3.x type)."""

    def __init__(self, message: str, server: ServerInfo) -> None:
        super().__init__(message)
        self.server = server


class DatabaseMissing(TargetNotFound):
    """InfluxDB 3: the database does not exist yet (a write would create it)."""


class DatabaseLimit(InfluxError):
    """InfluxDB 3 refuses another database (Core allows 5)."""


class ServerBusy(CannotConnect):
    """429 or 503: the server asks us to come back later."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _parse(body: str) -> tuple[str, tuple[RejectedLine, ...], RejectedLine | None]:
    """The server's own message (JSON `error`/`message`, else the raw text), short, and more.

    The lines an InfluxDB 3 partial write names come in its `data` as a list
    (influxdb3_server/src/http.rs, PartialLpWrite); a refusal of the whole request names
    its first bad line in `data` as one object (http.rs, the `WriteBuffer(ParseError)` arm),
    whose reason joins the message: "line protocol parsing error: <reason>".
    """
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    rejected: tuple[RejectedLine, ...] = ()
    first: RejectedLine | None = None
    if isinstance(parsed, dict):
        data = parsed.get("data")
        if isinstance(data, list):
            rejected = tuple(
                RejectedLine(int(item["line_number"]), str(item.get("error_message", ""))[:_MAX_MESSAGE])
                for item in data
                if isinstance(item, dict) and isinstance(item.get("line_number"), int)
            )
        body = str(parsed.get("error") or parsed.get("message") or body)
        if isinstance(data, dict) and isinstance(data.get("line_number"), int):
            first = RejectedLine(data["line_number"], str(data.get("error_message", ""))[:_MAX_MESSAGE])
            body = f"{body}: {first.message}"
    return body.strip()[:_MAX_MESSAGE], rejected, first


_DROPPED = re.compile(r"dropped=(\d+)")
# InfluxDB 3 refusing schema growth or another database (influxdb3_catalog/src/error.rs).
LIMIT_MESSAGES = ("Update to schema would exceed number of", "Adding a new database would exceed limit of")


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header in its delta-seconds form (the form InfluxDB uses)."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _raise_for_status(status: int, body: str, retry_after: str | None) -> None:
    """Map an HTTP error status (and the body where the status alone is ambiguous) to the hierarchy."""
    message, rejected, first_refused = _parse(body)
    text = f"HTTP {status}: {message}"
    if status == 401:
        raise InvalidAuth(text)
    if status == 403:
        raise NoWritePermission(text)
    if status == 404:
        # 2.x: `organization name "o" not found` / `organization not found`, but
        # `bucket "my-organization" not found` (tenant/error_org.go, http/write_handler.go v2.7.12).
        if message.lower().startswith("organization"):
            raise OrgNotFound(text)
        raise TargetNotFound(text)
    if status == 413 or "max request size" in message:  # 3.x before 3.10: 500
        raise PayloadTooLarge(text)
    if "error decoding gzip stream" in message:  # 3.x: 500 before 3.10, then 400
        raise UnsupportedEncoding(text)
    if status == 415:
        raise UnsupportedEncoding(text)
    if status in (429, 503):
        raise ServerBusy(text, _retry_after(retry_after))
    # By what the message holds: `/api/v2/write` prefixes it ("write buffer error: catalog
    # update error: Adding a new database ...") and answers 400, the other endpoints 422.
    if LIMIT_MESSAGES[1] in message:
        raise DatabaseLimit(text)
    # 1.x: `retention policy not found: rp` (errors.go v1.8.10), a 500 from the points writer
    # (services/httpd/handler.go v1.8.10 `serveWrite`), though nothing is wrong with the server.
    if message.startswith("retention policy not found"):
        raise RetentionPolicyMissing(text)
    # A 5xx is the server's trouble, retried; one naming a partial write is about the points.
    if status >= 500 and "partial write" not in message:
        raise CannotConnect(text)
    dropped = int(match[1]) if (match := _DROPPED.search(message)) else None
    raise WriteRejected(text, rejected, dropped, first_refused)


# What servers answer to an empty write once auth, target and permission checks passed:
# 2.x `writing requires points` (http/points/points_parser.go), 3.x `incoming write was
# empty` (influxdb3_write/src/write_buffer/mod.rs, EmptyWrite); 1.x stores nothing and says 204.
_EMPTY_WRITE_MESSAGES = ("writing requires points", "incoming write was empty")


class InfluxClient:
    """Writes line protocol to one target through a shared aiohttp session.

    The session decides certificate verification: pass Home Assistant's shared session
    created with the target's `verify_ssl`. With `gzip`, bodies are sent with
    `Content-Encoding: gzip`, which every InfluxDB version accepts; a server (or proxy)
    that answers 415 gets plain bodies from then on.
    """

    def __init__(self, session: aiohttp.ClientSession, target: InfluxTarget, *, gzip: bool = False) -> None:
        self._session = session
        self.target = target
        self.gzip = gzip
        self._url = target.write_url
        self._headers = {"Content-Type": "text/plain; charset=utf-8", **target.headers}
        # What the server said it is at the last `/ping` (None: not asked, or no answer).
        self.server: ServerInfo | None = None

    async def write(self, body: bytes, timeout: float) -> None:
        """POST a body of lines; return on 2xx, raise an InfluxError otherwise."""
        if self.gzip and body:
            try:
                await self._call(
                    "POST",
                    self._url,
                    timeout,
                    body=await gzip_body(body),
                    headers={"Content-Encoding": "gzip"},
                )
                return
            except UnsupportedEncoding as err:
                self.gzip = False
                _LOGGER.warning(
                    "%s refuses gzip-compressed writes (%s); writing uncompressed", self.target.title, err
                )
        await self._call("POST", self._url, timeout, body=body)

    async def _call(
        self,
        method: str,
        url: URL,
        timeout: float,
        *,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """One request; the answer's text on 2xx, an InfluxError otherwise."""
        headers = {**self._headers, **(headers or {})}
        try:
            async with self._session.request(
                method, url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as response:
                text = await response.text(errors="replace")
                if response.status < 300:
                    return text
                _raise_for_status(response.status, text, response.headers.get("Retry-After"))
                raise AssertionError("unreachable")  # _raise_for_status always raises
        except aiohttp.ClientSSLError as err:
            raise SSLFailure(f"SSL error: {err}") from None
        except (aiohttp.ClientError, TimeoutError) as err:
            text = f"{type(err).__name__}: {err}"
            # Closed or reset after the request was taken, not refused at connect (an outage).
            dropped = isinstance(err, aiohttp.ServerDisconnectedError) or (
                type(err) is aiohttp.ClientOSError and err.errno == errno.ECONNRESET
            )
            raise (ConnectionDropped(text) if dropped else CannotConnect(text)) from None

    async def get(self, url: URL, timeout: float) -> str:
        """A GET with the target's authorization; the answer's text (an InfluxError otherwise)."""
        return await self._call("GET", url, timeout)

    async def check_write_access(self, timeout: float) -> None:
        """Prove connection, auth, target and write permission with a write of no points.

        Servers check credentials, the database/bucket and the write permission before
        they parse the body, so an empty body writes nothing yet fails exactly where a
        real write would; 2.x and 3.x answer the empty body itself with a 400. InfluxDB 3
        would create a missing database even then, through any of its APIs, so `/ping` is
        asked first which server answers: on 3.x the database must exist already, and the
        3.x type pointed at a 1.x or 2.x server is told so (`WrongServer`).
        """
        server = await self.async_read_server_info(timeout)
        is_v3 = server is not None and server.is_influxdb3
        if self.target.api_version is ApiVersion.V3 and server is not None and server.generation in (1, 2):
            raise WrongServer(f"{self.target.url} answers as {server.describe()}, not InfluxDB 3", server)
        if (self.target.api_version is ApiVersion.V3 or is_v3) and not await self.database_exists(timeout):
            # 3.x would create it on the check write, whichever API that goes through.
            raise DatabaseMissing(f"database {self.target.v3_database!r} does not exist")
        try:
            await self.write(b"", timeout)
        except WriteRejected as err:
            if not any(text in str(err).lower() for text in _EMPTY_WRITE_MESSAGES):
                raise

    async def database_exists(self, timeout: float) -> bool:
        """InfluxDB 3: whether the database exists; True when the server will not say.

        `GET /api/v3/configure/database?format=json` lists `[{"iox::database": name}]`
        (influxdb3_server/src/http.rs, show_databases). A token that may not list them
        (Enterprise database tokens) or a server without the endpoint cannot tell.
        """
        url = URL(self.target.url) / "api/v3/configure/database" % {"format": "json"}
        try:
            listed = json.loads(await self._call("GET", url, timeout))
        except NoWritePermission, TargetNotFound, WriteRejected, ValueError:
            return True
        names = {item.get("iox::database") for item in listed if isinstance(item, dict)}
        return self.target.v3_database in names

    async def async_read_server_info(self, timeout: float) -> ServerInfo | None:
        """Ask `/ping` which server answers; None when it does not answer (kept as `server`)."""
        await self.answers_ping(timeout)
        return self.server

    async def answers_ping(self, timeout: float) -> bool:
        """Whether the server answers `/ping` at all, whatever the status; a 2xx updates `server`."""
        headers = {key: value for key, value in self._headers.items() if key != "Content-Type"}
        try:
            async with self._session.get(
                URL(self.target.url) / "ping", headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as response:
                body = await response.text(errors="replace")
                if response.status < 300:
                    self.server = ServerInfo.from_ping(response.headers, body)
                return True
        except (aiohttp.ClientError, TimeoutError) as err:
            _LOGGER.debug("No answer from %s/ping: %s", self.target.title, type(err).__name__)
            return False

    async def create_database(self, timeout: float, retention_days: int = 0) -> None:
        """InfluxDB 1.x and 3: create the database (already existing is fine), with a retention period.

        1.x: `POST /query` with `CREATE DATABASE "name"` (a no-op when it exists; an admin
        user's right). 3: `POST /api/v3/configure/database` with `{"db": name}`: 200, 409
        when it exists, 422 at the database limit (influxdb3_server/src/http.rs,
        create_database). The optional `retention_period` is a humantime duration such as
        `30d` (influxdb3_types/src/http.rs at v3.10.1, CreateDatabaseRequest, line 302); Core
        sets it at creation (v3.10.1 also has `PUT /api/v3/configure/database` to change it,
        http.rs line 2834).
        """
        if self.target.api_version is ApiVersion.V1:
            name = str(self.target.database).replace("\\", "\\\\").replace('"', '\\"')
            url = URL(self.target.url) / "query" % {"q": f'CREATE DATABASE "{name}"'}
            answer = await self._call("POST", url, timeout)
            if '"error"' in answer:  # 200 with the statement's error, e.g. not an admin
                raise InfluxError(answer[:300])
            return
        url = URL(self.target.url) / "api/v3/configure/database"
        request: dict[str, str] = {"db": self.target.v3_database}
        if retention_days > 0:
            request["retention_period"] = f"{retention_days}d"
        body = json.dumps(request).encode()
        try:
            await self._call("POST", url, timeout, body=body, headers={"Content-Type": "application/json"})
        except WriteRejected as err:
            if "already exists" not in str(err):
                raise


async def gzip_body(body: bytes) -> bytes:
    """`body` as gzip, compressed a slice at a time so the event loop is never held long."""
    compressor = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = []
    for start in range(0, len(body), _GZIP_SLICE):
        parts.append(compressor.compress(body[start : start + _GZIP_SLICE]))
        await asyncio.sleep(0)
    parts.append(compressor.flush())
    return b"".join(parts)
