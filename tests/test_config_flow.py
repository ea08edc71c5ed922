"""Config flow: every flavour, every error path, duplicates; against real servers where possible."""

from __future__ import annotations

import json
from pathlib import Path
import re
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import voluptuous as vol
from yarl import URL

from custom_components.influxdb_ingest.config_flow import _SCHEMAS, InfluxDBIngestConfigFlow
from custom_components.influxdb_ingest.const import DEFAULT_DATABASE, DOMAIN, ApiVersion
from custom_components.influxdb_ingest.copy_flow import _SCHEMA as COPY_SCHEMA
from custom_components.influxdb_ingest.history.backfill_job import SourceError
from custom_components.influxdb_ingest.history.influx1_source import InfluxDB1Database
from custom_components.influxdb_ingest.target.check import async_validate_target, device_name, entry_title
from custom_components.influxdb_ingest.target.influx_api import (
    CannotConnect,
    DatabaseLimit,
    DatabaseMissing,
    InfluxClient,
    InfluxError,
    InvalidAuth,
    NoWritePermission,
    OrgNotFound,
    SSLFailure,
    TargetNotFound,
)
from custom_components.influxdb_ingest.target.influx_target import InfluxTarget
from custom_components.influxdb_ingest.target.server_info import ServerInfo

from .support.helpers import v3_entry_data
from .support.servers import ADMIN_PASSWORD, ADMIN_USER, InfluxDB1Server, VictoriaMetricsServer, free_port
from .support.standin_influxdb2 import InfluxDB2StandIn
from .support.standin_influxdb3 import InfluxDB3StandIn


@pytest.fixture(autouse=True)
def no_setup_after_flow() -> Any:
    """The flow is under test here, not the writer it would start."""
    with patch("custom_components.influxdb_ingest.async_setup_entry", return_value=True) as mock:
        yield mock


async def _submit(hass: HomeAssistant, flavour: str, user_input: dict[str, Any]) -> Any:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["v1", "v2", "v3"]
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"next_step_id": flavour})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == flavour
    return await hass.config_entries.flow.async_configure(result["flow_id"], user_input)


async def test_v1_creates_entry_after_proving_write_access(
    hass: HomeAssistant, influxdb_v1: InfluxDB1Server, database: str
) -> None:
    user_input = {
        "url": influxdb_v1.url + "/",
        "database": database,
        "username": ADMIN_USER,
        "password": ADMIN_PASSWORD,
        "verify_ssl": True,
    }
    result = await _submit(hass, "v1", user_input)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    # The server's release from its /ping: two servers on one host differ by port and version.
    assert re.fullmatch(
        rf"{database} @ 127\.0\.0\.1:{URL(influxdb_v1.url).port} · InfluxDB 1\.6\.\S+", result["title"]
    )
    assert result["data"] == {"api_version": "1", **user_input, "url": influxdb_v1.url}
    assert result["result"].unique_id == f"v1|{influxdb_v1.url}|{database}/"


@pytest.mark.parametrize(
    ("credentials", "error"),
    [
        ({"username": ADMIN_USER, "password": "wrong"}, "invalid_auth"),
        ({}, "invalid_auth"),
        ({"username": "reader", "password": "reader-pw"}, "no_write_permission"),
    ],
)
async def test_v1_credential_errors(
    hass: HomeAssistant, influxdb_v1: InfluxDB1Server, database: str, credentials: dict[str, str], error: str
) -> None:
    result = await _submit(hass, "v1", {"url": influxdb_v1.url, "database": database, **credentials})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}
    # The secret typed stays in the form (nobody wants to type it again), and only there.
    if "password" in credentials:
        password = {str(key): key.description for key in result["data_schema"].schema}["password"]
        assert password == {"suggested_value": credentials["password"]}
        assert credentials["password"] not in str(result["description_placeholders"])


async def test_v1_missing_database_is_said_under_its_field_with_the_databases_there(
    hass: HomeAssistant, influxdb_v1: InfluxDB1Server, database: str
) -> None:
    result = await _submit(
        hass,
        "v1",
        {
            "url": influxdb_v1.url,
            "database": "does_not_exist",
            "username": ADMIN_USER,
            "password": ADMIN_PASSWORD,
        },
    )
    # Under the database field, naming it and the databases the server has.
    assert result["errors"] == {"database": "database_not_found"}
    placeholders = result["description_placeholders"]
    assert placeholders["database"] == "does_not_exist"
    assert database in placeholders["databases"].split(", ")
    assert placeholders["url"] == influxdb_v1.url


