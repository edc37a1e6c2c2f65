"""An incident states its own history: when each feature began to alert (not its worst
window), which objectives it affected and how (not their status today), and one feature
importance shared with the pages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from mlwarden.analysis import model_importance
from mlwarden.incidents.service import list_incidents, process
from mlwarden.monitors import MonitorSuite
from mlwarden.monitors.base import Result, Status
from mlwarden.monitors.feature_drift import FeatureDrift
from mlwarden.monitors.missing_values import MissingValues
from mlwarden.monitors.performance import Performance
from mlwarden.monitors.service import objective_report, results_table
from mlwarden.schema import Feature, ModelSpec
from mlwarden.store import DuckDBStore

DAY = timedelta(days=1)
T0 = datetime(2026, 11, 1, tzinfo=UTC)
SPEC = ModelSpec(
    name="credit",
    task="binary",
    classes=["0", "1"],
    features=[
        Feature(name="credit_score", kind="numeric"),
        Feature(name="income", kind="numeric"),
    ],
    prediction="prediction",
    score="score",
    target="actual",
)


@pytest.fixture(scope="module")
def store() -> Iterator[DuckDBStore]:
    s = DuckDBStore()
    s.create_model("p", SPEC)
    rng = np.random.default_rng(0)
    credit, income = rng.normal(650, 50, 600), rng.normal(50, 10, 600)
    score = 1 / (1 + np.exp(-(credit - 650) / 20))
    s.put_reference(
        "p",
        "credit",
        pa.table(
            {
                "credit_score": credit,
                "income": income,
                "score": score,
                "prediction": (score > 0.5).astype(int).astype(str),
                "actual": (rng.random(600) < score).astype(int).astype(str),
            }
        ),
    )
    _, reference = s.get_reference("p", "credit")
    monitors = [FeatureDrift("credit_score"), FeatureDrift("income"), MissingValues("income")]
    suite = MonitorSuite("credit", [*monitors, Performance("accuracy")], cadence="1d")
    suite.fit(SPEC, reference)
    s.put_suite("p", "credit", suite.to_yaml(), json.dumps(suite.state()))
    yield s
    s.close()


def drift(day: int, ratio: float) -> Result:
    w = T0 + day * DAY
    return Result(
        monitor="feature_drift:credit_score",
        kind="feature_drift",
        window_start=w,
        window_end=w + DAY,
        status=Status.ALERT if ratio > 1 else Status.OK,
        value=0.1 * ratio,
        threshold=0.1,
        n=1000,
        column="credit_score",
        reason=f"ks {0.1 * ratio:.2f} on day {day}",
    )


def test_first_alert_is_the_first_alerting_window_and_objectives_say_what_it_did(
    store: DuckDBStore,
) -> None:
    # alerts from day 2 (mild), worst on day 5, healthy again from day 7
    ratios = {1: 0.5, 2: 1.4, 3: 2.0, 4: 3.0, 5: 6.0, 6: 2.0, 7: 0.4, 8: 0.3}
    results = [drift(d, r) for d, r in ratios.items()]
    store.write_results("p", "credit", results_table(results))
    changes = process(store, "p", "credit", results, cadence=DAY, slices=False)
    inc = changes[0].incident
    top = inc.causes["features"][0]
    assert top["name"] == "credit_score"
    assert top["first_alert"] == (T0 + 2 * DAY).isoformat()  # was the worst window, day 5
    assert top["worst_window"] == (T0 + 5 * DAY).isoformat()
    # the drift threatened data quality: violated in this incident, though met today
    data = next(o for o in inc.objectives if o["name"] == "data-quality")
    assert data["status"] == "violated" and data["monitors"] == ["feature_drift:credit_score"]
    assert data["status_now"] == "met"


def test_objectives_count_monitors_not_patterns(store: DuckDBStore) -> None:
    report = {o["name"]: o for o in objective_report(store, "p", "credit")}
    data = report["data-quality"]
    # patterns such as "feature_drift:*" match two features each
    assert len(data["linked"]) > len(data["monitors"])
    assert {"feature_drift:credit_score", "feature_drift:income"} <= set(data["linked"])


def test_incidents_and_pages_share_one_feature_importance(store: DuckDBStore) -> None:
    record = store.get_model("p", "credit")
    imp = model_importance(store, record)  # the incident above computed it: cached
    assert imp["credit_score"] > 0.9  # the score is a function of credit_score alone
    assert model_importance(store, record) is imp  # computed once per reference
    (inc,) = (i for i in list_incidents(store, "p", model="credit"))
    ranked = {f["name"]: f["importance"] for f in inc.causes["features"]}
    assert ranked["credit_score"] == pytest.approx(imp["credit_score"], abs=1e-4)
