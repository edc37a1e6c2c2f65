"""Blind spots: the slices of any time range where a metric is worst, with honest statistics.

The slice discovery incidents use (:mod:`mlwarden.analysis.slices`) answers "what got worse
in this window"; this answers "where is the model weak" as a page of its own. Candidates are
the same: each categorical, boolean or segment value, each numeric feature cut into ranges at
the reference's quantiles (the range's without one), a "missing" group, and pairs of those.

Per candidate slice, from ``(n, sum, sum of squares)`` computed in the engine
(:func:`~mlwarden.analysis.slices_query.grouped_sums`, never a row scan in Python):

* the metric in the slice and in the rest, and the gap (slice minus rest);
* for a rate (``accuracy``, ``error_rate``): the two-proportion z test (pooled, two-sided,
  the same p-value as a chi-square test of the 2x2 table without continuity correction) and
  an unpooled Wald interval of the gap; for a mean (``mae``, ``latency``): Welch's t test
  and its interval with the Welch-Satterthwaite degrees of freedom;
* Holm's adjusted p-value over *every* slice tested (singles and pairs). Holm rather than
  Benjamini-Hochberg: each reported blind spot is a claim a team acts on (retrain, route
  around, collect labels), so the guarantee wanted is that *no* reported slice is a fluke
  with probability ``1 - alpha`` (family-wise), not that a share of them are.

The significant slices that are worse than the rest are ranked by size x gap (rows times
the gap in the metric's units: the number of wrong predictions, or total extra error, the
slice costs compared with the rest).

Cost is bounded: single slices in one scan; pairs, in a second scan, among the columns with
a worse single slice, the most important to the model first (feature importance from the
reference, :func:`~mlwarden.analysis.importance.model_importance`), then the most promising
(as :mod:`~mlwarden.analysis.slices` picks them), at most ``max_pairs`` column pairs.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
from scipy import stats as sps

from mlwarden.analysis.slices import (
    MAX_VALUES,
    Condition,
    _columns,
    _condition,
    _edges,
)
from mlwarden.analysis.slices_query import bin_key, grouped_sums, label_key, outcomes
from mlwarden.errors import MlwardenError, ValidationError, expected
from mlwarden.schema.spec import Task
from mlwarden.stats.version_tests import holm
from mlwarden.store.base import ModelRecord, Store
from mlwarden.store.protocols import Catalog
from mlwarden.store.times import utc_naive

__all__ = ["METRICS", "BlindSpot", "BlindSpots", "find_blind_spots", "reference_of"]

_CLASSIFICATION = frozenset({Task.BINARY, Task.MULTICLASS})


@dataclass(frozen=True)
class _Metric:
    outcome: str  # the per-row outcome of :func:`outcomes`
    rate: bool  # a 0/1 outcome (two-proportion test) or a mean (Welch)
    higher_is_worse: bool
    tasks: frozenset[Task]


#: Metric name -> how it is computed and tested.
METRICS: Mapping[str, _Metric] = {
    "accuracy": _Metric("accuracy", True, False, _CLASSIFICATION),
    "error_rate": _Metric("error_rate", True, True, frozenset(Task)),
    "mae": _Metric("abs_error", False, True, frozenset({Task.REGRESSION})),
    "latency": _Metric("latency", False, True, frozenset(Task)),
}
#: Default cap on the column pairs tested.
MAX_PAIRS = 45
#: Slices of fewer rows (or leaving fewer for the rest) are not tested.
MIN_ROWS = 30


@dataclass(frozen=True)
class BlindSpot:
    """One slice: its conditions, size, metric in and out, gap (slice minus rest) with its
    ``level`` interval, raw and Holm-adjusted two-sided p-values, and ``impact`` = rows x
    how much worse it is (0 when it is better). ``explained_by`` names a reported pair inside
    this slice that accounts for its gap (the slice's other rows are not significantly worse
    than the rest): such a slice is listed after the others."""

    conditions: tuple[Condition, ...]
    rows: int
    share: float
    value: float
    rest: float
    gap: float
    low: float
    high: float
    p_value: float
    adjusted_p: float
    impact: float
    explained_by: str | None = None

    def describe(self) -> str:
        """The conditions joined by "and"."""
        return " and ".join(c.describe() for c in self.conditions)


@dataclass(frozen=True)
class BlindSpots:
    """The answer: the significant worse slices ranked by impact, and what was tested."""

    metric: str
    test: str
    correction: str
    alpha: float
    level: float
    rows: int
    overall: float | None
    slices_tested: int
    pair_columns: tuple[str, ...]
    pairs_tested: int
    max_pairs: int
    spots: tuple[BlindSpot, ...] = field(default_factory=tuple)


def find_blind_spots(
    store: Store,
    model: ModelRecord,
    *,
    start: datetime,
    end: datetime,
    metric: str,
    max_pairs: int = MAX_PAIRS,
    segment: Mapping[str, str] | None = None,
    alpha: float = 0.05,
    top: int = 20,
    bins: int = 4,
    min_rows: int = MIN_ROWS,
    reference: pa.Table | None = None,
    importance: Mapping[str, float] | None = None,
) -> BlindSpots:
    """The slices of ``[start, end)`` (and ``segment``) where ``metric`` is significantly
    worse than on the rest, ranked by rows x gap. Numeric features are cut into ``bins``
    ranges at the quantiles of ``reference`` (the model's reference data, when it has the
    column), else of the range. Pairs are formed among the columns with a worse single slice,
    the most ``importance``-ant first (the model's feature importance, when known), then the
    most promising (gap x sqrt(rows) of their best single slice), as many as fit in
    ``max_pairs`` column pairs.

    Examples
    --------
    >>> from mlwarden.schema import Feature, ModelSpec
    >>> from mlwarden.store import DuckDBStore
    >>> store = DuckDBStore()
    >>> model = store.create_model("p", ModelSpec(name="m", task="binary",
    ...     features=[Feature(name="x", kind="numeric")]))
    >>> r = find_blind_spots(store, model, start=datetime(2026, 1, 1),
    ...                      end=datetime(2026, 1, 2), metric="accuracy")
    >>> r.rows, r.spots
    (0, ())
    >>> find_blind_spots(store, model, start=datetime(2026, 1, 1),
    ...                  end=datetime(2026, 1, 2), metric="mae")
    Traceback (most recent call last):
    ...
    mlwarden.errors.ValidationError: The 'metric' parameter must be one of accuracy, error_rate, latency for a binary model. Got 'mae' instead.
    >>> store.close()
    """  # noqa: E501
    m = _check(model, metric, max_pairs, start, end)
    level = 0.95
    test = "two_proportion_z" if m.rate else "welch_t"
    base = outcomes(store, model, m.outcome, start, end)
    for col, value in (segment or {}).items():
        if col not in base.columns:
            raise ValidationError(
                expected("parameter", "segment", "name a column of the model", f"{col}:{value}")
            )
        base = base.filter(base[col].cast("string") == value)
    cols = _columns(model.spec, model.name, set(store.events(model).columns), None)
    cols = [c for c in cols if c not in (segment or {})]
    numeric = [c for c in cols if (f := model.spec.feature(c)) and f.kind.value == "numeric"]
    edges = _edges(store, model, start, end, numeric, reference, bins)
    keys = {c: bin_key(base[c], edges[c]) if c in edges else label_key(base[c]) for c in cols}
    groups = grouped_sums(store, base, keys, [(), *((c,) for c in cols)], limit=MAX_VALUES)
    total = groups[0].get((), (0, 0.0, 0.0))
    empty = BlindSpots(
        metric=metric, test=test, correction="holm", alpha=alpha, level=level,
        rows=total[0], overall=total[1] / total[0] if total[0] else None, slices_tested=0,
        pair_columns=(), pairs_tested=0, max_pairs=max_pairs,
    )  # fmt: skip
    if total[0] < 2 * min_rows or not cols:
        return empty
    conds: list[tuple[Condition, ...]] = []
    sums: list[tuple[int, float, float]] = []
    for c, g in zip(cols, groups[1:], strict=True):
        for (k,), s in g.items():
            conds.append((_condition(c, k, edges.get(c)),))
            sums.append(s)
    st = _stats(np.asarray(sums, dtype=np.float64).reshape(-1, 3), total, m, min_rows, level)
    sign = 1.0 if m.higher_is_worse else -1.0
    promise: dict[str, float] = {}
    for i, cs in enumerate(conds):
        if st["tested"][i]:
            worse = sign * st["gap"][i]
            if worse > 0:
                score = worse * math.sqrt(sums[i][0])
                promise[cs[0].column] = max(promise.get(cs[0].column, 0.0), score)
    imp = importance or {}
    ranked = sorted(promise, key=lambda c: (-imp.get(c, 0.0), -promise[c], c))
    chosen = _pair_columns(ranked, max_pairs)
    pairs = list(itertools.combinations(chosen, 2))[:max_pairs]
    parents: dict[int, tuple[int, int]] = {}
    if pairs:
        pair_keys = {c: keys[c] for c in chosen}
        index = {cs: i for i, cs in enumerate(conds)}
        pair_groups = grouped_sums(store, base, pair_keys, pairs, limit=(MAX_VALUES + 2) ** 2)
        for (ca, cb), g in zip(pairs, pair_groups, strict=True):
            for (ka, kb), s in g.items():
                a = (_condition(ca, ka, edges.get(ca)),)
                b = (_condition(cb, kb, edges.get(cb)),)
                if a in index and b in index:
                    parents[len(sums)] = (index[a], index[b])
                    conds.append((*a, *b))
                    sums.append(s)
        st = _stats(np.asarray(sums, dtype=np.float64).reshape(-1, 3), total, m, min_rows, level)
    tested = np.flatnonzero(st["tested"])
    adjusted = np.ones(len(sums))
    if len(tested):
        adjusted[tested] = holm([float(st["p"][i]) for i in tested], digits=None)
    worse = sign * st["gap"]
    keep = [int(i) for i in tested if adjusted[i] <= alpha and worse[i] > 0]
    impact = np.asarray([s[0] for s in sums], dtype=np.float64) * np.maximum(worse, 0.0)
    explained = _explained(keep, parents, sums, total, m, alpha / max(len(tested), 1), conds)
    keep.sort(key=lambda i: (i in explained, -impact[i], adjusted[i], i))
    spots = tuple(
        BlindSpot(
            conditions=conds[i],
            rows=int(sums[i][0]),
            share=sums[i][0] / total[0],
            value=float(st["mean"][i]),
            rest=float(st["rest"][i]),
            gap=float(st["gap"][i]),
            low=float(st["low"][i]),
            high=float(st["high"][i]),
            p_value=float(st["p"][i]),
            adjusted_p=float(adjusted[i]),
            impact=float(impact[i]),
            explained_by=explained.get(i),
        )  # fmt: skip
        for i in keep[:top]
    )
    return BlindSpots(
        metric=metric, test=test, correction="holm", alpha=alpha, level=level, rows=total[0],
        overall=total[1] / total[0], slices_tested=len(tested), pair_columns=tuple(chosen),
        pairs_tested=len(pairs), max_pairs=max_pairs, spots=spots,
    )  # fmt: skip


def _explained(
    keep: list[int],
    parents: Mapping[int, tuple[int, int]],
    sums: list[tuple[int, float, float]],
    total: tuple[int, float, float],
    m: _Metric,
    bar: float,
    conds: list[tuple[Condition, ...]],
) -> dict[int, str]:
    """Reported single slices whose gap a reported pair inside them accounts for.

    Rows x gap counts a slice's extra errors, so a parent (``region = west``) holding a bad
    pair (``region = west and amount >= 80``) scores about as high as the pair itself while
    its other rows are fine. The parent is *explained* when its rows outside the pair are not
    significantly worse than the rest at ``bar``: the Bonferroni level over every slice
    tested, the bar those rows would have to pass to be reported as a blind spot themselves.
    """
    kept = set(keep)
    sign = 1.0 if m.higher_is_worse else -1.0
    out: dict[int, str] = {}
    for pair in keep:
        for parent in parents.get(pair, ()):
            if parent not in kept or parent in out:
                continue
            rem = np.asarray([[a - b for a, b in zip(sums[parent], sums[pair], strict=True)]])
            whole = (total[0] - sums[pair][0], total[1] - sums[pair][1], total[2] - sums[pair][2])
            st = _stats(rem, whole, m, 2, 0.95)
            still_worse = sign * st["gap"][0] > 0 and st["p"][0] <= bar
            if not still_worse:
                out[parent] = " and ".join(c.describe() for c in conds[pair])
    return out


def reference_of(store: Catalog, model: ModelRecord) -> pa.Table | None:
    """The model's reference data (its quantiles cut the numeric features), None without."""
    try:
        return store.get_reference(model.project, model.name)[1]
    except MlwardenError:
        return None


def _pair_columns(ranked: list[str], max_pairs: int) -> list[str]:
    """The most promising columns whose pairs fit within ``max_pairs``."""
    k = 0
    while k < len(ranked) and (k + 1) * k // 2 <= max_pairs:
        k += 1
    if k * (k - 1) // 2 > max_pairs:
        k -= 1
    return ranked[:k] if k >= 2 else []


def _check(
    model: ModelRecord, metric: str, max_pairs: int, start: datetime, end: datetime
) -> _Metric:
    task = model.spec.task
    valid = [name for name, m in METRICS.items() if task in m.tasks]
    if metric not in valid:
        raise ValidationError(
            expected(
                "parameter",
                "metric",
                f"be one of {', '.join(valid)} for a {task.value} model",
                metric,
            )  # fmt: skip
        )
    if isinstance(max_pairs, bool) or not isinstance(max_pairs, int) or not 0 <= max_pairs:
        raise ValidationError(expected("parameter", "max_pairs", "be an integer >= 0", max_pairs))
    if utc_naive(end) <= utc_naive(start):
        raise ValidationError(
            expected("parameter", "end", f"be after start, {start.isoformat()}", end.isoformat())
        )
    return METRICS[metric]


def _stats(
    a: Any, total: tuple[int, float, float], m: _Metric, min_rows: int, level: float
) -> dict[str, Any]:
    """Per slice (rows of ``(n, sum, sum of squares)``) against the rest of ``total``:
    means, gap, its interval, two-sided p-value, and whether it was tested (vectorised)."""
    n, s, q = a[:, 0], a[:, 1], a[:, 2]
    big_n, big_s, big_q = total
    nr, sr, qr = big_n - n, big_s - s, big_q - q
    tested = (n >= min_rows) & (nr >= min_rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean, rest = s / n, sr / nr
        gap = mean - rest
        if m.rate:
            pooled = big_s / big_n
            se0 = np.sqrt(pooled * (1 - pooled) * (1 / n + 1 / nr))
            z = np.where(se0 > 0, gap / se0, 0.0)
            p = 2 * sps.norm.sf(np.abs(z))
            se = np.sqrt(mean * (1 - mean) / n + rest * (1 - rest) / nr)
            crit: Any = sps.norm.isf((1 - level) / 2)
        else:
            v1 = np.maximum(q - s * mean, 0.0) / (n - 1)
            v2 = np.maximum(qr - sr * rest, 0.0) / (nr - 1)
            e1, e2 = v1 / n, v2 / nr
            se = np.sqrt(e1 + e2)
            df = (e1 + e2) ** 2 / (e1**2 / (n - 1) + e2**2 / (nr - 1))
            t = np.where(se > 0, gap / se, 0.0)
            p = np.where(se > 0, 2 * sps.t.sf(np.abs(t), np.where(se > 0, df, 1.0)), 1.0)
            crit = sps.t.isf((1 - level) / 2, np.where(se > 0, df, 1.0))
        low, high = gap - crit * se, gap + crit * se
    p = np.where(tested, np.nan_to_num(p, nan=1.0), 1.0)
    return {"mean": mean, "rest": rest, "gap": np.where(tested, gap, 0.0), "low": low,
            "high": high, "p": p, "tested": tested}  # fmt: skip
