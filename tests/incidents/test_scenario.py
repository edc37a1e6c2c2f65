"""Acceptance: the simulated loan-default model gives one incident that explains itself.

Drift scenario (the monitors' 60-day scenario): credit scores shift from day 40 in the north,
accuracy drops from day 43 (north / self-employed worst). Upstream break: income arrives null
for 40% of events from day 20. Real engine, the monitors set up automatically, the whole
evaluation -> incidents -> analysis -> recommendation path.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from mlwarden.cli.simulator import Scenario, Simulation
from mlwarden.incidents import service as incidents
from mlwarden.incidents.record import Incident
from mlwarden.monitors.service import evaluate_range, objective_report, setup_suite
from mlwarden.store import DuckDBStore
from monitors.conftest import load, load_resources, spec_of

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def run_scenario(scenario: Scenario) -> tuple[list[Incident], list[dict[str, object]]]:
    sim = Simulation(scenario)
    spec = spec_of(sim)
    store = DuckDBStore()
    try:
        model = store.create_model("p", spec)
        store.put_reference("p", spec.name, sim.reference())
        load(store, model, sim, labels_until_day=scenario.days)
        load_resources(store, model, sim)
        setup_suite(store, "p", spec.name, cadence="1d")

        def on_results(project: str, name: str, results: list, cadence: timedelta) -> None:
            incidents.process(store, project, name, results, cadence=cadence, now=NOW)

        start = scenario.start
        evaluate_range(
            store,
            "p",
            spec.name,
            start,
            start + timedelta(days=scenario.days),
            on_results=on_results,
        )
        found = incidents.list_incidents(store, "p", limit=100)
        return found, objective_report(store, "p", spec.name)
    finally:
        store.close()


@pytest.mark.slow
def test_drift_gives_one_incident_naming_feature_segment_and_retraining() -> None:
    onset = 40
    found, objectives = run_scenario(
        Scenario(days=60, events_per_day=2000, drift_start_day=onset, seed=0)
    )
    model_incidents = [i for i in found if i.signature == "model"]
    assert len(model_incidents) == 1, [(i.kind, i.title) for i in found]
    inc = model_incidents[0]
    start = Scenario().start
    assert inc.kind == "drift"
    assert (inc.first_window - start).days in (onset, onset + 1)
    monitors = {m["monitor"] for m in inc.members}
    # thirty-odd monitors (and segments) fired; the user got one incident
    assert {
        "feature_drift:credit_score",
        "prediction_drift:score",
        "performance:accuracy",
    } <= monitors
    top = [f for f in inc.causes["features"] if f["alert"]][0]
    assert top["name"] == "credit_score"
    assert "region = north" in inc.causes["slices"][0]["description"]
    rules = [r["rule"] for r in inc.recommendations]
    assert rules[0] == "retrain-post-onset", inc.recommendations
    onset_day = (start + timedelta(days=onset)).strftime("%Y-%m-%d")
    assert f"Retrain on the window since {onset_day}" in inc.recommendations[0]["action"]
    assert "credit_score" in inc.title
    # the objectives it threatens, and their status from the latest results
    names = {o["name"] for o in inc.objectives}
    assert {"model-performance", "data-quality"} <= names
    status = {o["name"]: o["status"] for o in objectives}
    assert status["data-quality"] == "violated"
    # few incidents in all. Before the onset only chance: at most the false-alarm budget (one
    # per model per 30 days, 40 days here). From the onset: this one, and the serving tail,
    # which the simulator makes heavier on the same day (an operations incident of its own)
    before = [i for i in found if (i.first_window - start).days < onset]
    assert len(before) <= 2, [(i.kind, i.first_window) for i in before]
    after = [i for i in found if i not in before]
    assert sorted(i.signature for i in after) in (["model"], ["model", "operations"])
    ops = [i for i in after if i.signature == "operations"]
    assert all(i.kind == "latency" for i in ops)
    # the servers' CPU rose with the latency: saturation, so scale out
    for i in ops:
        assert "resources:process_cpu_percent" in {m["monitor"] for m in i.members}
        assert i.recommendations[0]["rule"] == "latency-with-resources", i.recommendations


@pytest.mark.slow
def test_upstream_break_recommends_checking_the_producer() -> None:
    found, _ = run_scenario(
        Scenario(
            days=30,
            events_per_day=1500,
            drift_start_day=None,
            upstream_break_day=20,
            upstream_null_share=0.4,
            seed=3,
        )
    )
    (inc,) = [i for i in found if i.signature == "model"]
    assert inc.kind == "quality"
    first = inc.recommendations[0]
    assert first["rule"] == "upstream-break"
    day = (Scenario().start + timedelta(days=20)).strftime("%Y-%m-%d")
    assert first["action"].startswith(f"Check the producer of feature income since {day}")
    assert re.fullmatch(r"income arrives empty for 4\d\.\d% of events", inc.title), inc.title
    assert inc.causes["quality"][0]["column"] == "income"
