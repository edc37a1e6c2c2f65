"""Search a project's models, features and incidents by name (the API's and the UI's search).

Case-insensitive substring matching on model names, feature and segment column names, and
incident titles (an incident's id matches too: ``12`` or ``#12``). Bounded: at most
``limit`` hits of each kind. Only the caller's project is searched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from mlwarden.errors import ValidationError, expected

if TYPE_CHECKING:
    from mlwarden.store.base import Store

__all__ = ["MAX_QUERY", "FeatureHit", "IncidentHit", "ModelHit", "Hits", "search"]

#: Longest query accepted (characters).
MAX_QUERY = 200


@dataclass(frozen=True)
class ModelHit:
    model: str
    task: str


@dataclass(frozen=True)
class FeatureHit:
    model: str
    column: str
    #: the feature's kind, or ``segment`` for a segment / sensitive column
    kind: str


@dataclass(frozen=True)
class IncidentHit:
    id: int
    model: str
    title: str
    state: str
    severity: str
    last_window: datetime


@dataclass(frozen=True)
class Hits:
    query: str
    models: tuple[ModelHit, ...]
    features: tuple[FeatureHit, ...]
    incidents: tuple[IncidentHit, ...]
    #: kinds that had more hits than ``limit``
    truncated: tuple[str, ...]


def _rank(name: str, q: str) -> tuple[int, str]:
    """Exact matches first, then prefixes, then the rest; by name."""
    low = name.lower()
    return (0 if low == q else 1 if low.startswith(q) else 2, low)


def search(store: Store, project: str, text: str, *, limit: int = 20) -> Hits:
    """Models, features and incidents of ``project`` that match ``text``.

    Examples
    --------
    >>> from mlwarden.schema.spec import Feature, ModelSpec
    >>> from mlwarden.store import open_store
    >>> store = open_store()
    >>> _ = store.create_model("p", ModelSpec(name="churn", task="binary",
    ...     features=[Feature(name="Age", kind="numeric"), Feature(name="city", kind="categorical")]))
    >>> hits = search(store, "p", "AGE")
    >>> [(f.model, f.column, f.kind) for f in hits.features], hits.models
    ([('churn', 'Age', 'numeric')], ())
    >>> search(store, "other", "churn").models
    ()
    >>> store.close()
    """
    q = text.strip()
    if not q or len(q) > MAX_QUERY:
        raise ValidationError(
            expected("parameter", "q", f"hold 1 to {MAX_QUERY} characters (not only spaces)", text)
        )
    low = q.lower()
    models = store.list_models(project)
    model_hits = sorted(
        (ModelHit(m.name, m.spec.task.value) for m in models if low in m.name.lower()),
        key=lambda h: _rank(h.model, low),
    )
    feature_hits: list[FeatureHit] = []
    for m in models:
        cols = [(f.name, f.kind.value) for f in m.spec.features]
        cols += [(t, "segment") for t in m.spec.tag_columns]
        feature_hits += [FeatureHit(m.name, c, k) for c, k in cols if low in c.lower()]
    feature_hits.sort(key=lambda h: (*_rank(h.column, low), h.model))
    found = store.find_incidents(project, q, limit=limit + 1)
    incident_hits = [
        IncidentHit(
            id=int(r["id"]),
            model=str(r["model"]),
            title=str(r["title"]),
            state=str(r["state"]),
            severity=str(r["severity"]),
            last_window=r["last_window"],
        )
        for r in found
    ]
    truncated = tuple(
        kind
        for kind, hits in (
            ("models", model_hits),
            ("features", feature_hits),
            ("incidents", incident_hits),
        )
        if len(hits) > limit
    )
    return Hits(
        query=q,
        models=tuple(model_hits[:limit]),
        features=tuple(feature_hits[:limit]),
        incidents=tuple(incident_hits[:limit]),
        truncated=truncated,
    )
