"""The backfill as a sensor: idle, running, finished...; percent done, points and the ETA as attributes."""

from __future__ import annotations

from collections.abc import Mapping
import datetime as dt
from typing import Any

from homeassistant.components.sensor import SensorDeviceClass, SensorEntity, SensorEntityDescription
from homeassistant.util import dt as dt_util

from .coordinator import IngestCoordinator
from .entity import IngestEntity
from .history.backfill import BackfillManager
from .history.backfill_job import JobStatus

BACKFILL_PROGRESS = SensorEntityDescription(
    key="backfill_progress",
    translation_key="backfill_progress",
    device_class=SensorDeviceClass.ENUM,
    options=[status.value for status in JobStatus],
)
# A job in these states moves on by itself: its finish can be estimated.
_UNDER_WAY = frozenset({JobStatus.RUNNING, JobStatus.WAITING})


class BackfillProgressSensor(IngestEntity, SensorEntity):
    """The status of the running (or last) backfill job; updated by the job, not by polling."""

    def __init__(self, coordinator: IngestCoordinator, backfill: BackfillManager) -> None:
        super().__init__(coordinator, BACKFILL_PROGRESS)
        self._backfill = backfill

    async def async_added_to_hass(self) -> None:
        """Follow the job's progress."""
        await super().async_added_to_hass()
        self.async_on_remove(self._backfill.async_add_listener(self.async_write_ha_state))

    @property
    def native_value(self) -> str:
        """Idle before the first job; then the running or last job's status."""
        return self._backfill.progress.status.value

    @property
    def extra_state_attributes(self) -> Mapping[str, Any]:
        """Only what applies: nothing when idle, no finish once ended, an error only when failed."""
        progress = self._backfill.progress
        if progress.status is JobStatus.IDLE:
            return {}
        attributes: dict[str, Any] = {
            "percent_done": progress.percent,
            "source": progress.kind.value if progress.kind else None,
            "points_written": progress.points,
        }
        if progress.queued:
            attributes["jobs_queued"] = progress.queued
        if progress.status in _UNDER_WAY and progress.seconds_left is not None:
            finish = dt_util.utcnow() + dt.timedelta(seconds=round(progress.seconds_left))
            attributes["estimated_finish"] = finish.isoformat()
        if progress.error:
            attributes["error"] = progress.error
        return attributes
