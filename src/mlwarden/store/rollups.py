"""Hourly roll-ups of a model's events: what pages read instead of scanning raw rows.

Per hour and version, additive numbers only: events, errors, latencies counted on the fixed
log-spaced bins of :mod:`mlwarden.stats.log_bins`, score sums, predictions of the positive
class, the sum of each numeric feature, and labelled and correctly predicted events. Hours
merge into days, weeks or a whole range by addition (:func:`merge`); latency quantiles come
from the merged bins, to within one bin (2.3%) of the exact ones.

:func:`compute_events` and :func:`compute_labels` are the straightforward computation from
raw events, written once in ibis for every engine. An engine keeps their results and
recomputes only the hours whose events or labels changed (DuckDB:
:mod:`mlwarden.store.duckdb_rollups`); tests compare what it serves with these functions run
on the same data.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mlwarden._lazy import ibis
from mlwarden.schema.spec import ModelSpec
from mlwarden.stats import log_bins
from mlwarden.store.times import utc_naive

__all__ = [
    "FEATURES_SCHEMA",
    "LABELS_SCHEMA",
    "LATENCY_SCHEMA",
    "MAX_FEATURES",
    "OPS_SCHEMA",
    "Rollup",
    "compute_events",
    "compute_labels",
    "merge",
    "numeric_columns",
    "rollup_key",
]

#: Numeric features summed per hour (the first ones of the spec); more are read raw.
MAX_FEATURES = 100
HOUR = timedelta(hours=1)
TS = pa.timestamp("us")

OPS_SCHEMA = pa.schema(
    [
        ("hour", TS),
        ("version", pa.string()),
        ("n", pa.int64()),
        ("errors", pa.int64()),
        ("latency_n", pa.int64()),
        ("score_n", pa.int64()),
        ("score_sum", pa.float64()),
        ("pred_n", pa.int64()),
        ("positive", pa.int64()),
    ]
)
LATENCY_SCHEMA = pa.schema(
    [("hour", TS), ("version", pa.string()), ("bin", pa.int32()), ("n", pa.int64())]
)
FEATURES_SCHEMA = pa.schema(
    [
        ("hour", TS),
        ("version", pa.string()),
        ("column", pa.string()),
        ("n", pa.int64()),
        ("total", pa.float64()),
    ]
)
LABELS_SCHEMA = pa.schema(
    [("hour", TS), ("version", pa.string()), ("labelled", pa.int64()), ("correct", pa.int64())]
)


@dataclass(frozen=True)
class Rollup:
    """Hourly tables of one model (Arrow, schemas ``*_SCHEMA``); ``labels`` is None when not
    asked for, ``labels_as_of`` the time its counts were brought up to date."""

    ops: pa.Table
    latency: pa.Table
    features: pa.Table
    labels: pa.Table | None = None
    labels_as_of: datetime | None = None


def numeric_columns(spec: ModelSpec) -> list[str]:
    """The features summed per hour: numeric and boolean ones, the first :data:`MAX_FEATURES`."""
    names = [f.name for f in spec.features if f.kind.value in ("numeric", "boolean")]
    return names[:MAX_FEATURES]


def rollup_key(spec: ModelSpec) -> str:
    """What stored roll-ups depend on besides the events: a change means a rebuild."""
    return json.dumps(
        {
            "positive": spec.effective_positive_class,
            "features": numeric_columns(spec),
            "bins": [log_bins.BINS_PER_DECADE, log_bins.LOWEST, log_bins.HIGHEST],
            # roll-ups of traffic only (shadow rows left out): older ones counted them
            "traffic": 1,
        },
        separators=(",", ":"),
    )


def _in_hours(events: Any, hours: Sequence[datetime] | None) -> Any:
    if hours is None:
        return events
    if not hours:
        return events.filter(ibis.literal(False))
    naive = sorted({utc_naive(h) for h in hours})
    ev = events.filter(events.ts >= naive[0], events.ts < naive[-1] + HOUR)
    if len(naive) < round((naive[-1] - naive[0]) / HOUR) + 1:  # not one contiguous run
        ev = ev.filter(ev.ts.truncate("h").isin(naive))
    return ev


def _latency_bin(lat: Any) -> Any:
    k = (lat.log10() * log_bins.BINS_PER_DECADE).floor().clip(log_bins.LOWEST, log_bins.HIGHEST)
    return ibis.cases((lat <= 0, log_bins.ZERO), else_=k).cast("int32")


def _table(rows: pa.Table, schema: pa.Schema) -> pa.Table:
    cols = []
    for f in schema:
        col = rows.column(f.name)
        if f.name == "hour" and pa.types.is_timestamp(col.type) and col.type.tz is not None:
            col = col.cast(pa.timestamp("us", tz="UTC")).cast(TS)
        cols.append(
            pc.fill_null(col.cast(f.type), 0) if pa.types.is_integer(f.type) else col.cast(f.type)
        )
    return pa.Table.from_arrays(cols, schema=schema)


def compute_events(
    events: Any, spec: ModelSpec, *, hours: Sequence[datetime] | None = None
) -> tuple[pa.Table, pa.Table, pa.Table]:
    """``(ops, latency, features)`` of the events in ``hours`` (every hour when None)."""
    ev = _in_hours(events, hours)
    ev = ev.mutate(_h=ev.ts.truncate("h"))
    keys = {"hour": ev._h, "version": ev.version}
    pred = ev.prediction.cast("string")
    positive = spec.effective_positive_class
    lat_ok = ev.latency_ms.notnull() & ~ev.latency_ms.isnan()
    ops = ev.group_by(**keys).aggregate(
        n=ev.count(),
        errors=(ev.status == "error").sum().fill_null(0),
        latency_n=lat_ok.ifelse(1, 0).sum().fill_null(0),
        score_n=ev.score.count(),
        score_sum=ev.score.sum(),
        pred_n=pred.count(),
        positive=(pred == str(positive)).ifelse(1, 0).sum().fill_null(0)
        if positive is not None
        else ibis.literal(0, "int64"),
    )
    lat = ev.filter(lat_ok)
    latency = lat.group_by(hour=lat._h, version=lat.version, bin=_latency_bin(lat.latency_ms))
    latency = latency.aggregate(n=lat.count())
    cols = [c for c in numeric_columns(spec) if c in ev.columns]
    feats = pa.table({"hour": pa.array([], TS), "version": pa.array([], pa.string())})
    if cols:
        wide = ev.group_by(**keys).aggregate(
            **{f"n_{i}": ev[c].count() for i, c in enumerate(cols)},
            **{f"s_{i}": ev[c].cast("float64").sum() for i, c in enumerate(cols)},
        )
        feats = wide.to_pyarrow()
    return (
        _table(ops.to_pyarrow(), OPS_SCHEMA),
        _table(latency.to_pyarrow(), LATENCY_SCHEMA),
        _long_features(feats, cols),
    )


def _long_features(wide: pa.Table, cols: list[str]) -> pa.Table:
    """One row per hour, version and column (columns without a value in the hour left out)."""
    if not cols or wide.num_rows == 0:
        return FEATURES_SCHEMA.empty_table()
    parts = []
    hour = _table(wide.select(["hour"]), pa.schema([("hour", TS)])).column(0)
    for i, c in enumerate(cols):
        n = pc.fill_null(wide.column(f"n_{i}").cast(pa.int64()), 0)
        part = pa.Table.from_arrays(
            [
                hour,
                wide.column("version").cast(pa.string()),
                pa.array([c] * wide.num_rows, pa.string()),
                n,
                wide.column(f"s_{i}").cast(pa.float64()),
            ],
            schema=FEATURES_SCHEMA,
        )
        parts.append(part.filter(pc.greater(n, 0)))
    return pa.concat_tables(parts)


def compute_labels(
    events: Any, actuals: Any, spec: ModelSpec, *, hours: Sequence[datetime] | None = None
) -> pa.Table:
    """Labelled events and how many the model got right, per hour and version (classifiers;
    an empty table for other tasks)."""
    if not spec.task.is_classification:
        return LABELS_SCHEMA.empty_table()
    ev = _in_hours(events, hours)
    ev = ev.select("event_id", "version", "prediction", hour=ev.ts.truncate("h"))
    lab = ev.inner_join(actuals.select("event_id", "actual"), "event_id")
    lab = lab.filter(lab.actual.notnull())
    out = lab.group_by("hour", "version").aggregate(
        labelled=lab.count(),
        correct=(lab.prediction.cast("string") == lab.actual.cast("string"))
        .ifelse(1, 0)
        .sum()
        .fill_null(0),
    )
    return _table(out.to_pyarrow(), LABELS_SCHEMA)


#: How :func:`merge` truncates hours (weeks start on Monday, as the engines' week truncation).
_UNITS = {"hour": ("hour", False), "day": ("day", False), "week": ("week", True)}


def merge(table: pa.Table, unit: str | None, *, keys: Sequence[str] = ("version",)) -> pa.Table:
    """Sum the numbers of an hourly table by ``unit`` (hour, day, week; None: the whole
    range) and ``keys``; the bucket is the column ``b``; other columns are dropped."""
    group = list(keys)
    if unit is not None:
        name, monday = _UNITS[unit]
        b = pc.floor_temporal(table.column("hour"), unit=name, week_starts_monday=monday)
        table = table.append_column("b", b)
        group = ["b", *group]
    sums = [
        f.name
        for f in table.schema
        if f.name not in group and (pa.types.is_integer(f.type) or pa.types.is_floating(f.type))
    ]
    if table.num_rows == 0:
        fields = [table.schema.field(c) for c in group] + [table.schema.field(c) for c in sums]
        return pa.schema(fields).empty_table()
    out = table.group_by(group, use_threads=False).aggregate([(c, "sum") for c in sums])
    return out.rename_columns([c.removesuffix("_sum") for c in out.column_names])
