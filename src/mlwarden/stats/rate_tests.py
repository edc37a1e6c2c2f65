"""Has a share risen against a baseline that was itself counted? Fisher's exact test, as a bound.

A monitor that learns its baseline rate from earlier windows (or a reference) knows it only as
well as those counts allow: 3 flagged in 800 is a rate of 0.4% give or take. Treating it as
exact (the binomial tail of :func:`mlwarden.monitors.missing_values.binomial_upper`) gives more
false alarms than the budget when the baseline counts are small. Fisher's exact test compares
the two counts as they are: given ``K`` flagged among the ``n + n0`` rows of window and
baseline together, the window's count is hypergeometric under "same rate". The bound below is
the smallest window count whose one-sided p-value is at most ``alpha``, turned into the rate
a window must *exceed* to fire.

Examples
--------
>>> fisher_upper(3, 800, 400, 0.002)
0.0225
>>> fisher_upper(3000, 800_000, 400, 0.002) < fisher_upper(3, 800, 400, 0.002)
True
"""

from __future__ import annotations

from mlwarden.errors import StatisticsError, expected

__all__ = ["fisher_p", "fisher_upper"]


def fisher_p(k: int, n: int, k0: int, n0: int) -> float:
    """One-sided p-value that the window's ``k`` of ``n`` is a higher share than the
    baseline's ``k0`` of ``n0`` (Fisher's exact test, ``alternative="greater"``)."""
    from scipy import stats as sps  # imported when a rate is judged: ~0.5 s a batch report skips

    return float(sps.hypergeom.sf(k - 1, n + n0, k + k0, n))


def fisher_upper(k0: int, n0: int, n: int, alpha: float) -> float:
    """The share a window of ``n`` rows must exceed for Fisher's exact test against a baseline
    of ``k0`` flagged in ``n0`` to be significant at ``alpha`` (1.0 when no count of ``n``
    could be)."""
    for name, v in (("k0", k0), ("n0", n0), ("n", n)):
        if v < 0:
            raise StatisticsError(expected("argument", name, "be >= 0", v))
    if k0 > n0:
        raise StatisticsError(expected("argument", "k0", f"be at most n0 ({n0})", k0))
    if not 0 < alpha < 1:
        raise StatisticsError(expected("argument", "alpha", "be in (0, 1)", alpha))
    if n == 0 or fisher_p(n, n, k0, n0) > alpha:
        return 1.0
    # the p-value falls as the window's count rises: the smallest significant count by bisection
    lo, hi = int(n * k0 / n0) if n0 else 0, n  # p(lo) is above alpha (at or under the baseline)
    if fisher_p(lo, n, k0, n0) <= alpha:
        lo = 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fisher_p(mid, n, k0, n0) <= alpha:
            hi = mid
        else:
            lo = mid
    return (hi - 1) / n
