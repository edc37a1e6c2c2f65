"""Response time: a latency quantile against an objective or against its own recent past."""

from __future__ import annotations

import statistics
from typing import Any, ClassVar, Self

from mlwarden.errors import ConfigError
from mlwarden.monitors.base import (
    MONITORS,
    Monitor,
    Objective,
    Result,
    Severity,
    Status,
    ThresholdPlan,
)
from mlwarden.monitors.context import Calibration, FitContext, WindowData
from mlwarden.stats.tails import binom_sf
from mlwarden.stats.thresholds import per_window_alpha
from mlwarden.store.aggregates import Exceedance, Request, Volume

__all__ = ["Latency"]

QUANTILES = {0.5: "p50", 0.95: "p95", 0.99: "p99"}


@MONITORS.register
class Latency(Monitor):
    """A latency quantile (p50 / p95 / p99) of the window: above ``max_ms`` when an objective
    is set; else above ``factor`` times its median over the previous windows *and* with
    significantly more requests than usual above that median (binomial test at the calibrated
    alpha: of ``n`` latencies, ``1 - quantile`` are expected above the usual level).

    The second condition is what keeps the monitor quiet on a healthy service: a window's p99
    is the 20th slowest of 2000 requests, and where the latency density is thin (a fast body
    and a slow fallback path) it jumps between the two from one day to the next; the count of
    requests above the usual p99 does not.

    Examples
    --------
    >>> Latency(quantile=0.99, max_ms=300).id
    'latency:p99'
    """

    kind: ClassVar[str] = "latency"
    objective: ClassVar[Objective] = Objective.LATENCY
    family: ClassVar[str] = "latency"
    tab: ClassVar[str] = "operations"
    batch: ClassVar[bool] = False
    severity: ClassVar[Severity] = Severity.MEDIUM

    def __init__(
        self,
        *,
        quantile: float = 0.99,
        max_ms: float | None = None,
        factor: float = 2.0,
        history: int = 24,
    ) -> None:
        self.quantile = quantile
        self.max_ms = max_ms
        self.factor = factor
        self.history = history

    @property
    def id(self) -> str:
        return f"{self.kind}:{QUANTILES.get(self.quantile, self.quantile)}"

    def fit(self, ctx: FitContext) -> Self:
        if self.quantile not in QUANTILES:
            raise ConfigError(
                f"The 'quantile' of a latency monitor must be one of 0.5, 0.95, 0.99. "
                f"Got {self.quantile!r} instead."
            )
        self.calibration_ = ctx.calibration.to_dict()
        return self

    def threshold_plan(self, rows: int) -> ThresholdPlan:
        key = QUANTILES.get(self.quantile, f"p{self.quantile * 100:g}")
        if self.max_ms is not None:
            return ThresholdPlan(
                how=f"The objective: alerts when the {key} latency is above {self.max_ms:g} ms "
                "(warns above 80% of it).",
                threshold=float(self.max_ms),
                warn=0.8 * float(self.max_ms),
                false_alerts_per_month=0.0,
            )
        cal = Calibration(**self.calibration_)
        return ThresholdPlan(
            how=f"Set by the service's own past: alerts when the {key} latency is above "
            f"{self.factor:g}x its median over the last {self.history} windows and "
            "significantly more requests than usual are above that median.",
            false_alerts_per_month=cal.per_month(cal.alpha),
        )

    def requests(self) -> list[Request]:
        if self.max_ms is not None:
            return [Volume()]
        return [Volume(), Exceedance(self.quantile, self.history)]

    def evaluate(self, data: WindowData) -> Result:
        key = QUANTILES[self.quantile]
        vol = data.volume
        value = vol.get(key)
        n = int(vol.get("latency_n") or 0)
        if not n or value is None:
            return self.result(data, Status.NO_DATA, reason="No latencies logged in this window.")
        if n < self.min_rows:
            return self.result(
                data,
                Status.INSUFFICIENT_DATA,
                value=value,
                n=n,
                reason=f"{n} latencies; at least {self.min_rows} are needed.",
            )
        if self.max_ms is not None:
            alert = float(self.max_ms)
            basis = f"objective {alert:g} ms"
        else:
            past = [h[key] for h in data.history[-self.history :] if h.get(key) is not None]
            if len(past) < 3:
                return self.result(
                    data,
                    Status.INSUFFICIENT_DATA,
                    value=value,
                    n=n,
                    reason="No latency objective and fewer than 3 earlier windows.",
                )
            med = statistics.median(past)
            cal = Calibration(**self.calibration_)
            alpha = per_window_alpha(cal.parsed_budget, window=cal.cadence, monitors=cal.monitors)
            exc = data.get(Exceedance(self.quantile, self.history)) or {}
            return self._against_past(data, key, float(value), n, med, alpha, exc)
        warn = 0.8 * alert
        status = Status.ALERT if value > alert else Status.WARN if value > warn else Status.OK
        return self.result(
            data,
            status,
            value=float(value),
            threshold=alert,
            warn=warn,
            n=n,
            reason=f"{key} latency {value:.1f} ms vs {basis} ({alert:.1f} ms)",
        )

    def _against_past(
        self,
        data: WindowData,
        key: str,
        value: float,
        n: int,
        med: float,
        alpha: float,
        exc: dict[str, Any],
    ) -> Result:
        """The verdict against the recent past: a practical factor and a binomial count."""
        above, counted = int(exc.get("above") or 0), int(exc.get("n") or 0)
        level = float(exc.get("level", med))
        expected = 1.0 - self.quantile
        # P(X >= above) for X ~ Binomial(counted, expected): how surprising so many slow requests are
        p = binom_sf(above - 1, counted, expected) if counted else 1.0
        share = above / counted if counted else 0.0
        alert_at = self.factor * med
        details = {
            "level_ms": round(level, 3),
            "above": above,
            "share_above": round(share, 5),
            "expected_share": expected,
            "p_value": p,
            "alpha": alpha,
        }
        if value > alert_at and p <= alpha:
            status = Status.ALERT
        elif value > 0.8 * alert_at and p <= min(1.0, 10 * alpha):
            status = Status.WARN
        else:
            status = Status.OK
        return self.result(
            data,
            status,
            value=value,
            threshold=alert_at,
            warn=0.8 * alert_at,
            n=n,
            details=details,
            reason=(
                f"{key} latency {value:.1f} ms vs {self.factor:g}x the recent median "
                f"({alert_at:.1f} ms); {share:.2%} of requests slower than the usual {key} "
                f"({level:.1f} ms), {expected:.0%} expected (p = {p:.2g}, alpha {alpha:.2g})"
            ),
        )
