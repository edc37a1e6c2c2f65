"""Slice discovery: the segments where a model does worst relative to everywhere else.

A *slice* is a feature value (``region = north``), a numeric range
(``credit_score in [612, 650)``), a missing value, or a pair of them. For a time range,
:func:`find_slices` compares the mean per-row outcome of each candidate slice (correct or
not, error or not, latency, ...) with the mean of the other rows, and returns the
significant ones, worst (size-weighted) first.

How:

1. *Outcomes.* ``metric`` picks the per-row outcome (:data:`METRICS`); the engine computes it
   next to the events (joining labels when needed; :mod:`mlwarden.analysis.slices_query`).
2. *Singles.* Each categorical, boolean or segment column is grouped by value (the
   :data:`MAX_VALUES` largest; the rare tail is not tested); each numeric column by
   ``bins`` ranges cut at the reference's quantiles (the window's without a reference),
   plus a "missing" group. One engine scan returns ``(n, sum, sum of squares)`` per group.
3. *Pairs.* The :data:`PAIR_COLUMNS` columns with the most promising single slices are
   paired (45 column pairs, not all 435 of 30 columns), again in one scan.
4. *Statistics* (numpy, from the sums): Welch's z of slice vs rest, one-sided (only worse
   slices are looked for), Bonferroni over every candidate slice tested; a pair is kept only
   when it is worse than *each* of its two parents alone (see :func:`_keep_pair`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
from scipy import stats as sps

from mlwarden.analysis.slices_query import (
    MISSING_CODE,
    as_floats,
    bin_key,
    grouped_sums,
    label_key,
    outcomes,
    window_quantiles,
)
from mlwarden.errors import ConfigError, expected
from mlwarden.schema.spec import FeatureKind, ModelSpec, Task
from mlwarden.store.base import ModelRecord, Store
from mlwarden.store.protocols import AggregateSource
from mlwarden.store.times import utc_naive

__all__ = ["METRICS", "Condition", "Slice", "find_slices"]

_CLASSIFICATION = frozenset({Task.BINARY, Task.MULTICLASS})
_ALL_TASKS = frozenset(Task)
#: Metric name -> (higher values are worse, tasks it applies to).
_METRICS: dict[str, tuple[bool, frozenset[Task]]] = {
    "accuracy": (False, _CLASSIFICATION),
    "error_rate": (True, _ALL_TASKS),
    "latency": (True, _ALL_TASKS),
    "abs_error": (True, frozenset({Task.REGRESSION})),
    "estimated_accuracy": (False, _CLASSIFICATION),
    "accuracy_vs_expected": (False, _CLASSIFICATION),
}
#: Per-row outcomes :func:`find_slices` compares (``"auto"`` picks one).
METRICS: tuple[str, ...] = tuple(_METRICS)

#: Values of a categorical column tested as slices (the most frequent).
MAX_VALUES = 50
#: Columns whose single slices look most promising that are paired.
PAIR_COLUMNS = 10
#: A pair must be this many times worse than its worse parent to be reported.
PAIR_GAIN = 1.1
#: Score = effect x share ** SIZE_EXPONENT. With 1/2 the score is, up to the outcome's spread,
#: the slice's z statistic in a window of fixed size: (a) it prefers a segment to any superset
#: of it diluted with healthy rows (share x d for a segment of share p and effect d spread
#: over a parent of share P: d p / sqrt(P) < d sqrt(p)), which effect x share cannot do (it
#: scores both d p); (b) a tiny slice needs a large effect to outrank a large one: a 0.5%
#: slice 50 points worse scores 0.035, below a 5% slice 20 points worse (0.045), and a
#: 0.1% slice cannot outrank it at all on a 0-1 metric whose rest is at most 80% good.
SIZE_EXPONENT = 0.5

_FEATURE_KINDS = (FeatureKind.NUMERIC, FeatureKind.CATEGORICAL, FeatureKind.BOOLEAN)


@dataclass(frozen=True)
class Condition:
    """One condition of a slice: ``column == value`` (``value`` None: the value is missing)
    or ``low <= column < high`` (``op == "range"``; a None bound is open).

    Examples
    --------
    >>> Condition("region", "==", value="north").describe()
    'region = north'
    >>> Condition("credit_score", "range", low=300, high=612).describe()
    'credit_score in [300, 612)'
    >>> Condition("income", "range", high=2.5e4).describe(), Condition("x", "==").describe()
    ('income < 25000', 'x is missing')
    """

    column: str
    op: str
    value: str | None = None
    low: float | None = None
    high: float | None = None

    def describe(self) -> str:
        """A short human-readable form of the condition."""
        if self.op == "==":
            return (
                f"{self.column} is missing"
                if self.value is None
                else f"{self.column} = {self.value}"
            )
        if self.low is None and self.high is None:
            return f"{self.column} is not missing"
        if self.low is None:
            return f"{self.column} < {_num(self.high)}"
        if self.high is None:
            return f"{self.column} >= {_num(self.low)}"
        return f"{self.column} in [{_num(self.low)}, {_num(self.high)})"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "column": self.column,
            "op": self.op,
            "value": self.value,
            "low": self.low,
            "high": self.high,
        }


@dataclass(frozen=True)
class Slice:
    """A slice where the model does worse than on the rest of the rows.

    ``value`` and ``rest`` are the metric's means in the slice and on the other rows;
    ``effect`` is how much worse the slice is, in the metric's units (positive: worse, so
    ``rest - value`` for accuracy); ``z`` is Welch's statistic of that difference and
    ``p_value`` its one-sided p-value, Bonferroni-adjusted for every candidate slice tested;
    ``score`` = effect x share ** :data:`SIZE_EXPONENT` ranks the slices.
    """

    conditions: tuple[Condition, ...]
    rows: int
    share: float
    value: float
    rest: float
    effect: float
    z: float
    p_value: float
    score: float
    metric: str

    def describe(self) -> str:
        """The conditions joined by "and".

        Examples
        --------
        >>> s = Slice((Condition("region", "==", "north"),
        ...            Condition("employment_type", "==", "self-employed")),
        ...           rows=400, share=0.05, value=0.55, rest=0.8, effect=0.25, z=9.0,
        ...           p_value=1e-12, score=0.056, metric="accuracy")
        >>> s.describe()
        'region = north and employment_type = self-employed'
        >>> s.to_dict()["description"] == s.describe()
        True
        """
        return " and ".join(c.describe() for c in self.conditions)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (with the description)."""
        return {
            "description": self.describe(),
            "conditions": [c.to_dict() for c in self.conditions],
            "rows": self.rows,
            "share": self.share,
            "value": self.value,
            "rest": self.rest,
            "effect": self.effect,
            "z": self.z,
            "p_value": self.p_value,
            "score": self.score,
            "metric": self.metric,
        }


