"""Unseen categories: values of a categorical feature the reference never had."""

from __future__ import annotations

from typing import ClassVar, Self

from mlwarden.monitors.base import MONITORS, Monitor, Objective, Result, Severity, Status
from mlwarden.monitors.context import FitContext, WindowData
from mlwarden.store.aggregates import Categories, Request

__all__ = ["UnseenCategories"]

TOP_REFERENCE = 10_000


@MONITORS.register
class UnseenCategories(Monitor):
    """Share of a categorical feature's values that never appeared in the reference
    (a new product code, a renamed region): alerts above 1% by default.

    Examples
    --------
    >>> UnseenCategories(column="region").id
    'unseen_categories:region'
    """

    kind: ClassVar[str] = "unseen_categories"
    objective: ClassVar[Objective] = Objective.DATA
    severity: ClassVar[Severity] = Severity.MEDIUM

    def __init__(self, column: str, *, threshold: float = 0.01) -> None:
        self.column = column
        self.threshold = threshold

    def fit(self, ctx: FitContext) -> Self:
        counts, _ = ctx.category_counts(self.column) or ({}, 0)
        seen = sorted(counts)
        self.truncated_ = len(seen) > TOP_REFERENCE
        self.categories_ = seen[:TOP_REFERENCE]
        return self

    def requests(self) -> list[Request]:
        return [Categories(self.column)]

    def evaluate(self, data: WindowData) -> Result:
        raw = data.get(Categories(self.column))
        counts, _ = raw if raw is not None else ({}, 0)
        n = sum(counts.values())
        if n == 0:
            return self.result(data, Status.NO_DATA, reason=f"No values of {self.column!r}.")
        if self.truncated_:
            return self.result(
                data,
                Status.INSUFFICIENT_DATA,
                n=n,
                reason="The reference has too many categories to tell new ones.",
            )
        known = set(self.categories_)
        new = {k: v for k, v in counts.items() if k not in known}
        share = sum(new.values()) / n
        if n < self.min_rows:
            return self.result(
                data,
                Status.INSUFFICIENT_DATA,
                value=share,
                n=n,
                reason=f"{n} values; at least {self.min_rows} are needed.",
            )
        status = (
            Status.ALERT
            if share > self.threshold
            else Status.WARN
            if share > self.threshold / 2
            else Status.OK
        )
        top = sorted(new.items(), key=lambda kv: -kv[1])[:10]
        return self.result(
            data,
            status,
            value=share,
            threshold=self.threshold,
            warn=self.threshold / 2,
            n=n,
            details={"new_categories": dict(top)},
            reason=f"{share:.2%} unseen values" + (f", e.g. {top[0][0]!r}" if top else ""),
        )
