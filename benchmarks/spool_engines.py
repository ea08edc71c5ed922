"""Which engine should hold the spool: the segment log (spool.py) or sqlite3 in WAL mode.

Both take the same batches through the same interface (`append` a spill, `oldest`, `read`,
`ack`), on the same disk, with the payload compressed the same way:

- throughput: a spill per loss window for an hour of outage at 20 and at 1 000 changes/s
  (720 spills of 100 and of 5 000 points of real line protocol), then the replay;
- bytes the kernel sent to the storage layer (/proc/self/io write_bytes) for each;
- fsync/fdatasync calls, counted by strace (a second run of each workload under it);
- crash safety: a child process appends (or replays) and reports each batch the engine
  acknowledged; it is killed with SIGKILL at a random moment, and the spool reopened must
  hold every batch acknowledged as spooled (and every batch not acknowledged as written);
- code size: lines of code of each engine.

sqlite runs with synchronous=FULL: in WAL mode NORMAL syncs only at checkpoints, so a
power cut may roll back commits that already returned, which is exactly what the spool must
not do (https://www.sqlite.org/pragma.html#pragma_synchronous). Run through
scripts/spool-engines; docs/architecture.md quotes the table.
"""

from __future__ import annotations

import argparse
import ast
from collections import deque
from collections.abc import Callable, Sequence
import inspect
import os
from pathlib import Path
import platform
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from typing import Any
import zlib

from custom_components.influxdb_ingest.lines.metadata import NO_METADATA
from custom_components.influxdb_ingest.pipeline import spool as segment_log
from custom_components.influxdb_ingest.pipeline.serializer import make_serializer
from custom_components.influxdb_ingest.pipeline.settings import WriterSettings
from custom_components.influxdb_ingest.pipeline.spool import (
    DiskSpool,
    SpoolDamage,
    SpoolEntry,
    SpoolRecord,
    encode_lines,
)

from .spool_wear import event


class SqliteSpool:
    """DiskSpool's interface on sqlite3 in WAL mode: one row per batch, one transaction per spill."""

    def __init__(self, directory: Path, *, max_bytes: int, max_age: float, synchronous: str = "FULL") -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.max_age = max_age
        self.synchronous = synchronous
        self.points = 0
        self._records: deque[SpoolRecord] = deque()
        self._db: sqlite3.Connection | None = None

    @property
    def db(self) -> sqlite3.Connection:
        assert self._db is not None, "open() first"
        return self._db

    @property
    def size_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.directory.glob("spool.db*"))

    @property
    def oldest_created(self) -> float | None:
        return self._records[0].created if self._records else None

    def __len__(self) -> int:
        return len(self._records)

    def open(self) -> SpoolDamage:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.directory / "spool.db", isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={self.synchronous}")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS batch"
            " (id INTEGER PRIMARY KEY, created REAL, points INTEGER, payload BLOB)"
        )
        for row_id, points, created, size in self.db.execute(
            "SELECT id, points, created, length(payload) FROM batch ORDER BY id"
        ):
            self._records.append(SpoolRecord(0, row_id, size, points, created))
            self.points += points
        return SpoolDamage()

    def append(self, entries: Sequence[SpoolEntry]) -> int:
        rows = [(created, points, zlib.compress(data, 1)) for data, points, created in entries]
        with self.db:  # one transaction, one commit (one WAL sync) per spill
            self.db.execute("BEGIN")
            ids = [
                self.db.execute(
                    "INSERT INTO batch (created, points, payload) VALUES (?, ?, ?)", row
                ).lastrowid
                for row in rows
            ]
        for row_id, (created, points, payload) in zip(ids, rows, strict=True):
            assert row_id is not None
            self._records.append(SpoolRecord(0, row_id, len(payload), points, created))
            self.points += points
        return self._enforce_size()

    def _enforce_size(self) -> int:
        dropped = 0
        while self._records and sum(record.size for record in self._records) > self.max_bytes:
            record = self._records[0]
            self.ack(record)
            dropped += record.points
        return dropped

    def drop_expired(self, now: float) -> int:
        dropped = 0
        while self._records and self._records[0].created < now - self.max_age:
            dropped += self._records[0].points
            self.ack(self._records[0])
        return dropped

    def oldest(self, count: int) -> list[SpoolRecord]:
        return list(self._records)[:count]

    def read(self, record: SpoolRecord) -> list[str]:
        (payload,) = self.db.execute("SELECT payload FROM batch WHERE id = ?", (record.offset,)).fetchone()
        return segment_log._decode(zlib.decompress(payload))

    def ack(self, record: SpoolRecord) -> None:
        if self._records[0] is not record:
            raise ValueError("spool records are acknowledged oldest first")
        with self.db:
            self.db.execute("DELETE FROM batch WHERE id = ?", (record.offset,))
        self._records.popleft()
        self.points -= record.points

    def close(self) -> None:
        self.db.close()


