"""The store's seams: small typed protocols carved out of :class:`~mlwarden.store.base.Store`.

Each protocol is one concern a caller can type against, and each has a contract suite under
``tests/store/contract/`` that every engine claiming it runs. :class:`Store` stays the union of
them (callers that still take the whole store keep working); ``base.py`` checks with mypy that
it conforms to every one. An engine says which it implements in full with
:attr:`Store.protocols`; the methods of the others raise
:class:`~mlwarden.errors.UnsupportedByEngineError` naming the method.

The list is open: a new table (probe results, ...) is a new small protocol here plus its
contract suite, not another method on a shared one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import pyarrow as pa

if TYPE_CHECKING:
    from mlwarden.schema.annotation import Annotation, AnnotationIn
    from mlwarden.schema.batch import Rejection
    from mlwarden.schema.spec import ModelSpec
    from mlwarden.store.base import (
        IngestResult,
        ModelRecord,
        ReferenceRecord,
        SuiteRow,
        VersionRecord,
    )
    from mlwarden.store.rollups import Rollup

__all__ = [
    "ActionLog",
    "AggregateHotPaths",
    "AggregateSource",
    "Annotations",
    "Catalog",
    "DeliveryLog",
    "EvalRepository",
    "EventLog",
    "GroupingSets",
    "IncidentRepository",
    "IncidentRestore",
    "PROTOCOLS",
    "Probes",
    "Results",
    "SchedulerLease",
    "RollupStore",
    "SpanLog",
    "Suites",
    "WindowVolumes",
]


@runtime_checkable
class Catalog(Protocol):
    """Projects' models (with their specs), versions and reference data sets."""

    def create_model(
        self, project: str, spec: ModelSpec, *, replace: bool = False
    ) -> ModelRecord: ...
    def get_model(self, project: str, name: str) -> ModelRecord: ...
    def list_models(self, project: str | None = None) -> list[ModelRecord]: ...
    def create_version(
        self,
        project: str,
        model: str,
        version: str,
        *,
        description: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> VersionRecord: ...
    def list_versions(self, project: str, model: str) -> list[VersionRecord]: ...
    def put_reference(
        self,
        project: str,
        model: str,
        data: pa.Table,
        *,
        version: str | None = None,
        name: str = "",
    ) -> ReferenceRecord: ...
    def get_reference(
        self, project: str, model: str, *, version: str | None = None
    ) -> tuple[ReferenceRecord, pa.Table]: ...
    def list_references(self, project: str, model: str) -> list[ReferenceRecord]: ...
    def delete_model(self, project: str, name: str) -> dict[str, int]: ...
    def rename_model(self, project: str, name: str, new_name: str) -> ModelRecord: ...
    def delete_version(self, project: str, model: str, version: str) -> dict[str, int]: ...
    def delete_reference(self, project: str, model: str, reference_id: int) -> None: ...


@runtime_checkable
class EventLog(Protocol):
    """A model's events and labels: appended idempotently, read back as ibis tables, and the
    time marks the scheduler builds windows from."""

    def append_events(
        self, model: ModelRecord, table: pa.Table, *, stamped: bool = False
    ) -> Future[IngestResult]: ...
    def append_actuals(self, model: ModelRecord, table: pa.Table) -> Future[IngestResult]: ...
    def quarantine(
        self, project: str, model: str, kind: str, rejections: list[Rejection]
    ) -> Future[IngestResult]: ...
    def events(self, model: ModelRecord, *, shadow: bool = False) -> Any: ...
    def actuals(self, model: ModelRecord) -> Any: ...
    def quarantined(
        self, project: str, model: str | None = None, *, limit: int = 100
    ) -> pa.Table: ...
    def quarantine_table(self) -> Any: ...
    def latest_label_time(self, model: ModelRecord) -> datetime | None: ...
    def labelled_event_range(self, model: ModelRecord, since: datetime) -> tuple[Any, Any]: ...
    def event_time_range(self, model: ModelRecord) -> tuple[Any, Any]: ...
    def latest_event_receipt(self, model: ModelRecord) -> datetime | None: ...
    def late_event_range(
        self, model: ModelRecord, since: datetime, until: datetime, before: datetime
    ) -> tuple[Any, Any]: ...
    def apply_retention(self, *, now: datetime | None = None) -> int: ...


@runtime_checkable
class AggregateSource(Protocol):
    """What :func:`mlwarden.store.aggregates.collect` reads: the ibis tables of a model's
    events, labels and rejected rows (its resource companion is looked up by name). The
    aggregates are written once in ibis against these; an engine may answer some requests
    faster in place, but the ibis path is the contract."""

    def get_model(self, project: str, name: str) -> ModelRecord: ...
    def events(self, model: ModelRecord, *, shadow: bool = False) -> Any: ...
    def actuals(self, model: ModelRecord) -> Any: ...
    def quarantine_table(self) -> Any: ...


@runtime_checkable
class AggregateHotPaths(Protocol):
    """An engine's own answers to some aggregate requests of
    :func:`~mlwarden.store.aggregates.collect` (one scan for every request of a kind, or
    batch mode's Arrow events counted in place); ``None``: run the portable ibis query, which
    stays the contract and the oracle in tests. Every store has them (``None`` by default)."""

    def numeric_histograms(
        self, model: ModelRecord, reqs: Sequence[Any], run: Any, segment: dict[str, str] | None
    ) -> dict[Any, dict[int, Any]] | None: ...
    def category_counts(
        self, model: ModelRecord, reqs: Sequence[Any], run: Any, segment: dict[str, str] | None
    ) -> dict[Any, dict[int, Any]] | None: ...
    def sample_rows(
        self, model: ModelRecord, req: Any, run: Any, segment: dict[str, str] | None
    ) -> dict[int, pa.Table] | None: ...
    def score_bins(self, src: Any, req: Any) -> dict[int, list[tuple[str, int, int]]] | None: ...


@runtime_checkable
class WindowVolumes(Protocol):
    """An engine's own answer to :class:`~mlwarden.store.aggregates.Volume` (events, errors,
    distinct ids, latency quantiles per window), where the portable ibis query would not give
    DuckDB's numbers bit for bit or fast enough; ``None``: run the ibis query."""

    def volumes(
        self, model: ModelRecord, run: Any, segment: dict[str, str] | None, *, light: bool
    ) -> dict[int, dict[str, Any]] | None: ...


@runtime_checkable
class SchedulerLease(Protocol):
    """Which of several server processes on one database runs the scheduler: the holder of
    the lease. ``hold_scheduler`` takes it when free and tells whether this store holds it
    (the lease goes with the holder's connection: a killed holder frees it)."""

    def hold_scheduler(self) -> bool: ...


@runtime_checkable
class SpanLog(Protocol):
    """Trace spans, GenAI log records, metric points and trace scores of a project."""

    def append_spans(self, project: str, table: pa.Table) -> Future[IngestResult]: ...
    def append_span_logs(self, project: str, table: pa.Table) -> Future[int]: ...
    def append_metric_points(self, project: str, table: pa.Table) -> Future[int]: ...
    def put_scores(self, project: str, table: pa.Table) -> Future[tuple[int, int]]: ...
    def fill_span_texts(self, project: str, table: pa.Table) -> Future[int]: ...
    def set_span_costs(self, project: str, table: pa.Table) -> Future[int]: ...
    def spans(self, project: str) -> Any: ...
    def span_logs(self, project: str) -> Any: ...
    def metric_points(self, project: str) -> Any: ...
    def scores(self, project: str) -> Any: ...


@runtime_checkable
class Probes(Protocol):
    """Synthetic probes (one JSON spec each), their results, and each model's SLO list with
    the counts SLOs are computed from (over probe results or the model's requests)."""

    def put_probe(self, project: str, model: str, name: str, spec: str) -> None: ...
    def delete_probe(self, project: str, model: str, name: str) -> bool: ...
    def list_probes(
        self, project: str | None = None, model: str | None = None
    ) -> list[tuple[str, str, str, str]]: ...
    def append_probe_results(
        self, project: str, model: str, rows: Sequence[dict[str, Any]]
    ) -> int: ...
    def probe_results(
        self, project: str, model: str, *, probe: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]: ...
    def last_probe_runs(self, project: str, model: str) -> dict[str, datetime]: ...
    def put_slos(self, project: str, model: str, spec: str) -> None: ...
    def list_slo_specs(self, project: str | None = None) -> list[tuple[str, str, str]]: ...
    def slo_counts(
        self,
        project: str,
        model: str,
        *,
        source: str,
        probe: str | None = None,
        threshold_ms: float | None = None,
        until: datetime,
        windows: Sequence[timedelta],
    ) -> dict[timedelta, tuple[int, int]]: ...
    def slo_series(
        self,
        project: str,
        model: str,
        *,
        source: str,
        probe: str | None = None,
        threshold_ms: float | None = None,
        since: datetime,
        until: datetime,
        step: timedelta,
    ) -> list[tuple[datetime, int, int]]: ...


@runtime_checkable
class Suites(Protocol):
    """A model's stored monitors (spec YAML, fitted state JSON) and the scheduler's marks."""

    def put_suite(self, project: str, model: str, spec: str, state: str) -> None: ...
    def get_suite(self, project: str, model: str) -> SuiteRow: ...
    def list_suites(self) -> list[tuple[str, str]]: ...
    def mark_evaluated(
        self,
        project: str,
        model: str,
        *,
        until: datetime | None = None,
        labels_until: datetime | None = None,
        events_until: datetime | None = None,
        spec: str | None = None,
    ) -> None: ...


@runtime_checkable
class Results(Protocol):
    """Monitor results: written per (monitor, segment, window), replacing earlier ones."""

    def write_results(self, project: str, model: str, rows: pa.Table) -> int: ...
    def results(self) -> Any: ...


@runtime_checkable
class RollupStore(Protocol):
    """Hourly roll-ups of a model's events for pages."""

    def rollup(
        self, model: ModelRecord, *, start: datetime, end: datetime, labels: bool = False
    ) -> Rollup: ...
    def refresh_rollups(self, model: ModelRecord, *, wait: bool = True) -> None: ...


@runtime_checkable
class IncidentRepository(Protocol):
    """Incidents (compare-and-set on ``version``) and each project's alerting config."""

    def new_incident_id(self) -> int: ...
    def incident_guard(self, project: str, model: str) -> AbstractContextManager[None]: ...
    def put_incidents(self, incidents: Sequence[dict[str, Any]]) -> list[int]: ...
    def get_incident(self, project: str, incident_id: int) -> dict[str, Any]: ...
    def list_incidents(
        self,
        project: str,
        *,
        model: str | None = None,
        state: Sequence[str] | None = None,
        signature: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[dict[str, Any]]: ...
    def find_incidents(
        self, project: str, text: str, *, limit: int = 20
    ) -> list[dict[str, Any]]: ...
    def count_incidents(
        self,
        project: str | None = None,
        *,
        model: str | None = None,
        state: Sequence[str] | None = None,
    ) -> list[tuple[str, str, str, str, int]]: ...
    def put_alerting(self, project: str, spec: str) -> None: ...
    def get_alerting(self, project: str) -> str | None: ...


@runtime_checkable
class IncidentRestore(Protocol):
    """Incidents written as they are, ids and versions kept, for a migration onto this store
    (:mod:`mlwarden.store.transfer`); later ids come after the restored ones."""

    def restore_incidents(self, incidents: Sequence[dict[str, Any]]) -> int: ...


@runtime_checkable
class DeliveryLog(Protocol):
    """Notifications sent (or not) per channel, so a restart does not send one twice."""

    def record_delivery(self, project: str, d: dict[str, Any]) -> None: ...
    def delivered(self, project: str, channel: str, key: str) -> bool: ...
    def deliveries(
        self, project: str, *, incident_id: int | None = None, limit: int = 100
    ) -> list[dict[str, Any]]: ...


@runtime_checkable
class ActionLog(Protocol):
    """The audit log of automated actions run on incidents."""

    def record_action(self, project: str, r: dict[str, Any]) -> None: ...
    def count_actions(self, project: str, action: str, since: datetime) -> int: ...
    def action_runs(
        self, project: str, *, incident_id: int | None = None, limit: int = 100
    ) -> list[dict[str, Any]]: ...


@runtime_checkable
class Annotations(Protocol):
    """Deploys, notes and incidents marked on charts."""

    def put_annotation(self, project: str, model: str | None, ann: AnnotationIn) -> Annotation: ...
    def annotations(
        self,
        project: str,
        model: str | None,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 500,
    ) -> list[Annotation]: ...
    def delete_annotation(
        self, project: str, model: str | None, annotation_id: int
    ) -> Annotation: ...


@runtime_checkable
class EvalRepository(Protocol):
    """Evaluation datasets, runs, outputs and grades (see :mod:`.eval_storage`)."""

    def create_dataset(
        self, project: str, name: str, description: str | None
    ) -> dict[str, Any]: ...
    def list_datasets(self, project: str) -> list[dict[str, Any]]: ...
    def get_dataset(self, project: str, name: str) -> dict[str, Any]: ...
    def add_items(
        self, project: str, name: str, items: Sequence[dict[str, Any]]
    ) -> dict[str, Any]: ...
    def dataset_items(
        self, project: str, name: str, version: int | None = None
    ) -> list[dict[str, Any]]: ...
    def put_run(self, project: str, run: dict[str, Any]) -> None: ...
    def update_run(self, project: str, run_id: str, **fields: Any) -> None: ...
    def interrupt_runs(self) -> int: ...
    def put_run_rows(
        self,
        project: str,
        run_id: str,
        outputs: Sequence[dict[str, Any]],
        grades: Sequence[dict[str, Any]],
    ) -> None: ...
    def get_run(self, project: str, run_id: str) -> dict[str, Any]: ...
    def list_runs(self, project: str, dataset: str | None = None) -> list[dict[str, Any]]: ...
    def run_outputs(self, project: str, run_id: str) -> list[dict[str, Any]]: ...
    def run_grades(self, project: str, run_id: str) -> list[dict[str, Any]]: ...


@runtime_checkable
class GroupingSets(Protocol):
    """``(n, sum, sum of squares)`` of a query's ``_y`` column per group of several grouping
    sets (slice discovery, champion/challenger): the ibis query per set is the contract; an
    engine may answer all sets in one scan."""

    def grouped_sums(
        self,
        base: Any,
        keys: Mapping[str, Any],
        sets: Sequence[tuple[str, ...]],
        *,
        limit: int,
    ) -> list[dict[tuple[Any, ...], tuple[int, float, float]]]: ...


#: Every seam, for engines' :attr:`~mlwarden.store.base.Store.protocols` and the contract
#: suites (``AggregateSource`` is a reading view of ``Catalog`` and ``EventLog``).
PROTOCOLS: tuple[type, ...] = (
    Catalog,
    EventLog,
    AggregateSource,
    SpanLog,
    Suites,
    Results,
    RollupStore,
    IncidentRepository,
    DeliveryLog,
    ActionLog,
    Annotations,
    EvalRepository,
    Probes,
)
