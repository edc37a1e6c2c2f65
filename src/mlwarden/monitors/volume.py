"""Traffic volume: did the number of predictions collapse or explode?"""

from __future__ import annotations

import math
import statistics
from typing import ClassVar, Self

from mlwarden.monitors.base import (
    MONITORS,
    Monitor,
    Objective,
    Result,
    Severity,
    Status,
    ThresholdPlan,
)
from mlwarden.monitors.context import FitContext, WindowData
from mlwarden.stats.tails import poisson_cdf, poisson_sf
from mlwarden.store.aggregates import Request, Volume

__all__ = ["TrafficVolume"]


@MONITORS.register
class TrafficVolume(Monitor):
    """Events in the window vs the median of the previous windows: alerts when traffic falls
    below ``low`` or rises above ``high`` times that median (an outage, a retry storm, a
    broken upstream job), and when a window that should have traffic has none.

    Examples
    --------
    >>> TrafficVolume().id
    'volume'
    """

    kind: ClassVar[str] = "volume"
    objective: ClassVar[Objective] = Objective.RELIABILITY
    family: ClassVar[str] = "traffic"
    tab: ClassVar[str] = "operations"
    batch: ClassVar[bool] = False
    severity: ClassVar[Severity] = Severity.HIGH

    def __init__(self, *, low: float = 0.2, high: float = 5.0, history: int = 24) -> None:
        self.low = low
        self.high = high
        self.history = history

    def fit(self, ctx: FitContext) -> Self:
        self.fitted_ = True
        return self

    def threshold_plan(self, rows: int) -> ThresholdPlan:
        return ThresholdPlan(
            how=f"Set by the traffic: alerts below {self.low:g}x or above {self.high:g}x the "
            f"median of the last {self.history} windows with traffic (warns at "
            f"{2 * self.low:g}x / {self.high / 2:g}x).",
            threshold=self.low,
            warn=2 * self.low,
            direction="below",
            false_alerts_per_month=_steady_false_alerts(rows, self.low, self.high),
        )

    def requests(self) -> list[Request]:
        return [Volume()]

    def evaluate(self, data: WindowData) -> Result:
        n = data.n
        # windows with traffic among the previous ones (before the first event there is none)
        past = [int(h.get("n", 0)) for h in data.history[-self.history :] if h.get("n")]
        if len(past) < 3:
            status = Status.NO_DATA if n == 0 else Status.INSUFFICIENT_DATA
            return self.result(
                data,
                status,
                value=float(n),
                n=n,
                reason="Fewer than 3 earlier windows with traffic to compare with.",
            )
        median = statistics.median(past)
        ratio = n / median
        status = (
            Status.ALERT
            if ratio < self.low or ratio > self.high
            else (Status.WARN if ratio < 2 * self.low or ratio > self.high / 2 else Status.OK)
        )
        return self.result(
            data,
            status,
            value=ratio,
            threshold=self.low,
            warn=2 * self.low,
            n=n,
            direction="below",
            details={"events": n, "median_events": median, "high": self.high},
            reason=f"{n} events, {ratio:.2f}x the median of the last {len(past)} windows ({median:g})",
        )


def _steady_false_alerts(rows: int, low: float, high: float) -> float:
    """Alerts in 30 hourly windows a day of steady (Poisson) traffic of ``rows`` events a window
    would raise: the chance a window falls under ``low`` or over ``high`` times its mean.
    Traffic with daily or weekly cycles is judged against its own recent median, so a cycle
    deeper than ``low`` would raise more (the plan says so)."""
    mean = max(float(rows), 1.0)
    p = poisson_cdf(math.ceil(low * mean) - 1, mean) + poisson_sf(math.floor(high * mean), mean)
    return p * 30 * 24
