"""Sixty simulated days: quiet without drift, fast and right with it, late labels counted.

The stream is the demo's loan-default model (2,000 events a day, daily windows). With drift,
credit scores shift from day 40 (covariate shift in an important feature) and accuracy drops
from day 43 (concept shift); labels arrive three days after each event.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest

from mlwarden.cli.simulator import Scenario, Simulation
from mlwarden.monitors import Status
from mlwarden.monitors.evaluate import evaluate
from mlwarden.monitors.service import load_suite, run_due, setup_suite
from mlwarden.monitors.suite import MonitorSuite, auto_monitors
from mlwarden.schema import ModelSpec
from mlwarden.stats.thresholds import FalseAlarmBudget
from mlwarden.store import DuckDBStore, ModelRecord

from .conftest import load, load_resources, spec_of

DAYS = 60
ONSET = 40


@contextmanager
def model_store(
    sim: Simulation, *, reference: bool = False
) -> Iterator[tuple[DuckDBStore, ModelSpec, ModelRecord]]:
    """An in-memory store holding the simulated model (and its reference, if asked)."""
    spec = spec_of(sim)
    store = DuckDBStore()
    try:
        model = store.create_model("p", spec)
        if reference:
            store.put_reference("p", spec.name, sim.reference())
        yield store, spec, model
    finally:
        store.close()


def alerts_by_day(sim: Simulation, drift: bool) -> dict[str, list[int]]:
    with model_store(sim) as (store, spec, model):
        load(store, model, sim, labels_until_day=DAYS)
        load_resources(store, model, sim)
        suite = MonitorSuite(spec.name, auto_monitors(spec), cadence="1d").fit(
            spec, sim.reference()
        )
        start = sim.scenario.start
        results = evaluate(store, model, suite, start, start + timedelta(days=DAYS), segments=False)
    out: dict[str, list[int]] = {}
    for r in results:
        if r.status is Status.ALERT:
            out.setdefault(r.monitor, []).append((r.window_start - start).days)
    return out


@pytest.mark.slow
def test_no_drift_stays_within_the_false_alarm_budget() -> None:
    sim = Simulation(Scenario(days=DAYS, events_per_day=2000, drift_start_day=None, seed=0))
    alerts = alerts_by_day(sim, drift=False)
    total = sum(len(v) for v in alerts.values())
    budget = FalseAlarmBudget.parse("1 per 30 days")
    allowed = budget.alerts * DAYS / 30
    assert total <= allowed, alerts


@pytest.mark.slow
def test_drift_is_detected_within_one_window_by_the_right_monitors() -> None:
    sim = Simulation(Scenario(days=DAYS, events_per_day=2000, drift_start_day=ONSET, seed=0))
    alerts = alerts_by_day(sim, drift=True)
    # covariate shift in credit_score starts on day 40 (in the north first)
    assert min(alerts["feature_drift:credit_score"]) <= ONSET + 1
    assert min(alerts["prediction_drift:score"]) <= ONSET + 1
    # concept shift from day 43 degrades accuracy: labelled and label-free estimates see it
    assert min(alerts["performance:accuracy"]) <= ONSET + 3 + 1
    assert min(alerts["estimated_performance:accuracy"]) <= ONSET + 3 + 7
    # the busier serving cluster: more slow requests than usual from the onset
    assert min(alerts["latency:p99"]) <= ONSET + 1
    assert min(alerts["resources:process_cpu_percent"]) == ONSET  # and the servers' CPU
    # and nothing fires before the onset
    early = {m: [d for d in days if d < ONSET] for m, days in alerts.items()}
    assert not {m for m, d in early.items() if d}, early
    # features that did not move stay quiet
    for quiet in (
        "feature_drift:age",
        "feature_drift:loan_purpose",
        "missing_values:income",
        "resources:host_memory_percent",
    ):
        assert quiet not in alerts


@pytest.mark.slow
def test_late_labels_update_performance_results(tmp_path: object) -> None:
    sim = Simulation(Scenario(days=20, events_per_day=1500, drift_start_day=None, seed=1))
    with model_store(sim, reference=True) as (store, spec, model):
        start = sim.scenario.start
        # day 20: events of 20 days, labels of the first 17 (3 days late)
        load(store, model, sim, labels_until_day=20)
        setup_suite(store, "p", spec.name, cadence="1d")
        now = start + timedelta(days=20)
        assert run_due(store, now=now) > 0
        perf = _perf(store, spec.name)
        assert perf[18] == "no_data" and perf[10] in ("ok", "warn")
        # three days later the labels of days 17-19 arrive: those windows are re-evaluated
        act = sim.actuals(available_at=start + timedelta(days=23))
        from .conftest import actuals_table

        store.append_actuals(model, actuals_table(act)).result()
        run_due(store, now=now)
        perf = _perf(store, spec.name)
        assert perf[18] in ("ok", "warn") and perf[19] in ("ok", "warn")
        # idempotent: running again writes the same results, no duplicates
        run_due(store, now=now)
        n = (
            store.results()
            .filter(lambda t: t.monitor == "performance:accuracy")
            .count()
            .to_pyarrow()
            .as_py()
        )
        suite = load_suite(store, "p", spec.name)
        assert n == 20 * (1 + 5 * bool(suite.segments))


def _perf(store: DuckDBStore, model: str) -> dict[int, str]:
    t = store.results()
    rows = (
        t.filter(t.monitor == "performance:accuracy", t.segment.isnull()).to_pyarrow().to_pylist()
    )
    first = min(r["window_start"] for r in rows)
    return {(r["window_start"] - first).days: r["status"] for r in rows}


def test_results_carry_their_evidence() -> None:
    sim = Simulation(Scenario(days=3, events_per_day=800, drift_start_day=0, seed=2))
    with model_store(sim) as (store, spec, model):
        load(store, model, sim)
        suite = MonitorSuite(spec.name, auto_monitors(spec), cadence="1d").fit(
            spec, sim.reference()
        )
        res = evaluate(
            store,
            model,
            suite,
            sim.scenario.start,
            sim.scenario.start + timedelta(days=3),
            segments=False,
        )
    drift = next(r for r in res if r.monitor == "feature_drift:credit_score")
    d = drift.details
    assert set(d["chart"]) >= {"labels", "reference", "current"}
    assert abs(sum(d["chart"]["reference"]) - 1) < 1e-9
    assert d["threshold"]["expected_false_alerts_per_month"] <= 1
    json.dumps(d)


def test_upstream_break_and_schema_violations_show_up() -> None:
    """A producer starts sending nulls for income (40%) and strings for age (5%)."""
    from datetime import UTC, datetime

    from mlwarden.schema import validate_rows

    sim = Simulation(
        Scenario(
            days=2,
            events_per_day=1000,
            drift_start_day=None,
            seed=3,
            upstream_break_day=1,
            upstream_null_share=0.4,
        )
    )
    with model_store(sim) as (store, spec, model):
        now = datetime.now(UTC)
        rows = sim.to_json_rows(sim.events(1, 2), spec.feature_names, spec.segments)
        for i, row in enumerate(rows):
            row["timestamp"] = now.isoformat()
            if i % 20 == 0:
                row["features"]["age"] = "forty"
        batch = validate_rows(spec, rows)
        store.append_events(model, batch.table).result()
        store.quarantine("p", spec.name, "events", batch.rejected).result()
        suite = MonitorSuite(spec.name, auto_monitors(spec), cadence="1d").fit(
            spec, sim.reference()
        )
        # Only the daily window that holds the rows: quarantined rows count at their arrival
        # time, so the events are stamped now too; a span reaching past midnight would add the
        # next (empty) day's window and, near midnight, its no_data results would be read here.
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        res = evaluate(store, model, suite, day, day + timedelta(days=1), segments=False)
        assert {r.window_start for r in res} == {day}
    by = {r.monitor: r for r in res}
    assert by["missing_values:income"].status is Status.ALERT
    assert by["schema_violations"].status is Status.ALERT
    assert "features.age" in by["schema_violations"].reason
    assert by["missing_values:age"].status is not Status.ALERT


def test_events_received_late_re_evaluate_their_windows() -> None:
    """A day uploaded after its window was evaluated (a backfill, a replayed buffer) is
    evaluated again by the scheduler, without anyone asking."""
    sim = Simulation(Scenario(days=8, events_per_day=800, drift_start_day=None, seed=3))
    with model_store(sim, reference=True) as (store, spec, model):
        start = sim.scenario.start
        load(store, model, sim, day_from=0, day_to=4)
        load(store, model, sim, day_from=5, day_to=8)
        setup_suite(store, "p", spec.name, cadence="1d")
        now = start + timedelta(days=8)
        assert run_due(store, now=now) > 0
        day4 = _window(store, spec.name, start + timedelta(days=4))
        assert day4 and {r["status"] for r in day4 if r["kind"] == "feature_drift"} == {"no_data"}
        assert run_due(store, now=now) == 0  # nothing new, nothing re-evaluated

        load(store, model, sim, day_from=4, day_to=5)  # day 4 arrives late
        assert run_due(store, now=now) > 0
        day4 = _window(store, spec.name, start + timedelta(days=4))
        drift = [r for r in day4 if r["kind"] == "feature_drift"]
        assert drift and all(r["status"] in ("ok", "warn") for r in drift)
        assert max(r["n"] for r in drift) == 800
        # one row per monitor and window still: re-evaluation replaced, not added
        assert len(day4) == len({r["monitor"] for r in day4})
        assert run_due(store, now=now) == 0


def _window(store: DuckDBStore, model: str, start: object) -> list[dict[str, object]]:
    from mlwarden.store.times import utc_naive

    t = store.results()
    rows = (
        t.filter(t.model == model, t.segment.isnull(), t.window_start == utc_naive(start))
        .to_pyarrow()
        .to_pylist()
    )
    return rows
