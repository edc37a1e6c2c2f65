"""The audit log: every administrative change, who made it, with the state before and after.

Routes that change configuration or records call :func:`audit` once the change is made;
the entry is appended (never rewritten) and fsynced before the reply, and becomes an
``admin_change`` security event. Actions are ``<noun>.<verb>``: ``model.register``,
``alerting.update``, ``incident.acknowledge``, ``incident.resolve``, ``incident.snooze`` ...
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from pydantic import BaseModel

from mlwarden.server.auth import presented_key
from mlwarden.server.services import services
from mlwarden.store.keys import key_id_of

__all__ = ["audit", "audit_incident"]


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value


def audit(
    request: Request,
    action: str,
    target: str,
    before: Any = None,
    after: Any = None,
    *,
    project: str | None = None,
) -> None:
    """Record an administrative change made by ``request``: ``action`` on ``target`` (a model,
    an incident id, a project's alerting config), with JSON-able ``before`` / ``after``."""
    security = services(request).security
    principal = getattr(request.state, "principal", None)
    key_id = getattr(principal, "key_id", None) or key_id_of(presented_key(request))
    client = request.client.host if request.client else None
    entry = {
        "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "action": action,
        "target": target,
        "project": project or getattr(principal, "project", None),
        "key_id": key_id,
        "client": client,
        "user_agent": request.headers.get("user-agent"),
        "before": _plain(before),
        "after": _plain(after),
    }
    security.audit.append([entry])
    security.events.emit(
        [
            security.events.event(
                "admin_change",
                "low",
                f"{action} of {target} by {('key ' + repr(key_id)) if key_id else client}",
                key_id=key_id,
                project=entry["project"],
                client=client,
                action=action,
                target=target,
            )
        ]
    )


def audit_incident(
    request: Request,
    verb: str,
    incident: Any,
    before_state: Any,
    *,
    project: str,
    by: str = "",
    note: str = "",
) -> None:
    """:func:`audit` of a person's action on an incident (its state before and after)."""
    audit(
        request,
        f"incident.{verb}",
        f"incident {incident.id}",
        {"state": str(before_state)},
        {
            "state": str(incident.state),
            "by": by,
            "note": note,
            "snoozed_until": None
            if incident.snoozed_until is None
            else incident.snoozed_until.isoformat(),
        },
        project=project,
    )
