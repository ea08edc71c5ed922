"""Service actions: flush now."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.util.json import JsonValueType
import voluptuous as vol

from .const import DOMAIN
from .influx_api import InfluxError

if TYPE_CHECKING:
    from .data import InfluxDBIngestConfigEntry

SERVICE_FLUSH = "flush"
ATTR_CONFIG_ENTRY_ID = "config_entry_id"

# Typed as Any: Home Assistant swaps voluptuous for probatio at run time.
_FLUSH_SCHEMA: Any = vol.Schema({vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string})


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


@callback
def async_register_services(hass: HomeAssistant) -> None:
    """Register the integration's service actions."""
    hass.services.async_register(
        DOMAIN, SERVICE_FLUSH, _async_flush, schema=_FLUSH_SCHEMA, supports_response=SupportsResponse.OPTIONAL
    )
