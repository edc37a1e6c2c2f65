"""Window aggregates for monitors: small additive numbers per window, computed in the engine.

A monitor declares :class:`Request` values (hashable, so identical requests of
different monitors are computed once); :func:`collect` runs each request once
over a run of tumbling windows and returns, per request, a dict from window
index to its aggregate. Windows are ``origin + k * cadence``: the index is
``floor((epoch(ts) - origin) / cadence)``, which every engine can compute.

Numeric histograms are the hot path: one scan computes the histograms of all
requested columns with DuckDB's ``histogram(x, boundaries)`` (binary search per
value); :func:`histogram_ibis` is the portable version, kept as the oracle.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from mlwarden._lazy import ibis
from mlwarden.store.client_aggregates import ClientProfile, client_profiles
from mlwarden.store.kpi_aggregates import KpiRows, KpiTerms, kpi_rows, kpi_terms
from mlwarden.store.protocols import WindowVolumes
from mlwarden.store.score_queries import ScoreTotals
from mlwarden.store.span_aggregates import (
    SpanQuantiles,
    SpanRequest,
    SpanSpend,
    SpanTexts,
    SpanTotals,
    collect_spans,
)
from mlwarden.store.times import utc_naive

if TYPE_CHECKING:
    from mlwarden.store.base import Store
    from mlwarden.store.protocols import AggregateSource

__all__ = [
    "Categories",
    "Confusion",
    "Exceedance",
    "GroupConfusion",
    "RESOURCES_SUFFIX",
    "Histogram",
    "Regression",
    "Request",
    "ResourceUse",
    "ScoreBins",
    "Volume",
    "WindowRun",
    "collect",
    "histogram_ibis",
]


@dataclass(frozen=True)
class WindowRun:
    """Tumbling windows ``[origin + k*cadence, origin + (k+1)*cadence)`` for k in [first, last]."""

    origin: datetime
    cadence: timedelta
    first: int
    last: int

    def start(self, k: int) -> datetime:
        return self.origin + k * self.cadence

    @property
    def range_start(self) -> datetime:
        return self.start(self.first)

    @property
    def range_end(self) -> datetime:
        return self.start(self.last + 1)

    def index_expr(self, ts: Any) -> Any:
        origin = int(utc_naive(self.origin).replace(tzinfo=UTC).timestamp())
        secs = int(self.cadence.total_seconds())
        return ((ts.epoch_seconds() - origin) // secs).cast("int64")


@dataclass(frozen=True)
class Volume:
    """Events, errors, distinct ids and latency quantiles per window (``history``: only events
    and latency quantiles, for the earlier windows operational monitors compare with)."""

    history: bool = False


@dataclass(frozen=True)
class Histogram:
    """Counts of a numeric column over fixed edges (see ``stats.baseline`` for the layout)."""

    column: str
    edges: tuple[float, ...]


@dataclass(frozen=True)
class Categories:
    """Counts of each value of a column (as strings), and its missing values."""

    column: str


@dataclass(frozen=True)
class Confusion:
    """Counts of (actual, prediction) pairs of labelled events."""


@dataclass(frozen=True)
class GroupConfusion:
    """Counts of (group, actual, prediction) of labelled events, for fairness."""

    column: str


@dataclass(frozen=True)
class ScoreBins:
    """Counts of score bins per class: by the actual label (labelled events) or the prediction.
    ``column``: ``score``, or a multiclass model's ``score__<class>``."""

    edges: tuple[float, ...]
    by: str = "actual"
    column: str = "score"


@dataclass(frozen=True)
class Regression:
    """Sums of errors of labelled regression events."""


@dataclass(frozen=True)
class Exceedance:
    """Latencies above their *usual* ``quantile`` per window: the median of that quantile over
    the ``history`` earlier windows is the window's level, and the engine counts the window's
    latencies above it (``{"above", "n", "level"}``; no level with fewer than 3 earlier
    windows). Whether a window has more slow requests than usual is a binomial question with
    a known null, where the quantile's own value is noisy wherever the latency density is thin
    (a gap between a fast body and a slow fallback path)."""

    quantile: float = 0.99
    history: int = 24


