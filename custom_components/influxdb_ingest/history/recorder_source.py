"""The recorder's states, turned into exactly the lines their live events made.

Read through the recorder's own history API on the recorder's executor, a window at a
time. Each recorded state becomes the `state_changed` event Home Assistant fired for it:
fired at the state's `last_updated` (the time live events carry) and handed to the
entry's serializer, so a backfilled point lands on the series and timestamp of its live
twin and overwrites it. The events carry no old state: no layout writes anything from it.
Strings over the target's limit are cut as live ones are, and handed back whole with the
window (recorded_lines.py).

What the history API does not return is not invented: context ids (the points carry none;
a live twin keeps its own, since InfluxDB merges the fields of a point written twice) and
the attributes Home Assistant leaves out of the recorder.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import time
from typing import Any, cast

from homeassistant.components.recorder import history
from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Context, Event, EventOrigin, HomeAssistant, State
from homeassistant.helpers.recorder import get_instance, session_scope
from homeassistant.util import dt as dt_util
from sqlalchemy.exc import SQLAlchemyError

from .backfill_job import NS, BackfillJob, Chunk, Lane, SourceError
from .recorded_lines import RecordedLines

# The longest the loop serializes before it lets others run (seconds).
_SLICE_SECONDS = 0.0005
# The states a read should hold. A read builds them in Home Assistant's process, holding
# the interpreter lock: 200 take the recorder's thread about 1.5 ms here, so the event
# loop never waits long for it. Fewer cost throughput (a read costs 0.5 ms however few
# it holds), more cost loop lag (docs/performance.md, "Backfill").
_STATES_PER_READ = 200
# Decoded attributes kept across reads (see `_share_attributes`), cleared past this many:
# a big home's entities' attributes, bounded even where attributes change every time.
_ATTRIBUTES_KEPT = 2048
# The widest window read at once: a busy hour of a big home is tens of thousands of states.
_MAX_WINDOW_NS = 3600 * NS
# The history API keeps rows strictly inside (start, end): it is asked this much wider and
# the rows are cut to [start, end) here, so windows neither overlap nor leave gaps.
_MARGIN_SECONDS = 0.001


async def on_recorder[T](hass: HomeAssistant, read: Callable[..., T], *args: Any) -> T:
    """Run a read on the recorder's executor once its database is ready.

    A database that is not there, or fails a read, is a SourceError: the job waits and
    tries again.
    """
    recorder = get_instance(hass)
    if not await asyncio.shield(recorder.async_db_ready):
        raise SourceError("the recorder's database is not available")
    try:
        return await recorder.async_add_executor_job(read, *args)
    except SQLAlchemyError as err:
        raise SourceError(f"the recorder could not read its database: {err}") from err


def _recorded_entity_ids(hass: HomeAssistant) -> list[str]:
    """Every entity id the recorder holds states for (in the recorder's executor)."""
    with session_scope(hass=hass, read_only=True) as session:
        ids = get_instance(hass).states_meta_manager.get_metadata_id_to_entity_id(session)
    return list(ids.values())


def _no_context() -> Context:
    """A context without ids: the history API has none, so none is written."""
    context = Context()
    context.id = ""
    return context


class RecorderStates:
    """The recorder's states of the selected entities, as lines of the entry's layout."""

    def __init__(self, hass: HomeAssistant, lines: RecordedLines, selected: Callable[[str], bool]) -> None:
        self._hass = hass
        self._lines = lines
        self._selected = selected
        self._entity_ids: list[str] = []
        self._context = _no_context()
        self._attributes: dict[str, dict[str, Any]] = {}  # recorded JSON -> decoded, across reads

    async def async_open(self, job: BackfillJob) -> list[Lane]:
        """Find the recorded entities the job selects: the entry's filters, narrowed by the job."""
        recorded = await on_recorder(self._hass, _recorded_entity_ids, self._hass)
        wanted = set(job.entity_ids) if job.entity_ids else None
        self._entity_ids = sorted(
            entity_id
            for entity_id in recorded
            if (wanted is None or entity_id in wanted) and self._selected(entity_id)
        )
        if not self._entity_ids:
            return []
        return [Lane("states", job.start_ns, job.end_ns, _MAX_WINDOW_NS, _STATES_PER_READ)]

    async def async_read(self, lane: Lane, start_ns: int, end_ns: int) -> Chunk:
        """The lines of the states recorded in `[start_ns, end_ns)`."""
        if not self._entity_ids:  # resumed, and none of them is recorded any more
            return Chunk([], 0, end_ns)
        per_entity = await on_recorder(self._hass, self._read, start_ns, end_ns)
        self._lines.keep_to_live_limit()
        lines: list[str] = []
        rows = 0
        slice_ends = time.perf_counter() + _SLICE_SECONDS
        for entity_id, states in per_entity:
            for state in states:
                self._share_attributes(state)
                event: Event[Any] = Event(
                    EVENT_STATE_CHANGED,
                    {"entity_id": entity_id, "old_state": None, "new_state": state},
                    EventOrigin.local,
                    state.last_updated_timestamp,
                    self._context,
                )
                if (line := self._lines.line(event)) is not None:
                    lines.append(line + "\n")
                rows += 1
                if not rows % 16 and time.perf_counter() > slice_ends:
                    await asyncio.sleep(0)  # a slice at a time: the loop stays responsive
                    slice_ends = time.perf_counter() + _SLICE_SECONDS
        return Chunk(lines, rows, end_ns, self._lines.take_cut_values())

    def _share_attributes(self, state: State) -> None:
        """Give equal recorded attributes one decoded object across reads, not just within one.

        The history API's states decode their attributes on first use, through a cache
        keyed by the recorded JSON that lives for one read. Handing them a cache that
        lives for the job lets the serializer see the same object again for unchanged
        attributes and reuse its formatted line parts (it does so for live events), which
        cuts the loop's work per state by about a third. States of another kind are left
        as they are.
        """
        if isinstance(getattr(state, "attr_cache", None), dict):
            if len(self._attributes) >= _ATTRIBUTES_KEPT:
                self._attributes.clear()
            state.attr_cache = self._attributes  # type: ignore[attr-defined]

    def _read(self, start_ns: int, end_ns: int) -> list[tuple[str, list[State]]]:
        """Every recorded state in the window, per entity, oldest first (recorder executor)."""
        start, end = start_ns / NS, end_ns / NS
        found = history.get_significant_states(
            self._hass,
            dt_util.utc_from_timestamp(start - _MARGIN_SECONDS),
            dt_util.utc_from_timestamp(end + _MARGIN_SECONDS),
            self._entity_ids,
            include_start_time_state=False,
            significant_changes_only=False,  # attribute changes too: live records them
        )
        # Full State objects only: minimal_response (dicts) is off.
        rows = cast(dict[str, list[State]], found)
        return [
            (entity_id, inside)
            for entity_id, states in rows.items()
            if (inside := [state for state in states if start <= state.last_updated_timestamp < end])
        ]
