"""Trace LLM apps: ``@trace`` for your functions, :func:`wrap_openai` for OpenAI-compatible clients.

Spans follow the OpenTelemetry GenAI conventions (``gen_ai.*`` attributes,
messages as ``gen_ai.input.messages`` / ``gen_ai.output.messages``) and nest
through :mod:`contextvars`, so they nest across ``await`` too. They leave the
process in batches as OTLP/JSON (gzip) from one background thread to
``<server>/v1/traces`` (:class:`OTLPExporter`); a full queue drops spans and
counts them rather than slowing the app.

Streaming calls still record token usage: the wrapper asks for it with
``stream_options={"include_usage": True}`` (and hides the extra usage-only
chunk from your code if you did not ask for it). If the server sends no usage
the span says so (``mlwarden.usage_missing``) and carries no token counts.

Examples
--------
>>> exporter = InMemoryExporter()
>>> _ = configure(exporter=exporter)
>>> @trace
... def answer(question: str) -> str:
...     with start_span("retrieve", kind="retriever"):
...         return "42"
>>> answer("meaning of life?")
'42'
>>> [(s.name, s.parent_span_id is None) for s in exporter.spans]
[('retrieve', False), ('answer', True)]
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import functools
import inspect
import json
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from mlwarden.schema.otlp import SpanData
from mlwarden.schema.scores import validate_scores
from mlwarden.sdk.llm_export import InMemoryExporter, OTLPExporter, SpanExporter
from mlwarden.sdk.llm_guard import FAULTS, guard

__all__ = [
    "ActiveSpan",
    "InMemoryExporter",
    "OTLPExporter",
    "SpanExporter",
    "configure",
    "current_span",
    "score",
    "sdk_errors",
    "start_span",
    "trace",
    "wrap_openai",
]

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C")
MAX_VALUE_CHARS = 16_384
#: Attributes a span takes from its parent (set them on the outer span: ``current_span().set``).
INHERITED = ("user.id", "session.id", "gen_ai.conversation.id")
_OPERATIONS = {"tool": "execute_tool", "agent": "invoke_agent"}


# -- spans -----------------------------------------------------------------------------------
@dataclass
class ActiveSpan:
    """A span being recorded; :meth:`end` hands it to the exporter."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    kind: str = "internal"
    start_ns: int = field(default_factory=time.time_ns)
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    status_code: str = "unset"
    status_message: str = ""
    ended: bool = False

    def set(self, key: str, value: Any) -> None:
        if value is not None:
            self.attributes[key] = value

    def record_exception(self, exc: BaseException) -> None:
        with guard("record_exception"):  # str(exc) is the app's code and may fail
            self._record_exception(exc)

    def _record_exception(self, exc: BaseException) -> None:
        self.status_code, self.status_message = "error", f"{type(exc).__name__}: {exc}"
        self.events.append(
            {
                "name": "exception",
                "time_ns": time.time_ns(),
                "attributes": {"exception.type": type(exc).__name__, "exception.message": str(exc)},
            }
        )

    def end(self) -> None:
        if self.ended:
            return
        self.ended = True
        with guard("span export"):
            self._export()

    def _export(self) -> None:
        _state.tracer.exporter.export(
            SpanData(
                trace_id=self.trace_id,
                span_id=self.span_id,
                name=self.name,
                start_ns=self.start_ns,
                end_ns=time.time_ns(),
                parent_span_id=self.parent_span_id,
                kind=self.kind,
                attributes=dict(self.attributes),
                status_code=self.status_code,
                status_message=self.status_message,
                events=list(self.events),
            )
        )


@dataclass
class _Tracer:
    exporter: SpanExporter
    capture_content: bool = True


class _State:
    def __init__(self) -> None:
        self._tracer: _Tracer | None = None

    @property
    def tracer(self) -> _Tracer:
        if self._tracer is None:
            self._tracer = _Tracer(OTLPExporter())
            atexit.register(self._tracer.exporter.shutdown)
        return self._tracer


_state = _State()
_current: contextvars.ContextVar[ActiveSpan | None] = contextvars.ContextVar(
    "mlwarden_span", default=None
)


