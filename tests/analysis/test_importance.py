"""Feature importance from a reference: a surrogate of the model plus permutation importance."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from mlwarden.analysis import feature_importance
from mlwarden.cli.simulator import Scenario, Simulation
from mlwarden.errors import ConfigError, StatisticsError
from mlwarden.schema import Feature, ModelSpec


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return Simulation(Scenario(days=1, events_per_day=10, reference_rows=8000))


def spec_of(sim: Simulation, extra: list[Feature] | None = None) -> ModelSpec:
    spec = ModelSpec.model_validate(sim.spec_columns)
    return spec.with_features(extra) if extra else spec


def test_simulated_model_leans_on_credit_score_and_debt_to_income(sim: Simulation) -> None:
    imp = feature_importance(spec_of(sim), sim.reference())
    assert set(imp) == set(spec_of(sim).feature_names)
    assert sum(imp.values()) == pytest.approx(1.0)
    assert all(v >= 0 for v in imp.values())
    top3 = sorted(imp, key=lambda k: -imp[k])[:3]
    assert {"credit_score", "debt_to_income"} <= set(top3), imp
    # gender is logged but is not a model input
    assert imp["gender"] < 0.01


def test_a_pure_noise_feature_gets_almost_nothing(sim: Simulation) -> None:
    ref = sim.reference()
    noise = np.random.default_rng(5).normal(size=ref.num_rows)
    ref = ref.append_column("noise", pa.array(noise))
    imp = feature_importance(spec_of(sim, [Feature(name="noise", kind="numeric")]), ref)
    assert imp["noise"] < 0.01
    assert imp["credit_score"] > 0.3


def test_deterministic_in_the_seed_and_subsampled(sim: Simulation) -> None:
    spec, ref = spec_of(sim), sim.reference()
    a = feature_importance(spec, ref, seed=3, max_rows=3000)
    assert a == feature_importance(spec, ref, seed=3, max_rows=3000)
    b = feature_importance(spec, ref, seed=4, max_rows=3000)
    assert a != b  # another subsample and split ...
    assert (
        max(a, key=a.__getitem__) == max(b, key=b.__getitem__) == "credit_score"
    )  # ... same story


def test_classifier_surrogate_on_predicted_classes_with_categories() -> None:
    rng = np.random.default_rng(0)
    n = 3000
    colour = rng.choice(["red", "green", "blue", "grey"], size=n)
    size = rng.normal(size=n)
    flag = rng.random(n) < 0.5
    pred = np.where(colour == "red", "a", np.where(size > 0, "b", "c"))
    spec = ModelSpec(
        name="m",
        task="multiclass",
        features=[
            Feature(name="colour", kind="categorical"),
            Feature(name="size", kind="numeric"),
            Feature(name="flag", kind="boolean"),
            Feature(name="notes", kind="text"),
        ],
    )
    ref = pa.table(
        {"colour": colour, "size": size, "flag": flag, "notes": ["x"] * n, "prediction": pred}
    )
    imp = feature_importance(spec, ref)
    assert set(imp) == {"colour", "size", "flag"}  # text is not learned from
    assert imp["colour"] > 0.2 and imp["size"] > 0.2
    assert imp["flag"] < 0.02


def test_constant_output_gives_uniform_importance() -> None:
    spec = ModelSpec(
        name="m",
        task="regression",
        features=[Feature(name="x", kind="numeric"), Feature(name="y", kind="numeric")],
    )
    ref = pa.table({"x": np.arange(100.0), "y": np.ones(100), "prediction": np.full(100, 2.0)})
    assert feature_importance(spec, ref) == {"x": 0.5, "y": 0.5}


def test_bad_inputs_raise_clear_errors() -> None:
    spec = ModelSpec(name="m", task="regression", features=[Feature(name="x", kind="numeric")])
    with pytest.raises(ConfigError, match="prediction column 'prediction'"):
        feature_importance(spec, pa.table({"x": [1.0, 2.0]}))
    text_only = ModelSpec(name="m", task="regression", features=[Feature(name="t", kind="text")])
    with pytest.raises(StatisticsError, match="no numeric, categorical or boolean feature"):
        feature_importance(text_only, pa.table({"t": ["a"] * 100, "prediction": [1.0] * 100}))
    with pytest.raises(StatisticsError, match="at least 50 are needed"):
        feature_importance(spec, pa.table({"x": [1.0, 2.0], "prediction": [1.0, None]}))
    with pytest.raises(ConfigError, match="'max_rows' parameter of feature_importance"):
        feature_importance(spec, pa.table({"x": [1.0], "prediction": [1.0]}), max_rows=0)
    llm = ModelSpec(name="bot", task="llm")
    assert feature_importance(llm, pa.table({"prompt": ["hi"]})) == {}
