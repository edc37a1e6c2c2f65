"""Isotonic regression fitted and read at its own points, in numpy (what CBPE calibrates with).

The same fit as scikit-learn's ``IsotonicRegression(y_min=..., y_max=...,
out_of_bounds="clip").fit(x, y).predict(x)``: points sorted by ``x``, values closer than
``1e-15`` to the first of their run pooled (their weighted mean, as scikit-learn's
``_make_unique``), the weighted least-squares non-decreasing fit of the pooled means
(pool-adjacent-violators), clipped to ``[y_min, y_max]``, and each point given the fit of its
pool. Importing scikit-learn for it took ~0.8 s of a ~1.5 s set-up, and scipy's
``optimize.isotonic_regression`` 0.3 s; here the adjacent violators are pooled a whole
descending run at a time, so a pass is a few numpy calls and a calibration curve needs a few
dozen passes. The values equal scikit-learn's up to rounding (block means are summed in
another order: ~1e-16).

Examples
--------
>>> isotonic_fit([1, 2, 3, 4, 5], [1.0, 0.0, 1.0, 0.0, 1.0]).tolist()
[0.5, 0.5, 0.5, 0.5, 1.0]
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from mlwarden.errors import StatisticsError, expected

__all__ = ["isotonic_fit"]

#: scikit-learn's ``np.finfo(np.float64).resolution``: x values closer than this to the first
#: of their run are one point.
_TIE = float(np.finfo(np.float64).resolution)


def isotonic_fit(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    y_min: float = -np.inf,
    y_max: float = np.inf,
) -> npt.NDArray[np.float64]:
    """The non-decreasing least-squares fit of ``y`` on ``x``, read at each ``x``."""
    xs = np.asarray(x, dtype=np.float64).reshape(-1)
    ys = np.asarray(y, dtype=np.float64).reshape(-1)
    if xs.shape != ys.shape:
        raise StatisticsError(expected("argument", "y", f"have {xs.size} values like x", ys.size))
    if xs.size == 0:
        return np.empty(0)
    if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        raise StatisticsError(expected("argument", "x and y", "be finite", "NaN or inf"))
    order = np.argsort(xs)  # the order within equal x only changes rounding of their sum
    sx, sy = xs[order], ys[order]
    pool = _pools(sx)
    starts = np.flatnonzero(np.r_[True, pool[1:] != pool[:-1]])
    weight = np.diff(np.r_[starts, sx.size]).astype(np.float64)
    total = np.add.reduceat(sy, starts)
    fit = np.clip(_pava(total, weight), y_min, y_max)
    out = np.empty(xs.size)
    out[order] = fit[pool]
    return out


def _pools(sx: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
    """The pool of each sorted x: a new pool starts at a value ``>= 1e-15`` above the first of
    the current pool (scikit-learn's rule)."""
    new = np.r_[True, np.diff(sx) >= _TIE]
    pool = np.cumsum(new) - 1
    first = sx[np.flatnonzero(new)]
    if (sx - first[pool] < _TIE).all():
        return pool
    # a run of values each closer than 1e-15 to the last but not to its first: walk it
    out = np.empty(sx.size, dtype=np.intp)
    k, head = 0, sx[0]
    for i, v in enumerate(sx.tolist()):
        if v - head >= _TIE:
            k, head = k + 1, v
        out[i] = k
    return out


def _pava(
    total: npt.NDArray[np.float64], weight: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """The fit of points of sums ``total`` over weights ``weight``, by pooling adjacent
    violators: each pass pools every maximal non-increasing run of block means into one block
    (pooling such a run is a sequence of valid PAVA steps: the pooled mean stays at or above
    the next one), until the means increase."""
    value = total
    size = np.ones(total.size, dtype=np.intp)
    for _ in range(total.size):
        m = value / weight
        rise = m[1:] > m[:-1]
        if rise.all():
            break
        starts = np.flatnonzero(np.r_[True, rise])
        value = np.add.reduceat(value, starts)
        weight = np.add.reduceat(weight, starts)
        size = np.add.reduceat(size, starts)
    return np.repeat(value / weight, size)
