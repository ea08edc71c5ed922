"""System health: one glance at every target from Settings > System > Repairs > System information."""

from __future__ import annotations

from typing import Any

from homeassistant.components import system_health
from homeassistant.core import HomeAssistant, callback

from .const import DOMAIN
from .health import Connection
from .history.texts import grouped, translated


@callback
def async_register(hass: HomeAssistant, register: system_health.SystemHealthRegistration) -> None:
    """Register the info callback."""
    register.async_register_info(system_health_info)


async def system_health_info(hass: HomeAssistant) -> dict[str, Any]:
    """Per target (by its title): its connection, how writing goes and what waits, in words.

    Home Assistant translates the labels of system information, not the values: the values
    are built here from the connection and writing sensors' translated states.
    """
    info: dict[str, Any] = {}
    for entry in hass.config_entries.async_loaded_entries(DOMAIN):
        writer = entry.runtime_data.writer
        stats = writer.stats
        connection = Connection.of(stats.problem, tried=stats.last_write_time is not None).value
        info[entry.title] = translated(
            hass,
            "system_health",
            "info.target_state",
            connection=translated(hass, "entity", f"sensor.connection.state.{connection}"),
            writing=translated(hass, "entity", f"sensor.circuit_state.state.{writer.policy.state.value}"),
            waiting=grouped(writer.points_waiting),
            on_disk=grouped(writer.spool.points),
        )
    if not info:
        info["targets"] = 0
    return info
