"""A paired comparison's counts from the store's pair cells instead of a join of raw events.

:func:`cell_counts` turns :class:`~mlwarden.store.pair_cells.PairCells` (kept per hour by
the store, summed over the range) into the same grouped counts
:func:`~mlwarden.analysis.champion_query.paired_counts` returns from one scan of the joined
events, so :mod:`mlwarden.analysis.champion` runs the same tests on either. The outcome,
histogram, joint-grid and day counts are the same numbers. Numeric slice columns differ in one
respect: the cells keep their values in fixed log-spaced bins, so their quartiles (of the
pairs' values) are read from those bins and each edge is the start of the bin holding the
quartile, within 2.3% of the exact one; the slices are counted exactly at those edges.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlwarden.analysis.champion_query import PAIRED_SETS, Group
from mlwarden.analysis.slices_query import MISSING_CODE
from mlwarden.store.pair_cells import FLAGS, PairCells, code_edge

__all__ = ["cell_counts", "code_quartiles"]

_BITS = ("lab", "pos", "pa", "pb", "oka", "okb", "agree")


def _grouped(columns: Sequence[Any], n: np.ndarray[Any, Any]) -> Group:
    """Sums of ``n`` per distinct row of ``columns`` (arrays of equal length)."""
    out: dict[tuple[Any, ...], float] = {}
    for key, v in zip(zip(*columns, strict=True), n.tolist(), strict=True):
        out[key] = out.get(key, 0.0) + v
    return {k: (int(v), float(v), float(v)) for k, v in out.items() if v}


def _flag(flags: np.ndarray[Any, Any], name: str) -> list[bool]:
    out: list[bool] = ((flags & FLAGS[name]) != 0).tolist()
    return out


def code_quartiles(codes: Sequence[int | None], n: Sequence[float]) -> list[int]:
    """The bins (codes) holding the quartiles of the values counted ``n`` per code (missing
    values left out), distinct and sorted.

    >>> code_quartiles([1501, 1601, 1701, None], [1, 1, 2, 5])
    [1501, 1601, 1701]
    """
    pairs = sorted((c, w) for c, w in zip(codes, n, strict=True) if c is not None and w)
    total = sum(w for _, w in pairs)
    if not total:
        return []
    cum = np.cumsum([w for _, w in pairs])
    out = set()
    for q in (0.25, 0.5, 0.75):
        rank = int(np.floor(q * (total - 1)))  # the lower order statistic of the quantile
        out.add(pairs[int(np.searchsorted(cum, rank + 1))][0])
    return sorted(out)


def cell_counts(
    cells: PairCells, *, numeric: set[str]
) -> tuple[dict[str, Group], dict[str, Group], dict[str, list[float] | None]]:
    """``(sets, by_slice, edges)`` as :func:`~mlwarden.analysis.champion_query.paired_counts`
    and the comparison's slice edges give them (the joint grid included)."""
    g, f = cells.grid, cells.grid["flags"]
    bits = {b: _flag(f, b) for b in _BITS}
    ba, bb = g["ba"].tolist(), g["bb"].tolist()
    sets: dict[str, Group] = {
        "outcomes": _grouped([bits[b] for b in PAIRED_SETS["outcomes"]], g["n"]),
        "hist_a": _grouped([ba, bits["pa"]], g["n"]),
        "hist_b": _grouped([bb, bits["pb"]], g["n"]),
        "joint": _grouped([ba, bb, bits["lab"], bits["pos"]], g["n"]),
    }
    d = cells.days
    sets["day"] = _grouped(
        [d["day"].tolist(), *(_flag(d["flags"], b) for b in ("lab", "oka", "okb"))], d["n"]
    )
    by_slice: dict[str, Group] = {}
    edges: dict[str, list[float] | None] = {}
    for col, (values, sf, n) in cells.slices.items():
        keys: list[Any] = list(values)
        if col in numeric:
            qs = code_quartiles(values, n.tolist())
            if not qs:
                continue  # no values: no quartiles (as the raw path leaves it out)
            edges[col] = [code_edge(c) for c in qs]
            keys = [MISSING_CODE if v is None else sum(v >= c for c in qs) for v in values]
        else:
            edges[col] = None
        by_slice[col] = _grouped([keys, *(_flag(sf, b) for b in ("lab", "oka", "okb"))], n)
    return sets, by_slice, edges