ENGINES: dict[str, Callable[[Path], Any]] = {
    "segment log": lambda directory: DiskSpool(directory, max_bytes=2**40, max_age=10**9),
    "sqlite WAL, synchronous=FULL": lambda directory: SqliteSpool(directory, max_bytes=2**40, max_age=10**9),
}


def spills(points_per_spill: int, count: int) -> list[SpoolEntry]:
    """`count` spills of real line protocol (the default layout), `points_per_spill` each."""
    serializer = make_serializer(WriterSettings(), lambda _entity_id: NO_METADATA)
    start = 1_800_000_000.0
    result = []
    for spill in range(count):
        lines = [
            f"{serializer.line(event(number, start + number / 1000))}\n"
            for number in range(spill * points_per_spill, (spill + 1) * points_per_spill)
        ]
        result.append((encode_lines(lines), len(lines), start + spill * 5))
    return result


def _storage_bytes() -> int:
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return int(fields["write_bytes"])


def run_workload(engine: str, directory: Path, entries: list[SpoolEntry]) -> dict[str, float]:
    """Append every spill, then replay everything; time and storage bytes of each half."""
    spool = ENGINES[engine](directory)
    spool.open()
    os.sync()
    before, start = _storage_bytes(), time.perf_counter()
    for entry in entries:
        spool.append([entry])
    appended, append_bytes = time.perf_counter() - start, _storage_bytes() - before
    size = spool.size_bytes
    before, start = _storage_bytes(), time.perf_counter()
    replayed = 0
    while records := spool.oldest(2):
        for record in records:
            replayed += len(spool.read(record))
            spool.ack(record)
    replay, replay_bytes = time.perf_counter() - start, _storage_bytes() - before
    points = sum(points for _, points, _ in entries)
    assert replayed == points, (replayed, points)
    return {
        "append_points_per_s": points / appended,
        "append_bytes": append_bytes,
        "replay_points_per_s": points / replay,
        "replay_bytes": replay_bytes,
        "size": size,
    }


def count_syncs(engine: str, points_per_spill: int, count: int) -> tuple[int, int] | None:
    """Fsync + fdatasync calls of (appending, replaying), counted by strace; None without strace.

    strace counts a whole process: one child appends, another appends and replays; the
    replay's calls are the difference.
    """
    if shutil.which("strace") is None:
        return None
    totals = []
    for phases in ("append", "append+replay"):
        with tempfile.TemporaryDirectory() as directory:
            output = Path(directory) / "strace.txt"
            command = [sys.executable, "-m", "benchmarks.spool_engines", "--child", phases, engine, directory]
            command += [str(points_per_spill), str(count)]
            trace = ["strace", "-f", "-c", "-e", "trace=fsync,fdatasync", "-o", str(output)]
            subprocess.run([*trace, *command], check=True)  # noqa: S603  # our own command
            # The summary's rows: % time, seconds, usecs/call, calls, [errors,] syscall.
            rows = re.findall(
                r"^\s*\S+\s+\S+\s+\S+\s+(\d+)\s+(?:\d+\s+)?f(?:data)?sync$", output.read_text(), re.M
            )
            totals.append(sum(int(calls) for calls in rows))
    return totals[0], totals[1] - totals[0]


def child(phases: str, engine: str, directory: Path, points_per_spill: int, count: int) -> None:
    """What count_syncs runs under strace."""
    spool = ENGINES[engine](directory / "spool")
    spool.open()
    for entry in spills(points_per_spill, count):
        spool.append([entry])
    if phases == "append+replay":
        while records := spool.oldest(2):
            for record in records:
                spool.read(record)
                spool.ack(record)


# --- crash safety: the same kill -9 tests for both engines ----------------------------------

_NUMBER = re.compile(r"seq=(\d+)i")


def _batch(number: int) -> SpoolEntry:
    lines = [f"m,entity_id=sensor.x{n % 20} seq={number * 100 + n}i {number * 100 + n}\n" for n in range(100)]
    return encode_lines(lines), len(lines), float(number)


