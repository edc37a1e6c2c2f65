"""Sizing: N events x F features on DuckDB, on ClickHouse (chDB) and on Spark local, same run.

1. **Generate** the events once, as Parquet on disk, inside DuckDB (one ``COPY`` per day:
   bounded memory): 30 days from START, ``events/day=YYYY-MM-DD/*.parquet``, 4 of every 5
   features numeric, the rest categorical (8 values), a binary prediction and score, and
   labels for half the events in ``actuals/day=.../`` (event_id, target, ts).
2. For **DuckDB** and for **ClickHouse (chDB, in process, under an in-memory DuckDB
   catalog: ``--events chdb://``)**, each in a child process of its own (so its memory is its
   own):

   * *ingest rate through the engine's own idempotent append* (``Store.append_events``, the
     server's path: validated batches, de-duplication), 10k-row batches (ClickHouse likes
     large blocks; DuckDB is indifferent), over a sample of the events (``--sample``) into a
     model of its own;
   * then the *bulk load*: the day partitions are loaded in day order straight from the
     Parquet files (``INSERT ... SELECT FROM read_parquet / file(...)``: no de-duplication, as
     a migration or a collector loads), in stages of 10%, 50% and 100% of the days; after
     each stage: the load rate, bytes per event on disk after compression (DuckDB: the file
     after a checkpoint; ClickHouse: the active parts of the tables), **one scheduler tick**
     (every auto monitor of the model over the latest loaded day, as ``bench/evaluate.py``)
     and the process's resident memory: now, and its peak during the tick (the peak is reset
     before it through ``/proc/self/clear_refs``). A tick reads one day: its cost should not
     grow with the stored total, nor should memory.

3. **Spark local** (``local[2]``): the same monitors (those of a batch report: not the ones
   over the server's own records, such as rejected rows) over the same latest day's Parquet files
   (``lake_report`` of ``reporting/lake.py``, the ``mlwarden report --engine spark`` path),
   time and the driver process's (Python) peak memory; the JVM's is its own.

The statuses of every monitor are compared across the three engines (they should agree).
The load average is printed with every figure: the machine may be shared.

    python bench/scale.py [--events 100000000] [--features 20] [--sample 200000] [--no-spark]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DAYS = 30
START = datetime(2026, 3, 2, tzinfo=UTC)
STAGES = (0.1, 0.5, 1.0)
BATCH = 10_000


def spec_of(features: int) -> Any:
    from mlwarden.schema import Feature, ModelSpec

    n_cat = features // 5
    feats = [Feature(name=f"n{i}", kind="numeric") for i in range(features - n_cat)]
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


def reference(spec: Any, rows: int = 50_000) -> pa.Table:
    rng = np.random.default_rng(0)
    cols: dict[str, object] = {}
    for f in spec.features:
        if f.kind.value == "numeric":
            cols[f.name] = rng.uniform(-1, 1, rows)
        else:
            cols[f.name] = rng.choice([f"v{k}" for k in range(8)], rows)
    score = rng.random(rows)
    cols |= {
        "score": score,
        "prediction": np.where(score > 0.5, "1", "0"),
        "target": np.where(rng.random(rows) < score, "1", "0"),
    }
    return pa.table(cols)


def suite_of(spec: Any, *, batch: bool = False) -> Any:
    """Every auto monitor of ``spec`` (``batch``: those a batch report runs, as on Spark)."""
    from mlwarden.monitors.suite import MonitorSuite, auto_monitors

    monitors = [m for m in auto_monitors(spec) if type(m).batch or not batch]
    return MonitorSuite("bench", monitors, cadence="1d").fit(spec, reference(spec))


def day_of(d: int) -> str:
    return f"{START + timedelta(days=d):%Y-%m-%d}"


def generate(root: Path, events: int, spec: Any) -> None:
    """The events and labels as day-partitioned Parquet, generated inside DuckDB a day at a
    time (memory bounded by one day's rows)."""
    import duckdb

    per_day = events // DAYS
    cols = []
    for f in spec.features:
        if f.kind.value == "numeric":
            cols.append(f"random() * 2 - 1 AS {f.name}")
        else:
            cols.append(f"'v' || CAST(floor(random() * 8) AS INTEGER) AS {f.name}")
    con = duckdb.connect(config={"memory_limit": "2GB", "threads": "2"})
    con.execute("SET preserve_insertion_order = false")
    for d in range(DAYS):
        lo, hi = d * per_day, (d + 1) * per_day
        (root / "events" / f"day={day_of(d)}").mkdir(parents=True)
        (root / "actuals" / f"day={day_of(d)}").mkdir(parents=True)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE day AS SELECT 'e' || i AS event_id, 'v1' AS version, "
            f"TIMESTAMP '{START:%Y-%m-%d}' + to_microseconds(CAST((i - {lo}) * 86400e6 / "
            f"{per_day} AS BIGINT)) + INTERVAL {d} DAY AS ts, "
            "CASE WHEN s > 0.5 THEN '1' ELSE '0' END AS prediction, s AS score, "
            f"random() * 40 AS latency_ms, 'ok' AS status, {', '.join(cols)} "
            f"FROM (SELECT i, random() AS s FROM range({lo}, {hi}) r(i))"
        )
        con.execute(
            f"COPY day TO '{root / 'events' / f'day={day_of(d)}' / 'part-0.parquet'}' "
            "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)"
        )
        con.execute(
            "COPY (SELECT event_id, CASE WHEN random() < score THEN '1' ELSE '0' END AS target, "
            f"ts FROM day WHERE hash(event_id) % 2 = 0) TO "
            f"'{root / 'actuals' / f'day={day_of(d)}' / 'part-0.parquet'}' "
            "(FORMAT parquet, COMPRESSION zstd)"
        )
    con.close()


