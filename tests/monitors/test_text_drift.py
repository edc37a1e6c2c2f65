"""Text drift of a classic model's free-text feature, on the real engine: quiet while the
texts stay on their topics, firing when a new topic takes a third of them, and set up
automatically for text features (not for LLM apps, whose texts are spans)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from mlwarden.errors import ConfigError
from mlwarden.monitors import Status, auto_monitors
from mlwarden.monitors.context import Calibration, FitContext
from mlwarden.monitors.evaluate import _evaluate, window_run
from mlwarden.monitors.text_drift import TextDrift
from mlwarden.schema import Feature, ModelSpec, validate_table
from mlwarden.store import DuckDBStore
from topics import BANKING, TRAVEL, questions

SPEC = ModelSpec(
    name="tickets",
    task="binary",
    features=[Feature(name="amount", kind="numeric"), Feature(name="description", kind="text")],
    prediction="prediction",
)
START = datetime(2026, 5, 4, tzinfo=UTC)


def _rows(rng: np.random.Generator, texts: list[str]) -> dict[str, object]:
    n = len(texts)
    return {
        "amount": rng.normal(100, 20, n),
        "description": texts,
        "prediction": rng.integers(0, 2, n),
    }


def test_a_new_topic_fires_and_the_same_topics_do_not() -> None:
    rng = np.random.default_rng(7)
    reference = pa.table(_rows(rng, questions(rng, 600, BANKING)))
    mon = TextDrift("description", sample=150, reference_rows=300).fit(
        FitContext(SPEC, reference, Calibration(budget="1 per 30 days", cadence_s=86400))
    )
    store = DuckDBStore()
    try:
        model = store.create_model("p", SPEC)
        for day in range(4):
            texts = questions(rng, 300, BANKING)
            if day >= 2:  # a third of the tickets are now about travel
                texts = texts[:200] + questions(rng, 100, TRAVEL)
            cols = _rows(rng, texts)
            when = START + timedelta(days=day, hours=12)
            events = pa.table(
                {
                    "event_id": [f"d{day}-{i}" for i in range(300)],
                    "timestamp": pa.array([when] * 300, pa.timestamp("us", tz="UTC")),
                    **cols,
                }
            )
            store.append_events(model, validate_table(SPEC, events).table).result()
        run = window_run(START, START + timedelta(days=4), timedelta(days=1))
        results = _evaluate(store, model, [mon], run, None)
    finally:
        store.close()
    assert [r.status for r in results] == [Status.OK, Status.OK, Status.ALERT, Status.ALERT], [
        r.reason for r in results
    ]
    assert all(r.n == 150 for r in results)  # the window's bounded sample
    novel = results[-1].details["novel"]
    assert any(t in text for text in novel for t in TRAVEL), novel
    assert results[-1].reason.startswith("description: domain classifier AUC")


def test_set_up_for_text_features_of_classic_models_only() -> None:
    kinds = {m.id for m in auto_monitors(SPEC)}
    assert "text_drift:description" in kinds and "feature_drift:description" not in kinds
    llm = ModelSpec(name="bot", task="llm", features=[Feature(name="prompt", kind="text")])
    assert not any(m.kind == "text_drift" for m in auto_monitors(llm))
    assert not TextDrift("description").per_segment


def test_a_column_that_is_not_text_is_refused_by_name() -> None:
    ctx = FitContext(SPEC, pa.table({"amount": [1.0] * 100}), Calibration())
    with pytest.raises(ConfigError, match="'amount' is a numeric feature of 'tickets'"):
        TextDrift("amount").fit(ctx)
    with pytest.raises(ConfigError, match="'nope' is not a feature"):
        TextDrift("nope").fit(ctx)
    with pytest.raises(ConfigError, match="needs at least 50 texts in a 'description' column"):
        TextDrift("description").fit(ctx)


def test_a_batch_report_names_the_newquestions() -> None:
    import mlwarden

    rng = np.random.default_rng(0)
    ref = pa.table(_rows(rng, questions(rng, 2000, BANKING)))
    cur = pa.table(_rows(rng, questions(rng, 600, BANKING) + questions(rng, 400, TRAVEL)))
    report = mlwarden.report(ref, cur)
    (r,) = [x for x in report.results if x.monitor == "text_drift:description"]
    assert r.status is Status.ALERT
    page = report.to_html()
    section = page.split("Texts least like the reference")[1]
    assert any(t in section for t in TRAVEL)
