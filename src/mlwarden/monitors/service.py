"""Monitors as the server and CLI use them: set up, apply, evaluate due windows, store results."""

from __future__ import annotations

import json
import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from mlwarden.errors import ConfigError, NotFoundError, ValidationError
from mlwarden.monitors.base import Result
from mlwarden.monitors.evaluate import ORIGIN, Stopped, evaluate
from mlwarden.monitors.objectives import objective_status
from mlwarden.monitors.suite import MonitorSuite, auto_monitors, parse_cadence, slow_windows
from mlwarden.schema.spec import ModelSpec, Task
from mlwarden.stats.thresholds import DEFAULT_BUDGET
from mlwarden.store.aggregates import RESOURCES_SUFFIX
from mlwarden.store.base import SuiteRow
from mlwarden.store.span_aggregates import span_count, span_time_range
from mlwarden.store.times import utc_aware, utc_naive

if TYPE_CHECKING:
    from mlwarden.store.base import Store
    from mlwarden.store.protocols import AggregateSource, Catalog, Results, Suites

__all__ = [
    "CADENCES",
    "MIN_ROWS_PER_WINDOW",
    "apply_suite",
    "choose_cadence",
    "evaluate_partial",
    "evaluate_range",
    "latest_results",
    "load_suite",
    "objective_report",
    "plan",
    "results_table",
    "run_due",
    "setup_suite",
    "time_range",
]

CADENCES = ("1h", "6h", "1d", "1w")
MIN_ROWS_PER_WINDOW = 500
RESULT_SCHEMA = pa.schema(
    [
        ("monitor", pa.string()),
        ("kind", pa.string()),
        ("column", pa.string()),
        ("segment", pa.string()),
        ("window_start", pa.timestamp("us")),
        ("window_end", pa.timestamp("us")),
        ("status", pa.string()),
        ("value", pa.float64()),
        ("threshold", pa.float64()),
        ("warn", pa.float64()),
        ("n", pa.int64()),
        ("direction", pa.string()),
        ("reason", pa.string()),
        ("details", pa.string()),
        ("evaluated_at", pa.timestamp("us")),
    ]
)
log = logging.getLogger("mlwarden.monitors")
#: Fitted suites per store (held weakly: they go with their store, and a store made later at
#: the same address never reads another's), per (project, model), with the state they parse.
_cache: weakref.WeakKeyDictionary[Any, dict[tuple[str, str], tuple[str, MonitorSuite]]] = (
    weakref.WeakKeyDictionary()
)
_lock = threading.Lock()


def choose_cadence(rows_per_day: float | None) -> str:
    """The shortest window that holds at least ``MIN_ROWS_PER_WINDOW`` events on average.

    Examples
    --------
    >>> choose_cadence(50_000), choose_cadence(2_000), choose_cadence(100), choose_cadence(None)
    ('1h', '6h', '1w', '1h')
    """
    if not rows_per_day:
        return "1h"
    for c in CADENCES:
        if rows_per_day * parse_cadence(c) / timedelta(days=1) >= MIN_ROWS_PER_WINDOW:
            return c
    return CADENCES[-1]


def _volume_per_day(store: Store, record: Any, *, spans: bool = False) -> float | None:
    lo, hi = store.event_time_range(record)
    n = int(store.events(record).count().to_pyarrow().as_py())
    if spans and n == 0:  # an LLM app that sends traces only: its spans' volume
        lo, hi = span_time_range(store, record)
        n = span_count(store, record)
    if lo is None or hi is None or hi <= lo:
        return None
    days: float = (hi - lo) / timedelta(days=1)
    return n / max(days, 1 / 24)


def _labels_per_day(store: Store, record: Any) -> float | None:
    """Labelled events a day over the events' time range; before any label arrives, events a
    day (the most labels there could be)."""
    lo, hi = store.event_time_range(record)
    if lo is None or hi is None or hi <= lo:
        return None
    labelled = int(store.actuals(record).count().to_pyarrow().as_py())
    days = max((hi - lo) / timedelta(days=1), 1 / 24)
    return labelled / days if labelled else _volume_per_day(store, record)


def _reference(store: Catalog, record: Any, *, optional: bool) -> pa.Table:
    """The model's latest reference; an LLM app without one gets an empty table (its span
    monitors learn from the recent past)."""
    try:
        return store.get_reference(record.project, record.name)[1]
    except NotFoundError:
        if not optional:
            raise
        return pa.table({})


