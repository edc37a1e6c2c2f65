"""Tests that compare two model versions: on the same requests (champion / challenger in
shadow: paired) or on different ones (an A/B split: unpaired).

Every function takes counts the store aggregated, never rows (but :func:`delong_raw`):

* :func:`mcnemar` -- accuracy. Only the discordant pairs matter (``b``: the champion right and
  the challenger wrong, ``c``: the other way round). Exact two-sided binomial test (p = 1/2)
  when ``b + c < 25``, else the chi-square statistic with continuity correction
  ``(|b - c| - 1)^2 / (b + c)``: statsmodels' ``mcnemar(exact=True)`` and
  ``mcnemar(exact=False, correction=True)``. The difference in accuracy ``(c - b) / n`` comes
  with a Wald interval of paired proportions.
* :func:`delong_paired` -- ROC AUC (DeLong, DeLong & Clarke-Pearson 1988), from the joint
  histogram of the two versions' binned scores per class: ``pos[i, j]`` positives whose
  champion score fell in bin ``i`` and challenger score in bin ``j``. A positive's structural
  component (the share of negatives it out-scores, ties half) depends only on its bin, so the
  DeLong covariance is a weighted sum over the grid's cells: this *is* DeLong's method applied
  to scores rounded to the bins, exactly (tested against the raw-score form on rounded
  scores). :func:`delong_raw` is the textbook form over raw scores, for small windows.
* :func:`paired_bootstrap` -- any metric of the binary confusion matrices (precision, recall,
  F1, positive rate, cost): a multinomial bootstrap of the 8 cells (champion says positive,
  challenger says positive, actual positive), paired because both versions see one resample.
* :func:`two_proportions`, :func:`delong_unpaired`, :func:`unpaired_bootstrap` -- the same
  for an A/B split: a difference of independent proportions (Wald interval, pooled z-test),
  DeLong variances summed, independent multinomial bootstraps of each version's 4 cells.
* :func:`holm` -- Holm's step-down adjustment of many p-values (slices).

Examples
--------
>>> r = mcnemar(b=3, c=12, n=100)
>>> r.test, round(r.p_value, 4), r.diff
('exact', 0.0352, 0.09)
>>> import numpy as np
>>> pos = np.array([[0, 1], [0, 3]]); neg = np.array([[3, 0], [1, 0]])  # 2 bins per version
>>> d = delong_paired(pos, neg)
>>> round(d.auc_a, 3), round(d.auc_b, 3)
(0.75, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from mlwarden.errors import StatisticsError, expected

__all__ = [
    "AUCComparison",
    "BootstrapDiff",
    "McNemar",
    "Proportions",
    "delong_paired",
    "delong_raw",
    "delong_unpaired",
    "holm",
    "mcnemar",
    "paired_bootstrap",
    "two_proportions",
    "unpaired_bootstrap",
]

FloatArray = npt.NDArray[np.float64]
#: Below this many discordant pairs McNemar's test is the exact binomial one.
EXACT_BELOW = 25


def _z(level: float) -> float:
    return float(stats.norm.ppf(0.5 + level / 2))


@dataclass(frozen=True)
class McNemar:
    """Champion right / challenger wrong (``b``) against the reverse (``c``) over ``n`` pairs."""

    b: int
    c: int
    n: int
    test: str  # "exact" or "chi2"
    statistic: float
    p_value: float
    #: Challenger accuracy minus champion accuracy, ``(c - b) / n``, and its interval.
    diff: float
    low: float
    high: float


def mcnemar(*, b: int, c: int, n: int, level: float = 0.95) -> McNemar:
    """McNemar's test of equal accuracy on paired predictions (see the module docstring)."""
    if b < 0 or c < 0 or n < b + c:
        raise StatisticsError(expected("count", "n", f"be at least b + c = {b + c}", n))
    k = b + c
    if k == 0:
        return McNemar(b, c, n, "exact", 0.0, 1.0, 0.0, 0.0, 0.0)
    if k < EXACT_BELOW:
        stat = float(min(b, c))
        p = float(min(1.0, 2 * stats.binom.cdf(min(b, c), k, 0.5)))
        test = "exact"
    else:
        stat = (abs(b - c) - 1.0) ** 2 / k
        p = float(stats.chi2.sf(stat, 1))
        test = "chi2"
    diff = (c - b) / n
    # variance of a difference of paired proportions: ((b + c) - (c - b)^2 / n) / n^2
    se = math.sqrt(max(k - (c - b) ** 2 / n, 0.0)) / n
    h = _z(level) * se
    return McNemar(b, c, n, test, stat, p, diff, diff - h, diff + h)


