"""The LLM monitor kinds: span aggregates against an oracle, thresholds, set-up, incidents.

The span aggregates are checked against the same numbers computed row by row in Python from
the stored table; the rate bound against scipy's Fisher exact test. The scenarios are the
simulated support bot (:mod:`mlwarden.cli.llm_simulator`): quiet on stationary traffic, loud
on the day its prompts grow (cost) and on the day a jailbreak wave starts. The end-to-end
test sends the spans as OTLP/JSON to the real server and reads the incident it opened.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pytest
from scipy import stats as sps

from llm_spans import llm_spans
from mlwarden.cli.llm_simulator import LlmScenario, LlmSimulation
from mlwarden.errors import ConfigError, StatisticsError
from mlwarden.monitors import Monitor, MonitorSuite, Status
from mlwarden.monitors.context import Calibration, FitContext
from mlwarden.monitors.evaluate import evaluate, window_run
from mlwarden.monitors.llm_budget import LlmBudget
from mlwarden.monitors.llm_errors import LlmErrors
from mlwarden.monitors.llm_injection import LlmInjection
from mlwarden.monitors.llm_pii import LlmPii
from mlwarden.monitors.service import setup_suite
from mlwarden.schema.spec import ModelSpec
from mlwarden.stats.rate_tests import fisher_upper
from mlwarden.store import DuckDBStore
from mlwarden.store.aggregates import collect
from mlwarden.store.span_aggregates import SpanQuantiles, SpanSpend, SpanTexts, SpanTotals
from serverproc import ServerProcess

START = datetime(2026, 1, 1, tzinfo=UTC)
SPEC = ModelSpec(name="support-bot", task="llm", prediction=None)


def _store(scenario: LlmScenario) -> tuple[DuckDBStore, Any]:
    store = DuckDBStore()
    store.append_spans("default", llm_spans(scenario, project="default")).result()
    return store, store.create_model("default", SPEC)


@pytest.mark.parametrize(
    ("k0", "n0", "n", "alpha"),
    [(3, 800, 400, 0.002), (0, 500, 300, 0.01), (40, 1000, 1000, 1e-4), (250, 90_000, 4000, 1e-3)],
)
def test_fisher_upper_is_where_the_exact_test_turns_significant(
    k0: int, n0: int, n: int, alpha: float
) -> None:
    bound = fisher_upper(k0, n0, n, alpha)
    c = round(bound * n) + 1  # the smallest count above the bound

    def p(k: int) -> float:
        return float(sps.fisher_exact([[k, n - k], [k0, n0 - k0]], alternative="greater").pvalue)

    assert p(c) <= alpha < p(c - 1)


def test_fisher_upper_rejects_bad_counts() -> None:
    with pytest.raises(StatisticsError, match="The 'k0' argument must be at most n0"):
        fisher_upper(5, 4, 10, 0.01)
    assert fisher_upper(0, 100, 0, 0.01) == 1.0


def test_span_aggregates_match_the_rows() -> None:
    scenario = LlmScenario(days=3, calls_per_day=300, start=START, seed=11)
    store, model = _store(scenario)
    run = window_run(START, START + timedelta(days=3), timedelta(days=1))
    reqs = [
        SpanTotals(history=2),
        SpanQuantiles("ttft_ms", 0.95, history=2),
        SpanSpend("cost", "user", windows=2, limit=0.01, top=3),
        SpanTexts("prompt", limit=50),
    ]
    got = collect(store, model, reqs, run)
    rows = store.spans("default").to_pyarrow().to_pylist()
    day = {k: [r for r in rows if (r["start_time"] - START.replace(tzinfo=None)).days == d]
           for d, k in enumerate(range(run.first, run.last + 1))}  # fmt: skip
    last = run.last
    cur = got[reqs[0]][last]["current"]
    llm = [r for r in day[last] if r["span_type"] == "llm"]
    assert cur["llm"] == len(llm) and cur["spans"] == len(day[last])
    assert cur["errors"] == sum(r["status_code"] == "error" for r in llm)
    assert cur["timeouts"] == sum("timed out" in (r["status_message"] or "") for r in llm) > 0
    assert cur["with_prompt"] == sum(r["prompt"] is not None for r in llm)
    assert cur["pii_in_prompt"] == sum(bool(r["pii_in_prompt"]) for r in day[last]) > 0
    assert cur["json_invalid"] == sum(r["json_valid"] is False for r in day[last]) > 0
    assert cur["cost"] == pytest.approx(sum(r["cost"] or 0 for r in day[last]), rel=1e-12)
    assert cur["cost_sq"] == pytest.approx(sum((r["cost"] or 0) ** 2 for r in day[last]), rel=1e-9)
    past = got[reqs[0]][last]["past"]
    assert past["llm"] == sum(r["span_type"] == "llm" for k in (last - 2, last - 1) for r in day[k])
    # quantile: DuckDB's continuous quantile is numpy's linear one
    ttft = [r["ttft_ms"] for r in llm if r["ttft_ms"] is not None]
    q = got[reqs[1]][last]
    assert q["value"] == pytest.approx(float(np.quantile(ttft, 0.95)), rel=1e-9)
    assert q["n"] == len(ttft) and len(q["past"]) == 2
    # spend over the two windows ending with the last, per user
    spend: dict[str, float] = {}
    for k in (last - 1, last):
        for r in day[k]:
            if r["cost"] is not None:
                spend[r["user_id"]] = spend.get(r["user_id"], 0.0) + r["cost"]
    s = got[reqs[2]][last]
    ranked = sorted(spend.items(), key=lambda kv: (-kv[1], kv[0]))
    assert [t["group"] for t in s["top"]] == [g for g, _ in ranked[:3]]
    assert s["top"][0]["value"] == pytest.approx(ranked[0][1], rel=1e-12)
    assert s["over"] == sum(v > 0.01 for v in spend.values()) and s["groups"] == len(spend)
    # a bounded, repeatable sample of texts
    texts = got[reqs[3]][last]
    assert texts.num_rows == 50 and texts.column("prompt").null_count == 0
    again = collect(store, model, [reqs[3]], run)[reqs[3]][last]
    assert again.column("span_id").to_pylist() == texts.column("span_id").to_pylist()
    store.close()


def _results(scenario: LlmScenario, **setup: Any) -> tuple[list[Any], MonitorSuite]:
    store, model = _store(scenario)
    suite = setup_suite(store, "default", SPEC.name, cadence="1d", dry_run=True, **setup)
    results = evaluate(store, model, suite, START, START + timedelta(days=scenario.days))
    store.close()
    return results, suite


@pytest.mark.slow
def test_quiet_on_stationary_traffic_and_loud_on_the_injected_days() -> None:
    quiet, suite = _results(LlmScenario(days=30, calls_per_day=500, start=START, seed=5))
    llm_ids = {m.id for m in suite.monitors if m.source == "spans"}
    assert {"llm_pii:prompt", "llm_injection", "llm_cost:cost", "llm_latency:ttft_p95"} <= llm_ids
    alerts = [r for r in quiet if r.monitor in llm_ids and r.status is Status.ALERT]
    # the budget is one false alert per model per 30 days, over every monitor
    assert len(alerts) <= 2, [(r.monitor, r.window_start, r.reason) for r in alerts]
    judged = [r for r in quiet if r.monitor in llm_ids and r.status in (Status.OK, Status.WARN)]
    assert len(judged) > 0.8 * 28 * len(llm_ids)
    loud, _ = _results(
        LlmScenario(days=30, calls_per_day=500, start=START, seed=5, spike_day=20, injection_day=25)
    )

    def status(monitor: str, day: int) -> Status:
        (r,) = [
            r for r in loud if r.monitor == monitor and r.window_start == START + timedelta(day)
        ]
        return r.status

    assert status("llm_cost:cost", 20) is Status.ALERT
    assert status("llm_cost:tokens", 20) is Status.ALERT
    assert status("llm_cost:cost", 19) is not Status.ALERT
    assert status("llm_injection", 25) is Status.ALERT
    assert status("llm_refusal", 25) is Status.ALERT  # the model refuses the jailbreaks
    assert status("llm_injection", 24) is not Status.ALERT


def _fit(mon: Monitor, cadence_s: float = 3600) -> Monitor:
    return mon.fit(FitContext(SPEC, pa.table({}), Calibration(cadence_s=cadence_s, monitors=10)))


def test_budget_per_model_per_day_on_hourly_windows() -> None:
    scenario = LlmScenario(days=2, calls_per_day=600, start=START, seed=2)
    store, model = _store(scenario)
    budget = _fit(LlmBudget(0.10, per="1d", by="model"))
    assert budget.windows_ == 24  # type: ignore[attr-defined]
    results = evaluate(
        store, model, MonitorSuite(SPEC.name, [budget], cadence="1h"), START, START + timedelta(2)
    )
    last = results[-1]
    rows = store.spans("default").to_pyarrow().to_pylist()
    since = (last.window_end - timedelta(days=1)).replace(tzinfo=None)
    spend: dict[str, float] = {}
    for r in rows:
        if r["cost"] is not None and r["start_time"] >= since:
            spend[r["model"]] = spend.get(r["model"], 0.0) + r["cost"]
    worst = max(spend, key=lambda m: spend[m])
    assert last.value == pytest.approx(spend[worst], rel=1e-12)
    assert last.details["top"][0]["group"] == worst
    assert last.status is (Status.ALERT if spend[worst] > 0.10 else Status.OK)
    assert last.details["over"] == sum(v > 0.10 for v in spend.values())
    assert f"model {worst!r} spent $" in last.reason and "budget $0.1/1d per model" in last.reason
    first = results[0]  # one hour of spend against the day's budget
    assert first.value < last.value
    store.close()


def test_budget_and_rate_settings_are_validated() -> None:
    with pytest.raises(
        ConfigError, match="The 'per' parameter must be a multiple of the monitors' cadence"
    ):
        _fit(LlmBudget(5, per="90m"))
    with pytest.raises(ConfigError, match="The 'limit' parameter must be a number > 0. Got -1"):
        _fit(LlmBudget(-1))
    with pytest.raises(ConfigError, match="The 'by' parameter must be one of model, user, session"):
        _fit(LlmBudget(5, by="team"))
    with pytest.raises(ConfigError, match="The 'field' parameter must be prompt or response"):
        _fit(LlmPii("answer"))
    shorter = _fit(LlmBudget(2.0, per="1h"), cadence_s=86400)  # daily windows, hourly budget
    assert shorter.window_limit_ == 48.0  # type: ignore[attr-defined]


def test_a_stated_max_rate_is_the_threshold_without_history() -> None:
    scenario = LlmScenario(days=1, calls_per_day=400, start=START, error_rate=0.05, seed=4)
    store, model = _store(scenario)
    run = window_run(START, START + timedelta(1), timedelta(days=1))
    stated = _fit(LlmErrors(max_rate=0.02), 86400)
    learned = _fit(LlmErrors(), 86400)
    r_stated, r_learned = evaluate(
        store, model, MonitorSuite(SPEC.name, [stated, learned], cadence="1d"), START,
        START + timedelta(1), run=run,
    )  # fmt: skip
    # judged on the window's own counts: alert above the share a 2% rate exceeds by chance
    # with probability at most alpha (one-sided binomial), not above 2% itself
    critical = sps.binom.isf(r_stated.details["alpha"], 400, 0.02) / 400
    assert r_stated.status is Status.ALERT and r_stated.threshold == pytest.approx(critical)
    assert r_stated.warn == 0.02 and r_stated.value > critical > 0.02
    assert (
        r_stated.details["timeouts"] + r_stated.details["other_errors"]
        == r_stated.details["errors"]
    )
    assert r_learned.status is Status.INSUFFICIENT_DATA and "no baseline yet" in r_learned.reason
    store.close()


def test_a_stated_max_rate_judges_injections_from_the_first_window() -> None:
    """Day one, no history, no reference: 17% of prompts are injections. A stated maximum
    alerts from the first window; without one there is nothing to judge against yet."""
    scenario = LlmScenario(days=1, calls_per_day=300, start=START, injection_rate=0.17, seed=6)
    store, model = _store(scenario)
    stated = _fit(LlmInjection(max_rate=0.05), 86400)
    learned = _fit(LlmInjection(), 86400)
    r_stated, r_learned = evaluate(
        store, model, MonitorSuite(SPEC.name, [stated, learned], cadence="1d"), START,
        START + timedelta(1),
    )  # fmt: skip
    assert r_stated.value > 0.1 and r_stated.status is Status.ALERT
    assert "stated limit 5.00%" in r_stated.reason
    assert r_learned.status is Status.INSUFFICIENT_DATA and "max_rate" in r_learned.reason
    store.close()


def test_reference_texts_give_a_baseline_when_history_is_short() -> None:
    texts = [f"question {i}" for i in range(180)] + ["mail me at a.b@example.org"] * 20
    ctx = FitContext(SPEC, pa.table({"prompt": texts}), Calibration(cadence_s=86400))
    mon = LlmPii("prompt").fit(ctx)
    assert mon.reference_ == [20, 200]  # type: ignore[attr-defined]
    store, model = _store(LlmScenario(days=1, calls_per_day=300, start=START, pii_rate=0.0))
    (r,) = evaluate(
        store, model, MonitorSuite(SPEC.name, [mon], cadence="1d"), START, START + timedelta(1)
    )
    assert r.status is Status.OK and r.details["baseline"] == "reference"
    assert r.details["baseline_rate"] == 0.1
    store.close()


def test_span_monitors_have_no_segments_and_set_up_without_a_reference() -> None:
    store, model = _store(LlmScenario(days=1, calls_per_day=50, start=START))
    suite = setup_suite(store, "default", SPEC.name, segments=["user_id"], dry_run=True)
    assert any(m.source == "spans" for m in suite.monitors)
    assert not suite.segment_monitors
    # an llm model without spans, spec or reference: the events monitors need a reference
    store.create_model("default", ModelSpec(name="other", task="llm", prediction=None))
    with pytest.raises(Exception, match="has no reference"):
        setup_suite(store, "default", "other", dry_run=True)
    store.close()


# -- end to end: the real server, OTLP/JSON in, an incident out --------------------------------


@pytest.mark.slow
def test_cost_spike_opens_an_incident_recommending_caching(tmp_path: Any) -> None:
    days = 14
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days)
    sim = LlmSimulation(LlmScenario(days=days, calls_per_day=300, start=start, spike_day=11))
    srv = ServerProcess(tmp_path / "data", "--evaluate-every", "0").start()
    try:
        with httpx.Client(base_url=srv.url, timeout=120) as http:
            for body in sim.payloads():
                r = http.post(
                    "/v1/traces", content=body, headers={"content-type": "application/json"}
                )
                assert r.status_code == 200, r.text
            r = http.post(
                "/v1/models", json={"name": "support-bot", "task": "llm", "prediction": None}
            )
            assert r.status_code == 201, r.text
            r = http.post("/v1/models/support-bot/monitors/setup", json={"cadence": "1d"})
            assert r.status_code == 200, r.text
            assert "kind: llm_cost" in r.json()["spec_yaml"]
            end = start + timedelta(days=days)
            r = http.post(
                "/v1/models/support-bot/evaluate",
                json={"start": start.isoformat(), "end": end.isoformat()},
            )
            assert r.status_code == 200, r.text
            items = http.get("/v1/incidents", params={"model": "support-bot"}).json()["items"]
            cost = [i for i in items if i["kind"] == "cost"]
            assert len(cost) == 1, [(i["kind"], i["title"]) for i in items]
            inc = http.get(f"/v1/incidents/{cost[0]['id']}").json()
            assert inc["first_window"].startswith((start + timedelta(11)).date().isoformat())
            assert {m["kind"] for m in inc["members"]} == {"llm_cost"}
            rec = inc["recommendations"][0]
            assert rec["rule"] == "cost-spike"
            assert "caching" in rec["action"] and "rate limits" in rec["action"]
            assert "per LLM call" in rec["cause"] and "?" not in rec["cause"]
            assert inc["title"].startswith("Cost: $")
            res = http.get(
                "/v1/models/support-bot/results",
                params={"monitor": "llm_cost:cost", "status": "alert"},
            ).json()
            assert res and all(math.isfinite(x["value"]) for x in res)
    finally:
        srv.stop()


def test_the_scheduler_evaluates_an_app_that_sends_spans_only() -> None:
    from mlwarden.monitors.service import run_due

    store, _ = _store(LlmScenario(days=3, calls_per_day=100, start=START))
    setup_suite(store, "default", SPEC.name, cadence="1d")
    assert run_due(store, now=START + timedelta(days=3, hours=1)) > 0
    t = store.results()
    kinds = set(t.filter(t.model == SPEC.name).kind.to_pyarrow().to_pylist())
    assert {"llm_pii", "llm_cost", "llm_latency"} <= kinds
    store.close()


def test_trace_page_totals_cover_every_span_of_a_matching_trace() -> None:
    from mlwarden.store import span_queries as sq

    store, _ = _store(LlmScenario(days=1, calls_per_day=300, start=START, pii_rate=0.2))
    spans = store.spans("default")
    page, total = sq.trace_page(spans, limit=10, offset=0, flag="pii_in_prompt")
    rows = spans.to_pyarrow().to_pylist()
    flagged = {r["trace_id"] for r in rows if r["pii_in_prompt"]}
    assert total == len(flagged) > 10 and page.num_rows == 10
    first = page.to_pylist()[0]
    mine = [r for r in rows if r["trace_id"] == first["trace_id"]]
    assert first["spans"] == len(mine) == 2  # the handler span too, though it has no flag
    assert first["cost"] == pytest.approx(sum(r["cost"] or 0 for r in mine))
    assert first["start_time"] == max(min(r["start_time"] for r in rows if r["trace_id"] == t)
                                      for t in flagged)  # fmt: skip
    rest, _ = sq.trace_page(spans, limit=10, offset=10, flag="pii_in_prompt")
    assert set(rest.column("trace_id").to_pylist()).isdisjoint(page.column("trace_id").to_pylist())
    store.close()
