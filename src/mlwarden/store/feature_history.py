"""One feature over time: per window its count, missing values and either quantiles (numeric)
or the counts of its most frequent categories (the rest counted as one "other").

Written once in ibis, run in the engine: one aggregate per window for a numeric feature (a
multi-quantile, one sort per window), two for a categorical one (the top categories over the
whole range, then their counts per window). Windows are those of the monitors
(:class:`~mlwarden.store.aggregates.WindowRun`), so the feature page lines up with its drift
results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlwarden._lazy import ibis
from mlwarden.errors import NotFoundError, expected
from mlwarden.store.aggregates import WindowRun
from mlwarden.store.queries import filter_events

__all__ = ["OTHER", "QUANTILES", "FeatureWindow", "feature_history"]

#: The quantiles of a numeric feature per window (the page's bands).
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
#: The name of the categories beyond the top ones.
OTHER = "(other)"


@dataclass(frozen=True)
class FeatureWindow:
    """A window of one feature: ``n`` events, ``missing`` of them without a value, and
    ``quantiles`` (numeric, in the order of :data:`QUANTILES`) or ``counts`` per category."""

    start: datetime
    n: int
    missing: int
    quantiles: tuple[float | None, ...] | None = None
    counts: dict[str, int] = field(default_factory=dict)


def _label(col: Any) -> Any:
    if col.type().is_boolean():  # as class labels and segments name them
        return ibis.cases((col, "1"), (~col, "0"), else_=ibis.null("string"))
    return col.cast("string")


def feature_history(
    events: Any,
    column: str,
    *,
    run: WindowRun,
    numeric: bool,
    top: int = 8,
    segment: dict[str, str] | None = None,
    version: str | None = None,
) -> list[FeatureWindow]:
    """Each window of ``run`` that has events, oldest first.

    Examples
    --------
    >>> import ibis, pyarrow as pa
    >>> from datetime import UTC, datetime, timedelta
    >>> ev = ibis.memtable(pa.table({"ts": [datetime(2026, 1, 1, h) for h in range(4)],
    ...     "x": [1.0, None, 3.0, 5.0], "c": ["a", "b", "a", None]}))
    >>> run = WindowRun(datetime(2024, 1, 1, tzinfo=UTC), timedelta(hours=2), 8772, 8773)
    >>> [(w.start.hour, w.n, w.missing) for w in feature_history(ev, "x", run=run, numeric=True)]
    [(0, 2, 1), (2, 2, 0)]
    >>> [(w.counts, w.missing) for w in feature_history(ev, "c", run=run, numeric=False, top=1)]
    [({'a': 1, '(other)': 1}, 0), ({'a': 1}, 1)]
    """
    if column not in events.columns:
        raise NotFoundError(expected("column", column, "be a column of the model", column))
    ev = filter_events(
        events, start=run.range_start, end=run.range_end, segment=segment, version=version
    )
    ev = ev.mutate(_w=run.index_expr(ev.ts))
    col = ev[column]
    if numeric:
        totals = (
            ev.group_by("_w")
            .aggregate(
                n=ev.count(),
                missing=col.isnull().sum().fill_null(0),
                _q=col.cast("float64").quantile(list(QUANTILES)),
            )
            .order_by("_w")
            .to_pyarrow()
            .to_pylist()
        )
        return [
            FeatureWindow(
                start=run.start(int(r["_w"])),
                n=int(r["n"]),
                missing=int(r["missing"]),
                quantiles=tuple(r["_q"] or (None,) * len(QUANTILES)),
            )
            for r in totals
        ]
    label = _label(col)
    seen = ev.filter(col.notnull()).mutate(_v=label)
    tops = (
        seen.group_by("_v")
        .aggregate(_n=seen.count())
        .order_by([ibis.desc("_n"), "_v"])
        .limit(top)
        .to_pyarrow()
        .column("_v")
        .to_pylist()
    )
    # one pass per window and shown category; the missing ones are the null category
    named = ev.mutate(
        _c=ibis.cases((label.isnull(), ibis.null("string")), (label.isin(tops), label), else_=OTHER)
    )
    rows = named.group_by(["_w", "_c"]).aggregate(_n=named.count()).to_pyarrow().to_pylist()
    per: dict[int, tuple[dict[str, int], list[int]]] = {}
    for r in rows:
        counts, missing = per.setdefault(int(r["_w"]), ({}, [0]))
        if r["_c"] is None:
            missing[0] += int(r["_n"])
        else:
            counts[str(r["_c"])] = int(r["_n"])
    order = {v: i for i, v in enumerate([*tops, OTHER])}
    return [
        FeatureWindow(
            start=run.start(w),
            n=sum(counts.values()) + missing[0],
            missing=missing[0],
            counts=dict(sorted(counts.items(), key=lambda kv: order.get(kv[0], 0))),
        )
        for w, (counts, missing) in sorted(per.items())
    ]
