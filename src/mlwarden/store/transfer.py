"""Copy one store into another: a DuckDB deployment onto PostgreSQL (+ ClickHouse for events).

:func:`copy_store` reads the source through the store protocols and writes the target through
them, so any engine pair works; it is what ``mlwarden migrate`` runs. Events and labels stream
in batches of ``batch_rows`` (memory stays bounded whatever the event count) and keep their
ids, versions, shadow flag, times and arrival times; results are re-written per (monitor,
segment, window); incidents keep their ids, versions, states and timelines
(:class:`~mlwarden.store.protocols.IncidentRestore`). Every step is idempotent, so a run that
stopped half-way is resumed by running it again: events and labels are appended by id,
results and incidents replace their rows, and the logs (notifications, action runs,
annotations) are copied only where the target has none of the project's yet.

:func:`row_counts` is the verification: counts per table and a few aggregates, compared
between source and target by :func:`verify`.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from mlwarden.errors import ConflictError, NotFoundError, UnsupportedByEngineError
from mlwarden.schema.annotation import AnnotationIn
from mlwarden.store.base import ModelRecord, Store
from mlwarden.store.protocols import IncidentRestore
from mlwarden.store.times import utc_naive

__all__ = ["Check", "compare", "copy_store", "is_empty", "row_counts", "verify"]

#: ``on_rows(step, n)``: ``n`` more rows of ``step`` were copied (for a progress bar)
OnRows = Callable[[str, int], None]

#: incidents read per page
_PAGE = 500
#: more rows than any project's notification or action log holds
_ALL = 10_000_000


@dataclass(frozen=True)
class Check:
    """One compared figure: its name and its value in the source and in the target."""

    what: str
    source: Any
    target: Any

    @property
    def ok(self) -> bool:
        """Equal, floats within 1e-9 relative (sums add up in another order elsewhere).

        Examples
        --------
        >>> Check("sum", 0.1 + 0.2, 0.3).ok, Check("events", 3, 2).ok
        (True, False)
        """
        if isinstance(self.source, float) and isinstance(self.target, float):
            return math.isclose(self.source, self.target, rel_tol=1e-9, abs_tol=1e-12)
        return bool(self.source == self.target)


def is_empty(store: Store) -> bool:
    """Whether ``store`` holds no model yet (a migration's target must, unless forced)."""
    return not store.list_models()


def _batches(table: Any, batch_rows: int) -> Iterator[pa.Table]:
    """An ibis table's rows as Arrow tables of at most ``batch_rows`` rows, streamed."""
    with warnings.catch_warnings():
        # ibis' DuckDB backend streams through DuckDB's deprecated `fetch_record_batch`; the
        # warning is DuckDB's advice to ibis, nothing a migration can act on
        warnings.filterwarnings("ignore", "fetch_record_batch", DeprecationWarning)
        reader = table.to_pyarrow_batches(chunk_size=batch_rows)
        for batch in reader:
            if batch.num_rows:
                yield pa.Table.from_batches([batch])


def _model(target: Store, src: ModelRecord) -> ModelRecord:
    try:
        return target.create_model(src.project, src.spec)
    except ConflictError:  # a second run: the model is there already
        return target.get_model(src.project, src.name)


def _copy_catalog(source: Store, target: Store, src: ModelRecord) -> ModelRecord:
    model = _model(target, src)
    have = {v.version for v in target.list_versions(src.project, src.name)}
    for v in source.list_versions(src.project, src.name):
        if v.version not in have:
            target.create_version(
                src.project,
                src.name,
                v.version,
                description=v.description,
                metadata=dict(v.metadata),
            )
    # the reference each version (and the model as a whole) uses; superseded ones are not kept
    have_refs = {(r.version, r.name, r.rows) for r in target.list_references(src.project, src.name)}
    seen: set[str | None] = set()
    for ref in reversed(source.list_references(src.project, src.name)):
        if ref.version in seen:
            continue
        seen.add(ref.version)
        if (ref.version, ref.name, ref.rows) in have_refs:
            continue
        _, data = source.get_reference(src.project, src.name, version=ref.version)
        target.put_reference(src.project, src.name, data, version=ref.version, name=ref.name)
    try:
        suite = source.get_suite(src.project, src.name)
    except NotFoundError:
        return model
    target.put_suite(src.project, src.name, suite.spec, suite.state)
    target.mark_evaluated(
        src.project,
        src.name,
        until=suite.evaluated_until,
        labels_until=suite.labels_seen_until,
        events_until=suite.events_seen_until,
    )
    return model


def _copy_rows(
    source: Store,
    target: Store,
    src: ModelRecord,
    model: ModelRecord,
    *,
    batch_rows: int,
    on_rows: OnRows,
) -> None:
    # in time order: each batch covers a time span of its own, in which the target's
    # idempotent append finds nothing stored yet on a first run and skips its look-up
    for batch in _batches(source.events(src, shadow=True).order_by("ts"), batch_rows):
        target.append_events(model, batch).result()
        on_rows("events", batch.num_rows)
    for batch in _batches(source.actuals(src), batch_rows):
        target.append_actuals(model, batch).result()
        on_rows("labels", batch.num_rows)
    results = source.results()
    mine = results.filter((results.project == src.project) & (results.model == src.name))
    for batch in _batches(mine.drop("project", "model"), batch_rows):
        target.write_results(src.project, src.name, batch)
        on_rows("results", batch.num_rows)


def _copy_project(source: Store, target: Store, project: str, models: list[str]) -> None:
    spec = source.get_alerting(project)
    if spec is not None:
        target.put_alerting(project, spec)
    if not isinstance(target, IncidentRestore):
        raise UnsupportedByEngineError(
            f"The {type(target).__name__} store does not implement 'restore_incidents'."
        )
    offset = 0
    while True:
        page = source.list_incidents(project, limit=_PAGE, offset=offset)
        target.restore_incidents(page)
        offset += len(page)
        if len(page) < _PAGE:
            break
    if not target.deliveries(project, limit=1):
        for d in reversed(source.deliveries(project, limit=_ALL)):
            target.record_delivery(project, d)
    if not target.action_runs(project, limit=1):
        for r in reversed(source.action_runs(project, limit=_ALL)):
            target.record_action(project, {**r, "at": r.get("run_at")})
    for model in [None, *models]:
        if target.annotations(project, model, limit=1):
            continue
        for a in reversed(source.annotations(project, model, limit=_ALL)):
            if a.model != model:
                continue  # a model's list holds its project's annotations too
            target.put_annotation(
                project,
                model,
                AnnotationIn(text=a.text, kind=a.kind, time=a.time, end=a.end, author=a.author),
            )


def copy_store(
    source: Store,
    target: Store,
    *,
    batch_rows: int = 50_000,
    on_rows: OnRows | None = None,
) -> None:
    """Copy every model of ``source`` (catalog, stored monitors and the scheduler's marks,
    events, labels, results), every project's incidents, alerting config, notifications,
    action runs and annotations, and the probes' and SLOs' specs into ``target``. Idempotent: run it again to resume.

    Examples
    --------
    >>> from mlwarden.schema.spec import ModelSpec
    >>> from mlwarden.store import open_store
    >>> src, dst = open_store(), open_store()
    >>> _ = src.create_model("p", ModelSpec(name="m", task="regression", features=[]))
    >>> copy_store(src, dst)
    >>> [m.name for m in dst.list_models("p")]
    ['m']
    >>> all(c.ok for c in verify(src, dst))
    True
    >>> src.close(); dst.close()
    """
    report = on_rows or (lambda step, n: None)
    by_project: dict[str, list[str]] = {}
    for src in source.list_models():
        model = _copy_catalog(source, target, src)
        _copy_rows(source, target, src, model, batch_rows=batch_rows, on_rows=report)
        by_project.setdefault(src.project, []).append(src.name)
    for project, models in by_project.items():
        _copy_project(source, target, project, models)
    for project, name, probe, spec in source.list_probes():  # specs: put replaces
        target.put_probe(project, name, probe, spec)
    for project, name, spec in source.list_slo_specs():
        target.put_slos(project, name, spec)


def _figures(table: Any, **exprs: Any) -> dict[str, Any]:
    """One aggregate query's values; an empty table's sums are ``None``, floats as floats."""
    row = table.aggregate(**exprs).to_pyarrow().to_pylist()[0]
    return {
        k: float(v)
        if isinstance(v, float | int) and "sum" in k
        else utc_naive(v)
        if isinstance(v, datetime)
        else v
        for k, v in row.items()
    }


def _event_figures(store: Store, model: ModelRecord) -> dict[str, Any]:
    ev = store.events(model, shadow=True)
    exprs: dict[str, Any] = {
        "events": ev.count(),
        "distinct event ids": ev.event_id.nunique(),
        "first event": ev.ts.min(),
        "last event": ev.ts.max(),
        "last arrival": ev.received_at.max(),
    }
    if "shadow" in ev.columns:
        exprs["shadow events"] = ev.shadow.sum()
    for f in model.spec.features:
        if f.name in ev.columns:
            t = ev[f.name].type()
            if t.is_numeric() and not t.is_boolean():
                exprs[f"sum of {f.name}"] = ev[f.name].sum()
    figures = _figures(ev, **exprs)
    figures["shadow events"] = int(figures.get("shadow events") or 0)
    ac = store.actuals(model)
    label_exprs: dict[str, Any] = {"labels": ac.count()}
    if "actual_value" in ac.columns:
        label_exprs["sum of labels"] = ac.actual_value.sum()
    return figures | _figures(ac, **label_exprs)


def row_counts(store: Store) -> dict[str, Any]:
    """Counts per table and a few aggregates of ``store``, keyed ``project/model: figure``
    (``project: figure`` for a project's own tables)."""
    out: dict[str, Any] = {}
    projects: dict[str, list[str]] = {}
    res = store.results()
    for m in store.list_models():
        key = f"{m.project}/{m.name}"
        projects.setdefault(m.project, []).append(m.name)
        for name, value in _event_figures(store, m).items():
            out[f"{key}: {name}"] = value
        mine = res.filter((res.project == m.project) & (res.model == m.name))
        figures = _figures(mine, results=mine.count(), sum_of_values=mine.value.sum())
        out[f"{key}: results"] = figures["results"]
        out[f"{key}: sum of result values"] = figures["sum_of_values"]
        out[f"{key}: versions"] = len(store.list_versions(m.project, m.name))
        out[f"{key}: annotations"] = sum(
            a.model == m.name for a in store.annotations(m.project, m.name, limit=_ALL)
        )
    for project in projects:
        incidents: list[dict[str, Any]] = []
        while len(page := store.list_incidents(project, limit=_PAGE, offset=len(incidents))):
            incidents += page
            if len(page) < _PAGE:
                break
        out[f"{project}: incidents"] = len(incidents)
        out[f"{project}: incident states"] = dict(
            sorted(Counter(str(i["state"]) for i in incidents).items())
        )
        out[f"{project}: incident versions"] = sum(int(i["version"] or 0) for i in incidents)
        out[f"{project}: notifications"] = len(store.deliveries(project, limit=_ALL))
        out[f"{project}: action runs"] = len(store.action_runs(project, limit=_ALL))
    out["probes"] = len(store.list_probes())
    out["SLO specs"] = len(store.list_slo_specs())
    return out


def compare(source: dict[str, Any], target: dict[str, Any]) -> list[Check]:
    """The figures of two :func:`row_counts`, side by side."""
    return [Check(k, source.get(k), target.get(k)) for k in sorted(source.keys() | target.keys())]


def verify(source: Store, target: Store) -> list[Check]:
    """Every figure of :func:`row_counts` in source and target, side by side."""
    return compare(row_counts(source), row_counts(target))
