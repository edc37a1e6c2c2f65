"""Window aggregates of a model's trace spans, for the LLM monitors: computed in the engine.

An ``llm`` model's spans are those of its project whose ``service_name`` is the model's
:attr:`~mlwarden.schema.spec.ModelSpec.span_service`. Like :mod:`mlwarden.store.aggregates`,
a monitor declares requests (hashable: identical requests of different monitors run once) and
:func:`collect_spans` answers each over a run of tumbling windows with small numbers per
window: counts, sums and sums of squares, quantiles, the top groups by spend. Comparisons
with the recent past are sums of those per-window numbers, so nothing but aggregates (and the
bounded text samples of :class:`SpanTexts`) comes back to Python.

Examples
--------
>>> import ibis, pyarrow as pa
>>> from datetime import UTC, datetime, timedelta
>>> from mlwarden.schema.genai import SPAN_SCHEMA
>>> from mlwarden.store.aggregates import WindowRun
>>> t = ibis.memtable(pa.Table.from_pylist([
...     {"start_time": datetime(2026, 1, 1, h), "span_type": "llm", "status_code": "ok",
...      "prompt": "user: hi", "pii_in_prompt": h == 5, "cost": 0.01 * (h + 1)}
...     for h in range(6)], schema=SPAN_SCHEMA))
>>> run = WindowRun(datetime(2024, 1, 1, tzinfo=UTC), timedelta(hours=1), 17544 + 5, 17544 + 5)
>>> w = totals(t, SpanTotals(history=5), run)[17549]
>>> w["current"]["with_prompt"], w["current"]["pii_in_prompt"], w["past"]["llm"], w["past_windows"]
(1, 1, 5, 5)
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from mlwarden._lazy import ibis
from mlwarden.errors import ConfigError, expected
from mlwarden.store.score_queries import ScoreTotals, model_scores, window_totals
from mlwarden.store.times import utc_naive

if TYPE_CHECKING:
    from mlwarden.store.aggregates import WindowRun
    from mlwarden.store.base import Store
    from mlwarden.store.protocols import SpanLog

__all__ = [
    "SPAN_BY",
    "SPAN_METRICS",
    "SpanQuantiles",
    "SpanRequest",
    "SpanSpend",
    "SpanTexts",
    "SpanTotals",
    "collect_spans",
    "model_spans",
    "span_count",
    "span_time_range",
    "totals",
]

#: ``by`` of :class:`SpanSpend`: group name -> span column.
SPAN_BY: dict[str, str] = {"model": "model", "user": "user_id", "session": "session_id"}
#: ``metric`` of :class:`SpanSpend` and the cost monitors.
SPAN_METRICS = ("cost", "tokens")
#: The span type of LLM-as-a-judge calls (their tokens and cost count; their texts are not
#: checked, judged or embedded again).
JUDGE_TYPE = "judge"
#: Counts of :class:`SpanTotals` (the ``past`` entry holds the same keys summed).
TOTAL_KEYS = (
    "spans",
    "llm",
    "errors",
    "timeouts",
    "with_prompt",
    "with_response",
    "json_checked",
    "pii_in_prompt",
    "pii_in_response",
    "injection",
    "refusal",
    "json_invalid",
    "priced",
    "cost",
    "cost_sq",
    "tokened",
    "tokens",
    "tokens_sq",
)


@dataclass(frozen=True)
class SpanTotals:
    """Per window: spans, LLM calls, errors and timeouts, the counts the safety checks ran on
    and flagged, and cost and token sums (with sums of squares), as ``{"current": {...},
    "past": {...}, "past_windows": k}``, ``past`` summed over the ``history`` earlier windows
    (windows without spans add nothing)."""

    history: int = 24


@dataclass(frozen=True)
class SpanQuantiles:
    """A quantile of LLM call latency (``duration_ms``) or time to first token (``ttft_ms``)
    per window, the same quantile of the ``history`` earlier windows (``past``), and how many
    of the window's values lie above the median of those (``above`` of ``counted``, at
    ``level``; with at least 3 earlier windows)."""

    metric: str = "duration_ms"
    quantile: float = 0.95
    history: int = 24


@dataclass(frozen=True)
class SpanSpend:
    """Spend (``cost`` in USD or ``tokens``) per group (``model``, ``user``, ``session`` or
    ``None`` for all) summed over the ``windows`` windows ending with each window: the
    ``top`` groups, how many groups spent over ``limit``, the number of groups and the total."""

    metric: str = "cost"
    by: str | None = "model"
    windows: int = 1
    limit: float | None = None
    top: int = 5


@dataclass(frozen=True)
class SpanTexts:
    """Up to ``limit`` LLM calls per window with the text of ``field`` (``prompt`` or
    ``response``), picked pseudo-randomly by a hash of their ids (the same rows each time a
    window is evaluated). ``judged``: also the attributes of an earlier judge call on each
    (``judge_attributes``), and prompts and responses both."""

    field: str = "prompt"
    limit: int = 500
    judged: bool = False


#: ``ScoreTotals`` (scores of the model's traces) ride along: they are read the same way.
SpanRequest = SpanTotals | SpanQuantiles | SpanSpend | SpanTexts | ScoreTotals


def model_spans(store: SpanLog, model: Any) -> Any:
    """The spans of a model's project whose ``service_name`` is the model's service."""
    t = store.spans(model.project)
    return t.filter(t.service_name == model.spec.span_service)


def span_time_range(store: Store, model: Any) -> tuple[Any, Any]:
    """(first, last) start time of the model's spans, or (None, None)."""
    t = model_spans(store, model)
    row = t.aggregate(lo=t.start_time.min(), hi=t.start_time.max()).to_pyarrow().to_pylist()[0]
    return row["lo"], row["hi"]


