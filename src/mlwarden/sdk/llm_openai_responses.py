"""``responses.create`` (OpenAI's Responses API) as a GenAI ``chat {model}`` span.

``instructions`` and ``input`` (a string, or message and tool-output items) become
the input messages; the output items (messages and function calls), the status,
and token usage are read from the response, or, for a stream, from the final
``response.completed`` / ``response.incomplete`` / ``response.failed`` event
(the text deltas are assembled in case the stream stops before it).
"""

from __future__ import annotations

import json
import time
from typing import Any

from mlwarden.sdk.llm import ActiveSpan, _new_span, _state
from mlwarden.sdk.llm_call import Options, field
from mlwarden.sdk.llm_openai_chat import record_usage, server_address

__all__ = ["ResponsesCall", "begin_responses", "input_messages"]

_FINAL_EVENTS = ("response.completed", "response.incomplete", "response.failed")


def _text(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    out = []
    for p in content or []:
        if field(p, "type") in ("input_text", "output_text", "text"):
            out.append({"type": "text", "content": field(p, "text")})
        elif field(p, "type") == "refusal":
            out.append({"type": "text", "content": field(p, "refusal")})
    return out


def input_messages(instructions: Any, items: Any) -> list[dict[str, Any]]:
    """``instructions`` and ``input`` in the GenAI ``gen_ai.input.messages`` shape.

    Examples
    --------
    >>> input_messages("Be brief.", "hi")  # doctest: +NORMALIZE_WHITESPACE
    [{'role': 'system', 'parts': [{'type': 'text', 'content': 'Be brief.'}]},
     {'role': 'user', 'parts': [{'type': 'text', 'content': 'hi'}]}]
    """
    out: list[dict[str, Any]] = []
    if isinstance(instructions, str) and instructions:
        out.append({"role": "system", "parts": _text(instructions)})
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    for item in items or []:
        kind = field(item, "type")
        if kind == "function_call_output":
            part = {
                "type": "tool_call_response",
                "id": field(item, "call_id"),
                "response": field(item, "output"),
            }
            out.append({"role": "tool", "parts": [part]})
        elif kind == "function_call":
            out.append({"role": "assistant", "parts": [_function_call(item)]})
        elif kind in (None, "message"):
            role = field(item, "role") or "user"
            out.append(
                {
                    "role": "system" if role == "developer" else role,
                    "parts": _text(field(item, "content")),
                }
            )
    return out


def _function_call(item: Any) -> dict[str, Any]:
    return {
        "type": "tool_call",
        "id": field(item, "call_id"),
        "name": field(item, "name"),
        "arguments": field(item, "arguments"),
    }


class ResponsesCall:
    """One Responses API call in flight (see :class:`mlwarden.sdk.llm_call.Call`)."""

    def __init__(self, span: ActiveSpan, kwargs: dict[str, Any], keep: bool) -> None:
        self.span, self.kwargs, self.keep = span, kwargs, keep
        self.stream = bool(kwargs.get("stream"))
        self.final: Any = None
        self.text: list[str] = []
        self.first = False

    def record(self, resp: Any) -> None:
        span = self.span
        span.set("gen_ai.response.model", field(resp, "model"))
        span.set("gen_ai.response.id", field(resp, "id"))
        status = field(resp, "status")
        reason = field(field(resp, "incomplete_details"), "reason")
        finish = "stop" if status == "completed" else reason or status
        span.set("gen_ai.response.finish_reasons", [str(finish)] if finish else None)
        record_usage(span, field(resp, "usage"), input="input", output="output")
        if self.keep:
            parts: list[dict[str, Any]] = []
            for item in field(resp, "output") or []:
                if field(item, "type") == "message":
                    parts += _text(field(item, "content"))
                elif field(item, "type") == "function_call":
                    parts.append(_function_call(item))
            message = {"role": "assistant", "parts": parts, "finish_reason": finish}
            span.set("gen_ai.output.messages", json.dumps([message]))

    def recorder(self) -> ResponsesCall:
        return self

    def chunk(self, event: Any) -> bool:
        kind = field(event, "type")
        if kind == "response.output_text.delta":
            if not self.first:
                self.first = True
                ttft = (time.time_ns() - self.span.start_ns) / 1e9
                self.span.set("gen_ai.response.time_to_first_chunk", ttft)
            self.text.append(str(field(event, "delta") or ""))
        elif kind in _FINAL_EVENTS:
            self.final = field(event, "response")
        return True

    def end(self, exc: BaseException | None = None) -> None:
        try:
            if exc is not None:
                self.span.record_exception(exc)
            if self.final is not None:
                self.record(self.final)
            else:
                self.span.set("mlwarden.usage_missing", True)
                if self.keep:
                    message = {"role": "assistant", "parts": _text("".join(self.text))}
                    self.span.set("gen_ai.output.messages", json.dumps([message]))
        finally:
            self.span.end()


def begin_responses(client: Any, kwargs: dict[str, Any], opts: Options) -> ResponsesCall:
    """Open the span of a ``responses.create`` call."""
    keep = _state.tracer.capture_content if opts.capture is None else opts.capture
    text = field(kwargs.get("text"), "format")
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": opts.provider,
        "gen_ai.request.model": kwargs.get("model"),
        "gen_ai.request.temperature": kwargs.get("temperature"),
        "gen_ai.request.top_p": kwargs.get("top_p"),
        "gen_ai.request.max_tokens": kwargs.get("max_output_tokens"),
        "gen_ai.request.stream": bool(kwargs.get("stream")) or None,
        "gen_ai.output.type": "json"
        if field(text, "type") in ("json_object", "json_schema")
        else None,
        "server.address": server_address(client),
        "user.id": kwargs.get("user") if isinstance(kwargs.get("user"), str) else None,
    }
    attrs = {k: v for k, v in attrs.items() if v is not None}
    if keep:
        messages = input_messages(kwargs.get("instructions"), kwargs.get("input"))
        attrs["gen_ai.input.messages"] = json.dumps(messages)
    span = _new_span(f"chat {kwargs.get('model', '')}".strip(), "llm", attrs)
    return ResponsesCall(span, dict(kwargs), keep)
