"""Which server answers: product and version from its `/ping`, and what differs by release.

What each server's `/ping` says (influxdata/influxdb, at the tags named):
* 1.x: 204, `X-Influxdb-Version: 1.x.y` and `X-Influxdb-Build: OSS`
  (services/httpd/handler.go v1.9.9:453-454, cmd/influxd/run/server.go v1.9.9:311).
* 2.x: 204, `X-Influxdb-Version` and `X-Influxdb-Build: OSS` (http/handler.go v2.7.12:131-132).
* 3.x: 200 and JSON `{"version", "revision", "process_id"}`, with `X-Influxdb-Version` and
  `X-Influxdb-Build` ("Core" or "Enterprise"); `product_name` ("InfluxDB 3 Core") in the body
  since 3.9 (influxdb3_server/src/http.rs `ping`, v3.5.0:926-946, v3.9.0:1086, v3.10.1:1213-1234).
  3.x asks for a token on `/ping` unless started with `--disable-authz ping`.

Pure: the HTTP call is `InfluxClient.async_read_server_info`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import json
import re

_VERSION = re.compile(r"v?(\d+)\.(\d+)")
# The longest string field value a server stores, in UTF-8 bytes (the value itself, unescaped).
# InfluxDB 3 up to 3.8: 64 KiB; 3.9 and later are built with the line-protocol crate's
# `large-strings` feature: 1 MiB (core/influxdb_line_protocol/src/lib.rs v3.9.0/v3.10.1
# lines 104-111, influxdb3/Cargo.toml v3.9.0 line 99). InfluxDB 1.x (1.10 and later) and 2.x:
# 1 MiB (tsdb/field_validator.go v1.11.9 line 11, v2.7.12 line 12; older 1.x have no limit).
STRING_LIMIT_64K = 65_536
STRING_LIMIT_1M = 1_048_576


def string_limit_for(api_version: str, server_version: str | None = None) -> int:
    """The string limit of a target: 64 KiB on InfluxDB 3 unless it is known to be 3.9 or later."""
    if api_version != "3":
        return STRING_LIMIT_1M
    try:
        major, minor = (int(part) for part in (server_version or "").lstrip("v").split(".")[:2])
    except ValueError:
        return STRING_LIMIT_64K
    return STRING_LIMIT_1M if (major, minor) >= (3, 9) else STRING_LIMIT_64K


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What a server says it is. Empty strings when it does not say."""

    product: str = ""
    version: str = ""
    build: str = ""

    @classmethod
    def from_ping(cls, headers: Mapping[str, str], body: str) -> ServerInfo:
        """Read `/ping`'s headers and (3.x) JSON body."""
        version = headers.get("X-Influxdb-Version", "")
        build = headers.get("X-Influxdb-Build", "")
        product = ""
        try:
            parsed = json.loads(body) if body.strip() else None
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            product = str(parsed.get("product_name") or "")
            version = version or str(parsed.get("version") or "")
        info = cls(product, version.removeprefix("v"), build)
        if not product and (generation := info.generation) is not None:
            # 3.x before 3.9 names no product: the build header says Core or Enterprise.
            flavour = build if generation == 3 and build else "OSS" if generation < 3 else ""
            info = cls(f"InfluxDB {generation} {flavour}".strip(), info.version, build)
        return info

    @property
    def release(self) -> tuple[int, int] | None:
        """(major, minor), or None when the server named no version."""
        match = _VERSION.match(self.version)
        return (int(match[1]), int(match[2])) if match else None

    @property
    def generation(self) -> int | None:
        """1, 2 or 3; None when unknown (a proxy, VictoriaMetrics, no answer yet)."""
        release = self.release
        return release[0] if release and release[0] in (1, 2, 3) else None

    @property
    def is_influxdb3(self) -> bool:
        """Whether the server is InfluxDB 3 (Core or Enterprise)."""
        return self.generation == 3 or self.product.startswith("InfluxDB 3")

    def at_least(self, major: int, minor: int) -> bool:
        """Whether the server is this release or newer (False when it did not say)."""
        release = self.release
        return release is not None and release >= (major, minor)

    def string_limit_bytes(self) -> int:
        """The longest string field value the server stores, in UTF-8 bytes."""
        return string_limit_for("3" if self.is_influxdb3 else "1", self.version)

    @property
    def whole_request_refused(self) -> bool:
        """3.x's `/write` and `/api/v2/write` refuse a whole request for one bad line.

        influxdb3_types/src/http.rs `From<iox_http::write::WriteParams>` sets
        `accept_partial: Some(false)` in every 3.x release (v3.5.0:410, v3.10.1:455).
        """
        return self.is_influxdb3

    @property
    def dies_on_a_cut_character(self) -> bool:
        """3.6.0 to 3.9.3 panic answering a refused line whose first 20 bytes end inside a character.

        `impl Serialize for WriteLineError` cuts `original_line` with `&original_line[..20]`
        (influxdb3_write/src/lib.rs v3.6.0:150, v3.9.3:150), serialized when the answer is
        built (influxdb3_server/src/http.rs v3.9.0:803, `PartialLpWrite`); the handler dies and
        the connection closes unanswered. Fixed by `floor_char_boundary(20)` in v3.9.4
        (lib.rs v3.9.4:150; influxdb3_types/src/write.rs v3.10.1:179).
        """
        numbers = tuple(int(number) for number in re.findall(r"\d+", self.version)[:3])
        return self.is_influxdb3 and (3, 6, 0) <= numbers < (3, 9, 4)

    def describe(self) -> str:
        """For messages: "InfluxDB 3 Core 3.10.1", "InfluxDB 1 OSS 1.6.4", or "an unknown server"."""
        text = " ".join(part for part in (self.product, self.version) if part)
        return text or "an unknown server"

    def as_dict(self) -> dict[str, str]:
        """For diagnostics, and kept across restarts (`from_dict`)."""
        return {"product": self.product, "version": self.version, "build": self.build}

    @classmethod
    def from_dict(cls, saved: Mapping[str, object]) -> ServerInfo:
        """What `as_dict` gave, read back (a field missing or not a string is empty)."""
        fields = (saved.get(key) for key in ("product", "version", "build"))
        return cls(*(value if isinstance(value, str) else "" for value in fields))


def unanswered_line_reason(server: ServerInfo | None) -> str:
    """Why a line alone was dead-lettered after it closed the connection twice, `/ping` answering."""
    described = server.describe() if server else "InfluxDB"
    reason = f"{described} closed the connection without an answer each time this line was sent"
    if server is not None and server.dies_on_a_cut_character:
        return (
            f"{reason}: InfluxDB 3.6.0 to 3.9.3 crash answering a refused line whose first 20 bytes end"
            " inside a character (fixed in 3.9.4); upgrade InfluxDB, then send it again"
        )
    return f"{reason}, though it answered /ping: a fault of the server (see its log)"
