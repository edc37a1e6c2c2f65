"""Fairness: do groups of a sensitive attribute get positive predictions at similar rates?"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Self

from mlwarden.errors import ConfigError
from mlwarden.monitors.base import MONITORS, Monitor, Objective, Result, Severity, Status
from mlwarden.monitors.context import Calibration, FitContext, WindowData
from mlwarden.schema.spec import Task
from mlwarden.stats import fairness as fr
from mlwarden.stats.tails import norm_sf
from mlwarden.stats.thresholds import per_window_alpha
from mlwarden.store.aggregates import GroupConfusion, Request

__all__ = ["Fairness", "group_counts"]


MIN_GROUP = 30


def _below_p_value(metrics: dict[Any, Any], bound: float, min_group: int) -> float | None:
    """One-sided p-value of "the disparate-impact ratio is at least ``bound``" (delta method
    on the log of the lowest over the highest selection rate; groups under ``min_group`` rows
    left out), so a noisy small group does not fire on its own."""
    big = [m for m in metrics.values() if m.count >= min_group and m.selection_rate]
    if len(big) < 2:
        return None
    lo = min(big, key=lambda m: m.selection_rate)
    hi = max(big, key=lambda m: m.selection_rate)
    var = sum((1 - m.selection_rate) / (m.count * m.selection_rate) for m in (lo, hi))
    if var <= 0:
        return None
    z = (math.log(bound) - math.log(lo.selection_rate / hi.selection_rate)) / math.sqrt(var)
    return norm_sf(z)


def group_counts(rows: list[tuple[Any, ...]], positive: str) -> fr.GroupCounts:
    """(group, actual, prediction, n) rows to per-group confusion counts."""
    acc: dict[str, list[int]] = {}
    for g, a, p, n in rows:
        if g is None:
            continue
        c = acc.setdefault(str(g), [0, 0, 0, 0])
        ap, pp = str(a) == positive, str(p) == positive
        c[0 if ap and pp else 1 if pp else 2 if ap else 3] += int(n)
    return fr.GroupCounts.from_rows([(g, c[0], c[1], c[2], c[3]) for g, c in acc.items()])


@MONITORS.register
class Fairness(Monitor):
    """Disparate-impact ratio of a sensitive attribute (lowest group selection rate over the
    highest) on labelled events, with equalized-odds difference in the details: alerts below the
    four-fifths rule (0.8), or below the reference when the reference itself is lower.

    Examples
    --------
    >>> Fairness(column="gender").id
    'fairness:gender'
    """

    kind: ClassVar[str] = "fairness"
    objective: ClassVar[Objective] = Objective.FAIRNESS
    severity: ClassVar[Severity] = Severity.HIGH
    min_rows: ClassVar[int] = 100

    def __init__(self, column: str, *, min_ratio: float = 0.8, margin: float = 0.05) -> None:
        self.column = column
        self.min_ratio = min_ratio
        self.margin = margin

    def fit(self, ctx: FitContext) -> Self:
        spec = ctx.spec
        if spec.task is not Task.BINARY:
            raise ConfigError("Fairness monitors need a binary classifier.")
        if not (spec.target and spec.prediction) or ctx.column(self.column) is None:
            raise ConfigError(
                f"Fairness of {self.column!r} needs it, the target and the prediction in the reference."
            )
        self.positive_ = spec.effective_positive_class or "1"
        groups, y, p = ctx.labels(self.column), ctx.labels(spec.target), ctx.labels(spec.prediction)
        assert groups is not None and y is not None and p is not None
        tally: dict[tuple[str, str, str], int] = {}
        for g, a, q in zip(groups, y, p, strict=True):
            if g is not None and a is not None and q is not None:
                tally[(g, a, q)] = tally.get((g, a, q), 0) + 1
        gc = group_counts([(g, a, q, n) for (g, a, q), n in tally.items()], self.positive_)
        ratio = fr.disparate_impact_ratio(gc)
        self.reference_ratio_ = None if ratio is None else float(ratio)
        self.calibration_ = ctx.calibration.to_dict()
        return self

    def requests(self) -> list[Request]:
        return [GroupConfusion(self.column)]

    def evaluate(self, data: WindowData) -> Result:
        rows = data.get(GroupConfusion(self.column)) or []
        n = sum(int(r[-1]) for r in rows)
        if n == 0:
            return self.result(
                data, Status.NO_DATA, reason="No labelled events in this window yet."
            )
        if n < self.min_rows:
            return self.result(
                data,
                Status.INSUFFICIENT_DATA,
                n=n,
                reason=f"{n} labelled events; at least {self.min_rows} are needed.",
            )
        gc = group_counts(rows, self.positive_)
        ratio = fr.disparate_impact_ratio(gc)
        if ratio is None:
            return self.result(
                data, Status.INSUFFICIENT_DATA, n=n, reason="No positive predictions in any group."
            )
        ref = self.reference_ratio_ if self.reference_ratio_ is not None else 1.0
        alert = min(self.min_ratio, ref - self.margin)
        warn = min(self.min_ratio + 0.05, ref - self.margin / 2)
        metrics = fr.group_metrics(gc)
        groups = {
            str(g): {
                "selection_rate": m.selection_rate,
                "tpr": m.true_positive_rate,
                "fpr": m.false_positive_rate,
                "count": m.count,
            }
            for g, m in metrics.items()
        }
        # a small group's selection rate is noisy: the gap must also be beyond chance
        cal = Calibration(**self.calibration_)
        alpha = per_window_alpha(cal.parsed_budget, window=cal.cadence, monitors=cal.monitors)
        p_gap = _below_p_value(metrics, alert, MIN_GROUP)
        p_warn = _below_p_value(metrics, warn, MIN_GROUP)
        status = Status.OK
        if ratio < alert and p_gap is not None and p_gap < alpha:
            status = Status.ALERT
        elif ratio < warn and p_warn is not None and p_warn < min(10 * alpha, 0.5):
            status = Status.WARN
        eod = fr.equalized_odds_difference(gc)
        return self.result(
            data,
            status,
            value=float(ratio),
            threshold=alert,
            warn=warn,
            n=n,
            direction="below",
            details={
                "groups": groups,
                "equalized_odds_difference": eod,
                "reference_ratio": self.reference_ratio_,
                "gap_p_value": p_gap,
            },
            reason=f"disparate impact {ratio:.3f} across {self.column!r} (reference "
            f"{ref:.3f}, threshold {alert:.3f})",
        )
