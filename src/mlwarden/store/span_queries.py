"""Queries over trace spans (:meth:`Store.spans`), written once in ibis for every engine.

Aggregates return additive numbers only (counts and sums per window and group):
token and cost totals merge across windows by addition, and flag *rates* are
computed by the caller from flag *counts*.

Examples
--------
>>> import ibis, pyarrow as pa
>>> from datetime import datetime
>>> from mlwarden.schema.genai import SPAN_SCHEMA
>>> t = ibis.memtable(pa.Table.from_pylist([
...     {"start_time": datetime(2026, 1, 1, 10, 5), "span_type": "llm", "model": "gpt-4o",
...      "input_tokens": 10, "output_tokens": 1, "cost": 0.5, "status_code": "ok"},
...     {"start_time": datetime(2026, 1, 1, 10, 50), "span_type": "llm", "model": "gpt-4o",
...      "input_tokens": 20, "status_code": "error"}], schema=SPAN_SCHEMA))
>>> row = usage(t, window="hour", by="model").to_pylist()[0]
>>> row["input_tokens"], row["cost"], row["errors"], row["unpriced"]
(30, 0.5, 1, 1)
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

import pyarrow as pa

from mlwarden._lazy import ibis
from mlwarden.errors import ValidationError, expected
from mlwarden.store.queries import WINDOWS, Window
from mlwarden.store.times import utc_naive

__all__ = [
    "FLAGS",
    "GROUPS",
    "any_flag",
    "decode_cursor",
    "encode_cursor",
    "filter_spans",
    "flag_counts",
    "known_sum",
    "page_spans",
    "trace_page",
    "trace_spans",
    "usage",
]

#: ``by`` keys of :func:`usage` and :func:`flag_counts`, and their columns.
GROUPS: dict[str, str] = {
    "model": "model",
    "user": "user_id",
    "session": "session_id",
    "provider": "provider",
    "service": "service_name",
    "operation": "operation",
    "span_type": "span_type",
}
#: Flags a span can raise (``json_valid`` raises when it is false).
FLAGS = ("pii_in_prompt", "pii_in_response", "injection", "refusal", "json_invalid")
Flag = Literal["pii_in_prompt", "pii_in_response", "injection", "refusal", "json_invalid"]


def _flag(t: Any, flag: str) -> Any:
    if flag == "json_invalid":
        return ~t.json_valid.fill_null(True)
    return t[flag].fill_null(False)


def _any_flag(t: Any) -> Any:
    out = _flag(t, FLAGS[0])
    for f in FLAGS[1:]:
        out = out | _flag(t, f)
    return out


def any_flag(spans: Any) -> Any:
    """Whether a span raised any flag (PII, injection, refusal, invalid JSON), as an ibis
    boolean expression over ``spans``."""
    return _any_flag(spans)


def filter_spans(
    spans: Any,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    trace_id: str | None = None,
    model: str | None = None,
    user: str | None = None,
    session: str | None = None,
    service: str | None = None,
    span_type: str | None = None,
    flagged: bool | None = None,
    flag: Flag | None = None,
) -> Any:
    """Spans started in ``[start, end)`` matching every filter given."""
    preds = []
    if start is not None:
        preds.append(spans.start_time >= utc_naive(start))
    if end is not None:
        preds.append(spans.start_time < utc_naive(end))
    for col, value in (
        ("trace_id", trace_id),
        ("model", model),
        ("user_id", user),
        ("session_id", session),
        ("service_name", service),
        ("span_type", span_type),
    ):
        if value is not None:
            preds.append(spans[col] == value)
    if flagged is not None:
        preds.append(_any_flag(spans) if flagged else ~_any_flag(spans))
    if flag is not None:
        if flag not in FLAGS:
            raise ValidationError(
                expected("parameter", "flag", f"be one of {', '.join(FLAGS)}", flag)
            )
        preds.append(_flag(spans, flag))
    return spans.filter(*preds) if preds else spans


def _keys(t: Any, window: Window, by: str | None) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    if window is not None:
        if window not in WINDOWS:
            raise ValidationError(
                expected("parameter", "window", f"be one of {', '.join(WINDOWS)}, all", window)
            )
        keys["window_start"] = t.start_time.truncate(WINDOWS[window])
    if by is not None:
        if by not in GROUPS:
            raise ValidationError(expected("parameter", "by", f"be one of {', '.join(GROUPS)}", by))
        keys[by] = t[GROUPS[by]]
    return keys


def _int_counts(table: pa.Table) -> pa.Table:
    cols = [
        c.cast(pa.int64()) if pa.types.is_integer(f.type) or pa.types.is_decimal(f.type) else c
        for f, c in zip(table.schema, table.columns, strict=True)
    ]
    return pa.Table.from_arrays(cols, names=table.column_names)


def _aggregate(t: Any, keys: dict[str, Any], metrics: dict[str, Any]) -> pa.Table:
    agg = t.group_by(**keys).aggregate(**metrics) if keys else t.aggregate(**metrics)
    if keys:
        agg = agg.order_by(list(keys))
    return _int_counts(agg.to_pyarrow())


def usage(
    spans: Any, *, window: Window = "day", by: str | None = "model", **filters: Any
) -> pa.Table:
    """Per window (and group): spans, LLM spans, LLM spans without token counts, errors, token
    sums, cost sum, and spans with tokens but no price (``unpriced``)."""
    t = filter_spans(spans, **filters)
    has_tokens = t.input_tokens.notnull() | t.output_tokens.notnull()
    is_llm = t.span_type == "llm"

    def total(col: str) -> Any:
        return t[col].sum().fill_null(0)

    return _aggregate(
        t,
        _keys(t, window, by),
        {
            "spans": t.count(),
            "llm_spans": is_llm.fill_null(False).sum().fill_null(0),
            "usage_missing": (is_llm.fill_null(False) & ~has_tokens).sum().fill_null(0),
            "errors": (t.status_code == "error").sum().fill_null(0),
            "input_tokens": total("input_tokens"),
            "output_tokens": total("output_tokens"),
            "cache_read_tokens": total("cache_read_tokens"),
            "cache_write_tokens": total("cache_write_tokens"),
            "reasoning_tokens": total("reasoning_tokens"),
            "cost": t.cost.sum().fill_null(0.0),
            "priced": t.cost.notnull().sum().fill_null(0),
            "unpriced": (has_tokens & t.cost.isnull()).sum().fill_null(0),
        },
    )


def flag_counts(
    spans: Any, *, window: Window = "day", by: str | None = None, **filters: Any
) -> pa.Table:
    """Per window (and group): spans with a prompt / a response / a JSON check, and how many
    raised each flag (rates are these counts over the checked counts)."""
    t = filter_spans(spans, **filters)
    metrics: dict[str, Any] = {
        "spans": t.count(),
        "with_prompt": t.prompt.notnull().sum().fill_null(0),
        "with_response": t.response.notnull().sum().fill_null(0),
        "json_checked": t.json_valid.notnull().sum().fill_null(0),
        "flagged": _any_flag(t).sum().fill_null(0),
    }
    for f in FLAGS:
        metrics[f] = _flag(t, f).sum().fill_null(0)
    return _aggregate(t, _keys(t, window, by), metrics)


def known_sum(values: Iterable[Any]) -> Any:
    """The sum of the values that are known, or None when none is (tokens a stream did not
    report are unknown, not zero).

    Examples
    --------
    >>> known_sum([None, 3, 4]), known_sum([None, None])
    (7, None)
    """
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def encode_cursor(start_time: datetime, trace_id: str, span_id: str) -> str:
    """An opaque page cursor after the span (``start_time``, ``trace_id``, ``span_id``).

    Examples
    --------
    >>> c = encode_cursor(datetime(2026, 1, 1, 12), "t", "s")
    >>> decode_cursor(c)
    (datetime.datetime(2026, 1, 1, 12, 0), 't', 's')
    """
    raw = f"{start_time.isoformat()}|{trace_id}|{span_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ts, trace_id, span_id = raw.split("|")
        return datetime.fromisoformat(ts), trace_id, span_id
    except ValueError:
        raise ValidationError(
            expected("parameter", "cursor", "be a next_cursor from an earlier page", cursor)
        ) from None


def page_spans(
    spans: Any, *, limit: int = 100, cursor: str | None = None, **filters: Any
) -> tuple[pa.Table, str | None]:
    """One page of spans, newest first, and the cursor of the next page (None at the end)."""
    t = filter_spans(spans, **filters)
    if cursor is not None:
        ts, tid, sid = decode_cursor(cursor)
        t = t.filter(
            (t.start_time < ts)
            | (
                (t.start_time == ts)
                & ((t.trace_id > tid) | ((t.trace_id == tid) & (t.span_id > sid)))
            )
        )
    page = (
        t.order_by([ibis.desc("start_time"), "trace_id", "span_id"]).limit(limit + 1).to_pyarrow()
    )
    if page.num_rows <= limit:
        return page, None
    page = page.slice(0, limit)
    last = page.slice(limit - 1, 1).to_pylist()[0]
    return page, encode_cursor(last["start_time"], last["trace_id"], last["span_id"])


def trace_spans(spans: Any, trace_id: str) -> pa.Table:
    """Every span of one trace, in start order."""
    t = spans.filter(spans.trace_id == trace_id)
    return t.order_by(["start_time", "span_id"]).to_pyarrow()


def trace_page(
    spans: Any, *, limit: int = 25, offset: int = 0, **filters: Any
) -> tuple[pa.Table, int]:
    """One page of traces that have a span matching every filter, newest first, with the
    totals of *all* their spans (first start, spans, LLM calls, errors, tokens, cost, whether
    any span raised a flag, first user / session / model), and how many traces match. Token
    and cost totals are null when no span of the trace reported (or was priced)."""
    start, end = filters.get("start"), filters.get("end")
    matching = filter_spans(spans, **filters).select("trace_id").distinct()
    total = int(matching.count().to_pyarrow().as_py())
    base = filter_spans(spans, start=start, end=end)
    t = base.semi_join(matching, "trace_id")
    agg = t.group_by("trace_id").aggregate(
        start_time=t.start_time.min(),
        end_time=t.end_time.max(),
        spans=t.count(),
        llm_calls=(t.span_type == "llm").fill_null(False).sum().fill_null(0),
        judge_calls=(t.span_type == "judge").fill_null(False).sum().fill_null(0),
        errors=(t.status_code == "error").sum().fill_null(0),
        input_tokens=t.input_tokens.sum(),  # null: no span of the trace reported tokens
        output_tokens=t.output_tokens.sum(),
        cost=t.cost.sum(),
        flagged=_any_flag(t).max().fill_null(False),
        pii=(_flag(t, "pii_in_prompt") | _flag(t, "pii_in_response")).max().fill_null(False),
        injection=_flag(t, "injection").max().fill_null(False),
        refusal=_flag(t, "refusal").max().fill_null(False),
        json_invalid=_flag(t, "json_invalid").max().fill_null(False),
        user_id=t.user_id.min(),
        session_id=t.session_id.min(),
        model=t.model.min(),
    )
    page = agg.order_by([ibis.desc("start_time"), "trace_id"]).limit(limit, offset=offset)
    return _int_counts(page.to_pyarrow()), total
