"""View models: result rows turned into what templates draw (heat maps, charts, sparklines).

Nothing here reads the store; functions take rows from :mod:`.data` and :mod:`.ops`.

Examples
--------
>>> from datetime import datetime, UTC
>>> w = [datetime(2026, 1, d, tzinfo=UTC) for d in (1, 2)]
>>> rows = [
...     {"monitor": "feature_drift:a", "column": "a", "window_start": w[0], "status": "ok",
...      "value": 0.01, "threshold": 0.1, "kind": "feature_drift", "reason": ""},
...     {"monitor": "feature_drift:a", "column": "a", "window_start": w[1], "status": "alert",
...      "value": 0.3, "threshold": 0.1, "kind": "feature_drift", "reason": ""},
... ]
>>> hm = heat_map(rows, lambda m, w: f"?feature={m}", importance={"a": 0.5})
>>> [c.status for c in hm.rows[0].cells], hm.rows[0].worst, round(hm.rows[0].peak, 1)
(['ok', 'alert'], 'alert', 3.0)
>>> sparkline([1, 2, 3], width=20, height=10).startswith('<svg')
True
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlwarden.server.ui.axes import time_axis, value_axis
from mlwarden.server.ui.format import day, glyph, num, status_word, worst

__all__ = [
    "Cell",
    "Chart",
    "HeatMap",
    "HeatRow",
    "bar_chart",
    "heat_map",
    "paginate",
    "sparkline",
]


@dataclass(frozen=True)
class Cell:
    window: datetime
    status: str
    value: float | None
    threshold: float | None
    href: str
    label: str
    selected: bool = False


@dataclass(frozen=True)
class HeatRow:
    name: str
    monitor: str
    importance: float | None
    cells: list[Cell]
    worst: str
    #: Largest value / threshold over the range (the "drift" sort key).
    peak: float
    #: The column the row's monitor watches (its feature page), if one.
    column: str | None = None


@dataclass(frozen=True)
class HeatMap:
    windows: list[datetime]
    rows: list[HeatRow]

    @property
    def subday(self) -> bool:
        """Whether windows are shorter than a day (columns then read hours, grouped by day)."""
        pairs = zip(self.windows, self.windows[1:], strict=False)
        return any((b - a).total_seconds() < 86400 for a, b in pairs)

    def column_label(self, w: datetime) -> str:
        """A column's head: the hour for sub-day windows, else the day of the month."""
        return w.strftime("%H" if self.subday else "%d")

    def column_key(self, w: datetime) -> str:
        """A column's window as text: the day, or the day and time for sub-day windows."""
        return w.strftime("%Y-%m-%d %H:%M") if self.subday else day(w)

    def days(self) -> list[tuple[str, str, int]]:
        """(date, its head, number of columns) groups of a sub-day map's columns, in order;
        a day of one or two columns is headed by its day of month only (it must fit)."""
        groups: list[tuple[str, datetime, int]] = []
        for w in self.windows:
            if groups and groups[-1][0] == day(w):
                groups[-1] = (groups[-1][0], groups[-1][1], groups[-1][2] + 1)
            else:
                groups.append((day(w), w, 1))
        return [(d, w.strftime("%b %d" if n > 2 else "%d"), n) for d, w, n in groups]


