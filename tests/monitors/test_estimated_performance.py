"""Estimated performance without labels on the real engine: DLE for a regressor, CBPE for a
multiclass classifier (binary CBPE runs in the 60-day scenario). The estimates are checked
against the realised metric (numpy on the withheld labels) and against the stats core run
in memory on the same rows (the oracle of the engine path)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlwarden.monitors import Monitor, MonitorSuite, Status, auto_monitors
from mlwarden.monitors.context import Window, WindowData
from mlwarden.monitors.estimated_performance import EstimatedPerformance
from mlwarden.monitors.evaluate import evaluate, window_run
from mlwarden.schema import Feature, ModelSpec, validate_table
from mlwarden.stats.estimation import CBPE
from mlwarden.store import DuckDBStore
from mlwarden.store.aggregates import ScoreBins, _filtered, _score_bins

START = datetime(2026, 3, 2, tzinfo=UTC)
DAYS, SHIFT_DAY, PER_DAY = 10, 6, 1000


# -- a regressor whose errors grow where x2 is high -------------------------------------------
def _regression(rng: np.random.Generator, n: int, x2_shift: float) -> dict[str, np.ndarray]:
    x1, x2 = rng.normal(size=n), rng.normal(x2_shift, 1.0, size=n)
    cat = rng.choice(np.array(["a", "b", "c"]), n, p=[0.5, 0.3, 0.2])
    mean = 3 * x1 + 2 * (cat == "b")
    y = mean + rng.normal(size=n) * np.exp(0.8 * x2)
    return {"x1": x1, "x2": x2, "cat": cat, "prediction": mean, "target": y}


REG_SPEC = ModelSpec(
    name="price",
    task="regression",
    features=[
        Feature(name="x1", kind="numeric"),
        Feature(name="x2", kind="numeric"),
        Feature(name="cat", kind="categorical"),
    ],
    prediction="prediction",
    target="target",
)


@pytest.fixture(scope="module")
def regression_run() -> tuple[list, dict[int, float], Monitor, dict[int, dict[str, np.ndarray]]]:
    rng = np.random.default_rng(5)
    ref = _regression(rng, 8000, 0.0)
    reference = pa.table(ref)
    days = {d: _regression(rng, PER_DAY, 1.0 if d >= SHIFT_DAY else 0.0) for d in range(DAYS)}
    store = DuckDBStore()
    try:
        model = store.create_model("p", REG_SPEC)
        for d, cols in days.items():
            events = pa.table(
                {
                    "event_id": [f"e{d}-{i}" for i in range(PER_DAY)],
                    "timestamp": [
                        START + timedelta(days=d, seconds=60 * i) for i in range(PER_DAY)
                    ],
                    **{k: v for k, v in cols.items() if k != "target"},  # no labels yet
                }
            )
            r = validate_table(REG_SPEC, events)
            assert not r.rejected
            store.append_events(model, r.table).result()
        suite = MonitorSuite("price", auto_monitors(REG_SPEC), cadence="1d").fit(
            REG_SPEC, reference
        )
        res = evaluate(store, model, suite, START, START + timedelta(days=DAYS))
    finally:
        store.close()
    realised = {d: float(np.mean(np.abs(c["target"] - c["prediction"]))) for d, c in days.items()}
    (mon,) = [m for m in suite.monitors if m.id == "estimated_performance:mae"]
    return res, realised, mon, days


def test_dle_tracks_the_realised_mae_and_alerts_on_the_shift(regression_run: tuple) -> None:
    res, realised, _, _ = regression_run
    est = {
        (r.window_start - START).days: r
        for r in res
        if r.monitor == "estimated_performance:mae" and r.segment is None
    }
    assert sorted(est) == list(range(DAYS))
    inside = sum(est[d].details["lower"] <= realised[d] <= est[d].details["upper"] for d in est)
    assert inside >= DAYS - 2, {d: (realised[d], est[d].details) for d in est}
    assert all(abs(est[d].value - realised[d]) / realised[d] < 0.15 for d in est)
    assert all(est[d].status is Status.OK for d in range(SHIFT_DAY))
    assert all(est[d].status is Status.ALERT for d in range(SHIFT_DAY, DAYS))
    assert est[SHIFT_DAY].details["method"] == "dle"
    # the labelled metric has nothing to say yet: the estimate is the early warning
    lab = [r for r in res if r.monitor == "performance:mae"]
    assert lab and {r.status for r in lab} == {Status.NO_DATA}
    # DLE is whole-model only (its models are too costly to train per segment)
    assert not [r for r in res if r.kind == "estimated_performance" and r.segment]


def test_dle_engine_path_equals_the_stats_core_on_the_same_rows(regression_run: tuple) -> None:
    res, _, mon, days = regression_run
    from mlwarden.monitors.estimated_performance import _design

    d = SHIFT_DAY + 1
    cols = days[d]
    s = mon.dle_
    table = pa.table({"x1": cols["x1"], "x2": cols["x2"], "cat": cols["cat"]})
    x = _design({k: table.column(k) for k in s["features"]}, s["features"], s["categories"])
    direct = mon._dle().estimate_arrays(x, cols["prediction"]).mae  # whole window < sample
    (r,) = [
        r
        for r in res
        if r.monitor == "estimated_performance:mae"
        and r.segment is None
        and (r.window_start - START).days == d
    ]
    assert r.value == pytest.approx(direct.value, rel=1e-9)
    assert r.details["upper"] == pytest.approx(direct.upper, rel=1e-9)


def test_dle_state_round_trips_and_retrains_the_same_models(regression_run: tuple) -> None:
    _, _, mon, days = regression_run
    import json

    again = Monitor.from_dict(json.loads(json.dumps(mon.to_dict())))
    assert again == mon and not hasattr(again, "_dle_model")
    from mlwarden.monitors.estimated_performance import _DLE_CACHE, _design

    _DLE_CACHE.clear()  # a new process: train again from the state
    cols = days[0]
    s = mon.dle_
    table = pa.table({"x1": cols["x1"], "x2": cols["x2"], "cat": cols["cat"]})
    x = _design({k: table.column(k) for k in s["features"]}, s["features"], s["categories"])
    a = mon._dle().estimate_arrays(x, cols["prediction"]).mae
    b = again._dle().estimate_arrays(x, cols["prediction"]).mae
    assert a == b


# -- a three-class classifier whose confidence falls ------------------------------------------
CLASSES = ("a", "b", "c")
MC_SPEC = ModelSpec(
    name="triage",
    task="multiclass",
    features=[Feature(name="x", kind="numeric")],
    prediction="prediction",
    scores=("p_a", "p_b", "p_c"),
    classes=CLASSES,
    target="target",
)


def _multiclass(rng: np.random.Generator, n: int, temperature: float) -> dict[str, np.ndarray]:
    x = rng.normal(size=n)
    logits = np.column_stack([2 * x, -x, rng.normal(size=n)]) / temperature
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    # calibrated: the actual class is drawn from the probabilities the model gives
    y = np.array([rng.choice(3, p=row) for row in p])
    return {"x": x, "p": p, "y": y, "pred": p.argmax(axis=1)}


def test_multiclass_cbpe_estimates_accuracy_before_labels() -> None:
    rng = np.random.default_rng(8)
    ref = _multiclass(rng, 20_000, 1.0)
    labels = np.array(CLASSES)
    reference = pa.table(
        {
            "x": ref["x"],
            **{f"p_{c}": ref["p"][:, i] for i, c in enumerate(CLASSES)},
            "prediction": labels[ref["pred"]],
            "target": labels[ref["y"]],
        }
    )
    days = {d: _multiclass(rng, PER_DAY, 3.0 if d >= SHIFT_DAY else 1.0) for d in range(DAYS)}
    store = DuckDBStore()
    try:
        model = store.create_model("p", MC_SPEC)
        for d, c in days.items():
            events = pa.table(
                {
                    "event_id": [f"e{d}-{i}" for i in range(PER_DAY)],
                    "timestamp": [
                        START + timedelta(days=d, seconds=60 * i) for i in range(PER_DAY)
                    ],
                    "x": c["x"],
                    **{f"score__{k}": c["p"][:, i] for i, k in enumerate(CLASSES)},
                    "prediction": labels[c["pred"]],
                }
            )
            r = validate_table(MC_SPEC, events)
            assert not r.rejected
            store.append_events(model, r.table).result()
        suite = MonitorSuite("triage", auto_monitors(MC_SPEC), cadence="1d").fit(MC_SPEC, reference)
        assert {"estimated_performance:accuracy", "estimated_performance:f1"} <= {
            m.id for m in suite.monitors
        }
        res = evaluate(store, model, suite, START, START + timedelta(days=DAYS), segments=False)
        # the engine's per-column score bins against the portable oracle
        run = window_run(START, START + timedelta(days=DAYS), timedelta(days=1))
        (mon,) = [m for m in suite.monitors if m.id == "estimated_performance:accuracy"]
        for req in mon.requests():
            assert isinstance(req, ScoreBins) and req.column.startswith("score__")
            ev = _filtered(store.events(model), run, None)
            hot = store.score_bins(ev, req)
            oracle = _score_bins(ev, req)
            assert {w: sorted(v) for w, v in hot.items()} == {
                w: sorted(v) for w, v in oracle.items()
            }
    finally:
        store.close()
    est = {
        (r.window_start - START).days: r
        for r in res
        if r.monitor == "estimated_performance:accuracy"
    }
    cbpe: CBPE = mon.cbpe_
    for d, c in days.items():
        realised = float(np.mean(c["y"] == c["pred"]))
        direct = cbpe.estimate_arrays(c["p"], labels[c["pred"]]).accuracy
        assert est[d].value == pytest.approx(direct.value, abs=1e-9)
        assert abs(est[d].value - realised) < 0.05
    assert all(est[d].status is Status.OK for d in range(SHIFT_DAY))
    assert all(est[d].status is Status.ALERT for d in range(SHIFT_DAY, DAYS))


def test_bad_configurations_are_refused_clearly() -> None:
    from mlwarden.errors import ConfigError
    from mlwarden.monitors.context import FitContext

    ctx = FitContext(MC_SPEC, pa.table({"x": [1.0]}))
    with pytest.raises(ConfigError, match="'mae' cannot be estimated for a multiclass model"):
        EstimatedPerformance("mae").fit(ctx)
    with pytest.raises(ConfigError, match="The 'metric' must be one of"):
        EstimatedPerformance("auc").fit(ctx)
    no_scores = MC_SPEC.model_copy(update={"scores": ()})
    with pytest.raises(ConfigError, match="one score column per class"):
        EstimatedPerformance("accuracy").fit(FitContext(no_scores, pa.table({"x": [1.0]})))


# -- issue 15: a user's own small model ---------------------------------------------------------
def _breast_cancer_tables() -> tuple[pa.Table, pa.Table, float]:
    """A scikit-learn classifier trained on 341 rows of the bundled breast-cancer data (the
    reference: its training rows) and 228 healthy held-out rows (the current window)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_breast_cancer(return_X_y=True)
    xr, xc, yr, yc = train_test_split(x, y, test_size=0.4, random_state=0, stratify=y)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(xr, yr)

    def table(xs: np.ndarray, ys: np.ndarray) -> pa.Table:
        cols = {f"f{i}": xs[:, i] for i in range(xs.shape[1])}
        score = model.predict_proba(xs)[:, 1]
        return pa.table({**cols, "score": score, "prediction": model.predict(xs), "target": ys})

    return table(xr, yr), table(xc, yc), float(np.mean(model.predict(xc) == yc))


