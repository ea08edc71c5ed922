"""Diagnostics download: configuration, counters, recent errors, spool and circuit state.

Also the lines a few entities' current states produce (preview.py: none whose attributes
can hold a token or a location).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_PASSWORD, CONF_TOKEN, CONF_URL, CONF_USERNAME
from homeassistant.core import HomeAssistant
from yarl import URL

from .data import InfluxDBIngestConfigEntry
from .health import snapshot_as_dict, take_snapshot
from .pipeline.preview import LinePreview

TO_REDACT = {CONF_PASSWORD, CONF_TOKEN, CONF_USERNAME}


def _safe_url(url: str) -> str:
    """The URL without any credentials in it."""
    parsed = URL(url)
    return str(parsed.with_user(None)) if parsed.user or parsed.password else url


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: InfluxDBIngestConfigEntry
) -> dict[str, Any]:
    """What a maintainer needs to understand a report, with every secret redacted."""
    writer = entry.runtime_data.writer
    coordinator = entry.runtime_data.coordinator
    data = async_redact_data(dict(entry.data), TO_REDACT)
    data[CONF_URL] = _safe_url(str(entry.data.get(CONF_URL, "")))
    settings = asdict(writer.settings)
    settings["ignore_attributes"] = sorted(settings["ignore_attributes"])
    if settings["include_attributes"] is not None:
        settings["include_attributes"] = sorted(settings["include_attributes"])
    return {
        "entry": {
            "title": entry.title,
            "data": data,
            "options": async_redact_data(dict(entry.options), TO_REDACT),
        },
        "settings": settings,
        "health": snapshot_as_dict(
            take_snapshot(
                writer,
                coordinator.data.event_rate,
                dead_letters_on_disk=coordinator.data.dead_letters_on_disk,
            )
        ),
        "server": server.as_dict() if (server := writer.delivery.client.server) else None,
        "recent_errors": list(writer.stats.recent_errors),
        "circuit": {
            "state": writer.policy.state.value,
            "consecutive_failures": writer.policy.consecutive_failures,
            "times_opened": writer.policy.times_opened,
        },
        "spool": {
            "directory": str(writer.spool.directory),
            "records": len(writer.spool),
            "points": writer.spool.points,
            "bytes": writer.spool.size_bytes,
            "torn_records_at_start": writer.stats.spool_torn_records,
            # Since the entry loaded: what the spool cost the disk (SD cards wear).
            "syncs": writer.spool.syncs,
            "bytes_written": writer.spool.bytes_written,
            "dead_letter_file": str(writer.dead_letter_path),
        },
        "learned_server_types": {
            measurement: {field: kind for field, (kind, _) in fields.items()}
            for measurement, fields in writer.delivery.healer.server_types.items()
        },
        "columns": writer.columns.as_dict(),
        "stats": writer.stats.as_dict(),
        "sample_lines": LinePreview(hass, entry.options).samples(),
        "backfill": entry.runtime_data.backfill.as_diagnostics(),
        # The query as run, never the connection: credentials live in entry data, redacted above.
        "query_sensors": {
            subentry_id: asdict(status) for subentry_id, status in entry.runtime_data.query_sensors.items()
        },
    }