@dataclass(frozen=True)
class ResourceUse:
    """A resource column (CPU %, memory, GPU ...) of the companion model ``<model>.resources``,
    where the SDK's sampler logs the serving processes: per window the samples' ``n``,
    ``mean`` and ``max``, and ``past``, the means of up to ``history`` earlier windows (the
    engine returns one row per window: counts, sums and maxima). Resource use belongs to the
    serving hosts, not to a segment of the model's traffic: nothing for a segment."""

    column: str
    history: int = 24


@dataclass(frozen=True)
class Rejected:
    """Rows rejected at ingest (quarantined) per window of their arrival, by field."""


@dataclass(frozen=True)
class Sample:
    """Up to ``limit`` random rows of ``columns`` per window: the one request that returns rows,
    for multivariate drift, bounded so it stays small whatever the volume."""

    columns: tuple[str, ...]
    limit: int = 2000


Request = (
    Volume
    | Histogram
    | Categories
    | Confusion
    | GroupConfusion
    | ScoreBins
    | Regression
    | Exceedance
    | ResourceUse
    | Rejected
    | Sample
    # per-client numbers for the probing monitor: see mlwarden.store.client_aggregates
    | ClientProfile
    # a business KPI's aggregates (a KPI function's rows, batch): see store.kpi_aggregates
    | KpiTerms
    | KpiRows
    # a model's trace spans (LLM apps): see mlwarden.store.span_aggregates
    | SpanTotals
    # scores of a model's traces: see mlwarden.store.score_queries
    | ScoreTotals
    | SpanQuantiles
    | SpanSpend
    | SpanTexts
)


def _filtered(events: Any, run: WindowRun, segment: dict[str, str] | None) -> Any:
    ev = events.filter(
        events.ts >= utc_naive(run.range_start), events.ts < utc_naive(run.range_end)
    )
    for col, value in (segment or {}).items():
        ev = ev.filter(_as_label(ev[col]) == value)
    return ev.mutate(_w=run.index_expr(ev.ts))


def collect(
    store: Store,
    model: Any,
    requests: Iterable[Request],
    run: WindowRun,
    *,
    segment: dict[str, str] | None = None,
    history: tuple[int, dict[int, dict[str, Any]]] | None = None,
) -> dict[Request, dict[int, Any]]:
    """Compute every distinct request over the windows of ``run``.

    ``history``: ``(first, volumes)``, the volumes (``Volume(history=True)``) of windows
    ``first`` to ``run.first - 1``, when the caller has them already; :class:`Exceedance`
    reuses them instead of scanning those windows again.
    """
    reqs = list(dict.fromkeys(requests))
    out: dict[Request, dict[int, Any]] = {}
    spans = [r for r in reqs if isinstance(r, SpanRequest)]
    if spans:  # spans have no event segments: the whole model's, whatever ``segment`` is
        for req, value in collect_spans(store, model, spans, run).items():
            out[req] = value
        reqs = [r for r in reqs if not isinstance(r, SpanRequest)]
    # the window's events as an ibis expression, built when a request first needs a query
    # (a store may answer them all in place: batch mode does, without importing ibis)
    ev = _Deferred(lambda: _filtered(store.events(model), run, segment))
    hists = [r for r in reqs if isinstance(r, Histogram)]
    if hists:
        out.update(_histograms(store, model, hists, run, segment, ev))

    def with_labels() -> Any:
        ac = store.actuals(model).select("event_id", "actual", "actual_value")
        return ev().inner_join(ac, "event_id")

    labelled = _Deferred(with_labels)
    cats = [r for r in reqs if isinstance(r, Categories)]
    if cats:
        out.update(store.category_counts(model, cats, run, segment) or {})
    for r in reqs:
        if isinstance(r, Histogram) or r in out:
            continue
        if isinstance(r, Volume):
            got = _engine_volumes(store, model, run, segment, light=r.history)
            out[r] = got if got is not None else _volume(ev(), light=r.history)
        elif isinstance(r, Categories):
            out[r] = _categories(ev(), r.column)
        elif isinstance(r, Confusion):
            out[r] = _pairs(labelled(), None)
        elif isinstance(r, GroupConfusion):
            out[r] = _pairs(labelled(), r.column)
        elif isinstance(r, ScoreBins):
            src = labelled() if r.by == "actual" else ev()
            bins = store.score_bins(src, r)
            out[r] = bins if bins is not None else _score_bins(src, r)
        elif isinstance(r, Regression):
            out[r] = _regression(labelled())
        elif isinstance(r, Rejected):
            out[r] = _rejected(store, model, run)
        elif isinstance(r, ResourceUse):
            out[r] = {} if segment else _resource_use(store, model, r, run)
        elif isinstance(r, ClientProfile):
            out[r] = client_profiles(ev(), r)
        elif isinstance(r, KpiTerms):
            out[r] = kpi_terms(labelled() if r.labelled else ev(), r)
        elif isinstance(r, KpiRows):
            out[r] = kpi_rows(ev(), store.actuals(model), r)
    for r in reqs:  # last: they reuse the volumes computed above
        if isinstance(r, Sample):
            got = store.sample_rows(model, r, run, segment)
            vol = out.get(Volume())
            counts = None if vol is None else {w: v["n"] for w, v in vol.items()}
            out[r] = got if got is not None else _sample(ev(), r, counts)
        if isinstance(r, Exceedance):
            known = None
            if history is not None and Volume() in out and history[0] <= run.first - r.history:
                known = {**history[1], **out[Volume()]}
            out[r] = _exceedance(store, model, r, run, segment, ev(), known)
    return out


