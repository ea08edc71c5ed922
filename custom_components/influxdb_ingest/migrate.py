"""Moving over from Home Assistant's built-in `influxdb` integration.

Reads its config entry (connection) and its YAML settings (filters, tags, measurements)
and turns them into this integration's entry data and options, with the built-in
compatible layout so existing dashboards keep working. Its YAML query sensors (`sensor:`
platform `influxdb`, `queries` and `queries_flux`) become query sensor subentries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import datetime as dt
from typing import Any

from homeassistant import config as conf_util
from homeassistant.config_entries import ConfigEntry, ConfigSubentryData
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from .const import CONF_API_VERSION, CONF_BUCKET, CONF_DATABASE, CONF_ORG, CONF_RETENTION_POLICY, ApiVersion
from .lines.normalize_builtin import BUILTIN_DOMAIN_DEVICE_CLASS, DOMAIN_DEVICE_CLASS
from .query.sensor_config import (
    CONF_LANGUAGE,
    CONF_QUERY,
    CONF_SCAN_INTERVAL,
    CONF_UNIT,
    CONF_VALUE_TEMPLATE,
    DEFAULT_SCAN_INTERVAL,
    SUBENTRY_QUERY_SENSOR,
)
from .query.statement import Language

BUILTIN_DOMAIN = "influxdb"


def builtin_entry(hass: HomeAssistant) -> ConfigEntry | None:
    """The built-in integration's config entry, if it is configured."""
    entries = hass.config_entries.async_entries(BUILTIN_DOMAIN)
    return entries[0] if entries else None


def entry_data_from_builtin(data: Mapping[str, Any]) -> dict[str, Any]:
    """Our entry data for the built-in entry's connection."""
    if str(data.get("api_version", "1")) == "2":
        return {
            CONF_API_VERSION: ApiVersion.V2.value,
            "url": str(data["url"]).rstrip("/"),
            CONF_ORG: data.get("organization", ""),
            CONF_BUCKET: data.get("bucket", ""),
            "token": data.get("token", ""),
            "verify_ssl": bool(data.get("verify_ssl", True)),
        }
    scheme = "https" if data.get("ssl") else "http"
    path = str(data.get("path") or "").rstrip("/")
    result: dict[str, Any] = {
        CONF_API_VERSION: ApiVersion.V1.value,
        "url": f"{scheme}://{data.get('host', 'localhost')}:{data.get('port', 8086)}{path}",
        CONF_DATABASE: data.get("database", "home_assistant"),
        "verify_ssl": bool(data.get("verify_ssl", True)),
    }
    for key in ("username", "password", CONF_RETENTION_POLICY):
        if data.get(key):
            result[key] = data[key]
    return result


def options_from_builtin_yaml(conf: Mapping[str, Any]) -> dict[str, Any]:
    """Our options for the built-in integration's YAML settings (`influxdb:`)."""
    include = conf.get("include") or {}
    exclude = conf.get("exclude") or {}
    overrides: dict[str, Any] = {}
    for section in ("component_config_domain", "component_config_glob", "component_config"):
        overrides.update(conf.get(section) or {})
    measurement_attr = conf.get("measurement_attr", "unit_of_measurement")
    if measurement_attr == BUILTIN_DOMAIN_DEVICE_CLASS:
        measurement_attr = DOMAIN_DEVICE_CLASS
    options: dict[str, Any] = {
        "layout": "builtin",
        "measurement_attr": measurement_attr,
        "include_domains": list(include.get("domains", [])),
        "include_entities": list(include.get("entities", [])),
        "include_entity_globs": list(include.get("entity_globs", [])),
        "exclude_domains": list(exclude.get("domains", [])),
        "exclude_entities": list(exclude.get("entities", [])),
        "exclude_entity_globs": list(exclude.get("entity_globs", [])),
        "ignore_attributes": list(conf.get("ignore_attributes", [])),
        "tags_attributes": list(conf.get("tags_attributes", [])),
        "tags": [f"{key}={value}" for key, value in (conf.get("tags") or {}).items()],
        "overrides": {key: dict(value) for key, value in overrides.items()},
    }
    for key in ("default_measurement", "override_measurement"):
        if conf.get(key):
            options[key] = conf[key]
    return options


