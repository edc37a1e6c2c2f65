"""Missing values: has the share of nulls in a column jumped above the reference's?"""

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
from mlwarden.monitors.context import Calibration, FitContext, WindowData
from mlwarden.schema.spec import FeatureKind
from mlwarden.stats.tails import binom_isf
from mlwarden.store.aggregates import Categories, Histogram, Request

__all__ = ["MissingValues", "binomial_upper"]

MIN_EFFECT = 0.02


def binomial_upper(p0: float, n: int, alpha: float) -> float:
    """The share ``k/n`` a Binomial(n, p0) count exceeds with probability at most ``alpha``
    (alert when the observed share is above it).

    Examples
    --------
    >>> binomial_upper(0.01, 1000, 1e-4)
    0.024
    """
    k = int(binom_isf(alpha, n, min(max(p0, 0.0), 1.0)))
    return k / n


@MONITORS.register
class MissingValues(Monitor):
    """Share of missing values of a column, vs the reference share plus what chance allows
    (binomial tail at the calibrated alpha) and a 2-point minimum effect.

    Examples
    --------
    >>> MissingValues(column="income").id
    'missing_values:income'
    """

    kind: ClassVar[str] = "missing_values"
    objective: ClassVar[Objective] = Objective.DATA
    family: ClassVar[str] = "quality"
    tab: ClassVar[str] = "quality"
    batch: ClassVar[bool] = True
    severity: ClassVar[Severity] = Severity.HIGH
    min_rows: ClassVar[int] = 30

    def __init__(
        self, column: str, *, threshold: float | None = None, min_effect: float = MIN_EFFECT
    ) -> None:
        self.column = column
        self.threshold = threshold
        self.min_effect = min_effect

    def fit(self, ctx: FitContext) -> Self:
        col = ctx.column(self.column)
        n = 0 if col is None else len(col)
        nulls = 0 if col is None else col.null_count
        feat = ctx.spec.feature(self.column)
        self.edges_: list[float] | None = None
        if feat is not None and feat.kind is FeatureKind.NUMERIC:
            if ctx.reads_as_numbers(self.column):
                base = ctx.numeric_baseline(self.column)
                nulls = base.reference.n_missing  # nulls and NaN, as a window's histogram counts
                # the same edges as the drift monitor's, so both read one histogram
                self.edges_ = list(base.edges)
        self.reference_rate_ = nulls / n if n else 0.0
        self.calibration_ = ctx.calibration.to_dict()
        return self

    def requests(self) -> list[Request]:
        if self.edges_ is not None:
            return [Histogram(self.column, tuple(self.edges_))]
        return [Categories(self.column)]

    def bounds(self, n: int) -> tuple[float, float]:
        """(alert, warn) shares of missing values at a window of ``n`` rows."""
        if self.threshold is not None:
            return self.threshold, self.threshold / 2
        alpha = Calibration(**self.calibration_).alpha
        p0 = self.reference_rate_
        alert = max(binomial_upper(p0, n, alpha), p0 + self.min_effect)
        warn = max(binomial_upper(p0, n, min(10 * alpha, 0.5)), p0 + self.min_effect / 2)
        return alert, warn

    def threshold_plan(self, rows: int) -> ThresholdPlan:
        alert, warn = self.bounds(max(rows, self.min_rows))
        cal = Calibration(**self.calibration_)
        if self.threshold is not None:
            return ThresholdPlan(
                how=f"Fixed in the spec: alerts above {self.threshold:.1%} missing.",
                threshold=alert,
                warn=warn,
                reference=self.reference_rate_,
                false_alerts_per_month=0.0,
            )
        return ThresholdPlan(
            how=f"The reference's missing share ({self.reference_rate_:.1%}) plus what chance "
            f"gives at this window size with the monitor's share of the false-alarm budget, and "
            f"at least {self.min_effect:.0%} more.",
            threshold=alert,
            warn=warn,
            reference=self.reference_rate_,
            false_alerts_per_month=cal.per_month(cal.alpha),
        )

    def evaluate(self, data: WindowData) -> Result:
        (req,) = self.requests()
        raw = data.get(req)
        if isinstance(req, Histogram):
            n_values = int(sum(raw["counts"])) if raw else 0
            missing = int(raw["n_missing"]) if raw else 0
        else:
            counts, missing = raw if raw is not None else ({}, 0)
            n_values = sum(counts.values())
        n = n_values + missing
        rate = missing / n if n else 0.0
        early = self.gate(data, n, what="rows", value=rate if n else None)
        if early is not None:
            return early
        alert, warn = self.bounds(n)
        status = Status.ALERT if rate > alert else Status.WARN if rate > warn else Status.OK
        details: dict[str, Any] = {"missing": missing, "reference_rate": self.reference_rate_}
        return self.result(
            data,
            status,
            value=rate,
            threshold=alert,
            warn=warn,
            n=n,
            details=details,
            reason=f"{rate:.1%} missing (reference {self.reference_rate_:.1%}, threshold {alert:.1%})",
        )
