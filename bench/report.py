"""`mlwarden report` vs Evidently's DataDriftPreset on the same files, in the same run.

1M reference + 1M current rows x 20 numeric + 5 categorical features (seeded; a few drifted),
written to Parquet. Each tool runs in its own process; the figures are wall time and peak
resident memory (ru_maxrss of the child). Evidently needs pandas < 3, so it runs from a
separate venv (bench/.anchors-venv, created on first use).

    python bench/report.py [--rows 1000000] [--skip-anchors]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import webbrowser  # noqa: F401 - documents that the HTML is meant for a browser
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
ANCHORS = HERE / ".anchors-venv"
EVIDENTLY = """
import sys, time, pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
ref = pd.read_parquet(sys.argv[1]); cur = pd.read_parquet(sys.argv[2])
t0 = time.perf_counter()
snap = Report([DataDriftPreset()]).run(reference_data=ref, current_data=cur)
snap.save_html(sys.argv[3])
print(f"evidently_seconds={time.perf_counter() - t0:.2f}")
"""


def make(rows: int, seed: int, drift: bool) -> pa.Table:
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {}
    for i in range(20):
        shift = 0.2 if drift and i < 3 else 0.0
        cols[f"num_{i}"] = rng.normal(shift, 1.0 + (0.3 if drift and i == 3 else 0.0), rows)
    for j in range(5):
        k = 3 + 3 * j
        p = np.full(k, 1.0 / k)
        if drift and j == 0:
            p = np.r_[p[0] * 1.5, p[1:]]
            p = p / p.sum()
        cols[f"cat_{j}"] = rng.choice([f"c{x}" for x in range(k)], rows, p=p)
    return pa.table(cols)


def run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    secs = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if out.returncode not in (0, 1):
        raise RuntimeError(f"{cmd[0]} failed: {out.stderr[-2000:]}")
    # ru_maxrss of children is the max over all children so far: run the smaller one first
    return secs, max(peak, before) / 1024, out.stdout + out.stderr


def anchors_python() -> Path:
    py = ANCHORS / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(ANCHORS)], check=True)
    probe = subprocess.run([str(py), "-c", "import evidently"], capture_output=True)
    if probe.returncode != 0:
        subprocess.run([str(py), "-m", "pip", "install", "-q", "evidently", "pandas<3"], check=True)
    return py


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--skip-anchors", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mlw-bench-report-"))
    ref, cur = tmp / "reference.parquet", tmp / "current.parquet"
    pq.write_table(make(args.rows, 1, False), ref)
    pq.write_table(make(args.rows, 2, True), cur)
    ours_html = tmp / "mlwarden.html"
    secs, mem, text = run(
        [
            sys.executable,
            "-m",
            "mlwarden.cli.main",
            "report",
            str(ref),
            str(cur),
            "-o",
            str(ours_html),
            "--json",
            str(tmp / "mlwarden.json"),
        ]
    )
    print(f"data: {args.rows:,} + {args.rows:,} rows x 20 numeric + 5 categorical features")
    print(f"{'tool':12} {'seconds':>9} {'peak MB':>9}")
    print(f"{'mlwarden':12} {secs:9.1f} {mem:9.0f}   {text.strip().splitlines()[0]}")
    print(f"HTML report: {ours_html} ({ours_html.stat().st_size / 1024:.0f} KiB, self-contained)")
    if args.skip_anchors:
        return
    py = anchors_python()
    ev_html = tmp / "evidently.html"
    script = tmp / "ev.py"
    script.write_text(EVIDENTLY)
    e_secs, e_mem, e_text = run(
        [str(py), str(script), str(ref), str(cur), str(ev_html)],
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    print(f"{'evidently':12} {e_secs:9.1f} {e_mem:9.0f}   (peak MB is the max of both runs)")
    print(f"speed-up: {e_secs / secs:.1f}x (target >= 50x)")


if __name__ == "__main__":
    main()
