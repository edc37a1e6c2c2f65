"""Two PostgreSQL stores (as two server processes would hold) on one database, ingesting the
spans of the same traces at once, in overlapping batches: every span is stored once, the
inserted counts add up to the distinct spans, no request fails (no deadlock between the
inserts and the trace attribution's updates), and every span of a trace ends up with its
user and session, whichever server got its root."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pyarrow as pa

from mlwarden.schema.genai import SPAN_SCHEMA
from mlwarden.store import PostgresStore
from pgserver import PostgresServer

T0 = datetime(2026, 3, 1)
TRACES, SPANS = 200, 3  # span 0 of each trace is its root, with the user and the session


def batch(keys: list[tuple[int, int]]) -> pa.Table:
    rows = []
    for t, s in keys:
        rows.append(
            {f.name: None for f in SPAN_SCHEMA}
            | {
                "trace_id": f"t{t}",
                "span_id": f"s{s}",
                "parent_span_id": None if s == 0 else "s0",
                "span_type": "llm",
                "service_name": "bot",
                "start_time": T0 + timedelta(seconds=t * 10 + s),
                "duration_ms": float(s),
                **({"user_id": f"u{t % 3}", "session_id": f"c{t}"} if s == 0 else {}),
            }
        )
    return pa.Table.from_pylist(rows, schema=SPAN_SCHEMA)


def test_two_writers_store_each_span_once_and_attribute_every_trace(
    pg_server: PostgresServer,
) -> None:
    url = pg_server.create_database("two_span_writers")
    stores = [PostgresStore(url), PostgresStore(url)]
    keys = [(t, s) for t in range(TRACES) for s in range(SPANS)]
    # writer 0 sends the traces' children, writer 1 their roots with the first child, in
    # small batches at once: without one writer per trace at a time, a root and its
    # children committed together each missed the other (some 10 spans of 600 kept no user)
    children = [k for k in keys if k[1] > 0]
    roots = [k for k in keys if k[1] < 2]
    plans = [
        [children[i : i + 4] for i in range(0, len(children), 4)],
        [roots[i : i + 4] for i in range(0, len(roots), 4)],
    ]
    inserted = [0, 0]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run(w: int) -> None:
        try:
            start.wait(timeout=30)
            for part in plans[w]:
                inserted[w] += stores[w].append_spans("p", batch(part)).result().inserted
        except BaseException as exc:  # reported below: a thread's failure fails the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in (0, 1)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert not any(t.is_alive() for t in threads)
        assert errors == []
        assert sum(inserted) == len(keys)
        spans = stores[0].spans("p").to_pyarrow()
        assert spans.num_rows == len(keys)
        got = {
            (r["trace_id"], r["span_id"]): (r["user_id"], r["session_id"])
            for r in spans.select(["trace_id", "span_id", "user_id", "session_id"]).to_pylist()
        }
        assert got == {(f"t{t}", f"s{s}"): (f"u{t % 3}", f"c{t}") for t, s in keys}
    finally:
        for s in stores:
            s.close()
