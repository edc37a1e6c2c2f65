"""Incidents and objectives: list, show, acknowledge, resolve, snooze; objective status."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from mlwarden.errors import ValidationError
from mlwarden.incidents import service as incidents
from mlwarden.incidents.alerting import Alerting
from mlwarden.incidents.record import Incident, IncidentState
from mlwarden.monitors.base import Result
from mlwarden.monitors.service import objective_report
from mlwarden.server.api_replies import IncidentDetail, IncidentOut, ObjectiveOut
from mlwarden.server.audit import audit_incident
from mlwarden.server.auth import Operate, Read
from mlwarden.server.services import Svc
from mlwarden.store.base import Store

__all__ = ["results_hook", "router"]

router = APIRouter(prefix="/v1", tags=["incidents"])
log = logging.getLogger("mlwarden.server")
_STATES = ", ".join(s.value for s in IncidentState)


def results_hook(
    store: Store, *, dispatcher: Alerting | None, public_url: str | None
) -> Callable[[str, str, list[Result], timedelta], None]:
    """What runs after monitors store results: incidents folded in, explained and sent out."""

    def on_results(project: str, model: str, results: list[Result], cadence: timedelta) -> None:
        try:
            incidents.process(
                store,
                project,
                model,
                results,
                cadence=cadence,
                dispatcher=dispatcher,
                public_url=public_url,
            )
        except Exception:  # noqa: BLE001 - results are stored; incidents retry next evaluation
            log.exception("updating the incidents of %s/%s failed", project, model)

    return on_results


class IncidentList(BaseModel):
    items: list[IncidentOut]
    total: int
    limit: int
    offset: int


class ActionIn(BaseModel):
    by: str = Field(default="", max_length=200, description="Who did it (shown in the timeline).")
    note: str = Field(default="", max_length=2000)


class SnoozeIn(ActionIn):
    until: datetime | None = Field(default=None, description="Silence notifications until then.")
    hours: float | None = Field(default=None, gt=0, le=24 * 90, description="... or for so long.")


_WORDS = "|".join(x.value for x in IncidentState)
#: What :func:`_states` reads: states separated by commas, blanks around them ignored.
_STATE_LIST = rf"^ *(?:(?:{_WORDS}) *)?(?:, *(?:(?:{_WORDS}) *)?)*$"


def _states(state: str | None) -> list[str] | None:
    if state is None:
        return None
    out = [s.strip() for s in state.split(",") if s.strip()]
    for s in out:
        if s not in {x.value for x in IncidentState}:
            raise ValidationError(
                f"The 'state' query parameter must be one of {_STATES} (comma-separated). "
                f"Got {s!r} instead."
            )
    return out


def _act(
    fn: Callable[..., Incident], store: Store, project: str, incident_id: int, **kw: Any
) -> tuple[IncidentState, Incident]:
    """The incident's state before, and the incident after ``fn`` (reads and the write on a
    worker thread, off the event loop)."""
    before = incidents.get_incident(store, project, incident_id).state
    return before, fn(store, project, incident_id, **kw)


@router.get("/incidents", response_model=IncidentList)
def list_incidents(
    sv: Svc,
    project: Read,
    model: str | None = None,
    state: Annotated[
        str | None, Query(description=f"{_STATES}; comma-separated", pattern=_STATE_LIST)
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> IncidentList:
    """Incidents, the most recently active first."""
    store: Store = sv.store
    states = _states(state)
    if model is not None:
        store.get_model(project, model)
    items = incidents.list_incidents(
        store, project, model=model, state=states, limit=limit, offset=offset
    )
    total = incidents.count_incidents(store, project, model=model, state=states)
    return IncidentList(items=[i.to_dict() for i in items], total=total, limit=limit, offset=offset)


@router.get("/incidents/{incident_id}", response_model=IncidentDetail)
def get_incident(incident_id: int, sv: Svc, project: Read) -> dict[str, Any]:
    """One incident with its notification log and the actions run for it."""
    store: Store = sv.store
    inc = incidents.get_incident(store, project, incident_id)
    return {
        **inc.to_dict(),
        "url": incidents.incident_url(sv.settings.public_url, inc),
        "deliveries": store.deliveries(project, incident_id=incident_id),
        "actions": store.action_runs(project, incident_id=incident_id),
    }


@router.post("/incidents/{incident_id}/acknowledge", response_model=IncidentOut)
async def acknowledge(
    incident_id: int, body: ActionIn, request: Request, sv: Svc, project: Operate
) -> dict[str, Any]:
    """Someone is on it (only an open incident can be acknowledged)."""
    before, inc = await asyncio.to_thread(
        _act,
        incidents.acknowledge,
        sv.store,
        project,
        incident_id,
        by=body.by,
        note=body.note,
        dispatcher=sv.dispatcher,
        public_url=sv.settings.public_url,
    )
    audit_incident(request, "acknowledge", inc, before, project=project, by=body.by, note=body.note)
    return inc.to_dict()


@router.post("/incidents/{incident_id}/resolve", response_model=IncidentOut)
async def resolve(
    incident_id: int, body: ActionIn, request: Request, sv: Svc, project: Operate
) -> dict[str, Any]:
    """Close an incident by hand; if the condition fires again, a new incident opens."""
    before, inc = await asyncio.to_thread(
        _act,
        incidents.resolve,
        sv.store,
        project,
        incident_id,
        by=body.by,
        note=body.note,
        dispatcher=sv.dispatcher,
        public_url=sv.settings.public_url,
    )
    audit_incident(request, "resolve", inc, before, project=project, by=body.by, note=body.note)
    return inc.to_dict()


@router.post("/incidents/{incident_id}/snooze", response_model=IncidentOut)
async def snooze(
    incident_id: int, body: SnoozeIn, request: Request, sv: Svc, project: Operate
) -> dict[str, Any]:
    """Silence an incident's notifications until a time (it keeps being updated)."""
    if (body.until is None) == (body.hours is None):
        raise ValidationError("Give exactly one of 'until' and 'hours'.")
    until = body.until or datetime.now(UTC) + timedelta(hours=body.hours or 0)
    if until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    before, inc = await asyncio.to_thread(
        _act,
        incidents.snooze,
        sv.store,
        project,
        incident_id,
        until=until,
        by=body.by,
        note=body.note,
    )
    audit_incident(request, "snooze", inc, before, project=project, by=body.by, note=body.note)
    return inc.to_dict()


@router.get("/models/{model}/objectives", tags=["monitors"], response_model=list[ObjectiveOut])
def objectives(model: str, sv: Svc, project: Read) -> list[dict[str, Any]]:
    """Each business objective of the model, its monitors and its status
    (met / at_risk / violated / unknown)."""
    store: Store = sv.store
    store.get_model(project, model)
    return objective_report(store, project, model)