def configure(
    *,
    url: str | None = None,
    api_key: str | None = None,
    service_name: str | None = None,
    exporter: SpanExporter | None = None,
    capture_content: bool = True,
) -> SpanExporter:
    """Where spans go (``exporter``, or an :class:`OTLPExporter` to ``url``) and whether
    prompts, responses and function arguments are recorded. Returns the exporter."""
    old = _state._tracer
    if exporter is None:
        exporter = OTLPExporter(url, api_key=api_key, service_name=service_name)
        atexit.register(exporter.shutdown)
    _state._tracer = _Tracer(exporter, capture_content)
    if old is not None and old.exporter is not exporter:
        old.exporter.flush(1.0)
    return exporter


def current_span() -> ActiveSpan | None:
    """The span recording in this context, if any."""
    return _current.get()


def sdk_errors() -> int:
    """How many times tracing failed on the SDK's side in this process (each failure is
    logged once per place, on the ``mlwarden.sdk.llm`` logger, and never reaches the app).

    Examples
    --------
    >>> sdk_errors() >= 0
    True
    """
    return FAULTS.count_


def score(
    *,
    name: str,
    value: bool | float | str,
    trace_id: str | None = None,
    span_id: str | None = None,
    session_id: str | None = None,
    comment: str | None = None,
    source: str = "api",
    data_type: str | None = None,
    id: str | None = None,
) -> str | None:
    """Score a trace (``POST /v1/llm/scores``): user feedback (``value=True`` / ``False``), a
    rating, a label. ``trace_id`` defaults to the trace being recorded in this context. The
    score leaves with the spans (the configured exporter's queue and thread); it gets an
    ``id`` here, so a retried send replaces rather than duplicates. Returns the id, or None
    when the score was not sent: an invalid score is logged (``mlwarden.sdk.llm`` logger) and
    counted in :func:`sdk_errors`, never raised into the app.

    Examples
    --------
    >>> exporter = configure(exporter=InMemoryExporter())
    >>> score(trace_id="ab" * 16, name="user_feedback", value=False, id="s1")
    's1'
    >>> score(trace_id="ab" * 16, name="stars", value=float("nan")) is None
    True
    >>> [(s["name"], s["value"]) for s in exporter.scores]
    [('user_feedback', False)]
    """
    with guard("score"):
        span = _current.get()
        item: dict[str, Any] = {
            "id": id or secrets.token_hex(16),
            "trace_id": trace_id or (span.trace_id if span is not None else None),
            "name": name,
            "value": value,
            "source": source,
        }
        extra = {"span_id": span_id, "session_id": session_id, "comment": comment,
                 "data_type": data_type}  # fmt: skip
        item |= {k: v for k, v in extra.items() if v is not None}
        bad = validate_scores([item]).rejected
        if bad:
            raise ValueError(bad[0].reason)
        _state.tracer.exporter.export_score(item)
        return str(item["id"])
    return None


def _detached(name: str) -> ActiveSpan:
    """A span that records nothing, for when opening a real one failed."""
    return ActiveSpan(
        name=name, trace_id="0" * 32, span_id="0" * 16, parent_span_id=None, ended=True
    )


def _new_span(name: str, kind: str, attributes: Mapping[str, Any] | None) -> ActiveSpan:
    parent = _current.get()
    span = ActiveSpan(
        name=name,
        trace_id=parent.trace_id if parent else secrets.token_hex(16),
        span_id=secrets.token_hex(8),
        parent_span_id=parent.span_id if parent else None,
        kind="client" if kind == "llm" else "internal",
    )
    if parent is not None:  # who and which conversation: inherited down the trace
        for key in INHERITED:
            span.set(key, parent.attributes.get(key))
    span.attributes.update({k: v for k, v in (attributes or {}).items() if v is not None})
    return span


def _mark_kind(span: ActiveSpan, kind: str) -> None:
    span.set("openinference.span.kind", kind.upper())
    span.set("gen_ai.operation.name", _OPERATIONS.get(kind))


@contextlib.contextmanager
def start_span(
    name: str, *, kind: str = "chain", attributes: Mapping[str, Any] | None = None
) -> Iterator[ActiveSpan]:
    """Record a span around a block, as a child of the current span.

    ``kind``: what the step is (``chain``, ``tool``, ``agent``, ``retriever``, ``llm``, ...),
    recorded as ``openinference.span.kind`` (the GenAI conventions name only LLM, tool and
    agent operations; tools and agents also get ``gen_ai.operation.name``).
    """
    span = _detached(name)
    with guard("start_span"):
        span = _new_span(name, kind, attributes)
        _mark_kind(span, kind)
    token = _current.set(span)
    try:
        yield span
    except BaseException as exc:
        span.record_exception(exc)
        raise
    finally:
        _current.reset(token)
        span.end()