def _num(x: float | None) -> str:
    """A bound as written in a description: integers without '.0', else 6 digits."""
    if x is None:  # pragma: no cover - callers check
        return "?"
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.6g}"


def find_slices(
    store: Store,
    model: ModelRecord,
    *,
    start: datetime,
    end: datetime,
    metric: str = "auto",
    columns: Sequence[str] | None = None,
    reference: pa.Table | None = None,
    bins: int = 5,
    pairs: bool = True,
    top: int = 10,
    alpha: float = 0.01,
    min_rows: int = 30,
) -> list[Slice]:
    """The slices of ``[start, end)`` where the model does significantly worse, worst first.

    ``metric`` is one of :data:`METRICS` or ``"auto"``. For a classifier with at least
    ``2 * min_rows`` labelled events in the range, ``auto`` is ``accuracy_vs_expected`` when
    they have scores (correct or not, minus the model's own confidence: a slice the model
    does worse on than it expects to, which tells a segment that *got* worse from one that
    is merely hard, since low-confidence rows are less accurate in any window), else
    ``accuracy``; ``abs_error`` for a regressor likewise; else ``estimated_accuracy`` when
    the model has scores, else ``error_rate``. ``columns`` defaults to every numeric, categorical and boolean feature
    and segment column. Numeric columns are cut into ``bins`` ranges at the quantiles of
    ``reference`` (when it has the column) or of the range. Slices of fewer than
    ``min_rows`` rows (or leaving fewer for the rest) are not tested. Returns at most ``top``
    slices whose Bonferroni-adjusted p-value is at most ``alpha``; ``[]`` when the range has
    too little data (or no labels for a metric that needs them).

    Examples
    --------
    >>> from datetime import datetime
    >>> from mlwarden.schema import Feature, ModelSpec
    >>> from mlwarden.store import DuckDBStore
    >>> store = DuckDBStore()
    >>> model = store.create_model("p", ModelSpec(name="m", task="binary",
    ...     features=[Feature(name="x", kind="numeric")]))
    >>> find_slices(store, model, start=datetime(2026, 1, 1), end=datetime(2026, 1, 2))
    []
    >>> find_slices(store, model, start=datetime(2026, 1, 1), end=datetime(2026, 1, 2),
    ...             metric="mae")
    Traceback (most recent call last):
    ...
    mlwarden.errors.ConfigError: The 'metric' parameter of find_slices must be one of auto, accuracy, error_rate, latency, estimated_accuracy, accuracy_vs_expected for a binary model. Got 'mae' instead.
    >>> store.close()
    """  # noqa: E501
    spec = model.spec
    _check_params(spec, metric, bins, top, alpha, min_rows, start, end)
    events = store.events(model)
    cols = _columns(spec, model.name, set(events.columns), columns)
    if metric == "auto":
        metric = _auto_metric(store, model, start, end, min_rows)
    higher_is_worse = _METRICS[metric][0]
    if not cols:
        return []
    base = outcomes(store, model, metric, start, end)
    numeric = [c for c in cols if _is_numeric(spec, c)]
    edges = _edges(store, model, start, end, numeric, reference, bins)
    keys = {c: bin_key(base[c], edges[c]) if c in edges else label_key(base[c]) for c in cols}
    groups = grouped_sums(store, base, keys, [(), *((c,) for c in cols)], limit=MAX_VALUES)
    total = groups[0].get(())
    if total is None or total[0] < 2 * min_rows:
        return []
    cands = _Candidates(total, higher_is_worse, min_rows)
    for c, g in zip(cols, groups[1:], strict=True):
        for (k,), sums in g.items():
            cands.add((_condition(c, k, edges.get(c)),), sums)
    pair_of: dict[int, tuple[int, int]] = {}
    if pairs:
        pair_of = _add_pairs(store, base, cols, groups[1:], edges, cands)
    return cands.select(pair_of, metric=metric, alpha=alpha, top=top)


