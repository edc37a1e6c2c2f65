"""Evaluate a suite over tumbling windows: aggregates from the store, results per window.

Every distinct aggregate of the suite is computed once per run of windows (one scan for
all numeric histograms); each monitor then reads its aggregates window by window. The
whole model is evaluated, and each value of the suite's segment columns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlwarden.monitors.base import Monitor, Result, Status
from mlwarden.monitors.context import Window, WindowData
from mlwarden.monitors.suite import MAX_SEGMENT_VALUES, MonitorSuite, parse_cadence
from mlwarden.store.aggregates import Categories, Request, Volume, WindowRun, collect

if TYPE_CHECKING:
    from mlwarden.store.base import Store
    from mlwarden.store.protocols import SpanLog

__all__ = ["ORIGIN", "Stopped", "closing_run", "evaluate", "window_run"]

#: Windows are aligned to this instant (a Monday), so weekly windows start on Mondays.
ORIGIN = datetime(2024, 1, 1, tzinfo=UTC)
HISTORY = 24


class Stopped(Exception):  # noqa: N818 - control flow inside the server, never shown to users
    """``evaluate`` was asked to stop (the server shuts down); nothing of the run is kept."""


def window_run(start: datetime, end: datetime, cadence: timedelta) -> WindowRun:
    """The windows covering ``[start, end)`` (the first and last may extend past them)."""
    s = start if start.tzinfo else start.replace(tzinfo=UTC)
    e = end if end.tzinfo else end.replace(tzinfo=UTC)
    first = int((s - ORIGIN) // cadence)
    last = int((e - ORIGIN - timedelta(microseconds=1)) // cadence)
    return WindowRun(ORIGIN, cadence, first, max(first, last))


def evaluate(
    store: Store,
    model: Any,
    suite: MonitorSuite,
    start: datetime,
    end: datetime,
    *,
    segments: bool = True,
    monitors: Iterable[Monitor] | None = None,
    run: WindowRun | None = None,
    stop: Callable[[], bool] | None = None,
    call_out: bool = False,
) -> list[Result]:
    """Results of every monitor on every window of ``[start, end)``, whole model and segments.

    ``stop`` is asked between the whole model and each segment value; when it says yes the
    run ends with ``Stopped``. With ``call_out``, monitors that call out to the network (an
    LLM judge) make their calls (asking ``stop`` between rounds); without it they judge on
    what earlier calls stored."""
    cadence = parse_cadence(suite.cadence)
    run = run or window_run(start, end, cadence)
    mons = list(monitors if monitors is not None else suite.monitors)
    how = _How(call_out, stop)
    results = _by_window(store, model, mons, run, None, how)
    if segments:
        ids = {m.id for m in mons}
        for col in suite.segments:
            for value in _segment_values(store, model, col, run):
                if stop is not None and stop():
                    raise Stopped
                # each segment is judged by monitors fitted on its own part of the reference;
                # a value the reference lacks (or has too little of) gets none
                own = suite.segment_monitors.get(f"{col}={value}", [])
                seg = [m for m in own if m.id in ids]
                if seg:
                    results += _by_window(store, model, seg, run, {col: value}, how)
    return results


@dataclass(frozen=True)
class _How:
    call_out: bool
    stop: Callable[[], bool] | None


def _by_window(
    store: Store,
    model: Any,
    mons: list[Monitor],
    run: WindowRun,
    segment: dict[str, str] | None,
    how: _How,
) -> list[Result]:
    """``mons`` on the windows of ``run``; a monitor with a window of its own (longer than
    the cadence) on its own windows that close within the run (see :func:`closing_run`)."""
    groups: dict[timedelta | None, list[Monitor]] = {}
    for m in mons:
        length = m.window_length()
        groups.setdefault(None if length is None or length <= run.cadence else length, []).append(m)
    out: list[Result] = []
    for length, group in groups.items():
        own = run if length is None else closing_run(run, length)
        if own is not None:
            out += _evaluate(store, model, group, own, segment, how)
    return out


def closing_run(run: WindowRun, length: timedelta) -> WindowRun | None:
    """The windows of ``length`` (aligned to :data:`ORIGIN`) that end within ``run``'s range,
    so a slow monitor is judged once per its own window, as that window closes.

    Examples
    --------
    >>> day = timedelta(days=1)
    >>> r = closing_run(window_run(ORIGIN + 29 * day, ORIGIN + 61 * day, day), 30 * day)
    >>> r.range_start.date(), r.range_end.date()
    (datetime.date(2024, 1, 1), datetime.date(2024, 3, 1))
    >>> closing_run(window_run(ORIGIN + 31 * day, ORIGIN + 32 * day, day), 30 * day) is None
    True
    """
    first = int((run.range_start - run.origin) // length)
    last = int((run.range_end - run.origin) // length) - 1
    return WindowRun(run.origin, length, first, last) if last >= first else None


def _segment_values(store: Store, model: Any, column: str, run: WindowRun) -> list[str]:
    req = Categories(column)
    per_window = collect(store, model, [req], run)[req]
    totals: dict[str, int] = {}
    for counts, _ in per_window.values():
        for k, v in counts.items():
            totals[k] = totals.get(k, 0) + v
    return [k for k, _ in sorted(totals.items(), key=lambda kv: -kv[1])[:MAX_SEGMENT_VALUES]]


def _evaluate(
    store: Store,
    model: Any,
    mons: list[Monitor],
    run: WindowRun,
    segment: dict[str, str] | None,
    how: _How | None = None,
) -> list[Result]:
    how = how or _How(call_out=False, stop=None)
    requests: list[Request] = [Volume()]
    for m in mons:
        requests += m.requests()
    # earlier windows' volumes, for monitors that compare with the recent past
    hist_run = WindowRun(run.origin, run.cadence, run.first - HISTORY, run.first - 1)
    light = Volume(history=True)
    before = collect(store, model, [light], hist_run, segment=segment)[light]
    aggs = collect(store, model, requests, run, segment=segment, history=(hist_run.first, before))
    volumes = {**before, **aggs[Volume()]}
    label = None if not segment else ",".join(f"{k}={v}" for k, v in segment.items())
    out: list[Result] = []
    for k in range(run.first, run.last + 1):
        window = Window(run.start(k), run.start(k + 1))
        history = [volumes.get(j, {"n": 0}) for j in range(k - HISTORY, k)]
        data = WindowData(
            window,
            {r: v.get(k) for r, v in aggs.items()},
            label,
            history,
            call_out=how.call_out,
            stop=how.stop,
        )
        for m in mons:
            try:
                out.append(m.evaluate(data))
                stopping = how.stop is not None and how.stop()
                if data.emitted and not stopping:  # spans of its own calls (an LLM judge's)
                    _store_spans(store, model, data.emitted)
                    data.emitted.clear()
            except Exception as exc:  # noqa: BLE001 - one broken monitor must not hide the others
                out.append(
                    Result(
                        monitor=m.id,
                        kind=m.kind,
                        window_start=window.start,
                        window_end=window.end,
                        status=Status.INSUFFICIENT_DATA,
                        segment=label,
                        column=getattr(m, "column", None),
                        reason=f"evaluation failed: {type(exc).__name__}: {exc}",
                    )
                )
    return out


def _store_spans(store: SpanLog, model: Any, rows: list[dict[str, Any]]) -> None:
    from mlwarden.schema.genai import spans_table

    service = model.spec.span_service
    table = spans_table([{**r, "service_name": service} for r in rows], model.project)
    store.append_spans(model.project, table).result()
