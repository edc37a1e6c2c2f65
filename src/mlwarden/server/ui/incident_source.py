"""The incidents the pages and ``/metrics`` show, through :mod:`mlwarden.incidents.service`.

One seam: list, count, get, acknowledge and resolve (telling the channels, as the API does),
objectives of a model, and open incidents per model and severity.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mlwarden.errors import NotFoundError
from mlwarden.incidents import service
from mlwarden.monitors.service import objective_report

if TYPE_CHECKING:
    from mlwarden.server.services import Services
    from mlwarden.store.base import Store
    from mlwarden.store.protocols import IncidentRepository

__all__ = [
    "UNRESOLVED",
    "acknowledge",
    "available",
    "count",
    "get",
    "listing",
    "objectives",
    "open_by_model_severity",
    "resolve",
]

#: States of an incident someone still has to deal with.
UNRESOLVED = ("open", "acknowledged")


def available() -> bool:
    """Whether this server keeps incidents (always, since the incidents layer exists)."""
    return True


def listing(
    store: Store,
    project: str,
    *,
    model: str | None = None,
    state: str | Sequence[str] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Any]:
    """Incidents, the most recently active first."""
    return list(
        service.list_incidents(store, project, model=model, state=state, limit=limit, offset=offset)
    )


def count(
    store: Store,
    project: str,
    *,
    model: str | None = None,
    state: str | Sequence[str] | None = None,
) -> int:
    return int(service.count_incidents(store, project, model=model, state=state))


def get(store: Store, project: str, incident_id: int) -> Any:
    return service.get_incident(store, project, incident_id)


def acknowledge(sv: Services, project: str, incident_id: int, *, by: str, note: str) -> Any:
    return service.acknowledge(
        sv.store,
        project,
        incident_id,
        by=by,
        note=note,
        dispatcher=sv.dispatcher,
        public_url=sv.settings.public_url,
    )


def resolve(sv: Services, project: str, incident_id: int, *, by: str, note: str) -> Any:
    return service.resolve(
        sv.store,
        project,
        incident_id,
        by=by,
        note=note,
        dispatcher=sv.dispatcher,
        public_url=sv.settings.public_url,
    )


def objectives(store: Store, project: str, model: str) -> list[dict[str, Any]]:
    """Each objective of a model with its status (met, at_risk, violated, unknown)."""
    try:
        return list(objective_report(store, project, model))
    except NotFoundError:  # no monitors yet
        return []


def open_by_model_severity(store: IncidentRepository, project: str) -> dict[tuple[str, str], int]:
    """Unresolved (open or acknowledged) incidents per (model, severity)."""
    out: dict[tuple[str, str], int] = {}
    for _, model, _, severity, n in store.count_incidents(project, state=list(UNRESOLVED)):
        out[(model, severity)] = out.get((model, severity), 0) + n
    return out
