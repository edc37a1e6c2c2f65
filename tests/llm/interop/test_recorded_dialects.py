"""Recorded span payloads of third-party instrumentations (tests/llm/dialects.py), in process.

The libraries themselves (OpenInference, OpenLLMetry, LiteLLM) are not installed: their spans
are kept as the attributes and events they emit, sent through the real decoder, normaliser and
pricer.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from dialects import (
    ANSWER,
    TOOL_RESULT,
    TimedEvent,
    genai_stream_without_usage,
    langchain_error,
    langchain_tool,
    litellm_chat,
    litellm_embedding,
    litellm_tool_call,
    openinference_embedding,
    openinference_stream,
    openllmetry_stream,
)

from mlwarden.schema.genai import normalise
from mlwarden.schema.otlp import SpanData, decode_json, encode_json
from mlwarden.schema.otlp_logs import span_texts
from mlwarden.schema.pricing import load_prices
from mlwarden.server.routes_otlp import enrich

T0 = 1_767_225_600_000_000_000


def row_of(attrs: dict[str, Any], events: list[TimedEvent]) -> dict[str, Any]:
    ev = [{"name": n, "time_ns": T0 + dt, "attributes": a} for n, dt, a in events]
    span = SpanData(
        "ab" * 16, "cd" * 8, "call", T0, T0 + 2_000_000_000, attributes=attrs, events=ev
    )
    spans, rejected = decode_json(encode_json([span], resource={"service.name": "bot"}))
    rows, bad = normalise(spans)
    assert not rejected and not bad
    (row,) = rows
    enrich(row, load_prices())
    return row


@pytest.mark.parametrize(
    ("make", "ttft_ms"), [(openinference_stream, 250.0), (openllmetry_stream, 180.0)]
)
def test_time_to_first_token_is_read_from_stream_events(make: Any, ttft_ms: float) -> None:
    attrs, events = make()
    row = row_of(attrs, events)
    assert row["ttft_ms"] == ttft_ms
    # every event is stored (name, time, attributes), gen_ai.* ones too
    stored = json.loads(row["events"])
    assert [(e["name"], e["time_ns"] - T0) for e in stored] == [(n, dt) for n, dt, _ in events]


def test_genai_content_events_are_stored_as_well_as_read() -> None:
    row = row_of({"gen_ai.request.model": "gpt-4o"},
                 [("gen_ai.user.message", 0, {"content": "hi"})])  # fmt: skip
    assert row["prompt"] == "user: hi"
    assert json.loads(row["events"])[0]["attributes"] == {"content": "hi"}


def test_openinference_embedding_has_model_cost_and_texts() -> None:
    row = row_of(*openinference_embedding())
    assert row["span_type"] == "embedding" and row["model"] == "text-embedding-3-small"
    assert row["prompt"] == "user: first text\nuser: second text"
    assert row["cost"] == pytest.approx(1_000 * 0.02 / 1e6)
    assert row["cost_source"] == "price_table"
    # the vectors are stored nowhere: not as the response (the library's output.value), not kept
    assert row["response"] is None
    kept = json.loads(row["attributes"])
    assert not any(k.startswith("embedding.embeddings") or k == "output.value" for k in kept)


def test_a_tools_json_input_and_result_are_kept() -> None:
    row = row_of(*langchain_tool())
    assert row["span_type"] == "tool"
    assert json.loads(row["response"]) == TOOL_RESULT
    assert json.loads(row["prompt"].removeprefix("user: ")) == {"city": "Paris"}
    kept = json.loads(row["attributes"])
    assert json.loads(kept["output.value"]) == TOOL_RESULT and "input.value" in kept


def test_litellm_tool_calls_finish_reason_user_and_reported_cost() -> None:
    row = row_of(*litellm_chat())
    assert row["response"] == 'Let me check.\n[tool_call weather({"city": "Paris"})]'
    assert row["finish_reason"] == "tool_calls"
    assert row["user_id"] == "u-lite"
    # the library's own cost wins over the price table's (which would be lower here)
    assert (row["cost"], row["cost_source"], row["price_version"]) == (0.5, "reported", "reported")


def test_litellm_tool_call_beside_empty_parts_is_the_response() -> None:
    row = row_of(*litellm_tool_call())
    assert row["response"] == '[tool_call get_weather({"city": "Paris"})]'
    assert (row["prompt"], row["finish_reason"]) == ("user: Weather in Paris?", "tool_calls")


def test_a_failed_calls_empty_output_message_is_no_response() -> None:
    row = row_of(*langchain_error())
    assert (row["prompt"], row["response"]) == ("user: Capital of France?", None)
    assert row["status_message"] == "Error code: 503 - overloaded"


def test_litellm_embedding_is_an_embedding_and_not_checked() -> None:
    row = row_of(*litellm_embedding())
    assert (row["operation"], row["span_type"]) == ("embeddings", "embedding")
    assert row["injection"] is None and row["cost_source"] == "price_table"


def test_a_stream_without_usage_has_unknown_tokens_and_no_cost() -> None:
    row = row_of(*genai_stream_without_usage())
    assert (row["input_tokens"], row["output_tokens"], row["total_tokens"]) == (None, None, None)
    assert row["cost"] is None and row["cost_source"] is None
    assert row["response"] == ANSWER and row["finish_reason"] == "length"


def test_openllmetry_choice_event_with_tool_calls_beside_the_message() -> None:
    """The log records opentelemetry-instrumentation-openai 0.62.4 (Traceloop SDK with
    ``use_attributes=False``) sends for a tool call, as recorded from the library."""
    logs = [
        {"event_name": "gen_ai.user.message", "time_ns": 1, "attributes": {},
         "body": {"content": "Weather in Paris?"}},
        {"event_name": "gen_ai.choice", "time_ns": 2, "attributes": {},
         "body": {"index": 0, "message": {"content": None}, "finish_reason": "tool_calls",
                  "tool_calls": [{"id": "call_1", "type": "function", "function": {
                      "arguments": '{"city": "Paris"}', "name": "get_weather"}}]}},
    ]  # fmt: skip
    ins, outs, finish = span_texts(logs)
    assert (ins, finish) == ([("user", "Weather in Paris?")], "tool_calls")
    assert outs == [("assistant", '[tool_call get_weather({"city": "Paris"})]')]


def test_openllmetry_role_events_keep_a_tools_json_result_and_the_assistants_calls() -> None:
    """The records of the call that carries the tool's result (recorded from the library)."""
    call = {"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}  # fmt: skip
    logs = [
        {"event_name": "gen_ai.user.message", "time_ns": 1, "attributes": {},
         "body": {"content": "Weather in Paris?"}},
        {"event_name": "gen_ai.assistant.message", "time_ns": 2, "attributes": {},
         "body": {"content": None, "tool_calls": [call]}},
        {"event_name": "gen_ai.tool.message", "time_ns": 3, "attributes": {},
         "body": {"content": '{"city": "Paris", "temperature_c": 21}'}},
    ]  # fmt: skip
    ins, _, _ = span_texts(logs)
    assert ins == [
        ("user", "Weather in Paris?"),
        ("assistant", '[tool_call get_weather({"city": "Paris"})]'),
        ("tool", '{"city": "Paris", "temperature_c": 21}'),
    ]
