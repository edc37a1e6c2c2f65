"""Operational numbers for pages: traffic, errors, latency quantiles, scores, accuracy,
feature means and resources per bucket and version.

They come from the store's hourly roll-ups (:mod:`mlwarden.store.rollups`), merged into the
page's buckets by addition; latency quantiles from the merged log-spaced bins, to within
2.3% of the exact ones. Only a view filtered to one segment scans events (one group-by
pushed down to the engine): roll-ups are kept per version, not per segment value.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlwarden.errors import NotFoundError
from mlwarden.stats import log_bins
from mlwarden.store.queries import WINDOWS, filter_events
from mlwarden.store.rollups import Rollup, merge, numeric_columns

if TYPE_CHECKING:
    from mlwarden.store.base import Store
    from mlwarden.store.protocols import AggregateSource, RollupStore

__all__ = [
    "LATENCY_QUANTILES",
    "bucket_for",
    "daily_counts",
    "operations",
    "resources",
    "version_features",
    "version_windows",
]

#: Resource features charted when the SDK's sampler sends them (``<model>.resources``).
RESOURCE_FEATURES = (
    "process_cpu_percent",
    "host_cpu_percent",
    "host_memory_percent",
    "process_rss_bytes",
)
LATENCY_QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}


def bucket_for(start: datetime, end: datetime) -> str:
    """Hours for up to three days, days up to six months, weeks beyond."""
    span = end - start
    if span <= timedelta(days=3):
        return "hour"
    return "day" if span <= timedelta(days=183) else "week"


def _segment(segment: str | None) -> dict[str, str] | None:
    if not segment:
        return None
    col, _, value = segment.partition("=")
    return {col: value}


def _aware(x: Any) -> Any:
    return x.replace(tzinfo=UTC) if isinstance(x, datetime) and x.tzinfo is None else x


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = table.to_pylist()
    for r in rows:
        if "b" in r:
            r["b"] = _aware(r["b"])
    return rows


def _quantiles(latency: pa.Table, unit: str | None) -> dict[tuple[Any, Any], list[float | None]]:
    """Latency quantiles per (bucket, version) from hourly bins."""
    merged = merge(latency, unit, keys=("version", "bin"))
    if merged.num_rows == 0:
        return {}
    if unit is None:
        merged = merged.append_column("b", pa.nulls(merged.num_rows, pa.timestamp("us")))
    merged = merged.sort_by([("b", "ascending"), ("version", "ascending"), ("bin", "ascending")])
    # group boundaries where (bucket, version) changes
    b = merged.column("b").cast(pa.int64()).fill_null(0).to_numpy()
    v = pc.dictionary_encode(merged.column("version").fill_null("\0")).combine_chunks()
    codes = v.indices.to_numpy(zero_copy_only=False)
    change = np.flatnonzero((b[1:] != b[:-1]) | (codes[1:] != codes[:-1])) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [merged.num_rows]])
    bins = merged.column("bin").to_numpy()
    counts = merged.column("n").to_numpy()
    qs = list(LATENCY_QUANTILES.values())
    out: dict[tuple[Any, Any], list[float | None]] = {}
    firsts = merged.select(["b", "version"]).take(pa.array(starts)).to_pylist()
    for key, i, j in zip(firsts, starts, ends, strict=True):
        out[(_aware(key["b"]), key["version"])] = log_bins.quantiles(bins[i:j], counts[i:j], qs)
    return out


def daily_counts(
    store: RollupStore, record: Any, *, start: datetime, end: datetime, bucket: str = "day"
) -> list[tuple[datetime, int]]:
    """Events per bucket (the overview's traffic sparkline)."""
    ops = merge(store.rollup(record, start=start, end=end).ops, bucket, keys=())
    return sorted((_aware(r["b"]), int(r["n"])) for r in ops.select(["b", "n"]).to_pylist())


def operations(
    store: Store,
    record: Any,
    *,
    start: datetime,
    end: datetime,
    version: str | None = None,
    segment: str | None = None,
) -> list[dict[str, Any]]:
    """Per bucket and version: events, errors, latency p50/p95/p99 (ms)."""
    unit = bucket_for(start, end)
    if segment:
        return operations_exact(
            store, record, start=start, end=end, version=version, segment=segment
        )
    roll = store.rollup(record, start=start, end=end)
    ops, latency = roll.ops, roll.latency
    if version is not None:
        ops = ops.filter(pc.equal(ops.column("version"), version))
        latency = latency.filter(pc.equal(latency.column("version"), version))
    quantiles = _quantiles(latency, unit)
    rows = _rows(merge(ops.select(["hour", "version", "n", "errors"]), unit))
    for r in rows:
        q = quantiles.get((r["b"], r["version"]), [None] * len(LATENCY_QUANTILES))
        r.update(zip(LATENCY_QUANTILES, q, strict=True))
    rows.sort(key=lambda r: (r["b"], r["version"] or ""))
    return rows


def operations_exact(
    store: AggregateSource,
    record: Any,
    *,
    start: datetime,
    end: datetime,
    version: str | None = None,
    segment: str | None = None,
) -> list[dict[str, Any]]:
    """:func:`operations` from raw events, with exact quantiles (a segment's view)."""
    ev = filter_events(
        store.events(record), start=start, end=end, version=version, segment=_segment(segment)
    )
    lat = ev.latency_ms
    rows: list[dict[str, Any]] = (
        ev.group_by(b=ev.ts.truncate(WINDOWS[bucket_for(start, end)]), version=ev.version)
        .aggregate(
            n=ev.count(),
            errors=(ev.status == "error").sum().fill_null(0),
            p50=lat.quantile(0.5),
            p95=lat.quantile(0.95),
            p99=lat.quantile(0.99),
        )
        .order_by(["b", "version"])
        .to_pyarrow()
        .to_pylist()
    )
    for r in rows:
        r["b"] = _aware(r["b"])
        r["n"], r["errors"] = int(r["n"]), int(r["errors"] or 0)
    return rows


def resources(
    store: Store, project: str, model: str, *, start: datetime, end: datetime
) -> tuple[list[str], list[dict[str, Any]]]:
    """Mean resource use per bucket from the companion ``<model>.resources`` model (CPU, memory,
    GPU), or nothing when the model's server does not sample them."""
    try:
        record = store.get_model(project, f"{model}.resources")
    except NotFoundError:
        return [], []
    feats = store.rollup(record, start=start, end=end).features
    names = set(feats.column("column").to_pylist())
    cols = [c for c in sorted(names) if c in RESOURCE_FEATURES or c.startswith("gpu")]
    cols = [c for c in cols if c.endswith("_percent") or c == "process_rss_bytes"]
    if not cols:
        return [], []
    merged = merge(feats, bucket_for(start, end), keys=("column",))
    by_b: dict[datetime, dict[str, Any]] = {}
    for r in merged.to_pylist():
        if r["column"] in cols:
            row = by_b.setdefault(_aware(r["b"]), {"b": _aware(r["b"])})
            row[r["column"]] = r["total"] / r["n"] if r["n"] else None
    rows = [by_b[b] for b in sorted(by_b)]
    for row in rows:
        for c in cols:
            row.setdefault(c, None)
    return cols, rows


def version_windows(
    roll: Rollup, record: Any, *, unit: str, versions: list[str]
) -> list[dict[str, Any]]:
    """Per bucket and version: events, errors, latency p50/p95, mean score, positive share,
    and (classifiers, from a roll-up with labels) labelled events and how many the model got
    right."""
    wanted = pa.array(versions, pa.string())
    ops = roll.ops.filter(pc.is_in(roll.ops.column("version"), value_set=wanted))
    latency = roll.latency.filter(pc.is_in(roll.latency.column("version"), value_set=wanted))
    quantiles = _quantiles(latency, unit)
    rows = _rows(merge(ops, unit))
    positive = record.spec.effective_positive_class is not None
    for r in rows:
        q = quantiles.get((r["b"], r["version"]), [None] * len(LATENCY_QUANTILES))
        r["p50"], r["p95"] = q[0], q[1]
        r["score"] = r["score_sum"] / r["score_n"] if r["score_n"] else None
        if positive:
            r["positive"] = r["positive"] / r["pred_n"] if r["pred_n"] else None
        else:
            r.pop("positive")
    if roll.labels is not None:
        labels = roll.labels.filter(pc.is_in(roll.labels.column("version"), value_set=wanted))
        hits = {(r["b"], r["version"]): r for r in _rows(merge(labels, unit))}
        for r in rows:
            h = hits.get((r["b"], r["version"]), {})
            r["labelled"] = int(h.get("labelled") or 0)
            r["correct"] = int(h.get("correct") or 0)
    rows.sort(key=lambda r: (r["b"], r["version"]))
    return rows


def version_features(
    store: AggregateSource,
    record: Any,
    roll: Rollup,
    *,
    start: datetime,
    end: datetime,
    versions: list[str],
    columns: list[str],
) -> dict[str, dict[str, float | None]]:
    """Mean of each numeric feature per version over the range: {version: {column: mean}}
    (versions without a value left out)."""
    out: dict[str, dict[str, float | None]] = {v: dict.fromkeys(columns) for v in versions}
    present: set[str] = set()
    feats = roll.features.filter(
        pc.is_in(roll.features.column("version"), value_set=pa.array(versions, pa.string()))
    )
    for r in merge(feats, None, keys=("version", "column")).to_pylist():
        if r["column"] in out[r["version"]] and r["n"]:
            out[r["version"]][r["column"]] = r["total"] / r["n"]
            present.add(r["version"])
    rest = [c for c in columns if c not in set(numeric_columns(record.spec))]
    if rest:  # features beyond those the roll-ups sum
        ev = filter_events(store.events(record), start=start, end=end)
        ev = ev.filter(ev.version.isin(versions))
        means = ev.group_by("version").aggregate(**{c: ev[c].cast("float64").mean() for c in rest})
        for r in means.to_pyarrow().to_pylist():
            v = str(r.pop("version"))
            out[v].update(r)
            present.add(v)
    return {v: m for v, m in out.items() if v in present}
