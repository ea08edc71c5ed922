"""Hard crashes: `kill -9` of a real Home Assistant process, against the real InfluxDB 1.x.

Home Assistant runs as a subprocess (tests/support/crash_home.py) with the integration's default
loss window (5 s) and flush interval (1 s); a component inside it fires numbered state
changes. After each kill the spool's files are read by the tests' own reader of the
segment format (tests/support/spool_oracle.py: the spool under test never vouches for
itself), and what InfluxDB stored is queried. After the restart every point that was on
disk at the kill must be stored; the kill may take only points never synced, the newest
of that life, at most the loss window's worth (rate x window), never one older than a
synced one. Home Assistant writes through a fault proxy that keeps every request: a point
the server accepted twice must have a reason (its answer died with the process, or the
kill came after the server stored it and before the cursor moved). `scripts/reliability`
records the figures (scenarios 7 to 9) in docs/reliability.md; INFLUXDB_INGEST_CRASH_REPEATS
sets how often scenario 9 kills (3 here, 20 there).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
import os
from pathlib import Path
import random
import time
from typing import Any

import pytest

from .support.crash_home import CrashHome, Run, fired_at, stored_numbers, stored_points
from .support.fault_proxy import ProxyThread
from .support.reliability import (
    Figures,
    assert_each_point_accepted_once_or_resent_for_a_reason,
    count_sends,
)
from .support.servers import InfluxDB1Server
from .support.spool_oracle import SpoolOnDisk, read_spool_on_disk

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
def proxy(influxdb: InfluxDB1Server) -> Generator[ProxyThread]:
    """The fault proxy Home Assistant writes through: it keeps every request's body."""
    thread = ProxyThread(influxdb.url)
    thread.start()
    yield thread
    thread.stop()


@pytest.fixture
def home(tmp_path: Path, influxdb: InfluxDB1Server, proxy: ProxyThread) -> Generator[CrashHome]:
    process = CrashHome(tmp_path / "config", influxdb, DB, OPTIONS, url=proxy.url)
    yield process
    process.stop()


class Kills:
    """What the proxy saw the server accept before each kill, and which of those points were
    still pending in the spool then: a resend of those is the crash's doing."""

    def __init__(self, proxy: ProxyThread) -> None:
        self.proxy = proxy
        self.crashed_before_cursor: set[int] = set()

    def after_kill(self, spool: SpoolOnDisk) -> None:
        accepted = count_sends(self.proxy.writes()).accepted
        self.crashed_before_cursor |= {number for number in spool.pending if accepted[number]}

    def assert_each_point_accepted_once_or_resent_for_a_reason(self, stored: list[int]) -> str:
        """Exactly once, from the requests; return the resends as the figures' notes say them."""
        sends = count_sends(self.proxy.writes(), self.crashed_before_cursor)
        assert_each_point_accepted_once_or_resent_for_a_reason(sends, stored)
        return sends.describe()

    def resends(self) -> int:
        return count_sends(self.proxy.writes(), self.crashed_before_cursor).total_resends


def read_spool(home: CrashHome) -> SpoolOnDisk:
    """The spool's files as the kill left them, read without the spool under test."""
    spool = read_spool_on_disk(home.spool_dir)
    assert spool.damaged == [], f"records damaged before the end of the last segment: {spool.damaged}"
    return spool


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


def replay_all(home: CrashHome, influxdb: InfluxDB1Server) -> list[int]:
    """Start once more (no load) with InfluxDB up; return what is stored once the spool is
    empty. (A record leaves the disk only once stored, so an empty spool is a finished replay;
    what it stored is for the caller to judge, at once, not by waiting for it.)"""
    home.start(rate=0)
    wait_until(lambda: not home.spool_has_segments(), "replay of the spool", home)
    home.stop()
    return stored_numbers(influxdb, DB)


def assert_only_the_newest_lost(home: CrashHome, run: Run, kept: set[int]) -> int:
    """No hole in `run`'s events; the newest lost are at most its rate x the window. Return how many."""
    loss = home.loss(run, kept)
    assert loss.holes == [], f"events lost before the newest ones: {loss.holes[:10]}"
    assert loss.lost <= run.rate * WINDOW, f"{loss.lost} of {loss.fired} lost at {run.rate}/s"
    return loss.lost


