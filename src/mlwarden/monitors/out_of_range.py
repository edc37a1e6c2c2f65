"""Out of range: values of a numeric feature outside the range the reference ever showed."""

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
from mlwarden.monitors.context import Calibration, FitContext, WindowData
from mlwarden.stats.baseline import NumericBaseline
from mlwarden.stats.range_null import OutsideCount
from mlwarden.store.aggregates import Histogram, Request

__all__ = ["OutOfRange"]


@MONITORS.register
class OutOfRange(Monitor):
    """Share of values below the reference minimum or above its maximum (or infinite).

    Under no drift a new value falls outside the range of ``n_ref`` reference values with
    probability ``2 / (n_ref + 1)`` on average, and the count of such values in a window of
    ``m`` is beta-binomial (the reference's extremes are random too: see
    :mod:`mlwarden.stats.range_null`); the threshold is that law's tail at the calibrated
    alpha, and at least ``min_effect`` (1%). A fixed ``threshold`` overrides it.

    Examples
    --------
    >>> OutOfRange(column="age").id
    'out_of_range:age'
    """

    kind: ClassVar[str] = "out_of_range"
    objective: ClassVar[Objective] = Objective.DATA
    #: values beyond the reference's range are a shift of the distribution's tails: its
    #: incidents are drift incidents (a broken producer shows as missing values or rejects),
    #: while the model page lists it with the other per-column checks
    family: ClassVar[str] = "drift"
    tab: ClassVar[str] = "quality"
    batch: ClassVar[bool] = True
    severity: ClassVar[Severity] = Severity.MEDIUM

    def __init__(
        self, column: str, *, threshold: float | None = None, min_effect: float = 0.01
    ) -> None:
        self.column = column
        self.threshold = threshold
        self.min_effect = min_effect

    def fit(self, ctx: FitContext) -> Self:
        base: NumericBaseline = ctx.numeric_baseline(self.column)
        self.edges_ = list(base.edges)
        self.minimum_ = base.minimum
        self.maximum_ = base.maximum
        self.n_reference_ = base.n
        self.calibration_ = ctx.calibration.to_dict()
        return self

    def requests(self) -> list[Request]:
        return [Histogram(self.column, tuple(self.edges_))]

    def bounds(self, n: int) -> tuple[float, float]:
        """(alert, warn) shares of values outside the reference range at ``n`` values."""
        if self.threshold is not None:
            return self.threshold, self.threshold / 2
        alpha = Calibration(**self.calibration_).alpha
        law = OutsideCount(max(int(self.n_reference_), 1), n)
        alert = max(law.upper(alpha) / n, self.min_effect)
        warn = max(law.upper(min(10 * alpha, 0.5)) / n, self.min_effect / 2)
        return alert, warn

    def threshold_plan(self, rows: int) -> ThresholdPlan:
        alert, warn = self.bounds(max(rows, self.min_rows))
        cal = Calibration(**self.calibration_)
        if self.threshold is not None:
            return ThresholdPlan(
                how=f"Fixed in the spec: alerts above {self.threshold:.1%} out of range.",
                threshold=alert,
                warn=warn,
                false_alerts_per_month=0.0,
            )
        return ThresholdPlan(
            how=f"The share of values outside the reference's range [{self.minimum_:.4g}, "
            f"{self.maximum_:.4g}] that chance gives with {self.n_reference_:,} reference rows "
            "and the monitor's share of the false-alarm budget, and at least "
            f"{self.min_effect:.0%}.",
            threshold=alert,
            warn=warn,
            false_alerts_per_month=cal.per_month(cal.alpha),
        )

    def evaluate(self, data: WindowData) -> Result:
        raw = data.get(Histogram(self.column, tuple(self.edges_)))
        counts = raw["counts"] if raw else []
        n = int(sum(counts))
        outside = int(counts[0] + counts[1] + counts[-2] + counts[-1]) if n else 0
        share = outside / n if n else 0.0
        early = self.gate(data, n, what="values", value=share if n else None)
        if early is not None:
            return early
        alert, warn = self.bounds(n)
        n_ref = max(int(self.n_reference_), 1)
        law = OutsideCount(n_ref, n)
        status = Status.ALERT if share > alert else Status.WARN if share > warn else Status.OK
        return self.result(
            data,
            status,
            value=share,
            threshold=alert,
            warn=warn,
            n=n,
            details={
                "below": int(counts[0] + counts[1]),
                "above": int(counts[-2] + counts[-1]),
                "reference_min": self.minimum_,
                "reference_max": self.maximum_,
                "expected_share": 2.0 / (n_ref + 1),
                "p_value": law.sf(outside),
            },
            reason=f"{share:.2%} of values outside [{self.minimum_:.4g}, {self.maximum_:.4g}]",
        )
