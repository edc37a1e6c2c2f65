"""Fairness: do the groups of a sensitive attribute get positive predictions, and errors, at
similar rates?

One monitor judges one metric of one attribute (see :data:`METRICS`): the disparate-impact
ratio (lowest selection rate over the highest, the four-fifths rule), the false positive rate
difference, the false negative rate difference, equal opportunity (true positive rate
difference) or equalised odds (the larger of the TPR and FPR differences), all as fairlearn
computes them on the same rows.

One story for the value, the threshold and the verdict: groups with fewer than ``min_group``
rows behind their rate (all rows for a selection rate, actual negatives for a false positive
rate, actual positives for a true / false negative rate; more when :data:`MIN_EXPECTED`
events at the pooled rate need more) are left out of the value, of the
reference value and of the significance test alike, and listed in the details. A value past
its threshold alerts only when the gap between the two groups that set it is beyond chance at
the calibrated per-window alpha; otherwise the status and the reason say that it is past the
threshold but not significant at these group sizes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import timedelta
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
from mlwarden.schema.spec import Task
from mlwarden.stats import fairness as fr
from mlwarden.stats.thresholds import per_window_alpha
from mlwarden.store.aggregates import GroupConfusion, Request

__all__ = ["METRICS", "MIN_EXPECTED", "POLICIES", "Fairness", "FairnessMetric", "group_counts"]

#: Fewest events on the rarer side of a group's rate (selected or not, a false positive or
#: not) at the pooled rate for the group to be judged: the usual n*p >= 5 of the normal
#: approximation the significance test makes.
MIN_EXPECTED = 5


@dataclass(frozen=True)
class FairnessMetric:
    """How one fairness metric is read from per-group rates."""

    label: str
    #: per-group rates compared (``GroupMetrics`` fields); two for equalised odds
    rates: tuple[str, ...]
    #: "ratio" (lowest over highest, alert below) or "difference" (highest minus lowest,
    #: alert above)
    form: str
    #: the absolute policy's default limit
    limit: float
    why: str


_SIZE = {
    "selection_rate": ("count", "rows"),
    "false_positive_rate": ("n_negative", "actual negatives"),
    "true_positive_rate": ("n_positive", "actual positives"),
    "false_negative_rate": ("n_positive", "actual positives"),
}
#: which end of a rate is the disadvantaged group's (a low selection or true positive rate,
#: a high false positive or false negative rate; positive predictions read as the decision
#: the metric is about, e.g. "flagged high risk" for error rates)
_WORSE_HIGH = {"false_positive_rate": True, "false_negative_rate": True}
_RATE_LABEL = {
    "selection_rate": "selection rate",
    "false_positive_rate": "false positive rate",
    "true_positive_rate": "true positive rate",
    "false_negative_rate": "false negative rate",
}

METRICS: dict[str, FairnessMetric] = {
    "disparate_impact": FairnessMetric(
        "disparate impact",
        ("selection_rate",),
        "ratio",
        fr.FOUR_FIFTHS,
        "lowest group selection rate over the highest, against the four-fifths rule",
    ),
    "fpr_difference": FairnessMetric(
        "false positive rate difference",
        ("false_positive_rate",),
        "difference",
        0.1,
        "highest group false positive rate minus the lowest",
    ),
    "fnr_difference": FairnessMetric(
        "false negative rate difference",
        ("false_negative_rate",),
        "difference",
        0.1,
        "highest group false negative rate minus the lowest",
    ),
    "equal_opportunity": FairnessMetric(
        "equal opportunity difference",
        ("true_positive_rate",),
        "difference",
        0.1,
        "highest group true positive rate minus the lowest",
    ),
    "equalized_odds": FairnessMetric(
        "equalized odds difference",
        ("true_positive_rate", "false_positive_rate"),
        "difference",
        0.1,
        "the larger of the true and false positive rate differences between groups",
    ),
}
#: absolute: judged against ``limit``; reference: against the reference value moved by
#: ``margin``; auto: absolute when the reference meets the limit, else the reference
POLICIES = ("auto", "absolute", "reference")


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


@dataclass(frozen=True)
class _Gap:
    """One rate's value across the groups kept: the worst and the best group."""

    rate: str
    value: float
    worse: str
    better: str
    worse_rate: float
    better_rate: float
    worse_n: int
    better_n: int


