"""The rows of one time window of a model, bounded: every row, or a reproducible sample.

Comparing two windows feature by feature and building a reference from a window both need
raw values, not only additive aggregates (a two-sample test on the window's own quantiles;
a reference a monitor fits its baseline on). Rows are bounded: a window with more rows than
``limit`` gives the ``limit`` rows with the smallest hash of their event id, a pseudo-random
pick that is the same every time the window is read (DuckDB's ``ORDER BY .. LIMIT`` keeps a
heap of ``limit`` rows, not a sort of the window).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from mlwarden._lazy import ibis
from mlwarden.store.queries import filter_events

if TYPE_CHECKING:
    from mlwarden.store.protocols import AggregateSource

__all__ = ["WindowRows", "window_rows"]


@dataclass(frozen=True)
class WindowRows:
    """Rows of a window: ``table`` holds at most the limit's rows, ``total`` counts them all."""

    table: pa.Table
    total: int

    @property
    def sampled(self) -> bool:
        """Whether ``table`` is a sample of the window (it holds fewer rows than there are)."""
        return int(self.table.num_rows) < self.total


def window_rows(
    store: AggregateSource,
    model: Any,
    *,
    start: datetime,
    end: datetime,
    columns: Sequence[str],
    limit: int,
    segment: dict[str, str] | None = None,
    labels: bool = False,
) -> WindowRows:
    """``columns`` of the model's events in ``[start, end)`` (of one segment), at most
    ``limit`` of them; ``labels``: with the ``actual`` and ``actual_value`` of each row (null
    where no label arrived).

    Examples
    --------
    >>> from datetime import datetime, timedelta
    >>> import pyarrow as pa
    >>> from mlwarden.schema.spec import Feature, ModelSpec
    >>> from mlwarden.store import open_store
    >>> store = open_store()
    >>> rec = store.create_model("p", ModelSpec(name="m", task="regression",
    ...     features=[Feature(name="x", kind="numeric")]))
    >>> t0 = datetime(2026, 1, 1)
    >>> ev = pa.table({"event_id": [f"e{i}" for i in range(10)], "version": ["v1"] * 10,
    ...     "ts": [t0 + timedelta(minutes=i) for i in range(10)],
    ...     "x": [float(i) for i in range(10)]})
    >>> _ = store.append_events(rec, ev).result()
    >>> rows = window_rows(store, rec, start=t0, end=t0 + timedelta(minutes=5),
    ...     columns=["x"], limit=3)
    >>> rows.total, rows.table.num_rows, rows.sampled
    (5, 3, True)
    >>> store.close()
    """
    ev = filter_events(store.events(model), start=start, end=end, segment=segment)
    total = int(ev.count().to_pyarrow().as_py())
    keep = list(dict.fromkeys(columns))
    if total == 0:
        cols = keep + (["actual", "actual_value"] if labels else [])
        schema = ev.select(*keep).schema().to_pyarrow() if keep else pa.schema([])
        empty = schema.empty_table()
        if labels:
            empty = empty.append_column("actual", pa.array([], pa.string()))
            empty = empty.append_column("actual_value", pa.array([], pa.float64()))
        return WindowRows(empty.select(cols), 0)
    picked = ev.select("event_id", *keep)
    if total > limit:
        picked = picked.mutate(_h=picked.event_id.hash())
        picked = picked.order_by([picked._h, picked.event_id]).limit(limit).drop("_h")
    if labels:
        ac = store.actuals(model).select(
            _eid=ibis._.event_id, actual=ibis._.actual, actual_value=ibis._.actual_value
        )
        picked = picked.left_join(ac, picked.event_id == ac._eid).drop("_eid")
    table: pa.Table = picked.to_pyarrow()
    return WindowRows(table.drop_columns(["event_id"]), total)
