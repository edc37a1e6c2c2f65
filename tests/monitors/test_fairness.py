"""The fairness monitor on COMPAS-like synthetic data (groups of 2 to 5,000 rows): it judges the
metric asked for, names the disadvantaged group, leaves small groups out of value, reference and
test alike, and is never ``ok`` past its threshold without saying why. Numbers are checked
against fairlearn on the same rows."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_ratio,
    equalized_odds_difference,
    false_positive_rate,
)

from mlwarden.errors import ConfigError
from mlwarden.monitors import Status
from mlwarden.monitors.context import FitContext, Window, WindowData
from mlwarden.monitors.fairness import METRICS, Fairness
from mlwarden.schema import Feature, ModelSpec
from mlwarden.store.aggregates import GroupConfusion

#: COMPAS-like group sizes: from 5,000 rows down to 2
SIZES = {
    "African-American": 5000,
    "Caucasian": 3000,
    "Hispanic": 800,
    "Other": 300,
    "Asian": 25,
    "Native American": 2,
}
SPEC = ModelSpec(
    name="recid",
    task="binary",
    features=(Feature(name="priors", kind="numeric"), Feature(name="race", kind="categorical")),
    prediction="prediction",
    target="actual",
    positive_class="1",
    sensitive=("race",),
)
START = datetime(2026, 1, 1, tzinfo=UTC)

Rows = tuple[np.ndarray, np.ndarray, np.ndarray]


def rows(
    seed: int,
    *,
    fpr: dict[str, float] | None = None,
    tpr: dict[str, float] | None = None,
    scale: float = 1.0,
) -> Rows:
    """(race, actual, prediction): base rate 0.45, FPR 0.23 and TPR 0.7 unless given per group."""
    rng = np.random.default_rng(seed)
    g, y, p = [], [], []
    for group, size in SIZES.items():
        n = max(2, int(size * scale))
        actual = rng.random(n) < 0.45
        rate = np.where(actual, (tpr or {}).get(group, 0.7), (fpr or {}).get(group, 0.23))
        g += [group] * n
        y.append(actual.astype(int))
        p.append((rng.random(n) < rate).astype(int))
    return np.asarray(g), np.concatenate(y), np.concatenate(p)


def fitted(reference: Rows, **params: object) -> Fairness:
    g, y, p = reference
    table = pa.table(
        {
            "priors": np.zeros(len(g)),
            "race": g,
            "actual": y.astype(str),
            "prediction": p.astype(str),
        }
    )
    return Fairness("race", **params).fit(FitContext(SPEC, table))  # type: ignore[arg-type]


def window(current: Rows) -> WindowData:
    """The window's aggregate as the store computes it: counts of (group, actual, prediction)."""
    g, y, p = current
    tally = Counter(zip(g.tolist(), y.astype(str).tolist(), p.astype(str).tolist(), strict=True))
    agg = [(k[0], k[1], k[2], n) for k, n in tally.items()]
    return WindowData(Window(START, START + timedelta(days=7)), {GroupConfusion("race"): agg})


def kept_rows(data: Rows, kept: list[str]) -> Rows:
    g, y, p = data
    mask = np.isin(g, kept)
    return g[mask], y[mask], p[mask]


def never_silently_ok(mon: Fairness, r: object) -> None:
    """The acceptance invariant: ``ok`` past the threshold only with the reason saying why."""
    from mlwarden.monitors.base import Result

    assert isinstance(r, Result)
    if r.status is Status.OK and r.value is not None and r.threshold is not None:
        past = r.value < r.threshold if r.direction == "below" else r.value > r.threshold
        if past:
            assert "not significantly" in r.reason, r.reason


PLANTED = {"African-American": 0.4485}  # ProPublica: 44.85% against 23.45%


def test_fpr_disparity_alerts_and_names_the_group() -> None:
    reference, current = rows(1), rows(2, fpr=PLANTED)
    for metric in ("fpr_difference", "equalized_odds"):
        mon = fitted(reference, metric=metric)
        r = mon.evaluate(window(current))
        assert r.status is Status.ALERT, r.reason
        assert r.details["disadvantaged_group"] == "African-American"
        assert r.details["rate"] == "false_positive_rate"
        assert "'African-American' has the highest false positive rate" in r.reason
        # the numbers, from the kept groups' raw rows, by fairlearn
        kept = [gr for gr, d in r.details["groups"].items() if not d["left_out"]]
        assert sorted(r.details["left_out"]) == ["Asian", "Native American"]
        g, y, p = kept_rows(current, kept)
        if metric == "fpr_difference":
            mf = MetricFrame(metrics=false_positive_rate, y_true=y, y_pred=p, sensitive_features=g)
            assert r.value == pytest.approx(mf.difference(), abs=1e-12)
            assert r.details["disadvantaged_rate"] == pytest.approx(mf.by_group.max(), abs=1e-12)
        else:
            assert r.value == pytest.approx(
                equalized_odds_difference(y, p, sensitive_features=g), abs=1e-12
            )
        never_silently_ok(mon, r)
    # selection-rate parity alone sees little of it: an error-rate metric is needed
    di = fitted(reference).evaluate(window(current))
    g, y, p = kept_rows(current, [k for k in SIZES if SIZES[k] >= 30])
    assert di.value == pytest.approx(demographic_parity_ratio(y, p, sensitive_features=g), 1e-12)


