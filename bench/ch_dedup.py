"""What reading ClickHouse's events exactly costs before merges: ``FINAL`` vs ``argMax`` /
``LIMIT 1 BY`` deduplication vs a plain read, for the scan a monitor makes (per-window counts,
distinct ids and a feature's exact quantile over a day of events), on chDB in this process.

Events are stored through the engine (``ClickHouseEvents``) in 10k-row batches, a tenth of
them re-sent by a racing writer (inserted twice, as two server processes could), and merges
stopped so every part stays as written: the worst case for read-time deduplication.

    python bench/ch_dedup.py [--events 2000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from mlwarden.schema import Feature, ModelSpec, validate_table
from mlwarden.store import open_store
from mlwarden.store.ch_connection import ClickHouseTarget

SPEC = ModelSpec(
    name="bench",
    task="regression",
    features=[Feature(name=f"f{i}", kind="numeric") for i in range(5)],
)
BATCH = 10_000


def tables(n: int) -> list[pa.Table]:
    rng = np.random.default_rng(0)
    t0 = np.datetime64("2026-03-01T00:00:00", "us")
    out = []
    for k in range(0, n, BATCH):
        m = min(BATCH, n - k)
        cols: dict[str, object] = {
            "event_id": [f"e{k + i}" for i in range(m)],
            # a day of events in order of arrival
            "timestamp": pa.array(t0 + (np.arange(k, k + m) * 86_400_000_000 // n)),
            "prediction": rng.random(m),
            "latency_ms": rng.lognormal(3, 0.6, m),
        }
        cols.update({f"f{i}": rng.normal(0, 1, m) for i in range(5)})
        out.append(validate_table(SPEC, pa.table(cols)).table)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mlw-bench-ch-"))
    url = f"chdb://{tmp / 'chdb'}?database=bench"
    try:
        store = open_store(None, events=url)
        model = store.create_model("p", SPEC)
        client = ClickHouseTarget(url).client(database="bench")
        client.command("SYSTEM STOP MERGES")
        t0 = time.perf_counter()
        parts = tables(args.events)
        for t in parts:
            store.append_events(model, t).result()
        ingest = args.events / (time.perf_counter() - t0)
        table = f"events_{model.uid}"
        for t in parts[::10]:  # the racing writer's copies
            client.insert_arrow(
                table,
                client.query_arrow(
                    f"SELECT * FROM {table} WHERE event_id IN "
                    f"({', '.join(repr(e) for e in t.column('event_id').to_pylist())})"
                ),
            )
        raw = int(client.command(f"SELECT count() FROM {table}"))
        cols = "event_id, version, ts, f0, latency_ms"
        sources = {
            "plain (duplicates counted)": table,
            "FINAL": f"{table} FINAL",
            "LIMIT 1 BY (event_id, version)": (
                f"(SELECT {cols} FROM {table} LIMIT 1 BY event_id, version)"
            ),
            "argMax GROUP BY (event_id, version)": (
                f"(SELECT event_id, version, argMax(ts, received_at) AS ts, "
                f"argMax(f0, received_at) AS f0, argMax(latency_ms, received_at) AS latency_ms "
                f"FROM {table} GROUP BY event_id, version)"
            ),
        }
        start = datetime(2026, 3, 1)
        print(f"{args.events:,} events stored ({ingest:,.0f}/s), {raw:,} rows on disk unmerged")
        print(f"{'read':40} {'s (best of ' + str(args.repeat) + ')':>16} {'rows':>12}")
        for name, src in sources.items():
            sql = (
                f"SELECT intDiv(toUnixTimestamp(ts) - {int(start.timestamp())}, 3600) AS w, "
                "count() AS n, uniqExact(event_id) AS ids, quantileExactInclusive(0.99)(f0) AS p, "
                f"avg(latency_ms) AS lat FROM {src} "
                f"WHERE ts >= '{start}' AND ts < '{start + timedelta(days=1)}' GROUP BY w"
            )
            best = float("inf")
            for _ in range(args.repeat):
                t1 = time.perf_counter()
                got = client.query_arrow(sql)
                best = min(best, time.perf_counter() - t1)
            n = sum(got.column("n").to_pylist())
            print(f"{name:40} {best:16.3f} {n:12,}")
        client.command("SYSTEM START MERGES")
        store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
