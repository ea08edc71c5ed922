"""How InfluxDB 1.x and 2.x write a batch: shard by shard, the first shard's error answering.

Read at their tags in influxdata/influxdb, for the stand-ins of 2.x and of the 1.x releases
the real 1.6 here cannot play:

* Points older than the retention period are dropped before any shard is written
  (`MapShards`: coordinator/points_writer.go v1.8.10 lines 200-230; v1/coordinator/
  points_writer.go v2.7.12 lines 300-330). Shard groups start at multiples of their
  duration (services/meta/data.go v1.8.10 line 376, `timestamp.Truncate`).
* Each shard is written on its own (`WritePointsPrivilegedWithContext`, v1.8.10 lines
  387-407); the answer is the first shard error that comes back (lines 439-453: `case err
  := <-ch: if err != nil { return err }`), else the retention drop (lines 433-435), else
  none. Go's map order makes "first" any shard; here it is the oldest, and tests assert
  nothing that depends on which.
* A shard validates point by point (`validateSeriesAndFields`, tsdb/shard.go v1.8.10
  lines 600-740): field types are the shard's (`MeasurementFields` per shard) and are
  created as points go, a field named `time` is skipped, a refused point is dropped, the
  first reason is kept and the drops added up: `partial write: <reason> dropped=<n>`.
* A string longer than 1 MiB drops its point from 1.10 on and in 2.x
  (`MaxFieldValueLength`, tsdb/field_validator.go v1.10.0, v1.11.9, v1.12.4, v2.7.12).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import time

from .standin_core import BOOLEAN, FLOAT, INTEGER, STRING, TAG, UINTEGER, Point, Store, Table

# influxql.DataType names, as the partial write error words them.
GO_TYPES = {FLOAT: "float", INTEGER: "integer", UINTEGER: "unsigned", STRING: "string", BOOLEAN: "boolean"}
HOUR = 3_600 * 1_000_000_000
MAX_FIELD_VALUE_LENGTH = 1_048_576


def go_quote(text: str) -> str:
    """Go's `%q` of a printable name: backslash, quote and control characters escaped."""
    out = []
    for char in text:
        if char in '\\"':
            out.append("\\" + char)
        elif char == "\t":
            out.append("\\t")
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def shard_group_duration(retention_ns: int) -> int:
    """`shardGroupDuration` (services/meta/data.go v1.8.10 lines 1266-1273): 7 days, 1 day or 1 hour."""
    if retention_ns == 0 or retention_ns >= 180 * 24 * HOUR:
        return 7 * 24 * HOUR
    if retention_ns >= 2 * 24 * HOUR:
        return 24 * HOUR
    return HOUR


@dataclass(frozen=True)
class Release:
    """How a release words its answers."""

    quote_names: bool  # `%q` (1.12, 2.x) rather than `"%s"` (up to 1.11)
    max_string: bool  # refuses strings over 1 MiB (1.10 and later, 2.x)
    summarised_retention: bool  # `dropped N points outside retention policy ...` (1.12, 2.x)
    db_in_shard_errors: bool  # ` for database: D for retention policy: R` on shard errors (1.12)


V1_8 = Release(quote_names=False, max_string=False, summarised_retention=False, db_in_shard_errors=False)
V1_11 = Release(quote_names=False, max_string=True, summarised_retention=False, db_in_shard_errors=False)
V1_12 = Release(quote_names=True, max_string=True, summarised_retention=True, db_in_shard_errors=True)
V2 = Release(quote_names=True, max_string=True, summarised_retention=True, db_in_shard_errors=False)


