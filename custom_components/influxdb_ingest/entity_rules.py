"""Which rules apply to an entity: measurement, ignored attributes, attributes as tags.

Overrides are keyed like Home Assistant's own `customize`: an entity id, a domain, or a
glob (`sensor.*_power`), most specific first; each may set `override_measurement`,
`ignore_attributes` and `tags_attributes` (attributes written as tags instead of fields).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from homeassistant.helpers.entity_values import EntityValues


@dataclass(frozen=True, slots=True)
class EntityRules:
    """What applies to one entity after merging global options and its overrides."""

    measurement: str | None = None
    ignore_attributes: frozenset[str] = frozenset()
    tags_attributes: frozenset[str] = frozenset()


NO_RULES = EntityRules()


def split_overrides(overrides: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(entities, domains, globs) from one mapping keyed by entity id, domain or pattern."""
    entities: dict[str, Any] = {}
    domains: dict[str, Any] = {}
    globs: dict[str, Any] = {}
    for key, rules in overrides.items():
        if any(char in key for char in "*?["):
            globs[key] = rules
        elif "." in key:
            entities[key] = rules
        else:
            domains[key] = rules
    return entities, domains, globs


@dataclass
class EntityRulesResolver:
    """Global tag/attribute options plus per-entity overrides, resolved once per entity."""

    ignore_attributes: frozenset[str] = frozenset()
    tags_attributes: frozenset[str] = frozenset()
    overrides: Mapping[str, Any] = field(default_factory=dict)
    _values: EntityValues | None = field(default=None, init=False, repr=False)
    _resolved: dict[str, EntityRules] = field(default_factory=dict, init=False, repr=False)

    def for_entity(self, entity_id: str) -> EntityRules:
        """The rules for one entity (cached: overrides do not change while loaded)."""
        if (rules := self._resolved.get(entity_id)) is not None:
            return rules
        if self._values is None:
            self._values = EntityValues(*split_overrides(self.overrides))
        own = self._values.get(entity_id)
        rules = EntityRules(
            measurement=own.get("override_measurement") or None,
            ignore_attributes=self.ignore_attributes | frozenset(own.get("ignore_attributes", ())),
            tags_attributes=self.tags_attributes | frozenset(own.get("tags_attributes", ())),
        )
        self._resolved[entity_id] = rules
        return rules
