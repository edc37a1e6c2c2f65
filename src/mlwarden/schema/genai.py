"""Normalise LLM spans of every attribute dialect into one row layout (:data:`SPAN_SCHEMA`).

Dialects read (first match wins, newest first):

================  ==============================================================
field             attributes
================  ==============================================================
provider          ``gen_ai.provider.name``, ``gen_ai.system``, ``llm.provider``,
                  ``llm.system``
operation         ``gen_ai.operation.name``, OpenLLMetry ``llm.request.type``
request model     ``gen_ai.request.model``, ``llm.request.model``, the ``model``
                  of OpenInference ``llm.invocation_parameters``, ``llm.model_name``,
                  ``embedding.model_name``
response model    ``gen_ai.response.model``, ``llm.response.model``, ``llm.model_name``
input tokens      ``gen_ai.usage.input_tokens``, ``gen_ai.usage.prompt_tokens``,
                  ``llm.token_count.prompt``, ``llm.usage.prompt_tokens``
output tokens     ``gen_ai.usage.output_tokens``, ``gen_ai.usage.completion_tokens``,
                  ``llm.token_count.completion``, ``llm.usage.completion_tokens``
cache read        ``gen_ai.usage.cache_read.input_tokens``,
                  ``gen_ai.usage.cache_read_input_tokens``,
                  ``llm.token_count.prompt_details.cache_read``
cache write       ``gen_ai.usage.cache_creation.input_tokens``,
                  ``gen_ai.usage.cache_creation_input_tokens``,
                  ``llm.token_count.prompt_details.cache_write``
reasoning         ``gen_ai.usage.reasoning.output_tokens``, ``gen_ai.usage.reasoning_tokens``,
                  ``llm.token_count.completion_details.reasoning``
prompt            ``gen_ai.system_instructions`` + ``gen_ai.input.messages`` (JSON or
                  structured); ``gen_ai.prompt.{i}.role/content``; span events
                  ``gen_ai.content.prompt`` / ``gen_ai.{role}.message``;
                  ``llm.input_messages.{i}.message.*``; ``input.value``
response          ``gen_ai.output.messages``; ``gen_ai.completion.{i}.*``; events
                  ``gen_ai.content.completion`` / ``gen_ai.choice``;
                  ``llm.output_messages.{i}.message.*``; ``output.value``
user / session    ``user.id``, ``enduser.id``, ``gen_ai.user.id``, ``gen_ai.user``,
                  ``llm.user``; ``session.id``, ``gen_ai.conversation.id`` (and Traceloop
                  association properties)
time to first     ``gen_ai.response.time_to_first_chunk`` (s),
token             ``gen_ai.server.time_to_first_token`` (s), a ``first_token`` event,
                  OpenInference's ``First Token Stream Event``, the first OpenLLMetry
                  ``gen_ai.content.completion.chunk`` event
finish reason     ``gen_ai.response.finish_reasons`` (a list or a JSON array string),
                  ``gen_ai.completion.0.finish_reason``, ``llm.finish_reason``,
                  ``gen_ai.output.messages[].finish_reason``
cost              ``gen_ai.cost.total_cost``, ``gen_ai.usage.cost``, ``llm.cost.total``
================  ==============================================================

The prompt is stored as ``role: text`` lines, the response as its text. Message
contents move into those columns; the remaining attributes are kept as JSON.
User, session and model found on one span of a trace are copied onto the
other spans of that trace in the same batch (where they have none).

Examples
--------
>>> from mlwarden.schema.otlp import RawSpan
>>> raw = RawSpan(0, "ab" * 16, "cd" * 8, None, "chat", "client", 10**18, 10**18 + 2 * 10**9,
...               "unset", "", {"gen_ai.system": "OpenAI", "gen_ai.request.model": "gpt-4o",
...                             "gen_ai.usage.prompt_tokens": 12, "gen_ai.prompt.0.role": "user",
...                             "gen_ai.prompt.0.content": "hi"})
>>> rows, rejected = normalise([raw])
>>> r = rows[0]
>>> r["provider"], r["model"], r["input_tokens"], r["prompt"], r["duration_ms"], r["span_type"]
('openai', 'gpt-4o', 12, 'user: hi', 2000.0, 'llm')
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

import orjson
import pyarrow as pa

from mlwarden.errors import expected
from mlwarden.schema.batch import Rejection
from mlwarden.schema.genai_messages import (
    finish_reasons,
    maybe_json,
    prompt_and_response,
    render_prompt,
    render_response,
)
from mlwarden.schema.limits import LATEST_TIME
from mlwarden.schema.otlp import RawSpan

__all__ = ["SPAN_SCHEMA", "normalise", "spans_table"]

#: One row per span, every dialect alike (stored as the ``spans`` table).
SPAN_SCHEMA = pa.schema(
    [
        ("project", pa.string()),
        ("trace_id", pa.string()),
        ("span_id", pa.string()),
        ("parent_span_id", pa.string()),
        ("name", pa.string()),
        ("kind", pa.string()),
        ("span_type", pa.string()),
        ("start_time", pa.timestamp("us")),
        ("end_time", pa.timestamp("us")),
        ("duration_ms", pa.float64()),
        ("status_code", pa.string()),
        ("status_message", pa.string()),
        ("service_name", pa.string()),
        ("scope_name", pa.string()),
        ("provider", pa.string()),
        ("operation", pa.string()),
        ("request_model", pa.string()),
        ("response_model", pa.string()),
        ("model", pa.string()),
        ("input_tokens", pa.int64()),
        ("output_tokens", pa.int64()),
        ("total_tokens", pa.int64()),
        ("cache_read_tokens", pa.int64()),
        ("cache_write_tokens", pa.int64()),
        ("reasoning_tokens", pa.int64()),
        ("cost", pa.float64()),
        ("price_version", pa.string()),
        ("cost_source", pa.string()),
        ("prompt", pa.string()),
        ("response", pa.string()),
        ("content_source", pa.string()),
        ("finish_reason", pa.string()),
        ("user_id", pa.string()),
        ("session_id", pa.string()),
        ("ttft_ms", pa.float64()),
        ("pii_in_prompt", pa.bool_()),
        ("pii_in_response", pa.bool_()),
        ("injection", pa.bool_()),
        ("injection_score", pa.float64()),
        ("refusal", pa.bool_()),
        ("json_valid", pa.bool_()),
        ("findings", pa.string()),
        ("attributes", pa.string()),
        ("resource", pa.string()),
        ("events", pa.string()),
    ]
)

_INPUT = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
    "llm.usage.prompt_tokens",
)
_OUTPUT = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
    "llm.usage.completion_tokens",
)
_TOTAL = ("gen_ai.usage.total_tokens", "llm.usage.total_tokens", "llm.token_count.total")
_CACHE_READ = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "llm.token_count.prompt_details.cache_read",
    "llm.usage.cache_read_input_tokens",
)
_CACHE_WRITE = (
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "llm.token_count.prompt_details.cache_write",
    "llm.usage.cache_creation_input_tokens",
)
_REASONING = (
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.reasoning_tokens",
    "llm.token_count.completion_details.reasoning",
    "llm.usage.reasoning_tokens",
)
_USER = (
    "user.id",
    "enduser.id",
    "gen_ai.user.id",
    "traceloop.association.properties.user_id",
    "langfuse.user.id",
    "gen_ai.user",
    "llm.user",
)
_SESSION = (
    "session.id",
    "gen_ai.conversation.id",
    "traceloop.association.properties.session_id",
    "langfuse.session.id",
)
_COST = ("gen_ai.cost.total_cost", "gen_ai.usage.cost", "llm.cost.total", "llm.usage.cost")
_FINISH = (
    "gen_ai.response.finish_reasons",
    "gen_ai.completion.0.finish_reason",
    "llm.finish_reason",
)
#: ``gen_ai.operation.name`` spellings of the same operation (LiteLLM says ``embedding``).
_OP_ALIASES = {"embedding": "embeddings"}
_OPERATIONS = {
    "chat": "chat",
    "completion": "text_completion",
    "embedding": "embeddings",
    "rerank": "rerank",
}
_LLM_OPS = {"chat", "text_completion", "generate_content", "completion"}
_TYPE_OF_OP = {
    "embeddings": "embedding",
    "execute_tool": "tool",
    "invoke_agent": "agent",
    "create_agent": "agent",
    "rerank": "reranker",
}
_TRACELOOP_KINDS = {"workflow": "chain", "task": "chain", "agent": "agent", "tool": "tool"}
_CONTENT_KEYS = re.compile(
    r"^(?:gen_ai\.(?:input|output)\.messages|gen_ai\.system_instructions|gen_ai\.prompt|"
    r"gen_ai\.completion|gen_ai\.(?:prompt|completion)\.\d+\..*|"
    r"llm\.(?:input|output)_messages\.\d+\..*|(?:input|output)\.value|(?:input|output)\.mime_type|"
    r"embedding\.embeddings\.\d+\.embedding\.(?:text|vector))$"
)
#: Content keys a chain, tool or prompt span keeps in its attributes (its input and result are
#: not messages of an LLM call).
_VALUE_KEYS = ("input.value", "output.value", "input.mime_type", "output.mime_type")
_FIRST_TOKEN_EVENTS = {
    "first_token",
    "gen_ai.first_token",
    "llm.first_token",
    "first token received",
    "gen_ai.content.first_chunk",
    "first token stream event",  # OpenInference
}
#: One event per streamed chunk (OpenLLMetry): the first one's time is the first token's.
_CHUNK_EVENTS = {"gen_ai.content.completion.chunk", "llm.content.completion.chunk"}


#: The fields read from one of several attributes, each attribute list first-found-wins.
_FIELDS: dict[str, tuple[str, ...]] = {
    "input": _INPUT,
    "output": _OUTPUT,
    "total": _TOTAL,
    "cache_read": _CACHE_READ,
    "cache_write": _CACHE_WRITE,
    "reasoning": _REASONING,
    "user": _USER,
    "session": _SESSION,
    "cost": _COST,
    "finish": _FINISH,
    "provider": ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"),
    "request_model": ("gen_ai.request.model", "llm.request.model"),
    "response_model": ("gen_ai.response.model", "llm.response.model", "llm.model_name"),
    "model_name": ("llm.model_name", "embedding.model_name"),
}


def _slots(fields: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[tuple[str, int], ...]]:
    """Attribute key -> the (field, rank) pairs it can fill."""
    out: dict[str, tuple[tuple[str, int], ...]] = {}
    for name, keys in fields.items():
        for rank, key in enumerate(keys):
            out[key] = (*out.get(key, ()), (name, rank))
    return out


_SLOTS = _slots(_FIELDS)


def _known(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The value of each field of :data:`_FIELDS` that ``attrs`` holds (None and "" are not
    values): one pass over the span's own attributes, instead of a lookup of every candidate
    key of every field (~100 a span).

    Examples
    --------
    >>> _known({"llm.model_name": "m", "gen_ai.response.model": "", "user.id": "u"})
    {'response_model': 'm', 'model_name': 'm', 'user': 'u'}
    """
    found: dict[str, tuple[int, Any]] = {}
    get = _SLOTS.get
    for k, v in attrs.items():
        slots = get(k)
        if slots is None or v is None or v == "":
            continue
        for name, rank in slots:
            old = found.get(name)
            if old is None or rank < old[0]:
                found[name] = (rank, v)
    return {name: v for name, (_, v) in found.items()}


