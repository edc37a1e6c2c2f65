"""Shared machinery of monitors whose threshold is calibrated at the window's size."""

from __future__ import annotations

import math
from typing import Any

from mlwarden.monitors.base import ThresholdPlan
from mlwarden.monitors.context import Calibration
from mlwarden.stats.baseline import CategoricalBaseline, NumericBaseline
from mlwarden.stats.thresholds import Threshold, calibrate

__all__ = ["ThresholdCache", "size_bucket"]


def size_bucket(n: int) -> int:
    """``n`` rounded *down* onto a grid of 2^(k/4) (steps of ~19%): thresholds computed for it
    are at least as strict as for ``n`` (null quantiles shrink as windows grow), and windows of
    similar size share one calibration.

    Examples
    --------
    >>> size_bucket(12345), size_bucket(1000), size_bucket(7)
    (11585, 861, 7)
    """
    if n < 16:
        return n
    k = math.floor(4 * math.log2(n) + 1e-9)
    return int(2 ** (k / 4))


class ThresholdCache:
    """Calibrated thresholds of one statistic of one baseline, by window size."""

    def __init__(
        self,
        baseline: NumericBaseline | CategoricalBaseline,
        statistic: str,
        calibration: Calibration,
        *,
        min_effect: float | None = None,
    ) -> None:
        self.baseline = baseline
        self.statistic = statistic
        self.calibration = calibration
        self.min_effect = min_effect
        self._cache: dict[int, Threshold] = {}

    def get(self, n: int) -> Threshold:
        key = size_bucket(n)
        t = self._cache.get(key)
        if t is None:
            t = self._cache[key] = self._calibrate(key)
        return t

    def _calibrate(self, n: int) -> Threshold:
        return calibrate(
            self.baseline,
            self.statistic,
            n,
            budget=self.calibration.parsed_budget,
            window=self.calibration.cadence,
            monitors=self.calibration.monitors,
            min_effect=self.min_effect,
        )

    def p_value(self, n: int, value: float) -> float | None:
        """Null probability of the statistic reaching ``value`` in a window of ``n`` values:
        exact at ``n`` for an analytic law; for a simulated one, that of its size bucket (a
        little conservative, like the threshold)."""
        t = self.get(n)
        if t.method == "analytic" and t.n_current != n:
            t = self._calibrate(n)
        return t.p_value(value)

    def plan(self, n: int, *, how: str) -> ThresholdPlan:
        """The set-up plan's view of the threshold at windows of ``n`` values."""
        t = self.get(n)
        return ThresholdPlan(
            how=how,
            threshold=t.value,
            warn=t.warn,
            false_alerts_per_month=t.expected_false_alerts_per_month,
            statistic=t.statistic,
            method=t.method,
        )

    def describe(self, n: int) -> dict[str, Any]:
        t = self.get(n)
        return {
            "statistic": t.statistic,
            "threshold": t.value,
            "warn": t.warn,
            "alpha": t.alpha,
            "null_quantile": t.null_quantile,
            "min_effect": t.min_effect,
            "method": t.method,
            "expected_false_alerts_per_month": t.expected_false_alerts_per_month,
        }
