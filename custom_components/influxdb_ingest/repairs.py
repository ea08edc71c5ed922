"""Repair issues, only where the user can act; each clears itself once resolved."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN

if TYPE_CHECKING:
    from .coordinator import HealthSnapshot
    from .data import InfluxDBIngestConfigEntry
    from .writer import BatchWriter

# Warn when the spool has used this share of its size budget.
SPOOL_WARNING_SHARE = 0.8


def _set_issue(
    hass: HomeAssistant,
    entry: InfluxDBIngestConfigEntry,
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


async def async_update_issues(
    hass: HomeAssistant, entry: InfluxDBIngestConfigEntry, writer: BatchWriter, snapshot: HealthSnapshot
) -> None:
    """Raise or clear each issue from the current health."""
    if snapshot.problem == "auth":
        entry.async_start_reauth(hass)  # no-op while a reauth flow is already open
    for key, problem in (("auth_failed", "auth"), ("target_not_found", "not_found")):
        _set_issue(
            hass,
            entry,
            key,
            active=snapshot.problem == problem,
            severity=ir.IssueSeverity.ERROR,
            placeholders={},
        )
    budget = writer.settings.spool_max_bytes
    _set_issue(
        hass,
        entry,
        "spool_near_budget",
        active=snapshot.spool_bytes >= budget * SPOOL_WARNING_SHARE,
        severity=ir.IssueSeverity.WARNING,
        placeholders={
            "used_mb": f"{snapshot.spool_bytes / 2**20:.1f}",
            "budget_mb": f"{budget / 2**20:.1f}",
            "waiting": str(snapshot.points_in_spool),
        },
    )
    path = writer.dead_letter_path
    has_dead_letters = await hass.async_add_executor_job(path.exists)
    _set_issue(
        hass,
        entry,
        "dead_letters",
        active=has_dead_letters,
        severity=ir.IssueSeverity.WARNING,
        placeholders={"path": str(path), "count": str(snapshot.points_dead_lettered)},
    )
