"""Contract of :class:`mlwarden.store.protocols.SpanLog`: spans appended idempotently with exact
counts, trace attribution across requests, texts filled from logs, costs set, scores upserted,
log records and metric points appended, reads in order."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from mlwarden.schema.genai import SPAN_SCHEMA
from mlwarden.schema.otlp_logs import LOG_SCHEMA, TEXT_COLUMNS
from mlwarden.schema.otlp_metrics import METRIC_SCHEMA
from mlwarden.schema.scores import SCORE_SCHEMA
from mlwarden.schema.spec import ModelSpec
from mlwarden.store import Store
from mlwarden.store.protocols import SpanLog

PROTOCOL = SpanLog

T0 = datetime(2026, 3, 1)


def spans(n: int, *, trace: str = "t", first: int = 0, **cols: Any) -> pa.Table:
    """``n`` LLM spans of trace ``trace`` (span ids ``s<first>``...), the first the root."""
    rows = []
    for i in range(first, first + n):
        rows.append(
            {
                "trace_id": trace,
                "span_id": f"s{i}",
                "parent_span_id": None if i == 0 else "s0",
                "name": "chat",
                "span_type": "llm",
                "start_time": T0 + timedelta(seconds=i),
                "end_time": T0 + timedelta(seconds=i, milliseconds=250),
                "duration_ms": 250.0 + i,
                "status_code": "ok",
                "service_name": "bot",
                "model": "gpt-x",
                "input_tokens": 10 + i,
                "output_tokens": 5,
                "cost": 0.001 * (i + 1),
                **cols,
            }
        )
    full = [{f.name: r.get(f.name) for f in SPAN_SCHEMA} for r in rows]
    return pa.Table.from_pylist(full, schema=SPAN_SCHEMA)


def count(expr: Any) -> int:
    return int(expr.count().to_pyarrow().as_py())


def stored(engine: Store, project: str = "p") -> list[dict[str, Any]]:
    t = engine.spans(project)
    out: list[dict[str, Any]] = t.order_by(["trace_id", "span_id"]).to_pyarrow().to_pylist()
    return out


def test_the_engine_is_a_span_log(engine: Store) -> None:
    assert isinstance(engine, SpanLog)


def test_resent_spans_are_stored_once_with_exact_counts(engine: Store) -> None:
    first = engine.append_spans("p", spans(10)).result()
    again = engine.append_spans("p", spans(10, first=5)).result()
    twice = spans(3, first=20)
    inside = engine.append_spans("p", pa.concat_tables([twice, twice])).result()
    other = engine.append_spans("q", spans(4)).result()  # same ids, another project
    assert (first.received, first.inserted) == (10, 10)
    assert (again.received, again.inserted, again.duplicates) == (10, 5, 5)
    assert (inside.received, inside.inserted) == (6, 3)
    assert (other.received, other.inserted) == (4, 4)
    assert engine.append_spans("p", spans(0)).result().inserted == 0
    assert count(engine.spans("p")) == 18 and count(engine.spans("q")) == 4
    rows = stored(engine)
    assert [r["span_id"] for r in rows] == sorted(f"s{i}" for i in [*range(15), *range(20, 23)])
    assert all(r["project"] == "p" and r["received_at"] is not None for r in rows)
    s3 = next(r for r in rows if r["span_id"] == "s3")
    assert (s3["input_tokens"], s3["duration_ms"], s3["start_time"]) == (
        13,
        253.0,
        T0 + timedelta(seconds=3),
    )


def test_user_session_and_model_reach_every_span_of_a_trace(engine: Store) -> None:
    # the root (with user and session) comes in a later request than its children
    engine.append_spans("p", spans(3, first=1, user_id=None, session_id=None)).result()
    engine.append_spans("p", spans(1, user_id="u1", session_id="sess")).result()
    rows = stored(engine)
    assert [(r["span_id"], r["user_id"], r["session_id"]) for r in rows] == [
        ("s0", "u1", "sess"),
        ("s1", "u1", "sess"),
        ("s2", "u1", "sess"),
        ("s3", "u1", "sess"),
    ]


def test_texts_from_logs_fill_spans_without_texts_once(engine: Store) -> None:
    engine.append_spans("p", spans(2)).result()
    engine.append_spans("p", spans(1, first=2, prompt="own", content_source="span")).result()
    texts = pa.table(
        {
            "trace_id": ["t", "t", "t", "nope"],
            "span_id": ["s0", "s1", "s2", "s0"],
            "prompt": ["hi", "hello", "overwritten?", "x"],
            "response": ["yo", None, "no", "x"],
            "content_source": ["logs"] * 4,
            "finish_reason": ["stop", None, "stop", None],
            "pii_in_prompt": [True, False, False, False],
            "pii_in_response": [False] * 4,
            "injection": [False] * 4,
            "injection_score": [0.25, 0.0, 0.0, 0.0],
            "refusal": [False] * 4,
            "findings": ['["pii"]', None, None, None],
        }
    ).select(list(("trace_id", "span_id", *TEXT_COLUMNS)))
    assert engine.fill_span_texts("p", texts).result() == 2
    rows = {r["span_id"]: r for r in stored(engine)}
    assert (rows["s0"]["prompt"], rows["s0"]["response"], rows["s0"]["finish_reason"]) == (
        "hi",
        "yo",
        "stop",
    )
    assert rows["s0"]["pii_in_prompt"] is True and rows["s0"]["injection_score"] == 0.25
    assert (rows["s1"]["prompt"], rows["s1"]["content_source"]) == ("hello", "logs")
    assert (rows["s2"]["prompt"], rows["s2"]["content_source"]) == ("own", "span")
    # logs re-sent: texts from logs are replaced by the same, still counted as set
    assert engine.fill_span_texts("p", texts).result() == 2
    assert engine.fill_span_texts("q", texts).result() == 0  # another project's spans: none


def test_costs_are_set_except_reported_ones(engine: Store) -> None:
    engine.append_spans("p", spans(2, cost=None)).result()
    engine.append_spans("p", spans(1, first=2, cost=0.5, cost_source="reported")).result()
    costs = pa.table(
        {
            "trace_id": ["t", "t", "t"],
            "span_id": ["s0", "s1", "s2"],
            "cost": [0.01, 0.02, 0.03],
            "price_version": ["v2"] * 3,
            "cost_source": ["table"] * 3,
        }
    )
    assert engine.set_span_costs("p", costs).result() == 2
    assert engine.set_span_costs("p", costs).result() == 0  # nothing changes a second time
    rows = {r["span_id"]: r for r in stored(engine)}
    assert [(rows[s]["cost"], rows[s]["cost_source"]) for s in ("s0", "s1", "s2")] == [
        (0.01, "table"),
        (0.02, "table"),
        (0.5, "reported"),
    ]
    recost = costs.set_column(2, "cost", pa.array([0.1, 0.2, 0.3]))
    assert engine.set_span_costs("p", recost).result() == 2


def scores(ids: list[str], value: float) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "id": i,
                "trace_id": "t",
                "span_id": None,
                "session_id": None,
                "name": "helpful",
                "data_type": "numeric",
                "value": value,
                "label": None,
                "comment": None,
                "source": "api",
                "ts": T0,
            }
            for i in ids
        ],
        schema=SCORE_SCHEMA,
    )


def test_scores_upsert_by_id_with_exact_counts(engine: Store) -> None:
    assert engine.put_scores("p", scores(["a", "b"], 1.0)).result() == (2, 0)
    assert engine.put_scores("p", scores(["b", "c"], 0.5)).result() == (1, 1)
    assert engine.put_scores("q", scores(["a"], 0.0)).result() == (1, 0)
    t = engine.scores("p")
    rows = t.order_by("id").to_pyarrow().to_pylist()
    assert [(r["id"], r["value"], r["project"]) for r in rows] == [
        ("a", 1.0, "p"),
        ("b", 0.5, "p"),
        ("c", 0.5, "p"),
    ]
    assert count(engine.scores("q")) == 1


def test_log_records_and_metric_points_are_appended(engine: Store) -> None:
    logs = pa.Table.from_pylist(
        [
            {"project": "p", "trace_id": f"t{i % 2}", "span_id": "s0", "time": T0,
             "event_name": "gen_ai.user.message", "severity": "INFO", "service_name": "bot",
             "attributes": "{}", "body": f'{{"content": "m{i}"}}'}
            for i in range(5)
        ],
        schema=LOG_SCHEMA,
    )  # fmt: skip
    assert engine.append_span_logs("p", logs).result() == 5
    assert count(engine.span_logs("p")) == 5 and count(engine.span_logs("q")) == 0
    found = engine.span_logs_of("p", ["t1"])
    assert sorted(found.column("body").to_pylist()) == ['{"content": "m1"}', '{"content": "m3"}']
    assert set(LOG_SCHEMA.names) <= set(found.column_names)
    assert engine.span_logs_of("p", []).num_rows == 0
    points = pa.Table.from_pylist(
        [
            {"project": "p", "service_name": "bot", "name": "gen_ai.client.token.usage",
             "unit": "{token}", "kind": "histogram", "temporality": "delta",
             "start_time": T0, "time": T0 + timedelta(minutes=i), "model": "gpt-x",
             "operation": "chat", "token_type": "input", "value": None, "count": 2,
             "sum": 10.0 * i, "min": 1.0, "max": 9.0, "bounds": "[1,10]",
             "bucket_counts": "[1,1,0]", "attributes": "{}"}
            for i in range(3)
        ],
        schema=METRIC_SCHEMA,
    )  # fmt: skip
    assert engine.append_metric_points("p", points).result() == 3
    got = engine.metric_points("p").order_by("time").to_pyarrow().to_pylist()
    assert [r["sum"] for r in got] == [0.0, 10.0, 20.0] and got[0]["count"] == 2
    assert got[2]["time"] == T0 + timedelta(minutes=2)


def test_spans_read_back_in_time_order_across_requests(engine: Store) -> None:
    engine.append_spans("p", spans(3, trace="b", first=3)).result()
    engine.append_spans("p", spans(3, trace="a")).result()
    t = engine.spans("p")
    got = t.order_by([t.start_time, t.trace_id]).select("trace_id", "span_id").to_pyarrow()
    assert got.to_pylist() == [{"trace_id": "a", "span_id": f"s{i}"} for i in range(3)] + [
        {"trace_id": "b", "span_id": f"s{i}"} for i in range(3, 6)
    ]


def test_deleting_an_llm_app_takes_its_spans_and_their_scores(engine: Store) -> None:
    engine.append_spans("p", spans(4)).result()
    engine.append_spans("p", spans(2, trace="other", service_name="elsewhere")).result()
    engine.put_scores("p", scores(["a", "b"], 1.0)).result()  # of trace "t"
    engine.create_model("p", ModelSpec(name="bot", task="llm", prediction=None))
    twin = ModelSpec(name="twin", task="llm", prediction=None, service="bot")
    engine.create_model("p", twin)
    kept = engine.delete_model("p", "twin")  # "bot" still reads the service's spans
    assert kept.get("spans", 0) == 0 and count(engine.spans("p")) == 6
    removed = engine.delete_model("p", "bot")
    assert (removed["spans"], removed["scores"]) == (4, 2)
    assert [r["trace_id"] for r in stored(engine)] == ["other", "other"]
    assert count(engine.scores("p")) == 0
