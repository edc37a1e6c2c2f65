"""Reply bodies of the query, monitor, incident, alerting and security routes (OpenAPI).

Each model states the keys a route really returns. Where a key is present only in some
replies (``window_start`` of a windowed query, the numeric moments of a column), the route
serialises with ``response_model_exclude_unset`` so an absent key stays absent.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlwarden.server.api_models import UTCDateTime

__all__ = [
    "AccessEntry",
    "ActionRunRow",
    "AuditEntry",
    "ColumnNumeric",
    "ColumnTop",
    "ConfusionRow",
    "CountsRow",
    "DeliveryOut",
    "DeliveryRow",
    "EvaluateOut",
    "FiringMonitor",
    "IncidentDetail",
    "IncidentOut",
    "ObjectiveOut",
    "PingOut",
    "QuarantineRow",
    "RegressionRow",
    "ResultRow",
    "TopValue",
]

_WINDOW = "Start of the window (absent when the query asked for window 'all')."


class CountsRow(BaseModel):
    window_start: UTCDateTime | None = Field(default=None, description=_WINDOW)
    version: str | None = Field(description="The model version the events were logged with.")
    events: int
    errors: int = Field(description="Events with status 'error'.")
    labelled: int = Field(description="Events with an actual.")
    latency_sum: float = Field(description="Sum of latency_ms over events that reported one.")
    latency_n: int = Field(description="Events that reported a latency.")


class TopValue(BaseModel):
    value: str = Field(description="A value of the column, as text.")
    n: int


class _ColumnBase(BaseModel):
    column: str
    kind: str = Field(
        description="The feature kind, or the column's own name for a non-feature column "
        "(prediction, score, latency_ms, ...)."
    )
    n: int = Field(description="Events in the range.")
    nulls: int


class ColumnNumeric(_ColumnBase):
    """A numeric column: moments and exact quantiles (null when no value)."""

    sum: float | None
    sum_sq: float | None
    min: float | None
    max: float | None
    p50: float | None
    p95: float | None
    p99: float | None


class ColumnTop(_ColumnBase):
    """Any other column: its most frequent values."""

    top: list[TopValue] = Field(description="Most frequent values, most frequent first.")


class ConfusionRow(BaseModel):
    """A (prediction, actual) pair of a classification model; with ``by``, the group column
    is a key of the row too (named as the column)."""

    model_config = ConfigDict(extra="allow")

    window_start: UTCDateTime | None = Field(default=None, description=_WINDOW)
    prediction: str | int | float | bool | None
    actual: str | None
    n: int = Field(description="Labelled events with this pair.")


class RegressionRow(BaseModel):
    """Error sums of the labelled events of a regression model (error = prediction - actual)."""

    window_start: UTCDateTime | None = Field(default=None, description=_WINDOW)
    n: int
    sum_err: float | None
    sum_abs_err: float | None
    sum_sq_err: float | None
    sum_y: float | None
    sum_y2: float | None


class QuarantineRow(BaseModel):
    project: str
    model: str
    kind: str = Field(description="What was rejected: events, actuals or spans.")
    received_at: UTCDateTime
    row_index: int | None = Field(description="Position of the row in its request.")
    field: str | None = Field(description="The field at fault.")
    reason: str
    payload: str | None = Field(description="The rejected row as JSON text.")


class EvaluateOut(BaseModel):
    results: int = Field(description="Monitor results stored.")


class ResultRow(BaseModel):
    monitor: str
    kind: str
    column: str | None
    segment: str | None = Field(description="'column=value' of a segment; null: whole model.")
    window_start: UTCDateTime
    window_end: UTCDateTime
    status: str = Field(description="ok, warn, alert, no_data or insufficient_data.")
    value: float | None
    threshold: float | None
    warn: float | None
    n: int | None = Field(description="Rows the result was computed from.")
    direction: str | None
    reason: str | None
    details: dict[str, Any]
    evaluated_at: UTCDateTime


class DeliveryOut(BaseModel):
    """The outcome of handing one notification to one channel (retries included)."""

    channel: str
    kind: str
    key: str
    incident_id: int
    event: str
    status: str = Field(description="delivered, failed or skipped.")
    attempts: int
    http_status: int | None = Field(description="The last HTTP status code received.")
    error: str = Field(description="Why it failed or was skipped; empty when delivered.")
    started_at: UTCDateTime
    finished_at: UTCDateTime


class DeliveryRow(BaseModel):
    """A row of the notification log (``code`` is the HTTP status code received)."""

    project: str
    channel: str
    kind: str
    key: str
    incident_id: int | None
    event: str
    status: str = Field(description="delivered, failed or skipped.")
    attempts: int | None
    code: int | None = Field(description="The last HTTP status code received.")
    error: str | None
    started_at: UTCDateTime | None
    finished_at: UTCDateTime | None


class ActionRunRow(BaseModel):
    """A row of the actions' audit log: a run, a dry run or a refusal."""

    project: str
    action: str
    incident_id: int | None
    event: str | None
    dry_run: bool
    status: str
    detail: str | None
    run_at: UTCDateTime | None
    key: str | None


