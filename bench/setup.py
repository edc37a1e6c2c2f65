"""How long setting monitors up takes: ``mlwarden init --dry-run`` and the spec preview.

For reference data of 10k and 1M rows (30 numeric features like scikit-learn's breast
cancer set, a categorical segment, a prediction, a score and the label) it times, wall clock
from a fresh process as a user sees it:

* ``mlwarden init REF --dry-run`` (read, infer the spec, fit and calibrate every monitor);
* the spec preview of an unchanged spec (``PUT /v1/models/{m}/monitors?dry_run=true`` with
  the YAML ``GET`` returns, on a running server holding the reference).

Targets (issue 16): init on 10k rows <= 1.5 s, preview <= 2 s. NannyML's fit of the same
monitors on the same file is timed beside by the interpreter of ``--anchor-python`` (a venv
with ``nannyml statsmodels "pandas<3" pyarrow``: their pins conflict with ours), or this one
if it has NannyML; otherwise the script says so. Evidently has no fit step.

Usage: ``PYTHONPATH=src python bench/setup.py [--rows 10000 1000000] [--anchor-python PY]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def reference(n: int, seed: int = 0) -> pa.Table:
    """Breast-cancer-like reference data: 30 numeric features, a clinic, prediction, score,
    and the label ``malignant``."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.37).astype(np.int64)
    cols: dict[str, object] = {}
    for i in range(30):
        cols[f"f{i:02d}"] = rng.normal(loc=y * (0.3 + i / 60), scale=1.0 + i / 30)
    cols["clinic"] = rng.choice(["north", "south", "east"], n)
    score = 1 / (1 + np.exp(-(2.5 * (y - 0.5) + rng.normal(size=n))))
    cols["prediction"] = (score > 0.5).astype(np.int64)
    cols["score"] = score
    cols["malignant"] = y
    return pa.table(cols)


#: CPU seconds of the last timed command (wall time alone misleads on a shared machine)
CPU: list[float] = [0.0]


def timed(args: list[str]) -> float:
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(args, capture_output=True, text=True)
    took = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU[0] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {r.stderr[-2000:]}")
    return took


def bench_preview(path: Path, rows: int) -> tuple[float, float]:
    """(register with monitor set-up, preview of the unchanged spec) in seconds."""
    import httpx

    from serverproc import ServerProcess

    srv = ServerProcess(
        path.parent / f"data-{rows}", "--evaluate-every", "0", "--max-body-mb", "4096"
    ).start()
    try:
        reg = timed(
            [sys.executable, "-m", "mlwarden.cli.main", "models", "register", str(path),
             "--name", "bench", "--segment", "clinic", "--url", srv.url]
        )  # fmt: skip
        with httpx.Client(base_url=srv.url, timeout=600) as http:
            yaml_text = http.get("/v1/models/bench/monitors").json()["spec_yaml"]
            t = time.perf_counter()
            r = http.put("/v1/models/bench/monitors", params={"dry_run": "true"},
                         content=yaml_text, headers={"content-type": "application/yaml"})  # fmt: skip
            took = time.perf_counter() - t
            r.raise_for_status()
        return reg, took
    finally:
        srv.stop()


#: NannyML's fit of the same monitors (CBPE of ROC AUC and F1, univariate drift of the 30
#: features), run by another interpreter: NannyML's pins conflict with the project's.
_NANNYML = """
import os, sys, time
os.environ["NML_DISABLE_USAGE_LOGGING"] = "1"
t = time.perf_counter()
import nannyml as nml
import pandas as pd
imported = time.perf_counter() - t
df = pd.read_parquet(sys.argv[1])
t = time.perf_counter()
nml.CBPE(
    y_pred_proba="score", y_pred="prediction", y_true="malignant",
    metrics=["roc_auc", "f1"], problem_type="classification_binary", chunk_size=1000,
).fit(df)
nml.UnivariateDriftCalculator(
    column_names=[f"f{i:02d}" for i in range(30)], chunk_size=1000
).fit(df)
print(f"{imported:.2f} {time.perf_counter() - t:.2f}")
"""


def others(path: Path, anchor_python: str | None) -> str:
    """NannyML's set-up time on the same file, if an interpreter with it is given (or this
    one has it); Evidently has no fit step (it compares at run time)."""
    python = anchor_python or sys.executable
    probe = subprocess.run(
        [python, "-c", "import importlib.util as u; print(bool(u.find_spec('nannyml')))"],
        capture_output=True,
        text=True,
    )
    if probe.stdout.strip() != "True":
        return (
            "NannyML is not installed in this interpreter (pass --anchor-python of a venv "
            "with it): not timed. Evidently has no fit step to time (it compares at run time)."
        )
    wall = time.perf_counter()
    r = subprocess.run([python, "-c", _NANNYML, str(path)], capture_output=True, text=True)
    wall = time.perf_counter() - wall
    if r.returncode != 0:
        return f"NannyML failed: {r.stderr[-500:]}"
    imported, fit = (float(v) for v in r.stdout.split()[-2:])
    return (
        f"NannyML CBPE (roc_auc, f1) + univariate drift fit: {fit:.2f} s "
        f"(+ {imported:.2f} s import; {wall:.2f} s as a process). "
        "Evidently has no fit step to time (it compares at run time)."
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[10_000, 1_000_000])
    ap.add_argument(
        "--anchor-python", help="Python of a venv with NannyML (its pins conflict with ours)."
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'rows':>10}  {'init --dry-run':>15}  {'register+setup':>15}  {'preview':>8}")
        for n in args.rows:
            table = reference(n)
            path = Path(tmp) / f"ref-{n}.parquet"
            pq.write_table(table, path)
            init = timed(
                [sys.executable, "-m", "mlwarden.cli.main", "init", str(path), "--dry-run",
                 "--segment", "clinic"]
            )  # fmt: skip
            init_cpu = CPU[0]
            reg, preview = bench_preview(path, n)
            print(
                f"{n:>10,}  {init:>13.2f} s  {reg:>13.2f} s  {preview:>6.2f} s"
                f"   (init CPU {init_cpu:.2f} s; load {os.getloadavg()[0]:.1f})"
            )
            print("   ", others(path, args.anchor_python))


if __name__ == "__main__":
    main()
