"""The span aggregates LLM pages and monitors use, on the same seeded spans, scores and metric
points in DuckDB and PostgreSQL, compared value for value: counts and quantiles exactly,
floating sums within 1e-9 relative (the sibling of ``test_engines_agree.py`` for events).

Both engines run the same ibis code (:mod:`mlwarden.store.span_aggregates`,
:mod:`~mlwarden.store.llm_breakdown`, :mod:`~mlwarden.store.llm_sessions`,
:mod:`~mlwarden.store.span_queries`, :mod:`~mlwarden.store.score_queries`,
:mod:`~mlwarden.store.metric_queries`); PostgreSQL's continuous quantiles are DuckDB's
interpolation (:mod:`mlwarden.store.pg_quantiles`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from llm_spans import llm_spans
from mlwarden.cli.llm_simulator import LlmScenario
from mlwarden.schema.otlp_metrics import METRIC_SCHEMA
from mlwarden.schema.scores import validate_scores
from mlwarden.schema.spec import ModelSpec
from mlwarden.store import (
    DuckDBStore,
    PostgresStore,
    Store,
    llm_breakdown,
    llm_sessions,
    metric_queries,
    span_queries,
)
from mlwarden.store.aggregates import WindowRun
from mlwarden.store.score_queries import ScoreTotals
from mlwarden.store.span_aggregates import (
    SpanQuantiles,
    SpanSpend,
    SpanTotals,
    collect_spans,
)
from pgserver import PostgresServer

START = datetime(2026, 1, 5, tzinfo=UTC)
SCENARIO = LlmScenario(days=3, calls_per_day=300, start=START, service="bot", seed=11)
SPEC = ModelSpec(name="bot", task="llm", prediction=None)
END = START + timedelta(days=SCENARIO.days)
#: six-hour windows over the three days, the first three the history of the others
RUN = WindowRun(origin=START, cadence=timedelta(hours=6), first=3, last=11)

QUANTILES = [
    SpanQuantiles(metric=m, quantile=q, history=3)
    for m in ("duration_ms", "ttft_ms")
    for q in (0.5, 0.95)
]
REQUESTS = [
    SpanTotals(history=3),
    *QUANTILES,
    *(SpanSpend(metric="cost", by=b, windows=2, limit=0.01)
      for b in ("model", "user", "session", None)),
    SpanSpend(metric="tokens", by="model", windows=2, limit=500.0),
    ScoreTotals(name="user_feedback", history=3),
    ScoreTotals(name="rating", history=3),
]  # fmt: skip


def _seed(store: Store) -> Any:
    spans = llm_spans(SCENARIO, project="p")
    # re-sent halfway: idempotent appends leave the same rows on both engines
    assert store.append_spans("p", spans).result().inserted == spans.num_rows
    assert store.append_spans("p", spans.slice(0, 500)).result().inserted == 0
    ids = spans.column("trace_id").to_pylist()
    times = spans.column("start_time").to_pylist()
    items = [
        {"id": f"f{i}", "trace_id": t, "name": "user_feedback", "value": i % 7 != 0,
         "timestamp": ts.replace(tzinfo=UTC).isoformat()}
        for i, (t, ts) in enumerate(zip(ids, times, strict=True)) if i % 3 == 0
    ] + [
        {"id": f"r{i}", "trace_id": t, "name": "rating", "value": (i * 37 % 11) / 10,
         "timestamp": ts.replace(tzinfo=UTC).isoformat()}
        for i, (t, ts) in enumerate(zip(ids, times, strict=True)) if i % 5 == 0
    ]  # fmt: skip
    store.put_scores("p", validate_scores(items).table).result()
    store.append_metric_points("p", _points()).result()
    return store.create_model("p", SPEC)


def _points() -> pa.Table:
    rows = []
    for i in range(200):
        rows.append(
            {"project": "p", "service_name": "bot", "name": "gen_ai.client.token.usage",
             "unit": "{token}", "kind": "histogram",
             "temporality": "cumulative" if i % 4 == 0 else "delta",
             "start_time": START.replace(tzinfo=None),
             "time": (START + timedelta(minutes=7 * i)).replace(tzinfo=None),
             "model": f"m{i % 3}", "operation": "chat",
             "token_type": "input" if i % 2 else "output", "value": None, "count": i % 9 + 1,
             "sum": 10.0 * i + 0.1, "min": 0.5 * (i % 5), "max": 100.0 + i,
             "bounds": "[1,10]", "bucket_counts": "[1,1,0]", "attributes": f'{{"i":{i % 2}}}'}
        )  # fmt: skip
    return pa.Table.from_pylist(rows, schema=METRIC_SCHEMA)


@pytest.fixture(scope="module")
def engines(pg_server: PostgresServer) -> Iterator[tuple[tuple[Store, Any], tuple[Store, Any]]]:
    duck = DuckDBStore(":memory:")
    pg = PostgresStore(pg_server.create_database("span_agree"))
    try:
        yield (duck, _seed(duck)), (pg, _seed(pg))
    finally:
        duck.close()
        pg.close()


def same(a: Any, b: Any, path: str = "", *, exact: bool = False) -> None:
    """``a`` and ``b`` equal, floats within 1e-9 relative unless ``exact``."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert sorted(a, key=str) == sorted(b, key=str), path
        for k in a:
            same(a[k], b[k], f"{path}.{k}", exact=exact)
    elif isinstance(a, list | tuple) and isinstance(b, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{path}[{i}]", exact=exact)
    elif isinstance(a, float) and isinstance(b, float | int) and not isinstance(b, bool):
        if exact:
            assert a == b, f"{path}: {a!r} != {b!r}"
        else:
            assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), f"{path}: {a!r} != {b!r}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def test_the_engines_store_the_same_spans(engines: Any) -> None:
    (duck, _), (pg, _) = engines
    cols = ["trace_id", "span_id", "user_id", "session_id", "model", "cost", "duration_ms"]
    a, b = (
        s.spans("p").select(cols).order_by(["trace_id", "span_id"]).to_pyarrow() for s in (duck, pg)
    )
    assert a.num_rows > 1000
    same(a.to_pylist(), b.to_pylist(), exact=True)


