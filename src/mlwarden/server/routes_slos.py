"""SLOs and synthetic probes of a model: their declarations, error budgets, burn rates and the
probes' results.

Declaring is for admin keys (a probe makes the server call out: its destination must pass the
operator's policy, as alerting webhooks and the LLM judge do); reading for read keys. Header
values of probes are never shown back (they often carry a token).
"""

from __future__ import annotations

import asyncio
import json
import socket
from datetime import UTC, datetime
from ipaddress import ip_address
from typing import TYPE_CHECKING, Annotated, Any

import httpx
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from mlwarden.errors import ConfigError, NotFoundError, ValidationError
from mlwarden.incidents.channels.policy import HOST_FLAG, AlertingPolicy
from mlwarden.monitors.slo import burn_series, evaluate_slos
from mlwarden.schema.slo import ProbeSpec, parse_slos
from mlwarden.server.audit import audit
from mlwarden.server.auth import Admin, Read
from mlwarden.server.services import Svc
from mlwarden.stats.burn import WINDOWS

if TYPE_CHECKING:
    from mlwarden.store.base import Store
    from mlwarden.store.protocols import Probes

__all__ = ["check_destination", "router"]

router = APIRouter(prefix="/v1", tags=["slos"])
#: Probes a model may have (each is a request from the server every interval).
MAX_PROBES = 20


class SlosIn(BaseModel):
    slos: list[dict[str, Any]] = Field(
        max_length=100, description="The model's SLOs (see docs/integrations/slo.md)."
    )


class ProbeIn(BaseModel):
    """A probe as docs/integrations/slo.md describes it (its name is in the path)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2048, description="http:// or https:// URL of the endpoint.")
    method: str = Field(default="GET", description="GET, HEAD, POST, PUT, PATCH or DELETE.")
    headers: dict[str, str] = Field(default_factory=dict, description="Sent as given.")
    body: str | None = Field(default=None, description="The request body, as text.")
    expect_status: int = Field(default=200, description="The HTTP status a good answer has.")
    body_contains: str | None = Field(default=None, description="Text a good answer holds.")
    json_path: str | None = Field(default=None, description="A dotted path into a JSON answer.")
    json_equals: Any = Field(default=None, description="The value at json_path.")
    interval_s: float = Field(default=60.0, description="Seconds between probes (1-86400).")
    timeout_s: float | None = Field(
        default=None, description="Seconds to wait (at most 60 and the interval; default 10)."
    )


class SlosOut(BaseModel):
    model: str
    at: datetime
    slos: list[dict[str, Any]] = Field(
        description="Each SLO as declared with its budget left, burn rate per window, the "
        "alerts firing and (with series=true) its hourly burn over the last 7 days."
    )
    windows: list[dict[str, Any]] = Field(description="The alert windows and burn rates.")


class ProjectSlosOut(BaseModel):
    at: datetime
    models: list[SlosOut]


class ProbeOut(BaseModel):
    model: str
    probe: dict[str, Any] = Field(description="As declared, header values masked.")
    last: dict[str, Any] | None = Field(description="The latest result, if any.")


class ProbesOut(BaseModel):
    probes: list[ProbeOut]


class ProbeResultsOut(BaseModel):
    results: list[dict[str, Any]]


class ProbeDeletedOut(BaseModel):
    deleted: bool


def _windows() -> list[dict[str, Any]]:
    return [
        {
            "severity": w.severity,
            "budget_spent": w.spent,
            "long": w.long.total_seconds(),
            "short": w.short.total_seconds(),
            "label": w.label,
        }
        for w in WINDOWS
    ]


def _row(r: dict[str, Any]) -> dict[str, Any]:
    return {**r, "at": r["at"].isoformat()}


def model_slos(store: Store, project: str, model: str, *, now: datetime, series: bool) -> SlosOut:
    """The model's SLO statuses at ``now`` (what the API and the UI page show)."""
    out = []
    for status in evaluate_slos(store, project, model, now=now):
        item = status.to_dict()
        if series:
            item["series"] = burn_series(store, project, model, status.slo, now=now)
        out.append(item)
    return SlosOut(model=model, at=now, slos=out, windows=_windows())


def check_destination(url: str, policy: AlertingPolicy, *, where: str) -> None:
    """Refuse a probe URL whose host resolves to an address the policy refuses (a name that
    does not resolve now is let through: its probes will fail and say so)."""
    target = httpx.URL(url)
    if policy.host_allowed(target.host):
        return
    port = target.port or {"http": 80, "https": 443}.get(target.scheme, 443)
    try:
        found = {ip_address(a[4][0]) for a in socket.getaddrinfo(target.host, port)}
    except (OSError, ValueError):
        return
    if not all(policy.address_allowed(ip) for ip in found):
        raise ValidationError(
            f"The 'url' of {where} is refused: {target.host!r} is an internal address "
            "(loopback, private, link-local, ...), which the server calls only when the "
            f"operator allows it with 'mlwarden serve {HOST_FLAG} HOST_OR_CIDR'."
        )


