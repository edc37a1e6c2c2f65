"""Token prices and the cost of one LLM call, from a versioned price table shipped as data.

Where a price comes from, first found: the user's overrides (a file of the
``prices.json`` shape, :func:`load_prices`), then the maintained ``genai-prices``
package's snapshot (:mod:`mlwarden.schema.pricing_maintained`: newer models,
long-context tiers, dated changes), then the bundled table (``prices.json``
beside this module: illustrative list prices per million tokens with a version
string, a date and a provenance note; its SHA-256 is pinned in
:data:`BUNDLED_SHA256` so a change to the file is a deliberate, reviewed
change). The table's version names all three, ``<bundled version>
+genai-prices-<version>+<override version or hash>``, and that version is
stored with every cost computed from it.

Cost of one call (token counts as the OpenTelemetry GenAI conventions and the
OpenAI API report them: input tokens *include* cached tokens, output tokens
*include* reasoning tokens)::

    cost = (input - cache_read - cache_write) * p_input
         + cache_read * p_cache_read + cache_write * p_cache_write
         + (output - reasoning) * p_output + reasoning * p_reasoning

where a model without a separate reasoning price has ``p_reasoning =
p_output`` (so the last line is ``output * p_output``) and a missing cache
price falls back to the input price. Arithmetic is exact (:class:`~decimal.Decimal`).

Examples
--------
>>> table = load_prices()
>>> c = table.cost("gpt-4o-2024-08-06", input_tokens=1_000_000, output_tokens=100_000,
...                cache_read_tokens=400_000)
>>> c.amount, c.model, c.version == table.version
(Decimal('3'), 'gpt-4o', True)
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from mlwarden.errors import ConfigError, expected
from mlwarden.schema import pricing_maintained

__all__ = ["BUNDLED_SHA256", "PRICES_ENV", "Cost", "Price", "PriceTable", "load_prices"]

#: Environment variable naming a JSON file of extra or overriding prices (read by the server).
PRICES_ENV = "MLWARDEN_PRICES"

#: SHA-256 of the bundled ``prices.json``; change both together (and bump its version).
BUNDLED_SHA256 = "7308bf3b6a69230ee660313da754f158c6ee485c0d8cdffb4b46049f9715cfad"
MILLION = Decimal(1_000_000)
_PRICE_FIELDS = ("input", "output", "cache_read", "cache_write", "reasoning")


@dataclass(frozen=True)
class Price:
    """Prices of one model per million tokens (``None``: not priced separately)."""

    model: str
    input: Decimal
    output: Decimal
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None
    reasoning: Decimal | None = None
    provider: str | None = None


@dataclass(frozen=True)
class Cost:
    """The cost of one call: ``amount`` in the table's currency, the price ``model`` key used
    and the table ``version``."""

    amount: Decimal
    model: str
    version: str


@dataclass(frozen=True)
class PriceTable:
    """Prices by model name, with the table's ``version``, ``currency`` and ``sha256``."""

    version: str
    prices: Mapping[str, Price]
    aliases: Mapping[str, str]
    sha256: str
    currency: str = "USD"
    as_of: str = ""
    provenance: str = ""
    #: Whether the maintained source (genai-prices) prices models before the bundled table.
    maintained: bool = False
    #: Models whose price comes from the user's overrides (they win over every source).
    overridden: frozenset[str] = frozenset()

    def lookup(self, model: str | None) -> Price | None:
        """The price of ``model``, trying the name as given, then without a provider prefix
        (``openai/``, ``models/``, Bedrock's ``anthropic.``), a version suffix (``-v1:0``), a
        release date (``-2024-08-06``, ``-20241022``, ``@20240620``), a numeric snapshot
        (``-0613``, ``-002``) or ``-latest``. No fuzzy matching: an unknown model is unpriced.

        Examples
        --------
        >>> t = load_prices()
        >>> [t.lookup(m).model for m in ("openai/gpt-4o-mini", "claude-3-5-sonnet-20241022",
        ...                               "us.anthropic.claude-sonnet-4-20250514-v1:0")]
        ['gpt-4o-mini', 'claude-3-5-sonnet', 'claude-sonnet-4']
        >>> t.lookup("gpt-4-32k") is None
        True
        """
        if not model:
            return None
        for name in _candidates(model):
            key = self.aliases.get(name, name)
            if key in self.prices:
                return self.prices[key]
        return None

    def cost(
        self,
        model: str | None,
        *,
        input_tokens: int | None,
        output_tokens: int | None,
        cache_read_tokens: int | None = None,
        cache_write_tokens: int | None = None,
        reasoning_tokens: int | None = None,
    ) -> Cost | None:
        """The cost of one call, or None when the model is unpriced or no tokens are known."""
        if not model or (input_tokens is None and output_tokens is None):
            return None
        price = self.lookup(model)
        if self.maintained and (price is None or price.model not in self.overridden):
            found = pricing_maintained.cost(
                _candidates(model),
                input_tokens=input_tokens or 0,
                output_tokens=output_tokens or 0,
                cache_read_tokens=cache_read_tokens or 0,
                cache_write_tokens=cache_write_tokens or 0,
            )
            if found is not None:
                return Cost(found[0].normalize(), found[1], self.version)
        if price is None:
            return None
        inp, out = Decimal(input_tokens or 0), Decimal(output_tokens or 0)
        read, write = Decimal(cache_read_tokens or 0), Decimal(cache_write_tokens or 0)
        reasoning = min(Decimal(reasoning_tokens or 0), out)
        uncached = max(inp - read - write, Decimal(0))
        total = uncached * price.input
        total += read * (price.cache_read if price.cache_read is not None else price.input)
        total += write * (price.cache_write if price.cache_write is not None else price.input)
        if price.reasoning is None:
            total += out * price.output
        else:
            total += (out - reasoning) * price.output + reasoning * price.reasoning
        return Cost((total / MILLION).normalize(), price.model, self.version)

    def with_overrides(self, data: Mapping[str, Any], *, source: str = "overrides") -> PriceTable:
        """A new table: this one plus the models of ``data`` (same shape as ``prices.json``;
        only ``models`` is required)."""
        raw = json.dumps(data, sort_keys=True).encode()
        prices, aliases = dict(self.prices), dict(self.aliases)
        new_prices, new_aliases = _parse_models(data, source)
        prices.update(new_prices)
        aliases.update(new_aliases)
        tag = data.get("version") or hashlib.sha256(raw).hexdigest()[:12]
        return PriceTable(
            version=f"{self.version}+{tag}",
            prices=prices,
            aliases=aliases,
            sha256=hashlib.sha256(self.sha256.encode() + raw).hexdigest(),
            currency=self.currency,
            as_of=self.as_of,
            provenance=self.provenance + f" Overridden by {source}.",
            maintained=self.maintained,
            overridden=self.overridden | frozenset(new_prices) | frozenset(new_aliases),
        )

    def with_maintained(self) -> PriceTable:
        """This table with the maintained source (genai-prices, when installed) in front of the
        bundled prices; itself when the package is missing."""
        tag = pricing_maintained.version()
        if tag is None or self.maintained:
            return self
        return replace(
            self,
            version=f"{self.version}+{tag}",
            sha256=hashlib.sha256(self.sha256.encode() + tag.encode()).hexdigest(),
            maintained=True,
            provenance=self.provenance + f" Models priced by {tag} take its prices first.",
        )


