"""Dataset items from stored traces: by span ids, trace ids, or a filter over LLM spans.

A filter takes the span filters of the LLM tab (model, service, time range, a flag, flagged
or not) and optionally a score (spans of traces with a score ``score_name`` whose value is in
``[score_min, score_max]``), newest first up to ``limit``, or a random ``sample`` of that many:
a sample of live traffic to run evaluators over. Only spans holding a prompt become items:
the prompt is the input, the response the output, the span the source.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import ibis

from mlwarden.errors import ValidationError, expected
from mlwarden.store.protocols import SpanLog
from mlwarden.store.span_queries import FLAGS, filter_spans

__all__ = ["MAX_FROM_TRACES", "SpanPick", "items_from_spans"]

#: Most spans turned into items in one request.
MAX_FROM_TRACES = 5000


@dataclass(frozen=True)
class SpanPick:
    """Which spans: ids, or a filter (see the module docs)."""

    span_ids: tuple[str, ...] = ()
    trace_ids: tuple[str, ...] = ()
    model: str | None = None
    service: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    flag: str | None = None
    flagged: bool | None = None
    score_name: str | None = None
    score_min: float | None = None
    score_max: float | None = None
    limit: int = 100
    sample: bool = False


def items_from_spans(store: SpanLog, project: str, pick: SpanPick) -> list[dict[str, Any]]:
    """Raw items (for :func:`mlwarden.evals.items.validate_items`) of the picked spans."""
    if pick.flag is not None and pick.flag not in FLAGS:
        raise ValidationError(expected("field", "flag", f"be one of {', '.join(FLAGS)}", pick.flag))
    if not 1 <= pick.limit <= MAX_FROM_TRACES:
        raise ValidationError(
            expected("field", "limit", f"be from 1 to {MAX_FROM_TRACES}", pick.limit)
        )
    spans = store.spans(project)
    t = filter_spans(spans, start=pick.start, end=pick.end, model=pick.model,
                     service=pick.service, flagged=pick.flagged,
                     flag=pick.flag)  # type: ignore[arg-type]  # fmt: skip
    t = t.filter(t.prompt.notnull(), t.span_type != "judge")
    if pick.span_ids:
        t = t.filter(t.span_id.isin(list(pick.span_ids)))
    if pick.trace_ids:
        t = t.filter(t.trace_id.isin(list(pick.trace_ids)))
    if pick.score_name is not None:
        s = store.scores(project)
        s = s.filter(s.name == pick.score_name)
        if pick.score_min is not None:
            s = s.filter(s.value >= pick.score_min)
        if pick.score_max is not None:
            s = s.filter(s.value <= pick.score_max)
        t = t.filter(t.trace_id.isin(s.select("trace_id").trace_id))
    t = t.order_by(ibis.random() if pick.sample else [t.start_time.desc(), t.span_id])
    cols = ["trace_id", "span_id", "prompt", "response", "model", "service_name"]
    rows = t.select(*cols).limit(pick.limit).to_pyarrow().to_pylist()
    return [
        {"input": r["prompt"], "output": r["response"], "source_trace_id": r["trace_id"],
         "source_span_id": r["span_id"],
         "metadata": {k: r[k] for k in ("model", "service_name") if r[k] is not None} or None}
        for r in rows
    ]  # fmt: skip