def test_healthy_model_stays_quiet_under_every_metric() -> None:
    reference = rows(3)
    for metric in METRICS:
        mon = fitted(reference, metric=metric)
        for seed in range(4, 8):
            r = mon.evaluate(window(rows(seed)))
            assert r.status is Status.OK, (metric, r.reason)
            never_silently_ok(mon, r)


def test_reference_unfair_model_alerts_under_the_absolute_policy() -> None:
    unfair = {"African-American": 0.45}
    reference, current = rows(10, fpr=unfair), rows(11, fpr=unfair)  # healthy: as unfair as ever
    absolute = fitted(reference, metric="fpr_difference", policy="absolute")
    r = absolute.evaluate(window(current))
    assert r.status is Status.ALERT and r.threshold == pytest.approx(0.1)
    assert "African-American" in r.reason and "absolute policy" in r.reason
    # auto: the reference already fails the limit, so it is judged against the reference,
    # and the plan says so
    auto = fitted(reference, metric="fpr_difference")
    assert auto.policy_ == "reference"
    assert "judged by the reference policy" in auto.explain()
    ra = auto.evaluate(window(current))
    assert ra.status is Status.OK and ra.threshold == pytest.approx(auto.reference_value_ + 0.05)
    never_silently_ok(auto, ra)
    # ... and still alerts when the gap widens beyond the reference
    worse = auto.evaluate(window(rows(12, fpr={"African-American": 0.6})))
    assert worse.status is Status.ALERT


def test_small_groups_are_left_out_of_value_reference_and_test() -> None:
    # the demo's defect: "Asian 0 of 2" read 0.000; an 18-row group set the headline ratio
    reference = rows(20)
    mon = fitted(reference)
    assert mon.reference_left_out_ == {"Asian": 25, "Native American": 2}
    g, y, p = kept_rows(reference, ["African-American", "Caucasian", "Hispanic", "Other"])
    assert mon.reference_value_ == pytest.approx(
        demographic_parity_ratio(y, p, sensitive_features=g), abs=1e-12
    )
    cur_g, cur_y, cur_p = rows(21)
    tiny = cur_g == "Native American"
    cur_p = np.where(tiny, 0, cur_p)  # 0 of 2 selected
    r = mon.evaluate(window((cur_g, cur_y, cur_p)))
    assert r.value is not None and r.value > 0.5
    assert r.details["groups"]["Native American"]["selection_rate"] == 0.0
    assert r.details["groups"]["Native American"]["left_out"] is True
    assert "left out under 30 rows: 'Asian' (25), 'Native American' (2)" in r.reason
    # too few groups of a size to judge: insufficient, with the groups named
    two = np.isin(cur_g, ["African-American", "Asian", "Native American"])
    r2 = mon.evaluate(window((cur_g[two], cur_y[two], cur_p[two])))
    assert r2.status is Status.INSUFFICIENT_DATA
    assert "only 1 group(s)" in r2.reason and "'Asian' (25)" in r2.reason


def test_past_the_threshold_but_not_significant_says_so() -> None:
    reference = rows(30)
    mon = fitted(reference, metric="fpr_difference", policy="absolute", min_group=5)
    seen = 0
    for seed in range(40, 100):  # small windows: noisy gaps past 0.1 that prove nothing
        r = mon.evaluate(window(rows(seed, scale=0.04)))
        never_silently_ok(mon, r)
        if r.status is Status.OK and "not significantly" in r.reason:
            seen += 1
    assert seen > 0


def test_plan_shows_threshold_and_policy() -> None:
    mon = fitted(rows(40))
    alert, warn = mon.bounds(500)
    assert (alert, warn) == pytest.approx((0.8, 0.825))
    assert "four-fifths rule" in mon.explain()
    eo = Fairness("race", metric="equalized_odds", limit=0.2)
    assert eo.bounds()[0] == pytest.approx(0.2)
    assert eo.id == "fairness:race:equalized_odds"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"metric": "accuracy"}, "metric"),
        ({"policy": "strict"}, "policy"),
        ({"limit": 1.5}, "limit"),
    ],
)
def test_bad_parameters_name_the_field(params: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=f"'{field}'"):
        fitted(rows(50, scale=0.1), **params)


