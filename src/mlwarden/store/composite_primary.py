"""The primary store's methods, unchanged, for :class:`~mlwarden.store.composite.CompositeStore`:
the catalog, monitors, results, incidents, spans, evaluations, probes and SLO specs stay in the
primary (DuckDB or PostgreSQL) when events go to ClickHouse."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import pyarrow as pa

from mlwarden.errors import UnsupportedByEngineError
from mlwarden.schema.annotation import Annotation, AnnotationIn
from mlwarden.schema.batch import Rejection
from mlwarden.store.base import (
    IngestResult,
    ModelRecord,
    ReferenceRecord,
    Store,
    SuiteRow,
    VersionRecord,
)
from mlwarden.store.protocols import IncidentRestore

__all__ = ["PrimaryDelegate"]


class PrimaryDelegate(Store):
    """Every method of :class:`~mlwarden.store.base.Store` the composite does not change,
    and the primary's probes and SLO specs (DuckDB's: ``Any`` here, they are no protocol
    yet), passed to ``primary``."""

    primary: Store

    @property
    def _extras(self) -> Any:
        return self.primary

    def put_probe(self, project: str, model: str, name: str, spec: str) -> None:
        self._extras.put_probe(project, model, name, spec)

    def delete_probe(self, project: str, model: str, name: str) -> bool:
        return bool(self._extras.delete_probe(project, model, name))

    def list_probes(
        self, project: str | None = None, model: str | None = None
    ) -> list[tuple[str, str, str, str]]:
        probes: list[tuple[str, str, str, str]] = self._extras.list_probes(project, model)
        return probes

    def append_probe_results(self, project: str, model: str, rows: Sequence[dict[str, Any]]) -> int:
        return int(self._extras.append_probe_results(project, model, rows))

    def probe_results(
        self, project: str, model: str, *, probe: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self._extras.probe_results(
            project, model, probe=probe, limit=limit
        )
        return rows

    def last_probe_runs(self, project: str, model: str) -> dict[str, datetime]:
        runs: dict[str, datetime] = self._extras.last_probe_runs(project, model)
        return runs

    def put_slos(self, project: str, model: str, spec: str) -> None:
        self._extras.put_slos(project, model, spec)

    def list_slo_specs(self, project: str | None = None) -> list[tuple[str, str, str]]:
        specs: list[tuple[str, str, str]] = self._extras.list_slo_specs(project)
        return specs

    def action_runs(
        self, project: str, *, incident_id: int | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        return self.primary.action_runs(project, incident_id=incident_id, limit=limit)

    def add_items(self, project: str, name: str, items: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return self.primary.add_items(project, name, items)

    def annotations(
        self,
        project: str,
        model: str | None,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 500,
    ) -> list[Annotation]:
        return self.primary.annotations(project, model, start=start, end=end, limit=limit)

    def append_metric_points(self, project: str, table: pa.Table) -> Future[int]:
        return self.primary.append_metric_points(project, table)

    def append_span_logs(self, project: str, table: pa.Table) -> Future[int]:
        return self.primary.append_span_logs(project, table)

    def append_spans(self, project: str, table: pa.Table) -> Future[IngestResult]:
        return self.primary.append_spans(project, table)

    def count_actions(self, project: str, action: str, since: datetime) -> int:
        return self.primary.count_actions(project, action, since)

    def count_incidents(
        self,
        project: str | None = None,
        *,
        model: str | None = None,
        state: Sequence[str] | None = None,
    ) -> list[tuple[str, str, str, str, int]]:
        return self.primary.count_incidents(project, model=model, state=state)

    def create_dataset(self, project: str, name: str, description: str | None) -> dict[str, Any]:
        return self.primary.create_dataset(project, name, description)

    def create_version(
        self,
        project: str,
        model: str,
        version: str,
        *,
        description: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> VersionRecord:
        return self.primary.create_version(
            project, model, version, description=description, metadata=metadata
        )

    def dataset_items(
        self, project: str, name: str, version: int | None = None
    ) -> list[dict[str, Any]]:
        return self.primary.dataset_items(project, name, version)

    def delete_annotation(self, project: str, model: str | None, annotation_id: int) -> Annotation:
        return self.primary.delete_annotation(project, model, annotation_id)

    def delete_reference(self, project: str, model: str, reference_id: int) -> None:
        return self.primary.delete_reference(project, model, reference_id)

    def delivered(self, project: str, channel: str, key: str) -> bool:
        return self.primary.delivered(project, channel, key)

    def deliveries(
        self, project: str, *, incident_id: int | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        return self.primary.deliveries(project, incident_id=incident_id, limit=limit)

    def fill_span_texts(self, project: str, table: pa.Table) -> Future[int]:
        return self.primary.fill_span_texts(project, table)

    def find_incidents(self, project: str, text: str, *, limit: int = 20) -> list[dict[str, Any]]:
        return self.primary.find_incidents(project, text, limit=limit)

    def get_alerting(self, project: str) -> str | None:
        return self.primary.get_alerting(project)

    def get_dataset(self, project: str, name: str) -> dict[str, Any]:
        return self.primary.get_dataset(project, name)

    def get_incident(self, project: str, incident_id: int) -> dict[str, Any]:
        return self.primary.get_incident(project, incident_id)

    def get_model(self, project: str, name: str) -> ModelRecord:
        return self.primary.get_model(project, name)

    def get_reference(
        self, project: str, model: str, *, version: str | None = None
    ) -> tuple[ReferenceRecord, pa.Table]:
        return self.primary.get_reference(project, model, version=version)

    def get_run(self, project: str, run_id: str) -> dict[str, Any]:
        return self.primary.get_run(project, run_id)

    def get_suite(self, project: str, model: str) -> SuiteRow:
        return self.primary.get_suite(project, model)

    def interrupt_runs(self) -> int:
        return self.primary.interrupt_runs()

    def list_datasets(self, project: str) -> list[dict[str, Any]]:
        return self.primary.list_datasets(project)

    def list_incidents(
        self,
        project: str,
        *,
        model: str | None = None,
        state: Sequence[str] | None = None,
        signature: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        return self.primary.list_incidents(
            project, model=model, state=state, signature=signature, limit=limit, offset=offset
        )

    def list_models(self, project: str | None = None) -> list[ModelRecord]:
        return self.primary.list_models(project)

    def list_references(self, project: str, model: str) -> list[ReferenceRecord]:
        return self.primary.list_references(project, model)

    def list_runs(self, project: str, dataset: str | None = None) -> list[dict[str, Any]]:
        return self.primary.list_runs(project, dataset)

    def list_suites(self) -> list[tuple[str, str]]:
        return self.primary.list_suites()

    def list_versions(self, project: str, model: str) -> list[VersionRecord]:
        return self.primary.list_versions(project, model)

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
        return self.primary.mark_evaluated(
            project,
            model,
            until=until,
            labels_until=labels_until,
            events_until=events_until,
            spec=spec,
        )

    def metric_points(self, project: str) -> Any:
        return self.primary.metric_points(project)

    def new_incident_id(self) -> int:
        return self.primary.new_incident_id()

    def restore_incidents(self, incidents: Sequence[dict[str, Any]]) -> int:
        if not isinstance(self.primary, IncidentRestore):
            raise UnsupportedByEngineError(
                f"The {type(self.primary).__name__} store does not implement 'restore_incidents'."
            )
        return self.primary.restore_incidents(incidents)

    def incident_guard(self, project: str, model: str) -> AbstractContextManager[None]:
        return self.primary.incident_guard(project, model)

    def put_alerting(self, project: str, spec: str) -> None:
        return self.primary.put_alerting(project, spec)

    def put_annotation(self, project: str, model: str | None, ann: AnnotationIn) -> Annotation:
        return self.primary.put_annotation(project, model, ann)

    def put_incidents(self, incidents: Sequence[dict[str, Any]]) -> list[int]:
        return self.primary.put_incidents(incidents)

    def put_reference(
        self,
        project: str,
        model: str,
        data: pa.Table,
        *,
        version: str | None = None,
        name: str = "",
    ) -> ReferenceRecord:
        return self.primary.put_reference(project, model, data, version=version, name=name)

    def put_run(self, project: str, run: dict[str, Any]) -> None:
        return self.primary.put_run(project, run)

    def put_run_rows(
        self,
        project: str,
        run_id: str,
        outputs: Sequence[dict[str, Any]],
        grades: Sequence[dict[str, Any]],
    ) -> None:
        return self.primary.put_run_rows(project, run_id, outputs, grades)

    def put_scores(self, project: str, table: pa.Table) -> Future[tuple[int, int]]:
        return self.primary.put_scores(project, table)

    def put_suite(self, project: str, model: str, spec: str, state: str) -> None:
        return self.primary.put_suite(project, model, spec, state)

    def quarantine(
        self, project: str, model: str, kind: str, rejections: list[Rejection]
    ) -> Future[IngestResult]:
        return self.primary.quarantine(project, model, kind, rejections)

    def quarantine_table(self) -> Any:
        return self.primary.quarantine_table()

    def quarantined(self, project: str, model: str | None = None, *, limit: int = 100) -> pa.Table:
        return self.primary.quarantined(project, model, limit=limit)

    def record_action(self, project: str, r: dict[str, Any]) -> None:
        return self.primary.record_action(project, r)

    def record_delivery(self, project: str, d: dict[str, Any]) -> None:
        return self.primary.record_delivery(project, d)

    def rename_model(self, project: str, name: str, new_name: str) -> ModelRecord:
        return self.primary.rename_model(project, name, new_name)

    def results(self) -> Any:
        return self.primary.results()

    def run_grades(self, project: str, run_id: str) -> list[dict[str, Any]]:
        return self.primary.run_grades(project, run_id)

    def run_outputs(self, project: str, run_id: str) -> list[dict[str, Any]]:
        return self.primary.run_outputs(project, run_id)

    def scores(self, project: str) -> Any:
        return self.primary.scores(project)

    def set_span_costs(self, project: str, table: pa.Table) -> Future[int]:
        return self.primary.set_span_costs(project, table)

    def span_logs(self, project: str) -> Any:
        return self.primary.span_logs(project)

    def spans(self, project: str) -> Any:
        return self.primary.spans(project)

    def update_run(self, project: str, run_id: str, **fields: Any) -> None:
        return self.primary.update_run(project, run_id, **fields)

    def write_results(self, project: str, model: str, rows: pa.Table) -> int:
        return self.primary.write_results(project, model, rows)
