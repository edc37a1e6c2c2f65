"""A uniform random sample of a window's events, with their actuals: from an alert to the data.

The sample is drawn in the engine, written once in ibis: every event of the window (and
segment) gets a pseudo-random key, a hash of its id and a seed, and the ``n`` smallest keys
are kept. Each event is as likely as any other to be kept (a uniform sample without
replacement); the same seed gives the same sample, so a link to a sample is reproducible.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from mlwarden._lazy import ibis
from mlwarden.errors import ValidationError, expected
from mlwarden.store.queries import filter_events

__all__ = ["MAX_SAMPLE", "sample_events"]

#: The largest sample one request returns.
MAX_SAMPLE = 100_000
#: Columns of the stored events that are bookkeeping, not data.
_HIDDEN = ("received_at", "shadow")


def sample_events(
    events: Any,
    actuals: Any,
    *,
    n: int,
    seed: int,
    regression: bool = False,
    **filters: Any,
) -> tuple[pa.Table, int]:
    """Up to ``n`` events of ``filters`` (see :func:`~mlwarden.store.queries.filter_events`)
    drawn uniformly at random, oldest first, each with its ``actual`` (null without a label;
    a number for a regression model) and when the label came (``actual_ts``); and how many
    events the window holds.

    Examples
    --------
    >>> import ibis, pyarrow as pa
    >>> from datetime import datetime
    >>> ev = ibis.memtable(pa.table({"event_id": [f"e{i}" for i in range(10)],
    ...     "ts": [datetime(2026, 1, 1, i) for i in range(10)], "x": list(range(10)),
    ...     "received_at": [datetime(2026, 1, 2)] * 10}))
    >>> ac = ibis.memtable(pa.table({"event_id": ["e1"], "actual": ["1"],
    ...     "actual_value": [None], "ts": [datetime(2026, 1, 3)]},
    ...     schema=pa.schema([("event_id", pa.string()), ("actual", pa.string()),
    ...     ("actual_value", pa.float64()), ("ts", pa.timestamp("us"))])))
    >>> table, total = sample_events(ev, ac, n=3, seed=1, end=datetime(2026, 1, 1, 5))
    >>> table.num_rows, total, table.column_names
    (3, 5, ['event_id', 'ts', 'x', 'actual', 'actual_ts'])
    >>> sample_events(ev, ac, n=3, seed=1, end=datetime(2026, 1, 1, 5))[0].equals(table)
    True
    """
    if not 1 <= n <= MAX_SAMPLE:
        raise ValidationError(expected("parameter", "limit", f"be in [1, {MAX_SAMPLE}]", n))
    ev = filter_events(events, **filters)
    total = int(ev.count().to_pyarrow().as_py())
    keep = [c for c in ev.columns if c not in _HIDDEN]
    key = (ev.event_id.cast("string") + ibis.literal(f"#{seed}")).hash()
    picked = ev.select(*keep, _key=key).order_by("_key").limit(n).drop("_key")
    labels = actuals.select(
        "event_id",
        actual=actuals.actual_value if regression else actuals.actual,
        actual_ts=actuals.ts,
    )
    joined = picked.left_join(labels, "event_id").select(*keep, "actual", "actual_ts")
    table: pa.Table = joined.order_by(["ts", "event_id"]).to_pyarrow()
    return table, total
