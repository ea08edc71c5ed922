"""Periodic snapshots: every N minutes, each recorded entity's current state is written again.

An entity that holds its state for hours leaves a graph of those hours empty (most panels
do not look before the range). A snapshot is a `state_changed` event that never went over
the bus: old state = new state = the current state, fired now, with SNAPSHOT_MARKER in
its data so a layout can tell it apart from a real change. It enters the backlog like any
event from the bus listener (counted, refused as `queue_full` when memory is full), so
snapshots need no write path of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
import logging
from typing import Any

from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import CALLBACK_TYPE, Context, Event, HomeAssistant, callback
from homeassistant.helpers.event import async_track_time_interval

from ..const import SNAPSHOT_MARKER

_LOGGER = logging.getLogger(__name__)


@callback
def async_track_snapshots(
    hass: HomeAssistant,
    minutes: int,
    enqueue: Callable[[Event[Any]], None],
    selected: Callable[[str], bool],
) -> CALLBACK_TYPE:
    """Enqueue a snapshot every `minutes` (0: never); returns the cancel callback."""
    if minutes <= 0:
        return _never_started

    @callback
    def _take(now: datetime) -> None:
        count = async_enqueue_snapshot(hass, enqueue, selected, now)
        _LOGGER.debug("Snapshot of %d entities queued", count)

    return async_track_time_interval(
        hass, _take, timedelta(minutes=minutes), name="influxdb_ingest snapshot", cancel_on_shutdown=True
    )


@callback
def async_enqueue_snapshot(
    hass: HomeAssistant,
    enqueue: Callable[[Event[Any]], None],
    selected: Callable[[str], bool],
    now: datetime,
) -> int:
    """Enqueue one snapshot event per selected entity, all fired at `now`; return how many."""
    fired = now.timestamp()
    context = Context()  # one per snapshot: these points were caused by this snapshot
    count = 0
    for state in hass.states.async_all():
        if selected(state.entity_id):
            data = {
                "entity_id": state.entity_id,
                "old_state": state,
                "new_state": state,
                SNAPSHOT_MARKER: True,
            }
            enqueue(Event(EVENT_STATE_CHANGED, data, time_fired_timestamp=fired, context=context))
            count += 1
    return count


@callback
def _never_started() -> None:
    """The cancel callback when snapshots are off."""
