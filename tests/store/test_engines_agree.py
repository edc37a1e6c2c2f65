"""Every aggregate request monitors make, on the same seeded data in DuckDB and in PostgreSQL
or ClickHouse (chDB, events under a DuckDB catalog), compared value for value: counts and
quantiles exactly, floating sums within 1e-9 relative.

DuckDB answers several requests on its own fast paths (numpy histograms, grouped category
scans, its ``histogram`` for score bins); PostgreSQL and ClickHouse run the portable ibis code of
:mod:`mlwarden.store.aggregates`. Agreement here is what lets a team move engines without its
monitors' numbers moving.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from mlwarden.schema import Feature, ModelSpec, validate_rows
from mlwarden.schema.batch import Rejection, validate_actual_rows
from mlwarden.schema.kpi import parse_kpi
from mlwarden.sdk.resources import resources_spec
from mlwarden.store import DuckDBStore, PostgresStore, Store, open_store
from mlwarden.store import aggregates as agg
from mlwarden.store.client_aggregates import ClientProfile
from mlwarden.store.kpi_aggregates import KpiRows, KpiTerms
from pgserver import PostgresServer

T0 = datetime(2026, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
N = 3_000

BINARY = ModelSpec(
    name="clf",
    task="binary",
    classes=[0, 1],
    score="score",
    features=[Feature(name="x", kind="numeric"), Feature(name="color", kind="categorical")],
    segments=["region"],
)
REGRESSION = ModelSpec(name="reg", task="regression", features=[Feature(name="x", kind="numeric")])


def _events(seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for i in range(N):
        x = float(rng.normal(2, 1.5)) if rng.random() > 0.05 else None
        score = float(rng.random())
        rows.append(
            {
                "event_id": f"e{i}",
                "timestamp": (T0 + timedelta(seconds=int(rng.integers(0, 30 * 3600)))).isoformat(),
                "features": {"x": x, "color": str(rng.choice(["red", "green", "blue", ""]))},
                "segments": {"region": str(rng.choice(["eu", "us"]))},
                "prediction": int(score > 0.5),
                "score": score,
                "latency_ms": float(np.round(rng.lognormal(3, 0.6), 3)),
                "status": "error" if rng.random() < 0.03 else "ok",
                "client_id": f"c{int(rng.integers(0, 7))}",
            }
        )
        if rng.random() < 0.6:
            labels.append({"event_id": f"e{i}", "actual": int(rng.random() < score)})
    return rows, labels


def _regression_events(seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for i in range(N // 2):
        pred = float(rng.normal(10, 3))
        rows.append(
            {
                "event_id": f"r{i}",
                "timestamp": (T0 + timedelta(seconds=int(rng.integers(0, 30 * 3600)))).isoformat(),
                "features": {"x": float(rng.random())},
                "prediction": pred,
            }
        )
        labels.append({"event_id": f"r{i}", "actual": pred + float(rng.normal(0, 1))})
    return rows, labels


def _load(store: Store) -> None:
    for spec, make in ((BINARY, _events), (REGRESSION, _regression_events)):
        m = store.create_model("p", spec)
        events, labels = make(7)
        for part in (events[: N // 3], events[N // 3 :]):
            store.append_events(m, validate_rows(m.spec, part).table).result()
        store.append_actuals(m, validate_actual_rows(m.spec, labels).table).result()
    store.quarantine(
        "p", "clf", "events", [Rejection(i, "features.x", "bad", {}) for i in range(4)]
    ).result()


@pytest.fixture(scope="module")
def duck() -> Iterator[Store]:
    store = DuckDBStore(":memory:")
    _load(store)
    yield store
    store.close()


@pytest.fixture(scope="module", params=["postgres", "clickhouse"])
def stores(duck: Store, request: pytest.FixtureRequest) -> Iterator[tuple[Store, Store]]:
    if request.param == "postgres":
        srv: PostgresServer = request.getfixturevalue("pg_server")
        other: Store = PostgresStore(srv.create_database("engines_agree"))
    else:
        other = open_store(None, events=request.getfixturevalue("chdb_url")("engines_agree"))
    _load(other)
    yield duck, other
    other.close()


RUN = agg.WindowRun(origin=T0, cadence=HOUR, first=2, last=29)
EDGES = (-math.inf, -1.0, 0.0, 1.0, 2.0, 2.5, 3.0, 4.0, 6.0, math.inf)
BINARY_REQUESTS: list[Any] = [
    agg.Volume(),
    agg.Volume(history=True),
    agg.Histogram("x", EDGES),
    agg.Categories("color"),
    agg.Categories("region"),
    agg.Confusion(),
    agg.GroupConfusion("color"),
    agg.ScoreBins((0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)),
    agg.ScoreBins((0.0, 0.5, 1.0), by="prediction"),
    agg.Exceedance(quantile=0.95, history=4),
    # the probing monitor's per-client numbers (near_boundary counts a condition: PostgreSQL
    # casts no boolean to bigint, which the first version of it did)
    ClientProfile(grid=(("x", -2.0, 0.5),), score="score", min_rows=5),
    # business KPIs: one of the label, one of a feature, with a condition and if_else
    KpiTerms(
        parse_kpi(
            "100 * rate(actual == 1 and prediction == 0) - sum(if_else(x > 2, x, 0)) / count()",
            columns={"x", "prediction", "actual"},
        ),
        labelled=True,
    ),
    KpiTerms(parse_kpi("mean(score) + quantile(x, 0.9)", columns={"x", "score"})),
]

#: Request types compared elsewhere, or that never reach a stored engine, with the reason.
NOT_HERE = {
    agg.Sample: "pseudo-random rows per engine: sizes compared below",
    agg.Rejected: "compared in test_regression_and_rejected_rows_agree",
    agg.Regression: "compared in test_regression_and_rejected_rows_agree",
    agg.ResourceUse: "a companion model's samples: compared in test_resource_use_agrees",
    KpiRows: "batch reports only: a window handed over in memory, never a stored engine",
    agg.SpanTotals: "trace spans: the span contract suites compare them",
    agg.ScoreTotals: "trace scores: the span contract suites compare them",
    agg.SpanQuantiles: "trace spans: the span contract suites compare them",
    agg.SpanSpend: "trace spans: the span contract suites compare them",
    agg.SpanTexts: "trace spans: the span contract suites compare them",
}


def test_every_request_type_is_compared() -> None:
    """A request type added to ``aggregates.Request`` without a comparison here fails this."""
    kinds = set(typing.get_args(agg.Request))
    tested = {type(r) for r in BINARY_REQUESTS} | set(NOT_HERE)
    assert kinds <= tested, (
        f"not compared between engines: {sorted(k.__name__ for k in kinds - tested)}"
    )


#: quantiles (and levels made of them) are compared exactly, not within a tolerance
EXACT = {"p50", "p95", "p99", "level"}


def _close(a: Any, b: Any, path: str) -> None:
    """Equal, floats within 1e-9 relative (NaN equal to NaN); lists compared sorted when their
    order is not part of the answer."""
    if isinstance(a, float) or isinstance(b, float):
        assert a is not None and b is not None, f"{path}: {a!r} != {b!r}"
        if math.isnan(a) or math.isnan(b):
            assert math.isnan(a) and math.isnan(b), f"{path}: {a!r} != {b!r}"
            return
        if path.rsplit(".", 1)[-1] in EXACT:
            assert a == b, f"{path}: {a!r} != {b!r} (a quantile: exactly)"
        else:
            assert a == pytest.approx(b, rel=1e-9, abs=1e-12), f"{path}: {a!r} != {b!r}"
        return
    if isinstance(a, dict) and isinstance(b, dict):
        assert set(a) == set(b), f"{path}: keys {sorted(map(str, a))} != {sorted(map(str, b))}"
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
        return
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        assert len(a) == len(b), f"{path}: {len(a)} != {len(b)} items"
        if a and isinstance(a[0], tuple):
            a, b = sorted(a, key=repr), sorted(b, key=repr)
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
        return
    if isinstance(a, np.ndarray | pa.Array) or isinstance(b, np.ndarray | pa.Array):
        _close(list(np.asarray(a).tolist()), list(np.asarray(b).tolist()), path)
        return
    assert a == b, f"{path}: {a!r} != {b!r}"


def _both(stores: tuple[Store, Store], name: str, reqs: list[Any], **kw: Any) -> None:
    duck, pg = stores
    got_d = agg.collect(duck, duck.get_model("p", name), reqs, RUN, **kw)
    got_p = agg.collect(pg, pg.get_model("p", name), reqs, RUN, **kw)
    for r in reqs:
        assert got_d[r], f"{r}: no windows (the data does not exercise it)"
        _close(got_d[r], got_p[r], repr(r))


@pytest.mark.parametrize("req", BINARY_REQUESTS, ids=repr)
def test_binary_model_requests_agree(stores: tuple[Store, Store], req: Any) -> None:
    _both(stores, "clf", [req])


def test_requests_agree_in_a_segment(stores: tuple[Store, Store]) -> None:
    reqs = [r for r in BINARY_REQUESTS if not isinstance(r, agg.Exceedance)]
    _both(stores, "clf", reqs, segment={"region": "eu"})


def test_regression_and_rejected_rows_agree(stores: tuple[Store, Store]) -> None:
    _both(stores, "reg", [agg.Regression(), agg.Volume()])
    run = agg.WindowRun(origin=datetime.now(UTC) - HOUR, cadence=2 * HOUR, first=0, last=0)
    duck, pg = stores
    got = [agg.collect(s, s.get_model("p", "clf"), [agg.Rejected()], run) for s in stores]
    assert got[0][agg.Rejected()] == got[1][agg.Rejected()] == {0: {"features.x": 4}}


def test_resource_use_agrees(stores: tuple[Store, Store]) -> None:
    """The resource sampler's companion model: per window n, mean, max and past means."""
    spec = resources_spec("clf")
    rng = np.random.default_rng(3)
    rows = [
        {
            "event_id": f"s{i}",
            "timestamp": (T0 + timedelta(seconds=int(rng.integers(0, 30 * 3600)))).isoformat(),
            "features": {"process_cpu_percent": float(np.round(rng.gamma(2, 10), 2))},
            "segments": {"host": "h1"},
        }
        for i in range(600)
    ]
    for s in stores:
        if spec.name in {r.name for r in s.list_models("p")}:
            continue  # the DuckDB store is shared by both engines' comparisons
        m = s.create_model("p", spec)
        s.append_events(m, validate_rows(m.spec, rows).table).result()
    _both(stores, "clf", [agg.ResourceUse("process_cpu_percent", history=4)])


