"""Aggregates over a model's events, written once in ibis for every engine.

Each function takes ibis table expressions (from :meth:`Store.events` /
:meth:`Store.actuals`) and returns a small Arrow table of *additive* numbers:
counts and sums per window (and per group). Ratios, metrics and statistical
tests are computed in numpy from these, so windows and segments merge by
addition and engines stay interchangeable.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import pyarrow as pa

from mlwarden._lazy import ibis
from mlwarden.errors import NotFoundError, ValidationError, expected
from mlwarden.store.times import utc_naive

__all__ = [
    "WINDOWS",
    "column_summary",
    "confusion_counts",
    "score_bins",
    "event_counts",
    "filter_events",
    "regression_sums",
]

#: Window units every engine can bucket by (Spark cannot bucket by 15 minutes).
WINDOWS: dict[str, str] = {"minute": "m", "hour": "h", "day": "D", "week": "W"}
Window = Literal["minute", "hour", "day", "week"] | None


def filter_events(
    events: Any,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    version: str | None = None,
    segment: dict[str, str] | None = None,
    ranges: dict[str, tuple[float | None, float | None]] | None = None,
) -> Any:
    """Events in ``[start, end)``, of one version, of one segment (tag or feature value), and
    with each numeric column of ``ranges`` in ``[low, high)`` (a None bound is open)."""
    preds = []
    if start is not None:
        preds.append(events.ts >= utc_naive(start))
    if end is not None:
        preds.append(events.ts < utc_naive(end))
    if version is not None:
        preds.append(events.version == version)
    for col, value in (segment or {}).items():
        if col not in events.columns:
            raise ValidationError(expected("segment column", col, "be a column of the model", col))
        preds.append(events[col].cast("string") == value)
    for col, (low, high) in (ranges or {}).items():
        if col not in events.columns or not events[col].type().is_numeric():
            raise ValidationError(expected("range column", col, "be a numeric column", col))
        if low is not None:
            preds.append(events[col] >= low)
        if high is not None:
            preds.append(events[col] < high)
    return events.filter(*preds) if preds else events


def _window_key(events: Any, window: Window) -> dict[str, Any]:
    if window is None:
        return {}
    if window not in WINDOWS:
        raise ValidationError(
            expected("window", "window", f"be one of {', '.join(WINDOWS)}", window)
        )
    return {"window_start": events.ts.truncate(WINDOWS[window])}


def event_counts(
    events: Any, actuals: Any, *, window: Window = "hour", by_version: bool = True, **filters: Any
) -> pa.Table:
    """Per window (and version): events, errors, events with an actual, latency sum and count.

    Examples
    --------
    >>> import ibis, pyarrow as pa
    >>> from datetime import datetime
    >>> ev = ibis.memtable(pa.table({"event_id": ["a", "b"], "version": ["v1", "v1"],
    ...     "ts": [datetime(2026, 1, 1, 10, 5), datetime(2026, 1, 1, 10, 50)],
    ...     "status": ["ok", "error"], "latency_ms": [10.0, 30.0]}))
    >>> ac = ibis.memtable(pa.table({"event_id": ["a"], "actual": ["1"]}))
    >>> event_counts(ev, ac, window="hour").to_pylist()[0]["labelled"]
    1
    """
    ev = filter_events(events, **filters)
    joined = ev.left_join(actuals.select("event_id", has_actual=ibis.literal(1)), "event_id")
    keys = _window_key(joined, window)
    if by_version:
        keys["version"] = joined.version
    agg = joined.group_by(**keys) if keys else joined
    out = agg.aggregate(
        events=joined.count(),
        errors=(joined.status == "error").sum().fill_null(0),
        labelled=joined.has_actual.sum().fill_null(0),
        latency_sum=joined.latency_ms.sum().fill_null(0.0),
        latency_n=joined.latency_ms.count(),
    )
    if keys:
        out = out.order_by(list(keys))
    return _int_counts(out.to_pyarrow())


def confusion_counts(
    events: Any, actuals: Any, *, window: Window = None, by: str | None = None, **filters: Any
) -> pa.Table:
    """Counts of (prediction, actual) pairs of labelled events, per window and optional group.

    This is the joined aggregate classification metrics are computed from.
    """
    ev = filter_events(events, **filters)
    joined = ev.inner_join(actuals.select("event_id", "actual"), "event_id")
    keys = _window_key(joined, window)
    if by is not None:
        keys[by] = joined[by]
    keys["prediction"] = joined.prediction
    keys["actual"] = joined.actual
    out = joined.group_by(**keys).aggregate(n=joined.count()).order_by(list(keys))
    return _int_counts(out.to_pyarrow())


def score_bins(
    events: Any, actuals: Any, *, bins: int, positive: str, **filters: Any
) -> tuple[list[int], list[int], int, int]:
    """Labelled events with a score, counted in ``bins`` equal bins over [0, 1] by whether their
    actual is ``positive``: (positives per bin, negatives per bin, scores below 0, scores above 1).

    Bin ``b`` holds ``b/bins <= score < (b+1)/bins`` (a score within 1e-9 below an edge counts
    as on it, so decimal scores such as 0.58 land where they are written); scores outside
    [0, 1] fall in the end bins and are counted apart."""
    ev = filter_events(events, **filters)
    joined = ev.inner_join(actuals.select("event_id", "actual"), "event_id")
    joined = joined.filter(joined.score.notnull(), joined.actual.notnull())
    raw = (joined.score * bins + 1e-9).floor().cast("int64")
    b = ibis.greatest(ibis.least(raw, bins - 1), 0)
    grouped = joined.group_by(
        b=b, pos=(joined.actual == positive), low=joined.score < 0, high=joined.score > 1
    ).aggregate(n=joined.count())
    pos, neg = [0] * bins, [0] * bins
    below = above = 0
    for row in grouped.to_pyarrow().to_pylist():
        (pos if row["pos"] else neg)[int(row["b"])] += int(row["n"])
        below += int(row["n"]) if row["low"] else 0
        above += int(row["n"]) if row["high"] else 0
    return pos, neg, below, above


def regression_sums(
    events: Any, actuals: Any, *, window: Window = None, **filters: Any
) -> pa.Table:
    """n, sums of error, |error|, error², y, y² of labelled events, per window."""
    ev = filter_events(events, **filters)
    joined = ev.inner_join(actuals.select("event_id", "actual_value"), "event_id")
    joined = joined.filter(joined.actual_value.notnull(), joined.prediction.notnull())
    err = joined.prediction - joined.actual_value
    keys = _window_key(joined, window)
    agg = joined.group_by(**keys) if keys else joined
    out = agg.aggregate(
        n=joined.count(),
        sum_err=err.sum(),
        sum_abs_err=err.abs().sum(),
        sum_sq_err=(err * err).sum(),
        sum_y=joined.actual_value.sum(),
        sum_y2=(joined.actual_value * joined.actual_value).sum(),
    )
    if keys:
        out = out.order_by(list(keys))
    return _int_counts(out.to_pyarrow())


def column_summary(
    events: Any, column: str, *, numeric: bool, top: int = 20, **filters: Any
) -> dict[str, Any]:
    """Count, nulls and either moments + exact quantiles (numeric) or top values (other kinds).

    A column the model does not have is a :class:`NotFoundError` (a 404 on the API): the name
    is part of the path, like the model's.
    """
    if column not in events.columns:
        raise NotFoundError(expected("column", column, "be a column of the model", column))
    ev = filter_events(events, **filters)
    col = ev[column]
    if numeric:
        row = (
            ev.aggregate(
                n=ev.count(),
                nulls=col.isnull().sum().fill_null(0),
                sum=col.sum(),
                sum_sq=(col * col).sum(),
                min=col.min(),
                max=col.max(),
                p50=col.quantile(0.5),
                p95=col.quantile(0.95),
                p99=col.quantile(0.99),
            )
            .to_pyarrow()
            .to_pylist()[0]
        )
        return {k: (int(v) if k in ("n", "nulls") and v is not None else v) for k, v in row.items()}
    totals = (
        ev.aggregate(n=ev.count(), nulls=col.isnull().sum().fill_null(0))
        .to_pyarrow()
        .to_pylist()[0]
    )
    seen = ev.filter(col.notnull())  # count the filtered relation (ibis refuses ev.count())
    counts = (
        seen.group_by(value=seen[column].cast("string"))
        .aggregate(n=seen.count())
        .order_by([ibis.desc("n"), "value"])
        .limit(top)
        .to_pyarrow()
        .to_pylist()
    )
    return {"n": int(totals["n"]), "nulls": int(totals["nulls"] or 0), "top": counts}


def _int_counts(table: pa.Table) -> pa.Table:
    """Engines differ in count types (unsigned, decimal): make counts int64."""
    cols = []
    for f, c in zip(table.schema, table.columns, strict=True):
        if pa.types.is_integer(f.type) or pa.types.is_decimal(f.type):
            cols.append(c.cast(pa.int64()))
        else:
            cols.append(c)
    return pa.Table.from_arrays(cols, names=table.column_names)
