"""Quantiles of a positive quantity (latency) from counts on fixed log-spaced bins.

Bin ``k`` holds values in ``[10 ** (k / B), 10 ** ((k + 1) / B))`` with ``B`` =
:data:`BINS_PER_DECADE`; values at or below zero fall in bin :data:`ZERO`, values below
``10 ** (LOWEST / B)`` in bin :data:`LOWEST` and values from ``10 ** (HIGHEST / B)`` up in bin
:data:`HIGHEST`. The edges never move, so counts of hours, versions and windows merge by
addition, and a quantile comes back to within one bin of the exact one: for milliseconds,
from one microsecond to 10**7 ms (2.8 hours), the estimate lies strictly between
``exact / RATIO`` and ``exact * RATIO`` (``RATIO - 1`` = 2.3%).

The engine computes the bin of each value (:func:`bin_of` is the same rule in numpy);
:func:`quantiles` turns merged counts into quantiles with the positions of linear
interpolation between order statistics (DuckDB's ``quantile_cont``, numpy's default).

Examples
--------
>>> x = [0.0, 1.0, 2.0, 3.0, 100.0]
>>> b, c = np.unique(bin_of(x), return_counts=True)
>>> [round(q, 2) for q in quantiles(b, c, [0.5, 0.75])]  # exact: 2.0 and 3.0
[2.02, 2.99]
>>> quantiles([], [], [0.5])
[None]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from mlwarden.errors import StatisticsError, expected

__all__ = [
    "BINS_PER_DECADE",
    "HIGHEST",
    "LOWEST",
    "RATIO",
    "ZERO",
    "bin_of",
    "quantiles",
]

BINS_PER_DECADE = 100
#: The bin of the smallest positive values (below 10**-3: one microsecond in ms).
LOWEST = -3 * BINS_PER_DECADE
#: The bin of the largest values (from 10**7).
HIGHEST = 7 * BINS_PER_DECADE
#: The bin of zero and negative values.
ZERO = LOWEST - 1
#: The ratio of a bin's upper edge to its lower edge.
RATIO = 10 ** (1 / BINS_PER_DECADE)


def bin_of(x: Any) -> npt.NDArray[np.int64]:
    """The bin of each value (NaN is not allowed: leave missing values out first)."""
    a = np.asarray(x, dtype=np.float64)
    if np.isnan(a).any():
        raise StatisticsError(expected("argument", "x", "hold no NaN", "NaN"))
    with np.errstate(divide="ignore"):
        k = np.floor(np.log10(np.where(a > 0, a, 1.0)) * BINS_PER_DECADE)
    k = np.clip(k, LOWEST, HIGHEST)
    return np.where(a > 0, k, ZERO).astype(np.int64)


def _edge(k: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = np.power(10.0, k / BINS_PER_DECADE)
    return out


def quantiles(
    bins: Sequence[int] | npt.NDArray[np.int64],
    counts: Sequence[int] | npt.NDArray[np.int64],
    qs: Sequence[float],
) -> list[float | None]:
    """Quantiles ``qs`` of the values counted in ``bins`` (``None`` when there are none).

    The order statistics around position ``q * (n - 1)`` are placed inside their bin as if
    values spread evenly on the log scale there (zero for the zero bin), then interpolated
    linearly as ``quantile_cont`` does.
    """
    b = np.asarray(bins, dtype=np.int64)
    c = np.asarray(counts, dtype=np.int64)
    if b.shape != c.shape:
        raise StatisticsError(expected("argument", "counts", f"have {b.size} values", c.size))
    if (c < 0).any():
        raise StatisticsError(expected("argument", "counts", "be >= 0", int(c.min())))
    for q in qs:
        if not 0.0 <= float(q) <= 1.0:
            raise StatisticsError(expected("argument", "q", "be in [0, 1]", q))
    keep = c > 0
    if not keep.any():
        return [None for _ in qs]
    order = np.argsort(b[keep], kind="stable")
    b, c = b[keep][order], c[keep][order]
    if np.unique(b).size != b.size:  # the same bin twice: merge
        b, inv = np.unique(b, return_inverse=True)
        c = np.bincount(inv, weights=c).astype(np.int64)
    cum = np.cumsum(c)
    n = int(cum[-1])

    def value(rank: int) -> float:
        j = int(np.searchsorted(cum, rank, side="right"))
        if b[j] == ZERO:
            return 0.0
        before = int(cum[j - 1]) if j else 0
        frac = (rank - before + 0.5) / float(c[j])
        lo = float(_edge(np.array([b[j]], dtype=np.float64))[0])
        return float(lo * RATIO**frac)

    out: list[float | None] = []
    for q in qs:
        pos = float(q) * (n - 1)
        lo_rank = int(np.floor(pos))
        hi_rank = min(lo_rank + 1, n - 1)
        w = pos - lo_rank
        a = value(lo_rank)
        out.append(a if w == 0 or hi_rank == lo_rank else a + w * (value(hi_rank) - a))
    return out
