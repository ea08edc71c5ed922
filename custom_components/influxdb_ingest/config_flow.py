"""Config flow: pick the InfluxDB flavour, enter the target, prove it accepts writes."""

from __future__ import annotations

from collections.abc import Mapping
import logging
from typing import Any

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryData,
    ConfigSubentryFlow,
)
from homeassistant.const import CONF_PASSWORD, CONF_TOKEN, CONF_URL, CONF_USERNAME, CONF_VERIFY_SSL
from homeassistant.core import callback
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.recorder import get_instance
from homeassistant.helpers.selector import (
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import voluptuous as vol

from .const import (
    CONF_API_VERSION,
    CONF_BUCKET,
    CONF_DATABASE,
    CONF_HISTORY_DAYS,
    CONF_HISTORY_STATISTICS,
    CONF_ORG,
    CONF_RETENTION_POLICY,
    DEFAULT_DATABASE,
    DOMAIN,
    VALIDATE_TIMEOUT,
    ApiVersion,
)
from .copy_flow import SUBENTRY_INFLUXDB1_COPY, CopyFromInfluxDB1Flow
from .data import InfluxDBIngestConfigEntry
from .history.backfill import recorder_loaded
from .history.backfill_job import SourceError
from .history.influx1_source import InfluxDB1Database
from .migrate import (
    async_builtin_query_sensors,
    async_builtin_yaml,
    builtin_entry,
    entry_data_from_builtin,
    options_from_builtin_yaml,
)
from .options_flow import IngestOptionsFlow, number_box
from .query.sensor_config import SUBENTRY_QUERY_SENSOR
from .query_flow import SUBENTRY_INFLUXDB3_CACHES, InfluxDB3CachesFlow, QuerySensorFlow
from .target.influx_api import (
    CannotConnect,
    DatabaseLimit,
    DatabaseMissing,
    InfluxClient,
    InfluxError,
    InvalidAuth,
    NoWritePermission,
    OrgNotFound,
    RetentionPolicyMissing,
    SSLFailure,
    TargetNotFound,
    WrongServer,
)
from .target.influx_target import InfluxTarget, is_valid_url

_LOGGER = logging.getLogger(__name__)
# InfluxDB 3: the database's retention period, offered when the flow creates it (0: for ever).
CONF_RETENTION_DAYS = "retention_days"
_RETENTION_SCHEMA: Any = vol.Schema(
    {vol.Required(CONF_RETENTION_DAYS, default=0): number_box(0, 36500, 1, "d")}
)

_URL = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
_TEXT = TextSelector()
_SECRET = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))

# One form per flavour: the fields its write API needs.
# Typed as Any: Home Assistant swaps voluptuous for probatio at run time.
_SCHEMAS: dict[ApiVersion, Any] = {
    ApiVersion.V1: vol.Schema(
        {
            vol.Required(CONF_URL, default="http://localhost:8086"): _URL,
            vol.Required(CONF_DATABASE, default=DEFAULT_DATABASE): _TEXT,
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
            vol.Required(CONF_BUCKET, default=DEFAULT_DATABASE): _TEXT,
            vol.Required(CONF_TOKEN): _SECRET,
            vol.Required(CONF_VERIFY_SSL, default=True): bool,
        }
    ),
    ApiVersion.V3: vol.Schema(
        {
            vol.Required(CONF_URL, default="http://localhost:8181"): _URL,
            vol.Required(CONF_DATABASE, default=DEFAULT_DATABASE): _TEXT,
            vol.Required(CONF_TOKEN): _SECRET,
            vol.Required(CONF_VERIFY_SSL, default=True): bool,
        }
    ),
}


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
    except DatabaseMissing:
        return "database_missing"
    except DatabaseLimit:
        return "database_limit"
    except WrongServer as err:  # says which one answered: "The database does not exist" misled
        _LOGGER.warning("%s", err)
        return f"server_is_influxdb{err.server.generation}"
    except RetentionPolicyMissing:
        return "retention_policy_not_found"
    except TargetNotFound:
        return "bucket_not_found" if client.target.api_version is ApiVersion.V2 else "database_not_found"
    except Exception:
        # Exception texts carry the server's message and the URL, never a credential.
        _LOGGER.exception("Unexpected error while checking %s", client.target.title)
        return "unknown"
    return None


