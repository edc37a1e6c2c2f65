"""Grouped sums over grouping sets, the portable way: one ibis aggregate per set.

:meth:`mlwarden.store.base.Store.grouped_sums` answers with this (the contract, and the
oracle in tests); an engine may answer all sets in one scan
(``store/duckdb_grouping.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mlwarden._lazy import ibis

__all__ = ["Groups", "grouped_sums_ibis"]

#: ``(n, sum, sum of squares)`` of the outcome per key, one dict per grouping set.
Groups = list[dict[tuple[Any, ...], tuple[int, float, float]]]


def grouped_sums_ibis(
    base: Any, keys: Mapping[str, Any], sets: Sequence[tuple[str, ...]], *, limit: int
) -> Groups:
    """Portable :func:`grouped_sums`: one ibis aggregate per grouping set (the oracle)."""
    t = base.select(**{f"k{i}": expr for i, expr in enumerate(keys.values())}, _y=base._y)
    names = {name: f"k{i}" for i, name in enumerate(keys)}
    out: Groups = []
    for s in sets:
        cols = [names[k] for k in s]
        metrics = {"n": t.count(), "s": t._y.sum(), "q": (t._y * t._y).sum()}
        if cols:
            agg = t.group_by(cols).aggregate(**metrics)
            agg = agg.order_by([ibis.desc("n"), *[ibis.asc(c) for c in cols]]).limit(limit)
        else:
            agg = t.aggregate(**metrics)
        groups: dict[tuple[Any, ...], tuple[int, float, float]] = {}
        for r in agg.to_pyarrow().to_pylist():
            if r["n"]:
                groups[tuple(r[c] for c in cols)] = (int(r["n"]), float(r["s"]), float(r["q"]))
        out.append(groups)
    return out
