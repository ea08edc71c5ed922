"""Registry metadata for an entity (device, area, floor, labels...), cached and kept live.

The cache is cleared whenever any registry changes (entity, device, area, floor, label
updated events), so the next point carries the new area or name without polling and
without a restart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers import (
    area_registry as ar,
    device_registry as dr,
    entity_registry as er,
    floor_registry as fr,
    label_registry as lr,
)

_REGISTRY_EVENTS = (
    er.EVENT_ENTITY_REGISTRY_UPDATED,
    dr.EVENT_DEVICE_REGISTRY_UPDATED,
    ar.EVENT_AREA_REGISTRY_UPDATED,
    fr.EVENT_FLOOR_REGISTRY_UPDATED,
    lr.EVENT_LABEL_REGISTRY_UPDATED,
)


@dataclass(frozen=True, slots=True)
class EntityMetadata:
    """What the registries know about an entity that is worth a tag or a field."""

    device_class: str | None = None
    entity_category: str | None = None
    device_id: str | None = None
    area_id: str | None = None
    area_name: str | None = None
    floor_name: str | None = None
    device_name: str | None = None
    labels: str | None = None  # label names, sorted, comma separated
    platform: str | None = None
    unit: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    sw_version: str | None = None


NO_METADATA = EntityMetadata()


@callback
def async_track_registry_updates(hass: HomeAssistant, on_update: Callable[[], None]) -> CALLBACK_TYPE:
    """Call `on_update` whenever any registry changes; returns the unsubscribe callback.

    For caches of what the registries say about an entity (metadata here, the entity
    selection in filters.py): dropping them is cheaper than working out what changed.
    """

    @callback
    def _updated(_event: Event[Any]) -> None:
        on_update()

    removers = [hass.bus.async_listen(str(event_type), _updated) for event_type in _REGISTRY_EVENTS]

    @callback
    def _unsubscribe() -> None:
        for remove in removers:
            remove()

    return _unsubscribe


class MetadataLookup:
    """Looks entities up in the registries once, until a registry changes."""

    def __init__(self, hass: HomeAssistant) -> None:
        self._hass = hass
        self._entities = er.async_get(hass)
        self._devices = dr.async_get(hass)
        self._areas = ar.async_get(hass)
        self._floors = fr.async_get(hass)
        self._labels = lr.async_get(hass)
        self._cache: dict[str, EntityMetadata] = {}

    @callback
    def async_listen(self) -> CALLBACK_TYPE:
        """Forget everything whenever a registry changes; returns the unsubscribe callback."""
        return async_track_registry_updates(self._hass, self._cache.clear)

    def __call__(self, entity_id: str) -> EntityMetadata:
        """Metadata for one entity; empty when it is not in the registry."""
        if (cached := self._cache.get(entity_id)) is not None:
            return cached
        metadata = self._look_up(entity_id)
        self._cache[entity_id] = metadata
        return metadata

    def _look_up(self, entity_id: str) -> EntityMetadata:
        entry = self._entities.async_get(entity_id)
        if entry is None:
            return NO_METADATA
        device = self._devices.async_get(entry.device_id) if entry.device_id else None
        area_id = entry.area_id or (device.area_id if device else None)
        area = self._areas.async_get_area(area_id) if area_id else None
        floor = self._floors.async_get_floor(area.floor_id) if area and area.floor_id else None
        # Child devices carry no manufacturer, model or firmware of their own.
        info = device if isinstance(device, dr.DeviceEntry) else None
        labels = sorted(
            label.name for label_id in entry.labels if (label := self._labels.async_get_label(label_id))
        )
        return EntityMetadata(
            device_class=entry.device_class or entry.original_device_class,
            entity_category=entry.entity_category.value if entry.entity_category else None,
            device_id=entry.device_id,
            area_id=area_id,
            area_name=area.name if area else None,
            floor_name=floor.name if floor else None,
            device_name=(device.name_by_user or device.name) if device else None,
            labels=",".join(labels) or None,
            platform=entry.platform,
            unit=entry.unit_of_measurement,
            manufacturer=info.manufacturer if info else None,
            model=info.model if info else None,
            sw_version=info.sw_version if info else None,
        )
