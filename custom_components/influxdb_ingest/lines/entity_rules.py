"""Which rules apply to an entity: measurement, recorded attributes, attributes as tags.

Overrides are keyed like Home Assistant's own `customize`: an entity id, a domain, or a
glob (`sensor.*_power`), most specific first; each may set `override_measurement`,
`include_attributes` (an allow-list), `ignore_attributes` (a deny-list) and
`tags_attributes` (attributes written as tags instead of fields). The lists of the most
specific override add to the global ones.
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
    # None: every attribute; else only these (the deny-list still applies after it).
    include_attributes: frozenset[str] | None = None
    ignore_attributes: frozenset[str] = frozenset()
    tags_attributes: frozenset[str] = frozenset()

    def keep(self, attributes: Mapping[str, Any]) -> Mapping[str, Any]:
        """The attributes recorded: the allow-list's, minus the deny-list's.

        The same mapping when neither list is set, so the common case copies nothing.
        """
        include, ignore = self.include_attributes, self.ignore_attributes
        if include is None:
            if not ignore:
                return attributes
            return {key: value for key, value in attributes.items() if key not in ignore}
        return {key: value for key, value in attributes.items() if key in include and key not in ignore}


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
    include_attributes: frozenset[str] | None = None
    _values: EntityValues | None = field(default=None, init=False, repr=False)
    _resolved: dict[str, EntityRules] = field(default_factory=dict, init=False, repr=False)

    def for_entity(self, entity_id: str) -> EntityRules:
        """The rules for one entity (cached: overrides do not change while loaded)."""
        if (rules := self._resolved.get(entity_id)) is not None:
            return rules
        if self._values is None:
            self._values = EntityValues(*split_overrides(self.overrides))
        own = self._values.get(entity_id)
        include = self.include_attributes
        if own_include := _names(own.get("include_attributes")):
            include = own_include if include is None else include | own_include
        rules = EntityRules(
            measurement=own.get("override_measurement") or None,
            include_attributes=include,
            ignore_attributes=self.ignore_attributes | _names(own.get("ignore_attributes")),
            tags_attributes=self.tags_attributes | _names(own.get("tags_attributes")),
        )
        self._resolved[entity_id] = rules
        return rules


def _names(value: Any) -> frozenset[str]:
    """Attribute names from an override: a list, or one name written without brackets."""
    if not value:
        return frozenset()
    if isinstance(value, str):
        return frozenset((value,))
    return frozenset(str(name) for name in value)
