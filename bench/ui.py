"""Server time of every web UI page with 10M events stored (target: p95 <= 300 ms per page).

A DuckDB data directory is filled first, in-process: ``--events`` events over 30 days of a
binary model (``--features`` features, generated inside DuckDB as in bench/evaluate.py; the
reference differs from them, so drift monitors fire and incidents open), a reference, monitors
set up automatically and every daily window evaluated with incidents. Then the real server
(``mlwarden serve``) is started on that directory and each page is requested ``--repeat``
times over loopback HTTP after one warm-up request; the figures are the client's wall time per
request (loopback adds well under a millisecond).

    python bench/ui.py                       # 10M events x 20 features
    python bench/ui.py --events 1000000 --repeat 10
    python bench/ui.py --data-dir /some/dir   # fill once, keep it and reuse it next time
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx
import numpy as np

from evaluate import DAYS, START, generate, reference, spec_of
from mlwarden.incidents import service as incidents
from mlwarden.monitors.service import evaluate_range, setup_suite
from mlwarden.store import DB_FILE, open_store

TARGET_MS = 300.0


def fill(data_dir: Path, events: int, n_num: int, n_cat: int) -> None:
    store = open_store(data_dir)
    try:
        spec = spec_of(n_num, n_cat)
        model = store.create_model("default", spec)
        t0 = time.perf_counter()
        generate(store, model, events, n_num, n_cat)
        store.put_reference("default", spec.name, reference(n_num, n_cat))
        print(
            f"stored {events:,} events x {n_num + n_cat} features in {time.perf_counter() - t0:.1f} s"
        )
        t0 = time.perf_counter()
        suite = setup_suite(store, "default", spec.name, cadence="1d")

        def on_results(project: str, name: str, results: list, cadence: timedelta) -> None:  # type: ignore[type-arg]
            incidents.process(store, project, name, results, cadence=cadence)

        end = START + timedelta(days=DAYS)
        n = evaluate_range(store, "default", spec.name, START, end, on_results=on_results)
        found = incidents.count_incidents(store, "default")
        print(
            f"{len(suite.monitors)} monitors, {DAYS} daily windows evaluated ({n:,} results, "
            f"{found} incidents) in {time.perf_counter() - t0:.1f} s"
        )
        store.checkpoint()
    finally:
        store.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument(
        "--data-dir",
        type=Path,
        help="keep the filled data here (filled only when empty; --events is then ignored)",
    )
    args = ap.parse_args()
    n_cat = args.features // 5
    tmp = Path(tempfile.mkdtemp(prefix="mlw-bench-ui-"))
    data = args.data_dir or tmp / "data"
    proc = None
    try:
        if not (data / DB_FILE).exists():
            fill(data, args.events, args.features - n_cat, n_cat)
        port = free_port()
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        cmd = [sys.executable, "-m", "mlwarden.cli.main", "serve", "--data-dir", str(data)]
        cmd += ["--port", str(port), "--evaluate-every", "0", "--log-level", "warning"]
        proc = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, timeout=120) as http:
            for _ in range(600):
                try:
                    if http.get("/v1/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            first = http.get("/v1/incidents", params={"limit": 1}).json()["items"]
            m = "/ui/models/bench"
            day = (START + timedelta(days=DAYS - 1)).strftime("%Y-%m-%d")
            next_day = (START + timedelta(days=DAYS)).strftime("%Y-%m-%d")
            pages = {
                "overview": "/ui/",
                "performance": m,
                "drift": f"{m}?tab=drift",
                "drift, cell drill-down": f"{m}?tab=drift&feature=n0&window={day}",
                "quality": f"{m}?tab=quality",
                "operations": f"{m}?tab=operations",
                # one segment's view reads events, not roll-ups (kept per version only)
                "operations, a segment": f"{m}?tab=operations&segment=c0%3Dv3",
                "fairness": f"{m}?tab=fairness",
                "incidents tab": f"{m}?tab=incidents",
                "monitors": f"{m}/monitors",
                "compare": f"{m}/compare?a=v1",
                "incidents": "/ui/incidents",
                # the feature page computes quantiles / category counts per window from events
                "feature, numeric": f"{m}/features/n0",
                "feature, categorical": f"{m}/features/c0",
                "sample of a day (CSV)": f"{m}/events/sample?start={day}&end={next_day}",
            }
            if first:
                pages["incident"] = f"/ui/incidents/{first[0]['id']}"
            print(
                f"\n{'page':<24} {'first':>8} {'p50':>8} {'p95':>8} {'max':>8}   (ms, {args.repeat} runs)"
            )
            worst = 0.0
            for name, path in pages.items():
                t0 = time.perf_counter()
                r = http.get(path)
                cold = (time.perf_counter() - t0) * 1000
                if r.status_code != 200:
                    raise SystemExit(f"{path}: HTTP {r.status_code}: {r.text[:300]}")
                times = []
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    http.get(path).raise_for_status()
                    times.append((time.perf_counter() - t0) * 1000)
                p50, p95 = np.percentile(times, [50, 95])
                worst = max(worst, float(p95))
                print(f"{name:<24} {cold:8.0f} {p50:8.0f} {p95:8.0f} {max(times):8.0f}")
            verdict = "met" if worst <= TARGET_MS else "NOT met"
            print(f"\nworst page p95: {worst:.0f} ms (target <= {TARGET_MS:.0f} ms: {verdict})")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
