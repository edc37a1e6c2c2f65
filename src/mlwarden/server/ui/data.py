"""Reads of the monitor results the pages are built from.

The results table is small (one row per monitor, window and segment), so pages read it in
full for a model and time range; the ``details`` JSON is fetched only where a page shows it
(a drill-down, confidence bands, fairness groups). Times come back timezone-aware (UTC).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import ibis
import orjson

from mlwarden.store.times import utc_naive

if TYPE_CHECKING:
    from mlwarden.server.ui.state import ViewState
    from mlwarden.store.base import Store
    from mlwarden.store.protocols import Results

__all__ = [
    "MAX_SEGMENTS",
    "latest_rows",
    "one_result",
    "result_rows",
    "result_span",
    "segments_of",
]

#: Segments offered in a page's filter (evaluation caps values per column too).
MAX_SEGMENTS = 50
COLUMNS = (
    "model",
    "monitor",
    "kind",
    "column",
    "segment",
    "window_start",
    "window_end",
    "status",
    "value",
    "threshold",
    "warn",
    "n",
    "direction",
    "reason",
)


def _aware(x: Any) -> Any:
    if isinstance(x, datetime) and x.tzinfo is None:
        return x.replace(tzinfo=UTC)
    return x


def _rows(expr: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = expr.to_pyarrow().to_pylist()
    for r in rows:
        for k in ("window_start", "window_end"):
            if k in r:
                r[k] = _aware(r[k])
        if "details" in r:
            r["details"] = orjson.loads(r["details"]) if r["details"] else {}
    return rows


def _base(
    store: Results,
    project: str,
    model: str | None,
    *,
    segment: str | None = None,
    any_segment: bool = False,
    start: datetime | None = None,
    end: datetime | None = None,
    kinds: Iterable[str] | None = None,
    monitors: Iterable[str] | None = None,
) -> Any:
    t = store.results()
    preds = [t.project == project]
    if model is not None:
        preds.append(t.model == model)
    if segment is not None:
        preds.append(t.segment == segment)
    elif not any_segment:
        preds.append(t.segment.isnull())
    if start is not None:
        preds.append(t.window_start >= utc_naive(start))
    if end is not None:
        preds.append(t.window_start < utc_naive(end))
    if kinds is not None:
        preds.append(t.kind.isin(list(kinds)))
    if monitors is not None:
        preds.append(t.monitor.isin(list(monitors)))
    return t.filter(*preds)


def result_rows(
    store: Store,
    project: str,
    model: str | None,
    *,
    start: datetime | None,
    end: datetime | None,
    segment: str | None = None,
    any_segment: bool = False,
    kinds: Iterable[str] | None = None,
    monitors: Iterable[str] | None = None,
    details: bool = False,
) -> list[dict[str, Any]]:
    """Results of a model (or every model when None) in a range, oldest window first."""
    t = _base(
        store,
        project,
        model,
        segment=segment,
        any_segment=any_segment,
        start=start,
        end=end,
        kinds=kinds,
        monitors=monitors,
    )
    cols = [*COLUMNS, "details"] if details else list(COLUMNS)
    return _rows(t.select(*cols).order_by([t.window_start, t.monitor]))


def view_rows(
    store: Store,
    project: str,
    model: str,
    state: ViewState,
    *,
    kinds: Iterable[str] | None = None,
    monitors: Iterable[str] | None = None,
    details: bool = False,
) -> list[dict[str, Any]]:
    """:func:`result_rows` of a model in a page's view (its time range and segment)."""
    return result_rows(
        store,
        project,
        model,
        start=state.start,
        end=state.end,
        segment=state.segment,
        kinds=kinds,
        monitors=monitors,
        details=details,
    )


def latest_rows(
    store: Store,
    project: str,
    model: str | None,
    *,
    segment: str | None = None,
    any_segment: bool = False,
    start: datetime | None = None,
    end: datetime | None = None,
    kinds: Iterable[str] | None = None,
    with_value: bool = False,
) -> list[dict[str, Any]]:
    """The latest result of each monitor (per model and segment) in a range; ``with_value``:
    the latest that has a value (e.g. performance before the newest labels arrive)."""
    t = _base(
        store,
        project,
        model,
        segment=segment,
        any_segment=any_segment,
        start=start,
        end=end,
        kinds=kinds,
    )
    if with_value:
        t = t.filter(t.value.notnull())
    rn = ibis.row_number().over(
        group_by=[t.model, t.monitor, t.segment], order_by=ibis.desc(t.window_start)
    )
    picked = t.select(*COLUMNS, _rn=rn)
    return _rows(picked.filter(picked._rn == 0).drop("_rn").order_by(["model", "monitor"]))


def one_result(
    store: Store,
    project: str,
    model: str,
    monitor: str,
    window_start: datetime,
    segment: str | None,
) -> dict[str, Any] | None:
    """One result with its details (a drill-down), or None."""
    t = _base(store, project, model, segment=segment, monitors=[monitor])
    rows = _rows(
        t.filter(t.window_start == utc_naive(window_start)).select(*COLUMNS, "details").limit(1)
    )
    return rows[0] if rows else None


def result_span(store: Store, project: str, model: str) -> tuple[datetime | None, datetime | None]:
    """First window start and last window end of a model's results."""
    t = _base(store, project, model, any_segment=True)
    row = t.aggregate(lo=t.window_start.min(), hi=t.window_end.max()).to_pyarrow().to_pylist()[0]
    return _aware(row["lo"]), _aware(row["hi"])


def segments_of(store: Store, project: str, model: str) -> list[str]:
    """The segments a model has results for (``column=value``), sorted."""
    t = _base(store, project, model, any_segment=True)
    t = t.filter(t.segment.notnull())
    rows = t.select("segment").distinct().order_by("segment").limit(MAX_SEGMENTS).to_pyarrow()
    return [str(s) for s in rows.column("segment").to_pylist()]