def test_incident_title_and_recommendation_name_the_group() -> None:
    from mlwarden.analysis.recommend import headline, recommend
    from mlwarden.incidents.grouping import member_of
    from mlwarden.incidents.record import Incident, IncidentState

    r = fitted(rows(1), metric="fpr_difference").evaluate(window(rows(2, fpr=PLANTED)))
    assert r.status is Status.ALERT
    inc = Incident(
        id=1,
        project="p",
        model="recid",
        signature="fairness",
        kind="fairness",
        title="",
        severity="high",
        state=IncidentState.OPEN,
        opened_at=START,
        updated_at=START,
        first_window=START,
        last_window=START,
        members=(member_of(r, severity="high"),),
    )
    fpr = r.details["groups"]["African-American"]["fpr"]
    title = headline(inc, {})
    assert title.startswith("Fairness across race: African-American gets a false positive rate")
    assert f"{fpr:.3g}" in title
    rec = next(x for x in recommend(inc, {}) if x["rule"] == "fairness-gap")
    assert "to the cost of African-American" in rec["cause"]
    assert "rebalance the training data for African-American" in rec["action"]
    assert "false positive rate difference" in rec["why"]


def test_a_small_group_with_a_rare_rate_does_not_set_the_value() -> None:
    # the demo: 'nonbinary' with 31 rows and 1 selection read 0.29 against a 0.84 reference
    def demo(n_small: int, small_selected: int) -> Rows:
        g = ["female"] * 1000 + ["male"] * 1000 + ["nonbinary"] * n_small
        p = [1] * 110 + [0] * 890 + [1] * 95 + [0] * 905
        p += [1] * small_selected + [0] * (n_small - small_selected)
        return np.asarray(g), np.asarray([0, 1] * (len(g) // 2) + [0] * (len(g) % 2)), np.asarray(p)

    mon = fitted(demo(400, 40))
    assert mon.reference_left_out_ == {}
    r = mon.evaluate(window(demo(31, 1)))
    assert r.value == pytest.approx(0.095 / 0.110)
    assert r.details["left_out"] == {"nonbinary": 31}
    assert r.details["rows_needed"]["selection_rate"] > 31  # 5 selections at the pooled ~10%
    assert "the fewest to measure a rate near the pooled selection rate" in r.reason
    assert r.status is Status.OK and "within its threshold" in r.reason


def test_auto_set_up_picks_metrics_per_task_and_the_plan_says_which() -> None:
    from mlwarden.monitors import MonitorSuite
    from mlwarden.monitors.service import plan
    from mlwarden.monitors.suite import auto_monitors

    g, y, p = rows(60, fpr={"African-American": 0.45}, scale=0.2)  # unfair from the start
    ref = pa.table(
        {"priors": np.arange(len(g), dtype=float), "race": g, "actual": y, "prediction": p}
    )
    suite = MonitorSuite("recid", auto_monitors(SPEC), cadence="7d").fit(SPEC, ref)
    items = {x["monitor"]: x for x in plan(suite, rows_per_window=2000)}
    fair = [m for m in suite.monitors if m.kind == "fairness"]
    assert sorted(m.id for m in fair) == ["fairness:race", "fairness:race:equalized_odds"]
    for mon in fair:
        item = items[mon.id]
        assert item["threshold"]["threshold"] == pytest.approx(mon.bounds()[0])
        assert f"judged by the {mon.policy_} policy" in item["why"]
    eo = next(m for m in fair if m.metric == "equalized_odds")
    assert eo.policy_ == "reference"  # the reference already fails 0.1
    assert eo.bounds()[0] == pytest.approx(eo.reference_value_ + 0.05)
    # a regressor's sensitive attribute: listed as skipped, saying why
    reg = ModelSpec.model_validate(
        {**SPEC.model_dump(), "task": "regression", "positive_class": None}
    )
    rsuite = MonitorSuite("price", auto_monitors(reg), cadence="7d").fit(
        reg,
        ref.set_column(2, "actual", pa.array(y.astype(float))).set_column(
            3, "prediction", pa.array(p.astype(float))
        ),
    )
    skipped = {x["monitor"]: x for x in plan(rsuite, rows_per_window=2000) if "skipped" in x}
    assert "binary classifier" in skipped["fairness:race"]["skipped"]


def test_too_few_labels_say_what_window_would_be_enough() -> None:
    mon = fitted(rows(70))
    g, y, p = rows(71, scale=0.01)  # ~90 labelled events in a 7-day window
    r = mon.evaluate(window((g[:40], y[:40], p[:40])))
    assert r.status is Status.INSUFFICIENT_DATA
    assert "40 labelled events; at least 100 are needed" in r.reason
    assert "a window of 18 days would hold enough" in r.reason
