"""Lake tables as the store a batch evaluation reads: the seam between reports over lake
tables (``reporting/lake.py``) and the Spark engine that answers their aggregate requests.

A lake is read, never written: :class:`~mlwarden.store.spark_engine.SparkAggregates` answers
what :func:`~mlwarden.monitors.evaluate.evaluate` asks of a batch window (the events and labels
as ibis tables, and the window volumes with DuckDB's exact quantiles); it has none of the
catalog, result or incident methods of :class:`~mlwarden.store.base.Store`, which a batch
evaluation never calls. The cast below states that contract in one place, and the Spark tests
hold it (every aggregate request compared with DuckDB, and the whole report).
"""

from __future__ import annotations

from typing import Any, cast

from mlwarden.store.base import ModelRecord, Store

__all__ = ["spark_window_source"]


def spark_window_source(
    session: Any, record: ModelRecord, events: Any, actuals: Any | None = None
) -> Store:
    """The store a batch evaluation of ``record`` reads, over Spark DataFrames of canonical
    ``events`` and ``actuals``; ``close()`` drops its temporary views."""
    from mlwarden.store.spark_engine import SparkAggregates

    return cast(Store, SparkAggregates(session, record, events, actuals))
