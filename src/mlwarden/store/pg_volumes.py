"""Window volumes on PostgreSQL with DuckDB's latency quantiles, bit for bit.

Both engines interpolate a continuous quantile between the sorted values at
``floor((n-1)q)`` and ``ceil((n-1)q)``, but DuckDB computes ``lo*(1-d) + hi*d`` and
PostgreSQL's ``percentile_cont`` ``lo + (hi-lo)*d``: the last bit differs in about one window
in seven, and a quantile monitors compare must not depend on the engine. Here PostgreSQL picks
the two neighbours (a window function ranks each window's latencies) and the interpolation is
DuckDB's, in Python floats (IEEE doubles, as DuckDB's).
"""

from __future__ import annotations

import math
from typing import Any

from mlwarden._lazy import ibis

__all__ = ["LATENCY_QUANTILES", "window_volumes"]

#: the quantiles of :func:`mlwarden.store.aggregates._volume`, by name
LATENCY_QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}


def window_volumes(
    backend: Any, filtered: Any, *, light: bool, read: Any
) -> dict[int, dict[str, Any]]:
    """Volumes of the windows of ``filtered`` (a model's events with their window index
    ``_w``, an ibis expression on ``backend``); ``read(sql)`` runs a query, returns its rows."""
    inner = str(ibis.to_sql(filtered, dialect="postgres"))
    counts = "count(*) AS n, count(latency_ms) AS latency_n"
    if not light:
        counts += (
            ", coalesce(sum(CASE WHEN status = 'error' THEN 1 ELSE 0 END), 0) AS errors"
            ", count(DISTINCT event_id) AS ids"
        )
    picks = ", ".join(
        f"max(v) FILTER (WHERE i = floor((m - 1)::float8 * {q!r}::float8)) AS lo_{k}, "
        f"max(v) FILTER (WHERE i = ceil((m - 1)::float8 * {q!r}::float8)) AS hi_{k}"
        for k, q in LATENCY_QUANTILES.items()
    )
    sql = (
        f"WITH ev AS ({inner}), "
        f"agg AS (SELECT _w, {counts} FROM ev GROUP BY _w), "
        "ranked AS (SELECT _w, latency_ms AS v, "
        "row_number() OVER (PARTITION BY _w ORDER BY latency_ms) - 1 AS i, "
        "count(*) OVER (PARTITION BY _w) AS m FROM ev WHERE latency_ms IS NOT NULL), "
        f"qs AS (SELECT _w, {picks} FROM ranked GROUP BY _w) "
        "SELECT agg.*, qs.* FROM agg LEFT JOIN qs ON agg._w = qs._w"
    )
    out: dict[int, dict[str, Any]] = {}
    names = ["_w", "n", "latency_n"] + ([] if light else ["errors", "ids"])
    for row in read(sql):
        r = dict(zip(names, row[: len(names)], strict=True))
        picked = row[len(names) + 1 :]  # qs._w skipped
        m = int(r["latency_n"])
        w = int(r["_w"])  # kept in the value, as the other engines' volumes keep it
        values: dict[str, float | None] = {}
        for j, (k, q) in enumerate(LATENCY_QUANTILES.items()):
            lo, hi = picked[2 * j], picked[2 * j + 1]
            values[k] = None if m == 0 or lo is None else _interpolate(lo, hi, (m - 1) * q)
        out[w] = {**{k: int(v) for k, v in r.items()}, **values}
    return out


def _interpolate(lo: float, hi: float, rn: float) -> float:
    """DuckDB's continuous quantile between the neighbours at ``floor(rn)`` and ``ceil(rn)``.

    Examples
    --------
    >>> _interpolate(1.0, 2.0, 3.25), _interpolate(5.0, 5.0, 2.0)
    (1.25, 5.0)
    """
    d = rn - math.floor(rn)
    if d == 0:
        return float(lo)
    return float(lo) * (1.0 - d) + float(hi) * d
