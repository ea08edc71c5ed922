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
DEFAULT_BATCH_SIZE: Final = 1000
DEFAULT_FLUSH_INTERVAL: Final = 1.0
DEFAULT_MAX_QUEUE_SIZE: Final = 100_000

# Retries until the durable writer arrives: capped exponential backoff.
RETRY_INITIAL_DELAY: Final = 1.0
RETRY_MAX_DELAY: Final = 60.0
WRITE_TIMEOUT: Final = 30.0
VALIDATE_TIMEOUT: Final = 10.0
# How long unloading or stopping Home Assistant may spend writing what is still queued.
SHUTDOWN_FLUSH_TIMEOUT: Final = 10.0
