"""Score cells: the seam of a store that keeps a binary classifier's labelled scores counted
per hour (DuckDB: :mod:`mlwarden.store.duckdb_score_cells`), so the decision analysis sums
counts instead of joining every event with its label. Engines without them do not implement
:class:`ScoreCellSource`; the analysis then counts with
:func:`mlwarden.store.queries.score_bins`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, runtime_checkable

__all__ = ["ScoreCellSource"]


@runtime_checkable
class ScoreCellSource(Protocol):
    def score_cells(
        self,
        model: Any,
        *,
        bins: int,
        positive: str,
        start: datetime | None,
        end: datetime | None,
        version: str | None,
    ) -> tuple[list[int], list[int], int, int] | None:
        """What :func:`~mlwarden.store.queries.score_bins` returns for these arguments (no
        segment filter), brought up to date first; None when the cells cannot serve them."""
        ...
