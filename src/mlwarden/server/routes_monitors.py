"""Monitors: automatic set-up, the editable spec, evaluation and results."""

from __future__ import annotations

import asyncio
import socket
from datetime import datetime
from ipaddress import ip_address
from typing import Annotated, Any

import httpx
import orjson
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, WithJsonSchema

from mlwarden.errors import ValidationError
from mlwarden.incidents.channels.policy import AlertingPolicy
from mlwarden.monitors import service
from mlwarden.monitors.llm_judge import LlmJudge
from mlwarden.monitors.suite import MonitorSuite
from mlwarden.server.api_replies import EvaluateOut, ResultRow
from mlwarden.server.auth import Admin, Operate, Read
from mlwarden.server.body import read_body
from mlwarden.server.params import TimeQ, parse_instant
from mlwarden.server.services import Svc
from mlwarden.store.base import Store
from mlwarden.store.times import utc_naive

router = APIRouter(prefix="/v1", tags=["monitors"])


#: What ``parse_cadence`` reads (blanks and case ignored; empty: chosen from volume).
_CADENCE = r"^\s*(?:[0-9]+\s*(?:[mM][iI][nN]|[mMhHdDwW]))?\s*$"


class SetupIn(BaseModel):
    cadence: Annotated[
        str | None,
        WithJsonSchema({"anyOf": [{"type": "string", "pattern": _CADENCE}, {"type": "null"}]}),
    ] = Field(default=None, description="'1h', '6h', '1d', '1w'; default: chosen from volume.")
    false_alarm_budget: str | None = Field(
        default=None, description="e.g. 'one per 30 days' (the default)."
    )
    segments: list[str] | None = None
    dry_run: StrictBool = False
    rows_per_window: int = Field(
        default=1000,
        ge=1,
        le=100_000_000,
        description="Window size the plan's thresholds are shown at.",
    )


class SuiteOut(BaseModel):
    model: str
    cadence: str
    false_alarm_budget: str
    spec_yaml: str
    plan: list[dict[str, Any]]
    applied: bool


class EvaluateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: Annotated[datetime, BeforeValidator(parse_instant)]
    end: Annotated[datetime, BeforeValidator(parse_instant)]


def _out(suite: MonitorSuite, rows: int, applied: bool) -> SuiteOut:
    return SuiteOut(
        model=suite.model,
        cadence=suite.cadence,
        false_alarm_budget=suite.budget,
        spec_yaml=suite.to_yaml(),
        plan=service.plan(suite, rows_per_window=rows),
        applied=applied,
    )


@router.post("/models/{model}/monitors/setup", response_model=SuiteOut)
async def setup_monitors(model: str, body: SetupIn, sv: Svc, project: Admin) -> SuiteOut:
    """Create the model's monitors from its spec and reference, thresholds calibrated to the
    false-alarm budget. ``dry_run`` shows what would be monitored and why, without applying."""
    store: Store = sv.store
    suite = await asyncio.to_thread(
        service.setup_suite,
        store,
        project,
        model,
        cadence=body.cadence,
        budget=body.false_alarm_budget,
        segments=body.segments,
        dry_run=body.dry_run,
    )
    # the plan calibrates the joint drift threshold (numpy, ~0.4 s): off the event loop
    return await asyncio.to_thread(_out, suite, body.rows_per_window, not body.dry_run)


@router.put(
    "/models/{model}/monitors",
    response_model=SuiteOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/yaml": {"schema": {"type": "string"}}},
        }
    },
)
async def apply_monitors(
    model: str,
    request: Request,
    sv: Svc,
    project: Admin,
    dry_run: bool = False,
    rows_per_window: Annotated[int, Query(ge=1, le=100_000_000)] = 1000,
) -> SuiteOut:
    """Apply an edited monitoring spec (YAML, as returned by GET)."""
    store: Store = sv.store
    body = await read_body(request, sv.settings.max_body_bytes)
    try:
        text = body.decode()
    except UnicodeDecodeError as exc:
        raise ValidationError("The monitoring spec must be UTF-8 text (YAML).") from exc
    policy: AlertingPolicy = sv.settings.alerting_policy
    await asyncio.to_thread(check_calls_out, text, policy)
    suite = await asyncio.to_thread(
        service.apply_suite, store, project, model, text, dry_run=dry_run
    )
    return await asyncio.to_thread(_out, suite, rows_per_window, not dry_run)


