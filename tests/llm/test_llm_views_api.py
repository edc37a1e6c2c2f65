"""Sessions, users and breakdowns over HTTP, against a real server fed with
:mod:`llm.conversations` (calls exported before their trace's root), and prices set, removed
and applied again through the API without a restart."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from llm import conversations as conv
from mlwarden.schema.otlp import SpanData, encode_json
from serverproc import ServerProcess

RANGE = {"start": (conv.NOW - timedelta(hours=1)).isoformat(),
         "end": (conv.NOW + timedelta(hours=2)).isoformat()}  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("views") / "data", "--evaluate-every", "0").start()
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as http:
            conv.send(http)
            r = http.post("/v1/llm/scores", json=[
                {"trace_id": conv.ANN_TRACES[1], "name": "user_feedback", "value": False},
                {"trace_id": conv.ANN_TRACES[0], "name": "user_feedback", "value": True},
            ])  # fmt: skip
            assert r.status_code == 200, r.text
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def _get(http: httpx.Client, path: str, **params: Any) -> Any:
    r = http.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_sessions_list_attributes_calls_exported_before_their_root(http: httpx.Client) -> None:
    page = _get(http, "/v1/llm/sessions", service=conv.APP, **RANGE)
    assert page["total"] == 2
    got = {s["session_id"]: s for s in page["sessions"]}
    ann = got["s-ann"]
    assert (ann["user_id"], ann["turns"], ann["calls"], ann["flagged"]) == ("ann", 3, 3, 1)
    assert (ann["input_tokens"], ann["output_tokens"]) == (300, 60)
    assert [s["session_id"] for s in page["sessions"]] == ["s-bob", "s-ann"]  # latest first
    only = _get(http, "/v1/llm/sessions", user="ann", flagged="true", **RANGE)
    assert [s["session_id"] for s in only["sessions"]] == ["s-ann"]
    costly = _get(http, "/v1/llm/sessions", min_cost=ann["cost"] + 1e-9, **RANGE)
    assert [s["session_id"] for s in costly["sessions"]] == ["s-bob"]


def test_a_session_is_its_turns_in_order(http: httpx.Client) -> None:
    s = _get(http, "/v1/llm/sessions/s-ann")
    turns = s["turns"]
    assert [t["trace_id"] for t in turns] == conv.ANN_TRACES
    assert [t["question"] for t in turns] == conv.QUESTIONS
    assert [t["answer"] for t in turns] == conv.ANSWERS
    assert [t["flags"] for t in turns] == [[], ["refusal"], []]
    assert [t["ttft_ms"] for t in turns] == [250.0, 500.0, 750.0]
    assert all(t["input_tokens"] == 100 and t["cost"] > 0 for t in turns)
    assert http.get("/v1/llm/sessions/nope").status_code == 404


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        ("model", {"gpt-4o-mini": 3, "gpt-4o": 1}),
        ("user", {"ann": 3, "bob": 1}),
        ("session", {"s-ann": 3, "s-bob": 1}),
        ("prompt_version", {"1": 3, "2": 1}),
        ("route", {"/chat": 3, "/search": 1}),
    ],
)
def test_breakdown_by_each_dimension(http: httpx.Client, by: str, expected: dict[str, int]) -> None:
    rows = _get(http, "/v1/llm/breakdown", by=by, service=conv.APP, **RANGE)
    assert {r["key"]: r["calls"] for r in rows} == expected


def test_breakdown_rates_and_latency(http: httpx.Client) -> None:
    rows = {r["key"]: r for r in _get(http, "/v1/llm/breakdown", by="user", **RANGE)}
    bob, ann = rows["bob"], rows["ann"]
    assert (bob["errors"], bob["error_rate"], ann["flag_rate"]) == (1, 1.0, pytest.approx(1 / 3))
    assert bob["latency_p50"] == pytest.approx(8000.0)
    assert ann["latency_p95"] == pytest.approx(2000.0)
    assert ann["ttft_p50"] == pytest.approx(500.0)
    over_time = _get(http, "/v1/llm/breakdown", by="model", window="hour", **RANGE)
    assert sum(r["calls"] for r in over_time) == 4 and all(r["window_start"] for r in over_time)
    assert http.get("/v1/llm/breakdown", params={"by": "nope"}).status_code == 422


def test_users_with_usage_sessions_and_scores(http: httpx.Client) -> None:
    rows = _get(http, "/v1/llm/users", sort="calls", **RANGE)
    assert [r["user_id"] for r in rows] == ["ann", "bob"]
    ann = rows[0]
    assert (ann["calls"], ann["sessions"], ann["tokens"], ann["flagged"]) == (3, 1, 360, 1)
    assert (ann["scores"], ann["thumbs_up"], ann["thumbs_down"]) == (2, 1, 1)
    assert [r["user_id"] for r in _get(http, "/v1/llm/users", sort="cost")] == ["bob", "ann"]
    assert [r["user_id"] for r in _get(http, "/v1/llm/users", search="bo")] == ["bob"]
    assert [r["user_id"] for r in _get(http, "/v1/llm/users", flagged="true")] == ["ann"]


def _send_call(http: httpx.Client, trace: str, model: str) -> None:
    start = conv.T0 + 30 * conv.MIN
    span = SpanData(trace, "dd" * 8, "chat", start, start + conv.SEC, attributes={
        "gen_ai.operation.name": "chat", "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": 1_000_000, "gen_ai.usage.output_tokens": 0})  # fmt: skip
    body = encode_json([span], resource={"service.name": "priced"})
    assert http.post("/v1/traces", content=body, headers=conv.JSON).status_code == 200


def _cost(http: httpx.Client, trace: str) -> float | None:
    cost: float | None = _get(http, f"/v1/llm/traces/{trace}")["cost"]
    return cost


def test_a_price_set_through_the_api_prices_the_next_span_and_a_recost(
    http: httpx.Client,
) -> None:
    model = "acme-ft-7"
    _send_call(http, "e1" * 16, model)
    assert _cost(http, "e1" * 16) is None  # unknown model: unpriced
    r = http.put(f"/v1/llm/prices/{model}",
                 json={"unit": "per_token", "input": 0.000002, "output": 0.000008})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["prices"] == {"input": "2", "output": "8"}  # per million
    version = r.json()["version"]
    assert _get(http, "/v1/llm/prices")["overrides"] == {model: {"input": "2", "output": "8"}}
    _send_call(http, "e2" * 16, model)
    assert _cost(http, "e2" * 16) == pytest.approx(2.0)  # no restart
    assert _cost(http, "e1" * 16) is None  # stored spans keep their cost until a recost
    r = http.post("/v1/llm/recost", json={**RANGE, "model": model})
    assert r.status_code == 200, r.text
    assert (r.json()["checked"], r.json()["changed"], r.json()["version"]) == (2, 1, version)
    assert _cost(http, "e1" * 16) == pytest.approx(2.0)
    assert http.delete(f"/v1/llm/prices/{model}").status_code == 200
    assert http.delete(f"/v1/llm/prices/{model}").status_code == 404
    _send_call(http, "e3" * 16, model)
    assert _cost(http, "e3" * 16) is None
    actions = [(e["action"], e["target"]) for e in _get(http, "/v1/security/audit")]
    for action in ("prices.update", "prices.recost", "prices.remove"):
        assert action in {a for a, _ in actions}


@pytest.mark.parametrize(
    "body",
    [
        {"input": 1, "output": 2},  # no unit
        {"unit": "per_million_tokens", "input": -1, "output": 2},
        {"unit": "per_million_tokens", "input": "NaN", "output": 2},
        {"unit": "per_million_tokens", "input": True, "output": 2},
        {"unit": "per_hour", "input": 1, "output": 2},
        {"unit": "per_token", "input": 1},
    ],
)
def test_bad_prices_are_refused(http: httpx.Client, body: dict[str, Any]) -> None:
    r = http.put("/v1/llm/prices/some-model", json=body)
    assert r.status_code == 422, r.text
    assert "some-model" not in _get(http, "/v1/llm/prices")["overrides"]
