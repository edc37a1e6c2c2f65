"""What pages derive from a model's reference, computed once per reference and cached.

Feature importance, for ordering the drift heat map, is the one definition the incidents use
(:func:`mlwarden.analysis.model_importance`: a surrogate of the model's output learned on the
reference), with the model's own outputs first; feature moments are for comparing versions.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlwarden.analysis.importance import model_importance as shared_importance
from mlwarden.errors import NotFoundError

if TYPE_CHECKING:
    from mlwarden.store.base import Store
    from mlwarden.store.protocols import Catalog

__all__ = ["feature_reference", "model_importance", "reference_moments"]

#: Per store (held weakly: a closed store's entries go with it, and a new store never reads
#: another's), per (project, model, what): the reference uid the value was computed from.
_cache: weakref.WeakKeyDictionary[Any, dict[tuple[str, str, str], tuple[int, Any]]] = (
    weakref.WeakKeyDictionary()
)
_lock = threading.Lock()
_key_locks: weakref.WeakKeyDictionary[Any, dict[tuple[str, str, str], threading.Lock]] = (
    weakref.WeakKeyDictionary()
)


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


def _cached(store: Catalog, project: str, model: Any, what: str, fn: Any) -> Any:
    """``fn(reference table)`` for the model's latest reference, cached until it changes; one
    computation at a time per key (a page arriving meanwhile waits for it, e.g. for the
    start-up warming)."""
    refs = store.list_references(project, model.name)
    if not refs:
        return {}
    key = (project, model.name, what)
    uid = max(r.uid for r in refs)
    with _lock:
        key_lock = _key_locks.setdefault(store, {}).setdefault(key, threading.Lock())
    with key_lock:
        with _lock:
            hit = _cache.get(store, {}).get(key)
        if hit is not None and hit[0] == uid:
            return hit[1]
        try:
            _, table = store.get_reference(project, model.name)
        except NotFoundError:
            return {}
        value = fn(table)
        with _lock:
            _cache.setdefault(store, {})[key] = (uid, value)
        return value


def model_importance(store: Store, project: str, model: Any) -> dict[str, float]:
    """Feature importance of a model (the incidents' definition), from its latest reference,
    with the model's own outputs (``score``, ``prediction``) first."""
    imp = {f.name: 0.0 for f in model.spec.features} | shared_importance(store, model)
    for alias, col in (("score", model.spec.score), ("prediction", model.spec.prediction)):
        imp[alias] = 1.0 if col else 0.0  # the whole output: first in the map
    return imp


def reference_moments(store: Store, project: str, model: Any) -> dict[str, tuple[float, float]]:
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


def feature_reference(
    store: Store, project: str, model: Any, column: str, *, numeric: bool
) -> dict[str, Any]:
    """One feature in the latest reference: ``n``, ``missing`` and either ``quantiles`` (5, 25,
    50, 75 and 95 %) or ``shares`` of each category (the 1,000 most frequent); ``{}`` without
    a reference or when the reference lacks the column."""

    def compute(table: pa.Table) -> dict[str, Any]:
        if column not in table.column_names:
            return {}
        col = table.column(column)
        out: dict[str, Any] = {"n": table.num_rows, "missing": col.null_count}
        if numeric:
            x = _floats(col)
            x = x[np.isfinite(x)] if x is not None else None
            qs = [5, 25, 50, 75, 95]
            out["quantiles"] = (
                [float(v) for v in np.percentile(x, qs)] if x is not None and x.size else None
            )
            return out
        if pa.types.is_boolean(col.type):
            col = pc.if_else(col, "1", "0")
        counts = pc.value_counts(pc.drop_null(pc.cast(col, pa.string()))).to_pylist()
        counts.sort(key=lambda c: (-c["counts"], str(c["values"])))
        seen = max(sum(c["counts"] for c in counts), 1)
        out["shares"] = {str(c["values"]): c["counts"] / seen for c in counts[:1000]}
        return out

    profile: dict[str, Any] = _cached(store, project, model, f"feature:{column}", compute)
    return profile
