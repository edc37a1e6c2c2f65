"""Queries over trace scores: a filtered page, aggregates per score name, window totals.

All of them are ibis expressions over the ``scores`` table a store hands out
(:meth:`~mlwarden.store.base.Store.scores`); only small aggregates come back to Python.
A model's scores are those of the traces of its spans (the model's ``span_service``).

Examples
--------
>>> import ibis, pyarrow as pa
>>> from datetime import datetime
>>> from mlwarden.schema.scores import validate_scores
>>> rows = [{"trace_id": f"t{i}", "name": "thumbs", "value": i % 4 != 0} for i in range(8)]
>>> t = ibis.memtable(validate_scores(rows, now=datetime(2026, 1, 1)).table)
>>> a = aggregates(t)[0]
>>> a["name"], a["count"], a["true_share"]
('thumbs', 8, 0.75)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from mlwarden.store.times import utc_naive

if TYPE_CHECKING:
    from mlwarden.store.aggregates import WindowRun
    from mlwarden.store.protocols import SpanLog

__all__ = ["ScoreTotals", "aggregates", "filtered", "model_scores", "score_kinds", "window_totals"]


def _rows(expr: Any) -> list[dict[str, Any]]:
    table: pa.Table = expr.to_pyarrow()
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def filtered(
    t: Any,
    *,
    trace_id: str | None = None,
    span_id: str | None = None,
    session_id: str | None = None,
    name: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Any:
    """``t`` (scores) filtered by each argument given; times are ``[start, end)``."""
    for col, v in (("trace_id", trace_id), ("span_id", span_id),
                   ("session_id", session_id), ("name", name)):  # fmt: skip
        if v is not None:
            t = t.filter(t[col] == v)
    if start is not None:
        t = t.filter(t.ts >= utc_naive(start))
    if end is not None:
        t = t.filter(t.ts < utc_naive(end))
    return t


def aggregates(t: Any) -> list[dict[str, Any]]:
    """Per (score name, data type): how many, the mean of numeric scores, the share of true
    of boolean ones and the share of each label of categorical ones."""
    per = _rows(
        t.group_by("name", "data_type")
        .aggregate(count=t.count(), mean=t.value.mean(), trues=(t.value == 1.0).sum())
        .order_by(["name", "data_type"])
    )
    c = t.filter(t.data_type == "categorical")
    labels = _rows(c.group_by("name", "label").aggregate(n=c.count()))
    out = []
    for r in per:
        n = int(r["count"])
        row: dict[str, Any] = {"name": r["name"], "data_type": r["data_type"], "count": n,
                               "mean": None, "true_share": None, "categories": None}  # fmt: skip
        if r["data_type"] == "numeric":
            row["mean"] = float(r["mean"])
        elif r["data_type"] == "boolean":
            row["true_share"] = int(r["trues"] or 0) / n
        else:
            row["categories"] = {
                str(c["label"]): int(c["n"]) / n
                for c in sorted(labels, key=lambda c: str(c["label"]))
                if c["name"] == r["name"]
            }
        out.append(row)
    return out


def model_scores(store: SpanLog, model: Any) -> Any:
    """The scores of the traces of a model's spans."""
    t = store.scores(model.project)
    spans = store.spans(model.project)
    traces = spans.filter(spans.service_name == model.spec.span_service).select("trace_id")
    return t.filter(t.trace_id.isin(traces.trace_id))


def score_kinds(t: Any) -> list[tuple[str, str]]:
    """The (name, data type) pairs of boolean and numeric scores in ``t``."""
    rows = _rows(t.filter(t.data_type.isin(["boolean", "numeric"])).select("name", "data_type")
                 .distinct().order_by(["name", "data_type"]))  # fmt: skip
    return [(str(r["name"]), str(r["data_type"])) for r in rows]


@dataclass(frozen=True)
class ScoreTotals:
    """Per window, for the boolean or numeric scores ``name``: ``n``, ``false`` (boolean
    scores that are false), ``sum`` and ``sum_sq`` of values, as ``{"current": {...}, "past":
    {...}, "past_windows": k}`` with ``past`` summed over the ``history`` earlier windows."""

    name: str
    history: int = 24


KEYS = ("n", "false", "sum", "sum_sq")


def window_totals(t: Any, r: ScoreTotals, run: WindowRun) -> dict[int, dict[str, Any]]:
    """:class:`ScoreTotals` of scores ``t`` over the windows of ``run`` (by score time)."""
    t = t.filter(t.name == r.name, t.data_type.isin(["boolean", "numeric"]))
    t = t.filter(t.ts >= utc_naive(run.start(run.first - r.history)),
                 t.ts < utc_naive(run.range_end))  # fmt: skip
    t = t.mutate(_w=run.index_expr(t.ts))
    per: dict[int, dict[str, float]] = {}
    for row in _rows(t.group_by("_w").aggregate(
        n=t.count(), false=(t.value == 0.0).sum(), sum=t.value.sum(),
        sum_sq=(t.value * t.value).sum(),
    )):  # fmt: skip
        per[int(row["_w"])] = {k: float(row[k] or 0.0) for k in KEYS}
    return _with_past(per, r.history, range(run.first, run.last + 1))


def _with_past(
    per: dict[int, dict[str, float]], history: int, windows: Iterable[int]
) -> dict[int, dict[str, Any]]:
    zero = dict.fromkeys(KEYS, 0.0)
    out: dict[int, dict[str, Any]] = {}
    for k in windows:
        past, n = dict(zero), 0
        for j in range(k - history, k):
            if j in per:
                n += 1
                for key in KEYS:
                    past[key] += per[j][key]
        out[k] = {"current": per.get(k, dict(zero)), "past": past, "past_windows": n}
    return out