def _gap(metrics: dict[str, fr.GroupMetrics], rate: str, form: str) -> _Gap | None:
    size = _SIZE[rate][0]
    vals = {g: (float(getattr(m, rate)), int(getattr(m, size))) for g, m in metrics.items()}
    if len(vals) < 2:
        return None
    lo = min(vals, key=lambda g: (vals[g][0], g))
    hi = max(vals, key=lambda g: (vals[g][0], g))
    worse, better = (hi, lo) if _WORSE_HIGH.get(rate) else (lo, hi)
    if form == "ratio":
        if vals[hi][0] <= 0:
            return None
        value = vals[lo][0] / vals[hi][0]
    else:
        value = vals[hi][0] - vals[lo][0]
    return _Gap(
        rate, value, worse, better, vals[worse][0], vals[better][0], vals[worse][1], vals[better][1]
    )


def _p_value(gap: _Gap, form: str, bound: float) -> float:
    """Chance of a gap at least this wide when the true metric sits at ``bound``."""
    lo, hi = sorted(
        [(gap.worse_rate, gap.worse_n), (gap.better_rate, gap.better_n)], key=lambda x: x[0]
    )
    if form == "ratio":
        return fr.ratio_p_value(lo, hi, bound=bound) if bound > 0 else 1.0
    return fr.difference_p_value(lo, hi, bound=bound)


