"""Feature importance from the reference: how much the model's output depends on each feature.

The model itself is not available to mlwarden, only its inputs and outputs. So a
*surrogate* learns the model's output from the features of the reference
(scikit-learn's histogram gradient boosting: fast, handles missing values and
categories natively), and permutation importance on a held-out part measures how
much the surrogate's fit drops when one feature is shuffled. Root-cause analysis
weights drift by these numbers: drift in a feature the model ignores matters less.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.inspection import permutation_importance
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from mlwarden.errors import ConfigError, MlwardenError, StatisticsError, expected
from mlwarden.schema.spec import FeatureKind, ModelSpec, Task

if TYPE_CHECKING:
    from mlwarden.store.protocols import Catalog

__all__ = ["feature_importance", "model_importance"]

#: Share of the (subsampled) reference held out to measure permutation importance.
HOLDOUT = 0.25
#: Rows a reference needs (after dropping rows without the model's output).
MIN_ROWS = 50
#: Shuffles per feature.
REPEATS = 5
#: Categories kept per feature (HistGradientBoosting's limit is 255 bins with one for missing);
#: rarer ones share one code.
MAX_CATEGORIES = 250

_Floats = npt.NDArray[np.float64]

log = logging.getLogger("mlwarden.analysis")
#: Importance per store (it lives as long as its store), then per (project, model, reference).
_computed: weakref.WeakKeyDictionary[Any, dict[tuple[str, str, str], dict[str, float]]] = (
    weakref.WeakKeyDictionary()
)
_lock = threading.Lock()


def model_importance(store: Catalog, record: Any) -> dict[str, float]:
    """Feature importance of a stored model, from its latest reference (see
    :func:`feature_importance`); ``{}`` without a reference or when it cannot be learned.

    The one definition of feature importance: the incident's root cause ranking and the
    pages (the drift heat map's order) both read it. Computed once per reference.
    """
    try:
        ref_rec, reference = store.get_reference(record.project, record.name)
    except MlwardenError:
        return {}
    key = (record.project, record.name, str(ref_rec.uid))
    with _lock:
        hit = _computed.get(store, {}).get(key)
    if hit is not None:
        return hit
    try:
        imp = feature_importance(record.spec, reference)
    except MlwardenError as exc:
        log.info("no feature importance for %s: %s", record.name, exc)
        imp = {}
    with _lock:
        _computed.setdefault(store, {})[key] = imp
    return imp


def feature_importance(
    spec: ModelSpec, reference: pa.Table, *, seed: int = 0, max_rows: int = 20_000
) -> dict[str, float]:
    """Importance of each numeric, categorical and boolean feature, summing to 1.

    The surrogate predicts the model's score when the reference has one (a binary
    classifier's probability: a smooth target), else its prediction (classes for a
    classifier, values for a regressor). Negative importances (shuffling did not hurt) are
    clipped to 0; when every importance is 0 (the output does not vary) they are uniform.
    At most ``max_rows`` reference rows are used (a seeded subsample); the result is
    deterministic in ``seed``. LLM models have nothing to learn from: ``{}``.

    Examples
    --------
    >>> import numpy as np, pyarrow as pa
    >>> from mlwarden.schema import Feature, ModelSpec
    >>> rng = np.random.default_rng(0)
    >>> x, noise = rng.normal(size=400), rng.normal(size=400)
    >>> spec = ModelSpec(name="m", task="regression", features=[
    ...     Feature(name="x", kind="numeric"), Feature(name="noise", kind="numeric")])
    >>> imp = feature_importance(spec, pa.table({"x": x, "noise": noise, "prediction": 3 * x}))
    >>> imp["x"] > 0.95, round(sum(imp.values()), 6)
    (True, 1.0)
    """
    if spec.task is Task.LLM:
        return {}
    if not isinstance(max_rows, int) or isinstance(max_rows, bool) or max_rows < MIN_ROWS:
        raise ConfigError(
            expected(
                "parameter of feature_importance",
                "max_rows",
                f"be an integer >= {MIN_ROWS}",
                max_rows,
            )
        )
    target_col = _target_column(spec, reference)
    names = [
        f.name
        for f in spec.features
        if f.kind in (FeatureKind.NUMERIC, FeatureKind.CATEGORICAL, FeatureKind.BOOLEAN)
        and f.name in reference.column_names
    ]
    if not names:
        raise StatisticsError(
            f"The reference of model {spec.name!r} has no numeric, categorical or boolean feature "
            f"column to learn from (its columns: {', '.join(reference.column_names)})."
        )
    y_raw = reference.column(target_col)
    keep = np.flatnonzero(~np.asarray(y_raw.is_null().to_numpy(zero_copy_only=False)))
    if len(keep) < MIN_ROWS:
        raise StatisticsError(
            f"The reference of model {spec.name!r} has {len(keep)} rows with a value in "
            f"{target_col!r}; at least {MIN_ROWS} are needed to learn feature importance."
        )
    rng = np.random.default_rng(seed)
    if len(keep) > max_rows:
        keep = np.sort(rng.choice(keep, size=max_rows, replace=False))
    table = reference.select([*names, target_col]).take(pa.array(keep))
    classify = spec.task.is_classification and target_col != spec.score
    y = _labels(table.column(target_col)) if classify else _floats(table.column(target_col))
    if len(np.unique(y)) < 2:  # a constant output depends on nothing
        return {n: 1.0 / len(names) for n in names}
    x, categorical = _design(spec, table, names)
    order = rng.permutation(len(y))
    cut = int(len(y) * (1 - HOLDOUT))
    fit, hold = order[:cut], order[cut:]
    surrogate: Any = (
        HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
    )(
        categorical_features=categorical if categorical.any() else None,
        early_stopping=False,
        max_iter=100,
        random_state=seed,
    )
    # one OpenMP thread: on a busy host (the server's other threads, other processes) the
    # gradient boosting's thread team spin-waits; measured on 2 loaded cores, a 10-class
    # surrogate of 400 rows took 174 s with the default threads and 3.9 s with one
    with threadpool_limits(1, user_api="openmp"):
        surrogate.fit(x[fit], y[fit])
        result = permutation_importance(
            surrogate, x[hold], y[hold], n_repeats=REPEATS, random_state=seed, n_jobs=None
        )
    imp = np.clip(np.nan_to_num(np.asarray(result.importances_mean, dtype=np.float64)), 0.0, None)
    total = float(imp.sum())
    if total <= 0.0:
        return {n: 1.0 / len(names) for n in names}
    return {n: float(v / total) for n, v in zip(names, imp, strict=True)}


def _target_column(spec: ModelSpec, reference: pa.Table) -> str:
    cols = reference.column_names
    if spec.task is Task.BINARY and spec.score and spec.score in cols:
        return spec.score
    if spec.prediction is None or spec.prediction not in cols:
        raise ConfigError(
            f"The reference of model {spec.name!r} must have the model's prediction column "
            f"{spec.prediction!r} (or score column {spec.score!r}) to learn feature importance. "
            f"Got columns {', '.join(cols)} instead."
        )
    return spec.prediction


def _floats(col: Any) -> _Floats:
    try:
        return np.asarray(col.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise StatisticsError(
            f"The model output column must be numeric for a regression model or a score. "
            f"Got {col.type} instead."
        ) from exc


def _labels(col: Any) -> npt.NDArray[np.str_]:
    return np.asarray([str(v) for v in col.to_pylist()])


def _design(
    spec: ModelSpec, table: pa.Table, names: list[str]
) -> tuple[_Floats, npt.NDArray[np.bool_]]:
    """Features as a float matrix (NaN missing); categories as ordinal codes, most frequent
    first, the rarest beyond :data:`MAX_CATEGORIES` sharing one code."""
    cols: list[_Floats] = []
    categorical: list[bool] = []
    for name in names:
        kind = spec.feature(name).kind  # type: ignore[union-attr]
        col = table.column(name)
        if kind is FeatureKind.CATEGORICAL:
            values = [None if v is None else str(v) for v in col.to_pylist()]
            counts = Counter(v for v in values if v is not None)
            ranked = sorted(counts, key=lambda v: (-counts[v], v))
            code = {v: min(i, MAX_CATEGORIES) for i, v in enumerate(ranked)}
            cols.append(
                np.asarray([np.nan if v is None else code[v] for v in values], dtype=np.float64)
            )
            categorical.append(True)
        else:
            try:
                cols.append(_floats(col))
            except StatisticsError as exc:
                raise StatisticsError(
                    f"The reference column {name!r} of {kind.value} feature must hold numbers. "
                    f"Got {col.type} instead."
                ) from exc
            categorical.append(False)
    return np.column_stack(cols), np.asarray(categorical, dtype=bool)
