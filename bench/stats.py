"""Benchmark of mlwarden's drift computation next to Evidently and NannyML.

For ``--rows`` reference + ``--rows`` current rows x ``--features`` numeric
features (seeded synthetic data, every fourth feature drifted), prints time and
peak memory of our full drift computation (baselines + binning + all
statistics + calibrated thresholds), of Evidently's DataDriftPreset and of
NannyML's UnivariateDriftCalculator on the same data, plus our measured
false-alarm rate on no-drift windows and detection of a 0.1-sigma shift.

The anchors conflict with mlwarden's pins, so they run in their own venv,
made once under ``bench/.anchors-venv/`` (git-ignored), each in a subprocess
reading the same Parquet files. Every measured run is a fresh subprocess whose
peak RSS (``VmHWM``) is reported; ours is also given in-process with
tracemalloc (memory allocated by the computation itself, data excluded).

    python bench/stats.py                     # 1M + 1M rows x 20 features, with anchors
    python bench/stats.py --rows 100000 --skip-anchors
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ANCHORS_VENV = HERE / ".anchors-venv"
ANCHOR_PACKAGES = ["evidently", "nannyml", "statsmodels", "pandas<3"]


def make_data(rows: int, features: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Reference and current matrices (rows x features); feature j % 4 == 3 drifts."""
    rng = np.random.default_rng(seed)
    ref = np.empty((rows, features))
    cur = np.empty((rows, features))
    for j in range(features):
        kind = j % 4
        shift = 0.25 if kind == 3 else 0.0
        if kind == 0:
            ref[:, j], cur[:, j] = rng.normal(size=rows), rng.normal(size=rows)
        elif kind == 1:
            ref[:, j], cur[:, j] = rng.lognormal(size=rows), rng.lognormal(size=rows)
        elif kind == 2:
            ref[:, j] = rng.poisson(3, rows)
            cur[:, j] = rng.poisson(3, rows)
        else:
            ref[:, j], cur[:, j] = rng.normal(size=rows), rng.normal(shift, 1.0, rows)
    return ref, cur, [f"f{j:02d}" for j in range(features)]


def ours(ref_cols: list[np.ndarray], cur_cols: list[np.ndarray], monitors: int) -> int:
    """Full drift computation; returns the number of features alerting (KS)."""
    from mlwarden.stats.baseline import NumericBaseline
    from mlwarden.stats.drift import numeric_drift
    from mlwarden.stats.thresholds import calibrate_all

    drifted = 0
    for ref, cur in zip(ref_cols, cur_cols, strict=True):
        base = NumericBaseline.from_values(ref)
        hist = base.bin(cur)
        result = numeric_drift(base, hist)
        th = calibrate_all(base, hist.n, monitors=monitors)
        drifted += th["ks"].status(result["ks"].value) == "alert"
    return drifted


# peak RSS of the current process image: VmHWM is reset by exec, unlike ru_maxrss,
# which a child forked from this (large) process would inherit
PEAK = """
def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

OURS_SCRIPT = (
    PEAK
    + """
import json, sys, time
import pyarrow as pa
import pyarrow.parquet as pq
pa.set_memory_pool(pa.system_memory_pool())  # freed column buffers go back to the OS
sys.path.insert(0, {src!r}); sys.path.insert(0, {bench!r})
from stats import ours
import mlwarden.stats.drift, mlwarden.stats.thresholds  # imports are not compute time
t0 = time.perf_counter()
ref_f, cur_f = pq.ParquetFile({ref!r}), pq.ParquetFile({cur!r})
names = ref_f.schema_arrow.names
load = 0.0
refs, curs = [], []
drifted = 0
for name in names:  # column by column, as the store hands aggregates over
    t = time.perf_counter()
    r = ref_f.read(columns=[name]).column(0).to_numpy()
    c = cur_f.read(columns=[name]).column(0).to_numpy()
    load += time.perf_counter() - t
    drifted += ours([r], [c], len(names))
total = time.perf_counter() - t0
print(json.dumps({{"compute_s": total - load, "total_s": total, "drifted": drifted,
                  "rss_mb": peak_mb()}}))
"""
)

EVIDENTLY_SCRIPT = (
    PEAK
    + """