def test_window_aggregates_of_monitors_agree(engines: Any) -> None:
    (duck, dm), (pg, pm) = engines
    a = collect_spans(duck, dm, REQUESTS, RUN)
    b = collect_spans(pg, pm, REQUESTS, RUN)
    assert a.keys() == b.keys()
    for r in REQUESTS:
        same(a[r], b[r], repr(r), exact=isinstance(r, SpanQuantiles))
    counted = [w for r in QUANTILES for w in a[r].values() if w["value"] is not None]
    assert len(counted) == len(QUANTILES) * 9  # every window has calls: nothing vacuous
    assert a[REQUESTS[0]][RUN.last]["current"]["cost"] > 0


@pytest.mark.parametrize("by", sorted(llm_breakdown.DIMENSIONS))
def test_breakdowns_of_the_llm_pages_agree(engines: Any, by: str) -> None:
    (duck, _), (pg, _) = engines
    for window in (None, "day"):
        args: dict[str, Any] = {"by": by, "window": window, "start": START, "end": END}
        a = llm_breakdown.breakdown(duck.spans("p"), **args)
        b = llm_breakdown.breakdown(pg.spans("p"), **args)
        assert a, by
        keys = {"latency_p50", "latency_p95", "ttft_p50", "ttft_p95"}
        same([{k: v for k, v in r.items() if k in keys} for r in a],
             [{k: v for k, v in r.items() if k in keys} for r in b], by, exact=True)  # fmt: skip
        same(a, b, by)


def test_sessions_users_usage_and_metrics_agree(engines: Any) -> None:
    (duck, _), (pg, _) = engines
    for args in ({}, {"flagged": True}, {"min_cost": 0.002, "limit": 10, "offset": 3}):
        a = llm_sessions.sessions(duck.spans("p"), start=START, end=END, **args)
        b = llm_sessions.sessions(pg.spans("p"), start=START, end=END, **args)
        assert a[1] > 0
        same(a, b, str(args))
    for sort in llm_sessions.USER_SORTS:
        a2 = llm_sessions.users(duck.spans("p"), duck.scores("p"), sort=sort, limit=15)
        b2 = llm_sessions.users(pg.spans("p"), pg.scores("p"), sort=sort, limit=15)
        assert a2
        same(a2, b2, sort)
    for by in ("model", None):
        same(
            span_queries.usage(duck.spans("p"), by=by).to_pylist(),
            span_queries.usage(pg.spans("p"), by=by).to_pylist(),
            f"usage by {by}",
        )
        same(
            span_queries.flag_counts(duck.spans("p"), by=by).to_pylist(),
            span_queries.flag_counts(pg.spans("p"), by=by).to_pylist(),
            f"flags by {by}",
        )
    a3 = metric_queries.summary(duck.metric_points("p"))
    assert a3
    same(a3, metric_queries.summary(pg.metric_points("p")), "metric points")


def test_postgres_own_percentile_cont_would_not_agree(engines: Any) -> None:
    """What the engine's quantile changes: PostgreSQL's ``percentile_cont`` differs from
    DuckDB's in the last bit on these windows, the engine's quantile does not."""
    (duck, dm), (pg, _) = engines
    r = QUANTILES[1]
    want = collect_spans(duck, dm, [r], RUN)[r]
    lo, hi = RUN.range_start.replace(tzinfo=None), RUN.range_end.replace(tzinfo=None)
    secs = int(RUN.cadence.total_seconds())
    origin = int(RUN.origin.timestamp())
    rows = pg._read(
        f"SELECT floor((extract(epoch FROM start_time) - {origin}) / {secs})::int AS w, "
        "percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) FROM spans "
        "WHERE project = 'p' AND span_type = 'llm' AND service_name = 'bot' "
        "AND duration_ms IS NOT NULL AND start_time >= ? AND start_time < ? GROUP BY w",
        [lo, hi],
    )
    theirs = {int(w): v for w, v in rows}
    assert set(theirs) == set(want)
    assert all(math.isclose(theirs[w], want[w]["value"], rel_tol=1e-12) for w in want)
    assert any(theirs[w] != want[w]["value"] for w in want), "no window tells them apart"
