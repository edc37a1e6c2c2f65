r"""Joint drift of numeric features: normal scores, their means and covariances, and a null
distribution drawn by splitting the reference.

The method
----------
**1. Normal scores.** Each feature is mapped through the reference's own empirical
distribution: a value with ``b`` reference values below it and ``e`` equal to it gets
``u = (b + e/2 + 1/2) / (n + 1)`` and the score ``z = Phi^-1(u)`` (van der Waerden scores;
ties take the mid-rank, a missing value scores 0, the median). Whatever the marginal law
(Student-t(2), lognormal, integers), the scores of the reference are about standard normal,
so one wild value moves nothing by more than ~3.5 and no tail assumption is made.

**2. Statistic.** With reference scores of mean ``m_r`` and covariance ``S_r`` (``n_r``
rows), window scores ``m_c``, ``S_c`` (``n_c`` rows), ``en = n_r n_c / (n_r + n_c)`` and
``W = (S_r + 1e-3 I)^-1/2``:

* location: ``T_loc = en |W (m_c - m_r)|^2``, about chi-square with ``d`` degrees of
  freedom under no drift; a shift of several features together adds up in it;
* dependence: ``T_dep = en/2 |W (S_c - S_r) W|_F^2``, about chi-square with
  ``d (d + 1) / 2`` degrees of freedom: spreads and correlations that change;

and the value is the larger of the two standardised, ``(T - df) / sqrt(2 df)``. No
components are dropped and none are fitted, so nothing is rounding noise.

**3. Null by resampling the reference.** The reference rows are exchangeable with a
no-drift window, so a replicate splits them at random into a window of the window's size
``c`` (at most half of them) and a reference of the rest, re-ranks every row against that
reference and computes the statistic with the very code used on real windows. Splitting
(without replacement) keeps the reference's ties as they are, where a bootstrap would add
its own. Window sizes are rounded down to a power of two for the replicates, at most 1024
rows (the statistic is scaled by ``en``, so its null law moves little with the sizes, and
smaller windows have the heavier tail: the safe side), and a replicate uses at most four
times the window's rows of the reference. Thresholds come from the replicates' tail fitted like every other calibrated
statistic (``mlwarden.stats.thresholds``: empirical body, generalized Pareto beyond the 90%
quantile), at the per-window alpha of the false-alarm budget.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from mlwarden.errors import ConfigError, StatisticsError, expected
from mlwarden.stats.thresholds import _Tail

__all__ = ["JointDrift", "JointDriftResult", "JointReference", "joint_drift"]

_Floats = npt.NDArray[np.float64]
#: Ridge added to the covariance of the reference scores before whitening (scores have
#: variance ~1): a feature that is a function of another leaves no direction at zero variance.
RIDGE = 1e-3
#: Fewest reference values a feature needs to be scored.
MIN_VALUES = 10
#: Largest window of the null replicates. Measured (20k reference rows of Student-t(2),
#: lognormal and integer features, 2000 replicates): the fitted 1e-3 quantile is 4.49 at
#: 1024 rows and 4.22 at 4096 with 20 features, 5.5 and 5.8 (noise) with 3; a replicate's
#: cost grows with the rows, 6x from 1024 to 4096.
MAX_NULL_WINDOW = 1024
#: Work per chunk of null replicates (rows x features x replicates), to bound memory.
_CHUNK = 2_000_000


def _ndtri(u: npt.ArrayLike) -> _Floats:
    from scipy.special import ndtri  # scipy.special only: scipy.stats is a slow import

    return np.asarray(ndtri(u), dtype=np.float64)


@dataclass(frozen=True)
class JointDrift:
    """The statistic of one window (or of a batch of null replicates: arrays then)."""

    value: _Floats
    location: _Floats
    dependence: _Floats
    #: per feature: the window's mean score minus the reference's, in reference SDs
    mean_shift: _Floats
    #: per feature: the window's score SD over the reference's
    spread_ratio: _Floats
    en: float


def _score(
    m_r: _Floats, s_r: _Floats, n_r: float, m_c: _Floats, s_c: _Floats, n_c: float
) -> JointDrift:
    """The statistic from the moments of the two sides; leading axes are a batch."""
    d = m_r.shape[-1]
    en = n_r * n_c / (n_r + n_c)
    dm = m_c - m_r
    # With A = S_r + ridge I and W = A^-1/2: |W dm|^2 = dm' A^-1 dm and
    # |W D W|_F^2 = tr(A^-1 D A^-1 D), so one solve of A against [D | dm] gives both; an
    # eigendecomposition of A (the same numbers to ~1e-15) cost 5-50x more: a batch of small
    # LAPACK calls that multithreaded BLAS makes slowest on a busy machine.
    x = np.linalg.solve(s_r + RIDGE * np.eye(d), np.concatenate([s_c - s_r, dm[..., None]], -1))
    x_d = x[..., :d]
    loc = en * np.sum(dm * x[..., d], axis=-1)
    dep = en / 2 * np.sum(x_d * np.swapaxes(x_d, -1, -2), axis=(-2, -1))
    k1, k2 = d, d * (d + 1) / 2
    z_loc = (loc - k1) / math.sqrt(2 * k1)
    z_dep = (dep - k2) / math.sqrt(2 * k2)
    var_r = np.maximum(np.diagonal(s_r, axis1=-2, axis2=-1), 1e-12)
    var_c = np.maximum(np.diagonal(s_c, axis1=-2, axis2=-1), 0.0)
    return JointDrift(
        value=np.maximum(z_loc, z_dep),
        location=z_loc,
        dependence=z_dep,
        mean_shift=dm / np.sqrt(var_r),
        spread_ratio=np.sqrt(var_c / var_r),
        en=en,
    )


def _moments(z: _Floats) -> tuple[_Floats, _Floats]:
    m = z.mean(axis=0)
    c = z - m
    return m, (c.T @ c) / z.shape[0]


@dataclass(frozen=True)
class JointReference:
    """A reference sample ready to score windows: its sorted features, its scores' moments,
    and a cache of null tails by window size (owned by this object, so by the monitor that
    holds it)."""

    values: _Floats
    names: tuple[str, ...]
    sorted_values: tuple[_Floats, ...]
    mean: _Floats
    cov: _Floats
    _tails: dict[int, _Tail] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def fit(cls, reference: npt.ArrayLike, *, names: Sequence[str] | None = None) -> JointReference:
        """Score the reference against itself.

        Examples
        --------
        >>> import numpy as np
        >>> ref = JointReference.fit(np.random.default_rng(0).standard_t(2, size=(1000, 2)))
        >>> bool(np.allclose(ref.mean, 0)), np.round(np.diag(ref.cov), 2).tolist()
        (True, [0.99, 0.99])
        """
        x = _matrix(reference, "reference")
        labels = tuple(names) if names is not None else tuple(f"x{i}" for i in range(x.shape[1]))
        if len(labels) != x.shape[1]:
            raise StatisticsError(
                expected("argument", "names", f"have {x.shape[1]} names", len(labels))
            )
        cols = []
        for j in range(x.shape[1]):
            col = x[:, j]
            s = np.sort(col[~np.isnan(col)])
            if s.size < MIN_VALUES or s[0] == s[-1]:
                raise StatisticsError(
                    expected(
                        "feature",
                        labels[j],
                        f"have at least {MIN_VALUES} values, not all equal",
                        f"{s.size} values, {np.unique(s).size} distinct",
                    )
                )
            cols.append(s)
        sorted_values = tuple(cols)
        z = _scores(x, sorted_values)
        m, c = _moments(z)
        return cls(x, labels, sorted_values, m, c)

    @property
    def n(self) -> int:
        return int(self.values.shape[0])

    def scores(self, current: npt.ArrayLike) -> _Floats:
        """Normal scores of ``current`` rows against the reference."""
        x = _matrix(current, "current")
        if x.shape[1] != self.values.shape[1]:
            raise StatisticsError(
                expected(
                    "matrix",
                    "current",
                    f"have {self.values.shape[1]} columns like the reference",
                    x.shape[1],
                )
            )
        return _scores(x, self.sorted_values)

    def statistic(self, current: npt.ArrayLike) -> JointDrift:
        """The statistic of a window."""
        z = self.scores(current)
        if z.shape[0] < 2:
            raise StatisticsError(expected("matrix", "current", "have at least 2 rows", z.shape[0]))
        m, c = _moments(z)
        return _score(self.mean, self.cov, self.n, m, c, z.shape[0])

    def null_size(self, n_current: int) -> int:
        """The window size the null replicates use: ``n_current`` rounded down to a power of
        two, at most :data:`MAX_NULL_WINDOW` and half the reference. The statistic is scaled
        by ``en``, so its null law moves little with the sizes, and what it does move errs on
        the safe side: smaller windows have the heavier null tail."""
        c = 1 << max(int(n_current).bit_length() - 1, 1)
        return max(min(c, MAX_NULL_WINDOW, self.n // 2), 2)

    def null(self, n_current: int, *, replicates: int = 1000, seed: int = 0) -> _Floats:
        """``replicates`` values of the statistic under no drift, for windows of ``n_current``
        rows: random splits of (at most ``4 c`` rows of) the reference into a window of
        ``c = null_size(n_current)`` rows and the rest."""
        c = self.null_size(n_current)
        values = self.values
        if values.shape[0] > 4 * c:  # the cost is per row: a reference 3x the window suffices
            rng = np.random.default_rng([seed, c])
            values = values[np.sort(rng.choice(values.shape[0], 4 * c, replace=False))]
        return _null(values, c, replicates, seed)

    def tail(self, n_current: int, *, replicates: int = 1000) -> _Tail:
        """The null tail at this window size, computed once per size."""
        key = self.null_size(n_current)
        t = self._tails.get(key)
        if t is None:
            t = self._tails[key] = _Tail(self.null(key, replicates=replicates))
        return t


def _matrix(data: npt.ArrayLike, name: str) -> _Floats:
    try:
        x = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise StatisticsError(expected("matrix", name, "be numeric", type(data).__name__)) from exc
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise StatisticsError(expected("matrix", name, "be 2-D (rows x features)", x.shape))
    if np.isinf(x).any():
        raise StatisticsError(expected("matrix", name, "hold no infinite values", "inf"))
    return x


def _scores(x: _Floats, sorted_values: Sequence[_Floats]) -> _Floats:
    z = np.zeros(x.shape)
    for j, s in enumerate(sorted_values):
        col = x[:, j]
        ok = ~np.isnan(col)
        below = np.searchsorted(s, col[ok], side="left")
        equal = np.searchsorted(s, col[ok], side="right") - below
        z[ok, j] = _ndtri((below + equal / 2 + 0.5) / (s.size + 1))
    return z


def _null(values: _Floats, c: int, replicates: int, seed: int) -> _Floats:
    """The statistic on ``replicates`` random splits of the reference rows into a window of
    ``c`` rows and a reference of the rest, every row re-scored against that reference.

    Per feature, rows are sorted once; a split's ranks are cumulative counts of its reference
    rows along that order (ties: counts at the ends of runs of equal values), so a replicate
    costs O(rows x features) plus the moments, not a sort. Scores are float32 here (the
    moments' rounding error is ~1e-6 of their ~1e-2 null spread).
    """
    n, d = values.shape
    r = n - c
    rng = np.random.default_rng(seed)
    plans = []
    for j in range(d):
        col = values[:, j]
        rows = np.flatnonzero(~np.isnan(col))
        order = rows[np.argsort(col[rows], kind="stable")]
        v = col[order]
        new = np.r_[True, v[1:] != v[:-1]]
        group = np.cumsum(new) - 1
        ends = np.r_[np.flatnonzero(new)[1:], v.size] - 1
        table: _Floats | None = None
        if rows.size == n:
            table = _ndtri(np.arange(2 * r + 3) / (2 * (r + 1))).astype(np.float32)
        ties = bool(group[-1] + 1 < v.size)
        # positions in ``order`` of each row (the rows' own order, missing ones at -1)
        where = np.full(n, -1, dtype=np.intp)
        where[order] = np.arange(order.size)
        plans.append((order, group if ties else None, ends, table, rows, where[rows]))
    out = np.empty(replicates)
    step = max(1, min(replicates, _CHUNK // max(n * d, 1)))
    split = np.ones((step, n), dtype=bool)
    split[:, :c] = False
    counts: Any = np.int16 if 2 * n + 3 < np.iinfo(np.int16).max else np.int32
    # the splits are drawn in order first, so the replicates do not depend on the threads
    splits = [
        (start, rng.permuted(split[: min(step, replicates - start)], axis=1))
        for start in range(0, replicates, step)
    ]

    def chunk(start: int, in_ref: npt.NDArray[np.bool_]) -> None:
        b = in_ref.shape[0]
        z = np.zeros((b, d, n), dtype=np.float32)
        picked = np.empty((b, n), dtype=bool)
        for j, (order, runs, ends, lookup, rows, at) in enumerate(plans):
            np.take(in_ref, order, axis=1, out=picked[:, : order.size])
            cum = np.cumsum(picked[:, : order.size], axis=1, dtype=counts)
            if runs is not None:
                cum = cum[:, ends]
            k = cum + 1  # 2 (below + equal / 2 + 1 / 2), the scores' index
            k[:, 1:] += cum[:, :-1]
            k = np.take(k, at if runs is None else runs[at], axis=1)
            if lookup is not None:
                # straight into z: no index array of intp, no temporary of the scores
                np.take(lookup, k, out=z[:, j, :], mode="clip")
            else:  # missing values: the reference part's count varies by replicate
                z[:, j, rows] = _ndtri(k / (2.0 * (cum[:, -1:] + 1)))
        window = np.nonzero(~in_ref)[1].reshape(b, c)  # each row has c, in row order
        zc = np.take_along_axis(z, window[:, None, :], axis=2)
        total = z.sum(axis=2, dtype=np.float64)
        sum_c = zc.sum(axis=2, dtype=np.float64)
        gram = (z @ np.swapaxes(z, 1, 2)).astype(np.float64)
        gram_c = (zc @ np.swapaxes(zc, 1, 2)).astype(np.float64)
        m_c, m_r = sum_c / c, (total - sum_c) / r
        s_c = gram_c / c - m_c[:, :, None] * m_c[:, None, :]
        s_r = (gram - gram_c) / r - m_r[:, :, None] * m_r[:, None, :]
        out[start : start + b] = _score(m_r, s_r, r, m_c, s_c, c).value

    if len(splits) == 1:
        chunk(*splits[0])
        return out
    # numpy releases the GIL in the sort-free counting, gathers and products: two chunks at a
    # time use both cores of a small machine
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        for job in [pool.submit(chunk, start, in_ref) for start, in_ref in splits]:
            job.result()
    return out


@dataclass(frozen=True)
class JointDriftResult:
    """Joint drift of one window (drift when ``value > threshold``)."""

    value: float
    threshold: float
    p_value: float
    drifted: bool
    location: float
    dependence: float
    contributions: Mapping[str, float]
    mean_shift: Mapping[str, float]
    n_reference: int
    n_current: int


def joint_drift(
    reference: npt.ArrayLike | JointReference,
    current: npt.ArrayLike,
    *,
    feature_names: Sequence[str] | None = None,
    alpha: float = 0.01,
    replicates: int = 1000,
) -> JointDriftResult:
    """Joint drift of ``current`` against ``reference`` at false-alarm probability ``alpha``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> ref = np.column_stack([rng.standard_t(2, 4000), rng.lognormal(size=4000),
    ...                        rng.normal(size=4000)])
    >>> cur = np.column_stack([rng.standard_t(2, 2000), rng.lognormal(size=2000),
    ...                        rng.normal(size=2000)]) + [0.15, 0.15, 0.15]
    >>> loud = joint_drift(ref, cur, alpha=0.001, feature_names=["t", "lognormal", "normal"])
    >>> loud.drifted, loud.value > loud.threshold, loud.p_value < 0.001
    (True, True, True)
    """
    if not 0 < alpha < 0.5:
        raise ConfigError(expected("parameter", "alpha", "be in (0, 0.5)", alpha))
    ref = (
        reference
        if isinstance(reference, JointReference)
        else JointReference.fit(reference, names=feature_names)
    )
    stat = ref.statistic(current)
    tail = ref.tail(int(np.shape(current)[0]), replicates=replicates)
    value, threshold = float(stat.value), float(tail.isf(alpha))
    contrib = np.asarray(stat.mean_shift) ** 2 + (np.asarray(stat.spread_ratio) - 1) ** 2 / 2
    return JointDriftResult(
        value=value,
        threshold=threshold,
        p_value=float(min(max(tail.sf(value), 0.0), 1.0)),
        drifted=value > threshold,
        location=float(stat.location),
        dependence=float(stat.dependence),
        contributions={n: float(v) for n, v in zip(ref.names, contrib, strict=True)},
        mean_shift={n: float(v) for n, v in zip(ref.names, stat.mean_shift, strict=True)},
        n_reference=ref.n,
        n_current=int(np.shape(current)[0]),
    )
