"""One route from a bus event to its line of line protocol, whatever the layout.

The writer hands every event to `LineSerializer.line` and never looks inside a layout:
the serializer owns the entity rules (overrides), the registry metadata, the per-entity
line caches (cached_lines.py) and the rule that keeps one entity's timestamps distinct.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, EventStateChangedData

from ..lines.cached_lines import BuiltinLines, DefaultLines
from ..lines.columns import ColumnBudget
from ..lines.entity_rules import EntityRules, EntityRulesResolver
from ..lines.line_protocol import StringLimit, point_to_line
from ..lines.metadata import EntityMetadata
from ..lines.names import escape_field_key, escape_field_key_v3
from ..lines.normalize import DefaultLayout, bus_event_to_point, is_recorded
from ..lines.normalize_builtin import BuiltinLayout
from ..lines.point import time_fired_ns
from .settings import WriterSettings

type LookupMetadata = Callable[[str], EntityMetadata]


@dataclass(frozen=True, slots=True)
class CutValue:
    """A string value longer than the target stores: the line written with it cut, and the whole value."""

    line: str
    key: str
    value: str


class LineSerializer(ABC):
    """Turns events into lines; None when the layout writes no point for an event."""

    def __init__(self, settings: WriterSettings) -> None:
        self._settings = settings
        self._rules = EntityRulesResolver(
            ignore_attributes=settings.ignore_attributes,
            tags_attributes=settings.tags_attributes,
            overrides=settings.overrides,
            include_attributes=settings.include_attributes,
        )
        self._last_time_ns: dict[str, int] = {}  # per entity, of its last line
        self._escape_key = escape_field_key_v3 if settings.api_version == "3" else escape_field_key
        self._limit = StringLimit(settings.string_limit())
        self._cut: list[CutValue] = []

    @property
    def string_limit_bytes(self) -> int:
        """The longest string value written (UTF-8 bytes)."""
        return self._limit.limit_bytes

    def use_string_limit(self, limit_bytes: int) -> None:
        """The server's own limit, once it said which release it is; lines made from now on keep to it."""
        self._limit.resize(limit_bytes)

    def take_cut_values(self) -> list[CutValue]:
        """Every string value cut to the target's limit since the last call, whole."""
        cut, self._cut = self._cut, []
        return cut

    def _remember_cut(self, line: str) -> None:
        self._cut.extend(CutValue(line, key, value) for key, value in self._limit.take())

    def line(self, event: Event[Any]) -> str | None:
        """The line (without newline) for one event, or None when it is not recorded.

        Same series and same timestamp is an overwrite in InfluxDB, and two changes of
        one entity can fire within one microsecond: a line's time is moved 1 ns past the
        entity's previous line when it would overwrite it.
        """
        if event.event_type != EVENT_STATE_CHANGED:
            settings = self._settings
            point = bus_event_to_point(event, settings.events_measurement, settings.static_tags)
            bus_line = point_to_line(point, self._escape_key, self._limit)
            if self._limit.cut:
                self._remember_cut(bus_line)
            return bus_line
        entity_id: str = event.data["entity_id"]
        time_ns = time_fired_ns(event)
        if (last := self._last_time_ns.get(entity_id)) is not None and time_ns <= last:
            time_ns = last + 1
        line = self._state_line(event, self._rules.for_entity(entity_id), time_ns)
        if line is not None:
            self._last_time_ns[entity_id] = time_ns
            if self._limit.cut:  # rare: one check per event
                self._remember_cut(line)
        return line

    @abstractmethod
    def _state_line(
        self, event: Event[EventStateChangedData], rules: EntityRules, time_ns: int
    ) -> str | None:
        """The layout's line for a state change at `time_ns`, or None where it writes none."""


class DefaultSerializer(LineSerializer):
    """The default layout (docs/schema.md), enriched from the registries."""

    def __init__(
        self, settings: WriterSettings, lookup_metadata: LookupMetadata, columns: ColumnBudget | None
    ) -> None:
        super().__init__(settings)
        self._layout = DefaultLayout(
            settings.measurement,
            settings.enrich,
            settings.static_tags,
            settings.record_unavailable,
            attributes_json=settings.attributes_json,
            context_id=settings.context_id,
        )
        self._lines = DefaultLines(self._layout, columns, self._escape_key, self._limit)
        self._lookup_metadata = lookup_metadata

    def _state_line(
        self, event: Event[EventStateChangedData], rules: EntityRules, time_ns: int
    ) -> str | None:
        if not is_recorded(event, self._layout):
            return None
        return self._lines.line(event, self._lookup_metadata(event.data["entity_id"]), rules, time_ns)


class BuiltinSerializer(LineSerializer):
    """What Home Assistant's built-in influxdb integration writes (docs/schema.md)."""

    def __init__(self, settings: WriterSettings) -> None:
        super().__init__(settings)
        layout = BuiltinLayout(
            settings.measurement_attr, settings.default_measurement, settings.override_measurement
        )
        self._lines = BuiltinLines(layout, settings.static_tags, self._escape_key, self._limit)

    def _state_line(
        self, event: Event[EventStateChangedData], rules: EntityRules, time_ns: int
    ) -> str | None:
        return self._lines.line(event, rules, time_ns)


def make_serializer(
    settings: WriterSettings, lookup_metadata: LookupMetadata, columns: ColumnBudget | None = None
) -> LineSerializer:
    """The serializer of the entry's layout; the default layout keeps to the column budget."""
    if settings.layout == "builtin":
        return BuiltinSerializer(settings)
    return DefaultSerializer(settings, lookup_metadata, columns)
