"""The engine's hot paths of window aggregates against their portable oracles and numpy: numeric
histograms (NaN, infinities, nulls, values outside the edges) and latency quantiles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
import pytest

from mlwarden.monitors.evaluate import window_run
from mlwarden.schema import Feature, ModelSpec, validate_table
from mlwarden.store import DuckDBStore, aggregates
from mlwarden.store.aggregates import (
    Histogram,
    Sample,
    Volume,
    _filtered,
    _pick,
    collect,
    histogram_ibis,
)

START = datetime(2026, 2, 2, tzinfo=UTC)
N = 3000


@pytest.fixture(scope="module")
def filled() -> tuple[DuckDBStore, object, dict[str, np.ndarray]]:
    rng = np.random.default_rng(11)
    x = rng.normal(size=N)
    y = rng.exponential(size=N) * 10
    lat = rng.lognormal(3, 0.5, N)
    days = np.repeat(np.arange(3), N // 3)
    spec = ModelSpec(
        name="m",
        task="binary",
        features=[Feature(name="x", kind="numeric"), Feature(name="y", kind="numeric")],
    )
    store = DuckDBStore()
    model = store.create_model("p", spec)
    table = pa.table(
        {
            "event_id": [f"e{i}" for i in range(N)],
            "timestamp": [START + timedelta(days=int(d), seconds=i) for i, d in enumerate(days)],
            "x": x,
            "y": y,
            "prediction": np.zeros(N, dtype=np.int64),
            "latency_ms": lat,
        }
    )
    r = validate_table(spec, table)
    assert not r.rejected
    store.append_events(model, r.table).result()
    # ingest refuses non-finite numbers; stored data can still hold them (an engine written to
    # by other tools), so the aggregates must count them right: some rows of x become NaN,
    # +inf, -inf or NULL
    special = {"nan": rng.random(N) < 0.02, "inf": rng.random(N) < 0.01}
    special["-inf"] = (rng.random(N) < 0.01) & ~special["nan"] & ~special["inf"]
    special["null"] = (
        (np.arange(N) % 97 == 0) & ~special["nan"] & ~special["inf"] & ~special["-inf"]
    )
    for name, mask in special.items():
        ids = ", ".join(f"'e{i}'" for i in np.flatnonzero(mask))
        value = "NULL" if name == "null" else f"'{name}'::DOUBLE"
        sql = f"UPDATE events_{model.uid} SET x = {value} WHERE event_id IN ({ids})"
        store._call(lambda con, q=sql: con.execute(q).fetchall())
        x[mask] = np.nan if name in ("nan", "null") else float(name)
    yield store, model, {"x": x, "y": y, "lat": lat, "days": days}
    store.close()


def test_engine_histograms_equal_the_ibis_oracle(filled: tuple) -> None:
    store, model, _ = filled
    run = window_run(START, START + timedelta(days=3), timedelta(days=1))
    reqs = [
        Histogram("x", (-1.0, -0.25, 0.0, 0.5, 1.5)),
        Histogram("y", tuple(np.quantile(np.arange(50.0), np.linspace(0, 1, 9)))),
    ]
    got = collect(store, model, reqs, run)
    ev = _filtered(store.events(model), run, None)
    for r in reqs:
        want = histogram_ibis(ev, r)
        assert sorted(got[r]) == sorted(want) and len(want) == 3
        for w in want:
            assert got[r][w]["counts"] == want[w]["counts"]
            assert got[r][w]["n_missing"] == want[w]["n_missing"]
            assert got[r][w]["low_sum"] == pytest.approx(want[w]["low_sum"])
            assert got[r][w]["high_sum"] == pytest.approx(want[w]["high_sum"])


def test_histogram_counts_match_numpy(filled: tuple) -> None:
    store, model, cols = filled
    run = window_run(START, START + timedelta(days=3), timedelta(days=1))
    edges = (-1.0, -0.25, 0.0, 0.5, 1.5)
    r = Histogram("x", edges)
    got = collect(store, model, [r], run)[r]
    for i, w in enumerate(sorted(got)):
        x = cols["x"][cols["days"] == i]
        fin = x[np.isfinite(x)]
        inner = np.bincount(np.searchsorted(edges, fin, side="right"), minlength=len(edges) + 1)
        want = [int((x == -np.inf).sum()), *inner.tolist(), int((x == np.inf).sum())]
        assert got[w]["counts"] == want
        assert got[w]["n_missing"] == int(np.isnan(x).sum())
        assert got[w]["low_sum"] == pytest.approx(fin[fin < edges[0]].sum())
        assert got[w]["high_sum"] == pytest.approx(fin[fin >= edges[-1]].sum())


def test_latency_quantiles_match_numpy(filled: tuple) -> None:
    store, model, cols = filled
    run = window_run(START, START + timedelta(days=3), timedelta(days=1))
    got = collect(store, model, [Volume()], run)[Volume()]
    for i, w in enumerate(sorted(got)):
        lat = cols["lat"][cols["days"] == i]
        assert got[w]["latency_n"] == len(lat) == got[w]["n"]
        for key, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
            assert got[w][key] == pytest.approx(float(np.quantile(lat, q)), rel=1e-9)


@pytest.mark.parametrize(("limit", "oversample"), [(50, 3.0), (400, 3.0), (5000, 3.0), (50, 0.5)])
def test_sample_is_the_ranking_of_every_row_cut_short(
    filled: tuple, limit: int, oversample: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # oversample 0.5: the first cut leaves too few rows, the windows are picked again uncut
    monkeypatch.setattr(aggregates, "_OVERSAMPLE", oversample)
    store, model, _ = filled
    run = window_run(START, START + timedelta(days=3), timedelta(days=1))
    req = Sample(("x", "y"), limit=limit)
    got = collect(store, model, [req], run)[req]
    again = collect(store, model, [req], run)[req]
    # with the volumes asked too, the sample reuses their counts: the same rows
    beside = collect(store, model, [Volume(), req], run)[req]
    assert {w: t.column("y").to_pylist() for w, t in beside.items()} == {
        w: t.column("y").to_pylist() for w, t in got.items()
    }
    # the reference: rank every row of each window by the same key, keep the first `limit`
    ev = _filtered(store.events(model), run, None)
    base = ev.select("_w", "event_id", "x", "y").mutate(_h=ev.event_id.hash())
    base = base.mutate(_k=base._h % (1 << 20))
    want = _pick(base, limit)
    assert sorted(got) == sorted(set(want.column("_w").to_pylist())) and len(got) == 3
    for w, table in got.items():
        expect = want.filter(pa.compute.equal(want.column("_w"), w)).drop_columns(["_w"])
        assert table.num_rows == min(limit, N // 3)
        # the same rows in the order of the key (y: x holds NaN, which equals nothing)
        assert table.column("y").to_pylist() == expect.column("y").to_pylist()
        assert table.column("y").to_pylist() == again[w].column("y").to_pylist()  # reproducible


def test_arrow_events_are_counted_like_the_ibis_oracle() -> None:
    """Batch mode's in-memory events (``use_arrow_events``): histograms, category counts,
    volumes and the multivariate sample come from the Arrow buffers; the ibis queries over
    the same registered table are the oracle, over several windows, a segment, NaN,
    infinities, nulls and a boolean."""
    rng = np.random.default_rng(12)
    n = 20_000
    x = rng.normal(size=n)
    x[rng.random(n) < 0.02] = np.nan
    x[rng.random(n) < 0.01] = np.inf
    x[rng.random(n) < 0.01] = -np.inf
    spec = ModelSpec(
        name="m",
        task="binary",
        features=[
            Feature(name="x", kind="numeric"),
            Feature(name="c", kind="categorical"),
            Feature(name="b", kind="boolean"),
        ],
        segments=["region"],
    )
    store = DuckDBStore()
    try:
        model = store.create_model("p", spec)
        secs = rng.integers(0, 4 * 86400, n)
        c = rng.choice(["a", "b", "c", None], n, p=[0.5, 0.3, 0.15, 0.05])
        table = pa.table(
            {
                "event_id": pa.array(np.arange(n)).cast(pa.string()),
                "version": ["v"] * n,
                "ts": pa.array((START.timestamp() + secs) * 1_000_000, pa.int64()).cast(
                    pa.timestamp("us")
                ),
                "x": pa.array(x, mask=np.arange(n) % 101 == 0),  # NULLs besides NaN
                "c": c,
                "b": rng.random(n) < 0.3,
                "region": rng.choice(["north", "south"], n),
                "latency_ms": pa.nulls(n, pa.float64()),
                "status": rng.choice(["ok", "error", None], n, p=[0.8, 0.1, 0.1]),
            }
        )
        store.use_arrow_events(model, table)
        edges = tuple(float(e) for e in np.quantile(rng.normal(size=5000), np.linspace(0, 1, 300)))
        for first, last in ((0, 3), (1, 1), (2, 9), (10, 12)):
            run = aggregates.WindowRun(START, timedelta(days=1), first, last)
            for segment in (None, {"region": "south"}):
                reqs = [Histogram("x", edges), Histogram("x", (-1.0, 0.0, 1.0))]
                cats = [aggregates.Categories("c"), aggregates.Categories("b")]
                got = collect(store, model, [*reqs, *cats], run, segment=segment)
                ev = _filtered(store.events(model), run, segment)
                for r in reqs:
                    want = histogram_ibis(ev, r)
                    assert sorted(got[r]) == sorted(want)
                    for w in want:
                        assert got[r][w]["counts"] == want[w]["counts"]
                        assert got[r][w]["n_missing"] == want[w]["n_missing"]
                        assert got[r][w]["low_sum"] == pytest.approx(want[w]["low_sum"])
                        assert got[r][w]["high_sum"] == pytest.approx(want[w]["high_sum"])
                for r in cats:
                    assert got[r] == aggregates._categories(ev, r.column)
                sample = aggregates.Sample(("x", "c"), limit=300)
                got_s = collect(store, model, [sample], run, segment=segment)[sample]
                want_s = aggregates._sample(ev, sample)
                assert sorted(got_s) == sorted(want_s)
                for w, t in want_s.items():
                    assert got_s[w].schema == t.schema
                    assert got_s[w].column("c").to_pylist() == t.column("c").to_pylist()
                    assert np.array_equal(
                        got_s[w].column("x").to_numpy(zero_copy_only=False),
                        t.column("x").to_numpy(zero_copy_only=False),
                        equal_nan=True,
                    )
                for light in (False, True):
                    v = collect(store, model, [Volume(history=light)], run, segment=segment)
                    assert v[Volume(history=light)] == aggregates._volume(ev, light=light)
        # a batch report's ids are row numbers: taken as distinct without counting them
        store.use_arrow_events(model, table, unique_ids=True)
        run = aggregates.WindowRun(START, timedelta(days=1), 0, 3)
        for segment in (None, {"region": "south"}):
            v = collect(store, model, [Volume()], run, segment=segment)[Volume()]
            assert v == aggregates._volume(_filtered(store.events(model), run, segment))
    finally:
        store.close()


def test_grouped_category_counts_equal_the_ibis_oracle() -> None:
    """Stored events: every categorical column in one GROUPING SETS scan, label by label as
    the per-column ibis query (text with NULLs, a boolean, numbers as labels), by window and
    within a segment."""
    rng = np.random.default_rng(13)
    n = 6000
    spec = ModelSpec(
        name="m",
        task="regression",
        features=[
            Feature(name="c", kind="categorical"),
            Feature(name="b", kind="boolean"),
            Feature(name="x", kind="numeric"),
        ],
        segments=["region"],
    )
    store = DuckDBStore()
    try:
        model = store.create_model("p", spec)
        table = pa.table(
            {
                "event_id": [f"e{i}" for i in range(n)],
                "timestamp": [
                    START + timedelta(seconds=int(s)) for s in rng.integers(0, 3 * 86400, n)
                ],
                "c": rng.choice(["a", "b", None], n, p=[0.6, 0.3, 0.1]),
                "b": rng.random(n) < 0.4,
                "x": rng.integers(0, 4, n).astype(float),
                "prediction": rng.normal(size=n),
                "region": rng.choice(["north", "south"], n),
            }
        )
        r = validate_table(spec, table)
        assert not r.rejected
        store.append_events(model, r.table).result()
        run = window_run(START, START + timedelta(days=3), timedelta(days=1))
        reqs = [aggregates.Categories(c) for c in ("c", "b", "x", "region")]
        for segment in (None, {"region": "north"}):
            got = collect(store, model, reqs, run, segment=segment)
            ev = _filtered(store.events(model), run, segment)
            for req in reqs:
                assert got[req] == aggregates._categories(ev, req.column)
                assert len(got[req]) == 3
    finally:
        store.close()
