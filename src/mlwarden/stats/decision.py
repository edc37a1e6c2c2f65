"""Decision threshold and cost analysis of a binary classifier, from binned scores.

A classifier acts on ``score >= threshold``. Given how many positives and negatives fell in
each of ``k`` equal score bins over [0, 1] (bin ``b`` holds ``b/k <= score < (b+1)/k``; the
store counts them, no row is read here), every threshold ``j/k`` has an exact confusion matrix:
its true positives are the positives of bins ``>= j``. With the user's costs and values of the
four outcomes, each threshold has an expected cost per prediction; the best threshold is the
one of least cost, and the cost of keeping the deployed one is the difference.

The difference is measured with its uncertainty: the bins are resampled (a multinomial
bootstrap of the window's rows, paired: both thresholds see the same resample) and the
difference read at the point estimate's best threshold (re-optimising inside each replicate
would credit the best threshold with the noise it was chosen on). The percentile interval says
whether moving the threshold would pay or the gap is noise.

Examples
--------
>>> import numpy as np
>>> pos = np.array([0, 1, 3, 6]); neg = np.array([6, 3, 1, 0])  # 4 bins: [0, .25), ...
>>> c = decision_curve(pos, neg, costs=Costs(fp=1.0, fn=1.0))
>>> [float(x) for x in c.thresholds], c.tp.astype(int).tolist(), c.fp.astype(int).tolist()
([0.0, 0.25, 0.5, 0.75, 1.0], [10, 10, 9, 6, 0], [10, 4, 1, 0, 0])
>>> float(c.thresholds[c.best])
0.5
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mlwarden.errors import ValidationError, expected

__all__ = ["Costs", "DecisionCurve", "Gain", "decision_curve", "gain_interval"]

FloatArray = np.ndarray


@dataclass(frozen=True)
class Costs:
    """What each outcome of one prediction costs (``fp``, ``fn``) or brings (``tp``, ``tn``),
    in the user's unit (money, minutes, ...). The cost of a threshold is
    ``fp*FP + fn*FN - tp*TP - tn*TN`` over the window, per prediction."""

    fp: float = 1.0
    fn: float = 1.0
    tp: float = 0.0
    tn: float = 0.0

    def check(self) -> Costs:
        for name in ("fp", "fn", "tp", "tn"):
            v = getattr(self, name)
            if not np.isfinite(v) or abs(v) > 1e12:
                raise ValidationError(expected("cost", name, "be a finite number", v))
        if self.fp + self.tn <= 0 and self.fn + self.tp <= 0:
            raise ValidationError(
                "The costs must make some outcome matter: a false positive's cost plus a true "
                "negative's value, or a false negative's cost plus a true positive's value, "
                "must be above 0."
            )
        return self


@dataclass(frozen=True)
class DecisionCurve:
    """Confusion counts and cost at each threshold ``j/k``, j = 0..k (``predict positive when
    score >= threshold``)."""

    thresholds: FloatArray
    tp: FloatArray
    fp: FloatArray
    fn: FloatArray
    tn: FloatArray
    #: Expected cost per prediction at each threshold.
    cost: FloatArray
    #: Index of the threshold of least cost (the highest of equal ones: fewer alarms).
    best: int

    @property
    def n(self) -> int:
        return int(self.tp[0] + self.fp[0] + self.fn[0] + self.tn[0])

    def index(self, threshold: float) -> int:
        """The curve's threshold at or just above ``threshold``."""
        k = len(self.thresholds) - 1
        return int(min(k, max(0, np.ceil(threshold * k - 1e-9))))

    def precision(self) -> FloatArray:
        den = self.tp + self.fp
        out: FloatArray = np.divide(self.tp, den, out=np.full(den.shape, np.nan), where=den > 0)
        return out

    def recall(self) -> FloatArray:
        den = self.tp + self.fn
        out: FloatArray = np.divide(self.tp, den, out=np.full(den.shape, np.nan), where=den > 0)
        return out

    def fpr(self) -> FloatArray:
        den = self.fp + self.tn
        out: FloatArray = np.divide(self.fp, den, out=np.full(den.shape, np.nan), where=den > 0)
        return out


def _total(tp: FloatArray, fp: FloatArray, fn: FloatArray, tn: FloatArray, c: Costs) -> FloatArray:
    """The net cost of a confusion matrix: errors' costs less the correct decisions' values."""
    out: FloatArray = c.fp * fp + c.fn * fn - c.tp * tp - c.tn * tn
    return out