_PROVIDER_PREFIX = re.compile(
    r"^(?:[a-z]{2}\.)?(?:anthropic|meta|mistral|cohere|amazon|ai21|deepseek|openai)\."
)
_SUFFIXES = [
    re.compile(r"-v\d+(?::\d+)?$"),
    re.compile(r"[-@](?:\d{4}-\d{2}-\d{2}|\d{8})$"),
    re.compile(r"-(?:\d{3,4}|latest)$"),
]


@lru_cache(maxsize=1024)  # a pure function of the name, asked twice for every priced span
def _candidates(model: str) -> tuple[str, ...]:
    name = model.strip().lower()
    out = [name]
    name = name.rsplit("/", 1)[-1]
    name = _PROVIDER_PREFIX.sub("", name)
    out.append(name)
    for suffix in _SUFFIXES:
        name = suffix.sub("", name)
        out.append(name)
    return tuple(dict.fromkeys(out))


def _decimal(value: Any, where: str) -> Decimal:
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(expected("price", where, "be a number (per 1M tokens)", value)) from None
    if not d.is_finite() or d < 0:
        raise ConfigError(expected("price", where, "be a finite number >= 0", value))
    return d


def _parse_models(data: Mapping[str, Any], source: str) -> tuple[dict[str, Price], dict[str, str]]:
    models = data.get("models")
    if not isinstance(models, Mapping):
        raise ConfigError(
            expected("field", "models", f"be an object of model prices in {source}", models)
        )
    prices: dict[str, Price] = {}
    aliases: dict[str, str] = {}
    for name, entry in models.items():
        key = str(name).strip().lower()
        if not isinstance(entry, Mapping):
            raise ConfigError(expected("entry", f"models.{name}", "be an object", entry))
        for f in ("input", "output"):
            if f not in entry:
                raise ConfigError(
                    expected("entry", f"models.{name}", f"have an {f!r} price", dict(entry))
                )
        p = {
            f: _decimal(entry[f], f"models.{name}.{f}")
            for f in _PRICE_FIELDS
            if entry.get(f) is not None
        }
        prices[key] = Price(model=key, provider=entry.get("provider"), **p)
        for alias in entry.get("aliases", ()):
            aliases[str(alias).strip().lower()] = key
    return prices, aliases


