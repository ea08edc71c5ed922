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
# The database (or bucket) every form suggests: the built-in integration's default.
DEFAULT_DATABASE: Final = "home_assistant"
# How long the config flow waits for the server to answer its check.
VALIDATE_TIMEOUT: Final = 10.0
# Key in the data of the `state_changed` events a periodic snapshot enqueues (snapshots.py):
# the state did not change, it is written again so a graph over a quiet range is not empty.
SNAPSHOT_MARKER: Final = "snapshot"

# Offered at the end of setup: import this many days of recorded states, and the
# long-term statistics (entry data; the job starts when the entry first loads).
CONF_HISTORY_DAYS: Final = "history_days"
CONF_HISTORY_STATISTICS: Final = "history_statistics"
