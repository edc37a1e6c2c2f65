"""Estimated performance before labels arrive (confidence-based estimation, CBPE)."""

from __future__ import annotations

from typing import Any, ClassVar, Self

import numpy as np

from mlwarden.errors import ConfigError
from mlwarden.monitors.base import MONITORS, Monitor, Objective, Result, Severity, Status
from mlwarden.monitors.context import FitContext, WindowData
from mlwarden.monitors.performance import Performance
from mlwarden.schema.spec import Task
from mlwarden.stats import classification as cl
from mlwarden.stats.estimation import CBPE
from mlwarden.store.aggregates import Request, ScoreBins

__all__ = ["EstimatedPerformance"]

METRICS = ("accuracy", "f1", "precision", "recall", "roc_auc")


@MONITORS.register
class EstimatedPerformance(Monitor):
    """A binary classifier's accuracy / F1 / ROC AUC estimated from its scores alone (scores
    calibrated on the reference, isotonic), with a confidence band; alerts like the labelled
    metric would, so a drop is seen days before the labels arrive.

    Examples
    --------
    >>> EstimatedPerformance(metric="roc_auc").id
    'estimated_performance:roc_auc'
    """

    kind: ClassVar[str] = "estimated_performance"
    objective: ClassVar[Objective] = Objective.PERFORMANCE
    severity: ClassVar[Severity] = Severity.HIGH
    min_rows: ClassVar[int] = 100

    def __init__(
        self,
        metric: str = "accuracy",
        *,
        threshold: float | None = None,
        min_effect: float | None = None,
    ) -> None:
        self.metric = metric
        self.threshold = threshold
        self.min_effect = min_effect

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.metric}"

    def state_to_dict(self) -> dict[str, Any]:
        if not hasattr(self, "cbpe_"):
            return {}
        c = self.cbpe_
        return {
            "cbpe": {
                "params": {
                    "pos_label": c.pos_label,
                    "n_bins": c.n_bins,
                    "confidence": c.confidence,
                    "n_bootstrap": c.n_bootstrap,
                    "random_state": c.random_state,
                },
                "classes": list(c.classes_),
                "score_classes": list(c.score_classes_),
                "edges": [list(e) for e in c.edges_],
                "q": [q.tolist() for q in c.q_],
            },
            "labelled": self.labelled_.to_dict(state=True),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        if not state:
            return
        s = state["cbpe"]
        c = CBPE(**s["params"])
        c.classes_ = tuple(s["classes"])
        c.score_classes_ = tuple(s["score_classes"])
        c.edges_ = tuple(tuple(e) for e in s["edges"])
        c.q_ = [np.asarray(q, dtype=np.float64) for q in s["q"]]
        self.cbpe_ = c
        lab = Monitor.from_dict(state["labelled"])
        assert isinstance(lab, Performance)
        self.labelled_ = lab

    def fit(self, ctx: FitContext) -> Self:
        spec = ctx.spec
        if spec.task is not Task.BINARY:
            raise ConfigError("Estimated performance (CBPE) supports binary classifiers for now.")
        if self.metric not in METRICS:
            raise ConfigError(
                f"The 'metric' must be one of {', '.join(METRICS)}. Got {self.metric!r} instead."
            )
        if not (spec.score and spec.target and spec.prediction):
            raise ConfigError("CBPE needs score, target and prediction columns in the reference.")
        scores = ctx.floats(spec.score)
        y, p = ctx.labels(spec.target), ctx.labels(spec.prediction)
        assert scores is not None and y is not None and p is not None
        keep = [
            i
            for i in range(len(y))
            if y[i] is not None and p[i] is not None and not np.isnan(scores[i])
        ]
        pos = spec.effective_positive_class or "1"
        self.cbpe_ = CBPE(pos_label=pos, n_bootstrap=200).fit(
            scores[keep],
            np.asarray([y[i] for i in keep], dtype=object),
            np.asarray([p[i] for i in keep], dtype=object),
            classes=list(spec.classes) or None,
        )
        self.labelled_ = Performance(
            self.metric, threshold=self.threshold, min_effect=self.min_effect
        ).fit(ctx)
        return self

    def requests(self) -> list[Request]:
        return [ScoreBins(tuple(self.cbpe_.edges_[0]), "prediction")]

    def evaluate(self, data: WindowData) -> Result:
        rows = data.get(self.requests()[0]) or []
        n = sum(c for _, _, c in rows)
        if n == 0:
            return self.result(data, Status.NO_DATA, reason="No scored events in this window.")
        if n < self.min_rows:
            return self.result(
                data,
                Status.INSUFFICIENT_DATA,
                n=n,
                reason=f"{n} scored events; at least {self.min_rows} are needed.",
            )
        classes = tuple(self.cbpe_.classes_)
        edges = tuple(self.cbpe_.edges_[0])
        k = len(edges) - 1
        idx = {str(c): i for i, c in enumerate(classes)}
        mat = [[0] * k for _ in classes]
        for c, b, cnt in rows:
            if c in idx:
                mat[idx[c]][b] += cnt
        hist = cl.ScoreHistogram(
            edges=(edges,),
            score_classes=tuple(self.cbpe_.score_classes_),
            classes=classes,
            counts=(tuple(tuple(r) for r in mat),),
        )
        est = getattr(self.cbpe_.estimate(hist), self.metric)
        if est is None or est.value is None:
            return self.result(
                data,
                Status.INSUFFICIENT_DATA,
                n=n,
                reason=f"{self.metric} cannot be estimated here.",
            )
        alert, warn = self.labelled_.bounds(n)
        value = float(est.value)
        status = Status.ALERT if value < alert else Status.WARN if value < warn else Status.OK
        return self.result(
            data,
            status,
            value=value,
            threshold=alert,
            warn=warn,
            n=n,
            direction="below",
            details={
                "lower": est.lower,
                "upper": est.upper,
                "reference": self.labelled_.reference_value_,
            },
            reason=f"estimated {self.metric} {value:.4g} [{_fmt(est.lower)}, {_fmt(est.upper)}] "
            f"(reference {self.labelled_.reference_value_:.4g}, threshold {alert:.4g})",
        )


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"
