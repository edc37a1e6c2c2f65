"""`mlwarden report --engine spark` / `mlwarden check --engine spark`: the batch report over a
Parquet directory evaluated on the standalone cluster gives DuckDB's statuses and values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from mlwarden.cli.main import main
from mlwarden.cli.simulator import Scenario, Simulation
from mlwarden.reporting import report
from mlwarden.reporting.lake import lake_report

#: monitors judging a sample of rows picked by the engine's own hash of the event id: their
#: values differ by engine (as samples do), their statuses are compared
SAMPLED = {"multivariate_drift", "estimated_performance", "text_drift"}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("lake_report")
    sim = Simulation(Scenario(days=12, events_per_day=600, drift_start_day=5, reference_rows=3000))
    pq.write_table(sim.reference(), d / "reference.parquet")
    current = sim.events(9, 12)
    (d / "current").mkdir()
    half = current.num_rows // 2
    for i, part in enumerate((current.slice(0, half), current.slice(half))):
        pq.write_table(part, d / "current" / f"part-{i}.parquet")
    pq.write_table(current, d / "current.parquet")
    return {"dir": d, "ref": d / "reference.parquet", "lake": d / "current"}


def _by_monitor(results: list[Any]) -> dict[tuple[str, str | None], Any]:
    return {(r.monitor, r.segment): r for r in results}


def test_the_report_on_the_cluster_is_duckdbs(spark: Any, files: dict[str, Path]) -> None:
    steps: list[str] = []
    kw: dict[str, Any] = {"name": "reference"}
    on_duck = report(files["ref"], files["dir"] / "current.parquet", **kw)
    on_spark = lake_report(
        files["ref"], str(files["lake"]), session=spark, progress=steps.append, **kw
    )
    assert on_spark.n_current == on_duck.n_current
    assert any("on Spark" in s for s in steps)
    duck, sp = _by_monitor(on_duck.results), _by_monitor(on_spark.results)
    assert set(duck) == set(sp)
    assert any(r.status.value == "alert" for r in on_duck.results)  # the drift is seen
    for key, r in duck.items():
        other = sp[key]
        assert other.status == r.status, (key, r.reason, other.reason)
        if r.kind not in SAMPLED and r.value is not None:
            assert other.value == pytest.approx(r.value, rel=1e-9, nan_ok=True), key
        elif r.kind not in SAMPLED:
            assert other.value is None, key


def test_check_on_the_cluster_fails_on_drift(
    spark: Any, spark_cluster: Any, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    js = files["dir"] / "check.json"
    args = ["check", str(files["ref"]), "--engine", "spark", "--spark-master", spark_cluster.url]
    code = main([*args, "--events", str(files["lake"]), "--json", str(js)])
    assert code == 1, capsys.readouterr().err
    assert json.loads(js.read_text())["status"] == "alert"
    assert spark.range(1).count() == 1  # the command left the session it found running


def test_engine_flags_are_checked_before_any_work(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(files["ref"]), "--engine", "spark"]) == 2
    assert "pass --events PATH" in capsys.readouterr().err
    assert main(["report", str(files["ref"]), "--engine", "flink", "--events", "x"]) == 2
    assert "must be one of duckdb, spark" in capsys.readouterr().err
    assert main(["report", str(files["ref"]), str(files["ref"]), "--events", "x"]) == 2
    assert "--events and --actuals are for --engine spark" in capsys.readouterr().err
