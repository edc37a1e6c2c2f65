"""Estimated performance before labels arrive: CBPE for classifiers, DLE for regressors."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter, OrderedDict
from dataclasses import replace
from typing import Any, ClassVar, Self

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlwarden.errors import ConfigError, StatisticsError
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
from mlwarden.monitors.performance import Performance
from mlwarden.schema.batch import score_column
from mlwarden.schema.spec import FeatureKind, Task
from mlwarden.stats import classification as cl
from mlwarden.stats.estimation import CBPE, DLE, Estimate
from mlwarden.store.aggregates import Request, Sample, ScoreBins

__all__ = ["EstimatedPerformance"]

#: metric -> tasks it is estimated for
METRICS: dict[str, tuple[Task, ...]] = {
    "accuracy": (Task.BINARY, Task.MULTICLASS),
    "f1": (Task.BINARY, Task.MULTICLASS),
    "precision": (Task.BINARY,),
    "recall": (Task.BINARY,),
    "roc_auc": (Task.BINARY,),
    "mae": (Task.REGRESSION,),
    "rmse": (Task.REGRESSION,),
}
#: DLE: reference rows its error models are trained on (kept in the monitor's state, so a
#: reloaded monitor trains the same models), window rows it scores (a bounded sample), and
#: categories per categorical feature (the rest count as missing).
DLE_REFERENCE_ROWS = 10_000
DLE_WINDOW_ROWS = 5_000
DLE_MAX_CATEGORIES = 50
#: Smallest references an estimate is trusted on; below them the monitor's every window is
#: ``insufficient_data`` (``insufficient_reference``) rather than a confident wrong number.
#: CBPE: its band covered the realised accuracy / ROC AUC / F1 of a calibrated model in >= 90%
#: of 300-row windows from 300 reference rows up, and at 100 rows only just (ROC AUC 88-92%:
#: ten calibration bins), given enough rows of each class to fill calibration cells
#: (``tests/stats/test_estimation.py``, ``bench/estimation.py``). DLE: a 100-row reference
#: covered 63% of windows (gradient-boosted error models on 50-row halves), 300 rows >= 90%.
CBPE_MIN_REFERENCE_ROWS = 200
CBPE_MIN_CLASS_ROWS = 20
DLE_MIN_REFERENCE_ROWS = 300
#: the cause named in an ``insufficient_reference`` result's details
INSUFFICIENT_REFERENCE = "insufficient_reference"


@MONITORS.register
class EstimatedPerformance(Monitor):
    """A model's performance estimated without labels, with a confidence band, alerting like
    the labelled metric would, so a drop is seen days before the labels arrive. Classifiers:
    accuracy / F1 / precision / recall / ROC AUC by confidence-based estimation (CBPE: scores
    calibrated on the reference, in cells of at least ten reference rows, isotonic from 2,000
    rows; multiclass from the per-class scores, macro averages) over score histograms by
    predicted class. Regressors: MAE / RMSE by direct
    loss estimation (DLE: gradient-boosted models of the reference's absolute and squared
    errors from the features and the prediction, scoring a bounded random sample of the
    window). Below the reference an estimate can be trusted on (CBPE: 200 labelled rows with
    scores, 20 of each class; DLE: 300 labelled rows) every window is ``insufficient_data``
    with ``details["cause"] == "insufficient_reference"`` and the size needed.

    Examples
    --------
    >>> EstimatedPerformance(metric="roc_auc").id
    'estimated_performance:roc_auc'
    """

    kind: ClassVar[str] = "estimated_performance"
    objective: ClassVar[Objective] = Objective.PERFORMANCE
    family: ClassVar[str] = "performance"
    tab: ClassVar[str] = "performance"
    batch: ClassVar[bool] = True
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

    @property
    def per_segment(self) -> bool:
        # DLE trains six gradient-boosted models on its reference: per segment value that is
        # minutes of set-up and megabytes of state; the labelled metric covers segments. A DLE
        # whose whole reference is too small has no segment large enough either.
        if hasattr(self, "dle_"):
            return False
        return not (hasattr(self, "short_reference_") and self.metric in ("mae", "rmse"))

    # -- state ---------------------------------------------------------------------------------
    def state_to_dict(self) -> dict[str, Any]:
        if not hasattr(self, "labelled_"):
            return {}
        out: dict[str, Any] = {"labelled": self.labelled_.to_dict(state=True)}
        if hasattr(self, "short_reference_"):
            out["short_reference"] = dict(self.short_reference_)
        elif hasattr(self, "cbpe_"):
            c = self.cbpe_
            out["cbpe"] = {
                "params": {
                    "pos_label": c.pos_label,
                    "n_bins": c.n_bins,
                    "min_bin_rows": c.min_bin_rows,
                    "isotonic_min_rows": c.isotonic_min_rows,
                    "confidence": c.confidence,
                    "n_bootstrap": c.n_bootstrap,
                    "random_state": c.random_state,
                },
                "classes": list(c.classes_),
                "score_classes": list(c.score_classes_),
                "edges": [list(e) for e in c.edges_],
                "q": [q.tolist() for q in c.q_],
                "n_reference": c.n_reference_,
                "columns": list(self.score_columns_),
            }
        else:
            out["dle"] = dict(self.dle_)
        return out

    def load_state(self, state: dict[str, Any]) -> None:
        if not state:
            return
        if "short_reference" in state:
            self.short_reference_ = dict(state["short_reference"])
        elif "cbpe" in state:
            s = state["cbpe"]
            c = CBPE(**s["params"])
            c.classes_ = tuple(s["classes"])
            c.score_classes_ = tuple(s["score_classes"])
            c.edges_ = tuple(tuple(e) for e in s["edges"])
            c.q_ = [np.asarray(q, dtype=np.float64) for q in s["q"]]
            # states saved before the reference size was kept: bands without its error
            c.n_reference_ = int(s.get("n_reference", 0))
            self.cbpe_ = c
            self.score_columns_ = list(s["columns"])
        else:
            self.dle_ = dict(state["dle"])
        lab = Monitor.from_dict(state["labelled"])
        assert isinstance(lab, Performance)
        self.labelled_ = lab

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, ctx: FitContext) -> Self:
        spec = ctx.spec
        if self.metric not in METRICS:
            raise ConfigError(
                f"The 'metric' must be one of {', '.join(METRICS)}. Got {self.metric!r} instead."
            )
        if spec.task not in METRICS[self.metric]:
            raise ConfigError(
                f"The metric {self.metric!r} cannot be estimated for a {spec.task.value} model."
            )
        if not (spec.target and spec.prediction):
            raise ConfigError("Estimating performance needs target and prediction columns.")
        for learned in ("short_reference_", "cbpe_", "dle_", "_dle_model"):  # a refit starts over
            self.__dict__.pop(learned, None)
        if spec.task is Task.REGRESSION:
            self._fit_dle(ctx)
        else:
            self._fit_cbpe(ctx)
        self.labelled_ = Performance(
            self.metric, threshold=self.threshold, min_effect=self.min_effect
        ).fit(ctx)
        return self

    def _fit_cbpe(self, ctx: FitContext) -> None:
        spec = ctx.spec
        assert spec.target and spec.prediction
        if spec.task is Task.BINARY:
            if not spec.score:
                raise ConfigError("CBPE needs a score column in the reference.")
            sources, columns = [spec.score], ["score"]
        else:
            if not (spec.scores and spec.classes and len(spec.scores) == len(spec.classes)):
                raise ConfigError(
                    "CBPE of a multiclass model needs one score column per class ('scores')."
                )
            sources, columns = list(spec.scores), [score_column(c) for c in spec.classes]
        cols = [ctx.floats(s) for s in sources]
        y, p = ctx.label_array(spec.target), ctx.label_array(spec.prediction)
        if any(c is None for c in cols) or y is None or p is None:
            raise ConfigError(
                "CBPE needs its score, target and prediction columns in the reference."
            )
        scores = np.column_stack(cols)  # type: ignore[arg-type]
        # in Arrow, not row by row in Python: a 1M-row reference took ~1 s a fit here
        keep = np.asarray(pc.and_(pc.is_valid(y), pc.is_valid(p))) & ~np.isnan(scores).any(axis=1)
        kept = pa.array(keep)
        vc = pc.value_counts(y.filter(kept)).to_pylist()
        found = Counter({str(v["values"]): int(v["counts"]) for v in vc})
        labels = y.filter(kept)
        per_class = {c: found.get(c, 0) for c in [str(c) for c in spec.classes] or sorted(found)}
        if len(per_class) < 2:
            per_class["another class"] = 0
        fewest = min(per_class.values())
        if len(labels) < CBPE_MIN_REFERENCE_ROWS or fewest < CBPE_MIN_CLASS_ROWS:
            rarest = min(per_class, key=lambda c: per_class[c])
            needed = (
                None
                if fewest == 0
                else max(CBPE_MIN_REFERENCE_ROWS, -(-CBPE_MIN_CLASS_ROWS * len(labels) // fewest))
            )
            self.short_reference_ = {
                "reference_rows": len(labels),
                "needed_rows": needed,
                "what": f"labelled reference rows with scores ({per_class[rarest]} of class "
                f"{rarest!r})",
                "needs": f"at least {CBPE_MIN_REFERENCE_ROWS}, with {CBPE_MIN_CLASS_ROWS} of "
                "each class",
            }
            return
        pos = spec.effective_positive_class or "1"
        self.cbpe_ = CBPE(pos_label=pos, n_bootstrap=200).fit(
            scores[keep, 0] if spec.task is Task.BINARY else scores[keep],
            labels.to_numpy(zero_copy_only=False),
            p.filter(kept).to_numpy(zero_copy_only=False),
            classes=list(spec.classes) or None,
        )
        self.score_columns_ = columns

    def _fit_dle(self, ctx: FitContext) -> None:
        spec = ctx.spec
        assert spec.target and spec.prediction
        features = [
            f
            for f in spec.features
            if f.kind in (FeatureKind.NUMERIC, FeatureKind.BOOLEAN, FeatureKind.CATEGORICAL)
            and ctx.column(f.name) is not None
        ]
        categories = {
            f.name: _top_categories(ctx.label_array(f.name), DLE_MAX_CATEGORIES)
            for f in features
            if f.kind is FeatureKind.CATEGORICAL
        }
        columns = {
            f.name: ctx.label_array(f.name) if f.name in categories else ctx.column(f.name)
            for f in features
        }
        matrix = _design(columns, [f.name for f in features], categories)
        y, p = ctx.floats(spec.target), ctx.floats(spec.prediction)
        if y is None or p is None:
            raise ConfigError("DLE needs its target and prediction columns in the reference.")
        keep = ~(np.isnan(y) | np.isnan(p))
        idx = np.flatnonzero(keep)
        if len(idx) > DLE_REFERENCE_ROWS:
            idx = np.sort(np.random.default_rng(0).choice(idx, DLE_REFERENCE_ROWS, replace=False))
        if len(idx) < DLE_MIN_REFERENCE_ROWS:
            self.short_reference_ = {
                "reference_rows": len(idx),
                "needed_rows": DLE_MIN_REFERENCE_ROWS,
                "what": "labelled reference rows with a prediction",
                "needs": f"at least {DLE_MIN_REFERENCE_ROWS}",
            }
            return
        self.dle_ = {
            "features": [f.name for f in features],
            "categories": categories,
            # JSON has no NaN: a missing value is null
            "x": [[None if v != v else v for v in row] for row in matrix[idx].tolist()],
            "prediction": p[idx].tolist(),
            "target": y[idx].tolist(),
        }
        self._dle()  # train now: a reference DLE cannot learn from fails at set-up, not later

    def _dle(self) -> DLE:
        """The error models, trained from the state on first use and kept for this process."""
        model: DLE | None = getattr(self, "_dle_model", None)
        if model is None:
            model = _trained_dle(self.dle_)
            self._dle_model = model
        return model

    # -- windows -------------------------------------------------------------------------------
    def requests(self) -> list[Request]:
        if hasattr(self, "short_reference_"):
            return []
        if hasattr(self, "dle_"):
            return [Sample((*self.dle_["features"], "prediction"), DLE_WINDOW_ROWS)]
        return [
            ScoreBins(tuple(e), "prediction", col)
            for e, col in zip(self.cbpe_.edges_, self.score_columns_, strict=True)
        ]

    def threshold_plan(self, rows: int) -> ThresholdPlan:
        if hasattr(self, "short_reference_"):
            short = self.short_reference_
            return ThresholdPlan(
                how=f"Not judged: the reference has {short['reference_rows']} {short['what']}; "
                f"an estimate needs {short['needs']}. The labelled metric still judges windows.",
                false_alerts_per_month=0.0,
            )
        n = min(rows, DLE_WINDOW_ROWS) if hasattr(self, "dle_") else rows
        labelled = self.labelled_.threshold_plan(n)
        method = "DLE" if hasattr(self, "dle_") else "CBPE"
        return replace(
            labelled,
            how=f"Estimated without labels ({method}), then judged like "
            f"the labelled metric: {labelled.how[0].lower()}{labelled.how[1:]}",
        )

    def evaluate(self, data: WindowData) -> Result:
        if hasattr(self, "short_reference_"):
            return self._short_reference(data)
        if hasattr(self, "dle_"):
            est, n, what = self._estimate_dle(data)
        else:
            est, n, what = self._estimate_cbpe(data)
        gate = self.gate(data, n, what=what)
        if gate is not None:
            return gate
        if est is None or est.value is None:
            return self.result(
                data,
                Status.INSUFFICIENT_DATA,
                n=n,
                reason=f"{self.metric} cannot be estimated here.",
            )
        alert, warn = self.labelled_.bounds(n)
        value = float(est.value)
        worse = self.labelled_._worse
        status = (
            Status.ALERT
            if worse(value, alert)
            else Status.WARN
            if worse(value, warn)
            else Status.OK
        )
        return self.result(
            data,
            status,
            value=value,
            threshold=alert,
            warn=warn,
            n=n,
            direction="below" if self.labelled_.higher_is_better_ else "above",
            details={
                "lower": est.lower,
                "upper": est.upper,
                "reference": self.labelled_.reference_value_,
                "method": "dle" if hasattr(self, "dle_") else "cbpe",
            },
            reason=f"estimated {self.metric} {value:.4g} [{_fmt(est.lower)}, {_fmt(est.upper)}] "
            f"(reference {self.labelled_.reference_value_:.4g}, threshold {alert:.4g})",
        )

    def _short_reference(self, data: WindowData) -> Result:
        """Every window's result when the reference is too small to trust an estimate."""
        short = self.short_reference_
        method = "DLE" if self.metric in ("mae", "rmse") else "CBPE"
        return self.result(
            data,
            Status.INSUFFICIENT_DATA,
            n=data.n,
            details={
                "cause": INSUFFICIENT_REFERENCE,
                "reference_rows": short["reference_rows"],
                "needed_rows": short["needed_rows"],
                "method": method.lower(),
            },
            reason=f"{INSUFFICIENT_REFERENCE}: the reference has {short['reference_rows']} "
            f"{short['what']}; estimating {self.metric} ({method}) needs {short['needs']}"
            + (f" (about {short['needed_rows']} rows)" if short["needed_rows"] else "")
            + ". The labelled performance monitor still judges windows with labels.",
        )

    def _estimate_cbpe(self, data: WindowData) -> tuple[Estimate | None, int, str]:
        classes = tuple(self.cbpe_.classes_)
        idx = {str(c): i for i, c in enumerate(classes)}
        counts = []
        n = 0
        for req in self.requests():
            assert isinstance(req, ScoreBins)
            mat = [[0] * (len(req.edges) - 1) for _ in classes]
            for c, b, cnt in data.get(req) or []:
                if c in idx:
                    mat[idx[c]][b] += cnt
            counts.append(tuple(tuple(r) for r in mat))
            n = max(n, sum(map(sum, mat)))
        if n < self.min_rows:
            return None, n, "scored events"
        hist = cl.ScoreHistogram(
            edges=tuple(self.cbpe_.edges_),
            score_classes=tuple(self.cbpe_.score_classes_),
            classes=classes,
            counts=tuple(counts),
        )
        return getattr(self.cbpe_.estimate(hist), self.metric), n, "scored events"

    def _estimate_dle(self, data: WindowData) -> tuple[Estimate | None, int, str]:
        table: pa.Table | None = data.get(self.requests()[0])
        pred = None if table is None else table.column("prediction").cast(pa.float64())
        keep = None if pred is None else pc.is_valid(pred)
        n = 0 if keep is None else int(pc.sum(keep).as_py() or 0)
        if table is None or n < self.min_rows:
            return None, n, "sampled events with a prediction"
        table = table.filter(keep)
        s = self.dle_
        x = _design({f: table.column(f) for f in s["features"]}, s["features"], s["categories"])
        res = self._dle().estimate_arrays(x, table.column("prediction").to_numpy())
        return getattr(res, self.metric), n, "sampled events with a prediction"


