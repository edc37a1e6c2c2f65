"""The engine seam: what every storage engine provides, and the engine registry.

Engines own every query. Aggregates are written once in ibis
(:mod:`mlwarden.store.queries`) against the ibis tables an engine hands out,
so the same monitors run on DuckDB and, later, on a distributed engine.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, NamedTuple

import pyarrow as pa

from mlwarden._registry import Registry
from mlwarden.schema.annotation import Annotation, AnnotationIn
from mlwarden.schema.batch import Rejection
from mlwarden.schema.spec import ModelSpec
from mlwarden.store import protocols as seams
from mlwarden.store.eval_storage import EvalStorage
from mlwarden.store.grouping_sets import Groups, grouped_sums_ibis
from mlwarden.store.rollups import Rollup
from mlwarden.store.slo_storage import SloStorage

__all__ = [
    "ENGINES",
    "IncidentStorage",
    "IngestResult",
    "ModelRecord",
    "ReferenceRecord",
    "Store",
    "SuiteRow",
    "VersionRecord",
]


class SuiteRow(NamedTuple):
    """A model's stored monitors and the scheduler's marks, read in one go."""

    spec: str
    state: str
    #: windows evaluated up to here
    evaluated_until: datetime | None
    #: labels received up to here were looked at
    labels_seen_until: datetime | None
    #: events received up to here were looked for late arrivals (None: never)
    events_seen_until: datetime | None


@dataclass(frozen=True)
class ModelRecord:
    project: str
    name: str
    uid: int
    spec: ModelSpec
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class VersionRecord:
    project: str
    model: str
    version: str
    created_at: datetime
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReferenceRecord:
    uid: int
    project: str
    model: str
    version: str | None
    rows: int
    columns: tuple[str, ...]
    created_at: datetime
    name: str = ""


@dataclass(frozen=True)
class IngestResult:
    """What one write did: rows received, rows newly stored, rows already present."""

    received: int
    inserted: int

    @property
    def duplicates(self) -> int:
        return self.received - self.inserted


class IncidentStorage(ABC):
    """What an engine stores for the incidents layer: incident rows (see
    :data:`mlwarden.store.duckdb_incidents.INCIDENT_COLUMNS`; ``body`` is JSON), the
    notification log, the actions' audit log and each project's alerting config (YAML)."""

    @abstractmethod
    def new_incident_id(self) -> int: ...

    @abstractmethod
    def incident_guard(self, project: str, model: str) -> AbstractContextManager[None]:
        """Held while a model's incidents are read, folded and written back, so two
        evaluations of one model (the scheduler and a backfill request, or two servers on one
        database) cannot both open an incident for the same problem: the second one sees the
        first one's incident. Human actions need not hold it (compare-and-set covers them)."""

    @abstractmethod
    def put_incidents(self, incidents: Sequence[dict[str, Any]]) -> list[int]:
        """Compare-and-set, all rows or none: each row's ``version`` must be the stored one
        (0 for a new incident), and a stored row's version becomes one more. Returns the ids
        whose stored version moved on (nothing written): re-read them, re-apply, try again."""

    @abstractmethod
    def get_incident(self, project: str, incident_id: int) -> dict[str, Any]: ...

    @abstractmethod
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

    @abstractmethod
    def find_incidents(self, project: str, text: str, *, limit: int = 20) -> list[dict[str, Any]]:
        """Incidents of ``project`` whose title or model holds ``text`` (any case), or whose id
        it is (``12`` or ``#12``); newest first, at most ``limit``."""

    @abstractmethod
    def count_incidents(
        self,
        project: str | None = None,
        *,
        model: str | None = None,
        state: Sequence[str] | None = None,
    ) -> list[tuple[str, str, str, str, int]]: ...

    @abstractmethod
    def record_delivery(self, project: str, d: dict[str, Any]) -> None: ...

    @abstractmethod
    def delivered(self, project: str, channel: str, key: str) -> bool: ...

    @abstractmethod
    def deliveries(
        self, project: str, *, incident_id: int | None = None, limit: int = 100
    ) -> list[dict[str, Any]]: ...

    @abstractmethod
    def record_action(self, project: str, r: dict[str, Any]) -> None: ...

    @abstractmethod
    def count_actions(self, project: str, action: str, since: datetime) -> int: ...

    @abstractmethod
    def action_runs(
        self, project: str, *, incident_id: int | None = None, limit: int = 100
    ) -> list[dict[str, Any]]: ...

    @abstractmethod
    def put_alerting(self, project: str, spec: str) -> None: ...

    @abstractmethod
    def get_alerting(self, project: str) -> str | None: ...


