"""SLOs over a model's requests (its events) in ClickHouse: the counts of
:meth:`~mlwarden.store.duckdb_slo.SloTables.slo_counts` and ``slo_series`` for
``source="requests"``, in ClickHouse's SQL (probe results stay in the primary store)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from mlwarden.store.ch_connection import q, ts_literal
from mlwarden.store.times import utc_naive

__all__ = ["request_slo_counts", "request_slo_series"]

Read = Callable[[str], list[dict[str, Any]]]


def _scope(threshold_ms: float | None) -> tuple[str, str]:
    """(rows counted, bad rows) of a request SLO: errors, or latencies above the threshold
    among events that carry one; shadow predictions are not requests."""
    traffic = "NOT ifNull(shadow, false)"
    if threshold_ms is None:
        return traffic, "status = 'error'"
    return f"latency_ms IS NOT NULL AND {traffic}", f"latency_ms > {float(threshold_ms)!r}"


def request_slo_counts(
    read: Read,
    uid: int,
    *,
    threshold_ms: float | None,
    until: datetime,
    windows: Sequence[timedelta],
) -> dict[timedelta, tuple[int, int]]:
    """(bad, total) in each window ending at ``until`` (its end included), one scan."""
    scope, bad = _scope(threshold_ms)
    end = utc_naive(until)
    cols = []
    for i, w in enumerate(windows):
        start = ts_literal(end - w)
        cols.append(f"countIf(ts > {start}) AS t{i}")
        cols.append(f"countIf(ts > {start} AND ({bad})) AS b{i}")
    rows = read(
        f"SELECT {', '.join(cols)} FROM {q(f'events_{uid}_v')} WHERE {scope} "
        f"AND ts > {ts_literal(end - max(windows))} AND ts <= {ts_literal(end)}"
    )
    row = rows[0] if rows else {}
    return {
        w: (int(row.get(f"b{i}") or 0), int(row.get(f"t{i}") or 0)) for i, w in enumerate(windows)
    }


def request_slo_series(
    read: Read,
    uid: int,
    *,
    threshold_ms: float | None,
    since: datetime,
    until: datetime,
    step: timedelta,
) -> list[tuple[datetime, int, int]]:
    """(bucket start, bad, total) per ``step`` from ``since`` to ``until``, empty buckets
    left out."""
    scope, bad = _scope(threshold_ms)
    secs = int(step.total_seconds())
    rows = read(
        f"SELECT intDiv(toUnixTimestamp(ts), {secs}) AS b, countIf({bad}) AS bad, count() AS n "
        f"FROM {q(f'events_{uid}_v')} WHERE {scope} AND ts > {ts_literal(utc_naive(since))} "
        f"AND ts <= {ts_literal(utc_naive(until))} GROUP BY b ORDER BY b"
    )
    return [
        (datetime.fromtimestamp(int(r["b"]) * secs, UTC), int(r["bad"]), int(r["n"])) for r in rows
    ]
