"""Health sensors: what came in, what went out, what waits, and how the target is doing."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
import datetime as dt
from enum import StrEnum
from typing import Any

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import UnitOfInformation, UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .backfill_sensor import BackfillProgressSensor
from .const import DOMAIN
from .data import InfluxDBIngestConfigEntry
from .entity import IngestEntity
from .health import Connection, HealthSnapshot
from .pipeline.retry import CircuitState
from .query_sensor import query_sensors

# Entities only read a snapshot; the coordinator serializes updates.
PARALLEL_UPDATES = 0

type SensorValue = int | float | str | dt.datetime | None


@dataclass(frozen=True, kw_only=True)
class IngestSensorEntityDescription(SensorEntityDescription):
    """A health sensor and how to read it from a snapshot."""

    value_fn: Callable[[HealthSnapshot], SensorValue]
    attributes_fn: Callable[[HealthSnapshot], Mapping[str, Any]] | None = None
    # Meaningless while the target cannot be reached (the value describes the server).
    needs_connection: bool = False


def _count(
    key: str,
    value_fn: Callable[[HealthSnapshot], int],
    *,
    attributes_fn: Callable[[HealthSnapshot], Mapping[str, Any]] | None = None,
    state_class: SensorStateClass = SensorStateClass.TOTAL_INCREASING,
) -> IngestSensorEntityDescription:
    """A number of events or points, translated by its key; a total since start by default."""
    return IngestSensorEntityDescription(
        key=key,
        translation_key=key,
        state_class=state_class,
        value_fn=value_fn,
        attributes_fn=attributes_fn,
    )


def _state(
    key: str, states: type[StrEnum], value_fn: Callable[[HealthSnapshot], StrEnum]
) -> IngestSensorEntityDescription:
    """One of an enum's states, which are also the sensor's options and translation keys."""
    return IngestSensorEntityDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.ENUM,
        options=[state.value for state in states],
        value_fn=lambda health: value_fn(health).value,
    )


SENSORS: tuple[IngestSensorEntityDescription, ...] = (
    _count("events_received", lambda health: health.events_received),
    _count(
        "points_written",
        lambda health: health.points_written,
        # After a history import most points are history's, not live events': say which.
        attributes_fn=lambda health: {
            "from_history": health.points_from_history,
            "live": health.points_written - health.points_from_history,
        },
    ),
    _count(
        "points_dropped",
        lambda health: health.points_dropped,
        attributes_fn=lambda health: health.dropped_reasons,
    ),
    _count("points_dead_lettered", lambda health: health.points_dead_lettered),
    _count("write_errors", lambda health: health.write_errors),
    _count(
        "points_in_memory", lambda health: health.points_in_memory, state_class=SensorStateClass.MEASUREMENT
    ),
    _count(
        "points_in_spool", lambda health: health.points_in_spool, state_class=SensorStateClass.MEASUREMENT
    ),
    IngestSensorEntityDescription(
        key="spool_size",
        translation_key="spool_size",
        device_class=SensorDeviceClass.DATA_SIZE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfInformation.BYTES,
        # A point takes about 150 bytes: in MiB a spool of a hundred points shows 0.0.
        suggested_unit_of_measurement=UnitOfInformation.KIBIBYTES,
        suggested_display_precision=1,
        value_fn=lambda health: health.spool_bytes,
    ),
    IngestSensorEntityDescription(
        key="oldest_waiting_age",
        translation_key="oldest_waiting_age",
        device_class=SensorDeviceClass.DURATION,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        suggested_display_precision=0,
        entity_registry_enabled_default=False,
        value_fn=lambda health: round(health.oldest_waiting_age, 1) if health.oldest_waiting_age else 0,
    ),
    IngestSensorEntityDescription(
        key="last_write_latency",
        translation_key="last_write_latency",
        device_class=SensorDeviceClass.DURATION,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfTime.MILLISECONDS,
        suggested_display_precision=0,
        entity_registry_enabled_default=False,
        needs_connection=True,
        value_fn=lambda health: health.last_write_latency_ms,
    ),
    IngestSensorEntityDescription(
        key="event_rate",
        translation_key="event_rate",
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement="events/min",
        suggested_display_precision=0,
        entity_registry_enabled_default=False,
        value_fn=lambda health: health.event_rate,
    ),
    _state("connection", Connection, lambda health: health.connection),
    _state("circuit_state", CircuitState, lambda health: health.circuit_state),
)

LAST_WRITE = IngestSensorEntityDescription(
    key="last_write",
    translation_key="last_write",
    device_class=SensorDeviceClass.TIMESTAMP,
    value_fn=lambda health: health.last_write,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: InfluxDBIngestConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One set of health sensors per entry, and the backfill's progress."""
    coordinator = entry.runtime_data.coordinator
    # The connection sensor replaced a connectivity binary sensor (off for a missing
    # database as for a server down); its registry entry would linger as "not provided".
    registry = er.async_get(hass)
    if stale := registry.async_get_entity_id("binary_sensor", DOMAIN, f"{entry.entry_id}_connected"):
        registry.async_remove(stale)
    async_add_entities(IngestSensor(coordinator, description) for description in SENSORS)
    async_add_entities([LastWriteSensor(coordinator, LAST_WRITE)])
    async_add_entities([BackfillProgressSensor(coordinator, entry.runtime_data.backfill)])
    for subentry_id, entities in query_sensors(entry).items():
        async_add_entities(entities, config_subentry_id=subentry_id)


class IngestSensor(IngestEntity, SensorEntity):
    """A health sensor of one target."""

    entity_description: IngestSensorEntityDescription

    @property
    def available(self) -> bool:
        """Unavailable with the target only when the value describes the target."""
        if self.entity_description.needs_connection and not self.coordinator.data.connected:
            return False
        return super().available

    @property
    def native_value(self) -> SensorValue:
        """The value from the latest snapshot."""
        return self.entity_description.value_fn(self.coordinator.data)

    @property
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """Extra detail, such as why points were dropped."""
        if self.entity_description.attributes_fn is None:
            return None
        return self.entity_description.attributes_fn(self.coordinator.data)


class LastWriteSensor(IngestSensor, RestoreSensor):
    """When the target last took points: kept across restarts, and "never" said in words.

    Home Assistant shows a timestamp sensor without a value as "Unknown", which reads as
    "the integration does not know". The writer's time lives in memory only, so after a
    restart during an outage the sensor would say Unknown although points were written
    last week: the last value is restored instead. Unknown then means nothing was ever
    written to this entry's target, and the `written` attribute says so (translated "Never").
    """

    _restored: dt.datetime | None = None

    async def async_added_to_hass(self) -> None:
        """Take over the value the sensor had before the restart (or the reload)."""
        await super().async_added_to_hass()
        last = await self.async_get_last_sensor_data()
        if last is not None and isinstance(last.native_value, dt.datetime):
            self._restored = last.native_value

    @property
    def native_value(self) -> dt.datetime | None:
        """The last write of this run; before the first, the last one before the restart."""
        return self.coordinator.data.last_write or self._restored

    @property
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """`written: never` while nothing was ever written; nothing once something was."""
        return {"written": "never"} if self.native_value is None else None
