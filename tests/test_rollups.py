"""Hourly roll-ups served by the store (kept in the DuckDB file, refreshed where events or labels
changed) against the straightforward computation from raw events on the same data, and the
pages' numbers built from them against the exact group-bys over raw events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlwarden.schema import Feature, ModelSpec, validate_table
from mlwarden.schema.batch import validate_actuals_table
from mlwarden.sdk.resources import resources_spec
from mlwarden.server.ui import ops
from mlwarden.stats import log_bins
from mlwarden.store import DuckDBStore
from mlwarden.store.queries import WINDOWS, filter_events
from mlwarden.store.rollups import compute_events, compute_labels, merge

START = datetime(2026, 2, 2, tzinfo=UTC)
END = START + timedelta(days=3)
SPEC = ModelSpec(
    name="m",
    task="binary",
    classes=["0", "1"],
    features=[
        Feature(name="x", kind="numeric"),
        Feature(name="flag", kind="boolean"),
        Feature(name="city", kind="categorical"),
    ],
)


def _events(
    rng: np.random.Generator, n: int, *, start: datetime, hours: float, prefix: str
) -> pa.Table:
    offsets = np.sort(rng.random(n)) * hours * 3600
    score = rng.random(n)
    lat = rng.lognormal(3, 0.7, n)
    lat[rng.random(n) < 0.05] = 0.0
    latency: list[float | None] = [float(v) for v in lat]
    for i in np.flatnonzero(rng.random(n) < 0.05):
        latency[i] = None
    x: list[float | None] = [float(v) for v in rng.normal(size=n)]
    for i in np.flatnonzero(rng.random(n) < 0.1):
        x[i] = None
    return pa.table(
        {
            "event_id": [f"{prefix}{i}" for i in range(n)],
            "timestamp": [start + timedelta(seconds=float(s)) for s in offsets],
            "version": rng.choice(["v1", "v2"], n, p=[0.7, 0.3]).tolist(),
            "prediction": (score > 0.5).astype(np.int64),
            "score": score,
            "latency_ms": pa.array(latency, pa.float64()),
            "status": rng.choice(["ok", "error"], n, p=[0.9, 0.1]).tolist(),
            "x": pa.array(x, pa.float64()),
            "flag": rng.random(n) < 0.3,
            "city": rng.choice(["a", "b"], n).tolist(),
        }
    )


def _append(store: DuckDBStore, model: Any, table: pa.Table) -> None:
    r = validate_table(SPEC, table)
    assert not r.rejected
    store.append_events(model, r.table).result()


def _label(store: DuckDBStore, model: Any, ids: list[str], labels: list[str]) -> None:
    r = validate_actuals_table(SPEC, pa.table({"event_id": ids, "actual": labels}))
    assert not r.rejected
    store.append_actuals(model, r.table).result()


@pytest.fixture
def filled(tmp_path: Path) -> Any:
    rng = np.random.default_rng(7)
    store = DuckDBStore(tmp_path / "db.duckdb")
    model = store.create_model("p", SPEC)
    ev = _events(rng, 6000, start=START, hours=72, prefix="e")
    _append(store, model, ev)
    labelled = [f"e{i}" for i in range(0, 6000, 3)]
    _label(store, model, labelled, rng.choice(["0", "1"], len(labelled)).tolist())
    yield store, model, rng, ev
    store.close()


def _sorted(t: pa.Table, keys: list[str]) -> pa.Table:
    return t.sort_by([(k, "ascending") for k in keys]).combine_chunks()


def _same(
    served: pa.Table, oracle: pa.Table, keys: list[str], approx: tuple[str, ...] = ()
) -> None:
    a, b = _sorted(served, keys), _sorted(oracle, keys)
    assert a.num_rows == b.num_rows > 0
    for name in oracle.column_names:
        x, y = a.column(name).to_pylist(), b.column(name).to_pylist()
        if name in approx:
            assert x == pytest.approx(y, rel=1e-12, abs=1e-9), name
        else:
            assert x == y, name


def _check(store: DuckDBStore, model: Any, *, labels: bool = True) -> None:
    """What the store serves for the whole range equals the computation from raw events."""
    roll = store.rollup(model, start=START - timedelta(days=30), end=END, labels=labels)
    ops_, latency, features = compute_events(store.events(model), SPEC)
    _same(roll.ops, ops_, ["hour", "version"], approx=("score_sum",))
    _same(roll.latency, latency, ["hour", "version", "bin"])
    _same(roll.features, features, ["hour", "version", "column"], approx=("total",))
    if labels:
        assert roll.labels is not None
        _same(
            roll.labels,
            compute_labels(store.events(model), store.actuals(model), SPEC),
            ["hour", "version"],
        )


def _settled(store: DuckDBStore, model: Any) -> None:
    """Wait for pending roll-up writes (a read hands them to the writer without waiting)."""
    store._call(lambda con: None)


def test_served_rollups_equal_the_computation_from_raw_events(filled: Any) -> None:
    store, model, _, _ = filled
    _check(store, model)  # first read: everything computed from raw events
    _settled(store, model)
    assert store._events_part(model, submit=False)[0] == set()  # nothing left to recompute
    _check(store, model)  # second read: from the stored roll-ups
    # the hours cover the events; one feature row per hour, version and numeric feature
    roll = store.rollup(model, start=START, end=END)
    assert sum(roll.ops.column("n").to_pylist()) == 6000
    assert set(roll.features.column("column").to_pylist()) == {"x", "flag"}


def test_late_events_and_labels_are_counted(filled: Any) -> None:
    store, model, rng, ev = filled
    store.refresh_rollups(model)
    # late events in an old hour and in a new one, a resent event (a no-op), new labels for old
    # events and a changed label
    late = _events(rng, 50, start=START + timedelta(hours=5), hours=0.5, prefix="late")
    _append(store, model, late)
    _append(store, model, _events(rng, 20, start=END - timedelta(hours=1), hours=0.9, prefix="new"))
    _append(store, model, ev.slice(0, 1))
    _label(store, model, ["e1", "e2", "late3"], ["1", "0", "1"])
    _label(store, model, ["e0"], ["1" if store_label(store, model, "e0") == "0" else "0"])
    stale = store._events_part(model, submit=False)[0]
    assert stale is not None and {h.hour for h in stale} == {5, 23}
    store.refresh_rollups(model)
    _check(store, model)


def store_label(store: DuckDBStore, model: Any, event_id: str) -> str:
    ac = store.actuals(model)
    return str(ac.filter(ac.event_id == event_id).actual.to_pyarrow().to_pylist()[0])


def test_label_counts_of_a_read_may_lag_a_few_minutes(filled: Any) -> None:
    store, model, _, _ = filled
    store.refresh_rollups(model)
    before = store.rollup(model, start=START, end=END, labels=True)
    assert before.labels is not None and before.labels_as_of is not None
    _label(store, model, ["e4", "e5"], ["1", "1"])  # both unlabelled until now
    lagging = store.rollup(model, start=START, end=END, labels=True)
    assert lagging.labels is not None
    assert sum(lagging.labels.column("labelled").to_pylist()) == sum(
        before.labels.column("labelled").to_pylist()
    )
    assert lagging.labels_as_of == before.labels_as_of
    store.refresh_rollups(model)  # what the scheduler does after evaluating
    _check(store, model)


def test_rollups_outlive_raw_events_under_retention(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "db.duckdb", retention_days=1)
    try:
        model = store.create_model("p", SPEC)
        _append(
            store, model, _events(np.random.default_rng(1), 500, start=START, hours=48, prefix="e")
        )
        store.refresh_rollups(model)
        kept = store.rollup(model, start=START, end=END)
        assert store.apply_retention(now=START + timedelta(days=3)) == 500
        assert store.events(model).count().to_pyarrow().as_py() == 0
        after = store.rollup(model, start=START, end=END)
        assert sum(after.ops.column("n").to_pylist()) == 500
        _same(after.latency, kept.latency, ["hour", "version", "bin"])
    finally:
        store.close()


def test_a_new_feature_rebuilds_the_rollups(filled: Any) -> None:
    store, model, rng, ev = filled
    store.refresh_rollups(model)
    extra = _events(rng, 30, start=END - timedelta(hours=2), hours=1, prefix="z")
    extra = extra.append_column("y", pa.array(rng.normal(size=30)))
    r = validate_table(SPEC, extra)
    store.append_events(model, r.table).result()
    model = store.get_model("p", "m")
    assert "y" in model.spec.feature_names
    roll = store.rollup(model, start=START, end=END)
    ys = roll.features.filter(pa.compute.equal(roll.features.column("column"), "y"))
    assert sum(ys.column("n").to_pylist()) == 30
    _, _, features = compute_events(store.events(model), model.spec)
    _same(roll.features, features, ["hour", "version", "column"], approx=("total",))


# -- what the pages show ---------------------------------------------------------------------


def _close_quantile(fast: float | None, exact: float | None) -> bool:
    if exact is None or fast is None:
        return fast is None and exact is None
    if exact == 0:
        return fast == 0
    return exact / log_bins.RATIO < fast < exact * log_bins.RATIO


@pytest.mark.parametrize("days", [2, 3])  # hourly and daily buckets
def test_operations_equal_the_exact_group_by(filled: Any, days: int) -> None:
    store, model, _, _ = filled
    end = START + timedelta(days=days)
    fast = ops.operations(store, model, start=START, end=end)
    exact = ops.operations_exact(store, model, start=START, end=end)
    assert [(r["b"], r["version"], r["n"], r["errors"]) for r in fast] == [
        (r["b"], r["version"], r["n"], r["errors"]) for r in exact
    ]
    for f, e in zip(fast, exact, strict=True):
        for q in ("p50", "p95", "p99"):
            assert _close_quantile(f[q], e[q]), (q, f[q], e[q])
    only = ops.operations(store, model, start=START, end=end, version="v2")
    assert {r["version"] for r in only} == {"v2"}
    assert [r["n"] for r in only] == [r["n"] for r in exact if r["version"] == "v2"]


def _version_windows_exact(
    store: DuckDBStore, model: Any, versions: list[str]
) -> list[dict[str, Any]]:
    """The comparison's numbers from raw events (what the page computed before roll-ups)."""
    ev = filter_events(store.events(model), start=START, end=END)
    ev = ev.filter(ev.version.isin(versions))
    b = ev.ts.truncate("D")
    rows = (
        ev.group_by(b=b, version=ev.version)
        .aggregate(
            n=ev.count(),
            errors=(ev.status == "error").sum().fill_null(0),
            p50=ev.latency_ms.quantile(0.5),
            p95=ev.latency_ms.quantile(0.95),
            score=ev.score.mean(),
            positive=(ev.prediction.cast("string") == "1").mean(),
        )
        .to_pyarrow()
        .to_pylist()
    )
    ac = store.actuals(model).select("event_id", "actual")
    lab = ev.select("event_id", "version", "prediction", b=b).inner_join(ac, "event_id")
    lab = lab.filter(lab.actual.notnull())
    hits = {
        (h["b"], h["version"]): h
        for h in lab.group_by("b", "version")
        .aggregate(
            labelled=lab.count(),
            correct=(lab.prediction.cast("string") == lab.actual.cast("string")).sum(),
        )
        .to_pyarrow()
        .to_pylist()
    }
    for r in rows:
        h = hits.get((r["b"], r["version"]), {})
        r["labelled"], r["correct"] = int(h.get("labelled") or 0), int(h.get("correct") or 0)
        r["b"] = r["b"].replace(tzinfo=UTC)
    return sorted(rows, key=lambda r: (r["b"], r["version"]))