def heat_map(
    rows: Sequence[dict[str, Any]],
    link: Callable[[str, datetime], str],
    *,
    importance: dict[str, float] | None = None,
    sort: str = "importance",
    selected: tuple[str, datetime] | None = None,
    name_of: Callable[[dict[str, Any]], str] | None = None,
) -> HeatMap:
    """Monitors × windows; ``link(monitor, window)`` is each cell's drill-down URL."""
    windows = sorted({r["window_start"] for r in rows})
    subday = HeatMap(windows=windows, rows=[]).subday
    by_monitor: dict[str, dict[datetime, dict[str, Any]]] = {}
    names: dict[str, str] = {}
    columns: dict[str, str | None] = {}
    for row in rows:
        by_monitor.setdefault(row["monitor"], {})[row["window_start"]] = row
        columns[row["monitor"]] = row.get("column")
        names[row["monitor"]] = name_of(row) if name_of else (row.get("column") or row["monitor"])
    out = []
    for mon, cells_by_w in by_monitor.items():
        cells = []
        peak = 0.0
        for w in windows:
            r: dict[str, Any] | None = cells_by_w.get(w)
            status = r["status"] if r else "no_data"
            value = r["value"] if r else None
            th = r["threshold"] if r else None
            if value is not None and th and math.isfinite(value) and th > 0:
                ratio = (
                    value / th if r and r.get("direction") != "below" else th / max(value, 1e-12)
                )
                peak = max(peak, ratio)
            when = w.strftime("%Y-%m-%d %H:%M UTC") if subday else day(w)
            label = f"{names[mon]}, {when}: {status_word(status)}"
            if value is not None:
                label += f", value {num(value)}" + (f" vs threshold {num(th)}" if th else "")
            cells.append(
                Cell(
                    window=w,
                    status=status,
                    value=value,
                    threshold=th,
                    href=link(mon, w),
                    label=label,
                    selected=selected == (names[mon], w),
                )
            )
        imp = (importance or {}).get(names[mon])
        out.append(
            HeatRow(
                name=names[mon],
                monitor=mon,
                importance=imp,
                cells=cells,
                worst=worst([c.status for c in cells]),
                peak=peak,
                column=columns[mon],
            )
        )
    if sort == "importance":
        out.sort(key=lambda h: (-(h.importance or 0.0), -h.peak, h.name))
    elif sort == "drift":
        out.sort(key=lambda h: (-h.peak, h.name))
    else:
        out.sort(key=lambda h: h.name)
    return HeatMap(windows=windows, rows=out)


@dataclass
class Chart:
    """A time-series chart for the browser (uPlot): x in epoch seconds, one list per series.

    ``bands`` pairs series indexes (1-based, as uPlot) whose area between is shaded;
    ``y_format`` "pct" shows shares (0.012) as percentages (1.2%) on the axis and in the legend,
    "usd" amounts of money; ``x_step`` is the data's bucket in seconds when known. The axes
    (range, ticks, labels) are decided here, by :mod:`.axes`, not by the browser.
    """

    id: str
    title: str
    y_label: str = ""
    y_format: str = "num"
    x: list[float] = field(default_factory=list)
    series: list[dict[str, Any]] = field(default_factory=list)
    bands: list[list[int]] = field(default_factory=list)
    x_step: float | None = None

    def add(self, label: str, values: Sequence[float | None], **style: Any) -> None:
        self.series.append({"label": label, "values": list(values), **style})

    @property
    def empty(self) -> bool:
        return not self.x or all(
            all(v is None for v in s["values"]) for s in self.series if not s.get("band")
        )

    def payload(self) -> dict[str, Any]:
        x_axis = time_axis(self.x, step_hint=self.x_step)
        y_axis = value_axis((v for s in self.series for v in s["values"]), fmt=self.y_format)
        return {
            "xAxis": x_axis.payload() if x_axis else None,
            "yAxis": y_axis.payload(),
            "title": self.title,
            "yLabel": self.y_label,
            "yFormat": self.y_format,
            "x": self.x,
            "series": self.series,
            "bands": self.bands,
        }


def sparkline(values: Sequence[float | None], *, width: int = 120, height: int = 28) -> str:
    """A tiny inline SVG line (decorative: pages state the numbers as text too)."""
    pts = [(i, v) for i, v in enumerate(values) if v is not None and math.isfinite(v)]
    if len(pts) < 2:
        return ""
    lo = min(v for _, v in pts)
    hi = max(v for _, v in pts)
    span = hi - lo or 1.0
    n = max(len(values) - 1, 1)
    coords = " ".join(
        f"{2 + i * (width - 4) / n:.1f},{height - 2 - (v - lo) * (height - 4) / span:.1f}"
        for i, v in pts
    )
    return (
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-hidden="true" focusable="false"><polyline fill="none" stroke="currentColor" '
        f'stroke-width="1.5" points="{coords}"/></svg>'
    )