def assert_only_unsynced_points_lost(run: Run, spool: SpoolOnDisk, kept: set[int]) -> None:
    """What the kill may take are points never synced, each newer than every synced one."""
    synced = run.block(spool.pending + spool.acknowledged)
    lost = sorted(set(range(run.first, run.progress)) - kept)
    assert not set(synced) & set(lost), "points on disk at the kill are neither stored nor in the spool"
    if synced and lost:
        assert lost[0] > synced[-1], f"event {lost[0]} lost, older than event {synced[-1]} on disk"


def assert_every_synced_point_stored(spool: SpoolOnDisk, influxdb: InfluxDB1Server) -> None:
    """After the restart, every point that was on disk at the kill is in InfluxDB: each line,
    numbered or not (Home Assistant's own entities are recorded too), by series and time."""
    missing = set(spool.pending_points) - stored_points(influxdb, DB)
    assert not missing, f"{len(missing)} points on disk at the kill never stored, e.g. {sorted(missing)[:5]}"


def save_kill_figures(
    scenario: str, fired: int, stored: list[int], resends: int, lost: int, peak_mb: float, notes: str
) -> None:
    """A kill scenario's row for docs/reliability.md: resends as the proxy counted them;
    nothing is dead-lettered in these scenarios."""
    Figures(scenario, "InfluxDB 1.6", fired, len(stored), resends, 0, lost, peak_mb, notes).save()


@dataclass(frozen=True)
class Restart:
    """One life killed once, then restarted with InfluxDB up until the spool is empty."""

    home: CrashHome
    run: Run
    kills: Kills
    kept: set[int]
    lost: int
    stored: list[int]
    resent: str
    newest_kept_age: float  # seconds between the newest kept event's firing and the kill

    def save(self, scenario: str, notes: str) -> None:
        save_kill_figures(
            scenario,
            self.home.loss(self.run, self.kept).fired,
            self.stored,
            self.kills.resends(),
            self.lost,
            self.run.peak_rss_mb,
            notes,
        )


def restart_after_one_kill(
    home: CrashHome, influxdb: InfluxDB1Server, kills: Kills, run: Run, spool: SpoolOnDisk, killed_at: float
) -> Restart:
    """With InfluxDB up: what survived the kill (stored + spool) lost only the newest, unsynced
    points; the restart stores exactly that, each point accepted once or resent for a reason."""
    before = stored_numbers(influxdb, DB)
    kept = set(before) | set(spool.pending)
    lost = assert_only_the_newest_lost(home, run, kept)
    assert_only_unsynced_points_lost(run, spool, kept)

    stored = replay_all(home, influxdb)
    assert_every_synced_point_stored(spool, influxdb)
    assert sorted(stored) == sorted(kept)  # everything kept lands
    resent = kills.assert_each_point_accepted_once_or_resent_for_a_reason(stored)
    newest_kept_age = killed_at - fired_at(influxdb, DB, max(run.block(kept)))
    return Restart(home, run, kills, kept, lost, stored, resent, newest_kept_age)


@pytest.mark.parametrize("rate", [20, 1000])
def test_kill_9_during_an_outage_stores_every_synced_point_and_loses_at_most_the_loss_window(
    home: CrashHome, influxdb: InfluxDB1Server, proxy: ProxyThread, rate: int
) -> None:
    kills = Kills(proxy)
    run = home.start(rate)
    wait_until(lambda: stored_numbers(influxdb, DB), "point written while InfluxDB is up", home)
    influxdb.kill()  # the outage
    wait_until(home.spool_has_segments, "spill", home)
    time.sleep(random.uniform(0, WINDOW))  # any moment of a window
    killed_at = home.kill()

    spool = read_spool(home)
    kills.after_kill(spool)
    assert spool.pending, "nothing was on disk at the kill: the scenario tested nothing"
    start_influxdb(influxdb)  # InfluxDB is back for the restart
    restart = restart_after_one_kill(home, influxdb, kills, run, spool, killed_at)
    restart.save(
        f"7. kill -9 of Home Assistant during an InfluxDB outage at {rate} changes/s, restart with"
        " InfluxDB back",
        f"lost the newest {restart.lost} ({restart.lost / rate:.1f} s; window {WINDOW:g} s, newest kept"
        f" fired {restart.newest_kept_age:.1f} s before the kill); {len(spool.pending)} on disk at the"
        f" kill, all replayed; {restart.resent}",
    )


