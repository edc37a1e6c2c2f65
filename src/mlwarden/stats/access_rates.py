"""Is a count of this window above the same count's rate in earlier windows? A conditional test.

A caller's requests (or failed authentications) per window are taken as Poisson with a rate
that is known only through the ``k0`` counted in ``w`` earlier windows of the same length.
Under "the rate did not change", given the ``k + k0`` events of window and baseline
together, the window's share is ``Binomial(k + k0, 1 / (w + 1))``: the exact conditional
test of two Poisson rates, which needs no estimate of the rate itself (and so holds its
level when the baseline is small or empty).

Examples
--------
>>> rate_increase_p(3, 24, 12) > 0.05   # 3 now vs 2 per window before
True
>>> rate_increase_p(60, 24, 12) < 1e-12  # 60 now
True
>>> rate_increase_p(0, 0, 12)
1.0
"""

from __future__ import annotations

from mlwarden.errors import StatisticsError, expected

__all__ = ["rate_increase_p"]


def rate_increase_p(k: int, k0: int, windows: int) -> float:
    """One-sided p-value that ``k`` events in this window are more than the rate of ``k0``
    events in ``windows`` earlier windows of the same length allows."""
    for name, v in (("k", k), ("k0", k0)):
        if v < 0:
            raise StatisticsError(expected("argument", name, "be >= 0", v))
    if windows < 1:
        raise StatisticsError(expected("argument", "windows", "be >= 1", windows))
    if k == 0:
        return 1.0
    from scipy import stats as sps

    return float(sps.binom.sf(k - 1, k + k0, 1.0 / (windows + 1)))
