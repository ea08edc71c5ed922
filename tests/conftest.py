"""Fixtures: real InfluxDB 1.x and VictoriaMetrics servers, and Home Assistant helpers."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator
import contextlib
import datetime as dt
import itertools
from pathlib import Path
from typing import Any
from unittest.mock import PropertyMock, patch

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
import pytest_socket
from syrupy.assertion import SnapshotAssertion

from .support.fault_proxy import FaultProxy
from .support.helpers import v1_entry_data
from .support.servers import InfluxDB1Server, VictoriaMetricsServer
from .support.standin3_release import NEWEST
from .support.standin_influxdb2 import InfluxDB2StandIn
from .support.standin_influxdb3 import InfluxDB3StandIn
from .support.standin_query3 import InfluxDB3QueryStandIn

_database_names = itertools.count()


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/influxdb_ingest."""


@pytest.fixture(autouse=True)
def allow_loopback_sockets(socket_enabled: None) -> None:
    """The tests talk to real servers; Home Assistant's plugin still limits them to 127.0.0.1."""


@contextlib.contextmanager
def _sockets_enabled() -> Generator[None]:
    """Session fixtures start before per-test socket permission: open it while they do."""
    pytest_socket.enable_socket()
    try:
        yield
    finally:
        pytest_socket.disable_socket(allow_unix_socket=True)


@pytest.fixture(scope="session")
def influxdb_v1(tmp_path_factory: pytest.TempPathFactory) -> Generator[InfluxDB1Server]:
    """A real InfluxDB 1.6 with authentication enabled, shared by the session."""
    with _sockets_enabled():
        server = InfluxDB1Server(tmp_path_factory.mktemp("influxdb1"))
        server.start()
        server.query("CREATE USER reader WITH PASSWORD 'reader-pw'", method="POST")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def influxdb_v1_tls(tmp_path_factory: pytest.TempPathFactory) -> Generator[InfluxDB1Server]:
    """A real InfluxDB 1.6 serving HTTPS with a self-signed certificate, no auth."""
    workdir = tmp_path_factory.mktemp("influxdb1-tls")
    cert, key = _self_signed_certificate(workdir)
    with _sockets_enabled():
        server = InfluxDB1Server(workdir, auth=False, tls_cert=cert, tls_key=key)
        server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def victoria_metrics(tmp_path_factory: pytest.TempPathFactory) -> Generator[VictoriaMetricsServer]:
    """A real VictoriaMetrics (InfluxDB v2 write API), shared by the session."""
    with _sockets_enabled():
        server = VictoriaMetricsServer(tmp_path_factory.mktemp("victoria-metrics"))
        server.start()
    yield server
    server.stop()


@pytest.fixture
async def influxdb2(hass: HomeAssistant) -> AsyncGenerator[InfluxDB2StandIn]:
    """The InfluxDB 2.x stand-in (tests/support/standin_influxdb2.py) on a free loopback port."""
    server = InfluxDB2StandIn()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def influxdb3_release() -> str:
    """The InfluxDB 3 release the stand-in answers as: the newest modelled one.

    A test module overrides this fixture to pin a release or to run at several
    (tests/test_influxdb3.py runs at the oldest and the newest).
    """
    return NEWEST


@pytest.fixture
async def influxdb3_empty(hass: HomeAssistant, influxdb3_release: str) -> AsyncGenerator[InfluxDB3StandIn]:
    """The InfluxDB 3 Core stand-in (tests/support/standin_influxdb3.py), no database yet."""
    server = InfluxDB3StandIn(release=influxdb3_release)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def influxdb3(influxdb3_empty: InfluxDB3StandIn) -> InfluxDB3StandIn:
    """The InfluxDB 3 Core stand-in with the database `home`."""
    influxdb3_empty.store.databases["home"] = {}
    return influxdb3_empty


@pytest.fixture
async def influxdb3_sql(hass: HomeAssistant) -> AsyncGenerator[InfluxDB3QueryStandIn]:
    """The InfluxDB 3 stand-in with the database `home`, answering SQL (tests/support/standin_query3.py)."""
    server = InfluxDB3QueryStandIn()
    server.store.databases["home"] = {}
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def fault_proxy(hass: HomeAssistant, influxdb_v1: InfluxDB1Server) -> AsyncGenerator[FaultProxy]:
    """A FaultProxy (tests/support/fault_proxy.py) in front of the real InfluxDB 1.x."""
    proxy = FaultProxy(upstream=influxdb_v1.url)
    await proxy.start()
    yield proxy
    await proxy.stop()


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshots that leave out what changes between runs (ids, creation times)."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


@pytest.fixture
def entity_registry_enabled_by_default() -> Generator[None]:
    """Create entities enabled even when they are disabled by default (for snapshots)."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        return_value=True,
        new_callable=PropertyMock,
    ):
        yield


@pytest.fixture
def hass_config_dir(hass_tmp_config_dir: str) -> str:
    """Each test's Home Assistant gets its own config dir (the spool lives there)."""
    return hass_tmp_config_dir


@pytest.fixture
def database(influxdb_v1: InfluxDB1Server) -> str:
    """A fresh, empty database on the real InfluxDB 1.x for one test."""
    name = f"test_db_{next(_database_names)}"
    influxdb_v1.query(f'CREATE DATABASE "{name}"', method="POST")
    influxdb_v1.query(f'GRANT READ ON "{name}" TO reader', method="POST")
    return name


@pytest.fixture
def v1_config(influxdb_v1: InfluxDB1Server, database: str) -> dict[str, Any]:
    """Config entry data for the real InfluxDB 1.x and the test's database."""
    return v1_entry_data(influxdb_v1.url, database)


@pytest.fixture
def query(hass: HomeAssistant, influxdb_v1: InfluxDB1Server) -> Callable[..., Any]:
    """Run InfluxQL on the real server without blocking Home Assistant's loop."""

    async def _query(q: str, db: str) -> list[dict[str, Any]]:
        result = await hass.async_add_executor_job(influxdb_v1.query, q, db)
        statement = result["results"][0]
        assert "error" not in statement, statement
        rows: list[dict[str, Any]] = []
        for series in statement.get("series", []):
            tags = series.get("tags", {})
            rows.extend(
                {**tags, **dict(zip(series["columns"], values, strict=True))} for values in series["values"]
            )
        return rows

    return _query


def _self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path
