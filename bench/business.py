"""The decision threshold and cost analysis, and the champion / challenger comparison, over
10M labelled events each (DuckDB files).

Events and labels are generated inside DuckDB (a binary classifier's score, a label for every
event). Timed: the analysis as ``GET /v1/models/{m}/decision`` runs it (the store's score bins
per class, then every threshold's confusion matrix and cost, and the bootstrap of the saving),
beside the same answer computed the way a notebook would: pandas reading the joined rows, then
scikit-learn's ``confusion_matrix`` at each of the 101 thresholds the reply shows (and only
those: the store's answer covers 1,001). Both answers are checked equal at those thresholds.

The paired comparison: a champion and a challenger in shadow (the same event ids), 5M
requests each (10M events) and a label per request. Timed: ``compare_versions`` as
``GET /v1/models/{m}/champion`` runs it, from the store's pair cells (the pairs counted per hour
by score bins and outcomes, built once after ingest and then refreshed per changed hour; the
build is timed apart), without the slice search and with it; "before": the same comparison
joining the raw events (a range not on whole hours takes that path: the join of the two
versions and the labels in one query); beside pandas reading the joined rows and
scikit-learn's ``roc_auc_score``, ``precision_recall_fscore_support`` and the McNemar cells.
The answers are checked equal (accuracy exactly, AUC to the 1/100 bins' resolution; cells and
join identical).

The decision analysis likewise: from the store's hourly score cells ("after") and from the
join of events and labels ("before": ``queries.score_bins``).

    python bench/business.py [--events 10000000] [--rounds 3] [--part decision|paired|both]

Target (issue 20): <= 2 s for each analysis at 10M events on 2 cores.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from mlwarden.analysis.champion import compare_versions
from mlwarden.schema import Feature, ModelSpec
from mlwarden.stats.decision import Costs, decision_curve, gain_interval
from mlwarden.store import DuckDBStore, queries

BINS = 1000
#: One microsecond before the generated events: the same rows, not a whole hour (raw path).
RAW_START = datetime(2026, 3, 2) - timedelta(microseconds=1)


def _run(store: DuckDBStore, fn: Any) -> Any:
    """A statement on the writer, waited for however long it takes (a loaded machine)."""
    return store._writer.submit("call", None, fn, 1).result()


def generate(store: DuckDBStore, uid: int, events: int) -> None:
    sql = (
        f"INSERT INTO events_{uid} BY NAME SELECT 'e' || i AS event_id, 'v1' AS version, "
        "TIMESTAMP '2026-03-02' + to_microseconds(i) AS ts, "
        "CASE WHEN s > 0.5 THEN '1' ELSE '0' END AS prediction, s AS score, 1.0 AS x, "
        "'ok' AS status FROM (SELECT i, random() AS s FROM range({lo}, {hi}) r(i))"
    )
    for lo in range(0, events, 1_000_000):
        chunk = sql.format(lo=lo, hi=min(lo + 1_000_000, events))
        _run(store, lambda con, q=chunk: con.execute(q).fetchall())
    _run(
        store,
        lambda con: con.execute(
            f"INSERT INTO actuals_{uid} SELECT event_id, CASE WHEN random() < score THEN '1' "
            f"ELSE '0' END, NULL, ts, ts FROM events_{uid}"
        ).fetchall(),
    )


def generate_pairs(store: DuckDBStore, uid: int, pairs: int) -> None:
    """``pairs`` requests scored by v1 and v2 (correlated normal logits, v2 sharper except in
    region = west) and labelled."""
    _run(
        store,
        lambda con: con.execute(
            "CREATE TEMP TABLE base AS SELECT i, y, region, "
            "0.9 * (2 * y - 1) + 0.8 * z0 + 0.9 * z1 AS la, "
            "CASE WHEN region = 'west' THEN 0.15 ELSE 1.5 END * (2 * y - 1) + 0.8 * z0 "
            "+ 0.9 * z2 AS lb FROM (SELECT i, CASE WHEN random() < 0.35 THEN 1 ELSE 0 END AS y, "
            "['north', 'south', 'east', 'west'][1 + i % 4] AS region, "
            "sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS z0, "
            "sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS z1, "
            f"sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS z2 FROM range({pairs}) r(i))"
        ).fetchall(),
    )
    for version, logit in (("v1", "la"), ("v2", "lb")):
        _run(
            store,
            lambda con, v=version, lg=logit: con.execute(
                f"INSERT INTO events_{uid} BY NAME SELECT 'p' || i AS event_id, '{v}' AS version, "
                "TIMESTAMP '2026-03-02' + to_microseconds(i * 250) AS ts, "
                f"CASE WHEN {lg} >= 0 THEN '1' ELSE '0' END AS prediction, "
                f"1 / (1 + exp(-{lg})) AS score, region, 1.0 AS x, 'ok' AS status, "
                f"{'true' if v == 'v2' else 'false'} AS shadow FROM base"
            ).fetchall(),
        )
    _run(
        store,
        lambda con: con.execute(
            f"INSERT INTO actuals_{uid} SELECT 'p' || i, y::VARCHAR, NULL, "
            "TIMESTAMP '2026-03-02' + to_microseconds(i * 250), now() FROM base"
        ).fetchall(),
    )
    _run(store, lambda con: con.execute("DROP TABLE base").fetchall())


def paired_bench(events: int, rounds: int) -> None:
    from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

    spec = ModelSpec(name="bench", task="binary", classes=["0", "1"], score="score",
                     segments=["region"], features=[Feature(name="x", kind="numeric")])  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="mlw-bench-champion-"))
    store = DuckDBStore(tmp / "bench.duckdb")
    try:
        model = store.create_model("default", spec)
        t0 = time.perf_counter()
        generate_pairs(store, model.uid, events // 2)
        model = store.get_model("default", "bench")
        print(f"generated {events // 2:,} requests in shadow ({events:,} events, labelled) in "
              f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
        t0 = time.perf_counter()
        store.refresh_pairs(model)
        print(f"pair cells built in {time.perf_counter() - t0:.1f} s (once; then per changed hour)")
        print(f"{'round':>5} {'load':>5} {'cells s':>7} {'+slices s':>9} {'join s':>7} "
              f"{'+slices s':>9} {'pandas+sklearn s':>17} {'ratio':>6}")  # fmt: skip
        for i in range(rounds):
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            c = compare_versions(store, model, champion="v1", challenger="v2", slices=False)
            core = time.perf_counter() - t0
            t0 = time.perf_counter()
            full = compare_versions(store, model, champion="v1", challenger="v2")
            with_slices = time.perf_counter() - t0
            t0 = time.perf_counter()
            raw = compare_versions(store, model, champion="v1", challenger="v2", slices=False,
                                   start=RAW_START)  # fmt: skip
            join = time.perf_counter() - t0
            t0 = time.perf_counter()
            raw_full = compare_versions(store, model, champion="v1", challenger="v2",
                                        start=RAW_START)  # fmt: skip
            join_slices = time.perf_counter() - t0
            assert dataclasses.asdict(raw) == dataclasses.asdict(c)
            assert raw_full.worse_slices == full.worse_slices
            t0 = time.perf_counter()
            con = store.backend().con
            df = con.execute(
                f"SELECT a.score AS sa, a.prediction AS pa, b.score AS sb, b.prediction AS pb, "
                f"l.actual AS y FROM events_{model.uid} a JOIN events_{model.uid} b "
                f"ON a.event_id = b.event_id AND a.version = 'v1' AND b.version = 'v2' "
                f"JOIN actuals_{model.uid} l ON l.event_id = a.event_id"
            ).df()
            y = (df["y"] == "1").to_numpy()
            oka, okb = (df["pa"] == df["y"]).to_numpy(), (df["pb"] == df["y"]).to_numpy()
            ref = {
                "b": int((oka & ~okb).sum()), "c": int((~oka & okb).sum()),
                "auc_a": roc_auc_score(y, df["sa"]), "auc_b": roc_auc_score(y, df["sb"]),
                "prf_a": precision_recall_fscore_support(y, df["pa"] == "1", average="binary"),
                "prf_b": precision_recall_fscore_support(y, df["pb"] == "1", average="binary"),
            }  # fmt: skip
            t_ref = time.perf_counter() - t0
            m = {x.metric: x for x in c.metrics}
            assert m["accuracy"].diff == (ref["c"] - ref["b"]) / len(df)
            assert abs(m["roc_auc"].champion - ref["auc_a"]) < 2e-3, (m["roc_auc"], ref)
            assert abs(m["roc_auc"].challenger - ref["auc_b"]) < 2e-3, (m["roc_auc"], ref)
            assert abs(m["recall"].champion - ref["prf_a"][1]) < 1e-12
            assert [s.condition for s in full.worse_slices][:1] == ["region = west"]
            print(f"{i + 1:>5} {load:5.1f} {core:7.2f} {with_slices:9.2f} {join:7.2f} "
                  f"{join_slices:9.2f} {t_ref:17.2f} {t_ref / with_slices:6.1f}",
                  flush=True)  # fmt: skip
        print(f"paired comparison over {events:,} events ({c.auc_method}); verdict: {c.verdict}")
    finally:
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--part", choices=["decision", "paired", "both"], default="both")
    args = ap.parse_args()
    if args.part != "decision":
        paired_bench(args.events, args.rounds)
    if args.part == "paired":
        return
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
        t0 = time.perf_counter()
        store.refresh_score_cells(model)
        print(
            f"score cells built in {time.perf_counter() - t0:.1f} s (once; then per changed hour)"
        )
        print(f"{'round':>5} {'load':>5} {'cells s':>7} {'bins s':>7} {'join s':>7} "
              f"{'pandas+sklearn s':>17} {'ratio':>6}")  # fmt: skip
        for i in range(args.rounds):
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            got = store.score_cells(model, bins=BINS, positive="1", start=None, end=None,
                                    version=None)  # fmt: skip
            assert got is not None
            pos, neg, _, _ = got
            t_bins = time.perf_counter() - t0
            curve = decision_curve(pos, neg, costs=costs)
            gain_interval(pos, neg, costs=costs, deployed=curve.index(0.5), best=curve.best)
            ours = time.perf_counter() - t0
            t0 = time.perf_counter()
            raw = queries.score_bins(
                store.events(model), store.actuals(model), bins=BINS, positive="1"
            )
            curve_raw = decision_curve(raw[0], raw[1], costs=costs)
            gain_interval(raw[0], raw[1], costs=costs, deployed=curve_raw.index(0.5),
                          best=curve_raw.best)  # fmt: skip
            t_join = time.perf_counter() - t0
            assert raw == got

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
            print(f"{i + 1:>5} {load:5.1f} {ours:7.2f} {t_bins:7.2f} {t_join:7.2f} "
                  f"{t_ref:17.2f} {t_ref / ours:6.1f}", flush=True)  # fmt: skip
        print(f"decision analysis over {args.events:,} events: 1,001 thresholds, 2,000 bootstrap "
              "replicates (target <= 2 s); the reference computes 101 thresholds")  # fmt: skip
    finally:
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
