"""One cadence at a time: results of a model whose monitors changed cadence (6 h windows, then
daily ones) are shown for one window length, the current one unless the URL picks another.

Examples
--------
>>> from datetime import UTC, datetime, timedelta
>>> t = datetime(2026, 1, 1, tzinfo=UTC)
>>> rows = [{"window_start": t + timedelta(hours=6 * i), "window_end": t + timedelta(hours=6 * i + 6)}
...         for i in range(4)] + [{"window_start": t + timedelta(days=1), "window_end": t + timedelta(days=2)}]
>>> kept, pick = one_cadence(rows, current="1d", wanted=None)
>>> len(kept), pick.chosen, pick.choices
(1, '1d', ['6h', '1d'])
>>> len(one_cadence(rows, current="1d", wanted="6h")[0])
4
>>> label(timedelta(hours=1)), label(timedelta(days=7)), label(timedelta(minutes=15))
('1h', '1w', '15m')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

__all__ = ["CadencePick", "label", "one_cadence"]


@dataclass(frozen=True)
class CadencePick:
    """The window length shown and the ones the results hold (shortest first)."""

    chosen: str | None = None
    choices: list[str] = field(default_factory=list)

    @property
    def mixed(self) -> bool:
        return len(self.choices) > 1


def label(d: timedelta) -> str:
    """A window length in the spec's words: '15m', '6h', '1d', '1w'."""
    s = int(d.total_seconds())
    for unit, size in (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size and s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"


def one_cadence(
    rows: Sequence[dict[str, Any]], *, current: str | None, wanted: str | None
) -> tuple[list[dict[str, Any]], CadencePick]:
    """The rows of one window length: ``wanted`` (from the URL) when the results have it, else
    the monitors' ``current`` cadence, else the length of the latest window."""
    lengths = {label(r["window_end"] - r["window_start"]): r["window_end"] - r["window_start"]
               for r in rows}  # fmt: skip
    if len(lengths) <= 1:
        return list(rows), CadencePick(next(iter(lengths), None), sorted(lengths))
    latest = max(rows, key=lambda r: r["window_start"])
    chosen = next(
        c
        for c in (wanted, current, label(latest["window_end"] - latest["window_start"]))
        if c in lengths
    )
    kept = [r for r in rows if r["window_end"] - r["window_start"] == lengths[chosen]]
    order = sorted(lengths, key=lambda c: lengths[c])
    return kept, CadencePick(chosen, order)
