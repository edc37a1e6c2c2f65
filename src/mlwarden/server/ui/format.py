"""Formatting for pages: numbers, times, statuses (Jinja2 filters).

Statuses are never told by colour alone: each has a glyph and a word.

Examples
--------
>>> num(0.123456), num(None), num(12345.6), pct(0.0512), count(1234567)
('0.1235', '–', '12,346', '5.1%', '1,234,567')
>>> usd(6.33e-05), usd(1234.5), usd(0.5), usd(0), usd(None)
('$0.0000633', '$1,234.50', '$0.50', '$0', '–')
>>> plural(1, "monitor"), plural(12, "monitor"), plural(1234, "query", "queries")
('1 monitor', '12 monitors', '1,234 queries')
>>> glyph("alert"), status_word("insufficient_data")
('▲', 'too little data')
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "FILTERS",
    "STATUS_ORDER",
    "count",
    "glyph",
    "num",
    "pct",
    "plural",
    "status_word",
    "usd",
    "worst",
]

#: Worst first.
STATUS_ORDER = ("alert", "warn", "ok", "insufficient_data", "no_data")
_GLYPHS = {"alert": "▲", "warn": "△", "ok": "✓", "insufficient_data": "·", "no_data": "–"}
_WORDS = {
    "alert": "alert",
    "warn": "warning",
    "ok": "ok",
    "insufficient_data": "too little data",
    "no_data": "no data",
    "none": "no monitors",
}


def num(x: Any, digits: int = 4) -> str:
    """A number with ``digits`` significant digits; '–' for missing."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if 1e4 <= abs(float(x)) < 1e15:
        return f"{float(x):,.0f}"
    return f"{float(x):.{digits}g}"


def pct(x: Any, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{100 * float(x):.{digits}f}%"


def usd(x: Any, digits: int = 3) -> str:
    """An amount of money in US dollars: cents from a dollar up, else ``digits`` significant
    digits written out (LLM calls cost fractions of a cent: never ``6.33e-05``)."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    v = float(x)
    if v == 0:
        return "$0"
    sign = "-" if v < 0 else ""
    v = abs(v)
    decimals = 2 if v >= 1 else max(2, digits - 1 - math.floor(math.log10(v)))
    body = f"{v:,.{decimals}f}"
    whole, _, frac = body.partition(".")
    body = f"{whole}.{frac.rstrip('0').ljust(2, '0')}"
    return f"{sign}${body}"


def plural(n: Any, word: str, many: str | None = None) -> str:
    """A count with its noun, singular for one: ``1 monitor``, ``2 monitors``."""
    k = int(n or 0)
    return f"{k:,} {word if k == 1 else (many or word + 's')}"


def count(x: Any) -> str:
    return "–" if x is None else f"{int(x):,}"


def day(x: Any) -> str:
    return x.strftime("%Y-%m-%d") if isinstance(x, datetime) else str(x or "–")[:10]


def when(x: Any) -> str:
    """A time to the minute (UTC)."""
    if isinstance(x, datetime):
        return x.strftime("%Y-%m-%d %H:%M UTC")
    return str(x or "–")[:16].replace("T", " ")


def ts(x: Any) -> str:
    """Epoch seconds (chart x values) as a UTC date, with the time unless midnight."""
    if x is None:
        return "–"
    t = datetime.fromtimestamp(float(x), UTC)
    return t.strftime("%Y-%m-%d" if (t.hour, t.minute) == (0, 0) else "%Y-%m-%d %H:%M")


def glyph(status: str | None) -> str:
    return _GLYPHS.get(status or "", "–")


def status_word(status: str | None) -> str:
    return _WORDS.get(status or "none", str(status))


def worst(statuses: list[str]) -> str:
    """The most urgent status of a list ('none' when empty)."""
    for s in STATUS_ORDER:
        if s in statuses:
            return s
    return "none"


FILTERS: dict[str, Callable[..., str]] = {
    "num": num,
    "pct": pct,
    "count": count,
    "plural": plural,
    "usd": usd,
    "day": day,
    "when": when,
    "ts": ts,
    "glyph": glyph,
    "status_word": status_word,
}
