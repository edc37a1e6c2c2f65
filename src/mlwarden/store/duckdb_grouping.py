"""DuckDB's answer to :meth:`~mlwarden.store.base.Store.grouped_sums`: every grouping set in
one scan with ``GROUP BY GROUPING SETS`` over the ibis-compiled query (1M events x 30
columns: ~0.8 s for all single columns in one query, against ~3.5 s for one query per
column, each re-running the label join)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mlwarden._lazy import ibis
from mlwarden.errors import StorageError
from mlwarden.store.grouping_sets import Groups

__all__ = ["grouped_sums_duckdb"]


def grouped_sums_duckdb(
    read: Callable[[str], list[tuple[Any, ...]]],
    base: Any,
    keys: Mapping[str, Any],
    sets: Sequence[tuple[str, ...]],
    *,
    limit: int,
) -> Groups:
    """Every grouping set in one DuckDB scan (``read``: runs SQL on the database)."""
    names = {name: f"k{i}" for i, name in enumerate(keys)}
    cols = list(names.values())
    inner = base.select(**{names[k]: expr for k, expr in keys.items()}, _y=base._y)
    sql_inner = str(ibis.to_sql(inner, dialect="duckdb"))
    grouping = ", ".join("(" + ", ".join(names[k] for k in s) + ")" for s in sets)
    order = ", ".join(f"{c} ASC NULLS LAST" for c in cols)
    gid = f"GROUPING_ID({', '.join(cols)})" if cols else "0"
    select_keys = "".join(f", {c}" for c in cols)
    sql = (
        f"SELECT * FROM (SELECT {gid} AS _g{select_keys}, count(*) AS n, sum(_y) AS s, "
        f"sum(_y * _y) AS q FROM ({sql_inner}) GROUP BY GROUPING SETS ({grouping})) "
        f"WHERE n > 0 QUALIFY row_number() OVER (PARTITION BY _g ORDER BY n DESC"
        f"{', ' + order if order else ''}) <= {int(limit)}"
    )
    rows = read(sql)
    width = len(cols)
    by_mask: dict[int, int] = {}
    for i, s in enumerate(sets):
        grouped = {names[k] for k in s}
        mask = sum(1 << (width - 1 - j) for j, c in enumerate(cols) if c not in grouped)
        if mask in by_mask:
            raise StorageError(f"Grouping set {s} is given twice.")
        by_mask[mask] = i
    out: Groups = [{} for _ in sets]
    pos = [[cols.index(names[k]) for k in s] for s in sets]
    for row in rows:
        i = by_mask[int(row[0])]
        key = tuple(row[1 + j] for j in pos[i])
        out[i][key] = (int(row[width + 1]), float(row[width + 2]), float(row[width + 3]))
    return out
