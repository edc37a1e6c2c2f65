"""Prices set through the API are kept in the data directory: a restarted server (a new
:class:`PriceOverrides` on the same file) prices with them; they are a project's own (another
project's spans are priced as before); a broken file is a config error."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlwarden.errors import ConfigError
from mlwarden.schema.pricing import load_prices
from mlwarden.server.price_overrides import FILE_NAME, PriceOverrides


def test_overrides_survive_a_restart_and_win_over_every_source(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    PriceOverrides(path).put("p", "gpt-4o", {"input": "1", "output": "2"})
    again = PriceOverrides(path)  # what the next server start reads
    assert again.models("p") == {"gpt-4o": {"input": "1", "output": "2"}}
    table = again.applied(load_prices(), "p")  # genai-prices and the bundled table price it too
    cost = table.cost("gpt-4o-2024-08-06", input_tokens=1_000_000, output_tokens=1_000_000)
    assert cost is not None and cost.amount == 3 and "+api-" in cost.version
    other = again.applied(load_prices(), "q").cost(
        "gpt-4o-2024-08-06", input_tokens=1_000_000, output_tokens=1_000_000
    )
    assert other is not None and other.amount != 3 and "+api-" not in other.version
    assert again.remove("p", "GPT-4o") and PriceOverrides(path).models("p") == {}


def test_a_broken_overrides_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="projects"):
        PriceOverrides(path)
