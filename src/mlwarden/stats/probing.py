"""Signs that one client probes a model: a grid sweep, boundary-hugging scores, near-duplicates.

Someone who wants to copy a model (extraction) or learn where it flips (probing) queries it in
ways ordinary traffic never does:

* a **grid sweep**: a feature takes a few equally spaced levels, each used about as often as
  the others (:func:`grid_like`), while the inputs as a whole are mostly distinct (the levels
  of several features are combined);
* **boundary hugging**: scores sit near the decision boundary much more often than the
  reference's do (a one-sided Fisher test of the client's share against the reference's:
  :func:`mlwarden.stats.rate_tests.fisher_p`);
* **near-duplicates**: many inputs that fall in one cell of a fine grid over the features.
  Under "the client's inputs are draws from the reference population" two inputs share a
  cell with probability ``q`` (the reference's collision rate, :func:`collision_rate`); the
  number of duplicate rows is at most the number of colliding pairs, about Poisson with mean
  ``n (n - 1) / 2 * q``, so :func:`duplicates_p` is a conservative p-value.

Examples
--------
>>> grid_like([0.0, 1.0, 2.0, 3.0], [25, 25, 24, 26])
True
>>> grid_like([0.0, 1.0, 2.5, 3.0], [25, 25, 24, 26])  # not equally spaced
False
>>> grid_like([0.0, 1.0, 2.0, 3.0], [80, 10, 6, 4])  # far from uniform use
False
>>> duplicates_p(0, 100, 1e-6)
1.0
>>> duplicates_p(60, 100, 1e-6) < 1e-30
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from mlwarden.errors import StatisticsError, expected

__all__ = [
    "MIN_LEVELS",
    "boundary_share",
    "collision_rate",
    "duplicates_p",
    "grid_like",
    "quantize",
]

#: Fewest levels a swept feature shows (two levels are a flag, not a sweep).
MIN_LEVELS = 3
#: Largest deviation of a step between levels from their mean step, relative to it (a sweep
#: of an integer feature in non-integer steps is rounded: 500, 527, 555, 582 ...).
STEP_TOLERANCE = 0.05
#: Largest ratio of the most to the least used level that still reads as "near-uniform".
MAX_LEVEL_IMBALANCE = 3.0


def grid_like(levels: npt.ArrayLike, counts: npt.ArrayLike) -> bool:
    """Whether the distinct values ``levels`` (any order, with their ``counts``) are at least
    :data:`MIN_LEVELS` equally spaced levels (within :data:`STEP_TOLERANCE`) used near-uniformly (the most used at most
    :data:`MAX_LEVEL_IMBALANCE` times the least used)."""
    lv = np.asarray(levels, dtype=np.float64)
    ct = np.asarray(counts, dtype=np.float64)
    if lv.shape != ct.shape or lv.ndim != 1:
        raise StatisticsError(expected("argument", "counts", f"have {lv.size} items", ct.size))
    if lv.size < MIN_LEVELS:
        return False
    order = np.argsort(lv)
    x, c = lv[order], ct[order]
    if not np.all(np.isfinite(x)) or c.min() <= 0:
        return False
    steps = np.diff(x)
    step = (x[-1] - x[0]) / (len(x) - 1)
    if step <= 0 or np.max(np.abs(steps - step)) > STEP_TOLERANCE * step:
        return False
    return bool(c.max() <= MAX_LEVEL_IMBALANCE * c.min())


def quantize(
    columns: Sequence[npt.ArrayLike], lows: Sequence[float], steps: Sequence[float]
) -> npt.NDArray[np.float64]:
    """Rows of cell indices ``floor((x - low) / step)`` of each column (NaN for a missing value,
    which matches only other missing values in :func:`collision_rate`)."""
    cols = quantize_columns(columns, lows, steps)
    if not cols:
        return np.zeros((0, 0))
    return np.column_stack(cols)


def quantize_columns(
    columns: Sequence[npt.ArrayLike], lows: Sequence[float], steps: Sequence[float]
) -> list[npt.NDArray[np.float64]]:
    """The columns of :func:`quantize`, not stacked into rows (a million rows of 30 columns
    are 240 MB a copy)."""
    return [
        np.floor((np.asarray(x, dtype=np.float64) - lo) / st)
        for x, lo, st in zip(columns, lows, steps, strict=True)
    ]


def collision_rate(cells: npt.NDArray[np.float64]) -> float:
    """An upper estimate of the chance that two rows drawn from the population of ``cells``
    (rows of :func:`quantize`) share a cell: the share of colliding pairs among the rows'
    pairs, with three pairs added (the "rule of three" bound when none collide).

    Examples
    --------
    >>> collision_rate(np.array([[0.0], [1.0], [2.0], [3.0]]))  # 6 pairs, none collide
    0.5
    >>> round(collision_rate(np.arange(2000, dtype=float).reshape(-1, 1) // 2), 7)
    0.0005018
    """
    return collision_rate_columns([cells[:, j] for j in range(cells.shape[1])], rows=len(cells))


def collision_rate_columns(columns: Sequence[npt.NDArray[np.float64]], *, rows: int) -> float:
    """:func:`collision_rate` of the rows the ``columns`` (of :func:`quantize_columns`, each
    ``rows`` long) make, read column by column: no row-major copy of the cells."""
    n = rows
    if n < 2:
        raise StatisticsError(expected("argument", "cells", "hold at least 2 rows", n))
    # np.unique treats each NaN as distinct; + 0.0: -0.0 becomes 0.0
    filled = [np.where(np.isnan(c), -1e300, c) + 0.0 for c in columns]
    counts = _column_row_counts(filled, n)
    pairs = n * (n - 1) / 2
    colliding = float(np.sum(counts * (counts - 1) / 2))
    return min(1.0, (colliding + 3.0) / pairs)


#: Odd 64-bit multipliers of the row hash (splitmix64's).
_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))


def _row_counts(cells: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """:func:`_column_row_counts` of the rows of ``cells``."""
    return _column_row_counts([c + 0.0 for c in cells.T], len(cells))  # + 0.0: -0.0 is 0.0


def _column_row_counts(columns: Sequence[npt.NDArray[np.float64]], n: int) -> npt.NDArray[np.int64]:
    """How many times each distinct row occurs (in no particular order): the counts of
    ``np.unique(cells, axis=0, return_counts=True)`` without its sort of whole rows (2.3 s on
    1M rows of 30 columns). Rows are grouped by a 64-bit hash of their values, then every row
    is checked against the first of its group, so a hash collision (never seen; ~1e-8 at 1M
    rows) falls back to ``np.unique`` and the counts are exact. ``columns``: the rows' values
    column by column, -0.0 as 0.0 (``n`` rows)."""
    cols = [np.ascontiguousarray(c).view(np.uint64) for c in columns]
    h = np.zeros(n, dtype=np.uint64)
    for col in cols:
        h ^= col * _MIX[1]
        h = (h ^ (h >> np.uint64(31))) * _MIX[2] + _MIX[0]
    order = np.argsort(h)
    hs = h[order]
    new = np.r_[True, hs[1:] != hs[:-1]]
    starts = np.flatnonzero(new)
    sizes = np.diff(np.r_[starts, n])
    # rows alone in their group need no check: only a shared hash could have merged rows
    shared = np.repeat(sizes > 1, sizes)
    rows, heads = order[shared], order[starts][(np.cumsum(new) - 1)[shared]]
    if any(not np.array_equal(col[rows], col[heads]) for col in cols):
        cells = np.column_stack(columns) if columns else np.zeros((n, 0))
        _, counts = np.unique(cells, axis=0, return_counts=True)
        return np.asarray(counts, dtype=np.int64)
    out: npt.NDArray[np.int64] = sizes.astype(np.int64)
    return out


def duplicates_p(duplicates: int, n: int, q: float) -> float:
    """Conservative p-value of ``duplicates`` rows (``n`` minus the distinct cells) among ``n``
    draws whose pairs collide with probability ``q``: ``P(Poisson(n (n - 1) / 2 * q) >=
    duplicates)``."""
    if not 0 <= duplicates <= n:
        raise StatisticsError(expected("argument", "duplicates", f"be in 0..{n}", duplicates))
    if not 0 <= q <= 1:
        raise StatisticsError(expected("argument", "q", "be in [0, 1]", q))
    if duplicates == 0:
        return 1.0
    from scipy import stats as sps

    lam = n * (n - 1) / 2 * q
    if lam == 0:
        return 0.0
    return float(min(1.0, sps.poisson.sf(duplicates - 1, lam)))


def boundary_share(scores: npt.ArrayLike, band: float) -> tuple[int, int]:
    """``(k, n)``: scores within ``band`` of 0.5, and scores present.

    Examples
    --------
    >>> boundary_share([0.48, 0.9, 0.53, float("nan")], 0.05)
    (2, 3)
    """
    s = np.asarray(scores, dtype=np.float64)
    s = s[np.isfinite(s)]
    if not 0 < band < 0.5 or math.isnan(band):
        raise StatisticsError(expected("argument", "band", "be in (0, 0.5)", band))
    return int(np.sum(np.abs(s - 0.5) < band)), int(s.size)