@dataclass(frozen=True)
class AUCComparison:
    """ROC AUC of the champion (``a``) and the challenger (``b``), the difference ``b - a``
    with its normal interval and two-sided p-value."""

    auc_a: float
    auc_b: float
    diff: float
    se: float
    low: float
    high: float
    p_value: float
    positives: int
    negatives: int


def _auc_result(
    auc_a: float, auc_b: float, var: float, m: int, n: int, level: float
) -> AUCComparison:
    diff = auc_b - auc_a
    se = math.sqrt(max(var, 0.0))
    if se == 0:
        p = 1.0 if diff == 0 else 0.0
    else:
        p = float(2 * stats.norm.sf(abs(diff) / se))
    h = _z(level) * se
    return AUCComparison(auc_a, auc_b, diff, se, diff - h, diff + h, p, m, n)


def _components(pos: FloatArray, neg: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per bin: share of negatives a positive of that bin out-scores (ties half), and share of
    positives that out-score a negative of that bin."""
    m, n = pos.sum(), neg.sum()
    below_neg = np.cumsum(neg) - neg
    above_pos = pos.sum() - np.cumsum(pos)
    v10 = (below_neg + 0.5 * neg) / n
    v01 = (above_pos + 0.5 * pos) / m
    return v10, v01


def _grid_cov(w: FloatArray, x: FloatArray, y: FloatArray) -> FloatArray:
    """2x2 sample covariance of (x[i], y[j]) weighted by the counts ``w[i, j]``."""
    total = w.sum()
    mx = float((w.sum(1) * x).sum() / total)
    my = float((w.sum(0) * y).sum() / total)
    dx, dy = x - mx, y - my
    sxx = float((w.sum(1) * dx * dx).sum())
    syy = float((w.sum(0) * dy * dy).sum())
    sxy = float((dx[:, None] * w * dy[None, :]).sum())
    out: FloatArray = np.array([[sxx, sxy], [sxy, syy]]) / max(float(total) - 1, 1.0)
    return out


def delong_paired(pos: npt.ArrayLike, neg: npt.ArrayLike, *, level: float = 0.95) -> AUCComparison:
    """DeLong's paired test from joint bin counts per class (see the module docstring)."""
    p, q = np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)
    if p.shape != q.shape or p.ndim != 2 or p.shape[0] != p.shape[1]:
        raise StatisticsError(
            expected("argument", "pos", "be a square 2-d array shaped like neg", p.shape)
        )
    m, n = int(p.sum()), int(q.sum())
    if m < 2 or n < 2:
        raise StatisticsError(
            expected("count", "labelled pairs", "include two positives and two negatives", (m, n))
        )
    v10a, v01a = _components(p.sum(1), q.sum(1))
    v10b, v01b = _components(p.sum(0), q.sum(0))
    auc_a = float((p.sum(1) * v10a).sum() / m)
    auc_b = float((p.sum(0) * v10b).sum() / m)
    s10 = _grid_cov(p, v10a, v10b)
    s01 = _grid_cov(q, v01a, v01b)
    contrast = np.array([-1.0, 1.0])
    var = float(contrast @ (s10 / m + s01 / n) @ contrast)
    return _auc_result(auc_a, auc_b, var, m, n, level)


