"""What a monitor's value and threshold measure, written with their unit.

A volume monitor's value is a ratio to the median traffic of earlier windows, an error rate
a share, a latency milliseconds: "Value 0 / Threshold 0.2" reads as a count against a ratio.
Kinds not listed here are shown as plain numbers.

Examples
--------
>>> measure(0.0, "volume", {"events": 0, "median_events": 812})
'0× the median (0 events; median 812)'
>>> measure(0.2, "volume"), measure(0.0123, "error_rate"), measure(412.5, "latency")
('0.2× the median', '1.23%', '412.5 ms')
>>> measure(3.5, "feature_drift"), measure(None, "volume")
('3.5', '–')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlwarden.server.ui.format import count, num, pct, plural, usd

__all__ = ["UNITS", "measure"]

#: Monitor kind -> the unit of its value and threshold.
UNITS = {
    "volume": "× median",
    "error_rate": "share",
    "missing_values": "share",
    "llm_errors": "share",
    "llm_pii": "share",
    "llm_injection": "share",
    "llm_refusal": "share",
    "llm_format": "share",
    "latency": "ms",
    "llm_latency": "ms",
    "llm_cost": "USD",
    "llm_budget": "USD",
}


def measure(value: Any, kind: str | None, evidence: Mapping[str, Any] | None = None) -> str:
    """``value`` of a monitor of ``kind`` with its unit (and, for volume, the counts behind
    the ratio when ``evidence`` has them)."""
    if value is None:
        return "–"
    unit = UNITS.get(str(kind or "").partition(":")[0])
    if unit == "× median":
        out = f"{num(value, 3)}× the median"
        ev = evidence or {}
        if ev.get("events") is not None:
            out += f" ({plural(ev['events'], 'event')}"
            if ev.get("median_events") is not None:
                out += f"; median {count(ev['median_events'])}"
            out += ")"
        return out
    if unit == "share":
        return pct(value, 2)
    if unit == "ms":
        return f"{num(value)} ms"
    if unit == "USD":
        return usd(value)
    return num(value)