def _cost(tp: FloatArray, fp: FloatArray, fn: FloatArray, tn: FloatArray, c: Costs) -> FloatArray:
    n = tp[..., :1] + fp[..., :1] + fn[..., :1] + tn[..., :1]
    total = _total(tp, fp, fn, tn, c)
    out: FloatArray = np.divide(total, n, out=np.zeros(total.shape), where=n > 0)
    return out


def _curves(pos: FloatArray, neg: FloatArray) -> tuple[FloatArray, ...]:
    """tp, fp, fn, tn at thresholds j/k (last axis j = 0..k) of bin counts (last axis b)."""
    zero = np.zeros(pos.shape[:-1] + (1,))
    # positives at or above bin j: reverse cumulative sums, and 0 above the last bin
    tp = np.concatenate([np.cumsum(pos[..., ::-1], axis=-1)[..., ::-1], zero], axis=-1)
    fp = np.concatenate([np.cumsum(neg[..., ::-1], axis=-1)[..., ::-1], zero], axis=-1)
    fn = pos.sum(axis=-1, keepdims=True) - tp
    tn = neg.sum(axis=-1, keepdims=True) - fp
    return tp, fp, fn, tn


def decision_curve(pos: npt.ArrayLike, neg: npt.ArrayLike, *, costs: Costs) -> DecisionCurve:
    """The curve of ``k`` bins' positive and negative counts (see the module docstring)."""
    p, q = np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)
    if p.shape != q.shape or p.ndim != 1 or p.size < 1:
        raise ValidationError("The positive and negative bin counts must be two equal 1-d arrays.")
    tp, fp, fn, tn = _curves(p, q)
    cost = _cost(tp, fp, fn, tn, costs)
    k = p.size
    # the least cost; among equal ones (within float noise) the highest threshold
    best = int(np.flatnonzero(cost <= cost.min() + 1e-12 * max(1.0, abs(cost.min())))[-1])
    return DecisionCurve(np.arange(k + 1) / k, tp, fp, fn, tn, cost, best)


@dataclass(frozen=True)
class Gain:
    """What moving from the deployed threshold to the best one changes in expected cost per
    prediction (negative: cheaper), with a bootstrap percentile interval."""

    change: float
    low: float
    high: float
    #: The same relative to the deployed threshold's cost (None when that cost is 0).
    relative: float | None
    relative_low: float | None
    relative_high: float | None
    replicates: int

    @property
    def significant(self) -> bool:
        """The whole interval is a saving."""
        return self.high < 0


def gain_interval(
    pos: npt.ArrayLike,
    neg: npt.ArrayLike,
    *,
    costs: Costs,
    deployed: int,
    best: int,
    replicates: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Gain:
    """The cost change of threshold index ``best`` over ``deployed``, with a paired multinomial
    bootstrap of the rows (see the module docstring).

    Only six counts matter to the two thresholds: positives and negatives below both, between
    them and above both. Resampling those six cells is the same bootstrap as resampling every
    bin (a multinomial's sums over a partition are multinomial) at a thousandth of the work.
    """
    p, q = np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)
    lo, hi = sorted((deployed, best))
    cells = np.array(
        [p[:lo].sum(), p[lo:hi].sum(), p[hi:].sum(), q[:lo].sum(), q[lo:hi].sum(), q[hi:].sum()]
    )
    n = int(cells.sum())
    if n == 0:
        return Gain(0.0, 0.0, 0.0, None, None, None, 0)

    def cost_at(c: FloatArray, j: int) -> FloatArray:
        # predicted positive: the bins at or above j, i.e. 'above' (and 'between' when j = lo)
        tp = c[..., 2] + (c[..., 1] if j == lo else 0)
        fp = c[..., 5] + (c[..., 4] if j == lo else 0)
        fn, tn = c[..., :3].sum(-1) - tp, c[..., 3:].sum(-1) - fp
        out: FloatArray = _total(tp, fp, fn, tn, costs) / n
        return out

    base = float(cost_at(cells, deployed))
    change = float(cost_at(cells, best) - base)
    draw = np.random.default_rng(seed).multinomial(n, cells / n, size=replicates).astype(float)
    d = cost_at(draw, best) - cost_at(draw, deployed)
    a = (1 - level) / 2
    low, high = (float(x) for x in np.quantile(d, [a, 1 - a]))
    at_deployed = cost_at(draw, deployed)
    if base == 0 or not (at_deployed != 0).all():
        return Gain(change, low, high, None, None, None, replicates)
    rlow, rhigh = (float(x) for x in np.quantile(d / np.abs(at_deployed), [a, 1 - a]))
    return Gain(change, low, high, change / abs(base), rlow, rhigh, replicates)
