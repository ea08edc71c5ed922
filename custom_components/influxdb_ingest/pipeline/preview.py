"""The line an entity's current state produces with an entry's options (options flow, diagnostics).

Built with the writer's own parts (the entity selection, `make_serializer`, the registry
metadata), so what is shown is what would be written: the state as a `state_changed`
event fired when the state was last updated, as for an entity's first state (no old
state: the line of a real change may also carry the previous state).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
import re
from typing import Any

from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, State

from ..lines.line_protocol import split_line
from ..lines.metadata import MetadataLookup
from .filters import EntitySelection
from .serializer import make_serializer
from .settings import WriterSettings

# Diagnostics are shared in public bug reports: entities whose attributes can hold an
# access token (cameras, media players' entity_picture) or a location are not sampled.
_PRIVATE_ATTRIBUTES = frozenset({"access_token", "entity_picture", "latitude", "longitude", "gps_accuracy"})
_PRIVATE_DOMAINS = frozenset({"camera", "image", "person", "device_tracker", "zone"})
# Sample lines in diagnostics: one entity per domain, this many domains at most.
SAMPLE_DOMAINS = 10


class NoLine(StrEnum):
    """Why no line is shown (the options flow's error keys)."""

    NO_STATE = "no_state"
    NOT_RECORDED = "not_recorded"
    NO_POINT = "no_point"


class LinePreview:
    """Lines for entities' current states under one set of options."""

    def __init__(self, hass: HomeAssistant, options: Mapping[str, Any]) -> None:
        self._hass = hass
        self._selected = EntitySelection(hass, options)
        self._serializer = make_serializer(WriterSettings.from_options(options), MetadataLookup(hass))

    def line(self, entity_id: str) -> str | NoLine:
        """The line for the entity's current state, or why there is none."""
        state = self._hass.states.get(entity_id)
        if state is None:
            return NoLine.NO_STATE
        if not self._selected(entity_id):
            return NoLine.NOT_RECORDED
        return self._line(state) or NoLine.NO_POINT

    def samples(self) -> dict[str, str]:
        """Lines for one recorded entity per domain (diagnostics), without private ones."""
        lines: dict[str, str] = {}
        domains: set[str] = set()
        for state in sorted(self._hass.states.async_all(), key=lambda state: state.entity_id):
            if len(domains) == SAMPLE_DOMAINS:
                break
            if (
                state.domain in domains
                or state.domain in _PRIVATE_DOMAINS
                or not _PRIVATE_ATTRIBUTES.isdisjoint(state.attributes)
                or not self._selected(state.entity_id)
            ):
                continue
            if line := self._line(state):
                lines[state.entity_id] = line
                domains.add(state.domain)
        return lines

    def _line(self, state: State) -> str | None:
        event: Event[EventStateChangedData] = Event(
            EVENT_STATE_CHANGED,
            {"entity_id": state.entity_id, "old_state": None, "new_state": state},
            time_fired_timestamp=state.last_updated_timestamp,
            context=state.context,
        )
        return self._serializer.line(event)


def _code(text: str) -> str:
    """Inline Markdown code for any text: a fence longer than any run of backticks in it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {text} {fence}"


def _split_head(head: str) -> list[str]:
    """Measurement and tags: the head split at commas no backslash escapes."""
    parts: list[str] = []
    start = position = 0
    while position < len(head):
        if head[position] == "\\":
            position += 2
            continue
        if head[position] == ",":
            parts.append(head[start:position])
            start = position + 1
        position += 1
    parts.append(head[start:])
    return parts


def as_field_list(line: str) -> str:
    """Markdown for a line, a row per part (measurement, tags, fields, timestamp), so it wraps.

    A line is one row of thousands of characters; shown whole, a form shows its first few.
    Each row is the part exactly as written: joined by commas and spaces, they are the line.
    """
    head, fields, tail = split_line(line)
    rows = [*_split_head(head), *(f"{key}={value}" for key, value in fields), tail.strip()]
    return "\n".join(f"- {_code(row)}" for row in rows if row)
