"""The SDK: the OpenAI wrapper against a local fake OpenAI server, @trace, the OTLP exporter."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fake_openai import FakeOpenAI, fake_openai

from mlwarden.schema.genai import normalise
from mlwarden.schema.otlp import SpanData, decode_json, encode_json
from mlwarden.schema.pricing import load_prices
from mlwarden.sdk.llm import (
    InMemoryExporter,
    OTLPExporter,
    configure,
    current_span,
    start_span,
    trace,
    wrap_openai,
)
from mlwarden.server.routes_otlp import enrich
from serverproc import ServerProcess, free_port

openai = pytest.importorskip("openai")
MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Capital of France? I'm at ann@corp.example"},
]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with fake_openai() as f:
        yield f


def row_of(span: SpanData) -> dict[str, Any]:
    """What the server would store for this span."""
    (raw,), _ = decode_json(encode_json([span]))
    (row,), _ = normalise([raw])
    enrich(row, load_prices())
    return row


def check_llm_row(row: dict[str, Any]) -> None:
    assert (row["provider"], row["request_model"], row["response_model"]) == (
        "openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18",
    )  # fmt: skip
    assert (row["input_tokens"], row["output_tokens"], row["cache_read_tokens"]) == (120, 8, 64)
    assert row["cost"] == pytest.approx((56 * 0.15 + 64 * 0.075 + 8 * 0.60) / 1e6)
    assert row["prompt"] == "system: Be brief.\nuser: Capital of France? I'm at ann@corp.example"
    assert row["response"] == "The capital of France is Paris."
    assert (
        row["pii_in_prompt"] is True and row["refusal"] is False and row["finish_reason"] == "stop"
    )


def client(fake: FakeOpenAI, **kw: Any) -> Any:
    return wrap_openai(openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0), **kw)


def test_sync_call_records_a_genai_span(exporter: InMemoryExporter, fake: FakeOpenAI) -> None:
    c = client(fake)
    assert wrap_openai(c) is c  # wrapping twice is a no-op
    out = c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, temperature=0.2)
    assert out.choices[0].message.content == "The capital of France is Paris."
    (span,) = exporter.spans
    assert span.name == "chat gpt-4o-mini" and span.kind == "client"
    assert span.attributes["gen_ai.request.temperature"] == 0.2
    assert span.attributes["server.address"] == "127.0.0.1"
    check_llm_row(row_of(span))


def test_streaming_records_usage_and_hides_the_usage_chunk(
    exporter: InMemoryExporter, fake: FakeOpenAI
) -> None:
    c = client(fake)
    stream = c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    text = "".join(ch.choices[0].delta.content or "" for ch in stream)  # no IndexError
    assert text == "The capital of France is Paris."
    assert fake.requests[-1]["stream_options"] == {"include_usage": True}
    (span,) = exporter.spans
    assert span.attributes["gen_ai.response.time_to_first_chunk"] >= 0
    row = row_of(span)
    check_llm_row(row)
    assert row["ttft_ms"] is not None and row["ttft_ms"] >= 0
    # a caller who asked for usage sees the usage chunk
    with c.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    ) as s:
        chunks = list(s)
    assert chunks[-1].usage.prompt_tokens == 120 and chunks[-1].choices == []


def test_stream_without_usage_is_flagged_and_counts_nothing(
    exporter: InMemoryExporter, fake: FakeOpenAI
) -> None:
    c = client(fake, include_usage=False)
    list(c.chat.completions.create(model="gpt-4o-mini-no-usage", messages=MESSAGES, stream=True))
    assert "stream_options" not in fake.requests[-1]
    (span,) = exporter.spans
    assert span.attributes["mlwarden.usage_missing"] is True
    row = row_of(span)
    assert row["input_tokens"] is None and row["cost"] is None and row["span_type"] == "llm"


def test_async_client_plain_and_streaming(exporter: InMemoryExporter, fake: FakeOpenAI) -> None:
    async def run() -> str:
        c = wrap_openai(openai.AsyncOpenAI(base_url=fake.base_url, api_key="t", max_retries=0))
        r = await c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        s = await c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        parts = [ch.choices[0].delta.content or "" async for ch in s]
        await c.close()
        return str(r.choices[0].message.content) + "|" + "".join(parts)

    assert asyncio.run(run()) == "The capital of France is Paris.|The capital of France is Paris."
    assert len(exporter.spans) == 2
    for span in exporter.spans:
        check_llm_row(row_of(span))


def test_errors_are_recorded_on_the_span(exporter: InMemoryExporter) -> None:
    c = wrap_openai(
        openai.OpenAI(base_url=f"http://127.0.0.1:{free_port()}/v1", api_key="t", max_retries=0)
    )
    with pytest.raises(openai.APIConnectionError):
        c.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    (span,) = exporter.spans
    assert span.status_code == "error" and span.events[0]["name"] == "exception"


def test_trace_nests_sync_and_async_and_passes_user_down(
    exporter: InMemoryExporter, fake: FakeOpenAI
) -> None:
    c = client(fake)

    @trace(kind="tool")
    def lookup(city: str) -> dict[str, str]:
        return {"city": city}

    @trace
    async def answer(question: str) -> str:
        current_span().set("user.id", "ann")  # type: ignore[union-attr]
        lookup("Paris")
        with start_span("post-process"):
            pass
        r = c.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": question}]
        )
        return str(r.choices[0].message.content)

    @trace
    def fails() -> None:
        raise ValueError("nope")

    assert asyncio.run(answer("capital?")) == "The capital of France is Paris."
    with pytest.raises(ValueError):
        fails()
    by_name = {s.name: s for s in exporter.spans}
    root = by_name["test_trace_nests_sync_and_async_and_passes_user_down.<locals>.answer"]
    assert root.parent_span_id is None and json.loads(root.attributes["input.value"]) == {
        "question": "capital?"
    }
    assert json.loads(root.attributes["output.value"]) == "The capital of France is Paris."
    for name in (
        "chat gpt-4o-mini",
        "post-process",
        "test_trace_nests_sync_and_async_and_passes_user_down.<locals>.lookup",
    ):
        s = by_name[name]
        assert (s.trace_id, s.parent_span_id) == (root.trace_id, root.span_id), name
    assert by_name["chat gpt-4o-mini"].attributes["user.id"] == "ann"
    tool = by_name["test_trace_nests_sync_and_async_and_passes_user_down.<locals>.lookup"]
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    assert json.loads(tool.attributes["output.value"]) == {"city": "Paris"}
    failed = by_name["test_trace_nests_sync_and_async_and_passes_user_down.<locals>.fails"]
    assert failed.status_code == "error" and "nope" in failed.status_message
    assert failed.trace_id != root.trace_id and current_span() is None


def test_exporter_ships_batches_to_the_server(llm_server: ServerProcess, fake: FakeOpenAI) -> None:
    exporter = configure(url=llm_server.url, service_name="sdk-app")
    assert isinstance(exporter, OTLPExporter)
    c = client(fake)

    @trace(name="agent")
    def agent() -> str:
        current_span().set("session.id", "conv-1")  # type: ignore[union-attr]
        c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        list(
            c.chat.completions.create(model="gpt-4o-mini-no-usage", messages=MESSAGES, stream=True)
        )
        return current_span().trace_id  # type: ignore[union-attr]

    trace_id = agent()
    assert exporter.flush(30) and exporter.sent_ == 3 and exporter.dropped_ == 0
    try:
        with httpx.Client(base_url=llm_server.url, timeout=30) as http:
            t = http.get(f"/v1/llm/traces/{trace_id}").json()
            assert t["spans"] == 3 and t["roots"][0]["name"] == "agent"
            assert len(t["roots"][0]["children"]) == 2 and t["input_tokens"] == 120
            (u,) = http.get(
                "/v1/llm/usage", params={"window": "all", "by": "session", "service": "sdk-app"}
            ).json()
            assert (u["key"], u["llm_spans"], u["usage_missing"]) == ("conv-1", 2, 1)
    finally:
        configure(exporter=InMemoryExporter())
        exporter.shutdown()


def test_exporter_drops_and_counts_when_the_server_is_away() -> None:
    ex = OTLPExporter(f"http://127.0.0.1:{free_port()}", retries=0, interval=0.01, max_queue=5)
    for i in range(8):
        ex.export(SpanData("ab" * 16, f"{i:016x}", "x", 1, 2))
    assert ex.flush(30)
    assert ex.sent_ == 0 and ex.dropped_ == 8
    ex.shutdown()
