"""Add (and reconfigure) a query sensor: a subentry flow of the entry, with a preview before saving.

Also, on InfluxDB 3, the caches that answer our queries from memory (one tick, after the first write).

Step one is the query, built from parts (table, field, entity, aggregate, time range) or typed
in full; it runs once against the target, and a bad query, a missing table, a timeout or an
empty answer is said as such. Step two shows the answer and asks how to present it.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.config_entries import ConfigEntryState, ConfigSubentryFlow, SubentryFlowResult
from homeassistant.exceptions import TemplateError
from homeassistant.helpers.selector import (
    EntitySelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TemplateSelector,
    TextSelector,
    TextSelectorConfig,
)
import voluptuous as vol

from .const import DEFAULT_MEASUREMENT, ApiVersion
from .data import InfluxDBIngestConfigEntry
from .query.caches import LAST_VALUE_CACHE, create_distinct_value_cache, create_last_value_cache
from .query.client import QueryError
from .query.sensor_config import (
    CONF_AGGREGATE,
    CONF_DEVICE_CLASS,
    CONF_DURATION,
    CONF_ENTITY_ID,
    CONF_FIELD,
    CONF_LANGUAGE,
    CONF_LAST_CACHE,
    CONF_MEASUREMENT,
    CONF_QUERY,
    CONF_SCAN_INTERVAL,
    CONF_STATE_CLASS,
    CONF_UNIT,
    CONF_VALUE_TEMPLATE,
    DEFAULT_SCAN_INTERVAL,
    EmptyAnswer,
    QuerySensorConfig,
)
from .query.statement import AGGREGATES, Language, valid_duration
from .query_sensor import QueryValueError, async_run_sensor_query

CONF_NAME = "name"
_QUERY_KEYS = (
    CONF_LANGUAGE,
    CONF_QUERY,
    CONF_MEASUREMENT,
    CONF_FIELD,
    CONF_ENTITY_ID,
    CONF_AGGREGATE,
    CONF_DURATION,
)
# The default layout's table, as a suggestion.
_SUGGEST_DEFAULT_TABLE = {"suggested_value": DEFAULT_MEASUREMENT}


def _select(options: list[str], key: str | None = None) -> SelectSelector:
    if key is None:  # Home Assistant's own values (device and state classes), shown as they are
        return SelectSelector(SelectSelectorConfig(options=options, mode=SelectSelectorMode.DROPDOWN))
    return SelectSelector(
        SelectSelectorConfig(options=options, translation_key=key, mode=SelectSelectorMode.DROPDOWN)
    )


def _query_schema(languages: tuple[Language, ...]) -> Any:
    return vol.Schema(
        {
            vol.Required(CONF_NAME): TextSelector(),
            vol.Required(CONF_LANGUAGE, default=languages[0].value): _select(
                [language.value for language in languages], "query_language"
            ),
            # The default layout's table, as a suggestion.
            vol.Optional(
                CONF_MEASUREMENT, description={"suggested_value": DEFAULT_MEASUREMENT}
            ): TextSelector(),
            vol.Optional(CONF_FIELD, default="value"): TextSelector(),
            vol.Optional(CONF_ENTITY_ID): EntitySelector(),
            vol.Optional(CONF_AGGREGATE, default="mean"): _select(list(AGGREGATES), "query_aggregate"),
            vol.Optional(CONF_DURATION, default="1h"): TextSelector(),
            vol.Optional(CONF_QUERY): TextSelector(TextSelectorConfig(multiline=True)),
        }
    )


_SENSOR_SCHEMA: Any = vol.Schema(
    {
        vol.Optional(CONF_UNIT): TextSelector(),
        vol.Optional(CONF_DEVICE_CLASS): _select([cls.value for cls in SensorDeviceClass]),
        vol.Optional(CONF_STATE_CLASS): _select([cls.value for cls in SensorStateClass]),
        vol.Required(CONF_SCAN_INTERVAL, default=DEFAULT_SCAN_INTERVAL): NumberSelector(
            NumberSelectorConfig(
                min=10, max=86_400, step=1, unit_of_measurement="s", mode=NumberSelectorMode.BOX
            )
        ),
        vol.Optional(CONF_VALUE_TEMPLATE): TemplateSelector(),
    }
)


class QuerySensorFlow(ConfigSubentryFlow):
    """The query, run once; then the answer and how the sensor shows it."""

    _title: str
    _query: dict[str, Any]
    _answer: str = ""

    def _entry(self) -> InfluxDBIngestConfigEntry | None:
        entry: InfluxDBIngestConfigEntry = self._get_entry()
        return entry if entry.state is ConfigEntryState.LOADED else None

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """The query: from parts, or in full."""
        if (entry := self._entry()) is None:
            return self.async_abort(reason="entry_not_loaded")
        schema = _query_schema(entry.runtime_data.queries.languages)
        errors: dict[str, str] = {}
        if user_input is not None:
            query = {key: user_input[key] for key in _QUERY_KEYS if user_input.get(key) not in (None, "")}
            if CONF_QUERY not in query and CONF_MEASUREMENT not in query:
                errors["base"] = "query_or_measurement"
            elif CONF_QUERY not in query and not valid_duration(str(query.get(CONF_DURATION, ""))):
                errors[CONF_DURATION] = "invalid_duration"
            elif (error := await self._async_try(entry, query)) is not None:
                errors["base"] = error
            else:
                self._title, self._query = user_input[CONF_NAME], query
                return await self.async_step_sensor()
            schema = self.add_suggested_values_to_schema(schema, user_input)
        elif self.source == "reconfigure":
            subentry = self._get_reconfigure_subentry()
            schema = self.add_suggested_values_to_schema(schema, {CONF_NAME: subentry.title, **subentry.data})
        return self.async_show_form(
            step_id="user",
            data_schema=schema,
            errors=errors,
            description_placeholders={"error": self._answer if errors.get("base") else ""},
        )

    async def async_step_reconfigure(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Change a query sensor: the same steps, filled in."""
        return await self.async_step_user()

    async def async_step_sensor(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Show the answer; ask for unit, classes, interval and a value template."""
        entry = self._entry()
        if entry is None:
            return self.async_abort(reason="entry_not_loaded")
        errors: dict[str, str] = {}
        schema = _SENSOR_SCHEMA
        if user_input is not None:
            data = {
                **self._query,
                **{key: value for key, value in user_input.items() if value not in (None, "")},
            }
            data[CONF_SCAN_INTERVAL] = int(data[CONF_SCAN_INTERVAL])
            if (error := await self._async_try(entry, data)) is not None:
                errors["base"] = error
            elif self.source == "reconfigure":
                return self.async_update_reload_and_abort(
                    entry, self._get_reconfigure_subentry(), title=self._title, data=data
                )
            else:
                self.hass.config_entries.async_schedule_reload(entry.entry_id)
                return self.async_create_entry(title=self._title, data=data)
            schema = self.add_suggested_values_to_schema(schema, user_input)
        elif self.source == "reconfigure":
            schema = self.add_suggested_values_to_schema(schema, dict(self._get_reconfigure_subentry().data))
        return self.async_show_form(
            step_id="sensor",
            data_schema=schema,
            errors=errors,
            description_placeholders={"name": self._title, "answer": self._answer},
        )

    async def _async_try(self, entry: InfluxDBIngestConfigEntry, data: dict[str, Any]) -> str | None:
        """Run the query once; the translation key of what went wrong, or None (the answer is kept).

        The latest value on 3.x comes from the last-value cache when it answers (noted in `data`).
        """
        if _may_use_last_cache(entry, data):
            data[CONF_LAST_CACHE] = LAST_VALUE_CACHE
            if await self._async_try(entry, data) is None:
                return None
            del data[CONF_LAST_CACHE]
        config = QuerySensorConfig.from_data(data, entry.data.get("bucket", ""))
        try:
            statement, value, duration_ms = await async_run_sensor_query(self.hass, entry, config)
        except QueryError as err:
            self._answer = str(err)
            return err.reason
        except EmptyAnswer as err:
            self._answer = str(err)
            if await self._table_missing(entry, config):
                return "not_found"
            return "empty"
        except (TemplateError, QueryValueError) as err:
            self._answer = str(err)[:300]
            return "bad_template"
        self._answer = f"{value} ({duration_ms:.0f} ms): {statement}"
        return None

    async def _table_missing(self, entry: InfluxDBIngestConfigEntry, config: QuerySensorConfig) -> bool:
        """InfluxDB 1.x answers a missing measurement with no rows: ask whether it exists."""
        queries = entry.runtime_data.queries
        if config.parts is None or config.language is not Language.INFLUXQL:
            return False
        if queries.target.api_version is not ApiVersion.V1:
            return False
        name = config.parts.measurement.replace("\\", "\\\\").replace('"', '\\"')
        try:
            result = await queries.run(Language.INFLUXQL, f'SHOW MEASUREMENTS WITH MEASUREMENT = "{name}"')
        except QueryError:
            return False
        return not result.rows.rows


def _may_use_last_cache(entry: InfluxDBIngestConfigEntry, data: dict[str, Any]) -> bool:
    """A latest value asked in SQL on 3.x, built from parts, not yet tried with the cache."""
    return (
        entry.runtime_data.queries.target.api_version is ApiVersion.V3
        and data.get(CONF_LANGUAGE) == Language.SQL.value
        and not data.get(CONF_QUERY)
        and data.get(CONF_AGGREGATE) == "last"
        and CONF_LAST_CACHE not in data
    )


SUBENTRY_INFLUXDB3_CACHES = "influxdb3_caches"
CONF_LAST_VALUE_CACHE = "last_value_cache"
CONF_DISTINCT_VALUE_CACHE = "distinct_value_cache"
_CACHES_SCHEMA: Any = vol.Schema(
    {
        vol.Required(CONF_LAST_VALUE_CACHE, default=True): bool,
        vol.Required(CONF_DISTINCT_VALUE_CACHE, default=True): bool,
    }
)


class InfluxDB3CachesFlow(ConfigSubentryFlow):
    """Create the last-value and distinct-value caches on the default layout's table; nothing is saved."""

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Which caches; they are created on the server at once."""
        if (entry := _loaded(self._get_entry())) is None:
            return self.async_abort(reason="entry_not_loaded")
        errors: dict[str, str] = {}
        if user_input is not None:
            queries = entry.runtime_data.queries
            try:
                made = []
                if user_input[CONF_LAST_VALUE_CACHE]:
                    made.append(await create_last_value_cache(queries, DEFAULT_MEASUREMENT))
                if user_input[CONF_DISTINCT_VALUE_CACHE]:
                    made.append(await create_distinct_value_cache(queries, DEFAULT_MEASUREMENT))
            except QueryError as err:
                errors["base"] = "table_missing" if err.reason == "not_found" else err.reason
            else:
                names = ", ".join(
                    f"{outcome.name}{'' if outcome.created else ' (already there)'}" for outcome in made
                )
                return self.async_abort(
                    reason="caches_created", description_placeholders={"caches": names or "-"}
                )
        return self.async_show_form(
            step_id="user",
            data_schema=_CACHES_SCHEMA,
            errors=errors,
            description_placeholders={"table": DEFAULT_MEASUREMENT},
        )


def _loaded(entry: InfluxDBIngestConfigEntry) -> InfluxDBIngestConfigEntry | None:
    return entry if entry.state is ConfigEntryState.LOADED else None
