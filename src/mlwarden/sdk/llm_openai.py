"""The OpenAI-compatible client wrapper behind :func:`mlwarden.sdk.llm.wrap_openai`.

It replaces ``client.chat.completions.create`` on that one client object with a
function that records a GenAI ``chat {model}`` span around the call: request
parameters and messages, then the response model, finish reasons, token usage
(with cached and reasoning tokens) and output messages. Streams are wrapped so
the span ends when the stream is exhausted or closed, with the text assembled
from the deltas and the time to the first chunk.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from mlwarden.sdk.llm import ActiveSpan, _new_span, _state

__all__ = ["instrument"]

_MARK = "__mlwarden_wrapped__"
_JSON_FORMATS = ("json_object", "json_schema")


def _g(obj: Any, key: str) -> Any:
    """A field of an SDK object or of a dict."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    out = []
    for p in content:
        if _g(p, "type") == "text":
            out.append({"type": "text", "content": _g(p, "text")})
    return out


def _tool_calls(calls: Any) -> list[dict[str, Any]]:
    out = []
    for c in calls or []:
        fn = _g(c, "function")
        out.append(
            {
                "type": "tool_call",
                "id": _g(c, "id"),
                "name": _g(fn, "name"),
                "arguments": _g(fn, "arguments"),
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
        role = _g(m, "role") or "user"
        if role == "tool":
            parts: list[dict[str, Any]] = [
                {
                    "type": "tool_call_response",
                    "id": _g(m, "tool_call_id"),
                    "response": _g(m, "content"),
                }
            ]
        else:
            parts = _parts(_g(m, "content")) + _tool_calls(_g(m, "tool_calls"))
        out.append({"role": role, "parts": parts})
    return out


def _request_attributes(
    client: Any, kwargs: Mapping[str, Any], provider: str, capture: bool
) -> dict[str, Any]:
    fmt = kwargs.get("response_format")
    fmt_type = _g(fmt, "type") if fmt is not None else None
    base = str(getattr(client, "base_url", "") or "")
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": kwargs.get("model"),
        "gen_ai.request.temperature": kwargs.get("temperature"),
        "gen_ai.request.top_p": kwargs.get("top_p"),
        "gen_ai.request.max_tokens": kwargs.get("max_completion_tokens")
        or kwargs.get("max_tokens"),
        "gen_ai.request.seed": kwargs.get("seed"),
        "gen_ai.request.stream": bool(kwargs.get("stream")) or None,
        "gen_ai.output.type": "json" if fmt_type in _JSON_FORMATS else None,
        "server.address": urlsplit(base).hostname if base else None,
        "user.id": kwargs.get("user") if isinstance(kwargs.get("user"), str) else None,
    }
    if capture:
        attrs["gen_ai.input.messages"] = json.dumps(genai_messages(kwargs.get("messages")))
    return {k: v for k, v in attrs.items() if v is not None}


def _record_usage(span: ActiveSpan, usage: Any) -> None:
    if usage is None:
        span.set("mlwarden.usage_missing", True)
        return
    span.set("gen_ai.usage.input_tokens", _g(usage, "prompt_tokens"))
    span.set("gen_ai.usage.output_tokens", _g(usage, "completion_tokens"))
    span.set(
        "gen_ai.usage.cache_read.input_tokens",
        _g(_g(usage, "prompt_tokens_details"), "cached_tokens"),
    )
    span.set(
        "gen_ai.usage.cache_creation.input_tokens",
        _g(_g(usage, "prompt_tokens_details"), "cache_write_tokens"),
    )
    span.set(
        "gen_ai.usage.reasoning.output_tokens",
        _g(_g(usage, "completion_tokens_details"), "reasoning_tokens"),
    )


def _record_response(span: ActiveSpan, resp: Any, capture: bool) -> None:
    span.set("gen_ai.response.model", _g(resp, "model"))
    span.set("gen_ai.response.id", _g(resp, "id"))
    choices = _g(resp, "choices") or []
    finish = [str(_g(c, "finish_reason")) for c in choices if _g(c, "finish_reason")]
    span.set("gen_ai.response.finish_reasons", finish or None)
    _record_usage(span, _g(resp, "usage"))
    if capture:
        out = []
        for c in choices:
            msg = _g(c, "message")
            parts = _parts(_g(msg, "content")) + _tool_calls(_g(msg, "tool_calls"))
            out.append(
                {
                    "role": _g(msg, "role") or "assistant",
                    "parts": parts,
                    "finish_reason": _g(c, "finish_reason"),
                }
            )
        span.set("gen_ai.output.messages", json.dumps(out))


class _Recorder:
    """Collects a stream's chunks into the span; ends the span once."""

    def __init__(self, span: ActiveSpan, capture: bool, hide_usage_chunk: bool) -> None:
        self.span = span
        self.capture = capture
        self.hide_usage_chunk = hide_usage_chunk
        self.text: dict[int, list[str]] = {}
        self.finish: dict[int, str] = {}
        self.usage: Any = None
        self.first = False
        self.done = False

    def chunk(self, c: Any) -> bool:
        """Record a chunk; False for a usage-only chunk the caller did not ask for."""
        choices = _g(c, "choices") or []
        if not self.first and choices:
            self.first = True
            ttft = (time.time_ns() - self.span.start_ns) / 1e9
            self.span.set("gen_ai.response.time_to_first_chunk", ttft)
        self.span.set("gen_ai.response.model", _g(c, "model"))
        self.span.set("gen_ai.response.id", _g(c, "id"))
        for ch in choices:
            i = int(_g(ch, "index") or 0)
            piece = _g(_g(ch, "delta"), "content")
            if piece:
                self.text.setdefault(i, []).append(piece)
            if _g(ch, "finish_reason"):
                self.finish[i] = str(_g(ch, "finish_reason"))
        if _g(c, "usage") is not None:
            self.usage = _g(c, "usage")
            return not (self.hide_usage_chunk and not choices)
        return True

    def end(self, exc: BaseException | None = None) -> None:
        if self.done:
            return
        self.done = True
        if exc is not None:
            self.span.record_exception(exc)
        if self.finish:
            self.span.set(
                "gen_ai.response.finish_reasons", [self.finish[i] for i in sorted(self.finish)]
            )
        _record_usage(self.span, self.usage)
        if self.capture:
            out = [
                {
                    "role": "assistant",
                    "parts": [{"type": "text", "content": "".join(self.text.get(i, []))}],
                    "finish_reason": self.finish.get(i),
                }
                for i in sorted(set(self.text) | set(self.finish))
            ]
            self.span.set("gen_ai.output.messages", json.dumps(out))
        self.span.end()


class _Stream:
    """A sync stream that records as it is read (iterate it, or use it as a context manager)."""

    def __init__(self, stream: Any, rec: _Recorder) -> None:
        self._it = iter(stream)
        self._stream, self._rec = stream, rec

    def __iter__(self) -> _Stream:
        return self

    def __next__(self) -> Any:
        while True:
            try:
                c = next(self._it)
            except StopIteration:
                self._rec.end()
                raise
            except Exception as exc:
                self._rec.end(exc)
                raise
            if self._rec.chunk(c):
                return c

    def __enter__(self) -> _Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._rec.end()
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()

    def __del__(self) -> None:
        rec = self.__dict__.get("_rec")
        if rec is not None:
            rec.end()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._stream, name)


