"""The bus subscription: hands every selected event to the backlog in O(1)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import CALLBACK_TYPE, Event, EventStateChangedData, HomeAssistant, callback


@callback
def async_listen_events(
    hass: HomeAssistant,
    enqueue: Callable[[Event[Any]], None],
    selected: Callable[[str], bool],
    event_types: Iterable[str],
) -> CALLBACK_TYPE:
    """Pass `state_changed` of selected entities and the chosen other event types to `enqueue`."""

    @callback
    def _on_state_changed(event: Event[EventStateChangedData]) -> None:
        if selected(event.data["entity_id"]):
            enqueue(event)

    @callback  # runs on the loop: without the decorator the bus would use an executor thread
    def _on_other_event(event: Event[Any]) -> None:
        enqueue(event)

    removers = [hass.bus.async_listen(EVENT_STATE_CHANGED, _on_state_changed)]
    removers.extend(
        hass.bus.async_listen(event_type, _on_other_event)
        for event_type in set(event_types) - {EVENT_STATE_CHANGED}
    )

    @callback
    def _unsubscribe() -> None:
        for remove in removers:
            remove()

    return _unsubscribe