def _dump(value: Any) -> str:
    try:
        s = json.dumps(value, default=repr)
    except (TypeError, ValueError):
        s = repr(value)
    return s if len(s) <= MAX_VALUE_CHARS else s[:MAX_VALUE_CHARS] + "..."


def _inputs(fn: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
    try:
        bound = inspect.signature(fn).bind_partial(*args, **kwargs)
        data = {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}
    except (TypeError, ValueError):
        data = {"args": list(args), "kwargs": dict(kwargs)}
    return _dump(data)


@overload
def trace(fn: F, /) -> F: ...
@overload
def trace(
    *, name: str | None = None, kind: str = "chain", capture: bool | None = None
) -> Callable[[F], F]: ...
def trace(
    fn: F | None = None,
    /,
    *,
    name: str | None = None,
    kind: str = "chain",
    capture: bool | None = None,
) -> F | Callable[[F], F]:
    """Record a span for each call of a function (sync or async), nested under the caller's.

    ``capture`` (default: as configured) records the arguments and the return value as
    ``input.value`` / ``output.value`` (JSON, cut at 16 KiB). Exceptions mark the span as an
    error and propagate.
    """

    def decorate(f: F) -> F:
        span_name = name or f.__qualname__

        def _open(
            args: Any, kwargs: Any
        ) -> tuple[ActiveSpan, contextvars.Token[ActiveSpan | None], bool]:
            span, keep = _detached(span_name), False
            with guard("@trace"):
                keep = _state.tracer.capture_content if capture is None else capture
                span = _new_span(span_name, kind, None)
                _mark_kind(span, kind)
                if keep:
                    span.set("input.value", _inputs(f, args, kwargs))
            return span, _current.set(span), keep

        def _output(span: ActiveSpan, out: Any) -> None:
            with guard("@trace"):
                span.set("output.value", _dump(out))

        if inspect.iscoroutinefunction(f):

            @functools.wraps(f)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                span, token, keep = _open(args, kwargs)
                try:
                    out = await f(*args, **kwargs)
                    if keep:
                        _output(span, out)
                    return out
                except BaseException as exc:
                    span.record_exception(exc)
                    raise
                finally:
                    _current.reset(token)
                    span.end()

            return run_async  # type: ignore[return-value]

        @functools.wraps(f)
        def run(*args: Any, **kwargs: Any) -> Any:
            span, token, keep = _open(args, kwargs)
            try:
                out = f(*args, **kwargs)
                if keep:
                    _output(span, out)
                return out
            except BaseException as exc:
                span.record_exception(exc)
                raise
            finally:
                _current.reset(token)
                span.end()

        return run  # type: ignore[return-value]

    return decorate(fn) if fn is not None else decorate


def wrap_openai(
    client: C,
    *,
    provider: str = "openai",
    include_usage: bool = True,
    capture_content: bool | None = None,
) -> C:
    """Record a GenAI span for every ``chat.completions.create``, ``embeddings.create`` and
    ``responses.create`` call of an OpenAI-compatible client (``openai.OpenAI``,
    ``openai.AsyncOpenAI``, or any client with that shape), streaming or not, and of the clients
    its ``with_options(...)`` returns; returns the same client. Tracing never breaks a call: a
    failure of the SDK's own is logged once and counted (:func:`sdk_errors`).

    ``provider``: ``gen_ai.provider.name`` (e.g. ``"azure.ai.openai"``, ``"ollama"``).
    ``include_usage``: on streams, ask for token usage (``stream_options``); turn off for a
    server that rejects the option. ``capture_content``: record messages (default: as
    configured).
    """
    with guard("wrap_openai"):  # a client of an unexpected shape is left as it is
        from mlwarden.sdk.llm_call import Options
        from mlwarden.sdk.llm_openai import instrument

        opts = Options(provider=provider, include_usage=include_usage, capture=capture_content)
        instrument(client, opts)
    return client
