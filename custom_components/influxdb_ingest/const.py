"""Constants shared by the InfluxDB Ingest modules."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

DOMAIN: Final = "influxdb_ingest"


class ApiVersion(StrEnum):
    """The InfluxDB flavour a config entry writes to."""

    V1 = "1"
    V2 = "2"
    V3 = "3"


CONF_API_VERSION: Final = "api_version"
CONF_DATABASE: Final = "database"
CONF_RETENTION_POLICY: Final = "retention_policy"
CONF_ORG: Final = "organization"
CONF_BUCKET: Final = "bucket"

DEFAULT_MEASUREMENT: Final = "home_assistant_events"
# How long the config flow waits for the server to answer its check.
VALIDATE_TIMEOUT: Final = 10.0
# Set in the data of a `state_changed` event that a periodic snapshot made, not a real change.
SNAPSHOT_MARKER: Final = "snapshot"