class _Deferred:
    """A value computed on the first call, then kept."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make: Callable[[], Any] | None = make
        self._value: Any = None

    def __call__(self) -> Any:
        if self._make is not None:
            self._value, self._make = self._make(), None
        return self._value


def _rows(expr: Any) -> list[dict[str, Any]]:
    table: pa.Table = expr.to_pyarrow()
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


LATENCY_QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}


def _engine_volumes(
    store: AggregateSource,
    model: Any,
    run: WindowRun,
    segment: dict[str, str] | None,
    *,
    light: bool,
) -> dict[int, dict[str, Any]] | None:
    """The engine's own volumes (:class:`~mlwarden.store.protocols.WindowVolumes`), if any."""
    if not isinstance(store, WindowVolumes):
        return None
    return store.volumes(model, run, segment, light=light)


def _volume(ev: Any, *, light: bool = False) -> dict[int, dict[str, Any]]:
    lat = ev.latency_ms
    metrics: dict[str, Any] = {
        "n": ev.count(),
        "latency_n": lat.count(),
        # one multi-quantile aggregate (one sort per window) instead of one per quantile
        "_q": lat.quantile(list(LATENCY_QUANTILES.values())),
    }
    if not light:
        metrics["errors"] = (ev.status == "error").sum().fill_null(0)
        metrics["ids"] = ev.event_id.nunique()
    out: dict[int, dict[str, Any]] = {}
    for r in _rows(ev.group_by("_w").aggregate(**metrics)):
        qs = r.pop("_q") or [None] * len(LATENCY_QUANTILES)
        out[int(r.pop("_w"))] = {**r, **dict(zip(LATENCY_QUANTILES, qs, strict=True))}
    return out


def _exceedance(
    store: AggregateSource,
    model: Any,
    r: Exceedance,
    run: WindowRun,
    segment: dict[str, str] | None,
    ev: Any,
    known: dict[int, dict[str, Any]] | None,
) -> dict[int, dict[str, Any]]:
    key = next((k for k, q in LATENCY_QUANTILES.items() if q == r.quantile), None)
    if key is None:
        raise ValueError(
            f"No latency quantile {r.quantile}; one of {set(LATENCY_QUANTILES.values())}."
        )
    vols = known
    if vols is None:
        wide = WindowRun(run.origin, run.cadence, run.first - r.history, run.last)
        vols = _engine_volumes(store, model, wide, segment, light=True)
        if vols is None:
            vols = _volume(_filtered(store.events(model), wide, segment), light=True)
    levels: dict[int, float] = {}
    for k in range(run.first, run.last + 1):
        past = [
            vols[j][key] for j in range(k - r.history, k) if vols.get(j, {}).get(key) is not None
        ]
        if len(past) >= 3:
            levels[k] = float(np.median(past))
    if not levels:
        return {}
    lv = ibis.memtable(
        pa.table(
            {
                "_lw": pa.array(list(levels), pa.int64()),
                "_lvl": pa.array(list(levels.values()), pa.float64()),
            }
        )
    )
    lat = ev.filter(ev.latency_ms.notnull())
    j = lat.inner_join(lv, lat._w == lv._lw)
    rows = _rows(
        j.group_by("_w").aggregate(
            n=j.count(), above=(j.latency_ms > j._lvl).ifelse(1, 0).sum().fill_null(0)
        )
    )
    counted = {int(x["_w"]): x for x in rows}
    return {
        k: {
            "above": int(counted.get(k, {}).get("above") or 0),
            "n": int(counted.get(k, {}).get("n") or 0),
            "level": level,
        }
        for k, level in levels.items()
    }


