"""Duplicate event ids: the same id logged at different times (a client reusing ids)."""

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

__all__ = ["DuplicateIds"]


@MONITORS.register
class DuplicateIds(Monitor):
    """Share of events whose id repeats within the window. Re-sent events are dropped at ingest,
    so a repeat here is the same id sent with another timestamp: a client reusing ids, which
    breaks joining labels to predictions. Alerts above ``max_share`` (default 0.1%).

    Examples
    --------
    >>> DuplicateIds().id
    'duplicate_ids'
    """

    kind: ClassVar[str] = "duplicate_ids"
    objective: ClassVar[Objective] = Objective.DATA
    family: ClassVar[str] = "quality"
    tab: ClassVar[str] = "quality"
    batch: ClassVar[bool] = False
    severity: ClassVar[Severity] = Severity.MEDIUM

    def __init__(self, *, max_share: float = 0.001) -> None:
        self.max_share = max_share

    def fit(self, ctx: FitContext) -> Self:
        self.fitted_ = True
        return self

    def threshold_plan(self, rows: int) -> ThresholdPlan:
        return ThresholdPlan(
            how=f"A fixed limit: alerts above {self.max_share:.1%} repeated ids. Ids made by "
            "the SDK do not repeat, so an alert is a breach, not chance.",
            threshold=self.max_share,
            false_alerts_per_month=0.0,
        )

    def requests(self) -> list[Request]:
        return [Volume()]

    def evaluate(self, data: WindowData) -> Result:
        n = data.n
        dupes = n - int(data.volume.get("ids") or n)
        share = dupes / n if n else 0.0
        early = self.gate(data, n, what="events", value=share if n else None)
        if early is not None:
            return early
        status = Status.ALERT if share > self.max_share else Status.OK
        return self.result(
            data,
            status,
            value=share,
            threshold=self.max_share,
            n=n,
            details={"duplicates": dupes},
            reason=f"{dupes} repeated event ids in {n} events",
        )
