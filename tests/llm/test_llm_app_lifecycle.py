"""Renaming and deleting an LLM app: its trace spans (and their scores) follow it.

An LLM app's spans are found by the OpenTelemetry service name its code sends, which defaults to
the model's name. Renaming the model must not cut it off from the spans its code keeps sending
under the old name; deleting it must not leave its spans behind for the next model registered
under that name, nor touch another app's spans.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from mlwarden.schema.otlp import SpanData, encode_json
from serverproc import ServerProcess

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
T0 = int(NOW.timestamp()) * 1_000_000_000
SEC = 1_000_000_000
JSON = {"content-type": "application/json"}


def _call(trace: str, i: int) -> SpanData:
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 50,
        "gen_ai.usage.output_tokens": 10,
    }
    start = T0 + i * SEC
    return SpanData(trace, f"{i + 1:016x}", "chat", start, start + SEC, attributes=attrs)


def _send(http: httpx.Client, service: str, trace: str, n: int, first: int = 0) -> None:
    body = encode_json(
        [_call(trace, first + i) for i in range(n)], resource={"service.name": service}
    )
    r = http.post("/v1/traces", content=body, headers=JSON)
    assert r.status_code == 200, r.text


def _spans(http: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    r = http.get("/v1/llm/spans", params={"limit": 1000, **params})
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()["spans"]
    return out


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    srv = ServerProcess(tmp_path_factory.mktemp("llmlife") / "data").start()
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as client:
            yield client
    finally:
        srv.stop()


def test_rename_keeps_the_spans_and_delete_takes_them(http: httpx.Client) -> None:
    for name in ("bot", "other"):
        r = http.post("/v1/models", json={"name": name, "task": "llm", "prediction": None})
        assert r.status_code == 201, r.text
    _send(http, "bot", "a" * 32, 3)
    _send(http, "other", "b" * 32, 2)
    r = http.post(
        "/v1/llm/scores",
        json=[{"trace_id": "a" * 32, "name": "helpful", "value": 1.0}],
    )
    assert r.status_code == 200, r.text
    assert len(_spans(http, service="bot")) == 3
    page = http.get("/ui/models/bot", params={"tab": "llm"}).text
    assert "a" * 12 in page  # the trace is on the app's LLM tab

    r = http.patch("/v1/models/bot", json={"name": "assistant"})
    assert r.status_code == 200, r.text
    assert http.get("/v1/models/assistant").json()["spec"]["service"] == "bot"
    page = http.get("/ui/models/assistant", params={"tab": "llm"}).text
    assert "a" * 12 in page  # still on the renamed app's LLM tab
    assert len(_spans(http, service="bot")) == 3
    _send(http, "bot", "c" * 32, 1, first=10)  # the app's code still says service.name=bot
    assert len(_spans(http, service="bot")) == 4

    r = http.delete("/v1/models/assistant")
    assert r.status_code == 200, r.text
    removed = r.json()["removed"]
    assert removed["spans"] == 4 and removed["scores"] == 1, removed
    assert _spans(http, service="bot") == []
    assert http.get("/v1/llm/scores", params={"trace_id": "a" * 32}).json()["scores"] == []
    assert len(_spans(http, service="other")) == 2

    # a new app under the old name starts empty
    r = http.post("/v1/models", json={"name": "bot", "task": "llm", "prediction": None})
    assert r.status_code == 201, r.text
    assert _spans(http, service="bot") == []
