"""Window volumes on Spark with DuckDB's latency quantiles, bit for bit.

ibis compiles a quantile to Spark's exact ``percentile``, which interpolates between the
same two neighbours as DuckDB but as ``(ceil(rn) - rn) * lo + (rn - floor(rn)) * hi``: the
last bit can differ from DuckDB's ``lo * (1 - d) + hi * d``, and ``percentile_approx`` (what
a sketch would give) is further off. As on PostgreSQL (:mod:`.pg_volumes`), Spark ranks each
window's latencies and picks the two neighbours; the interpolation is DuckDB's, in Python
floats. Positions are computed in doubles (``0.95D``: a plain ``0.95`` is a decimal in Spark
SQL, exact where DuckDB's double product is not).
"""

from __future__ import annotations

from typing import Any

from mlwarden._lazy import ibis
from mlwarden.store.pg_volumes import LATENCY_QUANTILES, _interpolate

__all__ = ["window_volumes"]


def window_volumes(session: Any, filtered: Any, *, light: bool) -> dict[int, dict[str, Any]]:
    """Volumes of the windows of ``filtered`` (a model's events with their window index
    ``_w``, an ibis expression over the session's temporary views)."""
    inner = str(ibis.to_sql(filtered, dialect="pyspark"))
    counts = "count(*) AS n, count(latency_ms) AS latency_n"
    if not light:
        counts += (
            ", coalesce(sum(CASE WHEN status = 'error' THEN 1 ELSE 0 END), 0) AS errors"
            ", count(DISTINCT event_id) AS ids"
        )
    picks = ", ".join(
        f"max(v) FILTER (WHERE i = floor(CAST(m - 1 AS DOUBLE) * {q!r}D)) AS lo_{k}, "
        f"max(v) FILTER (WHERE i = ceil(CAST(m - 1 AS DOUBLE) * {q!r}D)) AS hi_{k}"
        for k, q in LATENCY_QUANTILES.items()
    )
    sql = (
        f"WITH ev AS ({inner}), "
        f"agg AS (SELECT _w, {counts} FROM ev GROUP BY _w), "
        "ranked AS (SELECT _w, latency_ms AS v, "
        "row_number() OVER (PARTITION BY _w ORDER BY latency_ms) - 1 AS i, "
        "count(*) OVER (PARTITION BY _w) AS m FROM ev WHERE latency_ms IS NOT NULL), "
        f"qs AS (SELECT _w AS _qw, {picks} FROM ranked GROUP BY _w) "
        "SELECT agg.*, qs.* FROM agg LEFT JOIN qs ON agg._w = qs._qw"
    )
    names = ["_w", "n", "latency_n"] + ([] if light else ["errors", "ids"])
    out: dict[int, dict[str, Any]] = {}
    for row in session.sql(sql).collect():
        r = {k: int(row[j]) for j, k in enumerate(names)}
        picked = list(row)[len(names) + 1 :]  # qs._qw skipped
        m = r["latency_n"]
        values: dict[str, float | None] = {}
        for j, (k, q) in enumerate(LATENCY_QUANTILES.items()):
            lo, hi = picked[2 * j], picked[2 * j + 1]
            values[k] = None if m == 0 or lo is None else _interpolate(lo, hi, (m - 1) * q)
        out[r["_w"]] = {**r, **values}
    return out