def test_samples_have_the_same_sizes(stores: tuple[Store, Store]) -> None:
    """Samples are pseudo-random per engine (its own hash); their sizes per window agree."""
    req = agg.Sample(("x", "color"), limit=20)
    sizes = []
    for s in stores:
        got = agg.collect(s, s.get_model("p", "clf"), [req, agg.Volume()], RUN)[req]
        sizes.append({w: t.num_rows for w, t in got.items()})
    assert sizes[0] == sizes[1] and set(sizes[0].values()) == {20}


@pytest.mark.parametrize(
    "metric", ["accuracy", "accuracy_vs_expected", "estimated_accuracy", "error_rate", "latency"]
)
def test_root_cause_outcomes_agree(stores: tuple[Store, Store], metric: str) -> None:
    """The per-event outcomes root-cause analysis ranks slices by (accuracy, error rate, ...)
    sum and count the same on both engines: PostgreSQL once refused them (a boolean cast)."""
    from mlwarden.analysis.slices_query import outcomes

    got = []
    for s in stores:
        y = outcomes(s, s.get_model("p", "clf"), metric, T0, T0 + 30 * HOUR)._y
        row = y.sum().name("s").as_table().cross_join(y.count().name("n").as_table())
        got.append(row.to_pyarrow().to_pylist()[0])
    assert got[0]["n"] > 100, got
    _close(
        {"n": got[0]["n"], "s": float(got[0]["s"])},
        {"n": got[1]["n"], "s": float(got[1]["s"])},
        metric,
    )


def test_kpi_and_client_profile_requests_agree(stores: tuple[Store, Store]) -> None:
    """A KPI's raw terms (its quantile exactly: ClickHouse's own ``quantile`` samples) and
    the probing monitor's per-client numbers."""
    _both(stores, "clf", [ClientProfile(grid=(("x", -2.0, 0.5),), score="score", min_rows=20)])
    cols = {"x", "color", "region"}
    kpi = parse_kpi(
        "quantile(x, 0.9) - mean(score) + rate(color == 'red') + max(x) / min(x) + count(x) / 100",
        columns=cols,
    )
    labelled = parse_kpi("rate(actual == prediction) + sum(score * (actual == '1'))", columns=cols)
    reqs: list[Any] = [
        KpiTerms(kpi),
        KpiTerms(labelled, labelled=True),
    ]
    _both(stores, "clf", reqs)
