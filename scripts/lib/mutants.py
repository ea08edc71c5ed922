"""Deliberate breaks of the integration, each run against the tests that guard its claim.

Run by scripts/mutants (in the project's environment). For each named break, a copy of the
integration and its tests is made under .mutants/ in the repository (the sandbox sees only
the repository), one piece of source is replaced there, and the tests that guard the claim
run in the copy. A break is caught when at least one of those tests fails and that test's
name names the claim; a break nothing catches makes the script fail. The copy without any
break runs first: its guards must all pass, or a red test would prove nothing.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
import datetime as dt
from pathlib import Path
import platform
import re
import shutil
import subprocess
import sys
import time

REPO_ROOT = Path(__file__).resolve().parents[2]
WORK = REPO_ROOT / ".mutants"
DOCS = REPO_ROOT / "docs" / "reliability.md"
BEGIN, END = "<!-- scripts/mutants -->", "<!-- /scripts/mutants -->"
PIPELINE = "custom_components/influxdb_ingest/pipeline"
LINES = "custom_components/influxdb_ingest/lines"


@dataclass(frozen=True)
class Mutant:
    """One break: in `path`, `old` (found exactly once) becomes `new`."""

    name: str
    claim: str
    path: str
    old: str
    new: str
    guards: tuple[str, ...]  # pytest node ids (or files) that must turn red
    names_claim: tuple[str, ...]  # words of which a red guard's name must hold one


RELIABILITY = "tests/test_reliability.py"
CRASH = "tests/test_crash.py"
KILL_IN_OUTAGE = (
    f"{CRASH}::test_kill_9_during_an_outage_stores_every_synced_point_and_loses_at_most_the_loss_window"
)
BACKLOG_RESTART = (
    f"{RELIABILITY}::test_backlog_survives_a_home_assistant_restart"
    "_while_influxdb_is_down_each_point_sent_once"
)

MUTANTS = (
    Mutant(
        "replayed-batch-twice",
        "exactly once: a spooled batch the server acknowledged is not sent again",
        f"{PIPELINE}/writer.py",
        "                batch.stored = outcome is None\n",
        "                batch.stored = outcome is None\n"
        "                if batch.stored and batch.record is not None:\n"
        "                    await self.delivery.deliver(batch.lines)\n",
        (
            BACKLOG_RESTART,
            f"{RELIABILITY}::test_replay_two_at_a_time_sends_each_spooled_batch_once",
            "tests/test_backup.py",
        ),
        ("once",),
    ),
    Mutant(
        "forget-newest-spool-record",
        "every point synced to the spool is stored after a crash or a restore",
        f"{PIPELINE}/spool.py",
        "        for message in damage.messages:\n",
        "        if self._segments and self._segments[-1].records:\n"
        "            self.points -= self._segments[-1].records.pop().points\n"
        "        for message in damage.messages:\n",
        (KILL_IN_OUTAGE, "tests/test_backup.py"),
        ("synced", "every_point"),
    ),
    Mutant(
        "ignore-cursor",
        "a restart resumes the replay at the cursor: nothing acknowledged is sent again",
        f"{PIPELINE}/spool.py",
        "        cursor_segment, cursor_offset = read_cursor(self.directory)\n",
        "        cursor_segment, cursor_offset = 0, 0\n",
        (
            f"{CRASH}::test_random_kills_interrupt_replays_lose_only_the_newest_and_never_resend_behind_the_cursor",
        ),
        ("cursor",),
    ),
    Mutant(
        "drop-last-batch-at-stop",
        "Home Assistant's stop spools everything not written; the next start sends it",
        f"{PIPELINE}/writer.py",
        "        await self.backlog.spill(0)\n",  # (the second: at stop; the first is the seal)
        "        if self.backlog._batches:\n"
        "            self.backlog._batched_points -= self.backlog._batches.pop().count\n"
        "        await self.backlog.spill(0)\n",
        (BACKLOG_RESTART,),
        ("survives",),
    ),
    Mutant(
        "acknowledge-failed-batch",
        "zero loss: a batch leaves the backlog only once the server stored it",
        f"{PIPELINE}/writer.py",
        "                batch.stored = outcome is None\n",
        "                batch.stored = True\n",
        (f"{RELIABILITY}::test_kill_9_and_restarts_during_a_stream_lose_nothing_and_send_each_point_once",),
        ("lose_nothing",),
    ),
    Mutant(
        "ignore-loss-window",
        "a kill -9 during an outage loses at most the loss window: memory is spilled in time",
        f"{PIPELINE}/memory_bound.py",
        "        if self._window_ends_before_next_round():\n",
        "        if False:\n",
        (KILL_IN_OUTAGE,),
        ("loss_window",),
    ),
    Mutant(
        "numeric-state-as-float",
        "type-stable fields: `state` is always text, the number goes to `value`",
        f"{LINES}/normalize.py",
        '    fields: dict[str, FieldValue] = {"state": state}\n    number = parse_number(state)\n',
        "    number = parse_number(state)\n"
        '    fields: dict[str, FieldValue] = {"state": state if number is None else number}\n',
        (
            "tests/test_property_default_layout.py",
            "tests/test_property_layouts.py",
            "tests/test_normalize.py",
        ),
        ("stable", "type", "as_documented"),
    ),
    Mutant(
        "integer-attribute-as-integer",
        "type-stable fields: a number attribute is always a float (3 is written 3.0)",
        f"{LINES}/normalize.py",
        '        return f"{NUMBER_PREFIX}{key}", float(value)\n',
        '        return f"{NUMBER_PREFIX}{key}", value\n',
        ("tests/test_normalize.py", "tests/test_property_default_layout.py"),
        ("type",),
    ),
)


@dataclass
class Result:
    mutant: str
    claim: str
    failed: list[str]
    passed: int
    seconds: float
    caught: bool


def copy_tree(name: str) -> Path:
    """The integration, its tests and pyproject.toml, copied to .mutants/<name>."""
    target = WORK / name
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for part in ("custom_components", "tests"):
        shutil.copytree(REPO_ROOT / part, target / part, ignore=ignore)
    shutil.copy2(REPO_ROOT / "pyproject.toml", target / "pyproject.toml")
    return target


def apply(mutant: Mutant, copy: Path) -> None:
    path = copy / mutant.path
    text = path.read_text()
    count = text.count(mutant.old)
    if mutant.name == "drop-last-batch-at-stop":
        # The stop's spill is the last one in writer.py.
        assert count == 2, f"{mutant.name}: expected the seal's and the stop's spill, found {count}"
        head, _, tail = text.rpartition(mutant.old)
        path.write_text(head + mutant.new + tail)
        return
    assert count == 1, f"{mutant.name}: the code to break is found {count} times in {mutant.path}"
    path.write_text(text.replace(mutant.old, mutant.new))


def run_guards(copy: Path, guards: tuple[str, ...], log: Path) -> tuple[list[str], int]:
    """Run the guards in the copy; the failed tests' node ids and the number passed."""
    command = [sys.executable, "-m", "pytest", "-q", "-rfE", "-p", "no:randomly", "-p", "no:cacheprovider"]
    command += guards
    completed = subprocess.run(command, cwd=copy, capture_output=True, text=True, check=False)
    log.write_text(completed.stdout + completed.stderr)
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", completed.stdout, re.MULTILINE)
    passed = re.search(r"(\d+) passed", completed.stdout)
    if completed.returncode not in (0, 1):
        failed.append(f"pytest exited {completed.returncode}")
    return failed, int(passed[1]) if passed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help="only these breaks (default: all)")
    parser.add_argument("--skip-baseline", action="store_true", help="do not run the guards unbroken first")
    parser.add_argument("--write-docs", action="store_true", help="put the table in docs/reliability.md")
    arguments = parser.parse_args()
    chosen = [mutant for mutant in MUTANTS if not arguments.names or mutant.name in arguments.names]
    results: list[Result] = []
    WORK.mkdir(exist_ok=True)
    if not arguments.skip_baseline:
        guards = tuple(dict.fromkeys(guard for mutant in chosen for guard in mutant.guards))
        started = time.monotonic()
        failed, passed = run_guards(copy_tree("baseline"), guards, WORK / "baseline.log")
        seconds = time.monotonic() - started
        results.append(Result("(none)", "the guards pass unbroken", failed, passed, seconds, not failed))
        print(f"baseline: {passed} passed, failed: {failed or 'none'}", flush=True)
    for mutant in chosen:
        copy = copy_tree(mutant.name)
        apply(mutant, copy)
        started = time.monotonic()
        failed, passed = run_guards(copy, mutant.guards, WORK / f"{mutant.name}.log")
        caught = any(word in test for test in failed for word in mutant.names_claim)
        results.append(Result(mutant.name, mutant.claim, failed, passed, time.monotonic() - started, caught))
        print(f"{mutant.name}: {'caught' if caught else 'NOT CAUGHT'} by {failed or 'nothing'}", flush=True)
        shutil.rmtree(copy, ignore_errors=True)
    shutil.rmtree(WORK / "baseline", ignore_errors=True)
    table = as_table(results)
    print("\n" + table + f"\nLogs: {WORK}/<break>.log")
    if arguments.write_docs:
        text = DOCS.read_text()
        start, end = text.index(BEGIN), text.index(END) + len(END)
        DOCS.write_text(text[:start] + f"{BEGIN}\n{table}{END}" + text[end:])
    return 0 if all(result.caught for result in results) else 1


def as_table(results: list[Result]) -> str:
    """The results as docs/reliability.md shows them."""
    lines = [
        "| break | claim it violates | result | red tests | guards passed | seconds |",
        "|---|---|---|---|---:|---:|",
    ]
    for result in results:
        red = "<br>".join(f"`{test.rpartition('::')[2] or test}`" for test in result.failed) or "-"
        verdict = "caught" if result.caught else "NOT CAUGHT"
        if result.mutant == "(none)":
            verdict = "all green" if result.caught else "RED WITHOUT A BREAK"
        lines.append(
            f"| {result.mutant} | {result.claim} | {verdict} | {red} | {result.passed}"
            f" | {result.seconds:.0f} |"
        )
    caught = sum(result.caught for result in results if result.mutant != "(none)")
    breaks = sum(result.mutant != "(none)" for result in results)
    lines.append(
        f"\n{caught} of {breaks} breaks caught. `scripts/mutants` on {dt.date.today().isoformat()},"
        f" {platform.machine()}, Python {platform.python_version()}; `seconds` is the guards' run time."
    )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
