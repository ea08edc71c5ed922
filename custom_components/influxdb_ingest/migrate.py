"""Moving over from Home Assistant's built-in `influxdb` integration.

Reads its config entry (connection) and its YAML settings (filters, tags, measurements)
and turns them into this integration's entry data and options, with the built-in
compatible layout so existing dashboards keep working.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant import config as conf_util
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from .const import CONF_API_VERSION, CONF_BUCKET, CONF_DATABASE, CONF_ORG, CONF_RETENTION_POLICY, ApiVersion
from .lines.normalize_builtin import BUILTIN_DOMAIN_DEVICE_CLASS, DOMAIN_DEVICE_CLASS

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
