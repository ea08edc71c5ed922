"""Hard crashes: `kill -9` of a real Home Assistant process, against the real InfluxDB 1.x.

Home Assistant runs as a subprocess (tests/support/crash_home.py) with the integration's default
loss window (5 s) and flush interval (1 s); a component inside it fires numbered state
changes. After each kill the spool is read from a copy as the next start finds it, and
what InfluxDB stored is queried; after the last restart everything must have landed
exactly once, except what the kill took: at most the loss window's worth of the newest
points of that life (rate x window), never a hole further back. `scripts/reliability`
records the figures (scenarios 7 to 9) in docs/reliability.md; INFLUXDB_INGEST_CRASH_REPEATS
sets how often scenario 9 kills (3 here, 20 there).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
import os
from pathlib import Path
import random
import time
from typing import Any

import pytest

from .support.crash_home import CrashHome, Run, fired_at, read_spool, stored_numbers
from .support.reliability import Figures
from .support.servers import InfluxDB1Server

DB = "crash"
WINDOW = 5.0  # the default loss window, which the entry keeps
# The entry's options: retry soon once InfluxDB is back (the loss window and the flush
# interval are the defaults under test).
OPTIONS = {"retry_initial_delay": 0.2, "retry_max_delay": 1.0, "circuit_open_seconds": 1.0}
REPEATS = int(os.environ.get("INFLUXDB_INGEST_CRASH_REPEATS", "3"))


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """No-op override of tests/conftest.py's fixture: Home Assistant runs as a subprocess here."""


@pytest.fixture
def influxdb(tmp_path: Path) -> Generator[InfluxDB1Server]:
    server = InfluxDB1Server(tmp_path / "influxdb", auth=False)
    start_influxdb(server)
    yield server
    server.stop()


@pytest.fixture
def home(tmp_path: Path, influxdb: InfluxDB1Server) -> Generator[CrashHome]:
    process = CrashHome(tmp_path / "config", influxdb, DB, OPTIONS)
    yield process
    process.stop()


def start_influxdb(server: InfluxDB1Server) -> None:
    server.start()
    server.query(f"CREATE DATABASE {DB}", method="POST")


def wait_until(condition: Callable[[], Any], what: str, home: CrashHome, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout}s\n{home.tail()}")
        time.sleep(0.05)
    return result


def replay_all(home: CrashHome, influxdb: InfluxDB1Server, expected: set[int]) -> list[int]:
    """Start once more (no load) with InfluxDB up; return what is stored once the spool is empty."""
    home.start(rate=0)
    wait_until(
        lambda: not home.spool_has_segments() and len(stored_numbers(influxdb, DB)) >= len(expected),
        "replay of the spool",
        home,
    )
    home.stop()
    return stored_numbers(influxdb, DB)


def assert_only_the_newest_lost(home: CrashHome, run: Run, kept: set[int]) -> int:
    """No hole in `run`'s events; the newest lost are at most its rate x the window. Return how many."""
    loss = home.loss(run, kept)
    assert loss.holes == [], f"events lost before the newest ones: {loss.holes[:10]}"
    assert loss.lost <= run.rate * WINDOW, f"{loss.lost} of {loss.fired} lost at {run.rate}/s"
    return loss.lost


def save_kill_figures(
    scenario: str, fired: int, stored: list[int], lost: int, peak_mb: float, notes: str
) -> None:
    """A kill scenario's row for docs/reliability.md: duplicates counted in what the server
    stored; nothing is dead-lettered in these scenarios."""
    duplicates = len(stored) - len(set(stored))
    Figures(scenario, "InfluxDB 1.6", fired, len(stored), duplicates, 0, lost, peak_mb, notes).save()


@pytest.mark.parametrize("rate", [20, 1000])
def test_kill_9_during_an_outage_loses_at_most_the_loss_window(
    home: CrashHome, influxdb: InfluxDB1Server, rate: int
) -> None:
    run = home.start(rate)
    wait_until(lambda: stored_numbers(influxdb, DB), "point written while InfluxDB is up", home)
    influxdb.kill()  # the outage
    wait_until(home.spool_has_segments, "spill", home)
    time.sleep(random.uniform(0, WINDOW))  # any moment of a window
    killed_at = home.kill()

    spool = read_spool(home.spool_dir)
    start_influxdb(influxdb)  # InfluxDB is back for the restart
    before = stored_numbers(influxdb, DB)
    kept = set(before) | set(spool.numbers)
    lost = assert_only_the_newest_lost(home, run, kept)
    assert spool.corrupt_records == 0

    stored = replay_all(home, influxdb, kept)
    assert sorted(stored) == sorted(kept)  # everything kept lands, exactly once
    newest_kept = max(run.block(kept))
    save_kill_figures(
        f"7. kill -9 of Home Assistant during an InfluxDB outage at {rate} changes/s, restart with"
        " InfluxDB back",
        home.loss(run, kept).fired,
        stored,
        lost,
        run.peak_rss_mb,
        f"lost the newest {lost} ({lost / rate:.1f} s; window {WINDOW:g} s, newest kept fired"
        f" {killed_at - fired_at(influxdb, DB, newest_kept):.1f} s before the kill);"
        f" {len(spool.numbers)} replayed from the spool",
    )


