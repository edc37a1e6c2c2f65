"""Resource monitors over the SDK sampler's ``<model>.resources`` events, on the real engine.

The simulated model servers' CPU rises by ~70% from the drift onset ("the serving cluster
gets busier"); memory stays put. Set up automatically, evaluated daily.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pyarrow.compute as pc
import pytest

from mlwarden.cli.simulator import Scenario, Simulation
from mlwarden.monitors import Status
from mlwarden.monitors.evaluate import evaluate
from mlwarden.monitors.resources import DEFAULT_COLUMNS, Resources
from mlwarden.monitors.service import load_suite, setup_suite
from mlwarden.store import DuckDBStore
from mlwarden.store.aggregates import ResourceUse, collect
from monitors.conftest import load, load_resources, spec_of

DAYS, ONSET = 24, 16


def _run(drift: bool, seed: int = 0) -> tuple[Simulation, list]:
    sim = Simulation(
        Scenario(
            days=DAYS,
            events_per_day=300,
            drift_start_day=ONSET if drift else None,
            seed=seed,
            reference_rows=3000,
        )
    )
    store = DuckDBStore()
    try:
        model = store.create_model("p", spec_of(sim))
        store.put_reference("p", model.name, sim.reference())
        load(store, model, sim)
        load_resources(store, model, sim)
        setup_suite(store, "p", model.name, cadence="1d")
        suite = load_suite(store, "p", model.name)
        start = sim.scenario.start
        results = evaluate(store, model, suite, start, start + timedelta(days=DAYS))
    finally:
        store.close()
    return sim, [r for r in results if r.kind == "resources"]


@pytest.fixture(scope="module")
def drifted() -> tuple[Simulation, list]:
    return _run(drift=True)


def test_auto_set_up_watches_cpu_and_memory_whole_model_only(drifted: tuple) -> None:
    sim, results = drifted
    assert {r.monitor for r in results} == {f"resources:{c}" for c in DEFAULT_COLUMNS}
    assert all(r.segment is None for r in results)  # hosts, not a segment of the traffic
    assert len(results) == DAYS * len(DEFAULT_COLUMNS)


def test_cpu_alerts_on_the_onset_day_and_memory_stays_quiet(drifted: tuple) -> None:
    sim, results = drifted
    start = sim.scenario.start
    by_day = {
        ((r.window_start - start).days, r.column): r for r in results if r.window_start >= start
    }
    cpu = [by_day[(d, "process_cpu_percent")] for d in range(DAYS)]
    assert [r.status for r in cpu[:3]] == [Status.INSUFFICIENT_DATA] * 3  # no history yet
    assert all(r.status is Status.OK for r in cpu[3:ONSET])
    assert all(r.status is Status.ALERT for r in cpu[ONSET:])
    assert "process_cpu_percent" in cpu[ONSET].reason and "1.5x the recent median" in (
        cpu[ONSET].reason
    )
    for col in ("process_rss_bytes", "host_memory_percent"):
        assert all(by_day[(d, col)].status is not Status.ALERT for d in range(DAYS))
    assert "GiB" in by_day[(5, "process_rss_bytes")].reason


def test_no_drift_means_no_resource_alerts() -> None:
    for seed in (1, 2):
        _, results = _run(drift=False, seed=seed)
        assert not [r for r in results if r.status is Status.ALERT]


def test_the_engine_aggregate_equals_numpy_on_the_samples() -> None:
    sim = Simulation(Scenario(days=6, events_per_day=50, drift_start_day=3, reference_rows=500))
    store = DuckDBStore()
    try:
        model = store.create_model("p", spec_of(sim))
        load_resources(store, model, sim)
        from mlwarden.monitors.evaluate import window_run

        start = sim.scenario.start
        run = window_run(start + timedelta(days=4), start + timedelta(days=6), timedelta(days=1))
        req = ResourceUse("process_cpu_percent", history=3)
        got = collect(store, model, [req], run)[req]
        missing = collect(store, model, [ResourceUse("gpu0_utilization_percent")], run)
        by_segment = collect(store, model, [req], run, segment={"region": "north"})[req]
    finally:
        store.close()
    table = sim.resources()
    days = (
        pc.divide(
            pc.subtract(table.column("timestamp").cast("int64"), int(start.timestamp() * 1e6)),
            86_400_000_000,
        )
        .to_numpy()
        .astype(int)
    )
    cpu = table.column("process_cpu_percent").to_numpy()
    means = {d: float(cpu[days == d].mean()) for d in range(6)}
    for k, day in ((run.first, 4), (run.last, 5)):
        assert got[k]["n"] == int((days == day).sum())
        assert got[k]["mean"] == pytest.approx(means[day], rel=1e-12)
        assert got[k]["max"] == pytest.approx(float(cpu[days == day].max()))
        assert got[k]["past"] == pytest.approx([means[d] for d in range(day - 3, day)], rel=1e-12)
    assert all(not v for v in missing.values())  # a column the sampler never sent
    assert by_segment == {}


def test_a_stated_limit_is_used_instead_of_the_past(drifted: tuple) -> None:
    sim, _ = drifted
    store = DuckDBStore()
    try:
        model = store.create_model("p", spec_of(sim))
        load_resources(store, model, sim)
        from mlwarden.monitors.context import Calibration, FitContext
        from mlwarden.monitors.evaluate import _evaluate, window_run

        mon = Resources("process_cpu_percent", max_value=40.0).fit(
            FitContext(model.spec, sim.reference(), Calibration(cadence_s=86400))
        )
        start = sim.scenario.start
        run = window_run(start, start + timedelta(days=DAYS), timedelta(days=1))
        res = _evaluate(store, model, [mon], run, None)
    finally:
        store.close()
    means = np.array([r.value for r in res])
    status = [r.status for r in res]
    assert status == [
        Status.ALERT if m > 40 else Status.WARN if m > 36 else Status.OK for m in means
    ]
    assert status[0] is Status.OK and status[-1] is Status.ALERT  # ~28% before, ~48% after
    assert "the limit 40.0%" in res[-1].reason


def test_without_the_sampler_it_says_how_to_start_it() -> None:
    sim = Simulation(Scenario(days=2, events_per_day=50, drift_start_day=None, reference_rows=500))
    store = DuckDBStore()
    try:
        model = store.create_model("p", spec_of(sim))
        load(store, model, sim)
        from mlwarden.monitors.context import Calibration, FitContext
        from mlwarden.monitors.evaluate import _evaluate, window_run

        mon = Resources().fit(FitContext(model.spec, sim.reference(), Calibration()))
        start = sim.scenario.start
        res = _evaluate(
            store,
            model,
            [mon],
            window_run(start, start + timedelta(days=2), timedelta(days=1)),
            None,
        )
    finally:
        store.close()
    assert {r.status for r in res} == {Status.NO_DATA}
    assert "resource_interval" in res[0].reason
