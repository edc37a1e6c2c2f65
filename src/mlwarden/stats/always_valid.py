"""An A/B comparison of two proportions that may be checked after every window.

A fixed-sample test looked at every day finds a "significant" difference by chance far more
often than its level says. The mixture sequential probability ratio test (mSPRT; Robbins 1970,
Johari, Pekelis & Walsh 2017, "Always valid inference") stays valid under continuous
monitoring: with the difference ``theta = p_b - p_a`` estimated by ``d`` with variance ``V``
after each window, and a normal mixture ``N(0, tau^2)`` over the alternative, the likelihood
ratio is

    L = sqrt(V / (V + tau^2)) * exp(tau^2 d^2 / (2 V (V + tau^2)))

and the always-valid p-value is the running minimum of ``min(1, 1 / L)``. The matching
confidence sequence ``d +- sqrt(V (V + tau^2) / tau^2 * (log((V + tau^2) / V) - 2 log alpha))``
covers ``theta`` at every window at once with probability ``1 - alpha``; its running
intersection is reported. ``tau`` is the scale of differences one hopes to find (default 0.05:
five points of accuracy).

Examples
--------
>>> steps = sequential_difference(n_a=[500, 500], hits_a=[400, 400],
...                               n_b=[500, 500], hits_b=[440, 445])
>>> [round(s.p_value, 3) for s in steps]
[0.017, 0.0]
>>> steps[-1].low > 0
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from mlwarden.errors import StatisticsError, expected

__all__ = ["SequentialStep", "sequential_difference"]


@dataclass(frozen=True)
class SequentialStep:
    """The comparison after one more window, on all windows so far."""

    n_a: int
    n_b: int
    #: ``p_b - p_a`` over the windows so far.
    diff: float | None
    #: Always-valid two-sided p-value (running minimum).
    p_value: float
    #: Always-valid confidence sequence (running intersection); None before both have data.
    low: float | None
    high: float | None


def sequential_difference(
    *,
    n_a: Sequence[int],
    hits_a: Sequence[int],
    n_b: Sequence[int],
    hits_b: Sequence[int],
    tau: float = 0.05,
    alpha: float = 0.05,
) -> list[SequentialStep]:
    """mSPRT of ``p_b - p_a`` from per-window counts (see the module docstring)."""
    if not (len(n_a) == len(hits_a) == len(n_b) == len(hits_b)):
        raise StatisticsError("The four per-window count lists must have the same length.")
    if not tau > 0:
        raise StatisticsError(expected("parameter", "tau", "be > 0", tau))
    if not 0 < alpha < 1:
        raise StatisticsError(expected("parameter", "alpha", "be in (0, 1)", alpha))
    out: list[SequentialStep] = []
    ca = cb = ha = hb = 0
    p_run, low_run, high_run = 1.0, -math.inf, math.inf
    t2 = tau * tau
    for i in range(len(n_a)):
        ca, cb = ca + int(n_a[i]), cb + int(n_b[i])
        ha, hb = ha + int(hits_a[i]), hb + int(hits_b[i])
        if ca == 0 or cb == 0:
            out.append(SequentialStep(ca, cb, None, p_run, None, None))
            continue
        pa, pb = ha / ca, hb / cb
        d = pb - pa
        # variance of d; a floor keeps an all-right or all-wrong start from a zero variance
        v = max(pa * (1 - pa) / ca + pb * (1 - pb) / cb, 0.25 / (ca + cb) ** 2)
        log_l = 0.5 * math.log(v / (v + t2)) + t2 * d * d / (2 * v * (v + t2))
        p_run = min(p_run, 1.0, math.exp(-log_l) if log_l < 700 else 0.0)
        half = math.sqrt(v * (v + t2) / t2 * (math.log((v + t2) / v) - 2 * math.log(alpha)))
        low_run, high_run = max(low_run, d - half), min(high_run, d + half)
        if low_run > high_run:  # an empty intersection: fall back to the current interval
            low_run, high_run = d - half, d + half
        out.append(SequentialStep(ca, cb, d, p_run, low_run, high_run))
    return out
