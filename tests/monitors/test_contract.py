"""Every registered monitor kind through the shared checks (a new kind gets them for free).

Checks: spec round-trip (with and without learned state), determinism, an empty window,
an all-null column, a single-value column, and results that are statuses, never NaN.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from llm_spans import llm_spans
from mlwarden.cli.llm_simulator import QUESTIONS, LlmScenario
from mlwarden.cli.simulator import Simulation
from mlwarden.monitors import MONITORS, Monitor, MonitorSuite, Status
from mlwarden.monitors.context import Calibration, FitContext
from mlwarden.monitors.custom import CustomMetric
from mlwarden.monitors.duplicate_ids import DuplicateIds
from mlwarden.monitors.error_rate import ErrorRate
from mlwarden.monitors.estimated_performance import EstimatedPerformance
from mlwarden.monitors.evaluate import _evaluate, window_run
from mlwarden.monitors.fairness import Fairness
from mlwarden.monitors.feature_drift import FeatureDrift
from mlwarden.monitors.kpi import Kpi
from mlwarden.monitors.kpi_function import KpiFunction
from mlwarden.monitors.latency import Latency
from mlwarden.monitors.llm_budget import LlmBudget
from mlwarden.monitors.llm_cost import LlmCost
from mlwarden.monitors.llm_embedding_drift import LlmEmbeddingDrift
from mlwarden.monitors.llm_errors import LlmErrors
from mlwarden.monitors.llm_format import LlmFormat
from mlwarden.monitors.llm_injection import LlmInjection
from mlwarden.monitors.llm_judge import LlmJudge
from mlwarden.monitors.llm_latency import LlmLatency
from mlwarden.monitors.llm_pii import LlmPii
from mlwarden.monitors.llm_refusal import LlmRefusal
from mlwarden.monitors.llm_scores import LlmScore
from mlwarden.monitors.missing_values import MissingValues
from mlwarden.monitors.multivariate_drift import MultivariateDrift
from mlwarden.monitors.out_of_range import OutOfRange
from mlwarden.monitors.performance import Performance
from mlwarden.monitors.prediction_drift import PredictionDrift
from mlwarden.monitors.probing import Probing
from mlwarden.monitors.resources import Resources
from mlwarden.monitors.schema_violations import SchemaViolations
from mlwarden.monitors.text_drift import TextDrift
from mlwarden.monitors.unseen_categories import UnseenCategories
from mlwarden.monitors.volume import TrafficVolume
from mlwarden.schema import Feature, ModelSpec, validate_table
from mlwarden.sdk.resources import resources_spec
from mlwarden.store import DuckDBStore

from .conftest import actuals_table, spec_of

#: one example per kind; the test below fails when a kind is registered without one
EXAMPLES: dict[str, Callable[[], Monitor]] = {
    "feature_drift": lambda: FeatureDrift("credit_score"),
    "prediction_drift": lambda: PredictionDrift("score"),
    "missing_values": lambda: MissingValues("income"),
    "out_of_range": lambda: OutOfRange("age"),
    "unseen_categories": lambda: UnseenCategories("region"),
    "volume": lambda: TrafficVolume(),
    "performance": lambda: Performance("accuracy"),
    "estimated_performance": lambda: EstimatedPerformance("roc_auc"),
    "latency": lambda: Latency(quantile=0.95),
    "error_rate": lambda: ErrorRate(),
    "fairness": lambda: Fairness("gender"),
    "schema_violations": lambda: SchemaViolations(),
    "duplicate_ids": lambda: DuplicateIds(),
    "multivariate_drift": lambda: MultivariateDrift(sample=300),
    "probing": lambda: Probing(),
    "resources": lambda: Resources("process_cpu_percent", history=2),
    "kpi": lambda: Kpi("loss", "sum(income * (actual == 1) * (prediction == 0)) / count()"),
    "kpi_function": lambda: KpiFunction(
        "missed", "kpi_functions:missed_income_share", frame="arrow"
    ),
    "custom": lambda: CustomMetric(
        "north", "custom_metric:share_of_north", columns=["region"], threshold=0.9
    ),
    # LLM app kinds read the spans of the model's service (the same name here)
    "llm_pii": lambda: LlmPii("response"),
    "llm_injection": lambda: LlmInjection(),
    "llm_refusal": lambda: LlmRefusal(),
    "llm_score": lambda: LlmScore("user_feedback", max_rate=0.2),
    "llm_format": lambda: LlmFormat(),
    "llm_errors": lambda: LlmErrors(),
    "llm_latency": lambda: LlmLatency(metric="ttft", quantile=0.5),
    "llm_cost": lambda: LlmCost("tokens", by="user"),
    "llm_budget": lambda: LlmBudget(0.05, per="1d", by="model"),
    "llm_embedding_drift": lambda: LlmEmbeddingDrift("prompt", sample=60, reference_rows=60),
    # a free-text feature ("note") the loan model is given for this kind only
    "text_drift": lambda: TextDrift("note", sample=60, reference_rows=60),
    # a judge nobody answers for (port 9, discard): every call fails, deterministically; the
    # judge's verdicts are tested against a fake OpenAI server in tests/llm/test_llm_judge.py
    "llm_judge": lambda: LlmJudge(endpoint="http://127.0.0.1:9/v1", model="judge", sample=5),
}
KINDS = sorted(MONITORS.keys())


def test_every_kind_has_an_example() -> None:
    assert sorted(EXAMPLES) == KINDS


def _spec(sim: Simulation, kind: str) -> ModelSpec:
    spec = spec_of(sim)
    if kind != "text_drift":
        return spec
    return spec.model_copy(update={"features": (*spec.features, Feature(name="note", kind="text"))})


def _notes(table: pa.Table) -> pa.Table:
    """``table`` with a free-text ``note`` per row (the LLM simulator's questions)."""
    if "note" in table.column_names:
        return table
    notes = [QUESTIONS[i % len(QUESTIONS)] for i in range(table.num_rows)]
    return table.append_column("note", pa.array(notes, pa.string()))


def fitted(kind: str, sim: Simulation) -> Monitor:
    spec = _spec(sim, kind)
    reference = sim.reference()
    if kind == "text_drift":
        reference = _notes(reference)
    if kind == "llm_embedding_drift":  # a reference of the app's questions
        reference = reference.append_column(
            "prompt", pa.array([QUESTIONS[i % len(QUESTIONS)] for i in range(reference.num_rows)])
        )
    ctx = FitContext(
        spec, reference, Calibration(budget="1 per 30 days", cadence_s=86400, monitors=25)
    )
    return EXAMPLES[kind]().fit(ctx)


def run(
    store: DuckDBStore,
    sim: Simulation,
    mon: Monitor,
    events: pa.Table,
    labels: bool = True,
    resources: pa.Table | None = None,
) -> list:
    """``mon`` over 4 daily windows of ``events`` (with the servers' resource samples of the
    same days, or ``resources``, in ``<model>.resources``)."""
    spec = _spec(sim, mon.kind)
    model = store.create_model("p", spec)
    if mon.kind == "text_drift":
        events = _notes(events)
    companion = store.create_model("p", resources_spec(model.name))
    if events.num_rows:
        r = validate_table(spec, events)
        store.append_events(model, r.table).result()
        if labels:
            store.append_actuals(model, actuals_table(sim.actuals())).result()
        samples = sim.resources(0, 4) if resources is None else resources
        store.append_events(companion, validate_table(companion.spec, samples).table).result()
        if mon.source == "spans":
            spans = _spans(sim)
            store.append_spans("p", spans).result()
            if mon.kind == "llm_score":  # scores of those traces: thumbs, 1 in 10 down
                store.put_scores("p", _thumbs(spans)).result()
    start = sim.scenario.start
    return _evaluate(
        store, model, [mon], window_run(start, start + timedelta(days=4), timedelta(days=1)), None
    )


def _thumbs(spans: pa.Table) -> pa.Table:
    from mlwarden.schema.scores import validate_scores

    rows = [{"id": t, "trace_id": t, "name": "user_feedback", "value": i % 10 != 0,
             "timestamp": ts.isoformat()}
            for i, (t, ts) in enumerate(zip(spans.column("trace_id").to_pylist(),
                                            spans.column("start_time").to_pylist(), strict=True))]  # fmt: skip
    return validate_scores(rows).table


def _spans(sim: Simulation) -> pa.Table:
    scenario = LlmScenario(
        days=4, calls_per_day=600, start=sim.scenario.start, service="loan-default", seed=3
    )
    return llm_spans(scenario)


@pytest.mark.parametrize(
    "kind", [k for k in KINDS if MONITORS.get(k).source == "spans" and k != "llm_judge"]
)
def test_span_kinds_judge_the_windows_after_the_first(
    kind: str, small_sim: Simulation, store: DuckDBStore
) -> None:
    mon = fitted(kind, small_sim)
    results = run(store, small_sim, mon, small_sim.events(0, 4))
    assert [r.n > 0 for r in results] == [True] * 4  # they read the service's spans
    judged = [r for r in results if r.status in (Status.OK, Status.WARN, Status.ALERT)]
    assert judged and judged[-1].window_start == results[-1].window_start, [
        r.reason for r in results
    ]
    assert all(r.threshold is not None and math.isfinite(r.threshold) for r in judged)


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_and_clone(kind: str, small_sim: Simulation) -> None:
    mon = fitted(kind, small_sim)
    data = json.loads(json.dumps(mon.to_dict()))  # JSON-safe
    again = Monitor.from_dict(data)
    assert again == mon and again.id == mon.id
    assert again.to_dict() == mon.to_dict()
    bare = Monitor.from_dict(mon.to_dict(state=False))
    assert bare.get_params() == mon.get_params() and not bare.learned()
    assert mon.clone().get_params() == mon.get_params()
    suite = MonitorSuite("m", [mon], cadence="1d")
    assert MonitorSuite.from_yaml(suite.to_yaml()).monitors[0].get_params() == mon.get_params()


@pytest.mark.parametrize("kind", KINDS)
def test_deterministic_and_never_nan(kind: str, small_sim: Simulation, store: DuckDBStore) -> None:
    mon = fitted(kind, small_sim)
    first = run(store, small_sim, mon, small_sim.events(0, 4))
    again = _evaluate(
        store,
        store.get_model("p", "loan-default"),
        [Monitor.from_dict(mon.to_dict())],
        window_run(
            small_sim.scenario.start,
            small_sim.scenario.start + timedelta(days=4),
            timedelta(days=1),
        ),
        None,
    )
    assert [r.to_dict() for r in first] == [r.to_dict() for r in again]
    assert len(first) == 4
    for r in first:
        assert isinstance(r.status, Status)
        for x in (r.value, r.threshold, r.warn):
            assert x is None or math.isfinite(x)
        assert r.reason


@pytest.mark.parametrize("kind", KINDS)
def test_empty_window_is_no_data(kind: str, small_sim: Simulation, store: DuckDBStore) -> None:
    mon = fitted(kind, small_sim)
    results = run(store, small_sim, mon, small_sim.events(0, 0))
    assert {r.status for r in results} <= {Status.NO_DATA, Status.INSUFFICIENT_DATA}
    assert all(r.value is None or math.isfinite(r.value) for r in results)


def _with_column(events: pa.Table, name: str, values: pa.Array) -> pa.Table:
    return events.set_column(events.column_names.index(name), name, values)


@pytest.mark.parametrize("kind", KINDS)
def test_all_null_and_single_value_columns(kind: str, small_sim: Simulation) -> None:
    mon = fitted(kind, small_sim)
    events = small_sim.events(0, 4)
    if kind == "text_drift":
        events = _notes(events)
    samples = small_sim.resources(0, 4)
    column = getattr(mon, "column", None) or "credit_score"
    if column in ("score", "prediction"):
        column = "score"
    table = samples if column in samples.column_names else events
    typ = table.schema.field(column).type
    for values in (
        pa.nulls(table.num_rows, typ),
        pc.fill_null(pa.nulls(table.num_rows, typ), table.column(column)[0]),
    ):
        changed = _with_column(table, column, values)
        store = DuckDBStore()
        try:
            if table is samples:
                results = run(store, small_sim, mon, events, resources=changed)
            else:
                results = run(store, small_sim, mon, changed)
        finally:
            store.close()
        for r in results:
            assert isinstance(r.status, Status)
            assert r.value is None or math.isfinite(r.value)
    if kind in ("feature_drift", "missing_values"):
        assert results  # a single value differs from the reference: the drift monitor says so


#: kinds whose rule is the user's own (a stated metric or judge): no false-alarm estimate
USER_RULES = {"custom", "llm_judge"}


@pytest.mark.parametrize("kind", KINDS)
def test_the_plan_says_how_each_kind_decides(kind: str, small_sim: Simulation) -> None:
    """Every kind tells the set-up plan its threshold (or how it is set) and the false alerts
    a month it raises on an unchanged model, and its why text is whole plain sentences."""
    mon = Monitor.from_dict(json.loads(json.dumps(fitted(kind, small_sim).to_dict())))
    plan = mon.threshold_plan(1000)
    assert plan.how.endswith(".") and plan.how[0].isupper(), plan.how
    assert "``" not in plan.how + mon.explain() and ":class:" not in mon.explain()
    assert mon.explain().endswith((".", ")")), mon.explain()
    for x in (plan.threshold, plan.warn, plan.reference):
        assert x is None or math.isfinite(x)
    if kind not in USER_RULES:
        assert plan.false_alerts_per_month is not None, kind
        # one monitor's share of "1 per 30 days" over 25 monitors
        assert 0.0 <= plan.false_alerts_per_month <= 1 / 25 + 1e-9, kind
