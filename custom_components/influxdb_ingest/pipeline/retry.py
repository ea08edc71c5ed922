"""When to try the server again: exponential backoff and a circuit breaker.

Retries go on forever, but an outage costs no CPU: after a few consecutive failures the
circuit opens and the writer sleeps until a single half-open probe is due.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
import random
import time


class CircuitState(StrEnum):
    """Circuit breaker states, as shown to users."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class RetryPolicy:
    """Capped exponential backoff with jitter, plus a circuit breaker.

    Closed: each failure waits base * 2^n (jittered between half and all of it), up to the
    cap. After `failure_threshold` consecutive failures the circuit opens: the next attempt
    is one probe after at least `open_seconds` (and the growing backoff, up to the cap).
    A success closes the circuit and resets everything. `Retry-After` replaces the delay.
    The policy owns the deadline of the next attempt (`due`), on its own clock.
    """

    def __init__(
        self,
        *,
        initial_delay: float,
        max_delay: float,
        failure_threshold: int,
        open_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.initial_delay = initial_delay
        self.max_delay = max_delay
        self.failure_threshold = failure_threshold
        self.open_seconds = open_seconds
        self.state = CircuitState.CLOSED
        self.consecutive_failures = 0
        self.times_opened = 0
        self._clock = clock
        self._retry_at = 0.0

    def due(self) -> bool:
        """Whether the next attempt may be made now."""
        return self._clock() >= self._retry_at

    def record_success(self) -> None:
        """The server accepted a write: close the circuit."""
        self.state = CircuitState.CLOSED
        self.consecutive_failures = 0
        self._retry_at = 0.0

    def record_failure(self, retry_after: float | None = None) -> float:
        """The server failed; return how long to wait before the next attempt (and wait it)."""
        self.consecutive_failures += 1
        backoff = min(self.max_delay, self.initial_delay * 2 ** (self.consecutive_failures - 1))
        delay = random.uniform(backoff / 2, backoff)
        if self.consecutive_failures >= self.failure_threshold:
            if self.state is not CircuitState.OPEN:
                self.times_opened += 1
            self.state = CircuitState.OPEN
            delay = max(delay, min(self.open_seconds, self.max_delay))
        if retry_after is not None:
            delay = min(retry_after, self.max_delay)
        self._retry_at = self._clock() + delay
        return delay

    def probing(self) -> None:
        """The wait is over; the next attempt is the half-open probe."""
        if self.state is CircuitState.OPEN:
            self.state = CircuitState.HALF_OPEN
