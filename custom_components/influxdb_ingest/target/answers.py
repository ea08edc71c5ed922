"""What a 1.x or 2.x partial write says besides a field type conflict, by release.

A partial write's text is `partial write: <reason> dropped=N` (tsdb/shard.go v1.8.10 line
122), since 1.12 followed by ` for database: D for retention policy: R` (tsdb/shard.go
v1.12.4 lines 131-141, and v2.7.12 lines 113-120). The server writes each shard on its own
and answers with the first shard error it gets back; a drop for retention is reported only
when no shard failed (coordinator/points_writer.go v1.8.10 lines 433-453; v1.12.4 line
517; v1/coordinator/points_writer.go v2.7.12 lines 482-505).
"""

from __future__ import annotations

import re

from ..lines.line_protocol import split_line

# Points older than the retention period, no shard failing: 1.x up to 1.11 says
# `points beyond retention policy` (coordinator/points_writer.go v1.8.10 line 434, v1.11.9
# line 379); 1.12 and 2.x `dropped N points outside retention policy of duration D - oldest
# ..., newest ...` (`SummariseDropped`, v1/coordinator/points_writer.go v2.7.12 lines 154-162);
# 1.12 counts points outside its write window in the same `dropped=N` and says how many
# (coordinator/points_writer.go v1.12.4 lines 175-199).
_RETENTION = re.compile(
    r"partial write: (?:points beyond retention policy"
    r"|dropped (?P<retention>\d+) points outside retention policy)"
)
# A string field over 1 MiB, 1.10 and later and 2.x: `input field "f" on measurement "m" is
# too long, N > 1048576` with `dropped=1` (tsdb/field_validator.go v1.10.0 and v1.11.9 with
# `\"%s\"`; v1.12.4 and v2.7.12 with `%q`, `MaxFieldValueLength`).
_TOO_LONG = re.compile(r'on measurement "(?:[^"\\]|\\.)*" is too long, \d+ > (?P<limit>\d+)')


def only_retention_drops(message: str, dropped: int | None) -> bool:
    """Whether every point a partial write dropped was older than the retention period.

    Then no shard failed, so every other point was stored.
    """
    if dropped is None or (match := _RETENTION.search(message)) is None:
        return False
    return match["retention"] is None or int(match["retention"]) == dropped


def too_long_limit(message: str) -> int | None:
    """The longest string value the server takes (bytes), when it refused one longer."""
    return int(match["limit"]) if (match := _TOO_LONG.search(message)) else None


def longest_string(line: str) -> int:
    """The length in bytes of the longest string field value of one of our lines, as stored."""
    longest = 0
    if '"' not in line:
        return 0
    for _, raw in split_line(line)[1]:
        if raw.startswith('"'):
            value = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            longest = max(longest, len(value.encode()))
    return longest
