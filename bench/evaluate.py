"""Evaluate every monitor of a 50-feature model over 10M stored events (DuckDB file).

Events are generated inside DuckDB (30 days, 40 numeric + 10 categorical features, a binary
prediction and score, labels for half). Two figures: a scheduler tick (the latest closed
day, all monitors, whole model), and a full backfill of all 30 daily windows; each round
prints the load average, and how the backfill compares with 30 separate ticks (below 1:
the windows share their scans).

The same model, monitors and generated data (the same SQL shape, generated inside the engine)
are then evaluated on PostgreSQL, on a throw-away server started from Debian's binaries as the
tests do (``--pg-events N`` sets its size, default the same as DuckDB's; ``--pg-events 0``
leaves it out).

    python bench/evaluate.py [--events 10000000] [--features 50] [--rounds 1] [--pg-events N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from mlwarden.monitors.evaluate import evaluate  # noqa: E402
from mlwarden.monitors.suite import MonitorSuite, auto_monitors  # noqa: E402
from mlwarden.schema import Feature, ModelSpec  # noqa: E402
from mlwarden.store import DuckDBStore, PostgresStore, Store  # noqa: E402
from pgserver import bindir, running_postgres  # noqa: E402

DAYS = 30
START = datetime(2026, 3, 2, tzinfo=UTC)


def spec_of(n_num: int, n_cat: int) -> ModelSpec:
    feats = [Feature(name=f"n{i}", kind="numeric") for i in range(n_num)]
    feats += [Feature(name=f"c{i}", kind="categorical") for i in range(n_cat)]
    return ModelSpec(
        name="bench",
        task="binary",
        classes=["0", "1"],
        features=feats,
        score="score",
        prediction="prediction",
        target="target",
    )


def reference(n_num: int, n_cat: int, rows: int = 50_000) -> pa.Table:
    rng = np.random.default_rng(0)
    cols: dict[str, object] = {f"n{i}": rng.normal(size=rows) for i in range(n_num)}
    cols |= {f"c{i}": rng.choice([f"v{k}" for k in range(8)], rows) for i in range(n_cat)}
    score = rng.random(rows)
    cols |= {
        "score": score,
        "prediction": (score > 0.5).astype(int),
        "target": (rng.random(rows) < score).astype(int),
    }
    return pa.table(cols)


def generate(store: DuckDBStore, model: Any, events: int, n_num: int, n_cat: int) -> None:
    """``events`` events over DAYS days from START, generated inside DuckDB, labels for half."""
    num = ", ".join(f"random() * 2 - 1 AS n{i}" for i in range(n_num))
    cat = ", ".join(f"'v' || CAST(floor(random() * 8) AS INTEGER) AS c{i}" for i in range(n_cat))
    span = DAYS * 86400
    sql = (
        f"INSERT INTO events_{model.uid} BY NAME SELECT 'e' || i AS event_id, 'v1' AS version, "
        f"TIMESTAMP '{START:%Y-%m-%d}' + to_microseconds(CAST(i * {span} * 1e6 / {events} AS BIGINT)) AS ts, "
        f"CASE WHEN s > 0.5 THEN '1' ELSE '0' END AS prediction, s AS score, "
        f"random() * 40 AS latency_ms, 'ok' AS status, {num}, {cat} "
        "FROM (SELECT i, random() AS s FROM range({lo}, {hi}) r(i))"
    )
    step = 1_000_000
    for lo in range(0, events, step):  # chunks: each one a transaction of the writer
        chunk = sql.format(lo=lo, hi=min(lo + step, events))
        store._call(lambda con, q=chunk: con.execute(q).fetchall())
    store._call(
        lambda con: con.execute(
            f"INSERT INTO actuals_{model.uid} SELECT event_id, CASE WHEN random() < score THEN '1' ELSE '0' END, "
            f"NULL, ts, ts FROM events_{model.uid} WHERE hash(event_id) % 2 = 0"
        ).fetchall()
    )


def generate_pg(
    store: PostgresStore, url: str, model: Any, events: int, n_num: int, n_cat: int
) -> None:
    """The same data as :func:`generate`, in PostgreSQL's SQL: one seed row through the engine's
    own append (which lays out the table), then ``generate_series`` in 1M-row transactions."""
    import psycopg

    seed = {"event_id": ["seed"], "version": ["v1"], "ts": [START], "prediction": ["0"]}
    seed |= {"score": [0.5], "latency_ms": [1.0], "status": ["ok"]}
    seed |= {f"n{i}": [0.0] for i in range(n_num)} | {f"c{i}": ["v0"] for i in range(n_cat)}
    store.append_events(model, pa.table(seed)).result()
    num = ", ".join(f"random() * 2 - 1 AS n{i}" for i in range(n_num))
    cat = ", ".join(f"'v' || floor(random() * 8)::int AS c{i}" for i in range(n_cat))
    names = ", ".join(
        ["event_id", "version", "ts", "prediction", "score", "latency_ms", "status"]
        + [f"n{i}" for i in range(n_num)]
        + [f"c{i}" for i in range(n_cat)]
    )
    span = DAYS * 86400
    sql = (
        f"INSERT INTO events_{model.uid} ({names}) SELECT 'e' || i, 'v1', "
        f"TIMESTAMP '{START:%Y-%m-%d}' + make_interval(secs => (i::float8 * {span} / {events})), "
        f"CASE WHEN s > 0.5 THEN '1' ELSE '0' END, s, random() * 40, 'ok', {num}, {cat} "
        "FROM (SELECT i, random() AS s FROM generate_series({lo}, {hi}) i) g"
    )
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(f"DELETE FROM events_{model.uid} WHERE event_id = 'seed'")
        step = 1_000_000
        for lo in range(0, events, step):
            con.execute(sql.format(lo=lo, hi=min(lo + step, events) - 1))  # type: ignore[arg-type]
        con.execute(
            f"INSERT INTO actuals_{model.uid} (event_id, actual, ts) SELECT event_id, "
            f"CASE WHEN random() < score THEN '1' ELSE '0' END, ts FROM events_{model.uid} "
            "WHERE hashtext(event_id) % 2 = 0"
        )
        con.execute(f"ANALYZE events_{model.uid}")
        con.execute(f"ANALYZE actuals_{model.uid}")


def rounds(store: Store, model: Any, suite: MonitorSuite, n: int, engine: str) -> tuple[Any, Any]:
    last = START + timedelta(days=DAYS)
    print(
        f"{'engine':>8} {'round':>5} {'load':>5} {'tick s':>7} {'backfill s':>10} "
        f"{'backfill / 30 ticks':>20}"
    )
    tick = full = []
    for i in range(n):
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        tick = evaluate(store, model, suite, last - timedelta(days=1), last, segments=False)
        t_tick = time.perf_counter() - t0
        t0 = time.perf_counter()
        full = evaluate(store, model, suite, START, last, segments=False)
        t_full = time.perf_counter() - t0
        print(
            f"{engine:>8} {i + 1:>5} {load:5.1f} {t_tick:7.2f} {t_full:10.2f} "
            f"{t_full / (DAYS * t_tick):20.2f}",
            flush=True,
        )
    return tick, full


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--features", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument(
        "--pg-events",
        type=int,
        default=None,
        help="events on PostgreSQL (default: --events; 0: none)",
    )
    args = ap.parse_args()
    pg_events = args.events if args.pg_events is None else args.pg_events
    n_cat = args.features // 5
    n_num = args.features - n_cat
    spec = spec_of(n_num, n_cat)
    tmp = Path(tempfile.mkdtemp(prefix="mlw-bench-eval-"))
    store = DuckDBStore(tmp / "bench.duckdb")
    try:
        model = store.create_model("default", spec)
        t0 = time.perf_counter()
        generate(store, model, args.events, n_num, n_cat)
        print(
            f"generated {args.events:,} events x {args.features} features in {time.perf_counter() - t0:.1f} s"
        )
        t0 = time.perf_counter()
        suite = MonitorSuite("bench", auto_monitors(spec), cadence="1d").fit(
            spec, reference(n_num, n_cat)
        )
        print(f"set-up: {len(suite.monitors)} monitors fitted in {time.perf_counter() - t0:.1f} s")
        tick, full = rounds(store, model, suite, args.rounds, "duckdb")
        print(
            f"scheduler tick: the latest day, {args.events // DAYS:,} events, {len(tick)} results "
            f"(target <= 5 s); backfill: {DAYS} daily windows over {args.events:,} events, "
            f"{len(full)} results (near 5 s wanted)"
        )
    finally:
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)
    if pg_events and bindir() is not None:
        postgres(spec, suite, pg_events, n_num, n_cat, args.rounds)
    elif pg_events:
        print("PostgreSQL: no initdb/pg_ctl on this machine (apt install postgresql); left out")


def postgres(
    spec: ModelSpec, suite: MonitorSuite, events: int, n_num: int, n_cat: int, n: int
) -> None:
    with running_postgres() as srv:
        url = srv.create_database("bench_evaluate")
        store = PostgresStore(url)
        try:
            model = store.create_model("default", spec)
            t0 = time.perf_counter()
            generate_pg(store, url, model, events, n_num, n_cat)
            print(
                f"PostgreSQL: generated {events:,} events x {n_num + n_cat} features in "
                f"{time.perf_counter() - t0:.1f} s"
            )
            tick, full = rounds(store, model, suite, n, "postgres")
            print(
                f"PostgreSQL scheduler tick: the latest day, {events // DAYS:,} events, "
                f"{len(tick)} results; backfill: {len(full)} results"
            )
        finally:
            store.close()


if __name__ == "__main__":
    main()
