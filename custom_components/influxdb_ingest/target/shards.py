"""The target's shard group duration: the block of time InfluxDB 1.x and 2.x type fields by.

Asked once, at the first field type conflict, so the healer keeps types per shard window
(docs/architecture.md, "What the writer counts as written").
"""

from __future__ import annotations

import json
import re

from yarl import URL

from ..const import ApiVersion
from .influx_api import InfluxClient, InfluxError

_GO_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+(?:\.\d+)?)s)?")


def go_duration_ns(text: str) -> int | None:
    """Nanoseconds of a Go `time.Duration.String` such as `168h0m0s`; None when it is not one."""
    match = _GO_DURATION.fullmatch(text)
    if not text or match is None:
        return None
    hours, minutes, seconds = (float(part) if part else 0.0 for part in match.groups())
    return int(((hours * 60 + minutes) * 60 + seconds) * 1_000_000_000)


async def shard_duration(client: InfluxClient, timeout: float) -> int | None:
    """The target's shard group duration (ns), where the server tells it; else None.

    1.x: `SHOW RETENTION POLICIES` (`shardGroupDuration` of the entry's policy or the default,
    coordinator/statement_executor.go v1.8.10 line 789). 2.x: the bucket's
    `retentionRules[].shardGroupDurationSeconds` (`GET /api/v2/buckets`,
    tenant/http_server_bucket.go v2.7.12 line 89); a token that may not read buckets cannot tell.
    """
    target = client.target
    try:
        if target.api_version is ApiVersion.V1:
            url = URL(target.url) / "query" % {"db": target.database, "q": "SHOW RETENTION POLICIES"}
            answer = json.loads(await client.get(url, timeout))
            series = answer["results"][0]["series"][0]
            for row in series["values"]:
                policy = dict(zip(series["columns"], row, strict=False))
                if policy["name"] == target.retention_policy or (
                    not target.retention_policy and policy["default"]
                ):
                    return go_duration_ns(str(policy["shardGroupDuration"]))
        elif target.api_version is ApiVersion.V2:
            url = URL(target.url) / "api/v2/buckets" % {"name": target.bucket, "org": target.org}
            answer = json.loads(await client.get(url, timeout))
            for rule in answer["buckets"][0].get("retentionRules") or []:
                if seconds := rule.get("shardGroupDurationSeconds"):
                    return int(seconds) * 1_000_000_000
    except InfluxError, ValueError, KeyError, IndexError, TypeError:
        return None
    return None
