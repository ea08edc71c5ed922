"""Repair issues, only where the user can act; each clears itself once resolved.

Fed plain values (a health snapshot, the entry's settings), so it depends on nothing of
the writer. Also Home Assistant's repairs platform: the one fixable issue's fix flow.
"""

from __future__ import annotations

from collections.abc import Mapping
import logging
from pathlib import Path
from typing import Any

from homeassistant.components.repairs import RepairsFlow, RepairsFlowResult
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
import voluptuous as vol

from .const import (
    CONF_API_VERSION,
    CONF_BUCKET,
    CONF_DATABASE,
    CONF_ORG,
    DOMAIN,
    VALIDATE_TIMEOUT,
    ApiVersion,
)
from .health import HealthSnapshot
from .pipeline.settings import WriterSettings
from .pipeline.stats import Problem
from .target.influx_api import DatabaseLimit, InfluxClient, InfluxError
from .target.influx_target import InfluxTarget

_LOGGER = logging.getLogger(__name__)

# Warn when the spool has used this share of its size budget.
SPOOL_WARNING_SHARE = 0.8
# Attribute keys named in the column budget issue (diagnostics list them all).
_KEYS_SHOWN = 20

# The built-in compatible layout on InfluxDB 3, where a table per entity meets the
# server's table limit (2000 in InfluxDB 3 Core): every unitless entity names its own
# table (fixable: a default measurement), or every entity does (measurement: entity id).
TABLE_PER_UNITLESS_ENTITY = "builtin_table_per_unitless_entity"
TABLE_PER_ENTITY = "builtin_table_per_entity"
# The default measurement the fix sets: the name built-in integration setups commonly use.
FIX_DEFAULT_MEASUREMENT = "state"
TARGET_NOT_FOUND = "target_not_found"


def missing_target_placeholders(data: Mapping[str, Any]) -> dict[str, str]:
    """The database (or bucket) an entry writes to, where, and the command that creates it."""
    api_version = ApiVersion(data[CONF_API_VERSION])
    name = str(data.get(CONF_BUCKET if api_version is ApiVersion.V2 else CONF_DATABASE, ""))
    match api_version:
        case ApiVersion.V1:
            command = 'CREATE DATABASE "{}"'.format(name.replace("\\", "\\\\").replace('"', '\\"'))
        case ApiVersion.V2:
            command = f'influx bucket create --name "{name}" --org "{data.get(CONF_ORG, "")}"'
        case ApiVersion.V3:
            command = f'influxdb3 create database "{name}"'
    return {"database": name, "url": str(data.get("url", "")), "command": command}


def _set_issue(
    hass: HomeAssistant,
    entry: ConfigEntry[Any],
    key: str,
    *,
    active: bool,
    severity: ir.IssueSeverity,
    placeholders: dict[str, str],
    fixable: bool = False,
) -> None:
    issue_id = f"{key}_{entry.entry_id}"
    if active:
        ir.async_create_issue(
            hass,
            DOMAIN,
            issue_id,
            is_fixable=fixable,
            data={"entry_id": entry.entry_id} if fixable else None,
            severity=severity,
            translation_key=key,
            translation_placeholders={"title": entry.title, **placeholders},
        )
    else:
        ir.async_delete_issue(hass, DOMAIN, issue_id)


@callback
def async_update_issues(
    hass: HomeAssistant,
    entry: ConfigEntry[Any],
    health: HealthSnapshot,
    *,
    spool_budget: int,
    column_budget: int | None,
    dead_letter_path: Path,
) -> None:
    """Raise or clear each issue from the current health."""
    if health.problem is Problem.AUTH:
        entry.async_start_reauth(hass)  # no-op while a reauth flow is already open
    _set_issue(
        hass,
        entry,
        "auth_failed",
        active=health.problem is Problem.AUTH,
        severity=ir.IssueSeverity.ERROR,
        placeholders={},
    )
    _set_issue(
        hass,
        entry,
        TARGET_NOT_FOUND,
        active=health.problem is Problem.NOT_FOUND,
        severity=ir.IssueSeverity.ERROR,
        placeholders=missing_target_placeholders(entry.data),
        fixable=True,
    )
    _set_issue(
        hass,
        entry,
        "spool_near_budget",
        active=health.spool_bytes >= spool_budget * SPOOL_WARNING_SHARE,
        severity=ir.IssueSeverity.WARNING,
        placeholders={
            "used_mb": f"{health.spool_bytes / 2**20:.1f}",
            "budget_mb": f"{spool_budget / 2**20:.1f}",
            "waiting": str(health.points_in_spool),
        },
    )
    _set_issue(
        hass,
        entry,
        "server_limit",
        active=health.limit_refusal is not None,
        severity=ir.IssueSeverity.ERROR,
        placeholders={"message": health.limit_refusal or ""},
    )
    overflowed = health.overflowed_attributes
    _set_issue(
        hass,
        entry,
        "column_budget",
        active=bool(overflowed),
        severity=ir.IssueSeverity.WARNING,
        placeholders={
            "tables": ", ".join(sorted(overflowed)),
            "keys": ", ".join(sorted({key for keys in overflowed.values() for key in keys})[:_KEYS_SHOWN]),
            "budget": str(column_budget),
        },
    )
    _set_issue(
        hass,
        entry,
        "dead_letters",
        active=health.dead_letters_on_disk,
        severity=ir.IssueSeverity.WARNING,
        placeholders={"path": str(dead_letter_path), "count": str(health.points_dead_lettered)},
    )


