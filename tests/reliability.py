"""Figures of the reliability scenarios, written to docs/reliability.md by scripts/reliability.

Each scenario records what it fired and what the real server stored. When the environment
variable INFLUXDB_INGEST_FIGURES names a file, the figures are appended to it as JSON lines;
otherwise they are only asserted on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
import json
import os
from pathlib import Path


@dataclass
class Figures:
    """What one scenario did, counted by real queries."""

    scenario: str
    fired: int
    stored: int
    duplicates: int
    dead_lettered: int
    dropped: int
    peak_memory_mb: float
    notes: str = ""

    def save(self) -> None:
        """Append to the figures file when scripts/reliability asked for one."""
        if target := os.environ.get("INFLUXDB_INGEST_FIGURES"):
            with Path(target).open("a", encoding="utf-8") as file:
                file.write(json.dumps(asdict(self)) + "\n")
