r"""Alert thresholds calibrated to a false-alarm budget stated in plain words.

The maths
---------
**1. Budget to per-window alpha.** A budget of ``B`` false alerts per period
``T`` ("1 per 30 days") for a model with ``m`` monitors evaluated every window
``w`` covers ``N = T / w`` windows (hourly: 720 per 30 days). Bonferroni split:
each monitor gets ``alpha = B / (N * m)`` per window. By the union bound the
expected number of false alerts of the whole model per period is at most
``N * m * alpha = B`` whatever the dependence between monitors (correlated
features only make it conservative). Default: 1 per 30 days, hourly, 25
monitors: ``alpha = 5.6e-5``.

**2. Null distribution at this window size.** Under "no drift" the reference
(``n_ref`` values) and the window (``n_cur``) are two independent samples of
one population, so the statistic's null distribution depends on both sizes.
The threshold is its ``1 - alpha`` quantile, at the actual sizes:

* KS on a continuous reference (no bin above 1% of it): the two-sample
  Kolmogorov distribution at ``en = n_ref n_cur / (n_ref + n_cur)``
  (distribution-free; conservative with ties).
* chi-square when every expected count ``n p_i`` is >= 5 on both sides
  (Cochran): chi2 with ``k - 1`` degrees of freedom, ``k`` non-empty bins.
* everything else: parametric bootstrap. The population is estimated by the
  reference proportions ``p``; each replicate draws a reference
  ``Multinomial(n_ref, p)`` *and* a window ``Multinomial(n_cur, p)`` (the
  reference is itself a sample) and computes the statistic with the very code
  used on real windows. When every expected count is >= 25 the multinomials
  are replaced by their Gaussian limit (same mean and covariance), cheap for
  1M-row windows. Wasserstein is simulated on <= 128 groups of adjacent fine
  bins, plus values beyond the reference range drawn from a generalized
  Pareto tail fitted to the reference; categorical counts are simulated from
  an estimated population (Good-Turing / Chao1 unseen categories, shrunk
  towards uniform) since the plug-in fails for sparse references, with the
  share of each category seen 1-20 times drawn per replicate from its
  empirical-Bayes posterior (a Poisson mixture fitted to the counts of
  counts: :mod:`mlwarden.stats.count_posterior`), so simulated references
  pool rare categories as often as real ones; the new-category share's null
  is widened by the error of the Good-Turing unseen-mass estimate (Esty).
  Seeded: same inputs, same threshold.

**3. Tail fit.** An alpha of 1e-5 lies beyond ``R = 1000`` replicates.
Peaks over threshold: the excesses of the replicates over their 90% quantile
``u`` are fitted by a generalized Pareto law (method of moments), shape
clipped to ``xi >= 0``; then ``q = u + s/xi ((0.1/alpha)**xi - 1)``
(``u + s ln(0.1/alpha)`` at ``xi = 0``). These null laws have chi-square-like
(exponential) or lighter (Gaussian-like: KS, TV, W) tails, whose mean excess
decreases, so the exponential extrapolation from ``u`` errs on the safe side;
``xi > 0`` follows heavier tails. Checked against 2M replicates (fits on
2000): at alpha = 1e-5 the fitted quantile is 2-20% above the true one.

**4. Minimum practical effect.** ``threshold = max(null quantile, min
effect)``: at 1M rows per window the null quantile is tiny and a real but
trivial change would alert every hour. Defaults are what a 0.05-sigma shift
of a normal gives, half of the smallest shift we promise to detect (0.1
sigma): KS 0.02, normalised Wasserstein 0.05, PSI (deciles) 0.002, JS
distance and total variation 0.02; chi-square uses Cohen's ``w = 0.05``
(statistic ``>= w**2 * en``); a category's share moving by one percentage
point (L-infinity 0.01); a new-category share of 1%.

**5. Warn.** Same construction at ``10 * alpha`` (at most 0.5) and half the
minimum effect: an early, more frequent-by-chance signal.

**Measured** (tests/stats/test_thresholds.py, alpha = 0.05, minimum effects
off): within budget for normal, lognormal, Student-t(2) and Poisson columns
and for 2 / 10 / 500 categories, references of 1k-1M rows, windows of
100-1M rows. Known limits: normalised Wasserstein on Student-t(2) with
windows 1000x the reference (about 2x alpha: KS suits such columns).
Hundreds of Zipf-distributed categories many seen about 5 times, 2-5x alpha
with the plug-in, are within budget since the posterior draws (JS 0.059,
chi-square 0.066, PSI 0.051, TV 0.052 at alpha 0.05).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import numpy.typing as npt

from mlwarden.errors import ConfigError, StatisticsError, expected
from mlwarden.stats.baseline import CategoricalBaseline, NumericBaseline
from mlwarden.stats.count_posterior import CountPosterior
from mlwarden.stats.drift import (
    COARSE_BINS,
    MIN_CATEGORY_COUNT,
    STATISTICS,
    _pool_kernel,
    _wasserstein_kernel,
    ks_sf,
)
from mlwarden.stats.tails import chi2_isf, chi2_sf, kolmogorov_isf, kstwo_isf

__all__ = [
    "DEFAULT_BUDGET",
    "MIN_EFFECT",
    "FalseAlarmBudget",
    "Threshold",
    "calibrate",
    "calibrate_all",
    "per_window_alpha",
]

_Floats = npt.NDArray[np.float64]
_MONTH = timedelta(days=30)
_W_GROUPS = 128

MIN_EFFECT: Mapping[str, float] = {
    "ks": 0.02,
    "wasserstein": 0.05,
    "psi": 0.002,
    "jensen_shannon": 0.02,
    "chi_square": 0.0025,  # Cohen's w**2, times en in statistic units
    "total_variation": 0.02,
    "l_infinity": 0.01,
    "new_category_share": 0.01,
}

_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "once": 1,
    "single": 1,
    "two": 2,
    "twice": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}
_UNITS = {
    "minute": timedelta(minutes=1),
    "min": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "hr": timedelta(hours=1),
    "h": timedelta(hours=1),
    "day": timedelta(days=1),
    "d": timedelta(days=1),
    "week": timedelta(weeks=1),
    "wk": timedelta(weeks=1),
    "fortnight": timedelta(days=14),
    "month": _MONTH,
    "quarter": timedelta(days=90),
    "year": timedelta(days=365),
    "yr": timedelta(days=365),
}
_BUDGET = re.compile(
    r"^(?:(?:at most|no more than|up to|max|maximum)\s+)?"
    r"(?P<count>\d+(?:\.\d+)?|[a-z]+)\s*"
    r"(?:false\s+)?(?:(?:alerts?|alarms?)\s*)?"
    r"(?:(?:per|/|each|every|for each)\s*model\s+)?"
    r"(?:per|/|a|an|each|every|in)\s*"
    r"(?:(?P<span>\d+(?:\.\d+)?)\s*|(?P<spanw>[a-z]+)\s+)?"
    r"(?P<unit>[a-z]+?)s?$"
)
_BUDGET_HELP = "read like '1 per 30 days', 'one per month' or '2 per week'"


def _number(word: str | None) -> float | None:
    if word is None:
        return 1.0
    if word[0].isdigit():
        return float(word)
    return None if word not in _NUMBERS else float(_NUMBERS[word])


@dataclass(frozen=True)
class FalseAlarmBudget:
    """How many false alerts per model a user accepts per period.

    Examples
    --------
    >>> FalseAlarmBudget.parse("at most one false alert per model per 30 days")
    FalseAlarmBudget(alerts=1.0, period=datetime.timedelta(days=30))
    >>> str(FalseAlarmBudget.parse("2 per week"))
    '2 per 7 days'
    >>> FalseAlarmBudget.parse("rarely")
    Traceback (most recent call last):
    ...
    mlwarden.errors.ConfigError: The 'false_alarm_budget' setting must read like \
