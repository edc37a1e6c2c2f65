"""The LLM tab of a model: its app's traces, spend and safety flags over time, one trace opened.

Everything comes from the model's spans (its service's, see ``ModelSpec.span_service``)
through the span queries of the store (aggregates per bucket; one page of traces; the spans
of one trace), filtered by the range of the page and the tab's own filters (:mod:`.llm_state`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from mlwarden.server.ui.llm_state import FLAG_CHOICES, LlmFilters
from mlwarden.server.ui.placement import kinds_of
from mlwarden.server.ui.state import ViewState
from mlwarden.server.ui.tabs import _heat
from mlwarden.server.ui.views import Chart, Page
from mlwarden.store import score_queries as sc
from mlwarden.store import span_queries as sq
from mlwarden.store.queries import Window
from mlwarden.store.span_aggregates import model_spans

if TYPE_CHECKING:
    from mlwarden.store.base import Store
    from mlwarden.store.protocols import SpanLog

__all__ = ["TRACES_PER_PAGE", "llm_tab"]

TRACES_PER_PAGE = 25
#: Scores shown on an opened trace (newest first).
MAX_SCORES = 200
#: The monitor kinds whose results the tab's heat map shows.
LLM_KINDS = kinds_of("llm")
TOP_USERS = 5
PALETTE = ("#1f5fa8", "#7a3e9d", "#0f7b6c", "#a15c00", "#b3261e", "#4a4a4a")
FLAG_LABELS = {
    "any": "any flag",
    "pii_in_prompt": "PII in prompt",
    "pii_in_response": "PII in response",
    "injection": "injection",
    "refusal": "refusal",
    "json_invalid": "invalid JSON",
}
#: flag -> the count it is a rate of (flag_counts columns)
_OF = {
    "pii_in_prompt": "with_prompt",
    "pii_in_response": "with_response",
    "injection": "with_prompt",
    "refusal": "with_response",
    "json_invalid": "json_checked",
}


def _bucket(state: ViewState) -> Window:
    assert state.start is not None and state.end is not None
    return "hour" if state.end - state.start <= timedelta(days=3) else "day"


def _epoch(t: datetime) -> float:
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()


#: The series of spans without a model (or user) name.
NO_NAME = {"model": "(no model name)", "user": "(no user)"}


def _series(
    rows: list[dict[str, Any]], key: str, value: str, x: list[datetime]
) -> dict[str, list[float | None]]:
    out: dict[str, dict[datetime, float]] = {}
    for r in rows:
        name = NO_NAME.get(key, "(none)") if r[key] is None else str(r[key])
        out.setdefault(name, {})[r["window_start"]] = float(r[value] or 0.0)
    return {k: [v.get(t) for t in x] for k, v in sorted(out.items())}


def llm_tab(
    store: Store, project: str, record: Any, state: ViewState, params: Any
) -> dict[str, Any]:
    """Template context of the LLM tab."""
    f = LlmFilters.parse(params)
    spans = model_spans(store, record)
    rng: dict[str, Any] = {"start": state.start, "end": state.end}
    who: dict[str, Any] = {"user": f.user, "session": f.session, "model": f.llm}
    bucket = _bucket(state)
    by_model = sq.usage(spans, window=bucket, by="model", **rng, **who).to_pylist()
    x = sorted({r["window_start"] for r in by_model})
    xs = [_epoch(t) for t in x]
    step = 3600.0 if bucket == "hour" else 86400.0
    cost = Chart(id="llm-cost-model", title="Cost by model (USD)", y_label="USD", y_format="usd")
    tokens = Chart(id="llm-tokens-model", title="Tokens by model", y_label="tokens")
    for c in (cost, tokens):
        c.x, c.x_step = xs, step
    for i, (m, vals) in enumerate(_series(by_model, "model", "cost", x).items()):
        cost.add(m, vals, color=PALETTE[i % len(PALETTE)], width=2)
    for r in by_model:
        r["tokens"] = (r["input_tokens"] or 0) + (r["output_tokens"] or 0)
    for i, (m, vals) in enumerate(_series(by_model, "model", "tokens", x).items()):
        tokens.add(m, vals, color=PALETTE[i % len(PALETTE)], width=2)
    totals_by_user = sq.usage(spans, window=None, by="user", **rng, **who).to_pylist()
    top = sorted(totals_by_user, key=lambda r: (-r["cost"], str(r["user"])))[:TOP_USERS]
    users = [r["user"] for r in top if r["user"] is not None]
    user_cost = Chart(id="llm-cost-user", title=f"Cost of the top {len(users)} users (USD)",
                      y_label="USD", y_format="usd")  # fmt: skip
    user_cost.x, user_cost.x_step = xs, step
    if users:
        rows = sq.usage(spans.filter(spans.user_id.isin(users)), window=bucket, by="user",
                        **rng, **who).to_pylist()  # fmt: skip
        for i, (u, vals) in enumerate(_series(rows, "user", "cost", x).items()):
            user_cost.add(u, vals, color=PALETTE[i % len(PALETTE)])
    flag_rows = sq.flag_counts(spans, window=bucket, **rng, **who).to_pylist()
    fx = sorted({r["window_start"] for r in flag_rows})
    flags = Chart(
        id="llm-flags", title="Flagged share of checked calls", y_label="share", y_format="pct"
    )
    flags.x, flags.x_step = [_epoch(t) for t in fx], step
    at = {r["window_start"]: r for r in flag_rows}
    for i, (flag, of) in enumerate(_OF.items()):
        flags.add(
            FLAG_LABELS[flag],
            [(at[t][flag] / at[t][of]) if at[t][of] else None for t in fx],
            color=PALETTE[i % len(PALETTE)],
        )
    total = sq.usage(spans, window=None, by=None, **rng, **who).to_pylist()
    flagged = sq.flag_counts(spans, window=None, **rng, **who).to_pylist()
    page_no = state.page
    traces, n = sq.trace_page(
        spans,
        limit=TRACES_PER_PAGE,
        offset=(page_no - 1) * TRACES_PER_PAGE,
        **rng,
        **f.span_filters(),
    )
    pages = max(1, -(-n // TRACES_PER_PAGE))
    heat = _heat(store, project, record, state, LLM_KINDS, importance=None, name_of=_monitor)
    return {
        **heat,
        "filters": f,
        "service": record.spec.span_service,
        "totals": total[0] if total else {},
        "flag_totals": flagged[0] if flagged else {},
        "charts": [cost, tokens, user_cost, flags],
        "traces": traces.to_pylist(),
        "page": Page([], min(page_no, pages), pages, n),
        "models": sorted({str(r["model"]) for r in by_model if r["model"] is not None}),
        "flag_choices": [(k, FLAG_LABELS[k]) for k in FLAG_CHOICES],
        "trace": _with_scores(store, project, trace_view(spans, f.trace)) if f.trace else None,
        "bucket": bucket,
    }


def _with_scores(
    store: SpanLog, project: str, view: dict[str, Any] | None
) -> dict[str, Any] | None:
    """``view`` (a trace) with its scores: ``scores`` of the whole trace, each span's own in
    its ``scores``, newest first."""
    if view is None:
        return None
    t = sc.filtered(store.scores(project), trace_id=view["trace_id"])
    rows = t.order_by([t.ts.desc(), t.id]).limit(MAX_SCORES).to_pyarrow().to_pylist()
    for r in rows:
        r["shown"] = r["label"] if r["data_type"] == "categorical" else (
            ("true" if r["value"] == 1.0 else "false") if r["data_type"] == "boolean"
            else f"{r['value']:g}")  # fmt: skip
    view["scores"] = [r for r in rows if not r["span_id"]]
    stack = list(view["roots"])
    while stack:
        node = stack.pop()
        node["scores"] = [r for r in rows if r["span_id"] == node["span_id"]]
        stack.extend(node["children"])
    return view


def _monitor(r: dict[str, Any]) -> str:
    return str(r["monitor"])


def trace_view(spans: Any, trace_id: str) -> dict[str, Any] | None:
    """One trace of the model as a span tree (each span with its messages, tokens, cost,
    flags and findings), or None when the model has no such trace."""
    rows = sq.trace_spans(spans, trace_id).to_pylist()
    if not rows:
        return None
    by_id: dict[str, dict[str, Any]] = {}
    for r in rows:
        r["findings"] = orjson.loads(r["findings"]) if r.get("findings") else []
        r["flags"] = [
            label
            for key, label in FLAG_LABELS.items()
            if key != "any"
            and (r["json_valid"] is False if key == "json_invalid" else bool(r.get(key)))
        ]
        judge = (
            orjson.loads(r["attributes"])
            if r["span_type"] == "judge" and r.get("attributes")
            else {}
        )
        r["judge_score"] = judge.get("mlwarden.judge.score")
        r["judge_reason"] = judge.get("mlwarden.judge.reason")
        by_id[r["span_id"]] = {**r, "children": []}
    roots: list[dict[str, Any]] = []
    for node in by_id.values():
        parent = by_id.get(node["parent_span_id"] or "")
        (parent["children"] if parent is not None else roots).append(node)
    start = min(r["start_time"] for r in rows)
    end = max(r["end_time"] for r in rows)
    return {
        "trace_id": trace_id,
        "roots": roots,
        "spans": len(rows),
        "start": start,
        "duration_ms": (end - start).total_seconds() * 1000.0,
        "input_tokens": sq.known_sum(r["input_tokens"] for r in rows),
        "output_tokens": sq.known_sum(r["output_tokens"] for r in rows),
        "cost": sq.known_sum(r["cost"] for r in rows),
    }
