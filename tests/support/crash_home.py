"""A real Home Assistant process to crash (tests/test_crash.py), and what it left behind.

`python -m homeassistant -c <dir>` with a configuration made from scratch: no
`default_config:`, nothing that reaches outside; HTTP on a free loopback port (seeded in
.storage as Home Assistant keeps it there); this repo's integration linked into
custom_components and its config entry seeded in .storage/core.config_entries; and a
small load generator component (`crash_load`) that fires numbered state changes at a
steady rate from inside Home Assistant, like a busy home would.

Each life of the process (a `Run`, from start to `kill -9`) numbers its events in a block
of its own (`first` + n), so what one run lost can never be confused with another's. The
generator writes how far it got to a progress file after every tick (no sync: a `kill -9`
keeps the page cache). What was spooled is read by the tests' own reader of the segment
format (tests/support/spool_oracle.py), never by the spool under test; what was stored
with real InfluxQL; what was sent, through the fault proxy the entry writes to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import time
from typing import Any

from homeassistant import config_entries
from homeassistant.components.http import config as http_config
from homeassistant.util import dt as dt_util

from .helpers import MEASUREMENT
from .servers import InfluxDB1Server, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
ENTRY_ID = "01KCRASHTESTENTRY000000000"
# Event numbers of run i are i * SEQ_BLOCK + n.
SEQ_BLOCK = 10_000_000
PROGRESS = "crash_load.progress"

CONFIGURATION_YAML = """\
# Written by tests/support/crash_home.py: the integration under test and a load generator, nothing
# that reaches outside this machine.
homeassistant:
  name: Crash test
  latitude: 52.3731
  longitude: 4.8922
  elevation: 0
  unit_system: metric
  time_zone: UTC
  currency: EUR
  country: NL
  language: en

logger:
  default: warning
  logs:
    custom_components.influxdb_ingest: info
    # No ffmpeg binary or libturbojpeg here; the always-on tts/camera integrations say so.
    haffmpeg: critical
    homeassistant.components.camera.img_util: critical

crash_load:
  rate: {rate}
  first: {first}
"""

LOAD_MANIFEST = {
    "domain": "crash_load",
    "name": "Crash test load",
    "codeowners": [],
    "documentation": "https://example.invalid",
    "iot_class": "local_push",
    "requirements": [],
    "version": "1.0.0",
}

LOAD_COMPONENT = '''\
"""Fires numbered state changes at a steady rate once Home Assistant has started.

sensor.load_<n % 20> gets state n and attribute seq = n, for n = first, first + 1, ...
After each tick the number reached and the time go to crash_load.progress (overwritten in
place, in the executor). With rate 0 only the start is written: Home Assistant is up.
"""

import asyncio
import os
import time

from homeassistant.const import EVENT_HOMEASSISTANT_STARTED

TICK = 0.02


async def async_setup(hass, config):
    rate = float(config["crash_load"]["rate"])
    first = int(config["crash_load"]["first"])
    descriptor = await hass.async_add_executor_job(
        os.open, hass.config.path("crash_load.progress"), os.O_WRONLY | os.O_CREAT, 0o644
    )

    async def progress(number):
        text = f"{number:015d} {time.time():.6f}\\n".encode()
        await hass.async_add_executor_job(os.pwrite, descriptor, text, 0)

    async def generate():
        loop = asyncio.get_running_loop()
        start = loop.time()
        number = first
        while True:
            due = first + int((loop.time() - start) * rate)
            while number < due:
                hass.states.async_set(f"sensor.load_{number % 20}", str(number), {"seq": number})
                number += 1
            await progress(number)
            await asyncio.sleep(TICK)

    async def started(_event):
        await progress(first)
        if rate > 0:
            hass.async_create_background_task(generate(), "crash_load")

    hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STARTED, started)
    return True
'''


def _store(key: str, version: int, minor_version: int, data: Any) -> str:
    """A file as homeassistant.helpers.storage.Store writes it."""
    return json.dumps({"version": version, "minor_version": minor_version, "key": key, "data": data})


@dataclass
class Run:
    """One life of the Home Assistant process."""

    first: int  # its first event number
    rate: float
    progress: int = 0  # events fired, as far as the progress file says
    peak_rss_mb: float = 0.0

    def block(self, numbers: Iterable[int]) -> list[int]:
        """The numbers among `numbers` that this run fired, sorted."""
        return sorted(number for number in numbers if self.first <= number < self.first + SEQ_BLOCK)


@dataclass
class Loss:
    """What became of one run's events."""

    fired: int
    kept: int  # stored, spooled, or both
    holes: list[int]  # numbers missing before the last one kept: never allowed

    @property
    def lost(self) -> int:
        return self.fired - self.kept


