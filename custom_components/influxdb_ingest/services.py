"""Service actions: flush now; import history (backfill) and cancel it; run a read-only query."""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Any

from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util
from homeassistant.util.json import JsonValueType
import voluptuous as vol

from .const import DOMAIN
from .history.backfill import STATISTICS_YEARS, recorder_loaded
from .history.backfill_job import NS, BackfillJob, SourceKind
from .query.client import MAX_ROW_LIMIT, QueryError, QueryRefused, QueryUnsupported
from .query.statement import Language
from .target.influx_api import InfluxError

if TYPE_CHECKING:
    from .data import InfluxDBIngestConfigEntry

SERVICE_FLUSH = "flush"
SERVICE_BACKFILL = "backfill"
SERVICE_CANCEL_BACKFILL = "cancel_backfill"
SERVICE_QUERY = "query"
ATTR_CONFIG_ENTRY_ID = "config_entry_id"

# Typed as Any: Home Assistant swaps voluptuous for probatio at run time.
_FLUSH_SCHEMA: Any = vol.Schema({vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string})
_BACKFILL_SCHEMA: Any = vol.Schema(
    {
        vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Optional("source", default=SourceKind.STATES.value): vol.In(
            [SourceKind.STATES.value, SourceKind.STATISTICS.value]
        ),
        vol.Optional("entity_id"): cv.entity_ids,
        vol.Optional("days"): vol.All(vol.Coerce(float), vol.Range(min=0, min_included=False)),
        vol.Optional("start"): cv.datetime,
        vol.Optional("end"): cv.datetime,
    }
)
_QUERY_SCHEMA: Any = vol.Schema(
    {
        vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Required("query"): cv.string,
        vol.Optional("language"): vol.In([language.value for language in Language]),
        vol.Optional("limit", default=100): vol.All(vol.Coerce(int), vol.Range(min=1, max=MAX_ROW_LIMIT)),
    }
)


def _loaded_entries(hass: HomeAssistant, call: ServiceCall) -> list[InfluxDBIngestConfigEntry]:
    entries: list[InfluxDBIngestConfigEntry] = hass.config_entries.async_loaded_entries(DOMAIN)
    if (entry_id := call.data.get(ATTR_CONFIG_ENTRY_ID)) is None:
        return entries
    chosen = [entry for entry in entries if entry.entry_id == entry_id]
    if not chosen:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_loaded",
            translation_placeholders={"entry_id": entry_id},
        )
    return chosen


async def _async_flush(call: ServiceCall) -> ServiceResponse:
    """Write everything queued now, for one entry or all; return what each wrote."""
    results: dict[str, JsonValueType] = {}
    for entry in _loaded_entries(call.hass, call):
        writer = entry.runtime_data.writer
        written_before = writer.stats.points_written
        try:
            await writer.async_flush()
        except InfluxError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="flush_failed",
                translation_placeholders={"title": entry.title, "error": str(err)},
            ) from err
        results[entry.entry_id] = {
            "title": entry.title,
            "points_written": writer.stats.points_written - written_before,
            "points_waiting": writer.points_waiting,
        }
        await entry.runtime_data.coordinator.async_request_refresh()
    return {"entries": results}


def _backfill_job(call: ServiceCall) -> BackfillJob:
    """The job an action asks for; the range defaults to what the recorder keeps."""
    hass = call.hass
    if not recorder_loaded(hass):
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="recorder_not_loaded")
    kind = SourceKind(call.data["source"])
    end: dt.datetime | None = call.data.get("end")
    end_ns = _ns(end) if end is not None else time.time_ns()
    if (start := call.data.get("start")) is not None:
        start_ns = _ns(start)
    else:
        if (days := call.data.get("days")) is None:
            days = get_instance(hass).keep_days if kind is SourceKind.STATES else STATISTICS_YEARS * 365
        start_ns = end_ns - int(days * 86_400 * NS)
    if start_ns >= end_ns:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="backfill_empty_range")
    return BackfillJob(kind, start_ns, end_ns, entity_ids=call.data.get("entity_id") or None)


def _ns(moment: dt.datetime) -> int:
    """A datetime (naive: Home Assistant's time zone) as epoch nanoseconds."""
    return int(dt_util.as_utc(moment).timestamp() * 1_000_000) * 1000


async def _async_backfill(call: ServiceCall) -> ServiceResponse:
    """Queue a backfill for one entry or all; return how many jobs run before it."""
    job = _backfill_job(call)
    results: dict[str, JsonValueType] = {}
    for entry in _loaded_entries(call.hass, call):
        ahead = entry.runtime_data.backfill.enqueue(BackfillJob.from_dict(job.as_dict()))
        results[entry.entry_id] = {"title": entry.title, "jobs_ahead": ahead}
    return {"entries": results}


async def _async_cancel_backfill(call: ServiceCall) -> ServiceResponse:
    """Cancel the running backfill and drop the queued ones, for one entry or all."""
    results: dict[str, JsonValueType] = {}
    for entry in _loaded_entries(call.hass, call):
        cancelled = await entry.runtime_data.backfill.async_cancel()
        results[entry.entry_id] = {"title": entry.title, "cancelled": cancelled}
    return {"entries": results}


async def _async_query(call: ServiceCall) -> ServiceResponse:
    """Run one read-only query against an entry's target; its rows, capped."""
    (entry,) = _loaded_entries(call.hass, call)
    queries = entry.runtime_data.queries
    language = Language(call.data.get("language") or queries.languages[0])
    try:
        result = await queries.run(language, call.data["query"], limit=call.data["limit"])
    except (QueryRefused, QueryUnsupported) as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="query_refused",
            translation_placeholders={"error": str(err)},
        ) from err
    except QueryError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="query_failed",
            translation_placeholders={"title": entry.title, "error": str(err)},
        ) from err
    rows: list[JsonValueType] = list(result.rows.rows)
    return {
        "language": language.value,
        "columns": list(result.rows.columns),
        "rows": rows,
        "row_count": len(rows),
        "truncated": result.rows.truncated,
        "duration_ms": round(result.duration_ms, 1),
    }


@callback
def async_register_services(hass: HomeAssistant) -> None:
    """Register the integration's service actions."""
    hass.services.async_register(
        DOMAIN, SERVICE_FLUSH, _async_flush, schema=_FLUSH_SCHEMA, supports_response=SupportsResponse.OPTIONAL
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_BACKFILL,
        _async_backfill,
        schema=_BACKFILL_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_CANCEL_BACKFILL,
        _async_cancel_backfill,
        schema=_FLUSH_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN, SERVICE_QUERY, _async_query, schema=_QUERY_SCHEMA, supports_response=SupportsResponse.ONLY
    )
