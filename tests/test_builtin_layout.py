"""The built-in compatible layout against Home Assistant's own `influxdb` integration.

Both integrations run in the same Home Assistant, see the same events, and write to two
databases on the real InfluxDB 1.x; every series, field and type must be the same.
"""

from __future__ import annotations

from collections.abc import Callable
import math
from typing import Any
from unittest.mock import patch

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from .support.helpers import setup_entry, wait_for
from .support.servers import ADMIN_PASSWORD, ADMIN_USER, InfluxDB1Server

# A realistic mix: units, device classes, text and numeric states, digit tails, lists,
# None, booleans, a reserved `time` attribute, non-finite numbers, unknown/unavailable.
EVENTS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "sensor.temperature",
        "21.5",
        {"unit_of_measurement": "°C", "device_class": "temperature", "friendly_name": "T"},
    ),
    (
        "sensor.temperature",
        "22",
        {"unit_of_measurement": "°C", "device_class": "temperature", "friendly_name": "T"},
    ),
    (
        "sensor.power",
        "1200.7",
        {"unit_of_measurement": "W", "device_class": "power", "state_class": "measurement"},
    ),
    ("sensor.signal", "-67", {"unit_of_measurement": "dBm", "note": "12 dBm peak", "version": "1.2.3"}),
    ("binary_sensor.door", "on", {"device_class": "door", "friendly_name": "Door"}),
    ("binary_sensor.door", "off", {"device_class": "door", "friendly_name": "Door"}),
    (
        "light.kitchen",
        "on",
        {"brightness": 200, "rgb_color": [255, 10, 0], "effect": None, "friendly_name": "K"},
    ),
    ("switch.heater", "off", {"assumed_state": True, "friendly_name": "Heater"}),
    ("sensor.status", "running", {"time": "10:00", "icon": "mdi:run"}),
    ("sensor.weird", "12", {"huge": math.inf, "nan": math.nan, "neg": -0.0}),
    ("sensor.status", "unavailable", {}),
    ("sensor.status", "unknown", {}),
    (
        "climate.living",
        "heat",
        {"temperature": 21, "current_temperature": 20.5, "hvac_modes": ["off", "heat"]},
    ),
    ("sensor.no_unit", "3.14", {"friendly_name": "Pi"}),
]


def _dump(server: InfluxDB1Server, db: str) -> dict[str, Any]:
    """Every measurement with its field types and every point (tags and fields)."""
    measurements = server.query("SHOW MEASUREMENTS", db)["results"][0].get("series", [{"values": []}])[0][
        "values"
    ]
    result: dict[str, Any] = {}
    for (name,) in measurements:
        types = server.query(f'SHOW FIELD KEYS FROM "{name}"', db)["results"][0]["series"][0]["values"]
        rows = []
        for series in server.query(f'SELECT * FROM "{name}" GROUP BY *', db)["results"][0]["series"]:
            for values in series["values"]:
                point = {
                    key: value
                    for key, value in zip(series["columns"], values, strict=True)
                    if value is not None
                }
                rows.append({"tags": series["tags"], **point})
        result[name] = {"types": sorted(map(tuple, types)), "points": sorted(rows, key=repr)}
    return result


@pytest.mark.parametrize("measurement_attr", ["unit_of_measurement", "domain_device_class", "entity_id"])
async def test_builtin_layout_writes_what_the_builtin_integration_writes(
    hass: HomeAssistant, influxdb_v1: InfluxDB1Server, query: Callable[..., Any], measurement_attr: str
) -> None:
    builtin_db, ours_db = f"builtin_{measurement_attr}", f"ours_{measurement_attr}"
    for db in (builtin_db, ours_db):
        await hass.async_add_executor_job(influxdb_v1.query, f'DROP DATABASE "{db}"', None, "POST")
        await hass.async_add_executor_job(influxdb_v1.query, f'CREATE DATABASE "{db}"', None, "POST")

    builtin = MockConfigEntry(
        domain="influxdb",
        title="built-in",
        data={
            "api_version": "1",
            "host": "127.0.0.1",
            "port": influxdb_v1.port,
            "username": ADMIN_USER,
            "password": ADMIN_PASSWORD,
            "database": builtin_db,
            "ssl": False,
            "path": "/",
            "verify_ssl": False,
        },
    )
    builtin.add_to_hass(hass)
    # Both record the same entities (not, for instance, this integration's health sensors).
    recorded = sorted({entity_id for entity_id, _, _ in EVENTS})
    yaml = {
        "influxdb": {
            # The built-in integration's YAML spells our `domain_device_class` with "__".
            "measurement_attr": measurement_attr.replace("domain_device", "domain__device"),
            "default_measurement": "state",
            "include": {"entities": recorded},
        }
    }
    with patch("homeassistant.components.influxdb.conf_util.async_hass_config_yaml", return_value=yaml):
        assert await hass.config_entries.async_setup(builtin.entry_id)
    await setup_entry(
        hass,
        {
            "api_version": "1",
            "url": influxdb_v1.url,
            "database": ours_db,
            "username": ADMIN_USER,
            "password": ADMIN_PASSWORD,
        },
        {
            "layout": "builtin",
            "measurement_attr": measurement_attr,
            "default_measurement": "state",
            "include_entities": recorded,
        },
    )

    for entity_id, state, attributes in EVENTS:
        hass.states.async_set(entity_id, state, attributes)
    written = sum(1 for _, state, _ in EVENTS if state not in ("unknown", "unavailable"))

    def points(db: str) -> int:
        dump = _dump(influxdb_v1, db)
        return sum(len(measurement["points"]) for measurement in dump.values())

    async def both_complete() -> bool:
        counts = [await hass.async_add_executor_job(points, db) for db in (builtin_db, ours_db)]
        return counts == [written, written]

    await wait_for(both_complete, timeout=30)
    builtin_dump = await hass.async_add_executor_job(_dump, influxdb_v1, builtin_db)
    ours_dump = await hass.async_add_executor_job(_dump, influxdb_v1, ours_db)
    assert ours_dump == builtin_dump
    assert await hass.config_entries.async_unload(builtin.entry_id)
