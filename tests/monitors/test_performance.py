"""The labelled performance monitor's thresholds: bounds stay inside the metric's range."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from mlwarden.monitors.context import FitContext
from mlwarden.monitors.performance import Performance
from mlwarden.schema import Feature, ModelSpec

SPEC = ModelSpec(
    name="rare",
    task="binary",
    features=[Feature(name="x", kind="numeric")],
    prediction="p",
    target="y",
)


def _reference(n: int = 400, seed: int = 0) -> pa.Table:
    """Rare positives, half of them caught: F1 is noisy on a few labels."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.05).astype(int)
    p = np.where(rng.random(n) < 0.5, y, 0)
    return pa.table({"x": rng.normal(size=n), "p": p, "y": y})


def test_higher_is_better_bounds_never_fall_below_zero() -> None:
    mon = Performance("f1").fit(FitContext(SPEC, _reference()))
    assert 0.0 < mon.reference_value_ < 1.0
    small = mon.bounds(5)
    # five labels cannot show a drop: unclamped, this bound is far below 0
    assert small == (0.0, 0.0)
    big_alert, big_warn = mon.bounds(100_000)
    assert 0.0 < big_alert < big_warn < mon.reference_value_


def test_lower_is_better_bounds_are_above_the_reference() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=500)
    ref = pa.table({"x": x, "p": x, "y": x + rng.normal(size=500)})
    spec = SPEC.model_copy(update={"task": "regression", "name": "reg"})
    mon = Performance("mae").fit(FitContext(spec, ref))
    alert, warn = mon.bounds(5)
    assert alert > warn > mon.reference_value_ > 0