def time_range(store: Store, record: Any, suite: MonitorSuite) -> tuple[Any, Any]:
    """(first, last) time of what the suite reads: events, and spans when it has span monitors."""
    lo, hi = store.event_time_range(record)
    if any(m.source == "spans" for m in suite.monitors):
        s_lo, s_hi = span_time_range(store, record)
        lo = s_lo if lo is None else (lo if s_lo is None else min(lo, s_lo))
        hi = s_hi if hi is None else (hi if s_hi is None else max(hi, s_hi))
    return lo, hi


def setup_suite(
    store: Store,
    project: str,
    model: str,
    *,
    cadence: str | None = None,
    budget: str | None = None,
    segments: list[str] | None = None,
    dry_run: bool = False,
) -> MonitorSuite:
    """Monitors for a model from its spec and latest reference, thresholds calibrated. An
    ``llm`` model whose spans arrive (or whose spec names their ``service``) also gets the LLM
    monitors, and may go without a reference."""
    record = store.get_model(project, model)
    spec: ModelSpec = record.spec
    spans = spec.task is Task.LLM and (spec.service is not None or span_count(store, record) > 0)
    reference = _reference(store, record, optional=spans)
    cadence = cadence or choose_cadence(_volume_per_day(store, record, spans=spans))
    monitors = auto_monitors(spec, resources=_resource_features(store, project, model), spans=spans)
    if spans:  # a score monitor per score name the app's traces have received
        from mlwarden.monitors.llm_scores import score_monitors  # an LLM kind: imported when used

        monitors += score_monitors(store, record)
    suite = MonitorSuite(
        model,
        slow_windows(monitors, rows_per_day=_labels_per_day(store, record), cadence=cadence),
        cadence=cadence,
        budget=budget or str(DEFAULT_BUDGET),
        segments=list(segments if segments is not None else spec.segments),
    ).fit(spec, reference)
    if not dry_run:
        store.put_suite(project, model, suite.to_yaml(), json.dumps(suite.state()))
    return suite


def _resource_features(store: AggregateSource, project: str, model: str) -> list[str]:
    """The features the SDK's sampler has reported for the model so far (none: no sampler)."""
    try:
        return list(store.get_model(project, model + RESOURCES_SUFFIX).spec.feature_names)
    except NotFoundError:
        return []


def apply_suite(
    store: Store, project: str, model: str, text: str, *, dry_run: bool = False
) -> MonitorSuite:
    """Apply an edited YAML spec: validate, fit on the reference, store."""
    suite = MonitorSuite.from_yaml(text)
    if suite.model != model:
        raise ConfigError(f"The spec is for model {suite.model!r}, not {model!r}.")
    record = store.get_model(project, model)
    reference = _reference(store, record, optional=any(m.source == "spans" for m in suite.monitors))
    for col in suite.segments:
        if col not in record.spec.feature_names and col not in record.spec.tag_columns:
            raise ConfigError(
                f"The segment column {col!r} is not a feature or segment of model {model!r}."
            )
    for i, mon in enumerate(suite.monitors):
        mon.check(record.spec, where=f"monitors[{i}]")
    suite.fit(record.spec, reference)
    if not dry_run:
        store.put_suite(project, model, text, json.dumps(suite.state()))
    return suite


def load_suite(
    store: Suites, project: str, model: str, *, row: SuiteRow | None = None
) -> MonitorSuite:
    """The model's fitted monitors (cached while their stored state is unchanged); ``row``:
    the :meth:`get_suite` row when the caller read it already."""
    state = (row if row is not None else store.get_suite(project, model)).state
    key = (project, model)
    with _lock:
        hit = _cache.get(store, {}).get(key)
        if hit is not None and hit[0] == state:
            return hit[1]
    suite = MonitorSuite.from_state(json.loads(state))
    with _lock:
        _cache.setdefault(store, {})[key] = (state, suite)
    return suite