def _masked(spec: ProbeSpec) -> dict[str, Any]:
    out = spec.to_dict()
    out["headers"] = dict.fromkeys(spec.headers, "***")
    return out


def _probes(store: Probes, project: str, model: str) -> list[ProbeOut]:
    out = []
    for _, m, name, text in store.list_probes(project, model):
        last = store.probe_results(project, m, probe=name, limit=1)
        spec = ProbeSpec.from_dict(json.loads(text))
        out.append(ProbeOut(model=m, probe=_masked(spec), last=_row(last[0]) if last else None))
    return out


@router.get("/slos", response_model=ProjectSlosOut)
def get_project_slos(sv: Svc, project: Read) -> ProjectSlosOut:
    """Every model's SLOs in the project: budget left, burn rates, alerts firing."""
    store = sv.store
    now = datetime.now(UTC)
    models = [
        model_slos(store, project, m, now=now, series=False)
        for _, m, _ in store.list_slo_specs(project)
    ]
    return ProjectSlosOut(at=now, models=models)


@router.get("/models/{model}/slos", response_model=SlosOut)
def get_slos(model: str, sv: Svc, project: Read, series: bool = False) -> SlosOut:
    """The model's SLOs now; ``series`` adds each one's hourly burn rate over 7 days."""
    store = sv.store
    store.get_model(project, model)
    return model_slos(store, project, model, now=datetime.now(UTC), series=series)


@router.put("/models/{model}/slos", response_model=SlosOut)
async def put_slos(model: str, body: SlosIn, request: Request, sv: Svc, project: Admin) -> SlosOut:
    """Replace the model's SLOs (an empty list removes them)."""
    store = sv.store
    store.get_model(project, model)
    try:
        slos = parse_slos(body.slos)
    except ConfigError as exc:
        raise ValidationError(str(exc)) from None
    text = json.dumps([s.to_dict() for s in slos])
    await asyncio.to_thread(store.put_slos, project, model, text)
    audit(request, "slos.update", model, None, [s.to_dict() for s in slos], project=project)
    return await asyncio.to_thread(
        model_slos, store, project, model, now=datetime.now(UTC), series=False
    )


@router.get("/models/{model}/probes", response_model=ProbesOut)
def get_probes(model: str, sv: Svc, project: Read) -> ProbesOut:
    """The model's probes with their latest result."""
    store = sv.store
    store.get_model(project, model)
    return ProbesOut(probes=_probes(store, project, model))


@router.put("/models/{model}/probes/{name}", response_model=ProbeOut)
async def put_probe(
    model: str, name: str, body: ProbeIn, request: Request, sv: Svc, project: Admin
) -> ProbeOut:
    """Create or replace a probe (see docs/integrations/slo.md); the server sends it every
    ``interval_s`` seconds. Its URL must pass the server's destination policy."""
    store = sv.store
    store.get_model(project, model)
    try:
        spec = ProbeSpec.from_dict({**body.model_dump(exclude_none=True), "name": name})
    except ConfigError as exc:
        raise ValidationError(str(exc)) from None
    held = {n for _, _, n, _ in store.list_probes(project, model)}
    if name not in held and len(held) >= MAX_PROBES:
        raise ValidationError(
            f"The model {model!r} has {len(held)} probes, the most a model may have "
            f"({MAX_PROBES}); delete one first."
        )
    policy: AlertingPolicy = sv.settings.alerting_policy
    await asyncio.to_thread(check_destination, spec.url, policy, where=f"probe {name!r}")
    await asyncio.to_thread(
        store.put_probe,
        project,
        model,
        name,
        json.dumps(spec.to_dict()),
    )
    audit(request, "probe.update", f"{model}/{name}", None, _masked(spec), project=project)
    return ProbeOut(model=model, probe=_masked(spec), last=None)


@router.delete("/models/{model}/probes/{name}", response_model=ProbeDeletedOut)
async def delete_probe(
    model: str, name: str, request: Request, sv: Svc, project: Admin
) -> ProbeDeletedOut:
    """Remove a probe and its results."""
    store = sv.store
    store.get_model(project, model)
    gone = await asyncio.to_thread(store.delete_probe, project, model, name)
    if not gone:
        raise NotFoundError(f"There is no probe {name!r} of model {model!r}.")
    audit(request, "probe.delete", f"{model}/{name}", None, None, project=project)
    return ProbeDeletedOut(deleted=True)


@router.get("/models/{model}/probes/{name}/results", response_model=ProbeResultsOut)
def get_probe_results(
    model: str,
    name: str,
    sv: Svc,
    project: Read,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> ProbeResultsOut:
    """The probe's latest results, newest first."""
    store = sv.store
    store.get_model(project, model)
    rows = store.probe_results(project, model, probe=name, limit=limit)
    return ProbeResultsOut(results=[_row(r) for r in rows])
