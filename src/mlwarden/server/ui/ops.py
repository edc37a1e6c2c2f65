"""Operational aggregates for pages: traffic, errors, latency quantiles, resources per bucket.

Each is one group-by pushed down to the engine over the model's events in the page's range;
only a row per bucket (and version) comes back.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from mlwarden.errors import NotFoundError
from mlwarden.store.queries import WINDOWS, filter_events

__all__ = ["bucket_for", "daily_counts", "operations", "resources"]

#: Resource features charted when the SDK's sampler sends them (``<model>.resources``).
RESOURCE_FEATURES = (
    "process_cpu_percent",
    "host_cpu_percent",
    "host_memory_percent",
    "process_rss_bytes",
)


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


def daily_counts(
    store: Any, record: Any, *, start: datetime, end: datetime, bucket: str = "day"
) -> list[tuple[datetime, int]]:
    """Events per bucket (the overview's traffic sparkline)."""
    ev = filter_events(store.events(record), start=start, end=end)
    out = (
        ev.group_by(b=ev.ts.truncate(WINDOWS[bucket]))
        .aggregate(n=ev.count())
        .order_by("b")
        .to_pyarrow()
        .to_pylist()
    )
    return [(_aware(r["b"]), int(r["n"])) for r in out]


def operations(
    store: Any,
    record: Any,
    *,
    start: datetime,
    end: datetime,
    version: str | None = None,
    segment: str | None = None,
) -> list[dict[str, Any]]:
    """Per bucket and version: events, errors, latency p50/p95/p99 (ms)."""
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
    store: Any, project: str, model: str, *, start: datetime, end: datetime
) -> tuple[list[str], list[dict[str, Any]]]:
    """Mean resource use per bucket from the companion ``<model>.resources`` model (CPU, memory,
    GPU), or nothing when the model's server does not sample them."""
    try:
        record = store.get_model(project, f"{model}.resources")
    except NotFoundError:
        return [], []
    ev = filter_events(store.events(record), start=start, end=end)
    cols = [c for c in ev.columns if c in RESOURCE_FEATURES or c.startswith("gpu")]
    cols = [c for c in cols if c.endswith("_percent") or c == "process_rss_bytes"]
    if not cols:
        return [], []
    rows: list[dict[str, Any]] = (
        ev.group_by(b=ev.ts.truncate(WINDOWS[bucket_for(start, end)]))
        .aggregate(**{c: ev[c].cast("float64").mean() for c in cols})
        .order_by("b")
        .to_pyarrow()
        .to_pylist()
    )
    for r in rows:
        r["b"] = _aware(r["b"])
    return cols, rows


def version_windows(
    store: Any, record: Any, *, start: datetime, end: datetime, versions: list[str]
) -> list[dict[str, Any]]:
    """Per bucket and version: events, errors, latency p50/p95, mean score, positive share,
    and (classifiers) labelled events and how many the model got right."""
    spec = record.spec
    ev = filter_events(store.events(record), start=start, end=end)
    ev = ev.filter(ev.version.isin(versions))
    b = ev.ts.truncate(WINDOWS[bucket_for(start, end)])
    metrics: dict[str, Any] = {
        "n": ev.count(),
        "errors": (ev.status == "error").sum().fill_null(0),
        "p50": ev.latency_ms.quantile(0.5),
        "p95": ev.latency_ms.quantile(0.95),
        "score": ev.score.mean(),
    }
    positive = spec.effective_positive_class
    if positive is not None:
        metrics["positive"] = (ev.prediction.cast("string") == str(positive)).mean()
    rows: list[dict[str, Any]] = (
        ev.group_by(b=b, version=ev.version).aggregate(**metrics).to_pyarrow().to_pylist()
    )
    if spec.task.is_classification:
        ac = store.actuals(record).select("event_id", "actual")
        lab = ev.select("event_id", "version", "prediction", b=b).inner_join(ac, "event_id")
        lab = lab.filter(lab.actual.notnull())
        hits = (
            lab.group_by("b", "version")
            .aggregate(
                labelled=lab.count(),
                correct=(lab.prediction.cast("string") == lab.actual.cast("string")).sum(),
            )
            .to_pyarrow()
            .to_pylist()
        )
        extra = {(h["b"], h["version"]): h for h in hits}
        for r in rows:
            h = extra.get((r["b"], r["version"]), {})
            r["labelled"] = int(h.get("labelled") or 0)
            r["correct"] = int(h.get("correct") or 0)
    for r in rows:
        r["b"] = _aware(r["b"])
    rows.sort(key=lambda r: (r["b"], r["version"]))
    return rows


def version_features(
    store: Any,
    record: Any,
    *,
    start: datetime,
    end: datetime,
    versions: list[str],
    columns: list[str],
) -> dict[str, dict[str, float | None]]:
    """Mean of each numeric feature per version over the range: {version: {column: mean}}."""
    if not columns:
        return {}
    ev = filter_events(store.events(record), start=start, end=end)
    ev = ev.filter(ev.version.isin(versions))
    rows = (
        ev.group_by("version")
        .aggregate(**{c: ev[c].cast("float64").mean() for c in columns})
        .to_pyarrow()
        .to_pylist()
    )
    return {str(r.pop("version")): r for r in rows}