def delong_raw(
    y: npt.ArrayLike, score_a: npt.ArrayLike, score_b: npt.ArrayLike, *, level: float = 0.95
) -> AUCComparison:
    """DeLong's paired test over raw scores (``y`` true for positives), by midranks (Sun & Xu
    2014): O(n log n).

    Examples
    --------
    >>> r = delong_raw([0, 0, 1, 1, 1], [0.1, 0.6, 0.4, 0.8, 0.9], [0.1, 0.2, 0.4, 0.8, 0.9])
    >>> round(r.auc_a, 4), round(r.auc_b, 4)
    (0.8333, 1.0)
    """
    yy = np.asarray(y).astype(bool)
    m, n = int(yy.sum()), int((~yy).sum())
    if m < 2 or n < 2:
        raise StatisticsError(
            expected("count", "labelled pairs", "include two positives and two negatives", (m, n))
        )
    v10s, v01s, aucs = [], [], []
    for s in (np.asarray(score_a, dtype=np.float64), np.asarray(score_b, dtype=np.float64)):
        sp, sn = s[yy], s[~yy]
        r_all = stats.rankdata(np.concatenate([sp, sn]))
        r_p, r_n = stats.rankdata(sp), stats.rankdata(sn)
        v10 = (r_all[:m] - r_p) / n  # negatives out-scored by each positive (ties half)
        v01 = 1.0 - (r_all[m:] - r_n) / m
        v10s.append(v10)
        v01s.append(v01)
        aucs.append(float(v10.mean()))
    s10 = np.cov(np.vstack(v10s))
    s01 = np.cov(np.vstack(v01s))
    contrast = np.array([-1.0, 1.0])
    var = float(contrast @ (s10 / m + s01 / n) @ contrast)
    return _auc_result(aucs[0], aucs[1], var, m, n, level)


def delong_unpaired(
    pos_a: npt.ArrayLike,
    neg_a: npt.ArrayLike,
    pos_b: npt.ArrayLike,
    neg_b: npt.ArrayLike,
    *,
    level: float = 0.95,
) -> AUCComparison:
    """ROC AUCs of two independent samples (A/B split) from 1-d bin counts per class: DeLong's
    variance of each AUC, summed (the samples share no request).

    Examples
    --------
    >>> r = delong_unpaired([0, 1, 3], [3, 1, 0], [0, 0, 4], [4, 0, 0])
    >>> round(r.auc_a, 4), r.auc_b
    (0.9688, 1.0)
    """
    aucs, var, ms, ns = [], 0.0, 0, 0
    for pos, neg in ((pos_a, neg_a), (pos_b, neg_b)):
        p, q = np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)
        m, n = p.sum(), q.sum()
        if m < 2 or n < 2:
            raise StatisticsError(
                expected("count", "labelled events", "include two positives and two negatives",
                         (int(m), int(n)))
            )  # fmt: skip
        v10, v01 = _components(p, q)
        auc = float((p * v10).sum() / m)
        var += float((p * (v10 - auc) ** 2).sum() / (m - 1) / m)
        var += float((q * (v01 - auc) ** 2).sum() / (n - 1) / n)
        aucs.append(auc)
        ms, ns = ms + int(m), ns + int(n)
    return _auc_result(aucs[0], aucs[1], var, ms, ns, level)


@dataclass(frozen=True)
class BootstrapDiff:
    """A metric of the champion (``a``) and challenger (``b``), ``b - a`` and its percentile
    interval; ``p_value`` is the two-sided bootstrap p (twice the smaller tail share)."""

    metric: str
    a: float | None
    b: float | None
    diff: float | None
    low: float | None
    high: float | None
    p_value: float | None


#: A metric of one version's confusion counts (tp, fp, fn, tn arrays) -> values (NaN allowed).
CellMetric = Callable[[FloatArray, FloatArray, FloatArray, FloatArray], FloatArray]