def crash_child(role: str, engine: str, directory: Path) -> None:
    """Append batches forever ("append"), or replay everything ("replay").

    Each batch number is printed once appended (the engine says it is on disk), or once
    delivered before it is acknowledged.
    """
    spool = ENGINES[engine](directory)
    spool.open()
    if role == "append":
        number = len(spool)
        while True:
            spool.append([_batch(number)])
            print(number, flush=True)
            number += 1
    while records := spool.oldest(1):
        # Delivered (the writer's server stored it), then acknowledged, as the writer does:
        # a kill in between replays it again, never loses it.
        print(int(_NUMBER.findall(spool.read(records[0])[0])[0]) // 100, flush=True)
        spool.ack(records[0])


def _batches_in(engine: str, directory: Path) -> tuple[set[int], int]:
    """Batch numbers a reopened spool holds, and the torn records it cut off."""
    spool = ENGINES[engine](directory)
    damage = spool.open()
    held = {int(_NUMBER.findall(spool.read(record)[0])[0]) // 100 for record in spool.oldest(len(spool))}
    if isinstance(spool, SqliteSpool):
        spool.close()
    return held, damage.torn_records


def _killed(role: str, engine: str, directory: Path, after: float) -> list[int]:
    """Run a crash child, SIGKILL it `after` seconds in; the batch numbers it reported."""
    command = [sys.executable, "-m", "benchmarks.spool_engines", "--crash-child", role, engine]
    process = subprocess.Popen([*command, str(directory)], stdout=subprocess.PIPE)  # noqa: S603
    time.sleep(after)
    process.send_signal(signal.SIGKILL)
    output, _ = process.communicate()
    return [int(line) for line in output.decode().splitlines() if line.strip().isdigit()]


def crash_trials(engine: str, trials: int, rng: random.Random) -> dict[str, int]:
    """Kill an appender and then a replayer at random moments; count what went wrong."""
    result = {"trials": trials, "acknowledged lost": 0, "torn cut off": 0, "replayed again": 0}
    # Lost: appended but not in the spool, or in the spool, not delivered and gone.
    for _ in range(trials):
        with tempfile.TemporaryDirectory() as directory:
            spool_dir = Path(directory) / "spool"
            appended = _killed("append", engine, spool_dir, rng.uniform(0.3, 1.0))
            held, torn = _batches_in(engine, spool_dir)
            result["acknowledged lost"] += len(set(appended) - held)
            result["torn cut off"] += torn
            replayed = _killed("replay", engine, spool_dir, rng.uniform(0.25, 0.6))
            left, torn = _batches_in(engine, spool_dir)
            result["acknowledged lost"] += len(held - set(replayed) - left)
            result["torn cut off"] += torn
            result["replayed again"] += len(set(replayed) & left)
    return result


def code_lines(source: str) -> int:
    """Lines of code: not blank, not a comment, not a docstring."""
    docstrings = {
        line
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for line in range(node.lineno, (node.end_lineno or node.lineno) + 1)
    }
    return sum(
        1
        for number, line in enumerate(source.splitlines(), 1)
        if line.strip() and not line.strip().startswith("#") and number not in docstrings
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spills", type=int, default=720, help="spills per workload (720: an hour)")
    parser.add_argument("--trials", type=int, default=20, help="kill tests per engine")
    parser.add_argument("--child", nargs=5, metavar=("PHASES", "ENGINE", "DIR", "POINTS", "COUNT"))
    parser.add_argument("--crash-child", nargs=3, metavar=("ROLE", "ENGINE", "DIR"))
    args = parser.parse_args()
    if args.child:
        phases, engine, directory, points, count = args.child
        child(phases, engine, Path(directory), int(points), int(count))
        return
    if args.crash_child:
        role, engine, directory = args.crash_child
        crash_child(role, engine, Path(directory))
        return
    rng = random.Random(14)
    rows = [
        "| engine | changes/s | append (points/s) | replay (points/s) | bytes to storage: append + replay"
        " | spool size | syncs: append + replay |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for rate, points in ((20, 100), (1000, 5000)):
        entries = spills(points, args.spills)
        for engine in ENGINES:
            with tempfile.TemporaryDirectory() as directory:
                figures = run_workload(engine, Path(directory) / "spool", entries)
            syncs = count_syncs(engine, points, args.spills)
            rows.append(
                f"| {engine} | {rate} | {figures['append_points_per_s']:,.0f}"
                f" | {figures['replay_points_per_s']:,.0f}"
                f" | {figures['append_bytes'] / 2**20:.1f} + {figures['replay_bytes'] / 2**20:.1f} MiB"
                f" | {figures['size'] / 2**20:.1f} MiB | "
                + (f"{syncs[0]} + {syncs[1]}" if syncs else "n/a (no strace)")
                + " |"
            )
    print(f"{args.spills} spills (a loss window each) per row, then their replay:\n")
    print("\n".join(rows))
    print(
        "\n| engine | kill -9 trials | acknowledged batches lost | torn records cut off"
        " | batches replayed again | lines of code |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    sizes = {
        "segment log": code_lines(Path(segment_log.__file__).read_text()),
        "sqlite WAL, synchronous=FULL": code_lines(inspect.getsource(SqliteSpool)),
    }
    for engine in ENGINES:
        crash = crash_trials(engine, args.trials, rng)
        print(
            f"| {engine} | {crash['trials']} | {crash['acknowledged lost']} | {crash['torn cut off']}"
            f" | {crash['replayed again']} | {sizes[engine]} |"
        )
    print(f"\n{platform.machine()}, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}.")


if __name__ == "__main__":
    main()