# -- memory -----------------------------------------------------------------------------------
def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def rss_mb() -> float:
    return _status_kb("VmRSS") / 1024


def peak_mb() -> float:
    return _status_kb("VmHWM") / 1024


def reset_peak() -> None:
    """Reset the peak resident size (VmHWM) to the current one (Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def load() -> float:
    return os.getloadavg()[0]


# -- one engine, in a child process -----------------------------------------------------------
def sample_batches(root: Path, spec: Any, rows: int) -> list[pa.Table]:
    """The first ``rows`` events of the first days as the server receives them (10k rows)."""
    from mlwarden.schema.batch import validate_table

    tables, n = [], 0
    for d in range(DAYS):
        t = pq.read_table(root / "events" / f"day={day_of(d)}")
        t = t.slice(0, rows - n).rename_columns(
            ["timestamp" if c == "ts" else c for c in t.column_names]
        )
        t = t.drop_columns(["status"])
        tables += [validate_table(spec, t.slice(i, BATCH)).table for i in range(0, len(t), BATCH)]
        n += t.num_rows
        if n >= rows:
            break
    return tables


def run_engine(engine: str, root: str, features: int, sample: int) -> dict[str, Any]:
    """Ingest sample, staged bulk load, ticks and memory of ``engine`` (``duckdb``/``chdb``)."""
    from mlwarden.monitors.evaluate import evaluate
    from mlwarden.store import open_store

    base = Path(root)
    spec = spec_of(features)
    suite = suite_of(spec)
    work = base / f"store-{engine}"
    work.mkdir()
    out: dict[str, Any] = {"engine": engine, "stages": []}

    def open_db(name: str) -> Any:
        if engine == "duckdb":
            return open_store(work / name)
        return open_store(None, events=f"chdb://{work / 'chdb'}?database={name}")

    # the server's ingest path over a sample
    batches = sample_batches(base, spec, sample)
    store = open_db("ingest")
    try:
        model = store.create_model("default", spec)
        t0 = time.perf_counter()
        stored = sum(store.append_events(model, t).result().inserted for t in batches)
        out["append_rate"] = stored / (time.perf_counter() - t0)
        out["append_load"] = load()
        again = sum(store.append_events(model, t).result().inserted for t in batches[:5])
        assert again == 0, "re-sent events were stored again"
    finally:
        store.close()
    del batches

    store = open_db("bench")
    try:
        model = store.create_model("default", spec)
        uid = model.uid
        cols = ", ".join(f.name for f in pa.schema(pq.read_schema(_day(base, "events", 0))))
        loaded_days, total = 0, 0
        for frac in STAGES:
            days = max(1, round(DAYS * frac))
            t0 = time.perf_counter()
            for d in range(loaded_days, days):
                ev, ac = _day(base, "events", d), _day(base, "actuals", d)
                if engine == "duckdb":
                    store._call(  # noqa: SLF001 - the bench's bulk path
                        lambda con, ev=ev, ac=ac: (
                            con.execute(
                                f"INSERT INTO events_{uid} BY NAME SELECT *, now() AS received_at "
                                f"FROM read_parquet('{ev}', hive_partitioning = false)"
                            ),
                            con.execute(
                                f"INSERT INTO actuals_{uid} BY NAME SELECT event_id, "
                                "target AS actual, ts, now() AS received_at "
                                f"FROM read_parquet('{ac}', hive_partitioning = false)"
                            ),
                        )
                    )
                else:
                    ch = store.events_
                    ch._command(  # noqa: SLF001
                        f"INSERT INTO events_{uid} ({cols}, received_at) SELECT {cols}, "
                        f"now64(6) FROM file('{ev}', Parquet)"
                    )
                    ch._command(  # noqa: SLF001
                        f"INSERT INTO actuals_{uid} (event_id, actual, ts, received_at, _seq) "
                        f"SELECT event_id, target, ts, now64(6), {d} * 100000000 + "
                        f"rowNumberInAllBlocks() FROM file('{ac}', Parquet)"
                    )
            if engine == "duckdb":
                checkpoint(store)
            secs = time.perf_counter() - t0
            added = sum(
                pq.ParquetFile(_day(base, "events", d)).metadata.num_rows
                for d in range(loaded_days, days)
            )
            total += added
            loaded_days = days
            disk = _bytes_on_disk(engine, store, work, uid)
            end = START + timedelta(days=days)
            gc_collect()
            reset_peak()
            before = rss_mb()
            lavg = load()
            t0 = time.perf_counter()
            results = evaluate(store, model, suite, end - timedelta(days=1), end, segments=False)
            tick = time.perf_counter() - t0
            out["stages"].append(
                {
                    "events": total,
                    "load_rate": added / secs,
                    "bytes_per_event": disk / total,
                    "tick_s": tick,
                    "rss_mb": before,
                    "tick_peak_mb": peak_mb(),
                    "load": lavg,
                    "results": len(results),
                }
            )
            print(f"  {engine}: {out['stages'][-1]}", flush=True)
        out["statuses"] = {(r.monitor, r.column): str(r.status) for r in results}
        out["n"] = {(r.monitor, r.column): r.n for r in results}
    finally:
        store.close()
    return out


def checkpoint(store: Any) -> None:
    """Write the loaded rows into the DuckDB file (the store's own checkpoint may be running:
    then wait for it, a bounded number of times)."""
    from mlwarden.errors import StorageError

    for _ in range(60):
        try:
            store._call(lambda con: con.execute("CHECKPOINT"))  # noqa: SLF001
            return
        except StorageError:
            time.sleep(1)
    store._call(lambda con: con.execute("FORCE CHECKPOINT"))  # noqa: SLF001


def gc_collect() -> None:
    import gc

    gc.collect()


def _day(base: Path, what: str, d: int) -> Path:
    return base / what / f"day={day_of(d)}" / "part-0.parquet"


def _bytes_on_disk(engine: str, store: Any, work: Path, uid: int) -> int:
    if engine == "duckdb":
        return du(work / "bench")  # the database file (and its write-ahead log, empty here)
    rows = store.events_.read(
        "SELECT sum(bytes_on_disk) AS b FROM system.parts WHERE active AND database = 'bench' "
        f"AND table IN ('events_{uid}', 'actuals_{uid}')"
    )
    return int(rows[0]["b"] or 0)


def run_spark(root: str, features: int) -> dict[str, Any]:
    """The same monitors over the latest day's Parquet on Spark local."""
    from mlwarden.reporting.lake import lake_report
    from mlwarden.store.spark_session import spark_session

    spec = spec_of(features)
    suite = suite_of(spec, batch=True)
    base = Path(root)
    last = DAYS - 1
    session = spark_session(
        "local[2]",
        app_name="mlwarden-scale",
        conf={"spark.driver.memory": "3g", "spark.ui.enabled": "false"},
    )
    try:
        reset_peak()
        lavg = load()
        t0 = time.perf_counter()
        report = lake_report(
            reference(spec),
            str(base / "events" / f"day={day_of(last)}"),
            actuals=str(base / "actuals" / f"day={day_of(last)}"),
            session=session,
            spec=spec,
            monitors=suite,
        )
        secs = time.perf_counter() - t0
    finally:
        session.stop()
    return {
        "engine": "spark",
        "tick_s": secs,
        "tick_peak_mb": peak_mb(),
        "load": lavg,
        "events": report.n_current,
        "statuses": {(r.monitor, r.column): str(r.status) for r in report.results},
        "n": {(r.monitor, r.column): r.n for r in report.results},
    }


