"""Users' own models, end to end through the real server (not the demo simulator).

Four small models trained with scikit-learn on its bundled data sets (and one synthetic model
with a sensitive attribute whose reference is already unfair), each with a reference of a few
hundred held-out rows. Healthy traffic raises no alert from any monitor (and ``mlwarden check``
passes); a planted degradation (a covariate shift, a drop in accuracy, an error-rate disparity
that appears) fires the right monitor and its incident names the feature or the group. The
numbers the result pages show are checked against scikit-learn, fairlearn, scipy and numpy on
the raw rows. One server for the module, daily windows, small data.
"""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fairlearn.metrics import demographic_parity_ratio, equalized_odds_difference
from scipy.stats import ks_2samp
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, mean_absolute_error, mean_squared_error

from serverproc import http_client

START = datetime(2026, 9, 7, tzinfo=UTC)
DAY = timedelta(days=1)
PARQUET = {"content-type": "application/vnd.apache.parquet"}


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with http_client(tmp_path_factory.mktemp("users") / "data", "--evaluate-every", "0") as client:
        yield client


@dataclass
class Rows:
    """Raw rows as the user has them: features, the model's outputs and the truth."""

    features: dict[str, np.ndarray]
    prediction: np.ndarray
    actual: np.ndarray
    score: np.ndarray | None = None

    def take(self, idx: np.ndarray) -> Rows:
        return Rows(
            {k: v[idx] for k, v in self.features.items()},
            self.prediction[idx],
            self.actual[idx],
            None if self.score is None else self.score[idx],
        )

    def __len__(self) -> int:
        return len(self.actual)


def reference_table(rows: Rows) -> pa.Table:
    cols: dict[str, Any] = {k: v for k, v in rows.features.items()}
    cols["prediction"] = rows.prediction
    cols["target"] = rows.actual
    if rows.score is not None:
        cols["score"] = rows.score
    return pa.table(cols)