def span_count(store: Store, model: Any) -> int:
    """How many spans the model has."""
    return int(model_spans(store, model).count().to_pyarrow().as_py())


def _windowed(t: Any, run: WindowRun, first: int) -> Any:
    lo = utc_naive(run.start(first))
    hi = utc_naive(run.range_end)
    t = t.filter(t.start_time >= lo, t.start_time < hi)
    return t.mutate(_w=run.index_expr(t.start_time))


def _rows(expr: Any) -> list[dict[str, Any]]:
    table: pa.Table = expr.to_pyarrow()
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def _is_llm(t: Any) -> Any:
    return (t.span_type == "llm").fill_null(False)


def _checked(t: Any) -> Any:
    """Spans the ingest checks ran on (LLM spans and spans of no known type)."""
    return (t.span_type.isnull() | (t.span_type == "llm")).fill_null(False)


def _tokens(t: Any) -> Any:
    both = (t.input_tokens.fill_null(0) + t.output_tokens.fill_null(0)).cast("float64")
    some = t.input_tokens.notnull() | t.output_tokens.notnull()
    return t.total_tokens.cast("float64").coalesce(ibis.cases((some, both), else_=None))


def _timeout(t: Any) -> Any:
    msg = t.status_message.lower().fill_null("")
    ev = t.events.lower().fill_null("")
    return msg.contains("timeout") | msg.contains("timed out") | ev.contains("timeout")


def _count(pred: Any) -> Any:
    # not ``pred.cast("int64")``: PostgreSQL casts a boolean to integer but not to bigint
    return ibis.ifelse(pred, 1, 0).sum().fill_null(0)


def _per_window_totals(t: Any) -> dict[int, dict[str, float]]:
    llm = _is_llm(t)
    checked = _checked(t)
    err = llm & (t.status_code == "error").fill_null(False)
    tok = _tokens(t)
    metrics: dict[str, Any] = {
        "spans": t.count(),
        "llm": _count(llm),
        "errors": _count(err),
        "timeouts": _count(err & _timeout(t)),
        "with_prompt": _count(checked & t.prompt.notnull()),
        "with_response": _count(checked & t.response.notnull()),
        "json_checked": _count(t.json_valid.notnull()),
        "pii_in_prompt": _count(t.pii_in_prompt.fill_null(False)),
        "pii_in_response": _count(t.pii_in_response.fill_null(False)),
        "injection": _count(t.injection.fill_null(False)),
        "refusal": _count(t.refusal.fill_null(False)),
        "json_invalid": _count(~t.json_valid.fill_null(True)),
        "priced": _count(t.cost.notnull()),
        "cost": t.cost.sum().fill_null(0.0),
        "cost_sq": (t.cost * t.cost).sum().fill_null(0.0),
        "tokened": _count(tok.notnull()),
        "tokens": tok.sum().fill_null(0.0),
        "tokens_sq": (tok * tok).sum().fill_null(0.0),
    }
    out: dict[int, dict[str, float]] = {}
    for r in _rows(t.group_by("_w").aggregate(**metrics)):
        w = int(r.pop("_w"))
        out[w] = {k: (float(v) if k in ("cost", "cost_sq", "tokens", "tokens_sq") else int(v))
                  for k, v in r.items()}  # fmt: skip
    return out


