"""Copy another InfluxDB 1.x database into an entry's target: a flow started from the entry.

For people leaving the 1.x add-on. The connection is checked, then the copy is queued as a
backfill job of the entry (influx1_source.py) and the flow ends; progress shows on the
entry's backfill progress sensor. Credentials go through this form, never through an
action: action data is fired on the event bus and kept by the recorder.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from homeassistant.config_entries import ConfigEntryState, ConfigSubentryFlow, SubentryFlowResult
from homeassistant.const import CONF_PASSWORD, CONF_URL, CONF_USERNAME, CONF_VERIFY_SSL
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import TextSelector, TextSelectorConfig, TextSelectorType
import voluptuous as vol

from .const import CONF_DATABASE, DEFAULT_DATABASE
from .history.backfill_job import BackfillJob, SourceAuthFailed, SourceError, SourceKind, SourceNotFound
from .history.influx1_source import InfluxDB1Database
from .target.influx_target import is_valid_url

_LOGGER = logging.getLogger(__name__)

SUBENTRY_INFLUXDB1_COPY = "influxdb1_copy"
# Before any point InfluxDB can hold: the whole database is copied.
_EVER_NS = -(2**63) + 2

_SCHEMA: Any = vol.Schema(
    {
        vol.Required(CONF_URL, default="http://localhost:8086"): TextSelector(
            TextSelectorConfig(type=TextSelectorType.URL)
        ),
        vol.Required(CONF_DATABASE, default=DEFAULT_DATABASE): TextSelector(),
        vol.Optional(CONF_USERNAME): TextSelector(),
        vol.Optional(CONF_PASSWORD): TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD)),
        vol.Required(CONF_VERIFY_SSL, default=True): bool,
    }
)


class CopyFromInfluxDB1Flow(ConfigSubentryFlow):
    """Ask for the old database, check it answers, queue the copy."""

    # What an error names: the database asked for and those the server has.
    _placeholders: dict[str, str]

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """The old server and database; the copy starts once they answer."""
        entry = self._get_entry()
        if entry.state is not ConfigEntryState.LOADED:
            return self.async_abort(reason="entry_not_loaded")
        errors: dict[str, str] = {}
        self._placeholders = {}
        if user_input is not None:
            connection = {**user_input, CONF_URL: str(user_input[CONF_URL]).strip().rstrip("/")}
            if not is_valid_url(connection[CONF_URL]):
                errors[CONF_URL] = "invalid_url"
            elif (error := await self._async_check(connection)) is not None:
                errors[CONF_DATABASE if error.startswith("database_not_found") else "base"] = error
            else:
                job = BackfillJob(SourceKind.INFLUXDB1, _EVER_NS, time.time_ns(), connection=connection)
                entry.runtime_data.backfill.enqueue(job)
                return self.async_abort(
                    reason="copy_started", description_placeholders={"database": connection[CONF_DATABASE]}
                )
            # The password stays in the form: a typo elsewhere should not cost retyping it.
            return self.async_show_form(
                step_id="user",
                data_schema=self.add_suggested_values_to_schema(_SCHEMA, user_input),
                errors=errors,
                description_placeholders=self._placeholders,
            )
        return self.async_show_form(step_id="user", data_schema=_SCHEMA, errors=errors)

    async def _async_check(self, connection: dict[str, Any]) -> str | None:
        """The translation key of what is wrong with the old database, or None."""
        session = async_get_clientsession(self.hass, verify_ssl=bool(connection[CONF_VERIFY_SSL]))
        database = InfluxDB1Database(session, connection)
        try:
            await database.async_check()
        except SourceAuthFailed:
            return "invalid_auth"
        except SourceNotFound:
            self._placeholders = {"database": str(connection[CONF_DATABASE])}
            try:
                listed = await database.async_databases()  # answered a moment ago
            except SourceError:
                listed = []
            self._placeholders["databases"] = ", ".join(listed) or "-"
            return "database_not_found"
        except SourceError as err:
            _LOGGER.warning("Cannot read the InfluxDB 1.x database to copy: %s", err)
            return "cannot_connect"
        return None
