"""Alerting: a project's channels and actions (YAML), a ping to check them, and their logs."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from mlwarden.errors import ValidationError
from mlwarden.incidents.alerting import Alerting, AlertingConfig
from mlwarden.server.audit import audit
from mlwarden.server.auth import project_of
from mlwarden.server.body import read_body

__all__ = ["router"]

router = APIRouter(prefix="/v1/alerting", tags=["alerting"])
Project = Annotated[str, Depends(project_of)]


class AlertingOut(BaseModel):
    spec_yaml: str
    channels: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    applied: bool = Field(description="False for a dry run (validated only).")


class PingIn(BaseModel):
    by: str = Field(default="", max_length=200, description="Who sent it (shown in the text).")


def _alerting(request: Request) -> Alerting:
    found: Alerting = request.app.state.dispatcher
    return found


@router.get("", response_model=AlertingOut)
def get_alerting(request: Request, project: Project) -> AlertingOut:
    """The project's channels and actions (``${NAME}`` secrets shown as written, unexpanded)."""
    return AlertingOut(**_alerting(request).config(project).summary(), applied=True)


@router.put(
    "",
    response_model=AlertingOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/yaml": {"schema": {"type": "string"}}},
        }
    },
)
async def put_alerting(request: Request, project: Project, dry_run: bool = False) -> AlertingOut:
    """Replace the project's channels and actions with a YAML config (see docs/alerts.md);
    ``dry_run`` only validates it."""
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    try:
        text = body.decode()
    except UnicodeDecodeError as exc:
        raise ValidationError("The alerting config must be UTF-8 text (YAML).") from exc
    config = AlertingConfig.from_yaml(text)
    if not dry_run:
        before = _alerting(request).config(project).summary()
        await asyncio.to_thread(_alerting(request).configure, project, config)
        audit(request, "alerting.update", project, before, config.summary(), project=project)
    return AlertingOut(**config.summary(), applied=not dry_run)


@router.post("/ping")
async def ping(body: PingIn, request: Request, project: Project) -> dict[str, Any]:
    """Send a ping to every channel now (routing filters ignored) and say how each went."""
    deliveries = await asyncio.to_thread(_alerting(request).ping, project, by=body.by)
    return {
        "deliveries": [d.to_dict() for d in deliveries],
        "ok": all(d.status.value == "delivered" for d in deliveries),
    }


@router.get("/deliveries")
def deliveries(
    request: Request,
    project: Project,
    incident_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """The notification log: every delivery attempt, newest first."""
    rows: list[dict[str, Any]] = request.app.state.store.deliveries(
        project, incident_id=incident_id, limit=limit
    )
    return rows


@router.get("/actions")
def action_runs(
    request: Request,
    project: Project,
    incident_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """The actions' audit log: every run, dry run and refusal, newest first."""
    rows: list[dict[str, Any]] = request.app.state.store.action_runs(
        project, incident_id=incident_id, limit=limit
    )
    return rows
