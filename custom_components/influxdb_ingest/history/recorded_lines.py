"""Recorded states as the lines their live events made: the entry's layout, budget and string limit.

A backfilled point must be its live twin, so a job serializes with a serializer of its own
(its line caches and per-entity times are the job's) built from the live writer's settings,
its column budget and its string limit, which follows the server's release once `/ping`
named it. The values it cuts are handed back with each window, to be counted and kept whole
like live ones (pipeline/string_limit.py). A state that fails to serialize is counted as
dropped and logged, never fatal to the job.
"""

from __future__ import annotations

from collections.abc import Callable
import logging
from typing import Any

from homeassistant.core import Event

from ..lines.metadata import EntityMetadata
from ..pipeline.log_throttle import LogThrottle
from ..pipeline.serializer import CutValue, make_serializer
from ..pipeline.stats import DropReason
from ..pipeline.writer import BatchWriter

_LOGGER = logging.getLogger(__name__)


class RecordedLines:
    """The lines of one job's recorded states, in the entry's layout, strings cut as live ones are."""

    def __init__(
        self, writer: BatchWriter, lookup_metadata: Callable[[str], EntityMetadata], log: LogThrottle
    ) -> None:
        self._serializer = make_serializer(writer.settings, lookup_metadata, writer.columns)
        self._lane = writer.backfill
        self._stats = writer.stats
        self._log = log  # the entry's, across jobs: one failing entity logs once a minute

    def keep_to_live_limit(self) -> None:
        """Cut from now on to the limit live lines keep to (the server may have named its release)."""
        if (limit := self._lane.string_limit_bytes) != self._serializer.string_limit_bytes:
            self._serializer.use_string_limit(limit)

    def line(self, event: Event[Any]) -> str | None:
        """The line (without newline) of a recorded state, or None: not recorded, or it failed."""
        try:
            return self._serializer.line(event)
        except Exception:
            self._stats.drop(DropReason.UNSERIALIZABLE)
            if self._log.due():
                _LOGGER.exception(
                    "Cannot serialize a recorded state of %s; it is left out (counted as dropped)",
                    event.data.get("entity_id"),
                )
            return None

    def take_cut_values(self) -> list[CutValue]:
        """The values cut since the last call, whole, each with the line written with it cut."""
        return self._serializer.take_cut_values()
