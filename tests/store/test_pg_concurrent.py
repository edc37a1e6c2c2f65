"""Two PostgreSQL stores (as two server processes would hold) on one database, ingesting
overlapping batches at once: every acknowledged event is stored exactly once, the inserted
counts add up to the distinct ids, and no request fails on the other's keys."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from mlwarden.schema import Feature, ModelSpec, validate_rows
from mlwarden.store import PostgresStore
from pgserver import PostgresServer

SPEC = ModelSpec(name="m", task="regression", features=[Feature(name="x", kind="numeric")])
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def batch(ids: list[int]) -> pa.Table:
    rows = [
        {
            "event_id": f"e{i}",
            "timestamp": (T0 + timedelta(seconds=i)).isoformat(),
            "features": {"x": float(i)},
            "prediction": float(i),
        }
        for i in ids
    ]
    return validate_rows(SPEC, rows).table


def test_two_writers_store_each_event_once(pg_server: PostgresServer) -> None:
    url = pg_server.create_database("two_writers")
    stores = [PostgresStore(url), PostgresStore(url)]
    try:
        model = stores[0].create_model("p", SPEC)
        assert stores[1].create_model("p", SPEC).uid == model.uid
        # both writers send the same overlapping batches at once, A's rows in ascending and
        # B's in descending id order: each transaction waits on keys the other inserted
        plans = [
            [list(range(k, k + 2000)) for k in range(0, 8000, 1000)],
            [sorted(range(k, k + 2000), reverse=True) for k in range(0, 8000, 1000)],
        ]
        inserted = [0, 0]
        errors: list[BaseException] = []
        barrier = threading.Barrier(2)

        def run(w: int) -> None:
            barrier.wait(timeout=30)
            for ids in plans[w]:
                try:
                    inserted[w] += stores[w].append_events(model, batch(ids)).result().inserted
                except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                    errors.append(exc)

        threads = [threading.Thread(target=run, args=(w,)) for w in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert errors == []
        distinct = {i for plan in plans for ids in plan for i in ids}
        assert sum(inserted) == len(distinct) == 9000
        ev = stores[1].events(model)
        assert ev.count().to_pyarrow().as_py() == len(distinct)
        assert ev.event_id.nunique().to_pyarrow().as_py() == len(distinct)
    finally:
        for s in stores:
            s.close()


def test_two_servers_fold_a_models_incidents_one_at_a_time(pg_server: PostgresServer) -> None:
    """The incident guard spans processes: while one store (server) folds a model's
    incidents, another on the same database waits; a server that dies frees it."""
    url = pg_server.create_database("incident_guard")
    a, b = PostgresStore(url), PostgresStore(url)
    try:
        entered = threading.Event()

        def other() -> None:
            with b.incident_guard("p", "m"):
                entered.set()

        with a.incident_guard("p", "m"):
            t = threading.Thread(target=other)
            t.start()
            with b.incident_guard("p", "n"):  # another model: no wait
                pass
            assert not entered.wait(0.5), "the other server folded while this one held the guard"
        assert entered.wait(60), "the other server never got the guard"
        t.join(30)
    finally:
        a.close()
        b.close()
