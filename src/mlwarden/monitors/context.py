"""What monitors learn from, and what they see of a window."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from mlwarden.schema.spec import ModelSpec
from mlwarden.stats.thresholds import DEFAULT_BUDGET, FalseAlarmBudget, per_window_alpha
from mlwarden.store.aggregates import Request

__all__ = ["MONITOR_BINS", "Calibration", "FitContext", "Window", "WindowData"]

#: Quantile bins of numeric baselines in monitors. DuckDB's histogram(x, boundaries) costs grow
#: with the boundaries (measured: 100k rows x 40 columns, 1000 edges 1.0 s, 100 edges 0.18 s);
#: 256 bins bound the binning error of KS near 0.004, and binned KS is never above the raw one,
#: so calibrated thresholds stay conservative while a 0.1-sigma shift at 10k rows still shows.
MONITOR_BINS = 256


@dataclass(frozen=True)
class Calibration:
    """How thresholds are calibrated: the budget, the window cadence and the monitor count."""

    budget: str = str(DEFAULT_BUDGET)
    cadence_s: float = 3600.0
    monitors: int = 25

    @property
    def cadence(self) -> timedelta:
        return timedelta(seconds=self.cadence_s)

    @property
    def parsed_budget(self) -> FalseAlarmBudget:
        return FalseAlarmBudget.parse(self.budget)

    @property
    def alpha(self) -> float:
        """Per-window false-alarm probability of one monitor (its share of the budget)."""
        return per_window_alpha(self.parsed_budget, window=self.cadence, monitors=self.monitors)

    def per_month(self, alpha: float, *, window: timedelta | None = None) -> float:
        """False alerts in 30 days of a monitor alerting with probability ``alpha`` per window
        (``window``: its own evaluation window, when longer than the cadence)."""
        return alpha * (timedelta(days=30) / (window or self.cadence))

    def to_dict(self) -> dict[str, Any]:
        return {"budget": self.budget, "cadence_s": self.cadence_s, "monitors": self.monitors}


@dataclass
class FitContext:
    """The reference and the calibration settings a monitor is fitted with."""

    spec: ModelSpec
    reference: pa.Table
    calibration: Calibration = field(default_factory=Calibration)
    #: Feature importance in [0, 1] (root cause weighting), when known.
    importance: dict[str, float] = field(default_factory=dict)
    #: Most quantile bins of numeric baselines (fewer for a small segment's reference).
    bins: int = MONITOR_BINS
    _numeric: dict[str, Any] = field(default_factory=dict, repr=False)
    _labels: dict[str, Any] = field(default_factory=dict, repr=False)
    _counts: dict[str, tuple[dict[str, int], int]] = field(default_factory=dict, repr=False)

    def numeric_baseline(self, name: str) -> Any:
        """The column's :class:`NumericBaseline`, built once and shared by all monitors."""
        if name not in self._numeric:
            self._numeric[name] = self._build_numeric(name)
        return self._numeric[name]

    def prepare(self, names: Sequence[str], categorical: Sequence[str] = ()) -> None:
        """Build the numeric baselines of ``names`` and count the categories of
        ``categorical``, two at a time: numpy and Arrow sort and count with the GIL released,
        so a 2-core machine fits 20 columns of 1M rows in ~half the time. Each is what
        :meth:`numeric_baseline` / :meth:`category_counts` would compute."""
        todo = [
            n for n in dict.fromkeys(names) if n not in self._numeric and self.column(n) is not None
        ]
        counts = [
            n
            for n in dict.fromkeys(categorical)
            if n not in self._counts and self.column(n) is not None
        ]
        if len(todo) + len(counts) < 2:
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=2) as pool:
            # the counts first: a category column's hash pass is the longest single job
            counting = [pool.submit(self.category_counts, n) for n in counts]
            built = list(pool.map(self._build_numeric, todo))
            for job in counting:
                job.result()
        self._numeric.update(zip(todo, built, strict=True))

    def _build_numeric(self, name: str) -> Any:
        from mlwarden.stats.baseline import NumericBaseline

        values = self.floats(name)
        return NumericBaseline.from_values(values if values is not None else [], max_bins=self.bins)

    def column(self, name: str) -> pa.ChunkedArray | None:
        return self.reference.column(name) if name in self.reference.column_names else None

    def floats(
        self, name: str, *, rows: npt.ArrayLike | None = None
    ) -> np.ndarray[Any, np.dtype[np.float64]] | None:
        """A column as float64 (nulls NaN, booleans 0/1), or None if it is missing or not
        numeric; ``rows``: only these row positions (taken before the conversion)."""
        col = self.column(name)
        if col is None:
            return None
        if rows is not None:
            col = col.take(pa.array(np.asarray(rows, dtype=np.int64)))
        if pa.types.is_boolean(col.type):
            col = pc.cast(col, pa.int8())
        try:
            arr = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
        return np.asarray(arr, dtype=np.float64)

    def reads_as_numbers(self, name: str) -> bool:
        """Whether :meth:`floats` of the column is not None, from its type when that settles
        it (no conversion of a million values to learn it)."""
        col = self.column(name)
        if col is None:
            return False
        t = col.type
        if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t):
            return True
        return self.floats(name) is not None

    def label_array(self, name: str) -> pa.ChunkedArray | None:
        """A column as canonical class labels / category strings (vectorised, cached)."""
        from mlwarden.schema.batch import _labels
        from mlwarden.schema.spec import _label

        if name in self._labels:
            return self._labels[name]
        col = self.column(name)
        if col is None:
            return None
        if pa.types.is_dictionary(col.type):
            col = pc.cast(col, pa.string())
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            out = pc.cast(col, pa.string())
        else:
            out = _labels(col)
            if out is None:
                out = pa.chunked_array(
                    [
                        pa.array(
                            [None if v is None else _label(v) for v in col.to_pylist()], pa.string()
                        )
                    ]
                )
        self._labels[name] = out
        return out

    def labels(self, name: str) -> list[str | None] | None:
        """A column as canonical class labels / category strings."""
        arr = self.label_array(name)
        return None if arr is None else arr.to_pylist()

    def category_counts(self, name: str) -> tuple[dict[str, int], int] | None:
        """(count of each category, missing count) of a column, computed in Arrow."""
        if name in self._counts:  # drift and unseen-category monitors both ask
            counts, missing = self._counts[name]
            return dict(counts), missing
        arr = self.label_array(name)
        if arr is None:
            return None
        vc = pc.value_counts(arr.drop_null())
        counts = dict(
            zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True)
        )
        self._counts[name] = (counts, arr.null_count)
        return dict(counts), arr.null_count


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def length(self) -> timedelta:
        return self.end - self.start


@dataclass
class WindowData:
    """One window's aggregates, by request; ``history`` holds earlier windows' volumes."""

    window: Window
    aggregates: dict[Request, Any]
    segment_label: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    #: Trace spans a monitor made while judging the window (an LLM judge's own calls), as
    #: normalised span rows; the evaluation stores them under the model's service.
    emitted: list[dict[str, Any]] = field(default_factory=list)
    #: Monitors that call out to the network (see ``Monitor.calls_out``) may do so for this
    #: window: the judge job and an explicit evaluation request, never the scheduler.
    call_out: bool = False
    #: Asked between a calling-out monitor's rounds of calls: true once its job must stop.
    stop: Callable[[], bool] | None = None

    def get(self, request: Request) -> Any:
        return self.aggregates.get(request)

    @property
    def volume(self) -> dict[str, Any]:
        from mlwarden.store.aggregates import Volume

        v = self.aggregates.get(Volume())
        return v if v is not None else {"n": 0, "errors": 0, "latency_n": 0, "ids": 0}

    @property
    def n(self) -> int:
        return int(self.volume.get("n", 0))