def _div(x: FloatArray, y: FloatArray) -> FloatArray:
    out: FloatArray = np.divide(x, y, out=np.full(np.shape(x), np.nan), where=y > 0)
    return out


METRICS: dict[str, CellMetric] = {
    "precision": lambda tp, fp, fn, tn: _div(tp, tp + fp),
    "recall": lambda tp, fp, fn, tn: _div(tp, tp + fn),
    "f1": lambda tp, fp, fn, tn: _div(2 * tp, 2 * tp + fp + fn),
    "positive_rate": lambda tp, fp, fn, tn: _div(tp + fp, tp + fp + fn + tn),
}


def _confusions(cells: FloatArray) -> tuple[tuple[FloatArray, ...], tuple[FloatArray, ...]]:
    """cells[..., 4*pa + 2*pb + y] -> (tp, fp, fn, tn) of version a and of version b."""
    c = cells.reshape(cells.shape[:-1] + (2, 2, 2))  # [pa, pb, y]
    a = c.sum(-2)  # [pa, y]
    b = c.sum(-3)  # [pb, y]
    out = []
    for m in (a, b):
        out.append((m[..., 1, 1], m[..., 1, 0], m[..., 0, 1], m[..., 0, 0]))
    return tuple(out[0]), tuple(out[1])


