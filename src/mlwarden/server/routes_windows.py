"""Time windows of a model: compare any two, and make one the reference."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BeforeValidator

from mlwarden.analysis.window_compare import MAX_ROWS, TimeWindow, compare_windows
from mlwarden.monitors.window_reference import WindowReference, reference_from_window
from mlwarden.server.api_windows import CompareOut, FromWindowIn, FromWindowOut
from mlwarden.server.audit import audit
from mlwarden.server.auth import Admin, Read
from mlwarden.server.params import SegmentQ, clamp_instant, segment_filter
from mlwarden.server.services import Svc
from mlwarden.store.base import Store

router = APIRouter(prefix="/v1", tags=["windows"])


def _when(what: str) -> object:
    return Query(description=f"{what}: ISO 8601 date or time (UTC unless it says otherwise).")


#: A required start or end of a compared window.
Instant = Annotated[datetime, BeforeValidator(clamp_instant)]


@router.get("/models/{model}/compare", response_model=CompareOut)
def compare(
    model: str,
    sv: Svc,
    project: Read,
    a_start: Annotated[Instant, _when("Start of window A (the reference side)")],
    a_end: Annotated[Instant, _when("End of window A (not included)")],
    b_start: Annotated[Instant, _when("Start of window B")],
    b_end: Annotated[Instant, _when("End of window B (not included)")],
    segment: SegmentQ = None,
    max_rows: Annotated[
        int, Query(ge=100, le=MAX_ROWS, description="Rows of each window compared at most.")
    ] = MAX_ROWS,
) -> CompareOut:
    """Window B against window A, per feature and output: the drift statistic the monitors
    use (KS, Jensen-Shannon) with its test p-value, quantiles or category shares side by side,
    sorted by effect; and each window's events and performance where labels exist."""
    store: Store = sv.store
    record = store.get_model(project, model)
    a = TimeWindow(a_start, a_end, "a_")
    b = TimeWindow(b_start, b_end, "b_")
    result = compare_windows(
        store, record, a=a, b=b, segment=segment_filter(segment), max_rows=max_rows
    )
    return CompareOut.of(result)


@router.post("/models/{model}/reference/from-window", status_code=201, response_model=FromWindowOut)
def reference_from_events(
    model: str, body: FromWindowIn, request: Request, sv: Svc, project: Admin
) -> FromWindowOut:
    """Make the events of a window (of one segment, optionally) the model's new reference,
    and fit its monitors on it. A window with more than ``max_rows`` events gives a
    reproducible sample (the reply says so); an empty or too small window is refused."""
    made = reference_from_window(
        sv.store,
        project,
        model,
        start=body.start,
        end=body.end,
        segment=body.segment or None,
        max_rows=body.max_rows,
        name=body.name,
    )
    audit_window_reference(
        request, project, model, made, start=body.start, end=body.end, segment=body.segment
    )
    return FromWindowOut.of(made)


def audit_window_reference(
    request: Request,
    project: str,
    model: str,
    made: WindowReference,
    *,
    start: datetime,
    end: datetime,
    segment: dict[str, str] | None,
) -> None:
    """The audit entry of a reference made from a window (the API's and the UI's)."""
    audit(
        request,
        "reference.from_window",
        model,
        None,
        {
            "reference": made.reference.uid,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "segment": segment,
            "events": made.events,
            "rows": made.rows,
            "sampled": made.sampled,
            "monitors": made.monitors,
        },
        project=project,
    )