def _py(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def register(http: httpx.Client, spec: dict[str, Any], reference: Rows) -> None:
    name = spec["name"]
    r = http.post("/v1/models", json=spec)
    assert r.status_code == 201, r.text
    sink = io.BytesIO()
    pq.write_table(reference_table(reference), sink)
    r = http.post(f"/v1/models/{name}/reference", content=sink.getvalue(), headers=PARQUET)
    assert r.status_code == 201, r.text
    r = http.post(f"/v1/models/{name}/monitors/setup", json={"cadence": "1d"})
    assert r.status_code == 200, r.text


def send(http: httpx.Client, name: str, rows: Rows, day: int, tag: str) -> None:
    """``rows`` as the events of ``day`` (spread over the day) and their labels."""
    n = len(rows)
    events, actuals = [], []
    for i in range(n):
        eid = f"{tag}-{day}-{i}"
        ev: dict[str, Any] = {
            "event_id": eid,
            "timestamp": (START + day * DAY + (i + 0.5) * DAY / n).isoformat(),
            "features": {k: _py(v[i]) for k, v in rows.features.items()},
            "prediction": _py(rows.prediction[i]),
        }
        if rows.score is not None:
            ev["score"] = float(rows.score[i])
        events.append(ev)
        actuals.append({"event_id": eid, "actual": _py(rows.actual[i])})
    r = http.post(f"/v1/models/{name}/events", json=events)
    assert r.status_code == 200 and r.json()["accepted"] == n, r.text
    r = http.post(f"/v1/models/{name}/actuals", json=actuals)
    assert r.status_code == 200, r.text


def evaluate(http: httpx.Client, name: str, first: int, last: int) -> None:
    body = {
        "start": (START + first * DAY).isoformat(),
        "end": (START + (last + 1) * DAY).isoformat(),
    }
    r = http.post(f"/v1/models/{name}/evaluate", json=body)
    assert r.status_code == 200, r.text


def results(http: httpx.Client, name: str, **params: Any) -> list[dict[str, Any]]:
    r = http.get(f"/v1/models/{name}/results", params={"limit": 100_000, **params})
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()
    return out


def on_day(rows: list[dict[str, Any]], day: int) -> dict[str, Any]:
    (hit,) = [
        r for r in rows if r["window_start"].startswith((START + day * DAY).date().isoformat())
    ]
    return hit


def alerts(http: httpx.Client, name: str) -> list[tuple[str, str | None, str]]:
    got = results(http, name, status="alert", whole_model="false")
    return [(r["monitor"], r["segment"], r["window_start"][:10]) for r in got]


def incidents(http: httpx.Client, name: str) -> list[dict[str, Any]]:
    r = http.get("/v1/incidents", params={"model": name})
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def split(n: int, sizes: tuple[int, ...], seed: int) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    cuts = np.cumsum(sizes)[:-1]
    return np.split(order[: sum(sizes)], cuts)


# -- 1. a binary classifier on the breast cancer data: a covariate shift ----------------------


BC_FEATURES = ["mean_radius", "mean_texture", "mean_smoothness", "mean_concavity"]


@pytest.fixture(scope="module")
def cancer() -> dict[str, Rows]:
    data = load_breast_cancer()
    names = [n.replace(" ", "_") for n in data.feature_names]
    x = data.data[:, [names.index(f) for f in BC_FEATURES]]
    train, ref, cur = split(len(x), (150, 250, 169), seed=1)
    model = LogisticRegression(max_iter=5000).fit(x[train], data.target[train])

    def rows(idx: np.ndarray, xs: np.ndarray | None = None) -> Rows:
        xx = x[idx] if xs is None else xs
        return Rows(
            {f: xx[:, j] for j, f in enumerate(BC_FEATURES)},
            model.predict(xx).astype(str),
            data.target[idx].astype(str),
            model.predict_proba(xx)[:, 1],
        )

    shifted = x[cur[:84]].copy()
    shifted[:, 0] += 1.5 * x[ref, 0].std()  # tumours measured larger: a new scanner
    return {
        "reference": rows(ref),
        "day0": rows(cur[:84]),
        "day1": rows(cur[84:]),
        "shifted": rows(cur[:84], shifted),
    }


def test_binary_classifier_healthy_is_quiet_then_a_covariate_shift_is_named(
    http: httpx.Client, cancer: dict[str, Rows], tmp_path: Path
) -> None:
    spec = {
        "name": "cancer",
        "task": "binary",
        "classes": ["0", "1"],
        "features": [{"name": f, "kind": "numeric"} for f in BC_FEATURES],
        "prediction": "prediction",
        "score": "score",
        "target": "target",
        "positive_class": "1",
    }
    register(http, spec, cancer["reference"])
    send(http, "cancer", cancer["day0"], 0, "h")
    send(http, "cancer", cancer["day1"], 1, "h")
    evaluate(http, "cancer", 0, 1)
    assert alerts(http, "cancer") == [] and incidents(http, "cancer") == []

    # the numbers of the result pages, from the raw rows
    acc = results(http, "cancer", monitor="performance:accuracy")
    for day in (0, 1):
        raw = cancer[f"day{day}"]
        assert on_day(acc, day)["value"] == pytest.approx(
            accuracy_score(raw.actual, raw.prediction)
        )
        assert on_day(acc, day)["n"] == len(raw)
    drift = on_day(results(http, "cancer", monitor="feature_drift:mean_radius"), 0)
    ks = ks_2samp(
        cancer["reference"].features["mean_radius"], cancer["day0"].features["mean_radius"]
    )
    assert drift["value"] == pytest.approx(ks.statistic, abs=0.01)  # binned on 256 reference bins
    col = http.get("/v1/models/cancer/columns/mean_radius").json()
    both = np.concatenate(
        [cancer["day0"].features["mean_radius"], cancer["day1"].features["mean_radius"]]
    )
    assert col["sum"] / (col["n"] - col["nulls"]) == pytest.approx(float(both.mean()))

    # the same healthy rows through the CI gate
    ref_file, cur_file = tmp_path / "reference.parquet", tmp_path / "current.parquet"
    pq.write_table(reference_table(cancer["reference"]), ref_file)
    pq.write_table(reference_table(cancer["day0"]), cur_file)
    gate = subprocess.run(
        [sys.executable, "-m", "mlwarden.cli.main", "check", str(ref_file), str(cur_file),
         "--target", "target", "--prediction", "prediction", "--score", "score"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert gate.returncode == 0, gate.stdout + gate.stderr

    # a new scanner measures tumours larger
    send(http, "cancer", cancer["shifted"], 2, "s")
    evaluate(http, "cancer", 2, 2)
    fired = {m for m, seg, _ in alerts(http, "cancer") if seg is None}
    assert "feature_drift:mean_radius" in fired
    assert not {f"feature_drift:{f}" for f in BC_FEATURES[1:]} & fired
    (inc,) = incidents(http, "cancer")
    assert inc["kind"] == "drift" and "mean_radius" in inc["title"]
    top = inc["causes"]["features"][0]
    assert top["name"] == "mean_radius" and top["first_alert"].startswith(
        (START + 2 * DAY).date().isoformat()
    )


# -- 2. a multiclass classifier on the digits data: a drop in accuracy -------------------------


@pytest.fixture(scope="module")
def digits() -> dict[str, Rows]:
    data = load_digits()
    img = data.images.reshape(-1, 4, 2, 4, 2).sum(axis=(2, 4)).reshape(len(data.images), -1)
    names = [f"block_{i}" for i in range(img.shape[1])]
    train, ref, cur = split(len(img), (700, 400, 300), seed=2)
    model = LogisticRegression(max_iter=2000).fit(img[train] / 64, data.target[train])

    def rows(idx: np.ndarray, wrong: float = 0.0) -> Rows:
        pred = model.predict(img[idx] / 64)
        flip = np.random.default_rng(7).random(len(idx)) < wrong
        pred = np.where(flip, (pred + 1) % 10, pred)  # a broken feature pipeline
        return Rows({n: img[idx, j] for j, n in enumerate(names)}, pred.astype(str),
                    data.target[idx].astype(str))  # fmt: skip

    return {
        "reference": rows(ref),
        "day0": rows(cur[:150]),
        "day1": rows(cur[150:]),
        "broken": rows(cur[:150], wrong=0.4),
    }


def test_multiclass_classifier_accuracy_drop_fires_performance(
    http: httpx.Client, digits: dict[str, Rows]
) -> None:
    spec = {
        "name": "digits",
        "task": "multiclass",
        "classes": [str(c) for c in range(10)],
        "features": [{"name": n, "kind": "numeric"} for n in digits["reference"].features],
        "prediction": "prediction",
        "target": "target",
    }
    register(http, spec, digits["reference"])
    send(http, "digits", digits["day0"], 0, "h")
    send(http, "digits", digits["day1"], 1, "h")
    evaluate(http, "digits", 0, 1)
    assert alerts(http, "digits") == []
    send(http, "digits", digits["broken"], 2, "b")
    evaluate(http, "digits", 2, 2)
    fired = {m for m, seg, _ in alerts(http, "digits") if seg is None}
    assert "performance:accuracy" in fired
    assert not any(m.startswith("feature_drift") for m in fired)  # the inputs did not change
    acc = results(http, "digits", monitor="performance:accuracy")
    f1 = results(http, "digits", monitor="performance:f1")
    for day, key in ((0, "day0"), (1, "day1"), (2, "broken")):
        raw = digits[key]
        assert on_day(acc, day)["value"] == pytest.approx(
            accuracy_score(raw.actual, raw.prediction)
        )
    from sklearn.metrics import f1_score

    raw = digits["broken"]
    assert on_day(f1, 2)["value"] == pytest.approx(
        f1_score(raw.actual, raw.prediction, average="macro")
    )
    assert [i["kind"] for i in incidents(http, "digits")] == ["performance"]


# -- 3. a regressor on the diabetes data: quiet, and its errors as scikit-learn counts them ------


def test_regressor_healthy_is_quiet_and_its_errors_match_sklearn(http: httpx.Client) -> None:
    data = load_diabetes()
    names = list(data.feature_names)
    train, ref, cur = split(len(data.data), (140, 200, 102), seed=3)
    model = Ridge(alpha=0.1).fit(data.data[train], data.target[train])

    def rows(idx: np.ndarray) -> Rows:
        x = data.data[idx]
        return Rows({n: x[:, j] for j, n in enumerate(names)}, model.predict(x), data.target[idx])

    spec = {
        "name": "diabetes",
        "task": "regression",
        "features": [{"name": n, "kind": "numeric"} for n in names],
        "prediction": "prediction",
        "target": "target",
    }
    register(http, spec, rows(ref))
    days = [rows(cur[:51]), rows(cur[51:])]
    for d, day_rows in enumerate(days):
        send(http, "diabetes", day_rows, d, "h")
    evaluate(http, "diabetes", 0, 1)
    assert alerts(http, "diabetes") == []
    mae = results(http, "diabetes", monitor="performance:mae")
    rmse = results(http, "diabetes", monitor="performance:rmse")
    for d, raw in enumerate(days):
        assert on_day(mae, d)["value"] == pytest.approx(
            mean_absolute_error(raw.actual, raw.prediction)
        )
        assert on_day(rmse, d)["value"] == pytest.approx(
            float(np.sqrt(mean_squared_error(raw.actual, raw.prediction)))
        )


# -- 4. a model whose reference is already unfair: an error-rate disparity appears --------------


def _applicants(n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    group = rng.choice(["a", "b"], n)
    income = rng.normal(np.where(group == "a", 60, 48), 10)
    debt = rng.normal(0.3, 0.1, n)
    repaid = rng.random(n) < 1 / (1 + np.exp(-((income - 52) / 1.2 - (debt - 0.3) * 15)))
    return group, income, debt, repaid


#: The lender's model, trained once on its own data.
_g, _inc, _debt, _rep = _applicants(2000, np.random.default_rng(0))
LENDER = LogisticRegression().fit(np.column_stack([_inc, _debt]), _rep)


def loans(n: int, seed: int, *, fnr_b: float | None = None) -> Rows:
    """Applicants of groups a and b; b has lower incomes, so the model approves it less (the
    reference is already past the four-fifths rule) while its errors are alike. ``fnr_b``: a
    new bug turns down that share of group b's good applicants."""
    rng = np.random.default_rng(seed)
    group, income, debt, repaid = _applicants(n, rng)
    pred = LENDER.predict(np.column_stack([income, debt]))
    if fnr_b is not None:
        pred = pred & ~((group == "b") & repaid & (rng.random(n) < fnr_b))
    return Rows(
        {"income": income, "debt": debt, "group": group},
        pred.astype(int).astype(str),
        repaid.astype(int).astype(str),
    )


def test_reference_unfair_model_stays_quiet_until_an_error_rate_disparity_appears(
    http: httpx.Client,
) -> None:
    spec = {
        "name": "loans",
        "task": "binary",
        "classes": ["0", "1"],
        "features": [
            {"name": "income", "kind": "numeric"},
            {"name": "debt", "kind": "numeric"},
            {"name": "group", "kind": "categorical"},
        ],
        "prediction": "prediction",
        "target": "target",
        "positive_class": "1",
        "sensitive": ["group"],
    }
    reference = loans(500, 10)
    ref_ratio = demographic_parity_ratio(
        reference.actual.astype(int), reference.prediction.astype(int),
        sensitive_features=reference.features["group"],
    )  # fmt: skip
    assert ref_ratio < 0.75  # unfair from the start
    register(http, spec, reference)
    monitors = http.get("/v1/models/loans/monitors").json()["plan"]
    di = next(p for p in monitors if p["monitor"] == "fairness:group")
    assert di["threshold"]["threshold"] == pytest.approx(ref_ratio - 0.05, abs=1e-9)
    assert di["reference"] == pytest.approx(ref_ratio)

    healthy = [loans(800, 20 + d) for d in range(2)]
    for d, day_rows in enumerate(healthy):
        send(http, "loans", day_rows, d, "h")
    evaluate(http, "loans", 0, 1)
    assert alerts(http, "loans") == [] and incidents(http, "loans") == []
    fair = results(http, "loans", monitor="fairness:group")
    raw = healthy[0]
    assert on_day(fair, 0)["value"] == pytest.approx(
        demographic_parity_ratio(raw.actual.astype(int), raw.prediction.astype(int),
                                 sensitive_features=raw.features["group"])
    )  # fmt: skip

    bug = loans(800, 30, fnr_b=0.5)
    send(http, "loans", bug, 2, "b")
    evaluate(http, "loans", 2, 2)
    fired = {m for m, seg, _ in alerts(http, "loans") if seg is None}
    eo = on_day(results(http, "loans", monitor="fairness:group:equalized_odds"), 2)
    assert "fairness:group:equalized_odds" in fired, (eo["status"], eo["reason"], eo["threshold"])
    y, p = bug.actual.astype(int), bug.prediction.astype(int)
    assert eo["value"] == pytest.approx(
        equalized_odds_difference(y, p, sensitive_features=bug.features["group"])
    )
    (inc,) = [i for i in incidents(http, "loans") if i["kind"] == "fairness"]
    assert "'b'" in inc["title"] or "'b'" in " ".join(m["reason"] for m in inc["members"])
