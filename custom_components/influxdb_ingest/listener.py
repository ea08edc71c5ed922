"""The bus subscription: hands every selected state change to the writer in O(1)."""

from __future__ import annotations

from collections.abc import Callable

from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import CALLBACK_TYPE, Event, EventStateChangedData, HomeAssistant, callback

from .writer import BatchWriter


@callback
def async_listen_state_changes(
    hass: HomeAssistant, writer: BatchWriter, selected: Callable[[str], bool]
) -> CALLBACK_TYPE:
    """Subscribe the writer to `state_changed`; returns the unsubscribe callback."""

    @callback
    def _on_state_changed(event: Event[EventStateChangedData]) -> None:
        if selected(event.data["entity_id"]):
            writer.enqueue(event)

    return hass.bus.async_listen(EVENT_STATE_CHANGED, _on_state_changed)
