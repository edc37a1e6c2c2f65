"""``mlwarden.init`` never creates a model unless asked: a name the destination does not have
is refused at start-up (naming the models it has), ``create=True`` with ``task=`` registers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import mlwarden
from mlwarden.errors import ConfigError
from serverproc import ServerProcess, free_port


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    s = ServerProcess(tmp_path_factory.mktemp("models") / "data").start()
    try:
        yield s
    finally:
        s.stop()


def models_at(srv: ServerProcess) -> list[str]:
    with httpx.Client(base_url=srv.url, timeout=30) as http:
        return sorted(m["name"] for m in http.get("/v1/models").json())


def test_a_typo_is_refused_at_init_and_creates_nothing(srv: ServerProcess, tmp_path: Path) -> None:
    with mlwarden.init(
        model="cancer", url=srv.url, task="binary", create=True, spool_dir=tmp_path
    ) as m:
        m.log({"size": 3.1}, 1)
    assert models_at(srv) == ["cancer"]
    with pytest.raises(ConfigError) as info:
        mlwarden.init(model="cancr2", url=srv.url, task="binary", spool_dir=tmp_path)
    message = str(info.value)
    assert "'cancr2' does not exist" in message and "it has: 'cancer'" in message
    assert "Did you mean 'cancer'?" in message and "create=True" in message
    assert models_at(srv) == ["cancer"]  # nothing registered
    with mlwarden.init(model="cancer", url=srv.url, spool_dir=tmp_path) as m:  # exists: fine
        m.log({"size": 2.0}, 0)
        assert m.flush(30)
    assert m.stats().sent == 1


def test_a_local_store_is_checked_too(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with pytest.raises(ConfigError, match=r"'churn' does not exist .* \(it has: none\)"):
        mlwarden.init(model="churn", path=data, task="regression")
    with mlwarden.init(model="churn", path=data, task="regression", create=True) as m:
        m.log({"x": 1.0}, 2.0)
    with mlwarden.init(model="churn", path=data) as m:
        m.log({"x": 1.0}, 2.0)
    assert m.stats().sent == 1


def test_create_needs_the_task() -> None:
    with pytest.raises(ConfigError, match="'task' argument must be given with create=True"):
        mlwarden.init(model="churn", transport=mlwarden.InMemoryTransport(), create=True)


def test_a_destination_that_cannot_say_is_not_asked_to_create(tmp_path: Path) -> None:
    """Down at start-up: init goes on (the app must start); the model is still not created."""
    m = mlwarden.init(
        model="cancr2",
        url=f"http://127.0.0.1:{free_port()}",
        task="binary",
        spool_dir=tmp_path,
        exit_timeout=0.5,
    )
    assert m.create is False and m._spec_for("cancr2", None) is None  # type: ignore[arg-type]
    m.close(timeout=0.5)