def plan(suite: MonitorSuite, *, rows_per_window: int) -> list[dict[str, Any]]:
    """What a dry run shows: each monitor, why, how it decides and its threshold at the expected
    window size, and the false alerts a month it is expected to raise when nothing changed.

    ``threshold`` (a mapping of ``threshold``, ``warn``, ``direction`` and, for calibrated
    drift, ``statistic`` and ``method``) is there when the level is known before any window;
    ``how`` always says how the level is set, naming the reference value it derives from.
    """
    out = []
    for m in suite.monitors:
        length = m.window_length()
        step = parse_cadence(suite.cadence)
        rows = rows_per_window if length is None else round(rows_per_window * (length / step))
        tp = m.threshold_plan(max(rows, 1))
        how = tp.how
        if m.window is not None:
            how = (
                f"Judged on windows of {m.window} (not the {suite.cadence} cadence), each as it "
                f"closes, so a window holds enough labelled events. {how}"
            )
        item: dict[str, Any] = {
            "monitor": m.id,
            "kind": m.kind,
            "objective": m.objective.value,
            "severity": m.severity.value,
            "why": m.explain(),
            "how": how,
            "window": m.window or suite.cadence,
            "reference": tp.reference,
            "expected_false_alerts_per_month": tp.false_alerts_per_month,
        }
        if tp.threshold is not None:
            item["threshold"] = {
                "threshold": tp.threshold,
                "warn": tp.warn,
                "direction": tp.direction,
                "statistic": tp.statistic,
                "method": tp.method,
                "expected_false_alerts_per_month": tp.false_alerts_per_month,
            }
        out.append(item)
    for s in suite.skipped:
        out.append({"monitor": s.monitor, "skipped": s.reason})
    for seg in suite.segment_plans:
        name = f"segment {seg.label}"
        if seg.resolution == "none":
            out.append({"monitor": name, "skipped": seg.note, "segment": seg.to_dict()})
            continue
        mons = suite.segment_monitors.get(seg.label, [])
        out.append(
            {
                "monitor": name,
                "kind": "segment",
                "objective": "data_quality_and_drift",
                "severity": "medium",
                "why": f"The monitors of the whole model on the rows of {seg.label} alone, "
                "judged against that segment's own part of the reference.",
                "how": f"{seg.note} {len(mons)} monitors fitted.",
                "reference": None,
                "expected_false_alerts_per_month": sum(
                    m.false_alerts_per_month(rows_per_window) or 0.0 for m in mons
                ),
                "segment": seg.to_dict(),
            }
        )
    return out


def results_table(results: list[Result]) -> pa.Table:
    now = datetime.now(UTC).replace(tzinfo=None)

    cols: dict[str, list[Any]] = {f.name: [] for f in RESULT_SCHEMA}
    for r in results:
        cols["monitor"].append(r.monitor)
        cols["kind"].append(r.kind)
        cols["column"].append(r.column)
        cols["segment"].append(r.segment)
        cols["window_start"].append(utc_naive(r.window_start))
        cols["window_end"].append(utc_naive(r.window_end))
        cols["status"].append(r.status.value)
        cols["value"].append(r.value)
        cols["threshold"].append(r.threshold)
        cols["warn"].append(r.warn)
        cols["n"].append(r.n)
        cols["direction"].append(r.direction)
        cols["reason"].append(r.reason)
        cols["details"].append(json.dumps(r.details, default=_jsonable))
        cols["evaluated_at"].append(now)
    return pa.Table.from_pydict(cols, schema=RESULT_SCHEMA)


def _jsonable(x: Any) -> Any:
    if hasattr(x, "item"):
        return x.item()
    if isinstance(x, datetime):
        return x.isoformat()
    return str(x)


#: Called with (project, model, results, cadence) after results are stored: the incidents
#: layer (above this one) hooks in here.
OnResults = Callable[[str, str, list[Result], timedelta], None]


#: Most windows one evaluation of a range may hold (four months of hourly windows, eight years
#: of daily ones): a request must not hold the scheduler for minutes.
MAX_EVALUATE_WINDOWS = 3_000