def _check_params(
    spec: ModelSpec,
    metric: str,
    bins: int,
    top: int,
    alpha: float,
    min_rows: int,
    start: datetime,
    end: datetime,
) -> None:
    def bad(name: str, must: str, got: object) -> ConfigError:
        return ConfigError(expected("parameter of find_slices", name, must, got))

    valid = ["auto", *(m for m, (_, tasks) in _METRICS.items() if spec.task in tasks)]
    if metric not in valid:
        raise bad("metric", f"be one of {', '.join(valid)} for a {spec.task.value} model", metric)
    for name, value, low in (("bins", bins, 2), ("top", top, 1), ("min_rows", min_rows, 2)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise bad(name, f"be an integer >= {low}", value)
    if not isinstance(alpha, float | int) or not 0.0 < alpha < 1.0:
        raise bad("alpha", "be a float in the range (0, 1)", alpha)
    if utc_naive(end) <= utc_naive(start):
        raise bad("end", f"be after start, {start.isoformat()}", end.isoformat())


def _columns(
    spec: ModelSpec, model: str, stored: set[str], columns: Sequence[str] | None
) -> list[str]:
    usable = [f.name for f in spec.features if f.kind in _FEATURE_KINDS]
    usable += [t for t in spec.tag_columns if t not in usable]
    usable = [c for c in usable if c in stored]
    if columns is None:
        return usable
    if isinstance(columns, str):
        columns = [columns]
    for c in columns:
        if c not in usable:
            raise ConfigError(
                expected(
                    "parameter of find_slices",
                    "columns",
                    f"list numeric, categorical or boolean features or segment columns of "
                    f"model {model!r} ({', '.join(usable) or 'none'})",
                    c,
                )
            )
    return list(dict.fromkeys(columns))


def _is_numeric(spec: ModelSpec, column: str) -> bool:
    f = spec.feature(column)
    return f is not None and f.kind is FeatureKind.NUMERIC


def _auto_metric(
    store: Store, model: ModelRecord, start: datetime, end: datetime, min_rows: int
) -> str:
    task = model.spec.task
    labelled = {Task.BINARY: "accuracy", Task.MULTICLASS: "accuracy"}.get(task)
    if task is Task.REGRESSION:
        labelled = "abs_error"
    if labelled is not None and _count(store, model, labelled, start, end) >= 2 * min_rows:
        if task in _CLASSIFICATION and (
            _count(store, model, "accuracy_vs_expected", start, end) >= 2 * min_rows
        ):
            return "accuracy_vs_expected"
        return labelled
    if task in _CLASSIFICATION and _count(store, model, "estimated_accuracy", start, end):
        return "estimated_accuracy"
    return "error_rate"


def _count(store: Store, model: ModelRecord, metric: str, start: datetime, end: datetime) -> int:
    n = outcomes(store, model, metric, start, end).count().to_pyarrow().as_py()
    return int(n or 0)


def _edges(
    store: AggregateSource,
    model: ModelRecord,
    start: datetime,
    end: datetime,
    columns: Sequence[str],
    reference: pa.Table | None,
    bins: int,
) -> dict[str, list[float]]:
    """Interior bin edges of each numeric column: reference quantiles, else the window's."""
    levels = [i / bins for i in range(1, bins)]
    out: dict[str, list[float]] = {}
    for c in columns:
        if reference is not None and c in reference.column_names:
            try:
                x = as_floats(reference.column(c))
            except (TypeError, ValueError, pa.ArrowInvalid) as exc:
                raise ConfigError(
                    expected(
                        "parameter of find_slices",
                        "reference",
                        f"have numbers in its column {c!r}",
                        str(reference.schema.field(c).type),
                    )
                ) from exc
            if len(x):
                out[c] = sorted({float(v) for v in np.quantile(x, levels, method="lower")})
    rest = [c for c in columns if c not in out]
    if rest:
        ev = store.events(model)
        ev = ev.filter(ev.ts >= utc_naive(start), ev.ts < utc_naive(end))
        for c, qs in window_quantiles(ev, rest, levels).items():
            out[c] = sorted(set(qs))
    return out


def _condition(column: str, key: Any, edges: Sequence[float] | None) -> Condition:
    if edges is None:
        return Condition(column, "==", value=None if key is None else str(key))
    if key == MISSING_CODE:
        return Condition(column, "==", value=None)
    k = int(key)
    low = edges[k - 1] if k > 0 else None
    high = edges[k] if k < len(edges) else None
    return Condition(column, "range", low=low, high=high)


class _Candidates:
    """Candidate slices, their sums, and the statistics computed from them."""

    def __init__(self, total: tuple[int, float, float], higher_is_worse: bool, min_rows: int):
        self.total = total
        self.sign = 1.0 if higher_is_worse else -1.0
        self.min_rows = min_rows
        self.conditions: list[tuple[Condition, ...]] = []
        self.sums: list[tuple[int, float, float]] = []
        self.index: dict[tuple[Condition, ...], int] = {}

    def add(self, conditions: tuple[Condition, ...], sums: tuple[int, float, float]) -> int:
        self.index[conditions] = len(self.sums)
        self.conditions.append(conditions)
        self.sums.append(sums)
        return len(self.sums) - 1

    def stats(self) -> tuple[Any, ...]:
        """Per candidate: slice mean, rest mean, effect (worse > 0), z, tested or not."""
        a = np.asarray(self.sums, dtype=np.float64).reshape(-1, 3)
        return _welch(a[:, 0], a[:, 1], a[:, 2], *self.total, self.sign, self.min_rows)

    def select(
        self, pair_of: dict[int, tuple[int, int]], *, metric: str, alpha: float, top: int
    ) -> list[Slice]:
        mean, rest, effect, z, tested = self.stats()
        m = max(int(tested.sum()), 1)
        p = np.minimum(sps.norm.sf(z) * m, 1.0)
        share = np.asarray([s[0] for s in self.sums], dtype=np.float64) / self.total[0]
        score = effect * share**SIZE_EXPONENT
        z_crit = float(sps.norm.isf(alpha / m))
        keep = tested & (p <= alpha) & (effect > 0)
        for i, (a, b) in pair_of.items():
            if keep[i] and not self._keep_pair(i, a, b, effect, z_crit):
                keep[i] = False
        order = sorted(np.flatnonzero(keep), key=lambda i: (-score[i], -z[i], i))
        return [
            Slice(
                conditions=self.conditions[i],
                rows=int(self.sums[i][0]),
                share=float(share[i]),
                value=float(mean[i]),
                rest=float(rest[i]),
                effect=float(effect[i]),
                z=float(z[i]),
                p_value=float(p[i]),
                score=float(score[i]),
                metric=metric,
            )
            for i in order[:top]
        ]

    def _keep_pair(self, i: int, a: int, b: int, effect: Any, z_crit: float) -> bool:
        """A pair adds something when it is meaningfully worse than its worse parent
        (:data:`PAIR_GAIN`) and significantly worse than the rest of *each* parent: otherwise
        one of its two conditions explains it alone."""
        if effect[i] < PAIR_GAIN * max(effect[a], effect[b], 0.0):
            return False
        n, s, q = self.sums[i]
        for parent in (a, b):
            _, _, _, z, tested = _welch(
                np.array([n]), np.array([s]), np.array([q]), *self.sums[parent],
                self.sign, self.min_rows,
            )  # fmt: skip
            if not tested[0] or z[0] < z_crit:
                return False
        return True


def _welch(
    n: Any, s: Any, q: Any, big_n: float, big_s: float, big_q: float, sign: float, min_rows: int
) -> tuple[Any, ...]:
    """Welch's z of slices (n, s, q) against the rest of a whole (N, S, Q), vectorised.

    Returns slice means, rest means, effects (``sign`` x difference: positive is worse),
    z of the effect, and whether each slice and its rest both have ``min_rows`` rows.
    """
    nr = big_n - n
    tested = (n >= min_rows) & (nr >= min_rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = s / n
        rest = (big_s - s) / nr
        var1 = np.maximum(q - s * mean, 0.0) / (n - 1)
        var2 = np.maximum((big_q - q) - (big_s - s) * rest, 0.0) / (nr - 1)
        se = np.sqrt(var1 / n + var2 / nr)
        effect = sign * (mean - rest)
        z = np.where(se > 0, effect / se, np.where(effect > 0, math.inf, 0.0))
    z = np.where(tested, z, 0.0)
    effect = np.where(tested, effect, 0.0)
    return mean, rest, effect, z, tested


def _add_pairs(
    store: Store,
    base: Any,
    cols: list[str],
    single_groups: list[dict[tuple[Any, ...], tuple[int, float, float]]],
    edges: dict[str, list[float]],
    cands: _Candidates,
) -> dict[int, tuple[int, int]]:
    """Pair the columns of the most promising single slices; returns pair -> parents."""
    _, _, effect, _, tested = cands.stats()
    share = np.asarray([s[0] for s in cands.sums], dtype=np.float64) / cands.total[0]
    best: dict[str, float] = {}
    for i, conds in enumerate(cands.conditions):
        if tested[i] and effect[i] > 0:
            col = conds[0].column
            best[col] = max(best.get(col, 0.0), effect[i] * share[i] ** SIZE_EXPONENT)
    chosen = [c for c in sorted(best, key=lambda c: (-best[c], c))][:PAIR_COLUMNS]
    chosen.sort(key=cols.index)
    if len(chosen) < 2:
        return {}
    keys: dict[str, Any] = {}
    for c in chosen:
        if c in edges:
            keys[c] = bin_key(base[c], edges[c])
        else:
            seen = [k[0] for k in single_groups[cols.index(c)]]
            full = len(seen) < MAX_VALUES
            keys[c] = label_key(base[c], None if full else [v for v in seen if v is not None])
    sets = list(itertools.combinations(chosen, 2))
    groups = grouped_sums(store, base, keys, sets, limit=(MAX_VALUES + 2) ** 2)
    pair_of: dict[int, tuple[int, int]] = {}
    for (ca, cb), g in zip(sets, groups, strict=True):
        for (ka, kb), sums in g.items():
            a = cands.index.get((_condition(ca, ka, edges.get(ca)),))
            b = cands.index.get((_condition(cb, kb, edges.get(cb)),))
            if a is None or b is None:  # a value of the untested tail
                continue
            i = cands.add((*cands.conditions[a], *cands.conditions[b]), sums)
            pair_of[i] = (a, b)
    return pair_of
