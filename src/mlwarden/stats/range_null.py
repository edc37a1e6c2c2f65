"""How many values of a window fall outside a reference's sample range by chance.

Of ``n`` reference values and ``m`` window values drawn from one continuous population, the
population mass outside the reference's ``[min, max]`` is ``U + V`` with ``(U, 1 - U - V, V)
~ Dirichlet(1, n - 1, 1)`` (the order statistics of a uniform sample), so ``U + V ~ Beta(2,
n - 1)``: ``2 / (n + 1)`` on average, but varying from reference to reference. The count of
window values outside is then beta-binomial, ``BetaBinomial(m, 2, n - 1)``, whatever the
population (distribution-free), and conservative for discrete data (a tie with the minimum or
maximum is inside). Treating ``2 / (n + 1)`` as a fixed rate (a binomial) ignores that the
reference's own extremes are random and gives several times the false alarms asked for when
the window is as large as the reference or larger.

Examples
--------
>>> outside_upper(1000, 1000, 1e-4)  # a window of 1000 alerts from 17 values outside
16
>>> round(outside_sf(17, 1000, 1000), 6), round(outside_sf(17, 100_000, 1000), 6)
(6.8e-05, 0.0)
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy import special

from mlwarden.errors import StatisticsError, expected

__all__ = ["OutsideCount", "outside_sf", "outside_upper"]


def _tail(n_ref: int, m: int) -> npt.NDArray[np.float64]:
    """``sf[k] = P(K >= k)`` for k = 0..top+1, K ~ BetaBinomial(m, 2, n_ref - 1), where past
    ``top`` every ``sf`` is below 1e-30 (read as 0)."""
    for name, v in (("n_ref", n_ref), ("m", m)):
        if v < 1:
            raise StatisticsError(expected("count", name, "be at least 1", v))
    a, b = 2.0, max(float(n_ref) - 1.0, 1e-9)  # one reference value: Beta(2, ~0)
    # the pmf beyond 60 standard deviations past the mean is below 1e-30 (the tail of
    # Beta(2, n - 1) falls like exp(-n x)): leave it out, so a window of 1M values costs
    # microseconds, not 0.1 s per column
    mean = m * a / (a + b)
    sd = math.sqrt(m * a * b * (a + b + m) / ((a + b) ** 2 * (a + b + 1.0)))
    top = int(min(m, math.ceil(mean + 60.0 * sd + 60.0)))
    k = np.arange(top + 1, dtype=np.float64)
    log_pmf = (
        special.gammaln(m + 1.0)
        - special.gammaln(k + 1.0)
        - special.gammaln(m - k + 1.0)
        + special.betaln(k + a, m - k + b)
        - special.betaln(a, b)
    )
    pmf = np.exp(log_pmf)
    sf = np.cumsum(pmf[::-1])[::-1]  # summed from the far tail: no cancellation
    return np.append(np.minimum(sf, 1.0), 0.0)


#: A window this many times the reference (and over :data:`EXACT_UP_TO` values) reads the
#: count's law as ``m`` times ``Beta(2, n_ref - 1)``: the binomial part of its variance is then
#: ``n_ref / m`` (<= 1%) of the whole, and the exact tail would take millions of terms (a
#: window of 1e8 against 2,000 reference values: 1.5 s per column, for a 1e-3 difference).
SCALED_BETA_FROM = 100
EXACT_UP_TO = 100_000


class OutsideCount:
    """The null law of the count of ``m`` window values outside the range of ``n_ref``
    reference values (its tail computed once, for several questions).

    Examples
    --------
    >>> law = OutsideCount(1000, 1000)
    >>> law.upper(1e-4), law.upper(1e-3), round(law.sf(17), 6)
    (16, 12, 6.8e-05)
    """

    def __init__(self, n_ref: int, m: int) -> None:
        self.n_ref = n_ref
        self.m = m
        self._scaled = m > EXACT_UP_TO and m >= SCALED_BETA_FROM * n_ref
        self._sf = np.zeros(0) if self._scaled else _tail(n_ref, m)

    def sf(self, k: int) -> float:
        """P(at least ``k`` outside)."""
        if k <= 0:
            return 1.0
        if self._scaled:  # Beta's upper tail is the regularised incomplete beta's complement
            return float(special.betaincc(2.0, self.n_ref - 1.0, min(1.0, (k - 0.5) / self.m)))
        return float(self._sf[k]) if k < len(self._sf) else 0.0

    def upper(self, alpha: float) -> int:
        """The count a window must *exceed* to be significant at ``alpha``: the smallest
        ``c`` with ``P(K > c) <= alpha`` (``m`` when none is)."""
        if not 0 < alpha < 1:
            raise StatisticsError(expected("probability", "alpha", "lie in (0, 1)", alpha))
        if self._scaled:  # P(K >= c + 1) <= alpha
            q = float(special.betainccinv(2.0, self.n_ref - 1.0, alpha))
            return min(self.m, max(0, math.ceil(self.m * q - 0.5)))
        above = np.flatnonzero(self._sf[1:] <= alpha)  # P(K > c) = sf[c + 1], non-increasing
        return int(above[0]) if above.size else self.m


def outside_sf(k: int, n_ref: int, m: int) -> float:
    """P(at least ``k`` of ``m`` window values outside the range of ``n_ref`` reference values).

    Examples
    --------
    >>> outside_sf(0, 10, 5), round(outside_sf(1, 1, 1), 6)
    (1.0, 1.0)
    """
    return OutsideCount(n_ref, m).sf(k)


def outside_upper(n_ref: int, m: int, alpha: float) -> int:
    """The count of outside values a window of ``m`` must *exceed* to be significant at
    ``alpha``: the smallest ``c`` with ``P(K > c) <= alpha`` (``m`` when none is)."""
    return OutsideCount(n_ref, m).upper(alpha)
