"""SLO evaluation: a model's error budgets and burn-rate alerts at a given time.

:func:`slo_status` counts an SLO's bad and total probes (or requests) over its period and over
the workbook's alert windows (:mod:`mlwarden.stats.burn`), all in one query ending at ``now``;
:func:`slo_results` turns a status into two :class:`~mlwarden.monitors.base.Result` (kinds
``slo_page`` and ``slo_ticket``) that the incident service folds in like any monitor's: a page
is a *critical* incident, a ticket a *medium* one (the result says its severity), and an
alert that stopped is healthy, so its incident resolves after
:data:`~mlwarden.incidents.lifecycle.RESOLVE_AFTER` evaluation steps (:data:`STEP`) without
that burn. Time is always given (``now``): the probe job
passes the clock, tests a simulated one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlwarden.errors import NotFoundError
from mlwarden.monitors.base import Result, Status
from mlwarden.schema.slo import SloSpec, parse_slos
from mlwarden.stats.burn import ALL_WINDOWS, WINDOWS, budget_left, burn_rate, firing

if TYPE_CHECKING:
    from mlwarden.store.base import Store
    from mlwarden.store.protocols import Probes

__all__ = [
    "SEVERITY",
    "SLO_KINDS",
    "STEP",
    "SloStatus",
    "burn_series",
    "evaluate_slos",
    "load_slos",
    "slo_results",
    "slo_status",
]

#: The kinds of an SLO's results, one per alert level (each an incident family of its own).
SLO_KINDS = {"page": "slo_page", "ticket": "slo_ticket"}
#: An alert's incident severity.
SEVERITY = {"page": "critical", "ticket": "medium"}
#: The evaluation step: results are stamped with ``now`` rounded down to it, and an incident
#: resolves after a few steps without a burn.
STEP = timedelta(minutes=1)


def _floor(t: datetime, step: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((t - epoch) // step) * step


def load_slos(store: Probes, project: str, model: str) -> list[SloSpec]:
    """The model's declared SLOs ([] when none)."""
    for p, m, spec in store.list_slo_specs(project):
        if m == model and p == project:
            return parse_slos(json.loads(spec))
    return []


@dataclass(frozen=True)
class SloStatus:
    """One SLO at ``at``: budget over the period, burn rate per window, alerts firing."""

    slo: SloSpec
    at: datetime
    bad: int
    total: int
    #: burn rate per window label ("5m", "1h", ...), None for a window without events
    burn: dict[str, float | None] = field(default_factory=dict)
    #: the alerts firing, pages first: {"severity", "windows", "rate", "long", "short"}
    alerts: tuple[dict[str, Any], ...] = ()

    @property
    def sli(self) -> float | None:
        return None if self.total == 0 else 1.0 - self.bad / self.total

    @property
    def budget_left(self) -> float | None:
        return budget_left(bad=self.bad, total=self.total, budget=self.slo.budget)

    @property
    def level(self) -> str:
        """'page', 'ticket', 'ok', or 'no_data' (nothing counted in the period)."""
        if self.alerts:
            return str(self.alerts[0]["severity"])
        return "no_data" if self.total == 0 else "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "slo": self.slo.to_dict(),
            "at": self.at.isoformat(),
            "bad": self.bad,
            "total": self.total,
            "sli": self.sli,
            "budget_left": self.budget_left,
            "burn": dict(self.burn),
            "alerts": [dict(a) for a in self.alerts],
            "level": self.level,
        }


def _label(t: timedelta) -> str:
    s = int(t.total_seconds())
    return (
        f"{s // 86_400}d"
        if s % 86_400 == 0
        else f"{s // 3600}h"
        if s % 3600 == 0
        else f"{s // 60}m"
    )


