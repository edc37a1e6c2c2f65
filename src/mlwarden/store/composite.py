"""One store made of two engines: a primary (catalog, monitors, results, incidents, spans) and
an event engine (events, labels, and what is computed from them).

``mlwarden serve --events chdb:///path | clickhouse://host:8123/db`` keeps the transactional
state in the primary store (DuckDB, or PostgreSQL with ``--store``) and the high-volume event
log in ClickHouse (:class:`~mlwarden.store.ch_events.ClickHouseEvents`). The composite
delegates by protocol: :class:`~mlwarden.store.protocols.EventLog`,
:class:`~mlwarden.store.protocols.AggregateSource`'s tables,
:class:`~mlwarden.store.protocols.WindowVolumes` and
:class:`~mlwarden.store.protocols.RollupStore` go to the event engine; the catalog goes to the
primary, and removing a model or a version removes its rows in both. Rejected rows stay in the
primary (a few, read by the page of rejected rows, never joined with events).

:attr:`CompositeStore.protocols` names the seams the composite changes (their contract suites
run on it); every other method is the primary's, as it is, checked by the primary's suites.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from datetime import datetime, timedelta
from typing import Any, ClassVar

import pyarrow as pa

from mlwarden.schema.spec import ModelSpec
from mlwarden.store.base import (
    ENGINES,
    IngestResult,
    ModelRecord,
    Store,
)
from mlwarden.store.ch_events import ClickHouseEvents
from mlwarden.store.ch_slo import request_slo_counts, request_slo_series
from mlwarden.store.composite_primary import PrimaryDelegate
from mlwarden.store.protocols import AggregateSource, Catalog, EventLog, RollupStore
from mlwarden.store.rollups import Rollup

__all__ = ["CompositeStore"]


@ENGINES.register
class CompositeStore(PrimaryDelegate):
    """``primary`` for everything but events; ``events`` (over ``primary``'s catalog) for
    events, labels and their aggregates. Closing the composite closes both.

    Open one with :func:`mlwarden.store.open_store` (``events=URL``)."""

    kind: ClassVar[str] = "clickhouse"
    protocols: ClassVar[frozenset[type]] = frozenset(
        {Catalog, EventLog, AggregateSource, RollupStore}
    )

    def __init__(self, primary: Store, events: ClickHouseEvents) -> None:
        self.primary = primary
        self.events_ = events

    @property
    def retention_days(self) -> float | None:
        return self.events_.retention_days

    @retention_days.setter
    def retention_days(self, days: float | None) -> None:
        self.events_.retention_days = days
        self.primary.retention_days = days  # type: ignore[attr-defined]

    # -- the event engine ----------------------------------------------------------------------
    def append_events(
        self, model: ModelRecord, table: pa.Table, *, stamped: bool = False
    ) -> Future[IngestResult]:
        return self.events_.append_events(model, table, stamped=stamped)

    def append_actuals(self, model: ModelRecord, table: pa.Table) -> Future[IngestResult]:
        return self.events_.append_actuals(model, table)

    def events(self, model: ModelRecord, *, shadow: bool = False) -> Any:
        return self.events_.events(model, shadow=shadow)

    def actuals(self, model: ModelRecord) -> Any:
        return self.events_.actuals(model)

    def backend(self) -> Any:
        """The event engine's ibis backend (what pages' queries of events run on)."""
        return self.events_.backend()

    def numeric_histograms(
        self, model: ModelRecord, reqs: Sequence[Any], run: Any, segment: dict[str, str] | None
    ) -> dict[Any, dict[int, Any]]:
        return self.events_.numeric_histograms(model, reqs, run, segment)

    def score_bins(self, src: Any, req: Any) -> dict[int, list[tuple[str, int, int]]]:
        return self.events_.score_bins(src, req)

    def volumes(
        self, model: ModelRecord, run: Any, segment: dict[str, str] | None, *, light: bool
    ) -> dict[int, dict[str, Any]] | None:
        return self.events_.volumes(model, run, segment, light=light)

    def latest_label_time(self, model: ModelRecord) -> datetime | None:
        return self.events_.latest_label_time(model)

    def labelled_event_range(self, model: ModelRecord, since: datetime) -> tuple[Any, Any]:
        return self.events_.labelled_event_range(model, since)

    def event_time_range(self, model: ModelRecord) -> tuple[Any, Any]:
        return self.events_.event_time_range(model)

    def latest_event_receipt(self, model: ModelRecord) -> datetime | None:
        return self.events_.latest_event_receipt(model)

    def late_event_range(
        self, model: ModelRecord, since: datetime, until: datetime, before: datetime
    ) -> tuple[Any, Any]:
        return self.events_.late_event_range(model, since, until, before)

    def rollup(
        self, model: ModelRecord, *, start: datetime, end: datetime, labels: bool = False
    ) -> Rollup:
        return self.events_.rollup(model, start=start, end=end, labels=labels)

    def refresh_rollups(self, model: ModelRecord, *, wait: bool = True) -> None:
        """Nothing to refresh: roll-ups are computed when read."""

    def apply_retention(self, *, now: datetime | None = None) -> int:
        self.primary.apply_retention(now=now)  # spans, logs and scores of the primary
        return self.events_.apply_retention(self.primary.list_models(), now=now)

    # -- both ----------------------------------------------------------------------------------
    def create_model(self, project: str, spec: ModelSpec, *, replace: bool = False) -> ModelRecord:
        rec = self.primary.create_model(project, spec, replace=replace)
        self.events_.ensure_tables(rec)
        return rec

    def delete_model(self, project: str, name: str) -> dict[str, int]:
        rec = self.primary.get_model(project, name)
        removed = self.primary.delete_model(project, name)
        return {**removed, **self.events_.drop_model(rec)}

    def delete_version(self, project: str, model: str, version: str) -> dict[str, int]:
        rec = self.primary.get_model(project, model)
        removed = self.primary.delete_version(project, model, version)
        return {**removed, **self.events_.delete_version(rec, version)}

    def close(self) -> None:
        self.events_.close()
        self.primary.close()

    def warnings(self) -> list[str]:
        return self.primary.warnings()

    # -- SLOs: over requests from the event engine, over probes from the primary ---------------
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
    ) -> dict[timedelta, tuple[int, int]]:
        if source == "requests":
            uid = self.primary.get_model(project, model).uid
            return request_slo_counts(
                self.events_.read, uid, threshold_ms=threshold_ms, until=until, windows=windows
            )
        counts: dict[timedelta, tuple[int, int]] = self._extras.slo_counts(
            project,
            model,
            source=source,
            probe=probe,
            threshold_ms=threshold_ms,
            until=until,
            windows=windows,
        )
        return counts

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
    ) -> list[tuple[datetime, int, int]]:
        if source == "requests":
            uid = self.primary.get_model(project, model).uid
            return request_slo_series(
                self.events_.read,
                uid,
                threshold_ms=threshold_ms,
                since=since,
                until=until,
                step=step,
            )
        series: list[tuple[datetime, int, int]] = self._extras.slo_series(
            project,
            model,
            source=source,
            probe=probe,
            threshold_ms=threshold_ms,
            since=since,
            until=until,
            step=step,
        )
        return series