def totals(spans: Any, r: SpanTotals, run: WindowRun) -> dict[int, dict[str, Any]]:
    """:class:`SpanTotals` of ``spans`` (an ibis table of :data:`SPAN_SCHEMA` rows) over
    ``run``."""
    per = _per_window_totals(_windowed(spans, run, run.first - r.history))
    zero: dict[str, float] = dict.fromkeys(TOTAL_KEYS, 0)
    out: dict[int, dict[str, Any]] = {}
    for k in range(run.first, run.last + 1):
        past = dict(zero)
        windows = 0
        for j in range(k - r.history, k):
            if j in per:
                windows += 1
                for key in TOTAL_KEYS:
                    past[key] += per[j][key]
        out[k] = {"current": per.get(k, dict(zero)), "past": past, "past_windows": windows}
    return out


def _quantiles(spans: Any, r: SpanQuantiles, run: WindowRun) -> dict[int, dict[str, Any]]:
    if r.metric not in ("duration_ms", "ttft_ms"):
        raise ConfigError(expected("parameter", "metric", "be duration_ms or ttft_ms", r.metric))
    t = _windowed(spans, run, run.first - r.history)
    t = t.filter(_is_llm(t), t[r.metric].notnull())
    rows = _rows(t.group_by("_w").aggregate(n=t.count(), q=t[r.metric].quantile(r.quantile)))
    per = {int(x["_w"]): (float(x["q"]), int(x["n"])) for x in rows if x["q"] is not None}
    levels: dict[int, float] = {}
    out: dict[int, dict[str, Any]] = {}
    for k in range(run.first, run.last + 1):
        past = [per[j][0] for j in range(k - r.history, k) if j in per]
        value, n = per.get(k, (None, 0))
        out[k] = {"value": value, "n": n, "past": past}
        if len(past) >= 3 and k in per:
            levels[k] = statistics.median(past)
    if levels:
        lv = ibis.memtable(
            pa.table(
                {
                    "_lw": pa.array(list(levels), pa.int64()),
                    "_lvl": pa.array(list(levels.values()), pa.float64()),
                }
            )
        )
        j = t.inner_join(lv, t._w == lv._lw)
        counted = {
            int(x["_w"]): x
            for x in _rows(
                j.group_by("_w").aggregate(n=j.count(), above=_count(j[r.metric] > j._lvl))
            )
        }
        for k, level in levels.items():
            c = counted.get(k, {})
            out[k] |= {"level": level, "above": int(c.get("above") or 0),
                       "counted": int(c.get("n") or 0)}  # fmt: skip
    return out


def _metric(t: Any, metric: str) -> Any:
    if metric == "cost":
        return t.cost
    if metric == "tokens":
        return _tokens(t)
    raise ConfigError(
        expected("parameter", "metric", f"be one of {', '.join(SPAN_METRICS)}", metric)
    )


