"""Rows accepted and rejected by ingest since the server started (for ``/metrics``)."""

from __future__ import annotations

import threading

__all__ = ["IngestCounter"]


class IngestCounter:
    """Rows accepted and rejected since start, per project, model and kind (for /metrics).

    Examples
    --------
    >>> c = IngestCounter()
    >>> c("p", "m", "events", 3, 1); c("p", "m", "events", 2, 0)
    >>> c.snapshot("p"), c.snapshot("other")
    ([('m', 'events', 5, 1)], [])
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, str], list[int]] = {}

    def __call__(self, project: str, model: str, kind: str, accepted: int, rejected: int) -> None:
        with self._lock:
            c = self._counts.setdefault((project, model, kind), [0, 0])
            c[0] += accepted
            c[1] += rejected

    def snapshot(self, project: str) -> list[tuple[str, str, int, int]]:
        """``(model, kind, accepted, rejected)`` of one project, sorted."""
        with self._lock:
            rows = [(m, k, c[0], c[1]) for (p, m, k), c in self._counts.items() if p == project]
        return sorted(rows)
