"""Estimated performance without labels on the real engine: DLE for a regressor, CBPE for a
multiclass classifier (binary CBPE runs in the 60-day scenario). The estimates are checked
against the realised metric (numpy on the withheld labels) and against the stats core run
in memory on the same rows (the oracle of the engine path)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from mlwarden.monitors import Monitor, MonitorSuite, Status, auto_monitors
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
