"""Ingest throughput: the real server over HTTP vs a raw DuckDB Arrow append, same data, same run.

Sends 1k-row batches of 20 numeric features (+ a categorical segment) from
concurrent clients, as Arrow IPC and as JSON, to a server process on loopback
with a fresh DuckDB file, and measures sustained events/s (first byte sent to
last acknowledgement: every acknowledged row is durable). The anchor is
DuckDB itself appending the same Arrow data into the same table layout
(no deduplication), once in one transaction and once committing per
1k-row batch.

Beside them, the engines' own idempotent append (``Store.append_events``, 1k-row batches of
validated events, from 4 threads) on DuckDB and on PostgreSQL (binary ``COPY`` into a staging
table, ``INSERT ... ON CONFLICT DO NOTHING``), the PostgreSQL server started here from Debian's
binaries as the tests do (``--no-postgres`` leaves it out); and on ClickHouse (chDB in this
process, under a DuckDB catalog: ``--events chdb://...``), in 1k and in 10k-row batches (every
insert is a part on disk: ClickHouse likes large blocks; ``--no-clickhouse`` leaves it out).

    python bench/ingest.py [--arrow-batches 600] [--json-batches 60] [--clients 16]
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import orjson
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from mlwarden.schema import Feature, ModelSpec, validate_table  # noqa: E402
from mlwarden.store import DuckDBStore, PostgresStore, Store  # noqa: E402
from pgserver import bindir, running_postgres  # noqa: E402
from serverproc import ServerProcess  # noqa: E402

N_FEATURES = 20
BATCH = 1000
SPEC = ModelSpec(
    name="bench",
    task="binary",
    classes=["0", "1"],
    features=[Feature(name=f"f{i}", kind="numeric") for i in range(N_FEATURES)]
    + [Feature(name="region", kind="categorical")],
    segments=["region"],
)


def batch(k: int, rng: np.random.Generator) -> pa.Table:
    score = rng.random(BATCH)
    cols: dict[str, object] = {
        "event_id": [f"b{k}-{i}" for i in range(BATCH)],
        "timestamp": pa.array(
            np.full(BATCH, np.datetime64("2026-03-01T00:00:00", "us")) + np.arange(BATCH)
        ),
        "prediction": (score > 0.5).astype(np.int64),
        "score": score,
    }
    for i in range(N_FEATURES):
        cols[f"f{i}"] = rng.normal(size=BATCH)
    cols["region"] = rng.choice(["eu", "us", "apac"], BATCH)
    return pa.table(cols)


def ipc(t: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, t.schema) as w:
        w.write_table(t)
    return sink.getvalue()


def as_json(t: pa.Table) -> bytes:
    rows = []
    for r in t.to_pylist():
        rows.append(
            {
                "event_id": r["event_id"],
                "timestamp": r["timestamp"].isoformat() + "Z",
                "prediction": r["prediction"],
                "score": r["score"],
                "features": {f"f{i}": r[f"f{i}"] for i in range(N_FEATURES)}
                | {"region": r["region"]},
            }
        )
    return orjson.dumps(rows)


def send(url: str, bodies: list[bytes], ctype: str, clients: int) -> float:
    def worker(chunk: list[bytes]) -> int:
        n = 0
        with httpx.Client(base_url=url, timeout=120, headers={"content-type": ctype}) as http:
            for body in chunk:
                r = http.post("/v1/models/bench/events", content=body)
                if r.status_code != 200:
                    raise RuntimeError(f"HTTP {r.status_code}: {r.text[:200]}")
                n += r.json()["accepted"]
        return n

    chunks = [bodies[i::clients] for i in range(clients)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        accepted = sum(pool.map(worker, chunks))
    secs = time.perf_counter() - t0
    assert accepted == len(bodies) * BATCH
    return accepted / secs


def raw_duckdb(tables: list[pa.Table], *, per_batch: bool) -> float:
    tmp = Path(tempfile.mkdtemp(prefix="mlw-bench-raw-"))
    try:
        store = DuckDBStore(tmp / "raw.duckdb")
        model = store.create_model("default", SPEC)
        canon = [validate_table(SPEC, t).table for t in tables]  # same layout as the server stores
        store.close()
        import duckdb

        con = duckdb.connect(str(tmp / "raw.duckdb"), config={"checkpoint_threshold": "256MB"})
        table = f"events_{model.uid}"
        from mlwarden.store.duckdb_engine import _naive

        canon = [
            _naive(t).append_column(
                "received_at", pa.array([None] * t.num_rows, pa.timestamp("us"))
            )
            for t in canon
        ]
        t0 = time.perf_counter()
        if per_batch:
            for t in canon:
                con.register("b", t)
                con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM b").fetchall()
                con.unregister("b")
        else:
            whole = pa.concat_tables(canon)
            con.register("b", whole)
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM b").fetchall()
            con.unregister("b")
        secs = time.perf_counter() - t0
        n = con.execute(f"SELECT count(*) FROM {table}").fetchone()
        con.close()
        assert n is not None and n[0] == sum(t.num_rows for t in canon)
        return n[0] / secs
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def engine_append(store: Store, tables: list[pa.Table], *, threads: int = 4) -> float:
    """Events/s of the engine's idempotent append of validated 1k-row batches, each
    acknowledged (committed) before it counts; then every batch again: all duplicates."""
    model = store.create_model("default", SPEC)
    canon = [validate_table(SPEC, t).table for t in tables]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        stored = sum(pool.map(lambda t: store.append_events(model, t).result().inserted, canon))
    secs = time.perf_counter() - t0
    assert stored == sum(t.num_rows for t in canon)
    again = sum(store.append_events(model, t).result().inserted for t in canon[:20])
    assert again == 0
    return stored / secs


def chdb_rates(tables: list[pa.Table], tmp: Path) -> list[tuple[str, float, int | None]]:
    """The ClickHouse event engine (chDB) in 1k-row batches, and in 10k-row ones."""
    from mlwarden.store import open_store

    rows: list[tuple[str, float, int | None]] = []
    big = [pa.concat_tables(tables[i : i + 10]) for i in range(0, len(tables), 10)]
    for label, parts, db in (("1k", tables, "bench1k"), ("10k", big, "bench10k")):
        store = open_store(None, events=f"chdb://{tmp / 'chdb'}?database={db}")
        try:
            rate = engine_append(store, parts)
        finally:
            store.close()
        rows.append((f"ClickHouse (chDB) append_events, {label} batches", rate, None))
    return rows


def engine_rates(
    tables: list[pa.Table], *, postgres: bool, clickhouse: bool = True
) -> list[tuple[str, float, int | None]]:
    tmp = Path(tempfile.mkdtemp(prefix="mlw-bench-engine-"))
    rows: list[tuple[str, float, int | None]] = []
    try:
        duck = DuckDBStore(tmp / "engine.duckdb")
        try:
            rows.append(
                ("DuckDB engine append_events, 1k batches", engine_append(duck, tables), None)
            )
        finally:
            duck.close()
        if clickhouse:
            rows += chdb_rates(tables, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if postgres:
        with running_postgres() as srv:
            pg = PostgresStore(srv.create_database("bench"))
            try:
                rate = engine_append(pg, tables)
            finally:
                pg.close()
        rows.append(("PostgreSQL engine append_events (COPY), 1k", rate, 50_000))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--arrow-batches", type=int, default=600)
    ap.add_argument("--json-batches", type=int, default=60)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--engine-batches", type=int, default=300)
    ap.add_argument("--no-postgres", action="store_true", help="leave PostgreSQL out")
    ap.add_argument("--no-clickhouse", action="store_true", help="leave ClickHouse (chDB) out")
    ap.add_argument("--engines-only", action="store_true", help="only the engines' appends")
    args = ap.parse_args()
    postgres = not args.no_postgres and bindir() is not None
    clickhouse = not args.no_clickhouse
    if args.engines_only:
        rng = np.random.default_rng(1)
        engine_tables = [batch(200_000 + k, rng) for k in range(args.engine_batches)]
        for name, rate, target in engine_rates(
            engine_tables, postgres=postgres, clickhouse=clickhouse
        ):
            tgt = f"{target:,}" if target else "-"
            print(f"{name:48} {rate:12,.0f} {tgt:>10}")
        return
    rng = np.random.default_rng(0)
    arrow_tables = [batch(k, rng) for k in range(args.arrow_batches)]
    json_tables = [batch(100_000 + k, rng) for k in range(args.json_batches)]
    arrow_bodies = [ipc(t) for t in arrow_tables]
    json_bodies = [as_json(t) for t in json_tables]

    tmp = Path(tempfile.mkdtemp(prefix="mlw-bench-"))
    srv = ServerProcess(tmp / "data").start()
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as http:
            r = http.post("/v1/models", json=SPEC.model_dump(mode="json"))
            assert r.status_code == 201, r.text
        warm = [ipc(batch(999_999, rng))]
        send(srv.url, warm, "application/vnd.apache.arrow.stream", 1)
        arrow_rate = send(
            srv.url, arrow_bodies, "application/vnd.apache.arrow.stream", args.clients
        )
        json_rate = send(srv.url, json_bodies, "application/json", args.clients)
    finally:
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    raw_once = raw_duckdb(arrow_tables, per_batch=False)
    raw_each = raw_duckdb(arrow_tables, per_batch=True)
    engines = engine_rates(
        arrow_tables[: args.engine_batches], postgres=postgres, clickhouse=clickhouse
    )

    rows = [
        ("mlwarden HTTP, Arrow IPC, 1k-row batches", arrow_rate, 150_000),
        ("mlwarden HTTP, JSON, 1k-row batches", json_rate, 30_000),
        ("raw DuckDB Arrow append, one transaction", raw_once, None),
        ("raw DuckDB Arrow append, commit per 1k batch", raw_each, None),
        *engines,
    ]
    print(
        f"ingest: {N_FEATURES} numeric features + 1 categorical, {args.clients} concurrent clients"
    )
    print(f"{'path':48} {'events/s':>12} {'target':>10} {'vs raw one-txn':>15}")
    for name, rate, target in rows:
        tgt = f"{target:,}" if target else "-"
        print(f"{name:48} {rate:12,.0f} {tgt:>10} {rate / raw_once:14.2f}x")
    print(f"Arrow vs raw per-batch commits: {arrow_rate / raw_each:.2f}x")


if __name__ == "__main__":
    main()
