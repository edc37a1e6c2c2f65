"""A user's custom metric, importable as 'custom_metric:share_of_north' in tests."""

from __future__ import annotations

from mlwarden.monitors.context import WindowData
from mlwarden.store.aggregates import Categories


def share_of_north(data: WindowData) -> float | None:
    raw = data.get(Categories("region"))
    if not raw:
        return None
    counts, _ = raw
    total = sum(counts.values())
    return counts.get("north", 0) / total if total else None