def test_version_comparison_equals_the_exact_group_by(filled: Any) -> None:
    store, model, _, _ = filled
    roll = store.rollup(model, start=START, end=END, labels=True)
    fast = ops.version_windows(roll, model, unit="day", versions=["v1", "v2"])
    exact = _version_windows_exact(store, model, ["v1", "v2"])
    assert len(fast) == len(exact) == 6
    for f, e in zip(fast, exact, strict=True):
        for k in ("b", "version", "n", "errors", "labelled", "correct"):
            assert f[k] == e[k], k
        assert f["score"] == pytest.approx(e["score"], rel=1e-12)
        assert f["positive"] == pytest.approx(e["positive"], rel=1e-12)
        assert _close_quantile(f["p50"], e["p50"]) and _close_quantile(f["p95"], e["p95"])
    means = ops.version_features(
        store, model, roll, start=START, end=END, versions=["v1", "v2"], columns=["x", "flag"]
    )
    ev = filter_events(store.events(model), start=START, end=END)
    for r in (
        ev.group_by("version")
        .aggregate(x=ev.x.mean(), flag=ev.flag.cast("float64").mean())
        .to_pyarrow()
        .to_pylist()
    ):
        assert means[r["version"]] == pytest.approx({"x": r["x"], "flag": r["flag"]}, rel=1e-12)


