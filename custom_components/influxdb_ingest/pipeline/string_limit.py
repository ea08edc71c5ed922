"""Strings over the server's limit: the point is written with the value cut, the whole value kept.

InfluxDB refuses a whole point for one string over its limit (docs/schema.md), so the
serializer cuts it to fit; this counts each cut value and keeps it whole in the dead-letter
file, and sets the limit to the server's own once `/ping` said which release answers. History
(backfill jobs) keeps to the same limit and hands its cut values here too: one rule for every
point the target takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..target.server_info import ServerInfo
from .backlog import RunInExecutor
from .dead_letter import append_cut_values
from .serializer import CutValue, LineSerializer
from .settings import WriterSettings
from .stats import WriterStats


class CutStrings:
    """Counts and keeps the string values the serializer cut to the server's limit."""

    def __init__(
        self,
        serializer: LineSerializer,
        settings: WriterSettings,
        stats: WriterStats,
        dead_letter_path: Path,
        run_in_executor: RunInExecutor,
    ) -> None:
        self._serializer = serializer
        self._settings = settings
        self._stats = stats
        self._dead_letter_path = dead_letter_path
        self._run_in_executor = run_in_executor

    @property
    def limit_bytes(self) -> int:
        """The longest string value written now (UTF-8 bytes): the setting, or the server's own."""
        return self._serializer.string_limit_bytes

    async def keep(self) -> None:
        """Count the values the live serializer cut since the last call and keep them whole."""
        await self.keep_values(self._serializer.take_cut_values())

    async def keep_values(self, cut: Sequence[CutValue]) -> None:
        """Count values cut to `limit_bytes` (live or history) and keep them whole in the dead-letter file."""
        if cut:
            self._stats.string_values_cut += len(cut)
            await self._run_in_executor(
                append_cut_values,
                self._dead_letter_path,
                [(value.line, value.key, value.value) for value in cut],
                self._serializer.string_limit_bytes,
            )

    def adopt_server(self, server: ServerInfo) -> None:
        """The limit of the release that answers (`/ping`), unless the user set one."""
        if self._settings.string_limit_bytes == 0:
            self._serializer.use_string_limit(server.string_limit_bytes())
