"""The backfill's progress as a sensor: percent done, with points written and the ETA as attributes."""

from __future__ import annotations

from collections.abc import Mapping
import datetime as dt
from typing import Any

from homeassistant.components.sensor import SensorEntity, SensorEntityDescription
from homeassistant.const import PERCENTAGE
from homeassistant.util import dt as dt_util

from .coordinator import IngestCoordinator
from .entity import IngestEntity
from .history.backfill import BackfillManager
from .history.backfill_job import JobStatus

BACKFILL_PROGRESS = SensorEntityDescription(
    key="backfill_progress",
    translation_key="backfill_progress",
    native_unit_of_measurement=PERCENTAGE,
    suggested_display_precision=1,
)


class BackfillProgressSensor(IngestEntity, SensorEntity):
    """Percent of the running (or last) backfill job; updated by the job, not by polling."""

    def __init__(self, coordinator: IngestCoordinator, backfill: BackfillManager) -> None:
        super().__init__(coordinator, BACKFILL_PROGRESS)
        self._backfill = backfill

    async def async_added_to_hass(self) -> None:
        """Follow the job's progress."""
        await super().async_added_to_hass()
        self.async_on_remove(self._backfill.async_add_listener(self.async_write_ha_state))

    @property
    def native_value(self) -> float | None:
        """Percent done; none before the first job."""
        return self._backfill.progress.percent

    @property
    def extra_state_attributes(self) -> Mapping[str, Any]:
        """Status, source, points written, jobs queued behind, ETA and why it stopped."""
        progress = self._backfill.progress
        finish: dt.datetime | None = None
        if progress.seconds_left is not None and progress.status is not JobStatus.FINISHED:
            finish = dt_util.utcnow() + dt.timedelta(seconds=round(progress.seconds_left))
        return {
            "status": progress.status.value,
            "source": progress.kind.value if progress.kind else None,
            "points_written": progress.points,
            "jobs_queued": progress.queued,
            "estimated_finish": finish.isoformat() if finish else None,
            "error": progress.error,
        }
