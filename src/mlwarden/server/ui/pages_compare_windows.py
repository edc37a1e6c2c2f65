"""The compare page's time-window mode: any two windows of a model side by side, and window B
made the reference (with a confirmation).

Query parameters: ``a_start``, ``a_end``, ``b_start``, ``b_end`` (dates or ISO times, UTC) and
``segment`` (``column=value``); without them, the last 24 hours (up to the model's latest
event) against the 24 hours before. Quick picks are links with the same parameters, so every
view is a shareable URL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mlwarden.analysis.window_compare import TimeWindow, compare_windows
from mlwarden.errors import ValidationError, expected
from mlwarden.monitors.window_reference import MIN_ROWS, reference_from_window
from mlwarden.server.routes_windows import audit_window_reference
from mlwarden.server.services import Svc, services
from mlwarden.server.ui import data
from mlwarden.server.ui.routing import HTMLRoute, UIAdmin, UIRead, form_data, render
from mlwarden.server.ui.state import parse_time

if TYPE_CHECKING:
    from mlwarden.store.protocols import EventLog

__all__ = ["QUICK_PICKS", "router"]

router = APIRouter(route_class=HTMLRoute, include_in_schema=False)
PARAMS = ("a_start", "a_end", "b_start", "b_end")


def _anchor(store: EventLog, record: Any) -> datetime:
    """The end of the hour of the model's latest event (now without events): quick picks end
    there, so a model whose traffic stopped still shows its last day."""
    _, hi = store.event_time_range(record)
    if hi is None:
        t = datetime.now(UTC)
    else:
        t = hi if hi.tzinfo else hi.replace(tzinfo=UTC)
    return t.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


def quick_picks(anchor: datetime) -> list[tuple[str, dict[str, datetime]]]:
    """(label, windows) of the quick picks, ending at ``anchor``.

    Examples
    --------
    >>> picks = quick_picks(datetime(2026, 3, 5, 14, tzinfo=UTC))  # a Thursday
    >>> [label for label, _ in picks][2:]
    ['This week vs last week', 'Today vs the same day last week']
    >>> picks[2][1]["b_start"].isoformat(), picks[2][1]["a_start"].isoformat()
    ('2026-03-02T00:00:00+00:00', '2026-02-23T00:00:00+00:00')
    """
    day = timedelta(days=1)
    week = timedelta(days=7)
    midnight = anchor.replace(hour=0, minute=0, second=0, microsecond=0)
    monday = midnight - timedelta(days=midnight.weekday())
    return [
        (
            "Last 24 h vs the 24 h before",
            {
                "a_start": anchor - 2 * day,
                "a_end": anchor - day,
                "b_start": anchor - day,
                "b_end": anchor,
            },
        ),
        (
            "Last 7 days vs the 7 days before",
            {
                "a_start": anchor - 2 * week,
                "a_end": anchor - week,
                "b_start": anchor - week,
                "b_end": anchor,
            },
        ),
        (
            "This week vs last week",
            {"a_start": monday - week, "a_end": monday, "b_start": monday, "b_end": anchor},
        ),
        (
            "Today vs the same day last week",
            {
                "a_start": midnight - week,
                "a_end": midnight - week + day,
                "b_start": midnight,
                "b_end": anchor,
            },
        ),
    ]


QUICK_PICKS = [label for label, _ in quick_picks(datetime(2026, 1, 1, tzinfo=UTC))]


def _fmt(t: datetime) -> str:
    """A time for a URL or a ``datetime-local`` input (UTC, minutes)."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def _segment(value: str | None) -> dict[str, str] | None:
    if not value:
        return None
    col, sep, v = value.partition("=")
    if not sep or not col:
        raise ValidationError(expected("parameter", "segment", "look like column=value", value))
    return {col: v}


def _windows(params: Any, anchor: datetime) -> dict[str, datetime]:
    given = {k: params.get(k) for k in PARAMS if params.get(k)}
    if not given:
        return quick_picks(anchor)[0][1]
    missing = [k for k in PARAMS if k not in given]
    if missing:
        raise ValidationError(
            expected("parameter", missing[0], "be given with the three other window times", "")
        )
    return {k: parse_time(str(v), k) for k, v in given.items()}


def _page(
    request: Request,
    project: str,
    model: str,
    q: Mapping[str, str],
    *,
    error: str = "",
    status_code: int = 200,
) -> Response:
    store = services(request).store
    record = store.get_model(project, model)
    anchor = _anchor(store, record)
    w = _windows(q, anchor)
    segment = q.get("segment") or ""
    a = TimeWindow(w["a_start"], w["a_end"], "a_")
    b = TimeWindow(w["b_start"], w["b_end"], "b_")
    result = compare_windows(store, record, a=a, b=b, segment=_segment(segment))
    metrics = sorted(set(result.a.performance) | set(result.b.performance))
    here = f"/ui/models/{model}/compare/windows"

    def link(ws: dict[str, datetime]) -> str:
        p = {k: _fmt(v) for k, v in ws.items()}
        return here + "?" + urlencode({**p, **({"segment": segment} if segment else {})})

    made = q.get("made")
    return render(
        request,
        "compare_windows.html",
        {
            "project": project,
            "model": model,
            "record": record,
            "result": result,
            "metrics": metrics,
            "form": {k: _fmt(v) for k, v in w.items()},
            "segment": segment,
            "segments": data.segments_of(store, project, model),
            "picks": [(label, link(ws)) for label, ws in quick_picks(anchor)],
            "min_rows": MIN_ROWS,
            "error": error,
            "made": {
                "id": made,
                "rows": q.get("rows", ""),
                "monitors": q.get("monitors", ""),
                "sampled": q.get("sampled") == "1",
            }
            if made
            else None,
        },
        status_code=status_code,
    )


@router.get("/ui/models/{model}/compare/windows", response_class=HTMLResponse)
def compare_windows_page(model: str, request: Request, project: UIRead) -> Response:
    """Window B against window A: per feature and output the drift statistic and p-value,
    quantiles or shares side by side, sorted by effect; each window's performance."""
    return _page(request, project, model, request.query_params)


@router.post("/ui/models/{model}/reference/from-window", response_class=HTMLResponse)
async def use_window(model: str, request: Request, sv: Svc, project: UIAdmin) -> Response:
    """Make window B the reference, once the confirmation box is ticked."""
    form = await form_data(request)
    back = {k: form.get(k, "") for k in (*PARAMS, "segment") if form.get(k)}
    if form.get("confirm") != "yes":
        return _page(
            request,
            project,
            model,
            back,
            error="Nothing was changed: tick the box to confirm that window B becomes the "
            "reference and the monitors are fitted on it again.",
            status_code=422,
        )
    start = parse_time(form.get("b_start", ""), "b_start")
    end = parse_time(form.get("b_end", ""), "b_end")
    segment = _segment(form.get("segment"))
    store = sv.store
    made = await asyncio.to_thread(
        reference_from_window, store, project, model, start=start, end=end, segment=segment
    )
    audit_window_reference(request, project, model, made, start=start, end=end, segment=segment)
    done = {
        **back,
        "made": str(made.reference.uid),
        "rows": str(made.rows),
        "monitors": "" if made.monitors is None else str(made.monitors),
        "sampled": "1" if made.sampled else "0",
    }
    return RedirectResponse(f"/ui/models/{model}/compare/windows?{urlencode(done)}", 303)