@MONITORS.register
class Fairness(Monitor):
    """Fairness of a binary classifier across a sensitive attribute: one metric (disparate
    impact, false positive / false negative rate difference, equal opportunity or equalised
    odds) against an absolute policy (the four-fifths rule, a maximum difference) or against
    the reference, on labelled events; groups under ``min_group`` rows are left out.

    Examples
    --------
    >>> Fairness(column="gender").id
    'fairness:gender'
    >>> Fairness("race", metric="fpr_difference").id
    'fairness:race:fpr_difference'
    """

    kind: ClassVar[str] = "fairness"
    objective: ClassVar[Objective] = Objective.FAIRNESS
    family: ClassVar[str] = "fairness"
    tab: ClassVar[str] = "fairness"
    batch: ClassVar[bool] = True
    severity: ClassVar[Severity] = Severity.HIGH
    min_rows: ClassVar[int] = 100

    def __init__(
        self,
        column: str,
        *,
        metric: str = "disparate_impact",
        policy: str = "auto",
        limit: float | None = None,
        margin: float = 0.05,
        min_group: int = 30,
        window: str | None = None,
    ) -> None:
        self.column = column
        self.metric = metric
        self.policy = policy
        self.limit = limit
        self.margin = margin
        self.min_group = min_group
        self.window = window

    @property
    def id(self) -> str:
        base = f"{self.kind}:{self.column}"
        return base if self.metric == "disparate_impact" else f"{base}:{self.metric}"

    @property
    def _metric(self) -> FairnessMetric:
        if self.metric not in METRICS:
            raise ConfigError(
                expected("parameter", "metric", f"be one of {', '.join(METRICS)}", self.metric)
            )
        return METRICS[self.metric]

    def _limit(self) -> float:
        return self._metric.limit if self.limit is None else float(self.limit)

    def _check(self) -> None:
        m = self._metric
        if self.policy not in POLICIES:
            raise ConfigError(
                expected("parameter", "policy", f"be one of {', '.join(POLICIES)}", self.policy)
            )
        lim = self._limit()
        if not (0.0 < lim <= 1.0 if m.form == "ratio" else 0.0 <= lim < 1.0):
            span = "(0, 1]" if m.form == "ratio" else "[0, 1)"
            raise ConfigError(expected("parameter", "limit", f"be in {span}", lim))
        if not 0.0 <= self.margin < 1.0:
            raise ConfigError(expected("parameter", "margin", "be in [0, 1)", self.margin))
        if self.min_group < 1:
            raise ConfigError(expected("parameter", "min_group", "be at least 1", self.min_group))

    # -- the metric on per-group counts ---------------------------------------------------------
    def _needs(self, gc: fr.GroupCounts) -> dict[str, int]:
        """Fewest rows behind each rate of the metric for a group to be judged: ``min_group``,
        and enough that a rate near the pooled one has ``MIN_EXPECTED`` events on its rarer
        side (the normal approximation the test makes holds; a 31-row group selected at 10%
        has 3 selections and swings the ratio from 0.25 to 0.8 between windows)."""
        tp, fp, fn, tn = (sum(getattr(gc, f)) for f in ("tp", "fp", "fn", "tn"))
        hits = {
            "selection_rate": (tp + fp, tp + fp + fn + tn),
            "false_positive_rate": (fp, fp + tn),
            "true_positive_rate": (tp, tp + fn),
            "false_negative_rate": (fn, tp + fn),
        }
        out = {}
        for rate in self._metric.rates:
            k, n = hits[rate]
            rare = min(k, n - k) / n if n else 0.0
            need = math.ceil(MIN_EXPECTED / rare) if rare > 0 else 0
            out[rate] = max(self.min_group, need)
        return out

    def _split(
        self, gc: fr.GroupCounts
    ) -> tuple[dict[str, fr.GroupMetrics], dict[str, int], dict[str, int]]:
        """Groups with enough rows behind every rate of the metric, those left out (with the
        smallest count behind their rates) and the rows each rate needs."""
        needs = self._needs(gc)
        kept: dict[str, fr.GroupMetrics] = {}
        out: dict[str, int] = {}
        for g, m in fr.group_metrics(gc).items():
            sizes = {r: int(getattr(m, _SIZE[r][0])) for r in self._metric.rates}
            if all(sizes[r] >= needs[r] for r in sizes):
                kept[str(g)] = m
            else:
                out[str(g)] = min(sizes.values())
        return kept, out, needs

    def _measure(self, kept: dict[str, fr.GroupMetrics]) -> _Gap | None:
        """The metric's value on the kept groups, with the pair of groups that sets it."""
        m = self._metric
        gaps = [_gap(kept, r, m.form) for r in m.rates]
        if any(g is None for g in gaps):
            return None
        return max((g for g in gaps if g is not None), key=lambda g: g.value)

    def _past(self, value: float, bound: float) -> bool:
        return value < bound if self._metric.form == "ratio" else value > bound

    # -- fit / evaluate ---------------------------------------------------------------------
    def fit(self, ctx: FitContext) -> Self:
        self._check()
        spec = ctx.spec
        if spec.task is not Task.BINARY:
            raise ConfigError(
                f"Fairness of {self.column!r} is judged on a binary classifier's decisions; this "
                f"model is a {spec.task.value} model (compare its groups' performance by "
                f"segmenting on {self.column!r} instead)."
            )
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
        kept, out, _ = self._split(gc)
        gap = self._measure(kept)
        self.reference_value_ = None if gap is None else float(gap.value)
        self.reference_left_out_ = out
        lim = self._limit()
        meets = self.reference_value_ is None or not self._past(self.reference_value_, lim)
        self.policy_ = (
            self.policy if self.policy != "auto" else ("absolute" if meets else "reference")
        )
        self.calibration_ = self.calibration_of(ctx).to_dict()
        return self

    def bounds(self, rows: int = 0) -> tuple[float, float]:
        """(alert, warn) thresholds of the fitted monitor (the same at every window size: the
        window size enters through the significance test)."""
        del rows
        ratio = self._metric.form == "ratio"
        learned = self.learned()  # before fitting: the limit (the auto policy's usual outcome)
        ref = learned.get("reference_value_")
        if learned.get("policy_", self.policy) == "reference" and ref is not None:
            alert = ref - self.margin if ratio else ref + self.margin
        else:
            alert = self._limit()
        warn = alert + self.margin / 2 if ratio else alert - self.margin / 2
        return round(alert, 12), round(min(max(warn, 0.0), 1.0), 12)

    def threshold_plan(self, rows: int) -> ThresholdPlan:
        del rows
        alert, warn = self.bounds()
        m = self._metric
        side = "below" if m.form == "ratio" else "above"
        lim = self._limit()
        rule = (
            "the four-fifths rule" if m.form == "ratio" and lim == fr.FOUR_FIFTHS else "the limit"
        )
        ref = self.reference_value_
        ref_txt = "undefined" if ref is None else f"{ref:.3f}"
        if self.policy_ == "reference" and ref is not None:
            how = (
                f"The reference already fails {rule} ({lim:g}): its {m.label} is {ref_txt}, so "
                f"the monitor alerts {self.margin:g} {side} it, at {alert:.3f}, when a window "
                "is significantly past that."
            )
        else:
            how = (
                f"{rule[0].upper()}{rule[1:]}: alerts {side} {alert:g} when a window is "
                f"significantly past it (reference {ref_txt})."
            )
        cal = Calibration(**self.calibration_)
        return ThresholdPlan(
            how=how,
            threshold=alert,
            warn=warn,
            direction=side,
            reference=ref,
            false_alerts_per_month=cal.per_month(cal.alpha),
        )

    def explain(self) -> str:
        m = self._metric
        lim = self._limit()
        rule = "the four-fifths rule, " if m.form == "ratio" and lim == fr.FOUR_FIFTHS else ""
        side = "below" if m.form == "ratio" else "above"
        policy = {
            "absolute": f"alerts {side} {rule}{lim:g}",
            "reference": f"alerts {self.margin:g} {'below' if m.form == 'ratio' else 'above'} "
            "its reference value",
            "auto": f"alerts {side} {rule}{lim:g}, or {self.margin:g} past the reference "
            "value when the reference already fails that",
        }[self.policy]
        fitted = self.learned().get("policy_")
        if fitted is not None:
            ref = self.reference_value_
            ref_txt = "undefined" if ref is None else f"{ref:.3f}"
            policy += f" (reference {ref_txt}: judged by the {fitted} policy)"
        unit = _SIZE[m.rates[0]][1] if len(m.rates) == 1 else "actual positives or negatives"
        return (
            f"{m.label[0].upper()}{m.label[1:]} across {self.column!r} ({m.why}); {policy}; "
            f"groups under {self.min_group} {unit} are left out."
        )

    def requests(self) -> list[Request]:
        return [GroupConfusion(self.column)]

    def _left_out_text(self, out: dict[str, int], needs: dict[str, int]) -> str:
        if not out:
            return ""
        rates = self._metric.rates
        unit = _SIZE[rates[0]][1] if len(rates) == 1 else "actual positives or negatives"
        need = max(needs.values())
        why = (
            ""
            if need <= self.min_group
            else f" (the fewest to measure a rate near the pooled "
            f"{'/'.join(_RATE_LABEL[r] for r in rates)})"
        )
        listed = ", ".join(f"{g!r} ({n})" for g, n in sorted(out.items())[:5])
        more = f" and {len(out) - 5} more" if len(out) > 5 else ""
        return f"; left out under {need} {unit}{why}: {listed}{more}"

    def evaluate(self, data: WindowData) -> Result:
        rows = data.get(GroupConfusion(self.column)) or []
        n = sum(int(r[-1]) for r in rows)
        gated = self.gate(data, n, what="labelled events")
        if gated is not None:
            if gated.status is Status.INSUFFICIENT_DATA:  # say what window would be enough
                days = data.window.length / timedelta(days=1)
                enough = math.ceil(self.min_rows / n * days)
                gated = replace(
                    gated,
                    reason=f"{gated.reason[:-1]}: at this rate a window of {enough} days "
                    "would hold enough (set 'window' on this monitor, or send labels sooner).",
                )
            return gated
        m = self._metric
        gc = group_counts(rows, self.positive_)
        all_metrics = fr.group_metrics(gc)
        kept, out, needs = self._split(gc)
        groups = {
            str(g): {
                "selection_rate": gm.selection_rate,
                "tpr": gm.true_positive_rate,
                "fpr": gm.false_positive_rate,
                "fnr": gm.false_negative_rate,
                "count": gm.count,
                "left_out": str(g) in out,
            }
            for g, gm in all_metrics.items()
        }
        details: dict[str, Any] = {
            "metric": self.metric,
            "metric_label": m.label,
            "policy": self.policy_,
            "reference_value": self.reference_value_,
            "groups": groups,
            "left_out": out,
            "min_group": self.min_group,
            "rows_needed": needs,
        }
        left = self._left_out_text(out, needs)
        gap = self._measure(kept)
        if gap is None:
            why = (
                f"only {len(kept)} group(s) of {self.column!r} have enough rows"
                if len(kept) < 2
                else f"no group of {self.column!r} has a positive {_RATE_LABEL[m.rates[0]]}"
            )
            return self.result(
                data,
                Status.INSUFFICIENT_DATA,
                n=n,
                details=details,
                reason=f"No {m.label} to judge: {why}{left}.",
            )
        alert, warn = self.bounds()
        cal = Calibration(**self.calibration_)
        alpha = per_window_alpha(cal.parsed_budget, window=cal.cadence, monitors=cal.monitors)
        p_alert = _p_value(gap, m.form, alert)
        p_warn = _p_value(gap, m.form, warn)
        if len(m.rates) > 1:  # equalised odds: either of two rates may set it
            p_alert, p_warn = min(1.0, 2 * p_alert), min(1.0, 2 * p_warn)
        value = gap.value
        status = Status.OK
        if self._past(value, alert) and p_alert < alpha:
            status = Status.ALERT
        elif self._past(value, warn) and p_warn < min(10 * alpha, 0.5):
            status = Status.WARN
        rate = _RATE_LABEL[gap.rate]
        unit = _SIZE[gap.rate][1]
        end = "highest" if _WORSE_HIGH.get(gap.rate) else "lowest"
        who = (
            f"{gap.worse!r} has the {end} {rate}, {gap.worse_rate:.3f} ({gap.worse_n} {unit}), "
            f"against {gap.better_rate:.3f} for {gap.better!r} ({gap.better_n})"
        )
        side = "below" if m.form == "ratio" else "above"
        ref = self.reference_value_
        policy = (
            f"reference {ref:.3f}, so judged against it"
            if self.policy_ == "reference" and ref is not None
            else f"absolute policy{'' if ref is None else f', reference {ref:.3f}'}"
        )
        head = f"{m.label} {value:.3f} across {self.column!r}"
        if status is Status.ALERT:
            verdict = f"{side} its threshold {alert:.3f} (p={p_alert:.2g})"
        elif status is Status.WARN and self._past(value, alert):
            verdict = (
                f"{side} its threshold {alert:.3f}, significantly only {side} its warning "
                f"level {warn:.3f} at these group sizes (p={p_warn:.2g})"
            )
        elif status is Status.WARN:
            verdict = f"{side} its warning level {warn:.3f} (p={p_warn:.2g})"
        elif self._past(value, alert) or self._past(value, warn):
            bound = alert if self._past(value, alert) else warn
            what = "threshold" if bound == alert else "warning level"
            verdict = (
                f"{side} its {what} {bound:.3f} but not significantly at these group sizes "
                f"(p={p_alert if bound == alert else p_warn:.2g}), so ok until more rows show it"
            )
        else:
            verdict = f"within its threshold {alert:.3f}"
        details |= {
            "disadvantaged_group": gap.worse,
            "compared_group": gap.better,
            "rate": gap.rate,
            "disadvantaged_rate": gap.worse_rate,
            "compared_rate": gap.better_rate,
            "gap_p_value": p_alert,
            "alpha": alpha,
            "equalized_odds_difference": fr.equalized_odds_difference(gc.only(kept)),
            "disparate_impact": fr.disparate_impact_ratio(gc.only(kept)),
        }
        return self.result(
            data,
            status,
            value=float(value),
            threshold=alert,
            warn=warn,
            n=n,
            direction=side,
            details=details,
            reason=f"{head} is {verdict}: {who} ({policy}){left}.",
        )