def _as_label(col: Any) -> Any:
    """A column as category strings; booleans as '1' / '0' like class labels."""
    if col.type().is_boolean():
        return ibis.cases((col, "1"), (~col, "0"), else_=ibis.null("string"))
    return col.cast("string")


def _categories(ev: Any, column: str) -> dict[int, tuple[dict[str, int], int]]:
    rows = _rows(ev.group_by(_w=ev._w, value=_as_label(ev[column])).aggregate(n=ev.count()))
    out: dict[int, tuple[dict[str, int], int]] = {}
    for r in rows:
        counts, missing = out.setdefault(int(r["_w"]), ({}, 0))
        if r["value"] is None:
            out[int(r["_w"])] = (counts, missing + int(r["n"]))
        else:
            counts[r["value"]] = int(r["n"])
    return out


def _pairs(labelled: Any, group: str | None) -> dict[int, list[tuple[Any, ...]]]:
    labelled = labelled.filter(labelled.actual.notnull())
    keys: dict[str, Any] = {"_w": labelled._w}
    if group is not None:
        keys["g"] = _as_label(labelled[group])
    keys["actual"] = labelled.actual
    keys["prediction"] = labelled.prediction
    rows = _rows(labelled.group_by(**keys).aggregate(n=labelled.count()))
    out: dict[int, list[tuple[Any, ...]]] = {}
    for r in rows:
        item: tuple[Any, ...] = (r["actual"], r["prediction"], int(r["n"]))
        if group is not None:
            item = (r["g"], *item)
        out.setdefault(int(r["_w"]), []).append(item)
    return out


def _score_bins(ev: Any, r: ScoreBins) -> dict[int, list[tuple[str, int, int]]]:
    """(class, bin, count): bin ``b`` when ``edges[b] <= score < edges[b+1]``, clipped to the
    end bins (``stats.classification.bin_index``)."""
    score = ev[r.column]
    ev = ev.filter(score.notnull(), (ev.actual if r.by == "actual" else ev.prediction).notnull())
    score, label = ev[r.column], ev.actual if r.by == "actual" else ev.prediction
    edges = list(r.edges)
    k = len(edges) - 1
    cases = [(score < edges[i], i - 1) for i in range(1, k)]
    b = ibis.cases(*cases, else_=k - 1) if cases else ibis.literal(0)
    rows = _rows(ev.group_by(_w=ev._w, cls=label, b=b).aggregate(n=ev.count()))
    out: dict[int, list[tuple[str, int, int]]] = {}
    for row in rows:
        out.setdefault(int(row["_w"]), []).append((row["cls"], int(row["b"]), int(row["n"])))
    return out


_SAMPLE_MOD = 1 << 20
#: Rows kept by the first cut of :func:`_sample`, as a multiple of the limit.
_OVERSAMPLE = 3.0


