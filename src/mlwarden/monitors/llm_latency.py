"""LLM call latency and time to first token: against an objective or the recent past."""

from __future__ import annotations

import statistics
from typing import Any, ClassVar, Self

from mlwarden.errors import ConfigError, expected
from mlwarden.monitors.base import MONITORS, Objective, Result, Severity, Status
from mlwarden.monitors.context import Calibration, FitContext, WindowData
from mlwarden.monitors.latency import QUANTILES, Latency
from mlwarden.stats.thresholds import per_window_alpha
from mlwarden.store.aggregates import Request
from mlwarden.store.span_aggregates import SpanQuantiles

__all__ = ["LlmLatency"]

#: metric -> (span column, words for reasons)
METRICS = {"latency": ("duration_ms", "LLM call"), "ttft": ("ttft_ms", "time-to-first-token")}


@MONITORS.register
class LlmLatency(Latency):
    """A quantile of LLM call duration (``metric="latency"``) or of time to first token
    (``metric="ttft"``, streamed calls) per window: above ``max_ms`` when an objective is set;
    else above ``factor`` times its median over the earlier windows *and* with significantly
    more calls than usual above that median (the ``latency`` kind's rule, on spans).

    Examples
    --------
    >>> LlmLatency(metric="ttft", quantile=0.5).id
    'llm_latency:ttft_p50'
    """

    kind: ClassVar[str] = "llm_latency"
    objective: ClassVar[Objective] = Objective.LATENCY
    family: ClassVar[str] = "llm_latency"
    tab: ClassVar[str] = "llm"
    batch: ClassVar[bool] = False
    severity: ClassVar[Severity] = Severity.MEDIUM
    source: ClassVar[str] = "spans"

    def __init__(
        self,
        *,
        metric: str = "latency",
        quantile: float = 0.95,
        max_ms: float | None = None,
        factor: float = 2.0,
        history: int = 24,
    ) -> None:
        self.metric = metric
        self.quantile = quantile
        self.max_ms = max_ms
        self.factor = factor
        self.history = history

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.metric}_{QUANTILES.get(self.quantile, self.quantile)}"

    def fit(self, ctx: FitContext) -> Self:
        if self.metric not in METRICS:
            raise ConfigError(expected("parameter", "metric", "be latency or ttft", self.metric))
        return super().fit(ctx)

    def _request(self) -> SpanQuantiles:
        return SpanQuantiles(METRICS[self.metric][0], self.quantile, self.history)

    def requests(self) -> list[Request]:
        return [self._request()]

    def evaluate(self, data: WindowData) -> Result:
        q: dict[str, Any] = data.get(self._request()) or {}
        key = f"{QUANTILES[self.quantile]} {METRICS[self.metric][1]}"
        value, n = q.get("value"), int(q.get("n") or 0)
        if not n or value is None:
            return self.result(data, Status.NO_DATA, reason=f"No {key} times in this window.")
        if n < self.min_rows:
            return self.result(
                data,
                Status.INSUFFICIENT_DATA,
                value=value,
                n=n,
                reason=f"{n} LLM calls timed; at least {self.min_rows} are needed.",
            )
        if self.max_ms is not None:
            alert = float(self.max_ms)
            status = (
                Status.ALERT if value > alert else Status.WARN if value > 0.8 * alert else Status.OK
            )
            return self.result(
                data,
                status,
                value=float(value),
                threshold=alert,
                warn=0.8 * alert,
                n=n,
                reason=f"{key} latency {value:.1f} ms vs objective {alert:g} ms",
            )
        past = q.get("past") or []
        if len(past) < 3 or "level" not in q:
            return self.result(
                data,
                Status.INSUFFICIENT_DATA,
                value=float(value),
                n=n,
                reason="No latency objective and fewer than 3 earlier windows with LLM calls.",
            )
        cal = Calibration(**self.calibration_)
        alpha = per_window_alpha(cal.parsed_budget, window=cal.cadence, monitors=cal.monitors)
        exc = {"above": q["above"], "n": q["counted"], "level": q["level"]}
        return self._against_past(data, key, float(value), n, statistics.median(past), alpha, exc)
