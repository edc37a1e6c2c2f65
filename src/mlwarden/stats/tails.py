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
    "kstwo_isf",
    "kstwo_sf",
    "norm_isf",
    "norm_sf",
    "poisson_cdf",
    "poisson_sf",
]


def kolmogorov_sf(x: float) -> float:
    """``scipy.stats.kstwobign.sf(x)``: the limiting two-sided Kolmogorov distribution."""
    if math.isnan(x):
        return math.nan
    return 1.0 if x <= 0 else float(special.kolmogorov(x))


def kolmogorov_isf(q: float) -> float:
    """``scipy.stats.kstwobign.isf(q)``."""
    return _isf(q, 0.0, math.inf, lambda: float(special.kolmogi(q)))


def kstwo_sf(x: float, n: int) -> float:
    """``scipy.stats.kstwo.sf(x, n)``: the exact two-sided one-sample KS statistic of ``n``
    values. Where scipy computes it as ``2 * smirnov(n, x)`` (the one-sided tail twice: the
    tail of a window that drifted, ``n x^2 >= 2.2``, ``> 4`` up to 140 values) this does the
    same; elsewhere (small statistics, tiny ``n``) it asks ``scipy.stats``."""
    n = int(n)
    if _two_smirnov(x, n):
        return 0.0 if n > 140 and n * x * x >= 370.0 else min(2 * float(special.smirnov(n, x)), 1.0)
    from scipy import stats

    return float(stats.kstwo.sf(x, n))


def kstwo_isf(q: float, n: int) -> float:
    """``scipy.stats.kstwo.isf(q, n)`` where :func:`kstwo_sf` is ``2 * smirnov``: there the
    exact inverse ``smirnovi(n, q / 2)``, so ``kstwo_sf(kstwo_isf(q, n), n) == q``. scipy's
    own ``isf`` solves its CDF, which above 140 values is the Pelz-Good series: its root differs
    from this by under 1e-5 relative at ``q`` 1e-5 and 1,000 values (its own ``sf`` there
    reads ``q + 5e-11``). Elsewhere (``q`` near 1, tiny ``n``) it asks ``scipy.stats``."""
    n = int(n)
    if 0 < q < 1 and n >= 1:
        x = float(special.smirnovi(n, q / 2))
        if _two_smirnov(x, n) and not (n > 140 and n * x * x >= 370.0):
            return x
    from scipy import stats

    return float(stats.kstwo.isf(q, n))


def _two_smirnov(x: float, n: int) -> bool:
    """Whether scipy's ``kstwo.sf(x, n)`` is ``2 * smirnov(n, x)`` (``scipy.stats._ksstats``
    ``_kolmogn``: past the Ruben-Gambino ends; ``x >= 0.5``, or ``n x^2`` above 4 up to 140
    values and at least 2.2 beyond)."""
    if not (n >= 1 and 1.0 < n * x < n - 1):
        return False
    return x >= 0.5 or n * x * x > 4.0 if n <= 140 else x >= 0.5 or n * x * x >= 2.2


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


def poisson_cdf(k: float, mu: float) -> float:
    """``scipy.stats.poisson.cdf(k, mu)``: ``P(X <= k)``."""
    if math.isnan(k) or not mu >= 0:
        return math.nan
    if k < 0:
        return 0.0
    return min(max(float(special.pdtr(math.floor(k), mu)), 0.0), 1.0)


def poisson_sf(k: float, mu: float) -> float:
    """``scipy.stats.poisson.sf(k, mu)``: ``P(X > k)``."""
    if math.isnan(k) or not mu >= 0:
        return math.nan
    if k < 0:
        return 1.0
    return min(max(float(special.pdtrc(math.floor(k), mu)), 0.0), 1.0)


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
