"""Unseen categories: values of a categorical feature the reference never had."""

from __future__ import annotations

from typing import Any, ClassVar, Self

from mlwarden.monitors.base import (
    MONITORS,
    Monitor,
    Objective,
    Result,
    Severity,
    Status,
    ThresholdPlan,
)
from mlwarden.monitors.calibrated import ThresholdCache
from mlwarden.monitors.context import Calibration, FitContext, WindowData
from mlwarden.stats.baseline import CategoricalBaseline, CategoryCounts
from mlwarden.stats.thresholds import MIN_EFFECT
from mlwarden.store.aggregates import Categories, Request

__all__ = ["UnseenCategories"]

TOP_REFERENCE = 10_000
STATISTIC = "new_category_share"


@MONITORS.register
class UnseenCategories(Monitor):
    """Share of a categorical feature's values that never appeared in the reference
    (a new product code, a renamed region), alerting beyond what chance gives.

    A reference of n rows misses part of its population: the categories it saw once
    estimate that unseen mass (Good-Turing, ``f1 / n``), so a window of the very same
    population shows some values the reference never had. The threshold is that share's
    null quantile at the window's size and the calibrated alpha (the false-alarm budget, as
    for drift), and at least ``min_effect`` (1%). A fixed ``threshold`` overrides it.

    Examples
    --------
    >>> UnseenCategories(column="region").id
    'unseen_categories:region'
    """

    kind: ClassVar[str] = "unseen_categories"
    objective: ClassVar[Objective] = Objective.DATA
    #: a new category is a shift of the distribution (see ``out_of_range``)
    family: ClassVar[str] = "drift"
    tab: ClassVar[str] = "quality"
    batch: ClassVar[bool] = True
    severity: ClassVar[Severity] = Severity.MEDIUM

    def __init__(
        self,
        column: str,
        *,
        threshold: float | None = None,
        min_effect: float = MIN_EFFECT[STATISTIC],
    ) -> None:
        self.column = column
        self.threshold = threshold
        self.min_effect = min_effect

    # -- state ---------------------------------------------------------------------------------
    def state_to_dict(self) -> dict[str, Any]:
        if not hasattr(self, "baseline_"):
            return {}
        return {
            "baseline": self.baseline_.to_dict(),
            "calibration": self.calibration_.to_dict(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        if "categories_" in state:  # stored by an earlier version: categories, no counts
            seen = [str(c) for c in state["categories_"]]
            other = 1 if state.get("truncated_") else 0
            # counts of 2: no category seen once, so no unseen mass (the old fixed rule)
            legacy = CategoryCounts(counts=(*[2] * len(seen), other, 0))
            state = {
                "baseline": CategoricalBaseline(tuple(seen), legacy).to_dict(),
                "calibration": Calibration().to_dict(),
            }
        if "baseline" not in state:  # unfitted
            return
        self.baseline_ = CategoricalBaseline.from_dict(state["baseline"])
        self.calibration_ = Calibration(**state["calibration"])
        self._thresholds = ThresholdCache(
            self.baseline_, STATISTIC, self.calibration_, min_effect=self.min_effect
        )

    # -- behaviour -----------------------------------------------------------------------------
    def fit(self, ctx: FitContext) -> Self:
        counts, missing = ctx.category_counts(self.column) or ({}, 0)
        baseline = CategoricalBaseline.from_counts(counts, n_missing=missing, top_k=TOP_REFERENCE)
        self.load_state({"baseline": baseline.to_dict(), "calibration": ctx.calibration.to_dict()})
        return self

    def requests(self) -> list[Request]:
        return [Categories(self.column)]

    def threshold_plan(self, rows: int) -> ThresholdPlan:
        if self.threshold is not None:
            return ThresholdPlan(
                how=f"Fixed in the spec: alerts above {self.threshold:.1%} new values.",
                threshold=self.threshold,
                warn=self.threshold / 2,
                false_alerts_per_month=0.0,
            )
        if self.baseline_.n == 0:
            return ThresholdPlan(
                how="The reference holds no values: alerts above the smallest effect.",
                threshold=self.min_effect,
                warn=self.min_effect / 2,
            )
        return self._thresholds.plan(
            rows,
            how=f"Calibrated on the reference: the share of unseen values chance gives (expected "
            f"{self.expected_share():.2%}) at this window size and the monitor's share of the "
            f"false-alarm budget, and at least {self.min_effect:.0%}.",
        )

    def evaluate(self, data: WindowData) -> Result:
        raw = data.get(Categories(self.column))
        counts, _ = raw if raw is not None else ({}, 0)
        n = sum(counts.values())
        if n == 0:
            return self.result(data, Status.NO_DATA, reason=f"No values of {self.column!r}.")
        if self.baseline_.truncated:
            return self.result(
                data,
                Status.INSUFFICIENT_DATA,
                n=n,
                reason="The reference has too many categories to tell new ones.",
            )
        known = set(self.baseline_.categories)
        new = {k: v for k, v in counts.items() if str(k) not in known}
        share = sum(new.values()) / n
        if n < self.min_rows:
            return self.result(
                data,
                Status.INSUFFICIENT_DATA,
                value=share,
                n=n,
                reason=f"{n} values; at least {self.min_rows} are needed.",
            )
        details: dict[str, Any] = {}
        if self.baseline_.n == 0:  # nothing seen: every value is new, nothing to calibrate
            alert = self.threshold if self.threshold is not None else self.min_effect
            warn = alert / 2
        else:
            th = self._thresholds.get(n)
            alert, warn = th.value, th.warn
            if self.threshold is not None:
                alert, warn = self.threshold, self.threshold / 2
            details["threshold"] = self._thresholds.describe(n)
            details["p_value"] = self._thresholds.p_value(n, share)
            details["expected_unseen_share"] = self.expected_share()
        status = Status.ALERT if share > alert else Status.WARN if share > warn else Status.OK
        top = sorted(new.items(), key=lambda kv: -kv[1])[:10]
        return self.result(
            data,
            status,
            value=share,
            threshold=alert,
            warn=warn,
            n=n,
            details={"new_categories": dict(top), **details},
            reason=f"{share:.2%} unseen values (by chance about {self.expected_share():.2%})"
            + (f", e.g. {top[0][0]!r}" if top else ""),
        )

    def expected_share(self) -> float:
        """The Good-Turing estimate of the population share the reference never saw:
        the share of its rows in categories seen exactly once."""
        c = self.baseline_.reference.counts[:-2]
        n = max(self.baseline_.n, 1)
        return sum(1 for x in c if x == 1) / n
