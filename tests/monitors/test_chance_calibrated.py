"""Unseen categories and out-of-range values judged against what chance gives at the
reference's size (issue 22): a 300-category column or a continuous column compared with a
second sample of the same population is quiet; a real new category or range break fires."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

from mlwarden.monitors import Status
from mlwarden.monitors.base import Monitor
from mlwarden.monitors.context import Calibration, FitContext, Window, WindowData
from mlwarden.monitors.out_of_range import OutOfRange
from mlwarden.monitors.unseen_categories import UnseenCategories
from mlwarden.schema import Feature, ModelSpec
from mlwarden.store.aggregates import Categories, Histogram

SPEC = ModelSpec(
    name="m",
    task="binary",
    features=[Feature(name="x", kind="numeric"), Feature(name="c", kind="categorical")],
    prediction="prediction",
)
WINDOW = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))
#: the batch budget (1 false failing report per 100 runs) shared by 40 monitors
BATCH = Calibration(budget="1 per 100 days", cadence_s=86400, monitors=40)
LABELS = np.array([f"c{i:03d}" for i in range(300)], dtype=object)


def context(x: np.ndarray, c: np.ndarray, cal: Calibration = BATCH) -> FitContext:
    n = len(x)
    table = pa.table({"x": x, "c": pa.array(c, pa.string()), "prediction": np.zeros(n, int)})
    return FitContext(SPEC, table, cal)


def fitted(mon: Monitor, x: np.ndarray, c: np.ndarray, cal: Calibration = BATCH) -> Monitor:
    return mon.fit(context(x, c, cal))


def categories(c: np.ndarray) -> WindowData:
    values, counts = np.unique(c, return_counts=True)
    agg = {Categories("c"): (dict(zip(values.tolist(), counts.tolist(), strict=True)), 0)}
    return WindowData(WINDOW, agg)  # type: ignore[arg-type]


def histogram(ctx: FitContext, x: np.ndarray) -> WindowData:
    """The window's counts over the bins of the reference's baseline (the monitor's)."""
    base = ctx.numeric_baseline("x")
    agg = {Histogram("x", base.edges): {"counts": list(base.bin(x).counts)}}
    return WindowData(WINDOW, agg)  # type: ignore[arg-type]


def test_unseen_categories_quiet_on_a_second_sample_of_300_categories() -> None:
    rng = np.random.default_rng(22)
    statuses, shares = [], []
    for _ in range(30):
        ref = rng.choice(LABELS, 1000)
        mon = fitted(UnseenCategories("c"), rng.normal(size=1000), ref)
        for _ in range(4):
            res = mon.evaluate(categories(rng.choice(LABELS, 1000)))
            statuses.append(res.status)
            shares.append(res.value)
            assert 0 < res.details["p_value"] <= 1
    # by chance ~3.6% of a window is unseen: beyond the old fixed 1% nearly always
    assert np.mean(np.array(shares) > 0.01) > 0.9
    assert statuses.count(Status.ALERT) <= 1, statuses.count(Status.ALERT)


def test_unseen_categories_still_fire_on_a_real_new_category() -> None:
    rng = np.random.default_rng(23)
    # a sparse reference: a new category of 10% stands out of the ~3.6% chance gives
    mon = fitted(UnseenCategories("c"), rng.normal(size=1000), rng.choice(LABELS, 1000))
    window = np.concatenate([rng.choice(LABELS, 900), np.full(100, "brand-new", dtype=object)])
    res = mon.evaluate(categories(window))
    assert res.status is Status.ALERT and res.details["new_categories"]["brand-new"] == 100
    assert res.details["p_value"] < 1e-4
    # a well-covered reference: 3% of a new category is enough
    mon = fitted(UnseenCategories("c"), rng.normal(size=10_000), rng.choice(LABELS[:30], 10_000))
    window = np.concatenate([rng.choice(LABELS[:30], 970), np.full(30, "brand-new", dtype=object)])
    res = mon.evaluate(categories(window))
    assert res.status is Status.ALERT and res.threshold == 0.01


def test_unseen_categories_keep_a_fixed_threshold_and_round_trip() -> None:
    rng = np.random.default_rng(24)
    mon = fitted(
        UnseenCategories("c", threshold=0.01), rng.normal(size=1000), rng.choice(LABELS, 1000)
    )
    res = mon.evaluate(categories(rng.choice(LABELS, 1000)))
    assert res.threshold == 0.01 and res.status is Status.ALERT  # the user's choice stands
    again = Monitor.from_dict(mon.to_dict())
    assert again.evaluate(categories(rng.choice(LABELS, 1000))).threshold == 0.01


def test_unseen_categories_load_a_state_stored_by_an_earlier_version() -> None:
    stored = {
        "kind": "unseen_categories",
        "column": "c",
        "threshold": 0.01,
        "state": {"categories_": ["a", "b"], "truncated_": False},
    }
    mon = Monitor.from_dict(stored)
    res = mon.evaluate(categories(np.array(["a"] * 97 + ["z"] * 3, dtype=object)))
    assert res.status is Status.ALERT and res.threshold == 0.01 and res.value == 0.03


POPULATIONS = {
    "normal": stats.norm(),
    "exponential": stats.expon(),
    "uniform": stats.uniform(),
}


def test_out_of_range_false_alarms_within_alpha_at_1k() -> None:
    """Each window against a fresh 1k reference, at alpha = 1% and no minimum effect, so the
    null quantile itself is measured: the binomial of 2/(n+1) gave ~3x alpha here."""
    alpha_cal = Calibration(budget="1 per 100 days", cadence_s=86400, monitors=1)
    rng = np.random.default_rng(25)
    for name, dist in POPULATIONS.items():
        alerts = 0
        windows = 400
        for _ in range(windows):
            ctx = context(dist.rvs(size=1000, random_state=rng), np.full(1000, "a"), alpha_cal)
            mon = OutOfRange("x", min_effect=0.0).fit(ctx)
            res = mon.evaluate(histogram(ctx, dist.rvs(size=1000, random_state=rng)))
            alerts += res.status is Status.ALERT
        test = stats.binomtest(alerts, windows, 0.01 * 1.25, alternative="greater")
        assert test.pvalue > 1e-3, (name, alerts)


def test_out_of_range_fires_on_a_range_break() -> None:
    rng = np.random.default_rng(26)
    ctx = context(rng.normal(size=1000), np.full(1000, "a"))
    mon = OutOfRange("x").fit(ctx)
    quiet = mon.evaluate(histogram(ctx, rng.normal(size=1000)))
    assert quiet.status is not Status.ALERT
    broken = np.concatenate([rng.normal(size=970), rng.normal(8.0, 1.0, 30)])
    res = mon.evaluate(histogram(ctx, broken))
    assert res.status is Status.ALERT, res
    assert res.details["above"] >= 30 and res.details["p_value"] < 1e-6


def test_every_drift_statistic_carries_a_p_value() -> None:
    """Categorical drift results had ``p_value: null``: each threshold's null law gives one."""
    from mlwarden.monitors.feature_drift import FeatureDrift

    rng = np.random.default_rng(27)
    ctx = context(rng.normal(size=5000), rng.choice(LABELS[:10], 5000))
    for statistic in ("jensen_shannon", "psi", "total_variation", "l_infinity", "chi_square"):
        mon = FeatureDrift("c", statistic=statistic).fit(ctx)
        same = mon.evaluate(categories(rng.choice(LABELS[:10], 2000)))
        moved = mon.evaluate(categories(rng.choice(LABELS[:10], 2000, p=[0.2] + [0.8 / 9] * 9)))
        assert isinstance(same.details["p_value"], float) and same.details["p_value"] > 1e-3
        assert moved.status is Status.ALERT and moved.details["p_value"] < 1e-4, statistic
    mon = FeatureDrift("x").fit(ctx)  # numeric: KS, whose law is analytic
    x = rng.normal(size=2000)
    res = mon.evaluate(
        WindowData(
            WINDOW,
            {Histogram("x", mon.baseline_.edges): mon.baseline_.bin(x).to_dict()},  # type: ignore[union-attr,arg-type]
        )
    )
    # the two-sample KS law at en = n m / (n + m), as scipy.stats.ks_2samp's exact p-value
    want = stats.kstwo.sf(res.value, round(5000 * 2000 / 7000))
    assert res.details["p_value"] == pytest.approx(want, rel=1e-6)
