"""Which entities are recorded: the user's include/exclude choices, never our own entities.

The decision is made once per entity and cached, so the bus listener stays O(1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entityfilter import generate_filter

from .const import DOMAIN

CONF_INCLUDE_DOMAINS = "include_domains"
CONF_INCLUDE_ENTITIES = "include_entities"
CONF_INCLUDE_GLOBS = "include_entity_globs"
CONF_EXCLUDE_DOMAINS = "exclude_domains"
CONF_EXCLUDE_ENTITIES = "exclude_entities"
CONF_EXCLUDE_GLOBS = "exclude_entity_globs"
CONF_INCLUDE_OWN = "include_own_entities"


class EntitySelection:
    """Decides whether an entity's state changes are written."""

    def __init__(self, hass: HomeAssistant, options: Mapping[str, Any]) -> None:
        self._filter = generate_filter(
            options.get(CONF_INCLUDE_DOMAINS, []),
            options.get(CONF_INCLUDE_ENTITIES, []),
            options.get(CONF_EXCLUDE_DOMAINS, []),
            options.get(CONF_EXCLUDE_ENTITIES, []),
            options.get(CONF_INCLUDE_GLOBS, []),
            options.get(CONF_EXCLUDE_GLOBS, []),
        )
        self._entities = er.async_get(hass)
        # Our own health entities would feed their own counters back into the stream.
        self._include_own = bool(options.get(CONF_INCLUDE_OWN, False))
        self._decisions: dict[str, bool] = {}

    def __call__(self, entity_id: str) -> bool:
        """Decide (once per entity) whether to record it."""
        decision = self._decisions.get(entity_id)
        if decision is None:
            entry = self._entities.async_get(entity_id)
            own = entry is not None and entry.platform == DOMAIN
            decision = self._filter(entity_id) and (self._include_own or not own)
            self._decisions[entity_id] = decision
        return decision
