"""Decision threshold and cost analysis, checked against scikit-learn over the raw rows.

The server bins labelled scores per class in one query; every threshold's confusion matrix must
equal scikit-learn's ``confusion_matrix(y, score >= t)`` on the same rows, the best threshold
must be a brute-force minimiser of the cost over the raw scores (to the bins' resolution), and a
planted calibration drift (scores shifted up) must produce the recommendation to raise the
threshold with a significant saving, while a well-placed threshold gets none.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, precision_score, recall_score

from mlwarden.stats.decision import Costs, decision_curve, gain_interval
from serverproc import http_client

START = datetime(2026, 9, 7, tzinfo=UTC)
N = 4000


def _rows(seed: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.random(N) < 0.3
    logit = rng.normal(size=N) + 2.0 * y - 1.0 + shift
    score = 1 / (1 + np.exp(-logit))
    score[:200] = np.round(score[:200], 2)  # some scores written with two decimals (0.58, ...)
    return y.astype(int), score


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with http_client(
        tmp_path_factory.mktemp("decision") / "data", "--evaluate-every", "0"
    ) as client:
        yield client


def _register(http: httpx.Client, name: str, y: np.ndarray, score: np.ndarray) -> None:
    spec = {"name": name, "task": "binary", "classes": ["0", "1"], "score": "score",
            "features": [{"name": "x", "kind": "numeric"}]}  # fmt: skip
    assert http.post("/v1/models", json=spec).status_code == 201
    events = [
        {"event_id": f"e{i}", "timestamp": (START + timedelta(seconds=i)).isoformat(),
         "features": {"x": 0.0}, "prediction": int(s >= 0.5), "score": float(s)}
        for i, s in enumerate(score)
    ]  # fmt: skip
    assert http.post(f"/v1/models/{name}/events", json=events).status_code == 200
    actuals = [{"event_id": f"e{i}", "actual": int(v)} for i, v in enumerate(y)]
    assert http.post(f"/v1/models/{name}/actuals", json=actuals).status_code == 200


def _decision(http: httpx.Client, name: str, **params: Any) -> dict[str, Any]:
    r = http.get(f"/v1/models/{name}/decision", params=params)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def test_every_threshold_matches_sklearn_and_the_best_is_a_brute_force_minimum(
    http: httpx.Client,
) -> None:
    y, score = _rows(1, shift=0.0)
    _register(http, "calibrated", y, score)
    costs = {"cost_fp": 1.0, "cost_fn": 5.0, "value_tp": 0.5, "value_tn": 0.0}
    out = _decision(http, "calibrated", **costs)
    assert out["n"] == N and out["positives"] == int(y.sum())
    for point in out["curve"]:
        t = point["threshold"]
        tn, fp, fn, tp = confusion_matrix(y, score >= t - 1e-12, labels=[0, 1]).ravel()
        assert (point["tp"], point["fp"], point["fn"], point["tn"]) == (tp, fp, fn, tn), t
        if tp + fp:
            assert point["precision"] == pytest.approx(precision_score(y, score >= t - 1e-12))
        assert point["recall"] == pytest.approx(recall_score(y, score >= t - 1e-12))
    # brute force over every raw score as a threshold
    cands = np.unique(np.concatenate([score, [0.0, 1.0]]))
    pred = score[None, :] >= cands[:, None]
    tp = (pred & (y == 1)).sum(1)
    fp = (pred & (y == 0)).sum(1)
    fn = (~pred & (y == 1)).sum(1)
    cost = (1.0 * fp + 5.0 * fn - 0.5 * tp) / N
    assert out["best"]["cost"] >= cost.min() - 1e-12
    # the bins' resolution (1/1000) costs at most a few rows near the optimum
    assert out["best"]["cost"] <= cost.min() + 5 * 6.0 / N
    assert out["deployed"]["threshold"] == 0.5


def test_a_calibration_drift_recommends_moving_the_threshold(http: httpx.Client) -> None:
    y, score = _rows(2, shift=1.5)  # every score pushed up: 0.5 now lets many negatives through
    _register(http, "drifted", y, score)
    out = _decision(http, "drifted", cost_fp=1.0, cost_fn=1.0)
    assert out["best"]["threshold"] > 0.6, out["best"]
    gain = out["gain"]
    assert gain["significant"] and gain["high"] < 0 and gain["relative"] < -0.1, gain
    assert out["recommendation"].startswith("Move the decision threshold from 0.5 to ")
    # the well-calibrated model at its cost-neutral threshold: nothing to recommend
    calm = _decision(http, "calibrated", cost_fp=1.0, cost_fn=1.0, deployed=out_best(http))
    assert calm["recommendation"] is None and not calm["gain"]["significant"]


def out_best(http: httpx.Client) -> float:
    threshold: float = _decision(http, "calibrated", cost_fp=1.0, cost_fn=1.0)["best"]["threshold"]
    return threshold


def test_bad_requests_say_what_is_wrong(http: httpx.Client) -> None:
    r = http.get("/v1/models/calibrated/decision", params={"cost_fp": 0, "cost_fn": 0})
    assert r.status_code == 422 and "must make some outcome matter" in r.text
    r = http.get("/v1/models/calibrated/decision", params={"deployed": 1.5})
    assert r.status_code == 422
    r = http.get("/v1/models/calibrated/decision",
                 params={"start": "2030-01-01T00:00:00Z", "end": "2030-01-02T00:00:00Z"})  # fmt: skip
    assert r.status_code == 422 and "no labelled events" in r.text
    assert http.get("/v1/models/nope/decision").status_code == 404


def test_the_bootstrap_interval_covers_the_sampling_spread() -> None:
    """The paired bootstrap's 95% interval of the saving, against the spread of the saving
    over independent samples of the same population (same two thresholds)."""
    rng = np.random.default_rng(7)
    k = 100

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.random(n) < 0.3
        s = 1 / (1 + np.exp(-(rng.normal(size=n) + 2.0 * y - 0.3)))
        b = np.minimum((s * k).astype(int), k - 1)
        return np.bincount(b[y], minlength=k), np.bincount(b[~y], minlength=k)

    costs = Costs(fp=1.0, fn=1.0)
    spread = []
    for _ in range(300):
        p, q = sample(3000)
        c = decision_curve(p, q, costs=costs)
        spread.append(c.cost[60] - c.cost[50])
    p, q = sample(3000)
    g = gain_interval(p, q, costs=costs, deployed=50, best=60, replicates=2000)
    width, true_width = g.high - g.low, np.quantile(spread, 0.975) - np.quantile(spread, 0.025)
    assert 0.7 * true_width < width < 1.4 * true_width, (width, true_width)