async def test_v1_missing_retention_policy_is_named_not_cannot_connect(
    hass: HomeAssistant, influxdb_v1: InfluxDB1Server, database: str
) -> None:
    # The real 1.6 answers 500 `retention policy not found: nope` (errors.go).
    result = await _submit(
        hass,
        "v1",
        {
            "url": influxdb_v1.url,
            "database": database,
            "retention_policy": "nope",
            "username": ADMIN_USER,
            "password": ADMIN_PASSWORD,
        },
    )
    assert result["errors"] == {"base": "retention_policy_not_found"}
    assert result["description_placeholders"]["retention_policy"] == "nope"


async def test_cannot_connect_then_recover(
    hass: HomeAssistant, influxdb_v1: InfluxDB1Server, database: str
) -> None:
    user_input = {"url": f"http://127.0.0.1:{free_port()}", "database": database}
    result = await _submit(hass, "v1", user_input)
    assert result["errors"] == {"base": "cannot_connect"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"url": influxdb_v1.url, "database": database, "username": ADMIN_USER, "password": ADMIN_PASSWORD},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_self_signed_certificate_is_an_ssl_error_unless_verification_is_off(
    hass: HomeAssistant, influxdb_v1_tls: InfluxDB1Server
) -> None:
    influxdb_v1_tls.query("CREATE DATABASE tls_db", method="POST")
    result = await _submit(hass, "v1", {"url": influxdb_v1_tls.url, "database": "tls_db", "verify_ssl": True})
    assert result["errors"] == {"base": "ssl_error"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"url": influxdb_v1_tls.url, "database": "tls_db", "verify_ssl": False}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["verify_ssl"] is False


@pytest.mark.parametrize(
    "url", ["localhost:8086", "ftp://127.0.0.1", "http://user:pw@127.0.0.1:8086", "http://"]
)
async def test_invalid_url(hass: HomeAssistant, url: str) -> None:
    result = await _submit(hass, "v1", {"url": url, "database": "db"})
    assert result["errors"] == {"url": "invalid_url"}


async def test_same_target_cannot_be_added_twice(
    hass: HomeAssistant, influxdb_v1: InfluxDB1Server, database: str
) -> None:
    MockConfigEntry(domain=DOMAIN, unique_id=f"v1|{influxdb_v1.url}|{database}/").add_to_hass(hass)
    result = await _submit(hass, "v1", {"url": influxdb_v1.url + "/", "database": database})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_other_retention_policy_is_another_target(
    hass: HomeAssistant, influxdb_v1: InfluxDB1Server, database: str
) -> None:
    MockConfigEntry(domain=DOMAIN, unique_id=f"v1|{influxdb_v1.url}|{database}/").add_to_hass(hass)
    influxdb_v1.query(
        f'CREATE RETENTION POLICY "week" ON "{database}" DURATION 7d REPLICATION 1', method="POST"
    )
    result = await _submit(
        hass,
        "v1",
        {
            "url": influxdb_v1.url,
            "database": database,
            "retention_policy": "week",
            "username": ADMIN_USER,
            "password": ADMIN_PASSWORD,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == f"v1|{influxdb_v1.url}|{database}/week"


async def test_v2_against_real_victoria_metrics(
    hass: HomeAssistant, victoria_metrics: VictoriaMetricsServer
) -> None:
    user_input = {
        "url": victoria_metrics.url,
        "organization": "o",
        "bucket": "b",
        "token": "t",
        "verify_ssl": True,
    }
    result = await _submit(hass, "v2", user_input)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"b @ 127.0.0.1:{URL(victoria_metrics.url).port}"  # names no version
    assert result["result"].unique_id == f"v2|{victoria_metrics.url}|o/b"


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({}, None),
        ({"token": "wrong"}, "invalid_auth"),
        ({"token": "read-only-token"}, "no_write_permission"),
        ({"bucket": "missing"}, "bucket_not_found"),
        ({"bucket": "my-organization-data"}, "bucket_not_found"),  # not an organization missing
        ({"organization": "missing"}, "org_not_found"),
        ({"organization": "00000000000000ff"}, "org_not_found"),
    ],
)
async def test_v2_errors_as_influxdb2_answers_them(
    hass: HomeAssistant, influxdb2: InfluxDB2StandIn, changes: dict[str, str], error: str | None
) -> None:
    user_input = {
        "url": influxdb2.url,
        "organization": "test-org",
        "bucket": "test-bucket",
        "token": "test-token",
        **changes,
    }
    result = await _submit(hass, "v2", user_input)
    if error is None:
        assert result["type"] is FlowResultType.CREATE_ENTRY
    else:
        field = {"bucket_not_found": "bucket", "org_not_found": "organization", "invalid_auth": "token"}.get(
            error, "base"
        )
        assert result["errors"] == {field: error}
        assert "test-token" not in str(result["description_placeholders"])
    assert influxdb2.bodies == []  # the check writes nothing