class _AsyncStream:
    """An async stream that records as it is read."""

    def __init__(self, stream: Any, rec: _Recorder) -> None:
        self._it = stream.__aiter__()
        self._stream, self._rec = stream, rec

    def __aiter__(self) -> _AsyncStream:
        return self

    async def __anext__(self) -> Any:
        while True:
            try:
                c = await self._it.__anext__()
            except StopAsyncIteration:
                self._rec.end()
                raise
            except Exception as exc:
                self._rec.end(exc)
                raise
            if self._rec.chunk(c):
                return c

    async def __aenter__(self) -> _AsyncStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._rec.end()
        close = getattr(self._stream, "close", None)
        if close is not None:
            out = close()
            if inspect.isawaitable(out):
                await out

    def __del__(self) -> None:
        rec = self.__dict__.get("_rec")
        if rec is not None:
            rec.end()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._stream, name)


def _prepare(
    client: Any, kwargs: dict[str, Any], provider: str, include_usage: bool, capture: bool | None
) -> tuple[ActiveSpan, bool, bool]:
    keep = _state.tracer.capture_content if capture is None else capture
    stream = bool(kwargs.get("stream"))
    hide = False
    if stream and include_usage:
        opts = dict(kwargs.get("stream_options") or {})
        if "include_usage" not in opts:
            opts["include_usage"], hide = True, True
            kwargs["stream_options"] = opts
    attrs = _request_attributes(client, kwargs, provider, keep)
    span = _new_span(f"chat {kwargs.get('model', '')}".strip(), "llm", attrs)
    return span, keep, hide


def _finish(resp: Any, span: ActiveSpan, keep: bool, hide: bool, stream: bool) -> Any:
    if stream:
        rec = _Recorder(span, keep, hide)
        return _AsyncStream(resp, rec) if hasattr(resp, "__aiter__") else _Stream(resp, rec)
    _record_response(span, resp, keep)
    span.end()
    return resp


async def _finish_async(
    pending: Any, span: ActiveSpan, keep: bool, hide: bool, stream: bool
) -> Any:
    try:
        resp = await pending
    except BaseException as exc:
        span.record_exception(exc)
        span.end()
        raise
    return _finish(resp, span, keep, hide, stream)


def instrument(client: Any, *, provider: str, include_usage: bool, capture: bool | None) -> None:
    """Wrap ``client.chat.completions.create`` in place (a second call is a no-op). Works for
    sync and async clients alike: an awaitable result is recorded when it is awaited."""
    completions = client.chat.completions
    original: Callable[..., Any] = completions.create
    if getattr(original, _MARK, False):
        return

    def create(*args: Any, **kwargs: Any) -> Any:
        span, keep, hide = _prepare(client, kwargs, provider, include_usage, capture)
        stream = bool(kwargs.get("stream"))
        try:
            resp = original(*args, **kwargs)
        except BaseException as exc:
            span.record_exception(exc)
            span.end()
            raise
        if inspect.isawaitable(resp):
            return _finish_async(resp, span, keep, hide, stream)
        return _finish(resp, span, keep, hide, stream)

    setattr(create, _MARK, True)
    completions.create = create
