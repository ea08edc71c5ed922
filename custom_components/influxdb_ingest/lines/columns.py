"""The column budget: how many columns (tags + fields) each table may grow to.

InfluxDB 3 Core refuses a write that would take a table past 500 columns (time + 499:
`influxdb3_catalog/src/catalog.rs`, "Update to schema would exceed number of columns per
table limit"), and in the default layout every attribute key of every entity is a column
of one table. So columns are admitted first come, first served, up to the budget; an
attribute whose column is not admitted is still written, folded into one JSON field
(`attributes_overflow`, docs/schema.md), and its key is remembered so the user can be told.

Admitted columns are remembered across restarts (the coordinator stores them): a table
only grows, so a column admitted once keeps its place, and a restart cannot admit a
different set that would take the table past the budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Keys of overflowed attributes remembered per table, for diagnostics and the repair.
_OVERFLOW_KEYS_KEPT = 100


class ColumnBudget:
    """Admits columns per table up to `limit` (None: no limit) and remembers what overflowed."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._admitted: dict[str, set[str]] = {}
        self.overflowed: dict[str, set[str]] = {}
        self.changed = False  # admitted columns not yet stored

    def restore(self, admitted: Mapping[str, list[str]]) -> None:
        """Take back what earlier runs admitted (before the first line is serialized)."""
        for table, columns in admitted.items():
            self._admitted.setdefault(table, set()).update(columns)

    def admit(self, table: str, column: str) -> bool:
        """Whether `column` may be written to `table`; admitting it when there is room."""
        columns = self._admitted.setdefault(table, set())
        if column in columns:
            return True
        if self.limit is not None and len(columns) >= self.limit:
            return False
        columns.add(column)
        self.changed = True
        return True

    def reserve(self, table: str, columns: list[str]) -> None:
        """Columns every line of `table` may carry (tags, the state fields): always admitted.

        They are bounded by the layout, not by the attributes, and are counted so the
        attributes get what is left of the budget.
        """
        admitted = self._admitted.setdefault(table, set())
        if not admitted.issuperset(columns):
            admitted.update(columns)
            self.changed = True

    def overflow(self, table: str, key: str) -> None:
        """Remember an attribute key that did not get a column (a bounded list per table)."""
        keys = self.overflowed.setdefault(table, set())
        if len(keys) < _OVERFLOW_KEYS_KEPT:
            keys.add(key)

    def stored(self) -> dict[str, list[str]]:
        """The admitted columns, as the coordinator stores them."""
        self.changed = False
        return {table: sorted(columns) for table, columns in self._admitted.items()}

    def as_dict(self) -> dict[str, Any]:
        """For diagnostics: the budget, columns per table, and the keys that overflowed."""
        return {
            "limit": self.limit,
            "columns_per_table": {table: len(columns) for table, columns in self._admitted.items()},
            "overflowed_attributes": {table: sorted(keys) for table, keys in self.overflowed.items()},
        }