def _int(v: Any) -> int | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        n = int(float(v))
    except (TypeError, ValueError):
        return None
    return n if n >= 0 else None


def _str(v: Any) -> str | None:
    if v is None or v == "":
        return None
    if isinstance(v, list):
        return ",".join(str(x) for x in v) or None
    return str(v)


# -- one span --------------------------------------------------------------------------------
def _expects_json(attrs: Mapping[str, Any]) -> bool:
    if str(attrs.get("gen_ai.output.type", "")).lower() == "json":
        return True
    fmt = maybe_json(attrs.get("gen_ai.openai.request.response_format"))
    if isinstance(fmt, Mapping):
        fmt = fmt.get("type")
    if str(fmt or "").lower() in ("json_object", "json_schema", "json"):
        return True
    if attrs.get("gen_ai.request.structured_output_schema"):
        return True
    params = maybe_json(attrs.get("llm.invocation_parameters"))
    if isinstance(params, Mapping):
        rf = params.get("response_format")
        kind = rf.get("type") if isinstance(rf, Mapping) else rf
        return str(kind or "").lower() in ("json_object", "json_schema")
    return False


def _ttft(span: RawSpan) -> float | None:
    a = span.attributes
    for key in ("gen_ai.response.time_to_first_chunk", "gen_ai.server.time_to_first_token"):
        v = a.get(key)
        if isinstance(v, int | float) and not isinstance(v, bool) and v >= 0:
            return float(v) * 1000.0
    for e in span.events:
        if str(e.get("name", "")).lower() in _FIRST_TOKEN_EVENTS and e.get("time_ns"):
            return max(0.0, (int(e["time_ns"]) - span.start_ns) / 1e6)
    chunks = [int(e["time_ns"]) for e in span.events
              if e.get("name") in _CHUNK_EVENTS and e.get("time_ns")]  # fmt: skip
    if chunks:
        return max(0.0, (min(chunks) - span.start_ns) / 1e6)
    return None