def in_child(fn: Any, *args: Any) -> Any:
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(fn, args)


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=100_000_000)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--sample", type=int, default=200_000, help="events sent through append")
    ap.add_argument("--no-spark", action="store_true", help="leave Spark local out")
    ap.add_argument("--dir", default=None, help="where the data goes (default: a temp dir)")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mlw-scale-", dir=args.dir))
    print(
        f"machine: {os.cpu_count()} cores, load {os.getloadavg()}, "
        f"{args.events:,} events x {args.features} features over {DAYS} days"
    )
    try:
        t0 = time.perf_counter()
        generate(root, args.events, spec_of(args.features))
        gen = time.perf_counter() - t0
        pbytes = du(root / "events") + du(root / "actuals")
        print(
            f"generated as Parquet (zstd) in {gen:.0f} s: {pbytes / 2**20:,.0f} MiB, "
            f"{pbytes / args.events:.0f} bytes/event, load {load():.1f}",
            flush=True,
        )
        runs = [
            in_child(run_engine, e, str(root), args.features, args.sample)
            for e in ("duckdb", "chdb")
        ]
        spark = None if args.no_spark else in_child(run_spark, str(root), args.features)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report(runs, spark, args)


def report(runs: list[dict[str, Any]], spark: dict[str, Any] | None, args: Any) -> None:
    per_day = args.events // DAYS
    print()
    print(f"append_events (the server's path, {BATCH:,}-row batches, {args.sample:,} events):")
    for r in runs:
        print(
            f"  {r['engine']:7} {r['append_rate']:10,.0f} events/s  (load {r['append_load']:.1f})"
        )
    print()
    print(
        f"{'engine':7} {'stored':>12} {'bulk ev/s':>11} {'B/event':>8} {'tick s':>7} "
        f"{'tick events':>11} {'RSS MB':>7} {'tick peak MB':>12} {'load':>5}"
    )
    for r in runs:
        for s in r["stages"]:
            print(
                f"{r['engine']:7} {s['events']:12,} {s['load_rate']:11,.0f} "
                f"{s['bytes_per_event']:8.1f} {s['tick_s']:7.2f} {per_day:11,} "
                f"{s['rss_mb']:7.0f} {s['tick_peak_mb']:12.0f} {s['load']:5.1f}"
            )
    if spark:
        print(
            f"{'spark':7} {'(parquet)':>12} {'-':>11} {'-':>8} {spark['tick_s']:7.2f} "
            f"{spark['events']:11,} {'-':>7} {spark['tick_peak_mb']:12.0f} {spark['load']:5.1f}"
        )
    duck, ch = runs
    print()
    print(
        f"ratios at {duck['stages'][-1]['events']:,} events: tick chdb/duckdb "
        f"{ch['stages'][-1]['tick_s'] / duck['stages'][-1]['tick_s']:.2f}, bytes/event "
        f"chdb/duckdb {ch['stages'][-1]['bytes_per_event'] / duck['stages'][-1]['bytes_per_event']:.2f}, "
        f"append chdb/duckdb {ch['append_rate'] / duck['append_rate']:.2f}"
        + (f", tick spark/chdb {spark['tick_s'] / ch['stages'][-1]['tick_s']:.2f}" if spark else "")
    )
    for r in runs:
        first, last = r["stages"][0], r["stages"][-1]
        print(
            f"{r['engine']}: stored x{last['events'] / first['events']:.0f} -> tick "
            f"x{last['tick_s'] / first['tick_s']:.2f}, tick peak memory "
            f"x{last['tick_peak_mb'] / first['tick_peak_mb']:.2f}"
        )
    engines = [*runs, *([spark] if spark else [])]
    base = engines[0]["statuses"]
    for other in engines[1:]:
        diff = {
            k: (v, other["statuses"].get(k))
            for k, v in base.items()
            if k in other["statuses"] and other["statuses"][k] != v
        }
        common = len(set(base) & set(other["statuses"]))
        print(
            f"statuses duckdb vs {other['engine']}: {common} monitors in common, "
            f"{len(diff)} differ" + (f": {sorted(diff.items())[:5]}" if diff else "")
        )


if __name__ == "__main__":
    main()
