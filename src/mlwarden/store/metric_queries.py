"""Queries over OTLP metric data points (:meth:`Store.metric_points`), in ibis.

A cumulative series (same metric, service, start time and attributes) repeats its running
total at each export: only its newest point in the range counts. Delta points each count.

Examples
--------
>>> import ibis, pyarrow as pa
>>> from datetime import datetime
>>> from mlwarden.schema.otlp_metrics import METRIC_SCHEMA
>>> pts = [{"name": "gen_ai.client.token.usage", "kind": "histogram", "temporality": t,
...         "time": datetime(2026, 1, 1, 0, m), "start_time": datetime(2026, 1, 1),
...         "model": "gpt-4o", "token_type": "input", "count": c, "sum": s, "attributes": "{}"}
...        for t, m, c, s in [("cumulative", 1, 1, 10.0), ("cumulative", 2, 3, 40.0),
...                           ("delta", 3, 2, 5.0)]]
>>> (row,) = summary(ibis.memtable(pa.Table.from_pylist(pts, schema=METRIC_SCHEMA)))
>>> row["count"], row["sum"], row["points"]
(5, 45.0, 3)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mlwarden._lazy import ibis
from mlwarden.store.times import utc_naive

__all__ = ["summary"]


def summary(
    points: Any,
    *,
    name: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[dict[str, Any]]:
    """Per metric, model and token type: points received, the count and sum they add up to
    (histograms; for sums and gauges the values' sum), min and max."""
    t = points
    if name is not None:
        t = t.filter(t.name == name)
    if start is not None:
        t = t.filter(t.time >= utc_naive(start))
    if end is not None:
        t = t.filter(t.time < utc_naive(end))
    series = [t.name, t.temporality, t.service_name.fill_null(""), t.start_time, t.attributes]
    t = t.mutate(
        _rn=ibis.row_number().over(group_by=series, order_by=ibis.desc(t.time)),
        _n=t.count().over(group_by=series),
    )
    t = t.filter((t.temporality != "cumulative") | (t._rn == 0))
    t = t.mutate(_pts=ibis.cases((t.temporality == "cumulative", t._n), else_=1))
    value = t.sum.coalesce(t.value)
    agg = t.group_by(["name", "model", "token_type"]).aggregate(
        points=t._pts.sum(),
        count=t["count"].sum(),
        sum=value.sum(),
        min=t["min"].coalesce(t.value).min(),
        max=t["max"].coalesce(t.value).max(),
        first=t.start_time.min(),
        last=t.time.max(),
    )
    rows: list[dict[str, Any]] = (
        agg.order_by(["name", "model", "token_type"]).to_pyarrow().to_pylist()
    )
    for r in rows:
        r["points"] = int(r["points"] or 0)
        r["count"] = None if r["count"] is None else int(r["count"])
    return rows
