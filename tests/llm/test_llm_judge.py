"""LLM-as-a-judge against the local fake OpenAI server: grades, its own spans and cost, reuse
of earlier grades, a broken or absent judge, and the spec path through the real server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pyarrow as pa
import pytest
import yaml
from fake_openai import fake_openai

from llm_spans import llm_spans
from mlwarden.cli.llm_simulator import LlmScenario, LlmSimulation
from mlwarden.errors import ConfigError
from mlwarden.monitors import Status, auto_monitors
from mlwarden.monitors.context import Calibration, FitContext
from mlwarden.monitors.evaluate import evaluate
from mlwarden.monitors.llm_judge import LlmJudge
from mlwarden.monitors.suite import MonitorSuite
from mlwarden.schema.spec import ModelSpec
from mlwarden.store import DuckDBStore
from mlwarden.store.span_queries import usage
from serverproc import ServerProcess

START = datetime(2026, 1, 1, tzinfo=UTC)
SPEC = ModelSpec(name="support-bot", task="llm", prediction=None)
# a third of the answers apologise (refusals): the fake judge grades those 1, the rest 5
SCENARIO = LlmScenario(days=1, calls_per_day=120, start=START, refusal_rate=0.33, seed=9)


def _fit(judge: LlmJudge) -> LlmJudge:
    return judge.fit(FitContext(SPEC, pa.table({}), Calibration(cadence_s=86400)))


def _evaluate(store: DuckDBStore, model: Any, judge: LlmJudge) -> Any:
    suite = MonitorSuite(SPEC.name, [judge], cadence="1d")
    (r,) = evaluate(store, model, suite, START, START + timedelta(days=1), call_out=True)
    return r


@pytest.fixture
def app() -> Any:
    store = DuckDBStore()
    store.append_spans("default", llm_spans(SCENARIO, project="default")).result()
    yield store, store.create_model("default", SPEC)
    store.close()


def test_the_judge_grades_a_sample_and_its_calls_become_priced_spans(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, model = app
    monkeypatch.setenv("JUDGE_KEY", "sk-judge-secret")
    with fake_openai() as fake:
        judge = _fit(
            LlmJudge(endpoint=fake.base_url, model="judge", sample=30, api_key_env="JUDGE_KEY")
        )
        r = _evaluate(store, model, judge)
        assert len(fake.requests) == 30
        assert all(h["authorization"] == "Bearer sk-judge-secret" for h in fake.headers)
        assert fake.requests[0]["messages"][0]["role"] == "system"
        spans = store.spans("default").to_pyarrow().to_pylist()
        refused = {s["span_id"] for s in spans if s["span_type"] == "llm" and s["refusal"]}
        judges = [s for s in spans if s["span_type"] == "judge"]
        assert len(judges) == 30
        graded = {s["parent_span_id"] for s in judges}
        expected_failed = len(graded & refused)
        assert r.details["failed"] == expected_failed > 0
        assert r.value == pytest.approx(expected_failed / 30)
        assert r.status is (Status.ALERT if expected_failed / 30 > 0.2 else Status.OK)
        # the judge's spans: children of what they grade, same service, priced, no user
        by_id = {s["span_id"]: s for s in spans}
        for j in judges:
            parent = by_id[j["parent_span_id"]]
            assert j["trace_id"] == parent["trace_id"]
            assert j["service_name"] == "support-bot" and j["user_id"] is None
            assert j["input_tokens"] == 200 and j["output_tokens"] == 20
            # gpt-4o-mini: 200 * 0.15 + 20 * 0.60 per 1M tokens
            assert j["cost"] == pytest.approx(42e-6) and j["price_version"]
        assert r.details["judge_calls"] == 30 and r.details["judge_cost"] == pytest.approx(
            30 * 42e-6
        )
        # tracked like any other call: the usage query counts the judge's tokens by model
        u = usage(store.spans("default"), window=None, by="span_type").to_pylist()
        assert {x["span_type"]: x["input_tokens"] for x in u}["judge"] == 30 * 200
        # a re-evaluation reads the grades back from the judge spans instead of asking again
        again = _evaluate(store, model, Monitor_from(judge))
        assert len(fake.requests) == 30
        assert again.value == r.value and again.details["judge_calls"] == 0


def Monitor_from(judge: LlmJudge) -> LlmJudge:  # noqa: N802 - reads like a constructor
    from mlwarden.monitors import Monitor

    mon = Monitor.from_dict(judge.to_dict())
    assert isinstance(mon, LlmJudge)
    return mon


@pytest.mark.parametrize(
    ("model", "reason"),
    [
        ("judge-broken", "the judge gave no 1-5 score"),
        ("judge-down", "the judge answered HTTP 503"),
    ],
)
def test_a_judge_without_grades_is_a_status_not_a_crash(app: Any, model: str, reason: str) -> None:
    store, rec = app
    with fake_openai() as fake:
        r = _evaluate(store, rec, _fit(LlmJudge(endpoint=fake.base_url, model=model, sample=8)))
    assert r.status is Status.INSUFFICIENT_DATA and reason in r.reason
    judges = [
        s for s in store.spans("default").to_pyarrow().to_pylist() if s["span_type"] == "judge"
    ]
    assert len(judges) == 8
    assert {s["status_code"] for s in judges} == {"error" if model == "judge-down" else "ok"}


def test_an_unreachable_judge_is_named_and_not_called_again_and_again(app: Any) -> None:
    store, rec = app
    judge = LlmJudge(endpoint="http://127.0.0.1:9/v1", model="j", sample=10, concurrency=4)
    r = _evaluate(store, rec, _fit(judge))
    assert r.status is Status.INSUFFICIENT_DATA and "could not be reached" in r.reason
    # one round of 4 calls reached nothing: the other 6 answers wait for the next evaluation
    assert r.details["judge_calls"] == 4 and r.details["skipped"] == 6
    assert "6 answers left for the next evaluation" in r.reason


def test_a_slow_judge_stops_at_its_budget_and_the_rest_waits(app: Any) -> None:
    """Each call takes 1.5 s; the budget (1 s) is spent after the first round of 3 concurrent
    calls, so the evaluation ends there instead of spending 30 calls' worth of time."""
    store, rec = app
    slow: dict[str, Any] = {"model": "judge-slow", "sample": 30, "budget_s": 1, "concurrency": 3}
    with fake_openai() as fake:
        r = _evaluate(store, rec, _fit(LlmJudge(**{**slow, "endpoint": fake.base_url})))
        assert len(fake.requests) == 3
    assert r.details["judged"] == 3 and r.details["skipped"] == 27
    assert r.status is Status.INSUFFICIENT_DATA and "budget of 1 s" in r.reason
    # the next evaluation keeps the 3 grades and asks about the next 3 answers
    with fake_openai() as fake:
        again = _evaluate(store, rec, _fit(LlmJudge(**{**slow, "endpoint": fake.base_url})))
        assert len(fake.requests) == 3
    assert again.details["judged"] == 6 and again.details["skipped"] == 24


