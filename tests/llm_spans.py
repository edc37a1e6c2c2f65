"""The simulated LLM app's spans as the ingest path stores them (shared by test folders)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa


def llm_spans(scenario: Any, *, project: str = "p", days: range | None = None) -> pa.Table:
    """The simulated LLM app's spans (``LlmScenario``) as the ingest path stores them:
    OTLP/JSON decoded, normalised, priced and checked."""
    from mlwarden.cli.llm_simulator import LlmSimulation
    from mlwarden.schema.genai import normalise, spans_table
    from mlwarden.schema.otlp import decode_json
    from mlwarden.schema.pricing import load_prices
    from mlwarden.server.routes_otlp import enrich

    sim = LlmSimulation(scenario)
    prices = load_prices(None)
    rows: list[dict[str, Any]] = []
    for d in days if days is not None else range(scenario.days):
        raw, rejected = decode_json(sim.payload(d))
        assert not rejected
        normalised, bad = normalise(raw)
        assert not bad
        for r in normalised:
            enrich(r, prices)
        rows += normalised
    return spans_table(rows, project)