def paired_bootstrap(
    cells: npt.ArrayLike,
    *,
    metrics: Sequence[str] = tuple(METRICS),
    replicates: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> list[BootstrapDiff]:
    """Paired bootstrap of confusion-matrix metrics from the 8 joint cells, indexed
    ``4 * (champion says positive) + 2 * (challenger says positive) + (actual positive)``.

    Examples
    --------
    >>> [d] = paired_bootstrap([40, 5, 2, 3, 1, 10, 4, 35], metrics=["recall"])
    >>> round(d.a, 3), round(d.b, 3), round(d.diff, 3)
    (0.849, 0.717, -0.132)
    """
    c = np.asarray(cells, dtype=np.float64)
    if c.shape != (8,):
        raise StatisticsError(expected("argument", "cells", "have 8 counts", c.shape))
    for m in metrics:
        if m not in METRICS:
            raise StatisticsError(expected("metric", m, "be one of " + ", ".join(METRICS), m))
    n = int(c.sum())
    point_a, point_b = _confusions(c)
    draws = None
    if n > 0:
        rng = np.random.default_rng(seed)
        draws = rng.multinomial(n, c / n, size=replicates).astype(np.float64)
    alpha = (1 - level) / 2
    out = []
    for name in metrics:
        fn = METRICS[name]
        a, b = float(fn(*point_a)), float(fn(*point_b))
        if draws is None or not (math.isfinite(a) and math.isfinite(b)):
            out.append(BootstrapDiff(name, _fin(a), _fin(b), None, None, None, None))
            continue
        da, db = _confusions(draws)
        d = fn(*db) - fn(*da)
        d = d[np.isfinite(d)]
        if len(d) < replicates // 2:
            out.append(BootstrapDiff(name, a, b, b - a, None, None, None))
            continue
        low, high = (float(x) for x in np.quantile(d, [alpha, 1 - alpha]))
        p = _boot_p(d)
        out.append(BootstrapDiff(name, a, b, b - a, low, high, p))
    return out


def unpaired_bootstrap(
    cells_a: npt.ArrayLike,
    cells_b: npt.ArrayLike,
    *,
    metrics: Sequence[str] = tuple(METRICS),
    replicates: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> list[BootstrapDiff]:
    """Bootstrap of confusion-matrix metrics of two independent samples, each given as 4
    cells indexed ``2 * (says positive) + (actual positive)``.

    Examples
    --------
    >>> [d] = unpaired_bootstrap([45, 5, 6, 44], [40, 10, 5, 45], metrics=["recall"])
    >>> round(d.a, 3), round(d.b, 3)
    (0.898, 0.818)
    """
    ca, cb = np.asarray(cells_a, dtype=np.float64), np.asarray(cells_b, dtype=np.float64)
    if ca.shape != (4,) or cb.shape != (4,):
        raise StatisticsError(expected("argument", "cells", "have 4 counts", (ca.shape, cb.shape)))
    rng = np.random.default_rng(seed)

    def confusion(c: FloatArray) -> tuple[FloatArray, ...]:
        m = c.reshape(c.shape[:-1] + (2, 2))  # [p, y]
        return m[..., 1, 1], m[..., 1, 0], m[..., 0, 1], m[..., 0, 0]

    na, nb = int(ca.sum()), int(cb.sum())
    alpha = (1 - level) / 2
    out = []
    for name in metrics:
        fn = METRICS[name]
        a, b = float(fn(*confusion(ca))), float(fn(*confusion(cb)))
        if na == 0 or nb == 0 or not (math.isfinite(a) and math.isfinite(b)):
            out.append(BootstrapDiff(name, _fin(a), _fin(b), None, None, None, None))
            continue
        da = fn(*confusion(rng.multinomial(na, ca / na, size=replicates).astype(np.float64)))
        db = fn(*confusion(rng.multinomial(nb, cb / nb, size=replicates).astype(np.float64)))
        d = db - da
        d = d[np.isfinite(d)]
        if len(d) < replicates // 2:
            out.append(BootstrapDiff(name, a, b, b - a, None, None, None))
            continue
        low, high = (float(x) for x in np.quantile(d, [alpha, 1 - alpha]))
        p = _boot_p(d)
        out.append(BootstrapDiff(name, a, b, b - a, low, high, p))
    return out


@dataclass(frozen=True)
class Proportions:
    """``p_b - p_a`` of two independent samples with its Wald interval and pooled z-test."""

    a: float
    b: float
    diff: float
    low: float
    high: float
    p_value: float


def two_proportions(
    *, hits_a: int, n_a: int, hits_b: int, n_b: int, level: float = 0.95
) -> Proportions:
    """Difference of two independent proportions.

    Examples
    --------
    >>> r = two_proportions(hits_a=80, n_a=100, hits_b=90, n_b=100)
    >>> round(r.diff, 2), round(r.p_value, 4)
    (0.1, 0.0477)
    """
    if n_a < 1 or n_b < 1:
        raise StatisticsError(expected("count", "n", "be at least 1 per version", (n_a, n_b)))
    pa, pb = hits_a / n_a, hits_b / n_b
    diff = pb - pa
    se = math.sqrt(pa * (1 - pa) / n_a + pb * (1 - pb) / n_b)
    pool = (hits_a + hits_b) / (n_a + n_b)
    se0 = math.sqrt(pool * (1 - pool) * (1 / n_a + 1 / n_b))
    p = 1.0 if se0 == 0 else float(2 * stats.norm.sf(abs(diff) / se0))
    h = _z(level) * se
    return Proportions(pa, pb, diff, diff - h, diff + h, p)


def _boot_p(d: FloatArray) -> float:
    """Two-sided bootstrap p-value: twice the smaller tail, never 0 ((k + 1) / (R + 1))."""
    k = min(int((d <= 0).sum()), int((d >= 0).sum()))
    return float(min(1.0, 2 * (k + 1) / (len(d) + 1)))


def _fin(x: float) -> float | None:
    return x if math.isfinite(x) else None


def holm(p_values: Sequence[float], *, digits: int | None = 12) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error), in the input's order, rounded
    to ``digits`` (None: unrounded, for p-values far below 1e-12 that must stay ordered).

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=np.float64)
    k = len(p)
    order = np.argsort(p, kind="stable")
    adj = np.maximum.accumulate((k - np.arange(k)) * p[order])
    out = np.empty(k)
    out[order] = np.minimum(adj, 1.0)
    return [float(x) if digits is None else round(float(x), digits) for x in out]
