"""KPI monitors: the false-alarm rate of their calibrated thresholds on stable data, and the
engine's time to compute a KPI per window against pandas over the raw rows.

False alarms: a reference of a loan book (amounts gamma-distributed, 3% missing, a 10%
default rate, three regions) and windows drawn like it at sizes 200 to 20,000; each KPI's
share of alerting windows over several reference draws, with its 95% Clopper-Pearson
interval, against the per-window false-alarm probability (1% here, ``--budget``; no
practical-change floor). Engine: one
DuckDB file of ``--rows`` events over 30 daily windows; the KPI's aggregates for every
window in one query (``store.aggregates.collect``) beside pandas computing the same per
window from the raw rows in memory. A benchmark: it prints, it asserts nothing.

    python bench/kpi.py                  # 2000 windows per KPI, 2M events
    python bench/kpi.py --windows 300 --rows 200000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "monitors"))

from test_kpi import COLUMNS, LOSS, SPEC, loans  # noqa: E402  (the tests' loan book)

from mlwarden.monitors import Status  # noqa: E402
from mlwarden.monitors.context import Calibration, FitContext, Window, WindowData  # noqa: E402
from mlwarden.monitors.kpi import Kpi  # noqa: E402
from mlwarden.monitors.kpi_rows import raw_terms  # noqa: E402
from mlwarden.schema import validate_table  # noqa: E402
from mlwarden.schema.batch import validate_actuals_table  # noqa: E402
from mlwarden.schema.kpi import parse_kpi  # noqa: E402
from mlwarden.store import DuckDBStore  # noqa: E402
from mlwarden.store.aggregates import Volume, WindowRun, collect  # noqa: E402
from mlwarden.store.kpi_aggregates import KpiTerms  # noqa: E402

KPIS = {
    "margin_per_1k": "1000 * sum(margin) / count()",
    "expected_loss": LOSS,
    "p90_amount": "quantile(amount, 0.9)",
    "default_rate_north": "rate(actual == 'default' and region == 'north')",
    "mean_ratio": "mean(amount) / mean(margin + 1)",
}
START = datetime(2026, 1, 5, tzinfo=UTC)


def _columns(df: object) -> dict[str, np.ndarray]:
    out = {}
    for c in ("amount", "margin", "score", "vip"):
        out[c] = df[c].to_numpy(dtype=float)  # type: ignore[index]
    for c in ("region", "prediction"):
        out[c] = df[c].to_numpy(dtype=object)  # type: ignore[index]
    out["actual"] = df["target"].to_numpy(dtype=object)  # type: ignore[index]
    return out


def false_alarms(windows: int, budget: str, references: int) -> None:
    """Each KPI over ``windows`` windows split among ``references`` reference draws: one
    reference's own sampling error moves all its windows' alerts one way (the threshold
    widens for it on average, not for each reference), so the rate is taken over several."""
    cal = Calibration(budget=budget, cadence_s=86400, monitors=1)
    print(f"per-window alert probability {cal.alpha:.4f} ('{budget}', daily windows)")
    refs = [
        pa.Table.from_pandas(loans(20_000, seed=100 + k), preserve_index=False)
        for k in range(references)
    ]
    for name, text in KPIS.items():
        e = parse_kpi(text, columns=COLUMNS)
        req = KpiTerms(e, labelled=e.uses_label)
        alerts, per_ref = 0, []
        for k, ref in enumerate(refs):
            mon = Kpi(name, text, min_change=0.0).fit(FitContext(SPEC, ref, cal))
            rng = np.random.default_rng(k)
            mine = 0
            for i in range(windows // references):
                n = int(rng.choice([200, 1000, 5000, 20_000]))
                df = loans(n, seed=50_000 + 10_000 * k + i)
                terms = raw_terms(e, _columns(df), rows=n)
                w = Window(START, START + timedelta(days=1))
                data = WindowData(w, {Volume(): {"n": n}, req: {"n": n, "terms": terms}})
                mine += mon.evaluate(data).status is Status.ALERT
            per_ref.append(mine)
            alerts += mine
        total = (windows // references) * references
        lo = stats.beta.ppf(0.025, alerts, total - alerts + 1) if alerts else 0.0
        hi = stats.beta.ppf(0.975, alerts + 1, total - alerts)
        print(
            f"  {name:20s} {alerts:4d}/{total} alerts = {alerts / total:.4f} "
            f"[{lo:.4f}, {hi:.4f}]  per reference {per_ref}"
        )


def engine(rows: int) -> None:
    df = loans(rows, seed=3)
    df["event_id"] = [f"e{i}" for i in range(rows)]
    seconds = (np.arange(rows) * (30 * 86400 / rows)).astype("timedelta64[s]")
    ts = np.datetime64(START.replace(tzinfo=None), "us") + seconds
    df["timestamp"] = pa.array(ts.astype("datetime64[us]"), pa.timestamp("us", tz="UTC"))
    with tempfile.TemporaryDirectory() as d:
        store = DuckDBStore(str(Path(d) / "kpi.duckdb"))
        model = store.create_model("p", SPEC)
        events = pa.Table.from_pandas(df.drop(columns=["target"]), preserve_index=False)
        store.append_events(model, validate_table(SPEC, events).table).result()
        act = pa.table({"event_id": df.event_id, "actual": df.target})
        store.append_actuals(model, validate_actuals_table(SPEC, act).table).result()
        run = WindowRun(START, timedelta(days=1), 0, 29)
        df["_w"] = (np.arange(rows) * 30) // rows
        warm = parse_kpi("count()", columns=COLUMNS)  # ibis and the backend load once
        collect(store, model, [KpiTerms(warm)], run)
        for name in ("margin_per_1k", "expected_loss", "p90_amount"):
            e = parse_kpi(KPIS[name], columns=COLUMNS)
            t0 = time.perf_counter()
            collect(store, model, [KpiTerms(e, labelled=e.uses_label)], run)
            t_engine = time.perf_counter() - t0
            t0 = time.perf_counter()
            if name == "margin_per_1k":
                df.groupby("_w").margin.sum()
            elif name == "p90_amount":
                df.groupby("_w").amount.quantile(0.9)
            else:
                ok = df.prediction == "repaid"
                loss = df.amount * ((df.target == "default") & ok)
                gain = df.margin * ((df.target == "repaid") & ok)
                (loss - gain).groupby(df._w).sum()
            t_pandas = time.perf_counter() - t0
            print(
                f"  {name:20s} engine {t_engine:.3f} s   pandas (rows in memory) {t_pandas:.3f} s"
            )
        store.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--windows", type=int, default=2000)
    p.add_argument("--rows", type=int, default=2_000_000)
    p.add_argument("--budget", default="1 per 100 days")
    p.add_argument("--references", type=int, default=20)
    a = p.parse_args()
    print("False alarms on stable data:")
    false_alarms(a.windows, a.budget, a.references)
    print(f"\nOne KPI over 30 daily windows of {a.rows:,} events (DuckDB file):")
    engine(a.rows)


if __name__ == "__main__":
    main()