def _sample(ev: Any, r: Sample, counts: dict[int, int] | None = None) -> dict[int, pa.Table]:
    """The ``limit`` rows of each window with the smallest ``(hash(event_id) % 2^20, hash)``: a
    pseudo-random but reproducible pick (re-evaluating a window gives the same rows).

    A window-function sort of every row costs more than the rest of a window's aggregates put
    together, so rows are first cut to about three times ``limit`` by the key (each window's
    cut from its count); a window left with fewer than it needs is picked again uncut, so the
    result is the same as ranking every row. ``counts``: the rows of each window, when the
    caller has them (the volumes), saves counting them again.
    """
    base = ev.select("_w", "event_id", *r.columns)
    base = base.mutate(_h=base.event_id.hash())
    base = base.mutate(_k=base._h % _SAMPLE_MOD)
    if counts is None:
        counts = {
            int(x["_w"]): int(x["n"]) for x in _rows(base.group_by("_w").aggregate(n=base.count()))
        }
    counts = {w: n for w, n in counts.items() if n}
    if not counts:
        return {}
    cut = {
        w: min(_SAMPLE_MOD, math.ceil(_OVERSAMPLE * r.limit * _SAMPLE_MOD / n))
        for w, n in counts.items()
    }
    lv = ibis.memtable(
        pa.table(
            {
                "_cw": pa.array(list(cut), pa.int64()),
                "_cut": pa.array(list(cut.values()), pa.int64()),
            }
        )
    )
    j = base.inner_join(lv, base._w == lv._cw)
    table = _pick(j.filter(j._k.abs() < j._cut).drop("_cw", "_cut"), r.limit)
    need = {w: min(r.limit, n) for w, n in counts.items()}
    ws = table.column("_w").to_numpy() if table.num_rows else np.array([], dtype=np.int64)
    short = [w for w in need if int((ws == w).sum()) < need[w]]
    if short:  # rare: too few rows under the cut; rank every row of those windows
        again = _pick(base.filter(base._w.isin(short)), r.limit)
        keep = table.filter(pa.array(~np.isin(ws, short))) if table.num_rows else table
        table = pa.concat_tables([keep, again])
        ws = table.column("_w").to_numpy()
    out: dict[int, pa.Table] = {}
    for w in np.unique(ws):
        out[int(w)] = table.filter(pa.array(ws == w)).drop_columns(["_w"])
    return out


def _pick(rows: Any, limit: int) -> pa.Table:
    rn = ibis.row_number().over(group_by=rows._w, order_by=[rows._k.abs(), rows._h])
    picked = rows.mutate(_rn=rn).drop("event_id")
    kept = picked.filter(picked._rn < limit).order_by("_w", "_rn")  # ibis counts rows from 0
    table: pa.Table = kept.drop("_rn", "_h", "_k").to_pyarrow()
    return table


def _rejected(store: AggregateSource, model: Any, run: WindowRun) -> dict[int, dict[str, int]]:
    q = store.quarantine_table()
    q = q.filter(
        q.project == model.project,
        q.model == model.name,
        q.kind == "events",
        q.received_at >= utc_naive(run.range_start),
        q.received_at < utc_naive(run.range_end),
    )
    q = q.mutate(_w=run.index_expr(q.received_at))
    rows = _rows(q.group_by("_w", "field").aggregate(n=q.count()))
    out: dict[int, dict[str, int]] = {}
    for r in rows:
        out.setdefault(int(r["_w"]), {})[str(r["field"])] = int(r["n"])
    return out


RESOURCES_SUFFIX = ".resources"


def _resource_use(
    store: AggregateSource, model: Any, r: ResourceUse, run: WindowRun
) -> dict[int, dict[str, Any]]:
    from mlwarden.errors import NotFoundError

    try:
        companion = store.get_model(model.project, model.name + RESOURCES_SUFFIX)
    except NotFoundError:
        return {}  # the sampler never ran for this model
    if r.column not in companion.spec.feature_names:
        return {}
    wide = WindowRun(run.origin, run.cadence, run.first - r.history, run.last)
    ev = _filtered(store.events(companion), wide, None)
    x = ev[r.column]
    rows = _rows(ev.group_by("_w").aggregate(n=x.count(), total=x.sum(), peak=x.max()))
    seen = {int(row["_w"]): row for row in rows if row["n"]}
    out: dict[int, dict[str, Any]] = {}
    for k in range(run.first, run.last + 1):
        past = [
            float(seen[j]["total"]) / int(seen[j]["n"])
            for j in range(k - r.history, k)
            if j in seen
        ]
        row = seen.get(k)
        if row is None:
            out[k] = {"n": 0, "mean": None, "max": None, "past": past}
        else:
            n = int(row["n"])
            out[k] = {
                "n": n,
                "mean": float(row["total"]) / n,
                "max": float(row["peak"]),
                "past": past,
            }
    return out


