"""``--sensitive`` on ``mlwarden check`` and ``mlwarden report``: fairness in the CI gate and the
batch report, on COMPAS-like files (the real CLI, a child process)."""

from __future__ import annotations

import json
import os
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


def cli(*args: str, columns: int | None = None) -> subprocess.CompletedProcess[str]:
    env = None if columns is None else {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run(
        [sys.executable, "-m", "mlwarden.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
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


def test_init_dry_run_shows_reference_relative_thresholds_and_false_alerts(
    files: dict[str, Path],
) -> None:
    """A reference that already fails the four-fifths rule: the plan shows the threshold it
    became (the reference value minus the margin) and the reference it derives from, and every
    monitor's expected false alerts a month; why texts are plain whole sentences."""
    from mlwarden.monitors import MonitorSuite
    from mlwarden.monitors.fairness import Fairness
    from mlwarden.monitors.service import plan
    from mlwarden.monitors.suite import auto_monitors
    from mlwarden.schema.infer import infer_spec

    ref = table(rows(5, tpr={"African-American": 0.15}, fpr={"African-American": 0.05}), 5)
    path = files["dir"] / "unfair_reference.parquet"
    pq.write_table(ref, path)
    spec = infer_spec(
        ref, name="recid", target="label", prediction="prediction", sensitive=["race"]
    ).spec
    suite = MonitorSuite("recid", auto_monitors(spec)).fit(spec, ref)
    di = next(m for m in suite.monitors if isinstance(m, Fairness) and m.metric != "equalized_odds")
    assert di.policy_ == "reference" and di.reference_value_ is not None
    assert di.reference_value_ < 0.75  # fails the four-fifths rule by more than the margin
    items = {x["monitor"]: x for x in plan(suite, rows_per_window=1000)}
    item = items[di.id]
    became = di.reference_value_ - di.margin
    assert item["threshold"]["threshold"] == pytest.approx(became)
    assert item["reference"] == pytest.approx(di.reference_value_)
    assert f"at {became:.3f}" in item["how"] and "four-fifths rule" in item["how"]
    for it in items.values():
        if "skipped" not in it:
            assert it["expected_false_alerts_per_month"] is not None, it["monitor"]
            assert "``" not in it["why"] and it["why"].endswith((".", ")")), it["why"]

    out = cli(
        "init", str(path), "--name", "recid", "--target", "label", "--prediction",
        "prediction", "--sensitive", "race", "--dry-run", columns=1000,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    said = " ".join(out.stdout.split())
    assert f"< {became:.4g}" in said and f"(reference {di.reference_value_:.4g})" in said
    cells = [
        [c.strip() for c in line.split("│")[1:-1]]
        for line in out.stdout.splitlines()
        if line.startswith("│") and line.split("│")[1].strip()
    ]
    assert len(cells) == len(suite.monitors) + len(suite.skipped)
    for monitor, _why, level, false_alerts in cells:  # no threshold or false alerts left as "-"
        assert level not in ("", "-") and false_alerts not in ("", "-"), monitor
