"""Stand-ins for InfluxDB 2.x and 3.x, which cannot be installed on this machine.

They answer the write endpoints exactly as the servers document it (status codes and JSON
error bodies of the v2 `/api/v2/write` and v3 `/api/v3/write_lp` APIs), so the config
flow's error mapping is exercised without a real 2.x/3.x server. Points are kept so tests
can check what arrived. The real-server tests use InfluxDB 1.x and VictoriaMetrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from .servers import free_port


@dataclass
class FakeInfluxDB:
    """InfluxDB 2.x/3.x write API: org `test-org`, bucket/database `test-bucket`."""

    token: str = "test-token"
    org: str = "test-org"
    bucket: str = "test-bucket"
    read_only_token: str = "read-only-token"
    port: int = field(default_factory=free_port)
    bodies: list[bytes] = field(default_factory=list)
    # Fault injection: answers to give before the next writes, and a request size limit.
    injected: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    max_lines: int | None = None
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/v2/write", self._write_v2)
        app.router.add_post("/api/v3/write_lp", self._write_v3)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    @staticmethod
    def _error(status: int, code: str, message: str) -> web.Response:
        return web.json_response({"code": code, "message": message}, status=status)

    async def _write_v2(self, request: web.Request) -> web.Response:
        # Order as in InfluxDB 2.x: authenticate, find org, find bucket, authorize, parse.
        auth = request.headers.get("Authorization", "")
        if auth not in (f"Token {self.token}", f"Token {self.read_only_token}"):
            return self._error(401, "unauthorized", "unauthorized access")
        org, bucket = request.query.get("org"), request.query.get("bucket")
        if org != self.org:
            return self._error(404, "not found", f'organization name "{org}" not found')
        if bucket != self.bucket:
            return self._error(404, "not found", f'bucket "{bucket}" not found')
        if auth == f"Token {self.read_only_token}":
            return self._error(403, "forbidden", "insufficient permissions for write")
        body = await request.read()
        if not body:
            return self._error(400, "invalid", "writing requires points")
        if self.injected:
            status, headers = self.injected.pop(0)
            return web.json_response(
                {"code": "unavailable", "message": "injected"}, status=status, headers=headers
            )
        if self.max_lines is not None and body.count(b"\n") > self.max_lines:
            return self._error(413, "request too large", "unable to read data: points batch is too large")
        self.bodies.append(body)
        return web.Response(status=204)

    async def _write_v3(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"error": "the request was not authenticated"}, status=401)
        if request.query.get("db") != self.bucket:
            return web.json_response({"error": f"database not found: {request.query.get('db')}"}, status=404)
        self.bodies.append(await request.read())
        return web.Response(status=204)