def _finish(a: Mapping[str, Any], reported: Any) -> str | None:
    """Finish reasons as ``stop`` or ``stop,length``: from a list, a JSON array string (LiteLLM
    sends ``'["stop"]'``) or the output messages (``reported``: the first of :data:`_FINISH`)."""
    value = maybe_json(reported)
    if value is None:
        value = finish_reasons(a) or None
    if isinstance(value, list):
        return ",".join(str(x) for x in value if x is not None and x != "") or None
    return _str(value)


def _span_type(a: Mapping[str, Any], operation: str | None, has_model: bool) -> str | None:
    kind = a.get("openinference.span.kind")
    if kind:
        return str(kind).lower()
    if operation in _LLM_OPS:
        return "llm"
    if operation in _TYPE_OF_OP:
        return _TYPE_OF_OP[operation]
    tl = a.get("traceloop.span.kind")
    if tl:
        return _TRACELOOP_KINDS.get(str(tl).lower(), str(tl).lower())
    return "llm" if has_model else None


#: Latest span time accepted, in ns (the same range as event times, :mod:`mlwarden.schema.limits`).
_LATEST_NS = int(LATEST_TIME.timestamp()) * 1_000_000_000


def _check_ids(span: RawSpan) -> Rejection | None:
    for what, value, size in (("traceId", span.trace_id, 16), ("spanId", span.span_id, 8)):
        if not value or not value.strip("0"):
            reason = expected("field", what, f"be set ({size} bytes, not all zero)", value)
            return Rejection(span.index, what, reason, _summary(span))
    if span.start_ns <= 0:
        reason = expected("field", "startTimeUnixNano", "be set", span.start_ns)
        return Rejection(span.index, "startTimeUnixNano", reason, _summary(span))
    if span.end_ns < span.start_ns:
        reason = expected(
            "field", "endTimeUnixNano", "be at or after startTimeUnixNano", span.end_ns
        )
        return Rejection(span.index, "endTimeUnixNano", reason, _summary(span))
    for what, ns in (("startTimeUnixNano", span.start_ns), ("endTimeUnixNano", span.end_ns)):
        if ns >= _LATEST_NS:
            reason = expected(
                "field", what, f"be before {LATEST_TIME.date()} ({_LATEST_NS} ns)", ns
            )
            return Rejection(span.index, what, reason, _summary(span))
    return None