class AggregateDefaults:
    """The aggregate hot paths (:class:`~mlwarden.store.protocols.AggregateHotPaths`) an
    engine may answer in one scan; None here, so the portable ibis query runs. Every
    :class:`Store` has them, and so has a read-only aggregate source that is not a store (the
    Spark engine over lake tables)."""

    def numeric_histograms(
        self, model: ModelRecord, reqs: Sequence[Any], run: Any, segment: dict[str, str] | None
    ) -> dict[Any, dict[int, Any]] | None:
        """Every numeric histogram of a window run in one scan, or None."""
        return None

    def category_counts(
        self, model: ModelRecord, reqs: Sequence[Any], run: Any, segment: dict[str, str] | None
    ) -> dict[Any, dict[int, Any]] | None:
        """Category counts of several columns in one scan, or None."""
        return None

    def sample_rows(
        self, model: ModelRecord, req: Any, run: Any, segment: dict[str, str] | None
    ) -> dict[int, pa.Table] | None:
        """The multivariate sample of each window, or None."""
        return None

    def score_bins(self, src: Any, req: Any) -> dict[int, list[tuple[str, int, int]]] | None:
        """Score histograms per class of the ibis table ``src``, or None."""
        return None


class Store(AggregateDefaults, IncidentStorage, EvalStorage, SloStorage, ABC):
    """A storage engine. Writes go through a group-commit writer; reads are ibis.

    The union of the small protocols of :mod:`mlwarden.store.protocols`; new callers type
    against those."""

    kind: ClassVar[str]
    #: the protocols this engine implements in full (and whose contract suites it runs); the
    #: methods of the others raise :class:`~mlwarden.errors.UnsupportedByEngineError`
    protocols: ClassVar[frozenset[type]] = frozenset(seams.PROTOCOLS)

    # -- catalog -----------------------------------------------------------------------------
    @abstractmethod
    def create_model(
        self, project: str, spec: ModelSpec, *, replace: bool = False
    ) -> ModelRecord: ...

    @abstractmethod
    def get_model(self, project: str, name: str) -> ModelRecord: ...

    @abstractmethod
    def list_models(self, project: str | None = None) -> list[ModelRecord]: ...

    @abstractmethod
    def create_version(
        self,
        project: str,
        model: str,
        version: str,
        *,
        description: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> VersionRecord: ...

    @abstractmethod
    def list_versions(self, project: str, model: str) -> list[VersionRecord]: ...

    @abstractmethod
    def put_reference(
        self,
        project: str,
        model: str,
        data: pa.Table,
        *,
        version: str | None = None,
        name: str = "",
    ) -> ReferenceRecord: ...

    @abstractmethod
    def get_reference(
        self, project: str, model: str, *, version: str | None = None
    ) -> tuple[ReferenceRecord, pa.Table]: ...

    @abstractmethod
    def list_references(self, project: str, model: str) -> list[ReferenceRecord]: ...

    @abstractmethod
    def delete_model(self, project: str, name: str) -> dict[str, int]:
        """Delete a model and all its data; the rows removed per table."""

    @abstractmethod
    def rename_model(self, project: str, name: str, new_name: str) -> ModelRecord:
        """Rename a model; its data, monitors and incidents follow it."""

    @abstractmethod
    def delete_version(self, project: str, model: str, version: str) -> dict[str, int]:
        """Delete a version's events, labels and references; the rows removed per table."""

    @abstractmethod
    def delete_reference(self, project: str, model: str, reference_id: int) -> None:
        """Delete one reference."""

    # -- annotations (markers on charts) --------------------------------------------------------
    @abstractmethod
    def put_annotation(self, project: str, model: str | None, ann: AnnotationIn) -> Annotation:
        """Store an annotation of ``model`` (None: the whole project); ``time`` defaults to
        now. An unknown model raises :class:`~mlwarden.errors.NotFoundError`."""

    @abstractmethod
    def annotations(
        self,
        project: str,
        model: str | None,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 500,
    ) -> list[Annotation]:
        """Annotations of ``model`` and of the whole project (only those when None) that
        overlap ``[start, end)``, oldest first."""

    @abstractmethod
    def delete_annotation(self, project: str, model: str | None, annotation_id: int) -> Annotation:
        """Delete one annotation of ``model`` (None: of the whole project); returns it."""

    # -- ingest ------------------------------------------------------------------------------
    @abstractmethod
    def append_events(
        self, model: ModelRecord, table: pa.Table, *, stamped: bool = False
    ) -> Future[IngestResult]:
        """Store canonical events (see :func:`mlwarden.schema.canonical_schema`).

        Idempotent on (``event_id``, ``version``): an event already stored with the same id,
        version and timestamp is not stored again (another version's event of the same id is
        a shadow prediction for the same request, and is stored). ``stamped``: some rows were
        given the arrival time as timestamp, so their earlier copies may lie up to the engine's
        dedup look-back before it.
        """

    @abstractmethod
    def append_actuals(self, model: ModelRecord, table: pa.Table) -> Future[IngestResult]:
        """Store actuals (:data:`mlwarden.schema.batch.ACTUAL_SCHEMA`); the latest label per event wins."""

    @abstractmethod
    def quarantine(
        self, project: str, model: str, kind: str, rejections: list[Rejection]
    ) -> Future[IngestResult]: ...

    @abstractmethod
    def append_spans(self, project: str, table: pa.Table) -> Future[IngestResult]:
        """Store trace spans (:data:`mlwarden.schema.genai.SPAN_SCHEMA`; ``project`` is set
        here). Idempotent on (``trace_id``, ``span_id``) within the project."""

    @abstractmethod
    def append_span_logs(self, project: str, table: pa.Table) -> Future[int]:
        """Store GenAI log records (:data:`mlwarden.schema.otlp_logs.LOG_SCHEMA`)."""

    def span_logs_of(self, project: str, trace_ids: Sequence[str]) -> pa.Table:
        """The project's GenAI log records of the traces ``trace_ids`` (every column of
        :meth:`span_logs`). Runs on every trace export whose LLM spans came without texts:
        engines override it with one plain query (the ibis expression here compiles slowly)."""
        logs = self.span_logs(project)
        found: pa.Table = logs.filter(logs.trace_id.isin(list(trace_ids))).to_pyarrow()
        return found

    @abstractmethod
    def append_metric_points(self, project: str, table: pa.Table) -> Future[int]:
        """Store metric data points (:data:`mlwarden.schema.otlp_metrics.METRIC_SCHEMA`)."""

    @abstractmethod
    def put_scores(self, project: str, table: pa.Table) -> Future[tuple[int, int]]:
        """Store trace scores (:data:`mlwarden.schema.scores.SCORE_SCHEMA`); a stored score
        of the same ``id`` is replaced. Returns (new ids, replaced scores)."""

    @abstractmethod
    def scores(self, project: str) -> Any:
        """The project's trace scores as an ibis table expression."""

    @abstractmethod
    def fill_span_texts(self, project: str, table: pa.Table) -> Future[int]:
        """Set the texts (and their check results) of stored spans that have none, from
        (``trace_id``, ``span_id``, :data:`mlwarden.schema.otlp_logs.TEXT_COLUMNS`) rows."""

    @abstractmethod
    def set_span_costs(self, project: str, table: pa.Table) -> Future[int]:
        """Set the cost of stored spans from (``trace_id``, ``span_id``, ``cost``,
        ``price_version``, ``cost_source``) rows (a recost after a price change); spans that
        reported their own cost keep it. Returns how many spans changed."""

    # -- reads -------------------------------------------------------------------------------
    @abstractmethod
    def spans(self, project: str) -> Any:
        """The project's trace spans as an ibis table expression."""

    @abstractmethod
    def span_logs(self, project: str) -> Any:
        """The project's GenAI log records as an ibis table expression."""

    @abstractmethod
    def metric_points(self, project: str) -> Any:
        """The project's metric data points as an ibis table expression."""

    @abstractmethod
    def events(self, model: ModelRecord, *, shadow: bool = False) -> Any:
        """The model's traffic as an ibis table expression: its events without the shadow
        predictions (:mod:`mlwarden.store.traffic`), or all of them with ``shadow``."""

    @abstractmethod
    def actuals(self, model: ModelRecord) -> Any:
        """The model's actuals as an ibis table expression."""

    @abstractmethod
    def quarantined(
        self, project: str, model: str | None = None, *, limit: int = 100
    ) -> pa.Table: ...

    # -- monitors and results ------------------------------------------------------------------
    @abstractmethod
    def put_suite(self, project: str, model: str, spec: str, state: str) -> None:
        """Store a model's monitoring spec (YAML) and fitted state (JSON)."""

    @abstractmethod
    def get_suite(self, project: str, model: str) -> SuiteRow:
        """The model's monitors (spec YAML, state JSON) and the scheduler's marks."""

    @abstractmethod
    def list_suites(self) -> list[tuple[str, str]]: ...

    @abstractmethod
    def mark_evaluated(
        self,
        project: str,
        model: str,
        *,
        until: datetime | None = None,
        labels_until: datetime | None = None,
        events_until: datetime | None = None,
        spec: str | None = None,
    ) -> None:
        """Move a model's marks: windows evaluated up to ``until``, labels and events
        received up to ``labels_until`` / ``events_until`` looked at. With ``spec``, only if
        the stored monitors are still ``spec``: a set-up meanwhile reset the marks, and a
        run of the monitors it replaced must not move them (its windows would be skipped)."""

    @abstractmethod
    def write_results(self, project: str, model: str, rows: pa.Table) -> int:
        """Store results, replacing those of the same monitor, segment and window."""

    @abstractmethod
    def rollup(
        self, model: ModelRecord, *, start: datetime, end: datetime, labels: bool = False
    ) -> Rollup:
        """Hourly roll-ups of a model's events in ``[start, end)``
        (:mod:`mlwarden.store.rollups`), up to date with what is stored; ``labels``: with
        labelled and correct counts, which may lag by a few minutes."""

    @abstractmethod
    def refresh_rollups(self, model: ModelRecord, *, wait: bool = True) -> None:
        """Bring a model's stored roll-ups, labels included, up to date."""

    @abstractmethod
    def results(self) -> Any:
        """Monitor results as an ibis table."""

    @abstractmethod
    def latest_label_time(self, model: ModelRecord) -> datetime | None: ...

    @abstractmethod
    def labelled_event_range(self, model: ModelRecord, since: datetime) -> tuple[Any, Any]: ...

    @abstractmethod
    def event_time_range(self, model: ModelRecord) -> tuple[Any, Any]: ...

    @abstractmethod
    def latest_event_receipt(self, model: ModelRecord) -> datetime | None:
        """When the model's most recent events were received."""

    @abstractmethod
    def late_event_range(
        self, model: ModelRecord, since: datetime, until: datetime, before: datetime
    ) -> tuple[Any, Any]:
        """Earliest and latest event time of events received in ``(since, until]`` whose
        event time is before ``before`` (in windows evaluated already)."""

    @abstractmethod
    def quarantine_table(self) -> Any:
        """Rejected rows as an ibis table."""

    @abstractmethod
    def apply_retention(self, *, now: datetime | None = None) -> int:
        """Delete raw events older than the retention period; return how many."""

    @abstractmethod
    def close(self) -> None: ...

    def grouped_sums(
        self,
        base: Any,
        keys: Mapping[str, Any],
        sets: Sequence[tuple[str, ...]],
        *,
        limit: int,
    ) -> Groups:
        """``(n, sum, sum of squares)`` of ``base._y`` (an ibis table of this store) per group
        of each grouping set (tuples of names of ``keys``, the key expressions), at most
        ``limit`` groups per set, the largest first. One ibis query per set here; engines may
        answer every set in one scan."""
        return grouped_sums_ibis(base, keys, sets, limit=limit)

    def use_arrow_events(
        self, model: ModelRecord, table: pa.Table, *, unique_ids: bool = False
    ) -> None:
        """Batch mode: answer the model's event queries from ``table`` (validated events).
        Appended here; an engine may scan the Arrow table in place instead (no copy).
        ``unique_ids``: the caller made the event ids unique (an engine may count rows for
        distinct ids)."""
        self.append_events(model, table).result()

    def warm_up(self) -> None:
        """Import and open what the first query needs, before requests come (an engine with
        an ibis backend opens it here); nothing by default."""

    def write_stats(self) -> tuple[int, int]:
        """(rows committed, commits) since the store was opened, for ``/v1/health``; zeros
        for an engine that does not count them."""
        return 0, 0

    def warnings(self) -> list[str]:
        """Problems found when the store was opened that an operator must see (logs,
        ``/v1/health``), e.g. acknowledged writes missing after a crash; none by default."""
        return []

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


ENGINES: Registry[type[Store]] = Registry("engine")


def _conforms(
    store: Store,
) -> tuple[
    seams.Catalog,
    seams.EventLog,
    seams.AggregateSource,
    seams.SpanLog,
    seams.Suites,
    seams.Results,
    seams.RollupStore,
    seams.IncidentRepository,
    seams.DeliveryLog,
    seams.ActionLog,
    seams.Annotations,
    seams.EvalRepository,
    seams.Probes,
    seams.GroupingSets,
    seams.AggregateHotPaths,
]:
    """Never called: mypy checks here that a :class:`Store` is every protocol."""
    s = store
    return (s, s, s, s, s, s, s, s, s, s, s, s, s, s, s)
