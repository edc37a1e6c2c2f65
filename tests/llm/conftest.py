"""Fixtures of the LLM tests: one real server for the module, the labelled set, a fake OpenAI."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
for p in (HERE, TESTS, TESTS.parent / "bench"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from fake_openai import FakeOpenAI, fake_openai  # noqa: E402

from mlwarden.sdk.llm import InMemoryExporter, configure  # noqa: E402
from serverproc import ServerProcess  # noqa: E402


@pytest.fixture(scope="module")
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A real server (subprocess) shared by a module's tests; bodies over 1 MiB get 413."""
    srv = ServerProcess(tmp_path_factory.mktemp("llm") / "data", "--max-body-mb", "1").start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    """A fake OpenAI server shared by a module's tests (a module may ask for its own)."""
    with fake_openai() as f:
        yield f


@pytest.fixture
def exporter() -> Iterator[InMemoryExporter]:
    """The SDK's spans kept in memory for one test, then a fresh exporter."""
    ex = InMemoryExporter()
    configure(exporter=ex)
    yield ex
    configure(exporter=InMemoryExporter())


@pytest.fixture(autouse=True)
def _close_openai_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every OpenAI client a test makes when it ends. Tests wrap real clients pointed at
    the local fake and leave them open; their connections, collected later, raised an
    'unclosed socket' warning in whichever test the collector happened to run (an error here:
    warnings are errors)."""
    try:
        import openai
    except ImportError:
        yield
        return
    made: list[Any] = []
    for cls in (openai.OpenAI, openai.AsyncOpenAI):
        original = cls.__init__

        def init(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> None:
            _original(self, *args, **kwargs)
            made.append(self)

        monkeypatch.setattr(cls, "__init__", init)
    yield
    for client in made:
        if isinstance(client, openai.AsyncOpenAI):
            asyncio.run(client.close())
        else:
            client.close()
