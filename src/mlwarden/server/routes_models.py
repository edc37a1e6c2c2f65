"""Models, versions and references."""

from __future__ import annotations

import asyncio
import io
from typing import Annotated

import pyarrow as pa
from fastapi import APIRouter, Query, Request, Response, status

from mlwarden.errors import ConflictError, MlwardenError, NotFoundError, ValidationError
from mlwarden.monitors import service
from mlwarden.schema.changes import describe_changes, merge_registered
from mlwarden.schema.infer import infer_spec
from mlwarden.schema.limits import MAX_MAGNITUDE, without_huge_rows
from mlwarden.schema.spec import ModelSpec
from mlwarden.server.api_models import (
    DeletedOut,
    ModelOut,
    ReferenceOut,
    RenameIn,
    VersionIn,
    VersionOut,
)
from mlwarden.server.audit import audit
from mlwarden.server.auth import Admin, Ingest, Read, api_principal
from mlwarden.server.body import (
    ARROW_TYPES,
    CSV_TYPES,
    PARQUET_TYPES,
    media_type,
    parse_arrow,
    read_body,
)
from mlwarden.server.services import Svc, services
from mlwarden.store.base import Store
from mlwarden.store.keys import Scope
from mlwarden.store.protocols import Suites

router = APIRouter(prefix="/v1", tags=["models"])


def store_of(request: Request) -> Store:
    s: Store = services(request).store
    return s


@router.post("/models", status_code=status.HTTP_201_CREATED, response_model=ModelOut)
def register_model(
    spec: ModelSpec,
    request: Request,
    sv: Svc,
    project: Ingest,
    replace: Annotated[bool, Query(description="Update the spec of an existing model.")] = False,
) -> ModelOut:
    """Register a model from its spec (idempotent when the spec is unchanged). An ``ingest``
    key may register a new model; changing an existing spec (``replace``) needs ``admin``."""
    if replace:
        api_principal(request).check(Scope.ADMIN)
    sv.settings.limits.check_model(model=spec.name, columns=spec.column_count)
    store = store_of(request)
    before = next((m.spec for m in store.list_models(project) if m.name == spec.name), None)
    record = store.create_model(project, spec, replace=replace)
    if before != record.spec:
        audit(request, "model.register", spec.name, before, record.spec, project=project)
    return ModelOut.of(record)


@router.get("/models", response_model=list[ModelOut])
def list_models(request: Request, project: Read) -> list[ModelOut]:
    return [ModelOut.of(m) for m in store_of(request).list_models(project)]


@router.get("/models/{model}", response_model=ModelOut)
def get_model(model: str, request: Request, project: Read) -> ModelOut:
    return ModelOut.of(store_of(request).get_model(project, model))


@router.delete("/models/{model}", response_model=DeletedOut)
def delete_model(model: str, request: Request, project: Admin) -> DeletedOut:
    """Delete a model and everything stored of it: events, labels, versions, references,
    monitors, results, roll-ups, incidents (and their deliveries and action runs), quarantined
    rows. Other models are untouched. Cannot be undone."""
    return DeletedOut(model=model, removed=remove_model(request, project, model))


def remove_model(request: Request, project: str, model: str) -> dict[str, int]:
    """Delete ``model`` with everything stored of it, audited (the API's and the UI's delete);
    the rows removed per table."""
    store = store_of(request)
    before = store.get_model(project, model).spec
    removed: dict[str, int] = store.delete_model(project, model)
    audit(request, "model.delete", model, before, None, project=project)
    return removed


@router.patch("/models/{model}", response_model=ModelOut)
def rename_model(model: str, body: RenameIn, request: Request, project: Admin) -> ModelOut:
    """Rename a model; its data, monitors and incidents follow it. SDKs logging under the old
    name get 404 until they use the new one."""
    store = store_of(request)
    record = store.rename_model(project, model, body.name)
    audit(request, "model.rename", model, {"name": model}, {"name": body.name}, project=project)
    return ModelOut.of(record)


@router.post("/models/{model}/versions", status_code=201, response_model=VersionOut)
def create_version(model: str, body: VersionIn, request: Request, project: Admin) -> VersionOut:
    store = store_of(request)
    return VersionOut.of(
        store.create_version(
            project,
            model,
            body.version,
            description=body.description,
            metadata=body.stored_metadata(),
        )
    )


@router.get("/models/{model}/versions", response_model=list[VersionOut])
def list_versions(model: str, request: Request, project: Read) -> list[VersionOut]:
    return [VersionOut.of(v) for v in store_of(request).list_versions(project, model)]


@router.delete("/models/{model}/versions/{version}", response_model=DeletedOut)
def delete_version(model: str, version: str, request: Request, project: Admin) -> DeletedOut:
    """Delete a version: its events and their labels, its references and its record."""
    removed = store_of(request).delete_version(project, model, version)
    audit(request, "version.delete", f"{model}/{version}", removed, None, project=project)
    return DeletedOut(model=model, version=version, removed=removed)


@router.delete("/models/{model}/references/{reference_id}", status_code=204)
def delete_reference(model: str, reference_id: int, request: Request, project: Admin) -> Response:
    """Delete one reference (the monitors keep the baseline they were fitted on until they are
    set up again)."""
    store_of(request).delete_reference(project, model, reference_id)
    audit(request, "reference.delete", f"{model}/{reference_id}", None, None, project=project)
    return Response(status_code=204)


