"""Regression performance from additive sums and error histograms.

:class:`RegressionSums` holds the sums a SQL group-by returns per window or segment;
:func:`mae`, :func:`rmse`, :func:`mape`, :func:`r2` and :func:`mean_error` turn them
into metrics equal to scikit-learn's on the same rows. :class:`ErrorHistogram` holds
counts of absolute errors over fixed bin edges and gives quantiles
(:func:`abs_error_quantile`). Both merge by addition.

The error of a row is ``prediction - actual``. Undefined metrics (no rows; R² with
fewer than two rows or constant actuals; MAPE with no non-zero actual) are ``None``;
invalid input raises :class:`~mlwarden.errors.StatisticsError`.

MAPE: scikit-learn divides by ``max(|actual|, eps)`` with ``eps`` the float64 machine
epsilon, so a single zero actual makes its MAPE around 1e15 times the error. We leave
rows with a zero actual (``|actual| < eps``) out instead (``n_nonzero`` counts the rows
used), so MAPE equals scikit-learn's on the rows with a non-zero actual and is ``None``
when every actual is zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mlwarden.errors import StatisticsError, expected
from mlwarden.stats.classification import (
    _as_float,
    _count,
    _counts,
    _edges,
    _finite,
    _same_length,
    bin_index,
)

EPS = float(np.finfo(np.float64).eps)

__all__ = [
    "ErrorHistogram",
    "RegressionSums",
    "abs_error_quantile",
    "mae",
    "mape",
    "mean_error",
    "mse",
    "r2",
    "rmse",
]

# R² treats the actuals as constant when their centred sum of squares is below this
# share of their raw second moment (what float rounding of the sums leaves behind).
CONSTANT_RTOL = 1e-12


@dataclass(frozen=True)
class RegressionSums:
    """Additive sums over the rows of one window (``err = prediction - actual``).

    Fields (SQL aggregate in brackets): ``n`` [count(*)], ``sum_err`` [sum(err)],
    ``sum_abs_err`` [sum(abs(err))], ``sum_sq_err`` [sum(err*err)], ``n_nonzero``
    [count of rows with abs(actual) >= eps], ``sum_abs_pct_err`` [sum(abs(err)/abs(actual))
    over those rows], ``sum_y`` [sum(actual - shift)], ``sum_y2``
    [sum((actual - shift)^2)] and ``shift``, a constant subtracted from the actuals
    before summing (e.g. the reference mean) so R² keeps its precision when actuals
    are large and nearly constant; 0 by default. Sums with different shifts merge
    (the right operand is re-expressed at the left one's shift).

    Examples
    --------
    >>> s = RegressionSums.from_arrays([1.0, 2.0, 4.0], [1.5, 2.0, 3.0])
    >>> s.n, s.sum_abs_err, s.sum_sq_err
    (3, 1.5, 1.25)
    >>> (s + s).n
    6
    """

    n: int
    sum_err: float
    sum_abs_err: float
    sum_sq_err: float
    n_nonzero: int
    sum_abs_pct_err: float
    sum_y: float
    sum_y2: float
    shift: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "n", _count(self.n, "n"))
        object.__setattr__(self, "n_nonzero", _count(self.n_nonzero, "n_nonzero"))
        if self.n_nonzero > self.n:
            raise StatisticsError(expected("field", "n_nonzero", "not exceed n", self.n_nonzero))
        for name in ("sum_err", "sum_abs_err", "sum_sq_err", "sum_abs_pct_err"):
            object.__setattr__(self, name, _finite(getattr(self, name), name))
        for name in ("sum_y", "sum_y2", "shift"):
            object.__setattr__(self, name, _finite(getattr(self, name), name))
        for name in ("sum_abs_err", "sum_sq_err", "sum_abs_pct_err", "sum_y2"):
            if getattr(self, name) < 0:
                raise StatisticsError(expected("field", name, "be >= 0", getattr(self, name)))

    @classmethod
    def from_arrays(
        cls, y_true: npt.ArrayLike, y_pred: npt.ArrayLike, *, shift: float = 0.0
    ) -> RegressionSums:
        """Sum raw actuals and predictions.

        Examples
        --------
        >>> RegressionSums.from_arrays([0.0, 2.0], [1.0, 1.0]).n_nonzero
        1
        """
        t, p = _as_float(y_true, "y_true"), _as_float(y_pred, "y_pred")
        _same_length(("y_true", t), ("y_pred", p))
        err = p - t
        nz = np.abs(t) >= EPS
        with np.errstate(over="ignore"):  # an infinite ratio is rejected by __post_init__
            pct = float((np.abs(err[nz]) / np.abs(t[nz])).sum())
        yc = t - _finite(shift, "shift")
        return cls(
            n=len(t),
            sum_err=float(err.sum()),
            sum_abs_err=float(np.abs(err).sum()),
            sum_sq_err=float((err * err).sum()),
            n_nonzero=int(nz.sum()),
            sum_abs_pct_err=pct,
            sum_y=float(yc.sum()),
            sum_y2=float((yc * yc).sum()),
            shift=float(shift),
        )

    def __add__(self, other: RegressionSums) -> RegressionSums:
        if not isinstance(other, RegressionSums):
            return NotImplemented
        d = other.shift - self.shift  # other's (y - s2) = (y - s1) - d
        o_y = other.sum_y + other.n * d
        o_y2 = other.sum_y2 + 2.0 * d * other.sum_y + other.n * d * d
        return RegressionSums(
            n=self.n + other.n,
            sum_err=self.sum_err + other.sum_err,
            sum_abs_err=self.sum_abs_err + other.sum_abs_err,
            sum_sq_err=self.sum_sq_err + other.sum_sq_err,
            n_nonzero=self.n_nonzero + other.n_nonzero,
            sum_abs_pct_err=self.sum_abs_pct_err + other.sum_abs_pct_err,
            sum_y=self.sum_y + o_y,
            sum_y2=self.sum_y2 + max(o_y2, 0.0),
            shift=self.shift,
        )


def mae(sums: RegressionSums) -> float | None:
    """Mean absolute error (``None`` for no rows).

    Examples
    --------
    >>> mae(RegressionSums.from_arrays([1.0, 2.0, 4.0], [1.5, 2.0, 3.0]))
    0.5
    """
    return sums.sum_abs_err / sums.n if sums.n else None


def mse(sums: RegressionSums) -> float | None:
    """Mean squared error (``None`` for no rows).

    Examples
    --------
    >>> mse(RegressionSums.from_arrays([1.0, 3.0], [2.0, 3.0]))
    0.5
    """
    return sums.sum_sq_err / sums.n if sums.n else None


def rmse(sums: RegressionSums) -> float | None:
    """Root mean squared error (``None`` for no rows).

    Examples
    --------
    >>> rmse(RegressionSums.from_arrays([1.0, 3.0], [3.0, 1.0]))
    2.0
    """
    value = mse(sums)
    return math.sqrt(value) if value is not None else None


def mean_error(sums: RegressionSums) -> float | None:
    """Mean signed error ``prediction - actual`` (bias; ``None`` for no rows).

    Examples
    --------
    >>> mean_error(RegressionSums.from_arrays([1.0, 3.0], [2.0, 4.0]))
    1.0
    """
    return sums.sum_err / sums.n if sums.n else None


def mape(sums: RegressionSums) -> float | None:
    """Mean absolute percentage error as a fraction, over rows with a non-zero actual
    (see the module notes on zeros); ``None`` when there is none.

    Examples
    --------
    >>> mape(RegressionSums.from_arrays([2.0, 4.0, 0.0], [1.0, 5.0, 3.0]))
    0.375
    """
    return sums.sum_abs_pct_err / sums.n_nonzero if sums.n_nonzero else None


def r2(sums: RegressionSums) -> float | None:
    """Coefficient of determination ``1 - SS_res / SS_tot``.

    ``None`` with fewer than two rows or constant actuals (where scikit-learn's
    ``force_finite`` returns 1.0 or 0.0 by convention).

    Examples
    --------
    >>> r2(RegressionSums.from_arrays([1.0, 2.0, 3.0], [1.0, 2.0, 4.0]))
    0.5
    """
    if sums.n < 2:
        return None
    ss_tot = sums.sum_y2 - sums.sum_y * sums.sum_y / sums.n
    if ss_tot <= CONSTANT_RTOL * sums.sum_y2 or ss_tot <= 0:
        return None
    return 1.0 - sums.sum_sq_err / ss_tot


@dataclass(frozen=True)
class ErrorHistogram:
    """Counts of absolute errors ``|prediction - actual|`` over fixed bin edges
    (bins as :func:`~mlwarden.stats.classification.bin_index`: values beyond the
    edges count in the end bins, so pick edges covering the errors, e.g. from
    reference quantiles with a generous last edge). SQL: ``GROUP BY bin(abs(err))``.

    Examples
    --------
    >>> h = ErrorHistogram.from_arrays([1.0, 2.0, 3.0], [1.2, 2.9, 3.0], edges=[0, 0.5, 1])
    >>> h.counts
    (2, 1)
    """

    edges: tuple[float, ...]
    counts: tuple[int, ...]

    def __post_init__(self) -> None:
        edges = _edges(self.edges)
        object.__setattr__(self, "edges", edges)
        if len(self.counts) != len(edges) - 1:
            raise StatisticsError(
                expected("field", "counts", f"hold {len(edges) - 1} bins", len(self.counts))
            )
        object.__setattr__(self, "counts", _counts(self.counts, "counts"))

    @classmethod
    def from_arrays(
        cls, y_true: npt.ArrayLike, y_pred: npt.ArrayLike, *, edges: Sequence[float]
    ) -> ErrorHistogram:
        """Histogram the absolute errors of raw rows.

        Examples
        --------
        >>> ErrorHistogram.from_arrays([0.0], [5.0], edges=[0, 1, 2]).counts
        (0, 1)
        """
        t, p = _as_float(y_true, "y_true"), _as_float(y_pred, "y_pred")
        _same_length(("y_true", t), ("y_pred", p))
        e = _edges(edges)
        counts = np.bincount(bin_index(np.abs(p - t), e), minlength=len(e) - 1)
        return cls(e, tuple(counts.tolist()))

    def __add__(self, other: ErrorHistogram) -> ErrorHistogram:
        if not isinstance(other, ErrorHistogram):
            return NotImplemented
        if other.edges != self.edges:
            raise StatisticsError(expected("argument", "other", "have the same edges", other.edges))
        return ErrorHistogram(
            self.edges, tuple(a + b for a, b in zip(self.counts, other.counts, strict=True))
        )


def abs_error_quantile(hist: ErrorHistogram, q: float) -> float | None:
    """Quantile ``q`` of the absolute error, interpolated linearly inside its bin
    (so within one bin width of the exact sample quantile when no error lies beyond
    the edges); ``None`` for no rows.

    Examples
    --------
    >>> h = ErrorHistogram(edges=(0.0, 1.0, 2.0), counts=(1, 3))
    >>> abs_error_quantile(h, 0.5)
    1.3333333333333333
    """
    qf = float(q)
    if not 0.0 <= qf <= 1.0:
        raise StatisticsError(expected("argument", "q", "be in [0, 1]", q))
    counts = np.asarray(hist.counts, dtype=np.float64)
    total = float(counts.sum())
    if total <= 0:
        return None
    edges = np.asarray(hist.edges, dtype=np.float64)
    target = qf * total
    cum = np.cumsum(counts)
    b = int(np.searchsorted(cum, target, side="left"))
    b = min(b, len(counts) - 1)
    while counts[b] == 0 and b < len(counts) - 1:  # q = 0 lands before the first row
        b += 1
    before = cum[b] - counts[b]
    frac = (target - before) / counts[b]
    return float(edges[b] + min(max(frac, 0.0), 1.0) * (edges[b + 1] - edges[b]))
