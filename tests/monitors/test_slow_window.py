"""Slow monitors get a window of their own: at ~40 labelled events a week, weekly fairness
windows were all insufficient_data; auto set-up gives fairness and labelled performance a
30-day window, judged as each closes, and the plan says so."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pyarrow as pa
import pytest

from mlwarden.monitors import Status
from mlwarden.monitors.evaluate import ORIGIN, evaluate
from mlwarden.monitors.service import plan, setup_suite
from mlwarden.schema import Feature, ModelSpec, validate_table
from mlwarden.store import DuckDBStore

SPEC = ModelSpec(
    name="clinic",
    task="binary",
    classes=["0", "1"],
    features=[Feature(name="age", kind="numeric"), Feature(name="sex", kind="categorical")],
    prediction="prediction",
    target="actual",
    positive_class="1",
    sensitive=["sex"],
)
DAYS = 91
PER_DAY = 6  # ~40 labelled events a week


def table(n: int, seed: int, start_day: float = 0.0) -> pa.Table:
    rng = np.random.default_rng(seed)
    age = rng.normal(50, 10, n)
    actual = rng.random(n) < 0.4
    pred = np.where(rng.random(n) < 0.85, actual, ~actual)
    ts = [ORIGIN + timedelta(days=start_day + i * DAYS / n) for i in range(n)]
    return pa.table(
        {
            "event_id": [f"e{seed}-{i}" for i in range(n)],
            "timestamp": pa.array(ts),
            "age": age,
            "sex": rng.choice(["f", "m"], n),
            "prediction": pred.astype(int).astype(str),
            "actual": actual.astype(int).astype(str),
        }
    )


@pytest.fixture(scope="module")
def stored() -> Iterator[DuckDBStore]:
    s = DuckDBStore()
    model = s.create_model("p", SPEC)
    s.put_reference("p", "clinic", table(600, 0).drop_columns(["event_id", "timestamp"]))
    events = table(DAYS * PER_DAY, 1)
    s.append_events(model, validate_table(SPEC, events.drop_columns(["actual"])).table).result()
    actuals = pa.table(
        {
            "event_id": events.column("event_id"),
            "actual": events.column("actual"),
            "actual_value": pa.nulls(events.num_rows, pa.float64()),
            "ts": events.column("timestamp"),
        }
    )
    s.append_actuals(model, actuals).result()
    yield s
    s.close()


def test_auto_set_up_gives_slow_monitors_a_longer_window_and_judges_them(
    stored: DuckDBStore,
) -> None:
    suite = setup_suite(stored, "p", "clinic", cadence="1w")
    windows = {m.id: m.window for m in suite.monitors}
    assert windows["fairness:sex"] == "30d" and windows["performance:accuracy"] == "30d"
    assert windows["feature_drift:age"] is None  # drift keeps the weekly cadence
    items = {x["monitor"]: x for x in plan(suite, rows_per_window=PER_DAY * 7)}
    assert "windows of 30d" in items["fairness:sex"]["how"]
    assert items["fairness:sex"]["window"] == "30d" and items["feature_drift:age"]["window"] == "1w"
    model = stored.get_model("p", "clinic")
    results = evaluate(stored, model, suite, ORIGIN, ORIGIN + timedelta(days=DAYS))
    fair = [r for r in results if r.monitor == "fairness:sex" and r.segment is None]
    assert [r.window_end - r.window_start for r in fair] == [timedelta(days=30)] * 3
    assert all(r.status is Status.OK for r in fair), [r.reason for r in fair]
    weekly = [r for r in results if r.monitor == "feature_drift:age" and r.segment is None]
    assert len(weekly) == 13 and weekly[0].window_end - weekly[0].window_start == timedelta(days=7)


def test_a_slow_monitor_on_the_cadence_says_what_window_would_hold_enough(
    stored: DuckDBStore,
) -> None:
    from mlwarden.monitors import MonitorSuite
    from mlwarden.monitors.performance import Performance

    _, reference = stored.get_reference("p", "clinic")
    suite = MonitorSuite("clinic", [Performance("accuracy")], cadence="1w").fit(SPEC, reference)
    model = stored.get_model("p", "clinic")
    (first, *_) = evaluate(stored, model, suite, ORIGIN, ORIGIN + timedelta(days=7))
    assert first.status is Status.INSUFFICIENT_DATA
    assert f"{PER_DAY * 7} labelled events; at least 50 are needed" in first.reason
    assert "a window of 9 days would hold enough (set 'window' on this monitor" in first.reason
