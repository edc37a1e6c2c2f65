"""Histograms in ClickHouse's SQL: the hot paths of
:func:`mlwarden.store.aggregates.collect` for numeric histograms and score bins.

The portable ibis versions (:func:`~mlwarden.store.aggregates.histogram_ibis`,
``_score_bins``) build a ``CASE`` with a branch per edge (257 for a feature's histogram): ibis
took longer to compile one than ClickHouse to run it. Here a value's bin is the position of the
first edge above it (``arrayFirstIndex`` over the edges as an array literal), every histogram of
a run is one query (a ``UNION ALL`` branch each), and the counts come back per window and bin;
the assembly is :func:`~mlwarden.store.aggregates.histogram_ibis`'s. The ibis versions stay
the oracle: ``tests/store/test_engines_agree.py`` compares these with DuckDB's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from mlwarden.store.ch_connection import q

__all__ = ["numeric_histograms", "score_bins"]


def _array(values: Sequence[float]) -> str:
    """A ``Float64`` array literal (infinities as ClickHouse spells them).

    >>> _array([-math.inf, 0.5, math.inf])
    '[-inf, 0.5, inf]::Array(Float64)'
    """
    items = ", ".join(
        "inf" if v == math.inf else "-inf" if v == -math.inf else repr(float(v)) for v in values
    )
    return f"[{items}]::Array(Float64)"


def numeric_histograms(
    backend: Any, filtered: Any, reqs: Sequence[Any]
) -> dict[Any, dict[int, dict[str, Any]]]:
    """Every numeric histogram of ``reqs`` over ``filtered`` (a model's events with their
    window ``_w``, an ibis expression on ``backend``), as ``histogram_ibis`` gives them."""
    inner = str(backend.compile(filtered))
    branches = []
    for i, r in enumerate(reqs):
        edges = list(r.edges)
        k = len(edges)
        x = f"toFloat64({q(r.column)})"
        branches.append(
            f"SELECT {i} AS r, _w, b, count() AS n, countIf(x = inf) AS pinf, "
            "countIf(x = -inf) AS ninf, countIf(x IS NULL OR isNaN(x)) AS missing, "
            f"sumIf(x, b = 1) AS low, sumIf(x, b = {k + 1}) AS high FROM ("
            f"SELECT _w, {x} AS x, if(isFinite(x), "
            f"if((arrayFirstIndex(e -> x < e, {_array(edges)}) AS j) = 0, {k + 1}, j), -1) AS b "
            f"FROM ev) GROUP BY _w, b"
        )
    if not branches:
        return {}
    sql = f"WITH ev AS ({inner}) " + " UNION ALL ".join(branches)
    table: pa.Table = backend.con.query_arrow(sql)
    out: dict[Any, dict[int, dict[str, Any]]] = {r: {} for r in reqs}
    for row in table.to_pylist():
        r = reqs[int(row["r"])]
        k = len(r.edges)
        cur = out[r].setdefault(
            int(row["_w"]),
            {"counts": [0] * (k + 3), "n_missing": 0, "low_sum": 0.0, "high_sum": 0.0},
        )
        if int(row["b"]) >= 0:
            cur["counts"][int(row["b"])] += int(row["n"])
        cur["counts"][0] += int(row["ninf"])
        cur["counts"][k + 2] += int(row["pinf"])
        cur["n_missing"] += int(row["missing"])
        cur["low_sum"] += float(row["low"] or 0.0)
        cur["high_sum"] += float(row["high"] or 0.0)
    return out


def score_bins(backend: Any, src: Any, req: Any) -> dict[int, list[tuple[str, int, int]]]:
    """(class, bin, count) per window, as ``_score_bins``: bin ``b`` when
    ``edges[b] <= score < edges[b+1]``, clipped to the end bins."""
    label = "actual" if req.by == "actual" else "prediction"
    inner_edges = list(req.edges[1:-1])
    last = len(req.edges) - 2
    score = q(req.column)
    b = (
        f"if((arrayFirstIndex(e -> {score} < e, {_array(inner_edges)}) AS j) = 0, {last}, j - 1)"
        if inner_edges
        else "0"
    )
    sql = (
        f"SELECT _w, {q(label)} AS cls, {b} AS b, count() AS n FROM ({backend.compile(src)}) "
        f"WHERE {score} IS NOT NULL AND {q(label)} IS NOT NULL GROUP BY _w, cls, b"
    )
    table: pa.Table = backend.con.query_arrow(sql)
    out: dict[int, list[tuple[str, int, int]]] = {}
    for row in table.to_pylist():
        out.setdefault(int(row["_w"]), []).append((row["cls"], int(row["b"]), int(row["n"])))
    return out