def table_per_entity_issue(api_version: str | None, settings: WriterSettings) -> str | None:
    """The issue an entry deserves when its layout makes one InfluxDB 3 table per entity."""
    if api_version != ApiVersion.V3 or settings.layout != "builtin" or settings.override_measurement:
        return None
    if settings.measurement_attr == "entity_id":
        return TABLE_PER_ENTITY
    if settings.measurement_attr == "unit_of_measurement" and not settings.default_measurement:
        return TABLE_PER_UNITLESS_ENTITY
    return None  # domain and device class: a bounded set of tables


@callback
def async_update_layout_issue(hass: HomeAssistant, entry: ConfigEntry[Any], settings: WriterSettings) -> None:
    """Raise or clear the table-per-entity warning for the entry's current options."""
    found = table_per_entity_issue(entry.data.get(CONF_API_VERSION), settings)
    for key in (TABLE_PER_UNITLESS_ENTITY, TABLE_PER_ENTITY):
        _set_issue(
            hass,
            entry,
            key,
            active=key == found,
            severity=ir.IssueSeverity.WARNING,
            placeholders={"measurement": FIX_DEFAULT_MEASUREMENT},
            fixable=key == TABLE_PER_UNITLESS_ENTITY,
        )


@callback
def async_delete_layout_issue(hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
    """A removed entry's options no longer matter."""
    for key in (TABLE_PER_UNITLESS_ENTITY, TABLE_PER_ENTITY):
        ir.async_delete_issue(hass, DOMAIN, f"{key}_{entry.entry_id}")


class DefaultMeasurementFlow(RepairsFlow):
    """Set the default measurement, so unitless entities share one table."""

    def __init__(self, entry_id: str) -> None:
        self._entry_id = entry_id

    async def async_step_init(self, user_input: dict[str, str] | None = None) -> RepairsFlowResult:
        """Ask first: existing dashboards query the old tables."""
        return await self.async_step_confirm()

    async def async_step_confirm(self, user_input: dict[str, str] | None = None) -> RepairsFlowResult:
        """On confirmation, set the option and reload the entry (which clears the issue)."""
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        if entry is None:
            return self.async_abort(reason="entry_removed")
        if user_input is not None:
            options = {**entry.options, "default_measurement": FIX_DEFAULT_MEASUREMENT}
            self.hass.config_entries.async_update_entry(entry, options=options)
            self.hass.config_entries.async_schedule_reload(entry.entry_id)
            return self.async_create_entry(data={})
        schema: Any = vol.Schema({})  # Home Assistant swaps voluptuous for probatio at run time
        return self.async_show_form(
            step_id="confirm",
            data_schema=schema,
            description_placeholders={"title": entry.title, "measurement": FIX_DEFAULT_MEASUREMENT},
        )


class MissingDatabaseFlow(RepairsFlow):
    """Create the missing database where the server lets us, or say how to point the entry elsewhere."""

    def __init__(self, entry_id: str) -> None:
        self._entry_id = entry_id

    async def async_step_init(self, user_input: dict[str, str] | None = None) -> RepairsFlowResult:
        """Create it (1.x, 3.x: the API can), or reconfigure the entry."""
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        if entry is None:
            return self.async_abort(reason="entry_removed")
        placeholders = {"title": entry.title, **missing_target_placeholders(entry.data)}
        if ApiVersion(entry.data[CONF_API_VERSION]) is ApiVersion.V2:
            # Creating a bucket needs the organization's id and an all-access token.
            return self.async_abort(reason="reconfigure", description_placeholders=placeholders)
        return self.async_show_menu(
            step_id="init",
            menu_options=["create_database", "reconfigure"],
            description_placeholders=placeholders,
        )

    async def async_step_create_database(self, user_input: dict[str, str] | None = None) -> RepairsFlowResult:
        """Ask, then create the database with the entry's credentials."""
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        if entry is None:
            return self.async_abort(reason="entry_removed")
        placeholders = {"title": entry.title, **missing_target_placeholders(entry.data)}
        errors: dict[str, str] = {}
        if user_input is not None:
            target = InfluxTarget.from_config(entry.data)
            session = async_get_clientsession(self.hass, verify_ssl=target.verify_ssl)
            try:
                await InfluxClient(session, target).create_database(VALIDATE_TIMEOUT)
            except DatabaseLimit:
                errors["base"] = "database_limit"
            except InfluxError as err:
                _LOGGER.warning("Cannot create database %s on %s: %s", target.database, target.url, err)
                errors["base"] = "cannot_create_database"
            else:
                # Writing resumes with the next retry; the issue clears on its first success.
                return self.async_create_entry(data={})
        schema: Any = vol.Schema({})  # Home Assistant swaps voluptuous for probatio at run time
        return self.async_show_form(
            step_id="create_database",
            data_schema=schema,
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_reconfigure(self, user_input: dict[str, str] | None = None) -> RepairsFlowResult:
        """A repair flow cannot open the entry's reconfigure flow: say where it is."""
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        if entry is None:
            return self.async_abort(reason="entry_removed")
        placeholders = {"title": entry.title, **missing_target_placeholders(entry.data)}
        return self.async_abort(reason="reconfigure", description_placeholders=placeholders)


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """The fix flow of a fixable issue: the missing database, or the default measurement."""
    entry_id = str((data or {})["entry_id"])
    if issue_id.startswith(TARGET_NOT_FOUND):
        return MissingDatabaseFlow(entry_id)
    return DefaultMeasurementFlow(entry_id)
