"""Registry enrichment: extra tags and fields, following registry changes at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    area_registry as ar,
    device_registry as dr,
    entity_registry as er,
    floor_registry as fr,
    label_registry as lr,
)
from pytest_homeassistant_custom_component.common import MockConfigEntry

from .support.helpers import MEASUREMENT, setup_entry, wait_for

ALL = ["area_id", "device_id", "area", "floor", "device", "labels", "platform", "unit", "device_info"]


async def test_points_carry_registry_tags_and_follow_an_area_move_without_restart(
    hass: HomeAssistant, v1_config: dict[str, Any], database: str, query: Callable[..., Any]
) -> None:
    demo = MockConfigEntry(domain="demo")
    demo.add_to_hass(hass)
    ground = fr.async_get(hass).async_create("Ground floor")
    kitchen = ar.async_get(hass).async_create("Kitchen", floor_id=ground.floor_id)
    garage = ar.async_get(hass).async_create("Garage")
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=demo.entry_id,
        identifiers={("demo", "meter")},
        name="Power meter",
        manufacturer="Acme",
        model="PM-1",
        sw_version="2.0.1",
    )
    dr.async_get(hass).async_update_device(device.id, area_id=kitchen.id)
    energy = lr.async_get(hass).async_create("Energy")
    critical = lr.async_get(hass).async_create("Critical, really")
    entity = er.async_get(hass).async_get_or_create(
        "sensor",
        "demo",
        "meter-power",
        suggested_object_id="meter_power",
        device_id=device.id,
        unit_of_measurement="W",
    )
    er.async_get(hass).async_update_entity(entity.entity_id, labels={energy.label_id, critical.label_id})
    await setup_entry(hass, v1_config, {"enrich": ALL, "flush_interval": 0.1})

    hass.states.async_set("sensor.meter_power", "120", {"unit_of_measurement": "W"})

    async def rows(expected: int) -> list[dict[str, Any]] | None:
        found = await query(f"SELECT * FROM {MEASUREMENT} GROUP BY *", database)
        return sorted(found, key=lambda row: row["time"]) if len(found) >= expected else None

    first = (await wait_for(lambda: rows(1)))[0]
    assert {
        key: first[key] for key in ("area", "floor", "device", "labels", "platform", "unit", "area_id")
    } == {
        "area": "Kitchen",
        "floor": "Ground floor",
        "device": "Power meter",
        "labels": "Critical, really,Energy",
        "platform": "demo",
        "unit": "W",
        "area_id": kitchen.id,
    }
    assert (first["manufacturer"], first["model"], first["sw_version"]) == ("Acme", "PM-1", "2.0.1")

    # Move the device to the garage and rename it; the very next point says so.
    dr.async_get(hass).async_update_device(device.id, area_id=garage.id, name_by_user="Main meter")
    hass.states.async_set("sensor.meter_power", "130", {"unit_of_measurement": "W"})
    second = (await wait_for(lambda: rows(2)))[1]
    assert (second["area"], second["area_id"], second["device"]) == ("Garage", garage.id, "Main meter")
    assert not second.get("floor")  # the garage is on no floor: no tag


async def test_without_enrichment_only_the_foundation_tags_are_written(
    hass: HomeAssistant, v1_config: dict[str, Any], database: str, query: Callable[..., Any]
) -> None:
    await setup_entry(hass, v1_config, {"flush_interval": 0.1})
    hass.states.async_set("sensor.plain", "1", {"unit_of_measurement": "W"})
    (row,) = await wait_for(lambda: query(f"SELECT * FROM {MEASUREMENT} GROUP BY *", database))
    assert "unit" not in row
    assert "platform" not in row
