"""The spans table: idempotent group-committed appends, project isolation, ibis aggregates."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from mlwarden.schema.genai import SPAN_SCHEMA
from mlwarden.store import DuckDBStore
from mlwarden.store import span_queries as sq

T0 = datetime(2026, 1, 1, 10, 0)


def table(rows: list[dict[str, Any]]) -> pa.Table:
    base = {"span_type": "llm", "status_code": "unset", "name": "chat"}
    full = []
    for i, r in enumerate(rows):
        start = r.pop("at", T0 + timedelta(minutes=i))
        full.append({**base, "start_time": start, "end_time": start + timedelta(seconds=1), **r})
    return pa.Table.from_pylist(full, schema=SPAN_SCHEMA)


@pytest.fixture
def store() -> Iterator[DuckDBStore]:
    s = DuckDBStore(":memory:", commit_interval=0.05)
    try:
        yield s
    finally:
        s.close()


def test_appends_are_idempotent_per_project_trace_and_span(store: DuckDBStore) -> None:
    t = table([{"trace_id": "t1", "span_id": f"s{i}", "input_tokens": 10} for i in range(5)])
    assert store.append_spans("p1", t).result().inserted == 5
    again = store.append_spans("p1", t).result()
    assert (again.received, again.inserted, again.duplicates) == (5, 0, 5)
    # the same ids in another project are other spans
    assert store.append_spans("p2", t).result().inserted == 5
    assert store.spans("p1").count().to_pyarrow().as_py() == 5
    assert store.spans("p2").count().to_pyarrow().as_py() == 5


def test_concurrent_requests_share_a_commit_and_each_learns_its_count(store: DuckDBStore) -> None:
    a = table([{"trace_id": "t", "span_id": "a"}, {"trace_id": "t", "span_id": "b"}])
    b = table([{"trace_id": "t", "span_id": "b"}, {"trace_id": "t", "span_id": "c"}])
    fa, fb = store.append_spans("p", a), store.append_spans("p", b)
    ra, rb = fa.result(), fb.result()
    assert (ra.inserted, rb.inserted) == (2, 1)
    assert sorted(store.spans("p").span_id.to_pyarrow().to_pylist()) == ["a", "b", "c"]


def test_usage_is_additive_across_windows(store: DuckDBStore) -> None:
    rows = [
        {"trace_id": "t1", "span_id": "1", "model": "gpt-4o", "user_id": "u1", "input_tokens": 100,
         "output_tokens": 10, "cache_read_tokens": 40, "cost": 0.002, "at": T0},
        {"trace_id": "t2", "span_id": "2", "model": "gpt-4o", "user_id": "u2", "input_tokens": 50,
         "output_tokens": 5, "cost": 0.001, "at": T0 + timedelta(hours=1)},
        {"trace_id": "t3", "span_id": "3", "model": "mystery", "user_id": "u1", "input_tokens": 7,
         "at": T0 + timedelta(hours=1)},
        {"trace_id": "t4", "span_id": "4", "model": "gpt-4o", "at": T0 + timedelta(hours=2),
         "status_code": "error"},
    ]  # fmt: skip
    store.append_spans("p", table(rows)).result()
    spans = store.spans("p")
    hourly = sq.usage(spans, window="hour", by="model").to_pylist()
    whole = sq.usage(spans, window=None, by="model").to_pylist()
    gpt = [r for r in hourly if r["model"] == "gpt-4o"]
    assert len(gpt) == 3
    total = next(r for r in whole if r["model"] == "gpt-4o")
    for col in (
        "spans",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "errors",
        "usage_missing",
    ):
        assert sum(r[col] for r in gpt) == total[col]
    assert total["cost"] == pytest.approx(0.003) and total["usage_missing"] == 1
    mystery = next(r for r in whole if r["model"] == "mystery")
    assert (mystery["unpriced"], mystery["priced"]) == (1, 0)
    by_user = {
        r["user"]: r["input_tokens"] for r in sq.usage(spans, window=None, by="user").to_pylist()
    }
    assert by_user == {"u1": 107, "u2": 50, None: 0}


def test_flag_counts_and_filters(store: DuckDBStore) -> None:
    rows = [
        {"trace_id": "t", "span_id": "1", "prompt": "p", "response": "r", "pii_in_prompt": True,
         "pii_in_response": False, "injection": False, "refusal": False},
        {"trace_id": "t", "span_id": "2", "prompt": "p", "response": "r", "pii_in_prompt": False,
         "pii_in_response": False, "injection": True, "refusal": True, "json_valid": False},
        {"trace_id": "u", "span_id": "3", "prompt": "p", "response": "{}", "pii_in_prompt": False,
         "pii_in_response": False, "injection": False, "refusal": False, "json_valid": True},
    ]  # fmt: skip
    store.append_spans("p", table(rows)).result()
    (c,) = sq.flag_counts(store.spans("p"), window=None).to_pylist()
    assert c["spans"] == 3 and c["with_prompt"] == 3 and c["json_checked"] == 2
    assert (c["pii_in_prompt"], c["injection"], c["refusal"], c["json_invalid"], c["flagged"]) == (
        1, 1, 1, 1, 2,
    )  # fmt: skip
    flagged = sq.filter_spans(store.spans("p"), flagged=True).span_id.to_pyarrow().to_pylist()
    assert sorted(flagged) == ["1", "2"]
    assert list(
        sq.filter_spans(store.spans("p"), flag="json_invalid").span_id.to_pyarrow().to_pylist()
    ) == ["2"]
    assert list(
        sq.filter_spans(store.spans("p"), flagged=False).span_id.to_pyarrow().to_pylist()
    ) == ["3"]


def test_pages_walk_every_span_once_newest_first(store: DuckDBStore) -> None:
    same = T0 + timedelta(minutes=30)
    rows = [{"trace_id": f"t{i % 3}", "span_id": f"s{i:02d}", "at": same if i < 6 else T0 + timedelta(minutes=i)}
            for i in range(25)]  # fmt: skip
    store.append_spans("p", table(rows)).result()
    seen: list[str] = []
    cursor = None
    while True:
        page, cursor = sq.page_spans(store.spans("p"), limit=4, cursor=cursor)
        times = page.column("start_time").to_pylist()
        assert times == sorted(times, reverse=True)
        seen += page.column("span_id").to_pylist()
        if cursor is None:
            break
    assert sorted(seen) == sorted(r["span_id"] for r in rows) and len(seen) == 25


def test_retention_deletes_old_spans() -> None:
    s = DuckDBStore(":memory:", retention_days=1)
    try:
        old = {"trace_id": "t", "span_id": "old", "at": T0}
        new = {"trace_id": "t", "span_id": "new", "at": T0 + timedelta(days=3)}
        s.append_spans("p", table([old, new])).result()
        s.apply_retention(now=T0 + timedelta(days=3, hours=1))
        assert list(s.spans("p").span_id.to_pyarrow().to_pylist()) == ["new"]
    finally:
        s.close()
