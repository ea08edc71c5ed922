"""Where and how to reach an InfluxDB: the target a config entry describes.

Built from the entry's data; gives the write endpoint, the authorization headers and a
unique id. Secrets stay in fields that are left out of its repr.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
import ipaddress
from typing import Any

import aiohttp
from yarl import URL

from ..const import (
    CONF_API_VERSION,
    CONF_BUCKET,
    CONF_DATABASE,
    CONF_ORG,
    CONF_RETENTION_POLICY,
    ApiVersion,
)


def is_valid_url(url: str) -> bool:
    """An http(s) URL with a host and no credentials in it (they go in their own fields)."""
    try:
        parsed = URL(url)
    except ValueError:
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.host) and not parsed.user


@dataclass(frozen=True, slots=True)
class InfluxTarget:
    """Where and how to write: built from a config entry's data."""

    api_version: ApiVersion
    url: str
    database: str = ""
    retention_policy: str = ""
    org: str = ""
    bucket: str = ""
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)
    verify_ssl: bool = True

    @classmethod
    def from_config(cls, data: Mapping[str, Any]) -> InfluxTarget:
        """Build a target from config entry data (keys from const and homeassistant.const)."""
        return cls(
            api_version=ApiVersion(data[CONF_API_VERSION]),
            url=str(data["url"]).rstrip("/"),
            database=data.get(CONF_DATABASE, ""),
            retention_policy=data.get(CONF_RETENTION_POLICY, ""),
            org=data.get(CONF_ORG, ""),
            bucket=data.get(CONF_BUCKET, ""),
            username=data.get("username", ""),
            password=data.get("password", ""),
            token=data.get("token", ""),
            verify_ssl=data.get("verify_ssl", True),
        )

    @property
    def unique_id(self) -> str:
        """Identifies the target so the same one cannot be added twice."""
        url = URL(self.url)
        where = f"{url.scheme}://{url.host}:{url.port}{url.path.rstrip('/')}"
        match self.api_version:
            case ApiVersion.V1:
                name = f"{self.database}/{self.retention_policy}"
            case ApiVersion.V2:
                name = f"{self.org}/{self.bucket}"
            case ApiVersion.V3:
                name = self.database
        return f"v{self.api_version}|{where}|{name}"

    @property
    def is_loopback(self) -> bool:
        """Whether the server runs on this machine (then compressing only costs CPU)."""
        host = URL(self.url).host or ""
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    @property
    def title(self) -> str:
        """A short human name: what is written where (the port too: two servers may share a host)."""
        name = self.bucket if self.api_version is ApiVersion.V2 else self.database
        url = URL(self.url)
        return f"{name} @ {url.host}:{url.port}"

    @property
    def v3_database(self) -> str:
        """The database an InfluxDB 3 server writes this target's points to, whatever the API.

        `/api/v2/write` takes the bucket; `/write` appends a named retention policy as
        `db/rp` (influxdb3_core iox_http/src/write/single_tenant/mod.rs, `parse_v1`).
        """
        rp = self.retention_policy.lower()
        match self.api_version:
            case ApiVersion.V2:
                return self.bucket
            case ApiVersion.V1 if rp not in ("", "autogen", "default"):
                return f"{self.database}/{rp}"
        return self.database

    @property
    def write_url(self) -> URL:
        """The write endpoint with its non-secret query parameters."""
        base = URL(self.url)
        match self.api_version:
            case ApiVersion.V1:
                query = {"db": self.database, "precision": "ns"}
                if self.retention_policy:
                    query["rp"] = self.retention_policy
                return base / "write" % query
            case ApiVersion.V2:
                return (
                    base
                    / "api/v2/write"
                    % {
                        "org": self.org,
                        "bucket": self.bucket,
                        "precision": "ns",
                    }
                )
            case ApiVersion.V3:
                return base / "api/v3/write_lp" % {"db": self.database, "precision": "nanosecond"}

    @property
    def headers(self) -> dict[str, str]:
        """Authorization for the API: Basic for v1 users, Token or Bearer for tokens."""
        if self.token:
            scheme = "Bearer" if self.api_version is ApiVersion.V3 else "Token"
            return {"Authorization": f"{scheme} {self.token}"}
        if self.username or self.password:
            return {"Authorization": aiohttp.encode_basic_auth(self.username, self.password)}
        return {}
