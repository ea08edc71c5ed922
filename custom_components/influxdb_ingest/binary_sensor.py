"""Connectivity: can the target be written to right now."""

from __future__ import annotations

from homeassistant.components.binary_sensor import BinarySensorEntity, BinarySensorEntityDescription
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .data import InfluxDBIngestConfigEntry
from .entity import IngestEntity

PARALLEL_UPDATES = 0

CONNECTIVITY = BinarySensorEntityDescription(
    key="connected",
    translation_key="connected",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: InfluxDBIngestConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One connectivity sensor per entry."""
    async_add_entities([IngestConnectivity(entry.runtime_data.coordinator, CONNECTIVITY)])


class IngestConnectivity(IngestEntity, BinarySensorEntity):
    """On while the last write attempt succeeded."""

    @property
    def is_on(self) -> bool:
        """Whether the target accepts writes."""
        return self.coordinator.data.connected
