"""Default-layout lines, fast: what changes only with attributes or registry data is reused.

A state change mostly changes the state: the tags and the attribute fields of an entity
are the same as last time (Home Assistant even passes the same attributes object). So
they are serialized once per entity and reused until the attributes or the registry data
change. The text is exactly `point_to_line(state_change_to_point(...))`; tests hold both
to that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.core import Event, EventStateChangedData

from .layout import EntityRules
from .line_protocol import format_fields, format_head
from .metadata import EntityMetadata
from .normalize import (
    DefaultLayout,
    attribute_fields,
    change_fields,
    recorded_attributes,
    state_change_tags,
)

_NO_ATTRIBUTES: Mapping[str, Any] = {}


@dataclass(frozen=True, slots=True)
class _EntityParts:
    """The serialized parts of one entity's lines, and what they were built from."""

    metadata: EntityMetadata
    attributes: Mapping[str, Any]  # the new state's attributes, before any are ignored
    head: str  # measurement and tags
    fixed_fields: str  # attribute and device fields


class DefaultLines:
    """Builds default-layout lines, remembering each entity's unchanging parts."""

    def __init__(self, layout: DefaultLayout) -> None:
        self._layout = layout
        self._parts: dict[str, _EntityParts] = {}

    def line(
        self,
        event: Event[EventStateChangedData],
        metadata: EntityMetadata,
        rules: EntityRules,
        time_ns: int,
    ) -> str:
        """The line (without newline) for a state change the layout records."""
        entity_id = event.data["entity_id"]
        new_state = event.data["new_state"]
        attributes = new_state.attributes if new_state is not None else _NO_ATTRIBUTES
        parts = self._parts.get(entity_id)
        if (
            parts is None
            or parts.metadata is not metadata
            or (parts.attributes is not attributes and parts.attributes != attributes)
        ):
            parts = self._build(event, attributes, metadata, rules)
            self._parts[entity_id] = parts
        if new_state is None:  # removed: nothing to reuse any more
            del self._parts[entity_id]
        return f"{parts.head} {format_fields(change_fields(event))},{parts.fixed_fields} {time_ns}"

    def _build(
        self,
        event: Event[EventStateChangedData],
        attributes: Mapping[str, Any],
        metadata: EntityMetadata,
        rules: EntityRules,
    ) -> _EntityParts:
        recorded = recorded_attributes(event, rules)
        layout = self._layout
        return _EntityParts(
            metadata,
            attributes,
            format_head(
                rules.measurement or layout.measurement,
                state_change_tags(event, recorded, metadata, layout, rules),
            ),
            format_fields(attribute_fields(recorded, metadata, layout, rules)),
        )
