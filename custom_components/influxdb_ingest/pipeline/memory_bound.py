"""How long points may wait in memory: the queue limit, and the loss window while the server fails.

What a crash may cost is what waits in memory, so while the server fails (nothing is
written) or a long replay keeps live points behind the spool, nothing stays in memory
longer than the loss window: a whole window's points go to disk in one spill (one sync),
not a sync per point or per round.
"""

from __future__ import annotations

from collections.abc import Callable

from .backlog import Backlog
from .retry import RetryPolicy
from .settings import WriterSettings


class MemoryBound:
    """Decides the interval between rounds and what the backlog spills to keep memory bounded."""

    def __init__(
        self,
        settings: WriterSettings,
        policy: RetryPolicy,
        backlog: Backlog,
        wall_clock: Callable[[], float],
    ) -> None:
        self._settings = settings
        self._policy = policy
        self._backlog = backlog
        self._wall_clock = wall_clock

    @property
    def round_interval(self) -> float:
        """Seconds between rounds: the flush interval, or the loss window if shorter while failing."""
        if self._policy.consecutive_failures:
            return min(self._settings.flush_interval, self._settings.loss_window)
        return self._settings.flush_interval

    async def keep(self) -> None:
        """Spill beyond `max_queue_size`, and everything once the oldest would outstay the loss window."""
        if self._window_ends_before_next_round():
            await self._backlog.batch_all()
            await self._backlog.spill(0)
        else:
            await self._backlog.spill(self._settings.max_queue_size)

    def _window_ends_before_next_round(self) -> bool:
        """Whether the oldest point in memory would wait longer than the loss window by the next round.

        Only while the server fails or a replay is ahead of the live points: a healthy
        server with nothing spooled gets them within the flush interval instead.
        """
        since = self._backlog.oldest_in_memory_since
        if since is None or not (self._policy.consecutive_failures or len(self._backlog.spool)):
            return False
        return self._wall_clock() + self.round_interval - since >= self._settings.loss_window
