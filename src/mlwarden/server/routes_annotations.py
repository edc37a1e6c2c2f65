"""Annotations: deploys, notes and incidents marked on a model's (or the project's) charts.

Writing and deleting need the ``operate`` scope (a CI/CD pipeline marking a deploy), reading
``read``. Every write is audit-logged (``annotation.create``, ``annotation.delete``). A model's
list holds its own annotations and the project's (``model`` null), as its charts draw them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status

from mlwarden.schema.annotation import Annotation, AnnotationIn
from mlwarden.server.audit import audit
from mlwarden.server.auth import Operate, Read, api_principal
from mlwarden.server.params import TimeQ
from mlwarden.server.services import services
from mlwarden.store.base import Store

__all__ = ["record_annotation", "remove_annotation", "router"]

router = APIRouter(prefix="/v1", tags=["annotations"])

AnnotationId = Annotated[int, Path(ge=1, le=2**62, description="The annotation's id.")]
Limit = Annotated[int, Query(ge=1, le=5000, description="At most this many, oldest first.")]


def _store(request: Request) -> Store:
    s: Store = services(request).store
    return s


def record_annotation(
    request: Request, project: str, model: str | None, body: AnnotationIn, *, key_id: str | None
) -> Annotation:
    """Store ``body`` for ``model`` (None: the project), audited (the API's and the UI's
    create); an annotation without an author is signed with the caller's key id."""
    if not body.author and key_id:
        body = body.model_copy(update={"author": f"key {key_id}"})
    ann = _store(request).put_annotation(project, model, body)
    target = f"annotation {ann.id}" + (f" of {model}" if model else "")
    audit(request, "annotation.create", target, None, ann, project=project)
    return ann


def remove_annotation(
    request: Request, project: str, model: str | None, annotation_id: int
) -> Annotation:
    """Delete one annotation, audited (the API's and the UI's delete)."""
    ann = _store(request).delete_annotation(project, model, annotation_id)
    target = f"annotation {ann.id}" + (f" of {model}" if model else "")
    audit(request, "annotation.delete", target, ann, None, project=project)
    return ann


@router.post(
    "/models/{model}/annotations", status_code=status.HTTP_201_CREATED, response_model=Annotation
)
def create_model_annotation(
    model: str, body: AnnotationIn, request: Request, project: Operate
) -> Annotation:
    """Mark a deploy, a note or an incident at a time (default: now) on the model's charts."""
    return record_annotation(request, project, model, body, key_id=api_principal(request).key_id)


@router.get("/models/{model}/annotations", response_model=list[Annotation])
def list_model_annotations(
    model: str,
    request: Request,
    project: Read,
    start: TimeQ = None,
    end: TimeQ = None,
    limit: Limit = 500,
) -> list[Annotation]:
    """The model's annotations and the project's that overlap ``[start, end)``."""
    return _store(request).annotations(project, model, start=start, end=end, limit=limit)


@router.delete("/models/{model}/annotations/{annotation_id}", response_model=Annotation)
def delete_model_annotation(
    model: str, annotation_id: AnnotationId, request: Request, project: Operate
) -> Annotation:
    """Delete one of the model's annotations; returns what was deleted."""
    return remove_annotation(request, project, model, annotation_id)


@router.post("/annotations", status_code=status.HTTP_201_CREATED, response_model=Annotation)
def create_project_annotation(body: AnnotationIn, request: Request, project: Operate) -> Annotation:
    """Mark something on the charts of every model of the project (a shared deploy, an
    outage)."""
    return record_annotation(request, project, None, body, key_id=api_principal(request).key_id)


@router.get("/annotations", response_model=list[Annotation])
def list_project_annotations(
    request: Request,
    project: Read,
    start: TimeQ = None,
    end: TimeQ = None,
    limit: Limit = 500,
) -> list[Annotation]:
    """The project's own annotations (of no one model) that overlap ``[start, end)``."""
    return _store(request).annotations(project, None, start=start, end=end, limit=limit)


@router.delete("/annotations/{annotation_id}", response_model=Annotation)
def delete_project_annotation(
    annotation_id: AnnotationId, request: Request, project: Operate
) -> Annotation:
    """Delete one of the project's own annotations; returns what was deleted."""
    return remove_annotation(request, project, None, annotation_id)
