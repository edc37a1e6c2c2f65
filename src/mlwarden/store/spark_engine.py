"""Monitors' aggregates over lake tables on Spark: one model's events (and labels) read where
a batch pipeline wrote them, queried in place.

:class:`SparkAggregates` is an :class:`~mlwarden.store.protocols.AggregateSource`: it hands
out the model's events and actuals as ibis tables on ibis' PySpark backend, so the
aggregate requests of :mod:`mlwarden.store.aggregates` run on Spark unchanged (one portable
query each, executed by the cluster; only small per-window numbers come back to the driver).
Latency quantiles come from :mod:`.spark_volumes` (exact, DuckDB's interpolation). It stores
nothing: results go wherever the caller writes them.

Examples
--------
A local session over two rows (the tests start a standalone cluster instead)::

    session = spark_session("local[2]")
    src = SparkAggregates(session, record, canonical_events(read_lake(session, path), spec))
    collect(src, record, [Volume()], run)
"""

from __future__ import annotations

import uuid
from typing import Any

from mlwarden.errors import NotFoundError, UnsupportedByEngineError
from mlwarden.store.base import AggregateDefaults, ModelRecord
from mlwarden.store.spark_session import quiet_pandas_warning
from mlwarden.store.spark_volumes import window_volumes

__all__ = ["SparkAggregates"]

_ACTUALS = "event_id string, actual string, actual_value double"


class SparkAggregates(AggregateDefaults):
    """The aggregate source of one model (``record``) whose canonical events are the Spark
    DataFrame ``events`` (see :func:`~mlwarden.store.spark_tables.canonical_events`) and
    labels ``actuals`` (:func:`~mlwarden.store.spark_tables.canonical_actuals`; none: no
    labels). The DataFrames are registered as temporary views of ``session``, named apart
    per instance, and dropped by :meth:`close`."""

    engine = "spark"

    def __init__(
        self, session: Any, record: ModelRecord, events: Any, actuals: Any | None = None
    ) -> None:
        self.session = session
        self.record = record
        tag = uuid.uuid4().hex[:12]
        self._views = (f"mlwarden_events_{tag}", f"mlwarden_actuals_{tag}")
        if actuals is None:
            actuals = session.createDataFrame([], _ACTUALS)
        events.createOrReplaceTempView(self._views[0])
        actuals.createOrReplaceTempView(self._views[1])
        self._backend: Any = None

    def backend(self) -> Any:
        """ibis' PySpark backend over the session (made on first use)."""
        if self._backend is None:
            from mlwarden.store.spark_backend import connect

            quiet_pandas_warning()
            self._backend = connect(self.session)
        return self._backend

    def get_model(self, project: str, name: str) -> ModelRecord:
        if (project, name) != (self.record.project, self.record.name):
            raise NotFoundError(f"There is no model named {name!r} in project {project!r}.")
        return self.record

    def events(self, model: ModelRecord, *, shadow: bool = False) -> Any:
        """The model's events (traffic only: shadow rows were dropped by the canonical form)."""
        self.get_model(model.project, model.name)
        return self.backend().table(self._views[0])

    def actuals(self, model: ModelRecord) -> Any:
        self.get_model(model.project, model.name)
        return self.backend().table(self._views[1])

    def quarantine_table(self) -> Any:
        """Lake tables have no rejected rows: their rows are read as they were written."""
        raise UnsupportedByEngineError("The spark engine does not implement 'quarantine_table'.")

    def volumes(
        self, model: ModelRecord, run: Any, segment: dict[str, str] | None, *, light: bool
    ) -> dict[int, dict[str, Any]] | None:
        """Window volumes with DuckDB's latency quantiles (:mod:`.spark_volumes`)."""
        from mlwarden.store.aggregates import _filtered

        return window_volumes(
            self.session, _filtered(self.events(model), run, segment), light=light
        )

    def close(self) -> None:
        """Drop the temporary views (the session is the caller's)."""
        for view in self._views:
            self.session.catalog.dropTempView(view)