import json, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
t0 = time.perf_counter()
ref, cur = pd.read_parquet({ref!r}), pd.read_parquet({cur!r})
t1 = time.perf_counter()
from evidently import Report
from evidently.presets import DataDriftPreset
snap = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
res = snap.dict()
t2 = time.perf_counter()
drifted = None
for m in res.get("metrics", []):
    if "DriftedColumnsCount" in json.dumps(m) and isinstance(m.get("value"), dict):
        drifted = m["value"].get("count")
print(json.dumps({{"compute_s": t2 - t1, "total_s": t2 - t0, "drifted": drifted,
                  "rss_mb": peak_mb()}}))
"""
)

NANNYML_SCRIPT = (
    PEAK
    + """
import json, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
t0 = time.perf_counter()
ref, cur = pd.read_parquet({ref!r}), pd.read_parquet({cur!r})
t1 = time.perf_counter()
import nannyml as nml
calc = nml.UnivariateDriftCalculator(
    column_names=list(ref.columns), chunk_number=1,
    continuous_methods=["kolmogorov_smirnov", "jensen_shannon", "wasserstein"])
calc.fit(ref)
res = calc.calculate(cur).to_df()
t2 = time.perf_counter()
alerts = res.xs("alert", axis=1, level=-1) if "alert" in res.columns.get_level_values(-1) else None
drifted = None
if alerts is not None:
    ks = [c for c in alerts.columns if "kolmogorov_smirnov" in c]
    drifted = int(alerts[ks].iloc[-1].sum())
print(json.dumps({{"compute_s": t2 - t1, "total_s": t2 - t0, "drifted": drifted,
                  "rss_mb": peak_mb()}}))
