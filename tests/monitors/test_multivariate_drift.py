"""The multivariate drift monitor: null windows within the budget on heavy-tailed features,
a small joint shift seen at 10k rows, the features named, states of earlier versions read.

The windows here are handed to the monitor as the store's ``Sample`` would return them (a
window below the sample's limit is returned whole); one test goes through ``report``."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

import mlwarden
from mlwarden.monitors import Monitor, Status
from mlwarden.monitors.context import Calibration, FitContext, Window, WindowData
from mlwarden.monitors.multivariate_drift import MultivariateDrift
from mlwarden.schema.infer import infer_spec

START = datetime(2024, 1, 1, tzinfo=UTC)
#: alpha 0.05 per window: 36 false alerts per 720 hourly windows, one monitor
LOOSE = Calibration(budget="36 per 30 days", cadence_s=3600, monitors=1)
#: what a batch report of a dozen monitors gives each: 1 per 100 daily runs / 12
BATCH = Calibration(budget="1 per 100 days", cadence_s=86400, monitors=12)


def draw(rng: np.random.Generator, shapes: str, n: int, shift: float = 0.0) -> pa.Table:
    common = rng.normal(size=n)
    cols = {}
    for i, s in enumerate(shapes):
        if s == "t":
            x = rng.standard_t(2, n)
        elif s == "l":
            x = rng.lognormal(size=n)
        elif s == "c":  # weakly correlated normals (PCA kept every component of these)
            x = (0.5 * common + rng.normal(size=n)) / math.sqrt(1.25)
        else:
            x = rng.normal(size=n)
        cols[f"f{i}"] = x + (shift if i < 3 else 0.0)
    return pa.table(cols)


def fitted(ref: pa.Table, calibration: Calibration, **params: object) -> MultivariateDrift:
    spec = infer_spec(ref, name="m").spec
    return MultivariateDrift(**params).fit(FitContext(spec, ref, calibration))  # type: ignore[arg-type]


def judge(mon: Monitor, cur: pa.Table) -> mlwarden.monitors.Result:
    data = WindowData(Window(START, START + timedelta(hours=1)), {mon.requests()[0]: cur})
    return mon.evaluate(data)


@pytest.mark.parametrize("shapes", ["tnn", "lnn", "ccc", "tln"])
def test_null_windows_alert_within_the_budget(shapes: str) -> None:
    # main: one Student-t(2) and two normal features alerted in 12.5% of null 1k/1k reports
    # at alpha ~1e-3; three weakly correlated normals alerted on rounding noise (1e-31)
    alerts = 0
    for seed in range(30):
        rng = np.random.default_rng([22, seed])
        mon = fitted(draw(rng, shapes, 1000), LOOSE)
        res = judge(mon, draw(rng, shapes, 1000))
        assert res.status in (Status.OK, Status.WARN, Status.ALERT)
        assert res.value is not None and math.isfinite(res.value) and abs(res.value) < 50
        assert res.threshold is not None and res.threshold > 1.0  # not rounding noise
        alerts += res.status is Status.ALERT
    assert alerts <= 6  # alpha 0.05 over 30 windows: P(>= 7) < 0.5%


def test_a_joint_shift_of_three_features_by_five_hundredths_sd_at_10k_rows() -> None:
    seen = 0
    for seed in range(5):
        rng = np.random.default_rng([23, seed])
        mon = fitted(draw(rng, "nnnn", 10_000), BATCH)
        res = judge(mon, draw(rng, "nnnn", 10_000, shift=0.05))
        assert res.n == 10_000  # the whole window: the sample's limit is 10k rows
        seen += res.status is Status.ALERT
        if res.status is Status.ALERT:
            assert res.details["location"] > res.details["dependence"]
            assert "f3" not in list(res.details["mean_shift"])[:3]
    assert seen >= 4  # ~95% expected


def test_the_reason_names_the_feature_that_moved_most() -> None:
    rng = np.random.default_rng(3)
    mon = fitted(draw(rng, "tln", 3000), LOOSE)
    cur = draw(rng, "tln", 2000)
    cur = cur.set_column(1, "f1", pa.array(cur.column("f1").to_numpy() * 1.5))
    res = judge(mon, cur)
    assert res.status is Status.ALERT and "most from 'f1'" in res.reason
    assert res.details["mean_shift"]["f1"] > 0.2  # lognormal x 1.5: a shift of its scores
    assert 0 <= res.details["p_value"] < 0.05


def test_too_few_rows_and_constant_columns() -> None:
    rng = np.random.default_rng(4)
    ref = draw(rng, "nn", 500).append_column("k", pa.array(np.full(500, 2.0)))
    mon = fitted(ref, LOOSE)
    assert mon.features_ == ["f0", "f1"] and mon.skipped_ == ["k"]
    small = judge(mon, draw(rng, "nn", 50).append_column("k", pa.array(np.full(50, 2.0))))
    assert small.status is Status.INSUFFICIENT_DATA and "at least 200" in small.reason
    with pytest.raises(mlwarden.errors.ConfigError, match="two numeric features"):
        fitted(ref.select(["f0", "k"]), LOOSE)
    with pytest.raises(mlwarden.errors.ConfigError, match="method"):
        fitted(ref, LOOSE, method="pca")


def test_state_of_an_earlier_version_and_the_retired_method_still_work() -> None:
    rng = np.random.default_rng(5)
    ref, cur = draw(rng, "tnn", 2000), draw(rng, "tnn", 1000)
    mon = fitted(ref, LOOSE)
    want = judge(mon, cur)
    again = Monitor.from_dict(mon.to_dict())
    assert judge(again, cur).to_dict() == want.to_dict()
    # what main stored: method "reconstruction", the reference as rows of floats
    old = {
        "kind": "multivariate_drift",
        "method": "reconstruction",
        "sample": 2000,
        "columns": None,
        "state": {
            "features_": ["f0", "f1", "f2"],
            "reference_": np.column_stack([ref.column(c).to_numpy() for c in ("f0", "f1", "f2")])
            .astype(np.float64)
            .tolist(),
            "calibration_": LOOSE.to_dict(),
        },
    }
    res = judge(Monitor.from_dict(old), cur)
    assert res.details["method"] == "normal_scores"
    assert res.value == pytest.approx(want.value, rel=1e-6)


def test_a_batch_report_judges_the_whole_window() -> None:
    rng = np.random.default_rng(6)
    rep = mlwarden.report(draw(rng, "tln", 4000), draw(rng, "tln", 4000, shift=0.3))
    (mv,) = [r for r in rep.results if r.kind == "multivariate_drift" and r.segment is None]
    assert mv.status is Status.ALERT and mv.n == 4000
    assert set(mv.details["features"]) == {"f0", "f1", "f2"}


def test_the_demo_drift_is_seen_and_its_quiet_days_are_not() -> None:
    # main stayed green through the demo's drift while single features alerted strongly
    from mlwarden.cli.simulator import Scenario, Simulation
    from mlwarden.monitors.evaluate import _evaluate, window_run
    from mlwarden.schema import ModelSpec, validate_table
    from mlwarden.store import DuckDBStore

    sim = Simulation(Scenario(days=4, events_per_day=2000, drift_start_day=2, reference_rows=20000))
    spec = ModelSpec.model_validate(sim.spec_columns)
    cal = Calibration(cadence_s=86400, monitors=40)
    mon = MultivariateDrift().fit(FitContext(spec, sim.reference(), cal))
    store = DuckDBStore()
    try:
        model = store.create_model("p", spec)
        for batch in sim.iter_batches(batch_size=50_000):
            store.append_events(model, validate_table(spec, batch).table).result()
        start = sim.scenario.start
        days = window_run(start, start + timedelta(days=4), timedelta(days=1))
        results = _evaluate(store, model, [mon], days, None)
    finally:
        store.close()
    whole = [r for r in results if r.segment is None]
    assert [r.status for r in whole] == [Status.OK, Status.OK, Status.ALERT, Status.ALERT]
    assert all(r.n == 2000 for r in whole)


def test_bounds_are_the_thresholds_the_windows_get_and_the_classifier_still_runs() -> None:
    rng = np.random.default_rng(9)
    ref = draw(rng, "tln", 2000)
    mon = fitted(ref, LOOSE)
    res = judge(mon, draw(rng, "tln", 700))
    assert mon.bounds(700) == (res.threshold, res.warn)  # what the dry run shows
    assert res.warn is not None and res.threshold is not None and res.warn < res.threshold
    clf = fitted(ref, LOOSE, method="classifier")
    moved = judge(clf, draw(rng, "tln", 700, shift=1.0))
    assert moved.status is Status.ALERT and "domain classifier AUC" in moved.reason
