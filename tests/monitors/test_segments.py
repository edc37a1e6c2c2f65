"""Segments with little reference: monitored at a coarser resolution (not silently dropped),
and the plan says, for every value, how it is monitored and why."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from mlwarden.monitors import MonitorSuite, Status
from mlwarden.monitors.evaluate import evaluate
from mlwarden.monitors.feature_drift import FeatureDrift
from mlwarden.monitors.missing_values import MissingValues
from mlwarden.monitors.service import plan
from mlwarden.schema import Feature, ModelSpec, validate_table
from mlwarden.store import DuckDBStore

SPEC = ModelSpec(
    name="clinics",
    task="regression",
    features=[
        Feature(name="age", kind="numeric"),
        Feature(name="clinic", kind="categorical"),
    ],
    prediction="prediction",
    segments=["clinic"],
)
#: reference rows per clinic: one large, three under the old 300-row minimum, one tiny
SIZES = {"a": 400, "b": 170, "c": 100, "d": 68, "e": 20}
MEANS = {"a": 40.0, "b": 55.0, "c": 30.0, "d": 65.0, "e": 50.0}
START = datetime(2026, 10, 1, tzinfo=UTC)


def rows(sizes: dict[str, int], seed: int, shift: dict[str, float] | None = None) -> pa.Table:
    rng = np.random.default_rng(seed)
    clinic = [c for c, n in sizes.items() for _ in range(n)]
    age = np.concatenate(
        [rng.normal(MEANS[c] + (shift or {}).get(c, 0.0), 8.0, n) for c, n in sizes.items()]
    )
    return pa.table({"age": age, "clinic": clinic, "prediction": age / 10})


@pytest.fixture(scope="module")
def suite() -> MonitorSuite:
    monitors = [FeatureDrift("age"), MissingValues("age")]
    return MonitorSuite("clinics", monitors, cadence="1d", segments=["clinic"]).fit(
        SPEC, rows(SIZES, 0)
    )


def test_every_value_has_a_plan_that_says_why(suite: MonitorSuite) -> None:
    by = {p.value: p for p in suite.segment_plans}
    assert {v: p.resolution for v, p in by.items()} == {
        "a": "full",
        "b": "coarse",
        "c": "coarse",
        "d": "coarse",
        "e": "none",
    }
    assert "170 reference rows" in by["b"].note and "coarser resolution" in by["b"].note
    assert "at least 50" in by["e"].note
    # small segments are monitored (before: no monitor, no word)
    assert {"clinic=b", "clinic=c", "clinic=d"} <= set(suite.segment_monitors)
    assert "clinic=e" not in suite.segment_monitors
    items = {x["monitor"]: x for x in plan(suite, rows_per_window=200)}
    assert "coarser resolution" in items["segment clinic=d"]["how"]
    assert "not monitored on its own" in items["segment clinic=e"]["skipped"]
    # the four monitored values share one false-alarm budget ("1 per 30 days") between them
    segs = [x for k, x in items.items() if k.startswith("segment ") and "skipped" not in x]
    assert len(segs) == 4
    assert 0 < sum(x["expected_false_alerts_per_month"] for x in segs) <= 1.0 + 1e-9
    # the plan survives the suite's stored state
    again = MonitorSuite.from_state(suite.state())
    assert again.segment_plans == suite.segment_plans


@pytest.fixture(scope="module")
def store(suite: MonitorSuite) -> Iterator[tuple[DuckDBStore, object]]:
    s = DuckDBStore()
    model = s.create_model("p", SPEC)
    # two healthy days, then clinic d (68 reference rows) shifts by 1.5 standard deviations
    days = [rows({k: 5 * v for k, v in SIZES.items()}, 10 + d) for d in range(2)]
    days.append(rows({k: 5 * v for k, v in SIZES.items()}, 20, shift={"d": 12.0}))
    for d, t in enumerate(days):
        ts = pa.array([START + timedelta(days=d, seconds=i) for i in range(t.num_rows)])
        r = validate_table(SPEC, t.append_column("timestamp", ts))
        s.append_events(model, r.table).result()
    yield s, model
    s.close()


def test_a_small_segment_is_quiet_when_healthy_and_alerts_when_it_drifts(
    suite: MonitorSuite, store: tuple[DuckDBStore, object]
) -> None:
    s, model = store
    results = evaluate(s, model, suite, START, START + timedelta(days=3))
    drift = {
        (r.segment, (r.window_start - START).days): r.status
        for r in results
        if r.monitor == "feature_drift:age"
    }
    quiet = (Status.OK, Status.WARN)  # no alert
    for seg in (None, "clinic=a", "clinic=b", "clinic=c", "clinic=d"):
        assert drift[(seg, 0)] in quiet and drift[(seg, 1)] in quiet, seg
    assert drift[("clinic=d", 2)] is Status.ALERT
    assert drift[("clinic=b", 2)] in quiet and drift[("clinic=c", 2)] in quiet
    assert not any(seg == "clinic=e" for seg, _ in drift)
