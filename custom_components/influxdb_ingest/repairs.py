"""Repair issues, only where the user can act; each clears itself once resolved.

Fed plain values from a health snapshot, so it depends on nothing of the writer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN
from .health import HealthSnapshot
from .stats import Problem

# Warn when the spool has used this share of its size budget.
SPOOL_WARNING_SHARE = 0.8
# Attribute keys named in the column budget issue (diagnostics list them all).
_KEYS_SHOWN = 20


def _set_issue(
    hass: HomeAssistant,
    entry: ConfigEntry[Any],
    key: str,
    *,
    active: bool,
    severity: ir.IssueSeverity,
    placeholders: dict[str, str],
) -> None:
    issue_id = f"{key}_{entry.entry_id}"
    if active:
        ir.async_create_issue(
            hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
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
    for key, problem in (("auth_failed", Problem.AUTH), ("target_not_found", Problem.NOT_FOUND)):
        _set_issue(
            hass,
            entry,
            key,
            active=health.problem is problem,
            severity=ir.IssueSeverity.ERROR,
            placeholders={},
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
