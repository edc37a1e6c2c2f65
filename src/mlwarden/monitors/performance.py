"""Model performance with labels: has a metric fallen below what chance allows?"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any, ClassVar, Self

import numpy as np

from mlwarden.errors import ConfigError
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
from mlwarden.stats import classification as cl
from mlwarden.stats import regression as rg
from mlwarden.stats.tails import norm_isf
from mlwarden.stats.thresholds import per_window_alpha
from mlwarden.store.aggregates import Confusion, Regression, Request, ScoreBins

__all__ = ["METRICS", "Performance", "score_histogram"]

#: metric -> (higher is better, tasks)
METRICS: dict[str, tuple[bool, tuple[Task, ...]]] = {
    "accuracy": (True, (Task.BINARY, Task.MULTICLASS)),
    "f1": (True, (Task.BINARY, Task.MULTICLASS)),
    "precision": (True, (Task.BINARY,)),
    "recall": (True, (Task.BINARY,)),
    "roc_auc": (True, (Task.BINARY,)),
    "mae": (False, (Task.REGRESSION,)),
    "rmse": (False, (Task.REGRESSION,)),
}
SCORE_EDGES = tuple(float(x) for x in np.linspace(0.0, 1.0, 1001))
BOOT_ROWS = 1000
BOOT_REPS = 200


def score_histogram(
    rows: list[tuple[str, int, int]], edges: tuple[float, ...], pos: str, classes: tuple[str, ...]
) -> cl.ScoreHistogram:
    """A :class:`ScoreHistogram` from (class, bin, count) rows of the store."""
    idx = {c: i for i, c in enumerate(classes)}
    mat = np.zeros((len(classes), len(edges) - 1), dtype=np.int64)
    known = [(idx[c], b, n) for c, b, n in rows if c in idx]
    if known:
        ci, bi, ni = (np.asarray(x, dtype=np.int64) for x in zip(*known, strict=True))
        np.add.at(mat, (ci, bi), ni)
    return _histogram(mat, edges, pos, classes)


def _histogram(
    mat: np.ndarray[Any, Any], edges: tuple[float, ...], pos: str, classes: tuple[str, ...]
) -> cl.ScoreHistogram:
    return cl.ScoreHistogram(
        edges=(edges,),
        score_classes=(pos,),
        classes=classes,
        counts=(tuple(map(tuple, mat.tolist())),),
    )


@MONITORS.register
class Performance(Monitor):
    """A performance metric on labelled events (accuracy, F1, ROC AUC, MAE, RMSE), alerting
    when it is worse than the reference by more than chance allows at this many labels
    (bootstrap standard error from the reference) and a minimum practical drop.

    Examples
    --------
    >>> Performance(metric="roc_auc").id
    'performance:roc_auc'
    """

    kind: ClassVar[str] = "performance"
    objective: ClassVar[Objective] = Objective.PERFORMANCE
    family: ClassVar[str] = "performance"
    tab: ClassVar[str] = "performance"
    batch: ClassVar[bool] = True
    severity: ClassVar[Severity] = Severity.HIGH
    min_rows: ClassVar[int] = 50

    def __init__(
        self,
        metric: str = "accuracy",
        *,
        threshold: float | None = None,
        min_effect: float | None = None,
        window: str | None = None,
    ) -> None:
        self.metric = metric
        self.threshold = threshold
        self.min_effect = min_effect
        self.window = window

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.metric}"

    # -- metric from aggregates ---------------------------------------------------------------
    def _compute(
        self,
        conf: list[tuple[Any, ...]] | None,
        bins: list[tuple[str, int, int]] | None,
        sums: dict[str, Any] | None,
    ) -> tuple[float | None, int]:
        m = self.metric
        if m in ("mae", "rmse"):
            if not sums or not sums.get("n"):
                return None, 0
            rs = rg.RegressionSums(
                **{
                    k: sums[k]
                    for k in (
                        "n",
                        "sum_err",
                        "sum_abs_err",
                        "sum_sq_err",
                        "n_nonzero",
                        "sum_abs_pct_err",
                        "sum_y",
                        "sum_y2",
                    )
                }
            )
            return (rg.mae(rs) if m == "mae" else rg.rmse(rs)), int(sums["n"])
        if m == "roc_auc":
            if not bins:
                return None, 0
            h = score_histogram(bins, SCORE_EDGES, self.positive_, tuple(self.classes_))
            return cl.roc_auc(h), sum(n for _, _, n in bins)
        if not conf:
            return None, 0
        return self._metric(cl.ConfusionCounts.from_pairs(conf)), sum(c for *_, c in conf)

    def _metric(self, cc: cl.ConfusionCounts) -> float | None:
        """The monitor's metric of a confusion matrix (classification metrics)."""
        m = self.metric
        if m == "accuracy":
            return cl.accuracy(cc)
        average = "binary" if self.binary_ else "macro"
        fn: Callable[..., float | None] = {
            "f1": cl.f1,
            "precision": cl.precision,
            "recall": cl.recall,
        }[m]
        kwargs: dict[str, Any] = {"average": average, "zero_division": 0.0}
        if self.binary_:
            kwargs["pos_label"] = self.positive_
        return fn(cc, **kwargs)

    def _check(self, ctx: FitContext) -> None:
        if self.metric not in METRICS:
            raise ConfigError(
                f"The 'metric' of a performance monitor must be one of "
                f"{', '.join(METRICS)}. Got {self.metric!r} instead."
            )
        spec = ctx.spec
        if spec.task not in METRICS[self.metric][1]:
            raise ConfigError(
                f"The metric {self.metric!r} does not apply to a {spec.task.value} model."
            )
        if spec.target is None or ctx.column(spec.target) is None:
            raise ConfigError(f"Monitor {self.id!r} needs a target column in the reference.")
        if spec.prediction is None or ctx.column(spec.prediction) is None:
            raise ConfigError(f"Monitor {self.id!r} needs a prediction column in the reference.")
        if self.metric == "roc_auc" and (spec.score is None or ctx.column(spec.score) is None):
            raise ConfigError("The metric 'roc_auc' needs a score column in the reference.")

    def fit(self, ctx: FitContext) -> Self:
        """The metric on the reference, and its spread per row from a bootstrap of
        :data:`BOOT_REPS` draws of :data:`BOOT_ROWS` rows, all draws counted at once."""
        self._check(ctx)
        spec = ctx.spec
        self.binary_ = spec.task is Task.BINARY
        self.higher_is_better_ = METRICS[self.metric][0]
        rng = np.random.default_rng(0)
        if self.metric in ("mae", "rmse"):
            value, n, boots = self._fit_regression(ctx, rng)
        else:
            value, n, boots = self._fit_classification(ctx, rng)
        if value is None:
            raise ConfigError(f"The reference gives no value of {self.metric!r} (one class only?).")
        self.reference_value_ = float(value)
        self.n_reference_ = n
        size = min(BOOT_ROWS, n)
        self.sd_per_row_ = float(np.std(boots) * np.sqrt(size)) if len(boots) else 0.0
        self.calibration_ = self.calibration_of(ctx).to_dict()
        return self

    def _fit_regression(
        self, ctx: FitContext, rng: np.random.Generator
    ) -> tuple[float | None, int, list[float]]:
        y, p = ctx.floats(ctx.spec.target or ""), ctx.floats(ctx.spec.prediction or "")
        if y is None or p is None:
            raise ConfigError(f"Monitor {self.id!r} needs numeric target and prediction columns.")
        keep = ~(np.isnan(y) | np.isnan(p))
        y, p = y[keep], p[keep]
        value, n = self._compute(*self._aggregates(y, p, None))
        boots = []
        if len(y):
            size = min(BOOT_ROWS, len(y))
            for idx in rng.integers(0, len(y), (BOOT_REPS, size)):
                v, _ = self._compute(*self._aggregates(y[idx], p[idx], None))
                if v is not None:
                    boots.append(v)
        return value, n, boots

    def _fit_classification(
        self, ctx: FitContext, rng: np.random.Generator
    ) -> tuple[float | None, int, list[float]]:
        import pyarrow as pa
        import pyarrow.compute as pc

        spec = ctx.spec
        ya, pa_ = ctx.label_array(spec.target or ""), ctx.label_array(spec.prediction or "")
        assert ya is not None and pa_ is not None  # _check
        keep = np.asarray(pc.and_(pc.is_valid(ya), pc.is_valid(pa_)))
        scores = ctx.floats(spec.score) if self.metric == "roc_auc" and spec.score else None
        if scores is not None:
            keep &= ~np.isnan(scores)
        seen = {v for col in (ya, pa_) for v in pc.unique(col).to_pylist() if v is not None}
        classes = tuple(spec.classes) or tuple(
            sorted(v for v in pc.unique(ya.filter(keep)).to_pylist() if v is not None)
        )
        self.classes_ = list(classes)
        self.positive_ = spec.effective_positive_class or (classes[-1] if classes else "1")
        labels = sorted(seen | set(classes))
        lookup = pa.array(labels, pa.string())
        yc = pc.index_in(ya, value_set=lookup).to_numpy(zero_copy_only=False)[keep]
        pcd = pc.index_in(pa_, value_set=lookup).to_numpy(zero_copy_only=False)[keep]
        yc, pcd = yc.astype(np.int64), pcd.astype(np.int64)
        n_rows = len(yc)
        size = min(BOOT_ROWS, n_rows)
        draws = rng.integers(0, max(n_rows, 1), (BOOT_REPS, size)) if n_rows else None
        k = len(labels)
        if self.metric == "roc_auc":
            assert scores is not None
            nb = len(SCORE_EDGES) - 1
            bins = np.clip(np.floor(scores[keep] * nb), 0, nb - 1).astype(np.int64)
            whole = np.bincount(yc * nb + bins, minlength=k * nb).reshape(k, nb)
            rows = [labels.index(c) if c in labels else -1 for c in classes]
            mat = np.stack([whole[r] if r >= 0 else np.zeros(nb, np.int64) for r in rows])
            value = cl.roc_auc(_histogram(mat, SCORE_EDGES, self.positive_, classes))
            boots: list[float] = []
            if draws is not None and self.positive_ in labels:
                flat = (np.arange(BOOT_REPS)[:, None] * k + yc[draws]) * nb + bins[draws]
                per = np.bincount(flat.ravel(), minlength=BOOT_REPS * k * nb)
                per = per.reshape(BOOT_REPS, k, nb)
                in_classes = [labels.index(c) for c in classes if c in labels]
                pos = per[:, labels.index(self.positive_), :]
                neg = per[:, in_classes, :].sum(axis=1) - pos
                aucs = cl.roc_auc_draws(pos, neg)
                boots = [float(v) for v in aucs if not np.isnan(v)]
            return value, n_rows, boots

        def conf(cells: np.ndarray[Any, Any]) -> list[tuple[str, str, int]]:
            return [(labels[i // k], labels[i % k], int(c)) for i, c in enumerate(cells) if c > 0]

        value, n = self._compute(conf(np.bincount(yc * k + pcd, minlength=k * k)), None, None)
        boots = []
        if draws is not None:
            flat = np.arange(BOOT_REPS)[:, None] * k * k + yc[draws] * k + pcd[draws]
            per = np.bincount(flat.ravel(), minlength=BOOT_REPS * k * k).reshape(BOOT_REPS, k, k)
            # each draw's matrix over the labels it holds, as ConfusionCounts.from_pairs(conf)
            # builds it (labels are sorted strings), without its per-cell label checks
            seen = (per.sum(axis=1) + per.sum(axis=2)) > 0
            fast = self._boot_metric_all(per, seen, labels)
            if fast is not None:
                return value, n, fast
            for mat, held in zip(per, seen, strict=True):
                idx = np.flatnonzero(held)
                if idx.size == 0:
                    continue
                cc = cl.ConfusionCounts(
                    tuple(labels[i] for i in idx), tuple(map(tuple, mat[np.ix_(idx, idx)].tolist()))
                )
                v = self._metric(cc)
                if v is not None:
                    boots.append(v)
        return value, n, boots

    def _boot_metric_all(
        self, per: np.ndarray[Any, Any], seen: np.ndarray[Any, Any], labels: list[str]
    ) -> list[float] | None:
        """The metric of every bootstrap draw's confusion matrix (``per[draw, actual,
        predicted]``) at once, or None where only the draw-by-draw path applies.

        The same arithmetic as :meth:`_metric` on each draw's matrix (sums of integer
        counts, one division each), so the same values: accuracy (a draw holds at least one
        row) and a binary model's precision, recall and F1 when every draw holds both labels
        (with ``zero_division=0``); a twentieth of the time of 200 confusion matrices built and
        checked one by one, twenty times in a set-up."""
        mat = per.astype(np.float64)
        if self.metric == "accuracy":
            n = mat.sum(axis=(1, 2))
            if not (n > 0).all():
                return None
            return (np.trace(mat, axis1=1, axis2=2) / n).tolist()  # type: ignore[no-any-return]
        if not (self.binary_ and len(labels) == 2 and self.positive_ in labels and seen.all()):
            return None
        i = labels.index(self.positive_)
        tp, predicted, support = mat[:, i, i], mat[:, :, i].sum(axis=1), mat[:, i, :].sum(axis=1)
        num, den = {
            "precision": (tp, predicted),
            "recall": (tp, support),
            "f1": (2.0 * tp, predicted + support),
        }[self.metric]
        out = np.zeros(len(mat))
        np.divide(num, den, out=out, where=den > 0)  # zero_division=0
        return out.tolist()

    def _aggregates(
        self, y: np.ndarray[Any, Any], p: np.ndarray[Any, Any], s: np.ndarray[Any, Any] | None
    ) -> tuple[Any, Any, Any]:
        """Regression sums of raw values (what the store's ``Regression`` request returns)."""
        yf, pf = y.astype(float), p.astype(float)
        err = pf - yf
        nz = np.abs(yf) > 1e-12
        sums = {
            "n": len(yf),
            "sum_err": float(err.sum()),
            "sum_abs_err": float(np.abs(err).sum()),
            "sum_sq_err": float((err**2).sum()),
            "n_nonzero": int(nz.sum()),
            "sum_abs_pct_err": float((np.abs(err)[nz] / np.abs(yf[nz])).sum()),
            "sum_y": float(yf.sum()),
            "sum_y2": float((yf**2).sum()),
        }
        return None, None, sums

    def requests(self) -> list[Request]:
        if self.metric in ("mae", "rmse"):
            return [Regression()]
        if self.metric == "roc_auc":
            return [ScoreBins(SCORE_EDGES, "actual")]
        return [Confusion()]

    def _worse(self, value: float, bound: float) -> bool:
        return value < bound if self.higher_is_better_ else value > bound

    def bounds(self, n: int) -> tuple[float, float]:
        """(alert, warn) thresholds for a window of ``n`` labels."""
        cal = Calibration(**self.calibration_)
        alpha = per_window_alpha(cal.parsed_budget, window=cal.cadence, monitors=cal.monitors)
        se = self.sd_per_row_ * np.sqrt(1.0 / n + 1.0 / max(self.n_reference_, 1))
        ref = self.reference_value_
        effect = (
            self.min_effect
            if self.min_effect is not None
            else (0.02 if self.higher_is_better_ else 0.05 * abs(ref))
        )
        z_a, z_w = norm_isf(alpha), norm_isf(min(10 * alpha, 0.5))
        sign = -1.0 if self.higher_is_better_ else 1.0
        alert = ref + sign * max(z_a * se, effect)
        warn = ref + sign * max(z_w * se, effect / 2)
        if self.higher_is_better_:
            # every such metric lies in [0, 1]: a bound below 0 (a window too small to show a
            # drop) reads as 0, which no value falls under either
            alert, warn = max(alert, 0.0), max(warn, 0.0)
        if self.threshold is not None:
            alert = self.threshold
        return float(alert), float(warn)

    def threshold_plan(self, rows: int) -> ThresholdPlan:
        n = max(rows, self.min_rows)
        alert, warn = self.bounds(n)
        ref = self.reference_value_
        side = "below" if self.higher_is_better_ else "above"
        if self.threshold is not None:
            return ThresholdPlan(
                how=f"Fixed in the spec: alerts {side} {self.threshold:.4g} (reference "
                f"{ref:.4g}); how often it fires on a healthy model depends on that distance.",
                threshold=alert,
                warn=warn,
                direction=side,
                reference=ref,
            )
        cal = Calibration(**self.calibration_)
        return ThresholdPlan(
            how=f"The reference's {self.metric} ({ref:.4g} on {self.n_reference_:,} rows) "
            f"{'minus' if self.higher_is_better_ else 'plus'} what chance gives at {n:,} "
            "labelled events with the monitor's share of the false-alarm budget, and at least "
            "the smallest effect worth an alert; fewer labels in a window widen it.",
            threshold=alert,
            warn=warn,
            direction=side,
            reference=ref,
            false_alerts_per_month=cal.per_month(cal.alpha),
        )

    def evaluate(self, data: WindowData) -> Result:
        req = self.requests()[0]
        raw = data.get(req)
        if isinstance(req, Regression):
            value, n = self._compute(None, None, raw)
        elif isinstance(req, ScoreBins):
            value, n = self._compute(None, raw, None)
        else:
            value, n = self._compute(raw, None, None)
        if n == 0:
            return self.result(
                data, Status.NO_DATA, reason="No labelled events in this window yet."
            )
        if value is None:
            return self.result(
                data,
                Status.INSUFFICIENT_DATA,
                n=n,
                reason=f"{self.metric} is undefined here (e.g. one class only).",
            )
        if n < self.min_rows:
            return self.result(
                data,
                Status.INSUFFICIENT_DATA,
                value=value,
                n=n,
                reason=f"{n} labelled events; at least {self.min_rows} are needed: at this "
                f"rate a window of {enough_days(self.min_rows, n, data)} days would hold enough "
                "(set 'window' on this monitor, or send labels sooner).",
            )
        alert, warn = self.bounds(n)
        status = Status.OK
        if self._worse(value, alert):
            status = Status.ALERT
        elif self._worse(value, warn):
            status = Status.WARN
        return self.result(
            data,
            status,
            value=value,
            threshold=alert,
            warn=warn,
            n=n,
            direction="below" if self.higher_is_better_ else "above",
            details={"reference": self.reference_value_, "labelled": n},
            reason=f"{self.metric} {value:.4g} (reference {self.reference_value_:.4g}, "
            f"threshold {alert:.4g}) on {n} labelled events",
        )


def enough_days(need: int, have: int, data: WindowData) -> int:
    """Days a window would need to hold ``need`` labelled events at the rate of ``have`` in
    this window (the hint of an ``insufficient_data`` result).

    Examples
    --------
    >>> from datetime import UTC, datetime, timedelta
    >>> from mlwarden.monitors.context import Window
    >>> w = Window(datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 12, tzinfo=UTC))
    >>> enough_days(100, 40, WindowData(w, {}))
    18
    """
    days = (data.window.end - data.window.start) / timedelta(days=1)
    return math.ceil(need / max(have, 1) * days)
