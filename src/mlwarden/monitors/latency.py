"""Response time: a latency quantile against an objective or against its own recent past."""

from __future__ import annotations

import statistics
from typing import ClassVar, Self

from scipy import stats as sps

from mlwarden.errors import ConfigError
from mlwarden.monitors.base import MONITORS, Monitor, Objective, Result, Severity, Status
from mlwarden.monitors.context import Calibration, FitContext, WindowData
from mlwarden.stats.thresholds import per_window_alpha
from mlwarden.store.aggregates import Request, Volume

__all__ = ["Latency"]

QUANTILES = {0.5: "p50", 0.95: "p95", 0.99: "p99"}


@MONITORS.register
class Latency(Monitor):
    """A latency quantile (p50 / p95 / p99) of the window: above ``max_ms`` when an objective
    is set, else above ``factor`` times its median over the previous windows.

    Examples
    --------
    >>> Latency(quantile=0.99, max_ms=300).id
    'latency:p99'
    """

    kind: ClassVar[str] = "latency"
    objective: ClassVar[Objective] = Objective.LATENCY
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

    def requests(self) -> list[Request]:
        return [Volume()]

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
            # both a practical factor and beyond the window-to-window spread at the calibrated
            # alpha (robust: median and MAD of the earlier windows' quantiles)
            med = statistics.median(past)
            mad = statistics.median(abs(x - med) for x in past) * 1.4826
            cal = Calibration(**self.calibration_)
            z = float(
                sps.norm.isf(
                    per_window_alpha(cal.parsed_budget, window=cal.cadence, monitors=cal.monitors)
                )
            )
            alert = max(self.factor * med, med + z * mad)
            basis = f"max({self.factor:g}x the recent median, median + {z:.1f} robust SD)"
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
