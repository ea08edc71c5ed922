"""What each InfluxDB 3 Core release does on the write path, for the 3.x stand-in.

One `Release` per minor version users run (the Home Assistant add-ons ship 3.5 to 3.12).
Each behaviour is keyed to the release that introduced it and cited to the file and tag of
influxdata/influxdb where it was read (`git show <tag>:<file>`), or, for 3.11, which has no
tag in the mirror, to the release notes on docs.influxdata.com/influxdb3/core/release-notes/.

Behaviours the same in every release (cited where the stand-in applies them):
`/write` and `/api/v2/write` never accept a partial write: influxdb3_types/src/http.rs
`impl From<iox_http::write::WriteParams> for WriteParams` sets `accept_partial: Some(false)`
(v3.5.0:410, v3.9.0:434, v3.10.1:455), so one bad line refuses the whole request with 400
and one error, and nothing is stored (the validator returns before the catalog commit:
influxdb3_write/src/write_buffer/validator.rs `v1_parse_lines_and_catalog_updates`,
v3.5.0:156-158, v3.10.1:159-161).
"""

from __future__ import annotations

from dataclasses import dataclass

RELEASES = ("3.5", "3.9", "3.10", "3.11")
OLDEST, NEWEST = RELEASES[0], RELEASES[-1]


