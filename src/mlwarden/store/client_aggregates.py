"""Per-client window aggregates of a model's events, for the probing monitor: in the engine.

Events carry the ``client_id`` of whoever sent them. :class:`ClientProfile` asks, per window
and per client that sent at least ``min_rows`` events: the events, the scores present and
those within ``band`` of 0.5, the distinct cells of a fine grid over the numeric features
(``floor((x - low) / step)`` per column, the near-duplicate count is ``n`` minus them), and
each feature's distinct values. Only for the few (client, feature) pairs with at most
``max_levels`` distinct values does a second query return those values with their counts
(a swept feature's levels). What comes back is bounded by the window's events divided by
``min_rows``, whatever the traffic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlwarden._lazy import ibis

__all__ = ["ClientProfile", "client_profiles"]


@dataclass(frozen=True)
class ClientProfile:
    """Per-client numbers of a window (see the module's docstring). ``grid``: ``(column,
    low, step)`` of each numeric feature; ``score``: the score column, if the model has one."""

    grid: tuple[tuple[str, float, float], ...]
    score: str | None = None
    band: float = 0.05
    min_rows: int = 50
    max_levels: int = 32


def client_profiles(ev: Any, r: ClientProfile) -> dict[int, dict[str, dict[str, Any]]]:
    """``{window: {client: {"n", "scored", "near_boundary", "cells", "distinct": {col: k},
    "levels": {col: [(value, count), ...]}}}}`` for clients with at least ``min_rows`` events.

    ``ev``: the windows' events with their window index in ``_w``.
    """
    ev = ev.filter(ev.client_id.notnull())
    metrics: dict[str, Any] = {"n": ev.count()}
    if r.score is not None:
        s = ev[r.score].cast("float64")
        metrics["scored"] = s.count()
        near = (s - 0.5).abs() < r.band  # counted by ifelse: PostgreSQL casts no bool to bigint
        metrics["near_boundary"] = ibis.ifelse(near, 1, 0).sum().fill_null(0)
    if r.grid:
        parts = []
        for col, low, step in r.grid:
            cell = ((ev[col].cast("float64") - low) / step).floor().cast("string")
            parts.append(cell.fill_null("~"))
        key = parts[0] if len(parts) == 1 else ibis.literal("|").join(parts)
        metrics["cells"] = key.nunique()
        for i, (col, _, _) in enumerate(r.grid):
            metrics[f"_d{i}"] = ev[col].nunique()
    grouped = ev.group_by("_w", "client_id").aggregate(**metrics)
    rows = grouped.filter(grouped.n >= r.min_rows).to_pyarrow().to_pylist()
    out: dict[int, dict[str, dict[str, Any]]] = {}
    wanted: dict[str, set[tuple[int, str]]] = {}
    for row in rows:
        w, client = int(row["_w"]), str(row["client_id"])
        distinct = {col: int(row[f"_d{i}"] or 0) for i, (col, _, _) in enumerate(r.grid)}
        out.setdefault(w, {})[client] = {
            "n": int(row["n"]),
            "scored": int(row.get("scored") or 0),
            "near_boundary": int(row.get("near_boundary") or 0),
            "cells": int(row.get("cells") or 0),
            "distinct": distinct,
            "levels": {},
        }
        for col, k in distinct.items():
            if 2 <= k <= r.max_levels:
                wanted.setdefault(col, set()).add((w, client))
    for col, pairs in wanted.items():
        clients = sorted({c for _, c in pairs})
        windows = sorted({w for w, _ in pairs})
        sub = ev.filter(ev.client_id.isin(clients), ev._w.isin(windows))
        sub = sub.mutate(_v=sub[col].cast("float64"))
        sub = sub.filter(sub._v.notnull())
        counted = (
            sub.group_by(_w=sub._w, client_id=sub.client_id, value=sub._v)
            .aggregate(k=sub.count())
            .to_pyarrow()
            .to_pylist()
        )
        for row in counted:
            key = (int(row["_w"]), str(row["client_id"]))
            if key in pairs:
                levels = out[key[0]][key[1]]["levels"].setdefault(col, [])
                levels.append((float(row["value"]), int(row["k"])))
    for clients_of in out.values():
        for prof in clients_of.values():
            for col in prof["levels"]:
                prof["levels"][col].sort()
    return out
