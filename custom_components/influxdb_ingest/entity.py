"""The base entity: one service device per config entry, named after its target."""

from __future__ import annotations

from homeassistant.const import EntityCategory
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN
from .coordinator import IngestCoordinator
from .target.check import device_name


class IngestEntity(CoordinatorEntity[IngestCoordinator]):
    """A diagnostic entity of one InfluxDB Ingest target."""

    _attr_has_entity_name = True
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    def __init__(self, coordinator: IngestCoordinator, description: EntityDescription) -> None:
        super().__init__(coordinator)
        entry = coordinator.config_entry
        self.entity_description = description
        self._attr_unique_id = f"{entry.entry_id}_{description.key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, entry.entry_id)},
            name=device_name(entry.title),
            manufacturer="InfluxDB Ingest",
            model=f"InfluxDB {entry.data['api_version']}.x",
            entry_type=DeviceEntryType.SERVICE,
        )
