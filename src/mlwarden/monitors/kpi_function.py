"""A business KPI written as a Python function, for batch reports (``mlwarden report`` /
``check`` and ``mlwarden.report``): it runs on the caller's machine over the window's rows,
never on the server (a spec applied to the server with one is refused: write the KPI as an
expression there, see :mod:`mlwarden.monitors.kpi`)."""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from typing import Any, ClassVar, Self

import numpy as np
import pyarrow as pa

from mlwarden.errors import ConfigError, expected
from mlwarden.monitors.base import (
    MONITORS,
    Monitor,
    Objective,
    Result,
    Severity,
    Status,
    ThresholdPlan,
)
from mlwarden.monitors.context import Calibration, FitContext, WindowData
from mlwarden.monitors.kpi_judge import DIRECTIONS, check_kpi_name, judge, kpi_bounds
from mlwarden.schema.spec import ModelSpec, Task
from mlwarden.store.aggregates import Request, Volume
from mlwarden.store.kpi_aggregates import KpiRows

__all__ = ["KpiFunction", "canonical_rows"]

#: Draws of the reference at each of the sizes of :func:`_sizes`.
DRAWS = 40
#: Largest draw (the function runs ``DRAWS`` times at each size).
MAX_DRAW = 20_000

KpiFn = Callable[[Any], float | None]


def _load(function: str | KpiFn) -> KpiFn:
    if callable(function):
        return function
    module, _, name = str(function).partition(":")
    if not module or not name:
        raise ConfigError(
            expected("parameter", "function", "look like 'package.module:function'", function)
        )
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"The function {function!r} cannot be imported: {exc}") from exc
    if not callable(fn):
        raise ConfigError(expected("parameter", "function", "name a callable", function))
    return fn  # type: ignore[no-any-return]


def canonical_rows(spec: ModelSpec, reference: pa.Table) -> pa.Table:
    """Reference rows named as a window's rows are: ``prediction``, ``score``, ``actual``
    (the target; class labels as their canonical strings), the features and tags."""
    from mlwarden.monitors.context import FitContext as _Ctx

    ctx = _Ctx(spec, reference)
    cols: dict[str, Any] = {}
    for role, source in (("prediction", spec.prediction), ("score", spec.score)):
        if source and ctx.column(source) is not None:
            cols[role] = _as_stored(ctx, spec, source, role)
    for name in (*spec.feature_names, *spec.tag_columns):
        col = ctx.column(name)
        if col is not None and name not in cols:
            cols[name] = col
    if spec.target and ctx.column(spec.target) is not None:
        cols["actual"] = _as_stored(ctx, spec, spec.target, "actual")
    return pa.table(cols)


def _as_stored(ctx: FitContext, spec: ModelSpec, source: str, role: str) -> Any:
    if role == "score" or spec.task is Task.REGRESSION:
        return pa.array(ctx.floats(source), pa.float64())
    return ctx.label_array(source)