def test_kill_9_while_healthy_loses_only_what_was_not_yet_written(
    home: CrashHome, influxdb: InfluxDB1Server
) -> None:
    rate = 200
    run = home.start(rate)
    wait_until(lambda: stored_numbers(influxdb, DB), "point written", home)
    time.sleep(random.uniform(1, 3))
    killed_at = home.kill()

    spool = read_spool(home.spool_dir)
    before = stored_numbers(influxdb, DB)
    kept = set(before) | set(spool.numbers)
    lost = assert_only_the_newest_lost(home, run, kept)
    stored = replay_all(home, influxdb, kept)
    assert sorted(stored) == sorted(kept)
    newest_kept = max(run.block(kept))
    save_kill_figures(
        f"8. kill -9 of Home Assistant while InfluxDB is healthy ({rate} changes/s)",
        home.loss(run, kept).fired,
        stored,
        lost,
        run.peak_rss_mb,
        f"lost the newest {lost} ({lost / rate:.1f} s: not yet written, flush interval 1 s; newest"
        f" stored fired {killed_at - fired_at(influxdb, DB, newest_kept):.1f} s before the kill)",
    )


def test_kills_at_random_moments_of_spills_and_replays_lose_only_the_newest(
    tmp_path: Path, influxdb: InfluxDB1Server
) -> None:
    """Each round: a life that spills (InfluxDB down), killed as a spill lands on disk; then
    a life that replays (InfluxDB up, live events too), killed at a random moment of the
    replay. After each kill the spool as the next start finds it, plus what InfluxDB has,
    must hold every event but the newest of each life. Small batches: many spool records,
    so a replay lasts long enough to be interrupted after a random number of them."""
    home = CrashHome(tmp_path / "config", influxdb, DB, {**OPTIONS, "batch_size": 500})
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    kept: set[int] = set()
    torn = interrupted = 0
    try:
        for _ in range(REPEATS):
            influxdb.kill()
            home.start(rate=1000)
            size = wait_until(lambda: _spool_bytes(home), "first spill", home)
            _kill_soon_after(home, lambda size=size: _spool_bytes(home) > size, rng.uniform(0, 0.005))
            torn += _check_after_kill(home, influxdb, kept, influxdb_up=False)

            start_influxdb(influxdb)
            records = read_spool(home.spool_dir).records
            home.start(rate=200, wait=False)
            _kill_after_acknowledged(home, rng.randint(1, max(1, records - 1)))
            interrupted += home.spool_has_segments()
            torn += _check_after_kill(home, influxdb, kept, influxdb_up=True)
        stored = replay_all(home, influxdb, kept)
    finally:
        home.stop()
    assert sorted(stored) == sorted(kept)
    lives = home.runs[:-1]  # the last one only replayed
    save_kill_figures(
        f"9. kill -9 at random moments of spills and of replays, {REPEATS} times each",
        sum(home.loss(run, kept).fired for run in lives),
        stored,
        sum(home.loss(run, kept).lost for run in lives),
        max(run.peak_rss_mb for run in home.runs),
        f"only the newest of each life lost, each <= rate x window; {interrupted} replays"
        f" interrupted with records left; {torn} torn records cut off at restart; seed {seed}",
    )


def _kill_soon_after(home: CrashHome, condition: Callable[[], bool], delay: float) -> None:
    """Kill `delay` seconds after `condition` holds (polled every millisecond)."""
    deadline = time.monotonic() + 90
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met before the kill\n{home.tail()}")
        time.sleep(0.001)
    time.sleep(delay)
    home.kill()


def _kill_after_acknowledged(home: CrashHome, records: int) -> None:
    """Kill once the replay has moved the cursor `records` times (or ended before)."""
    seen = [_cursor(home), 0]

    def moved_enough() -> bool:
        if (cursor := _cursor(home)) != seen[0]:
            seen[:] = [cursor, int(seen[1]) + 1]
        return int(seen[1]) >= records or not home.spool_has_segments()

    _kill_soon_after(home, moved_enough, 0)


def _check_after_kill(
    home: CrashHome, influxdb: InfluxDB1Server, kept: set[int], *, influxdb_up: bool
) -> int:
    """What survived the kill (spool + InfluxDB) holds every earlier event but the newest of
    the life just killed; add it to `kept`; return the torn records the next start cuts."""
    spool = read_spool(home.spool_dir)
    assert spool.corrupt_records == 0
    if not influxdb_up:
        start_influxdb(influxdb)
    now = set(stored_numbers(influxdb, DB)) | set(spool.numbers)
    if not influxdb_up:
        influxdb.kill()
    assert kept <= now, f"{len(kept - now)} events kept before are gone"
    kept |= now
    for run in home.runs:
        assert_only_the_newest_lost(home, run, kept)
    return spool.torn_records


def _spool_bytes(home: CrashHome) -> int:
    return sum(path.stat().st_size for path in home.spool_dir.glob("*.seg"))


def _cursor(home: CrashHome) -> str:
    try:
        return (home.spool_dir / "cursor").read_text()
    except FileNotFoundError:
        return ""
