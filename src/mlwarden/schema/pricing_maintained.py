"""Prices from a maintained, versioned source: the ``genai-prices`` package's bundled snapshot.

Hand-kept prices go stale (the bundled ``prices.json`` is dated and lacks newer models);
``genai-prices`` is a price data package released as prices change, with each provider's
model-name matching, long-context tiers and dated price changes. Only its bundled snapshot
is read: nothing is fetched (its opt-in updater is never started), so mlwarden stays
air-gapped, and the prices change when the package is upgraded, with its version in the
price table's version.

The package prices one call in ~0.1 ms, too slow for every span of a busy OTLP stream. A
model whose prices have no tiers costs an affine function of its four token counts, so its
coefficients are read from the package once per model and hour (five calls, checked at a
sixth point) and a span's cost is four multiplications; tiered models (long-context prices)
and any model whose check fails are priced by the package call by call.

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

import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
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
    hour = int(time.time() // 3600)  # dated price changes take effect within the hour
    tokens = (input_tokens, output_tokens, cache_read_tokens, cache_write_tokens)
    for name in candidates:
        affine = _affine(name, hour)
        if affine is None:  # the package does not price this name
            continue
        if affine.exact and input_tokens >= cache_read_tokens + cache_write_tokens:
            return affine.at(tokens), affine.model
        found = _calc(pkg, name, tokens)
        if found is not None:
            return Decimal(found.total_price), affine.model
    return None


def _calc(pkg: Any, name: str, tokens: tuple[int, int, int, int]) -> Any:
    """The package's price calculation of ``tokens`` (input, output, cache read, cache write)
    for ``name``, or None when it does not price that name or usage."""
    usage = pkg.Usage(
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        cache_read_tokens=tokens[2] or None,
        cache_write_tokens=tokens[3] or None,
    )
    try:
        return pkg.calc_price(usage, name)
    except (LookupError, ValueError):
        return None


@dataclass(frozen=True)
class _Affine:
    """A model's cost as ``base + sum(per_token[i] * tokens[i])``; ``exact`` is False when
    it is not affine (tiers), and each call then goes to the package."""

    model: str
    exact: bool
    base: Decimal = Decimal(0)
    per_token: tuple[Decimal, ...] = ()

    def at(self, tokens: tuple[int, int, int, int]) -> Decimal:
        total = self.base
        for n, price in zip(tokens, self.per_token, strict=True):
            if n:
                total += n * price
        return total


_M = 1_000_000
#: Where the coefficients are read (input, output, cache read, cache write: input counts the
#: cached tokens) and the point they are checked at.
_POINTS = ((_M, 0, 0, 0), (0, _M, 0, 0), (_M, 0, _M, 0), (_M, 0, 0, _M))
_CHECK = (1_234_567, 76_543, 345_678, 23_456)


@lru_cache(maxsize=4096)
def _affine(name: str, hour: int) -> _Affine | None:
    """How ``name`` is priced during ``hour`` (hours since the epoch; part of the key so a
    dated price change is seen): None when the package does not price it."""
    pkg = _package()
    zero = _calc(pkg, name, (0, 0, 0, 0))
    if zero is None:
        return None
    model = str(zero.model.id)
    tiered = _has_tiers(zero.model_price)
    calcs = [] if tiered else [_calc(pkg, name, p) for p in _POINTS]
    check = None if tiered else _calc(pkg, name, _CHECK)
    if tiered or check is None or any(c is None for c in calcs):
        return _Affine(model, exact=False)
    base = Decimal(zero.total_price)
    inp, out, read, write = (Decimal(c.total_price) for c in calcs)
    per = ((inp - base) / _M, (out - base) / _M, (read - inp) / _M, (write - inp) / _M)
    # cached tokens are part of the input: theirs is the price over the input price
    affine = _Affine(model, exact=True, base=base, per_token=per)
    if affine.at(_CHECK) != Decimal(check.total_price):
        return _Affine(model, exact=False)
    return affine


def _has_tiers(model_price: Any) -> bool:
    """Whether any price of ``model_price`` (a ``genai_prices.types.ModelPrice``) is tiered."""
    from genai_prices.types import TieredPrices

    return any(isinstance(v, TieredPrices) for v in vars(model_price).values())
