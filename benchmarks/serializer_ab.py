"""Serializer CPU per event of two checkouts in one process, their passes interleaved.

    python benchmarks/serializer_ab.py <old checkout> <new checkout> [events] [rounds]

serializer_cost.py measures one checkout per process, so on a shared machine the load of
the moment lands on one side: here both checkouts are imported side by side (each under its
own copy of the modules) and timed in turns, pass after pass, on the same events, so what
the machine does to one it does to the other. Same cases as serializer_cost.py (`burst`:
a new attributes object every event; `state-only`: the same one again); prints the least
process CPU of `rounds` passes per case, layout and checkout, in microseconds per event.
"""

from __future__ import annotations

import gc
import importlib
import sys
import time
from types import ModuleType
from typing import Any

from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, State
from homeassistant.util.read_only_dict import ReadOnlyDict

OLD, NEW = sys.argv[1], sys.argv[2]
EVENTS = int(sys.argv[3]) if len(sys.argv) > 3 else 10_000
ROUNDS = int(sys.argv[4]) if len(sys.argv) > 4 else 15


def _load(root: str) -> ModuleType:
    """benchmarks.measure of `root`, with its own custom_components (the other's forgotten)."""
    for name in [name for name in sys.modules if name.startswith(("custom_components", "benchmarks"))]:
        del sys.modules[name]
    sys.path[:] = [root, *(path for path in sys.path if path not in ("", OLD, NEW))]
    measure = importlib.import_module("benchmarks.measure")
    assert measure.__file__ is not None
    assert measure.__file__.startswith(root), measure.__file__
    return measure


def _events(m: ModuleType, fresh: bool) -> list[Event[Any]]:
    shared = [ReadOnlyDict(m.power_attributes(number)) for number in range(m.ENTITIES)]
    events = []
    for number in range(EVENTS):
        entity_id = f"sensor.power_{number % m.ENTITIES}"
        attributes = m.power_attributes(number) if fresh else shared[number % m.ENTITIES]
        state = State(entity_id, str(number), attributes)
        data = {"entity_id": entity_id, "old_state": None, "new_state": state}
        events.append(Event(EVENT_STATE_CHANGED, data))
    return events


def _cost(m: ModuleType, events: list[Event[Any]], layout: str) -> float:
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
    """Least CPU per event of each case, layout and checkout, passes interleaved."""
    checkouts = {"old": _load(OLD), "new": _load(NEW)}
    for case, fresh in (("burst", True), ("state-only", False)):
        events = _events(checkouts["new"], fresh)
        for layout in ("default", "builtin"):
            least = dict.fromkeys(checkouts, float("inf"))
            for round_ in range(ROUNDS):
                order = list(checkouts.items())
                for name, m in order if round_ % 2 else reversed(order):  # neither always first
                    least[name] = min(least[name], _cost(m, events, layout))
            old, new = least["old"], least["new"]
            change = (new - old) / old * 100
            sys.stdout.write(
                f"{case:10} {layout:8} old {old:6.2f}  new {new:6.2f} us/event  ({change:+.1f} %)\n"
            )


if __name__ == "__main__":
    main()