def _spend(spans: Any, r: SpanSpend, run: WindowRun) -> dict[int, dict[str, Any]]:
    if r.by is not None and r.by not in SPAN_BY:
        raise ConfigError(expected("parameter", "by", f"be one of {', '.join(SPAN_BY)}", r.by))
    if r.windows < 1:
        raise ConfigError(expected("parameter", "windows", "be an integer >= 1", r.windows))
    t = _windowed(spans, run, run.first - r.windows + 1)
    t = t.mutate(_v=_metric(t, r.metric))
    t = t.filter(t._v.notnull())
    key = t[SPAN_BY[r.by]].fill_null("(none)") if r.by else ibis.literal("all")
    if r.windows == 1:
        t = t.mutate(_k=t._w, _g=key)
    else:
        ks = range(run.first, run.last + 1)
        pairs = [(w, k) for k in ks for w in range(k - r.windows + 1, k + 1)]
        m = ibis.memtable(
            pa.table(
                {
                    "_mw": pa.array([p[0] for p in pairs], pa.int64()),
                    "_k": pa.array([p[1] for p in pairs], pa.int64()),
                }
            )
        )
        t = t.mutate(_g=key)
        t = t.inner_join(m, t._w == m._mw)
    g = t.group_by("_k", "_g").aggregate(value=t._v.sum(), calls=t.count())
    ranked = g.mutate(
        _rn=ibis.row_number().over(group_by=g._k, order_by=[ibis.desc(g.value), g._g])
    )
    top = _rows(ranked.filter(ranked._rn < r.top).order_by(["_k", "_rn"]))
    limit = math.inf if r.limit is None else float(r.limit)
    summary = _rows(
        g.group_by("_k").aggregate(
            groups=g.count(),
            over=_count(g.value > limit),
            total=g.value.sum().fill_null(0.0),
            calls=g.calls.sum().fill_null(0),
        )
    )
    out: dict[int, dict[str, Any]] = {
        int(s["_k"]): {
            "groups": int(s["groups"]),
            "over": int(s["over"]),
            "total": float(s["total"]),
            "calls": int(s["calls"]),
            "top": [],
        }
        for s in summary
    }
    for row in top:
        out[int(row["_k"])]["top"].append(
            {"group": row["_g"], "value": float(row["value"]), "calls": int(row["calls"])}
        )
    return out


_MOD = 1 << 20


def _texts(
    store: Store, model: Any, spans: Any, r: SpanTexts, run: WindowRun
) -> dict[int, pa.Table]:
    if r.field not in ("prompt", "response"):
        raise ConfigError(expected("parameter", "field", "be prompt or response", r.field))
    t = _windowed(spans, run, run.first)
    t = t.filter(_is_llm(t), t[r.field].notnull())
    if r.judged:
        t = t.filter(t.prompt.notnull(), t.response.notnull())
    cols = ["_w", "trace_id", "span_id", "start_time", "model", "user_id", "prompt", "response"]
    t = t.select(*cols).mutate(_h=(t.trace_id.concat(t.span_id)).hash())
    t = t.mutate(_k=(t._h % _MOD).abs())
    ranked = t.mutate(_rn=ibis.row_number().over(group_by=t._w, order_by=[t._k, t._h]))
    picked = ranked.filter(ranked._rn < r.limit)
    if r.judged:
        js = model_spans(store, model)
        js = js.filter(js.span_type == JUDGE_TYPE).select(
            _jt=js.trace_id, _jp=js.parent_span_id, judge_attributes=js.attributes
        )
        picked = picked.left_join(
            js, (picked.trace_id == js._jt) & (picked.span_id == js._jp)
        ).drop("_jt", "_jp")
    table: pa.Table = picked.order_by(["_w", "_rn"]).drop("_rn", "_h", "_k").to_pyarrow()
    out: dict[int, pa.Table] = {}
    if not table.num_rows:
        return out
    ws = table.column("_w").to_pylist()
    for w in sorted(set(ws)):
        mask = pa.array([x == w for x in ws])
        out[int(w)] = table.filter(mask).drop_columns(["_w"])
    return out


def collect_spans(
    store: Store, model: Any, requests: Iterable[SpanRequest], run: WindowRun
) -> dict[SpanRequest, dict[int, Any]]:
    """Every distinct span request over the windows of ``run``."""
    spans = model_spans(store, model)
    out: dict[SpanRequest, dict[int, Any]] = {}
    for r in dict.fromkeys(requests):
        if isinstance(r, SpanTotals):
            out[r] = totals(spans, r, run)
        elif isinstance(r, SpanQuantiles):
            out[r] = _quantiles(spans, r, run)
        elif isinstance(r, SpanSpend):
            out[r] = _spend(spans, r, run)
        elif isinstance(r, SpanTexts):
            out[r] = _texts(store, model, spans, r, run)
        elif isinstance(r, ScoreTotals):
            out[r] = window_totals(model_scores(store, model), r, run)
    return out
