"""Real InfluxDB 1.x and VictoriaMetrics servers for the tests, on free loopback ports.

Started from Debian's `influxd` and `victoria-metrics` binaries (scripts/setup installs
them). A missing binary is an error, never a skip: these tests are the proof.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import shutil
import signal
import socket
import ssl
import subprocess
import time
from typing import Any
import urllib.error
import urllib.parse
import urllib.request

ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin-secret-Pa55"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_binary(name: str) -> str:
    """Path of a server binary; fail loudly when scripts/setup did not install it."""
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} not found on PATH: run scripts/setup (it installs the real servers)")
    return path


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    """Poll an HTTP URL until it answers (any status) or the process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server at {url} did not answer within {timeout}s")


@dataclass
class InfluxDB1Server:
    """A real `influxd` 1.x with its own data directory, optionally with auth and TLS."""

    workdir: Path
    auth: bool = True
    tls_cert: Path | None = None
    tls_key: Path | None = None
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start (or restart on the same port and data) the server and wait for it."""
        binary = require_binary("influxd")
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "influxdb.conf"
        tls = ""
        if self.tls_cert and self.tls_key:
            tls = (
                f'https-enabled = true\n  https-certificate = "{self.tls_cert}"\n'
                f'  https-private-key = "{self.tls_key}"\n'
            )
        config.write_text(
            f"""reporting-disabled = true
bind-address = "127.0.0.1:{free_port()}"
[meta]
  dir = "{self.workdir}/meta"
[data]
  dir = "{self.workdir}/data"
  wal-dir = "{self.workdir}/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:{self.port}"
  auth-enabled = {"true" if self.auth else "false"}
  log-enabled = false
  {tls}
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
"""
        )
        log = self.workdir / "influxd.log"
        self.process = subprocess.Popen(
            [binary, "-config", str(config)],
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        wait_until_up(
            f"http://127.0.0.1:{self.port}/ping", self.process, log
        ) if not self.tls_cert else self._wait_tls(log)
        if self.auth:
            # Allowed without credentials while the server has no user yet; idempotent.
            self.query(
                f"CREATE USER {ADMIN_USER} WITH PASSWORD '{ADMIN_PASSWORD}' WITH ALL PRIVILEGES",
                method="POST",
            )

    def _wait_tls(self, log: Path) -> None:
        assert self.process is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(log.read_text()[-3000:])
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("TLS influxd did not start")

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def write(self, db: str, lines: str) -> None:
        """Write line protocol as another tool would (synchronous: run it in the executor)."""
        request = urllib.request.Request(
            f"{self.url}/write?" + urllib.parse.urlencode({"db": db, "precision": "ns"}),
            data=lines.encode(),
            method="POST",
        )
        if self.auth:
            token = base64.b64encode(f"{ADMIN_USER}:{ADMIN_PASSWORD}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        context = ssl._create_unverified_context() if self.tls_cert else None  # noqa: S323
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            if response.status != 204:
                raise RuntimeError(f"write answered {response.status}")

    def query(self, q: str, db: str | None = None, method: str = "GET") -> dict[str, Any]:
        """Run InfluxQL through the real `/query` endpoint (synchronous: for fixtures)."""
        params = {"q": q, "epoch": "ns"}
        if db:
            params["db"] = db
        url = f"{self.url}/query?" + urllib.parse.urlencode(params)
        request = urllib.request.Request(url, method=method)
        if self.auth:
            token = base64.b64encode(f"{ADMIN_USER}:{ADMIN_PASSWORD}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        # The TLS server's certificate is self-signed: the test client does not verify it.
        context = ssl._create_unverified_context() if self.tls_cert else None  # noqa: S323
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            return json.loads(response.read())


@dataclass
class VictoriaMetricsServer:
    """A real VictoriaMetrics, which accepts the InfluxDB v2 write API."""

    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = require_binary("victoria-metrics")
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.workdir / "victoria-metrics.log"
        self.process = subprocess.Popen(
            [
                binary,
                f"-httpListenAddr=127.0.0.1:{self.port}",
                f"-storageDataPath={self.workdir / 'data'}",
                "-search.latencyOffset=0s",
                "-loggerLevel=ERROR",
            ],
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            env={**os.environ, "TZ": "UTC"},
        )
        wait_until_up(f"{self.url}/health", self.process, log)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
