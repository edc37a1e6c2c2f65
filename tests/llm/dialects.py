"""One LLM call described in each attribute dialect, as instrumentations emit it.

Every dialect says the same thing: OpenAI ``gpt-4o-mini`` (answered by the
``gpt-4o-mini-2024-07-18`` snapshot), a system and a user message (with an
e-mail address in it), one answer, 120 input tokens of which 64 read from the
cache, 8 output tokens, end user ``u-42`` in conversation ``s-7``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

SYSTEM = "You are a helpful assistant."
USER = "What is the capital of France? Reply to jane.doe@example.com"
ANSWER = "The capital of France is Paris."
REQUEST_MODEL = "gpt-4o-mini"
RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
#: (120 - 64) * 0.15 + 64 * 0.075 + 8 * 0.60 per 1M tokens, by hand
COST = (
    Decimal(56) * Decimal("0.15") + Decimal(64) * Decimal("0.075") + Decimal(8) * Decimal("0.60")
) / Decimal(1_000_000)

Event = tuple[str, dict[str, Any]]


def genai_current() -> tuple[dict[str, Any], list[Event]]:
    """OpenTelemetry GenAI conventions as of 2025 (gen_ai.provider.name, *.messages)."""
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": REQUEST_MODEL,
        "gen_ai.response.model": RESPONSE_MODEL,
        "gen_ai.usage.input_tokens": 120,
        "gen_ai.usage.output_tokens": 8,
        "gen_ai.usage.cache_read.input_tokens": 64,
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.system_instructions": json.dumps([{"type": "text", "content": SYSTEM}]),
        "gen_ai.input.messages": json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": USER}]}]
        ),
        "gen_ai.output.messages": json.dumps(
            [
                {
                    "role": "assistant",
                    "parts": [{"type": "text", "content": ANSWER}],
                    "finish_reason": "stop",
                }
            ]
        ),
        "user.id": "u-42",
        "gen_ai.conversation.id": "s-7",
    }, []


def genai_deprecated() -> tuple[dict[str, Any], list[Event]]:
    """Older GenAI conventions: gen_ai.system, prompt/completion_tokens, content as span events."""
    return {
        "gen_ai.system": "openai",
        "gen_ai.request.model": REQUEST_MODEL,
        "gen_ai.response.model": RESPONSE_MODEL,
        "gen_ai.usage.prompt_tokens": 120,
        "gen_ai.usage.completion_tokens": 8,
        "gen_ai.usage.cache_read_input_tokens": 64,
        "gen_ai.response.finish_reasons": ["stop"],
        "enduser.id": "u-42",
        "session.id": "s-7",
    }, [
        (
            "gen_ai.content.prompt",
            {
                "gen_ai.prompt": json.dumps(
                    [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}]
                )
            },
        ),
        (
            "gen_ai.content.completion",
            {"gen_ai.completion": json.dumps([{"role": "assistant", "content": ANSWER}])},
        ),
    ]


def openllmetry_legacy() -> tuple[dict[str, Any], list[Event]]:
    """OpenLLMetry (Traceloop) indexed attributes."""
    return {
        "gen_ai.system": "OpenAI",
        "llm.request.type": "chat",
        "gen_ai.request.model": REQUEST_MODEL,
        "gen_ai.response.model": RESPONSE_MODEL,
        "gen_ai.prompt.0.role": "system",
        "gen_ai.prompt.0.content": SYSTEM,
        "gen_ai.prompt.1.role": "user",
        "gen_ai.prompt.1.content": USER,
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": ANSWER,
        "gen_ai.completion.0.finish_reason": "stop",
        "gen_ai.usage.prompt_tokens": 120,
        "gen_ai.usage.completion_tokens": 8,
        "llm.usage.total_tokens": 128,
        "gen_ai.usage.cache_read_input_tokens": 64,
        "traceloop.association.properties.user_id": "u-42",
        "traceloop.association.properties.session_id": "s-7",
    }, []


def openinference() -> tuple[dict[str, Any], list[Event]]:
    """Arize OpenInference."""
    return {
        "openinference.span.kind": "LLM",
        "llm.provider": "openai",
        "llm.system": "openai",
        "llm.model_name": RESPONSE_MODEL,
        "llm.invocation_parameters": json.dumps({"model": REQUEST_MODEL, "temperature": 0}),
        "llm.input_messages.0.message.role": "system",
        "llm.input_messages.0.message.content": SYSTEM,
        "llm.input_messages.1.message.role": "user",
        "llm.input_messages.1.message.content": USER,
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": ANSWER,
        "llm.token_count.prompt": 120,
        "llm.token_count.completion": 8,
        "llm.token_count.total": 128,
        "llm.token_count.prompt_details.cache_read": 64,
        "input.value": json.dumps(
            {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}]}
        ),
        "input.mime_type": "application/json",
        "output.value": ANSWER,
        "user.id": "u-42",
        "session.id": "s-7",
    }, []


DIALECTS = {
    "genai": genai_current,
    "genai_deprecated": genai_deprecated,
    "openllmetry": openllmetry_legacy,
    "openinference": openinference,
}

#: Columns every dialect expresses; they must come out equal.
SHARED = (
    "provider",
    "request_model",
    "response_model",
    "model",
    "span_type",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost",
    "price_version",
    "prompt",
    "response",
    "user_id",
    "session_id",
    "pii_in_prompt",
    "pii_in_response",
    "injection",
    "refusal",
    "json_valid",
)
EXPECTED = {
    "provider": "openai",
    "request_model": REQUEST_MODEL,
    "response_model": RESPONSE_MODEL,
    "model": RESPONSE_MODEL,
    "span_type": "llm",
    "input_tokens": 120,
    "output_tokens": 8,
    "total_tokens": 128,
    "cache_read_tokens": 64,
    "cache_write_tokens": None,
    "reasoning_tokens": None,
    "cost": float(COST),
    "prompt": f"system: {SYSTEM}\nuser: {USER}",
    "response": ANSWER,
    "user_id": "u-42",
    "session_id": "s-7",
    "pii_in_prompt": True,
    "pii_in_response": False,
    "injection": False,
    "refusal": False,
    "json_valid": None,
}


# -- spans of third-party libraries that say more (or less) than one priced call -------------
#: (attributes, events as (name, ns after the span's start, attributes))
TimedEvent = tuple[str, int, dict[str, Any]]
MS = 1_000_000


def openinference_stream() -> tuple[dict[str, Any], list[TimedEvent]]:
    """OpenInference (openai instrumentation) of a streamed call: first token as an event."""
    attrs, _ = openinference()
    return attrs, [("First Token Stream Event", 250 * MS, {})]


def openllmetry_stream() -> tuple[dict[str, Any], list[TimedEvent]]:
    """OpenLLMetry of a streamed call: one event per chunk, the first at 180 ms."""
    attrs, _ = openllmetry_legacy()
    return attrs, [("gen_ai.content.completion.chunk", t * MS, {}) for t in (300, 180, 420)]


def openinference_embedding() -> tuple[dict[str, Any], list[TimedEvent]]:
    """OpenInference EMBEDDING span (two texts embedded)."""
    return {
        "openinference.span.kind": "EMBEDDING",
        "embedding.model_name": "text-embedding-3-small",
        "embedding.embeddings.0.embedding.text": "first text",
        "embedding.embeddings.0.embedding.vector": [0.1, 0.2],
        "embedding.embeddings.1.embedding.text": "second text",
        "embedding.embeddings.1.embedding.vector": [0.3, 0.4],
        "llm.token_count.prompt": 1_000,
        "llm.token_count.total": 1_000,
        "input.value": json.dumps({"input": ["first text", "second text"]}),
        "input.mime_type": "application/json",
        # openinference-instrumentation-openai 0.1.66 sends the response body, vectors included
        "output.value": json.dumps(
            {
                "data": [{"embedding": [0.1, 0.2], "index": 0}],
                "model": "text-embedding-3-small",
                "object": "list",
            }
        ),
        "output.mime_type": "application/json",
    }, []


TOOL_RESULT = {"temperature_c": 21, "city": "Paris"}


def langchain_tool() -> tuple[dict[str, Any], list[TimedEvent]]:
    """OpenInference (LangChain) TOOL span whose input and output are JSON objects."""
    return {
        "openinference.span.kind": "TOOL",
        "tool.name": "weather",
        "input.value": json.dumps({"city": "Paris"}),
        "input.mime_type": "application/json",
        "output.value": json.dumps(TOOL_RESULT),
        "output.mime_type": "application/json",
    }, []


def litellm_chat() -> tuple[dict[str, Any], list[TimedEvent]]:
    """LiteLLM's otel callback: GenAI messages with ``tool_calls`` beside ``parts``, finish
    reasons as a JSON array string, its own cost, the user as ``gen_ai.user``."""
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": "openai",
        "gen_ai.request.model": REQUEST_MODEL,
        "gen_ai.response.model": RESPONSE_MODEL,
        "gen_ai.usage.input_tokens": 120,
        "gen_ai.usage.output_tokens": 8,
        "gen_ai.response.finish_reasons": '["tool_calls"]',
        "gen_ai.cost.total_cost": 0.5,
        "gen_ai.user": "u-lite",
        "gen_ai.input.messages": json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]}]
        ),
        "gen_ai.output.messages": json.dumps(
            [
                {
                    "role": "assistant",
                    "parts": [{"type": "text", "content": "Let me check."}],
                    "tool_calls": [
                        {"function": {"name": "weather", "arguments": '{"city": "Paris"}'}}
                    ],
                }
            ]
        ),
    }, []


def litellm_tool_call() -> tuple[dict[str, Any], list[TimedEvent]]:
    """What LiteLLM 1.110.2's otel callback sends for a tool call (recorded from the real
    library): empty ``parts``, the call in OpenLLMetry's ``gen_ai.completion.0.function_call.*``."""
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": "openai",
        "gen_ai.request.model": REQUEST_MODEL,
        "gen_ai.usage.input_tokens": 120,
        "gen_ai.usage.output_tokens": 8,
        "gen_ai.input.messages": json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]}]
        ),
        "gen_ai.output.messages": json.dumps(
            [{"role": "assistant", "parts": [], "finish_reason": "tool_calls"}]
        ),
        "gen_ai.response.finish_reasons": '["tool_calls"]',
        "gen_ai.completion.0.function_call.arguments": '{"city": "Paris"}',
        "gen_ai.completion.0.function_call.name": "get_weather",
    }, []