def evaluate_range(
    store: Store,
    project: str,
    model: str,
    start: datetime,
    end: datetime,
    *,
    on_results: OnResults | None = None,
    stop: Callable[[], bool] | None = None,
    call_out: bool = False,
) -> int:
    """Evaluate (or re-evaluate) every window of ``[start, end)`` and store the results; the
    model's hourly roll-ups (what pages read) are brought up to date too. With ``call_out``
    (an explicit request, never the scheduler) monitors that call out to the network (an LLM
    judge) make their calls, within their own budget.

    Raises ``Stopped`` (nothing stored) when ``stop`` says so before the evaluation ends, and
    :class:`ValidationError` for a range of more than :data:`MAX_EVALUATE_WINDOWS` windows (one
    request must not hold the scheduler for minutes: split a long backfill)."""
    suite = load_suite(store, project, model)
    windows = (end - start) / parse_cadence(suite.cadence)
    if windows > MAX_EVALUATE_WINDOWS:
        raise ValidationError(
            f"The range from {start.isoformat()} to {end.isoformat()} holds {windows:,.0f} "
            f"windows of the model's cadence ({suite.cadence}); evaluate at most "
            f"{MAX_EVALUATE_WINDOWS:,} windows at a time (split the range)."
        )
    record = store.get_model(project, model)
    results = evaluate(store, record, suite, start, end, stop=stop, call_out=call_out)
    written: int = store.write_results(project, model, results_table(results))
    store.refresh_rollups(record)
    if on_results is not None:
        on_results(project, model, results, parse_cadence(suite.cadence))
    return written


def evaluate_partial(store: Store, project: str, model: str, start: datetime, now: datetime) -> int:
    """Evaluate the open window ``[start, start + cadence)`` on the events it holds so far,
    the results marked ``partial`` (``details.partial``, the reason says so); they are
    replaced when the window closes. The scheduler calls this once, on a model's first
    events, so a new model shows results within a scheduler period instead of a cadence
    (6 h). Partial results open no incidents: a window is judged whole."""
    suite = load_suite(store, project, model)
    record = store.get_model(project, model)
    results = evaluate(store, record, suite, start, start + parse_cadence(suite.cadence))
    until = utc_aware(now).isoformat()
    marked = [
        replace(
            r,
            details={**r.details, "partial": True, "until": until},
            reason=f"partial window (events until {until}): {r.reason}",
        )
        for r in results
    ]
    written: int = store.write_results(project, model, results_table(marked))
    store.refresh_rollups(record)
    return written


def run_due(
    store: Store,
    *,
    now: datetime | None = None,
    on_results: OnResults | None = None,
    stop: Callable[[], bool] | None = None,
) -> int:
    """Evaluate windows that closed since the last run, and the windows that labels or events
    received late belong to.

    Idempotent: a window evaluated twice replaces its results. ``stop`` (the server's
    shutdown) is asked before each model, chunk of windows and segment value; what was not
    stored is due again at the next run."""
    now = now or datetime.now(UTC)
    total = 0
    for project, model in store.list_suites():
        if stop is not None and stop():
            break
        try:
            total += _run_model(store, project, model, now, on_results, stop)
        except Stopped:
            break  # the rest is due at the next run
        except Exception:  # noqa: BLE001 - one broken model must not stop the others
            log.exception(
                "evaluating the monitors of %s/%s failed; retrying next round", project, model
            )
    return total


