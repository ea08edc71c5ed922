"""Registry metadata (device, area, category, device class) for an entity, in O(1)."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er


@dataclass(frozen=True, slots=True)
class EntityMetadata:
    """What the registries know about an entity that is worth a tag."""

    device_class: str | None = None
    entity_category: str | None = None
    device_id: str | None = None
    area_id: str | None = None


NO_METADATA = EntityMetadata()


class MetadataLookup:
    """Looks entities up in the entity and device registries (both are in-memory dicts)."""

    def __init__(self, hass: HomeAssistant) -> None:
        self._entities = er.async_get(hass)
        self._devices = dr.async_get(hass)

    def __call__(self, entity_id: str) -> EntityMetadata:
        """Metadata for one entity; empty when it is not in the registry."""
        entry = self._entities.async_get(entity_id)
        if entry is None:
            return NO_METADATA
        area_id = entry.area_id
        if area_id is None and entry.device_id is not None:
            device = self._devices.async_get(entry.device_id)
            area_id = device.area_id if device is not None else None
        return EntityMetadata(
            device_class=entry.device_class or entry.original_device_class,
            entity_category=entry.entity_category.value if entry.entity_category else None,
            device_id=entry.device_id,
            area_id=area_id,
        )