def bar_chart(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float], str]],
    *,
    height: int = 180,
    title: str = "",
    ticks: Sequence[str] | None = None,
    x_title: str = "",
) -> str:
    """Grouped bars of shares as inline SVG (reference vs current histograms), with a share
    axis on the left and each bin's name (``ticks``, short; default ``labels``) under its
    bars; the page also shows the numbers in a table. ``series``: (name, shares, css class).

    >>> svg = bar_chart(["a", "b"], [("ref", [0.25, 0.75], "ref")], title="t")
    >>> svg.count("<rect"), '>80%</text>' in svg, '>b</text>' in svg
    (2, True, True)
    """
    n = max(len(labels), 1)
    names = list(ticks) if ticks is not None else list(labels)
    y = value_axis([v for _, vals, _ in series for v in vals] + [0.0], fmt="pct", ticks=4)
    left, bottom = 48, 34 if x_title else 22
    group = max(18.0, min(60.0, 640 / n))
    width = left + n * group + 8
    top = y.max or 1.0
    bar = max(2.0, (group - 4) / max(len(series), 1))
    every = max(1, math.ceil(n * 44 / (width - left)))  # name every k-th bin so names fit
    parts = [
        f'<svg class="bars" viewBox="0 0 {width:.0f} {height + bottom}" role="img" '
        f'aria-label="{html.escape(title)}" width="{width:.0f}" height="{height + bottom}">'
    ]
    for t, lab in zip(y.ticks, y.labels, strict=True):
        yy = height - (height - 6) * t / top
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - 4:.0f}" y1="{yy:.1f}" y2="{yy:.1f}"/>'
            f'<text class="ytick" x="{left - 4}" y="{yy + 4:.1f}" text-anchor="end">{lab}</text>'
        )
    for i, lab in enumerate(labels):
        for j, (name, vals, css) in enumerate(series):
            v = vals[i] if i < len(vals) else 0.0
            h = (height - 6) * v / top
            x = left + i * group + 2 + j * bar
            parts.append(
                f'<rect class="{css}" x="{x:.1f}" y="{height - h:.1f}" width="{bar - 1:.1f}" '
                f'height="{h:.1f}"><title>{html.escape(name)} {html.escape(lab)}: '
                f"{100 * v:.1f}%</title></rect>"
            )
        if i % every == 0:
            short = names[i] if len(names[i]) <= 12 else names[i][:11] + "…"
            parts.append(
                f'<text class="xtick" x="{left + (i + 0.5) * group:.1f}" y="{height + 14}" '
                f'text-anchor="middle">{html.escape(short)}</text>'
            )
    parts.append(
        f'<line x1="{left}" y1="{height}" x2="{width - 4:.0f}" y2="{height}" class="axis"/>'
    )
    if x_title:
        parts.append(
            f'<text class="xtitle" x="{left + n * group / 2:.1f}" y="{height + bottom - 4}" '
            f'text-anchor="middle">{html.escape(x_title)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class Page:
    """One page of a list: ``items``, its number and whether there are more."""

    items: list[Any]
    number: int
    pages: int
    total: int


def paginate(items: Sequence[Any], page: int, size: int) -> Page:
    """Slice a list already small in memory (pages of a result set use offsets instead)."""
    total = len(items)
    pages = max(1, math.ceil(total / size))
    number = min(page, pages)
    return Page(list(items[(number - 1) * size : number * size]), number, pages, total)


def status_cell(status: str) -> str:
    """Glyph and word of a status, e.g. for a table cell."""
    return f"{glyph(status)} {status_word(status)}"
