"""Lines for state changes, fast: what changes only with attributes or registry data is reused.

A state change mostly changes the state: the measurement, the tags and the attribute
fields of an entity are the same as last time, and Home Assistant then passes the same
attributes object again. So they are serialized once per entity and reused until the
attributes object (or, in the default layout, the registry data) changes. The text is exactly
`point_to_line` of the layout's point; tests hold both to that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.core import Event, EventStateChangedData, State

from .columns import ColumnBudget
from .entity_rules import EntityRules
from .line_protocol import (
    StringLimit,
    format_fields,
    format_head,
    format_own_fields,
    head_and_tag_keys,
    written_field_keys,
)
from .metadata import EntityMetadata
from .names import NameEscaper, escape_field_key
from .normalize import (
    DefaultLayout,
    attribute_fields,
    change_fields,
    recorded_attributes,
    state_change_tags,
)
from .normalize_builtin import BuiltinLayout, builtin_entity_parts, builtin_records, builtin_state_fields
from .point import FieldValue

_NO_ATTRIBUTES: Mapping[str, Any] = {}


@dataclass(slots=True)  # not frozen: a frozen dataclass sets each field through a call
class _EntityParts:
    """The serialized parts of one entity's lines, and what they were built from."""

    attributes: Mapping[str, Any]  # the new state's attributes object, before any are ignored
    built_from: object  # what else the parts depend on (registry data, state field names)
    head: str  # measurement and tags
    fixed_fields: str  # attribute (and device) fields, maybe empty
    # Tag keys the state's own fields must not be (they are renamed); empty: none can clash.
    state_avoids: frozenset[str] = frozenset()

    def still_valid(self, attributes: Mapping[str, Any], built_from: object) -> bool:
        # The same attributes object, not just equal ones: {"x": 1} == {"x": True}, yet
        # they are written differently. Home Assistant passes the same object again
        # when the attributes did not change.
        return self.attributes is attributes and (
            self.built_from is built_from or self.built_from == built_from
        )


class DefaultLines:
    """Default-layout lines (docs/schema.md), remembering each entity's unchanging parts."""

    def __init__(
        self,
        layout: DefaultLayout,
        columns: ColumnBudget | None = None,
        escape_key: NameEscaper = escape_field_key,
        limit: StringLimit | None = None,
    ) -> None:
        self._layout = layout
        self._columns = columns
        self._escape_key = escape_key
        self._limit = limit
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
        if parts is None or not parts.still_valid(attributes, metadata):
            recorded = recorded_attributes(event, rules)
            layout = self._layout
            tags = state_change_tags(event, recorded, metadata, layout, rules)
            parts = _EntityParts(
                attributes,
                metadata,
                format_head(rules.measurement or layout.measurement, tags),
                format_fields(
                    attribute_fields(recorded, metadata, layout, rules, columns=self._columns, tags=tags),
                    self._escape_key,
                    self._limit,
                ),
            )
            self._parts[entity_id] = parts
        if new_state is None:  # removed: nothing to reuse any more
            del self._parts[entity_id]
        # The state's own fields: plain, distinct names of the layout, neither escaped nor checked.
        changes = format_own_fields(change_fields(event, self._layout), self._limit)
        if not parts.fixed_fields:
            return f"{parts.head} {changes} {time_ns}"
        return f"{parts.head} {changes},{parts.fixed_fields} {time_ns}"


class BuiltinLines:
    """Lines in the built-in integration's layout, remembering each entity's unchanging parts."""

    def __init__(
        self,
        layout: BuiltinLayout,
        static_tags: Mapping[str, str],
        escape_key: NameEscaper = escape_field_key,
        limit: StringLimit | None = None,
    ) -> None:
        self._layout = layout
        self._static_tags = static_tags
        self._escape_key = escape_key
        self._limit = limit
        self._parts: dict[str, _EntityParts] = {}

    def line(self, event: Event[EventStateChangedData], rules: EntityRules, time_ns: int) -> str | None:
        """The line (without newline), or None where the built-in integration writes none."""
        state: State | None = event.data["new_state"]
        if not builtin_records(state):
            if state is None:  # removed: nothing to reuse any more
                self._parts.pop(event.data["entity_id"], None)
            return None
        state_fields = builtin_state_fields(state)
        state_field_keys = frozenset(state_fields)
        parts = self._parts.get(state.entity_id)
        if parts is None or not parts.still_valid(state.attributes, state_field_keys):
            parts = self._parts[state.entity_id] = self._built_parts(state, rules, state_fields)
        if not state_fields:
            if not parts.fixed_fields:  # nothing a line can carry (a "nan" state, no attributes)
                return None
            return f"{parts.head} {parts.fixed_fields} {time_ns}"
        if avoids := parts.state_avoids:  # rare: a tag named like one of them
            state_part = format_fields(state_fields, self._escape_key, self._limit, avoids)
        else:
            state_part = format_own_fields(state_fields, self._limit)
        if not parts.fixed_fields:
            return f"{parts.head} {state_part} {time_ns}"
        return f"{parts.head} {state_part},{parts.fixed_fields} {time_ns}"

    def _built_parts(
        self, state: State, rules: EntityRules, state_fields: Mapping[str, FieldValue]
    ) -> _EntityParts:
        """The entity's parts: no field is named like a tag of the line, nor two alike.

        The state's own fields come first on the line: one named like a tag key, and then an
        attribute field named like any of theirs, gets `_` appended, as point_to_line does.
        """
        state_field_keys = frozenset(state_fields)
        measurement, tags, fields = builtin_entity_parts(
            state, self._layout, rules, self._static_tags, state_field_keys
        )
        head, tag_keys = head_and_tag_keys(measurement, tags)
        avoids = frozenset() if tag_keys.isdisjoint(state_field_keys) else tag_keys
        state_keys = (
            written_field_keys(state_fields, self._escape_key, avoids) if avoids else state_field_keys
        )
        return _EntityParts(
            state.attributes,
            state_field_keys,
            head,
            format_fields(fields, self._escape_key, self._limit, tag_keys | state_keys),
            avoids,
        )
