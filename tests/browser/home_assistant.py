"""A real Home Assistant in a subprocess, with its frontend, onboarded through its REST API.

The config directory is made from scratch: a minimal configuration.yaml (the frontend and
the config panels, no `default_config:`), this repo's custom_components linked in, and the
HTTP settings seeded in .storage the way scripts/develop does (since 2026.x Home Assistant
keeps them there), so it listens on 127.0.0.1 only, on a free port.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import time
from typing import Any
import urllib.error
import urllib.parse
import urllib.request

from homeassistant.components.http import config as http_config
from homeassistant.util import dt as dt_util

from ..support.servers import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
USER_NAME = "Ada Lovelace"
USERNAME = "ada"
PASSWORD = "browser-test-Pa55"

CONFIGURATION_YAML = """\
# Written by tests/browser: the UI and its config panels, nothing that reaches outside.
homeassistant:
  name: InfluxDB Ingest demo
  latitude: 52.3731
  longitude: 4.8922
  elevation: 0
  unit_system: metric
  time_zone: UTC
  currency: EUR
  country: NL
  language: en

frontend:
config:
# Settings > System > Repairs > ⋮ > System information (the integration has a line there).
system_health:

logger:
  default: warning
  logs:
    custom_components.influxdb_ingest: debug
    # No ffmpeg binary or libturbojpeg here; the always-on tts/camera integrations say so.
    haffmpeg: critical
    homeassistant.components.camera.img_util: critical
"""

# With `recorder=True`: the history the setup offers to import; committed every second, so a
# state posted by the test is in the database by the time the form asks.
RECORDER_YAML = """
recorder:
  commit_interval: 1
"""


def _store(key: str, version: int, minor_version: int, data: Any) -> str:
    """A file as homeassistant.helpers.storage.Store writes it."""
    return json.dumps(
        {"version": version, "minor_version": minor_version, "key": key, "data": data}, indent=2
    )


@dataclass
class HomeAssistantProcess:
    """`python -m homeassistant --config <dir> --skip-pip` on 127.0.0.1:<free port>."""

    config_dir: Path
    recorder: bool = False
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    tokens: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def client_id(self) -> str:
        """What the frontend uses as its OAuth client id: its own origin, with a slash."""
        return f"{self.url}/"

    @property
    def log(self) -> Path:
        return self.config_dir / "home-assistant.log"

    @property
    def output(self) -> Path:
        return self.config_dir / "stdout.log"

    def write_config(self) -> None:
        """configuration.yaml, custom_components and the seeded .storage files."""
        storage = self.config_dir / ".storage"
        storage.mkdir(parents=True, exist_ok=True)
        (self.config_dir / "configuration.yaml").write_text(
            CONFIGURATION_YAML + (RECORDER_YAML if self.recorder else "")
        )
        (self.config_dir / "custom_components").symlink_to(REPO_ROOT / "custom_components")
        now = dt_util.utcnow().isoformat()
        stable = http_config.HTTP_STORAGE_SCHEMA({"server_host": ["127.0.0.1"], "server_port": self.port})
        stable |= {"created_at": now, "error": None, "error_message": None}
        http = {"stable": stable, "pending": None, "yaml_migration_done": True}
        (storage / http_config.STORAGE_KEY).write_text(
            _store(
                http_config.STORAGE_KEY, http_config.STORAGE_VERSION, http_config.STORAGE_MINOR_VERSION, http
            )
        )
        # Onboarding's "core_config" step would start the met, radio_browser, google_translate
        # and shopping_list config flows (internet, packages this venv lacks, and stray cards on
        # the integrations page): it and "analytics" (nothing to do) count as done already.
        # The user and integration steps go through the REST API in onboard().
        (storage / "onboarding").write_text(
            _store("onboarding", 4, 1, {"done": ["core_config", "analytics"]})
        )

    def start(self, timeout: float = 90) -> None:
        """Start Home Assistant and wait until its onboarding API answers."""
        if not (self.config_dir / "configuration.yaml").exists():
            self.write_config()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "homeassistant", "--config", str(self.config_dir), "--skip-pip"],
            stdout=self.output.open("ab"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # Its own process group: stop() reaches whatever it starts, too.
            start_new_session=True,
            env={**os.environ, "TZ": "UTC"},
        )
        self.wait_for(lambda: self.request("GET", "/api/onboarding")[0] == 200, timeout, "the onboarding API")

    def onboard(self) -> dict[str, Any]:
        """Create the owner through onboarding, get its tokens, finish onboarding."""
        status, answer = self.request(
            "POST",
            "/api/onboarding/users",
            {
                "name": USER_NAME,
                "username": USERNAME,
                "password": PASSWORD,
                "client_id": self.client_id,
                "language": "en",
            },
        )
        assert status == 200, answer
        self.tokens = self.token(answer["auth_code"])
        status, answer = self.request(
            "POST",
            "/api/onboarding/integration",
            {"client_id": self.client_id, "redirect_uri": f"{self.url}/?auth_callback=1"},
        )
        assert status == 200, answer
        status, answer = self.request("GET", "/api/onboarding")
        assert status == 200, answer
        assert all(step["done"] for step in answer), answer
        return self.tokens

    def token(self, auth_code: str) -> dict[str, Any]:
        """Exchange an authorization code for tokens, as the frontend does after login."""
        body = urllib.parse.urlencode(
            {"grant_type": "authorization_code", "code": auth_code, "client_id": self.client_id}
        ).encode()
        request = urllib.request.Request(f"{self.url}/auth/token", data=body, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            tokens: dict[str, Any] = json.loads(response.read())
        return tokens

    def wait_running(self, timeout: float = 90) -> None:
        """Wait until Home Assistant has finished starting (every integration set up)."""

        def running() -> bool:
            status, answer = self.request("GET", "/api/config")
            return status == 200 and answer.get("state") == "RUNNING"

        self.wait_for(running, timeout, "state RUNNING")

    def request(self, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
        """A JSON request to the REST API (with the owner's token once there is one)."""
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.tokens:
            request.add_header("Authorization", f"Bearer {self.tokens['access_token']}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as err:
            status, body = err.code, err.read()
        except OSError:
            return 0, None
        try:
            return status, json.loads(body)
        except ValueError:
            return status, body.decode(errors="replace")

    def wait_for(self, condition: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"Home Assistant exited ({self.process.returncode}):\n{self.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Home Assistant: no {what} within {timeout}s:\n{self.tail()}")
            time.sleep(0.2)

    def tail(self, lines: int = 40) -> str:
        """The end of Home Assistant's log (and of its console output), for failure messages."""
        text = ""
        for path in (self.output, self.log):
            if path.exists():
                text += (
                    f"--- {path.name}\n"
                    + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
                    + "\n"
                )
        return text

    def stop(self) -> None:
        """SIGTERM, a graceful wait, then SIGKILL to the whole process group."""
        if self.process is None:
            return
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