@dataclass
class ShardedWrites:
    """Field types per shard, retention, and the answer a batch gets."""

    release: Release
    retention_ns: int = 0  # 0: for ever
    shard_duration_ns: int | None = None  # None: from the retention period
    # (database, shard start) -> measurement -> field -> kind
    types: dict[tuple[str, int], dict[str, dict[str, str]]] = field(default_factory=dict)

    @property
    def duration(self) -> int:
        return self.shard_duration_ns or shard_group_duration(self.retention_ns)

    def _name(self, text: str) -> str:
        return go_quote(text) if self.release.quote_names else f'"{text}"'

    def _suffix(self, database: str, rp: str) -> str:
        return f" for database: {database} for retention policy: {rp}"

    def write(
        self, store: Store, database: str, rp: str, points: list[tuple[Point, int]], named: str | None = None
    ) -> str | None:
        """Store what the server stores; the error text it answers with, None for 204.

        `named`: the database as messages name it (2.x: the bucket's ID).
        """
        now = time.time_ns()
        oldest_kept = now - self.retention_ns if self.retention_ns else None
        expired = [(p, t) for p, t in points if oldest_kept is not None and t < oldest_kept]
        shards: dict[int, list[tuple[Point, int]]] = {}
        for point, timestamp in points:
            if oldest_kept is None or timestamp >= oldest_kept:
                shards.setdefault(timestamp - timestamp % self.duration, []).append((point, timestamp))
        errors = [
            error
            for start in sorted(shards)
            if (error := self._write_shard(store, database, rp, start, shards[start], named)) is not None
        ]
        if errors:
            return errors[0]
        if expired:
            if not self.release.summarised_retention:
                return f"partial write: points beyond retention policy dropped={len(expired)}"
            first = min(expired, key=lambda pt: pt[1])
            last = max(expired, key=lambda pt: pt[1])
            return (
                f"partial write: dropped {len(expired)} points outside retention policy of duration"
                f" {self.retention_ns // HOUR}h0m0s - oldest {_dropped(first, oldest_kept)},"
                f" newest {_dropped(last, oldest_kept)} dropped={len(expired)}"
                + self._suffix(named or database, rp)
            )
        return None

    def _write_shard(
        self,
        store: Store,
        database: str,
        rp: str,
        start: int,
        points: list[tuple[Point, int]],
        named: str | None,
    ) -> str | None:
        types = self.types.setdefault((database, start), {})
        reason, dropped = "", 0
        for point, timestamp in points:
            known = types.setdefault(point.measurement, {})
            fields = tuple((k, v) for k, v in point.fields if k != "time")
            refusal = self._refusal(point, fields, known)
            if refusal is not None:
                reason, dropped = reason or refusal, dropped + 1
                continue
            known.update({key: kind for key, (kind, _) in fields})
            table = store.databases.setdefault(database, {}).setdefault(point.measurement, Table())
            table.columns |= {key: kind for key, (kind, _) in fields}
            table.columns |= {key: TAG for key, _ in point.tags if key not in table.columns}
            store.put(database, Point(point.measurement, point.tags, fields, None), timestamp)
        if not dropped:
            return None
        message = f"partial write: {reason} dropped={dropped}"
        return message + self._suffix(named or database, rp) if self.release.db_in_shard_errors else message

    def _refusal(
        self, point: Point, fields: tuple[tuple[str, tuple[str, object]], ...], known: dict[str, str]
    ) -> str | None:
        """`ValidateAndCreateFields`: too long first (for each field in turn), then the type."""
        seen = dict(known)
        for key, (kind, value) in fields:
            if (
                self.release.max_string
                and kind == STRING
                and len(str(value).encode()) > MAX_FIELD_VALUE_LENGTH
            ):
                return (
                    f"input field {self._name(key)} on measurement {self._name(point.measurement)}"
                    f" is too long, {len(str(value).encode())} > {MAX_FIELD_VALUE_LENGTH}"
                )
            existing = seen.setdefault(key, kind)
            if existing != kind:
                return (
                    f"field type conflict: input field {self._name(key)} on measurement"
                    f" {self._name(point.measurement)} is type {GO_TYPES[kind]},"
                    f" already exists as type {GO_TYPES[existing]}"
                )
        return None


def _dropped(point_time: tuple[Point, int], bound: int | None) -> str:
    """`DroppedPoint.String` (v1/coordinator/points_writer.go v2.7.12 lines 109-111), times as ns."""
    point, timestamp = point_time
    key = ",".join([point.measurement, *(f"{k}={v}" for k, v in point.tags)])
    return f"point {key} at {timestamp} dropped because it violates a Retention Policy Lower Bound at {bound}"