def slo_status(
    store: Probes, project: str, model: str, slo: SloSpec, *, now: datetime
) -> SloStatus:
    """Count ``slo`` over its period and the alert windows ending at ``now``."""
    period = timedelta(days=slo.period_days)
    windows = sorted({*ALL_WINDOWS, period})
    counts = store.slo_counts(
        project,
        model,
        source=slo.source,
        probe=slo.probe,
        threshold_ms=slo.threshold_ms if slo.kind == "latency" else None,
        until=now,
        windows=windows,
    )
    burn = {
        _label(w): burn_rate(bad=counts[w][0], total=counts[w][1], budget=slo.budget)
        for w in ALL_WINDOWS
    }
    alerts = tuple(
        {
            "severity": w.severity,
            "windows": w.label,
            "rate": round(w.rate(period), 6),
            "long": burn[_label(w.long)],
            "short": burn[_label(w.short)],
        }
        for w in firing(counts, budget=slo.budget, period=period)
    )
    bad, total = counts[period]
    return SloStatus(slo=slo, at=now, bad=bad, total=total, burn=burn, alerts=alerts)


def slo_results(status: SloStatus, *, step: timedelta = STEP) -> list[Result]:
    """The status as two results for the incident service: the SLO's page alert (kind
    ``slo_page``) and its ticket alert (``slo_ticket``), each firing or healthy, so each is
    an incident of its own that resolves when its own burn stops (a page soon after the
    5-minute window clears, while the ticket's 6-hour window may still burn)."""
    start = _floor(status.at, step)
    slo = status.slo
    period = timedelta(days=slo.period_days)
    what = f"{slo.kind} SLO {slo.name!r} ({slo.objective * 100:g}% over {slo.period_days:g} days)"
    firing_now: dict[str, dict[str, Any]] = {}
    for a in status.alerts:  # shortest window first: a page over 1 h before one over 6 h
        firing_now.setdefault(a["severity"], a)
    out = []
    for level in ("page", "ticket"):
        kind = SLO_KINDS[level]
        details: dict[str, Any] = {
            "slo": slo.name,
            "burn": {k: v for k, v in status.burn.items() if v is not None},
            "budget_left": status.budget_left,
            "severity": SEVERITY[level],
        }
        top = firing_now.get(level)
        if top is not None:
            details["alert"] = top["windows"]
            long_w, short_w = top["windows"].split("/")
            reason = (
                f"{what} burns its error budget at {top['long']:.1f}x over {long_w} and "
                f"{top['short']:.1f}x over {short_w} (the {level} alert fires at "
                f"{top['rate']:g}x)"
            )
            value, threshold, state = top["long"], top["rate"], Status.ALERT
        else:
            first = next(w for w in WINDOWS if w.severity == level)
            value, threshold = status.burn.get(_label(first.long)), first.rate(period)
            if status.total == 0:
                reason, state = f"{what}: nothing counted yet", Status.NO_DATA
            else:
                left = status.budget_left or 0.0
                reason, state = (
                    f"{what}: no {level} alert; {left:.1%} of the budget left",
                    Status.OK,
                )
        out.append(
            Result(
                monitor=f"slo:{slo.name}:{level}",
                kind=kind,
                window_start=start,
                window_end=start + step,
                status=state,
                value=value,
                threshold=threshold,
                n=status.total,
                reason=reason,
                details=details,
            )
        )
    return out


def evaluate_slos(store: Store, project: str, model: str, *, now: datetime) -> list[SloStatus]:
    """Every declared SLO of the model at ``now`` ([] when the model has none or is gone)."""
    try:
        slos = load_slos(store, project, model)
        return [slo_status(store, project, model, s, now=now) for s in slos]
    except NotFoundError:
        return []


def burn_series(
    store: Probes,
    project: str,
    model: str,
    slo: SloSpec,
    *,
    now: datetime,
    days: float = 7.0,
    step: timedelta = timedelta(hours=1),
) -> list[dict[str, Any]]:
    """The burn rate per ``step`` over the last ``days`` (a chart's points)."""
    rows = store.slo_series(
        project,
        model,
        source=slo.source,
        probe=slo.probe,
        threshold_ms=slo.threshold_ms if slo.kind == "latency" else None,
        since=now - timedelta(days=days),
        until=now,
        step=step,
    )
    return [
        {"t": t.isoformat(), "bad": bad, "total": total, "burn": bad / total / slo.budget}
        for t, bad, total in rows
        if total
    ]
