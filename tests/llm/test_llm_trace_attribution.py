"""User and session set on one span reach every span of its trace, however spans were batched.

An agent's root span carries the user and session; its LLM calls end minutes later and the
exporter sends them in later requests (or before the root, which ends last). Every view that
shows users or sessions must count the same tokens as when the trace arrives in one request.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from mlwarden.schema.otlp import SpanData, encode_json
from serverproc import ServerProcess

APP = "sess-app"
NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
T0 = int(NOW.timestamp()) * 1_000_000_000
MIN = 60 * 1_000_000_000
JSON = {"content-type": "application/json"}
ROOT_FIRST, ROOT_LAST = "a1" * 16, "b2" * 16


def _root(tid: str) -> SpanData:
    return SpanData(tid, "01" * 8, "agent", T0, T0 + 13 * MIN,
                    attributes={"user.id": "u-1", "session.id": "s-1"})  # fmt: skip


def _llm(tid: str, i: int) -> SpanData:
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 20,
    }
    start = T0 + 6 * i * MIN  # six minutes of think time between the calls
    return SpanData(tid, f"{i + 1:02d}" * 8, "chat", start, start + MIN,
                    parent_span_id="01" * 8, attributes=attrs)  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("sess") / "data").start()
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as http:
            # trace 1: the root first, then each call in its own request
            # trace 2: the calls first, the root (which ends last) after them
            requests = [
                [_root(ROOT_FIRST)],
                [_llm(ROOT_FIRST, 1)],
                [_llm(ROOT_FIRST, 2)],
                [_llm(ROOT_LAST, 1)],
                [_llm(ROOT_LAST, 2)],
                [_root(ROOT_LAST)],
            ]
            for spans in requests:
                body = encode_json(spans, resource={"service.name": APP})
                r = http.post("/v1/traces", content=body, headers=JSON)
                assert r.status_code == 200, r.text
            r = http.post("/v1/models", json={"name": APP, "task": "llm", "prediction": None})
            assert r.status_code == 201, r.text
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


@pytest.mark.parametrize("by", ["user", "session"])
def test_usage_by_user_and_session_counts_every_call_of_the_trace(
    http: httpx.Client, by: str
) -> None:
    rows = _get(http, "/v1/llm/usage", window="all", by=by)
    key = {"user": "u-1", "session": "s-1"}[by]
    assert {r["key"]: (r["llm_spans"], r["input_tokens"] + r["output_tokens"]) for r in rows} == {
        key: (4, 480)
    }


@pytest.mark.parametrize("trace", [ROOT_FIRST, ROOT_LAST])
def test_every_span_of_the_trace_carries_user_and_session(http: httpx.Client, trace: str) -> None:
    spans = _get(http, "/v1/llm/spans", trace_id=trace)["spans"]
    assert len(spans) == 3
    assert {(s["user_id"], s["session_id"]) for s in spans} == {("u-1", "s-1")}
    assert len(_get(http, "/v1/llm/spans", user="u-1", trace_id=trace)["spans"]) == 3
    assert len(_get(http, "/v1/llm/spans", session="s-1", trace_id=trace)["spans"]) == 3
    tree = _get(http, f"/v1/llm/traces/{trace}")
    (root,) = tree["roots"]
    assert [c["user_id"] for c in root["children"]] == ["u-1", "u-1"]


def test_the_llm_tab_filtered_by_user_shows_the_trace_tokens(http: httpx.Client) -> None:
    start = (NOW - timedelta(hours=1)).isoformat()
    end = (NOW + timedelta(hours=2)).isoformat()
    for who in ({"user": "u-1"}, {"session": "s-1"}):
        r = http.get(f"/ui/models/{APP}", params={"tab": "llm", "start": start, "end": end, **who})
        assert r.status_code == 200, r.text
        assert "4 LLM calls, 400 input and 80 output tokens" in r.text, who
        assert r.text.count("data-trace=") == 2
