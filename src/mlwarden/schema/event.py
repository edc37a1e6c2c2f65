"""Events (one prediction each) and actuals (a label that arrives later).

These pydantic models document the wire format and serve single-row use (SDK,
OpenAPI). Bulk ingest does not build one pydantic object per row: it goes
through :mod:`mlwarden.schema.batch`, which validates column by column and
reports each bad row with its index, field and reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Actual", "Event"]

Scalar = str | int | float | bool | None


class Event(BaseModel):
    """One prediction of a model, as sent to ``POST /v1/models/{model}/events``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str | None = Field(
        default=None,
        max_length=128,
        description="Client-made id; re-sending an event with the same id is a no-op. "
        "Assigned by the server when missing (then without idempotency).",
    )
    timestamp: datetime | float | None = Field(
        default=None,
        description="When the prediction was made (ISO 8601 or epoch seconds); "
        "defaults to the time the server received it.",
    )
    version: str | None = Field(default=None, description="Model version; defaults to 'default'.")
    features: dict[str, Any] = Field(default_factory=dict)
    prediction: Scalar = None
    score: float | None = Field(default=None, description="Positive-class score of a binary model.")
    scores: dict[str, float] | None = Field(
        default=None, description="Per-class scores of a multiclass model."
    )
    segments: dict[str, Scalar] | None = None
    latency_ms: float | None = Field(default=None, ge=0)
    status: str | None = Field(default=None, description="'ok' or 'error'.")
    error: str | None = Field(default=None, description="Error type when status is 'error'.")
    client_id: str | None = None
    shadow: bool = Field(
        default=False,
        description="A shadow prediction: another version's answer to a request the champion "
        "served (same event_id, this version). Stored for the champion / challenger comparison "
        "and kept out of the model's monitors, roll-ups and traffic.",
    )


class Actual(BaseModel):
    """A ground-truth label or value, joined to its event by ``event_id``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str = Field(min_length=1, max_length=128)
    actual: str | int | float | bool
    timestamp: datetime | float | None = None