def _summary(span: RawSpan) -> dict[str, Any]:
    return {"traceId": span.trace_id, "spanId": span.span_id, "name": span.name}


def _row(span: RawSpan, resource_json: str) -> dict[str, Any]:
    a = span.attributes
    known = _known(a)
    params = maybe_json(a.get("llm.invocation_parameters"))
    op = _str(a.get("gen_ai.operation.name"))
    op = _OP_ALIASES.get(op, op) if op else op
    if op is None and a.get("llm.request.type"):
        op = _OPERATIONS.get(str(a["llm.request.type"]).lower(), str(a["llm.request.type"]))
    request_model = _str(known.get("request_model"))
    if request_model is None and isinstance(params, Mapping) and params.get("model"):
        request_model = str(params["model"])
    response_model = _str(known.get("response_model"))
    request_model = request_model or _str(known.get("model_name"))
    ins, outs = prompt_and_response(a, span.events)
    span_type = _span_type(a, op, bool(request_model or response_model))
    if span_type == "embedding":  # its output is vectors (OpenInference's ``output.value``)
        outs = []
    inp, out = _int(known.get("input")), _int(known.get("output"))
    total = _int(known.get("total"))
    if inp == 0 and not out and not total:  # a stream without usage reported 0 / 0: unknown
        inp = out = total = None
    if total is None and (inp is not None or out is not None):
        total = (inp or 0) + (out or 0)
    provider = _str(known.get("provider"))
    keep_values = span_type not in ("llm", "embedding", None)
    extra = {k: v for k, v in a.items()
             if not _CONTENT_KEYS.match(k) or (keep_values and k in _VALUE_KEYS)}  # fmt: skip
    events = span.events
    status_message = span.status_message or next(
        (str(e["attributes"].get("exception.message", "")) for e in span.events
         if e.get("name") == "exception"), "")  # fmt: skip
    return {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "name": span.name,
        "kind": span.kind,
        "span_type": span_type,
        "start_ns": span.start_ns,
        "end_ns": span.end_ns,
        "duration_ms": (span.end_ns - span.start_ns) / 1e6,
        "status_code": span.status_code,
        "status_message": status_message or None,
        "service_name": _str(span.resource.get("service.name")),
        "scope_name": span.scope or None,
        "provider": provider.lower() if provider else None,
        "operation": op,
        "request_model": request_model,
        "response_model": response_model,
        "model": response_model or request_model,
        "input_tokens": inp,
        "output_tokens": out,
        "total_tokens": total,
        "cache_read_tokens": _int(known.get("cache_read")),
        "cache_write_tokens": _int(known.get("cache_write")),
        "reasoning_tokens": _int(known.get("reasoning")),
        "reported_cost": known.get("cost"),
        "input_messages": ins,
        "output_messages": outs,
        "prompt": render_prompt(ins),
        "response": render_response(outs),
        "content_source": "span" if ins or outs else None,
        "finish_reason": _finish(a, known.get("finish")),
        "user_id": _str(known.get("user")),
        "session_id": _str(known.get("session")),
        "ttft_ms": _ttft(span),
        "expects_json": _expects_json(a),
        "attributes": orjson.dumps(extra, default=str).decode(),
        "resource": resource_json,
        "events": orjson.dumps(events, default=str).decode() if events else None,
    }