"""
)


def anchors_python() -> Path:
    """The anchors' interpreter, creating its venv on first use."""
    py = ANCHORS_VENV / "bin" / "python"
    ready = ANCHORS_VENV / ".installed"
    if not ready.exists():
        print(
            f"creating {ANCHORS_VENV} (once): pip install {' '.join(ANCHOR_PACKAGES)}", flush=True
        )
        subprocess.run([sys.executable, "-m", "venv", str(ANCHORS_VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", *ANCHOR_PACKAGES], check=True)
        ready.write_text("ok\n")
    return py


def run_script(python: Path | str, script: str, timeout: int = 1800) -> dict[str, float]:
    env = dict(os.environ, NML_DISABLE_USAGE_LOGGING="1", PYTHONWARNINGS="ignore")
    out = subprocess.run(
        [str(python), "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def false_alarms_and_power(rows: int, monitors: int, seed: int) -> list[str]:
    """Measured alert rates on simulated windows (bin counts drawn from the population)."""
    from scipy import stats

    from mlwarden.stats import drift
    from mlwarden.stats.baseline import NumericBaseline
    from mlwarden.stats.thresholds import MIN_EFFECT, FalseAlarmBudget, calibrate_all

    rng = np.random.default_rng(seed)
    base = NumericBaseline.from_values(rng.normal(size=rows))
    e = np.asarray(base.edges)
    lines = []
    n_cur, windows = 10_000, 20_000

    def window_counts(shift: float) -> np.ndarray:
        p = np.diff(np.concatenate([[0.0], stats.norm.cdf(e - shift), [1.0]]))
        p = np.concatenate([[0.0], p, [0.0]])
        return rng.multinomial(n_cur, p / p.sum(), size=windows).astype(float)

    names = ("ks", "psi", "jensen_shannon", "chi_square", "total_variation", "l_infinity")

    def rates(th: dict[str, object], counts: np.ndarray) -> str:
        ref = np.broadcast_to(base.reference.array.astype(float), counts.shape)
        cr = base.coarsen(ref.astype(np.int64)).astype(float)
        cc = base.coarsen(counts.astype(np.int64)).astype(float)
        out = []
        for s in names:
            kernel = drift.STATISTICS[s][0]
            assert kernel is not None
            v = kernel(ref, counts) if s == "ks" else kernel(cr, cc)
            out.append(f"{s}={np.mean(v > th[s].value):.4f}")  # type: ignore[attr-defined]
        return " ".join(out)

    default = calibrate_all(base, n_cur, monitors=monitors, statistics=names)
    alpha = default["ks"].alpha
    null = window_counts(0.0)
    lines.append(
        f"default budget (1 per 30 days, hourly, {monitors} monitors, alpha={alpha:.2e})"
        f", {windows} no-drift windows of {n_cur}: {rates(default, null)}"
    )
    lines.append(f"  same thresholds, 0.1-sigma shift: {rates(default, window_counts(0.1))}")
    test_budget = FalseAlarmBudget(alerts=0.01 * 720, period=timedelta(days=30))
    loose = calibrate_all(
        base,
        n_cur,
        budget=test_budget,
        statistics=names,
        min_effects=dict.fromkeys(MIN_EFFECT, 0.0),
    )
    lines.append(f"alpha=0.01 without minimum effect (null quantile alone): {rates(loose, null)}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-anchors", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))

    ref, cur, names = make_data(args.rows, args.features, args.seed)
    ref_cols = [np.ascontiguousarray(ref[:, j]) for j in range(args.features)]
    cur_cols = [np.ascontiguousarray(cur[:, j]) for j in range(args.features)]
    del ref, cur
    ours(ref_cols[:1], cur_cols[:1], args.features)  # warm imports
    tracemalloc.start()
    t = time.perf_counter()
    drifted = ours(ref_cols, cur_cols, args.features)
    in_process = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()

    rows: list[tuple[str, dict[str, float]]] = [
        (
            "mlwarden (in-process, arrays in RAM)",
            {
                "compute_s": in_process,
                "total_s": in_process,
                "rss_mb": float("nan"),
                "traced_mb": peak,
                "drifted": drifted,
            },
        ),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        import pyarrow as pa
        import pyarrow.parquet as pq

        paths = {}
        for side, cols in (("ref", ref_cols), ("cur", cur_cols)):
            paths[side] = str(Path(tmp) / f"{side}.parquet")
            pq.write_table(pa.table(dict(zip(names, cols, strict=True))), paths[side])
        del ref_cols, cur_cols
        fmt = {
            "ref": paths["ref"],
            "cur": paths["cur"],
            "src": str(ROOT / "src"),
            "bench": str(HERE),
        }
        rows.append(
            (
                "mlwarden (subprocess, Parquet column by column)",
                run_script(sys.executable, textwrap.dedent(OURS_SCRIPT).format(**fmt)),
            )
        )
        if not args.skip_anchors:
            py = anchors_python()
            rows.append(
                (
                    "Evidently DataDriftPreset",
                    run_script(py, textwrap.dedent(EVIDENTLY_SCRIPT).format(**fmt)),
                )
            )
            rows.append(
                (
                    "NannyML UnivariateDriftCalculator",
                    run_script(py, textwrap.dedent(NANNYML_SCRIPT).format(**fmt)),
                )
            )

    print(
        f"\n{args.rows:,} reference + {args.rows:,} current rows x {args.features} features "
        f"({args.features // 4} drifted by 0.25 sigma)"
    )
    ref_time = rows[1][1].get("compute_s") or rows[0][1]["compute_s"]
    ref_rss = rows[1][1].get("rss_mb") or float("nan")
    print(
        f"{'':50s} {'compute s':>10s} {'total s':>9s} {'peak RSS MB':>12s} "
        f"{'x time':>7s} {'x RSS':>6s} {'drifted':>8s}"
    )
    for label, r in rows:
        if "error" in r:
            print(f"{label:50s} error: {r['error']}")
            continue
        print(
            f"{label:50s} {r['compute_s']:10.2f} {r['total_s']:9.2f} {r['rss_mb']:12.0f} "
            f"{r['compute_s'] / ref_time:7.1f} {r['rss_mb'] / ref_rss:6.1f} "
            f"{r.get('drifted')!s:>8s}"
        )
    print(
        f"mlwarden in-process: memory allocated by the computation (tracemalloc peak, "
        f"input arrays excluded): {peak:.0f} MB"
    )
    print("\nmeasured alert rates (windows simulated as multinomial bin counts):")
    for line in false_alarms_and_power(min(args.rows, 1_000_000), args.features, args.seed + 1):
        print(line)


if __name__ == "__main__":
    main()
