"""Which entities are recorded: the user's include/exclude choices, never our own entities.

Every condition the user sets narrows the selection: the domain/entity/glob filter
(Home Assistant's `generate_filter`, as in the recorder), AND at least one of the
registry includes (area, floor, device or label), AND none of the registry excludes.
An entity's area is its own, else its device's; its floor is its area's; its labels are
its own. The decision is made once per entity and cached, so the bus listener stays
O(1); the cache is dropped whenever a registry changes, so moving a device to another
area or labelling an entity applies to its next state change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import (
    area_registry as ar,
    device_registry as dr,
    entity_registry as er,
)
from homeassistant.helpers.entityfilter import generate_filter

from ..const import DOMAIN
from ..lines.metadata import async_track_registry_updates

CONF_INCLUDE_DOMAINS = "include_domains"
CONF_INCLUDE_ENTITIES = "include_entities"
CONF_INCLUDE_GLOBS = "include_entity_globs"
CONF_EXCLUDE_DOMAINS = "exclude_domains"
CONF_EXCLUDE_ENTITIES = "exclude_entities"
CONF_EXCLUDE_GLOBS = "exclude_entity_globs"
CONF_INCLUDE_OWN = "include_own_entities"
CONF_INCLUDE_AREAS = "include_areas"
CONF_INCLUDE_FLOORS = "include_floors"
CONF_INCLUDE_DEVICES = "include_devices"
CONF_INCLUDE_LABELS = "include_labels"
CONF_EXCLUDE_AREAS = "exclude_areas"
CONF_EXCLUDE_FLOORS = "exclude_floors"
CONF_EXCLUDE_DEVICES = "exclude_devices"
CONF_EXCLUDE_LABELS = "exclude_labels"


@dataclass(frozen=True, slots=True)
class Placement:
    """Where an entity sits in the registries (ids, as the selectors store them)."""

    area_id: str | None = None
    floor_id: str | None = None
    device_id: str | None = None
    label_ids: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class RegistryCondition:
    """Areas, floors, devices and labels; an entity matches when it has any of them."""

    areas: frozenset[str] = frozenset()
    floors: frozenset[str] = frozenset()
    devices: frozenset[str] = frozenset()
    labels: frozenset[str] = frozenset()

    @classmethod
    def from_options(cls, options: Mapping[str, Any], prefix: str) -> RegistryCondition:
        """The `include_*` or `exclude_*` registry options."""
        return cls(
            *(
                frozenset(options.get(f"{prefix}_{kind}", ()))
                for kind in ("areas", "floors", "devices", "labels")
            )
        )

    def __bool__(self) -> bool:
        return bool(self.areas or self.floors or self.devices or self.labels)

    def matches(self, place: Placement) -> bool:
        """Whether the entity is in one of the areas, floors or devices, or has one of the labels."""
        return (
            place.area_id in self.areas
            or place.floor_id in self.floors
            or place.device_id in self.devices
            or not self.labels.isdisjoint(place.label_ids)
        )


class EntitySelection:
    """Decides whether an entity's state changes are written."""

    def __init__(self, hass: HomeAssistant, options: Mapping[str, Any]) -> None:
        self._hass = hass
        self._filter = generate_filter(
            options.get(CONF_INCLUDE_DOMAINS, []),
            options.get(CONF_INCLUDE_ENTITIES, []),
            options.get(CONF_EXCLUDE_DOMAINS, []),
            options.get(CONF_EXCLUDE_ENTITIES, []),
            options.get(CONF_INCLUDE_GLOBS, []),
            options.get(CONF_EXCLUDE_GLOBS, []),
        )
        self._include = RegistryCondition.from_options(options, "include")
        self._exclude = RegistryCondition.from_options(options, "exclude")
        self._entities = er.async_get(hass)
        self._devices = dr.async_get(hass)
        self._areas = ar.async_get(hass)
        # Our own health entities would feed their own counters back into the stream.
        self._include_own = bool(options.get(CONF_INCLUDE_OWN, False))
        self._decisions: dict[str, bool] = {}

    @callback
    def async_listen(self) -> CALLBACK_TYPE:
        """Decide again after any registry change; returns the unsubscribe callback."""
        return async_track_registry_updates(self._hass, self._decisions.clear)

    def __call__(self, entity_id: str) -> bool:
        """Decide (once per entity, until a registry changes) whether to record it."""
        decision = self._decisions.get(entity_id)
        if decision is None:
            decision = self._decide(entity_id)
            self._decisions[entity_id] = decision
        return decision

    def _decide(self, entity_id: str) -> bool:
        if not self._filter(entity_id):
            return False
        entry = self._entities.async_get(entity_id)
        if entry is not None and entry.platform == DOMAIN and not self._include_own:
            return False
        if not (self._include or self._exclude):
            return True
        place = self._placement(entry)
        if self._include and not self._include.matches(place):
            return False
        return not self._exclude.matches(place)

    def _placement(self, entry: er.RegistryEntry | None) -> Placement:
        """The entity's area (its own, else its device's), the area's floor, its device and labels."""
        if entry is None:  # not in the registry: no area, device or label to match
            return Placement()
        device = self._devices.async_get(entry.device_id) if entry.device_id else None
        area_id = entry.area_id or (device.area_id if device else None)
        area = self._areas.async_get_area(area_id) if area_id else None
        return Placement(area_id, area.floor_id if area else None, entry.device_id, frozenset(entry.labels))