'1 per 30 days', 'one per month' or '2 per week'. Got 'rarely' instead.
    """

    alerts: float
    period: timedelta

    def __post_init__(self) -> None:
        if not (self.alerts > 0 and math.isfinite(self.alerts)):
            raise ConfigError(
                expected(
                    "setting",
                    "false_alarm_budget",
                    "allow a positive number of false alerts",
                    self.alerts,
                )
            )
        if self.period <= timedelta(0):
            raise ConfigError(
                expected(
                    "setting", "false_alarm_budget", "have a positive period", str(self.period)
                )
            )

    @classmethod
    def parse(cls, text: str) -> FalseAlarmBudget:
        """Read a budget from plain words ("one per month", "2 per week", "1/day")."""
        norm = " ".join(str(text).lower().split())
        match = _BUDGET.match(norm)
        count = span = None
        unit = None
        if match:
            count, span = _number(match["count"]), _number(match["span"] or match["spanw"])
            unit = _UNITS.get(match["unit"])
        if count is None or span is None or unit is None or span <= 0:
            raise ConfigError(expected("setting", "false_alarm_budget", _BUDGET_HELP, text))
        return cls(alerts=count, period=unit * span)

    def __str__(self) -> str:
        days = self.period / timedelta(days=1)
        return f"{self.alerts:g} per " + ("day" if days == 1 else f"{days:g} days")


DEFAULT_BUDGET = FalseAlarmBudget(alerts=1.0, period=_MONTH)


def per_window_alpha(
    budget: FalseAlarmBudget | str = DEFAULT_BUDGET,
    *,
    window: timedelta = timedelta(hours=1),
    monitors: int = 1,
) -> float:
    """Per-window false-alarm probability of one monitor: ``alerts / (windows * monitors)``.

    Examples
    --------
    >>> round(per_window_alpha("1 per 30 days", window=timedelta(hours=1), monitors=25), 8)
    5.556e-05
    """
    b = FalseAlarmBudget.parse(budget) if isinstance(budget, str) else budget
    if window <= timedelta(0):
        raise ConfigError(expected("setting", "window", "be a positive duration", str(window)))
    if monitors < 1:
        raise ConfigError(expected("setting", "monitors", "be at least 1", monitors))
    alpha = b.alerts * (window / b.period) / monitors
    if alpha >= 0.5:
        raise ConfigError(
            expected(
                "setting",
                "false_alarm_budget",
                "allow fewer false alerts than half the windows",
                str(b),
            )
        )
    return alpha


@dataclass(frozen=True)
class Threshold:
    """A calibrated alert threshold: alert when the statistic is above ``value``.

    ``false_alarm_probability`` is the null probability of exceeding ``value``
    (at most ``alpha``; smaller when the minimum effect dominates) and
    ``expected_false_alerts_per_month`` is that times the windows in 30 days,
    for this one monitor. ``null_sf`` is the null law's survival function the threshold was
    read from (analytic, or the fitted tail of the replicates), for :meth:`p_value`.

    Examples
    --------
    >>> t = Threshold("ks", 0.03, 0.02, 0.03, 0.02, 1e-4, 1e-4, 0.072, 1000, 1000, "analytic")
    >>> t.status(0.01), t.status(0.025), t.status(0.05), t.p_value(0.05)
    ('ok', 'warn', 'alert', None)
    """

    statistic: str
    value: float
    warn: float
    null_quantile: float
    min_effect: float
    alpha: float
    false_alarm_probability: float
    expected_false_alerts_per_month: float
    n_reference: int
    n_current: int
    method: str
    null_sf: Callable[[float], float] | None = field(default=None, repr=False, compare=False)

    def p_value(self, value: float) -> float | None:
        """Null probability of a statistic at least ``value`` at this window size: the
        analytic law's, or the bootstrap replicates' (their fitted tail beyond the 90%
        quantile, so p-values far below ``1 / replicates`` are extrapolated, not zero)."""
        if self.null_sf is None:
            return None
        return float(min(max(self.null_sf(float(value)), 0.0), 1.0))

    def status(self, value: float) -> str:
        """``'alert'`` above :attr:`value`, ``'warn'`` above :attr:`warn`, else ``'ok'``."""
        if value > self.value:
            return "alert"
        return "warn" if value > self.warn else "ok"


class _Tail:
    """Upper tail of replicates: empirical in the body, generalized Pareto beyond the 90%."""

    def __init__(self, reps: _Floats) -> None:
        self.reps = np.sort(reps)
        self.u = float(np.quantile(self.reps, 0.9))
        ex = self.reps[self.reps > self.u] - self.u
        self.zeta = ex.size / self.reps.size
        self.xi, self.sigma = 0.0, 0.0
        if ex.size >= 5 and ex.var() > 0:
            m, v = float(ex.mean()), float(ex.var(ddof=1))
            self.xi = min(max(0.5 * (1.0 - m * m / v), 0.0), 0.5)
            self.sigma = m * (1.0 - self.xi)

    def isf(self, alpha: float) -> float:
        if alpha >= 0.1 or self.sigma == 0.0:
            return float(np.quantile(self.reps, 1.0 - alpha, method="higher"))
        ratio = self.zeta / alpha
        if self.xi == 0.0:
            return self.u + self.sigma * math.log(ratio)
        return self.u + self.sigma / self.xi * (float(ratio**self.xi) - 1.0)

    def sf(self, x: float) -> float:
        if x <= self.u or self.sigma == 0.0:
            return float(np.mean(self.reps > x))
        z = (x - self.u) / self.sigma
        if self.xi == 0.0:
            return self.zeta * math.exp(-z)
        return self.zeta * float((1.0 + self.xi * z) ** (-1.0 / self.xi))


def _simulate(p: _Floats, n: float, replicates: int, rng: np.random.Generator) -> _Floats:
    """Counts of ``replicates`` samples of size n from proportions p, shape (R, K)."""
    pos = p[p > 0]
    if n * pos.min() >= 25:
        return np.maximum(n * p + math.sqrt(n) * _gaussian(p, replicates, rng), 0.0)
    return rng.multinomial(int(n), p, size=replicates).astype(np.float64)


def _gaussian(p: _Floats, replicates: int, rng: np.random.Generator) -> _Floats:
    """Rows with covariance diag(p) - p p' (the multinomial's, per unit of n)."""
    z = rng.standard_normal((replicates, p.size), dtype=np.float32).astype(np.float64)
    sp = np.sqrt(p)
    return z * sp - np.outer(z @ sp, p)


def _gpd_sums(k: _Floats, shape: float, scale: float, rng: np.random.Generator) -> _Floats:
    """Per row, the sum of k[row] generalized-Pareto excesses (at most 1000 drawn, rescaled)."""
    counts = np.maximum(np.round(k), 0).astype(np.int64)
    draws = np.minimum(counts, 1000)
    u = 1.0 - rng.random(int(draws.sum()))  # in (0, 1]
    ex = scale / shape * (u ** (-shape) - 1.0) if shape > 0 else -scale * np.log(u)
    sums = np.bincount(np.repeat(np.arange(k.size), draws), weights=ex, minlength=k.size)
    scale_up = np.where(draws > 0, counts / np.maximum(draws, 1), 0.0)
    return np.asarray(sums * scale_up, dtype=np.float64)


def _wasserstein_null(
    baseline: NumericBaseline, n_current: float, replicates: int, rng: np.random.Generator
) -> _Floats:
    """Replicates of the normalised Wasserstein distance under the null.

    Both samples are drawn from the reference's grouped bins plus, on each
    side, mass ``1/(n+1)`` beyond the reference extreme (the chance that a new
    value falls outside the range of n values) spread by the baseline's
    generalized Pareto tail, so heavy tails weigh in the null as they do in
    real windows.
    """
    counts, edges, centers = _group_fine(baseline, _W_GROUPS)
    lo_shape, lo_scale, hi_shape, hi_scale = baseline.tails
    p = counts / counts.sum()
    n_ref = counts.sum()
    gaussian = min(n_ref, n_current) * p.min() >= 25
    sides: list[tuple[_Floats, tuple[_Floats, _Floats]]] = []
    for n in (n_ref, n_current):
        tau_lo = 1.0 / (n_ref + 1) if lo_scale > 0 else 0.0
        tau_hi = 1.0 / (n_ref + 1) if hi_scale > 0 else 0.0
        m = max(round(n * (1 - tau_lo - tau_hi)), 1)
        if gaussian and not sides:  # only differences matter: all the noise on one side
            inner = np.broadcast_to(m * p, (replicates, p.size))
        elif gaussian:
            en = n_ref * n_current / (n_ref + n_current)
            inner = m * (p + _gaussian(p, replicates, rng) / math.sqrt(en))
        else:
            inner = _simulate(p, m, replicates, rng)
        k_lo = rng.poisson(n * tau_lo, replicates).astype(np.float64)
        k_hi = rng.poisson(n * tau_hi, replicates).astype(np.float64)
        low = k_lo * edges[0] - _gpd_sums(k_lo, lo_shape, lo_scale, rng)
        high = k_hi * edges[-1] + _gpd_sums(k_hi, hi_shape, hi_scale, rng)
        pad = np.zeros((replicates, 1))
        sides.append((np.hstack([pad, k_lo[:, None], inner, k_hi[:, None], pad]), (low, high)))
    (r, tails_r), (c, tails_c) = sides
    return _wasserstein_kernel(r, c, edges, centers, tails_r, tails_c) / baseline.scale


def _categorical_population(baseline: CategoricalBaseline) -> _Floats:
    """Population proportions for the bootstrap: [categories, other, unseen pseudo-categories].

    Plugging in the reference proportions fails for sparse references (many
    categories seen once or twice): samples drawn from them are more
    concentrated than samples of the population, and miss no category the
    reference missed. So the population is estimated instead: ``f0`` unseen
    categories share the Good-Turing unseen mass ``f1 / n`` (f1, f2: categories
    seen once, twice), f0 at least Chao1's ``f1**2 / (2 f2)`` and raised until
    samples of n miss that mass on average; then all is shrunk
    towards uniform until its sum of squared proportions equals the unbiased
    estimate ``sum c(c-1) / (n(n-1))``. With large counts this is the plug-in.
    """
    c = baseline.reference.array[:-1].astype(np.float64)  # categories and other
    n = c.sum()
    f1 = float(np.sum(c[:-1] == 1))
    f2 = float(np.sum(c[:-1] == 2))
    f0 = f1 * f1 / (2 * f2) if f2 > 0 else f1 * (f1 - 1) / 2
    f0 = 0.0 if baseline.truncated or n < 2 else min(math.ceil(f0), 10 * c.size + 10)
    unseen_mass = min(f1, n - 1) / n if f0 > 0 else 0.0
    if f0 > 0:  # Chao1 is a lower bound: raise f0 until samples of n miss f1/n on average
        seen = (1 - unseen_mass) * c / n
        missed = float(np.sum(seen * (1 - seen) ** n))
        lo, hi = f0, 10.0 * c.size + 10.0
        for _ in range(30):
            mid = math.sqrt(lo * hi)
            lo, hi = (
                (mid, hi)
                if missed + unseen_mass * (1 - unseen_mass / mid) ** n < unseen_mass
                else (lo, mid)
            )
        f0 = float(math.ceil(lo))
    base = np.concatenate([(1 - unseen_mass) * c / n, np.full(int(f0), unseen_mass / max(f0, 1))])
    k = float(np.sum(base > 0))
    target = float(np.sum(c * (c - 1)) / (n * (n - 1))) if n > 1 else 1.0
    have = float(np.sum(base**2))
    if have > 1 / k and target < have:
        keep = math.sqrt(max(target - 1 / k, 0.0) / (have - 1 / k))
        base = np.where(base > 0, (1 - keep) / k + keep * base, 0.0)
    return base / base.sum()  # type: ignore[no-any-return]


def _unseen_noise(
    baseline: CategoricalBaseline, replicates: int, rng: np.random.Generator
) -> _Floats:
    """Error of the Good-Turing unseen mass, added to the new-category share's null.

    The share of a large window in new categories is the reference's true
    unseen mass, which the simulation can only centre on its estimate f1/n;
    Esty's (1983) variance ``(f1 (1 - f1/n) + 2 f2) / n**2`` of that estimate
    widens the null accordingly (zero when no category was seen once).
    """
    c = baseline.reference.array[:-2]
    n = max(float(baseline.reference.array[:-1].sum()), 1.0)
    f1, f2 = float(np.sum(c == 1)), float(np.sum(c == 2))
    var = (f1 * (1 - f1 / n) + 2 * f2) / n**2 if not baseline.truncated else 0.0
    return rng.normal(0.0, math.sqrt(max(var, 0.0)), replicates)


def _merge_unseen(sim: _Floats, seen: _Floats, truncated: bool) -> _Floats:
    """Lay simulated counts out like a window: what falls in columns the simulated
    reference never saw is merged into one ``__unseen__`` column (into ``__other__``,
    the last column, for a truncated baseline)."""
    kept = np.where(seen > 0, sim, 0.0)
    lost = (sim - kept).sum(axis=1)
    if truncated:
        kept[:, -1] += lost
        return kept
    return np.hstack([kept, lost[:, None]])


def _group_fine(baseline: NumericBaseline, groups: int) -> tuple[_Floats, _Floats, _Floats]:
    """Reference counts, edges and centers of <= ``groups`` merged finite interior bins.

    Groups carry equal shares of mass plus Wasserstein weight ``width *
    sqrt(F (1 - F))`` (the null standard deviation of the CDF gap times the
    length it acts over), so wide tail bins of skewed data stay apart.
    """
    counts = baseline.reference.array[2:-2].astype(np.float64)
    edges = np.asarray(baseline.edges, dtype=np.float64)
    centers = np.asarray(baseline.centers, dtype=np.float64)
    if counts.size > groups:
        total = counts.sum()
        cdf = (np.cumsum(counts) - counts / 2) / total
        spread = np.diff(edges) * np.sqrt(cdf * (1 - cdf))
        weight = counts / total + (spread / spread.sum() if spread.sum() > 0 else 0.0)
        cut = np.floor(np.cumsum(weight) / weight.sum() * groups - 1e-9).astype(np.intp)
        starts = np.flatnonzero(np.diff(np.clip(cut, 0, groups - 1), prepend=-1))
        starts[0] = 0
        w = np.add.reduceat(counts * centers, starts)
        counts = np.add.reduceat(counts, starts)
        edges = np.append(edges[starts], edges[-1])
        mids = edges[:-1] / 2 + edges[1:] / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            centers = np.where(counts > 0, w / counts, mids)
    return counts, edges, centers


def _views(baseline: NumericBaseline | CategoricalBaseline, statistic: str) -> tuple[str, _Floats]:
    """Which reference counts a statistic is computed on (view name, counts)."""
    if isinstance(baseline, CategoricalBaseline):
        if STATISTICS[statistic][1]:
            raise StatisticsError(
                expected(
                    "statistic",
                    statistic,
                    "be one for unordered categories (not ks or wasserstein)",
                    statistic,
                )
            )
        return "categories", baseline.reference.array.astype(np.float64)
    if statistic == "ks":
        return "fine", baseline.reference.array.astype(np.float64)
    if statistic == "wasserstein":
        return "grouped", _group_fine(baseline, _W_GROUPS)[0]
    return "coarse", baseline.coarsen(baseline.reference.counts, COARSE_BINS).astype(np.float64)


def calibrate(
    baseline: NumericBaseline | CategoricalBaseline,
    statistic: str,
    n_current: int,
    *,
    budget: FalseAlarmBudget | str = DEFAULT_BUDGET,
    window: timedelta = timedelta(hours=1),
    monitors: int = 1,
    min_effect: float | None = None,
    replicates: int = 1000,
    seed: int = 0,
) -> Threshold:
    """Threshold of one statistic for windows of ``n_current`` non-missing values.

    Examples
    --------
    >>> import numpy as np
    >>> b = NumericBaseline.from_values(np.random.default_rng(0).normal(size=100_000))
    >>> t = calibrate(b, "ks", 10_000, budget="1 per 30 days", monitors=25)
    >>> t.method, round(t.value, 4), round(t.alpha, 7), round(t.expected_false_alerts_per_month, 3)
    ('analytic', 0.024, 5.56e-05, 0.04)
    """
    effects = None if min_effect is None else {statistic: min_effect}
    return calibrate_all(
        baseline,
        n_current,
        statistics=(statistic,),
        budget=budget,
        window=window,
        monitors=monitors,
        min_effects=effects,
        replicates=replicates,
        seed=seed,
    )[statistic]


def calibrate_all(
    baseline: NumericBaseline | CategoricalBaseline,
    n_current: int,
    *,
    statistics: Iterable[str] | None = None,
    budget: FalseAlarmBudget | str = DEFAULT_BUDGET,
    window: timedelta = timedelta(hours=1),
    monitors: int = 1,
    min_effects: Mapping[str, float] | None = None,
    replicates: int = 1000,
    seed: int = 0,
) -> dict[str, Threshold]:
    """Thresholds of several statistics at once; simulations are shared between them.

    ``statistics`` defaults to every statistic that applies to the baseline.

    Examples
    --------
    >>> b = CategoricalBaseline.from_values(["a"] * 500 + ["b"] * 500)
    >>> th = calibrate_all(b, 1000, monitors=25)
    >>> sorted(th)[:3], th["chi_square"].method, th["psi"].method
    (['chi_square', 'jensen_shannon', 'l_infinity'], 'analytic', 'bootstrap')
    """
    categorical = isinstance(baseline, CategoricalBaseline)
    names = (
        list(statistics)
        if statistics is not None
        else [
            s
            for s, (_, ordered, _) in STATISTICS.items()
            if not (categorical and ordered) and not (not categorical and s == "new_category_share")
        ]
    )
    for s in names:
        if s not in STATISTICS:
            raise ConfigError(
                expected("setting", "statistic", "be one of " + ", ".join(STATISTICS), s)
            )
    if n_current < 1:
        raise StatisticsError(
            expected("window size", "n_current", "be at least 1 (no data)", n_current)
        )
    n_ref = baseline.n
    if n_ref < 1:
        raise StatisticsError(expected("baseline", "reference", "hold at least one value", 0))
    alpha = per_window_alpha(budget, window=window, monitors=monitors)
    warn_alpha = min(10 * alpha, 0.5)
    en = n_ref * n_current / (n_ref + n_current)
    per_month = _MONTH / window
    rng_seed = np.random.SeedSequence(seed)
    cache: dict[str, tuple[_Floats, _Floats]] = {}
    out: dict[str, Threshold] = {}
    for name in names:
        view, counts = _views(baseline, name)
        ref_n = counts.sum()
        p = counts / ref_n
        cur_n = n_current * (ref_n / n_ref) if view == "grouped" else n_current
        effect = (min_effects or {}).get(name, MIN_EFFECT[name])
        effect_units = effect * en if name == "chi_square" else effect
        method = "bootstrap"
        nz = counts > 0
        if name == "ks" and p.max() <= 0.01:
            method = "analytic"
            q = _ks_isf(alpha, en)
            qw = _ks_isf(warn_alpha, en)
            value = max(q, effect_units)
            fap = ks_sf(value, en)
            sf: Callable[[float], float] = _KsSf(en)
        elif name == "chi_square" and min(counts[nz].min(), n_current * p[nz].min()) >= 5:
            method = "analytic"
            df = max(int(nz.sum()) - 1, 1)
            q = chi2_isf(alpha, df)
            qw = chi2_isf(warn_alpha, df)
            value = max(q, effect_units)
            fap = chi2_sf(value, df)
            sf = _Chi2Sf(df)
        else:
            rng = np.random.default_rng(rng_seed.spawn(1)[0])
            if name == "wasserstein":
                reps = _wasserstein_null(baseline, cur_n, replicates, rng)  # type: ignore[arg-type]
            else:
                if view not in cache:
                    cache[view] = _simulate_view(baseline, p, ref_n, n_current, replicates, rng)
                kernel = STATISTICS[name][0]
                assert kernel is not None
                sims = cache[view]
                if view == "categories" and name != "new_category_share":
                    sims = _pool_kernel(*sims, MIN_CATEGORY_COUNT)
                reps = kernel(*sims)
                if name == "new_category_share" and isinstance(baseline, CategoricalBaseline):
                    reps = reps + _unseen_noise(baseline, replicates, rng)
            tail = _Tail(reps)
            q, qw = tail.isf(alpha), tail.isf(warn_alpha)
            value = max(q, effect_units)
            fap = tail.sf(value)
            sf = tail.sf
        out[name] = Threshold(
            statistic=name,
            value=float(value),
            warn=float(max(qw, effect_units / 2)),
            null_quantile=float(q),
            min_effect=float(effect_units),
            alpha=alpha,
            false_alarm_probability=float(min(fap, alpha)),
            expected_false_alerts_per_month=float(min(fap, alpha) * per_month),
            n_reference=int(n_ref),
            n_current=int(n_current),
            method=method,
            null_sf=sf,
        )
    return out


@dataclass(frozen=True)
class _KsSf:
    en: float

    def __call__(self, x: float) -> float:
        return ks_sf(x, self.en)


@dataclass(frozen=True)
class _Chi2Sf:
    df: int

    def __call__(self, x: float) -> float:
        return chi2_sf(x, self.df)


def _simulate_view(
    baseline: NumericBaseline | CategoricalBaseline,
    p: _Floats,
    n_ref: float,
    n_current: int,
    replicates: int,
    rng: np.random.Generator,
) -> tuple[_Floats, _Floats]:
    """Simulated (reference, window) count pairs for the bin-wise statistics."""
    if isinstance(baseline, CategoricalBaseline):
        pop = _categorical_population(baseline)
        rows = _posterior_rows(baseline, pop, replicates, rng)
        if rows is None:
            sim_r = _simulate(pop, n_ref, replicates, rng)
            sim_c = _simulate(pop, n_current, replicates, rng)
        else:
            sim_r = _simulate_rows(rows, n_ref, rng)
            sim_c = _simulate_rows(rows, n_current, rng)
        return (
            _merge_unseen(sim_r, sim_r, baseline.truncated),
            _merge_unseen(sim_c, sim_r, baseline.truncated),
        )
    return _simulate(p, n_ref, replicates, rng), _simulate(p, n_current, replicates, rng)


def _posterior_rows(
    baseline: CategoricalBaseline, pop: _Floats, replicates: int, rng: np.random.Generator
) -> _Floats | None:
    """Per replicate, the population with each sparsely seen category's share drawn from
    its empirical-Bayes posterior (:mod:`mlwarden.stats.count_posterior`), or None when no
    category was seen 1..4 x ``MIN_CATEGORY_COUNT`` times (the plug-in is then fine).

    Simulating references from the observed counts draws Poisson(r) for a category seen r
    times, more dispersed than real references' Poisson(lambda): near the pooling cut that
    pools too many categories and lowers the null of every pooled statistic (measured 2-5x
    alpha on hundreds of Zipf categories). Drawing lambda first keeps the real dispersion.
    """
    if baseline.truncated:
        return None
    counts = np.asarray(baseline.reference.counts[:-2], dtype=np.float64)
    limit = 4 * MIN_CATEGORY_COUNT
    sparse = np.flatnonzero((counts >= 1) & (counts <= limit))
    if sparse.size == 0:
        return None
    lam = CountPosterior.fit(counts, max_count=limit).draw(counts[sparse], replicates, rng)
    rows = np.broadcast_to(pop, (replicates, pop.size)).copy()
    rows[:, sparse] *= lam / counts[sparse]
    return rows / rows.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]


def _simulate_rows(rows: _Floats, n: float, rng: np.random.Generator) -> _Floats:
    """Counts of one sample of size n per row of proportions, shape (R, K)."""
    if n * rows[rows > 0].min() >= 25:
        z = rng.standard_normal(rows.shape)
        sp = np.sqrt(rows)
        noise = z * sp - (z * sp).sum(axis=1, keepdims=True) * rows
        return np.maximum(n * rows + math.sqrt(n) * noise, 0.0)  # type: ignore[no-any-return]
    return rng.multinomial(int(n), rows).astype(np.float64)


def _ks_isf(alpha: float, en: float) -> float:
    """Inverse of :func:`mlwarden.stats.drift.ks_sf`."""
    if en <= 10_000:
        return _kstwo_isf(alpha, max(round(en), 1))
    s = math.sqrt(en)
    return kolmogorov_isf(alpha) / (s + 0.12 + 0.11 / s)


@functools.lru_cache(maxsize=4096)
def _kstwo_isf(alpha: float, n: int) -> float:
    """The exact inverse of ``kstwo.sf`` (:func:`mlwarden.stats.tails.kstwo_isf`), once per
    (alpha, n): every drift monitor of a window asks it with the same window size and budget
    (30 features x segments)."""
    return kstwo_isf(alpha, n)
