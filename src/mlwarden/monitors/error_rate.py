"""Reliability: the share of predictions that failed (status 'error')."""

from __future__ import annotations

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
from mlwarden.store.aggregates import Request, Volume

__all__ = ["ErrorRate"]


@MONITORS.register
class ErrorRate(Monitor):
    """Share of events with status 'error': alerts above ``max_rate`` (default 5%), warns above
    a fifth of it.

    Examples
    --------
    >>> ErrorRate(max_rate=0.01).id
    'error_rate'
    """

    kind: ClassVar[str] = "error_rate"
    objective: ClassVar[Objective] = Objective.RELIABILITY
    family: ClassVar[str] = "errors"
    tab: ClassVar[str] = "operations"
    batch: ClassVar[bool] = False
    severity: ClassVar[Severity] = Severity.HIGH

    def __init__(self, *, max_rate: float = 0.05) -> None:
        self.max_rate = max_rate

    def fit(self, ctx: FitContext) -> Self:
        self.fitted_ = True
        return self

    def threshold_plan(self, rows: int) -> ThresholdPlan:
        return ThresholdPlan(
            how=f"A fixed limit: alerts above {self.max_rate:.0%} errors, warns above "
            f"{self.max_rate / 5:.0%}. A healthy service stays far below it, so an alert is a "
            "breach, not chance.",
            threshold=self.max_rate,
            warn=self.max_rate / 5,
            false_alerts_per_month=0.0,
        )

    def requests(self) -> list[Request]:
        return [Volume()]

    def evaluate(self, data: WindowData) -> Result:
        n = data.n
        errors = int(data.volume.get("errors") or 0)
        rate = errors / n if n else 0.0
        early = self.gate(data, n, what="events", value=rate if n else None)
        if early is not None:
            return early
        warn = self.max_rate / 5
        status = Status.ALERT if rate > self.max_rate else Status.WARN if rate > warn else Status.OK
        return self.result(
            data,
            status,
            value=rate,
            threshold=self.max_rate,
            warn=warn,
            n=n,
            details={"errors": errors},
            reason=f"{errors} errors in {n} events ({rate:.2%})",
        )
