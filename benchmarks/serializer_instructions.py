"""One pass of the serializer over the events of one case, for an instruction counter.

    python benchmarks/serializer_instructions.py <checkout> <case> <layout> <events> <serialize>

Run by scripts/serializer-instructions under Valgrind (cachegrind counts the instructions
the CPU executes): once with `serialize` 1 and once with 0 (the same process and events, only
the first serialized), so the difference over `events - 1` is what the serializer costs per event.
Instructions are not time, but they do not change with what else the machine runs, where
serializer_cost.py's CPU time on a shared machine spreads by a third between runs.
"""

from __future__ import annotations

import sys

ROOT, CASE, LAYOUT, EVENTS, SERIALIZE = sys.argv[1:6]
sys.argv = [sys.argv[0], ROOT, EVENTS]  # what serializer_cost.py reads

# This folder's serializer_cost.py (an old checkout may have none): it imports the checkout's code.
import serializer_cost  # noqa: E402  # after sys.argv: it reads the checkout from there

events = serializer_cost._events(CASE == "burst")  # the same events as serializer_cost.py
# One pass first, as serializer_cost.py keeps the least of 9: names and values met for the
# first time are worked out there. Then both runs go through `_cost` again (its gc.collect()
# walks every object): the one without serializing does only the first event, so the
# difference is the other events'.
serializer_cost._cost(events, LAYOUT)
serializer_cost._cost(events if SERIALIZE == "1" else events[:1], LAYOUT)
