"""Serializer CPU per event of a checkout, events built beforehand (only `.line` is timed).

    python benchmarks/serializer_cost.py <checkout> [events]

Run it (through scripts/lib/sandbox.sh's in_env) on two checkouts in turn, e.g. the commit
before a change (`git archive <commit> | tar -x -C .develop/bench/old`) and after, to
compare what one event costs the serializer. Two cases: `burst`, every event with a new
attributes object (benchmarks.measure's burst: each entity's parts are rebuilt), and
`state-only`, the same attributes object again (Home Assistant's common case). Prints the
least process CPU of 9 runs per case, in microseconds per event.
"""

from __future__ import annotations

import gc
import sys
import time

ROOT = sys.argv[1]
sys.path = [ROOT, *(path for path in sys.path if path not in ("", ROOT) and not path.endswith("wt-lines"))]

from homeassistant.const import EVENT_STATE_CHANGED  # noqa: E402
from homeassistant.core import Event, State  # noqa: E402
from homeassistant.util.read_only_dict import ReadOnlyDict  # noqa: E402

import benchmarks.measure as m  # noqa: E402

EVENTS = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
SHARED = [ReadOnlyDict(m.power_attributes(number)) for number in range(m.ENTITIES)]


def _events(fresh: bool) -> list[Event]:  # type: ignore[type-arg]
    events = []
    for number in range(EVENTS):
        entity_id = f"sensor.power_{number % m.ENTITIES}"
        attributes = m.power_attributes(number) if fresh else SHARED[number % m.ENTITIES]
        state = State(entity_id, str(number), attributes)
        events.append(
            Event(EVENT_STATE_CHANGED, {"entity_id": entity_id, "old_state": None, "new_state": state})
        )
    return events


def _cost(events: list[Event], layout: str) -> float:  # type: ignore[type-arg]
    default = m.DefaultLines(m.DefaultLayout(m.DEFAULT_MEASUREMENT))
    builtin = m.BuiltinLines(m.BuiltinLayout(), {})
    gc.collect()
    start = time.process_time()
    if layout == "default":
        for number, event in enumerate(events):
            default.line(event, m.NO_METADATA, m.NO_RULES, number)
    else:
        for number, event in enumerate(events):
            builtin.line(event, m.NO_RULES, number)
    return (time.process_time() - start) / len(events) * 1e6


def main() -> None:
    """Least CPU per event of each case and layout."""
    assert m.__file__ is not None
    assert m.__file__.startswith(ROOT), m.__file__
    for case, fresh in (("burst", True), ("state-only", False)):
        events = _events(fresh)
        for layout in ("default", "builtin"):
            least = min(_cost(events, layout) for _ in range(9))
            sys.stdout.write(f"{case:10} {layout:8} {least:6.2f} us/event\n")


if __name__ == "__main__":
    main()
