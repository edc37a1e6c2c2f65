"""``--sensitive`` on ``mlwarden check`` and ``mlwarden report``: fairness in the CI gate and the
batch report, on COMPAS-like files (the real CLI, a child process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from .test_fairness import PLANTED, Rows, rows


def table(data: Rows, seed: int) -> pa.Table:
    g, y, p = data
    rng = np.random.default_rng(seed)
    return pa.table(
        {"priors": rng.poisson(3, len(g)).astype(float), "race": g, "label": y, "prediction": p}
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("fair")
    out = {"ref": d / "reference.parquet", "healthy": d / "healthy.parquet"}
    pq.write_table(table(rows(1), 1), out["ref"])
    pq.write_table(table(rows(2), 2), out["healthy"])
    out["unfair"] = d / "unfair.parquet"
    pq.write_table(table(rows(3, fpr=PLANTED), 3), out["unfair"])
    out["dir"] = d
    return out


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlwarden.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_check_with_sensitive_fails_on_an_error_rate_disparity(files: dict[str, Path]) -> None:
    base = ("--target", "label", "--prediction", "prediction", "--sensitive", "race")
    ok = cli("check", str(files["ref"]), str(files["healthy"]), *base)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    out_json = files["dir"] / "check.json"
    bad = cli("check", str(files["ref"]), str(files["unfair"]), *base, "--json", str(out_json))
    assert bad.returncode == 1, bad.stdout + bad.stderr
    said = " ".join(bad.stdout.split())  # the console wraps long lines
    assert "alert: fairness:race:equalized_odds:" in said
    assert "'African-American' has the highest false positive rate" in said
    results = {r["monitor"]: r for r in json.loads(out_json.read_text())["results"]}
    eo = results["fairness:race:equalized_odds"]
    assert eo["status"] == "alert" and eo["details"]["disadvantaged_group"] == "African-American"
    assert "fairness:race" in results  # disparate impact, the other default


def test_report_takes_sensitive_and_writes_fairness_results(files: dict[str, Path]) -> None:
    js = files["dir"] / "report.json"
    r = cli(
        "report",
        str(files["ref"]),
        str(files["unfair"]),
        "-o",
        str(files["dir"] / "report.html"),
        "--json",
        str(js),
        "--target",
        "label",
        "--prediction",
        "prediction",
        "--sensitive",
        "race",
    )
    assert r.returncode == 0, r.stdout + r.stderr
    kinds = {x["monitor"]: x["status"] for x in json.loads(js.read_text())["results"]}
    assert kinds["fairness:race:equalized_odds"] == "alert"
