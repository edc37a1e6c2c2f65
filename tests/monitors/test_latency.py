"""The latency monitor against its own recent past: quiet when only the p99's value jumps, loud
when more requests than usual are slow; the engine's exceedance counts checked against numpy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats as sps

from mlwarden.monitors import Status
from mlwarden.monitors.evaluate import evaluate, window_run
from mlwarden.monitors.latency import Latency
from mlwarden.monitors.suite import MonitorSuite
from mlwarden.schema import Feature, ModelSpec, validate_table
from mlwarden.store import DuckDBStore
from mlwarden.store.aggregates import Exceedance, collect

START = datetime(2026, 1, 5, tzinfo=UTC)
N = 2000
DAYS = 30


def _day(rng: np.random.Generator, slow_share: float, fallback: float = 0.009) -> np.ndarray:
    """A fast lognormal body, a slow tail of ``slow_share`` and a fallback path at 250+ ms taken
    by 0.9% of requests: the p99 (the 20th slowest of 2000) is the body's top on days with
    fewer than 20 fallbacks and a fallback's 250+ ms on the others, so it jumps tenfold."""
    lat = np.exp(np.log(20.0) + 0.3 * rng.standard_normal(N))
    lat *= np.where(rng.random(N) < slow_share, 1 + 4 * rng.pareto(2.5, N), 1.0)
    return np.where(rng.random(N) < fallback, 250 + lat, lat)


def _store(days: list[np.ndarray]) -> tuple[DuckDBStore, object, MonitorSuite]:
    spec = ModelSpec(name="svc", task="binary", features=[Feature(name="x", kind="numeric")])
    store = DuckDBStore()
    model = store.create_model("p", spec)
    for d, lat in enumerate(days):
        ts = [START + timedelta(days=d, seconds=float(s)) for s in np.linspace(0, 86_000, N)]
        table = pa.table(
            {
                "event_id": [f"{d}-{i}" for i in range(N)],
                "timestamp": ts,
                "x": np.zeros(N),
                "prediction": np.zeros(N, dtype=np.int64),
                "latency_ms": lat,
            }
        )
        r = validate_table(spec, table)
        assert not r.rejected
        store.append_events(model, r.table).result()
    ref = pa.table({"x": np.zeros(500), "prediction": np.zeros(500, dtype=np.int64)})
    suite = MonitorSuite("svc", [Latency(quantile=0.99)], cadence="1d").fit(spec, ref)
    return store, model, suite


def _verdicts(days: list[np.ndarray]) -> list[tuple[Status, float, dict[str, object]]]:
    store, model, suite = _store(days)
    try:
        res = evaluate(
            store, model, suite, START, START + timedelta(days=len(days)), segments=False
        )
    finally:
        store.close()
    return [
        (r.status, r.value or 0.0, r.details) for r in sorted(res, key=lambda r: r.window_start)
    ]


def test_exceedance_counts_match_numpy() -> None:
    rng = np.random.default_rng(3)
    days = [_day(rng, 0.01) for _ in range(8)]
    store, model, _ = _store(days)
    try:
        run = window_run(START + timedelta(days=5), START + timedelta(days=8), timedelta(days=1))
        req = Exceedance(0.99, history=4)
        got = collect(store, model, [req], run)[req]
    finally:
        store.close()
    assert sorted(got) == [run.first, run.first + 1, run.first + 2]
    for i, k in enumerate(sorted(got)):
        d = 5 + i
        level = float(np.median([np.quantile(days[j], 0.99) for j in range(d - 4, d)]))
        assert got[k]["level"] == pytest.approx(level, rel=1e-9)
        assert got[k]["n"] == N
        assert got[k]["above"] == int((days[d] > level).sum())


def test_a_jumping_p99_alone_does_not_alert_but_more_slow_requests_do() -> None:
    rng = np.random.default_rng(7)
    healthy = [_day(rng, 0.0) for _ in range(DAYS)]
    verdicts = _verdicts(healthy)
    values = [v for _, v, _ in verdicts[3:]]
    # the p99's value does jump, beyond 2x its median on several days (which alerted before) ...
    assert sum(v > 2 * float(np.median(values)) for v in values) >= 3, values
    # ... yet no alert: the share of requests above the usual p99 stays binomial
    assert [s for s, _, _ in verdicts].count(Status.ALERT) == 0
    # a busier cluster (a heavier slow tail from day 25) alerts on its first day
    rng = np.random.default_rng(7)
    busy = [_day(rng, 0.0 if d < 25 else 0.03) for d in range(DAYS)]
    got = _verdicts(busy)
    assert got[25][0] is Status.ALERT, got[25]
    d = got[25][2]
    assert isinstance(d["above"], int) and isinstance(d["p_value"], float)
    expected_p = sps.binom.sf(d["above"] - 1, N, 0.01)
    assert d["p_value"] == pytest.approx(expected_p)
    assert all(s is not Status.ALERT for s, _, _ in got[:25])
