"""What a write's outcome changes: the retry policy, the counters, and one log line per problem.

Shared by the live rounds and the backfill lane, so a failure of either is waited out the
same way and a problem is logged once when it starts and once when it ends.
"""

from __future__ import annotations

from collections.abc import Callable
import logging

from ..target.influx_api import InfluxError, ServerBusy
from .retry import RetryPolicy
from .stats import Problem, WriterStats

_LOGGER = logging.getLogger(__name__)


class WriteOutcomes:
    """Records successes and failures of writes for the policy, the stats and the log."""

    def __init__(
        self, policy: RetryPolicy, stats: WriterStats, points_waiting: Callable[[], int], loss_window: float
    ) -> None:
        self.policy = policy
        self.stats = stats
        self._points_waiting = points_waiting
        self._loss_window = loss_window

    def failed(self, err: InfluxError) -> None:
        """A write failed: wait it out, count it, log when the problem changes."""
        self.policy.record_failure(err.retry_after if isinstance(err, ServerBusy) else None)
        self.stats.write_errors += 1
        self.stats.last_error = str(err)
        self.stats.remember_error(str(err))
        problem = Problem.of(err)
        if problem is Problem.SERVER_LIMIT:
            self.stats.limit_refusal = str(err)
        if self.stats.problem != problem:
            self.stats.problem = problem
            _LOGGER.error(
                "Cannot write to InfluxDB (%s), keeping %d points (each on disk within %g s) and"
                " retrying: %s",
                problem,
                self._points_waiting(),
                self._loss_window,
                err,
            )

    def succeeded(self) -> None:
        """A write was stored: close the circuit, log the end of a problem."""
        self.policy.record_success()
        if self.stats.problem is not None:
            self.stats.problem = None
            _LOGGER.info("Writing to InfluxDB again; %d points waiting", self._points_waiting())
