"""The OpenAI wrapper beyond plain chat: clients from ``with_options``, streamed tool calls,
embeddings and the Responses API, sync and async, against the local fake OpenAI server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fake_openai import FakeOpenAI

from mlwarden.schema.genai import normalise
from mlwarden.schema.otlp import SpanData, decode_json, encode_json
from mlwarden.schema.pricing import load_prices
from mlwarden.sdk.llm import InMemoryExporter, wrap_openai
from mlwarden.server.routes_otlp import enrich

openai = pytest.importorskip("openai")
MESSAGES = [{"role": "user", "content": "Weather in Paris?"}]
PARIS = "The capital of France is Paris."
WEATHER_CALL = {
    "type": "tool_call",
    "id": "call_1",
    "name": "get_weather",
    "arguments": '{"city": "Paris"}',
}


def row_of(span: SpanData) -> dict[str, Any]:
    """What the server would store for this span."""
    (raw,), _ = decode_json(encode_json([span]))
    (row,), _ = normalise([raw])
    enrich(row, load_prices())
    return row


def sync_client(fake: FakeOpenAI) -> Any:
    return wrap_openai(openai.OpenAI(base_url=fake.base_url, api_key="t", max_retries=0))


def async_client(fake: FakeOpenAI) -> Any:
    return wrap_openai(openai.AsyncOpenAI(base_url=fake.base_url, api_key="t", max_retries=0))


def output_parts(span: SpanData) -> list[dict[str, Any]]:
    (message,) = json.loads(span.attributes["gen_ai.output.messages"])
    parts: list[dict[str, Any]] = message["parts"]
    return parts


def test_with_options_returns_a_traced_client(exporter: InMemoryExporter, fake: FakeOpenAI) -> None:
    c = sync_client(fake)
    for derived in (c.with_options(timeout=5.0), c.copy(max_retries=0)):
        out = derived.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert out.choices[0].message.content == PARIS
    assert [s.name for s in exporter.spans] == ["chat gpt-4o-mini"] * 2


def test_tool_calls_are_recorded_streamed_or_not(
    exporter: InMemoryExporter, fake: FakeOpenAI
) -> None:
    c = sync_client(fake)
    whole = c.chat.completions.create(model="gpt-4o-mini-tools", messages=MESSAGES)
    assert whole.choices[0].message.tool_calls[0].function.name == "get_weather"
    stream = c.chat.completions.create(model="gpt-4o-mini-tools", messages=MESSAGES, stream=True)
    deltas = [ch.choices[0].delta for ch in stream]  # the usage chunk stays hidden
    assert "".join(d.tool_calls[0].function.arguments for d in deltas if d.tool_calls) == (
        '{"city": "Paris"}'
    )

    async def run() -> None:
        a = async_client(fake)
        s = await a.chat.completions.create(
            model="gpt-4o-mini-tools", messages=MESSAGES, stream=True
        )
        _ = [ch async for ch in s]
        await a.close()

    asyncio.run(run())
    assert len(exporter.spans) == 3
    for span in exporter.spans:
        assert output_parts(span) == [WEATHER_CALL]  # not an empty text
        assert span.attributes["gen_ai.response.finish_reasons"] == ["tool_calls"]
        assert span.attributes["gen_ai.usage.input_tokens"] == 120


def test_embeddings_sync_and_async(exporter: InMemoryExporter, fake: FakeOpenAI) -> None:
    c = sync_client(fake)
    out = c.embeddings.create(model="text-embedding-3-small", input=["a", "b", "c"])
    assert len(out.data) == 3 and out.data[0].embedding == [0.5, -0.25, 0.125, 1.0]

    async def run() -> int:
        a = async_client(fake)
        r = await a.embeddings.create(model="text-embedding-3-small", input="a")
        await a.close()
        return len(r.data)

    assert asyncio.run(run()) == 1
    first, second = exporter.spans
    assert first.name == "embeddings text-embedding-3-small" and first.kind == "client"
    assert first.attributes["mlwarden.embeddings.input_count"] == 3
    assert first.attributes["gen_ai.embeddings.dimension.count"] == 4
    row = row_of(first)
    assert (row["span_type"], row["operation"], row["input_tokens"]) == (
        "embedding",
        "embeddings",
        15,
    )
    assert second.attributes["gen_ai.usage.input_tokens"] == 5


def check_response_span(span: SpanData) -> None:
    row = row_of(span)
    assert (row["span_type"], row["request_model"], row["response_model"]) == (
        "llm", "gpt-4o-mini", "gpt-4o-mini-2024-07-18",
    )  # fmt: skip
    assert (row["input_tokens"], row["output_tokens"], row["cache_read_tokens"]) == (120, 8, 64)
    assert row["cost"] == pytest.approx((56 * 0.15 + 64 * 0.075 + 8 * 0.60) / 1e6)
    assert row["prompt"] == "system: Be brief.\nuser: Capital of France?"
    assert row["response"] == PARIS and row["finish_reason"] == "stop"


def test_responses_api_plain_and_streaming_sync_and_async(
    exporter: InMemoryExporter, fake: FakeOpenAI
) -> None:
    c = sync_client(fake)
    if not hasattr(c, "responses"):
        pytest.skip("this openai has no Responses API (it came with 1.66)")
    ask = {"model": "gpt-4o-mini", "instructions": "Be brief.", "input": "Capital of France?"}
    assert c.responses.create(**ask).output_text == PARIS
    events = list(c.responses.create(**ask, stream=True))
    assert events[-1].type == "response.completed"

    async def run() -> str:
        a = async_client(fake)
        r = await a.responses.create(**ask)
        s = await a.responses.create(**ask, stream=True)
        deltas = [e.delta async for e in s if e.type == "response.output_text.delta"]
        await a.close()
        return str(r.output_text) + "|" + "".join(deltas)

    assert asyncio.run(run()) == PARIS + "|" + PARIS
    assert len(exporter.spans) == 4
    for span in exporter.spans:
        check_response_span(span)
    streamed = [s for s in exporter.spans if s.attributes.get("gen_ai.request.stream")]
    assert len(streamed) == 2
    assert all(s.attributes["gen_ai.response.time_to_first_chunk"] >= 0 for s in streamed)
