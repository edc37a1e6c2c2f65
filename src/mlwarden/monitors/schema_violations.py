"""Schema violations: rows rejected at ingest (wrong types, unknown classes, bad ids)."""

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
from mlwarden.store.aggregates import Rejected, Request, Volume

__all__ = ["SchemaViolations"]


@MONITORS.register
class SchemaViolations(Monitor):
    """Share of rows that arrived in the window and were rejected (quarantined) because they
    broke the schema: a producer that changed a type or a class label. Alerts above
    ``max_share`` (default 1%) and names the fields at fault.

    Examples
    --------
    >>> SchemaViolations().id
    'schema_violations'
    """

    kind: ClassVar[str] = "schema_violations"
    objective: ClassVar[Objective] = Objective.DATA
    family: ClassVar[str] = "quality"
    tab: ClassVar[str] = "quality"
    batch: ClassVar[bool] = False
    severity: ClassVar[Severity] = Severity.HIGH

    def __init__(self, *, max_share: float = 0.01) -> None:
        self.max_share = max_share

    def fit(self, ctx: FitContext) -> Self:
        self.fitted_ = True
        return self

    def threshold_plan(self, rows: int) -> ThresholdPlan:
        return ThresholdPlan(
            how=f"A fixed limit: alerts above {self.max_share:.0%} rejected rows, warns above "
            f"{self.max_share / 5:.1%}. Valid senders reject none, so an alert is a breach, "
            "not chance.",
            threshold=self.max_share,
            warn=self.max_share / 5,
            false_alerts_per_month=0.0,
        )

    def requests(self) -> list[Request]:
        return [Volume(), Rejected()]

    def evaluate(self, data: WindowData) -> Result:
        by_field: dict[str, int] = data.get(Rejected()) or {}
        rejected = sum(by_field.values())
        total = data.n + rejected
        share = rejected / total if total else 0.0
        early = self.gate(data, total, what="rows", value=share if total else None)
        if early is not None:
            return early
        warn = self.max_share / 5
        status = (
            Status.ALERT if share > self.max_share else Status.WARN if share > warn else Status.OK
        )
        top = sorted(by_field.items(), key=lambda kv: -kv[1])[:5]
        fields = ", ".join(f"{f} ({n})" for f, n in top)
        return self.result(
            data,
            status,
            value=share,
            threshold=self.max_share,
            warn=warn,
            n=total,
            details={"rejected": rejected, "fields": dict(top)},
            reason=f"{rejected} of {total} rows rejected ({share:.2%})"
            + (f": {fields}" if top else ""),
        )