def _regression(labelled: Any) -> dict[int, dict[str, Any]]:
    lb = labelled.filter(labelled.actual_value.notnull(), labelled.prediction.notnull())
    err = lb.prediction - lb.actual_value
    y = lb.actual_value
    pct = ibis.cases((y.abs() > 1e-12, err.abs() / y.abs()), else_=0.0)
    rows = _rows(
        lb.group_by("_w").aggregate(
            n=lb.count(),
            sum_err=err.sum(),
            sum_abs_err=err.abs().sum(),
            sum_sq_err=(err * err).sum(),
            n_nonzero=(y.abs() > 1e-12).sum(),
            sum_abs_pct_err=pct.sum(),
            sum_y=y.sum(),
            sum_y2=(y * y).sum(),
        )
    )
    return {int(r.pop("_w")): r for r in rows}


# -- numeric histograms ---------------------------------------------------------------------------


def _boundaries(edges: Sequence[float]) -> list[float]:
    """Right-closed upper bounds reproducing left-closed ``[e_i, e_{i+1})`` bins."""
    return [math.nextafter(e, -math.inf) for e in edges]


def _assemble(
    edges: Sequence[float],
    hist: dict[float, int] | None,
    pinf: int,
    ninf: int,
    missing: int,
    low: float | None,
    high: float | None,
) -> dict[str, Any]:
    k = len(edges)
    counts = [0] * (k + 3)
    counts[0] = int(ninf)
    counts[k + 2] = int(pinf)
    if hist:
        pos = {u: i + 1 for i, u in enumerate(_boundaries(edges))}
        for key, c in hist.items():
            counts[pos.get(key, k + 1)] += int(c)
    return {
        "counts": counts,
        "n_missing": int(missing),
        "low_sum": float(low or 0.0),
        "high_sum": float(high or 0.0),
    }


def _histograms(
    store: Store,
    model: Any,
    reqs: list[Histogram],
    run: WindowRun,
    segment: dict[str, str] | None,
    ev: Callable[[], Any],
) -> dict[Request, dict[int, Any]]:
    result: dict[Request, dict[int, Any]] | None = store.numeric_histograms(
        model, reqs, run, segment
    )
    if result is not None:
        return result
    return {r: histogram_ibis(ev(), r) for r in reqs}


def histogram_ibis(ev: Any, r: Histogram) -> dict[int, dict[str, Any]]:
    """Portable numeric histogram (the oracle of the engine's hot path)."""
    x = ev[r.column].cast("float64")
    edges = list(r.edges)
    k = len(edges)
    finite = x.notnull() & ~x.isnan() & ~x.isinf()
    cases = [(x < edges[0], 1)] + [(x < edges[i], i + 1) for i in range(1, k)]
    b = ibis.cases(*cases, else_=k + 1)
    rows = _rows(
        ev.group_by(_w=ev._w, b=ibis.cases((finite, b), else_=-1)).aggregate(
            n=ev.count(),
            pinf=(x == math.inf).sum().fill_null(0),
            ninf=(x == -math.inf).sum().fill_null(0),
            missing=(x.isnull() | x.isnan()).sum().fill_null(0),
            low=ibis.cases((finite & (x < edges[0]), x), else_=0.0).sum(),
            high=ibis.cases((finite & (x >= edges[-1]), x), else_=0.0).sum(),
        )
    )
    out: dict[int, dict[str, Any]] = {}
    for row in rows:
        w = int(row["_w"])
        cur = out.setdefault(
            w, {"counts": [0] * (k + 3), "n_missing": 0, "low_sum": 0.0, "high_sum": 0.0}
        )
        if row["b"] >= 0:
            cur["counts"][int(row["b"])] += int(row["n"])
        cur["counts"][0] += int(row["ninf"])
        cur["counts"][k + 2] += int(row["pinf"])
        cur["n_missing"] += int(row["missing"])
        cur["low_sum"] += float(row["low"] or 0.0)
        cur["high_sum"] += float(row["high"] or 0.0)
    return out
