"""The Spark engine on a standalone cluster (a master and two workers on loopback; one per
test session: ``make test`` sends a file to one worker, so these tests share one file).

Every aggregate request monitors make, on the same seeded data in DuckDB and on a Spark
standalone cluster (a master and two workers on loopback) over the same rows as Parquet,
compared value for value: counts and quantiles exactly, floating sums within 1e-9 relative.

The data and the comparison are the DuckDB / PostgreSQL ones (``tests/store``); DuckDB runs
its fast paths, Spark the portable ibis queries of :mod:`mlwarden.store.aggregates` on the
cluster's executors, plus its own exact latency quantiles. Then `mlwarden report --engine
spark` / `mlwarden check --engine spark`: the batch report over a Parquet directory evaluated
on the cluster gives DuckDB's statuses and values.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlwarden.cli.main import main
from mlwarden.cli.simulator import Scenario, Simulation
from mlwarden.errors import NotFoundError, ValidationError
from mlwarden.reporting import report
from mlwarden.reporting.lake import lake_report
from mlwarden.schema import validate_rows
from mlwarden.schema.batch import validate_actual_rows
from mlwarden.store import DuckDBStore
from mlwarden.store import aggregates as agg
from mlwarden.store.spark_engine import SparkAggregates
from mlwarden.store.spark_session import read_lake
from mlwarden.store.spark_tables import canonical_actuals, canonical_events
from store.test_engines_agree import (
    BINARY,
    BINARY_REQUESTS,
    REGRESSION,
    RUN,
    _close,
    _events,
    _regression_events,
)


@pytest.fixture(scope="module")
def engines(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``{name: (duckdb store, spark source, record)}`` for the binary and regression models:
    DuckDB loaded through ingest, its stored rows written as Parquet (two files each, so the
    cluster reads them as two partitions) and read back on Spark."""
    lake = Path(tmp_path_factory.mktemp("lake"))
    duck = DuckDBStore(":memory:")
    out: dict[str, Any] = {}
    for spec, make in ((BINARY, _events), (REGRESSION, _regression_events)):
        m = duck.create_model("p", spec)
        events, labels = make(7)
        duck.append_events(m, validate_rows(m.spec, events).table).result()
        duck.append_actuals(m, validate_actual_rows(m.spec, labels).table).result()
        for what, table in (("events", duck.events(m)), ("actuals", duck.actuals(m))):
            rows: pa.Table = table.to_pyarrow()
            (lake / spec.name / what).mkdir(parents=True)
            half = rows.num_rows // 2
            for i, part in enumerate((rows.slice(0, half), rows.slice(half))):
                pq.write_table(part, lake / spec.name / what / f"part-{i}.parquet")
        ev = canonical_events(read_lake(spark, str(lake / spec.name / "events")), m.spec)
        ac = read_lake(spark, str(lake / spec.name / "actuals"))
        out[spec.name] = (duck, SparkAggregates(spark, m, ev, ac), m)
    yield out
    for _, src, _ in out.values():
        src.close()
    duck.close()


def _agree(engines: dict[str, Any], name: str, reqs: list[Any], **kw: Any) -> None:
    duck, src, m = engines[name]
    got_d = agg.collect(duck, m, reqs, RUN, **kw)
    got_s = agg.collect(src, m, reqs, RUN, **kw)
    for r in reqs:
        assert got_d[r], f"{r}: no windows (the data does not exercise it)"
        _close(got_d[r], got_s[r], repr(r))


def test_every_binary_request_agrees_with_duckdb(engines: dict[str, Any]) -> None:
    _agree(engines, "clf", BINARY_REQUESTS)


def test_requests_agree_in_a_segment(engines: dict[str, Any]) -> None:
    reqs = [r for r in BINARY_REQUESTS if not isinstance(r, agg.Exceedance)]
    _agree(engines, "clf", reqs, segment={"region": "eu"})


def test_regression_requests_agree(engines: dict[str, Any]) -> None:
    _agree(engines, "reg", [agg.Regression(), agg.Volume()])


def test_samples_have_the_same_sizes(engines: dict[str, Any]) -> None:
    """Samples are pseudo-random per engine (its own hash); their sizes per window agree."""
    req = agg.Sample(("x", "color"), limit=20)
    sizes = []
    for store in engines["clf"][:2]:
        got = agg.collect(store, engines["clf"][2], [req, agg.Volume()], RUN)[req]
        sizes.append({w: t.num_rows for w, t in got.items()})
    assert sizes[0] == sizes[1] and set(sizes[0].values()) == {20}


def test_labels_are_made_canonical_on_spark(spark: Any) -> None:
    """Integer, boolean and whole float labels become DuckDB's strings; fractional ones are
    refused with the column's name, not cast to Spark's text form."""
    df = spark.createDataFrame(
        [("a", 1, True, 1.0), ("b", 0, False, 2.5)], "event_id string, i int, b boolean, f double"
    )
    whole = canonical_actuals(df.filter("f = 1.0"), BINARY, column="f").collect()
    assert [(r.event_id, r.actual) for r in whole] == [("a", "1")]
    got = {c: [r.actual for r in canonical_actuals(df, BINARY, column=c).collect()] for c in "ib"}
    assert got == {"i": ["1", "0"], "b": ["1", "0"]}
    with pytest.raises(ValidationError, match="'f' column holds labels that are not whole"):
        canonical_actuals(df, BINARY, column="f")


def test_a_missing_table_is_not_found(spark: Any, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="events"):
        read_lake(spark, str(tmp_path / "nowhere" / "x y"), field="events")
    with pytest.raises(NotFoundError):
        read_lake(spark, "no_such_db.no_such_table")


# -- the batch report on the cluster ------------------------------------------------------------

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
