"""Two time windows of one model side by side: per column, how far window B moved from A.

Window A plays the reference: each column's drift statistic is the one its monitor uses by
default (Kolmogorov-Smirnov for numbers, Jensen-Shannon distance for categories and
booleans), computed by :mod:`mlwarden.stats.drift` on the two windows' values, with the
statistic's own test p-value (KS two-sample, asymptotic, as ``scipy.stats.ks_2samp``,
on every distinct value of the two windows, so exact; Pearson chi-square of the 2 x k
table for categories). These p-values are not the
monitors' calibrated ones: they answer "could these two windows come from one
distribution", and with large windows almost everything is "significant"; the statistic is
the effect, and columns are sorted by it.

Values come from at most ``max_rows`` rows of each window (a reproducible sample beyond,
see :mod:`mlwarden.store.window_rows`); event counts and performance metrics are the whole
window's, aggregated in the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlwarden.errors import StatisticsError, ValidationError, expected
from mlwarden.monitors.feature_drift import FeatureDrift
from mlwarden.schema.spec import FeatureKind, ModelSpec, Task
from mlwarden.stats import classification as cls_stats
from mlwarden.stats import regression as reg_stats
from mlwarden.stats.baseline import CategoricalBaseline
from mlwarden.stats.drift import DriftResult, categorical_drift, ks, numeric_drift
from mlwarden.store import queries
from mlwarden.store.window_rows import window_rows

if TYPE_CHECKING:
    from mlwarden.store.base import Store
    from mlwarden.store.protocols import AggregateSource

__all__ = [
    "MAX_ROWS",
    "QUANTILES",
    "ColumnComparison",
    "ColumnSide",
    "TimeWindow",
    "WindowComparison",
    "WindowSide",
    "compare_windows",
    "compared_columns",
]

#: Rows of each window whose values are compared (a reproducible sample beyond).
MAX_ROWS = 50_000
#: Quantile levels shown for numeric columns.
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
#: Categories whose shares are shown per column (the most frequent in A and B together).
TOP_CATEGORIES = 10
#: Columns compared at most (the spec's order; the model's outputs first).
MAX_COLUMNS = 200
_COMPARED_KINDS = (FeatureKind.NUMERIC, FeatureKind.CATEGORICAL, FeatureKind.BOOLEAN)


@dataclass(frozen=True)
class TimeWindow:
    """``[start, end)``, both timezone-aware.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> TimeWindow(datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC), "a_")
    Traceback (most recent call last):
    ...
    mlwarden.errors.ValidationError: The 'a_end' parameter must be after a_start ...
    """

    start: datetime
    end: datetime
    name: str = ""

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValidationError(
                expected(
                    "parameter",
                    f"{self.name}end",
                    f"be after {self.name}start {self.start.isoformat()}",
                    self.end.isoformat(),
                )
            )


@dataclass(frozen=True)
class ColumnSide:
    """One column in one window: values compared, missing ones, and their summary (numeric:
    mean and quantiles; categories: shares of the top categories)."""

    n: int
    missing: int
    mean: float | None = None
    quantiles: dict[str, float] = field(default_factory=dict)
    shares: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ColumnComparison:
    """One column across the two windows; ``value`` is ``statistic`` of B against A."""

    column: str
    kind: str
    statistic: str
    value: float | None
    p_value: float | None
    statistics: dict[str, float]
    a: ColumnSide
    b: ColumnSide
    note: str = ""


@dataclass(frozen=True)
class WindowSide:
    """One window: its events (all), the rows whose values were compared, and its performance
    over every labelled event (empty without labels)."""

    start: datetime
    end: datetime
    events: int
    rows: int
    labelled: int
    performance: dict[str, float]

    @property
    def sampled(self) -> bool:
        return self.rows < self.events


@dataclass(frozen=True)
class WindowComparison:
    model: str
    segment: dict[str, str] | None
    a: WindowSide
    b: WindowSide
    #: largest effect first; columns without a statistic last
    columns: tuple[ColumnComparison, ...]
    notes: tuple[str, ...] = ()


def compared_columns(spec: ModelSpec) -> list[tuple[str, bool]]:
    """(column of the events, numeric?) for each compared column: the model's outputs, then
    its numeric, categorical and boolean features.

    Examples
    --------
    >>> from mlwarden.schema.spec import Feature
    >>> spec = ModelSpec(name="m", task="binary", score="p", features=[
    ...     Feature(name="age", kind="numeric"), Feature(name="city", kind="categorical"),
    ...     Feature(name="note", kind="text")])
    >>> compared_columns(spec)
    [('prediction', False), ('score', True), ('age', True), ('city', False)]
    """
    out: list[tuple[str, bool]] = []
    if spec.task is not Task.LLM and spec.prediction:
        out.append(("prediction", spec.task is Task.REGRESSION))
    if spec.score:
        out.append(("score", True))
    out += [
        (f.name, f.kind is FeatureKind.NUMERIC) for f in spec.features if f.kind in _COMPARED_KINDS
    ]
    return out[:MAX_COLUMNS]


def compare_windows(
    store: Store,
    model: Any,
    *,
    a: TimeWindow,
    b: TimeWindow,
    segment: dict[str, str] | None = None,
    max_rows: int = MAX_ROWS,
) -> WindowComparison:
    """Compare window ``b`` of ``model`` (a :class:`~mlwarden.store.ModelRecord`) with window
    ``a`` column by column, and their performance where labels exist."""
    spec: ModelSpec = model.spec
    cols = compared_columns(spec)
    names = [c for c, _ in cols]
    rows = {
        side: window_rows(
            store,
            model,
            start=w.start,
            end=w.end,
            columns=names,
            limit=max_rows,
            segment=segment,
        )
        for side, w in (("a", a), ("b", b))
    }
    notes: list[str] = []
    for side, w in (("A", a), ("B", b)):
        got = rows[side.lower()]
        if got.total == 0:
            notes.append(f"Window {side} ({_span(w)}) holds no events of this model.")
        elif got.sampled:
            notes.append(
                f"Window {side} holds {got.total:,} events; its values are compared on a "
                f"reproducible sample of {got.table.num_rows:,} of them."
            )
    compared = [
        _column(name, numeric, rows["a"].table.column(name), rows["b"].table.column(name))
        for name, numeric in cols
    ]
    compared.sort(key=lambda c: (c.value is None, -(c.value or 0.0), c.column))
    sides = {
        side: _side(store, model, w, segment, rows[side].total, rows[side].table.num_rows)
        for side, w in (("a", a), ("b", b))
    }
    return WindowComparison(
        model=model.name,
        segment=segment,
        a=sides["a"],
        b=sides["b"],
        columns=tuple(compared),
        notes=tuple(notes),
    )


def _span(w: TimeWindow) -> str:
    return f"{w.start:%Y-%m-%d %H:%M} – {w.end:%Y-%m-%d %H:%M} UTC"


def _floats(col: pa.ChunkedArray) -> np.ndarray[Any, np.dtype[np.float64]]:
    if pa.types.is_boolean(col.type):
        col = pc.cast(col, pa.int8())
    arr = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
    return np.asarray(arr, dtype=np.float64)


def _tally(col: pa.ChunkedArray) -> dict[str, int]:
    """Count of each value (as a string; booleans 'true' / 'false'), counted by Arrow."""
    counted = pc.value_counts(pc.cast(col, pa.string()).drop_null())
    values = counted.field("values").to_pylist()
    return dict(zip(values, counted.field("counts").to_pylist(), strict=True))


def _column(name: str, numeric: bool, a: pa.ChunkedArray, b: pa.ChunkedArray) -> ColumnComparison:
    if numeric:
        xa, xb = _floats(a), _floats(b)
        va, vb = xa[np.isfinite(xa)], xb[np.isfinite(xb)]
        side_a = _numeric_side(va, len(xa))
        side_b = _numeric_side(vb, len(xb))
        stat = "ks"
        if va.size and vb.size:
            res = numeric_drift(va, vb)
            res["ks"] = _exact_ks(va, vb)
            return _compared(name, "numeric", stat, "ks", res, side_a, side_b)
    else:
        ca, cb = _tally(a), _tally(b)
        side_a = _category_side(ca, len(a), cb)
        side_b = _category_side(cb, len(b), ca)
        stat = "jensen_shannon"
        if ca and cb:
            base = CategoricalBaseline.from_counts(ca)
            res = categorical_drift(base, base.count_mapping(cb))
            return _compared(name, "categorical", stat, "chi_square", res, side_a, side_b)
    kind = "numeric" if numeric else "categorical"
    which = "A" if side_a.n == 0 else "B"
    return ColumnComparison(
        name, kind, stat, None, None, {}, side_a, side_b, note=f"No values in window {which}."
    )


def _compared(
    name: str,
    kind: str,
    stat: str,
    test: str,
    res: dict[str, Any],
    side_a: ColumnSide,
    side_b: ColumnSide,
) -> ColumnComparison:
    few = min(side_a.n, side_b.n) < FeatureDrift.min_rows
    return ColumnComparison(
        column=name,
        kind=kind,
        statistic=stat,
        value=float(res[stat].value),
        p_value=res[test].p_value,
        statistics={k: float(v.value) for k, v in res.items()},
        a=side_a,
        b=side_b,
        note=f"Fewer than {FeatureDrift.min_rows} values in a window: the monitors would not "
        "judge it."
        if few
        else "",
    )


def _exact_ks(
    a: np.ndarray[Any, np.dtype[np.float64]], b: np.ndarray[Any, np.dtype[np.float64]]
) -> DriftResult:
    """KS over every distinct value of the two windows: exact (``scipy.stats.ks_2samp``),
    where the monitors' reference bins are off by up to a bin's mass."""
    values, pos = np.unique(np.concatenate([a, b]), return_inverse=True)
    counts_a = np.bincount(pos[: a.size], minlength=values.size)
    counts_b = np.bincount(pos[a.size :], minlength=values.size)
    return ks(counts_a, counts_b)


def _numeric_side(values: np.ndarray[Any, np.dtype[np.float64]], rows: int) -> ColumnSide:
    if not values.size:
        return ColumnSide(n=0, missing=rows)
    qs = np.quantile(values, QUANTILES)
    return ColumnSide(
        n=int(values.size),
        missing=rows - int(values.size),
        mean=float(values.mean()),
        quantiles={f"p{round(q * 100):02d}": float(v) for q, v in zip(QUANTILES, qs, strict=True)},
    )


def _category_side(mine: dict[str, int], rows: int, theirs: dict[str, int]) -> ColumnSide:
    n = sum(mine.values())
    if not n:
        return ColumnSide(n=0, missing=rows)
    top = sorted(set(mine) | set(theirs), key=lambda k: (-(mine.get(k, 0) + theirs.get(k, 0)), k))
    return ColumnSide(
        n=n,
        missing=rows - n,
        shares={k: mine.get(k, 0) / n for k in top[:TOP_CATEGORIES]},
    )


def _side(
    store: AggregateSource,
    model: Any,
    w: TimeWindow,
    segment: dict[str, str] | None,
    events: int,
    rows: int,
) -> WindowSide:
    spec: ModelSpec = model.spec
    ev, ac = store.events(model), store.actuals(model)
    flt: dict[str, Any] = {"start": w.start, "end": w.end, "segment": segment}
    perf: dict[str, float] = {}
    labelled = 0
    if spec.task is Task.REGRESSION:
        t = queries.regression_sums(ev, ac, **flt).to_pylist()
        r = t[0] if t else {}
        labelled = int(r.get("n") or 0)
        if labelled:
            sums = reg_stats.RegressionSums(
                n=labelled,
                sum_err=r["sum_err"],
                sum_abs_err=r["sum_abs_err"],
                sum_sq_err=r["sum_sq_err"],
                n_nonzero=0,
                sum_abs_pct_err=0.0,
                sum_y=r["sum_y"],
                sum_y2=r["sum_y2"],
            )
            for metric, fn in (
                ("mae", reg_stats.mae),
                ("rmse", reg_stats.rmse),
                ("r2", reg_stats.r2),
            ):
                _put(perf, metric, fn, sums)
    elif spec.task.is_classification:
        pairs = queries.confusion_counts(ev, ac, **flt).to_pylist()
        pairs = [p for p in pairs if p["actual"] is not None and p["prediction"] is not None]
        if pairs:
            cc = cls_stats.ConfusionCounts.from_pairs(
                (str(p["actual"]), str(p["prediction"]), p["n"]) for p in pairs
            )
            labelled = cc.n
            _put(perf, "accuracy", cls_stats.accuracy, cc)
            pos = spec.effective_positive_class
            if pos is not None:
                for metric, prf in (
                    ("precision", cls_stats.precision),
                    ("recall", cls_stats.recall),
                    ("f1", cls_stats.f1),
                ):
                    _put(perf, metric, lambda c, f=prf: f(c, pos_label=pos), cc)
    return WindowSide(
        start=w.start, end=w.end, events=events, rows=rows, labelled=labelled, performance=perf
    )


def _put(perf: dict[str, float], name: str, fn: Any, arg: Any) -> None:
    """``perf[name] = fn(arg)`` when defined (a metric undefined on these labels is left out)."""
    try:
        value = fn(arg)
    except StatisticsError:
        return
    if value is not None:
        perf[name] = float(value)
