"""The bounded in-memory queue between the bus listener and the writer."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
import logging
from typing import Any

from homeassistant.core import Event

from .log_throttle import LogThrottle

_LOGGER = logging.getLogger(__name__)


class EventBuffer:
    """FIFO of events waiting to be written.

    `append` is O(1) and never blocks: when the queue is full the new event is refused
    (the caller counts it) and the overflow is logged once per episode. `on_filled` is
    called when `wake_at` events are waiting, so they are serialized (and their Home
    Assistant objects freed) while they are few.
    """

    def __init__(self, max_size: int, wake_at: int, on_filled: Callable[[], None]) -> None:
        self._events: deque[Event[Any]] = deque()
        self.max_size = max_size
        self._wake_at = wake_at
        self._on_filled = on_filled
        self._overflow_log = LogThrottle()  # once per episode of a full queue

    def __len__(self) -> int:
        return len(self._events)

    @property
    def oldest_time_fired(self) -> float | None:
        """When the oldest queued event fired (epoch seconds)."""
        return self._events[0].time_fired_timestamp if self._events else None

    def append(self, event: Event[Any]) -> bool:
        """Queue one event (O(1): called from the bus listener); False when it is full."""
        size = len(self._events)
        if size >= self.max_size:
            if self._overflow_log.due():
                _LOGGER.warning(
                    "Memory queue is full (%d events): dropping new events until InfluxDB"
                    " catches up; the count is in the points dropped counter",
                    self.max_size,
                )
            return False
        self._events.append(event)
        if size + 1 == self._wake_at:
            self._on_filled()
        return True

    def take(self, count: int) -> list[Event[Any]]:
        """Remove and return up to `count` of the oldest events."""
        events = self._events
        batch = [events.popleft() for _ in range(min(count, len(events)))]
        if len(events) < self.max_size and self._overflow_log.end_episode():
            _LOGGER.info("Memory queue has room again")
        return batch
