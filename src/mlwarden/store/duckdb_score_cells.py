"""Score cells: a binary classifier's labelled scores counted per hour, for the decision
threshold and cost analysis, kept in DuckDB.

``score_cells`` holds, per model (``uid``), hour and version, the labelled traffic events with
a score per (bin of :data:`BINS` over [0, 1], actually positive, score below 0, above 1): the
numbers :func:`mlwarden.store.queries.score_bins` counts from a join of events and labels.
They are recomputed for the hours whose events or labels changed (``rollup_state`` part
``scores``, as the pair cells of :mod:`mlwarden.store.duckdb_pairs`), after each evaluation
and before a read; a read over whole hours without a segment filter sums them instead of
joining 10M events with their labels.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from mlwarden.schema.spec import Task
from mlwarden.store.duckdb_pairs import _lit, _q, dirty_hours, replace_hours
from mlwarden.store.duckdb_rollups import NEVER, _arrow, _lock, _read
from mlwarden.store.times import utc_naive
from mlwarden.store.traffic import sql_traffic
from mlwarden.store.writer import GroupCommitWriter

__all__ = ["BINS", "SCORE_DDL_CELLS", "ScoreCellTables"]

#: Score bins of the cells (the decision analysis' thresholds are multiples of 1/BINS).
BINS = 1000

SCORE_DDL_CELLS = [
    """CREATE TABLE IF NOT EXISTS score_cells (uid BIGINT, hour TIMESTAMP, version VARCHAR,
        b SMALLINT, pos BOOLEAN, low BOOLEAN, high BOOLEAN, n BIGINT)""",
]


def _key(model: Any) -> str:
    return json.dumps({"positive": _positive(model), "bins": BINS, "v": 1}, separators=(",", ":"))


def _positive(model: Any) -> str:
    spec = model.spec
    classes = list(spec.classes)
    return str(spec.effective_positive_class or (classes[-1] if classes else "1"))


class ScoreCellTables:
    """Score-cell storage for :class:`DuckDBStore`."""

    _cursor: Callable[[], duckdb.DuckDBPyConnection]
    _writer: GroupCommitWriter

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
        """``(positives per bin, negatives per bin, scores below 0, above 1)`` as
        :func:`~mlwarden.store.queries.score_bins` counts them, from the cells; None when they
        cannot serve the request (another bin count or positive class, a range not on whole
        hours, a model without a score)."""
        lo = NEVER if start is None else utc_naive(start)
        hi = datetime(9999, 1, 1) if end is None else utc_naive(end)
        whole = all(t.minute == t.second == t.microsecond == 0 for t in (lo, hi))
        if bins != BINS or positive != _positive(model) or not whole or not _scored(model):
            return None
        self.refresh_score_cells(model)
        sql = (
            "SELECT b, pos, low, high, sum(n) FROM score_cells WHERE uid = ? AND hour >= ? "
            "AND hour < ?" + (" AND version = ?" if version is not None else "") + " GROUP BY ALL"
        )
        params: list[Any] = [model.uid, lo, hi] + ([version] if version is not None else [])
        pos, neg = [0] * bins, [0] * bins
        below = above = 0
        for b, p, low, high, n in _read(self._cursor(), sql, params):
            (pos if p else neg)[int(b)] += int(n)
            below += int(n) if low else 0
            above += int(n) if high else 0
        return pos, neg, below, above

    def refresh_score_cells(self, model: Any) -> None:
        """Bring a scored binary classifier's score cells up to date."""
        if not _scored(model):
            return
        with _lock(self, model.uid, "scores"):
            key = _key(model)
            cur = self._cursor()
            hours, seen = dirty_hours(cur, model.uid, "scores", key)
            if hours is not None and not hours:
                return
            cells = _compute(cur, model, hours)
            replace_hours(self._writer, model.uid, "scores", key, seen, hours,
                          {"score_cells": cells})  # fmt: skip


def _scored(model: Any) -> bool:
    return model.spec.task is Task.BINARY and model.spec.score is not None


def _compute(cur: duckdb.DuckDBPyConnection, model: Any, hours: list[datetime] | None) -> pa.Table:
    ev, ac = _q(f"events_{model.uid}"), _q(f"actuals_{model.uid}")
    have = {r[0] for r in _read(cur, f"SELECT column_name FROM (DESCRIBE {ev})")}
    traffic = "e.shadow IS NOT TRUE" if sql_traffic(have) != "TRUE" else "TRUE"
    where = f"e.score IS NOT NULL AND l.actual IS NOT NULL AND {traffic}"
    params: list[Any] = []
    if hours is not None:
        where += " AND list_contains(?, date_trunc('hour', e.ts))"
        params.append(hours)
    raw = f"CAST(floor(e.score * {BINS} + 1e-9) AS BIGINT)"
    sql = (
        f"SELECT date_trunc('hour', e.ts) AS hour, e.version, "
        f"CAST(greatest(least({raw}, {BINS - 1}), 0) AS SMALLINT) AS b, "
        f"l.actual = {_lit(_positive(model))} AS pos, e.score < 0 AS low, e.score > 1 AS high, "
        f"count(*) AS n FROM {ev} e JOIN {ac} l ON l.event_id = e.event_id WHERE {where} "
        "GROUP BY ALL"
    )
    return _arrow(cur, sql, params)