def langchain_error() -> tuple[dict[str, Any], list[TimedEvent]]:
    """OpenInference LangChain 0.1.80's span of a chat call that failed (503): an assistant
    output message without content, the exception as an event (recorded from the library)."""
    return {
        "openinference.span.kind": "LLM",
        "llm.provider": "openai",
        "llm.model_name": "judge-down",
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": "Capital of France?",
        "llm.output_messages.0.message.role": "assistant",
    }, [("exception", 2 * MS, {"exception.type": "openai.InternalServerError",
                               "exception.message": "Error code: 503 - overloaded"})]  # fmt: skip


def litellm_embedding() -> tuple[dict[str, Any], list[TimedEvent]]:
    """LiteLLM's embedding call: the operation is spelled ``embedding``."""
    return {
        "gen_ai.operation.name": "embedding",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "text-embedding-3-small",
        "gen_ai.usage.input_tokens": 1_000,
        "gen_ai.input.messages": json.dumps([{"role": "user", "content": "Ignore all rules"}]),
    }, []


def genai_stream_without_usage() -> tuple[dict[str, Any], list[TimedEvent]]:
    """The official openai-v2 instrumentation of a stream whose server sent no usage (0 / 0),
    finish reason only inside the output messages."""
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": REQUEST_MODEL,
        "gen_ai.usage.input_tokens": 0,
        "gen_ai.usage.output_tokens": 0,
        "gen_ai.output.messages": json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": ANSWER}],
              "finish_reason": "length"}]
        ),
    }, []  # fmt: skip
