"""Prices from a maintained, versioned source: the ``genai-prices`` package's bundled snapshot.

Hand-kept prices go stale (the bundled ``prices.json`` is dated and lacks newer models);
``genai-prices`` is a price data package released as prices change, with each provider's
model-name matching, long-context tiers and dated price changes. Only its bundled snapshot
is read: nothing is fetched (its opt-in updater is never started), so mlwarden stays
air-gapped, and the prices change when the package is upgraded, with its version in the
price table's version.

Examples
--------
>>> version() is not None
True
>>> amount, model = cost(["gpt-4o-mini"], input_tokens=120, output_tokens=8,
...                      cache_read_tokens=64, cache_write_tokens=0)
>>> float(amount), model
(1.8e-05, 'gpt-4o-mini')
>>> cost(["no-such-model"], input_tokens=1, output_tokens=1, cache_read_tokens=0,
...      cache_write_tokens=0) is None
True
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

__all__ = ["cost", "version"]


def _package() -> Any:
    try:
        import genai_prices
    except ImportError:  # an install without it prices from the bundled table alone
        return None
    return genai_prices


def version() -> str | None:
    """``genai-prices-<version>`` of the installed package, or None without it."""
    pkg = _package()
    return None if pkg is None else f"genai-prices-{pkg.__version__}"


def cost(
    candidates: Sequence[str],
    *,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int,
    cache_write_tokens: int,
) -> tuple[Decimal, str] | None:
    """The cost of one call and the model it was priced as, trying each name of
    ``candidates`` in turn (input tokens include cached ones, output tokens reasoning ones);
    None when the package is missing or prices none of them."""
    pkg = _package()
    if pkg is None:
        return None
    usage = pkg.Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read_tokens or None,
        cache_write_tokens=cache_write_tokens or None,
    )
    for name in candidates:
        try:
            calc = pkg.calc_price(usage, name)
        except (LookupError, ValueError):
            continue
        return Decimal(calc.total_price), str(calc.model.id)
    return None
