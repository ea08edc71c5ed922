"""Fixtures of the browser tests: a real InfluxDB 1.x, Home Assistant and Chromium.

Each fixture hands over its server or browser not yet started (the test starts them in the
order a person would) and stops whatever it started at the end, also after a failure.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
import socket

import pytest

from ..support.servers import InfluxDB1Server
from .chromium import Chromium
from .home_assistant import HomeAssistantProcess


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """No-op override of tests/conftest.py's fixture, which would create the in-process `hass`.

    Home Assistant runs as a subprocess here, with custom_components linked into its config
    directory; an in-process instance would only be started and checked for nothing.
    """


def _port_or_free(port: int) -> int:
    """`port` when nobody listens there (stable URLs in the screenshots), else a free one."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def influxdb(tmp_path: Path) -> Generator[InfluxDB1Server]:
    """A real InfluxDB 1.x without authentication, as a first-time user would run it."""
    server = InfluxDB1Server(tmp_path / "influxdb", auth=False, port=_port_or_free(8086))
    yield server
    server.stop()


@pytest.fixture
def home_assistant(tmp_path: Path) -> Generator[HomeAssistantProcess]:
    """A real Home Assistant (subprocess) with a fresh config directory."""
    process = HomeAssistantProcess(tmp_path / "config")
    yield process
    process.stop()


@pytest.fixture
def chromium(tmp_path: Path) -> Generator[Chromium]:
    """Debian's headless Chromium with a fresh profile."""
    browser = Chromium(tmp_path / "chromium")
    yield browser
    browser.quit()