@dataclass
class CrashHome:
    """A Home Assistant config directory, and the process running it (one at a time)."""

    config_dir: Path
    influxdb: InfluxDB1Server
    database: str
    options: dict[str, Any]
    url: str = ""  # where the entry writes (a proxy in front of `influxdb`); `influxdb`'s if empty
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    runs: list[Run] = field(default_factory=list)

    @property
    def spool_dir(self) -> Path:
        return self.config_dir / "influxdb_ingest" / ENTRY_ID

    @property
    def run(self) -> Run:
        return self.runs[-1]

    def write_config(self) -> None:
        """custom_components and the seeded .storage files (once)."""
        storage = self.config_dir / ".storage"
        storage.mkdir(parents=True, exist_ok=True)
        components = self.config_dir / "custom_components"
        (components / "crash_load").mkdir(parents=True)
        (components / "crash_load" / "manifest.json").write_text(json.dumps(LOAD_MANIFEST))
        (components / "crash_load" / "__init__.py").write_text(LOAD_COMPONENT)
        (components / "influxdb_ingest").symlink_to(REPO_ROOT / "custom_components" / "influxdb_ingest")
        now = dt_util.utcnow().isoformat()
        stable = http_config.HTTP_STORAGE_SCHEMA({"server_host": ["127.0.0.1"], "server_port": self.port})
        stable |= {"created_at": now, "error": None, "error_message": None}
        http = {"stable": stable, "pending": None, "yaml_migration_done": True}
        (storage / http_config.STORAGE_KEY).write_text(
            _store(
                http_config.STORAGE_KEY, http_config.STORAGE_VERSION, http_config.STORAGE_MINOR_VERSION, http
            )
        )
        entry = {
            "created_at": now,
            "data": {
                "api_version": "1",
                "url": self.url or self.influxdb.url,
                "database": self.database,
                "verify_ssl": True,
            },
            "discovery_keys": {},
            "disabled_by": None,
            "domain": "influxdb_ingest",
            "entry_id": ENTRY_ID,
            "minor_version": 1,
            "modified_at": now,
            "options": self.options,
            "pref_disable_new_entities": False,
            "pref_disable_polling": False,
            "source": "user",
            "subentries": [],
            "title": f"{self.database} @ 127.0.0.1",
            "unique_id": f"v1|{self.influxdb.url}|{self.database}/",
            "version": 2,
        }
        (storage / config_entries.STORAGE_KEY).write_text(
            _store(
                config_entries.STORAGE_KEY,
                config_entries.STORAGE_VERSION,
                config_entries.STORAGE_VERSION_MINOR,
                {"entries": [entry]},
            )
        )

    def start(self, rate: float, *, wait: bool = True, timeout: float = 90) -> Run:
        """Start a new run firing `rate` changes/s; return once Home Assistant has started
        (or at once, without `wait`: the run then fires once it has)."""
        if not (self.config_dir / ".storage").exists():
            self.write_config()
        run = Run(first=len(self.runs) * SEQ_BLOCK, rate=rate)
        self.runs.append(run)
        (self.config_dir / "configuration.yaml").write_text(
            CONFIGURATION_YAML.format(rate=rate, first=run.first)
        )
        (self.config_dir / PROGRESS).unlink(missing_ok=True)
        with (self.config_dir / "stdout.log").open("ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "homeassistant", "--config", str(self.config_dir), "--skip-pip"],
                # Its own directory: the repository's custom_components must not shadow the
                # config directory's (Python puts the working directory first on its path).
                cwd=self.config_dir,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # kill() reaches the whole process group
                env={**os.environ, "TZ": "UTC"},
            )
        deadline = time.monotonic() + timeout
        while wait and self.read_progress() is None:
            if self.process.poll() is not None:
                raise RuntimeError(f"Home Assistant exited ({self.process.returncode}):\n{self.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Home Assistant did not start within {timeout}s:\n{self.tail()}")
            time.sleep(0.05)
        return run

    def read_progress(self) -> int | None:
        """Events the current run fired so far (None until Home Assistant has started)."""
        try:
            text = (self.config_dir / PROGRESS).read_text()
        except FileNotFoundError:
            return None
        return int(text.split()[0]) if text.strip() else None

    def kill(self) -> float:
        """`kill -9` the process group, as a power cut or the OOM killer would; return when."""
        assert self.process is not None
        self.run.peak_rss_mb = _peak_rss_mb(self.process.pid)
        killed_at = time.time()
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)
        self.process = None
        self.run.progress = self.read_progress() or self.run.first
        return killed_at

    def stop(self) -> None:
        """A graceful stop (SIGTERM, then SIGKILL), for the end of a test."""
        if self.process is None or self.process.poll() is not None:
            return
        self.run.peak_rss_mb = _peak_rss_mb(self.process.pid)
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def tail(self, lines: int = 40) -> str:
        """The end of Home Assistant's log and console output, for failure messages."""
        text = ""
        for name in ("stdout.log", "home-assistant.log"):
            path = self.config_dir / name
            if path.exists():
                last = path.read_text(errors="replace").splitlines()[-lines:]
                text += f"--- {name}\n" + "\n".join(last) + "\n"
        return text

    def spool_has_segments(self) -> bool:
        return any(self.spool_dir.glob("*.seg"))

    def loss(self, run: Run, kept: set[int]) -> Loss:
        """What became of `run`'s events, given every number kept (stored or spooled)."""
        numbers = run.block(kept)
        fired = max(run.progress, numbers[-1] + 1 if numbers else run.first) - run.first
        expected = range(run.first, run.first + len(numbers))
        holes = sorted(set(expected) - set(numbers))
        return Loss(fired=fired, kept=len(numbers), holes=holes)


def stored_numbers(server: InfluxDB1Server, database: str) -> list[int]:
    """The event number of every point stored (one per point: duplicates show as repeats)."""
    result = server.query(f"SELECT num_seq FROM {MEASUREMENT}", database)["results"][0]
    assert "error" not in result, result
    return [int(value) for series in result.get("series", []) for _, value in series["values"]]


def stored_points(server: InfluxDB1Server, database: str) -> set[tuple[str, int]]:
    """(entity_id, timestamp) of every point stored, numbered or not."""
    result = server.query(f"SELECT state FROM {MEASUREMENT} GROUP BY entity_id", database)["results"][0]
    assert "error" not in result, result
    return {
        (series["tags"]["entity_id"], int(time_ns))
        for series in result.get("series", [])
        for time_ns, _ in series["values"]
    }


def fired_at(server: InfluxDB1Server, database: str, number: int) -> float:
    """When event `number` fired (its point's timestamp), epoch seconds."""
    result = server.query(f"SELECT num_seq FROM {MEASUREMENT} WHERE num_seq = {number}", database)
    return int(result["results"][0]["series"][0]["values"][0][0]) / 1e9


def _peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0
