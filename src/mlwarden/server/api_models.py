"""Request and reply bodies of the HTTP API (they make the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from mlwarden.schema.spec import Feature, ModelSpec
from mlwarden.store.base import ModelRecord, ReferenceRecord, VersionRecord

__all__ = [
    "HealthOut",
    "IngestOut",
    "ModelOut",
    "ReferenceOut",
    "RejectedRow",
    "VersionIn",
    "VersionOut",
]


class HealthOut(BaseModel):
    status: str
    version: str
    engine: str
    models: int
    rows_committed: int
    commits: int
    #: problems found at start-up that need an operator (e.g. acknowledged data missing)
    warnings: list[str] = Field(default_factory=list)


class ModelOut(BaseModel):
    project: str
    name: str
    spec: ModelSpec
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, r: ModelRecord) -> ModelOut:
        return cls(
            project=r.project,
            name=r.name,
            spec=r.spec,
            created_at=r.created_at,
            updated_at=r.updated_at,
        )


class VersionIn(BaseModel):
    version: str
    description: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)


class VersionOut(BaseModel):
    model: str
    version: str
    created_at: datetime
    description: str
    metadata: dict[str, Any]

    @classmethod
    def of(cls, v: VersionRecord) -> VersionOut:
        return cls(
            model=v.model,
            version=v.version,
            created_at=v.created_at,
            description=v.description,
            metadata=v.metadata,
        )


class ReferenceOut(BaseModel):
    id: int
    model: str
    version: str | None
    name: str
    rows: int
    columns: list[str]
    created_at: datetime
    spec: ModelSpec | None = Field(
        default=None, description="The model's spec (when the call created it)."
    )
    notes: list[str] = Field(default_factory=list, description="How the spec was inferred.")

    @classmethod
    def of(
        cls, r: ReferenceRecord, spec: ModelSpec | None = None, notes: list[str] | None = None
    ) -> ReferenceOut:
        return cls(
            id=r.uid,
            model=r.model,
            version=r.version,
            name=r.name,
            rows=r.rows,
            columns=list(r.columns),
            created_at=r.created_at,
            spec=spec,
            notes=notes or [],
        )


class RejectedRow(BaseModel):
    index: int = Field(description="Position of the row in the request (0-based).")
    field: str = Field(description="The field at fault, e.g. 'features.age'.")
    reason: str


class IngestOut(BaseModel):
    received: int = Field(description="Rows in the request.")
    accepted: int = Field(description="Rows that passed validation and are durably stored.")
    duplicates: int = Field(description="Accepted rows whose event_id was stored already (no-op).")
    rejected: list[RejectedRow] = Field(description="Rows left out, now in quarantine.")
    new_features: list[Feature] = Field(
        default_factory=list, description="Features first seen here."
    )
