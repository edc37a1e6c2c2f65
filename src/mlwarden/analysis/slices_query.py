"""The pushed-down half of slice discovery: per-row outcomes and grouped sums in the engine.

:func:`outcomes` builds, in ibis, the model's events of a time range with one extra column
``_y``: the per-row outcome whose mean a metric compares (1.0 for a correct prediction, the
latency in ms, ...). :func:`grouped_sums` then reduces it to ``(n, sum, sum of squares)`` per
group for several *grouping sets* at once (one set per candidate column, or per pair of
columns), so only a few hundred small rows come back to Python, never raw events.

Two implementations of :func:`grouped_sums` give the same numbers:

* :func:`grouped_sums_ibis` (``store/grouping_sets.py``): one ibis aggregate per set;
  portable to every engine, and the oracle in tests;
* the engine's own :meth:`~mlwarden.store.base.Store.grouped_sums` (DuckDB: one scan with
  ``GROUP BY GROUPING SETS`` over the ibis-compiled outcome query, ``store/duckdb_grouping.py``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import ibis
import numpy as np

from mlwarden.schema.spec import ModelSpec, Task
from mlwarden.store.base import ModelRecord
from mlwarden.store.grouping_sets import Groups, grouped_sums_ibis
from mlwarden.store.protocols import AggregateSource, GroupingSets
from mlwarden.store.times import utc_naive

__all__ = [
    "MISSING_CODE",
    "Groups",
    "bin_key",
    "grouped_sums",
    "grouped_sums_ibis",
    "label_key",
    "outcomes",
    "window_quantiles",
]

#: Code of a missing (null or NaN) numeric value in a bin key.
MISSING_CODE = -1
#: The key of values outside ``keep`` in :func:`label_key`: an invisible separator first, so no
#: real category looks like it (a NUL byte would, but it cannot stand in SQL text).
OTHER = "\u2063other"
#: Rows a window's quantiles are computed from at most (a deterministic hash sample above).
QUANTILE_SAMPLE = 200_000


def outcomes(
    store: AggregateSource, model: ModelRecord, metric: str, start: datetime, end: datetime
) -> Any:
    """The model's events in ``[start, end)`` with the per-row outcome ``_y`` of ``metric``.

    Rows without an outcome (no label, no score, no latency) are left out. ``accuracy`` and
    ``abs_error`` join the actuals (one label per event: the latest wins in the store).
    """
    ev = store.events(model)
    ev = ev.filter(ev.ts >= utc_naive(start), ev.ts < utc_naive(end))
    if metric in ("accuracy", "abs_error", "accuracy_vs_expected"):
        ac = store.actuals(model)
        ac = ac.select(event_id=ac.event_id, _actual=ac.actual, _actual_value=ac.actual_value)
        ev = ev.inner_join(ac, "event_id")
    if metric == "accuracy":
        ev = ev.filter(ev._actual.notnull(), ev.prediction.notnull())
        y = _as_float(ev.prediction == ev._actual)
    elif metric == "accuracy_vs_expected":
        ev = ev.filter(ev._actual.notnull(), ev.prediction.notnull())
        ev = ev.filter(confidence(ev, model.spec).notnull())
        y = _as_float(ev.prediction == ev._actual) - confidence(ev, model.spec)
    elif metric == "abs_error":
        ev = ev.filter(ev._actual_value.notnull(), ev.prediction.notnull())
        y = (ev.prediction - ev._actual_value).abs().cast("float64")
    elif metric == "estimated_accuracy":
        conf = confidence(ev, model.spec)
        ev = ev.filter(conf.notnull())
        y = confidence(ev, model.spec)
    elif metric == "error_rate":
        y = _as_float(ev.status == "error")
    elif metric == "latency":
        ev = ev.filter(ev.latency_ms.notnull())
        y = ev.latency_ms.cast("float64")
    else:  # pragma: no cover - validated by the caller
        raise AssertionError(metric)
    return ev.mutate(_y=y)


def _as_float(cond: Any) -> Any:
    """1.0 where ``cond`` holds, else 0.0, on every engine: PostgreSQL casts no boolean to
    double precision, and reads a bare ``1.0`` as ``numeric`` (its sums come back Decimal)."""
    return ibis.ifelse(cond, 1, 0).cast("float64")


def confidence(ev: Any, spec: ModelSpec) -> Any:
    """Expected correctness of each prediction from its scores, if the model is calibrated:
    ``max(score, 1 - score)`` for a binary model, the top class score for a multiclass one."""
    if spec.task is Task.MULTICLASS and spec.classes:
        cols = [ev[f"score__{c}"] for c in spec.classes]
        return ibis.greatest(*cols) if len(cols) > 1 else cols[0]
    return ibis.greatest(ev.score, 1.0 - ev.score)


def bin_key(col: Any, edges: Sequence[float]) -> Any:
    """Bin code of a numeric column: ``i`` for ``edges[i-1] <= x < edges[i]`` (open-ended end
    bins), :data:`MISSING_CODE` for null or NaN."""
    x = col.cast("float64")
    cases = [(x.isnull() | x.isnan(), MISSING_CODE)]
    cases += [(x < float(e), i) for i, e in enumerate(edges)]
    return ibis.cases(*cases, else_=len(edges)).cast("int16")


def label_key(col: Any, keep: Sequence[str] | None = None, other: str = OTHER) -> Any:
    """A categorical or boolean column as strings (booleans ``'true'`` / ``'false'``); with
    ``keep``, values outside it become ``other`` (nulls stay null)."""
    if col.type().is_boolean():
        return ibis.cases((col, "true"), (~col, "false"), else_=ibis.null("string"))
    s = col.cast("string")
    if keep is None:
        return s
    return ibis.cases(
        (s.isnull(), ibis.null("string")), (s.isin(list(keep)), s), else_=ibis.literal(other)
    )


def window_quantiles(
    events: Any, columns: Sequence[str], levels: Sequence[float]
) -> dict[str, list[float]]:
    """Quantiles of numeric columns over a window, in one engine query.

    Above :data:`QUANTILE_SAMPLE` rows they come from a deterministic sample (rows whose
    ``event_id`` hashes to 0 modulo the thinning factor): bins only need to be roughly even,
    and exact quantiles cost ~0.1 s per column per million rows.
    """
    if not columns:
        return {}
    n = int(events.count().to_pyarrow().as_py())
    if n > QUANTILE_SAMPLE:
        events = events.filter(events.event_id.hash() % math.ceil(n / QUANTILE_SAMPLE) == 0)
    aggs = {}
    for i, c in enumerate(columns):
        x = events[c].cast("float64")
        x = ibis.cases((x.isnan(), ibis.null("float64")), else_=x)
        aggs[f"q{i}"] = x.quantile(list(levels))
    row = events.aggregate(**aggs).to_pyarrow().to_pylist()[0]
    out: dict[str, list[float]] = {}
    for i, c in enumerate(columns):
        vals = row[f"q{i}"] or []
        out[c] = [float(v) for v in vals if v is not None and math.isfinite(v)]
    return out


def grouped_sums(
    store: GroupingSets,
    base: Any,
    keys: Mapping[str, Any],
    sets: Sequence[tuple[str, ...]],
    *,
    limit: int,
) -> Groups:
    """``(n, sum, sum of squares)`` of ``base._y`` per group of each grouping set.

    ``keys`` names the key expressions (over ``base``); each set is a tuple of key names
    (``()`` is the whole table). Per set, at most ``limit`` groups are kept: the largest,
    ties broken by key. The engine answers (DuckDB: every set in one scan; otherwise one
    ibis query per set, :func:`grouped_sums_ibis`).
    """
    return store.grouped_sums(base, keys, sets, limit=limit)


def as_floats(values: Any) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Finite float values of an Arrow column or sequence (nulls and NaN dropped)."""
    x = np.asarray(
        values.to_numpy(zero_copy_only=False) if hasattr(values, "to_numpy") else values,
        dtype=np.float64,
    )
    finite: np.ndarray[Any, np.dtype[np.float64]] = x[np.isfinite(x)]
    return finite
