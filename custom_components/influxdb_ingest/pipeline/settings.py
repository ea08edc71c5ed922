"""Writer settings: defaults, overridden per entry by its options."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from ..const import DEFAULT_MEASUREMENT
from ..target.server_info import string_limit_for

# InfluxDB 3 Core refuses tables past 500 columns (influxdb3_catalog/src/catalog.rs): half of
# it leaves room for what the user adds (enrichment, tags, overrides) and for other writers.
INFLUXDB3_COLUMN_BUDGET = 250


@dataclass(frozen=True, slots=True)
class WriterSettings:
    """Every knob of the writer. Option keys are the field names."""

    # The InfluxDB flavour written to ("1", "2", "3"; entry data, not an option): how field
    # keys are escaped and the automatic column budget depend on it.
    api_version: str = "1"
    measurement: str = DEFAULT_MEASUREMENT
    # "default" (docs/schema.md) or "builtin" (what Home Assistant's influxdb integration writes)
    layout: str = "default"
    measurement_attr: str = "unit_of_measurement"
    default_measurement: str | None = None
    override_measurement: str | None = None
    batch_size: int = 5000
    flush_interval: float = 1.0
    # Points kept in memory (raw events plus serialized batches); beyond, spill to disk.
    max_queue_size: int = 10_000
    # While the target fails, no point waits in memory longer than this before it is on
    # disk: what a power cut or a crash can lose. Shorter means more disk syncs.
    loss_window: float = 5.0
    spool_max_bytes: int = 512 * 1024 * 1024
    spool_max_age: float = 30 * 24 * 3600.0
    retry_initial_delay: float = 1.0
    retry_max_delay: float = 300.0
    circuit_failure_threshold: int = 5
    circuit_open_seconds: float = 30.0
    write_timeout: float = 30.0
    # "auto" (gzip unless the server is on this machine), "gzip" or "none".
    compression: str = "auto"
    # How long unloading or stopping Home Assistant may spend writing before it spools.
    shutdown_timeout: float = 10.0
    ignore_attributes: frozenset[str] = frozenset()
    # None: every attribute; else only these (entity_rules.py; `ignore_attributes` still applies).
    include_attributes: frozenset[str] | None = None
    # Extra registry tags ("area", "floor", "device", "labels", "platform", "unit") and
    # "device_info" fields (manufacturer, model, sw_version).
    enrich: frozenset[str] = frozenset()
    static_tags: Mapping[str, str] = field(default_factory=dict)
    tags_attributes: frozenset[str] = frozenset()
    # Keyed by entity id, domain or glob: override_measurement, include_attributes,
    # ignore_attributes, tags_attributes.
    overrides: Mapping[str, Any] = field(default_factory=dict)
    # Default layout: write `unknown`/`unavailable` as state text (the built-in layout never does).
    record_unavailable: bool = True
    # Default layout: a JSON copy of all attributes, and the event's context id.
    attributes_json: bool = False
    context_id: bool = False
    # Default layout: columns (tags + fields) per table; 0 = automatic (InfluxDB 3: 250, else none).
    max_columns: int = 0
    # Other bus events to record, into their own measurement.
    event_types: tuple[str, ...] = ()
    events_measurement: str = "home_assistant_bus_events"
    # Every this many minutes, write each recorded entity's current state again (0: never).
    snapshot_minutes: int = 0
    # The longest string value written, in UTF-8 bytes; longer ones are cut to fit and kept
    # whole in the dead-letter file. 0 = automatic (`string_limit_for` the API version: 64 KiB
    # on InfluxDB 3, 1 MiB otherwise); set it from the server's version once it is known.
    string_limit_bytes: int = 0

    def column_budget(self) -> int | None:
        """Columns per table: the user's number, else half of InfluxDB 3 Core's 500, else none."""
        if self.max_columns > 0:
            return self.max_columns
        return INFLUXDB3_COLUMN_BUDGET if self.api_version == "3" else None

    def string_limit(self) -> int:
        """The string limit in UTF-8 bytes: the setting, else the API version's safe default."""
        return self.string_limit_bytes if self.string_limit_bytes > 0 else string_limit_for(self.api_version)

    def gzip_for(self, loopback: bool) -> bool:
        """Whether to compress write bodies for a target (loopback or not)."""
        return self.compression == "gzip" or (self.compression == "auto" and not loopback)

    @classmethod
    def from_options(cls, options: Mapping[str, Any], api_version: str = "1") -> WriterSettings:
        """Defaults, with whatever the entry's options set (the UI speaks MB and days)."""
        known = {item.name for item in fields(cls)} - {"api_version"}
        values: dict[str, Any] = {key: value for key, value in options.items() if key in known}
        if "spool_max_mb" in options:
            values["spool_max_bytes"] = int(options["spool_max_mb"] * 1024 * 1024)
        if "spool_max_days" in options:
            values["spool_max_age"] = float(options["spool_max_days"]) * 24 * 3600
        for key in ("batch_size", "max_queue_size", "max_columns", "snapshot_minutes", "string_limit_bytes"):
            if key in values:
                values[key] = int(values[key])
        values["ignore_attributes"] = frozenset(options.get("ignore_attributes", ()))
        values["include_attributes"] = (
            frozenset(options["include_attributes"]) if options.get("include_attributes") else None
        )
        values["enrich"] = frozenset(options.get("enrich", ()))
        values["tags_attributes"] = frozenset(options.get("tags_attributes", ()))
        values["event_types"] = tuple(options.get("event_types", ()))
        values["static_tags"] = dict(
            (key.strip(), value.strip())
            for key, _, value in (item.partition("=") for item in options.get("tags", ()))
            if key.strip() and value.strip()
        )
        return cls(api_version=api_version, **values)
