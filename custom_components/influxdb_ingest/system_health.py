"""System health: one glance at every target from Settings > System > Repairs > System information."""

from __future__ import annotations

from typing import Any

from homeassistant.components import system_health
from homeassistant.core import HomeAssistant, callback

from .const import DOMAIN


@callback
def async_register(hass: HomeAssistant, register: system_health.SystemHealthRegistration) -> None:
    """Register the info callback."""
    register.async_register_info(system_health_info)


async def system_health_info(hass: HomeAssistant) -> dict[str, Any]:
    """Per target: its state and what waits."""
    info: dict[str, Any] = {}
    for entry in hass.config_entries.async_loaded_entries(DOMAIN):
        writer = entry.runtime_data.writer
        info[entry.title] = (
            f"{writer.stats.problem or 'ok'}, circuit {writer.policy.state.value},"
            f" {writer.points_waiting} points waiting ({writer.spool.points} on disk)"
        )
    if not info:
        info["targets"] = 0
    return info