_SECRETS = (CONF_PASSWORD, CONF_TOKEN)


def _policy_placeholder(data: Mapping[str, Any]) -> dict[str, str]:
    """Which retention policy a `retention_policy_not_found` error names (1.x's default: autogen)."""
    return {"retention_policy": str(data.get(CONF_RETENTION_POLICY) or "autogen")}


# Errors about one field are shown under it (the forms that have it; the others show them on top).
_FIELD_OF_ERROR = {
    "database_not_found": CONF_DATABASE,
    "database_not_found_unlisted": CONF_DATABASE,
    "bucket_not_found": CONF_BUCKET,
    "org_not_found": CONF_ORG,
    # A token is the whole credential (2.x, 3.x); 1.x's user and password stay on top.
    "invalid_auth": CONF_TOKEN,
}


def _on_fields(errors: dict[str, str], schema: Any) -> dict[str, str]:
    """Move an error about one field from the top of the form to that field, where the form has it."""
    error = errors.get("base")
    field = _FIELD_OF_ERROR.get(error or "")
    if field is None or field not in {str(marker) for marker in schema.schema}:
        return errors
    return {field: str(error)}


def _without_secrets(values: dict[str, Any]) -> dict[str, Any]:
    """Form values to echo back: never a password or token."""
    return {key: value for key, value in values.items() if key not in _SECRETS}


def _secrets_optional(schema: vol.Schema) -> Any:
    """The same form where a blank secret means "keep the current one"."""
    fields = {}
    for marker, selector in schema.schema.items():
        fields[vol.Optional(str(marker)) if str(marker) in _SECRETS else marker] = selector
    return vol.Schema(fields)


class InfluxDBIngestConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up one InfluxDB target per entry; reconfigure it; re-authenticate it."""

    VERSION = 2
    # InfluxDB 3 entry data whose database does not exist yet (create_database step).
    _missing_database: dict[str, Any]
    # Title, data and options of the verified entry, while the history step asks.
    _new_entry: tuple[str, dict[str, Any], dict[str, Any]]
    # Moving over: the built-in integration's YAML query sensors, created with the entry.
    _query_sensors: tuple[ConfigSubentryData, ...] = ()
    # What the last check's error names (URL, database, the databases the server has);
    # always replaced, never changed in place.
    _placeholders: dict[str, str] = {}  # noqa: RUF012

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: InfluxDBIngestConfigEntry) -> IngestOptionsFlow:
        """What to record and how to write it."""
        return IngestOptionsFlow()

    @classmethod
    @callback
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Copy an InfluxDB 1.x database into the entry's target; add query sensors; InfluxDB 3's caches."""
        flows: dict[str, type[ConfigSubentryFlow]] = {
            SUBENTRY_INFLUXDB1_COPY: CopyFromInfluxDB1Flow,
            SUBENTRY_QUERY_SENSOR: QuerySensorFlow,
        }
        if config_entry.data.get(CONF_API_VERSION) == ApiVersion.V3.value:
            flows[SUBENTRY_INFLUXDB3_CACHES] = InfluxDB3CachesFlow
        return flows

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Choose the InfluxDB flavour, or move over from the built-in integration."""
        options = ["v1", "v2", "v3"]
        if builtin_entry(self.hass) is not None:
            options.insert(0, "import_builtin")
        return self.async_show_menu(step_id="user", menu_options=options)

    async def async_step_import_builtin(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Take over the built-in integration's connection and settings, proven like a new one."""
        builtin = builtin_entry(self.hass)
        if builtin is None:
            return self.async_abort(reason="builtin_not_configured")
        data = entry_data_from_builtin(builtin.data)
        errors: dict[str, str] = {}
        if user_input is not None:
            await self.async_set_unique_id(InfluxTarget.from_config(data).unique_id)
            self._abort_if_unique_id_configured()
            target, errors = await self._async_validate(data)
            if target is not None:
                options = options_from_builtin_yaml(await async_builtin_yaml(self.hass))
                self._query_sensors = tuple(await async_builtin_query_sensors(self.hass, data))
                return await self._async_offer_history(target.title, data, options)
        return self.async_show_form(
            step_id="import_builtin",
            errors=errors,
            description_placeholders={
                **self._placeholders,
                "title": builtin.title,
                "url": InfluxTarget.from_config(data).title,
                **_policy_placeholder(data),
            },
        )

    async def async_step_v1(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """InfluxDB 1.x: database, retention policy, optional user."""
        return await self._async_step_target(ApiVersion.V1, user_input)

    async def async_step_v2(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """InfluxDB 2.x (and 1.8+/3.x through their v2 compatibility API)."""
        return await self._async_step_target(ApiVersion.V2, user_input)

    async def async_step_v3(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """InfluxDB 3.x: database and token."""
        return await self._async_step_target(ApiVersion.V3, user_input)

    async def _async_validate(self, data: dict[str, Any]) -> tuple[InfluxTarget | None, dict[str, str]]:
        """Check the URL, then prove write access; return the target or the form errors."""
        data[CONF_URL] = str(data[CONF_URL]).strip().rstrip("/")
        if not is_valid_url(data[CONF_URL]):
            return None, {CONF_URL: "invalid_url"}
        target = InfluxTarget.from_config(data)
        session = async_get_clientsession(self.hass, verify_ssl=target.verify_ssl)
        error = await async_validate_target(InfluxClient(session, target))
        self._placeholders = {
            "url": target.url,
            "database": str(target.database),
            "bucket": str(data.get(CONF_BUCKET, "")),
        }
        if error == "database_not_found":
            listed = await self._async_databases(data) if target.api_version is ApiVersion.V1 else None
            if listed is None:
                error = "database_not_found_unlisted"
            else:
                self._placeholders["databases"] = ", ".join(listed) or "-"
        if error is not None:
            return None, {"base": error}
        return target, {}

    async def _async_databases(self, data: dict[str, Any]) -> list[str] | None:
        """InfluxDB 1.x: the databases these credentials may see (SHOW DATABASES); None if it will not say."""
        session = async_get_clientsession(self.hass, verify_ssl=bool(data.get(CONF_VERIFY_SSL, True)))
        try:
            return await InfluxDB1Database(session, {**data, CONF_DATABASE: ""}).async_databases()
        except SourceError:
            return None

    async def _async_step_target(
        self, api_version: ApiVersion, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        schema: Any = _SCHEMAS[api_version]
        if user_input is not None:
            data = {CONF_API_VERSION: api_version.value, **user_input}
            data[CONF_URL] = str(data[CONF_URL]).strip().rstrip("/")
            if is_valid_url(data[CONF_URL]):
                await self.async_set_unique_id(InfluxTarget.from_config(data).unique_id)
                self._abort_if_unique_id_configured()
            target, errors = await self._async_validate(data)
            if target is not None:
                return await self._async_offer_history(target.title, data)
            if errors == {"base": "database_missing"}:
                self._missing_database = data
                return await self.async_step_create_database()
            errors = _on_fields(errors, schema)
            # Secrets stay in the form too: a typo in the database should not cost retyping a token.
            schema = self.add_suggested_values_to_schema(schema, user_input)
        return self.async_show_form(
            step_id=api_version.name.lower(),
            data_schema=schema,
            errors=errors,
            description_placeholders={**self._placeholders, **_policy_placeholder(user_input or {})},
        )

    async def async_step_create_database(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """InfluxDB 3 would create a misspelt database on the first write: ask before creating it."""
        data = self._missing_database
        target = InfluxTarget.from_config(data)
        errors: dict[str, str] = {}
        if user_input is not None:
            client = InfluxClient(async_get_clientsession(self.hass, verify_ssl=target.verify_ssl), target)
            try:
                await client.create_database(VALIDATE_TIMEOUT, int(user_input.get(CONF_RETENTION_DAYS, 0)))
            except DatabaseLimit:
                errors["base"] = "database_limit"
            except InfluxError as err:
                _LOGGER.warning("Cannot create database %s on %s: %s", target.database, target.title, err)
                errors["base"] = "cannot_create_database"
            else:
                created, errors = await self._async_validate(data)
                if created is not None:
                    return await self._async_offer_history(created.title, data)
        return self.async_show_form(
            step_id="create_database",
            data_schema=_RETENTION_SCHEMA,
            errors=errors,
            description_placeholders={"database": target.v3_database, "url": target.url},
        )

    async def _async_offer_history(
        self, title: str, data: dict[str, Any], options: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Create the verified entry; with a recorder to read from, offer its history first."""
        if not recorder_loaded(self.hass):
            return self.async_create_entry(
                title=title, data=data, options=options or {}, subentries=self._query_sensors
            )
        self._new_entry = (title, data, options or {})
        return await self.async_step_history()

    async def async_step_history(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Import the last N days of states (and the statistics) once the entry loads; 0 days: none."""
        title, data, options = self._new_entry
        if user_input is not None:
            return self.async_create_entry(
                title=title, data={**data, **user_input}, options=options, subentries=self._query_sensors
            )
        schema: Any = vol.Schema(
            {
                vol.Required(CONF_HISTORY_DAYS, default=0): number_box(0, 3650, 1, "d"),
                vol.Required(CONF_HISTORY_STATISTICS, default=False): bool,
            }
        )
        keep_days = get_instance(self.hass).keep_days
        return self.async_show_form(
            step_id="history", data_schema=schema, description_placeholders={"keep_days": str(keep_days)}
        )

    async def async_step_reconfigure(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Change URL, credentials or database/bucket; validated like the first setup."""
        entry = self._get_reconfigure_entry()
        api_version = ApiVersion(entry.data[CONF_API_VERSION])
        errors: dict[str, str] = {}
        shown = _without_secrets(dict(entry.data))
        if user_input is not None:
            # A blank secret keeps the current one.
            data = {**entry.data, **{key: value for key, value in user_input.items() if value != ""}}
            for key in _SECRETS:
                if key not in user_input and key in entry.data:
                    data[key] = entry.data[key]
            target, errors = await self._async_validate(data)
            if target is not None:
                if target.unique_id != entry.unique_id and any(
                    other.unique_id == target.unique_id for other in self._async_current_entries()
                ):
                    return self.async_abort(reason="already_configured")
                return self.async_update_reload_and_abort(
                    entry, unique_id=target.unique_id, title=target.title, data=data
                )
            shown = dict(user_input)  # as typed, secrets included
            errors = _on_fields(errors, _SCHEMAS[api_version])
        schema = self.add_suggested_values_to_schema(_secrets_optional(_SCHEMAS[api_version]), shown)
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=schema,
            errors=errors,
            description_placeholders={
                **self._placeholders,
                **_policy_placeholder({**entry.data, **(user_input or {})}),
            },
        )

    async def async_step_reauth(self, entry_data: dict[str, Any]) -> ConfigFlowResult:
        """The server rejected the credentials while writing."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for new credentials; data kept meanwhile is written once they work."""
        entry = self._get_reauth_entry()
        api_version = ApiVersion(entry.data[CONF_API_VERSION])
        if api_version is ApiVersion.V1:
            schema: Any = vol.Schema(
                {vol.Optional(CONF_USERNAME): _TEXT, vol.Optional(CONF_PASSWORD): _SECRET}
            )
        else:
            schema = vol.Schema({vol.Required(CONF_TOKEN): _SECRET})
        errors: dict[str, str] = {}
        if user_input is not None:
            target, errors = await self._async_validate({**entry.data, **user_input})
            if target is not None:
                return self.async_update_reload_and_abort(entry, data_updates=user_input)
        suggested = {CONF_USERNAME: entry.data.get(CONF_USERNAME, "")}
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
            description_placeholders={
                **self._placeholders,
                "title": entry.title,
                **_policy_placeholder(dict(entry.data)),
            },
        )
