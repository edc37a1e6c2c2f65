"""Batch mode: mlwarden.report(), `mlwarden report`, `mlwarden check` (the CI gate), `mlwarden init`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from mlwarden.cli.simulator import Scenario, Simulation
from mlwarden.errors import ValidationError
from mlwarden.monitors import MonitorSuite
from mlwarden.reporting import report


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("batch")
    sim = Simulation(Scenario(days=12, events_per_day=1500, drift_start_day=5, reference_rows=8000))
    ref = sim.reference()
    pq.write_table(ref, d / "reference.parquet")
    pq.write_table(ref.slice(0, 3000).drop_columns(["target"]), d / "same.parquet")
    pq.write_table(sim.events(9, 12), d / "drifted.parquet")
    ref.slice(0, 2000).to_pandas().to_csv(d / "reference.csv", index=False)
    return {
        "ref": d / "reference.parquet",
        "same": d / "same.parquet",
        "drifted": d / "drifted.parquet",
        "csv": d / "reference.csv",
        "dir": d,
    }


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlwarden.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_python_report_on_dataframes() -> None:
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"x": rng.normal(size=3000), "tier": rng.choice(["a", "b", "c"], 3000)})
    cur = pd.DataFrame(
        {"x": rng.normal(size=3000), "tier": rng.choice(["a", "b"], 3000, p=[0.3, 0.7])}
    )
    rep = report(ref, cur)
    by = {r.monitor: r for r in rep.results}
    assert by["feature_drift:tier"].status.value == "alert"
    assert by["feature_drift:x"].status.value in ("ok", "warn")
    assert rep.failed("alert") and rep.status.value == "alert"
    html = rep._repr_html_()
    assert "feature_drift:tier" in html and "<svg" in html
    d = json.loads(rep.to_json())
    assert d["status"] == "alert" and {r["monitor"] for r in d["results"]} >= {"feature_drift:x"}
    with pytest.raises(ValidationError, match="no rows"):
        report(ref, cur.iloc[:0])


def test_identical_data_passes_the_gate(files: dict[str, Path]) -> None:
    r = cli("check", str(files["ref"]), str(files["same"]))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "OK" in r.stdout


def test_drifted_data_fails_the_gate_and_says_why(files: dict[str, Path]) -> None:
    out_json = files["dir"] / "check.json"
    r = cli("check", str(files["ref"]), str(files["drifted"]), "--json", str(out_json))
    assert r.returncode == 1
    assert "feature_drift:credit_score" in r.stdout
    assert json.loads(out_json.read_text())["status"] == "alert"
    r = cli("check", str(files["ref"]), str(files["drifted"]), "--fail-on", "sometimes")
    assert r.returncode == 2 and "--fail-on" in r.stderr


def test_report_writes_self_contained_html_and_json(files: dict[str, Path]) -> None:
    html, js = files["dir"] / "report.html", files["dir"] / "report.json"
    r = cli(
        "report",
        str(files["ref"]),
        str(files["drifted"]),
        "-o",
        str(html),
        "--json",
        str(js),
        "--segment",
        "region",
    )
    assert r.returncode == 0, r.stderr
    page = html.read_text()
    assert (
        page.startswith("<!doctype html>")
        and "<svg" in page
        and "http" not in page.split("<body>")[1][:200]
    )
    assert "<script" not in page  # nothing to fetch, works offline
    data = json.loads(js.read_text())
    assert any(x["segment"] == "region=north" for x in data["results"])
    r = cli("report", str(files["ref"]), str(files["dir"] / "missing.parquet"))
    assert r.returncode == 2 and "The current file" in r.stderr and "does not exist" in r.stderr


def test_a_drift_report_imports_neither_scipy_stats_nor_scikit_learn(tmp_path: Path) -> None:
    # they take about half a second each to import, more than the rest of a 1M-row report:
    # drift statistics on large windows need only scipy.special (stats/tails.py), the PCA of
    # multivariate drift only numpy (small windows' exact KS law still comes from scipy.stats)
    rng = np.random.default_rng(5)
    for name, shift in (("ref", 0.0), ("cur", 0.3)):
        cols = {f"x{i}": rng.normal(shift, 1.0, 30_000) for i in range(3)}
        cols["tier"] = rng.choice(["a", "b", "c"], 30_000)
        pq.write_table(pa.table(cols), tmp_path / f"{name}.parquet")
    code = (
        "import sys, mlwarden; "
        f"r = mlwarden.report({str(tmp_path / 'ref.parquet')!r}, {str(tmp_path / 'cur.parquet')!r}); "
        "print(r.status.value, [m for m in ('scipy.stats', 'sklearn') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["alert", "[]"]


def test_init_writes_an_editable_spec_with_calibrated_thresholds(files: dict[str, Path]) -> None:
    out = files["dir"] / "monitors.yaml"
    r = cli(
        "init",
        str(files["ref"]),
        "--name",
        "loans",
        "--segment",
        "region",
        "--sensitive",
        "gender",
        "-o",
        str(out),
        "--cadence",
        "1d",
    )
    assert r.returncode == 0, r.stderr
    assert "feature_drift:credit_score" in r.stdout and "false alerts" in r.stdout
    spec = yaml.safe_load(out.read_text())
    assert spec["model"] == "loans" and spec["cadence"] == "1d" and spec["segments"] == ["region"]
    assert MonitorSuite.from_yaml(out.read_text()).monitors
    dry = files["dir"] / "dry.yaml"
    r = cli("init", str(files["csv"]), "--dry-run", "-o", str(dry))
    assert r.returncode == 0 and not dry.exists()
    r = cli("init", str(files["ref"]), "--budget", "whenever")
    assert r.returncode == 2 and "false_alarm_budget" in r.stderr
