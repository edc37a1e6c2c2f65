"""``GET /v1/search``: models, features and incidents of the caller's project by name."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from mlwarden.server.api_models import UTCDateTime
from mlwarden.server.auth import Read
from mlwarden.server.search import MAX_QUERY, Hits, search
from mlwarden.server.services import Svc

__all__ = ["SearchOut", "router"]

router = APIRouter(prefix="/v1", tags=["search"])


class ModelHitOut(BaseModel):
    model: str
    task: str


class FeatureHitOut(BaseModel):
    model: str
    column: str
    kind: str = Field(description="The feature's kind, or 'segment' for a segment column.")


class IncidentHitOut(BaseModel):
    id: int
    model: str
    title: str
    state: str
    severity: str
    last_window: UTCDateTime


class SearchOut(BaseModel):
    query: str
    models: list[ModelHitOut]
    features: list[FeatureHitOut]
    incidents: list[IncidentHitOut]
    truncated: list[Literal["models", "features", "incidents"]] = Field(
        description="Kinds with more hits than 'limit' (refine the query to see them all)."
    )

    @classmethod
    def of(cls, h: Hits) -> SearchOut:
        return cls(
            query=h.query,
            models=[ModelHitOut(model=m.model, task=m.task) for m in h.models],
            features=[
                FeatureHitOut(model=f.model, column=f.column, kind=f.kind) for f in h.features
            ],
            incidents=[
                IncidentHitOut(
                    id=i.id,
                    model=i.model,
                    title=i.title,
                    state=i.state,
                    severity=i.severity,
                    last_window=i.last_window,
                )
                for i in h.incidents
            ],
            truncated=list(h.truncated),
        )


@router.get("/search", response_model=SearchOut)
def search_route(
    sv: Svc,
    project: Read,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=MAX_QUERY,
            description="Text to look for (any case) in model, feature and segment column "
            "names and incident titles; an incident id ('12' or '#12') finds that incident.",
        ),
    ],
    limit: Annotated[int, Query(ge=1, le=100, description="Hits of each kind at most.")] = 20,
) -> SearchOut:
    """Models, features and incidents of the caller's project whose name holds ``q``."""
    return SearchOut.of(search(sv.store, project, q, limit=limit))
