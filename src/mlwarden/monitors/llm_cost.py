"""Spend per LLM call (cost or tokens): has it risen beyond what the recent past explains?"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Self

from mlwarden.errors import ConfigError, expected
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
from mlwarden.monitors.llm_rates import MIN_BASELINE
from mlwarden.stats.tails import norm_isf
from mlwarden.stats.thresholds import per_window_alpha
from mlwarden.store.aggregates import Request
from mlwarden.store.span_aggregates import SPAN_BY, SPAN_METRICS, SpanSpend, SpanTotals

__all__ = ["LlmCost", "spend_text"]

#: metric -> (totals keys: calls counted, sum, sum of squares)
KEYS = {"cost": ("priced", "cost", "cost_sq"), "tokens": ("tokened", "tokens", "tokens_sq")}


def spend_text(metric: str, value: float) -> str:
    """A spend for reasons.

    Examples
    --------
    >>> spend_text("cost", 0.01234), spend_text("tokens", 120345.0)
    ('$0.01234', '120,345 tokens')
    """
    return f"${value:.4g}" if metric == "cost" else f"{value:,.0f} tokens"


@MONITORS.register
class LlmCost(Monitor):
    """Mean cost (or tokens) per LLM call in the window against the calls of the ``history``
    earlier windows: alerts above their mean plus z(1 - alpha) standard errors (the per-call
    spread of the earlier windows over the window's calls, alpha calibrated) *and* at least
    ``min_effect`` (25%) above that mean. A prompt that grew, a costlier model or lost cache
    hits show here; the top spenders by ``by`` (model, user or session) are in the details.

    Examples
    --------
    >>> LlmCost("tokens", by="user").id
    'llm_cost:tokens'
    """

    kind: ClassVar[str] = "llm_cost"
    objective: ClassVar[Objective] = Objective.COST
    family: ClassVar[str] = "cost"
    tab: ClassVar[str] = "llm"
    batch: ClassVar[bool] = False
    severity: ClassVar[Severity] = Severity.MEDIUM
    source: ClassVar[str] = "spans"

    def __init__(
        self,
        metric: str = "cost",
        *,
        by: str | None = "model",
        min_effect: float = 0.25,
        history: int = 24,
    ) -> None:
        self.metric = metric
        self.by = by
        self.min_effect = min_effect
        self.history = history

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.metric}"

    def fit(self, ctx: FitContext) -> Self:
        if self.metric not in SPAN_METRICS:
            raise ConfigError(
                expected("parameter", "metric", f"be one of {', '.join(SPAN_METRICS)}", self.metric)
            )
        if self.by is not None and self.by not in SPAN_BY:
            raise ConfigError(
                expected("parameter", "by", f"be one of {', '.join(SPAN_BY)} or null", self.by)
            )
        self.calibration_ = ctx.calibration.to_dict()
        return self

    def requests(self) -> list[Request]:
        return [SpanTotals(self.history), SpanSpend(self.metric, self.by, 1, None, 5)]

    def threshold_plan(self, rows: int) -> ThresholdPlan:
        cal = Calibration(**self.calibration_)
        return ThresholdPlan(
            how=f"Set by the app's own past: alerts when the mean {self.metric} per call is "
            f"significantly above that of the last {self.history} windows at the monitor's "
            f"share of the false-alarm budget, and at least {self.min_effect:.0%} above it.",
            false_alerts_per_month=cal.per_month(cal.alpha),
        )

    def evaluate(self, data: WindowData) -> Result:
        agg = data.get(SpanTotals(self.history)) or {}
        calls_key, sum_key, sq_key = KEYS[self.metric]
        cur, past = agg.get("current") or {}, agg.get("past") or {}
        n = int(cur.get(calls_key, 0))
        total = float(cur.get(sum_key, 0.0))
        mean = total / n if n else 0.0
        early = self.gate(data, n, what="priced LLM calls", value=mean if n else None)
        if early is not None:
            return early
        spend = data.get(SpanSpend(self.metric, self.by, 1, None, 5)) or {}
        details: dict[str, Any] = {"calls": n, "total": total, "top": spend.get("top", [])}
        n0 = int(past.get(calls_key, 0))
        mu0 = float(past.get(sum_key, 0.0)) / n0 if n0 else 0.0
        if n0 < MIN_BASELINE or mu0 <= 0:
            return self.result(
                data,
                Status.INSUFFICIENT_DATA,
                value=mean,
                n=n,
                details=details,
                reason=(
                    f"{spend_text(self.metric, mean)} per call; no baseline yet: fewer than "
                    f"{MIN_BASELINE} priced calls (or no spend) in the {self.history} earlier windows"
                ),
            )
        sd0 = math.sqrt(max(float(past.get(sq_key, 0.0)) / n0 - mu0 * mu0, 0.0))
        cal = Calibration(**self.calibration_)
        alpha = per_window_alpha(cal.parsed_budget, window=cal.cadence, monitors=cal.monitors)
        se = sd0 / math.sqrt(n)
        alert = max(mu0 + float(norm_isf(alpha)) * se, (1 + self.min_effect) * mu0)
        warn = max(
            mu0 + float(norm_isf(min(10 * alpha, 0.5))) * se, (1 + self.min_effect / 2) * mu0
        )
        details |= {"baseline_mean": mu0, "baseline_sd": sd0, "baseline_calls": n0, "alpha": alpha}
        status = Status.ALERT if mean > alert else Status.WARN if mean > warn else Status.OK
        top = details["top"]
        lead = f"; most from {top[0]['group']!r}" if top and self.by else ""
        return self.result(
            data,
            status,
            value=mean,
            threshold=alert,
            warn=warn,
            n=n,
            details=details,
            reason=(
                f"{spend_text(self.metric, mean)} per LLM call ({spend_text(self.metric, total)} "
                f"in {n} calls) vs {spend_text(self.metric, mu0)} in the earlier windows, "
                f"threshold {spend_text(self.metric, alert)}{lead}"
            ),
        )
