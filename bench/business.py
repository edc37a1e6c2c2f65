"""The decision threshold and cost analysis over 10M labelled events (DuckDB file).

Events and labels are generated inside DuckDB (a binary classifier's score, a label for every
event). Timed: the analysis as ``GET /v1/models/{m}/decision`` runs it (the store's score bins
per class, then every threshold's confusion matrix and cost, and the bootstrap of the saving),
beside the same answer computed the way a notebook would: pandas reading the joined rows, then
scikit-learn's ``confusion_matrix`` at each of the 101 thresholds the reply shows (and only
those: the store's answer covers 1,001). Both answers are checked equal at those thresholds.

    python bench/business.py [--events 10000000] [--rounds 3]

Target (issue 20): <= 2 s for the analysis at 10M events on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from mlwarden.schema import Feature, ModelSpec
from mlwarden.stats.decision import Costs, decision_curve, gain_interval
from mlwarden.store import DuckDBStore, queries

BINS = 1000


def generate(store: DuckDBStore, uid: int, events: int) -> None:
    sql = (
        f"INSERT INTO events_{uid} BY NAME SELECT 'e' || i AS event_id, 'v1' AS version, "
        "TIMESTAMP '2026-03-02' + to_microseconds(i) AS ts, "
        "CASE WHEN s > 0.5 THEN '1' ELSE '0' END AS prediction, s AS score, 1.0 AS x, "
        "'ok' AS status FROM (SELECT i, random() AS s FROM range({lo}, {hi}) r(i))"
    )
    for lo in range(0, events, 1_000_000):
        chunk = sql.format(lo=lo, hi=min(lo + 1_000_000, events))
        store._call(lambda con, q=chunk: con.execute(q).fetchall())
    store._call(
        lambda con: con.execute(
            f"INSERT INTO actuals_{uid} SELECT event_id, CASE WHEN random() < score THEN '1' "
            f"ELSE '0' END, NULL, ts, ts FROM events_{uid}"
        ).fetchall()
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    spec = ModelSpec(name="bench", task="binary", classes=["0", "1"], score="score",
                     features=[Feature(name="x", kind="numeric")])  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="mlw-bench-business-"))
    store = DuckDBStore(tmp / "bench.duckdb")
    costs = Costs(fp=1.0, fn=5.0, tp=0.5)
    try:
        model = store.create_model("default", spec)
        t0 = time.perf_counter()
        generate(store, model.uid, args.events)
        print(f"generated {args.events:,} labelled events in {time.perf_counter() - t0:.1f} s")
        print(
            f"{'round':>5} {'load':>5} {'mlwarden s':>10} {'bins s':>7} {'pandas+sklearn s':>17} {'ratio':>6}"
        )
        for i in range(args.rounds):
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            pos, neg, _, _ = queries.score_bins(
                store.events(model), store.actuals(model), bins=BINS, positive="1"
            )
            t_bins = time.perf_counter() - t0
            curve = decision_curve(pos, neg, costs=costs)
            gain_interval(pos, neg, costs=costs, deployed=curve.index(0.5), best=curve.best)
            ours = time.perf_counter() - t0

            from sklearn.metrics import confusion_matrix

            t0 = time.perf_counter()
            con = store.backend().con
            df = con.execute(
                f"SELECT e.score, a.actual FROM events_{model.uid} e "
                f"JOIN actuals_{model.uid} a USING (event_id)"
            ).df()
            y = (df["actual"] == "1").to_numpy()
            s = df["score"].to_numpy()
            theirs = []
            for t in np.linspace(0, 1, 101):
                theirs.append(confusion_matrix(y, s >= t - 1e-12, labels=[False, True]).ravel())
            t_ref = time.perf_counter() - t0
            for j, (tn, fp, fn, tp) in zip(range(0, BINS + 1, 10), theirs, strict=True):
                got = (curve.tp[j], curve.fp[j], curve.fn[j], curve.tn[j])
                assert got == (tp, fp, fn, tn), (j, got, (tp, fp, fn, tn))
            print(
                f"{i + 1:>5} {load:5.1f} {ours:10.2f} {t_bins:7.2f} {t_ref:17.2f} {t_ref / ours:6.1f}",
                flush=True,
            )
        print(f"decision analysis over {args.events:,} events: 1,001 thresholds, 2,000 bootstrap "
              "replicates (target <= 2 s); the reference computes 101 thresholds")  # fmt: skip
    finally:
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