@router.get("/models/{model}/references", response_model=list[ReferenceOut])
def list_references(model: str, request: Request, project: Read) -> list[ReferenceOut]:
    store = store_of(request)
    store.get_model(project, model)
    return [ReferenceOut.of(r) for r in store.list_references(project, model)]


def _read_table(body: bytes, kind: str) -> pa.Table:
    try:
        if kind in PARQUET_TYPES:
            import pyarrow.parquet as pq

            return pq.read_table(io.BytesIO(body))
        if kind in CSV_TYPES:
            import pyarrow.csv as pacsv

            return pacsv.read_csv(io.BytesIO(body))
    except (pa.ArrowInvalid, OSError) as exc:
        raise ValidationError(f"The body is not valid {kind} data: {exc}") from exc
    if kind in ARROW_TYPES:
        return parse_arrow(body)
    raise ValidationError(
        "The 'Content-Type' of a reference must be one of "
        f"{', '.join(PARQUET_TYPES[:1] + CSV_TYPES[:1] + ARROW_TYPES[:1])}. Got {kind!r} instead."
    )


@router.post(
    "/models/{model}/reference",
    status_code=201,
    response_model=ReferenceOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                t: {"schema": {"type": "string", "format": "binary"}}
                for t in (PARQUET_TYPES[0], CSV_TYPES[0], ARROW_TYPES[0])
            },
        }
    },
)
async def upload_reference(
    model: str,
    request: Request,
    sv: Svc,
    response: Response,
    project: Admin,
    version: str | None = None,
    name: str = "",
    create: Annotated[
        bool,
        Query(
            description="Register the model from this data if it is new; if it exists, infer "
            "its spec again and compare (a different spec is refused unless 'update')."
        ),
    ] = False,
    update: Annotated[
        bool,
        Query(description="With 'create': apply a spec that differs from the stored one."),
    ] = False,
    monitors: Annotated[
        bool,
        Query(
            description="With 'create': set the monitors up from this reference when the model "
            "is new, its spec changed or it has none yet."
        ),
    ] = True,
    task: str | None = None,
    target: str | None = None,
    prediction: str | None = None,
    score: str | None = None,
    segments: Annotated[list[str] | None, Query()] = None,
    sensitive: Annotated[list[str] | None, Query()] = None,
) -> ReferenceOut:
    """Upload reference data (Parquet, CSV or Arrow IPC); with ``create=true`` also register the
    model, its spec inferred from the data, and set its monitors up."""
    store = store_of(request)
    body = await read_body(request, sv.settings.max_body_bytes)
    table = await asyncio.to_thread(_read_table, body, media_type(request))
    if table.num_rows == 0:
        raise ValidationError("The reference data has no rows.")
    table, huge = await asyncio.to_thread(without_huge_rows, table)
    left_out = (
        [
            f"{sum(huge.values())} reference row(s) left out: values beyond "
            f"±{MAX_MAGNITUDE:g} or infinite ("
            + ", ".join(f"{n} in {c!r}" for c, n in huge.items())
            + "); events holding such values are rejected too."
        ]
        if huge
        else []
    )
    if table.num_rows == 0:
        raise ValidationError(f"The reference data has no rows left: {left_out[0]}")
    try:
        existing: ModelSpec | None = store.get_model(project, model).spec
    except NotFoundError:
        if not create:
            raise
        existing = None
    if not create:
        ref = await asyncio.to_thread(
            store.put_reference, project, model, table, version=version, name=name
        )
        return ReferenceOut.of(ref, notes=left_out)
    inf = await asyncio.to_thread(
        infer_spec,
        table,
        name=model,
        task=task,
        target=target,
        prediction=prediction,
        score=score,
        segments=segments or (),
        sensitive=sensitive or (),
    )
    spec, notes, changes = inf.spec, [*left_out, *inf.notes], []
    if existing is not None:
        spec = merge_registered(existing, inf.spec)
        changes = describe_changes(existing, spec)
        if changes and not update:
            raise ConflictError(
                f"Model {model!r} is registered with another spec; registering it again from "
                f"this data would change {'; '.join(changes)}. Nothing was stored. To apply "
                "it, register again with update=true (CLI: --update)."
            )
    sv.settings.limits.check_model(model=spec.name, columns=spec.column_count)
    if existing is None or changes:
        await asyncio.to_thread(store.create_model, project, spec, replace=existing is not None)
        audit(request, "model.register", model, existing, spec, project=project)
    ref = await asyncio.to_thread(
        store.put_reference, project, model, table, version=version, name=name
    )
    n_monitors = None
    if monitors and (existing is None or changes or not _has_suite(store, project, model)):
        try:
            suite = await asyncio.to_thread(service.setup_suite, store, project, model)
        except MlwardenError as exc:  # the model and reference are stored: say why, go on
            notes.append(f"Monitors not set up: {exc}")
        else:
            n_monitors = len(suite.monitors)
    return ReferenceOut.of(
        ref,
        spec,
        notes,
        created=existing is None,
        changes=changes,
        monitors=n_monitors,
    )


def _has_suite(store: Suites, project: str, model: str) -> bool:
    try:
        store.get_suite(project, model)
    except NotFoundError:
        return False
    return True
