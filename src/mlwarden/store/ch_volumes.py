"""Window volumes on ClickHouse with DuckDB's latency quantiles, bit for bit.

ClickHouse's ``quantileExactInclusive`` picks the same two neighbours as DuckDB's
``quantile_cont`` (at ``floor((n-1)q)`` and ``ceil((n-1)q)`` of the sorted values) but
interpolates ``lo + (hi-lo)*d``, DuckDB ``lo*(1-d) + hi*d``: the last bit may differ. As on
PostgreSQL (:mod:`.pg_volumes`), ClickHouse picks the neighbours (one sorted array per window,
the memory ``quantileExact`` takes too) and the interpolation is DuckDB's, in Python. Counts
come back as ``UInt64``: made ``int`` here.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from mlwarden.store.pg_volumes import LATENCY_QUANTILES, _interpolate

__all__ = ["window_volumes"]


def window_volumes(backend: Any, filtered: Any, *, light: bool) -> dict[int, dict[str, Any]]:
    """Volumes of the windows of ``filtered`` (a model's events with their window index
    ``_w``, an ibis expression on ``backend``)."""
    inner = str(backend.compile(filtered))
    counts = "count() AS n, count(latency_ms) AS latency_n"
    if not light:
        counts += ", countIf(status = 'error') AS errors, uniqExact(event_id) AS ids"
    picks = ", ".join(
        f"s[toUInt64(floor((length(s) - 1) * {q!r})) + 1] AS lo_{k}, "
        f"s[toUInt64(ceil((length(s) - 1) * {q!r})) + 1] AS hi_{k}"
        for k, q in LATENCY_QUANTILES.items()
    )
    sql = (
        f"SELECT _w, n, latency_n{'' if light else ', errors, ids'}, {picks} FROM ("
        f"SELECT _w, {counts}, arraySort(groupArray(latency_ms)) AS s FROM ({inner}) GROUP BY _w)"
    )
    table: pa.Table = backend.con.query_arrow(sql)
    out: dict[int, dict[str, Any]] = {}
    names = ["n", "latency_n"] + ([] if light else ["errors", "ids"])
    for row in table.to_pylist():
        m = int(row["latency_n"])
        values: dict[str, float | None] = {}
        for k, q in LATENCY_QUANTILES.items():
            lo, hi = row[f"lo_{k}"], row[f"hi_{k}"]
            values[k] = None if m == 0 else _interpolate(lo, hi, (m - 1) * q)
        w = int(row["_w"])
        out[w] = {"_w": w, **{k: int(row[k]) for k in names}, **values}
    return out
