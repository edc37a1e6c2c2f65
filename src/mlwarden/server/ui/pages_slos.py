"""A model's SLOs: budget left, burn rate over time against the alert levels, the alert
windows and the latest probe results."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from mlwarden.monitors.slo import burn_series, evaluate_slos
from mlwarden.server.services import Svc
from mlwarden.server.ui.routing import HTMLRoute, UIRead, render
from mlwarden.server.ui.views import Chart
from mlwarden.stats.burn import WINDOWS

if TYPE_CHECKING:
    pass

router = APIRouter(route_class=HTMLRoute, include_in_schema=False)
#: Probe results shown per probe.
SHOWN = 20
_LEVEL_STATUS = {"page": "alert", "ticket": "warn", "ok": "ok", "no_data": "no_data"}


def _chart(slo_name: str, points: list[dict[str, Any]], period_days: float) -> Chart:
    chart = Chart(
        id=f"slo-{slo_name}",
        title=f"Burn rate of {slo_name} per hour",
        y_label="× the sustainable rate",
        x_step=3600.0,
    )
    chart.x = [datetime.fromisoformat(p["t"]).timestamp() for p in points]
    chart.add("burn rate", [p["burn"] for p in points], color="#1f5fa8", width=2)
    period = timedelta(days=period_days)
    for w, color in zip(WINDOWS, ("#b3261e", "#a15c00", "#4a4a4a"), strict=True):
        rate = w.rate(period)
        chart.add(f"{w.severity} at {rate:g}x ({w.label})", [rate] * len(points), color=color,
                  dash=[6, 4])  # fmt: skip
    return chart


@router.get("/ui/models/{model}/slos", response_class=HTMLResponse)
def slos_page(model: str, request: Request, sv: Svc, project: UIRead) -> Response:
    """Each SLO's budget and burn, the workbook's alert windows and the probes' results."""
    store = sv.store
    store.get_model(project, model)
    now = datetime.now(UTC)
    slos = []
    for status in evaluate_slos(store, project, model, now=now):
        points = burn_series(store, project, model, status.slo, now=now)
        slos.append(
            {
                "status": status,
                "state": _LEVEL_STATUS[status.level],
                "chart": _chart(status.slo.name, points, status.slo.period_days),
                "rates": [w.rate(timedelta(days=status.slo.period_days)) for w in WINDOWS],
            }
        )
    probes = []
    for _, _, name, _ in store.list_probes(project, model):
        probes.append((name, store.probe_results(project, model, probe=name, limit=SHOWN)))
    return render(
        request,
        "slos.html",
        {
            "project": project,
            "model": model,
            "slos": slos,
            "windows": WINDOWS,
            "probes": probes,
            "now": now,
        },
    )
