"""Config flow: pick the InfluxDB flavour, enter the target, prove it accepts writes."""

from __future__ import annotations

import logging
from typing import Any

from homeassistant.config_entries import ConfigFlow, ConfigFlowResult
from homeassistant.const import CONF_PASSWORD, CONF_TOKEN, CONF_URL, CONF_USERNAME, CONF_VERIFY_SSL
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import voluptuous as vol
from yarl import URL

from .const import (
    CONF_API_VERSION,
    CONF_BUCKET,
    CONF_DATABASE,
    CONF_ORG,
    CONF_RETENTION_POLICY,
    DOMAIN,
    VALIDATE_TIMEOUT,
    ApiVersion,
)
from .influx_api import (
    CannotConnect,
    InfluxClient,
    InfluxTarget,
    InvalidAuth,
    NoWritePermission,
    OrgNotFound,
    SSLFailure,
    TargetNotFound,
)

_LOGGER = logging.getLogger(__name__)

_URL = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
_TEXT = TextSelector()
_SECRET = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))

# One form per flavour: the fields its write API needs.
# Typed as Any: Home Assistant swaps voluptuous for probatio at run time.
_SCHEMAS: dict[ApiVersion, Any] = {
    ApiVersion.V1: vol.Schema(
        {
            vol.Required(CONF_URL, default="http://localhost:8086"): _URL,
            vol.Required(CONF_DATABASE, default="home_assistant"): _TEXT,
            vol.Optional(CONF_RETENTION_POLICY): _TEXT,
            vol.Optional(CONF_USERNAME): _TEXT,
            vol.Optional(CONF_PASSWORD): _SECRET,
            vol.Required(CONF_VERIFY_SSL, default=True): bool,
        }
    ),
    ApiVersion.V2: vol.Schema(
        {
            vol.Required(CONF_URL, default="http://localhost:8086"): _URL,
            vol.Required(CONF_ORG): _TEXT,
            vol.Required(CONF_BUCKET, default="home_assistant"): _TEXT,
            vol.Required(CONF_TOKEN): _SECRET,
            vol.Required(CONF_VERIFY_SSL, default=True): bool,
        }
    ),
    ApiVersion.V3: vol.Schema(
        {
            vol.Required(CONF_URL, default="http://localhost:8181"): _URL,
            vol.Required(CONF_DATABASE, default="home_assistant"): _TEXT,
            vol.Required(CONF_TOKEN): _SECRET,
            vol.Required(CONF_VERIFY_SSL, default=True): bool,
        }
    ),
}


def _valid_url(url: str) -> bool:
    try:
        parsed = URL(url)
    except ValueError:
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.host) and not parsed.user


async def async_validate_target(client: InfluxClient) -> str | None:
    """Try an empty write; return the translation key of the form error, or None."""
    try:
        await client.check_write_access(VALIDATE_TIMEOUT)
    except SSLFailure:
        return "ssl_error"
    except CannotConnect:
        return "cannot_connect"
    except InvalidAuth:
        return "invalid_auth"
    except NoWritePermission:
        return "no_write_permission"
    except OrgNotFound:
        return "org_not_found"
    except TargetNotFound:
        return "bucket_not_found" if client.target.api_version is ApiVersion.V2 else "database_not_found"
    except Exception:
        # Exception texts carry the server's message and the URL, never a credential.
        _LOGGER.exception("Unexpected error while checking %s", client.target.title)
        return "unknown"
    return None


class InfluxDBIngestConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up one InfluxDB target per entry."""

    VERSION = 1

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Choose the InfluxDB flavour."""
        return self.async_show_menu(step_id="user", menu_options=["v1", "v2", "v3"])

    async def async_step_v1(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """InfluxDB 1.x: database, retention policy, optional user."""
        return await self._async_step_target(ApiVersion.V1, user_input)

    async def async_step_v2(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """InfluxDB 2.x (and 1.8+/3.x through their v2 compatibility API)."""
        return await self._async_step_target(ApiVersion.V2, user_input)

    async def async_step_v3(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """InfluxDB 3.x: database and token."""
        return await self._async_step_target(ApiVersion.V3, user_input)

    async def _async_step_target(
        self, api_version: ApiVersion, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        schema: Any = _SCHEMAS[api_version]
        if user_input is not None:
            data = {CONF_API_VERSION: api_version.value, **user_input}
            data[CONF_URL] = str(user_input[CONF_URL]).strip().rstrip("/")
            if not _valid_url(data[CONF_URL]):
                errors[CONF_URL] = "invalid_url"
            else:
                target = InfluxTarget.from_config(data)
                await self.async_set_unique_id(target.unique_id)
                self._abort_if_unique_id_configured()
                session = async_get_clientsession(self.hass, verify_ssl=target.verify_ssl)
                error = await async_validate_target(InfluxClient(session, target))
                if error is None:
                    return self.async_create_entry(title=target.title, data=data)
                errors["base"] = error
            # Echo back what was typed so the user can correct it, except the secrets.
            shown = {k: v for k, v in user_input.items() if k not in (CONF_PASSWORD, CONF_TOKEN)}
            schema = self.add_suggested_values_to_schema(schema, shown)
        return self.async_show_form(step_id=api_version.name.lower(), data_schema=schema, errors=errors)
