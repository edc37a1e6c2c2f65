"""Cost: exact on hand-computed cases (cache reads and writes, reasoning), versioned tables."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest

from mlwarden.errors import ConfigError
from mlwarden.schema.pricing import BUNDLED_SHA256, load_prices

D = Decimal


def test_bundled_table_is_pinned_versioned_and_documented() -> None:
    raw = resources.files("mlwarden.schema").joinpath("prices.json").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == BUNDLED_SHA256, (
        "prices.json changed: bump its 'version' and update BUNDLED_SHA256 in pricing.py"
    )
    data = json.loads(raw)
    assert data["version"] and data["as_of"] and "Illustrative" in data["provenance"]
    assert len(data["models"]) >= 30
    t = load_prices(maintained=False)
    assert t.version == data["version"] and t.sha256 == BUNDLED_SHA256
    for price in t.prices.values():
        assert price.input >= 0 and price.output >= 0


def test_cost_without_cache_hand_computed() -> None:
    # gpt-4o: $2.50 in, $10.00 out per 1M; 1234 in, 567 out
    c = load_prices(maintained=False).cost("gpt-4o", input_tokens=1234, output_tokens=567)
    assert c is not None
    assert c.amount == (D(1234) * D("2.50") + D(567) * D("10.00")) / D(1_000_000)
    assert c.amount == D("0.008755")


def test_cost_with_cache_read_and_write_hand_computed() -> None:
    # claude-sonnet-4: in 3.00, cache read 0.30, cache write 3.75, out 15.00
    # 10,000 input of which 6,000 read from cache and 2,000 written to it; 500 output
    # (10000 - 6000 - 2000) * 3.00 + 6000 * 0.30 + 2000 * 3.75 + 500 * 15.00
    #   = 6000 + 1800 + 7500 + 7500 = 22,800 per 1M tokens = $0.0228
    c = load_prices(maintained=False).cost(
        "claude-sonnet-4-20250514",
        input_tokens=10_000,
        output_tokens=500,
        cache_read_tokens=6_000,
        cache_write_tokens=2_000,
    )
    assert c is not None and c.model == "claude-sonnet-4"
    assert c.amount == D("0.0228")


def test_cache_price_falls_back_to_input_price_and_reasoning_priced_separately() -> None:
    t = load_prices(maintained=False)
    # gpt-4-turbo has no cache price: cached tokens cost the input price
    plain = t.cost("gpt-4-turbo", input_tokens=1000, output_tokens=0)
    cached = t.cost("gpt-4-turbo", input_tokens=1000, output_tokens=0, cache_read_tokens=600)
    assert plain is not None and cached is not None and plain.amount == cached.amount == D("0.01")
    # o3: output includes reasoning, priced as output (no separate reasoning price)
    o3 = t.cost("o3", input_tokens=0, output_tokens=1000, reasoning_tokens=800)
    assert o3 is not None and o3.amount == D("0.008")
    # gemini-2.5-flash-preview-04-17: 0.60 per 1M non-thinking output, 3.50 thinking
    # (1000 - 800) * 0.60 + 800 * 3.50 = 120 + 2800 = 2920 per 1M = $0.00292
    g = t.cost(
        "gemini-2.5-flash-preview-04-17", input_tokens=0, output_tokens=1000, reasoning_tokens=800
    )
    assert g is not None and g.amount == D("0.00292")


def test_unknown_model_or_no_tokens_has_no_cost() -> None:
    t = load_prices()
    assert t.cost("my-finetune", input_tokens=10, output_tokens=1) is None
    assert t.cost("gpt-4o", input_tokens=None, output_tokens=None) is None
    assert t.lookup("gpt-4o-mini-2024-07-18").model == "gpt-4o-mini"  # type: ignore[union-attr]
    assert t.lookup("models/gemini-1.5-pro-002").model == "gemini-1.5-pro"  # type: ignore[union-attr]
    assert t.lookup("mistral-large-latest").model == "mistral-large"  # type: ignore[union-attr]


def test_override_file_adds_and_replaces_prices_and_changes_the_version(tmp_path: Path) -> None:
    f = tmp_path / "prices.json"
    f.write_text(
        json.dumps(
            {
                "version": "acme-2026-01",
                "models": {
                    "gpt-4o": {"input": "2.00", "output": "8.00"},
                    "acme-llm": {"input": "1", "output": "2", "aliases": ["acme-llm-prod"]},
                },
            }
        )
    )
    t = load_prices(f)
    assert t.version == f"{load_prices().version}+acme-2026-01"
    c = t.cost("acme-llm-prod", input_tokens=1_000_000, output_tokens=1_000_000)
    assert c is not None and c.amount == D(3) and c.version == t.version
    assert t.lookup("gpt-4o").input == D("2.00")  # type: ignore[union-attr]
    assert load_prices().lookup("gpt-4o").input == D("2.50")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not valid JSON"),
        ('{"models": {"m": {"input": "1"}}}', "'output' price"),
        ('{"models": {"m": {"input": "-1", "output": "1"}}}', ">= 0"),
        ('{"models": []}', "'models' field"),
    ],
)
def test_bad_override_files_are_config_errors(tmp_path: Path, content: str, message: str) -> None:
    f = tmp_path / "p.json"
    f.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_prices(f)
    with pytest.raises(ConfigError, match="Cannot read"):
        load_prices(tmp_path / "missing.json")


def test_the_maintained_source_prices_newer_models_and_overrides_still_win(
    tmp_path: Path,
) -> None:
    """genai-prices (its bundled snapshot) prices what the hand-kept table lacks, in front of
    it; the user's file wins over both; the version names every source."""
    pytest.importorskip("genai_prices")
    bundled, t = load_prices(maintained=False), load_prices()
    assert "+genai-prices-" in t.version and t.version.startswith(bundled.version)
    for model in ("gpt-5.1", "claude-sonnet-4-5-20250929", "gemini-3-pro-preview"):
        assert bundled.cost(model, input_tokens=1000, output_tokens=100) is None
        c = t.cost(model, input_tokens=1000, output_tokens=100)
        assert c is not None and c.amount > 0 and c.version == t.version, model
    # gpt-5.1: $1.25 in, $0.125 cached, $10 out per 1M
    c = t.cost("openai/gpt-5.1", input_tokens=2000, output_tokens=300, cache_read_tokens=1000)
    assert c is not None and c.amount == (1000 * D("1.25") + 1000 * D("0.125") + 300 * 10) / 10**6
    assert t.cost("no-such-model-9", input_tokens=10, output_tokens=10) is None
    mine = tmp_path / "prices.json"
    mine.write_text(
        json.dumps({"version": "acme-1", "models": {"gpt-5.1": {"input": 1, "output": 1}}})
    )
    over = load_prices(mine)
    c = over.cost("gpt-5.1", input_tokens=10**6, output_tokens=10**6)
    assert c is not None and c.amount == 2 and c.version == f"{t.version}+acme-1"
