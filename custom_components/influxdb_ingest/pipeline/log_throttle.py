"""When a repeated problem is worth another log line.

A problem that repeats (points dead-lettered, events that cannot be serialized, a full
queue, spool records dropped) is logged with its running total, not once per point: at
most once per interval, or once per episode until the episode ends.
"""

from __future__ import annotations

from collections.abc import Callable
import math
import time


class LogThrottle:
    """Says whether a log line is due: once per `interval` seconds (default: once per episode)."""

    def __init__(self, interval: float = math.inf, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._logged_at: float | None = None

    def due(self) -> bool:
        """True when the next line may be logged (and counts it as logged)."""
        now = self._clock()
        if self._logged_at is not None and now - self._logged_at < self._interval:
            return False
        self._logged_at = now
        return True

    def end_episode(self) -> bool:
        """The problem is over: the next occurrence logs again. True when it had been logged."""
        logged, self._logged_at = self._logged_at is not None, None
        return logged