async def async_builtin_yaml(hass: HomeAssistant) -> Mapping[str, Any]:
    """The `influxdb:` section of configuration.yaml (empty when absent or unreadable)."""
    try:
        config = await conf_util.async_hass_config_yaml(hass)
    except HomeAssistantError:
        return {}
    section = config.get(BUILTIN_DOMAIN)
    return section if isinstance(section, Mapping) else {}


def _text(value: Any) -> str:
    """A YAML value as text: a validated template (`cv.template`) gives its source."""
    return str(getattr(value, "template", value))


def _seconds(value: Any) -> int:
    """The platform's `scan_interval` (seconds, or a timedelta once validated); by default 60 s."""
    if isinstance(value, dt.timedelta):
        return max(10, int(value.total_seconds()))
    if isinstance(value, int | float):
        return max(10, int(value))
    return DEFAULT_SCAN_INTERVAL


def _influxql(query: Mapping[str, Any], database: str) -> str:
    """The statement the built-in runs (sensor.py, InfluxQLSensorData.update), its `where` template kept.

    A query of another database than the target's names it: InfluxQL's `"db"..measurement`.
    """
    measurement = _text(query["measurement"])
    if (other := query.get("database")) and other != database:
        measurement = '"' + str(other).replace('"', '\\"') + '"..' + measurement
    group, field = query.get("group_function") or "mean", query.get("field") or "value"
    return f"select {group}({field}) as value from {measurement} where {_text(query['where'])}"  # noqa: S608


def _flux(query: Mapping[str, Any], bucket: str) -> str:
    """The query the built-in runs (sensor.py, InfluxFluxSensorData), its `query` template kept."""
    start, stop = query.get("range_start") or "-15m", query.get("range_stop") or "now()"
    prefix = f'from(bucket:"{query.get("bucket") or bucket}") |> range(start: {start}, stop: {stop}) |>'
    for name in query.get("imports") or ():
        prefix = f'import "{name}" {prefix}'
    group = query.get("group_function")
    postfix = "|> limit(n: 1)" if group is None else f'|> {group}(column: "_value")'
    return f"{prefix} {_text(query['query'])} {postfix}"


def query_subentries_from_builtin_yaml(
    platforms: Iterable[Mapping[str, Any]], database: str = "", bucket: str = ""
) -> list[ConfigSubentryData]:
    """Query sensor subentries for the built-in's `sensor: - platform: influxdb` configurations.

    Takes raw YAML or what the built-in's own PLATFORM_SCHEMA made of it; names, units,
    value templates, group functions, `where` and Flux templates are kept as the built-in
    used them, so each sensor answers what it answered before.
    """
    subentries: list[ConfigSubentryData] = []
    for platform in platforms:
        interval = _seconds(platform.get("scan_interval"))
        sensors = [(Language.INFLUXQL, query) for query in platform.get("queries") or ()]
        sensors += [(Language.FLUX, query) for query in platform.get("queries_flux") or ()]
        for language, query in sensors:
            statement = _influxql(query, database) if language is Language.INFLUXQL else _flux(query, bucket)
            data: dict[str, Any] = {
                CONF_LANGUAGE: language.value,
                CONF_QUERY: statement,
                CONF_SCAN_INTERVAL: interval,
            }
            if query.get("unit_of_measurement"):
                data[CONF_UNIT] = query["unit_of_measurement"]
            if query.get("value_template") is not None:
                data[CONF_VALUE_TEMPLATE] = _text(query["value_template"])
            subentries.append(
                ConfigSubentryData(
                    data=data,
                    subentry_type=SUBENTRY_QUERY_SENSOR,
                    title=str(query["name"]),
                    unique_id=query.get("unique_id"),
                )
            )
    return subentries


async def async_builtin_query_sensors(
    hass: HomeAssistant, data: Mapping[str, Any]
) -> list[ConfigSubentryData]:
    """The built-in's YAML query sensors as subentries of an entry with `data` (none when unreadable)."""
    try:
        config = await conf_util.async_hass_config_yaml(hass)
    except HomeAssistantError:
        return []
    platforms = [
        conf for name, conf in conf_util.config_per_platform(config, "sensor") if name == BUILTIN_DOMAIN
    ]
    return query_subentries_from_builtin_yaml(
        platforms, database=str(data.get(CONF_DATABASE, "")), bucket=str(data.get(CONF_BUCKET, ""))
    )
