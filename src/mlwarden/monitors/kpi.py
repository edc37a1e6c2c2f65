"""A business KPI: an expression over a window's aggregates, judged against the reference.

The expression language is in :mod:`mlwarden.schema.kpi`; the engine computes its aggregates
(``store/kpi_aggregates.py``); the threshold comes from a bootstrap of the KPI over the
reference (``monitors/kpi_rows.py``), moved to each window's size.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Self

import numpy as np

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
from mlwarden.monitors.kpi_judge import DIRECTIONS, check_kpi_name, judge, kpi_bounds
from mlwarden.monitors.kpi_rows import (
    EXTENSIVE,
    Arrays,
    bootstrap_terms,
    combine,
    leaf_values,
    raw_terms,
    rescale,
)
from mlwarden.schema.kpi import KpiExpression, parse_kpi
from mlwarden.schema.spec import FeatureKind, ModelSpec, Task
from mlwarden.store.aggregates import Request, Volume
from mlwarden.store.kpi_aggregates import KpiTerms

__all__ = ["BOOT_REPS", "BOOT_ROWS", "Kpi"]

#: Rows per bootstrap draw of the reference, and draws (kept in the fitted state).
BOOT_ROWS = 2000
BOOT_REPS = 400
#: Rows per draw and draws that measure the KPI's skewness (see ``_skewness``).
SKEW_ROWS = 100
SKEW_REPS = 1000


@MONITORS.register
class Kpi(Monitor):
    """A business KPI ``name`` computed by ``expression`` from each window's predictions,
    scores, labels and features (see docs/kpi.md), alerting when it moves ``direction``
    ('up', 'down' or 'both') beyond what chance gives at the window's size (a bootstrap of
    the KPI over the reference, to the false-alarm budget) and by at least ``min_change`` of
    its expected value; or beyond a fixed ``threshold``. A KPI that reads the label is judged
    once ``min_labelled`` of the window's events have labels; before, it is partial.

    Examples
    --------
    >>> Kpi(name="revenue_per_1k", expression="1000 * sum(revenue) / count()").id
    'kpi:revenue_per_1k'
    """

    kind: ClassVar[str] = "kpi"
    objective: ClassVar[Objective] = Objective.PERFORMANCE
    family: ClassVar[str] = "business"
    tab: ClassVar[str] = "performance"
    batch: ClassVar[bool] = True
    severity: ClassVar[Severity] = Severity.HIGH

    def __init__(
        self,
        name: str,
        expression: str,
        *,
        direction: str = "both",
        threshold: float | None = None,
        min_change: float = 0.05,
        min_labelled: float = 0.9,
        window: str | None = None,
    ) -> None:
        self.name = name
        self.expression = expression
        self.direction = direction
        self.threshold = threshold
        self.min_change = min_change
        self.min_labelled = min_labelled
        self.window = window

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.name}"

    @property
    def label(self) -> str:
        """The name in words ("expected loss" for ``expected_loss``)."""
        return str(self.name).replace("_", " ")

    # -- configuration checks -------------------------------------------------------------------
    def check(self, spec: ModelSpec, *, where: str) -> None:
        check_kpi_name(self.name, where=f"{where}.name")
        self._parse(spec, where=f"{where}.expression")
        if self.direction not in DIRECTIONS:
            raise ConfigError(
                expected(
                    "field",
                    f"{where}.direction",
                    f"be one of {', '.join(DIRECTIONS)}",
                    self.direction,
                )
            )
        if self.threshold is not None and self.direction == "both":
            raise ConfigError(
                expected(
                    "field",
                    f"{where}.direction",
                    "be 'up' or 'down' with a fixed 'threshold'",
                    self.direction,
                )
            )
        if not (isinstance(self.min_change, int | float) and self.min_change >= 0):
            raise ConfigError(
                expected("field", f"{where}.min_change", "be a number >= 0", self.min_change)
            )
        if not (isinstance(self.min_labelled, int | float) and 0 <= self.min_labelled <= 1):
            raise ConfigError(
                expected(
                    "field", f"{where}.min_labelled", "be a number from 0 to 1", self.min_labelled
                )
            )

    def _parse(self, spec: ModelSpec, *, where: str) -> KpiExpression:
        return parse_kpi(
            self.expression, columns={*spec.feature_names, *spec.tag_columns}, where=where
        )

    # -- fit --------------------------------------------------------------------------------------
    def fit(self, ctx: FitContext) -> Self:
        """The KPI on the reference and the aggregates of :data:`BOOT_REPS` draws of
        :data:`BOOT_ROWS` reference rows (the null law at any window size follows from them)."""
        spec = ctx.spec
        self.check(spec, where=f"monitor {self.id}")
        e = self._parse(spec, where=f"monitor {self.id}.expression")
        cols, rows = _reference_arrays(e, ctx)
        if rows < self.min_rows:
            raise ConfigError(
                f"The reference has {rows} rows for KPI {self.name!r}"
                + (" with a label" if e.uses_label else "")
                + f"; at least {self.min_rows} are needed."
            )
        full = raw_terms(e, cols, rows=rows)
        leaves = leaf_values(e, full)
        centers = []
        for a, raw, v in zip(e.aggregates, full, leaves, strict=True):
            if a.func in EXTENSIVE:
                centers.append(float(raw[0] or 0.0) / rows)
            else:
                centers.append(float(v))
        size = min(BOOT_ROWS, rows)
        draws = leaf_values(e, bootstrap_terms(e, cols, rows=rows, size=size, reps=BOOT_REPS))
        self.label_column_ = "actual_value" if spec.task is Task.REGRESSION else "actual"
        self.columns_ = sorted({*spec.feature_names, *spec.tag_columns})
        self.reference_value_ = _finite(combine(e, leaves))
        self.n_reference_ = rows
        self.boot_rows_ = size
        self.centers_ = [_finite(c) for c in centers]
        self.draws_ = [[_finite(x) for x in np.asarray(d).tolist()] for d in draws]
        self.skew_rows_, self.skew_ = _skewness(e, cols, rows, centers)
        self.calibration_ = self.calibration_of(ctx).to_dict()
        return self

    def _expression(self) -> KpiExpression:
        return parse_kpi(self.expression, columns=self.columns_)

    def requests(self) -> list[Request]:
        e = self._expression()
        return [Volume(), KpiTerms(e, labelled=e.uses_label, label=self.label_column_)]

    # -- thresholds -------------------------------------------------------------------------------
    def bounds(self, n: int) -> dict[str, float | None]:
        """The KPI expected at ``n`` rows and its (alert, warn) bounds below and above."""
        e = self._expression()
        leaves = [np.asarray([np.nan if x is None else x for x in d], float) for d in self.draws_]
        centers = [np.nan if c is None else c for c in self.centers_]
        draws, expect = rescale(
            e, leaves, centers, size=self.boot_rows_, n=n, reference_rows=self.n_reference_
        )
        with np.errstate(all="ignore"):
            values = np.asarray(combine(e, draws), float)
            center = float(combine(e, expect))
        values = values[np.isfinite(values)]
        sd = float(np.std(values)) if len(values) > 1 else 0.0
        # a sum's or a mean's skewness goes as 1/sqrt(rows): that of the small draws, moved
        skew = (self.skew_ or 0.0) * math.sqrt(self.skew_rows_ / max(n, 1))
        return kpi_bounds(center, sd, mon=self, skew=skew)

    def threshold_plan(self, rows: int) -> ThresholdPlan:
        n = max(rows, self.min_rows)
        b = self.bounds(n)
        up = self.direction != "down"
        cal = Calibration(**self.calibration_)
        how = (
            f"The KPI expected at {n:,} events from the reference "
            f"({_fmt(self.reference_value_)} on {self.n_reference_:,} rows), plus or minus what "
            "chance "
            "gives at the window's size (a bootstrap of the reference, moved to each window's "
            f"size) with the monitor's share of the false-alarm budget, and at least "
            f"{self.min_change:.0%} of the expected value."
        )
        if self.threshold is not None:
            how = f"Fixed in the spec: alerts {self.direction} of {self.threshold:g}."
        return ThresholdPlan(
            how=how,
            threshold=b["high"] if up else b["low"],
            warn=b["high_warn"] if up else b["low_warn"],
            direction="above" if up else "below",
            reference=b["expected"],
            false_alerts_per_month=None
            if self.threshold is not None
            else cal.per_month(cal.alpha, window=self.window_length()),
        )

    # -- evaluate ---------------------------------------------------------------------------------
    def evaluate(self, data: WindowData) -> Result:
        e = self._expression()
        raw = data.get(KpiTerms(e, labelled=e.uses_label, label=self.label_column_))
        total = data.n
        if total == 0:
            return self.result(data, Status.NO_DATA, reason="No events in this window.")
        n = int(raw["n"]) if raw else 0
        what = "labelled events" if e.uses_label else "events"
        share = n / total if e.uses_label else 1.0
        details: dict[str, Any] = {"kpi": self.name, "events": total}
        if e.uses_label:
            details |= {"labelled": n, "labelled_share": round(share, 4), "partial": False}
        if n == 0:
            details["partial"] = e.uses_label
            return self.result(
                data, Status.NO_DATA, details=details, reason=f"No {what} in this window yet."
            )
        with np.errstate(all="ignore"):
            value = float(combine(e, leaf_values(e, raw["terms"])))
        if not math.isfinite(value):
            return self.result(
                data,
                Status.INSUFFICIENT_DATA,
                n=n,
                details=details,
                reason=f"{self.label} is undefined in this window (a division by zero, or an "
                "aggregate with no rows to read).",
            )
        if n < self.min_rows:
            return self.result(
                data,
                Status.INSUFFICIENT_DATA,
                value=value,
                n=n,
                details=details,
                reason=f"{n} {what}; at least {self.min_rows} are needed.",
            )
        if share < self.min_labelled:
            details["partial"] = True
            return self.result(
                data,
                Status.INSUFFICIENT_DATA,
                value=value,
                n=n,
                details=details,
                reason=f"Partial: {share:.0%} of the window's {total:,} events have labels; "
                f"{self.label} is judged when {self.min_labelled:.0%} do.",
            )
        return judge(self, data, value, n, what=what, details=details)


def _skewness(
    e: KpiExpression, cols: Arrays, rows: int, centers: list[float]
) -> tuple[int, float | None]:
    """(rows, skewness) of the KPI over :data:`SKEW_REPS` draws of :data:`SKEW_ROWS` reference
    rows: small draws, where the skewness is large enough to measure (at the 2,000 rows of the
    threshold's draws it hides in the noise of 400 draws)."""
    size = min(SKEW_ROWS, rows)
    raw = bootstrap_terms(e, cols, rows=rows, size=size, reps=SKEW_REPS, seed=1)
    leaves, _ = rescale(e, leaf_values(e, raw), centers, size=size, n=size, reference_rows=rows)
    with np.errstate(all="ignore"):
        v = np.asarray(combine(e, leaves), float)
    v = v[np.isfinite(v)]
    sd = float(np.std(v)) if len(v) > 2 else 0.0
    if sd <= 0:
        return size, None
    return size, _finite(np.mean(((v - v.mean()) / sd) ** 3))


def _fmt(x: float | None) -> str:
    return "undefined" if x is None else f"{x:.4g}"


def _finite(x: Any) -> float | None:
    v = float(x)
    return v if math.isfinite(v) else None


def _reference_arrays(e: KpiExpression, ctx: FitContext) -> tuple[Arrays, int]:
    """The reference's columns the KPI reads, as the events store them (labels and categories
    as their canonical strings, numbers and booleans as floats); with a label, only the
    rows that have one."""
    spec = ctx.spec
    names = {"prediction": spec.prediction, "score": spec.score, "actual": spec.target}
    cols: dict[str, Any] = {}
    for name in sorted(e.columns):
        source = names.get(name, name)
        if source is None or ctx.column(source) is None:
            raise ConfigError(
                f"The KPI reads {name!r}, which the reference does not have"
                + (f" (as {source!r})" if source and source != name else "")
                + "."
            )
        feature = spec.feature(source) if name not in names else None
        numeric = (
            (name in ("prediction", "actual") and spec.task is Task.REGRESSION)
            or name == "score"
            or (feature is not None and feature.kind in (FeatureKind.NUMERIC, FeatureKind.BOOLEAN))
        )
        if numeric:
            cols[name] = ctx.floats(source)
            if cols[name] is None:
                raise ConfigError(f"The KPI reads {name!r} as numbers; its values are not.")
        else:
            arr = ctx.label_array(source)
            assert arr is not None
            cols[name] = np.asarray(arr.to_pylist(), dtype=object)
    rows = ctx.reference.num_rows
    if e.uses_label:
        keep = (
            np.asarray([v is not None for v in cols["actual"]])
            if cols["actual"].dtype == object
            else ~np.isnan(cols["actual"])
        )
        cols = {k: v[keep] for k, v in cols.items()}
        rows = int(keep.sum())
    return cols, rows
