"""Record by area, floor, device and label: every condition narrows, and registry changes apply at once.

The selection runs against Home Assistant's real registries; the end-to-end test writes
through the real InfluxDB 1.x with the options set in the options flow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import (
    area_registry as ar,
    device_registry as dr,
    entity_registry as er,
    floor_registry as fr,
    label_registry as lr,
)
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.influxdb_ingest.pipeline.filters import EntitySelection

from .support.helpers import MEASUREMENT, settings_input, setup_entry, wait_for

ENTITIES = ("sensor.meter_power", "sensor.meter_voltage", "light.lamp", "switch.plug", "sensor.unregistered")


@dataclass(frozen=True)
class House:
    """Registry ids of the test house."""

    ground: str
    kitchen: str
    garage: str
    living: str
    meter: str
    no_influx: str


def _build_house(hass: HomeAssistant) -> House:
    """A floor with two areas, an area without floor, a device, a label.

    sensor.meter_power: the meter's, in the kitchen through its device (ground floor);
    sensor.meter_voltage: the meter's, but its own area is the garage (no floor);
    light.lamp: no device, in the living room (ground floor); switch.plug: nowhere,
    labelled no_influx; sensor.unregistered: not in the registry at all.
    """
    demo = MockConfigEntry(domain="demo")
    demo.add_to_hass(hass)
    ground = fr.async_get(hass).async_create("Ground floor")
    areas = ar.async_get(hass)
    kitchen = areas.async_create("Kitchen", floor_id=ground.floor_id)
    garage = areas.async_create("Garage")
    living = areas.async_create("Living room", floor_id=ground.floor_id)
    devices = dr.async_get(hass)
    meter = devices.async_get_or_create(
        config_entry_id=demo.entry_id, identifiers={("demo", "meter")}, name="Meter"
    )
    devices.async_update_device(meter.id, area_id=kitchen.id)
    no_influx = lr.async_get(hass).async_create("No influx")
    entities = er.async_get(hass)
    for domain, unique_id, device_id in (
        ("sensor", "meter_power", meter.id),
        ("sensor", "meter_voltage", meter.id),
        ("light", "lamp", None),
        ("switch", "plug", None),
    ):
        entities.async_get_or_create(
            domain, "demo", unique_id, suggested_object_id=unique_id, device_id=device_id, config_entry=demo
        )
    # An entity of a device may have an area of its own only with a name of its own.
    entities.async_update_entity("sensor.meter_voltage", name="Voltage", area_id=garage.id)
    entities.async_update_entity("light.lamp", area_id=living.id)
    entities.async_update_entity("switch.plug", labels={no_influx.label_id})
    return House(ground.floor_id, kitchen.id, garage.id, living.id, meter.id, no_influx.label_id)


def _selected(hass: HomeAssistant, options: dict[str, Any]) -> set[str]:
    selection = EntitySelection(hass, options)
    return {entity_id for entity_id in ENTITIES if selection(entity_id)}


# (options built from the house, what is recorded)
CASES: dict[str, tuple[Callable[[House], dict[str, Any]], set[str]]] = {
    "nothing set: everything": (lambda h: {}, set(ENTITIES)),
    "area through the device": (lambda h: {"include_areas": [h.kitchen]}, {"sensor.meter_power"}),
    "floor through the area": (
        lambda h: {"include_floors": [h.ground]},
        {"sensor.meter_power", "light.lamp"},
    ),
    "device, whatever the entity's own area": (
        lambda h: {"include_devices": [h.meter]},
        {"sensor.meter_power", "sensor.meter_voltage"},
    ),
    "label": (lambda h: {"include_labels": [h.no_influx]}, {"switch.plug"}),
    "registry includes: any of them": (
        lambda h: {"include_areas": [h.garage], "include_labels": [h.no_influx]},
        {"sensor.meter_voltage", "switch.plug"},
    ),
    "registry exclude": (
        lambda h: {"exclude_floors": [h.ground]},
        {"sensor.meter_voltage", "switch.plug", "sensor.unregistered"},
    ),
    "label exclude": (lambda h: {"exclude_labels": [h.no_influx]}, set(ENTITIES) - {"switch.plug"}),
    "domain and floor narrow each other": (
        lambda h: {"include_domains": ["sensor"], "include_floors": [h.ground]},
        {"sensor.meter_power"},
    ),
    "include then exclude": (
        lambda h: {"include_devices": [h.meter], "exclude_areas": [h.garage]},
        {"sensor.meter_power"},
    ),
    "an included entity must match the registry includes too": (
        lambda h: {"include_entities": ["switch.plug"], "include_areas": [h.kitchen]},
        set(),
    ),
    "glob exclude and area include": (
        lambda h: {"exclude_entity_globs": ["*_voltage"], "include_devices": [h.meter]},
        {"sensor.meter_power"},
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_every_condition_narrows_the_selection(hass: HomeAssistant, case: str) -> None:
    house = _build_house(hass)
    options, expected = CASES[case]
    assert _selected(hass, options(house)) == expected


async def test_registry_changes_apply_to_the_cached_decisions(hass: HomeAssistant) -> None:
    house = _build_house(hass)
    selection = EntitySelection(hass, {"include_floors": [house.ground], "exclude_labels": [house.no_influx]})
    unsubscribe = selection.async_listen()
    assert [selection(entity_id) for entity_id in ENTITIES] == [True, False, True, False, False]

    # The device moves to the garage (no floor): its entity without an area of its own follows.
    dr.async_get(hass).async_update_device(house.meter, area_id=house.garage)
    await hass.async_block_till_done()
    assert not selection("sensor.meter_power")
    # The garage is put on the ground floor.
    ar.async_get(hass).async_update(house.garage, floor_id=house.ground)
    await hass.async_block_till_done()
    assert selection("sensor.meter_power")
    assert selection("sensor.meter_voltage")
    # A label that is excluded.
    er.async_get(hass).async_update_entity("light.lamp", labels={house.no_influx})
    await hass.async_block_till_done()
    assert not selection("light.lamp")
    # The area is deleted: the lamp had only its own area, now none.
    er.async_get(hass).async_update_entity("light.lamp", labels=set())
    ar.async_get(hass).async_delete(house.living)
    await hass.async_block_till_done()
    assert not selection("light.lamp")

    assert selection("sensor.meter_power")
    unsubscribe()
    fr.async_get(hass).async_delete(house.ground)
    await hass.async_block_till_done()
    assert selection("sensor.meter_power")  # no longer listening: the cached decision stays


async def test_options_flow_records_by_area_and_label_and_follows_a_device_move(
    hass: HomeAssistant, v1_config: dict[str, Any], database: str, query: Callable[..., Any]
) -> None:
    house = _build_house(hass)
    entry = await setup_entry(hass, v1_config, {"flush_interval": 0.1})
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "settings"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        settings_input(
            {
                "include_areas": [house.kitchen, house.living],
                "exclude_labels": [house.no_influx],
                "flush_interval": 0.1,
            }
        ),
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()  # reloaded with the new options

    async def recorded(expected: int) -> list[str] | None:
        rows = await query(f"SELECT state, entity_id FROM {MEASUREMENT}", database)
        return sorted(row["entity_id"] for row in rows) if len(rows) >= expected else None

    for entity_id in ENTITIES:
        hass.states.async_set(entity_id, "1")
    assert await wait_for(lambda: recorded(2)) == ["light.lamp", "sensor.meter_power"]

    # The meter moves to the garage, the plug loses its label and goes to the kitchen.
    dr.async_get(hass).async_update_device(house.meter, area_id=house.garage)
    er.async_get(hass).async_update_entity("switch.plug", labels=set(), area_id=house.kitchen)
    await hass.async_block_till_done()
    for entity_id in ENTITIES:
        hass.states.async_set(entity_id, "2")
    assert await wait_for(lambda: recorded(4)) == [
        "light.lamp",
        "light.lamp",
        "sensor.meter_power",
        "switch.plug",
    ]