def test_merged_hours_equal_the_whole_range(filled: Any) -> None:
    store, model, _, _ = filled
    roll = store.rollup(model, start=START, end=END)
    whole = merge(roll.ops, None, keys=())
    daily = merge(merge(roll.ops, "day", keys=()), None, keys=())
    assert whole.to_pylist()[0]["n"] == daily.to_pylist()[0]["n"] == 6000
    assert whole.column("errors").to_pylist() == daily.column("errors").to_pylist()


# -- quantiles from log-spaced bins ----------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.just(0.0), st.floats(1e-3, 1e7, allow_nan=False)), min_size=1, max_size=300
    ),
    q=st.sampled_from([0.0, 0.01, 0.5, 0.9, 0.95, 0.99, 1.0]),
    split=st.integers(0, 300),
)
def test_binned_quantiles_are_within_one_bin_and_merge(
    values: list[float], q: float, split: int
) -> None:
    x = np.array(values)
    exact = float(np.quantile(x, q))
    bins, counts = np.unique(log_bins.bin_of(x), return_counts=True)
    (fast,) = log_bins.quantiles(bins, counts, [q])
    assert fast is not None
    if exact == 0:
        assert fast == 0 or fast < x[x > 0].min() if (x > 0).any() else fast == 0
    else:
        lo = float(np.quantile(x, q, method="lower"))
        hi = float(np.quantile(x, q, method="higher"))
        assert min(lo, exact) / log_bins.RATIO <= fast <= max(hi, exact) * log_bins.RATIO
    # two parts' counts added give the whole's quantile
    a, b = log_bins.bin_of(x[:split]), log_bins.bin_of(x[split:])
    merged = np.concatenate([a, b])
    assert log_bins.quantiles(merged, np.ones_like(merged), [q]) == [fast]


