"""Chart axes: ranges, ticks and tick labels that read right with 1, 2 or 1,000 points.

The browser draws what this module decides (uPlot is given the range, the tick positions and
their labels), so every chart of every page follows one set of rules:

* a value axis spans nice round numbers (1, 2, 2.5 or 5 times a power of ten) around the data;
  a constant series gets a band of ±10% around it, an all-zero one a small span above zero
  (1% for shares, 1 for counts), non-negative data starts at zero when zero is near;
* tick labels carry as many decimals as the tick step needs, so no two ticks read the same;
* a time axis spans the data, padded by one step around a single point; its ticks fall on
  round times whose format follows the step (hours below a day, days, months) in UTC.

Examples
--------
>>> a = value_axis([0.0, 0.0], fmt="pct")
>>> a.min, a.max, a.labels
(0.0, 0.01, ['0.0%', '0.2%', '0.4%', '0.6%', '0.8%', '1.0%'])
>>> value_axis([0.001, 0.0012, 0.0014], fmt="usd").labels
['$0.0010', '$0.0011', '$0.0012', '$0.0013', '$0.0014']
>>> value_axis([42.0], fmt="num").labels
['36', '38', '40', '42', '44', '46', '48']
>>> value_axis([120_000.0, 2_400_000.0], fmt="num").labels
['0', '0.5M', '1.0M', '1.5M', '2.0M', '2.5M']
>>> t = time_axis([1_767_225_600.0])  # one daily point, 2026-01-01
>>> t.labels
['Dec 31\\n2025', 'Jan 01\\n2026', 'Jan 02']
>>> time_axis([1_767_225_600.0 + h * 3600 for h in range(6)]).labels
['00:00\\nJan 01', '01:00', '02:00', '03:00', '04:00', '05:00']
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["FORMATS", "Axis", "fmt_value", "nice_step", "time_axis", "value_axis"]

#: Value formats of a chart's y axis.
FORMATS = ("num", "pct", "usd")
#: The span above zero of an all-zero series, per format.
_ZERO_SPAN = {"num": 1.0, "pct": 0.01, "usd": 0.01}
_DAY = 86400
_TIME_STEPS = (60, 300, 900, 1800, 3600, 7200, 10800, 21600, 43200, _DAY, 2 * _DAY, 7 * _DAY)
_MONTH_STEPS = (1, 2, 3, 6, 12)


@dataclass(frozen=True)
class Axis:
    """A range, the ticks inside it and one label per tick."""

    min: float
    max: float
    ticks: list[float]
    labels: list[str]

    def payload(self) -> dict[str, object]:
        return {"min": self.min, "max": self.max, "ticks": self.ticks, "labels": self.labels}


def nice_step(raw: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k that is at least ``raw`` (> 0).

    >>> nice_step(0.0031), nice_step(7.0), nice_step(220.0)
    (0.005, 10.0, 250.0)
    """
    exp = math.floor(math.log10(raw))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        step = m * 10.0**exp
        if step >= raw * (1 - 1e-9):
            return float(f"{step:.12g}")
    return 10.0 ** (exp + 1)  # pragma: no cover - 10 × 10^exp always qualifies


def _decimals(step: float) -> int:
    """Decimals that write every multiple of ``step`` exactly (at most 12)."""
    for d in range(13):
        if abs(round(step, d) - step) <= step * 1e-6:
            return d
    return 12


def _scale(top: float, fmt: str) -> tuple[float, str]:
    """Thousands, millions or billions for the large numbers of a count axis."""
    if fmt == "num":
        for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e5, "k")):
            if top >= scale:
                return (1e3 if suffix == "k" else scale), suffix
    return 1.0, ""


def fmt_value(x: float, *, fmt: str, step: float, top: float = 0.0) -> str:
    """One tick label: ``x`` with the decimals ``step`` needs, in the axis's format (``top``:
    the largest magnitude on the axis, which picks one k/M/G suffix for all its ticks).

    >>> fmt_value(0.025, fmt="pct", step=0.005), fmt_value(1500.0, fmt="num", step=500.0)
    ('2.5%', '1,500')
    >>> fmt_value(1.5e6, fmt="num", step=5e5, top=2e6), fmt_value(-2.0, fmt="usd", step=1.0)
    ('1.5M', '-$2')
    """
    if fmt == "pct":
        return f"{100 * x:.{_decimals(step * 100)}f}%"
    scale, suffix = _scale(max(top, abs(x)), fmt)
    d = _decimals(step / scale)
    body = f"{abs(x) / scale:,.{d}f}"
    zero = not body.strip("0.,")
    sign = "-" if x < 0 and not zero else ""
    if fmt == "usd":
        return f"{sign}${body}"
    if zero and suffix:
        return "0"
    return f"{sign}{body}{suffix}"


