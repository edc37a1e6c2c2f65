"""Tail probabilities and quantiles of the distributions monitors use, without ``scipy.stats``.

``scipy.stats`` builds every one of its ~130 distributions on import (0.4-0.8 s here, a
third of a batch report). Its ``kstwobign``, ``chi2``, ``norm`` and ``binom`` evaluate
these very ``scipy.special`` functions once the arguments are checked, so the values are
the same to the last bit (``tests/stats/test_tails.py`` compares them on grids with the
edge cases). Scalars only; arguments outside a distribution's domain give NaN, as there.

Examples
--------
>>> round(kolmogorov_sf(1.36), 4), round(chi2_isf(0.05, 1), 4), round(norm_isf(0.025), 4)
(0.0495, 3.8415, 1.96)
>>> binom_isf(1e-4, 1000, 0.01)
24.0
"""

from __future__ import annotations

import math
from collections.abc import Callable

from scipy import special

__all__ = [
    "binom_isf",
    "binom_sf",
    "chi2_isf",
    "chi2_sf",
    "kolmogorov_isf",
    "kolmogorov_sf",
    "norm_isf",
    "norm_sf",
]


def kolmogorov_sf(x: float) -> float:
    """``scipy.stats.kstwobign.sf(x)``: the limiting two-sided Kolmogorov distribution."""
    if math.isnan(x):
        return math.nan
    return 1.0 if x <= 0 else float(special.kolmogorov(x))


def kolmogorov_isf(q: float) -> float:
    """``scipy.stats.kstwobign.isf(q)``."""
    return _isf(q, 0.0, math.inf, lambda: float(special.kolmogi(q)))


def chi2_sf(x: float, df: float) -> float:
    """``scipy.stats.chi2.sf(x, df)``."""
    if math.isnan(x) or not df > 0:
        return math.nan
    return 1.0 if x <= 0 else float(special.chdtrc(df, x))


def chi2_isf(q: float, df: float) -> float:
    """``scipy.stats.chi2.isf(q, df)``."""
    if not df > 0:
        return math.nan
    return _isf(q, 0.0, math.inf, lambda: float(special.chdtri(df, q)))


def norm_sf(x: float) -> float:
    """``scipy.stats.norm.sf(x)``."""
    return float(special.ndtr(-x))


def norm_isf(q: float) -> float:
    """``scipy.stats.norm.isf(q)``."""
    return _isf(q, -math.inf, math.inf, lambda: -float(special.ndtri(q)))


def binom_isf(q: float, n: int, p: float) -> float:
    """``scipy.stats.binom.isf(q, n, p)``: the smallest ``k`` with ``P(X > k) <= q``."""
    if not (n >= 0 and float(n).is_integer() and 0 <= p <= 1):
        return math.nan
    return _isf(q, -1.0, float(n), lambda: float(_binom()[0](q, n, p)))


def binom_sf(k: float, n: int, p: float) -> float:
    """``scipy.stats.binom.sf(k, n, p)``: ``P(X > k)``."""
    if not (n >= 0 and float(n).is_integer() and 0 <= p <= 1) or math.isnan(k):
        return math.nan
    if k < 0:
        return 1.0
    if k >= n:
        return 0.0
    return min(max(float(_binom()[1](math.floor(k), n, p)), 0.0), 1.0)


def _isf(q: float, low: float, high: float, inner: Callable[[], float]) -> float:
    """rv_generic.isf's argument handling: the support's ends at q = 1 and q = 0."""
    if q == 1:
        return low
    if q == 0:
        return high
    if not 0 < q < 1:
        return math.nan
    return inner()


def _binom() -> tuple[Callable[..., float], Callable[..., float]]:
    """The ufuncs ``scipy.stats.binom`` calls (Boost's binomial); from scipy.stats itself on a
    scipy release that names them otherwise."""
    from scipy.special import _ufuncs

    isf = getattr(_ufuncs, "_binom_isf", None)
    sf = getattr(_ufuncs, "_binom_sf", None)
    if isf is None or sf is None:  # pragma: no cover - other scipy releases
        from scipy import stats

        return stats.binom.isf, stats.binom.sf
    return isf, sf
