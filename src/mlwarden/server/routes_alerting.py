"""Alerting: a project's channels and actions (YAML), a ping to check them, and their logs."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from mlwarden.errors import ValidationError
from mlwarden.incidents.alerting import Alerting, AlertingConfig
from mlwarden.server.api_replies import ActionRunRow, DeliveryRow, PingOut
from mlwarden.server.audit import audit
from mlwarden.server.auth import Admin, Operate, Read
from mlwarden.server.body import read_body
from mlwarden.server.services import Svc, services

__all__ = ["router"]

router = APIRouter(prefix="/v1/alerting", tags=["alerting"])


class AlertingOut(BaseModel):
    spec_yaml: str
    channels: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    applied: bool = Field(description="False for a dry run (validated only).")


class PingIn(BaseModel):
    by: str = Field(default="", max_length=200, description="Who sent it (shown in the text).")


def _holds_nothing(text: str) -> bool:
    try:
        return yaml.safe_load(text) is None
    except yaml.YAMLError:
        return False  # AlertingConfig.from_yaml says where the YAML is broken


def _alerting(request: Request) -> Alerting:
    found: Alerting = services(request).dispatcher
    return found


@router.get("", response_model=AlertingOut)
def get_alerting(request: Request, project: Admin) -> AlertingOut:
    """The project's channels and actions (``${NAME}`` secrets shown as written, unexpanded);
    actions from the server's actions file are listed with ``source: server`` (read-only)."""
    return AlertingOut(**_alerting(request).summary(project), applied=True)


@router.put(
    "",
    response_model=AlertingOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            # YAML text of this shape (entries as docs/alerts.md describes them)
            "content": {
                "application/yaml": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "channels": {"type": ["array", "null"], "items": {"type": "object"}},
                            "actions": {"type": ["array", "null"], "items": {"type": "object"}},
                        },
                        "additionalProperties": False,
                    }
                }
            },
        }
    },
)
async def put_alerting(
    request: Request, sv: Svc, project: Admin, dry_run: bool = False
) -> AlertingOut:
    """Replace the project's channels and actions with a YAML config (see docs/alerts.md);
    ``dry_run`` only validates it. Command actions are refused: they belong in the server's
    actions file (``mlwarden serve --actions-file``); so are ``${NAME}`` references the
    server does not allow (``--alerting-env``)."""
    body = await read_body(request, sv.settings.max_body_bytes)
    try:
        text = body.decode()
    except UnicodeDecodeError as exc:
        raise ValidationError("The alerting config must be UTF-8 text (YAML).") from exc
    # an empty body (or a YAML document of nothing: 'null', only comments) would silently drop
    # every channel and action; 'channels: []' says so on purpose
    if not text.strip() or _holds_nothing(text):
        raise ValidationError(
            "The body is empty; expected the alerting config as YAML (see docs/alerts.md)."
        )
    config = AlertingConfig.from_yaml(text)
    alerting = _alerting(request)
    if dry_run:
        alerting.check(project, config)
    else:
        before = alerting.summary(project)
        await asyncio.to_thread(alerting.configure, project, config)
        audit(
            request, "alerting.update", project, before, alerting.summary(project), project=project
        )
    return AlertingOut(**alerting.summary(project, config), applied=not dry_run)


@router.post("/ping", response_model=PingOut)
async def ping(body: PingIn, request: Request, project: Operate) -> dict[str, Any]:
    """Send a ping to every channel now (routing filters ignored) and say how each went
    (HTTP status codes of reachable destinations; never their answers' bodies)."""
    deliveries = await asyncio.to_thread(_alerting(request).ping, project, by=body.by)
    return {
        "deliveries": [d.to_dict() for d in deliveries],
        "ok": all(d.status.value == "delivered" for d in deliveries),
    }


@router.get("/deliveries", response_model=list[DeliveryRow])
def deliveries(
    sv: Svc,
    project: Read,
    incident_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """The notification log: every delivery attempt, newest first."""
    rows: list[dict[str, Any]] = sv.store.deliveries(project, incident_id=incident_id, limit=limit)
    return rows


@router.get("/actions", response_model=list[ActionRunRow])
def action_runs(
    sv: Svc,
    project: Read,
    incident_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """The actions' audit log: every run, dry run and refusal, newest first."""
    rows: list[dict[str, Any]] = sv.store.action_runs(project, incident_id=incident_id, limit=limit)
    return rows
