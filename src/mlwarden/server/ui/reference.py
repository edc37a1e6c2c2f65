"""What pages derive from a model's reference, computed once per reference and cached.

Feature importance, for ordering the drift heat map, and feature moments, for comparing
versions.

mlwarden does not hold the model, so importance is measured on the reference, model-agnostic:
how strongly the model's output (score, else prediction) moves with the feature. Numeric and
boolean features: |Spearman correlation|; categorical features: the correlation ratio (eta) of
the output across categories. Both lie in [0, 1]. Computed once per reference and cached.

Examples
--------
>>> import numpy as np, pyarrow as pa
>>> rng = np.random.default_rng(0)
>>> x = rng.normal(size=500)
>>> t = pa.table({"x": x, "noise": rng.normal(size=500), "score": x + 0.1 * rng.normal(size=500)})
>>> imp = importance_of(t, ["x", "noise"], "score")
>>> imp["x"] > 0.9 > 0.2 > imp["noise"]
True
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats as sps

from mlwarden.errors import NotFoundError

__all__ = ["importance_of", "model_importance", "reference_moments"]

_cache: dict[tuple[int, str, str, str], tuple[int, Any]] = {}
_lock = threading.Lock()
_key_locks: dict[tuple[int, str, str, str], threading.Lock] = {}


def _floats(col: pa.ChunkedArray) -> np.ndarray[Any, np.dtype[np.float64]] | None:
    if pa.types.is_boolean(col.type):
        col = pc.cast(col, pa.int8())
    try:
        arr: np.ndarray[Any, np.dtype[np.float64]] = pc.cast(col, pa.float64()).to_numpy(
            zero_copy_only=False
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return arr


def _eta(labels: list[Any], y: np.ndarray[Any, np.dtype[np.float64]]) -> float:
    keys = np.array(["" if v is None else str(v) for v in labels])
    total = float(((y - y.mean()) ** 2).sum())
    if total <= 0:
        return 0.0
    between = 0.0
    for k in np.unique(keys):
        g = y[keys == k]
        between += len(g) * float((g.mean() - y.mean()) ** 2)
    return float(np.sqrt(between / total))


def importance_of(table: pa.Table, features: list[str], output: str) -> dict[str, float]:
    """Association of each feature with ``output`` on ``table`` (0 when it cannot be told)."""
    y = _floats(table.column(output)) if output in table.column_names else None
    out: dict[str, float] = {}
    for f in features:
        if y is None or f not in table.column_names:
            out[f] = 0.0
            continue
        col = table.column(f)
        x = None if pa.types.is_string(col.type) else _floats(col)
        ok = ~np.isnan(y)
        if x is not None:
            ok &= ~np.isnan(x)
            if ok.sum() < 10 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
                out[f] = 0.0
                continue
            rho = sps.spearmanr(x[ok], y[ok]).statistic
            out[f] = float(abs(rho)) if np.isfinite(rho) else 0.0
        else:
            labels = col.to_pylist()
            out[f] = _eta([v for v, k in zip(labels, ok, strict=True) if k], y[ok])
    return out


def _cached(store: Any, project: str, model: Any, what: str, fn: Any) -> Any:
    """``fn(reference table)`` for the model's latest reference, cached until it changes; one
    computation at a time per key (a page arriving meanwhile waits for it, e.g. for the
    start-up warming)."""
    refs = store.list_references(project, model.name)
    if not refs:
        return {}
    key = (id(store), project, model.name, what)
    uid = max(r.uid for r in refs)
    with _lock:
        key_lock = _key_locks.setdefault(key, threading.Lock())
    with key_lock:
        with _lock:
            hit = _cache.get(key)
        if hit is not None and hit[0] == uid:
            return hit[1]
        try:
            _, table = store.get_reference(project, model.name)
        except NotFoundError:
            return {}
        value = fn(table)
        with _lock:
            _cache[key] = (uid, value)
        return value


def model_importance(store: Any, project: str, model: Any) -> dict[str, float]:
    """Feature importance of a model (see the module docstring), from its latest reference."""
    spec = model.spec

    def compute(table: pa.Table) -> dict[str, float]:
        output = spec.score if spec.score in table.column_names else spec.prediction
        imp = importance_of(table, [f.name for f in spec.features], output or "")
        for alias, col in (("score", spec.score), ("prediction", spec.prediction)):
            imp[alias] = 1.0 if col else 0.0  # the model's own outputs sort first
        return imp

    out: dict[str, float] = _cached(store, project, model, "importance", compute)
    return out


def reference_moments(store: Any, project: str, model: Any) -> dict[str, tuple[float, float]]:
    """Mean and standard deviation of each numeric feature in the latest reference."""
    names = [f.name for f in model.spec.features if f.kind.value in ("numeric", "boolean")]

    def compute(table: pa.Table) -> dict[str, tuple[float, float]]:
        out: dict[str, tuple[float, float]] = {}
        for n in names:
            x = _floats(table.column(n)) if n in table.column_names else None
            if x is None or not np.isfinite(x).any():
                continue
            x = x[np.isfinite(x)]
            out[n] = (float(x.mean()), float(x.std()))
        return out

    moments: dict[str, tuple[float, float]] = _cached(store, project, model, "moments", compute)
    return moments