@pytest.mark.parametrize(("changes", "error"), [({}, None), ({"token": "wrong"}, "invalid_auth")])
async def test_v3_errors(
    hass: HomeAssistant, influxdb3: InfluxDB3StandIn, changes: dict[str, str], error: str | None
) -> None:
    user_input = {"url": influxdb3.url, "database": "home", "token": "test-token", **changes}
    result = await _submit(hass, "v3", user_input)
    if error is None:
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["result"].unique_id == f"v3|{influxdb3.url}|home"
        port = URL(influxdb3.url).port
        assert result["title"] == f"home @ 127.0.0.1:{port} · InfluxDB 3 Core {influxdb3.version}"
    else:
        assert result["errors"] == {"token": error}  # under the field to correct
    assert influxdb3.bodies == []  # the check writes nothing
    assert influxdb3.databases == ["_internal", "home"]  # and creates nothing


async def test_unexpected_answer_is_unknown_and_logged_without_secret(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    with patch(
        "custom_components.influxdb_ingest.target.influx_api.InfluxClient.check_write_access",
        side_effect=RuntimeError("boom"),
    ):
        result = await _submit(
            hass,
            "v2",
            {"url": "http://127.0.0.1:1", "organization": "o", "bucket": "b", "token": "s3cr3t-token"},
        )
    assert result["errors"] == {"base": "unknown"}
    assert "boom" in caplog.text
    assert "s3cr3t-token" not in caplog.text


def test_every_form_suggests_one_database_name_and_the_v3_help_its_own_port() -> None:
    forms = [*_SCHEMAS.values(), COPY_SCHEMA]
    defaults = {
        marker.default()
        for form in forms
        for marker in form.schema
        if str(marker) in ("database", "bucket") and marker.default is not vol.UNDEFINED
    }
    assert defaults == {DEFAULT_DATABASE}
    strings_file = Path(__file__).parent.parent / "custom_components" / DOMAIN / "strings.json"
    strings = json.loads(strings_file.read_text(encoding="utf-8"))
    v3_url = next(marker for marker in _SCHEMAS[ApiVersion.V3].schema if str(marker) == "url").default()
    port = URL(v3_url).port
    assert f":{port}" in strings["config"]["step"]["v3"]["data_description"]["url"]
    assert port == 8181


@pytest.mark.parametrize(
    ("server", "title"),
    [
        (ServerInfo("InfluxDB 3 Core", "3.10.1", "Core"), "home @ nas:8181 · InfluxDB 3 Core 3.10.1"),
        (
            ServerInfo.from_ping({"X-Influxdb-Version": "3.5.0", "X-Influxdb-Build": "Enterprise"}, "{}"),
            "home @ nas:8181 · InfluxDB 3 Enterprise 3.5.0",
        ),
        (ServerInfo.from_ping({"X-Influxdb-Version": "3.5.0"}, "{}"), "home @ nas:8181 · InfluxDB 3.5.0"),
        (
            ServerInfo.from_ping({"X-Influxdb-Version": "v2.7.12", "X-Influxdb-Build": "OSS"}, ""),
            "home @ nas:8181 · InfluxDB 2.7.12",
        ),
        (ServerInfo.from_ping({}, ""), "home @ nas:8181"),  # a proxy, VictoriaMetrics
        (None, "home @ nas:8181"),
    ],
)
def test_the_title_names_the_server_and_the_device_leaves_it_out(
    server: ServerInfo | None, title: str
) -> None:
    target = InfluxTarget.from_config({"api_version": "3", "url": "http://nas:8181", "database": "home"})
    assert entry_title(target, server) == title
    # Entity ids are made from the device's name: a server upgrade must not be baked into them.
    assert device_name(title) == "home @ nas:8181"


class _Refusing:
    """A client whose write check fails with one error of the hierarchy."""

    def __init__(self, error: Exception, api_version: ApiVersion = ApiVersion.V1) -> None:
        self._error = error
        self.target = InfluxTarget.from_config(
            {"api_version": api_version.value, "url": "http://h:8086", "database": "d", "bucket": "b"}
        )

    async def check_write_access(self, timeout: float) -> None:
        raise self._error


@pytest.mark.parametrize(
    ("error", "api_version", "key"),
    [
        (SSLFailure("x"), ApiVersion.V1, "ssl_error"),
        (CannotConnect("x"), ApiVersion.V1, "cannot_connect"),
        (InvalidAuth("x"), ApiVersion.V1, "invalid_auth"),
        (NoWritePermission("x"), ApiVersion.V1, "no_write_permission"),
        (OrgNotFound("x"), ApiVersion.V2, "org_not_found"),
        (DatabaseMissing("x"), ApiVersion.V3, "database_missing"),
        (DatabaseLimit("x"), ApiVersion.V3, "database_limit"),
        (TargetNotFound("x"), ApiVersion.V2, "bucket_not_found"),
        (TargetNotFound("x"), ApiVersion.V3, "database_not_found"),
    ],
)
async def test_each_error_of_the_check_has_its_own_form_error(
    error: Exception, api_version: ApiVersion, key: str
) -> None:
    assert await async_validate_target(_Refusing(error, api_version)) == key  # type: ignore[arg-type]


async def test_a_1x_server_that_will_not_list_databases_still_names_the_missing_one(
    hass: HomeAssistant, influxdb_v1: InfluxDB1Server
) -> None:
    with patch.object(InfluxDB1Database, "async_databases", side_effect=SourceError("no")):
        result = await _submit(
            hass,
            "v1",
            {"url": influxdb_v1.url, "database": "nope", "username": ADMIN_USER, "password": ADMIN_PASSWORD},
        )
    assert result["errors"] == {"database": "database_not_found_unlisted"}
    assert result["description_placeholders"]["database"] == "nope"


async def test_moving_over_without_the_builtin_integration_aborts(hass: HomeAssistant) -> None:
    flow = InfluxDBIngestConfigFlow()
    flow.hass = hass
    result = await flow.async_step_import_builtin()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "builtin_not_configured"


async def _to_create_database(hass: HomeAssistant, server: InfluxDB3StandIn) -> Any:
    result = await _submit(hass, "v3", {"url": server.url, "database": "hoem", "token": "test-token"})
    assert result["step_id"] == "create_database"
    return result


async def test_a_database_that_cannot_be_created_is_said_and_the_step_stays(
    hass: HomeAssistant, influxdb3: InfluxDB3StandIn
) -> None:
    result = await _to_create_database(hass, influxdb3)
    with patch.object(InfluxClient, "create_database", side_effect=InfluxError("refused")):
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "create_database"
    assert result["errors"] == {"base": "cannot_create_database"}
    # Created, but still not there (another tool dropped it meanwhile): said, not an entry.
    with patch.object(InfluxClient, "create_database", return_value=None):
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "create_database"
    assert result["errors"] == {"base": "database_missing"}
    assert influxdb3.databases == ["_internal", "home"]


async def test_reauth_of_a_token_target_asks_for_the_token(
    hass: HomeAssistant, influxdb3: InfluxDB3StandIn
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN, version=2, data={**v3_entry_data(influxdb3.url), "token": "old"}, title="t"
    )
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    assert [str(key) for key in result["data_schema"].schema] == ["token"]
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"token": "wrong"})
    assert result["errors"] == {"base": "invalid_auth"}
    shown = {str(key): (key.description or {}).get("suggested_value") for key in result["data_schema"].schema}
    assert shown == {"token": "wrong"}  # kept to correct, not retyped
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"token": "test-token"})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data["token"] == "test-token"


async def test_reconfigure_onto_a_missing_3x_database_names_it_under_its_field(
    hass: HomeAssistant, influxdb3: InfluxDB3StandIn
) -> None:
    entry = MockConfigEntry(domain=DOMAIN, version=2, data=v3_entry_data(influxdb3.url), title="t")
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"url": influxdb3.url, "database": "hoem", "verify_ssl": True}
    )
    assert result["errors"] == {"database": "database_missing"}
    assert result["description_placeholders"]["database"] == "hoem"
    assert influxdb3.databases == ["_internal", "home"]  # asked, not created