def test_off_by_default_and_validated() -> None:
    assert not [m for m in auto_monitors(SPEC, spans=True) if m.kind == "llm_judge"]
    with pytest.raises(ConfigError, match="The 'endpoint' parameter must be an http"):
        _fit(LlmJudge(endpoint="localhost:8080", model="j"))
    with pytest.raises(ConfigError, match="'NO_SUCH_KEY' named by 'api_key_env' is not set"):
        _fit(LlmJudge(endpoint="http://127.0.0.1:1/v1", model="j", api_key_env="NO_SUCH_KEY"))
    with pytest.raises(ConfigError, match="The 'min_score' parameter must be an integer from 2"):
        _fit(LlmJudge(endpoint="http://127.0.0.1:1/v1", model="j", min_score=1))
    with pytest.raises(ConfigError, match="The 'concurrency' parameter must be from 1 to 32"):
        _fit(LlmJudge(endpoint="http://127.0.0.1:1/v1", model="j", concurrency=0))


def test_configured_in_the_spec_through_the_server(tmp_path: Any) -> None:
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    sim = LlmSimulation(LlmScenario(days=1, calls_per_day=60, start=start, refusal_rate=0.5))
    # the judge calls out from the server: a loopback endpoint needs the operator's allowance
    srv = ServerProcess(
        tmp_path / "data", "--evaluate-every", "0", "--alerting-allow-host", "127.0.0.1"
    ).start()
    try:
        with fake_openai() as fake, httpx.Client(base_url=srv.url, timeout=120) as http:
            r = http.post(
                "/v1/traces", content=sim.payload(0), headers={"content-type": "application/json"}
            )
            assert r.status_code == 200
            http.post("/v1/models", json={"name": "support-bot", "task": "llm", "prediction": None})
            r = http.post("/v1/models/support-bot/monitors/setup", json={"cadence": "1d"})
            spec = yaml.safe_load(r.json()["spec_yaml"])
            judge = {"kind": "llm_judge", "endpoint": fake.base_url, "model": "judge", "sample": 10}

            def put(extra: dict[str, Any]) -> httpx.Response:
                body = {**spec, "monitors": [*spec["monitors"], {**judge, **extra}]}
                return http.put(
                    "/v1/models/support-bot/monitors",
                    content=yaml.safe_dump(body),
                    headers={"content-type": "application/yaml"},
                )

            # an admin key cannot make the server call an internal address nobody allowed, nor
            # send one of the server's secrets as the judge's key
            r = put({"endpoint": "http://10.0.0.1:8080/v1"})
            assert r.status_code == 422 and "--alerting-allow-host" in r.text, r.text
            r = put({"api_key_env": "AWS_SECRET_ACCESS_KEY"})
            assert r.status_code == 422 and "'AWS_SECRET_ACCESS_KEY'" in r.text, r.text
            assert "llm_judge" not in http.get("/v1/models/support-bot/monitors").text
            r = put({})
            assert r.status_code == 200, r.text
            r = http.post(
                "/v1/models/support-bot/evaluate",
                json={"start": start.isoformat(), "end": (start + timedelta(days=1)).isoformat()},
            )
            assert r.status_code == 200, r.text
            (res,) = http.get(
                "/v1/models/support-bot/results", params={"monitor": "llm_judge"}
            ).json()
            assert res["status"] in ("ok", "warn", "alert") and res["details"]["judged"] == 10
            judged = http.get("/v1/llm/spans", params={"span_type": "judge"}).json()
            assert len(judged["spans"]) == 10 == len(fake.requests)
    finally:
        srv.stop()


def test_without_call_out_the_judge_is_not_asked_and_its_answers_wait(app: Any) -> None:
    """The scheduler evaluates without calling out: the window's answers wait for the judge
    job, which grades them (``call_out``); the scheduler's next evaluation reads the grades."""
    store, rec = app
    suite = MonitorSuite(SPEC.name, [], cadence="1d")
    with fake_openai() as fake:
        judge = _fit(LlmJudge(endpoint=fake.base_url, model="judge", sample=8))
        suite.monitors = [judge]
        (waiting,) = evaluate(store, rec, suite, START, START + timedelta(days=1))
        assert fake.requests == []
        assert waiting.status is Status.NO_DATA or waiting.details["skipped"] == 8
        assert "the judge job grades them" in waiting.reason
        graded = _evaluate(store, rec, judge)
        assert len(fake.requests) == 8 and graded.details["judged"] == 8
        (later,) = evaluate(store, rec, suite, START, START + timedelta(days=1))
        assert len(fake.requests) == 8 and later.details["judged"] == 8
