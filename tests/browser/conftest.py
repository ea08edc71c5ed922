"""Fixtures of the browser tests: a real InfluxDB 1.x, the 2.x/3.x stand-ins, Home Assistant, Chromium.

Each fixture hands over its server or browser not yet started (the test starts them in the
order a person would) and stops whatever it started at the end, also after a failure.
"""

from __future__ import annotations

from collections.abc import Generator
import os
from pathlib import Path
import socket

import pytest

from ..support.servers import InfluxDB1Server
from ..support.standin_influxdb2 import InfluxDB2StandIn
from ..support.standin_influxdb3 import InfluxDB3StandIn
from .chromium import Chromium
from .home_assistant import HomeAssistantProcess
from .standin_thread import StandInThread


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """No-op override of tests/conftest.py's fixture, which would create the in-process `hass`.

    Home Assistant runs as a subprocess here, with custom_components linked into its config
    directory; an in-process instance would only be started and checked for nothing.
    """


def _port_or_free(port: int) -> int:
    """For the docs' screenshots, `port` when nobody listens there (stable URLs in them); else a
    free one. Only then: test runs side by side on one machine would race for `port`, and the
    loser's InfluxDB would fail to bind while its test talked to the winner's."""
    if os.environ.get("INFLUXDB_INGEST_SCREENSHOTS") != "1":
        port = 0
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
def influxdb2() -> Generator[StandInThread[InfluxDB2StandIn]]:
    """The InfluxDB 2.x stand-in (org test-org, bucket test-bucket, token test-token), not started."""
    server = StandInThread(InfluxDB2StandIn())
    yield server
    server.stop()


@pytest.fixture
def influxdb3() -> Generator[StandInThread[InfluxDB3StandIn]]:
    """The InfluxDB 3 Core stand-in (token test-token, no database yet), not started."""
    server = StandInThread(InfluxDB3StandIn())
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
