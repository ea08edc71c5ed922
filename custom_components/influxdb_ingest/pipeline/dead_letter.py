"""The dead-letter file: points InfluxDB refused for good, kept for a human to inspect.

JSON lines, one per point: the line protocol, the server's message and the time; and one per
string value too long for the server, whole, next to the line written with it cut. Blocking
file I/O: runs in Home Assistant's executor.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path


def append_dead_letters(path: Path, lines: list[str], message: str) -> None:
    """Append refused lines with the server's reason."""
    path.parent.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC).isoformat()
    with path.open("a", encoding="utf-8") as file:
        for line in lines:
            record = {"time": now, "error": message, "line": line.rstrip("\n")}
            file.write(json.dumps(record, ensure_ascii=False) + "\n")


def append_cut_values(path: Path, cut: list[tuple[str, str, str]], limit_bytes: int) -> None:
    """Keep string values cut to the server's limit whole: (line written, field key, value)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC).isoformat()
    with path.open("a", encoding="utf-8", errors="surrogatepass") as file:
        for line, key, value in cut:
            record = {
                "time": now,
                "error": f"string value longer than {limit_bytes} bytes: written cut to fit",
                "line": line,
                "field": key,
                "value": value,
            }
            file.write(json.dumps(record, ensure_ascii=False) + "\n")