class PingOut(BaseModel):
    deliveries: list[DeliveryOut]
    ok: bool = Field(description="Every channel delivered the ping.")


class IncidentOut(BaseModel):
    id: int
    project: str
    model: str
    signature: str = Field(description="What went wrong and where, e.g. 'drift:credit_score'.")
    kind: str
    title: str
    severity: str
    state: Literal["open", "acknowledged", "resolved"]
    opened_at: UTCDateTime
    updated_at: UTCDateTime
    first_window: UTCDateTime
    last_window: UTCDateTime
    members: list[dict[str, Any]] = Field(
        description="The firing results: monitor, segment, window_start, value, threshold, reason."
    )
    causes: dict[str, Any] = Field(
        description="Root cause analysis: ranked features, slices, quality changes, versions."
    )
    recommendations: list[dict[str, Any]] = Field(
        description="Recommended actions, each with 'action', 'why' and the rule that chose it."
    )
    objectives: list[dict[str, Any]] = Field(description="Objectives it threatens.")
    healthy_windows: int = Field(description="Consecutive evaluated windows without a firing.")
    snoozed_until: UTCDateTime | None
    resolved_at: UTCDateTime | None
    timeline: list[dict[str, Any]] = Field(
        description="Who did what when: 'at', 'event', 'by', 'note'."
    )


class IncidentDetail(IncidentOut):
    url: str = Field(description="The incident in the UI (empty without a public URL).")
    deliveries: list[DeliveryRow]
    actions: list[ActionRunRow]


class FiringMonitor(BaseModel):
    monitor: str
    status: str = Field(description="warn or alert.")
    reason: str


class ObjectiveOut(BaseModel):
    name: str
    description: str
    monitors: list[str] = Field(description="Monitor id patterns, e.g. 'feature_drift:*'.")
    severity: str
    status: Literal["met", "at_risk", "violated", "unknown"]
    linked: list[str] = Field(description="The model's monitors the patterns match.")
    firing: list[FiringMonitor]
    as_of: UTCDateTime | None = Field(description="Latest window of the linked monitors.")


class AccessEntry(BaseModel):
    at: UTCDateTime
    key_id: str | None
    project: str | None
    method: str
    route: str = Field(description="The route template ('-' when none matched).")
    status: int
    request_bytes: int
    response_bytes: int
    duration_ms: float
    client: str | None
    user_agent: str | None


class AuditEntry(BaseModel):
    at: UTCDateTime
    action: str = Field(description="e.g. alerting.update, model.register.")
    target: str | None
    project: str | None
    key_id: str | None
    client: str | None
    user_agent: str | None
    before: Any = Field(description="The state before the change (JSON).")
    after: Any = Field(description="The state after the change (JSON).")