@MONITORS.register
class KpiFunction(Monitor):
    """A business KPI ``name`` computed by your Python ``function`` ('module:name', or the
    callable itself from Python) from the window's rows: a pandas DataFrame (``frame``
    'pandas') or an Arrow table ('arrow') with columns prediction, score, actual (the label,
    where one is known) and the features. For batch reports only. Thresholds as for a KPI
    expression: the function over draws of the reference at several sizes tells how its
    value and spread change with the window's size; alerts when the KPI moves ``direction``
    beyond what chance gives, by at least ``min_change`` of its expected value.

    Examples
    --------
    >>> KpiFunction(name="loss", function="mykpis:expected_loss", direction="up").id
    'kpi_function:loss'
    """

    kind: ClassVar[str] = "kpi_function"
    objective: ClassVar[Objective] = Objective.PERFORMANCE
    family: ClassVar[str] = "business"
    tab: ClassVar[str] = "performance"
    batch: ClassVar[bool] = True
    severity: ClassVar[Severity] = Severity.HIGH

    def __init__(
        self,
        name: str,
        function: str | KpiFn,
        *,
        frame: str = "pandas",
        direction: str = "both",
        threshold: float | None = None,
        min_change: float = 0.05,
    ) -> None:
        self.name = name
        self.function = function
        self.frame = frame
        self.direction = direction
        self.threshold = threshold
        self.min_change = min_change

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.name}"

    @property
    def label(self) -> str:
        return str(self.name).replace("_", " ")

    def check(self, spec: ModelSpec, *, where: str) -> None:
        """A spec applied to the server: refused (the server runs no user code)."""
        del spec
        raise ConfigError(
            expected(
                "field",
                f"{where}.kind",
                "not be 'kpi_function' on the server, which runs no code of yours: write the "
                "KPI as an expression (kind: kpi), or run the function in a batch report "
                "(mlwarden report / check)",
                self.kind,
            )
        )

    def _call(self, table: pa.Table) -> float | None:
        fn = _load(self.function)
        arg: Any = table.to_pandas() if self.frame == "pandas" else table
        value = fn(arg)
        if value is None:
            return None
        v = float(value)
        return v if math.isfinite(v) else None

    def fit(self, ctx: FitContext) -> Self:
        check_kpi_name(self.name, where=f"monitor {self.id}.name")
        if self.frame not in ("pandas", "arrow"):
            raise ConfigError(expected("parameter", "frame", "be 'pandas' or 'arrow'", self.frame))
        if self.direction not in DIRECTIONS:
            raise ConfigError(
                expected(
                    "parameter", "direction", f"be one of {', '.join(DIRECTIONS)}", self.direction
                )  # fmt: skip
            )
        rows = canonical_rows(ctx.spec, ctx.reference)
        n = rows.num_rows
        if n < self.min_rows:
            raise ConfigError(f"The reference has {n} rows; at least {self.min_rows} are needed.")
        whole = self._call(rows)
        rng = np.random.default_rng(0)
        sizes, means, sds = [], [], []
        for size in _sizes(n):
            values = []
            for _ in range(DRAWS):
                v = self._call(rows.take(pa.array(rng.integers(0, n, size))))
                if v is not None:
                    values.append(v)
            if len(values) > 1:
                sizes.append(size)
                means.append(float(np.mean(values)))
                sds.append(float(np.std(values)))
        if whole is None or len(sizes) < 2:
            raise ConfigError(f"The function of KPI {self.name!r} gives no value on the reference.")
        self.reference_value_ = whole
        self.label_column_ = "actual_value" if ctx.spec.task is Task.REGRESSION else "actual"
        self.n_reference_ = n
        self.sizes_, self.means_, self.sds_ = sizes, means, sds
        self.calibration_ = self.calibration_of(ctx).to_dict()
        return self

    def requests(self) -> list[Request]:
        return [Volume(), KpiRows(label=self.label_column_)]

    def bounds(self, n: int) -> dict[str, float | None]:
        """The KPI expected at ``n`` rows (a line through the draws' means: a total grows with
        the rows, a rate stays) and its spread (a power law through the draws' spreads),
        widened for the reference's own error."""
        x = np.asarray(self.sizes_, float)
        slope, icept = np.polyfit(x, np.asarray(self.means_, float), 1)
        center = float(icept + slope * n)
        sds = np.maximum(np.asarray(self.sds_, float), 1e-300)
        b, a = np.polyfit(np.log(x), np.log(sds), 1)
        sd = float(np.exp(a + b * math.log(n))) * math.sqrt(1.0 + n / self.n_reference_)
        return kpi_bounds(center, sd, mon=self)

    def threshold_plan(self, rows: int) -> ThresholdPlan:
        n = max(rows, self.min_rows)
        b = self.bounds(n)
        up = self.direction != "down"
        cal = Calibration(**self.calibration_)
        return ThresholdPlan(
            how=f"Your function's value expected at {n:,} rows from draws of the reference, "
            "plus or minus what chance gives at that size with the monitor's share of the "
            f"false-alarm budget, and at least {self.min_change:.0%} of the expected value.",
            threshold=b["high"] if up else b["low"],
            warn=b["high_warn"] if up else b["low_warn"],
            direction="above" if up else "below",
            reference=b["expected"],
            false_alerts_per_month=cal.per_month(cal.alpha),
        )

    def evaluate(self, data: WindowData) -> Result:
        table = data.get(KpiRows(label=self.label_column_))
        if data.n == 0 or table is None or table.num_rows == 0:
            return self.result(data, Status.NO_DATA, reason="No events in this window.")
        n = int(table.num_rows)
        try:
            value = self._call(table)
        except Exception as exc:  # noqa: BLE001 - a user function must not stop the report
            return self.result(
                data,
                Status.INSUFFICIENT_DATA,
                n=n,
                reason=f"The function of {self.label} failed: {type(exc).__name__}: {exc}",
            )
        if value is None:
            return self.result(
                data, Status.INSUFFICIENT_DATA, n=n, reason=f"{self.label} has no value here."
            )
        gate = self.gate(data, n, value=value)
        if gate is not None:
            return gate
        return judge(self, data, value, n, what="events", details={"kpi": self.name})


def _sizes(n: int) -> list[int]:
    """Draw sizes from an eighth of the reference to all of it (at most :data:`MAX_DRAW`)."""
    top = min(n, MAX_DRAW)
    return sorted({max(top // 8, 30), max(top // 4, 30), max(top // 2, 30), top})
