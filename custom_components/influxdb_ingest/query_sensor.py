"""Query sensors: one entity per `query_sensor` subentry, the value of a query run every so often.

Each runs on its own schedule as a background task of the entry, through the entry's query
client (one query at a time per target, with a timeout), so a slow server never delays the
writer, Home Assistant's start or another sensor by more than the queue it shares. It is
unavailable while its query fails, and logs once when it starts failing and once when it recovers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from homeassistant.components.sensor import SensorDeviceClass, SensorEntity, SensorStateClass
from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import TemplateError
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.template import Template
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .data import InfluxDBIngestConfigEntry
from .query.client import QueryError
from .query.sensor_config import (
    SENSOR_ROW_LIMIT,
    SUBENTRY_QUERY_SENSOR,
    EmptyAnswer,
    QuerySensorConfig,
    QueryStatus,
    is_template,
    pick_value,
)

_LOGGER = logging.getLogger(__name__)
# A query never runs longer than this, nor longer than its interval.
_MAX_TIMEOUT = 30.0


class QueryValueError(Exception):
    """The query's answer could not become the sensor's state (empty, template error)."""


def render_query(hass: HomeAssistant, config: QuerySensorConfig) -> str:
    """The statement to run, its template rendered (TemplateError when it cannot be)."""
    statement = config.statement
    if is_template(statement):
        return str(Template(statement, hass).async_render(parse_result=False))
    return statement


def sensor_value(hass: HomeAssistant, config: QuerySensorConfig, value: Any) -> Any:
    """The state for a picked value: through the value template, a number when the sensor is numeric."""
    if config.value_template:
        value = Template(config.value_template, hass).async_render_with_possible_json_value(str(value), None)
    if config.unit or config.state_class or (config.device_class not in (None, SensorDeviceClass.ENUM)):
        try:
            return float(value)
        except TypeError, ValueError:
            raise QueryValueError(f"not a number: {str(value)[:100]!r}") from None
    return value


async def async_run_sensor_query(
    hass: HomeAssistant,
    entry: InfluxDBIngestConfigEntry,
    config: QuerySensorConfig,
    timeout: float = _MAX_TIMEOUT,
) -> tuple[str, Any, float]:
    """Render, run and pick: (the query run, the sensor's value, the duration in ms).

    QueryError, EmptyAnswer, TemplateError or QueryValueError when it fails.
    """
    statement = render_query(hass, config)
    result = await entry.runtime_data.queries.run(
        config.language, statement, limit=SENSOR_ROW_LIMIT, timeout=timeout
    )
    return statement, sensor_value(hass, config, pick_value(result.rows)), result.duration_ms


def query_sensors(entry: InfluxDBIngestConfigEntry) -> dict[str, list[QuerySensor]]:
    """One sensor per query sensor subentry, keyed by subentry id (for `config_subentry_id`)."""
    return {
        subentry_id: [QuerySensor(entry, subentry)]
        for subentry_id, subentry in entry.subentries.items()
        if subentry.subentry_type == SUBENTRY_QUERY_SENSOR
    }


class QuerySensor(SensorEntity):
    """The value of one query, refreshed every scan interval."""

    _attr_has_entity_name = True
    _attr_name = None
    _attr_should_poll = False

    def __init__(self, entry: InfluxDBIngestConfigEntry, subentry: ConfigSubentry) -> None:
        self._entry = entry
        self._config = QuerySensorConfig.from_data(subentry.data, entry.data.get("bucket", ""))
        self._subentry_id = subentry.subentry_id
        self.status = QueryStatus(query=self._config.statement)
        self._running: asyncio.Task[None] | None = None
        self._attr_unique_id = f"{entry.entry_id}_{subentry.subentry_id}"
        self._attr_native_unit_of_measurement = self._config.unit
        self._attr_device_class = (
            SensorDeviceClass(self._config.device_class) if self._config.device_class else None
        )
        self._attr_state_class = (
            SensorStateClass(self._config.state_class) if self._config.state_class else None
        )
        self._attr_available = False
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, f"{entry.entry_id}_{subentry.subentry_id}")},
            name=subentry.title,
            manufacturer="InfluxDB Ingest",
            model="Query sensor",
            entry_type=DeviceEntryType.SERVICE,
        )

    async def async_added_to_hass(self) -> None:
        """Run the query now (in the background) and every scan interval."""
        self._entry.runtime_data.query_sensors[self._subentry_id] = self.status
        self.async_on_remove(
            async_track_time_interval(
                self.hass, self._async_schedule, dt.timedelta(seconds=self._config.scan_interval)
            )
        )
        self._async_schedule()

    async def async_will_remove_from_hass(self) -> None:
        """Forget the status; a query on its way is cancelled with the task."""
        self._entry.runtime_data.query_sensors.pop(self._subentry_id, None)
        if self._running is not None:
            self._running.cancel()

    @callback
    def _async_schedule(self, _now: dt.datetime | None = None) -> None:
        if self._running is not None and not self._running.done():
            return  # the last run is still waiting for the server: never stack them
        if self._entry.runtime_data.stopped:
            return  # Home Assistant is stopping: its shared HTTP session is about to close
        self._running = self._entry.async_create_background_task(
            self.hass, self.async_refresh(), f"{self._entry.title} query sensor {self.entity_id}"
        )

    async def async_refresh(self) -> None:
        """Run the query once and take its value, or become unavailable."""
        timeout = min(_MAX_TIMEOUT, float(self._config.scan_interval))
        try:
            statement, value, duration_ms = await async_run_sensor_query(
                self.hass, self._entry, self._config, timeout
            )
        except (QueryError, EmptyAnswer, TemplateError, QueryValueError) as err:
            self._failed(str(err))
        else:
            self.status.query, self.status.last_duration_ms = statement, round(duration_ms, 1)
            self.status.last_success, self.status.last_error = dt_util.utcnow().isoformat(), None
            if self.status.failing:
                _LOGGER.info("Query sensor %s works again", self.entity_id)
            self.status.consecutive_failures = 0
            self._attr_native_value = value
            self._attr_available = True
        self.async_write_ha_state()

    def _failed(self, error: str) -> None:
        self.status.last_error = error
        if not self.status.failing:
            _LOGGER.warning("Query sensor %s is unavailable: %s", self.entity_id, error)
        self.status.consecutive_failures += 1
        self._attr_available = False
