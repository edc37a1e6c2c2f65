"""Contract of :class:`mlwarden.store.protocols.Catalog`: models, versions, references."""

from __future__ import annotations

import pyarrow as pa
import pytest

from mlwarden.errors import ConflictError, NotFoundError
from mlwarden.schema import Feature, ModelSpec, validate_rows
from mlwarden.store import Store
from mlwarden.store.protocols import Catalog

PROTOCOL = Catalog

SPEC = ModelSpec(
    name="m", task="binary", classes=[0, 1], features=[Feature(name="x", kind="numeric")]
)


def test_the_engine_is_a_catalog(engine: Store) -> None:
    assert isinstance(engine, Catalog)


def test_create_get_list_and_conflicts(engine: Store) -> None:
    m = engine.create_model("p", SPEC)
    assert (m.project, m.name, m.spec) == ("p", "m", SPEC)
    assert engine.create_model("p", SPEC).uid == m.uid  # the same spec again: no-op
    other = engine.create_model("q", SPEC.model_copy(update={"name": "n"}))
    assert other.uid != m.uid
    assert [(r.project, r.name) for r in engine.list_models()] == [("p", "m"), ("q", "n")]
    assert [r.name for r in engine.list_models("q")] == ["n"]
    assert engine.get_model("p", "m").uid == m.uid
    wider = SPEC.with_features([Feature(name="y", kind="numeric")])
    with pytest.raises(ConflictError):
        engine.create_model("p", wider)
    assert engine.create_model("p", wider, replace=True).spec.feature_names == ("x", "y")
    with pytest.raises(ConflictError):  # a feature's kind cannot change
        engine.create_model(
            "p",
            SPEC.model_copy(update={"features": (Feature(name="x", kind="categorical"),)}),
            replace=True,
        )
    with pytest.raises(NotFoundError):
        engine.get_model("p", "absent")


def test_versions(engine: Store) -> None:
    engine.create_model("p", SPEC)
    engine.create_version("p", "m", "v1", description="first", metadata={"git": "abc"})
    engine.create_version("p", "m", "v2")
    got = engine.create_version("p", "m", "v1", description="again")
    assert (got.version, got.description) == ("v1", "again")
    listed = engine.list_versions("p", "m")
    assert [v.version for v in listed] == ["v1", "v2"]
    assert listed[0].metadata == {}  # replaced with the second call's (none)
    with pytest.raises(NotFoundError):
        engine.list_versions("p", "absent")


def test_references_round_trip_and_pick_by_version(engine: Store) -> None:
    engine.create_model("p", SPEC)
    base = pa.table({"x": [1.0, 2.0, None], "prediction": [0, 1, 1], "name": ["a", None, "c"]})
    v1 = pa.table({"x": [9.0], "prediction": [1], "name": ["z"]})
    r0 = engine.put_reference("p", "m", base, name="training")
    r1 = engine.put_reference("p", "m", v1, version="v1")
    assert [r.uid for r in engine.list_references("p", "m")] == [r0.uid, r1.uid]
    assert (r0.rows, r0.columns, r0.name) == (3, ("x", "prediction", "name"), "training")
    ref, table = engine.get_reference("p", "m", version="v1")
    assert ref.uid == r1.uid and table.to_pylist() == v1.to_pylist()
    ref, table = engine.get_reference("p", "m", version="v9")  # none of its own: the shared one
    assert ref.uid == r0.uid and table.to_pylist() == base.to_pylist()
    engine.delete_reference("p", "m", r1.uid)
    assert [r.uid for r in engine.list_references("p", "m")] == [r0.uid]
    with pytest.raises(NotFoundError):
        engine.delete_reference("p", "m", r1.uid)
    with pytest.raises(NotFoundError):
        engine.get_reference("p", "absent")


def _events(engine: Store, name: str, version: str, n: int) -> None:
    m = engine.get_model("p", name)
    rows = [
        {
            "event_id": f"{version}-{i}",
            "version": version,
            "features": {"x": float(i)},
            "prediction": 1,
        }
        for i in range(n)
    ]
    batch = validate_rows(m.spec, rows)
    assert engine.append_events(m, batch.table).result().inserted == n


def test_rename_and_delete(engine: Store) -> None:
    engine.create_model("p", SPEC)
    engine.create_model("p", SPEC.model_copy(update={"name": "taken"}))
    _events(engine, "m", "v1", 3)
    _events(engine, "m", "v2", 2)
    with pytest.raises(ConflictError):
        engine.rename_model("p", "m", "taken")
    renamed = engine.rename_model("p", "m", "m2")
    assert renamed.name == "m2"
    with pytest.raises(NotFoundError):
        engine.get_model("p", "m")
    assert engine.events(renamed).count().to_pyarrow().as_py() == 5
    removed = engine.delete_version("p", "m2", "v1")
    assert removed["events"] == 3
    assert engine.events(renamed).count().to_pyarrow().as_py() == 2
    assert [v.version for v in engine.list_versions("p", "m2")] == ["v2"]
    with pytest.raises(NotFoundError):
        engine.delete_version("p", "m2", "v1")
    assert engine.delete_model("p", "m2")["events"] == 2
    assert [m.name for m in engine.list_models("p")] == ["taken"]
