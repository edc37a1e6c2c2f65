"""Batch mode: the same monitors on an in-memory engine over one window.

``report(reference, current)`` infers the model spec from the reference, sets the
monitors up exactly as the server would, loads ``current`` into an in-memory
DuckDB store as one window of events (labels, when the current data has the
target column, as actuals) and evaluates. One path, not two.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlwarden.errors import ValidationError
from mlwarden.monitors.base import Monitor
from mlwarden.monitors.evaluate import evaluate
from mlwarden.monitors.kpi import Kpi
from mlwarden.monitors.kpi_function import KpiFunction
from mlwarden.monitors.suite import MonitorSuite, auto_monitors
from mlwarden.reporting.result import Report
from mlwarden.schema.batch import validate_actuals_table, validate_table
from mlwarden.schema.infer import infer_spec
from mlwarden.schema.spec import ModelSpec
from mlwarden.store import Store, open_store
from mlwarden.store.aggregates import WindowRun
from mlwarden.tables import to_arrow

__all__ = ["BATCH_BUDGET", "WINDOW_START", "fitted_suite", "kpi_monitors", "report"]

#: A CI gate is one check per run: at most one false failing report in 100 runs.
BATCH_BUDGET = "1 per 100 days"
WINDOW_START = datetime(2000, 1, 3, tzinfo=UTC)


def report(
    reference: Any,
    current: Any,
    *,
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
) -> Report:
    """Compare ``current`` with ``reference`` (DataFrames, Arrow tables or file paths).

    ``kpis``: business KPIs by name, each a KPI expression (``"1000 * sum(revenue) /
    count()"``, see docs/kpi.md), a Python function of the window's rows, or its
    ``"package.module:function"`` path; judged beside the other monitors.

    Examples
    --------
    >>> import numpy as np, pyarrow as pa
    >>> rng = np.random.default_rng(0)
    >>> ref = pa.table({"x": rng.normal(size=2000), "c": rng.choice(["a", "b"], 2000)})
    >>> cur = pa.table({"x": rng.normal(0.5, 1, size=2000), "c": rng.choice(["a", "b"], 2000)})
    >>> r = report(ref, cur)
    >>> r.status.value, [x.monitor for x in r.alerts][:1]
    ('alert', ['feature_drift:x'])
    """
    # the current data is read while the reference is read and the monitors fitted (Arrow
    # reads files with the GIL released), then the in-memory store is opened while they are
    # (DuckDB, and the pandas DuckDB imports on a first bound parameter: ~0.35 s of imports)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(to_arrow, current, role="current")
        opening = pool.submit(_open_store)
        try:
            ref = to_arrow(reference)
            spec = spec or _infer(ref, name, target, prediction, score, segments, sensitive)
            suite = fitted_suite(spec, ref, budget=budget, monitors=monitors, kpis=kpis)
            cur = pending.result()
        except BaseException:
            opening.add_done_callback(_close_store)
            raise
        store = opening.result()
    try:
        if cur.num_rows == 0:
            raise ValidationError("The current data has no rows.")
        record = store.create_model("batch", spec)
        events, actuals = _as_events(spec, cur)
        batch = validate_table(spec, events)
        if batch.rejected:
            first = batch.rejected[0]
            raise ValidationError(
                f"{len(batch.rejected)} current rows are not valid; row {first.index}: {first.reason}"
            )
        store.use_arrow_events(record, batch.table, unique_ids=True)
        if actuals is not None:
            store.append_actuals(record, validate_actuals_table(spec, actuals).table).result()
        run = WindowRun(WINDOW_START, timedelta(days=1), 0, 0)
        results = evaluate(
            store, record, suite, WINDOW_START, WINDOW_START + timedelta(days=1), run=run
        )
    finally:
        store.close()
    return Report(
        spec=spec, suite=suite, results=results, n_reference=ref.num_rows, n_current=cur.num_rows
    )


def fitted_suite(
    spec: ModelSpec,
    ref: pa.Table,
    *,
    budget: str = BATCH_BUDGET,
    monitors: MonitorSuite | None = None,
    kpis: Mapping[str, str | Callable[[Any], float | None]] | None = None,
) -> MonitorSuite:
    """The batch monitors of ``spec`` (or ``monitors``) and its ``kpis``, fitted on ``ref``:
    one window a day, as a report judges its current data (whatever engine holds it)."""
    suite = monitors or MonitorSuite(
        spec.name,
        [m for m in auto_monitors(spec) if type(m).batch],
        cadence="1d",
        budget=budget,
        segments=list(spec.segments),
    )
    if kpis:
        suite = replace(suite, monitors=[*suite.monitors, *kpi_monitors(kpis, spec=spec)])
    suite.fit(spec, ref)
    return suite


_FUNCTION_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def kpi_monitors(
    kpis: Mapping[str, str | Callable[[Any], float | None]], *, spec: ModelSpec | None = None
) -> list[Monitor]:
    """A KPI monitor for each named KPI: an expression (:class:`Kpi`), or a function or its
    ``module:function`` path (:class:`KpiFunction`). With ``spec``, each expression is checked
    against the model now: a KPI the caller asked for by name is refused with its error (a
    :class:`~mlwarden.errors.ConfigError`), not skipped at fit like a suggested monitor.

    Examples
    --------
    >>> [m.id for m in kpi_monitors({"rev": "sum(revenue)", "loss": "mykpis:loss"})]
    ['kpi:rev', 'kpi_function:loss']
    """
    out: list[Monitor] = []
    for name, what in kpis.items():
        if callable(what) or _FUNCTION_PATH.match(str(what)):
            out.append(KpiFunction(name, what, direction="both"))
        else:
            kpi = Kpi(name, str(what))
            if spec is not None:
                kpi.check(spec, where=f"kpis.{name}")
            out.append(kpi)
    return out


def _open_store() -> Store:
    """The in-memory store. Its queries are ibis, but batch mode's requests are answered from
    the Arrow events in place (``store/arrow_scan.py``): ibis and its DuckDB backend (~0.3 s
    of imports) load only if a request needs a query."""
    return open_store(None, commit_interval=0.0)


def _close_store(opened: Future[Store]) -> None:
    if opened.exception() is None:
        opened.result().close()


def _infer(
    ref: pa.Table,
    name: str,
    target: str | None,
    prediction: str | None,
    score: str | None,
    segments: Sequence[str],
    sensitive: Sequence[str],
) -> ModelSpec:
    return infer_spec(
        ref,
        name=name,
        target=target,
        prediction=prediction,
        score=score,
        segments=segments,
        sensitive=sensitive,
    ).spec


def _as_events(spec: ModelSpec, cur: pa.Table) -> tuple[pa.Table, pa.Table | None]:
    """Current rows as flat events (one window) and, if the target is there, as actuals.

    Columns only, no object per row: ids are the row numbers (unique, as ids must be; the
    same on every run, so the multivariate monitor's sample of the window is too).
    """
    n = cur.num_rows
    ids = pc.cast(pa.array(np.arange(n, dtype=np.int64)), pa.string())
    cols: dict[str, Any] = {
        "event_id": ids,
        "timestamp": pa.repeat(pa.scalar(WINDOW_START, pa.timestamp("us", tz="UTC")), n),
    }
    if spec.prediction and spec.prediction in cur.column_names:
        cols["prediction"] = cur.column(spec.prediction)
    elif spec.task.value != "llm":
        if spec.prediction is None:
            raise ValidationError(
                "No column of the reference data is named like a prediction (prediction, pred, "
                "y_pred, ...): say which column holds the model's prediction (--prediction "
                "COLUMN; prediction= in Python)."
            )
        raise ValidationError(
            f"The current data has no prediction column {spec.prediction!r}; its columns are "
            f"{', '.join(cur.column_names)}."
        )
    if spec.score and spec.score in cur.column_names:
        cols["score"] = cur.column(spec.score)
    for name in (*spec.feature_names, *spec.tag_columns):
        if name in cur.column_names:
            cols[name] = cur.column(name)
    actuals = None
    if spec.target and spec.target in cur.column_names:
        target = cur.column(spec.target)
        keep = pc.is_valid(target)
        actuals = pa.table({"event_id": ids, "actual": target}).filter(keep)
    return pa.table(cols), actuals
