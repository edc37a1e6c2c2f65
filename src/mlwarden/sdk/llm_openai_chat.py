"""``chat.completions.create`` as a GenAI ``chat {model}`` span.

Request parameters and messages, then the response model, finish reasons,
token usage (with cached and reasoning tokens) and output messages, tool calls
included. A stream is recorded as it is read: the text and the tool calls are
assembled from the deltas, and the time to the first chunk is kept.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from mlwarden.sdk.llm import ActiveSpan, _new_span, _state
from mlwarden.sdk.llm_call import Options, field

__all__ = ["ChatCall", "begin_chat", "genai_messages", "record_usage", "server_address"]

_JSON_FORMATS = ("json_object", "json_schema")


def _parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    out = []
    for p in content:
        if field(p, "type") in ("text", "input_text", "output_text"):
            out.append({"type": "text", "content": field(p, "text")})
    return out


def _tool_calls(calls: Any) -> list[dict[str, Any]]:
    out = []
    for c in calls or []:
        fn = field(c, "function")
        out.append(
            {
                "type": "tool_call",
                "id": field(c, "id"),
                "name": field(fn, "name"),
                "arguments": field(fn, "arguments"),
            }
        )
    return out


def genai_messages(messages: Any) -> list[dict[str, Any]]:
    """OpenAI chat messages in the GenAI ``gen_ai.input.messages`` shape.

    Examples
    --------
    >>> genai_messages([{"role": "user", "content": "hi"}])
    [{'role': 'user', 'parts': [{'type': 'text', 'content': 'hi'}]}]
    """
    out = []
    for m in messages or []:
        role = field(m, "role") or "user"
        if role == "tool":
            parts: list[dict[str, Any]] = [
                {
                    "type": "tool_call_response",
                    "id": field(m, "tool_call_id"),
                    "response": field(m, "content"),
                }
            ]
        else:
            parts = _parts(field(m, "content")) + _tool_calls(field(m, "tool_calls"))
        out.append({"role": role, "parts": parts})
    return out


def server_address(client: Any) -> str | None:
    base = str(getattr(client, "base_url", "") or "")
    return urlsplit(base).hostname if base else None


def _request_attributes(client: Any, kwargs: Mapping[str, Any], opts: Options) -> dict[str, Any]:
    fmt = kwargs.get("response_format")
    fmt_type = field(fmt, "type") if fmt is not None else None
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": opts.provider,
        "gen_ai.request.model": kwargs.get("model"),
        "gen_ai.request.temperature": kwargs.get("temperature"),
        "gen_ai.request.top_p": kwargs.get("top_p"),
        "gen_ai.request.max_tokens": kwargs.get("max_completion_tokens")
        or kwargs.get("max_tokens"),
        "gen_ai.request.seed": kwargs.get("seed"),
        "gen_ai.request.stream": bool(kwargs.get("stream")) or None,
        "gen_ai.output.type": "json" if fmt_type in _JSON_FORMATS else None,
        "server.address": server_address(client),
        "user.id": kwargs.get("user") if isinstance(kwargs.get("user"), str) else None,
    }
    return {k: v for k, v in attrs.items() if v is not None}


def record_usage(
    span: ActiveSpan, usage: Any, *, input: str = "prompt", output: str = "completion"
) -> None:
    """Token usage (OpenAI's ``prompt_tokens`` names; ``input=``/``output=`` for others)."""
    if usage is None:
        span.set("mlwarden.usage_missing", True)
        return
    in_details = field(usage, f"{input}_tokens_details")
    out_details = field(usage, f"{output}_tokens_details")
    span.set("gen_ai.usage.input_tokens", field(usage, f"{input}_tokens"))
    span.set("gen_ai.usage.output_tokens", field(usage, f"{output}_tokens"))
    span.set("gen_ai.usage.cache_read.input_tokens", field(in_details, "cached_tokens"))
    span.set("gen_ai.usage.cache_creation.input_tokens", field(in_details, "cache_write_tokens"))
    span.set("gen_ai.usage.reasoning.output_tokens", field(out_details, "reasoning_tokens"))


class _StreamedChoice:
    def __init__(self) -> None:
        self.text: list[str] = []
        self.tools: dict[int, dict[str, Any]] = {}
        self.finish: str | None = None

    def add(self, delta: Any) -> None:
        piece = field(delta, "content")
        if piece:
            self.text.append(str(piece))
        for tc in field(delta, "tool_calls") or []:
            call = self.tools.setdefault(
                int(field(tc, "index") or 0),
                {"type": "tool_call", "id": None, "name": None, "arguments": ""},
            )
            call["id"] = field(tc, "id") or call["id"]
            fn = field(tc, "function")
            call["name"] = field(fn, "name") or call["name"]
            call["arguments"] += field(fn, "arguments") or ""

    def message(self) -> dict[str, Any]:
        parts = [{"type": "text", "content": "".join(self.text)}] if self.text else []
        parts += [self.tools[i] for i in sorted(self.tools)]
        if not parts:
            parts = [{"type": "text", "content": ""}]
        return {"role": "assistant", "parts": parts, "finish_reason": self.finish}


class ChatCall:
    """One chat completion in flight (see :class:`mlwarden.sdk.llm_call.Call`)."""

    def __init__(self, span: ActiveSpan, kwargs: dict[str, Any], keep: bool, hide: bool) -> None:
        self.span, self.kwargs, self.keep, self.hide = span, kwargs, keep, hide
        self.stream = bool(kwargs.get("stream"))
        self.choices: dict[int, _StreamedChoice] = {}
        self.usage: Any = None
        self.first = False

    # -- a whole answer
    def record(self, resp: Any) -> None:
        span = self.span
        span.set("gen_ai.response.model", field(resp, "model"))
        span.set("gen_ai.response.id", field(resp, "id"))
        choices = field(resp, "choices") or []
        finish = [str(field(c, "finish_reason")) for c in choices if field(c, "finish_reason")]
        span.set("gen_ai.response.finish_reasons", finish or None)
        record_usage(span, field(resp, "usage"))
        if self.keep:
            out = []
            for c in choices:
                msg = field(c, "message")
                parts = _parts(field(msg, "content")) + _tool_calls(field(msg, "tool_calls"))
                out.append(
                    {
                        "role": field(msg, "role") or "assistant",
                        "parts": parts,
                        "finish_reason": field(c, "finish_reason"),
                    }
                )
            span.set("gen_ai.output.messages", json.dumps(out))

    # -- a stream
    def recorder(self) -> ChatCall:
        return self

    def chunk(self, c: Any) -> bool:
        """Record a chunk; False for a usage-only chunk the caller did not ask for."""
        choices = field(c, "choices") or []
        if not self.first and choices:
            self.first = True
            ttft = (time.time_ns() - self.span.start_ns) / 1e9
            self.span.set("gen_ai.response.time_to_first_chunk", ttft)
        self.span.set("gen_ai.response.model", field(c, "model"))
        self.span.set("gen_ai.response.id", field(c, "id"))
        for ch in choices:
            choice = self.choices.setdefault(int(field(ch, "index") or 0), _StreamedChoice())
            choice.add(field(ch, "delta"))
            if field(ch, "finish_reason"):
                choice.finish = str(field(ch, "finish_reason"))
        if field(c, "usage") is not None:
            self.usage = field(c, "usage")
            return not (self.hide and not choices)
        return True

    def end(self, exc: BaseException | None = None) -> None:
        try:
            if exc is not None:
                self.span.record_exception(exc)
            finish = [self.choices[i].finish for i in sorted(self.choices)]
            if any(finish):
                self.span.set("gen_ai.response.finish_reasons", [f for f in finish if f])
            record_usage(self.span, self.usage)
            if self.keep:
                out = [self.choices[i].message() for i in sorted(self.choices)]
                self.span.set("gen_ai.output.messages", json.dumps(out))
        finally:
            self.span.end()


def begin_chat(client: Any, kwargs: dict[str, Any], opts: Options) -> ChatCall:
    """Open the span of a ``chat.completions.create`` call."""
    keep = _state.tracer.capture_content if opts.capture is None else opts.capture
    send = dict(kwargs)
    hide = False
    if send.get("stream") and opts.include_usage:
        stream_opts = dict(send.get("stream_options") or {})
        if "include_usage" not in stream_opts:
            stream_opts["include_usage"], hide = True, True
            send["stream_options"] = stream_opts
    attrs = _request_attributes(client, send, opts)
    if keep:
        attrs["gen_ai.input.messages"] = json.dumps(genai_messages(send.get("messages")))
    span = _new_span(f"chat {send.get('model', '')}".strip(), "llm", attrs)
    return ChatCall(span, send, keep, hide)
