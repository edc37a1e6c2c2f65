"""Request and reply bodies of the HTTP API (they make the OpenAPI document)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, WithJsonSchema, field_validator

from mlwarden.schema import version_links as links
from mlwarden.schema.spec import NAME_RE, Feature, ModelSpec, check_name
from mlwarden.store.base import ModelRecord, ReferenceRecord, VersionRecord

__all__ = [
    "HealthOut",
    "MlflowSource",
    "UTCDateTime",
    "utc",
    "IngestOut",
    "ModelOut",
    "ReferenceOut",
    "RejectedRow",
    "VersionIn",
    "VersionOut",
]


def utc(t: datetime) -> datetime:
    """A stored time (naive means UTC) as an aware one, so replies are RFC 3339."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


#: A time in a reply: the store's naive UTC times come out with their zone (RFC 3339).
UTCDateTime = Annotated[datetime, AfterValidator(utc)]


class HealthOut(BaseModel):
    status: str
    version: str
    engine: str
    #: ``leader``: this server runs the scheduler and the other once-per-deployment jobs (the
    #: holder of the store's lease); ``standby``: another server on the same database does.
    scheduler: Literal["leader", "standby"] = "leader"
    #: Shown only to callers with the ``read`` scope (their project's models).
    models: int | None = None
    rows_committed: int | None = None
    commits: int | None = None
    #: problems found at start-up that need an operator (e.g. acknowledged data missing)
    warnings: list[str] = Field(default_factory=list)


class ModelOut(BaseModel):
    project: str
    name: str
    spec: ModelSpec
    created_at: UTCDateTime
    updated_at: UTCDateTime

    @classmethod
    def of(cls, r: ModelRecord) -> ModelOut:
        return cls(
            project=r.project,
            name=r.name,
            spec=r.spec,
            created_at=r.created_at,
            updated_at=r.updated_at,
        )


class MlflowSource(BaseModel):
    """The MLflow registry version a model version mirrors (``--from-mlflow``): the server's
    MLflow job logs monitor results to a run linked to it and tags it with open incidents."""

    name: Annotated[str, Field(min_length=1, max_length=256)]
    version: Annotated[str, Field(pattern=r"^[0-9]{1,18}$")]
    run_id: Annotated[str | None, Field(max_length=64)] = None
    source: Annotated[str | None, Field(max_length=1024)] = None


class VersionIn(BaseModel):
    # the validator below words the error; the schema states the same rule
    version: Annotated[str, WithJsonSchema({"type": "string", "pattern": NAME_RE.pattern})]
    description: str = ""
    # the validators below word the errors; the schema states the same rules
    metadata: Annotated[
        dict[str, Any],
        WithJsonSchema({"type": "object", "propertyNames": {"not": {"pattern": r"^mlwarden\."}}}),
    ] = Field(
        default_factory=dict, description="Anything of yours (keys 'mlwarden.*' are reserved)."
    )
    run_url: Annotated[
        str | None,
        WithJsonSchema(
            {
                "anyOf": [
                    {
                        "type": "string",
                        "pattern": links.RUN_URL_RE.pattern,
                        "maxLength": links.MAX_URL,
                    },
                    {"type": "null"},
                ]
            }
        ),
    ] = Field(
        default=None,
        description="The experiment run the version came from (an MLflow or W&B run's URL); "
        "incidents and the compare page link to it.",
    )
    aliases: Annotated[
        list[str],
        WithJsonSchema({"type": "array", "items": {"type": "string", "pattern": NAME_RE.pattern}}),
    ] = Field(
        default_factory=list,
        description="Registry aliases of the version (e.g. 'champion', 'challenger').",
    )
    mlflow: MlflowSource | None = None

    @field_validator("version")
    @classmethod
    def _version(cls, v: str) -> str:
        return check_name(v, "version name")

    @field_validator("run_url")
    @classmethod
    def _run_url(cls, v: str | None) -> str | None:
        return None if v is None else links.check_run_url(v)

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, v: list[str]) -> list[str]:
        return list(links.check_aliases(v))

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, v: dict[str, Any]) -> dict[str, Any]:
        return links.check_user_metadata(v)

    def stored_metadata(self) -> dict[str, Any]:
        """The metadata as stored: the user's, with the run link and aliases."""
        return links.with_links(
            self.metadata,
            run_url=self.run_url,
            aliases=self.aliases,
            mlflow=None if self.mlflow is None else self.mlflow.model_dump(),
        )


class VersionOut(BaseModel):
    model: str
    version: str
    created_at: UTCDateTime
    description: str
    metadata: dict[str, Any]
    run_url: str | None = Field(default=None, description="The experiment run it came from.")
    aliases: list[str] = Field(default_factory=list, description="Its registry aliases.")
    mlflow: dict[str, Any] | None = Field(
        default=None,
        description="The MLflow registry version it was registered from: name, version, run_id.",
    )

    @classmethod
    def of(cls, v: VersionRecord) -> VersionOut:
        return cls(
            model=v.model,
            version=v.version,
            created_at=v.created_at,
            description=v.description,
            metadata=links.user_metadata(v.metadata),
            run_url=links.run_url_of(v.metadata),
            aliases=list(links.aliases_of(v.metadata)),
            mlflow=links.mlflow_of(v.metadata),
        )


class ReferenceOut(BaseModel):
    id: int
    model: str
    version: str | None
    name: str
    rows: int
    columns: list[str]
    created_at: UTCDateTime
    spec: ModelSpec | None = Field(
        default=None, description="The model's spec (when the call created it)."
    )
    notes: list[str] = Field(default_factory=list, description="How the spec was inferred.")
    created: bool = Field(default=False, description="The call registered the model.")
    changes: list[str] = Field(
        default_factory=list, description="What the call changed in an existing model's spec."
    )
    monitors: int | None = Field(
        default=None, description="Monitors the call set up (none: it set none up)."
    )

    @classmethod
    def of(
        cls,
        r: ReferenceRecord,
        spec: ModelSpec | None = None,
        notes: list[str] | None = None,
        *,
        created: bool = False,
        changes: list[str] | None = None,
        monitors: int | None = None,
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
            created=created,
            changes=changes or [],
            monitors=monitors,
        )


class RenameIn(BaseModel):
    """A model's new name (``PATCH /v1/models/{model}``)."""

    name: Annotated[str, WithJsonSchema({"type": "string", "pattern": NAME_RE.pattern})]

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v, "model name")


class DeletedOut(BaseModel):
    """What a delete removed: rows per table."""

    model: str
    version: str | None = None
    removed: dict[str, int] = Field(default_factory=dict)


class RejectedRow(BaseModel):
    index: int = Field(description="Position of the row in the request (0-based).")
    field: str = Field(description="The field at fault, e.g. 'features.age'.")
    reason: str


class IngestOut(BaseModel):
    received: int = Field(description="Rows in the request.")
    accepted: int = Field(description="Rows that passed validation and are durably stored.")
    duplicates: int = Field(
        description="Accepted rows whose event_id and version were stored already (no-op)."
    )
    rejected: list[RejectedRow] = Field(
        description="Rows left out, now in quarantine (the first 1,000 of them; see "
        "'rejected_count')."
    )
    rejected_count: int = Field(default=0, description="All rows left out.")
    new_features: list[Feature] = Field(
        default_factory=list, description="Features first seen here."
    )
