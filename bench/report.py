"""`mlwarden report` vs Evidently's DataDriftPreset on the same files, in the same run.

1M reference + 1M current rows x 20 numeric + 5 categorical features (seeded; a few drifted),
written to Parquet. Each tool runs in its own process; the figures are wall time of the
whole process (imports and reading the files included) and its peak resident memory.
Evidently needs pandas < 3, so it runs from a separate venv (bench/.anchors-venv, created on
first use). ``--rounds`` alternates the two tools; each round prints the load average and
its ratio, since a shared machine makes absolute times vary from run to run.

Both tools are timed warm: each timed run follows an untimed one that reads the same files
and imports the same libraries (mlwarden: the whole command, ~2 s; Evidently: its imports and
reading the files, since its whole run takes 2 minutes). Without it the comparison is lopsided
on this machine: its kernel pages out file cache left unused for 60 s (a DAMON "pageout"
scheme), so mlwarden, which always runs after Evidently's 2 minutes, read its libraries and
both files back from disk (+0.8-1.5 s), while Evidently ran 2 s after mlwarden had read the
same files. The first, cold run's time is printed too ("cold").

    python bench/report.py [--rows 1000000] [--rounds 3] [--skip-anchors]
"""

from __future__ import annotations

import argparse
import os
import statistics
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
#: Evidently's warm-up: its imports and the two files, not the 2-minute report
EVIDENTLY_WARMUP = """
import sys, pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
pd.read_parquet(sys.argv[1]); pd.read_parquet(sys.argv[2])
"""
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
    """Wall seconds and peak resident MB of one child process (its own rusage via wait4)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    assert proc.stdout is not None
    text = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    secs = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{cmd[0]} failed: {text[-2000:]}")
    return secs, usage.ru_maxrss / 1024, text


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
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--skip-anchors", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mlw-bench-report-"))
    ref, cur = tmp / "reference.parquet", tmp / "current.parquet"
    pq.write_table(make(args.rows, 1, False), ref)
    pq.write_table(make(args.rows, 2, True), cur)
    ours_html = tmp / "mlwarden.html"
    ours = [
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
    # a wheel install leaves compiled modules; a source checkout run with
    # PYTHONDONTWRITEBYTECODE=1 would compile mlwarden's ~80 modules in every run (~0.3 s)
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(HERE.parent / "src")], check=False
    )
    py = None if args.skip_anchors else anchors_python()
    script = tmp / "ev.py"
    script.write_text(EVIDENTLY)
    warmup = tmp / "ev_warmup.py"
    warmup.write_text(EVIDENTLY_WARMUP)
    ev_env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    print(f"data: {args.rows:,} + {args.rows:,} rows x 20 numeric + 5 categorical features")
    print(
        f"{'round':>5} {'load':>5} {'cold s':>7} {'mlwarden s':>10} {'MB':>6} "
        f"{'evidently s':>11} {'MB':>6} {'ratio':>6} {'cold':>5}"
    )
    ratios, cold_ratios = [], []
    for i in range(args.rounds):
        load = os.getloadavg()[0]
        cold, _, _ = run(ours)  # the warm-up: files and libraries back in the page cache
        secs, mem, text = run(ours)
        line = f"{i + 1:>5} {load:5.1f} {cold:7.2f} {secs:10.2f} {mem:6.0f}"
        if py is not None:
            run([str(py), str(warmup), str(ref), str(cur)], env=ev_env)
            e_secs, e_mem, _ = run(
                [str(py), str(script), str(ref), str(cur), str(tmp / "evidently.html")],
                env=ev_env,
            )
            ratios.append(e_secs / secs)
            cold_ratios.append(e_secs / cold)
            line += f" {e_secs:11.1f} {e_mem:6.0f} {ratios[-1]:5.0f}x {cold_ratios[-1]:4.0f}x"
        print(line, flush=True)
    print(f"mlwarden says: {text.strip().splitlines()[0]}")
    print(f"HTML report: {ours_html} ({ours_html.stat().st_size / 1024:.0f} KiB, self-contained)")
    if ratios:
        print(
            f"speed-up: median {statistics.median(ratios):.0f}x over {len(ratios)} round(s) "
            f"(target >= 50x); cold first runs {statistics.median(cold_ratios):.0f}x"
        )


if __name__ == "__main__":
    main()