_DLE_CACHE: OrderedDict[str, DLE] = OrderedDict()
_DLE_LOCK = threading.Lock()
_DLE_CACHE_SIZE = 8


def _trained_dle(state: dict[str, Any]) -> DLE:
    """DLE trained on a monitor's state; monitors of one reference (MAE and RMSE) and reloads
    of the same suite share one training per process (keyed by the state's digest)."""
    key = hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()
    with _DLE_LOCK:
        hit = _DLE_CACHE.get(key)
    if hit is not None:
        return hit
    x = np.asarray(state["x"], dtype=np.float64).reshape(
        len(state["target"]), len(state["features"])
    )
    cats = [i for i, f in enumerate(state["features"]) if f in state["categories"]]
    try:
        model = DLE(categorical_features=cats).fit(x, state["prediction"], state["target"])
    except StatisticsError as exc:
        raise ConfigError(f"DLE cannot be trained on this reference: {exc}") from exc
    with _DLE_LOCK:
        _DLE_CACHE[key] = model
        while len(_DLE_CACHE) > _DLE_CACHE_SIZE:
            _DLE_CACHE.popitem(last=False)
    return model


def _top_categories(arr: pa.ChunkedArray | None, limit: int) -> list[str]:
    if arr is None:
        return []
    vc = pc.value_counts(arr.drop_null()).to_pylist()
    return [v["values"] for v in sorted(vc, key=lambda v: (-v["counts"], v["values"]))[:limit]]


def _design(
    columns: dict[str, Any], names: list[str], categories: dict[str, list[str]]
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Rows x features as floats: numbers as they are, categories as their index in
    ``categories`` (others and missing values NaN, which the error models route)."""
    out = []
    for name in names:
        col = columns[name]
        if name in categories:
            labels = col.cast(pa.string()) if not pa.types.is_string(col.type) else col
            codes = pc.index_in(labels, value_set=pa.array(categories[name], pa.string()))
            out.append(codes.to_numpy(zero_copy_only=False).astype(np.float64))
        else:
            if pa.types.is_boolean(col.type):
                col = col.cast(pa.int8())
            out.append(col.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64))
    return np.column_stack(out) if out else np.empty((0, 0))


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"