def _table(raw: bytes, source: str) -> PriceTable:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"The price table {source} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not data.get("version"):
        raise ConfigError(expected("field", "version", f"be set in {source}", None))
    prices, aliases = _parse_models(data, source)
    return PriceTable(
        version=str(data["version"]),
        prices=prices,
        aliases=aliases,
        sha256=hashlib.sha256(raw).hexdigest(),
        currency=str(data.get("currency", "USD")),
        as_of=str(data.get("as_of", "")),
        provenance=str(data.get("provenance", "")),
    )


@lru_cache(maxsize=8)
def _load(path: str | None, mtime: float, maintained: bool) -> PriceTable:
    raw = resources.files("mlwarden.schema").joinpath("prices.json").read_bytes()
    table = _table(raw, "the bundled prices.json")
    if maintained:
        table = table.with_maintained()
    if path is None:
        return table
    try:
        extra = json.loads(Path(path).read_bytes())
    except OSError as exc:
        raise ConfigError(f"Cannot read the price file {path!r}: {exc}") from exc
    except ValueError as exc:
        raise ConfigError(f"The price file {path!r} is not valid JSON: {exc}") from exc
    if not isinstance(extra, dict):
        raise ConfigError(expected("price file", path, "hold a JSON object", type(extra).__name__))
    return table.with_overrides(extra, source=str(path))


def load_prices(path: str | Path | None = None, *, maintained: bool = True) -> PriceTable:
    """The price table: the bundled prices, the maintained source in front of them
    (``maintained=False``: the bundled table alone), and the models of the JSON file at
    ``path`` added or overriding (re-read when the file changes).

    Examples
    --------
    >>> t = load_prices(maintained=False)
    >>> t.sha256 == BUNDLED_SHA256, t.currency, t.lookup("gpt-4o").output
    (True, 'USD', Decimal('10.00'))
    >>> load_prices().cost("gpt-5.1", input_tokens=1000, output_tokens=100).model
    'gpt-5.1'
    """
    if path is None:
        return _load(None, 0.0, maintained)
    p = Path(path)
    try:
        mtime = p.stat().st_mtime
    except OSError as exc:
        raise ConfigError(f"Cannot read the price file {str(p)!r}: {exc}") from exc
    return _load(str(p), mtime, maintained)