def check_calls_out(text: str, policy: AlertingPolicy) -> None:
    """An LLM judge of the spec calls out from the server: its endpoint must pass the
    destination policy alerting passes (public addresses, or hosts the operator allowed), and
    the key it sends must come from a variable alerting could read (``MLWARDEN_*`` or allowed
    with ``--alerting-env``), or an admin key could make the server call internal services or
    send any of its secrets to an endpoint of the key holder's choosing."""
    for mon in MonitorSuite.from_yaml(text).monitors:
        if not isinstance(mon, LlmJudge):
            continue
        where = f"monitor {mon.id!r}"
        if mon.api_key_env is not None and not policy.env_allowed(mon.api_key_env):
            raise ValidationError(
                policy.refused_env(mon.api_key_env, param="api_key_env", where=where)
            )
        url = httpx.URL(mon.endpoint)
        port = url.port or {"http": 80, "https": 443}.get(url.scheme, 443)
        if policy.host_allowed(url.host):
            continue
        try:  # a name that does not resolve now is let through: its calls will say unreachable
            found = {ip_address(a[4][0]) for a in socket.getaddrinfo(url.host, port)}
        except (OSError, ValueError):
            continue
        if not all(policy.address_allowed(ip) for ip in found):
            raise ValidationError(
                f"The 'endpoint' of {where} is refused: {url.host!r} is an internal address "
                "(loopback, private, link-local, ...), which the server calls only when the "
                "operator allows it with 'mlwarden serve --alerting-allow-host HOST_OR_CIDR'."
            )


@router.get("/models/{model}/monitors", response_model=SuiteOut)
def get_monitors(
    model: str,
    sv: Svc,
    project: Read,
    rows_per_window: Annotated[int, Query(ge=1, le=100_000_000)] = 1000,
) -> SuiteOut:
    """The model's monitoring spec and each threshold with its expected false alerts per month."""
    store: Store = sv.store
    store.get_model(project, model)
    return _out(service.load_suite(store, project, model), rows_per_window, True)


@router.post("/models/{model}/evaluate", response_model=EvaluateOut)
async def evaluate_monitors(
    model: str, body: EvaluateIn, sv: Svc, project: Operate
) -> dict[str, int]:
    """Evaluate (or re-evaluate: idempotent) every window of a time range, e.g. a backfill."""
    store: Store = sv.store
    if body.end <= body.start:
        raise ValidationError("The 'end' must be after the 'start'.")
    n = await asyncio.to_thread(
        service.evaluate_range,
        store,
        project,
        model,
        body.start,
        body.end,
        on_results=sv.on_results,
        call_out=True,  # asked for: an LLM judge grades this model's windows now
    )
    return {"results": n}


@router.get("/models/{model}/results", response_model=list[ResultRow])
def results(
    model: str,
    sv: Svc,
    project: Read,
    monitor: str | None = None,
    status: str | None = None,
    segment: str | None = None,
    start: TimeQ = None,
    end: TimeQ = None,
    whole_model: bool = True,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
) -> list[dict[str, Any]]:
    """Monitor results, newest window first; ``whole_model=false`` includes segments."""
    store: Store = sv.store
    store.get_model(project, model)
    t = store.results()
    preds = [t.project == project, t.model == model]
    if monitor:
        preds.append(t.monitor == monitor)
    if status:
        preds.append(t.status == status)
    if segment:
        preds.append(t.segment == segment)
    elif whole_model:
        preds.append(t.segment.isnull())
    if start:
        preds.append(t.window_start >= utc_naive(start))
    if end:
        preds.append(t.window_start < utc_naive(end))
    rows: list[dict[str, Any]] = (
        t.filter(*preds)
        .order_by([t.window_start.desc(), t.monitor])
        .limit(limit)
        .to_pyarrow()
        .to_pylist()
    )
    for r in rows:
        r.pop("project", None)
        r.pop("model", None)
        r["details"] = orjson.loads(r["details"]) if r.get("details") else {}
    return rows