def test_kill_9_while_healthy_loses_only_what_was_not_yet_written_and_sends_each_point_once(
    home: CrashHome, influxdb: InfluxDB1Server, proxy: ProxyThread
) -> None:
    kills = Kills(proxy)
    rate = 200
    run = home.start(rate)
    wait_until(lambda: stored_numbers(influxdb, DB), "point written", home)
    time.sleep(random.uniform(1, 3))
    killed_at = home.kill()

    spool = read_spool(home)
    kills.after_kill(spool)
    restart = restart_after_one_kill(home, influxdb, kills, run, spool, killed_at)
    restart.save(
        f"8. kill -9 of Home Assistant while InfluxDB is healthy ({rate} changes/s)",
        f"lost the newest {restart.lost} ({restart.lost / rate:.1f} s: not yet written, flush interval"
        f" 1 s; newest stored fired {restart.newest_kept_age:.1f} s before the kill)",
    )


# Each round starts Home Assistant twice: the test's time grows with the repeats.
@pytest.mark.timeout(120 + 30 * REPEATS)
def test_random_kills_interrupt_replays_lose_only_the_newest_and_never_resend_behind_the_cursor(
    tmp_path: Path, influxdb: InfluxDB1Server, proxy: ProxyThread
) -> None:
    """Each round: a life that spills (InfluxDB down), killed as a spill lands on disk; then
    a life that replays (InfluxDB up, live events too), killed at a random moment of the
    replay. After each kill the spool as the next start finds it, plus what InfluxDB has,
    must hold every event but the newest of each life. Small batches: many spool records,
    so a replay lasts long enough to be interrupted after a random number of them."""
    home = CrashHome(tmp_path / "config", influxdb, DB, {**OPTIONS, "batch_size": 500}, url=proxy.url)
    kills = Kills(proxy)
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
            torn += _check_after_kill(home, influxdb, kept, kills, influxdb_up=False)

            start_influxdb(influxdb)
            records = read_spool(home).pending_records
            home.start(rate=200, wait=False)
            # Kill within the first half of the replay, so records are left to replay again.
            _kill_after_acknowledged(home, rng.randint(1, max(1, records // 2)))
            interrupted += bool(read_spool(home).pending_records)
            torn += _check_after_kill(home, influxdb, kept, kills, influxdb_up=True)
        stored = replay_all(home, influxdb)
    finally:
        home.stop()
    assert sorted(stored) == sorted(kept)
    # What the scenario is for: replays cut short, then resumed from the cursor.
    assert interrupted > 0, "no replay was interrupted with records left: the scenario tested nothing"
    resent = kills.assert_each_point_accepted_once_or_resent_for_a_reason(stored)
    lives = home.runs[:-1]  # the last one only replayed
    save_kill_figures(
        f"9. kill -9 at random moments of spills and of replays, {REPEATS} times each",
        sum(home.loss(run, kept).fired for run in lives),
        stored,
        kills.resends(),
        sum(home.loss(run, kept).lost for run in lives),
        max(run.peak_rss_mb for run in home.runs),
        f"only the newest of each life lost, each <= rate x window; {interrupted} replays"
        f" interrupted with records left; {torn} torn appends at the kills; {resent}; seed {seed}",
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
    home: CrashHome, influxdb: InfluxDB1Server, kept: set[int], kills: Kills, *, influxdb_up: bool
) -> int:
    """What survived the kill (spool + InfluxDB) holds every earlier event but the newest of
    the life just killed, and only unsynced points are missing; add it to `kept`; return
    the torn appends (1 or 0) the next start cuts."""
    spool = read_spool(home)
    kills.after_kill(spool)
    if not influxdb_up:
        start_influxdb(influxdb)
    stored = set(stored_numbers(influxdb, DB))
    now = stored | set(spool.pending)
    if not influxdb_up:
        influxdb.kill()
    assert set(spool.acknowledged) <= stored, "the cursor passed points InfluxDB does not have"
    assert kept <= now, f"{len(kept - now)} events kept before are gone"
    kept |= now
    # Earlier lives were checked at their kills; what they kept is still kept (above).
    assert_only_the_newest_lost(home, home.run, kept)
    assert_only_unsynced_points_lost(home.run, spool, kept)
    return int(spool.torn_tail_bytes > 0)


def _spool_bytes(home: CrashHome) -> int:
    return sum(path.stat().st_size for path in home.spool_dir.glob("*.seg"))


def _cursor(home: CrashHome) -> str:
    try:
        return (home.spool_dir / "cursor").read_text()
    except FileNotFoundError:
        return ""
