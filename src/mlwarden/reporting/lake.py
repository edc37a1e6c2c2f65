"""Batch mode over a lake table on Spark: the report of :func:`~mlwarden.reporting.report`,
its current data where a batch pipeline wrote it.

The reference is read and the monitors fitted on the driver, as for any report (a
reference is a sample); the current rows stay in the lake and every aggregate the monitors
ask for is one query the cluster runs (:class:`~mlwarden.store.spark_engine.SparkAggregates`).
The rows are one window, as in a report on DuckDB, and get the same canonical forms, so the
statuses and values are the same as DuckDB's over the same files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from mlwarden.errors import ValidationError
from mlwarden.monitors.evaluate import evaluate
from mlwarden.monitors.suite import MonitorSuite
from mlwarden.reporting.batch import BATCH_BUDGET, WINDOW_START, fitted_suite
from mlwarden.reporting.result import Report
from mlwarden.schema.infer import infer_spec
from mlwarden.schema.spec import ModelSpec
from mlwarden.store.aggregates import WindowRun
from mlwarden.store.base import ModelRecord
from mlwarden.store.lake import spark_window_source
from mlwarden.store.spark_session import read_lake, spark_errors
from mlwarden.store.spark_tables import canonical_actuals, canonical_events
from mlwarden.tables import to_arrow

__all__ = ["lake_report"]


def lake_report(
    reference: Any,
    events: str,
    *,
    session: Any,
    actuals: str | None = None,
    name: str = "model",
    target: str | None = None,
    prediction: str | None = None,
    score: str | None = None,
    segments: Sequence[str] = (),
    sensitive: Sequence[str] = (),
    spec: ModelSpec | None = None,
    budget: str = BATCH_BUDGET,
    monitors: MonitorSuite | None = None,
    kpis: Mapping[str, str | Callable[[Any], float | None]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Compare the lake table ``events`` (a path or catalog table name, read by ``session``)
    with ``reference`` (a DataFrame, Arrow table or file, read here).

    Labels: ``actuals`` (a table of ``event_id`` and the target column, or ``actual``), else
    the target column of ``events`` itself. ``progress`` is told each step as it starts."""
    say = progress or (lambda _: None)
    say("Reading the reference and fitting the monitors")
    ref = to_arrow(reference)
    spec = spec or (
        infer_spec(
            ref,
            name=name,
            target=target,
            prediction=prediction,
            score=score,
            segments=segments,
            sensitive=sensitive,
        ).spec
    )
    suite = fitted_suite(spec, ref, budget=budget, monitors=monitors, kpis=kpis)
    say(f"Reading {events} on Spark")
    rows = _as_model_columns(read_lake(session, events, field="--events"), spec)
    labels = None
    if actuals is not None:
        table = read_lake(session, actuals, field="--actuals")
        have = set(table.columns)
        column = spec.target if spec.target and spec.target in have else "actual"
        labels = canonical_actuals(table, spec, column=column)
    elif spec.target and spec.target in rows.columns:
        if "event_id" not in rows.columns:  # the rows' own ids join them to their labels
            from pyspark.sql import functions as F  # noqa: N812

            rows = rows.withColumn("event_id", F.monotonically_increasing_id().cast("string"))
        labels = canonical_actuals(rows, spec, column=spec.target)
    current = canonical_events(rows, spec, ts=WINDOW_START)
    with spark_errors(f"Counting the rows of {events}"):
        n_current = int(current.count())
    if n_current == 0:
        raise ValidationError("The current data has no rows.")
    now = datetime.now(UTC)
    record = ModelRecord("batch", spec.name, 0, spec, now, now)
    source = spark_window_source(session, record, current, labels)
    try:
        say(f"Evaluating {len(suite.monitors)} monitors over {n_current:,} rows on Spark")
        run = WindowRun(WINDOW_START, timedelta(days=1), 0, 0)
        with spark_errors(f"Evaluating the monitors over {events}"):
            results = evaluate(
                source, record, suite, WINDOW_START, WINDOW_START + timedelta(days=1), run=run
            )
    finally:
        source.close()
    return Report(
        spec=spec, suite=suite, results=results, n_reference=ref.num_rows, n_current=n_current
    )


def _as_model_columns(df: Any, spec: ModelSpec) -> Any:
    """The prediction and score columns under the names events give them (``prediction``,
    ``score``), as a report on DuckDB renames them."""
    if spec.task.value != "llm" and spec.prediction not in df.columns:
        raise ValidationError(
            f"The current data has no prediction column {spec.prediction!r}; its columns are "
            f"{', '.join(df.columns)}."
        )
    for role, column in (("prediction", spec.prediction), ("score", spec.score)):
        if column and column != role and column in df.columns:
            df = df.drop(role) if role in df.columns else df
            df = df.withColumnRenamed(column, role)
    return df
