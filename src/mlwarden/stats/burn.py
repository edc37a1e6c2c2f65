"""Error budgets and multi-window, multi-burn-rate alerts (Google SRE workbook, ch. 5).

An SLO of objective ``o`` over a period allows a share ``1 - o`` of bad events: its error
budget. The *burn rate* of a window is the window's bad share over that budget (1 spends the
budget exactly over the period). The workbook's alerts, each requiring a long and a short
window to burn at least the same rate (the short one makes the alert stop soon after the
burn does):

========  ==============  ===========  ============  ==========================
severity  budget spent    long window  short window  burn rate (30-day period)
========  ==============  ===========  ============  ==========================
page      2%              1 h          5 min         14.4
page      5%              6 h          30 min        6
ticket    10%             3 days       6 h           1
========  ==============  ===========  ============  ==========================

The rate is ``spent * period / long`` (so a 28-day SLO pages at 13.44 over 1 h). The time an
alert takes to fire on a constant bad share ``e`` after a clean history is
``budget / e * long * rate`` (:func:`detection_time`: 43.2 min for 2% bad on a 99.9% SLO).

Examples
--------
>>> [round(w.rate(timedelta(days=30)), 2) for w in WINDOWS]
[14.4, 6.0, 1.0]
>>> burn_rate(bad=20, total=1000, budget=0.001)
20.0
>>> counts = {w: (20, 1000) for w in ALL_WINDOWS}
>>> firing(counts, budget=0.001, period=timedelta(days=30))[0].severity
'page'
>>> detection_time(WINDOWS[0], bad_share=0.02, budget=0.001, period=timedelta(days=30))
datetime.timedelta(seconds=2592)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

__all__ = [
    "ALL_WINDOWS",
    "WINDOWS",
    "AlertWindow",
    "budget_left",
    "burn_rate",
    "detection_time",
    "firing",
]


@dataclass(frozen=True)
class AlertWindow:
    """One row of the workbook's table: ``spent`` of the budget over ``long``, confirmed by
    ``short``; ``severity`` 'page' or 'ticket'."""

    severity: str
    spent: float
    long: timedelta
    short: timedelta

    def rate(self, period: timedelta) -> float:
        """The burn rate at which this alert fires, for an SLO over ``period``."""
        return self.spent * (period / self.long)

    @property
    def label(self) -> str:
        return f"{_span(self.long)}/{_span(self.short)}"


def _span(t: timedelta) -> str:
    s = int(t.total_seconds())
    if s % 86_400 == 0:
        return f"{s // 86_400}d"
    if s % 3600 == 0:
        return f"{s // 3600}h"
    return f"{s // 60}m"


WINDOWS = (
    AlertWindow("page", 0.02, timedelta(hours=1), timedelta(minutes=5)),
    AlertWindow("page", 0.05, timedelta(hours=6), timedelta(minutes=30)),
    AlertWindow("ticket", 0.10, timedelta(days=3), timedelta(hours=6)),
)
#: Every window an evaluation counts, shortest first.
ALL_WINDOWS = tuple(sorted({t for w in WINDOWS for t in (w.long, w.short)}))


def burn_rate(*, bad: int, total: int, budget: float) -> float | None:
    """The window's bad share over the budget; None for a window without events."""
    if total <= 0:
        return None
    return (bad / total) / budget


def budget_left(*, bad: int, total: int, budget: float) -> float | None:
    """The share of the period's error budget not spent yet (negative once overspent); None
    without events."""
    if total <= 0:
        return None
    return 1.0 - (bad / total) / budget


def firing(
    counts: Mapping[timedelta, tuple[int, int]], *, budget: float, period: timedelta
) -> list[AlertWindow]:
    """The alerts whose long and short windows both burn at least their rate, pages first.

    ``counts`` maps each of :data:`ALL_WINDOWS` to (bad, total) in the window ending now.
    """
    out = []
    for w in WINDOWS:
        need = w.rate(period)
        rates = [
            burn_rate(bad=b, total=n, budget=budget) for b, n in (counts[w.long], counts[w.short])
        ]
        if all(r is not None and r >= need for r in rates):
            out.append(w)
    return out


def detection_time(
    window: AlertWindow, *, bad_share: float, budget: float, period: timedelta
) -> timedelta:
    """How long a constant ``bad_share`` takes to fire ``window`` after a clean history."""
    seconds = budget / bad_share * window.long.total_seconds() * window.rate(period)
    return timedelta(seconds=round(seconds, 6))