def test_binned_quantiles_match_numpy_to_one_bin_on_latencies() -> None:
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.lognormal(3, 0.5, 20000), 200 + rng.exponential(50, 300)])
    bins, counts = np.unique(log_bins.bin_of(x), return_counts=True)
    qs = [0.5, 0.95, 0.99, 0.999]
    for fast, exact in zip(log_bins.quantiles(bins, counts, qs), np.quantile(x, qs), strict=True):
        assert exact / log_bins.RATIO < fast < exact * log_bins.RATIO


def test_resources_are_the_mean_of_the_companion_models_samples(tmp_path: Path) -> None:
    spec = resources_spec("m")  # what the SDK's sampler registers
    rng = np.random.default_rng(5)
    store = DuckDBStore(tmp_path / "db.duckdb")
    try:
        model = store.create_model("p", spec)
        n = 300
        table = pa.table(
            {
                "event_id": [f"r{i}" for i in range(n)],
                "timestamp": [START + timedelta(minutes=15 * i) for i in range(n)],
                "process_cpu_percent": rng.random(n) * 100,
                "host_memory_percent": rng.random(n) * 100,
                "process_rss_bytes": rng.random(n) * 1e9,
            }
        )
        store.append_events(model, validate_table(spec, table).table).result()
        cols, rows = ops.resources(store, "p", "m", start=START, end=END)
        assert cols == ["host_memory_percent", "process_cpu_percent", "process_rss_bytes"]
        ev = filter_events(store.events(model), start=START, end=END)
        exact = (
            ev.group_by(b=ev.ts.truncate(WINDOWS[ops.bucket_for(START, END)]))
            .aggregate(**{c: ev[c].mean() for c in cols})
            .order_by("b")
            .to_pyarrow()
            .to_pylist()
        )
        assert [r["b"] for r in rows] == [e["b"].replace(tzinfo=UTC) for e in exact]
        for r, e in zip(rows, exact, strict=True):
            assert [r[c] for c in cols] == pytest.approx([e[c] for c in cols], rel=1e-12)
    finally:
        store.close()
