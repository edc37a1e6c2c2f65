"""When the PostgreSQL engine refreshes a table's planner statistics itself."""

from __future__ import annotations

import threading

__all__ = ["Staleness"]


class Staleness:
    """Rows written per table since this process last ran ``ANALYZE`` on it, and what it
    counted then: PostgreSQL's planner, on a table it holds no statistics of yet (autovacuum
    comes a minute later, or never on a quiet server), picked a nested loop for the LLM
    pages' per-trace join that ran for 15 s on 2,700 spans instead of 0.5 s. A table is
    analysed after a write that brings it half (and at least 1,000 rows) past its last count.

    Examples
    --------
    >>> s = Staleness()
    >>> s.wrote("spans", 999), s.wrote("spans", 1), s.counted["spans"]
    (False, True, 1000)
    >>> s.wrote("spans", 9000), s.wrote("spans", 4000), s.wrote("spans", 1000)
    (True, False, True)
    """

    def __init__(self) -> None:
        self.pending: dict[str, int] = {}
        self.counted: dict[str, int] = {}
        self.lock = threading.Lock()

    def wrote(self, table: str, rows: int) -> bool:
        """Count ``rows`` written to ``table``; whether it is time to analyse it (then the
        count starts again)."""
        with self.lock:
            n = self.pending.get(table, 0) + rows
            if n >= max(1000, self.counted.get(table, 0) // 2):
                self.counted[table] = self.counted.get(table, 0) + n
                self.pending[table] = 0
                return True
            self.pending[table] = n
            return False