def test_small_reference_of_a_users_classifier_raises_no_false_alert(tmp_path: Path) -> None:
    """Issue 15: on main, 1,000 calibration bins for 341 reference rows put most current
    rows in empty cells (the base rate): estimated accuracy 0.67 and ROC AUC 0.66 against
    0.97 / 0.99 realised, an alert, and `mlwarden check --target` exiting 1."""
    from sklearn.metrics import roc_auc_score

    import mlwarden

    ref, cur, accuracy = _breast_cancer_tables()
    assert (ref.num_rows, cur.num_rows) == (341, 228)
    rep = mlwarden.report(ref, cur, target="target", prediction="prediction", score="score")
    by = {r.monitor: r for r in rep.results if r.segment is None}
    realised = {
        "accuracy": accuracy,
        "roc_auc": roc_auc_score(cur.column("target"), cur.column("score")),
    }
    for metric, value in realised.items():
        est = by[f"estimated_performance:{metric}"]
        assert est.status is Status.OK, est.reason
        assert est.value == pytest.approx(value, abs=0.035), metric
        assert est.details["lower"] <= est.value <= est.details["upper"]
    pq.write_table(ref, tmp_path / "reference.parquet")
    pq.write_table(cur, tmp_path / "current.parquet")
    run = subprocess.run(
        [sys.executable, "-m", "mlwarden.cli.main", "check", str(tmp_path / "reference.parquet")]
        + [str(tmp_path / "current.parquet"), "--target", "target", "--score", "score"]
        + ["--prediction", "prediction"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_too_small_a_reference_says_so_instead_of_estimating() -> None:
    """Below the reference an estimate can be trusted on, every window is
    insufficient_data with the cause and the size needed, for CBPE and DLE alike."""
    import mlwarden

    rng = np.random.default_rng(15)

    def binary(n: int) -> pa.Table:
        x = rng.normal(size=n)
        p = 1 / (1 + np.exp(-2.5 * x))
        y = (rng.uniform(size=n) < p).astype(int)
        return pa.table({"x": x, "score": p, "prediction": (p >= 0.5).astype(int), "target": y})

    rep = mlwarden.report(
        binary(150), binary(400), target="target", prediction="prediction", score="score"
    )
    by = {r.monitor: r for r in rep.results if r.segment is None}
    for metric in ("accuracy", "roc_auc"):
        r = by[f"estimated_performance:{metric}"]
        assert r.status is Status.INSUFFICIENT_DATA and r.value is None
        assert r.details["cause"] == "insufficient_reference"
        assert r.details["reference_rows"] == 150
        assert r.details["needed_rows"] == 200
        assert "insufficient_reference" in r.reason and "150" in r.reason
    # a reference with enough rows but too few of one class names the class and the size
    skewed = binary(3000)
    few = pa.concat_tables(
        [skewed.filter(pa.compute.equal(skewed["target"], 0)).slice(0, 10)]
        + [skewed.filter(pa.compute.equal(skewed["target"], 1)).slice(0, 290)]
    )
    rep = mlwarden.report(few, binary(400), target="target", prediction="prediction", score="score")
    r = {r.monitor: r for r in rep.results if r.segment is None}["estimated_performance:accuracy"]
    assert r.status is Status.INSUFFICIENT_DATA and r.details["needed_rows"] == 600
    assert "10 of class '0'" in r.reason

    reg = _regression(rng, 150, 0.0)
    (mon,) = [
        m
        for m in MonitorSuite("p", auto_monitors(REG_SPEC)).fit(REG_SPEC, pa.table(reg)).monitors
        if m.id == "estimated_performance:mae"
    ]
    assert mon.requests() == [] and not mon.per_segment  # no segment is larger
    back = Monitor.from_dict(mon.to_dict())  # the verdict survives a reload
    assert back.to_dict() == mon.to_dict()
    res = back.evaluate(WindowData(Window(START, START + timedelta(days=1)), {}))
    assert res.status is Status.INSUFFICIENT_DATA
    assert res.details == {
        "cause": "insufficient_reference",
        "reference_rows": 150,
        "needed_rows": 300,
        "method": "dle",
    }
    # refitted on a reference large enough, the same monitor estimates again
    from mlwarden.monitors.context import FitContext

    mon.fit(FitContext(REG_SPEC, pa.table(_regression(rng, 400, 0.0))))
    assert mon.requests() != [] and "short_reference" not in mon.state_to_dict()
