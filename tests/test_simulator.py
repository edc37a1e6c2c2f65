"""The simulated loan-default stream: determinism, shapes, and the planted drift."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from sklearn.metrics import roc_auc_score

from mlwarden.cli.simulator import (
    BROAD_LAG_DAYS,
    CONCEPT_LAG_DAYS,
    FEATURES,
    Scenario,
    Simulation,
)
from mlwarden.errors import ConfigError
from mlwarden.schema.spec import ModelSpec

START = datetime(2026, 1, 1, tzinfo=UTC)
D = 40  # default drift onset


@pytest.fixture(scope="module")
def drifting() -> Simulation:
    return Simulation(Scenario())


@pytest.fixture(scope="module")
def stationary() -> Simulation:
    return Simulation(Scenario(drift_start_day=None))


def small(**kw: object) -> Simulation:
    return Simulation(Scenario(**{"days": 4, "events_per_day": 300, "reference_rows": 2000} | kw))


def col(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy(zero_copy_only=False)


def accuracy(sim: Simulation, lo: float, hi: float, segment: bool = False) -> float:
    events = sim.events(lo, hi)
    actuals = sim.actuals()
    labels = dict(zip(col(actuals, "event_id"), col(actuals, "actual"), strict=True))
    y = np.array([labels[e] for e in col(events, "event_id")])
    keep = np.ones(len(y), dtype=bool)
    if segment:
        keep = col(events, "region") == "north"
        keep &= col(events, "employment_type") == "self-employed"
    return float((col(events, "prediction")[keep] == y[keep]).mean())


def test_same_seed_same_tables_and_other_seed_differs() -> None:
    a, b, c = small(seed=7), small(seed=7), small(seed=8)
    assert a.events().equals(b.events())
    assert a.reference().equals(b.reference())
    assert a.actuals().equals(b.actuals())
    assert not a.events().equals(c.events())
    assert not a.reference().equals(c.reference())


def test_day_ranges_and_batches_concatenate_to_the_whole_stream() -> None:
    sim = small()
    whole = sim.events(0, 4)
    assert whole.equals(sim.events())
    assert whole.equals(pa.concat_tables([small().events(d, d + 1) for d in range(4)]))
    assert whole.equals(
        pa.concat_tables([sim.events(0, 1.3), sim.events(1.3, 2.5), sim.events(2.5, 9)])
    )
    batches = list(sim.iter_batches(batch_size=350))
    assert [b.num_rows for b in batches] == [350] * 3 + [150]
    assert whole.equals(pa.concat_tables(batches))
    assert sim.events(2, 2).num_rows == 0
    assert sim.events(9).num_rows == 0
    with pytest.raises(ConfigError, match="'day_to'"):
        sim.events(3, 1)


def test_event_columns_types_and_values(drifting: Simulation) -> None:
    events = drifting.events()
    assert events.num_rows == 60 * 2000
    assert events.column_names[:8] == [
        "event_id",
        "timestamp",
        "version",
        "prediction",
        "score",
        "latency_ms",
        "status",
        "error",
    ]
    assert events.column_names[8:] == list(FEATURES)
    types = dict(zip(events.column_names, events.schema.types, strict=True))
    assert types["timestamp"] == pa.timestamp("us", "UTC")
    assert types["prediction"] == types["credit_score"] == types["age"] == pa.int64()
    assert types["income"] == types["score"] == pa.float64()
    assert types["has_mortgage"] == pa.bool_()
    assert types["region"] == types["error"] == pa.string()
    assert len(set(col(events, "event_id"))) == events.num_rows
    ts = events.column("timestamp").cast(pa.int64()).to_numpy()
    assert (np.diff(ts) >= 0).all()
    assert events.column("timestamp")[0].as_py() >= START
    assert events.column("timestamp")[-1].as_py() < START + timedelta(days=60)
    hours = (ts // 3_600_000_000) % 24
    assert (hours == 14).sum() > 3 * (hours == 2).sum()  # busy afternoons, quiet nights
    score = col(events, "score")
    assert ((score > 0) & (score < 1)).all()
    assert (col(events, "prediction") == (score >= 0.5)).all()
    failed = col(events, "status") == "error"
    assert 0.002 < failed.mean() < 0.01
    assert events.column("error").null_count == (~failed).sum()
    assert set(col(events, "status")) == {"ok", "error"}
    assert 18 < np.median(col(drifting.events(0, D), "latency_ms")) < 22
    credit = col(events, "credit_score")
    assert credit.min() >= 300 and credit.max() <= 850
    assert set(col(events, "region")) == {"north", "south", "east", "west", "central"}
    assert events.column("income").null_count == 0


def test_spec_columns_is_a_valid_model_spec(drifting: Simulation) -> None:
    spec = ModelSpec.model_validate(drifting.spec_columns)
    assert [f.name for f in spec.features] == list(FEATURES)
    kinds = {f.name: f.kind.value for f in spec.features}
    assert kinds["income"] == "numeric" and kinds["region"] == "categorical"
    assert kinds["has_mortgage"] == "boolean"
    assert spec.segments == ("region",) and spec.sensitive == ("gender",)
    assert set(drifting.reference().column_names) >= {spec.target, spec.score, spec.prediction}


def test_reference_model_is_realistic(drifting: Simulation) -> None:
    ref = drifting.reference()
    assert ref.num_rows == 20_000
    assert set(ref.column_names) == {*FEATURES, "prediction", "score", "target", "timestamp"}
    assert ref.column("timestamp")[-1].as_py() < START
    y, score = col(ref, "target"), col(ref, "score")
    assert 0.75 <= roc_auc_score(y, score) <= 0.9
    assert abs(score.mean() - y.mean()) < 0.02  # calibrated on average
    high = score > 0.5
    assert abs(score[high].mean() - y[high].mean()) < 0.05
    # the sensitive attribute: a mild selection-rate gap, not a model input
    gender, pred = col(ref, "gender"), col(ref, "prediction")
    ratio = pred[gender == "male"].mean() / pred[gender == "female"].mean()
    assert 0.7 < ratio < 0.95
    # natural correlations
    assert np.corrcoef(np.log(col(ref, "income")), np.log(col(ref, "loan_amount")))[0, 1] > 0.3
    assert np.corrcoef(col(ref, "credit_score"), col(ref, "interest_rate"))[0, 1] < -0.6


def test_credit_score_shifts_half_a_sd_in_the_north_first_then_everywhere(
    drifting: Simulation,
) -> None:
    sd = col(drifting.reference(), "credit_score").std()

    def shift(lo: float, hi: float, north: bool) -> float:
        def mean(e: pa.Table) -> float:
            return float(col(e, "credit_score")[(col(e, "region") == "north") == north].mean())

        return (mean(drifting.events(lo, hi)) - mean(drifting.events(0, D))) / sd

    assert -0.6 < shift(D, D + BROAD_LAG_DAYS, north=True) < -0.4
    assert abs(shift(D, D + BROAD_LAG_DAYS, north=False)) < 0.05
    assert -0.6 < shift(D + BROAD_LAG_DAYS, 60, north=False) < -0.4
    assert -0.6 < shift(D + BROAD_LAG_DAYS, 60, north=True) < -0.4


def test_concept_shift_lowers_accuracy_most_in_the_planted_segment(drifting: Simulation) -> None:
    before, after = accuracy(drifting, 0, D), accuracy(drifting, D + CONCEPT_LAG_DAYS, 60)
    seg_before = accuracy(drifting, 0, D, segment=True)
    seg_after = accuracy(drifting, D + CONCEPT_LAG_DAYS, 60, segment=True)
    assert 0.78 < before < 0.86
    assert before - after >= 0.03
    assert seg_before - seg_after >= 0.15
    assert seg_before - seg_after > 2 * (before - after)
    assert accuracy(drifting, D, D + CONCEPT_LAG_DAYS) > before - 0.03  # covariate shift first


def test_latency_tail_grows_with_drift(drifting: Simulation, stationary: Simulation) -> None:
    def p99(sim: Simulation, lo: float, hi: float) -> float:
        return float(np.percentile(col(sim.events(lo, hi), "latency_ms"), 99))

    assert p99(drifting, D, 60) > 1.5 * p99(drifting, 0, D)
    assert p99(stationary, D, 60) < 1.2 * p99(stationary, 0, D)


def test_without_drift_accuracy_and_features_stay_put(stationary: Simulation) -> None:
    assert abs(accuracy(stationary, 0, 30) - accuracy(stationary, 30, 60)) <= 0.015
    first, second = stationary.events(0, 30), stationary.events(30, 60)
    sd = col(first, "credit_score").std()
    assert abs(col(first, "credit_score").mean() - col(second, "credit_score").mean()) < 0.05 * sd


def test_no_drift_switches_agree_and_share_draws_with_the_drifting_stream() -> None:
    off = small(days=3, drift_start_day=1, drift=False).events()
    assert off.equals(small(days=3, drift_start_day=None).events())
    on = small(days=3, drift_start_day=1).events()
    assert on.slice(0, 300).equals(off.slice(0, 300))  # day 0 is before the onset
    assert col(on, "age").tolist() == col(off, "age").tolist()  # same applicants later too


def test_upstream_break_nulls_the_feature_from_its_day() -> None:
    sim = small(days=6, events_per_day=2000, upstream_break_day=2, upstream_break_feature="income")
    before, after = sim.events(0, 2), sim.events(2, 6)
    assert before.column("income").null_count == 0
    assert 0.38 < after.column("income").null_count / after.num_rows < 0.42
    assert all(after.column(f).null_count == 0 for f in FEATURES if f != "income")
    assert np.isfinite(col(after, "score")).all()  # the model imputes and carries on
    cat = small(upstream_break_day=0, upstream_break_feature="region", upstream_null_share=0.2)
    assert 0.15 < cat.events().column("region").null_count / cat.events().num_rows < 0.25


def test_actuals_arrive_after_the_delay() -> None:
    sim = small(label_delay_days=2.5)
    events, actuals = sim.events(), sim.actuals()
    assert actuals.column_names == ["event_id", "actual", "timestamp"]
    assert actuals.schema.field("actual").type == pa.int64()
    assert actuals.column("event_id").equals(events.column("event_id"))
    lag = (
        actuals.column("timestamp").cast(pa.int64()).to_numpy()
        - events.column("timestamp").cast(pa.int64()).to_numpy()
    )
    assert (lag == int(2.5 * 86_400_000_000)).all()
    cut = START + timedelta(days=3.5)
    early = sim.actuals(available_at=cut)
    assert 0 < early.num_rows < actuals.num_rows
    assert pc.max(early.column("timestamp")).as_py() <= cut
    arrived = events.filter(
        pc.less_equal(events.column("timestamp"), pa.scalar(cut - timedelta(days=2.5)))
    )
    assert early.column("event_id").equals(arrived.column("event_id"))
    assert sim.actuals(available_at=START + timedelta(days=2)).num_rows == 0
    with pytest.raises(ConfigError, match="'available_at'"):
        sim.actuals(available_at=datetime(2026, 1, 5))


def test_label_fraction_keeps_a_subset_of_the_same_labels() -> None:
    full, half = small().actuals(), small(label_fraction=0.5).actuals()
    assert 0.45 < half.num_rows / full.num_rows < 0.55
    labels = dict(zip(col(full, "event_id"), col(full, "actual"), strict=True))
    assert all(
        labels[e] == a for e, a in zip(col(half, "event_id"), col(half, "actual"), strict=True)
    )


def test_to_json_rows() -> None:
    sim = small(upstream_break_day=0)
    events = sim.events(0, 1)
    rows = Simulation.to_json_rows(events, ["income", "region", "has_mortgage"], ["region"])
    assert len(rows) == events.num_rows
    ok = next(r for r in rows if r["status"] == "ok")
    assert set(ok) == {
        "event_id",
        "timestamp",
        "version",
        "features",
        "prediction",
        "score",
        "latency_ms",
        "status",
        "segments",
    }
    assert datetime.fromisoformat(ok["timestamp"]).tzinfo is not None
    assert ok["version"] == "v1" and ok["prediction"] in (0, 1)
    assert set(ok["features"]) == {"income", "region", "has_mortgage"}
    assert ok["segments"] == {"region": ok["features"]["region"]}
    assert any(r["features"]["income"] is None for r in rows)
    failed = [r for r in rows if r["status"] == "error"]
    assert failed and all(isinstance(r["error"], str) for r in failed)
    bare = Simulation.to_json_rows(events.drop_columns(["status", "error"]), ["age"], [])
    assert "status" not in bare[0] and "error" not in bare[0] and bare[0]["segments"] == {}


@pytest.mark.parametrize(
    ("arg", "value"),
    [
        ("days", 0),
        ("events_per_day", -1),
        ("drift_start_day", -3),
        ("upstream_null_share", 1.5),
        ("label_fraction", -0.1),
        ("upstream_break_feature", "salary"),
        ("label_delay_days", -1.0),
        ("start", datetime(2026, 1, 1)),
    ],
)
def test_bad_configuration_names_the_argument(arg: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"'{arg}'"):
        Scenario(**{arg: value})


def test_scenario_is_keyword_only_and_frozen() -> None:
    with pytest.raises(TypeError):
        Scenario(1)  # type: ignore[misc]
    with pytest.raises(AttributeError):
        Scenario().seed = 3  # type: ignore[misc]