@dataclass(frozen=True)
class Release:
    """One InfluxDB 3 Core release, by "major.minor" (the newest patch of it)."""

    name: str = NEWEST

    @property
    def at(self) -> tuple[int, int]:
        major, minor = self.name.split(".")
        return int(major), int(minor)

    def since(self, name: str) -> bool:
        return self.at >= Release(name).at

    @property
    def version(self) -> str:
        """What `/ping` reports (`X-Influxdb-Version` and the body's `version`)."""
        return {"3.5": "3.5.0", "3.9": "3.9.0", "3.10": "3.10.1", "3.11": "3.11.4"}.get(
            self.name, f"{self.name}.0"
        )

    # --- the line protocol parser ------------------------------------------------------------

    @property
    def string_limit(self) -> tuple[int, str]:
        """Longest string value in bytes, and the parser's error text.

        64 KiB until 3.8 (influxdb3_core `influxdb_line_protocol`); 1 MiB since 3.9, the
        `large-strings` feature on by default: core/influxdb_line_protocol/src/lib.rs
        v3.9.0:108-111 and 229-236, influxdb3/Cargo.toml v3.9.0:99-101.
        """
        if self.since("3.9"):
            return 1_048_576, "String is greater than 1MB"
        return 65_536, "String is greater than 64KB"

    # --- the validator and the catalog ------------------------------------------------------

    @property
    def refuses_timestamp_overflow(self) -> bool:
        """A timestamp that overflows i64 nanoseconds at its precision refuses the line.

        `precision.to_nanos(...)` with an error arm since v3.6.0 (validator.rs v3.10.1:273-280);
        v3.5.0 multiplies without a check (validator.rs v3.5.0:269, 406).
        """
        return self.since("3.6")

    @property
    def truncate_original_line(self) -> bool:
        """`original_line` in a line error is cut to 20 bytes since v3.6, and the keys reordered
        (`impl Serialize for WriteLineError`, influxdb3_write/src/lib.rs v3.6.0:141-158)."""
        return self.since("3.6")

    @property
    def cut_inside_a_character_panics(self) -> bool:
        """3.6.0 to 3.9.3 cut at byte 20 (`&original_line[..20]`, lib.rs v3.6.0:150, v3.9.3:150):
        inside a multi-byte character Rust panics, and the request's connection closes without
        an answer. 3.9.4 cuts at `floor_char_boundary(20)` (lib.rs v3.9.4:150), as 3.10 does
        (influxdb3_types/src/write.rs v3.10.1:177-179); the stand-in's 3.9 is 3.9.0."""
        return self.since("3.6") and not self.since("3.10")

    @property
    def max_tags_per_table(self) -> int:
        """Tag columns per table: 256 with the v2 catalog (3.4 to 3.9), 4096 with v3 (3.10).

        influxdb3_catalog/src/catalog.rs `pub use versions::v2::*` (v3.5.0:4, v3.9.0:4) and
        versions/v2.rs `NUM_TAG_COLUMNS_LIMIT = TagId::MAX + 1` (v3.5.0:76); versions/v3.rs
        `NUM_TAG_COLUMNS_LIMIT = 4096` (v3.10.1:23). 250 only up to v3.3 (catalog.rs v3.3.0:82).
        """
        return 4096 if self.since("3.10") else 256

    @property
    def time_counts_as_column(self) -> bool:
        """Whether `time` counts against the 500 columns per table.

        v2 catalog: `num_columns() = tags + fields + 1` (versions/v2/update.rs v3.5.0:1509-1511);
        v3 catalog: `self.columns.len()`, tags and fields (versions/v3/schema/table.rs v3.10.1:358).
        """
        return not self.since("3.10")

    @property
    def too_many_tables(self) -> str:
        """influxdb3_catalog/src/error.rs `TooManyTables`: v3.5.0:57, v3.9.0:56-60."""
        if self.since("3.9"):
            return (
                "Update to schema would exceed number of tables limit: attempted to create table "
                "but already have {current} table(s) (limit: {limit})"
            )
        return "Update to schema would exceed number of tables limit of {limit} tables"

    @property
    def max_db_name(self) -> int:
        """http.rs `MAXIMUM_DATABASE_NAME_LENGTH`: 64 (v3.9.0:2147), 511 (v3.10.0:2353)."""
        return 511 if self.since("3.10") else 64

    @property
    def rejected_line_changes_schema(self) -> bool:
        """With `accept_partial=true`, columns a rejected line created before failing stay.

        Fixed in 3.11.2 ("Partial schema changes from a rejected line", release notes v3.11.2):
        a line is validated in full before the catalog changes.
        """
        return not self.since("3.11")

    @property
    def last_write_wins(self) -> bool:
        """Two writes of one series and timestamp: the last acknowledged one wins since 3.11.4
        (release notes v3.11.4, "Overwrites in the write buffer resolved arbitrarily"); before,
        either could survive. The stand-in keeps the first then, so that no test relies on an
        overwrite an older server may not make."""
        return self.since("3.11")

    # --- HTTP answers -------------------------------------------------------------------------

    @property
    def gzip_every_member(self) -> bool:
        """A gzip body of several members is decoded whole since 3.8 (`MultiGzDecoder`,
        http.rs v3.8.0:1165); before, only its first member (`GzDecoder`, v3.5.0:992): the
        rest of the body is silently not written."""
        return self.since("3.8")

    @property
    def parse_error(self) -> str:
        """`/api/v3/write_lp?accept_partial=false` and `/write`: the `error` of the one-line answer.

        influxdb3_server/src/http.rs `WriteBuffer(ParseError)` arm: "parsing failed for write_lp
        endpoint" (v3.5.0:534, to v3.9.0), "line protocol parsing error" (v3.10.1:752).
        """
        return "line protocol parsing error" if self.since("3.10") else "parsing failed for write_lp endpoint"

    def v2_parse_message(self, reason: str) -> str:
        """`/api/v2/write`: the `message` for a refused line (write_buffer `Error::ParseError`).

        influxdb3_write/src/write_buffer/mod.rs: "parsing for line protocol failed", without
        the reason (v3.5.0:66, to v3.8.0); "line protocol parse failed: {error_message}" since
        v3.9.0 (v3.9.0 and v3.10.1:70).
        """
        if self.since("3.9"):
            return f"line protocol parse failed: {reason}"
        return "parsing for line protocol failed"

    @property
    def request_errors_are_4xx(self) -> bool:
        """Over `--max-http-request-size` 413, bad gzip and non-UTF-8 bodies 400 (500 before).

        http.rs `impl IntoResponse for Error`: the `NonUtf8Body | InvalidGzip ...` 400 arm and
        the `RequestSizeExceeded` 413 arm, v3.10.1:948-962; absent at v3.9.0 (their default arm
        is 500). `/api/v2/write` maps them itself in every release (`V2WriteApiError::to_code`).
        """
        return self.since("3.10")

    @property
    def v2_forbidden(self) -> bool:
        """`/api/v2/write` with a token that may not write: 403 `forbidden` since 3.10.

        http.rs `V2WriteErrorCode::Forbidden` (v3.10.1:504-505, 516, 527, 538); before, the
        same error was `unauthorized`, 401 with the opaque "unauthorized access" (v3.5.0:356-358,
        415-421).
        """
        return self.since("3.10")

    @property
    def v2_unavailable_while_stopping(self) -> bool:
        """`/api/v2/write` answers 503 while the node stops (3.11 release notes, per issue 19).

        Not in any tag of the mirror (main of 2026-06-17 has no 503 arm either): the status is
        from the release notes, the body's wording is the stand-in's own.
        """
        return self.since("3.11")


def release(name: str) -> Release:
    if name not in RELEASES:
        raise ValueError(f"no InfluxDB 3 release {name!r} modelled; known: {', '.join(RELEASES)}")
    return Release(name)