def _propagate(rows: list[dict[str, Any]]) -> None:
    """Copy user, session and model found on one span of a trace onto its other spans."""
    traces: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        traces.setdefault(r["trace_id"], []).append(r)
    for spans in traces.values():
        if len(spans) < 2:
            continue
        ordered = sorted(spans, key=lambda r: (r["parent_span_id"] is not None, r["start_ns"]))
        for col in ("user_id", "session_id", "model"):
            value = next((r[col] for r in ordered if r[col] is not None), None)
            if value is not None:
                for r in spans:
                    if r[col] is None:
                        r[col] = value


_EMPTY: dict[str, Any] = {f.name: None for f in SPAN_SCHEMA if f.name != "project"}


def normalise(spans: Sequence[RawSpan]) -> tuple[list[dict[str, Any]], list[Rejection]]:
    """One row per readable span (columns of :data:`SPAN_SCHEMA` plus working fields:
    ``input_messages``, ``output_messages``, ``expects_json``, ``reported_cost``,
    ``start_ns``, ``end_ns``); spans without ids or times are rejected with the reason."""
    rows: list[dict[str, Any]] = []
    rejected: list[Rejection] = []
    resource: dict[str, Any] | None = None
    resource_json = ""
    for s in spans:
        bad = _check_ids(s)
        if bad is not None:
            rejected.append(bad)
            continue
        if s.resource is not resource:  # the spans of a resource share its dict: one dump
            resource, resource_json = s.resource, orjson.dumps(s.resource, default=str).decode()
        rows.append({**_EMPTY, **_row(s, resource_json)})
    _propagate(rows)
    return rows, rejected


#: Columns of :data:`SPAN_SCHEMA` not held by a row as they are.
_DERIVED = ("project", "start_time", "end_time")


def spans_table(rows: Sequence[Mapping[str, Any]], project: str) -> pa.Table:
    """Rows (from :func:`normalise`, enriched with cost and checks) as an Arrow table of
    :data:`SPAN_SCHEMA`, built a column at a time (one pass per column over the rows)."""
    names = [f.name for f in SPAN_SCHEMA if f.name not in _DERIVED]
    # rows hold every column (normalise starts them from _EMPTY): transpose in C, one
    # itemgetter call a row, instead of a lookup a cell
    get = itemgetter(*names)
    try:
        cells = list(map(get, rows))
    except KeyError:  # rows made elsewhere may leave columns out: those are null
        cells = [get({**_EMPTY, **r}) for r in rows]
    columns = dict(zip(names, zip(*cells, strict=True), strict=True)) if rows else {}
    starts = [r["start_ns"] // 1000 for r in rows]
    ends = [r["end_ns"] // 1000 for r in rows]
    arrays = []
    for f in SPAN_SCHEMA:
        if f.name == "project":
            values: Sequence[Any] = [project] * len(rows)
        elif f.name in _DERIVED:
            values = starts if f.name == "start_time" else ends
        else:
            values = columns.get(f.name, ())
        arrays.append(pa.array(values, f.type))
    return pa.Table.from_arrays(arrays, schema=SPAN_SCHEMA)
