"""An LLM app's numbers broken down by one dimension: model, user, session, prompt version,
route (and provider, service), per time bucket or over the whole range.

Cost, tokens, calls, errors, flagged calls and latency quantiles (call duration and time to
first token, p50 and p95) of the LLM calls (``span_type = 'llm'``) of each group. Rates are
the caller's (``errors / calls``, ``flagged / calls``).

User, session and model are columns the store already attributes by trace (a child exported
apart from its root still carries the root's user). The prompt version and the route are read
from span attributes and attributed by trace at query time: a call's own prompt version wins,
else any span of its trace's; the route is the trace's ``http.route`` (the app's server span).

Examples
--------
>>> import ibis, pyarrow as pa
>>> from datetime import datetime
>>> from mlwarden.schema.genai import SPAN_SCHEMA
>>> rows = [
...     {"trace_id": "t1", "span_id": "r", "start_time": datetime(2026, 1, 1, 10),
...      "span_type": "chain", "attributes": '{"http.route":"/chat"}'},
...     {"trace_id": "t1", "span_id": "a", "start_time": datetime(2026, 1, 1, 10),
...      "span_type": "llm", "duration_ms": 100.0, "cost": 0.5, "status_code": "ok",
...      "attributes": '{"langfuse.prompt.version":3}'},
...     {"trace_id": "t2", "span_id": "b", "start_time": datetime(2026, 1, 1, 11),
...      "span_type": "llm", "duration_ms": 300.0, "cost": 0.25, "status_code": "error",
...      "attributes": "{}"}]
>>> t = ibis.memtable(pa.Table.from_pylist(rows, schema=SPAN_SCHEMA))
>>> [(r["key"], r["calls"], r["errors"], r["cost"]) for r in breakdown(t, by="route")]
[('/chat', 1, 0, 0.5), (None, 1, 1, 0.25)]
>>> [r["key"] for r in breakdown(t, by="prompt_version")]
['3', None]
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from mlwarden.errors import ValidationError, expected
from mlwarden.store.queries import WINDOWS, Window
from mlwarden.store.span_queries import any_flag
from mlwarden.store.times import utc_naive

__all__ = ["DIMENSIONS", "METRICS", "breakdown", "with_dimensions"]

#: ``by`` of :func:`breakdown` -> column (the last two are derived by :func:`with_dimensions`).
DIMENSIONS: dict[str, str] = {
    "model": "model",
    "user": "user_id",
    "session": "session_id",
    "prompt_version": "prompt_version",
    "route": "route",
    "provider": "provider",
    "service": "service_name",
}
#: Per-group numbers of :func:`breakdown` (and how the dashboard orders groups).
METRICS = (
    "calls",
    "errors",
    "flagged",
    "input_tokens",
    "output_tokens",
    "cost",
    "latency_p50",
    "latency_p95",
    "ttft_p50",
    "ttft_p95",
)
#: Attribute names holding a prompt's version (Langfuse, OpenLLMetry, OpenInference, ours).
PROMPT_VERSION_KEYS = (
    "mlwarden.prompt.version",
    "langfuse.prompt.version",
    "traceloop.prompt.version",
    "llm.prompt_template.version",
    "gen_ai.prompt.version",
    "prompt.version",
)
_ROUTE = ("http.route",)
#: How far around the range the other spans of a trace are looked for (as ingest does).
_TRACE_SLACK = timedelta(days=1)


def _attr(column: Any, keys: tuple[str, ...]) -> Any:
    """The value of one of ``keys`` (the first found in the text) in a JSON attributes string
    column (a string or number value; attributes are stored compact, ``{"k":v}``), null when
    none is there."""
    names = "|".join(k.replace(".", r"\.") for k in keys)
    return column.re_extract(rf'"(?:{names})":"?([^",}}]+)', 1).nullif("")


def with_dimensions(
    calls: Any, spans: Any, *, start: datetime | None = None, end: datetime | None = None
) -> Any:
    """``calls`` (some of ``spans``) with ``prompt_version`` and ``route`` columns attributed
    by trace: looked for on every span of ``spans`` of the same trace, up to a day around
    ``[start, end)``; a call's own prompt version wins over its trace's."""
    near = spans
    if start is not None:
        near = near.filter(near.start_time >= utc_naive(start - _TRACE_SLACK))
    if end is not None:
        near = near.filter(near.start_time < utc_naive(end + _TRACE_SLACK))
    near = near.mutate(
        _pv=_attr(near.attributes, PROMPT_VERSION_KEYS), _route=_attr(near.attributes, _ROUTE)
    )
    per_trace = near.group_by(_tid=near.trace_id).aggregate(
        _trace_pv=near._pv.max(), route=near._route.max()
    )
    own = calls.mutate(_own_pv=_attr(calls.attributes, PROMPT_VERSION_KEYS))
    j = own.left_join(per_trace, own.trace_id == per_trace._tid)
    return j.mutate(prompt_version=j._own_pv.coalesce(j._trace_pv)).drop(
        "_own_pv", "_tid", "_trace_pv"
    )


def breakdown(
    spans: Any,
    *,
    by: str,
    window: Window = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Per group (``key``, and ``window_start`` when ``window`` is a bucket) of the LLM calls
    started in ``[start, end)``: calls, errors, flagged calls, input and output tokens (null:
    none reported), cost, and p50 / p95 of duration and of time to first token (ms, null when
    none). Groups ordered by cost, then calls; ``limit`` keeps the costliest groups."""
    if by not in DIMENSIONS:
        raise ValidationError(expected("parameter", "by", f"be one of {', '.join(DIMENSIONS)}", by))
    t = spans.filter(spans.span_type == "llm")
    if start is not None:
        t = t.filter(t.start_time >= utc_naive(start))
    if end is not None:
        t = t.filter(t.start_time < utc_naive(end))
    if by in ("prompt_version", "route"):
        t = with_dimensions(t, spans, start=start, end=end)
    keys: dict[str, Any] = {"key": t[DIMENSIONS[by]]}
    if window is not None:
        if window not in WINDOWS:
            raise ValidationError(
                expected("parameter", "window", f"be one of {', '.join(WINDOWS)}, all", window)
            )
        keys["window_start"] = t.start_time.truncate(WINDOWS[window])
    agg = t.group_by(**keys).aggregate(
        calls=t.count(),
        errors=(t.status_code == "error").sum().fill_null(0),
        flagged=any_flag(t).sum().fill_null(0),
        input_tokens=t.input_tokens.sum(),
        output_tokens=t.output_tokens.sum(),
        cost=t.cost.sum().fill_null(0.0),
        latency_p50=t.duration_ms.quantile(0.5),
        latency_p95=t.duration_ms.quantile(0.95),
        ttft_p50=t.ttft_ms.quantile(0.5),
        ttft_p95=t.ttft_ms.quantile(0.95),
    )
    rows: list[dict[str, Any]] = agg.to_pyarrow().to_pylist()
    for r in rows:
        for c in ("calls", "errors", "flagged", "input_tokens", "output_tokens"):
            r[c] = None if r[c] is None else int(r[c])
    if window is None:
        rows.sort(key=lambda r: (-r["cost"], -r["calls"], r["key"] is None, str(r["key"])))
        return rows[:limit] if limit is not None else rows
    rows.sort(key=lambda r: (r["window_start"], r["key"] is None, str(r["key"])))
    return rows