def value_axis(values: Iterable[float | None], *, fmt: str = "num", ticks: int = 5) -> Axis:
    """The y axis of a chart drawing ``values`` (all its series together)."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    lo, hi = (min(vals), max(vals)) if vals else (0.0, 0.0)
    non_negative = lo >= 0
    if lo == hi:
        if lo == 0:
            hi = _ZERO_SPAN.get(fmt, 1.0)
        else:
            pad = abs(lo) * 0.1
            lo, hi = lo - pad, hi + pad
    elif non_negative and lo < 0.5 * hi:
        lo = 0.0  # zero is near: counts, rates and costs read against it
    step = nice_step((hi - lo) / ticks)
    nlo = math.floor(lo / step + 1e-9) * step
    nhi = math.ceil(hi / step - 1e-9) * step
    if non_negative and nlo < 0:
        nlo = 0.0
    d = _decimals(step) + 2
    n = round((nhi - nlo) / step)
    marks = [round(nlo + i * step, d) + 0.0 for i in range(n + 1)]
    return Axis(
        min=marks[0],
        max=marks[-1],
        ticks=marks,
        labels=[fmt_value(m, fmt=fmt, step=step, top=max(-nlo, nhi)) for m in marks],
    )


def _utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _month_ticks(lo: float, hi: float, months: int) -> list[float]:
    d = _utc(lo)
    y, m = d.year, d.month
    m0 = (m - 1) // months * months  # months since January, aligned to the step
    out: list[float] = []
    while True:
        t = datetime(y + m0 // 12, m0 % 12 + 1, 1, tzinfo=UTC).timestamp()
        if t > hi:
            return out
        if t >= lo:
            out.append(t)
        m0 += months


def _time_labels(ticks: Sequence[float], step: float) -> list[str]:
    """Hours below a day (the date under the first and each new day), days (the year under
    the first and each new year) or months with their year."""
    out = []
    prev: datetime | None = None
    for t in ticks:
        d = _utc(t)
        if step < _DAY:
            label = d.strftime("%H:%M")
            if prev is None or d.date() != prev.date():
                label += d.strftime("\n%b %d")
        elif step >= 28 * _DAY:
            label = d.strftime("%b %Y")
        else:
            label = d.strftime("%b %d")
            if prev is None or d.year != prev.year:
                label += d.strftime("\n%Y")
        out.append(label)
        prev = d
    return out


def time_axis(
    xs: Iterable[float], *, step_hint: float | None = None, max_ticks: int = 8
) -> Axis | None:
    """The x axis of epoch seconds ``xs`` (None without any); ``step_hint`` is the data's
    bucket in seconds when known (else the smallest gap between points, or a day)."""
    pts = sorted({float(x) for x in xs if x is not None and math.isfinite(float(x))})
    if not pts:
        return None
    gaps = [b - a for a, b in zip(pts, pts[1:], strict=False)]
    gap = step_hint or (min(gaps) if gaps else _DAY)
    lo, hi = pts[0], pts[-1]
    if lo == hi:  # one point: a step either side, so its bucket reads as such
        lo, hi = lo - gap, hi + gap
    span = hi - lo
    months = 0
    step = next((s for s in _TIME_STEPS if s >= gap and span / s <= max_ticks), 0)
    if step:
        base = 4 * _DAY if step == 7 * _DAY else 0  # weeks start on Mondays
        first = math.ceil((lo - base) / step) * step + base
        marks = [float(first + i * step) for i in range(int((hi - first) // step) + 1)]
    else:
        months = next((m for m in _MONTH_STEPS if span / (m * 30 * _DAY) <= max_ticks), 0)
        if not months:
            months = 12 * max(1, math.ceil(span / (365 * _DAY * max_ticks)))
        marks = _month_ticks(lo, hi, months)
        step = months * 30 * _DAY
    return Axis(min=lo, max=hi, ticks=marks, labels=_time_labels(marks, step))
