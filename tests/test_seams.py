"""The seams hold: outside ``store/`` nobody types the store as ``Any``, names an engine
class, calls a private store method or probes the store with ``getattr``/``hasattr``; and
nothing outside the composition root (``server/app.py``, ``server/services.py``) reads the
app's services off ``app.state``. Each check fails with the file:line list of offenders."""

from __future__ import annotations

import ast
import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import mlwarden
from mlwarden.server.services import Services

SRC = Path(mlwarden.__file__).parent
ENGINES = {"DuckDBStore", "PostgresStore", "ClickHouseStore", "SparkStore"}
ROOT = {"server/app.py", "server/services.py"}  # the composition root
#: what ``app.state`` held before the services object (plus the object itself)
SERVICE_NAMES = {f.name for f in dataclasses.fields(Services)} | {"services", "price_overrides"}


@pytest.fixture(scope="module")
def parsed() -> list[tuple[str, ast.Module]]:
    """Every module of the package, parsed once for all the checks."""
    return [
        (rel, ast.parse(path.read_text(encoding="utf-8"), filename=rel))
        for path in sorted(SRC.rglob("*.py"))
        if (rel := path.relative_to(SRC).as_posix())
    ]


def _is_store(node: ast.expr) -> bool:
    """``store``, ``self.store``, ``sv.store``, ``self._store``, ..."""
    if isinstance(node, ast.Name):
        return node.id in ("store", "_store")
    return isinstance(node, ast.Attribute) and node.attr in ("store", "_store")


def _any_typed_stores(rel: str, tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        ann: ast.expr | None = None
        name = ""
        if isinstance(node, ast.arg):
            ann, name = node.annotation, node.arg
        elif isinstance(node, ast.AnnAssign):
            ann = node.annotation
            t = node.target
            name = (
                t.id if isinstance(t, ast.Name) else t.attr if isinstance(t, ast.Attribute) else ""
            )
        if ann is not None and name in ("store", "_store") and "Any" in ast.unparse(ann):
            yield f"{rel}:{node.lineno}: {name}: {ast.unparse(ann)}"


def _engine_names(rel: str, tree: ast.Module) -> Iterator[str]:
    """Engine classes named in code (docstring examples may show them)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in ENGINES:
            yield f"{rel}:{node.lineno}: {node.id}"
        elif isinstance(node, ast.Attribute) and node.attr in ENGINES:
            yield f"{rel}:{node.lineno}: {node.attr}"
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name in ENGINES or (node.module or "").endswith(("_engine",)):
                    yield f"{rel}:{node.lineno}: import {alias.name} from {node.module}"


def _private_calls_and_probes(rel: str, tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and _is_store(node.value)
        ):
            yield f"{rel}:{node.lineno}: {ast.unparse(node)}"
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr")
            and node.args
            and _is_store(node.args[0])
        ):
            yield f"{rel}:{node.lineno}: {ast.unparse(node)}"


def _state_reads(rel: str, tree: ast.Module) -> Iterator[str]:
    """``request.app.state...`` anywhere, and ``<x>.app.state`` / ``app.state.<service>``."""
    if rel in ROOT:
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "state":
            owner = node.value
            if isinstance(owner, ast.Attribute) and owner.attr == "app":
                yield f"{rel}:{node.lineno}: {ast.unparse(node)}"
        if (
            isinstance(node, ast.Attribute)
            and node.attr in SERVICE_NAMES
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "state"
            and isinstance(node.value.value, ast.Name)
            and node.value.value.id == "app"
        ):
            yield f"{rel}:{node.lineno}: {ast.unparse(node)}"


CHECKS = {
    "store typed Any": _any_typed_stores,
    "engine class named outside store/": _engine_names,
    "private store method or getattr/hasattr probe": _private_calls_and_probes,
    "app.state read outside the composition root": _state_reads,
}


@pytest.mark.parametrize("what", list(CHECKS))
def test_no_code_outside_store_breaks_a_seam(
    what: str, parsed: list[tuple[str, ast.Module]]
) -> None:
    found = [
        hit
        for rel, tree in parsed
        if not rel.startswith("store/")
        for hit in CHECKS[what](rel, tree)
    ]
    assert not found, f"{what}:\n" + "\n".join(found)


def test_the_checks_find_what_they_look_for() -> None:
    """Each check catches the old patterns (so a pass above means something)."""
    old = ast.parse(
        "def f(request, store: Any, s):\n"
        "    from mlwarden.store.duckdb_engine import DuckDBStore\n"
        "    if isinstance(store, DuckDBStore):\n"
        "        store._read('select 1')\n"
        "    w = getattr(store, '_writer', None)\n"
        "    x = request.app.state.store\n"
        "    y = getattr(request.app.state, 'dispatcher', None)\n"
        "    z = app.state.settings\n"
        "    self.store: Any = None\n"
    )
    hits = {what: list(check("x.py", old)) for what, check in CHECKS.items()}
    assert [len(v) for v in hits.values()] == [2, 2, 2, 3], hits


def test_store_typed_any_is_gone_from_the_store_layer_too(
    parsed: list[tuple[str, ast.Module]],
) -> None:
    found = [
        hit
        for rel, tree in parsed
        if rel.startswith("store/")
        for hit in _any_typed_stores(rel, tree)
    ]
    assert not found, "\n".join(found)


def test_the_hot_paths_are_protocol_methods_not_probes() -> None:
    """``store/aggregates.py`` asks the store (``None``: the ibis query), never ``getattr``."""
    text = (SRC / "store" / "aggregates.py").read_text(encoding="utf-8")
    assert not re.findall(r"getattr\(store|hasattr\(store", text)


def test_the_app_builds_one_frozen_services_object(tmp_path: Path) -> None:
    """``create_app`` is the composition root: after start-up ``app.state`` holds the typed
    services and nothing else, and they cannot be swapped under running routes."""
    from fastapi.testclient import TestClient

    from mlwarden.server.app import create_app
    from mlwarden.server.settings import ServerSettings
    from mlwarden.store import Store

    app = create_app(ServerSettings(data_dir=tmp_path))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        sv = app.state.services
        assert isinstance(sv, Services) and isinstance(sv.store, Store)
        assert set(vars(app.state)["_state"]) == {"services"}
        with pytest.raises(dataclasses.FrozenInstanceError):
            sv.store = sv.store  # type: ignore[misc]
        health = client.get("/v1/health").json()
        assert health["engine"] == "duckdb" and health["models"] == 0
        # the store's own counts (Store.write_stats; start-up commits once), no longer read
        # off its private writer with getattr
        assert health["commits"] == sv.store.write_stats()[1] >= 1
        assert app.state.services is sv
