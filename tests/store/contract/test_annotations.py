"""Contract of :class:`~mlwarden.store.protocols.Annotations`: markers of a model or of the
whole project, by overlap with a range, oldest first; deleted one by one; gone with the model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mlwarden.errors import NotFoundError
from mlwarden.schema import Feature, ModelSpec
from mlwarden.schema.annotation import AnnotationIn, AnnotationKind
from mlwarden.store import Store
from mlwarden.store.protocols import Annotations

PROTOCOL = Annotations

SPEC = ModelSpec(name="m", task="regression", features=[Feature(name="x", kind="numeric")])
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_annotations(engine: Store) -> None:
    engine.create_model("p", SPEC)
    deploy = engine.put_annotation(
        "p", "m", AnnotationIn(text="v2", kind=AnnotationKind.DEPLOY, time=T0, author="ci")
    )
    span = engine.put_annotation(
        "p",
        None,
        AnnotationIn(text="freeze", time=T0 - timedelta(days=2), end=T0 + timedelta(hours=1)),
    )
    later = engine.put_annotation("p", "m", AnnotationIn(text="note", time=T0 + timedelta(days=1)))
    assert (deploy.time, deploy.kind, deploy.author, deploy.model) == (
        T0,
        AnnotationKind.DEPLOY,
        "ci",
        "m",
    )
    assert later.id > deploy.id
    everything = engine.annotations("p", "m")
    assert [a.text for a in everything] == ["freeze", "v2", "note"]  # oldest first
    assert [a.text for a in engine.annotations("p", None)] == ["freeze"]  # the project's only
    window = engine.annotations(
        "p", "m", start=T0 - timedelta(hours=1), end=T0 + timedelta(hours=2)
    )
    assert [a.text for a in window] == ["freeze", "v2"]  # the span still runs at the start
    assert [a.text for a in engine.annotations("p", "m", limit=1)] == ["freeze"]
    with pytest.raises(NotFoundError):
        engine.put_annotation("p", "absent", AnnotationIn(text="x"))
    assert engine.delete_annotation("p", "m", deploy.id).id == deploy.id
    with pytest.raises(NotFoundError):
        engine.delete_annotation("p", "m", deploy.id)
    with pytest.raises(NotFoundError):  # the project's annotation is not the model's to delete
        engine.delete_annotation("p", "m", span.id)
    engine.delete_model("p", "m")
    assert [a.text for a in engine.annotations("p", None)] == ["freeze"]