def _run_model(
    store: Store,
    project: str,
    model: str,
    now: datetime,
    on_results: OnResults | None,
    stop: Callable[[], bool] | None,
) -> int:
    total = 0
    row = store.get_suite(project, model)
    until, labels_until = row.evaluated_until, row.labels_seen_until
    suite = load_suite(store, project, model, row=row)
    record = store.get_model(project, model)
    cadence = parse_cadence(suite.cadence)
    lo, hi = time_range(store, record, suite)
    if lo is None:
        return 0
    closed_end = ORIGIN + ((now - ORIGIN) // cadence) * cadence  # start of the open window
    start = utc_aware(until) or utc_aware(lo)
    assert start is not None
    # read before the forward pass: what arrives during it is looked at next run
    received = store.latest_event_receipt(record)
    for a, b in _chunks(start, closed_end, cadence):
        if stop is not None and stop():
            raise Stopped  # the rest is due at the next run
        total += evaluate_range(store, project, model, a, b, on_results=on_results, stop=stop)
        store.mark_evaluated(project, model, until=b, spec=row.spec)
    if until is not None:
        total += _late_events(
            store,
            record,
            until,
            row.events_seen_until,
            received,
            closed_end,
            cadence,
            on_results,
            stop,
        )
    elif received is not None:  # the first pass evaluated everything there was
        # the model's first events, some in the open window: judge them now
        if row.events_seen_until is None and hi is not None and utc_aware(hi) >= closed_end:
            total += evaluate_partial(store, project, model, closed_end, now)
        store.mark_evaluated(project, model, events_until=received, spec=row.spec)
    # late labels: re-evaluate the windows their events belong to
    latest = store.latest_label_time(record)
    if latest is not None and (labels_until is None or latest > labels_until):
        since = labels_until or datetime(1970, 1, 1)
        e_lo, e_hi = store.labelled_event_range(record, since)
        # labels_until moves only after: if stopped, these windows are due again
        total += _reevaluate(store, record, e_lo, e_hi, closed_end, cadence, on_results, stop)
        store.mark_evaluated(project, model, labels_until=latest, spec=row.spec)
    return total


def _reevaluate(
    store: Store,
    record: Any,
    lo: datetime | None,
    hi: datetime | None,
    closed_end: datetime,
    cadence: timedelta,
    on_results: OnResults | None,
    stop: Callable[[], bool] | None,
) -> int:
    """Evaluate again the closed windows holding event times ``lo`` to ``hi``."""
    if lo is None or hi is None:
        return 0
    total = 0
    end = min(utc_aware(hi) + cadence, closed_end)
    for a, b in _chunks(utc_aware(lo), end, cadence):
        if stop is not None and stop():
            raise Stopped
        total += evaluate_range(
            store, record.project, record.name, a, b, on_results=on_results, stop=stop
        )
    return total


def _late_events(
    store: Store,
    record: Any,
    until: datetime,
    seen: datetime | None,
    received: datetime | None,
    closed_end: datetime,
    cadence: timedelta,
    on_results: OnResults | None,
    stop: Callable[[], bool] | None,
) -> int:
    """Re-evaluate the windows that events received late (a backfill upload, a replayed
    buffer) fall in, when those windows were evaluated before they arrived; ``seen``: the
    receipt time up to which late events were looked for already."""
    project, model = record.project, record.name
    if received is None or (seen is not None and received <= seen):
        return 0
    e_lo, e_hi = store.late_event_range(record, seen or datetime(1970, 1, 1), received, until)
    # events_seen_until moves only after: if stopped, these windows are due again
    total = _reevaluate(store, record, e_lo, e_hi, closed_end, cadence, on_results, stop)
    store.mark_evaluated(project, model, events_until=received)
    return total


#: A backfill is evaluated this many windows at a time, each chunk stored and marked
#: evaluated before the next: a shutdown waits for one chunk only, and a crash keeps the
#: chunks already done.
CHUNK_WINDOWS = 32


def _chunks(start: datetime, end: datetime, cadence: timedelta) -> list[tuple[datetime, datetime]]:
    """``[start, end)`` cut at window boundaries into spans of ``CHUNK_WINDOWS`` windows.

    Examples
    --------
    >>> d = timedelta(days=1)
    >>> [((a - ORIGIN) / d, (b - ORIGIN) / d) for a, b in _chunks(ORIGIN + d / 2, ORIGIN + 70 * d, d)]
    [(0.5, 32.0), (32.0, 64.0), (64.0, 70.0)]
    >>> _chunks(ORIGIN, ORIGIN, d)
    []
    """
    out: list[tuple[datetime, datetime]] = []
    step = cadence * CHUNK_WINDOWS
    a = start
    while a < end:
        # the first chunk ends on a window boundary, so no window is cut between two chunks
        aligned = ORIGIN + ((a - ORIGIN) // cadence) * cadence
        b = min(aligned + step, end)
        out.append((a, b))
        a = b
    return out


def latest_results(store: Results, project: str, model: str) -> dict[str, tuple[str, str, Any]]:
    """Each monitor's latest whole-model verdict: id -> (status, reason, window start)."""
    t = store.results()
    rows = (
        t.filter(t.project == project, t.model == model, t.segment.isnull())
        .group_by("monitor")
        .aggregate(
            window_start=t.window_start.max(),
            status=t.status.argmax(t.window_start),
            reason=t.reason.argmax(t.window_start),
        )
        .to_pyarrow()
        .to_pylist()
    )
    return {
        r["monitor"]: (r["status"], r["reason"] or "", utc_aware(r["window_start"]).isoformat())
        for r in rows
    }


def objective_report(store: Store, project: str, model: str) -> list[dict[str, Any]]:
    """Status of each of a model's objectives (met / at_risk / violated / unknown)."""
    suite = load_suite(store, project, model)
    return objective_status(
        suite.objective_specs,
        latest_results(store, project, model),
        monitors=[m.id for m in suite.monitors],
    )
