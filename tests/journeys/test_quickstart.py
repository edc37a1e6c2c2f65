"""The README's quick start, played as written, on a model that is not the demo's.

The commands are read from README.md, between ``<!-- quickstart: ... -->`` and
``<!-- /quickstart -->`` (the block's ``bash`` fence). Each runs in a fresh directory that
holds ``train.parquet`` and ``current.parquet`` made from scikit-learn's breast-cancer data
(30 measurements, a ``region``, the model's prediction and score, and the label under its
own name, ``malignant``). Only the harness differs from a person at a shell: ``pip install``
lines are skipped (the package is installed), a command ending in ``&`` is started in the
background and waited for until it answers, and the server's port comes from
``MLWARDEN_PORT`` / ``MLWARDEN_URL`` (a fixed 8000 would clash with other servers).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from serverproc import free_port

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"<!-- quickstart:.*?-->\s*```bash\n(.*?)```\s*<!-- /quickstart -->", re.S)


def commands() -> list[str]:
    match = BLOCK.search(README.read_text())
    assert match, "README.md has no <!-- quickstart: ... --> block with a bash fence"
    lines = [ln.split("  #")[0].strip() for ln in match.group(1).splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("#")]


def _data(root: Path) -> None:
    from sklearn.datasets import load_breast_cancer

    b = load_breast_cancer()
    rng = np.random.default_rng(7)
    y = 1 - b.target  # 1: malignant
    # a model's score: the label seen through noise, right on ~93% of rows
    score = 1 / (1 + np.exp(-(4.0 * (y - 0.5) + rng.normal(scale=1.1, size=len(y)))))
    cols: dict[str, object] = {n: b.data[:, i] for i, n in enumerate(b.feature_names)}
    cols.update(
        region=rng.choice(["north", "south", "east"], len(y)),
        prediction=(score > 0.5).astype(np.int64),
        score=score,
        malignant=y,
    )
    table = pa.table(cols)
    order = rng.permutation(table.num_rows)
    pq.write_table(table.take(order[:380]), root / "train.parquet")
    pq.write_table(table.take(order[380:]), root / "current.parquet")


def _wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited"
        try:
            if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not answer")


def test_the_readme_quick_start_works_as_written(tmp_path: Path) -> None:
    cmds = commands()
    assert any(c.startswith("mlwarden serve") and c.endswith("&") for c in cmds), cmds
    _data(tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MLWARDEN_PORT": str(port), "MLWARDEN_URL": url, "COLUMNS": "200"}
    env.pop("MLWARDEN_API_KEY", None)
    bin_dir = Path(sys.executable).parent
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    server: subprocess.Popen[bytes] | None = None
    ran: dict[str, subprocess.CompletedProcess[str]] = {}
    try:
        for cmd in cmds:
            if cmd.startswith("pip install"):
                continue
            if cmd.endswith("&"):
                server = subprocess.Popen(
                    shlex.split(cmd[:-1]),
                    cwd=tmp_path,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                _wait_up(url, server)
                continue
            r = subprocess.run(
                shlex.split(cmd), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
            )
            ran[" ".join(shlex.split(cmd)[:3])] = r
            assert r.returncode == 0, (cmd, r.stdout[-3000:], r.stderr[-3000:])
        register = next(v for k, v in ran.items() if k.startswith("mlwarden models register"))
        assert "Target: column 'malignant'" in register.stderr, register.stderr
        assert "Set up" in register.stdout

        with httpx.Client(base_url=url, timeout=60) as http:
            spec = http.get("/v1/models/churn").json()["spec"]
            assert (spec["target"], spec["prediction"], spec["score"]) == (
                "malignant",
                "prediction",
                "score",
            )
            assert "malignant" not in {f["name"] for f in spec["features"]}
            suite = http.get("/v1/models/churn/monitors").json()
            planned = {p["monitor"] for p in suite["plan"] if "skipped" not in p}
            assert {"performance:accuracy", "performance:roc_auc"} <= planned, planned
            results = http.get("/v1/models/churn/results").json()
            assert {r["monitor"] for r in results} >= {"performance:accuracy"}, results[:3]
            perf = next(r for r in results if r["monitor"] == "performance:accuracy")
            assert perf["status"] in ("ok", "warn") and perf["n"] == 189, perf
        show = next(v for k, v in ran.items() if k.startswith("mlwarden monitors show"))
        assert "performance:accuracy" in show.stdout
        check = next(v for k, v in ran.items() if k.startswith("mlwarden check"))
        assert "target: malignant" in check.stderr, check.stderr  # exit 0 (asserted above)
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
